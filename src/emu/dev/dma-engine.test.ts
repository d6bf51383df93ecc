/**
 * The copy engine driven by real guest code: a 32-bit program, assembled by the lab's assembler,
 * runs bare on the CPU with the port bus as its I/O and the PCI bus behind PhysMem's MMIO. It
 * scans bus 0 through 0xCF8/0xCFC for vendor 0x1234 device 0xC0DE, sizes BAR0 and places it
 * above RAM, enables memory space (and bus mastering, unless told not to), optionally walks the
 * capabilities list to the MSI capability and enables it, programs a copy, rings the doorbell and
 * polls STATUS, then stores what it saw at RESULT.
 *
 * The DMA goes through the bus's remapper: PassThroughRemapper (no IOMMU), or VT-d with tables
 * (iommu/testkit.ts) that map only the guest's buffer pages for the engine's requester ID.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';
import { machineFrom } from '../machine/machine.ts';
import { AmdKit, PageAlloc, VtdKit } from '../iommu/testkit.ts';
import { AMDVI_EVENT } from '../iommu/amdvi.ts';
import { VTD_FAULT } from '../iommu/vtd.ts';
import { requesterId, type DmaRemapper } from '../iommu/types.ts';
import { PortBus } from './bus.ts';
import { COPY_ENGINE_DEVICE, COPY_ENGINE_VENDOR, CopyEngine, ERR, MAX_LENGTH, STATUS } from './dma-engine.ts';
import { decodeMsi, MsiInterruptSink } from './msi.ts';
import { CFG, CMD, PciBus } from './pci.ts';
import { DESCRIPTOR_POINTERS, findAndPlaceBar0, gdtAndMsiGate, msiSetup, setCommand } from './pci-guest.ts';

const LOAD = 0x100000;
const RESULT = 0x600;
const BAR_BASE = 0xe0000000;
const SRC = 0x200000;
const DST = 0x300000;
/** A page the guest's device was not given under VT-d (a secret of someone else's). */
const VICTIM = 0x400000;
const DEVICE = 4;
const RID = requesterId(0, DEVICE, 0);

interface Job {
  src: number;
  dst: number;
  len: number;
  busMaster?: boolean;
  /** Enable MSI with this vector (physical destination APIC ID 0, fixed, edge). */
  msiVector?: number;
}

function program(j: Job): string {
  const cmd = CMD.MEMORY | (j.busMaster === false ? 0 : CMD.BUS_MASTER);
  const msi = j.msiVector !== undefined;
  return `bits 32
org ${LOAD}
${gdtAndMsiGate(j.msiVector ?? 0x40)}${findAndPlaceBar0(COPY_ENGINE_VENDOR, COPY_ENGINE_DEVICE, RESULT, BAR_BASE)}
${msi ? msiSetup(j.msiVector!, RESULT + 28) : ''}
${setCommand(cmd)}  ; program the copy and ring the doorbell
  mov edi, ${BAR_BASE}
  mov dword [edi + 0x00], ${j.src}
  mov dword [edi + 0x04], 0
  mov dword [edi + 0x08], ${j.dst}
  mov dword [edi + 0x0c], 0
  mov dword [edi + 0x10], ${j.len}
  ${msi ? 'sti' : ''}
  mov dword [edi + 0x14], 1
poll:
  mov eax, [edi + 0x18]
  test eax, ${STATUS.DONE}
  jz poll
  mov [${RESULT + 8}], eax
  mov eax, [edi + 0x1c]
  mov [${RESULT + 12}], eax
  mov eax, [edi + 0x20]
  mov [${RESULT + 16}], eax
${msi ? `wait_msi:\n  cmp dword [${RESULT + 20}], 0\n  je wait_msi\n  cli` : ''}
  hlt
on_msi:
  inc dword [${RESULT + 20}]
  mov dword [${RESULT + 24}], ${j.msiVector ?? 0}
  iretd
${DESCRIPTOR_POINTERS}`;
}


function boot(j: Job, remapper?: (mem: ReturnType<typeof createBareMachine>['mem']) => DmaRemapper) {
  const asm = assemble(program(j));
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: asm.bytes });
  const ports = new PortBus();
  const sink = new MsiInterruptSink();
  const pci = new PciBus({ mem: m.mem, ports, msiSink: sink, ...(remapper ? { remapper: remapper(m.mem) } : {}) });
  const engine = new CopyEngine();
  pci.add(DEVICE, 0, engine);
  m.cpu.io = ports;
  m.cpu.interrupts = sink;
  // the source buffer's pattern, and something in the victim page
  for (let i = 0; i < 0x3000; i++) m.mem.write8(SRC + i, (i * 7 + 3) & 0xff);
  for (let i = 0; i < 0x1000; i++) m.mem.write8(VICTIM + i, 0x5e);
  const run = () => {
    const end = m.cpu.run(200_000);
    const r = (k: number) => m.mem.read(RESULT + 4 * k, 4);
    return { end, device: r(0), barSize: r(1), status: r(2), error: r(3), copied: r(4), msiCount: r(5), msiVector: r(6), msiCap: r(7) };
  };
  return { m, pci, engine, sink, ports, run };
}

const bytesAt = (mem: { read8(pa: number): number }, pa: number, n: number) => Array.from({ length: n }, (_, i) => mem.read8(pa + i));
const pattern = (from: number, n: number) => Array.from({ length: n }, (_, i) => ((from + i) * 7 + 3) & 0xff);

/** VT-d with a domain for the engine that maps only SRC..SRC+8K and DST..DST+8K, identity. */
function vtd(mem: ReturnType<typeof createBareMachine>['mem']): DmaRemapper {
  const kit = new VtdKit(mem, new PageAlloc(0x3000000));
  const slpt = kit.context(RID, { did: 1 });
  for (const base of [SRC, SRC + 0x1000, DST, DST + 0x1000]) kit.map(slpt, 4, BigInt(base), base, { r: true, w: true });
  kit.enable();
  return kit.iommu;
}

describe('a guest driver finds, sets up and drives the copy engine', () => {
  it('no IOMMU: the copy lands, split into requests that cross no 4 KiB boundary', () => {
    const { m, pci, engine, run } = boot({ src: SRC + 0x123, dst: DST + 0x456, len: 0x1800 });
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.device).toBe(DEVICE);
    expect(r.barSize).toBe(0x1000);
    expect(r.status).toBe(STATUS.DONE);
    expect(r.error).toBe(ERR.NONE);
    expect(r.copied).toBe(0x1800);
    expect(bytesAt(m.mem, DST + 0x456, 0x1800)).toEqual(pattern(0x123, 0x1800));
    expect(m.mem.read8(DST + 0x455)).toBe(0);
    expect(m.mem.read8(DST + 0x456 + 0x1800)).toBe(0);
    // the guest's configuration stuck, and the BAR decodes where the guest put it
    expect(pci.configRead(DEVICE, 0, CFG.COMMAND, 2)).toBe(CMD.MEMORY | CMD.BUS_MASTER);
    expect(pci.memoryWindows()).toEqual([{ devfn: DEVICE << 3, device: 'copy-engine', bar: 0, base: BAR_BASE, size: 0x1000 }]);
    // pieces: min(remaining, to the source's page end, to the destination's page end)
    const log = pci.dmaLog;
    expect(log.map((e) => [e.access, e.iova, e.length])).toEqual([
      ['read', '0x200123', 0xbaa], ['write', '0x300456', 0xbaa],
      ['read', '0x200ccd', 0x333], ['write', '0x301000', 0x333],
      ['read', '0x201000', 0x923], ['write', '0x301333', 0x923],
    ]);
    expect(log.every((e) => e.ok && e.rid === RID && e.domainId === -1 && e.fault === null)).toBe(true);
    expect(engine.state.runs).toBe(1);
    expect(pci.msiLog).toEqual([]); // MSI was not enabled
  });

  it('bus mastering off: nothing moves, STATUS says error, ERROR says why, no request was made', () => {
    const { m, pci, run } = boot({ src: SRC, dst: DST, len: 64, busMaster: false });
    const r = run();
    expect(r.status).toBe(STATUS.DONE | STATUS.ERROR);
    expect(r.error).toBe(ERR.BUS_MASTER_OFF);
    expect(r.copied).toBe(0);
    expect(bytesAt(m.mem, DST, 64).every((b) => b === 0)).toBe(true);
    expect(pci.dmaLog).toEqual([]);
  });

  it('a length of 0 or above the maximum is refused before any request', () => {
    for (const len of [0, MAX_LENGTH + 1]) {
      const { pci, run } = boot({ src: SRC, dst: DST, len });
      const r = run();
      expect(r.error).toBe(ERR.BAD_LENGTH);
      expect(pci.dmaLog).toEqual([]);
    }
  });
});

describe('DMA through VT-d: the domain holds only the guest buffer pages', () => {
  it('a copy between pages of the domain lands, translated by domain 1', () => {
    const { m, pci, run } = boot({ src: SRC + 0x10, dst: DST + 0x20, len: 0x1000 }, vtd);
    const r = run();
    expect(r.status).toBe(STATUS.DONE);
    expect(bytesAt(m.mem, DST + 0x20, 0x1000)).toEqual(pattern(0x10, 0x1000));
    expect(pci.dmaLog.every((e) => e.ok && e.domainId === 1)).toBe(true);
  });

  it('a copy to a page outside the domain is blocked: nothing written, write fault (reason 5) recorded for the requester', () => {
    const { m, pci, run } = boot({ src: SRC, dst: VICTIM, len: 0x100 }, vtd);
    const r = run();
    expect(r.status).toBe(STATUS.DONE | STATUS.ERROR);
    expect(r.error).toBe(ERR.WRITE_BLOCKED);
    expect(r.copied).toBe(0);
    expect(bytesAt(m.mem, VICTIM, 0x1000).every((b) => b === 0x5e)).toBe(true);
    expect(pci.dmaLog).toEqual([
      { seq: 0, device: 'copy-engine', rid: RID, access: 'read', what: 'data', iova: '0x200000', length: 0x100, ok: true, hpa: SRC, domainId: 1, fault: null, iotlbHit: false, refs: expect.any(Array), record: null },
      {
        seq: 1, device: 'copy-engine', rid: RID, access: 'write', what: 'data', iova: '0x400000', length: 0x100, ok: false, hpa: null, domainId: null, fault: { vendor: 'vtd', reason: VTD_FAULT.WRITE, recorded: true }, iotlbHit: false,
        refs: expect.any(Array), record: { vendor: 'vtd', sid: RID, pageAddress: '0x400000', type: 0, reason: VTD_FAULT.WRITE },
      },
    ]);
    // The walk of each: root entry, context entry, then the second-level tables down to the entry that decided.
    expect(pci.dmaLog[0]!.refs.map((x) => x.kind)).toEqual(['root-entry', 'context-entry', 'page-table-entry', 'page-table-entry', 'page-table-entry', 'page-table-entry']);
    expect(pci.dmaLog[0]!.refs.at(-1)!.decision).toBe('leaf');
    expect(pci.dmaLog[1]!.refs.at(-1)!.decision).toBe('fault');
  });

  it('a read of a page outside the domain is blocked (reason 6)', () => {
    const { m, pci, run } = boot({ src: VICTIM, dst: DST, len: 0x40 }, vtd);
    const r = run();
    expect(r.error).toBe(ERR.READ_BLOCKED);
    expect(bytesAt(m.mem, DST, 0x40).every((b) => b === 0)).toBe(true);
    expect(pci.dmaLog.map((e) => e.fault)).toEqual([{ vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true }]);
  });

  it('a copy running off the domain stops at the page boundary: the first piece stays, COPIED says so', () => {
    const { m, run } = boot({ src: SRC, dst: DST + 0x1f00, len: 0x200 }, vtd);
    const r = run();
    expect(r.error).toBe(ERR.WRITE_BLOCKED);
    expect(r.copied).toBe(0x100);
    expect(bytesAt(m.mem, DST + 0x1f00, 0x100)).toEqual(pattern(0, 0x100));
    expect(m.mem.read8(DST + 0x2000)).toBe(0);
  });

  it('without an IOMMU the same program writes the page it was not given (the escape)', () => {
    const { m, pci, run } = boot({ src: SRC, dst: VICTIM, len: 0x100 });
    const r = run();
    expect(r.status).toBe(STATUS.DONE);
    expect(bytesAt(m.mem, VICTIM, 0x100)).toEqual(pattern(0, 0x100));
    expect(pci.dmaLog.at(-1)).toMatchObject({ access: 'write', iova: '0x400000', ok: true, hpa: VICTIM });
  });
});

describe('DMA through AMD-Vi: the same device, the other vendor', () => {
  it('a copy to a page outside the domain is blocked with an IO_PAGE_FAULT event; inside it lands', () => {
    let kit: AmdKit | null = null;
    const amd = (mem: ReturnType<typeof createBareMachine>['mem']): DmaRemapper => {
      kit = new AmdKit(mem, new PageAlloc(0x3000000));
      const root = kit.dte(RID, { domainId: 7 });
      for (const base of [SRC, SRC + 0x1000, DST, DST + 0x1000]) kit.map(root, 4, BigInt(base), base, { r: true, w: true });
      kit.enable();
      return kit.iommu;
    };
    const ok = boot({ src: SRC, dst: DST, len: 0x80 }, amd);
    expect(ok.run().status).toBe(STATUS.DONE);
    expect(bytesAt(ok.m.mem, DST, 0x80)).toEqual(pattern(0, 0x80));
    expect(ok.pci.dmaLog.every((e) => e.ok && e.domainId === 7)).toBe(true);
    const bad = boot({ src: SRC, dst: VICTIM, len: 0x80 }, amd);
    const r = bad.run();
    expect(r.error).toBe(ERR.WRITE_BLOCKED);
    expect(bytesAt(bad.m.mem, VICTIM, 0x80).every((b) => b === 0x5e)).toBe(true);
    expect(bad.pci.dmaLog.at(-1)!.fault).toEqual({ vendor: 'amd-vi', code: AMDVI_EVENT.IO_PAGE_FAULT, logged: true });
    expect(kit!.eventTail()).toBe(16); // one 16-byte event written
  });
});

describe('MSI', () => {
  it('the guest enables MSI with vector 0x41; completion sends the message and the IDT handler runs', () => {
    const { pci, sink, run } = boot({ src: SRC, dst: DST, len: 0x20, msiVector: 0x41 });
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.msiCap).toBe(0x40);
    expect(r.status).toBe(STATUS.DONE);
    expect(r.msiCount).toBe(1);
    expect(r.msiVector).toBe(0x41);
    expect(sink.state.taken).toEqual([0x41]);
    expect(sink.pending()).toBe(false);
    expect(pci.msiLog).toEqual([
      {
        seq: 0, device: 'copy-engine', rid: RID, address: 0xfee00000, data: 0x41,
        destinationId: 0, redirectionHint: false, destinationMode: 'physical', vector: 0x41,
        deliveryMode: 'fixed', trigger: 'edge', level: 'deassert', delivered: true, notDelivered: null,
        remap: { kind: 'passed', why: 'remapping-off' }, // no IOMMU: passed as written
      },
    ]);
    // the capability as the guest left it: enabled, 64-bit capable
    expect(pci.configRead(DEVICE, 0, 0x42, 2)).toBe(0x81);
  });

  it('decodes address and data fields per SDM 11.11', () => {
    const msg = decodeMsi(0, 'd', 8, 0xfee0a00c, (1 << 15) | (1 << 14) | (4 << 8) | 0xf1);
    expect(msg).toMatchObject({ destinationId: 0x0a, redirectionHint: true, destinationMode: 'logical', vector: 0xf1, deliveryMode: 'nmi', trigger: 'level', level: 'assert' });
    expect(decodeMsi(0, 'd', 8, 0xfee00000, 0x0130).deliveryMode).toBe('lowest-priority');
    expect(decodeMsi(0, 'd', 8, 0xfee00000, 0x0730).deliveryMode).toBe('extint');
  });

  it('the single-CPU sink takes fixed edge messages for APIC ID 0 or broadcast, highest vector first', () => {
    const s = new MsiInterruptSink();
    const m = (addr: number, data: number) => s.deliver(decodeMsi(0, 'd', 0, addr, data));
    expect(m(0xfee00000, 0x30)).toBeNull();
    expect(m(0xfeeff000, 0x0150)).toBeNull(); // broadcast, lowest priority
    expect(m(0xfee00000, 0x30)).toBeNull(); // the same vector again: one pending bit
    expect(m(0xfee01000, 0x60)).toMatch(/APIC ID 1/);
    expect(m(0xfee00004, 0x60)).toMatch(/logical/);
    expect(m(0xfee00000, 0x0460)).toMatch(/nmi/);
    expect(m(0xfee00000, 0x8060)).toMatch(/level/);
    expect(m(0xfee00000, 0x0f)).toMatch(/illegal/);
    expect(s.acknowledge()).toBe(0x50);
    expect(s.acknowledge()).toBe(0x30);
    expect(s.pending()).toBe(false);
    const snap = JSON.parse(JSON.stringify(s.snapshot())) as ReturnType<MsiInterruptSink['snapshot']>;
    const t = new MsiInterruptSink();
    t.restore(snap);
    expect(t.state).toEqual(s.state);
  });

  it('MSI is not sent while bus mastering is off, and a non-interrupt address is an ordinary DMA write', () => {
    const mem = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) }).mem;
    const ports = new PortBus();
    const sink = new MsiInterruptSink();
    const pci = new PciBus({ mem, ports, msiSink: sink });
    const e = new CopyEngine();
    pci.add(2, 0, e);
    pci.configWrite(2, 0, 0x44, 4, 0x5000);
    pci.configWrite(2, 0, 0x4c, 2, 0xbeef);
    pci.configWrite(2, 0, 0x42, 2, 1);
    pci.configWrite(2, 0, CFG.BAR0, 4, BAR_BASE);
    pci.configWrite(2, 0, CFG.COMMAND, 2, CMD.MEMORY);
    mem.write(BAR_BASE + 0x14, 4, 1);
    expect(e.state.error).toBe(ERR.BUS_MASTER_OFF);
    expect(pci.msiLog).toEqual([]);
    expect(mem.read(0x5000, 4)).toBe(0);
    pci.configWrite(2, 0, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER);
    mem.write(BAR_BASE + 0x14, 4, 1);
    expect(e.state.error).toBe(ERR.BAD_LENGTH);
    expect(mem.read(0x5000, 4)).toBe(0xbeef);
    expect(pci.dmaLog.at(-1)).toMatchObject({ access: 'write', iova: '0x5000', length: 4, ok: true });
    expect(pci.msiLog).toEqual([]);
    expect(sink.pending()).toBe(false);
  });
});

describe('addresses the host does not have', () => {
  it('a source beyond the host address space (no IOMMU) reads nothing: READ_BLOCKED, logged as beyond-host', () => {
    const mem = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) }).mem;
    const pci = new PciBus({ mem, ports: new PortBus() });
    const e = new CopyEngine();
    pci.add(2, 0, e);
    pci.configWrite(2, 0, CFG.BAR0, 4, BAR_BASE);
    pci.configWrite(2, 0, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER);
    mem.write(BAR_BASE + 0x04, 4, 0x100000); // SRC = 2^52
    mem.write(BAR_BASE + 0x08, 4, DST);
    mem.write(BAR_BASE + 0x10, 4, 8);
    mem.write(BAR_BASE + 0x14, 4, 1);
    expect(e.state).toMatchObject({ status: STATUS.DONE | STATUS.ERROR, error: ERR.READ_BLOCKED, copied: 0 });
    expect(pci.dmaLog).toEqual([{ seq: 0, device: 'copy-engine', rid: 2 << 3, access: 'read', what: 'data', iova: '0x10000000000000', length: 8, ok: false, hpa: null, domainId: null, fault: { vendor: 'none', reason: 'beyond-host' }, iotlbHit: false, refs: [], record: null }]);
  });
});

describe('time travel', () => {
  it('a checkpoint before the doorbell (Machine + bus snapshots) replays to the same copy, logs and registers', () => {
    const asm = assemble(program({ src: SRC + 0x800, dst: DST + 0x10, len: 0x1400 }));
    if (!asm.ok) throw new Error('assembly failed');
    const m = machineFrom(createBareMachine({ mode: 'prot32', load: LOAD, code: asm.bytes }));
    for (let i = 0; i < 0x3000; i++) m.mem.write8(SRC + i, (i * 7 + 3) & 0xff);
    const ports = new PortBus();
    const pci = new PciBus({ mem: m.mem, ports });
    pci.add(DEVICE, 0, new CopyEngine());
    m.cpu.io = ports;
    // stop once the BAR decodes (memory space on), before the copy is programmed
    while (pci.memoryWindows().length === 0) expect(m.cpu.run(1)).toBe('limit');
    expect(pci.dmaLog).toEqual([]);
    const cpuSnap = m.snapshot();
    const busSnap = JSON.parse(JSON.stringify(pci.snapshot())) as ReturnType<PciBus['snapshot']>;
    expect(m.cpu.run(100_000)).toBe('hlt');
    const first = { bus: JSON.stringify(pci.snapshot()), dst: bytesAt(m.mem, DST, 0x2000), rip: m.cpu.state.ripLo, steps: m.cpu.state.steps };
    expect(pci.dmaLog.map((e) => e.length)).toEqual([0x800, 0x800, 0x7f0, 0x7f0, 0x410, 0x410]);
    m.restore(cpuSnap);
    pci.restore(busSnap);
    expect(pci.dmaLog).toEqual([]);
    expect(bytesAt(m.mem, DST, 0x2000).every((b) => b === 0)).toBe(true);
    expect(m.cpu.run(100_000)).toBe('hlt');
    expect({ bus: JSON.stringify(pci.snapshot()), dst: bytesAt(m.mem, DST, 0x2000), rip: m.cpu.state.ripLo, steps: m.cpu.state.steps }).toEqual(first);
  });
});
