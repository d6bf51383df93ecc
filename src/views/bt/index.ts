/**
 * The binary-translation view, one chunk the lab loads once a scenario under binary translation is
 * on screen (ViewState.vm.bt set; never with the first screen).
 */
import '../../i18n/parts/bt.ts';
export { default as BtView } from './BtView.svelte';
export { default as BtWhere } from './BtWhere.svelte';
