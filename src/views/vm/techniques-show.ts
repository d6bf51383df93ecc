/**
 * Where the VM views offer the technique comparison chart: under the techniques that came before
 * hardware assist (trap-and-emulate now; binary translation and paravirtualization when the app
 * runs them), whose whole point is how they compare with VT-x and AMD-V.
 */
const CHART_UNDER: ReadonlySet<string> = new Set(['trap-emulate', 'bt', 'pv']);

export function showsTechniques(technique: string): boolean {
  return CHART_UNDER.has(technique);
}
