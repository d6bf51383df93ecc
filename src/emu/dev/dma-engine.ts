/**
 * A copy engine: a small DMA-capable PCI function made for teaching (it is no real product). It
 * uses the test vendor ID 0x1234 (the ID QEMU's own emulated devices use, not a registered
 * vendor's) with device ID 0xC0DE, class 0x088000 ("other system peripheral").
 *
 * BAR0: 4 KiB of 32-bit, non-prefetchable memory (its registers have side effects), dwords:
 *   0x00 SRC_LO, 0x04 SRC_HI   source bus address (an IOVA when an IOMMU translates)
 *   0x08 DST_LO, 0x0C DST_HI   destination bus address
 *   0x10 LEN                   bytes to copy, 1 .. MAX_LENGTH
 *   0x14 DOORBELL              writing a value with bit 0 set starts the copy (reads 0)
 *   0x18 STATUS                bit 0 DONE, bit 1 ERROR (read only; cleared when a copy starts)
 *   0x1C ERROR                 why the last copy failed (ERR), 0 if it did not
 *   0x20 COPIED                bytes written to the destination by the last copy
 *   0x24 ID                    'CPYE' (0x45595043), a constant a driver can check
 * Narrower accesses read or merge the bytes of the dword they fall in; other offsets read 0.
 *
 * A copy runs to its end when the doorbell rings (no time passes: deterministic and simple, and
 * the guest still polls STATUS as a driver would). It moves nothing unless the command register's
 * bus master bit is set (ERR.BUS_MASTER_OFF). It copies in pieces that cross no 4 KiB boundary on
 * either side, each piece a DMA read then a DMA write through the bus (the bus's remapper decides
 * each with the function's requester ID). A blocked read stops the copy (ERR.READ_BLOCKED: the
 * completer answers such a read with an Unsupported Request completion, so a real device learns
 * of it). A blocked write stops it too (ERR.WRITE_BLOCKED), but that one is a teaching choice: on
 * PCIe a memory write is posted, no completion comes back, and a real device would not learn that
 * the IOMMU dropped it; the IOMMU's fault record is the only trace. Pieces copied before the block
 * stay copied (COPIED says how many bytes). When the copy ends, done or failed, the function
 * signals its MSI if the guest enabled it (msi.ts).
 */
import { readDwords, writeDwords } from './dword-regs.ts';
import type { PciFunctionModel, PciFunctionPort, PciFunctionSpec } from './pci.ts';
import { CMD } from './pci.ts';
import { msiCapability } from './msi.ts';

export const COPY_ENGINE_VENDOR = 0x1234;
export const COPY_ENGINE_DEVICE = 0xc0de;
export const COPY_ENGINE_ID = 0x45595043; // 'CPYE' little-endian

export const REG = { SRC_LO: 0x00, SRC_HI: 0x04, DST_LO: 0x08, DST_HI: 0x0c, LEN: 0x10, DOORBELL: 0x14, STATUS: 0x18, ERROR: 0x1c, COPIED: 0x20, ID: 0x24 } as const;
export const STATUS = { DONE: 1 << 0, ERROR: 1 << 1 } as const;
export const ERR = {
  NONE: 0,
  /** The command register's bus master bit is clear: nothing was read or written. */
  BUS_MASTER_OFF: 1,
  /** LEN is 0 or above MAX_LENGTH, or an address range wraps past 2^64. */
  BAD_LENGTH: 2,
  /** A DMA read of the source was blocked (IOMMU fault, or no host page). */
  READ_BLOCKED: 3,
  /** A DMA write of the destination was blocked. */
  WRITE_BLOCKED: 4,
} as const;

export const MAX_LENGTH = 0x100000;
const BAR_SIZE = 0x1000;

export interface CopyEngineState {
  srcLo: number;
  srcHi: number;
  dstLo: number;
  dstHi: number;
  len: number;
  status: number;
  error: number;
  copied: number;
  /** Copies started (doorbells rung). */
  runs: number;
}

function freshState(): CopyEngineState {
  return { srcLo: 0, srcHi: 0, dstLo: 0, dstHi: 0, len: 0, status: 0, error: 0, copied: 0, runs: 0 };
}

export class CopyEngine implements PciFunctionModel {
  readonly spec: PciFunctionSpec = {
    vendorId: COPY_ENGINE_VENDOR,
    deviceId: COPY_ENGINE_DEVICE,
    revision: 1,
    classCode: 0x088000,
    bars: [{ kind: 'mem32', size: BAR_SIZE }, null, null, null, null, null],
    commandBits: CMD.MEMORY | CMD.BUS_MASTER | CMD.INTX_DISABLE,
    interruptPin: 1,
    capabilities: [msiCapability()],
  };
  state: CopyEngineState = freshState();
  private port: PciFunctionPort | null = null;

  constructor(readonly name = 'copy-engine') {}

  connect(port: PciFunctionPort): void {
    this.port = port;
  }

  private reg(off: number): number {
    const s = this.state;
    switch (off) {
      case REG.SRC_LO: return s.srcLo;
      case REG.SRC_HI: return s.srcHi;
      case REG.DST_LO: return s.dstLo;
      case REG.DST_HI: return s.dstHi;
      case REG.LEN: return s.len;
      case REG.STATUS: return s.status;
      case REG.ERROR: return s.error;
      case REG.COPIED: return s.copied;
      case REG.ID: return COPY_ENGINE_ID;
      default: return 0;
    }
  }

  barRead(_bar: number, offset: number, size: 1 | 2 | 4): number {
    return readDwords(offset, size, (d) => this.reg(d));
  }

  barWrite(_bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    writeDwords(offset, size, value, (d) => this.reg(d), (d, v, touched) => this.writeReg(d, v, touched));
  }

  private writeReg(off: number, v: number, touched: number): void {
    const s = this.state;
    switch (off) {
      case REG.SRC_LO: s.srcLo = v; break;
      case REG.SRC_HI: s.srcHi = v; break;
      case REG.DST_LO: s.dstLo = v; break;
      case REG.DST_HI: s.dstHi = v; break;
      case REG.LEN: s.len = v; break;
      case REG.DOORBELL:
        if ((touched & 1) !== 0 && (v & 1) !== 0) this.run();
        break;
      default: // read-only or unused
    }
  }

  /** True while a copy runs: a DMA write that reaches this function's own BAR cannot start another. */
  private busy = false;

  private run(): void {
    const s = this.state;
    const port = this.port;
    if (port === null) throw new Error('the copy engine is not on a bus');
    if (this.busy) return;
    this.busy = true;
    try {
      this.copy(s, port);
    } finally {
      this.busy = false;
    }
    port.signalMsi();
  }

  private copy(s: CopyEngineState, port: PciFunctionPort): void {
    s.runs++;
    s.status = 0;
    s.error = ERR.NONE;
    s.copied = 0;
    const fail = (code: number) => {
      s.error = code;
      s.status = STATUS.DONE | STATUS.ERROR;
    };
    const src = (BigInt(s.srcHi) << 32n) | BigInt(s.srcLo);
    const dst = (BigInt(s.dstHi) << 32n) | BigInt(s.dstLo);
    const len = s.len;
    if ((port.command() & CMD.BUS_MASTER) === 0) fail(ERR.BUS_MASTER_OFF);
    else if (len === 0 || len > MAX_LENGTH || src + BigInt(len) > 1n << 64n || dst + BigInt(len) > 1n << 64n) fail(ERR.BAD_LENGTH);
    else {
      let done = 0;
      while (done < len) {
        const a = src + BigInt(done);
        const b = dst + BigInt(done);
        const piece = Math.min(len - done, 0x1000 - Number(a & 0xfffn), 0x1000 - Number(b & 0xfffn));
        const r = port.dmaRead(a, piece, 'data');
        if (r.bytes === null) {
          fail(ERR.READ_BLOCKED);
          break;
        }
        const w = port.dmaWrite(b, r.bytes, 'data');
        if (w.outcome === null || !w.outcome.ok) {
          fail(ERR.WRITE_BLOCKED);
          break;
        }
        done += piece;
        s.copied = done;
      }
      if (s.error === ERR.NONE) s.status = STATUS.DONE;
    }
  }

  snapshot(): CopyEngineState {
    return { ...this.state };
  }

  restore(state: unknown): void {
    this.state = { ...(state as CopyEngineState) };
  }
}
