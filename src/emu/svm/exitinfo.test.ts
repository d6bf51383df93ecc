import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeEvent, decodeIoioInfo, decodeNpfInfo, decodeVIntr, encodeEvent, encodeIoioInfo, encodeNpfInfo, encodeVIntr, eventInjLegal,
  EventType, IntCtl, tlbControlName, type IoioExit,
} from './exitinfo.ts';

describe('IOIO EXITINFO1', () => {
  it('encodes OUT DX, AL to port 0x3F8 from 64-bit code', () => {
    const v = encodeIoioInfo({ in: false, string: false, rep: false, size: 1, addrSize: 64, seg: 0, port: 0x3f8 });
    expect(v).toBe(0x03f8_0210);
  });

  it('encodes REP INSW at 0xFFFF with a 32-bit address', () => {
    const v = encodeIoioInfo({ in: true, string: true, rep: true, size: 2, addrSize: 32, seg: 0, port: 0xffff });
    expect(v >>> 0).toBe(0xffff_012d);
  });

  it('round-trips', () => {
    const arb = fc.record({
      in: fc.boolean(), string: fc.boolean(), rep: fc.boolean(), size: fc.constantFrom(1 as const, 2 as const, 4 as const),
      addrSize: fc.constantFrom(16 as const, 32 as const, 64 as const), seg: fc.nat(5), port: fc.nat(0xffff),
    });
    fc.assert(fc.property(arb, (e: IoioExit) => {
      expect(decodeIoioInfo(encodeIoioInfo(e))).toEqual(e);
    }));
  });

  it('does not decode a size field that is not one-hot', () => {
    expect(decodeIoioInfo(0x30 | 0x200)).toBeUndefined();
    expect(decodeIoioInfo(0x10)).toBeUndefined();
  });
});

describe('NPF EXITINFO1', () => {
  it('a write to a not-present nested page while translating the final GPA', () => {
    const v = encodeNpfInfo({ present: false, write: true, user: true, reserved: false, fetch: false, finalGpa: true, guestTable: false });
    expect(v).toEqual({ lo: 0b110, hi: 1 });
  });

  it('round-trips', () => {
    const b = fc.boolean();
    fc.assert(fc.property(fc.record({ present: b, write: b, user: b, reserved: b, fetch: b, finalGpa: b, guestTable: b }), (e) => {
      expect(decodeNpfInfo(encodeNpfInfo(e))).toEqual(e);
    }));
  });
});

describe('EVENTINJ / EXITINTINFO', () => {
  it('#GP(0x10) injected: vector 13, type 3, EV, V, error code in 63:32', () => {
    expect(encodeEvent({ valid: true, vector: 13, type: EventType.EXCEPTION, errorCode: 0x10 })).toEqual({ lo: 0x80000b0d, hi: 0x10 });
  });

  it('round-trips', () => {
    const arb = fc.record({ valid: fc.boolean(), vector: fc.nat(255), type: fc.nat(7), errorCode: fc.option(fc.nat(0xffffffff), { nil: undefined }) });
    fc.assert(fc.property(arb, (e) => {
      const want = e.errorCode === undefined ? { valid: e.valid, vector: e.vector, type: e.type } : e;
      expect(decodeEvent(encodeEvent(e))).toEqual(want);
    }));
  });

  it('legal injections (APM 15.20)', () => {
    expect(eventInjLegal({ valid: false, vector: 2, type: 7 })).toBe(true);
    expect(eventInjLegal({ valid: true, vector: 0x20, type: EventType.INTR })).toBe(true);
    expect(eventInjLegal({ valid: true, vector: 2, type: EventType.NMI })).toBe(true);
    expect(eventInjLegal({ valid: true, vector: 14, type: EventType.EXCEPTION, errorCode: 2 })).toBe(true);
    expect(eventInjLegal({ valid: true, vector: 0x80, type: EventType.SOFT_INT })).toBe(true);
    for (const t of [1, 5, 6, 7]) expect(eventInjLegal({ valid: true, vector: 0x20, type: t })).toBe(false);
    expect(eventInjLegal({ valid: true, vector: 2, type: EventType.EXCEPTION })).toBe(false);
    expect(eventInjLegal({ valid: true, vector: 32, type: EventType.EXCEPTION })).toBe(false);
  });
});

describe('INT_CTL and TLB_CONTROL', () => {
  it('V_INTR fields round-trip and leave the other INT_CTL bits alone', () => {
    const others = IntCtl.V_GIF | IntCtl.AVIC_ENABLE | IntCtl.V_NMI_ENABLE;
    fc.assert(fc.property(fc.nat(15), fc.boolean(), fc.nat(15), fc.boolean(), fc.boolean(), (vTpr, vIrq, vIntrPrio, vIgnTpr, vIntrMasking) => {
      const v = { vTpr, vIrq, vIntrPrio, vIgnTpr, vIntrMasking, vIntrVector: 0x30 };
      const word = encodeVIntr(others, v);
      expect((word & others) >>> 0).toBe(others >>> 0);
      expect(decodeVIntr(word, 0x130)).toEqual(v);
    }));
  });

  it('names the four TLB_CONTROL encodings and no other', () => {
    expect([0, 1, 3, 7].map(tlbControlName)).toEqual(['DO_NOTHING', 'FLUSH_ALL', 'FLUSH_ASID', 'FLUSH_ASID_LOCAL']);
    expect([2, 4, 5, 6].map(tlbControlName)).toEqual([undefined, undefined, undefined, undefined]);
  });
});
