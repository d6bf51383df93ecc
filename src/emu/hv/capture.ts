/**
 * Copying the plain-data part of the hypervisor's objects for checkpoints (hv-machine.ts, host.ts):
 * every own field holding plain data is deep-copied, references to other parts of the machine
 * (the CPU, the VMX or SVM unit, the backend) are left alone.
 */
import { deepCopy } from '../trace/checkpoint.ts';

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
  for (const [k, v] of Object.entries(o)) if (!skip.includes(k) && isPlain(v)) out[k] = deepCopy(v);
  return out;
}

export function restoreFields(o: object, saved: Fields): void {
  const t = o as Fields;
  for (const [k, v] of Object.entries(saved)) t[k] = deepCopy(v);
}

/** A copy of a guest monitor: same class, plain fields copied, references (CPU, VMX/SVM unit) shared. */
export function cloneMonitor<T extends object>(m: T): T {
  const c = Object.create(Object.getPrototypeOf(m) as object) as T;
  for (const [k, v] of Object.entries(m)) (c as Fields)[k] = isPlain(v) ? deepCopy(v) : v;
  return c;
}
