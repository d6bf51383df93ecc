/** Register-level tests of the 8259A pair from the Intel datasheet, through the port bus. */
import { describe, expect, it } from 'vitest';
import { PortBus } from './bus.ts';
import { Pic8259Pair } from './pic8259.ts';

function pair(opts: { aeoi?: boolean; level?: boolean } = {}) {
  const pic = new Pic8259Pair();
  const bus = new PortBus();
  bus.claim(0x20, 2, pic.masterPorts);
  bus.claim(0xa0, 2, pic.slavePorts);
  const out = (p: number, v: number) => bus.portOut(p, 1, v);
  const inb = (p: number) => bus.portIn(p, 1);
  const icw1 = 0x11 | (opts.level ? 0x08 : 0);
  const icw4 = 0x01 | (opts.aeoi ? 0x02 : 0);
  out(0x20, icw1); out(0x21, 0x20); out(0x21, 0x04); out(0x21, icw4);
  out(0xa0, icw1); out(0xa1, 0x28); out(0xa1, 0x02); out(0xa1, icw4);
  const pulse = (irq: number) => { pic.setIrq(irq, true); pic.setIrq(irq, false); };
  const irr = (p: number) => { out(p, 0x0a); return inb(p); };
  const isr = (p: number) => { out(p, 0x0b); return inb(p); };
  return { pic, bus, out, inb, pulse, irr, isr };
}

describe('8259A initialisation', () => {
  it('ICW1..ICW4 set the bases, the cascade and 8086 mode; ICW1 clears IMR', () => {
    const { pic, out, inb } = pair();
    expect(pic.state.master).toMatchObject({ base: 0x20, icw3: 0x04, icw4: 0x01, initialised: true, imr: 0 });
    expect(pic.state.slave).toMatchObject({ base: 0x28, icw3: 0x02, icw4: 0x01, initialised: true });
    out(0x21, 0xfb);
    expect(inb(0x21)).toBe(0xfb);
    out(0x20, 0x11);
    expect(inb(0x21)).toBe(0);
    expect(pic.state.master.initStep).toBe(2);
  });

  it('single mode with no ICW4 skips ICW3 and ICW4; ICW2 ignores bits 2..0', () => {
    const pic = new Pic8259Pair();
    pic.masterPorts.write(0, 0x12); // SNGL, no IC4
    pic.masterPorts.write(1, 0x47);
    expect(pic.state.master).toMatchObject({ base: 0x40, initStep: 0, initialised: true, icw4: 0, single: true });
    pic.masterPorts.write(1, 0x55); // now OCW1
    expect(pic.state.master.imr).toBe(0x55);
  });

  it('an uninitialised chip, or one between ICW1 and its last ICW, requests nothing', () => {
    const pic = new Pic8259Pair();
    pic.setIrq(1, true);
    expect(pic.pending()).toBe(false);
    pic.masterPorts.write(0, 0x11);
    pic.masterPorts.write(1, 0x20);
    pic.setIrq(3, true);
    expect(pic.pending()).toBe(false);
    pic.masterPorts.write(1, 0x04);
    pic.masterPorts.write(1, 0x01);
    expect(pic.acknowledge()).toBe(0x23); // latched during initialisation, asked for once it completed
  });

  it('after ICW1 a line already high must fall and rise again to request', () => {
    const pic = new Pic8259Pair();
    pic.setIrq(3, true);
    for (const [p, v] of [[0, 0x11], [1, 0x20], [1, 0x04], [1, 0x01]] as const) pic.masterPorts.write(p, v);
    expect(pic.pending()).toBe(false);
    pic.setIrq(3, false);
    pic.setIrq(3, true);
    expect(pic.pending()).toBe(true);
    expect(pic.acknowledge()).toBe(0x23);
  });
});

describe('8259A requests, priority and EOI', () => {
  it('vector = ICW2 base + line; IRR → ISR on acknowledge; edge triggered', () => {
    const { pic, out, pulse, irr, isr } = pair();
    pulse(5);
    expect(irr(0x20)).toBe(0x20);
    expect(pic.pending()).toBe(true);
    expect(pic.acknowledge()).toBe(0x25);
    expect(irr(0x20)).toBe(0);
    expect(isr(0x20)).toBe(0x20);
    // A line held high does not request again.
    out(0x20, 0x20);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x26);
    expect(pic.pending()).toBe(false);
    expect(irr(0x20)).toBe(0);
  });

  it('masking (OCW1) holds a request in IRR until unmasked', () => {
    const { pic, out, pulse } = pair();
    out(0x21, 0x01);
    pulse(0);
    expect(pic.pending()).toBe(false);
    expect(pic.state.master.irr).toBe(1);
    out(0x21, 0x00);
    expect(pic.acknowledge()).toBe(0x20);
  });

  it('fully nested: a lower-priority request waits for EOI, a higher one nests', () => {
    const { pic, out, pulse, isr } = pair();
    pulse(3);
    expect(pic.acknowledge()).toBe(0x23);
    pulse(5);
    expect(pic.pending()).toBe(false); // IR5 < IR3 in service
    pulse(1);
    expect(pic.acknowledge()).toBe(0x21); // IR1 nests
    expect(isr(0x20)).toBe(0x0a);
    out(0x20, 0x20); // non-specific EOI clears the highest in service: IR1
    expect(isr(0x20)).toBe(0x08);
    expect(pic.pending()).toBe(false);
    out(0x20, 0x63); // specific EOI for IR3
    expect(pic.acknowledge()).toBe(0x25);
  });

  it('simultaneous requests go out highest priority (lowest line) first', () => {
    const { pic, out, pulse } = pair();
    for (const l of [7, 4, 6, 1]) pulse(l);
    const got: number[] = [];
    while (pic.pending()) {
      got.push(pic.acknowledge());
      out(0x20, 0x20);
    }
    expect(got).toEqual([0x21, 0x24, 0x26, 0x27]);
  });

  it('cascade: a slave request goes through master IR2; the vector is the slave base + line', () => {
    const { pic, out, pulse, isr, irr } = pair();
    pulse(12);
    expect(pic.pending()).toBe(true);
    expect(irr(0x20)).toBe(0x04);
    expect(pic.acknowledge()).toBe(0x2c);
    expect(isr(0x20)).toBe(0x04);
    expect(isr(0xa0)).toBe(0x10);
    expect(pic.state.delivered[12]).toBe(1);
    // A master IR1 request nests above the slave; IR3 waits.
    pulse(3);
    expect(pic.pending()).toBe(false);
    pulse(1);
    expect(pic.acknowledge()).toBe(0x21);
    out(0x20, 0x20);
    // EOI to the slave, then the master; then IR3.
    out(0xa0, 0x20);
    out(0x20, 0x20);
    expect(isr(0x20) | isr(0xa0)).toBe(0);
    expect(pic.acknowledge()).toBe(0x23);
  });

  it('a slave mask blocks the slave line; masking IR2 on the master blocks the whole slave', () => {
    const { pic, out, pulse } = pair();
    out(0xa1, 0x01);
    pulse(8);
    expect(pic.pending()).toBe(false);
    out(0x21, 0x04);
    out(0xa1, 0x00);
    expect(pic.pending()).toBe(false);
    out(0x21, 0x00);
    expect(pic.acknowledge()).toBe(0x28);
  });

  it('acknowledge with nothing requested gives the spurious IRQ 7 vector and no ISR bit', () => {
    const { pic, isr } = pair();
    expect(pic.acknowledge()).toBe(0x27);
    expect(isr(0x20)).toBe(0);
    expect(pic.state.spurious).toBe(1);
  });

  it('automatic EOI leaves ISR clear; level mode keeps IRR while the line is high', () => {
    const a = pair({ aeoi: true });
    a.pulse(4);
    expect(a.pic.acknowledge()).toBe(0x24);
    expect(a.isr(0x20)).toBe(0);
    const l = pair({ level: true });
    l.pic.setIrq(4, true);
    expect(l.pic.acknowledge()).toBe(0x24);
    expect(l.irr(0x20)).toBe(0x10);
    l.out(0x20, 0x20);
    expect(l.pic.pending()).toBe(true);
    l.pic.setIrq(4, false);
    expect(l.pic.pending()).toBe(false);
  });

  it('rotation: rotate on non-specific EOI makes the served line lowest; set priority', () => {
    const { pic, out, pulse } = pair();
    pulse(2 + 1);
    pic.acknowledge();
    out(0x20, 0xa0); // rotate on non-specific EOI: IR3 becomes lowest, IR4 highest
    pulse(3); pulse(5);
    expect(pic.acknowledge()).toBe(0x25);
    out(0x20, 0x20);
    out(0x20, 0xc4); // set priority: IR4 lowest, IR5 highest
    expect(pic.state.master.lowest).toBe(4);
    expect(pic.acknowledge()).toBe(0x23);
  });

  it('OCW3 poll: the read returns 0x80 | level and takes it into service', () => {
    const { pic, out, inb, isr } = pair();
    pulse(pic, 6);
    out(0x20, 0x0c);
    expect(inb(0x20)).toBe(0x86);
    expect(isr(0x20)).toBe(0x40);
    out(0x20, 0x0c);
    expect(inb(0x20)).toBe(0);
  });

  it('special mask mode lets lower levels through while a masked level is in service', () => {
    const { pic, out, pulse } = pair();
    pulse(2 + 1);
    pic.acknowledge(); // IR3 in service
    pulse(6);
    expect(pic.pending()).toBe(false);
    out(0x21, 0x08); // mask IR3
    out(0x20, 0x68); // ESMM + SMM
    expect(pic.acknowledge()).toBe(0x26);
  });
});

function pulse(pic: Pic8259Pair, irq: number): void {
  pic.setIrq(irq, true);
  pic.setIrq(irq, false);
}
