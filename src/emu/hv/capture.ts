/**
 * Copying the plain-data part of the hypervisor's objects for checkpoints (hv-machine.ts, host.ts):
 * every own field holding plain data is deep-copied, references to other parts of the machine
 * (the CPU, the VMX or SVM unit, the backend) are left alone.
 *
 * One object's fields are copied as one graph: a value two fields share (binary translation's
 * blocks, held by `blocks`, `all`, the callout sites and each other's chains) stays one value in
 * the copy, and cycles (a block chained to one that lists it among its incoming exits) end.
 */
import { deepCopy } from '../trace/checkpoint.ts';

/** A deep copy of `v` in which what was shared (within one `seen`) stays shared, and cycles are kept. */
function copyGraph<T>(v: T, seen: Map<object, unknown>): T {
  if (v === null || typeof v !== 'object') return v;
  const done = seen.get(v);
  if (done !== undefined) return done as T;
  if (ArrayBuffer.isView(v)) {
    const c = (v as unknown as Uint8Array).slice();
    seen.set(v, c);
    return c as unknown as T;
  }
  if (v instanceof Map) {
    const c = new Map();
    seen.set(v, c);
    for (const [k, x] of v) c.set(copyGraph(k, seen), copyGraph(x, seen));
    return c as unknown as T;
  }
  if (v instanceof Set) {
    const c = new Set();
    seen.set(v, c);
    for (const x of v) c.add(copyGraph(x, seen));
    return c as unknown as T;
  }
  if (Array.isArray(v)) {
    const c: unknown[] = [];
    seen.set(v, c);
    for (const x of v) c.push(copyGraph(x, seen));
    return c as unknown as T;
  }
  const c: Record<string, unknown> = {};
  seen.set(v, c);
  for (const k of Object.keys(v)) c[k] = copyGraph((v as Record<string, unknown>)[k], seen);
  return c as T;
}

export type Fields = Record<string, unknown>;

/** Plain data (copied into a checkpoint) as opposed to a reference to another part of the machine. */
export function isPlain(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return typeof v !== 'function';
  if (Array.isArray(v) || ArrayBuffer.isView(v) || v instanceof Map || v instanceof Set) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Every own field of `o` holding plain data, deep-copied (`skip`: fields kept otherwise). */
export function captureFields(o: object, skip: readonly string[] = []): Fields {
  const out: Fields = {};
  const seen = new Map<object, unknown>();
  for (const [k, v] of Object.entries(o)) if (!skip.includes(k) && isPlain(v)) out[k] = copyGraph(v, seen);
  return out;
}

export function restoreFields(o: object, saved: Fields): void {
  const t = o as Fields;
  const seen = new Map<object, unknown>();
  for (const [k, v] of Object.entries(saved)) t[k] = copyGraph(v, seen);
}

/** A copy of a guest monitor: same class, plain fields copied, references (CPU, VMX/SVM unit) shared. */
export function cloneMonitor<T extends object>(m: T): T {
  const c = Object.create(Object.getPrototypeOf(m) as object) as T;
  for (const [k, v] of Object.entries(m)) (c as Fields)[k] = isPlain(v) ? deepCopy(v) : v;
  return c;
}
