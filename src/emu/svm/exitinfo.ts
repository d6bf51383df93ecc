/**
 * The bit layouts of SVM's information fields (AMD APM Vol. 2): EXITINFO1 of an IOIO intercept
 * (15.10.2) and of a nested page fault (15.25.6), EVENTINJ (15.20) and EXITINTINFO (15.7.2),
 * which share one format, TLB_CONTROL (15.16.1), the V_INTR fields of INT_CTL and V_INTR_VECTOR
 * (15.21), INT_STATE (15.21.5), NP_ENABLE in the nested-paging control word (15.25.3), and the VMCB
 * clean bits (15.15.3). Encoders and decoders are exact inverses on every valid value.
 */
import type { U64 } from './vmcb.ts';

// ---- IOIO EXITINFO1 (APM 15.10.2, Figure 15-2) ----

export const IoioInfo = {
  /** 1 = IN (or INS), 0 = OUT (or OUTS). */
  TYPE_IN: 1 << 0,
  STR: 1 << 2,
  REP: 1 << 3,
  SZ8: 1 << 4,
  SZ16: 1 << 5,
  SZ32: 1 << 6,
  A16: 1 << 7,
  A32: 1 << 8,
  A64: 1 << 9,
  SEG_SHIFT: 10,
  SEG_MASK: 7 << 10,
  PORT_SHIFT: 16,
} as const;

export interface IoioExit {
  in: boolean;
  string: boolean;
  rep: boolean;
  /** Operand size in bytes. */
  size: 1 | 2 | 4;
  /** Address size of a string instruction (the field is set for every IOIO exit). */
  addrSize: 16 | 32 | 64;
  /** Effective segment of an OUTS (0 ES … 5 GS, the SegIndex order). */
  seg: number;
  port: number;
}

export function encodeIoioInfo(e: IoioExit): number {
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) throw new RangeError(`port ${e.port}`);
  if (!Number.isInteger(e.seg) || e.seg < 0 || e.seg > 7) throw new RangeError(`segment ${e.seg}`);
  let v = e.in ? IoioInfo.TYPE_IN : 0;
  if (e.string) v |= IoioInfo.STR;
  if (e.rep) v |= IoioInfo.REP;
  v |= e.size === 1 ? IoioInfo.SZ8 : e.size === 2 ? IoioInfo.SZ16 : IoioInfo.SZ32;
  v |= e.addrSize === 16 ? IoioInfo.A16 : e.addrSize === 32 ? IoioInfo.A32 : IoioInfo.A64;
  v |= e.seg << IoioInfo.SEG_SHIFT;
  v |= e.port << IoioInfo.PORT_SHIFT;
  return v >>> 0;
}

/** Decodes an IOIO EXITINFO1; undefined if the size or address-size field is not one-hot. */
export function decodeIoioInfo(v: number): IoioExit | undefined {
  const sz = (v >>> 4) & 7;
  const as = (v >>> 7) & 7;
  const size = sz === 1 ? 1 : sz === 2 ? 2 : sz === 4 ? 4 : undefined;
  const addrSize = as === 1 ? 16 : as === 2 ? 32 : as === 4 ? 64 : undefined;
  if (size === undefined || addrSize === undefined) return undefined;
  return {
    in: (v & IoioInfo.TYPE_IN) !== 0,
    string: (v & IoioInfo.STR) !== 0,
    rep: (v & IoioInfo.REP) !== 0,
    size,
    addrSize,
    seg: (v & IoioInfo.SEG_MASK) >>> IoioInfo.SEG_SHIFT,
    port: v >>> IoioInfo.PORT_SHIFT,
  };
}

// ---- nested page fault EXITINFO1 (APM 15.25.6) ----

/** Bits 4:0 are the #PF error code's; bits 32 and 33 are in the high half. */
export const NpfInfo = {
  P: 1 << 0,
  RW: 1 << 1,
  US: 1 << 2,
  RSV: 1 << 3,
  ID: 1 << 4,
  /** Bit 32: the fault happened translating the guest's final guest-physical address. */
  HI_FINAL_GPA: 1 << 0,
  /** Bit 33: the fault happened translating a guest page-table access (the guest's walk). */
  HI_GUEST_TABLE: 1 << 1,
} as const;

export interface NpfExit {
  present: boolean;
  write: boolean;
  user: boolean;
  reserved: boolean;
  fetch: boolean;
  finalGpa: boolean;
  guestTable: boolean;
}

export function encodeNpfInfo(e: NpfExit): U64 {
  const lo = (e.present ? NpfInfo.P : 0) | (e.write ? NpfInfo.RW : 0) | (e.user ? NpfInfo.US : 0) | (e.reserved ? NpfInfo.RSV : 0) | (e.fetch ? NpfInfo.ID : 0);
  const hi = (e.finalGpa ? NpfInfo.HI_FINAL_GPA : 0) | (e.guestTable ? NpfInfo.HI_GUEST_TABLE : 0);
  return { lo, hi };
}

export function decodeNpfInfo(v: U64): NpfExit {
  return {
    present: (v.lo & NpfInfo.P) !== 0,
    write: (v.lo & NpfInfo.RW) !== 0,
    user: (v.lo & NpfInfo.US) !== 0,
    reserved: (v.lo & NpfInfo.RSV) !== 0,
    fetch: (v.lo & NpfInfo.ID) !== 0,
    finalGpa: (v.hi & NpfInfo.HI_FINAL_GPA) !== 0,
    guestTable: (v.hi & NpfInfo.HI_GUEST_TABLE) !== 0,
  };
}

// ---- EVENTINJ and EXITINTINFO (APM 15.20, 15.7.2) ----

export const EventInfo = {
  VECTOR_MASK: 0xff,
  TYPE_SHIFT: 8,
  TYPE_MASK: 7 << 8,
  /** EV: an error code is pushed (bits 63:32). */
  EV: 1 << 11,
  /** V: the field is valid. */
  V: 0x80000000,
} as const;

/** The TYPE field. 1, 5, 6 and 7 are reserved. */
export const EventType = { INTR: 0, NMI: 2, EXCEPTION: 3, SOFT_INT: 4 } as const;

export interface SvmEvent {
  valid: boolean;
  vector: number;
  type: number;
  /** The error code, or undefined when EV is 0. */
  errorCode?: number;
}

export function encodeEvent(e: SvmEvent): U64 {
  if (!Number.isInteger(e.vector) || e.vector < 0 || e.vector > 0xff) throw new RangeError(`vector ${e.vector}`);
  if (!Number.isInteger(e.type) || e.type < 0 || e.type > 7) throw new RangeError(`type ${e.type}`);
  let lo = e.vector | (e.type << EventInfo.TYPE_SHIFT);
  if (e.errorCode !== undefined) lo |= EventInfo.EV;
  if (e.valid) lo |= EventInfo.V;
  return { lo: lo >>> 0, hi: (e.errorCode ?? 0) >>> 0 };
}

export function decodeEvent(v: U64): SvmEvent {
  const ev: SvmEvent = { valid: (v.lo & EventInfo.V) !== 0, vector: v.lo & EventInfo.VECTOR_MASK, type: (v.lo & EventInfo.TYPE_MASK) >>> EventInfo.TYPE_SHIFT };
  if ((v.lo & EventInfo.EV) !== 0) ev.errorCode = v.hi >>> 0;
  return ev;
}

/**
 * Whether an EVENTINJ value may be injected (APM 15.20: a VMRUN with an illegal injection is
 * a #VMEXIT with VMEXIT_INVALID): nothing to check when V is 0; otherwise TYPE must not be a
 * reserved encoding, and an exception (TYPE 3) must have a vector 0..31 other than 2 (NMI is
 * injected with TYPE 2).
 */
export function eventInjLegal(e: SvmEvent): boolean {
  if (!e.valid) return true;
  if (e.type !== EventType.INTR && e.type !== EventType.NMI && e.type !== EventType.EXCEPTION && e.type !== EventType.SOFT_INT) return false;
  if (e.type === EventType.EXCEPTION && (e.vector === 2 || e.vector > 31)) return false;
  return true;
}

// ---- TLB_CONTROL (APM 15.16.1) ----

export const TlbControl = {
  DO_NOTHING: 0,
  /** Flush the entire TLB, every ASID's entries, global ones too. */
  FLUSH_ALL: 1,
  /** Flush this guest's ASID. */
  FLUSH_ASID: 3,
  /** Flush this guest's non-global entries. */
  FLUSH_ASID_LOCAL: 7,
} as const;

export function tlbControlName(v: number): keyof typeof TlbControl | undefined {
  return (Object.keys(TlbControl) as (keyof typeof TlbControl)[]).find((k) => TlbControl[k] === v);
}

// ---- INT_CTL and V_INTR_VECTOR (APM 15.21) ----

export const IntCtl = {
  V_TPR_MASK: 0xf,
  V_IRQ: 1 << 8,
  V_GIF: 1 << 9,
  V_NMI_PENDING: 1 << 11,
  V_NMI_BLOCKING: 1 << 12,
  V_INTR_PRIO_SHIFT: 16,
  V_INTR_PRIO_MASK: 0xf << 16,
  V_IGN_TPR: 1 << 20,
  V_INTR_MASKING: 1 << 24,
  V_GIF_ENABLE: 1 << 25,
  V_NMI_ENABLE: 1 << 26,
  X2APIC_MODE: 1 << 30,
  AVIC_ENABLE: 0x80000000,
} as const;

/** The virtual-interrupt fields of INT_CTL (the lab's guests use these; AVIC and vNMI are not modelled). */
export interface VIntr {
  vTpr: number;
  vIrq: boolean;
  vIntrPrio: number;
  vIgnTpr: boolean;
  vIntrMasking: boolean;
  /** V_INTR_VECTOR, bits 7:0 of the word at 0x064. */
  vIntrVector: number;
}

export function decodeVIntr(intCtl: number, intVector: number): VIntr {
  return {
    vTpr: intCtl & IntCtl.V_TPR_MASK,
    vIrq: (intCtl & IntCtl.V_IRQ) !== 0,
    vIntrPrio: (intCtl & IntCtl.V_INTR_PRIO_MASK) >>> IntCtl.V_INTR_PRIO_SHIFT,
    vIgnTpr: (intCtl & IntCtl.V_IGN_TPR) !== 0,
    vIntrMasking: (intCtl & IntCtl.V_INTR_MASKING) !== 0,
    vIntrVector: intVector & 0xff,
  };
}

/** INT_CTL with the V_INTR fields of `v` and every other bit of `intCtl` kept. */
export function encodeVIntr(intCtl: number, v: VIntr): number {
  const keep = intCtl & ~(IntCtl.V_TPR_MASK | IntCtl.V_IRQ | IntCtl.V_INTR_PRIO_MASK | IntCtl.V_IGN_TPR | IntCtl.V_INTR_MASKING);
  return (keep | (v.vTpr & 0xf) | (v.vIrq ? IntCtl.V_IRQ : 0) | ((v.vIntrPrio & 0xf) << IntCtl.V_INTR_PRIO_SHIFT) |
    (v.vIgnTpr ? IntCtl.V_IGN_TPR : 0) | (v.vIntrMasking ? IntCtl.V_INTR_MASKING : 0)) >>> 0;
}

// ---- INT_STATE (0x068) ----

export const IntState = {
  /** The guest is in an interrupt shadow (after STI or MOV SS). */
  INTERRUPT_SHADOW: 1 << 0,
  /** GUEST_INTERRUPT_MASK: the guest's RFLAGS.IF as the processor saw it (written on #VMEXIT). */
  GUEST_INTERRUPT_MASK: 1 << 1,
} as const;

// ---- nested paging control (0x090) ----

export const NestedCtl = { NP_ENABLE: 1 << 0, SEV_ENABLE: 1 << 1, SEV_ES_ENABLE: 1 << 2 } as const;

// ---- VMCB clean bits (APM 15.15.3) ----

/** Bit n set = the hypervisor did not change that group since the last VMRUN (the lab caches nothing, so it ignores them). */
export const VmcbClean = {
  INTERCEPTS: 1 << 0,
  IOPM: 1 << 1,
  ASID: 1 << 2,
  TPR: 1 << 3,
  NP: 1 << 4,
  CRX: 1 << 5,
  DRX: 1 << 6,
  DT: 1 << 7,
  SEG: 1 << 8,
  CR2: 1 << 9,
  LBR: 1 << 10,
  AVIC: 1 << 11,
  CET: 1 << 12,
} as const;
