/**
 * The `exercise` call (exercise-types.ts): generated in the worker, since the generator builds
 * paging structures in memory and walks them with the lab's MMU, and returned as plain data.
 */
import type { WalkLevels } from '../emu/exercise/walk-exercise.ts';
import type { generateVmexitExercise } from '../emu/exercise/vmexit-exercise.ts';
import { EXERCISE_COUNTS, WALK_LEVELS, type ExerciseResult, type ExerciseSpec } from './exercise-types.ts';

/**
 * The generators are chunks of their own, loaded on first use: the VM-exit generator pulls in the
 * assembler's tables and the VMX model (about 27 kB gzip), the walk generator its paging builders
 * (about 5 kB), more than the worker's first load can afford (bench/browser.ts: "before
 * interactive"). `prepareExercise` loads the one a spec needs before it is answered (the worker's
 * handler and the in-thread client both await it), and `makeExercise` stays synchronous.
 */
let vmexitGenerator: typeof generateVmexitExercise | null = null;
let walkGenerator: typeof import('../emu/exercise/walk-exercise.ts') | null = null;
let nestedGenerator: typeof import('../emu/exercise/nested-exercise.ts').generateNestedExercise | null = null;
let shadowGenerator: typeof import('../emu/exercise/shadow-exercise.ts').generateShadowExercise | null = null;

function kindOf(spec: unknown): unknown {
  return typeof spec === 'object' && spec !== null ? (spec as { kind?: unknown }).kind : undefined;
}

/** True when `spec` needs a chunk `prepareExercise` has not loaded yet. */
export function needsPreparing(spec: unknown): boolean {
  const kind = kindOf(spec);
  return (kind === 'vmexit' && vmexitGenerator === null) || (kind === 'walk' && walkGenerator === null) || (kind === 'nested' && nestedGenerator === null) || (kind === 'shadow' && shadowGenerator === null);
}

/** Loads the generator a spec needs (a no-op when loaded or not needed). */
export async function prepareExercise(spec: unknown): Promise<void> {
  if (!needsPreparing(spec)) return;
  if (kindOf(spec) === 'vmexit') vmexitGenerator = (await import('../emu/exercise/vmexit-exercise.ts')).generateVmexitExercise;
  // The nested and shadow generators run the hypervisor's own walkers and shadow MMU: they come with
  // its chunk (hv-part.ts), so the worker has one lazy chunk of hypervisor code, not several that
  // would split the modules they share with its first load into extra files.
  else if (kindOf(spec) === 'nested') nestedGenerator = (await import('./hv-part.ts')).generateNestedExercise;
  else if (kindOf(spec) === 'shadow') shadowGenerator = (await import('./hv-part.ts')).generateShadowExercise;
  else walkGenerator = await import('../emu/exercise/walk-exercise.ts');
}

/** Generates the exercise; a malformed spec throws a RangeError naming the field (an error answer). */
export function makeExercise(spec: ExerciseSpec): ExerciseResult {
  const s: { kind?: unknown; levels?: unknown; seed?: unknown; count?: unknown } = typeof spec === 'object' && spec !== null ? spec : {};
  if (s.kind !== 'walk' && s.kind !== 'vmexit' && s.kind !== 'nested' && s.kind !== 'shadow') throw new RangeError(`exercise kind: ${JSON.stringify(s.kind)} is not walk, vmexit, nested or shadow`);
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
  if (s.kind === 'nested') {
    if (nestedGenerator === null) throw new Error('exercise nested: the generator is not loaded (prepareExercise first)');
    return { kind: 'nested', exercise: nestedGenerator({ seed: s.seed, count: s.count }) };
  }
  if (s.kind === 'shadow') {
    if (shadowGenerator === null) throw new Error('exercise shadow: the generator is not loaded (prepareExercise first)');
    return { kind: 'shadow', exercise: shadowGenerator({ seed: s.seed, count: s.count }) };
  }
  if (walkGenerator === null) throw new Error('exercise walk: the generator is not loaded (prepareExercise first)');
  const levels = s.levels as WalkLevels;
  const m = walkGenerator.MODE_SPECS[levels];
  return {
    kind: 'walk',
    exercise: walkGenerator.generateWalkExercise({ levels, seed: s.seed, count: s.count }),
    layout: {
      names: [...m.names],
      bits: m.shifts.map((sh, i): [number, number] => [sh + m.widths[i]! - 1, sh]),
      entrySize: m.entrySize,
      laBits: m.laBits,
    },
  };
}
