/**
 * One interface for the page to drive the lab, two implementations: InThreadClient calls a
 * LabSession directly (in-thread.ts: tests, Node); WorkerClient speaks the protocol to lab.worker.ts and
 * survives the worker dying: it makes a new one, reloads the last scenario, goes back to the
 * last step it knew, and says so through `onNotice`.
 */
import type { TraceKind } from '../emu/trace/events.ts';
import type {
  Json, LabCallOf, LabMessage, LabRequest, LabRequestType, LabResults, LoadResult, MarksView, RunMatch, RunUntilView, ViewState,
} from './protocol.ts';
import { requestOf } from './protocol.ts';
import type { ExerciseResult, ExerciseSpec } from './exercise-types.ts';
import type { CompareResult } from '../emu/hv/compare.ts';
import type { IoComparison, IrqComparison } from '../emu/hv/io-compare.ts';
import type { PairOp, PairResult } from './pair-types.ts';
import type { TechniqueComparison } from './techniques-types.ts';

export interface LabClient {
  load(scenario: Json): Promise<LoadResult>;
  /** Up to `n` steps; with `breakpoints`, stops before an instruction at one (not the current one). */
  step(n?: number, breakpoints?: readonly string[]): Promise<ViewState>;
  back(k?: number): Promise<ViewState>;
  goto(step: number): Promise<ViewState>;
  /** With `match`, a vm/exit or cpu/exception counts only with one of its codes or vectors (protocol.ts RunMatch). */
  runUntil(kinds: readonly TraceKind[], maxSteps: number, match?: RunMatch): Promise<RunUntilView>;
  setTraceKinds(kinds: readonly TraceKind[]): Promise<TraceKind[]>;
  marks(from: number, to: number, limit: number, buckets: number): Promise<MarksView>;
  /** A seeded practice problem (worker/exercise.ts); leaves the scenario as it is. */
  exercise(spec: ExerciseSpec): Promise<ExerciseResult>;
  /** The scenario run bare and under each hypervisor configuration (emu/hv/compare.ts); leaves the loaded scenario as it is. */
  compare(scenario: Json): Promise<CompareResult>;
  /** The three ways of giving a VM a network card compared (emu/hv/io-compare.ts); leaves the loaded scenario as it is. */
  ioWays(under: 'vtx' | 'svm', frames: number, kind?: 'nic' | 'disk'): Promise<IoComparison>;
  /** A network card's interrupts delivered three ways against polling; leaves the loaded scenario as it is. */
  ioInterrupts(under: 'vtx' | 'svm', frames: number): Promise<IrqComparison>;
  /** The virtualization techniques on the nanobenchmarks, VT-x priced by `intel` (techniques-types.ts); leaves the loaded scenario as it is. */
  techniques(intel: string): Promise<TechniqueComparison>;
  /** The side-by-side pair (worker/pair-types.ts): two machines beside the loaded one, which stays as it is. */
  pair(op: PairOp): Promise<PairResult>;
  dispose(): void;
}

/** The LabClient methods over one `call` that sends a request and resolves with its result. */
export abstract class RequestClient implements LabClient {
  protected abstract call<T extends LabRequestType>(call: LabCallOf<T>): Promise<LabResults[T]>;
  abstract dispose(): void;

  load(scenario: Json): Promise<LoadResult> {
    return this.call<'load'>({ type: 'load', scenario });
  }
  step(n = 1, breakpoints?: readonly string[]): Promise<ViewState> {
    return this.call<'step'>(breakpoints === undefined ? { type: 'step', n } : { type: 'step', n, breakpoints: [...breakpoints] });
  }
  back(k = 1): Promise<ViewState> {
    return this.call<'back'>({ type: 'back', k });
  }
  goto(step: number): Promise<ViewState> {
    return this.call<'goto'>({ type: 'goto', step });
  }
  runUntil(kinds: readonly TraceKind[], maxSteps: number, match?: RunMatch): Promise<RunUntilView> {
    return this.call<'runUntil'>(match === undefined ? { type: 'runUntil', kinds: [...kinds], maxSteps } : { type: 'runUntil', kinds: [...kinds], maxSteps, match });
  }
  setTraceKinds(kinds: readonly TraceKind[]): Promise<TraceKind[]> {
    return this.call<'setTraceKinds'>({ type: 'setTraceKinds', kinds: [...kinds] });
  }
  marks(from: number, to: number, limit: number, buckets: number): Promise<MarksView> {
    return this.call<'marks'>({ type: 'marks', from, to, limit, buckets });
  }
  exercise(spec: ExerciseSpec): Promise<ExerciseResult> {
    return this.call<'exercise'>({ type: 'exercise', spec });
  }
  compare(scenario: Json): Promise<CompareResult> {
    return this.call<'compare'>({ type: 'compare', scenario });
  }
  ioWays(under: 'vtx' | 'svm', frames: number, kind: 'nic' | 'disk' = 'nic'): Promise<IoComparison> {
    return this.call<'ioWays'>({ type: 'ioWays', under, frames, kind });
  }
  ioInterrupts(under: 'vtx' | 'svm', frames: number): Promise<IrqComparison> {
    return this.call<'ioInterrupts'>({ type: 'ioInterrupts', under, frames });
  }
  techniques(intel: string): Promise<TechniqueComparison> {
    return this.call<'techniques'>({ type: 'techniques', intel });
  }

  pair(op: PairOp): Promise<PairResult> {
    return this.call<'pair'>({ type: 'pair', op });
  }
}

/** Something the UI should tell the user about (not an error of a call). */
export interface LabNotice {
  kind: 'worker-restarted' | 'worker-restart-failed';
  message: string;
  /** The step the session was restored to (restarted) or was at (failed). */
  step: number | null;
}

/** The part of a Worker the client uses (a real Worker fits; tests pass a fake). */
export interface WorkerLike {
  postMessage(msg: LabRequest): void;
  addEventListener(type: 'message', fn: (e: MessageEvent<LabMessage>) => void): void;
  addEventListener(type: 'error' | 'messageerror', fn: (e: Event) => void): void;
  terminate(): void;
}

export function defaultWorkerFactory(): WorkerLike {
  return new Worker(new URL('./lab.worker.ts', import.meta.url), { type: 'module' });
}

export interface WorkerClientOptions {
  createWorker?: () => WorkerLike;
  /** Milliseconds a call may go unanswered before the worker is taken as hung (default 15,000). */
  timeoutMs?: number;
  onNotice?: (n: LabNotice) => void;
  /** Restarts tried in a row before giving up until the next call (default 3). */
  maxRestarts?: number;
}

interface Pending {
  type: LabRequestType;
  resolve: (v: LabResults[LabRequestType]) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class WorkerClient extends RequestClient {
  private readonly createWorker: () => WorkerLike;
  private readonly timeoutMs: number;
  private readonly maxRestarts: number;
  onNotice: ((n: LabNotice) => void) | null;
  private worker: WorkerLike;
  /** Bumped per worker: answers and events from an earlier worker are ignored. */
  private generation = 0;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  /** Set while a replacement worker is being brought to the last known state. */
  private recovering: Promise<void> | null = null;
  private lastScenario: Json | null = null;
  private lastStep: number | null = null;
  /** The side-by-side pair open in the worker (its load) and its position, restored with the session after a restart. */
  private lastPair: { load: Extract<PairOp, { kind: 'load' }>; step: number } | null = null;
  private traceKinds: TraceKind[] | null = null;
  private disposed = false;

  constructor(opts: WorkerClientOptions = {}) {
    super();
    this.createWorker = opts.createWorker ?? defaultWorkerFactory;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.maxRestarts = opts.maxRestarts ?? 3;
    this.onNotice = opts.onNotice ?? null;
    this.worker = this.spawn();
  }

  private spawn(): WorkerLike {
    const gen = ++this.generation;
    const w = this.createWorker();
    w.addEventListener('message', (e) => {
      if (gen === this.generation) this.onMessage(e.data);
    });
    const died = (what: string) => (e: Event) => {
      const detail = 'message' in e && typeof e.message === 'string' && e.message !== '' ? `: ${e.message}` : '';
      if (gen === this.generation) this.crashed(`the lab worker failed (${what}${detail})`);
    };
    w.addEventListener('error', died('error'));
    w.addEventListener('messageerror', died('messageerror'));
    return w;
  }

  private onMessage(msg: LabMessage): void {
    if (msg.kind === 'signal') {
      if (msg.signal === 'crashed') this.crashed(`the lab worker crashed: ${msg.message}`);
      return;
    }
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.kind === 'error') p.reject(new Error(msg.message));
    else p.resolve(msg.result);
  }

  /** Sends one request to the current worker; rejects on an error answer, a crash or the timeout. */
  private send<T extends LabRequestType>(call: LabCallOf<T>): Promise<LabResults[T]> {
    const id = this.nextId++;
    const req = requestOf(call, id);
    return new Promise<LabResults[T]>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        reject(new Error(`the lab worker did not answer '${call.type}' within ${this.timeoutMs} ms`));
        this.crashed(`the lab worker stopped answering ('${call.type}' timed out)`);
      }, this.timeoutMs);
      this.pending.set(id, { type: call.type, resolve: resolve as Pending['resolve'], reject, timer });
      try {
        this.worker.postMessage(req);
      } catch (e) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new Error(`could not send '${call.type}' to the lab worker: ${e instanceof Error ? e.message : String(e)}`));
      }
    });
  }

  /** Waits for any recovery, sends, and remembers what a replacement worker needs to restore. */
  protected override async call<T extends LabRequestType>(call: LabCallOf<T>): Promise<LabResults[T]> {
    if (this.recovering !== null) await this.settled();
    if (this.disposed) throw new Error('the lab client was disposed');
    const r = await this.send<T>(call);
    this.remember(call, r);
    return r;
  }

  private remember<T extends LabRequestType>(call: LabCallOf<T>, r: LabResults[T]): void {
    const c = call as LabCallOf<LabRequestType>;
    const res = r as LabResults[LabRequestType];
    if (c.type === 'load') {
      const lr = res as LoadResult;
      if (lr.ok) {
        this.lastScenario = (c as LabCallOf<'load'>).scenario;
        this.lastStep = lr.view.step;
      }
    } else if (c.type === 'setTraceKinds') this.traceKinds = res as TraceKind[];
    else if (c.type === 'pair') {
      const pr = res as PairResult;
      const op = (c as LabCallOf<'pair'>).op;
      if (!pr.ok) {
        if (op.kind === 'load') this.lastPair = null;
      } else if (op.kind === 'load') this.lastPair = { load: op, step: pr.view.step };
      else if (this.lastPair !== null) this.lastPair.step = pr.view.step;
    } else if (c.type === 'marks' || c.type === 'exercise' || c.type === 'compare' || c.type === 'ioWays' || c.type === 'ioInterrupts' || c.type === 'techniques') return;
    else if (c.type === 'runUntil') this.lastStep = (res as RunUntilView).view.step;
    else this.lastStep = (res as ViewState).step;
  }

  /** Rejects every call in flight, replaces the worker and restores the session (once per crash). */
  private crashed(reason: string): void {
    if (this.disposed) return;
    const err = new Error(`${reason}; it is being restarted`);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
    if (this.recovering !== null) return;
    const old = this.worker;
    this.recovering = this.recover(reason, old).finally(() => {
      this.recovering = null;
    });
  }

  private async recover(reason: string, old: WorkerLike): Promise<void> {
    try {
      old.terminate();
    } catch {
      // a worker that cannot even be terminated is dropped all the same
    }
    const step = this.lastStep;
    for (let attempt = 1; attempt <= this.maxRestarts; attempt++) {
      this.worker = this.spawn();
      try {
        if (this.traceKinds !== null) await this.send<'setTraceKinds'>({ type: 'setTraceKinds', kinds: this.traceKinds });
        if (this.lastScenario !== null) {
          const r = await this.send<'load'>({ type: 'load', scenario: this.lastScenario });
          if (!r.ok) throw new Error('the last scenario no longer loads');
          if (step !== null && step !== r.view.step) await this.send<'goto'>({ type: 'goto', step });
        }
        const pair = this.lastPair;
        if (pair !== null) {
          // The pair's machines live in the worker too: built again and put back at their position.
          const pr = await this.send<'pair'>({ type: 'pair', op: pair.load });
          if (!pr.ok) throw new Error('the pair no longer loads');
          if (pair.step !== pr.view.step) await this.send<'pair'>({ type: 'pair', op: { kind: 'goto', step: pair.step } });
        }
        this.notice({ kind: 'worker-restarted', message: `${reason}. A new worker was started${this.lastScenario !== null ? ` and the session restored at step ${step ?? 0}` : ''}.`, step });
        return;
      } catch {
        try {
          this.worker.terminate();
        } catch {
          // as above
        }
      }
    }
    this.worker = this.spawn();
    this.notice({ kind: 'worker-restart-failed', message: `${reason}. Restarting it failed ${this.maxRestarts} times; load the scenario again.`, step });
    this.lastScenario = null;
    this.lastPair = null;
    this.lastStep = null;
  }

  private notice(n: LabNotice): void {
    try {
      this.onNotice?.(n);
    } catch {
      // a failing listener must not break recovery
    }
  }

  /** Resolves once no restart is in progress (at once if none). */
  async settled(): Promise<void> {
    while (this.recovering !== null) await this.recovering;
  }

  override dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const err = new Error('the lab client was disposed');
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.worker.terminate();
  }
}
