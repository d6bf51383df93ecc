/**
 * Shared helpers of the system layer: control-register and EFER bits, 64-bit arithmetic on 32-bit
 * halves, operand access for the system instructions, stack addressing, and the descriptor format
 * (SDM Vol. 3A, 3.4.5).
 */
import { Fault, Priv, Vec, type CpuCore } from './core.ts';
import { Seg, type Insn, type MemOperand, type Operand, type SegIndex } from './insn.ts';
import { SegAttr, type SegmentCache } from './state.ts';

/** CR0 bits (SDM Vol. 3A, 2.5). */
export const CR0 = {
  PE: 1 << 0, MP: 1 << 1, EM: 1 << 2, TS: 1 << 3, ET: 1 << 4, NE: 1 << 5, WP: 1 << 16, AM: 1 << 18,
  NW: 1 << 29, CD: 1 << 30, PG: 0x80000000,
} as const;

/** CR4 bits (SDM Vol. 3A, 2.5). */
export const CR4 = {
  VME: 1 << 0, PVI: 1 << 1, TSD: 1 << 2, DE: 1 << 3, PSE: 1 << 4, PAE: 1 << 5, MCE: 1 << 6, PGE: 1 << 7,
  PCE: 1 << 8, OSFXSR: 1 << 9, OSXMMEXCPT: 1 << 10, UMIP: 1 << 11, LA57: 1 << 12, VMXE: 1 << 13,
  SMXE: 1 << 14, FSGSBASE: 1 << 16, PCIDE: 1 << 17, OSXSAVE: 1 << 18, SMEP: 1 << 20, SMAP: 1 << 21, PKE: 1 << 22,
} as const;

/** IA32_EFER bits (SDM Vol. 3A, 2.2.1; AMD APM Vol. 2, 3.1.7). */
export const EFER = { SCE: 1 << 0, LME: 1 << 8, LMA: 1 << 10, NXE: 1 << 11, SVME: 1 << 12 } as const;

export const gp = (code = 0): Fault => new Fault(Vec.GP, code);
export const ud = (): Fault => new Fault(Vec.UD);

/** Scratch output for functions that produce a 64-bit value as halves. */
export const r64 = { lo: 0, hi: 0 };

/** (aHi:aLo) + (bHi:bLo) mod 2^64 into r64. */
export function add64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const s = aLo + bLo;
  r64.lo = s >>> 0;
  r64.hi = (aHi + bHi + (s > 0xffffffff ? 1 : 0)) >>> 0;
}

/** (hi:lo) + a small signed integer, mod 2^64, into r64. */
export function addSmall(lo: number, hi: number, delta: number): void {
  add64(lo, hi, delta >>> 0, delta < 0 ? 0xffffffff : 0);
}

/** Whether a 64-bit address is canonical for the given linear-address width (48 or 57). */
export function isCanonical(lo: number, hi: number, bits = 48): boolean {
  void lo;
  const shift = 64 - bits;
  return ((hi << shift) >> shift) >>> 0 === hi >>> 0;
}

/** Linear-address width: 57 with CR4.LA57 in IA-32e mode, else 48. */
export function linearBits(cpu: CpuCore): number {
  return (cpu.state.cr4 & CR4.LA57) !== 0 ? 57 : 48;
}

export function canonical(cpu: CpuCore, lo: number, hi: number): boolean {
  return isCanonical(lo, hi, linearBits(cpu));
}

// ---- general registers ----

/** Reads a register; for size 8 the high half goes to r64.hi (else r64.hi = 0). */
export function readReg(cpu: CpuCore, reg: number, size: 1 | 2 | 4 | 8, high8 = false): number {
  const st = cpu.state;
  r64.hi = 0;
  if (size === 8) {
    r64.hi = st.regHi[reg]!;
    return st.regLo[reg]!;
  }
  if (size === 4) return st.regLo[reg]!;
  if (size === 2) return st.regLo[reg]! & 0xffff;
  return high8 ? (st.regLo[reg & 3]! >>> 8) & 0xff : st.regLo[reg]! & 0xff;
}

/** Writes a register with x86 width rules: a 32-bit write zeroes the high half; 8/16-bit writes merge. */
export function writeReg(cpu: CpuCore, reg: number, size: 1 | 2 | 4 | 8, lo: number, hi = 0, high8 = false): void {
  const st = cpu.state;
  if (size === 8) {
    st.regLo[reg] = lo;
    st.regHi[reg] = hi;
  } else if (size === 4) {
    st.regLo[reg] = lo;
    st.regHi[reg] = 0;
  } else if (size === 2) {
    st.regLo[reg] = (st.regLo[reg]! & 0xffff0000) | (lo & 0xffff);
  } else if (high8) {
    st.regLo[reg & 3] = (st.regLo[reg & 3]! & 0xffff00ff) | ((lo & 0xff) << 8);
  } else {
    st.regLo[reg] = (st.regLo[reg]! & 0xffffff00) | (lo & 0xff);
  }
}

// ---- memory operands ----

/** Effective address (offset within the segment) of a memory operand into r64. */
export function effAddr(cpu: CpuCore, m: MemOperand, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  let lo = m.dispLo >>> 0;
  let hi = m.dispHi >>> 0;
  if (m.ripRel) {
    add64(lo, hi, nextLo, nextHi);
    lo = r64.lo;
    hi = r64.hi;
  } else if (m.base >= 0) {
    add64(lo, hi, st.regLo[m.base]!, st.regHi[m.base]!);
    lo = r64.lo;
    hi = r64.hi;
  }
  if (m.index >= 0) {
    const p = st.regLo[m.index]! * m.scale;
    const carry = Math.floor(p / 0x100000000);
    add64(lo, hi, p >>> 0, (st.regHi[m.index]! * m.scale + carry) >>> 0);
    lo = r64.lo;
    hi = r64.hi;
  }
  if (m.addrSize === 2) {
    r64.lo = lo & 0xffff;
    r64.hi = 0;
  } else if (m.addrSize === 4) {
    r64.lo = lo;
    r64.hi = 0;
  } else {
    r64.lo = lo;
    r64.hi = hi;
  }
}

/** Reads `size` bytes at a memory operand plus `extra` bytes (for multi-part operands); high half in r64.hi. */
export function readMem(cpu: CpuCore, m: MemOperand, size: 1 | 2 | 4 | 8, nextLo: number, nextHi: number, extra = 0): number {
  effAddr(cpu, m, nextLo, nextHi);
  let lo = r64.lo;
  let hi = r64.hi;
  if (extra !== 0) {
    addSmall(lo, hi, extra);
    lo = m.addrSize === 2 ? r64.lo & 0xffff : r64.lo;
    hi = m.addrSize === 8 ? r64.hi : 0;
  }
  const v = cpu.segRead(m.seg, lo, hi, size);
  r64.hi = size === 8 ? cpu.hiOut : 0;
  return v;
}

export function writeMem(cpu: CpuCore, m: MemOperand, size: 1 | 2 | 4 | 8, vLo: number, vHi: number, nextLo: number, nextHi: number, extra = 0): void {
  effAddr(cpu, m, nextLo, nextHi);
  let lo = r64.lo;
  let hi = r64.hi;
  if (extra !== 0) {
    addSmall(lo, hi, extra);
    lo = m.addrSize === 2 ? r64.lo & 0xffff : r64.lo;
    hi = m.addrSize === 8 ? r64.hi : 0;
  }
  cpu.segWrite(m.seg, lo, hi, size, vLo, vHi);
}

/** Reads a register, memory or immediate operand of the given size (high half in r64.hi). */
export function readOperand(cpu: CpuCore, op: Operand | undefined, size: 1 | 2 | 4 | 8, nextLo: number, nextHi: number): number {
  if (op === undefined) throw ud();
  switch (op.kind) {
    case 'reg':
      return readReg(cpu, op.reg, size, op.high8);
    case 'mem':
      return readMem(cpu, op, size, nextLo, nextHi);
    case 'imm':
      r64.hi = size === 8 ? op.hi : 0;
      return size === 1 ? op.lo & 0xff : size === 2 ? op.lo & 0xffff : op.lo >>> 0;
    default:
      throw ud();
  }
}

export function writeOperand(cpu: CpuCore, op: Operand | undefined, size: 1 | 2 | 4 | 8, lo: number, hi: number, nextLo: number, nextHi: number): void {
  if (op === undefined) throw ud();
  if (op.kind === 'reg') writeReg(cpu, op.reg, size, lo, hi, op.high8);
  else if (op.kind === 'mem') writeMem(cpu, op, size, lo, hi, nextLo, nextHi);
  else throw ud();
}

// ---- the stack ----

/** The stack-address size: 8 in 64-bit mode, else 4 or 2 by SS.B (SDM Vol. 3A, 6.2.3). */
export function stackAddrSize(cpu: CpuCore): 2 | 4 | 8 {
  if (cpu.mode() === 'long64') return 8;
  return (cpu.state.seg[Seg.SS]!.attr & SegAttr.DB) !== 0 ? 4 : 2;
}

/** RSP + delta, wrapped to the stack-address size, into r64. */
export function stackOffset(cpu: CpuCore, delta: number): void {
  const st = cpu.state;
  const sz = stackAddrSize(cpu);
  addSmall(st.regLo[4]!, st.regHi[4]!, delta);
  if (sz === 2) {
    r64.lo &= 0xffff;
    r64.hi = 0;
  } else if (sz === 4) r64.hi = 0;
}

/** Reads `size` bytes at SS:(RSP + delta) without changing RSP; high half in r64.hi. */
export function stackPeek(cpu: CpuCore, delta: number, size: 2 | 4 | 8): number {
  stackOffset(cpu, delta);
  const v = cpu.segRead(Seg.SS, r64.lo, r64.hi, size);
  r64.hi = size === 8 ? cpu.hiOut : 0;
  return v;
}

/** Writes at SS:(RSP + delta) without changing RSP. */
export function stackPoke(cpu: CpuCore, delta: number, size: 2 | 4 | 8, lo: number, hi: number): void {
  stackOffset(cpu, delta);
  cpu.segWrite(Seg.SS, r64.lo, r64.hi, size, lo, hi);
}

/** RSP += delta with the stack-address size (only SP changes with a 16-bit stack). */
export function adjustRsp(cpu: CpuCore, delta: number): void {
  stackOffset(cpu, delta);
  setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
}

export function setRspSized(cpu: CpuCore, lo: number, hi: number, size: 2 | 4 | 8): void {
  const st = cpu.state;
  if (size === 2) st.regLo[4] = (st.regLo[4]! & 0xffff0000) | (lo & 0xffff);
  else {
    st.regLo[4] = lo >>> 0;
    st.regHi[4] = size === 8 ? hi >>> 0 : 0;
  }
}

// ---- descriptors (SDM Vol. 3A, 3.4.5 and 3.5) ----

/** A descriptor as read from a table: its two dwords and where it lives. */
export interface Desc {
  lo: number;
  hi: number;
  /** The upper 8 bytes of a 16-byte system descriptor in IA-32e mode (base 63:32 in `hi2lo`). */
  hi2lo: number;
  hi2hi: number;
  addrLo: number;
  addrHi: number;
}

/** Attribute field (descriptor bits 40..55) of a descriptor's high dword, in SegmentCache.attr layout. */
export const descAttr = (hi: number): number => (hi >>> 8) & 0xffff;
export const attrType = (attr: number): number => attr & SegAttr.TYPE_MASK;
export const attrDpl = (attr: number): number => (attr >>> SegAttr.DPL_SHIFT) & 3;
export const attrPresent = (attr: number): boolean => (attr & SegAttr.P) !== 0;
/** S = 1: a code or data segment (not a system descriptor). */
export const attrIsSeg = (attr: number): boolean => (attr & SegAttr.S) !== 0;
export const attrIsCode = (attr: number): boolean => attrIsSeg(attr) && (attr & 8) !== 0;
export const attrIsData = (attr: number): boolean => attrIsSeg(attr) && (attr & 8) === 0;
export const attrConforming = (attr: number): boolean => attrIsCode(attr) && (attr & 4) !== 0;
export const attrReadableCode = (attr: number): boolean => attrIsCode(attr) && (attr & 2) !== 0;
export const attrWritableData = (attr: number): boolean => attrIsData(attr) && (attr & 2) !== 0;

export function descBaseLo(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
}

/** Byte-granular limit: 20-bit field scaled by G (SDM Vol. 3A, 3.4.5). */
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/**
 * Locates and reads the descriptor a selector names. Returns null when the selector is outside the
 * table's limit (or names the LDT while LDTR is null). `size16` asks for a 16-byte system descriptor.
 */
export function readDescriptor(cpu: CpuCore, sel: number, size16 = false): Desc | null {
  const st = cpu.state;
  const idx = sel & 0xfff8;
  let baseLo: number;
  let baseHi: number;
  let limit: number;
  if ((sel & 4) !== 0) {
    if (!st.ldtr.valid || (st.ldtr.selector & 0xfffc) === 0) return null;
    baseLo = st.ldtr.baseLo;
    baseHi = st.ldtr.baseHi;
    limit = st.ldtr.limit;
  } else {
    baseLo = st.gdtr.baseLo;
    baseHi = st.gdtr.baseHi;
    limit = st.gdtr.limit;
  }
  if (idx + (size16 ? 15 : 7) > limit) return null;
  add64(baseLo, baseHi, idx, 0);
  const aLo = r64.lo;
  const aHi = (st.efer & EFER.LMA) !== 0 ? r64.hi : 0;
  const lo = cpu.linRead(aLo, aHi, 4, Priv.SUPERVISOR);
  addSmall(aLo, aHi, 4);
  const hi = cpu.linRead(r64.lo, r64.hi, 4, Priv.SUPERVISOR);
  let hi2lo = 0;
  let hi2hi = 0;
  if (size16) {
    addSmall(aLo, aHi, 8);
    const l2 = r64.lo;
    const h2 = r64.hi;
    hi2lo = cpu.linRead(l2, h2, 4, Priv.SUPERVISOR);
    addSmall(aLo, aHi, 12);
    hi2hi = cpu.linRead(r64.lo, r64.hi, 4, Priv.SUPERVISOR);
  }
  return { lo, hi, hi2lo, hi2hi, addrLo: aLo, addrHi: aHi };
}

/** As readDescriptor, but a selector outside the table raises `vector`(selector & ~3 | ext). */
export function fetchDescriptor(cpu: CpuCore, sel: number, vector: number, ext: number, size16 = false): Desc {
  const d = readDescriptor(cpu, sel, size16);
  if (d === null) throw new Fault(vector, (sel & 0xfffc) | ext);
  return d;
}

/** Sets the accessed bit (type bit 0) of a code/data descriptor in memory, if it is clear (SDM Vol. 3A, 3.4.5.1). */
export function setAccessed(cpu: CpuCore, d: Desc): void {
  if ((d.hi & 0x100) !== 0) return;
  addSmall(d.addrLo, d.addrHi, 5);
  cpu.linWrite(r64.lo, r64.hi, 1, ((d.hi >>> 8) | 1) & 0xff, 0, Priv.SUPERVISOR);
  d.hi |= 0x100;
}

/** Fills a segment cache from a descriptor (the hidden part of a segment register). */
export function loadCache(c: SegmentCache, sel: number, d: Desc, baseHi = 0): void {
  c.selector = sel & 0xffff;
  c.baseLo = descBaseLo(d.lo, d.hi);
  c.baseHi = baseHi >>> 0;
  c.limit = descLimit(d.lo, d.hi);
  c.attr = descAttr(d.hi);
  c.valid = true;
}

/** A flat segment cache as SYSCALL/SYSENTER set it (base 0, limit 4 GiB, G = 1, P = 1, S = 1). */
export function flatCache(c: SegmentCache, sel: number, type: number, dpl: number, l: boolean, db: boolean): void {
  c.selector = sel & 0xffff;
  c.baseLo = 0;
  c.baseHi = 0;
  c.limit = 0xffffffff;
  c.attr = type | SegAttr.S | (dpl << SegAttr.DPL_SHIFT) | SegAttr.P | SegAttr.G | (l ? SegAttr.L : 0) | (db ? SegAttr.DB : 0);
  c.valid = true;
}

/** Whether `mnemonic`'s memory operand is a far pointer m16:16 / m16:32 / m16:64 (FF /3, FF /5). */
export function isFarMem(insn: Insn): boolean {
  const op = insn.operands[0];
  return op !== undefined && op.kind === 'mem' && op.size === insn.opSize + 2;
}

