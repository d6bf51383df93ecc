/**
 * What the parts of the lesson system agree on (issue 5): the runtime that plays a lesson, the
 * progress store and lesson map, the embed's progress messages, and the speaker window. Plain
 * data, structured-clone and JSON safe.
 */
import type { Locale } from '../i18n/messages.ts';

/** A lesson lives in `lessons/<id>/`, its id the folder's name: a two-digit number and a slug (`01-rings`). */
export const LESSON_ID = /^[0-9]{2}-[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A lesson as the lesson map, progress and the embed see it (its one-sentence summary, for the map only, is in summaries.ts). */
export interface LessonInfo {
  id: string;
  /** Its place in the course (1, 2, …). */
  number: number;
  title: Record<Locale, string>;
  /** Expected length in minutes. */
  minutes: number;
  /** How many steps the lesson has. */
  steps: number;
  /** Points its questions are worth in all. */
  maxScore: number;
}

/**
 * Where a student is in a lesson and what they scored: what the runtime reports after every
 * change, the progress store keeps, and the embed posts to its host page.
 */
export interface LessonReport {
  lessonId: string;
  /** The lesson step shown (0-based). */
  step: number;
  /** The furthest lesson step reached (0-based). */
  reached: number;
  steps: number;
  /** Points earned so far (a question answered right at the first try earns its full points). */
  score: number;
  maxScore: number;
  completed: boolean;
}

/** What the speaker window shows beside the projected lab: the instructor's notes for the step on screen and what comes next. */
export interface SpeakerCue {
  lessonId: string | null;
  lessonTitle: string | null;
  /** Lesson step shown (0-based) and their number, or null outside a lesson. */
  step: number | null;
  steps: number | null;
  /** Instructor notes for this step (plain text, paragraphs separated by blank lines). */
  notes: string | null;
  /** The title of the next lesson step, or null at the end or outside a lesson. */
  next: string | null;
  /**
   * What the lesson's Next waits for: nothing (`open`), the question's answer (`answer`), a task
   * in the lab that stepping the machine meets (`lab`), a pick of a view element (`pick`), or
   * nothing more because the lesson is finished (`finished`); null outside a lesson.
   */
  gate: SpeakerGate | null;
  /** While Next waits: the question asked or the task set, as the student reads it; else null. */
  task: string | null;
}

export type SpeakerGate = 'open' | 'answer' | 'lab' | 'pick' | 'finished';
