/**
 * The sandbox's editing model, as plain functions: reading and writing a scenario field by its
 * path, the settings form's fields, integers typed in decimal or hex, which editor an error
 * belongs to, and text positions. Scenario fields are those of src/emu/scenario/schema.ts.
 */
import { MODES, PAGING_MODES, TECHNIQUES, VENDORS, type ScenarioError } from '../../emu/scenario/schema.ts';
import type { Json } from '../../worker/protocol.ts';

export type JsonObject = { [key: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at a dotted path (`devices.timer.vector`), or undefined. */
export function getAt(o: JsonObject, path: string): Json | undefined {
  let cur: Json | undefined = o;
  for (const k of path.split('.')) {
    if (!isObject(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/**
 * A copy of `o` with the value at `path` set (objects on the way created as needed), or removed
 * when `value` is undefined (then emptied parents are removed too). `o` is not changed.
 */
export function setAt(o: JsonObject, path: string, value: Json | undefined): JsonObject {
  const [k, ...rest] = path.split('.');
  const out: JsonObject = { ...o };
  if (k === undefined) return out;
  if (rest.length === 0) {
    if (value === undefined) delete out[k];
    else out[k] = value;
    return out;
  }
  const child = isObject(o[k]) ? o[k] : {};
  const next = setAt(child, rest.join('.'), value);
  if (Object.keys(next).length === 0 && value === undefined) delete out[k];
  else out[k] = next;
  return out;
}

/** A form's text → integer: decimal, or hex with 0x; anything else is kept as typed (validation then names it). */
export function parseIntText(text: string): number | string {
  const t = text.trim().replace(/_/g, '');
  if (/^\d+$/.test(t) || /^0x[0-9a-f]+$/i.test(t)) {
    const n = Number(t);
    if (Number.isSafeInteger(n)) return n;
  }
  return text;
}

export function formatInt(v: Json | undefined, hex: boolean): string {
  if (typeof v === 'number') return hex && Number.isInteger(v) && v >= 0 ? `0x${v.toString(16)}` : String(v);
  if (typeof v === 'string') return v;
  return '';
}

/** The settings form: each field's scenario path, kind and (for lists) choices. */
export type FieldId = 'name' | 'description' | 'boot' | 'vendor' | 'mode' | 'paging' | 'memory' | 'timerVector' | 'timerPeriod' | 'uartPort' | 'maxSteps' | 'technique';

export interface FieldSpec {
  id: FieldId;
  path: string;
  kind: 'text' | 'longtext' | 'choice' | 'int';
  choices?: readonly string[];
  /** Shown in hex (addresses, sizes, ports). */
  hex?: boolean;
  /** What an absent field means (the validator's default), shown as the placeholder. */
  fallback?: string;
}

export const FIELDS: readonly FieldSpec[] = [
  { id: 'name', path: 'name', kind: 'text' },
  { id: 'description', path: 'description', kind: 'longtext' },
  { id: 'boot', path: 'boot', kind: 'choice', choices: ['kernel', 'bare'], fallback: 'kernel' },
  { id: 'vendor', path: 'cpu.vendor', kind: 'choice', choices: VENDORS },
  { id: 'mode', path: 'mode', kind: 'choice', choices: MODES },
  { id: 'paging', path: 'paging', kind: 'choice', choices: PAGING_MODES },
  { id: 'memory', path: 'memory.size', kind: 'int', hex: true },
  { id: 'timerVector', path: 'devices.timer.vector', kind: 'int' },
  { id: 'timerPeriod', path: 'devices.timer.period', kind: 'int' },
  { id: 'uartPort', path: 'devices.uart.port', kind: 'int', hex: true, fallback: '0x3f8' },
  { id: 'maxSteps', path: 'limits.maxSteps', kind: 'int', fallback: '1000000' },
  // 'none' is the field absent: the bare machine, without the hypervisor.
  // 'pv' is not offered: its guest is the lab's own kernel (hv/pv/kernel.ts), chosen by the pv examples, not a program written here.
  { id: 'technique', path: 'technique', kind: 'choice', choices: ['none', ...TECHNIQUES.filter((t) => t !== 'pv')], fallback: 'none' },
];

/** Paging modes each CPU mode allows (schema.ts: prot32 none/32bit/pae; long64 4level/5level). */
export function pagingFits(mode: Json | undefined, paging: string): boolean {
  if (mode === 'long64') return paging === '4level' || paging === '5level';
  if (mode === 'prot32') return paging === 'none' || paging === '32bit' || paging === 'pae';
  return true;
}

/** A timer the form adds: vector 32 (the first after the exceptions), every 1,000 steps. */
export const NEW_TIMER = { vector: 32, period: 1000 } as const;

/** Where the sandbox shows an error: a code editor (at a line when known), a form field, or the JSON. */
export type ErrorPlace =
  | { tab: 'kernel' | 'user'; line: number | null; column: number | null }
  | { tab: 'settings'; field: FieldId }
  | { tab: 'json'; path: string };

export function placeOf(e: ScenarioError): ErrorPlace {
  const program = /^(kernel|user)(?:\.(source|bytes))?$/.exec(e.path);
  if (program) return { tab: program[1] as 'kernel' | 'user', line: e.line ?? null, column: e.column ?? null };
  const field = FIELDS.find((f) => f.path === e.path) ?? (e.path === 'devices.timer' ? FIELDS.find((f) => f.id === 'timerVector') : undefined);
  if (field !== undefined) return { tab: 'settings', field: field.id };
  if (e.path === 'cpu') return { tab: 'settings', field: 'vendor' };
  return { tab: 'json', path: e.path };
}

/** The offset of a 1-based line and column in a text (clamped to the text). */
export function offsetOf(text: string, line: number, column: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) return text.length;
    at = nl + 1;
  }
  const end = text.indexOf('\n', at);
  const lineEnd = end < 0 ? text.length : end;
  return Math.min(lineEnd, at + Math.max(0, column - 1));
}

/** The scenario as the JSON editor shows it. */
export function prettyJson(o: Json): string {
  return JSON.stringify(o, null, 2) + '\n';
}
