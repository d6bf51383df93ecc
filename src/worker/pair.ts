/**
 * The side-by-side pair of issue 7: one scenario built under two configurations of the comparison
 * (emu/hv/compare.ts: bare, VT-x or AMD-V, nested or shadow paging, trap-and-emulate, binary
 * translation; `configure` makes each one's scenario JSON), each machine under a Timeline of its
 * own, stepped together by guest instruction.
 *
 * Positions are guest steps (`CpuState.steps`, which under a hypervisor counts guest instructions
 * only: an exit and its handling belong to the step of the instruction that caused it), so step k
 * on one side and step k on the other have run the same guest instructions; under binary
 * translation the count is the processor's, translated code included (a rewritten branch or CALL
 * adds a JMP, hv/exec.ts HvJson.steps), so a side under it runs a little behind in guest terms. A side whose guest
 * ended (halted for good, shut down, its VM ended) stays at its end while the other goes on; the
 * pair's position is the larger of the two steps. Each side is a function of its configuration and
 * its step alone, as the main session's view is: going back replays from a checkpoint.
 *
 * The main session (session.ts) and its Timeline are not touched. This module runs the hypervisor,
 * so it is part of the hypervisor's chunk (hv-part.ts) and never of the worker's first load.
 */
import { COMPARE_CONFIGS, compareConfig, configure, measure, type CompareConfig, type Raw } from '../emu/hv/compare.ts';
import { HvMachine } from '../emu/hv/hv-machine.ts';
import type { Machine } from '../emu/machine/machine.ts';
import { buildScenario } from '../emu/scenario/build.ts';
import { loadScenario } from '../emu/scenario/migrate.ts';
import { ArraySink, type TraceEvent, type TraceKind } from '../emu/trace/events.ts';
import { Timeline } from '../emu/trace/timeline.ts';
import type { PairCounters, PairOp, PairResult, PairSideView, PairView } from './pair-types.ts';
import type { Json } from './protocol.ts';
import { vmFieldValues, vmView } from './vm-view.ts';

/** Steps one call may move the pair (step n, the distance of a goto beyond the run so far). */
export const MAX_PAIR_CALL_STEPS = 1_000_000;

/** The hypervisor's events, for the narration of a step (vm/switch needs several VMs, which the pair never has). */
const VM_KINDS: readonly TraceKind[] = ['vm/exit', 'vm/field', 'vm/handle', 'vm/entry', 'vm/end'];

/** Events kept for one side's narration at most (a step has a handful; a string I/O instruction's handler a few more). */
const MAX_SIDE_EVENTS = 200;

interface Side {
  config: CompareConfig;
  machine: Machine;
  timeline: Timeline;
  /** Once the guest was seen to end: the step and why. */
  endAt: number | null;
  end: string | null;
}

function hex64(v: bigint): string {
  return `0x${BigInt.asUintN(64, v).toString(16).padStart(16, '0')}`;
}

function checkCount(what: string, v: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} must be an integer 0..${max}, got ${String(v)}`);
  return v;
}

/** Why a machine that stopped before its target stopped. */
function endReason(m: Machine): string {
  if (m instanceof HvMachine && m.ended !== null) return m.ended.kind;
  return m.cpu.state.shutdown ? 'shutdown' : 'hlt';
}

/** One side's counters and registers at its current step, read without side effects. */
export function sideFigures(c: CompareConfig, m: Machine): { counters: PairCounters; rip: string; cpl: number } {
  const hv = m instanceof HvMachine ? m.guestResult() : null;
  const { exits, monitor, bt, tlb, walks, refs, refsPerWalk, cycles } = measure(c, m, '', hv?.hv ?? null, true);
  let rip: bigint;
  let cpl: number;
  if (hv !== null) {
    rip = BigInt(hv.regs.rip!);
    cpl = hv.cpl;
  } else {
    const s = m.cpu.state;
    rip = (BigInt(s.ripHi >>> 0) << 32n) | BigInt(s.ripLo >>> 0);
    cpl = m.cpu.cpl();
  }
  const counters: PairCounters = { exits, tlb, walks, refs, refsPerWalk, cycles };
  if (monitor !== undefined) counters.monitor = monitor;
  if (bt !== undefined) counters.bt = bt;
  return { counters, rip: hex64(rip), cpl };
}

/** One session's pair (LabSession keeps one beside its machine), made on the first load. */
export interface PairHolder {
  session: PairSession | null;
  interval?: number;
}

/** Answers the worker's `pair` call for the session whose pair `holder` is. */
export function answerPair(holder: PairHolder, op: PairOp): PairResult {
  if (holder.session === null) {
    if (op.kind !== 'load') throw new Error('no pair is loaded');
    holder.session = new PairSession(holder.interval === undefined ? {} : { interval: holder.interval });
  }
  return holder.session.handle(op);
}

export class PairSession {
  private sides: [Side, Side] | null = null;
  private name = '';
  private mode: 'prot32' | 'long64' = 'long64';
  private maxSteps = 0;
  private readonly interval: number;

  constructor(opts: { interval?: number } = {}) {
    this.interval = opts.interval ?? 1000;
  }

  /** Answers one op; a scenario or configuration that cannot be paired is an answer with errors, bad counts throw. */
  handle(op: PairOp): PairResult {
    switch (op.kind) {
      case 'load':
        return this.load(op.scenario, op.configs);
      case 'step':
        return { ok: true, view: this.step(op.n) };
      case 'back':
        return { ok: true, view: this.back(op.k) };
      case 'goto':
        return { ok: true, view: this.goto(op.step) };
      default: {
        const bad: { kind?: unknown } = op;
        throw new TypeError(`unknown pair op ${JSON.stringify(bad.kind)}`);
      }
    }
  }

  load(scenario: Json, ids: readonly [string, string]): PairResult {
    if (scenario === null || typeof scenario !== 'object' || Array.isArray(scenario)) return { ok: false, errors: [{ path: '', message: 'expected a scenario object' }] };
    const raw = scenario as Raw;
    if (raw.vms !== undefined) return { ok: false, errors: [{ path: 'vms', message: 'the pair runs one guest: a scenario with vms cannot be paired' }] };
    if (!Array.isArray(ids) || ids.length !== 2) return { ok: false, errors: [{ path: 'configs', message: 'expected two configurations' }] };
    const built: Side[] = [];
    for (const id of ids) {
      const config = compareConfig(id);
      if (config === undefined) {
        return { ok: false, errors: [{ path: 'configs', message: `unknown configuration ${JSON.stringify(id)} (known: ${COMPARE_CONFIGS.map((c) => c.id).join(', ')})` }] };
      }
      const loaded = loadScenario(configure(raw, config));
      if (!loaded.ok) return { ok: false, errors: loaded.errors.map((e) => ({ ...e, message: `${id}: ${e.message}` })) };
      const machine = buildScenario(loaded.loaded);
      built.push({ config, machine, timeline: new Timeline(machine, { interval: this.interval }), endAt: null, end: null });
      this.name = loaded.loaded.scenario.name;
      this.mode = loaded.loaded.scenario.mode;
      this.maxSteps = loaded.loaded.maxSteps;
    }
    this.sides = [built[0]!, built[1]!];
    return { ok: true, view: this.view() };
  }

  step(n: number): PairView {
    checkCount('step count', n, MAX_PAIR_CALL_STEPS);
    return this.moveTo(this.position() + n);
  }

  back(k: number): PairView {
    checkCount('back count', k, Number.MAX_SAFE_INTEGER);
    return this.moveTo(Math.max(0, this.position() - k));
  }

  goto(step: number): PairView {
    checkCount('step', step, this.furthest() + MAX_PAIR_CALL_STEPS);
    return this.moveTo(step);
  }

  /** The pair's position: the larger of the sides' steps. */
  position(): number {
    const [a, b] = this.need();
    return Math.max(a.timeline.current, b.timeline.current);
  }

  private furthest(): number {
    const [a, b] = this.need();
    return Math.max(a.timeline.furthest, b.timeline.furthest);
  }

  /** Each side to `target`, or to its end when its guest ends before. */
  private moveTo(target: number): PairView {
    for (const s of this.need()) {
      const want = s.endAt !== null ? Math.min(target, s.endAt) : target;
      const at = s.timeline.goto(want);
      if (at < want) {
        s.endAt = at;
        s.end = endReason(s.machine);
      }
    }
    return this.view();
  }

  private need(): [Side, Side] {
    if (this.sides === null) throw new Error('no pair is loaded');
    return this.sides;
  }

  private view(): PairView {
    const sides = this.need();
    const views = sides.map((s) => this.sideView(s)) as [PairSideView, PairSideView];
    return {
      name: this.name,
      step: Math.max(views[0].step, views[1].step),
      maxSteps: this.maxSteps,
      ended: views.every((v) => v.ended),
      sides: views,
    };
  }

  /**
   * The side at its step: figures, the VM view (`changed` against the step before, as the main
   * session's) and the events of the step that led here, replayed from the step before; the machine
   * is left as goto leaves it.
   */
  private sideView(s: Side): PairSideView {
    const { timeline, machine: m } = s;
    const at = timeline.current;
    let before: Map<string, string> | null = null;
    let events: TraceEvent[] = [];
    if (at > timeline.start && m instanceof HvMachine) {
      timeline.goto(at - 1);
      before = vmFieldValues(m);
      const sink = new ArraySink();
      timeline.setTrace(sink, VM_KINDS);
      try {
        timeline.step(1);
      } finally {
        timeline.setTrace(null);
      }
      events = sink.events.slice(0, MAX_SIDE_EVENTS);
    }
    const { counters, rip, cpl } = sideFigures(s.config, m);
    const ended = s.endAt !== null && at === s.endAt;
    return {
      config: { ...s.config },
      step: at,
      endAt: s.endAt,
      end: s.end,
      ended,
      rip,
      cpl,
      counters,
      vm: m instanceof HvMachine ? vmView(m, this.name, this.mode, before) : null,
      events,
    };
  }
}
