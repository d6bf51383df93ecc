/**
 * Integer arithmetic and the status flags it produces (SDM Vol. 1, 3.4.3.1; Vol. 2, each
 * instruction's "Flags Affected"). Operands of 1, 2 and 4 bytes are unsigned numbers; 8-byte
 * operands are 32-bit halves. Every function returns the new status-flag bits (CF PF AF ZF SF OF)
 * and leaves the result in `R.lo` / `R.hi`. Flags the SDM leaves undefined are set
 * deterministically (AF = 0 after logic operations and shifts; OF after multi-bit shifts as for
 * a count of 1).
 */

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const OF = 0x800;
/** The six status flags (SDM Vol. 1, 3.4.3.1). */
export const STATUS = CF | PF | AF | ZF | SF | OF;

/** PF is set when the low byte of the result has an even number of 1 bits. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let n = 0;
  for (let b = i; b !== 0; b >>= 1) n += b & 1;
  PARITY[i] = (n & 1) === 0 ? PF : 0;
}

/** Scratch result of the last operation (no allocation in the hot path). */
export const R = { lo: 0, hi: 0 };

export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff] as const;
export const SIGN = [0, 0x80, 0x8000, 0, 0x80000000] as const;

export function maskOf(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}
export function signOf(size: number): number {
  return size === 1 ? 0x80 : size === 2 ? 0x8000 : 0x80000000;
}

/** ZF, SF, PF of a 1/2/4-byte result. */
export function szp(r: number, sign: number): number {
  return (r === 0 ? ZF : 0) | ((r & sign) !== 0 ? SF : 0) | PARITY[r & 0xff]!;
}

function szp64(lo: number, hi: number): number {
  return ((lo | hi) === 0 ? ZF : 0) | ((hi & 0x80000000) !== 0 ? SF : 0) | PARITY[lo & 0xff]!;
}

// ---- add / adc ------------------------------------------------------------------------------

export function add(size: number, a: number, b: number, cin: number): number {
  const mask = maskOf(size);
  const sign = signOf(size);
  const t = a + b + cin;
  const r = size === 4 ? t >>> 0 : t & mask;
  R.lo = r;
  R.hi = 0;
  return (t > mask ? CF : 0) | ((a ^ b ^ r) & AF) | (((a ^ r) & (b ^ r) & sign) !== 0 ? OF : 0) | szp(r, sign);
}

export function add64(aLo: number, aHi: number, bLo: number, bHi: number, cin: number): number {
  const l = aLo + bLo + cin;
  const rLo = l >>> 0;
  const h = aHi + bHi + (l > 0xffffffff ? 1 : 0);
  const rHi = h >>> 0;
  R.lo = rLo;
  R.hi = rHi;
  return (h > 0xffffffff ? CF : 0) | ((aLo ^ bLo ^ rLo) & AF) | (((aHi ^ rHi) & (bHi ^ rHi) & 0x80000000) !== 0 ? OF : 0) | szp64(rLo, rHi);
}

/** 32-bit ADD without carry in (the hot path). */
export function add32(a: number, b: number): number {
  const t = a + b;
  const r = t >>> 0;
  R.lo = r;
  return (t > 0xffffffff ? CF : 0) | ((a ^ b ^ r) & AF) | (((a ^ r) & (b ^ r)) < 0 ? OF : 0) | (r === 0 ? ZF : 0) | ((r >>> 24) & SF) | PARITY[r & 0xff]!;
}

/** 32-bit SUB without borrow in (the hot path). */
export function sub32(a: number, b: number): number {
  const t = a - b;
  const r = t >>> 0;
  R.lo = r;
  return (t < 0 ? CF : 0) | ((a ^ b ^ r) & AF) | (((a ^ b) & (a ^ r)) < 0 ? OF : 0) | (r === 0 ? ZF : 0) | ((r >>> 24) & SF) | PARITY[r & 0xff]!;
}

// ---- sub / sbb / cmp ------------------------------------------------------------------------

export function sub(size: number, a: number, b: number, bin: number): number {
  const sign = signOf(size);
  const t = a - b - bin;
  const r = size === 4 ? t >>> 0 : t & maskOf(size);
  R.lo = r;
  R.hi = 0;
  return (t < 0 ? CF : 0) | ((a ^ b ^ r) & AF) | (((a ^ b) & (a ^ r) & sign) !== 0 ? OF : 0) | szp(r, sign);
}

export function sub64(aLo: number, aHi: number, bLo: number, bHi: number, bin: number): number {
  const l = aLo - bLo - bin;
  const rLo = l >>> 0;
  const h = aHi - bHi - (l < 0 ? 1 : 0);
  const rHi = h >>> 0;
  R.lo = rLo;
  R.hi = rHi;
  return (h < 0 ? CF : 0) | ((aLo ^ bLo ^ rLo) & AF) | (((aHi ^ bHi) & (aHi ^ rHi) & 0x80000000) !== 0 ? OF : 0) | szp64(rLo, rHi);
}

// ---- logic: CF = OF = 0, AF undefined (0 here) ----------------------------------------------

export function logic(size: number, r: number): number {
  R.lo = r;
  R.hi = 0;
  return szp(r, signOf(size));
}

export function logic64(lo: number, hi: number): number {
  R.lo = lo;
  R.hi = hi;
  return szp64(lo, hi);
}

// ---- inc / dec / neg: inc and dec keep CF (callers merge) -----------------------------------

/** NEG: CF = (source ≠ 0); the others as for 0 − source. */
export function neg(size: number, a: number): number {
  return sub(size, 0, a, 0);
}
export function neg64(lo: number, hi: number): number {
  return sub64(0, 0, lo, hi, 0);
}

// ---- 64-bit shift helpers (counts 0..63) ----------------------------------------------------

export function shl64(lo: number, hi: number, c: number): void {
  if (c === 0) { R.lo = lo; R.hi = hi; }
  else if (c < 32) { R.hi = ((hi << c) | (lo >>> (32 - c))) >>> 0; R.lo = (lo << c) >>> 0; }
  else { R.hi = (lo << (c - 32)) >>> 0; R.lo = 0; }
}
export function shr64(lo: number, hi: number, c: number): void {
  if (c === 0) { R.lo = lo; R.hi = hi; }
  else if (c < 32) { R.lo = ((lo >>> c) | (hi << (32 - c))) >>> 0; R.hi = hi >>> c; }
  else { R.lo = hi >>> (c - 32); R.hi = 0; }
}
export function sar64(lo: number, hi: number, c: number): void {
  if (c === 0) { R.lo = lo; R.hi = hi; }
  else if (c < 32) { R.lo = ((lo >>> c) | (hi << (32 - c))) >>> 0; R.hi = (hi >> c) >>> 0; }
  else { R.lo = (hi >> (c - 32)) >>> 0; R.hi = (hi >> 31) >>> 0; }
}
function bit64(lo: number, hi: number, n: number): number {
  return n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
}

/**
 * Shifts and rotates. `op` is one of 'rol' 'ror' 'rcl' 'rcr' 'shl' 'shr' 'sar'; `count` is the
 * raw count (masked here to 5 bits, or 6 for 8-byte operands). `flags` is the current RFLAGS.
 * Returns the new RFLAGS in full (a masked count of 0 changes nothing).
 */
export function shift(op: string, size: number, lo: number, hi: number, count: number, flags: number): number {
  const bits = size * 8;
  const c = count & (size === 8 ? 0x3f : 0x1f);
  R.lo = lo;
  R.hi = hi;
  if (c === 0) return flags;
  const cfIn = flags & CF;
  let f = flags;
  if (size === 8) {
    switch (op) {
      case 'shl': case 'sal': {
        const cf = bit64(lo, hi, 64 - c);
        shl64(lo, hi, c);
        const msb = R.hi >>> 31;
        return (f & ~STATUS) | cf | szp64(R.lo, R.hi) | ((msb ^ cf) !== 0 ? OF : 0);
      }
      case 'shr': {
        const cf = bit64(lo, hi, c - 1);
        const of = hi >>> 31;
        shr64(lo, hi, c);
        return (f & ~STATUS) | cf | szp64(R.lo, R.hi) | (of !== 0 ? OF : 0);
      }
      case 'sar': {
        const cf = bit64(lo, hi, c - 1);
        sar64(lo, hi, c);
        return (f & ~STATUS) | cf | szp64(R.lo, R.hi);
      }
      case 'rol': {
        shl64(lo, hi, c);
        const aL = R.lo, aH = R.hi;
        shr64(lo, hi, 64 - c);
        R.lo = (aL | R.lo) >>> 0; R.hi = (aH | R.hi) >>> 0;
        const cf = R.lo & 1;
        return (f & ~(CF | OF)) | cf | (((R.hi >>> 31) ^ cf) !== 0 ? OF : 0);
      }
      case 'ror': {
        shr64(lo, hi, c);
        const aL = R.lo, aH = R.hi;
        shl64(lo, hi, 64 - c);
        R.lo = (aL | R.lo) >>> 0; R.hi = (aH | R.hi) >>> 0;
        const cf = R.hi >>> 31;
        return (f & ~(CF | OF)) | cf | ((cf ^ ((R.hi >>> 30) & 1)) !== 0 ? OF : 0);
      }
      case 'rcl': {
        let l = lo, h = hi, cf = cfIn;
        for (let i = 0; i < c; i++) {
          const out = h >>> 31;
          h = ((h << 1) | (l >>> 31)) >>> 0;
          l = ((l << 1) | cf) >>> 0;
          cf = out;
        }
        R.lo = l; R.hi = h;
        return (f & ~(CF | OF)) | cf | (((h >>> 31) ^ cf) !== 0 ? OF : 0);
      }
      case 'rcr': {
        const of = ((hi >>> 31) ^ cfIn) !== 0 ? OF : 0;
        let l = lo, h = hi, cf = cfIn;
        for (let i = 0; i < c; i++) {
          const out = l & 1;
          l = ((l >>> 1) | (h << 31)) >>> 0;
          h = ((h >>> 1) | (cf << 31)) >>> 0;
          cf = out;
        }
        R.lo = l; R.hi = h;
        return (f & ~(CF | OF)) | cf | of;
      }
    }
    throw new Error(`shift: unknown operation ${op}`);
  }
  const mask = maskOf(size);
  const sign = signOf(size);
  const a = lo;
  switch (op) {
    case 'shl': case 'sal': {
      // Counts beyond the width shift everything out; CF is then undefined (0 here).
      const r = c >= bits ? 0 : (size === 4 ? (a << c) >>> 0 : (a << c) & mask);
      const cf = c > bits ? 0 : (a >>> (bits - c)) & 1;
      R.lo = r;
      return (f & ~STATUS) | cf | szp(r, sign) | ((((r & sign) !== 0 ? 1 : 0) ^ cf) !== 0 ? OF : 0);
    }
    case 'shr': {
      const r = c >= bits ? 0 : a >>> c;
      const cf = c > bits ? 0 : (a >>> (c - 1)) & 1;
      R.lo = r;
      return (f & ~STATUS) | cf | szp(r, sign) | ((a & sign) !== 0 ? OF : 0);
    }
    case 'sar': {
      const sx = size === 4 ? a | 0 : (a << (32 - bits)) >> (32 - bits);
      const r = (sx >> Math.min(c, 31)) & mask;
      const rr = size === 4 ? r >>> 0 : r;
      const cf = (sx >> Math.min(c - 1, 31)) & 1;
      R.lo = rr;
      return (f & ~STATUS) | cf | szp(rr, sign);
    }
    case 'rol': {
      const k = c % bits;
      const r = k === 0 ? a : size === 4 ? ((a << k) | (a >>> (bits - k))) >>> 0 : ((a << k) | (a >>> (bits - k))) & mask;
      const cf = r & 1;
      R.lo = r;
      return (f & ~(CF | OF)) | cf | ((((r & sign) !== 0 ? 1 : 0) ^ cf) !== 0 ? OF : 0);
    }
    case 'ror': {
      const k = c % bits;
      const r = k === 0 ? a : size === 4 ? ((a >>> k) | (a << (bits - k))) >>> 0 : ((a >>> k) | (a << (bits - k))) & mask;
      const cf = (r & sign) !== 0 ? 1 : 0;
      const next = (r >>> (bits - 2)) & 1;
      R.lo = r;
      return (f & ~(CF | OF)) | cf | ((cf ^ next) !== 0 ? OF : 0);
    }
    case 'rcl': {
      const k = size === 1 ? c % 9 : size === 2 ? c % 17 : c;
      let r = a, cf = cfIn;
      for (let i = 0; i < k; i++) {
        const out = (r & sign) !== 0 ? 1 : 0;
        r = size === 4 ? ((r << 1) | cf) >>> 0 : ((r << 1) | cf) & mask;
        cf = out;
      }
      R.lo = r;
      return (f & ~(CF | OF)) | cf | ((((r & sign) !== 0 ? 1 : 0) ^ cf) !== 0 ? OF : 0);
    }
    case 'rcr': {
      const k = size === 1 ? c % 9 : size === 2 ? c % 17 : c;
      const of = (((a & sign) !== 0 ? 1 : 0) ^ cfIn) !== 0 ? OF : 0;
      let r = a, cf = cfIn;
      for (let i = 0; i < k; i++) {
        const out = r & 1;
        r = (r >>> 1) | (cf !== 0 ? sign : 0);
        if (size === 4) r >>>= 0;
        cf = out;
      }
      R.lo = r;
      return (f & ~(CF | OF)) | cf | of;
    }
  }
  throw new Error(`shift: unknown operation ${op}`);
}

// ---- multiply / divide helpers --------------------------------------------------------------

/** Unsigned 32×32 → 64: low half in R.lo, high half in R.hi. */
export function mulU32(a: number, b: number): void {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  R.lo = ((mid << 16) | (ll & 0xffff)) >>> 0;
  R.hi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 0x10000)) >>> 0;
}

export function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
export function toSignedBig(lo: number, hi: number): bigint {
  return BigInt.asIntN(64, toBig(lo, hi));
}
/** Writes the low 64 bits of a bigint into R. */
export function fromBig(v: bigint): void {
  const u = BigInt.asUintN(64, v);
  R.lo = Number(u & 0xffffffffn);
  R.hi = Number(u >> 32n);
}

// ---- lazy status flags ----------------------------------------------------------------------
//
// The executor records the last status-flag-producing operation instead of computing its flags:
// an operation code (kind << 4 | operand size in bytes), the operands and the result as unsigned
// numbers masked to the operand size (8-byte operands as lo/hi halves), and for INC/DEC the
// carry flag they leave unchanged. lazyStatus() and lazyStatus64() turn such a record into the
// six status-flag bits, exactly as the eager functions above do.

/** Lazy operation kinds; LF_NONE means RFLAGS holds the status flags itself. */
export const LF_NONE = 0;
export const LF_ADD = 1;
export const LF_SUB = 2;
export const LF_LOGIC = 3;
export const LF_INC = 4;
export const LF_DEC = 5;
/** Bits of a lazy operation code: kind << LF_KIND_SHIFT | size. */
export const LF_KIND_SHIFT = 4;
export const LF_SIZE_MASK = 0xf;

/** The status-flag bits of a lazy record of size 1, 2 or 4. */
export function lazyStatus(op: number, a: number, b: number, r: number, cf: number): number {
  const size = op & LF_SIZE_MASK;
  const sign = size === 4 ? 0x80000000 : size === 2 ? 0x8000 : 0x80;
  const szpf = (r === 0 ? ZF : 0) | ((r & sign) !== 0 ? SF : 0) | PARITY[r & 0xff]!;
  switch (op >> LF_KIND_SHIFT) {
    case LF_ADD: return (r < a ? CF : 0) | ((a ^ b ^ r) & AF) | (((a ^ r) & (b ^ r) & sign) !== 0 ? OF : 0) | szpf;
    case LF_SUB: return (a < b ? CF : 0) | ((a ^ b ^ r) & AF) | (((a ^ b) & (a ^ r) & sign) !== 0 ? OF : 0) | szpf;
    case LF_INC: return cf | ((a ^ 1 ^ r) & AF) | (r === sign ? OF : 0) | szpf;
    case LF_DEC: return cf | ((a ^ 1 ^ r) & AF) | (a === sign ? OF : 0) | szpf;
    default: return szpf;
  }
}

/** The status-flag bits of a lazy record of size 8. */
export function lazyStatus64(op: number, a: number, aH: number, b: number, bH: number, r: number, rH: number, cf: number): number {
  const szpf = ((r | rH) === 0 ? ZF : 0) | ((rH & 0x80000000) !== 0 ? SF : 0) | PARITY[r & 0xff]!;
  switch (op >> LF_KIND_SHIFT) {
    case LF_ADD: return (rH < aH || (rH === aH && r < a) ? CF : 0) | ((a ^ b ^ r) & AF) | (((aH ^ rH) & (bH ^ rH) & 0x80000000) !== 0 ? OF : 0) | szpf;
    case LF_SUB: return (aH < bH || (aH === bH && a < b) ? CF : 0) | ((a ^ b ^ r) & AF) | (((aH ^ bH) & (aH ^ rH) & 0x80000000) !== 0 ? OF : 0) | szpf;
    case LF_INC: return cf | ((a ^ 1 ^ r) & AF) | (rH === 0x80000000 && r === 0 ? OF : 0) | szpf;
    case LF_DEC: return cf | ((a ^ 1 ^ r) & AF) | (aH === 0x80000000 && a === 0 ? OF : 0) | szpf;
    default: return szpf;
  }
}

/** CF of a lazy record of size 1, 2 or 4. */
export function lazyCf(op: number, a: number, b: number, r: number, cf: number): number {
  switch (op >> LF_KIND_SHIFT) {
    case LF_ADD: return r < a ? CF : 0;
    case LF_SUB: return a < b ? CF : 0;
    case LF_LOGIC: return 0;
    default: return cf;
  }
}

/** CF of a lazy record of size 8. */
export function lazyCf64(op: number, a: number, aH: number, b: number, bH: number, r: number, rH: number, cf: number): number {
  switch (op >> LF_KIND_SHIFT) {
    case LF_ADD: return rH < aH || (rH === aH && r < a) ? CF : 0;
    case LF_SUB: return aH < bH || (aH === bH && a < b) ? CF : 0;
    case LF_LOGIC: return 0;
    default: return cf;
  }
}
