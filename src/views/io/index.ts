/**
 * The IOMMU view and the device ring view, one chunk the lab loads once a scenario whose VMs have
 * devices is on screen (ViewState.io set; never with the first screen).
 */
import '../../i18n/parts/io.ts';
export { default as IommuView } from './IommuView.svelte';
export { default as RingView } from './RingView.svelte';
export { default as IoPanel } from './IoPanel.svelte';
