/**
 * Giving a VM a network card three ways (devio.ts, io-guest.ts, io-compare.ts), under VT-x and
 * AMD-V: the same guest driver task delivers the same frames; what each way costs in exits and
 * copies; an assigned card without an IOMMU reading and writing another VM's memory, and the same
 * attack confined (and recorded) by VT-d and AMD-Vi; an emulated card refusing it; and a snapshot
 * in the middle of a run replaying exactly.
 */
import { describe, expect, it } from 'vitest';
import { bytesAt, SECRET, secretByte, victim as victimGuest } from './io-testkit.ts';
import { assemble } from '../asm/assembler.ts';
import { AmdViRemapper, AMDVI_EVENT, AMDVI_REG } from '../iommu/amdvi.ts';
import { VTD_FAULT, VtdRemapper } from '../iommu/vtd.ts';
import { requesterId } from '../iommu/types.ts';
import { Host, HOST_BAR_BASE, HOST_DEVICE_FIRST, type HostGuest } from './host.ts';
import { NIC_REG } from '../dev/nic.ts';
import { HostMachine } from './host-machine.ts';
import { ArraySink } from '../trace/events.ts';
import type { IommuKind } from './devio.ts';
import { compareWays, ioGuest, ioReport, IO_VM_MEM, runIoTask } from './io-compare.ts';
import { frameByte, frameLength, IO_BAR, IO_LOAD, IO_MAX_FRAMES, IO_OUT, IO_SLOT, nicDriver } from './io-guest.ts';
import type { VmxBackend } from './vmx-backend.ts';

const UNDERS = ['vtx', 'svm'] as const;
const MIB8 = 8 * 1024 * 1024;

const victim = (): HostGuest => victimGuest(MIB8);

describe('three ways to give a VM a network card: the same data', () => {
  for (const under of UNDERS) {
    it(`${under}: emulated, virtio, and assigned with VT-d, with AMD-Vi and alone without an IOMMU, each deliver all 12 frames byte for byte`, () => {
      const runs = [runIoTask({ under, way: 'emulated', frames: 12 }), runIoTask({ under, way: 'virtio', frames: 12 })];
      for (const iommu of ['vtd', 'amd-vi', 'none'] as const) runs.push(runIoTask({ under, way: 'assigned', iommu, frames: 12 }));
      for (const r of runs) {
        expect(r.end).toBe('ended');
        expect(r.received).toBe(12);
        expect(r.dataOk).toBe(true);
      }
    });
  }
});

describe('the largest task', () => {
  it(`${IO_MAX_FRAMES} frames: every way delivers them all, byte for byte (the frames, OUT, the receive buffers and OUTLEN do not overlap)`, () => {
    for (const way of ['emulated', 'virtio', 'assigned'] as const) {
      const r = runIoTask({ under: 'vtx', way, frames: IO_MAX_FRAMES });
      expect([way, r.received, r.dataOk]).toEqual([way, IO_MAX_FRAMES, true]);
    }
  });
});

describe('what each way costs', () => {
  for (const under of UNDERS) {
    it(`${under}: emulated, every TDT and RDT write exits and the hypervisor copies each frame twice; virtio, two notifications per batch; assigned, no exit and no copy`, () => {
      const c = compareWays(under, 8);
      const [emu, vio, asg] = c.runs;
      const payload = Array.from({ length: 8 }, (_, k) => frameLength(k)).reduce((a, b) => a + b, 0);
      // Set-up: 12 register writes (rings, RCTL, TCTL) exit as MMIO, then TDT and RDT per frame.
      expect(emu!.exits.mmio).toBe(12 + 2 * 8);
      expect(emu!.exits.byName[under === 'vtx' ? 'EXIT_REASON_EPT_VIOLATION' : 'VMEXIT_NPF']!.count).toBe(28);
      expect(asg!.exits.mmio).toBe(0);
      // Configuration space exits the same way for both: the scan, BAR sizing and placing, command.
      expect(emu!.exits.config).toBe(asg!.exits.config);
      expect(emu!.exits.config).toBeGreaterThan(0);
      // The payload: read from the TX buffer and written to the RX buffer, by the hypervisor's CPU (emulated) or the card (assigned).
      expect(emu!.hypervisor.dataBytes).toBe(2 * payload);
      expect(emu!.copies).toBe(16);
      expect(emu!.device.bytes).toBe(0);
      expect(asg!.hypervisor.bytes).toBe(0);
      expect(asg!.device.dataBytes).toBe(2 * payload);
      expect(asg!.device.ringBytes).toBe(emu!.hypervisor.ringBytes);
      // virtio: its registers are an I/O BAR, so set-up and notifications are I/O exits at the device's
      // own ports, never MMIO: set-up 12 (reset, status twice, features in and out, select, size
      // and PFN of each queue, DRIVER_OK, the receive queue's first notification), then per batch
      // of 8 one notification for the frames and one for the buffers given back.
      expect(vio!.exits.mmio).toBe(0);
      expect(vio!.exits.devicePorts).toBe(12 + 2);
      expect(vio!.exits.config).toBe(emu!.exits.config);
      // The payload with each frame's 10-byte virtio_net_hdr, read once and written once by the hypervisor.
      expect(vio!.hypervisor.dataBytes).toBe(2 * (payload + 8 * 10));
      const [pe, pv, pa] = c.perFrame;
      expect(pe).toMatchObject({ way: 'emulated', deviceExits: 2, configExits: 0, copies: 2 });
      expect(pv).toMatchObject({ way: 'virtio', deviceExits: 2 / 8, configExits: 0 });
      expect(pa).toMatchObject({ way: 'assigned', deviceExits: 0, configExits: 0, copies: 0, copiedBytes: 0 });
      expect(pe!.cycles).toBeGreaterThan(pv!.cycles);
      expect(pv!.cycles).toBeGreaterThan(pa!.cycles);
    });
  }
});

/** An attacker VM at host-physical 0 with its card assigned, and a victim VM above it. */
function attack(under: 'vtx' | 'svm', iommu: IommuKind, a: { steal?: boolean; plant?: boolean }, way: 'assigned' | 'emulated' = 'assigned') {
  const frames = 4;
  const attacker = ioGuest(way, frames, {
    ...(a.steal ? { steal: MIB8 + SECRET } : {}),
    ...(a.plant ? { plant: MIB8 + SECRET + 0x800 } : {}),
  });
  const h = new Host({ under, guests: [attacker, victim()], iommu });
  const end = h.run(5_000_000);
  expect(end).toBe('ended');
  return { h, frames, report: ioReport(h, 0, way, iommu, frames, end) };
}

describe('an assigned card without an IOMMU reaches another VM; with one it is confined', () => {
  const rid = requesterId(0, HOST_DEVICE_FIRST, 0);
  for (const under of UNDERS) {
    it(`${under}: no IOMMU: the card reads the victim's secret for the attacker and writes the attacker's frame into the victim`, () => {
      const { h, frames } = attack(under, 'none', { steal: true });
      expect(h.vm(1).hpaBase).toBe(MIB8);
      const len = frameLength(frames - 1);
      // The last frame "sent" is the victim's memory, looped back into the attacker's OUT.
      expect(bytesAt(h, IO_OUT + (frames - 1) * IO_SLOT, len)).toEqual(Array.from({ length: len }, (_, i) => secretByte(i)));
      const p = attack(under, 'none', { plant: true });
      // Receive slot 0's buffer was the victim's page: frame 0 landed there.
      expect(bytesAt(p.h, MIB8 + SECRET + 0x800, frameLength(0))).toEqual(Array.from({ length: frameLength(0) }, (_, i) => frameByte(0, i)));
      expect(p.h.pci!.dmaLog.some((e) => e.access === 'write' && e.hpa === MIB8 + SECRET + 0x800)).toBe(true);
    });

    it(`${under}: VT-d blocks both: a read fault (reason 6) and a write fault (reason 5) recorded for the card; the victim is untouched`, () => {
      const s = attack(under, 'vtd', { steal: true });
      const blocked = s.h.pci!.dmaLog.filter((e) => !e.ok);
      expect(blocked).toHaveLength(1);
      expect(blocked[0]).toMatchObject({ access: 'read', what: 'data', iova: `0x${(MIB8 + SECRET).toString(16)}`, rid, fault: { vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true } });
      const u = s.h.iommu!.remapper as VtdRemapper;
      expect(u.faultRecord(0)).toMatchObject({ reason: VTD_FAULT.READ, sid: rid, type: 1, pageAddress: BigInt(MIB8 + SECRET) });
      // The stolen frame was never sent: the attacker received the others only.
      expect(s.report.received).toBe(s.frames - 1);
      expect(bytesAt(s.h, MIB8 + SECRET, 16)).toEqual(Array.from({ length: 16 }, (_, i) => secretByte(i)));
      const p = attack(under, 'vtd', { plant: true });
      expect(p.h.pci!.dmaLog.filter((e) => !e.ok)[0]).toMatchObject({ access: 'write', fault: { vendor: 'vtd', reason: VTD_FAULT.WRITE } });
      expect(bytesAt(p.h, MIB8 + SECRET + 0x800, 64)).toEqual(new Array(64).fill(0));
    });

    it(`${under}: AMD-Vi blocks both and logs IO_PAGE_FAULT events with the card's DeviceID and domain 1`, () => {
      const s = attack(under, 'amd-vi', { steal: true });
      const u = s.h.iommu!.remapper as AmdViRemapper;
      expect(Number(u.read64(AMDVI_REG.EVENT_TAIL))).toBe(16);
      const ev = u.readEvent(0);
      expect(ev).toMatchObject({ code: AMDVI_EVENT.IO_PAGE_FAULT, deviceId: rid, domainId: 1, address: BigInt(MIB8 + SECRET) });
      expect(s.report.received).toBe(s.frames - 1);
      const p = attack(under, 'amd-vi', { plant: true });
      const pu = p.h.iommu!.remapper as AmdViRemapper;
      expect(pu.readEvent(0)).toMatchObject({ code: AMDVI_EVENT.IO_PAGE_FAULT, deviceId: rid, address: BigInt(MIB8 + SECRET + 0x800) });
      expect(bytesAt(p.h, MIB8 + SECRET + 0x800, 64)).toEqual(new Array(64).fill(0));
    });
  }

  it('an emulated card refuses the same attack: the hypervisor will not copy outside the VM\u2019s RAM', () => {
    const s = attack('vtx', 'none', { steal: true, plant: true }, 'emulated');
    const blocked = s.h.deviceOf(0)!.bus.dmaLog.filter((e) => !e.ok);
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked.every((e) => e.fault?.vendor === 'hv')).toBe(true);
    expect(bytesAt(s.h, MIB8 + SECRET, 0x900)).toEqual(Array.from({ length: 0x900 }, (_, i) => (i < 0x800 ? secretByte(i) : 0)));
  });

  it('an honest driver in a VM that does not start at host-physical 0: without an IOMMU its DMA lands in VM 0; with VT-d it works', () => {
    const run = (iommu: IommuKind) => {
      const h = new Host({ under: 'vtx', guests: [victim(), ioGuest('assigned', 4)], iommu });
      const end = h.run(5_000_000);
      return { h, r: ioReport(h, 1, 'assigned', iommu, 4, end) };
    };
    const off = run('none');
    expect(off.h.vm(1).hpaBase).toBe(MIB8);
    expect(off.r.dataOk).toBe(false);
    // Every address the card reached was VM 0's: the guest-physical addresses taken as host-physical.
    const hpas = off.h.pci!.dmaLog.filter((e) => e.ok).map((e) => e.hpa!);
    expect(hpas.length).toBeGreaterThan(0);
    expect(hpas.every((a) => a < IO_VM_MEM)).toBe(true);
    const on = run('vtd');
    expect(on.r.dataOk).toBe(true);
    expect(on.h.pci!.dmaLog.every((e) => e.ok && e.hpa! >= MIB8 && e.hpa! < 2 * MIB8)).toBe(true);
  });
});

describe('time travel', () => {
  for (const [way, iommu] of [['emulated', 'none'], ['assigned', 'vtd'], ['assigned', 'amd-vi']] as const) {
    it(`${way}${iommu === 'none' ? '' : ` (${iommu})`}: a snapshot mid-run, restored, replays to the same memory, logs and IOMMU state`, () => {
      const h = new Host({ under: 'vtx', guests: [ioGuest(way, 6, way === 'assigned' ? { steal: MIB8 + SECRET } : {}), victim()], iommu, quantum: 700 });
      h.run(30_000);
      const snap = h.snapshot();
      h.run(5_000_000);
      const first = { ram: bytesAt(h, 0, 0x300000).join(','), dma: JSON.stringify([h.pci?.dmaLog, h.deviceOf(0)!.bus.dmaLog]), iommu: JSON.stringify(h.iommu?.remapper.snapshot() ?? null), report: JSON.stringify(h.report()) };
      h.restore(snap);
      h.run(5_000_000);
      const again = { ram: bytesAt(h, 0, 0x300000).join(','), dma: JSON.stringify([h.pci?.dmaLog, h.deviceOf(0)!.bus.dmaLog]), iommu: JSON.stringify(h.iommu?.remapper.snapshot() ?? null), report: JSON.stringify(h.report()) };
      expect(again).toEqual(first);
    });
  }
});

describe('the trace: iommu/dma events (host-machine.ts)', () => {
  const traced = (way: 'emulated' | 'virtio' | 'assigned', iommu: IommuKind) => {
    const m = new HostMachine({ under: 'vtx', guests: [ioGuest(way, 3)], iommu });
    const sink = new ArraySink();
    m.setTrace(sink);
    m.run(5_000_000);
    return { m, events: sink.events };
  };

  it('emulated: each request comes after the MMIO exit whose handler ran the register write, at its step, in log order', () => {
    const { m, events } = traced('emulated', 'none');
    const dma = events.filter((e) => e.kind === 'iommu/dma');
    const log = m.host.deviceOf(0)!.bus.dmaLog;
    expect(dma.map((e) => (e.kind === 'iommu/dma' ? e.seq : -1))).toEqual(log.map((e) => e.seq));
    for (const e of dma) {
      if (e.kind !== 'iommu/dma') continue;
      expect(e.bus).toBe('vm');
      const i = events.indexOf(e);
      const exit = events.slice(0, i).reverse().find((x) => x.kind === 'vm/exit');
      expect(exit?.kind === 'vm/exit' && exit.name).toBe('EXIT_REASON_EPT_VIOLATION');
      expect(exit!.step).toBe(e.step);
    }
  });

  it('virtio: the device model\u2019s requests come after the notification\u2019s I/O exit, at its step', () => {
    const { m, events } = traced('virtio', 'none');
    const dma = events.filter((e) => e.kind === 'iommu/dma');
    expect(dma).toHaveLength(m.host.deviceOf(0)!.bus.dmaLog.length);
    for (const e of dma) {
      const i = events.indexOf(e);
      const handle = events.slice(0, i).reverse().find((x) => x.kind === 'vm/handle' || x.kind === 'vm/exit');
      expect(handle?.kind).toBe('vm/handle');
      const exit = events.slice(0, i).reverse().find((x) => x.kind === 'vm/exit');
      expect(exit?.kind === 'vm/exit' && exit.name).toBe('EXIT_REASON_IO_INSTRUCTION');
      expect(exit!.step).toBe(e.step);
    }
  });

  it('assigned: the card\u2019s requests come at the step of the guest\u2019s own register write, with no exit, and carry the IOMMU\u2019s outcome', () => {
    const { m, events } = traced('assigned', 'vtd');
    const dma = events.filter((e) => e.kind === 'iommu/dma');
    expect(dma).toHaveLength(m.host.pci!.dmaLog.length);
    const exitSteps = new Set(events.filter((e) => e.kind === 'vm/exit').map((e) => e.step));
    for (const e of dma) {
      if (e.kind !== 'iommu/dma') continue;
      expect(e).toMatchObject({ bus: 'host', vm: 0, rid: HOST_DEVICE_FIRST << 3, fault: null });
      expect(exitSteps.has(e.step)).toBe(false);
      expect(e.hpa).not.toBeNull();
    }
    // The step is the TDT write's: the processor's own MMIO write to the card's BAR in host-physical space.
    const first = dma[0]!;
    const mmio = events.find((x) => x.kind === 'io/mmio' && x.step === first.step);
    expect(mmio).toMatchObject({ dir: 'write', pa: BigInt(HOST_BAR_BASE + NIC_REG.TDT) });
  });
});

describe('assigned BARs the guest moves or misplaces', () => {
  it('a BAR placed inside the guest\u2019s own RAM is left unmapped: the host goes on', () => {
    for (const under of UNDERS) {
      const r = assemble(nicDriver(2).replace(`mov eax, ${IO_BAR}\n  out dx, eax`, 'mov eax, 0x400000\n  out dx, eax'), { bits: 32, origin: IO_LOAD });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      const h = new Host({ under, guests: [{ name: 'g', mode: 'prot32', load: IO_LOAD, code: r.bytes, memSize: MIB8, device: { way: 'assigned' } }], iommu: 'vtd' });
      expect(() => h.run(200_000)).not.toThrow();
      expect(h.deviceOf(0)!.assigned!.mapped).toBeNull();
    }
  });

  it('VT-x, two vCPUs: each vCPU\u2019s INVEPT after the BAR is mapped names its own EPT, at its own next entry', () => {
    const src = nicDriver(2).replace(`org ${IO_LOAD}\n`, `org ${IO_LOAD}\n  cmp esi, 1\n  je vcpu1_spin\n`) + '\nvcpu1_spin:\n  nop\n  jmp vcpu1_spin\n';
    const r = assemble(src, { bits: 32, origin: IO_LOAD });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const h = new Host({ under: 'vtx', guests: [{ name: 'g', mode: 'prot32', load: IO_LOAD, code: r.bytes, memSize: MIB8, vcpus: 2, device: { way: 'assigned' } }], iommu: 'vtd', quantum: 500 });
    const backends = h.vm(0).backends as VmxBackend[];
    // One VMX unit for the physical CPU, shared by both vCPUs' backends: watch its INVEPTs.
    const vmx = backends[0]!.vmx;
    expect(backends[1]!.vmx).toBe(vmx);
    const seen: number[] = [];
    const real = vmx.invept.bind(vmx);
    vmx.invept = (type, desc) => {
      seen.push(Number(desc.lo & ~0xfffn));
      return real(type, desc);
    };
    h.run(60_000);
    expect(h.deviceOf(0)!.assigned!.mapped).toBe(IO_BAR);
    const roots = backends.map((b) => b.map!.root);
    expect(new Set(roots).size).toBe(2);
    // The BAR was mapped in both vCPUs' EPT during vCPU 0's exit; each EPT was then invalidated by
    // its own EPTP (vCPU 1's at its next entry), not twice by vCPU 0's.
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seen)).toEqual(new Set(roots));
  });
});

describe('the disk task: write N blocks, read them back (NVMe-shaped controller, virtio-blk)', () => {
  for (const under of UNDERS) {
    it(`${under}: emulated and assigned (VT-d, AMD-Vi) read back every block as written; emulated, each command's two doorbell writes exit and the hypervisor copies each block once each way; virtio-blk, one notification per batch of 8`, () => {
      const vio = runIoTask({ under, way: 'virtio', frames: 12, kind: 'disk' });
      expect([vio.received, vio.dataOk, vio.exits.mmio]).toEqual([12, true, 0]);
      // Set-up 7 (reset, ACKNOWLEDGE and DRIVER, features, select, size, PFN, DRIVER_OK), then one notification per batch: 8 + 4 written, 8 + 4 read.
      expect(vio.exits.devicePorts).toBe(7 + 4);
      // Each block once each way, with its 16-byte header and 1-byte status.
      expect(vio.hypervisor.dataBytes).toBe(12 * 2 * (512 + 16 + 1));
      const emu = runIoTask({ under, way: 'emulated', frames: 8, kind: 'disk' });
      const asg = [runIoTask({ under, way: 'assigned', iommu: 'vtd', frames: 8, kind: 'disk' }), runIoTask({ under, way: 'assigned', iommu: 'amd-vi', frames: 8, kind: 'disk' })];
      for (const r of [emu, ...asg]) expect([r.end, r.received, r.dataOk]).toEqual(['ended', 8, true]);
      expect(emu.hypervisor.dataBytes).toBe(2 * 8 * 512);
      expect(asg[0]!.device.dataBytes).toBe(2 * 8 * 512);
      expect(asg.every((r) => r.exits.mmio === 0 && r.hypervisor.bytes === 0)).toBe(true);
      const c = compareWays(under, 8, ['emulated', 'virtio', 'assigned'], 'vtd', undefined, 'disk');
      expect(c.perFrame.map((p) => [p.way, p.deviceExits, p.copies, p.copiedBytes, p.dmaBytes, p.dataOk])).toEqual([['emulated', 4, 2, 1024, 0, true], ['virtio', 0.25, 6, 1058, 0, true], ['assigned', 0, 0, 0, 1024, true]]);
    });
  }
});
