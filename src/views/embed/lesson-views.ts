/**
 * Which views an embedded lesson needs beside the embed's own (the ring diagram and the code): those
 * its steps point at or ask the student to pick from, by their `data-lesson-target` values.
 */
import type { StepDef } from '../../lessons/kit.ts';

export interface EmbedViews {
  registers: boolean;
  walk: boolean;
  tlb: boolean;
}

/** The views a target id lives in (`reg-rcx` in the registers, `walk-pte` in the page walk). */
function viewOf(id: string): keyof EmbedViews | null {
  if (id === 'registers' || id.startsWith('reg-')) return 'registers';
  if (id === 'walk' || id.startsWith('walk-')) return 'walk';
  if (id === 'tlb' || id.startsWith('tlb-')) return 'tlb';
  return null;
}

export function embedViewsFor(steps: readonly StepDef[]): EmbedViews {
  const v: EmbedViews = { registers: false, walk: false, tlb: false };
  for (const s of steps) {
    for (const id of [s.point, s.kind === 'target' ? s.among : undefined]) {
      const k = id === undefined ? null : viewOf(id);
      if (k !== null) v[k] = true;
    }
  }
  return v;
}
