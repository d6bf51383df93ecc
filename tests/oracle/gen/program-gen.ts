/**
 * Seeded generator of short guest programs (nasm syntax) for comparing the lab's CPU with KVM.
 *
 * Every program is deterministic for its seed and reads no flag the SDM leaves undefined: the
 * generator tracks which arithmetic flags are defined after each instruction ("Flags Affected" in
 * SDM Vol. 2) and only emits a flag reader (ADC/SBB, SETcc, CMOVcc, Jcc, PUSHF) once the flags it
 * reads are defined. The final RFLAGS is compared under the returned mask. Programs touch memory
 * only in a scratch page, whose contents are compared too, and on the stack.
 */

export type Mode = 'prot32' | 'long64';

export const SCRATCH = 0x200000;
export const SCRATCH_LEN = 0x1000;

/** The six arithmetic flags: CF PF AF ZF SF OF. */
const CF = 1, PF = 4, AF = 16, ZF = 64, SF = 128, OF = 2048;
const ARITH = CF | PF | AF | ZF | SF | OF;

export interface Program {
  seed: number;
  mode: Mode;
  source: string;
  /** RFLAGS bits that are architecturally defined at the end. */
  flagsMask: number;
}

export { rng } from '../../../src/emu/exercise/rng.ts';
import { rng } from '../../../src/emu/exercise/rng.ts';

const CONDS: [string, number][] = [
  ['o', OF], ['no', OF], ['b', CF], ['ae', CF], ['e', ZF], ['ne', ZF], ['be', CF | ZF], ['a', CF | ZF],
  ['s', SF], ['ns', SF], ['p', PF], ['np', PF], ['l', SF | OF], ['ge', SF | OF], ['le', ZF | SF | OF], ['g', ZF | SF | OF],
];

export function generateProgram(seed: number, mode: Mode, length = 40): Program {
  const r = rng(seed * 2654435761 + (mode === 'long64' ? 7 : 0));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const is64 = mode === 'long64';
  // rbp/ebp holds the scratch base and rsp the stack: neither is ever a destination.
  const regs64 = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
  const regs32 = is64
    ? ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d']
    : ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'];
  const regs16 = is64 ? ['ax', 'bx', 'cx', 'dx', 'si', 'di', 'r8w', 'r9w', 'r12w'] : ['ax', 'bx', 'cx', 'dx', 'si', 'di'];
  const regs8 = is64 ? ['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh', 'sil', 'dil', 'r8b', 'r11b'] : ['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh'];
  const base = is64 ? 'rbp' : 'ebp';
  const widths = is64 ? [8, 4, 2, 1, 4, 8] : [4, 2, 1, 4];
  const regOf = (w: number) => (w === 8 ? pick(regs64) : w === 4 ? pick(regs32) : w === 2 ? pick(regs16) : pick(regs8));
  const sizeKw = (w: number) => (w === 8 ? 'qword' : w === 4 ? 'dword' : w === 2 ? 'word' : 'byte');
  const mem = (w: number) => `${sizeKw(w)} [${base}+${int(0, 0xfe0 / 8) * 8 + (r() < 0.2 ? int(1, 7) : 0)}]`;
  const imm = (w: number) => {
    const special = [0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, -0x80000000];
    const v = r() < 0.4 ? pick(special) : int(-0x80000000, 0x7fffffff);
    if (w === 1) return v & 0xff;
    if (w === 2) return v & 0xffff;
    return v; // 32-bit, or a sign-extended imm32 for 64-bit operations
  };
  // Operand pairs for a byte register are only valid together when REX rules allow (no ah..dh with REX).
  const needsRex = (reg: string) => /^(sil|dil|spl|bpl|r\d+[bwd]?|r[a-z]{2})$/.test(reg);
  const high8 = (reg: string) => /^[abcd]h$/.test(reg);
  const compatible = (a: string, b: string) => !((needsRex(a) && high8(b)) || (needsRex(b) && high8(a)));

  let defined = 0; // which arithmetic flags are defined now
  const out: string[] = [];
  const emit = (s: string) => out.push('  ' + s);
  const ensure = (need: number) => {
    if ((defined & need) !== need) {
      const w = pick(widths);
      let a = regOf(w), b = regOf(w);
      while (!compatible(a, b)) b = regOf(w);
      emit(`cmp ${a}, ${b}`);
      defined = ARITH;
    }
  };

  out.push(is64 ? 'bits 64' : 'bits 32', 'org 0x100000');
  emit(`mov ${base}, ${SCRATCH}`);
  // Seed registers with varied values.
  for (const reg of is64 ? regs64 : regs32) {
    if (is64 && r() < 0.5) emit(`mov ${reg}, 0x${(BigInt(int(0, 0xffffffff)) << 32n | BigInt(int(0, 0xffffffff))).toString(16)}`);
    else emit(`mov ${is64 ? reg.replace(/^r(\d+)$/, 'r$1d').replace(/^r([a-z]{2})$/, 'e$1') : reg}, ${int(0, 0xffffffff)}`);
  }
  let labels = 0;
  let pushed = 0;

  for (let i = 0; i < length; i++) {
    const w = pick(widths);
    const kind = int(0, 21);
    const a = regOf(w);
    let b = regOf(w);
    while (!compatible(a, b)) b = regOf(w);
    switch (kind) {
      case 0: case 1: { // two-operand ALU
        const op = pick(['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test', 'adc', 'sbb']);
        if (op === 'adc' || op === 'sbb') ensure(CF);
        const form = int(0, 3);
        if (form === 0) emit(`${op} ${a}, ${b}`);
        else if (form === 1) emit(`${op} ${a}, ${imm(w)}`);
        else if (form === 2) emit(`${op} ${a}, ${mem(w)}`);
        else emit(`${op} ${mem(w)}, ${op === 'test' ? b : r() < 0.5 ? b : imm(w)}`);
        defined = ['and', 'or', 'xor', 'test'].includes(op) ? ARITH & ~AF : ARITH;
        break;
      }
      case 2: { // unary
        const op = pick(['inc', 'dec', 'neg', 'not']);
        emit(`${op} ${r() < 0.7 ? a : mem(w)}`);
        if (op === 'neg') defined = ARITH;
        else if (op !== 'not') defined = (defined & CF) | (ARITH & ~CF);
        break;
      }
      case 3: { // shifts by 1, an immediate, or cl
        const op = pick(['shl', 'shr', 'sar', 'sal']);
        const form = int(0, 2);
        const dst = r() < 0.7 ? a : mem(w);
        if (form === 0) {
          emit(`${op} ${dst}, 1`);
          defined = ARITH & ~AF;
        } else {
          const count = form === 1 ? int(0, w === 8 ? 63 : 31) : int(0, 40);
          if (form === 1) emit(`${op} ${dst}, ${count}`);
          else {
            emit(`mov cl, ${count}`);
            emit(`${op} ${dst}, cl`);
          }
          // SDM Vol. 2, SAL/SAR/SHL/SHR: a masked count of 0 changes no flag; OF is defined only for
          // a count of 1; AF is undefined for any non-zero count; CF is undefined once the count
          // reaches the operand width (possible for 8- and 16-bit operands).
          const masked = count & (w === 8 ? 63 : 31);
          if (masked === 1) defined = ARITH & ~AF;
          else if (masked > 1) defined = (masked < w * 8 ? CF : 0) | PF | ZF | SF;
        }
        break;
      }
      case 4: { // rotates by 1 define CF and OF only
        const op = pick(['rol', 'ror']);
        emit(`${op} ${a}, 1`);
        defined |= CF | OF;
        break;
      }
      case 5: { // mul / imul one-operand
        const op = pick(['mul', 'imul']);
        emit(`${op} ${r() < 0.7 ? b : mem(w)}`);
        defined = CF | OF;
        break;
      }
      case 6: { // imul two- and three-operand
        if (w === 1) break;
        const form = int(0, 2);
        if (form === 0) emit(`imul ${a}, ${b}`);
        else if (form === 1) emit(`imul ${a}, ${mem(w)}`);
        else emit(`imul ${a}, ${b}, ${int(-128, 1000)}`);
        defined = CF | OF;
        break;
      }
      case 7: { // unsigned divide that cannot fault: zero the high half, divisor forced non-zero
        const dw = w === 1 ? 4 : w;
        const hi = dw === 8 ? 'rdx' : dw === 4 ? 'edx' : 'dx';
        const dv = dw === 8 ? 'rbx' : dw === 4 ? 'ebx' : 'bx';
        emit(`xor ${hi}, ${hi}`);
        emit(`or ${dv}, 1`);
        emit(`div ${dv}`);
        defined = 0;
        break;
      }
      case 8: { // data movement
        const form = int(0, 5);
        if (form === 0) emit(`mov ${a}, ${b}`);
        else if (form === 1) emit(`mov ${mem(w)}, ${a}`);
        else if (form === 2) emit(`mov ${a}, ${mem(w)}`);
        else if (form === 3 && w !== 1) emit(`lea ${a}, [${base}+${is64 ? 'rcx' : 'ecx'}*${pick([1, 2, 4, 8])}+${int(-500, 500)}]`);
        else if (form === 4) emit(`xchg ${a}, ${b}`);
        else emit(`mov ${mem(w)}, ${imm(w)}`);
        break;
      }
      case 9: { // zero- and sign-extension
        const dw = is64 ? pick([2, 4, 8]) : pick([2, 4]);
        const sw = dw === 2 ? 1 : pick([1, 2]);
        const op = pick(['movzx', 'movsx']);
        const d = regOf(dw);
        let s = regOf(sw);
        while (!compatible(d, s)) s = regOf(sw);
        emit(`${op} ${d}, ${r() < 0.7 ? s : mem(sw)}`);
        break;
      }
      case 10: { // setcc / cmovcc
        const [cc, need] = pick(CONDS);
        ensure(need);
        if (r() < 0.5) emit(`set${cc} ${regOf(1)}`);
        else if (w !== 1) emit(`cmov${cc} ${a}, ${r() < 0.7 ? b : mem(w)}`);
        break;
      }
      case 11: { // a forward conditional branch
        const [cc, need] = pick(CONDS);
        ensure(need);
        const l = `.l${labels++}`;
        emit(`j${cc} ${l}`);
        emit(`inc ${regOf(is64 ? 8 : 4)}`);
        emit(`add ${regOf(4)}, ${int(1, 1000)}`);
        out.push(`${l}:`);
        // Taken: the flags from before the branch. Not taken: inc then add, which define all six.
        // So exactly the flags defined before the branch are defined after it.
        break;
      }
      case 12: { // push / pop
        if (pushed > 0 && r() < 0.5) {
          emit(`pop ${is64 ? pick(regs64) : pick(regs32)}`);
          pushed--;
        } else {
          const form = int(0, 2);
          if (form === 0) emit(`push ${is64 ? pick(regs64) : pick(regs32)}`);
          else if (form === 1) emit(`push ${int(-128, 100000)}`);
          else emit(`push ${is64 ? 'qword' : 'dword'} [${base}+${int(0, 500) * 8}]`);
          pushed++;
        }
        break;
      }
      case 13: { // bit tests: CF defined, OF SF AF PF undefined, ZF unchanged
        if (w === 1) break;
        const op = pick(['bt', 'bts', 'btr', 'btc']);
        if (r() < 0.5) emit(`${op} ${a}, ${int(0, w * 8 - 1)}`);
        else emit(`${op} ${mem(w)}, ${int(0, w * 8 - 1)}`);
        defined = (defined & ZF) | CF;
        break;
      }
      case 14: { // byte swap, sign extension of the accumulator
        if (r() < 0.5 && w >= 4) emit(`bswap ${a}`);
        else emit(pick(is64 ? ['cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo'] : ['cbw', 'cwde', 'cwd', 'cdq']));
        break;
      }
      case 15: { // port output: recorded as an exit
        const src = pick(['al', 'ax', 'eax']);
        if (r() < 0.5) emit(`out ${pick([0x80, 0x84, 0xe9])}, ${src}`);
        else {
          emit(`mov dx, ${pick([0x3f8, 0x80, 0x1234])}`);
          emit(`out dx, ${src}`);
        }
        break;
      }
      case 16: { // string stores and moves inside the scratch page
        const sz = pick(is64 ? ['b', 'w', 'd', 'q'] : ['b', 'w', 'd']);
        const n = int(0, 12);
        const si = is64 ? 'rsi' : 'esi', di = is64 ? 'rdi' : 'edi', cx = is64 ? 'rcx' : 'ecx';
        emit(`lea ${di}, [${base}+${int(20, 200) * 8}]`);
        emit(`lea ${si}, [${base}+${int(20, 200) * 8}]`);
        emit(`mov ${cx}, ${n}`);
        if (r() < 0.2) emit('std');
        else emit('cld');
        if (r() < 0.5) emit(`rep stos${sz}`);
        else emit(`rep movs${sz}`);
        emit('cld');
        break;
      }
      case 17: { // a counted loop
        const cx = is64 ? 'rcx' : 'ecx';
        const l = `.l${labels++}`;
        emit(`mov ${cx}, ${int(1, 5)}`);
        out.push(`${l}:`);
        emit(`add ${pick(is64 ? ['rax', 'rbx', 'rdx', 'r9'] : ['eax', 'ebx', 'edx'])}, ${cx}`);
        emit(`dec ${cx}`);
        emit(`jnz ${l}`);
        defined = ARITH; // dec defines all but CF, which the add before it defined
        break;
      }
      case 18: { // call and return
        const l = `.l${labels++}`;
        const after = `.l${labels++}`;
        emit(`call ${l}`);
        emit(`jmp ${after}`);
        out.push(`${l}:`);
        emit(`xor ${regOf(4)}, ${int(0, 0xffff)}`);
        emit('ret');
        out.push(`${after}:`);
        defined = ARITH & ~AF;
        break;
      }
      case 19: { // MMIO above RAM: a write, and a read that sees all ones
        const gpa = 0x8000000 + int(0, 255) * 8;
        const src = is64 ? pick(['rax', 'eax', 'bx', 'cl']) : pick(['eax', 'bx', 'cl']);
        const w2 = { rax: 8, eax: 4, bx: 2, cl: 1 }[src as 'rax' | 'eax' | 'bx' | 'cl'];
        if (r() < 0.5) emit(`mov ${sizeKw(w2)} [${gpa}], ${src}`);
        else emit(`mov ${src}, ${sizeKw(w2)} [${gpa}]`);
        break;
      }
      case 20: { // flags to register
        ensure(SF | ZF | AF | PF | CF); // LAHF copies all five into AH
        emit('lahf');
        break;
      }
      default: { // clc/stc/cmc
        const op = pick(['clc', 'stc', 'cmc']);
        if (op === 'cmc') ensure(CF);
        emit(op);
        defined |= CF;
      }
    }
  }
  emit('hlt');
  return { seed, mode, source: out.join('\n') + '\n', flagsMask: (~ARITH | defined) >>> 0 };
}
