import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareScenario, compareTable, type CompareRow } from './compare.ts';

const EXAMPLES = join(import.meta.dirname, '../scenario/examples');
const workload = (): unknown => JSON.parse(readFileSync(join(EXAMPLES, 'mm-workload.json'), 'utf8'));

describe('the memory-virtualization comparison', () => {
  const r = compareScenario(workload());
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const row = (id: string): CompareRow => r.rows.find((x) => x.id === id)!;

  it('runs the workload bare and under each configuration, ending alike', () => {
    expect(r.rows.map((x) => x.id)).toEqual(['bare', 'vtx-nested', 'svm-nested']);
    for (const x of r.rows) {
      expect(x.end, x.id).toBe('hlt');
      expect(x.same, x.id).toBe(true);
      expect(x.steps, x.id).toBe(row('bare').steps);
    }
  });

  it('counts walks and references: at most 4 a walk bare, up to 24 under nested paging, and more cycles', () => {
    const bare = row('bare');
    expect(bare.exits.total).toBe(0);
    expect(bare.walks).toBeGreaterThan(0);
    // The kernel's identity map uses 2-MiB pages (3 references), the user's pages 4 KiB (4).
    expect(bare.refsPerWalk).toBeGreaterThan(3);
    expect(bare.refsPerWalk).toBeLessThanOrEqual(4);
    expect(bare.cycles.total).toBe(bare.steps + 10 * bare.refs);
    for (const id of ['vtx-nested', 'svm-nested']) {
      const x = row(id);
      // A 2D walk: (n+1)(m+1)−1 references, 24 for a 4-level guest page, 19 for the kernel's 2-MiB pages.
      expect(x.refsPerWalk, id).toBeGreaterThan(bare.refsPerWalk * 3);
      expect(x.refsPerWalk, id).toBeLessThanOrEqual(24);
      expect(x.exits.total, id).toBeGreaterThan(0); // the final HLT
      expect(x.cycles.byKind['page-walk-ref'], id).toBe(10 * x.refs);
      expect(x.cycles.total, id).toBeGreaterThan(bare.cycles.total);
    }
  });

  it('says when a run ends differently from the bare one: CPUID under a hypervisor sets ECX[31]', () => {
    const c = compareScenario({
      version: 1, name: 'cpuid', cpu: { vendor: 'intel' }, mode: 'long64', paging: '4level', memory: { size: 4 * 1024 * 1024 },
      kernel: { source: 'kernel_entry:\n    mov eax, 1\n    cpuid\n    hlt\n' },
    });
    if (!c.ok) throw new Error(JSON.stringify(c.errors));
    expect(c.rows.map((x) => [x.id, x.same])).toEqual([['bare', true], ['vtx-nested', false], ['svm-nested', false]]);
    expect(compareTable(c)).toContain('hlt (differs from bare)');
  });

  it('prints a table and refuses what it cannot compare', () => {
    const t = compareTable(r);
    expect(t).toContain('references per walk');
    expect(t.split('\n')[2]).toMatch(/bare\s+vtx-nested\s+svm-nested/);
    const multi = compareScenario(JSON.parse(readFileSync(join(EXAMPLES, 'two-vms.json'), 'utf8')));
    expect(multi).toMatchObject({ ok: false, errors: [{ path: 'vms' }] });
    const bad = compareScenario({ ...(workload() as object), memory: { size: 3 } });
    expect(bad.ok).toBe(false);
    expect(compareScenario([])).toMatchObject({ ok: false });
  });

});
