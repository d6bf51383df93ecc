/**
 * Time travel over a Machine: checkpoints every `interval` steps and exact replay, so that going
 * back to any earlier step, or to any step at all, gives the machine exactly as it was (the
 * emulator is deterministic: the same state and the same number of steps give the same future).
 *
 * Positions are step counts (CpuState.steps): "the machine at step k" is the machine after
 * Cpu.run has retired k instructions in total and returned (an external interrupt that became due
 * at step k has been delivered). `goto(k)` restores the nearest checkpoint at or before k and runs
 * forward k − c steps.
 *
 * Memory: a checkpoint is the CPU state, the TLB's valid entries and the table of references to
 * the allocated RAM pages, which it shares with the live machine and with the other checkpoints;
 * only pages written during an interval are copied (once each). Checkpoints are kept; past
 * `maxCheckpoints`, every second checkpoint of the older half is dropped (the first stays), so
 * the oldest stretch of the run replays from up to twice as far back, then four times, and so on,
 * while recent steps stay `interval` apart.
 *
 * A frontier sink (setFrontier) sees the events of every step the first time the timeline runs
 * it, whichever call ran it (step, goto past the furthest step, runUntil), and no step twice: the
 * run's index of notable events (marks.ts) is built from it.
 */
import type { Cpu, RunEnd } from '../cpu/cpu.ts';
import type { Machine, MachineSnapshot } from '../machine/machine.ts';
import type { TraceEvent, TraceKind, TraceSink } from './events.ts';

/**
 * What a Timeline drives: the bare Machine, or the hypervisor's machine (hv/hv-machine.ts), whose
 * steps are its guest's. `run` retires up to n steps (CpuState.steps of `cpu`); a snapshot is
 * everything that decides the future, and `restore` puts it back exactly.
 */
export interface TimelineMachine {
  readonly cpu: Cpu;
  run(maxSteps: number): RunEnd;
  snapshot(): MachineSnapshot;
  restore(snap: MachineSnapshot): void;
  setTrace(sink: TraceSink | null, kinds?: Iterable<TraceKind>): void;
}

export interface TimelineOptions {
  /** Steps between checkpoints (default 10,000). */
  interval?: number;
  /** Checkpoints kept before older ones are thinned (default 4096; at least 4). */
  maxCheckpoints?: number;
}

/**
 * What "run until" waits for: a kind, any of several kinds, a test over events (every kind traced),
 * or a test over the events of the kinds named (only those traced: a test of `cpu/insn` events then
 * leaves the TLB path, and the checkpoints, as an untraced run would).
 */
export type EventMatch =
  | TraceKind
  | readonly TraceKind[]
  | ((e: TraceEvent) => boolean)
  | { readonly kinds: readonly TraceKind[]; readonly test: (e: TraceEvent) => boolean };

export interface RunUntilResult {
  /** The first matching event, or null if none came within the steps allowed. */
  event: TraceEvent | null;
  /** Where the machine stopped. */
  step: number;
  /** Why it stopped: 'found', the step budget ('limit'), or the machine stopped ('hlt', 'shutdown'). */
  end: 'found' | RunEnd;
}

/** Sees each step of the run once, the first time it is executed (Timeline.setFrontier). */
export interface FrontierSink extends TraceSink {
  /** The run from `step` on was replaced (Timeline.edited): forget the events at or after it. */
  truncate(step: number): void;
}

/** Passes each event to the sinks whose kinds include it (null: every kind). */
class TeeSink implements TraceSink {
  private readonly aKinds: ReadonlySet<TraceKind> | null;
  private readonly bKinds: ReadonlySet<TraceKind>;
  constructor(
    private readonly a: TraceSink,
    aKinds: readonly TraceKind[] | null,
    private readonly b: TraceSink,
    bKinds: readonly TraceKind[],
  ) {
    this.aKinds = aKinds === null ? null : new Set(aKinds);
    this.bKinds = new Set(bKinds);
  }
  emit(e: TraceEvent): void {
    if (this.aKinds === null || this.aKinds.has(e.kind)) this.a.emit(e);
    if (this.bKinds.has(e.kind)) this.b.emit(e);
  }
}

/** Passes on the events at or after a step. */
class FromStepSink implements TraceSink {
  constructor(
    private readonly to: TraceSink,
    private readonly from: number,
  ) {}
  emit(e: TraceEvent): void {
    if (e.step >= this.from) this.to.emit(e);
  }
}

class MatchSink implements TraceSink {
  first: TraceEvent | null = null;
  constructor(private readonly test: (e: TraceEvent) => boolean) {}
  emit(e: TraceEvent): void {
    if (this.first === null && this.test(e)) this.first = e;
  }
}

/** Kinds whose tracing turns the CPU's fast translation cache off (Cpu.setTrace): TLB counters and LRU order then differ. */
const TLB_PATH_KINDS: readonly TraceKind[] = ['tlb/lookup', 'mmu/walk', 'tlb/fill'];

function touchesTlbPath(kinds: readonly TraceKind[] | null): boolean {
  return kinds === null || kinds.some((k) => TLB_PATH_KINDS.includes(k));
}

/** The kinds to trace (null: all) and the test of a match. */
function matcher(what: EventMatch): { kinds: TraceKind[] | null; test: (e: TraceEvent) => boolean } {
  if (typeof what === 'string') return { kinds: [what], test: (e) => e.kind === what };
  if (typeof what === 'function') return { kinds: null, test: what };
  if ('test' in what) return { kinds: [...what.kinds], test: what.test };
  const kinds: readonly TraceKind[] = what;
  return { kinds: [...kinds], test: (e) => kinds.includes(e.kind) };
}

export class Timeline<M extends TimelineMachine = Machine> {
  readonly machine: M;
  readonly interval: number;
  readonly maxCheckpoints: number;
  /** The step the timeline began at (its first checkpoint). */
  readonly start: number;
  /** The furthest step reached. */
  furthest: number;
  /** Checkpoints, by increasing step. */
  private cps: MachineSnapshot[] = [];
  private sink: TraceSink | null = null;
  private sinkKinds: readonly TraceKind[] | null = null;
  /** Whether the run in progress is traced in a way that perturbs the TLB path (no checkpoints then). */
  private perturbed = false;
  private frontier: FrontierSink | null = null;
  private frontierKinds: readonly TraceKind[] = [];
  /** The sink step or runUntil attached for the call in progress, to restore after the frontier. */
  private outer: { sink: TraceSink; kinds: readonly TraceKind[] | null } | null = null;

  constructor(machine: M, opts: TimelineOptions = {}) {
    const interval = opts.interval ?? 10_000;
    if (!Number.isInteger(interval) || interval < 1) throw new RangeError(`checkpoint interval ${interval} is not a positive integer`);
    this.machine = machine;
    this.interval = interval;
    this.maxCheckpoints = Math.max(4, opts.maxCheckpoints ?? 4096);
    this.start = machine.cpu.state.steps;
    this.furthest = this.start;
    machine.setTrace(null);
    this.cps.push(machine.snapshot());
  }

  /** The current step. */
  get current(): number {
    return this.machine.cpu.state.steps;
  }

  /** Steps at which checkpoints are held. */
  checkpointSteps(): number[] {
    return this.cps.map((c) => c.step);
  }

  /** The checkpoints themselves (for views and measurements; do not modify them). */
  checkpoints(): readonly MachineSnapshot[] {
    return this.cps;
  }

  /**
   * Where the events of the steps taken forward by `step` go (null: none); `goto`, `back` and
   * replays never emit. Tracing the kinds on the TLB path (tlb/lookup, mmu/walk, tlb/fill, or all
   * kinds) bypasses the CPU's fast translation cache, so the TLB's hit counters and LRU order
   * along such a stretch differ from an untraced run; no checkpoint is taken there, and `goto`
   * to any step gives the untraced machine.
   */
  setTrace(sink: TraceSink | null, kinds?: readonly TraceKind[]): void {
    this.sink = sink;
    this.sinkKinds = kinds === undefined ? null : [...kinds];
  }

  /**
   * Where the events (of `kinds`) of each step go the first time it runs, from the furthest step
   * reached on (null: nowhere). The kinds must be off the TLB path (no tlb/lookup, mmu/walk or
   * tlb/fill), so that recording them leaves the machine exactly as an untraced run.
   */
  setFrontier(sink: FrontierSink | null, kinds: readonly TraceKind[]): void {
    if (sink !== null && touchesTlbPath(kinds)) throw new RangeError('a frontier sink cannot trace tlb/lookup, mmu/walk or tlb/fill');
    this.frontier = sink;
    this.frontierKinds = [...kinds];
  }

  /**
   * Runs forward up to `n` steps, taking checkpoints on the way. Returns 'limit' when all `n`
   * retired, else why the machine stopped ('hlt' with nothing to wake it, 'shutdown').
   */
  step(n = 1): RunEnd {
    if (this.sink === null) return this.advance(n);
    this.use(this.sink, this.sinkKinds);
    try {
      return this.advance(n);
    } finally {
      this.unuse();
    }
  }

  /**
   * Goes to step `k` (clamped to the start; a step the machine never reaches leaves it where it
   * stopped): restores the nearest checkpoint at or before `k` unless `k` is ahead of the current
   * step and no checkpoint lies between, then replays. Returns the step reached.
   */
  goto(k: number): number {
    const target = Math.max(this.start, Math.floor(k));
    const cur = this.current;
    if (target === cur) return cur;
    const cp = this.checkpointAtOrBefore(target);
    if (target < cur || cp.step > cur) this.machine.restore(cp);
    this.advance(target - this.current);
    return this.current;
  }

  /** Goes back `k` steps (not before the start). */
  back(k = 1): number {
    return this.goto(this.current - k);
  }

  /**
   * Runs forward until an event matching `what` occurs, at most `maxSteps` steps, and stops at the
   * end of the step that produced it: after the instruction for events it causes (I/O, a ring
   * change by SYSCALL or INT n, a TLB fill), after the delivery for an external interrupt that
   * became due at a step boundary, and, for an exception (a faulting instruction does not retire),
   * after the first instruction of the handler; `goto(event.step)` shows the machine just before.
   * The machine it stops at is the untraced one (as `goto` would give). The timeline's own sink
   * (setTrace) does not see these steps.
   */
  runUntil(what: EventMatch, maxSteps = Number.MAX_SAFE_INTEGER): RunUntilResult {
    const { kinds, test } = matcher(what);
    const from = this.current;
    const limit = from + Math.min(maxSteps, Number.MAX_SAFE_INTEGER - from);
    let sink = new MatchSink(test);
    this.use(sink, kinds);
    try {
      while (this.current < limit) {
        const end = this.advance(Math.min(this.interval, limit - this.current));
        if (sink.first !== null) break;
        if (end !== 'limit') return { event: null, step: this.current, end };
      }
    } finally {
      this.unuse();
    }
    if (sink.first === null) return { event: null, step: this.current, end: 'limit' };
    // The match was emitted while running to its step s (an interrupt due then) or from s to s + 1:
    // go to just before and step singly to find which.
    this.goto(Math.max(from, sink.first.step - 1));
    sink = new MatchSink(test);
    this.use(sink, kinds);
    let end: RunEnd = 'limit';
    try {
      while (sink.first === null && this.current < limit && end === 'limit') end = this.advance(1);
    } finally {
      this.unuse();
    }
    const at = this.current;
    // The traced steps may have perturbed the TLB path: come back to the same step untraced.
    this.machine.restore(this.checkpointAtOrBefore(at));
    this.advance(at - this.current);
    if (sink.first === null) return { event: null, step: at, end };
    return { event: sink.first, step: at, end: 'found' };
  }

  /**
   * Declares that the machine was changed by hand at the current step (a register or memory
   * edited): checkpoints at or after it no longer describe its future and are dropped, and a new
   * one is taken here.
   */
  edited(): void {
    const now = this.current;
    if (this.frontier !== null) {
      this.frontier.truncate(now);
      if (now > this.start) this.recordArrival(now);
    }
    this.cps = this.cps.filter((c) => c.step < now);
    this.furthest = now;
    this.cps.push(this.machine.snapshot());
  }

  /**
   * Runs forward up to `n` steps; the steps past the furthest one are also traced into the
   * frontier sink (beside the sink of the call in progress, if any).
   */
  private advance(n: number): RunEnd {
    const target = this.current + n;
    const frontier = this.frontier;
    if (frontier === null || target <= this.furthest) return this.runTo(target);
    if (this.current < this.furthest) {
      const end = this.runTo(this.furthest);
      if (end !== 'limit') return end;
    }
    const outer = this.outer;
    if (outer === null) this.attach(frontier, this.frontierKinds);
    else {
      const kinds = outer.kinds === null ? null : [...new Set([...outer.kinds, ...this.frontierKinds])];
      this.attach(new TeeSink(outer.sink, outer.kinds, frontier, this.frontierKinds), kinds);
    }
    try {
      return this.runTo(target);
    } finally {
      if (outer === null) this.detach();
      else this.attach(outer.sink, outer.kinds);
    }
  }

  /**
   * After an edit at `at`: the events of arriving there (an interrupt that became due at `at` was
   * delivered before the edit) belong to the run kept; a replay from before feeds them to the
   * frontier again. The edited machine is put back as it was.
   */
  private recordArrival(at: number): void {
    const frontier = this.frontier!;
    const edited = this.machine.snapshot();
    this.machine.restore(this.checkpointAtOrBefore(at - 1));
    this.runTo(at - 1);
    this.attach(new FromStepSink(frontier, at), this.frontierKinds);
    try {
      this.runTo(at);
    } finally {
      this.detach();
    }
    this.machine.restore(edited);
  }

  /** Attaches the sink of a call (step, runUntil); the frontier is added beside it where needed. */
  private use(sink: TraceSink, kinds: readonly TraceKind[] | null): void {
    this.outer = { sink, kinds };
    this.attach(sink, kinds);
  }

  private unuse(): void {
    this.outer = null;
    this.detach();
  }

  /** Runs forward to step `target`, checkpointing at interval boundaries past the last checkpoint. */
  private runTo(target: number): RunEnd {
    const machine = this.machine;
    while (this.current < target) {
      const from = this.current;
      const boundary = this.start + (Math.floor((from - this.start) / this.interval) + 1) * this.interval;
      const to = Math.min(target, boundary);
      const end = machine.run(to - from);
      const now = this.current;
      if (now > this.furthest) this.furthest = now;
      if (now === boundary && !this.perturbed && now > this.cps[this.cps.length - 1]!.step) this.addCheckpoint();
      if (now < to) return end;
    }
    return 'limit';
  }

  /**
   * Attaches a sink without disturbing the fast translation cache (Cpu.setTrace empties it): a
   * trace of kinds off the TLB path leaves the machine exactly as an untraced run would.
   */
  private attach(sink: TraceSink, kinds: readonly TraceKind[] | null): void {
    const cpu = this.machine.cpu;
    const fast = cpu.fastTlbSnapshot();
    this.machine.setTrace(sink, kinds ?? undefined);
    this.perturbed = touchesTlbPath(kinds);
    if (!this.perturbed) cpu.dropCaches(fast);
  }

  private detach(): void {
    const cpu = this.machine.cpu;
    const fast = this.perturbed ? undefined : cpu.fastTlbSnapshot();
    this.machine.setTrace(null);
    cpu.dropCaches(fast);
    this.perturbed = false;
  }

  private checkpointAtOrBefore(k: number): MachineSnapshot {
    const cps = this.cps;
    let lo = 0;
    let hi = cps.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cps[mid]!.step <= k) lo = mid;
      else hi = mid - 1;
    }
    return cps[lo]!;
  }

  private addCheckpoint(): void {
    this.cps.push(this.machine.snapshot());
    if (this.cps.length > this.maxCheckpoints) {
      const half = this.cps.length >> 1;
      const kept: MachineSnapshot[] = [];
      for (let i = 0; i < this.cps.length; i++) if (i >= half || i % 2 === 0) kept.push(this.cps[i]!);
      this.cps = kept;
    }
  }
}
