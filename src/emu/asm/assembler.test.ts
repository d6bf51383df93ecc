import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble } from './assembler.ts';
import type { AsmError } from './assembler.ts';

const hex = (src: string, opts?: { bits?: 32 | 64; origin?: number }): string => {
  const r = assemble(src, opts);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return Array.from(r.bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
};
const errs = (src: string, opts?: { bits?: 32 | 64; origin?: number }): AsmError[] => {
  const r = assemble(src, opts);
  if (r.ok) throw new Error(`expected errors, got bytes ${Array.from(r.bytes)}`);
  return r.errors;
};

describe('syntax', () => {
  it('defaults to 32-bit mode at origin 0, and options choose mode and origin', () => {
    expect(hex('inc eax')).toBe('40');
    expect(hex('inc eax', { bits: 64 })).toBe('ff c0');
    const r = assemble('x: jmp x', { origin: 0x1000 });
    expect(r.ok && r.origin).toBe(0x1000);
    expect(r.ok && r.labels.get('x')).toBe(0x1000);
  });
  it('bits and org directives in the source override the options, also in brackets', () => {
    const r = assemble('[bits 64]\n[org 0x500]\nl: push r8', { bits: 32, origin: 0 });
    expect(r.ok && Array.from(r.bytes)).toEqual([0x41, 0x50]);
    expect(r.ok && r.labels.get('l')).toBe(0x500);
    expect(hex('use64\npush rax\nbits 32\npush eax')).toBe('50 50');
  });
  it('reads numbers in decimal, 0x hex, trailing h, 0b binary, trailing b and character constants', () => {
    expect(hex('db 10, 0x10, 10h, 0ffh, 0b101, 101b, 0o17, 1_000 & 0xff, \'a\'')).toBe('0a 10 10 ff 05 05 0f e8 61');
    expect(hex("dd 'ab'")).toBe('61 62 00 00');
  });
  it('evaluates + - * / % << >> & | ^ ~ and parentheses with nasm precedence', () => {
    expect(hex('dd 2 + 3 * 4, (2 + 3) * 4, 1 << 4 | 1, ~0 & 0xf0, 100 / 7, 100 % 7, 6 ^ 3, -2 * -3, 0x10 >> 2')).toBe(
      '0e 00 00 00 14 00 00 00 11 00 00 00 f0 00 00 00 0e 00 00 00 02 00 00 00 05 00 00 00 06 00 00 00 04 00 00 00',
    );
  });
  it('strings in db are bytes; in dw/dd they are padded to the unit; backquotes take escapes', () => {
    expect(hex("db 'hi', 0")).toBe('68 69 00');
    expect(hex('dw "abc"')).toBe('61 62 63 00');
    expect(hex('db `a\\n\\x41`')).toBe('61 0a 41');
  });
  it('ignores comments, blank lines and case in mnemonics and registers', () => {
    expect(hex('; header\n\n  MOV EAX, EBX ; copy\n\tNop')).toBe('89 d8 90');
  });
  it('times repeats a line, with $ advancing per repetition', () => {
    expect(hex('times 3 db 7')).toBe('07 07 07');
    expect(hex('times 2 jmp $')).toBe('eb fe eb fe');
    expect(hex('db 1\ntimes 4 - ($ - $$) db 0')).toBe('01 00 00 00');
  });
  it('$ is the address of the line and $$ the origin', () => {
    expect(hex('org 0x100\nnop\ndw $, $$, $ - $$')).toBe('90 01 01 00 01 01 00');
  });
});

describe('labels', () => {
  it('resolves forward and backward references and label arithmetic', () => {
    expect(hex('start: jmp end\nnop\nend: dd end - start, start')).toBe('eb 01 90 03 00 00 00 00 00 00 00');
  });
  it('scopes local labels to the previous non-local label', () => {
    const r = assemble('a:\n.loop: jmp .loop\nb:\n.loop: jmp .loop\njmp a.loop');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.labels.get('a.loop')).toBe(0);
    expect(r.labels.get('b.loop')).toBe(2);
    expect(Array.from(r.bytes)).toEqual([0xeb, 0xfe, 0xeb, 0xfe, 0xeb, 0xfa]);
  });
  it('equ defines constants usable before their definition', () => {
    expect(hex('mov eax, N * 2\nN equ 0x21')).toBe('b8 42 00 00 00');
    expect(hex('add eax, K\nK equ 4')).toBe('83 c0 04');
  });
  it('uses a short jump when a forward target turns out to be near, a near one otherwise', () => {
    expect(hex('jmp x\ntimes 127 nop\nx:').slice(0, 5)).toBe('eb 7f');
    expect(hex('jmp x\ntimes 128 nop\nx:').slice(0, 14)).toBe('e9 80 00 00 00');
    expect(hex('jz x\ntimes 128 nop\nx:').slice(0, 17)).toBe('0f 84 80 00 00 00');
  });
  it('accepts a label without a colon before an instruction or alone on a line', () => {
    const r = assemble('here nop\nthere\njmp there');
    expect(r.ok && r.labels.get('there')).toBe(1);
  });
  it('reports label values and a listing entry per emitting line', () => {
    const r = assemble('bits 64\nstart: mov rax, 1\n\nmsg: db "ok"\nhlt', { origin: 0x1000 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.labels.get('msg')).toBe(0x1005);
    expect(r.listing).toEqual([
      { offset: 0, line: 2, length: 5 },
      { offset: 5, line: 4, length: 2 },
      { offset: 7, line: 5, length: 1 },
    ]);
  });
});

describe('encodings', () => {
  it('picks the sign-extended imm8 form when the immediate fits, the accumulator form otherwise', () => {
    expect(hex('add eax, 5\nadd eax, 0x1000\nadd ebx, 0x1000\nadd al, 1')).toBe('83 c0 05 05 00 10 00 00 81 c3 00 10 00 00 04 01');
  });
  it('encodes mov r64, imm as the shortest of B8 imm32, C7 imm32 and B8 imm64', () => {
    expect(hex('mov rax, 5\nmov rax, -1\nmov rax, 0x123456789', { bits: 64 })).toBe('b8 05 00 00 00 48 c7 c0 ff ff ff ff 48 b8 89 67 45 23 01 00 00 00');
  });
  it('encodes REX for r8–r15 and the uniform byte registers', () => {
    expect(hex('mov r8b, sil\nmov [r12+r13*4], r9d', { bits: 64 })).toBe('41 88 f0 47 89 0c ac');
  });
  it('encodes RIP-relative operands relative to the next instruction', () => {
    expect(hex('x: mov eax, [rel x]\nmov dword [rel x], 1', { bits: 64 })).toBe('8b 05 fa ff ff ff c7 05 f0 ff ff ff 01 00 00 00');
  });
  it('encodes segment overrides and far pointers', () => {
    expect(hex('mov eax, [fs:ebx]\njmp 0x08:0x1000')).toBe('64 8b 03 ea 00 10 00 00 08 00');
  });
  it('encodes the VMX and SVM instructions', () => {
    expect(hex('vmlaunch\nvmresume\nvmread rax, rbx\nvmrun\nvmmcall', { bits: 64 })).toBe('0f 01 c2 0f 01 c3 0f 78 d8 0f 01 d8 0f 01 d9');
  });
});

describe('directives', () => {
  it('default rel makes label addresses RIP-relative, except with fs/gs or abs', () => {
    expect(hex('default rel\nx: mov eax, [x]\nmov eax, [abs x]\nmov eax, [fs:x]', { bits: 64 })).toBe(
      '8b 05 fa ff ff ff 8b 04 25 00 00 00 00 64 8b 04 25 00 00 00 00',
    );
  });
  it('align pads with nop up to the next multiple', () => {
    expect(hex('db 1\nalign 4\ndb 2')).toBe('01 90 90 90 02');
  });
  it('ignores section and global directives', () => {
    expect(hex('section .text\nglobal start\nstart: ret')).toBe('c3');
  });
  it('accepts prefixes, including o64 for sysret', () => {
    expect(hex('rep movsb\nrepne scasb\nlock add [eax], ebx')).toBe('f3 a4 f2 ae f0 01 18');
    expect(hex('o64 sysret\nsysret', { bits: 64 })).toBe('48 0f 07 0f 07');
  });
});

describe('errors', () => {
  it('rejects a bad origin option instead of throwing', () => {
    expect(errs('nop', { origin: -1 })[0]?.message).toContain('origin');
    expect(errs('nop', { origin: Number.NaN })[0]?.message).toContain('origin');
  });
  it('rejects a register used as a label and a misplaced directive', () => {
    expect(errs('eax: nop')).toEqual([{ line: 1, column: 1, message: "'eax' is a register name and cannot be a label" }]);
    expect(errs('bits 16')).toEqual([{ line: 1, column: 6, message: 'bits 16 is not supported: expected 32 or 64' }]);
  });
  it('rejects an immediate operand in mov to a segment register and cs as a destination', () => {
    expect(errs('mov ds, 5')[0]?.message).toBe('mov: ds is loaded from a general register or memory, not an immediate');
    expect(errs('mov cs, ax')[0]?.message).toBe('mov: cs cannot be loaded with mov; use a far jmp');
  });
  it('names an unknown mnemonic at its column', () => {
    expect(errs('nop\n  frob eax, 1')).toEqual([{ line: 2, column: 3, message: "unknown mnemonic 'frob'" }]);
  });
  it('says what was expected after a comma', () => {
    expect(errs('mov eax, 5x')).toEqual([
      { line: 1, column: 10, message: "expected a register, memory operand or immediate after ',' but found '5x', which is not a valid number" },
    ]);
    expect(errs('mov eax,')).toEqual([{ line: 1, column: 9, message: "expected a register, memory operand or immediate after ',' but found the end of the line" }]);
  });
  it('rejects a register size mismatch in mov with the sizes named', () => {
    expect(errs('mov al, ebx')).toEqual([{ line: 1, column: 9, message: 'mov: cannot move a 32-bit register into an 8-bit register' }]);
  });
  it('rejects immediates out of range', () => {
    expect(errs('mov al, 300')[0]).toMatchObject({ line: 1, column: 9, message: expect.stringContaining('out of range') });
    expect(errs('add rax, 0x80000000', { bits: 64 })[0]?.message).toContain('sign-extended 32-bit');
    expect(errs('int 256')[0]).toMatchObject({ column: 5 });
    expect(errs('db 256')[0]).toMatchObject({ column: 4, message: 'value 0x100 does not fit in 8 bits' });
  });
  it('reports undefined and duplicate labels where they are used or defined', () => {
    expect(errs('jmp nowhere')).toEqual([{ line: 1, column: 5, message: "undefined label 'nowhere'" }]);
    expect(errs('a: nop\n  a: nop')).toEqual([{ line: 2, column: 3, message: "duplicate label 'a' (first defined on line 1)" }]);
  });
  it('rejects registers and forms that do not exist in the current mode', () => {
    expect(errs('mov r8, 1')).toEqual([{ line: 1, column: 5, message: "'r8' is only available in 64-bit mode" }]);
    expect(errs('push es', { bits: 64 })).toEqual([{ line: 1, column: 6, message: 'push es is not valid in 64-bit mode' }]);
    expect(errs('into', { bits: 64 })[0]?.message).toBe('into is not valid in 64-bit mode');
    expect(errs('jmp 0x8:0x1000', { bits: 64 })[0]?.message).toContain('not valid in 64-bit mode');
    expect(errs('mov [r8], ah', { bits: 64 })[0]?.message).toBe("'ah' cannot be encoded in an instruction that needs a REX prefix");
  });
  it('asks for an operand size when nothing gives one', () => {
    expect(errs('inc [eax]')[0]).toMatchObject({ line: 1, column: 5, message: expect.stringContaining('operation size not specified') });
  });
  it('rejects a short jump out of range and a bad scale', () => {
    expect(errs('jmp short x\ntimes 200 nop\nx:')[0]?.message).toContain('out of range');
    expect(errs('mov eax, [ebx*3+ecx]')[0]?.message).toBe('scale 3 is not valid: expected 1, 2, 4 or 8');
    expect(errs('mov eax, [esp*4]')[0]?.message).toBe("'esp' cannot be an index register");
  });
  it('collects errors from several lines, sorted by line', () => {
    const e = errs('bogus eax\nmov eax, ebx\nmov al, bx\nmov eax ebx');
    expect(e.map((x) => x.line)).toEqual([1, 3, 4]);
    expect(e[2]).toEqual({ line: 4, column: 9, message: "expected ',' or the end of the line after an operand but found 'ebx'" });
  });
  it('reports an unterminated string at its opening quote', () => {
    expect(errs("db 'abc")).toEqual([{ line: 1, column: 4, message: "expected a closing ' for the string that starts here" }]);
  });
});

describe('robustness', () => {
  it('never throws on arbitrary input: it returns bytes or errors with line and column', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.constantFrom<32 | 64>(32, 64), (s, bits) => {
        const r = assemble(s, { bits });
        if (!r.ok) {
          expect(r.errors.length).toBeGreaterThan(0);
          for (const e of r.errors) {
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.column).toBeGreaterThanOrEqual(1);
            expect(e.message.length).toBeGreaterThan(0);
            expect(e.message).not.toMatch(/internal/);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws on assembly-shaped token soup', () => {
    const tok = fc.constantFrom('mov', 'add', 'jmp', 'push', 'eax', 'rax', 'r8', 'al', 'ah', '[', ']', ',', '+', '*', '4', '0x10', 'x', 'x:', '.l', 'byte',
      'qword', 'far', 'fs:', 'rel', '$', '$$', 'times', 'db', 'equ', "'a'", '(', ')', '-', '~', '<<', ':', 'bits', '64', 'org', '\n', ' ');
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 30 }), (toks) => {
        const r = assemble(toks.join(' '));
        if (!r.ok) for (const e of r.errors) expect(e.message).not.toMatch(/internal/);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a numeric constant wider than 64 bits, at its column', () => {
    const r = assemble('bits 64\nmov rax, 0xffffffffffffffffff\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatchObject({ line: 2, column: 10, message: "'0xffffffffffffffffff' does not fit in 64 bits" });
    expect(assemble('bits 64\nmov rax, 0xffffffffffffffff\n').ok).toBe(true);
  });

  it('refuses a times count above 2^20 quickly, naming the limit', () => {
    const r = assemble('times 0x1000000 db 0\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.message).toBe('times count 16777216 is too large: expected at most 1048576');
  });
});
