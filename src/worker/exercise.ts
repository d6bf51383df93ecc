/**
 * The `exercise` call (exercise-types.ts): generated in the worker, since the generator builds
 * paging structures in memory and walks them with the lab's MMU, and returned as plain data.
 */
import { generateWalkExercise, MODE_SPECS, type WalkLevels } from '../emu/exercise/walk-exercise.ts';
import type { generateVmexitExercise } from '../emu/exercise/vmexit-exercise.ts';
import { EXERCISE_COUNTS, WALK_LEVELS, type ExerciseResult, type ExerciseSpec } from './exercise-types.ts';

/**
 * The VM-exit generator pulls in the assembler and the VMX model (about 27 kB gzip), more than the
 * worker's first load can afford (bench/browser.ts: "before interactive"), so it is a chunk of its
 * own: `prepareExercise` loads it before the first vmexit spec is answered (the worker's handler
 * and the in-thread client both await it), and `makeExercise` stays synchronous.
 */
let vmexitGenerator: typeof generateVmexitExercise | null = null;

/** True when `spec` needs a chunk `prepareExercise` has not loaded yet. */
export function needsPreparing(spec: unknown): boolean {
  return vmexitGenerator === null && typeof spec === 'object' && spec !== null && (spec as { kind?: unknown }).kind === 'vmexit';
}

/** Loads the generator a spec needs (a no-op when loaded or not needed). */
export async function prepareExercise(spec: unknown): Promise<void> {
  if (needsPreparing(spec)) vmexitGenerator = (await import('../emu/exercise/vmexit-exercise.ts')).generateVmexitExercise;
}

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
  if (s.kind === 'vmexit') {
    if (vmexitGenerator === null) throw new Error('exercise vmexit: the generator is not loaded (prepareExercise first)');
    return { kind: 'vmexit', exercise: vmexitGenerator({ seed: s.seed, count: s.count }) };
  }
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
