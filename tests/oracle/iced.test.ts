/**
 * The decoder against iced-x86 (the reference decoder, a dev dependency): length, mnemonic and
 * operands over a table of every supported form, and length and mnemonic over random byte strings.
 */
import { describe, it, expect } from 'vitest';
import { Code, Decoder, DecoderOptions, EncodingKind, Mnemonic, OpKind, Register } from 'iced-x86';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, SUPPORTED_MNEMONICS, type DecodeMode } from '../../src/emu/cpu/decode.ts';
import { formatInsn } from '../../src/emu/asm/disasm.ts';
import type { Insn, Operand } from '../../src/emu/cpu/insn.ts';
import { rng } from './gen/program-gen.ts';

const IP64 = 0x7fff_1234_5000n;
const IP32 = 0x1234_5000n;

interface RegInfo {
  num: number;
  size: number;
  high8: boolean;
}

function icedReg(r: Register): RegInfo | { sreg: number } | { cr: number } | { rip: number } | null {
  if (r >= Register.AL && r <= Register.R15L) {
    const k = r - Register.AL;
    if (k >= 4 && k < 8) return { num: k - 4, size: 1, high8: true };
    return { num: k >= 8 ? k - 4 : k, size: 1, high8: false };
  }
  if (r >= Register.AX && r <= Register.R15W) return { num: r - Register.AX, size: 2, high8: false };
  if (r >= Register.EAX && r <= Register.R15D) return { num: r - Register.EAX, size: 4, high8: false };
  if (r >= Register.RAX && r <= Register.R15) return { num: r - Register.RAX, size: 8, high8: false };
  if (r >= Register.ES && r <= Register.GS) return { sreg: r - Register.ES };
  if (r >= Register.CR0 && r <= Register.CR15) return { cr: r - Register.CR0 };
  if (r === Register.RIP) return { rip: 8 };
  if (r === Register.EIP) return { rip: 4 };
  return null;
}

/** Our byte-register numbering: AH..BH are 0..3 with high8, SPL..DIL are 4..7. */
function ourRegKey(o: { reg: number; size: number; high8: boolean }): string {
  return `${o.high8 ? o.reg + 4 : o.reg}:${o.size}:${o.high8 && o.size === 1 ? 'h' : ''}`;
}
function icedRegKey(x: RegInfo): string {
  return `${x.high8 ? x.num + 4 : x.num}:${x.size}:${x.high8 ? 'h' : ''}`;
}

function mask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

interface IcedResult {
  invalid: boolean;
  length: number;
  mnemonic: string;
  code: number;
  encoding: number;
  isString: boolean;
  /** Description of each operand, or null where it is not comparable. */
  ops: string[];
}

function icedDecode(bytes: Uint8Array, mode: DecodeMode, ip: bigint): IcedResult {
  const d = new Decoder(mode, bytes, DecoderOptions.None);
  d.ip = ip;
  const i = d.decode();
  const r: IcedResult = {
    invalid: i.isInvalid,
    length: i.length,
    mnemonic: (Mnemonic[i.mnemonic] ?? '?').toLowerCase(),
    code: i.code,
    encoding: i.encoding,
    isString: i.isStringInstruction,
    ops: [],
  };
  if (!r.invalid) {
    for (let k = 0; k < i.opCount; k++) {
      const kind = i.opKind(k);
      switch (kind) {
        case OpKind.Register: {
          const x = icedReg(i.opRegister(k));
          if (x === null) r.ops.push('?reg');
          else if ('sreg' in x) r.ops.push(`sreg ${x.sreg}`);
          else if ('cr' in x) r.ops.push(`cr ${x.cr}`);
          else if ('num' in x) r.ops.push(`reg ${icedRegKey(x)}`);
          else r.ops.push('?reg');
          break;
        }
        case OpKind.NearBranch16:
        case OpKind.NearBranch32:
        case OpKind.NearBranch64:
          r.ops.push(`target ${i.nearBranchTarget.toString(16)}`);
          break;
        case OpKind.FarBranch16:
          r.ops.push(`far ${i.farBranchSelector.toString(16)}:${i.farBranch16.toString(16)}`);
          break;
        case OpKind.FarBranch32:
          r.ops.push(`far ${i.farBranchSelector.toString(16)}:${i.farBranch32.toString(16)}`);
          break;
        case OpKind.Immediate8:
        case OpKind.Immediate8_2nd:
        case OpKind.Immediate16:
        case OpKind.Immediate32:
        case OpKind.Immediate64:
        case OpKind.Immediate8to16:
        case OpKind.Immediate8to32:
        case OpKind.Immediate8to64:
        case OpKind.Immediate32to64: {
          const bits =
            kind === OpKind.Immediate8 || kind === OpKind.Immediate8_2nd
              ? 8
              : kind === OpKind.Immediate16 || kind === OpKind.Immediate8to16
                ? 16
                : kind === OpKind.Immediate32 || kind === OpKind.Immediate8to32
                  ? 32
                  : 64;
          r.ops.push(`imm${bits} ${(i.immediate(k) & mask(bits)).toString(16)}`);
          break;
        }
        case OpKind.Memory: {
          const base = icedReg(i.memoryBase);
          const index = icedReg(i.memoryIndex);
          const seg = icedReg(i.memorySegment);
          const segN = seg !== null && 'sreg' in seg ? seg.sreg : -1;
          const asz = i.memoryBase !== Register.None ? (base as RegInfo | { rip: number }) : null;
          let aszBits = mode === 64 ? 64 : mode === 32 ? 32 : 16;
          if (asz && 'size' in asz) aszBits = asz.size * 8;
          if (asz && 'rip' in asz) aszBits = asz.rip * 8;
          if (index && 'size' in index) aszBits = index.size * 8;
          if (i.memoryBase === Register.None && i.memoryIndex === Register.None) aszBits = i.memoryDisplSize * 8;
          if (base !== null && 'rip' in base) {
            r.ops.push(`mem rip ${(i.memoryDisplacementU64 & mask(base.rip * 8)).toString(16)} seg ${segN}`);
          } else {
            const b = base !== null && 'num' in base ? base.num : -1;
            const x = index !== null && 'num' in index ? index.num : -1;
            const sc = x >= 0 ? i.memoryIndexScale : 1;
            r.ops.push(`mem ${b} ${x} ${sc} ${(i.memoryDisplacementU64 & mask(aszBits)).toString(16)} seg ${segN}`);
          }
          break;
        }
        default:
          r.ops.push('implicit');
      }
    }
  }
  i.free();
  d.free();
  return r;
}

function ourOps(insn: Insn, mode: DecodeMode, ip: bigint): string[] {
  const next = ip + BigInt(insn.length);
  return insn.operands.map((o: Operand) => {
    switch (o.kind) {
      case 'reg':
        return `reg ${ourRegKey(o)}`;
      case 'sreg':
        return `sreg ${o.reg}`;
      case 'cr':
        return `cr ${o.reg}`;
      case 'imm': {
        const v = (BigInt(o.hi) << 32n) | BigInt(o.lo);
        return `imm${o.size * 8} ${(v & mask(o.size * 8)).toString(16)}`;
      }
      case 'rel': {
        const bits = insn.opSize === 2 ? 16 : mode === 64 ? 64 : 32;
        return `target ${((next + BigInt(o.disp)) & mask(bits)).toString(16)}`;
      }
      case 'far':
        return `far ${o.selector.toString(16)}:${o.offset.toString(16)}`;
      case 'mem': {
        const disp = (BigInt(o.dispHi) << 32n) | BigInt(o.dispLo);
        const bits = o.addrSize * 8;
        if (o.ripRel) return `mem rip ${((next + BigInt.asIntN(64, disp)) & mask(bits)).toString(16)} seg ${o.seg}`;
        return `mem ${o.base} ${o.index} ${o.scale} ${(disp & mask(bits)).toString(16)} seg ${o.seg}`;
      }
    }
  });
}

function fetcher(bytes: Uint8Array): (i: number) => number {
  return (i) => (i < bytes.length ? bytes[i]! : -1);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function fromHex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, '');
  const out = new Uint8Array(t.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = parseInt(t.slice(k * 2, k * 2 + 2), 16);
  return out;
}

const WORD_SOURCE = new Set(['lldt', 'ltr', 'verr', 'verw', 'lmsw']);

/** Compares one byte string; returns a description of the difference, or null when they agree. */
function compareFull(bytes: Uint8Array, mode: DecodeMode): string | null {
  const ip = mode === 64 ? IP64 : IP32;
  const ours = decode(fetcher(bytes), mode);
  const ice = icedDecode(bytes, mode, ip);
  if (ours.kind !== 'ok') return `ours ${ours.kind}, iced ${ice.invalid ? 'invalid' : `${ice.mnemonic} len ${ice.length}`}`;
  if (ice.invalid) return `ours ${ours.insn.mnemonic} len ${ours.insn.length}, iced invalid`;
  if (ours.insn.length !== ice.length || ours.insn.mnemonic !== ice.mnemonic)
    return `ours ${ours.insn.mnemonic} len ${ours.insn.length}, iced ${ice.mnemonic} len ${ice.length}`;
  if (ice.isString || ice.ops.includes('implicit')) return null;
  let o = ourOps(ours.insn, mode, ip).join(' | ');
  let c = ice.ops.join(' | ');
  // iced names the r32 of `lldt r32/m16` and kin, which reads only its low word: we report the word.
  if (WORD_SOURCE.has(ice.mnemonic)) c = c.replace(/^reg (\d+):[48]:/, 'reg $1:2:');
  // 64-bit mode: ES/CS/SS/DS overrides have no effect; iced still names them, we name the default.
  if (mode === 64) {
    o = o.replace(/seg [0-3]\b/g, 'seg flat');
    c = c.replace(/seg [0-3]\b/g, 'seg flat');
  }
  return o === c ? null : `operands: ours [${o}] iced [${c}]`;
}

// Every supported form, in the modes where it exists. `*` means both 32 and 64.
const FORMS: [DecodeMode | '*', string][] = [
  // ALU, all encodings
  ['*', '00 d8'], ['*', '01 d8'], ['*', '02 18'], ['*', '03 1c 8d 10 00 00 00'], ['*', '04 7f'], ['*', '05 78 56 34 12'],
  ['*', '08 e0'], ['*', '09 c8'], ['*', '0a 0c 24'], ['*', '0b 45 f8'], ['*', '0c 01'], ['*', '0d ff ff ff ff'],
  ['*', '10 c0'], ['*', '11 00'], ['*', '12 c1'], ['*', '13 c1'], ['*', '14 01'], ['*', '15 01 00 00 00'],
  ['*', '18 c0'], ['*', '19 00'], ['*', '1a c1'], ['*', '1b c1'], ['*', '1c 01'], ['*', '1d 01 00 00 80'],
  ['*', '20 c0'], ['*', '21 00'], ['*', '22 c1'], ['*', '23 c1'], ['*', '24 01'], ['*', '25 01 00 00 00'],
  ['*', '28 c0'], ['*', '29 00'], ['*', '2a c1'], ['*', '2b c1'], ['*', '2c 01'], ['*', '2d 01 00 00 00'],
  ['*', '30 c0'], ['*', '31 00'], ['*', '32 c1'], ['*', '33 c1'], ['*', '34 01'], ['*', '35 01 00 00 00'],
  ['*', '38 c0'], ['*', '39 00'], ['*', '3a c1'], ['*', '3b c1'], ['*', '3c 01'], ['*', '3d 01 00 00 00'],
  ['*', '80 c3 05'], ['*', '80 4b 10 80'], ['*', '81 f9 00 10 00 00'], ['*', '83 e8 ff'], ['*', '83 3c 24 7f'],
  ['*', '66 83 c0 80'], ['*', '66 05 34 12'], ['*', 'f0 01 18'], ['*', 'f0 83 00 01'], ['*', 'f0 80 30 01'],
  ['*', 'f6 c8 01'], ['*', 'f7 08 01 00 00 00'],
  ['*', 'a8 80'], ['*', 'a9 00 00 00 80'], ['*', '84 c0'], ['*', '85 db'], ['*', 'f6 c4 01'], ['*', 'f7 c3 ff 00 00 00'],
  [64, '48 01 d8'], [64, '4d 01 c8'], [64, '48 83 c4 08'], [64, '48 81 ec 00 01 00 00'], [64, '48 25 00 f0 ff ff'],
  [64, '48 f7 c0 ff ff ff ff'], [64, '40 80 c6 01'], [64, '40 00 e6'], [64, '44 00 e0'], [64, '00 e6'],
  [32, '82 c0 01'],
  // mov
  ['*', '88 c4'], ['*', '89 d8'], ['*', '8a 24 1e'], ['*', '8b 04 8d 00 10 00 00'], ['*', '8b 44 24 04'], ['*', '8b 45 08'],
  ['*', '8b 05 00 20 00 00'], ['*', '8b 04 25 00 20 00 00'], ['*', '66 8b 00'], ['*', '67 8b 00'], ['*', '67 8b 46 02'],
  ['*', '67 8b 07'], ['*', '67 8b 42 10'], ['*', '64 8b 00'], ['*', '65 89 00'], ['*', '26 8b 00'], ['*', '3e 8b 45 00'],
  ['*', 'c6 00 12'], ['*', 'c6 c0 12'], ['*', 'c7 00 78 56 34 12'], ['*', '66 c7 00 34 12'], ['*', 'b0 12'], ['*', 'b4 12'],
  ['*', 'b8 78 56 34 12'], ['*', 'bf 78 56 34 12'], ['*', '66 b8 34 12'], [32, 'a0 00 10 00 00'], [32, 'a1 00 10 00 00'],
  [32, 'a2 00 10 00 00'], [32, 'a3 00 10 00 00'], [32, '66 a1 00 10 00 00'], [32, '67 a1 00 10'], [64, 'a3 00 10 00 00 00 00 00 00'],
  [64, '66 a1 00 10 00 00 00 00 00 00'], [64, '65 a0 00 10 00 00 00 00 00 00'],
  ['*', '8c d8'], ['*', '8c 00'], ['*', '8e d8'], ['*', '8e 00'], ['*', '8e d0'], ['*', '8e e0'], ['*', '8c e8'], ['*', '66 8c c0'],
  [64, '48 c7 c0 ff ff ff ff'], [64, '48 c7 00 00 00 00 80'], [64, '48 b8 88 77 66 55 44 33 22 11'], [64, '49 bf 00 00 00 00 00 00 00 80'],
  [64, '41 b0 01'], [64, '40 b4 01'], [64, '48 a1 88 77 66 55 44 33 22 11'], [64, '67 a1 00 10 00 00'], [64, 'a2 88 77 66 55 44 33 22 11'],
  [64, '4c 8b 2d 00 10 00 00'], [64, '67 8b 05 00 10 00 00'], [64, '4a 8b 04 e5 00 00 00 00'], [64, '4b 8b 44 25 00'], [64, '41 8b 04 24'],
  [64, '4d 8b 45 00'], [64, '48 8c d8'], [64, '48 8e d8'], [64, '64 48 8b 04 25 28 00 00 00'], [64, '2e 8b 00'],
  // movzx, movsx, movsxd, lea
  ['*', '0f b6 c0'], ['*', '0f b6 04 24'], ['*', '0f b7 c1'], ['*', '0f be c4'], ['*', '0f bf 00'], ['*', '66 0f b6 c0'],
  [64, '48 0f b6 c0'], [64, '48 0f bf c0'], [64, '48 63 c1'], [64, '63 c1'], [64, '48 63 04 24'],
  ['*', '8d 04 8b'], ['*', '8d 44 24 08'], ['*', '8d 80 00 10 00 00'], [64, '48 8d 05 00 00 00 00'], [64, '4c 8d 1c 00'],
  // inc/dec/neg/not
  ['*', 'fe c0'], ['*', 'fe 08'], ['*', 'ff c1'], ['*', 'ff 08'], ['*', 'f6 d8'], ['*', 'f7 d0'], ['*', 'f7 18'], ['*', 'f0 ff 00'],
  [32, '40'], [32, '47'], [32, '48'], [32, '4f'], [32, '66 40'], [64, '48 ff c0'], [64, '49 ff c9'],
  // shifts
  ['*', 'c0 e0 04'], ['*', 'c1 e8 1f'], ['*', 'c1 f8 02'], ['*', 'c1 c0 03'], ['*', 'c1 c8 03'], ['*', 'c1 d0 01'], ['*', 'c1 d8 01'],
  ['*', 'd0 e0'], ['*', 'd1 e0'], ['*', 'd1 f0'], ['*', 'd2 e0'], ['*', 'd3 e8'], ['*', 'd3 38'], ['*', 'c1 30 02'], [64, '48 d3 e0'],
  // mul, imul, div, idiv
  ['*', 'f6 e1'], ['*', 'f7 e1'], ['*', 'f6 e9'], ['*', 'f7 e9'], ['*', 'f6 f1'], ['*', 'f7 f1'], ['*', 'f6 f9'], ['*', 'f7 39'],
  ['*', '0f af c1'], ['*', '69 c1 10 27 00 00'], ['*', '6b c1 fe'], ['*', '66 69 c1 10 27'], [64, '48 69 c0 00 00 00 80'], [64, '48 6b c0 ff'],
  // xchg, nop, pause
  ['*', '86 c4'], ['*', '87 d8'], ['*', '87 00'], ['*', 'f0 87 00'], ['*', '91'], ['*', '97'], ['*', '66 93'], ['*', '90'], ['*', 'f3 90'],
  ['*', '66 90'], ['*', '0f 1f 00'], ['*', '0f 1f 44 00 00'], ['*', '66 0f 1f 84 00 00 00 00 00'], [64, '41 90'], [64, '48 90'], [64, '49 90'],
  // push, pop
  ['*', '50'], ['*', '57'], ['*', '58'], ['*', '5f'], ['*', '66 50'], ['*', 'ff 30'], ['*', 'ff f0'], ['*', '8f 00'], ['*', '8f c0'],
  ['*', '68 78 56 34 12'], ['*', '6a ff'], ['*', '66 6a ff'], ['*', '66 68 34 12'],
  ['*', '0f a0'], ['*', '0f a1'], ['*', '0f a8'], ['*', '0f a9'], ['*', '66 0f a0'],
  [32, '06'], [32, '07'], [32, '0e'], [32, '16'], [32, '17'], [32, '1e'], [32, '1f'], [32, '60'], [32, '61'], [32, '66 60'], [32, '66 61'],
  [64, '41 50'], [64, '41 5f'], [64, '48 50'], [64, '41 ff 34 24'], [64, '41 8f 00'],
  // call, ret, jmp, jcc, loop
  ['*', 'e8 00 00 00 00'], ['*', 'e8 fb ff ff ff'], ['*', 'ff d0'], ['*', 'ff 10'], ['*', 'ff 15 00 10 00 00'], ['*', 'c3'], ['*', 'c2 08 00'],
  ['*', 'eb fe'], ['*', 'eb 7f'], ['*', 'e9 00 01 00 00'], ['*', 'ff e0'], ['*', 'ff 20'], ['*', 'ff 18'], ['*', 'ff 28'], ['*', '66 ff 18'],
  ['*', 'cb'], ['*', 'ca 04 00'], ['*', '66 cb'],
  ['*', '70 10'], ['*', '71 10'], ['*', '72 10'], ['*', '73 10'], ['*', '74 10'], ['*', '75 10'], ['*', '76 10'], ['*', '77 10'],
  ['*', '78 10'], ['*', '79 10'], ['*', '7a 10'], ['*', '7b 10'], ['*', '7c 10'], ['*', '7d 10'], ['*', '7e 10'], ['*', '7f f0'],
  ['*', '0f 80 00 01 00 00'], ['*', '0f 84 fa ff ff ff'], ['*', '0f 85 00 00 00 00'], ['*', '0f 8f 00 00 00 80'],
  ['*', 'e0 fe'], ['*', 'e1 fe'], ['*', 'e2 fe'], ['*', 'e3 fe'], ['*', '67 e3 fe'], ['*', '67 e2 fe'],
  [32, '9a 00 10 00 00 08 00'], [32, 'ea 00 10 00 00 08 00'], [32, '66 ea 00 10 08 00'], [32, '66 e9 00 01'], [32, '66 0f 84 00 01'],
  [64, '48 ff 18'], [64, '48 ff 28'], [64, '48 cb'], [64, '41 ff d3'], [64, '66 e8 00 00 00 00'],
  // string instructions
  ['*', 'a4'], ['*', 'a5'], ['*', '66 a5'], ['*', 'f3 a4'], ['*', 'f3 a5'], ['*', 'a6'], ['*', 'f3 a6'], ['*', 'f2 a7'],
  ['*', 'aa'], ['*', 'ab'], ['*', 'f3 ab'], ['*', 'f3 66 ab'], ['*', 'ac'], ['*', 'ad'], ['*', 'ae'], ['*', 'f2 ae'], ['*', 'af'],
  ['*', '6c'], ['*', '6d'], ['*', '6e'], ['*', '6f'], ['*', 'f3 6c'], ['*', 'f3 6f'], ['*', '66 6d'], ['*', '67 f3 a4'], ['*', '2e a4'],
  [64, '48 a5'], [64, 'f3 48 ab'], [64, '48 ad'], [64, '48 af'], [64, '48 a7'],
  // interrupts and system
  ['*', 'cd 80'], ['*', 'cc'], ['*', 'f1'], ['*', '0f 0b'], ['*', 'cf'], ['*', '66 cf'], [64, '48 cf'], [32, 'ce'],
  ['*', '0f 05'], ['*', '0f 07'], ['*', '0f 34'], ['*', '0f 35'], [64, '48 0f 07'], [64, '48 0f 35'], [64, '0f 01 f8'],
  ['*', 'fa'], ['*', 'fb'], ['*', 'f8'], ['*', 'f9'], ['*', 'f5'], ['*', 'fc'], ['*', 'fd'], ['*', '9c'], ['*', '9d'], ['*', '66 9c'], ['*', '66 9d'],
  ['*', '9e'], ['*', '9f'], ['*', 'f4'],
  ['*', 'e4 60'], ['*', 'e5 60'], ['*', '66 e5 60'], ['*', 'e6 80'], ['*', 'e7 80'], ['*', 'ec'], ['*', 'ed'], ['*', '66 ed'], ['*', 'ee'], ['*', 'ef'], ['*', '66 ef'],
  ['*', '0f a2'], ['*', '0f 31'], ['*', '0f 01 f9'], ['*', '0f 32'], ['*', '0f 30'],
  ['*', '0f 20 c0'], ['*', '0f 20 d0'], ['*', '0f 20 d8'], ['*', '0f 20 e0'], ['*', '0f 22 c0'], ['*', '0f 22 d8'], ['*', '0f 22 e3'],
  [64, '44 0f 20 c0'], [64, '44 0f 22 c0'], [64, '41 0f 22 d8'],
  ['*', '0f 01 30'], ['*', '0f 01 f0'], ['*', '0f 01 20'], ['*', '0f 01 e0'], ['*', '0f 06'], ['*', '0f 01 38'], ['*', '0f 01 3c 24'],
  ['*', '0f 01 10'], ['*', '0f 01 18'], ['*', '0f 01 00'], ['*', '0f 01 08'], ['*', '0f 00 00'], ['*', '0f 00 c0'], ['*', '0f 00 08'], ['*', '0f 00 c8'],
  ['*', '0f 00 10'], ['*', '0f 00 d0'], ['*', '0f 00 18'], ['*', '0f 00 d8'], ['*', '0f 00 20'], ['*', '0f 00 e0'], ['*', '0f 00 28'], ['*', '0f 00 e8'],
  ['*', '0f 02 c1'], ['*', '0f 02 00'], ['*', '0f 03 c1'], ['*', '0f 03 00'], [64, '48 0f 03 c1'],
  // conversions
  ['*', '98'], ['*', '66 98'], ['*', '99'], ['*', '66 99'], [64, '48 98'], [64, '48 99'],
  // setcc, cmovcc, bit ops
  ...Array.from({ length: 16 }, (_, c): [DecodeMode | '*', string] => ['*', `0f ${(0x90 + c).toString(16)} 00`]),
  ...Array.from({ length: 16 }, (_, c): [DecodeMode | '*', string] => ['*', `0f ${(0x40 + c).toString(16)} c1`]),
  ['*', '66 a7'], ['*', '66 ad'], ['*', '66 af'],
  ['*', '0f 90 c0'], ['*', '0f 94 c0'], ['*', '0f 95 00'], ['*', '0f 9f c4'], ['*', '0f 44 c1'], ['*', '0f 4f 00'], ['*', '0f 42 c1'],
  ['*', '0f a3 c8'], ['*', '0f ab 08'], ['*', '0f b3 c8'], ['*', '0f bb c8'], ['*', '0f ba e0 05'], ['*', '0f ba 28 05'], ['*', '0f ba f0 05'],
  ['*', '0f ba f8 1f'], ['*', 'f0 0f ab 08'], ['*', '0f bc c1'], ['*', '0f bd c1'], ['*', '0f c8'], ['*', '0f cf'], [64, '49 0f c8'],
  ['*', '0f c0 c8'], ['*', '0f c1 08'], ['*', 'f0 0f c1 08'], ['*', '0f b0 c8'], ['*', '0f b1 08'], ['*', 'f0 0f b1 08'],
  ['*', 'c9'], ['*', 'c8 10 00 00'], ['*', 'c8 10 00 01'],
  // VMX
  ['*', '0f 01 c1'], ['*', '0f 01 c2'], ['*', '0f 01 c3'], ['*', '0f 01 c4'], ['*', '0f 01 d4'],
  ['*', 'f3 0f c7 30'], ['*', '66 0f c7 30'], ['*', '0f c7 30'], ['*', '0f c7 38'], ['*', '0f 78 c8'], ['*', '0f 78 08'],
  ['*', '0f 79 c1'], ['*', '0f 79 01'], ['*', '66 0f 38 80 08'], ['*', '66 0f 38 81 08'],
  // SVM
  ['*', '0f 01 d8'], ['*', '0f 01 d9'], ['*', '0f 01 da'], ['*', '0f 01 db'], ['*', '0f 01 dc'], ['*', '0f 01 dd'], ['*', '0f 01 de'], ['*', '0f 01 df'],
];

describe('decoder vs iced-x86: every supported form', () => {
  for (const mode of [32, 64] as const) {
    it(`agrees on length, mnemonic and operands in ${mode}-bit mode`, () => {
      const failures: string[] = [];
      let n = 0;
      for (const [m, h] of FORMS) {
        if (m !== '*' && m !== mode) continue;
        n++;
        const diff = compareFull(fromHex(h), mode);
        if (diff !== null) failures.push(`${h}: ${diff}`);
      }
      console.log(`iced table ${mode}-bit: ${n} forms, ${failures.length} disagreements`);
      expect(failures).toEqual([]);
    });
  }
  it('the table reaches every supported mnemonic', () => {
    const seen = new Set<string>();
    for (const [m, h] of FORMS) {
      for (const mode of m === '*' ? ([32, 64] as const) : [m]) {
        const r = decode(fetcher(fromHex(h)), mode);
        if (r.kind === 'ok') seen.add(r.insn.mnemonic);
      }
    }
    const missing = [...SUPPORTED_MNEMONICS].filter((x) => !seen.has(x)).sort();
    // 16-bit-only spellings have no 32/64-bit form without a 66 prefix that the table includes.
    expect(missing.filter((x) => !['iret', 'insw', 'outsw', 'jcxz', 'popf', 'pushf'].includes(x))).toEqual([]);
  });
});


const PREFIXES = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36];

function randomInsnBytes(rnd: () => number, mode: DecodeMode): Uint8Array {
  const out: number[] = [];
  const np = rnd() < 0.5 ? 0 : Math.floor(rnd() * 4);
  for (let k = 0; k < np; k++) out.push(PREFIXES[Math.floor(rnd() * PREFIXES.length)]!);
  if (mode === 64 && rnd() < 0.4) out.push(0x40 | Math.floor(rnd() * 16));
  const r = rnd();
  if (r < 0.3) out.push(0x0f);
  else if (r < 0.35) out.push(0x0f, 0x01);
  else if (r < 0.37) out.push(0x0f, 0x38, 0x80 + Math.floor(rnd() * 2));
  else if (r < 0.4) out.push(0x0f, 0xc7);
  while (out.length < 16) out.push(Math.floor(rnd() * 256));
  return Uint8Array.from(out);
}

/** Encodings iced decodes with a supported mnemonic that we deliberately leave undecoded (#UD). */
function deliberatelyRejected(ice: IcedResult): boolean {
  if (ice.encoding !== EncodingKind.Legacy) return true; // VEX, EVEX, XOP, 3DNow!
  const name = Code[ice.code] ?? '';
  if (/xmm|mm_|_mm/.test(name)) return true; // SSE movsd/cmpsd share the string instructions' mnemonics
  return /^Mov_(r32|r64)_(dr|tr)$|^Mov_(dr|tr)_(r32|r64)$/.test(name); // debug and test registers
}

describe('decoder vs iced-x86: random byte strings', () => {
  for (const mode of [16, 32, 64] as const) {
    it(`agrees with iced on length and mnemonic in ${mode}-bit mode (seeded)`, () => {
      const rnd = rng(0x5eed0000 + mode);
      const N = 30000;
      let okBoth = 0;
      let udBoth = 0;
      let icedOnlyOther = 0;
      const failures: string[] = [];
      for (let t = 0; t < N; t++) {
        const bytes = randomInsnBytes(rnd, mode);
        const ours = decode(fetcher(bytes), mode);
        const ice = icedDecode(bytes, mode, mode === 64 ? IP64 : IP32);
        if (ours.kind === 'ok') {
          const diff = compareFull(bytes, mode);
          if (diff !== null) failures.push(`${hex(bytes)}: ${diff}`);
          else okBoth++;
        } else if (!ice.invalid && SUPPORTED_MNEMONICS.has(ice.mnemonic) && !deliberatelyRejected(ice)) {
          failures.push(`${hex(bytes)}: ours ${ours.kind}, iced ${ice.mnemonic} len ${ice.length}`);
        } else if (ice.invalid) udBoth++;
        else icedOnlyOther++;
      }
      console.log(
        `iced random ${mode}-bit: ${N} strings, ${okBoth} decoded alike, ${udBoth} invalid in both, ` +
          `${icedOnlyOther} decoded only by iced (outside the supported set), ${failures.length} disagreements`,
      );
      expect(failures.slice(0, 30)).toEqual([]);
    });
  }
});

const haveNasm = existsSync('/usr/bin/nasm');
/**
 * Valid instructions nasm 2.16 will not assemble (skinit outside 64-bit mode, movsxd without REX.W),
 * or assembles to another encoding with other text (a Sreg moved to or from a 64-bit register
 * loses its REX.W).
 */
const NASM_REJECTS = ['skinit', 'movsxd eax', 'movsxd ax', 'mov rax, ds', 'mov ds, rax'];

/** Same instruction, other spelling: sal is shl; xchg's operands commute. */
function normalizeText(t: string): string {
  const x = /^xchg (.*), (.*)$/.exec(t);
  if (x) return `xchg ${[x[1], x[2]].sort().join(', ')}`;
  return t.replace(/^sal /, 'shl ');
}
if (!haveNasm) console.warn('iced.test: disassembler/nasm round-trip skipped: /usr/bin/nasm is missing (apt-get install nasm)');

describe.skipIf(!haveNasm)('disassembler over every table form', () => {
  it('nasm reassembles the text of every form into bytes that decode to the same text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iced-disasm-'));
    const failures: string[] = [];
    let n = 0;
    try {
      // One nasm run per mode: each form on its own line at a known address.
      for (const mode of [32, 64] as const) {
        const texts: string[] = [];
        const lines: string[] = [`bits ${mode}`, 'org 0x1000'];
        for (const [m, h] of FORMS) {
          if (m !== '*' && m !== mode) continue;
          const r = decode(fetcher(fromHex(h)), mode);
          if (r.kind !== 'ok') continue;
          const t = formatInsn(r.insn, 0x1000 + 0x20 * texts.length);
          if (t.includes('[rel ')) continue; // nasm makes `[rel N]` with a bare number absolute
          if (NASM_REJECTS.some((x) => t.startsWith(x))) continue;
          texts.push(t);
          lines.push(`times ${0x20 * (texts.length - 1)} - ($ - $$) db 0`, t);
        }
        const src = join(dir, `f${mode}.asm`);
        const out = join(dir, `f${mode}.bin`);
        writeFileSync(src, `${lines.join('\n')}\n`);
        try {
          execFileSync('nasm', ['-f', 'bin', '-o', out, src], { stdio: 'pipe' });
        } catch (e) {
          const err = String((e as { stderr?: Buffer }).stderr ?? e);
          for (const m of err.matchAll(/\.asm:(\d+): error: (.*)/g)) failures.push(`${mode}-bit "${lines[Number(m[1]) - 1] ?? '?'}": ${m[2]}`);
          continue;
        }
        const bin = readFileSync(out);
        texts.forEach((t, k) => {
          n++;
          const base = 0x20 * k;
          const r = decode((i) => (base + i < bin.length ? bin[base + i]! : -1), mode);
          const t2 = r.kind === 'ok' ? formatInsn(r.insn, 0x1000 + base) : r.kind;
          if (normalizeText(t2) !== normalizeText(t)) failures.push(`${mode}-bit "${t}" reassembled to "${t2}"`);
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`disassembler/nasm round-trip: ${n} forms, ${failures.length} failures`);
    expect(failures).toEqual([]);
  });
});
