/**
 * ViewState.shadow (shadow-types.ts): the shadow MMU's work of the step that led to the current one
 * (the exits' `shadow` records), or of the last exit before it that had any, and the three tables
 * for its last translation-level record, read at the current step without side effects
 * (ShadowMmu.inspect: the guest's walk sets no flag; memory is only read). A function of
 * (scenario, step): the records are the machine's (restored with it). Part of the worker's
 * hypervisor chunk (hv-part.ts); null for a machine that runs with nested paging.
 */
import type { HvMachine, HvExitRecord } from '../emu/hv/hv-machine.ts';
import type { ShadowRecord } from '../emu/hv/shadow.ts';
import { MAX_SHADOW_RECORDS, type ShadowEntryView, type ShadowFocus, type ShadowRecordView, type StepShadow } from './shadow-types.ts';

const hex = (v: number): string => `0x${BigInt(Math.max(0, Math.floor(v))).toString(16).padStart(16, '0')}`;
const hex64 = (lo: number, hi: number): string => `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
const pageOf = (a: number): number => a - (a % 0x1000);

export function recordView(r: ShadowRecord): ShadowRecordView {
  switch (r.op) {
    case 'hidden-fault':
    case 'true-fault': return { op: r.op, gva: hex(r.gva), errorCode: r.errorCode };
    case 'fill': return { op: 'fill', gva: hex(r.gva), gpa: hex(r.gpa), hpa: hex(r.hpa), spte: hex64(r.spte, r.spteHi) };
    case 'zap': return { op: 'zap', gva: hex(r.gva), why: r.why };
    case 'write-protect':
    case 'unprotect': return { op: r.op, gfn: hex(r.gfn) };
    case 'emulated-write': return { op: 'emulated-write', gva: hex(r.gva), gpa: hex(r.gpa), changed: r.changed.map(hex) };
    case 'mmio': return { op: 'mmio', gva: hex(r.gva), gpa: hex(r.gpa) };
    case 'cr3': return { op: 'cr3', cr3: hex(r.cr3), hit: r.hit, root: hex(r.root) };
    case 'reset': return { op: 'reset', why: r.why };
  }
}

/** Decodes a shadow leaf (32-bit or 4-level format) at `slot`. */
function entryView(m: HvMachine, slot: number, format: '32bit' | '4level'): ShadowEntryView {
  const lo = m.mem.read(slot, 4) >>> 0;
  const hi = format === '4level' ? m.mem.read(slot + 4, 4) >>> 0 : 0;
  const frameHi = format === '4level' ? hi & 0x000fffff : 0;
  return {
    slot: hex(slot), value: format === '4level' ? hex64(lo, hi) : hex64(lo, 0), present: (lo & 1) === 1,
    frame: hex64(lo & ~0xfff, frameHi), rw: (lo & 2) !== 0, us: (lo & 4) !== 0, xd: format === '4level' && (hi & 0x80000000) !== 0,
  };
}

/** The composition for the record's linear address, read now. */
export function focusOf(m: HvMachine, r: ShadowRecord, changed: readonly number[]): ShadowFocus | null {
  const sh = m.backend.shadow;
  if (sh == null) return null;
  if (r.op !== 'fill' && r.op !== 'zap' && r.op !== 'true-fault' && r.op !== 'hidden-fault' && r.op !== 'emulated-write' && r.op !== 'mmio') return null;
  const gva = pageOf(r.gva);
  const look = sh.inspect(gva);
  const changedSet = new Set(changed);
  const guest = (look.walk?.steps ?? []).filter((s) => s.entryPa >= 0).map((s) => ({
    level: s.level, gpa: hex(s.entryPa), value: hex64(s.entryLo, s.entryHi), leaf: s.leaf && (s.entryLo & 1) === 1, changed: changedSet.has(s.entryPa),
  }));
  let gpa: number | null;
  let guestOutcome: ShadowFocus['guestOutcome'];
  if (look.walk === null) {
    gpa = gva;
    guestOutcome = { kind: 'off', gpa: hex(gva) };
  } else if (look.walk.ok) {
    gpa = pageOf(look.walk.pa);
    guestOutcome = { kind: 'ok', gpa: hex(gpa) };
  } else {
    gpa = null;
    guestOutcome = { kind: 'fault', errorCode: look.walk.fault.errorCode };
  }
  const hpa = gpa === null ? null : sh.gpaToHpa(gpa);
  const shadow = look.slot === null ? null : entryView(m, look.slot, look.format);
  const agrees = shadow !== null && shadow.present && hpa !== null && shadow.frame === hex(hpa);
  return {
    op: r.op, ...(r.op === 'zap' ? { why: r.why } : {}), gva: hex(gva), guestCr3: hex(look.cr3), guest, guestOutcome,
    hpa: hpa === null ? null : hex(hpa), shadow, agrees, changed: changed.map(hex),
  };
}

/** The index of the first record with a step ≥ `step`. */
function firstAt(records: readonly HvExitRecord[], step: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((records[mid]!.log.step ?? 0) < step) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ViewState.shadow at the machine's current step (null: nested paging, or no shadow activity yet). */
export function stepShadow(m: HvMachine): StepShadow | null {
  const sh = m.backend.shadow;
  if (sh == null) return null;
  const step = m.cpu.state.steps;
  const records = m.records;
  // Exits of the step that led here happened at step − 1; else the last exit before with any record.
  const upTo = firstAt(records, step);
  let from = step > 0 ? firstAt(records, step - 1) : upTo;
  let fresh = true;
  if (!records.slice(from, upTo).some((r) => (r.log.shadow?.length ?? 0) > 0)) {
    fresh = false;
    let k = from - 1;
    while (k >= 0 && (records[k]!.log.shadow?.length ?? 0) === 0) k--;
    if (k < 0) return withStats(m, { step: 0, fresh: false, records: [], dropped: 0, focus: null, cr3: null });
    const at = records[k]!.log.step ?? 0;
    from = firstAt(records, at);
    return build(m, records.slice(from, firstAt(records, at + 1)), at, fresh);
  }
  return build(m, records.slice(from, upTo), step - 1, fresh);
}

function build(m: HvMachine, exits: readonly HvExitRecord[], step: number, fresh: boolean): StepShadow {
  const all = exits.flatMap((e) => e.log.shadow ?? []);
  // The last translation-level record explains the step; an emulated write names its changed entries.
  let focusRec: ShadowRecord | null = null;
  let changed: number[] = [];
  for (const r of all) {
    if (r.op === 'emulated-write') {
      focusRec = r;
      changed = r.changed;
    } else if (r.op === 'fill' || r.op === 'zap' || r.op === 'true-fault' || r.op === 'mmio') {
      // A fill that belongs to the emulated write (the page-table page's own mapping) does not replace it.
      if (!(focusRec?.op === 'emulated-write' && r.op === 'fill')) {
        focusRec = r;
        changed = [];
      }
    }
  }
  const cr3 = [...all].reverse().find((r) => r.op === 'cr3');
  return withStats(m, {
    step, fresh, records: all.slice(-MAX_SHADOW_RECORDS).map(recordView), dropped: Math.max(0, all.length - MAX_SHADOW_RECORDS),
    focus: focusRec === null ? null : focusOf(m, focusRec, changed),
    cr3: cr3 === undefined ? null : (recordView(cr3) as Extract<ShadowRecordView, { op: 'cr3' }>),
  });
}

function withStats(m: HvMachine, v: Omit<StepShadow, 'vendor' | 'format' | 'stats'>): StepShadow {
  const sh = m.backend.shadow!;
  return { vendor: m.cpu.state.vendor === 'amd' ? 'amd' : 'intel', format: sh.format, stats: { ...sh.stats }, ...v };
}
