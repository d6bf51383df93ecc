import { describe, expect, it } from 'vitest';
import type { SpeakerCue, SpeakerGate } from '../../lessons/contract.ts';
import type { KeyPress } from '../shell/shortcuts.ts';
import { lessonBack, lessonNext, speakerKey } from './drive.ts';

const press = (key: string, over: Partial<KeyPress> = {}): KeyPress => ({ key, ctrlKey: false, altKey: false, metaKey: false, targetTag: 'BODY', targetEditable: false, ...over });
const cue = (gate: SpeakerGate | null, step = 3): SpeakerCue => ({ lessonId: '01-rings', lessonTitle: 'Rings', step, steps: 12, notes: null, next: 'Later', gate, task: null });
const outside = { cue: null, furthest: 9 };
const inLesson = (gate: SpeakerGate | null, step = 3) => ({ cue: cue(gate, step), furthest: 9 });

describe('the speaker’s keys', () => {
  it('move the machine outside a lesson, as the lab’s shortcuts do', () => {
    expect(speakerKey(press('PageDown'), outside)).toEqual({ send: { type: 'next' } });
    expect(speakerKey(press('ArrowRight'), outside)).toEqual({ send: { type: 'next' } });
    expect(speakerKey(press(' '), outside)).toEqual({ send: { type: 'next' } });
    expect(speakerKey(press('PageUp'), outside)).toEqual({ send: { type: 'prev' } });
    expect(speakerKey(press('ArrowLeft'), outside)).toEqual({ send: { type: 'prev' } });
    expect(speakerKey(press('Home'), outside)).toEqual({ send: { type: 'goto', step: 0 } });
    expect(speakerKey(press('End'), outside)).toEqual({ send: { type: 'goto', step: 9 } });
    // A cue that names no lesson is outside a lesson too.
    expect(speakerKey(press('PageDown'), { cue: { ...cue(null), lessonId: null }, furthest: 0 })).toEqual({ send: { type: 'next' } });
  });

  it('in a lesson: the clicker’s keys move the lesson, the arrows and Home and End the machine', () => {
    const at = inLesson('open');
    expect(speakerKey(press('PageDown'), at)).toEqual({ send: { type: 'lesson-next' } });
    expect(speakerKey(press(' '), at)).toEqual({ send: { type: 'lesson-next' } });
    expect(speakerKey(press('PageUp'), at)).toEqual({ send: { type: 'lesson-back' } });
    expect(speakerKey(press('ArrowRight'), at)).toEqual({ send: { type: 'next' } });
    expect(speakerKey(press('ArrowLeft'), at)).toEqual({ send: { type: 'prev' } });
    expect(speakerKey(press('End'), at)).toEqual({ send: { type: 'goto', step: 9 } });
  });

  it('refuses the lesson’s Next, saying why, while the step waits or the lesson is finished; Back stops at the first step', () => {
    for (const gate of ['answer', 'lab', 'pick', 'finished'] as const) {
      expect(speakerKey(press('PageDown'), inLesson(gate))).toEqual({ refused: gate });
      expect(lessonNext(inLesson(gate))).toEqual({ refused: gate });
    }
    // A window of an older build says nothing of its gate: its own Next decides.
    expect(lessonNext(inLesson(null))).toEqual({ send: { type: 'lesson-next' } });
    expect(lessonBack(inLesson('open', 0))).toBeNull();
    expect(speakerKey(press('PageUp'), inLesson('answer', 0))).toBeNull();
    expect(lessonBack(inLesson('finished', 0))).toEqual({ send: { type: 'lesson-back' } });
    expect(lessonNext({ cue: null })).toBeNull();
    expect(lessonBack({ cue: null })).toBeNull();
  });

  it('leaves keys alone with no window to drive, with a modifier, while typing, and Space on a focused button', () => {
    expect(speakerKey(press('PageDown'), null)).toBeNull();
    expect(speakerKey(press('PageDown', { ctrlKey: true }), outside)).toBeNull();
    expect(speakerKey(press('ArrowRight', { targetTag: 'INPUT' }), outside)).toBeNull();
    expect(speakerKey(press('ArrowRight', { targetTag: 'DIV', targetEditable: true }), outside)).toBeNull();
    expect(speakerKey(press(' ', { targetTag: 'BUTTON' }), inLesson('open'))).toBeNull();
    expect(speakerKey(press('x'), outside)).toBeNull();
  });
});
