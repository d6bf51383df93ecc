/**
 * The side-by-side pair's chunk (issue 7): loaded when the URL asks for a pair (`pair=`) or the
 * comparison panel opens one, never with the first screen. It uses the VM views' chunk (the planes,
 * the narration) through loadVmViews, so the two chunks share nothing that would split off.
 */
import '../../i18n/parts/pair.ts';
export { default as PairPanel } from './PairPanel.svelte';
