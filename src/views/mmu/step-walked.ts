/**
 * Whether a step walked the page tables (or faulted), on its own so that the lab's first screen
 * (App.svelte, presenter mode's walk) does not load the page-walk view's layout code with it.
 */
import type { StepWalks } from '../../worker/walk-types.ts';

/** Whether the step walked the page tables or raised a #PF (what presenter mode shows the walk for). */
export function stepWalked(w: StepWalks): boolean {
  return w.paging !== 'none' && (w.pageFault !== null || w.translations.some((t) => t.source === 'walk'));
}
