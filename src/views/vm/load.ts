/**
 * The VM views' chunk, fetched the first time a view with `vm` is on screen (the bare-machine
 * scenarios never load it). One promise for the session, so every place that shows a VM view
 * shares the download and keeps its components across steps.
 */
import type { VmView } from '../../worker/vm-types.ts';

type VmViews = typeof import('./index.ts');
let chunk: Promise<VmViews> | null = null;

export function loadVmViews(): Promise<VmViews> {
  return (chunk ??= import('./index.ts'));
}

/**
 * Whether "run to next VM exit" can find one, or why not: no technique, the machine has stopped,
 * or every VM has ended. (Here, not in model.ts: the first screen needs it, and a module the
 * chunk shares with the first screen would be downloaded with the first screen.)
 */
export function vmRunBlock(vm: VmView | null, stopped: boolean): 'no-vm' | 'stopped' | 'ended' | null {
  if (vm === null) return 'no-vm';
  if (stopped) return 'stopped';
  if (vm.vms.length > 0 && vm.vms.every((g) => g.state === 'ended')) return 'ended';
  return null;
}
