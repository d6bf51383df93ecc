/**
 * The lab's one protocol between the page and the emulation worker (6502.ts style): calls
 * (a request with an `id`, answered by exactly one response with the same `id`: a result or an
 * error) and signals (unsolicited: `ready`, `crashed`). Everything here is plain data and
 * structured-clone safe; 64-bit values are `0x`-prefixed 16-digit hex strings in views and
 * `bigint` inside trace events.
 */
import type { CompareResult } from '../emu/hv/compare.ts';
import type { IoComparison, IrqComparison } from '../emu/hv/io-compare.ts';
import type { PairOp, PairResult } from './pair-types.ts';
import type { TechniqueComparison } from './techniques-types.ts';
import type { CpuMode } from '../emu/cpu/core.ts';
import type { RunEnd } from '../emu/cpu/cpu.ts';
import type { PagingMode } from '../emu/mmu/types.ts';
import type { TlbEntryView } from '../emu/mmu/tlb.ts';
import type { ScenarioError } from '../emu/scenario/schema.ts';
import type { TraceEvent, TraceKind } from '../emu/trace/events.ts';
import type { StepWalks } from './walk-types.ts';
import type { MarkRange } from '../emu/trace/marks.ts';
import type { ExerciseResult, ExerciseSpec } from './exercise-types.ts';
import type { VmView } from './vm-types.ts';
import type { StepTwoD } from './twod-types.ts';
import type { StepShadow } from './shadow-types.ts';
import type { StepIo } from './io-types.ts';
import type { StepContainers } from './containers-types.ts';

/** A JSON value: what a scenario file, a share link or a lesson hands to `load`. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Registers a ViewState shows, by name (lower case, as in the SDM's text). */
export const VIEW_REGS = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags', 'cr0', 'cr2', 'cr3', 'cr4', 'efer', 'cs', 'ss',
] as const;
export type ViewReg = (typeof VIEW_REGS)[number];

/** One disassembled instruction at or after RIP. */
export interface DisasmRow {
  /** Linear address, 0x + 16 hex digits. */
  address: string;
  /** The instruction's bytes, hex, space separated. */
  bytes: string;
  text: string;
  /** The instruction at RIP (the next to run). */
  current: boolean;
}

/**
 * What the machine is at a step: a function of the scenario and the step only, so going back to a
 * step gives the identical value.
 */
export interface MachineView {
  cpl: number;
  mode: CpuMode;
  paging: PagingMode;
  /** Every register in VIEW_REGS: 64-bit ones as 0x + 16 hex digits, selectors as 0x + 4. */
  regs: Record<ViewReg, string>;
  halted: boolean;
  shutdown: boolean;
  /** The machine can go no further: shut down, or halted with nothing able to wake it (Cpu.stuck). */
  stopped: boolean;
  /** Instructions from RIP on (fewer if the code runs into an unmapped or unbacked page). */
  disasm: DisasmRow[];
  /** Why there is no (or less) disassembly: a #PF-like probe failure at this linear address. */
  disasmStop: string | null;
  /** The TLB's valid entries, in slot order. */
  tlb: TlbEntryView[];
  /** The TLB's counters since the machine was built (Tlb.hits, misses, flushes, invalidated). */
  tlbStats: { hits: number; misses: number; flushes: number; invalidated: number };
  /** UART output so far. */
  uart: string;
}

/** Why a request stopped where it did: the machine's RunEnd, 'found' (runUntil), a breakpoint (step), or a jump in time. */
export type EndReason = RunEnd | 'found' | 'breakpoint' | 'loaded' | 'moved';

export interface ViewState {
  /** The current step (instructions retired). */
  step: number;
  /** The furthest step reached so far (the length of the timeline). */
  furthest: number;
  end: EndReason;
  machine: MachineView;
  /** Registers whose value differs from the previous ViewState this session returned. */
  changed: ViewReg[];
  /**
   * Trace events (of the kinds collected) of the steps this request took forward, the last
   * MAX_VIEW_EVENTS of them; after back, goto or runUntil, those of the one step that led to the
   * current step, so that the screen at a step is the same however it was reached one step at a time.
   */
  events: TraceEvent[];
  /** Events left out of `events` by the bound. */
  eventsDropped: number;
  /** The page walks of the step that led to the current step, collected apart from `events` (walks.ts). */
  walks: StepWalks;
  /** Changes whenever the run's index of marks changes (also on load): ask `marks` again. */
  marksVersion: number;
  /** The hypervisor and its VMs at this step (vm-types.ts), or null for a scenario without a `technique`. */
  vm: VmView | null;
  /** The two-dimensional (nested-paging) walks of the step that led here (twod-types.ts); null or absent when it made none. */
  twod?: StepTwoD | null;
  /** Shadow paging: the shadow MMU's work of the step (or the last before it) and its tables (shadow-types.ts); null or absent otherwise. */
  shadow?: StepShadow | null;
  /** A multi-VM host whose VMs have devices (issue 8): the devices, the step's DMA requests through the IOMMU and the rings (io-types.ts); null or absent otherwise. */
  io?: StepIo | null;
  /** The container kernel (src/emu/hv/containers) on the bare machine: its process table and shared state (containers-types.ts); null or absent otherwise. */
  containers?: StepContainers | null;
}

export const MAX_VIEW_EVENTS = 256;

/** What the page learns about a scenario that loaded. */
export interface ScenarioInfo {
  name: string;
  description: string;
  maxSteps: number;
}

export type LoadResult = { ok: true; info: ScenarioInfo; view: ViewState } | { ok: false; errors: ScenarioError[] };

export interface RunUntilView {
  view: ViewState;
  /** The first matching event, or null when the budget ran out or the machine stopped. */
  event: TraceEvent | null;
}

/** The run's notable events between two steps (the `marks` call), for the timeline. */
export interface MarksView extends MarkRange {
  /** ViewState.marksVersion of the index this answer comes from. */
  version: number;
  /** The furthest step when answered: the index covers the run up to it. */
  furthest: number;
}

/** Marks or groups one `marks` answer may hold, and buckets it may ask for. */
export const MAX_MARKS_LIMIT = 10_000;

/** Calls, page → worker. */
export type LabRequest =
  | { id: number; type: 'load'; scenario: Json }
  /** `breakpoints`: linear addresses (0x + hex) to stop before, the current one excepted (worker/breakpoints.ts). */
  | { id: number; type: 'step'; n: number; breakpoints?: string[] }
  | { id: number; type: 'back'; k: number }
  | { id: number; type: 'goto'; step: number }
  | { id: number; type: 'runUntil'; kinds: TraceKind[]; maxSteps: number; match?: RunMatch }
  | { id: number; type: 'setTraceKinds'; kinds: TraceKind[] }
  /** Marks with from ≤ step ≤ to (clamped to the run so far): each one if at most `limit`, else grouped into `buckets`. */
  | { id: number; type: 'marks'; from: number; to: number; limit: number; buckets: number }
  /** A seeded practice problem, the same as the command line's `lab exercise` (exercise-types.ts); the scenario is not touched. */
  | { id: number; type: 'exercise'; spec: ExerciseSpec }
  /** The scenario run bare and under each hypervisor configuration (emu/hv/compare.ts); the loaded scenario is not touched. */
  | { id: number; type: 'compare'; scenario: Json }
  /** The three ways of giving a VM a network card, each run with `frames` and 2 × `frames` frames (emu/hv/io-compare.ts); nothing loaded is touched. */
  | { id: number; type: 'ioWays'; under: 'vtx' | 'svm'; frames: number; kind?: 'nic' | 'disk' }
  /** A network card's interrupts delivered three ways against polling (emu/hv/io-compare.ts compareInterrupts); nothing loaded is touched. */
  | { id: number; type: 'ioInterrupts'; under: 'vtx' | 'svm'; frames: number }
  /** The virtualization techniques on Adams and Agesen's nanobenchmarks (emu/hv/technique-compare.ts), VT-x priced by `intel` (one of TECHNIQUE_INTEL_PRESETS); nothing loaded is touched. */
  | { id: number; type: 'techniques'; intel: string }
  /** The side-by-side pair (worker/pair.ts): a second and third machine beside the session's, which is not touched. */
  | { id: number; type: 'pair'; op: PairOp };

/**
 * Narrows runUntil's kinds: a `vm/exit` matches only with one of `exitCodes` (basic exit reason or
 * EXITCODE), a `cpu/exception` only with one of `vectors`; absent lists leave their kind as it is.
 */
export interface RunMatch {
  exitCodes?: number[];
  vectors?: number[];
}

export type LabRequestType = LabRequest['type'];

/** The result each call answers with. */
export interface LabResults {
  load: LoadResult;
  step: ViewState;
  back: ViewState;
  goto: ViewState;
  runUntil: RunUntilView;
  setTraceKinds: TraceKind[];
  marks: MarksView;
  exercise: ExerciseResult;
  compare: CompareResult;
  ioWays: IoComparison;
  ioInterrupts: IrqComparison;
  techniques: TechniqueComparison;
  pair: PairResult;
}

/** A request without its id (what the client is asked to send). */
export type LabCall = LabRequest extends infer R ? (R extends LabRequest ? Omit<R, 'id'> : never) : never;
export type LabCallOf<T extends LabRequestType> = Extract<LabCall, { type: T }>;

export type LabResponse = {
  [T in LabRequestType]: { kind: 'result'; id: number; type: T; result: LabResults[T] };
}[LabRequestType] | { kind: 'error'; id: number; message: string };

/** Signals, worker → page. */
export type LabSignal = { kind: 'signal'; signal: 'ready' } | { kind: 'signal'; signal: 'crashed'; message: string };

export type LabMessage = LabResponse | LabSignal;

/** The request for a call, with its id. */
export function requestOf(call: LabCall, id: number): LabRequest {
  return { ...call, id };
}
