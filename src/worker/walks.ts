/**
 * The page walks of the step that led to the current step, for the page-walk view: a function of
 * (scenario, step) only. The step is replayed from the step before with the TLB path traced
 * (tlb/lookup, mmu/walk, cpu/exception) into a sink of its own, so the narration's events
 * (ViewState.events) are neither crowded out nor changed; then the machine is brought back to the
 * step untraced, as `goto` gives it (tracing the TLB path perturbs the TLB's counters: see
 * Timeline.setTrace).
 *
 * Each translation of the step is listed once (a TLB hit on a page the step already translated
 * for the same kind of access adds nothing): a TLB miss with the walk the CPU made, or a TLB hit
 * with the walk a miss would have made, read side-effect free from the tables as they were before
 * the step (Mmu.probe). At the first step, the walk the next instruction's fetch will make.
 */
import { reservedBits } from '../emu/mmu/entry.ts';
import type { PagingControl } from '../emu/mmu/types.ts';
import type { AccessType, TraceEvent, TraceKind, TraceSink, TraceWalkStep } from '../emu/trace/events.ts';
import { traceWalkSteps } from '../emu/trace/emit.ts';
import type { Timeline } from '../emu/trace/timeline.ts';
import type { Machine } from '../emu/machine/machine.ts';
import { MAX_STEP_TRANSLATIONS, type StepWalks, type TranslationView, type WalkControls, type WalkEntryView, type WalkOutcome, type WalkPagingMode } from './walk-types.ts';

export { MAX_STEP_TRANSLATIONS };
export type { StepWalks, TranslationView, WalkControls, WalkEntryView, WalkOutcome, WalkPagingMode };

/** Events kept while replaying one step (a step makes a handful; this only bounds a pathological one). */
const MAX_REPLAY_EVENTS = 4096;

const WALK_KINDS: readonly TraceKind[] = ['tlb/lookup', 'mmu/walk', 'cpu/exception'];

function hex64(v: bigint): string {
  return `0x${BigInt.asUintN(64, v).toString(16).padStart(16, '0')}`;
}

function halves(v: bigint): { lo: number; hi: number } {
  return { lo: Number(v & 0xffffffffn), hi: Number((v >> 32n) & 0xffffffffn) };
}

/** The paging controls as they are now (CR3 read from the state: Cpu.pctl keeps it only while translating). */
function controlsOf(m: Machine): PagingControl {
  const s = m.cpu.state;
  return { ...m.cpu.pctl, cr3Lo: s.cr3Lo, cr3Hi: s.cr3Hi };
}

class StepSink implements TraceSink {
  readonly events: TraceEvent[] = [];
  emit(e: TraceEvent): void {
    if (this.events.length < MAX_REPLAY_EVENTS) this.events.push(e);
  }
}

function entryView(ctl: PagingControl, s: TraceWalkStep): WalkEntryView {
  const { lo, hi } = halves(s.entry);
  const r = reservedBits(ctl, s.level, lo, hi);
  return {
    level: s.level,
    entryPa: s.entryPa < 0n ? null : hex64(s.entryPa),
    index: s.index,
    value: hex64(s.entry),
    // A not-present entry maps nothing (32-bit paging's walk records its PTE as the leaf before checking P).
    leaf: s.leaf && (lo & 1) === 1,
    reserved: hex64((BigInt(r.hi >>> 0) << 32n) | BigInt(r.lo >>> 0)),
  };
}

/** A side-effect-free walk of the current tables (Mmu.probe) as a translation. */
function probe(m: Machine, ctl: PagingControl, linear: bigint, access: AccessType, user: boolean, source: 'tlb' | 'next'): TranslationView {
  const { lo, hi } = halves(linear);
  const w = m.mmu.probe(ctl, lo, hi, { write: access === 'write', fetch: access === 'fetch', user });
  const entries = traceWalkSteps(w.steps).map((s) => entryView(ctl, s));
  const outcome: WalkOutcome = w.ok ? { ok: true, pa: hex64(BigInt(w.pa)), pageSize: w.pageSize } : { ok: false, errorCode: w.fault.errorCode, level: w.fault.level };
  return { linear: hex64(linear), access, user, source, entries, outcome };
}

function controlsView(ctl: PagingControl, mode: WalkPagingMode): WalkControls {
  return {
    mode,
    cr3: hex64((BigInt(ctl.cr3Hi >>> 0) << 32n) | BigInt(ctl.cr3Lo >>> 0)),
    nxe: ctl.nxe,
    pse: ctl.pse,
    wp: ctl.wp,
    maxPhysAddr: ctl.maxPhysAddr,
  };
}

/** The linear address of the next instruction's fetch (CS.base + RIP). */
function fetchLinear(m: Machine): bigint {
  const s = m.cpu.state;
  const cs = s.seg[1]!;
  const rip = (BigInt(s.ripHi >>> 0) << 32n) | BigInt(s.ripLo >>> 0);
  const base = (BigInt(cs.baseHi >>> 0) << 32n) | BigInt(cs.baseLo >>> 0);
  return BigInt.asUintN(m.cpu.mode() === 'long64' ? 64 : 32, rip + base);
}

/** At the first step (or after a step that translated nothing): the walk of the next fetch. */
function nextFetch(m: Machine): StepWalks {
  const ctl = controlsOf(m);
  if (ctl.mode === 'none') return { paging: 'none' };
  const t = probe(m, ctl, fetchLinear(m), 'fetch', m.cpu.cpl() === 3, 'next');
  return { paging: ctl.mode, controls: controlsView(ctl, ctl.mode), translations: [t], dropped: 0, pageFault: null };
}

/**
 * The walks of the step that led to the timeline's current step. Leaves the machine at that step,
 * untraced (as `goto` leaves it), whatever the timeline's own trace settings.
 */
export function stepWalks(timeline: Timeline): StepWalks {
  const m = timeline.machine;
  const at = timeline.current;
  if (at <= timeline.start) return nextFetch(m);
  timeline.goto(at - 1);
  const sink = new StepSink();
  timeline.setTrace(sink, WALK_KINDS);
  try {
    timeline.step(1);
  } finally {
    timeline.setTrace(null);
  }
  // Back to the untraced machine before the step: the probes read the tables the step's accesses saw.
  timeline.goto(at - 1);
  const ctl = controlsOf(m);
  let out: StepWalks;
  try {
    out = ctl.mode === 'none' ? { paging: 'none' } : translationsOf(m, ctl, ctl.mode, sink.events);
  } finally {
    timeline.goto(at);
  }
  if (out.paging !== 'none' && out.translations.length === 0 && out.pageFault === null) return nextFetch(m);
  return out;
}

/** The translations of one step from its traced events (tlb/lookup, mmu/walk, cpu/exception), probing what the TLB answered. */
export function translationsOf(m: Machine, ctl: PagingControl, mode: WalkPagingMode, events: readonly TraceEvent[]): StepWalks {
  const translations: TranslationView[] = [];
  const seen = new Set<string>();
  let dropped = 0;
  let pageFault: { errorCode: number; cr2: string } | null = null;
  const add = (t: TranslationView): void => {
    if (translations.length < MAX_STEP_TRANSLATIONS) translations.push(t);
    else dropped++;
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind === 'cpu/exception') {
      if (e.vector === 14 && pageFault === null) pageFault = { errorCode: e.errorCode, cr2: hex64(e.cr2 ?? 0n) };
      continue;
    }
    if (e.kind !== 'tlb/lookup') continue;
    // The walk a lookup led to follows it at once (a miss, or a write hit that must set D).
    const next = events[i + 1];
    const key = `${e.linear >> 12n}:${e.access}:${e.user}`;
    if (next !== undefined && next.kind === 'mmu/walk') {
      i++;
      seen.add(key);
      const outcome: WalkOutcome =
        next.fault !== undefined
          ? { ok: false, errorCode: next.fault.errorCode, level: next.fault.level }
          : { ok: true, pa: hex64(next.pa ?? 0n), pageSize: next.pageSize ?? 4096 };
      add({ linear: hex64(next.linear), access: next.access, user: next.user, source: 'walk', entries: next.steps.map((s) => entryView(ctl, s)), outcome });
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    add(probe(m, ctl, e.linear, e.access, e.user, 'tlb'));
  }
  return { paging: mode, controls: controlsView(ctl, mode), translations, dropped, pageFault };
}
