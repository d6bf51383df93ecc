/**
 * Two-dimensional walk homework, and the random guest and nested tables behind it (the property
 * tests of mmu/nested-counts.test.ts build theirs with the same `NestedWorld`).
 *
 * A world is a guest with its own paging structures (32-bit, PAE, 4-level or 5-level paging, SDM
 * Vol. 3A 4.3–4.5) in guest-physical memory, and nested tables (EPT, SDM Vol. 3C 29.3; or NPT,
 * APM Vol. 2 15.25) mapping every guest-physical page the guest uses to host-physical
 * `gpa + GPA_TO_HPA`, 4- or 5-level, with 4 KiB, 2 MiB or 1 GiB nested pages. The exercise asks
 * how many memory references a translation makes, where in the grid (guest level × nested level)
 * the k-th one is, and the final host-physical address. Nothing is worked out here: every answer
 * is what the lab's `translate2D` (mmu/nested.ts) does over the generated memory, with no caches
 * and without side effects, so the key is right by construction.
 *
 * Plain data out (JSON-serializable); 64-bit values as 32-bit halves.
 */
import { PhysMem } from '../mem/physmem.ts';
import { PTE } from '../mmu/bits.ts';
import { translate2D, type NestedTranslator, type TwoDRef, type TwoDResult, type TwoDOptions } from '../mmu/nested.ts';
import type { AccessKind, PagingControl, WalkStep } from '../mmu/types.ts';
import { EPTE, eptCaps, eptNested, encodeEptp, type EptCaps } from '../vmx/ept.ts';
import { nptNested } from '../svm/npt.ts';
import { mixSeed, rng } from './rng.ts';

export type GuestMode = '32bit' | 'pae' | '4level' | '5level';
export type NestedVendor = 'ept' | 'npt';
export type LevelName = WalkStep['level'];
export type NestedShift = 12 | 21 | 30;

/** Guest-physical X lives at host-physical X + GPA_TO_HPA (1 GiB: aligned for every nested page size). */
export const GPA_TO_HPA = 0x40000000;
/** Guest-physical frames the generator uses: 1 MiB .. 64 MiB. */
const GUEST_FRAME_LO = 0x100;
const GUEST_FRAME_HI = 0x4000;
/** Nested tables live in host-physical memory from 1 MiB up (below GPA_TO_HPA). */
const NESTED_FIRST = 0x100000;
const RAM = GPA_TO_HPA + GUEST_FRAME_HI * 4096;
const TWO32 = 4294967296;

interface GuestSpec {
  names: LevelName[];
  shifts: number[];
  widths: number[];
  entrySize: 4 | 8;
  /** Depths whose entry may map a large page (with PS). */
  large: number[];
  laBits: number;
}

export const GUEST_SPECS: Record<GuestMode, GuestSpec> = {
  '32bit': { names: ['PDE', 'PTE'], shifts: [22, 12], widths: [10, 10], entrySize: 4, large: [0], laBits: 32 },
  pae: { names: ['PDPTE', 'PDE', 'PTE'], shifts: [30, 21, 12], widths: [2, 9, 9], entrySize: 8, large: [1], laBits: 32 },
  '4level': { names: ['PML4E', 'PDPTE', 'PDE', 'PTE'], shifts: [39, 30, 21, 12], widths: [9, 9, 9, 9], entrySize: 8, large: [1, 2], laBits: 48 },
  '5level': {
    names: ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'],
    shifts: [48, 39, 30, 21, 12],
    widths: [9, 9, 9, 9, 9],
    entrySize: 8,
    large: [2, 3],
    laBits: 57,
  },
};

export interface NestedWorldSpec {
  vendor: NestedVendor;
  guest: GuestMode;
  nestedLevels: 4 | 5;
  /** The nested page size for every guest-physical page mapped (log2). */
  nestedShift: NestedShift;
  /** EPT accessed and dirty flags (EPTP bit 6); ignored for NPT. */
  eptAd?: boolean;
}

/** One guest table node (a page of entries, or the 32-byte PAE PDPT). */
interface Node {
  gpa: number;
  depth: number;
  children: Map<number, Node>;
  leaves: Set<number>;
}

/** A 64-bit value as unsigned 32-bit halves. */
export interface U64 {
  lo: number;
  hi: number;
}

/** One mapped linear page: the linear address of its first byte, its size and where it goes. */
export interface Mapping {
  la: U64;
  /** log2 of the guest page size. */
  shift: number;
  gpa: number;
  /** The guest-physical address of each guest entry on the way, root first. */
  entries: number[];
}

/**
 * A guest and its nested tables in one PhysMem. Deterministic for a given generator.
 */
export class NestedWorld {
  readonly mem = new PhysMem(RAM);
  readonly spec: NestedWorldSpec;
  readonly g: GuestSpec;
  readonly ctl: PagingControl;
  readonly root: Node;
  readonly mappings: Mapping[] = [];
  /** Root of the nested tables (EPTP bits 51:12, or N_CR3). */
  readonly nestedRoot: number;
  readonly eptp: bigint;
  readonly caps: EptCaps;
  /** The nested pages mapped, by guest-physical address >> nestedShift. */
  private readonly nestedMapped = new Set<number>();
  /** Guest-table frames in use. */
  private readonly usedFrames = new Set<number>();
  private nextNested = NESTED_FIRST;

  constructor(
    spec: NestedWorldSpec,
    readonly r: () => number,
  ) {
    this.spec = spec;
    this.g = GUEST_SPECS[spec.guest];
    this.nestedRoot = this.allocNested();
    this.caps = { ...eptCaps(), walk5: true, pdpte1gb: true, accessedDirty: true };
    this.eptp = encodeEptp({ memType: 6, walkLength: spec.nestedLevels, accessedDirty: spec.vendor === 'ept' && spec.eptAd === true, root: this.nestedRoot });
    const rootFrame = this.frame();
    // PAE: CR3 bits 31:5 locate a 32-byte PDPT anywhere in its page (SDM Vol. 3A, 4.4.1).
    const rootGpa = spec.guest === 'pae' ? rootFrame + this.int(0, 127) * 32 : rootFrame;
    this.root = { gpa: rootGpa, depth: 0, children: new Map(), leaves: new Set() };
    this.ctl = {
      mode: spec.guest,
      cr3Lo: rootGpa,
      cr3Hi: 0,
      wp: true,
      pse: true,
      pge: false,
      pcide: false,
      nxe: true,
      pdpte: new Uint32Array(8),
      maxPhysAddr: 40,
    };
    this.mapNested(rootGpa);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  /** A free guest-physical 4 KiB frame for a table (mapped in the nested tables). */
  private frame(): number {
    let f: number;
    do f = this.int(GUEST_FRAME_LO, GUEST_FRAME_HI - 1);
    while (this.usedFrames.has(f));
    this.usedFrames.add(f);
    return f * 4096;
  }

  private allocNested(): number {
    const a = this.nextNested;
    this.nextNested += 0x1000;
    if (this.nextNested > GPA_TO_HPA) throw new Error('nested tables: out of room');
    return a;
  }

  /** Host-physical address of guest-physical `gpa` (what the nested tables say, by construction). */
  hpaOf(gpa: number): number {
    return gpa + GPA_TO_HPA;
  }

  private read(h: number): U64 {
    return { lo: this.mem.read(h, 4) >>> 0, hi: this.mem.read(h + 4, 4) >>> 0 };
  }

  private write(h: number, lo: number, hi: number): void {
    this.mem.write(h, 4, lo >>> 0);
    this.mem.write(h + 4, 4, hi >>> 0);
  }

  /** Nested flags: a table pointer, a leaf. */
  private nestedFlags(): { table: number; leaf: number } {
    if (this.spec.vendor === 'ept') {
      const rwx = EPTE.R | EPTE.W | EPTE.X;
      return { table: rwx, leaf: rwx | (6 << EPTE.MT_SHIFT) };
    }
    const u = PTE.P | PTE.RW | PTE.US;
    return { table: u, leaf: u };
  }

  /** The host-physical address of the nested entry that maps `gpa` at `depth` (0 = the root's), or -1. */
  nestedEntry(gpa: number, depth: number): number {
    const m = this.spec.nestedLevels;
    let table = this.nestedRoot;
    for (let d = 0; ; d++) {
      const shift = 12 + 9 * (m - 1 - d);
      const at = table + (Math.floor(gpa / 2 ** shift) % 512) * 8;
      if (d === depth) return at;
      const e = this.read(at);
      if ((e.lo & 1) === 0 || shift === this.spec.nestedShift) return -1;
      table = ((e.lo & 0xfffff000) >>> 0) + (e.hi & 0xfffff) * TWO32;
    }
  }

  /** Maps the nested page holding guest-physical `gpa` to `gpa + GPA_TO_HPA`. */
  mapNested(gpa: number): void {
    const s = this.spec.nestedShift;
    const key = Math.floor(gpa / 2 ** s);
    if (this.nestedMapped.has(key)) return;
    this.nestedMapped.add(key);
    const m = this.spec.nestedLevels;
    const { table: tableFlags, leaf } = this.nestedFlags();
    let table = this.nestedRoot;
    for (let shift = 12 + 9 * (m - 1); ; shift -= 9) {
      const at = table + (Math.floor(gpa / 2 ** shift) % 512) * 8;
      if (shift === s) {
        const base = Math.floor(gpa / 2 ** s) * 2 ** s + GPA_TO_HPA;
        const ps = s > 12 ? (this.spec.vendor === 'ept' ? EPTE.PS : PTE.PS) : 0;
        this.write(at, ((base % TWO32) | leaf | ps) >>> 0, Math.floor(base / TWO32));
        break;
      }
      const e = this.read(at);
      if (e.lo === 0 && e.hi === 0) {
        const t = this.allocNested();
        this.write(at, t | tableFlags, 0);
        table = t;
      } else table = ((e.lo & 0xfffff000) >>> 0) + (e.hi & 0xfffff) * TWO32;
    }
  }

  /** Host-physical pages holding nested tables, in order. */
  nestedTablePages(): number[] {
    const out: number[] = [];
    for (let a = this.nestedRoot; a < this.nextNested; a += 0x1000) out.push(a);
    return out;
  }

  /** Guest entry `index` of `node`: its guest-physical address. */
  entryGpa(node: Node, index: number): number {
    return node.gpa + index * this.g.entrySize;
  }

  private setGuest(gpa: number, lo: number, hi: number): void {
    const h = this.hpaOf(gpa);
    this.mem.write(h, 4, lo >>> 0);
    if (this.g.entrySize === 8) this.mem.write(h + 4, 4, hi >>> 0);
    if (this.spec.guest === 'pae' && gpa >= this.root.gpa && gpa < this.root.gpa + 32) {
      // Intel loads the PDPTE registers when CR3 is loaded (here: as VM entry would, from the values).
      const i = (gpa - this.root.gpa) / 8;
      this.ctl.pdpte[2 * i] = lo >>> 0;
      this.ctl.pdpte[2 * i + 1] = hi >>> 0;
    }
  }

  /**
   * Maps a new random linear page. `largeChance`: how often the guest page is large (where the mode
   * has large pages). Upper tables are shared with earlier mappings about half the time, so walks
   * meet common entries (which the page-walk cache keeps). Entries get A (and the leaf D) set.
   */
  addMapping(largeChance = 0): Mapping {
    const g = this.g;
    const n = g.names.length;
    const leafDepth = this.chance(largeChance) ? g.large[this.int(0, g.large.length - 1)]! : n - 1;
    const indices: number[] = [];
    const entries: number[] = [];
    let node = this.root;
    const ptrFlags = PTE.P | PTE.RW | PTE.US | PTE.A;
    for (let d = 0; d < leafDepth; d++) {
      // The root's upper half would set the linear address's top bit: keep to the canonical lower half.
      const size = d === 0 && g.laBits > 32 ? 2 ** (g.widths[d]! - 1) : 2 ** g.widths[d]!;
      const existing = [...node.children.keys()].sort((a, b) => a - b);
      let index: number;
      if (existing.length > 0 && (this.chance(0.6) || node.leaves.size + node.children.size >= size)) {
        index = existing[this.int(0, existing.length - 1)]!;
      } else {
        do index = this.int(0, size - 1);
        while (node.children.has(index) || node.leaves.has(index));
      }
      let child = node.children.get(index);
      if (child === undefined) {
        const f = this.frame();
        this.mapNested(f);
        child = { gpa: f, depth: d + 1, children: new Map(), leaves: new Set() };
        node.children.set(index, child);
        // A PAE PDPTE holds P and the address only (bits 2:1, 8:5 reserved; 4.4.1).
        this.setGuest(this.entryGpa(node, index), child.gpa | (this.spec.guest === 'pae' && d === 0 ? PTE.P : ptrFlags), 0);
      }
      indices.push(index);
      entries.push(this.entryGpa(node, index));
      node = child;
    }
    const size = leafDepth === 0 && g.laBits > 32 ? 2 ** (g.widths[0]! - 1) : 2 ** g.widths[leafDepth]!;
    let index: number;
    do index = this.int(0, size - 1);
    while (node.children.has(index) || node.leaves.has(index));
    node.leaves.add(index);
    indices.push(index);
    entries.push(this.entryGpa(node, index));
    const shift = g.shifts[leafDepth]!;
    // The page: a small one in a free frame; a 2 or 4 MiB one aligned in the first 64 MiB; a 1 GiB
    // one at 1, 2 or 3 GiB (the nested tables then map only the pages the questions touch).
    const gpa =
      shift === 12 ? this.frame() : shift === 30 ? this.int(1, 3) * 2 ** 30 : this.int(1, Math.floor((GUEST_FRAME_HI * 4096) / 2 ** shift) - 1) * 2 ** shift;
    const ps = shift === 12 ? 0 : PTE.PS;
    this.setGuest(this.entryGpa(node, index), (gpa % TWO32) | PTE.P | PTE.RW | PTE.US | PTE.A | PTE.D | ps, Math.floor(gpa / TWO32));
    let la = 0n;
    for (let d = 0; d < indices.length; d++) la |= BigInt(indices[d]!) << BigInt(g.shifts[d]!);
    const m: Mapping = { la: { lo: Number(la & 0xffffffffn), hi: Number(la >> 32n) }, shift, gpa, entries };
    this.mappings.push(m);
    return m;
  }

  /** A linear address inside mapping `m` at a random offset; the guest-physical address it maps to. */
  addressIn(m: Mapping): { la: U64; gpa: number } {
    const off = this.int(0, 2 ** m.shift - 1);
    // The offset never reaches bit 32 (guest pages are at most 1 GiB).
    const lo = (m.la.lo + off) >>> 0;
    const gpa = m.gpa + off;
    this.mapNested(gpa);
    return { la: { lo, hi: m.la.hi }, gpa };
  }

  /** The nested dimension of this world. */
  translator(opts: { sideEffects?: boolean } = {}): NestedTranslator<unknown> {
    if (this.spec.vendor === 'ept') return eptNested(this.mem, this.eptp, { caps: this.caps, maxPhysAddr: 40, sideEffects: opts.sideEffects === true });
    const nCr3 = this.nestedRoot;
    return nptNested(this.mem, { nCr3Lo: nCr3, nCr3Hi: 0, mode: this.spec.nestedLevels === 5 ? '5level' : '4level', nxe: true, maxPhysAddr: 40 }, opts.sideEffects === true);
  }

  translate(la: U64, access: AccessKind, opts?: TwoDOptions & { sideEffects?: boolean }): TwoDResult<unknown> {
    const t = this.translator({ sideEffects: opts?.sideEffects === true });
    return translate2D(this.mem, this.ctl, la.lo, la.hi, access, t, opts?.sideEffects === true, opts);
  }

  /** Whether the nested page holding `gpa` also holds a guest table. */
  sharesNestedPage(gpa: number): boolean {
    const s = this.spec.nestedShift;
    const key = Math.floor(gpa / 2 ** s);
    for (const f of this.usedFrames) if (Math.floor((f * 4096) / 2 ** s) === key) return true;
    return false;
  }

  /** Clears the guest entry at guest-physical `gpa` (not present). */
  clearGuestEntry(gpa: number): void {
    this.setGuest(gpa, 0, 0);
  }

  /** Clears the nested entry at `depth` on the way to `gpa` (not present); false if the walk ends above it. */
  clearNestedEntry(gpa: number, depth: number): boolean {
    const at = this.nestedEntry(gpa, depth);
    if (at < 0) return false;
    this.write(at, 0, 0);
    return true;
  }

  /** Nested levels a walk reads for one guest-physical address (fewer with large nested pages). */
  get nestedDepth(): number {
    return this.spec.nestedLevels - (this.spec.nestedShift - 12) / 9;
  }

  /** Guest levels a translation of mapping `m` reads from memory (the PAE PDPTE is a register on Intel). */
  guestDepth(m: Mapping): number {
    const read = m.entries.length;
    return this.spec.guest === 'pae' && this.spec.vendor === 'ept' ? read - 1 : read;
  }
}

// ---------------------------------------------------------------------------------------------
// Coordinates of a reference in the grid

/** Where a reference sits: its guest row (a guest level, or 'data' for the final address) and column. */
export interface GridCoord {
  /** The guest level whose entry is being reached, or 'data' for the final guest-physical address. */
  row: LevelName | 'data';
  /** The nested level read, or 'guest' for the guest entry itself. */
  col: LevelName | 'guest';
}

/**
 * The grid coordinates of every reference of `refs` (translate2D's list, without caches): a
 * guest-table nested reference is on the row of the guest level it reaches, `names[g]` for the
 * g-th guest entry read (`names`: the guest levels read from memory, root first; a failed nested
 * walk has no guest reference after it but its row all the same), an A/D update's translation on
 * the row of the entry just read, and the final translation on the 'data' row.
 */
export function gridCoords(refs: readonly TwoDRef[], names: readonly LevelName[]): GridCoord[] {
  const out: GridCoord[] = [];
  let read = 0;
  for (const r of refs) {
    if (r.dim === 'guest') {
      out.push({ row: r.step.level, col: 'guest' });
      read++;
      continue;
    }
    const row: LevelName | 'data' = r.stage === 'final' ? 'data' : r.update ? names[read - 1]! : names[read]!;
    out.push({ row, col: r.step.level });
  }
  return out;
}

/** The guest levels a walk in `mode` reads from memory under `vendor`, root first (Intel PAE: no PDPTE). */
export function guestLevelsRead(mode: GuestMode, vendor: NestedVendor): LevelName[] {
  const names = GUEST_SPECS[mode].names;
  return mode === 'pae' && vendor === 'ept' ? names.slice(1) : [...names];
}

// ---------------------------------------------------------------------------------------------
// The exercise

export interface NestedTablePage {
  /** Guest tables: guest-physical; nested tables: host-physical. */
  address: number;
  entrySize: 4 | 8;
  entries: { index: number; lo: number; hi: number }[];
}

export interface NestedQuestion {
  la: U64;
  access: AccessKind;
  /** Which reference the coordinate question asks about (1-based). */
  k: number;
}

export interface NestedAnswer {
  kind: 'ok' | 'guest-fault' | 'nested-fault';
  /** Memory references made, with no caches (n·m + n + m for a full walk). */
  refs: number;
  /** The k-th reference's coordinates; `hpa` the host-physical address read; `gpa` a guest entry's guest-physical one (else null). */
  kth: GridCoord & { hpa: number; gpa: number | null };
  /** Final host-physical address ('ok'), else null. */
  hpa: number | null;
  gpa: number | null;
  /** The guest's #PF error code, or the nested fault's level and guest-physical address. */
  fault: string | null;
}

export interface NestedExercise {
  seed: number;
  spec: NestedWorldSpec;
  /** Guest CR3, and (PAE on Intel) the four PDPTE registers. */
  cr3: number;
  pdpte: U64[];
  /** EPTP (as hex text, 64 bits) or N_CR3. */
  nestedPointer: string;
  guestTables: NestedTablePage[];
  nestedTables: NestedTablePage[];
  questions: NestedQuestion[];
  answers: NestedAnswer[];
}

export const NESTED_DEFAULT_COUNT = 3;
export const NESTED_MAX_COUNT = 8;

export interface NestedExerciseOptions {
  seed: number;
  count?: number;
}

const MODES: GuestMode[] = ['32bit', 'pae', '4level', '4level', '5level'];

function pages(mem: PhysMem, addrs: Iterable<number>, toHost: (a: number) => number, entrySize: 4 | 8): NestedTablePage[] {
  const out: NestedTablePage[] = [];
  for (const a of [...new Set(addrs)].sort((x, y) => x - y)) {
    const entries: { index: number; lo: number; hi: number }[] = [];
    const count = 4096 / entrySize;
    for (let i = 0; i < count; i++) {
      const h = toHost(a) + i * entrySize;
      const lo = mem.read(h, 4) >>> 0;
      const hi = entrySize === 8 ? mem.read(h + 4, 4) >>> 0 : 0;
      if (lo !== 0 || hi !== 0) entries.push({ index: i, lo, hi });
    }
    out.push({ address: a, entrySize, entries });
  }
  return out;
}

function answerOf(res: TwoDResult<unknown>, k: number, names: readonly LevelName[]): NestedAnswer {
  const coords = gridCoords(res.refs, names);
  const ref = res.refs[k - 1]!;
  const kth = { ...coords[k - 1]!, hpa: ref.dim === 'guest' ? ref.hpa : ref.step.entryPa, gpa: ref.dim === 'guest' ? ref.gpa : null };
  if (res.kind === 'ok') return { kind: 'ok', refs: res.refs.length, kth, hpa: res.hpa, gpa: res.gpa, fault: null };
  if (res.kind === 'guest-fault') {
    return { kind: 'guest-fault', refs: res.refs.length, kth, hpa: null, gpa: null, fault: `#PF, error code 0x${res.fault.errorCode.toString(16)}, at the ${res.fault.level}` };
  }
  return { kind: 'nested-fault', refs: res.refs.length, kth, hpa: null, gpa: res.gpa, fault: `${res.stage} guest-physical 0x${res.gpa.toString(16)}` };
}

/** Generates the exercise for `seed`: the same seed (and count) gives the same exercise. */
export function generateNestedExercise(opts: NestedExerciseOptions): NestedExercise {
  const { seed } = opts;
  const count = opts.count ?? NESTED_DEFAULT_COUNT;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: ${seed} is not a non-negative integer`);
  if (!Number.isInteger(count) || count < 1 || count > NESTED_MAX_COUNT) throw new RangeError(`count: ${count} is not 1..${NESTED_MAX_COUNT}`);
  const r = rng(mixSeed(seed, count, 0x2d));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const vendor = pick(['ept', 'npt'] as const);
  const guest = pick(MODES);
  const nestedLevels = guest === '5level' ? 5 : pick([4, 4, 5] as const);
  const nestedShift = pick([12, 12, 12, 21] as const);
  const spec: NestedWorldSpec = { vendor, guest, nestedLevels, nestedShift };
  const w = new NestedWorld(spec, r);
  const questions: NestedQuestion[] = [];
  const accesses: AccessKind[] = [
    { write: false, fetch: false, user: true },
    { write: true, fetch: false, user: true },
    { write: false, fetch: true, user: false },
  ];
  const planned: { la: U64; access: AccessKind; gpa: number; fault: 'none' | 'guest' | 'nested' }[] = [];
  for (let i = 0; i < count; i++) {
    const m = w.addMapping(0.25);
    const { la, gpa } = w.addressIn(m);
    planned.push({ la, access: pick(accesses), gpa, fault: i === 0 || r() < 0.6 ? 'none' : pick(['guest', 'nested'] as const) });
  }
  // Faults are made after every mapping exists, so no later mapping re-creates what was cleared.
  for (const p of planned) {
    const m = w.mappings[planned.indexOf(p)]!;
    if (p.fault === 'guest') {
      // A not-present guest entry below the root (clearing a shared upper entry would spoil others).
      w.clearGuestEntry(m.entries[m.entries.length - 1]!);
    } else if (p.fault === 'nested' && !w.sharesNestedPage(p.gpa)) {
      // Only when the nested page holds no guest table: the fault then belongs to this question alone.
      w.clearNestedEntry(p.gpa, w.nestedDepth - 1);
    }
  }
  for (const p of planned) {
    const res = w.translate(p.la, p.access);
    questions.push({ la: p.la, access: p.access, k: 1 + Math.floor(r() * res.refs.length) });
  }
  const names = guestLevelsRead(guest, vendor);
  const answers = questions.map((q) => answerOf(w.translate(q.la, q.access), q.k, names));
  const gte = w.g.entrySize;
  const guestTableGpas: number[] = [];
  const walkNodes = (node: Node): void => {
    guestTableGpas.push(Math.floor(node.gpa / 4096) * 4096);
    for (const c of node.children.values()) walkNodes(c);
  };
  walkNodes(w.root);
  const nestedPages = w.nestedTablePages();
  return {
    seed,
    spec,
    cr3: w.ctl.cr3Lo,
    pdpte: guest === 'pae' && vendor === 'ept' ? [0, 1, 2, 3].map((i) => ({ lo: w.ctl.pdpte[2 * i]!, hi: w.ctl.pdpte[2 * i + 1]! })) : [],
    nestedPointer: vendor === 'ept' ? `0x${w.eptp.toString(16)}` : `0x${w.nestedRoot.toString(16)}`,
    guestTables: pages(w.mem, guestTableGpas, (a) => w.hpaOf(a), gte),
    nestedTables: pages(w.mem, nestedPages, (a) => a, 8),
    questions,
    answers,
  };
}

// ---------------------------------------------------------------------------------------------
// Text form for the command line

const MODE_TITLES: Record<GuestMode, string> = { '32bit': '32-bit (2-level)', pae: 'PAE (3-level)', '4level': '4-level', '5level': '5-level' };
const hx = (v: number, digits = 8): string => `0x${v.toString(16).padStart(digits, '0')}`;
const sizeText = (shift: number): string => (shift >= 30 ? '1 GiB' : shift >= 21 ? '2 MiB' : '4 KiB');

function accessText(a: AccessKind): string {
  return `${a.write ? 'write' : a.fetch ? 'fetch' : 'read'}, ${a.user ? 'user' : 'supervisor'}`;
}

function laText(la: U64): string {
  return la.hi === 0 ? hx(la.lo) : `0x${la.hi.toString(16)}${la.lo.toString(16).padStart(8, '0')}`;
}

/** The exercise as text: the setup, both table sets as memory dumps, the questions and (when asked) the key. */
export function formatNestedExercise(ex: NestedExercise, opts: { answers: boolean }): string {
  const { spec } = ex;
  const vendor = spec.vendor === 'ept' ? 'EPT (Intel)' : 'NPT (AMD)';
  const out: string[] = [];
  out.push(`Two-dimensional walk exercise: ${MODE_TITLES[spec.guest]} guest paging on ${spec.nestedLevels}-level ${vendor}, seed ${ex.seed}`);
  out.push('');
  out.push(`Guest CR3     ${hx(ex.cr3)} (guest-physical)`);
  if (ex.pdpte.length > 0) {
    out.push(`PDPTE registers (loaded with CR3; the walk reads no PDPTE): ${ex.pdpte.map((p) => hx(p.lo)).join(' ')}`);
  } else if (spec.guest === 'pae') {
    out.push('PAE on AMD with nested paging: the walk reads the PDPTE from the PDPT at CR3 through the nested tables.');
  }
  out.push(spec.vendor === 'ept' ? `EPTP          ${ex.nestedPointer} (root, walk length ${spec.nestedLevels}, memory type WB)` : `N_CR3         ${ex.nestedPointer} (host in ${spec.nestedLevels}-level paging)`);
  out.push(`Nested pages  ${sizeText(spec.nestedShift)}; guest entries are ${GUEST_SPECS[spec.guest].entrySize} bytes, nested entries 8 bytes`);
  out.push('');
  out.push('Every guest paging-structure entry is at a guest-physical address that the nested tables translate before');
  out.push('it is read; then the final guest-physical address is translated too. Count every entry read (guest and');
  out.push('nested) with no caches; the data access itself is not counted. A reference is placed on the row of the');
  out.push('guest level whose entry it reaches (the final translation: the data row) and the column of the nested');
  out.push('level read (the guest entry itself: the guest column).');
  out.push('');
  out.push('Guest tables (guest-physical page: non-zero entries)');
  for (const p of ex.guestTables) {
    out.push(`  page ${hx(p.address)}`);
    for (const e of p.entries) out.push(`    [${e.index.toString().padStart(3, '0')}] ${p.entrySize === 4 ? hx(e.lo) : `0x${e.hi.toString(16).padStart(8, '0')}${e.lo.toString(16).padStart(8, '0')}`}`);
  }
  out.push('Nested tables (host-physical page: non-zero entries)');
  for (const p of ex.nestedTables) {
    out.push(`  page ${hx(p.address)}`);
    for (const e of p.entries) out.push(`    [${e.index.toString().padStart(3, '0')}] 0x${e.hi.toString(16).padStart(8, '0')}${e.lo.toString(16).padStart(8, '0')}`);
  }
  out.push('');
  out.push('Questions: for each access, (a) how many references, (b) where reference k is (row, column, address read),');
  out.push('(c) the final host-physical address, or which fault ends the walk.');
  ex.questions.forEach((q, i) => {
    out.push(`  ${i + 1}. ${laText(q.la)}  ${accessText(q.access)}  k = ${q.k}`);
  });
  if (opts.answers) {
    out.push('');
    out.push('Answer key');
    ex.answers.forEach((a, i) => {
      const where = a.kth.gpa === null ? `nested entry at host-physical ${hx(a.kth.hpa)}` : `guest entry at guest-physical ${hx(a.kth.gpa)} (host-physical ${hx(a.kth.hpa)})`;
      const end = a.kind === 'ok' ? `HPA = ${hx(a.hpa!)} (GPA ${hx(a.gpa!)})` : a.kind === 'guest-fault' ? `the guest's own ${a.fault!}` : `a nested fault (VM exit) on the ${a.fault!}`;
      out.push(`  ${i + 1}. (a) ${a.refs} references  (b) #${ex.questions[i]!.k}: row ${a.kth.row}, column ${a.kth.col}, ${where}  (c) ${end}`);
    });
  }
  return out.join('\n');
}
