/**
 * Intel VT-d DMA and interrupt remapping, legacy mode (Intel VT-d Architecture Specification: 3
 * "DMA Remapping", 5 "Interrupt Remapping", 7 "Address Translation Faults", 9 "Translation
 * Structure Formats", 10 "Register Descriptions"). Scalable mode, PASIDs, first-level tables,
 * queued invalidation (the invalidation descriptors are method calls here), device-TLBs (ATS),
 * x2APIC mode (EIM) and fault events (interrupts) are not modelled.
 *
 * DMA: the unit reads its structures from host memory every time its caches miss:
 *   RTADDR (latched by GCMD.SRTP) → root entry [bus] → context-table pointer → context entry
 *   [devfn] → DID, TT, AW and the second-level page-table pointer → 3 or 4 levels of
 *   second-level entries (R, W, SP, address).
 * It caches context entries by source ID and translations by (domain ID, page), and returns what
 * it cached until software invalidates it through CCMD or the IOTLB registers, as hardware may.
 *
 * Interrupts (remapInterrupt; VT-d 5.1): IRTA (latched by GCMD.SIRTP: table address, S → 2^(S+1)
 * 16-byte entries) and GCMD.IRE / GCMD.CFI (GSTS.IRES / GSTS.CFIS). A write to 0xFEEx_xxxx:
 *   - IRES = 0: passed as written.
 *   - compatibility format (address bit 4 = 0): passed if CFIS = 1, else blocked (0x25).
 *   - remappable format: handle = address bits 19:5 with bit 2 as handle[15]; with SHV (bit 3)
 *     the index is handle + data[15:0] (the subhandle). Data bits 31:16 set → 0x20 (the lab's
 *     reading of "reserved fields in the request": an MSI capability always writes them 0).
 *     Table pointer or entry outside RAM → 0x23, index ≥ table size → 0x21, P = 0 → 0x22,
 *     reserved bits (remapped format: 14:12, 31:24, 127:84 and, xAPIC mode, DST 39:32 and 63:48;
 *     posted format: 7:2, 13:12, 37:24, 95:84, a descriptor address above the 48-bit HAW, or IM
 *     = 1 without CAP.PI) → 0x24, source-ID verification failed → 0x26 (SVT 01: SID compared
 *     under the SQ mask; 10: the requester's bus within [SID 15:8, SID 7:0]; 11 (reserved) is
 *     taken as a failure, as QEMU hw/i386/intel_iommu.c vtd_irte_get does).
 *   - IM = 0 (remapped format): the interrupt named by the IRTE (vector, DST bits 47:40 as the
 *     xAPIC destination, DM, RH, TM, DLM) goes to the processors.
 *   - IM = 1 (posted format, VT-d 9.11, 9.12): the 64-byte posted-interrupt descriptor at PDA is
 *     updated as one atomic step: PIR[vector] set; if ON was 0 and (URG = 1 or SN = 0), ON is set
 *     and the notification event (vector NV, physical destination NDST bits 15:8 in xAPIC mode,
 *     fixed, edge) is sent. A descriptor outside RAM throws: the specification names no fault
 *     for it and the host (not a device) placed it.
 * Interrupt faults are recorded in the fault-recording registers like DMA faults, with FI bits
 * 63:48 holding the interrupt index and T = 0 (QEMU vtd_report_ir_fault). The IRTE's FPD
 * suppresses recording of the faults found after the entry was read (0x22, 0x24, 0x26: the
 * "qualified" interrupt faults of the spec's table in 7.1); the others are always recorded.
 * IRTEs that were present and well-formed are kept in an interrupt entry cache by index until
 * invalidateInterruptEntryCache (the queued-invalidation descriptor of type 4, vtd.json
 * `queued_invalidation_descriptor_types`) drops them; a cached entry is still checked against
 * the requester's source ID. SIRTP does not empty the cache: software must invalidate after it.
 *
 * Capabilities (CAP_DEFAULT / ECAP_DEFAULT below, chosen for the lab):
 *   CAP: ND = 6 (16-bit domain IDs), SAGAW = 0b00110 (39-bit 3-level and 48-bit 4-level),
 *        MGAW = 48, FRO = 0x40 (fault records at 0x400), SLLPS = 2 MB only (bit 34; a 1 GB SP
 *        entry is a reserved-bit fault unless a caller's CAP sets bit 35), PSI = 1, NFR = 4
 *        (field 3), MAMV = 9 (a PSI covers at most 2^9 pages), PI = 1 (bit 59, posted
 *        interrupts; Linux cap_pi_support), RWBF = 0, CM = 0.
 *   ECAP: C = 1 (walks see memory directly), IR = 1 (interrupt remapping), PT = 1 (TT = 2
 *        pass-through), IRO = 0x50 (IOTLB registers at 0x500), QI = DT = EIM = SC = SMTS = 0.
 *   VER = 0x10 (1.0). Host address width: 48 bits (bits 51:48 of a table pointer are reserved).
 */
import { bit, bits, checkInterruptRequest, checkRequest, readEntry, type DmaOutcome, type IommuFault, type DmaRemapper, type DmaRequest, type InterruptOutcome, type InterruptRemapper, type InterruptRequest, type InterruptTarget, type IommuMemory, type TableRef, type VtdFaultRecord } from './types.ts';

/** Register offsets (VT-d 10.4; tests/reference/vtd.json `registers`). */
export const VTD_REG = {
  VER: 0x00,
  CAP: 0x08,
  ECAP: 0x10,
  GCMD: 0x18,
  GSTS: 0x1c,
  RTADDR: 0x20,
  CCMD: 0x28,
  FSTS: 0x34,
  FECTL: 0x38,
  IRTA: 0xb8,
} as const;

/** GCMD / GSTS bits (10.4.4, 10.4.5). */
export const GCMD_TE = 31;
export const GCMD_SRTP = 30;
/** Interrupt remapping enable (GSTS.IRES). */
export const GCMD_IRE = 25;
/** Set interrupt remap table pointer (GSTS.IRTPS). */
export const GCMD_SIRTP = 24;
/** Compatibility format interrupt (GSTS.CFIS). */
export const GCMD_CFI = 23;

/** IRTA_REG fields (10.4.29): table address 63:12, EIME bit 11, S 3:0 (2^(S+1) entries). */
export const IRTA = { ADDR: [63, 12], EIME: 11, S: [3, 0] } as const;

/** ECAP.IR (interrupt remapping supported) and CAP.PI (posted interrupts supported). */
export const ECAP_IR = 3;
export const CAP_PI = 59;

/** Interrupt-remapping fault reasons (7.1; vtd.json `fault_reasons` 0x20..0x26). */
export const VTD_IR_FAULT = {
  REQUEST_RESERVED: 0x20,
  INDEX_BEYOND_TABLE: 0x21,
  IRTE_NOT_PRESENT: 0x22,
  TABLE_INVALID: 0x23,
  IRTE_RESERVED: 0x24,
  COMPATIBILITY_BLOCKED: 0x25,
  SID_VERIFICATION: 0x26,
} as const;

/**
 * Interrupt-remapping table entry fields, 128 bits (9.10 remapped format, vtd.json
 * `irte_remapped_128bit`; 9.11 posted format: URG, PDA_LO = descriptor address bits 31:6,
 * PDA_HI = bits 63:32).
 */
export const IRTE = {
  P: 0,
  FPD: 1,
  DM: 2,
  RH: 3,
  TM: 4,
  DLM: [7, 5],
  AVAIL: [11, 8],
  URG: 14,
  IM: 15,
  VECTOR: [23, 16],
  DST: [63, 32],
  SID: [79, 64],
  SQ: [81, 80],
  SVT: [83, 82],
  PDA_LO: [63, 38],
  PDA_HI: [127, 96],
} as const;

/** Source validation types (IRTE.SVT). */
export const SVT_NONE = 0;
export const SVT_SID = 1;
export const SVT_BUS_RANGE = 2;

/** SID bits SQ leaves out of the comparison (SVT = 01): 0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0. */
export const SQ_IGNORED = [0, 0b100, 0b110, 0b111] as const;

/** Posted-interrupt descriptor fields, 512 bits (9.12): PIR, ON, SN, NV, NDST. */
export const PID = { PIR: [255, 0], ON: 256, SN: 257, NV: [279, 272], NDST: [319, 288] } as const;

/** The remappable-format interrupt request (5.1.4.1): address bits. */
export const IR_ADDR = { FORMAT: 4, SHV: 3, HANDLE_15: 2, HANDLE: [19, 5] } as const;

/** Fault reasons (VT-d 7.1.3, table "Unsuccessful translated requests"; vtd.json `fault_reasons`). */
export const VTD_FAULT = {
  ROOT_NOT_PRESENT: 0x1,
  CONTEXT_NOT_PRESENT: 0x2,
  CONTEXT_INVALID: 0x3,
  BEYOND_AW: 0x4,
  WRITE: 0x5,
  READ: 0x6,
  NEXT_TABLE_INVALID: 0x7,
  ROOT_TABLE_INVALID: 0x8,
  CONTEXT_TABLE_INVALID: 0x9,
  ROOT_RESERVED: 0xa,
  CONTEXT_RESERVED: 0xb,
  PTE_RESERVED: 0xc,
} as const;

/** Second-level entry bits (9.8; vtd.json `second_level_pte`). */
export const SL_R = 0;
export const SL_W = 1;
export const SL_SP = 7;
export const SL_SNP = 11;

/** Root-entry fields (9.1; vtd.json `root_entry_128bit`), as [high bit, low bit]. */
export const ROOT_E = { P: 0, RSVD_LO: [11, 1], CTP: [63, 12], RSVD_HI: [127, 64] } as const;

/** Context-entry fields (9.3; vtd.json `context_entry_128bit`). */
export const CTX_E = { P: 0, FPD: 1, TT: [3, 2], SLPTPTR: [63, 12], AW: [66, 64], DID: [87, 72] } as const;

/** Fault-recording register fields (10.4.14; vtd.json `fault_record`), bits of the 128-bit record. */
export const FRCD = { FI: [63, 12], SID: [79, 64], FR: [103, 96], T: 126, F: 127 } as const;

/** FSTS fields (10.4.9). */
export const FSTS = { PFO: 0, PPF: 1, FRI: [15, 8] } as const;

/** Context-entry translation types (9.3; vtd.json `context_entry_128bit` TT). */
export const TT_MULTI_LEVEL = 0;
export const TT_DEV_IOTLB = 1;
export const TT_PASS_THROUGH = 2;

export const VTD_HAW = 48;

function field(v: number | bigint, at: number): bigint {
  return BigInt(v) << BigInt(at);
}

export const CAP_DEFAULT: bigint =
  field(6, 0) | // ND
  field(0b00110, 8) | // SAGAW: 39-bit (agaw 1) and 48-bit (agaw 2)
  field(47, 16) | // MGAW - 1
  field(0x40, 24) | // FRO (× 16 bytes)
  field(1, 34) | // 2 MB super pages
  field(1, 39) | // PSI
  field(3, 40) | // NFR - 1
  field(9, 48) | // MAMV
  field(1, CAP_PI); // posted interrupts

export const ECAP_DEFAULT: bigint =
  field(1, 0) | // C
  field(1, ECAP_IR) | // IR
  field(1, 6) | // PT
  field(0x50, 8); // IRO (× 16 bytes)

/** Decoded capability fields that the unit uses. */
export interface VtdCaps {
  sagaw: number;
  mgaw: number;
  froOffset: number;
  nfr: number;
  sp2m: boolean;
  sp1g: boolean;
  psi: boolean;
  mamv: number;
  pt: boolean;
  iroOffset: number;
  /** ECAP.IR: interrupt remapping. */
  ir: boolean;
  /** CAP.PI: posted interrupts. */
  pi: boolean;
}

export function decodeCaps(cap: bigint, ecap: bigint): VtdCaps {
  return {
    sagaw: Number(bits(cap, 12, 8)),
    mgaw: Number(bits(cap, 21, 16)) + 1,
    froOffset: Number(bits(cap, 33, 24)) * 16,
    nfr: Number(bits(cap, 47, 40)) + 1,
    sp2m: bit(cap, 34),
    sp1g: bit(cap, 35),
    psi: bit(cap, 39),
    mamv: Number(bits(cap, 53, 48)),
    pt: bit(ecap, 6),
    iroOffset: Number(bits(ecap, 17, 8)) * 16,
    ir: bit(ecap, ECAP_IR),
    pi: bit(cap, CAP_PI),
  };
}

/** A cached translation: the IOVA page (at its page size) of a domain → host page and rights. */
export interface VtdIotlbEntry {
  did: number;
  /** log2 of the page size: 12, 21 or 30. */
  shift: number;
  /** IOVA >> shift, hex. */
  vpn: string;
  hpaBase: number;
  r: boolean;
  w: boolean;
}

/** A cached context entry (what the translation needs of it). */
export interface VtdContextCacheEntry {
  sid: number;
  did: number;
  tt: number;
  /** AGAW code from the AW field (1 = 39-bit, 2 = 48-bit). */
  aw: number;
  slptptr: number;
  fpd: boolean;
}

export interface VtdStats {
  iotlbHits: number;
  iotlbMisses: number;
  contextHits: number;
  contextMisses: number;
  /** Interrupt entry cache. */
  iecHits: number;
  iecMisses: number;
}

/** A cached IRTE: its index and its 128 bits as hex. */
export interface VtdIecEntry {
  index: number;
  raw: string;
}

/** The interrupt-remapping table latched by the last SIRTP. */
export interface VtdIrTable {
  base: number;
  /** 2^(S+1). */
  entries: number;
}

/** The whole unit as JSON-safe data. */
export interface VtdState {
  cap: string;
  ecap: string;
  /** The register file, one number a dword (offset / 4). */
  regs: number[];
  /** Root-table address latched by the last SRTP, or null before any. */
  root: number | null;
  /** Index of the fault-recording register the next fault goes to. */
  nextFault: number;
  iotlb: VtdIotlbEntry[];
  contextCache: VtdContextCacheEntry[];
  /** Interrupt-remapping table latched by the last SIRTP, or null before any. */
  irt: VtdIrTable | null;
  /** Interrupt entry cache. */
  iec: VtdIecEntry[];
  stats: VtdStats;
}

export interface VtdOptions {
  cap?: bigint;
  ecap?: bigint;
}

/** Granularities of CCMD.CIRG and IOTLB.IIRG (10.4.7, 10.4.8.1; vtd.json). */
export const INV_GLOBAL = 1;
export const INV_DOMAIN = 2;
/** CCMD: device-selective; IOTLB: page-selective. */
export const INV_DEVICE_OR_PAGE = 3;

export class VtdRemapper implements DmaRemapper, InterruptRemapper {
  readonly vendor = 'vtd' as const;
  readonly mem: IommuMemory;
  readonly cap: bigint;
  readonly ecap: bigint;
  readonly caps: VtdCaps;
  private regs: number[];
  private root: number | null = null;
  private nextFault = 0;
  private iotlb = new Map<string, VtdIotlbEntry>();
  private ctxCache = new Map<number, VtdContextCacheEntry>();
  private irt: VtdIrTable | null = null;
  /** Interrupt entry cache: index → the IRTE's 128 bits. */
  private iec = new Map<number, bigint>();
  stats: VtdStats = { iotlbHits: 0, iotlbMisses: 0, contextHits: 0, contextMisses: 0, iecHits: 0, iecMisses: 0 };

  constructor(mem: IommuMemory, opts: VtdOptions = {}) {
    this.mem = mem;
    this.cap = opts.cap ?? CAP_DEFAULT;
    this.ecap = opts.ecap ?? ECAP_DEFAULT;
    this.caps = decodeCaps(this.cap, this.ecap);
    const end = Math.max(0x100, this.caps.froOffset + 16 * this.caps.nfr, this.caps.iroOffset + 16);
    this.regs = new Array<number>(end / 4).fill(0);
    this.setDword(VTD_REG.VER, 0x10);
    this.setQword(VTD_REG.CAP, this.cap);
    this.setQword(VTD_REG.ECAP, this.ecap);
    this.setDword(VTD_REG.FECTL, 0x80000000); // IM = 1 after reset
  }

  // ---- register file -------------------------------------------------------------------------

  private dword(off: number): number {
    return this.regs[off >> 2]!;
  }

  private setDword(off: number, v: number): void {
    this.regs[off >> 2] = v >>> 0;
  }

  private qword(off: number): bigint {
    return (BigInt(this.dword(off + 4)) << 32n) | BigInt(this.dword(off));
  }

  private setQword(off: number, v: bigint): void {
    this.setDword(off, Number(v & 0xffffffffn));
    this.setDword(off + 4, Number((v >> 32n) & 0xffffffffn));
  }

  /** Size of the register file in bytes. */
  get regSize(): number {
    return this.regs.length * 4;
  }

  read32(off: number): number {
    this.checkOff(off);
    if (off === VTD_REG.GCMD) return 0; // write-only
    if (off === VTD_REG.FSTS) return this.fsts();
    return this.dword(off);
  }

  read64(off: number): bigint {
    return (BigInt(this.read32(off + 4)) << 32n) | BigInt(this.read32(off));
  }

  /** A 32-bit register write. Commands fire on the dword that holds their trigger bit. */
  write32(off: number, v: number): void {
    this.checkOff(off);
    v >>>= 0;
    const { froOffset, nfr, iroOffset } = this.caps;
    switch (off) {
      case VTD_REG.VER:
      case VTD_REG.CAP:
      case VTD_REG.CAP + 4:
      case VTD_REG.ECAP:
      case VTD_REG.ECAP + 4:
      case VTD_REG.GSTS:
        return; // read-only
      case VTD_REG.GCMD:
        this.globalCommand(v);
        return;
      case VTD_REG.RTADDR:
        this.setDword(off, v & 0xfffff000); // TTM (11:10) reads 0: legacy mode only
        return;
      case VTD_REG.IRTA:
        // bits 10:4 are reserved; EIME (bit 11) is treated as 0 without ECAP.EIM (xAPIC mode only)
        this.setDword(off, v & 0xfffff00f);
        return;
      case VTD_REG.CCMD + 4:
        this.setDword(off, v);
        if ((v & 0x80000000) !== 0) this.contextCommand();
        return;
      case VTD_REG.FSTS:
        if ((v & 1) !== 0) this.setDword(off, this.dword(off) & ~1); // PFO is RW1C
        return;
      default:
        break;
    }
    if (off >= froOffset && off < froOffset + 16 * nfr) {
      if ((off - froOffset) % 16 === 12 && (v & 0x80000000) !== 0) this.setDword(off, this.dword(off) & 0x7fffffff); // F is RW1C
      return; // the rest of a fault record is read-only
    }
    this.setDword(off, v);
    if (off === iroOffset + 12 && (v & 0x80000000) !== 0) this.iotlbCommand();
  }

  /** A 64-bit write: low dword, then high dword (where the command bits of CCMD and IOTLB are). */
  write64(off: number, v: bigint): void {
    this.write32(off, Number(v & 0xffffffffn));
    this.write32(off + 4, Number((v >> 32n) & 0xffffffffn));
  }

  private checkOff(off: number): void {
    if (off < 0 || off + 4 > this.regSize || off % 4 !== 0) throw new RangeError(`no VT-d register dword at 0x${off.toString(16)}`);
  }

  /** FSTS with PPF computed from the fault records' F bits (10.4.9). */
  private fsts(): number {
    let v = this.dword(VTD_REG.FSTS) & ~2;
    if (this.pendingFaults() > 0) v |= 2;
    return v >>> 0;
  }

  private pendingFaults(): number {
    let n = 0;
    for (let i = 0; i < this.caps.nfr; i++) if ((this.dword(this.caps.froOffset + 16 * i + 12) & 0x80000000) !== 0) n++;
    return n;
  }

  /**
   * GCMD (10.4.4): TE, IRE and CFI set or clear GSTS.TES, IRES and CFIS as written (software
   * writes them all each time, as Linux keeps iommu->gcmd); SRTP latches RTADDR and sets
   * GSTS.RTPS; SIRTP latches IRTA and sets GSTS.IRTPS. IRE is ignored without ECAP.IR.
   */
  private globalCommand(v: number): void {
    let gsts = this.dword(VTD_REG.GSTS);
    if ((v >>> GCMD_SRTP) & 1) {
      this.root = Number(this.qword(VTD_REG.RTADDR) & ~0xfffn);
      gsts |= 1 << GCMD_SRTP;
    }
    if ((v >>> GCMD_SIRTP) & 1 && this.caps.ir) {
      const irta = this.qword(VTD_REG.IRTA);
      this.irt = { base: Number(bits(irta, ...IRTA.ADDR) << 12n), entries: 2 ** (Number(bits(irta, ...IRTA.S)) + 1) };
      gsts |= 1 << GCMD_SIRTP;
    }
    for (const b of [GCMD_TE, GCMD_IRE, GCMD_CFI]) {
      if (b === GCMD_IRE && !this.caps.ir) continue;
      if ((v >>> b) & 1) gsts |= 1 << b;
      else gsts &= ~(1 << b);
    }
    this.setDword(VTD_REG.GSTS, gsts);
  }

  get interruptRemappingEnabled(): boolean {
    return ((this.dword(VTD_REG.GSTS) >>> GCMD_IRE) & 1) === 1;
  }

  /** The interrupt-remapping table latched by the last SIRTP. */
  get interruptTable(): VtdIrTable | null {
    return this.irt === null ? null : { ...this.irt };
  }

  get translationEnabled(): boolean {
    return ((this.dword(VTD_REG.GSTS) >>> GCMD_TE) & 1) === 1;
  }

  get rootTable(): number | null {
    return this.root;
  }

  /** CCMD (10.4.7): ICC set → invalidate per CIRG, report CAIG, clear ICC. */
  private contextCommand(): void {
    const v = this.qword(VTD_REG.CCMD);
    const cirg = Number(bits(v, 62, 61));
    const done = this.invalidateContext(cirg, Number(bits(v, 15, 0)), Number(bits(v, 31, 16)), Number(bits(v, 33, 32)));
    const out = (v & ~(1n << 63n) & ~(3n << 59n)) | (BigInt(done) << 59n);
    this.setQword(VTD_REG.CCMD, out);
  }

  /**
   * Context-cache invalidation. Returns the granularity performed (0 for a reserved CIRG).
   * Device-selective honours the function mask FM: 1 masks SID bit 2, 2 bits 2:1, 3 bits 2:0.
   */
  invalidateContext(granularity: number, did: number, sid: number, fm = 0): number {
    if (granularity === INV_GLOBAL) this.ctxCache.clear();
    else if (granularity === INV_DOMAIN) {
      for (const [k, e] of this.ctxCache) if (e.did === did) this.ctxCache.delete(k);
    } else if (granularity === INV_DEVICE_OR_PAGE) {
      const mask = ~[0, 4, 6, 7][fm]! & 0xffff;
      for (const k of [...this.ctxCache.keys()]) if ((k & mask) === (sid & mask)) this.ctxCache.delete(k);
    } else return 0;
    return granularity;
  }

  /** IOTLB invalidate register (10.4.8.1) with IVA (10.4.8.2): IVT set → invalidate, report IAIG. */
  private iotlbCommand(): void {
    const off = this.caps.iroOffset;
    const v = this.qword(off + 8);
    const iva = this.qword(off);
    const done = this.invalidateIotlb(Number(bits(v, 61, 60)), Number(bits(v, 47, 32)), iva & ~0xfffn, Number(bits(iva, 5, 0)));
    this.setQword(off + 8, (v & ~(1n << 63n) & ~(3n << 57n)) | (BigInt(done) << 57n));
  }

  /**
   * IOTLB invalidation: global, domain-selective (DSI) or page-selective (PSI: 2^am pages at
   * `addr`, aligned down to that size). Returns the granularity performed: a PSI without CAP.PSI
   * or with AM above MAMV is carried out as a DSI (the spec lets hardware invalidate more than
   * asked and say so in IAIG); a reserved IIRG performs nothing (0).
   */
  invalidateIotlb(granularity: number, did: number, addr = 0n, am = 0): number {
    if (granularity === INV_DEVICE_OR_PAGE && (!this.caps.psi || am > this.caps.mamv)) granularity = INV_DOMAIN;
    if (granularity === INV_GLOBAL) this.iotlb.clear();
    else if (granularity === INV_DOMAIN) {
      for (const [k, e] of this.iotlb) if (e.did === did) this.iotlb.delete(k);
    } else if (granularity === INV_DEVICE_OR_PAGE) {
      const size = 1n << BigInt(12 + am);
      const lo = addr & ~(size - 1n);
      const hi = lo + size;
      for (const [k, e] of this.iotlb) {
        if (e.did !== did) continue;
        const base = BigInt('0x' + e.vpn) << BigInt(e.shift);
        const end = base + (1n << BigInt(e.shift));
        if (base < hi && lo < end) this.iotlb.delete(k);
      }
    } else return 0;
    return granularity;
  }

  /**
   * Interrupt entry cache invalidation (the queued-invalidation descriptor of type 4, 6.5.2.7:
   * G, IIDX, IM): global, or index-selective for the 2^im entries whose index equals `index`
   * with its low `im` bits ignored.
   */
  invalidateInterruptEntryCache(global: boolean, index = 0, im = 0): void {
    if (global) {
      this.iec.clear();
      return;
    }
    if (!Number.isInteger(im) || im < 0 || im > 16) throw new RangeError(`IEC index mask ${im}`);
    for (const k of [...this.iec.keys()]) if (Math.floor(k / 2 ** im) === Math.floor(index / 2 ** im)) this.iec.delete(k);
  }

  /** The fault-recording register `i` as a record, or null if its F bit is clear. */
  faultRecord(i: number): (VtdFaultRecord & { index: number }) | null {
    const at = this.caps.froOffset + 16 * i;
    const d3 = this.dword(at + 12);
    if ((d3 & 0x80000000) === 0) return null;
    const reason = d3 & 0xff;
    const fi = this.qword(at);
    const rec = { index: i, reason, type: ((d3 >>> 30) & 1) as 0 | 1, sid: this.dword(at + 8) & 0xffff };
    // interrupt-remapping reasons (0x20..0x2F) put the interrupt index in FI bits 63:48
    if (reason >= 0x20 && reason <= 0x2f) return { ...rec, pageAddress: 0n, interruptIndex: Number(bits(fi, 63, 48)) };
    return { ...rec, pageAddress: fi & ~0xfffn };
  }

  /** Primary fault logging (7.2.1): next register, F set, FRI latched when PPF rises, PFO on overflow. */
  private recordFault(rec: VtdFaultRecord): boolean {
    let fsts = this.dword(VTD_REG.FSTS);
    if ((fsts & 1) !== 0) return false; // PFO set: nothing new is recorded until software clears it
    const at = this.caps.froOffset + 16 * this.nextFault;
    if ((this.dword(at + 12) & 0x80000000) !== 0) {
      this.setDword(VTD_REG.FSTS, fsts | 1);
      return false;
    }
    if (this.pendingFaults() === 0) fsts = (fsts & ~0xff00) | (this.nextFault << 8);
    this.setQword(at, rec.interruptIndex !== undefined ? BigInt(rec.interruptIndex & 0xffff) << 48n : rec.pageAddress & ~0xfffn);
    this.setDword(at + 8, rec.sid);
    this.setDword(at + 12, (0x80000000 | (rec.type << 30) | rec.reason) >>> 0);
    this.setDword(VTD_REG.FSTS, fsts);
    this.nextFault = (this.nextFault + 1) % this.caps.nfr;
    return true;
  }

  // ---- translation ---------------------------------------------------------------------------

  translate(req: DmaRequest): DmaOutcome<IommuFault> {
    checkRequest(req);
    const refs: TableRef[] = [];
    if (!this.translationEnabled) {
      if (req.iova >= 1n << 52n) throw new RangeError('IOVA beyond the host address space');
      return { ok: true, hpa: Number(req.iova), domainId: -1, iotlbHit: false, pageSize: 4096, refs };
    }
    const write = req.access === 'write';
    // FPD is honoured only once a present context entry without reserved bits was read
    let fpd = false;
    const fail = (reason: number): DmaOutcome<IommuFault> => {
      const record: VtdFaultRecord = { reason, sid: req.sid, pageAddress: req.iova & ~0xfffn, type: write ? 0 : 1 };
      const recorded = fpd ? false : this.recordFault(record);
      return { ok: false, fault: { vendor: 'vtd', reason, record, recorded }, refs };
    };

    let ctx = this.ctxCache.get(req.sid);
    if (ctx !== undefined) this.stats.contextHits++;
    else {
      this.stats.contextMisses++;
      const root = this.root;
      if (root === null || !this.mem.isRam(root)) return fail(VTD_FAULT.ROOT_TABLE_INVALID);
      const bus = req.sid >> 8;
      const rePa = root + bus * 16;
      const re = readEntry(this.mem, rePa, 4);
      const rref: TableRef = { kind: 'root-entry', level: 0, index: bus, pa: rePa, raw: re, decision: 'fault' };
      refs.push(rref);
      if (!bit(re, ROOT_E.P)) return fail(VTD_FAULT.ROOT_NOT_PRESENT);
      if (bits(re, ...ROOT_E.RSVD_LO) !== 0n || bits(re, ...ROOT_E.RSVD_HI) !== 0n || bits(re, 63, VTD_HAW) !== 0n) return fail(VTD_FAULT.ROOT_RESERVED);
      const ctp = Number(bits(re, ...ROOT_E.CTP) << 12n);
      if (!this.mem.isRam(ctp)) return fail(VTD_FAULT.CONTEXT_TABLE_INVALID);
      rref.decision = 'next';
      const devfn = req.sid & 0xff;
      const cePa = ctp + devfn * 16;
      const ce = readEntry(this.mem, cePa, 4);
      const cref: TableRef = { kind: 'context-entry', level: 0, index: devfn, pa: cePa, raw: ce, decision: 'fault' };
      refs.push(cref);
      if (!bit(ce, CTX_E.P)) return fail(VTD_FAULT.CONTEXT_NOT_PRESENT);
      // reserved: lo 11:4, SLPTPTR above the HAW, hi bit 7 (71), hi 63:24 (127:88)
      if (bits(ce, 11, 4) !== 0n || bits(ce, 63, VTD_HAW) !== 0n || bit(ce, 71) || bits(ce, 127, 88) !== 0n) return fail(VTD_FAULT.CONTEXT_RESERVED);
      fpd = bit(ce, CTX_E.FPD);
      const tt = Number(bits(ce, ...CTX_E.TT));
      const aw = Number(bits(ce, ...CTX_E.AW));
      if (tt === TT_DEV_IOTLB || tt === 3 || (tt === TT_PASS_THROUGH && !this.caps.pt)) return fail(VTD_FAULT.CONTEXT_INVALID);
      if (tt === TT_MULTI_LEVEL && ((this.caps.sagaw >> aw) & 1) === 0) return fail(VTD_FAULT.CONTEXT_INVALID);
      cref.decision = tt === TT_PASS_THROUGH ? 'pass-through' : 'next';
      ctx = { sid: req.sid, did: Number(bits(ce, ...CTX_E.DID)), tt, aw, slptptr: Number(bits(ce, ...CTX_E.SLPTPTR) << 12n), fpd };
      this.ctxCache.set(req.sid, ctx);
    }
    fpd = ctx.fpd;
    const did = ctx.did;

    if (ctx.tt === TT_PASS_THROUGH) {
      if (req.iova >> BigInt(this.caps.mgaw) !== 0n) return fail(VTD_FAULT.BEYOND_AW);
      return { ok: true, hpa: Number(req.iova), domainId: did, iotlbHit: false, pageSize: 4096, refs };
    }
    const width = 30 + 9 * ctx.aw;
    if (req.iova >> BigInt(width) !== 0n) return fail(VTD_FAULT.BEYOND_AW);

    for (const shift of [12, 21, 30]) {
      const e = this.iotlb.get(`${did}/${shift}/${(req.iova >> BigInt(shift)).toString(16)}`);
      if (e !== undefined && (write ? e.w : e.r)) {
        this.stats.iotlbHits++;
        return { ok: true, hpa: e.hpaBase + Number(req.iova & ((1n << BigInt(shift)) - 1n)), domainId: did, iotlbHit: true, pageSize: 2 ** shift, refs };
      }
    }
    this.stats.iotlbMisses++;

    let table = ctx.slptptr;
    let r = true;
    let w = true;
    for (let level = ctx.aw + 2; level >= 1; level--) {
      if (!this.mem.isRam(table)) return fail(VTD_FAULT.NEXT_TABLE_INVALID);
      const shift = 12 + 9 * (level - 1);
      const index = Number((req.iova >> BigInt(shift)) & 511n);
      const pa = table + index * 8;
      const e = readEntry(this.mem, pa, 2);
      const ref: TableRef = { kind: 'page-table-entry', level, index, pa, raw: e, decision: 'fault' };
      refs.push(ref);
      r &&= bit(e, SL_R);
      w &&= bit(e, SL_W);
      // QEMU (hw/i386/intel_iommu.c) checks the right before the reserved bits; so do we
      if (!(write ? w : r)) return fail(write ? VTD_FAULT.WRITE : VTD_FAULT.READ);
      const sp = bit(e, SL_SP);
      const leaf = level === 1 || (sp && (level === 2 || level === 3));
      let rsvd = bits(e, 6, 2) !== 0n || bit(e, SL_SNP) || bits(e, 51, VTD_HAW) !== 0n;
      if (level === 4 && sp) rsvd = true;
      if (sp && level === 2 && !this.caps.sp2m) rsvd = true;
      if (sp && level === 3 && !this.caps.sp1g) rsvd = true;
      if (leaf && level > 1 && bits(e, shift - 1, 12) !== 0n) rsvd = true; // a super page's address is aligned
      if (rsvd) return fail(VTD_FAULT.PTE_RESERVED);
      const addr = Number(bits(e, 51, 12) << 12n);
      if (leaf) {
        ref.decision = 'leaf';
        this.iotlb.set(`${did}/${shift}/${(req.iova >> BigInt(shift)).toString(16)}`, { did, shift, vpn: (req.iova >> BigInt(shift)).toString(16), hpaBase: addr, r, w });
        return { ok: true, hpa: addr + Number(req.iova & ((1n << BigInt(shift)) - 1n)), domainId: did, iotlbHit: false, pageSize: 2 ** shift, refs };
      }
      ref.decision = 'next';
      table = addr;
    }
    throw new Error('unreachable: level 1 is always a leaf');
  }

  // ---- interrupt remapping -------------------------------------------------------------------

  remapInterrupt(req: InterruptRequest): InterruptOutcome {
    checkInterruptRequest(req);
    if (!this.interruptRemappingEnabled) return { kind: 'passed', why: 'remapping-off' };
    const refs: TableRef[] = [];
    let index: number | null = null;
    let fpd = false;
    const fail = (reason: number): InterruptOutcome => {
      const record: VtdFaultRecord = { reason, sid: req.sid, pageAddress: 0n, type: 0, interruptIndex: index ?? 0 };
      const recorded = fpd ? false : this.recordFault(record);
      return { kind: 'blocked', index, refs, fault: { vendor: 'vtd', reason, record, recorded } };
    };
    const addr = req.address >>> 0;
    if (((addr >>> IR_ADDR.FORMAT) & 1) === 0) {
      if (((this.dword(VTD_REG.GSTS) >>> GCMD_CFI) & 1) === 1) return { kind: 'passed', why: 'compatibility' };
      return fail(VTD_IR_FAULT.COMPATIBILITY_BLOCKED);
    }
    const handle = ((addr >>> IR_ADDR.HANDLE[1]) & 0x7fff) | (((addr >>> IR_ADDR.HANDLE_15) & 1) << 15);
    index = ((addr >>> IR_ADDR.SHV) & 1) === 1 ? handle + (req.data & 0xffff) : handle;
    if (req.data >>> 16 !== 0) return fail(VTD_IR_FAULT.REQUEST_RESERVED);
    const irt = this.irt;
    if (irt === null || !this.mem.isRam(irt.base)) return fail(VTD_IR_FAULT.TABLE_INVALID);
    if (index >= irt.entries) return fail(VTD_IR_FAULT.INDEX_BEYOND_TABLE);

    let e = this.iec.get(index);
    const cacheHit = e !== undefined;
    if (e !== undefined) this.stats.iecHits++;
    else {
      this.stats.iecMisses++;
      const pa = irt.base + index * 16;
      if (!this.mem.isRam(pa)) return fail(VTD_IR_FAULT.TABLE_INVALID);
      e = readEntry(this.mem, pa, 4);
      const ref: TableRef = { kind: 'irte', level: 0, index, pa, raw: e, decision: 'fault' };
      refs.push(ref);
      // from here the faults are the qualified ones: the entry's FPD decides whether they are recorded
      fpd = bit(e, IRTE.FPD);
      if (!bit(e, IRTE.P)) return fail(VTD_IR_FAULT.IRTE_NOT_PRESENT);
      if (this.irteReserved(e)) return fail(VTD_IR_FAULT.IRTE_RESERVED);
      ref.decision = 'leaf';
      this.iec.set(index, e);
    }
    fpd = bit(e, IRTE.FPD);
    if (!this.sidVerified(e, req.sid)) {
      const r = refs[0];
      if (r !== undefined) r.decision = 'fault';
      return fail(VTD_IR_FAULT.SID_VERIFICATION);
    }

    if (!bit(e, IRTE.IM)) {
      const target: InterruptTarget = {
        vector: Number(bits(e, ...IRTE.VECTOR)),
        // xAPIC mode: the APIC ID is DST bits 15:8 (IRTE bits 47:40)
        destinationId: Number(bits(e, 47, 40)),
        destinationMode: bit(e, IRTE.DM) ? 'logical' : 'physical',
        deliveryMode: Number(bits(e, ...IRTE.DLM)),
        trigger: bit(e, IRTE.TM) ? 'level' : 'edge',
        redirectionHint: bit(e, IRTE.RH),
      };
      return { kind: 'remapped', index, refs, cacheHit, target };
    }
    return this.post(e, index, refs, cacheHit);
  }

  /** Reserved bits of an IRTE in its format (9.10, 9.11), and IM = 1 without CAP.PI. */
  private irteReserved(e: bigint): boolean {
    if (!bit(e, IRTE.IM)) {
      if (bits(e, 14, 12) !== 0n || bits(e, 31, 24) !== 0n || bits(e, 127, 84) !== 0n) return true;
      // xAPIC mode (EIME = 0): DST 7:0 and 31:16 are reserved
      return bits(e, 39, 32) !== 0n || bits(e, 63, 48) !== 0n;
    }
    if (!this.caps.pi) return true;
    if (bits(e, 7, 2) !== 0n || bits(e, 13, 12) !== 0n || bits(e, 37, 24) !== 0n || bits(e, 95, 84) !== 0n) return true;
    return bits(e, 127, 96 + VTD_HAW - 32) !== 0n; // descriptor address above the host address width
  }

  /** Source-ID verification (9.10 SVT, SQ, SID). */
  private sidVerified(e: bigint, sid: number): boolean {
    const svt = Number(bits(e, ...IRTE.SVT));
    const want = Number(bits(e, ...IRTE.SID));
    if (svt === SVT_NONE) return true;
    if (svt === SVT_SID) {
      const mask = ~SQ_IGNORED[Number(bits(e, ...IRTE.SQ))]! & 0xffff;
      return (sid & mask) === (want & mask);
    }
    if (svt === SVT_BUS_RANGE) {
      const bus = sid >> 8;
      return bus >= want >> 8 && bus <= (want & 0xff);
    }
    return false; // SVT 11 is reserved: taken as a verification failure (QEMU vtd_irte_get)
  }

  /** The posted-format processing (9.12): PIR, ON, SN, URG, notification, as one atomic update. */
  private post(e: bigint, index: number, refs: TableRef[], cacheHit: boolean): InterruptOutcome {
    const vector = Number(bits(e, ...IRTE.VECTOR));
    const urgent = bit(e, IRTE.URG);
    const descriptor = Number((bits(e, ...IRTE.PDA_HI) << 32n) | (bits(e, ...IRTE.PDA_LO) << 6n));
    if (!this.mem.isRam(descriptor)) throw new RangeError(`posted-interrupt descriptor at 0x${descriptor.toString(16)} is not RAM (the VT-d specification names no fault for it; the lab does not model what hardware does then)`);
    const pirAt = descriptor + 4 * (vector >>> 5);
    this.mem.write(pirAt, 4, (this.mem.read(pirAt, 4) | (1 << (vector & 31))) >>> 0);
    const ctlAt = descriptor + PID.ON / 8; // dword 8: ON bit 0, SN bit 1, NV bits 23:16
    const ctl = this.mem.read(ctlAt, 4) >>> 0;
    const on = (ctl & 1) === 1;
    const sn = ((ctl >>> 1) & 1) === 1;
    let notification: InterruptTarget | null = null;
    if (!on && (urgent || !sn)) {
      this.mem.write(ctlAt, 4, (ctl | 1) >>> 0);
      const ndst = this.mem.read(descriptor + PID.NDST[1] / 8, 4) >>> 0;
      notification = {
        vector: (ctl >>> (PID.NV[1] - PID.ON)) & 0xff,
        // xAPIC mode: NDST bits 15:8 hold the APIC ID (VT-d 9.12)
        destinationId: (ndst >>> 8) & 0xff,
        destinationMode: 'physical',
        deliveryMode: 0,
        trigger: 'edge',
        redirectionHint: false,
      };
    }
    return { kind: 'posted', index, refs, cacheHit, vector, descriptor, urgent, notification };
  }

  /** Entries in the interrupt entry cache now (for views and tests). */
  iecEntries(): VtdIecEntry[] {
    return [...this.iec].map(([index, raw]) => ({ index, raw: raw.toString(16) }));
  }

  // ---- time travel ---------------------------------------------------------------------------

  snapshot(): VtdState {
    return {
      cap: this.cap.toString(16),
      ecap: this.ecap.toString(16),
      regs: [...this.regs],
      root: this.root,
      nextFault: this.nextFault,
      iotlb: [...this.iotlb.values()].map((e) => ({ ...e })),
      contextCache: [...this.ctxCache.values()].map((e) => ({ ...e })),
      irt: this.irt === null ? null : { ...this.irt },
      iec: this.iecEntries(),
      stats: { ...this.stats },
    };
  }

  restore(s: VtdState): void {
    if (BigInt('0x' + s.cap) !== this.cap || BigInt('0x' + s.ecap) !== this.ecap) throw new Error('snapshot of a VT-d unit with other capabilities');
    this.regs = [...s.regs];
    this.root = s.root;
    this.nextFault = s.nextFault;
    this.iotlb = new Map(s.iotlb.map((e) => [`${e.did}/${e.shift}/${e.vpn}`, { ...e }]));
    this.ctxCache = new Map(s.contextCache.map((e) => [e.sid, { ...e }]));
    this.irt = s.irt === null ? null : { ...s.irt };
    this.iec = new Map(s.iec.map((e) => [e.index, BigInt('0x' + e.raw)]));
    this.stats = { ...s.stats };
  }

  /** Entries cached now (for views and tests). */
  iotlbEntries(): VtdIotlbEntry[] {
    return [...this.iotlb.values()].map((e) => ({ ...e }));
  }

  contextCacheEntries(): VtdContextCacheEntry[] {
    return [...this.ctxCache.values()].map((e) => ({ ...e }));
  }
}
