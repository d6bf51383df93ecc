/**
 * `exec --under`'s `hv.tlb` reports the walks and their memory references: under nested paging
 * each TLB miss is a 2D walk (the exec guest's identity map uses 2-MiB pages, three guest levels,
 * on 2-MiB nested pages: 3·3 + 3 + 3 = 15 references, more on VT-x where EPT without accessed and
 * dirty flags translates the guest's A/D writes again, fewer for a walk that ends in a fault),
 * under shadow paging the processor walks the shadow (4 levels down to 4-KiB leaves: at most 4).
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { runUnder } from './exec.ts';

const LOAD = 0x100000;

describe('exec --under: walks and references per walk', () => {
  const src = 'mov rax, [0x300000]\nmov rbx, [0x500000]\nmov [0x700000], rax\nhlt\n';
  const r = assemble(src, { bits: 64, origin: LOAD });
  if (!r.ok) throw new Error('assembly');
  it.each(['vtx', 'svm'] as const)('%s: many references a walk nested, at most 4 shadow', (under) => {
    const nested = runUnder(under, { mode: 'long64', load: LOAD, code: r.bytes, maxSteps: 100 }).result.hv.tlb;
    const shadow = runUnder(under, { mode: 'long64', load: LOAD, code: r.bytes, maxSteps: 100, paging: 'shadow' }).result.hv.tlb;
    expect(nested.walks).toBeGreaterThan(0);
    expect(nested.refsPerWalk).toBe(Math.round((nested.walkRefs / nested.walks) * 100) / 100);
    expect(nested.refsPerWalk).toBeGreaterThan(8);
    expect(nested.refsPerWalk).toBeLessThanOrEqual(24);
    expect(shadow.walks).toBeGreaterThan(0);
    expect(shadow.refsPerWalk).toBeGreaterThan(1);
    expect(shadow.refsPerWalk).toBeLessThanOrEqual(4);
  });
});
