import { describe, expect, test } from 'vitest';
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import { WorkerClient, type LabClient } from '../worker/client.ts';
import { InThreadClient } from '../worker/in-thread.ts';
import type { Json } from '../worker/protocol.ts';
import { FakeWorker } from '../worker/worker-testkit.ts';
import { initialFields, MAX_NOTICES, SessionModel } from './session-model.ts';

const SCENARIO = syscalls as Json;

function model(client: LabClient = new InThreadClient()) {
  const f = initialFields();
  return { f, m: new SessionModel(client, f) };
}

describe('SessionModel', () => {
  test('a call before any load sets error and throws nothing', async () => {
    const { f, m } = model();
    await expect(m.step()).resolves.toBe(false);
    expect(f.error).toBe('no scenario is loaded');
    expect(f.view).toBeNull();
    expect(f.busy).toBe(false);
  });

  test('load, step, back, goto and runUntil update the view; busy is up only while a call runs', async () => {
    const { f, m } = model();
    const loading = m.load(SCENARIO);
    expect(f.loading).toBe(true);
    expect(f.busy).toBe(true);
    expect(await loading).toBe(true);
    expect(f.loading).toBe(false);
    expect(f.busy).toBe(false);
    expect(f.info?.name).toBe('System calls by INT 0x80 and SYSCALL');
    expect(f.view?.step).toBe(0);
    await m.step(5);
    expect(f.view?.step).toBe(5);
    await m.back(2);
    expect(f.view?.step).toBe(3);
    await m.goto(4);
    expect(f.view?.step).toBe(4);
    await m.runUntil(['ring/change'], 1000);
    expect(f.found).toMatchObject({ kind: 'ring/change', cause: 'iret', to: 3 });
    expect(f.view?.machine.cpl).toBe(3);
    await m.step(1);
    expect(f.found).toBeNull();
    expect(f.error).toBeNull();
  });

  test('a scenario that does not validate leaves the loaded session on screen and lists its errors', async () => {
    const { f, m } = model();
    await m.load(SCENARIO);
    await m.step(4);
    const before = f.view;
    expect(await m.load({ version: 1, name: 7 })).toBe(false);
    expect(f.view).toBe(before);
    expect(f.scenarioErrors.map((e) => e.path)).toContain('name');
    expect(await m.load(SCENARIO)).toBe(true);
    expect(f.scenarioErrors).toEqual([]);
  });

  test('a failing call keeps the last good view and records the error; the next success clears it', async () => {
    const { f, m } = model();
    await m.load(SCENARIO);
    await m.step(2);
    const good = f.view;
    expect(await m.step(-3)).toBe(false);
    expect(f.error).toMatch(/step count/);
    expect(f.view).toBe(good);
    expect(f.busy).toBe(false);
    await m.step(1);
    expect(f.error).toBeNull();
    expect(f.view?.step).toBe(3);
  });

  test('a worker crash becomes an error then a notice; the session goes on from the restored step', async () => {
    const workers: FakeWorker[] = [];
    const client = new WorkerClient({
      createWorker: () => {
        const w = new FakeWorker();
        workers.push(w);
        return w;
      },
    });
    const { f, m } = model(client);
    client.onNotice = (n) => m.notice(n);
    await m.load(SCENARIO);
    await m.step(6);
    workers[0]!.fault = () => 'crash';
    expect(await m.step(1)).toBe(false);
    expect(f.error).toMatch(/restarted/);
    expect(f.view?.step).toBe(6);
    await client.settled();
    expect(f.notices).toEqual([expect.objectContaining({ kind: 'worker-restarted', step: 6, id: 1 })]);
    expect(await m.step(1)).toBe(true);
    expect(f.view?.step).toBe(7);
    m.dismissNotice(1);
    expect(f.notices).toEqual([]);
    client.dispose();
  });

  test('notices are bounded', () => {
    const { f, m } = model();
    for (let i = 0; i < MAX_NOTICES + 3; i++) m.notice({ kind: 'worker-restarted', message: `n${i}`, step: i });
    expect(f.notices).toHaveLength(MAX_NOTICES);
    expect(f.notices.at(-1)!.message).toBe(`n${MAX_NOTICES + 2}`);
  });
});
