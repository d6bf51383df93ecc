import { describe, expect, it } from 'vitest';
import { compareWays } from '../../emu/hv/io-compare.ts';
import { IO_METRICS, ioBars } from './io-ways-model.ts';

describe('the three-ways bars', () => {
  it('one group per metric, the three ways in order, widths relative to the largest of each metric', () => {
    const c = compareWays('vtx', 8);
    const g = ioBars(c);
    expect(g.map((x) => x.metric)).toEqual([...IO_METRICS]);
    for (const x of g) {
      expect(x.bars.map((b) => b.way)).toEqual(['emulated', 'virtio', 'assigned']);
      expect(Math.max(...x.bars.map((b) => b.width))).toBe(1);
    }
    const exits = g[0]!.bars;
    expect(exits.map((b) => b.value)).toEqual([2, 0.25, 0]);
    expect(exits.map((b) => b.width)).toEqual([1, 0.125, 0]);
    expect(g[1]!.bars[2]!.value).toBe(0);
    expect(g[2]!.bars[0]!.value).toBeGreaterThan(g[2]!.bars[1]!.value);
  });

  it('all zero: every width 0, not NaN', () => {
    const c = compareWays('svm', 1, ['assigned'], 'amd-vi');
    const g = ioBars(c);
    expect(g[0]!.bars).toEqual([{ way: 'assigned', value: 0, width: 0 }]);
  });
});
