/**
 * The techniques comparison as the page receives it (the worker's `techniques` call over
 * emu/hv/technique-compare.ts): plain data, no emulator code, so the page's bundle can name it.
 */
import type { CompareRow } from '../emu/hv/technique-compare.ts';

/** The Intel cost presets the comparison may price VT-x with: the first VT-x, its successor, and a recent core. AMD-V is always priced as amd-recent. */
export const TECHNIQUE_INTEL_PRESETS = ['vtx-prescott', 'core2-merom', 'intel-broadwell'] as const;
export type TechniqueIntelPreset = (typeof TECHNIQUE_INTEL_PRESETS)[number];

/** Iterations per run: each workload runs N and 2N times and the difference is divided by N. */
export const TECHNIQUE_ITERATIONS = 16;

export interface TechniqueComparison {
  intel: TechniqueIntelPreset;
  iterations: number;
  /** One row per workload and technique, in WORKLOADS × TECHNIQUE_IDS order, but none for a pair that cannot exist (PV_UNAVAILABLE: port I/O under PV); figures per iteration. */
  rows: CompareRow[];
}
