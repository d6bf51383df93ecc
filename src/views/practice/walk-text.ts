/**
 * Practice mode's page-walk text from the catalog: the problem's legend (how a linear address
 * splits, what the entry bits mean in this mode), the access in words, why an answer is wrong,
 * and the correct walk step by step. Pure: every number comes from the generator's exercise.
 *
 * Entry formats and reserved bits: SDM Vol. 3A, Tables 4-4 (32-bit), 4-8..4-11 (PAE),
 * 4-14..4-20 (4-level and 5-level); the error code: 4.7.
 */
import type { AccessKind } from '../../emu/mmu/types.ts';
import type { WalkAnswer, WalkControl, WalkExercise } from '../../emu/exercise/walk-exercise.ts';
import type { MessageKey } from '../../i18n/messages.ts';
import type { WalkLayout } from '../../worker/exercise-types.ts';
import type { Tr } from '../cpu/text.ts';
import { ERROR_BITS, hexN, hexU64, pageSizeText, type InputError, type Reason } from './walk-check.ts';
import '../../i18n/parts/practice.ts';

const TABLE_NAMES: Record<string, string> = { PML5E: 'PML5', PML4E: 'PML4', PDPTE: 'PDPT', PDE: 'PD', PTE: 'PT' };

/** Hex digits of an entry (8 or 16) and of a linear address (8, or 16 above 32 bits), as the command line prints them. */
export const entryDigits = (layout: WalkLayout): number => layout.entrySize * 2;
export const laDigits = (layout: WalkLayout): number => (layout.laBits > 32 ? 16 : 8);

export function accessWords(t: Tr, a: AccessKind): string {
  const access = t(a.write ? 'walk.access.write' : a.fetch ? 'walk.access.fetch' : 'walk.access.read');
  return t('practice.access', { access, who: t(a.user ? 'walk.who.user' : 'walk.who.supervisor') });
}

/** The legend under the control state: one line each (what the command line's legend says, in the page's language). */
export function legendLines(t: Tr, c: WalkControl, layout: WalkLayout): string[] {
  const fields = layout.names.map((n, i) => t('practice.layout.field', { table: TABLE_NAMES[n] ?? n, hi: layout.bits[i]![0], lo: layout.bits[i]![1] }));
  const M = c.maxPhysAddr;
  const out = [t('practice.layout', { fields: fields.join(' | ') })];
  out.push(c.mode === 'pae' ? t('practice.entries.pae') : t('practice.entries', { n: layout.entrySize, root: TABLE_NAMES[layout.names[0]!] ?? '' }));
  out.push(t('practice.bit.p'));
  if (c.mode === 'pae') out.push(t('practice.bit.pdpte'));
  out.push(t('practice.bit.rw'), t('practice.bit.us'));
  if (c.mode === '32bit') {
    const m = Math.min(M, 40);
    out.push(t('practice.bit.ps.32bit', { hi: m - 20, top: m - 1 }), t('practice.bit.addr.32bit'), t('practice.rsvd.32bit', { lo: m - 19 }), t('practice.rights'));
  } else {
    out.push(t(c.mode === 'pae' ? 'practice.bit.ps.pae' : 'practice.bit.ps.long'), t('practice.bit.xd'));
    out.push(t('practice.bit.addr', { top: M - 1, gib: c.mode === 'pae' ? '' : t('practice.bit.addr.gib', { top: M - 1 }) }));
    if (c.mode === 'pae') out.push(t('practice.rsvd.pae', { m: M }));
    else out.push(t('practice.rsvd.long', { m: M, top: c.mode === '5level' ? 'PML5E / PML4E' : 'PML4E' }));
    out.push(t('practice.rights.xd'));
  }
  out.push(t('practice.other'));
  return out;
}

export function inputErrorText(t: Tr, e: InputError | { code: 'noLevel' }): string {
  switch (e.code) {
    case 'empty':
      return t('practice.in.empty');
    case 'badChar':
      return t('practice.in.badChar', { at: e.at, char: e.char });
    case 'tooBig':
      return t('practice.in.tooBig');
    case 'noDigits':
      return t('practice.in.noDigits');
    case 'noLevel':
      return t('practice.in.noLevel');
  }
}

export function reasonText(t: Tr, r: Reason): string {
  switch (r.code) {
    case 'unanswered':
      return t('practice.why.unanswered');
    case 'faults':
      return t('practice.why.faults');
    case 'translates':
      return t('practice.why.translates');
    case 'offset':
      return t('practice.why.offset', { size: pageSizeText(r.pageSize) });
    case 'frame':
      return t('practice.why.frame', { size: pageSizeText(r.pageSize) });
    case 'pa':
      return t('practice.why.pa');
    case 'bit':
      return t(`practice.why.${r.bit}.${r.want ? 1 : 0}` as MessageKey);
    case 'extraBits':
      return t('practice.why.extraBits');
    case 'level':
      return t('practice.why.level', { want: r.want, got: r.got });
  }
}

/** The correct walk of question `i`, one line per entry read, then the outcome. */
export function explainLines(t: Tr, ex: WalkExercise, layout: WalkLayout, i: number): string[] {
  const a: WalkAnswer = ex.answers[i]!;
  const q = ex.questions[i]!;
  const digits = entryDigits(layout);
  const out = a.steps.map((s) => {
    const vars = {
      level: s.level, hi: s.indexBits[0], lo: s.indexBits[1], index: hexN(s.index, 3), pa: hexN(s.entryPa, 8),
      base: hexN(s.entryPa - s.index * layout.entrySize, 8), size: layout.entrySize, entry: hexU64(s.entry, digits),
    };
    const line = t(s.fromRegister ? 'practice.ex.register' : 'practice.ex.step', vars);
    // Sentences follow each other with a space, except after a Chinese full stop.
    return s.leaf ? `${line}${line.endsWith('。') ? '' : ' '}${t('practice.ex.leaf')}` : line;
  });
  if (a.ok) {
    const offset = q.la.lo % a.pageSize;
    out.push(t('practice.ex.pa', {
      frame: hexN(a.pa - offset, 8), offset: hexN(offset, 3), bits: Math.log2(a.pageSize) - 1, pa: hexN(a.pa, 8), size: pageSizeText(a.pageSize),
    }));
  } else {
    const b = a.bits;
    out.push(t(b.rsvd ? 'practice.ex.rsvd' : b.p ? 'practice.ex.prot' : 'practice.ex.np', { level: a.faultLevel }));
    const bits = Object.fromEntries(ERROR_BITS.map((k) => [k, b[k] ? 1 : 0]));
    out.push(t('practice.ex.code', { code: hexN(a.errorCode, 1), ...bits }));
  }
  return out;
}

/** The seed as typed: a non-negative safe integer, or why not. */
export function parseSeed(text: string): { ok: true; seed: number } | { ok: false; error: { code: 'empty' } | { code: 'badChar'; at: number; char: string } | { code: 'tooBig' } } {
  const lead = text.length - text.trimStart().length;
  const s = text.trim();
  if (s === '') return { ok: false, error: { code: 'empty' } };
  for (let i = 0; i < s.length; i++) if (!/[0-9]/.test(s[i]!)) return { ok: false, error: { code: 'badChar', at: lead + i + 1, char: s[i]! } };
  const seed = Number(s);
  return Number.isSafeInteger(seed) ? { ok: true, seed } : { ok: false, error: { code: 'tooBig' } };
}
