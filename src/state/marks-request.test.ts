/**
 * SessionModel.requestMarks: one marks request in flight at a time, and of those asked for
 * meanwhile only the latest is sent; answers land in `marks`, a failure in `error`, and a load
 * clears `marks`.
 */
import { describe, expect, test } from 'vitest';
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import { InThreadClient } from '../worker/in-thread.ts';
import type { Json, MarksView } from '../worker/protocol.ts';
import { initialFields, SessionModel } from './session-model.ts';

/** An InThreadClient whose marks answers wait until released, recording what was asked. */
class HeldMarks extends InThreadClient {
  readonly asked: [number, number, number, number][] = [];
  private readonly waiting: (() => void)[] = [];
  override async marks(from: number, to: number, limit: number, buckets: number): Promise<MarksView> {
    this.asked.push([from, to, limit, buckets]);
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.marks(from, to, limit, buckets);
  }
  release(): void {
    this.waiting.shift()?.();
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('SessionModel.requestMarks', () => {
  test('sends the first request at once and, of those asked meanwhile, only the latest', async () => {
    const client = new HeldMarks();
    const f = initialFields();
    const m = new SessionModel(client, f);
    await m.load(syscalls as Json);
    await m.step(30);
    const first = m.requestMarks({ from: 0, to: 10, limit: 100, buckets: 10 });
    void m.requestMarks({ from: 0, to: 20, limit: 100, buckets: 10 });
    void m.requestMarks({ from: 0, to: 30, limit: 100, buckets: 10 });
    expect(client.asked).toEqual([[0, 10, 100, 10]]);
    client.release();
    await tick();
    expect(f.marks?.to).toBe(10);
    expect(client.asked).toEqual([
      [0, 10, 100, 10],
      [0, 30, 100, 10],
    ]);
    client.release();
    await first;
    expect(f.marks?.to).toBe(30);
    expect(f.marks?.version).toBe(f.view?.marksVersion);
    await m.load(syscalls as Json);
    expect(f.marks).toBeNull();
  });

  test('a failed request sets error and the next one is still sent', async () => {
    const f = initialFields();
    const m = new SessionModel(new InThreadClient(), f);
    await m.requestMarks({ from: 0, to: 10, limit: 10, buckets: 1 });
    expect(f.error).toBe('no scenario is loaded');
    expect(f.marks).toBeNull();
    await m.load(syscalls as Json);
    await m.requestMarks({ from: 0, to: 10, limit: 10, buckets: 1 });
    expect(f.marks).not.toBeNull();
  });
});
