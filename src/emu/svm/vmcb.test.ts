import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../mem/physmem.ts';
import { SegAttr, type SegmentCache } from '../cpu/state.ts';
import {
  VMCB_FIELDS, Vmcb, packAttrib, segmentFromVmcb, segmentToVmcb, unpackAttrib, u64, vmcbFieldAt, vmcbRead, vmcbRead64,
  vmcbWrite, vmcbWrite64, type Vmcb64Field, type VmcbField, type VmcbSmallField,
} from './vmcb.ts';

const PA = 0x5000;
const page = (mem: PhysMem, pa = PA): number[] => Array.from({ length: 4096 }, (_, i) => mem.read8(pa + i));
const fieldsOf = (pred: (n: VmcbField) => boolean): VmcbField[] => (Object.keys(VMCB_FIELDS) as VmcbField[]).filter(pred);
const smallInts = fieldsOf((n) => VMCB_FIELDS[n].kind === 'int' && VMCB_FIELDS[n].size <= 4) as VmcbSmallField[];
const wideInts = fieldsOf((n) => VMCB_FIELDS[n].kind === 'int' && VMCB_FIELDS[n].size === 8) as Vmcb64Field[];

describe('VMCB accessors write physical memory at VMCB + offset', () => {
  it('EXITCODE is 8 bytes at VMCB + 0x070 (VMEXIT_INVALID = all ones)', () => {
    const mem = new PhysMem(1 << 20);
    vmcbWrite64(mem, PA, 'exit_code', u64(0xffffffff, 0xffffffff));
    const bytes = page(mem);
    expect(bytes.slice(0x70, 0x78)).toEqual(new Array(8).fill(0xff));
    expect(bytes.filter((b) => b !== 0).length).toBe(8);
  });

  it('64-bit fields are little-endian; small fields touch only their bytes', () => {
    const mem = new PhysMem(1 << 20);
    const v = new Vmcb(mem, PA);
    v.write64('iopm_base_pa', u64(0x12345000, 0x9));
    v.write('tlb_ctl', 0x1ff); // one byte: 0xff kept, the 9th bit dropped
    v.write('save.cpl', 3);
    const b = page(mem);
    expect(b.slice(0x40, 0x48)).toEqual([0x00, 0x50, 0x34, 0x12, 0x09, 0, 0, 0]);
    expect(b[0x5c]).toBe(0xff);
    expect(b[0x5b]).toBe(0);
    expect(b[0x5d]).toBe(0);
    expect(b[0x4cb]).toBe(3);
    expect(v.read('tlb_ctl')).toBe(0xff);
    expect(v.read64('iopm_base_pa')).toEqual({ lo: 0x12345000, hi: 9 });
  });

  it('a segment is selector, attrib, limit, base at its save-area offset', () => {
    const mem = new PhysMem(1 << 20);
    const v = new Vmcb(mem, PA);
    v.writeSegment('save.cs', { selector: 0x0008, attrib: 0x0a9b, limit: 0xffffffff, base: u64(0x11223344, 0x55667788) });
    const b = page(mem);
    expect(b.slice(0x410, 0x420)).toEqual([0x08, 0x00, 0x9b, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55]);
    expect(v.readSegment('save.cs')).toEqual({ selector: 8, attrib: 0xa9b, limit: 0xffffffff, base: { lo: 0x11223344, hi: 0x55667788 } });
  });

  it('GDTR and IDTR leave the selector and attrib words alone', () => {
    const mem = new PhysMem(1 << 20);
    const v = new Vmcb(mem, PA);
    v.writeDtr('save.idtr', { limit: 0xfff, base: u64(0xabc000) });
    const b = page(mem);
    expect(b.slice(0x480, 0x484)).toEqual([0, 0, 0, 0]);
    expect(b.slice(0x484, 0x490)).toEqual([0xff, 0x0f, 0, 0, 0x00, 0xc0, 0xab, 0, 0, 0, 0, 0]);
    expect(v.readDtr('save.idtr')).toEqual({ limit: 0xfff, base: { lo: 0xabc000, hi: 0 } });
  });

  it('instruction bytes are 15 raw bytes at 0x0d1', () => {
    const mem = new PhysMem(1 << 20);
    const v = new Vmcb(mem, PA);
    v.writeBytes('insn_bytes', new Uint8Array([0x0f, 0x01, 0xd9]));
    expect(page(mem).slice(0xd0, 0xe1)).toEqual([0, 0x0f, 0x01, 0xd9, ...new Array(13).fill(0)]);
    expect(Array.from(v.readBytes('insn_bytes')).slice(0, 4)).toEqual([0x0f, 0x01, 0xd9, 0]);
  });

  it('every integer field round-trips, little-endian, and changes no other byte of the page', () => {
    fc.assert(
      fc.property(fc.constantFrom(...smallInts, ...wideInts), fc.nat(0xffffffff), fc.nat(0xffffffff), (name, lo, hi) => {
        const mem = new PhysMem(1 << 20);
        const f = VMCB_FIELDS[name];
        let expected: number[];
        if (f.size === 8) {
          vmcbWrite64(mem, PA, name as Vmcb64Field, u64(lo, hi));
          expect(vmcbRead64(mem, PA, name as Vmcb64Field)).toEqual({ lo, hi });
          expected = [0, 8, 16, 24].map((s) => (lo >>> s) & 0xff).concat([0, 8, 16, 24].map((s) => (hi >>> s) & 0xff));
        } else {
          vmcbWrite(mem, PA, name as VmcbSmallField, lo);
          const mask = f.size === 4 ? 0xffffffff : (1 << (f.size * 8)) - 1;
          expect(vmcbRead(mem, PA, name as VmcbSmallField)).toBe((lo & mask) >>> 0);
          expected = [0, 8, 16, 24].slice(0, f.size).map((s) => (lo >>> s) & 0xff);
        }
        const b = page(mem);
        expect(b.slice(f.offset, f.offset + f.size)).toEqual(expected);
        expect(b.filter((x, i) => x !== 0 && (i < f.offset || i >= f.offset + f.size))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a misaligned VMCB and a field of the wrong kind', () => {
    const mem = new PhysMem(1 << 20);
    expect(() => vmcbRead(mem, PA + 8, 'asid')).toThrow(RangeError);
    expect(() => vmcbRead(mem, PA, 'save.cs' as never)).toThrow(TypeError);
    expect(() => vmcbRead(mem, PA, 'exit_code' as never)).toThrow(TypeError);
    expect(() => vmcbRead64(mem, PA, 'asid' as never)).toThrow(TypeError);
  });

  it('finds the field at an offset (for a view by offset)', () => {
    expect(vmcbFieldAt(0x070)).toBe('exit_code');
    expect(vmcbFieldAt(0x074)).toBe('exit_code');
    expect(vmcbFieldAt(0x4cb)).toBe('save.cpl');
    expect(vmcbFieldAt(0x5f8)).toBe('save.rax');
    expect(vmcbFieldAt(0x018)).toBeUndefined();
  });
});

describe('segments: the VMCB attrib and the lab segment cache', () => {
  it('packs descriptor bits 47:40 and 55:52 into 12 bits', () => {
    const code64 = 0xb | SegAttr.S | SegAttr.P | SegAttr.L | SegAttr.G; // type 1011 S P L G
    expect(packAttrib(code64)).toBe(0xa9b);
    expect(unpackAttrib(0xa9b)).toBe(code64);
    const data32 = 0x3 | SegAttr.S | SegAttr.P | SegAttr.DB | SegAttr.G | (0xf << 8); // limit 19:16 dropped
    expect(packAttrib(data32)).toBe(0xc93);
  });

  it('unpackAttrib inverts packAttrib on every 12-bit attrib', () => {
    for (let a = 0; a < 0x1000; a++) expect(packAttrib(unpackAttrib(a))).toBe(a);
  });

  const arbSeg = fc.record({
    selector: fc.nat(0xffff),
    baseLo: fc.nat(0xffffffff),
    baseHi: fc.nat(0xffffffff),
    limit: fc.nat(0xffffffff),
    attr: fc.nat(0xffff).map((a) => (a & 0xf0ff) | SegAttr.P),
    valid: fc.constant(true),
  });

  it('a usable segment survives the round trip exactly (attr limit bits aside)', () => {
    fc.assert(fc.property(arbSeg, (sc: SegmentCache) => {
      expect(segmentFromVmcb(segmentToVmcb(sc), false)).toEqual(sc);
    }));
  });

  it('an unusable segment is stored with P clear and comes back unusable; real mode makes every segment usable', () => {
    const nul: SegmentCache = { selector: 0, baseLo: 0x1000, baseHi: 0, limit: 0xffff, attr: 0x93, valid: false };
    const v = segmentToVmcb(nul);
    expect(v.attrib & 0x80).toBe(0);
    expect(segmentFromVmcb(v, false).valid).toBe(false);
    expect(segmentFromVmcb({ selector: 0x1234, attrib: 0, limit: 0xffff, base: u64(0x12340) }, true)).toEqual({
      selector: 0x1234, baseLo: 0x12340, baseHi: 0, limit: 0xffff, attr: 0, valid: true,
    });
  });
});
