/** Plain-data helpers of the TLB view: addresses, sizes, tags and EP4TA of TlbEntryView as text. */
import type { TlbEntryView } from '../../emu/mmu/tlb.ts';

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** The linear address of the entry's 4-KByte page (pageHi:pageLo << 12), 16 hex digits. */
export function linearOf(e: Pick<TlbEntryView, 'pageLo' | 'pageHi'>): string {
  return hex8(e.pageHi) + hex8(e.pageLo << 12);
}

/** A physical address held in a JS number (below 2^53), 16 hex digits. */
export function physOf(pa: number): string {
  const hi = Math.floor(pa / 2 ** 32);
  return hex8(hi) + hex8(pa - hi * 2 ** 32);
}

/** A page size in bytes as KiB, MiB or GiB (4096 → "4 KiB"). */
export function sizeText(bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 2 ** 10 && bytes % 2 ** 10 === 0) return `${bytes / 2 ** 10} KiB`;
  return `${bytes} B`;
}

/** 8 hex digits when every address fits in 32 bits, else 16. */
export function shortHex(full: readonly string[], s: string): string {
  return full.every((a) => a.startsWith('00000000')) ? s.slice(8) : s;
}

/** Whether the tags column is shown: only when some entry was filled under a VM's tag (bare scenarios never are). */
export function anyTag(entries: readonly Pick<TlbEntryView, 'tag'>[]): boolean {
  return entries.some((e) => e.tag !== 0);
}

/** Whether the EP4TA column is shown: only when some entry carries one (a guest mapping made through the EPT). */
export function anyEp4ta(entries: readonly Pick<TlbEntryView, 'ep4ta'>[]): boolean {
  return entries.some((e) => e.ep4ta >= 0);
}

/** An entry's tag as text: `host` for 0 (the hypervisor's own), else the vendor's name and number ("VPID 1", "ASID 2"). */
export function tagText(tag: number, names: { tag: string; host: string }): string {
  return tag === 0 ? names.host : `${names.tag} ${tag}`;
}

/** An entry's EP4TA (a page number) as the EPT root's physical address, 16 hex digits; '' for a linear mapping (-1). */
export function ep4taText(ep4ta: number): string {
  return ep4ta < 0 ? '' : physOf(ep4ta * 0x1000);
}
