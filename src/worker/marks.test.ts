/**
 * The `marks` call (protocol.ts) through both clients: the marks of the run sit at the steps where
 * its trace events happen, going back changes neither them nor marksVersion, a load starts a new
 * index with a version never seen before, large ranges come in buckets, bad arguments get a
 * message, and a marks call does not disturb what a restarted worker restores.
 */
import { describe, expect, test } from 'vitest';
import pageFault from '../emu/scenario/examples/page-fault.json' with { type: 'json' };
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import timer from '../emu/scenario/examples/timer.json' with { type: 'json' };
import { MARK_KINDS, type MarkKind } from '../emu/trace/marks.ts';
import { WorkerClient, type LabClient } from './client.ts';
import { InThreadClient } from './in-thread.ts';
import { MAX_MARKS_LIMIT, type Json, type ViewState } from './protocol.ts';
import { FakeWorker } from './worker-testkit.ts';

async function load(c: LabClient, scenario: unknown): Promise<ViewState> {
  const r = await c.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.view;
}

const isMarkKind = (k: string): k is MarkKind => (MARK_KINDS as readonly string[]).includes(k);

describe('the marks call', () => {
  test('stepping one at a time, the marks are the mark-kind events each step reported', async () => {
    const c = new InThreadClient({ interval: 16 });
    await load(c, pageFault);
    const seen: [number, string][] = [];
    let v: ViewState;
    do {
      v = await c.step(1);
      for (const e of v.events) if (isMarkKind(e.kind)) seen.push([e.step, e.kind]);
    } while (v.end === 'limit');
    const m = await c.marks(0, v.furthest, MAX_MARKS_LIMIT, 100);
    expect(m.bucketWidth).toBe(1);
    expect(m.groups.map((g) => [g.mark.step, g.mark.kind])).toEqual(seen);
    // The #PF of the page-fault example: error code 6 (user write to a page not present).
    const pf = m.groups.find((g) => g.mark.kind === 'cpu/exception')!.mark;
    expect(pf).toMatchObject({ kind: 'cpu/exception', vector: 14, errorCode: 6 });
    expect(pf).toHaveProperty('cr2');
    expect(m.exceptions).toEqual([{ vector: 14, count: 1, steps: [pf.step] }]);
    expect(m.counts['cpu/halt']).toBe(1);
    expect(m.version).toBe(v.marksVersion);
    expect(m.furthest).toBe(v.furthest);
  });

  test('going back changes neither the marks nor marksVersion; new steps past the furthest do', async () => {
    const c = new InThreadClient();
    await load(c, syscalls);
    const far = await c.step(120);
    const before = await c.marks(0, 1000, 500, 10);
    expect(before.to).toBe(120);
    const back = await c.goto(3);
    expect(back.marksVersion).toBe(far.marksVersion);
    expect(await c.marks(0, 1000, 500, 10)).toEqual(before);
    const again = await c.step(50);
    expect(again.marksVersion).toBe(far.marksVersion);
    const further = await c.goto(300);
    expect(further.marksVersion).toBeGreaterThan(far.marksVersion);
    expect((await c.marks(0, 1000, 500, 10)).total).toBeGreaterThan(before.total);
  });

  test('each load starts a new index under a version not used before', async () => {
    const c = new InThreadClient();
    const versions = new Set<number>();
    for (const s of [syscalls, timer, syscalls]) {
      const v0 = await load(c, s);
      expect(versions.has(v0.marksVersion)).toBe(false);
      versions.add(v0.marksVersion);
      const v1 = await c.goto(5000);
      expect(versions.has(v1.marksVersion)).toBe(false);
      versions.add(v1.marksVersion);
    }
    const m = await c.marks(0, 0, 10, 1);
    expect(m.total).toBe(0);
  });

  test('more marks than the limit come grouped by kind in buckets of steps', async () => {
    const c = new InThreadClient();
    await load(c, timer);
    const v = await c.goto(20_000);
    const single = await c.marks(0, v.furthest, MAX_MARKS_LIMIT, 1);
    const grouped = await c.marks(0, v.furthest, 3, 4);
    expect(grouped.total).toBe(single.total);
    expect(grouped.bucketWidth).toBe(Math.ceil((v.furthest + 1) / 4));
    expect(grouped.groups.reduce((n, g) => n + g.count, 0)).toBe(single.total);
    expect(grouped.groups.length).toBeLessThanOrEqual(4 * MARK_KINDS.length);
    // The range is clamped to the run so far.
    const clamped = await c.marks(100, 10 ** 12, 10, 10);
    expect([clamped.from, clamped.to]).toEqual([100, v.furthest]);
  });

  test('bad arguments are refused with a message; nothing is answered before a load', async () => {
    const c = new InThreadClient();
    await expect(c.marks(0, 10, 10, 10)).rejects.toThrow('no scenario is loaded');
    await load(c, syscalls);
    await expect(c.marks(5, 4, 10, 10)).rejects.toThrow('from (5) is after to (4)');
    await expect(c.marks(-1, 4, 10, 10)).rejects.toThrow(/from must be an integer/);
    await expect(c.marks(0, 1.5, 10, 10)).rejects.toThrow(/to must be an integer/);
    await expect(c.marks(0, 4, MAX_MARKS_LIMIT + 1, 10)).rejects.toThrow(/limit must be an integer 0\.\.10000/);
    await expect(c.marks(0, 4, 10, 0)).rejects.toThrow('buckets must be at least 1');
    await expect(c.marks(0, 4, 10, Number.NaN)).rejects.toThrow(/buckets must be an integer/);
    expect((await c.step(1)).step).toBe(1);
  });

  test('over a worker: the same answers, and a marks call leaves the step a restart restores', async () => {
    const workers: FakeWorker[] = [];
    const c = new WorkerClient({
      createWorker: () => {
        const f = new FakeWorker();
        workers.push(f);
        return f;
      },
    });
    const ref = new InThreadClient();
    await load(c, syscalls);
    await load(ref, syscalls);
    await c.step(40);
    await ref.step(40);
    expect(await c.marks(0, 40, 100, 10)).toEqual(await ref.marks(0, 40, 100, 10));
    workers[0]!.fault = (req) => (req.type === 'step' ? 'crash' : null);
    await expect(c.step(1)).rejects.toThrow(/restarted/);
    const next = await c.step(1);
    expect(next.step).toBe(41);
    expect(workers[1]!.received.map((r) => r.type)).toEqual(['load', 'goto', 'step']);
    c.dispose();
  });
});
