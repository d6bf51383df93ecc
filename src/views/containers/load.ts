/** The containers view's chunk, fetched the first time a scenario running the container kernel is on screen; one promise for the session. */
type ContainersViews = typeof import('./index.ts');
let chunk: Promise<ContainersViews> | null = null;

export function loadContainersViews(): Promise<ContainersViews> {
  return (chunk ??= import('./index.ts'));
}
