/** What the page-walk view says, in the reader's language: summaries, labels and the text alternative. */
import type { MessageKey } from '../../i18n/messages.ts';
import type { StepWalks, TranslationView, WalkEntryView, WalkPagingMode } from '../../worker/walk-types.ts';
import { sizeText } from '../cpu/tlb.ts';
import type { Tr } from '../cpu/text.ts';
import {
  TABLE_OF, addressFields, digitsOf, entrySize, hexOf, pageSizeOf, smallHex, tableBase,
  type AddressField, type DecodedEntry, type FlagName, type PfBit,
} from './walk-layout.ts';

export type PagedWalks = Exclude<StepWalks, { paging: 'none' }>;

export function whoText(user: boolean, t: Tr): string {
  return user ? t('walk.who.user') : t('walk.who.supervisor');
}

export function accessText(access: TranslationView['access'], t: Tr): string {
  return t(`walk.access.${access}` as MessageKey);
}

/** A linear address in the mode's width: 8 hex digits (32-bit, PAE) or 16. */
export function linearText(mode: WalkPagingMode, linear: string): string {
  return hexOf(BigInt(linear), digitsOf(mode));
}

/** A physical address: 8 hex digits where it fits in 32 bits, else 16. */
export function physText(pa: bigint): string {
  return hexOf(pa, 8);
}

/** An entry: 8 hex digits where the value fits in 32 bits (always in 32-bit paging), else 16. */
export function entryValueText(value: string): string {
  return hexOf(BigInt(value), 8);
}

/** "PT index", "offset", "sign extension" ("sign ext." where space is short). */
export function fieldName(f: AddressField, t: Tr, short = false): string {
  if (f.kind === 'index' && f.level !== null) return t('walk.field.index', { table: TABLE_OF[f.level] });
  if (f.kind === 'offset') return t('walk.field.offset');
  return short ? t('walk.field.signShort') : t('walk.field.sign');
}

/** A field's value: an index in decimal (as the entry list counts them), the offset and sign bits in hex. */
export function fieldValue(f: AddressField): string {
  return f.kind === 'index' ? String(f.value) : smallHex(f.value, Math.ceil((f.hi - f.lo + 1) / 4));
}

/** The address strip as one sentence: "Linear address 40080000, split by the walk: PD index, bits 31–22 = 256; …". */
export function stripText(mode: WalkPagingMode, tr: TranslationView, t: Tr): string {
  const fields = addressFields(mode, BigInt(tr.linear), pageSizeOf(mode, tr));
  const parts = fields.map((f) => t('walk.field.text', { name: fieldName(f, t), hi: f.hi, lo: f.lo, value: fieldValue(f) }));
  return t('walk.strip', { linear: linearText(mode, tr.linear), fields: parts.join(t('walk.field.sep')) });
}

/** The one-line summary of the step's translations. */
export function summaryText(w: PagedWalks, t: Tr): string {
  const ts = w.translations;
  if (ts.length > 0 && ts.every((x) => x.source === 'next')) return t('walk.summary.next');
  const walked = ts.filter((x) => x.source === 'walk').length;
  if (walked === 0) return t('walk.summary.tlb');
  return t('walk.summary.walk', { n: ts.length + w.dropped, w: walked });
}

/** "CR3 = …: the first table is at …" (PAE: the PDPTEs were loaded from there). */
export function cr3Text(w: PagedWalks, t: Tr): string {
  const cr3 = BigInt(w.controls.cr3);
  const mode = w.paging;
  const base = mode === 'pae' ? cr3 & 0xffffffe0n : mode === '32bit' ? cr3 & 0xfffff000n : cr3 & 0x000ffffffffff000n;
  const key = mode === 'pae' ? 'walk.cr3.pae' : 'walk.cr3';
  return t(key, { cr3: hexOf(cr3, 8), base: physText(base) });
}

/** Where the entry was read: "at 00011200 = 00011000 + 128 × 4", or "PDPTE register 1". */
export function entryWhereText(mode: WalkPagingMode, e: WalkEntryView, t: Tr): string {
  const base = tableBase(mode, e);
  if (base === null || e.entryPa === null) return t('walk.entry.register', { index: e.index });
  return t('walk.entry.at', { pa: physText(BigInt(e.entryPa)), base: physText(base), index: e.index, size: entrySize(mode) });
}

/** What the entry does: points to the next table, maps a page, or stops the walk. */
export function entryKindText(mode: WalkPagingMode, e: WalkEntryView, d: DecodedEntry, t: Tr): string {
  const addr = d.address === null ? '' : physText(d.address.value);
  switch (d.kind) {
    case 'not-present':
      return t('walk.kind.notPresent');
    case 'pdpte-register':
      return t('walk.kind.register', { addr });
    case 'table':
      return t('walk.kind.table', { addr });
    case 'page':
      return t('walk.kind.page', { addr });
    case 'large-page': {
      const shift = e.level === 'PDPTE' ? 30 : mode === '32bit' ? 22 : 21;
      return t('walk.kind.large', { size: sizeText(2 ** shift), addr });
    }
    default: {
      const never: never = d.kind;
      return String(never);
    }
  }
}

/** A flag as "P ✓" on screen and "P (present): set" for a screen reader. */
export function flagText(name: FlagName, set: boolean, t: Tr): string {
  return t('walk.flag.text', { name, meaning: t(`walk.flag.${name}` as MessageKey), state: set ? t('walk.flag.set') : t('walk.flag.clear') });
}

export function reservedText(d: DecodedEntry, t: Tr): string | null {
  return d.reservedSet.length === 0 ? null : t('walk.entry.reserved', { bits: d.reservedSet.join(', ') });
}

/** How the translation ended: the physical address (frame + offset), or why it faulted. */
export function resultText(mode: WalkPagingMode, tr: TranslationView, t: Tr): string {
  const o = tr.outcome;
  if (o.ok) {
    const pa = BigInt(o.pa);
    const off = pa & BigInt(o.pageSize - 1);
    const digits = Math.ceil(Math.log2(o.pageSize) / 4);
    return t('walk.result.ok', { frame: physText(pa - off), offset: smallHex(off, digits), pa: physText(pa), size: sizeText(o.pageSize) });
  }
  if ((o.errorCode & 8) !== 0) return t('walk.result.reserved', { level: o.level });
  if ((o.errorCode & 1) === 0) return t('walk.result.notPresent', { level: o.level });
  return t('walk.result.rights', { who: whoText(tr.user, t), access: accessText(tr.access, t) });
}

/** An error-code bit's meaning: "a write", "the page is not present", ... */
export function pfBitText(b: PfBit, t: Tr): string {
  return t(`walk.pf.${b.name}.${b.set ? 1 : 0}` as MessageKey);
}
