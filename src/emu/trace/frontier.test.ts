/**
 * The timeline's frontier sink (Timeline.setFrontier) and the index it feeds: whatever mix of
 * step, step(n), back, goto (also past the furthest step), runUntil (also of TLB-path kinds, which
 * perturb the fast translation cache) and traced or untraced calls reaches a furthest step, the
 * index is the one a single straight run to that step gives; the frontier changes nothing the
 * timeline's callers see; and an edit truncates the index to the run that is kept.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Machine } from '../machine/machine.ts';
import { buildScenario, loadScenario, type LoadedScenario } from '../scenario/index.ts';
import { captureMachine } from './capture.ts';
import { ArraySink, type TraceEvent, type TraceKind } from './events.ts';
import { MARK_KINDS, MarkIndex, type Mark } from './marks.ts';
import { Timeline, type RunUntilResult } from './timeline.ts';

function example(name: string, edit?: (json: { devices?: { timer?: { period: number } } }) => void): LoadedScenario {
  const json = JSON.parse(readFileSync(join(import.meta.dirname, '../scenario/examples', `${name}.json`), 'utf8')) as {
    devices?: { timer?: { period: number } };
  };
  edit?.(json);
  const r = loadScenario(json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

const SCENARIOS: [string, LoadedScenario][] = [
  ['syscalls', example('syscalls')],
  ['page-fault', example('page-fault')],
  ['timer', example('timer')],
  // The timer every 97 steps: interrupts land on and beside checkpoint boundaries.
  [
    'timer/97',
    example('timer', (j) => {
      j.devices!.timer!.period = 97;
    }),
  ],
  // The same guest under the hypervisor: its VM exits and end are marks too.
  ['vtx-first-exit', example('vtx-first-exit')],
  ['svm-first-exit', example('svm-first-exit')],
];

function marksOf(ix: MarkIndex): Mark[] {
  return Array.from({ length: ix.length }, (_, i) => ix.mark(i));
}

/** The marks a single straight run from the start to `steps` gives. */
function straight(ls: LoadedScenario, steps: number): Mark[] {
  const m = buildScenario(ls);
  const ix = new MarkIndex();
  m.setTrace(ix, MARK_KINDS);
  m.run(steps);
  return marksOf(ix);
}

interface Pair {
  m: Machine;
  tl: Timeline;
  ix: MarkIndex;
}

function withFrontier(ls: LoadedScenario, interval: number): Pair {
  const m = buildScenario(ls);
  const tl = new Timeline(m, { interval, maxCheckpoints: 6 });
  const ix = new MarkIndex();
  tl.setFrontier(ix, MARK_KINDS);
  return { m, tl, ix };
}

type Op =
  | { op: 'step'; n: number; trace: 'none' | 'some' | 'all' }
  | { op: 'back'; k: number }
  | { op: 'goto'; at: number }
  | { op: 'runUntil'; kinds: TraceKind[]; budget: number }
  | { op: 'runUntilFn'; vector: number; budget: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('step' as const), n: fc.integer({ min: 0, max: 700 }), trace: fc.constantFrom('none' as const, 'some' as const, 'all' as const) }),
  fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: 900 }) }),
  fc.record({ op: fc.constant('goto' as const), at: fc.integer({ min: 0, max: 12_000 }) }),
  fc.record({
    op: fc.constant('runUntil' as const),
    kinds: fc.subarray(['ring/change', 'io/port', 'cpu/exception', 'tlb/flush', 'mmu/walk', 'cpu/halt'] as TraceKind[], { minLength: 1 }),
    budget: fc.integer({ min: 1, max: 3000 }),
  }),
  fc.record({ op: fc.constant('runUntilFn' as const), vector: fc.constantFrom(14, 0x20, 0x80), budget: fc.integer({ min: 1, max: 5000 }) }),
);

const SOME: TraceKind[] = ['cpu/insn', 'ring/change', 'io/port'];

/** Applies an op; returns what a caller of the timeline sees (its result and the events of its sink). */
function apply(tl: Timeline, op: Op): unknown {
  switch (op.op) {
    case 'step': {
      if (op.trace === 'none') return tl.step(op.n);
      const sink = new ArraySink();
      if (op.trace === 'some') tl.setTrace(sink, SOME);
      else tl.setTrace(sink);
      try {
        return [tl.step(op.n), sink.events];
      } finally {
        tl.setTrace(null);
      }
    }
    case 'back':
      return tl.back(op.k);
    case 'goto':
      return tl.goto(op.at);
    case 'runUntil':
      return tl.runUntil(op.kinds, op.budget);
    case 'runUntilFn':
      return tl.runUntil((e: TraceEvent) => (e.kind === 'cpu/exception' || e.kind === 'cpu/interrupt') && e.vector === op.vector, op.budget);
  }
}

describe('the frontier index is the run’s, however the run was made', () => {
  it.each(SCENARIOS)('%s: any sequence of calls gives the straight run’s marks up to the furthest step', (_name, ls) => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.constantFrom(1, 37, 500), (ops, interval) => {
        const a = withFrontier(ls, interval);
        for (const op of ops) apply(a.tl, op);
        expect(marksOf(a.ix)).toEqual(straight(ls, a.tl.furthest));
      }),
      { numRuns: 25 },
    );
  });

  it.each(SCENARIOS)('%s: with a frontier the timeline answers, traces and ends up exactly as without', (_name, ls) => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 8 }), (ops) => {
        const a = withFrontier(ls, 37);
        const b = buildScenario(ls);
        const tb = new Timeline(b, { interval: 37, maxCheckpoints: 6 });
        for (const op of ops) {
          const ra = apply(a.tl, op);
          const rb = apply(tb, op);
          expect(ra).toEqual(rb);
          expect(a.tl.current).toBe(tb.current);
          expect(a.tl.furthest).toBe(tb.furthest);
        }
        expect(captureMachine(a.m)).toEqual(captureMachine(b));
        expect(a.tl.checkpointSteps()).toEqual(tb.checkpointSteps());
      }),
      { numRuns: 12 },
    );
  });

  it('step by step, step(n), goto past the end and runUntil each give the same index of the timer example', () => {
    const ls = example('timer', (j) => {
      j.devices!.timer!.period = 97;
    });
    const target = 3000;
    const want = straight(ls, target);
    expect(want.filter((m) => m.kind === 'cpu/interrupt').length).toBeGreaterThan(20);

    const one = withFrontier(ls, 50);
    for (let i = 0; i < target; i++) one.tl.step(1);
    const bulk = withFrontier(ls, 50);
    bulk.tl.step(target);
    const jump = withFrontier(ls, 50);
    jump.tl.goto(target);
    const run = withFrontier(ls, 50);
    let r: RunUntilResult;
    do r = run.tl.runUntil('cpu/interrupt', target - run.tl.current);
    while (r.end === 'found' && run.tl.current < target);
    run.tl.goto(target);
    for (const p of [one, bulk, jump, run]) {
      expect(p.tl.furthest).toBe(target);
      expect(marksOf(p.ix)).toEqual(want);
    }
  });

  it('going back leaves the index alone: it is of the run, not of the current step', () => {
    const ls = example('page-fault');
    const p = withFrontier(ls, 20);
    p.tl.step(200);
    const v = p.ix.version;
    const before = marksOf(p.ix);
    p.tl.goto(3);
    p.tl.back(2);
    p.tl.step(150);
    p.tl.runUntil('io/port', 40);
    expect(p.ix.version).toBe(v);
    expect(marksOf(p.ix)).toEqual(before);
  });

  it('refuses a frontier on the TLB path', () => {
    const tl = new Timeline(buildScenario(example('syscalls')));
    expect(() => tl.setFrontier(new MarkIndex(), ['ring/change', 'mmu/walk'])).toThrow(/frontier sink cannot trace/);
    expect(() => tl.setFrontier(null, ['tlb/lookup'])).not.toThrow();
  });
});

describe('an edit truncates the index to the run kept', () => {
  const ls = example('timer', (j) => {
    j.devices!.timer!.period = 97;
  });

  it('an edit that changes nothing, then the same steps again, gives the same index', () => {
    for (const at of [0, 1, 97, 98, 194, 1000]) {
      const p = withFrontier(ls, 50);
      p.tl.step(2000);
      p.tl.goto(at);
      p.tl.edited();
      // The marks before the edit, and those of arriving at its step (a tick delivered there).
      expect(marksOf(p.ix)).toEqual(straight(ls, at));
      p.tl.goto(2000);
      expect(marksOf(p.ix)).toEqual(straight(ls, 2000));
    }
  });

  it('after a real edit the index is the old run up to the edit, then the new one', () => {
    const at = 500;
    const p = withFrontier(ls, 50);
    p.tl.step(2000);
    p.tl.goto(at);
    // The edit: the timer's period becomes 1000 steps (the next tick moves).
    p.m.cpu.state.timer.period = 1000;
    p.tl.edited();
    p.tl.goto(2500);

    const q = buildScenario(ls);
    const expected = new MarkIndex();
    q.setTrace(expected, MARK_KINDS);
    q.run(at);
    q.cpu.state.timer.period = 1000;
    q.run(2500 - at);
    expect(marksOf(p.ix)).toEqual(marksOf(expected));
    expect(captureMachine(p.m)).toEqual(captureMachine(q));
  });
});
