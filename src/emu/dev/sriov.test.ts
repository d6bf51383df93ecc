/**
 * PCI Express extended configuration space and SR-IOV on the bus (pci.ts, sriov-nic.ts), register by
 * register: the extended capability list from 0x100, which mechanism #1 cannot reach and the ECAM
 * window can; the SR-IOV
 * capability's offsets and read-only / writable bits (SR-IOV 1.1, 3.3); VF Enable making VFs at
 * PF RID + First VF Offset + k × VF Stride and clearing it removing them; a VF's configuration space
 * (IDs 0xFFFF, BARs 0, command bits); VF BAR sizing and decoding under VF MSE; each VF's DMA with
 * its own requester ID and bus-master bit; snapshot and restore making the VFs again.
 */
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { PassThroughRemapper, type DmaOutcome, type DmaRemapper, type DmaRequest } from '../iommu/types.ts';
import { PortBus } from './bus.ts';
import { NIC_BAR_SIZE, NIC_REG, STATUS_VALUE, type Nic } from './nic.ts';
import {
  CFG, CMD, CONFIG_SPACE_SIZE, EXT_CAP_START, PciBus, SRIOV, SRIOV_CAP_ID, SRIOV_CTRL, SRIOV_REQUIRED_PAGE_SIZES,
  type PciFunctionModel, type PciFunctionPort, type PciFunctionSpec,
} from './pci.ts';
import { NIC_VF_DEVICE, SriovNic, SRIOV_NIC_TOTAL_VFS } from './sriov-nic.ts';

const PF_DEV = 0x10;
const VF_BAR = 0xd000_0000;

/** A bus with the SR-IOV card's PF at 00:10.0, and helpers for its capability's registers. */
function rig(remapper?: DmaRemapper) {
  const mem = new PhysMem(16 * 1024 * 1024);
  const ports = new PortBus();
  const pci = new PciBus({ mem, ports, ...(remapper !== undefined ? { remapper } : {}) });
  const pf = new SriovNic();
  pci.add(PF_DEV, 0, pf);
  const at = pci.extendedCapability(PF_DEV, 0, SRIOV_CAP_ID);
  const cap = (off: number, size: 1 | 2 | 4 = 4) => pci.configRead(PF_DEV, 0, at + off, size);
  const setCap = (off: number, size: 1 | 2 | 4, v: number) => pci.configWrite(PF_DEV, 0, at + off, size, v);
  const mech1 = (dev: number, fn: number, reg: number) => {
    ports.portOut(0xcf8, 4, (0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0);
    return ports.portIn(0xcfc, 4);
  };
  const enable = (n: number, ctrl: number = SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE) => {
    setCap(SRIOV.NUM_VFS, 2, n);
    setCap(SRIOV.VF_BAR0, 4, VF_BAR);
    setCap(SRIOV.CONTROL, 2, ctrl);
  };
  return { mem, ports, pci, pf, at, cap, setCap, mech1, enable };
}

describe('PCI Express extended configuration space', () => {
  it('each function has 4 KiB; a function without extended capabilities has a zero header at 0x100; mechanism #1 reaches only 0..0xFF', () => {
    const { pci, mech1 } = rig();
    const plain = new SriovNic('other');
    // A function with a chain of two extended capabilities, one register of each writable.
    const spec: PciFunctionSpec = {
      ...plain.spec,
      sriov: undefined,
      extendedCapabilities: [
        { id: 0x0b, version: 1, length: 8, init: [0x11, 0x22, 0x33, 0x44], writable: [0xff, 0x0f] },
        { id: 0x0003, version: 2, length: 12, init: [1, 2, 3, 4, 5, 6, 7, 8], writable: [] },
      ],
    };
    const model: PciFunctionModel = { name: 'ext', spec, connect: () => {}, barRead: () => 0, barWrite: () => {}, snapshot: () => null, restore: () => {} };
    pci.add(4, 0, model);
    expect(pci.configRead(4, 0, 0x100, 4)).toBe(0x0b | (1 << 16) | (0x108 << 20));
    expect(pci.configRead(4, 0, 0x108, 4)).toBe(0x0003 | (2 << 16));
    expect(pci.configRead(4, 0, 0x104, 4)).toBe(0x44332211);
    expect(pci.extendedCapability(4, 0, 3)).toBe(0x108);
    pci.configWrite(4, 0, 0x104, 4, 0);
    expect(pci.configRead(4, 0, 0x104, 4)).toBe(0x44332000);
    pci.configWrite(4, 0, 0x100, 4, 0); // the header is read-only
    expect(pci.configRead(4, 0, 0x100, 4) & 0xffff).toBe(0x0b);
    pci.configWrite(4, 0, 0x10c, 4, 0xffffffff);
    expect(pci.configRead(4, 0, 0x10c, 4)).toBe(0x04030201);
    expect(pci.configRead(4, 0, 0x110, 4)).toBe(0x08070605);
    // The last byte of the space, and a function with no extended capability at all.
    expect(pci.configRead(4, 0, CONFIG_SPACE_SIZE - 4, 4)).toBe(0);
    pci.add(5, 0, { ...model, name: 'plain', spec: { ...spec, extendedCapabilities: [] } });
    expect(pci.configRead(5, 0, EXT_CAP_START, 4)).toBe(0);
    // CONFIG_ADDRESS has no bits above register 0xFC: the same dword index is byte 0x00 again.
    expect(mech1(4, 0, 0x100 & 0xfc)).toBe(pci.configRead(4, 0, 0, 4));
  });
});

describe('ECAM (PCIe 3.0, 7.2.2)', () => {
  it('a bus with an ECAM window: each function\u2019s 4 KiB at base + device << 15 | function << 12, by MMIO; VF Enable set that way makes the VFs', () => {
    const ECAM = 0xe000_0000;
    const mem = new PhysMem(0x100000);
    const pci = new PciBus({ mem, ports: new PortBus(), ecamBase: ECAM });
    pci.add(PF_DEV, 0, new SriovNic());
    const at = (fn: number, reg: number) => ECAM + (PF_DEV << 15) + (fn << 12) + reg;
    expect(mem.mmio.read(at(0, 0), 4)).toBe(0x4e43_1234);
    expect(mem.mmio.read(at(0, 0x100), 4)).toBe(0x0001_0010);
    expect(mem.mmio.read(at(0, 0x100 + SRIOV.TOTAL_VFS), 2)).toBe(SRIOV_NIC_TOTAL_VFS);
    expect(mem.mmio.read(ECAM + (3 << 15), 4)).toBe(0xffffffff); // no function at 00:03.0
    mem.mmio.write(at(0, 0x100 + SRIOV.NUM_VFS), 2, 2, 0);
    mem.mmio.write(at(0, 0x100 + SRIOV.CONTROL), 2, SRIOV_CTRL.VF_ENABLE, 0);
    expect(pci.virtualFunctions(PF_DEV, 0)).toEqual([0x81, 0x82]);
    expect(mem.mmio.read(at(2, 0), 4)).toBe(0xffffffff);
    expect(mem.mmio.read(at(2, CFG.REVISION), 4) >>> 8).toBe(0x020000);
    // An 8-byte access is two dwords, low first.
    expect(mem.mmio.read(at(0, 0), 8)).toBe(0x4e43_1234);
    expect(mem.mmio.readHi).toBe(pci.configRead(PF_DEV, 0, 4, 4));
    expect(() => new PciBus({ mem: new PhysMem(0x100000), ports: new PortBus(), ecamBase: 0xe000_1000 })).toThrow(/1-MiB aligned/);
  });
});

describe('the SR-IOV capability (SR-IOV 1.1, 3.3)', () => {
  it('sits at 0x100 with ID 0x0010, version 1, no next; every register at its offset with its reset value', () => {
    const { at, cap, pci } = rig();
    expect(at).toBe(0x100);
    expect(cap(0)).toBe(0x0001_0010);
    expect(cap(SRIOV.CAPABILITIES)).toBe(0);
    expect(cap(SRIOV.CONTROL, 2)).toBe(0);
    expect(cap(SRIOV.STATUS, 2)).toBe(0);
    expect(cap(SRIOV.INITIAL_VFS, 2)).toBe(SRIOV_NIC_TOTAL_VFS);
    expect(cap(SRIOV.TOTAL_VFS, 2)).toBe(SRIOV_NIC_TOTAL_VFS);
    expect(cap(SRIOV.NUM_VFS, 2)).toBe(0);
    expect(cap(SRIOV.FUNCTION_DEPENDENCY_LINK, 1)).toBe(0);
    expect(cap(SRIOV.FIRST_VF_OFFSET, 2)).toBe(1);
    expect(cap(SRIOV.VF_STRIDE, 2)).toBe(1);
    expect(cap(SRIOV.VF_DEVICE_ID, 2)).toBe(NIC_VF_DEVICE);
    expect(cap(SRIOV.SUPPORTED_PAGE_SIZES)).toBe(SRIOV_REQUIRED_PAGE_SIZES);
    expect(cap(SRIOV.SYSTEM_PAGE_SIZE)).toBe(1);
    expect(cap(SRIOV.VF_BAR0)).toBe(0); // a 32-bit non-prefetchable memory BAR: type bits 0
    for (let i = 1; i < 6; i++) expect(cap(SRIOV.VF_BAR0 + 4 * i)).toBe(0);
    expect(cap(SRIOV.VF_MIGRATION_STATE)).toBe(0);
    // The PF itself is a normal function: its own IDs, and its standard capabilities still at 0x40.
    expect(pci.configRead(PF_DEV, 0, CFG.VENDOR_ID, 4)).toBe(0x4e43_1234);
  });

  it('read-only registers ignore writes; Control keeps only VF Enable, VF MSE and ARI Capable Hierarchy', () => {
    const { cap, setCap } = rig();
    for (const off of [SRIOV.CAPABILITIES, SRIOV.INITIAL_VFS, SRIOV.FUNCTION_DEPENDENCY_LINK, SRIOV.FIRST_VF_OFFSET, SRIOV.VF_DEVICE_ID - 2, SRIOV.SUPPORTED_PAGE_SIZES, SRIOV.VF_MIGRATION_STATE]) {
      const was = cap(off);
      setCap(off, 4, 0xffffffff);
      expect([off, cap(off)]).toEqual([off, was]);
    }
    // NumVFs 0: VF Enable set makes no VF; the control bits read back.
    setCap(SRIOV.CONTROL, 2, 0xffff);
    expect(cap(SRIOV.CONTROL, 2)).toBe(SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE | SRIOV_CTRL.ARI_CAPABLE_HIERARCHY);
    expect(cap(SRIOV.STATUS, 2)).toBe(0);
    setCap(SRIOV.CONTROL, 2, 0);
    expect(cap(SRIOV.CONTROL, 2)).toBe(0);
  });

  it('NumVFs is writable while VF Enable is clear and frozen while it is set', () => {
    const { cap, setCap, enable } = rig();
    setCap(SRIOV.NUM_VFS, 2, 5);
    expect(cap(SRIOV.NUM_VFS, 2)).toBe(5);
    enable(3);
    expect(cap(SRIOV.NUM_VFS, 2)).toBe(3);
    setCap(SRIOV.NUM_VFS, 2, 6);
    expect(cap(SRIOV.NUM_VFS, 2)).toBe(3);
    setCap(SRIOV.CONTROL, 2, 0);
    setCap(SRIOV.NUM_VFS, 2, 6);
    expect(cap(SRIOV.NUM_VFS, 2)).toBe(6);
  });

  it('System Page Size takes one supported size, only while VFs are disabled; VF BAR0 sizes to the VF aperture', () => {
    const { cap, setCap, enable } = rig();
    setCap(SRIOV.VF_BAR0, 4, 0xffffffff);
    expect(cap(SRIOV.VF_BAR0)).toBe((~(NIC_BAR_SIZE - 1) & ~0xf) >>> 0); // 128 KiB per VF
    setCap(SRIOV.SYSTEM_PAGE_SIZE, 4, 3); // two sizes at once
    expect(cap(SRIOV.SYSTEM_PAGE_SIZE)).toBe(1);
    setCap(SRIOV.SYSTEM_PAGE_SIZE, 4, 1 << 2); // 16 KiB: not supported
    expect(cap(SRIOV.SYSTEM_PAGE_SIZE)).toBe(1);
    setCap(SRIOV.SYSTEM_PAGE_SIZE, 4, 1 << 6); // 256 KiB: supported, larger than the BAR
    expect(cap(SRIOV.SYSTEM_PAGE_SIZE)).toBe(1 << 6);
    expect(cap(SRIOV.VF_BAR0)).toBe(0xfffc0000);
    setCap(SRIOV.SYSTEM_PAGE_SIZE, 4, 1);
    enable(2);
    setCap(SRIOV.SYSTEM_PAGE_SIZE, 4, 2);
    expect(cap(SRIOV.SYSTEM_PAGE_SIZE)).toBe(1);
    // Address bits below the aperture read 0.
    setCap(SRIOV.VF_BAR0, 4, VF_BAR + 0x1234);
    expect(cap(SRIOV.VF_BAR0)).toBe(VF_BAR);
  });
});

describe('virtual functions', () => {
  it('VF Enable with NumVFs = 3 makes VFs at 00:10.1..00:10.3; clearing it removes them', () => {
    const { pci, enable, setCap } = rig();
    expect(pci.function(PF_DEV, 1)).toBeNull();
    enable(3);
    expect(pci.virtualFunctions(PF_DEV, 0)).toEqual([0x81, 0x82, 0x83]);
    const vfs = [1, 2, 3].map((fn) => pci.function(PF_DEV, fn));
    expect(vfs.map((v) => v?.name)).toEqual(['nic-vf0', 'nic-vf1', 'nic-vf2']);
    expect(new Set(vfs).size).toBe(3);
    expect(pci.function(PF_DEV, 4)).toBeNull();
    setCap(SRIOV.CONTROL, 2, 0);
    expect(pci.virtualFunctions(PF_DEV, 0)).toEqual([]);
    for (const fn of [1, 2, 3]) {
      expect(pci.function(PF_DEV, fn)).toBeNull();
      expect(pci.configRead(PF_DEV, fn, CFG.REVISION, 4)).toBe(0xffffffff);
    }
  });

  it('NumVFs 0 or above TotalVFs: VF Enable makes none', () => {
    for (const n of [0, SRIOV_NIC_TOTAL_VFS + 1]) {
      const { pci, enable, cap } = rig();
      enable(n);
      expect(cap(SRIOV.CONTROL, 2) & SRIOV_CTRL.VF_ENABLE).toBe(1);
      expect(pci.virtualFunctions(PF_DEV, 0)).toEqual([]);
    }
    const { pci, enable } = rig();
    enable(SRIOV_NIC_TOTAL_VFS);
    expect(pci.virtualFunctions(PF_DEV, 0)).toEqual([1, 2, 3, 4, 5, 6, 7].map((fn) => (PF_DEV << 3) | fn));
  });

  it('a VF\u2019s configuration space: IDs 0xFFFF, BARs 0 and read-only, only Bus Master in the command register, no INTx pin', () => {
    const { pci, enable, mech1 } = rig();
    enable(2);
    const rd = (off: number, size: 1 | 2 | 4 = 4) => pci.configRead(PF_DEV, 2, off, size);
    expect(rd(CFG.VENDOR_ID)).toBe(0xffffffff);
    expect(mech1(PF_DEV, 2, 0)).toBe(0xffffffff); // a scan finds nothing there
    expect(rd(CFG.REVISION) >>> 8).toBe(0x020000); // but the class code is the card's
    pci.configWrite(PF_DEV, 2, CFG.BAR0, 4, 0xffffffff);
    expect(rd(CFG.BAR0)).toBe(0);
    pci.configWrite(PF_DEV, 2, CFG.COMMAND, 2, 0xffff);
    expect(rd(CFG.COMMAND, 2)).toBe(CMD.BUS_MASTER);
    expect(rd(CFG.INTERRUPT_PIN, 1)).toBe(0);
    // Its own capabilities (MSI) are there; it is not a PF; the PF's multi-function bit is untouched.
    expect(rd(CFG.CAP_PTR, 1)).toBe(0x40);
    expect(rd(EXT_CAP_START)).toBe(0);
    expect(pci.configRead(PF_DEV, 0, CFG.HEADER_TYPE, 1)).toBe(0);
    // The other VF's bus master bit is its own.
    expect(pci.configRead(PF_DEV, 1, CFG.COMMAND, 2)).toBe(0);
  });

  it('VF k decodes at VF BAR0 + k × 128 KiB while VF Enable and VF MSE are set, whatever the PF\u2019s own memory-space bit', () => {
    const { pci, mem, enable, setCap } = rig();
    enable(3, SRIOV_CTRL.VF_ENABLE);
    expect(pci.memoryWindows()).toEqual([]);
    setCap(SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE);
    expect(pci.configRead(PF_DEV, 0, CFG.COMMAND, 2) & CMD.MEMORY).toBe(0);
    expect(pci.memoryWindows()).toEqual([0, 1, 2].map((k) => ({ devfn: (PF_DEV << 3) | (k + 1), device: `nic-vf${k}`, bar: 0, base: VF_BAR + k * NIC_BAR_SIZE, size: NIC_BAR_SIZE })));
    // Each VF's registers are its own: IMS written through VF 1's window only.
    expect(mem.mmio.read(VF_BAR + NIC_BAR_SIZE + NIC_REG.STATUS, 4)).toBe(STATUS_VALUE);
    mem.mmio.write(VF_BAR + NIC_BAR_SIZE + NIC_REG.IMS, 4, 0x80, 0);
    expect(mem.mmio.read(VF_BAR + NIC_REG.IMS, 4)).toBe(0);
    expect(mem.mmio.read(VF_BAR + NIC_BAR_SIZE + NIC_REG.IMS, 4)).toBe(0x80);
    expect((pci.function(PF_DEV, 2) as Nic).state.ims).toBe(0x80);
    setCap(SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE);
    expect(mem.mmio.read(VF_BAR + NIC_BAR_SIZE + NIC_REG.STATUS, 4)).toBe(0xffffffff);
    // Enabled again after a clear: the VFs start from reset.
    setCap(SRIOV.CONTROL, 2, 0);
    setCap(SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE);
    expect(mem.mmio.read(VF_BAR + NIC_BAR_SIZE + NIC_REG.IMS, 4)).toBe(0);
  });

  it('checks: VFs beyond bus 0, a VF routing ID already taken, an I/O VF BAR', () => {
    const bus = () => new PciBus({ mem: new PhysMem(0x100000), ports: new PortBus() });
    expect(() => bus().add(31, 2, new SriovNic())).toThrow(/beyond bus 0/);
    const b = bus();
    b.add(PF_DEV, 0, new SriovNic());
    b.add(PF_DEV, 2, new SriovNic('squatter'));
    const at = b.extendedCapability(PF_DEV, 0, SRIOV_CAP_ID);
    b.configWrite(PF_DEV, 0, at + SRIOV.NUM_VFS, 2, 2);
    expect(() => b.configWrite(PF_DEV, 0, at + SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE)).toThrow(/taken/);
    const io = new SriovNic('io');
    Object.assign(io.spec, { sriov: { ...io.spec.sriov!, vfBars: [{ kind: 'io', size: 32 }] } });
    expect(() => bus().add(3, 0, io)).toThrow(/memory BARs/);
  });
});

/** A remapper that lets everything through and notes each request's source ID. */
class Recording implements DmaRemapper {
  readonly vendor = 'none' as const;
  readonly sids: number[] = [];
  private readonly inner = new PassThroughRemapper();
  translate(req: DmaRequest): DmaOutcome {
    this.sids.push(req.sid);
    return this.inner.translate(req);
  }
}

/** A minimal PF whose VFs read one dword by DMA when BAR0 offset 0 is written (with the address), if bus mastering is on. */
class TinyVf implements PciFunctionModel {
  readonly spec: PciFunctionSpec = { vendorId: 0x1234, deviceId: 0x7f7f, revision: 0, classCode: 0xff0000, bars: [{ kind: 'mem32', size: 0x1000 }, null, null, null, null, null], commandBits: CMD.MEMORY | CMD.BUS_MASTER, interruptPin: 0 };
  port: PciFunctionPort | null = null;
  got: number[] = [];
  constructor(readonly name: string) {}
  connect(p: PciFunctionPort): void {
    this.port = p;
  }
  barRead(): number {
    return this.got.length;
  }
  barWrite(_bar: number, _off: number, _size: 1 | 2 | 4, value: number): void {
    if ((this.port!.command() & CMD.BUS_MASTER) === 0) return;
    const r = this.port!.dmaRead(BigInt(value), 4);
    if (r.bytes !== null) this.got.push(r.bytes[0]!);
  }
  snapshot(): unknown {
    return { got: this.got.slice() };
  }
  restore(s: unknown): void {
    this.got = (s as { got: number[] }).got.slice();
  }
}
class TinyPf extends TinyVf {
  override readonly spec: PciFunctionSpec = { ...new TinyVf('x').spec, sriov: { totalVfs: 4, firstVfOffset: 8, vfStride: 8, vfDeviceId: 0x7f80, vfBars: [{ kind: 'mem32', size: 0x1000 }] } };
  virtualFunction(k: number): PciFunctionModel {
    return new TinyVf(`tiny-vf${k}`);
  }
}

describe('VF DMA and state', () => {
  it('each VF\u2019s DMA carries its own requester ID (First VF Offset 8, VF Stride 8: 00:03.0, 00:04.0, 00:05.0) and needs its own bus master bit', () => {
    const rec = new Recording();
    const mem = new PhysMem(0x100000);
    const pci = new PciBus({ mem, ports: new PortBus(), remapper: rec });
    pci.add(2, 0, new TinyPf('tiny-pf'));
    const at = pci.extendedCapability(2, 0, SRIOV_CAP_ID);
    pci.configWrite(2, 0, at + SRIOV.NUM_VFS, 2, 3);
    pci.configWrite(2, 0, at + SRIOV.VF_BAR0, 4, 0xe000_0000);
    pci.configWrite(2, 0, at + SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE);
    expect(pci.virtualFunctions(2, 0)).toEqual([0x18, 0x20, 0x28]);
    mem.write8(0x5000, 0xab);
    // VF 1 without bus mastering makes no request.
    mem.mmio.write(0xe000_1000, 4, 0x5000, 0);
    expect(rec.sids).toEqual([]);
    for (const dev of [3, 4, 5]) pci.configWrite(dev, 0, CFG.COMMAND, 2, CMD.BUS_MASTER);
    for (let k = 0; k < 3; k++) mem.mmio.write(0xe000_0000 + k * 0x1000, 4, 0x5000, 0);
    expect(rec.sids).toEqual([0x18, 0x20, 0x28]);
    expect(pci.dmaLog.map((e) => [e.device, e.rid])).toEqual([['tiny-vf0', 0x18], ['tiny-vf1', 0x20], ['tiny-vf2', 0x28]]);
    expect((pci.function(4, 0) as TinyVf).got).toEqual([0xab]);
  });

  it('snapshot \u2192 JSON \u2192 restore: the VFs are made again with their configuration and state; a bus restored to before VF Enable has none', () => {
    const a = rig();
    const before = JSON.parse(JSON.stringify(a.pci.snapshot()));
    // A conventional function's snapshot stays 256 bytes; the PF's keeps its extended capability.
    expect(before.functions.map((f: { config: number[] }) => f.config.length)).toEqual([a.at + SRIOV.LENGTH]);
    a.enable(2);
    a.pci.configWrite(PF_DEV, 2, CFG.COMMAND, 2, CMD.BUS_MASTER);
    a.mem.mmio.write(VF_BAR + NIC_BAR_SIZE + NIC_REG.IMS, 4, 0x81, 0);
    const snap = JSON.parse(JSON.stringify(a.pci.snapshot()));
    const b = rig();
    b.pci.restore(snap);
    expect(b.pci.virtualFunctions(PF_DEV, 0)).toEqual([0x81, 0x82]);
    expect(b.pci.configRead(PF_DEV, 2, CFG.COMMAND, 2)).toBe(CMD.BUS_MASTER);
    expect(b.mem.mmio.read(VF_BAR + NIC_BAR_SIZE + NIC_REG.IMS, 4)).toBe(0x81);
    expect(b.pci.memoryWindows()).toEqual(a.pci.memoryWindows());
    expect(JSON.stringify(b.pci.snapshot())).toBe(JSON.stringify(snap));
    b.pci.restore(before);
    expect(b.pci.virtualFunctions(PF_DEV, 0)).toEqual([]);
    expect(b.pci.memoryWindows()).toEqual([]);
  });
});
