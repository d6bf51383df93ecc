import { describe, expect, it } from 'vitest';
import { EXIT_INVALID_GUEST_STATE, ExitReason } from '../vmx/exit-reasons.ts';
import { SvmExit } from '../svm/exit-codes.ts';
import type { Charge } from './kinds.ts';
import { Ledger, type LedgerData } from './ledger.ts';
import { preset } from './presets.ts';
import { cyclesOf, roundTrip, UnpricedCharge } from './price.ts';

const prescott = preset('vtx-prescott');
const amd = preset('amd-recent');
const CPUID = ExitReason.CPUID ?? -1;
const IO = ExitReason.IO_INSTRUCTION ?? -1;

/** A small VT-x session: the host's setup, a launch, guest code, a CPUID exit, two I/O exits, a #PF exit. */
function vtxSession(): Charge[] {
  return [
    { kind: 'vmwrite', count: 20 },
    { kind: 'vm-entry' },
    { kind: 'guest-insn', count: 100 },
    ...roundTrip(prescott, { exit: CPUID, work: 'cpuid', reads: 3, writes: 1 }),
    { kind: 'guest-insn', count: 10 },
    ...roundTrip(prescott, { exit: IO, work: 'io', reads: 4, writes: 1 }),
    ...roundTrip(prescott, { exit: IO, work: 'io', reads: 4, writes: 1 }),
    ...roundTrip(prescott, { exit: 0, work: 'exception', reads: 4, writes: 2 }),
    { kind: 'guest-insn', count: 5 },
  ];
}

describe('the ledger', () => {
  it('totals cycles by kind and by handler work', () => {
    const l = new Ledger(prescott);
    const charges = vtxSession();
    expect(l.chargeAll(charges)).toBe(cyclesOf(prescott, charges));
    const d = l.data();
    expect(d.cycles).toBe(cyclesOf(prescott, charges));
    expect(d.byKind['guest-insn']).toEqual({ count: 115, cycles: 115 });
    expect(d.byKind.vmwrite).toEqual({ count: 25, cycles: 25 * 171 });
    expect(d.byKind.vmread).toEqual({ count: 15, cycles: 15 * 178 });
    expect(d.byKind['vm-entry']).toEqual({ count: 5, cycles: 5 * 2409 });
    expect(d.byKind['vm-exit']).toEqual({ count: 4, cycles: 4 * 1931 });
    expect(d.byWork).toEqual({ cpuid: { count: 1, cycles: 200 }, io: { count: 2, cycles: 2000 }, exception: { count: 1, cycles: 300 } });
    expect(d.byKind.handler).toEqual({ count: 4, cycles: 2500 });
    const kindSum = Object.values(d.byKind).reduce((s, t) => s + t.cycles, 0);
    expect(kindSum).toBe(d.cycles);
  });

  it('totals each exit reason: its exits, their own cycles, and their round trips to the next entry', () => {
    const l = new Ledger(prescott);
    l.chargeAll(vtxSession());
    const d = l.data();
    const trip = (reason: number, work: 'cpuid' | 'io' | 'exception', reads: number, writes: number): number =>
      cyclesOf(prescott, roundTrip(prescott, { exit: reason, work, reads, writes }));
    expect(d.exits).toEqual({
      [String(CPUID)]: { count: 1, exitCycles: 1931, roundTripCycles: trip(CPUID, 'cpuid', 3, 1) },
      [String(IO)]: { count: 2, exitCycles: 2 * 1931, roundTripCycles: 2 * trip(IO, 'io', 4, 1) },
      '0': { count: 1, exitCycles: 1931, roundTripCycles: trip(0, 'exception', 4, 2) },
    });
    // The setup, the launch and the guest's own instructions belong to no exit.
    const attributed = Object.values(d.exits).reduce((s, t) => s + t.roundTripCycles, 0);
    expect(d.cycles - attributed).toBe(20 * 171 + 2409 + 115);
    expect(d.open).toBeNull();
  });

  it('keeps an exit open until the entry, and a failed entry’s exit (reason 33) is its own reason', () => {
    const l = new Ledger(prescott);
    l.charge({ kind: 'vm-exit', reason: EXIT_INVALID_GUEST_STATE });
    expect(l.data().open).toBe(33);
    l.charge({ kind: 'vmread', count: 2 });
    expect(l.data().exits['33']).toEqual({ count: 1, exitCycles: 1931, roundTripCycles: 1931 + 2 * 178 });
    l.charge({ kind: 'vm-entry' });
    expect(l.data().open).toBeNull();
    l.charge({ kind: 'guest-insn', count: 3 });
    expect(l.data().exits['33']?.roundTripCycles).toBe(1931 + 2 * 178 + 2409);
  });

  it('keys AMD exits by exit code, VMEXIT_INVALID (−1) included', () => {
    const l = new Ledger(amd);
    l.chargeAll(roundTrip(amd, { exit: SvmExit.CPUID, work: 'cpuid', reads: 2, writes: 1 }));
    l.chargeAll(roundTrip(amd, { exit: SvmExit.NPF, work: 'mmio', reads: 3, writes: 1 }));
    l.charge({ kind: 'vmexit', code: SvmExit.INVALID });
    const d = l.data();
    expect(d.vendor).toBe('amd');
    expect(Object.keys(d.exits)).toEqual(['114', '1024', '-1']);
    expect(d.exits['114']).toEqual({ count: 1, exitCycles: 675, roundTripCycles: 675 + 1178 + 2 * 4 + 200 + 4 + 675 });
    expect(d.exits['-1']).toEqual({ count: 1, exitCycles: 675, roundTripCycles: 675 });
    expect(d.open).toBe(-1);
  });

  it('records nothing for a charge its preset cannot price', () => {
    const l = new Ledger(amd);
    l.charge({ kind: 'guest-insn', count: 7 });
    const before = JSON.stringify(l.data());
    expect(() => l.charge({ kind: 'vm-exit', reason: 10 })).toThrow(UnpricedCharge);
    expect(() => l.charge({ kind: 'vmread', count: 24 })).toThrow(UnpricedCharge);
    expect(JSON.stringify(l.data())).toBe(before);
  });

  it('is deterministic and survives a JSON round trip, continuing as if never interrupted', () => {
    const all = vtxSession();
    const straight = new Ledger(prescott);
    straight.chargeAll(all);
    const again = new Ledger(prescott);
    again.chargeAll(all);
    expect(JSON.stringify(again.data())).toBe(JSON.stringify(straight.data()));

    // Stop in the middle of an exit (open), send the data as the worker would, go on elsewhere.
    const cut = 6;
    const first = new Ledger(prescott);
    first.chargeAll(all.slice(0, cut));
    const sent = JSON.parse(JSON.stringify(first.data())) as LedgerData;
    expect(sent.open).toBe(CPUID);
    const resumed = Ledger.from(sent);
    resumed.chargeAll(all.slice(cut));
    expect(resumed.data()).toEqual(straight.data());
  });

  it('hands out copies, and refuses data of another preset or format', () => {
    const l = new Ledger(prescott);
    l.charge({ kind: 'vmread' });
    const d = l.data();
    (d.byKind.vmread as { cycles: number }).cycles = 0;
    d.cycles = 0;
    expect(l.data().byKind.vmread?.cycles).toBe(178);
    expect(l.cycles).toBe(178);
    expect(() => Ledger.from({ ...l.data(), preset: 'no-such' })).toThrow(/no such preset/);
    expect(() => Ledger.from(l.data(), amd)).toThrow(/no such preset/);
    expect(() => Ledger.from({ ...l.data(), vendor: 'amd' })).toThrow(/vendor/);
    expect(() => Ledger.from({ ...l.data(), format: 2 as 1 })).toThrow(/format/);
    l.reset();
    expect(l.data()).toEqual({ format: 1, preset: 'vtx-prescott', vendor: 'intel', cycles: 0, byKind: {}, byWork: {}, exits: {}, open: null });
  });
});
