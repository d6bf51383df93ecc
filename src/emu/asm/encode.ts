// Instruction encoder: resolved operands → bytes, making the same choices nasm -Ox makes.
// Opcodes from the Intel SDM Vol. 2 (instruction set reference) and AMD APM Vol. 3.

import type { Reg } from './parse.ts';

/** An expression's value: `rel` counts label terms (+1 per label, −1 per subtracted label); 0 = a plain number. */
export interface Value {
  readonly v: bigint;
  readonly rel: number;
  /** A forward reference not yet known in this pass. */
  readonly unknown: boolean;
}

export interface RegOp {
  readonly k: 'reg';
  readonly reg: Reg;
  readonly col: number;
}
export interface MemOp {
  readonly k: 'mem';
  readonly col: number;
  readonly size?: number;
  readonly far: boolean;
  readonly seg?: Reg;
  readonly base?: Reg;
  readonly index?: Reg;
  readonly scale: number;
  readonly disp: Value;
  /** RIP-relative (64-bit mode, no base or index). */
  readonly ripRel: boolean;
  /** Address size implied by the registers (0 when there are none). */
  readonly addr: 0 | 16 | 32 | 64;
}
export interface ImmOp {
  readonly k: 'imm';
  readonly col: number;
  readonly v: Value;
  readonly size?: number;
  readonly strict: boolean;
  readonly short: boolean;
  readonly near: boolean;
}
export interface FarPtrOp {
  readonly k: 'farptr';
  readonly col: number;
  readonly size?: number;
  readonly seg: Value;
  readonly off: Value;
}
export type Op = RegOp | MemOp | ImmOp | FarPtrOp;

export interface EncodeContext {
  readonly bits: 32 | 64;
  /** Address of the first byte of this instruction. */
  readonly here: bigint;
  /** rep/repe/repne/lock/o16/o32/o64 written before the mnemonic. */
  readonly prefixes: readonly string[];
  /** A relative jump that was near in an earlier pass stays near (so passes converge). */
  readonly forceNear: boolean;
  readonly mnemCol: number;
}

export interface Encoded {
  readonly bytes: number[];
  /** Set when a relative jump chose its near (rel32) form. */
  readonly near?: boolean;
}

export class EncodeError {
  constructor(
    readonly col: number,
    readonly message: string,
  ) {}
}

export const CONDITIONS: Readonly<Record<string, number>> = {
  o: 0, no: 1, b: 2, c: 2, nae: 2, ae: 3, nb: 3, nc: 3, e: 4, z: 4, ne: 5, nz: 5, be: 6, na: 6, a: 7, nbe: 7,
  s: 8, ns: 9, p: 10, pe: 10, np: 11, po: 11, l: 12, nge: 12, ge: 13, nl: 13, le: 14, ng: 14, g: 15, nle: 15,
};

const ALU: Readonly<Record<string, number>> = { add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 };
const SHIFT: Readonly<Record<string, number>> = { rol: 0, ror: 1, rcl: 2, rcr: 3, shl: 4, sal: 4, shr: 5, sar: 7 };
const UNARY: Readonly<Record<string, number>> = { not: 2, neg: 3, mul: 4, div: 6, idiv: 7 };
const BT: Readonly<Record<string, number>> = { bt: 4, bts: 5, btr: 6, btc: 7 };
const SEG_PREFIX = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

type Mode = 'any' | 32 | 64;
/** Instructions without operands: bytes, and the only mode they exist in. */
const PLAIN: Readonly<Record<string, readonly [readonly number[], Mode]>> = {
  nop: [[0x90], 'any'], hlt: [[0xf4], 'any'], cli: [[0xfa], 'any'], sti: [[0xfb], 'any'],
  clc: [[0xf8], 'any'], stc: [[0xf9], 'any'], cmc: [[0xf5], 'any'], cld: [[0xfc], 'any'], std: [[0xfd], 'any'],
  int3: [[0xcc], 'any'], int1: [[0xf1], 'any'], icebp: [[0xf1], 'any'], into: [[0xce], 32], ud2: [[0x0f, 0x0b], 'any'],
  syscall: [[0x0f, 0x05], 'any'], sysret: [[0x0f, 0x07], 'any'], sysretq: [[0x48, 0x0f, 0x07], 64],
  sysenter: [[0x0f, 0x34], 'any'], sysexit: [[0x0f, 0x35], 'any'], sysexitq: [[0x48, 0x0f, 0x35], 64],
  swapgs: [[0x0f, 0x01, 0xf8], 64],
  iret: [[0xcf], 'any'], iretd: [[0xcf], 'any'], iretw: [[0x66, 0xcf], 'any'], iretq: [[0x48, 0xcf], 64],
  pushf: [[0x9c], 'any'], pushfd: [[0x9c], 32], pushfq: [[0x9c], 64], pushfw: [[0x66, 0x9c], 'any'],
  popf: [[0x9d], 'any'], popfd: [[0x9d], 32], popfq: [[0x9d], 64], popfw: [[0x66, 0x9d], 'any'],
  cpuid: [[0x0f, 0xa2], 'any'], rdtsc: [[0x0f, 0x31], 'any'], rdtscp: [[0x0f, 0x01, 0xf9], 'any'],
  rdmsr: [[0x0f, 0x32], 'any'], wrmsr: [[0x0f, 0x30], 'any'], rdpmc: [[0x0f, 0x33], 'any'],
  clts: [[0x0f, 0x06], 'any'], wbinvd: [[0x0f, 0x09], 'any'], invd: [[0x0f, 0x08], 'any'], pause: [[0xf3, 0x90], 'any'],
  cbw: [[0x66, 0x98], 'any'], cwde: [[0x98], 'any'], cdqe: [[0x48, 0x98], 64],
  cwd: [[0x66, 0x99], 'any'], cdq: [[0x99], 'any'], cqo: [[0x48, 0x99], 64],
  leave: [[0xc9], 'any'], lahf: [[0x9f], 'any'], sahf: [[0x9e], 'any'],
  movsb: [[0xa4], 'any'], movsw: [[0x66, 0xa5], 'any'], movsd: [[0xa5], 'any'], movsq: [[0x48, 0xa5], 64],
  cmpsb: [[0xa6], 'any'], cmpsw: [[0x66, 0xa7], 'any'], cmpsd: [[0xa7], 'any'], cmpsq: [[0x48, 0xa7], 64],
  stosb: [[0xaa], 'any'], stosw: [[0x66, 0xab], 'any'], stosd: [[0xab], 'any'], stosq: [[0x48, 0xab], 64],
  lodsb: [[0xac], 'any'], lodsw: [[0x66, 0xad], 'any'], lodsd: [[0xad], 'any'], lodsq: [[0x48, 0xad], 64],
  scasb: [[0xae], 'any'], scasw: [[0x66, 0xaf], 'any'], scasd: [[0xaf], 'any'], scasq: [[0x48, 0xaf], 64],
  insb: [[0x6c], 'any'], insw: [[0x66, 0x6d], 'any'], insd: [[0x6d], 'any'],
  outsb: [[0x6e], 'any'], outsw: [[0x66, 0x6f], 'any'], outsd: [[0x6f], 'any'],
  vmcall: [[0x0f, 0x01, 0xc1], 'any'], vmlaunch: [[0x0f, 0x01, 0xc2], 'any'], vmresume: [[0x0f, 0x01, 0xc3], 'any'],
  vmxoff: [[0x0f, 0x01, 0xc4], 'any'], vmfunc: [[0x0f, 0x01, 0xd4], 'any'],
  vmrun: [[0x0f, 0x01, 0xd8], 'any'], vmmcall: [[0x0f, 0x01, 0xd9], 'any'], vmload: [[0x0f, 0x01, 0xda], 'any'],
  vmsave: [[0x0f, 0x01, 0xdb], 'any'], stgi: [[0x0f, 0x01, 0xdc], 'any'], clgi: [[0x0f, 0x01, 0xdd], 'any'],
  skinit: [[0x0f, 0x01, 0xde], 'any'], invlpga: [[0x0f, 0x01, 0xdf], 'any'],
  ret: [[0xc3], 'any'], retn: [[0xc3], 'any'], retf: [[0xcb], 'any'], retfd: [[0xcb], 'any'],
  retfw: [[0x66, 0xcb], 'any'], retfq: [[0x48, 0xcb], 64],
};

/** Every mnemonic the encoder knows (used to tell labels from instructions). */
export const MNEMONICS: ReadonlySet<string> = new Set([
  ...Object.keys(PLAIN), ...Object.keys(ALU), ...Object.keys(SHIFT), ...Object.keys(UNARY), ...Object.keys(BT),
  ...Object.keys(CONDITIONS).flatMap((c) => [`j${c}`, `set${c}`, `cmov${c}`]),
  'mov', 'movzx', 'movsx', 'movsxd', 'lea', 'test', 'inc', 'dec', 'imul', 'xchg', 'push', 'pop', 'call', 'jmp',
  'loop', 'loope', 'loopz', 'loopne', 'loopnz', 'jecxz', 'jrcxz', 'jcxz', 'int', 'in', 'out', 'lmsw', 'smsw', 'invlpg',
  'lgdt', 'lidt', 'sgdt', 'sidt', 'sldt', 'str', 'lldt', 'ltr', 'verr', 'verw', 'lar', 'lsl', 'bswap',
  'vmxon', 'vmclear', 'vmptrld', 'vmptrst', 'vmread', 'vmwrite', 'invept', 'invvpid',
]);

const fail = (col: number, message: string): never => {
  throw new EncodeError(col, message);
};

export function hex(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function sext(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

function isSbyte(v: Value, size: number): boolean {
  if (v.unknown || v.rel !== 0) return false;
  const s = size >= 64 ? v.v : sext(v.v, size);
  return s >= -128n && s <= 127n;
}

function checkImm(op: ImmOp, bits: number, what = 'immediate'): void {
  const v = op.v;
  if (v.unknown) return;
  // nasm's overflow rule: a value fits n bits if it lies in [-2^n, 2^n - 1].
  const lo = bits >= 64 ? -(1n << 31n) : -(1n << BigInt(bits));
  const hi = bits >= 64 ? (1n << 31n) - 1n : (1n << BigInt(bits)) - 1n;
  if (v.v < lo || v.v > hi) {
    const range = bits >= 64 ? 'a sign-extended 32-bit' : `a ${bits}-bit`;
    fail(op.col, `${what} ${hex(v.v)} is out of range: expected ${range} value`);
  }
}

/** The low `n` bytes of `v`, little-endian. */
export function le(v: bigint, n: number): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(n * 8, v);
  for (let i = 0; i < n; i++) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
  }
  return out;
}

interface Parts {
  /** Operand size: 16 adds 0x66; 64 adds REX.W. Undefined = the mode's default. */
  osz?: number;
  mand?: number[];
  op: number[];
  /** ModRM.reg (register number or /digit). */
  reg?: number;
  rm?: RegOp | MemOp;
  /** Register encoded in the low opcode bits (B8+r): its bit 3 goes to REX.B. */
  opReg?: number;
  /** Registers in the instruction, to check REX constraints (SPL vs AH). */
  regs?: Reg[];
  imm?: number[];
  rexW?: boolean;
  /** Segment override for forms without ModRM (moffs). */
  seg?: Reg;
}

class Builder {
  constructor(readonly ctx: EncodeContext) {}

  build(p: Parts): Encoded {
    const { ctx } = this;
    const out: number[] = [];
    for (const pre of ctx.prefixes) {
      if (pre === 'lock') out.push(0xf0);
      else if (pre === 'rep' || pre === 'repe' || pre === 'repz') out.push(0xf3);
      else if (pre === 'repne' || pre === 'repnz') out.push(0xf2);
    }
    let rexW = p.rexW === true || p.osz === 64;
    if (ctx.prefixes.includes('o64')) rexW = true;
    if (p.osz === 64 && ctx.bits !== 64) fail(ctx.mnemCol, '64-bit operands are only valid in 64-bit mode');
    const mem = p.rm?.k === 'mem' ? p.rm : undefined;
    const seg = mem?.seg ?? p.seg;
    if (seg) out.push(SEG_PREFIX[seg.num] ?? 0x3e);
    if (p.osz === 16 || ctx.prefixes.includes('o16')) out.push(0x66);
    let rexR = 0;
    let rexX = 0;
    let rexB = 0;
    if (p.reg !== undefined) rexR = (p.reg >> 3) & 1;
    if (p.opReg !== undefined) rexB = (p.opReg >> 3) & 1;
    let modrm: number[] = [];
    let ripFixup = -1;
    if (p.rm) {
      const reg = (p.reg ?? 0) & 7;
      if (p.rm.k === 'reg') {
        rexB = (p.rm.reg.num >> 3) & 1;
        modrm = [0xc0 | (reg << 3) | (p.rm.reg.num & 7)];
      } else {
        const m = encodeMem(p.rm, reg, ctx.bits);
        if (m.a67) out.push(0x67);
        rexX = m.x;
        rexB = m.b;
        modrm = m.bytes;
        ripFixup = m.ripAt;
      }
    }
    if (p.mand) out.push(...p.mand);
    const regs = [...(p.regs ?? [])];
    if (p.rm?.k === 'reg') regs.push(p.rm.reg);
    const needRex = regs.some((r) => r.needsRex);
    const rex = (rexW ? 8 : 0) | (rexR << 2) | (rexX << 1) | rexB;
    if (rex !== 0 || needRex) {
      if (ctx.bits !== 64) fail(ctx.mnemCol, 'this form needs a REX prefix, which exists only in 64-bit mode');
      const hi = regs.find((r) => r.high);
      if (hi) fail(ctx.mnemCol, `'${hi.name}' cannot be encoded in an instruction that needs a REX prefix`);
      out.push(0x40 | rex);
    }
    out.push(...p.op);
    const modrmStart = out.length;
    out.push(...modrm);
    out.push(...(p.imm ?? []));
    if (ripFixup >= 0 && mem) {
      const target = mem.disp.v;
      const d = mem.disp.unknown ? 0n : target - (ctx.here + BigInt(out.length));
      if (!mem.disp.unknown && (d < -(1n << 31n) || d >= 1n << 31n)) fail(mem.col, 'RIP-relative target is out of the ±2 GiB range');
      out.splice(modrmStart + ripFixup, 4, ...le(d, 4));
    }
    return { bytes: out };
  }
}

interface MemEnc {
  bytes: number[];
  x: number;
  b: number;
  a67: boolean;
  /** Offset of a RIP-relative disp32 inside `bytes`, or −1. */
  ripAt: number;
}

const MEM16: Readonly<Record<string, number>> = { 'bx+si': 0, 'bx+di': 1, 'bp+si': 2, 'bp+di': 3, si: 4, di: 5, bp: 6, bx: 7 };

function encodeMem(m: MemOp, reg: number, bits: 32 | 64): MemEnc {
  const disp = m.disp;
  const simple = disp.rel === 0 && !disp.unknown;
  const d = disp.v;
  const fits8 = simple && d >= -128n && d <= 127n;
  if (m.addr === 16) {
    if (bits === 64) fail(m.col, '16-bit addressing is not valid in 64-bit mode');
    const key = [m.base?.name, m.index?.name].filter((x) => x !== undefined).join('+');
    const rm = MEM16[key];
    if (rm === undefined || m.scale !== 1) fail(m.col, `'[${key}]' is not a valid 16-bit address: use bx or bp, plus si or di`);
    const r = rm ?? 0;
    let mod = 2;
    if (simple && d === 0n && r !== 6) mod = 0;
    else if (fits8) mod = 1;
    const bytes = [(mod << 6) | (reg << 3) | r];
    if (mod === 1) bytes.push(...le(d, 1));
    if (mod === 2) bytes.push(...le(d, 2));
    return { bytes, x: 0, b: 0, a67: true, ripAt: -1 };
  }
  const a67 = bits === 64 ? m.addr === 32 : false;
  if (!m.base && !m.index) {
    if (!disp.unknown && disp.rel === 0 && bits === 32 && (d < -(1n << 31n) || d >= 1n << 32n)) fail(m.col, `address ${hex(d)} does not fit in 32 bits`);
    if (m.ripRel) return { bytes: [(reg << 3) | 5, 0, 0, 0, 0], x: 0, b: 0, a67: false, ripAt: 1 };
    if (bits === 32) return { bytes: [(reg << 3) | 5, ...le(d, 4)], x: 0, b: 0, a67: false, ripAt: -1 };
    if (!disp.unknown && (d < -(1n << 31n) || d >= 1n << 31n)) fail(m.col, `absolute address ${hex(d)} does not fit in a sign-extended 32-bit displacement`);
    return { bytes: [(reg << 3) | 4, 0x25, ...le(d, 4)], x: 0, b: 0, a67: false, ripAt: -1 };
  }
  if (!disp.unknown && (d < -(1n << 31n) || d >= 1n << 32n)) fail(m.col, `displacement ${hex(d)} does not fit in 32 bits`);
  const base = m.base;
  const index = m.index;
  const scaleBits = m.scale === 8 ? 3 : m.scale === 4 ? 2 : m.scale === 2 ? 1 : 0;
  if (!base) {
    const idx = index as Reg;
    return {
      bytes: [(reg << 3) | 4, (scaleBits << 6) | ((idx.num & 7) << 3) | 5, ...le(d, 4)],
      x: (idx.num >> 3) & 1,
      b: 0,
      a67,
      ripAt: -1,
    };
  }
  let mod = 2;
  if (simple && d === 0n && (base.num & 7) !== 5) mod = 0;
  else if (fits8) mod = 1;
  const dispBytes = mod === 1 ? le(d, 1) : mod === 2 ? le(d, 4) : [];
  if (!index && (base.num & 7) !== 4) {
    return { bytes: [(mod << 6) | (reg << 3) | (base.num & 7), ...dispBytes], x: 0, b: (base.num >> 3) & 1, a67, ripAt: -1 };
  }
  const idxNum = index ? index.num : 4;
  return {
    bytes: [(mod << 6) | (reg << 3) | 4, (scaleBits << 6) | ((idxNum & 7) << 3) | (base.num & 7), ...dispBytes],
    x: (idxNum >> 3) & 1,
    b: (base.num >> 3) & 1,
    a67,
    ripAt: -1,
  };
}

const isReg = (o: Op | undefined): o is RegOp => o?.k === 'reg';
const isGpr = (o: Op | undefined): o is RegOp => o?.k === 'reg' && o.reg.cls === 'gpr';
const isMem = (o: Op | undefined): o is MemOp => o?.k === 'mem';
const isRm = (o: Op | undefined): o is RegOp | MemOp => isGpr(o) || isMem(o);
const isImm = (o: Op | undefined): o is ImmOp => o?.k === 'imm';

function opDesc(o: Op): string {
  if (o.k === 'reg') return `${o.reg.size}-bit register`;
  if (o.k === 'mem') return o.size ? `${o.size}-bit memory operand` : 'memory operand';
  if (o.k === 'imm') return 'immediate';
  return 'far pointer';
}

export function encodeInstruction(mnem: string, ops: readonly Op[], ctx: EncodeContext): Encoded {
  const b = new Builder(ctx);
  const mc = ctx.mnemCol;
  const [a, c, d] = ops;
  const bad = (): never => {
    const shapes = ops.map(opDesc).join(', ');
    return fail(mc, `${mnem}: invalid combination of operands (${shapes || 'none'})`);
  };
  const nops = (n: number | number[]): void => {
    const ok = Array.isArray(n) ? n.includes(ops.length) : ops.length === n;
    if (!ok) {
      const want = Array.isArray(n) ? n.join(' or ') : String(n);
      fail(mc, `${mnem}: expected ${want} operand${want === '1' ? '' : 's'} but found ${ops.length}`);
    }
  };
  const sizeOf = (o: Op | undefined): number | undefined => (o?.k === 'reg' ? o.reg.size : o?.k === 'mem' ? o.size : undefined);
  const needSize = (o: RegOp | MemOp): number => {
    const s = sizeOf(o);
    if (s === undefined) return fail(o.col, `${mnem}: operation size not specified: write byte, word, dword or qword before '['`);
    return s;
  };
  const gprSize = (s: number, col: number, allowed = [8, 16, 32, 64]): number => {
    if (!allowed.includes(s)) fail(col, `${mnem}: a ${s}-bit operand is not valid here`);
    return s;
  };
  /** Size of a two-operand instruction whose operands must agree. */
  const pairSize = (x: RegOp | MemOp, y: RegOp | MemOp, verb?: string): number => {
    const sx = sizeOf(x);
    const sy = sizeOf(y);
    if (sx !== undefined && sy !== undefined && sx !== sy) {
      if (verb && x.k === 'reg' && y.k === 'reg') fail(y.col, `${mnem}: cannot ${verb} a ${sy}-bit register into an ${sx}-bit register`);
      fail(y.col, `${mnem}: operand sizes do not match (${sx}-bit and ${sy}-bit)`);
    }
    const s = sx ?? sy;
    if (s === undefined) return fail(x.col, `${mnem}: operation size not specified`);
    return s;
  };
  const immBytes = (o: ImmOp, n: number): number[] => le(o.v.v, n);
  /** Operation size of `r/m, imm`: the r/m's size, or else the immediate's size keyword (`[eax], dword 5`). */
  const immOpSize = (o: RegOp | MemOp, i: ImmOp, byteOk = mnem !== 'mov' && mnem !== 'test'): number => {
    if (sizeOf(o) === undefined && i.size !== undefined && [8, 16, 32].includes(i.size)) return i.size;
    const s = needSize(o);
    const dwordOk = mnem === 'mov' && s === 64 && i.size === 32;
    if (i.size !== undefined && i.size !== s && !(byteOk && i.size === 8) && !dwordOk) fail(i.col, `${mnem}: the immediate is marked ${i.size}-bit but the operation is ${s}-bit`);
    return s;
  };
  const w = (s: number): number => (s === 8 ? 0 : 1);
  const osz = (s: number): number | undefined => (s === 8 || s === 32 ? undefined : s);
  const rr = (...os: (Op | undefined)[]): Reg[] => os.filter(isReg).map((o) => o.reg);

  const plain = PLAIN[mnem];
  if (plain && (ops.length === 0 || mnem === 'invlpga' || ((mnem === 'ret' || mnem === 'retn' || mnem.startsWith('retf')) && ops.length === 1))) {
    const [bytes, mode] = plain;
    if (mode !== 'any' && mode !== ctx.bits) fail(mc, `${mnem} is not valid in ${ctx.bits}-bit mode`);
    if (mnem === 'invlpga' && ops.length > 0) {
      const want = ctx.bits === 64 ? 'rax' : 'eax';
      if (ops.length !== 2 || !isReg(a) || a.reg.name !== want || !isReg(c) || c.reg.name !== 'ecx') fail(mc, `invlpga: expected no operands or '${want}, ecx'`);
    }
    if (ops.length === 1) {
      if (!isImm(a) || (a.size !== undefined && a.size !== 16)) return fail(a?.col ?? mc, `${mnem}: expected a 16-bit immediate`);
      checkImm(a, 16);
      const rb = [...bytes];
      rb[rb.length - 1] = (rb[rb.length - 1] ?? 0) - 1;
      return b.build({ op: [], imm: [...rb, ...immBytes(a, 2)] });
    }
    const pre: number[] = [];
    if (ctx.prefixes.includes('o16')) pre.push(0x66);
    const last = bytes[0] === 0x66 || bytes[0] === 0x48 ? bytes.slice(1) : bytes;
    if (bytes[0] === 0x66) pre.push(0x66);
    const rexW = bytes[0] === 0x48 || ctx.prefixes.includes('o64');
    if (rexW && ctx.bits !== 64) fail(mc, `${mnem}: a 64-bit operand size is only valid in 64-bit mode`);
    const rep = ctx.prefixes.filter((p) => p !== 'o16' && p !== 'o64' && p !== 'o32');
    const out = new Builder({ ...ctx, prefixes: rep }).build({ op: [] }).bytes;
    return { bytes: [...out, ...pre, ...(rexW ? [0x48] : []), ...last] };
  }

  const alu = ALU[mnem];
  if (alu !== undefined) {
    nops(2);
    if (!isRm(a)) return bad();
    if (isImm(c)) {
      const s = immOpSize(a, c);
      checkImm(c, s);
      if (s === 8) {
        if (isGpr(a) && a.reg.num === 0) return b.build({ op: [alu * 8 + 4], imm: immBytes(c, 1), regs: [a.reg] });
        return b.build({ op: [0x80], reg: alu, rm: a, imm: immBytes(c, 1) });
      }
      const forceLong = c.strict && c.size !== undefined && c.size !== 8;
      const wantByte = c.size === 8 && !c.v.unknown;
      if (!forceLong && (isSbyte(c.v, s) || wantByte)) return b.build({ osz: osz(s), op: [0x83], reg: alu, rm: a, imm: immBytes(c, 1) });
      const n = s === 16 ? 2 : 4;
      if (isGpr(a) && a.reg.num === 0) return b.build({ osz: osz(s), op: [alu * 8 + 5], imm: immBytes(c, n) });
      return b.build({ osz: osz(s), op: [0x81], reg: alu, rm: a, imm: immBytes(c, n) });
    }
    if (isGpr(c)) {
      const s = pairSize(a, c);
      return b.build({ osz: osz(s), op: [alu * 8 + w(s)], reg: c.reg.num, rm: a, regs: [c.reg] });
    }
    if (isMem(c) && isGpr(a)) {
      const s = pairSize(a, c);
      return b.build({ osz: osz(s), op: [alu * 8 + 2 + w(s)], reg: a.reg.num, rm: c, regs: [a.reg] });
    }
    return bad();
  }

  if (mnem === 'test') {
    nops(2);
    if (!isRm(a)) return bad();
    if (isImm(c)) {
      const s = immOpSize(a, c);
      checkImm(c, s);
      const n = s === 8 ? 1 : s === 16 ? 2 : 4;
      if (isGpr(a) && a.reg.num === 0) return b.build({ osz: osz(s), op: [0xa8 + w(s)], imm: immBytes(c, n), regs: [a.reg] });
      return b.build({ osz: osz(s), op: [0xf6 + w(s)], reg: 0, rm: a, imm: immBytes(c, n) });
    }
    const [r, m] = isGpr(c) ? [c, a] : isGpr(a) && isMem(c) ? [a, c] : [undefined, undefined];
    if (!r || !m) return bad();
    const s = pairSize(m, r);
    return b.build({ osz: osz(s), op: [0x84 + w(s)], reg: r.reg.num, rm: m, regs: [r.reg] });
  }

  if (mnem === 'mov') return encodeMov(b, ops, ctx, { bad, nops, pairSize, needSize: (o) => (isImm(c) ? immOpSize(o, c) : needSize(o)), immBytes, osz, w });

  if (mnem === 'movzx' || mnem === 'movsx') {
    nops(2);
    if (!isGpr(a) || !isRm(c)) return bad();
    const s = gprSize(a.reg.size, a.col, [16, 32, 64]);
    const ss = sizeOf(c) ?? (s === 16 ? 8 : needSize(c));
    if (mnem === 'movsx' && s === 64 && ss === 32) return b.build({ osz: 64, op: [0x63], reg: a.reg.num, rm: c, regs: [a.reg] });
    if (ss !== 8 && ss !== 16) fail(c.col, `${mnem}: the source must be 8 or 16 bits, not ${ss}`);
    if (ss >= s) fail(c.col, `${mnem}: the source (${ss}-bit) must be narrower than the destination (${s}-bit)`);
    const base = mnem === 'movzx' ? 0xb6 : 0xbe;
    return b.build({ osz: osz(s), op: [0x0f, base + (ss === 16 ? 1 : 0)], reg: a.reg.num, rm: c, regs: [a.reg] });
  }
  if (mnem === 'movsxd') {
    nops(2);
    if (!isGpr(a) || a.reg.size !== 64 || !isRm(c)) return fail(mc, 'movsxd: expected a 64-bit register and a 32-bit register or memory operand');
    if ((sizeOf(c) ?? 32) !== 32) fail(c.col, 'movsxd: the source must be 32 bits');
    return b.build({ osz: 64, op: [0x63], reg: a.reg.num, rm: c, regs: [a.reg] });
  }
  if (mnem === 'lea') {
    nops(2);
    if (!isGpr(a) || !isMem(c)) return fail(mc, 'lea: expected a register and a memory operand');
    const s = gprSize(a.reg.size, a.col, [16, 32, 64]);
    return b.build({ osz: osz(s), op: [0x8d], reg: a.reg.num, rm: c, regs: [a.reg] });
  }

  if (mnem === 'inc' || mnem === 'dec') {
    nops(1);
    if (!isRm(a)) return bad();
    const s = needSize(a);
    const n = mnem === 'inc' ? 0 : 1;
    if (isGpr(a) && s !== 8 && ctx.bits === 32) return b.build({ osz: osz(s), op: [0x40 + n * 8 + a.reg.num] });
    return b.build({ osz: osz(s), op: [0xfe + w(s)], reg: n, rm: a });
  }
  const un = UNARY[mnem];
  if (un !== undefined) {
    nops(1);
    if (!isRm(a)) return bad();
    const s = needSize(a);
    return b.build({ osz: osz(s), op: [0xf6 + w(s)], reg: un, rm: a });
  }
  if (mnem === 'imul') {
    nops([1, 2, 3]);
    if (ops.length === 1) {
      if (!isRm(a)) return bad();
      const s = needSize(a);
      return b.build({ osz: osz(s), op: [0xf6 + w(s)], reg: 5, rm: a });
    }
    if (!isGpr(a)) return bad();
    const s = gprSize(a.reg.size, a.col, [16, 32, 64]);
    const src: RegOp | MemOp | undefined = ops.length === 2 && isImm(c) ? a : isRm(c) ? c : undefined;
    const imm = ops.length === 3 ? d : isImm(c) ? c : undefined;
    if (!src) return bad();
    if (sizeOf(src) !== undefined && sizeOf(src) !== s) fail(src.col, `imul: operand sizes do not match (${s}-bit and ${sizeOf(src)}-bit)`);
    if (imm === undefined) return b.build({ osz: osz(s), op: [0x0f, 0xaf], reg: a.reg.num, rm: src, regs: [a.reg] });
    if (!isImm(imm)) return bad();
    if (imm.size !== undefined && imm.size !== s && imm.size !== 8 && !(s === 64 && imm.size === 32)) fail(imm.col, `imul: the immediate is marked ${imm.size}-bit but the operation is ${s}-bit`);
    checkImm(imm, s);
    if (isSbyte(imm.v, s) && !(imm.strict && imm.size !== 8) && !(s === 64 && imm.size === 32)) return b.build({ osz: osz(s), op: [0x6b], reg: a.reg.num, rm: src, regs: [a.reg], imm: immBytes(imm, 1) });
    return b.build({ osz: osz(s), op: [0x69], reg: a.reg.num, rm: src, regs: [a.reg], imm: immBytes(imm, s === 16 ? 2 : 4) });
  }
  const sh = SHIFT[mnem];
  if (sh !== undefined) {
    nops(2);
    if (!isRm(a)) return bad();
    const s = needSize(a);
    if (isReg(c) && c.reg.name === 'cl') return b.build({ osz: osz(s), op: [0xd2 + w(s)], reg: sh, rm: a });
    if (!isImm(c)) return fail(c?.col ?? mc, `${mnem}: expected 1, cl or an 8-bit immediate as the count`);
    if (c.size !== undefined && c.size !== 8) fail(c.col, `${mnem}: the count is an 8-bit immediate, not ${c.size}-bit`);
    checkImm(c, 8, 'shift count');
    if (!c.v.unknown && c.v.rel === 0 && c.v.v === 1n && !c.strict && c.size === undefined) return b.build({ osz: osz(s), op: [0xd0 + w(s)], reg: sh, rm: a });
    return b.build({ osz: osz(s), op: [0xc0 + w(s)], reg: sh, rm: a, imm: immBytes(c, 1) });
  }
  if (mnem === 'xchg') {
    nops(2);
    if (!isRm(a) || !isRm(c)) return bad();
    const s = pairSize(a, c);
    if (isGpr(a) && isGpr(c)) {
      if (s !== 8 && (a.reg.num === 0 || c.reg.num === 0) && !(s === 32 && ctx.bits === 64 && a.reg.num === 0 && c.reg.num === 0)) {
        const other = a.reg.num === 0 ? c.reg : a.reg;
        return b.build({ osz: osz(s), op: [0x90 + (other.num & 7)], opReg: other.num });
      }
      return b.build({ osz: osz(s), op: [0x86 + w(s)], reg: a.reg.num, rm: c, regs: [a.reg] });
    }
    const [r, m] = isGpr(a) ? [a, c] : isGpr(c) ? [c, a] : [undefined, undefined];
    if (!r || !m) return bad();
    return b.build({ osz: osz(s), op: [0x86 + w(s)], reg: r.reg.num, rm: m, regs: [r.reg] });
  }
  if (mnem === 'push' || mnem === 'pop') return encodePushPop(b, mnem, ops, ctx, { bad, nops, immBytes });

  if (mnem === 'call' || mnem === 'jmp') return encodeCallJmp(b, mnem, ops, ctx, { bad, nops, immBytes });
  if (mnem.startsWith('j') && CONDITIONS[mnem.slice(1)] !== undefined) {
    nops(1);
    if (!isImm(a) || (a.size !== undefined && a.size !== ctx.bits)) return fail(a?.col ?? mc, `${mnem}: expected a label or address as the target`);
    return relBranch(ctx, a, [0x70 + (CONDITIONS[mnem.slice(1)] ?? 0)], [0x0f, 0x80 + (CONDITIONS[mnem.slice(1)] ?? 0)]);
  }
  if (['loop', 'loope', 'loopz', 'loopne', 'loopnz', 'jecxz', 'jrcxz', 'jcxz'].includes(mnem)) {
    nops(1);
    if (!isImm(a)) return fail(a?.col ?? mc, `${mnem}: expected a label or address as the target`);
    const opc = mnem === 'loop' ? 0xe2 : mnem === 'loope' || mnem === 'loopz' ? 0xe1 : mnem === 'loopne' || mnem === 'loopnz' ? 0xe0 : 0xe3;
    const pre: number[] = [];
    if (mnem === 'jrcxz' && ctx.bits !== 64) fail(mc, 'jrcxz is only valid in 64-bit mode');
    if (mnem === 'jcxz' && ctx.bits === 64) fail(mc, 'jcxz is not valid in 64-bit mode');
    if ((mnem === 'jecxz' && ctx.bits === 64) || mnem === 'jcxz') pre.push(0x67);
    return relBranch(ctx, a, [...pre, opc], undefined);
  }
  if (mnem.startsWith('set') && CONDITIONS[mnem.slice(3)] !== undefined) {
    nops(1);
    if (!isRm(a)) return bad();
    if ((sizeOf(a) ?? 8) !== 8) fail(a.col, `${mnem}: the operand must be 8 bits`);
    return b.build({ op: [0x0f, 0x90 + (CONDITIONS[mnem.slice(3)] ?? 0)], reg: 0, rm: a });
  }
  if (mnem.startsWith('cmov') && CONDITIONS[mnem.slice(4)] !== undefined) {
    nops(2);
    if (!isGpr(a) || !isRm(c)) return bad();
    const s = gprSize(pairSize(a, c), a.col, [16, 32, 64]);
    return b.build({ osz: osz(s), op: [0x0f, 0x40 + (CONDITIONS[mnem.slice(4)] ?? 0)], reg: a.reg.num, rm: c, regs: [a.reg] });
  }
  const btn = BT[mnem];
  if (btn !== undefined) {
    nops(2);
    if (!isRm(a)) return bad();
    if (isImm(c)) {
      const s = gprSize(needSize(a), a.col, [16, 32, 64]);
      checkImm(c, 8, 'bit offset');
      if (c.size !== undefined && c.size !== 8) fail(c.col, `${mnem}: the bit offset is an 8-bit immediate, not ${c.size}-bit`);
      return b.build({ osz: osz(s), op: [0x0f, 0xba], reg: btn, rm: a, imm: immBytes(c, 1) });
    }
    if (!isGpr(c)) return bad();
    const s = gprSize(pairSize(a, c), a.col, [16, 32, 64]);
    return b.build({ osz: osz(s), op: [0x0f, 0xa3 + (btn - 4) * 8], reg: c.reg.num, rm: a, regs: [c.reg] });
  }
  if (mnem === 'bswap') {
    nops(1);
    if (!isGpr(a) || (a.reg.size !== 32 && a.reg.size !== 64)) return fail(a?.col ?? mc, 'bswap: expected a 32-bit or 64-bit register');
    return b.build({ osz: osz(a.reg.size), op: [0x0f, 0xc8 + (a.reg.num & 7)], opReg: a.reg.num });
  }
  if (mnem === 'int') {
    nops(1);
    if (!isImm(a) || (a.size !== undefined && a.size !== 8)) return fail(a?.col ?? mc, 'int: expected an 8-bit vector number');
    if (!a.v.unknown && (a.v.v < 0n || a.v.v > 255n)) fail(a.col, `int: vector ${hex(a.v.v)} is out of range: expected 0..255`);
    return b.build({ op: [0xcd], imm: immBytes(a, 1) });
  }
  if (mnem === 'in' || mnem === 'out') {
    nops(2);
    const [acc, port] = mnem === 'in' ? [a, c] : [c, a];
    if (!isGpr(acc) || acc.reg.num !== 0 || acc.reg.size === 64) return fail(acc?.col ?? mc, `${mnem}: expected al, ax or eax as the data register`);
    const s = acc.reg.size;
    const base = mnem === 'in' ? 0xe4 : 0xe6;
    if (isReg(port) && port.reg.name === 'dx') return b.build({ osz: osz(s), op: [base + 8 + w(s)] });
    if (!isImm(port)) return fail(port?.col ?? mc, `${mnem}: expected dx or an 8-bit port number`);
    if (!port.v.unknown && (port.v.v < 0n || port.v.v > 255n)) fail(port.col, `${mnem}: port ${hex(port.v.v)} is out of range for the immediate form (0..255); put the port in dx`);
    return b.build({ osz: osz(s), op: [base + w(s)], imm: immBytes(port, 1) });
  }
  const sys01: Readonly<Record<string, number>> = { sgdt: 0, sidt: 1, lgdt: 2, lidt: 3, invlpg: 7 };
  if (sys01[mnem] !== undefined) {
    nops(1);
    if (!isMem(a)) return fail(a?.col ?? mc, `${mnem}: expected a memory operand`);
    if (a.size !== undefined) fail(a.col, `${mnem}: the memory operand takes no size keyword`);
    return b.build({ op: [0x0f, 0x01], reg: sys01[mnem], rm: a });
  }
  if (mnem === 'lmsw' || mnem === 'smsw' || mnem === 'sldt' || mnem === 'str' || mnem === 'lldt' || mnem === 'ltr' || mnem === 'verr' || mnem === 'verw') {
    nops(1);
    if (!isRm(a)) return bad();
    const table: Readonly<Record<string, readonly [number, number]>> = {
      lmsw: [0x01, 6], smsw: [0x01, 4], sldt: [0x00, 0], str: [0x00, 1], lldt: [0x00, 2], ltr: [0x00, 3], verr: [0x00, 4], verw: [0x00, 5],
    };
    const [op2, digit] = table[mnem] ?? [0, 0];
    const stores = mnem === 'smsw' || mnem === 'sldt' || mnem === 'str';
    const s = sizeOf(a);
    if (s !== undefined && s !== 16 && !(stores && isReg(a) && s >= 32)) fail(a.col, `${mnem}: expected a 16-bit operand`);
    const regOsz = s === 16 || (s === 64 && mnem !== 'sldt') ? s : undefined;
    return b.build({ osz: isReg(a) && stores ? regOsz : undefined, op: [0x0f, op2], reg: digit, rm: a });
  }
  if (mnem === 'lar' || mnem === 'lsl') {
    nops(2);
    if (!isGpr(a) || !isRm(c)) return bad();
    const s = gprSize(a.reg.size, a.col, [16, 32, 64]);
    const ss = sizeOf(c);
    if (ss !== undefined && ss !== 16 && !(isReg(c) && ss !== 8)) fail(c.col, `${mnem}: the source must be a 16-bit selector`);
    return b.build({ osz: osz(s), op: [0x0f, mnem === 'lar' ? 0x02 : 0x03], reg: a.reg.num, rm: c, regs: [a.reg] });
  }
  const vmx: Readonly<Record<string, readonly [number[], number[], number]>> = {
    vmxon: [[0xf3], [0x0f, 0xc7], 6], vmclear: [[0x66], [0x0f, 0xc7], 6], vmptrld: [[], [0x0f, 0xc7], 6], vmptrst: [[], [0x0f, 0xc7], 7],
  };
  const vx = vmx[mnem];
  if (vx) {
    nops(1);
    if (!isMem(a)) return fail(a?.col ?? mc, `${mnem}: expected a 64-bit memory operand`);
    if (a.size !== undefined) fail(a.col, `${mnem}: the memory operand (a 64-bit physical address) takes no size keyword`);
    return b.build({ mand: vx[0], op: vx[1], reg: vx[2], rm: a });
  }
  if (mnem === 'vmread' || mnem === 'vmwrite') {
    nops(2);
    const [r, m] = mnem === 'vmread' ? [c, a] : [a, c];
    const ns = ctx.bits;
    if (!isGpr(r) || r.reg.size !== ns || !isRm(m)) return fail(mc, `${mnem}: expected ${ns}-bit operands (a register and a register or memory operand)`);
    if (sizeOf(m) !== undefined && sizeOf(m) !== ns) fail(m.col, `${mnem}: the operand must be ${ns}-bit in ${ns}-bit mode`);
    return b.build({ op: [0x0f, mnem === 'vmread' ? 0x78 : 0x79], reg: r.reg.num, rm: m, regs: [r.reg] });
  }
  if (mnem === 'invept' || mnem === 'invvpid') {
    nops(2);
    if (!isGpr(a) || a.reg.size !== ctx.bits || !isMem(c)) return fail(mc, `${mnem}: expected a ${ctx.bits}-bit register and a 128-bit memory descriptor`);
    if (c.size !== undefined && c.size !== 128) fail(c.col, `${mnem}: the descriptor in memory is 128 bits (oword)`);
    return b.build({ mand: [0x66], op: [0x0f, 0x38, mnem === 'invept' ? 0x80 : 0x81], reg: a.reg.num, rm: c, regs: [a.reg] });
  }
  if (plain) return fail(mc, `${mnem}: expected no operands`);
  return fail(mc, `unknown mnemonic '${mnem}'`);
}

interface Helpers {
  bad: () => never;
  nops: (n: number | number[]) => void;
  immBytes: (o: ImmOp, n: number) => number[];
}
interface MovHelpers extends Helpers {
  pairSize: (x: RegOp | MemOp, y: RegOp | MemOp, verb?: string) => number;
  needSize: (o: RegOp | MemOp) => number;
  osz: (s: number) => number | undefined;
  w: (s: number) => number;
}

function encodeMov(b: Builder, ops: readonly Op[], ctx: EncodeContext, h: MovHelpers): Encoded {
  h.nops(2);
  const [a, c] = ops;
  if (!a || !c) return h.bad();
  if (a.k === 'reg' && (a.reg.cls === 'cr' || a.reg.cls === 'dr')) {
    if (!isGpr(c) || c.reg.size !== ctx.bits) return fail(c.col, `mov: ${a.reg.name} is loaded from a ${ctx.bits}-bit general register`);
    return b.build({ op: [0x0f, a.reg.cls === 'cr' ? 0x22 : 0x23], reg: a.reg.num, rm: c });
  }
  if (c.k === 'reg' && (c.reg.cls === 'cr' || c.reg.cls === 'dr')) {
    if (!isGpr(a) || a.reg.size !== ctx.bits) return fail(a.col, `mov: ${c.reg.name} is stored to a ${ctx.bits}-bit general register`);
    return b.build({ op: [0x0f, c.reg.cls === 'cr' ? 0x20 : 0x21], reg: c.reg.num, rm: a });
  }
  if (c.k === 'reg' && c.reg.cls === 'seg') {
    if (!isRm(a)) return h.bad();
    if (a.k === 'mem' && a.size !== undefined && a.size !== 16) fail(a.col, 'mov: a segment register is stored as 16 bits');
    if (a.k === 'reg' && a.reg.size === 8) fail(a.col, 'mov: a segment register is stored to a 16, 32 or 64-bit register');
    return b.build({ osz: a.k === 'reg' && a.reg.size === 16 ? 16 : undefined, op: [0x8c], reg: c.reg.num, rm: a });
  }
  if (a.k === 'reg' && a.reg.cls === 'seg') {
    if (a.reg.name === 'cs') fail(a.col, 'mov: cs cannot be loaded with mov; use a far jmp');
    if (!isRm(c)) return fail(c.col, `mov: ${a.reg.name} is loaded from a general register or memory, not an immediate`);
    if (c.k === 'mem' && c.size !== undefined && c.size !== 16) fail(c.col, 'mov: a segment register is loaded from 16 bits');
    if (c.k === 'reg' && c.reg.size === 8) fail(c.col, 'mov: a segment register is loaded from a 16, 32 or 64-bit register');
    return b.build({ op: [0x8e], reg: a.reg.num, rm: c });
  }
  if (!isRm(a)) return fail(a.col, 'mov: expected a register or memory operand as the destination');
  if (c.k === 'imm') {
    const s = h.needSize(a);
    if (a.k === 'reg') {
      if (s === 64) {
        const v = c.v;
        if (c.size === 32) {
          checkImm(c, 64);
          return b.build({ osz: 64, op: [0xc7], reg: 0, rm: a, imm: le(v.v, 4) });
        }
        if (!v.unknown && v.rel === 0 && !c.strict && v.v >= 0n && v.v < 1n << 32n)
          return b.build({ op: [0xb8 + (a.reg.num & 7)], opReg: a.reg.num, imm: le(v.v, 4) });
        if (!v.unknown && v.rel === 0 && !c.strict && v.v >= -(1n << 31n) && v.v < 0n)
          return b.build({ osz: 64, op: [0xc7], reg: 0, rm: a, imm: le(v.v, 4) });
        return b.build({ osz: 64, op: [0xb8 + (a.reg.num & 7)], opReg: a.reg.num, imm: le(v.v, 8) });
      }
      checkImm(c, s);
      return b.build({ osz: h.osz(s), op: [(s === 8 ? 0xb0 : 0xb8) + (a.reg.num & 7)], opReg: a.reg.num, regs: [a.reg], imm: h.immBytes(c, s / 8) });
    }
    checkImm(c, s);
    return b.build({ osz: h.osz(s), op: [0xc6 + h.w(s)], reg: 0, rm: a, imm: h.immBytes(c, s === 8 ? 1 : s === 16 ? 2 : 4) });
  }
  if (!isRm(c)) return h.bad();
  const s = h.pairSize(a, c, 'move');
  const moffs = (m: MemOp): boolean => ctx.bits === 32 && !m.base && !m.index && m.addr !== 16;
  if (isGpr(a) && a.reg.num === 0 && isMem(c) && moffs(c)) {
    return b.build({ osz: h.osz(s), op: [0xa0 + h.w(s)], imm: moffsBytes(c, s), rm: undefined, regs: [a.reg], ...segOnly(c) });
  }
  if (isGpr(c) && c.reg.num === 0 && isMem(a) && moffs(a)) {
    return b.build({ osz: h.osz(s), op: [0xa2 + h.w(s)], imm: moffsBytes(a, s), regs: [c.reg], ...segOnly(a) });
  }
  if (isGpr(c)) return b.build({ osz: h.osz(s), op: [0x88 + h.w(s)], reg: c.reg.num, rm: a, regs: [c.reg] });
  if (isGpr(a) && isMem(c)) return b.build({ osz: h.osz(s), op: [0x8a + h.w(s)], reg: a.reg.num, rm: c, regs: [a.reg] });
  return h.bad();
}

function moffsBytes(m: MemOp, _s: number): number[] {
  const d = m.disp.v;
  if (!m.disp.unknown && m.disp.rel === 0 && (d < -(1n << 31n) || d >= 1n << 32n)) fail(m.col, `address ${hex(d)} does not fit in 32 bits`);
  return le(d, 4);
}

function segOnly(m: MemOp): { seg?: Reg } {
  return m.seg ? { seg: m.seg } : {};
}

function encodePushPop(b: Builder, mnem: 'push' | 'pop', ops: readonly Op[], ctx: EncodeContext, h: Helpers): Encoded {
  h.nops(1);
  const [a] = ops;
  if (!a) return h.bad();
  const push = mnem === 'push';
  const mc = ctx.mnemCol;
  if (a.k === 'reg' && a.reg.cls === 'seg') {
    const n = a.reg.num;
    if (!push && n === 1) fail(a.col, 'pop cs is not a valid instruction');
    if (n < 4) {
      if (ctx.bits === 64) fail(a.col, `${mnem} ${a.reg.name} is not valid in 64-bit mode`);
      return b.build({ op: [(n << 3) + (push ? 6 : 7)] });
    }
    return b.build({ op: [0x0f, (n === 4 ? 0xa0 : 0xa8) + (push ? 0 : 1)] });
  }
  if (a.k === 'reg') {
    if (a.reg.cls !== 'gpr') return h.bad();
    const s = a.reg.size;
    if (s === 8 || (s === 32 && ctx.bits === 64) || (s === 64 && ctx.bits === 32)) fail(a.col, `${mnem}: a ${s}-bit register cannot be ${push ? 'pushed' : 'popped'} in ${ctx.bits}-bit mode`);
    return b.build({ osz: s === 16 ? 16 : undefined, op: [(push ? 0x50 : 0x58) + (a.reg.num & 7)], opReg: a.reg.num });
  }
  if (a.k === 'mem') {
    if (a.size === undefined) fail(a.col, `${mnem}: operation size not specified: write word or ${ctx.bits === 64 ? 'qword' : 'dword'} before '['`);
    const s = a.size;
    if (s !== 16 && s !== ctx.bits) fail(a.col, `${mnem}: a ${s}-bit memory operand is not valid in ${ctx.bits}-bit mode`);
    return b.build({ osz: s === 16 ? 16 : undefined, op: [push ? 0xff : 0x8f], reg: push ? 6 : 0, rm: a });
  }
  if (a.k === 'imm' && push) {
    if (a.size === 64 && ctx.bits === 32) fail(a.col, 'push: a 64-bit immediate push is only valid in 64-bit mode');
    if (a.size === 16) {
      checkImm(a, 16);
      if (isSbyte(a.v, 16) && !a.strict) return b.build({ osz: 16, op: [0x6a], imm: h.immBytes(a, 1) });
      return b.build({ osz: 16, op: [0x68], imm: h.immBytes(a, 2) });
    }
    checkImm(a, ctx.bits);
    const byteOk = (isSbyte(a.v, ctx.bits) && !(a.strict && a.size !== 8)) || (a.size === 8 && a.strict);
    if (byteOk) return b.build({ op: [0x6a], imm: h.immBytes(a, 1) });
    return b.build({ op: [0x68], imm: h.immBytes(a, 4) });
  }
  return fail(a.col ?? mc, `${mnem}: expected a register, segment register, memory operand${push ? ' or immediate' : ''}`);
}

function encodeCallJmp(b: Builder, mnem: 'call' | 'jmp', ops: readonly Op[], ctx: EncodeContext, h: Helpers): Encoded {
  h.nops(1);
  const [a] = ops;
  if (!a) return h.bad();
  const call = mnem === 'call';
  if (a.k === 'farptr') {
    if (ctx.bits === 64) fail(a.col, `${mnem} with an immediate far pointer is not valid in 64-bit mode; use '${mnem} far [mem]'`);
    const s = a.size ?? 32;
    if (s !== 16 && s !== 32) fail(a.col, `${mnem}: a far pointer offset is 16 or 32 bits`);
    const off = a.off.v;
    const seg = a.seg.v;
    if (!a.seg.unknown && (seg < 0n || seg > 0xffffn)) fail(a.col, `${mnem}: selector ${hex(seg)} does not fit in 16 bits`);
    return b.build({ osz: s === 16 ? 16 : undefined, op: [call ? 0x9a : 0xea], imm: [...le(off, s / 8), ...le(seg, 2)] });
  }
  if (a.k === 'mem' && a.far) {
    let s = a.size;
    if (s === undefined) s = ctx.bits === 64 ? 64 : 32;
    if (s !== 16 && s !== 32 && s !== 64) fail(a.col, `${mnem} far: the pointer's offset is 16, 32 or 64 bits`);
    return b.build({ osz: s === 32 ? undefined : s, op: [0xff], reg: call ? 3 : 5, rm: a });
  }
  if (a.k === 'reg' || a.k === 'mem') {
    if (a.k === 'reg' && a.reg.cls !== 'gpr') return h.bad();
    const s = a.k === 'reg' ? a.reg.size : (a.size ?? ctx.bits);
    if (s !== ctx.bits) fail(a.col, `${mnem}: an indirect target is ${ctx.bits}-bit in ${ctx.bits}-bit mode`);
    return b.build({ op: [0xff], reg: call ? 2 : 4, rm: a });
  }
  if (a.k === 'imm') {
    if (a.size !== undefined && a.size !== ctx.bits) fail(a.col, `${mnem}: only ${ctx.bits}-bit relative targets are supported here`);
    if (call) {
      if (a.short) fail(a.col, 'call has no short form');
      return relBranch(ctx, a, undefined, [0xe8]);
    }
    return relBranch(ctx, a, [0xeb], [0xe9]);
  }
  return h.bad();
}

function relBranch(ctx: EncodeContext, t: ImmOp, short: number[] | undefined, near: number[] | undefined): Encoded {
  const target = t.v;
  if (t.strict && t.size !== undefined) fail(t.col, "a jump target takes 'short' or 'near', not a strict size");
  if (target.rel !== 0 && target.rel !== 1) fail(t.col, 'expected a jump target that is one label plus or minus a number');
  const pre: number[] = [];
  for (const p of ctx.prefixes) if (p === 'o16') fail(ctx.mnemCol, '16-bit jumps are not supported');
  const disp = (len: number): bigint => target.v - (ctx.here + BigInt(pre.length + len));
  if (short) {
    const len = short.length + 1;
    const fits = target.unknown || (disp(len) >= -128n && disp(len) <= 127n);
    const wantShort = t.short || !near || (!t.near && !ctx.forceNear && target.rel === 1 && fits);
    if (wantShort) {
      if (!fits) fail(t.col, `short jump target is out of range by ${disp(len) < 0n ? -128n - disp(len) : disp(len) - 127n} bytes (expected -128..127)`);
      return { bytes: [...short, ...le(target.unknown ? 0n : disp(len), 1)] };
    }
  }
  const n = near ?? [];
  const len = n.length + 4;
  const dd = target.unknown ? 0n : disp(len);
  if (!target.unknown && (dd < -(1n << 31n) || dd >= 1n << 31n)) fail(t.col, 'jump target is out of the ±2 GiB range');
  return { bytes: [...n, ...le(dd, 4)], near: true };
}
