/**
 * ViewState.twod (twod-types.ts): the two-dimensional walks of the step that led to the current
 * step, for the nested-walk grid; a function of (scenario, step) only. Part of the worker's
 * hypervisor chunk (hv-part.ts): only a technique scenario's guest runs under nested paging.
 *
 * As walks.ts does for the 1D walks, the step is replayed from the step before with the TLB path
 * traced (which turns the CPU's fast translation cache off, so every access, each instruction's
 * fetch included, reaches the MMU), here with `Mmu.nestedWatch` set: it sees each translation the
 * guest makes with its paging on, either the 2D walk the TLB miss made or, for a TLB hit, the walk
 * a miss would have made, computed then and there without side effects (translate2D with
 * sideEffects = false for the guest's flags; the nested translator the CPU holds may set its own
 * accessed/dirty flags, so host memory takes no write while it runs). Then the machine is brought
 * back to the step untraced, as `goto` gives it.
 */
import type { NestedWatch } from '../emu/mmu/mmu.ts';
import { translate2D, type TwoDRef, type TwoDResult } from '../emu/mmu/nested.ts';
import type { AccessKind } from '../emu/mmu/types.ts';
import type { TraceEvent, TraceSink } from '../emu/trace/events.ts';
import type { Timeline } from '../emu/trace/timeline.ts';
import type { Machine } from '../emu/machine/machine.ts';
import { MAX_STEP_2D, type StepTwoD, type TwoDOutcome, type TwoDRefView, type TwoDWalkView } from './twod-types.ts';

const hex = (v: number): string => `0x${BigInt(v).toString(16).padStart(16, '0')}`;
const hex64 = (lo: number, hi: number): string => `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;

/** The events themselves are not needed: tracing the TLB path is what makes every access reach the MMU. */
const DISCARD: TraceSink = { emit: (_e: TraceEvent) => {} };

function refView(r: TwoDRef): TwoDRefView {
  const s = r.step;
  const value = hex64(s.entryLo, s.entryHi);
  const leaf = s.leaf && (s.entryLo & 1) === 1;
  if (r.dim === 'guest') return { dim: 'guest', stage: 'guest-table', gpa: hex(r.gpa), hpa: hex(r.hpa), update: false, level: s.level, value, leaf };
  // A nested entry's present bit is not bit 0 alone under EPT (R, W, X in bits 0..2): a leaf is as the walker said.
  return { dim: 'nested', stage: r.stage, gpa: hex(r.gpa), hpa: hex(s.entryPa), update: r.update, level: s.level, value, leaf: s.leaf };
}

function outcomeView(r: TwoDResult<unknown>): TwoDOutcome {
  if (r.kind === 'ok') return { kind: 'ok', gpa: hex(r.gpa), hpa: hex(r.hpa), pageSize: r.pageSize };
  if (r.kind === 'guest-fault') return { kind: 'guest-fault', errorCode: r.fault.errorCode, level: r.fault.level };
  return { kind: 'nested-fault', stage: r.stage, gpa: hex(r.gpa) };
}

function accessOf(a: AccessKind): TwoDWalkView['access'] {
  return a.write ? 'write' : a.fetch ? 'fetch' : 'read';
}

/** One translate2D result as the grid receives it. */
export function twoDWalkView(
  mode: TwoDWalkView['guestMode'], linLo: number, linHi: number, access: AccessKind, r: TwoDResult<unknown>, source: TwoDWalkView['source'],
): TwoDWalkView {
  const refs = r.refs.map(refView);
  return {
    linear: hex64(linLo, linHi),
    access: accessOf(access),
    user: access.user,
    source,
    guestMode: mode,
    nestedLevels: refs.some((x) => x.dim === 'nested' && x.level === 'PML5E') ? 5 : 4,
    refs,
    outcome: outcomeView(r),
    ...(r.saved !== undefined ? { saved: { pwc: r.saved.pwc, ntlb: r.saved.ntlb } } : {}),
  };
}

/** Collects the step's walks (what Mmu.nestedWatch reports). */
function collector(m: Machine): { watch: NestedWatch; walks: TwoDWalkView[]; dropped: () => number } {
  const walks: TwoDWalkView[] = [];
  const seen = new Set<string>();
  let dropped = 0;
  const mem = m.mmu.mem;
  const watch: NestedWatch = (ctl, linLo, linHi, access, nested, made) => {
    if (ctl.mode === 'none') return;
    const mode = ctl.mode;
    const key = `${linHi}:${linLo >>> 12}:${accessOf(access)}:${access.user}`;
    // A hit on a page this step already showed for the same kind of access adds nothing.
    if (made === null && seen.has(key)) return;
    seen.add(key);
    let r: TwoDResult<unknown>;
    if (made !== null) r = made;
    else {
      // The walk a miss would have made: no guest flag set (sideEffects false) and, whatever the
      // nested translator does with its own flags, no write reaches host memory.
      const own = Object.hasOwn(mem, 'write');
      const write = mem.write;
      mem.write = () => {};
      try {
        r = translate2D(mem, { ...ctl, pdpte: ctl.pdpte.slice() }, linLo, linHi, access, nested, false);
      } finally {
        if (own) mem.write = write;
        else delete (mem as { write?: unknown }).write;
      }
    }
    if (walks.length >= MAX_STEP_2D) {
      dropped++;
      return;
    }
    walks.push(twoDWalkView(mode, linLo, linHi, access, r, made === null ? 'tlb' : 'walk'));
  };
  return { watch, walks, dropped: () => dropped };
}

/**
 * The 2D walks of the step that led to the timeline's current step, or null when it made none
 * (the first step, the guest's paging off, or no nested paging). Leaves the machine at that step,
 * untraced, as `goto` leaves it.
 */
export function stepTwoD(timeline: Timeline): StepTwoD | null {
  const m = timeline.machine;
  const at = timeline.current;
  if (at <= timeline.start) return null;
  timeline.goto(at - 1);
  const c = collector(m);
  const mmu = m.mmu;
  timeline.setTrace(DISCARD, ['mmu/walk']);
  mmu.nestedWatch = c.watch;
  try {
    timeline.step(1);
  } finally {
    mmu.nestedWatch = null;
    timeline.setTrace(null);
  }
  // Back to the untraced machine at the step (the traced replay perturbs the TLB's counters).
  timeline.goto(at - 1);
  timeline.goto(at);
  if (c.walks.length === 0 && c.dropped() === 0) return null;
  return { vendor: m.cpu.state.vendor === 'amd' ? 'amd' : 'intel', walks: c.walks, dropped: c.dropped() };
}
