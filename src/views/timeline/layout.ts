/**
 * Geometry of the timeline (plain TS, d3 for the math only): the step scale and its ticks, one
 * lane per kind of mark that occurred, where each mark or group of marks sits, the shape that
 * stands for each kind (so that colour is never the only signal), and moving from mark to mark.
 */
import { scaleLinear, type ScaleLinear } from 'd3';
import { MARK_KINDS, type Mark, type MarkGroup, type MarkKind } from '../../emu/trace/marks.ts';

export interface Geometry {
  width: number;
  /** Left margin for the lane labels. */
  gutter: number;
  right: number;
  /** Space above the first lane (the cursor's handle). */
  top: number;
  laneHeight: number;
  /** Space below the lanes for the axis. */
  axisHeight: number;
  /** Half the size of a mark's shape. */
  mark: number;
  fontSize: number;
}

/** The geometry for a track `width` pixels wide; presenter mode draws everything 1.6 times larger (app.css). */
export function geometry(width: number, presenter: boolean): Geometry {
  const k = presenter ? 1.6 : 1;
  return {
    width: Math.max(width, 200 * k),
    gutter: Math.round(150 * k),
    right: Math.round(16 * k),
    top: Math.round(12 * k),
    laneHeight: Math.round(24 * k),
    axisHeight: Math.round(26 * k),
    mark: Math.round(5.5 * k),
    fontSize: Math.round(13 * k),
  };
}

/** The height of the drawing with `lanes` lanes (at least one lane's room for the empty state). */
export function heightOf(g: Geometry, lanes: number): number {
  return g.top + Math.max(1, lanes) * g.laneHeight + g.axisHeight;
}

/** Step → x: step 0 at the gutter, the furthest step at the right edge (at least one step wide). */
export function stepScale(furthest: number, g: Geometry): ScaleLinear<number, number> {
  return scaleLinear()
    .domain([0, Math.max(1, furthest)])
    .range([g.gutter, g.width - g.right]);
}

export interface Tick {
  step: number;
  x: number;
}

/**
 * Whole-step ticks about every 90 pixels (d3's nice values), and the furthest step at the end;
 * a nice tick too close to the end gives way to it.
 */
export function axisTicks(scale: ScaleLinear<number, number>, furthest: number, g: Geometry): Tick[] {
  const [x0, x1] = scale.range() as [number, number];
  const count = Math.max(2, Math.floor((x1 - x0) / (90 * (g.fontSize / 13))));
  const minGap = g.fontSize * 4;
  const ticks = scale
    .ticks(count)
    .filter((s) => Number.isInteger(s) && s <= furthest)
    .map((step) => ({ step, x: scale(step) }));
  const end = { step: furthest, x: scale(furthest) };
  const kept = ticks.filter((t) => t.step === furthest || end.x - t.x >= minGap);
  if (kept[kept.length - 1]?.step !== furthest) kept.push(end);
  return kept;
}

/** A count of 0 for every kind (before any marks have come). */
export function noCounts(): Record<MarkKind, number> {
  return Object.fromEntries(MARK_KINDS.map((k) => [k, 0])) as Record<MarkKind, number>;
}

/** The kinds to draw a lane for: those with marks, in MARK_KINDS order. */
export function lanesOf(counts: Readonly<Record<MarkKind, number>>): MarkKind[] {
  return MARK_KINDS.filter((k) => counts[k] > 0);
}

/** The y of lane `i`'s centre line. */
export function laneY(i: number, g: Geometry): number {
  return g.top + (i + 0.5) * g.laneHeight;
}

/**
 * Whether a mark's event happened between two instructions: an external interrupt delivered as
 * the run reached its step (and the ring change it made). Every other event belongs to the
 * instruction that starts at its step.
 */
export function betweenInstructions(m: Mark): boolean {
  return (m.kind === 'cpu/interrupt' && m.source === 'external') || (m.kind === 'ring/change' && m.cause === 'interrupt');
}

/**
 * The step at which the screen shows a mark: the one after its instruction (as the narration
 * tells what the last step did, and as "run to next" stops there), or, for an event between two
 * instructions, its own step; never past the furthest step (a triple fault retires nothing).
 */
export function shownStep(m: Mark, furthest: number): number {
  return Math.min(furthest, betweenInstructions(m) ? m.step : m.step + 1);
}

/** A group of marks at the steps where the screen shows them (shownStep). */
export interface Shown {
  group: MarkGroup;
  /** Where the screen shows the group's first mark, and its last. */
  at: number;
  last: number;
}

export function shownGroups(groups: readonly MarkGroup[], furthest: number): Shown[] {
  return groups.map((group) => {
    const at = shownStep(group.mark, furthest);
    return { group, at, last: Math.min(furthest, Math.max(at, group.last + (at - group.mark.step))) };
  });
}

export interface Placed extends Shown {
  lane: number;
  /** Where the first mark sits and, for a group, where its last one does. */
  x: number;
  x2: number;
  y: number;
}

/** Each group in its kind's lane, from where it is shown to its last mark (kinds without a lane are left out). */
export function place(shown: readonly Shown[], lanes: readonly MarkKind[], scale: ScaleLinear<number, number>, g: Geometry): Placed[] {
  const out: Placed[] = [];
  for (const { group, at, last } of shown) {
    const lane = lanes.indexOf(group.mark.kind);
    if (lane < 0) continue;
    out.push({ group, at, last, lane, x: scale(at), x2: scale(last), y: laneY(lane, g) });
  }
  return out;
}

/**
 * The outline of a kind's shape, centred on 0,0, `r` from centre to edge: a triangle for a ring
 * change (pointing up towards ring 0, down towards ring 3), a cross for an exception, a circle for
 * an interrupt (a ring for a software one), a diamond for port I/O, a square for a TLB flush, two
 * bars for a halt, an eight-pointed star for a triple fault, an up arrow for a VM exit, a hexagon
 * for the end of a VM, a right arrow for a DMA request made and, for one blocked (`ok` false), the
 * arrow's shaft stopped at a wall (no head); a lightning bolt for an interrupt message and, for one
 * blocked or aborted, a shorter bolt stopped at a wall; a house for a host process's turn.
 */
export function shapePath(m: Pick<Mark, 'kind'> & Partial<{ from: number; to: number; source: string; ok: boolean; outcome: string }>, r: number): string {
  const f = (n: number): string => String(Math.round(n * 100) / 100);
  switch (m.kind) {
    case 'ring/change':
      return (m.to ?? 0) < (m.from ?? 0)
        ? `M0,${f(-r)}L${f(r)},${f(r * 0.8)}L${f(-r)},${f(r * 0.8)}Z`
        : `M0,${f(r)}L${f(r)},${f(-r * 0.8)}L${f(-r)},${f(-r * 0.8)}Z`;
    case 'cpu/exception': {
      const a = r * 0.9;
      const w = r * 0.35;
      // A thick X as one outline: the four arms around the centre.
      return `M${f(-a)},${f(-a + w)}L${f(-a + w)},${f(-a)}L0,${f(-w)}L${f(a - w)},${f(-a)}L${f(a)},${f(-a + w)}L${f(w)},0L${f(a)},${f(a - w)}L${f(a - w)},${f(a)}L0,${f(w)}L${f(-a + w)},${f(a)}L${f(-a)},${f(a - w)}L${f(-w)},0Z`;
    }
    case 'cpu/interrupt':
      return m.source === 'software'
        ? `M${f(-r)},0A${f(r)},${f(r)} 0 1 0 ${f(r)},0A${f(r)},${f(r)} 0 1 0 ${f(-r)},0ZM${f(-r * 0.45)},0A${f(r * 0.45)},${f(r * 0.45)} 0 1 1 ${f(r * 0.45)},0A${f(r * 0.45)},${f(r * 0.45)} 0 1 1 ${f(-r * 0.45)},0Z`
        : `M${f(-r)},0A${f(r)},${f(r)} 0 1 0 ${f(r)},0A${f(r)},${f(r)} 0 1 0 ${f(-r)},0Z`;
    case 'io/port':
      return `M0,${f(-r)}L${f(r)},0L0,${f(r)}L${f(-r)},0Z`;
    case 'tlb/flush': {
      const a = r * 0.85;
      return `M${f(-a)},${f(-a)}H${f(a)}V${f(a)}H${f(-a)}Z`;
    }
    case 'cpu/halt': {
      const w = r * 0.35;
      return `M${f(-r * 0.8)},${f(-r)}H${f(-r * 0.8 + w * 2)}V${f(r)}H${f(-r * 0.8)}ZM${f(r * 0.8 - w * 2)},${f(-r)}H${f(r * 0.8)}V${f(r)}H${f(r * 0.8 - w * 2)}Z`;
    }
    case 'cpu/triple-fault': {
      const pts: string[] = [];
      for (let i = 0; i < 16; i++) {
        const a = (Math.PI * i) / 8 - Math.PI / 2;
        const d = i % 2 === 0 ? r : r * 0.45;
        pts.push(`${f(d * Math.cos(a))},${f(d * Math.sin(a))}`);
      }
      return `M${pts.join('L')}Z`;
    }
    case 'vm/exit': {
      // An arrow pointing up, out of the guest to the hypervisor.
      const w = r * 0.35;
      return `M0,${f(-r)}L${f(r)},0H${f(w)}V${f(r)}H${f(-w)}V0H${f(-r)}Z`;
    }
    case 'vm/end': {
      const pts: string[] = [];
      for (let i = 0; i < 6; i++) {
        const a = (Math.PI * i) / 3;
        pts.push(`${f(r * Math.cos(a))},${f(r * Math.sin(a))}`);
      }
      return `M${pts.join('L')}Z`;
    }
    case 'iommu/dma': {
      const w = r * 0.35;
      // Made: an arrow from the device to memory. Blocked: its shaft, stopped short of a wall.
      if (m.ok === false) return `M${f(-r)},${f(-w)}H${f(r * 0.3)}V${f(w)}H${f(-r)}ZM${f(r * 0.55)},${f(-r)}H${f(r)}V${f(r)}H${f(r * 0.55)}Z`;
      return `M${f(-r)},${f(-w)}H0V${f(-r)}L${f(r)},0L0,${f(r)}V${f(w)}H${f(-r)}Z`;
    }
    case 'iommu/msi': {
      // A bolt: down-left from the top, a step right, down-left to the bottom, and back up the other side.
      const bolt = (x: number, s: number): string =>
        `M${f(x + 0.35 * r * s)},${f(-r)}L${f(x - 0.75 * r * s)},${f(r * 0.2)}H${f(x + 0.25 * r * s)}L${f(x - 0.35 * r * s)},${f(r)}L${f(x + 0.75 * r * s)},${f(-r * 0.2)}H${f(x - 0.25 * r * s)}Z`;
      // Blocked or aborted: a narrower bolt stopped at a wall.
      if (m.outcome === 'blocked' || m.outcome === 'aborted') return `${bolt(-r * 0.35, 0.6)}M${f(r * 0.55)},${f(-r)}H${f(r)}V${f(r)}H${f(r * 0.55)}Z`;
      return bolt(0, 1);
    }
    case 'host/run':
      // A house (the host): a roof over a square, with a door cut out.
      return `M0,${f(-r)}L${f(r)},${f(-r * 0.15)}V${f(r)}H${f(-r)}V${f(-r * 0.15)}ZM${f(-r * 0.3)},${f(r)}V${f(r * 0.2)}H${f(r * 0.3)}V${f(r)}Z`;
  }
}

/** Where the group before (dir −1) or after (dir 1) `step` is shown, or null if there is none. */
export function neighbourStep(shown: readonly Shown[], step: number, dir: -1 | 1): number | null {
  let best: number | null = null;
  for (const g of shown) {
    const s = g.at;
    if (dir > 0 ? s > step && (best === null || s < best) : s < step && (best === null || s > best)) best = s;
  }
  return best;
}

/** The step under x (clamped to 0..furthest). */
export function stepAt(scale: ScaleLinear<number, number>, x: number, furthest: number): number {
  return Math.min(furthest, Math.max(0, Math.round(scale.invert(x))));
}

/** Buckets to ask for: about one per `mark * 2` pixels of track. */
export function bucketsFor(g: Geometry): number {
  return Math.max(1, Math.floor((g.width - g.gutter - g.right) / (g.mark * 2)));
}
