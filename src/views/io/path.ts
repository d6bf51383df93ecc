/**
 * Plain-data helpers of the IOMMU view: a request's path as the boxes the view lights one by one
 * (device → root / context entries or the DTE → I/O page-table entries → memory, or the place it
 * was blocked), the request shown first, and the sentences that do not fit a box.
 */
import type { MessageKey } from '../../i18n/messages.ts';
import type { IoMsiView, IoOwner, IoRequestView, IoWalkEntry } from '../../worker/io-types.ts';

export type Tr = (key: MessageKey, vars?: Record<string, string | number>) => string;

export type PathBox =
  | { kind: 'device' }
  | { kind: 'entry'; entry: IoWalkEntry }
  /** The IOTLB answered: no page-table entry read. */
  | { kind: 'iotlb' }
  /** No IOMMU on the path: the address taken as host-physical, or the hypervisor's copy. */
  | { kind: 'direct'; via: 'none' | 'hypervisor' }
  | { kind: 'memory'; hpa: string; owner: IoOwner | null }
  | { kind: 'blocked' };

/** The boxes of a request's path, in the order the view lights them. */
export function pathOf(r: IoRequestView): PathBox[] {
  const out: PathBox[] = [{ kind: 'device' }];
  if (r.via === 'iommu') {
    for (const entry of r.walk) out.push({ kind: 'entry', entry });
    if (r.iotlbHit) out.push({ kind: 'iotlb' });
  } else {
    out.push({ kind: 'direct', via: r.via });
  }
  out.push(r.ok && r.hpa !== null ? { kind: 'memory', hpa: r.hpa, owner: r.owner } : { kind: 'blocked' });
  return out;
}

/** Whether a request landed outside its own VM's RAM (another VM's, the hypervisor's): what an IOMMU is there to prevent. */
export function strayed(r: IoRequestView): boolean {
  return r.ok && r.owner !== null && !(r.owner.kind === 'vm' && r.owner.vm === r.vm);
}

/** The request the view opens on: the step's last blocked one, else its last that strayed, else its last. */
export function pickRequest(rs: readonly IoRequestView[]): number {
  for (let i = rs.length - 1; i >= 0; i--) if (!rs[i]!.ok) return i;
  for (let i = rs.length - 1; i >= 0; i--) if (strayed(rs[i]!)) return i;
  return rs.length - 1;
}

/** A stable key for a request (its bus and place in that bus's log). */
export const requestKey = (r: IoRequestView): string => `${r.bus}:${r.vm}:${r.seq}`;

/** Whose memory, in words. */
export function ownerText(t: Tr, o: IoOwner | null): string {
  if (o === null || o.kind === 'none') return t('io.owner.none');
  return o.kind === 'vm' ? t('io.owner.vm', { name: o.name }) : t('io.owner.hypervisor');
}

/** The title of an entry's box. */
export function entryTitle(t: Tr, e: IoWalkEntry): string {
  switch (e.kind) {
    case 'root-entry':
      return t('io.box.root', { index: e.index });
    case 'context-entry':
      return t('io.box.context', { index: `0x${e.index.toString(16).padStart(2, '0')}` });
    case 'device-table-entry':
      return t('io.box.dte', { index: `0x${e.index.toString(16).padStart(4, '0')}` });
    case 'page-table-entry':
      return t('io.box.pte', { level: e.level, index: e.index });
    case 'irte':
      return t('io.box.irte', { index: e.index });
  }
}

/** A VT-d fault reason in words (DMA remapping 1..12, interrupt remapping 0x20..0x26). */
export function reasonText(t: Tr, reason: number): string {
  return (reason >= 1 && reason <= 12) || (reason >= 0x20 && reason <= 0x26) ? t(`io.fr.${reason}` as MessageKey) : t('io.fr.other', { n: reason });
}

/** The boxes of an interrupt message's path, in the order the view lights them. */
export type MsiBox =
  | { kind: 'device' }
  | { kind: 'entry'; entry: IoWalkEntry }
  /** The interrupt entry cache answered (the IRTE not read). */
  | { kind: 'icache' }
  /** Let through as written (remapping off, compatibility format with CFIS, AMD-Vi forwarding). */
  | { kind: 'passed' }
  /** To the CPU's local APIC: vector and APIC ID, and what the hypervisor does with it. */
  | { kind: 'cpu' }
  /** Into the vCPU's posted-interrupt descriptor. */
  | { kind: 'posted' }
  /** To the VM's virtual local APIC (an emulated card: no IOMMU on the way). */
  | { kind: 'lapic' }
  | { kind: 'blocked' }
  | { kind: 'aborted' };

export function msiPathOf(m: IoMsiView): MsiBox[] {
  const out: MsiBox[] = [{ kind: 'device' }];
  if (m.outcome === 'direct') return [...out, { kind: 'lapic' }];
  // A DTE from AMD-Vi's device-table cache comes first, where the unit would have read it; an IRTE
  // from the interrupt entry cache comes last among the entries, after the cache's box.
  const cachedDte = m.walk.filter((e) => e.decision === 'cached' && e.kind === 'device-table-entry');
  const cached = m.walk.filter((e) => e.decision === 'cached' && e.kind !== 'device-table-entry');
  for (const entry of cachedDte) out.push({ kind: 'entry', entry });
  for (const entry of m.walk) if (entry.decision !== 'cached') out.push({ kind: 'entry', entry });
  if (m.cacheHit) out.push({ kind: 'icache' });
  for (const entry of cached) out.push({ kind: 'entry', entry });
  if (m.outcome === 'passed') out.push({ kind: 'passed' }, { kind: 'cpu' });
  else if (m.outcome === 'remapped') out.push({ kind: 'cpu' });
  else if (m.outcome === 'posted') out.push({ kind: 'posted' });
  else out.push({ kind: m.outcome });
  return out;
}

/** A stable key for an interrupt message (its bus and place in that bus's MSI log). */
export const msiKey = (m: IoMsiView): string => `msi:${m.bus}:${m.vm}:${m.seq}`;

/** The message in one line. */
export function msiText(t: Tr, m: IoMsiView): string {
  return t('io.msi.item', { rid: m.rid, address: m.address, data: m.data });
}

/** Whether interrupt remapping stopped it. */
export const msiStopped = (m: IoMsiView): boolean => m.outcome === 'blocked' || m.outcome === 'aborted';

/** AMD-Vi event codes by their specification names. */
export const EVENT_NAMES: Readonly<Record<number, string>> = { 1: 'ILLEGAL_DEV_TABLE_ENTRY', 2: 'IO_PAGE_FAULT', 3: 'DEV_TAB_HW_ERROR', 4: 'PAGE_TAB_HW_ERROR' };

/** IO_PAGE_FAULT flags (dword1 27:16) by name, those tests/reference/amd-vi.json confirms: I 0x008, RW 0x020. */
export function flagNames(flags: number): string {
  const names = ([[0x008, 'I'], [0x020, 'RW']] as const).filter(([b]) => (flags & b) !== 0).map(([, n]) => n);
  return `0x${flags.toString(16).padStart(3, '0')}${names.length > 0 ? ` (${names.join(' ')})` : ''}`;
}

/** The request in one line. */
export function requestText(t: Tr, r: IoRequestView): string {
  const size = r.length === 1 ? t('io.bytes.one') : t('io.bytes', { n: r.length });
  const vars = { access: t(`io.access.${r.access}`), size, iova: r.iova, rid: r.rid };
  return r.what === null ? t('io.req.plain', vars) : t('io.req', { ...vars, what: t(`io.what.${r.what}`) });
}
