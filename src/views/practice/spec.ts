/**
 * Practice mode's problem spec on the page: a fresh seed (the page's randomness; the generator in
 * src/emu only ever gets a seed), and the command line that prints the same problem with its
 * answer key, for an instructor.
 */
import { EXERCISE_COUNTS, type ExerciseSpec } from '../../worker/exercise-types.ts';

/** Seeds the page draws: 0..999999, short enough to read out in a lecture hall. */
export const FRESH_SEEDS = 1_000_000;

/** A fresh seed, from the browser's cryptographic generator (uniform enough: 2^32 is far above FRESH_SEEDS). */
export function freshSeed(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0]! % FRESH_SEEDS;
}

/** The command line (README: `npm run lab -- exercise ...`) that prints `spec`'s problem with its answer key. */
export function cliCommand(spec: ExerciseSpec): string {
  const count = spec.count === EXERCISE_COUNTS[spec.kind].default ? '' : ` --count ${spec.count}`;
  const levels = spec.kind === 'walk' ? ` --levels ${spec.levels}` : '';
  return `npm run lab -- exercise ${spec.kind}${levels} --seed ${spec.seed}${count} --answers`;
}

/** The arguments of `cliCommand` after `npm run lab --`. */
export function cliArgs(spec: ExerciseSpec): string[] {
  return cliCommand(spec).split(' ').slice(4);
}
