import { describe, expect, it } from 'vitest';
import { elapsed, formatElapsed, parseStopwatch, pause, reset, resume, started } from './clock.ts';

describe('the speaker clock', () => {
  it('counts from the start, stops while paused, and goes on from where it stopped', () => {
    let w = started(1000);
    expect(elapsed(w, 4000)).toBe(3000);
    w = pause(w, 4000);
    expect(elapsed(w, 60_000)).toBe(3000);
    expect(pause(w, 70_000)).toBe(w);
    w = resume(w, 60_000);
    expect(elapsed(w, 62_500)).toBe(5500);
    expect(resume(w, 99_000)).toBe(w);
  });

  it('resets to zero, running or paused as it was', () => {
    expect(elapsed(reset(started(0), 5000), 7000)).toBe(2000);
    const paused = reset(pause(started(0), 5000), 6000);
    expect(paused).toEqual({ banked: 0, runningSince: null });
    expect(elapsed(paused, 9000)).toBe(0);
  });

  it('never runs backwards when the wall clock does', () => {
    expect(elapsed(started(5000), 4000)).toBe(0);
  });

  it('formats minutes and seconds, with hours once past the hour', () => {
    expect(formatElapsed(0)).toBe('00:00');
    expect(formatElapsed(59_999)).toBe('00:59');
    expect(formatElapsed(61_000)).toBe('01:01');
    expect(formatElapsed(3_600_000 + 5 * 60_000 + 7000)).toBe('1:05:07');
    expect(formatElapsed(-5)).toBe('00:00');
  });

  it('reads a stored stopwatch back, rejecting anything malformed', () => {
    expect(parseStopwatch(JSON.stringify({ banked: 12, runningSince: null }))).toEqual({ banked: 12, runningSince: null });
    expect(parseStopwatch(JSON.stringify(started(7)))).toEqual(started(7));
    for (const bad of [null, '', '{', '[]', '{"banked":-1,"runningSince":null}', '{"banked":1,"runningSince":"x"}', '{"banked":1}', 'null'])
      expect(parseStopwatch(bad), String(bad)).toBeNull();
  });
});
