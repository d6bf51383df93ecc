/**
 * Exception and interrupt delivery through the IDT (SDM Vol. 3A, chapter 6; AMD APM Vol. 2, ch. 8),
 * double-fault escalation (Table 6-5) and triple fault, INT n / INT3 / INTO / INT1, and IRET.
 *
 * Not modelled (documented): task gates in the IDT and IRET with NT = 1 (a task return) raise
 * #GP(selector) / #GP(0) instead of switching tasks; virtual-8086 mode (IRET to VM = 1) raises #GP(0).
 * Delivery is atomic: every check and every stack write happens before any register changes, so a
 * fault during delivery leaves the registers as they were (the basis of #DF and triple fault).
 */
import { Fault, Priv, Vec, type CpuCore } from './core.ts';
import { Seg, type Insn } from './insn.ts';
import { Flag, SegAttr, type SegmentCache } from './state.ts';
import {
  EFER, add64, addSmall, attrConforming, attrDpl, attrIsCode, attrIsSeg, attrPresent, attrType, attrWritableData,
  canonical, descAttr, descLimit, fetchDescriptor, gp, loadCache, r64, setAccessed, setRspSized, stackAddrSize,
  stackOffset, stackPeek, stackPoke, type Desc,
} from './sys-util.ts';
import { big, eventTypeOf, exitOn, guestOn, ripOf, type EventInfo } from './guest.ts';

/** What kind of event is being delivered: decides EXT, the gate-DPL check and the saved RF. */
export const EventKind = { EXCEPTION: 0, EXTERNAL: 1, SOFTWARE: 2, ICEBP: 3 } as const;
export type EventKindValue = (typeof EventKind)[keyof typeof EventKind];

/** Vectors that push an error code (SDM Vol. 3A, Table 6-1). */
const ERROR_CODE_VECTORS = new Set<number>([8, 10, 11, 12, 13, 14, 17, 21]);
/** Fault-class exceptions: RF is set in the saved RFLAGS image (SDM Vol. 3A, 17.3.1.1). */
const FAULT_CLASS = new Set<number>([0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21]);
/** Contributory exceptions (SDM Vol. 3A, Table 6-4): #DE #TS #NP #SS #GP #CP. */
const CONTRIBUTORY = new Set<number>([0, 10, 11, 12, 13, 21]);

export function hasErrorCode(vector: number): boolean {
  return ERROR_CODE_VECTORS.has(vector);
}

/**
 * Whether a second exception during delivery of the first becomes #DF (SDM Vol. 3A, Table 6-5):
 * contributory then contributory, or page fault then contributory or page fault.
 */
export function isDoubleFault(first: number, second: number): boolean {
  if (CONTRIBUTORY.has(first)) return CONTRIBUTORY.has(second);
  if (first === Vec.PF) return CONTRIBUTORY.has(second) || second === Vec.PF;
  return false;
}

const SUP = Priv.SUPERVISOR;

/** Raw delivery of one event; throws Fault without changing registers if delivery fails. */
export function deliverEvent(cpu: CpuCore, vector: number, errorCode: number, kind: EventKindValue, retLo: number, retHi: number, setRf = false): void {
  const st = cpu.state;
  if (cpu.traceDelivery !== undefined) cpu.traceDelivery(vector, errorCode, kind);
  let image = st.rflags | 2;
  if (setRf || (kind === EventKind.EXCEPTION && FAULT_CLASS.has(vector))) image |= Flag.RF;
  if (cpu.mode() === 'real') deliverReal(cpu, vector, image, retLo);
  else if ((st.efer & EFER.LMA) !== 0) deliverLong(cpu, vector, errorCode, kind, image, retLo, retHi);
  else deliverProt(cpu, vector, errorCode, kind, image, retLo);
}

/** Real-address mode: the IVT of 4-byte IP:CS vectors at IDTR.base (SDM Vol. 3A, 20.1.4). */
function deliverReal(cpu: CpuCore, vector: number, image: number, retLo: number): void {
  const st = cpu.state;
  if (vector * 4 + 3 > st.idtr.limit) throw gp(0);
  const a = (st.idtr.baseLo + vector * 4) >>> 0;
  const ip = cpu.linRead(a, 0, 2, SUP);
  const cs = cpu.linRead((a + 2) >>> 0, 0, 2, SUP);
  stackPoke(cpu, -2, 2, image & 0xffff, 0);
  stackPoke(cpu, -4, 2, st.seg[Seg.CS]!.selector, 0);
  stackPoke(cpu, -6, 2, retLo & 0xffff, 0);
  stackOffset(cpu, -6);
  setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
  const c = st.seg[Seg.CS]!;
  c.selector = cs;
  c.baseLo = cs << 4;
  c.baseHi = 0;
  st.ripLo = ip;
  st.ripHi = 0;
  st.rflags &= ~(Flag.IF | Flag.TF | Flag.AC | Flag.RF);
  cpu.modeChanged();
}

/** The code segment a gate names: checks of SDM Vol. 3A, 6.12.1.1 and the INT n pseudocode. */
function gateTarget(cpu: CpuCore, sel: number, ext: number, long: boolean): Desc {
  if ((sel & 0xfffc) === 0) throw gp(ext);
  const d = fetchDescriptor(cpu, sel, Vec.GP, ext);
  const a = descAttr(d.hi);
  if (!attrIsCode(a) || attrDpl(a) > cpu.cpl()) throw gp((sel & 0xfffc) | ext);
  if (long && ((a & SegAttr.L) === 0 || (a & SegAttr.DB) !== 0)) throw gp((sel & 0xfffc) | ext);
  if (!attrPresent(a)) throw new Fault(Vec.NP, (sel & 0xfffc) | ext);
  return d;
}

/** Reads the gate for `vector`: 8-byte entries, or 16-byte entries in IA-32e mode. */
function readGate(cpu: CpuCore, vector: number, kind: EventKindValue, long: boolean): [number, number, number, number] {
  const st = cpu.state;
  const ext = kind === EventKind.SOFTWARE ? 0 : 1;
  const idtErr = vector * 8 + 2 + ext;
  const size = long ? 16 : 8;
  if (vector * size + size - 1 > st.idtr.limit) throw gp(idtErr);
  add64(st.idtr.baseLo, long ? st.idtr.baseHi : 0, vector * size, 0);
  const aLo = r64.lo;
  const aHi = long ? r64.hi : 0;
  const w: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < size / 4; i++) {
    addSmall(aLo, aHi, i * 4);
    w[i] = cpu.linRead(r64.lo, long ? r64.hi : 0, 4, SUP);
  }
  const type = (w[1] >>> 8) & 0x1f; // type field and S
  const ok = long ? (type === 0xe || type === 0xf) && ((w[3] >>> 8) & 0x1f) === 0 : type === 5 || type === 6 || type === 7 || type === 0xe || type === 0xf;
  if (!ok) throw gp(idtErr);
  if ((kind === EventKind.SOFTWARE) && ((w[1] >>> 13) & 3) < cpu.cpl()) throw gp(vector * 8 + 2);
  if ((w[1] & 0x8000) === 0) throw new Fault(Vec.NP, idtErr);
  if (type === 5) throw gp(idtErr); // task gate: task switching is not modelled
  return w;
}

/** Writes a stack image below `top` in a (not yet loaded) stack segment, with its limit checks. */
function writeStack32(cpu: CpuCore, ss: SegmentCache, top: number, vals: number[], width: 2 | 4, ssErr: number, priv: 0 | 1): number {
  const big = (ss.attr & SegAttr.DB) !== 0;
  const wrap = big ? 0xffffffff : 0xffff;
  const expandDown = (ss.attr & 4) !== 0;
  let off = top;
  const offs: number[] = [];
  for (let i = 0; i < vals.length; i++) {
    off = (off - width) & wrap;
    off >>>= 0;
    const last = off + width - 1;
    const ok = expandDown ? off > ss.limit && last <= wrap : last <= ss.limit && last <= wrap;
    if (!ok) throw new Fault(Vec.SS, ssErr);
    offs.push(off);
  }
  for (let i = 0; i < vals.length; i++) {
    cpu.linWrite((ss.baseLo + offs[i]!) >>> 0, 0, width, vals[i]! >>> 0, 0, priv);
  }
  return off;
}

/** Protected-mode delivery through a 16- or 32-bit interrupt or trap gate (SDM Vol. 3A, 6.12.1). */
function deliverProt(cpu: CpuCore, vector: number, err: number, kind: EventKindValue, image: number, retLo: number): void {
  const st = cpu.state;
  const ext = kind === EventKind.SOFTWARE ? 0 : 1;
  const g = readGate(cpu, vector, kind, false);
  const type = (g[1] >>> 8) & 0x1f;
  const gate32 = (type & 8) !== 0;
  const sel = g[0] >>> 16;
  const off = gate32 ? ((g[1] & 0xffff0000) | (g[0] & 0xffff)) >>> 0 : g[0] & 0xffff;
  const cs = gateTarget(cpu, sel, ext, false);
  const csAttr = descAttr(cs.hi);
  const cpl = cpu.cpl();
  const inner = !attrConforming(csAttr) && attrDpl(csAttr) < cpl;
  const newCpl = inner ? attrDpl(csAttr) : cpl;
  if (off > descLimit(cs.lo, cs.hi)) throw gp(ext);
  const width = gate32 ? 4 : 2;
  const mask = gate32 ? 0xffffffff : 0xffff;
  const curSs = st.seg[Seg.SS]!;
  const vals: number[] = [];
  let ss: SegmentCache;
  let top: number;
  let ssErr: number;
  let ssDesc: Desc | null = null;
  if (inner) {
    const [newSs, newEsp] = tssStack32(cpu, newCpl, ext);
    ssDesc = checkNewSs(cpu, newSs, newCpl, Vec.TS, ext);
    ss = { selector: newSs, baseLo: 0, baseHi: 0, limit: 0, attr: 0, valid: true };
    loadCache(ss, newSs, ssDesc);
    top = newEsp;
    ssErr = (newSs & 0xfffc) | ext;
    vals.push(curSs.selector, st.regLo[4]! & mask);
  } else {
    ss = curSs;
    top = (ss.attr & SegAttr.DB) !== 0 ? st.regLo[4]! : st.regLo[4]! & 0xffff;
    ssErr = ext;
  }
  vals.push(image & mask, st.seg[Seg.CS]!.selector, retLo & mask);
  if (err >= 0) vals.push(err & mask);
  const newTop = writeStack32(cpu, ss, top, vals, width, ssErr, newCpl === 3 ? Priv.CURRENT : SUP);
  setAccessed(cpu, cs);
  if (ssDesc !== null) {
    setAccessed(cpu, ssDesc);
    ss.attr = descAttr(ssDesc.hi);
  }
  // commit
  if (inner) st.seg[Seg.SS] = ss;
  const big = (ss.attr & SegAttr.DB) !== 0;
  setRspSized(cpu, newTop, 0, big ? 4 : 2);
  loadCache(st.seg[Seg.CS]!, (sel & 0xfffc) | newCpl, cs);
  st.ripLo = off;
  st.ripHi = 0;
  st.rflags &= ~(Flag.TF | Flag.NT | Flag.RF | Flag.VM);
  if ((type & 1) === 0) st.rflags &= ~Flag.IF;
  cpu.modeChanged();
}

/** SS:ESP for privilege level `pl` from a 32-bit or 16-bit TSS (SDM Vol. 3A, 8.2.1 / 8.6). */
function tssStack32(cpu: CpuCore, pl: number, ext: number): [number, number] {
  const tr = cpu.state.tr;
  const t = attrType(tr.attr);
  const tsErr = (tr.selector & 0xfffc) | ext;
  if (!tr.valid || attrIsSeg(tr.attr)) throw new Fault(Vec.TS, tsErr);
  if (t === 9 || t === 0xb) {
    const off = 4 + pl * 8;
    if (off + 5 > tr.limit) throw new Fault(Vec.TS, tsErr);
    const esp = cpu.linRead((tr.baseLo + off) >>> 0, 0, 4, SUP);
    const ss = cpu.linRead((tr.baseLo + off + 4) >>> 0, 0, 2, SUP);
    return [ss, esp];
  }
  if (t === 1 || t === 3) {
    const off = 2 + pl * 4;
    if (off + 3 > tr.limit) throw new Fault(Vec.TS, tsErr);
    const sp = cpu.linRead((tr.baseLo + off) >>> 0, 0, 2, SUP);
    const ss = cpu.linRead((tr.baseLo + off + 2) >>> 0, 0, 2, SUP);
    return [ss, sp];
  }
  throw new Fault(Vec.TS, tsErr);
}

/** Checks a stack segment for privilege level `pl`; faults with `vector` (#TS on delivery, #GP on returns). */
export function checkNewSs(cpu: CpuCore, sel: number, pl: number, vector: number, ext: number): Desc {
  if ((sel & 0xfffc) === 0) throw new Fault(vector, ext);
  const d = fetchDescriptor(cpu, sel, vector, ext);
  const a = descAttr(d.hi);
  if ((sel & 3) !== pl || attrDpl(a) !== pl || !attrWritableData(a)) throw new Fault(vector, (sel & 0xfffc) | ext);
  if (!attrPresent(a)) throw new Fault(Vec.SS, (sel & 0xfffc) | ext);
  return d;
}

/** IA-32e mode delivery through a 64-bit gate (SDM Vol. 3A, 6.14): IST, RSPn, 16-byte alignment, SS:RSP always pushed. */
function deliverLong(cpu: CpuCore, vector: number, err: number, kind: EventKindValue, image: number, retLo: number, retHi: number): void {
  const st = cpu.state;
  const ext = kind === EventKind.SOFTWARE ? 0 : 1;
  const g = readGate(cpu, vector, kind, true);
  const sel = g[0] >>> 16;
  const offLo = ((g[1] & 0xffff0000) | (g[0] & 0xffff)) >>> 0;
  const offHi = g[2] >>> 0;
  const ist = g[1] & 7;
  const cs = gateTarget(cpu, sel, ext, true);
  const csAttr = descAttr(cs.hi);
  const cpl = cpu.cpl();
  const newCpl = attrConforming(csAttr) ? cpl : attrDpl(csAttr);
  if (!canonical(cpu, offLo, offHi)) throw gp(ext);
  let rspLo: number;
  let rspHi: number;
  if (ist !== 0 || newCpl < cpl) {
    const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
    const tr = st.tr;
    const t = attrType(tr.attr);
    if (!tr.valid || attrIsSeg(tr.attr) || (t !== 9 && t !== 0xb) || off + 7 > tr.limit) throw new Fault(Vec.TS, (tr.selector & 0xfffc) | ext);
    add64(tr.baseLo, tr.baseHi, off, 0);
    const aLo = r64.lo;
    const aHi = r64.hi;
    rspLo = cpu.linRead(aLo, aHi, 4, SUP);
    addSmall(aLo, aHi, 4);
    rspHi = cpu.linRead(r64.lo, r64.hi, 4, SUP);
  } else {
    rspLo = st.regLo[4]!;
    rspHi = st.regHi[4]!;
  }
  if (!canonical(cpu, rspLo, rspHi)) throw new Fault(Vec.SS, ext);
  rspLo = (rspLo & ~0xf) >>> 0;
  const vals: number[] = [
    st.seg[Seg.SS]!.selector, 0, st.regLo[4]!, st.regHi[4]!, image >>> 0, 0, st.seg[Seg.CS]!.selector, 0, retLo >>> 0, retHi >>> 0,
  ];
  if (err >= 0) vals.push(err >>> 0, 0);
  const n = vals.length / 2;
  addSmall(rspLo, rspHi, -8 * n);
  const lowLo = r64.lo;
  const lowHi = r64.hi;
  if (!canonical(cpu, lowLo, lowHi)) throw new Fault(Vec.SS, ext);
  const priv = newCpl === 3 ? Priv.CURRENT : SUP;
  for (let i = 0; i < n; i++) {
    addSmall(rspLo, rspHi, -8 * (i + 1));
    cpu.linWrite(r64.lo, r64.hi, 8, vals[2 * i]!, vals[2 * i + 1]!, priv);
  }
  setAccessed(cpu, cs);
  // commit
  if (newCpl !== cpl) loadNullSs(cpu, newCpl);
  st.regLo[4] = lowLo;
  st.regHi[4] = lowHi;
  loadCache(st.seg[Seg.CS]!, (sel & 0xfffc) | newCpl, cs);
  st.ripLo = offLo;
  st.ripHi = offHi;
  st.rflags &= ~(Flag.TF | Flag.NT | Flag.RF | Flag.VM);
  if (((g[1] >>> 8) & 1) === 0) st.rflags &= ~Flag.IF;
  cpu.modeChanged();
}

/**
 * SS loaded with a null selector whose RPL is the new CPL (SDM Vol. 3A, 6.14.4): usable for 64-bit
 * stack accesses; the cache keeps DPL = CPL as the hardware's SS.DPL does.
 */
export function loadNullSs(cpu: CpuCore, pl: number): void {
  const ss = cpu.state.seg[Seg.SS]!;
  ss.selector = pl;
  ss.baseLo = 0;
  ss.baseHi = 0;
  ss.limit = 0xffffffff;
  ss.attr = 3 | SegAttr.S | (pl << SegAttr.DPL_SHIFT) | SegAttr.P | SegAttr.DB | SegAttr.G;
  ss.valid = false;
}

/**
 * Delivers an exception raised by the instruction at RIP (SDM Vol. 3A, 6.15): a fault during delivery
 * is delivered instead, or becomes #DF by Table 6-5; a fault while delivering #DF shuts the processor
 * down (triple fault) with no register changed except RFLAGS.RF, as KVM's exit state shows.
 * Once a fault-class exception has been attempted, RF stays set in the saved image of what follows
 * (the #DF frame's CS:EIP and flags are undefined in the SDM; this matches KVM, which sets RFLAGS.RF
 * before it injects a fault).
 */
export function deliverExceptionImpl(cpu: CpuCore, fault: Fault, kind: EventKindValue = EventKind.EXCEPTION): void {
  const st = cpu.state;
  let vec = fault.vector;
  let err = fault.errorCode;
  let sawFault = FAULT_CLASS.has(vec) && kind === EventKind.EXCEPTION;
  // Guest seam: each exception is offered to the monitor before its delivery starts (nothing pushed,
  // no IDT read). `during` is the event whose delivery raised it (an INT n whose delivery faulted
  // hands it over in guestVectoring); a #DF and a triple fault are not "during" anything (SDM Vol.
  // 3C "Information for VM Exits That Occur During Event Delivery"), and a second exception that makes a #DF is offered only as the #DF (Vol. 3A 6.15:
  // the processor signals #DF instead of it).
  const guest = guestOn(cpu);
  let during: EventInfo | null = null;
  if (guest && cpu.guestVectoring !== undefined) {
    during = cpu.guestVectoring;
    cpu.guestVectoring = null;
  }
  for (let guard = 0; ; guard++) {
    const exception = kind === EventKind.EXCEPTION;
    const code = exception && hasErrorCode(vec) ? (err < 0 ? 0 : err) : -1;
    // Real-address mode pushes no error code (SDM Vol. 3A, 20.1.4), and the exit information has none.
    const shown = guest && cpu.mode() === 'real' ? -1 : code;
    if (guest && exception) {
      const address = vec === Vec.PF ? big(st.cr2Lo, st.cr2Hi) : null;
      const what = { kind: 'exception', rip: ripOf(cpu), length: 0, vector: vec, type: 'hardware-exception', errorCode: shown, address, during } as const;
      if (cpu.guestIntercept!(what)) return;
    }
    try {
      deliverEvent(cpu, vec, code, kind, st.ripLo, st.ripHi, sawFault);
      return;
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      if ((exception && vec === Vec.DF) || guard >= 8) {
        if (sawFault) st.rflags |= Flag.RF;
        // Guest seam: the shutdown is offered as a triple fault (VMX exit reason 2, SVM SHUTDOWN),
        // with the registers as the failed delivery left them (delivery is atomic, above).
        if (guest && cpu.guestIntercept!({ kind: 'triple-fault', rip: ripOf(cpu), length: 0 })) return;
        st.shutdown = true;
        return;
      }
      if (FAULT_CLASS.has(e.vector)) sawFault = true;
      if (kind === EventKind.EXCEPTION && isDoubleFault(vec, e.vector)) {
        // Guest seam: the second exception meets the intercepts before it becomes #DF (SDM Vol. 3C
        // 28.2.4, 27.2.3 in older editions: information for VM exits during event delivery; APM Vol. 2 15.7.2): a
        // hypervisor that intercepts it (shadow paging's #PF) sees it with the first as `during`.
        if (guest) {
          const code2 = hasErrorCode(e.vector) ? (e.errorCode < 0 ? 0 : e.errorCode) : -1;
          const address = e.vector === Vec.PF ? big(st.cr2Lo, st.cr2Hi) : null;
          const first = { vector: vec, type: 'hardware-exception', errorCode: shown, length: 0 } as const;
          if (cpu.guestIntercept!({ kind: 'exception', rip: ripOf(cpu), length: 0, vector: e.vector, type: 'hardware-exception', errorCode: code2, address, during: first })) return;
        }
        vec = Vec.DF;
        err = 0;
        during = null;
      } else {
        if (guest) during = { vector: vec, type: eventTypeOf(kind), errorCode: shown, length: 0 };
        vec = e.vector;
        err = e.errorCode;
      }
      kind = EventKind.EXCEPTION;
    }
  }
}

/**
 * Guest seam for INT n, INT3, INTO and INT1: offered as an exception (or software interrupt) with
 * the instruction's length, RIP at the instruction (SDM Vol. 3C, VM exits, saving RIP: for a
 * software or privileged software exception it references the INT3/INTO/INT1 instruction; SVM's
 * INTn intercept is an instruction intercept), before the gate is read. A fault in
 * the delivery then reports this event as `during`.
 */
function deliverSoftware(cpu: CpuCore, insn: Insn, vector: number, kind: EventKindValue, nextLo: number, nextHi: number): void {
  if (!guestOn(cpu)) {
    deliverEvent(cpu, vector, -1, kind, nextLo, nextHi);
    return;
  }
  const type = eventTypeOf(kind, insn.mnemonic);
  exitOn(cpu, { kind: 'exception', rip: ripOf(cpu), length: insn.length, vector, type, errorCode: -1, address: null, during: null });
  try {
    deliverEvent(cpu, vector, -1, kind, nextLo, nextHi);
  } catch (e) {
    if (e instanceof Fault) cpu.guestVectoring = { vector, type, errorCode: -1, length: insn.length };
    throw e;
  }
}

/** INT n, INT3, INTO, INT1 (SDM Vol. 2A, INT n/INTO/INT3/INT1): return address is the next instruction. */
export function execInt(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  switch (insn.mnemonic) {
    case 'int': {
      const op = insn.operands[0];
      const v = op !== undefined && op.kind === 'imm' ? op.lo & 0xff : 0;
      deliverSoftware(cpu, insn, v, EventKind.SOFTWARE, nextLo, nextHi);
      return;
    }
    case 'int3':
      deliverSoftware(cpu, insn, Vec.BP, EventKind.SOFTWARE, nextLo, nextHi);
      return;
    case 'into':
      if (cpu.mode() === 'long64') throw new Fault(Vec.UD);
      if ((st.rflags & Flag.OF) === 0) {
        st.ripLo = nextLo;
        st.ripHi = nextHi;
        return;
      }
      deliverSoftware(cpu, insn, Vec.OF, EventKind.SOFTWARE, nextLo, nextHi);
      return;
    case 'int1':
      // ICEBP: a trap-like #DB, without the gate-DPL check, with EXT = 1 (SDM Vol. 3A, 6.13 and 6.12.1.1).
      deliverSoftware(cpu, insn, Vec.DB, EventKind.ICEBP, nextLo, nextHi);
      return;
    default:
      throw new Fault(Vec.UD);
  }
}

// ---- IRET ----

/** RFLAGS bits IRET/POPF may always load: CF PF AF ZF SF TF DF OF NT AC ID. */
const FLAGS_BASE = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT | Flag.AC | Flag.ID;

/** IRET / IRETD / IRETQ (SDM Vol. 2A, IRET; Vol. 3A, 6.14.3). */
export function execIret(cpu: CpuCore, insn: Insn): void {
  const st = cpu.state;
  const size = insn.opSize === 8 ? 8 : insn.opSize === 4 ? 4 : 2;
  const mode = cpu.mode();
  if (mode === 'real') {
    const ip = stackPeek(cpu, 0, size);
    const cs = stackPeek(cpu, size, size) & 0xffff;
    const fl = stackPeek(cpu, 2 * size, size);
    stackOffset(cpu, 3 * size);
    setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
    const c = st.seg[Seg.CS]!;
    c.selector = cs;
    c.baseLo = cs << 4;
    c.baseHi = 0;
    st.ripLo = size === 2 ? ip & 0xffff : ip;
    st.ripHi = 0;
    // SDM IRET, REAL-ADDRESS-MODE: EFLAGS ← (tempEFLAGS AND 257FD5H) OR (EFLAGS AND 1A0000H).
    const m = size === 2 ? 0x7fd5 : 0x257fd5;
    st.rflags = ((st.rflags & ~m) | (fl & m) | 2) >>> 0;
    cpu.modeChanged();
    return;
  }
  const lma = (st.efer & EFER.LMA) !== 0;
  if ((st.rflags & Flag.NT) !== 0) throw gp(0); // task return (legacy) is not modelled; in IA-32e mode it is #GP(0)
  const cpl = cpu.cpl();
  const ipLo = stackPeek(cpu, 0, size);
  const ipHi = r64.hi;
  const csSel = stackPeek(cpu, size, size) & 0xffff;
  const fl = stackPeek(cpu, 2 * size, size);
  if (!lma && (fl & Flag.VM) !== 0 && cpl === 0 && size === 4) throw gp(0); // return to virtual-8086 mode: not modelled
  const cs = checkReturnCs(cpu, csSel);
  const csAttr = descAttr(cs.hi);
  const newCpl = csSel & 3;
  const target64 = lma && (csAttr & SegAttr.L) !== 0;
  const popSs = newCpl > cpl || mode === 'long64';
  let ssSel = 0;
  let spLo = 0;
  let spHi = 0;
  if (popSs) {
    spLo = stackPeek(cpu, 3 * size, size);
    spHi = r64.hi;
    ssSel = stackPeek(cpu, 4 * size, size) & 0xffff;
  }
  checkReturnOffset(cpu, target64, ipLo, ipHi, cs);
  let ssDesc: Desc | null = null;
  if (popSs) ssDesc = checkReturnSs(cpu, ssSel, newCpl, target64);
  setAccessed(cpu, cs);
  if (ssDesc !== null) setAccessed(cpu, ssDesc);
  // RFLAGS: IF only if CPL <= IOPL, IOPL/VIF/VIP only at CPL 0; RF loads too (SDM IRET pseudocode).
  const iopl = (st.rflags & Flag.IOPL) >>> 12;
  let m = FLAGS_BASE | Flag.RF;
  if (cpl <= iopl) m |= Flag.IF;
  if (cpl === 0) m |= Flag.IOPL | Flag.VIF | Flag.VIP;
  if (size === 2) m &= 0xffff;
  // commit
  if (popSs) {
    if (ssDesc === null) loadNullSs(cpu, newCpl);
    else loadCache(st.seg[Seg.SS]!, ssSel, ssDesc);
    setRspSized(cpu, spLo, spHi, size);
  } else {
    stackOffset(cpu, 3 * size);
    setRspSized(cpu, r64.lo, r64.hi, stackAddrSize(cpu));
  }
  loadCache(st.seg[Seg.CS]!, csSel, cs);
  st.ripLo = size === 2 ? ipLo & 0xffff : ipLo >>> 0;
  st.ripHi = size === 8 ? ipHi >>> 0 : 0;
  st.rflags = ((st.rflags & ~m) | (fl & m) | 2) >>> 0;
  if (newCpl > cpl) nullInaccessibleSegments(cpu, newCpl);
  cpu.modeChanged();
}

/** Code-segment checks of a return to `sel` (IRET, RETF): SDM Vol. 2A IRET/RET pseudocode. */
export function checkReturnCs(cpu: CpuCore, sel: number): Desc {
  if ((sel & 0xfffc) === 0) throw gp(0);
  const d = fetchDescriptor(cpu, sel, Vec.GP, 0);
  const a = descAttr(d.hi);
  const rpl = sel & 3;
  const err = sel & 0xfffc;
  if (!attrIsCode(a) || rpl < cpu.cpl()) throw gp(err);
  if (attrConforming(a) ? attrDpl(a) > rpl : attrDpl(a) !== rpl) throw gp(err);
  if ((cpu.state.efer & EFER.LMA) !== 0 && (a & SegAttr.L) !== 0 && (a & SegAttr.DB) !== 0) throw gp(err);
  if (!attrPresent(a)) throw new Fault(Vec.NP, err);
  return d;
}

/** The return offset must be canonical (64-bit target) or within the new CS limit (#GP(0)). */
export function checkReturnOffset(cpu: CpuCore, target64: boolean, lo: number, hi: number, cs: Desc): void {
  if (target64) {
    if (!canonical(cpu, lo, hi)) throw gp(0);
  } else if (lo >>> 0 > descLimit(cs.lo, cs.hi)) throw gp(0);
}

/**
 * Stack-segment checks of a return to an outer level (or any IRET in 64-bit mode). A null SS is
 * allowed only when returning to 64-bit mode at CPL < 3 (SDM Vol. 2A IRET, IA-32e mode); then null is returned.
 */
export function checkReturnSs(cpu: CpuCore, sel: number, newCpl: number, target64: boolean): Desc | null {
  if ((sel & 0xfffc) === 0) {
    if (target64 && newCpl !== 3 && (sel & 3) === newCpl) return null;
    throw gp(0);
  }
  return checkNewSs(cpu, sel, newCpl, Vec.GP, 0);
}

/**
 * After a return to an outer level, ES/DS/FS/GS holding data or non-conforming code with DPL < new CPL
 * are loaded with null (SDM Vol. 2A, IRET and RET: "segment register invalid").
 */
export function nullInaccessibleSegments(cpu: CpuCore, newCpl: number): void {
  for (const i of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const s = cpu.state.seg[i]!;
    if (!s.valid || (s.selector & 0xfffc) === 0) continue;
    if ((attrIsCode(s.attr) && attrConforming(s.attr)) || attrDpl(s.attr) >= newCpl) continue;
    s.selector = 0;
    s.valid = false;
  }
}
