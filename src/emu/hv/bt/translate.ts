/**
 * The binary translator (issue 9, item 2): one basic block of guest-kernel machine code at a time,
 * into real x86 code in the translation cache, as VMware's monitor did before VT-x (Adams and
 * Agesen, ASPLOS 2006: "identical" translation for most instructions, the rest rewritten).
 *
 * Per guest instruction (decoded by the lab's decoder from the guest's own bytes):
 * - innocuous: copied byte for byte (arithmetic, moves, loads and stores, PUSH/POP of registers,
 *   segment loads of DS/ES/FS/GS, CPUID, RDTSC...). The translated code runs in ring 1 on the guest's
 *   registers, stack and data segments, so it computes exactly what the guest's code would;
 * - a direct branch is rewritten: JMP rel → JMP rel32 to a block exit, Jcc rel → Jcc rel32 to the
 *   taken exit and JMP rel32 to the fall-through exit, CALL rel → PUSH imm32 (the guest's return
 *   address: the guest's stack holds guest addresses) and JMP rel32 to the target's exit. An exit
 *   first jumps into the monitor, which translates the target and *chains* the exit: it rewrites
 *   that JMP's rel32 to the target's translation, so the next time no monitor is involved;
 * - privileged and sensitive instructions, and control transfers whose target is known only at run
 *   time, become *callouts*: a JMP rel32 into the monitor (here: into a range of linear addresses
 *   the monitor keeps unmapped, each callout site its own address, so the fetch fault says which
 *   site was reached; VMware's translated code jumped into the monitor's own code instead). The
 *   monitor then emulates the instruction on the guest's virtual state, and resumes at the
 *   translation of the next guest instruction. Which instructions: `calloutReason`.
 * A block ends at a control transfer, a callout, `MAX_BLOCK_INSNS` instructions, or the end of the
 * guest page; an instruction that crosses into the next page is the only one of its block, so a
 * block's code lies in one guest page or is one instruction over two (the monitor write-protects
 * every frame a block came from).
 * The translated bytes and the map from each translated instruction back to its guest instruction
 * (to report a fault at the guest's address) are plain data.
 */
import { decode } from '../../cpu/decode.ts';
import type { Insn } from '../../cpu/insn.ts';
import { formatInsn } from '../../asm/disasm.ts';

/** At most this many guest instructions per block (VMware's translator capped blocks at 12). */
export const MAX_BLOCK_INSNS = 12;

/** Why an instruction became a callout. */
export type CalloutReason =
  /** Privileged: it faults in ring 1 (CLI, STI, HLT, MOV CRn, LGDT, IN/OUT, IRET...): emulated on the guest's virtual state. */
  | 'privileged'
  /** Sensitive but unprivileged: it runs in ring 1 without a fault but shows or changes what the monitor virtualizes (POPF, PUSHF, SGDT, SMSW, STR, LAR, PUSH CS...). */
  | 'sensitive'
  /** A control transfer whose target is known only at run time (RET, JMP/CALL through a register or memory, LOOP, far transfers). */
  | 'indirect'
  /** INT n, INT3, INTO: the guest's own interrupt, delivered by the monitor at the guest's address. */
  | 'interrupt'
  /** A CS-override data access: in the translation CS is the monitor's (full 4 GiB), so the access is made at the guest's address instead. */
  | 'cs-override'
  /** An instruction the decoder does not know (it faults where it stands, #UD). */
  | 'undecodable'
  /** Adaptive translation: a store that kept faulting on a guest page table, now performed by the monitor without a fault. */
  | 'page-table-write';

/** One guest instruction and what the translator made of it. */
export interface TranslatedInsn {
  /** Guest linear address and length. */
  guest: number;
  len: number;
  /** The guest's bytes, as hex, and their disassembly. */
  bytes: string;
  text: string;
  /** Offset of its translation in the block's code, and that translation's length. */
  tc: number;
  tcLen: number;
  how: 'copied' | 'branch' | 'callout';
  reason?: CalloutReason;
}

/** A JMP rel32 (or Jcc rel32) leaving the block for a guest address. */
export interface BlockExit {
  /** Offset of the rel32 field in the block's code. */
  rel: number;
  /** Offset of the end of that instruction (rel32 is relative to it). */
  end: number;
  /** The guest address it leads to. */
  target: number;
}

/** A callout site in the block: where the JMP into the monitor is, and for which guest instruction. */
export interface BlockCallout {
  rel: number;
  end: number;
  /** Index into `insns`. */
  insn: number;
  reason: CalloutReason;
}

export interface TranslatedBlock {
  guestStart: number;
  /** Address after the block's last guest instruction. */
  guestEnd: number;
  insns: TranslatedInsn[];
  /** The translated code, position-independent except the rel32 fields of `exits` and `callouts`, which the monitor fills in. */
  code: Uint8Array;
  exits: BlockExit[];
  callouts: BlockCallout[];
}

const JCC = ['jo', 'jno', 'jb', 'jae', 'je', 'jne', 'jbe', 'ja', 'js', 'jns', 'jp', 'jnp', 'jl', 'jge', 'jle', 'jg'];

const PRIVILEGED = new Set([
  'hlt', 'cli', 'sti', 'lgdt', 'lidt', 'ltr', 'lldt', 'lmsw', 'clts', 'invlpg', 'rdmsr', 'wrmsr',
  'in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd', 'iret', 'iretd', 'sysenter', 'sysexit',
  'lss', 'wbinvd', 'invd', 'rdpmc',
]);
const SENSITIVE = new Set(['pushf', 'pushfd', 'popf', 'popfd', 'sgdt', 'sidt', 'sldt', 'str', 'smsw', 'lar', 'lsl', 'verr', 'verw']);
const INTERRUPTS = new Set(['int', 'int3', 'into', 'int1']);
const INDIRECT = new Set(['ret', 'retf']);
/** Short-only conditional branches (rel8 and no rel32 form): rewritten as the same branch over two exits. */
const SHORT_ONLY = ['loop', 'loope', 'loopne', 'jecxz', 'jcxz'];

/** Why `insn` cannot be copied into the translation, or null when it can. */
export function calloutReason(insn: Insn): CalloutReason | null {
  const m = insn.mnemonic;
  const ops = insn.operands;
  if (PRIVILEGED.has(m)) return 'privileged';
  if (m === 'mov' && (ops[0]?.kind === 'cr' || ops[1]?.kind === 'cr')) return 'privileged';
  // MOV SS / POP SS: a selector of RPL 0 faults in ring 1.
  if ((m === 'mov' || m === 'pop') && ops[0]?.kind === 'sreg' && ops[0].reg === 2) return 'privileged';
  if (SENSITIVE.has(m)) return 'sensitive';
  // MOV r/m, Sreg and PUSH Sreg read a selector, whose RPL shows the ring (CS and SS in ring 1).
  if ((m === 'mov' && ops[1]?.kind === 'sreg') || (m === 'push' && ops[0]?.kind === 'sreg')) return 'sensitive';
  if (INTERRUPTS.has(m)) return 'interrupt';
  if (INDIRECT.has(m)) return 'indirect';
  if ((m === 'jmp' || m === 'call') && ops[0]?.kind !== 'rel') return 'indirect';
  if (insn.segOverride === 1 || ops.some((o) => o.kind === 'mem' && o.segOverride && o.seg === 1)) return 'cs-override';
  return null;
}

/** The guest's bytes at a linear address (-1 where the guest cannot read them). */
export type GuestBytes = (linear: number) => number;

const hex = (b: readonly number[]): string => b.map((x) => x.toString(16).padStart(2, '0')).join(' ');

function rel32(out: number[], at: number): void {
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = 0;
  out[at + 3] = 0;
}

/**
 * Translates the guest block at `start`. `adaptive` lists guest addresses of stores to rewrite as
 * page-table-write callouts (adaptive translation). The block never crosses the guest page of `start`.
 */
export function translateBlock(read: GuestBytes, start: number, adaptive: ReadonlySet<number> = new Set(), csBase = 0): TranslatedBlock {
  const out: number[] = [];
  const insns: TranslatedInsn[] = [];
  const exits: BlockExit[] = [];
  const callouts: BlockCallout[] = [];
  const pageEnd = (start - (start % 0x1000)) + 0x1000;
  let at = start >>> 0;
  const exitTo = (target: number): void => {
    out.push(0xe9);
    const r = out.length;
    out.length += 4;
    rel32(out, r);
    exits.push({ rel: r, end: out.length, target: target >>> 0 });
  };
  for (;;) {
    const r = decode((i) => read((at + i) >>> 0), 32);
    const tc = out.length;
    // An instruction that crosses into the next page starts a block of its own (whose two frames are both watched).
    if (r.kind === 'ok' && insns.length > 0 && at + r.insn.length > pageEnd) {
      exitTo(at);
      insns[insns.length - 1]!.tcLen = out.length - insns[insns.length - 1]!.tc;
      break;
    }
    if (r.kind !== 'ok') {
      // Undecodable, or the guest cannot read the bytes: the monitor runs it where it stands and the processor raises the fault.
      out.push(0xe9);
      const rl = out.length;
      out.length += 4;
      rel32(out, rl);
      callouts.push({ rel: rl, end: out.length, insn: insns.length, reason: 'undecodable' });
      insns.push({ guest: at, len: 0, bytes: '', text: '(undecodable)', tc, tcLen: out.length - tc, how: 'callout', reason: 'undecodable' });
      break;
    }
    const insn = r.insn;
    const bytes: number[] = [];
    for (let i = 0; i < insn.length; i++) bytes.push(read((at + i) >>> 0));
    const next = (at + insn.length) >>> 0;
    const text = formatInsn(insn, at);
    const base = { guest: at, len: insn.length, bytes: hex(bytes), text, tc };
    const reason: CalloutReason | null = adaptive.has(at) ? 'page-table-write' : calloutReason(insn);
    const op0 = insn.operands[0];
    if (reason !== null) {
      out.push(0xe9);
      const rl = out.length;
      out.length += 4;
      rel32(out, rl);
      callouts.push({ rel: rl, end: out.length, insn: insns.length, reason });
      insns.push({ ...base, tcLen: out.length - tc, how: 'callout', reason });
      break;
    }
    if ((insn.mnemonic === 'jmp' || insn.mnemonic === 'call' || JCC.includes(insn.mnemonic)) && op0?.kind === 'rel') {
      const target = (next + op0.disp) >>> 0;
      if (insn.mnemonic === 'call') {
        // The guest's return address (an offset in its code segment), pushed as the CALL would push it.
        const ret = (next - csBase) >>> 0;
        out.push(0x68, ret & 0xff, (ret >>> 8) & 0xff, (ret >>> 16) & 0xff, ret >>> 24);
        exitTo(target);
      } else if (insn.mnemonic === 'jmp') exitTo(target);
      else {
        out.push(0x0f, 0x80 + JCC.indexOf(insn.mnemonic));
        const rl = out.length;
        out.length += 4;
        rel32(out, rl);
        exits.push({ rel: rl, end: out.length, target });
        exitTo(next);
      }
      insns.push({ ...base, tcLen: out.length - tc, how: 'branch' });
      at = next;
      break;
    }
    if (SHORT_ONLY.includes(insn.mnemonic) && op0?.kind === 'rel') {
      // LOOP/LOOPcc/JECXZ have only a rel8 form: the same instruction (same prefixes, so the same
      // counter and condition, flags untouched) jumps over a JMP to the fall-through exit onto a JMP
      // to the taken exit.
      const target = (next + op0.disp) >>> 0;
      out.push(...bytes.slice(0, insn.length - 1), 0x02, 0xeb, 0x05);
      out.push(0xe9);
      const rt = out.length;
      out.length += 4;
      rel32(out, rt);
      exits.push({ rel: rt, end: out.length, target });
      exitTo(next);
      insns.push({ ...base, tcLen: out.length - tc, how: 'branch' });
      at = next;
      break;
    }
    out.push(...bytes);
    insns.push({ ...base, tcLen: insn.length, how: 'copied' });
    at = next;
    if (insns.length >= MAX_BLOCK_INSNS || at >= pageEnd) {
      exitTo(at);
      insns[insns.length - 1]!.tcLen = out.length - tc;
      break;
    }
  }
  const last = insns[insns.length - 1]!;
  return { guestStart: start >>> 0, guestEnd: (last.guest + last.len) >>> 0, insns, code: Uint8Array.from(out), exits, callouts };
}
