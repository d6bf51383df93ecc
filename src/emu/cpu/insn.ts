/**
 * A decoded x86 instruction: the one shape the decoder produces and both the executor and the
 * disassembler consume. Plain data, no behaviour.
 *
 * Conventions
 * - General registers are numbered as in ModRM/REX: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp,
 *   6 rsi, 7 rdi, 8..15 r8..r15. A byte register operand with `high8` set is AH/CH/DH/BH (reg 0..3),
 *   which exists only without a REX prefix.
 * - Segment registers: 0 es, 1 cs, 2 ss, 3 ds, 4 fs, 5 gs (the Sreg field encoding).
 * - Immediates and displacements are stored sign- or zero-extended as the instruction defines,
 *   as two 32-bit halves (`lo` unsigned, `hi` unsigned) so that 64-bit values are exact.
 * - `mnemonic` is lower case and spelled as iced-x86's formatter spells it (e.g. `movzx`, `iretq`,
 *   `rep stosb` is mnemonic `stosb` with `rep` set; `jcc` forms are `je`, `jne`, ...).
 */

export const Seg = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 } as const;
export type SegIndex = (typeof Seg)[keyof typeof Seg];

export type OpSize = 1 | 2 | 4 | 8;

export interface RegOperand {
  kind: 'reg';
  reg: number;
  size: OpSize;
  high8: boolean;
}

export interface SegRegOperand {
  kind: 'sreg';
  reg: SegIndex;
}

/** Control register operand (mov to/from CRn). */
export interface CrOperand {
  kind: 'cr';
  reg: number;
}

export interface ImmOperand {
  kind: 'imm';
  size: OpSize;
  lo: number;
  hi: number;
}

export interface MemOperand {
  kind: 'mem';
  /** Bytes accessed; 0 where the instruction only computes the address (lea, invlpg) or accesses a pseudo-descriptor (size 6/10 for lgdt etc. is given by `ptr`). */
  size: number;
  /** Effective segment: the override prefix if present, else the default (SS for rbp/rsp bases, DS otherwise). */
  seg: SegIndex;
  /** Whether a segment-override prefix chose `seg`. */
  segOverride: boolean;
  base: number; // register number, -1 for none
  index: number; // register number, -1 for none
  scale: 1 | 2 | 4 | 8;
  dispLo: number;
  dispHi: number;
  /** 64-bit mode RIP-relative: the address is next-RIP + displacement (base is -1). */
  ripRel: boolean;
  /** Address size in bytes (2, 4 or 8). */
  addrSize: 2 | 4 | 8;
}

/** Relative branch target: the displacement, added to the address of the next instruction. */
export interface RelOperand {
  kind: 'rel';
  size: 1 | 2 | 4;
  /** Signed displacement as decoded. */
  disp: number;
}

/** A direct far pointer (jmp/call ptr16:16/32). */
export interface FarOperand {
  kind: 'far';
  selector: number;
  offset: number;
}

export type Operand = RegOperand | SegRegOperand | CrOperand | ImmOperand | MemOperand | RelOperand | FarOperand;

export interface Insn {
  mnemonic: string;
  /** Length in bytes (1..15). */
  length: number;
  /** Operands in Intel order (destination first). Implicit operands (rep stos's rdi/rcx) are not listed. */
  operands: Operand[];
  /** Effective operand size in bytes. */
  opSize: OpSize;
  /** Effective address size in bytes. */
  addrSize: 2 | 4 | 8;
  rep: 'none' | 'rep' | 'repne';
  lock: boolean;
  /** Segment override prefix, or -1. */
  segOverride: number;
  /** The REX byte (0 when absent). */
  rex: number;
}
