/**
 * The nested-walk grid, one chunk the lab loads once a scenario with a `technique` is on screen
 * (with the VM views; never with the first screen).
 */
import '../../i18n/parts/nested.ts';
export { default as NestedWalkView } from './NestedWalkView.svelte';
export type { RunAnswer } from './NestedWalkView.svelte';
