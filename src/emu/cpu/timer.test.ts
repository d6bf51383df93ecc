import { describe, expect, it } from 'vitest';
import { createTimer, timerProgram, timerStop, timerTick } from './timer.ts';

describe('interval timer (deterministic: counted in steps)', () => {
  it('fires every `period` steps once programmed, latching one request until delivery clears it', () => {
    const t = createTimer();
    expect(timerTick(t)).toBe(false); // disabled
    timerProgram(t, 0x20, 4);
    const fired = Array.from({ length: 12 }, () => timerTick(t));
    expect(fired.map((f, i) => (f ? i + 1 : 0)).filter((x) => x > 0)).toEqual([4, 8, 12]);
    expect([t.pending, t.fired]).toEqual([true, 3]);
    timerStop(t);
    expect(t.pending).toBe(false);
    expect(timerTick(t)).toBe(false);
  });

  it('rejects exception vectors (0..31) and non-positive periods', () => {
    const t = createTimer();
    expect(() => timerProgram(t, 13, 10)).toThrow(RangeError);
    expect(() => timerProgram(t, 0x20, 0)).toThrow(RangeError);
  });
});
