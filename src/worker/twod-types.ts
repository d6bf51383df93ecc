/**
 * What the nested-walk grid receives for a step (ViewState.twod): the two-dimensional walks
 * (mmu/nested.ts `translate2D`) of the step that led to the current one, as plain,
 * structured-clone-safe data with 64-bit values as 0x + 16 hex digits. Kept apart from twod.ts
 * (which builds it from the machine, in the worker's hypervisor chunk) so that the page can import
 * these types and the limit without the emulator.
 */
import type { PagingMode, WalkStep } from '../emu/mmu/types.ts';
import type { AccessType } from '../emu/trace/events.ts';

/** 2D walks sent per step (an instruction makes its fetch and a data access or two). */
export const MAX_STEP_2D = 8;

export type TwoDLevel = WalkStep['level'];

/** One memory reference of a 2D walk, in the order the processor made it. */
export interface TwoDRefView {
  /** 'nested': an entry of the EPT / nested page tables; 'guest': an entry of the guest's own tables. */
  dim: 'nested' | 'guest';
  /** Nested references: what their translation serves (a guest table's entry, or the access's final guest-physical address). */
  stage: 'guest-table' | 'final';
  /** Nested: the guest-physical address being translated; guest: the guest entry's guest-physical address. */
  gpa: string;
  /** Guest references: the guest entry's host-physical address (where it was read); nested: the entry's own (host-physical) address. */
  hpa: string;
  /** A nested translation made again for an accessed/dirty write into a guest entry (EPT without A/D flags). */
  update: boolean;
  level: TwoDLevel;
  /** The entry as read, 0x + 16 hex digits. */
  value: string;
  /** The entry maps its page (a leaf) rather than pointing at another table. */
  leaf: boolean;
}

export type TwoDOutcome =
  | { kind: 'ok'; gpa: string; hpa: string; pageSize: number }
  /** The guest's own #PF: its error code and the guest level whose entry caused it. */
  | { kind: 'guest-fault'; errorCode: number; level: TwoDLevel }
  /** An EPT violation or misconfiguration (VT-x) or #VMEXIT(NPF) (AMD-V) at `gpa`. */
  | { kind: 'nested-fault'; stage: 'guest-table' | 'final'; gpa: string };

export interface TwoDWalkView {
  linear: string;
  access: AccessType;
  user: boolean;
  /**
   * 'walk': the TLB missed and the processor made this walk on the step; 'tlb': the TLB answered,
   * `refs` are the walk a miss would have made, read without setting any accessed or dirty flag.
   */
  source: 'walk' | 'tlb';
  /** The guest's paging mode (its levels are the grid's rows). */
  guestMode: Exclude<PagingMode, 'none'>;
  /** The nested tables' levels (4, or 5 when a nested walk read a PML5E): the grid's columns. */
  nestedLevels: 4 | 5;
  refs: TwoDRefView[];
  outcome: TwoDOutcome;
  /**
   * References the walk caches (`hypervisor.walkCaches`: page-walk cache, nested TLB) made
   * unnecessary on this walk, by cache; absent when the caches are off or the walk is a TLB hit's
   * (recomputed without them).
   */
  saved?: { pwc: number; ntlb: number };
}

export interface StepTwoD {
  vendor: 'intel' | 'amd';
  /** In the order the processor made them, each linear page and kind of access once, at most MAX_STEP_2D. */
  walks: TwoDWalkView[];
  /** Walks left out by the bound. */
  dropped: number;
}
