/**
 * The index of marks (marks.ts): what goes in comes out (every field but RIP), other kinds are
 * ignored, range queries give single marks or per-kind buckets that agree with a plain count over
 * the events, the bound keeps the first marks exactly and says where it stopped, and truncation
 * forgets exactly the marks at or after its step.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario } from '../scenario/index.ts';
import { ArraySink, type TraceEvent } from './events.ts';
import { MARK_KINDS, MarkIndex, VECTOR_STEPS, type Mark, type MarkKind } from './marks.ts';

/**
 * The event as the index keeps it: without RIP, a VM exit's name and exit information, or a VM
 * end's detail; a DMA request without its log number, requester, device, host address and domain,
 * with whether it was made and remapped.
 */
function withoutRip(e: TraceEvent): Mark {
  if (e.kind === 'iommu/dma') {
    const { seq: _seq, rid: _rid, device: _device, hpa, domainId, ...rest } = e;
    return { ...rest, ok: hpa !== null, remapped: domainId !== null && domainId >= 0 };
  }
  if (e.kind === 'iommu/msi') {
    const o = e.outcome;
    return {
      kind: e.kind, step: e.step, vm: e.vm, bus: e.bus, outcome: o.kind, delivered: e.delivered,
      index: o.kind === 'remapped' || o.kind === 'posted' || o.kind === 'blocked' ? o.index : null,
      vector: o.kind === 'posted' ? o.vector : e.vector, fault: o.kind === 'blocked' ? o.fault : null,
    };
  }
  const { rip: _rip, info: _info, detail: _detail, ...rest } = e as TraceEvent & { rip?: bigint; info?: unknown; detail?: unknown };
  if (rest.kind === 'vm/exit') delete (rest as { name?: string }).name;
  return rest as Mark;
}

/** An interrupt message: every outcome, both buses, each fault vendor. */
type Msi = Extract<TraceEvent, { kind: 'iommu/msi' }>;
const msi = (step: number, over: Partial<Msi>): Msi => ({
  kind: 'iommu/msi', step, vm: 1, bus: 'host', seq: 0, rid: 0x48, device: 'nic', address: 0xfee00030, data: 0, vector: 0x61, destinationId: 0,
  outcome: { kind: 'remapped', index: 1, vector: 0x61, destinationId: 0, cacheHit: false }, delivered: true, guestVector: 0x41, ...over,
});

/** A DMA request of the widest kinds: every bus, access, purpose and fault vendor. */
type Dma = Extract<TraceEvent, { kind: 'iommu/dma' }>;
const dma = (step: number, over: Partial<Dma>): Dma => ({
  kind: 'iommu/dma', step, vm: 0, bus: 'host', seq: 0, rid: 0x40, device: 'nic', access: 'read', what: null, iova: 0n, length: 0,
  hpa: 0n, domainId: 1, iotlbHit: false, fault: null, ...over,
});

function exampleEvents(name: string): TraceEvent[] {
  const json: unknown = JSON.parse(readFileSync(join(import.meta.dirname, '../scenario/examples', `${name}.json`), 'utf8'));
  const r = loadScenario(json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded);
  const sink = new ArraySink();
  m.setTrace(sink, MARK_KINDS);
  m.run(r.loaded.maxSteps);
  return sink.events;
}

function indexOf(events: readonly TraceEvent[], maxMarks?: number): MarkIndex {
  const ix = new MarkIndex(maxMarks === undefined ? {} : { maxMarks });
  for (const e of events) ix.emit(e);
  return ix;
}

function all(ix: MarkIndex): Mark[] {
  return Array.from({ length: ix.length }, (_, i) => ix.mark(i));
}

/** Hand-made events with the widest values each field takes. */
const EDGE: TraceEvent[] = [
  { kind: 'ring/change', step: 0, from: 0, to: 3, cause: 'iret', rip: 1n },
  { kind: 'ring/change', step: 1, from: 3, to: 0, cause: 'software-interrupt', vector: 0x80, rip: 2n },
  { kind: 'ring/change', step: 1, from: 3, to: 0, cause: 'far-ret', vector: 255, rip: 2n },
  { kind: 'cpu/exception', step: 2, vector: 13, errorCode: -1, rip: 3n },
  { kind: 'cpu/exception', step: 2, vector: 13, errorCode: 0xfff8, rip: 3n },
  { kind: 'cpu/exception', step: 3, vector: 14, errorCode: 0x1f, rip: 4n, cr2: 0xffff_8000_dead_b000n },
  { kind: 'cpu/exception', step: 3, vector: 14, errorCode: 4, rip: 4n, cr2: 0n },
  { kind: 'cpu/interrupt', step: 4, vector: 0x20, source: 'external', rip: 5n },
  { kind: 'cpu/interrupt', step: 4, vector: 0xff, source: 'software', rip: 5n },
  { kind: 'io/port', step: 5, dir: 'out', port: 0x3f8, size: 1, value: 0x54 },
  { kind: 'io/port', step: 5, dir: 'in', port: 0xffff, size: 4, value: 0xffffffff },
  { kind: 'io/port', step: 5, dir: 'out', port: 0, size: 2, value: 0x8000 },
  { kind: 'tlb/flush', step: 6, cause: 'mov-cr3', scope: 'non-global' },
  { kind: 'tlb/flush', step: 6, cause: 'invlpg', scope: 'page', linear: 0x0000_7fff_ffff_f000n, pcid: 4095 },
  { kind: 'tlb/flush', step: 6, cause: 'invpcid', scope: 'pcid', pcid: 0 },
  { kind: 'tlb/flush', step: 6, cause: 'page-fault', scope: 'page', linear: 0xffff_ffff_ffff_f000n },
  { kind: 'tlb/flush', step: 6, cause: 'wrmsr', scope: 'all' },
  { kind: 'cpu/halt', step: 7, rip: 6n },
  { kind: 'vm/exit', step: 8, vm: 0, vendor: 'intel', code: 10, name: 'EXIT_REASON_CPUID', rip: 8n, info: { VM_EXIT_INSTRUCTION_LEN: 2n } },
  { kind: 'vm/exit', step: 8, vm: 65535, vendor: 'intel', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION', rip: 8n, info: {} },
  { kind: 'vm/exit', step: 9, vm: 3, vendor: 'amd', code: 0x7b, name: 'VMEXIT_IOIO', rip: 9n, info: { EXITINFO1: 0x3f80210n } },
  { kind: 'vm/exit', step: 9, vm: 3, vendor: 'amd', code: -1, name: 'VMEXIT_INVALID', rip: 9n, info: {} },
  { kind: 'vm/end', step: 10, vm: 1, why: 'hypercall-exit', detail: 'exit code 0' },
  { kind: 'vm/end', step: 10, vm: 2, why: 'error', detail: 'unhandled exit' },
  dma(11, { vm: 1, what: 'ring', iova: 0x200000n, length: 16, hpa: 0xa00000n, domainId: 2 }),
  dma(11, { vm: 255, access: 'write', what: 'data', iova: 0xffff_ffff_ffff_ffffn, length: 0xffff_ffff, hpa: 0x1234_5678_9000n, domainId: 0xffff, iotlbHit: true }),
  dma(11, { bus: 'vm', seq: 3, rid: 0x18, what: 'data', iova: 0x210000n, length: 342, hpa: 0x210000n, domainId: -1 }),
  dma(12, { iova: 0x1300000n, length: 64, what: 'data', hpa: 0x1300000n, domainId: -1 }),
  dma(12, { iova: 0x1300000n, length: 64, what: 'data', hpa: null, domainId: null, fault: { vendor: 'vtd', reason: 6, recorded: true } }),
  dma(12, { access: 'write', iova: 0x1300000n, hpa: null, domainId: null, fault: { vendor: 'vtd', reason: 0xd, recorded: false } }),
  dma(12, { iova: 0x1300000n, hpa: null, domainId: null, fault: { vendor: 'amd-vi', code: 2, logged: true } }),
  dma(12, { iova: 0x1300000n, hpa: null, domainId: null, fault: { vendor: 'amd-vi', code: 1, logged: false } }),
  dma(12, { iova: 1n << 60n, hpa: null, domainId: null, fault: { vendor: 'none', reason: 'beyond-host' } }),
  dma(12, { bus: 'vm', iova: 0x8000000n, hpa: null, domainId: null, fault: { vendor: 'hv', reason: 'not-guest-ram' } }),
  msi(12, { bus: 'vm', vm: 0, rid: 0x18, address: 0xfee00000, data: 0x41, vector: 0x41, outcome: { kind: 'direct' } }),
  msi(12, {}),
  msi(12, { vm: 255, vector: 0xf2, outcome: { kind: 'posted', index: 0x7fff, vector: 0xff, descriptor: 0x1040000, notification: 0xf2, cacheHit: true } }),
  msi(12, { delivered: false, outcome: { kind: 'posted', index: 3, vector: 0x41, descriptor: 0x1040000, notification: null, cacheHit: false } }),
  msi(12, { delivered: false, outcome: { kind: 'blocked', index: 1, fault: { vendor: 'vtd', reason: 0x22, recorded: true } } }),
  msi(12, { delivered: false, outcome: { kind: 'blocked', index: null, fault: { vendor: 'vtd', reason: 0x25, recorded: false } } }),
  msi(12, { delivered: false, outcome: { kind: 'blocked', index: 2, fault: { vendor: 'amd-vi', code: 8, logged: true } } }),
  msi(12, { outcome: { kind: 'passed', why: 'remapping-off' } }),
  msi(12, { delivered: false, outcome: { kind: 'aborted', why: 'int-ctl' } }),
  { kind: 'host/run', step: 13, proc: 0, steps: 2000 },
  { kind: 'host/run', step: 13, proc: 2, steps: 0xffff_ffff },
  { kind: 'cpu/triple-fault', step: 2 ** 40, rip: 7n },
];

describe('MarkIndex keeps what it is given', () => {
  it('gives back every field of every kind but RIP, in order', () => {
    const ix = indexOf(EDGE);
    expect(ix.length).toBe(EDGE.length);
    expect(all(ix)).toEqual(EDGE.map(withoutRip));
    expect(new Set(EDGE.map((e) => e.kind))).toEqual(new Set(MARK_KINDS));
  });

  it('refuses a DMA request or an interrupt message of a VM it cannot encode', () => {
    expect(() => new MarkIndex().emit(dma(0, { vm: 256 }))).toThrow(/VM 256/);
    expect(() => new MarkIndex().emit(msi(0, { vm: 256 }))).toThrow(/VM 256/);
  });

  it('counts blocked and aborted interrupt messages apart, and groups them apart so no bucket hides one', () => {
    const ix = indexOf([msi(1, {}), msi(2, { delivered: false, outcome: { kind: 'blocked', index: 1, fault: { vendor: 'vtd', reason: 0x22, recorded: true } } }), msi(3, {})]);
    const r = ix.query(0, 10, 1, 1);
    expect(r.counts['iommu/msi']).toBe(3);
    expect(r.msiBlocked).toBe(1);
    expect(r.groups.map((g) => [g.mark.kind === 'iommu/msi' ? g.mark.outcome : '', g.count])).toEqual([['remapped', 2], ['blocked', 1]]);
  });

  it.each(['syscalls', 'page-fault', 'timer', 'vtx-first-exit', 'svm-first-exit', 'nic-two-ways', 'dma-attack', 'dma-attack-vtd', 'dma-attack-amdvi', 'nic-interrupts', 'nic-interrupts-posted', 'hosted-two-vms'])('holds the %s example’s marks exactly as its trace has them', (name) => {
    const events = exampleEvents(name);
    const ix = indexOf(events);
    expect(all(ix)).toEqual(events.map(withoutRip));
    const counts = Object.fromEntries(MARK_KINDS.map((k) => [k, events.filter((e) => e.kind === k).length]));
    expect(ix.counts()).toEqual(counts);
  });

  it('marks the DMA attack examples’ blocked read apart: VT-d fault reason 6, AMD-Vi IO_PAGE_FAULT, none without an IOMMU', () => {
    const blocked = (name: string): Mark[] => {
      const ix = indexOf(exampleEvents(name));
      expect(ix.counts()['iommu/dma']).toBeGreaterThan(10);
      const r = ix.query(0, 1e9, 1000, 1);
      expect(r.dmaBlocked).toBe(r.groups.filter((g) => g.mark.kind === 'iommu/dma' && !g.mark.ok).length);
      return all(ix).filter((m) => m.kind === 'iommu/dma' && !m.ok);
    };
    expect(blocked('dma-attack-vtd')).toEqual([expect.objectContaining({ bus: 'host', access: 'read', what: 'data', fault: { vendor: 'vtd', reason: 6, recorded: true } })]);
    expect(blocked('dma-attack-amdvi')).toEqual([expect.objectContaining({ bus: 'host', fault: { vendor: 'amd-vi', code: 2, logged: true } })]);
    expect(blocked('dma-attack')).toEqual([]);
  });

  it('ignores kinds it does not index, without a change of version', () => {
    const ix = new MarkIndex();
    ix.emit({ kind: 'cpu/insn', step: 0, rip: 0n, length: 1, cpl: 0 });
    ix.emit({ kind: 'tlb/lookup', step: 0, linear: 0n, access: 'read', user: false, pcid: 0, hit: true });
    ix.emit({ kind: 'io/mmio', step: 0, dir: 'read', pa: 0n, size: 1, value: 0n });
    expect(ix.length).toBe(0);
    expect(ix.version).toBe(0);
  });

  it('places an event that comes out of step order after the marks of its step', () => {
    const ix = indexOf([EDGE[0]!, EDGE[17]!, EDGE[3]!, EDGE[9]!]);
    expect(all(ix).map((m) => [m.step, m.kind])).toEqual([
      [0, 'ring/change'],
      [2, 'cpu/exception'],
      [5, 'io/port'],
      [7, 'cpu/halt'],
    ]);
  });

  it('refuses a bad bound and an index out of range', () => {
    expect(() => new MarkIndex({ maxMarks: 0 })).toThrow(RangeError);
    expect(() => new MarkIndex({ maxMarks: 1.5 })).toThrow(RangeError);
    const ix = indexOf(EDGE.slice(0, 2));
    expect(() => ix.mark(2)).toThrow(/mark 2 is not in 0\.\.1/);
    expect(() => ix.stepAt(-1)).toThrow(RangeError);
  });
});

/** Random events in step order, of every mark kind. */
const eventsArb = fc
  .array(fc.tuple(fc.nat(40), fc.integer({ min: 0, max: EDGE.length - 1 })), { maxLength: 300 })
  .map((pairs) => {
    let step = 0;
    return pairs.map(([gap, i]) => {
      step += gap;
      return { ...EDGE[i]!, step } as TraceEvent;
    });
  });

describe('MarkIndex.query', () => {
  it('answers with single marks, or per-kind buckets, that agree with counting the events', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(12_000), fc.nat(12_000), fc.nat(60), fc.integer({ min: 1, max: 40 }), (events, x, y, limit, buckets) => {
        const from = Math.min(x, y);
        const to = Math.max(x, y);
        const r = indexOf(events).query(from, to, limit, buckets);
        const inRange = events.filter((e) => e.step >= from && e.step <= to);
        expect(r.total).toBe(inRange.length);
        for (const k of MARK_KINDS) expect(r.counts[k]).toBe(inRange.filter((e) => e.kind === k).length);
        expect(r.dmaBlocked).toBe(inRange.filter((e) => e.kind === 'iommu/dma' && e.hpa === null).length);
        expect(r.msiBlocked).toBe(inRange.filter((e) => e.kind === 'iommu/msi' && (e.outcome.kind === 'blocked' || e.outcome.kind === 'aborted')).length);
        expect(r.groups.reduce((n, g) => n + g.count, 0)).toBe(inRange.length);
        const firsts = r.groups.map((g) => g.mark.step);
        expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
        if (inRange.length <= limit) {
          expect(r.bucketWidth).toBe(1);
          expect(r.groups.map((g) => g.mark)).toEqual(inRange.map(withoutRip));
        } else {
          const w = r.bucketWidth;
          expect(w).toBe(Math.max(1, Math.ceil((to - from + 1) / buckets)));
          // Each group: one kind (blocked DMA requests and interrupt messages apart), one bucket, all of that kind's marks in it; first and last right.
          const blocked = (e: TraceEvent): boolean => (e.kind === 'iommu/dma' && e.hpa === null) || (e.kind === 'iommu/msi' && (e.outcome.kind === 'blocked' || e.outcome.kind === 'aborted'));
          for (const g of r.groups) {
            const b = Math.floor((g.mark.step - from) / w);
            const gBlocked = (g.mark.kind === 'iommu/dma' && !g.mark.ok) || (g.mark.kind === 'iommu/msi' && (g.mark.outcome === 'blocked' || g.mark.outcome === 'aborted'));
            const same = inRange.filter((e) => e.kind === g.mark.kind && blocked(e) === gBlocked && Math.floor((e.step - from) / w) === b);
            expect(g.count).toBe(same.length);
            expect(g.mark).toEqual(withoutRip(same[0]!));
            expect(g.last).toBe(same[same.length - 1]!.step);
          }
          expect(r.groups.length).toBeLessThanOrEqual(buckets * (MARK_KINDS.length + 2));
        }
        const exc = inRange.filter((e): e is Extract<TraceEvent, { kind: 'cpu/exception' }> => e.kind === 'cpu/exception');
        const vectors = [...new Set(exc.map((e) => e.vector))].sort((a, b) => a - b);
        expect(r.exceptions).toEqual(
          vectors.map((vector) => {
            const of = exc.filter((e) => e.vector === vector);
            return { vector, count: of.length, steps: of.slice(0, VECTOR_STEPS).map((e) => e.step) };
          }),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('buckets the timer example’s ticks: one group per kind and bucket', () => {
    const ix = indexOf(exampleEvents('timer'));
    const r = ix.query(0, 9999, 10, 5);
    expect(r.bucketWidth).toBe(2000);
    const interrupts = r.groups.filter((g) => g.mark.kind === 'cpu/interrupt');
    // The timer (period 2000) fires at steps 2000, 4000, 6000 and 8000: one per bucket from the second on.
    expect(interrupts.map((g) => [g.mark.step, g.count])).toEqual([
      [2000, 1],
      [4000, 1],
      [6000, 1],
      [8000, 1],
    ]);
    expect(r.counts['cpu/interrupt']).toBe(4);
  });
});

describe('MarkIndex bound and truncation', () => {
  it('keeps the first maxMarks marks, then says at which step it stopped', () => {
    const events = exampleEvents('timer');
    const ix = indexOf(events, 10);
    expect(ix.length).toBe(10);
    expect(all(ix)).toEqual(events.slice(0, 10).map(withoutRip));
    expect(ix.fullAt).toBe(events[10]!.step);
    const r = ix.query(0, 1e9, 100, 10);
    expect(r.total).toBe(10);
    expect(r.fullAt).toBe(events[10]!.step);
    expect(ix.bytes).toBe(10 * 25);
  });

  it('grows by doubling and never past its bound', () => {
    const ix = new MarkIndex({ maxMarks: 5000 });
    for (let i = 0; i < 6000; i++) ix.emit({ kind: 'cpu/halt', step: i, rip: 0n });
    expect(ix.length).toBe(5000);
    expect(ix.bytes).toBe(5000 * 25);
    expect(ix.fullAt).toBe(5000);
  });

  it('truncate(step) forgets the marks at or after step, and the bound if it lay there', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(12_000), fc.integer({ min: 1, max: 400 }), (events, cut, max) => {
        const ix = indexOf(events, max);
        const v = ix.version;
        const hadFull = ix.fullAt;
        ix.truncate(cut);
        const kept = events.slice(0, max).filter((e) => e.step < cut);
        expect(all(ix)).toEqual(kept.map(withoutRip));
        for (const k of MARK_KINDS) expect(ix.counts()[k as MarkKind]).toBe(kept.filter((e) => e.kind === k).length);
        expect(ix.fullAt).toBe(hadFull !== null && cut > hadFull ? hadFull : null);
        const changed = kept.length !== Math.min(max, events.length) || (hadFull !== null && cut <= hadFull);
        expect(ix.version > v).toBe(changed);
      }),
      { numRuns: 200 },
    );
  });

  it('after a truncation below the bound, new marks are kept again', () => {
    const ix = indexOf(EDGE, 4);
    expect(ix.fullAt).toBe(EDGE[4]!.step);
    ix.truncate(2);
    expect(ix.length).toBe(3);
    expect(ix.fullAt).toBeNull();
    ix.emit(EDGE[17]!);
    expect(ix.mark(3)).toEqual(withoutRip(EDGE[17]!));
  });
});
