/**
 * The general instructions: each decoded instruction is compiled once into a closure that the
 * block loop in cpu.ts calls. Semantics and flags from SDM Vol. 2 (each instruction's
 * "Operation" and "Flags Affected"). Privileged and system instructions go to system.ts.
 *
 * A handler runs with `c.nextLo/nextHi` = the address of the next instruction; a branch
 * overwrites them. A handler that throws a Fault must not have changed architectural state
 * (memory writes come before register and flag updates).
 */
import * as core from './core.ts';
import type { Insn, MemOperand, Operand, SegIndex } from './insn.ts';
import type { Cpu, Handler } from './cpu.ts';
import * as alu from './alu.ts';

// Imported bindings as module-local constants: where the modules are transpiled to CommonJS
// (tsx in Node), every use of an imported binding is a property-getter call.
const { Fault, Vec } = core;
const {
  AF, CF, OF, PF, SF, STATUS, ZF, R, add, add64, sub, sub64, shift, mulU32,
  toBig, toSignedBig, fromBig, maskOf, signOf, LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC, LF_KIND_SHIFT, LF_SIZE_MASK,
} = alu;

export interface Compiled {
  fn: Handler;
  /** The instruction ends its block (a branch, or anything that may change mode or code). */
  ends: boolean;
}

type Getter = (c: Cpu) => number;
type Setter = (c: Cpu, lo: number, hi: number) => void;

const DF_FLAG = 1 << 10;

// Lazy-flag operation codes of the hot paths (alu.ts, lazyStatus).
const ADD4 = (LF_ADD << LF_KIND_SHIFT) | 4;
const SUB4 = (LF_SUB << LF_KIND_SHIFT) | 4;
const LOGIC4 = (LF_LOGIC << LF_KIND_SHIFT) | 4;
const INC4 = (LF_INC << LF_KIND_SHIFT) | 4;
const DEC4 = (LF_DEC << LF_KIND_SHIFT) | 4;
const ADD8 = (LF_ADD << LF_KIND_SHIFT) | 8;
const SUB8 = (LF_SUB << LF_KIND_SHIFT) | 8;
const LOGIC8 = (LF_LOGIC << LF_KIND_SHIFT) | 8;
const INC8 = (LF_INC << LF_KIND_SHIFT) | 8;
const DEC8 = (LF_DEC << LF_KIND_SHIFT) | 8;

/** Records a lazy 8-byte operation. */
function lazy8(c: Cpu, op: number, a: number, aH: number, b: number, bH: number, r: number, rH: number): void {
  c.lfOp = op; c.lfA = a; c.lfAh = aH; c.lfB = b; c.lfBh = bH; c.lfR = r; c.lfRh = rH;
}

/** ZF of a pending lazy record (c.lfOp ≠ 0). */
function lazyZf(c: Cpu): boolean {
  return c.lfR === 0 && ((c.lfOp & 8) === 0 || c.lfRh === 0);
}

// ---- conditions (SDM Vol. 1, Appendix B) ----------------------------------------------------

const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

export function cond(cc: number, f: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = (f & OF) !== 0; break;
    case 1: r = (f & CF) !== 0; break;
    case 2: r = (f & ZF) !== 0; break;
    case 3: r = (f & (CF | ZF)) !== 0; break;
    case 4: r = (f & SF) !== 0; break;
    case 5: r = (f & PF) !== 0; break;
    case 6: r = ((f & SF) !== 0) !== ((f & OF) !== 0); break;
    default: r = (f & ZF) !== 0 || ((f & SF) !== 0) !== ((f & OF) !== 0); break;
  }
  return (cc & 1) !== 0 ? !r : r;
}

function ccOf(mnemonic: string, prefix: string): number {
  return CC_NAMES.indexOf(mnemonic.slice(prefix.length));
}

// ---- effective addresses --------------------------------------------------------------------

/** Compiles the offset computation of a memory operand into c.eaLo / c.eaHi. */
export function compileEA(m: MemOperand): (c: Cpu) => void {
  const base = m.base;
  const index = m.index;
  const scale = m.scale;
  const dLo = m.dispLo;
  const dHi = m.dispHi;
  if (m.ripRel) {
    return (c) => {
      const t = c.nextLo + dLo;
      c.eaLo = t >>> 0;
      c.eaHi = (c.nextHi + dHi + (t > 0xffffffff ? 1 : 0)) >>> 0;
    };
  }
  if (m.addrSize === 8) {
    if (index < 0) {
      if (base < 0) return (c) => { c.eaLo = dLo; c.eaHi = dHi; };
      return (c) => {
        const t = c.regLo[base]! + dLo;
        c.eaLo = t >>> 0;
        c.eaHi = (c.regHi[base]! + dHi + (t > 0xffffffff ? 1 : 0)) >>> 0;
      };
    }
    return (c) => {
      const r = c.regLo;
      const h = c.regHi;
      const t = (base >= 0 ? r[base]! : 0) + r[index]! * scale + dLo;
      c.eaLo = t >>> 0;
      c.eaHi = ((base >= 0 ? h[base]! : 0) + h[index]! * scale + dHi + Math.floor(t / 0x100000000)) >>> 0;
    };
  }
  const mask = m.addrSize === 4 ? 0xffffffff : 0xffff;
  if (index < 0) {
    if (base < 0) {
      const v = (dLo & mask) >>> 0;
      return (c) => { c.eaLo = v; c.eaHi = 0; };
    }
    if (mask === 0xffffffff) return (c) => { c.eaLo = (c.regLo[base]! + dLo) >>> 0; c.eaHi = 0; };
    return (c) => { c.eaLo = (c.regLo[base]! + dLo) & 0xffff; c.eaHi = 0; };
  }
  return (c) => {
    const r = c.regLo;
    c.eaLo = (((base >= 0 ? r[base]! : 0) + r[index]! * scale + dLo) & mask) >>> 0;
    c.eaHi = 0;
  };
}

function memSize(m: MemOperand, fallback: number): 1 | 2 | 4 | 8 {
  const s = m.size === 0 ? fallback : m.size;
  return (s === 1 || s === 2 || s === 4 || s === 8 ? s : fallback) as 1 | 2 | 4 | 8;
}

// ---- register access ------------------------------------------------------------------------

export function writeReg(c: Cpu, r: number, size: number, high8: boolean, lo: number, hi: number): void {
  const L = c.regLo;
  switch (size) {
    case 1:
      if (high8) L[r] = (L[r]! & 0xffff00ff) | ((lo & 0xff) << 8);
      else L[r] = (L[r]! & 0xffffff00) | (lo & 0xff);
      return;
    case 2:
      L[r] = (L[r]! & 0xffff0000) | (lo & 0xffff);
      return;
    case 4:
      L[r] = lo;
      c.regHi[r] = 0;
      return;
    default:
      L[r] = lo;
      c.regHi[r] = hi;
  }
}

function regGetter(r: number, size: number, high8: boolean): Getter {
  switch (size) {
    case 1: return high8 ? (c) => (c.regLo[r]! >>> 8) & 0xff : (c) => c.regLo[r]! & 0xff;
    case 2: return (c) => c.regLo[r]! & 0xffff;
    case 4: return (c) => c.regLo[r]!;
    default: return (c) => { c.gHi = c.regHi[r]!; return c.regLo[r]!; };
  }
}

function regSetter(r: number, size: number, high8: boolean): Setter {
  switch (size) {
    case 1: return high8
      ? (c, lo) => { c.regLo[r] = (c.regLo[r]! & 0xffff00ff) | ((lo & 0xff) << 8); }
      : (c, lo) => { c.regLo[r] = (c.regLo[r]! & 0xffffff00) | (lo & 0xff); };
    case 2: return (c, lo) => { c.regLo[r] = (c.regLo[r]! & 0xffff0000) | (lo & 0xffff); };
    case 4: return (c, lo) => { c.regLo[r] = lo; c.regHi[r] = 0; };
    default: return (c, lo, hi) => { c.regLo[r] = lo; c.regHi[r] = hi; };
  }
}

/** Reads an operand (size = the operand's own size); memory operands compute the EA first. */
function getter(op: Operand, size: number): Getter {
  switch (op.kind) {
    case 'reg': return regGetter(op.reg, op.size, op.high8);
    case 'imm': {
      const lo = size === 8 ? op.lo : (op.lo & maskOf(size)) >>> 0;
      const hi = size === 8 ? op.hi : 0;
      if (size === 8) return (c) => { c.gHi = hi; return lo; };
      return () => lo;
    }
    case 'mem': {
      const ea = compileEA(op);
      const seg = op.seg;
      const sz = memSize(op, size);
      if (sz === 8) return (c) => { ea(c); const v = c.segRead(seg, c.eaLo, c.eaHi, 8); c.gHi = c.hiOut; return v; };
      return (c) => { ea(c); return c.segRead(seg, c.eaLo, c.eaHi, sz); };
    }
    case 'sreg': {
      const s = op.reg;
      return (c) => { c.gHi = 0; return c.state.seg[s]!.selector; };
    }
    default:
      throw new Error(`operand kind ${op.kind} cannot be read here`);
  }
}

/** Writes an operand; a memory operand writes at the EA its getter (or `ea`) computed last. */
function setter(op: Operand, size: number): Setter {
  switch (op.kind) {
    case 'reg': return regSetter(op.reg, op.size, op.high8);
    case 'mem': {
      const seg = op.seg;
      const sz = memSize(op, size);
      return (c, lo, hi) => c.segWrite(seg, c.eaLo, c.eaHi, sz, lo, hi);
    }
    default:
      throw new Error(`operand kind ${op.kind} cannot be written here`);
  }
}

/** Setter for a destination nobody has computed the EA of yet (mov [m], x). */
function freshSetter(op: Operand, size: number): Setter {
  if (op.kind !== 'mem') return setter(op, size);
  const ea = compileEA(op);
  const seg = op.seg;
  const sz = memSize(op, size);
  return (c, lo, hi) => { ea(c); c.segWrite(seg, c.eaLo, c.eaHi, sz, lo, hi); };
}

// ---- branches -------------------------------------------------------------------------------

/** Sets next RIP to a target, with the canonical check (64-bit) or CS limit check (SDM Vol. 3A, 6.15 #GP). */
export function setTarget(c: Cpu, lo: number, hi: number, opSize: number): void {
  if (c.is64) {
    if (opSize === 8) {
      if (((hi << c.canonShift) >> c.canonShift) !== (hi | 0)) throw new Fault(Vec.GP, 0);
      c.nextLo = lo >>> 0;
      c.nextHi = hi >>> 0;
    } else {
      c.nextLo = opSize === 2 ? lo & 0xffff : lo >>> 0;
      c.nextHi = 0;
    }
    return;
  }
  const t = opSize === 2 ? lo & 0xffff : lo >>> 0;
  if (c.mode() !== 'real' && t > c.state.seg[1]!.limit) throw new Fault(Vec.GP, 0);
  c.nextLo = t;
  c.nextHi = 0;
}

/** relTarget in 64-bit mode. */
function relTarget64(c: Cpu, disp: number): void {
  let lo = c.nextLo + disp;
  let hi = c.nextHi;
  if (lo > 0xffffffff) { lo -= 0x100000000; hi = (hi + 1) >>> 0; }
  else if (lo < 0) { lo += 0x100000000; hi = (hi - 1) >>> 0; }
  if (((hi << c.canonShift) >> c.canonShift) !== (hi | 0)) throw new Fault(Vec.GP, 0);
  c.nextLo = lo;
  c.nextHi = hi;
}

/** relTarget outside 64-bit mode with a 32-bit operand size. */
function relTarget32(c: Cpu, disp: number): void {
  const target = (c.nextLo + disp) >>> 0;
  if (target > c.state.seg[1]!.limit && c.mode() !== 'real') throw new Fault(Vec.GP, 0);
  c.nextLo = target;
}

function relTarget(c: Cpu, disp: number, opSize: number): void {
  if (c.is64) {
    let lo = c.nextLo + disp;
    let hi = c.nextHi;
    if (lo > 0xffffffff) { lo -= 0x100000000; hi = (hi + 1) >>> 0; }
    else if (lo < 0) { lo += 0x100000000; hi = (hi - 1) >>> 0; }
    setTarget(c, lo, hi, 8);
    return;
  }
  setTarget(c, c.nextLo + disp, 0, opSize);
}

// ---- counter registers (string instructions, loop) ------------------------------------------

function readCount(c: Cpu, r: number, asz: number): number {
  if (asz === 2) return c.regLo[r]! & 0xffff;
  if (asz === 4) return c.regLo[r]!;
  return c.regLo[r]! + c.regHi[r]! * 0x100000000;
}

function addReg(c: Cpu, r: number, asz: number, delta: number): void {
  const L = c.regLo;
  if (asz === 2) L[r] = (L[r]! & 0xffff0000) | ((L[r]! + delta) & 0xffff);
  else if (asz === 4) { L[r] = (L[r]! + delta) >>> 0; c.regHi[r] = 0; }
  else {
    const t = L[r]! + delta;
    L[r] = t >>> 0;
    if (t > 0xffffffff) c.regHi[r] = (c.regHi[r]! + 1) >>> 0;
    else if (t < 0) c.regHi[r] = (c.regHi[r]! - 1) >>> 0;
  }
}

/** Offset of a string index register as lo (hi in c.eaHi via the return convention below). */
function indexOffset(c: Cpu, r: number, asz: number): number {
  if (asz === 2) { c.eaHi = 0; return c.regLo[r]! & 0xffff; }
  if (asz === 4) { c.eaHi = 0; return c.regLo[r]!; }
  c.eaHi = c.regHi[r]!;
  return c.regLo[r]!;
}

// ---- flag merge helpers ---------------------------------------------------------------------

/** Sets all six status flags at once (dropping any pending lazy record). */
function setStatus(c: Cpu, f: number): void {
  c.lfOp = 0;
  c.state.rflags = (c.state.rflags & ~STATUS) | f;
}

/**
 * Evaluates condition cc (SDM Vol. 1, Appendix B) on the current flags: straight from a lazy
 * CMP/SUB record or a lazy result where it can, otherwise from the materialised RFLAGS.
 */
export function condNow(c: Cpu, cc: number): boolean {
  const op = c.lfOp;
  if (op === 0) return cond(cc, c.state.rflags);
  let r: boolean;
  if (op >> LF_KIND_SHIFT === LF_SUB && (op & 8) === 0) {
    const a = c.lfA, b = c.lfB;
    switch (cc >> 1) {
      case 1: r = a < b; break;
      case 2: r = a === b; break;
      case 3: r = a <= b; break;
      case 6: { const sh = 32 - 8 * (op & LF_SIZE_MASK); r = (a << sh) >> sh < (b << sh) >> sh; break; }
      case 7: { const sh = 32 - 8 * (op & LF_SIZE_MASK); r = (a << sh) >> sh <= (b << sh) >> sh; break; }
      default: return cond(cc, c.syncFlags());
    }
  } else if (cc >> 1 === 2) r = lazyZf(c);
  else return cond(cc, c.syncFlags());
  return (cc & 1) !== 0 ? !r : r;
}

// ---- the compiler ---------------------------------------------------------------------------

const ALU = new Set(['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'test']);
const SHIFTS = new Set(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar']);
const STRING_OPS = /^(movs|stos|lods|cmps|scas|ins|outs)([bwdq])$/;
const STRING_CHUNK = 4096;

function isFar(insn: Insn): boolean {
  const o = insn.operands[0];
  if (o === undefined) return false;
  if (o.kind === 'far') return true;
  // FF /3 and FF /5 carry a far pointer m16:16/32/64: two bytes more than the operand size.
  return o.kind === 'mem' && o.size === insn.opSize + 2;
}

/** `index` is the instruction's position in its block (see Cpu.blockSteps). */
export function compile(insn: Insn, cpu: Cpu, index = 0): Compiled {
  const m = insn.mnemonic;
  const ops = insn.operands;
  const sys = cpu.sys;
  if (
    sys.SYSTEM_MNEMONICS.has(m) ||
    ((m === 'jmp' || m === 'call') && isFar(insn)) ||
    (m === 'mov' && ops.some((o) => o.kind === 'cr'))
  ) {
    return {
      ends: true,
      fn: (c) => {
        c.syncFlags();
        // The block loop counts retired instructions at its end; the system layer sees exact
        // steps and TSC (RDTSC, WRMSR to the TSC), whatever the block boundaries are.
        const st = c.state;
        const exact = c.blockSteps + index;
        st.tsc += exact - st.steps;
        st.steps = exact;
        c.sys.execSystem(c, insn, c.nextLo, c.nextHi);
        c.nextLo = c.state.ripLo;
        c.nextHi = c.state.ripHi;
        c.modeChanged();
        c.brk = true;
      },
    };
  }
  const fn = compileGeneral(insn, cpu);
  if (fn === null) return { ends: true, fn: () => { throw new Fault(Vec.UD); } };
  return fn;
}

function compileGeneral(insn: Insn, cpu: Cpu): Compiled | null {
  const m = insn.mnemonic;
  const ops = insn.operands;
  const size = insn.opSize;
  const o0 = ops[0];
  const o1 = ops[1];
  const plain = (fn: Handler): Compiled => ({ fn, ends: false });
  const branch = (fn: Handler): Compiled => ({ fn, ends: true });

  if (ALU.has(m) && o0 !== undefined && o1 !== undefined) return plain(compileAlu(m, o0, o1, size));

  if (m === 'inc' || m === 'dec') {
    const d = o0!;
    const isInc = m === 'inc';
    if (d.kind === 'reg' && d.size === 4) {
      const r = d.reg;
      if (isInc) {
        return plain((c) => {
          const a = c.regLo[r]!;
          const v = (a + 1) >>> 0;
          c.lfCf = c.cfNow();
          c.regLo[r] = v;
          c.regHi[r] = 0;
          c.lfOp = INC4; c.lfA = a; c.lfR = v;
        });
      }
      return plain((c) => {
        const a = c.regLo[r]!;
        const v = (a - 1) >>> 0;
        c.lfCf = c.cfNow();
        c.regLo[r] = v;
        c.regHi[r] = 0;
        c.lfOp = DEC4; c.lfA = a; c.lfR = v;
      });
    }
    const get = getter(d, size);
    const set = setter(d, size);
    if (size !== 8) {
      const mask = maskOf(size);
      const op = ((isInc ? LF_INC : LF_DEC) << LF_KIND_SHIFT) | size;
      const delta = isInc ? 1 : -1;
      return plain((c) => {
        const a = get(c);
        const v = ((a + delta) & mask) >>> 0;
        const cf = c.cfNow();
        set(c, v, 0);
        c.lfCf = cf; c.lfOp = op; c.lfA = a; c.lfR = v;
      });
    }
    const op = isInc ? INC8 : DEC8;
    if (d.kind === 'reg') {
      const r = d.reg;
      return plain((c) => {
        const L = c.regLo, H = c.regHi;
        const a = L[r]!, aH = H[r]!;
        const t = isInc ? a + 1 : a - 1;
        const v = t >>> 0;
        const vH = (t > 0xffffffff ? aH + 1 : t < 0 ? aH - 1 : aH) >>> 0;
        c.lfCf = c.cfNow();
        L[r] = v; H[r] = vH;
        lazy8(c, op, a, aH, 1, 0, v, vH);
      });
    }
    return plain((c) => {
      const a = get(c);
      const aH = c.gHi;
      const t = isInc ? a + 1 : a - 1;
      const v = t >>> 0;
      const vH = (t > 0xffffffff ? aH + 1 : t < 0 ? aH - 1 : aH) >>> 0;
      const cf = c.cfNow();
      set(c, v, vH);
      c.lfCf = cf;
      lazy8(c, op, a, aH, 1, 0, v, vH);
    });
  }

  if (m === 'neg' || m === 'not') {
    const d = o0!;
    const get = getter(d, size);
    const set = setter(d, size);
    if (m === 'not') {
      return plain((c) => {
        const a = get(c);
        const aHi = c.gHi;
        if (size === 8) set(c, ~a >>> 0, ~aHi >>> 0);
        else set(c, (~a & maskOf(size)) >>> 0, 0);
      });
    }
    return plain((c) => {
      const a = get(c);
      const aHi = c.gHi;
      const f = size === 8 ? sub64(0, 0, a, aHi, 0) : sub(size, 0, a, 0);
      set(c, R.lo, R.hi);
      setStatus(c, f);
    });
  }

  if (SHIFTS.has(m)) {
    const d = o0!;
    const cnt = o1!;
    const get = getter(d, size);
    const set = setter(d, size);
    const zeroExt = d.kind === 'reg' && size === 4;
    const getCount = cnt.kind === 'imm' ? ((v: number) => () => v)(cnt.lo & 0xff) : (c: Cpu) => c.regLo[1]! & 0xff;
    return plain((c) => {
      const a = get(c);
      const aHi = size === 8 ? c.gHi : 0;
      const n = getCount(c);
      if ((n & (size === 8 ? 0x3f : 0x1f)) === 0) {
        // A 32-bit register destination is still written (zero-extended) in 64-bit mode.
        if (zeroExt) c.regHi[(d as { reg: number }).reg] = 0;
        return;
      }
      const f = shift(m, size, a, aHi, n, c.syncFlags());
      set(c, R.lo, R.hi);
      c.state.rflags = f;
    });
  }

  if (m.startsWith('j') && m !== 'jmp' && o0?.kind === 'rel' && !m.endsWith('cxz')) {
    const cc = ccOf(m, 'j');
    if (cc < 0) return null;
    const disp = o0.disp;
    if (cpu.is64) {
      if (cc === 4) return branch((c) => { if (c.lfOp !== 0 ? lazyZf(c) : (c.state.rflags & ZF) !== 0) relTarget64(c, disp); });
      if (cc === 5) return branch((c) => { if (c.lfOp !== 0 ? !lazyZf(c) : (c.state.rflags & ZF) === 0) relTarget64(c, disp); });
      return branch((c) => { if (condNow(c, cc)) relTarget64(c, disp); });
    }
    if (size === 4) {
      if (cc === 4) return branch((c) => { if (c.lfOp !== 0 ? lazyZf(c) : (c.state.rflags & ZF) !== 0) relTarget32(c, disp); });
      if (cc === 5) return branch((c) => { if (c.lfOp !== 0 ? !lazyZf(c) : (c.state.rflags & ZF) === 0) relTarget32(c, disp); });
      return branch((c) => { if (condNow(c, cc)) relTarget32(c, disp); });
    }
    return branch((c) => { if (condNow(c, cc)) relTarget(c, disp, size); });
  }

  switch (m) {
    case 'mov': return plain(compileMov(o0!, o1!, size));
    case 'nop': return plain(() => {});
    // PAUSE has no fault of its own: its intercept (VMX PAUSE exiting, SVM PAUSE) is unconditional here.
    case 'pause': return plain((c) => { if (c.guest !== null) c.guestInsn('pause', insn.length); });
    case 'ud2': return branch(() => { throw new Fault(Vec.UD); });

    case 'movzx': case 'movsx': case 'movsxd': {
      const src = o1!;
      const srcSize = src.kind === 'mem' ? src.size : src.kind === 'reg' ? src.size : 4;
      const get = getter(src, srcSize);
      const set = setter(o0!, size);
      const signed = m !== 'movzx';
      const bits = srcSize * 8;
      return plain((c) => {
        let v = get(c);
        if (signed && bits < 32) v = (v << (32 - bits)) >> (32 - bits);
        else if (signed) v = v | 0;
        if (size === 8) set(c, v >>> 0, signed && v < 0 ? 0xffffffff : 0);
        else set(c, (v & maskOf(size)) >>> 0, 0);
      });
    }

    case 'lea': {
      const mo = o1 as MemOperand;
      const ea = compileEA(mo);
      const set = setter(o0!, size);
      return plain((c) => {
        ea(c);
        if (size === 8) set(c, c.eaLo, c.eaHi);
        else set(c, (c.eaLo & maskOf(size)) >>> 0, 0);
      });
    }

    case 'xchg': {
      const a = o0!, b = o1!;
      const mem = a.kind === 'mem' ? a : b.kind === 'mem' ? b : null;
      const regOp = mem === a ? b : a;
      const other = mem === a ? a : b;
      const getR = getter(regOp, size);
      const setR = setter(regOp, size);
      const getO = getter(other, size);
      const setO = setter(other, size);
      return plain((c) => {
        const ov = getO(c); const oh = c.gHi;
        const rv = getR(c); const rh = c.gHi;
        setO(c, rv, rh);
        setR(c, ov, oh);
      });
    }

    case 'push': return plain(compilePush(o0!, insn));
    case 'pop': {
      const f = compilePop(o0!, insn);
      return o0!.kind === 'sreg' ? branch(f) : plain(f);
    }
    case 'pusha': case 'pushad': {
      const sz = size as 2 | 4;
      return plain((c) => {
        const L = c.regLo;
        const vals = [L[0]!, L[1]!, L[2]!, L[3]!, L[4]!, L[5]!, L[6]!, L[7]!];
        const sp = L[4]!;
        try {
          for (const v of vals) c.push(sz, sz === 2 ? v & 0xffff : v, 0);
        } catch (e) {
          L[4] = sp;
          throw e;
        }
      });
    }
    case 'popa': case 'popad': {
      const sz = size as 2 | 4;
      return plain((c) => {
        const v: number[] = [];
        for (let i = 0; i < 8; i++) v.push(c.peek(sz, i * sz));
        c.adjustSp(8 * sz);
        // Order popped: DI SI BP (SP skipped) BX DX CX AX.
        const regs = [7, 6, 5, -1, 3, 2, 1, 0];
        for (let i = 0; i < 8; i++) if (regs[i]! >= 0) writeReg(c, regs[i]!, sz, false, v[i]!, 0);
      });
    }

    case 'call': {
      const push = (c: Cpu): void => c.push(size === 8 ? 8 : (size as 2 | 4), c.nextLo, c.nextHi);
      if (o0!.kind === 'rel') {
        const disp = o0!.disp;
        return branch((c) => {
          const retLo = c.nextLo, retHi = c.nextHi;
          relTarget(c, disp, size);
          const tLo = c.nextLo, tHi = c.nextHi;
          c.nextLo = retLo; c.nextHi = retHi;
          push(c);
          c.nextLo = tLo; c.nextHi = tHi;
        });
      }
      const get = getter(o0!, size);
      return branch((c) => {
        const lo = get(c);
        const hi = size === 8 ? c.gHi : 0;
        const retLo = c.nextLo, retHi = c.nextHi;
        setTarget(c, lo, hi, size);
        const tLo = c.nextLo, tHi = c.nextHi;
        c.nextLo = retLo; c.nextHi = retHi;
        push(c);
        c.nextLo = tLo; c.nextHi = tHi;
      });
    }
    case 'jmp': {
      if (o0!.kind === 'rel') {
        const disp = o0!.disp;
        return branch((c) => relTarget(c, disp, size));
      }
      const get = getter(o0!, size);
      return branch((c) => {
        const lo = get(c);
        setTarget(c, lo, size === 8 ? c.gHi : 0, size);
      });
    }
    case 'ret': {
      const extra = o0?.kind === 'imm' ? o0.lo & 0xffff : 0;
      const sz = size as 2 | 4 | 8;
      return branch((c) => {
        const lo = c.peek(sz, 0);
        const hi = sz === 8 ? c.hiOut : 0;
        setTarget(c, lo, hi, sz);
        c.adjustSp(sz + extra);
      });
    }
    case 'loop': case 'loope': case 'loopne': case 'jcxz': case 'jecxz': case 'jrcxz': {
      const disp = (o0 as { disp: number }).disp;
      const asz = insn.addrSize;
      const kind = m;
      return branch((c) => {
        let take: boolean;
        if (kind === 'jcxz' || kind === 'jecxz' || kind === 'jrcxz') take = readCount(c, 1, asz) === 0;
        else {
          addReg(c, 1, asz, -1);
          const n = readCount(c, 1, asz);
          const zf = (c.syncFlags() & ZF) !== 0;
          take = n !== 0 && (kind === 'loop' || (kind === 'loope' ? zf : !zf));
        }
        if (take) relTarget(c, disp, c.is64 ? 8 : size);
      });
    }

    case 'leave': {
      const sz = size as 2 | 4 | 8;
      return plain((c) => {
        const L = c.regLo, H = c.regHi;
        const spLo = L[4]!, spHi = H[4]!;
        if (c.stackSize === 8) { L[4] = L[5]!; H[4] = H[5]!; }
        else if (c.stackSize === 4) L[4] = L[5]!;
        else L[4] = (L[4]! & 0xffff0000) | (L[5]! & 0xffff);
        try {
          const v = c.pop(sz);
          writeReg(c, 5, sz, false, v, c.hiOut);
        } catch (e) {
          L[4] = spLo; H[4] = spHi;
          throw e;
        }
      });
    }
    case 'enter': {
      const frame = (o0 as { lo: number }).lo & 0xffff;
      const level = (o1 as { lo: number }).lo & 31;
      const sz = size as 2 | 4 | 8;
      return plain((c) => {
        const L = c.regLo, H = c.regHi;
        const save = [L[4]!, H[4]!, L[5]!, H[5]!] as const;
        try {
          c.push(sz, L[5]!, H[5]!);
          const ftLo = L[4]!, ftHi = H[4]!;
          for (let i = 1; i < level; i++) {
            addReg(c, 5, c.stackSize, -sz);
            const off = c.stackSize === 2 ? L[5]! & 0xffff : L[5]!;
            const v = c.segRead(2, off, c.stackSize === 8 ? H[5]! : 0, sz);
            c.push(sz, v, c.hiOut);
          }
          if (level > 0) c.push(sz, c.stackSize === 2 ? ftLo & 0xffff : ftLo, ftHi);
          writeReg(c, 5, c.stackSize, false, ftLo, ftHi);
          addReg(c, 4, c.stackSize, -frame);
        } catch (e) {
          L[4] = save[0]; H[4] = save[1]; L[5] = save[2]; H[5] = save[3];
          throw e;
        }
      });
    }

    case 'cbw': return plain((c) => { const v = (c.regLo[0]! << 24) >> 24; writeReg(c, 0, 2, false, v & 0xffff, 0); });
    case 'cwde': return plain((c) => { const v = (c.regLo[0]! << 16) >> 16; writeReg(c, 0, 4, false, v >>> 0, 0); });
    case 'cdqe': return plain((c) => { c.regHi[0] = (c.regLo[0]! | 0) < 0 ? 0xffffffff : 0; });
    case 'cwd': return plain((c) => writeReg(c, 2, 2, false, (c.regLo[0]! & 0x8000) !== 0 ? 0xffff : 0, 0));
    case 'cdq': return plain((c) => writeReg(c, 2, 4, false, (c.regLo[0]! | 0) < 0 ? 0xffffffff : 0, 0));
    case 'cqo': return plain((c) => { const v = (c.regHi[0]! | 0) < 0 ? 0xffffffff : 0; writeReg(c, 2, 8, false, v, v); });

    case 'clc': return plain((c) => { c.state.rflags = c.syncFlags() & ~CF; });
    case 'stc': return plain((c) => { c.state.rflags = c.syncFlags() | CF; });
    case 'cmc': return plain((c) => { c.state.rflags = c.syncFlags() ^ CF; });
    case 'cld': return plain((c) => { c.state.rflags &= ~DF_FLAG; });
    case 'std': return plain((c) => { c.state.rflags |= DF_FLAG; });
    case 'lahf': return plain((c) => writeReg(c, 0, 1, true, (c.syncFlags() & (SF | ZF | AF | PF | CF)) | 2, 0));
    case 'sahf': return plain((c) => {
      const ah = (c.regLo[0]! >>> 8) & (SF | ZF | AF | PF | CF);
      c.state.rflags = (c.syncFlags() & ~(SF | ZF | AF | PF | CF)) | ah | 2;
    });

    case 'mul': case 'imul': case 'div': case 'idiv':
      return plain(compileMulDiv(m, insn));

    case 'xadd': {
      const get = getter(o0!, size);
      const set = setter(o0!, size);
      const getS = getter(o1!, size);
      const setS = setter(o1!, size);
      return plain((c) => {
        const a = get(c); const aHi = c.gHi;
        const b = getS(c); const bHi = c.gHi;
        const f = size === 8 ? add64(a, aHi, b, bHi, 0) : add(size, a, b, 0);
        const lo = R.lo, hi = R.hi;
        if (o0!.kind === 'mem') { set(c, lo, hi); setS(c, a, aHi); }
        else { setS(c, a, aHi); set(c, lo, hi); }
        setStatus(c, f);
      });
    }
    case 'cmpxchg': {
      const get = getter(o0!, size);
      const set = setter(o0!, size);
      const getS = getter(o1!, size);
      const getA = regGetter(0, size, false);
      const setA = regSetter(0, size, false);
      return plain((c) => {
        const d = get(c); const dHi = c.gHi;
        const a = getA(c); const aHi = c.gHi;
        const f = size === 8 ? sub64(a, aHi, d, dHi, 0) : sub(size, a, d, 0);
        if ((f & ZF) !== 0) {
          const s = getS(c);
          set(c, s, c.gHi);
        } else {
          if (o0!.kind === 'mem') set(c, d, dHi);
          setA(c, d, dHi);
        }
        setStatus(c, f);
      });
    }

    case 'bt': case 'bts': case 'btr': case 'btc': return plain(compileBt(m, insn));

    case 'bsf': case 'bsr': {
      const get = getter(o1!, size);
      const set = setter(o0!, size);
      const fwd = m === 'bsf';
      return plain((c) => {
        const lo = get(c);
        const hi = size === 8 ? c.gHi : 0;
        if (lo === 0 && hi === 0) { c.state.rflags = c.syncFlags() | ZF; return; }
        let idx: number;
        if (fwd) idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 32 + 31 - Math.clz32(hi & -hi);
        else idx = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
        set(c, idx, 0);
        c.state.rflags = c.syncFlags() & ~ZF;
      });
    }
    case 'bswap': {
      const r = (o0 as { reg: number }).reg;
      return plain((c) => {
        const sw = (v: number): number => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
        if (size === 8) { const lo = c.regLo[r]!; c.regLo[r] = sw(c.regHi[r]!); c.regHi[r] = sw(lo); }
        else if (size === 4) { c.regLo[r] = sw(c.regLo[r]!); c.regHi[r] = 0; }
        else writeReg(c, r, 2, false, 0, 0);
      });
    }

    case 'in': case 'out': {
      const isIn = m === 'in';
      const portOp = isIn ? o1! : o0!;
      const dataOp = isIn ? o0! : o1!;
      const sz = (dataOp as { size: number }).size as 1 | 2 | 4;
      const getPort = portOp.kind === 'imm' ? ((p: number) => () => p)(portOp.lo & 0xff) : (c: Cpu) => c.regLo[2]! & 0xffff;
      const immediate = portOp.kind === 'imm';
      // While a guest runs, the I/O intercept comes after the permission check (Cpu.guestIo says why).
      if (isIn) {
        return plain((c) => {
          const port = getPort(c);
          c.checkIo(port, sz);
          if (c.guest !== null) c.guestIo(port, sz, 'in', insn, immediate);
          const v = c.portIn(port, sz);
          writeReg(c, 0, sz, false, v >>> 0, 0);
        });
      }
      return plain((c) => {
        const port = getPort(c);
        c.checkIo(port, sz);
        if (c.guest !== null) c.guestIo(port, sz, 'out', insn, immediate);
        const v = c.regLo[0]!;
        c.portOut(port, sz, sz === 4 ? v : v & maskOf(sz));
      });
    }
  }

  if (m.startsWith('set')) {
    const cc = ccOf(m, 'set');
    if (cc < 0) return null;
    const set = freshSetter(o0!, 1);
    return plain((c) => set(c, condNow(c, cc) ? 1 : 0, 0));
  }
  if (m.startsWith('cmov')) {
    const cc = ccOf(m, 'cmov');
    if (cc < 0) return null;
    const get = getter(o1!, size);
    const d = o0 as { reg: number };
    const set = setter(o0!, size);
    return plain((c) => {
      const v = get(c);
      const h = c.gHi;
      if (condNow(c, cc)) set(c, v, h);
      else if (size === 4) c.regHi[d.reg] = 0;
    });
  }

  const sm = STRING_OPS.exec(m);
  if (sm !== null) return compileString(sm[1]!, sm[2]!, insn);

  return null;
}

// ---- ALU ------------------------------------------------------------------------------------

function compileAlu(m: string, d: Operand, s: Operand, size: number): Handler {
  const writes = m !== 'cmp' && m !== 'test';
  // Fast paths: 32-bit register destination with a register or immediate source; lazy flags.
  if (size === 4 && d.kind === 'reg' && (s.kind === 'reg' || s.kind === 'imm')) {
    const r = d.reg;
    const sr = s.kind === 'reg' ? s.reg : -1;
    const imm = s.kind === 'imm' ? s.lo >>> 0 : 0;
    switch (m) {
      case 'add':
        if (sr >= 0) return (c) => { const L = c.regLo; const a = L[r]!, b = L[sr]!; const v = (a + b) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = ADD4; c.lfA = a; c.lfB = b; c.lfR = v; };
        return (c) => { const L = c.regLo; const a = L[r]!; const v = (a + imm) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = ADD4; c.lfA = a; c.lfB = imm; c.lfR = v; };
      case 'sub':
        if (sr >= 0) return (c) => { const L = c.regLo; const a = L[r]!, b = L[sr]!; const v = (a - b) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = SUB4; c.lfA = a; c.lfB = b; c.lfR = v; };
        return (c) => { const L = c.regLo; const a = L[r]!; const v = (a - imm) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = SUB4; c.lfA = a; c.lfB = imm; c.lfR = v; };
      case 'cmp':
        if (sr >= 0) return (c) => { const L = c.regLo; const a = L[r]!, b = L[sr]!; c.lfOp = SUB4; c.lfA = a; c.lfB = b; c.lfR = (a - b) >>> 0; };
        return (c) => { const a = c.regLo[r]!; c.lfOp = SUB4; c.lfA = a; c.lfB = imm; c.lfR = (a - imm) >>> 0; };
      case 'and':
        if (sr >= 0) return (c) => { const L = c.regLo; const v = (L[r]! & L[sr]!) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = LOGIC4; c.lfR = v; };
        return (c) => { const L = c.regLo; const v = (L[r]! & imm) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = LOGIC4; c.lfR = v; };
      case 'or':
        if (sr >= 0) return (c) => { const L = c.regLo; const v = (L[r]! | L[sr]!) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = LOGIC4; c.lfR = v; };
        return (c) => { const L = c.regLo; const v = (L[r]! | imm) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = LOGIC4; c.lfR = v; };
      case 'xor':
        if (sr >= 0) return (c) => { const L = c.regLo; const v = (L[r]! ^ L[sr]!) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = LOGIC4; c.lfR = v; };
        return (c) => { const L = c.regLo; const v = (L[r]! ^ imm) >>> 0; L[r] = v; c.regHi[r] = 0; c.lfOp = LOGIC4; c.lfR = v; };
      case 'test':
        if (sr >= 0) return (c) => { const L = c.regLo; c.lfOp = LOGIC4; c.lfR = (L[r]! & L[sr]!) >>> 0; };
        return (c) => { c.lfOp = LOGIC4; c.lfR = (c.regLo[r]! & imm) >>> 0; };
    }
  }
  const get = getter(d, size);
  const getS = getter(s, size);
  const set = writes ? setter(d, size) : null;
  if (size !== 8) {
    // 8-, 16- and 32-bit forms: the result and lazy flags (adc and sbb compute theirs at once).
    const mask = maskOf(size);
    const opAdd = (LF_ADD << LF_KIND_SHIFT) | size, opSub = (LF_SUB << LF_KIND_SHIFT) | size, opLogic = (LF_LOGIC << LF_KIND_SHIFT) | size;
    switch (m) {
      case 'add': return (c) => { const a = get(c); const b = getS(c); const v = ((a + b) & mask) >>> 0; set!(c, v, 0); c.lfOp = opAdd; c.lfA = a; c.lfB = b; c.lfR = v; };
      case 'sub': return (c) => { const a = get(c); const b = getS(c); const v = ((a - b) & mask) >>> 0; set!(c, v, 0); c.lfOp = opSub; c.lfA = a; c.lfB = b; c.lfR = v; };
      case 'cmp': return (c) => { const a = get(c); const b = getS(c); c.lfOp = opSub; c.lfA = a; c.lfB = b; c.lfR = ((a - b) & mask) >>> 0; };
      case 'and': return (c) => { const a = get(c); const v = (a & getS(c) & mask) >>> 0; set!(c, v, 0); c.lfOp = opLogic; c.lfR = v; };
      case 'test': return (c) => { const a = get(c); c.lfOp = opLogic; c.lfR = (a & getS(c) & mask) >>> 0; };
      case 'or': return (c) => { const a = get(c); const v = ((a | getS(c)) & mask) >>> 0; set!(c, v, 0); c.lfOp = opLogic; c.lfR = v; };
      case 'xor': return (c) => { const a = get(c); const v = ((a ^ getS(c)) & mask) >>> 0; set!(c, v, 0); c.lfOp = opLogic; c.lfR = v; };
      case 'adc': return (c) => { const a = get(c); const b = getS(c); const f = add(size, a, b, c.cfNow()); set!(c, R.lo, 0); setStatus(c, f); };
      default: return (c) => { const a = get(c); const b = getS(c); const f = sub(size, a, b, c.cfNow()); set!(c, R.lo, 0); setStatus(c, f); };
    }
  }
  // 8-byte forms: lazy flags (adc and sbb compute theirs at once).
  if (d.kind === 'reg' && (s.kind === 'reg' || s.kind === 'imm')) {
    const r = d.reg;
    const sr = s.kind === 'reg' ? s.reg : -1;
    const iL = s.kind === 'imm' ? s.lo >>> 0 : 0;
    const iH = s.kind === 'imm' ? s.hi >>> 0 : 0;
    switch (m) {
      case 'add': return (c) => {
        const L = c.regLo, H = c.regHi;
        const a = L[r]!, aH = H[r]!, b = sr >= 0 ? L[sr]! : iL, bH = sr >= 0 ? H[sr]! : iH;
        const t = a + b;
        const v = t >>> 0, vH = (aH + bH + (t > 0xffffffff ? 1 : 0)) >>> 0;
        L[r] = v; H[r] = vH;
        lazy8(c, ADD8, a, aH, b, bH, v, vH);
      };
      case 'sub': case 'cmp': {
        const w = m === 'sub';
        return (c) => {
          const L = c.regLo, H = c.regHi;
          const a = L[r]!, aH = H[r]!, b = sr >= 0 ? L[sr]! : iL, bH = sr >= 0 ? H[sr]! : iH;
          const t = a - b;
          const v = t >>> 0, vH = (aH - bH - (t < 0 ? 1 : 0)) >>> 0;
          if (w) { L[r] = v; H[r] = vH; }
          lazy8(c, SUB8, a, aH, b, bH, v, vH);
        };
      }
    }
  }
  switch (m) {
    case 'add': return (c) => {
      const a = get(c); const aH = c.gHi;
      const b = getS(c); const bH = c.gHi;
      const t = a + b;
      const v = t >>> 0, vH = (aH + bH + (t > 0xffffffff ? 1 : 0)) >>> 0;
      set!(c, v, vH);
      lazy8(c, ADD8, a, aH, b, bH, v, vH);
    };
    case 'sub': case 'cmp': return (c) => {
      const a = get(c); const aH = c.gHi;
      const b = getS(c); const bH = c.gHi;
      const t = a - b;
      const v = t >>> 0, vH = (aH - bH - (t < 0 ? 1 : 0)) >>> 0;
      if (set !== null) set(c, v, vH);
      lazy8(c, SUB8, a, aH, b, bH, v, vH);
    };
    case 'and': case 'test': case 'or': case 'xor': {
      const k = m === 'and' || m === 'test' ? 0 : m === 'or' ? 1 : 2;
      return (c) => {
        const a = get(c); const aH = c.gHi;
        const b = getS(c); const bH = c.gHi;
        const v = (k === 0 ? a & b : k === 1 ? a | b : a ^ b) >>> 0;
        const vH = (k === 0 ? aH & bH : k === 1 ? aH | bH : aH ^ bH) >>> 0;
        if (set !== null) set(c, v, vH);
        lazy8(c, LOGIC8, 0, 0, 0, 0, v, vH);
      };
    }
  }
  const carry = m === 'adc';
  return (c) => {
    const a = get(c); const aHi = c.gHi;
    const b = getS(c); const bHi = c.gHi;
    const f = carry ? add64(a, aHi, b, bHi, c.cfNow()) : sub64(a, aHi, b, bHi, c.cfNow());
    set!(c, R.lo, R.hi);
    setStatus(c, f);
  };
}

// ---- mov ------------------------------------------------------------------------------------

function compileMov(d: Operand, s: Operand, size: number): Handler {
  if (d.kind === 'sreg') {
    const seg = d.reg;
    const get = getter(s, 2);
    return (c) => {
      const sel = get(c) & 0xffff;
      c.syncFlags();
      c.sys.loadSegment(c, seg, sel);
      if (seg === 2) { c.state.interruptShadow = true; c.brk = true; }
      c.modeChanged();
    };
  }
  if (s.kind === 'sreg') {
    const seg = s.reg;
    const set = freshSetter(d, d.kind === 'mem' ? 2 : size);
    return (c) => set(c, c.state.seg[seg]!.selector, 0);
  }
  if (d.kind === 'reg' && s.kind === 'imm') {
    const r = d.reg;
    if (size === 8) { const lo = s.lo, hi = s.hi; return (c) => { c.regLo[r] = lo; c.regHi[r] = hi; }; }
    if (size === 4) { const lo = s.lo; return (c) => { c.regLo[r] = lo; c.regHi[r] = 0; }; }
  }
  if (d.kind === 'reg' && s.kind === 'reg' && size >= 4) {
    const r = d.reg, q = s.reg;
    if (size === 8) return (c) => { c.regLo[r] = c.regLo[q]!; c.regHi[r] = c.regHi[q]!; };
    return (c) => { c.regLo[r] = c.regLo[q]!; c.regHi[r] = 0; };
  }
  const get = getter(s, size);
  const set = freshSetter(d, size);
  return (c) => { const v = get(c); set(c, v, c.gHi); };
}

// ---- push / pop -------------------------------------------------------------------------------

function compilePush(o: Operand, insn: Insn): Handler {
  const size = insn.opSize as 2 | 4 | 8;
  if (o.kind === 'sreg') {
    const seg = o.reg;
    // Recent processors write only the selector's 16 bits of a wider push (SDM Vol. 2, PUSH).
    return (c) => {
      const sel = c.state.seg[seg]!.selector;
      const spLo = c.regLo[4]!, spHi = c.regHi[4]!;
      addReg(c, 4, c.stackSize, -size);
      try {
        const off = c.stackSize === 2 ? c.regLo[4]! & 0xffff : c.regLo[4]!;
        c.segWrite(2, off, c.stackSize === 8 ? c.regHi[4]! : 0, 2, sel, 0);
      } catch (e) {
        c.regLo[4] = spLo; c.regHi[4] = spHi;
        throw e;
      }
    };
  }
  if (o.kind === 'reg' && size === 8) {
    const r = o.reg;
    return (c) => c.push(8, c.regLo[r]!, c.regHi[r]!);
  }
  const get = getter(o, size);
  return (c) => {
    const v = get(c);
    c.push(size, v, size === 8 ? c.gHi : 0);
  };
}

function compilePop(o: Operand, insn: Insn): Handler {
  const size = insn.opSize as 2 | 4 | 8;
  if (o.kind === 'sreg') {
    const seg = o.reg;
    return (c) => {
      const v = c.peek(size, 0) & 0xffff;
      c.syncFlags();
      c.sys.loadSegment(c, seg, v);
      c.adjustSp(size);
      if (seg === 2) c.state.interruptShadow = true;
      c.modeChanged();
      c.brk = true;
    };
  }
  if (o.kind === 'reg') {
    const set = regSetter(o.reg, size, false);
    return (c) => {
      const v = c.peek(size, 0);
      const h = c.hiOut;
      c.adjustSp(size);
      set(c, v, h);
    };
  }
  // POP r/m with an RSP-based address computes the address after RSP has moved (SDM Vol. 2, POP).
  const set = freshSetter(o, size);
  return (c) => {
    const v = c.peek(size, 0);
    const h = c.hiOut;
    const spLo = c.regLo[4]!, spHi = c.regHi[4]!;
    c.adjustSp(size);
    try {
      set(c, v, h);
    } catch (e) {
      c.regLo[4] = spLo; c.regHi[4] = spHi;
      throw e;
    }
  };
}

// ---- multiply / divide ------------------------------------------------------------------------

function compileMulDiv(m: string, insn: Insn): Handler {
  const ops = insn.operands;
  const size = insn.opSize;
  if (m === 'imul' && ops.length >= 2) {
    const set = setter(ops[0]!, size);
    const getA = getter(ops.length === 3 ? ops[1]! : ops[0]!, size);
    const getB = getter(ops.length === 3 ? ops[2]! : ops[1]!, size);
    return (c) => {
      const a = getA(c); const aHi = c.gHi;
      const b = getB(c); const bHi = c.gHi;
      let over: boolean;
      let lo: number;
      let hi = 0;
      if (size === 8) {
        const p = toSignedBig(a, aHi) * toSignedBig(b, bHi);
        over = BigInt.asIntN(64, p) !== p;
        fromBig(p);
        lo = R.lo; hi = R.hi;
      } else if (size === 4) {
        const p = (a | 0) * (b | 0);
        lo = Math.imul(a, b) >>> 0;
        over = p !== (lo | 0);
      } else {
        const sa = (a << 16) >> 16, sb = (b << 16) >> 16;
        const p = sa * sb;
        lo = p & 0xffff;
        over = p !== ((lo << 16) >> 16);
      }
      set(c, lo, hi);
      c.state.rflags = (c.syncFlags() & ~(CF | OF)) | (over ? CF | OF : 0);
    };
  }
  const get = getter(ops[0]!, size);
  const signed = m === 'imul' || m === 'idiv';
  if (m === 'mul' || m === 'imul') {
    return (c) => {
      const b = get(c); const bHi = c.gHi;
      const L = c.regLo;
      let over: boolean;
      if (size === 1) {
        const a = L[0]! & 0xff;
        const p = signed ? ((a << 24) >> 24) * ((b << 24) >> 24) : a * b;
        const r = p & 0xffff;
        writeReg(c, 0, 2, false, r, 0);
        over = signed ? ((r << 24) >> 24) !== p : r >>> 8 !== 0;
      } else if (size === 2) {
        const a = L[0]! & 0xffff;
        const p = signed ? ((a << 16) >> 16) * ((b << 16) >> 16) : a * b;
        const lo = p & 0xffff;
        const hi = (p >>> 16) & 0xffff;
        writeReg(c, 0, 2, false, lo, 0);
        writeReg(c, 2, 2, false, hi, 0);
        over = signed ? ((lo << 16) >> 16) !== p : hi !== 0;
      } else if (size === 4) {
        const a = L[0]!;
        if (signed) {
          const p = BigInt(a | 0) * BigInt(b | 0);
          fromBig(p);
          over = BigInt.asIntN(32, p) !== p;
        } else {
          mulU32(a, b);
          over = R.hi !== 0;
        }
        const lo = R.lo, hi = R.hi;
        writeReg(c, 0, 4, false, lo, 0);
        writeReg(c, 2, 4, false, hi, 0);
      } else {
        const a = toBig(L[0]!, c.regHi[0]!);
        const bb = toBig(b, bHi);
        const p = signed ? BigInt.asIntN(64, a) * BigInt.asIntN(64, bb) : a * bb;
        const u = BigInt.asUintN(128, p);
        fromBig(u);
        writeReg(c, 0, 8, false, R.lo, R.hi);
        fromBig(u >> 64n);
        writeReg(c, 2, 8, false, R.lo, R.hi);
        over = signed ? BigInt.asIntN(64, p) !== p : u >> 64n !== 0n;
      }
      c.state.rflags = (c.syncFlags() & ~(CF | OF)) | (over ? CF | OF : 0);
    };
  }
  // div / idiv: #DE on a zero divisor or a quotient that does not fit (SDM Vol. 2, DIV, IDIV).
  return (c) => {
    const b = get(c); const bHi = c.gHi;
    const L = c.regLo;
    if (size === 1 || size === 2) {
      const bits = size * 8;
      const dividendU = size === 1 ? L[0]! & 0xffff : ((L[2]! & 0xffff) << 16 | (L[0]! & 0xffff)) >>> 0;
      const dv = signed ? (size === 1 ? (dividendU << 16) >> 16 : dividendU | 0) : dividendU;
      const dsr = signed ? (b << (32 - bits)) >> (32 - bits) : b;
      if (dsr === 0) throw new Fault(Vec.DE);
      const q = Math.trunc(dv / dsr);
      const r = dv - q * dsr;
      const max = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
      const min = signed ? -(1 << (bits - 1)) : 0;
      if (q > max || q < min) throw new Fault(Vec.DE);
      if (size === 1) writeReg(c, 0, 2, false, ((r & 0xff) << 8) | (q & 0xff), 0);
      else { writeReg(c, 0, 2, false, q & 0xffff, 0); writeReg(c, 2, 2, false, r & 0xffff, 0); }
      return;
    }
    let dividend: bigint;
    let divisor: bigint;
    if (size === 4) {
      const u = (BigInt(L[2]!) << 32n) | BigInt(L[0]!);
      dividend = signed ? BigInt.asIntN(64, u) : u;
      divisor = signed ? BigInt(b | 0) : BigInt(b);
    } else {
      const u = (toBig(L[2]!, c.regHi[2]!) << 64n) | toBig(L[0]!, c.regHi[0]!);
      dividend = signed ? BigInt.asIntN(128, u) : u;
      divisor = signed ? toSignedBig(b, bHi) : toBig(b, bHi);
    }
    if (divisor === 0n) throw new Fault(Vec.DE);
    const q = dividend / divisor;
    const r = dividend % divisor;
    const bits = BigInt(size * 8);
    if (signed ? BigInt.asIntN(Number(bits), q) !== q : q >> bits !== 0n) throw new Fault(Vec.DE);
    fromBig(q);
    writeReg(c, 0, size, false, R.lo, R.hi);
    fromBig(r);
    writeReg(c, 2, size, false, R.lo, R.hi);
  };
}

// ---- bit test -----------------------------------------------------------------------------------

function compileBt(m: string, insn: Insn): Handler {
  const d = insn.operands[0]!;
  const s = insn.operands[1]!;
  const size = insn.opSize;
  const bits = size * 8;
  const modify = m === 'bt' ? 0 : m === 'bts' ? 1 : m === 'btr' ? 2 : 3;
  const apply = (c: Cpu, lo: number, hi: number, bit: number): [number, number] => {
    const inHi = bit >= 32;
    const mask = (1 << (bit & 31)) >>> 0;
    const word = inHi ? hi : lo;
    const cf = (word & mask) !== 0 ? CF : 0;
    c.state.rflags = (c.syncFlags() & ~CF) | cf;
    let w = word;
    if (modify === 1) w = (w | mask) >>> 0;
    else if (modify === 2) w = (w & ~mask) >>> 0;
    else if (modify === 3) w = (w ^ mask) >>> 0;
    return inHi ? [lo, w] : [w, hi];
  };
  if (d.kind === 'reg') {
    const get = getter(d, size);
    const set = setter(d, size);
    const getB = getter(s, s.kind === 'imm' ? 1 : size);
    return (c) => {
      const lo = get(c); const hi = size === 8 ? c.gHi : 0;
      const bit = getB(c) & (bits - 1);
      const [nl, nh] = apply(c, lo, hi, bit);
      if (modify !== 0) set(c, nl, nh);
    };
  }
  const mo = d as MemOperand;
  const ea = compileEA(mo);
  const seg = mo.seg;
  const sz = size as 1 | 2 | 4 | 8;
  const asz = mo.addrSize;
  const getB = s.kind === 'imm' ? null : getter(s, size);
  const immBit = s.kind === 'imm' ? s.lo & (bits - 1) : 0;
  return (c) => {
    let bit = immBit;
    if (getB !== null) {
      // The register bit offset is signed and may address memory outside the operand.
      const lo = getB(c);
      const off = size === 8 ? (c.gHi | 0) * 0x100000000 + lo : size === 4 ? lo | 0 : (lo << 16) >> 16;
      const wordIndex = Math.floor(off / bits);
      bit = off - wordIndex * bits;
      ea(c);
      const delta = wordIndex * size;
      if (asz === 8) {
        const t = c.eaLo + delta;
        const carry = Math.floor(t / 0x100000000);
        c.eaLo = t >>> 0;
        c.eaHi = (c.eaHi + carry) >>> 0;
      } else c.eaLo = ((c.eaLo + delta) & (asz === 4 ? 0xffffffff : 0xffff)) >>> 0;
    } else ea(c);
    const lo = c.segRead(seg, c.eaLo, c.eaHi, sz);
    const hi = sz === 8 ? c.hiOut : 0;
    const saved = c.syncFlags();
    const [nl, nh] = apply(c, lo, hi, bit);
    if (modify !== 0) {
      const f = c.state.rflags;
      c.state.rflags = saved;
      c.segWrite(seg, c.eaLo, c.eaHi, sz, nl, nh);
      c.state.rflags = f;
    }
  };
}

// ---- string instructions ------------------------------------------------------------------------

function compileString(op: string, suffix: string, insn: Insn): Compiled {
  const size = (suffix === 'b' ? 1 : suffix === 'w' ? 2 : suffix === 'd' ? 4 : 8) as 1 | 2 | 4 | 8;
  const asz = insn.addrSize;
  const srcSeg = (insn.segOverride >= 0 ? insn.segOverride : 3) as SegIndex;
  const rep = insn.rep;
  const compares = op === 'cmps' || op === 'scas';
  const mask = size === 8 ? 0 : maskOf(size);
  const sign = size === 8 ? 0 : signOf(size);
  void sign;

  const element = (c: Cpu): number => {
    const step = (c.state.rflags & DF_FLAG) !== 0 ? -size : size;
    switch (op) {
      case 'movs': {
        const so = indexOffset(c, 6, asz);
        const v = c.segRead(srcSeg, so, c.eaHi, size);
        const vh = c.hiOut;
        const dof = indexOffset(c, 7, asz);
        c.segWrite(0, dof, c.eaHi, size, v, vh);
        addReg(c, 6, asz, step);
        addReg(c, 7, asz, step);
        return 0;
      }
      case 'stos': {
        const dof = indexOffset(c, 7, asz);
        c.segWrite(0, dof, c.eaHi, size, size === 8 ? c.regLo[0]! : c.regLo[0]! & mask, c.regHi[0]!);
        addReg(c, 7, asz, step);
        return 0;
      }
      case 'lods': {
        const so = indexOffset(c, 6, asz);
        const v = c.segRead(srcSeg, so, c.eaHi, size);
        writeReg(c, 0, size, false, v, c.hiOut);
        addReg(c, 6, asz, step);
        return 0;
      }
      case 'cmps': {
        const so = indexOffset(c, 6, asz);
        const a = c.segRead(srcSeg, so, c.eaHi, size);
        const ah = c.hiOut;
        const dof = indexOffset(c, 7, asz);
        const b = c.segRead(0, dof, c.eaHi, size);
        const f = size === 8 ? sub64(a, ah, b, c.hiOut, 0) : sub(size, a, b, 0);
        setStatus(c, f);
        addReg(c, 6, asz, step);
        addReg(c, 7, asz, step);
        return f;
      }
      case 'scas': {
        const dof = indexOffset(c, 7, asz);
        const b = c.segRead(0, dof, c.eaHi, size);
        const f = size === 8 ? sub64(c.regLo[0]!, c.regHi[0]!, b, c.hiOut, 0) : sub(size, c.regLo[0]! & mask, b, 0);
        setStatus(c, f);
        addReg(c, 7, asz, step);
        return f;
      }
      case 'ins': {
        const port = c.regLo[2]! & 0xffff;
        const sz = size as 1 | 2 | 4;
        c.checkIo(port, sz);
        if (c.guest !== null) c.guestIo(port, sz, 'in', insn, false);
        const dof = indexOffset(c, 7, asz);
        c.checkWrite(0, dof, c.eaHi, size);
        const v = c.portIn(port, sz);
        c.segWrite(0, dof, c.eaHi, size, v, 0);
        addReg(c, 7, asz, step);
        return 0;
      }
      default: {
        const port = c.regLo[2]! & 0xffff;
        const sz = size as 1 | 2 | 4;
        c.checkIo(port, sz);
        if (c.guest !== null) c.guestIo(port, sz, 'out', insn, false);
        const so = indexOffset(c, 6, asz);
        const v = c.segRead(srcSeg, so, c.eaHi, size);
        c.portOut(port, sz, v);
        addReg(c, 6, asz, step);
        return 0;
      }
    }
  };

  if (rep === 'none') return { ends: false, fn: (c) => { element(c); } };
  const repne = rep === 'repne';
  return {
    ends: true,
    fn: (c) => {
      for (let k = 0; ; k++) {
        if (readCount(c, 1, asz) === 0) return;
        if (k === STRING_CHUNK) {
          // Not finished: stay on this instruction so that interrupts can be taken in between.
          c.nextLo = c.state.ripLo;
          c.nextHi = c.state.ripHi;
          c.brk = true;
          return;
        }
        const f = element(c);
        addReg(c, 1, asz, -1);
        if (compares && ((f & ZF) !== 0) === repne) return;
      }
    },
  };
}
