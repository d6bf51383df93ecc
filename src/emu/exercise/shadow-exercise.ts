/**
 * Shadow-paging homework (`lab exercise shadow`, issue 7): a guest's page tables (32-bit or
 * 4-level) as a memory dump, the hypervisor's GPA → HPA map, and a short sequence of guest events
 * (data accesses with their kind and CPL, stores to the guest's own page-table entries, INVLPG,
 * MOV CR3). For each event the student says whether it exits, whether a #PF is hidden or true (with
 * which error code), which shadow entry is filled or zapped and with what value, and what becomes
 * of the guest's accessed and dirty flags.
 *
 * Nothing is worked out here: the generator runs every event through the lab's `ShadowMmu`
 * (hv/shadow.ts) exactly as the hypervisor drives it (hypervisor.ts `shadowFault`: classify a #PF
 * exit, a hidden fault resumes the guest, a true one is injected, a store to a page-table page is
 * emulated with `runOnce`; INVLPG and CR3 loads are intercepted and passed to `invlpg` and `sync`).
 * The processor underneath is the lab's page walker (mmu/walk.ts) over the shadow tables, with
 * no TLB (the shadow MMU flushes whatever the processor caches whenever it zaps). The key is the
 * shadow MMU's own records (`ShadowRecord`) and the guest memory it left behind, so it is right by
 * construction; the tests check it against the guest walk composed with GPA → HPA.
 *
 * Plain data out (JSON-serializable); 64-bit entries as 32-bit halves; linear addresses below
 * 2^47 as plain numbers.
 */
import { PhysMem } from '../mem/physmem.ts';
import { PTE, PTE_HI_XD } from '../mmu/bits.ts';
import { walk } from '../mmu/walk.ts';
import type { AccessKind, EntryMemory, PagingControl } from '../mmu/types.ts';
import { SHADOW_POOL_SIZE, ShadowMmu, type ShadowFormat, type ShadowRecord } from '../hv/shadow.ts';
import { mixSeed, rng } from './rng.ts';

export type ShadowGuestMode = '32bit' | '4level';

/** Guest RAM: guest-physical [0, 4 MiB). */
export const SHADOW_EX_RAM = 0x400000;
/** The shadow pool's host-physical address (below every guest RAM base used). */
const POOL = 0x200000;
const HPA_BASES = [0x800000, 0xc00000, 0x1000000, 0x1400000];
const HOST_RAM = 0x1800000;
/** Guest frames the generator uses (above the first 64 KiB). */
const FRAME_LO = 0x10;
const FRAME_HI = SHADOW_EX_RAM / 0x1000;

export const SHADOW_DEFAULT_COUNT = 8;
export const SHADOW_MAX_COUNT = 24;

export type ShadowAccessKind = 'read' | 'write' | 'fetch';

export type ShadowEvent =
  | { kind: 'access'; gva: number; access: ShadowAccessKind; cpl: 0 | 3 }
  /** The guest kernel (CPL 0) stores `lo`/`hi` to its page-table entry at guest-physical `entry` through linear `gva`. */
  | { kind: 'pt-write'; gva: number; entry: number; lo: number; hi: number }
  | { kind: 'invlpg'; gva: number }
  | { kind: 'mov-cr3'; cr3: number };

export interface GuestEntryChange {
  /** Guest-physical address of the entry. */
  gpa: number;
  before: { lo: number; hi: number };
  after: { lo: number; hi: number };
}

export interface ShadowAnswer {
  /** Whether the event caused at least one VM exit. */
  exits: boolean;
  /** The hardware #PF error codes (on the shadow) of the hidden faults, in order. */
  hidden: number[];
  /** A true fault: the #PF error code injected into the guest (CR2 = the event's address). */
  trueFault: number | null;
  /** An access or store that completed: the host-physical address it reached. */
  hpa: number | null;
  /** What the shadow MMU did (its own records, with the hypervisor's hidden- and true-fault records). */
  records: ShadowRecord[];
  /** Guest paging-structure entries that changed (accessed/dirty flags set by walks, the store itself). */
  guest: GuestEntryChange[];
}

export interface ShadowTablePage {
  /** Guest-physical. */
  address: number;
  entrySize: 4 | 8;
  entries: { index: number; lo: number; hi: number }[];
}

export interface ShadowExercise {
  seed: number;
  mode: ShadowGuestMode;
  /** Guest control bits as the guest set them. */
  cr0: number;
  cr4: number;
  efer: number;
  /** The guest's CR3 at the start, and the other address space's root (the MOV CR3 events switch between them). */
  cr3: number;
  cr3Other: number;
  /** GPA → HPA: guest-physical [0, ramSize) at host-physical [hpaBase, hpaBase + ramSize). */
  ramSize: number;
  hpaBase: number;
  guestTables: ShadowTablePage[];
  events: ShadowEvent[];
  answers: ShadowAnswer[];
}

export interface ShadowExerciseOptions {
  seed: number;
  count?: number;
}

interface Spec {
  entrySize: 4 | 8;
  shifts: number[];
  widths: number[];
}

const SPECS: Record<ShadowGuestMode, Spec> = {
  '32bit': { entrySize: 4, shifts: [22, 12], widths: [10, 10] },
  '4level': { entrySize: 8, shifts: [39, 30, 21, 12], widths: [9, 9, 9, 9] },
};

/** A data leaf (a guest PTE mapping a data page) or a window (a PTE mapping one of the guest's table pages). */
interface GuestLeaf {
  gva: number;
  /** Guest-physical address of the PTE. */
  entry: number;
  /** The table page it maps (windows only). */
  window: number | null;
}

/** Generates the exercise for `seed`: the same seed (and count) gives the same exercise. */
export function generateShadowExercise(opts: ShadowExerciseOptions): ShadowExercise {
  const { seed } = opts;
  const count = opts.count ?? SHADOW_DEFAULT_COUNT;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: ${seed} is not a non-negative integer`);
  if (!Number.isInteger(count) || count < 1 || count > SHADOW_MAX_COUNT) throw new RangeError(`count: ${count} is not 1..${SHADOW_MAX_COUNT}`);
  const r = rng(mixSeed(seed, count, 0x5d));
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const chance = (p: number): boolean => r() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

  const mode: ShadowGuestMode = pick(['32bit', '4level'] as const);
  const spec = SPECS[mode];
  const size = spec.entrySize;
  const long = mode === '4level';
  const hpaBase = pick(HPA_BASES);
  const wp = chance(0.7);
  const nxe = long && chance(0.7);
  const cr0 = (0x80000011 | (wp ? 0x10000 : 0)) >>> 0;
  const cr4 = long ? 0x20 : 0x10;
  const efer = long ? 0x500 | (nxe ? 0x800 : 0) : 0;

  const mem = new PhysMem(HOST_RAM);
  const gmem: EntryMemory = {
    read: (a, n) => mem.read(hpaBase + a, n),
    write: (a, n, v) => mem.write(hpaBase + a, n, v),
  };
  const used = new Set<number>();
  const frame = (): number => {
    let f: number;
    do f = int(FRAME_LO, FRAME_HI - 1);
    while (used.has(f));
    used.add(f);
    return f * 0x1000;
  };
  const readEntry = (gpa: number): { lo: number; hi: number } => ({ lo: gmem.read(gpa, 4) >>> 0, hi: size === 8 ? gmem.read(gpa + 4, 4) >>> 0 : 0 });
  const writeEntry = (gpa: number, lo: number, hi: number): void => {
    gmem.write(gpa, 4, lo >>> 0);
    if (size === 8) gmem.write(gpa + 4, 4, hi >>> 0);
  };

  // ---- the guest's tables: a root, and 2-3 page tables under it (4-level: one PDPT and PD on the way) ----
  const tablePages: number[] = [];
  const rootA = frame();
  tablePages.push(rootA);
  const ptr = PTE.P | PTE.RW | PTE.US | PTE.A;
  /** Page tables: their guest-physical page and the linear address of their first page. */
  const pts: { gpa: number; base: number }[] = [];
  const ptCount = int(2, 3);
  if (long) {
    const pdpt = frame();
    const pd = frame();
    tablePages.push(pdpt, pd);
    const i4 = int(0, 255);
    const i3 = int(0, 511);
    writeEntry(rootA + i4 * 8, pdpt | ptr, 0);
    writeEntry(pdpt + i3 * 8, pd | ptr, 0);
    const pdIdx = new Set<number>();
    while (pdIdx.size < ptCount) pdIdx.add(int(0, 511));
    for (const i2 of [...pdIdx].sort((a, b) => a - b)) {
      const pt = frame();
      tablePages.push(pt);
      writeEntry(pd + i2 * 8, pt | ptr, 0);
      pts.push({ gpa: pt, base: i4 * 2 ** 39 + i3 * 2 ** 30 + i2 * 2 ** 21 });
    }
  } else {
    const pdIdx = new Set<number>();
    while (pdIdx.size < ptCount) pdIdx.add(int(1, 1023));
    for (const i1 of [...pdIdx].sort((a, b) => a - b)) {
      const pt = frame();
      tablePages.push(pt);
      writeEntry(rootA + i1 * 4, pt | ptr, 0);
      pts.push({ gpa: pt, base: i1 * 2 ** 22 });
    }
  }
  const perTable = 512; // indices used: 0..511 (both modes)
  const takenIdx = pts.map(() => new Set<number>());
  const freeIndex = (t: number): number => {
    let i: number;
    do i = int(0, perTable - 1);
    while (takenIdx[t]!.has(i));
    takenIdx[t]!.add(i);
    return i;
  };
  const data: GuestLeaf[] = [];
  const windows: GuestLeaf[] = [];
  pts.forEach((pt, t) => {
    for (let k = int(3, 4); k > 0; k--) {
      const i = freeIndex(t);
      let lo = frame() | PTE.P;
      if (chance(0.12)) lo &= ~PTE.P;
      if (chance(0.7)) lo |= PTE.RW;
      if (chance(0.7)) lo |= PTE.US;
      if (chance(0.6)) lo |= PTE.A;
      if ((lo & PTE.A) !== 0 && chance(0.5)) lo |= PTE.D;
      const hi = nxe && chance(0.3) ? PTE_HI_XD : 0;
      writeEntry(pt.gpa + i * size, lo, hi);
      data.push({ gva: pt.base + i * 0x1000, entry: pt.gpa + i * size, window: null });
    }
  });
  // The guest kernel's windows onto its page tables: supervisor, writable, so it can edit its entries.
  pts.forEach((target) => {
    const t = int(0, pts.length - 1);
    const i = freeIndex(t);
    const lo = target.gpa | PTE.P | PTE.RW | PTE.A | (chance(0.6) ? PTE.D : 0);
    writeEntry(pts[t]!.gpa + i * size, lo, 0);
    windows.push({ gva: pts[t]!.base + i * 0x1000, entry: pts[t]!.gpa + i * size, window: target.gpa });
  });
  // The second address space: another root with the same entries (so the tables under it are shared).
  const rootB = frame();
  tablePages.push(rootB);
  for (let i = 0; i < 0x1000; i += size) {
    const e = readEntry(rootA + i);
    if (e.lo !== 0 || e.hi !== 0) writeEntry(rootB + i, e.lo, e.hi);
  }
  const dump = tablePages
    .slice()
    .sort((a, b) => a - b)
    .map((address): ShadowTablePage => {
      const entries: { index: number; lo: number; hi: number }[] = [];
      for (let i = 0; i < 0x1000 / size; i++) {
        const e = readEntry(address + i * size);
        if (e.lo !== 0 || e.hi !== 0) entries.push({ index: i, ...e });
      }
      return { address, entrySize: size, entries };
    });

  // ---- the events ----
  const events: ShadowEvent[] = [];
  const touched: number[] = [];
  let cr3Now = rootA;
  const dataFrames = data.map((d) => readEntry(d.entry).lo & ~0xfff);
  /** How each store changes its entry, decided now, applied to the entry as it is when the store runs. */
  const changes = new Map<ShadowEvent, 'flip' | 'frame' | 'clear'>();
  const flips = new Map<ShadowEvent, number>();
  for (let n = 0; n < count; n++) {
    const what = n === 0 ? 0 : r();
    if (what < 0.55) {
      let gva: number;
      if (touched.length > 0 && chance(0.45)) gva = pick(touched);
      else if (chance(0.08)) gva = (long ? int(256, 511) * 2 ** 39 : int(1, 1023) * 2 ** 22) % (long ? 2 ** 47 : 2 ** 32);
      else gva = pick(data).gva;
      gva = gva - (gva % 0x1000) + int(0, 1023) * 4;
      touched.push(gva - (gva % 0x1000));
      const access = pick(['read', 'read', 'write', 'write', 'fetch'] as const);
      events.push({ kind: 'access', gva, access, cpl: chance(0.5) ? 3 : 0 });
    } else if (what < 0.78) {
      const d = pick(data);
      const pt = pts.find((p) => d.entry >= p.gpa && d.entry < p.gpa + 0x1000)!;
      const w = windows.find((x) => x.window === pt.gpa)!;
      const ev: ShadowEvent = { kind: 'pt-write', gva: w.gva + (d.entry - pt.gpa), entry: d.entry, lo: 0, hi: 0 };
      const how = pick(['flip', 'flip', 'flip', 'frame', 'clear'] as const);
      changes.set(ev, how);
      if (how === 'flip') flips.set(ev, pick([PTE.RW, PTE.US, PTE.P]));
      events.push(ev);
    } else if (what < 0.9) {
      const base = touched.length > 0 && chance(0.7) ? pick(touched) : pick(data).gva;
      events.push({ kind: 'invlpg', gva: base });
    } else {
      cr3Now = cr3Now === rootA ? rootB : rootA;
      events.push({ kind: 'mov-cr3', cr3: cr3Now });
    }
  }

  // ---- the run: the shadow MMU as the hypervisor drives it ----
  const regs = { cr0, cr3: rootA, cr4, efer };
  let sroot = 0;
  let format: ShadowFormat = '32bit';
  /** The store runOnce lets the processor make (a pt-write event). */
  let pendingStore: (() => void) | null = null;
  const sh = new ShadowMmu({
    pool: POOL,
    guestRam: { size: SHADOW_EX_RAM, hpaBase },
    host: {
      mem,
      maxPhysAddr: 48,
      page1gb: false,
      guestRegs: () => regs,
      loadRoot: (rt, f) => {
        sroot = rt;
        format = f;
      },
      enterOnce: () => {
        if (pendingStore === null) throw new Error('exercise shadow: the processor has no instruction to run');
        pendingStore();
        return { kind: 'budget' };
      },
      flushTlb: () => {},
    },
  });
  if (POOL + SHADOW_POOL_SIZE > hpaBase) throw new Error('exercise shadow: the pool overlaps guest RAM');
  const start = sh.sync('start');
  if (start !== null) throw new Error(start);
  sh.take();
  const sctl = (): PagingControl => ({
    mode: format === '4level' ? '4level' : '32bit', cr3Lo: sroot, cr3Hi: 0, wp: true, pse: false, pge: false, pcide: false, nxe,
    pdpte: new Uint32Array(8), maxPhysAddr: 48, page1gb: false,
  });
  /** The guest's table pages as 32-bit words (compared before and after each event). */
  const snapshot = (): Uint32Array => {
    const words = new Uint32Array(tablePages.length * 1024);
    tablePages.forEach((p, k) => {
      for (let i = 0; i < 1024; i++) words[k * 1024 + i] = gmem.read(p + i * 4, 4) >>> 0;
    });
    return words;
  };
  /** The processor runs one access on the shadow; #PF exits go to the shadow MMU as in hypervisor.ts. */
  const run = (gva: number, access: AccessKind, store: { lo: number; hi: number } | null): Omit<ShadowAnswer, 'records' | 'guest'> => {
    const out: Omit<ShadowAnswer, 'records' | 'guest'> = { exits: false, hidden: [], trueFault: null, hpa: null };
    const lo = gva % 2 ** 32;
    const hi = Math.floor(gva / 2 ** 32);
    const doStore = (): number | null => {
      const hw = walk(mem, sctl(), lo, hi, access, true);
      if (!hw.ok) return null;
      if (store !== null) {
        mem.write(hw.pa, 4, store.lo >>> 0);
        if (size === 8) mem.write(hw.pa + 4, 4, store.hi >>> 0);
      }
      return hw.pa;
    };
    for (let tries = 0; tries < 8; tries++) {
      const hw = walk(mem, sctl(), lo, hi, access, true);
      if (hw.ok) {
        out.hpa = doStore();
        return out;
      }
      out.exits = true;
      const ec = hw.fault.errorCode;
      const f = sh.classify(gva, ec);
      if (f.kind === 'true') {
        sh.stats.trueFaults++;
        sh.records.push({ op: 'true-fault', gva, errorCode: f.errorCode });
        out.trueFault = f.errorCode;
        return out;
      }
      if (f.kind === 'hidden') {
        sh.stats.hiddenFaults++;
        sh.records.push({ op: 'hidden-fault', gva, errorCode: ec });
        out.hidden.push(ec);
        continue;
      }
      if (f.kind === 'pt-write') {
        let reached: number | null = null;
        pendingStore = () => {
          reached = doStore();
          if (reached === null) throw new Error('exercise shadow: the opened page-table page refused the store');
        };
        try {
          sh.runOnce(gva, f, () => 0n, () => 0, { read: () => 0xffffffff, write: () => {}, readHi: 0xffffffff }, []);
        } finally {
          pendingStore = null;
        }
        out.hpa = reached;
        return out;
      }
      throw new Error(`exercise shadow: unexpected ${f.kind} at 0x${gva.toString(16)}`);
    }
    throw new Error(`exercise shadow: no progress at 0x${gva.toString(16)}`);
  };

  const answers: ShadowAnswer[] = [];
  for (const ev of events) {
    const before = snapshot();
    let res: Omit<ShadowAnswer, 'records' | 'guest'>;
    if (ev.kind === 'access') {
      res = run(ev.gva, { write: ev.access === 'write', fetch: ev.access === 'fetch', user: ev.cpl === 3 }, null);
    } else if (ev.kind === 'pt-write') {
      // The new value: the entry as it is now with one change (a flag toggled, another frame, or cleared).
      const cur = readEntry(ev.entry);
      const how = changes.get(ev)!;
      const lo = how === 'frame' ? (pick(dataFrames.filter((f) => f !== (cur.lo & ~0xfff))) | (cur.lo & 0xfff)) >>> 0 : how === 'clear' ? 0 : (cur.lo ^ flips.get(ev)!) >>> 0;
      ev.lo = lo;
      ev.hi = lo === 0 ? 0 : cur.hi;
      res = run(ev.gva, { write: true, fetch: false, user: false }, { lo: ev.lo, hi: ev.hi });
    } else if (ev.kind === 'invlpg') {
      sh.invlpg(ev.gva);
      res = { exits: true, hidden: [], trueFault: null, hpa: null };
    } else {
      regs.cr3 = ev.cr3;
      const e = sh.sync('cr3');
      if (e !== null) throw new Error(e);
      res = { exits: true, hidden: [], trueFault: null, hpa: null };
    }
    const after = snapshot();
    const guest: GuestEntryChange[] = [];
    const per = size / 4;
    tablePages.forEach((p, k) => {
      for (let e = 0; e < 1024; e += per) {
        const w = k * 1024 + e;
        const b = { lo: before[w]!, hi: per === 2 ? before[w + 1]! : 0 };
        const a = { lo: after[w]!, hi: per === 2 ? after[w + 1]! : 0 };
        if (a.lo !== b.lo || a.hi !== b.hi) guest.push({ gpa: p + e * 4, before: b, after: a });
      }
    });
    guest.sort((x, y) => x.gpa - y.gpa);
    answers.push({ ...res, records: sh.take(), guest });
  }

  return { seed, mode, cr0, cr4, efer, cr3: rootA, cr3Other: rootB, ramSize: SHADOW_EX_RAM, hpaBase, guestTables: dump, events, answers };
}

// ---------------------------------------------------------------------------------------------
// Text form for the command line

const hx = (v: number, digits = 8): string => `0x${v.toString(16).padStart(digits, '0')}`;

function entryText(lo: number, hi: number, size: 4 | 8): string {
  return size === 4 ? hx(lo) : `0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`;
}

function eventText(ev: ShadowEvent, size: 4 | 8): string {
  if (ev.kind === 'access') return `${ev.access} ${hx(ev.gva)} at CPL ${ev.cpl}`;
  if (ev.kind === 'pt-write') return `store ${entryText(ev.lo, ev.hi, size)} to ${hx(ev.gva)} at CPL 0 (the page-table entry at guest-physical ${hx(ev.entry)})`;
  if (ev.kind === 'invlpg') return `INVLPG ${hx(ev.gva)}`;
  return `MOV CR3, ${hx(ev.cr3)}`;
}

function recordText(r: ShadowRecord, long: boolean): string {
  switch (r.op) {
    case 'hidden-fault':
      return `hidden #PF at ${hx(r.gva)} (error code 0x${r.errorCode.toString(16)})`;
    case 'true-fault':
      return `true #PF at ${hx(r.gva)}: injected with error code 0x${r.errorCode.toString(16)}`;
    case 'fill':
      return `fill ${hx(r.gva)} -> GPA ${hx(r.gpa)}: shadow entry ${long ? `0x${(r.spteHi >>> 0).toString(16).padStart(8, '0')}${(r.spte >>> 0).toString(16).padStart(8, '0')}` : hx(r.spte)} (HPA ${hx(r.hpa)})`;
    case 'zap':
      return `zap ${hx(r.gva)} (${r.why === 'write' ? 'its guest entry was written' : r.why === 'invlpg' ? 'INVLPG' : r.why === 'unprotect' ? 'no longer a page-table page: to be refilled writable' : 'refilled'})`;
    case 'write-protect':
      return `write-protect GPA ${hx(r.gfn)} (now a page-table page)`;
    case 'unprotect':
      return `GPA ${hx(r.gfn)} is no longer a page-table page`;
    case 'emulated-write':
      return `emulated store to page table GPA ${hx(r.gpa)}: ${r.changed.length} entr${r.changed.length === 1 ? 'y' : 'ies'} changed`;
    case 'mmio':
      return `MMIO at GPA ${hx(r.gpa)}`;
    case 'cr3':
      return `CR3 ${hx(r.cr3)}: shadow root ${hx(r.root)} (${r.hit ? 'cached' : 'new, empty'})`;
    case 'reset':
      return `every shadow dropped (${r.why})`;
  }
}

/** The exercise as text: the setup, the guest tables as a memory dump, the events and (when asked) the key. */
export function formatShadowExercise(ex: ShadowExercise, opts: { answers: boolean }): string {
  const size = SPECS[ex.mode].entrySize;
  const out: string[] = [];
  out.push(`Shadow paging exercise: ${ex.mode === '32bit' ? '32-bit (2-level)' : '4-level'} guest paging, seed ${ex.seed}`);
  out.push('');
  out.push(`Guest CR0 ${hx(ex.cr0)} (WP = ${(ex.cr0 & 0x10000) !== 0 ? 1 : 0})  CR4 ${hx(ex.cr4)}  EFER ${hx(ex.efer)}${ex.mode === '4level' ? ` (NXE = ${(ex.efer & 0x800) !== 0 ? 1 : 0})` : ''}`);
  out.push(`Guest CR3 ${hx(ex.cr3)}; the other address space's root is ${hx(ex.cr3Other)} (same entries)`);
  out.push(`GPA -> HPA: guest-physical ${hx(0)}..${hx(ex.ramSize - 1)} is host-physical ${hx(ex.hpaBase)}..${hx(ex.hpaBase + ex.ramSize - 1)}`);
  out.push('');
  out.push('The hypervisor uses shadow page tables (no EPT or NPT); the shadow starts empty. It intercepts #PF,');
  out.push('INVLPG and MOV CR3. A shadow leaf is 4 KiB; its non-leaf entries are P | R/W | U/S. A leaf is writable');
  out.push('only when the guest entry has D = 1 and the page holds no guest table some leaf was derived from');
  out.push('(such pages are write-protected, so the guest\u2019s stores to them exit and are emulated). The');
  out.push('hypervisor\u2019s own walk of the guest tables sets the guest\u2019s A and D flags as the processor would.');
  out.push('');
  out.push(`Guest tables (guest-physical page: non-zero ${size}-byte entries)`);
  for (const p of ex.guestTables) {
    out.push(`  page ${hx(p.address)}`);
    for (const e of p.entries) out.push(`    [${e.index.toString().padStart(size === 4 ? 4 : 3, '0')}] ${entryText(e.lo, e.hi, size)}`);
  }
  out.push('');
  out.push('Events, in order: for each, (a) does it exit? (b) a #PF: hidden or true, with which error code?');
  out.push('(c) which shadow entries are filled (with what value) or zapped? (d) which guest A/D flags change?');
  ex.events.forEach((ev, i) => out.push(`  ${i + 1}. ${eventText(ev, size)}`));
  if (opts.answers) {
    out.push('');
    out.push('Answer key');
    ex.answers.forEach((a, i) => {
      const ends = a.trueFault !== null ? `true #PF, error code 0x${a.trueFault.toString(16)}` : a.hpa !== null ? `completes at HPA ${hx(a.hpa)}` : '';
      const head = [a.exits ? 'exits' : 'no exit', a.hidden.length > 0 ? `${a.hidden.length} hidden #PF (${a.hidden.map((e) => `0x${e.toString(16)}`).join(', ')})` : '', ends].filter((s) => s !== '');
      out.push(`  ${i + 1}. ${head.join('; ')}`);
      if (ex.events[i]!.kind === 'invlpg' && a.records.length === 0) out.push('       no shadow entry for that page: nothing to zap');
      for (const r of a.records) out.push(`       ${recordText(r, ex.mode === '4level')}`);
      for (const g of a.guest) out.push(`       guest entry ${hx(g.gpa)}: ${entryText(g.before.lo, g.before.hi, size)} -> ${entryText(g.after.lo, g.after.hi, size)}`);
    });
  }
  return out.join('\n');
}
