/**
 * The time-stamp counter counts retired instructions exactly, wherever RDTSC sits in a cached
 * block: replay after a checkpoint builds blocks that start elsewhere and must read the same TSC.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';

function run(source: string, mode: 'long64' | 'prot32' = 'long64') {
  const asm = assemble(source);
  if (!asm.ok) throw new Error(asm.errors.map((e) => e.message).join('\n'));
  const m = createBareMachine({ mode, load: 0x100000, code: asm.bytes });
  expect(m.cpu.run(100_000)).toBe('hlt');
  return m;
}

describe('RDTSC', () => {
  it('reads the number of instructions retired before it when it is not first in its block', () => {
    const s = run('bits 64\norg 0x100000\nnop\nnop\nrdtsc\nhlt\n').cpu.state;
    expect(s.regLo[0]).toBe(2);
    expect(s.tsc).toBe(4);
  });

  it('reads the same value whether its block started at the program start or at a jump target', () => {
    // The second pass enters the same code at `mid`, so RDTSC sits at a different block position.
    const m = run(`bits 32
org 0x100000
  xor esi, esi
  nop
mid:
  nop
  rdtsc
  mov [0x200000 + esi*4], eax
  inc esi
  cmp esi, 2
  jb mid
  hlt
`, 'prot32');
    // First RDTSC after 3 instructions; the loop body is 6 instructions (nop rdtsc mov inc cmp jb).
    expect([m.mem.read(0x200000, 4), m.mem.read(0x200004, 4)]).toEqual([3, 9]);
  });
});
