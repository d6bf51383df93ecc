/**
 * Builders for the tests of this folder: remapping structures written into host memory the way a
 * driver would (Linux drivers/iommu/intel and drivers/iommu/amd do the same steps), one entry at
 * a time. Kept apart from the remappers so that a wrong field position there is not mirrored
 * here: the builders use the constants, and reference.test.ts checks the constants against
 * tests/reference/*.json.
 */
import { PhysMem } from '../mem/physmem.ts';
import { AMD_IRTE, AMDVI_REG, CTRL_EVT_LOG_EN, CTRL_IOMMU_EN, DTE, DTE_INT, INT_CTL_REMAP, IOPTE, AmdViRemapper } from './amdvi.ts';
import { readEntry } from './types.ts';
import { CTX_E, GCMD_CFI, GCMD_IRE, GCMD_SIRTP, GCMD_SRTP, GCMD_TE, IR_ADDR, IRTA, IRTE, ROOT_E, SL_R, SL_SP, SL_W, VTD_REG, VtdRemapper } from './vtd.ts';

/** Writes a little-endian entry of `dwords` 32-bit words. */
export function putEntry(mem: PhysMem, pa: number, v: bigint, dwords: number): void {
  for (let i = 0; i < dwords; i++) mem.write(pa + 4 * i, 4, Number((v >> BigInt(32 * i)) & 0xffffffffn));
}

export function getEntry(mem: PhysMem, pa: number, dwords: number): bigint {
  return readEntry(mem, pa, dwords);
}

/** `value` placed at bits hi..lo. */
export function at(range: readonly [number, number] | number, value: number | bigint | boolean): bigint {
  const lo = typeof range === 'number' ? range : range[1];
  const v = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
  return v << BigInt(lo);
}

/** Hands out zeroed 4 KiB pages from `next` upwards. */
export class PageAlloc {
  constructor(public next: number) {}
  page(): number {
    const p = this.next;
    this.next += 4096;
    return p;
  }
}

export interface Rights {
  r: boolean;
  w: boolean;
}

// ---- VT-d ----------------------------------------------------------------------------------------

export class VtdKit {
  readonly iommu: VtdRemapper;
  readonly root: number;
  private ctxTables = new Map<number, number>();

  constructor(
    readonly mem: PhysMem,
    readonly alloc: PageAlloc,
    iommu?: VtdRemapper,
  ) {
    this.iommu = iommu ?? new VtdRemapper(mem);
    this.root = alloc.page();
  }

  /** RTADDR, SRTP, TE: what a driver does to switch translation on. */
  enable(): void {
    this.iommu.write64(VTD_REG.RTADDR, BigInt(this.root));
    this.iommu.write32(VTD_REG.GCMD, 1 << GCMD_SRTP);
    this.iommu.write32(VTD_REG.GCMD, (1 << GCMD_TE) >>> 0);
  }

  /** The context table of `bus`, made present in the root table on first use. */
  contextTable(bus: number): number {
    let t = this.ctxTables.get(bus);
    if (t === undefined) {
      t = this.alloc.page();
      this.ctxTables.set(bus, t);
      putEntry(this.mem, this.root + bus * 16, at(ROOT_E.P, 1) | BigInt(t), 4);
    }
    return t;
  }

  /** Writes the context entry of `sid`; returns the page-table root it points at. */
  context(sid: number, o: { did: number; aw?: number; tt?: number; fpd?: boolean; slptptr?: number }): number {
    const slpt = o.slptptr ?? this.alloc.page();
    const ce = at(CTX_E.P, 1) | at(CTX_E.FPD, o.fpd ?? false) | at(CTX_E.TT, o.tt ?? 0) | BigInt(slpt) | at(CTX_E.AW, o.aw ?? 2) | at(CTX_E.DID, o.did);
    putEntry(this.mem, this.contextTable(sid >> 8) + (sid & 0xff) * 16, ce, 4);
    return slpt;
  }

  /**
   * Maps the page of `iova` (size 2^shift: 12, 21, 30) to `hpa` in the tables at `slpt` with
   * `levels` levels; intermediate entries get R and W. Returns the leaf entry's address.
   */
  map(slpt: number, levels: number, iova: bigint, hpa: number, rights: Rights, shift = 12): number {
    let table = slpt;
    for (let level = levels; ; level--) {
      const s = 12 + 9 * (level - 1);
      const pa = table + Number((iova >> BigInt(s)) & 511n) * 8;
      if (s === shift) {
        putEntry(this.mem, pa, BigInt(hpa) | at(SL_R, rights.r) | at(SL_W, rights.w) | at(SL_SP, shift > 12), 2);
        return pa;
      }
      let e = getEntry(this.mem, pa, 2);
      if ((e & 3n) === 0n) {
        e = BigInt(this.alloc.page()) | at(SL_R, 1) | at(SL_W, 1);
        putEntry(this.mem, pa, e, 2);
      }
      table = Number(e & 0x000ffffffffff000n);
    }
  }
}

/** The GCMD bits that stay as written (TE, QIE 26, IRE, CFI): a driver writes them back each time. */
const GCMD_PERSISTENT = ((1 << GCMD_TE) | (1 << 26) | (1 << GCMD_IRE) | (1 << GCMD_CFI)) >>> 0;

/** A VT-d IRTE, remapped format (IM = 0) or posted format (`posted`: IM = 1). */
export interface IrteSpec {
  p?: boolean;
  fpd?: boolean;
  vector: number;
  /** Remapped format: the xAPIC destination (APIC ID), placed in DST bits 15:8. */
  dest?: number;
  dm?: boolean;
  rh?: boolean;
  tm?: boolean;
  dlm?: number;
  sid?: number;
  sq?: number;
  svt?: number;
  /** Posted format: the descriptor's address (64-byte aligned) and URG. */
  posted?: { pda: number; urg?: boolean };
  /** Raw bits ORed in (to set reserved ones). */
  extra?: bigint;
}

export function irteValue(o: IrteSpec): bigint {
  let e = at(IRTE.P, o.p ?? true) | at(IRTE.FPD, o.fpd ?? false) | at(IRTE.VECTOR, o.vector) | at(IRTE.SID, o.sid ?? 0) | at(IRTE.SQ, o.sq ?? 0) | at(IRTE.SVT, o.svt ?? 0);
  if (o.posted !== undefined) {
    const pda = BigInt(o.posted.pda);
    e |= at(IRTE.IM, 1) | at(IRTE.URG, o.posted.urg ?? false) | (((pda >> 6n) & ((1n << 26n) - 1n)) << 38n) | ((pda >> 32n) << 96n);
  } else {
    e |= at(IRTE.DM, o.dm ?? false) | at(IRTE.RH, o.rh ?? false) | at(IRTE.TM, o.tm ?? false) | at(IRTE.DLM, o.dlm ?? 0) | (BigInt(o.dest ?? 0) << 40n);
  }
  return e | (o.extra ?? 0n);
}

/** The remappable-format MSI address for `handle` (bit 15 goes to address bit 2), SHV optional. */
export function remappableAddress(handle: number, shv = false): number {
  return (0xfee00000 | ((handle & 0x7fff) << IR_ADDR.HANDLE[1]) | (1 << IR_ADDR.FORMAT) | ((shv ? 1 : 0) << IR_ADDR.SHV) | (((handle >> 15) & 1) << IR_ADDR.HANDLE_15)) >>> 0;
}

/** VT-d interrupt remapping the way a driver turns it on: IRTA, SIRTP, then IRE (and CFI). */
export function enableIr(kit: VtdKit, o: { s: number; cfi?: boolean; table?: number }): number {
  const entries = 2 ** (o.s + 1);
  let table = o.table;
  if (table === undefined) {
    table = kit.alloc.next;
    kit.alloc.next += Math.max(1, Math.ceil((entries * 16) / 4096)) * 4096;
  }
  const u = kit.iommu;
  u.write64(VTD_REG.IRTA, BigInt(table) | at(IRTA.S, o.s));
  const keep = u.read32(VTD_REG.GSTS) & GCMD_PERSISTENT;
  u.write32(VTD_REG.GCMD, (keep | (1 << GCMD_SIRTP)) >>> 0);
  u.write32(VTD_REG.GCMD, (keep | (1 << GCMD_IRE) | ((o.cfi ?? false) ? 1 << GCMD_CFI : 0)) >>> 0);
  return table;
}

// ---- AMD-Vi --------------------------------------------------------------------------------------

export class AmdKit {
  readonly iommu: AmdViRemapper;
  readonly devTable: number;
  readonly eventLog: number;

  /** A device table of `devTablePages` pages and an event log of 2^logLen entries. */
  constructor(
    readonly mem: PhysMem,
    readonly alloc: PageAlloc,
    devTablePages = 16,
    readonly logLen = 8,
  ) {
    this.iommu = new AmdViRemapper(mem);
    this.devTable = alloc.next;
    alloc.next += devTablePages * 4096;
    this.eventLog = alloc.next;
    const logPages = Math.max(1, (16 * 2 ** logLen) / 4096);
    alloc.next += logPages * 4096;
    // touch the log's pages now so that later event writes allocate no RAM page (tests count them)
    for (let i = 0; i < logPages; i++) mem.write(this.eventLog + i * 4096, 4, 0);
    this.iommu.write64(AMDVI_REG.DEV_TABLE_BASE, BigInt(this.devTable) | BigInt(devTablePages - 1));
    this.iommu.write64(AMDVI_REG.EVENT_LOG_BASE, BigInt(this.eventLog) | (BigInt(logLen) << 56n));
  }

  enable(log = true): void {
    this.iommu.write64(AMDVI_REG.CONTROL, at(CTRL_IOMMU_EN, 1) | at(CTRL_EVT_LOG_EN, log));
  }

  /** Writes the DTE of `deviceId`; returns its page-table root. */
  dte(deviceId: number, o: { domainId: number; mode?: number; r?: boolean; w?: boolean; v?: boolean; tv?: boolean; sa?: boolean; root?: number; extra?: bigint }): number {
    const root = o.root ?? this.alloc.page();
    const e =
      at(DTE.V, o.v ?? true) |
      at(DTE.TV, o.tv ?? true) |
      at([DTE.MODE_HI, DTE.MODE_LO], o.mode ?? 4) |
      BigInt(root) |
      at(DTE.IR, o.r ?? true) |
      at(DTE.IW, o.w ?? true) |
      at([DTE.DOMAIN_HI, DTE.DOMAIN_LO], o.domainId) |
      at(DTE.SA, o.sa ?? false) |
      (o.extra ?? 0n);
    putEntry(this.mem, this.devTable + deviceId * 32, e, 8);
    return root;
  }

  /**
   * Maps the page of `iova` (2^shift) in the tables at `root` with `mode` levels; intermediate
   * entries are present with IR, IW and Next Level = level - 1. Returns the leaf's address.
   */
  map(root: number, mode: number, iova: bigint, hpa: number, rights: Rights, shift = 12): number {
    let table = root;
    for (let level = mode; ; level--) {
      const s = 12 + 9 * (level - 1);
      const pa = table + Number((iova >> BigInt(s)) & 511n) * 8;
      if (s === shift) {
        putEntry(this.mem, pa, BigInt(hpa) | at(IOPTE.PR, 1) | at(IOPTE.IR, rights.r) | at(IOPTE.IW, rights.w), 2);
        return pa;
      }
      let e = getEntry(this.mem, pa, 2);
      if ((e & 1n) === 0n) {
        e = BigInt(this.alloc.page()) | at(IOPTE.PR, 1) | at([IOPTE.NL_HI, IOPTE.NL_LO], level - 1) | at(IOPTE.IR, 1) | at(IOPTE.IW, 1);
        putEntry(this.mem, pa, e, 2);
      }
      table = Number(e & 0x000ffffffffff000n);
    }
  }

  eventTail(): number {
    return Number(this.iommu.read64(AMDVI_REG.EVENT_TAIL));
  }

  /**
   * A DTE for interrupts only (V = 1, TV = 0: DMA passes untranslated) with an interrupt table
   * of 2^len entries at `root` (allocated when not given). Returns the table's address.
   */
  irDte(deviceId: number, o: { len: number; intCtl?: number; iv?: boolean; root?: number; domainId?: number; sa?: boolean; nmiPass?: boolean; initPass?: boolean; eintPass?: boolean }): number {
    const root = o.root ?? this.alloc.page();
    const extra =
      at(DTE_INT.IV, o.iv ?? true) |
      at(DTE_INT.INT_TAB_LEN, o.len) |
      ((BigInt(root) >> 6n) << BigInt(DTE_INT.INT_TABLE_ROOT[1])) |
      at(DTE_INT.INT_CTL, o.intCtl ?? INT_CTL_REMAP) |
      at(DTE_INT.NMI_PASS, o.nmiPass ?? false) |
      at(DTE_INT.INIT_PASS, o.initPass ?? false) |
      at(DTE_INT.EINT_PASS, o.eintPass ?? false);
    this.dte(deviceId, { domainId: o.domainId ?? 0, tv: false, mode: 0, root: 0, sa: o.sa ?? false, extra });
    return root;
  }
}

/** An AMD-Vi legacy (32-bit) IRTE. */
export function amdIrteValue(o: { remapEn?: boolean; supIopf?: boolean; intType?: number; dm?: boolean; guestMode?: boolean; dest: number; vector: number }): number {
  return Number(at(AMD_IRTE.REMAP_EN, o.remapEn ?? true) | at(AMD_IRTE.SUP_IOPF, o.supIopf ?? false) | at(AMD_IRTE.INT_TYPE, o.intType ?? 0) | at(AMD_IRTE.DM, o.dm ?? false) | at(AMD_IRTE.GUEST_MODE, o.guestMode ?? false) | at(AMD_IRTE.DESTINATION, o.dest) | at(AMD_IRTE.VECTOR, o.vector));
}
