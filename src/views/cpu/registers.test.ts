import { describe, expect, it } from 'vitest';
import { controlRows, CR0_BITS, decodeRflags, EFER_BITS, generalRows, groupHex, hexDigits, setBits } from './registers.ts';

describe('register rows by mode', () => {
  it('shows rax..r15 and rip in 64-bit mode, eax..edi and eip in the others', () => {
    const long = generalRows('long64');
    expect(long.map((r) => r.label)).toEqual(['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip']);
    expect(long.every((r) => r.digits === 16)).toBe(true);
    const prot = generalRows('prot32');
    expect(prot.map((r) => r.label)).toEqual(['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip']);
    expect(prot.map((r) => r.key)).toEqual(['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'rip']);
    expect(prot.every((r) => r.digits === 8)).toBe(true);
    expect(generalRows('compat').some((r) => r.label === 'r8')).toBe(false);
    expect(controlRows('long64').map((r) => r.label)).toEqual(['cr0', 'cr2', 'cr3', 'cr4', 'efer', 'cs', 'ss']);
  });

  it('prints the low bits of a value, grouped in 32-bit halves', () => {
    expect(hexDigits('0xFFFFFFFF80001234', 8)).toBe('80001234');
    expect(hexDigits('0x0000000000401000', 16)).toBe('0000000000401000');
    expect(hexDigits('0x1b', 4)).toBe('001b');
    expect(hexDigits(undefined, 8)).toBe('');
    expect(hexDigits('zz', 8)).toBe('');
    expect(groupHex('ffffffff80001234')).toBe('ffffffff 80001234');
    expect(groupHex('80001234')).toBe('80001234');
  });
});

describe('RFLAGS and control-register decoding', () => {
  it('decodes each status flag and IOPL from its bit', () => {
    // 0x246: ZF (6), PF (2), IF (9), and reserved bit 1.
    const r = decodeRflags('0x0000000000000246');
    expect(r.flags.filter((f) => f.set).map((f) => f.name)).toEqual(['PF', 'ZF', 'IF']);
    expect(r.iopl).toBe(0);
    expect(decodeRflags('0x0000000000003002').iopl).toBe(3);
    expect(decodeRflags('0x0000000000001002').iopl).toBe(1);
    const all = decodeRflags('0x0000000000000fd5');
    expect(all.flags.every((f) => f.set)).toBe(true);
    for (let bit = 0; bit < 12; bit++) {
      const hit = decodeRflags(`0x${(1 << bit).toString(16).padStart(16, '0')}`).flags.filter((f) => f.set).map((f) => f.name);
      expect(hit.length).toBe([0, 2, 4, 6, 7, 8, 9, 10, 11].includes(bit) ? 1 : 0);
    }
    expect(decodeRflags(undefined).flags.some((f) => f.set)).toBe(false);
  });

  it('names the set bits of CR0 and EFER, including bit 31', () => {
    expect(setBits('0x0000000080010011', CR0_BITS)).toEqual(['PE', 'ET', 'WP', 'PG']);
    expect(setBits('0x0000000000000d01', EFER_BITS)).toEqual(['SCE', 'LME', 'LMA', 'NXE']);
    expect(setBits(undefined, CR0_BITS)).toEqual([]);
  });
});
