import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBareMachine, runBare } from './bare.ts';
import type { BareMode, ExecResult } from './bare.ts';

/** The exec samples with KVM's output, copied from the shared folder into the repo. */
const SAMPLES = join(import.meta.dirname, '../../../tests/oracle/kvm/samples');
const NASM = '/usr/bin/nasm';
const hasNasm = existsSync(NASM);
if (!hasNasm) console.warn('bare.test.ts: nasm not found at /usr/bin/nasm; the assembled-program tests are skipped');
const hasSamples = existsSync(SAMPLES);
if (!hasSamples) console.warn(`bare.test.ts: ${SAMPLES} missing; the KVM sample comparisons are skipped`);

const dir = mkdtempSync(join(tmpdir(), 'bare-test-'));
let n = 0;
function asm(src: string): Uint8Array {
  const f = join(dir, `p${n++}`);
  writeFileSync(`${f}.asm`, src);
  execFileSync(NASM, ['-f', 'bin', '-o', `${f}.bin`, `${f}.asm`]);
  return new Uint8Array(readFileSync(`${f}.bin`));
}
function run(mode: BareMode, body: string, maxSteps = 100_000): ExecResult {
  const code = asm(`bits ${mode === 'prot32' ? 32 : 64}\norg 0x100000\n${body}\n`);
  return runBare({ mode, load: 0x100000, code, maxSteps });
}

describe.skipIf(!hasNasm || !hasSamples)('exec samples: same output as KVM', () => {
  const names = hasSamples ? readdirSync(SAMPLES).filter((f) => f.endsWith('.asm')) : [];
  for (const name of names) {
    it(`${name} gives ${name.replace('.asm', '.expected.json')} (hv ignored)`, () => {
      const mode = name.split('.')[1] as BareMode;
      const code = asm(readFileSync(join(SAMPLES, name), 'utf8'));
      const got = runBare({ mode, load: 0x100000, code });
      const want = JSON.parse(readFileSync(join(SAMPLES, name.replace('.asm', '.expected.json')), 'utf8')) as ExecResult;
      const { hv: _hv, ...rest } = got;
      // Key order matters for the printed JSON, so compare the serialisation.
      expect(JSON.stringify(rest)).toBe(JSON.stringify(want));
    });
  }
});

describe.skipIf(!hasNasm)('bare machine: memory, MMIO and I/O records', () => {
  it('an 8-byte store to MMIO is one record with the full value (above 2^53 as a string)', () => {
    const r = run('long64', 'mov rax, 0x123456789abcdef0\nmov rbx, 0x8000000\nmov [rbx], rax\nhlt');
    expect(r.exits).toEqual([{ kind: 'mmio', dir: 'write', gpa: 0x8000000, size: 8, value: '1311768467463790320' }]);
  });
  it('an access crossing from RAM into unbacked space is split at the 4 KiB boundary', () => {
    const r = run('prot32', 'mov dword [0x3fffffe], 0xaabbccdd\nmov eax, [0x3fffffe]\nhlt');
    expect(r.exits).toEqual([
      { kind: 'mmio', dir: 'write', gpa: 0x4000000, size: 2, value: 0xaabb },
      { kind: 'mmio', dir: 'read', gpa: 0x4000000, size: 2, value: 0 },
    ]);
    expect(r.regs.rax).toBe(0xffffccdd);
  });
  it('read-modify-write on MMIO gives a read record then a write record', () => {
    const r = run('prot32', 'add dword [0x8000000], 1\nhlt');
    expect(r.exits).toEqual([
      { kind: 'mmio', dir: 'read', gpa: 0x8000000, size: 4, value: 0 },
      { kind: 'mmio', dir: 'write', gpa: 0x8000000, size: 4, value: 0 },
    ]);
  });
  it('rep stosd and rep outsb give one record per element and advance RDI/RSI/RCX', () => {
    const r = run('prot32', 'mov edi, 0x8000000\nmov ecx, 3\nmov eax, 7\ncld\nrep stosd\nmov esi, 0x2000\nmov dword [esi], 0x030201\nmov ecx, 2\nmov dx, 0x80\nrep outsb\nhlt');
    expect(r.exits).toEqual([
      { kind: 'mmio', dir: 'write', gpa: 0x8000000, size: 4, value: 7 },
      { kind: 'mmio', dir: 'write', gpa: 0x8000004, size: 4, value: 7 },
      { kind: 'mmio', dir: 'write', gpa: 0x8000008, size: 4, value: 7 },
      { kind: 'io', dir: 'out', port: 0x80, size: 1, value: 1 },
      { kind: 'io', dir: 'out', port: 0x80, size: 1, value: 2 },
    ]);
    expect(r.regs.rdi).toBe(0x800000c);
    expect(r.regs.rsi).toBe(0x2002);
    expect(r.regs.rcx).toBe(0);
  });
  it('a runaway guest ends with "limit" after exactly --max-steps instructions', () => {
    const r = run('long64', 'l: jmp l', 1234);
    expect(r.end).toBe('limit');
    expect(r.hv.steps).toBe(1234);
    expect(r.regs.rip).toBe(0x100000);
  });
  it('undecodable bytes raise #UD (here ending in a triple fault at the bad instruction)', () => {
    const r = run('long64', 'nop\ndb 0x0f, 0xff\nhlt');
    expect(r.end).toBe('shutdown');
    expect(r.regs.rip).toBe(0x100001);
  });
});

describe.skipIf(!hasNasm)('general instructions (expectations from the SDM)', () => {
  it('32-bit writes zero the upper half in 64-bit mode; 8/16-bit writes keep it', () => {
    const r = run('long64', 'mov rax, -1\nmov eax, 1\nmov rbx, -1\nmov bx, 2\nmov rcx, -1\nmov cl, 3\nmov rdx, -1\nmov dh, 4\nhlt');
    expect(r.regs.rax).toBe(1);
    expect(r.regs.rbx).toBe('18446744073709486082');
    expect(r.regs.rcx).toBe('18446744073709551363');
    expect(BigInt(r.regs.rdx as string)).toBe(0xffffffffffff04ffn);
  });
  it('call/ret, push/pop and leave keep the stack balanced', () => {
    const r = run('long64', 'push 5\ncall f\npop rbx\nhlt\nf: push rbp\nmov rbp, rsp\nsub rsp, 32\nmov rax, [rbp+16]\nleave\nret');
    expect(r.regs.rax).toBe(5);
    expect(r.regs.rbx).toBe(5);
    expect(r.regs.rsp).toBe(0x80000);
  });
  it('mul, imul (1/2/3 operands), div and idiv', () => {
    const r = run('prot32', 'mov eax, 0x80000000\nmov ecx, 4\nmul ecx\nmov esi, edx\nimul edi, ecx, -3\nmov eax, 100\nxor edx, edx\nmov ecx, 7\ndiv ecx\nmov ebx, edx\nmov eax, -100\ncdq\nidiv ecx\nhlt');
    expect(r.regs.rsi).toBe(2);
    expect(r.regs.rdi).toBe(0xfffffff4);
    expect(r.regs.rbx).toBe(2);
    expect(r.regs.rax).toBe(0xfffffff2); // -14
    expect(r.regs.rdx).toBe(0xfffffffe); // -2
  });
  it('div by zero raises #DE (with no IDT: triple fault at the div)', () => {
    const r = run('prot32', 'xor ecx, ecx\ndiv ecx\nhlt');
    expect(r.end).toBe('shutdown');
    expect(r.regs.rip).toBe(0x100002);
  });
  it('64-bit mul/div use the full 128-bit product and dividend', () => {
    const r = run('long64', 'mov rax, 0xffffffffffffffff\nmov rcx, 0xffffffffffffffff\nmul rcx\nmov rbx, rdx\nmov r8, rax\ndiv rcx\nhlt');
    expect(BigInt(r.regs.rbx as string)).toBe(0xfffffffffffffffen);
    expect(r.regs.r8).toBe(1);
    expect(BigInt(r.regs.rax as string)).toBe(0xffffffffffffffffn);
    expect(r.regs.rdx).toBe(0);
  });
  it('cmovcc, setcc, bt/bts on memory with a register bit offset, bsf/bsr, bswap, xadd, cmpxchg', () => {
    const r = run('prot32', [
      'mov dword [0x3000], 0', 'mov eax, 35', 'bts [0x3000], eax', 'mov ebx, [0x3004]', // bit 35 = dword 1 bit 3
      'bt dword [0x3000], eax', 'setc byte [0x3010]',
      'mov edx, 0x100', 'bsf esi, edx', 'bsr edi, edx',
      'mov eax, 0x11223344', 'bswap eax', 'mov ebp, eax',
      'mov eax, 1', 'mov edx, 10', 'xadd edx, eax', // edx = 11, eax = 10
      'mov dword [0x3008], 10', 'mov ecx, 99', 'cmpxchg [0x3008], ecx', // eax (10) == mem: mem = 99
      'mov eax, [0x3008]', 'cmp eax, 99', 'mov eax, 0', 'cmove eax, edx',
      'movzx ecx, byte [0x3010]', 'hlt',
    ].join('\n'));
    expect(r.regs.rbx).toBe(8);
    expect(r.regs.rcx).toBe(1);
    expect(r.regs.rsi).toBe(8);
    expect(r.regs.rdi).toBe(8);
    expect(r.regs.rbp).toBe(0x44332211);
    expect(r.regs.rdx).toBe(11);
    expect(r.regs.rax).toBe(11);
  });
  it('rep movsb copies, repne scasb finds a byte, and loop counts down', () => {
    const r = run('prot32', [
      'mov dword [0x2000], 0x44434241', 'mov esi, 0x2000', 'mov edi, 0x3000', 'mov ecx, 4', 'rep movsb',
      'mov edi, 0x3000', 'mov al, 0x43', 'mov ecx, 4', 'repne scasb', 'mov ebx, ecx', 'mov edx, [0x3000]',
      'xor eax, eax', 'mov ecx, 5', 'l: add eax, ecx', 'loop l',
      'hlt',
    ].join('\n'));
    expect(r.regs.rdx).toBe(0x44434241);
    expect(r.regs.rbx).toBe(1);
    expect(r.regs.rdi).toBe(0x3003);
    expect(r.regs.rax).toBe(15);
  });
  it('self-modifying code: a store into the next instruction is seen when it executes', () => {
    const r = run('prot32', 'mov ecx, 2\nl: mov byte [patch+1], 42\npatch: mov eax, 1\ndec ecx\njnz l\nhlt');
    expect(r.regs.rax).toBe(42);
  });
  it('shl/shr/sar/rol flags and a masked count of 0 leaving flags alone', () => {
    const r = run('prot32', 'mov eax, 0x80000001\nshl eax, 1\npushfd\npop ebx\nmov ecx, 0x20\nstc\nshl eax, cl\npushfd\npop edx\nhlt');
    expect(r.regs.rax).toBe(2);
    expect(Number(r.regs.rbx) & 0x8c5).toBe(0x801); // CF=1, OF=1 (MSB 0 xor CF 1), ZF=0, SF=0, PF=0
    expect(Number(r.regs.rdx) & 1).toBe(1); // count 32 masks to 0: CF from stc kept
  });
  it('a 32-bit shift with a masked count of 0 still zero-extends its register in 64-bit mode (as KVM does)', () => {
    const r = run('long64', 'mov rdx, 0xfedcba9876543210\nmov cl, 0\nsar edx, cl\nhlt');
    expect(r.regs.rdx).toBe(0x76543210);
  });
  it('lahf/sahf and sbb/adc carry chains', () => {
    const r = run('long64', 'mov rax, -1\nmov rbx, 0\nadd rax, 1\nadc rbx, 0\nmov rcx, 0\nsub rcx, 1\nsbb rdx, rdx\nhlt');
    expect(r.regs.rax).toBe(0);
    expect(r.regs.rbx).toBe(1);
    expect(BigInt(r.regs.rdx as string)).toBe(0xffffffffffffffffn);
  });
});

describe('bare machine start state', () => {
  it('matches issue 2 item 4 in long64', () => {
    const m = createBareMachine({ mode: 'long64', load: 0x100000, code: new Uint8Array([0xf4]) });
    const s = m.cpu.state;
    expect(m.cpu.mode()).toBe('long64');
    expect([s.cr0, s.cr3Lo, s.cr4, s.efer, s.regLo[4], s.rflags]).toEqual([0x80010001, 0x1000, 0x20, 0x500, 0x80000, 2]);
    expect(m.mem.read(0x1000, 4)).toBe(0x2003);
    expect(m.mem.read(0x3000 + 511 * 8, 4)).toBe(((511 << 21) | 0x83) >>> 0);
    expect(s.seg.map((x) => x.selector)).toEqual([16, 8, 16, 16, 16, 16]);
  });
  it('matches issue 2 item 4 in prot32', () => {
    const m = createBareMachine({ mode: 'prot32', load: 0x100000, code: new Uint8Array([0xf4]) });
    expect(m.cpu.mode()).toBe('prot32');
    expect(m.cpu.state.cr0).toBe(0x60000011);
    expect(m.cpu.run(10)).toBe('hlt');
    expect(m.cpu.state.ripLo).toBe(0x100001);
  });
});
