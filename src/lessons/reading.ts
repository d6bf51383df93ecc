/**
 * Pure reads of lesson data, apart from kit.ts so that the first screen (the report, the speaker
 * cue, the lesson controller's positioning) can use them without loading xstate: the phase of a
 * snapshot's current step, and whether a lab event meets a wait step's condition.
 */
import type { LessonSnapshot, SeenEvent, StepPhase, WaitFor } from './kit.ts';

/** Does event `e` meet condition `want`: the same kind, and every field `want` names equal. */
export function matches(want: WaitFor, e: SeenEvent): boolean {
  return (
    e.kind === want.kind &&
    (want.cause === undefined || e.cause === want.cause) &&
    (want.from === undefined || e.from === want.from) &&
    (want.to === undefined || e.to === want.to) &&
    (want.vector === undefined || e.vector === want.vector) &&
    (want.access === undefined || e.access === want.access) &&
    (want.user === undefined || e.user === want.user) &&
    (want.hit === undefined || e.hit === want.hit) &&
    (want.code === undefined || e.code === want.code) &&
    (want.name === undefined || e.name === want.name) &&
    (want.label === undefined || e.label === want.label) &&
    (want.instruction === undefined || e.instruction === want.instruction) &&
    (want.iova === undefined || e.iova === want.iova) &&
    (want.blocked === undefined || e.blocked === want.blocked) &&
    (want.vm === undefined || e.vm === want.vm) &&
    (want.where === undefined || e.where === want.where) &&
    (want.hosting === undefined || e.hosting === want.hosting)
  );
}


/** The phase of the current step, read from a snapshot's state value. */
export function phaseOf(snapshot: LessonSnapshot): StepPhase | 'finished' {
  const v = snapshot.value as string | Record<string, string>;
  if (v === 'finished') return 'finished';
  if (typeof v === 'string') return 'read';
  const inner = Object.values(v)[0];
  return inner === 'predict' || inner === 'revealed' || inner === 'waiting' || inner === 'met' ? inner : 'read';
}
