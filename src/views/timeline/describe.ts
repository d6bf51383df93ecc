/**
 * The timeline in words (plain TS): each mark's detail, a group of marks, the count of a kind,
 * and the summary that is the diagram's text alternative ("6 ring changes, 1 exception #PF (page
 * fault) at step 1, …").
 */
import type { DmaMark, Mark, MarkKind, MarkRange, MsiMark } from '../../emu/trace/marks.ts';
import { MARK_KINDS, dmaBlocked, msiBlocked } from '../../emu/trace/marks.ts';
import { amdViEventName } from '../../emu/iommu/fault-names.ts';
import type { Locale, MessageKey } from '../../i18n/messages.ts';
import { EXCEPTION_MNEMONICS, EXCEPTION_NAMES, describeRingChange, hexVector } from '../cpu/ring-change.ts';
import type { Tr } from '../cpu/text.ts';
import { describePfError } from '../shell/narrate.ts';
import { shownStep, type Shown } from './layout.ts';
import '../../i18n/parts/timeline.ts';
import { vmExitTitle } from '../../emu/hv/exit-names.ts';

/** COM1's transmit holding register, the UART the scenarios write to (as the narration names it). */
const UART_PORT = 0x3f8;

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** "#PF (page fault)", "#MF (vector 16)". */
export function exceptionWhat(vector: number, t: Tr): string {
  const mnemonic = EXCEPTION_MNEMONICS[vector] ?? `#${vector}`;
  const key = EXCEPTION_NAMES[vector];
  return t('timeline.excWhat', { mnemonic, name: key === undefined ? t('timeline.excVector', { vector }) : t(key) });
}

/** A byte written to the UART as the reader would see it: 'T', \n, or its hex value. */
export function charText(value: number): string {
  const b = value & 0xff;
  if (b === 10) return '\\n';
  if (b === 13) return '\\r';
  if (b >= 0x20 && b < 0x7f) return `'${String.fromCharCode(b)}'`;
  return hex(b);
}

/** One mark's detail, e.g. "SYSCALL: ring 3 → ring 0" or "OUT to the UART (port 0x3f8): 'h'". */
export function describeMark(m: Mark, t: Tr, locale: Locale): string {
  switch (m.kind) {
    case 'ring/change':
      return describeRingChange(m, t);
    case 'cpu/exception': {
      const what = exceptionWhat(m.vector, t);
      if (m.cr2 !== undefined) return t('timeline.mark.pf', { what, cr2: hex(m.cr2), why: describePfError(locale, m.errorCode) });
      return m.errorCode < 0 ? what : t('timeline.mark.exc', { what, code: hex(m.errorCode) });
    }
    case 'cpu/interrupt':
      return t(m.source === 'software' ? 'timeline.mark.softInt' : 'timeline.mark.timer', { vector: hexVector(m.vector) });
    case 'io/port':
      if (m.dir === 'in') return t('timeline.mark.in', { port: hex(m.port) });
      if (m.port === UART_PORT && m.size === 1) return t('timeline.mark.uart', { port: hex(m.port), char: charText(m.value) });
      return t('timeline.mark.out', { port: hex(m.port), value: hex(m.value) });
    case 'tlb/flush': {
      const scope =
        m.scope === 'page'
          ? t('timeline.scope.page', { linear: m.linear === undefined ? '?' : hex(m.linear) })
          : m.scope === 'pcid'
            ? t('timeline.scope.pcid', { pcid: m.pcid ?? 0 })
            : t(`timeline.scope.${m.scope}`, { tag: m.tag ?? 0 });
      return t('timeline.mark.flush', { cause: t(`timeline.flush.${m.cause}`), scope });
    }
    case 'cpu/halt':
      return t('timeline.mark.halt');
    case 'cpu/triple-fault':
      return t('timeline.mark.triple');
    case 'vm/exit':
      if (m.trap === true) return t('timeline.mark.trap', { what: exceptionWhat(m.code, t) });
      return t(m.vendor === 'amd' ? 'timeline.mark.vmExitAmd' : 'timeline.mark.vmExit', { name: vmExitTitle(m.vendor, m.code), code: m.vendor === 'amd' ? hex(m.code >>> 0) : m.code, vm: m.vm });
    case 'vm/end':
      return t('timeline.mark.vmEnd', { vm: m.vm, why: m.why });
    case 'iommu/dma':
      return describeDma(m, t);
    case 'iommu/msi':
      return describeMsi(m, t);
    case 'host/run':
      return t('timeline.mark.hostRun', { proc: m.proc + 1, steps: m.steps.toLocaleString(locale) });
  }
}

/**
 * An interrupt message: "VM 1’s assigned device sent an MSI: interrupt-remapping entry 1 gave
 * vector 0x61", "… posted vector 0x41 in the vCPU’s descriptor", "… blocked, VT-d fault reason 34".
 */
export function describeMsi(m: MsiMark, t: Tr): string {
  const who = t(m.bus === 'host' ? 'timeline.dma.assigned' : 'timeline.dma.model', { vm: m.vm });
  const vector = hex(m.vector);
  const index = m.index ?? '?';
  switch (m.outcome) {
    case 'direct':
      return t('timeline.msi.lapic', { who, vector, vm: m.vm });
    case 'passed':
      return t('timeline.msi.passed', { who, vector });
    case 'remapped':
      return t('timeline.msi.remapped', { who, vector, index });
    case 'posted':
      return t('timeline.msi.posted', { who, vector, index });
    case 'aborted':
      return t('timeline.msi.aborted', { who });
    case 'blocked': {
      const f = m.fault;
      const fault = f === null ? '?' : f.vendor === 'vtd' ? t('timeline.dma.fault.vtd', { code: hex(f.reason) }) : t('timeline.dma.fault.amd-vi', { name: amdViEventName(f.code) ?? hex(f.code) });
      return t('timeline.msi.blocked', { who, fault });
    }
  }
}

/**
 * A DMA request: "VM 0’s assigned device read 64 bytes at 0x210000 (data buffer): translated by the
 * IOMMU", "… blocked, VT-d fault reason 6".
 */
export function describeDma(m: DmaMark, t: Tr): string {
  const who = t(m.bus === 'host' ? 'timeline.dma.assigned' : 'timeline.dma.model', { vm: m.vm });
  const act = t(m.access === 'read' ? 'timeline.dma.read' : 'timeline.dma.write', { who, n: m.length, iova: hex(m.iova) });
  const what = m.what === null ? '' : t(`timeline.dma.what.${m.what}`);
  if (!m.ok) {
    const f = m.fault;
    const fault =
      f === null ? '?'
      : f.vendor === 'vtd' ? t('timeline.dma.fault.vtd', { code: f.reason })
      : f.vendor === 'amd-vi' ? t('timeline.dma.fault.amd-vi', { name: amdViEventName(f.code) ?? hex(f.code) })
      : t(`timeline.dma.fault.${f.vendor}`);
    return t('timeline.dma.blocked', { act, what, fault });
  }
  if (m.bus === 'vm') return t('timeline.dma.copied', { act, what });
  if (!m.remapped) return t('timeline.dma.direct', { act, what });
  return t('timeline.dma.remapped', { act, what, hit: m.iotlbHit ? t('timeline.dma.hit') : '' });
}

/** "6 ring changes", "1 halt" (every kind but exceptions, which are counted by vector). */
export function countText(kind: Exclude<MarkKind, 'cpu/exception'>, n: number, t: Tr): string {
  return t(`timeline.count.${kind}.${n === 1 ? 'one' : 'other'}` as MessageKey, { n });
}

/** The lane's name: "Ring changes". */
export function laneName(kind: MarkKind, t: Tr): string {
  return t(`timeline.lane.${kind}`);
}

/** One mark's kind: "Ring change". */
export function kindName(kind: MarkKind, t: Tr): string {
  return t(`timeline.kind.${kind}`);
}

/** A group of several marks, at the steps where they are shown: "12 interrupts from step 400 to 2400; the first: …". */
export function describeGroup(s: Shown, t: Tr, locale: Locale): string {
  const g = s.group;
  const first = describeMark(g.mark, t, locale);
  if (g.count === 1) return first;
  const count =
    g.mark.kind === 'cpu/exception'
      ? `${g.count} × ${exceptionWhat(g.mark.vector, t)}`
      : dmaBlocked(g.mark)
        ? t(`timeline.count.dmaBlocked.${g.count === 1 ? 'one' : 'other'}`, { n: g.count })
        : msiBlocked(g.mark)
          ? t(`timeline.count.msiBlocked.${g.count === 1 ? 'one' : 'other'}`, { n: g.count })
          : countText(g.mark.kind, g.count, t);
  return t('timeline.group', { count, from: s.at, to: s.last, first });
}

/** The summary of the run up to `furthest`: every kind with marks, exceptions by vector with the steps that show them. */
export function summaryText(r: Pick<MarkRange, 'counts' | 'exceptions' | 'total' | 'dmaBlocked'> & Partial<Pick<MarkRange, 'msiBlocked'>>, furthest: number, t: Tr): string {
  if (r.total === 0) return t('timeline.summaryNone', { furthest });
  const parts: string[] = [];
  for (const kind of MARK_KINDS) {
    if (kind === 'cpu/exception') {
      for (const v of r.exceptions) {
        const form = v.count === 1 ? 'one' : v.count > v.steps.length ? 'more' : 'other';
        const steps = v.steps.map((step) => shownStep({ kind: 'cpu/exception', step, vector: v.vector, errorCode: -1 }, furthest)).join(t('timeline.stepSep'));
        parts.push(t(`timeline.count.cpu/exception.${form}`, { n: v.count, what: exceptionWhat(v.vector, t), steps }));
      }
    } else if (kind === 'iommu/dma' && r.dmaBlocked > 0) {
      parts.push(t('timeline.dmaWithBlocked', { all: countText(kind, r.counts[kind], t), blocked: r.dmaBlocked }));
    } else if (kind === 'iommu/msi' && (r.msiBlocked ?? 0) > 0) {
      parts.push(t('timeline.dmaWithBlocked', { all: countText(kind, r.counts[kind], t), blocked: r.msiBlocked ?? 0 }));
    } else if (r.counts[kind] > 0) parts.push(countText(kind, r.counts[kind], t));
  }
  return t('timeline.summary', { furthest, list: parts.join(t('timeline.sep')) });
}
