/**
 * What the VM views draw, computed from `ViewState.vm` (plain TS, no DOM, tested with fixtures):
 * field groups and the filter, VMCS encodings decoded, bit strips, the handler's code path, and
 * the chart rows that double as the charts' text alternatives.
 */
import type { VmAccessView, VmBitsView, VmControlView, VmExitView, VmFieldView, VmTechnique, VmView } from '../../worker/vm-types.ts';

/** The areas in the manuals' order: SDM Appendix B's field types; the VMCB's two areas (APM Appendix B). */
export const AREAS: Record<VmTechnique, readonly string[]> = {
  vtx: ['control', 'exit-info', 'guest', 'host'],
  svm: ['control', 'save'],
  // Trap-and-emulate has no control structure: the monitor keeps the guest's state in software.
  'trap-emulate': [],
  bt: [],
  // Nor paravirtualization: the guest asks with hypercalls.
  pv: [],
};

export interface FieldGroup {
  area: string;
  fields: VmFieldView[];
  /** Fields of the area before the filter. */
  total: number;
}

/** Whether a field matches the filter text: its name, title, or encoding/offset (with or without 0x), any case. */
export function fieldMatches(f: VmFieldView, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === '') return true;
  const key = f.key.toString(16);
  const keyQ = q.startsWith('0x') ? q.slice(2) : q;
  return f.name.toLowerCase().includes(q) || f.title.toLowerCase().includes(q) || (keyQ !== '' && /^[0-9a-f]+$/.test(keyQ) && key.includes(keyQ));
}

/** The fields grouped by area in the manual's order, filtered; areas the technique does not name go last. */
export function groupFields(vm: Pick<VmView, 'technique' | 'fields'>, query: string, onlyChanged: boolean): FieldGroup[] {
  const order = [...AREAS[vm.technique]];
  for (const f of vm.fields) if (!order.includes(f.area)) order.push(f.area);
  return order
    .map((area) => {
      const all = vm.fields.filter((f) => f.area === area);
      const fields = all.filter((f) => (!onlyChanged || f.changed) && fieldMatches(f, query));
      return { area, fields, total: all.length };
    })
    .filter((g) => g.total > 0);
}

/** A VMCS encoding's parts (SDM Vol. 3C, 25.11.2): access type bit 0, index 9:1, type 11:10, width 14:13. */
export interface EncodingParts {
  access: 'full' | 'high';
  index: number;
  type: 'control' | 'exit-info' | 'guest' | 'host';
  width: '16' | '64' | '32' | 'natural';
}

export function decodeVmcsEncoding(encoding: number): EncodingParts {
  const types = ['control', 'exit-info', 'guest', 'host'] as const;
  const widths = ['16', '64', '32', 'natural'] as const;
  return {
    access: (encoding & 1) === 1 ? 'high' : 'full',
    index: (encoding >>> 1) & 0x1ff,
    type: types[(encoding >>> 10) & 3]!,
    width: widths[(encoding >>> 13) & 3]!,
  };
}

/** The encoding (4 hex digits) or offset (3 hex digits) as the manuals print them. */
export function keyText(technique: VmTechnique, key: number): string {
  return `0x${key.toString(16).padStart(technique === 'vtx' ? 4 : 3, '0')}`;
}

/** One cell of a bit strip: a named range, or the unnamed bits between ranges. */
export interface StripCell {
  lo: number;
  hi: number;
  name: string | null;
  value: number;
  /** The range's bits, most significant first. */
  binary: string;
}

/** The width a strip needs: 32 bits unless a range reaches above bit 31. */
export function stripWidth(bits: readonly VmBitsView[]): number {
  return bits.some((b) => b.hi > 31) ? 64 : 32;
}

/**
 * The cells of a value's bit strip from the highest bit down: each named range with its value in
 * binary, and the bits no range names (reserved or not reported) as unnamed cells. `raw` (the whole
 * value) fills the unnamed cells' bits.
 */
export function bitStrip(bits: readonly VmBitsView[], raw: bigint, width = stripWidth(bits)): StripCell[] {
  const sorted = [...bits].sort((a, b) => b.hi - a.hi);
  const cells: StripCell[] = [];
  const part = (lo: number, hi: number): number => Number((raw >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  const bin = (v: number, n: number): string => v.toString(2).padStart(n, '0');
  let next = width - 1;
  for (const b of sorted) {
    if (b.hi < next) cells.push({ lo: b.hi + 1, hi: next, name: null, value: part(b.hi + 1, next), binary: bin(part(b.hi + 1, next), next - b.hi) });
    cells.push({ lo: b.lo, hi: b.hi, name: b.name, value: b.value, binary: bin(b.value, b.hi - b.lo + 1) });
    next = b.lo - 1;
  }
  if (next >= 0) cells.push({ lo: 0, hi: next, name: null, value: part(0, next), binary: bin(part(0, next), next + 1) });
  return cells;
}

/** One step of the hypervisor's code path for an exit: its accesses in order, then the entry. */
export interface PathStep {
  /** VMREAD / VMWRITE (VT-x), a VMCB load / store (AMD-V), a software copy of guest state, or the entry instruction. */
  op: 'VMREAD' | 'VMWRITE' | 'vmcb-read' | 'vmcb-write' | 'sw-read' | 'sw-write' | 'VMLAUNCH' | 'VMRESUME' | 'VMRUN' | 'IRET';
  field: string | null;
  key: number | null;
  value: string | null;
}

export function handlerPath(technique: VmTechnique, exit: VmExitView): PathStep[] {
  const step = (a: VmAccessView): PathStep => {
    const op: PathStep['op'] =
      a.key === null ? (a.op === 'read' ? 'sw-read' : 'sw-write') : technique === 'vtx' ? (a.op === 'read' ? 'VMREAD' : 'VMWRITE') : a.op === 'read' ? 'vmcb-read' : 'vmcb-write';
    return { op, field: a.field, key: a.key, value: a.value };
  };
  const steps = exit.accesses.map(step);
  if (exit.entry !== null) steps.push({ op: exit.entry, field: null, key: null, value: null });
  return steps;
}

/** How many bytes the handler moved RIP on (its last write of the guest RIP minus the exit's RIP), or null. */
export function ripAdvance(exit: VmExitView): number | null {
  const w = [...exit.accesses].reverse().find((a) => a.op === 'write' && (a.field === 'GUEST_RIP' || a.field === 'save.rip'));
  if (w === undefined) return null;
  const d = BigInt(w.value) - BigInt(exit.rip);
  return d >= 0n && d < 16n ? Number(d) : null;
}

/** A row of the exits-by-reason chart and its table: sorted by count, then cycles, then code. */
export interface ReasonRow {
  code: number;
  name: string;
  count: number;
  cycles: number;
  /** count / the largest count (0–1), the bar's length. */
  share: number;
}

export function reasonRows(vm: Pick<VmView, 'byReason'>): ReasonRow[] {
  const max = Math.max(1, ...vm.byReason.map((r) => r.count));
  return [...vm.byReason]
    .sort((a, b) => b.count - a.count || b.cycles - a.cycles || a.code - b.code || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => ({ code: r.code, name: r.name, count: r.count, cycles: r.cycles, share: r.count / max }));
}

/** The cycle groups in the chart's order; `hostOs` only where the view has it (a hosting scenario). */
export const CYCLE_PARTS = ['guest', 'memory', 'transitions', 'fieldAccess', 'handlers', 'hostOs'] as const;
export type CyclePart = (typeof CYCLE_PARTS)[number];

export interface CycleRow {
  part: CyclePart;
  cycles: number;
  /** Of the total (0–1); 0 when nothing has run. */
  share: number;
}

export function cycleRows(vm: Pick<VmView, 'cycles'>): CycleRow[] {
  const c = vm.cycles;
  const parts = CYCLE_PARTS.filter((p) => c[p] !== undefined);
  const of = (p: CyclePart): number => c[p] ?? 0;
  const sum = parts.reduce((s, p) => s + of(p), 0);
  const total = Math.max(c.total, sum);
  return parts.map((part) => ({ part, cycles: of(part), share: total === 0 ? 0 : of(part) / total }));
}

/** A percentage with one decimal place (`12.5%`). */
export function percent(share: number): string {
  return `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}

export interface ControlGroup {
  field: string;
  controls: VmControlView[];
}

/** The controls by field (VT-x control word, AMD-V intercept word), in the order first seen. */
export function controlGroups(controls: readonly VmControlView[]): ControlGroup[] {
  const out: ControlGroup[] = [];
  for (const c of controls) {
    const g = out.find((x) => x.field === c.field);
    if (g === undefined) out.push({ field: c.field, controls: [c] });
    else g.controls.push(c);
  }
  return out;
}

/**
 * An exit's code as the manuals print it: VT-x's basic exit reason in decimal, AMD-V's EXITCODE in
 * hex (VMEXIT_INVALID, EXITCODE −1, as −1: the 64-bit field holds all ones).
 */
export function exitCodeText(technique: VmTechnique, code: number): string {
  if (technique !== 'svm') return String(code);
  return code < 0 ? String(code) : `0x${code.toString(16)}`;
}
