import { describe, it, expect } from 'vitest';
import { decode, SUPPORTED_MNEMONICS, type DecodeMode, type DecodeOutcome } from './decode.ts';
import type { Insn, MemOperand, Operand } from './insn.ts';

function bytesOf(h: string): number[] {
  return h
    .trim()
    .split(/\s+/)
    .filter((x) => x !== '')
    .map((x) => parseInt(x, 16));
}

function dec(h: string, mode: DecodeMode): DecodeOutcome {
  const b = bytesOf(h);
  return decode((i) => (i < b.length ? b[i]! : -1), mode);
}

function ok(h: string, mode: DecodeMode): Insn {
  const r = dec(h, mode);
  if (r.kind !== 'ok') throw new Error(`${h}: expected ok, got ${r.kind}`);
  return r.insn;
}

function op(insn: Insn, k: number): Operand {
  const o = insn.operands[k];
  if (o === undefined) throw new Error(`no operand ${k}`);
  return o;
}

function mem(insn: Insn, k: number): MemOperand {
  const o = op(insn, k);
  if (o.kind !== 'mem') throw new Error(`operand ${k} is ${o.kind}`);
  return o;
}

describe('prefixes', () => {
  it('66 selects a 16-bit operand size and REX.W beats it', () => {
    expect(ok('66 01 d8', 32).opSize).toBe(2);
    expect(op(ok('66 01 d8', 32), 0)).toEqual({ kind: 'reg', reg: 0, size: 2, high8: false });
    expect(ok('66 48 01 d8', 64).opSize).toBe(8);
    expect(ok('66 01 d8', 16).opSize).toBe(4);
  });

  it('a REX prefix followed by a legacy prefix is ignored', () => {
    const i = ok('48 66 01 d8', 64);
    expect(i.rex).toBe(0);
    expect(i.opSize).toBe(2);
    expect(i.length).toBe(4);
  });

  it('REX.R, REX.X and REX.B extend reg, index and base', () => {
    const i = ok('4f 8b 44 e5 08', 64); // mov r8, [r13+r12*8+8]
    expect(op(i, 0)).toEqual({ kind: 'reg', reg: 8, size: 8, high8: false });
    const m = mem(i, 1);
    expect([m.base, m.index, m.scale, m.dispLo]).toEqual([13, 12, 8, 8]);
  });

  it('67 selects the address size', () => {
    expect(mem(ok('67 8b 00', 64), 1).addrSize).toBe(4);
    expect(mem(ok('67 8b 00', 32), 1).addrSize).toBe(2);
    expect(ok('67 8b 00', 32).addrSize).toBe(2);
    expect(ok('67 e3 fe', 64).mnemonic).toBe('jecxz');
  });

  it('segment overrides: all six in 32-bit mode, only FS/GS take effect in 64-bit mode', () => {
    expect(mem(ok('26 8b 00', 32), 1)).toMatchObject({ seg: 0, segOverride: true });
    expect(ok('26 8b 00', 32).segOverride).toBe(0);
    expect(mem(ok('26 8b 00', 64), 1)).toMatchObject({ seg: 3, segOverride: false });
    expect(ok('26 8b 00', 64).segOverride).toBe(-1);
    expect(mem(ok('64 8b 00', 64), 1)).toMatchObject({ seg: 4, segOverride: true });
    expect(mem(ok('65 26 8b 00', 64), 1)).toMatchObject({ seg: 5, segOverride: true });
  });

  it('default segment is SS for rBP/rSP bases and DS otherwise', () => {
    expect(mem(ok('8b 45 00', 32), 1).seg).toBe(2);
    expect(mem(ok('8b 04 24', 32), 1).seg).toBe(2);
    expect(mem(ok('8b 03', 32), 1).seg).toBe(3);
    expect(mem(ok('8b 04 2b', 32), 1).seg).toBe(3); // [ebx+ebp]: base is ebx
    expect(mem(ok('8b 02', 16), 1)).toMatchObject({ base: 5, index: 6, seg: 2 }); // [bp+si]
    expect(mem(ok('3e 8b 45 00', 32), 1)).toMatchObject({ seg: 3, segOverride: true });
  });

  it('F3/F2 are rep/repne on string instructions and nothing elsewhere', () => {
    expect(ok('f3 ab', 64)).toMatchObject({ mnemonic: 'stosd', rep: 'rep', opSize: 4 });
    expect(ok('f3 48 ab', 64)).toMatchObject({ mnemonic: 'stosq', rep: 'rep', opSize: 8 });
    expect(ok('f2 ae', 32)).toMatchObject({ mnemonic: 'scasb', rep: 'repne', opSize: 1 });
    expect(ok('f3 01 d8', 32)).toMatchObject({ mnemonic: 'add', rep: 'none' });
    expect(ok('f3 90', 32).mnemonic).toBe('pause');
  });

  it('LOCK is accepted only on lockable instructions with a memory destination', () => {
    expect(ok('f0 01 18', 32).lock).toBe(true);
    expect(ok('f0 0f c1 08', 64).lock).toBe(true);
    expect(dec('f0 01 d8', 32).kind).toBe('ud');
    expect(dec('f0 8b 00', 32).kind).toBe('ud');
    expect(dec('f0 39 00', 32).kind).toBe('ud'); // cmp
    expect(dec('f0 90', 64).kind).toBe('ud');
  });
});

describe('length limit and fetch faults', () => {
  it('accepts exactly 15 bytes and rejects 16 as too-long (#GP)', () => {
    expect(ok(`${'66 '.repeat(14)}90`, 32).length).toBe(15);
    expect(dec(`${'66 '.repeat(15)}90`, 32).kind).toBe('too-long');
    expect(dec(`${'2e '.repeat(10)}c7 84 24 00 00 00 00 78 56 34 12`, 32).kind).toBe('too-long');
  });

  it('reports the offset of the byte that could not be fetched', () => {
    expect(dec('b8 01 02', 32)).toEqual({ kind: 'fetch-fault', offset: 3 });
    expect(dec('0f', 32)).toEqual({ kind: 'fetch-fault', offset: 1 });
    expect(dec('', 64)).toEqual({ kind: 'fetch-fault', offset: 0 });
    expect(dec('8b 04', 64)).toEqual({ kind: 'fetch-fault', offset: 2 }); // SIB missing
  });

  it('does not read past the instruction', () => {
    const seen: number[] = [];
    const b = [0x48, 0x8b, 0x45, 0xf8, 0xff, 0xff];
    const r = decode((i) => {
      seen.push(i);
      return b[i] ?? -1;
    }, 64);
    expect(r.kind).toBe('ok');
    expect(Math.max(...seen)).toBe(3);
  });
});

describe('mode validity', () => {
  it('opcodes invalid in 64-bit mode are #UD there and valid in 32-bit mode', () => {
    for (const h of ['06', '07', '0e', '16', '17', '1e', '1f', '60', '61', '9a 00 00 00 00 08 00', 'ce', 'ea 00 00 00 00 08 00', '82 c0 01']) {
      expect(dec(h, 64).kind, h).toBe('ud');
      expect(dec(h, 32).kind, h).toBe('ok');
    }
  });

  it('64-bit-only forms are #UD in 32-bit mode', () => {
    expect(dec('0f 01 f8', 32).kind).toBe('ud');
    expect(ok('0f 01 f8', 64).mnemonic).toBe('swapgs');
    expect(dec('63 c1', 32).kind).toBe('ud'); // arpl is not supported
    expect(ok('63 c1', 64).mnemonic).toBe('movsxd');
  });

  it('40-4F are inc/dec in 32-bit mode and REX in 64-bit mode', () => {
    expect(ok('40', 32)).toMatchObject({ mnemonic: 'inc', length: 1 });
    expect(ok('4f', 32)).toMatchObject({ mnemonic: 'dec', length: 1 });
    expect(ok('48 ff c0', 64)).toMatchObject({ mnemonic: 'inc', rex: 0x48, opSize: 8 });
  });

  it('undefined and unsupported encodings are #UD', () => {
    for (const h of ['0f 0f c0 00', 'ff 38', 'fe 10', '8f 08', '8e c8', '8c f8', '0f 22 c8', '0f 20 e8', 'c7 c8 00 00 00 00', '8d c0', 'ff d8', 'd6', '0f ff']) {
      expect(dec(h, 64).kind, h).toBe('ud');
    }
    expect(dec('44 0f 20 c0', 64).kind).toBe('ok'); // cr8
    expect(dec('f3 0f bc c1', 64).kind).toBe('ud'); // tzcnt
  });
});

describe('operands', () => {
  it('sign-extends immediates where the encoding does', () => {
    expect(op(ok('48 83 c0 ff', 64), 1)).toEqual({ kind: 'imm', size: 8, lo: 0xffffffff, hi: 0xffffffff });
    expect(op(ok('83 c0 ff', 32), 1)).toEqual({ kind: 'imm', size: 4, lo: 0xffffffff, hi: 0 });
    expect(op(ok('66 83 c0 80', 32), 1)).toEqual({ kind: 'imm', size: 2, lo: 0xff80, hi: 0 });
    expect(op(ok('6a 80', 64), 0)).toEqual({ kind: 'imm', size: 8, lo: 0xffffff80, hi: 0xffffffff });
    expect(op(ok('68 00 00 00 80', 64), 0)).toEqual({ kind: 'imm', size: 8, lo: 0x80000000, hi: 0xffffffff });
    expect(op(ok('48 c7 c0 00 00 00 80', 64), 1)).toEqual({ kind: 'imm', size: 8, lo: 0x80000000, hi: 0xffffffff });
    expect(op(ok('80 c0 ff', 32), 1)).toEqual({ kind: 'imm', size: 1, lo: 0xff, hi: 0 });
  });

  it('B8+r with REX.W carries a full 64-bit immediate', () => {
    const i = ok('49 bf 88 77 66 55 44 33 22 11', 64);
    expect(i.length).toBe(10);
    expect(op(i, 0)).toEqual({ kind: 'reg', reg: 15, size: 8, high8: false });
    expect(op(i, 1)).toEqual({ kind: 'imm', size: 8, lo: 0x55667788, hi: 0x11223344 });
  });

  it('byte registers: AH..BH without REX, SPL..DIL with any REX', () => {
    expect(op(ok('88 e0', 64), 1)).toEqual({ kind: 'reg', reg: 0, size: 1, high8: true });
    expect(op(ok('40 88 e0', 64), 1)).toEqual({ kind: 'reg', reg: 4, size: 1, high8: false });
    expect(op(ok('b7 01', 32), 0)).toEqual({ kind: 'reg', reg: 3, size: 1, high8: true });
  });

  it('RIP-relative and SIB-without-base addressing', () => {
    const m = mem(ok('48 8b 05 f8 ff ff ff', 64), 1);
    expect(m).toMatchObject({ base: -1, index: -1, ripRel: true, dispLo: 0xfffffff8, dispHi: 0xffffffff, addrSize: 8 });
    const a = mem(ok('8b 04 25 00 10 00 00', 64), 1);
    expect(a).toMatchObject({ base: -1, index: -1, ripRel: false, dispLo: 0x1000 });
    expect(mem(ok('8b 05 00 10 00 00', 32), 1)).toMatchObject({ base: -1, ripRel: false, dispLo: 0x1000 });
  });

  it('moffs addresses use the address size (8 bytes in 64-bit mode)', () => {
    const i = ok('48 a1 88 77 66 55 44 33 22 11', 64);
    expect(i.length).toBe(10);
    expect(mem(i, 1)).toMatchObject({ size: 8, dispLo: 0x55667788, dispHi: 0x11223344, base: -1 });
    expect(ok('67 a0 00 10 00 00', 64).length).toBe(6);
  });

  it('relative branches carry a signed displacement', () => {
    expect(op(ok('eb fe', 64), 0)).toEqual({ kind: 'rel', size: 1, disp: -2 });
    expect(op(ok('e8 00 01 00 00', 32), 0)).toEqual({ kind: 'rel', size: 4, disp: 256 });
    expect(op(ok('66 e9 00 80', 32), 0)).toEqual({ kind: 'rel', size: 2, disp: -32768 });
    expect(ok('66 e8 00 00 00 00', 64).length).toBe(6); // 66 does not shorten near branches in 64-bit mode
    expect(ok('0f 84 00 00 00 00', 64)).toMatchObject({ mnemonic: 'je', opSize: 8 });
  });

  it('far pointers and far indirect operands', () => {
    expect(op(ok('ea 78 56 34 12 08 00', 32), 0)).toEqual({ kind: 'far', selector: 8, offset: 0x12345678 });
    expect(op(ok('66 ea 34 12 10 00', 32), 0)).toEqual({ kind: 'far', selector: 0x10, offset: 0x1234 });
    expect(mem(ok('ff 18', 64), 0).size).toBe(6);
    expect(mem(ok('48 ff 28', 64), 0).size).toBe(10);
    expect(ok('48 cb', 64)).toMatchObject({ mnemonic: 'retf', opSize: 8 });
  });

  it('system operands: control and segment registers, descriptor tables', () => {
    const c = ok('44 0f 22 c0', 64);
    expect(c.operands).toEqual([{ kind: 'cr', reg: 8 }, { kind: 'reg', reg: 0, size: 8, high8: false }]);
    expect(ok('0f 20 d8', 32).operands).toEqual([{ kind: 'reg', reg: 0, size: 4, high8: false }, { kind: 'cr', reg: 3 }]);
    expect(op(ok('8e d8', 32), 0)).toEqual({ kind: 'sreg', reg: 3 });
    expect(mem(ok('0f 01 10', 64), 0).size).toBe(0);
    expect(mem(ok('8d 04 8b', 32), 1).size).toBe(0);
    expect(mem(ok('8c 00', 64), 0).size).toBe(2);
    expect(mem(ok('f3 0f c7 30', 64), 0).size).toBe(8);
  });

  it('size-dependent mnemonics', () => {
    expect(ok('cf', 64).mnemonic).toBe('iretd');
    expect(ok('48 cf', 64).mnemonic).toBe('iretq');
    expect(ok('66 cf', 32).mnemonic).toBe('iret');
    expect(ok('9c', 64).mnemonic).toBe('pushfq');
    expect(ok('9c', 32).mnemonic).toBe('pushfd');
    expect(ok('48 98', 64).mnemonic).toBe('cdqe');
    expect(ok('48 0f 07', 64).mnemonic).toBe('sysretq');
    expect(ok('0f 07', 64).mnemonic).toBe('sysret');
    expect(ok('66 0f c7 30', 64).mnemonic).toBe('vmclear');
    expect(ok('0f c7 30', 64).mnemonic).toBe('vmptrld');
  });

  it('in/out never exceed 32 bits', () => {
    const i = ok('48 ed', 64);
    expect(i.opSize).toBe(4);
    expect(i.operands).toEqual([
      { kind: 'reg', reg: 0, size: 4, high8: false },
      { kind: 'reg', reg: 2, size: 2, high8: false },
    ]);
  });

  it('exports the supported mnemonics', () => {
    for (const m of ['mov', 'vmlaunch', 'invlpga', 'jrcxz', 'cmovne', 'setg', 'iretq', 'pause']) expect(SUPPORTED_MNEMONICS.has(m), m).toBe(true);
  });
});
