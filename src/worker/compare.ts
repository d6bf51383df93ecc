/**
 * The comparison of a scenario under each hypervisor configuration (emu/hv/compare.ts), for the
 * app's comparison chart. It runs the hypervisor, so it lives in the hypervisor's chunk
 * (hv-part.ts), loaded the first time a comparison is asked for (`prepareCompare`; the worker's
 * handler and the in-thread client await it) and never part of the worker's first load. One
 * chunk, not two: a second dynamic import would split the modules they share into more files.
 */
import type { Json } from './protocol.ts';
import type { CompareResult } from '../emu/hv/compare.ts';
import type { IoComparison, IrqComparison } from '../emu/hv/io-compare.ts';
import type { PairHolder } from './pair.ts';
import type { PairOp, PairResult } from './pair-types.ts';
import { TECHNIQUE_INTEL_PRESETS, TECHNIQUE_ITERATIONS, type TechniqueComparison } from './techniques-types.ts';

/** Steps per run at most: a comparison makes several runs, and the worker answers nothing else meanwhile. */
export const COMPARE_STEP_CAP = 200_000;

let compare: typeof import('./hv-part.ts') | null = null;

export function needsCompareChunk(): boolean {
  return compare === null;
}

export async function prepareCompare(): Promise<void> {
  compare ??= await import('./hv-part.ts');
}

/**
 * The side-by-side pair's call (worker/pair.ts), answered from the same chunk: `holder` is one
 * session's pair. One import site of the chunk for both calls, so the bundler has no reason to
 * split what the chunk shares with the worker's first load into more files.
 */
export function runPair(holder: PairHolder, op: PairOp): PairResult {
  if (compare === null) throw new Error('pair: the hypervisor is not loaded (prepareCompare first)');
  return compare.answerPair(holder, op);
}

/** The three ways of giving a VM a network card or a disk (emu/hv/io-compare.ts), `frames` (frames or blocks) of 1..64. */
export function runIoWays(under: 'vtx' | 'svm', frames: number, kind: 'nic' | 'disk' = 'nic'): IoComparison {
  if (compare === null) throw new Error('ioWays: the hypervisor is not loaded (prepareCompare first)');
  if (under !== 'vtx' && under !== 'svm') throw new RangeError(`ioWays: under '${String(under)}' is not vtx or svm`);
  if (!Number.isInteger(frames) || frames < 1 || frames > 64) throw new RangeError(`ioWays: frames ${frames} is not 1..64`);
  if (kind !== 'nic' && kind !== 'disk') throw new RangeError(`ioWays: kind '${String(kind)}' is not nic or disk`);
  return compare.compareWays(under, frames, ['emulated', 'virtio', 'assigned'], under === 'svm' ? 'amd-vi' : 'vtd', undefined, kind);
}

/** The network card's interrupts delivered three ways, against polling (emu/hv/io-compare.ts compareInterrupts), `frames` of 1..32. */
export function runIoInterrupts(under: 'vtx' | 'svm', frames: number): IrqComparison {
  if (compare === null) throw new Error('ioInterrupts: the hypervisor is not loaded (prepareCompare first)');
  if (under !== 'vtx' && under !== 'svm') throw new RangeError(`ioInterrupts: under '${String(under)}' is not vtx or svm`);
  if (!Number.isInteger(frames) || frames < 1 || frames > 32) throw new RangeError(`ioInterrupts: frames ${frames} is not 1..32`);
  return compare.compareInterrupts(under, frames, under === 'svm' ? 'amd-vi' : 'vtd');
}

/** The techniques on Adams and Agesen's nanobenchmarks (emu/hv/technique-compare.ts), VT-x priced by one of TECHNIQUE_INTEL_PRESETS, AMD-V by amd-recent. */
export function runTechniques(intel: string): TechniqueComparison {
  if (compare === null) throw new Error('techniques: the hypervisor is not loaded (prepareCompare first)');
  const preset = TECHNIQUE_INTEL_PRESETS.find((p) => p === intel);
  if (preset === undefined) throw new RangeError(`techniques: preset '${String(intel)}' is not one of ${TECHNIQUE_INTEL_PRESETS.join(', ')}`);
  return { intel: preset, iterations: TECHNIQUE_ITERATIONS, rows: compare.compareTechniques(TECHNIQUE_ITERATIONS, preset) };
}

/** Runs the comparison; a scenario that cannot be compared is an answer with errors, not a failure. */
export function runCompare(scenario: Json): CompareResult {
  if (compare === null) throw new Error('compare: the comparison is not loaded (prepareCompare first)');
  return compare.compareScenario(scenario, { stepCap: COMPARE_STEP_CAP });
}
