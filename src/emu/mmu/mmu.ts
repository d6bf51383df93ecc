/**
 * The MMU the CPU calls on every memory access: TLB first, a walk with side effects on a miss
 * (SDM Vol. 3A, 4.10), and the invalidations of 4.10.4.1.
 */

import type { PhysMem } from '../mem/physmem.ts';
import type { AccessKind, PageFault, PagingControl, WalkResult, WalkStep } from './types.ts';
import { PAE_PDPTE_RSVD_LO, PFEC, PTE, CR0_BITS, CR4_BITS } from './bits.ts';
import { LEVEL_NAMES, RIGHT, accessErrorBits, hiAddrMask, walk, walkFast, walkOut } from './walk.ts';
import { TLB_FLAG, Tlb } from './tlb.ts';
import type { TlbOptions } from './tlb.ts';
import type { TraceKind, TraceSink } from '../trace/events.ts';
import { kindFilter, traceWalkSteps, u64 } from '../trace/emit.ts';
import { translate2D, type NestedStage, type NestedTranslator, type TwoDResult } from './nested.ts';
import type { WalkCaches } from './walk-cache.ts';

const ACCESS = ['read', 'write', 'fetch'] as const;

/** The current PCID: CR3[11:0] when CR4.PCIDE = 1, else 000H (4.10.1). */
export function currentPcid(ctl: PagingControl): number {
  return ctl.pcide ? ctl.cr3Lo & 0xfff : 0;
}

/** Mmu.nestedWatch: the access, the nested dimension it ran under, and the 2D walk made (null: a TLB hit). */
export type NestedWatch = (ctl: PagingControl, linLo: number, linHi: number, access: AccessKind, nested: NestedTranslator<unknown>, walk: TwoDResult<unknown> | null) => void;

/** The nested fault of the last `translateNested` that returned -2. */
export interface NestedFaultRecord {
  /** The guest-physical address whose nested translation failed. */
  gpa: number;
  /** 'final': the access's own address (with guest paging off, the linear address itself); 'guest-table': an entry of the guest's walk. */
  stage: NestedStage;
  /** False when the guest's paging is off (no guest walk: the linear address is the guest-physical one). */
  paged: boolean;
  /** The vendor walker's result (EPT violation or misconfiguration, NPF). */
  fault: unknown;
}

const NESTED_ALL = TLB_FLAG.RW | TLB_FLAG.US;

/** The level index (walk.ts LV) of the first entry a walk reads from memory: PAE's PDPTEs are registers. */
const FIRST_READ: Readonly<Record<PagingControl['mode'], number>> = { none: 5, '32bit': 3, pae: 3, '4level': 1, '5level': 0 };

/** Entries a walk read from memory when it ended (leaf or fault) at level index `last`. */
function entriesRead(ctl: PagingControl, last: number): number {
  return Math.max(0, last - FIRST_READ[ctl.mode] + 1);
}

export class Mmu {
  readonly mem: PhysMem;
  tlb: Tlb;
  /** Fault record of the last failed translate (valid only right after it returned -1). */
  lastFault: PageFault | null = null;
  /** Walks made by `translate` (misses plus re-walks to set D). */
  walks = 0;
  /**
   * Memory references the walks made: paging-structure entries read from memory (a PAE PDPTE
   * register is not one), and under nested paging every reference of the 2D walk (nested.ts). The
   * hypervisor's backends charge them as `page-walk-ref` (cost/kinds.ts).
   */
  refs = 0;
  /** Where `translate` reports tlb/lookup, mmu/walk, tlb/fill and page-fault tlb/flush events (null: off). */
  trace: TraceSink | null = null;
  /** The step events are stamped with; the CPU keeps it current while tracing. */
  traceClock: { step: number } = { step: 0 };
  private tLookup = false;
  private tWalk = false;
  private tFill = false;
  private tFlush = false;

  constructor(mem: PhysMem, opts?: { tlbEntries?: number; tlbWays?: number }) {
    this.mem = mem;
    const o: TlbOptions = {};
    if (opts?.tlbEntries !== undefined) o.entries = opts.tlbEntries;
    if (opts?.tlbWays !== undefined) o.ways = opts.tlbWays;
    this.tlb = new Tlb(o);
  }

  /** Sets the trace sink and the kinds wanted (all when absent); the CPU calls it from Cpu.setTrace. */
  setTrace(sink: TraceSink | null, kinds?: Iterable<TraceKind> | null, clock?: { step: number }): void {
    const on = kindFilter(sink, kinds);
    this.tLookup = on('tlb/lookup');
    this.tWalk = on('mmu/walk');
    this.tFill = on('tlb/fill');
    this.tFlush = on('tlb/flush');
    this.trace = this.tLookup || this.tWalk || this.tFill || this.tFlush ? sink : null;
    if (clock !== undefined) this.traceClock = clock;
  }

  /**
   * Linear → physical for one access that does not cross a page (the CPU splits crossing
   * accesses). Uses the TLB, walks on a miss with side effects, fills the TLB only when the access
   * is permitted. Returns -1 on a page fault (then `lastFault` holds the error code). A hit
   * writes no A or D flag. A walk sets A in each present, reserved-bit-free entry that references
   * a next paging structure even when it then faults, and A (D for a write) in the entry that maps
   * the page only for a permitted access (4.8; see walk.ts). QEMU's TCG does the same; KVM's
   * software walker on the oracle machines sets A only on a successful walk.
   *
   * A hit whose cached rights do not allow the access faults without a walk, as hardware may
   * (a "spurious" #PF, 4.10.4.3), and the fault removes the entry (4.10.4.1: a page fault
   * invalidates the TLB entries for the faulting page). A write hit on an entry whose D is not
   * yet set walks again to set D (4.8).
   */
  translate(ctl: PagingControl, linLo: number, linHi: number, write: boolean, fetch: boolean, user: boolean): number {
    if (ctl.mode === 'none') return linLo >>> 0;
    const tlb = this.tlb;
    const pcid = ctl.pcide ? ctl.cr3Lo & 0xfff : 0;
    const i = tlb.lookup(linLo, linHi, pcid);
    const tr = this.trace;
    if (tr !== null && this.tLookup) {
      tr.emit({ kind: 'tlb/lookup', step: this.traceClock.step, linear: u64(linLo, linHi), access: ACCESS[write ? 1 : fetch ? 2 : 0], user, pcid, hit: i >= 0 });
    }
    if (i >= 0) {
      const f = tlb.flags[i]!;
      if (
        (user && (f & TLB_FLAG.US) === 0) ||
        (write && (f & TLB_FLAG.RW) === 0 && (user || ctl.wp)) ||
        (fetch && (f & TLB_FLAG.XD) !== 0 && ctl.nxe)
      ) {
        const code = accessErrorBits(ctl, write, fetch, user) | PFEC.P;
        this.lastFault = { errorCode: code, level: LEVEL_NAMES[tlb.leafLevel[i]!]! };
        tlb.invalidatePage(linLo, linHi, pcid, true);
        if (tr !== null && this.tFlush) this.traceFaultFlush(tr, linLo, linHi, pcid);
        return -1;
      }
      if (!write || (f & TLB_FLAG.D) !== 0) return tlb.pa[i]! + (linLo & 0xfff);
    }
    this.walks++;
    const steps: WalkStep[] | null = tr !== null && this.tWalk ? [] : null;
    const ok = walkFast(this.mem, ctl, linLo, linHi, write, fetch, user, true, steps);
    this.refs += entriesRead(ctl, ok ? walkOut.leafLevel : walkOut.faultLevel);
    if (steps !== null) this.traceWalk(tr!, ctl, linLo, linHi, write ? 1 : fetch ? 2 : 0, user, steps);
    if (!ok) {
      this.lastFault = { errorCode: walkOut.errorCode, level: LEVEL_NAMES[walkOut.faultLevel]! };
      if (i >= 0) {
        tlb.invalidatePage(linLo, linHi, pcid, true);
        if (tr !== null && this.tFlush) this.traceFaultFlush(tr, linLo, linHi, pcid);
      }
      return -1;
    }
    const r = walkOut.rights;
    let flags = 0;
    if (r & RIGHT.RW) flags |= TLB_FLAG.RW;
    if (r & RIGHT.US) flags |= TLB_FLAG.US;
    if (r & RIGHT.XD) flags |= TLB_FLAG.XD;
    if (walkOut.dirty) flags |= TLB_FLAG.D;
    if (walkOut.global) flags |= TLB_FLAG.G;
    const off = linLo & 0xfff;
    tlb.fill(linLo, linHi, pcid, walkOut.pa - off, flags, walkOut.pageShift, walkOut.leafLevel);
    if (tr !== null && this.tFill) {
      tr.emit({
        kind: 'tlb/fill', step: this.traceClock.step, linear: u64((linLo & ~0xfff) >>> 0, linHi), pa: BigInt(walkOut.pa - off),
        pageSize: 2 ** walkOut.pageShift, pcid, global: walkOut.global,
      });
    }
    return walkOut.pa;
  }

  /** The nested fault of the last failed translateNested (valid only right after it returned -2). */
  lastNested: NestedFaultRecord | null = null;
  /**
   * Views only (worker/twod.ts), null otherwise: told of each translateNested with guest paging on
   * that a TLB hit answered (`walk` null) or that made a 2D walk (its result, refs in order).
   */
  nestedWatch: NestedWatch | null = null;
  /** The 2D walk's caches (walk-cache.ts) for translateNested; null: off (the default). */
  walkCaches: WalkCaches | null = null;

  /**
   * Linear → host-physical while a guest runs with nested paging (EPT, NPT): the guest's walk
   * (none when its paging is off: the linear address is guest-physical) with every guest-physical
   * address it reads and the final one translated by `nested` (mmu/nested.ts `translate2D`). The
   * TLB caches the combined translation at 4 KiB (the guest's page and the nested page may differ
   * in size), with the guest's rights; the nested rights are kept by filling D only for a write
   * (a later write hit without D walks again, which checks the nested write right) and
   * NESTED_FETCH only for a fetch (a fetch hit without it walks again). Returns -1 for the guest's
   * own #PF (`lastFault`), -2 for a nested fault (`lastNested`). Not traced; `nestedWatch` sees it.
   */
  translateNested(ctl: PagingControl, linLo: number, linHi: number, write: boolean, fetch: boolean, user: boolean, nested: NestedTranslator<unknown>): number {
    const tlb = this.tlb;
    const paged = ctl.mode !== 'none';
    const pcid = ctl.pcide ? ctl.cr3Lo & 0xfff : 0;
    const i = tlb.lookup(linLo, linHi, pcid);
    if (i >= 0) {
      const f = tlb.flags[i]!;
      if (
        paged &&
        ((user && (f & TLB_FLAG.US) === 0) || (write && (f & TLB_FLAG.RW) === 0 && (user || ctl.wp)) || (fetch && (f & TLB_FLAG.XD) !== 0 && ctl.nxe))
      ) {
        this.lastFault = { errorCode: accessErrorBits(ctl, write, fetch, user) | PFEC.P, level: LEVEL_NAMES[tlb.leafLevel[i]!]! };
        tlb.invalidatePage(linLo, linHi, pcid, true);
        return -1;
      }
      if ((!write || (f & TLB_FLAG.D) !== 0) && (!fetch || (f & TLB_FLAG.NESTED_FETCH) !== 0)) {
        if (this.nestedWatch !== null && paged) this.nestedWatch(ctl, linLo, linHi, { write, fetch, user }, nested, null);
        return tlb.pa[i]! + (linLo & 0xfff);
      }
    }
    this.walks++;
    let hpa: number;
    let flags: number;
    let level = 0;
    if (!paged) {
      const gpa = linLo >>> 0;
      const out = nested.translate(gpa, { write, fetch, user, stage: 'final', linear: gpa, paged: false });
      this.refs += out.steps.length;
      if (!out.ok) {
        this.lastNested = { gpa, stage: 'final', paged: false, fault: out.fault };
        return -2;
      }
      hpa = out.hpa;
      flags = NESTED_ALL;
    } else {
      const r = translate2D(this.mem, ctl, linLo, linHi, { write, fetch, user }, nested, true, this.walkCaches ?? undefined);
      // Only the references made: those the walk caches saved are in r.saved.
      this.refs += r.refs.length;
      if (this.nestedWatch !== null) this.nestedWatch(ctl, linLo, linHi, { write, fetch, user }, nested, r);
      if (r.kind === 'guest-fault') {
        this.lastFault = r.fault;
        if (i >= 0) tlb.invalidatePage(linLo, linHi, pcid, true);
        return -1;
      }
      if (r.kind === 'nested-fault') {
        this.lastNested = { gpa: r.gpa, stage: r.stage, paged: true, fault: r.fault };
        // An EPT violation invalidates the combined mappings of the linear address (SDM 29.4.3.1).
        if (i >= 0) tlb.invalidatePage(linLo, linHi, pcid, false);
        return -2;
      }
      hpa = r.hpa;
      const g = r.leaf;
      flags = 0;
      if (g.rights & RIGHT.RW) flags |= TLB_FLAG.RW;
      if (g.rights & RIGHT.US) flags |= TLB_FLAG.US;
      if (g.rights & RIGHT.XD) flags |= TLB_FLAG.XD;
      if (g.global) flags |= TLB_FLAG.G;
      level = g.leafLevel;
    }
    if (write) flags |= TLB_FLAG.D;
    if (fetch) flags |= TLB_FLAG.NESTED_FETCH;
    const off = linLo & 0xfff;
    tlb.fill(linLo, linHi, pcid, hpa - off, flags, 12, level);
    return hpa;
  }

  /** The mmu/walk event of the walk just made (its answer is in walkOut). */
  private traceWalk(tr: TraceSink, ctl: PagingControl, linLo: number, linHi: number, access: 0 | 1 | 2, user: boolean, steps: WalkStep[]): void {
    if (ctl.mode === 'none') return;
    const base = {
      kind: 'mmu/walk', step: this.traceClock.step, linear: u64(linLo, linHi), access: ACCESS[access], user, mode: ctl.mode,
      steps: traceWalkSteps(steps),
    } as const;
    if (walkOut.ok) tr.emit({ ...base, pa: BigInt(walkOut.pa), pageSize: 2 ** walkOut.pageShift });
    else tr.emit({ ...base, fault: { errorCode: walkOut.errorCode, level: LEVEL_NAMES[walkOut.faultLevel]! } });
  }

  private traceFaultFlush(tr: TraceSink, linLo: number, linHi: number, pcid: number): void {
    tr.emit({ kind: 'tlb/flush', step: this.traceClock.step, cause: 'page-fault', scope: 'page', pcid, linear: u64(linLo, linHi) });
  }

  /** Walk without side effects and without touching the TLB (for views). */
  probe(ctl: PagingControl, linLo: number, linHi: number, access: AccessKind): WalkResult {
    return walk(this.mem, ctl, linLo, linHi, access, false);
  }

  /** INVLPG: the page's entries for the current PCID and its global entries (4.10.4.1). */
  invlpg(ctl: PagingControl, linLo: number, linHi: number): void {
    this.tlb.invalidatePage(linLo, linHi, currentPcid(ctl), true);
    // INVLPG also takes every paging-structure-cache entry (4.10.4.1): the 2D walk's page-walk cache.
    this.walkCaches?.pwc?.flush();
  }

  /** INVPCID type 0..3 (SDM Vol. 2, INVPCID). */
  invpcid(type: number, pcid: number, linLo: number, linHi: number): void {
    this.tlb.invpcid(type, pcid, linLo, linHi);
  }

  /**
   * MOV to CR3 (4.10.4.1), called with the control state after the write. CR4.PCIDE = 0: all
   * non-global entries go (they all belong to PCID 000H). CR4.PCIDE = 1: the new PCID's non-global
   * entries go, unless bit 63 of the source was 1 (`noFlush`).
   */
  onCr3Write(ctl: PagingControl, noFlush: boolean): void {
    if (!ctl.pcide) this.tlb.flushAll(false);
    else if (!noFlush) this.tlb.flushPcid(ctl.cr3Lo & 0xfff, false);
  }

  /**
   * MOV to CR0 (4.10.4.1): changing CR0.PG from 1 to 0 invalidates everything, globals included.
   * We also flush on PG 0 → 1 (the processor is free to invalidate more). CR0.WP needs no flush
   * here because a hit applies WP itself.
   */
  onCr0Write(oldCr0: number, newCr0: number): void {
    if (((oldCr0 ^ newCr0) & CR0_BITS.PG) !== 0) this.tlb.flushAll(true);
  }

  /**
   * MOV to CR4 (4.10.4.1): everything including globals if CR4.PGE changes or CR4.PCIDE goes
   * 1 → 0; the current PCID's entries if CR4.PAE changes or CR4.SMEP goes 0 → 1 (we flush all,
   * which the SDM allows). We also flush on a CR4.PSE or CR4.LA57 change, since the TLB caches
   * translations that depend on them.
   */
  onCr4Write(oldCr4: number, newCr4: number): void {
    const ch = oldCr4 ^ newCr4;
    const fallen = oldCr4 & ~newCr4;
    const risen = newCr4 & ~oldCr4;
    if (
      (ch & (CR4_BITS.PGE | CR4_BITS.PAE | CR4_BITS.PSE | CR4_BITS.LA57)) !== 0 ||
      (fallen & CR4_BITS.PCIDE) !== 0 ||
      (risen & CR4_BITS.SMEP) !== 0
    ) {
      this.tlb.flushAll(true);
    }
  }

  /**
   * Empties the 2D walk's caches (walk-cache.ts): what INVEPT and a TLB_CONTROL flush must also
   * invalidate, since they cache guest-physical translations (SDM 29.4.1, 29.4.3.1; APM 15.16).
   */
  flushWalkCaches(): void {
    const c = this.walkCaches;
    if (c === null) return;
    c.pwc?.flush();
    c.ntlb?.flush();
  }

  flushAll(includeGlobal: boolean): void {
    this.tlb.flushAll(includeGlobal);
    // Every TLB flush takes the paging-structure caches (4.10.4.1): the page-walk cache; a flush of
    // everything (the untagged VM entry and exit) takes the nested TLB too.
    const c = this.walkCaches;
    if (c !== null) {
      c.pwc?.flush();
      if (includeGlobal) c.ntlb?.flush();
    }
  }

  /**
   * PAE: load the four PDPTEs from the page-directory-pointer table addressed by CR3[31:5]
   * (4.4.1); returns false, leaving `out` alone, if any present PDPTE has reserved bits set
   * (the CPU then raises #GP).
   */
  loadPdptes(ctl: PagingControl, out: Uint32Array): boolean {
    const base = (ctl.cr3Lo & 0xffffffe0) >>> 0;
    const rsvdHi = ~hiAddrMask(ctl.maxPhysAddr) >>> 0;
    const tmp = new Uint32Array(8);
    for (let i = 0; i < 4; i++) {
      const lo = this.mem.read(base + i * 8, 4);
      const hi = this.mem.read(base + i * 8 + 4, 4);
      if ((lo & PTE.P) !== 0 && ((lo & PAE_PDPTE_RSVD_LO) !== 0 || (hi & rsvdHi) !== 0)) return false;
      tmp[2 * i] = lo;
      tmp[2 * i + 1] = hi;
    }
    out.set(tmp);
    return true;
  }
}
