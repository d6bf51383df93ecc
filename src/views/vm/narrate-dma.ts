/**
 * The narration of a step's DMA (iommu/dma trace events), in the reader's language: one sentence
 * about the request that matters most (a blocked one, else the first that moved data, else the
 * first), what the device or the hypervisor's model of it did and what the IOMMU decided, and how
 * many requests the step made in all. Loaded with the VM views (its strings are in the vm part)
 * and appended to the step's sentence (`NarrationInput.after`). Plain TS (no DOM).
 */
import type { TraceEvent } from '../../emu/trace/events.ts';
import { amdViEventName, vtdFaultName } from '../../emu/iommu/fault-names.ts';
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';
import '../../i18n/parts/vm.ts';
import { fill, hex, type Segment } from '../shell/narrate.ts';

type DmaEvent = Extract<TraceEvent, { kind: 'iommu/dma' }>;

const code = (text: string): Segment => ({ text, code: true });
const plain = (text: string): Segment => ({ text });

/** Devices the lab names in words; any other is given by its model's name. */
const DEVICE_KEY: Record<string, MessageKey> = {
  nic: 'vm.narr.dev.nic',
  'virtio-net': 'vm.narr.dev.virtio-net',
  nvme: 'vm.narr.dev.nvme',
  'virtio-blk': 'vm.narr.dev.virtio-blk',
  'copy-engine': 'vm.narr.dev.copy-engine',
};
/** A virtual function of the SR-IOV network card (dev/sriov-nic.ts names VF k `nic-vfk`). */
const VF_NAME = /^nic-vf(\d+)$/;

/** A device in words (by its model's name): "the network card", "virtual function 1", or the name itself. */
export function deviceWords(locale: Locale, device: string): Segment[] {
  const key = DEVICE_KEY[device];
  if (key !== undefined) return [plain(translate(locale, key))];
  const vf = VF_NAME.exec(device);
  return vf !== null ? fill(translate(locale, 'vm.narr.dev.vf'), { n: plain(vf[1]!) }) : [code(device)];
}

export interface DmaNarrationContext {
  /** The VMs' names by index (ViewState.vm.vms): a VM is told as "VM 1 (victim)" when there are several. */
  names?: readonly string[];
  /** The host's IOMMU (ViewState.vm.iommu), to name the one that translated a request; null: none or unknown. */
  iommu?: 'vtd' | 'amd-vi' | null;
}

/** The request a step's sentence is about: the first blocked, else the first that moved data, else the first. */
export function mainDma(dmas: readonly DmaEvent[]): DmaEvent | undefined {
  return dmas.find((e) => e.hpa === null) ?? dmas.find((e) => e.what === 'data') ?? dmas[0];
}

/** The sentence about the DMA among `evs` (the step's events), or null when there was none. */
export function narrateDma(locale: Locale, evs: readonly TraceEvent[], ctx: DmaNarrationContext = {}): Segment[] | null {
  const dmas = evs.filter((e): e is DmaEvent => e.kind === 'iommu/dma');
  const e = mainDma(dmas);
  if (e === undefined) return null;
  const t = (k: MessageKey): string => translate(locale, k);
  const device = deviceWords(locale, e.device);
  const names = ctx.names ?? [];
  const name = names.length > 1 ? names[e.vm] : undefined;
  const whoKey = `vm.narr.dma.who.${e.bus === 'host' ? 'assigned' : 'model'}${name === undefined ? '' : 'Named'}` as const;
  const who = fill(t(whoKey), { device, vm: plain(String(e.vm)), name: plain(name ?? '') });
  const what = e.what === null ? [] : [plain(t(`vm.narr.dma.what.${e.what}`))];
  const base = { who, n: plain(String(e.length)), what, iova: code(hex(e.iova)) };
  let say: Segment[];
  if (e.bus === 'vm') {
    // A model in the hypervisor: its "DMA" is the hypervisor's own copy of guest memory.
    if (e.hpa === null) say = fill(t('vm.narr.dma.modelRefused'), base);
    else say = fill(t(e.access === 'read' ? 'vm.narr.dma.modelRead' : 'vm.narr.dma.modelWrite'), base);
  } else if (e.hpa !== null) {
    const act = fill(t(e.access === 'read' ? 'vm.narr.dma.read' : 'vm.narr.dma.write'), base);
    const hpa = code(hex(e.hpa));
    if (e.domainId === null || e.domainId < 0) say = fill(t('vm.narr.dma.direct'), { who, act, hpa });
    else {
      const iommu = ctx.iommu === 'vtd' ? plain('VT-d') : ctx.iommu === 'amd-vi' ? plain('AMD-Vi') : plain(t('vm.narr.dma.theIommu'));
      const hit = e.iotlbHit ? [plain(t('vm.narr.dma.hit'))] : [];
      say = fill(t('vm.narr.dma.remapped'), { who, act, iommu, domain: plain(String(e.domainId)), hpa, hit });
    }
  } else {
    const act = fill(t(e.access === 'read' ? 'vm.narr.dma.tryRead' : 'vm.narr.dma.tryWrite'), base);
    const f = e.fault;
    if (f?.vendor === 'vtd') {
      const name = vtdFaultName(f.reason);
      say = fill(t('vm.narr.dma.blockedVtd'), {
        who, act, code: code(String(f.reason)), name: name === null ? [] : [plain(t('vm.narr.dma.open')), code(name), plain(t('vm.narr.dma.close'))],
        recorded: plain(t(f.recorded ? 'vm.narr.dma.recorded' : 'vm.narr.dma.notRecorded')),
      });
    } else if (f?.vendor === 'amd-vi') {
      say = fill(t('vm.narr.dma.blockedAmd'), {
        who, act, name: code(amdViEventName(f.code) ?? hex(f.code)), code: code(hex(f.code)),
        logged: plain(t(f.logged ? 'vm.narr.dma.logged' : 'vm.narr.dma.notLogged')),
      });
    } else say = fill(t('vm.narr.dma.blockedBeyond'), { who, act });
  }
  if (dmas.length > 1) say = [...say, ...fill(t('vm.narr.dma.inAll'), { n: plain(String(dmas.length)) })];
  return say;
}
