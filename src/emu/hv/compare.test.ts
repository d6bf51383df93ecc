import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareScenario, compareTable, configure, COMPARE_CONFIGS, type CompareRow } from './compare.ts';
import { HvMachine } from './hv-machine.ts';
import { buildScenario } from '../scenario/build.ts';
import { loadScenario } from '../scenario/migrate.ts';

const EXAMPLES = join(import.meta.dirname, '../scenario/examples');
const example = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), 'utf8'));
const workload = (): unknown => example('mm-workload');

describe('the memory-virtualization comparison', () => {
  const r = compareScenario(workload());
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const row = (id: string): CompareRow => r.rows.find((x) => x.id === id)!;

  it('runs the workload bare and under each configuration, ending alike', () => {
    expect(r.rows.map((x) => x.id)).toEqual(['bare', 'vtx-shadow', 'vtx-nested', 'vtx-untagged', 'svm-shadow', 'svm-nested', 'svm-untagged']);
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

  it('under shadow paging: page faults and CR3 exits instead of long walks; untagged: more flushes, more cycles', () => {
    const bare = row('bare');
    for (const [id, pf, cr] of [['vtx-shadow', 'EXIT_REASON_EXCEPTION_NMI', ['EXIT_REASON_CR_ACCESS']], ['svm-shadow', 'VMEXIT_EXCP14', ['VMEXIT_CR3_READ', 'VMEXIT_CR3_WRITE']]] as const) {
      const x = row(id);
      // Hidden faults fill the shadow (at least one for each page the guest touches) and the
      // guest's own 8 demand faults are true faults, reflected: every #PF exits.
      expect(x.exits.byName[pf], id).toBeGreaterThan(8);
      expect(cr.reduce((n, c) => n + (x.exits.byName[c] ?? 0), 0), id).toBeGreaterThanOrEqual(7); // at least the 7 CR3 loads of the switches
      // The processor walks the shadow: a native 4-level walk, at most 4 references.
      expect(x.refsPerWalk, id).toBeLessThanOrEqual(4);
      expect(x.cycles.byKind['shadow-pt-update'], id).toBeGreaterThan(0);
      expect(x.cycles.total, id).toBeGreaterThan(row(id.replace('shadow', 'nested')).cycles.total);
      expect(x.cycles.total, id).toBeGreaterThan(bare.cycles.total);
    }
    for (const v of ['vtx', 'svm']) {
      const tagged = row(`${v}-nested`);
      const untagged = row(`${v}-untagged`);
      expect(untagged.tlb.flushes, v).toBeGreaterThan(tagged.tlb.flushes);
      expect(untagged.cycles.total, v).toBeGreaterThan(tagged.cycles.total);
    }
  });

  it('says when a run ends differently from the bare one: CPUID under a hypervisor sets ECX[31]', () => {
    const c = compareScenario({
      version: 1, name: 'cpuid', cpu: { vendor: 'intel' }, mode: 'long64', paging: '4level', memory: { size: 4 * 1024 * 1024 },
      kernel: { source: 'kernel_entry:\n    mov eax, 1\n    cpuid\n    hlt\n' },
    });
    if (!c.ok) throw new Error(JSON.stringify(c.errors));
    expect(c.rows.map((x) => [x.id, x.same])).toEqual([['bare', true], ...['vtx-shadow', 'vtx-nested', 'vtx-untagged', 'svm-shadow', 'svm-nested', 'svm-untagged'].map((id) => [id, false])]);
    expect(compareTable(c)).toContain('hlt (differs from bare)');
  });

  it('keeps nested-only settings (4-KByte nested pages, walk caches) for the nested configurations and drops them for shadow paging', () => {
    const raw = { ...(workload() as Record<string, unknown>), hypervisor: { nestedPageSize: '4k', walkCaches: { pwc: true, ntlb: true } } };
    const c = compareScenario(raw);
    if (!c.ok) throw new Error(JSON.stringify(c.errors));
    expect(c.rows.map((x) => x.end)).toEqual(r.rows.map(() => 'hlt'));
    // The caches shorten the nested configurations' walks; shadow paging is as without the settings.
    const refs = (rows: CompareRow[], id: string) => rows.find((x) => x.id === id)!;
    expect(refs(c.rows, 'vtx-shadow')).toEqual(row('vtx-shadow'));
    for (const id of ['vtx-nested', 'svm-nested']) expect(refs(c.rows, id).refsPerWalk, id).toBeLessThan(row(id).refsPerWalk);
  });

  it('prints a table and refuses what it cannot compare', () => {
    const t = compareTable(r);
    expect(t).toContain('references per walk');
    expect(t.split('\n')[2]).toMatch(/bare\s+vtx-shadow\s+vtx-nested\s+vtx-untagged\s+svm-shadow\s+svm-nested\s+svm-untagged/);
    const multi = compareScenario(JSON.parse(readFileSync(join(EXAMPLES, 'two-vms.json'), 'utf8')));
    expect(multi).toMatchObject({ ok: false, errors: [{ path: 'vms' }] });
    const bad = compareScenario({ ...(workload() as object), memory: { size: 3 } });
    expect(bad.ok).toBe(false);
    expect(compareScenario([])).toMatchObject({ ok: false });
  });

});

describe('the software monitors in the comparison (issue 9)', () => {
  const ok = (json: unknown) => {
    const c = compareScenario(json);
    if (!c.ok) throw new Error(JSON.stringify(c.errors));
    return c;
  };
  const row = (rows: CompareRow[], id: string): CompareRow => {
    const x = rows.find((r) => r.id === id);
    if (x === undefined) throw new Error(`no row ${id}`);
    return x;
  };
  /** The same configuration's machine run on its own, for figures read another way (the ledger's counts, the backend's statistics). */
  const alone = (json: Record<string, unknown>, id: string) => {
    const l = loadScenario(configure(json, COMPARE_CONFIGS.find((c) => c.id === id)!));
    if (!l.ok) throw new Error(JSON.stringify(l.errors));
    const m = buildScenario(l.loaded);
    if (!(m instanceof HvMachine)) throw new Error('not a hypervisor machine');
    m.run(l.loaded.maxSteps);
    return m.guestResult().hv;
  };

  it('runs a 32-bit guest under trap-and-emulate and binary translation, ending as bare, with traps and callouts counted by cause', () => {
    const json = example('bt-adaptive');
    const c = ok(json);
    expect(c.rows.map((x) => x.id)).toEqual(COMPARE_CONFIGS.map((x) => x.id));
    expect(c.unavailable).toEqual([]);
    const te = row(c.rows, 'te');
    const bt = row(c.rows, 'bt');
    for (const x of [te, bt]) {
      expect([x.id, x.end, x.same]).toEqual([x.id, 'hlt', true]);
      expect(x.paging).toBe('shadow');
      // Priced as the VT-x configurations are: the same processor without its hardware assist.
      expect(x.cycles.preset).toBe(row(c.rows, 'vtx-shadow').cycles.preset);
      const hv = alone(json, x.id);
      // The traps are the cost model's: each one priced as a `trap`.
      expect(x.monitor!.traps, x.id).toBe(hv.cost.byKind.trap!.count);
      expect(x.exits.total).toBe(x.monitor!.traps + x.monitor!.callouts);
      expect(Object.values(x.exits.byName).reduce((a, b) => a + b, 0)).toBe(x.exits.total);
      // No VM exit names under a software monitor.
      expect(Object.keys(x.exits.byName).some((n) => n.startsWith('EXIT_REASON') || n.startsWith('VMEXIT'))).toBe(false);
      expect(x.cycles.byKind.trap).toBeGreaterThan(0);
    }
    // Trap-and-emulate: the store to the shadowed page table faults every time; no callouts, no cache.
    expect(te.monitor!.callouts).toBe(0);
    expect(te.exits.byName['#PF']).toBeGreaterThanOrEqual(10);
    expect(te.bt).toBeUndefined();
    // Binary translation: after two faults the store is a page-table-write callout (7 of its 10 writes).
    expect(bt.exits.byName['page-table write']).toBe(7);
    const stats = alone(json, 'bt').bt!;
    expect(bt.monitor!.callouts).toBe(Object.values(stats.callouts).reduce((a, b) => a + (b ?? 0), 0));
    expect(bt.bt).toEqual({ blocks: stats.blocks, cached: stats.cacheBlocks, hits: stats.hits, misses: stats.misses, hitRate: stats.hits / (stats.hits + stats.misses), chains: stats.chains });
    expect(bt.bt!.hitRate).toBeGreaterThan(0);
    expect(bt.cycles.byKind['bt-callout']).toBeGreaterThan(0);
    expect(bt.cycles.byKind['bt-step']).toBeGreaterThan(0);
    // The hardware configurations keep their VM exits.
    expect(row(c.rows, 'vtx-shadow').monitor).toBeUndefined();
    const table = compareTable(c);
    expect(table).toMatch(/traps into the monitor\s+-/);
    expect(table).toContain('page-table write');
  });

  it('shows where trap-and-emulate differs from bare and binary translation does not: POPF in ring 1, the red pill', () => {
    for (const name of ['popf-trap', 'red-pill']) {
      const c = ok(example(name));
      expect([name, row(c.rows, 'te').same]).toEqual([name, false]);
      expect([name, row(c.rows, 'bt').same]).toEqual([name, true]);
      expect([name, row(c.rows, 'vtx-nested').same]).toEqual([name, true]);
    }
    expect(compareTable(ok(example('popf-trap')))).toMatch(/hlt \(differs from bare\)\s+hlt$/m);
  });

  it('says per configuration, with the validator\u2019s located reason, where a software monitor cannot run the scenario', () => {
    const c = ok(workload());
    expect(c.rows.map((x) => x.id)).toEqual(['bare', 'vtx-shadow', 'vtx-nested', 'vtx-untagged', 'svm-shadow', 'svm-nested', 'svm-untagged']);
    expect(c.unavailable.map((u) => u.id)).toEqual(['te', 'bt']);
    for (const u of c.unavailable) {
      expect(u.errors).toHaveLength(1);
      expect(u.errors[0]!.path).toBe('paging');
      expect(u.errors[0]!.message).toMatch(new RegExp(`^${u.technique} runs a 32-bit protected-mode guest`));
    }
    expect(compareTable(c)).toMatch(/not run:\n {2}te: paging: trap-emulate runs a 32-bit protected-mode guest/);
    // A user program needs a kernel entry under the monitor.
    const pf = ok(example('page-fault'));
    expect(pf.unavailable.map((u) => [u.id, u.errors.map((e) => e.path)])).toEqual([['te', ['kernel']], ['bt', ['kernel']]]);
    // A hardware configuration that cannot run it still fails the comparison.
    expect(compareScenario({ ...example('bt-adaptive'), hypervisor: { costPreset: 'amd-recent' } })).toMatchObject({ ok: false, errors: [{ path: 'hypervisor.costPreset' }] });
  });
});
