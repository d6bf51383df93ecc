import { describe, expect, it } from 'vitest';
import type { SpeakerCue } from '../../lessons/contract.ts';
import {
  byeMessage,
  channelName,
  commandMessage,
  driven,
  emptyAudience,
  forget,
  FORGET_AFTER_MS,
  heard,
  helloMessage,
  inLesson,
  paragraphs,
  parseToProjected,
  parseToSpeaker,
  pin,
  stateMessage,
  type ProjectedState,
} from './channel.ts';

const cue: SpeakerCue = {
  lessonId: '01-rings',
  lessonTitle: 'Rings',
  step: 2,
  steps: 9,
  notes: 'Ask first.\n\nThen reveal.',
  next: 'The IDT',
  gate: 'answer',
  task: 'Which vector?',
};
const state = (over: Partial<ProjectedState> = {}): ProjectedState => ({
  id: 'a1',
  since: 100,
  scenario: 'syscalls',
  scenarioName: null,
  lang: 'en',
  step: 3,
  furthest: 5,
  stopped: false,
  narration: 'SYSCALL entered ring 0.',
  cue,
  ...over,
});

describe('speaker channel messages', () => {
  it('round-trip through structured-clone-like copies (JSON) for every type', () => {
    const clone = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
    expect(parseToSpeaker(clone(stateMessage(state())))).toEqual(stateMessage(state()));
    expect(parseToSpeaker(clone(stateMessage(state({ cue: null }))))).toEqual(stateMessage(state({ cue: null })));
    const own = state({ scenarioName: 'HLT in ring 3', cue: { ...cue, gate: 'lab', task: 'Step until the CPU takes the exception.' } });
    expect(parseToSpeaker(clone(stateMessage(own)))).toEqual(stateMessage(own));
    expect(parseToSpeaker(clone(byeMessage('a1')))).toEqual(byeMessage('a1'));
    expect(parseToProjected(clone(helloMessage()))).toEqual(helloMessage());
    for (const c of [{ type: 'next' }, { type: 'prev' }, { type: 'goto', step: 7 }, { type: 'lesson-next' }, { type: 'lesson-back' }] as const)
      expect(parseToProjected(clone(commandMessage('a1', c)))).toEqual(commandMessage('a1', c));
  });

  it('carries source and version on every message', () => {
    for (const m of [stateMessage(state()), byeMessage('x'), helloMessage(), commandMessage('x', { type: 'next' })])
      expect(m).toMatchObject({ source: 'ring-minus-one/speaker', v: 1 });
  });

  it('ignores other sources, other versions, unknown types and malformed fields', () => {
    const good = stateMessage(state()) as unknown as Record<string, unknown>;
    const bad: unknown[] = [
      null,
      'state',
      [],
      { ...good, source: 'ring-minus-one' },
      { ...good, v: 2 },
      { ...good, type: 'status' },
      { ...good, id: 'has space' },
      { ...good, id: '' },
      { ...good, since: Number.NaN },
      { ...good, scenario: 'nope' },
      { ...good, step: -1 },
      { ...good, step: 1.5 },
      { ...good, step: 6 },
      { ...good, stopped: 'no' },
      { ...good, narration: 'x'.repeat(20_001) },
      { ...good, cue: { ...cue, step: 9 } },
      { ...good, cue: { ...cue, notes: 3 } },
      { ...good, cue: 'notes' },
      { ...good, cue: undefined },
      { ...good, cue: { ...cue, gate: 'locked' } },
      { ...good, cue: { ...cue, gate: null, task: 7 } },
      { ...good, scenarioName: 3 },
      { ...good, scenarioName: 'x'.repeat(20_001) },
    ];
    for (const b of bad) expect(parseToSpeaker(b), JSON.stringify(b)?.slice(0, 80)).toBeNull();
    const cmd = commandMessage('a1', { type: 'goto', step: 4 }) as unknown as Record<string, unknown>;
    for (const b of [
      { ...cmd, to: 3 },
      { ...cmd, command: { type: 'goto', step: -2 } },
      { ...cmd, command: { type: 'goto', step: '4' } },
      { ...cmd, command: { type: 'jump' } },
      { ...cmd, command: null },
      { ...cmd, v: 0 },
    ])
      expect(parseToProjected(b)).toBeNull();
    // Messages for the other end are not mistaken for this end's.
    expect(parseToProjected(stateMessage(state()))).toBeNull();
    expect(parseToSpeaker(helloMessage())).toBeNull();
  });

  it('reads a state from a window that sends no gate, task or scenario name (an older build of version 1) as saying nothing of them', () => {
    const { gate: _g, task: _t, ...oldCue } = cue;
    const { scenarioName: _n, ...old } = stateMessage(state()) as unknown as Record<string, unknown>;
    expect(parseToSpeaker({ ...old, cue: oldCue })).toEqual(stateMessage(state({ cue: { ...cue, gate: null, task: null } })));
  });

  it('never throws on a hostile object', () => {
    const hostile = new Proxy({}, { get: () => { throw new Error('boom'); } });
    expect(parseToSpeaker(hostile)).toBeNull();
    expect(parseToProjected(hostile)).toBeNull();
  });

  it('clamps a goto to the furthest step a URL may ask for', () => {
    const m = parseToProjected({ ...commandMessage('a1', { type: 'goto', step: 1 }), command: { type: 'goto', step: 5e12 } });
    expect(m?.type === 'command' && m.command).toEqual({ type: 'goto', step: 1_000_000 });
  });

  it('scopes the channel name by base path', () => {
    expect(channelName('/')).toBe('ring-minus-one/speaker/v1@/');
    expect(channelName('/lab')).toBe(channelName('/lab/'));
    expect(channelName('/a/')).not.toBe(channelName('/b/'));
  });
});

describe('the audience: which projected window the speaker drives', () => {
  const msg = (s: ProjectedState) => stateMessage(s);

  it('drives the window that went into presenter mode last, whatever order it is heard in', () => {
    const older = state({ id: 'old', since: 100 });
    const newer = state({ id: 'new', since: 200 });
    const a = heard(heard(emptyAudience, msg(newer), 0), msg(older), 1);
    const b = heard(heard(emptyAudience, msg(older), 0), msg(newer), 1);
    expect(driven(a)?.id).toBe('new');
    expect(driven(b)?.id).toBe('new');
    expect(a.windows.map((w) => w.id)).toEqual(['old', 'new']);
  });

  it('a reload is a new window that takes over; the old one’s bye removes it', () => {
    let a = heard(emptyAudience, msg(state({ id: 'first', since: 100 })), 0);
    a = heard(a, msg(state({ id: 'reloaded', since: 500, step: 0 })), 1);
    expect(driven(a)?.id).toBe('reloaded');
    a = heard(a, byeMessage('first'), 2);
    expect(a.windows.map((w) => w.id)).toEqual(['reloaded']);
    a = heard(a, byeMessage('reloaded'), 3);
    expect(driven(a)).toBeNull();
  });

  it('a state replaces the same window’s last one', () => {
    let a = heard(emptyAudience, msg(state({ step: 1 })), 0);
    a = heard(a, msg(state({ step: 2 })), 5);
    expect(a.windows).toHaveLength(1);
    expect(driven(a)).toMatchObject({ step: 2, heardAt: 5 });
  });

  it('a pinned window is driven while it is there; pinning an unknown id follows the newest', () => {
    let a = heard(heard(emptyAudience, msg(state({ id: 'x', since: 1 })), 0), msg(state({ id: 'y', since: 2 })), 0);
    a = pin(a, 'x');
    expect(driven(a)?.id).toBe('x');
    a = heard(a, msg(state({ id: 'z', since: 3 })), 0);
    expect(driven(a)?.id).toBe('x');
    a = heard(a, byeMessage('x'), 0);
    expect(a.pinned).toBeNull();
    expect(driven(a)?.id).toBe('z');
    expect(pin(a, 'gone').pinned).toBeNull();
  });

  it('forgets a window that fell silent (closed without a bye)', () => {
    let a = heard(emptyAudience, msg(state({ id: 'quiet', since: 1 })), 0);
    a = heard(a, msg(state({ id: 'alive', since: 0 })), FORGET_AFTER_MS);
    a = pin(a, 'quiet');
    expect(forget(a, FORGET_AFTER_MS)).toBe(a);
    const b = forget(a, FORGET_AFTER_MS + 1);
    expect(b.windows.map((w) => w.id)).toEqual(['alive']);
    expect(b.pinned).toBeNull();
  });
});

describe('cues and notes', () => {
  it('tells a lesson step from no lesson', () => {
    expect(inLesson(cue)).toBe(true);
    expect(inLesson(null)).toBe(false);
    expect(inLesson({ lessonId: null, lessonTitle: null, step: null, steps: null, notes: null, next: null, gate: null, task: null })).toBe(false);
  });

  it('splits notes into paragraphs at blank lines', () => {
    expect(paragraphs('One\nline two.\n\n  Two. \r\n\r\n\n\nThree')).toEqual(['One\nline two.', 'Two.', 'Three']);
    expect(paragraphs(null)).toEqual([]);
    expect(paragraphs('  \n\n ')).toEqual([]);
  });
});
