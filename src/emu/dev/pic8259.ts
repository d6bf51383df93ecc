/**
 * The Intel 8259A programmable interrupt controller, as a PC/AT pair: the master at ports
 * 0x20/0x21 and the slave at 0xA0/0xA1 with its INT output on the master's IR2. Modelled from the
 * 8259A datasheet:
 *
 * - Initialisation: a write to the command port with bit 4 set is ICW1 (IC4, SNGL, LTIM); it clears
 *   IMR, ISR and IRR, resets the edge sense (a line already high must fall and rise again), makes
 *   IR7 the lowest priority, clears special mask mode and selects IRR for reads. ICW2 (the vector
 *   base, bits 7..3), ICW3 (unless SNGL) and ICW4 (if IC4) follow on the data port.
 * - ICW4: AEOI (automatic end of interrupt) is modelled; µPM = 0 (MCS-80/85 mode), buffered mode
 *   and SFNM are recorded but not modelled: the vector is always the 8086 form ICW2 + line, and
 *   nesting is always the fully nested mode.
 * - OCW1 (data port, after initialisation): the interrupt mask register.
 * - OCW2: non-specific and specific EOI, rotate on (non-)specific EOI, set priority, rotate in AEOI.
 * - OCW3: read IRR or ISR from the command port, poll, special mask mode.
 * - Requests: edge triggered by default (IRR latches on a rising edge of the line, which then may
 *   stay high without raising another request); level triggered when ICW1.LTIM (IRR follows the
 *   line). An edge-triggered IRR bit is cleared by the acknowledge.
 * - Priority: the highest-priority unmasked request is delivered when it outranks every in-service
 *   level (fully nested); in special mask mode masked in-service levels do not block.
 * - Before its first initialisation sequence completes (and between ICW1 and the last ICW) a chip
 *   raises no request: the datasheet leaves its state undefined, and without ICW2 it has no vector.
 * - Acknowledge with no request left (possible only when a caller acknowledges without asking
 *   `pending` first, the 8259A's "IR went away before INTA") gives the spurious IRQ 7 vector of the
 *   chip that had nothing to say, with no ISR bit set on that chip.
 *
 * The pair is the CPU's InterruptSource: `pending` is the master's INT output and `acknowledge` is
 * the INTA cycle, which returns the vector.
 */
import type { InterruptSource } from '../cpu/cpu.ts';
import type { PortDevice } from './bus.ts';

/** One 8259A's state as plain data. */
export interface PicChipState {
  /** Interrupt request register. */
  irr: number;
  /** In-service register. */
  isr: number;
  /** Interrupt mask register (OCW1). */
  imr: number;
  /** The levels of the IR0..IR7 input lines now (bit per line). */
  lines: number;
  /** The line levels the edge detector last saw (ICW1 resets it to the current lines). */
  edgeSeen: number;
  /** Vector base from ICW2 (bits 7..3). */
  base: number;
  /** ICW3: on the master, a bit per line with a slave; on a slave, its identity (0..7). */
  icw3: number;
  /** ICW4 as written (0 when IC4 = 0). */
  icw4: number;
  /** ICW1 bits kept: single (SNGL), level triggered (LTIM), ICW4 needed (IC4). */
  single: boolean;
  level: boolean;
  needIcw4: boolean;
  /** Which initialisation word comes next on the data port: 0 when initialised. */
  initStep: 0 | 2 | 3 | 4;
  /** Whether the chip has completed an initialisation sequence since reset. */
  initialised: boolean;
  /** The lowest-priority level (rotation); 7 after ICW1. */
  lowest: number;
  /** OCW3: read ISR (true) or IRR (false) from the command port. */
  readIsr: boolean;
  /** OCW3 poll command given: the next command-port read is the poll word. */
  poll: boolean;
  /** Special mask mode (OCW3 ESMM/SMM). */
  specialMask: boolean;
  /** Rotate in automatic EOI mode (OCW2). */
  rotateAeoi: boolean;
}

export interface PicState {
  master: PicChipState;
  slave: PicChipState;
  /** Interrupts acknowledged, by IRQ 0..15, and spurious ones (for views and tests). */
  delivered: number[];
  spurious: number;
}

function chipReset(): PicChipState {
  return {
    irr: 0, isr: 0, imr: 0, lines: 0, edgeSeen: 0, base: 0, icw3: 0, icw4: 0, single: false, level: false, needIcw4: false,
    initStep: 0, initialised: false, lowest: 7, readIsr: false, poll: false, specialMask: false, rotateAeoi: false,
  };
}

export function createPicState(): PicState {
  return { master: chipReset(), slave: chipReset(), delivered: new Array<number>(16).fill(0), spurious: 0 };
}

function copyChip(c: PicChipState): PicChipState {
  return { ...c };
}

/** The master's line the slave's INT drives on a PC/AT. */
export const CASCADE_LINE = 2;

/** Levels in priority order, highest first, with `lowest` the lowest. */
function* byPriority(lowest: number): Generator<number> {
  for (let i = 1; i <= 8; i++) yield (lowest + i) & 7;
}

/** The highest-priority level set in `bits`, or -1. */
function highestIn(bits: number, lowest: number): number {
  if (bits === 0) return -1;
  for (const l of byPriority(lowest)) if (bits & (1 << l)) return l;
  return -1;
}

/** Rank of a level: 0 is the highest priority. */
function rank(l: number, lowest: number): number {
  return (l - lowest - 1) & 7;
}

/** The line that this chip would interrupt with now, or -1 (the chip's INT output). */
function chipRequest(c: PicChipState): number {
  // Until an initialisation sequence completes the chip has no vector base: it asks for nothing.
  if (!c.initialised) return -1;
  const req = c.irr & ~c.imr;
  const r = highestIn(req, c.lowest);
  if (r < 0) return -1;
  const inService = c.specialMask ? c.isr & ~c.imr : c.isr;
  const s = highestIn(inService, c.lowest);
  if (s >= 0 && rank(s, c.lowest) <= rank(r, c.lowest)) return -1;
  return r;
}

/** The chip's INTA: the line taken into service (IRR → ISR), or -1 for a spurious request. */
function chipAck(c: PicChipState): number {
  const r = chipRequest(c);
  if (r < 0) return -1;
  const m = 1 << r;
  if (!c.level) c.irr &= ~m;
  if (c.icw4 & 0x02) {
    if (c.rotateAeoi) c.lowest = r;
  } else c.isr |= m;
  return r;
}

function setLine(c: PicChipState, line: number, high: boolean): void {
  const m = 1 << line;
  if (high) c.lines |= m;
  else c.lines &= ~m;
  if (c.level) {
    c.irr = high ? c.irr | m : c.irr & ~m;
  } else if (high && !(c.edgeSeen & m)) {
    c.irr |= m;
  }
  if (high) c.edgeSeen |= m;
  else c.edgeSeen &= ~m;
}

/**
 * The master/slave pair. Devices raise and lower IRQ lines 0..15 with `setIrq`; the CPU asks
 * `pending` and takes a vector with `acknowledge`.
 */
export class Pic8259Pair implements InterruptSource {
  state: PicState = createPicState();

  /** The two chips' register files, to claim on a PortBus at 0x20 and 0xA0 (two ports each). */
  readonly masterPorts: PortDevice;
  readonly slavePorts: PortDevice;

  constructor() {
    this.masterPorts = { name: 'pic-master', read: (o) => this.read(false, o), write: (o, v) => this.write(false, o, v) };
    this.slavePorts = { name: 'pic-slave', read: (o) => this.read(true, o), write: (o, v) => this.write(true, o, v) };
  }

  private chip(slave: boolean): PicChipState {
    return slave ? this.state.slave : this.state.master;
  }

  /** Drives IRQ line `irq` (0..7 master, 8..15 slave) to `high`. */
  setIrq(irq: number, high: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new RangeError(`IRQ ${irq} is not 0..15`);
    if (irq === CASCADE_LINE) throw new RangeError('IRQ 2 is the cascade from the slave');
    if (irq < 8) setLine(this.state.master, irq, high);
    else {
      setLine(this.state.slave, irq - 8, high);
      this.cascade();
    }
  }

  /** The slave's INT output onto the master's IR2. */
  private cascade(): void {
    setLine(this.state.master, CASCADE_LINE, chipRequest(this.state.slave) >= 0);
  }

  private isCascade(line: number): boolean {
    const m = this.state.master;
    return !m.single && (m.icw3 & (1 << line)) !== 0;
  }

  /** The master's INT output. */
  pending(): boolean {
    return chipRequest(this.state.master) >= 0;
  }

  /** The INTA cycle: the vector of the highest-priority request, taken into service. */
  acknowledge(): number {
    const st = this.state;
    const m = st.master;
    const line = chipAck(m);
    let vector: number;
    if (line < 0) {
      st.spurious++;
      vector = m.base | 7;
    } else if (this.isCascade(line)) {
      const s = st.slave;
      const sl = chipAck(s);
      if (sl < 0) {
        st.spurious++;
        vector = s.base | 7;
      } else {
        st.delivered[8 + sl]!++;
        vector = s.base | sl;
      }
      this.cascade();
    } else {
      st.delivered[line]!++;
      vector = m.base | line;
    }
    return vector;
  }

  private read(slave: boolean, offset: number): number {
    const c = this.chip(slave);
    if (offset & 1) return c.imr;
    if (c.poll) {
      c.poll = false;
      return this.pollWord(slave);
    }
    return c.readIsr ? c.isr : c.irr;
  }

  /** OCW3's poll: bit 7 = a request, bits 2..0 its level; the read acknowledges it (no vector). */
  private pollWord(slave: boolean): number {
    const c = this.chip(slave);
    const line = chipAck(c);
    if (slave) this.cascade();
    if (line < 0) return 0;
    this.state.delivered[(slave ? 8 : 0) + line]!++;
    return 0x80 | line;
  }

  private write(slave: boolean, offset: number, value: number): void {
    const c = this.chip(slave);
    value &= 0xff;
    if ((offset & 1) === 0) {
      if (value & 0x10) this.icw1(c, value);
      else if (value & 0x08) this.ocw3(c, value);
      else this.ocw2(c, value);
    } else {
      switch (c.initStep) {
        case 2:
          c.base = value & 0xf8;
          c.initStep = c.single ? (c.needIcw4 ? 4 : 0) : 3;
          break;
        case 3:
          c.icw3 = value;
          c.initStep = c.needIcw4 ? 4 : 0;
          break;
        case 4:
          c.icw4 = value & 0x1f;
          c.initStep = 0;
          break;
        default:
          c.imr = value;
      }
      if (c.initStep === 0) c.initialised = true;
    }
    if (slave) this.cascade();
  }

  private icw1(c: PicChipState, v: number): void {
    c.irr = 0;
    c.isr = 0;
    c.imr = 0;
    c.edgeSeen = c.lines;
    c.lowest = 7;
    c.specialMask = false;
    c.readIsr = false;
    c.poll = false;
    c.rotateAeoi = false;
    c.single = (v & 0x02) !== 0;
    c.level = (v & 0x08) !== 0;
    if (c.level) c.irr = c.lines;
    // With IC4 = 0 no ICW4 follows and its functions are all 0.
    c.needIcw4 = (v & 0x01) !== 0;
    c.icw4 = 0;
    c.icw3 = 0;
    c.initStep = 2;
    c.initialised = false;
  }

  private ocw2(c: PicChipState, v: number): void {
    const l = v & 7;
    switch (v >> 5) {
      case 0b001: // non-specific EOI
      case 0b101: { // rotate on non-specific EOI
        // The highest level in service (in special mask mode the datasheet asks for specific EOIs).
        const s = highestIn(c.isr, c.lowest);
        if (s >= 0) {
          c.isr &= ~(1 << s);
          if (v >> 5 === 0b101) c.lowest = s;
        }
        break;
      }
      case 0b011: // specific EOI
        c.isr &= ~(1 << l);
        break;
      case 0b111: // rotate on specific EOI
        c.isr &= ~(1 << l);
        c.lowest = l;
        break;
      case 0b110: // set priority
        c.lowest = l;
        break;
      case 0b100:
        c.rotateAeoi = true;
        break;
      case 0b000:
        c.rotateAeoi = false;
        break;
      default: // 0b010: no operation
    }
  }

  private ocw3(c: PicChipState, v: number): void {
    if (v & 0x02) c.readIsr = (v & 0x01) !== 0;
    c.poll = (v & 0x04) !== 0;
    if (v & 0x40) c.specialMask = (v & 0x20) !== 0;
  }

  /** A copy of the state as plain data (checkpoints, views). */
  snapshot(): PicState {
    const s = this.state;
    return { master: copyChip(s.master), slave: copyChip(s.slave), delivered: s.delivered.slice(), spurious: s.spurious };
  }

  restore(s: PicState): void {
    this.state = { master: copyChip(s.master), slave: copyChip(s.slave), delivered: s.delivered.slice(), spurious: s.spurious };
  }
}
