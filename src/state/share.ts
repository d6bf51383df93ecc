/**
 * Structural sharing between two plain-data values (what postMessage delivers: objects, arrays,
 * strings, numbers, booleans, null, bigints): the new value with every part that equals the old
 * one replaced by the old one, and the old value itself when the two are equal. Each view state
 * arrives as a fresh copy from the worker; sharing the parts that did not change lets keyed
 * `{#each}` blocks over `$state.raw` data skip the rows that are the same object as before (the
 * VMCS inspector's fields and controls: hundreds of rows, few of which change in a step).
 */
export function share<T>(prev: T, next: T): T {
  if (Object.is(prev, next)) return prev;
  if (typeof prev !== 'object' || typeof next !== 'object' || prev === null || next === null) return next;
  if (Array.isArray(prev) !== Array.isArray(next)) return next;
  if (Array.isArray(next)) {
    const p = prev as unknown[];
    let same = p.length === next.length;
    const out = next.map((v, i) => {
      const s = i < p.length ? share(p[i], v) : v;
      if (s !== p[i]) same = false;
      return s;
    });
    return (same ? prev : out) as T;
  }
  const p = prev as Record<string, unknown>;
  const n = next as Record<string, unknown>;
  const keys = Object.keys(n);
  let same = keys.length === Object.keys(p).length;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const s = Object.hasOwn(p, k) ? share(p[k], n[k]) : n[k];
    if (s !== p[k] || !Object.hasOwn(p, k)) same = false;
    out[k] = s;
  }
  return (same ? prev : out) as T;
}
