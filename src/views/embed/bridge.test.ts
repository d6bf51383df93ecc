import { describe, expect, it } from 'vitest';
import type { Command, LabMessage } from './api.ts';
import type { LessonReport } from '../../lessons/contract.ts';
import { EmbedBridge, MAX_EARLY_MESSAGES, MAX_PENDING_COMMANDS, type EmbedWindow, type Snapshot } from './bridge.ts';

/** A window whose parent records what it is sent, and a queue of deferred checks run by `flush`. */
function harness(host: string | null = null) {
  const posted: { message: LabMessage; target: string }[] = [];
  const parent = { postMessage: (message: LabMessage, target: string) => void posted.push({ message, target }) };
  let listener: ((e: MessageEvent) => void) | null = null;
  const win: EmbedWindow = {
    parent,
    addEventListener: (_t, l) => void (listener = l),
    removeEventListener: (_t, l) => void (listener === l ? (listener = null) : undefined),
  };
  const deferred: (() => void)[] = [];
  const ran: Command[] = [];
  let release: (() => void) | null = null;
  let hold = false;
  const bridge = new EmbedBridge(win, {
    host,
    defer: (fn) => void deferred.push(fn),
    run: (c) => {
      ran.push(c);
      return hold ? new Promise<void>((r) => (release = r)) : Promise.resolve();
    },
  });
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) {
      await Promise.resolve();
      while (deferred.length > 0) deferred.shift()?.();
    }
  };
  const send = (data: unknown, from: { origin?: string; source?: unknown } = {}): void =>
    listener?.({ data, origin: from.origin ?? 'http://host.test', source: 'source' in from ? from.source : parent } as MessageEvent);
  return {
    bridge, posted, parent, ran, flush, send,
    listening: () => listener !== null,
    holdRuns: () => void (hold = true),
    release: () => release?.(),
  };
}

const at = (step: number, extra: Partial<Snapshot> = {}): Snapshot => ({ scenario: 'timer', lang: 'en', step, furthest: step, cpl: 3, narration: `n${step}`, ...extra });
const types = (posted: { message: LabMessage }[]) => posted.map((p) => p.message.type);
const cmd = (o: Record<string, unknown>) => ({ source: 'ring-minus-one', v: 1, ...o });

describe('EmbedBridge', () => {
  it('announces ready once the lab is at rest, and only then listens', async () => {
    const h = harness();
    h.bridge.update(null);
    await h.flush();
    expect(h.posted).toEqual([]);
    expect(h.listening()).toBe(false);
    h.bridge.update(at(12));
    await h.flush();
    expect(h.posted.map((p) => p.message)).toEqual([{ source: 'ring-minus-one', v: 1, type: 'ready', scenario: 'timer', step: 12, furthest: 12, lang: 'en' }]);
    expect(h.posted[0]?.target).toBe('*');
    expect(h.listening()).toBe(true);
  });

  it('reports each change of step once, not the states in between', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.bridge.update(at(1));
    h.bridge.update(null);
    h.bridge.update(at(2));
    await h.flush();
    h.bridge.update(at(2, { narration: 'later' }));
    await h.flush();
    expect(types(h.posted)).toEqual(['ready', 'step']);
    expect(h.posted[1]?.message).toMatchObject({ type: 'step', step: 2, narration: 'n2' });
  });

  it('answers every command with a step message, even when the step did not change', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.send(cmd({ type: 'prev' }));
    await h.flush();
    expect(h.ran).toEqual([{ type: 'prev' }]);
    expect(h.posted.map((p) => p.message.type)).toEqual(['ready', 'step']);
    expect(h.posted[1]?.message).toMatchObject({ step: 0 });
  });

  it('runs commands one at a time and answers each after it has settled', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.holdRuns();
    h.send(cmd({ type: 'next' }));
    h.send(cmd({ type: 'goto', step: 5 }));
    await h.flush();
    expect(h.ran).toEqual([{ type: 'next' }]);
    // The lab moves while the command runs: not reported on its own, the answer says it.
    h.bridge.update(at(1));
    await h.flush();
    expect(types(h.posted)).toEqual(['ready']);
    h.release();
    await h.flush();
    expect(h.ran).toEqual([{ type: 'next' }, { type: 'goto', step: 5 }]);
    h.bridge.update(null);
    h.release();
    await h.flush();
    expect(types(h.posted)).toEqual(['ready', 'step']);
    h.bridge.update(at(5));
    await h.flush();
    expect(h.posted.slice(1).map((p) => (p.message.type === 'step' ? p.message.step : -1))).toEqual([1, 5]);
  });

  it('ignores malformed messages and, without a host, messages from other windows', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.send({ type: 'next' });
    h.send(cmd({ type: 'next', v: 2 }));
    h.send(cmd({ type: 'jump' }));
    h.send(cmd({ type: 'next' }), { source: {} });
    h.send(cmd({ type: 'next' }), { source: null });
    await h.flush();
    expect(h.ran).toEqual([]);
    h.send(cmd({ type: 'next' }), { origin: 'https://any.example' });
    await h.flush();
    expect(h.ran).toEqual([{ type: 'next' }]);
  });

  it('with a host, accepts that origin only and posts to it', async () => {
    const h = harness('http://host.test');
    h.bridge.update(at(0));
    await h.flush();
    h.send(cmd({ type: 'next' }), { origin: 'http://evil.test' });
    h.send(cmd({ type: 'next' }), { origin: 'http://host.test.evil.test' });
    await h.flush();
    expect(h.ran).toEqual([]);
    h.send(cmd({ type: 'next' }), { origin: 'http://host.test' });
    await h.flush();
    expect(h.ran).toEqual([{ type: 'next' }]);
    expect(h.posted.every((p) => p.target === 'http://host.test')).toBe(true);
  });

  it('drops commands beyond the pending limit', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.holdRuns();
    for (let i = 0; i < MAX_PENDING_COMMANDS + 10; i++) h.send(cmd({ type: 'next' }));
    for (let i = 0; i < MAX_PENDING_COMMANDS + 10; i++) {
      h.release();
      await h.flush();
    }
    expect(h.ran.length).toBe(MAX_PENDING_COMMANDS);
  });

  it('posts the height when it changes, rounded up, and nothing after dispose', async () => {
    const h = harness();
    h.bridge.height(300.2);
    h.bridge.height(300.9);
    h.bridge.height(320);
    h.bridge.height(Number.NaN);
    expect(h.posted.map((p) => p.message)).toEqual([
      { source: 'ring-minus-one', v: 1, type: 'height', height: 301 },
      { source: 'ring-minus-one', v: 1, type: 'height', height: 320 },
    ]);
    h.bridge.update(at(0));
    await h.flush();
    h.bridge.dispose();
    expect(h.listening()).toBe(false);
    h.bridge.height(500);
    h.bridge.update(at(3));
    await h.flush();
    expect(types(h.posted)).toEqual(['height', 'height', 'ready']);
  });

  it('survives a parent that throws on postMessage', async () => {
    const h = harness();
    h.parent.postMessage = () => {
      throw new Error('gone');
    };
    h.bridge.update(at(0));
    await h.flush();
    expect(() => h.bridge.height(10)).not.toThrow();
    expect(h.listening()).toBe(true);
  });
});

const lesson = (o: Partial<LessonReport> = {}): LessonReport => ({ lessonId: '01-rings', step: 0, reached: 0, steps: 12, score: 0, maxScore: 10, completed: false, ...o });

describe('EmbedBridge: lesson progress', () => {
  it('posts each report as progress, and complete once when the lesson turns completed', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.bridge.progress(lesson({ step: 3, reached: 3, score: 2 }));
    h.bridge.progress(lesson({ step: 11, reached: 11, score: 8, completed: true }));
    h.bridge.progress(lesson({ step: 10, reached: 11, score: 8, completed: true }));
    expect(types(h.posted)).toEqual(['ready', 'progress', 'progress', 'complete', 'progress']);
    expect(h.posted[1]?.message).toEqual({ source: 'ring-minus-one', v: 1, type: 'progress', lessonId: '01-rings', step: 3, reached: 3, steps: 12, score: 2, maxScore: 10, completed: false });
    expect(h.posted[3]?.message).toEqual({ source: 'ring-minus-one', v: 1, type: 'complete', lessonId: '01-rings', score: 8, maxScore: 10 });
    expect(h.posted.every((p) => p.target === '*')).toBe(true);
  });

  it('posts complete again only after a report that the lesson is not completed (it was started again)', async () => {
    const h = harness();
    h.bridge.update(at(0));
    await h.flush();
    h.bridge.progress(lesson({ reached: 11, score: 8, completed: true }));
    h.bridge.progress(lesson({ lessonId: '02-paging', reached: 11, score: 5, completed: true }));
    h.bridge.progress(lesson({ reached: 0, score: 0 }));
    h.bridge.progress(lesson({ reached: 11, score: 10, completed: true }));
    const completes = h.posted.filter((p) => p.message.type === 'complete').map((p) => p.message);
    expect(completes).toMatchObject([
      { lessonId: '01-rings', score: 8 },
      { lessonId: '02-paging', score: 5 },
      { lessonId: '01-rings', score: 10 },
    ]);
  });

  it('holds lesson messages made before ready and posts them right after it', async () => {
    const h = harness();
    h.bridge.progress(lesson({ reached: 1 }));
    h.bridge.progress(lesson({ reached: 11, score: 4, completed: true }));
    expect(h.posted).toEqual([]);
    h.bridge.update(at(5));
    await h.flush();
    expect(types(h.posted)).toEqual(['ready', 'progress', 'progress', 'complete']);
  });

  it('keeps completions when too many reports come before ready (the oldest progress goes first)', async () => {
    const h = harness();
    h.bridge.progress(lesson({ reached: 11, completed: true }));
    for (let i = 0; i < MAX_EARLY_MESSAGES + 10; i++) h.bridge.progress(lesson({ lessonId: '02-paging', reached: i % 12 }));
    h.bridge.update(at(0));
    await h.flush();
    expect(h.posted.length).toBe(1 + MAX_EARLY_MESSAGES);
    expect(types(h.posted).filter((t) => t === 'complete')).toHaveLength(1);
  });

  it('with a host, posts progress to that origin only; after dispose, nothing', async () => {
    const h = harness('http://host.test');
    h.bridge.update(at(0));
    await h.flush();
    h.bridge.progress(lesson({ reached: 11, score: 3, completed: true }));
    expect(h.posted.map((p) => p.target)).toEqual(['http://host.test', 'http://host.test', 'http://host.test']);
    h.bridge.dispose();
    h.bridge.progress(lesson({ reached: 2 }));
    expect(h.posted).toHaveLength(3);
  });
});
