/**
 * Lesson 1 as the speaker window sees it (SpeakerCue, src/lessons/report.ts): the step's notes in
 * each language, the next step's title, and what the lesson's Next waits for at each kind of step.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { cueOf } from '../../src/lessons/report.ts';
import lesson from './index.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

function actorAt(start: number) {
  return createActor(lesson.machine, { input: { lessonId: lesson.id, steps: lesson.steps, start } }).start();
}

describe('lesson 01-rings: the speaker’s cue', () => {
  it('gives the step’s notes and the next step’s title in the language asked, and what Next waits for', () => {
    const a = actorAt(0);
    const cue = cueOf(a.getSnapshot(), en);
    expect(cue).toEqual({
      lessonId: '01-rings',
      lessonTitle: en.title,
      step: 0,
      steps: 12,
      notes: en.steps.rings.notes,
      next: en.steps['try-hlt'].title,
      gate: 'answer',
      task: en.steps.rings.prompt,
    });
    expect(cueOf(a.getSnapshot(), zh)).toMatchObject({ lessonTitle: zh.title, notes: zh.steps.rings.notes, next: zh.steps['try-hlt'].title, task: zh.steps.rings.prompt });
    // Answered: Next is open, and there is no task left to show.
    a.send({ type: 'lesson.answer', value: 'halts' });
    expect(cueOf(a.getSnapshot(), en)).toMatchObject({ gate: 'open', task: null });
    // A step that waits for the lab, then met.
    a.send({ type: 'lesson.next' });
    expect(cueOf(a.getSnapshot(), en)).toMatchObject({ step: 1, notes: en.steps['try-hlt'].notes, gate: 'lab', task: en.steps['try-hlt'].act });
    a.send({ type: 'lab.events', events: [steps[1].until] });
    expect(cueOf(a.getSnapshot(), en)).toMatchObject({ step: 1, gate: 'open', task: null });
    a.stop();
  });

  it('says a pick step waits for a pick, and the last step’s Next finishes the lesson', () => {
    const pick = actorAt(9);
    expect(cueOf(pick.getSnapshot(), en)).toMatchObject({ step: 9, gate: 'pick', task: en.steps['find-rcx'].act });
    pick.stop();
    const last = actorAt(11);
    expect(cueOf(last.getSnapshot(), en)).toMatchObject({ step: 11, next: null, gate: 'open' });
    last.send({ type: 'lesson.next' });
    expect(cueOf(last.getSnapshot(), en)).toMatchObject({ gate: 'finished', task: null });
    last.stop();
  });

  it('names every scenario of the lesson’s own in both languages', () => {
    for (const text of [en, zh]) expect(Object.keys(text.scenarios ?? {}).sort()).toEqual(Object.keys(lesson.scenarios ?? {}).sort());
  });
});
