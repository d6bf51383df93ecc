/**
 * A lesson being played, as Svelte 5 state: an xstate actor of the lesson's machine, its
 * snapshot (`$state.raw`, replaced on every transition), and what the rest of the app reads from
 * it: the LessonReport (progress, embed) and the SpeakerCue (speaker window). The app feeds it the
 * lab's events and the student's clicks on view targets; the lesson column sends the rest.
 */
import { createActor, type Actor } from 'xstate';
import type { TraceEvent } from '../emu/trace/events.ts';
import type { Locale } from '../i18n/messages.ts';
import type { LessonReport, SpeakerCue } from './contract.ts';
import { phaseOf, type LessonMachine, type LessonSnapshot, type StepDef } from './kit.ts';
import type { LessonModule, StepText } from './lesson.ts';
import { cueOf, reportOf, seenEvents } from './report.ts';
import type { StepWalks } from '../worker/walk-types.ts';

export class LessonRun {
  snapshot = $state.raw<LessonSnapshot>() as LessonSnapshot;
  readonly #actor: Actor<LessonMachine>;

  constructor(
    readonly lesson: LessonModule,
    start = 0,
  ) {
    this.#actor = createActor(lesson.machine, { input: { lessonId: lesson.id, steps: lesson.steps, start } });
    this.#actor.subscribe((s) => (this.snapshot = s));
    this.#actor.start();
    this.snapshot = this.#actor.getSnapshot();
  }

  readonly report: LessonReport = $derived(reportOf(this.snapshot));
  readonly phase = $derived(phaseOf(this.snapshot));
  readonly index = $derived(this.snapshot.context.step);
  readonly step: StepDef = $derived(this.snapshot.context.steps[this.index] ?? (this.snapshot.context.steps[0] as StepDef));
  /** Next is possible: a read step, a revealed answer, a met condition. */
  readonly canNext = $derived(this.phase === 'read' || this.phase === 'revealed' || this.phase === 'met');
  readonly finished = $derived(this.phase === 'finished');

  text(locale: Locale): StepText | undefined {
    return this.lesson.text[locale].steps[this.step.id];
  }
  cue(locale: Locale): SpeakerCue {
    return cueOf(this.snapshot, this.lesson.text[locale]);
  }

  next(): void {
    this.#actor.send({ type: 'lesson.next' });
  }
  back(): void {
    this.#actor.send({ type: 'lesson.back' });
  }
  goto(step: number): void {
    this.#actor.send({ type: 'lesson.goto', step });
  }
  answer(value: string | number): void {
    this.#actor.send({ type: 'lesson.answer', value });
  }
  hint(): void {
    this.#actor.send({ type: 'lesson.hint' });
  }
  /** The lab's newest view: the events of the step(s) that led to it, and that step's page walks. */
  see(events: readonly TraceEvent[], walks?: StepWalks): void {
    this.#actor.send({ type: 'lab.events', events: seenEvents(events, walks) });
  }
  /** The student clicked (or pressed Enter on) a view element with this `data-lesson-target`. */
  target(id: string): void {
    this.#actor.send({ type: 'lab.target', id });
  }
  stop(): void {
    this.#actor.stop();
  }
}

