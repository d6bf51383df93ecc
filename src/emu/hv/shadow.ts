/**
 * Shadow paging: the hypervisor's memory virtualization without EPT or NPT, as KVM, Xen and
 * VMware did before nested paging (issue 7, item 2).
 *
 * The guest's RAM sits at host-physical [hpaBase, hpaBase + size) (`ShadowOptions.guestRam`, the
 * one GPA → HPA map, `gpaToHpa`), outside the hypervisor's area. While the guest runs, the
 * processor's CR3 points at a *shadow* page table that the hypervisor built in its own pool of
 * host pages: it maps guest-linear → host-physical directly, combining the guest's own walk
 * (linear → guest-physical) with GPA → HPA. The guest reads and writes its own CR0, CR3 and CR4
 * (the backends intercept them: VT-x guest/host masks, read shadows and CR3-load/store exiting;
 * AMD-V CR read and write intercepts) and never sees the shadow.
 *
 * Format underneath:
 * - a guest in IA-32e mode: 4-level shadow tables (CR4.PAE, EFER.LMA as the guest set them);
 * - a guest with 32-bit paging, and a guest with paging off: 32-bit shadow tables (CR4.PAE = 0),
 *   4-KByte leaves only. Justification: a 32-bit guest has no XD bit, so 32-bit entries express
 *   every right it can give (R/W, U/S), and the lab's guest RAM and the MMIO window below lie
 *   under 4 GiB. KVM shadows 32-bit guests with PAE-format tables because its host memory may lie
 *   above 4 GiB; the lab's does not, and 32-bit tables avoid the PDPTE registers.
 * - a guest with paging off runs on an identity GPA → HPA shadow filled on demand, with paging on
 *   underneath (what hypervisors did before "unrestricted guest");
 * - a guest with PAE paging (CR4.PAE, no LMA) or 5-level paging (CR4.LA57) is refused: the VM ends
 *   with an error (a guest can only reach them by a CR write, which returns the error).
 * A safety net: a fault that its own fill does not resolve would repeat forever within one step;
 * the hypervisor ends the VM with an error when the same hidden fault (page, error code) comes
 * `SHADOW_STUCK` times in a row within one step.
 *
 * The shadow is one tree per guest CR3 (a small cache of `SHADOW_ROOTS` roots, least recently
 * used evicted, hits counted), indexed by linear address, with 4-KByte leaves only whatever the
 * guest's page size; its non-leaf entries are P | R/W | U/S, so the leaf alone carries rights.
 * Every leaf remembers the guest entries it was derived from (the guest-physical address of each
 * entry its guest walk read). Invariants:
 * - every page holding a guest entry that some leaf was derived from (a *page-table page*) is
 *   mapped read-only by every leaf that maps it, so the guest's writes to its tables exit;
 * - a leaf is writable only when the guest's leaf has D = 1 (the first write exits and the
 *   hypervisor's guest walk sets D, as KVM does), and only when the guest's rights allow it.
 * Hence the shadow never disagrees with the guest's tables: a guest write to a page-table page is
 * emulated and every leaf derived from an entry it changed is zapped. (That is stricter than a TLB,
 * which may keep a stale translation until INVLPG or a CR3 load; the lab flushes its untagged TLB
 * at every world switch anyway.)
 *
 * #PF (intercepted: VT-x exception bitmap bit 14, AMD-V exception intercept 14): the hypervisor
 * walks the guest's tables with the lab's walker (mmu/walk.ts, reading guest memory through
 * GPA → HPA, setting the guest's A and D flags exactly as the processor's walk would) for the
 * access the hardware error code describes (W/R, U/S, I/D).
 * - The guest walk faults: a *true* fault; the hypervisor injects #PF with the guest walk's error
 *   code and sets the guest's CR2.
 * - It succeeds and the guest-physical address is RAM: a *hidden* fault; the leaf is filled (HPA,
 *   the guest's combined rights, read-only as above) and the guest resumes without seeing anything.
 * - It is a write to a page-table page: an *emulated write*. The hypervisor does not decode the
 *   instruction: as the MMIO path does (hypervisor.ts), it lets the processor run that one
 *   instruction with the leaf temporarily writable, makes it read-only again, compares the page
 *   with its copy from before and zaps the leaves derived from every entry that changed.
 * - It is outside the guest's RAM: MMIO. The processor runs the instruction once with the leaf
 *   pointed at the MMIO window (host-physical `SHADOW_MMIO_WINDOW`, not RAM) and the host's MMIO
 *   handler swapped for one that gives each access to the VM's handler at its guest-physical
 *   address; then the leaf is zapped.
 * In the last two cases a further #PF of the same instruction (a second page) is handled inside
 * the same exit and the instruction run again (up to `ONCE_TRIES` times).
 *
 * INVLPG (intercepted) zaps the leaf of that linear page in the current shadow; a CR3 load switches
 * to the shadow of the new CR3 (cache hit) or builds an empty one (miss); a CR0/CR4/EFER change that
 * alters how the guest's tables are read (PG, WP, PSE, PAE, NXE, LMA) drops every shadow. A page
 * that no leaf is derived from any more stops being a page-table page: the leaves mapping it are
 * zapped, so they are filled writable again. When the pool runs out, every shadow is dropped (KVM
 * zaps all its shadow pages in the same case) and the fill starts again.
 *
 * Everything the shadow MMU did during an exit is recorded as plain data (`ShadowRecord`) for the
 * hypervisor's log; the counters are `stats`. All state is plain data (Maps, arrays, numbers), so
 * hv-machine.ts captures it for time travel (capture.ts).
 */
import { walk } from '../mmu/walk.ts';
import type { EntryMemory, PagingControl, WalkResult } from '../mmu/types.ts';
import type { MmioHandler, PhysMem } from '../mem/physmem.ts';
import type { BackendRun } from './types.ts';
import { windowHandler, type MmioRecord } from './nested-map.ts';

/** Pages of host RAM in the shadow pool (512 KiB). */
export const SHADOW_POOL_PAGES = 128;
export const SHADOW_POOL_SIZE = SHADOW_POOL_PAGES * 0x1000;
/** Shadow roots kept for different guest CR3 values. */
export const SHADOW_ROOTS = 4;
/** Host-physical addresses of the MMIO window (below 4 GiB, so 32-bit shadow entries reach it; above the lab's host RAM). */
export const SHADOW_MMIO_WINDOW = 0xf000_0000;
/** The same hidden fault this many times in a row in one step: the hypervisor gives up (a fill that does not take would loop). */
export const SHADOW_STUCK = 16;
/** How many times one instruction is run again inside one exit (a second page-table page, MMIO page or unfilled page). */
const ONCE_TRIES = 8;

const P = 1;
const RW = 2;
const US = 4;
const XD_HI = 0x80000000;
const CR0_PG = 0x80000000;
const CR0_WP = 0x10000;
const CR4_PSE = 0x10;
const CR4_PAE = 0x20;
const CR4_LA57 = 0x1000;
const EFER_NXE = 0x800;
const EFER_LMA = 0x400;

export type ShadowFormat = '32bit' | '4level';

/** What the shadow MMU did, as plain data for the exit log (and a later shadow view). */
export type ShadowRecord =
  | { op: 'hidden-fault'; gva: number; errorCode: number }
  | { op: 'true-fault'; gva: number; errorCode: number }
  | { op: 'fill'; gva: number; gpa: number; gpte: number; spte: number; /** Bits 63:32 of a 4-level shadow entry (XD), 0 for a 32-bit one. */ spteHi: number; hpa: number }
  | { op: 'zap'; gva: number; why: 'write' | 'invlpg' | 'unprotect' | 'refill' }
  | { op: 'write-protect'; gfn: number }
  | { op: 'unprotect'; gfn: number }
  | { op: 'emulated-write'; gva: number; gpa: number; changed: number[] }
  | { op: 'mmio'; gva: number; gpa: number }
  | { op: 'cr3'; cr3: number; hit: boolean; root: number }
  | { op: 'reset'; why: string };

export interface ShadowStats {
  hiddenFaults: number;
  trueFaults: number;
  fills: number;
  zaps: number;
  writeProtects: number;
  emulatedWrites: number;
  mmio: number;
  cr3Switches: number;
  cacheHits: number;
  cacheMisses: number;
  invlpgs: number;
  resets: number;
}

/** What the shadow MMU needs of its backend. */
export interface ShadowHost {
  readonly mem: PhysMem;
  /** The guest's CR0, CR3, CR4 and EFER as the guest sees them (logged accesses of the backend). */
  guestRegs(): { cr0: number; cr3: number; cr4: number; efer: number };
  /** Points the processor's CR3 (while the guest runs) at a shadow root, with the format's CR4.PAE. */
  loadRoot(root: number, format: ShadowFormat): void;
  /** Enters the guest for one instruction (the backend's `enter(1)`). */
  enterOnce(): BackendRun;
  /** Flushes the processor's TLB (the lab's is untagged). */
  flushTlb(): void;
  /** MAXPHYADDR and 1-GByte-page support of the processor (for the guest walk's reserved bits). */
  readonly maxPhysAddr: number;
  readonly page1gb: boolean;
}

interface Leaf {
  gva: number;
  gfn: number;
  /** Guest-physical addresses of the guest entries this leaf was derived from. */
  from: number[];
}

interface Root {
  cr3: number;
  hpa: number;
  pages: number[];
  used: number;
}

/** The result of classifying one #PF. */
export type ShadowFault =
  | { kind: 'true'; errorCode: number }
  | { kind: 'hidden' }
  | { kind: 'pt-write'; gpa: number; slot: number }
  | { kind: 'mmio'; gpa: number }
  | { kind: 'error'; why: string };

const pageOf = (a: number): number => a - (a % 0x1000);

export interface ShadowOptions {
  host: ShadowHost;
  /** The pool's host-physical address (SHADOW_POOL_SIZE bytes, 4-KByte aligned, outside the guest's RAM). */
  pool: number;
  guestRam: { size: number; hpaBase: number };
  /**
   * Pages every shadow maps at a fixed linear address, supervisor-only and writable, whatever the
   * guest's tables say: a software monitor's own structures (te/backend.ts), which the processor
   * reads by linear address (GDT, IDT, TSS). The guest is kept out of that range by its segment limits.
   */
  pinned?: { linear: number; hpa: number; pages: number };
}

export class ShadowMmu {
  private readonly host: ShadowHost;
  readonly pool: number;
  readonly ramSize: number;
  readonly hpaBase: number;
  stats: ShadowStats = {
    hiddenFaults: 0, trueFaults: 0, fills: 0, zaps: 0, writeProtects: 0, emulatedWrites: 0, mmio: 0,
    cr3Switches: 0, cacheHits: 0, cacheMisses: 0, invlpgs: 0, resets: 0,
  };
  /** Records since the last `take`. */
  records: ShadowRecord[] = [];
  format: ShadowFormat = '32bit';
  /** The mode bits the shadows were built for (PG, WP, PSE, PAE, NXE, LMA); a change drops them all. */
  modeKey = -1;
  free: number[] = [];
  roots: Root[] = [];
  current = -1;
  useClock = 0;
  /** Leaf slot (host-physical address of the shadow entry) → what it maps and was derived from. */
  leaves = new Map<number, Leaf>();
  /** Guest entry address → leaf slots derived from it. */
  byEntry = new Map<number, number[]>();
  /** Page-table page (guest-physical, 4 KiB) → how many derivations reference an entry in it. */
  ptRefs = new Map<number, number>();
  /** Guest frame → leaf slots that map it. */
  rmap = new Map<number, number[]>();
  /**
   * Guest frames a software monitor watches for writes, mapped read-only like page-table pages so
   * that a write faults into it: the guest's loaded descriptor tables (te/backend.ts, whose shadow
   * copies must follow) and the frames binary translation translated code from (bt/backend.ts,
   * whose blocks must go).
   */
  codePages = new Set<number>();

  readonly pinned: { linear: number; hpa: number; pages: number } | null;

  constructor(opts: ShadowOptions) {
    this.host = opts.host;
    this.pinned = opts.pinned ?? null;
    this.pool = opts.pool;
    this.ramSize = opts.guestRam.size;
    this.hpaBase = opts.guestRam.hpaBase;
    if (opts.pool % 0x1000 !== 0) throw new RangeError('shadow pool: not 4-KByte aligned');
    if (opts.pool < this.hpaBase + this.ramSize && opts.pool + SHADOW_POOL_SIZE > this.hpaBase) throw new RangeError('shadow pool: inside the guest\u2019s RAM');
    if (this.hpaBase + this.ramSize > SHADOW_MMIO_WINDOW) throw new RangeError('shadow paging: guest RAM must lie below the MMIO window (4 GiB - 256 MiB)');
    this.resetPool();
  }

  /** The hypervisor's one GPA → HPA map (the guest's RAM at hpaBase); null outside it. */
  gpaToHpa(gpa: number): number | null {
    return gpa >= 0 && gpa < this.ramSize ? this.hpaBase + gpa : null;
  }

  /**
   * For views (worker/shadow-view.ts), side-effect free: the guest's own walk of `gva` as a read
   * would make it (no accessed or dirty flag set; null with the guest's paging off), the guest's
   * CR3, and the host-physical address of `gva`'s leaf slot in the current shadow (null when no
   * shadow table on the way exists).
   */
  inspect(gva: number): { walk: WalkResult | null; cr3: number; slot: number | null; format: ShadowFormat } {
    const g = this.guestControl();
    const r = g.paging && !g.pae && !g.la57 ? walk(this.guestMem, g.ctl, gva >>> 0, Math.floor(gva / 0x100000000) >>> 0, { write: false, user: false, fetch: false }, false) : null;
    return { walk: r, cr3: g.ctl.cr3Lo + g.ctl.cr3Hi * 0x100000000, slot: this.slotOf(gva, false), format: this.format };
  }

  take(): ShadowRecord[] {
    const r = this.records;
    this.records = [];
    return r;
  }

  // ---- guest view ----

  private guestControl(): { ctl: PagingControl; paging: boolean; key: number; format: ShadowFormat; pae: boolean; la57: boolean } {
    const g = this.host.guestRegs();
    const paging = (g.cr0 & CR0_PG) !== 0;
    const lma = (g.efer & EFER_LMA) !== 0;
    const pae = (g.cr4 & CR4_PAE) !== 0;
    const mode = !paging ? 'none' : lma ? '4level' : pae ? 'pae' : '32bit';
    const ctl: PagingControl = {
      mode, cr3Lo: g.cr3 >>> 0, cr3Hi: Math.floor(g.cr3 / 0x100000000), wp: (g.cr0 & CR0_WP) !== 0, pse: (g.cr4 & CR4_PSE) !== 0,
      pge: false, pcide: false, nxe: (g.efer & EFER_NXE) !== 0, pdpte: new Uint32Array(8),
      maxPhysAddr: this.host.maxPhysAddr, page1gb: this.host.page1gb,
    };
    const key = (paging ? 1 : 0) | (ctl.wp ? 2 : 0) | (ctl.pse ? 4 : 0) | (pae ? 8 : 0) | (ctl.nxe ? 16 : 0) | (lma ? 32 : 0);
    return { ctl, paging, key, format: lma ? '4level' : '32bit', pae: paging && pae && !lma, la57: paging && lma && (g.cr4 & CR4_LA57) !== 0 };
  }

  /** Guest memory for the walker: guest-physical entry addresses through GPA → HPA. */
  private readonly guestMem: EntryMemory = {
    read: (gpa, size) => {
      const h = this.gpaToHpa(gpa);
      return h === null ? 0xffffffff : this.host.mem.read(h, size);
    },
    write: (gpa, size, v) => {
      const h = this.gpaToHpa(gpa);
      if (h !== null) this.host.mem.write(h, size, v);
    },
  };

  // ---- pool and roots ----

  private resetPool(): void {
    this.free = [];
    for (let i = SHADOW_POOL_PAGES - 1; i >= 0; i--) this.free.push(this.pool + i * 0x1000);
    this.roots = [];
    this.current = -1;
    this.leaves.clear();
    this.byEntry.clear();
    this.ptRefs.clear();
    this.rmap.clear();
  }

  private alloc(): number | null {
    const p = this.free.pop();
    if (p === undefined) return null;
    const mem = this.host.mem;
    for (let i = 0; i < 0x1000; i += 4) mem.write(p + i, 4, 0);
    return p;
  }

  /** Drops every shadow (mode change, pool exhausted) and loads a fresh root for the guest's CR3. */
  private dropAll(why: string): void {
    this.resetPool();
    this.stats.resets++;
    this.records.push({ op: 'reset', why });
  }

  /**
   * Makes the processor's CR3 the shadow of the guest's current CR3 (a CR3 load, a mode change, the
   * first entry): a cached root (hit) or a fresh empty one (miss, evicting the least recently used).
   * Returns an error message for a guest this shadow MMU does not support (PAE paging).
   */
  sync(reason: 'cr3' | 'mode' | 'start'): string | null {
    const g = this.guestControl();
    if (g.pae) return 'shadow paging: a guest with PAE paging (CR4.PAE without IA-32e mode) is not supported';
    if (g.la57) return 'shadow paging: a guest with 5-level paging (CR4.LA57) is not supported (the shadow tables are 4-level)';
    if (g.key !== this.modeKey) {
      if (this.modeKey !== -1) this.dropAll(`paging mode changed (CR0/CR4/EFER)`);
      this.modeKey = g.key;
      this.format = g.format;
    }
    const cr3 = g.paging ? (g.ctl.cr3Lo + g.ctl.cr3Hi * 0x100000000) - ((g.ctl.cr3Lo + g.ctl.cr3Hi * 0x100000000) % 0x1000) : -1;
    let i = this.roots.findIndex((r) => r.cr3 === cr3);
    const hit = i >= 0;
    if (!hit) {
      if (this.roots.length >= SHADOW_ROOTS) {
        let lru = 0;
        for (let k = 1; k < this.roots.length; k++) if (this.roots[k]!.used < this.roots[lru]!.used) lru = k;
        this.dropRoot(lru);
      }
      let hpa = this.alloc();
      if (hpa === null) {
        this.dropAll('the shadow pool is exhausted');
        hpa = this.alloc()!;
      }
      this.roots.push({ cr3, hpa, pages: [hpa], used: 0 });
      i = this.roots.length - 1;
    }
    const root = this.roots[i]!;
    root.used = ++this.useClock;
    this.current = i;
    if (!hit && this.pinned !== null) {
      const pin = this.pinned;
      for (let k = 0; k < pin.pages; k++) {
        const slot = this.slotOf(pin.linear + k * 0x1000, true);
        if (slot === null) return 'shadow pool too small for the monitor’s own pages';
        this.writeSpte(slot, ((pin.hpa + k * 0x1000) | P | RW) >>> 0, 0);
      }
    }
    if (reason === 'cr3') {
      this.stats.cr3Switches++;
      if (hit) this.stats.cacheHits++;
      else this.stats.cacheMisses++;
      this.records.push({ op: 'cr3', cr3, hit, root: root.hpa });
    }
    this.host.loadRoot(root.hpa, this.format);
    this.host.flushTlb();
    return null;
  }

  private dropRoot(i: number): void {
    const r = this.roots[i]!;
    for (const [slot] of [...this.leaves]) if (r.pages.includes(pageOf(slot))) this.zapSlot(slot, null);
    this.free.push(...r.pages);
    this.roots.splice(i, 1);
    if (this.current > i) this.current--;
    else if (this.current === i) this.current = -1;
  }

  // ---- the shadow tree ----

  private entrySize(): number {
    return this.format === '4level' ? 8 : 4;
  }

  /** The leaf slot of `gva` in the current root, allocating tables on the way (null: pool exhausted). */
  private slotOf(gva: number, create: boolean): number | null {
    const root = this.roots[this.current];
    if (root === undefined) return null;
    const mem = this.host.mem;
    const shifts = this.format === '4level' ? [39, 30, 21, 12] : [22, 12];
    const size = this.entrySize();
    let table = root.hpa;
    for (let l = 0; l < shifts.length; l++) {
      const idx = Math.floor(gva / 2 ** shifts[l]!) % (this.format === '4level' ? 512 : 1024);
      const at = table + idx * size;
      if (l === shifts.length - 1) return at;
      const e = mem.read(at, 4);
      if ((e & P) !== 0) {
        table = pageOf(e >>> 0);
        continue;
      }
      if (!create) return null;
      const t = this.alloc();
      if (t === null) return null;
      root.pages.push(t);
      mem.write(at, 4, (t | P | RW | US) >>> 0);
      if (size === 8) mem.write(at + 4, 4, 0);
      table = t;
    }
    return null;
  }

  private readSpte(slot: number): number {
    return this.host.mem.read(slot, 4) >>> 0;
  }

  private writeSpte(slot: number, lo: number, hi: number): void {
    this.host.mem.write(slot, 4, lo >>> 0);
    if (this.entrySize() === 8) this.host.mem.write(slot + 4, 4, hi >>> 0);
  }

  private zapSlot(slot: number, why: 'write' | 'invlpg' | 'unprotect' | 'refill' | null): void {
    const leaf = this.leaves.get(slot);
    this.writeSpte(slot, 0, 0);
    // What the processor may have cached from the entry goes too (KVM flushes after zapping; the
    // lab's world switches flush the untagged TLB anyway, but that is not this file's to assume).
    this.host.flushTlb();
    if (leaf === undefined) return;
    this.leaves.delete(slot);
    this.stats.zaps++;
    if (why !== null) this.records.push({ op: 'zap', gva: leaf.gva, why });
    const rm = this.rmap.get(leaf.gfn);
    if (rm !== undefined) {
      const k = rm.indexOf(slot);
      if (k >= 0) rm.splice(k, 1);
      if (rm.length === 0) this.rmap.delete(leaf.gfn);
    }
    for (const e of leaf.from) {
      const list = this.byEntry.get(e);
      if (list !== undefined) {
        const k = list.indexOf(slot);
        if (k >= 0) list.splice(k, 1);
        if (list.length === 0) this.byEntry.delete(e);
      }
      const pg = pageOf(e);
      const n = (this.ptRefs.get(pg) ?? 0) - 1;
      if (n > 0) this.ptRefs.set(pg, n);
      else {
        this.ptRefs.delete(pg);
        // No longer a page-table page: the leaves that map it read-only go, to be filled writable.
        this.records.push({ op: 'unprotect', gfn: pg });
        for (const s of [...(this.rmap.get(pg) ?? [])]) this.zapSlot(s, 'unprotect');
      }
    }
  }

  /** Fills the leaf of `gva` from a successful guest walk. Returns the slot, or null if the pool ran out. */
  private fill(gva: number, r: Extract<WalkResult, { ok: true }>, access: { write: boolean; user: boolean }, wp: boolean): number | null {
    const slot = this.slotOf(gva, true);
    if (slot === null) return null;
    if (this.leaves.has(slot)) this.zapSlot(slot, null);
    const gpa = pageOf(r.pa);
    const hpa = this.gpaToHpa(gpa)!;
    const from = r.steps.filter((s) => s.entryPa >= 0).map((s) => s.entryPa);
    for (const e of from) {
      const pg = pageOf(e);
      const n = this.ptRefs.get(pg) ?? 0;
      this.ptRefs.set(pg, n + 1);
      if (n === 0) {
        // A new page-table page: every leaf that maps it becomes read-only.
        this.stats.writeProtects++;
        this.records.push({ op: 'write-protect', gfn: pg });
        for (const s of this.rmap.get(pg) ?? []) this.writeSpte(s, this.readSpte(s) & ~RW, this.entrySize() === 8 ? this.host.mem.read(s + 4, 4) : 0);
        this.host.flushTlb();
      }
      const list = this.byEntry.get(e);
      if (list === undefined) this.byEntry.set(e, [slot]);
      else list.push(slot);
    }
    const rights = r.rights!;
    let lo = (hpa | P) >>> 0;
    let user = rights.us;
    let writable = rights.rw;
    // CR0.WP = 0 lets the supervisor write read-only pages; the processor runs with WP = 1 underneath,
    // so such a write gets a supervisor-only writable leaf (as KVM does); a user access refills it.
    if (!rights.rw && !wp && access.write && !access.user) {
      writable = true;
      user = false;
    }
    const leafStep = r.steps[r.steps.length - 1];
    const dirty = r.dirtySet;
    if (writable && dirty && !this.ptRefs.has(gpa) && !this.codePages.has(gpa)) lo |= RW;
    if (user) lo |= US;
    const hi = rights.xd && this.format === '4level' ? XD_HI : 0;
    this.writeSpte(slot, lo, hi);
    this.leaves.set(slot, { gva: pageOf(gva), gfn: gpa, from });
    const rm = this.rmap.get(gpa);
    if (rm === undefined) this.rmap.set(gpa, [slot]);
    else rm.push(slot);
    this.stats.fills++;
    this.records.push({ op: 'fill', gva: pageOf(gva), gpa, gpte: leafStep !== undefined && leafStep.entryPa >= 0 ? leafStep.entryLo >>> 0 : gpa, spte: lo, spteHi: hi >>> 0, hpa });
    return slot;
  }

  /** A guest walk for an identity (paging off) translation. */
  private identityWalk(gva: number): Extract<WalkResult, { ok: true }> {
    return { ok: true, pa: gva, steps: [], pageSize: 0x1000, global: false, dirtySet: true, rights: { rw: true, us: true, xd: false } };
  }

  /**
   * Classifies a #PF the processor raised on the shadow (and does the fill for a hidden fault).
   * `errorCode` is the hardware's (on the shadow); the guest walk uses its W/R, U/S and I/D bits.
   */
  classify(gva: number, errorCode: number): ShadowFault {
    const g = this.guestControl();
    if (g.pae || g.la57) return { kind: 'error', why: `shadow paging: a guest with ${g.pae ? 'PAE' : '5-level'} paging is not supported` };
    const access = { write: (errorCode & 2) !== 0, user: (errorCode & 4) !== 0, fetch: (errorCode & 0x10) !== 0 };
    const lo = gva >>> 0;
    const hi = Math.floor(gva / 0x100000000) >>> 0;
    const r = g.paging ? walk(this.guestMem, g.ctl, lo, hi, access, true) : this.identityWalk(lo);
    if (!r.ok) return { kind: 'true', errorCode: r.fault.errorCode };
    if (this.gpaToHpa(r.pa) === null) return { kind: 'mmio', gpa: r.pa };
    // Page-table pages: guest-physical entries outside RAM are not supported.
    for (const s of r.steps) if (s.entryPa >= 0 && this.gpaToHpa(s.entryPa) === null) return { kind: 'error', why: `a guest page table at guest-physical 0x${s.entryPa.toString(16)}, outside the guest\u2019s RAM` };
    let slot = this.fill(gva, r, access, g.ctl.wp);
    if (slot === null) {
      this.dropAll('the shadow pool is exhausted');
      this.sync('start');
      slot = this.fill(gva, r, access, g.ctl.wp);
      if (slot === null) return { kind: 'error', why: 'shadow pool too small for one translation' };
    }
    if (access.write && this.ptRefs.has(pageOf(r.pa))) {
      // The guest may write there (its walk allowed it), but it is one of its page tables.
      return { kind: 'pt-write', gpa: r.pa, slot };
    }
    return { kind: 'hidden' };
  }

  /**
   * The guest changed entries of its page-table page `gpa` (an emulated write through `gva`): every
   * leaf derived from one of them is zapped.
   */
  entriesChanged(gva: number, gpa: number, changed: readonly number[]): void {
    this.stats.emulatedWrites++;
    this.records.push({ op: 'emulated-write', gva: pageOf(gva), gpa, changed: [...changed] });
    for (const e of changed) for (const s of [...(this.byEntry.get(e) ?? [])]) this.zapSlot(s, 'write');
  }

  /**
   * The guest's own walk of `gva` for an instruction fetch in its kernel, setting the accessed flags
   * as the processor's fetch would: a binary translator reading the guest's code (bt/backend.ts).
   */
  touchFetch(gva: number): void {
    const g = this.guestControl();
    if (!g.paging || g.pae || g.la57) return;
    walk(this.guestMem, g.ctl, gva >>> 0, Math.floor(gva / 0x100000000) >>> 0, { write: false, user: false, fetch: true }, true);
  }

  /** Write-protects a watched guest frame: every leaf mapping it becomes read-only. */
  protectCode(gfn: number): void {
    if (this.codePages.has(gfn)) return;
    this.codePages.add(gfn);
    const size = this.entrySize();
    for (const s of this.rmap.get(gfn) ?? []) this.writeSpte(s, this.readSpte(s) & ~RW, size === 8 ? this.host.mem.read(s + 4, 4) : 0);
    this.host.flushTlb();
  }

  /** The frame is no longer watched: the leaves mapping it go, to be filled writable again. */
  unprotectCode(gfn: number): void {
    if (!this.codePages.delete(gfn)) return;
    if (this.ptRefs.has(gfn)) return;
    for (const s of [...(this.rmap.get(gfn) ?? [])]) this.zapSlot(s, null);
  }

  /** INVLPG: the leaf of that linear page in the current shadow goes. Returns whether there was one. */
  invlpg(gva: number): boolean {
    this.stats.invlpgs++;
    const slot = this.slotOf(gva, false);
    if (slot === null || !this.leaves.has(slot)) return false;
    this.zapSlot(slot, 'invlpg');
    return true;
  }

  // ---- running one instruction with pages opened ----

  /**
   * Runs the faulting instruction once with page-table pages writable or MMIO pages mapped to the
   * window (see the file comment). `first` is the classified fault that started it. Returns how the
   * run ended and what a note should say; `mmioRecords` receives the MMIO accesses.
   */
  runOnce(gva: number, first: ShadowFault, rip: () => bigint, steps: () => number, mmio: MmioHandler, mmioRecords: MmioRecord[]): { next: BackendRun; notes: string[] } {
    const mem = this.host.mem;
    const opened: { slot: number; gpa: number; copy: Uint8Array | null; mmioIndex: number }[] = [];
    const notes: string[] = [];
    const mmioPages: number[] = [];
    const open = (f: ShadowFault, at: number): string | null => {
      if (f.kind === 'pt-write') {
        const pg = pageOf(f.gpa);
        const h = this.gpaToHpa(pg)!;
        opened.push({ slot: f.slot, gpa: pg, copy: copyPage(mem, h), mmioIndex: -1 });
        return null;
      }
      if (f.kind === 'mmio') {
        const slot = this.slotOf(at, true);
        if (slot === null) return 'shadow pool exhausted';
        mmioPages.push(pageOf(f.gpa));
        opened.push({ slot, gpa: pageOf(f.gpa), copy: null, mmioIndex: mmioPages.length - 1 });
        this.stats.mmio++;
        this.records.push({ op: 'mmio', gva: pageOf(at), gpa: f.gpa });
        return null;
      }
      return `unexpected ${f.kind}`;
    };
    const problem = open(first, gva);
    if (problem !== null) throw new Error(problem);
    const startRip = rip();
    const startSteps = steps();
    let next: BackendRun = { kind: 'budget' };
    for (let tries = 0; tries < ONCE_TRIES; tries++) {
      const saved = opened.map((o) => [mem.read(o.slot, 4), this.entrySize() === 8 ? mem.read(o.slot + 4, 4) : 0] as const);
      for (const o of opened) {
        if (o.mmioIndex >= 0) this.writeSpte(o.slot, (SHADOW_MMIO_WINDOW + o.mmioIndex * 0x1000) | P | RW | US, 0);
        else this.writeSpte(o.slot, this.readSpte(o.slot) | RW, this.entrySize() === 8 ? mem.read(o.slot + 4, 4) : 0);
      }
      const savedMmio = mem.mmio;
      if (mmioPages.length > 0) mem.mmio = windowHandler(SHADOW_MMIO_WINDOW, mmioPages, mmio, mmioRecords);
      this.host.flushTlb();
      try {
        next = this.host.enterOnce();
      } finally {
        mem.mmio = savedMmio;
        for (const [k, o] of opened.entries()) this.writeSpte(o.slot, saved[k]![0], saved[k]![1]);
        this.host.flushTlb();
      }
      // The writes the instruction made to page-table pages: zap what was derived from changed entries.
      for (const o of opened) {
        if (o.copy === null) continue;
        const h = this.gpaToHpa(o.gpa)!;
        const now = copyPage(mem, h);
        const size = this.format === '4level' ? 8 : 4;
        const changed: number[] = [];
        for (let i = 0; i < 0x1000; i += size) {
          let diff = false;
          for (let j = 0; j < size; j++) if (now[i + j] !== o.copy[i + j]) diff = true;
          if (diff) changed.push(o.gpa + i);
        }
        o.copy = now;
        if (changed.length > 0) {
          notes.push(`emulated write to page table 0x${o.gpa.toString(16)}: ${changed.length} entr${changed.length === 1 ? 'y' : 'ies'} changed`);
          this.entriesChanged(gva, o.gpa, changed);
        }
      }
      // A #PF of the same instruction on another page: handled here, and the instruction run again.
      if (next.kind !== 'exit' || next.exit.detail.kind !== 'exception' || next.exit.detail.vector !== 14 || steps() !== startSteps || next.exit.rip !== startRip) break;
      const d = next.exit.detail;
      const at = Number(d.address ?? 0n);
      const f = this.classify(at, d.errorCode ?? 0);
      if (f.kind === 'hidden') {
        this.stats.hiddenFaults++;
        this.records.push({ op: 'hidden-fault', gva: at, errorCode: d.errorCode ?? 0 });
        continue;
      }
      if (f.kind === 'pt-write' || f.kind === 'mmio') {
        if (opened.some((o) => o.gpa === pageOf(f.gpa))) break;
        if (open(f, at) !== null) break;
        continue;
      }
      break; // a true fault or an error: the core handles that exit next
    }
    return { next, notes };
  }
}

function copyPage(mem: PhysMem, at: number): Uint8Array {
  const out = new Uint8Array(0x1000);
  for (let i = 0; i < 0x1000; i += 4) {
    const v = mem.read(at + i, 4);
    out[i] = v & 0xff;
    out[i + 1] = (v >>> 8) & 0xff;
    out[i + 2] = (v >>> 16) & 0xff;
    out[i + 3] = (v >>> 24) & 0xff;
  }
  return out;
}

