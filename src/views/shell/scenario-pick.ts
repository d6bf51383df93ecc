/**
 * The scenario picker's choice (plain TS, testable). Besides the examples, the picker may hold one
 * more option while a lesson step names a scenario of the lesson's own: selected while that
 * scenario runs, and picking it loads it again. Picking an example always shows that example, even
 * the one the lesson runs on (whose id the page keeps while the lesson's own scenario is shown, so
 * choosing it changes no state and has to be asked for).
 */
import { SCENARIOS, type ScenarioId } from './url.ts';

/** The lesson's own scenario's option value: not an example's id, so never mistaken for one. */
export const OWN_OPTION = 'lesson-own';

export type ScenarioPick =
  /** Load the lesson step's own scenario again. */
  | { kind: 'own' }
  /** Load this example again: it is the page's example, but the lesson's own scenario is on screen. */
  | { kind: 'reload'; id: ScenarioId }
  /** Switch the page's example (which loads it). */
  | { kind: 'switch'; id: ScenarioId };

/** What picking `value` asks for, given the page's example and whether the lesson's own scenario is on screen; null for a value that is neither. */
export function scenarioPick(value: string, current: ScenarioId, ownShown: boolean): ScenarioPick | null {
  if (value === OWN_OPTION) return { kind: 'own' };
  const id = SCENARIOS.find((s) => s === value);
  if (id === undefined) return null;
  return id === current && ownShown ? { kind: 'reload', id } : { kind: 'switch', id };
}

/** The picker's selected value. */
export function pickerValue(current: ScenarioId, ownShown: boolean): string {
  return ownShown ? OWN_OPTION : current;
}
