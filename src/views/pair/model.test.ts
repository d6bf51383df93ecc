import { describe, expect, it } from 'vitest';
import type { PairSideView, PairView } from '../../worker/pair-types.ts';
import { moved, newlyEnded, pairBars, pairExitNames, partCycles } from './model.ts';
import { readPairParams, withPairParams } from './url.ts';

function side(id: 'vtx-nested' | 'svm-nested' | 'te' | 'bt', step: number, byKind: Record<string, number>, ended = false, exits: Record<string, number> = {}): PairSideView {
  const total = Object.values(byKind).reduce((a, b) => a + b, 0);
  const technique = id === 'vtx-nested' ? 'vtx' : id === 'svm-nested' ? 'svm' : id === 'te' ? 'trap-emulate' : 'bt';
  return {
    config: { id, technique, paging: technique === 'vtx' || technique === 'svm' ? 'nested' : 'shadow', tlbTags: technique === 'vtx' || technique === 'svm' },
    step, endAt: ended ? step : null, end: ended ? 'hlt' : null, ended, rip: '0x0', cpl: 0,
    counters: { exits: { total: Object.values(exits).reduce((a, b) => a + b, 0), byName: exits }, tlb: { hits: 0, misses: 0, flushes: 0 }, walks: 0, refs: 0, refsPerWalk: 0, cycles: { preset: 'p', total, byKind } },
    vm: null, events: [],
  };
}
const pv = (a: PairSideView, b: PairSideView): PairView => ({ name: 'n', step: Math.max(a.step, b.step), maxSteps: 1000, ended: a.ended && b.ended, sides: [a, b] });

describe('the pair model', () => {
  it('splits cycles into guest, address translation and exits, and puts both sides on the larger total', () => {
    expect(partCycles({ preset: 'p', total: 100, byKind: { 'guest-insn': 10, 'page-walk-ref': 30, 'tlb-flush': 5, vmexit: 55 } })).toEqual({ guest: 10, memory: 35, exits: 55 });
    const v = pv(side('vtx-nested', 5, { 'guest-insn': 5, 'page-walk-ref': 45, vmexit: 50 }), side('svm-nested', 5, { 'guest-insn': 5, 'page-walk-ref': 20 }));
    const [a, b] = pairBars(v);
    expect(a.parts.map((p) => p.width)).toEqual([0.05, 0.45, 0.5]);
    expect(a.parts.reduce((s, p) => s + p.width, 0)).toBeCloseTo(1);
    expect(b.parts.map((p) => p.width)).toEqual([0.05, 0.2, 0]);
    // Nothing run yet: no division by zero.
    expect(pairBars(pv(side('vtx-nested', 0, {}), side('svm-nested', 0, {})))[0].parts.map((p) => p.width)).toEqual([0, 0, 0]);
  });

  it('names every exit either side took, and tells which sides moved and which ended', () => {
    const before = pv(side('vtx-nested', 9, {}), side('svm-nested', 9, {}));
    const after = pv(side('vtx-nested', 9, {}, true, { EXIT_REASON_HLT: 1 }), side('svm-nested', 10, {}, false, { VMEXIT_CPUID: 2 }));
    expect(pairExitNames(after, 0)).toEqual(['EXIT_REASON_HLT', 'VMEXIT_CPUID']);
    expect(pairExitNames(after, 1)).toEqual(['EXIT_REASON_HLT', 'VMEXIT_CPUID']);
    // A software monitor's causes are listed on its side only, a hardware side's exit names on that one.
    const mixed = pv(side('vtx-nested', 9, {}, false, { EXIT_REASON_HLT: 1 }), side('bt', 9, {}, false, { popfd: 1, '#PF': 2 }));
    expect(pairExitNames(mixed, 0)).toEqual(['EXIT_REASON_HLT']);
    expect(pairExitNames(mixed, 1)).toEqual(['#PF', 'popfd']);
    expect(pairExitNames(pv(side('te', 3, {}, false, { cli: 1 }), side('bt', 3, {}, false, { popfd: 1 })), 0)).toEqual(['cli', 'popfd']);
    expect(moved(before, after)).toEqual([false, true]);
    expect(moved(null, after)).toEqual([false, false]);
    expect(newlyEnded(before, after)).toEqual([0]);
    expect(newlyEnded(after, after)).toEqual([]);
  });

  it('reads pair and pstep leniently and writes them back, keeping the other parameters', () => {
    expect(readPairParams('?scenario=mm-workload')).toBeNull();
    expect(readPairParams('?pair=vtx-nested,svm-nested&pstep=120')).toEqual({ ok: true, configs: ['vtx-nested', 'svm-nested'], step: 120, badStep: null });
    expect(readPairParams('?pair=VTX-nested, svm-nested')).toMatchObject({ ok: true, configs: ['vtx-nested', 'svm-nested'], step: 0 });
    expect(readPairParams('?pair=vtx-nested,svm-nested&pstep=-3')).toMatchObject({ ok: true, step: 0, badStep: '-3' });
    expect(readPairParams('?pair=vtx-nested,svm-nested&pstep=99999999')).toMatchObject({ step: 1_000_000 });
    for (const bad of ['vtx-nested', 'a,b,c', 'vtx-nested,vtx-nested', '<x>,y', ',']) expect(readPairParams(`?pair=${encodeURIComponent(bad)}`)).toEqual({ ok: false, value: bad });
    const href = withPairParams('https://lab.example/?v=1&scenario=mm-workload&step=4', { configs: ['vtx-nested', 'svm-nested'], step: 7 });
    expect(readPairParams(new URL(href).search)).toMatchObject({ ok: true, configs: ['vtx-nested', 'svm-nested'], step: 7 });
    expect(new URL(href).searchParams.get('step')).toBe('4');
    expect(new URL(withPairParams(href, { configs: ['bare', 'svm-nested'], step: 0 })).searchParams.has('pstep')).toBe(false);
    const gone = new URL(withPairParams(href, null));
    expect([gone.searchParams.has('pair'), gone.searchParams.has('pstep'), gone.searchParams.get('scenario')]).toEqual([false, false, 'mm-workload']);
  });
});
