/** The I/O views' chunk (IOMMU view, device rings), fetched the first time a scenario with devices is on screen; one promise for the session. */
type IoViews = typeof import('./index.ts');
let chunk: Promise<IoViews> | null = null;

export function loadIoViews(): Promise<IoViews> {
  return (chunk ??= import('./index.ts'));
}
