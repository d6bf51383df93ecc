import { describe, expect, it } from 'vitest';
import type { CompareResult, CompareRow } from '../../emu/hv/compare.ts';
import { compareBars, configKey, exitFamily, exitNames, monitorNames, partCycles, partKey } from './compare-model.ts';

function row(id: CompareRow['id'], byKind: Record<string, number>, exits: Record<string, number> = {}): CompareRow {
  const total = Object.values(byKind).reduce((a, b) => a + b, 0);
  return {
    id, technique: id === 'bare' ? 'bare' : id === 'te' ? 'trap-emulate' : id === 'bt' ? 'bt' : id.startsWith('vtx') ? 'vtx' : 'svm', paging: id === 'bare' ? 'native' : 'nested', tlbTags: id !== 'bare', end: 'hlt', steps: 100, same: true,
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
  unavailable: [],
};
/** With the software monitors: their traps and callouts by cause, kept apart from the VM exits. */
const SOFT: Extract<CompareResult, { ok: true }> = {
  ...RES,
  rows: [...RES.rows, row('te', { 'guest-insn': 100, trap: 900 }, { cli: 1, '#PF': 3 }), row('bt', { 'guest-insn': 120, 'bt-callout': 400, 'bt-step': 200 }, { popfd: 1, cli: 1 })],
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
  it('keeps the software monitors\u2019 causes apart from the VM exit names, and names configurations and parts from the right part of the catalog', () => {
    expect(exitNames(SOFT)).toEqual(['EXIT_REASON_HLT', 'VMEXIT_HLT', 'VMEXIT_IOIO']);
    expect(monitorNames(SOFT)).toEqual(['#PF', 'cli', 'popfd']);
    expect(monitorNames(RES)).toEqual([]);
    expect(exitFamily(RES.rows)).toBe('hw');
    expect(exitFamily(SOFT.rows)).toBe('both');
    expect(exitFamily(SOFT.rows.slice(3))).toBe('sw');
    expect([configKey('te'), configKey('bt'), configKey('vtx-shadow')]).toEqual(['pair.config.te', 'pair.config.bt', 'vm.compare.config.vtx-shadow']);
    expect([partKey('exits', 'hw'), partKey('exits', 'sw'), partKey('exits', 'both'), partKey('memory', 'sw')]).toEqual(['vm.compare.part.exits', 'pair.part.exits.sw', 'pair.part.exits.both', 'vm.compare.part.memory']);
    // A software monitor's cycles split the same way: traps and callouts are its exits part.
    expect(partCycles(SOFT.rows[4]!)).toEqual({ guest: 120, memory: 0, exits: 600 });
  });
});
