/**
 * Which DMA requests (or interrupt messages) each step made, for the IOMMU view (io-view.ts): the `iommu/dma` (`iommu/msi`) trace events
 * of the run so far as (step, VM, bus, index in that bus's DMA log). The buses' logs
 * (dev/pci.ts `dmaLog`) know the order of requests but not their steps, and a step's own events
 * (ViewState.events) depend on the trace kinds the page chose; this index, fed by the timeline's
 * frontier beside the marks (session.ts), sees every step once whatever the page traces, so the
 * view is a function of (scenario, step). Parallel arrays in step order; at most `max` requests
 * (then `fullAt` says where it stopped, and nothing past it is answered).
 */
import type { TraceEvent, TraceKind } from '../emu/trace/events.ts';
import type { FrontierSink } from '../emu/trace/timeline.ts';
import { MARK_KINDS, type MarkIndex } from '../emu/trace/marks.ts';

export interface DmaRef {
  step: number;
  vm: number;
  bus: 'vm' | 'host';
  seq: number;
}

export const DEFAULT_MAX_DMA = 1 << 18;

export class DmaStepIndex implements FrontierSink {
  /** The trace kind it indexes: DMA requests, or (the same way) interrupt messages. */
  readonly kind: 'iommu/dma' | 'iommu/msi';
  private steps: number[] = [];
  private vms: number[] = [];
  private hostBus: boolean[] = [];
  private seqs: number[] = [];
  /** The step of the first request not kept (the index is full), or null. */
  fullAt: number | null = null;

  constructor(private readonly max = DEFAULT_MAX_DMA, kind: 'iommu/dma' | 'iommu/msi' = 'iommu/dma') {
    this.kind = kind;
  }

  get size(): number {
    return this.steps.length;
  }

  emit(e: TraceEvent): void {
    if (e.kind !== this.kind || (e.kind !== 'iommu/dma' && e.kind !== 'iommu/msi')) return;
    if (this.steps.length >= this.max) {
      this.fullAt ??= e.step;
      return;
    }
    this.steps.push(e.step);
    this.vms.push(e.vm);
    this.hostBus.push(e.bus === 'host');
    this.seqs.push(e.seq);
  }

  truncate(step: number): void {
    const keep = this.lowerBound(step);
    this.steps.length = keep;
    this.vms.length = keep;
    this.hostBus.length = keep;
    this.seqs.length = keep;
    if (this.fullAt !== null && step <= this.fullAt) this.fullAt = null;
  }

  /** The index of the first request at or after `step`. */
  private lowerBound(step: number): number {
    let lo = 0;
    let hi = this.steps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid]! < step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private ref(i: number): DmaRef {
    return { step: this.steps[i]!, vm: this.vms[i]!, bus: this.hostBus[i]! ? 'host' : 'vm', seq: this.seqs[i]! };
  }

  /** The requests made at `step`, in order (empty also when the index stopped before it). */
  at(step: number): DmaRef[] {
    const out: DmaRef[] = [];
    for (let i = this.lowerBound(step); i < this.steps.length && this.steps[i] === step; i++) out.push(this.ref(i));
    return out;
  }

  /** The last step before `step` that made a request, or null. */
  lastBefore(step: number): number | null {
    const i = this.lowerBound(step) - 1;
    return i < 0 ? null : this.steps[i]!;
  }
}

/**
 * The timeline's frontier for a session once the hypervisor's chunk is here (session.ts): the marks,
 * and beside them a DmaStepIndex fed the `iommu/dma` events and another fed the `iommu/msi` ones
 * (in this chunk, so a bare lab's first download does not carry them).
 */
export function dmaFrontier(marks: MarkIndex): { sink: FrontierSink; kinds: TraceKind[]; index: DmaStepIndex; msi: DmaStepIndex } {
  const index = new DmaStepIndex();
  const msi = new DmaStepIndex(DEFAULT_MAX_DMA, 'iommu/msi');
  const sink: FrontierSink = {
    // A DMA request or an interrupt message is both a timeline mark and an entry of its step index.
    emit: (e) => {
      if (e.kind === 'iommu/dma') index.emit(e);
      else if (e.kind === 'iommu/msi') msi.emit(e);
      marks.emit(e);
    },
    truncate: (step) => {
      marks.truncate(step);
      index.truncate(step);
      msi.truncate(step);
    },
  };
  return { sink, kinds: [...new Set<TraceKind>([...MARK_KINDS, 'iommu/dma', 'iommu/msi'])], index, msi };
}
