/**
 * The lab session as Svelte 5 state for the views: `$state.raw` fields (each replaced whole, never
 * mutated), `$derived` values over them, and methods that never throw (SessionModel). Create one
 * with a LabClient: `new Session(new WorkerClient())` in the app, an InThreadClient in tests.
 */
import type { ScenarioError } from '../emu/scenario/schema.ts';
import type { TraceEvent, TraceKind } from '../emu/trace/events.ts';
import { WorkerClient, type LabClient } from '../worker/client.ts';
import type { Json, MarksView, RunMatch, ScenarioInfo, ViewState } from '../worker/protocol.ts';
import type { ExerciseResult, ExerciseSpec } from '../worker/exercise-types.ts';
import type { CompareResult } from '../emu/hv/compare.ts';
import type { IoComparison, IrqComparison } from '../emu/hv/io-compare.ts';
import type { PairOp, PairResult } from '../worker/pair-types.ts';
import type { TechniqueComparison } from '../worker/techniques-types.ts';
import { SessionModel, type MarksQuery, type SessionFields, type ShownNotice } from './session-model.ts';

export class Session implements SessionFields {
  view = $state.raw<ViewState | null>(null);
  info = $state.raw<ScenarioInfo | null>(null);
  loading = $state.raw(false);
  busy = $state.raw(false);
  error = $state.raw<string | null>(null);
  scenarioErrors = $state.raw<ScenarioError[]>([]);
  found = $state.raw<TraceEvent | null>(null);
  notices = $state.raw<ShownNotice[]>([]);
  marks = $state.raw<MarksView | null>(null);

  readonly loaded = $derived(this.view !== null);
  readonly currentStep = $derived(this.view?.step ?? 0);
  readonly furthest = $derived(this.view?.furthest ?? 0);
  readonly cpl = $derived(this.view?.machine.cpl ?? null);
  /** The machine can go no further (HLT with nothing to wake it, or shutdown). */
  readonly stopped = $derived(this.view !== null && this.view.machine.stopped);

  readonly #model: SessionModel;
  readonly #client: LabClient;

  constructor(client?: LabClient) {
    const c = client ?? new WorkerClient();
    this.#client = c;
    this.#model = new SessionModel(c, this);
    if (c instanceof WorkerClient) c.onNotice = (n) => this.#model.notice(n);
  }

  load(scenario: Json): Promise<boolean> {
    return this.#model.load(scenario);
  }
  step(n = 1, breakpoints?: readonly string[]): Promise<boolean> {
    return this.#model.step(n, breakpoints);
  }
  back(k = 1): Promise<boolean> {
    return this.#model.back(k);
  }
  goto(step: number): Promise<boolean> {
    return this.#model.goto(step);
  }
  runUntil(kinds: readonly TraceKind[], maxSteps: number, match?: RunMatch): Promise<boolean> {
    return this.#model.runUntil(kinds, maxSteps, match);
  }
  setTraceKinds(kinds: readonly TraceKind[]): Promise<boolean> {
    return this.#model.setTraceKinds(kinds);
  }
  requestMarks(q: MarksQuery): Promise<void> {
    return this.#model.requestMarks(q);
  }
  /** A seeded practice problem from the worker (practice mode); rejects with the worker's message. */
  exercise(spec: ExerciseSpec): Promise<ExerciseResult> {
    return this.#client.exercise(spec);
  }

  /** The scenario run bare and under each hypervisor configuration; the session's own run is untouched. */
  compare(scenario: Json): Promise<CompareResult> {
    return this.#client.compare(scenario);
  }

  ioWays(under: 'vtx' | 'svm', frames: number, kind: 'nic' | 'disk' = 'nic'): Promise<IoComparison> {
    return this.#client.ioWays(under, frames, kind);
  }

  ioInterrupts(under: 'vtx' | 'svm', frames: number): Promise<IrqComparison> {
    return this.#client.ioInterrupts(under, frames);
  }

  /** The virtualization techniques on the nanobenchmarks, VT-x priced by `intel`; the session's own run is untouched. */
  techniques(intel: string): Promise<TechniqueComparison> {
    return this.#client.techniques(intel);
  }
  /** The side-by-side pair: two machines in the worker beside the session's, which is untouched. */
  pair(op: PairOp): Promise<PairResult> {
    return this.#client.pair(op);
  }
  dismissNotice(id: number): void {
    this.#model.dismissNotice(id);
  }
  dispose(): void {
    this.#model.dispose();
  }
}
