/**
 * ViewState.vm.hosting (vm-view.ts hostingView) for the hosted-two-vms and bare-metal-two-vms
 * examples through the session: a function of the step; the step's paths are exactly the step's
 * `host/path` events and the host process's turn starts where its `host/run` event is; the other
 * arrangement's path is the one the other example's run took for the same exit; the totals are
 * the ledgers' and the paths'; the cycle groups, the host OS's among them, add up to the total.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import hosted from '../emu/scenario/examples/hosted-two-vms.json' with { type: 'json' };
import bareMetal from '../emu/scenario/examples/bare-metal-two-vms.json' with { type: 'json' };
import type { TraceEvent } from '../emu/trace/events.ts';
import { LabSession, prepareLoad } from './session.ts';
import type { Json, ViewState } from './protocol.ts';
import type { VmHostingView, VmHostPath, VmView } from './vm-types.ts';

beforeAll(() => prepareLoad(hosted));

function session(scenario: unknown): LabSession {
  const s = new LabSession({ interval: 500 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

/**
 * The views where the run has host/path or host/run events, in order (run to the next such event
 * until the VMs end), and one view just after each (a step without any, unless the next stop).
 */
function eventViews(scenario: unknown): { stops: ViewState[]; between: ViewState[]; s: LabSession } {
  const s = session(scenario);
  const stops: ViewState[] = [];
  for (;;) {
    const r = s.runUntil(['host/path', 'host/run'], 1_000_000);
    if (r.event === null) break;
    stops.push(r.view);
  }
  const at = new Set(stops.map((v) => v.step));
  const between = stops.filter((v) => !at.has(v.step + 1) && v.end === 'limit').map((v) => s.goto(v.step + 1));
  return { stops, between, s };
}

let hostedRun: ReturnType<typeof eventViews>;
let bareRun: ReturnType<typeof eventViews>;
beforeAll(() => {
  hostedRun = eventViews(hosted);
  bareRun = eventViews(bareMetal);
});

const hv = (v: ViewState): VmHostingView => v.vm!.hosting!;
const pathOf = (p: VmHostPath) => ({ vm: p.vm, name: p.name, where: p.where, output: p.output, hops: p.hops });
const sum = (c: VmView['cycles']): number => c.guest + c.memory + c.transitions + c.fieldAccess + c.handlers + (c.hostOs ?? 0);

describe.each([['hosted', () => hostedRun], ['bare-metal', () => bareRun]] as const)('ViewState.vm.hosting, %s', (hosting, run) => {
  it('is there at every step, of the arrangement the scenario names; the step\u2019s paths are its host/path events, none between', () => {
    const { stops, between } = run();
    expect(stops.length).toBeGreaterThan(40);
    for (const v of stops) {
      const h = hv(v);
      expect(h.hosting).toBe(hosting);
      const events = v.events.filter((e): e is Extract<TraceEvent, { kind: 'host/path' }> => e.kind === 'host/path');
      expect(h.paths.map(pathOf), `step ${v.step}`).toEqual(events.map((e) => ({ vm: e.vm, name: e.name, where: e.where, output: e.output, hops: e.hops })));
      if (h.paths.length > 0) expect(h.last).toEqual(h.paths.at(-1));
    }
    for (const v of between) {
      expect(hv(v).paths, `step ${v.step}`).toEqual([]);
      expect(hv(v).last).not.toBeNull();
    }
  });

  it('keeps totals that are the ledgers\u2019 and the paths\u2019, and cycle groups that add up to the total', () => {
    const { stops } = run();
    let seen = 0;
    let world = 0;
    let crossings = 0;
    let calls = 0;
    for (const v of stops) {
      const h = hv(v);
      for (const p of h.paths) {
        world += p.hops.filter((x) => x === 'world-out' || x === 'world-in').length;
        crossings += p.hops.filter((x) => x === 'to-user' || x === 'from-user').length;
        calls += p.hops.filter((x) => x === 'host-syscall').length;
      }
      seen += h.paths.length;
      expect([h.worldSwitches, h.userCrossings, h.syscalls], `step ${v.step}`).toEqual([world, crossings, calls]);
      expect(h.byWhere.monitor + h.byWhere.device + h.byWhere.interrupt + h.byWhere.idle).toBe(seen);
      expect(seen).toBe(v.vm!.exitTotal);
      // The host OS's cycle group exists where there is a host OS.
      expect(v.vm!.cycles.hostOs !== undefined).toBe(hosting === 'hosted');
      expect(sum(v.vm!.cycles)).toBe(v.vm!.cycles.total);
    }
    const last = stops.at(-1)!;
    const end = hv(last);
    expect(last.vm!.vms.map((g) => g.state)).toEqual(['ended', 'ended']);
    expect(end.byWhere.device).toBe(20);
    expect(end.output).toBe(20);
    if (hosting === 'bare-metal') {
      expect([end.worldSwitches, end.userCrossings, end.syscalls, end.hostSteps, end.hostTurns]).toEqual([0, 0, 0, 0, 0]);
      expect(stops.every((v) => hv(v).running === null)).toBe(true);
    } else {
      expect(end.syscalls).toBe(20);
      expect(last.vm!.cycles.hostOs).toBeGreaterThan(0);
    }
  });
});

describe('hosted-two-vms: the host process\u2019s turns', () => {
  it('has the CPU from its host/run event for the turn\u2019s steps, while no VM is on the CPU, and counts its steps and turns', () => {
    const { stops, s } = hostedRun;
    let turns = 0;
    let starts = 0;
    for (const v of stops) {
      const h = hv(v);
      const runs = v.events.filter((e): e is Extract<TraceEvent, { kind: 'host/run' }> => e.kind === 'host/run');
      turns += runs.length;
      expect(h.hostTurns, `step ${v.step}`).toBe(turns);
      if (runs.length === 0) continue;
      starts++;
      // The turn began in the step told (or the one the exit before it closed), and has the CPU now.
      const r = h.running!;
      expect([r.proc, r.steps]).toEqual([runs[0]!.proc, runs[0]!.steps]);
      expect(v.step - r.from).toBe(r.done);
      // It began at the step its event was told at: the turn after a halt too starts in the call that idled the last vCPU.
      expect(r.done).toBe(0);
      for (const at of [v.step, r.from + r.steps - 1]) {
        const w = s.goto(at);
        expect(hv(w).running, `step ${at}`).toEqual({ ...r, done: at - r.from, left: r.from + r.steps - at });
        expect(w.vm!.world).toBe('host');
        expect(w.vm!.vms.some((g) => g.state === 'running')).toBe(false);
        expect(hv(w).hostSteps - hv(v).hostSteps).toBe(at - v.step);
      }
      // Its turn over, the CPU is a VM's or the next host process's.
      const after = hv(s.goto(r.from + r.steps)).running;
      if (after !== null) expect(after.from).toBe(r.from + r.steps);
    }
    expect(starts).toBeGreaterThan(2);
  });
});

describe('the other arrangement\u2019s path', () => {
  it('is the path the other example\u2019s run took for the same exit of the printer (whose exits do not depend on the host\u2019s processes)', () => {
    const printer = (views: ViewState[]): VmHostPath[] => views.flatMap((v) => hv(v).paths).filter((p) => p.vm === 0);
    const h = printer(hostedRun.stops);
    const b = printer(bareRun.stops);
    expect(h.map((p) => [p.n, p.name, p.where, p.output, p.preempt])).toEqual(b.map((p) => [p.n, p.name, p.where, p.output, p.preempt]));
    expect(h.length).toBeGreaterThan(12);
    h.forEach((p, i) => {
      expect(p.other).toEqual(b[i]!.hops);
      expect(b[i]!.other).toEqual(p.hops);
    });
  });
});

describe('ViewState.vm.hosting is a function of the step', () => {
  it('gives the same view by goto and back as running to the step did', () => {
    const s = session(hosted);
    const stops = hostedRun.stops;
    for (const v of [...stops.slice(0, 6), ...stops.slice(-4)].reverse()) expect(s.goto(v.step).vm!.hosting, `goto ${v.step}`).toEqual(hv(v));
    const v = stops[20]!;
    s.goto(v.step + 3);
    expect(s.back(3).vm!.hosting).toEqual(hv(v));
  });
});
