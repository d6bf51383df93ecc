/**
 * The technique comparison chart's geometry (Techniques.svelte), plain TS with d3 for the scale
 * only: one panel per workload, a bar per technique, cycles per iteration on a shared logarithmic
 * axis (the figures span 3 to tens of thousands of cycles, so a linear axis would hide the native
 * and nested-paging bars), with the axis's ticks at powers of ten.
 */
import { scaleLog } from 'd3';
import type { CompareRow, TechniqueId, Workload } from '../../emu/hv/technique-compare.ts';
import type { TechniqueComparison } from '../../worker/techniques-types.ts';

/** The order the chart shows (the same as emu/hv/technique-compare.ts; a test checks it). */
export const CHART_WORKLOADS: readonly Workload[] = ['syscall', 'in', 'pgfault', 'ptemod', 'compute'];
export const CHART_TECHNIQUES: readonly TechniqueId[] = ['native', 'trap-emulate', 'bt', 'pv', 'vtx-shadow', 'vtx-nested', 'svm-shadow', 'svm-nested'];

/**
 * The workload and technique pairs the comparison has no row for (technique-compare.ts
 * PV_UNAVAILABLE, which a test checks this against): the panel says why in words instead of a bar.
 */
export const CHART_UNAVAILABLE = [{ workload: 'in', technique: 'pv', why: 'techniques.unavailable.pv.in' }] as const satisfies readonly { workload: Workload; technique: TechniqueId; why: string }[];
/** A technique with no bar in a panel, and the message key of the reason. */
export type Unavailable = (typeof CHART_UNAVAILABLE)[number];

/** Which family a technique belongs to: its bar's pattern (its name is always written beside it, so colour is never the only signal). */
export type Family = 'native' | 'software' | 'paravirtual' | 'hardware' | 'hardware-nested';
export function familyOf(t: TechniqueId): Family {
  if (t === 'native') return 'native';
  if (t === 'pv') return 'paravirtual';
  if (t === 'trap-emulate' || t === 'bt') return 'software';
  return t.endsWith('nested') ? 'hardware-nested' : 'hardware';
}

export interface TechniqueBar {
  technique: TechniqueId;
  family: Family;
  row: CompareRow;
  /** Where the bar ends on the log axis, 0..1. */
  width: number;
}

export interface TechniquePanel {
  workload: Workload;
  bars: TechniqueBar[];
  /** The techniques other than native with the fewest cycles per iteration (all of them when tied), in chart order. */
  fastest: TechniqueId[];
  /** The techniques that have no row for this workload (CHART_UNAVAILABLE), in chart order. */
  unavailable: Unavailable[];
}

export interface Tick {
  value: number;
  /** 0..1 along the axis. */
  at: number;
}

export interface TechniqueChart {
  panels: TechniquePanel[];
  ticks: Tick[];
  /** The axis's end: the smallest power of ten at or above the largest figure. */
  max: number;
}

/** The panels, bars and axis of a comparison. Bars below one cycle (none in practice) are drawn at the axis's start. */
export function techniqueChart(r: TechniqueComparison): TechniqueChart {
  const largest = Math.max(10, ...r.rows.map((x) => x.cycles));
  const max = 10 ** Math.ceil(Math.log10(largest));
  const scale = scaleLog().domain([1, max]).range([0, 1]).clamp(true);
  const panels = CHART_WORKLOADS.flatMap((workload): TechniquePanel[] => {
    const bars = CHART_TECHNIQUES.flatMap((technique): TechniqueBar[] => {
      const row = r.rows.find((x) => x.workload === workload && x.technique === technique);
      return row === undefined ? [] : [{ technique, family: familyOf(technique), row, width: scale(Math.max(1, row.cycles)) }];
    });
    if (bars.length === 0) return [];
    const others = bars.filter((b) => b.technique !== 'native');
    const least = Math.min(...others.map((b) => b.row.cycles));
    const unavailable = CHART_TECHNIQUES.flatMap((t) => CHART_UNAVAILABLE.filter((u) => u.workload === workload && u.technique === t && !bars.some((b) => b.technique === t)));
    return [{ workload, bars, fastest: others.filter((b) => b.row.cycles === least).map((b) => b.technique), unavailable }];
  });
  const ticks = scale.ticks().filter((v) => Number.isInteger(Math.log10(v))).map((value) => ({ value, at: scale(value) }));
  return { panels, ticks, max };
}

/** A row's exits by kind, largest first then by name: `[kind, per iteration]`. */
export function kindsOf(row: CompareRow): [string, number][] {
  return Object.entries(row.byKind).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}
