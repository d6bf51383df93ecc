/**
 * The speaker's clock (plain TS; the time is passed in): the time of day, and the time elapsed
 * since the talk started, which the presenter may pause and reset.
 */

/** A stopwatch as plain data: what ran before the last start, and when it was started (null: paused). */
export interface Stopwatch {
  /** Milliseconds counted before `runningSince`. */
  banked: number;
  /** When it was last started (ms, the caller's clock), or null while paused. */
  runningSince: number | null;
}

/** A stopwatch at zero, running from `now` (the talk starts when the speaker window opens). */
export const started = (now: number): Stopwatch => ({ banked: 0, runningSince: now });

export function elapsed(w: Stopwatch, now: number): number {
  return w.banked + (w.runningSince === null ? 0 : Math.max(0, now - w.runningSince));
}

export function pause(w: Stopwatch, now: number): Stopwatch {
  return w.runningSince === null ? w : { banked: elapsed(w, now), runningSince: null };
}

export function resume(w: Stopwatch, now: number): Stopwatch {
  return w.runningSince === null ? { banked: w.banked, runningSince: now } : w;
}

/** Back to zero, keeping whether it runs. */
export function reset(w: Stopwatch, now: number): Stopwatch {
  return { banked: 0, runningSince: w.runningSince === null ? null : now };
}

/** `H:MM:SS`, or `MM:SS` under an hour (whole seconds, rounded down). */
export function formatElapsed(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A stopwatch read back from storage (a reload of the speaker window keeps its clock), or null if malformed. */
export function parseStopwatch(text: string | null): Stopwatch | null {
  if (text === null) return null;
  try {
    const x: unknown = JSON.parse(text);
    if (typeof x !== 'object' || x === null) return null;
    const { banked, runningSince } = x as Record<string, unknown>;
    if (typeof banked !== 'number' || !Number.isFinite(banked) || banked < 0) return null;
    if (runningSince !== null && (typeof runningSince !== 'number' || !Number.isFinite(runningSince))) return null;
    return { banked, runningSince };
  } catch {
    return null;
  }
}
