/**
 * A cost figure never travels as a bare number: it is either cited from a row of the shared
 * reference `teaching-facts.md` (by the same fact id as src/lessons/sources.ts, with that row's
 * grade and the words of the row that give the number) or labelled illustrative with the reason
 * for its value, naming the cited figures it was derived from, if any.
 *
 * src/emu cannot import src/lessons, so the fact ids are listed here; `presets.test.ts` checks each
 * against sources.ts (same id, same grade) and every cited number against teaching-facts.md.
 */

/** The facts of teaching-facts.md's cost table that presets cite (ids as in src/lessons/sources.ts). */
export const COST_FACT_IDS = ['vmx-transition-prescott', 'vmx-transition-merom', 'vmcs-access-cost', 'pf-exit-by-generation', 'kvm-round-trip-amd', 'nanobench-syscall'] as const;
export type CostFactId = (typeof COST_FACT_IDS)[number];

/** teaching-facts.md's grades a figure may carry ("not found" is never cited). */
export type CostGrade = 'verified' | 'partly';

export interface Cited {
  readonly cycles: number;
  readonly fact: CostFactId;
  readonly grade: CostGrade;
  /** The words of the fact's value that give the number, exactly as the file has them. */
  readonly quote: string;
  /** Which number of `quote` this figure is (0 for the first). */
  readonly pick: number;
}

export interface Illustrative {
  readonly cycles: number;
  /** Why this value: what it stands for and how it was chosen or derived. */
  readonly illustrative: string;
  /** The cited figures it was derived from (a split of a round trip, a scaling), or none. */
  readonly basis: readonly Cited[];
}

export type Figure = Cited | Illustrative;

export const isCited = (f: Figure): f is Cited => 'fact' in f;

export function cite(fact: CostFactId, grade: CostGrade, quote: string, pick: number, cycles: number): Cited {
  return { cycles, fact, grade, quote, pick };
}

export function illustrative(cycles: number, why: string, basis: readonly Cited[] = []): Illustrative {
  if (!Number.isFinite(cycles) || cycles < 0) throw new RangeError(`illustrative figure ${cycles} is not a cycle count`);
  return { cycles, illustrative: why, basis };
}
