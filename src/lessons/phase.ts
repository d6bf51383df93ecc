/**
 * The phase of a lesson's current step, read from a snapshot's state value. Apart from kit.ts so
 * that the first screen (the report, the speaker cue) can read it without loading xstate.
 */
import type { LessonSnapshot, StepPhase } from './kit.ts';

/** The phase of the current step, read from a snapshot's state value. */
export function phaseOf(snapshot: LessonSnapshot): StepPhase | 'finished' {
  const v = snapshot.value as string | Record<string, string>;
  if (v === 'finished') return 'finished';
  if (typeof v === 'string') return 'read';
  const inner = Object.values(v)[0];
  return inner === 'predict' || inner === 'revealed' || inner === 'waiting' || inner === 'met' ? inner : 'read';
}
