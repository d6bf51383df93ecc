/**
 * The lesson being played, as Svelte 5 state: an xstate actor of the lesson's machine, its
 * snapshot (`$state.raw`, replaced on every transition), and what the rest of the app reads from
 * it: the LessonReport (progress, embed) and the SpeakerCue (speaker window). The app feeds it the
 * lab's events and the student's clicks on view targets; the lesson column sends the rest.
 */
import { createActor, type Actor } from 'xstate';
import type { TraceEvent } from '../emu/trace/events.ts';
import type { Locale } from '../i18n/messages.ts';
import type { LessonInfo, LessonReport, SpeakerCue } from './contract.ts';
import { phaseOf, type LessonMachine, type LessonSnapshot, type StepDef } from './kit.ts';
import type { LessonModule, StepText } from './lesson.ts';
import { lessonInfo, loadLesson } from './registry.ts';
import { cueOf, NO_CUE, reportOf, seenEvents } from './report.ts';

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
  readonly step: StepDef = $derived(this.lesson.steps[this.index] ?? (this.lesson.steps[0] as StepDef));
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
  /** The lab's newest view: the events of the step(s) that led to it. */
  see(events: readonly TraceEvent[]): void {
    this.#actor.send({ type: 'lab.events', events: seenEvents(events) });
  }
  /** The student clicked (or pressed Enter on) a view element with this `data-lesson-target`. */
  target(id: string): void {
    this.#actor.send({ type: 'lab.target', id });
  }
  stop(): void {
    this.#actor.stop();
  }
}

/** The app's lessons: which one is open (if any), opening and closing. */
export class Lessons {
  run = $state.raw<LessonRun | null>(null);
  loading = $state.raw(false);
  error = $state.raw<string | null>(null);
  #opening = 0;

  readonly report: LessonReport | null = $derived(this.run?.report ?? null);

  cue(locale: Locale): SpeakerCue {
    return this.run?.cue(locale) ?? NO_CUE;
  }

  /** Opens a lesson at a step (0-based, clamped); resolves with its info, or null if it is unknown or failed to load. */
  async open(id: string, step = 0): Promise<LessonInfo | null> {
    const info = lessonInfo(id);
    const gen = ++this.#opening;
    if (info === null) {
      this.error = id;
      return null;
    }
    this.loading = true;
    try {
      const lesson = await loadLesson(id);
      if (gen !== this.#opening) return null;
      this.run?.stop();
      this.run = new LessonRun(lesson, step);
      this.error = null;
      return info;
    } catch (e) {
      if (gen === this.#opening) this.error = e instanceof Error ? e.message : String(e);
      return null;
    } finally {
      if (gen === this.#opening) this.loading = false;
    }
  }

  close(): void {
    this.#opening++;
    this.run?.stop();
    this.run = null;
    this.loading = false;
  }
}
