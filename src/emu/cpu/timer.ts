/**
 * A small programmable interval source that raises an external interrupt (the lab's stand-in for a
 * local-APIC timer in periodic mode). Deterministic: it counts steps of the processor, not time.
 * The step loop calls `timerTick` once per step (also while halted, so that HLT can wait for it);
 * when the count reaches zero the timer latches a request for `vector`, which `pendingInterrupt`
 * (system.ts) reports once RFLAGS.IF and the interrupt shadow allow, and which delivery clears.
 */

export interface TimerState {
  enabled: boolean;
  /** Interrupt vector raised (32..255). */
  vector: number;
  /** Steps between interrupts (>= 1). */
  period: number;
  /** Steps left until the next interrupt. */
  count: number;
  /** A latched request not yet delivered (an edge-triggered interrupt line: more firings merge into one). */
  pending: boolean;
  /** Interrupts raised so far (for views and tests). */
  fired: number;
}

export function createTimer(): TimerState {
  return { enabled: false, vector: 0x20, period: 1, count: 0, pending: false, fired: 0 };
}

/** Starts periodic interrupts on `vector` every `period` steps, counting from now. */
export function timerProgram(t: TimerState, vector: number, period: number): void {
  if (!Number.isInteger(vector) || vector < 32 || vector > 255) throw new RangeError(`timer vector ${vector} is not 32..255`);
  if (!Number.isInteger(period) || period < 1) throw new RangeError(`timer period ${period} is not a positive integer`);
  t.enabled = true;
  t.vector = vector;
  t.period = period;
  t.count = period;
}

export function timerStop(t: TimerState): void {
  t.enabled = false;
  t.pending = false;
}

/** Advances the timer by one step; returns true when it fired on this step. */
export function timerTick(t: TimerState): boolean {
  if (!t.enabled) return false;
  t.count--;
  if (t.count > 0) return false;
  t.count = t.period;
  t.pending = true;
  t.fired++;
  return true;
}
