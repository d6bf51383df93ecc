import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AF, CF, OF, PF, SF, ZF, R, add, add32, add64, sub, sub32, sub64, logic, logic64, shift,
  LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC, LF_KIND_SHIFT, lazyStatus, lazyStatus64, lazyCf, lazyCf64,
} from './alu.ts';

// A bigint model of the SDM's flag definitions (Vol. 1, 3.4.3.1; Vol. 2 per instruction).
const SIZES = [1, 2, 4, 8] as const;
const bitsOf = (s: number): bigint => BigInt(s * 8);
const maskB = (s: number): bigint => (1n << bitsOf(s)) - 1n;
const msb = (v: bigint, s: number): number => Number((v >> (bitsOf(s) - 1n)) & 1n);
function parity(v: bigint): number {
  let n = 0;
  for (let b = Number(v & 0xffn); b !== 0; b >>= 1) n += b & 1;
  return n % 2 === 0 ? PF : 0;
}
const szp = (r: bigint, s: number): number => (r === 0n ? ZF : 0) | (msb(r, s) ? SF : 0) | parity(r);

function modelAdd(s: number, a: bigint, b: bigint, c: bigint): { r: bigint; f: number } {
  const full = a + b + c;
  const r = full & maskB(s);
  const of = msb(a, s) === msb(b, s) && msb(r, s) !== msb(a, s);
  return { r, f: (full > maskB(s) ? CF : 0) | (((a ^ b ^ r) & 0x10n) !== 0n ? AF : 0) | (of ? OF : 0) | szp(r, s) };
}
function modelSub(s: number, a: bigint, b: bigint, c: bigint): { r: bigint; f: number } {
  const full = a - b - c;
  const r = full & maskB(s);
  const of = msb(a, s) !== msb(b, s) && msb(r, s) !== msb(a, s);
  return { r, f: (full < 0n ? CF : 0) | (((a ^ b ^ r) & 0x10n) !== 0n ? AF : 0) | (of ? OF : 0) | szp(r, s) };
}

const arbVal = (s: number): fc.Arbitrary<bigint> =>
  fc.oneof(fc.bigInt({ min: 0n, max: maskB(s) }), fc.constantFrom(0n, 1n, maskB(s), maskB(s) >> 1n, (maskB(s) >> 1n) + 1n));

const lo = (v: bigint): number => Number(v & 0xffffffffn);
const hi = (v: bigint): number => Number(v >> 32n);
const res = (s: number): bigint => (s === 8 ? (BigInt(R.hi) << 32n) | BigInt(R.lo) : BigInt(R.lo));

function runAdd(s: number, a: bigint, b: bigint, c: number): number {
  return s === 8 ? add64(lo(a), hi(a), lo(b), hi(b), c) : add(s, Number(a), Number(b), c);
}
function runSub(s: number, a: bigint, b: bigint, c: number): number {
  return s === 8 ? sub64(lo(a), hi(a), lo(b), hi(b), c) : sub(s, Number(a), Number(b), c);
}

describe('alu flags against a bigint model of the SDM definitions', () => {
  for (const s of SIZES) {
    it(`add/adc (${s * 8}-bit): result, CF PF AF ZF SF OF`, () => {
      fc.assert(fc.property(arbVal(s), arbVal(s), fc.integer({ min: 0, max: 1 }), (a, b, c) => {
        const f = runAdd(s, a, b, c);
        const m = modelAdd(s, a, b, BigInt(c));
        expect(res(s)).toBe(m.r);
        expect(f).toBe(m.f);
      }));
    });
    it(`sub/sbb/cmp/neg (${s * 8}-bit): result, CF PF AF ZF SF OF`, () => {
      fc.assert(fc.property(arbVal(s), arbVal(s), fc.integer({ min: 0, max: 1 }), (a, b, c) => {
        const f = runSub(s, a, b, c);
        const m = modelSub(s, a, b, BigInt(c));
        expect(res(s)).toBe(m.r);
        expect(f).toBe(m.f);
        const fn = runSub(s, 0n, b, 0); // NEG: CF = (source != 0)
        expect((fn & CF) !== 0).toBe(b !== 0n);
      }));
    });
    it(`inc/dec (${s * 8}-bit) as add/sub of 1: PF AF ZF SF OF`, () => {
      fc.assert(fc.property(arbVal(s), (a) => {
        const fi = runAdd(s, a, 1n, 0);
        expect(fi & ~CF).toBe(modelAdd(s, a, 1n, 0n).f & ~CF);
        const fd = runSub(s, a, 1n, 0);
        expect(fd & ~CF).toBe(modelSub(s, a, 1n, 0n).f & ~CF);
      }));
    });
    it(`and/or/xor (${s * 8}-bit): CF = OF = 0, ZF SF PF from the result`, () => {
      fc.assert(fc.property(arbVal(s), arbVal(s), (a, b) => {
        for (const r of [a & b, a | b, a ^ b]) {
          const f = s === 8 ? logic64(lo(r), hi(r)) : logic(s, Number(r));
          expect(f & (CF | OF | ZF | SF | PF)).toBe(szp(r, s));
        }
      }));
    });
  }
  it('add32/sub32 (hot path) equal add/sub of size 4', () => {
    fc.assert(fc.property(arbVal(4), arbVal(4), (a, b) => {
      expect(add32(Number(a), Number(b))).toBe(add(4, Number(a), Number(b), 0));
      const r1 = R.lo;
      expect(sub32(Number(a), Number(b))).toBe(sub(4, Number(a), Number(b), 0));
      expect(r1).toBe(Number((a + b) & 0xffffffffn));
    }));
  });
});

// Shift/rotate model: defined flags only (CF for counts inside the width, OF for a count of 1).
function modelShift(op: string, s: number, a: bigint, count: number, cfIn: number): { r: bigint; cf: number | null; of: number | null; szp: boolean } {
  const bits = Number(bitsOf(s));
  const c = count & (s === 8 ? 0x3f : 0x1f);
  const m = maskB(s);
  const bit = (v: bigint, n: number): number => Number((v >> BigInt(n)) & 1n);
  switch (op) {
    case 'shl': {
      const r = (a << BigInt(c)) & m;
      const cf = c <= bits ? bit(a, bits - c) : null;
      return { r, cf, of: c === 1 ? msb(r, s) ^ cf! : null, szp: true };
    }
    case 'shr': {
      const r = a >> BigInt(c);
      return { r, cf: c <= bits ? bit(a, c - 1) : null, of: c === 1 ? msb(a, s) : null, szp: true };
    }
    case 'sar': {
      const sa = BigInt.asIntN(bits, a);
      const r = (sa >> BigInt(c)) & m;
      return { r, cf: Number((sa >> BigInt(c - 1)) & 1n), of: c === 1 ? 0 : null, szp: true };
    }
    case 'rol': {
      const k = c % bits;
      const r = ((a << BigInt(k)) | (a >> BigInt(bits - k))) & m;
      const cf = Number(r & 1n);
      return { r, cf, of: c === 1 ? msb(r, s) ^ cf : null, szp: false };
    }
    case 'ror': {
      const k = c % bits;
      const r = ((a >> BigInt(k)) | (a << BigInt(bits - k))) & m;
      const cf = msb(r, s);
      return { r, cf, of: c === 1 ? cf ^ bit(r, bits - 2) : null, szp: false };
    }
    case 'rcl': case 'rcr': {
      const k = s === 1 ? c % 9 : s === 2 ? c % 17 : c;
      const w = BigInt(bits + 1);
      const full = (BigInt(cfIn) << BigInt(bits)) | a; // CF above the operand
      const mk = (1n << w) - 1n;
      const rot = op === 'rcl' ? ((full << BigInt(k)) | (full >> (w - BigInt(k)))) & mk : ((full >> BigInt(k)) | (full << (w - BigInt(k)))) & mk;
      const r = rot & m;
      const cf = Number(rot >> BigInt(bits));
      const of = c !== 1 ? null : op === 'rcl' ? msb(r, s) ^ cf : msb(a, s) ^ cfIn;
      return { r, cf, of, szp: false };
    }
  }
  throw new Error(op);
}

describe('shifts and rotates against a bigint model', () => {
  for (const op of ['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']) {
    for (const s of SIZES) {
      it(`${op} (${s * 8}-bit): result and the defined flags; masked count 0 changes nothing`, () => {
        fc.assert(fc.property(arbVal(s), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 1 }), fc.constantFrom(0x2, 0x8d7, 0x202), (a, count, cfIn, base) => {
          const flagsIn = (base & ~CF) | cfIn;
          const f = shift(op, s, lo(a), s === 8 ? hi(a) : 0, count, flagsIn);
          const c = count & (s === 8 ? 0x3f : 0x1f);
          if (c === 0) {
            expect(f).toBe(flagsIn);
            expect(res(s)).toBe(a);
            return;
          }
          const m = modelShift(op, s, a, count, cfIn);
          expect(res(s)).toBe(m.r);
          if (m.cf !== null) expect(f & CF).toBe(m.cf);
          if (m.of !== null) expect((f & OF) !== 0 ? 1 : 0).toBe(m.of);
          if (m.szp) expect(f & (ZF | SF | PF)).toBe(szp(m.r, s));
          else expect(f & (ZF | SF | PF | AF)).toBe(flagsIn & (ZF | SF | PF | AF));
        }));
      });
    }
  }
});

describe('lazy status flags equal the eager ones (alu.ts lazyStatus, lazyStatus64, lazyCf)', () => {
  for (const s of SIZES) {
    // Besides arbVal: values around the sign boundary and with a set sign bit over a random low word.
    const sign = 1n << (bitsOf(s) - 1n);
    const arb = fc.oneof(
      arbVal(s),
      fc.bigInt({ min: -3n, max: 3n }).map((d) => (sign + d) & maskB(s)),
      fc.bigInt({ min: 0n, max: 0xffffffffn }).map((x) => (sign | x) & maskB(s)),
    );
    it(`add, sub/cmp, logic, inc, dec (${s * 8}-bit): all six status flags and CF`, () => {
      fc.assert(fc.property(arb, arb, fc.integer({ min: 0, max: 1 }), (a, b, cfIn) => {
        const check = (kind: number, x: bigint, y: bigint, eager: number): void => {
          const op = (kind << LF_KIND_SHIFT) | s;
          const r = res(s);
          const lazy = s === 8
            ? lazyStatus64(op, lo(x), hi(x), lo(y), hi(y), lo(r), hi(r), cfIn)
            : lazyStatus(op, Number(x), Number(y), Number(r), cfIn);
          expect(lazy).toBe(eager);
          const cf = s === 8
            ? lazyCf64(op, lo(x), hi(x), lo(y), hi(y), lo(r), hi(r), cfIn)
            : lazyCf(op, Number(x), Number(y), Number(r), cfIn);
          expect(cf).toBe(eager & CF);
        };
        check(LF_ADD, a, b, runAdd(s, a, b, 0));
        check(LF_SUB, a, b, runSub(s, a, b, 0));
        const x = a ^ b;
        check(LF_LOGIC, a, b, s === 8 ? logic64(lo(x), hi(x)) : logic(s, Number(x)));
        // INC and DEC leave CF as it was (SDM Vol. 2, INC, DEC).
        check(LF_INC, a, 1n, (runAdd(s, a, 1n, 0) & ~CF) | cfIn);
        check(LF_DEC, a, 1n, (runSub(s, a, 1n, 0) & ~CF) | cfIn);
      }), { numRuns: 2000 });
    });
  }
});
