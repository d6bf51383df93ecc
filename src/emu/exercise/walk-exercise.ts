/**
 * Page-walk homework: a generator of translation problems (paging structures as a memory dump,
 * linear addresses to translate, some of which fault) and their answer key. The answers are not
 * worked out here: every question is translated by the lab's MMU (`walk` of mmu/walk.ts, without
 * side effects) over a PhysMem holding the generated tables, so the key is right by construction.
 *
 * Paging modes and entry formats: SDM Vol. 3A, 4.3 (32-bit), 4.4 (PAE), 4.5 (4-level and
 * 5-level); access rights 4.6; the #PF error code 4.7.
 *
 * Everything returned is plain data (JSON-serializable). 64-bit values (entries, linear
 * addresses, CR3) are kept as 32-bit halves; physical addresses are plain numbers (≤ 40 bits).
 */

import { PhysMem } from '../mem/physmem.ts';
import { PFEC, PTE, PTE_HI_XD } from '../mmu/bits.ts';
import type { AccessKind, PagingControl, WalkStep } from '../mmu/types.ts';
import { walk } from '../mmu/walk.ts';
import { mixSeed, rng } from './rng.ts';

export type WalkLevels = 2 | 3 | 4 | 5;
export type LevelName = WalkStep['level'];
export type WalkMode = '32bit' | 'pae' | '4level' | '5level';

/** A 64-bit value as unsigned 32-bit halves. */
export interface U64 {
  lo: number;
  hi: number;
}

/** The control state a student needs (SDM Vol. 3A, 2.5 for CR0/CR4, 2.2.1 for IA32_EFER). */
export interface WalkControl {
  mode: WalkMode;
  cr3: U64;
  /** CR0.WP: supervisor writes obey R/W. */
  cr0Wp: boolean;
  /** CR4.PSE: 4-MByte pages in 32-bit paging. */
  cr4Pse: boolean;
  cr4Pae: boolean;
  cr4La57: boolean;
  /** IA32_EFER.NXE: the XD bit (63) is in use; otherwise it is reserved. */
  eferNxe: boolean;
  maxPhysAddr: number;
  /** PAE paging: the four PDPTE registers, loaded from the 4 entries at CR3 by MOV to CR3. */
  pdpte: U64[];
}

export interface TableEntry {
  index: number;
  lo: number;
  hi: number;
}

/** One page of paging structures: its non-zero entries, by index. */
export interface TablePage {
  pa: number;
  /** Bytes per entry: 4 (32-bit paging) or 8. */
  entrySize: 4 | 8;
  entries: TableEntry[];
}

export interface WalkQuestion {
  la: U64;
  access: AccessKind;
}

export interface AnswerStep {
  level: LevelName;
  /** The linear-address bits that select this entry, [high, low]. */
  indexBits: [number, number];
  index: number;
  /** Physical address of the entry (PAE PDPTEs: where the register was loaded from). */
  entryPa: number;
  entry: U64;
  /** PAE PDPTE: read from the PDPTE register, not from memory. */
  fromRegister: boolean;
  /** The entry maps the page. */
  leaf: boolean;
}

/** The #PF error code bits (SDM Vol. 3A, 4.7, Figure 4-12). */
export interface ErrorCodeBits {
  /** 0: not present; 1: a protection violation or reserved bit. */
  p: boolean;
  /** W/R: the access was a write. */
  wr: boolean;
  /** U/S: a user-mode access. */
  us: boolean;
  /** RSVD: a reserved bit was set in some paging-structure entry. */
  rsvd: boolean;
  /** I/D: an instruction fetch (reported with PAE/4-level/5-level paging and EFER.NXE = 1). */
  id: boolean;
}

export type WalkAnswer =
  | { ok: true; steps: AnswerStep[]; pa: number; pageSize: number }
  | { ok: false; steps: AnswerStep[]; errorCode: number; faultLevel: LevelName; bits: ErrorCodeBits };

export interface WalkExercise {
  levels: WalkLevels;
  seed: number;
  control: WalkControl;
  /** Pages of paging structures, by physical address. */
  pages: TablePage[];
  questions: WalkQuestion[];
  answers: WalkAnswer[];
}

export interface WalkExerciseOptions {
  levels: WalkLevels;
  seed: number;
  /** Number of addresses to translate, 2..32 (default 5). */
  count?: number;
}

export const DEFAULT_COUNT = 5;
export const MAX_COUNT = 32;

interface ModeSpec {
  mode: WalkMode;
  names: LevelName[];
  /** Lowest linear-address bit of each level's index. */
  shifts: number[];
  /** Index width in bits of each level. */
  widths: number[];
  entrySize: 4 | 8;
  maxPhysAddr: number;
  /** Address bits of a linear address (sign-extended above for canonical form). */
  laBits: number;
}

export const MODE_SPECS: Record<WalkLevels, ModeSpec> = {
  2: { mode: '32bit', names: ['PDE', 'PTE'], shifts: [22, 12], widths: [10, 10], entrySize: 4, maxPhysAddr: 36, laBits: 32 },
  3: { mode: 'pae', names: ['PDPTE', 'PDE', 'PTE'], shifts: [30, 21, 12], widths: [2, 9, 9], entrySize: 8, maxPhysAddr: 36, laBits: 32 },
  4: {
    mode: '4level',
    names: ['PML4E', 'PDPTE', 'PDE', 'PTE'],
    shifts: [39, 30, 21, 12],
    widths: [9, 9, 9, 9],
    entrySize: 8,
    maxPhysAddr: 40,
    laBits: 48,
  },
  5: {
    mode: '5level',
    names: ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'],
    shifts: [48, 39, 30, 21, 12],
    widths: [9, 9, 9, 9, 9],
    entrySize: 8,
    maxPhysAddr: 40,
    laBits: 57,
  },
};

const ACCESSES: AccessKind[] = [
  { write: false, fetch: false, user: true },
  { write: true, fetch: false, user: true },
  { write: false, fetch: true, user: true },
  { write: false, fetch: false, user: false },
  { write: true, fetch: false, user: false },
  { write: false, fetch: true, user: false },
];

/** Physical frames (4 KiB) where tables may live: 1 MiB .. 16 MiB. */
const TABLE_FRAME_LO = 0x100;
const TABLE_FRAME_HI = 0x1000;
const RAM_SIZE = TABLE_FRAME_HI * 4096;
const TWO32 = 4294967296;

type Plan = 'ok' | 'okLarge' | 'np' | 'prot' | 'rsvd';

interface Node {
  pa: number;
  /** Position in the mode's level list. */
  depth: number;
  entries: Map<number, { lo: number; hi: number; child: Node | null }>;
  /** Indices that are taken (including entries left 0 on purpose for a not-present fault). */
  claimed: Set<number>;
}

class Builder {
  readonly r: () => number;
  readonly spec: ModeSpec;
  readonly mem = new PhysMem(RAM_SIZE);
  readonly ctl: PagingControl;
  readonly control: WalkControl;
  readonly root: Node;
  readonly nodes: Node[] = [];
  private readonly usedFrames = new Set<number>();

  constructor(levels: WalkLevels, seed: number) {
    this.r = rng(seed);
    this.spec = MODE_SPECS[levels];
    const mode = this.spec.mode;
    const nxe = mode !== '32bit' && this.r() < 0.7;
    const pse = mode === '32bit' ? this.r() < 0.75 : this.r() < 0.5;
    const wp = this.r() < 0.6;
    this.root = this.newNode(0);
    this.control = {
      mode,
      cr3: { lo: this.root.pa, hi: 0 },
      cr0Wp: wp,
      cr4Pse: pse,
      cr4Pae: mode !== '32bit',
      cr4La57: mode === '5level',
      eferNxe: nxe,
      maxPhysAddr: this.spec.maxPhysAddr,
      pdpte: mode === 'pae' ? [0, 1, 2, 3].map(() => ({ lo: 0, hi: 0 })) : [],
    };
    this.ctl = {
      mode,
      cr3Lo: this.root.pa,
      cr3Hi: 0,
      wp,
      pse,
      pge: false,
      pcide: false,
      nxe,
      pdpte: new Uint32Array(8),
      maxPhysAddr: this.spec.maxPhysAddr,
    };
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  newNode(depth: number): Node {
    let f: number;
    do f = this.int(TABLE_FRAME_LO, TABLE_FRAME_HI - 1);
    while (this.usedFrames.has(f));
    this.usedFrames.add(f);
    const n: Node = { pa: f * 4096, depth, entries: new Map(), claimed: new Set() };
    this.nodes.push(n);
    return n;
  }

  get wide(): boolean {
    return this.spec.entrySize === 8;
  }

  get paePdpt(): boolean {
    return this.spec.mode === 'pae';
  }

  /** A random data frame for a page of 2^shift bytes, as [lo, hi] of its base. */
  dataFrame(shift: number): [number, number] {
    const paBits = this.wide ? this.spec.maxPhysAddr : 32;
    // Mostly below 4 GiB, so that the numbers stay readable.
    const bits = this.wide && this.chance(0.25) ? paBits : 32;
    const frames = 2 ** (bits - shift);
    const base = Math.max(1, Math.floor(frames / 64));
    const pa = this.int(base, frames - 1) * 2 ** shift;
    return [pa % TWO32 >>> 0, Math.floor(pa / TWO32)];
  }

  setEntry(node: Node, index: number, lo: number, hi: number, child: Node | null): void {
    node.entries.set(index, { lo: lo >>> 0, hi: hi >>> 0, child });
    node.claimed.add(index);
    const pa = node.pa + index * this.spec.entrySize;
    this.mem.write(pa, 4, lo >>> 0);
    if (this.wide) this.mem.write(pa + 4, 4, hi >>> 0);
    if (this.paePdpt && node === this.root) {
      this.ctl.pdpte[2 * index] = lo >>> 0;
      this.ctl.pdpte[2 * index + 1] = hi >>> 0;
      this.control.pdpte[index] = { lo: lo >>> 0, hi: hi >>> 0 };
    }
  }

  freeIndex(node: Node): number | null {
    const size = 2 ** this.spec.widths[node.depth]!;
    if (node.claimed.size >= size) return null;
    let i: number;
    do i = this.int(0, size - 1);
    while (node.claimed.has(i));
    return i;
  }

  /** Flags of an entry that references the next table (PAE PDPTEs: P only, 4.4.1). */
  pointerFlags(node: Node): number {
    if (this.paePdpt && node === this.root) return PTE.P;
    return PTE.P | PTE.RW | PTE.US | (this.chance(0.7) ? PTE.A : 0);
  }

  /** Creates a pointer entry at a free index of `node` to a new table; null if `node` is full. */
  newPointer(node: Node, restrict: number, xd: boolean): { index: number; child: Node } | null {
    const index = this.freeIndex(node);
    if (index === null) return null;
    const child = this.newNode(node.depth + 1);
    this.setEntry(node, index, (child.pa | this.pointerFlags(node)) & ~restrict, xd ? PTE_HI_XD : 0, child);
    return { index, child };
  }

  /** Present pointer entries of `node` that a new path may follow. */
  pointers(node: Node): { index: number; child: Node }[] {
    const out: { index: number; child: Node }[] = [];
    for (const [index, e] of [...node.entries].sort((a, b) => a[0] - b[0])) if (e.child !== null) out.push({ index, child: e.child });
    return out;
  }

  /** Random flags of an entry that maps a page. */
  leafFlags(): { lo: number; xd: boolean } {
    let lo = PTE.P | (this.chance(0.7) ? PTE.RW : 0) | (this.chance(0.6) ? PTE.US : 0);
    if (this.chance(0.7)) lo |= PTE.A | (this.chance(0.5) ? PTE.D : 0);
    if (this.chance(0.2)) lo |= PTE.G;
    return { lo, xd: this.ctl.nxe && this.chance(0.3) };
  }

  /**
   * Builds the paging structures for one question following `plan` and returns its linear
   * address, or null if the plan does not fit this mode or these tables.
   */
  build(plan: Plan): bigint | null {
    const { names, shifts, widths } = this.spec;
    const n = names.length;
    const mode = this.spec.mode;
    const largeDepths: number[] = [];
    if (mode === '32bit' ? this.ctl.pse : true) largeDepths.push(n - 2);
    if (mode === '4level' || mode === '5level') largeDepths.push(n - 3);
    // The depth of the last entry the walk reads, and what is there.
    let t: number;
    let restrictDepth = -1;
    let rsvdKind = '';
    switch (plan) {
      case 'ok':
        t = n - 1;
        break;
      case 'okLarge':
        if (largeDepths.length === 0) return null;
        t = this.pick(largeDepths);
        break;
      case 'prot': {
        t = largeDepths.length > 0 && this.chance(0.3) ? this.pick(largeDepths) : n - 1;
        const first = this.paePdpt ? 1 : 0;
        restrictDepth = this.chance(0.6) ? t : this.int(first, t);
        break;
      }
      case 'np':
        t = this.int(0, n - 1);
        break;
      case 'rsvd': {
        if (mode === '32bit') {
          if (!this.ctl.pse) return null;
          t = 0;
          rsvdKind = 'pse4m';
          break;
        }
        t = this.int(this.paePdpt ? 1 : 0, n - 1);
        const kinds = ['hi'];
        if (!this.ctl.nxe) kinds.push('xd');
        if (names[t] === 'PML4E' || names[t] === 'PML5E') kinds.push('ps');
        if (names[t] === 'PDE') kinds.push('large');
        if (names[t] === 'PDPTE' && largeDepths.includes(t)) kinds.push('large');
        rsvdKind = this.pick(kinds);
        break;
      }
    }
    const idx: number[] = [];
    let node = this.root;
    for (let d = 0; d < t; d++) {
      const restrict = d === restrictDepth ? this.restriction() : null;
      const existing = this.pointers(node);
      let step: { index: number; child: Node } | null = null;
      if (restrict === null && existing.length > 0 && this.chance(0.5)) step = this.pick(existing);
      if (step === null) step = this.newPointer(node, restrict?.clear ?? 0, restrict?.xd ?? false);
      if (step === null) {
        if (restrict !== null || existing.length === 0) return null;
        step = this.pick(existing);
      }
      idx.push(step.index);
      node = step.child;
    }
    const index = this.freeIndex(node);
    if (index === null) return null;
    idx.push(index);
    const leafShift = shifts[t]!;
    const isLarge = t < n - 1;
    switch (plan) {
      case 'ok':
      case 'okLarge':
      case 'prot': {
        const f = this.leafFlags();
        let lo = f.lo | (isLarge ? PTE.PS : 0);
        let xd = f.xd;
        if (restrictDepth === t) {
          const rs = this.restriction();
          lo &= ~rs.clear;
          xd ||= rs.xd;
        }
        const [flo, fhi] = this.dataFrame(leafShift);
        this.setEntry(node, index, (flo | lo) >>> 0, fhi | (xd ? PTE_HI_XD : 0), null);
        break;
      }
      case 'np': {
        // Not present: the entry is 0, or holds what an OS keeps there with P = 0 (e.g. where the page was swapped to).
        const lo = this.chance(0.5) ? 0 : (this.int(1, 0xfffff) * 4096 + (this.chance(0.5) ? PTE.RW : 0)) >>> 0;
        if (lo === 0) node.claimed.add(index);
        else this.setEntry(node, index, lo, 0, null);
        break;
      }
      case 'rsvd':
        this.setReserved(node, index, t, rsvdKind);
        break;
    }
    // Index bits below the last entry read, and the page offset.
    let la = 0n;
    for (let d = 0; d < n; d++) {
      const v = d < idx.length ? idx[d]! : this.int(0, 2 ** widths[d]! - 1);
      la |= BigInt(v) << BigInt(shifts[d]!);
    }
    la |= BigInt(this.int(0, 0xfff));
    const top = this.spec.laBits;
    if (top < 64 && top > 32 && ((la >> BigInt(top - 1)) & 1n) === 1n) la |= ((1n << 64n) - 1n) ^ ((1n << BigInt(top)) - 1n);
    return la;
  }

  /** A rights restriction for a protection fault: R/W = 0, U/S = 0, or XD = 1 (with NXE). */
  restriction(): { clear: number; xd: boolean } {
    const kinds: { clear: number; xd: boolean }[] = [
      { clear: PTE.RW, xd: false },
      { clear: PTE.US, xd: false },
    ];
    if (this.ctl.nxe) kinds.push({ clear: 0, xd: true });
    return this.pick(kinds);
  }

  /** A present entry with a reserved bit set (SDM Vol. 3A, Tables 4-4 and 4-8..4-20). */
  setReserved(node: Node, index: number, depth: number, kind: string): void {
    const M = this.spec.maxPhysAddr;
    const flags = PTE.P | PTE.RW | PTE.US | PTE.A;
    switch (kind) {
      case 'pse4m': {
        // 4-MByte PDE: bits 21:(M-19) reserved (M = min(MAXPHYADDR, 40)).
        const [flo] = this.dataFrame(22);
        const b = this.int(Math.min(M, 40) - 19, 21);
        this.setEntry(node, index, (flo | flags | PTE.PS | (1 << b)) >>> 0, 0, null);
        return;
      }
      case 'large': {
        // 2-MByte PDE: bits 20:13; 1-GByte PDPTE: bits 29:13.
        const shift = this.spec.shifts[depth]!;
        const [flo, fhi] = this.dataFrame(shift);
        const b = this.int(13, shift - 1);
        this.setEntry(node, index, (flo | flags | PTE.PS | (1 << b)) >>> 0, fhi, null);
        return;
      }
      case 'ps':
        this.setEntry(node, index, (this.dataFrame(12)[0] | flags | PTE.PS) >>> 0, 0, null);
        return;
      case 'xd': {
        const [flo, fhi] = this.dataFrame(12);
        this.setEntry(node, index, (flo | flags) >>> 0, fhi | PTE_HI_XD, null);
        return;
      }
      default: {
        // Bits 51:M (PAE: 62:M) of the high half.
        const topBit = this.paePdpt ? 62 : 51;
        const b = this.int(M, topBit);
        const [flo, fhi] = this.dataFrame(12);
        this.setEntry(node, index, (flo | flags) >>> 0, (fhi | (1 << (b - 32))) >>> 0, null);
      }
    }
  }

  translate(la: U64, access: AccessKind): WalkAnswer {
    const res = walk(this.mem, this.ctl, la.lo, la.hi, access, false);
    const steps = res.steps.map((s): AnswerStep => this.answerStep(s));
    if (res.ok) return { ok: true, steps, pa: res.pa, pageSize: res.pageSize };
    return { ok: false, steps, errorCode: res.fault.errorCode, faultLevel: res.fault.level, bits: decodeErrorCode(res.fault.errorCode) };
  }

  answerStep(s: WalkStep): AnswerStep {
    const d = this.spec.names.indexOf(s.level);
    const lowBit = this.spec.shifts[d]!;
    const fromRegister = s.entryPa < 0;
    return {
      level: s.level,
      indexBits: [lowBit + this.spec.widths[d]! - 1, lowBit],
      index: s.index,
      entryPa: fromRegister ? this.root.pa + s.index * 8 : s.entryPa,
      entry: { lo: s.entryLo >>> 0, hi: s.entryHi >>> 0 },
      fromRegister,
      leaf: s.leaf,
    };
  }
}

export function decodeErrorCode(code: number): ErrorCodeBits {
  return {
    p: (code & PFEC.P) !== 0,
    wr: (code & PFEC.W_R) !== 0,
    us: (code & PFEC.U_S) !== 0,
    rsvd: (code & PFEC.RSVD) !== 0,
    id: (code & PFEC.I_D) !== 0,
  };
}

function toU64(v: bigint): U64 {
  return { lo: Number(v & 0xffffffffn), hi: Number((v >> 32n) & 0xffffffffn) };
}

function isFaultPlan(p: Plan): boolean {
  return p === 'np' || p === 'prot' || p === 'rsvd';
}

function attempt(levels: WalkLevels, seed: number, count: number, tries: number): WalkExercise | null {
  const b = new Builder(levels, mixSeed(seed, levels, count, tries));
  const weighted: Plan[] = ['ok', 'ok', 'ok', 'okLarge', 'okLarge', 'np', 'np', 'np', 'prot', 'prot', 'prot', 'rsvd'];
  const plans: Plan[] = [b.pick(['ok', 'ok', 'okLarge'] as const), b.pick(['np', 'prot', 'prot', 'rsvd'] as const)];
  while (plans.length < count) plans.push(b.pick(weighted));
  for (let i = plans.length - 1; i > 0; i--) {
    const j = b.int(0, i);
    [plans[i], plans[j]] = [plans[j]!, plans[i]!];
  }
  const questions: WalkQuestion[] = [];
  for (let plan of plans) {
    let la = b.build(plan);
    // Plans that do not fit (e.g. a large page with CR4.PSE = 0) fall back to a like outcome.
    for (let k = 0; la === null && k < 8; k++) {
      plan = isFaultPlan(plan) ? b.pick(['np', 'prot'] as const) : 'ok';
      la = b.build(plan);
    }
    if (la === null) return null;
    const laU = toU64(la);
    const order = [...ACCESSES];
    for (let i = order.length - 1; i > 0; i--) {
      const j = b.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const want = (a: AccessKind): boolean => {
      const res = b.translate(laU, a);
      if (plan === 'ok' || plan === 'okLarge') return res.ok;
      if (plan === 'prot') return !res.ok && res.bits.p && !res.bits.rsvd;
      return true;
    };
    const access = order.find(want) ?? order[0]!;
    questions.push({ la: laU, access: { ...access } });
  }
  const answers = questions.map((q) => b.translate(q.la, q.access));
  if (!answers.some((a) => a.ok) || !answers.some((a) => !a.ok)) return null;
  const pages: TablePage[] = b.nodes
    .map((node) => ({
      pa: node.pa,
      entrySize: b.spec.entrySize,
      entries: [...node.entries]
        .filter(([, e]) => e.lo !== 0 || e.hi !== 0)
        .sort((x, y) => x[0] - y[0])
        .map(([index, e]) => ({ index, lo: e.lo, hi: e.hi })),
    }))
    .sort((x, y) => x.pa - y.pa);
  return { levels, seed, control: b.control, pages, questions, answers };
}

/** Generates the exercise for `levels` and `seed`: the same arguments give the same exercise. */
export function generateWalkExercise(opts: WalkExerciseOptions): WalkExercise {
  const { levels, seed } = opts;
  const count = opts.count ?? DEFAULT_COUNT;
  if (!(levels in MODE_SPECS)) throw new RangeError(`levels: ${String(levels)} is not 2, 3, 4 or 5`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: ${seed} is not a non-negative integer`);
  if (!Number.isInteger(count) || count < 2 || count > MAX_COUNT) throw new RangeError(`count: ${count} is not 2..${MAX_COUNT}`);
  for (let tries = 0; tries < 100; tries++) {
    const ex = attempt(levels, seed, count, tries);
    if (ex !== null) return ex;
  }
  throw new Error(`no exercise for levels ${levels}, seed ${seed}`);
}

/** A student's answer: the physical address, or a page fault with its error code (and level). */
export type StudentAnswer = { pa: number } | { fault: { errorCode: number; level?: LevelName } };

export type CheckResult = { correct: true } | { correct: false; wrong: string[] };

const BIT_NAMES: [keyof ErrorCodeBits, string, string, string][] = [
  ['p', 'P', 'the fault is a protection violation or a reserved bit, not a not-present entry', 'an entry on the walk is not present'],
  ['wr', 'W/R', 'the access is a write', 'the access is not a write'],
  ['us', 'U/S', 'the access is made in user mode', 'the access is made in supervisor mode'],
  ['rsvd', 'RSVD', 'an entry on the walk has a reserved bit set', 'no entry on the walk has a reserved bit set'],
  ['id', 'I/D', 'the access is an instruction fetch reported as such (PAE/4-level/5-level paging with EFER.NXE = 1)', 'I/D is set only for an instruction fetch with EFER.NXE = 1 in PAE/4-level/5-level paging'],
];

/** Checks a student's answer to question `index`; when wrong, says what is wrong without giving the whole answer. */
export function checkWalkAnswer(exercise: WalkExercise, index: number, answer: StudentAnswer): CheckResult {
  const key = exercise.answers[index];
  if (key === undefined) throw new RangeError(`question ${index} does not exist (0..${exercise.answers.length - 1})`);
  const wrong: string[] = [];
  if (key.ok) {
    if (!('pa' in answer)) return { correct: false, wrong: ['the access does not fault: every entry on the walk is present and allows it'] };
    if (answer.pa !== key.pa) {
      const frameOk = answer.pa - (answer.pa % key.pageSize) === key.pa - (key.pa % key.pageSize);
      const offsetOk = answer.pa % key.pageSize === key.pa % key.pageSize;
      if (frameOk) wrong.push(`the page frame is right but the offset within the ${sizeName(key.pageSize)} page is wrong`);
      else if (offsetOk) wrong.push(`the offset is right but the ${sizeName(key.pageSize)} page frame is wrong`);
      else wrong.push('the physical address is wrong (both the page frame and the offset)');
    }
  } else {
    if (!('fault' in answer)) return { correct: false, wrong: [`the access faults (#PF): there is no physical address`] };
    const got = decodeErrorCode(answer.fault.errorCode);
    for (const [k, name, whySet, whyClear] of BIT_NAMES) {
      if (got[k] !== key.bits[k]) wrong.push(key.bits[k] ? `${name} should be 1: ${whySet}` : `${name} should be 0: ${whyClear}`);
    }
    if ((answer.fault.errorCode & ~0x1f) !== 0) wrong.push('only P, W/R, U/S, RSVD and I/D can be set in this error code');
    if (answer.fault.level !== undefined && answer.fault.level !== key.faultLevel) wrong.push(`the fault is not caused by the ${answer.fault.level}`);
  }
  return wrong.length === 0 ? { correct: true } : { correct: false, wrong };
}

function sizeName(bytes: number): string {
  return bytes >= 1 << 30 ? `${bytes / 2 ** 30} GiB` : bytes >= 1 << 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`;
}
