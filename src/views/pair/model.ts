/**
 * The pair view's figures (PairPanel.svelte): each side's cycles so far split into the guest's
 * instructions, address translation (page-walk references, TLB flushes, shadow page-table updates)
 * and the exits with the hypervisor's work, on one scale for both sides, and the sentence the live
 * region says after a move. Plain TS (no DOM), tested in model.test.ts.
 */
import type { PairSideView, PairView } from '../../worker/pair-types.ts';
import { COMPARE_PARTS, cycleParts, isSoftwareConfig, type ComparePart } from '../vm/compare-model.ts';

/** The comparison chart's parts and split (views/vm/compare-model.ts), so both charts say the same. */
export const PAIR_PARTS = COMPARE_PARTS;
export type PairPart = ComparePart;
export const partCycles = cycleParts;

/** Guest instructions the "run to the end" button asks for at most (a call the worker answers in a few seconds). */
export const PAIR_RUN_BUDGET = 200_000;

export interface PairBar {
  total: number;
  /** Each part's cycles and its width as a share of the larger side's total (0–1). */
  parts: { part: PairPart; cycles: number; width: number }[];
}

/** Both sides' bars on a common scale: the larger total is the full width. */
export function pairBars(v: PairView): [PairBar, PairBar] {
  const max = Math.max(1, ...v.sides.map((s) => s.counters.cycles.total));
  const bar = (s: PairSideView): PairBar => {
    const c = partCycles(s.counters.cycles);
    return { total: s.counters.cycles.total, parts: PAIR_PARTS.map((part) => ({ part, cycles: c[part], width: c[part] / max })) };
  };
  return [bar(v.sides[0]), bar(v.sides[1])];
}

/**
 * The names side `i`'s counters list, sorted: the exits (or, under a software monitor, the causes of
 * its traps and callouts) it or the other side of the same kind took so far, so that two sides of
 * a kind list the same rows.
 */
export function pairExitNames(v: PairView, i: 0 | 1): string[] {
  const soft = isSoftwareConfig(v.sides[i].config);
  return [...new Set(v.sides.filter((s) => isSoftwareConfig(s.config) === soft).flatMap((s) => Object.keys(s.counters.exits.byName)))].sort();
}

/** Which sides moved from `before` to `after` (a side at its end does not). */
export function moved(before: PairView | null, after: PairView): [boolean, boolean] {
  return [0, 1].map((i) => before !== null && before.sides[i]!.step !== after.sides[i]!.step) as [boolean, boolean];
}

/** Sides that reached their end in this move (for the live region). */
export function newlyEnded(before: PairView | null, after: PairView): number[] {
  return [0, 1].filter((i) => after.sides[i]!.ended && !(before?.sides[i]!.ended ?? false));
}
