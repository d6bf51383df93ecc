/**
 * AMD-Vi DMA remapping (AMD I/O Virtualization Technology (IOMMU) Specification #48882:
 * "Device Table Entry", "I/O Page Tables", "Event Log", "IO_PAGE_FAULT Event"; field positions
 * as in tests/reference/amd-vi.json). Host (v1) page tables only: guest translation (DTE.GV),
 * PPR, interrupt remapping, ATS and the command buffer are not modelled; the invalidation
 * commands are method calls.
 *
 * The unit reads, on a cache miss:
 *   device-table base (MMIO 0x0000) → 32-byte DTE [DeviceID] → V, TV, Mode, page-table root,
 *   IR, IW, DomainID → `Mode` levels of I/O page tables, each entry's Next Level saying which
 *   level comes next (levels may be skipped: the skipped IOVA bits must then be zero), 0 for a
 *   leaf at the entry's own level (a large page), 7 for a leaf of a non-default size encoded in
 *   its address bits (software writes such an entry into every slot the page spans; the walk
 *   reads only the slot the IOVA indexes, as hardware does).
 *
 * Choices where the lab had to pick (and tests pin):
 *   - IOMMU_EN = 0, DTE.V = 0, and DTE.V = 1 with TV = 0 all pass the request untranslated (the
 *     last as QEMU's hw/i386/amd_iommu.c does: it walks only when TV = 1).
 *   - Mode 0 (translation disabled) passes untranslated but still checks DTE.IR/IW.
 *   - A DeviceID beyond the device table's Size, DTE reserved bits 6:2 set, or Mode 7 in a DTE
 *     are ILLEGAL_DEV_TABLE_ENTRY (type 1).
 *   - A page-table pointer outside RAM is PAGE_TAB_HW_ERROR (type 4), a device table outside RAM
 *     DEV_TAB_HW_ERROR (type 3); their address is the entry's physical address.
 *   - Not present, lacking IR/IW, reserved bits 58:52, a Next Level not below the current level,
 *     non-zero skipped IOVA bits, an IOVA above the Mode's reach and a bad Next Level 7 size are
 *     IO_PAGE_FAULT (type 2). Flags: RW (0x020) for a write; I (0x008) and TR (0x100) are 0 (no
 *     interrupt or translation requests here); PR (0x010) is never set: amd-vi.json marks it
 *     unconfirmed.
 *   - DTE.SA (bit 98) suppresses logging of IO_PAGE_FAULTs; the request is still blocked.
 *   - An IOTLB hit that lacks the needed right is dropped and the tables are walked again.
 */
import { bit, bits, checkRequest, readEntry, type AmdViEvent, type DmaOutcome, type IommuFault, type DmaRemapper, type DmaRequest, type IommuMemory, type TableRef } from './types.ts';

/** MMIO register offsets (amd-vi.json `mmio_registers`). */
export const AMDVI_REG = {
  DEV_TABLE_BASE: 0x0000,
  CMD_BUF_BASE: 0x0008,
  EVENT_LOG_BASE: 0x0010,
  CONTROL: 0x0018,
  EXCLUSION_BASE: 0x0020,
  EXCLUSION_LIMIT: 0x0028,
  EXT_FEATURES: 0x0030,
  EVENT_HEAD: 0x2010,
  EVENT_TAIL: 0x2018,
  STATUS: 0x2020,
} as const;

/** Control register bits (amd-vi.json `control_register_bits`). */
export const CTRL_IOMMU_EN = 0;
export const CTRL_EVT_LOG_EN = 2;

/** Status register bits (AMD IOMMU spec, "IOMMU Status Register"): both write-1-to-clear. */
export const STATUS_EVENT_OVERFLOW = 0;
export const STATUS_EVENT_LOG_INT = 1;

/** Event codes (amd-vi.json `event_log.types`). */
export const AMDVI_EVENT = {
  ILLEGAL_DEV_TABLE_ENTRY: 1,
  IO_PAGE_FAULT: 2,
  DEV_TAB_HW_ERROR: 3,
  PAGE_TAB_HW_ERROR: 4,
} as const;

/** IO_PAGE_FAULT flag bits (dword1 bits 27:16; amd-vi.json `io_page_fault_flags`). */
export const EVENT_FLAG_I = 0x008;
export const EVENT_FLAG_RW = 0x020;

/** DTE bits (amd-vi.json `dte_256bit`). */
export const DTE = { V: 0, TV: 1, MODE_LO: 9, MODE_HI: 11, ROOT_LO: 12, ROOT_HI: 51, GV: 55, IR: 61, IW: 62, DOMAIN_LO: 64, DOMAIN_HI: 79, SA: 98 } as const;

/** I/O page-table entry bits (amd-vi.json `io_pte_pde_64bit`). */
export const IOPTE = { PR: 0, NL_LO: 9, NL_HI: 11, ADDR_LO: 12, ADDR_HI: 51, RSVD_LO: 52, RSVD_HI: 58, IR: 61, IW: 62 } as const;

/** The address that, with S = 1, names every page (amd-vi.json `commands.note`). */
export const ALL_PAGES_ADDRESS = 0x7fff_ffff_ffff_f000n;

export interface AmdViIotlbEntry {
  domainId: number;
  shift: number;
  /** IOVA >> shift, hex. */
  vpn: string;
  hpaBase: number;
  r: boolean;
  w: boolean;
}

/** A cached DTE (its raw 256 bits as hex). */
export interface AmdViDteCacheEntry {
  deviceId: number;
  raw: string;
}

export interface AmdViStats {
  iotlbHits: number;
  iotlbMisses: number;
  dteHits: number;
  dteMisses: number;
}

export interface AmdViState {
  /** MMIO registers, one number a dword (offset / 4), up to the status register. */
  regs: number[];
  iotlb: AmdViIotlbEntry[];
  dteCache: AmdViDteCacheEntry[];
  stats: AmdViStats;
}

const REG_END = 0x2028;

export class AmdViRemapper implements DmaRemapper {
  readonly vendor = 'amd-vi' as const;
  readonly mem: IommuMemory;
  private regs: number[] = new Array<number>(REG_END / 4).fill(0);
  private iotlb = new Map<string, AmdViIotlbEntry>();
  private shifts = new Set<number>();
  private dteCache = new Map<number, bigint>();
  stats: AmdViStats = { iotlbHits: 0, iotlbMisses: 0, dteHits: 0, dteMisses: 0 };

  constructor(mem: IommuMemory) {
    this.mem = mem;
  }

  // ---- MMIO registers ------------------------------------------------------------------------

  read64(off: number): bigint {
    this.checkOff(off);
    return (BigInt(this.regs[(off >> 2) + 1]!) << 32n) | BigInt(this.regs[off >> 2]!);
  }

  write64(off: number, v: bigint): void {
    this.checkOff(off);
    if (off === AMDVI_REG.EXT_FEATURES) return; // read-only (no features advertised)
    if (off === AMDVI_REG.STATUS) v = this.read64(off) & ~(v & 0b11n); // RW1C
    if (off === AMDVI_REG.EVENT_TAIL || off === AMDVI_REG.EVENT_HEAD) v &= 0x7fff0n; // bits 18:4
    this.regs[off >> 2] = Number(v & 0xffffffffn);
    this.regs[(off >> 2) + 1] = Number((v >> 32n) & 0xffffffffn);
  }

  private checkOff(off: number): void {
    if (off < 0 || off + 8 > REG_END || off % 8 !== 0) throw new RangeError(`no AMD-Vi register at 0x${off.toString(16)}`);
  }

  private control(b: number): boolean {
    return bit(this.read64(AMDVI_REG.CONTROL), b);
  }

  get enabled(): boolean {
    return this.control(CTRL_IOMMU_EN);
  }

  /** Device-table base and its size in bytes ((Size + 1) × 4 KiB). */
  private deviceTable(): { base: number; bytes: number } {
    const v = this.read64(AMDVI_REG.DEV_TABLE_BASE);
    return { base: Number(bits(v, 51, 12) << 12n), bytes: (Number(bits(v, 8, 0)) + 1) * 4096 };
  }

  /** Event-log base and its size in bytes (2^EventLen entries of 16 bytes). */
  private eventLog(): { base: number; bytes: number } {
    const v = this.read64(AMDVI_REG.EVENT_LOG_BASE);
    return { base: Number(bits(v, 51, 12) << 12n), bytes: 16 * 2 ** Number(bits(v, 59, 56)) };
  }

  /** Writes an event at the tail, unless logging is off or the log is full (then: overflow). */
  private logEvent(ev: AmdViEvent): boolean {
    if (!this.control(CTRL_IOMMU_EN) || !this.control(CTRL_EVT_LOG_EN)) return false;
    const { base, bytes } = this.eventLog();
    const head = Number(this.read64(AMDVI_REG.EVENT_HEAD));
    const tail = Number(this.read64(AMDVI_REG.EVENT_TAIL));
    const next = (tail + 16) % bytes;
    const status = this.read64(AMDVI_REG.STATUS);
    if (next === head) {
      this.regs[AMDVI_REG.STATUS >> 2] = Number((status | (1n << BigInt(STATUS_EVENT_OVERFLOW))) & 0xffffffffn);
      return false;
    }
    for (let i = 0; i < 4; i++) this.mem.write(base + tail + 4 * i, 4, ev.dwords[i]!);
    this.regs[AMDVI_REG.EVENT_TAIL >> 2] = next;
    this.regs[AMDVI_REG.STATUS >> 2] = Number((status | (1n << BigInt(STATUS_EVENT_LOG_INT))) & 0xffffffffn);
    return true;
  }

  /** Reads the log entry at byte offset `off` from the event-log base. */
  readEvent(off: number): AmdViEvent {
    const { base } = this.eventLog();
    const d = [0, 1, 2, 3].map((i) => this.mem.read(base + off + 4 * i, 4) >>> 0) as [number, number, number, number];
    return decodeEvent(d);
  }

  // ---- invalidation (the commands of the command buffer, as calls) -------------------------

  /**
   * INVALIDATE_IOMMU_PAGES: S = 0 drops the 4 KiB page at `address` of the domain; S = 1 drops
   * the naturally aligned range whose size is given by the lowest zero bit of `address` at or
   * above bit 12 (bit n zero → 2^(n+1) bytes), so ALL_PAGES_ADDRESS with S = 1 drops the domain.
   */
  invalidatePages(domainId: number, address: bigint, s: boolean): void {
    let size = 1n << 12n;
    if (s) {
      let n = 12;
      while (n < 64 && bit(address, n)) n++;
      size = 1n << BigInt(n + 1);
    }
    const lo = address & ~(size - 1n) & ((1n << 64n) - 1n);
    const hi = lo + size;
    for (const [k, e] of this.iotlb) {
      if (e.domainId !== domainId) continue;
      const base = BigInt('0x' + e.vpn) << BigInt(e.shift);
      if (base < hi && lo < base + (1n << BigInt(e.shift))) this.iotlb.delete(k);
    }
  }

  /** INVALIDATE_DEVTAB_ENTRY. */
  invalidateDevtabEntry(deviceId: number): void {
    this.dteCache.delete(deviceId);
  }

  /** INVALIDATE_IOMMU_ALL. */
  invalidateAll(): void {
    this.dteCache.clear();
    this.iotlb.clear();
    this.shifts.clear();
  }

  // ---- translation ---------------------------------------------------------------------------

  translate(req: DmaRequest): DmaOutcome<IommuFault> {
    checkRequest(req);
    const refs: TableRef[] = [];
    const untranslated = (domainId: number): DmaOutcome<IommuFault> => {
      if (req.iova >= 1n << 52n) throw new RangeError('IOVA beyond the host address space');
      return { ok: true, hpa: Number(req.iova), domainId, iotlbHit: false, pageSize: 4096, refs };
    };
    if (!this.enabled) return untranslated(-1);
    const write = req.access === 'write';
    const flags = write ? EVENT_FLAG_RW : 0;
    let suppress = false;
    const fail = (code: number, domainId: number, address: bigint): DmaOutcome<IommuFault> => {
      const event = makeEvent(code, req.sid, domainId, flags, address);
      const logged = code === AMDVI_EVENT.IO_PAGE_FAULT && suppress ? false : this.logEvent(event);
      return { ok: false, fault: { vendor: 'amd-vi', code, event, logged }, refs };
    };

    let dte = this.dteCache.get(req.sid);
    if (dte !== undefined) this.stats.dteHits++;
    else {
      this.stats.dteMisses++;
      const { base, bytes } = this.deviceTable();
      if ((req.sid + 1) * 32 > bytes) return fail(AMDVI_EVENT.ILLEGAL_DEV_TABLE_ENTRY, 0, req.iova);
      const pa = base + req.sid * 32;
      if (!this.mem.isRam(pa)) return fail(AMDVI_EVENT.DEV_TAB_HW_ERROR, 0, BigInt(pa));
      dte = readEntry(this.mem, pa, 8);
      const ref: TableRef = { kind: 'device-table-entry', level: 0, index: req.sid, pa, raw: dte, decision: 'fault' };
      refs.push(ref);
      if (bit(dte, DTE.V) && bit(dte, DTE.TV)) {
        const mode = Number(bits(dte, DTE.MODE_HI, DTE.MODE_LO));
        if (bits(dte, 6, 2) !== 0n || mode === 7) return fail(AMDVI_EVENT.ILLEGAL_DEV_TABLE_ENTRY, 0, req.iova);
        if (bit(dte, DTE.GV)) throw new Error('AMD-Vi guest translation (DTE.GV = 1) is not modelled');
        ref.decision = mode === 0 ? 'pass-through' : 'next';
      } else ref.decision = 'pass-through';
      this.dteCache.set(req.sid, dte);
    }
    if (!bit(dte, DTE.V) || !bit(dte, DTE.TV)) return untranslated(-1);
    const domainId = Number(bits(dte, DTE.DOMAIN_HI, DTE.DOMAIN_LO));
    suppress = bit(dte, DTE.SA);
    let r = bit(dte, DTE.IR);
    let w = bit(dte, DTE.IW);
    const mode = Number(bits(dte, DTE.MODE_HI, DTE.MODE_LO));
    if (mode === 0) {
      if (!(write ? w : r)) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);
      return untranslated(domainId);
    }
    const reach = 12 + 9 * mode;
    if (reach < 64 && req.iova >> BigInt(reach) !== 0n) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);

    for (const shift of this.shifts) {
      const e = this.iotlb.get(`${domainId}/${shift}/${(req.iova >> BigInt(shift)).toString(16)}`);
      if (e !== undefined && (write ? e.w : e.r)) {
        this.stats.iotlbHits++;
        return { ok: true, hpa: e.hpaBase + Number(req.iova & ((1n << BigInt(shift)) - 1n)), domainId, iotlbHit: true, pageSize: 2 ** shift, refs };
      }
    }
    this.stats.iotlbMisses++;

    let table = Number(bits(dte, DTE.ROOT_HI, DTE.ROOT_LO) << 12n);
    let level = mode;
    for (;;) {
      const shift = 12 + 9 * (level - 1);
      const index = Number((req.iova >> BigInt(shift)) & 511n);
      const pa = table + index * 8;
      if (!this.mem.isRam(table)) return fail(AMDVI_EVENT.PAGE_TAB_HW_ERROR, domainId, BigInt(pa));
      const e = readEntry(this.mem, pa, 2);
      const ref: TableRef = { kind: 'page-table-entry', level, index, pa, raw: e, decision: 'fault' };
      refs.push(ref);
      if (!bit(e, IOPTE.PR) || bits(e, IOPTE.RSVD_HI, IOPTE.RSVD_LO) !== 0n) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);
      r &&= bit(e, IOPTE.IR);
      w &&= bit(e, IOPTE.IW);
      const nl = Number(bits(e, IOPTE.NL_HI, IOPTE.NL_LO));
      const addr = bits(e, IOPTE.ADDR_HI, IOPTE.ADDR_LO) << 12n;
      if (nl === 0 || nl === 7) {
        let pageShift = shift;
        if (nl === 7) {
          // the page size is coded by the run of ones from address bit 12: n ones → 2^(13+n)
          let n = 0;
          while (bit(addr, 12 + n)) n++;
          pageShift = 13 + n;
          if (pageShift <= shift || pageShift >= shift + 9) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);
        }
        if (!(write ? w : r)) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);
        ref.decision = 'leaf';
        const hpaBase = Number(addr & ~((1n << BigInt(pageShift)) - 1n));
        const vpn = (req.iova >> BigInt(pageShift)).toString(16);
        this.iotlb.set(`${domainId}/${pageShift}/${vpn}`, { domainId, shift: pageShift, vpn, hpaBase, r, w });
        this.shifts.add(pageShift);
        return { ok: true, hpa: hpaBase + Number(req.iova & ((1n << BigInt(pageShift)) - 1n)), domainId, iotlbHit: false, pageSize: 2 ** pageShift, refs };
      }
      if (nl >= level) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);
      // levels nl+1 .. level-1 are skipped: the IOVA bits that would index them must be zero
      const skippedLo = 12 + 9 * nl;
      if (skippedLo < shift && bits(req.iova, shift - 1, skippedLo) !== 0n) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId, req.iova);
      ref.decision = 'next';
      table = Number(addr);
      level = nl;
    }
  }

  // ---- time travel ---------------------------------------------------------------------------

  snapshot(): AmdViState {
    return {
      regs: [...this.regs],
      iotlb: [...this.iotlb.values()].map((e) => ({ ...e })),
      dteCache: [...this.dteCache].map(([deviceId, raw]) => ({ deviceId, raw: raw.toString(16) })),
      stats: { ...this.stats },
    };
  }

  restore(s: AmdViState): void {
    this.regs = [...s.regs];
    this.iotlb = new Map(s.iotlb.map((e) => [`${e.domainId}/${e.shift}/${e.vpn}`, { ...e }]));
    this.shifts = new Set(s.iotlb.map((e) => e.shift));
    this.dteCache = new Map(s.dteCache.map((e) => [e.deviceId, BigInt('0x' + e.raw)]));
    this.stats = { ...s.stats };
  }

  iotlbEntries(): AmdViIotlbEntry[] {
    return [...this.iotlb.values()].map((e) => ({ ...e }));
  }
}

/** Builds the 16-byte event-log entry (amd-vi.json `event_log`). */
export function makeEvent(code: number, deviceId: number, domainId: number, flags: number, address: bigint): AmdViEvent {
  const a = address & ((1n << 64n) - 1n);
  const dwords: [number, number, number, number] = [
    deviceId & 0xffff,
    ((code << 28) | ((flags & 0xfff) << 16) | (domainId & 0xffff)) >>> 0,
    Number(a & 0xffffffffn),
    Number(a >> 32n),
  ];
  return { code, deviceId: deviceId & 0xffff, domainId: domainId & 0xffff, flags: flags & 0xfff, address: a, dwords };
}

/** Decodes a 16-byte event-log entry. */
export function decodeEvent(d: [number, number, number, number]): AmdViEvent {
  return {
    code: d[1] >>> 28,
    deviceId: d[0] & 0xffff,
    domainId: d[1] & 0xffff,
    flags: (d[1] >>> 16) & 0xfff,
    address: (BigInt(d[3] >>> 0) << 32n) | BigInt(d[2] >>> 0),
    dwords: [d[0] >>> 0, d[1] >>> 0, d[2] >>> 0, d[3] >>> 0],
  };
}
