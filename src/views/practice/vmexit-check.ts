/**
 * Practice mode's VM-exit answers: what the student chose (no VM exit, or an exit with its basic
 * reason, the qualification fields that reason has, and the instruction length), checked against
 * the key the lab's VT-x recorded (vmexit-exercise.ts), field by field, with a reason for each
 * verdict as a catalog key and its values. Pure: runs on the main thread.
 *
 * Qualification layouts: SDM Vol. 3C, 28.2.1 (Table 28-3 control-register accesses, Table 28-5
 * I/O instructions; INVLPG: the linear-address operand). Interruption information: 25.9.2.
 */
import type { VmexitAnswer, VmexitProblem } from '../../emu/exercise/vmexit-exercise.ts';
import { parseHex } from './walk-check.ts';

/** The basic exit reasons the generator can produce (number, SDM-style name); a test keeps it so. */
export const VMEXIT_REASONS: readonly (readonly [number, string])[] = [
  [0, 'EXCEPTION_NMI'], [10, 'CPUID'], [12, 'HLT'], [14, 'INVLPG'], [16, 'RDTSC'], [18, 'VMCALL'],
  [28, 'CR_ACCESS'], [30, 'IO_INSTRUCTION'], [31, 'MSR_READ'], [32, 'MSR_WRITE'],
];

export type VmexitField =
  | 'cr' | 'accessType' | 'gpr' | 'lmswOperand' | 'lmswSource'
  | 'size' | 'direction' | 'string' | 'rep' | 'operand' | 'port'
  | 'linear' | 'vector' | 'type';

/** Fields typed as hex (the rest are chosen from a list). */
export const HEX_FIELDS: ReadonlySet<VmexitField> = new Set(['lmswSource', 'port', 'linear']);

/** The fields the student answers for an exit with `reason` (for CR accesses, as the access type chosen needs). */
export function fieldsFor(reason: number, accessType?: number): VmexitField[] {
  if (reason === 28) {
    const base: VmexitField[] = ['cr', 'accessType'];
    if (accessType === 0 || accessType === 1) return [...base, 'gpr'];
    if (accessType === 3) return [...base, 'lmswOperand', 'lmswSource'];
    return base;
  }
  if (reason === 30) return ['size', 'direction', 'string', 'rep', 'operand', 'port'];
  if (reason === 14) return ['linear'];
  if (reason === 0) return ['vector', 'type'];
  return [];
}

/** What the student has entered for one problem: select values and typed text, all strings. */
export interface VmexitRaw {
  outcome: '' | 'none' | 'exit';
  reason: string;
  fields: Partial<Record<VmexitField, string>>;
  /** '' unanswered, 'undefined', or a number of bytes. */
  length: string;
}

export const emptyVmexitRaw = (): VmexitRaw => ({ outcome: '', reason: '', fields: {}, length: '' });

/** The key's value of each field, as numbers (the I/O size in bytes, as the student picks it). */
export function keyFields(a: Extract<VmexitAnswer, { exit: true }>): Partial<Record<VmexitField, number>> {
  const out: Partial<Record<VmexitField, number>> = {};
  for (const f of a.qualificationFields) out[f.name as VmexitField] = f.value;
  if (a.reason === 30) out.size = [1, 2, 0, 4][out.size!] ?? out.size;
  if (a.interruption !== null) for (const f of a.interruption.fields) if (f.name === 'vector' || f.name === 'type') out[f.name] = f.value;
  return out;
}

export type Item = 'outcome' | 'reason' | 'length' | VmexitField;

/** One verdict: right or wrong, and the key's value (null where it is "no VM exit" or "undefined"). */
export interface Verdict {
  item: Item;
  right: boolean;
  /** Not answered (counts as wrong). */
  missing: boolean;
  want: number | null;
}

export type VmexitMark =
  | { kind: 'unread'; field: VmexitField }
  | { kind: 'marked'; right: boolean; verdicts: Verdict[] };

/** Checks the student's answer to one problem against its key. */
export function checkVmexit(key: VmexitAnswer, raw: VmexitRaw): VmexitMark {
  const verdicts: Verdict[] = [];
  const wantOutcome = key.exit ? 'exit' : 'none';
  const outcomeOk = raw.outcome === wantOutcome;
  verdicts.push({ item: 'outcome', right: outcomeOk, missing: raw.outcome === '', want: null });
  if (!outcomeOk || !key.exit) return { kind: 'marked', right: outcomeOk, verdicts };
  const reason = /^\d+$/.test(raw.reason) ? Number(raw.reason) : null;
  const reasonOk = reason === key.reason;
  verdicts.push({ item: 'reason', right: reasonOk, missing: reason === null, want: key.reason });
  if (reasonOk) {
    const want = keyFields(key);
    for (const f of fieldsFor(key.reason, want.accessType)) {
      const text = raw.fields[f] ?? '';
      let got: number | null = null;
      if (text.trim() !== '') {
        if (HEX_FIELDS.has(f)) {
          const r = parseHex(text);
          if (!r.ok) return { kind: 'unread', field: f };
          got = r.value > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(r.value);
        } else got = Number(text);
      }
      verdicts.push({ item: f, right: got === want[f], missing: got === null, want: want[f] ?? null });
    }
  }
  const length = raw.length === '' ? null : raw.length === 'undefined' ? 'undefined' : Number(raw.length);
  const lengthOk = key.instructionLength === null ? length === 'undefined' : length === key.instructionLength;
  verdicts.push({ item: 'length', right: lengthOk, missing: length === null, want: key.instructionLength });
  return { kind: 'marked', right: verdicts.every((v) => v.right), verdicts };
}

// ---- why the instruction exits or not, from the problem's controls (the key decides; a test keeps these in step)

/** Primary processor-based VM-execution control bits (SDM Vol. 3C, Table 25-6); a test keeps them equal to controls.ts. */
export const PRIMARY_BITS = {
  HLT_EXITING: 1 << 7, INVLPG_EXITING: 1 << 9, RDTSC_EXITING: 1 << 12, CR3_LOAD_EXITING: 1 << 15, CR3_STORE_EXITING: 1 << 16,
  CR8_LOAD_EXITING: 1 << 19, CR8_STORE_EXITING: 1 << 20, UNCONDITIONAL_IO_EXITING: 1 << 24, USE_IO_BITMAPS: 1 << 25, USE_MSR_BITMAPS: 1 << 28,
} as const;

/** The sentence that says why: a catalog key (practice.vx.why.*) with its values, and whether it means an exit. */
export interface Why {
  key: string;
  exit: boolean;
  values: Record<string, string | number>;
}

const TS = 1 << 3;
const hx = (v: number): string => `0x${v.toString(16)}`;

function control(p: VmexitProblem, name: keyof typeof PRIMARY_BITS, title: string, exitKey: string, runKey: string): Why {
  const on = (p.setup.primary & PRIMARY_BITS[name]) !== 0;
  return { key: on ? exitKey : runKey, exit: on, values: { control: title, insn: p.asm } };
}

/** Why `p` does or does not cause a VM exit (SDM Vol. 3C 26.1–26.2, 25.6). */
export function whyVmexit(p: VmexitProblem): Why {
  const s = p.setup;
  const i = p.insn;
  const v = { insn: p.asm };
  switch (p.kind) {
    case 'cpuid':
    case 'vmcall':
      return { key: 'always', exit: true, values: v };
    case 'hlt':
      return control(p, 'HLT_EXITING', 'HLT exiting', 'control.1', 'hlt.0');
    case 'invlpg':
      return control(p, 'INVLPG_EXITING', 'INVLPG exiting', 'control.1', 'control.0');
    case 'rdtsc':
      return control(p, 'RDTSC_EXITING', 'RDTSC exiting', 'control.1', 'control.0');
    case 'mov-from-cr3':
      return control(p, 'CR3_STORE_EXITING', 'CR3-store exiting', 'control.1', 'control.0');
    case 'mov-cr8':
      return i.source !== undefined
        ? control(p, 'CR8_LOAD_EXITING', 'CR8-load exiting', 'control.1', 'control.0')
        : control(p, 'CR8_STORE_EXITING', 'CR8-store exiting', 'control.1', 'control.0');
    case 'rdmsr':
    case 'wrmsr': {
      if ((s.primary & PRIMARY_BITS.USE_MSR_BITMAPS) === 0) return { key: 'msr.nobitmap', exit: true, values: v };
      const b = s.msrBits.find((x) => x.quarter.startsWith(p.kind === 'wrmsr' ? 'write' : 'read'));
      if (b === undefined) return { key: 'msr.range', exit: true, values: { ...v, msr: hx(i.msr!) } };
      return { key: b.set ? 'msr.bit.1' : 'msr.bit.0', exit: b.set, values: { ...v, quarter: b.quarter, offset: hx(b.offset), bit: b.bit } };
    }
    case 'io':
    case 'string-io': {
      const ports = Array.from({ length: i.size! }, (_, k) => i.port! + k);
      if ((s.primary & PRIMARY_BITS.USE_IO_BITMAPS) !== 0) {
        const hit = ports.find((q) => q > 0xffff || s.ioBits.some((b) => b.port === q && b.set));
        const range = `${hx(ports[0]!)}–${hx(ports[ports.length - 1]!)}`;
        return hit === undefined ? { key: 'io.bitmap.0', exit: false, values: { ...v, ports: range } } : { key: 'io.bitmap.1', exit: true, values: { ...v, port: hx(hit) } };
      }
      const u = (s.primary & PRIMARY_BITS.UNCONDITIONAL_IO_EXITING) !== 0;
      return { key: u ? 'io.uncond.1' : 'io.uncond.0', exit: u, values: v };
    }
    case 'mov-to-cr0':
    case 'mov-to-cr4': {
      const [mask, shadow] = p.kind === 'mov-to-cr0' ? [s.cr0Mask, s.cr0Shadow] : [s.cr4Mask, s.cr4Shadow];
      const diff = ((i.source! ^ shadow) & mask) >>> 0;
      const values = { ...v, cr: i.cr!, bits: hx(diff) };
      return diff !== 0 ? { key: 'crw.1', exit: true, values } : { key: 'crw.0', exit: false, values };
    }
    case 'mov-from-cr':
      return { key: 'crr', exit: false, values: { ...v, cr: i.cr! } };
    case 'mov-to-cr3': {
      if ((s.primary & PRIMARY_BITS.CR3_LOAD_EXITING) === 0) return { key: 'control.0', exit: false, values: { ...v, control: 'CR3-load exiting' } };
      const at = s.cr3Targets.slice(0, s.cr3TargetCount).indexOf(i.source!);
      return at >= 0
        ? { key: 'cr3.target', exit: false, values: { ...v, value: hx(i.source!), n: at } }
        : { key: 'cr3.notarget', exit: true, values: { ...v, value: hx(i.source!), count: s.cr3TargetCount } };
    }
    case 'clts': {
      const owned = (s.cr0Mask & TS) !== 0;
      const shadow = (s.cr0Shadow & TS) !== 0;
      return { key: owned ? (shadow ? 'clts.1' : 'clts.shadow0') : 'clts.guest', exit: owned && shadow, values: v };
    }
    case 'lmsw': {
      const src = i.source!;
      const pe = (s.cr0Mask & 1) !== 0 && (s.cr0Shadow & 1) === 0 && (src & 1) !== 0;
      const others = ((src ^ s.cr0Shadow) & s.cr0Mask & 0xe) >>> 0;
      if (pe || others !== 0) return { key: 'lmsw.1', exit: true, values: { ...v, bits: hx((pe ? 1 : 0) | others) } };
      return { key: 'lmsw.0', exit: false, values: v };
    }
    case 'exception': {
      if (i.vector === undefined) return { key: 'exc.none', exit: false, values: v };
      const set = ((s.exceptionBitmap >>> i.vector) & 1) !== 0;
      return { key: set ? 'exc.1' : 'exc.0', exit: set, values: { ...v, vector: i.vector } };
    }
  }
}
