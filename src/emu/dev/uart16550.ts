/**
 * A 16550A UART (the PC16550D datasheet's register set), as COM1 at 0x3F8..0x3FF on IRQ 4.
 *
 * Registers by offset (DLAB is LCR bit 7):
 *   0  read RBR / write THR; with DLAB, DLL          4  MCR (DTR, RTS, OUT1, OUT2, LOOP)
 *   1  IER (bits 3..0); with DLAB, DLM               5  LSR (read only; writes are ignored)
 *   2  read IIR / write FCR                          6  MSR (read only; delta bits clear on read)
 *   3  LCR                                           7  SCR
 *
 * Transmission is instantaneous: a byte written to THR goes straight out (into `console`, the
 * text the console view shows; or, in loopback, to the receiver), so THR and the transmitter are
 * always empty again by the time the next instruction runs: LSR.THRE and LSR.TEMT read 1 after every
 * write. Why not pace it with a baud clock? The console wants the text, a guest that polls
 * LSR.THRE must finish, and the lab's time is counted in instructions, which have no fixed
 * relation to a baud rate; instantaneous output is deterministic and costs nothing, and a guest
 * cannot tell it from a very fast line. Consequently the 16-byte transmit FIFO never holds a byte
 * (FCR's "clear transmit FIFO" has nothing to clear), and the THRE interrupt is requested again
 * right after each THR write, as in QEMU's model.
 *
 * Reception: the host pushes bytes with `receive`. With FIFOs enabled (FCR bit 0) they queue in the
 * 16-byte receive FIFO; without, RBR holds one byte. A byte arriving when there is no room sets
 * LSR.OE (overrun): in FIFO mode it is lost, in 16450 mode it overwrites the unread byte. Parity, framing and break errors are not modelled (the line has no
 * noise), so LSR bits 2..4 and 7 stay 0.
 *
 * Interrupts, by the datasheet's priority (IIR bits 3..1): receiver line status (OE; cleared by
 * reading LSR) > received data available (FIFO at or above the trigger level, or RBR full;
 * cleared by reading below it) = character timeout (FIFO mode: bytes below the trigger level and
 * the line idle; cleared by reading RBR) > THR empty (cleared by reading IIR when it is the one
 * reported, or writing THR) > modem status (a delta bit in MSR; cleared by reading MSR). The
 * character timeout needs four character times of silence; a host push is taken to be followed
 * by silence, and instruction time is not character time, so the timeout is reported as soon as
 * the FIFO holds bytes below the trigger level.
 *
 * The UART's INT pin reaches IRQ 4 through the PC's OUT2 gate: the line is high only while an
 * interrupt is pending and MCR.OUT2 = 1 (in loopback the OUT pins are forced inactive, so the gate
 * is closed). Modem inputs: with no loopback, CTS, DSR and DCD are asserted (a terminal is attached)
 * and RI is not; in loopback they follow RTS, DTR, OUT2 and OUT1.
 */
import type { PortDevice } from './bus.ts';

export const FIFO_SIZE = 16;

export const LSR = { DR: 0x01, OE: 0x02, PE: 0x04, FE: 0x08, BI: 0x10, THRE: 0x20, TEMT: 0x40, FIFOERR: 0x80 } as const;
export const IER = { ERBFI: 0x01, ETBEI: 0x02, ELSI: 0x04, EDSSI: 0x08 } as const;
/** IIR identification values (bits 3..0); FIFO mode adds bits 7..6 = 11. */
export const IIR = { NONE: 0x01, LINE_STATUS: 0x06, RX_DATA: 0x04, RX_TIMEOUT: 0x0c, THRE: 0x02, MODEM: 0x00 } as const;
export const MCR = { DTR: 0x01, RTS: 0x02, OUT1: 0x04, OUT2: 0x08, LOOP: 0x10 } as const;
/** The receive FIFO's trigger levels for FCR bits 7..6. */
export const TRIGGER_LEVELS = [1, 4, 8, 14] as const;

/** The UART's state as plain data. */
export interface UartState {
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  /** The divisor latch (DLM:DLL). */
  divisor: number;
  /** FCR bits kept: 0 (FIFO enable), 3 (DMA mode select), 7..6 (receive trigger). */
  fcr: number;
  /** Received bytes not yet read (at most 16, or 1 when FIFOs are off). */
  rx: number[];
  /** The last byte read from RBR (what RBR reads again when nothing new has arrived). */
  rbr: number;
  /** LSR.OE, until LSR is read. */
  overrun: boolean;
  /** The THR-empty interrupt is requested (see the header). */
  thrIpending: boolean;
  /** MSR bits 3..0 (DCTS, DDSR, TERI, DDCD), until MSR is read. */
  msrDelta: number;
  /** MSR bits 7..4 as last computed (to find deltas). */
  msrStatus: number;
  /** Everything transmitted outside loopback, as text (one char per byte, code 0..255). */
  console: string;
  /** Bytes transmitted (including loopback). */
  txCount: number;
}

export function createUartState(): UartState {
  return {
    ier: 0, lcr: 0, mcr: 0, scr: 0, divisor: 0, fcr: 0, rx: [], rbr: 0, overrun: false, thrIpending: false,
    msrDelta: 0, msrStatus: 0xb0, console: '', txCount: 0,
  };
}

export class Uart16550 implements PortDevice {
  readonly name = 'uart';
  state: UartState = createUartState();
  /** Drives the IRQ line (wired by the platform to the PIC); called on every change of level. */
  onIrq: (high: boolean) => void = () => {};
  private irqLevel = false;

  private fifoOn(): boolean {
    return (this.state.fcr & 0x01) !== 0;
  }

  private trigger(): number {
    return TRIGGER_LEVELS[(this.state.fcr >> 6) & 3]!;
  }

  /** MSR bits 7..4 from the inputs (or, in loopback, the outputs). */
  private modemInputs(): number {
    const m = this.state.mcr;
    if (!(m & MCR.LOOP)) return 0xb0; // DCD, DSR, CTS asserted; RI not
    return ((m & MCR.RTS) ? 0x10 : 0) | ((m & MCR.DTR) ? 0x20 : 0) | ((m & MCR.OUT1) ? 0x40 : 0) | ((m & MCR.OUT2) ? 0x80 : 0);
  }

  private updateModem(): void {
    const s = this.state;
    const now = this.modemInputs();
    const ch = now ^ s.msrStatus;
    if (ch & 0x10) s.msrDelta |= 0x01; // DCTS
    if (ch & 0x20) s.msrDelta |= 0x02; // DDSR
    if (ch & 0x40 && !(now & 0x40)) s.msrDelta |= 0x04; // TERI: RI went inactive
    if (ch & 0x80) s.msrDelta |= 0x08; // DDCD
    s.msrStatus = now;
  }

  /** LSR as the guest would read it (without the read's side effects). */
  lsr(): number {
    const s = this.state;
    return (s.rx.length > 0 ? LSR.DR : 0) | (s.overrun ? LSR.OE : 0) | LSR.THRE | LSR.TEMT;
  }

  /** The interrupt identification (IIR bits 3..0) of the highest-priority pending source. */
  interruptId(): number {
    const s = this.state;
    const ier = s.ier;
    if (ier & IER.ELSI && s.overrun) return IIR.LINE_STATUS;
    if (ier & IER.ERBFI && s.rx.length > 0) {
      if (!this.fifoOn() || s.rx.length >= this.trigger()) return IIR.RX_DATA;
      return IIR.RX_TIMEOUT;
    }
    if (ier & IER.ETBEI && s.thrIpending) return IIR.THRE;
    if (ier & IER.EDSSI && s.msrDelta !== 0) return IIR.MODEM;
    return IIR.NONE;
  }

  /** IIR as the guest would read it (without the read's side effects). */
  iir(): number {
    return this.interruptId() | (this.fifoOn() ? 0xc0 : 0);
  }

  private update(): void {
    const high = this.interruptId() !== IIR.NONE && (this.state.mcr & (MCR.OUT2 | MCR.LOOP)) === MCR.OUT2;
    if (high !== this.irqLevel) {
      this.irqLevel = high;
      this.onIrq(high);
    }
  }

  /** The IRQ line's level now. */
  get irq(): boolean {
    return this.irqLevel;
  }

  /** A byte arriving on the receive line (from the host, or looped back). */
  private deliver(byte: number): void {
    const s = this.state;
    if (!this.fifoOn() && s.rx.length > 0) {
      // 16450 mode: the new character overwrites the unread one in RBR.
      s.overrun = true;
      s.rx[0] = byte & 0xff;
    } else if (s.rx.length >= FIFO_SIZE) {
      // FIFO mode: the FIFO keeps its contents; the character in the shift register is lost.
      s.overrun = true;
    } else s.rx.push(byte & 0xff);
  }

  /** The host sends bytes to the guest (ignored in loopback, where the line is disconnected). */
  receive(bytes: Iterable<number> | string): void {
    if (this.state.mcr & MCR.LOOP) return;
    for (const b of typeof bytes === 'string' ? Array.from(bytes, (c) => c.charCodeAt(0) & 0xff) : bytes) this.deliver(b);
    this.update();
  }

  read(offset: number): number {
    const s = this.state;
    const dlab = (s.lcr & 0x80) !== 0;
    let v: number;
    switch (offset & 7) {
      case 0:
        if (dlab) v = s.divisor & 0xff;
        else {
          if (s.rx.length > 0) s.rbr = s.rx.shift()!;
          v = s.rbr;
        }
        break;
      case 1:
        v = dlab ? s.divisor >> 8 : s.ier;
        break;
      case 2:
        v = this.iir();
        if ((v & 0x0f) === IIR.THRE) s.thrIpending = false;
        break;
      case 3:
        v = s.lcr;
        break;
      case 4:
        v = s.mcr;
        break;
      case 5:
        v = this.lsr();
        s.overrun = false;
        break;
      case 6:
        v = s.msrStatus | s.msrDelta;
        s.msrDelta = 0;
        break;
      default:
        v = s.scr;
    }
    this.update();
    return v;
  }

  write(offset: number, value: number): void {
    const s = this.state;
    value &= 0xff;
    const dlab = (s.lcr & 0x80) !== 0;
    switch (offset & 7) {
      case 0:
        if (dlab) s.divisor = (s.divisor & 0xff00) | value;
        else this.transmit(value);
        break;
      case 1:
        if (dlab) s.divisor = (s.divisor & 0xff) | (value << 8);
        else {
          const before = s.ier;
          s.ier = value & 0x0f;
          // Enabling the THRE interrupt while THR is empty requests it.
          if (s.ier & IER.ETBEI && !(before & IER.ETBEI)) s.thrIpending = true;
        }
        break;
      case 2:
        this.writeFcr(value);
        break;
      case 3:
        s.lcr = value;
        break;
      case 4:
        s.mcr = value & 0x1f;
        this.updateModem();
        break;
      case 5:
      case 6:
        break; // LSR and MSR are read-only here
      default:
        s.scr = value;
    }
    this.update();
  }

  private transmit(byte: number): void {
    const s = this.state;
    s.txCount++;
    if (s.mcr & MCR.LOOP) this.deliver(byte);
    else s.console += String.fromCharCode(byte);
    // THR written (its interrupt cleared), then emptied at once: THRE is requested again.
    s.thrIpending = true;
  }

  private writeFcr(v: number): void {
    const s = this.state;
    const wasOn = this.fifoOn();
    const on = (v & 0x01) !== 0;
    // Changing FIFO enable clears both FIFOs; bits 1 and 2 clear the receive / transmit FIFO.
    if (on !== wasOn || v & 0x02) s.rx = [];
    s.fcr = on ? v & 0xc9 : 0;
  }

  snapshot(): UartState {
    return { ...this.state, rx: this.state.rx.slice() };
  }

  restore(snap: UartState): void {
    this.state = { ...snap, rx: snap.rx.slice() };
    this.irqLevel = this.interruptId() !== IIR.NONE && (this.state.mcr & (MCR.OUT2 | MCR.LOOP)) === MCR.OUT2;
  }
}
