import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import {
  INTERCEPT, crWriteIntercept, exceptionIntercept, interceptSet, ioIntercepted, isIntercepted, msrIntercepted, msrpmLocation,
  readInterceptWords, setIntercept, setIopmBit, setMsrpmBit,
} from './intercepts.ts';

const VMCB = 0x3000;
const IOPM = 0x10000;
const MSRPM = 0x20000;

describe('intercept vectors in the VMCB', () => {
  it('sets the real bit of the real word', () => {
    const mem = new PhysMem(1 << 20);
    setIntercept(mem, VMCB, 'VMRUN');
    setIntercept(mem, VMCB, 'CPUID');
    setIntercept(mem, VMCB, crWriteIntercept(3));
    setIntercept(mem, VMCB, exceptionIntercept(14));
    setIntercept(mem, VMCB, 'IDLE_HLT');
    expect(mem.read(VMCB + 0x010, 4)).toBe(1); // word 4 bit 0
    expect(mem.read(VMCB + 0x00c, 4)).toBe(1 << 18); // word 3 bit 18
    expect(mem.read(VMCB + 0x000, 4)).toBe(1 << 19); // CR3 write
    expect(mem.read(VMCB + 0x008, 4)).toBe(1 << 14); // #PF
    expect(mem.read(VMCB + 0x014, 4)).toBe(1 << 6);
    expect(isIntercepted(mem, VMCB, 'HLT')).toBe(false);
    expect(isIntercepted(mem, VMCB, 'CPUID')).toBe(true);
    setIntercept(mem, VMCB, 'CPUID', false);
    expect(isIntercepted(mem, VMCB, 'CPUID')).toBe(false);
    const words = readInterceptWords(mem, VMCB);
    expect(interceptSet(words, 'VMRUN')).toBe(true);
    expect(interceptSet(words, INTERCEPT.SHUTDOWN)).toBe(false);
  });

  it('bit 31 of word 3 (SHUTDOWN) is the sign bit and still reads as set', () => {
    const mem = new PhysMem(1 << 20);
    setIntercept(mem, VMCB, 'SHUTDOWN');
    expect(mem.read(VMCB + 0x00c, 4)).toBe(0x80000000);
    expect(isIntercepted(mem, VMCB, 'SHUTDOWN')).toBe(true);
  });
});

describe('IOPM (APM 15.10.1)', () => {
  it('one bit per port, and a wide access checks every port it touches', () => {
    const mem = new PhysMem(1 << 20);
    setIopmBit(mem, IOPM, 0x3f8);
    expect(mem.read8(IOPM + 0x7f)).toBe(1); // 0x3f8 / 8 = 0x7f, bit 0
    expect(ioIntercepted(mem, IOPM, 0x3f8, 1)).toBe(true);
    expect(ioIntercepted(mem, IOPM, 0x3f9, 1)).toBe(false);
    expect(ioIntercepted(mem, IOPM, 0x3f5, 4)).toBe(true); // 3f5..3f8
    expect(ioIntercepted(mem, IOPM, 0x3f4, 4)).toBe(false); // 3f4..3f7
    expect(ioIntercepted(mem, IOPM, 0x3f7, 2)).toBe(true);
  });

  it('a 2-byte access at port 0xFFFF also checks bit 0x10000, in the third page', () => {
    const mem = new PhysMem(1 << 20);
    setIopmBit(mem, IOPM, 0x10000);
    expect(mem.read8(IOPM + 0x2000)).toBe(1); // the first byte of the IOPM's third 4-KByte page
    expect(ioIntercepted(mem, IOPM, 0xffff, 1)).toBe(false);
    expect(ioIntercepted(mem, IOPM, 0xffff, 2)).toBe(true);
    expect(ioIntercepted(mem, IOPM, 0xfffe, 4)).toBe(true);
    expect(ioIntercepted(mem, IOPM, 0xfffc, 4)).toBe(false);
  });
});

describe('MSRPM (APM 15.11)', () => {
  it('two bits per MSR in three 2-KByte vectors', () => {
    expect(msrpmLocation(0)).toEqual({ byte: 0, bit: 0 });
    expect(msrpmLocation(0x1fff)).toEqual({ byte: 0x7ff, bit: 6 });
    expect(msrpmLocation(0xc0000080)).toEqual({ byte: 0x820, bit: 0 }); // EFER
    expect(msrpmLocation(0xc0001fff)).toEqual({ byte: 0xfff, bit: 6 });
    expect(msrpmLocation(0xc0010117)).toEqual({ byte: 0x1045, bit: 6 }); // VM_HSAVE_PA
    expect(msrpmLocation(0xc0011fff)).toEqual({ byte: 0x17ff, bit: 6 });
    for (const outside of [0x2000, 0xbfffffff, 0xc0002000, 0xc000ffff, 0xc0012000, 0xffffffff]) expect(msrpmLocation(outside)).toBeNull();
  });

  it('read and write bits are separate; MSRs outside the ranges are always intercepted', () => {
    const mem = new PhysMem(1 << 20);
    setMsrpmBit(mem, MSRPM, 0xc0000080, true);
    expect(mem.read8(MSRPM + 0x820)).toBe(0b10);
    expect(msrIntercepted(mem, MSRPM, 0xc0000080, true)).toBe(true);
    expect(msrIntercepted(mem, MSRPM, 0xc0000080, false)).toBe(false);
    setMsrpmBit(mem, MSRPM, 0x10, false); // TSC read
    expect(mem.read8(MSRPM + 4)).toBe(0b1);
    expect(msrIntercepted(mem, MSRPM, 0x10, false)).toBe(true);
    expect(msrIntercepted(mem, MSRPM, 0x11, false)).toBe(false);
    setMsrpmBit(mem, MSRPM, 0xc0010117, false);
    expect(mem.read8(MSRPM + 0x1045)).toBe(1 << 6);
    expect(msrIntercepted(mem, MSRPM, 0x4000_0000, false)).toBe(true);
    expect(() => setMsrpmBit(mem, MSRPM, 0x2000, false)).toThrow(RangeError);
  });
});
