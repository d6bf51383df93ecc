/**
 * The timeline's geometry: the step scale maps the run onto the track, ticks are whole steps with
 * the furthest step last, lanes are the kinds that occurred in a fixed order, marks sit in their
 * lane at their step, each kind has its own shape, and the keys move from mark to mark.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MARK_KINDS, type Mark, type MarkGroup } from '../../emu/trace/marks.ts';
import {
  axisTicks, betweenInstructions, bucketsFor, geometry, heightOf, lanesOf, laneY, neighbourStep, noCounts, place, shapePath, shownGroups, shownStep,
  stepAt, stepScale,
} from './layout.ts';

const group = (mark: Mark, count = 1, last = mark.step): MarkGroup => ({ mark, count, last });

describe('the step scale and its axis', () => {
  it('puts step 0 at the end of the gutter and the furthest step at the right edge', () => {
    const g = geometry(1000, false);
    const x = stepScale(500, g);
    expect(x(0)).toBe(g.gutter);
    expect(x(500)).toBe(1000 - g.right);
    expect(x(250)).toBeCloseTo((g.gutter + 1000 - g.right) / 2);
    // A run of no steps yet still has a scale one step wide.
    expect(stepScale(0, g)(1)).toBe(1000 - g.right);
  });

  it('presenter mode draws 1.6 times larger, and a narrow track keeps a usable width', () => {
    const n = geometry(1000, false);
    const p = geometry(1000, true);
    expect(p.laneHeight).toBe(Math.round(n.laneHeight * 1.6));
    expect(p.fontSize).toBeGreaterThan(n.fontSize);
    expect(geometry(10, false).width).toBe(200);
    expect(heightOf(n, 0)).toBe(heightOf(n, 1));
    expect(heightOf(n, 3)).toBe(n.top + 3 * n.laneHeight + n.axisHeight);
    expect(laneY(0, n)).toBe(n.top + n.laneHeight / 2);
  });

  it('ticks are whole steps in order, within the run, the furthest last, none crowding it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 3000 }), fc.integer({ min: 0, max: 50_000_000 }), fc.boolean(), (w, furthest, presenter) => {
        const g = geometry(w, presenter);
        const x = stepScale(furthest, g);
        const ticks = axisTicks(x, furthest, g);
        expect(ticks.length).toBeGreaterThanOrEqual(1);
        expect(ticks[ticks.length - 1]!.step).toBe(furthest);
        for (const t of ticks) {
          expect(Number.isInteger(t.step)).toBe(true);
          expect(t.step).toBeGreaterThanOrEqual(0);
          expect(t.x).toBeCloseTo(x(t.step));
        }
        for (let i = 1; i < ticks.length; i++) expect(ticks[i]!.step).toBeGreaterThan(ticks[i - 1]!.step);
        for (const t of ticks.slice(0, -1)) expect(x(furthest) - t.x).toBeGreaterThanOrEqual(g.fontSize * 4);
      }),
    );
  });

  it('the timer example’s run gets round thousands and its furthest step', () => {
    const g = geometry(1200, false);
    expect(axisTicks(stepScale(9134, g), 9134, g).map((t) => t.step)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9134]);
  });

  it('stepAt inverts the scale, rounded and clamped to the run', () => {
    const g = geometry(1000, false);
    const x = stepScale(300, g);
    for (const s of [0, 1, 150, 299, 300]) expect(stepAt(x, x(s), 300)).toBe(s);
    expect(stepAt(x, 0, 300)).toBe(0);
    expect(stepAt(x, 5000, 300)).toBe(300);
  });

  it('asks for about one bucket per mark width of track', () => {
    const g = geometry(1000, false);
    expect(bucketsFor(g)).toBe(Math.floor((1000 - g.gutter - g.right) / (g.mark * 2)));
    expect(bucketsFor(geometry(0, true))).toBeGreaterThanOrEqual(1);
  });
});

describe('lanes and marks', () => {
  it('has a lane for each kind that occurred, in the fixed order of MARK_KINDS', () => {
    const counts = { ...noCounts(), 'cpu/halt': 1, 'ring/change': 4, 'io/port': 2 };
    expect(lanesOf(counts)).toEqual(['ring/change', 'io/port', 'cpu/halt']);
    expect(lanesOf(noCounts())).toEqual([]);
  });

  it('shows an instruction’s event at the step after it, an interrupt delivered between instructions at its own step', () => {
    const timer: Mark = { kind: 'cpu/interrupt', step: 2000, vector: 32, source: 'external' };
    const entry: Mark = { kind: 'ring/change', step: 2000, from: 3, to: 0, cause: 'interrupt', vector: 32 };
    const int80: Mark = { kind: 'cpu/interrupt', step: 9, vector: 0x80, source: 'software' };
    const sysc: Mark = { kind: 'ring/change', step: 5, from: 3, to: 0, cause: 'syscall' };
    const pf: Mark = { kind: 'cpu/exception', step: 1, vector: 14, errorCode: 6, cr2: 0n };
    expect([timer, entry, int80, sysc, pf].map(betweenInstructions)).toEqual([true, true, false, false, false]);
    expect([timer, entry, int80, sysc, pf].map((m) => shownStep(m, 5000))).toEqual([2000, 2000, 10, 6, 2]);
    // A triple fault retires nothing: the furthest step is its own.
    expect(shownStep({ kind: 'cpu/triple-fault', step: 40 }, 40)).toBe(40);
    expect(shownGroups([group(int80, 3, 30)], 100)).toEqual([{ group: group(int80, 3, 30), at: 10, last: 31 }]);
  });

  it('places each group in its kind’s lane, from where its first to where its last mark is shown', () => {
    const g = geometry(1000, false);
    const x = stepScale(100, g);
    const lanes = lanesOf({ ...noCounts(), 'ring/change': 1, 'cpu/interrupt': 3 });
    const shown = shownGroups(
      [
        group({ kind: 'cpu/interrupt', step: 10, vector: 32, source: 'external' }, 3, 90),
        group({ kind: 'ring/change', step: 20, from: 3, to: 0, cause: 'syscall' }),
        group({ kind: 'cpu/halt', step: 98 }),
      ],
      100,
    );
    const placed = place(shown, lanes, x, g);
    expect(placed.map((p) => [p.group.mark.kind, p.lane, p.at, p.x, p.x2, p.y])).toEqual([
      ['cpu/interrupt', 1, 10, x(10), x(90), laneY(1, g)],
      ['ring/change', 0, 21, x(21), x(21), laneY(0, g)],
    ]);
  });

  it('gives every kind its own shape, and tells the variants apart', () => {
    const shapes = MARK_KINDS.map((kind) => shapePath({ kind }, 6));
    expect(new Set(shapes).size).toBe(MARK_KINDS.length);
    expect(shapePath({ kind: 'ring/change', from: 3, to: 0 }, 6)).not.toBe(shapePath({ kind: 'ring/change', from: 0, to: 3 }, 6));
    expect(shapePath({ kind: 'cpu/interrupt', source: 'software' }, 6)).not.toBe(shapePath({ kind: 'cpu/interrupt', source: 'external' }, 6));
    // A blocked DMA request differs by shape, not only colour: two parts (shaft and wall), no arrow head.
    const made = shapePath({ kind: 'iommu/dma', ok: true }, 6);
    const blocked = shapePath({ kind: 'iommu/dma', ok: false }, 6);
    expect(made).toBe(shapePath({ kind: 'iommu/dma' }, 6));
    expect(blocked).not.toBe(made);
    expect(made.match(/M/g)).toHaveLength(1);
    expect(blocked.match(/M/g)).toHaveLength(2);
    expect(made).toContain('L6,0');
    expect(blocked).not.toContain('L');
    // An interrupt message is a bolt; a blocked or aborted one a shorter bolt at a wall (two parts), unlike the DMA shapes.
    const bolt = shapePath({ kind: 'iommu/msi', outcome: 'posted' }, 6);
    const stopped = shapePath({ kind: 'iommu/msi', outcome: 'blocked' }, 6);
    expect(shapePath({ kind: 'iommu/msi', outcome: 'aborted' }, 6)).toBe(stopped);
    expect(bolt.match(/M/g)).toHaveLength(1);
    expect(stopped.match(/M/g)).toHaveLength(2);
    expect(new Set([...shapes, blocked, stopped]).size).toBe(MARK_KINDS.length + 2);
    for (const d of shapes) expect(d).toMatch(/^M[-\d.,MLHVAZ ]+$/);
    // Towards ring 0 the triangle points up: its apex (the first point) is above the centre.
    expect(shapePath({ kind: 'ring/change', from: 3, to: 0 }, 6)).toMatch(/^M0,-6L/);
    expect(shapePath({ kind: 'ring/change', from: 0, to: 3 }, 6)).toMatch(/^M0,6L/);
  });

  it('the arrow keys’ targets: the nearest mark before or after the step, or none', () => {
    const gs = shownGroups([group({ kind: 'cpu/halt', step: 39 }), group({ kind: 'cpu/halt', step: 4 }), group({ kind: 'cpu/halt', step: 16 }, 4, 30)], 100);
    expect(neighbourStep(gs, 17, 1)).toBe(40);
    expect(neighbourStep(gs, 17, -1)).toBe(5);
    expect(neighbourStep(gs, 0, 1)).toBe(5);
    expect(neighbourStep(gs, 5, -1)).toBeNull();
    expect(neighbourStep(gs, 40, 1)).toBeNull();
    expect(neighbourStep([], 3, 1)).toBeNull();
  });
});
