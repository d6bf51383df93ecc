/**
 * ViewState.io through the session, on issue 8's examples: the blocked read of dma-attack-vtd
 * (its walk ends at the second-level entry that is not present; fault reason 6 from SID 00:08.0),
 * the same under AMD-Vi (IO_PAGE_FAULT), the unprotected dma-attack landing in the victim's RAM,
 * nic-two-ways (the assigned card's DMA lands in VM 1's RAM through domain 2; the emulated card's
 * is the hypervisor's copy into VM 0's RAM); a step without DMA shows the last before it; the rings;
 * a function of the step whatever the trace kinds; null without devices.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import attack from '../emu/scenario/examples/dma-attack.json' with { type: 'json' };
import attackVtd from '../emu/scenario/examples/dma-attack-vtd.json' with { type: 'json' };
import attackAmd from '../emu/scenario/examples/dma-attack-amdvi.json' with { type: 'json' };
import twoWays from '../emu/scenario/examples/nic-two-ways.json' with { type: 'json' };
import threeWays from '../emu/scenario/examples/nic-three-ways.json' with { type: 'json' };
import diskWays from '../emu/scenario/examples/disk-three-ways.json' with { type: 'json' };
import twoVms from '../emu/scenario/examples/two-vms.json' with { type: 'json' };
import sriov from '../emu/scenario/examples/sriov-two-vms.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json } from './protocol.ts';
import type { IoRequestView, StepIo } from './io-types.ts';
import { DmaStepIndex } from './dma-index.ts';

beforeAll(() => prepareLoad(attackVtd));

const MIB8 = 0x800000;

function session(scenario: unknown): LabSession {
  const s = new LabSession({ interval: 500 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

/** From step 0, runs to each DMA request in turn (runUntil stops at the end of the step that made it) until one `pick` accepts. */
function find(s: LabSession, pick: (r: IoRequestView) => boolean, max = 60_000): { step: number; io: StepIo; req: IoRequestView } {
  s.goto(0);
  for (;;) {
    const r = s.runUntil(['iommu/dma'], max);
    if (r.event === null) throw new Error('no such request');
    const io = r.view.io!;
    expect(io.fresh).toBe(true);
    const req = io.requests.find(pick);
    if (req !== undefined) return { step: r.view.step, io, req };
  }
}

describe('ViewState.io', () => {
  it('dma-attack-vtd: the blocked read ends at the not-present entry, fault reason 6 from 00:08.0', () => {
    const s = session(attackVtd);
    const { step, io, req } = find(s, (r) => !r.ok);
    expect(io.iommu).toBe('vtd');
    expect(io.step).toBe(step - 1);
    expect(req).toMatchObject({ bus: 'host', vm: 0, rid: '00:08.0', access: 'read', via: 'iommu', iova: `0x${(MIB8 + 0x300000).toString(16)}`, hpa: null, owner: null });
    expect(req.fault).toEqual({ vendor: 'vtd', reason: 6 });
    expect(req.record).toEqual({ vendor: 'vtd', reason: 6, sid: '00:08.0', pageAddress: '0xb00000', type: 1, recorded: true });
    // Root entry (bus 0) → context entry (devfn 0x40) from the context cache, then L4 → L3 → L2: not present.
    expect(req.walk.map((w) => [w.kind, w.level, w.decision])).toEqual([
      ['root-entry', 0, 'cached'], ['context-entry', 0, 'cached'], ['page-table-entry', 4, 'next'], ['page-table-entry', 3, 'next'], ['page-table-entry', 2, 'fault'],
    ]);
    const last = req.walk.at(-1)!;
    expect(last.present).toBe(false);
    expect(last.index).toBe(5); // IOVA 0xb00000: bits 29:21 = 5
    expect(last.fields.filter((f) => f.name === 'R' || f.name === 'W').map((f) => f.value)).toEqual(['0', '0']);
    const ctx = req.walk[1]!;
    expect(ctx.index).toBe(0x40);
    expect(Object.fromEntries(ctx.fields.map((f) => [f.name, f.value]))).toMatchObject({ P: '1', TT: '0', AW: '2', DID: '1' });
    expect(io.devices).toHaveLength(1);
    expect(io.devices[0]).toMatchObject({ vm: 0, way: 'assigned', guestBdf: '00:03.0', hostBdf: '00:08.0', rid: '00:08.0', domainId: 1, device: 'nic', blocked: 1 });
    expect(io.counts.host.blocked).toBe(1);
    expect(io.counts.vm).toEqual({ requests: 0, blocked: 0 });
  });

  it('dma-attack-amdvi: the same read is an IO_PAGE_FAULT event with the DTE decoded', () => {
    const s = session(attackAmd);
    const { req } = find(s, (r) => !r.ok);
    expect(req.fault).toEqual({ vendor: 'amd-vi', code: 2 });
    expect(req.record).toEqual({ vendor: 'amd-vi', code: 2, deviceId: '00:08.0', domainId: 1, address: '0xb00000', flags: 0, logged: true });
    expect(req.walk[0]!.kind).toBe('device-table-entry');
    expect(Object.fromEntries(req.walk[0]!.fields.map((f) => [f.name, f.value]))).toMatchObject({ V: '1', TV: '1', Mode: '4', IR: '1', IW: '1', DomainID: '1' });
    expect(req.walk.at(-1)).toMatchObject({ kind: 'page-table-entry', level: 2, decision: 'fault', present: false });
  });

  it('dma-attack: with no IOMMU the read lands in the victim VM’s RAM', () => {
    const s = session(attack);
    const { io, req } = find(s, (r) => r.iova === `0x${(MIB8 + 0x300000).toString(16)}`);
    expect(io.iommu).toBe('none');
    expect(req).toMatchObject({ ok: true, via: 'none', hpa: '0xb00000', walk: [], fault: null, record: null });
    expect(req.owner).toEqual({ kind: 'vm', vm: 1, name: expect.any(String) as string });
  });

  it('nic-two-ways: the assigned card lands in VM 1’s RAM via domain 2; the emulated card’s DMA is the hypervisor’s copy into VM 0’s RAM', () => {
    const s = session(twoWays);
    const { io, req } = find(s, (r) => r.bus === 'host');
    expect(req).toMatchObject({ vm: 1, rid: '00:09.0', via: 'iommu', ok: true, domainId: 2, owner: { kind: 'vm', vm: 1 } });
    expect(req.walk.filter((w) => w.kind === 'page-table-entry').at(-1)!.decision).toBe('leaf');
    expect(io.devices.map((d) => [d.way, d.hostBdf, d.domainId])).toEqual([['emulated', null, null], ['assigned', '00:09.0', 2]]);
    const emu = find(s, (r) => r.bus === 'vm').req;
    expect(emu).toMatchObject({ vm: 0, via: 'hypervisor', rid: '00:03.0', ok: true, walk: [], domainId: null, owner: { kind: 'vm', vm: 0 } });
    // The emulated card's guest-physical address plus VM 0's base (0): the hypervisor's copy lands in VM 0's RAM.
    expect(Number(emu.hpa)).toBe(Number(emu.iova));
  });

  it('sriov-two-vms: each VM\u2019s VF by its own host BDF, requester ID and domain; a request from VF 1 is VM 1\u2019s; each VF\u2019s rings are its own', () => {
    const s = session(sriov);
    const { req } = find(s, (r) => r.rid === '00:10.2');
    expect(req).toMatchObject({ vm: 1, bus: 'host', device: 'nic-vf1', via: 'iommu', ok: true, domainId: 2, owner: { kind: 'vm', vm: 1 } });
    const end = s.goto(200_000).io!;
    expect(end.devices.map((d) => [d.vm, d.way, d.device, d.hostBdf, d.rid, d.domainId, d.hostBar])).toEqual([
      [0, 'assigned', 'nic-vf0', '00:10.1', '00:10.1', 1, '0xc0800000'],
      [1, 'assigned', 'nic-vf1', '00:10.2', '00:10.2', 2, '0xc0820000'],
    ]);
    for (const d of end.devices) {
      expect(d.rings.map((r) => r.name)).toEqual(['tx', 'rx']);
      expect(d.requests).toBeGreaterThan(0);
      expect(d.blocked).toBe(0);
    }
  });

  it('a step without DMA shows the last before it, with its step; the rings mark the last slot', () => {
    const s = session(twoWays);
    const { step, io } = find(s, () => true);
    expect(s.goto(step - 1).io!.step).toBeNull(); // before the first request: none yet
    // A register write makes a batch of requests in one step; the steps after it make none.
    const quiet = s.goto(step + 1).io!;
    expect(quiet.fresh).toBe(false);
    expect(quiet.step).toBe(io.step);
    expect(quiet.requests).toEqual(io.requests);
    const later = s.goto(30_000).io!;
    const nic = later.devices[1]!;
    expect(nic.rings.map((r) => r.name)).toEqual(['tx', 'rx']);
    for (const r of nic.rings) {
      expect(r.slots).toHaveLength(r.count);
      // The card owns the slots from head to tail − 1: the rest are the driver's.
      for (const sl of r.slots) expect(sl.owner).toBe((sl.index - r.head + r.count) % r.count < (r.tail - r.head + r.count) % r.count ? 'device' : 'driver');
    }
    expect(nic.rings.flatMap((r) => r.slots).filter((x) => x.last)).toHaveLength(1);
  });

  it('nic-three-ways: the virtio card\u2019s queues, slot by slot, at the end of the run; its DMA the hypervisor\u2019s copy into VM 1\u2019s RAM', () => {
    const s = session(threeWays);
    const { req } = find(s, (r) => r.vm === 1 && r.what === 'data');
    expect(req).toMatchObject({ bus: 'vm', via: 'hypervisor', device: 'virtio-net', owner: { kind: 'vm', vm: 1, name: 'virtio' }, ok: true });
    const end = s.goto(200_000).io!;
    const v = end.devices.find((d) => d.way === 'virtio')!;
    expect(v).toMatchObject({ vm: 1, vmName: 'virtio', device: 'virtio-net', guestBdf: '00:03.0', hostBdf: null });
    expect(v.rings.map((r) => r.name)).toEqual(['receiveq', 'transmitq']);
    const [rxq, txq] = v.rings;
    expect([rxq!.count, txq!.count]).toEqual([16, 16]);
    // Every frame sent and its receive chain used: the transmit queue's used idx is 8, the device
    // owns no transmit chain, and the driver made the 8 receive chains available again.
    expect(txq!.usedIdx).toBe(8);
    expect(txq!.slots.every((x) => x.owner === 'driver')).toBe(true);
    expect(rxq!.usedIdx).toBe(8);
    expect(rxq!.slots.filter((x) => x.owner === 'device')).toHaveLength(16);
  });

  it('the DMA requests are timeline marks too (the frontier feeds the marks and the step index)', () => {
    const s = session(attackVtd);
    const { step } = find(s, (r) => !r.ok);
    const m = s.marks(0, step, 10_000, 100);
    expect(m.counts['iommu/dma']).toBeGreaterThan(0);
    expect(m.dmaBlocked).toBe(1);
  });

  it('disk-three-ways: the assigned controller\u2019s DMA lands in VM 2\u2019s RAM through domain 3; the NVMe queues and the virtio-blk request queue, slot by slot', () => {
    const s = session(diskWays);
    const { req } = find(s, (r) => r.bus === 'host' && r.what === 'data');
    expect(req).toMatchObject({ vm: 2, device: 'nvme', via: 'iommu', domainId: 3, owner: { kind: 'vm', vm: 2, name: 'assigned' }, ok: true });
    const io = s.goto(200_000).io!;
    expect(io.devices.map((d) => [d.vm, d.way, d.device, d.rings.map((r) => `${r.name}${r.qid ?? ''}`)])).toEqual([
      [0, 'emulated', 'nvme', ['sq0', 'sq1', 'cq0', 'cq1']],
      [1, 'virtio', 'virtio-blk', ['requestq']],
      [2, 'assigned', 'nvme', ['sq0', 'sq1', 'cq0', 'cq1']],
    ]);
    for (const vm of [0, 2]) {
      const [asq, iosq, , iocq] = io.devices[vm]!.rings;
      // The admin queue's first two commands made the I/O queues (CQ first), both completed.
      expect(asq!.slots.slice(0, 2).map((x) => x.nvme?.kind === 'command' && [x.nvme.admin, x.nvme.opcode, x.nvme.completed])).toEqual([[true, 5, true], [true, 1, true]]);
      // 8 writes then 8 reads through a 4-slot I/O queue: slot i last held the read of LBA 4 + i, with its buffer and length.
      expect(iosq!.count).toBe(4);
      for (const x of iosq!.slots) {
        expect(x.nvme).toEqual({ kind: 'command', admin: false, opcode: 2, lba: 4 + x.index, completed: true });
        expect(x.length).toBe(512);
        expect(x.owner).toBe('driver');
      }
      expect(iocq!.slots.every((x) => x.nvme?.kind === 'completion' && x.nvme.sc === 0 && x.nvme.sct === 0)).toBe(true);
    }
    const rq = io.devices[1]!.rings[0]!;
    expect(rq.usedIdx).toBe(16);
    expect(rq.slots.every((x) => x.owner === 'driver')).toBe(true);
  });

  it('is a function of the step, whatever the trace kinds', () => {
    const s = session(attackVtd);
    const { step, io } = find(s, (r) => !r.ok);
    s.setTraceKinds([]);
    s.goto(1);
    expect(s.goto(step).io).toEqual(io);
    const t = session(attackVtd);
    t.setTraceKinds(['cpu/insn']);
    expect(t.goto(step).io).toEqual(io);
  });

  it('is null for a host without devices', () => {
    expect(session(twoVms).goto(5).io).toBeNull();
  });
});

describe('DmaStepIndex', () => {
  const ev = (step: number, seq: number) => ({ kind: 'iommu/dma', step, vm: 0, bus: 'host', seq, rid: 0x40, device: 'nic', access: 'read', what: 'ring', iova: 0n, length: 16, hpa: 0n, domainId: 1, iotlbHit: false, fault: null }) as const;
  it('answers steps, the last before, forgets on truncate, and stops when full', () => {
    const x = new DmaStepIndex(4);
    [ev(3, 0), ev(3, 1), ev(7, 2), ev(9, 3), ev(12, 4)].forEach((e) => x.emit(e));
    expect(x.at(3).map((r) => r.seq)).toEqual([0, 1]);
    expect(x.at(4)).toEqual([]);
    expect(x.lastBefore(7)).toBe(3);
    expect(x.lastBefore(3)).toBeNull();
    expect(x.fullAt).toBe(12);
    x.truncate(8);
    expect(x.size).toBe(3);
    expect(x.fullAt).toBeNull();
    expect(x.lastBefore(100)).toBe(7);
  });
});
