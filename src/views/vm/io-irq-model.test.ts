import { describe, expect, it } from 'vitest';
import { compareInterrupts } from '../../emu/hv/io-compare.ts';
import { IRQ_METRICS, irqBars } from './io-irq-model.ts';

describe('the interrupt comparison bars', () => {
  it('VT-x: the three deliveries in order; the posted interrupt adds no exit over polling, the others 2.625 and 2', () => {
    const g = irqBars(compareInterrupts('vtx', 8));
    expect(g.map((x) => x.metric)).toEqual([...IRQ_METRICS]);
    for (const x of g) {
      expect(x.bars.map((b) => b.way)).toEqual(['emulated', 'assigned', 'posted']);
      expect(Math.max(...x.bars.map((b) => b.width))).toBe(1);
    }
    expect(g[1]!.bars.map((b) => b.value)).toEqual([2.625, 2, 0]);
    expect(g[1]!.bars[2]!.width).toBe(0);
  });

  it('AMD-V: no posted way (the lab has no AVIC)', () => {
    const g = irqBars(compareInterrupts('svm', 4));
    expect(g[0]!.bars.map((b) => b.way)).toEqual(['emulated', 'assigned']);
  });
});
