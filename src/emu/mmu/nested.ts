/**
 * The two-dimensional walk: a guest linear address translated by the guest's own paging
 * structures, where every guest paging-structure entry lives at a guest-physical address that must
 * itself be translated by the nested dimension (EPT, SDM Vol. 3C 29.3.2; NPT, APM Vol. 2 15.25.5)
 * before it can be read, and the guest-physical address the guest walk produces is translated once
 * more for the access itself. With no translation caches, an n-level guest on an m-level nested
 * table makes n·m + n + m references before the data access: 24 for 4 on 4, 35 for 5 on 5.
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
import { LEVEL_NAMES, walkFast, walkOut } from './walk.ts';

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
}

export type NestedOutcome<F> =
  | { ok: true; hpa: number; steps: WalkStep[]; asWrite: boolean }
  | { ok: false; fault: F; steps: WalkStep[] };

/** The nested dimension: EPT (vmx/ept.ts `eptNested`) or NPT (svm/npt.ts `nptNested`). */
export interface NestedTranslator<F> {
  translate(gpa: number, req: NestedRequest): NestedOutcome<F>;
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
    }
  | { kind: 'guest-fault'; fault: PageFault; refs: TwoDRef[] }
  | { kind: 'nested-fault'; fault: F; stage: NestedStage; gpa: number; refs: TwoDRef[] };

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
  ) {}
}

/**
 * Translates the guest linear address (`linLo`, `linHi`) under the guest paging `guest` for
 * `access`, with the nested dimension `nested` over host memory `mem`. `sideEffects` sets guest
 * accessed/dirty flags (the nested translator decides about its own).
 */
export function translate2D<F>(
  mem: EntryMemory,
  guest: PagingControl,
  linLo: number,
  linHi: number,
  access: AccessKind,
  nested: NestedTranslator<F>,
  sideEffects: boolean,
): TwoDResult<F> {
  const refs: TwoDRef[] = [];
  const guestRefs: { gpa: number; hpa: number; at: number }[] = [];
  const linear = (linLo >>> 0) + (linHi >>> 0) * 4294967296;
  let last: { gpa: number; hpa: number; asWrite: boolean } | null = null;
  // In PAE, 4-level and 5-level paging the walk reads each 8-byte entry as two 4-byte halves,
  // low then high at once: one reference, one translation.
  const wide = guest.mode !== '32bit';
  let expectHigh = false;

  const run = (gpa: number, write: boolean, stage: NestedStage, update: boolean): { hpa: number; asWrite: boolean } => {
    const out = nested.translate(gpa, { write, fetch: stage === 'final' && access.fetch, user: access.user, stage, linear });
    for (const step of out.steps) refs.push({ dim: 'nested', stage, gpa, update, step });
    if (!out.ok) throw new NestedStop(out.fault, stage, gpa);
    return out;
  };

  const guestMem: EntryMemory = {
    read(gpa, size) {
      if (expectHigh && last !== null && gpa === last.gpa + 4) {
        expectHigh = false;
        return mem.read(last.hpa + 4, size);
      }
      const t = run(gpa, false, 'guest-table', false);
      last = { gpa, hpa: t.hpa, asWrite: t.asWrite };
      expectHigh = wide;
      guestRefs.push({ gpa, hpa: t.hpa, at: refs.length });
      refs.push({ dim: 'guest', gpa, hpa: t.hpa, step: undefined as unknown as WalkStep });
      return mem.read(t.hpa, size);
    },
    write(gpa, size, v) {
      // The walk writes A/D only into the entry it has just read.
      const hpa = last !== null && last.gpa === gpa && last.asWrite ? last.hpa : run(gpa, true, 'guest-table', true).hpa;
      mem.write(hpa, size, v);
    },
  };

  const steps: WalkStep[] = [];
  const fillGuestSteps = (): void => {
    // The walk records one step per entry read; PAE PDPTE registers (entryPa -1) read no memory.
    const memSteps = steps.filter((s) => s.entryPa !== -1);
    guestRefs.forEach((g, i) => {
      const ref = refs[g.at]!;
      const step = memSteps[i];
      if (ref.dim === 'guest' && step !== undefined) ref.step = step;
    });
  };

  let ok: boolean;
  try {
    ok = walkFast(guestMem, guest, linLo, linHi, access.write, access.fetch, access.user, sideEffects, steps);
  } catch (e) {
    if (!(e instanceof NestedStop)) throw e;
    fillGuestSteps();
    // A guest ref pushed before its nested read failed cannot exist: the guest entry is pushed
    // only after its translation succeeded.
    return { kind: 'nested-fault', fault: e.fault as F, stage: e.stage, gpa: e.gpa, refs };
  }
  fillGuestSteps();
  if (!ok) return { kind: 'guest-fault', fault: { errorCode: walkOut.errorCode, level: LEVEL_NAMES[walkOut.faultLevel]! }, refs };
  // walkOut is shared with any NPT walk made meanwhile, but the guest walk sets it last, after
  // its final memory access; read it before the next nested translation.
  const gpa = walkOut.pa;
  const pageSize = 2 ** walkOut.pageShift;
  const leaf: GuestLeaf = { rights: walkOut.rights, dirty: walkOut.dirty, global: walkOut.global, leafLevel: walkOut.leafLevel };
  try {
    const t = run(gpa, access.write, 'final', false);
    return { kind: 'ok', gpa, hpa: t.hpa, pageSize, refs, leaf };
  } catch (e) {
    if (!(e instanceof NestedStop)) throw e;
    return { kind: 'nested-fault', fault: e.fault as F, stage: e.stage, gpa: e.gpa, refs };
  }
}
