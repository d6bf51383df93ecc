import { describe, expect, it } from 'vitest';
import type { CompareResult, CompareRow } from '../../emu/hv/compare.ts';
import { compareBars, exitNames, partCycles } from './compare-model.ts';

function row(id: CompareRow['id'], byKind: Record<string, number>, exits: Record<string, number> = {}): CompareRow {
  const total = Object.values(byKind).reduce((a, b) => a + b, 0);
  return {
    id, technique: id === 'bare' ? 'bare' : id.startsWith('vtx') ? 'vtx' : 'svm', paging: id === 'bare' ? 'native' : 'nested', tlbTags: id !== 'bare', end: 'hlt', steps: 100, same: true,
    exits: { total: Object.values(exits).reduce((a, b) => a + b, 0), byName: exits }, tlb: { hits: 0, misses: 0, flushes: 0 }, walks: 1, refs: 4, refsPerWalk: 4,
    cycles: { preset: 'p', total, byKind },
  };
}

const RES: Extract<CompareResult, { ok: true }> = {
  ok: true, name: 'w',
  rows: [
    row('bare', { 'guest-insn': 100, 'page-walk-ref': 40 }),
    row('vtx-nested', { 'guest-insn': 100, 'page-walk-ref': 240, 'vm-exit': 500, 'vm-entry': 300, 'hv-dispatch': 100 }, { EXIT_REASON_HLT: 1 }),
    row('svm-nested', { 'guest-insn': 100, 'page-walk-ref': 230, 'tlb-flush': 100, vmexit: 700 }, { VMEXIT_HLT: 1, VMEXIT_IOIO: 2 }),
  ],
};

describe('the comparison chart data', () => {
  it('splits each run into guest, address translation and exits, adding up to its total', () => {
    expect(partCycles(RES.rows[1]!)).toEqual({ guest: 100, memory: 240, exits: 900 });
    expect(partCycles(RES.rows[2]!)).toEqual({ guest: 100, memory: 330, exits: 700 });
    for (const b of compareBars(RES)) expect(b.parts.reduce((s, p) => s + p.cycles, 0)).toBe(b.total);
  });
  it('scales the bars to the largest total and states each as a multiple of bare', () => {
    const bars = compareBars(RES);
    expect(bars.map((b) => b.ratio)).toEqual([1, 1240 / 140, 1130 / 140]);
    expect(bars[1]!.parts.reduce((s, p) => s + p.width, 0)).toBeCloseTo(1);
    expect(bars[0]!.parts.reduce((s, p) => s + p.width, 0)).toBeCloseTo(140 / 1240);
  });
  it('lists every exit name any run took, once', () => {
    expect(exitNames(RES)).toEqual(['EXIT_REASON_HLT', 'VMEXIT_HLT', 'VMEXIT_IOIO']);
  });
});
