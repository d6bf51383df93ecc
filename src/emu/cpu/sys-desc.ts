/**
 * Segment loading with its protected-mode checks (SDM Vol. 2B, MOV and POP; Vol. 3A, 5.5-5.7),
 * the descriptor-table instructions (LGDT, LIDT, SGDT, SIDT, SLDT, STR, LLDT, LTR), the
 * descriptor-inspection instructions (LAR, LSL, VERR, VERW: Vol. 3A, 5.10.1) and the I/O permission
 * check (Vol. 1, 19.5).
 */
import { exitOn, guestOn, guestOperand, ripOf, type DescMnemonic } from './guest.ts';
import { Fault, Priv, Vec, type CpuCore } from './core.ts';
import { Seg, type Insn, type SegIndex } from './insn.ts';
import { Flag } from './state.ts';
import { loadNullSs } from './sys-int.ts';
import {
  EFER, add64, addSmall, attrConforming, attrDpl, attrIsData, attrIsSeg, attrPresent, attrReadableCode, attrType,
  attrWritableData, descAttr, descLimit, fetchDescriptor, gp, loadCache, r64, readDescriptor, readMem, readOperand,
  setAccessed, ud, writeMem, writeReg, type Desc,
} from './sys-util.ts';

/**
 * Loads a data or stack segment register by selector, as MOV Sreg / POP Sreg / LDS... do (SDM Vol. 2B,
 * MOV, "Operation"). Real mode: base = selector × 16. In 64-bit mode a null SS is allowed at CPL < 3 with
 * RPL = CPL. A null selector in DS/ES/FS/GS clears the cached base on Intel and keeps it on AMD
 * (AMD APM Vol. 2, 4.5.3 "null selector"); that is what makes an FS/GS base survive on AMD.
 * The caller sets state.interruptShadow for MOV SS / POP SS.
 */
export function loadSegment(cpu: CpuCore, seg: SegIndex, selector: number): void {
  const st = cpu.state;
  const sel = selector & 0xffff;
  const c = st.seg[seg]!;
  const mode = cpu.mode();
  if (mode === 'real') {
    c.selector = sel;
    c.baseLo = sel << 4;
    c.baseHi = 0;
    c.valid = true;
    if (seg === Seg.CS) cpu.modeChanged();
    return;
  }
  if (seg === Seg.CS) throw ud();
  const cpl = cpu.cpl();
  const err = sel & 0xfffc;
  if (seg === Seg.SS) {
    if (err === 0) {
      if (mode === 'long64' && cpl < 3 && (sel & 3) === cpl) {
        loadNullSs(cpu, cpl);
        return;
      }
      throw gp(0);
    }
    const d = fetchDescriptor(cpu, sel, Vec.GP, 0);
    const a = descAttr(d.hi);
    if ((sel & 3) !== cpl || attrDpl(a) !== cpl || !attrWritableData(a)) throw gp(err);
    if (!attrPresent(a)) throw new Fault(Vec.SS, err);
    setAccessed(cpu, d);
    loadCache(c, sel, d);
    return;
  }
  if (err === 0) {
    c.selector = sel;
    c.valid = false;
    if (st.vendor === 'intel') {
      c.baseLo = 0;
      c.baseHi = 0;
      c.limit = 0;
      c.attr = 0;
    }
    return;
  }
  const d = fetchDescriptor(cpu, sel, Vec.GP, 0);
  const a = descAttr(d.hi);
  if (!attrIsData(a) && !attrReadableCode(a)) throw gp(err);
  if (!attrConforming(a) && ((sel & 3) > attrDpl(a) || cpl > attrDpl(a))) throw gp(err);
  if (!attrPresent(a)) throw new Fault(Vec.NP, err);
  setAccessed(cpu, d);
  loadCache(c, sel, d);
}

/**
 * Whether the I/O access is permitted (SDM Vol. 1, 19.5.1-19.5.2): always in real mode; at CPL <= IOPL;
 * otherwise every bit for the accessed ports in the TSS I/O permission bitmap (at the offset in TSS
 * bytes 0x66-0x67) must be 0 and inside the TSS limit. A 16-bit TSS has no bitmap.
 */
export function ioPermitted(cpu: CpuCore, port: number, size: 1 | 2 | 4): boolean {
  const st = cpu.state;
  if (cpu.mode() === 'real') return true;
  const iopl = (st.rflags & Flag.IOPL) >>> 12;
  if (cpu.cpl() <= iopl) return true;
  const tr = st.tr;
  const t = attrType(tr.attr);
  if (!tr.valid || attrIsSeg(tr.attr) || (t !== 9 && t !== 0xb) || tr.limit < 0x67) return false;
  const trHi = (st.efer & EFER.LMA) !== 0 ? tr.baseHi : 0;
  add64(tr.baseLo, trHi, 0x66, 0);
  const mapBase = cpu.linRead(r64.lo, r64.hi, 2, Priv.SUPERVISOR);
  const off = mapBase + (port >>> 3);
  if (off + 1 > tr.limit) return false;
  add64(tr.baseLo, trHi, off, 0);
  const bits = cpu.linRead(r64.lo, r64.hi, 2, Priv.SUPERVISOR);
  const mask = ((1 << size) - 1) << (port & 7);
  return (bits & mask) === 0;
}

function requireProtected(cpu: CpuCore): void {
  if (cpu.mode() === 'real') throw ud();
}

/** Stores a 16-bit value the way SLDT/STR/SMSW do: to memory 16 bits; to a register zero-extended to the operand size. */
export function storeSelectorLike(cpu: CpuCore, insn: Insn, value: number, nextLo: number, nextHi: number): void {
  const op = insn.operands[0];
  if (op === undefined) throw ud();
  if (op.kind === 'mem') writeMem(cpu, op, 2, value & 0xffff, 0, nextLo, nextHi);
  else if (op.kind === 'reg') writeReg(cpu, op.reg, insn.opSize === 1 ? 2 : insn.opSize, value >>> 0, 0);
  else throw ud();
}

const DESC_TABLE: ReadonlySet<string> = new Set(['sgdt', 'sidt', 'lgdt', 'lidt', 'sldt', 'str', 'lldt', 'ltr']);

/**
 * Guest seam: descriptor-table exiting (VMX) and the GDTR/IDTR/LDTR/TR read and write intercepts
 * (SVM). The faults that precede the exit, as the instruction checks them: #UD for a register
 * operand of LGDT/LIDT/SGDT/SIDT and for SLDT/STR/LLDT/LTR in real mode, #GP(0) for a load at
 * CPL > 0 (SDM Vol. 3C 26.1.1: invalid opcode and privilege faults first); the exit precedes every
 * memory access and the descriptor checks of LLDT/LTR. Throws GuestExit.signal when taken.
 */
function guestDescTable(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): void {
  const m = insn.mnemonic as DescMnemonic;
  const op = insn.operands[0];
  if (op === undefined || (op.kind !== 'mem' && op.kind !== 'reg')) return;
  const table = m === 'sgdt' || m === 'sidt' || m === 'lgdt' || m === 'lidt';
  if (table && op.kind !== 'mem') return;
  const real = cpu.mode() === 'real';
  if (!table && real) return;
  const load = m === 'lgdt' || m === 'lidt' || m === 'lldt' || m === 'ltr';
  if (load && !real && cpu.cpl() !== 0) return;
  exitOn(cpu, {
    kind: 'descriptor-table', rip: ripOf(cpu), length: insn.length, mnemonic: m,
    operand: guestOperand(cpu, insn, 0, nextLo, nextHi), opSize: insn.opSize, addrSize: insn.addrSize,
  });
}

/** LGDT, LIDT, SGDT, SIDT, SLDT, STR, LLDT, LTR, LAR, LSL, VERR, VERW. Returns false if not one of them. */
export function execDescInsn(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): boolean {
  const st = cpu.state;
  const m = insn.mnemonic;
  if (guestOn(cpu) && DESC_TABLE.has(m)) guestDescTable(cpu, insn, nextLo, nextHi);
  switch (m) {
    case 'lgdt':
    case 'lidt': {
      if (cpu.cpl() !== 0 && cpu.mode() !== 'real') throw gp(0);
      const op = insn.operands[0];
      if (op === undefined || op.kind !== 'mem') throw ud();
      const limit = readMem(cpu, op, 2, nextLo, nextHi);
      let baseLo: number;
      let baseHi = 0;
      if (cpu.mode() === 'long64') {
        baseLo = readMem(cpu, op, 8, nextLo, nextHi, 2);
        baseHi = r64.hi;
      } else {
        baseLo = readMem(cpu, op, 4, nextLo, nextHi, 2);
        if (insn.opSize === 2) baseLo &= 0x00ffffff;
      }
      const r = m === 'lgdt' ? st.gdtr : st.idtr;
      r.limit = limit;
      r.baseLo = baseLo >>> 0;
      r.baseHi = baseHi >>> 0;
      return true;
    }
    case 'sgdt':
    case 'sidt': {
      // Not privileged: a guest kernel at CPL 3 sees the real table's base (SDM Vol. 2B, SGDT; Vol. 3A, 2.8).
      const op = insn.operands[0];
      if (op === undefined || op.kind !== 'mem') throw ud();
      const r = m === 'sgdt' ? st.gdtr : st.idtr;
      if (cpu.mode() === 'long64') writeMem(cpu, op, 8, r.baseLo, r.baseHi, nextLo, nextHi, 2);
      else writeMem(cpu, op, 4, r.baseLo, 0, nextLo, nextHi, 2);
      writeMem(cpu, op, 2, r.limit & 0xffff, 0, nextLo, nextHi);
      return true;
    }
    case 'sldt':
      requireProtected(cpu);
      storeSelectorLike(cpu, insn, st.ldtr.selector, nextLo, nextHi);
      return true;
    case 'str':
      requireProtected(cpu);
      storeSelectorLike(cpu, insn, st.tr.selector, nextLo, nextHi);
      return true;
    case 'lldt':
    case 'ltr': {
      requireProtected(cpu);
      if (cpu.cpl() !== 0) throw gp(0);
      const sel = readOperand(cpu, insn.operands[0], 2, nextLo, nextHi) & 0xffff;
      if (m === 'lldt') execLldt(cpu, sel);
      else execLtr(cpu, sel);
      return true;
    }
    case 'lar':
    case 'lsl':
    case 'verr':
    case 'verw':
      requireProtected(cpu);
      execInspect(cpu, insn, nextLo, nextHi);
      return true;
    default:
      return false;
  }
}

/** In a 16-byte IA-32e system descriptor, the type field of the upper 8 bytes (bits 12:8 of dword 3) must be 0 (SDM Vol. 3A, Figure 8-4; LLDT/LTR #GP(selector)). */
function upperTypeSet(d: Desc): boolean {
  return ((d.hi2hi >>> 8) & 0x1f) !== 0;
}

/** LLDT (SDM Vol. 2A): a null selector marks LDTR unusable; else an LDT descriptor (type 2) in the GDT. */
function execLldt(cpu: CpuCore, sel: number): void {
  const st = cpu.state;
  const err = sel & 0xfffc;
  if (err === 0) {
    st.ldtr.selector = sel;
    st.ldtr.valid = false;
    return;
  }
  if ((sel & 4) !== 0) throw gp(err);
  const long = (st.efer & EFER.LMA) !== 0;
  const d = fetchDescriptor(cpu, sel, Vec.GP, 0, long);
  const a = descAttr(d.hi);
  if (attrIsSeg(a) || attrType(a) !== 2 || (long && upperTypeSet(d))) throw gp(err);
  if (!attrPresent(a)) throw new Fault(Vec.NP, err);
  loadCache(st.ldtr, sel, d, long ? d.hi2lo : 0);
}

/**
 * LTR (SDM Vol. 2A): the selector must name an available TSS in the GDT (type 9, or 1 outside IA-32e
 * mode); LTR marks the descriptor busy in memory (type bit 1) and loads TR.
 */
function execLtr(cpu: CpuCore, sel: number): void {
  const st = cpu.state;
  const err = sel & 0xfffc;
  if (err === 0) throw gp(0);
  if ((sel & 4) !== 0) throw gp(err);
  const long = (st.efer & EFER.LMA) !== 0;
  const d = fetchDescriptor(cpu, sel, Vec.GP, 0, long);
  const a = descAttr(d.hi);
  const t = attrType(a);
  if (attrIsSeg(a) || !(t === 9 || (t === 1 && !long)) || (long && upperTypeSet(d))) throw gp(err);
  if (!attrPresent(a)) throw new Fault(Vec.NP, err);
  addSmall(d.addrLo, d.addrHi, 5);
  cpu.linWrite(r64.lo, r64.hi, 1, ((d.hi >>> 8) | 2) & 0xff, 0, Priv.SUPERVISOR);
  d.hi |= 0x200;
  loadCache(st.tr, sel, d, long ? d.hi2lo : 0);
}

/** System-descriptor types LAR accepts (SDM Vol. 2A, LAR, Table 3-52/3-53), legacy and IA-32e mode. */
const LAR_SYS_LEGACY = new Set([1, 2, 3, 4, 5, 9, 0xb, 0xc]);
const LAR_SYS_LONG = new Set([2, 9, 0xb, 0xc]);
/** System-descriptor types LSL accepts (SDM Vol. 2A, LSL, Table 3-64). */
const LSL_SYS_LEGACY = new Set([1, 2, 3, 9, 0xb]);
const LSL_SYS_LONG = new Set([2, 9, 0xb]);

/**
 * LAR, LSL, VERR, VERW: ZF = 1 when the descriptor is visible at CPL and the selector's RPL
 * (DPL >= CPL and DPL >= RPL, except conforming code) and of an accepted type; ZF = 0 otherwise,
 * the destination unchanged. Only ZF changes.
 */
function execInspect(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  const m = insn.mnemonic;
  const srcOp = m === 'verr' || m === 'verw' ? insn.operands[0] : insn.operands[1];
  const sel = readOperand(cpu, srcOp, 2, nextLo, nextHi) & 0xffff;
  const long = (st.efer & EFER.LMA) !== 0;
  let ok = false;
  let value = 0;
  const d = (sel & 0xfffc) === 0 ? null : readDescriptor(cpu, sel);
  if (d !== null) {
    const a = descAttr(d.hi);
    const dpl = attrDpl(a);
    const visible = attrConforming(a) || (dpl >= cpu.cpl() && dpl >= (sel & 3));
    if (visible) {
      const t = attrType(a);
      switch (m) {
        case 'lar':
          ok = attrIsSeg(a) || (long ? LAR_SYS_LONG : LAR_SYS_LEGACY).has(t);
          value = insn.opSize === 2 ? d.hi & 0xff00 : d.hi & 0x00f0ff00;
          break;
        case 'lsl':
          ok = attrIsSeg(a) || (long ? LSL_SYS_LONG : LSL_SYS_LEGACY).has(t);
          value = descLimit(d.lo, d.hi);
          break;
        case 'verr':
          ok = attrIsData(a) || attrReadableCode(a);
          break;
        default:
          ok = attrWritableData(a);
      }
    }
  }
  if (ok) {
    st.rflags |= Flag.ZF;
    if (m === 'lar' || m === 'lsl') {
      const dst = insn.operands[0];
      if (dst === undefined || dst.kind !== 'reg') throw ud();
      const size = insn.opSize === 8 ? 8 : insn.opSize === 4 ? 4 : 2;
      writeReg(cpu, dst.reg, size, value >>> 0, 0);
    }
  } else st.rflags &= ~Flag.ZF;
}

