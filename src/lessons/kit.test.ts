import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { isRight, lessonMachine, matches, parseNumber, phaseOf, type StepDef } from './kit.ts';
import { reportOf, seenEvents } from './report.ts';

const steps: StepDef[] = [
  { id: 'q', kind: 'choice', choices: ['a', 'b'], answer: 'b', points: 2 },
  { id: 'w', kind: 'wait', until: { kind: 'ring/change', cause: 'syscall', to: 0 } },
  { id: 'n', kind: 'number', answer: 128, points: 1 },
  { id: 't', kind: 'target', among: 'reg-', answer: 'reg-rcx', points: 1 },
  { id: 'end', kind: 'read' },
];
const start = (at = 0) => createActor(lessonMachine('99-test', steps), { input: { lessonId: '99-test', steps, start: at } }).start();

describe('lesson kit', () => {
  it('locks the first answer: a second one changes neither the answer nor the score', () => {
    const a = start();
    expect(phaseOf(a.getSnapshot())).toBe('predict');
    a.send({ type: 'lesson.next' });
    expect(a.getSnapshot().context.step).toBe(0);
    a.send({ type: 'lesson.answer', value: 'a' });
    expect(phaseOf(a.getSnapshot())).toBe('revealed');
    a.send({ type: 'lesson.answer', value: 'b' });
    expect(a.getSnapshot().context.answers).toEqual({ q: 'a' });
    expect(reportOf(a.getSnapshot()).score).toBe(0);
  });

  it('ignores an answer that is not one of the choices', () => {
    const a = start();
    a.send({ type: 'lesson.answer', value: 'zzz' });
    expect(phaseOf(a.getSnapshot())).toBe('predict');
  });

  it('waits for the lab event, not for any ring change, and keeps it met when the student comes back', () => {
    const a = start(1);
    a.send({ type: 'lesson.next' });
    expect(a.getSnapshot().context.step).toBe(1);
    a.send({ type: 'lab.events', events: [{ kind: 'ring/change', cause: 'iret', from: 0, to: 3 }] });
    expect(phaseOf(a.getSnapshot())).toBe('waiting');
    a.send({ type: 'lab.events', events: [{ kind: 'cpu/insn' }, { kind: 'ring/change', cause: 'syscall', from: 3, to: 0 }] });
    expect(phaseOf(a.getSnapshot())).toBe('met');
    a.send({ type: 'lesson.next' });
    a.send({ type: 'lesson.back' });
    expect(a.getSnapshot().context.step).toBe(1);
    expect(phaseOf(a.getSnapshot())).toBe('met');
  });

  it('a wait step entered after the lab already showed its event is met at once', () => {
    const a = start(0);
    a.send({ type: 'lab.events', events: [{ kind: 'ring/change', cause: 'syscall', from: 3, to: 0 }] });
    a.send({ type: 'lesson.answer', value: 'b' });
    a.send({ type: 'lesson.next' });
    expect(phaseOf(a.getSnapshot())).toBe('met');
  });

  it('scores a target only when hit at the first try; other views\' targets are ignored', () => {
    const a = start(3);
    a.send({ type: 'lab.target', id: 'ring' });
    expect(a.getSnapshot().context.misses).toEqual({});
    a.send({ type: 'lab.target', id: 'reg-rsp' });
    expect(a.getSnapshot().context.lastMiss).toBe('reg-rsp');
    a.send({ type: 'lab.target', id: 'reg-rcx' });
    expect(phaseOf(a.getSnapshot())).toBe('met');
    expect(a.getSnapshot().context.points).toEqual({ t: 0 });
  });

  it('counts hints up to three per step', () => {
    const a = start();
    for (let i = 0; i < 5; i++) a.send({ type: 'lesson.hint' });
    expect(a.getSnapshot().context.hints).toEqual({ q: 3 });
  });

  it('finishes from the last step and reports completion; goto clamps nothing out of range', () => {
    const a = start(4);
    a.send({ type: 'lesson.goto', step: 99 });
    expect(a.getSnapshot().context.step).toBe(4);
    a.send({ type: 'lesson.next' });
    expect(phaseOf(a.getSnapshot())).toBe('finished');
    expect(reportOf(a.getSnapshot())).toMatchObject({ completed: true, step: 4, reached: 4, steps: 5, maxScore: 4 });
    a.send({ type: 'lesson.goto', step: 2 });
    expect(a.getSnapshot().context.step).toBe(2);
    expect(reportOf(a.getSnapshot()).completed).toBe(true);
  });

  it('rejects duplicate step ids', () => {
    expect(() => lessonMachine('99-x', [{ id: 'a', kind: 'read' }, { id: 'a', kind: 'read' }])).toThrow(/unique/);
  });

  it('reads numbers as students type them', () => {
    expect(parseNumber('0x80')).toBe(128);
    expect(parseNumber(' 128 ')).toBe(128);
    expect(parseNumber('0X1_0000')).toBe(0x10000);
    expect(parseNumber('12a')).toBeNull();
    expect(parseNumber('')).toBeNull();
    expect(isRight({ id: 'n', kind: 'number', answer: 128, points: 1 }, 0x80)).toBe(true);
  });

  it('matches events on the fields a step names only', () => {
    expect(matches({ kind: 'ring/change', to: 3 }, { kind: 'ring/change', cause: 'iret', from: 0, to: 3 })).toBe(true);
    expect(matches({ kind: 'ring/change', vector: 0x80 }, { kind: 'ring/change', cause: 'syscall', from: 3, to: 0 })).toBe(false);
    expect(seenEvents([{ kind: 'ring/change', step: 1, from: 3, to: 0, cause: 'software-interrupt', vector: 128, rip: 1n }, { kind: 'cpu/insn', step: 1, rip: 0n, length: 2, cpl: 3 }])).toEqual([
      { kind: 'ring/change', cause: 'software-interrupt', from: 3, to: 0, vector: 128 },
    ]);
  });
});
