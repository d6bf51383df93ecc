/**
 * Disassembler: a decoded instruction as NASM-style Intel syntax.
 *
 * Style: `mov eax, [rbx+rcx*4+0x10]`; a size keyword (byte/word/dword/qword/oword) only where the
 * registers do not already give the size; numbers in 0x hex; branch targets as absolute addresses;
 * RIP-relative operands as `[rel 0xADDRESS]`; segment overrides inside the brackets (`[fs:rax]`).
 */
import { decode, type DecodeMode } from '../cpu/decode.ts';
import type { Insn, MemOperand, Operand } from '../cpu/insn.ts';

const REG8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const REG8H = ['ah', 'ch', 'dh', 'bh'];
const REG16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const REG64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'];
const SREG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
const SIZE_KEYWORD: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword', 8: 'qword', 16: 'oword' };
/** Memory operands whose size the mnemonic already fixes (nasm rejects a keyword there). */
const IMPLICIT_SIZE = new Set(['vmxon', 'vmclear', 'vmptrld', 'vmptrst', 'invept', 'invvpid']);

/** NASM spellings where iced's mnemonic leaves the operand size to the mode. */
function displayMnemonic(insn: Insn): string {
  const m = insn.mnemonic;
  if (insn.opSize === 2 && (m === 'iret' || m === 'pushf' || m === 'popf' || m === 'pusha' || m === 'popa' || m === 'retf')) return `${m}w`;
  if (insn.opSize === 8 && m === 'retf') return 'retfq';
  if (m === 'sysretq' || m === 'sysexitq') return `o64 ${m.slice(0, -1)}`;
  return m;
}

export function regName(reg: number, size: number, high8 = false): string {
  if (size === 1) {
    if (high8) return REG8H[reg] ?? '?';
    return reg < 8 ? REG8[reg]! : `r${reg}b`;
  }
  if (size === 2) return reg < 8 ? REG16[reg]! : `r${reg}w`;
  if (size === 4) return reg < 8 ? REG32[reg]! : `r${reg}d`;
  return reg < 8 ? REG64[reg]! : `r${reg}`;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function maskBits(v: bigint, bits: number): bigint {
  return BigInt.asUintN(bits, v);
}

function toBig(ip: { lo: number; hi: number } | number): bigint {
  if (typeof ip === 'number') return BigInt(ip);
  return (BigInt(ip.hi >>> 0) << 32n) | BigInt(ip.lo >>> 0);
}

function memText(m: MemOperand, next: bigint): string {
  const seg = m.segOverride ? `${SREG[m.seg]!}:` : '';
  const disp = (BigInt(m.dispHi >>> 0) << 32n) | BigInt(m.dispLo >>> 0);
  const bits = m.addrSize * 8;
  if (m.ripRel) return `[${seg}rel ${hex(maskBits(next + BigInt.asIntN(64, disp), bits))}]`;
  const parts: string[] = [];
  if (m.base >= 0) parts.push(regName(m.base, m.addrSize));
  if (m.index >= 0) parts.push(m.scale === 1 ? regName(m.index, m.addrSize) : `${regName(m.index, m.addrSize)}*${m.scale}`);
  let s = parts.join('+');
  if (parts.length === 0) {
    s = hex(maskBits(disp, bits));
    // A 64-bit absolute address (moffs) that a sign-extended disp32 cannot reach: nasm's `[qword N]`.
    if (bits === 64 && m.dispHi >>> 0 !== (m.dispLo & 0x80000000 ? 0xffffffff : 0)) s = `qword ${s}`;
  }
  else {
    const d = BigInt.asIntN(bits, disp);
    if (d > 0n) s += `+${hex(d)}`;
    else if (d < 0n) s += `-${hex(-d)}`;
  }
  return `[${seg}${s}]`;
}

function isFarIndirect(insn: Insn, o: MemOperand): boolean {
  return (insn.mnemonic === 'call' || insn.mnemonic === 'jmp') && (o.size === 4 || o.size === 6 || o.size === 10) && insn.opSize + 2 === o.size;
}

export function formatInsn(insn: Insn, ip: { lo: number; hi: number } | number): string {
  const next = toBig(ip) + BigInt(insn.length);
  const regSize = insn.operands.find((o) => o.kind === 'reg')?.size;
  const ops = insn.operands.map((o: Operand): string => {
    switch (o.kind) {
      case 'reg':
        return regName(o.reg, o.size, o.high8);
      case 'sreg':
        return SREG[o.reg] ?? '?';
      case 'cr':
        return `cr${o.reg}`;
      case 'imm':
        return hex(maskBits((BigInt(o.hi >>> 0) << 32n) | BigInt(o.lo >>> 0), o.size * 8));
      case 'rel': {
        const bits = insn.opSize === 2 ? 16 : insn.opSize === 8 ? 64 : 32;
        return hex(maskBits(next + BigInt(o.disp), bits));
      }
      case 'far':
        return `${hex(BigInt(o.selector))}:${hex(BigInt(o.offset >>> 0))}`;
      case 'mem': {
        const text = memText(o, next);
        if (isFarIndirect(insn, o)) return `far ${SIZE_KEYWORD[o.size - 2]!} ${text}`;
        if (o.size === 0 || regSize === o.size || IMPLICIT_SIZE.has(insn.mnemonic)) return text;
        const kw = SIZE_KEYWORD[o.size];
        return kw === undefined ? text : `${kw} ${text}`;
      }
    }
  });
  let prefix = '';
  if (insn.lock) prefix += 'lock ';
  if (insn.rep !== 'none') {
    const cond = insn.mnemonic.startsWith('cmps') || insn.mnemonic.startsWith('scas');
    prefix += insn.rep === 'repne' ? 'repne ' : cond ? 'repe ' : 'rep ';
  }
  if (insn.segOverride >= 0 && !insn.operands.some((o) => o.kind === 'mem')) prefix += `${SREG[insn.segOverride] ?? '?'} `;
  const m = displayMnemonic(insn);
  return ops.length === 0 ? `${prefix}${m}` : `${prefix}${m} ${ops.join(', ')}`;
}

export interface DisasmLine {
  offset: number;
  length: number;
  text: string;
  /** The instruction's bytes in hex, space separated. */
  bytes: string;
}

/** Disassembles `bytes` loaded at `origin`; undecodable bytes become one-byte `(bad)` lines. */
export function disassemble(bytes: Uint8Array, mode: DecodeMode, origin: number): DisasmLine[] {
  const out: DisasmLine[] = [];
  let off = 0;
  while (off < bytes.length) {
    const base = off;
    const r = decode((i) => (base + i < bytes.length ? bytes[base + i]! : -1), mode);
    const length = r.kind === 'ok' ? r.insn.length : 1;
    const text = r.kind === 'ok' ? formatInsn(r.insn, origin + base) : '(bad)';
    const hexBytes: string[] = [];
    for (let k = 0; k < length; k++) hexBytes.push(bytes[base + k]!.toString(16).padStart(2, '0'));
    out.push({ offset: base, length, text, bytes: hexBytes.join(' ') });
    off += length;
  }
  return out;
}
