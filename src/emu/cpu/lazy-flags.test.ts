import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CF, LF_ADD, LF_DEC, LF_INC, LF_KIND_SHIFT, LF_LOGIC, LF_SUB, STATUS, lazyStatus, lazyStatus64 } from './alu.ts';
import { cond, condNow } from './exec.ts';
import { createBareMachine } from '../machine/bare.ts';

const HLT = 0xf4;

function machine(code: number[], mode: 'prot32' | 'long64' = 'prot32') {
  return createBareMachine({ mode, load: 0x100000, code: new Uint8Array(code) });
}

describe('lazy flags: conditions read from a pending record equal those of the materialised RFLAGS', () => {
  const kinds = [LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC];
  // Random values, small ones, and values near each size's sign boundary (masked to the size below).
  const u64 = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.bigInt({ min: 0n, max: 3n }),
    fc.tuple(fc.constantFrom(7n, 15n, 31n, 63n), fc.bigInt({ min: -2n, max: 2n }), fc.bigInt({ min: 0n, max: 0xffffffffn }))
      .map(([bit, d, low]) => ((1n << bit) + d) | (bit === 63n && d === 0n ? low : 0n)),
  );
  it('every condition code, every kind, 8/16/32/64-bit', () => {
    const { cpu } = machine([HLT]);
    fc.assert(fc.property(
      fc.constantFrom(1, 2, 4, 8), fc.constantFrom(...kinds), u64, u64, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 1 }),
      (size, kind, x, y, cc, cfIn) => {
        const mask = (1n << BigInt(size * 8)) - 1n;
        const a = x & mask;
        let b = y & mask;
        let r: bigint;
        switch (kind) {
          case LF_ADD: r = (a + b) & mask; break;
          case LF_SUB: r = (a - b) & mask; break;
          case LF_LOGIC: r = a & b; break;
          case LF_INC: b = 1n; r = (a + 1n) & mask; break;
          default: b = 1n; r = (a - 1n) & mask; break;
        }
        const L = (v: bigint): number => Number(v & 0xffffffffn);
        const H = (v: bigint): number => Number(v >> 32n);
        const op = (kind << LF_KIND_SHIFT) | size;
        const status = size === 8
          ? lazyStatus64(op, L(a), H(a), L(b), H(b), L(r), H(r), cfIn)
          : lazyStatus(op, L(a), L(b), L(r), cfIn);
        const eager = (0x202 & ~STATUS) | status;
        cpu.state.rflags = 0x202;
        cpu.lfOp = op; cpu.lfA = L(a); cpu.lfB = L(b); cpu.lfR = L(r); cpu.lfCf = cfIn;
        cpu.lfAh = H(a); cpu.lfBh = H(b); cpu.lfRh = H(r);
        expect(condNow(cpu, cc)).toBe(cond(cc, eager));
        expect(cpu.cfNow()).toBe(eager & CF);
        expect(cpu.syncFlags()).toBe(eager);
        expect(cpu.lfOp).toBe(0);
      },
    ), { numRuns: 4000 });
  });
});

describe('lazy flags are materialised where they can be observed', () => {
  it('RFLAGS after run() holds the flags of the last flag-producing instruction', () => {
    // mov eax, 0x7fffffff; add eax, 1 (OF SF AF PF, no CF, no ZF); hlt
    const m = machine([0xb8, 0xff, 0xff, 0xff, 0x7f, 0x83, 0xc0, 0x01, HLT]);
    expect(m.cpu.run(100)).toBe('hlt');
    expect(m.cpu.state.rflags & STATUS).toBe(0x800 | 0x80 | 0x10 | 0x4);
    expect(m.cpu.lfOp).toBe(0);
  });

  it('a run stopped by its step limit inside a block leaves RFLAGS exact after each step', () => {
    // mov ecx, 3; l: cmp ecx, 2; dec ecx; jnz l; hlt — stepping one at a time agrees with a full run.
    const code = [0xb9, 3, 0, 0, 0, 0x83, 0xf9, 0x02, 0xff, 0xc9, 0x75, 0xf9, HLT];
    const stepped = machine(code);
    const flags: number[] = [];
    while (stepped.cpu.step() === 'limit') flags.push(stepped.cpu.state.rflags);
    const whole = machine(code);
    expect(whole.cpu.run(1000)).toBe('hlt');
    expect(whole.cpu.state.rflags).toBe(stepped.cpu.state.rflags);
    // The last dec ecx (1 → 0) sets ZF and PF and keeps CF from cmp 1, 2 (a borrow).
    expect(whole.cpu.state.rflags & STATUS).toBe(0x40 | 0x4 | CF);
    expect(flags.length).toBe(1 + 3 * 3);
    // A run cut short after k instructions, mid-block, ends with the same RFLAGS as k steps.
    for (let k = 1; k <= flags.length; k++) {
      const part = machine(code);
      expect(part.cpu.run(k)).toBe('limit');
      expect(part.cpu.state.rflags).toBe(flags[k - 1]);
    }
  });

  it('PUSHF (system layer) sees the flags of the preceding ADD in the same block', () => {
    // mov eax, 0xffffffff; add eax, 1 (CF ZF PF AF); pushfd; pop edx; hlt
    const m = machine([0xb8, 0xff, 0xff, 0xff, 0xff, 0x83, 0xc0, 0x01, 0x9c, 0x5a, HLT]);
    expect(m.cpu.run(100)).toBe('hlt');
    expect(m.cpu.state.regLo[2]! & STATUS).toBe(CF | 0x40 | 0x4 | 0x10);
  });

  it('ADC after INC uses the CF that INC kept (64-bit mode)', () => {
    // stc; mov eax, 5; inc eax; adc eax, 0 (5+1+CF=7); hlt
    const m = machine([0xf9, 0xb8, 5, 0, 0, 0, 0xff, 0xc0, 0x83, 0xd0, 0x00, HLT], 'long64');
    expect(m.cpu.run(100)).toBe('hlt');
    expect(m.cpu.state.regLo[0]).toBe(7);
  });

  it('64-bit: JNZ after DEC RCX sees a zero low half with a nonzero high half as nonzero', () => {
    // mov rcx, 0x100000001; xor eax, eax; l: inc eax; dec rcx; jnz l; hlt — loops 2^32 + 1 times
    // unless ZF looked only at the low half; stop after a bounded number of steps instead.
    const m = machine([0x48, 0xb9, 1, 0, 0, 0, 1, 0, 0, 0, 0x31, 0xc0, 0xff, 0xc0, 0x48, 0xff, 0xc9, 0x75, 0xf9, HLT], 'long64');
    expect(m.cpu.run(20)).toBe('limit');
    // Two setup instructions, then six iterations: RCX = 0x100000001 − 6.
    expect(m.cpu.state.regHi[1]).toBe(0);
    expect(m.cpu.state.regLo[1]).toBe(0xfffffffb);
    expect(m.cpu.state.regLo[0]).toBe(6);
  });
});
