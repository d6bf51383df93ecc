/**
 * A disk controller with submission and completion queues: a teaching model shaped after NVM
 * Express (NVM Express Base Specification 1.4; section numbers below are that revision's). It keeps
 * what a driver meets: controller registers in BAR0, an enable / ready handshake, an admin queue
 * pair whose place the driver writes into registers, I/O queue pairs created by admin commands,
 * 64-byte commands and 16-byte completions in the driver's memory, doorbells, a phase tag that
 * flips at each wrap of a completion queue, data moved by DMA through PRP entries, MSI.
 *
 * It is not a product: test vendor ID 0x1234 (as the copy engine and the NIC), device ID 0x4E56,
 * class 0x010802 (mass storage, non-volatile memory, NVM Express I/O controller). BAR0 is 16 KiB of
 * 32-bit memory (a real controller's is 64-bit; a 32-bit BAR keeps the bare drivers short):
 *   0x00 CAP (64 bits, 3.1.1)  MQES 15:0 = 63 (64 entries, 0's based), CQR 16 = 1 (queues must be
 *        physically contiguous), TO 31:24 = 1 (500 ms), DSTRD 35:32 = 0 (doorbells 4 bytes apart),
 *        CSS 44:37 = bit 37 (the NVM command set), MPSMIN 51:48 = MPSMAX 55:52 = 0 (4 KiB pages)
 *   0x08 VS 1.4.0 (0x00010400)
 *   0x0C INTMS, 0x10 INTMC (3.1.3, 3.1.4): writing 1s masks / unmasks interrupt vectors; both read
 *        the mask. There is one vector (0), so only bit 0 is kept.
 *   0x14 CC (3.1.5): EN 0, CSS 6:4, MPS 10:7, AMS 13:11, SHN 15:14, IOSQES 19:16, IOCQES 23:20
 *   0x1C CSTS (3.1.6): RDY 0, CFS 1, SHST 3:2 (read only)
 *   0x24 AQA (3.1.8): ASQS 11:0, ACQS 27:16 (0's based sizes)
 *   0x28 ASQ, 0x30 ACQ (64 bits each; bits 11:0 read 0: page aligned)
 *   0x1000 + (2y) * 4 SQy tail doorbell, 0x1000 + (2y + 1) * 4 CQy head doorbell (3.1.24, 3.1.25)
 * Other offsets read 0 and ignore writes; a narrower access reads or merges bytes of its dword.
 *
 * Enabling (3.1.5, 7.6.1): CC.EN 0 → 1 takes the admin queues from AQA, ASQ and ACQ and sets
 * CSTS.RDY at once (no time passes here; the driver still waits for it). With a size of 0 in AQA
 * (one entry, which the specification does not allow) RDY stays 0. CC.EN 1 → 0 is a controller
 * reset: every I/O queue is deleted, the admin queues forgotten, RDY, CFS and the mask cleared; the
 * namespace keeps its data. A shutdown notification (CC.SHN ≠ 0) completes at once (CSTS.SHST = 2).
 *
 * Submission entry (4.2): CDW0 opcode 7:0, command ID 31:16; NSID at byte 4; PRP1 at 24; PRP2 at 32;
 * CDW10..12 at 40, 44, 48. Completion entry (4.6): DW0 command specific at 0; SQ head 15:0 and SQ
 * ID 31:16 at 8; command ID 15:0, phase tag 16 and status 31:17 at 12 (SC 24:17, SCT 27:25,
 * DNR 31). The controller owns SQ entries from head to tail − 1 and CQ slots from its tail to the
 * host's head − 1; an SQ tail doorbell hands commands over, a CQ head doorbell hands slots back.
 *
 * Commands. Admin (5): Create I/O Completion Queue (0x05) and Create I/O Submission Queue (0x01),
 * physically contiguous queues only (PC = 1: CAP.CQR is 1, so PC = 0 is Invalid Field in Command,
 * as 5.3 and 5.4 require), at most 4 I/O queue pairs (IDs 1..4), interrupt vector 0 only (IV is checked only with IEN); Identify
 * (0x06) with CNS 0 (the namespace) and CNS 1 (the controller), a 4 KiB structure written by DMA.
 * NVM (6): Flush (0x00, a success: writes are durable at once), Write (0x01), Read (0x02) on
 * namespace 1 of `blocks` 512-byte logical blocks, SLBA from CDW10–11, NLB in CDW12 15:0 (0's
 * based). Data moves through PRP1 and PRP2 (4.3): PRP1 may start anywhere dword aligned in a page,
 * PRP2 is the second page when the transfer crosses into one. PRP lists are not modelled: a
 * transfer needing more than two pages is refused with Invalid Field in Command (Identify reports
 * MDTS = 1, 8 KiB, so a page-aligned transfer never needs one).
 *
 * Status (4.6.1.2): generic (SCT 0) Successful 0x00, Invalid Command Opcode 0x01, Invalid Field in
 * Command 0x02, Data Transfer Error 0x04, Invalid Namespace or Format 0x0B, PRP Offset Invalid 0x13
 * (a PRP entry with a disallowed offset: PRP1 not dword aligned, PRP2 or a queue base not page
 * aligned), LBA Out of Range 0x80 (SCT 0: the NVM command set's range 0x80–0xBF of the generic
 * type); command specific (SCT 1) Completion Queue Invalid 0x00, Invalid Queue Identifier 0x01,
 * Invalid Queue Size 0x02, Invalid Interrupt Vector 0x08. Every error is completed with DNR = 1.
 * Creating an I/O queue while CC.IOSQES / IOCQES are not 6 / 4 (64 / 16 bytes) is refused with
 * Invalid Field in Command (a choice: 3.1.5 says only that they must be set first).
 *
 * Processing. An SQ tail doorbell makes the controller take commands from the SQ head while the
 * head differs from the tail: each entry is read by DMA, executed (data by DMA, page by page, never
 * crossing 4 KiB per request), and its completion written by DMA into the SQ's CQ at the CQ's tail
 * with the CQ's phase tag, which flips each time the tail wraps to 0 (the first pass writes 1). A
 * full CQ (tail + 1 = head) stops the SQ before its next command, which waits until a CQ head
 * doorbell frees a slot. A doorbell value beyond the queue, or for a queue that does not exist, is
 * ignored and counted (the specification reports it as an asynchronous event, not modelled).
 *
 * DMA goes through the bus (pci.ts): the bus's DmaRemapper with the controller's requester ID,
 * logged. With bus mastering off commands wait. A blocked data request completes its command with
 * Data Transfer Error (a Write's data is read whole before anything is stored, so the block stays
 * as it was; a Read stops at the blocked page). That a blocked write is learned at all is a
 * teaching choice: PCIe writes are posted and a real device would not hear of it. When a queue
 * entry cannot be read or a completion cannot be written, the controller cannot report it in a
 * completion queue; CSTS.CFS, "a fatal controller error occurred that could not be communicated in
 * the appropriate Completion Queue" (3.1.6), is that case, so the model sets CFS and stops all
 * processing until a reset (CC.EN 1 → 0). The command whose entry was read but whose completion
 * was lost has still been carried out.
 *
 * Interrupts (7.5.1.1, single MSI): vector 0 is asserted while any interrupt-enabled CQ holds
 * entries the host has not released (tail ≠ head) and INTMS bit 0 is clear. The controller sends
 * its MSI when that becomes true (entries posted, or INTMC unmasking pending entries), once per
 * doorbell's worth of completions; the next message needs the host to release the entries (CQ
 * head doorbell) or to mask and unmask.
 *
 * Simplifications: no time passes (a doorbell write carries every command it hands over to its
 * completion; the driver still polls phase tags or waits for the interrupt); no arbitration or
 * priorities (one SQ at a time, in doorbell order), no fused commands, SGLs, metadata, PRP lists,
 * MSI-X, Delete queue, Get Log Page, Set / Get Features, Abort, Asynchronous Event Request, reservations
 * or namespace management; the namespace is not persistent beyond the model's state.
 *
 * State is plain data (`snapshot` / `restore`, JSON-safe). The namespace is stored sparsely: only
 * blocks that hold a non-zero byte, each as base64 (a never-written block reads as zeros).
 */
import { readDwords, writeDwords } from './dword-regs.ts';
import type { DmaPurpose, PciFunctionModel, PciFunctionPort, PciFunctionSpec } from './pci.ts';
import { CMD } from './pci.ts';
import { msiCapability } from './msi.ts';

export const NVME_VENDOR = 0x1234;
export const NVME_DEVICE = 0x4e56;
export const NVME_BAR_SIZE = 0x4000;
export const BLOCK = 512;
export const PAGE = 4096;
export const SQE_SIZE = 64;
export const CQE_SIZE = 16;
/** CAP.MQES (0's based): the largest queue has 64 entries. */
export const MQES = 63;
export const MAX_IO_QUEUES = 4;
/** Identify's MDTS: 2^1 pages of 4 KiB. */
export const MDTS = 1;

export const NVME_REG = {
  CAP: 0x00,
  CAP_HI: 0x04,
  VS: 0x08,
  INTMS: 0x0c,
  INTMC: 0x10,
  CC: 0x14,
  CSTS: 0x1c,
  AQA: 0x24,
  ASQ: 0x28,
  ASQ_HI: 0x2c,
  ACQ: 0x30,
  ACQ_HI: 0x34,
  DOORBELL: 0x1000,
} as const;

/** SQy tail doorbell and CQy head doorbell offsets (CAP.DSTRD = 0). */
export const sqTailDoorbell = (qid: number) => NVME_REG.DOORBELL + 2 * qid * 4;
export const cqHeadDoorbell = (qid: number) => NVME_REG.DOORBELL + (2 * qid + 1) * 4;

export const CAP_LO = (MQES | (1 << 16) | (1 << 24)) >>> 0;
export const CAP_HI = (1 << (37 - 32)) >>> 0; // DSTRD 0, CSS bit 37 (NVM), MPSMIN = MPSMAX = 0
export const VS_1_4 = 0x00010400;
export const CC = { EN: 1, IOSQES_SHIFT: 16, IOCQES_SHIFT: 20, SHN_SHIFT: 14 } as const;
const CC_MASK = 0x00fffff1;
export const CSTS = { RDY: 1, CFS: 2 } as const;

export const ADMIN = { CREATE_SQ: 0x01, CREATE_CQ: 0x05, IDENTIFY: 0x06 } as const;
export const NVM = { FLUSH: 0x00, WRITE: 0x01, READ: 0x02 } as const;

/** Status code types and codes (4.6.1.2). */
export const SCT = { GENERIC: 0, COMMAND_SPECIFIC: 1 } as const;
export const SC = {
  SUCCESS: 0x00,
  INVALID_OPCODE: 0x01,
  INVALID_FIELD: 0x02,
  DATA_TRANSFER_ERROR: 0x04,
  INVALID_NAMESPACE: 0x0b,
  PRP_OFFSET_INVALID: 0x13,
  LBA_OUT_OF_RANGE: 0x80,
  // command specific (SCT 1)
  CQ_INVALID: 0x00,
  INVALID_QID: 0x01,
  INVALID_QSIZE: 0x02,
  INVALID_VECTOR: 0x08,
} as const;

/** The status field of a completion's DW3 (bits 31:17) as the driver sees it: SC, SCT, DNR. */
export function decodeStatus(dw3: number): { cid: number; phase: number; sc: number; sct: number; dnr: boolean } {
  return { cid: dw3 & 0xffff, phase: (dw3 >>> 16) & 1, sc: (dw3 >>> 17) & 0xff, sct: (dw3 >>> 25) & 7, dnr: (dw3 >>> 31) === 1 };
}

export interface SqState {
  base: string;
  size: number;
  head: number;
  tail: number;
  cqid: number;
}

export interface CqState {
  base: string;
  size: number;
  /** The host's head, from its doorbell. */
  head: number;
  tail: number;
  /** The phase tag the next completion is written with. */
  phase: number;
  ien: boolean;
  iv: number;
}

/** The controller's copy of a command it fetched, with the status it completed with. */
export interface SeenCommand {
  opcode: number;
  cid: number;
  nsid: number;
  prp1: string;
  prp2: string;
  cdw10: number;
  cdw11: number;
  cdw12: number;
  /** null while the command's completion was not posted (a fatal error came between). */
  status: { sct: number; sc: number } | null;
}

/** A completion the controller posted. */
export interface SeenCompletion {
  cid: number;
  sqid: number;
  sqhd: number;
  phase: number;
  sct: number;
  sc: number;
  dw0: number;
}

export interface NvmeState {
  cc: number;
  cfs: boolean;
  rdy: boolean;
  shst: number;
  intms: number;
  aqa: number;
  asq: [number, number];
  acq: [number, number];
  sqs: Record<number, SqState>;
  cqs: Record<number, CqState>;
  /** Whether vector 0's interrupt is asserted (the MSI is sent when it becomes so). */
  irq: boolean;
  /** Namespace 1: logical block → base64 of its 512 bytes, only blocks holding a non-zero byte. */
  blocks: Record<number, string>;
  seenSq: Record<number, Record<number, SeenCommand>>;
  seenCq: Record<number, Record<number, SeenCompletion>>;
  totals: { commands: number; errors: number; blocksRead: number; blocksWritten: number; msi: number; badDoorbells: number; fatal: number };
}

function freshState(blocks: Record<number, string> = {}): NvmeState {
  return {
    cc: 0,
    cfs: false,
    rdy: false,
    shst: 0,
    intms: 0,
    aqa: 0,
    asq: [0, 0],
    acq: [0, 0],
    sqs: {},
    cqs: {},
    irq: false,
    blocks,
    seenSq: {},
    seenCq: {},
    totals: { commands: 0, errors: 0, blocksRead: 0, blocksWritten: 0, msi: 0, badDoorbells: 0, fatal: 0 },
  };
}

export interface QueueSlotView {
  index: number;
  owner: 'driver' | 'device';
  command: SeenCommand | null;
  completion: SeenCompletion | null;
}

export interface QueueView {
  kind: 'sq' | 'cq';
  qid: number;
  base: string;
  size: number;
  head: number;
  tail: number;
  /** CQ: the phase tag of the next completion; SQ: the CQ it completes into. */
  phase?: number;
  cqid?: number;
  slots: QueueSlotView[];
}

export interface NvmeView {
  ready: boolean;
  fatal: boolean;
  masked: boolean;
  queues: QueueView[];
  blocks: number;
  usedBlocks: number;
  totals: NvmeState['totals'];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const u64 = (pair: readonly [number, number]) => (BigInt(pair[1] >>> 0) << 32n) | BigInt(pair[0] >>> 0);

/** Whether slot `i` of `count` lies in the half-open range from..to modulo count. */
export function inRange(i: number, from: number, to: number, count: number): boolean {
  return (i - from + count) % count < (to - from + count) % count;
}

interface Outcome {
  sct: number;
  sc: number;
  dw0?: number;
}
const ok: Outcome = { sct: SCT.GENERIC, sc: SC.SUCCESS };
const generic = (sc: number): Outcome => ({ sct: SCT.GENERIC, sc });
const specific = (sc: number): Outcome => ({ sct: SCT.COMMAND_SPECIFIC, sc });

export class NvmeController implements PciFunctionModel {
  readonly spec: PciFunctionSpec = {
    vendorId: NVME_VENDOR,
    deviceId: NVME_DEVICE,
    revision: 1,
    classCode: 0x010802,
    bars: [{ kind: 'mem32', size: NVME_BAR_SIZE }, null, null, null, null, null],
    commandBits: CMD.MEMORY | CMD.BUS_MASTER | CMD.INTX_DISABLE,
    interruptPin: 1,
    capabilities: [msiCapability()],
  };
  state: NvmeState = freshState();
  private port: PciFunctionPort | null = null;
  private busy = false;

  /** `blocks`: the namespace's size in 512-byte logical blocks. */
  constructor(
    readonly blocks = 1024,
    readonly name = 'nvme',
  ) {}

  connect(port: PciFunctionPort): void {
    this.port = port;
  }

  // ---- registers ----------------------------------------------------------------------------------

  private reg(off: number): number {
    const s = this.state;
    switch (off) {
      case NVME_REG.CAP: return CAP_LO;
      case NVME_REG.CAP_HI: return CAP_HI;
      case NVME_REG.VS: return VS_1_4;
      case NVME_REG.INTMS:
      case NVME_REG.INTMC: return s.intms;
      case NVME_REG.CC: return s.cc;
      case NVME_REG.CSTS: return (s.rdy ? CSTS.RDY : 0) | (s.cfs ? CSTS.CFS : 0) | (s.shst << 2);
      case NVME_REG.AQA: return s.aqa;
      case NVME_REG.ASQ: return s.asq[0];
      case NVME_REG.ASQ_HI: return s.asq[1];
      case NVME_REG.ACQ: return s.acq[0];
      case NVME_REG.ACQ_HI: return s.acq[1];
      default: return 0; // doorbells read 0 (3.1.24: reading them is not defined)
    }
  }

  barRead(_bar: number, offset: number, size: 1 | 2 | 4): number {
    return readDwords(offset, size, (d) => this.reg(d));
  }

  barWrite(_bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    // INTMS, INTMC and the doorbells take the written value alone; the others merge it.
    const w1 = (d: number): boolean => d === NVME_REG.INTMS || d === NVME_REG.INTMC || d >= NVME_REG.DOORBELL;
    writeDwords(offset, size, value, (d) => (w1(d) ? 0 : this.reg(d)), (d, v) => this.writeReg(d, v));
  }

  private writeReg(off: number, v: number): void {
    const s = this.state;
    if (off >= NVME_REG.DOORBELL) {
      const idx = (off - NVME_REG.DOORBELL) >> 2;
      if ((idx & 1) === 0) this.sqDoorbell(idx >> 1, v);
      else this.cqDoorbell(idx >> 1, v);
      return;
    }
    switch (off) {
      case NVME_REG.INTMS:
        s.intms |= v & 1;
        this.updateIrq();
        return;
      case NVME_REG.INTMC:
        s.intms &= ~(v & 1);
        this.updateIrq();
        return;
      case NVME_REG.CC: this.writeCc(v & CC_MASK); return;
      case NVME_REG.AQA: s.aqa = v & 0x0fff0fff; return;
      case NVME_REG.ASQ: s.asq[0] = (v & ~0xfff) >>> 0; return;
      case NVME_REG.ASQ_HI: s.asq[1] = v; return;
      case NVME_REG.ACQ: s.acq[0] = (v & ~0xfff) >>> 0; return;
      case NVME_REG.ACQ_HI: s.acq[1] = v; return;
      default: // read only or not modelled
    }
  }

  private writeCc(v: number): void {
    const s = this.state;
    const was = (s.cc & CC.EN) !== 0;
    const now = (v & CC.EN) !== 0;
    s.cc = v;
    if (was && !now) this.reset();
    else if (!was && now) {
      const asqs = (s.aqa & 0xfff) + 1;
      const acqs = ((s.aqa >>> 16) & 0xfff) + 1;
      if (asqs >= 2 && acqs >= 2) {
        s.sqs = { 0: { base: hex(u64(s.asq)), size: asqs, head: 0, tail: 0, cqid: 0 } };
        s.cqs = { 0: { base: hex(u64(s.acq)), size: acqs, head: 0, tail: 0, phase: 1, ien: true, iv: 0 } };
        s.rdy = true;
      }
    }
    if (((v >>> CC.SHN_SHIFT) & 3) !== 0) s.shst = 2;
    else s.shst = 0;
  }

  /** Controller reset (CC.EN 1 → 0): queues gone, status and mask cleared, the namespace kept. */
  private reset(): void {
    const s = this.state;
    s.sqs = {};
    s.cqs = {};
    s.rdy = false;
    s.cfs = false;
    s.intms = 0;
    s.irq = false;
  }

  private sqDoorbell(qid: number, v: number): void {
    const s = this.state;
    const sq = s.sqs[qid];
    if (!s.rdy || sq === undefined || v >= sq.size) {
      s.totals.badDoorbells++;
      return;
    }
    sq.tail = v;
    this.process([qid]);
  }

  private cqDoorbell(qid: number, v: number): void {
    const s = this.state;
    const cq = s.cqs[qid];
    if (!s.rdy || cq === undefined || v >= cq.size) {
      s.totals.badDoorbells++;
      return;
    }
    cq.head = v;
    this.updateIrq();
    // submission queues that stopped on this full CQ may go on
    const waiting = Object.keys(s.sqs).map(Number).filter((q) => s.sqs[q]!.cqid === qid && s.sqs[q]!.head !== s.sqs[q]!.tail);
    if (waiting.length > 0) this.process(waiting);
  }

  // ---- interrupts ---------------------------------------------------------------------------------

  private updateIrq(): void {
    const s = this.state;
    let pending = false;
    for (const cq of Object.values(s.cqs)) if (cq.ien && cq.iv === 0 && cq.head !== cq.tail) pending = true;
    const level = pending && (s.intms & 1) === 0;
    if (level && !s.irq && this.port !== null && this.port.signalMsi()) s.totals.msi++;
    s.irq = level;
  }

  // ---- DMA ----------------------------------------------------------------------------------------

  private master(): boolean {
    return (this.port!.command() & CMD.BUS_MASTER) !== 0;
  }

  /** Reads `n` bytes at `at`, one request per page; null if one was blocked. */
  private readSpan(at: bigint, n: number, what: DmaPurpose): Uint8Array | null {
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const a = at + BigInt(done);
      const piece = Math.min(n - done, PAGE - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) return null;
      const r = this.port!.dmaRead(a, piece, what);
      if (r.bytes === null) return null;
      out.set(r.bytes, done);
      done += piece;
    }
    return out;
  }

  private writeSpan(at: bigint, data: Uint8Array, what: DmaPurpose): boolean {
    let done = 0;
    while (done < data.length) {
      const a = at + BigInt(done);
      const piece = Math.min(data.length - done, PAGE - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) return false;
      const w = this.port!.dmaWrite(a, data.subarray(done, done + piece), what);
      if (w.outcome === null || !w.outcome.ok) return false;
      done += piece;
    }
    return true;
  }

  /** The pieces of a `len`-byte transfer through PRP1 and PRP2, or the status refusing it. */
  private prpPieces(prp1: bigint, prp2: bigint, len: number): { at: bigint; n: number }[] | Outcome {
    if ((prp1 & 3n) !== 0n) return generic(SC.PRP_OFFSET_INVALID);
    const first = Math.min(len, PAGE - Number(prp1 & 0xfffn));
    const rest = len - first;
    if (rest === 0) return [{ at: prp1, n: first }];
    if (rest > PAGE) return generic(SC.INVALID_FIELD); // would need a PRP list (not modelled)
    if ((prp2 & 0xfffn) !== 0n) return generic(SC.PRP_OFFSET_INVALID);
    return [{ at: prp1, n: first }, { at: prp2, n: rest }];
  }

  /** Writes `data` to the host through PRP1 / PRP2 page by page; the status. */
  private toHost(prp1: bigint, prp2: bigint, data: Uint8Array): Outcome {
    const pieces = this.prpPieces(prp1, prp2, data.length);
    if (!Array.isArray(pieces)) return pieces;
    let done = 0;
    for (const p of pieces) {
      if (!this.writeSpan(p.at, data.subarray(done, done + p.n), 'data')) return generic(SC.DATA_TRANSFER_ERROR);
      done += p.n;
    }
    return ok;
  }

  private fromHost(prp1: bigint, prp2: bigint, len: number): Uint8Array | Outcome {
    const pieces = this.prpPieces(prp1, prp2, len);
    if (!Array.isArray(pieces)) return pieces;
    const out = new Uint8Array(len);
    let done = 0;
    for (const p of pieces) {
      const b = this.readSpan(p.at, p.n, 'data');
      if (b === null) return generic(SC.DATA_TRANSFER_ERROR);
      out.set(b, done);
      done += p.n;
    }
    return out;
  }

  // ---- queues -------------------------------------------------------------------------------------

  private process(qids: number[]): void {
    if (this.port === null) throw new Error('the controller is not on a bus');
    if (this.busy) return;
    this.busy = true;
    try {
      for (const qid of qids) this.processSq(qid);
    } finally {
      this.busy = false;
    }
    this.updateIrq();
  }

  private processSq(qid: number): void {
    const s = this.state;
    for (;;) {
      const sq = s.sqs[qid];
      if (sq === undefined || !s.rdy || s.cfs || sq.head === sq.tail || !this.master()) return;
      const cq = s.cqs[sq.cqid]!;
      if ((cq.tail + 1) % cq.size === cq.head) return; // full: wait for the host's CQ head doorbell
      const slot = sq.head;
      const e = this.readSpan(BigInt(sq.base) + BigInt(slot * SQE_SIZE), SQE_SIZE, 'ring');
      if (e === null) {
        this.fatal();
        return;
      }
      const dw = (i: number) => (e[4 * i]! | (e[4 * i + 1]! << 8) | (e[4 * i + 2]! << 16) | (e[4 * i + 3]! << 24)) >>> 0;
      const qw = (i: number) => (BigInt(dw(i + 1)) << 32n) | BigInt(dw(i));
      const cmd: SeenCommand = {
        opcode: dw(0) & 0xff,
        cid: dw(0) >>> 16,
        nsid: dw(1),
        prp1: hex(qw(6)),
        prp2: hex(qw(8)),
        cdw10: dw(10),
        cdw11: dw(11),
        cdw12: dw(12),
        status: null,
      };
      (s.seenSq[qid] ??= {})[slot] = cmd;
      sq.head = (slot + 1) % sq.size;
      s.totals.commands++;
      const out = qid === 0 ? this.admin(cmd) : this.io(cmd);
      if (out.sc !== SC.SUCCESS || out.sct !== SCT.GENERIC) s.totals.errors++;
      if (!this.post(sq.cqid, qid, cmd.cid, out)) {
        this.fatal();
        return;
      }
      // the same object as in seenSq unless a Create / reset replaced the records
      cmd.status = { sct: out.sct, sc: out.sc };
    }
  }

  private post(cqid: number, sqid: number, cid: number, out: Outcome): boolean {
    const s = this.state;
    const cq = s.cqs[cqid]!;
    const sq = s.sqs[sqid];
    const sqhd = sq === undefined ? 0 : sq.head;
    const error = out.sc !== SC.SUCCESS || out.sct !== SCT.GENERIC;
    const dw3 = (cid | (cq.phase << 16) | (out.sc << 17) | (out.sct << 25) | (error ? 1 << 31 : 0)) >>> 0;
    const dw0 = (out.dw0 ?? 0) >>> 0;
    const bytes = new Uint8Array(CQE_SIZE);
    const put = (at: number, v: number) => {
      for (let i = 0; i < 4; i++) bytes[at + i] = (v >>> (8 * i)) & 0xff;
    };
    put(0, dw0);
    put(8, (sqhd | (sqid << 16)) >>> 0);
    put(12, dw3);
    const slot = cq.tail;
    if (!this.writeSpan(BigInt(cq.base) + BigInt(slot * CQE_SIZE), bytes, 'ring')) return false;
    (s.seenCq[cqid] ??= {})[slot] = { cid, sqid, sqhd, phase: cq.phase, sct: out.sct, sc: out.sc, dw0 };
    cq.tail = (slot + 1) % cq.size;
    if (cq.tail === 0) cq.phase ^= 1;
    return true;
  }

  private fatal(): void {
    this.state.cfs = true;
    this.state.totals.fatal++;
  }

  // ---- admin commands -----------------------------------------------------------------------------

  private admin(c: SeenCommand): Outcome {
    const s = this.state;
    switch (c.opcode) {
      case ADMIN.IDENTIFY: {
        const cns = c.cdw10 & 0xff;
        let data: Uint8Array;
        if (cns === 1) data = this.identifyController();
        else if (cns === 0) {
          if (c.nsid !== 1) return generic(SC.INVALID_NAMESPACE);
          data = this.identifyNamespace();
        } else return generic(SC.INVALID_FIELD);
        return this.toHost(BigInt(c.prp1), BigInt(c.prp2), data);
      }
      case ADMIN.CREATE_CQ: {
        const qid = c.cdw10 & 0xffff;
        const size = (c.cdw10 >>> 16) + 1;
        if (qid === 0 || qid > MAX_IO_QUEUES || s.cqs[qid] !== undefined) return specific(SC.INVALID_QID);
        if (size < 2 || size > MQES + 1) return specific(SC.INVALID_QSIZE);
        if ((c.cdw11 & 1) === 0) return generic(SC.INVALID_FIELD);
        if ((c.cdw11 & 2) !== 0 && c.cdw11 >>> 16 !== 0) return specific(SC.INVALID_VECTOR); // IV matters only with IEN
        if ((BigInt(c.prp1) & 0xfffn) !== 0n) return generic(SC.PRP_OFFSET_INVALID);
        if (((s.cc >>> CC.IOCQES_SHIFT) & 0xf) !== 4) return generic(SC.INVALID_FIELD);
        s.cqs[qid] = { base: c.prp1, size, head: 0, tail: 0, phase: 1, ien: (c.cdw11 & 2) !== 0, iv: 0 };
        delete s.seenCq[qid];
        return ok;
      }
      case ADMIN.CREATE_SQ: {
        const qid = c.cdw10 & 0xffff;
        const size = (c.cdw10 >>> 16) + 1;
        const cqid = c.cdw11 >>> 16;
        if (qid === 0 || qid > MAX_IO_QUEUES || s.sqs[qid] !== undefined) return specific(SC.INVALID_QID);
        if (size < 2 || size > MQES + 1) return specific(SC.INVALID_QSIZE);
        if ((c.cdw11 & 1) === 0) return generic(SC.INVALID_FIELD);
        if (cqid === 0 || s.cqs[cqid] === undefined) return specific(SC.CQ_INVALID);
        if ((BigInt(c.prp1) & 0xfffn) !== 0n) return generic(SC.PRP_OFFSET_INVALID);
        if (((s.cc >>> CC.IOSQES_SHIFT) & 0xf) !== 6) return generic(SC.INVALID_FIELD);
        s.sqs[qid] = { base: c.prp1, size, head: 0, tail: 0, cqid };
        delete s.seenSq[qid];
        return ok;
      }
      default:
        return generic(SC.INVALID_OPCODE);
    }
  }

  /** Identify Controller (CNS 1; 5.15, Identify): the fields a driver needs, the rest 0. */
  private identifyController(): Uint8Array {
    const d = new Uint8Array(PAGE);
    const ascii = (at: number, n: number, text: string) => {
      for (let i = 0; i < n; i++) d[at + i] = i < text.length ? text.charCodeAt(i) : 0x20;
    };
    d[0] = NVME_VENDOR & 0xff; // VID
    d[1] = NVME_VENDOR >> 8;
    d[2] = NVME_VENDOR & 0xff; // SSVID
    d[3] = NVME_VENDOR >> 8;
    ascii(4, 20, 'RING-1-0001'); // SN
    ascii(24, 40, 'Ring -1 teaching NVMe controller'); // MN
    ascii(64, 8, '1.0'); // FR
    d[77] = MDTS;
    d[80] = VS_1_4 & 0xff; // VER (bytes 80..83)
    d[81] = (VS_1_4 >>> 8) & 0xff;
    d[82] = (VS_1_4 >>> 16) & 0xff;
    d[512] = 0x66; // SQES: required and maximum 64 bytes (2^6)
    d[513] = 0x44; // CQES: 16 bytes (2^4)
    d[516] = 1; // NN: one namespace
    return d;
  }

  /** Identify Namespace (CNS 0; 5.15): its size and one LBA format of 512 bytes. */
  private identifyNamespace(): Uint8Array {
    const d = new Uint8Array(PAGE);
    for (const at of [0, 8, 16]) {
      // NSZE, NCAP, NUSE
      let v = this.blocks;
      for (let i = 0; i < 8; i++) {
        d[at + i] = v & 0xff;
        v = Math.floor(v / 256);
      }
    }
    d[25] = 0; // NLBAF: one format (0's based)
    d[26] = 0; // FLBAS: format 0
    d[128 + 2] = 9; // LBAF0: LBADS = 9 (2^9 = 512 bytes), MS = 0, RP = 0
    return d;
  }

  // ---- NVM commands -------------------------------------------------------------------------------

  private io(c: SeenCommand): Outcome {
    const s = this.state;
    if (c.opcode !== NVM.FLUSH && c.opcode !== NVM.WRITE && c.opcode !== NVM.READ) return generic(SC.INVALID_OPCODE);
    if (c.nsid !== 1 && !(c.opcode === NVM.FLUSH && c.nsid === 0xffffffff)) return generic(SC.INVALID_NAMESPACE);
    if (c.opcode === NVM.FLUSH) return ok;
    const nlb = (c.cdw12 & 0xffff) + 1;
    if (c.cdw11 !== 0 || c.cdw10 + nlb > this.blocks) return generic(SC.LBA_OUT_OF_RANGE);
    const slba = c.cdw10;
    const len = nlb * BLOCK;
    if (len > PAGE << MDTS) return generic(SC.INVALID_FIELD);
    const prp1 = BigInt(c.prp1);
    const prp2 = BigInt(c.prp2);
    if (c.opcode === NVM.WRITE) {
      const data = this.fromHost(prp1, prp2, len);
      if (!(data instanceof Uint8Array)) return data;
      for (let k = 0; k < nlb; k++) this.putBlock(slba + k, data.subarray(k * BLOCK, (k + 1) * BLOCK));
      s.totals.blocksWritten += nlb;
      return ok;
    }
    const data = new Uint8Array(len);
    for (let k = 0; k < nlb; k++) data.set(this.block(slba + k), k * BLOCK);
    const out = this.toHost(prp1, prp2, data);
    if (out.sc === SC.SUCCESS) s.totals.blocksRead += nlb;
    return out;
  }

  /** Logical block `lba`'s 512 bytes. */
  block(lba: number): Uint8Array {
    const b = this.state.blocks[lba];
    return b === undefined ? new Uint8Array(BLOCK) : fromBase64(b);
  }

  private putBlock(lba: number, data: Uint8Array): void {
    if (data.every((x) => x === 0)) delete this.state.blocks[lba];
    else this.state.blocks[lba] = toBase64(data);
  }

  // ---- views and state ----------------------------------------------------------------------------

  /** Every queue slot by slot: owner by head and tail, the last command or completion seen there. */
  ringView(): NvmeView {
    const s = this.state;
    const queues: QueueView[] = [];
    const ids = (r: Record<number, unknown>) => Object.keys(r).map(Number).sort((a, b) => a - b);
    for (const qid of ids(s.sqs)) {
      const q = s.sqs[qid]!;
      const seen = s.seenSq[qid] ?? {};
      const slots: QueueSlotView[] = [];
      for (let i = 0; i < q.size; i++) {
        const c = seen[i];
        slots.push({ index: i, owner: inRange(i, q.head, q.tail, q.size) ? 'device' : 'driver', command: c === undefined ? null : { ...c, status: c.status === null ? null : { ...c.status } }, completion: null });
      }
      queues.push({ kind: 'sq', qid, base: q.base, size: q.size, head: q.head, tail: q.tail, cqid: q.cqid, slots });
    }
    for (const qid of ids(s.cqs)) {
      const q = s.cqs[qid]!;
      const seen = s.seenCq[qid] ?? {};
      const slots: QueueSlotView[] = [];
      for (let i = 0; i < q.size; i++) {
        const c = seen[i];
        // posted entries (head .. tail - 1) are the host's to consume; the rest the controller's to fill
        slots.push({ index: i, owner: inRange(i, q.head, q.tail, q.size) ? 'driver' : 'device', command: null, completion: c === undefined ? null : { ...c } });
      }
      queues.push({ kind: 'cq', qid, base: q.base, size: q.size, head: q.head, tail: q.tail, phase: q.phase, slots });
    }
    return { ready: s.rdy, fatal: s.cfs, masked: (s.intms & 1) !== 0, queues, blocks: this.blocks, usedBlocks: Object.keys(s.blocks).length, totals: { ...s.totals } };
  }

  snapshot(): NvmeState {
    return JSON.parse(JSON.stringify(this.state)) as NvmeState;
  }

  restore(state: unknown): void {
    this.state = JSON.parse(JSON.stringify(state)) as NvmeState;
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function toBase64(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + (i + 1 < b.length ? B64[(n >> 6) & 63]! : '=') + (i + 2 < b.length ? B64[n & 63]! : '=');
  }
  return out;
}

export function fromBase64(s: string): Uint8Array {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n = (B64.indexOf(s[i]!) << 18) | (B64.indexOf(s[i + 1]!) << 12) | ((B64.indexOf(s[i + 2]!) & 63) << 6) | (B64.indexOf(s[i + 3]!) & 63);
    for (const v of [n >> 16, (n >> 8) & 0xff, n & 0xff]) if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}
