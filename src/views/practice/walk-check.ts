/**
 * Practice mode's page-walk answers: reading what the student typed (hex as the command line
 * prints it), checking it against the generator's answer key, and saying what is wrong without
 * English baked in (each reason is a catalog key with its values). Pure: runs on the main thread.
 *
 * The #PF error code bits: SDM Vol. 3A, 4.7 (bit 0 P, 1 W/R, 2 U/S, 3 RSVD, 4 I/D).
 */
import type { ErrorCodeBits, LevelName, U64, WalkAnswer } from '../../emu/exercise/walk-exercise.ts';

/** Why a field cannot be read. `at` is the 1-based position of the offending character. */
export type InputError = { code: 'empty' } | { code: 'badChar'; at: number; char: string } | { code: 'tooBig' } | { code: 'noDigits' };

/**
 * Reads a hex number: an optional `0x`, hex digits, and `_` or spaces between them (as in
 * `0x0012_3000`); upper or lower case. At most 64 bits.
 */
export function parseHex(text: string): { ok: true; value: bigint } | { ok: false; error: InputError } {
  const lead = text.length - text.trimStart().length;
  const s = text.trim();
  if (s === '') return { ok: false, error: { code: 'empty' } };
  const skip = /^0x/i.test(s) ? 2 : 0;
  let digits = '';
  for (let i = skip; i < s.length; i++) {
    const c = s[i]!;
    if (/[0-9a-f]/i.test(c)) digits += c;
    else if (c !== '_' && c !== ' ') return { ok: false, error: { code: 'badChar', at: lead + i + 1, char: c } };
  }
  if (digits === '') return { ok: false, error: { code: 'noDigits' } };
  const value = BigInt(`0x${digits}`);
  if (value >= 1n << 64n) return { ok: false, error: { code: 'tooBig' } };
  return { ok: true, value };
}

/** What the student has entered for one question. */
export interface RawAnswer {
  /** Null until the student says whether the access translates or faults. */
  kind: 'pa' | 'fault' | null;
  pa: string;
  code: string;
  level: LevelName | '';
}

export const emptyAnswer = (): RawAnswer => ({ kind: null, pa: '', code: '', level: '' });

export type Field = 'pa' | 'code' | 'level';

/** A read answer, or the field that cannot be read. */
export type ReadAnswer =
  | { ok: true; answer: { pa: bigint } | { fault: { errorCode: number; level: LevelName } } | null }
  | { ok: false; field: Field; error: InputError | { code: 'noLevel' } };

export function readAnswer(raw: RawAnswer): ReadAnswer {
  if (raw.kind === null) return { ok: true, answer: null };
  if (raw.kind === 'pa') {
    const r = parseHex(raw.pa);
    return r.ok ? { ok: true, answer: { pa: r.value } } : { ok: false, field: 'pa', error: r.error };
  }
  const r = parseHex(raw.code);
  if (!r.ok) return { ok: false, field: 'code', error: r.error };
  if (r.value > 0xffffffffn) return { ok: false, field: 'code', error: { code: 'tooBig' } };
  if (raw.level === '') return { ok: false, field: 'level', error: { code: 'noLevel' } };
  return { ok: true, answer: { fault: { errorCode: Number(r.value), level: raw.level } } };
}

export const ERROR_BITS: readonly (keyof ErrorCodeBits)[] = ['p', 'wr', 'us', 'rsvd', 'id'];
export const BIT_LABELS: Record<keyof ErrorCodeBits, string> = { p: 'P', wr: 'W/R', us: 'U/S', rsvd: 'RSVD', id: 'I/D' };
const BIT_VALUES: Record<keyof ErrorCodeBits, number> = { p: 1, wr: 2, us: 4, rsvd: 8, id: 16 };

/** Why an answer is wrong (the panel words each one from the catalog). */
export type Reason =
  | { code: 'unanswered' }
  | { code: 'faults' }
  | { code: 'translates' }
  | { code: 'offset'; pageSize: number }
  | { code: 'frame'; pageSize: number }
  | { code: 'pa' }
  | { code: 'bit'; bit: keyof ErrorCodeBits; want: boolean }
  | { code: 'extraBits' }
  | { code: 'level'; got: LevelName; want: LevelName };

export type Mark = { right: true } | { right: false; reasons: Reason[] };

/** Checks a read answer (null: not answered) against the key. */
export function markAnswer(key: WalkAnswer, answer: Extract<ReadAnswer, { ok: true }>['answer']): Mark {
  if (answer === null) return { right: false, reasons: [{ code: 'unanswered' }] };
  const reasons: Reason[] = [];
  if (key.ok) {
    if (!('pa' in answer)) return { right: false, reasons: [{ code: 'translates' }] };
    const want = BigInt(key.pa);
    const size = BigInt(key.pageSize);
    if (answer.pa !== want) {
      const frameOk = answer.pa / size === want / size;
      const offsetOk = answer.pa % size === want % size;
      reasons.push(frameOk ? { code: 'offset', pageSize: key.pageSize } : offsetOk ? { code: 'frame', pageSize: key.pageSize } : { code: 'pa' });
    }
  } else {
    if (!('fault' in answer)) return { right: false, reasons: [{ code: 'faults' }] };
    const got = answer.fault.errorCode;
    for (const b of ERROR_BITS) {
      if (((got & BIT_VALUES[b]) !== 0) !== key.bits[b]) reasons.push({ code: 'bit', bit: b, want: key.bits[b] });
    }
    if ((got & ~0x1f) !== 0) reasons.push({ code: 'extraBits' });
    if (answer.fault.level !== key.faultLevel) reasons.push({ code: 'level', got: answer.fault.level, want: key.faultLevel });
  }
  return reasons.length === 0 ? { right: true } : { right: false, reasons };
}

/** `0x` and `digits` hex digits (more if the value needs them), as the command line prints addresses. */
export function hexN(v: bigint | number, digits: number): string {
  return `0x${BigInt(v).toString(16).padStart(digits, '0')}`;
}

export function u64(v: U64): bigint {
  return (BigInt(v.hi >>> 0) << 32n) | BigInt(v.lo >>> 0);
}

/** A 64-bit value as the command line prints it (format.ts hex64; a test keeps them equal). */
export function hexU64(v: U64, digits: number): string {
  const h = (x: number, n: number): string => (x >>> 0).toString(16).padStart(n, '0');
  return digits <= 8 && v.hi === 0 ? `0x${h(v.lo, digits)}` : `0x${h(v.hi, digits - 8)}${h(v.lo, 8)}`;
}

export function pageSizeText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`;
}
