/**
 * Helpers the core uses to build trace events (events.ts): 64-bit halves to bigint, walk steps in
 * the trace's shape, the set of enabled kinds, and a sink that only counts.
 */
import type { WalkStep } from '../mmu/types.ts';
import type { TraceEvent, TraceKind, TraceSink, TraceWalkStep } from './events.ts';

/** A 64-bit value from unsigned 32-bit halves. */
export function u64(lo: number, hi: number): bigint {
  if (hi === 0) return BigInt(lo >>> 0);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Walk steps (mmu/types.ts) as the trace records them. */
export function traceWalkSteps(steps: readonly WalkStep[]): TraceWalkStep[] {
  return steps.map((s) => ({
    level: s.level,
    entryPa: BigInt(s.entryPa),
    entry: u64(s.entryLo, s.entryHi),
    index: s.index,
    leaf: s.leaf,
  }));
}

/** Which kinds a sink asked for: all of them when `kinds` is absent. */
export function kindFilter(sink: TraceSink | null, kinds?: Iterable<TraceKind> | null): (k: TraceKind) => boolean {
  if (sink === null) return () => false;
  if (kinds === undefined || kinds === null) return () => true;
  const set = new Set<TraceKind>(kinds);
  return (k) => set.has(k);
}

/** Counts events without keeping them (benchmarks, "how much would this trace"). */
export class CountingSink implements TraceSink {
  count = 0;
  readonly byKind = new Map<TraceKind, number>();
  constructor(private readonly perKind = false) {}
  emit(e: TraceEvent): void {
    this.count++;
    if (this.perKind) this.byKind.set(e.kind, (this.byKind.get(e.kind) ?? 0) + 1);
  }
}
