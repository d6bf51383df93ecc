/**
 * x86 instruction decoder (16-, 32- and 64-bit modes), table-driven.
 *
 * Instruction format and prefix rules: Intel SDM Vol. 2, chapter 2 ("Instruction Format") and
 * appendix A ("Opcode Map"); operand-size attributes of 64-bit mode: SDM Vol. 2 §2.2.1.7 and
 * Vol. 1 §3.6.1. Operand type names (Eb, Gv, Iz, Jb, ...) follow appendix A.2.
 *
 * Mnemonics are spelled as iced-x86 names them (lower case), see insn.ts.
 */
import type { Insn, Operand, MemOperand, OpSize, SegIndex } from './insn.ts';

export type DecodeMode = 16 | 32 | 64;

/** `fetch(i)` returns the byte at offset i from the instruction start (0..14), or -1 if it cannot be read (e.g. the fetch would fault); decode must then return {kind:'fetch-fault', offset:i}. */
export type DecodeOutcome =
  | { kind: 'ok'; insn: Insn }
  | { kind: 'ud' }
  | { kind: 'too-long' }
  | { kind: 'fetch-fault'; offset: number };

/** SDM Vol. 2 §2.3.11: an instruction is at most 15 bytes long. */
export const MAX_INSN_LENGTH = 15;

// ---------------------------------------------------------------------------------------------
// Operand types (SDM Vol. 2 appendix A.2). A few are split where the size rule differs.

const O = {
  Eb: 1, Ew: 2, Ed: 3, Ev: 4,
  /** Register form sized by operand size, memory form a word (mov Sreg, sldt, str, smsw, lar, lsl). */
  EvW: 5,
  /** movsxd source: dword, or word with a 16-bit operand size. */
  EdSx: 6,
  Gb: 7, Gv: 8,
  /** Memory only: no access size (lea, lgdt, invlpg). */
  M: 9,
  /** Memory only, quadword (vmptrld, vmclear, vmxon, vmptrst). */
  Mq: 10,
  /** Memory only, 128-bit descriptor (invept, invvpid). */
  Mdq: 11,
  /** Memory only, far pointer m16:16 / m16:32 / m16:64. */
  Mp: 12,
  /** General register in ModRM.rm whatever ModRM.mod says (mov to/from CRn). */
  Rv: 13,
  Cr: 14,
  Sw: 15,
  /** Sreg destination: CS is not allowed (SDM MOV: "MOV CS is #UD"). */
  SwD: 16,
  Ib: 17,
  /** imm8 sign-extended to the operand size. */
  Ibs: 18,
  Iw: 19,
  Iz: 20,
  Iv: 21,
  Jb: 22,
  Jz: 23,
  Ap: 24,
  Ob: 25,
  Ov: 26,
  AL: 27,
  rAX: 28,
  /** eAX of in/out: at most 32 bits. */
  eAXio: 29,
  DX: 30,
  CL: 31,
  One: 32,
  Zb: 33,
  Zv: 34,
  ES: 35, CS: 36, SS: 37, DS: 38, FS: 39, GS: 40,
} as const;

const OPERAND_CODE: Record<string, number> = O;

// Flags of an opcode entry.
const F_I64 = 1 << 0; // invalid in 64-bit mode
const F_O64 = 1 << 1; // valid only in 64-bit mode
const F_D64 = 1 << 2; // 64-bit mode: default operand size 64 (66 gives 16)
const F_F64 = 1 << 3; // 64-bit mode: operand size forced to 64
const F_LK = 1 << 4; // LOCK allowed when the destination is memory
const F_B = 1 << 5; // byte operation
const F_STR = 1 << 6; // string instruction: F2/F3 are repne/rep
const F_ASZ = 1 << 7; // mnemonic chosen by address size (jcxz/jecxz/jrcxz)
const F_NP = 1 << 8; // no 66/F2/F3 prefix allowed
const F_P66 = 1 << 9; // mandatory 66, no F2/F3
const F_F3UD = 1 << 10; // F3 selects another instruction (tzcnt, lzcnt): unsupported here
const F_IO32 = 1 << 11; // operand size at most 32 bits (in/out, ins/outs)
const F_MODRM = 1 << 12; // computed: has a ModRM byte
const F_MEMONLY = 1 << 13; // computed: ModRM.mod = 11b is #UD
const F_NOF2F3 = 1 << 14; // no F2/F3 prefix allowed (66 is an operand-size prefix)
const F_Y = 1 << 16; // operand size 64 in 64-bit mode, 32 otherwise (SDM operand type "y" with "f64")
const F_RMREG = 1 << 15; // computed: ModRM.rm names a register whatever ModRM.mod says

interface Spec {
  readonly group: false;
  /** One mnemonic, or three chosen by operand size 16/32/64 (or address size with F_ASZ). */
  readonly m: readonly string[];
  readonly ops: readonly number[];
  readonly fl: number;
}

interface Group {
  readonly group: true;
  /** By ModRM.reg when ModRM.mod != 11b. */
  readonly mem: readonly (Spec | null)[];
  /** By ModRM.reg when ModRM.mod = 11b; or by reg*8+rm when `byRm`. */
  readonly reg: readonly (Spec | null)[];
  readonly byRm: boolean;
}

type Entry = Spec | Group | null;

function spec(m: string, ops: string, fl = 0): Spec {
  const codes: number[] = [];
  let f = fl;
  if (ops !== '') {
    for (const name of ops.split(',')) {
      const c = OPERAND_CODE[name];
      if (c === undefined) throw new Error(`decode table: unknown operand type ${name}`);
      codes.push(c);
      if (c <= O.Cr || c === O.Sw || c === O.SwD) f |= F_MODRM;
      if (c >= O.M && c <= O.Mp) f |= F_MEMONLY;
      if (c === O.Rv) f |= F_RMREG;
    }
  }
  return { group: false, m: m.split('/'), ops: codes, fl: f };
}

function group(mem: (Spec | null)[], reg?: (Spec | null)[], byRm = false): Group {
  return { group: true, mem, reg: reg ?? mem, byRm };
}

const ONE: Entry[] = new Array<Entry>(256).fill(null);
const TWO: Entry[] = new Array<Entry>(256).fill(null);
const THREE38: Entry[] = new Array<Entry>(256).fill(null);

const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;
const SZ = (w: string, d: string, q: string): string => `${w}/${d}/${q}`;

(function buildTables(): void {
  const alu = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
  for (let k = 0; k < 8; k++) {
    const m = alu[k]!;
    const lk = m === 'cmp' ? 0 : F_LK;
    ONE[k * 8 + 0] = spec(m, 'Eb,Gb', F_B | lk);
    ONE[k * 8 + 1] = spec(m, 'Ev,Gv', lk);
    ONE[k * 8 + 2] = spec(m, 'Gb,Eb', F_B);
    ONE[k * 8 + 3] = spec(m, 'Gv,Ev');
    ONE[k * 8 + 4] = spec(m, 'AL,Ib', F_B);
    ONE[k * 8 + 5] = spec(m, 'rAX,Iz');
  }
  ONE[0x06] = spec('push', 'ES', F_I64);
  ONE[0x07] = spec('pop', 'ES', F_I64);
  ONE[0x0e] = spec('push', 'CS', F_I64);
  ONE[0x16] = spec('push', 'SS', F_I64);
  ONE[0x17] = spec('pop', 'SS', F_I64);
  ONE[0x1e] = spec('push', 'DS', F_I64);
  ONE[0x1f] = spec('pop', 'DS', F_I64);
  for (let r = 0; r < 8; r++) {
    ONE[0x40 + r] = spec('inc', 'Zv', F_I64);
    ONE[0x48 + r] = spec('dec', 'Zv', F_I64);
    ONE[0x50 + r] = spec('push', 'Zv', F_D64);
    ONE[0x58 + r] = spec('pop', 'Zv', F_D64);
    ONE[0x90 + r] = spec('xchg', 'Zv,rAX');
    ONE[0xb0 + r] = spec('mov', 'Zb,Ib', F_B);
    ONE[0xb8 + r] = spec('mov', 'Zv,Iv');
  }
  ONE[0x60] = spec(SZ('pusha', 'pushad', 'pushad'), '', F_I64);
  ONE[0x61] = spec(SZ('popa', 'popad', 'popad'), '', F_I64);
  ONE[0x63] = spec('movsxd', 'Gv,EdSx', F_O64);
  ONE[0x68] = spec('push', 'Iz', F_D64);
  ONE[0x69] = spec('imul', 'Gv,Ev,Iz');
  ONE[0x6a] = spec('push', 'Ibs', F_D64);
  ONE[0x6b] = spec('imul', 'Gv,Ev,Ibs');
  ONE[0x6c] = spec('insb', '', F_STR | F_B);
  ONE[0x6d] = spec(SZ('insw', 'insd', 'insd'), '', F_STR | F_IO32);
  ONE[0x6e] = spec('outsb', '', F_STR | F_B);
  ONE[0x6f] = spec(SZ('outsw', 'outsd', 'outsd'), '', F_STR | F_IO32);
  for (let c = 0; c < 16; c++) {
    ONE[0x70 + c] = spec(`j${CC[c]!}`, 'Jb', F_F64);
    TWO[0x80 + c] = spec(`j${CC[c]!}`, 'Jz', F_F64);
    TWO[0x90 + c] = spec(`set${CC[c]!}`, 'Eb', F_B);
    TWO[0x40 + c] = spec(`cmov${CC[c]!}`, 'Gv,Ev');
  }
  const grp1 = (ops: string, fl = 0): (Spec | null)[] =>
    alu.map((m) => spec(m, ops, fl | (m === 'cmp' ? 0 : F_LK)));
  ONE[0x80] = group(grp1('Eb,Ib', F_B));
  ONE[0x81] = group(grp1('Ev,Iz'));
  ONE[0x82] = group(grp1('Eb,Ib', F_B | F_I64));
  ONE[0x83] = group(grp1('Ev,Ibs'));
  ONE[0x84] = spec('test', 'Eb,Gb', F_B);
  ONE[0x85] = spec('test', 'Ev,Gv');
  ONE[0x86] = spec('xchg', 'Eb,Gb', F_B | F_LK);
  ONE[0x87] = spec('xchg', 'Ev,Gv', F_LK);
  ONE[0x88] = spec('mov', 'Eb,Gb', F_B);
  ONE[0x89] = spec('mov', 'Ev,Gv');
  ONE[0x8a] = spec('mov', 'Gb,Eb', F_B);
  ONE[0x8b] = spec('mov', 'Gv,Ev');
  ONE[0x8c] = spec('mov', 'EvW,Sw');
  ONE[0x8d] = spec('lea', 'Gv,M');
  ONE[0x8e] = spec('mov', 'SwD,EvW');
  ONE[0x8f] = group([spec('pop', 'Ev', F_D64), null, null, null, null, null, null, null]);
  ONE[0x98] = spec(SZ('cbw', 'cwde', 'cdqe'), '');
  ONE[0x99] = spec(SZ('cwd', 'cdq', 'cqo'), '');
  ONE[0x9a] = spec('call', 'Ap', F_I64);
  ONE[0x9c] = spec(SZ('pushf', 'pushfd', 'pushfq'), '', F_D64);
  ONE[0x9d] = spec(SZ('popf', 'popfd', 'popfq'), '', F_D64);
  ONE[0x9e] = spec('sahf', '');
  ONE[0x9f] = spec('lahf', '');
  ONE[0xa0] = spec('mov', 'AL,Ob', F_B);
  ONE[0xa1] = spec('mov', 'rAX,Ov');
  ONE[0xa2] = spec('mov', 'Ob,AL', F_B);
  ONE[0xa3] = spec('mov', 'Ov,rAX');
  ONE[0xa4] = spec('movsb', '', F_STR | F_B);
  ONE[0xa5] = spec(SZ('movsw', 'movsd', 'movsq'), '', F_STR);
  ONE[0xa6] = spec('cmpsb', '', F_STR | F_B);
  ONE[0xa7] = spec(SZ('cmpsw', 'cmpsd', 'cmpsq'), '', F_STR);
  ONE[0xa8] = spec('test', 'AL,Ib', F_B);
  ONE[0xa9] = spec('test', 'rAX,Iz');
  ONE[0xaa] = spec('stosb', '', F_STR | F_B);
  ONE[0xab] = spec(SZ('stosw', 'stosd', 'stosq'), '', F_STR);
  ONE[0xac] = spec('lodsb', '', F_STR | F_B);
  ONE[0xad] = spec(SZ('lodsw', 'lodsd', 'lodsq'), '', F_STR);
  ONE[0xae] = spec('scasb', '', F_STR | F_B);
  ONE[0xaf] = spec(SZ('scasw', 'scasd', 'scasq'), '', F_STR);
  const grp2 = (ops: string, fl = 0): (Spec | null)[] =>
    ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'].map((m) => spec(m, ops, fl));
  ONE[0xc0] = group(grp2('Eb,Ib', F_B));
  ONE[0xc1] = group(grp2('Ev,Ib'));
  ONE[0xc2] = spec('ret', 'Iw', F_F64);
  ONE[0xc3] = spec('ret', '', F_F64);
  ONE[0xc6] = group([spec('mov', 'Eb,Ib', F_B), null, null, null, null, null, null, null]);
  ONE[0xc7] = group([spec('mov', 'Ev,Iz'), null, null, null, null, null, null, null]);
  ONE[0xc8] = spec('enter', 'Iw,Ib', F_D64);
  ONE[0xc9] = spec('leave', '', F_D64);
  ONE[0xca] = spec('retf', 'Iw');
  ONE[0xcb] = spec('retf', '');
  ONE[0xcc] = spec('int3', '');
  ONE[0xcd] = spec('int', 'Ib');
  ONE[0xce] = spec('into', '', F_I64);
  ONE[0xcf] = spec(SZ('iret', 'iretd', 'iretq'), '');
  ONE[0xd0] = group(grp2('Eb,One', F_B));
  ONE[0xd1] = group(grp2('Ev,One'));
  ONE[0xd2] = group(grp2('Eb,CL', F_B));
  ONE[0xd3] = group(grp2('Ev,CL'));
  ONE[0xe0] = spec('loopne', 'Jb', F_F64);
  ONE[0xe1] = spec('loope', 'Jb', F_F64);
  ONE[0xe2] = spec('loop', 'Jb', F_F64);
  ONE[0xe3] = spec('jcxz/jecxz/jrcxz', 'Jb', F_F64 | F_ASZ);
  ONE[0xe4] = spec('in', 'AL,Ib', F_B);
  ONE[0xe5] = spec('in', 'eAXio,Ib', F_IO32);
  ONE[0xe6] = spec('out', 'Ib,AL', F_B);
  ONE[0xe7] = spec('out', 'Ib,eAXio', F_IO32);
  ONE[0xe8] = spec('call', 'Jz', F_F64);
  ONE[0xe9] = spec('jmp', 'Jz', F_F64);
  ONE[0xea] = spec('jmp', 'Ap', F_I64);
  ONE[0xeb] = spec('jmp', 'Jb', F_F64);
  ONE[0xec] = spec('in', 'AL,DX', F_B);
  ONE[0xed] = spec('in', 'eAXio,DX', F_IO32);
  ONE[0xee] = spec('out', 'DX,AL', F_B);
  ONE[0xef] = spec('out', 'DX,eAXio', F_IO32);
  ONE[0xf1] = spec('int1', '');
  ONE[0xf4] = spec('hlt', '');
  ONE[0xf5] = spec('cmc', '');
  const grp3 = (e: string, imm: string, fl: number): (Spec | null)[] => [
    spec('test', `${e},${imm}`, fl),
    spec('test', `${e},${imm}`, fl), // /1: undocumented alias of /0, decoded by hardware
    spec('not', e, fl | F_LK),
    spec('neg', e, fl | F_LK),
    spec('mul', e, fl),
    spec('imul', e, fl),
    spec('div', e, fl),
    spec('idiv', e, fl),
  ];
  ONE[0xf6] = group(grp3('Eb', 'Ib', F_B));
  ONE[0xf7] = group(grp3('Ev', 'Iz', 0));
  ONE[0xf8] = spec('clc', '');
  ONE[0xf9] = spec('stc', '');
  ONE[0xfa] = spec('cli', '');
  ONE[0xfb] = spec('sti', '');
  ONE[0xfc] = spec('cld', '');
  ONE[0xfd] = spec('std', '');
  ONE[0xfe] = group([spec('inc', 'Eb', F_B | F_LK), spec('dec', 'Eb', F_B | F_LK), null, null, null, null, null, null]);
  const grp5mem = [
    spec('inc', 'Ev', F_LK),
    spec('dec', 'Ev', F_LK),
    spec('call', 'Ev', F_F64),
    spec('call', 'Mp'),
    spec('jmp', 'Ev', F_F64),
    spec('jmp', 'Mp'),
    spec('push', 'Ev', F_D64),
    null,
  ];
  ONE[0xff] = group(grp5mem, [grp5mem[0]!, grp5mem[1]!, grp5mem[2]!, null, grp5mem[4]!, null, grp5mem[6]!, null]);

  // Two-byte map (0F xx).
  TWO[0x00] = group([
    spec('sldt', 'EvW'),
    spec('str', 'EvW'),
    spec('lldt', 'Ew'),
    spec('ltr', 'Ew'),
    spec('verr', 'Ew'),
    spec('verw', 'Ew'),
    null,
    null,
  ]);
  const rm01: (Spec | null)[] = new Array<Spec | null>(64).fill(null);
  const vmx = ['vmcall', 'vmlaunch', 'vmresume', 'vmxoff'];
  for (let k = 0; k < 4; k++) rm01[0 * 8 + 1 + k] = spec(vmx[k]!, '', F_NP);
  rm01[2 * 8 + 4] = spec('vmfunc', '', F_NP);
  const svm = ['vmrun', 'vmmcall', 'vmload', 'vmsave', 'stgi', 'clgi', 'skinit', 'invlpga'];
  for (let k = 0; k < 8; k++) rm01[3 * 8 + k] = spec(svm[k]!, '', k === 1 ? F_NOF2F3 : 0); // F2 0F 01 D9 is vmgexit
  const smsw = spec('smsw', 'EvW');
  const lmsw = spec('lmsw', 'Ew');
  for (let k = 0; k < 8; k++) {
    rm01[4 * 8 + k] = smsw;
    rm01[6 * 8 + k] = lmsw;
  }
  rm01[7 * 8 + 0] = spec('swapgs', '', F_O64);
  rm01[7 * 8 + 1] = spec('rdtscp', '');
  TWO[0x01] = group(
    [spec('sgdt', 'M'), spec('sidt', 'M'), spec('lgdt', 'M'), spec('lidt', 'M'), smsw, null, lmsw, spec('invlpg', 'M')],
    rm01,
    true,
  );
  TWO[0x02] = spec('lar', 'Gv,EvW');
  TWO[0x03] = spec('lsl', 'Gv,EvW');
  TWO[0x05] = spec('syscall', '');
  TWO[0x06] = spec('clts', '');
  TWO[0x07] = spec(SZ('sysret', 'sysret', 'sysretq'), '');
  TWO[0x0b] = spec('ud2', '');
  TWO[0x1f] = group([spec('nop', 'Ev'), null, null, null, null, null, null, null]);
  TWO[0x20] = spec('mov', 'Rv,Cr', F_F64 | F_Y);
  TWO[0x22] = spec('mov', 'Cr,Rv', F_F64 | F_Y);
  TWO[0x30] = spec('wrmsr', '');
  TWO[0x31] = spec('rdtsc', '');
  TWO[0x32] = spec('rdmsr', '');
  TWO[0x34] = spec('sysenter', '');
  TWO[0x35] = spec(SZ('sysexit', 'sysexit', 'sysexitq'), '');
  TWO[0x78] = spec('vmread', 'Ev,Gv', F_F64 | F_Y | F_NP);
  TWO[0x79] = spec('vmwrite', 'Gv,Ev', F_F64 | F_Y | F_NP);
  TWO[0xa0] = spec('push', 'FS', F_D64);
  TWO[0xa1] = spec('pop', 'FS', F_D64);
  TWO[0xa2] = spec('cpuid', '');
  TWO[0xa3] = spec('bt', 'Ev,Gv');
  TWO[0xa8] = spec('push', 'GS', F_D64);
  TWO[0xa9] = spec('pop', 'GS', F_D64);
  TWO[0xab] = spec('bts', 'Ev,Gv', F_LK);
  TWO[0xaf] = spec('imul', 'Gv,Ev');
  TWO[0xb0] = spec('cmpxchg', 'Eb,Gb', F_B | F_LK);
  TWO[0xb1] = spec('cmpxchg', 'Ev,Gv', F_LK);
  TWO[0xb3] = spec('btr', 'Ev,Gv', F_LK);
  TWO[0xb6] = spec('movzx', 'Gv,Eb');
  TWO[0xb7] = spec('movzx', 'Gv,Ew');
  TWO[0xba] = group([null, null, null, null, spec('bt', 'Ev,Ib'), spec('bts', 'Ev,Ib', F_LK), spec('btr', 'Ev,Ib', F_LK), spec('btc', 'Ev,Ib', F_LK)]);
  TWO[0xbb] = spec('btc', 'Ev,Gv', F_LK);
  TWO[0xbc] = spec('bsf', 'Gv,Ev', F_F3UD);
  TWO[0xbd] = spec('bsr', 'Gv,Ev', F_F3UD);
  TWO[0xbe] = spec('movsx', 'Gv,Eb');
  TWO[0xbf] = spec('movsx', 'Gv,Ew');
  TWO[0xc0] = spec('xadd', 'Eb,Gb', F_B | F_LK);
  TWO[0xc1] = spec('xadd', 'Ev,Gv', F_LK);
  // 0F C7 /6 and /7 (memory forms) are chosen by their mandatory prefix in decodeBody.
  TWO[0xc7] = group(
    [null, null, null, null, null, null, spec('vmptrld', 'Mq'), spec('vmptrst', 'Mq', F_NP)],
    [null, null, null, null, null, null, null, null],
  );
  for (let r = 0; r < 8; r++) TWO[0xc8 + r] = spec('bswap', 'Zv');
  THREE38[0x80] = spec('invept', 'Gv,Mdq', F_F64 | F_Y | F_P66);
  THREE38[0x81] = spec('invvpid', 'Gv,Mdq', F_F64 | F_Y | F_P66);
})();

const VMCLEAR = spec('vmclear', 'Mq');
const VMXON = spec('vmxon', 'Mq');
const NOP = spec('nop', '');
const PAUSE = spec('pause', '');

/** Every mnemonic this decoder can produce. */
export const SUPPORTED_MNEMONICS: ReadonlySet<string> = (() => {
  const out = new Set<string>();
  const add = (s: Spec | null | undefined): void => {
    if (s) for (const m of s.m) out.add(m);
  };
  for (const e of [...ONE, ...TWO, ...THREE38, VMCLEAR, VMXON, NOP, PAUSE]) {
    if (e === null) continue;
    if (e.group) {
      e.mem.forEach(add);
      e.reg.forEach(add);
    } else add(e);
  }
  return out;
})();

// ---------------------------------------------------------------------------------------------
// Byte fetch. Faults and the length limit unwind to `decode` by throwing these sentinels.

const UD: DecodeOutcome = Object.freeze({ kind: 'ud' });
const TOO_LONG: DecodeOutcome = Object.freeze({ kind: 'too-long' });
const FETCH_FAULT = { fault: true };

let fetchFn: (i: number) => number = () => -1;
let pos = 0;
let faultAt = 0;

function nb(): number {
  if (pos >= MAX_INSN_LENGTH) throw TOO_LONG;
  const b = fetchFn(pos);
  if (b < 0) {
    faultAt = pos;
    throw FETCH_FAULT;
  }
  pos++;
  return b;
}

function imm16(): number {
  const a = nb();
  return a | (nb() << 8);
}

function imm32(): number {
  const a = nb();
  const b = nb();
  const c = nb();
  return (a | (b << 8) | (c << 16) | (nb() << 24)) >>> 0;
}

function mkImm(size: OpSize, lo: number, hi: number): Operand {
  return { kind: 'imm', size, lo, hi };
}

/** Immediate `v` (an imm8/16/32 already read) sign-extended from `from` bytes to `to` bytes. */
function sxImm(v: number, from: number, to: OpSize): Operand {
  let s = v;
  if (from === 1) s = (v << 24) >> 24;
  else if (from === 2) s = (v << 16) >> 16;
  else s = v | 0;
  if (to === 1) return mkImm(1, s & 0xff, 0);
  if (to === 2) return mkImm(2, s & 0xffff, 0);
  if (to === 4) return mkImm(4, s >>> 0, 0);
  return mkImm(8, s >>> 0, s < 0 ? 0xffffffff : 0);
}

function reg(r: number, size: OpSize, rex: number): Operand {
  if (size === 1 && rex === 0 && r >= 4 && r < 8) return { kind: 'reg', reg: r - 4, size: 1, high8: true };
  return { kind: 'reg', reg: r, size, high8: false };
}

// 16-bit ModRM.rm → base, index (SDM Vol. 2 Table 2-1).
const RM16_BASE = [3, 3, 5, 5, 6, 7, 5, 3] as const;
const RM16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1] as const;

// ---------------------------------------------------------------------------------------------

export function decode(fetch: (i: number) => number, mode: DecodeMode): DecodeOutcome {
  fetchFn = fetch;
  pos = 0;
  try {
    return decodeBody(mode);
  } catch (e) {
    if (e === FETCH_FAULT) return { kind: 'fetch-fault', offset: faultAt };
    if (e === TOO_LONG) return TOO_LONG;
    throw e;
  }
}

function decodeBody(mode: DecodeMode): DecodeOutcome {
  let opPfx = false;
  let adPfx = false;
  let repPfx = 0; // last of F2/F3
  let lock = false;
  let segPfx = -1;
  let segFsGs = -1; // last FS/GS prefix: in 64-bit mode ES/CS/SS/DS prefixes are null prefixes (SDM Vol. 1 §3.3.7.1)
  let rex = 0;
  let b: number;
  for (;;) {
    b = nb();
    switch (b) {
      case 0x26: segPfx = 0; rex = 0; continue;
      case 0x2e: segPfx = 1; rex = 0; continue;
      case 0x36: segPfx = 2; rex = 0; continue;
      case 0x3e: segPfx = 3; rex = 0; continue;
      case 0x64: segPfx = segFsGs = 4; rex = 0; continue;
      case 0x65: segPfx = segFsGs = 5; rex = 0; continue;
      case 0x66: opPfx = true; rex = 0; continue;
      case 0x67: adPfx = true; rex = 0; continue;
      case 0xf0: lock = true; rex = 0; continue;
      case 0xf2: repPfx = 0xf2; rex = 0; continue;
      case 0xf3: repPfx = 0xf3; rex = 0; continue;
    }
    if (mode === 64 && (b & 0xf0) === 0x40) {
      rex = b;
      continue;
    }
    break;
  }

  let entry: Entry;
  let map = 1;
  let opc = b;
  if (b === 0x0f) {
    opc = nb();
    if (opc === 0x38) {
      map = 3;
      opc = nb();
      entry = THREE38[opc]!;
    } else {
      map = 2;
      entry = TWO[opc]!;
    }
  } else {
    entry = ONE[opc]!;
  }
  if (entry === null) return UD;

  const rexW = (rex & 8) !== 0;
  const rexR = (rex & 4) << 1;
  const rexX = (rex & 2) << 2;
  const rexB = (rex & 1) << 3;

  let modrm = -1;
  let mod = 0;
  let regF = 0;
  let rm = 0;
  let sp: Spec;
  if (entry.group) {
    modrm = nb();
    mod = modrm >> 6;
    regF = (modrm >> 3) & 7;
    rm = modrm & 7;
    const s = mod === 3 ? (entry.byRm ? entry.reg[regF * 8 + rm] : entry.reg[regF]) : entry.mem[regF];
    if (s === undefined || s === null) return UD;
    sp = s;
    if (map === 2 && opc === 0xc7 && regF === 6 && mod !== 3) {
      if (repPfx === 0xf3) sp = VMXON;
      else if (repPfx === 0xf2) return UD;
      else if (opPfx) sp = VMCLEAR;
    }
  } else {
    sp = entry;
    if ((sp.fl & F_MODRM) !== 0) {
      modrm = nb();
      mod = modrm >> 6;
      regF = (modrm >> 3) & 7;
      rm = modrm & 7;
    }
  }
  const fl = sp.fl;

  if (map === 1 && opc === 0x90) {
    if (repPfx === 0xf3) sp = PAUSE;
    else if (rexB === 0) sp = NOP;
  }

  if (mode === 64) {
    if ((fl & F_I64) !== 0) return UD;
  } else if ((fl & F_O64) !== 0) return UD;
  if ((fl & F_MEMONLY) !== 0 && mod === 3) return UD;
  if ((fl & F_NP) !== 0 && (opPfx || repPfx !== 0)) return UD;
  if ((fl & F_NOF2F3) !== 0 && repPfx !== 0) return UD;
  if ((fl & F_P66) !== 0 && (!opPfx || repPfx !== 0)) return UD;
  if ((fl & F_F3UD) !== 0 && repPfx === 0xf3) return UD;
  if (lock && ((fl & F_LK) === 0 || mod === 3)) return UD;

  // Operand size (SDM Vol. 1 §3.6, Vol. 2 §2.2.1.7) and address size.
  const op66 = opPfx && (fl & F_P66) === 0 && !(map === 2 && opc === 0xc7);
  let osz: OpSize;
  if (mode === 64) {
    if ((fl & F_F64) !== 0 || rexW) osz = 8;
    else if ((fl & F_D64) !== 0) osz = op66 ? 2 : 8;
    else osz = op66 ? 2 : 4;
  } else if ((fl & F_Y) !== 0) osz = 4;
  else if (mode === 32) osz = op66 ? 2 : 4;
  else osz = op66 ? 4 : 2;
  const asz: 2 | 4 | 8 = mode === 64 ? (adPfx ? 4 : 8) : mode === 32 ? (adPfx ? 2 : 4) : adPfx ? 4 : 2;

  const effSeg = mode === 64 ? segFsGs : segPfx;

  // Memory operand from ModRM (+SIB, displacement), read before any immediate.
  let memOp: MemOperand | null = null;
  if (modrm >= 0 && mod !== 3 && (fl & F_RMREG) === 0) {
    let base = -1;
    let index = -1;
    let scale: 1 | 2 | 4 | 8 = 1;
    let disp = 0;
    let ripRel = false;
    if (asz === 2) {
      if (mod === 0 && rm === 6) disp = (imm16() << 16) >> 16;
      else {
        base = RM16_BASE[rm]!;
        index = RM16_INDEX[rm]!;
        if (mod === 1) disp = (nb() << 24) >> 24;
        else if (mod === 2) disp = (imm16() << 16) >> 16;
      }
    } else {
      if (rm === 4) {
        const sib = nb();
        const sb = sib & 7;
        const si = ((sib >> 3) & 7) | rexX;
        if (si !== 4) {
          index = si;
          scale = (1 << (sib >> 6)) as 1 | 2 | 4 | 8;
        }
        if (sb === 5 && mod === 0) disp = imm32() | 0;
        else base = sb | rexB;
      } else if (rm === 5 && mod === 0) {
        disp = imm32() | 0;
        if (mode === 64) ripRel = true;
      } else base = rm | rexB;
      if (mod === 1) disp = (nb() << 24) >> 24;
      else if (mod === 2) disp = imm32() | 0;
    }
    const defSeg: SegIndex = base === 4 || base === 5 ? 2 : 3;
    memOp = {
      kind: 'mem',
      size: 0,
      seg: effSeg >= 0 ? (effSeg as SegIndex) : defSeg,
      segOverride: effSeg >= 0,
      base,
      index,
      scale,
      dispLo: disp >>> 0,
      dispHi: disp < 0 ? 0xffffffff : 0,
      ripRel,
      addrSize: asz,
    };
  }

  const ops = sp.ops;
  const operands: Operand[] = [];
  for (let k = 0; k < ops.length; k++) {
    const c = ops[k]!;
    let o: Operand;
    switch (c) {
      case O.Eb: case O.Ew: case O.Ed: case O.Ev: case O.EvW: case O.EdSx: case O.M: case O.Mq: case O.Mdq: case O.Mp: {
        let size: number;
        switch (c) {
          case O.Eb: size = 1; break;
          case O.Ew: size = 2; break;
          case O.Ed: size = 4; break;
          case O.Ev: size = osz; break;
          case O.EvW: size = memOp === null ? osz : 2; break;
          case O.EdSx: size = osz === 2 ? 2 : 4; break;
          case O.M: size = 0; break;
          case O.Mq: size = 8; break;
          case O.Mdq: size = 16; break;
          default: size = osz + 2; break;
        }
        if (memOp !== null) {
          memOp.size = size;
          o = memOp;
        } else o = reg(rm | rexB, size as OpSize, rex);
        break;
      }
      case O.Gb: o = reg(regF | rexR, 1, rex); break;
      case O.Gv: o = reg(regF | rexR, osz, rex); break;
      case O.Rv: o = reg(rm | rexB, osz, rex); break;
      case O.Cr: {
        const cr = regF | rexR;
        if (cr !== 0 && cr !== 2 && cr !== 3 && cr !== 4 && !(cr === 8 && mode === 64)) return UD;
        o = { kind: 'cr', reg: cr };
        break;
      }
      case O.Sw: case O.SwD: {
        if (regF > 5 || (c === O.SwD && regF === 1)) return UD;
        o = { kind: 'sreg', reg: regF as SegIndex };
        break;
      }
      case O.Ib: o = mkImm(1, nb(), 0); break;
      case O.Ibs: o = sxImm(nb(), 1, osz); break;
      case O.Iw: o = mkImm(2, imm16(), 0); break;
      case O.Iz:
        o = osz === 2 ? mkImm(2, imm16(), 0) : osz === 4 ? mkImm(4, imm32(), 0) : sxImm(imm32(), 4, 8);
        break;
      case O.Iv:
        if (osz === 2) o = mkImm(2, imm16(), 0);
        else if (osz === 4) o = mkImm(4, imm32(), 0);
        else {
          const lo = imm32();
          o = mkImm(8, lo, imm32());
        }
        break;
      case O.Jb: o = { kind: 'rel', size: 1, disp: (nb() << 24) >> 24 }; break;
      case O.Jz:
        o = osz === 2 ? { kind: 'rel', size: 2, disp: (imm16() << 16) >> 16 } : { kind: 'rel', size: 4, disp: imm32() | 0 };
        break;
      case O.Ap: {
        const offset = osz === 2 ? imm16() : imm32();
        o = { kind: 'far', selector: imm16(), offset };
        break;
      }
      case O.Ob: case O.Ov: {
        let lo: number;
        let hi = 0;
        if (asz === 2) lo = imm16();
        else {
          lo = imm32();
          if (asz === 8) hi = imm32();
        }
        o = {
          kind: 'mem',
          size: c === O.Ob ? 1 : osz,
          seg: effSeg >= 0 ? (effSeg as SegIndex) : 3,
          segOverride: effSeg >= 0,
          base: -1,
          index: -1,
          scale: 1,
          dispLo: lo,
          dispHi: hi,
          ripRel: false,
          addrSize: asz,
        };
        break;
      }
      case O.AL: o = reg(0, 1, 0); break;
      case O.rAX: o = reg(0, osz, 0); break;
      case O.eAXio: o = reg(0, osz === 8 ? 4 : osz, 0); break;
      case O.DX: o = reg(2, 2, 0); break;
      case O.CL: o = reg(1, 1, 0); break;
      case O.One: o = mkImm(1, 1, 0); break;
      case O.Zb: o = reg((opc & 7) | rexB, 1, rex); break;
      case O.Zv: o = reg((opc & 7) | rexB, osz, rex); break;
      default: o = { kind: 'sreg', reg: (c - O.ES) as SegIndex }; break;
    }
    operands.push(o);
  }

  const m = sp.m;
  let mnemonic: string;
  if (m.length === 1) mnemonic = m[0]!;
  else {
    const s = (fl & F_ASZ) !== 0 ? asz : osz;
    mnemonic = m[s === 2 ? 0 : s === 4 ? 1 : 2]!;
  }

  let opSize: OpSize = osz;
  if ((fl & F_B) !== 0) opSize = 1;
  else if ((fl & F_IO32) !== 0 && osz === 8) opSize = 4;

  const insn: Insn = {
    mnemonic,
    length: pos,
    operands,
    opSize,
    addrSize: asz,
    rep: (fl & F_STR) !== 0 ? (repPfx === 0xf3 ? 'rep' : repPfx === 0xf2 ? 'repne' : 'none') : 'none',
    lock,
    segOverride: effSeg,
    rex,
  };
  return { kind: 'ok', insn };
}
