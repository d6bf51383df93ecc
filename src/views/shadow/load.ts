/** The shadow view's chunk, fetched the first time a scenario under shadow paging is on screen; one promise for the session. */
type ShadowViews = typeof import('./index.ts');
let chunk: Promise<ShadowViews> | null = null;

export function loadShadowViews(): Promise<ShadowViews> {
  return (chunk ??= import('./index.ts'));
}
