/**
 * DMA remapping homework (`lab exercise iommu`, issue 8 item 7): a seeded IOMMU setup printed as a
 * student gets it on paper, and K DMA requests from devices, with now and then a table edit and
 * the invalidation that should follow it.
 *
 * VT-d (legacy mode): RTADDR and GSTS, the present root entries, the context entries (decoded:
 * SID, DID, TT, AW, SLPTPTR, FPD) and the second-level tables as a raw memory dump. AMD-Vi: the
 * device-table and event-log base registers, the DTEs (decoded: DeviceID, V, TV, Mode, root,
 * IR/IW, DomainID) and the I/O page tables as a raw memory dump. Two domains, two or three
 * devices, random R/W mappings, sometimes a 2 MiB page, sometimes a context entry with P = 0 / a
 * DTE with V = 0 or TV = 0 / a DTE with Mode 7, sometimes a table pointer to a page outside RAM.
 *
 * For each request the student says where it lands, or which fault (VT-d reason and fault record,
 * AMD-Vi event-log entry) blocks it; whether the IOTLB answers it; which entries are read, in
 * order. One sequence per exercise (when K >= 3, most seeds) is the classic one: a request fills
 * the IOTLB, software edits the leaf entry, the same page is asked again (the IOTLB still answers
 * with the old translation), software invalidates the page, and the page is asked once more.
 *
 * Nothing is worked out here: the generator writes the structures into host memory, programs the
 * real `VtdRemapper` / `AmdViRemapper` through their registers, and the key is what the unit
 * returned for each request, the fault record it wrote (read back from its fault-recording
 * register, which the "driver" then clears) or the event-log entry it wrote (read back from
 * memory). When the IOTLB answers, a second unit with empty caches is asked the same request over
 * the same memory, to say what the tables say now (that is how a stale entry shows).
 *
 * Plain data out (JSON-serializable): 64-bit and wider values as hex strings, addresses below
 * 2^52 as numbers.
 */
import { PhysMem } from '../mem/physmem.ts';
import { AMDVI_EVENT, AMDVI_REG, AmdViRemapper, CTRL_EVT_LOG_EN, CTRL_IOMMU_EN, DTE, EVENT_FLAG_RW, IOPTE } from '../iommu/amdvi.ts';
import { bit, bits, readEntry, type DmaAccess, type DmaOutcome, type IommuFault, type RefDecision, type RefKind } from '../iommu/types.ts';
import { CTX_E, GCMD_SRTP, GCMD_TE, ROOT_E, SL_R, SL_SP, SL_W, VTD_REG, VtdRemapper } from '../iommu/vtd.ts';
import { mixSeed, rng } from './rng.ts';

export type IommuVendor = 'vtd' | 'amdvi';

export const IOMMU_DEFAULT_COUNT = 6;
export const IOMMU_MAX_COUNT = 16;

/** Host RAM: 16 MiB. Tables live in [1 MiB, 4 MiB), 4 KiB data pages in [4 MiB, 12 MiB), 2 MiB pages at 12 and 14 MiB. */
export const IOMMU_EX_RAM = 0x1000000;
const TABLE_LO = 0x100;
const TABLE_HI = 0x400;
const DATA_LO = 0x400;
const DATA_HI = 0xc00;
const BIG_PAGES = [0xc00000, 0xe00000];
/** Where a broken table pointer points: 1 GiB and up, no RAM there. */
const NOWHERE = 0x40000000;

/** VT-d fault reasons the exercise can produce, worded as tests/reference/vtd.json (Xen's table). */
export const VTD_REASON_NAMES: Record<number, string> = {
  0x1: 'Present bit in root entry is clear',
  0x2: 'Present bit in context entry is clear',
  0x3: 'Invalid context entry',
  0x4: 'Access beyond MGAW',
  0x5: 'PTE Write access is not set',
  0x6: 'PTE Read access is not set',
  0x7: 'Next page table ptr is invalid',
};

/** AMD-Vi event types, named as tests/reference/amd-vi.json. */
export const AMDVI_EVENT_NAMES: Record<number, string> = {
  1: 'ILLEGAL_DEV_TABLE_ENTRY',
  2: 'IO_PAGE_FAULT',
  3: 'DEV_TAB_HW_ERROR',
  4: 'PAGE_TAB_HW_ERROR',
};

/** One structure entry written into host memory before the first step: `dwords` little-endian 32-bit words. */
export interface MemWrite {
  pa: number;
  dwords: number;
  /** The value, hex without 0x. */
  value: string;
}

export interface VtdRootDump {
  bus: number;
  pa: number;
  raw: string;
}

export interface VtdContextDump {
  sid: number;
  pa: number;
  raw: string;
  p: boolean;
  fpd: boolean;
  tt: number;
  aw: number;
  slptptr: number;
  did: number;
}

export interface AmdDteDump {
  deviceId: number;
  pa: number;
  raw: string;
  v: boolean;
  tv: boolean;
  mode: number;
  root: number;
  ir: boolean;
  iw: boolean;
  domainId: number;
}

export interface VtdSetup {
  vendor: 'vtd';
  /** RTADDR and GSTS as read back from the unit. */
  rtaddr: number;
  gsts: number;
  roots: VtdRootDump[];
  contexts: VtdContextDump[];
}

export interface AmdSetup {
  vendor: 'amdvi';
  /** The device-table base register and the event-log base register as read back. */
  devTableReg: string;
  devTableBase: number;
  /** The register's Size field: the table is (Size + 1) × 4 KiB. */
  devTableSize: number;
  eventLogReg: string;
  eventLogBase: number;
  eventLogLen: number;
  control: string;
  dtes: AmdDteDump[];
}

/** A page of I/O page tables: its non-zero 8-byte entries. */
export interface TablePageDump {
  address: number;
  entries: { index: number; value: string }[];
}

export type StaleRole = 'fill' | 'stale' | 'after';

export type IommuStep =
  | { kind: 'dma'; sid: number; iova: number; access: DmaAccess; length: number; role?: StaleRole }
  /** Software stores `value` (8 bytes) to the table entry at `pa`, which held `before`. */
  | { kind: 'edit'; pa: number; before: string; value: string; how: 'remap' | 'unmap' | 'revoke' }
  /** VT-d page-selective IOTLB invalidation (IIRG = 3, AM = 0) / AMD-Vi INVALIDATE_IOMMU_PAGES with S = 0. */
  | { kind: 'invalidate'; domainId: number; address: number };

export interface RefAnswer {
  kind: RefKind;
  level: number;
  index: number;
  pa: number;
  raw: string;
  decision: RefDecision;
}

export type FaultAnswer =
  | {
      vendor: 'vtd';
      reason: number;
      recorded: boolean;
      /** The fault-recording register the unit wrote, read back: its index, fields and the two raw qwords. */
      record: { index: number; pageAddress: number; sid: number; type: 0 | 1; reason: number; lo: string; hi: string } | null;
    }
  | {
      vendor: 'amd-vi';
      code: number;
      logged: boolean;
      /** The event-log entry the unit wrote, read back from memory: its byte offset from the log base, fields and dwords. */
      entry: { offset: number; deviceId: number; domainId: number; flags: number; address: string; dwords: number[] } | null;
    };

export type DmaAnswer = {
  kind: 'dma';
  refs: RefAnswer[];
  /** What a unit with empty caches answers for the same request over the same memory (only when the IOTLB answered). */
  tablesNow: { ok: true; hpa: number } | { ok: false; reason: number } | null;
} & ({ ok: true; hpa: number; domainId: number; iotlbHit: boolean; pageSize: number } | { ok: false; fault: FaultAnswer });

export type IommuAnswer =
  | DmaAnswer
  | { kind: 'edit' }
  /** VT-d: the IAIG the unit reported (3 = page-selective done); AMD-Vi: null. */
  | { kind: 'invalidate'; iaig: number | null };

export interface IommuExercise {
  seed: number;
  vendor: IommuVendor;
  ramSize: number;
  setup: VtdSetup | AmdSetup;
  /** Every entry written before the first step, in order (what a replay needs). */
  memory: MemWrite[];
  tables: TablePageDump[];
  steps: IommuStep[];
  answers: IommuAnswer[];
  /** The unit's IOTLB counters after the last step. */
  iotlb: { hits: number; misses: number };
}

export interface IommuExerciseOptions {
  seed: number;
  count?: number;
  vendor?: IommuVendor;
}

const hexOf = (v: bigint): string => v.toString(16);

interface Domain {
  id: number;
  /** 3 or 4 levels. */
  levels: number;
  root: number;
  /** AMD-Vi DTE rights (VT-d: both true). */
  r: boolean;
  w: boolean;
  mappings: Mapping[];
  /** 4 KiB-aligned IOVAs of leaf tables' regions (2 MiB) that hold 4 KiB mappings. */
  clusters: number[];
  broken: { iova: number; span: number } | null;
}

interface Mapping {
  iova: number;
  shift: 12 | 21;
  hpa: number;
  r: boolean;
  w: boolean;
  /** Address of the leaf entry. */
  leaf: number;
}

interface Device {
  sid: number;
  domain: Domain | null;
  /** Requests from it are translated by its domain's tables. */
  working: boolean;
}

/** The vendor that `seed` gives when none is asked for. */
export function vendorOfSeed(seed: number): IommuVendor {
  return rng(mixSeed(seed, 0x10))() < 0.5 ? 'vtd' : 'amdvi';
}

/** Generates the exercise for `seed` (and count and vendor): the same options give the same exercise. */
export function generateIommuExercise(opts: IommuExerciseOptions): IommuExercise {
  const { seed } = opts;
  const count = opts.count ?? IOMMU_DEFAULT_COUNT;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: ${seed} is not a non-negative integer`);
  if (!Number.isInteger(count) || count < 1 || count > IOMMU_MAX_COUNT) throw new RangeError(`count: ${count} is not 1..${IOMMU_MAX_COUNT}`);
  const vendor = opts.vendor ?? vendorOfSeed(seed);
  if (vendor !== 'vtd' && vendor !== 'amdvi') throw new RangeError(`vendor: '${String(vendor)}' is not vtd or amdvi`);
  const vtd = vendor === 'vtd';
  const r = rng(mixSeed(seed, count, vtd ? 1 : 2, 0x8d));
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const chance = (p: number): boolean => r() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

  const mem = new PhysMem(IOMMU_EX_RAM);
  const memory: MemWrite[] = [];
  let setupDone = false;
  const put = (pa: number, v: bigint, dwords: number): void => {
    for (let i = 0; i < dwords; i++) mem.write(pa + 4 * i, 4, Number((v >> BigInt(32 * i)) & 0xffffffffn));
    if (!setupDone) memory.push({ pa, dwords, value: hexOf(v) });
  };
  const usedPages = new Set<number>();
  const freshPage = (lo: number, hi: number): number => {
    let p: number;
    do p = int(lo, hi - 1);
    while (usedPages.has(p));
    usedPages.add(p);
    return p * 0x1000;
  };
  /** Pages of I/O page tables (the dump); root, context and device tables are printed apart. */
  const tablePages: number[] = [];
  const tablePage = (): number => {
    const p = freshPage(TABLE_LO, TABLE_HI);
    tablePages.push(p);
    return p;
  };
  const dataPage = (): number => freshPage(DATA_LO, DATA_HI);
  const bigFree = [...BIG_PAGES];
  const bigPage = (): number | null => (bigFree.length === 0 ? null : bigFree.splice(Math.floor(r() * bigFree.length), 1)[0]!);

  // ---- entry encodings (positions from the units' exported constants) ----
  const b = (v: boolean | number, at: number): bigint => BigInt(typeof v === 'boolean' ? +v : v) << BigInt(at);
  const nonLeaf = (addr: number, level: number): bigint =>
    vtd ? BigInt(addr) | b(1, SL_R) | b(1, SL_W) : BigInt(addr) | b(1, IOPTE.PR) | b(level - 1, IOPTE.NL_LO) | b(1, IOPTE.IR) | b(1, IOPTE.IW);
  const leafEntry = (m: { hpa: number; r: boolean; w: boolean; shift: number }): bigint =>
    vtd
      ? BigInt(m.hpa) | b(m.r, SL_R) | b(m.w, SL_W) | b(m.shift > 12, SL_SP)
      : BigInt(m.hpa) | b(1, IOPTE.PR) | b(m.r, IOPTE.IR) | b(m.w, IOPTE.IW);
  const present = (e: bigint): boolean => (vtd ? (e & 3n) !== 0n : (e & 1n) !== 0n);
  /** The table at `level` - 1 under the entry of `iova` in the table at `level`, made on first use. */
  const tableFor = (d: Domain, iova: number, downTo: number): number => {
    let table = d.root;
    for (let level = d.levels; level > downTo; level--) {
      const pa = table + Number((BigInt(iova) >> BigInt(12 + 9 * (level - 1))) & 511n) * 8;
      let e = readEntry(mem, pa, 2);
      if (!present(e)) {
        e = nonLeaf(tablePage(), level);
        put(pa, e, 2);
      }
      table = Number(bits(e, 51, 12) << 12n);
    }
    return table;
  };
  const entryAt = (table: number, iova: number, level: number): number => table + Number((BigInt(iova) >> BigInt(12 + 9 * (level - 1))) & 511n) * 8;

  // ---- domains and their mappings ----
  const domainIds = new Set<number>();
  while (domainIds.size < 2) domainIds.add(int(1, 0xff));
  const domains: Domain[] = [...domainIds].map((id) => {
    const rights = vtd || chance(0.8) ? { r: true, w: true } : pick([{ r: true, w: false }, { r: false, w: true }]);
    return { id, levels: chance(0.5) ? 3 : 4, root: tablePage(), ...rights, mappings: [], clusters: [], broken: null };
  });
  const usedRegions = new Set<number>();
  for (const d of domains) {
    const reach = 2 ** (12 + 9 * d.levels);
    const region = (): number => {
      let v: number;
      do v = int(0, reach / 2 ** 21 - 1) * 2 ** 21;
      while (usedRegions.has(v));
      usedRegions.add(v);
      return v;
    };
    const c0 = region();
    d.clusters.push(c0);
    if (chance(0.6)) {
      // a second cluster, often in the same 1 GiB (so the two share their upper tables)
      let c1 = chance(0.5) ? c0 - (c0 % 2 ** 30) + int(0, 511) * 2 ** 21 : region();
      if (usedRegions.has(c1) && c1 !== c0) c1 = region();
      if (c1 !== c0) {
        usedRegions.add(c1);
        d.clusters.push(c1);
      }
    }
    const rights = (): { r: boolean; w: boolean } => pick([{ r: true, w: true }, { r: true, w: true }, { r: true, w: false }, { r: true, w: false }, { r: false, w: true }]);
    const taken = new Set<number>();
    for (let k = int(3, 5); k > 0; k--) {
      const c = pick(d.clusters);
      let iova: number;
      do iova = c + int(0, 511) * 4096;
      while (taken.has(iova));
      taken.add(iova);
      const m = { iova, shift: 12 as const, hpa: dataPage(), ...rights() };
      const leaf = entryAt(tableFor(d, iova, 1), iova, 1);
      put(leaf, leafEntry(m), 2);
      d.mappings.push({ ...m, leaf });
    }
    if (chance(0.35)) {
      const hpa = bigPage();
      if (hpa !== null) {
        const iova = region();
        const m = { iova, shift: 21 as const, hpa, ...rights() };
        const leaf = entryAt(tableFor(d, iova, 2), iova, 2);
        put(leaf, leafEntry(m), 2);
        d.mappings.push({ ...m, leaf });
      }
    }
  }
  // sometimes a table pointer to a page outside RAM (VT-d reason 7, AMD-Vi PAGE_TAB_HW_ERROR)
  if (chance(0.45)) {
    const d = pick(domains);
    const level = pick([2, 3]);
    const span = 2 ** (12 + 9 * (level - 1));
    const reach = 2 ** (12 + 9 * d.levels);
    let iova: number;
    do iova = int(0, reach / span - 1) * span;
    while ([...usedRegions].some((u) => u - (u % span) === iova));
    usedRegions.add(iova);
    put(entryAt(tableFor(d, iova, level), iova, level), nonLeaf(NOWHERE + int(0, 0xfff) * 0x1000, level), 2);
    d.broken = { iova, span };
  }

  // ---- devices ----
  const sids = new Set<number>();
  const busMax = vtd ? 3 : 1;
  const newSid = (bus = int(0, busMax)): number => {
    let s: number;
    do s = (bus << 8) | (int(0, 31) << 3) | (chance(0.6) ? 0 : int(1, 7));
    while (sids.has(s));
    sids.add(s);
    return s;
  };
  const devices: Device[] = [{ sid: newSid(), domain: domains[0]!, working: true }, { sid: newSid(), domain: domains[1]!, working: true }];
  if (chance(0.5)) devices.push({ sid: newSid(), domain: pick(domains), working: true });
  /** Devices with a special entry: VT-d P = 0; AMD-Vi V = 0 / TV = 0 (passes), Mode 7 (illegal). */
  const specials: Device[] = [];
  if (chance(vtd ? 0.4 : 0.35)) specials.push({ sid: newSid(), domain: pick(domains), working: false });
  if (!vtd && chance(0.35)) specials.push({ sid: newSid(), domain: pick(domains), working: false });

  let unit: VtdRemapper | AmdViRemapper;
  let setup: VtdSetup | AmdSetup;
  let strangerBeyond: () => number;
  if (vtd) {
    const rootTable = freshPage(TABLE_LO, TABLE_HI);
    const ctxTables = new Map<number, number>();
    const ctxTable = (bus: number): number => {
      let t = ctxTables.get(bus);
      if (t === undefined) {
        t = freshPage(TABLE_LO, TABLE_HI);
        ctxTables.set(bus, t);
        put(rootTable + bus * 16, b(1, ROOT_E.P) | BigInt(t), 4);
      }
      return t;
    };
    for (const dev of [...devices, ...specials]) {
      const d = dev.domain!;
      const p = dev.working;
      const fpd = dev.working && chance(0.12);
      const ce = b(p, CTX_E.P) | b(fpd, CTX_E.FPD) | b(0, CTX_E.TT[1]) | BigInt(d.root) | b(d.levels - 2, CTX_E.AW[1]) | b(d.id, CTX_E.DID[1]);
      put(ctxTable(dev.sid >> 8) + (dev.sid & 0xff) * 16, ce, 4);
    }
    const u = new VtdRemapper(mem);
    u.write64(VTD_REG.RTADDR, BigInt(rootTable));
    u.write32(VTD_REG.GCMD, 1 << GCMD_SRTP);
    u.write32(VTD_REG.GCMD, (1 << GCMD_TE) >>> 0);
    unit = u;
    const roots: VtdRootDump[] = [];
    const contexts: VtdContextDump[] = [];
    for (let bus = 0; bus < 256; bus++) {
      const re = readEntry(mem, rootTable + bus * 16, 4);
      if (re === 0n) continue;
      roots.push({ bus, pa: rootTable + bus * 16, raw: hexOf(re) });
      if (!bit(re, ROOT_E.P)) continue;
      const ct = Number(bits(re, ...ROOT_E.CTP) << 12n);
      for (let devfn = 0; devfn < 256; devfn++) {
        const pa = ct + devfn * 16;
        const ce = readEntry(mem, pa, 4);
        if (ce === 0n) continue;
        contexts.push({
          sid: (bus << 8) | devfn, pa, raw: hexOf(ce), p: bit(ce, CTX_E.P), fpd: bit(ce, CTX_E.FPD), tt: Number(bits(ce, ...CTX_E.TT)),
          aw: Number(bits(ce, ...CTX_E.AW)), slptptr: Number(bits(ce, ...CTX_E.SLPTPTR) << 12n), did: Number(bits(ce, ...CTX_E.DID)),
        });
      }
    }
    setup = { vendor: 'vtd', rtaddr: Number(u.read64(VTD_REG.RTADDR)), gsts: u.read32(VTD_REG.GSTS), roots, contexts };
    // a requester on a bus whose root entry is not present
    strangerBeyond = () => {
      const absent = [0, 1, 2, 3, 4, 5].filter((bus) => !ctxTables.has(bus));
      return newSid(pick(absent));
    };
  } else {
    const size = 3; // 4 pages: DeviceIDs 0x000..0x1ff
    // size + 1 consecutive free pages
    let first: number;
    do first = int(TABLE_LO, TABLE_HI - size - 1);
    while ([...Array(size + 1).keys()].some((i) => usedPages.has(first + i)));
    for (let i = 0; i <= size; i++) usedPages.add(first + i);
    const devTable = first * 0x1000;
    const eventLog = freshPage(TABLE_LO, TABLE_HI);
    const logLen = 8; // 256 entries of 16 bytes: one page
    for (const dev of [...devices, ...specials]) {
      const d = dev.domain!;
      let v = true;
      let tv = true;
      let mode = d.levels;
      if (!dev.working) {
        const k = pick(['v0', 'tv0', 'mode7'] as const);
        if (k === 'v0') v = false;
        else if (k === 'tv0') tv = false;
        else mode = 7;
      }
      const e = b(v, DTE.V) | b(tv, DTE.TV) | b(mode, DTE.MODE_LO) | BigInt(d.root) | b(d.r, DTE.IR) | b(d.w, DTE.IW) | b(d.id, DTE.DOMAIN_LO);
      put(devTable + dev.sid * 32, e, 8);
    }
    const u = new AmdViRemapper(mem);
    u.write64(AMDVI_REG.DEV_TABLE_BASE, BigInt(devTable) | BigInt(size));
    u.write64(AMDVI_REG.EVENT_LOG_BASE, BigInt(eventLog) | (BigInt(logLen) << 56n));
    u.write64(AMDVI_REG.CONTROL, b(1, CTRL_IOMMU_EN) | b(1, CTRL_EVT_LOG_EN));
    unit = u;
    const dtes: AmdDteDump[] = [];
    for (let id = 0; id < ((size + 1) * 4096) / 32; id++) {
      const pa = devTable + id * 32;
      const e = readEntry(mem, pa, 8);
      if (e === 0n) continue;
      dtes.push({
        deviceId: id, pa, raw: hexOf(e), v: bit(e, DTE.V), tv: bit(e, DTE.TV), mode: Number(bits(e, DTE.MODE_HI, DTE.MODE_LO)),
        root: Number(bits(e, DTE.ROOT_HI, DTE.ROOT_LO) << 12n), ir: bit(e, DTE.IR), iw: bit(e, DTE.IW), domainId: Number(bits(e, DTE.DOMAIN_HI, DTE.DOMAIN_LO)),
      });
    }
    setup = {
      vendor: 'amdvi', devTableReg: hexOf(u.read64(AMDVI_REG.DEV_TABLE_BASE)), devTableBase: devTable, devTableSize: size,
      eventLogReg: hexOf(u.read64(AMDVI_REG.EVENT_LOG_BASE)), eventLogBase: eventLog, eventLogLen: logLen, control: hexOf(u.read64(AMDVI_REG.CONTROL)), dtes,
    };
    // a requester beyond the device table's Size
    strangerBeyond = () => newSid(int(2, 5));
  }
  setupDone = true;
  // the I/O page tables as they are before the first step, read back from memory
  const tables: TablePageDump[] = tablePages
    .slice()
    .sort((x, y) => x - y)
    .map((address) => {
      const entries: { index: number; value: string }[] = [];
      for (let i = 0; i < 512; i++) {
        const e = readEntry(mem, address + i * 8, 2);
        if (e !== 0n) entries.push({ index: i, value: hexOf(e) });
      }
      return { address, entries };
    });

  // ---- the steps ----
  const working = devices;
  const inDomain = (d: Domain): Device[] => working.filter((x) => x.domain === d);
  const steps: IommuStep[] = [];
  const earlier: { dev: Device; page: number; access: DmaAccess }[] = [];
  const sized = (base: number, pageSize: number): { iova: number; length: number } => {
    const length = pick([4, 8, 64, 512]);
    const chunk = base + int(0, pageSize / 4096 - 1) * 4096;
    return { iova: chunk + int(0, 4096 / length - 1) * length, length };
  };
  type Kind = 'mapped' | 'repeat' | 'hole' | 'stranger' | 'special' | 'broken' | 'beyond';
  const brokenDomain = domains.find((x) => x.broken !== null);
  const randomRequest = (): IommuStep => {
    const kinds: [Kind, number][] = [['mapped', 34], ['repeat', earlier.length > 0 ? 16 : 0], ['hole', 14], ['stranger', 11], ['special', specials.length > 0 ? 10 : 0], ['broken', brokenDomain !== undefined ? 10 : 0], ['beyond', 5]];
    let roll = r() * kinds.reduce((t, k) => t + k[1], 0);
    let kind: Kind = 'mapped';
    for (const [k, w] of kinds) {
      if (roll < w) {
        kind = k;
        break;
      }
      roll -= w;
    }
    const dev = pick(working);
    const d = dev.domain!;
    const access: DmaAccess = chance(0.5) ? 'read' : 'write';
    const req = (sid: number, page: number): IommuStep => {
      const q = sized(page, 4096);
      return { kind: 'dma', sid, iova: q.iova, access, length: q.length };
    };
    switch (kind) {
      case 'repeat': {
        // the same page again, maybe from the other device of the domain
        const e = pick(earlier);
        const q = sized(e.page, 4096);
        return { kind: 'dma', sid: pick(inDomain(e.dev.domain!)).sid, iova: q.iova, access: chance(0.7) ? e.access : access, length: q.length };
      }
      case 'hole': {
        // an IOVA with no mapping: a zero entry in a leaf table, or anywhere in the domain's range
        const reach = 2 ** (12 + 9 * d.levels);
        return req(dev.sid, chance(0.6) ? pick(d.clusters) + int(0, 511) * 4096 : int(0, reach / 4096 - 1) * 4096);
      }
      case 'stranger':
        // a requester with no translation set up: VT-d a free devfn on a present bus or a bus with
        // no root entry; AMD-Vi a free DeviceID in the table (a zero DTE) or one beyond its Size
        return req(chance(0.5) ? newSid(dev.sid >> 8) : strangerBeyond(), pick(d.mappings).iova);
      case 'special': {
        const s = pick(specials);
        return req(s.sid, pick(s.domain!.mappings).iova);
      }
      case 'broken':
        return req(pick(inDomain(brokenDomain!)).sid, brokenDomain!.broken!.iova + int(0, brokenDomain!.broken!.span / 4096 - 1) * 4096);
      case 'beyond': {
        // beyond the domain's address width (VT-d AW) / the reach of the DTE's Mode (AMD-Vi)
        const width = 12 + 9 * d.levels;
        return req(dev.sid, 2 ** width + int(0, 2 ** (51 - width) - 1) * 2 ** width + int(0, 511) * 4096);
      }
      case 'mapped': {
        const m = pick(d.mappings);
        const q = sized(m.iova, 2 ** m.shift);
        earlier.push({ dev, page: q.iova - (q.iova % 4096), access });
        return { kind: 'dma', sid: dev.sid, iova: q.iova, access, length: q.length };
      }
    }
  };
  const staleAt = count >= 3 && chance(0.75) ? int(0, count - 3) : -1;
  for (let n = 0; n < count; n++) {
    if (n !== staleAt) {
      steps.push(randomRequest());
      continue;
    }
    // the classic: fill, edit, stale hit, invalidate, walk again
    const dev = pick(working);
    const d = dev.domain!;
    const usable = d.mappings.filter((m) => (m.r && d.r) || (m.w && d.w));
    const m = usable.length > 0 ? pick(usable) : null;
    if (m === null) {
      steps.push(randomRequest());
      continue;
    }
    const access: DmaAccess = m.r && d.r && (!(m.w && d.w) || chance(0.5)) ? 'read' : 'write';
    let how = pick(['remap', 'unmap', 'revoke'] as const);
    const newHpa = how !== 'remap' ? 0 : m.shift === 21 ? bigPage() : dataPage();
    if (newHpa === null) how = 'unmap';
    const before = readEntry(mem, m.leaf, 2);
    const value =
      how === 'unmap'
        ? 0n
        : how === 'revoke'
          ? before & ~(1n << BigInt(vtd ? (access === 'write' ? SL_W : SL_R) : access === 'write' ? IOPTE.IW : IOPTE.IR))
          : leafEntry({ ...m, hpa: newHpa! });
    const q1 = sized(m.iova, 2 ** m.shift);
    const page = q1.iova - (q1.iova % 4096);
    const q2 = sized(page, 4096);
    const q3 = sized(page, 4096);
    steps.push({ kind: 'dma', sid: dev.sid, iova: q1.iova, access, length: q1.length, role: 'fill' });
    steps.push({ kind: 'edit', pa: m.leaf, before: hexOf(before), value: hexOf(value), how });
    steps.push({ kind: 'dma', sid: pick(inDomain(d)).sid, iova: q2.iova, access, length: q2.length, role: 'stale' });
    steps.push({ kind: 'invalidate', domainId: d.id, address: page });
    steps.push({ kind: 'dma', sid: dev.sid, iova: q3.iova, access, length: q3.length, role: 'after' });
    earlier.push({ dev, page, access });
    n += 2;
  }

  // ---- the run: the unit answers ----
  /** A unit with empty caches over the same memory, for what the tables say now (it writes no event log). */
  const coldUnit = (): VtdRemapper | AmdViRemapper => {
    if (vtd) {
      const c = new VtdRemapper(mem);
      c.write64(VTD_REG.RTADDR, BigInt((setup as VtdSetup).rtaddr));
      c.write32(VTD_REG.GCMD, 1 << GCMD_SRTP);
      c.write32(VTD_REG.GCMD, (1 << GCMD_TE) >>> 0);
      return c;
    }
    const c = new AmdViRemapper(mem);
    c.write64(AMDVI_REG.DEV_TABLE_BASE, BigInt('0x' + (setup as AmdSetup).devTableReg));
    c.write64(AMDVI_REG.CONTROL, b(1, CTRL_IOMMU_EN));
    return c;
  };
  const answers: IommuAnswer[] = steps.map((st): IommuAnswer => {
    if (st.kind === 'edit') {
      put(st.pa, BigInt('0x' + st.value), 2);
      return { kind: 'edit' };
    }
    if (st.kind === 'invalidate') {
      if (unit instanceof VtdRemapper) {
        const iro = unit.caps.iroOffset;
        unit.write64(iro, BigInt(st.address)); // IVA: address, AM = 0, IH = 0
        unit.write64(iro + 8, (1n << 63n) | (3n << 60n) | (BigInt(st.domainId) << 32n)); // IVT, IIRG = page-selective, DID
        return { kind: 'invalidate', iaig: Number(bits(unit.read64(iro + 8), 58, 57)) };
      }
      unit.invalidatePages(st.domainId, BigInt(st.address), false);
      return { kind: 'invalidate', iaig: null };
    }
    const req = { sid: st.sid, iova: BigInt(st.iova), access: st.access, length: st.length };
    const tail = unit instanceof AmdViRemapper ? Number(unit.read64(AMDVI_REG.EVENT_TAIL)) : 0;
    const out: DmaOutcome<IommuFault> = unit.translate(req);
    const refs: RefAnswer[] = out.refs.map((x) => ({ kind: x.kind, level: x.level, index: x.index, pa: x.pa, raw: hexOf(x.raw), decision: x.decision }));
    if (out.ok) {
      let tablesNow: DmaAnswer['tablesNow'] = null;
      if (out.iotlbHit) {
        const c = coldUnit().translate(req);
        tablesNow = c.ok ? { ok: true, hpa: c.hpa } : { ok: false, reason: c.fault.vendor === 'vtd' ? c.fault.reason : c.fault.code };
      }
      return { kind: 'dma', refs, tablesNow, ok: true, hpa: out.hpa, domainId: out.domainId, iotlbHit: out.iotlbHit, pageSize: out.pageSize };
    }
    const f = out.fault;
    let fault: FaultAnswer;
    if (f.vendor === 'vtd') {
      const u = unit as VtdRemapper;
      let record: Extract<FaultAnswer, { vendor: 'vtd' }>['record'] = null;
      for (let i = 0; i < u.caps.nfr; i++) {
        const rec = u.faultRecord(i);
        if (rec === null) continue;
        const at = u.caps.froOffset + 16 * i;
        record = { index: i, pageAddress: Number(rec.pageAddress), sid: rec.sid, type: rec.type, reason: rec.reason, lo: hexOf(u.read64(at)), hi: hexOf(u.read64(at + 8)) };
        u.write32(at + 12, 0x80000000); // the driver has read it: clear F (RW1C)
      }
      fault = { vendor: 'vtd', reason: f.reason, recorded: f.recorded, record };
    } else {
      const u = unit as AmdViRemapper;
      let entry: Extract<FaultAnswer, { vendor: 'amd-vi' }>['entry'] = null;
      if (f.logged) {
        const ev = u.readEvent(tail);
        entry = { offset: tail, deviceId: ev.deviceId, domainId: ev.domainId, flags: ev.flags, address: hexOf(ev.address), dwords: [...ev.dwords] };
      }
      fault = { vendor: 'amd-vi', code: f.code, logged: f.logged, entry };
    }
    return { kind: 'dma', refs, tablesNow: null, ok: false, fault };
  });

  const stats = unit.stats;
  return { seed, vendor, ramSize: IOMMU_EX_RAM, setup, memory, tables, steps, answers, iotlb: { hits: stats.iotlbHits, misses: stats.iotlbMisses } };
}

// ---------------------------------------------------------------------------------------------
// Text form for the command line

const hx = (v: number, digits = 8): string => `0x${v.toString(16).padStart(digits, '0')}`;
const hq = (hex: string, digits = 16): string => `0x${hex.padStart(digits, '0')}`;
/** A 128- or 256-bit entry as qwords, high first, joined by '_'. */
const wide = (hex: string, qwords: number): string => {
  const s = hex.padStart(16 * qwords, '0');
  const parts: string[] = [];
  for (let i = 0; i < qwords; i++) parts.push(s.slice(16 * i, 16 * i + 16));
  return `0x${parts.join('_')}`;
};
export const bdf = (sid: number): string => `${(sid >> 8).toString(16).padStart(2, '0')}:${((sid >> 3) & 31).toString(16).padStart(2, '0')}.${sid & 7}`;
const iovaText = (v: number): string => hx(v, 12);
const sizeText = (bytes: number): string => (bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`);

function stepText(st: IommuStep, vtd: boolean): string {
  if (st.kind === 'dma') return `${bdf(st.sid)}  ${st.access.padEnd(5)}  ${iovaText(st.iova)}  ${st.length} bytes`;
  if (st.kind === 'edit') return `software stores ${hq(st.value)} to the table entry at ${hx(st.pa)}`;
  return vtd
    ? `software invalidates the IOTLB: page-selective (IIRG = 3), DID ${hx(st.domainId, 4)}, IVA ${iovaText(st.address)}, AM = 0`
    : `software issues INVALIDATE_IOMMU_PAGES: DomainID ${hx(st.domainId, 4)}, address ${iovaText(st.address)}, S = 0`;
}

function refText(x: RefAnswer, vtd: boolean): string {
  const what =
    x.kind === 'root-entry'
      ? `root entry [bus ${hx(x.index, 2)}]`
      : x.kind === 'context-entry'
        ? `context entry [devfn ${hx(x.index, 2)}]`
        : x.kind === 'device-table-entry'
          ? `DTE [${hx(x.index, 4)}]`
          : `level ${x.level} [${hx(x.index, 3)}]`;
  const raw = x.kind === 'root-entry' || x.kind === 'context-entry' ? wide(x.raw, 2) : x.kind === 'device-table-entry' ? wide(x.raw, 4) : hq(x.raw);
  const dec = { next: 'next', leaf: 'maps the page', 'pass-through': vtd ? 'pass-through' : 'no translation', fault: 'fault' }[x.decision];
  return `${what} at ${hx(x.pa)} = ${raw}  (${dec})`;
}

function answerLines(ex: IommuExercise, a: IommuAnswer, i: number): string[] {
  const vtd = ex.vendor === 'vtd';
  const out: string[] = [];
  const n = `  ${String(i + 1).padStart(2)}. `;
  if (a.kind === 'edit') return [`${n}(the entry now holds the new value; the unit is not told)`];
  if (a.kind === 'invalidate') return [`${n}${a.iaig !== null ? `done: IAIG = ${a.iaig}${a.iaig === 3 ? ' (page-selective)' : ''}` : 'done'}; the page's IOTLB entry (if any) is dropped`];
  if (a.ok) {
    const how = a.domainId < 0 ? 'untranslated' : `domain ${hx(a.domainId, 4)}, ${sizeText(a.pageSize)} page`;
    out.push(`${n}lands at ${hx(a.hpa)}  (${how})${a.iotlbHit ? '; IOTLB hit' : a.domainId < 0 ? '' : '; IOTLB miss'}`);
    if (a.tablesNow !== null) {
      const now = a.tablesNow.ok ? `${hx(a.tablesNow.hpa)}` : vtd ? `fault reason ${a.tablesNow.reason}` : `${AMDVI_EVENT_NAMES[a.tablesNow.reason]}`;
      const same = a.tablesNow.ok && a.tablesNow.hpa === a.hpa;
      out.push(same ? '       (the tables say the same now)' : `       stale: the tables now say ${now}; the IOTLB still holds the old translation`);
    }
  } else if (a.fault.vendor === 'vtd') {
    const f = a.fault;
    out.push(`${n}blocked: fault reason ${f.reason} (${VTD_REASON_NAMES[f.reason] ?? '?'})`);
    if (f.record !== null) {
      const rec = f.record;
      out.push(`       fault record ${rec.index}: page address ${iovaText(rec.pageAddress)}, SID ${bdf(rec.sid)} (${hx(rec.sid, 4)}), T = ${rec.type} (${rec.type === 1 ? 'read' : 'write'}), FR = ${rec.reason}`);
      out.push(`       FRCD${rec.index} = ${wide(rec.hi, 1)}_${rec.lo.padStart(16, '0')}`);
    } else out.push('       not recorded (FPD = 1 in the context entry)');
  } else {
    const f = a.fault;
    out.push(`${n}blocked: event ${f.code} ${AMDVI_EVENT_NAMES[f.code] ?? '?'}`);
    if (f.entry !== null) {
      const e = f.entry;
      out.push(
        `       event log +${hx(e.offset, 3)}: DeviceID ${bdf(e.deviceId)} (${hx(e.deviceId, 4)}), DomainID ${hx(e.domainId, 4)}, flags ${hx(e.flags, 3)}` +
          `${f.code === AMDVI_EVENT.IO_PAGE_FAULT ? ` (RW = ${(e.flags & EVENT_FLAG_RW) !== 0 ? 1 : 0})` : ''}, address ${hq(e.address)}`,
      );
      out.push(`       dwords ${e.dwords.map((d) => hx(d)).join(' ')}`);
    } else out.push('       not logged');
  }
  if (a.refs.length === 0) out.push('       no table entry read');
  for (const x of a.refs) out.push(`       ${refText(x, vtd)}`);
  return out;
}

/** The exercise as text: the setup, the tables as a memory dump, the steps and (when asked) the key. */
export function formatIommuExercise(ex: IommuExercise, opts: { answers: boolean }): string {
  const vtd = ex.vendor === 'vtd';
  const out: string[] = [];
  out.push(`DMA remapping exercise: ${vtd ? 'Intel VT-d (legacy mode)' : 'AMD-Vi (host page tables)'}, seed ${ex.seed}`);
  out.push('');
  out.push(`Host RAM: ${hx(0)}..${hx(ex.ramSize - 1)}; nothing else is memory. Every entry is little-endian.`);
  if (ex.setup.vendor === 'vtd') {
    const s = ex.setup;
    out.push(`RTADDR  ${hx(s.rtaddr, 16)}`);
    out.push(`GSTS    ${hx(s.gsts)}  (TES = ${(s.gsts >>> 31) & 1}, RTPS = ${(s.gsts >>> 30) & 1})`);
    out.push('CAP: SAGAW 3- and 4-level tables, 2 MiB super pages, 4 fault-recording registers, page-selective invalidation.');
    out.push('The unit caches context entries by SID and translations (IOTLB) by DID and page; both start empty.');
    out.push('After each request the driver reads the fault record written (if any) and clears its F bit.');
    out.push('');
    out.push('Formats: root entry (16 bytes, index bus): P bit 0, context-table pointer 63:12.');
    out.push('  Context entry (16 bytes, index devfn): P 0, FPD 1, TT 3:2, SLPTPTR 63:12, AW 66:64 (1: 3-level,');
    out.push('  39-bit; 2: 4-level, 48-bit), DID 87:72. Second-level entry (8 bytes): R 0, W 1, SP 7 (in a level-2');
    out.push('  entry: a 2 MiB page), address 47:12. Level n is indexed by IOVA bits 12+9n-1 .. 12+9(n-1).');
    out.push('');
    out.push(`Root table at ${hx(s.rtaddr)}: present entries`);
    for (const x of s.roots) out.push(`  ${hx(x.pa)}  [bus ${hx(x.bus, 2)}]  ${wide(x.raw, 2)}`);
    out.push('Context entries (every other entry is 0)');
    for (const c of s.contexts) {
      out.push(`  ${hx(c.pa)}  ${bdf(c.sid)}  ${wide(c.raw, 2)}`);
      out.push(`      P = ${+c.p}  FPD = ${+c.fpd}  TT = ${c.tt}  AW = ${c.aw}  SLPTPTR = ${hx(c.slptptr)}  DID = ${hx(c.did, 4)}`);
    }
    out.push('');
    out.push('Second-level tables (non-zero 8-byte entries; every other entry is 0)');
  } else {
    const s = ex.setup;
    out.push(`Device table base register  ${hq(s.devTableReg)}  (base ${hx(s.devTableBase)}, Size ${s.devTableSize}: ${((s.devTableSize + 1) * 4096) / 32} DTEs)`);
    out.push(`Event log base register     ${hq(s.eventLogReg)}  (base ${hx(s.eventLogBase)}, ${2 ** s.eventLogLen} entries); head = tail = 0`);
    out.push(`Control                     ${hq(s.control)}  (IOMMU_EN = 1, EVT_LOG_EN = 1)`);
    out.push('The unit caches DTEs by DeviceID and translations (IOTLB) by DomainID and page; both start empty.');
    out.push('');
    out.push('Formats: DTE (32 bytes, index DeviceID): V 0, TV 1, Mode 11:9, page-table root 51:12, IR 61, IW 62,');
    out.push('  DomainID 79:64. I/O page-table entry (8 bytes): PR 0, Next Level 11:9 (0: maps a page of this');
    out.push('  level\'s size), address 51:12, IR 61, IW 62. Level n is indexed by IOVA bits 12+9n-1 .. 12+9(n-1).');
    out.push('');
    out.push('Device table: non-zero DTEs (every other DTE is 0)');
    for (const d of s.dtes) {
      out.push(`  ${hx(d.pa)}  ${bdf(d.deviceId)}  ${wide(d.raw, 4)}`);
      out.push(`      V = ${+d.v}  TV = ${+d.tv}  Mode = ${d.mode}  root = ${hx(d.root)}  IR = ${+d.ir}  IW = ${+d.iw}  DomainID = ${hx(d.domainId, 4)}`);
    }
    out.push('');
    out.push('I/O page tables (non-zero 8-byte entries; every other entry is 0)');
  }
  for (const t of ex.tables) {
    out.push(`  page ${hx(t.address)}`);
    for (const e of t.entries) out.push(`    ${hx(t.address + e.index * 8)}  [${hx(e.index, 3)}]  ${hq(e.value)}`);
  }
  out.push('');
  out.push('Steps, in order. For each DMA request (requester, access, IOVA, length): (a) where does it land');
  out.push(
    vtd
      ? '(host address)? (b) or is it blocked: which fault reason, and the fault record (page address, SID, T, FR)?'
      : '(host address)? (b) or is it blocked: which event, with its DeviceID, DomainID, RW flag and address?',
  );
  out.push('(c) does the IOTLB answer it? (d) which table entries are read, in order?');
  ex.steps.forEach((st, i) => out.push(`  ${String(i + 1).padStart(2)}. ${stepText(st, vtd)}`));
  if (opts.answers) {
    out.push('');
    out.push('Answer key');
    ex.answers.forEach((a, i) => out.push(...answerLines(ex, a, i)));
    out.push(`IOTLB: ${ex.iotlb.hits} hit${ex.iotlb.hits === 1 ? '' : 's'}, ${ex.iotlb.misses} miss${ex.iotlb.misses === 1 ? '' : 'es'}`);
  }
  return out.join('\n');
}
