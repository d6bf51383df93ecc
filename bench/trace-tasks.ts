/**
 * Reading a Chrome trace (the JSON of `Tracing` with the `devtools.timeline` categories) for the
 * browser benchmark: the top-level tasks of a thread (DevTools' "Task" rows: `RunTask` complete
 * events not nested in another), the user-timing marks the page set (`performance.mark`), and
 * how much of a time window a thread spent in tasks. Times in the trace are microseconds. Each
 * task has two lengths: wall time (`dur`) and the thread's CPU time (`tdur`); on a loaded machine
 * the first also counts the time the thread waited for a CPU or for another thread.
 */

/** The fields of a trace event used here. */
export interface ChromeTraceEvent {
  name: string;
  cat: string;
  ph: string;
  ts: number;
  dur?: number;
  /** Thread (CPU) time of a complete event. */
  tdur?: number;
  pid: number;
  tid: number;
}

export interface Task {
  /** Microseconds (trace clock). */
  start: number;
  end: number;
  /** The thread's CPU time in the task, microseconds (the wall time when the trace has none). */
  cpu: number;
}

/** Wall and CPU microseconds. */
export interface Spent {
  wall: number;
  cpu: number;
}

export interface Mark {
  pid: number;
  tid: number;
  ts: number;
}

/** The events of a trace file as Chrome writes it: `{ traceEvents: [...] }` or a bare array. */
export function traceEventsOf(json: unknown): ChromeTraceEvent[] {
  const list = Array.isArray(json) ? json : (json as { traceEvents?: unknown }).traceEvents;
  if (!Array.isArray(list)) throw new Error('not a Chrome trace: no traceEvents array');
  return list as ChromeTraceEvent[];
}

/** User-timing marks by name (the last one when a name repeats). */
export function marksByName(events: readonly ChromeTraceEvent[], prefix: string): Map<string, Mark> {
  const out = new Map<string, Mark>();
  for (const e of events) {
    if (e.cat === 'blink.user_timing' && (e.ph === 'I' || e.ph === 'R' || e.ph === 'i') && e.name.startsWith(prefix)) {
      out.set(e.name, { pid: e.pid, tid: e.tid, ts: e.ts });
    }
  }
  return out;
}

/** The top-level tasks of one thread, in time order: `RunTask` events not inside an earlier one. */
export function topLevelTasks(events: readonly ChromeTraceEvent[], pid: number, tid: number): Task[] {
  const runs = events
    .filter((e) => e.name === 'RunTask' && e.ph === 'X' && e.pid === pid && e.tid === tid && e.dur !== undefined)
    .map((e) => ({ start: e.ts, end: e.ts + e.dur!, cpu: e.tdur ?? e.dur! }))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Task[] = [];
  for (const t of runs) {
    const last = out[out.length - 1];
    if (last !== undefined && t.start < last.end) {
      // Nested (a task run inside another, e.g. a nested message loop): the outer one counts.
      if (t.end > last.end) {
        last.cpu += (t.cpu * (t.end - last.end)) / (t.end - t.start);
        last.end = t.end;
      }
      continue;
    }
    out.push({ ...t });
  }
  return out;
}

/** The task in which time `ts` falls, if any (binary search over tasks in time order). */
export function taskAt(tasks: readonly Task[], ts: number): Task | null {
  let lo = 0;
  let hi = tasks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = tasks[mid]!;
    if (ts < t.start) hi = mid - 1;
    else if (ts > t.end) lo = mid + 1;
    else return t;
  }
  return null;
}

/**
 * Time of [from, to] the thread spent in tasks: the parts of tasks inside the window (wall), and
 * their CPU time (a task cut by the window's edge counts the same share of its CPU time).
 */
export function busyIn(tasks: readonly Task[], from: number, to: number): Spent {
  let wall = 0;
  let cpu = 0;
  for (const t of tasks) {
    if (t.end <= from) continue;
    if (t.start >= to) break;
    const part = Math.min(t.end, to) - Math.max(t.start, from);
    wall += part;
    cpu += t.end > t.start ? (t.cpu * part) / (t.end - t.start) : 0;
  }
  return { wall, cpu };
}

/** The tasks overlapping [from, to], whole. */
export function tasksIn(tasks: readonly Task[], from: number, to: number): Task[] {
  return tasks.filter((t) => t.end > from && t.start < to);
}

/** The longest task overlapping [from, to] by wall time and by CPU time (microseconds; 0 if none). */
export function longestIn(tasks: readonly Task[], from: number, to: number): Spent {
  let wall = 0;
  let cpu = 0;
  for (const t of tasksIn(tasks, from, to)) {
    wall = Math.max(wall, t.end - t.start);
    cpu = Math.max(cpu, t.cpu);
  }
  return { wall, cpu };
}

/** The value at quantile q (0..1) of ascending `sorted`, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}
