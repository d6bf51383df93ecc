/**
 * Interrupt messages in the trace (iommu/msi) and in ViewState.io (StepIo.interrupts), on issue 8's
 * interrupt examples: nic-interrupts (VM 0's emulated card to its VM's local APIC; VM 1's assigned
 * card through VT-d's interrupt remapping entry 1 to host vector 0x61, injected as 0x41),
 * nic-interrupts-posted (entry 1 posts 0x41 into vCPU 0's descriptor with notification vector
 * 0xf2), and a host whose IRTE the test clears before the card's first message (blocked, fault
 * reason 0x22 with the interrupt index in the record). Each event is at the step of the guest's
 * write that made the card send it, and the view is found by the step index whatever the page traces.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import plain from '../emu/scenario/examples/nic-interrupts.json' with { type: 'json' };
import posted from '../emu/scenario/examples/nic-interrupts-posted.json' with { type: 'json' };
import amdvi from '../emu/scenario/examples/nic-interrupts-amdvi.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json } from './protocol.ts';
import type { TraceEvent } from '../emu/trace/events.ts';
import type { HostMachine } from '../emu/hv/host-machine.ts';
import { VtdRemapper } from '../emu/iommu/vtd.ts';

beforeAll(() => prepareLoad(plain as Json));

type Msi = Extract<TraceEvent, { kind: 'iommu/msi' }>;

function session(scenario: unknown): LabSession {
  const s = new LabSession({ interval: 500 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

const machineOf = (s: LabSession): HostMachine => (s as unknown as { cur: { machine: HostMachine } }).cur.machine;

/** Runs to each interrupt message in turn; the events of the step that sent it and the view there. */
function next(s: LabSession): { msi: Msi; evs: TraceEvent[]; view: ReturnType<LabSession['runUntil']>['view'] } {
  const r = s.runUntil(['iommu/msi'], 60_000);
  if (r.event === null) throw new Error('no interrupt message');
  const evs = r.view.events.filter((e) => e.step === r.view.step - 1);
  const msi = evs.find((e): e is Msi => e.kind === 'iommu/msi');
  if (msi === undefined) throw new Error('the step has no iommu/msi event');
  return { msi, evs, view: r.view };
}

describe('iommu/msi and StepIo.interrupts', () => {
  it('nic-interrupts: the emulated card to VM 0’s local APIC, after the MMIO exit’s events; the assigned card remapped by IRTE 1 to host vector 0x61, injected as 0x41', () => {
    const s = session(plain);
    const a = next(s);
    expect(a.msi).toMatchObject({ vm: 0, bus: 'vm', seq: 0, rid: 0x18, device: 'nic', address: 0xfee00000, data: 0x41, vector: 0x41, outcome: { kind: 'direct' }, delivered: true, guestVector: 0x41 });
    // The card is a model in the hypervisor: the write that made it send was an MMIO exit, whose events come first.
    const kinds = a.evs.map((e) => e.kind);
    expect(kinds.indexOf('vm/exit')).toBeLessThan(kinds.indexOf('iommu/msi'));
    expect(kinds.indexOf('vm/entry')).toBeLessThan(kinds.indexOf('iommu/msi'));
    const io = a.view.io!;
    expect(io.interrupts).toMatchObject({ step: a.view.step - 1, fresh: true, dropped: 0 });
    expect(io.interrupts.list).toEqual([expect.objectContaining({ vm: 0, bus: 'vm', outcome: 'direct', walk: [], delivered: true, guestVector: 0x41, target: expect.objectContaining({ vector: 0x41, destinationId: 0 }) })]);

    const b = next(s);
    expect(b.msi).toMatchObject({ vm: 1, bus: 'host', seq: 0, rid: 0x48, vector: 0x61, outcome: { kind: 'remapped', index: 1, vector: 0x61, destinationId: 0, cacheHit: false }, delivered: true, guestVector: 0x41 });
    // An assigned card's write reaches it with no exit: no vm/exit in the step.
    expect(b.evs.some((e) => e.kind === 'vm/exit')).toBe(false);
    const m = b.view.io!.interrupts.list[0]!;
    expect(m).toMatchObject({ outcome: 'remapped', index: 1, remappable: true, rid: '00:09.0', cacheHit: false, guestVector: 0x41, record: null, posted: null });
    expect(m.walk.map((w) => [w.kind, w.index, w.decision, w.sourceCheck])).toEqual([['irte', 1, 'leaf', 'passed']]);
    const f = Object.fromEntries(m.walk[0]!.fields.map((x) => [x.name, x.value]));
    expect(f).toMatchObject({ P: '1', IM: '0', Vector: '0x61', DST: '0', DM: '0', TM: '0', DLM: '0', SID: '00:09.0', SVT: '1' });

    // The next time the interrupt entry cache answers: the IRTE is shown as the table holds it, marked cached.
    const c = next(s);
    const later = c.msi.vm === 1 ? c : next(s);
    expect(later.msi.outcome).toMatchObject({ kind: 'remapped', cacheHit: true });
    const lm = later.view.io!.interrupts.list[0]!;
    expect(lm.cacheHit).toBe(true);
    expect(lm.walk.map((w) => [w.kind, w.decision])).toEqual([['irte', 'cached']]);
  });

  it('nic-interrupts-posted: IRTE 1 (posted format) sets PIR bit 0x41 in vCPU 0’s descriptor and sends notification 0xf2', () => {
    const s = session(posted);
    next(s);
    const b = next(s);
    expect(b.msi).toMatchObject({ vm: 1, bus: 'host', vector: 0xf2, outcome: { kind: 'posted', index: 1, vector: 0x41, notification: 0xf2, cacheHit: false }, delivered: true, guestVector: 0x41 });
    const m = b.view.io!.interrupts.list[0]!;
    expect(m.outcome).toBe('posted');
    const f = Object.fromEntries(m.walk[0]!.fields.map((x) => [x.name, x.value]));
    expect(f).toMatchObject({ P: '1', IM: '1', Vector: '0x41', SVT: '1' });
    expect(f['PDA']).toBe(m.posted!.descriptor);
    expect(m.posted).toMatchObject({ vector: 0x41, notification: 0xf2, now: { nv: 0xf2, ndst: 0 } });
    // The notification was processed in the guest: the bit has left PIR, ON is clear again.
    expect(m.posted!.now).toMatchObject({ pir: false, on: false });
  });

  it('a cleared IRTE: the assigned card’s message is blocked with VT-d fault reason 0x22, the interrupt index in the record; nothing reaches the CPU', () => {
    const s = session(plain);
    const hm = machineOf(s);
    // Until the host has programmed VM 1's card (its MSI enabled), then its entry is cleared.
    while (hm.host.interruptsOf(1).msi === null) s.step(100);
    const u = hm.host.iommu!.remapper as VtdRemapper;
    const pa = u.interruptTable!.base + 16;
    for (let i = 0; i < 16; i += 4) hm.mem.write(pa + i, 4, 0);
    u.invalidateInterruptEntryCache(false, 1);
    let b = next(s);
    while (b.msi.vm !== 1) b = next(s);
    expect(b.msi).toMatchObject({ bus: 'host', delivered: false, guestVector: null, outcome: { kind: 'blocked', index: 1, fault: { vendor: 'vtd', reason: 0x22, recorded: true } } });
    const m = b.view.io!.interrupts.list.find((x) => x.vm === 1)!;
    expect(m).toMatchObject({ outcome: 'blocked', index: 1, delivered: false, target: null, fault: { vendor: 'vtd', reason: 0x22 } });
    expect(m.walk.map((w) => [w.kind, w.decision, w.present])).toEqual([['irte', 'fault', false]]);
    expect(m.record).toMatchObject({ vendor: 'vtd', reason: 0x22, sid: '00:09.0', recorded: true, interruptIndex: 1 });
    // The timeline's marks have it, blocked.
    const marks = s.marks(0, b.view.step, 1000, 1);
    expect(marks.msiBlocked).toBe(1);
  });

  it('a step without an interrupt shows the last before it (stale), and the view does not depend on the trace kinds the page collects', () => {
    const s = session(plain);
    const a = next(s);
    const after = s.step(1).io!.interrupts;
    expect(after).toMatchObject({ step: a.view.step - 1, fresh: false });
    s.setTraceKinds(['cpu/insn']);
    s.goto(0);
    s.goto(a.view.step);
    expect(s.step(0).io!.interrupts).toMatchObject({ step: a.view.step - 1, fresh: true });
  });

  it('nic-interrupts-amdvi: the assigned card\u2019s MSI remapped by IRTE 0 of its interrupt table; its DTE came from the device-table cache and is shown first, with its interrupt fields', () => {
    const s = session(amdvi);
    next(s);
    const b = next(s);
    expect(b.msi).toMatchObject({ vm: 1, bus: 'host', outcome: { kind: 'remapped', index: 0, vector: 0x61 }, guestVector: 0x41 });
    const m = b.view.io!.interrupts.list[0]!;
    expect(m.walk.map((w) => [w.kind, w.decision])).toEqual([['device-table-entry', 'cached'], ['irte', 'leaf']]);
    expect(Object.fromEntries(m.walk[0]!.fields.map((x) => [x.name, x.value]))).toMatchObject({ V: '1', IV: '1', IntTabLen: '1', IntCtl: '2' });
    expect(Object.fromEntries(m.walk[1]!.fields.map((x) => [x.name, x.value]))).toMatchObject({ RemapEn: '1', Vector: '0x61', Destination: '0' });
  });
});
