import { describe, expect, it } from 'vitest';
import { busyIn, longestIn, marksByName, quantile, taskAt, topLevelTasks, traceEventsOf, type ChromeTraceEvent } from '../../bench/trace-tasks.ts';

const run = (ts: number, dur: number, tid = 1, tdur = dur / 2): ChromeTraceEvent => ({ name: 'RunTask', cat: 'disabled-by-default-devtools.timeline', ph: 'X', ts, dur, tdur, pid: 7, tid });
const mark = (name: string, ts: number): ChromeTraceEvent => ({ name, cat: 'blink.user_timing', ph: 'I', ts, pid: 7, tid: 1 });

describe('reading the browser benchmark trace', () => {
  const events = traceEventsOf({
    traceEvents: [
      run(100, 50),
      run(110, 10), // nested in the first
      run(300, 20),
      run(305, 40, 1, 20), // nested, runs past its parent's end (by 25 of its 40)
      run(400, 5, 2), // another thread
      run(1000, 70),
      { name: 'Paint', cat: 'devtools.timeline', ph: 'X', ts: 1010, dur: 5, pid: 7, tid: 1 },
      mark('bench:key:a:1', 120),
      mark('bench:painted:a:1', 1040),
      mark('other', 5),
    ],
  });

  it('keeps the top-level RunTask events of one thread, a nested task inside its parent', () => {
    expect(topLevelTasks(events, 7, 1)).toEqual([
      { start: 100, end: 150, cpu: 25 },
      { start: 300, end: 345, cpu: 10 + (20 * 25) / 40 },
      { start: 1000, end: 1070, cpu: 35 },
    ]);
    expect(topLevelTasks(events, 7, 2)).toEqual([{ start: 400, end: 405, cpu: 2.5 }]);
  });

  it('sums the busy time inside a window, clipping tasks at its edges, and finds the task of a time', () => {
    const tasks = topLevelTasks(events, 7, 1);
    const marks = marksByName(events, 'bench:');
    expect([...marks.keys()]).toEqual(['bench:key:a:1', 'bench:painted:a:1']);
    const key = marks.get('bench:key:a:1')!;
    const from = taskAt(tasks, key.ts)!.start;
    expect(from).toBe(100);
    expect(busyIn(tasks, from, marks.get('bench:painted:a:1')!.ts)).toEqual({ wall: 50 + 45 + 40, cpu: 25 + 22.5 + 20 });
    expect(busyIn(tasks, 0, 10_000)).toEqual({ wall: 165, cpu: 82.5 });
    expect(taskAt(tasks, 200)).toBeNull();
    expect(longestIn(tasks, 140, 310)).toEqual({ wall: 50, cpu: 25 });
    expect(longestIn(tasks, 2000, 3000)).toEqual({ wall: 0, cpu: 0 });
  });

  it('takes quantiles by nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.95)).toBe(95);
    expect(quantile(xs, 1)).toBe(100);
    expect(quantile([3], 0.95)).toBe(3);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('refuses what is not a trace', () => {
    expect(() => traceEventsOf({ nope: 1 })).toThrow(/no traceEvents/);
  });
});
