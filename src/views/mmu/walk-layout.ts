/**
 * Plain-data helpers of the page-walk view: the linear address split into the index fields of
 * each level, a paging-structure entry's bits by name, the #PF error code bit by bit, and which
 * of a step's translations to show first. Positions follow the SDM Vol. 3A, chapter 4 (Figures
 * 4-2, 4-5, 4-8, 4-9 for the splits; Tables 4-4..4-20 for the entries; 4.7 for the error code);
 * walk-layout.test.ts checks them against tests/reference/x86-paging.json.
 */
import type { StepWalks, TranslationView, WalkEntryView, WalkLevel, WalkPagingMode } from '../../worker/walk-types.ts';

/** Named bits of a paging-structure entry; PAT sits at bit 7 in a PTE and at bit 12 in an entry that maps a large page. */
export const ENTRY_BIT = { P: 0, 'R/W': 1, 'U/S': 2, PWT: 3, PCD: 4, A: 5, D: 6, PS: 7, PAT: 7, G: 8, PAT_LARGE: 12, XD: 63 } as const;
export type FlagName = 'P' | 'R/W' | 'U/S' | 'PWT' | 'PCD' | 'A' | 'D' | 'PS' | 'PAT' | 'G' | 'XD';

/** #PF error-code bits (SDM Vol. 3A, 4.7): the first five always shown, the others when set. */
export const PF_BIT = { P: 0, 'W/R': 1, 'U/S': 2, RSVD: 3, 'I/D': 4, PK: 5, SS: 6, SGX: 15 } as const;
export type PfBitName = keyof typeof PF_BIT;

/** The table each level's entry lives in, as the SDM names the index fields (PML4 index, ...). */
export const TABLE_OF: Readonly<Record<WalkLevel, string>> = { PML5E: 'PML5', PML4E: 'PML4', PDPTE: 'PDPT', PDE: 'PD', PTE: 'PT' };

/** Levels in walk order, by paging mode. */
export const LEVELS_OF: Readonly<Record<WalkPagingMode, readonly WalkLevel[]>> = {
  '32bit': ['PDE', 'PTE'],
  pae: ['PDPTE', 'PDE', 'PTE'],
  '4level': ['PML4E', 'PDPTE', 'PDE', 'PTE'],
  '5level': ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'],
};

/** Bytes per entry: 4 in 32-bit paging, 8 otherwise. */
export function entrySize(mode: WalkPagingMode): 4 | 8 {
  return mode === '32bit' ? 4 : 8;
}

/** Bits of a linear address: 32 for 32-bit and PAE paging, 48 for 4-level, 57 for 5-level (the rest is sign extension). */
export function linearBits(mode: WalkPagingMode): number {
  return mode === '5level' ? 57 : mode === '4level' ? 48 : 32;
}

/** The lowest bit of the index field of `level`, which is also log2 of the size the level's entry maps. */
export function levelShift(mode: WalkPagingMode, level: WalkLevel): number {
  if (mode === '32bit') return level === 'PDE' ? 22 : 12;
  return { PML5E: 48, PML4E: 39, PDPTE: 30, PDE: 21, PTE: 12 }[level];
}

export interface AddressField {
  kind: 'sign' | 'index' | 'offset';
  /** The level whose entry the index selects (kind 'index'). */
  level: WalkLevel | null;
  hi: number;
  lo: number;
  value: bigint;
}

const bits = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

/**
 * The linear address as the walk splits it, from the top bit down: the sign extension (4-level,
 * 5-level), one index field per level down to the leaf, and the page offset, whose width is
 * log2(pageSize).
 */
export function addressFields(mode: WalkPagingMode, linear: bigint, pageSize: number): AddressField[] {
  const top = linearBits(mode);
  const offsetBits = Math.round(Math.log2(pageSize));
  const out: AddressField[] = [];
  if (top < 64 && mode !== '32bit' && mode !== 'pae') out.push({ kind: 'sign', level: null, hi: 63, lo: top, value: bits(linear, 63, top) });
  let hi = top - 1;
  for (const level of LEVELS_OF[mode]) {
    const lo = levelShift(mode, level);
    if (lo < offsetBits) break;
    out.push({ kind: 'index', level, hi, lo, value: bits(linear, hi, lo) });
    hi = lo - 1;
  }
  out.push({ kind: 'offset', level: null, hi, lo: 0, value: bits(linear, hi, 0) });
  return out;
}

/** The size of the page a translation maps (or would map): its outcome's, its leaf's, else 4 KiB. */
export function pageSizeOf(mode: WalkPagingMode, t: TranslationView): number {
  if (t.outcome.ok) return t.outcome.pageSize;
  const leaf = t.entries.find((e) => e.leaf);
  return leaf === undefined ? 4096 : 2 ** levelShift(mode, leaf.level);
}

export type EntryKind = 'not-present' | 'pdpte-register' | 'table' | 'page' | 'large-page';

export interface EntryFlag {
  name: FlagName;
  bit: number;
  set: boolean;
}

export interface DecodedEntry {
  kind: EntryKind;
  flags: EntryFlag[];
  /** The address field: the next table's base or the page frame, with the bits that hold it. */
  address: { hi: number; lo: number; value: bigint } | null;
  /** PSE-36: in a 32-bit PDE that maps a 4-MByte page, bits (M-20):13 hold physical-address bits (M-1):32. */
  highAddress: { hi: number; lo: number } | null;
  /** Reserved bit positions that are set, highest first: each one makes the walk fault (RSVD). */
  reservedSet: number[];
}

const isSet = (v: bigint, bit: number): boolean => ((v >> BigInt(bit)) & 1n) === 1n;

/** Decodes an entry a walk read (its kind from the walk: present, leaf, level). */
export function decodeEntry(mode: WalkPagingMode, e: WalkEntryView, maxPhysAddr: number): DecodedEntry {
  const v = BigInt(e.value);
  const reserved = BigInt(e.reserved) & v;
  const reservedSet: number[] = [];
  for (let b = 63; b >= 0; b--) if (isSet(reserved, b)) reservedSet.push(b);
  const flag = (name: FlagName, bit: number): EntryFlag => ({ name, bit, set: isSet(v, bit) });
  if (!isSet(v, ENTRY_BIT.P)) return { kind: 'not-present', flags: [flag('P', ENTRY_BIT.P)], address: null, highAddress: null, reservedSet };
  const xd = mode === '32bit' ? [] : [flag('XD', ENTRY_BIT.XD)];
  const common = [flag('P', ENTRY_BIT.P), flag('R/W', ENTRY_BIT['R/W']), flag('U/S', ENTRY_BIT['U/S']), flag('PWT', ENTRY_BIT.PWT), flag('PCD', ENTRY_BIT.PCD), flag('A', ENTRY_BIT.A)];
  const m = mode === '32bit' ? 32 : maxPhysAddr;
  const field = (lo: number): { hi: number; lo: number; value: bigint } => ({ hi: m - 1, lo, value: bits(v, m - 1, lo) << BigInt(lo) });
  if (mode === 'pae' && e.level === 'PDPTE') {
    return { kind: 'pdpte-register', flags: [flag('P', ENTRY_BIT.P), flag('PWT', ENTRY_BIT.PWT), flag('PCD', ENTRY_BIT.PCD)], address: field(12), highAddress: null, reservedSet };
  }
  if (!e.leaf) return { kind: 'table', flags: [...common, flag('PS', ENTRY_BIT.PS), ...xd], address: field(12), highAddress: null, reservedSet };
  if (e.level === 'PTE') {
    return { kind: 'page', flags: [...common, flag('D', ENTRY_BIT.D), flag('PAT', ENTRY_BIT.PAT), flag('G', ENTRY_BIT.G), ...xd], address: field(12), highAddress: null, reservedSet };
  }
  const flags = [...common, flag('D', ENTRY_BIT.D), flag('PS', ENTRY_BIT.PS), flag('G', ENTRY_BIT.G), flag('PAT', ENTRY_BIT.PAT_LARGE), ...xd];
  const shift = levelShift(mode, e.level);
  if (mode !== '32bit') return { kind: 'large-page', flags, address: field(shift), highAddress: null, reservedSet };
  // 32-bit paging, 4-MByte page (Table 4-4): bits 31:22 give PA bits 31:22; bits (M-20):13 give PA bits (M-1):32, M = min(MAXPHYADDR, 40).
  const pm = Math.min(maxPhysAddr, 40);
  const high = pm > 32 ? bits(v, pm - 20, 13) : 0n;
  return {
    kind: 'large-page',
    flags,
    address: { hi: 31, lo: 22, value: (bits(v, 31, 22) << 22n) | (high << 32n) },
    highAddress: pm > 32 ? { hi: pm - 20, lo: 13 } : null,
    reservedSet,
  };
}

/** The base of the table an entry was read from: its address minus index × entry size (null for a PDPTE register). */
export function tableBase(mode: WalkPagingMode, e: WalkEntryView): bigint | null {
  if (e.entryPa === null) return null;
  return BigInt(e.entryPa) - BigInt(e.index * entrySize(mode));
}

export interface PfBit {
  name: PfBitName;
  bit: number;
  set: boolean;
}

/** The #PF error code bit by bit: P, W/R, U/S, RSVD, I/D always; PK, SS, SGX only when set. */
export function decodeErrorCode(code: number): PfBit[] {
  const out: PfBit[] = [];
  for (const [name, bit] of Object.entries(PF_BIT) as [PfBitName, number][]) {
    const set = ((code >>> bit) & 1) === 1;
    if (bit <= 4 || set) out.push({ name, bit, set });
  }
  return out;
}

/**
 * The translation to show first: the one that faulted; else the first the CPU walked; else the
 * last data access (what the instruction did rather than its fetch); else the first.
 */
export function focusIndex(ts: readonly TranslationView[]): number {
  const fault = ts.findIndex((t) => !t.outcome.ok);
  if (fault >= 0) return fault;
  const walked = ts.findIndex((t) => t.source === 'walk');
  if (walked >= 0) return walked;
  for (let i = ts.length - 1; i >= 0; i--) if (ts[i]!.access !== 'fetch') return i;
  return 0;
}

/** Hex digits: 8 when asked for and the value fits in 32 bits, else 16 in two groups of 8. */
export function hexOf(v: bigint, digits: 8 | 16): string {
  const u = BigInt.asUintN(64, v);
  if (digits === 8 && u < 1n << 32n) return u.toString(16).padStart(8, '0');
  const s = u.toString(16).padStart(16, '0');
  return `${s.slice(0, 8)} ${s.slice(8)}`;
}

/** Digits for linear addresses in a paging mode: 8 for 32-bit and PAE paging, else 16. */
export function digitsOf(mode: WalkPagingMode): 8 | 16 {
  return mode === '32bit' || mode === 'pae' ? 8 : 16;
}

/** A small hex number, e.g. an offset or an index: 0x + at least `min` digits. */
export function smallHex(v: bigint | number, min = 1): string {
  return `0x${v.toString(16).padStart(min, '0')}`;
}

export { stepWalked } from './step-walked.ts';
