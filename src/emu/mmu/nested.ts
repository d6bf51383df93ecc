/**
 * The two-dimensional walk: a guest linear address translated by the guest's own paging
 * structures, where every guest paging-structure entry lives at a guest-physical address that must
 * itself be translated by the nested dimension (EPT, SDM Vol. 3C 29.3.2; NPT, APM Vol. 2 15.25.5)
 * before it can be read, and the guest-physical address the guest walk produces is translated once
 * more for the access itself. With no translation caches, an n-level guest on an m-level nested
 * table makes n·m + n + m = (n+1)(m+1) − 1 references, the data access itself not counted: 24 for
 * 4 on 4, 35 for 5 on 5, 14 for a 32-bit 2-level guest on 4-level EPT (the convention of
 * ../shared/reference/paper-anchors.json; mmu/nested-counts.test.ts proves the counts over random
 * tables). A large page at either level removes the levels below its leaf.
 *
 * PAE guests. Intel with EPT: the four PDPTEs are registers, loaded when CR3 is loaded (MOV to CR3,
 * CR0, CR4 in the guest read the PDPT at its guest-physical address, translated through EPT) or at
 * VM entry from the VMCS guest PDPTE fields (SDM Vol. 3C 27.3.2.4; 29.3.1), so the walk reads
 * only the PDE and PTE: 2·m + 2 + m. AMD with NPT (`paePdptes: 'memory'` on the translator): the
 * processor does not keep the PDPTEs across the guest's execution; the walk reads the PDPTE for
 * the address from the guest's PDPT (CR3 bits 31:5) through the nested tables like any other
 * level, 3·m + 3 + m (APM Vol. 2 15.25, nested paging with a legacy-mode guest; the exact
 * subsection could not be checked here. What hypervisors do agrees: KVM's svm_cache_reg marks
 * the PDPTRs stale after every VMRUN with NPT and rereads them from guest memory, and Bochs reads
 * them from memory on each nested walk instead of using its PDPTR cache, Bochs issue #234). A not-present PDPTE read this way is the guest's #PF at the
 * PDPTE (no #GP at MOV CR3), a reserved bit a #PF with RSVD.
 *
 * Caches (walk-cache.ts, through `opts`): a page-walk-cache hit gives an upper guest entry
 * without its nested walk and read; a nested-TLB hit gives a guest-physical translation without
 * its nested walk. `refs` lists only references made; `saved` counts the skipped ones, so that
 * refs.length + saved.pwc + saved.ntlb is the uncached count when the tables are unchanged.
 *
 * The guest walk is the MMU's (`walkFast` of walk.ts) given an `EntryMemory` that translates each
 * guest-physical entry address through `NestedTranslator` on its way to host memory; nothing of
 * the guest walk is repeated here. Order (SDM 29.3.2, APM 15.25.5): for each guest level, the
 * nested walk of the entry's guest-physical address, then the guest entry itself; after the
 * guest's leaf, the nested walk of the final guest-physical address.
 *
 * A nested failure ends everything at once (a VM exit: EPT violation or misconfiguration, or
 * #VMEXIT(NPF)); a guest failure is the guest's own #PF. Accessed/dirty writes the guest walk makes
 * go to the guest-physical entry it read: when the nested translation of that read was already
 * checked as a write (NPT always; EPT with accessed/dirty flags) they reuse it, as the processor
 * does; otherwise (EPT without them) the write is translated again as a write, which can itself
 * fault, and those references are listed, marked `update`.
 */
import type { AccessKind, EntryMemory, PageFault, PagingControl, WalkStep } from './types.ts';
import { LEVEL_NAMES, LV, accessErrorBits, hiAddrMask, walkFast, walkOut } from './walk.ts';
import { PAE_PDPTE_RSVD_LO, PFEC, PTE } from './bits.ts';
import { NTLB, type WalkCaches } from './walk-cache.ts';

/** Which of the guest's accesses a nested translation serves. */
export type NestedStage = 'guest-table' | 'final';

export interface NestedRequest {
  write: boolean;
  fetch: boolean;
  /** The guest's access is a user-mode one (mode-based execute control needs it). */
  user: boolean;
  stage: NestedStage;
  /** The guest linear address being translated. */
  linear: number;
  /**
   * False when the guest's paging is off, so there is no guest walk and the linear address is the
   * guest-physical one (Mmu.translateNested); absent (translate2D) means the guest walks.
   */
  paged?: boolean;
  /**
   * The access loads a PAE guest's PDPTEs at MOV to CR0/CR3/CR4 (Intel with EPT, cpu/sys-ctl.ts
   * `loadPdptes`): a guest paging-structure access with no guest linear address (SDM Table 28-7:
   * exit qualification bit 7 is 0 for it).
   */
  pdpteLoad?: boolean;
}

export type NestedOutcome<F> =
  | { ok: true; hpa: number; steps: WalkStep[]; asWrite: boolean }
  | { ok: false; fault: F; steps: WalkStep[] };

/** The nested dimension: EPT (vmx/ept.ts `eptNested`) or NPT (svm/npt.ts `nptNested`). */
export interface NestedTranslator<F> {
  translate(gpa: number, req: NestedRequest): NestedOutcome<F>;
  /**
   * Where a PAE guest's PDPTEs come from while this translator is in use (see the file comment):
   * 'registers' (absent: the default; Intel with EPT: loaded with CR3 through EPT, or from the VMCS
   * at VM entry, so the walk reads no PDPTE) or 'memory' (AMD with NPT: read from the guest's PDPT
   * through the nested tables on every walk).
   */
  paePdptes?: 'registers' | 'memory';
}

/** One memory reference of a 2D walk, in the order made. */
export type TwoDRef =
  | {
      dim: 'nested';
      stage: NestedStage;
      /** The guest-physical address being translated. */
      gpa: number;
      /** A translation for an accessed/dirty write to a guest entry (see the file comment). */
      update: boolean;
      step: WalkStep;
    }
  | {
      dim: 'guest';
      /** The guest entry's guest-physical and host-physical addresses. */
      gpa: number;
      hpa: number;
      step: WalkStep;
    };

/** A reference group a cache made unnecessary (not in `refs`: it was not made). */
export interface TwoDSkip {
  /** 'pwc': a guest entry and its nested walk; 'ntlb': one nested walk. */
  cache: 'pwc' | 'ntlb';
  stage: NestedStage;
  gpa: number;
  /** How many references it saved. */
  refs: number;
}

/** What the caches saved in one walk: references, by cache, and the skipped groups in order. */
export interface TwoDSaved {
  pwc: number;
  ntlb: number;
  skips: TwoDSkip[];
}

export type TwoDOptions = WalkCaches;

export type TwoDResult<F> =
  | {
      kind: 'ok';
      gpa: number;
      hpa: number;
      /** The guest's page size (the nested page may be smaller). */
      pageSize: number;
      refs: TwoDRef[];
      /** The guest walk's answer, read before the final nested translation (see `GuestLeaf`). */
      leaf: GuestLeaf;
      saved?: TwoDSaved;
    }
  | { kind: 'guest-fault'; fault: PageFault; refs: TwoDRef[]; saved?: TwoDSaved }
  | { kind: 'nested-fault'; fault: F; stage: NestedStage; gpa: number; refs: TwoDRef[]; saved?: TwoDSaved };

/** What the guest walk found, for a TLB fill: walk.ts's RIGHT bits, leaf D and G, the leaf's level index. */
export interface GuestLeaf {
  rights: number;
  dirty: boolean;
  global: boolean;
  leafLevel: number;
}

class NestedStop<F> {
  constructor(
    readonly fault: F,
    readonly stage: NestedStage,
    readonly gpa: number,
    /** The failed translation was for an A/D write to an entry already read. */
    readonly update: boolean,
  ) {}
}

/**
 * Translates the guest linear address (`linLo`, `linHi`) under the guest paging `guest` for
 * `access`, with the nested dimension `nested` over host memory `mem`. `sideEffects` sets guest
 * accessed/dirty flags (the nested translator decides about its own). `opts` may pass the walk
 * caches of walk-cache.ts; the result's `saved` then says what they saved (absent without caches).
 */
export function translate2D<F>(
  mem: EntryMemory,
  guest: PagingControl,
  linLo: number,
  linHi: number,
  access: AccessKind,
  nested: NestedTranslator<F>,
  sideEffects: boolean,
  opts?: TwoDOptions,
): TwoDResult<F> {
  const refs: TwoDRef[] = [];
  const guestRefs: { gpa: number; hpa: number; at: number }[] = [];
  const linear = (linLo >>> 0) + (linHi >>> 0) * 4294967296;
  const pwc = opts?.pwc ?? null;
  const ntlb = opts?.ntlb ?? null;
  const saved: TwoDSaved | undefined = pwc !== null || ntlb !== null ? { pwc: 0, ntlb: 0, skips: [] } : undefined;
  /** Guest entries read this walk that came from the page-walk cache, or were read and may go into it. */
  const used: { gpa: number; hpa: number; refs: number; cached: boolean }[] = [];
  let last: { gpa: number; hpa: number; asWrite: boolean } | null = null;
  // In PAE, 4-level and 5-level paging the walk reads each 8-byte entry as two 4-byte halves,
  // low then high at once: one reference, one translation.
  const wide = guest.mode !== '32bit';
  let expectHigh = false;
  let cachedHigh: number | null = null;

  const run = (gpa: number, write: boolean, stage: NestedStage, update: boolean): { hpa: number; asWrite: boolean; refs: number } => {
    const table = stage === 'guest-table';
    const fetch = stage === 'final' && access.fetch;
    if (ntlb !== null) {
      const hit = ntlb.lookup(gpa, write, fetch, table);
      if (hit !== undefined) {
        saved!.ntlb += hit.refs;
        saved!.skips.push({ cache: 'ntlb', stage, gpa, refs: hit.refs });
        // A hit covers the access as checked when filled: a write entry for a write or a table access.
        // `refs`: what the nested walk costs without caches (a page-walk-cache entry filled from
        // this read then saves the whole of it).
        return { hpa: hit.hpa, asWrite: write || (table && (ntlb.peek(gpa)!.kinds & NTLB.WRITE) !== 0), refs: hit.refs };
      }
    }
    const out = nested.translate(gpa, { write, fetch, user: access.user, stage, linear });
    for (const step of out.steps) refs.push({ dim: 'nested', stage, gpa, update, step });
    if (!out.ok) throw new NestedStop(out.fault, stage, gpa, update);
    if (ntlb !== null) {
      const kinds = (table ? NTLB.TABLE : fetch ? NTLB.FETCH : write ? NTLB.WRITE : NTLB.READ) | (out.asWrite ? NTLB.WRITE : 0);
      ntlb.fill(gpa, out.hpa, kinds, out.steps.length);
    }
    return { hpa: out.hpa, asWrite: out.asWrite, refs: out.steps.length };
  };

  /** Reads the low half of the guest entry at `gpa` (one reference, after its nested walk or a cache hit). */
  const readEntry = (gpa: number, size: number, own: boolean): number => {
    if (pwc !== null) {
      const e = pwc.lookup(gpa);
      if (e !== undefined) {
        saved!.pwc += e.refs;
        saved!.skips.push({ cache: 'pwc', stage: 'guest-table', gpa, refs: e.refs });
        // Cached entries have A set already: the walk owes them no write.
        last = { gpa, hpa: e.hpa, asWrite: true };
        expectHigh = wide;
        cachedHigh = e.hi;
        used.push({ gpa, hpa: e.hpa, refs: e.refs, cached: true });
        return e.lo;
      }
    }
    const t = run(gpa, false, 'guest-table', false);
    last = { gpa, hpa: t.hpa, asWrite: t.asWrite };
    expectHigh = wide;
    cachedHigh = null;
    // `own`: the caller sets the step itself (it is not one of walkFast's).
    if (!own) guestRefs.push({ gpa, hpa: t.hpa, at: refs.length });
    refs.push({ dim: 'guest', gpa, hpa: t.hpa, step: undefined as unknown as WalkStep });
    used.push({ gpa, hpa: t.hpa, refs: t.refs + 1, cached: false });
    return mem.read(t.hpa, size);
  };

  const guestMem: EntryMemory = {
    read(gpa, size) {
      if (expectHigh && last !== null && gpa === last.gpa + 4) {
        expectHigh = false;
        return cachedHigh !== null ? cachedHigh : mem.read(last.hpa + 4, size);
      }
      return readEntry(gpa, size, false);
    },
    write(gpa, size, v) {
      // The walk writes A/D only into the entry it has just read.
      const hpa = last !== null && last.gpa === gpa && last.asWrite ? last.hpa : run(gpa, true, 'guest-table', true).hpa;
      mem.write(hpa, size, v);
    },
  };

  const steps: WalkStep[] = [];
  const fillGuestSteps = (): void => {
    // The walk records one step per entry read; PAE PDPTE registers (entryPa -1) read no memory,
    // and entries the page-walk cache gave were not read either.
    const memSteps = steps.filter((s) => s.entryPa !== -1);
    const readSteps = memSteps.filter((s) => !used.some((u) => u.cached && u.gpa === s.entryPa));
    guestRefs.forEach((g, i) => {
      const ref = refs[g.at]!;
      const step = readSteps[i];
      if (ref.dim === 'guest' && step !== undefined) ref.step = step;
    });
  };
  /** Puts the upper entries this walk read into the page-walk cache (the last one read maps the page, or faulted, unless `allUpper`). */
  const fillPwc = (allUpper: boolean): void => {
    if (pwc === null) return;
    const n = allUpper ? used.length : used.length - 1;
    for (let i = 0; i < n; i++) {
      const u = used[i]!;
      if (u.cached) continue;
      const lo = mem.read(u.hpa, 4) >>> 0;
      const hi = wide ? mem.read(u.hpa + 4, 4) >>> 0 : 0;
      if ((lo & PTE.A) !== 0 || u.gpa === paeRoot) pwc.fill(u.gpa, { lo, hi, hpa: u.hpa, refs: u.refs });
    }
  };
  const withSaved = <R extends object>(r: R): R => (saved === undefined ? r : { ...r, saved });

  // AMD with NPT: a PAE guest's PDPTE is read from its PDPT through the nested tables on every walk
  // (see the file comment). Bits 2:1 and 8:5 (A among them) are reserved in a PAE PDPTE, so the
  // walk writes nothing there.
  let ctl = guest;
  let paeRoot = -1;
  try {
    if (guest.mode === 'pae' && nested.paePdptes === 'memory') {
      const i = linLo >>> 30;
      const gpa = ((guest.cr3Lo & 0xffffffe0) >>> 0) + i * 8;
      paeRoot = gpa;
      const stepAt = refs.length;
      const lo = readEntry(gpa, 4, true) >>> 0;
      const hi = guestMem.read(gpa + 4, 4) >>> 0;
      // The guest ref (none on a page-walk-cache hit) gets its real step.
      const step: WalkStep = { level: 'PDPTE', entryPa: gpa, entryLo: lo, entryHi: hi, index: i, leaf: false };
      const ref = refs.find((r, k) => k >= stepAt && r.dim === 'guest');
      if (ref !== undefined && ref.dim === 'guest') ref.step = step;
      const acc = accessErrorBits(guest, access.write, access.fetch, access.user);
      const rsvdHi = ~hiAddrMask(guest.maxPhysAddr) >>> 0;
      if ((lo & PTE.P) === 0 || (lo & PAE_PDPTE_RSVD_LO) !== 0 || (hi & rsvdHi) !== 0) {
        const code = (lo & PTE.P) === 0 ? acc : acc | PFEC.P | PFEC.RSVD;
        return withSaved({ kind: 'guest-fault', fault: { errorCode: code, level: LEVEL_NAMES[LV.PDPTE] }, refs });
      }
      const pdpte = new Uint32Array(8);
      pdpte[2 * i] = lo;
      pdpte[2 * i + 1] = hi;
      ctl = { ...guest, pdpte };
    }
  } catch (e) {
    if (!(e instanceof NestedStop)) throw e;
    return withSaved({ kind: 'nested-fault', fault: e.fault as F, stage: e.stage, gpa: e.gpa, refs });
  }

  let ok: boolean;
  try {
    ok = walkFast(guestMem, ctl, linLo, linHi, access.write, access.fetch, access.user, sideEffects, steps);
  } catch (e) {
    if (!(e instanceof NestedStop)) throw e;
    fillGuestSteps();
    // A nested fault on a guest table: every guest entry before it referenced the next table.
    fillPwc(e.stage === 'guest-table' && !e.update);
    // A guest ref pushed before its nested read failed cannot exist: the guest entry is pushed
    // only after its translation succeeded.
    return withSaved({ kind: 'nested-fault', fault: e.fault as F, stage: e.stage, gpa: e.gpa, refs });
  }
  fillGuestSteps();
  fillPwc(false);
  if (!ok) return withSaved({ kind: 'guest-fault', fault: { errorCode: walkOut.errorCode, level: LEVEL_NAMES[walkOut.faultLevel]! }, refs });
  // walkOut is shared with any NPT walk made meanwhile, but the guest walk sets it last, after
  // its final memory access; read it before the next nested translation.
  const gpa = walkOut.pa;
  const pageSize = 2 ** walkOut.pageShift;
  const leaf: GuestLeaf = { rights: walkOut.rights, dirty: walkOut.dirty, global: walkOut.global, leafLevel: walkOut.leafLevel };
  try {
    const t = run(gpa, access.write, 'final', false);
    return withSaved({ kind: 'ok', gpa, hpa: t.hpa, pageSize, refs, leaf });
  } catch (e) {
    if (!(e instanceof NestedStop)) throw e;
    return withSaved({ kind: 'nested-fault', fault: e.fault as F, stage: e.stage, gpa: e.gpa, refs });
  }
}
