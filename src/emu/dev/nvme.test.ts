/**
 * The NVMe-shaped disk controller driven by real guest code: a 32-bit driver, assembled by the lab's
 * assembler, runs bare on the CPU with the port bus as its I/O and the PCI bus behind PhysMem's MMIO.
 * It finds the controller on bus 0, places BAR0, enables memory space and bus mastering (optionally
 * MSI), reads CAP and VS, sets up the admin queue pair (AQA, ASQ, ACQ), enables the controller
 * (CC.EN with IOSQES = 6, IOCQES = 4) and waits for CSTS.RDY, identifies the controller, creates
 * I/O completion queue 1 and submission queue 1, then submits the I/O commands of a table the test
 * prepares (opcode, NSID, PRP1, PRP2, CDW10–12), each through the SQ tail doorbell, waits for its
 * completion by the phase tag, records the completion's DW3 and releases it with the CQ head
 * doorbell; at the end it compares the bytes it wrote with the bytes it read back.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';
import { machineFrom } from '../machine/machine.ts';
import { PageAlloc, VtdKit } from '../iommu/testkit.ts';
import { VTD_FAULT } from '../iommu/vtd.ts';
import { requesterId, type DmaRemapper } from '../iommu/types.ts';
import type { PhysMem } from '../mem/physmem.ts';
import { PortBus } from './bus.ts';
import { MsiInterruptSink } from './msi.ts';
import {
  ADMIN, BLOCK, CAP_HI, CAP_LO, CC, CSTS, cqHeadDoorbell, decodeStatus, fromBase64, NVM, NVME_BAR_SIZE, NVME_DEVICE, NVME_REG,
  NVME_VENDOR, NvmeController, SC, SCT, sqTailDoorbell, toBase64, VS_1_4,
} from './nvme.ts';
import { CFG, CMD, PciBus } from './pci.ts';
import { DESCRIPTOR_POINTERS, findAndPlaceBar0, gdtAndMsiGate, msiSetup, nvmeSubmit, setCommand } from './pci-guest.ts';

const LOAD = 0x100000;
const RESULT = 0x600; // +0 device, +4 BAR size, +8 CAP, +12 VS, +16 compare, +20 identify DW3,
// +24 create CQ DW3, +28 create SQ DW3, +32 MSI count, +40 MSI capability
const AQ = 0x680; // the admin queue's driver record (see submit)
const IOQ = 0x6c0; // the I/O queue's
const CMDBUF = 0x700; // the command being built (64 bytes)
const NCMDS = 0x740;
const CMPLEN = 0x744;
const BAR_BASE = 0xe0000000;
const ASQ = 0x200000;
const ACQ = 0x201000;
const IOSQ = 0x202000;
const IOCQ = 0x203000;
const IDBUF = 0x204000;
const TAB = 0x205000; // 32 bytes per command
const STAT = 0x207000; // DW3 of each table command
const WBUF = 0x210000;
const RBUF = 0x240000;
const VICTIM = 0x400000;
const DEVICE = 4;
const RID = requesterId(0, DEVICE, 0);

interface Drive {
  /** Admin queue entries (2..64), I/O queue entries. */
  aqn: number;
  ioqn: number;
  msiVector?: number;
  /** Bytes from WBUF and RBUF the guest compares at the end (0: none). */
  compare: number;
}

function program(d: Drive): string {
  const msi = d.msiVector !== undefined;
  const vec = d.msiVector ?? 0x40;
  const aqa = ((d.aqn - 1) << 16) | (d.aqn - 1);
  const cc = CC.EN | (6 << CC.IOSQES_SHIFT) | (4 << CC.IOCQES_SHIFT);
  return `bits 32
org ${LOAD}
${gdtAndMsiGate(vec)}${findAndPlaceBar0(NVME_VENDOR, NVME_DEVICE, RESULT, BAR_BASE)}
${msi ? msiSetup(vec, RESULT + 40) : ''}
${setCommand(CMD.MEMORY | CMD.BUS_MASTER)}  mov edi, ${BAR_BASE}
  mov eax, [edi + ${NVME_REG.CAP}]
  mov [${RESULT + 8}], eax
  mov eax, [edi + ${NVME_REG.VS}]
  mov [${RESULT + 12}], eax
  ; the admin queue pair, then enable and wait for ready
  mov dword [edi + ${NVME_REG.AQA}], ${aqa}
  mov dword [edi + ${NVME_REG.ASQ}], ${ASQ}
  mov dword [edi + ${NVME_REG.ASQ_HI}], 0
  mov dword [edi + ${NVME_REG.ACQ}], ${ACQ}
  mov dword [edi + ${NVME_REG.ACQ_HI}], 0
  mov dword [edi + ${NVME_REG.CC}], ${cc}
wait_rdy:
  test dword [edi + ${NVME_REG.CSTS}], ${CSTS.RDY}
  jz wait_rdy
  ; driver records: SQ base, SQ tail, SQ size, CQ base, CQ head, CQ size, phase, SQ doorbell, CQ doorbell
  mov dword [${AQ}], ${ASQ}
  mov dword [${AQ + 4}], 0
  mov dword [${AQ + 8}], ${d.aqn}
  mov dword [${AQ + 12}], ${ACQ}
  mov dword [${AQ + 16}], 0
  mov dword [${AQ + 20}], ${d.aqn}
  mov dword [${AQ + 24}], 1
  mov dword [${AQ + 28}], ${BAR_BASE + sqTailDoorbell(0)}
  mov dword [${AQ + 32}], ${BAR_BASE + cqHeadDoorbell(0)}
  mov dword [${IOQ}], ${IOSQ}
  mov dword [${IOQ + 4}], 0
  mov dword [${IOQ + 8}], ${d.ioqn}
  mov dword [${IOQ + 12}], ${IOCQ}
  mov dword [${IOQ + 16}], 0
  mov dword [${IOQ + 20}], ${d.ioqn}
  mov dword [${IOQ + 24}], 1
  mov dword [${IOQ + 28}], ${BAR_BASE + sqTailDoorbell(1)}
  mov dword [${IOQ + 32}], ${BAR_BASE + cqHeadDoorbell(1)}
  ${msi ? 'sti' : ''}
  ; Identify the controller (CNS 1) into IDBUF
  call clear_cmd
  mov dword [${CMDBUF}], ${ADMIN.IDENTIFY | (0x100 << 16)}
  mov dword [${CMDBUF + 24}], ${IDBUF}
  mov dword [${CMDBUF + 40}], 1
  mov ebp, ${AQ}
  call submit
  mov [${RESULT + 20}], eax
  ; Create I/O Completion Queue 1: size, physically contiguous, interrupts enabled, vector 0
  call clear_cmd
  mov dword [${CMDBUF}], ${ADMIN.CREATE_CQ | (0x101 << 16)}
  mov dword [${CMDBUF + 24}], ${IOCQ}
  mov dword [${CMDBUF + 40}], ${(((d.ioqn - 1) << 16) | 1) >>> 0}
  mov dword [${CMDBUF + 44}], 3
  mov ebp, ${AQ}
  call submit
  mov [${RESULT + 24}], eax
  ; Create I/O Submission Queue 1 on CQ 1
  call clear_cmd
  mov dword [${CMDBUF}], ${ADMIN.CREATE_SQ | (0x102 << 16)}
  mov dword [${CMDBUF + 24}], ${IOSQ}
  mov dword [${CMDBUF + 40}], ${(((d.ioqn - 1) << 16) | 1) >>> 0}
  mov dword [${CMDBUF + 44}], ${(1 << 16) | 1}
  mov ebp, ${AQ}
  call submit
  mov [${RESULT + 28}], eax
  ; the I/O commands of the table: opcode, NSID, PRP1, PRP2, CDW10, CDW11, CDW12 (command ID = index)
  xor ebx, ebx
io_loop:
  cmp ebx, [${NCMDS}]
  jae io_done
  call clear_cmd
  mov eax, ebx
  shl eax, 5
  add eax, ${TAB}
  mov ecx, ebx
  shl ecx, 16
  or ecx, [eax]
  mov [${CMDBUF}], ecx
  mov ecx, [eax + 4]
  mov [${CMDBUF + 4}], ecx
  mov ecx, [eax + 8]
  mov [${CMDBUF + 24}], ecx
  mov ecx, [eax + 12]
  mov [${CMDBUF + 32}], ecx
  mov ecx, [eax + 16]
  mov [${CMDBUF + 40}], ecx
  mov ecx, [eax + 20]
  mov [${CMDBUF + 44}], ecx
  mov ecx, [eax + 24]
  mov [${CMDBUF + 48}], ecx
  mov ebp, ${IOQ}
  call submit
  mov [${STAT} + ebx*4], eax
  inc ebx
  jmp io_loop
io_done:
  cli
  ; compare what was written with what was read back: 0 equal, 1 different
  mov dword [${RESULT + 16}], 0
  mov ecx, [${CMPLEN}]
  test ecx, ecx
  jz done
  mov esi, ${WBUF}
  mov edi, ${RBUF}
  repe cmpsb
  je done
  mov dword [${RESULT + 16}], 1
done:
  hlt

${nvmeSubmit(CMDBUF)}
on_msi:
  inc dword [${RESULT + 32}]
  iretd
${DESCRIPTOR_POINTERS}`;
}

interface IoCmd {
  opcode: number;
  nsid?: number;
  prp1: number;
  prp2?: number;
  slba: number;
  /** Blocks (1-based here; the table holds NLB 0's based). */
  blocks: number;
  slbaHi?: number;
}

const dataByte = (i: number) => (i * 13 + (i >> 9) * 7 + 0x21) & 0xff;
const bytesAt = (mem: PhysMem, pa: number, n: number) => Array.from({ length: n }, (_, i) => mem.read8(pa + i));

function assembleDrive(d: Drive): Uint8Array {
  const asm = assemble(program(d));
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return asm.bytes;
}

function prepare(mem: PhysMem, d: Drive, cmds: IoCmd[], wbufLen: number): void {
  cmds.forEach((c, k) => {
    const at = TAB + 32 * k;
    mem.write(at, 4, c.opcode);
    mem.write(at + 4, 4, c.nsid ?? 1);
    mem.write(at + 8, 4, c.prp1);
    mem.write(at + 12, 4, c.prp2 ?? 0);
    mem.write(at + 16, 4, c.slba);
    mem.write(at + 20, 4, c.slbaHi ?? 0);
    mem.write(at + 24, 4, c.blocks - 1);
  });
  mem.write(NCMDS, 4, cmds.length);
  mem.write(CMPLEN, 4, d.compare);
  for (let i = 0; i < wbufLen; i++) mem.write8(WBUF + i, dataByte(i));
  for (let i = 0; i < 0x1000; i++) mem.write8(VICTIM + i, 0x5e);
}

function boot(d: Drive, cmds: IoCmd[], opts: { remapper?: (mem: PhysMem) => DmaRemapper; blocks?: number; wbufLen?: number } = {}) {
  const m = machineFrom(createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) }));
  const ports = new PortBus();
  const sink = new MsiInterruptSink();
  const pci = new PciBus({ mem: m.mem, ports, msiSink: sink, ...(opts.remapper ? { remapper: opts.remapper(m.mem) } : {}) });
  const nvme = new NvmeController(opts.blocks ?? 256);
  pci.add(DEVICE, 0, nvme);
  m.cpu.io = ports;
  m.cpu.interrupts = sink;
  prepare(m.mem, d, cmds, opts.wbufLen ?? 0x10000);
  const result = () => {
    const r = (k: number) => m.mem.read(RESULT + 4 * k, 4) >>> 0;
    return {
      device: r(0), barSize: r(1), cap: r(2), vs: r(3), compare: r(4), identify: r(5), createCq: r(6), createSq: r(7), msiCount: r(8), msiCap: r(10),
      stat: cmds.map((_, k) => m.mem.read(STAT + 4 * k, 4) >>> 0),
    };
  };
  const run = () => ({ end: m.cpu.run(5_000_000), ...result() });
  return { m, pci, nvme, sink, run, result };
}

/** Writes of `n` commands of `per` blocks each, from WBUF onward at LBA 0 onward, then the reads back into RBUF. */
function writeThenRead(n: number, per: number, offset = 0): IoCmd[] {
  const len = per * BLOCK;
  const cmds: IoCmd[] = [];
  for (const [opcode, buf] of [[NVM.WRITE, WBUF], [NVM.READ, RBUF]] as const) {
    for (let k = 0; k < n; k++) {
      const prp1 = buf + offset + k * len;
      const crosses = (prp1 & 0xfff) + len > 0x1000;
      cmds.push({ opcode, prp1, prp2: crosses ? (prp1 & ~0xfff) + 0x1000 : 0, slba: k * per, blocks: per });
    }
  }
  return cmds;
}

const success = (dw3: number) => decodeStatus(dw3).sc === SC.SUCCESS && decodeStatus(dw3).sct === SCT.GENERIC;

describe('a guest driver enables the controller, creates I/O queues, writes blocks and reads them back', () => {
  it('the handshake, the admin commands, and 24 blocks written and read back through 4-entry queues (wraps, phase flips)', () => {
    const cmds = writeThenRead(12, 2); // 24 commands, 1 KiB each
    const d: Drive = { aqn: 2, ioqn: 4, compare: 12 * 2 * BLOCK };
    const { pci, nvme, run, m } = boot(d, cmds);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.device).toBe(DEVICE);
    expect(r.barSize).toBe(NVME_BAR_SIZE);
    expect([r.cap, r.vs]).toEqual([CAP_LO, VS_1_4]);
    // admin: 3 commands through a 2-entry queue (wrapped once); command IDs 0x100..0x102
    expect([r.identify, r.createCq, r.createSq].map(decodeStatus)).toEqual([
      { cid: 0x100, phase: 1, sc: 0, sct: 0, dnr: false },
      { cid: 0x101, phase: 1, sc: 0, sct: 0, dnr: false },
      { cid: 0x102, phase: 0, sc: 0, sct: 0, dnr: false }, // the second pass of the admin CQ
    ]);
    // the I/O CQ has 4 entries: the phase is 1, 0, 1, 0, 1, 0 for each group of four
    expect(r.stat.map(decodeStatus)).toEqual(cmds.map((_, k) => ({ cid: k, phase: 1 - (Math.floor(k / 4) % 2), sc: 0, sct: 0, dnr: false })));
    expect(r.compare).toBe(0);
    expect(bytesAt(m.mem, RBUF, 24 * BLOCK)).toEqual(bytesAt(m.mem, WBUF, 24 * BLOCK));
    expect(Array.from(nvme.block(5))).toEqual(Array.from({ length: BLOCK }, (_, i) => dataByte(5 * BLOCK + i)));
    expect(Array.from(nvme.block(24))).toEqual(new Array(BLOCK).fill(0)); // never written
    // Identify Controller: VID, model number, MDTS, SQES / CQES, one namespace
    expect(m.mem.read(IDBUF, 2)).toBe(NVME_VENDOR);
    expect(String.fromCharCode(...bytesAt(m.mem, IDBUF + 24, 10))).toBe('Ring -1 te');
    expect([m.mem.read8(IDBUF + 77), m.mem.read8(IDBUF + 512), m.mem.read8(IDBUF + 513), m.mem.read(IDBUF + 516, 4)]).toEqual([1, 0x66, 0x44, 1]);
    expect(nvme.state.totals).toMatchObject({ commands: 27, errors: 0, blocksWritten: 24, blocksRead: 24, badDoorbells: 0, fatal: 0 });
    // DMA: the first I/O write is its SQ entry, its data, then its completion
    const io = pci.dmaLog.filter((e) => e.iova === `0x${IOSQ.toString(16)}`)[0]!;
    expect(pci.dmaLog.slice(io.seq, io.seq + 3).map((e) => [e.access, e.iova, e.length])).toEqual([
      ['read', `0x${IOSQ.toString(16)}`, 64],
      ['read', `0x${WBUF.toString(16)}`, 1024],
      ['write', `0x${IOCQ.toString(16)}`, 16],
    ]);
    expect(pci.dmaLog.every((e) => e.ok && e.rid === RID)).toBe(true);
    // the queue view: after 24 commands head = tail = 0 on the I/O pair, the last pass had phase 0
    const v = nvme.ringView();
    const sq1 = v.queues.find((q) => q.kind === 'sq' && q.qid === 1)!;
    const cq1 = v.queues.find((q) => q.kind === 'cq' && q.qid === 1)!;
    expect([sq1.head, sq1.tail, cq1.head, cq1.tail, cq1.phase]).toEqual([0, 0, 0, 0, 1]);
    expect(sq1.slots.every((s) => s.owner === 'driver')).toBe(true);
    expect(sq1.slots[3]!.command).toMatchObject({ opcode: NVM.READ, cid: 23, nsid: 1, cdw10: 22, cdw12: 1, prp1: `0x${(RBUF + 11 * 1024).toString(16)}`, status: { sct: 0, sc: 0 } });
    expect(cq1.slots[3]!.completion).toEqual({ cid: 23, sqid: 1, sqhd: 0, phase: 0, sct: 0, sc: 0, dw0: 0 });
    expect(cq1.slots.every((s) => s.owner === 'device')).toBe(true);
    expect(v.usedBlocks).toBe(24);
  });

  it('transfers crossing a page use PRP2 for the second page: one request per page', () => {
    // PRP1 at 0xE00 into its page: 4 blocks = 2 KiB, 0x200 bytes in the first page, 0x600 in the second
    const cmds = writeThenRead(3, 4, 0xe00);
    const { pci, run, m } = boot({ aqn: 4, ioqn: 8, compare: 0 }, cmds);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.stat.every(success)).toBe(true);
    expect(bytesAt(m.mem, RBUF + 0xe00, 3 * 2048)).toEqual(bytesAt(m.mem, WBUF + 0xe00, 3 * 2048));
    const data = pci.dmaLog.filter((e) => Number(e.iova) >= WBUF && Number(e.iova) < RBUF);
    // write 0: 0x200 at WBUF+0xE00, then 0x600 at WBUF+0x1000 (PRP2)
    expect(data.slice(0, 2).map((e) => [e.iova, e.length])).toEqual([[`0x${(WBUF + 0xe00).toString(16)}`, 0x200], [`0x${(WBUF + 0x1000).toString(16)}`, 0x600]]);
    expect(pci.dmaLog.every((e) => (Number(BigInt(e.iova) & 0xfffn) + e.length) <= 0x1000)).toBe(true);
  });

  it('errors complete with their status codes, DNR set, and the queue goes on', () => {
    const cmds: IoCmd[] = [
      { opcode: NVM.WRITE, prp1: WBUF, slba: 254, blocks: 2 }, // the last two blocks of 256: fine
      { opcode: NVM.READ, prp1: RBUF, slba: 255, blocks: 2 }, // one past the end
      { opcode: NVM.READ, prp1: RBUF, slba: 0, slbaHi: 1, blocks: 1 }, // SLBA 2^32
      { opcode: NVM.READ, nsid: 2, prp1: RBUF, slba: 0, blocks: 1 },
      { opcode: 0x7f, prp1: RBUF, slba: 0, blocks: 1 },
      { opcode: NVM.READ, prp1: RBUF + 0x200, slba: 0, blocks: 16 }, // 8 KiB from an offset: needs a PRP list
      { opcode: NVM.READ, prp1: RBUF + 0x800, prp2: RBUF + 0x1100, slba: 0, blocks: 8 }, // PRP2 not page aligned
      { opcode: NVM.READ, prp1: RBUF + 2, slba: 0, blocks: 1 }, // PRP1 not dword aligned
      { opcode: NVM.FLUSH, prp1: 0, slba: 0, blocks: 1 },
      { opcode: NVM.READ, prp1: RBUF, slba: 254, blocks: 2 },
    ];
    const { nvme, run, m } = boot({ aqn: 4, ioqn: 4, compare: 0 }, cmds);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.stat.map(decodeStatus).map((s) => [s.sct, s.sc, s.dnr])).toEqual([
      [0, SC.SUCCESS, false],
      [0, SC.LBA_OUT_OF_RANGE, true],
      [0, SC.LBA_OUT_OF_RANGE, true],
      [0, SC.INVALID_NAMESPACE, true],
      [0, SC.INVALID_OPCODE, true],
      [0, SC.INVALID_FIELD, true],
      [0, SC.PRP_OFFSET_INVALID, true],
      [0, SC.PRP_OFFSET_INVALID, true],
      [0, SC.SUCCESS, false],
      [0, SC.SUCCESS, false],
    ]);
    expect([SC.LBA_OUT_OF_RANGE, SC.INVALID_FIELD, SC.INVALID_OPCODE, SC.INVALID_NAMESPACE, SC.DATA_TRANSFER_ERROR, SC.PRP_OFFSET_INVALID]).toEqual([0x80, 0x02, 0x01, 0x0b, 0x04, 0x13]);
    expect(bytesAt(m.mem, RBUF, 1024)).toEqual(bytesAt(m.mem, WBUF, 1024));
    expect(nvme.state.totals).toMatchObject({ errors: 7, blocksWritten: 2, blocksRead: 2 });
  });
});

describe('MSI', () => {
  it('one message per completion the driver releases; masked by INTMS, sent again when INTMC unmasks pending entries', () => {
    const cmds = writeThenRead(5, 1);
    const { pci, sink, run, nvme } = boot({ aqn: 4, ioqn: 4, compare: 5 * BLOCK, msiVector: 0x53 }, cmds);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.msiCap).toBe(0x40);
    expect(r.compare).toBe(0);
    // 3 admin + 10 I/O completions, each released before the next command
    expect(r.msiCount).toBe(13);
    expect(pci.msiLog.map((x) => [x.vector, x.delivered, x.rid])).toEqual(new Array(13).fill([0x53, true, RID]));
    expect(sink.state.taken).toEqual(new Array(13).fill(0x53));
    expect(nvme.state.totals.msi).toBe(13);
  });

  it('INTMS masks, INTMC unmasks with entries still unreleased: one message then (host driver)', () => {
    const h = hostRig();
    h.enable(4);
    h.cfg(0x44, 4, 0xfee00000);
    h.cfg(0x4c, 2, 0x61);
    h.cfg(0x42, 2, 1);
    h.reg(NVME_REG.INTMS, 1);
    expect(h.reg(NVME_REG.INTMC)).toBe(1);
    h.admin({ opcode: ADMIN.IDENTIFY, prp1: 0x300000, cdw10: 1 });
    expect(h.pci.msiLog).toHaveLength(0);
    h.reg(NVME_REG.INTMC, 1);
    expect(h.pci.msiLog).toHaveLength(1);
    h.admin({ opcode: ADMIN.IDENTIFY, prp1: 0x300000, cdw10: 1 }); // the first is still unreleased: no new message
    expect(h.pci.msiLog).toHaveLength(1);
    h.reg(cqHeadDoorbell(0), 2);
    h.admin({ opcode: ADMIN.IDENTIFY, prp1: 0x300000, cdw10: 1 });
    expect(h.pci.msiLog.map((x) => x.vector)).toEqual([0x61, 0x61]);
  });
});

/** VT-d: a domain for the controller mapping only its queues, the identify page and the buffers. */
function vtdFor(bufPages: number) {
  return (mem: PhysMem): DmaRemapper => {
    const kit = new VtdKit(mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 3 });
    const pages = [ASQ, ACQ, IOSQ, IOCQ, IDBUF];
    for (let p = 0; p < bufPages; p++) pages.push(WBUF + p * 0x1000, RBUF + p * 0x1000);
    for (const base of pages) kit.map(slpt, 4, BigInt(base), base, { r: true, w: true });
    kit.enable();
    return kit.iommu;
  };
}

describe('under VT-d: a domain with only the queues and buffers', () => {
  const cmds = (): IoCmd[] => [...writeThenRead(4, 2), { opcode: NVM.READ, prp1: VICTIM, slba: 0, blocks: 1 }, { opcode: NVM.READ, prp1: RBUF + 0x1000, slba: 0, blocks: 1 }];

  it('the driver works; a read whose PRP points outside the domain fails with Data Transfer Error, the fault recorded', () => {
    const c = cmds();
    const { pci, nvme, run, m } = boot({ aqn: 4, ioqn: 4, compare: 4 * 2 * BLOCK }, c, { remapper: vtdFor(2) });
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.compare).toBe(0);
    const st = r.stat.map(decodeStatus);
    expect(st.slice(0, 8).every((s) => s.sc === 0 && s.sct === 0)).toBe(true);
    expect([st[8]!.sct, st[8]!.sc, st[8]!.dnr]).toEqual([SCT.GENERIC, SC.DATA_TRANSFER_ERROR, true]);
    expect(decodeStatus(r.stat[9]!).sc).toBe(SC.SUCCESS); // the queue goes on
    expect(bytesAt(m.mem, VICTIM, 8)).toEqual(new Array(8).fill(0x5e));
    const faults = pci.dmaLog.filter((e) => !e.ok);
    expect(faults.map((e) => [e.access, e.iova, e.length])).toEqual([['write', `0x${VICTIM.toString(16)}`, BLOCK]]);
    expect(faults[0]!.fault).toEqual({ vendor: 'vtd', reason: VTD_FAULT.WRITE, recorded: true });
    expect(pci.dmaLog.filter((e) => e.ok).every((e) => e.domainId === 3)).toBe(true);
    expect(nvme.state.totals).toMatchObject({ errors: 1, fatal: 0 });
    const sq1 = nvme.ringView().queues.find((q) => q.kind === 'sq' && q.qid === 1)!;
    expect(sq1.slots[0]!.command).toMatchObject({ cid: 8, prp1: `0x${VICTIM.toString(16)}`, status: { sct: 0, sc: SC.DATA_TRANSFER_ERROR } });
  });

  it('without an IOMMU the same read writes the page it was not given (the escape)', () => {
    const { run, m } = boot({ aqn: 4, ioqn: 4, compare: 0 }, cmds());
    const r = run();
    expect(r.stat.every(success)).toBe(true);
    expect(bytesAt(m.mem, VICTIM, BLOCK)).toEqual(Array.from({ length: BLOCK }, (_, i) => dataByte(i)));
  });

  it('a submission queue outside the domain: the entry cannot be read, CSTS.CFS is set and processing stops until reset', () => {
    const m = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
    const kit = new VtdKit(m.mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 3 });
    kit.map(slpt, 4, BigInt(ACQ), ACQ, { r: true, w: true });
    kit.enable();
    const h = hostRig(m, kit.iommu);
    h.enable(4);
    h.admin({ opcode: ADMIN.IDENTIFY, prp1: IDBUF, cdw10: 1 });
    expect(h.reg(NVME_REG.CSTS)).toBe(CSTS.RDY | CSTS.CFS);
    expect(h.pci.dmaLog.map((e) => [e.access, e.iova, e.ok])).toEqual([['read', `0x${ASQ.toString(16)}`, false]]);
    expect(h.nvme.state.totals.fatal).toBe(1);
    h.reg(sqTailDoorbell(0), 2);
    expect(h.pci.dmaLog).toHaveLength(1); // stopped
    h.reg(NVME_REG.CC, 0);
    expect(h.reg(NVME_REG.CSTS)).toBe(0);
  });

  it('a completion queue outside the domain: the command runs, its completion is lost, CSTS.CFS is set', () => {
    const m = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
    const kit = new VtdKit(m.mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 3 });
    for (const p of [ASQ, IDBUF]) kit.map(slpt, 4, BigInt(p), p, { r: true, w: true });
    kit.enable();
    const h = hostRig(m, kit.iommu);
    h.enable(4);
    expect(h.admin({ opcode: ADMIN.IDENTIFY, prp1: IDBUF, cdw10: 1 })).toEqual([]);
    expect(h.mem.read(IDBUF, 2)).toBe(NVME_VENDOR); // carried out
    expect(h.pci.dmaLog.map((e) => [e.access, e.iova, e.ok])).toEqual([
      ['read', `0x${ASQ.toString(16)}`, true],
      ['write', `0x${IDBUF.toString(16)}`, true],
      ['write', `0x${ACQ.toString(16)}`, false],
    ]);
    expect(h.reg(NVME_REG.CSTS)).toBe(CSTS.RDY | CSTS.CFS);
    const v = h.nvme.ringView();
    expect(v.fatal).toBe(true);
    expect(v.queues[0]!.slots[0]!.command).toMatchObject({ opcode: ADMIN.IDENTIFY, status: null });
    expect(v.queues.find((q) => q.kind === 'cq')!.tail).toBe(0);
  });
});

describe('time travel', () => {
  it('a checkpoint mid-run (machine + bus through JSON + MSI sink) replays to the same queues, data, logs and registers', () => {
    const cmds = writeThenRead(10, 3);
    const d: Drive = { aqn: 2, ioqn: 4, compare: 30 * BLOCK, msiVector: 0x44 };
    const { m, pci, nvme, sink } = boot(d, cmds);
    while (nvme.state.totals.commands < 12) expect(m.cpu.run(1)).toBe('limit');
    const cpuSnap = m.snapshot();
    const busSnap = JSON.parse(JSON.stringify(pci.snapshot())) as ReturnType<PciBus['snapshot']>;
    const sinkSnap = JSON.parse(JSON.stringify(sink.snapshot())) as ReturnType<MsiInterruptSink['snapshot']>;
    const outcome = () => ({ end: m.cpu.run(5_000_000), bus: JSON.stringify(pci.snapshot()), rbuf: bytesAt(m.mem, RBUF, 30 * BLOCK), queues: nvme.ringView(), steps: m.cpu.state.steps, taken: sink.state.taken.slice() });
    const first = outcome();
    expect(first.end).toBe('hlt');
    expect(nvme.state.totals).toMatchObject({ commands: 23, blocksWritten: 30, blocksRead: 30, msi: 23 });
    m.restore(cpuSnap);
    pci.restore(busSnap);
    sink.restore(sinkSnap);
    expect(nvme.state.totals.commands).toBe(12);
    expect(outcome()).toEqual(first);
  });
});

// ---- host-driven tests --------------------------------------------------------------------------------

interface HostCmd {
  opcode: number;
  nsid?: number;
  prp1: number;
  prp2?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
}

/** A host-side driver written in TypeScript over the controller's registers and queues in memory. */
function hostRig(machine?: ReturnType<typeof createBareMachine>, remapper?: DmaRemapper, blocks = 64) {
  const m = machine ?? createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
  const pci = new PciBus({ mem: m.mem, ports: new PortBus(), msiSink: new MsiInterruptSink(), ...(remapper ? { remapper } : {}) });
  const nvme = new NvmeController(blocks);
  pci.add(DEVICE, 0, nvme);
  pci.configWrite(DEVICE, 0, CFG.BAR0, 4, BAR_BASE);
  pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER);
  const mem = m.mem;
  const reg = (off: number, v?: number) => (v === undefined ? mem.read(BAR_BASE + off, 4) >>> 0 : (mem.write(BAR_BASE + off, 4, v), 0));
  const cfg = (off: number, size: 1 | 2 | 4, v: number) => pci.configWrite(DEVICE, 0, off, size, v);
  const q = { 0: { sq: ASQ, cq: ACQ, n: 0, tail: 0, head: 0, phase: 1, cid: 0 }, 1: { sq: IOSQ, cq: IOCQ, n: 0, tail: 0, head: 0, phase: 1, cid: 0 } };
  const submit = (qid: 0 | 1, c: HostCmd): number[] => {
    const s = q[qid];
    const at = s.sq + 64 * s.tail;
    for (let i = 0; i < 64; i += 4) mem.write(at + i, 4, 0);
    mem.write(at, 4, (c.opcode | (s.cid++ << 16)) >>> 0);
    mem.write(at + 4, 4, c.nsid ?? (qid === 0 ? 0 : 1));
    mem.write(at + 24, 4, c.prp1);
    mem.write(at + 32, 4, c.prp2 ?? 0);
    mem.write(at + 40, 4, c.cdw10 ?? 0);
    mem.write(at + 44, 4, c.cdw11 ?? 0);
    mem.write(at + 48, 4, c.cdw12 ?? 0);
    s.tail = (s.tail + 1) % s.n;
    reg(sqTailDoorbell(qid), s.tail);
    // collect the completions now posted (without releasing them)
    const got: number[] = [];
    for (;;) {
      const dw3 = mem.read(s.cq + 16 * s.head + 12, 4) >>> 0;
      if (((dw3 >>> 16) & 1) !== s.phase) break;
      got.push(dw3);
      s.head = (s.head + 1) % s.n;
      if (s.head === 0) s.phase ^= 1;
    }
    return got;
  };
  return {
    m, mem, pci, nvme, reg, cfg,
    enable(n: number) {
      q[0].n = n;
      reg(NVME_REG.AQA, ((n - 1) << 16) | (n - 1));
      reg(NVME_REG.ASQ, ASQ);
      reg(NVME_REG.ACQ, ACQ);
      reg(NVME_REG.CC, CC.EN | (6 << CC.IOSQES_SHIFT) | (4 << CC.IOCQES_SHIFT));
    },
    admin: (c: HostCmd) => submit(0, c),
    io: (c: HostCmd) => submit(1, c),
    /** Releases everything collected on queue `qid`'s CQ. */
    release(qid: 0 | 1) {
      reg(cqHeadDoorbell(qid), q[qid].head);
    },
    createIo(n: number) {
      q[1].n = n;
      const a = submit(0, { opcode: ADMIN.CREATE_CQ, prp1: IOCQ, cdw10: ((n - 1) << 16) | 1, cdw11: 3 });
      const b = submit(0, { opcode: ADMIN.CREATE_SQ, prp1: IOSQ, cdw10: ((n - 1) << 16) | 1, cdw11: (1 << 16) | 1 });
      reg(cqHeadDoorbell(0), q[0].head);
      return [...a, ...b];
    },
  };
}

describe('registers and admin commands (host driver)', () => {
  it('CAP, VS, CC / CSTS handshake, AQA / ASQ / ACQ masks, reset by CC.EN = 0, shutdown', () => {
    const h = hostRig();
    expect([h.reg(NVME_REG.CAP), h.reg(NVME_REG.CAP_HI), h.reg(NVME_REG.VS)]).toEqual([CAP_LO, CAP_HI, VS_1_4]);
    expect(CAP_LO & 0xffff).toBe(63); // MQES
    expect((CAP_LO >>> 16) & 1).toBe(1); // CQR
    expect((CAP_HI >>> 5) & 1).toBe(1); // CSS: NVM command set (bit 37)
    expect(h.reg(NVME_REG.CSTS)).toBe(0);
    h.reg(NVME_REG.ASQ, ASQ | 0xabc);
    expect(h.reg(NVME_REG.ASQ)).toBe(ASQ);
    h.reg(NVME_REG.AQA, 0xffffffff);
    expect(h.reg(NVME_REG.AQA)).toBe(0x0fff0fff);
    h.reg(NVME_REG.AQA, 0); // one-entry queues: the controller does not become ready
    h.reg(NVME_REG.CC, CC.EN);
    expect(h.reg(NVME_REG.CSTS) & CSTS.RDY).toBe(0);
    h.reg(NVME_REG.CC, 0);
    h.enable(4);
    expect(h.reg(NVME_REG.CSTS)).toBe(CSTS.RDY);
    h.reg(NVME_REG.CC, h.reg(NVME_REG.CC) | (1 << CC.SHN_SHIFT));
    expect(h.reg(NVME_REG.CSTS)).toBe(CSTS.RDY | (2 << 2));
    h.reg(NVME_REG.CC, 0);
    expect(h.reg(NVME_REG.CSTS)).toBe(0);
    expect(h.nvme.state.sqs).toEqual({});
    // a doorbell while not ready is ignored and counted
    h.reg(sqTailDoorbell(0), 1);
    expect(h.nvme.state.totals.badDoorbells).toBe(1);
  });

  it('Create queue errors: queue ID, size, PC = 0, vector, CQ missing, unaligned base, IOSQES not set', () => {
    const h = hostRig();
    h.enable(16);
    const st = (c: HostCmd) => {
      const got = h.admin(c);
      expect(got).toHaveLength(1);
      h.release(0);
      const s = decodeStatus(got[0]!);
      return [s.sct, s.sc];
    };
    const cq = (cdw10: number, cdw11: number, prp1 = IOCQ) => st({ opcode: ADMIN.CREATE_CQ, prp1, cdw10, cdw11 });
    const sq = (cdw10: number, cdw11: number, prp1 = IOSQ) => st({ opcode: ADMIN.CREATE_SQ, prp1, cdw10, cdw11 });
    expect(cq((3 << 16) | 0, 3)).toEqual([1, SC.INVALID_QID]);
    expect(cq((3 << 16) | 5, 3)).toEqual([1, SC.INVALID_QID]);
    expect(cq((0 << 16) | 1, 3)).toEqual([1, SC.INVALID_QSIZE]);
    expect(cq((64 << 16) | 1, 3)).toEqual([1, SC.INVALID_QSIZE]);
    expect(cq((3 << 16) | 1, 2)).toEqual([0, SC.INVALID_FIELD]);
    expect(cq((3 << 16) | 1, (1 << 16) | 3)).toEqual([1, SC.INVALID_VECTOR]);
    expect(cq((3 << 16) | 1, 3, IOCQ + 0x100)).toEqual([0, SC.PRP_OFFSET_INVALID]);
    expect(sq((3 << 16) | 1, (1 << 16) | 1)).toEqual([1, SC.CQ_INVALID]);
    expect(cq((3 << 16) | 1, 3)).toEqual([0, SC.SUCCESS]);
    expect(cq((3 << 16) | 1, 3)).toEqual([1, SC.INVALID_QID]); // exists
    expect(cq((3 << 16) | 2, (1 << 16) | 1, IOCQ + 0x1000)).toEqual([0, SC.SUCCESS]); // IV is not looked at without IEN
    expect(sq((3 << 16) | 1, (0 << 16) | 1)).toEqual([1, SC.CQ_INVALID]);
    expect(sq((3 << 16) | 1, (1 << 16) | 0)).toEqual([0, SC.INVALID_FIELD]);
    expect(st({ opcode: 0x7e, prp1: 0 })).toEqual([0, SC.INVALID_OPCODE]);
    expect(st({ opcode: ADMIN.IDENTIFY, prp1: IDBUF, cdw10: 0, nsid: 7 })).toEqual([0, SC.INVALID_NAMESPACE]);
    expect(st({ opcode: ADMIN.IDENTIFY, prp1: IDBUF, cdw10: 2 })).toEqual([0, SC.INVALID_FIELD]);
    expect(st({ opcode: ADMIN.IDENTIFY, prp1: IDBUF, cdw10: 0, nsid: 1 })).toEqual([0, SC.SUCCESS]);
    // Identify Namespace: NSZE = 64 blocks, LBADS = 9
    expect([h.mem.read(IDBUF, 4), h.mem.read(IDBUF + 8, 4), h.mem.read8(IDBUF + 130)]).toEqual([64, 64, 9]);
    // IOSQES cleared in CC (while enabled, a driver error): the SQ is refused
    h.reg(NVME_REG.CC, CC.EN | (4 << CC.IOCQES_SHIFT));
    expect(sq((3 << 16) | 1, (1 << 16) | 1)).toEqual([0, SC.INVALID_FIELD]);
  });

  it('a full completion queue holds the submission queue until the host releases slots', () => {
    const h = hostRig();
    h.enable(4);
    expect(h.createIo(4).map((x) => decodeStatus(x).sc)).toEqual([0, 0]);
    // without releasing: a 4-entry CQ takes 3 completions (tail + 1 = head means full)
    const got = [0, 1, 2].flatMap(() => h.io({ opcode: NVM.FLUSH, prp1: 0 }));
    expect(got).toHaveLength(3);
    expect(h.io({ opcode: NVM.FLUSH, prp1: 0 })).toEqual([]); // waits in the SQ
    const sq1 = () => h.nvme.ringView().queues.find((x) => x.kind === 'sq' && x.qid === 1)!;
    expect([sq1().head, sq1().tail, sq1().slots[3]!.owner]).toEqual([3, 0, 'device']);
    h.release(1);
    expect(sq1().head).toBe(0);
    expect(decodeStatus(h.mem.read(IOCQ + 16 * 3 + 12, 4) >>> 0)).toMatchObject({ cid: 3, phase: 1, sc: 0 });
    expect(h.nvme.state.totals.commands).toBe(2 + 4);
  });

  it('snapshot is JSON-safe and keeps the namespace sparsely; base64 round-trips', () => {
    const h = hostRig();
    h.enable(4);
    h.createIo(8);
    for (let i = 0; i < 1024; i++) h.mem.write8(WBUF + i, i % 5 === 0 ? 0 : i & 0xff);
    h.io({ opcode: NVM.WRITE, prp1: WBUF, cdw10: 10, cdw12: 1 });
    const snap = h.nvme.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(Object.keys(snap.blocks)).toEqual(['10', '11']);
    const other = new NvmeController(64);
    other.restore(JSON.parse(JSON.stringify(snap)));
    expect(Array.from(other.block(11))).toEqual(bytesAt(h.mem, WBUF + 512, 512));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      expect(Array.from(fromBase64(toBase64(b)))).toEqual(Array.from(b));
    }));
  });
});

describe('property: random reads and writes against a byte-array model of the disk', () => {
  it('every read returns what the model holds; out-of-range commands fail with LBA Out of Range and change nothing', () => {
    const BLOCKS = 64;
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.array(
          fc.record({
            write: fc.boolean(),
            slba: fc.integer({ min: 0, max: BLOCKS + 2 }),
            blocks: fc.integer({ min: 1, max: 16 }),
            offset: fc.integer({ min: 0, max: 1023 }).map((x) => x * 4),
            seed: fc.integer({ min: 0, max: 255 }),
            release: fc.boolean(),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (qn, ops) => {
          const h = hostRig(undefined, undefined, BLOCKS);
          h.enable(4);
          h.createIo(qn);
          const disk = new Uint8Array(BLOCKS * BLOCK);
          let pending = 0;
          for (const op of ops) {
            const len = op.blocks * BLOCK;
            const buf = (op.write ? WBUF : RBUF) + op.offset;
            const pages = Math.ceil(((buf & 0xfff) + len) / 0x1000);
            const prp2 = pages > 1 ? (buf & ~0xfff) + 0x1000 : 0;
            if (op.write) for (let i = 0; i < len; i++) h.mem.write8(buf + i, (op.seed + i * 3) & 0xff);
            else for (let i = 0; i < len; i++) h.mem.write8(buf + i, 0xee);
            if (pending === qn - 1) {
              h.release(1);
              pending = 0;
            }
            const got = h.io({ opcode: op.write ? NVM.WRITE : NVM.READ, prp1: buf, prp2, cdw10: op.slba, cdw12: op.blocks - 1 });
            expect(got).toHaveLength(1);
            pending++;
            const s = decodeStatus(got[0]!);
            const oor = op.slba + op.blocks > BLOCKS;
            if (oor) expect([s.sct, s.sc]).toEqual([0, SC.LBA_OUT_OF_RANGE]);
            else if (pages > 2) expect([s.sct, s.sc]).toEqual([0, SC.INVALID_FIELD]);
            else {
              expect([s.sct, s.sc]).toEqual([0, SC.SUCCESS]);
              if (op.write) disk.set(bytesAt(h.mem, buf, len), op.slba * BLOCK);
              else expect(bytesAt(h.mem, buf, len)).toEqual(Array.from(disk.subarray(op.slba * BLOCK, op.slba * BLOCK + len)));
            }
            if (op.release) {
              h.release(1);
              pending = 0;
            }
          }
          for (let lba = 0; lba < BLOCKS; lba++) expect(Array.from(h.nvme.block(lba))).toEqual(Array.from(disk.subarray(lba * BLOCK, (lba + 1) * BLOCK)));
        },
      ),
      { numRuns: 60 },
    );
  });
});
