/** The binary-translation view's chunk, fetched the first time a scenario under binary translation is on screen; one promise for the session. */
type BtViews = typeof import('./index.ts');
let chunk: Promise<BtViews> | null = null;

export function loadBtViews(): Promise<BtViews> {
  return (chunk ??= import('./index.ts'));
}
