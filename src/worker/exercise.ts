/**
 * The `exercise` call (exercise-types.ts): generated in the worker, since the generator builds
 * paging structures in memory and walks them with the lab's MMU, and returned as plain data.
 */
import { generateWalkExercise, MODE_SPECS, type WalkLevels } from '../emu/exercise/walk-exercise.ts';
import { generateVmexitExercise } from '../emu/exercise/vmexit-exercise.ts';
import { EXERCISE_COUNTS, WALK_LEVELS, type ExerciseResult, type ExerciseSpec } from './exercise-types.ts';

/** Generates the exercise; a malformed spec throws a RangeError naming the field (an error answer). */
export function makeExercise(spec: ExerciseSpec): ExerciseResult {
  const s: { kind?: unknown; levels?: unknown; seed?: unknown; count?: unknown } = typeof spec === 'object' && spec !== null ? spec : {};
  if (s.kind !== 'walk' && s.kind !== 'vmexit') throw new RangeError(`exercise kind: ${JSON.stringify(s.kind)} is not walk or vmexit`);
  if (s.kind === 'walk' && !WALK_LEVELS.includes(s.levels as WalkLevels)) throw new RangeError(`exercise levels: ${JSON.stringify(s.levels)} is not 2, 3, 4 or 5`);
  if (typeof s.seed !== 'number' || !Number.isSafeInteger(s.seed) || s.seed < 0) {
    throw new RangeError(`exercise seed: ${JSON.stringify(s.seed)} is not a non-negative integer`);
  }
  const { min, max } = EXERCISE_COUNTS[s.kind];
  if (typeof s.count !== 'number' || !Number.isInteger(s.count) || s.count < min || s.count > max) {
    throw new RangeError(`exercise count: ${JSON.stringify(s.count)} is not ${min}..${max}`);
  }
  // VM-exit problems run each instruction under the lab's VT-x (VMLAUNCH, the guest, VMREAD): here, in the worker.
  if (s.kind === 'vmexit') return { kind: 'vmexit', exercise: generateVmexitExercise({ seed: s.seed, count: s.count }) };
  const levels = s.levels as WalkLevels;
  const m = MODE_SPECS[levels];
  return {
    kind: 'walk',
    exercise: generateWalkExercise({ levels, seed: s.seed, count: s.count }),
    layout: {
      names: [...m.names],
      bits: m.shifts.map((sh, i): [number, number] => [sh + m.widths[i]! - 1, sh]),
      entrySize: m.entrySize,
      laBits: m.laBits,
    },
  };
}
