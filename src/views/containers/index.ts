/**
 * The containers view and its narration, one chunk the lab loads once a scenario running the
 * container kernel is on screen (ViewState.containers set; never with the first screen).
 */
import '../../i18n/parts/containers.ts';
export { default as ContainersView } from './ContainersView.svelte';
export { narrateContainers } from './narrate-containers.ts';
