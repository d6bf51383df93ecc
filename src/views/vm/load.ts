/**
 * The VM views' chunk, fetched the first time a view with `vm` is on screen (the bare-machine
 * scenarios never load it). One promise for the session, so every place that shows a VM view
 * shares the download and keeps its components across steps.
 */
type VmViews = typeof import('./index.ts');
let chunk: Promise<VmViews> | null = null;

export function loadVmViews(): Promise<VmViews> {
  return (chunk ??= import('./index.ts'));
}
