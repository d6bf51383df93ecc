/**
 * The Intel 8254 programmable interval timer at ports 0x40..0x43: three counters and the control
 * word register, counter 0's OUT on IRQ 0. Modelled from the 8254 datasheet:
 *
 * - Control word (port 0x43): SC (counter, or 11 = read-back), RW (00 = counter latch, 01 = LSB,
 *   10 = MSB, 11 = LSB then MSB), mode (x10 = 2, x11 = 3), BCD. Writing it stops the counter until
 *   a count is written, resets both byte flip-flops and sets NULL COUNT; OUT goes low in mode 0 and
 *   high in the other modes. Port 0x43 reads as all ones (the register cannot be read).
 * - Counting: a written count is loaded into the counting element on the next CLK pulse, which does
 *   not decrement it; 0 stands for 65536 (10000 in BCD). Mode 0 (interrupt on terminal count): OUT
 *   low, high when the count reaches 0 (N + 1 pulses after the write), the count keeps wrapping;
 *   writing the first byte of a two-byte count stops counting and a new count restarts it. Mode 2
 *   (rate generator): OUT low for one pulse when the count reaches 1, then reload: a rising edge
 *   every N pulses (a count of 1 is illegal: OUT stays low). Mode 3 (square wave): OUT high for
 *   ceil(N/2) pulses and low for floor(N/2), counting by two (for an odd N the count starts at N − 1
 *   and the high half has the extra pulse); a rising edge every N pulses. In modes 2 and 3 a count
 *   written while counting takes effect at the end of the current period (mode 2) or half-cycle
 *   (mode 3). Mode 4 (software-triggered strobe): OUT high, low for the one pulse after the count
 *   reaches 0, loaded again by each new count.
 * - Modes 1 and 5 are hardware triggered: they load the count on a rising edge of GATE. On a PC
 *   counters 0 and 1 have GATE tied high and counter 2's gate is port 0x61, which is not modelled,
 *   so here the trigger never comes: the count is kept, NULL COUNT stays set and OUT stays high.
 * - Reading: a counter latch command (RW = 00) or the read-back command latches the count, read
 *   then per RW (LSB, MSB, or LSB then MSB) until read, later latches being ignored; read-back can
 *   also latch the status byte (OUT, NULL COUNT, RW, mode, BCD), read first. Unlatched reads see
 *   the counting element as it is. Reads and writes have separate byte flip-flops.
 * - Reset state (the datasheet leaves it undefined): no control word, not counting, OUT high.
 *
 * The clock is deterministic: the machine sets how many CPU steps make one CLK pulse (on a real PC
 * the input is 1.193182 MHz; see PIT_HZ) and drives the PIT with `advance(steps)`. The PIT says how
 * many steps remain until counter 0's next rising edge (`stepsToNextEdge`), so a driver can stop the
 * CPU exactly there and raise IRQ 0 on time.
 */
import type { PortDevice } from './bus.ts';

/** The PC's PIT input clock in Hz (the NTSC colour-burst 14.31818 MHz divided by 12). */
export const PIT_HZ = 1_193_182;

export interface PitChannelState {
  /** Mode 0..5 (the control word's 6 and 7 are 2 and 3). */
  mode: number;
  /** Access: 1 LSB, 2 MSB, 3 LSB then MSB. */
  rw: 1 | 2 | 3;
  bcd: boolean;
  /** A control word has been written since reset. */
  programmed: boolean;
  /** The count as last written (raw register value). */
  reload: number;
  /** The count being counted, in pulses (1..65536). */
  n: number;
  /** The pulse at which `n` was (or will be) loaded into the counting element; -1: not counting. */
  loadAt: number;
  /** Mode 3: whether the schedule starting at loadAt starts with the high half. */
  startHigh: boolean;
  /** A count written while counting in mode 2 or 3, waiting for the end of the period / half-cycle. */
  pendingN: number;
  /** The pulse at which pendingN is loaded (-1: none). */
  pendingAt: number;
  /** The counting element's value while not counting. */
  hold: number;
  /** OUT while not counting (or before the load pulse). */
  outIdle: boolean;
  nullCount: boolean;
  /** Write flip-flop: the next write is the MSB of a two-byte count; `lsb` holds the first byte. */
  writeMsb: boolean;
  lsb: number;
  /** Read flip-flop: the next unlatched read is the MSB. */
  readMsb: boolean;
  /** Latched count bytes still to be read, first first. */
  latched: number[];
  /** Latched status byte, or -1. */
  status: number;
  /** Rising edges of OUT so far. */
  edges: number;
}

export interface PitState {
  channels: [PitChannelState, PitChannelState, PitChannelState];
  /** CLK pulses since reset. */
  now: number;
  /** Steps into the current pulse (0..stepsPerTick − 1). */
  sub: number;
  /** CPU steps per CLK pulse (set by the machine). */
  stepsPerTick: number;
}

function channelReset(): PitChannelState {
  return {
    mode: 0, rw: 3, bcd: false, programmed: false, reload: 0, n: 65536, loadAt: -1, startHigh: true, pendingN: 0,
    pendingAt: -1, hold: 0, outIdle: true, nullCount: false, writeMsb: false, lsb: 0, readMsb: false, latched: [], status: -1, edges: 0,
  };
}

export function createPitState(stepsPerTick = 1): PitState {
  if (!Number.isInteger(stepsPerTick) || stepsPerTick < 1) throw new RangeError(`steps per PIT tick ${stepsPerTick} is not a positive integer`);
  return { channels: [channelReset(), channelReset(), channelReset()], now: 0, sub: 0, stepsPerTick };
}

function fromBcd(raw: number): number {
  return ((raw >> 12) & 15) * 1000 + ((raw >> 8) & 15) * 100 + ((raw >> 4) & 15) * 10 + (raw & 15);
}

function toBcd(v: number): number {
  return ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}

const halfHigh = (n: number): number => Math.ceil(n / 2);

/** Mode 3: offset into the period of pulse k after the load. */
function phase3(c: PitChannelState, k: number): number {
  const o = c.startHigh ? 0 : halfHigh(c.n);
  return (k + o) % c.n;
}

function counting(c: PitChannelState, p: number): boolean {
  return c.loadAt >= 0 && p >= c.loadAt;
}

/** OUT at pulse p (pending counts already settled up to p). */
function outAt(c: PitChannelState, p: number): boolean {
  if (!counting(c, p)) return c.outIdle;
  const k = p - c.loadAt;
  switch (c.mode) {
    case 0: return k >= c.n;
    case 4: return k !== c.n;
    case 2: return c.n === 1 ? false : k % c.n !== c.n - 1;
    case 3: return c.n === 1 ? true : phase3(c, k) < halfHigh(c.n);
    default: return true;
  }
}

/** The counting element at pulse p, as a binary number (BCD counters count 0..9999). */
function ceAt(c: PitChannelState, p: number): number {
  if (!counting(c, p)) return c.hold;
  const k = p - c.loadAt;
  const n = c.n;
  const mod = c.bcd ? 10000 : 65536;
  switch (c.mode) {
    case 0:
    case 4:
      return (((n - k) % mod) + mod) % mod;
    case 2:
      return (n - (k % n)) % mod;
    case 3: {
      const q = phase3(c, k);
      const hi = halfHigh(n);
      const even = n % 2 === 0;
      const j = q < hi ? q : q - hi;
      return (even ? n - 2 * j : Math.max(n - 1 - 2 * j, 0)) % mod;
    }
    default:
      return c.hold;
  }
}

/** Pulse offsets (k ≥ 1 after the load) of the rising edges in modes 2 and 3: k1, k1 + n, ... */
function firstPeriodicEdge(c: PitChannelState): number {
  if (c.mode === 2) return c.n;
  const o = c.startHigh ? 0 : halfHigh(c.n);
  const k1 = (c.n - o) % c.n;
  return k1 === 0 ? c.n : k1;
}

/** Rising edges at pulses p with a < p ≤ b, on the current schedule (no pending count in between). */
function edgesIn(c: PitChannelState, a: number, b: number): number {
  if (c.loadAt < 0 || b <= a) return 0;
  const x = b - c.loadAt;
  const y = a - c.loadAt;
  switch (c.mode) {
    case 0:
    case 4: {
      const e = c.mode === 0 ? c.n : c.n + 1;
      return y < e && e <= x ? 1 : 0;
    }
    case 2:
    case 3: {
      if (c.n === 1) return 0;
      const k1 = firstPeriodicEdge(c);
      const f = (z: number): number => (z < k1 ? 0 : Math.floor((z - k1) / c.n) + 1);
      return f(x) - f(y);
    }
    default:
      return 0;
  }
}

/** The first rising edge at a pulse > p on the current schedule, or Infinity. */
function nextEdgeAfter(c: PitChannelState, p: number): number {
  if (c.loadAt < 0) return Infinity;
  const y = p - c.loadAt;
  switch (c.mode) {
    case 0:
    case 4: {
      const e = c.mode === 0 ? c.n : c.n + 1;
      return y < e ? c.loadAt + e : Infinity;
    }
    case 2:
    case 3: {
      if (c.n === 1) return Infinity;
      const k1 = firstPeriodicEdge(c);
      if (y < k1) return c.loadAt + k1;
      return c.loadAt + k1 + (Math.floor((y - k1) / c.n) + 1) * c.n;
    }
    default:
      return Infinity;
  }
}

/** Loads a pending mode 2/3 count if its pulse has come (p ≥ pendingAt); clears NULL COUNT once loaded. */
function settle(c: PitChannelState, p: number): void {
  if (c.pendingAt >= 0 && p >= c.pendingAt) {
    const at = c.pendingAt;
    const high = outAt(c, at);
    c.loadAt = at;
    c.n = c.pendingN;
    c.startHigh = c.mode === 3 ? high : true;
    c.pendingAt = -1;
  }
  if (c.pendingAt < 0 && counting(c, p)) c.nullCount = false;
}

/** Mode 2/3: the pulse ending the current period (mode 2) or half-cycle (mode 3), after pulse p. */
function boundaryAfter(c: PitChannelState, p: number): number {
  const k = p - c.loadAt;
  if (c.mode === 2) return c.loadAt + (Math.floor(k / c.n) + 1) * c.n;
  const hi = halfHigh(c.n);
  const q = phase3(c, k);
  return c.loadAt + k + (q < hi ? hi - q : c.n - q);
}

export class Pit8254 implements PortDevice {
  readonly name = 'pit';
  state: PitState;
  /** Drives IRQ 0 from counter 0's OUT (wired by the platform); called on every change of level. */
  onOut0: (high: boolean) => void = () => {};
  private out0 = true;

  constructor(stepsPerTick = 1) {
    this.state = createPitState(stepsPerTick);
  }

  /** Counter `i`'s OUT now. */
  out(i: 0 | 1 | 2): boolean {
    const c = this.state.channels[i];
    settle(c, this.state.now);
    return outAt(c, this.state.now);
  }

  /** Counter `i`'s counting element now (binary, not BCD-encoded). */
  count(i: 0 | 1 | 2): number {
    const c = this.state.channels[i];
    settle(c, this.state.now);
    return ceAt(c, this.state.now);
  }

  private reportOut0(): void {
    const level = this.out(0);
    if (level !== this.out0) {
      this.out0 = level;
      this.onOut0(level);
    }
  }

  /** Advances the clock by `steps` CPU steps, raising IRQ 0 on each rising edge of counter 0's OUT. */
  advance(steps: number): void {
    if (steps <= 0) return;
    const st = this.state;
    const total = st.sub + steps;
    const pulses = Math.floor(total / st.stepsPerTick);
    st.sub = total % st.stepsPerTick;
    if (pulses === 0) return;
    const a = st.now;
    const b = a + pulses;
    let edge0 = 0;
    for (let i = 0; i < 3; i++) {
      const c = st.channels[i]!;
      let from = a;
      let e = 0;
      if (c.pendingAt >= 0 && c.pendingAt <= b) {
        e += edgesIn(c, from, c.pendingAt);
        settle(c, c.pendingAt);
        // The reload pulse itself was counted on the old schedule; the new one's edges are k ≥ 1.
        from = c.loadAt;
      }
      e += edgesIn(c, from, b);
      settle(c, b);
      c.edges += e;
      if (i === 0) edge0 = e;
    }
    st.now = b;
    if (edge0 > 0) {
      // An edge-triggered controller sees one request however many edges passed (the driver
      // normally stops at each edge, see stepsToNextEdge).
      if (this.out0) this.onOut0(false);
      this.onOut0(true);
      this.out0 = true;
    }
    this.reportOut0();
  }

  /** Steps until counter `i`'s OUT next rises (Infinity if it will not without a new write). */
  stepsToNextEdge(i: 0 | 1 | 2 = 0): number {
    const st = this.state;
    const c = st.channels[i];
    settle(c, st.now);
    let p = nextEdgeAfter(c, st.now);
    if (c.pendingAt >= 0 && p > c.pendingAt) {
      const d: PitChannelState = { ...c, latched: [] };
      settle(d, d.pendingAt);
      p = nextEdgeAfter(d, d.loadAt);
    }
    if (p === Infinity) return Infinity;
    return (p - st.now) * st.stepsPerTick - st.sub;
  }

  read(offset: number): number {
    if ((offset & 3) === 3) return 0xff;
    const st = this.state;
    const c = st.channels[offset & 3]!;
    settle(c, st.now);
    if (c.status >= 0) {
      const v = c.status;
      c.status = -1;
      return v;
    }
    if (c.latched.length > 0) return c.latched.shift()!;
    let ce = ceAt(c, st.now);
    if (c.bcd) ce = toBcd(ce);
    const msb = c.rw === 2 || (c.rw === 3 && c.readMsb);
    if (c.rw === 3) c.readMsb = !c.readMsb;
    return msb ? (ce >> 8) & 0xff : ce & 0xff;
  }

  write(offset: number, value: number): void {
    const st = this.state;
    value &= 0xff;
    if ((offset & 3) === 3) this.control(value);
    else this.writeCount(st.channels[offset & 3]!, value);
    this.reportOut0();
  }

  private latchCount(c: PitChannelState): void {
    if (c.latched.length > 0) return;
    let ce = ceAt(c, this.state.now);
    if (c.bcd) ce = toBcd(ce);
    if (c.rw === 1) c.latched = [ce & 0xff];
    else if (c.rw === 2) c.latched = [(ce >> 8) & 0xff];
    else c.latched = [ce & 0xff, (ce >> 8) & 0xff];
  }

  private statusByte(c: PitChannelState): number {
    return (outAt(c, this.state.now) ? 0x80 : 0) | (c.nullCount ? 0x40 : 0) | (c.rw << 4) | (c.mode << 1) | (c.bcd ? 1 : 0);
  }

  private control(v: number): void {
    const st = this.state;
    const sc = v >> 6;
    for (const c of st.channels) settle(c, st.now);
    if (sc === 3) {
      // Read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3..1 select counters 2..0.
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = st.channels[i]!;
        if (!(v & 0x20)) this.latchCount(c);
        if (!(v & 0x10) && c.status < 0) c.status = this.statusByte(c);
      }
      return;
    }
    const c = st.channels[sc]!;
    const rw = (v >> 4) & 3;
    if (rw === 0) {
      this.latchCount(c);
      return;
    }
    const mode = (v >> 1) & 7;
    c.hold = ceAt(c, st.now);
    c.mode = mode >= 6 ? mode - 4 : mode;
    c.rw = rw as 1 | 2 | 3;
    c.bcd = (v & 1) !== 0;
    c.programmed = true;
    c.loadAt = -1;
    c.pendingAt = -1;
    c.outIdle = c.mode !== 0;
    c.nullCount = true;
    c.writeMsb = false;
    c.readMsb = false;
    c.latched = [];
    c.status = -1;
  }

  private writeCount(c: PitChannelState, v: number): void {
    const st = this.state;
    settle(c, st.now);
    if (!c.programmed) return; // no control word yet: the counter's access mode is undefined
    let raw: number;
    if (c.rw === 1) raw = v;
    else if (c.rw === 2) raw = v << 8;
    else if (!c.writeMsb) {
      c.lsb = v;
      c.writeMsb = true;
      if (c.mode === 0) {
        // Mode 0: the first byte stops counting and OUT goes low at once.
        c.hold = ceAt(c, st.now);
        c.loadAt = -1;
        c.outIdle = false;
      }
      return;
    } else {
      raw = c.lsb | (v << 8);
      c.writeMsb = false;
    }
    this.commit(c, raw);
  }

  private commit(c: PitChannelState, raw: number): void {
    const now = this.state.now;
    const n = raw === 0 ? (c.bcd ? 10000 : 65536) : c.bcd ? fromBcd(raw) : raw;
    c.reload = raw;
    c.nullCount = true;
    switch (c.mode) {
      case 0:
      case 4:
        if (counting(c, now)) c.hold = ceAt(c, now);
        c.n = n;
        c.loadAt = now + 1;
        c.outIdle = c.mode !== 0;
        break;
      case 2:
      case 3:
        if (counting(c, now)) {
          c.pendingN = n;
          c.pendingAt = boundaryAfter(c, now);
        } else {
          c.n = n;
          c.loadAt = now + 1;
          c.startHigh = true;
          c.outIdle = true;
        }
        break;
      default:
        // Modes 1 and 5 wait for a GATE trigger that never comes (see the header).
        c.n = n;
    }
  }

  snapshot(): PitState {
    const s = this.state;
    return {
      channels: s.channels.map((c) => ({ ...c, latched: c.latched.slice() })) as PitState['channels'],
      now: s.now, sub: s.sub, stepsPerTick: s.stepsPerTick,
    };
  }

  restore(snap: PitState): void {
    this.state = {
      channels: snap.channels.map((c) => ({ ...c, latched: c.latched.slice() })) as PitState['channels'],
      now: snap.now, sub: snap.sub, stepsPerTick: snap.stepsPerTick,
    };
    const c = this.state.channels[0];
    this.out0 = outAt(c, this.state.now);
  }
}
