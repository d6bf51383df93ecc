import { describe, expect, test } from 'vitest';
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import { WorkerClient, type LabClient, type LabNotice } from './client.ts';
import { InThreadClient } from './in-thread.ts';
import { installLabWorker } from './lab.worker.ts';
import type { Json, LabMessage, LabRequest, ViewState } from './protocol.ts';
import { FakeWorker } from './worker-testkit.ts';

const SCENARIO = syscalls as Json;

async function loaded(c: LabClient): Promise<ViewState> {
  const r = await c.load(SCENARIO);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.view;
}

/** The parts of a view that depend only on the step reached (not on the previous view). */
function atStep(v: ViewState): Omit<ViewState, 'changed' | 'end' | 'furthest' | 'marksVersion'> {
  const { changed: _c, end: _e, furthest: _f, marksVersion: _m, ...rest } = v;
  return rest;
}

describe('InThreadClient on the syscalls example', () => {
  test('the loaded view is the machine at step 0: CPL 0, RIP at kernel_entry, code from RIP', async () => {
    const c = new InThreadClient();
    const v = await loaded(c);
    expect(v.step).toBe(0);
    expect(v.end).toBe('loaded');
    expect(v.machine.cpl).toBe(0);
    expect(v.machine.mode).toBe('long64');
    expect(v.machine.paging).toBe('4level');
    expect(v.machine.regs.rip).toMatch(/^0x[0-9a-f]{16}$/);
    expect(v.machine.disasm.length).toBeGreaterThanOrEqual(5);
    expect(v.machine.disasm[0]).toMatchObject({ address: v.machine.regs.rip, current: true });
    expect(v.machine.disasm[0]!.text).toMatch(/^push /);
    expect(v.machine.disasm.slice(0, 6).map((r) => r.text.split(' ')[0])).toEqual(['push', 'push', 'push', 'push', 'push', 'iretq']);
    expect(v.machine.disasmStop).toBeNull();
  });

  test('step reports the changed registers and the events of the step taken', async () => {
    const c = new InThreadClient();
    const v0 = await loaded(c);
    const v1 = await c.step(1);
    expect(v1.step).toBe(1);
    expect(v1.end).toBe('limit');
    expect(v1.changed).toEqual(expect.arrayContaining(['rsp', 'rip']));
    expect(v1.changed).not.toContain('rax');
    expect(v1.events.map((e) => e.kind)).toEqual(['cpu/insn']);
    expect(v1.events[0]).toMatchObject({ kind: 'cpu/insn', step: 0, rip: BigInt(v0.machine.regs.rip) });
    expect(BigInt(v1.machine.regs.rsp)).toBe(BigInt(v0.machine.regs.rsp) - 8n);
  });

  test('back and goto give the same view as a fresh run to that step, one step at a time', async () => {
    const c = new InThreadClient({ interval: 7 });
    await loaded(c);
    const forward: ViewState[] = [];
    for (let i = 0; i < 40; i++) forward.push(await c.step(1));
    const fresh = new InThreadClient({ interval: 7 });
    await loaded(fresh);
    const back = await c.back(15);
    expect(back.step).toBe(25);
    expect(back.end).toBe('moved');
    expect(atStep(back)).toEqual(atStep(forward[24]!));
    for (const k of [3, 39, 1, 17, 40]) {
      const g = await c.goto(k);
      expect(atStep(g)).toEqual(atStep(forward[k - 1]!));
    }
    // A fresh run of 30 steps at once reaches the same machine (its events are those of all 30 steps).
    const f30 = await fresh.step(30);
    expect(f30.machine).toEqual(forward[29]!.machine);
    expect(f30.events.filter((e) => e.kind === 'cpu/insn')).toHaveLength(30);
  });

  test("runUntil(['ring/change']) stops after each change of ring, the SYSCALL among them", async () => {
    const c = new InThreadClient();
    await loaded(c);
    const causes: string[] = [];
    let syscall: { step: number; view: ViewState } | null = null;
    for (let i = 0; i < 10 && syscall === null; i++) {
      const r = await c.runUntil(['ring/change'], 10_000);
      expect(r.view.end).toBe('found');
      if (r.event?.kind !== 'ring/change') throw new Error('expected a ring change');
      causes.push(r.event.cause);
      expect(r.view.machine.cpl).toBe(r.event.to);
      expect(r.view.events).toContainEqual(r.event);
      if (r.event.cause === 'syscall') syscall = { step: r.event.step, view: r.view };
    }
    expect(causes).toEqual(['iret', 'software-interrupt', 'iret', 'syscall']);
    expect(syscall!.view.machine.cpl).toBe(0);
    expect(syscall!.view.step).toBe(syscall!.step + 1);
    const before = await c.goto(syscall!.step);
    expect(before.machine.cpl).toBe(3);
    expect(before.machine.disasm[0]!.text).toBe('syscall');
  });

  test('the run ends at HLT with both lines on the UART and TLB entries filled', async () => {
    const c = new InThreadClient();
    await loaded(c);
    const v = await c.step(10_000);
    expect(v.end).toBe('hlt');
    expect(v.machine.halted).toBe(true);
    expect(v.machine.uart).toBe('hello from INT 0x80\nhello from SYSCALL\n');
    expect(v.machine.tlb.length).toBeGreaterThan(0);
    expect(v.furthest).toBe(v.step);
    const back = await c.goto(0);
    expect(back.machine.uart).toBe('');
    expect(back.furthest).toBe(v.step);
  });

  test('the events of a long step are bounded, and the number left out is given', async () => {
    const c = new InThreadClient();
    await loaded(c);
    await c.setTraceKinds(['cpu/insn', 'tlb/lookup']);
    const v = await c.step(2000);
    expect(v.events.length).toBe(256);
    expect(v.eventsDropped).toBeGreaterThan(0);
    expect(v.events.at(-1)!.step).toBe(v.step - 1);
  });

  test('tracing TLB-path kinds leaves the machine as an untraced run leaves it', async () => {
    const traced = new InThreadClient();
    await loaded(traced);
    await traced.setTraceKinds(['tlb/lookup', 'mmu/walk', 'tlb/fill']);
    const plain = new InThreadClient();
    await loaded(plain);
    for (const n of [5, 30, 100]) {
      const a = await traced.step(n);
      const b = await plain.step(n);
      expect(a.machine).toEqual(b.machine);
    }
  });

  test('a bad scenario gives its validation errors with field paths', async () => {
    const c = new InThreadClient();
    const r = await c.load({ version: 1, name: '', mode: 'long65', paging: '4level', memory: { size: 3 }, kernel: { source: 'hlt' } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['name', 'mode', 'memory.size']));
    expect(r.errors.find((e) => e.path === 'mode')!.message).toMatch(/long65/);
  });

  test('calls that cannot be answered reject with a message', async () => {
    const c = new InThreadClient();
    await expect(c.step(1)).rejects.toThrow(/no scenario is loaded/);
    await loaded(c);
    await expect(c.step(-1)).rejects.toThrow(/step count/);
    await expect(c.step(1.5)).rejects.toThrow(/step count/);
    await expect(c.runUntil([], 10)).rejects.toThrow(/at least one/);
    await expect(c.setTraceKinds(['cpu/nope' as 'cpu/insn'])).rejects.toThrow(/unknown trace kind/);
    expect((await c.step(1)).step).toBe(1);
  });
});

/** The same calls against any client; returns every answer (errors as their messages). */
async function script(c: LabClient): Promise<unknown[]> {
  const out: unknown[] = [];
  const rec = async (p: Promise<unknown>) => out.push(await p.catch((e: Error) => `error: ${e.message}`));
  await rec(c.step(1));
  await rec(c.load(SCENARIO));
  await rec(c.step(3));
  await rec(c.step(1));
  await rec(c.setTraceKinds(['ring/change', 'io/port']));
  await rec(c.runUntil(['io/port'], 1000));
  await rec(c.back(4));
  await rec(c.goto(50));
  await rec(c.runUntil(['cpu/halt'], 20));
  await rec(c.step(10_000));
  await rec(c.load({ version: 1 }));
  await rec(c.goto(2));
  return out;
}

/** A WorkerClient over fake workers running lab.worker.ts: every worker it creates, and every notice it gives. */
function watched(opts: { timeoutMs?: number } = {}): { c: WorkerClient; workers: FakeWorker[]; notices: LabNotice[] } {
  const workers: FakeWorker[] = [];
  const notices: LabNotice[] = [];
  const c = new WorkerClient({
    ...opts,
    createWorker: () => {
      const f = new FakeWorker();
      workers.push(f);
      return f;
    },
    onNotice: (n) => notices.push(n),
  });
  return { c, workers, notices };
}

describe('WorkerClient over a fake worker running lab.worker.ts', () => {
  test('answers exactly as InThreadClient does for the same calls', async () => {
    const w = new WorkerClient({ createWorker: () => new FakeWorker() });
    const viaWorker = await script(w);
    const inThread = await script(new InThreadClient());
    expect(viaWorker).toEqual(inThread);
    expect(viaWorker[0]).toMatch(/no scenario is loaded/);
    w.dispose();
  });

  test('a crash rejects the call in flight, restarts, restores the scenario at the last step and tells onNotice', async () => {
    const { c, workers, notices } = watched();
    await loaded(c);
    await c.step(7);
    workers[0]!.fault = (req) => (req.type === 'step' ? 'crash' : null);
    await expect(c.step(1)).rejects.toThrow(/failed.*restarted/);
    const next = await c.step(1);
    expect(workers).toHaveLength(2);
    expect(workers[0]!.terminated).toBe(true);
    expect(workers[1]!.received.map((r) => r.type)).toEqual(['load', 'goto', 'step']);
    expect(notices).toEqual([expect.objectContaining({ kind: 'worker-restarted', step: 7 })]);
    const ref = new InThreadClient();
    await loaded(ref);
    await ref.step(7);
    expect(atStep(next)).toEqual(atStep(await ref.step(1)));
    c.dispose();
  });

  test('a restart builds the side-by-side pair again and puts it back at its step', async () => {
    const { c, workers } = watched();
    const workload = (await import('../emu/scenario/examples/mm-workload.json')).default as unknown as Json;
    await c.load(workload);
    const opened = await c.pair({ kind: 'load', scenario: workload, configs: ['vtx-shadow', 'vtx-nested'] });
    expect(opened.ok).toBe(true);
    const before = await c.pair({ kind: 'step', n: 40 });
    if (!before.ok) throw new Error('pair step');
    workers[0]!.fault = (req) => (req.type === 'step' ? 'crash' : null);
    await expect(c.step(1)).rejects.toThrow(/restarted/);
    await c.settled();
    expect(workers).toHaveLength(2);
    expect(workers[1]!.received.map((r) => r.type)).toEqual(['load', 'pair', 'pair']);
    // The pair answers in the new worker from where it was: one step on equals one step on in the old.
    const after = await c.pair({ kind: 'step', n: 1 });
    const ref = new InThreadClient();
    await ref.load(workload);
    await ref.pair({ kind: 'load', scenario: workload, configs: ['vtx-shadow', 'vtx-nested'] });
    await ref.pair({ kind: 'step', n: 40 });
    expect(after).toEqual(await ref.pair({ kind: 'step', n: 1 }));
    c.dispose();
  });

  test('a call that gets no answer is rejected after the timeout, and the worker is replaced', async () => {
    // Long enough for the loads and steps around the hang on a loaded machine (every call has this timeout).
    const { c, workers, notices } = watched({ timeoutMs: 1000 });
    await loaded(c);
    await c.step(3);
    workers[0]!.fault = (req) => (req.type === 'goto' ? 'hang' : null);
    const t0 = Date.now();
    await expect(c.goto(10)).rejects.toThrow(/did not answer 'goto' within 1000 ms/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(990);
    expect((await c.step(1)).step).toBe(4);
    expect(notices.map((n) => n.kind)).toEqual(['worker-restarted']);
    expect(workers).toHaveLength(2);
    c.dispose();
  });

  test("a 'crashed' signal from the worker restarts it too; trace kinds set before are set again", async () => {
    const { c, workers } = watched();
    await loaded(c);
    await c.setTraceKinds(['ring/change']);
    await c.step(2);
    const seen = new Promise<LabNotice>((resolve) => {
      c.onNotice = resolve;
    });
    workers[0]!.deliver({ kind: 'signal', signal: 'crashed', message: 'out of memory' });
    const n = await seen;
    expect(n.message).toMatch(/out of memory/);
    expect(workers[1]!.received.map((r) => r.type)).toEqual(['setTraceKinds', 'load', 'goto']);
    const v = await c.step(1);
    expect(v.step).toBe(3);
    expect(v.events.every((e) => e.kind === 'ring/change')).toBe(true);
    c.dispose();
  });

  test('a worker that keeps crashing gives up with a notice, and nothing hangs', async () => {
    const notices: LabNotice[] = [];
    let made = 0;
    const c = new WorkerClient({
      maxRestarts: 2,
      createWorker: () => {
        const f = new FakeWorker();
        if (made++ > 0) f.fault = () => 'crash';
        return f;
      },
      onNotice: (n) => notices.push(n),
    });
    await loaded(c);
    await expect(c.step(1)).resolves.toMatchObject({ step: 1 });
    // Make the first worker crash too.
    (c as unknown as { worker: FakeWorker }).worker.fault = () => 'crash';
    await expect(c.step(1)).rejects.toThrow(/restarted/);
    await c.settled();
    expect(notices.map((n) => n.kind)).toEqual(['worker-restart-failed']);
    // The scenario is forgotten: the next call reaches a fresh worker (which crashes here too) and is rejected, not left hanging.
    await expect(c.step(1)).rejects.toThrow();
    c.dispose();
  });

  test('dispose rejects the calls in flight', async () => {
    const f = new FakeWorker();
    f.fault = () => 'hang';
    const c = new WorkerClient({ createWorker: () => f });
    const p = c.load(SCENARIO);
    c.dispose();
    await expect(p).rejects.toThrow(/disposed/);
    expect(f.terminated).toBe(true);
    await expect(c.step(1)).rejects.toThrow(/disposed/);
  });
});

describe('lab.worker.ts in a worker scope', () => {
  test('announces ready, answers requests by id, and signals an uncaught error as crashed', () => {
    const posted: LabMessage[] = [];
    const handlers = new Map<string, (e: Event) => void>();
    installLabWorker({
      postMessage: (m) => posted.push(structuredClone(m)),
      addEventListener: (type: string, fn: (e: MessageEvent<LabRequest>) => void) => handlers.set(type, fn as (e: Event) => void),
    });
    expect(posted).toEqual([{ kind: 'signal', signal: 'ready' }]);
    handlers.get('message')!(Object.assign(new Event('message'), { data: { id: 41, type: 'goto', step: 0 } }));
    expect(posted[1]).toEqual({ kind: 'error', id: 41, message: 'no scenario is loaded' });
    handlers.get('error')!(Object.assign(new Event('error'), { message: 'boom' }));
    expect(posted[2]).toEqual({ kind: 'signal', signal: 'crashed', message: 'boom' });
  });
});
