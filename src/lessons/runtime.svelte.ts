/**
 * The app's lessons as Svelte 5 state: which one is open, opening (the lesson's chunk and the
 * runtime with xstate load on demand, so the first screen does not pay for them) and closing.
 */
import type { Locale } from '../i18n/messages.ts';
import type { LessonInfo, LessonReport, SpeakerCue } from './contract.ts';
import { lessonInfo, loadLesson } from './registry.ts';
import { NO_CUE } from './report.ts';
import type { LessonRun } from './run.svelte.ts';

export type { LessonRun };

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
      const [lesson, { LessonRun }] = await Promise.all([loadLesson(id), import('./run.svelte.ts')]);
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
