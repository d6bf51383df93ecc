import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { COMPARE_CONFIGS, configure, isSoftware, type CompareConfig, type Raw } from '../emu/hv/compare.ts';
import { HvMachine } from '../emu/hv/hv-machine.ts';
import type { Machine } from '../emu/machine/machine.ts';
import { buildScenario } from '../emu/scenario/build.ts';
import { loadScenario } from '../emu/scenario/migrate.ts';
import workload from '../emu/scenario/examples/mm-workload.json';
import syscalls from '../emu/scenario/examples/syscalls.json';
import btAdaptive from '../emu/scenario/examples/bt-adaptive.json';
import popfTrap from '../emu/scenario/examples/popf-trap.json';
import redPill from '../emu/scenario/examples/red-pill.json';
import { ArraySink, type TraceEvent } from '../emu/trace/events.ts';
import { Timeline } from '../emu/trace/timeline.ts';
import { InThreadClient } from './in-thread.ts';
import { createLabHandler } from './lab.worker.ts';
import { PairSession, sideFigures } from './pair.ts';
import type { PairSideView, PairView } from './pair-types.ts';
import type { Json, LabMessage } from './protocol.ts';
import { vmFieldValues, vmView } from './vm-view.ts';

/** The scenarios the pair is checked on: the 64-bit memory workload (hardware configurations only), and 32-bit guests the software monitors run too. */
const SCENARIOS = { workload, btAdaptive, popfTrap, redPill } as unknown as Record<string, Raw>;
type ScenarioName = keyof typeof SCENARIOS & string;

function build(scenario: ScenarioName, c: CompareConfig): { m: Machine; name: string; mode: 'prot32' | 'long64' } {
  const r = loadScenario(configure(SCENARIOS[scenario]!, c));
  if (!r.ok) throw new Error(`${c.id}: ${JSON.stringify(r.errors)}`);
  return { m: buildScenario(r.loaded), name: r.loaded.scenario.name, mode: r.loaded.scenario.mode };
}

/** The guest's registers, wherever the configuration keeps them. */
function regs(m: Machine): unknown {
  if (m instanceof HvMachine) return m.guestResult().regs;
  m.cpu.syncFlags();
  const s = m.cpu.state;
  return { lo: [...s.regLo], hi: [...s.regHi], rip: [s.ripLo, s.ripHi], rflags: s.rflags, cr3: [s.cr3Lo, s.cr3Hi] };
}

/** A straight run of configuration `c` to `step` (forward only, no checkpoint restored), read as the pair reads a side. */
function straight(scenario: ScenarioName, c: CompareConfig, step: number): { side: Omit<PairSideView, 'endAt' | 'end' | 'ended'>; regs: unknown; reached: number } {
  const { m, name, mode } = build(scenario, c);
  const t = new Timeline(m, { interval: 1e9 });
  let before: Map<string, string> | null = null;
  let events: TraceEvent[] = [];
  if (step > 0) t.step(step - 1);
  if (step > 0 && m instanceof HvMachine && t.current === step - 1) {
    before = vmFieldValues(m);
    const sink = new ArraySink();
    t.setTrace(sink, ['vm/exit', 'vm/field', 'vm/handle', 'vm/entry', 'vm/end']);
    t.step(1);
    t.setTrace(null);
    events = sink.events;
  } else if (step > 0) t.step(1);
  const { counters, rip, cpl } = sideFigures(c, m);
  return {
    side: { config: c, step: t.current, rip, cpl, counters, vm: m instanceof HvMachine ? vmView(m, name, mode, before) : null, events },
    regs: regs(m),
    reached: t.current,
  };
}

/** The step each configuration's guest ends at in each scenario (run straight far past it). */
const ends = new Map<string, number>();
function endOf(scenario: ScenarioName, c: CompareConfig): number {
  const key = `${scenario}/${c.id}`;
  if (!ends.has(key)) ends.set(key, straight(scenario, c, 50_000).reached);
  return ends.get(key)!;
}

type Op = { op: 'step'; n: number } | { op: 'back'; k: number } | { op: 'goto'; at: number };
/** Ops over a run of about `len` steps. */
const opArb = (len: number): fc.Arbitrary<Op> => fc.oneof(
  fc.record({ op: fc.constant('step' as const), n: fc.integer({ min: 0, max: Math.ceil(len / 3) }) }),
  fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: Math.ceil(len / 4) }) }),
  fc.record({ op: fc.constant('goto' as const), at: fc.integer({ min: 0, max: len }) }),
);
const HARDWARE = COMPARE_CONFIGS.filter((c) => !isSoftware(c));
const SOFTWARE = COMPARE_CONFIGS.filter((c) => isSoftware(c));
const pairs: [CompareConfig, CompareConfig][] = [];
for (const a of HARDWARE) for (const b of HARDWARE) if (a !== b) pairs.push([a, b]);
/** Pairs with a software monitor on at least one side. */
const softPairs: [CompareConfig, CompareConfig][] = [];
for (const a of COMPARE_CONFIGS) for (const b of COMPARE_CONFIGS) if (a !== b && (isSoftware(a) || isSoftware(b))) softPairs.push([a, b]);

function check(scenario: ScenarioName, view: PairView, configs: [CompareConfig, CompareConfig], target: number): void {
  const want = configs.map((c) => Math.min(target, endOf(scenario, c)));
  expect(view.sides.map((s) => s.step)).toEqual(want);
  expect(view.step).toBe(Math.max(...want));
  view.sides.forEach((s, i) => {
    const c = configs[i]!;
    const ref = straight(scenario, c, s.step);
    const { endAt: _e, end: _r, ended, ...rest } = s;
    expect(rest).toEqual(ref.side);
    expect(ended).toBe(s.step === endOf(scenario, c) && s.endAt === endOf(scenario, c));
    if (s.endAt !== null) expect(s.endAt).toBe(endOf(scenario, c));
  });
}

/** Loads the pair and applies the ops, checking each view against straight runs. */
function walk(scenario: ScenarioName, configs: [CompareConfig, CompareConfig], ops: Op[], interval: number): void {
  const p = new PairSession({ interval });
  const loaded = p.load(SCENARIOS[scenario] as unknown as Json, [configs[0].id, configs[1].id]);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  check(scenario, loaded.view, configs, 0);
  let pos = 0;
  for (const o of ops) {
    const target = o.op === 'step' ? pos + o.n : o.op === 'back' ? Math.max(0, pos - o.k) : o.at;
    const v = o.op === 'step' ? p.step(o.n) : o.op === 'back' ? p.back(o.k) : p.goto(o.at);
    check(scenario, v, configs, target);
    pos = v.step;
  }
}

describe('the side-by-side pair', () => {
  it('keeps each side equal to a straight run of its configuration to the same step, after any steps, backs and gotos', () => {
    fc.assert(
      fc.property(fc.constantFrom(...pairs), fc.array(opArb(1200), { minLength: 1, maxLength: 5 }), fc.integer({ min: 7, max: 300 }), (configs, ops, interval) => {
        walk('workload', configs, ops, interval);
      }),
      { numRuns: 12 },
    );
  }, 240_000);

  it('does so with trap-and-emulate or binary translation on a side (their traps, callouts, translation cache and views)', () => {
    fc.assert(
      fc.property(fc.constantFrom<ScenarioName>('btAdaptive', 'popfTrap', 'redPill'), fc.constantFrom(...softPairs), fc.array(opArb(160), { minLength: 1, maxLength: 6 }), fc.integer({ min: 3, max: 60 }), (scenario, configs, ops, interval) => {
        walk(scenario, configs, ops, interval);
      }),
      { numRuns: 25 },
    );
  }, 240_000);

  it('names a software side\u2019s entries as its traps and callouts, with the translation cache under binary translation', () => {
    const p = new PairSession();
    const r = p.load(btAdaptive as unknown as Json, ['te', 'bt']);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const v = p.step(100_000);
    expect(v.ended).toBe(true);
    const [te, bt] = v.sides;
    expect(te.vm?.technique).toBe('trap-emulate');
    expect(te.vm?.te).toBeDefined();
    expect(bt.vm?.bt).toBeDefined();
    expect(te.counters.monitor).toEqual({ traps: te.counters.exits.total, callouts: 0 });
    expect(bt.counters.monitor!.callouts).toBeGreaterThan(0);
    expect(bt.counters.exits.byName['page-table write']).toBe(7);
    expect(bt.counters.bt!.blocks).toBe(bt.vm!.bt!.stats.translated);
    expect(bt.counters.bt!.hits).toBe(bt.vm!.bt!.stats.hits);
    expect(te.counters.bt).toBeUndefined();
    // Both guests halt; the last step's entry into the monitor is HLT's (a trap under trap-and-emulate, a callout under binary translation).
    expect(te.events.find((e) => e.kind === 'vm/exit')).toMatchObject({ trap: true, label: 'hlt' });
    expect(bt.events.find((e) => e.kind === 'vm/exit')).toMatchObject({ trap: true, label: 'hlt' });
    // A scenario the monitors cannot run is refused with the validator's reason, naming the configuration.
    expect(p.load(workload as unknown as Json, ['vtx-nested', 'bt'])).toMatchObject({ ok: false, errors: [{ path: 'paging', message: expect.stringMatching(/^bt: bt runs a 32-bit protected-mode guest/) }] });
  });

  it('has both sides end where their guests halt, says why, and narrates the hypervisor part of a step', () => {
    const p = new PairSession();
    const r = p.load(workload as unknown as Json, ['vtx-nested', 'svm-nested']);
    expect(r.ok).toBe(true);
    const v = p.step(100_000);
    expect(v.ended).toBe(true);
    for (const s of v.sides) {
      expect(s.end).toBe('hlt');
      expect(s.ended).toBe(true);
      expect(s.counters.exits.total).toBeGreaterThan(0);
      expect(s.events.some((e) => e.kind === 'vm/exit')).toBe(true);
      expect(s.vm?.technique).toBe(s.config.technique);
    }
    // The last step's exit is HLT under each vendor's name.
    expect(Object.keys(v.sides[0].counters.exits.byName)).toEqual(['EXIT_REASON_HLT']);
    expect(Object.keys(v.sides[1].counters.exits.byName)).toEqual(['VMEXIT_HLT']);
    // Nested paging walks two dimensions: far more references per walk than the 4 of a native walk.
    for (const s of v.sides) expect(s.counters.refsPerWalk).toBeGreaterThan(8);
    const back = p.back(10);
    expect(back.sides.map((s) => s.step)).toEqual(v.sides.map((s) => s.step - 10));
    expect(back.ended).toBe(false);
  });

  it('refuses unknown configurations and scenarios with several VMs with errors, keeping the pair it had', () => {
    const p = new PairSession();
    expect(p.load(workload as unknown as Json, ['vtx-nested', 'nope'])).toMatchObject({ ok: false, errors: [{ path: 'configs' }] });
    expect(() => p.step(1)).toThrow(/no pair/);
    expect(p.load({ ...(workload as object), vms: [] } as unknown as Json, ['vtx-nested', 'svm-nested'])).toMatchObject({ ok: false, errors: [{ path: 'vms' }] });
    expect(p.load(workload as unknown as Json, ['bare', 'svm-nested']).ok).toBe(true);
    expect(p.step(5).step).toBe(5);
    expect(p.load(workload as unknown as Json, ['bare', 'bogus']).ok).toBe(false);
    expect(p.step(1).step).toBe(6);
    expect(() => p.step(-1)).toThrow(RangeError);
  });
});

describe('the pair call', () => {
  it('queues calls behind the chunk, answers as the pair does, and leaves the loaded scenario where it was', async () => {
    const got: LabMessage[] = [];
    const handle = createLabHandler((m) => got.push(m));
    handle({ id: 1, type: 'load', scenario: syscalls as unknown as Json });
    handle({ id: 2, type: 'step', n: 3 });
    handle({ id: 3, type: 'pair', op: { kind: 'load', scenario: workload as unknown as Json, configs: ['vtx-nested', 'svm-nested'] } });
    handle({ id: 4, type: 'pair', op: { kind: 'step', n: 40 } });
    handle({ id: 5, type: 'step', n: 1 });
    await vi.waitFor(() => expect(got).toHaveLength(5));
    const by = (id: number): LabMessage => got.find((m) => 'id' in m && m.id === id)!;
    expect(by(4)).toMatchObject({ kind: 'result', type: 'pair', result: { ok: true, view: { step: 40 } } });
    expect(by(5)).toMatchObject({ kind: 'result', type: 'step', result: { step: 4 } });

    const c = new InThreadClient();
    await c.load(syscalls as unknown as Json);
    await c.step(2);
    const r = await c.pair({ kind: 'load', scenario: workload as unknown as Json, configs: ['svm-nested', 'vtx-nested'] });
    expect(r.ok && r.view.sides.map((s) => s.config.id)).toEqual(['svm-nested', 'vtx-nested']);
    const g = await c.pair({ kind: 'goto', step: 120 });
    expect(g.ok && g.view.sides.map((s) => s.step)).toEqual([120, 120]);
    expect((await c.step(1)).step).toBe(3);
    await expect(c.pair({ kind: 'back', k: -2 })).rejects.toThrow(/back count/);
  });
});
