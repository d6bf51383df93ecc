/**
 * The narration of a step's interrupt messages (iommu/msi trace events), in the reader's language:
 * one sentence about the message that matters most (a blocked one, else the first), who sent it
 * and where it went: an emulated card's to its VM's virtual local APIC (the hypervisor injects
 * it), an assigned card's through interrupt remapping to a host vector (the guest exits and the
 * hypervisor injects the guest's vector), posted into vCPU 0's descriptor (no VM exit), or
 * blocked with the fault reason's name. Loaded with the VM views (its strings are in the vm part)
 * and appended after the step's DMA sentence. Plain TS (no DOM).
 */
import type { TraceEvent } from '../../emu/trace/events.ts';
import { amdViEventName, vtdIrFaultName } from '../../emu/iommu/fault-names.ts';
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';
import '../../i18n/parts/vm.ts';
import { fill, type Segment } from '../shell/narrate.ts';
import { deviceWords, narrateDma, type DmaNarrationContext } from './narrate-dma.ts';

type MsiEvent = Extract<TraceEvent, { kind: 'iommu/msi' }>;

const code = (text: string): Segment => ({ text, code: true });
const plain = (text: string): Segment => ({ text });
const vec = (v: number): Segment => code(`0x${v.toString(16)}`);


/** The message a step's sentence is about: the first blocked or aborted, else the first. */
export function mainMsi(msis: readonly MsiEvent[]): MsiEvent | undefined {
  return msis.find((e) => e.outcome.kind === 'blocked' || e.outcome.kind === 'aborted') ?? msis[0];
}

/** The sentence about the interrupt messages among `evs` (the step's events), or null when there was none. */
export function narrateMsi(locale: Locale, evs: readonly TraceEvent[], ctx: DmaNarrationContext = {}): Segment[] | null {
  const msis = evs.filter((e): e is MsiEvent => e.kind === 'iommu/msi');
  const e = mainMsi(msis);
  if (e === undefined) return null;
  const t = (k: MessageKey): string => translate(locale, k);
  const device = deviceWords(locale, e.device);
  const names = ctx.names ?? [];
  const name = names.length > 1 ? names[e.vm] : undefined;
  const whoKey = e.bus === 'host' ? (`vm.narr.dma.who.assigned${name === undefined ? '' : 'Named'}` as const) : (`vm.narr.msi.who.emulated${name === undefined ? '' : 'Named'}` as const);
  const who = fill(t(whoKey), { device, vm: plain(String(e.vm)), name: plain(name ?? '') });
  const iommu = ctx.iommu === 'vtd' ? plain('VT-d') : ctx.iommu === 'amd-vi' ? plain('AMD-Vi') : plain(t('vm.narr.dma.theIommu'));
  const o = e.outcome;
  const injects = (host: number): Segment[] =>
    e.guestVector === null ? fill(t('vm.narr.msi.hostOnly'), { host: vec(host) }) : fill(t('vm.narr.msi.injects'), { host: vec(host), guest: vec(e.guestVector) });
  let say: Segment[];
  switch (o.kind) {
    case 'direct':
      say = e.delivered ? fill(t('vm.narr.msi.lapic'), { who, vector: vec(e.vector) }) : fill(t('vm.narr.msi.refused'), { who });
      break;
    case 'passed':
      say = e.delivered ? fill(t('vm.narr.msi.passed'), { who, then: injects(e.vector) }) : fill(t('vm.narr.msi.refused'), { who });
      break;
    case 'remapped':
      say = e.delivered ? fill(t('vm.narr.msi.remapped'), { who, iommu, index: plain(String(o.index)), then: injects(o.vector) }) : fill(t('vm.narr.msi.refused'), { who });
      break;
    case 'posted':
      say = o.notification !== null
        ? fill(t('vm.narr.msi.posted'), { who, iommu, index: plain(String(o.index)), vector: vec(o.vector), nv: vec(o.notification) })
        : fill(t('vm.narr.msi.postedQuiet'), { who, iommu, index: plain(String(o.index)), vector: vec(o.vector) });
      break;
    case 'blocked': {
      const f = o.fault;
      if (f.vendor === 'vtd') {
        const n = vtdIrFaultName(f.reason);
        say = fill(t('vm.narr.msi.blockedVtd'), {
          who, code: code(`0x${f.reason.toString(16)}`), name: n === null ? [] : [plain(t('vm.narr.dma.open')), code(n), plain(t('vm.narr.dma.close'))],
          recorded: plain(t(f.recorded ? 'vm.narr.dma.recorded' : 'vm.narr.dma.notRecorded')),
        });
      } else {
        say = fill(t('vm.narr.msi.blockedAmd'), {
          who, name: code(amdViEventName(f.code) ?? `0x${f.code.toString(16)}`), code: code(`0x${f.code.toString(16)}`),
          logged: plain(t(f.logged ? 'vm.narr.dma.logged' : 'vm.narr.dma.notLogged')),
        });
      }
      break;
    }
    case 'aborted':
      say = fill(t('vm.narr.msi.aborted'), { who });
      break;
  }
  if (msis.length > 1) say = [...say, ...fill(t('vm.narr.msi.inAll'), { n: plain(String(msis.length)) })];
  return say;
}

/** The step's DMA sentence, then its interrupt sentence (either may be absent), or null when there is neither. */
export function narrateIo(locale: Locale, evs: readonly TraceEvent[], ctx: DmaNarrationContext = {}): Segment[] | null {
  const dma = narrateDma(locale, evs, ctx);
  const msi = narrateMsi(locale, evs, ctx);
  if (dma === null) return msi;
  if (msi === null) return dma;
  // English sentences are spaced; Chinese ones follow each other directly.
  return [...dma, ...(locale === 'zh-CN' ? [] : [plain(' ')]), ...msi];
}
