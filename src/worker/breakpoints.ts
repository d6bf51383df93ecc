/**
 * Breakpoints, engine side. A breakpoint is a linear address (CS.base + RIP; RIP alone in 64-bit
 * mode, where the CS base is not used: SDM Vol. 3A, 3.4.4). A run with breakpoints stops at the
 * first step boundary whose next instruction starts at one, before that instruction runs, as a
 * debugger's do; the boundary the run starts from never stops it (continuing from a breakpoint
 * goes past it). Stops fall on step boundaries only, so the machine at a stop is exactly the
 * machine `goto` gives for that step.
 */
import type { Machine } from '../emu/machine/machine.ts';
import type { TraceEvent } from '../emu/trace/events.ts';
import type { Timeline } from '../emu/trace/timeline.ts';

/** Breakpoints one request may carry. */
export const MAX_BREAKPOINTS = 256;

const ADDRESS = /^0x[0-9a-f]{1,16}$/i;

/** Validates the addresses of a request (0x and 1..16 hex digits each); throws a RangeError naming the bad one. */
export function parseBreakpoints(list: unknown): Set<bigint> {
  if (!Array.isArray(list)) throw new TypeError('breakpoints must be an array of addresses');
  if (list.length > MAX_BREAKPOINTS) throw new RangeError(`at most ${MAX_BREAKPOINTS} breakpoints, got ${list.length}`);
  const out = new Set<bigint>();
  list.forEach((a: unknown, i) => {
    if (typeof a !== 'string' || !ADDRESS.test(a)) {
      throw new RangeError(`breakpoints[${i}] must be 0x followed by 1 to 16 hex digits, got ${JSON.stringify(a)}`);
    }
    out.add(BigInt(a));
  });
  return out;
}

/** The linear address of `rip` under the CPU's current CS and mode (as the CPU fetches it). */
export function linearOf(m: Machine, rip: bigint): bigint {
  if (m.cpu.mode() === 'long64') return BigInt.asUintN(64, rip);
  const cs = m.cpu.state.seg[1]!;
  return BigInt.asUintN(32, BigInt(cs.baseLo >>> 0) + rip);
}

/** The linear address of the next instruction to run. */
export function linearRip(m: Machine): bigint {
  const s = m.cpu.state;
  return linearOf(m, (BigInt(s.ripHi >>> 0) << 32n) | BigInt(s.ripLo >>> 0));
}

/**
 * Runs up to `n` steps from the current step `from` and stops at the first step s in
 * (from, from + n] whose next instruction is at a breakpoint. Returns s, the machine left at s
 * (untraced, as `goto(s)` gives it) and the timeline's furthest step as if it had stepped there,
 * or null with the machine back at `from` when no breakpoint was reached (or the machine stopped
 * first).
 *
 * How: Timeline.runUntil over `cpu/insn` and `cpu/exception` events (off the TLB path, so the run
 * and its checkpoints are those of an untraced run). The first of those events in a step tells
 * where that step starts: a `cpu/insn` is the instruction at RIP (an external interrupt due at
 * the boundary has already been delivered: it is the handler's first instruction); a
 * `cpu/exception` first means the fetch at RIP itself faulted. Later events of the same step
 * (a faulting instruction's handler) are not step boundaries and never stop the run. Steps
 * spent halted have no events and never stop it: the instruction after HLT runs only once an
 * interrupt handler has returned to it, and it stops the run then.
 */
export function runToBreakpoint(timeline: Timeline, breakpoints: ReadonlySet<bigint>, n: number): number | null {
  const m = timeline.machine;
  const from = timeline.current;
  const furthest = timeline.furthest;
  if (breakpoints.size === 0 || n <= 0) return null;
  let seen = -1;
  const test = (e: TraceEvent): boolean => {
    if (e.kind !== 'cpu/insn' && e.kind !== 'cpu/exception') return false;
    const first = e.step !== seen;
    seen = e.step;
    return first && e.step > from && breakpoints.has(linearOf(m, e.rip));
  };
  const r = timeline.runUntil({ kinds: ['cpu/insn', 'cpu/exception'], test }, n);
  if (r.event === null) {
    // The last boundary's instruction would start in the step after: look at the machine there.
    const s = m.cpu.state;
    if (r.end === 'limit' && timeline.current === from + n && !s.halted && breakpoints.has(linearRip(m))) return from + n;
    timeline.goto(from);
    return null;
  }
  timeline.goto(r.event.step);
  // runUntil ran on past the stop (to the end of its chunk): the steps after it were never shown.
  timeline.furthest = Math.max(furthest, r.event.step);
  return r.event.step;
}
