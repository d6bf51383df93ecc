/**
 * The shadow view, one chunk the lab loads once a scenario under shadow paging is on screen
 * (ViewState.shadow set; never with the first screen).
 */
import '../../i18n/parts/shadow.ts';
export { default as ShadowView } from './ShadowView.svelte';
