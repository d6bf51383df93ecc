/**
 * Progress in words, in the page's language: a lesson's state on the map (with the symbol that
 * goes with it, so colour is never the only signal) and what is wrong with a file that will not import.
 */
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';
import type { LessonInfo } from '../../lessons/contract.ts';
import { lessonState, type LessonProgress, type LessonState, type ProgressProblem } from '../../lessons/progress.ts';
import { fill, segmentsText } from '../shell/narrate.ts';
import '../../i18n/parts/progress.ts';

export function tr(locale: Locale, key: MessageKey, vars: Record<string, string | number> = {}): string {
  return segmentsText(fill(translate(locale, key), Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, { text: String(v) }]))));
}

/** A score as a person writes it: whole points, or at most two decimals. */
export function points(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/** The symbol of each state: ○ not started, ◐ in progress, ● done (also told in words). */
export const STATE_SYMBOL: Record<LessonState['kind'], string> = { new: '○', started: '◐', done: '●' };

export function stateText(locale: Locale, s: LessonState): string {
  switch (s.kind) {
    case 'new':
      return tr(locale, 'progress.state.new');
    case 'started':
      return tr(locale, 'progress.state.started', { k: s.reached, n: s.steps, score: points(s.score), max: points(s.maxScore) });
    case 'done':
      return tr(locale, 'progress.state.done', { score: points(s.score), max: points(s.maxScore) });
  }
}

/** The state of a record, measured by the course's lesson when there is one, else by the record itself. */
export function recordState(p: LessonProgress | null, info: Pick<LessonInfo, 'steps' | 'maxScore'> | undefined): LessonState {
  if (p === null) return { kind: 'new' };
  const i = info ?? { steps: p.steps, maxScore: p.maxScore };
  return lessonState({ id: '', number: 0, title: { en: '', 'zh-CN': '' }, minutes: 0, ...i }, p);
}

export function problemText(locale: Locale, p: ProgressProblem): string {
  switch (p.code) {
    case 'too-large':
      return tr(locale, 'progress.problem.too-large', { limit: p.limit });
    case 'json':
      return tr(locale, 'progress.problem.json');
    case 'not-progress':
      return tr(locale, 'progress.problem.not-progress', { path: p.path });
    case 'future':
      return tr(locale, 'progress.problem.future', { format: p.format });
    case 'bad-field':
      return tr(locale, 'progress.problem.bad-field', { path: p.path, expected: tr(locale, `progress.expect.${p.expected}`, { max: p.max ?? '' }) });
  }
}
