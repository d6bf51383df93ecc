/**
 * Practice mode's VM-exit problems in words: the generator's notes on controls (as data) worded
 * from the catalog (control and field names stay as the SDM spells them), the answer choices, and
 * the sentences that explain a verdict. Pure.
 */
import type { MessageKey } from '../../i18n/messages.ts';
import type { Tr } from '../cpu/text.ts';
import type { ControlNote, VmexitAnswer, VmexitProblem } from '../../emu/exercise/vmexit-exercise.ts';
import { VMEXIT_REASONS, whyVmexit, type Item, type Verdict, type VmexitField } from './vmexit-check.ts';

const GPR = ['RAX', 'RCX', 'RDX', 'RBX', 'RSP', 'RBP', 'RSI', 'RDI', 'R8', 'R9', 'R10', 'R11', 'R12', 'R13', 'R14', 'R15'];
const VECTORS: readonly [number, string][] = [[0, '#DE'], [1, '#DB'], [3, '#BP'], [4, '#OF'], [6, '#UD'], [13, '#GP'], [14, '#PF']];

/** The generator's note on a control (its data form), in the page's language. */
export function noteText(t: Tr, note: ControlNote): string {
  const none = (s: string): string => (s === 'none' ? t('practice.vx.none') : s);
  switch (note.id) {
    case 'primary': return t('practice.vx.note.primary');
    case 'owned': return t('practice.vx.note.owned', { bits: none(note.bits) });
    case 'shadow': return t('practice.vx.note.shadow', { bits: none(note.bits) });
    case 'bits': return t('practice.vx.note.bits', { bits: none(note.bits) });
    case 'copy': return t('practice.vx.note.copy', { pa: note.pa });
    case 'range': return t('practice.vx.note.range', { msr: note.msr });
  }
}

export type Option = { value: string; label: string };

/** The choices of a listed field (hex fields have none). */
export function fieldOptions(t: Tr, f: VmexitField, bits: 32 | 64): Option[] {
  const o = (value: number, label: string): Option => ({ value: String(value), label: `${value} ${label}`.trim() });
  switch (f) {
    case 'cr':
      return [0, 3, 4, 8].map((n) => o(n, `(CR${n})`));
    case 'accessType':
      return [o(0, 'MOV to CR'), o(1, 'MOV from CR'), o(2, 'CLTS'), o(3, 'LMSW')];
    case 'gpr':
      return GPR.slice(0, bits === 64 ? 16 : 8).map((r, n) => o(n, bits === 64 ? r : r.replace(/^R/, 'E')));
    case 'lmswOperand':
      return [o(0, t('practice.vx.o.register')), o(1, t('practice.vx.o.memory'))];
    case 'size':
      return [{ value: '1', label: t('practice.vx.o.byte') }, { value: '2', label: t('practice.vx.o.bytes', { n: 2 }) }, { value: '4', label: t('practice.vx.o.bytes', { n: 4 }) }];
    case 'direction':
      return [o(0, 'OUT'), o(1, 'IN')];
    case 'string':
    case 'rep':
      return [o(0, t('practice.vx.o.no')), o(1, t('practice.vx.o.yes'))];
    case 'operand':
      return [o(0, t('practice.vx.o.dx')), o(1, t('practice.vx.o.immediate'))];
    case 'vector':
      return VECTORS.map(([n, name]) => o(n, name));
    case 'type':
      return [o(3, t('practice.vx.o.hardware')), o(6, t('practice.vx.o.software'))];
    default:
      return [];
  }
}

export const reasonLabel = (n: number): string => `${n} ${VMEXIT_REASONS.find(([r]) => r === n)?.[1] ?? ''}`.trim();

/** A field's or item's label. */
export function itemLabel(t: Tr, item: Item): string {
  if (item === 'outcome' || item === 'reason' || item === 'length') return t(`practice.vx.i.${item}` as MessageKey);
  return t(`practice.vx.f.${item}` as MessageKey).replace(/ ?[(（].*[)）]$/, '');
}

/** The key's value of an item, as the student would have chosen or typed it. */
export function wantText(t: Tr, v: Verdict, key: VmexitAnswer, bits: 32 | 64): string {
  if (v.item === 'outcome') return t(key.exit ? 'practice.vx.want.exit' : 'practice.vx.want.none');
  if (v.item === 'reason') return reasonLabel(v.want!);
  if (v.item === 'length') return v.want === null ? t('practice.vx.length.undefined') : t('practice.vx.length.n', { n: v.want });
  if (v.item === 'port' || v.item === 'lmswSource') return `0x${v.want!.toString(16).padStart(4, '0')}`;
  if (v.item === 'linear') return `0x${v.want!.toString(16).padStart(bits === 64 ? 16 : 8, '0')}`;
  return fieldOptions(t, v.item, bits).find((o) => o.value === String(v.want))?.label ?? String(v.want);
}

/** Why the key is what it is, for one item, in one sentence. */
export function whyText(t: Tr, v: Verdict, p: VmexitProblem, key: VmexitAnswer): string {
  switch (v.item) {
    case 'outcome': {
      const w = whyVmexit(p);
      return t(`practice.vx.why.${w.key}` as MessageKey, w.values);
    }
    case 'reason':
      return t('practice.vx.fwhy.reason', { insn: p.asm, want: reasonLabel(v.want!) });
    case 'length':
      return v.want === null ? t('practice.vx.fwhy.length.undefined') : t('practice.vx.fwhy.length', { n: v.want, bytes: p.bytes });
    case 'size':
    case 'direction':
    case 'string':
    case 'rep':
    case 'operand':
    case 'port':
      return t('practice.vx.fwhy.io');
    default:
      return t(`practice.vx.fwhy.${v.item}` as MessageKey);
  }
}

/** The key's exit qualification in hex (the command line's 16 digits), for the line under the verdicts. */
export function qualificationText(key: VmexitAnswer): string | null {
  if (!key.exit) return null;
  return `0x${key.qualification.toString(16).padStart(16, '0')}`;
}
