/** The nested-walk grid's chunk, fetched the first time a scenario with a technique is on screen; one promise for the session. */
type NestedViews = typeof import('./index.ts');
let chunk: Promise<NestedViews> | null = null;

export function loadNestedViews(): Promise<NestedViews> {
  return (chunk ??= import('./index.ts'));
}
