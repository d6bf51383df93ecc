/** Register-level tests of the 16550A from the PC16550D datasheet, through the port bus. */
import { describe, expect, it } from 'vitest';
import { PortBus } from './bus.ts';
import { IIR, Uart16550 } from './uart16550.ts';

const BASE = 0x3f8;
const RBR = BASE, THR = BASE, IER = BASE + 1, IIR_P = BASE + 2, FCR = BASE + 2, LCR = BASE + 3, MCR = BASE + 4, LSR = BASE + 5, MSR = BASE + 6, SCR = BASE + 7;

function uart() {
  const u = new Uart16550();
  const bus = new PortBus();
  bus.claim(BASE, 8, u);
  const irq: boolean[] = [];
  u.onIrq = (h) => irq.push(h);
  const out = (p: number, v: number) => bus.portOut(p, 1, v);
  const inb = (p: number) => bus.portIn(p, 1);
  return { u, bus, irq, out, inb };
}

describe('16550A registers', () => {
  it('resets as the datasheet says: IER 0, IIR 01, LCR 0, MCR 0, LSR 60', () => {
    const { inb } = uart();
    expect(inb(IER)).toBe(0);
    expect(inb(IIR_P)).toBe(0x01);
    expect(inb(LCR)).toBe(0);
    expect(inb(MCR)).toBe(0);
    expect(inb(LSR)).toBe(0x60);
  });

  it('DLAB switches offsets 0 and 1 between RBR/THR, IER and the divisor latch', () => {
    const { u, out, inb } = uart();
    out(LCR, 0x83);
    out(BASE, 0x0c);
    out(BASE + 1, 0x01);
    expect(inb(BASE)).toBe(0x0c);
    expect(inb(BASE + 1)).toBe(0x01);
    expect(u.state.divisor).toBe(0x010c);
    expect(u.state.console).toBe(''); // the divisor write did not transmit
    out(LCR, 0x03);
    expect(inb(IER)).toBe(0); // IER untouched by the DLM write
    out(THR, 0x41);
    expect(u.state.console).toBe('A');
    out(IER, 0xff);
    expect(inb(IER)).toBe(0x0f); // bits 7..4 are always 0
    out(LCR, 0x80);
    expect(inb(BASE + 1)).toBe(0x01);
  });

  it('LSR: THRE and TEMT stay 1 after a write (instantaneous transmission); DR follows the receiver', () => {
    const { u, out, inb } = uart();
    out(THR, 0x68);
    expect(inb(LSR) & 0x60).toBe(0x60);
    expect(inb(LSR) & 0x01).toBe(0);
    u.receive('x');
    expect(inb(LSR) & 0x01).toBe(1);
    expect(inb(RBR)).toBe(0x78);
    expect(inb(LSR) & 0x01).toBe(0);
    expect(inb(RBR)).toBe(0x78); // RBR keeps the last byte
  });

  it('16450 mode: a second byte before the first is read overruns (OE, cleared by reading LSR)', () => {
    const { u, inb } = uart();
    u.receive([1, 2]);
    expect(inb(LSR)).toBe(0x63);
    expect(inb(LSR)).toBe(0x61);
    expect(inb(RBR)).toBe(2); // the new byte overwrote the unread one
  });

  it('FIFO enable, trigger level, clear; IIR bits 7..6 report the FIFOs', () => {
    const { u, out, inb } = uart();
    out(FCR, 0x01 | 0x80); // FIFOs on, trigger 8
    expect(inb(IIR_P) & 0xc0).toBe(0xc0);
    u.receive('0123456789abcdefXY'); // 18 bytes: 16 fit, then overrun
    expect(u.state.rx.length).toBe(16);
    expect(inb(LSR) & 0x03).toBe(0x03);
    expect(inb(RBR)).toBe(0x30);
    out(FCR, 0x01 | 0x02); // clear the receive FIFO
    expect(inb(LSR) & 0x01).toBe(0);
    u.receive('z');
    out(FCR, 0x00); // FIFOs off: both cleared, IIR bits 7..6 = 0
    expect(inb(LSR) & 0x01).toBe(0);
    expect(inb(IIR_P) & 0xc0).toBe(0);
  });

  it('IIR reports sources by priority: line status > received data > THR empty > modem status', () => {
    const { u, out, inb } = uart();
    out(MCR, 0x08); // OUT2: the interrupt reaches the IRQ line
    out(IER, 0x0f);
    // Enabling ETBEI with THR empty requests THRE; MCR changed no modem input (not in loopback).
    expect(inb(IIR_P)).toBe(IIR.THRE);
    expect(inb(IIR_P)).toBe(IIR.NONE); // reading IIR with THRE reported cleared it
    u.receive([7, 8]); // overrun in 16450 mode: line status and data
    expect(inb(IIR_P)).toBe(IIR.LINE_STATUS);
    inb(LSR);
    expect(inb(IIR_P)).toBe(IIR.RX_DATA);
    out(THR, 0x21); // THRE requested again behind the data
    expect(inb(IIR_P)).toBe(IIR.RX_DATA);
    inb(RBR);
    expect(inb(IIR_P)).toBe(IIR.THRE);
    // Loopback changes the modem inputs: the deltas make a modem status interrupt, lowest priority.
    out(MCR, 0x18);
    expect(inb(IIR_P)).toBe(IIR.MODEM);
    inb(MSR);
    expect(inb(IIR_P)).toBe(IIR.NONE);
  });

  it('FIFO mode: data available at the trigger level, character timeout below it', () => {
    const { u, out, inb } = uart();
    out(FCR, 0x41); // trigger 4
    out(IER, 0x01);
    u.receive('ab');
    expect(inb(IIR_P)).toBe(0xc0 | IIR.RX_TIMEOUT);
    u.receive('cd');
    expect(inb(IIR_P)).toBe(0xc0 | IIR.RX_DATA);
    inb(RBR);
    expect(inb(IIR_P)).toBe(0xc0 | IIR.RX_TIMEOUT);
    inb(RBR); inb(RBR); inb(RBR);
    expect(inb(IIR_P)).toBe(0xc0 | IIR.NONE);
  });

  it('the IRQ line is the interrupt gated by MCR.OUT2 (closed in loopback)', () => {
    const { u, out, irq } = uart();
    out(IER, 0x02);
    expect(u.irq).toBe(false); // THRE pending but OUT2 = 0
    out(MCR, 0x08);
    expect(u.irq).toBe(true);
    out(MCR, 0x18);
    expect(u.irq).toBe(false);
    expect(irq).toEqual([true, false]);
  });

  it('loopback: transmitted bytes come back to the receiver, not the console; MSR follows MCR', () => {
    const { u, out, inb } = uart();
    out(MCR, 0x10 | 0x0f);
    expect(inb(MSR) & 0xf0).toBe(0xf0);
    out(THR, 0x55);
    expect(u.state.console).toBe('');
    expect(inb(LSR) & 1).toBe(1);
    expect(inb(RBR)).toBe(0x55);
    u.receive('q'); // the line is disconnected in loopback
    expect(inb(LSR) & 1).toBe(0);
    out(MCR, 0x10 | 0x01); // DTR only: DSR; CTS, RI, DCD drop
    const msr = inb(MSR);
    expect(msr & 0xf0).toBe(0x20);
    expect(msr & 0x0f).toBe(0x01 | 0x04 | 0x08); // DCTS, TERI (RI fell), DDCD
    expect(inb(MSR) & 0x0f).toBe(0);
  });

  it('SCR holds a byte; LSR and MSR ignore writes', () => {
    const { out, inb } = uart();
    out(SCR, 0xa5);
    expect(inb(SCR)).toBe(0xa5);
    out(LSR, 0x00);
    expect(inb(LSR)).toBe(0x60);
  });
});

describe('the port bus', () => {
  it('splits wide accesses into byte accesses at consecutive ports, low byte first', () => {
    const { bus, out, inb, u } = uart();
    out(LCR, 0x80);
    bus.portOut(BASE, 2, 0x1234); // DLL = 0x34, DLM = 0x12
    expect(u.state.divisor).toBe(0x1234);
    expect(bus.portIn(BASE, 2)).toBe(0x1234);
    out(LCR, 0x03);
    out(SCR, 0x77);
    // 0x3FE..0x401: MSR, SCR, then two unclaimed ports (all ones).
    expect(bus.portIn(MSR, 4)).toBe(0xffff77b0);
    expect(inb(0x80)).toBe(0xff);
    expect(bus.portIn(0x80, 2)).toBe(0xffff);
    expect(bus.log.at(-1)).toEqual({ dir: 'in', port: 0x80, size: 2, value: 0xffff, device: null });
  });

  it('refuses overlapping claims', () => {
    const { bus } = uart();
    expect(() => bus.claim(BASE + 7, 2, new Uart16550())).toThrow(/already claimed by uart/);
  });
});
