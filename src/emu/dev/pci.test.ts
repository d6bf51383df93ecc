/**
 * The PCI bus through configuration mechanism #1 on the port bus (PCI 3.0, 3.2.2.3.2 and chapter
 * 6): absent functions, CONFIG_ADDRESS as a dword register, the type-0 header, the command
 * register's writable bits, BAR sizing, BAR decoding on the memory and I/O paths, the
 * capabilities list, and the bus's state as plain data.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { PortBus, type PortDevice } from './bus.ts';
import { CopyEngine, COPY_ENGINE_DEVICE, COPY_ENGINE_VENDOR, REG } from './dma-engine.ts';
import { EVENT_FLAG_I } from '../iommu/amdvi.ts';
import { AmdKit, PageAlloc, VtdKit, amdIrteValue, enableIr, irteValue, putEntry, remappableAddress } from '../iommu/testkit.ts';
import { PassThroughRemapper, requesterId, type DmaRemapper, type InterruptRemapper } from '../iommu/types.ts';
import { SVT_SID } from '../iommu/vtd.ts';
import { MSI_CAP_ID, MSI_CONTROL, MSI_REG, MsiInterruptSink, msiCapability } from './msi.ts';
import { CFG, CMD, PciBus, type PciFunctionModel, type PciFunctionPort, type PciFunctionSpec } from './pci.ts';

const RAM = 16 * 1024 * 1024;

/** A function with a 64-bit prefetchable memory BAR (BAR0/1) and an I/O BAR (BAR2) over 8 dwords of scratch. */
class Scratch implements PciFunctionModel {
  readonly spec: PciFunctionSpec = {
    vendorId: 0x1234,
    deviceId: 0x5a5a,
    revision: 7,
    classCode: 0xff0000,
    bars: [{ kind: 'mem64', size: 0x100000, prefetchable: true }, null, { kind: 'io', size: 32 }, null, null, null],
    commandBits: CMD.IO | CMD.MEMORY,
    interruptPin: 2,
  };
  regs = new Array<number>(8).fill(0);
  accesses: string[] = [];
  constructor(readonly name = 'scratch') {}
  connect(_p: PciFunctionPort): void {}
  barRead(bar: number, offset: number, size: 1 | 2 | 4): number {
    this.accesses.push(`r${bar}:${offset}:${size}`);
    const d = this.regs[(offset >> 2) & 7]!;
    return size === 4 ? d : (d >>> (8 * (offset & 3))) & ((1 << (8 * size)) - 1);
  }
  barWrite(bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    this.accesses.push(`w${bar}:${offset}:${size}:${value.toString(16)}`);
    if (size === 4) this.regs[(offset >> 2) & 7] = value >>> 0;
    else {
      const sh = 8 * (offset & 3);
      const m = ((1 << (8 * size)) - 1) << sh;
      const i = (offset >> 2) & 7;
      this.regs[i] = ((this.regs[i]! & ~m) | ((value << sh) & m)) >>> 0;
    }
  }
  snapshot(): unknown {
    return { regs: this.regs.slice() };
  }
  restore(s: unknown): void {
    this.regs = (s as { regs: number[] }).regs.slice();
  }
}

function rig() {
  const mem = new PhysMem(RAM);
  const ports = new PortBus();
  const pci = new PciBus({ mem, ports });
  const engine = new CopyEngine();
  const scratch = new Scratch();
  pci.add(3, 0, engine);
  pci.add(5, 0, scratch);
  pci.add(5, 2, new Scratch('scratch-fn2'));
  const addr = (dev: number, fn: number, reg: number, bus = 0) => ports.portOut(0xcf8, 4, (0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0);
  const rd = (dev: number, fn: number, reg: number, size: 1 | 2 | 4 = 4) => {
    addr(dev, fn, reg);
    return ports.portIn(0xcfc + (reg & 3), size);
  };
  const wr = (dev: number, fn: number, reg: number, size: 1 | 2 | 4, v: number) => {
    addr(dev, fn, reg);
    ports.portOut(0xcfc + (reg & 3), size, v);
  };
  return { mem, ports, pci, engine, scratch, addr, rd, wr };
}

describe('configuration mechanism #1', () => {
  it('absent functions, other buses and a clear enable bit read all ones', () => {
    const { ports, rd, addr } = rig();
    expect(rd(0, 0, 0)).toBe(0xffffffff);
    expect(rd(31, 7, 0x3c, 2)).toBe(0xffff);
    expect(rd(5, 1, 0, 1)).toBe(0xff);
    addr(3, 0, 0, 1); // bus 1: there is none
    expect(ports.portIn(0xcfc, 4)).toBe(0xffffffff);
    ports.portOut(0xcf8, 4, (3 << 11) >>> 0); // enable bit clear
    expect(ports.portIn(0xcfc, 4)).toBe(0xffffffff);
    // a present function answers
    expect(rd(3, 0, 0)).toBe(((COPY_ENGINE_DEVICE << 16) | COPY_ENGINE_VENDOR) >>> 0);
  });

  it('CONFIG_ADDRESS is a dword register: bits 30:24 and 1:0 read 0, narrower accesses do not reach it', () => {
    const { ports } = rig();
    ports.portOut(0xcf8, 4, 0xffffffff);
    expect(ports.portIn(0xcf8, 4)).toBe(0x80fffffc);
    ports.portOut(0xcf8, 1, 0x00);
    ports.portOut(0xcf8, 2, 0x0000);
    ports.portOut(0xcfa, 1, 0x00);
    expect(ports.portIn(0xcf8, 4)).toBe(0x80fffffc);
    expect(ports.portIn(0xcf8, 2)).toBe(0xffff);
    expect(ports.portIn(0xcf8, 1)).toBe(0xff);
    expect(ports.log.at(-1)).toEqual({ dir: 'in', port: 0xcf8, size: 1, value: 0xff, device: 'pci-config-address' });
  });

  it('CONFIG_DATA takes bytes, words and dwords at the offset low bits select', () => {
    const { rd } = rig();
    expect(rd(3, 0, CFG.DEVICE_ID, 2)).toBe(COPY_ENGINE_DEVICE);
    expect(rd(3, 0, CFG.VENDOR_ID + 1, 1)).toBe(COPY_ENGINE_VENDOR >> 8);
    expect(rd(3, 0, CFG.DEVICE_ID + 1, 1)).toBe(COPY_ENGINE_DEVICE >> 8);
    expect(rd(3, 0, CFG.REVISION)).toBe((0x088000 << 8) | 1); // class code above the revision
    expect(rd(5, 0, CFG.INTERRUPT_PIN, 1)).toBe(2);
  });

  it('the header: multi-function bit on function 0 of a device with more functions, capabilities list', () => {
    const { rd } = rig();
    expect(rd(3, 0, CFG.HEADER_TYPE, 1)).toBe(0x00);
    expect(rd(5, 0, CFG.HEADER_TYPE, 1)).toBe(0x80);
    expect(rd(5, 2, CFG.HEADER_TYPE, 1)).toBe(0x00);
    expect(rd(3, 0, CFG.STATUS, 2) & 0x10).toBe(0x10);
    expect(rd(5, 0, CFG.STATUS, 2) & 0x10).toBe(0);
    const cap = rd(3, 0, CFG.CAP_PTR, 1);
    expect(cap).toBe(0x40);
    expect(rd(3, 0, cap, 1)).toBe(MSI_CAP_ID);
    expect(rd(3, 0, cap + 1, 1)).toBe(0); // the end of the list
    expect(rd(3, 0, cap + 2, 2)).toBe(0x0080); // 64-bit capable, disabled, one message
  });

  it('the command register keeps only the bits a function implements; IDs, status, class, pin are read-only', () => {
    const { rd, wr } = rig();
    wr(3, 0, CFG.COMMAND, 2, 0xffff);
    expect(rd(3, 0, CFG.COMMAND, 2)).toBe(CMD.MEMORY | CMD.BUS_MASTER | CMD.INTX_DISABLE);
    wr(5, 0, CFG.COMMAND, 4, 0xffffffff); // status half read-only
    expect(rd(5, 0, CFG.COMMAND)).toBe(CMD.IO | CMD.MEMORY);
    wr(3, 0, 0, 4, 0);
    wr(3, 0, CFG.REVISION, 4, 0);
    wr(3, 0, CFG.INTERRUPT_PIN, 1, 3);
    expect(rd(3, 0, 0)).toBe(((COPY_ENGINE_DEVICE << 16) | COPY_ENGINE_VENDOR) >>> 0);
    expect(rd(3, 0, CFG.REVISION)).toBe((0x088000 << 8) | 1);
    expect(rd(3, 0, CFG.INTERRUPT_PIN, 1)).toBe(1);
    wr(3, 0, CFG.INTERRUPT_LINE, 1, 11);
    expect(rd(3, 0, CFG.INTERRUPT_LINE, 1)).toBe(11);
  });

  it('BAR sizing: all ones read back as the size mask with the type bits', () => {
    const { rd, wr } = rig();
    // 32-bit memory, 4 KiB, not prefetchable
    expect(rd(3, 0, CFG.BAR0)).toBe(0);
    wr(3, 0, CFG.BAR0, 4, 0xffffffff);
    expect(rd(3, 0, CFG.BAR0)).toBe(0xfffff000);
    // 64-bit prefetchable memory, 1 MiB: type 10b and bit 3 in the low half, all ones in the high half
    expect(rd(5, 0, CFG.BAR0)).toBe(0x0c);
    wr(5, 0, CFG.BAR0, 4, 0xffffffff);
    wr(5, 0, CFG.BAR0 + 4, 4, 0xffffffff);
    expect(rd(5, 0, CFG.BAR0)).toBe(0xfff0000c);
    expect(rd(5, 0, CFG.BAR0 + 4)).toBe(0xffffffff);
    // I/O, 32 bytes: bit 0 set
    wr(5, 0, CFG.BAR0 + 8, 4, 0xffffffff);
    expect(rd(5, 0, CFG.BAR0 + 8)).toBe(0xffffffe1);
    // an unimplemented BAR reads 0 whatever is written
    wr(3, 0, CFG.BAR0 + 4, 4, 0xffffffff);
    expect(rd(3, 0, CFG.BAR0 + 4)).toBe(0);
    // the size computed as a driver does
    const size = (~(rd(5, 0, CFG.BAR0) & ~0xf) >>> 0) + 1;
    expect(size).toBe(0x100000);
    // a byte write to a BAR keeps the alignment
    wr(3, 0, CFG.BAR0, 4, 0xe0000000);
    wr(3, 0, CFG.BAR0 + 1, 1, 0xff);
    expect(rd(3, 0, CFG.BAR0)).toBe((0xe0000000 | 0xf000) >>> 0);
  });
});

describe('BAR decoding follows the command register', () => {
  it('a memory BAR answers above RAM only while memory space is on and the BAR is placed', () => {
    const { mem, rd, wr, pci } = rig();
    const BASE = 0xe0000000;
    expect(mem.read(BASE + REG.ID, 4)).toBe(0xffffffff); // nothing there
    wr(3, 0, CFG.BAR0, 4, BASE);
    expect(mem.read(BASE + REG.ID, 4)).toBe(0xffffffff); // placed, memory space off
    wr(3, 0, CFG.COMMAND, 2, CMD.MEMORY);
    expect(mem.read(BASE + REG.ID, 4)).toBe(0x45595043);
    expect(pci.memoryWindows()).toEqual([{ devfn: 3 << 3, device: 'copy-engine', bar: 0, base: BASE, size: 0x1000 }]);
    mem.write(BASE + REG.LEN, 4, 0x1234);
    expect(mem.read(BASE + REG.LEN, 2)).toBe(0x1234);
    expect(mem.read(BASE + REG.LEN + 1, 1)).toBe(0x12);
    expect(mem.read(BASE + 0x1000, 4)).toBe(0xffffffff); // past the BAR's 4 KiB
    // moving the BAR moves the registers
    wr(3, 0, CFG.BAR0, 4, 0xe0100000);
    expect(mem.read(BASE + REG.LEN, 4)).toBe(0xffffffff);
    expect(mem.read(0xe0100000 + REG.LEN, 4)).toBe(0x1234);
    // memory space off again: gone
    wr(3, 0, CFG.COMMAND, 2, 0);
    expect(mem.read(0xe0100000 + REG.LEN, 4)).toBe(0xffffffff);
    // an address of 0 is unplaced
    wr(3, 0, CFG.BAR0, 4, 0);
    wr(3, 0, CFG.COMMAND, 2, CMD.MEMORY);
    expect(pci.memoryWindows()).toEqual([]);
    expect(rd(3, 0, CFG.COMMAND, 2)).toBe(CMD.MEMORY);
  });

  it('a 64-bit BAR decodes above 4 GiB; an 8-byte access reaches the function as two dwords', () => {
    const { mem, wr, scratch } = rig();
    const BASE = 0x12_3450_0000;
    wr(5, 0, CFG.BAR0, 4, BASE % 0x100000000);
    wr(5, 0, CFG.BAR0 + 4, 4, Math.floor(BASE / 0x100000000));
    wr(5, 0, CFG.COMMAND, 2, CMD.MEMORY);
    mem.writeWide(BASE + 8, 8, 0xaabbccdd, 0x11223344);
    expect(scratch.regs.slice(2, 4)).toEqual([0xaabbccdd, 0x11223344]);
    expect(mem.readWide(BASE + 8, 8)).toBe(0xaabbccdd);
    expect(mem.hiOut).toBe(0x11223344);
    expect(scratch.accesses.slice(-2)).toEqual(['r0:8:4', 'r0:12:4']);
  });

  it('an I/O BAR answers on the port bus while I/O space is on, whole accesses reaching it once', () => {
    const { ports, wr, scratch } = rig();
    wr(5, 0, CFG.BAR0 + 8, 4, 0xc000);
    ports.portOut(0xc004, 4, 0xdeadbeef);
    expect(scratch.regs[1]).toBe(0); // I/O space off
    expect(ports.portIn(0xc004, 4)).toBe(0xffffffff);
    wr(5, 0, CFG.COMMAND, 2, CMD.IO);
    ports.portOut(0xc004, 4, 0xdeadbeef);
    expect(scratch.regs[1]).toBe(0xdeadbeef);
    expect(ports.portIn(0xc006, 2)).toBe(0xdead);
    expect(scratch.accesses).toEqual(['w2:4:4:deadbeef', 'r2:6:2']);
    expect(ports.log.at(-1)).toEqual({ dir: 'in', port: 0xc006, size: 2, value: 0xdead, device: 'scratch' });
    // an access running past the BAR's end is split into bytes: the last byte is unclaimed
    expect(ports.portIn(0xc01e, 4)).toBe(0xffff0000);
    expect(scratch.accesses.slice(-2)).toEqual(['r2:30:1', 'r2:31:1']);
  });
});

describe('the port bus with wide devices', () => {
  it('hands a wide device whole accesses inside its claim, bytes otherwise; byte devices still see bytes', () => {
    const ports = new PortBus();
    const seen: string[] = [];
    const wide: PortDevice = {
      name: 'wide',
      read: (o) => (seen.push(`rb${o}`), 0x10 + o),
      write: (o, v) => void seen.push(`wb${o}=${v}`),
      readSized: (o, s) => (seen.push(`r${o}/${s}`), 0x44332211),
      writeSized: (o, s, v) => void seen.push(`w${o}/${s}=${v.toString(16)}`),
    };
    const bytes: PortDevice = { name: 'bytes', read: (o) => (seen.push(`B${o}`), 0xa0 + o), write: () => {} };
    ports.claim(0x100, 4, wide);
    ports.claim(0x104, 2, bytes);
    ports.portOut(0x100, 4, 0x12345678);
    expect(ports.portIn(0x101, 2)).toBe(0x2211);
    // 0x103..0x106: one byte of the wide device, two of the byte device, one unclaimed
    expect(ports.portIn(0x103, 4)).toBe(0xffa1a013);
    expect(ports.portIn(0x104, 2)).toBe(0xa1a0);
    expect(seen).toEqual(['w0/4=12345678', 'r1/2', 'rb3', 'B0', 'B1', 'B0', 'B1']);
  });
});

describe('state as plain data', () => {
  type Op = { k: 'cfg'; dev: number; fn: number; reg: number; size: 1 | 2 | 4; v: number; write: boolean } | { k: 'mem'; off: number; v: number; write: boolean };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      k: fc.constant('cfg' as const),
      dev: fc.constantFrom(3, 5, 6),
      fn: fc.constantFrom(0, 2),
      reg: fc.constantFrom(0, 4, 0x10, 0x14, 0x18, 0x3c, 0x40, 0x42, 0x44, 0x48, 0x4c),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const),
      v: fc.constantFrom(0, 0xffffffff, 0xe0000000, 0xc000, 7, 0x46),
      write: fc.boolean(),
    }),
    fc.record({ k: fc.constant('mem' as const), off: fc.constantFrom(0, 0x10, 0x24, 0x1004), v: fc.integer({ min: 0, max: 0xffff }), write: fc.boolean() }),
  );
  const apply = (r: ReturnType<typeof rig>, op: Op): number | null => {
    if (op.k === 'mem') {
      if (op.write) r.mem.write(0xe0000000 + op.off, 4, op.v);
      return op.write ? null : r.mem.read(0xe0000000 + op.off, 4);
    }
    if (op.write) {
      r.wr(op.dev, op.fn, op.reg, op.size, op.v);
      return null;
    }
    return r.rd(op.dev, op.fn, op.reg, op.size);
  };

  it('snapshot → JSON → restore into a fresh bus: both then answer alike', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 40 }), (before, after) => {
        const a = rig();
        for (const op of before) apply(a, op);
        const snap = JSON.parse(JSON.stringify(a.pci.snapshot())) as ReturnType<PciBus['snapshot']>;
        const b = rig();
        b.pci.restore(snap);
        expect(b.pci.snapshot()).toEqual(a.pci.snapshot());
        expect(b.pci.memoryWindows()).toEqual(a.pci.memoryWindows());
        for (const op of after) expect(apply(b, op)).toBe(apply(a, op));
        expect(b.pci.snapshot()).toEqual(a.pci.snapshot());
      }),
      { numRuns: 150 },
    );
  });

  it('refuses bad wiring: a taken slot, a 64-bit BAR without its upper slot, vendor 0xFFFF', () => {
    const { pci } = rig();
    expect(() => pci.add(3, 0, new CopyEngine('again'))).toThrow(/taken/);
    const bad = new Scratch();
    (bad.spec.bars as unknown as (object | null)[])[1] = { kind: 'mem32', size: 16 };
    expect(() => pci.add(7, 0, bad)).toThrow(/next slot/);
    const none = new Scratch();
    (none.spec as { vendorId: number }).vendorId = 0xffff;
    expect(() => pci.add(8, 0, none)).toThrow(/vendor/);
    expect(() => pci.add(32, 0, new Scratch())).toThrow(RangeError);
  });
});

// ---- MSI through interrupt remapping ---------------------------------------------------------------

/** A function with only an MSI capability; the test makes it signal. */
class Signaller implements PciFunctionModel {
  readonly spec: PciFunctionSpec = { vendorId: 0x1234, deviceId: 0x1a1a, revision: 0, classCode: 0xff0000, bars: [null, null, null, null, null, null], commandBits: CMD.BUS_MASTER, interruptPin: 0, capabilities: [msiCapability()] };
  port: PciFunctionPort | null = null;
  readonly name = 'signaller';
  connect(p: PciFunctionPort): void {
    this.port = p;
  }
  barRead(): number {
    return 0;
  }
  barWrite(): void {}
  snapshot(): unknown {
    return null;
  }
  restore(): void {}
}

describe('MSI through the bus\'s interrupt remapper', () => {
  const SLOT = 4;
  const RID = requesterId(0, SLOT, 0);
  function msiRig(remapper: (mem: PhysMem) => DmaRemapper & InterruptRemapper) {
    const mem = new PhysMem(RAM);
    const sink = new MsiInterruptSink();
    const r = remapper(mem);
    const pci = new PciBus({ mem, ports: new PortBus(), msiSink: sink, remapper: r });
    const dev = new Signaller();
    pci.add(SLOT, 0, dev);
    const at = pci.configRead(SLOT, 0, 0x34, 1); // the MSI capability is the only one
    const program = (address: number, data: number) => {
      pci.configWrite(SLOT, 0, CFG.COMMAND, 2, CMD.BUS_MASTER);
      pci.configWrite(SLOT, 0, at + MSI_REG.ADDRESS_LO, 4, address);
      pci.configWrite(SLOT, 0, at + MSI_REG.ADDRESS_HI, 4, 0);
      pci.configWrite(SLOT, 0, at + MSI_REG.DATA_64, 2, data);
      pci.configWrite(SLOT, 0, at + MSI_REG.CONTROL, 2, MSI_CONTROL.ENABLE);
    };
    const fire = () => dev.port!.signalMsi();
    return { mem, sink, pci, program, fire, r };
  }

  it('VT-d: a remapped MSI reaches the CPU with the IRTE\'s vector, not the one the device wrote', () => {
    let kit: VtdKit | null = null;
    const { pci, sink, program, fire, mem } = msiRig((m) => (kit = new VtdKit(m, new PageAlloc(0x100000))).iommu);
    const table = enableIr(kit!, { s: 3 });
    putEntry(mem, table + 16 * 5, irteValue({ vector: 0x66, dest: 0, svt: SVT_SID, sid: RID }), 4);
    program(remappableAddress(5), 0);
    expect(fire()).toBe(true);
    const m = pci.msiLog[0]!;
    expect(m).toMatchObject({ vector: 0x66, destinationId: 0, delivered: true, notDelivered: null, address: remappableAddress(5), data: 0 });
    expect(m.remap).toMatchObject({ kind: 'remapped', index: 5, cacheHit: false, refs: [{ kind: 'irte', index: 5, pa: table + 80, decision: 'leaf' }], target: { vector: 0x66 } });
    expect(sink.acknowledge()).toBe(0x66);
    // the log is plain data: it survives JSON as it is
    expect(JSON.parse(JSON.stringify(pci.snapshot().msiLog))).toEqual(pci.msiLog);
  });

  it('VT-d: a blocked MSI is not delivered, and says which fault; the fault is in the unit\'s record', () => {
    let kit: VtdKit | null = null;
    const { pci, sink, program, fire } = msiRig((m) => (kit = new VtdKit(m, new PageAlloc(0x100000))).iommu);
    enableIr(kit!, { s: 3 });
    program(remappableAddress(2), 0); // entry 2 is not present
    fire();
    program(0xfee00000, 0x45); // compatibility format, CFIS = 0
    fire();
    expect(pci.msiLog.map((m) => [m.delivered, m.notDelivered])).toEqual([
      [false, 'blocked by interrupt remapping: VT-d fault reason 0x22'],
      [false, 'blocked by interrupt remapping: VT-d fault reason 0x25'],
    ]);
    expect(pci.msiLog[0]!.remap).toMatchObject({ kind: 'blocked', index: 2, fault: { vendor: 'vtd', reason: 0x22, recorded: true }, record: { vendor: 'vtd', sid: RID, interruptIndex: 2, pageAddress: '0x0' } });
    expect(sink.pending()).toBe(false);
    expect(kit!.iommu.faultRecord(0)).toMatchObject({ reason: 0x22, sid: RID, interruptIndex: 2 });
  });

  it('VT-d: a posted MSI sets the PIR bit; its notification (and only it) reaches the CPU', () => {
    let kit: VtdKit | null = null;
    const { pci, sink, program, fire, mem } = msiRig((m) => (kit = new VtdKit(m, new PageAlloc(0x100000))).iommu);
    const table = enableIr(kit!, { s: 3 });
    const pda = 0x300000;
    mem.write(pda + 32, 4, 0xf3 << 16); // NV = 0xF3, ON = SN = 0
    putEntry(mem, table + 16, irteValue({ vector: 0x91, posted: { pda } }), 4);
    program(remappableAddress(1), 0);
    fire();
    fire();
    expect(mem.read(pda + 4 * (0x91 >>> 5), 4)).toBe(1 << (0x91 & 31));
    expect(pci.msiLog.map((m) => [m.vector, m.delivered])).toEqual([
      [0xf3, true], // the notification event
      [0, false], // posted only (ON was set): nothing went to the CPU, so the fields are the message's as written
    ]);
    expect(pci.msiLog[1]!.remap).toMatchObject({ kind: 'posted', vector: 0x91, notification: null });
    expect(pci.msiLog[1]!.notDelivered).toMatch(/posted to the descriptor at 0x300000; no notification/);
    expect(pci.msiLog[0]!.remap).toMatchObject({ kind: 'posted', vector: 0x91, descriptor: pda, notification: { vector: 0xf3 } });
    expect(sink.acknowledge()).toBe(0xf3);
    expect(sink.pending()).toBe(false);
  });

  it('AMD-Vi: remapped with the IRTE\'s vector; a fault is an IO_PAGE_FAULT with I and the MSI address, not delivered', () => {
    let kit: AmdKit | null = null;
    const { pci, sink, program, fire, mem } = msiRig((m) => (kit = new AmdKit(m, new PageAlloc(0x100000))).iommu);
    kit!.enable();
    const root = kit!.irDte(RID, { len: 2, domainId: 3 });
    mem.write(root + 4, 4, amdIrteValue({ vector: 0x77, dest: 0 }));
    program(0xfee00000, 1);
    fire();
    program(0xfee00000, 3); // entry 3: RemapEn = 0
    fire();
    expect(pci.msiLog.map((m) => [m.vector, m.delivered])).toEqual([
      [0x77, true],
      [3, false],
    ]);
    expect(pci.msiLog[0]!.remap).toMatchObject({ kind: 'remapped', index: 1, refs: [{ kind: 'device-table-entry' }, { kind: 'irte', index: 1 }] });
    expect(pci.msiLog[1]!.remap).toMatchObject({ kind: 'blocked', index: 3, fault: { vendor: 'amd-vi', code: 2, logged: true }, record: { flags: EVENT_FLAG_I, address: '0xfee00000', deviceId: RID, domainId: 3 } });
    expect(pci.msiLog[1]!.notDelivered).toBe('blocked by interrupt remapping: AMD-Vi event type 2');
    expect(sink.acknowledge()).toBe(0x77);
    expect(sink.pending()).toBe(false);
  });

  it('no IOMMU: passed as written', () => {
    const { pci, program, fire } = msiRig(() => new PassThroughRemapper());
    program(0xfee00000, 0x52);
    fire();
    expect(pci.msiLog[0]).toMatchObject({ vector: 0x52, delivered: true, remap: { kind: 'passed', why: 'remapping-off' } });
  });
});
