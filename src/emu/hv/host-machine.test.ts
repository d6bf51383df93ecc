/**
 * The multi-VM host under the Timeline (host-machine.ts), with the two-vms examples (a 32-bit and
 * a 64-bit guest with their PC devices, timer ticks, HLT as idle, preemption): every step is
 * reachable exactly, any mix of run, goto and back equals a straight run (all of RAM, registers,
 * every VM's records, consoles and report, the switches), and the vm/* events carry the right VM.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario, type LoadedScenario } from '../scenario/index.ts';
import { ArraySink, TRACE_KINDS, type TraceEvent } from '../trace/events.ts';
import { Timeline } from '../trace/timeline.ts';
import { HostMachine } from './host-machine.ts';
import twoVms from '../scenario/examples/two-vms.json';
import twoVmsSvm from '../scenario/examples/two-vms-svm.json';

function load(json: unknown, quantum?: number): LoadedScenario {
  const j = JSON.parse(JSON.stringify(json)) as { hypervisor: { quantum: number } };
  if (quantum !== undefined) j.hypervisor.quantum = quantum;
  const r = loadScenario(j);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

function machine(ls: LoadedScenario): HostMachine {
  const m = buildScenario(ls) as unknown as HostMachine;
  expect(m).toBeInstanceOf(HostMachine);
  return m;
}

/** Everything that decides the future and everything the views read. */
function state(m: HostMachine): unknown {
  const st = m.cpu.state;
  let h = 0;
  for (let pa = 0; pa < m.mem.ramSize; pa += 4) h = (Math.imul(h, 31) + m.mem.read(pa, 4)) | 0;
  return {
    steps: st.steps, rip: st.ripLo, regs: [...st.regLo], rflags: st.rflags, ram: h, loaded: m.guestLoaded, tlb: m.mmu.tlb.entries(), misses: m.mmu.tlb.misses,
    report: m.host.report(), switches: m.host.switches.map((s) => ({ ...s })), idle: m.host.idleSteps,
    vms: m.guests.map((_, i) => ({
      console: m.console(i), ended: m.vmEnd(i),
      records: m.records(i).map((r) => ({ n: r.log.n, step: r.log.step, code: r.log.code, entry: r.entry, cycles: r.cycles, guestSteps: r.log.guestSteps })),
      ledger: m.host.vm(i).ledger.data(),
    })),
  };
}

function straight(ls: LoadedScenario, step: number): unknown {
  const m = machine(ls);
  m.run(step);
  return state(m);
}

type Op = { op: 'run'; n: number } | { op: 'goto'; at: number } | { op: 'back'; k: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('run' as const), n: fc.integer({ min: 0, max: 900 }) }),
  fc.record({ op: fc.constant('goto' as const), at: fc.integer({ min: 0, max: 9500 }) }),
  fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: 700 }) }),
);

describe.each([['vtx', twoVms], ['svm', twoVmsSvm]] as const)('the multi-VM host as a machine (%s)', (technique, json) => {
  // A short quantum: many switches within the steps the property explores.
  const ls = load(json, 300);

  it('runs both guests to their ends with their consoles, exits and switches', () => {
    const m = machine(load(json));
    expect(m.run(200_000)).toBe('hlt');
    expect([m.console(0), m.console(1)]).toEqual(['hi ticks', 'bbb']);
    expect([m.vmEnd(0), m.vmEnd(1)]).toEqual(['hlt', 'hypercall-exit']);
    const [a, b] = m.host.report();
    if (technique === 'vtx') {
      expect(a!.exits.EXIT_REASON_HLT!.code).toBe(12);
      expect(a!.exits.EXIT_REASON_IO_INSTRUCTION!.code).toBe(30);
      expect(b!.exits.EXIT_REASON_EXTERNAL_INTERRUPT!.count).toBe(12);
      expect(b!.exits.EXIT_REASON_INTERRUPT_WINDOW!.code).toBe(7);
      expect(b!.exits.EXIT_REASON_PREEMPTION_TIMER!.code).toBe(52);
    } else {
      expect(a!.exits.VMEXIT_HLT!.code).toBe(0x78);
      expect(b!.exits.VMEXIT_INTR!.count).toBeGreaterThanOrEqual(12);
      expect(b!.exits.VMEXIT_VINTR!.code).toBe(0x64);
    }
    expect(m.records(0).length).toBe(a!.exitTotal);
    expect(m.records(1).length).toBe(b!.exitTotal);
  });

  it('stops at every step asked for, also in the middle of a time slice', () => {
    const m = machine(ls);
    for (const n of [1, 7, 150, 299, 1, 1, 333, 1000]) {
      const at = m.cpu.state.steps;
      expect(m.run(n)).toBe('limit');
      expect(m.cpu.state.steps).toBe(at + n);
    }
    expect(state(m)).toEqual(straight(ls, m.cpu.state.steps));
  });

  it('any sequence of run, goto and back gives the machine of a straight run', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 50, max: 400 }), (ops, interval) => {
        const m = machine(ls);
        const tl = new Timeline(m as never, { interval, maxCheckpoints: 6 });
        for (const o of ops) {
          if (o.op === 'run') tl.step(o.n);
          else if (o.op === 'goto') tl.goto(o.at);
          else tl.back(o.k);
        }
        expect(state(m)).toEqual(straight(ls, tl.current));
      }),
      { numRuns: 12 },
    );
  });

  it('emits vm/* events with the VM they belong to, and vm/switch at each switch', () => {
    const m = machine(ls);
    const sink = new ArraySink();
    m.setTrace(sink, TRACE_KINDS.filter((k) => k.startsWith('vm/')));
    m.run(200_000);
    const ev = sink.events;
    const switches = ev.filter((e): e is Extract<TraceEvent, { kind: 'vm/switch' }> => e.kind === 'vm/switch');
    // Every switch but the first placement, at its step, from the VM that ran to the next.
    expect(switches.map((s) => [s.from, s.to])).toEqual(m.host.switches.slice(1).map((s) => [s.from, s.to]));
    // At the step of the exit that ended the slice: the switch comes right after that exit's events.
    for (const s of switches) {
      const k = ev.indexOf(s);
      const before = ev.slice(0, k).filter((e) => e.kind === 'vm/exit').at(-1);
      if (before?.kind === 'vm/exit' && before.vm === s.from && before.step === s.step) expect(ev.slice(ev.indexOf(before), k).every((e) => e.kind !== 'vm/entry')).toBe(true);
      else expect(m.host.switches.some((h) => h.step === s.step)).toBe(true);
    }
    expect(switches.length).toBeGreaterThan(4);
    for (const vm of [0, 1]) {
      const exits = ev.filter((e) => e.kind === 'vm/exit' && e.vm === vm);
      expect(exits.length).toBe(m.records(vm).length);
    }
    const ends = ev.filter((e): e is Extract<TraceEvent, { kind: 'vm/end' }> => e.kind === 'vm/end');
    expect(ends.map((e) => [e.vm, e.why])).toEqual([[0, 'hlt'], [1, 'hypercall-exit']]);
    // Between a VM's exit and its handle come only its own field accesses.
    const i = ev.findIndex((e) => e.kind === 'vm/exit' && e.vm === 1);
    const j = ev.findIndex((e, k) => k > i && e.kind === 'vm/handle');
    expect(ev.slice(i + 1, j).every((e) => e.kind === 'vm/field' && e.vm === 1)).toBe(true);
    expect(ev[j]).toMatchObject({ vm: 1 });
  });

  it('runUntil vm/switch stops right after each switch', () => {
    const m = machine(ls);
    const tl = new Timeline(m as never, { interval: 200 });
    const ref = machine(ls);
    const sink = new ArraySink();
    ref.setTrace(sink, ['vm/switch']);
    ref.run(200_000);
    const want = sink.events.map((s) => s.step);
    const seen: number[] = [];
    for (let k = 0; k < 5; k++) {
      const r = tl.runUntil('vm/switch', 200_000);
      if (r.event === null) break;
      seen.push(r.event.step);
    }
    expect(seen).toEqual(want.slice(0, seen.length));
    expect(seen.length).toBe(5);
  });
});
