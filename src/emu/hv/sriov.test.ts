/**
 * SR-IOV on the multi-VM host (host.ts `device.vf`, devio.ts enableVfs): one network card on the
 * host's bus, its PF at 00:10.0, a VF each for two VMs. The same guest driver (io-guest.ts nicDriver)
 * finds its VF and delivers its frames; each VF's DMA carries its own requester ID and goes through
 * its own IOMMU domain; a hostile driver on VF 0 is stopped by VT-d and by AMD-Vi while the VM on
 * VF 1 goes on, and reaches the other VM when there is no IOMMU; a snapshot mid-run replays.
 */
import { describe, expect, it } from 'vitest';
import { bytesAt, SECRET, secretByte, victim as victimGuest } from './io-testkit.ts';
import { AmdViRemapper, AMDVI_EVENT, AMDVI_REG } from '../iommu/amdvi.ts';
import { VTD_FAULT, VtdRemapper } from '../iommu/vtd.ts';
import { CFG, SRIOV, SRIOV_CAP_ID, SRIOV_CTRL } from '../dev/pci.ts';
import { NIC_BAR_SIZE, NIC_DEVICE, NIC_VENDOR } from '../dev/nic.ts';
import { ArraySink } from '../trace/events.ts';
import type { IommuKind } from './devio.ts';
import { Host, GUEST_DEVICE, HOST_SRIOV_DEVICE, HOST_VF_BAR_BASE, type HostGuest } from './host.ts';
import { HostMachine } from './host-machine.ts';
import { ioGuest, ioReport, IO_VM_MEM } from './io-compare.ts';
import { frameLength, IO_BAR, IO_OUT, IO_SLOT, type NicAttack } from './io-guest.ts';

const UNDERS = ['vtx', 'svm'] as const;
const FRAMES = 4;
const PF_RID = HOST_SRIOV_DEVICE << 3;
const VF_RID = [PF_RID + 1, PF_RID + 2] as const;

/** A VM whose card is a VF of the host's SR-IOV card, running the network card driver. */
function vfGuest(name: string, attack: NicAttack = {}): HostGuest {
  return { ...ioGuest('assigned', FRAMES, attack), name, device: { way: 'assigned', vf: true } };
}

const victim = (): HostGuest => victimGuest(IO_VM_MEM);

function twoVms(under: 'vtx' | 'svm', iommu: IommuKind, attack: NicAttack = {}) {
  const h = new Host({ under, guests: [vfGuest('vf0-vm', attack), vfGuest('vf1-vm')], iommu });
  const end = h.run(5_000_000);
  expect(end).toBe('ended');
  return { h, reports: [0, 1].map((i) => ioReport(h, i, 'assigned', iommu, FRAMES, end)) };
}

describe('the host enables VFs of one card and assigns one to each VM', () => {
  it('the PF at 00:10.0 has VF Enable and VF MSE set, NumVFs 2, VF BAR0 placed; VF k at 00:10.(k+1) with its slice of VF BAR0', () => {
    const h = new Host({ under: 'vtx', guests: [vfGuest('a'), vfGuest('b')], iommu: 'vtd' });
    const bus = h.pci!;
    const at = bus.extendedCapability(HOST_SRIOV_DEVICE, 0, SRIOV_CAP_ID);
    expect(bus.configRead(HOST_SRIOV_DEVICE, 0, at + SRIOV.CONTROL, 2)).toBe(SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE);
    expect(bus.configRead(HOST_SRIOV_DEVICE, 0, at + SRIOV.NUM_VFS, 2)).toBe(2);
    expect(bus.virtualFunctions(HOST_SRIOV_DEVICE, 0)).toEqual([...VF_RID]);
    expect(bus.memoryWindows().map((w) => [w.devfn, w.base])).toEqual([[VF_RID[0], HOST_VF_BAR_BASE], [VF_RID[1], HOST_VF_BAR_BASE + NIC_BAR_SIZE]]);
    for (const i of [0, 1] as const) {
      const a = h.deviceOf(i)!.assigned!;
      expect(a).toMatchObject({ device: HOST_SRIOV_DEVICE, fn: i + 1, rid: VF_RID[i], vf: i, bar: HOST_VF_BAR_BASE + i * NIC_BAR_SIZE, mapped: null });
      expect(h.vmOfHostRid(VF_RID[i])).toBe(i);
      // The VF's own IDs read 0xFFFF; the guest's bus shows it with the PF's vendor ID and the VF Device ID.
      expect(bus.configRead(a.device, a.fn, CFG.VENDOR_ID, 4)).toBe(0xffffffff);
      expect(h.deviceOf(i)!.bus.configRead(GUEST_DEVICE, 0, CFG.VENDOR_ID, 4)).toBe(((NIC_DEVICE << 16) | NIC_VENDOR) >>> 0);
    }
    expect(h.vmOfHostRid(PF_RID)).toBeNull();
  });

  it('beside a whole assigned card and an emulated one: the VF VM gets VF 0 at 00:10.1; every VM delivers its frames, each assigned function through its own domain', () => {
    const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', FRAMES), ioGuest('emulated', FRAMES), vfGuest('vf')], iommu: 'vtd' });
    const end = h.run(5_000_000);
    expect(end).toBe('ended');
    for (const [i, way] of (['assigned', 'emulated', 'assigned'] as const).entries()) expect(ioReport(h, i, way, 'vtd', FRAMES, end)).toMatchObject({ received: FRAMES, dataOk: true });
    expect(h.deviceOf(0)!.assigned).toMatchObject({ device: 8, fn: 0, rid: 0x40, vf: null });
    expect(h.deviceOf(2)!.assigned).toMatchObject({ device: HOST_SRIOV_DEVICE, fn: 1, rid: VF_RID[0], vf: 0 });
    const domains = new Map(h.pci!.dmaLog.map((e) => [e.rid, e.domainId]));
    expect([...domains].sort((a, b) => a[0] - b[0])).toEqual([[0x40, 1], [VF_RID[0], 3]]);
  });

  it('a VF is only assigned, and only the host\u2019s card\u2019s', () => {
    expect(() => new Host({ under: 'vtx', guests: [{ ...vfGuest('a'), device: { way: 'emulated', vf: true } }] })).toThrow(/a VF is a network card/);
    expect(() => new Host({ under: 'vtx', guests: [{ ...vfGuest('a'), device: { way: 'assigned', kind: 'disk', vf: true } }] })).toThrow(/a VF is a network card/);
  });
});

describe('two VMs, a VF each', () => {
  for (const [under, iommu] of [['vtx', 'vtd'], ['svm', 'amd-vi']] as const) {
    it(`${under} + ${iommu}: both drivers deliver every frame; each VF\u2019s DMA has its own requester ID and domain and lands in its own VM\u2019s RAM, with no MMIO exit`, () => {
      const { h, reports } = twoVms(under, iommu);
      for (const r of reports) expect(r).toMatchObject({ received: FRAMES, dataOk: true });
      const log = h.pci!.dmaLog;
      expect(new Set(log.map((e) => e.rid))).toEqual(new Set(VF_RID));
      for (const [i, rid] of VF_RID.entries()) {
        const mine = log.filter((e) => e.rid === rid);
        expect(mine.length).toBeGreaterThan(0);
        const base = h.vm(i).hpaBase;
        expect(mine.every((e) => e.ok && e.domainId === i + 1 && e.hpa! >= base && e.hpa! < base + IO_VM_MEM)).toBe(true);
        expect(mine.every((e) => e.device === `nic-vf${i}`)).toBe(true);
        expect(reports[i]!.device.dataBytes).toBeGreaterThan(0);
        expect(reports[i]!.exits.mmio).toBe(0);
        expect(h.deviceOf(i)!.assigned!.mapped).toBe(IO_BAR);
      }
    });
  }
});

describe('a hostile driver on VF 0', () => {
  const steal = { steal: IO_VM_MEM + SECRET };

  it('no IOMMU: VF 0 reads the other VM\u2019s secret, which loops back into the attacker\u2019s memory', () => {
    for (const under of UNDERS) {
      const h = new Host({ under, guests: [vfGuest('attacker', steal), victim()], iommu: 'none' });
      expect(h.run(5_000_000)).toBe('ended');
      const len = frameLength(FRAMES - 1);
      expect(bytesAt(h, IO_OUT + (FRAMES - 1) * IO_SLOT, len)).toEqual(Array.from({ length: len }, (_, i) => secretByte(i)));
      expect(h.pci!.dmaLog.some((e) => e.rid === VF_RID[0] && e.access === 'read' && e.hpa === IO_VM_MEM + SECRET)).toBe(true);
    }
  });

  for (const under of UNDERS) {
    it(`${under}, VT-d: the read is blocked with fault reason 6 recorded for VF 0\u2019s requester ID; the VM on VF 1 receives all its frames`, () => {
      const { h, reports } = twoVms(under, 'vtd', steal);
      const blocked = h.pci!.dmaLog.filter((e) => !e.ok);
      expect(blocked).toHaveLength(1);
      expect(blocked[0]).toMatchObject({ rid: VF_RID[0], access: 'read', iova: `0x${(IO_VM_MEM + SECRET).toString(16)}`, fault: { vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true } });
      expect((h.iommu!.remapper as VtdRemapper).faultRecord(0)).toMatchObject({ sid: VF_RID[0], reason: VTD_FAULT.READ, pageAddress: BigInt(IO_VM_MEM + SECRET) });
      expect(reports[0]!.received).toBe(FRAMES - 1);
      expect(reports[1]).toMatchObject({ received: FRAMES, dataOk: true });
      expect(h.pci!.dmaLog.filter((e) => e.rid === VF_RID[1]).every((e) => e.ok && e.domainId === 2)).toBe(true);
    });

    it(`${under}, AMD-Vi: an IO_PAGE_FAULT event with VF 0\u2019s DeviceID and domain 1; the VM on VF 1 is unaffected`, () => {
      const { h, reports } = twoVms(under, 'amd-vi', steal);
      const u = h.iommu!.remapper as AmdViRemapper;
      expect(Number(u.read64(AMDVI_REG.EVENT_TAIL))).toBe(16);
      expect(u.readEvent(0)).toMatchObject({ code: AMDVI_EVENT.IO_PAGE_FAULT, deviceId: VF_RID[0], domainId: 1, address: BigInt(IO_VM_MEM + SECRET) });
      expect(reports[0]!.received).toBe(FRAMES - 1);
      expect(reports[1]).toMatchObject({ received: FRAMES, dataOk: true });
    });
  }
});

describe('time travel and the trace', () => {
  for (const iommu of ['vtd', 'amd-vi'] as const) {
    it(`${iommu}: a snapshot mid-run, restored, replays to the same memory, DMA logs, IOMMU state and reports`, () => {
      const h = new Host({ under: 'vtx', guests: [vfGuest('a', { steal: IO_VM_MEM + SECRET }), vfGuest('b')], iommu, quantum: 700 });
      h.run(30_000);
      // Mid-run: the VFs exist and at least one guest has started on its card.
      expect(h.pci!.dmaLog.length).toBeGreaterThan(0);
      const snap = h.snapshot();
      const state = () => ({
        ram: [0, IO_VM_MEM].map((b) => bytesAt(h, b, 0x300000).join(',')).join('|'),
        dma: JSON.stringify(h.pci!.dmaLog),
        iommu: JSON.stringify(h.iommu!.remapper.snapshot(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
        report: JSON.stringify(h.report()),
      });
      h.run(5_000_000);
      const first = state();
      h.restore(snap);
      expect(h.pci!.virtualFunctions(HOST_SRIOV_DEVICE, 0)).toEqual([...VF_RID]);
      h.run(5_000_000);
      expect(state()).toEqual(first);
    });
  }

  it('iommu/dma events name the VM of each VF by its requester ID', () => {
    const m = new HostMachine({ under: 'vtx', guests: [vfGuest('a'), vfGuest('b')], iommu: 'vtd' });
    const sink = new ArraySink();
    m.setTrace(sink);
    m.run(5_000_000);
    const dma = sink.events.filter((e) => e.kind === 'iommu/dma');
    expect(dma).toHaveLength(m.host.pci!.dmaLog.length);
    for (const e of dma) if (e.kind === 'iommu/dma') expect([e.bus, e.vm]).toEqual(['host', e.rid === VF_RID[0] ? 0 : 1]);
    expect(new Set(dma.map((e) => (e.kind === 'iommu/dma' ? e.vm : -1)))).toEqual(new Set([0, 1]));
  });
});

describe('the guest\u2019s view', () => {
  it('the driver\u2019s configuration accesses reach the proxy; its BAR is the VF\u2019s 128 KiB slice, mapped at the guest\u2019s address', () => {
    const h = new Host({ under: 'vtx', guests: [vfGuest('a'), vfGuest('b')], iommu: 'vtd' });
    h.run(5_000_000);
    const vmBus = h.deviceOf(1)!.bus;
    expect(vmBus.configRead(GUEST_DEVICE, 0, CFG.BAR0, 4)).toBe(IO_BAR);
    // The guest turned on memory space and bus mastering; the VF keeps only bus mastering (VF MSE decodes it).
    expect(vmBus.configRead(GUEST_DEVICE, 0, CFG.COMMAND, 2) & 6).toBe(6);
    expect(h.pci!.configRead(HOST_SRIOV_DEVICE, 2, CFG.COMMAND, 2) & 6).toBe(4);
  });
});
