/**
 * The index of a run's notable events, for the timeline: ring changes (with their cause),
 * exceptions, interrupts, port I/O (the UART's output among it), TLB flushes, halts and triple
 * faults, each as its step and a few words of detail. It is fed by the Timeline's frontier sink
 * (Timeline.setFrontier), which sees each step once, the first time it runs, so the index holds
 * the whole run so far (start..furthest) whatever the current step is and however the steps were
 * first executed.
 *
 * Storage is a set of parallel typed arrays (25 bytes a mark), grown by doubling up to `maxMarks`.
 * A run with more marks keeps the first `maxMarks` and records where the index stopped (`fullAt`):
 * nothing past it is counted or shown, so every answer it gives is exact.
 *
 * Later issues add their kinds (vmx/…, svm/…, iommu/…, hv/…, host/…) to MARK_KINDS with an encoding here.
 */
import type { DmaLogFault } from '../dev/pci.ts';
import type { RingCause, TlbFlushCause, TraceEvent, TraceKind } from './events.ts';
import type { FrontierSink } from './timeline.ts';

/** The kinds indexed, in the order of the timeline's lanes. */
export const MARK_KINDS = [
  'ring/change',
  'cpu/exception',
  'cpu/interrupt',
  'io/port',
  'tlb/flush',
  'cpu/halt',
  'cpu/triple-fault',
  // The hypervisor's (issue 6). Added here by the views' branch with the smallest encoding; to be reconciled with the engine's.
  'vm/exit',
  'vm/end',
  // A device's DMA request (issue 8), made or blocked.
  'iommu/dma',
  // A device's interrupt message (issue 8 item 4): to the VM's local APIC, remapped, posted or blocked.
  'iommu/msi',
  // A hosted hypervisor's host process given the CPU (issue 9 item 4): no VM runs for its turn.
  'host/run',
] as const satisfies readonly TraceKind[];

export type MarkKind = (typeof MARK_KINDS)[number];

type DmaEvent = Extract<TraceEvent, { kind: 'iommu/dma' }>;

/**
 * A DMA request as the index keeps it: who (VM, bus), what (read or write, ring or data, where and
 * how long, an IOTLB hit) and the outcome (`ok`: made, `remapped` through an IOMMU domain; else
 * `fault`, with the vendor's reason or event code). The log's sequence number, requester ID, device
 * name, host address and domain number are left to the step's events (the narration tells them).
 */
export type DmaMark = Omit<DmaEvent, 'seq' | 'rid' | 'device' | 'hpa' | 'domainId'> & { ok: boolean; remapped: boolean };

type MsiEvent = Extract<TraceEvent, { kind: 'iommu/msi' }>;

/**
 * An interrupt message as the index keeps it: who (VM, bus), the outcome's kind, the interrupt
 * index (IRTE) that decided and the vector that mattered (the posted vector, else the one that
 * went to the CPU), whether it was delivered, a blocked one's fault. The log's sequence number,
 * requester ID, device, address and data are left to the step's events.
 */
export interface MsiMark {
  kind: 'iommu/msi';
  step: number;
  vm: number;
  bus: 'vm' | 'host';
  outcome: MsiEvent['outcome']['kind'];
  index: number | null;
  vector: number;
  delivered: boolean;
  fault: Extract<DmaLogFault, { vendor: 'vtd' | 'amd-vi' }> | null;
}

/**
 * A notable event as the index keeps it: the trace event without its RIP, and without what does
 * not fit a few words (a VM exit's name and exit-information fields, which its vendor and code
 * determine and the timeline looks up; a VM end's detail text; a DMA request's, see DmaMark).
 */
export type Mark =
  | { [K in Exclude<MarkKind, 'iommu/dma' | 'iommu/msi'>]: Omit<Extract<TraceEvent, { kind: K }>, 'rip' | 'info' | 'detail' | 'name' | (K extends 'vm/exit' ? 'label' | 'insn' | 'from' : never)> }[Exclude<MarkKind, 'iommu/dma' | 'iommu/msi'>]
  | DmaMark
  | MsiMark;

/** An interrupt mark that was blocked or aborted by interrupt remapping (no interrupt, nothing posted). */
export function msiBlocked(m: Mark): boolean {
  return m.kind === 'iommu/msi' && (m.outcome === 'blocked' || m.outcome === 'aborted');
}

/** A DMA request or an interrupt message the IOMMU stopped (drawn and listed as blocked). */
export function markBlocked(m: Mark): boolean {
  return dmaBlocked(m) || msiBlocked(m);
}

/** A DMA mark that was blocked (its request reached no memory). */
export function dmaBlocked(m: Mark): boolean {
  return m.kind === 'iommu/dma' && !m.ok;
}

type FlushEvent = Extract<TraceEvent, { kind: 'tlb/flush' }>;

/** Marks kept before the index stops (about 13 MB of typed arrays). */
export const DEFAULT_MAX_MARKS = 1 << 19;

const RING_CAUSE_CODE: Record<RingCause, number> = {
  exception: 0, interrupt: 1, 'software-interrupt': 2, iret: 3, syscall: 4, sysret: 5, sysenter: 6, sysexit: 7,
  'far-call': 8, 'far-jmp': 9, 'far-ret': 10,
};
const FLUSH_CAUSE_CODE: Record<TlbFlushCause, number> = {
  'mov-cr3': 0, 'mov-cr4': 1, 'mov-cr0': 2, invlpg: 3, invpcid: 4, wrmsr: 5, 'page-fault': 6,
  'vm-entry': 7, 'vm-exit': 8, invvpid: 9, invept: 10, 'tlb-control': 11, invlpga: 12,
};
const FLUSH_SCOPE_CODE: Record<FlushEvent['scope'], number> = {
  all: 0, 'non-global': 1, pcid: 2, page: 3, tag: 4, 'tag-non-global': 5, ep4ta: 6, 'all-combined': 7, 'all-but-host': 8, everything: 9,
};
const VM_END_CODE: Record<Extract<TraceEvent, { kind: 'vm/end' }>['why'], number> = { hlt: 0, shutdown: 1, 'hypercall-exit': 2, error: 3 };
const DMA_WHAT_CODE = { none: 0, ring: 1, data: 2 } as const;
const DMA_FAULT_CODE: Record<DmaLogFault['vendor'], number> = { vtd: 1, 'amd-vi': 2, none: 3, hv: 4 };
const MSI_OUTCOME_CODE: Record<MsiMark['outcome'], number> = { direct: 0, passed: 1, remapped: 2, posted: 3, blocked: 4, aborted: 5 };

function decoder<T extends string>(codes: Record<T, number>): T[] {
  const out: T[] = [];
  for (const [name, code] of Object.entries(codes) as [T, number][]) out[code] = name;
  return out;
}
const RING_CAUSES = decoder(RING_CAUSE_CODE);
const FLUSH_CAUSES = decoder(FLUSH_CAUSE_CODE);
const FLUSH_SCOPES = decoder(FLUSH_SCOPE_CODE);
const VM_ENDS = decoder(VM_END_CODE);
const DMA_WHATS = decoder(DMA_WHAT_CODE);
const DMA_FAULTS = decoder(DMA_FAULT_CODE);
const MSI_OUTCOMES = decoder(MSI_OUTCOME_CODE);
const KIND_CODE = new Map<TraceKind, number>(MARK_KINDS.map((k, i) => [k, i]));
const DMA_CODE = KIND_CODE.get('iommu/dma')!;
const MSI_CODE = KIND_CODE.get('iommu/msi')!;
/** Outcome codes of blocked and aborted interrupt messages (MSI_OUTCOME_CODE), at or above this. */
const MSI_STOPPED = 4;

const lo32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));
const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** Marks of one kind taken together (blocked DMA requests apart from the others): a single mark (count 1), or those of one bucket of steps. */
export interface MarkGroup {
  /** The group's first mark (its step is where going to the group leads). */
  mark: Mark;
  count: number;
  /** The step of the group's last mark. */
  last: number;
}

/** An exception vector's marks in a range. */
export interface VectorCount {
  vector: number;
  count: number;
  /** The steps of its first marks (at most VECTOR_STEPS). */
  steps: number[];
}

export const VECTOR_STEPS = 3;

/** What the index holds between two steps (MarkIndex.query). */
export interface MarkRange {
  /** The steps asked about, both included. */
  from: number;
  to: number;
  /** Marks in the range. */
  total: number;
  /** Marks in the range by kind. */
  counts: Record<MarkKind, number>;
  /** DMA requests in the range that were blocked (also counted in `counts['iommu/dma']`). */
  dmaBlocked: number;
  /** Interrupt messages in the range that interrupt remapping blocked or aborted (also in `counts['iommu/msi']`). */
  msiBlocked: number;
  /** Steps a bucket covers: 1 when `groups` are single marks (the range held at most `limit`). */
  bucketWidth: number;
  /** By first step; single marks, or one group per kind and bucket of `bucketWidth` steps. */
  groups: MarkGroup[];
  /** Exceptions in the range by vector, lowest vector first. */
  exceptions: VectorCount[];
  /** The step where the index stopped keeping marks (its bound was reached), or null. */
  fullAt: number | null;
}

export interface MarkIndexOptions {
  /** Marks kept at most (default DEFAULT_MAX_MARKS). */
  maxMarks?: number;
}

export class MarkIndex implements FrontierSink {
  readonly maxMarks: number;
  /** Bumped by every change (a mark added, the bound reached, a truncation): "ask again". */
  version = 0;
  /** The step of the first mark that was not kept (the bound was reached), or null. */
  fullAt: number | null = null;
  private n = 0;
  private steps: Float64Array;
  private kinds: Uint8Array;
  /** Detail words; what each holds depends on the kind (see emit). */
  private a: Int32Array;
  private b: Int32Array;
  private c: Int32Array;
  private d: Int32Array;
  private readonly perKind = new Array<number>(MARK_KINDS.length).fill(0);

  constructor(opts: MarkIndexOptions = {}) {
    const max = opts.maxMarks ?? DEFAULT_MAX_MARKS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxMarks ${max} is not a positive integer`);
    this.maxMarks = max;
    const cap = Math.min(max, 1024);
    this.steps = new Float64Array(cap);
    this.kinds = new Uint8Array(cap);
    this.a = new Int32Array(cap);
    this.b = new Int32Array(cap);
    this.c = new Int32Array(cap);
    this.d = new Int32Array(cap);
  }

  /** Marks kept. */
  get length(): number {
    return this.n;
  }

  /** Bytes of typed arrays held. */
  get bytes(): number {
    return this.steps.length * 25;
  }

  /** Marks kept, by kind. */
  counts(): Record<MarkKind, number> {
    return Object.fromEntries(MARK_KINDS.map((k, i) => [k, this.perKind[i]!])) as Record<MarkKind, number>;
  }

  emit(e: TraceEvent): void {
    const code = KIND_CODE.get(e.kind);
    if (code === undefined) return;
    if (this.n === this.maxMarks) {
      if (this.fullAt === null) {
        this.fullAt = e.step;
        this.version++;
      }
      return;
    }
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    if ((e.kind === 'iommu/dma' || e.kind === 'iommu/msi') && (e.vm < 0 || e.vm > 0xff)) throw new RangeError(`${e.kind} mark: VM ${e.vm} is not in 0..255`);
    switch (e.kind) {
      case 'ring/change':
        // a: from (bits 1:0), to (3:2), cause (7:4); b: vector or -1.
        a = (e.from & 3) | ((e.to & 3) << 2) | (RING_CAUSE_CODE[e.cause] << 4);
        b = e.vector ?? -1;
        break;
      case 'cpu/exception':
        // a: vector (7:0), CR2 present (8); b: error code (-1: none); c, d: CR2.
        a = (e.vector & 0xff) | (e.cr2 === undefined ? 0 : 0x100);
        b = e.errorCode;
        if (e.cr2 !== undefined) {
          c = lo32(e.cr2);
          d = hi32(e.cr2);
        }
        break;
      case 'cpu/interrupt':
        // a: vector (7:0), software (8).
        a = (e.vector & 0xff) | (e.source === 'software' ? 0x100 : 0);
        break;
      case 'io/port':
        // a: port (15:0), out (16), size (19:17); b: value.
        a = (e.port & 0xffff) | (e.dir === 'out' ? 0x10000 : 0) | ((e.size & 7) << 17);
        b = e.value | 0;
        break;
      case 'tlb/flush':
        // a: cause (3:0), PCID present (6), linear present (7), scope (11:8), tag present (12),
        // EP4TA present (13), tag (31:16); b: PCID; c, d: linear, or the EP4TA (never both).
        a = FLUSH_CAUSE_CODE[e.cause] | (FLUSH_SCOPE_CODE[e.scope] << 8) | (e.pcid === undefined ? 0 : 0x40) | (e.linear === undefined ? 0 : 0x80) |
          (e.tag === undefined ? 0 : 0x1000 | ((e.tag & 0xffff) << 16)) | (e.ep4ta === undefined ? 0 : 0x2000);
        b = e.pcid ?? 0;
        if (e.linear !== undefined) {
          c = lo32(e.linear);
          d = hi32(e.linear);
        } else if (e.ep4ta !== undefined) {
          c = e.ep4ta | 0;
          d = Math.floor(e.ep4ta / 2 ** 32) | 0;
        }
        break;
      case 'cpu/halt':
      case 'cpu/triple-fault':
        break;
      case 'vm/exit':
        // a: VM (15:0), AMD (16), a trap-and-emulate trap (17); b: exit reason or EXITCODE (-1 VMEXIT_INVALID), or the trap's vector.
        a = (e.vm & 0xffff) | (e.vendor === 'amd' ? 0x10000 : 0) | (e.trap === true ? 0x20000 : 0);
        b = e.code | 0;
        break;
      case 'vm/end':
        // a: VM (15:0), why (17:16).
        a = (e.vm & 0xffff) | (VM_END_CODE[e.why] << 16);
        break;
      case 'iommu/dma': {
        // a: VM (7:0), host bus (8), write (9), blocked (10), what (12:11), IOTLB hit (13), fault
        // vendor (16:14; 0 none), recorded or logged (17), remapped by an IOMMU domain (18), fault
        // code (31:24); b: length; c, d: IOVA.
        const f = e.fault;
        a = (e.vm & 0xff) | (e.bus === 'host' ? 0x100 : 0) | (e.access === 'write' ? 0x200 : 0) | (e.hpa === null ? 0x400 : 0) |
          (DMA_WHAT_CODE[e.what ?? 'none'] << 11) | (e.iotlbHit ? 0x2000 : 0) | (e.domainId !== null && e.domainId >= 0 ? 0x40000 : 0) | ((f === null ? 0 : DMA_FAULT_CODE[f.vendor]) << 14) |
          (f?.vendor === 'vtd' ? (f.recorded ? 0x20000 : 0) | ((f.reason & 0xff) << 24) : f?.vendor === 'amd-vi' ? (f.logged ? 0x20000 : 0) | ((f.code & 0xff) << 24) : 0);
        b = e.length | 0;
        c = lo32(e.iova);
        d = hi32(e.iova);
        break;
      }
      case 'iommu/msi': {
        // a: VM (7:0), host bus (8), delivered (9), outcome (12:10), fault vendor (14:13; 0 none,
        // 1 VT-d, 2 AMD-Vi), recorded or logged (15), fault code (31:24); b: the vector (posted:
        // the one set in PIR; else the one that went to the CPU); c: interrupt index (-1: none).
        const o = e.outcome;
        const f = o.kind === 'blocked' ? o.fault : null;
        const index = o.kind === 'remapped' || o.kind === 'posted' || o.kind === 'blocked' ? o.index : null;
        a = (e.vm & 0xff) | (e.bus === 'host' ? 0x100 : 0) | (e.delivered ? 0x200 : 0) | (MSI_OUTCOME_CODE[o.kind] << 10) |
          (f === null ? 0 : (f.vendor === 'vtd' ? 1 : 2) << 13) | (f === null ? 0 : (f.vendor === 'vtd' ? f.recorded : f.logged) ? 0x8000 : 0) |
          (f === null ? 0 : ((f.vendor === 'vtd' ? f.reason : f.code) & 0xff) << 24);
        b = (o.kind === 'posted' ? o.vector : e.vector) & 0xff;
        c = index ?? -1;
        break;
      }
      case 'host/run':
        // a: the host process (7:0); b: the steps of its turn.
        a = e.proc & 0xff;
        b = e.steps | 0;
        break;
      default:
        return;
    }
    if (this.n === this.steps.length) this.grow();
    // Events come in step order; should one ever not, it is placed after the marks of its step.
    let at = this.n;
    if (at > 0 && this.steps[at - 1]! > e.step) {
      at = this.upperBound(e.step);
      for (const col of [this.steps, this.kinds, this.a, this.b, this.c, this.d]) col.copyWithin(at + 1, at, this.n);
    }
    this.steps[at] = e.step;
    this.kinds[at] = code;
    this.a[at] = a;
    this.b[at] = b;
    this.c[at] = c;
    this.d[at] = d;
    this.n++;
    this.perKind[code]!++;
    this.version++;
  }

  /** Forgets every mark at or after `step` (the run from there was replaced: Timeline.edited). */
  truncate(step: number): void {
    const keep = this.lowerBound(step);
    for (let i = keep; i < this.n; i++) this.perKind[this.kinds[i]!]!--;
    const changed = keep !== this.n || (this.fullAt !== null && step <= this.fullAt);
    this.n = keep;
    if (this.fullAt !== null && step <= this.fullAt) this.fullAt = null;
    if (changed) this.version++;
  }

  /** The step of mark `i` (0 ≤ i < length). */
  stepAt(i: number): number {
    this.checkIndex(i);
    return this.steps[i]!;
  }

  /** Mark `i` (0 ≤ i < length), decoded. */
  mark(i: number): Mark {
    this.checkIndex(i);
    const step = this.steps[i]!;
    const a = this.a[i]!;
    const b = this.b[i]!;
    const kind = MARK_KINDS[this.kinds[i]!]!;
    switch (kind) {
      case 'ring/change': {
        const m: Mark = { kind, step, from: a & 3, to: (a >> 2) & 3, cause: RING_CAUSES[(a >> 4) & 0xf]! };
        if (b >= 0) m.vector = b;
        return m;
      }
      case 'cpu/exception': {
        const m: Mark = { kind, step, vector: a & 0xff, errorCode: b };
        if (a & 0x100) m.cr2 = u64(this.c[i]!, this.d[i]!);
        return m;
      }
      case 'cpu/interrupt':
        return { kind, step, vector: a & 0xff, source: a & 0x100 ? 'software' : 'external' };
      case 'io/port':
        return { kind, step, dir: a & 0x10000 ? 'out' : 'in', port: a & 0xffff, size: (a >> 17) & 7, value: b >>> 0 };
      case 'tlb/flush': {
        const m: Mark = { kind, step, cause: FLUSH_CAUSES[a & 0xf]!, scope: FLUSH_SCOPES[(a >> 8) & 0xf]! };
        if (a & 0x40) m.pcid = b;
        if (a & 0x80) m.linear = u64(this.c[i]!, this.d[i]!);
        if (a & 0x1000) m.tag = (a >>> 16) & 0xffff;
        if (a & 0x2000) m.ep4ta = (this.d[i]! >>> 0) * 2 ** 32 + (this.c[i]! >>> 0);
        return m;
      }
      case 'cpu/halt':
      case 'cpu/triple-fault':
        return { kind, step };
      case 'vm/exit': {
        return { kind, step, vm: a & 0xffff, vendor: a & 0x10000 ? 'amd' : 'intel', code: b, ...(a & 0x20000 ? { trap: true as const } : {}) };
      }
      case 'vm/end':
        return { kind, step, vm: a & 0xffff, why: VM_ENDS[(a >> 16) & 3]! };
      case 'iommu/dma': {
        const what = DMA_WHATS[(a >> 11) & 3]!;
        const vendor = DMA_FAULTS[(a >> 14) & 7];
        const code = (a >>> 24) & 0xff;
        const fault: DmaLogFault | null =
          vendor === 'vtd' ? { vendor, reason: code, recorded: (a & 0x20000) !== 0 }
          : vendor === 'amd-vi' ? { vendor, code, logged: (a & 0x20000) !== 0 }
          : vendor === 'none' ? { vendor, reason: 'beyond-host' }
          : vendor === 'hv' ? { vendor, reason: 'not-guest-ram' }
          : null;
        return {
          kind, step, vm: a & 0xff, bus: a & 0x100 ? 'host' : 'vm', access: a & 0x200 ? 'write' : 'read', what: what === 'none' ? null : what,
          iova: u64(this.c[i]!, this.d[i]!), length: b >>> 0, iotlbHit: (a & 0x2000) !== 0, fault, ok: (a & 0x400) === 0, remapped: (a & 0x40000) !== 0,
        };
      }
      case 'iommu/msi': {
        const vendor = (a >> 13) & 3;
        const code = (a >>> 24) & 0xff;
        const done = (a & 0x8000) !== 0;
        const fault: MsiMark['fault'] = vendor === 1 ? { vendor: 'vtd', reason: code, recorded: done } : vendor === 2 ? { vendor: 'amd-vi', code, logged: done } : null;
        const c = this.c[i]!;
        return {
          kind, step, vm: a & 0xff, bus: a & 0x100 ? 'host' : 'vm', outcome: MSI_OUTCOMES[(a >> 10) & 7]!, index: c < 0 ? null : c, vector: b & 0xff, delivered: (a & 0x200) !== 0, fault,
        };
      }
      case 'host/run':
        return { kind, step, proc: a & 0xff, steps: b >>> 0 };
    }
  }

  /**
   * The marks with `from` ≤ step ≤ `to`: each one when there are at most `limit`, else grouped by
   * kind into `buckets` buckets of equal width (the last may be shorter).
   */
  query(from: number, to: number, limit: number, buckets: number): MarkRange {
    const lo = this.lowerBound(from);
    const hi = to < from ? lo : this.upperBound(to);
    const perKind = new Array<number>(MARK_KINDS.length).fill(0);
    const vectors = new Map<number, VectorCount>();
    const excCode = KIND_CODE.get('cpu/exception')!;
    let dmaBlocked = 0;
    let msiBlocked = 0;
    for (let i = lo; i < hi; i++) {
      const k = this.kinds[i]!;
      perKind[k]!++;
      if (k === DMA_CODE && this.a[i]! & 0x400) dmaBlocked++;
      if (k === MSI_CODE && ((this.a[i]! >> 10) & 7) >= MSI_STOPPED) msiBlocked++;
      if (k !== excCode) continue;
      const vector = this.a[i]! & 0xff;
      let v = vectors.get(vector);
      if (v === undefined) vectors.set(vector, (v = { vector, count: 0, steps: [] }));
      v.count++;
      if (v.steps.length < VECTOR_STEPS) v.steps.push(this.steps[i]!);
    }
    const total = hi - lo;
    const groups: MarkGroup[] = [];
    let bucketWidth = 1;
    if (total <= limit) {
      for (let i = lo; i < hi; i++) groups.push({ mark: this.mark(i), count: 1, last: this.steps[i]! });
    } else {
      bucketWidth = Math.max(1, Math.ceil((to - from + 1) / Math.max(1, buckets)));
      const open = new Map<number, MarkGroup>();
      for (let i = lo; i < hi; i++) {
        const step = this.steps[i]!;
        // Blocked DMA requests and interrupt messages are grouped apart from the others, so no group hides one.
        const k = this.kinds[i]!;
        const sub = k === DMA_CODE && this.a[i]! & 0x400 ? MARK_KINDS.length : k === MSI_CODE && ((this.a[i]! >> 10) & 7) >= MSI_STOPPED ? MARK_KINDS.length + 1 : k;
        const key = Math.floor((step - from) / bucketWidth) * (MARK_KINDS.length + 2) + sub;
        const g = open.get(key);
        if (g === undefined) {
          const ng = { mark: this.mark(i), count: 1, last: step };
          open.set(key, ng);
          groups.push(ng);
        } else {
          g.count++;
          g.last = step;
        }
      }
    }
    return {
      from,
      to,
      total,
      counts: Object.fromEntries(MARK_KINDS.map((k, i) => [k, perKind[i]!])) as Record<MarkKind, number>,
      dmaBlocked,
      msiBlocked,
      bucketWidth,
      groups,
      exceptions: [...vectors.values()].sort((x, y) => x.vector - y.vector),
      fullAt: this.fullAt,
    };
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) throw new RangeError(`mark ${i} is not in 0..${this.n - 1}`);
  }

  /** The first index whose step is ≥ `step`. */
  private lowerBound(step: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid]! < step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first index whose step is > `step`. */
  private upperBound(step: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid]! <= step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(): void {
    const cap = Math.min(this.maxMarks, this.steps.length * 2);
    const widen = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(cap);
      next.set(old);
      return next;
    };
    this.steps = widen(this.steps, (n) => new Float64Array(n));
    this.kinds = widen(this.kinds, (n) => new Uint8Array(n));
    this.a = widen(this.a, (n) => new Int32Array(n));
    this.b = widen(this.b, (n) => new Int32Array(n));
    this.c = widen(this.c, (n) => new Int32Array(n));
    this.d = widen(this.d, (n) => new Int32Array(n));
  }
}
