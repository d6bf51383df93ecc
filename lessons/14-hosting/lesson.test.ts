/**
 * Lesson 14 against its machine and the real emulator: every state reachable; a scripted run to
 * completion with full marks on its five examples; what each wait step's view shows (a device
 * exit's path bare-metal and hosted, the host process's turn, the system call into the shared
 * kernel, the panic, beta's VM's fault with alpha's VM running) checked against the run; every
 * number the student-facing text states found among the runs' figures (the two hosting examples
 * run on the multi-VM host with their events traced and the ticker's 8254 read; the partitioning
 * runner for containers and VMs); both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import { loadScenario } from '../../src/emu/scenario/migrate.ts';
import { buildScenario } from '../../src/emu/scenario/index.ts';
import { ArraySink, type TraceEvent } from '../../src/emu/trace/events.ts';
import type { HostMachine } from '../../src/emu/hv/host-machine.ts';
import { runPartitioning } from '../../src/emu/hv/containers/run.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import bareJson from '../../src/emu/scenario/examples/bare-metal-two-vms.json';
import hostedJson from '../../src/emu/scenario/examples/hosted-two-vms.json';
import containersJson from '../../src/emu/scenario/examples/containers.json';
import crashJson from '../../src/emu/scenario/examples/containers-crash.json';
import vmCrashJson from '../../src/emu/scenario/examples/vms-crash.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

/** Beta's page fault in vms-crash comes about 19,900 steps in, the containers' panic halt about 18,200: each wait runs to its event's kind (runUntil). */
const WAIT_BUDGET = 20_500;
const played = playScripted({
  lesson,
  scenario: bareJson,
  scenarioId: 'bare',
  waitBudget: WAIT_BUDGET,
  others: { bare: bareJson, hosted: hostedJson, containers: containersJson, crash: crashJson, vmcrash: vmCrashJson },
  runTo: true,
});

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

type Ev<K extends TraceEvent['kind']> = Extract<TraceEvent, { kind: K }>;
const of = <K extends TraceEvent['kind']>(events: readonly TraceEvent[], kind: K): Ev<K>[] => events.filter((e): e is Ev<K> => e.kind === kind);

/** The ticker is VM 1 in both hosting examples. */
const TICKER = 1;

interface HostingRun {
  m: HostMachine;
  events: TraceEvent[];
  /** The ticker's 8254: rising edges of OUT 0 after each step (index: the CPU's step count). */
  edges: number[];
}

function runHosting(name: 'bare-metal-two-vms' | 'hosted-two-vms'): HostingRun {
  const r = loadScenario(JSON.parse(readFileSync(join(import.meta.dirname, '../../src/emu/scenario/examples', `${name}.json`), 'utf8')));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded) as unknown as HostMachine;
  const sink = new ArraySink();
  m.setTrace(sink, ['vm/exit', 'vm/handle', 'vm/entry', 'vm/field', 'vm/switch', 'vm/end', 'host/path', 'host/run', 'cpu/interrupt']);
  const edges: number[] = [0];
  for (let guard = 0; guard < r.loaded.maxSteps; guard++) {
    const end = m.run(1);
    edges[m.cpu.state.steps] = m.host.vm(TICKER).platform!.pit.snapshot().channels[0]!.edges;
    if (end === 'hlt') break;
  }
  return { m, events: sink.events, edges };
}

const bare = runHosting('bare-metal-two-vms');
const hosted = runHosting('hosted-two-vms');
const devicePath = (run: HostingRun): Ev<'host/path'> => of(run.events, 'host/path').find((p) => p.where === 'device')!;
const worldSwitches = (p: Ev<'host/path'>): number => p.hops.filter((h) => h === 'world-out' || h === 'world-in').length;
/** The edges the ticker's 8254 had made by step s (its state is brought up to date when the ticker is entered). */
const edgesBy = (run: HostingRun, s: number): number => run.edges.slice(0, s + 1).reduce((a, b) => Math.max(a, b ?? 0), 0);
const tickerInterrupts = (run: HostingRun): number => {
  // cpu/interrupt events come from the guest that has the CPU: the ticker's are those after a switch to it.
  let on = 0;
  let n = 0;
  for (const e of run.events) {
    if (e.kind === 'vm/switch') on = e.to;
    else if (e.kind === 'cpu/interrupt' && e.vector === 0x20 && on === TICKER) n++;
  }
  return n;
};

/** The host process's turn that delays the ticker: the first after the ticker has halted with its timer running. */
const hostRuns = of(hosted.events, 'host/run');
const turn = hostRuns[1]!;
const tickerHalt = of(hosted.events, 'vm/exit').filter((e) => e.vm === TICKER && e.name === 'EXIT_REASON_HLT' && e.step < turn.step).at(-1)!;
const backOn = of(hosted.events, 'vm/switch').find((s) => s.to === TICKER && s.step > turn.step)!;
/** The interrupts injected into the ticker when it runs again: those before its next exit. */
const injectedOnReturn = ((): number => {
  const i = hosted.events.indexOf(backOn);
  let n = 0;
  for (const e of hosted.events.slice(i + 1)) {
    if (e.kind === 'vm/exit') break;
    if (e.kind === 'cpu/interrupt' && e.vector === 0x20) n++;
  }
  return n;
})();
/** The ticker's 8254 count: the two bytes it writes to port 0x40 (low, then high). */
const pitCount = ((): number => {
  const bytes = of(hosted.events, 'vm/handle').filter((h) => h.vm === TICKER && h.note.startsWith('out port 0x40 ')).map((h) => Number(h.note.split('value ')[1]));
  expect(bytes).toHaveLength(2);
  return bytes[0]! + bytes[1]! * 256;
})();
const vmcs = (run: HostingRun) => ({
  entries: of(run.events, 'vm/entry').length,
  launches: of(run.events, 'vm/entry').filter((e) => e.instruction === 'VMLAUNCH').length,
  resumes: of(run.events, 'vm/entry').filter((e) => e.instruction === 'VMRESUME').length,
  reads: of(run.events, 'vm/field').filter((e) => e.op === 'read').length,
  writes: of(run.events, 'vm/field').filter((e) => e.op === 'write').length,
});

const containers = runPartitioning({ as: 'containers' });
const containersCrash = runPartitioning({ as: 'containers', crash: true });
const vmsCrash = runPartitioning({ as: 'vms', crash: true });
const ioPerByte = ((): number => {
  const u = vmsCrash.units[0]!;
  return ((u.exits.byName.EXIT_REASON_IO_INSTRUCTION ?? 0) - 2) / u.console.length;
})();

describe('lesson 14-hosting: the runs', () => {
  it('a device exit: 4 hops bare-metal, 9 with 2 world switches hosted; the same consoles', () => {
    expect(devicePath(bare).hops).toEqual(['exit', 'device-model', 'driver', 'entry']);
    expect(devicePath(hosted).hops).toEqual(['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver', 'from-user', 'world-in', 'entry']);
    expect(worldSwitches(devicePath(bare))).toBe(0);
    expect(worldSwitches(devicePath(hosted))).toBe(2);
    for (const p of of(hosted.events, 'host/path').filter((x) => x.where === 'device')) expect(p.hops.filter((h) => h === 'host-syscall')).toHaveLength(1);
    expect([hosted.m.console(0), hosted.m.console(1)]).toEqual([bare.m.console(0), bare.m.console(1)]);
  });

  it('the host process\u2019s second turn: 2000 steps from step 6035; the ticker halted at 4034, back at 8035 with one interrupt for 4 edges', () => {
    expect(hostRuns[0]!.step).toBeLessThan(tickerHalt.step); // the first turn came before the ticker started its timer
    expect([turn.step, turn.steps]).toEqual([6035, 2000]);
    expect(tickerHalt.step).toBe(4034);
    expect(backOn.step).toBe(turn.step + turn.steps);
    expect(backOn.step).toBe(8035);
    expect(pitCount).toBe(1000);
    expect(edgesBy(hosted, tickerHalt.step)).toBe(0);
    expect(edgesBy(hosted, backOn.step + 1) - edgesBy(hosted, tickerHalt.step)).toBe(4);
    expect(injectedOnReturn).toBe(1);
    // Over the whole run: the ticker counted 5 ticks; its 8254 rose 14 times hosted, 8 times bare-metal.
    expect([tickerInterrupts(hosted), tickerInterrupts(bare)]).toEqual([5, 5]);
    expect([edgesBy(hosted, hosted.edges.length), edgesBy(bare, bare.edges.length)]).toEqual([14, 8]);
  });

  it('the same VMCS work either way: 49 entries (2 VMLAUNCH, 47 VMRESUME), 373 VMREADs, 99 VMWRITEs', () => {
    expect(vmcs(hosted)).toEqual({ entries: 49, launches: 2, resumes: 47, reads: 373, writes: 99 });
    expect(vmcs(bare)).toEqual(vmcs(hosted));
  });

  it('containers: 16 system calls each, no exit, one kernel; as VMs two kernels and 2 I/O exits a byte; the crash stops both containers but one VM', () => {
    expect(containers.units.map((u) => [u.syscalls, u.exits.total])).toEqual([[16, 0], [16, 0]]);
    expect(containers.kernelsInMemory).toBe(1);
    expect(vmsCrash.kernelsInMemory).toBe(2);
    expect(ioPerByte).toBe(2);
    expect(containersCrash.units.map((u) => u.end.kind)).toEqual(['stopped', 'panic']);
    expect(containersCrash.units[0]!.end.step).toBe(containersCrash.units[1]!.end.step);
    expect(vmsCrash.units.map((u) => u.end.kind)).toEqual(['exited', 'panic']);
    expect(vmsCrash.units[0]!.end.exitCode).toBe(0);
    expect(vmsCrash.units[0]!.end.step!).toBeGreaterThan(vmsCrash.units[1]!.end.step!);
  });
});

describe('lesson 14-hosting: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '14-hosting', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  }, 300_000);

  it('bare-path and hosted-path: the view draws the device exit\u2019s path, 4 hops and 9, each beside the other arrangement\u2019s', async () => {
    const b = (await at('bare-path')).vm!.hosting!;
    const h = (await at('hosted-path')).vm!.hosting!;
    expect(b.hosting).toBe('bare-metal');
    expect(h.hosting).toBe('hosted');
    const bp = b.paths.find((p) => p.where === 'device')!;
    const hp = h.paths.find((p) => p.where === 'device')!;
    expect([bp.hops.length, bp.other.length]).toEqual([4, 9]);
    expect([hp.hops.length, hp.other.length]).toEqual([9, 4]);
    expect(hp.note).toContain('0x3f8');
  }, 300_000);

  it('host-turn: at step 6035 the host process has the CPU for 2000 steps; the ticker is idle', async () => {
    const v = await at('host-turn');
    expect(v.step).toBe(6035);
    expect(v.vm!.hosting!.running).toMatchObject({ from: 6035, steps: 2000 });
    expect(v.vm!.vms[TICKER]!.state).toBe('idle');
  }, 300_000);

  it('syscall and panic: INT 0x80 into the shared kernel, no VM; then the kernel\u2019s panic with no process left running', async () => {
    const s = await at('syscall');
    expect(s.vm).toBeNull();
    expect(s.containers!.kernel).toBe('running');
    expect(s.containers!.procs.filter((p) => p.state !== 'free')).toHaveLength(2);
    const p = await at('panic');
    expect(p.containers!.kernel).toBe('panic');
  }, 300_000);

  it('vm-fault: beta\u2019s kernel faulted in its own VM, alpha\u2019s VM has not ended', async () => {
    const v = await at('vm-fault');
    expect(v.vm!.vms.map((x) => x.name)).toEqual(['alpha', 'beta']);
    expect(v.vm!.vms[0]!.state).not.toBe('ended');
  }, 300_000);
});

function facts(): Set<number> {
  const f = new Set<number>();
  f.add(1).add(2); // type 1 and type 2, the usual names of the arrangements
  f.add(0x3f8); // COM1
  f.add(devicePath(bare).hops.length); // 4
  f.add(devicePath(hosted).hops.length); // 9
  f.add(worldSwitches(devicePath(hosted))); // 2
  f.add(worldSwitches(devicePath(bare))); // 0
  f.add(turn.steps).add(turn.step); // 2000 steps from 6035
  f.add(tickerHalt.step).add(backOn.step); // 4034, 8035
  f.add(pitCount); // IRQ 0 every 1000 steps
  f.add(edgesBy(hosted, backOn.step + 1)); // 4 rises while it waited
  f.add(injectedOnReturn); // 1 interrupt
  f.add(edgesBy(hosted, hosted.edges.length)).add(edgesBy(bare, bare.edges.length)); // 14, 8
  f.add(tickerInterrupts(hosted)); // 5 ticks
  const c = vmcs(hosted);
  f.add(c.entries).add(c.launches).add(c.resumes).add(c.reads).add(c.writes); // 49, 2, 47, 373, 99
  f.add(containers.units[0]!.exits.total); // 0
  f.add(containers.units[0]!.syscalls); // 16
  f.add(0x80); // INT 0x80
  for (const r of [0, 3]) f.add(r); // the kernel's ring and the containers'
  f.add(containers.kernelsInMemory).add(vmsCrash.kernelsInMemory); // 1, 2
  f.add(ioPerByte); // 2 I/O exits a byte
  f.add(vmsCrash.units[0]!.end.exitCode!); // alpha exits with code 0
  f.add(0); // page 0, unmapped
  f.add(8254); // the timer's part number (the 8254 PIT of the VM's PC platform)
  return f;
}

describe('lesson 14-hosting: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the runs\u2019 facts', () => {
    expect(strayNumbers(lesson, facts())).toEqual([]);
  });

  it('each question\u2019s answer is what the runs show, and the sentences quote them', () => {
    expect(answerOf(lesson, 'predict-switches')).toBe(worldSwitches(devicePath(hosted)));
    expect(answerOf(lesson, 'predict-ticks')).toBe(injectedOnReturn);
    expect(answerOf(lesson, 'predict-exits')).toBe(containers.units[0]!.exits.total);
    expect(answerOf(lesson, 'predict-away')).toBe('late');
    expect(answerOf(lesson, 'predict-vmcs')).toBe('same');
    expect(answerOf(lesson, 'predict-crash')).toBe('all');
    expect(answerOf(lesson, 'predict-vm-crash')).toBe('beta');
    expect(en.steps['bare-path'].done).toContain('The path has 4 hops');
    expect(en.steps['hosted-path'].done).toContain('The path has 9 hops');
    expect(zh.steps['hosted-path'].done).toContain('路径有 9 跳');
    expect(en.steps['predict-ticks'].why).toContain('its 8254 rose 4 times');
    expect(en.steps['same-vmcs'].body).toContain('49 VM entries (2 VMLAUNCH, one per VM, and 47 VMRESUME), 373 VMREADs and 99 VMWRITEs');
  });
});
