/**
 * The contract of the side-by-side pair (worker/pair.ts; the view in src/views/pair): one scenario
 * under two configurations of the comparison (emu/hv/compare.ts COMPARE_CONFIGS, the software
 * monitors `te` and `bt` included), each machine
 * under its own Timeline, stepped together by guest instruction. Plain data, structured-clone
 * safe; the page imports only this file (types), never the hypervisor.
 */
import type { CompareConfig, CompareRow } from '../emu/hv/compare.ts';
import type { ScenarioError } from '../emu/scenario/schema.ts';
import type { TraceEvent } from '../emu/trace/events.ts';
import type { Json } from './protocol.ts';
import type { VmView } from './vm-types.ts';

/** What the page asks of the pair (the worker's `pair` call). */
export type PairOp =
  /** Builds both machines from `scenario` (its JSON before migration) under the two configurations (ids of COMPARE_CONFIGS). */
  | { kind: 'load'; scenario: Json; configs: [string, string] }
  /** Both sides `n` guest steps on (a side that ended stays at its end). */
  | { kind: 'step'; n: number }
  | { kind: 'back'; k: number }
  /** The pair's position: each side goes to that guest step, or to its end if it ended before. */
  | { kind: 'goto'; step: number };

/** One side's figures so far (the comparison's row, emu/hv/compare.ts CompareRow, up to this step). */
export interface PairCounters {
  /** VM exits by the vendor's name; under a software monitor its traps and callouts by what caused them (CompareRow.exits). */
  exits: { total: number; byName: Record<string, number> };
  /** Under a software monitor: its traps and binary translation's callouts. */
  monitor?: CompareRow['monitor'];
  /** Under binary translation: the translation cache's blocks, lookups and chains. */
  bt?: CompareRow['bt'];
  tlb: { hits: number; misses: number; flushes: number };
  walks: number;
  refs: number;
  refsPerWalk: number;
  /** Cycles so far under the configuration's cost preset, by cost kind (`guest-insn`, `page-walk-ref`, `vmexit`, `trap`, `bt-callout`, `bt-step`, ...). */
  cycles: { preset: string; total: number; byKind: Record<string, number> };
}

export interface PairSideView {
  config: CompareConfig;
  /** Guest instructions retired: the side's position. */
  step: number;
  /** The step its guest ended at (halted for good, shut down, or its VM ended), once it has; null while it can still run. */
  endAt: number | null;
  /** Why it ended (`hlt`, `shutdown`, `hypercall-exit`, `error`), null while it runs. */
  end: string | null;
  /** Whether the side is at its end now. */
  ended: boolean;
  /** The guest's RIP, 0x + 16 hex digits. */
  rip: string;
  /** The guest's current privilege level. */
  cpl: number;
  counters: PairCounters;
  /** The hypervisor's view at this step (its planes); null for the bare configuration. */
  vm: VmView | null;
  /** The hypervisor's events (vm/*) of the step that led here (a function of the step: the view narrates them when the side moved); empty at the start and for the bare configuration. */
  events: TraceEvent[];
}

export interface PairView {
  /** The scenario's name. */
  name: string;
  /** The pair's position: the larger of the sides' steps (a side that ended stays behind at its end). */
  step: number;
  /** The scenario's step limit (the app's "run to the end" asks for no more). */
  maxSteps: number;
  /** Both sides have ended: stepping on changes nothing. */
  ended: boolean;
  sides: [PairSideView, PairSideView];
}

export type PairResult = { ok: true; view: PairView } | { ok: false; errors: ScenarioError[] };
