/**
 * What the speaker window's keys and buttons ask of the projected window (plain TS, testable).
 *
 * Outside a lesson every control moves the machine, as in the lab: → PgDn Space forward, ← PgUp
 * back, Home and End to the first and furthest step. During a lesson an instructor presents the
 * lesson: the clicker's keys (PgDn and Space, PgUp) move the lesson a step, as its column's Next
 * and Back do, and → ← Home End go on moving the machine, which a lab task needs. The lesson's
 * Next is refused, never sent, while the step waits for an answer, a task in the lab or a pick,
 * or when the lesson is finished: the speaker says why (`refused`).
 */
import type { SpeakerGate } from '../../lessons/contract.ts';
import type { KeyPress } from '../shell/shortcuts.ts';
import { inLesson, type ProjectedState, type SpeakerCommand } from './channel.ts';

export type Drive = { send: SpeakerCommand } | { refused: Exclude<SpeakerGate, 'open'> } | null;

/** The lesson's Next from the speaker: sent only when the lesson's gate is open. */
export function lessonNext(target: Pick<ProjectedState, 'cue'>): Drive {
  const cue = target.cue;
  if (!inLesson(cue)) return null;
  // A window of an older build sends no gate: its own Next decides.
  if (cue.gate === null || cue.gate === 'open') return { send: { type: 'lesson-next' } };
  return { refused: cue.gate };
}

/** The lesson's Back from the speaker: nothing before the first step (unless the lesson is finished, which Back reopens). */
export function lessonBack(target: Pick<ProjectedState, 'cue'>): Drive {
  const cue = target.cue;
  if (!inLesson(cue)) return null;
  if (cue.step === 0 && cue.gate !== 'finished') return null;
  return { send: { type: 'lesson-back' } };
}

const TYPING = new Set(['INPUT', 'SELECT', 'TEXTAREA']);
const ACTIVATED = new Set(['BUTTON', 'SUMMARY', 'A']);

/** What a key press in the speaker window asks for, given the window it drives (null: nothing, the key is left alone). */
export function speakerKey(k: KeyPress, target: Pick<ProjectedState, 'cue' | 'furthest'> | null): Drive {
  if (target === null || k.ctrlKey || k.altKey || k.metaKey) return null;
  if (k.targetEditable || (k.targetTag !== null && TYPING.has(k.targetTag))) return null;
  const lesson = inLesson(target.cue);
  switch (k.key) {
    case 'PageDown':
      return lesson ? lessonNext(target) : { send: { type: 'next' } };
    case ' ':
      // Space on a focused button presses that button.
      if (k.targetTag !== null && ACTIVATED.has(k.targetTag)) return null;
      return lesson ? lessonNext(target) : { send: { type: 'next' } };
    case 'PageUp':
      return lesson ? lessonBack(target) : { send: { type: 'prev' } };
    case 'ArrowRight':
      return { send: { type: 'next' } };
    case 'ArrowLeft':
      return { send: { type: 'prev' } };
    case 'Home':
      return { send: { type: 'goto', step: 0 } };
    case 'End':
      return { send: { type: 'goto', step: target.furthest } };
    default:
      return null;
  }
}
