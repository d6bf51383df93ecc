/**
 * The VT-x and AMD-V views, one chunk the lab loads once a scenario with a `technique` is on screen
 * (`ViewState.vm` non-null): the planes, the VMCS / VMCB inspector, the charts and the consoles.
 */
import '../../i18n/parts/vm.ts';
export { default as VmPlanes } from './VmPlanes.svelte';
export { default as VmInspector } from './VmInspector.svelte';
export { default as VmCharts } from './VmCharts.svelte';
export { default as VmCompare } from './VmCompare.svelte';
export { default as IoWays } from './IoWays.svelte';
export { default as IoInterrupts } from './IoInterrupts.svelte';
export { default as Techniques } from './Techniques.svelte';
export { showsTechniques } from './techniques-show.ts';
export { default as VmConsoles } from './VmConsoles.svelte';
export { default as PvKernelDiff } from './PvKernelDiff.svelte';
export { default as HostingPanel } from './HostingPanel.svelte';
export { translator } from '../cpu/text.ts';
export { narrateVm } from './narrate-vm.ts';
export { narrateDma } from './narrate-dma.ts';
export { narrateIo, narrateMsi } from './narrate-msi.ts';
