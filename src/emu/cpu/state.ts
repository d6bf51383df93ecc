import { createTimer, type TimerState } from './timer.ts';

/**
 * The architectural state of one logical processor, as plain data (typed arrays and numbers) so
 * that a checkpoint is a copy. 64-bit values live as two 32-bit halves: `lo` and `hi`, both
 * unsigned (`>>> 0`). Nothing here loses bits above 2^53.
 */

export const Reg = {
  RAX: 0, RCX: 1, RDX: 2, RBX: 3, RSP: 4, RBP: 5, RSI: 6, RDI: 7,
  R8: 8, R9: 9, R10: 10, R11: 11, R12: 12, R13: 13, R14: 14, R15: 15,
} as const;

export const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

/** RFLAGS bits (SDM Vol. 1, 3.4.3). */
export const Flag = {
  CF: 1 << 0, PF: 1 << 2, AF: 1 << 4, ZF: 1 << 6, SF: 1 << 7, TF: 1 << 8, IF: 1 << 9, DF: 1 << 10,
  OF: 1 << 11, IOPL: 3 << 12, NT: 1 << 14, RF: 1 << 16, VM: 1 << 17, AC: 1 << 18, VIF: 1 << 19,
  VIP: 1 << 20, ID: 1 << 21,
} as const;

/** A segment register's visible selector and its hidden descriptor cache. */
export interface SegmentCache {
  selector: number;
  baseLo: number;
  baseHi: number;
  /** Byte-granular limit after applying G. */
  limit: number;
  /** Descriptor bits 8..23 of the high dword as stored: type(4) S DPL(2) P | limit 19:16 (ignored) | AVL L D/B G. */
  attr: number;
  /** False once loaded with a null selector (a "unusable" segment in VMX terms). */
  valid: boolean;
}

/** Attribute bit positions inside SegmentCache.attr (the descriptor's bits 40..55 shifted down by 8). */
export const SegAttr = {
  TYPE_MASK: 0xf, S: 1 << 4, DPL_SHIFT: 5, P: 1 << 7, AVL: 1 << 12, L: 1 << 13, DB: 1 << 14, G: 1 << 15,
} as const;

export function emptySegment(): SegmentCache {
  return { selector: 0, baseLo: 0, baseHi: 0, limit: 0xffff, attr: 0, valid: true };
}

export interface DescriptorTableReg {
  baseLo: number;
  baseHi: number;
  limit: number;
}

export type CpuVendor = 'intel' | 'amd';

export interface CpuState {
  vendor: CpuVendor;
  /** General registers, low and high halves. */
  regLo: Uint32Array; // 16
  regHi: Uint32Array; // 16
  ripLo: number;
  ripHi: number;
  /** RFLAGS (only the low 22 bits are defined; bit 1 reads as 1). */
  rflags: number;
  /** es cs ss ds fs gs, indexed as Seg. fs/gs bases are the FS.base/GS.base MSRs. */
  seg: SegmentCache[];
  ldtr: SegmentCache;
  tr: SegmentCache;
  gdtr: DescriptorTableReg;
  idtr: DescriptorTableReg;
  cr0: number;
  cr2Lo: number;
  cr2Hi: number;
  cr3Lo: number;
  cr3Hi: number;
  cr4: number;
  cr8: number;
  efer: number;
  /** PAE PDPTE registers, loaded on CR3 writes in PAE mode (SDM Vol. 3A, 4.4.1): lo/hi pairs. */
  pdpte: Uint32Array; // 8
  /** Model-specific registers not held elsewhere, by MSR index, as [lo, hi]. */
  msr: Map<number, [number, number]>;
  /** Time-stamp counter as a number of cycles (exact up to 2^53). */
  tsc: number;
  halted: boolean;
  /** Set on triple fault: the processor stops (SDM Vol. 3A, 6.15, #DF "shutdown"). */
  shutdown: boolean;
  /** Instructions retired since reset. */
  steps: number;
  /**
   * Blocking by STI or by MOV SS / POP SS (SDM Vol. 3A, 6.8.3 and Table 26-3): external interrupts are
   * not accepted before the next instruction completes. Set by the instruction; the step loop clears
   * it just before executing the next instruction.
   */
  interruptShadow: boolean;
  /** The interval timer that raises external interrupts (timer.ts). */
  timer: TimerState;
}

export function createCpuState(vendor: CpuVendor = 'intel'): CpuState {
  return {
    vendor,
    regLo: new Uint32Array(16),
    regHi: new Uint32Array(16),
    ripLo: 0,
    ripHi: 0,
    rflags: 0x2,
    seg: [emptySegment(), emptySegment(), emptySegment(), emptySegment(), emptySegment(), emptySegment()],
    ldtr: emptySegment(),
    tr: emptySegment(),
    gdtr: { baseLo: 0, baseHi: 0, limit: 0xffff },
    idtr: { baseLo: 0, baseHi: 0, limit: 0xffff },
    cr0: 0x60000010,
    cr2Lo: 0,
    cr2Hi: 0,
    cr3Lo: 0,
    cr3Hi: 0,
    cr4: 0,
    cr8: 0,
    efer: 0,
    pdpte: new Uint32Array(8),
    msr: new Map(),
    tsc: 0,
    halted: false,
    shutdown: false,
    steps: 0,
    interruptShadow: false,
    timer: createTimer(),
  };
}
