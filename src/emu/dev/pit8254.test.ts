/**
 * The 8254 against its datasheet: control words, access modes, latching, read-back, and modes 0,
 * 2, 3 and 4 — the last checked pulse by pulse against a plain reference counter written from the
 * datasheet's descriptions (property test with random counts, rewrites and clock advances).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortBus } from './bus.ts';
import { Pit8254 } from './pit8254.ts';

function pit(stepsPerTick = 1) {
  const p = new Pit8254(stepsPerTick);
  const bus = new PortBus();
  bus.claim(0x40, 4, p);
  const irq: boolean[] = [];
  p.onOut0 = (h) => irq.push(h);
  const out = (port: number, v: number) => bus.portOut(port, 1, v);
  const inb = (port: number) => bus.portIn(port, 1);
  return { p, out, inb, irq };
}

/** Programs counter 0: mode, LSB then MSB, binary; then the count. */
function program(t: ReturnType<typeof pit>, mode: number, count: number): void {
  t.out(0x43, 0x30 | (mode << 1));
  t.out(0x40, count & 0xff);
  t.out(0x40, count >> 8);
}

describe('8254 control word, access modes and reading', () => {
  it('LSB-only, MSB-only and LSB-then-MSB writes and reads', () => {
    const t = pit();
    t.out(0x43, 0x10 | (2 << 1)); // counter 0, LSB only, mode 2
    t.out(0x40, 0x34);
    t.p.advance(1); // the load pulse
    expect(t.p.count(0)).toBe(0x34);
    expect(t.inb(0x40)).toBe(0x34);
    t.out(0x43, 0x20 | (2 << 1)); // MSB only
    t.out(0x40, 0x12);
    t.p.advance(1);
    expect(t.p.count(0)).toBe(0x1200);
    expect(t.inb(0x40)).toBe(0x12);
    t.out(0x43, 0x30 | (2 << 1));
    t.out(0x40, 0x78);
    t.out(0x40, 0x56);
    t.p.advance(1);
    expect([t.inb(0x40), t.inb(0x40)]).toEqual([0x78, 0x56]);
    t.p.advance(0x10);
    expect([t.inb(0x40), t.inb(0x40)]).toEqual([0x68, 0x56]);
  });

  it('a count is loaded on the pulse after the write, which does not decrement it (mode 0: OUT high after N + 1 pulses)', () => {
    const t = pit();
    t.out(0x43, 0x30);
    expect(t.p.out(0)).toBe(false); // mode 0: OUT low on the control word
    t.out(0x40, 5);
    t.out(0x40, 0);
    t.p.advance(1);
    expect(t.p.count(0)).toBe(5);
    t.p.advance(4);
    expect(t.p.count(0)).toBe(1);
    expect(t.p.out(0)).toBe(false);
    t.p.advance(1);
    expect(t.p.count(0)).toBe(0);
    expect(t.p.out(0)).toBe(true);
    t.p.advance(1);
    expect(t.p.count(0)).toBe(0xffff); // keeps counting, OUT stays high
    expect(t.p.out(0)).toBe(true);
    expect(t.irq).toEqual([false, true]);
  });

  it('mode 0: writing the first byte stops counting and drops OUT; the second restarts', () => {
    const t = pit();
    program(t, 0, 3);
    t.p.advance(10);
    expect(t.p.out(0)).toBe(true);
    t.out(0x40, 9);
    expect(t.p.out(0)).toBe(false);
    const held = t.p.count(0);
    t.p.advance(5);
    expect(t.p.count(0)).toBe(held);
    t.out(0x40, 0);
    t.p.advance(1);
    expect(t.p.count(0)).toBe(9);
  });

  it('counter latch: the count at the latch, LSB then MSB, later latches ignored until read', () => {
    const t = pit();
    program(t, 2, 1000);
    t.p.advance(11); // loaded at pulse 1, then 10 decrements
    t.out(0x43, 0x00);
    t.p.advance(100);
    t.out(0x43, 0x00); // ignored: the first latch is unread
    expect(t.inb(0x40) | (t.inb(0x40) << 8)).toBe(990);
    expect(t.inb(0x40) | (t.inb(0x40) << 8)).toBe(890); // unlatched: live
  });

  it('read-back: status (OUT, NULL COUNT, RW, mode, BCD) read before the latched count', () => {
    const t = pit();
    t.out(0x43, 0x30 | (3 << 1));
    t.out(0x43, 0xe2); // read-back: status of counter 0
    expect(t.inb(0x40)).toBe(0x80 | 0x40 | 0x30 | (3 << 1)); // OUT high, null count: no count yet
    t.out(0x40, 100);
    t.out(0x40, 0);
    t.p.advance(1);
    t.out(0x43, 0xe2); // status only
    expect(t.inb(0x40)).toBe(0x80 | 0x30 | (3 << 1)); // loaded: NULL COUNT clear
    t.p.advance(50); // into the low half
    t.out(0x43, 0xc2);
    expect(t.inb(0x40)).toBe(0x30 | (3 << 1));
    expect(t.inb(0x40) | (t.inb(0x40) << 8)).toBe(100);
  });

  it('BCD counting: a count of 0x0100 is one hundred, read back in BCD', () => {
    const t = pit();
    t.out(0x43, 0x31); // mode 0, BCD
    t.out(0x40, 0x00);
    t.out(0x40, 0x01);
    t.p.advance(1 + 11);
    expect(t.p.count(0)).toBe(89);
    expect([t.inb(0x40), t.inb(0x40)]).toEqual([0x89, 0x00]);
    t.p.advance(89);
    expect(t.p.out(0)).toBe(true);
    t.p.advance(1);
    expect(t.p.count(0)).toBe(9999);
  });

  it('a count of 0 is 65536; port 0x43 reads as all ones', () => {
    const t = pit();
    program(t, 2, 0);
    expect(t.p.stepsToNextEdge(0)).toBe(65537);
    expect(t.inb(0x43)).toBe(0xff);
  });

  it('modes 1 and 5 wait for a gate trigger that never comes on a PC: OUT high, no counting', () => {
    const t = pit();
    program(t, 1, 10);
    t.p.advance(100);
    expect(t.p.out(0)).toBe(true);
    expect(t.p.stepsToNextEdge(0)).toBe(Infinity);
    t.out(0x43, 0xe2);
    expect(t.inb(0x40) & 0x40).toBe(0x40); // NULL COUNT: never loaded
  });

  it('mode 2 with steps per tick: edges every N pulses, that many steps apart', () => {
    const t = pit(7);
    program(t, 2, 10);
    expect(t.p.stepsToNextEdge(0)).toBe(11 * 7);
    t.p.advance(11 * 7 - 1);
    expect(t.irq).toEqual([false]); // OUT low for the pulse where the count is 1
    t.p.advance(1);
    expect(t.irq).toEqual([false, true]);
    expect(t.p.stepsToNextEdge(0)).toBe(10 * 7);
    t.p.advance(3);
    expect(t.p.stepsToNextEdge(0)).toBe(10 * 7 - 3);
  });

  it('mode 3 odd count: high for (N + 1) / 2 pulses, low for (N − 1) / 2, counting by two from N − 1', () => {
    const t = pit();
    program(t, 3, 5);
    t.p.advance(1);
    const seen: [number, boolean][] = [];
    for (let i = 0; i < 6; i++) {
      seen.push([t.p.count(0), t.p.out(0)]);
      t.p.advance(1);
    }
    expect(seen).toEqual([[4, true], [2, true], [0, true], [4, false], [2, false], [4, true]]);
  });
});

// ---- a reference counter, one CLK pulse at a time, from the datasheet's mode descriptions ----

interface Ref { mode: number; n: number; ce: number; out: boolean; load: boolean; counting: boolean; pendingN: number; strobe: boolean; edges: number }

function refProgram(mode: number): Ref {
  return { mode, n: 0, ce: 0, out: mode !== 0, load: false, counting: false, pendingN: -1, strobe: false, edges: 0 };
}

function refWrite(r: Ref, count: number): void {
  const n = count === 0 ? 65536 : count;
  if ((r.mode === 2 || r.mode === 3) && r.counting) {
    r.pendingN = n;
    return;
  }
  r.n = n;
  r.load = true;
  if (r.mode === 0) {
    r.out = false;
    r.counting = false;
  }
}

function setOut(r: Ref, v: boolean): void {
  if (v && !r.out) r.edges++;
  r.out = v;
}

function refPulse(r: Ref): void {
  if (r.load) {
    r.load = false;
    r.counting = true;
    r.ce = r.mode === 3 && r.n % 2 === 1 ? r.n - 1 : r.n % 65536;
    if (r.mode === 3 || r.mode === 2) setOut(r, true);
    r.strobe = false;
    return;
  }
  if (!r.counting) return;
  switch (r.mode) {
    case 0:
      r.ce = (r.ce + 65535) % 65536;
      if (r.ce === 0) setOut(r, true);
      break;
    case 4:
      if (r.strobe) setOut(r, true);
      r.ce = (r.ce + 65535) % 65536;
      if (r.ce === 0 && !r.strobe && r.out) {
        setOut(r, false);
        r.strobe = true;
      } else r.strobe = false;
      break;
    case 2:
      if (r.ce === 1) {
        if (r.pendingN >= 0) { r.n = r.pendingN; r.pendingN = -1; }
        r.ce = r.n % 65536;
        setOut(r, true);
      } else {
        r.ce--;
        if (r.ce === 1) setOut(r, false);
      }
      break;
    case 3: {
      const odd = r.n % 2 === 1;
      if (r.ce === 0) {
        // Odd count, high half: the extra pulse after expiry; OUT goes low and reloads.
        if (r.pendingN >= 0) { r.n = r.pendingN; r.pendingN = -1; }
        r.ce = r.n % 2 === 1 ? r.n - 1 : r.n;
        setOut(r, false);
        break;
      }
      r.ce -= 2;
      if (r.ce === 0) {
        if (odd && r.out) break; // stays high one more pulse
        if (r.pendingN >= 0) { r.n = r.pendingN; r.pendingN = -1; }
        r.ce = r.n % 2 === 1 ? r.n - 1 : r.n;
        setOut(r, !r.out);
      }
      break;
    }
  }
}

const ops = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ advance: fc.integer({ min: 0, max: 400 }) }) },
    { weight: 1, arbitrary: fc.record({ count: fc.integer({ min: 2, max: 120 }) }) },
  ),
  { maxLength: 12 },
);

describe('modes 0, 2, 3 and 4 against a pulse-by-pulse reference', () => {
  it('count, OUT and rising edges (IRQ 0) agree after every operation', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 2, 3, 4), fc.integer({ min: 2, max: 120 }), fc.integer({ min: 1, max: 3 }), ops, (mode, first, spt, list) => {
        const t = pit(spt);
        const ref = refProgram(mode);
        program(t, mode, first);
        refWrite(ref, first);
        let sub = 0;
        let irqEdges = 0;
        let advancesWithEdges = 0;
        t.p.onOut0 = (h) => { if (h) irqEdges++; };
        for (const op of list) {
          if ('count' in op) {
            t.out(0x40, op.count & 0xff);
            t.out(0x40, op.count >> 8);
            refWrite(ref, op.count);
          } else {
            const before = t.p.stepsToNextEdge(0);
            t.p.advance(op.advance);
            const pulses = Math.floor((sub + op.advance) / spt);
            sub = (sub + op.advance) % spt;
            const edgesBefore = ref.edges;
            for (let i = 0; i < pulses; i++) refPulse(ref);
            // stepsToNextEdge predicted whether an edge would fall in this advance.
            expect(ref.edges > edgesBefore).toBe(before <= op.advance);
            if (ref.edges > edgesBefore) advancesWithEdges++;
          }
          if (ref.counting) expect(t.p.count(0)).toBe(ref.ce);
          expect(t.p.out(0)).toBe(ref.out);
          expect(t.p.state.channels[0].edges).toBe(ref.edges);
        }
        // IRQ 0 rises once per advance that had edges (an edge-triggered request cannot count more).
        expect(irqEdges).toBe(advancesWithEdges);
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot / restore round-trips: the restored PIT continues exactly as the original', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 2, 3, 4), fc.integer({ min: 2, max: 500 }), fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 2, maxLength: 8 }), (mode, n, steps) => {
        const a = pit(2);
        program(a, mode, n);
        a.p.advance(steps[0]!);
        a.out(0x43, 0x00); // a latch pending in the snapshot
        const snap = a.p.snapshot();
        const json = JSON.parse(JSON.stringify(snap));
        const b = pit(1);
        b.p.restore(json);
        for (const s of steps.slice(1)) {
          a.p.advance(s);
          b.p.advance(s);
          expect(b.p.count(0)).toBe(a.p.count(0));
          expect(b.p.out(0)).toBe(a.p.out(0));
        }
        expect([b.inb(0x40), b.inb(0x40)]).toEqual([a.inb(0x40), a.inb(0x40)]);
        expect(b.p.snapshot()).toEqual(a.p.snapshot());
      }),
      { numRuns: 150 },
    );
  });
});
