/**
 * AMD-Vi DMA and interrupt remapping (AMD I/O Virtualization Technology (IOMMU) Specification
 * #48882: "Device Table Entry", "I/O Page Tables", "Interrupt Remapping", "Event Log",
 * "IO_PAGE_FAULT Event"; field positions as in tests/reference/amd-vi.json). Host (v1) page
 * tables only: guest translation (DTE.GV), PPR, ATS, the guest virtual APIC (GAEn, 128-bit IRTEs),
 * x2APIC and the command buffer are not modelled; the invalidation commands are method calls.
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
import { bit, bits, checkInterruptRequest, checkRequest, readEntry, type AmdViEvent, type DmaOutcome, type IommuFault, type DmaRemapper, type DmaRequest, type InterruptOutcome, type InterruptRemapper, type InterruptRequest, type IommuMemory, type TableRef } from './types.ts';

/*
 * Interrupt remapping (remapInterrupt), the legacy 32-bit IRTE format (GAEn = 0). Sources: the
 * AMD spec's "Interrupt Remapping Tables, Guest Virtual APIC Not Enabled"; cross-checked with
 * QEMU hw/i386/amd_iommu.c (amdvi_int_remap_msi, amdvi_int_remap_legacy) and VirtualBox
 * src/VBox/Devices/Bus/DevIommuAmd.cpp (iommuAmdLookupIntrTable, iommuAmdReadIrte,
 * iommuAmdRemapIntr):
 *   - IOMMU off, or DTE.IV = 0: passed as written.
 *   - The message's delivery mode (data 10:8) decides. Fixed (0) and arbitrated (1) are the
 *     ones the lab remaps: DTE.IntCtl 00b target-aborts them (no event), 01b forwards them
 *     unmapped, 10b remaps them, 11b is an ILLEGAL_DEV_TABLE_ENTRY. SMI is forwarded (no SMI
 *     filter); NMI, INIT and ExtINT are forwarded if the DTE's NMIPass / INITPass / EIntPass is
 *     set, else target-aborted; the reserved modes 3 and 6 are target-aborted.
 *   - Remapping: IntTabLen above 11 (2048 entries, all MSI data bits 10:0 can name) is an
 *     ILLEGAL_DEV_TABLE_ENTRY; the index is data bits 10:0. Since bits 10:8 are read as the
 *     delivery mode first (as QEMU and VirtualBox do), a fixed or arbitrated message can name
 *     only indices 0..0x1FF; the lab does not model the larger-table support later IOMMUs
 *     advertise. An index ≥ 2^IntTabLen, RemapEn = 0,
 *     GuestMode = 1 or an IntType other than fixed / arbitrated is an IO_PAGE_FAULT with the I
 *     flag. The IRTE (4 bytes at root + 4 × index) gives Vector, Destination (an 8-bit APIC ID),
 *     DM and IntType; trigger mode and redirection hint come from the message as written (as
 *     VirtualBox keeps the bits the IRTE does not map; QEMU instead takes RH from RqEoi).
 *   - The events of an interrupt request carry the I flag (0x008) and, as address, the MSI
 *     address the device wrote (VirtualBox passes the MSI address to its IO_PAGE_FAULT and
 *     ILLEGAL_DEV_TABLE_ENTRY events; the spec's event descriptions say the address field holds
 *     the interrupt's address when I = 1). SupIOPF in the IRTE suppresses logging of the
 *     IO_PAGE_FAULTs found once the IRTE was read, DTE.SA all of them.
 *   - An interrupt table outside RAM throws: the spec names no event for it (VirtualBox's
 *     model leaves it as an open question) and the host, not a device, put it there.
 *   - Valid IRTEs are cached per (DeviceID, index) until invalidateInterruptTable(DeviceID)
 *     (INVALIDATE_INTERRUPT_TABLE) or invalidateAll. IG (ignore unmapped interrupts) is not
 *     modelled.
 */

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

/** DTE interrupt fields (amd-vi.json `dte_256bit`). */
export const DTE_INT = { IV: 128, INT_TAB_LEN: [132, 129], INT_TABLE_ROOT: [179, 134], INIT_PASS: 184, EINT_PASS: 185, NMI_PASS: 186, INT_CTL: [189, 188] } as const;

/** DTE.IntCtl values (QEMU AMDVI_IR_INTCTL_*; 3 is reserved). */
export const INT_CTL_ABORT = 0;
export const INT_CTL_FORWARD = 1;
export const INT_CTL_REMAP = 2;

/** The largest valid IntTabLen: 2^11 = 2048 entries, as many as MSI data bits 10:0 can index. */
export const MAX_INT_TAB_LEN = 11;

/**
 * The 32-bit IRTE, legacy format (AMD spec "Interrupt Remapping Table Entry (IRTE) for
 * GAEn = 0"; Linux drivers/iommu/amd/amd_iommu_types.h `union irte`, QEMU `union irte`).
 */
export const AMD_IRTE = { REMAP_EN: 0, SUP_IOPF: 1, INT_TYPE: [4, 2], RQ_EOI: 5, DM: 6, GUEST_MODE: 7, DESTINATION: [15, 8], VECTOR: [23, 16] } as const;

/** Command codes the lab has methods for (amd-vi.json `commands`). */
export const AMDVI_CMD = { INVALIDATE_DEVTAB_ENTRY: 2, INVALIDATE_IOMMU_PAGES: 3, INVALIDATE_INTERRUPT_TABLE: 5, INVALIDATE_IOMMU_ALL: 8 } as const;

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
  irteHits: number;
  irteMisses: number;
}

/** A cached IRTE (its 32 bits). */
export interface AmdViIrteCacheEntry {
  deviceId: number;
  index: number;
  raw: number;
}

export interface AmdViState {
  /** MMIO registers, one number a dword (offset / 4), up to the status register. */
  regs: number[];
  iotlb: AmdViIotlbEntry[];
  dteCache: AmdViDteCacheEntry[];
  irteCache: AmdViIrteCacheEntry[];
  stats: AmdViStats;
}

const REG_END = 0x2028;

export class AmdViRemapper implements DmaRemapper, InterruptRemapper {
  readonly vendor = 'amd-vi' as const;
  readonly mem: IommuMemory;
  private regs: number[] = new Array<number>(REG_END / 4).fill(0);
  private iotlb = new Map<string, AmdViIotlbEntry>();
  private shifts = new Set<number>();
  private dteCache = new Map<number, bigint>();
  /** IRTEs by `${deviceId}/${index}`. */
  private irteCache = new Map<string, AmdViIrteCacheEntry>();
  stats: AmdViStats = { iotlbHits: 0, iotlbMisses: 0, dteHits: 0, dteMisses: 0, irteHits: 0, irteMisses: 0 };

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

  /** INVALIDATE_INTERRUPT_TABLE (DeviceID in command bits 15:0): the device's cached IRTEs. */
  invalidateInterruptTable(deviceId: number): void {
    for (const [k, e] of this.irteCache) if (e.deviceId === deviceId) this.irteCache.delete(k);
  }

  /** INVALIDATE_IOMMU_ALL. */
  invalidateAll(): void {
    this.dteCache.clear();
    this.irteCache.clear();
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

  // ---- interrupt remapping -------------------------------------------------------------------

  remapInterrupt(req: InterruptRequest): InterruptOutcome {
    checkInterruptRequest(req);
    if (!this.enabled) return { kind: 'passed', why: 'remapping-off' };
    const refs: TableRef[] = [];
    const msiAddress = BigInt(req.address >>> 0);
    let index: number | null = null;
    let suppress = false;
    const fail = (code: number, domainId: number, address = msiAddress): InterruptOutcome => {
      const event = makeEvent(code, req.sid, domainId, EVENT_FLAG_I, address);
      const logged = code === AMDVI_EVENT.IO_PAGE_FAULT && suppress ? false : this.logEvent(event);
      return { kind: 'blocked', index, refs, fault: { vendor: 'amd-vi', code, event, logged } };
    };

    let dte = this.dteCache.get(req.sid);
    if (dte !== undefined) this.stats.dteHits++;
    else {
      this.stats.dteMisses++;
      const { base, bytes } = this.deviceTable();
      if ((req.sid + 1) * 32 > bytes) return fail(AMDVI_EVENT.ILLEGAL_DEV_TABLE_ENTRY, 0);
      const pa = base + req.sid * 32;
      if (!this.mem.isRam(pa)) return fail(AMDVI_EVENT.DEV_TAB_HW_ERROR, 0, BigInt(pa));
      dte = readEntry(this.mem, pa, 8);
      refs.push({ kind: 'device-table-entry', level: 0, index: req.sid, pa, raw: dte, decision: bit(dte, DTE_INT.IV) ? 'next' : 'pass-through' });
      // keep it only if the DMA path would have kept it too (it checks its half when it reads)
      if (!bit(dte, DTE.V) || !bit(dte, DTE.TV) || (bits(dte, 6, 2) === 0n && bits(dte, DTE.MODE_HI, DTE.MODE_LO) !== 7n && !bit(dte, DTE.GV))) this.dteCache.set(req.sid, dte);
    }
    if (!bit(dte, DTE_INT.IV)) return { kind: 'passed', why: 'remapping-off' };
    const domainId = Number(bits(dte, DTE.DOMAIN_HI, DTE.DOMAIN_LO));
    suppress = bit(dte, DTE.SA);
    const dteRef = refs[0];
    const dteFault = (): void => {
      if (dteRef !== undefined) dteRef.decision = 'fault';
    };

    const mode = (req.data >>> 8) & 7;
    if (mode === 2) return { kind: 'passed', why: 'forwarded' }; // SMI (no SMI filter)
    if (mode === 3 || mode === 6) return { kind: 'aborted', refs, why: 'delivery-mode' };
    if (mode >= 4) {
      const pass = mode === 4 ? DTE_INT.NMI_PASS : mode === 5 ? DTE_INT.INIT_PASS : DTE_INT.EINT_PASS;
      return bit(dte, pass) ? { kind: 'passed', why: 'forwarded' } : { kind: 'aborted', refs, why: 'not-passed' };
    }
    const intCtl = Number(bits(dte, ...DTE_INT.INT_CTL));
    if (intCtl === INT_CTL_ABORT) return { kind: 'aborted', refs, why: 'int-ctl' };
    if (intCtl === INT_CTL_FORWARD) return { kind: 'passed', why: 'forwarded' };
    const len = Number(bits(dte, ...DTE_INT.INT_TAB_LEN));
    if (intCtl !== INT_CTL_REMAP || len > MAX_INT_TAB_LEN) {
      dteFault();
      return fail(AMDVI_EVENT.ILLEGAL_DEV_TABLE_ENTRY, domainId);
    }
    index = req.data & 0x7ff;
    if (index >= 2 ** len) {
      dteFault();
      return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId);
    }

    const key = `${req.sid}/${index}`;
    const cached = this.irteCache.get(key);
    let irte: number;
    if (cached !== undefined) {
      this.stats.irteHits++;
      irte = cached.raw;
    } else {
      this.stats.irteMisses++;
      const pa = Number(bits(dte, ...DTE_INT.INT_TABLE_ROOT) << 6n) + 4 * index;
      if (!this.mem.isRam(pa)) throw new RangeError(`AMD-Vi interrupt table entry at 0x${pa.toString(16)} is not RAM (the specification names no event for it; the lab does not model what hardware does then)`);
      irte = this.mem.read(pa, 4) >>> 0;
      const ref: TableRef = { kind: 'irte', level: 0, index, pa, raw: BigInt(irte), decision: 'fault' };
      refs.push(ref);
      const e = BigInt(irte);
      suppress ||= bit(e, AMD_IRTE.SUP_IOPF);
      if (!bit(e, AMD_IRTE.REMAP_EN) || bit(e, AMD_IRTE.GUEST_MODE) || bits(e, ...AMD_IRTE.INT_TYPE) > 1n) return fail(AMDVI_EVENT.IO_PAGE_FAULT, domainId);
      ref.decision = 'leaf';
      this.irteCache.set(key, { deviceId: req.sid, index, raw: irte });
    }
    const e = BigInt(irte);
    return {
      kind: 'remapped',
      index,
      refs,
      cacheHit: cached !== undefined,
      target: {
        vector: Number(bits(e, ...AMD_IRTE.VECTOR)),
        destinationId: Number(bits(e, ...AMD_IRTE.DESTINATION)),
        destinationMode: bit(e, AMD_IRTE.DM) ? 'logical' : 'physical',
        deliveryMode: Number(bits(e, ...AMD_IRTE.INT_TYPE)),
        trigger: ((req.data >>> 15) & 1) === 1 ? 'level' : 'edge',
        redirectionHint: ((req.address >>> 3) & 1) === 1,
      },
    };
  }

  irteCacheEntries(): AmdViIrteCacheEntry[] {
    return [...this.irteCache.values()].map((e) => ({ ...e }));
  }

  // ---- time travel ---------------------------------------------------------------------------

  snapshot(): AmdViState {
    return {
      regs: [...this.regs],
      iotlb: [...this.iotlb.values()].map((e) => ({ ...e })),
      dteCache: [...this.dteCache].map(([deviceId, raw]) => ({ deviceId, raw: raw.toString(16) })),
      irteCache: this.irteCacheEntries(),
      stats: { ...this.stats },
    };
  }

  restore(s: AmdViState): void {
    this.regs = [...s.regs];
    this.iotlb = new Map(s.iotlb.map((e) => [`${e.domainId}/${e.shift}/${e.vpn}`, { ...e }]));
    this.shifts = new Set(s.iotlb.map((e) => e.shift));
    this.dteCache = new Map(s.dteCache.map((e) => [e.deviceId, BigInt('0x' + e.raw)]));
    this.irteCache = new Map(s.irteCache.map((e) => [`${e.deviceId}/${e.index}`, { ...e }]));
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
