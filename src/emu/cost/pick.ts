/**
 * Which cost preset prices a run under a technique: the default per technique, and the check that
 * a named preset prices that vendor, in the words `exec --under` and scenario validation use.
 * Light on purpose: validating a scenario (in the worker's first load) needs only the presets' ids
 * and vendors, not their figures; `PRESET_VENDORS` is kept equal to presets.ts by a test.
 */
export type PresetTechnique = 'svm' | 'vtx' | 'trap-emulate' | 'bt';
/** The software techniques are priced on the Pentium 4 by default: the processor of the years before VT-x, where their figures were measured. */
export const DEFAULT_PRESET: Record<PresetTechnique, string> = { svm: 'amd-recent', vtx: 'intel-broadwell', 'trap-emulate': 'vtx-prescott', bt: 'vtx-prescott' };

/** Every preset of presets.ts by id, with the vendor it prices, in the order PRESETS lists them. */
export const PRESET_VENDORS: Readonly<Record<string, 'intel' | 'amd'>> = {
  'vtx-prescott': 'intel',
  'core2-merom': 'intel',
  'intel-broadwell': 'intel',
  'amd-recent': 'amd',
};

/** Why preset `id` (default: the technique's) cannot price this technique, or null when it can. */
export function presetProblem(under: PresetTechnique, id: string | undefined): string | null {
  const want = under === 'svm' ? 'amd' : 'intel';
  const pid = id ?? DEFAULT_PRESET[under];
  const vendor = Object.hasOwn(PRESET_VENDORS, pid) ? PRESET_VENDORS[pid] : undefined;
  const ids = Object.keys(PRESET_VENDORS);
  if (vendor === undefined) return `no cost preset '${id}' (presets: ${ids.join(', ')})`;
  // The software techniques use no virtualization extension: any processor's preset prices them.
  if (under !== 'trap-emulate' && under !== 'bt' && vendor !== want) {
    const fit = ids.filter((x) => PRESET_VENDORS[x] === want).join(', ');
    return `preset '${pid}' prices ${vendor === 'intel' ? 'VT-x' : 'AMD-V'}, not ${want === 'intel' ? 'VT-x' : 'AMD-V'} (use ${fit})`;
  }
  return null;
}
