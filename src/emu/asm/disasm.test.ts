import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disassemble, formatInsn } from './disasm.ts';
import { decode, type DecodeMode } from '../cpu/decode.ts';

function bytesOf(h: string): Uint8Array {
  return Uint8Array.from(
    h
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '')
      .map((x) => parseInt(x, 16)),
  );
}

function text(h: string, mode: DecodeMode, ip = 0x1000): string {
  const b = bytesOf(h);
  const r = decode((i) => (i < b.length ? b[i]! : -1), mode);
  if (r.kind !== 'ok') throw new Error(`${h}: ${r.kind}`);
  return formatInsn(r.insn, ip);
}

const EXPECTED: [DecodeMode, string, string][] = [
  [64, '48 89 d8', 'mov rax, rbx'],
  [64, '8b 44 8b 10', 'mov eax, [rbx+rcx*4+0x10]'],
  [64, '8b 45 f8', 'mov eax, [rbp-0x8]'],
  [64, 'c7 00 01 00 00 00', 'mov dword [rax], 0x1'],
  [64, '48 c7 00 ff ff ff ff', 'mov qword [rax], 0xffffffffffffffff'],
  [64, '0f b6 03', 'movzx eax, byte [rbx]'],
  [64, '48 63 c1', 'movsxd rax, ecx'],
  [64, '88 e0', 'mov al, ah'],
  [64, '40 88 e0', 'mov al, spl'],
  [64, '45 01 c8', 'add r8d, r9d'],
  [64, '66 45 01 c8', 'add r8w, r9w'],
  [64, '45 00 c8', 'add r8b, r9b'],
  [64, '48 8b 05 00 00 00 00', 'mov rax, [rel 0x1007]'],
  [64, '64 48 8b 04 25 28 00 00 00', 'mov rax, [fs:0x28]'],
  [64, 'eb fe', 'jmp 0x1000'],
  [64, '0f 85 00 01 00 00', 'jne 0x1106'],
  [64, 'e8 fb ff ff ff', 'call 0x1000'],
  [64, 'f3 48 ab', 'rep stosq'],
  [64, 'f3 a6', 'repe cmpsb'],
  [64, 'f2 ae', 'repne scasb'],
  [64, 'f0 0f c1 08', 'lock xadd [rax], ecx'],
  [64, 'd3 e0', 'shl eax, cl'],
  [64, 'd1 20', 'shl dword [rax], 0x1'],
  [64, '44 0f 22 c0', 'mov cr8, rax'],
  [64, '0f 01 10', 'lgdt [rax]'],
  [64, '48 ff 18', 'call far qword [rax]'],
  [64, 'ed', 'in eax, dx'],
  [64, 'e6 80', 'out 0x80, al'],
  [64, '0f 01 c1', 'vmcall'],
  [64, 'f3 0f c7 30', 'vmxon [rax]'],
  [64, '48 0f 07', 'o64 sysret'],
  [64, '66 cb', 'retfw'],
  [32, '66 cf', 'iretw'],
  [64, '48 cf', 'iretq'],
  [64, '48 a1 88 77 66 55 44 33 22 11', 'mov rax, [qword 0x1122334455667788]'],
  [64, 'a1 00 10 00 00 00 00 00 00', 'mov eax, [0x1000]'],
  [32, 'ea 00 10 00 00 08 00', 'jmp 0x8:0x1000'],
  [32, '8c d8', 'mov eax, ds'],
  [32, '8e 00', 'mov es, word [eax]'],
  [32, '67 8b 42 10', 'mov eax, [bp+si+0x10]'],
  [32, '66 e9 fc ff', 'jmp 0x1000'],
  [32, '6a ff', 'push 0xffffffff'],
  [32, 'cd 80', 'int 0x80'],
];

describe('formatInsn', () => {
  for (const [mode, h, want] of EXPECTED) {
    it(`${mode}-bit ${h} → ${want}`, () => {
      expect(text(h, mode)).toBe(want);
    });
  }

  it('accepts a 64-bit address as two halves', () => {
    const b = bytesOf('eb 00');
    const r = decode((i) => b[i] ?? -1, 64);
    if (r.kind !== 'ok') throw new Error('decode');
    expect(formatInsn(r.insn, { lo: 0xfffffffe, hi: 0xffff8000 })).toBe('jmp 0xffff800100000000');
  });
});

describe('disassemble', () => {
  it('walks a byte string and marks undecodable bytes as one-byte (bad)', () => {
    const lines = disassemble(bytesOf('90 06 48 89 d8 0f 0b c3 0f'), 64, 0x400000);
    expect(lines.map((l) => [l.offset, l.length, l.text, l.bytes])).toEqual([
      [0, 1, 'nop', '90'],
      [1, 1, '(bad)', '06'],
      [2, 3, 'mov rax, rbx', '48 89 d8'],
      [5, 2, 'ud2', '0f 0b'],
      [7, 1, 'ret', 'c3'],
      [8, 1, '(bad)', '0f'],
    ]);
  });

  it('computes branch targets from the origin', () => {
    expect(disassemble(bytesOf('eb fe 74 fc'), 32, 0x7c00).map((l) => l.text)).toEqual(['jmp 0x7c00', 'je 0x7c00']);
  });
});

const haveNasm = existsSync('/usr/bin/nasm');
if (!haveNasm) console.warn('disasm nasm round-trip skipped: /usr/bin/nasm is missing (apt-get install nasm)');

// Forms whose text nasm reassembles; the decoded result of nasm's bytes must print the same text.
const ROUND_TRIP: [DecodeMode, string][] = [
  // nasm makes `[rel N]` with a bare number absolute, so the RIP-relative form is left out.
  ...EXPECTED.filter(([, h]) => h !== '48 8b 05 00 00 00 00').map(([m, h]): [DecodeMode, string] => [m, h]),
  [64, '4b 8b 44 e5 08'], [64, '41 8b 04 24'], [64, '0f af c1'], [64, '69 c1 10 27 00 00'], [64, 'c1 f8 02'],
  [64, '0f ba e0 05'], [64, '0f 94 c0'], [64, '0f 44 c1'], [64, 'f7 f1'], [64, '0f 00 d8'], [64, '0f 02 c1'],
  [64, 'c8 10 00 01'], [64, 'c2 08 00'], [64, 'ca 08 00'], [64, '48 98'], [64, '0f c8'], [64, '0f 78 c8'],
  [64, '66 0f 38 80 08'], [64, '0f 01 d8'], [64, '0f 20 d8'], [64, '8f 00'], [64, 'ff 30'], [64, '6a 01'], [32, '60'], [32, '0f a1'],
  [32, '66 9c'], [64, '48 cb'], [32, 'e3 fe'], [32, '67 e3 fe'], [32, 'a1 00 10 00 00'], [32, 'ff 18'], [32, 'ce'],
];

describe.skipIf(!haveNasm)('disassembler text reassembles with nasm', () => {
  it('nasm(formatInsn(bytes)) decodes to the same text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'disasm-'));
    const failures: string[] = [];
    try {
      for (const [mode, h] of ROUND_TRIP) {
        const t = text(h, mode);
        const src = join(dir, 'a.asm');
        const out = join(dir, 'a.bin');
        writeFileSync(src, `bits ${mode}\norg 0x1000\n${t}\n`);
        try {
          execFileSync('nasm', ['-f', 'bin', '-o', out, src], { stdio: 'pipe' });
        } catch (e) {
          failures.push(`${h}: nasm rejected "${t}": ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
          continue;
        }
        const bin = readFileSync(out);
        const r = decode((i) => (i < bin.length ? bin[i]! : -1), mode);
        const t2 = r.kind === 'ok' ? formatInsn(r.insn, 0x1000) : r.kind;
        if (t2 !== t) failures.push(`${h}: "${t}" reassembled to "${t2}"`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`disasm nasm round-trip: ${ROUND_TRIP.length} forms, ${failures.length} failures`);
    expect(failures).toEqual([]);
  });
});
