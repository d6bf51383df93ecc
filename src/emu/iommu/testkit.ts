/**
 * Builders for the tests of this folder: remapping structures written into host memory the way a
 * driver would (Linux drivers/iommu/intel and drivers/iommu/amd do the same steps), one entry at
 * a time. Kept apart from the remappers so that a wrong field position there is not mirrored
 * here: the builders use the constants, and reference.test.ts checks the constants against
 * tests/reference/*.json.
 */
import { PhysMem } from '../mem/physmem.ts';
import { AMDVI_REG, CTRL_EVT_LOG_EN, CTRL_IOMMU_EN, DTE, IOPTE, AmdViRemapper } from './amdvi.ts';
import { readEntry } from './types.ts';
import { CTX_E, GCMD_SRTP, GCMD_TE, ROOT_E, SL_R, SL_SP, SL_W, VTD_REG, VtdRemapper } from './vtd.ts';

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
}
