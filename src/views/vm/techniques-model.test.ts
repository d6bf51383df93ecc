import { describe, expect, it } from 'vitest';
import { compareTechniques, PV_UNAVAILABLE, TECHNIQUE_IDS, WORKLOADS } from '../../emu/hv/technique-compare.ts';
import { CHART_TECHNIQUES, CHART_UNAVAILABLE, CHART_WORKLOADS, familyOf, kindsOf, techniqueChart } from './techniques-model.ts';

const r = { intel: 'vtx-prescott' as const, iterations: 16, rows: compareTechniques(16, 'vtx-prescott') };

describe('the technique chart model', () => {
  it('shows every workload and technique the comparison runs, in its order', () => {
    expect(CHART_WORKLOADS).toEqual(WORKLOADS);
    expect(CHART_TECHNIQUES).toEqual(TECHNIQUE_IDS);
    const c = techniqueChart(r);
    expect(c.panels.map((p) => p.workload)).toEqual(WORKLOADS);
    for (const p of c.panels) expect(p.bars.map((b) => b.technique)).toEqual(TECHNIQUE_IDS.filter((t) => !(t === 'pv' && p.workload === 'in')));
  });

  it('says which technique has no bar where the comparison has no row: PV has no port I/O', () => {
    expect(CHART_UNAVAILABLE.map((u) => [u.workload, u.technique])).toEqual(Object.keys(PV_UNAVAILABLE).map((w) => [w, 'pv']));
    const c = techniqueChart(r);
    expect(Object.fromEntries(c.panels.map((p) => [p.workload, p.unavailable.map((u) => u.technique)]))).toEqual({ syscall: [], in: ['pv'], pgfault: [], ptemod: [], compute: [] });
  });

  it('puts the bars on a log axis up to the next power of ten, ticks at the powers', () => {
    const c = techniqueChart(r);
    const largest = Math.max(...r.rows.map((x) => x.cycles));
    expect(c.max).toBeGreaterThanOrEqual(largest);
    expect(c.max / 10).toBeLessThan(largest);
    expect(c.ticks.map((t) => t.value)).toEqual([1, 10, 100, 1000, 10000, 100000].filter((v) => v <= c.max));
    expect(c.ticks[0]!.at).toBe(0);
    expect(c.ticks.at(-1)!.at).toBe(1);
    const bar = (w: string, t: string) => c.panels.find((p) => p.workload === w)!.bars.find((b) => b.technique === t)!;
    // A bar's end is log10(cycles) / log10(max).
    expect(bar('in', 'bt').width).toBeCloseTo(Math.log10(bar('in', 'bt').row.cycles) / Math.log10(c.max), 10);
    expect(bar('pgfault', 'vtx-shadow').width).toBeGreaterThan(bar('pgfault', 'bt').width);
  });

  it('names the fastest technique other than native: binary translation beats first-generation VT-x but for system calls', () => {
    const c = techniqueChart(r);
    const fastest = Object.fromEntries(c.panels.map((p) => [p.workload, p.fastest]));
    expect(fastest.syscall).toEqual(['trap-emulate', 'pv', 'vtx-shadow', 'vtx-nested', 'svm-shadow', 'svm-nested']);
    expect(fastest.in).toEqual(['bt']);
    expect(fastest.pgfault).toEqual(['svm-nested']);
    const p = (w: string) => c.panels.find((x) => x.workload === w)!;
    for (const w of ['in', 'pgfault', 'ptemod']) {
      const cyc = (t: string) => p(w).bars.find((b) => b.technique === t)!.row.cycles;
      expect(cyc('bt'), w).toBeLessThan(cyc('vtx-shadow'));
    }
  });

  it('sorts exits by kind and groups techniques into families', () => {
    const pg = r.rows.find((x) => x.workload === 'pgfault' && x.technique === 'bt')!;
    expect(kindsOf(pg)).toEqual([['#PF', 2], ['page-table write', 2], ['invlpg', 1], ['iretd', 1]]);
    expect(TECHNIQUE_IDS.map(familyOf)).toEqual(['native', 'software', 'software', 'paravirtual', 'hardware', 'hardware-nested', 'hardware', 'hardware-nested']);
  });
});
