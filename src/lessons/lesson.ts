/**
 * The shape of a lesson folder's module (`lessons/<id>/index.ts`): its steps, its machine, the
 * scenario it runs on, and its text in every locale. The registry loads one on demand.
 */
import type { Locale } from '../i18n/messages.ts';
import type { ScenarioId } from '../views/shell/url.ts';
import type { LessonMachine, StepDef } from './kit.ts';

/** The words of one step. Paragraphs are separated by a blank line. */
export interface StepText {
  title: string;
  body: string;
  /** The question (choice and number steps). */
  prompt?: string;
  /** Choice text by choice id (choice steps). */
  choices?: Record<string, string>;
  /** Why the answer is what it is: shown once the prediction is locked, whatever it was. */
  why?: string;
  /** What the student is to do (wait and target steps). */
  act?: string;
  /** What the lab now shows (wait and target steps, once met). */
  done?: string;
  /** Said when a target step's wrong element is clicked; `{name}` is that element's name. */
  miss?: string;
  hints: string[];
  /** For the instructor (speaker window): plain text, paragraphs separated by a blank line. */
  notes: string;
}

export interface LessonText {
  title: string;
  summary: string;
  /** A short name for each of the lesson's own scenarios (LessonModule.scenarios), for the scenario picker and the speaker. */
  scenarios?: Record<string, string>;
  steps: Record<string, StepText>;
}

export interface LessonModule {
  id: string;
  /** The example the lesson runs on. */
  scenario: ScenarioId;
  /** Scenarios of the lesson's own (JSON files in its folder), for steps that name one. */
  scenarios?: Record<string, () => Promise<{ default: unknown }>>;
  steps: readonly StepDef[];
  machine: LessonMachine;
  text: Record<Locale, LessonText>;
}
