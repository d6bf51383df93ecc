/**
 * The `exercise` call's plain data (exercise.ts answers it in the worker), importable by the page
 * without pulling the generator in: the seeded practice problems of the command line
 * (`lab exercise walk|vmexit|nested|shadow ...`). A later generator adds a member to ExerciseSpec and ExerciseResult.
 * EXERCISE_KINDS are the kinds practice mode offers; 'nested' (the 2D walk) and 'shadow' (shadow
 * paging) have no practice view yet, so they are answered here but not offered there.
 */
import type { LevelName, WalkExercise, WalkLevels } from '../emu/exercise/walk-exercise.ts';
import type { VmexitExercise } from '../emu/exercise/vmexit-exercise.ts';
import type { NestedExercise } from '../emu/exercise/nested-exercise.ts';
import type { ShadowExercise } from '../emu/exercise/shadow-exercise.ts';

export const EXERCISE_KINDS = ['walk', 'vmexit'] as const;
export type ExerciseKind = (typeof EXERCISE_KINDS)[number];

export const WALK_LEVELS: readonly WalkLevels[] = [2, 3, 4, 5];
/**
 * The command line's default `--count` and its bounds, by kind (walk-exercise.ts: DEFAULT_COUNT,
 * MAX_COUNT; vmexit-exercise.ts: VMEXIT_DEFAULT_COUNT, VMEXIT_MAX_COUNT; a test keeps them equal).
 */
export const EXERCISE_COUNTS = {
  walk: { default: 5, min: 2, max: 32 },
  vmexit: { default: 6, min: 1, max: 40 },
  nested: { default: 3, min: 1, max: 8 },
  shadow: { default: 8, min: 1, max: 24 },
} as const satisfies Record<ExerciseKind | 'nested' | 'shadow', { default: number; min: number; max: number }>;
/** Walk's bounds (the first kind's, kept under their old name). */
export const EXERCISE_COUNT = EXERCISE_COUNTS.walk;

/** What to generate: the command line's flags (`--levels`, `--seed`, `--count`). */
export type ExerciseSpec =
  | { kind: 'walk'; levels: WalkLevels; seed: number; count: number }
  | { kind: 'vmexit'; seed: number; count: number }
  | { kind: 'nested'; seed: number; count: number }
  | { kind: 'shadow'; seed: number; count: number };

/** How a linear address splits into table indices in the exercise's paging mode (SDM Vol. 3A, 4.3–4.5). */
export interface WalkLayout {
  /** The entry each level reads, root first. */
  names: LevelName[];
  /** The linear-address bits [high, low] of each level's index. */
  bits: [number, number][];
  entrySize: 4 | 8;
  /** Linear-address width (32, 48 or 57); wider ones are sign-extended to 64 bits. */
  laBits: number;
}

export type ExerciseResult =
  | { kind: 'walk'; exercise: WalkExercise; layout: WalkLayout }
  | { kind: 'vmexit'; exercise: VmexitExercise }
  | { kind: 'nested'; exercise: NestedExercise }
  | { kind: 'shadow'; exercise: ShadowExercise };
