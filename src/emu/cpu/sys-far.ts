/**
 * Far JMP, far CALL and RETF to code segments (SDM Vol. 2A, JMP/CALL; Vol. 2B, RET; Vol. 3A, 5.8).
 * Conforming and non-conforming targets in protected, compatibility and 64-bit mode; real mode.
 * Not modelled (documented): call gates, task gates and TSS targets raise #GP(selector).
 */
import { Fault, Vec, type CpuCore } from './core.ts';
import { Seg, type Insn } from './insn.ts';
import { SegAttr } from './state.ts';
import { checkReturnCs, checkReturnOffset, checkReturnSs, loadNullSs, nullInaccessibleSegments } from './sys-int.ts';
import {
  EFER, attrConforming, attrDpl, attrIsCode, attrIsSeg, attrPresent, canonical, descAttr, descLimit, fetchDescriptor,
  gp, loadCache, r64, readMem, setAccessed, setRspSized, stackAddrSize, stackOffset, stackPeek, stackPoke, ud, type Desc,
} from './sys-util.ts';

/** Far JMP / far CALL: `ptr16:16/32` operand (kind 'far') or `m16:16/32/64` (FF /5, FF /3). */
export function execFarBranch(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): void {
  const op = insn.operands[0];
  const size = insn.opSize === 8 ? 8 : insn.opSize === 4 ? 4 : 2;
  let sel: number;
  let offLo: number;
  let offHi = 0;
  if (op === undefined) throw ud();
  if (op.kind === 'far') {
    sel = op.selector & 0xffff;
    offLo = size === 2 ? op.offset & 0xffff : op.offset >>> 0;
  } else if (op.kind === 'mem') {
    offLo = readMem(cpu, op, size, nextLo, nextHi);
    offHi = size === 8 ? r64.hi : 0;
    sel = readMem(cpu, op, 2, nextLo, nextHi, size) & 0xffff;
  } else throw ud();
  farTransfer(cpu, insn.mnemonic === 'call', sel, offLo, offHi, size, nextLo, nextHi);
}

function farTransfer(cpu: CpuCore, isCall: boolean, sel: number, offLo: number, offHi: number, size: 2 | 4 | 8, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  const cs = st.seg[Seg.CS]!;
  if (cpu.mode() === 'real') {
    if (isCall) {
      stackPoke(cpu, -size, size, cs.selector, 0);
      stackPoke(cpu, -2 * size, size, nextLo, 0);
      stackOffset(cpu, -2 * size);
      setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
    }
    cs.selector = sel;
    cs.baseLo = sel << 4;
    cs.baseHi = 0;
    st.ripLo = offLo;
    st.ripHi = 0;
    cpu.modeChanged();
    return;
  }
  const cpl = cpu.cpl();
  const err = sel & 0xfffc;
  if (err === 0) throw gp(0);
  const d = fetchDescriptor(cpu, sel, Vec.GP, 0);
  const a = descAttr(d.hi);
  if (!attrIsSeg(a)) throw gp(err); // call gate, task gate, TSS: not modelled
  if (!attrIsCode(a)) throw gp(err);
  if (attrConforming(a) ? attrDpl(a) > cpl : (sel & 3) > cpl || attrDpl(a) !== cpl) throw gp(err);
  const lma = (st.efer & EFER.LMA) !== 0;
  if (lma && (a & SegAttr.L) !== 0 && (a & SegAttr.DB) !== 0) throw gp(err);
  if (!attrPresent(a)) throw new Fault(Vec.NP, err);
  const target64 = lma && (a & SegAttr.L) !== 0;
  checkTarget(cpu, target64, offLo, offHi, d);
  if (isCall) {
    const cur64 = cpu.mode() === 'long64';
    stackPoke(cpu, -size, size, cs.selector, 0);
    stackPoke(cpu, -2 * size, size, nextLo, size === 8 || cur64 ? nextHi : 0);
  }
  setAccessed(cpu, d);
  if (isCall) {
    stackOffset(cpu, -2 * size);
    setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
  }
  loadCache(cs, (sel & 0xfffc) | cpl, d);
  st.ripLo = offLo >>> 0;
  st.ripHi = target64 ? offHi >>> 0 : 0;
  cpu.modeChanged();
}

function checkTarget(cpu: CpuCore, target64: boolean, lo: number, hi: number, d: Desc): void {
  if (target64) {
    if (!canonical(cpu, lo, hi)) throw gp(0);
  } else if (hi !== 0 || lo >>> 0 > descLimit(d.lo, d.hi)) throw gp(0);
}

/** RETF [imm16] (SDM Vol. 2B, RET: far return to same or outer privilege level). */
export function execRetf(cpu: CpuCore, insn: Insn): void {
  const st = cpu.state;
  const size = insn.opSize === 8 ? 8 : insn.opSize === 4 ? 4 : 2;
  const immOp = insn.operands[0];
  const imm = immOp !== undefined && immOp.kind === 'imm' ? immOp.lo & 0xffff : 0;
  const ipLo = stackPeek(cpu, 0, size);
  const ipHi = r64.hi;
  const csSel = stackPeek(cpu, size, size) & 0xffff;
  const cs = st.seg[Seg.CS]!;
  if (cpu.mode() === 'real') {
    stackOffset(cpu, 2 * size + imm);
    setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
    cs.selector = csSel;
    cs.baseLo = csSel << 4;
    cs.baseHi = 0;
    st.ripLo = size === 2 ? ipLo & 0xffff : ipLo;
    st.ripHi = 0;
    cpu.modeChanged();
    return;
  }
  const cpl = cpu.cpl();
  const d = checkReturnCs(cpu, csSel);
  const a = descAttr(d.hi);
  const newCpl = csSel & 3;
  const target64 = (st.efer & EFER.LMA) !== 0 && (a & SegAttr.L) !== 0;
  const lo = size === 2 ? ipLo & 0xffff : ipLo >>> 0;
  const hi = size === 8 ? ipHi : 0;
  checkReturnOffset(cpu, target64, lo, hi, d);
  if (newCpl > cpl) {
    const spLo = stackPeek(cpu, 2 * size + imm, size);
    const spHi = r64.hi;
    const ssSel = stackPeek(cpu, 3 * size + imm, size) & 0xffff;
    const ssDesc = checkReturnSs(cpu, ssSel, newCpl, target64);
    setAccessed(cpu, d);
    if (ssDesc !== null) setAccessed(cpu, ssDesc);
    loadCache(cs, csSel, d);
    cpu.modeChanged();
    if (ssDesc === null) loadNullSs(cpu, newCpl);
    else loadCache(st.seg[Seg.SS]!, ssSel, ssDesc);
    setRspSized(cpu, spLo, spHi, size);
    stackOffset(cpu, imm);
    setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
    nullInaccessibleSegments(cpu, newCpl);
  } else {
    setAccessed(cpu, d);
    stackOffset(cpu, 2 * size + imm);
    setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
    loadCache(cs, csSel, d);
  }
  st.ripLo = lo;
  st.ripHi = hi;
  cpu.modeChanged();
}
