import { describe, expect, it } from 'vitest';
import { commandMessage, helloMessage, type SpeakerCommand, type SpeakerMessage } from './channel.ts';
import { MAX_PENDING, ProjectorLink, runLessonCommand, type DrivenLesson, type Port, type Shown } from './projector.ts';

class FakePort implements Port {
  sent: SpeakerMessage[] = [];
  closed = false;
  #listeners = new Set<(e: MessageEvent) => void>();
  postMessage(m: SpeakerMessage): void {
    this.sent.push(JSON.parse(JSON.stringify(m)) as SpeakerMessage);
  }
  addEventListener(_t: 'message', l: (e: MessageEvent) => void): void {
    this.#listeners.add(l);
  }
  removeEventListener(_t: 'message', l: (e: MessageEvent) => void): void {
    this.#listeners.delete(l);
  }
  close(): void {
    this.closed = true;
  }
  deliver(data: unknown): void {
    for (const l of this.#listeners) l({ data } as MessageEvent);
  }
}

const shown = (step: number): Shown => ({ scenario: 'syscalls', scenarioName: null, lang: 'en', step, furthest: step, stopped: false, narration: `at ${step}`, cue: null });
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function setup(run: (c: SpeakerCommand) => Promise<void> = () => Promise.resolve()) {
  const port = new FakePort();
  const link = new ProjectorLink(port, { id: 'me', since: 42, run, defer: (fn) => queueMicrotask(fn) });
  return { port, link };
}

describe('the projected window’s end of the speaker channel', () => {
  it('publishes its state when it changes, with its id and since, and not while moving', () => {
    const { port, link } = setup();
    link.update(null);
    link.update(shown(0));
    link.update(shown(0));
    link.update(null);
    link.update(shown(1));
    expect(port.sent.map((m) => m.type === 'state' && [m.id, m.since, m.step])).toEqual([
      ['me', 42, 0],
      ['me', 42, 1],
    ]);
  });

  it('answers hello with its state even when nothing changed', async () => {
    const { port, link } = setup();
    link.update(shown(3));
    port.deliver(helloMessage());
    await tick();
    expect(port.sent.filter((m) => m.type === 'state')).toHaveLength(2);
  });

  it('answers hello while moving with the last state at rest, and nothing before it has one', async () => {
    const { port, link } = setup();
    port.deliver(helloMessage());
    await tick();
    expect(port.sent).toEqual([]);
    link.update(shown(4));
    link.update(null);
    port.deliver(helloMessage());
    await tick();
    expect(port.sent.map((m) => m.type === 'state' && m.step)).toEqual([4, 4]);
  });

  it('obeys only commands addressed to it, in order, and answers each', async () => {
    const ran: SpeakerCommand[] = [];
    const { port, link } = setup(async (c) => {
      ran.push(c);
      await tick();
    });
    link.update(shown(0));
    port.deliver(commandMessage('someone-else', { type: 'next' }));
    port.deliver(commandMessage('me', { type: 'next' }));
    port.deliver(commandMessage('me', { type: 'goto', step: 9 }));
    port.deliver({ ...commandMessage('me', { type: 'prev' }), v: 2 });
    await tick();
    await tick();
    await tick();
    await tick();
    expect(ran).toEqual([{ type: 'next' }, { type: 'goto', step: 9 }]);
    // The first state, then one answer per command (the state did not change: answered anyway).
    expect(port.sent.filter((m) => m.type === 'state')).toHaveLength(3);
  });

  it('drops commands beyond its queue and survives a command that fails', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let count = 0;
    const { port } = setup(async () => {
      count++;
      await gate;
      if (count === 1) throw new Error('worker gone');
    });
    for (let i = 0; i < MAX_PENDING + 5; i++) port.deliver(commandMessage('me', { type: 'next' }));
    release();
    for (let i = 0; i < 3 * MAX_PENDING; i++) await tick();
    expect(count).toBe(MAX_PENDING);
  });

  it('says bye and closes when disposed, then ignores everything', async () => {
    const ran: SpeakerCommand[] = [];
    const { port, link } = setup(async (c) => void ran.push(c));
    link.update(shown(1));
    link.dispose();
    link.dispose();
    port.deliver(commandMessage('me', { type: 'next' }));
    link.update(shown(2));
    await tick();
    expect(port.sent.map((m) => m.type)).toEqual(['state', 'bye']);
    expect(port.closed).toBe(true);
    expect(ran).toEqual([]);
  });
});

describe('the speaker’s lesson commands in the projected window', () => {
  function lesson(over: Partial<DrivenLesson> = {}): DrivenLesson & { calls: string[] } {
    const calls: string[] = [];
    return { canNext: true, finished: false, index: 3, next: () => calls.push('next'), back: () => calls.push('back'), calls, ...over };
  }

  it('moves the lesson as its column would: Next only when the lesson allows it, Back not before the first step', () => {
    const open = lesson();
    expect(runLessonCommand({ type: 'lesson-next' }, open)).toBe(true);
    expect(runLessonCommand({ type: 'lesson-back' }, open)).toBe(true);
    expect(open.calls).toEqual(['next', 'back']);
    const locked = lesson({ canNext: false });
    expect(runLessonCommand({ type: 'lesson-next' }, locked)).toBe(true);
    expect(locked.calls).toEqual([]);
    const first = lesson({ index: 0 });
    runLessonCommand({ type: 'lesson-back' }, first);
    expect(first.calls).toEqual([]);
    const done = lesson({ index: 0, finished: true, canNext: false });
    runLessonCommand({ type: 'lesson-back' }, done);
    expect(done.calls).toEqual(['back']);
  });

  it('leaves the machine’s commands to the lab, and ignores lesson commands when no lesson runs', () => {
    const l = lesson();
    for (const c of [{ type: 'next' }, { type: 'prev' }, { type: 'goto', step: 2 }] as const) expect(runLessonCommand(c, l)).toBe(false);
    expect(l.calls).toEqual([]);
    expect(runLessonCommand({ type: 'lesson-next' }, null)).toBe(true);
  });
});
