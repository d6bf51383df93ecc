import { describe, expect, it } from 'vitest';
import { Fault, Vec } from './core.ts';
import { Seg } from './insn.ts';
import { Flag } from './state.ts';
import { deliverException, deliverExternalInterrupt, execSystem } from './system.ts';
import { isDoubleFault } from './sys-int.ts';
import { FakeCpu, IDT, SEL, STACK0, STACK3, TSS, gate32, gate64, imm, insn, long64, prot32, setSeg } from './sys-testkit.ts';

/** Runs execSystem and returns the Fault it threw (or fails the test). */
function faultOf(f: () => void): Fault {
  try {
    f();
  } catch (e) {
    if (e instanceof Fault) return e;
    throw e;
  }
  throw new Error('expected a Fault');
}

describe('protected-mode delivery through 32-bit gates (SDM Vol. 3A, 6.12.1)', () => {
  it('same privilege: pushes EFLAGS, CS, EIP, error code on the current stack; RF set in the image of a fault; interrupt gate clears IF, TF, NT', () => {
    const cpu = prot32();
    gate32(cpu, 13, SEL.CODE32_0, 0x00401000);
    cpu.state.rflags = 0x2 | Flag.IF | Flag.TF | Flag.NT;
    deliverException(cpu, new Fault(Vec.GP, 0x28));
    const st = cpu.state;
    expect(st.regLo[4]).toBe(STACK0 - 16);
    expect(cpu.dwords(STACK0 - 16, 4)).toEqual([0x28, 0x5000, SEL.CODE32_0, 0x2 | Flag.IF | Flag.TF | Flag.NT | Flag.RF]);
    expect(st.seg[Seg.CS]!.selector).toBe(SEL.CODE32_0);
    expect(st.ripLo).toBe(0x00401000);
    expect(st.rflags).toBe(0x2);
  });

  it('INT n from CPL 3 to a DPL 0 handler switches to SS0:ESP0 from the TSS and pushes SS, ESP, EFLAGS, CS, EIP; a trap gate keeps IF', () => {
    const cpu = prot32('intel', 3);
    gate32(cpu, 0x80, SEL.CODE32_0, 0x8000, { trap: true, dpl: 3 });
    cpu.state.rflags = 0x202;
    execSystem(cpu, insn('int', [imm(0x80)]), 0x5002, 0);
    const st = cpu.state;
    expect(st.seg[Seg.SS]!.selector).toBe(SEL.DATA_0);
    expect(st.regLo[4]).toBe(STACK0 - 20);
    expect(cpu.dwords(STACK0 - 20, 5)).toEqual([0x5002, SEL.CODE32_3, 0x202, STACK3, SEL.DATA_3]);
    expect(st.seg[Seg.CS]!.selector).toBe(SEL.CODE32_0);
    expect(cpu.cpl()).toBe(0);
    expect(st.ripLo).toBe(0x8000);
    expect(st.rflags).toBe(0x202);
  });

  it('INT n through a gate with DPL < CPL raises #GP(vector*8+2), registers unchanged (SDM Vol. 3A, 6.12.1.1)', () => {
    const cpu = prot32('intel', 3);
    gate32(cpu, 0x80, SEL.CODE32_0, 0x8000, { dpl: 0 });
    const f = faultOf(() => execSystem(cpu, insn('int', [imm(0x80)]), 0x5002, 0));
    expect([f.vector, f.errorCode]).toEqual([Vec.GP, 0x80 * 8 + 2]);
    expect(cpu.state.ripLo).toBe(0x5000);
    expect(cpu.state.regLo[4]).toBe(STACK3);
    expect(cpu.cpl()).toBe(3);
  });

  it('an exception ignores the gate DPL: #GP at CPL 3 goes through a DPL 0 gate', () => {
    const cpu = prot32('intel', 3);
    gate32(cpu, 13, SEL.CODE32_0, 0x9100);
    deliverException(cpu, new Fault(Vec.GP, 0));
    expect(cpu.cpl()).toBe(0);
    expect(cpu.state.ripLo).toBe(0x9100);
    expect(cpu.dwords(STACK0 - 24, 6)).toEqual([0, 0x5000, SEL.CODE32_3, 0x2 | Flag.RF, STACK3, SEL.DATA_3]);
  });

  it('a not-present gate raises #NP(vector*8+2+EXT); a benign #UD followed by #NP is handled serially, not as #DF (Table 6-5)', () => {
    const cpu = prot32();
    gate32(cpu, Vec.UD, SEL.CODE32_0, 0x1111, { p: false });
    gate32(cpu, Vec.NP, SEL.CODE32_0, 0x2222);
    gate32(cpu, Vec.DF, SEL.CODE32_0, 0x8888);
    deliverException(cpu, new Fault(Vec.UD));
    expect(cpu.state.ripLo).toBe(0x2222);
    expect(cpu.dwords(STACK0 - 16, 4)).toEqual([Vec.UD * 8 + 2 + 1, 0x5000, SEL.CODE32_0, 0x2 | Flag.RF]);
  });

  it('an external interrupt beyond the IDT limit raises #GP(vector*8+2+EXT)', () => {
    const cpu = prot32();
    gate32(cpu, 13, SEL.CODE32_0, 0x1300);
    cpu.state.idtr.limit = 0x40 * 8 - 1;
    cpu.state.rflags = 0x202;
    deliverExternalInterrupt(cpu, 0x40);
    expect(cpu.state.ripLo).toBe(0x1300);
    expect(cpu.dwords(STACK0 - 16, 1)).toEqual([0x40 * 8 + 2 + 1]);
  });

  it('a gate naming a data segment raises #GP(selector+EXT)', () => {
    const cpu = prot32();
    gate32(cpu, Vec.UD, SEL.DATA_0, 0x1111);
    gate32(cpu, 13, SEL.CODE32_0, 0x1300);
    deliverException(cpu, new Fault(Vec.UD));
    expect(cpu.state.ripLo).toBe(0x1300);
    expect(cpu.dwords(STACK0 - 16, 1)).toEqual([SEL.DATA_0 | 1]);
  });
});

describe('double fault and triple fault (SDM Vol. 3A, 6.15, Table 6-5)', () => {
  it('Table 6-4/6-5 classes: #DE #TS #NP #SS #GP #CP are contributory; #PF then contributory or #PF is #DF; benign or contributory-then-#PF is serial', () => {
    const contributory = [Vec.DE, Vec.TS, Vec.NP, Vec.SS, Vec.GP, 21];
    for (const a of contributory) for (const b of contributory) expect(isDoubleFault(a, b)).toBe(true);
    for (const b of [...contributory, Vec.PF]) expect(isDoubleFault(Vec.PF, b)).toBe(true);
    for (const a of contributory) expect(isDoubleFault(a, Vec.PF)).toBe(false);
    for (const a of [Vec.DB, Vec.NMI, Vec.BP, Vec.OF, Vec.BR, Vec.UD, Vec.NM, Vec.MF, Vec.AC, Vec.MC, Vec.XM]) {
      for (const b of [...contributory, Vec.PF]) expect(isDoubleFault(a, b)).toBe(false);
    }
  });

  it('contributory then contributory: #GP whose gate is not present gives #DF with error code 0 and the faulting EIP', () => {
    const cpu = prot32();
    gate32(cpu, 13, SEL.CODE32_0, 0x1300, { p: false });
    gate32(cpu, Vec.DF, SEL.CODE32_0, 0x8888);
    cpu.state.rflags = 0x202;
    deliverException(cpu, new Fault(Vec.GP, 0));
    expect(cpu.state.ripLo).toBe(0x8888);
    expect(cpu.dwords(STACK0 - 16, 4)).toEqual([0, 0x5000, SEL.CODE32_0, 0x202 | Flag.RF]);
    expect(cpu.state.shutdown).toBe(false);
  });

  it('page fault then page fault on the same stack: #DF, then a fault delivering #DF is a triple fault: shutdown, nothing pushed, registers kept (RF set, as KVM shows)', () => {
    const cpu = prot32();
    gate32(cpu, Vec.PF, SEL.CODE32_0, 0x1400);
    gate32(cpu, Vec.DF, SEL.CODE32_0, 0x8888);
    cpu.notPresent.add((STACK0 - 4) >>> 12);
    cpu.state.rflags = 0x202;
    deliverException(cpu, new Fault(Vec.PF, 2));
    const st = cpu.state;
    expect(st.shutdown).toBe(true);
    expect(st.ripLo).toBe(0x5000);
    expect(st.regLo[4]).toBe(STACK0);
    expect(st.seg[Seg.CS]!.selector).toBe(SEL.CODE32_0);
    expect(st.rflags).toBe(0x202 | Flag.RF);
    expect(st.cr2Lo).toBe(STACK0 - 4);
  });

  it('page fault then page fault with #DF on its own IST stack (64-bit): #DF is delivered', () => {
    const cpu = long64();
    gate64(cpu, Vec.PF, SEL.CODE64_0, 0x1400, 0);
    gate64(cpu, Vec.DF, SEL.CODE64_0, 0x8888, 0, { ist: 1 });
    cpu.w32(TSS + 0x24, 0x6000);
    cpu.notPresent.add((STACK0 - 8) >>> 12);
    deliverException(cpu, new Fault(Vec.PF, 2));
    const st = cpu.state;
    expect(st.shutdown).toBe(false);
    expect(st.ripLo).toBe(0x8888);
    expect(cpu.qwords(0x6000 - 48, 6)).toEqual([0n, 0x5000n, BigInt(SEL.CODE64_0), 0x2n | BigInt(Flag.RF), BigInt(STACK0), BigInt(SEL.DATA64_0)]);
  });

  it('no usable IDT (limit 0): #UD, #GP, #DF all fail: triple fault with memory below ESP untouched', () => {
    const cpu = prot32();
    cpu.state.idtr.limit = 0;
    deliverException(cpu, new Fault(Vec.UD));
    expect(cpu.state.shutdown).toBe(true);
    expect(cpu.dwords(STACK0 - 16, 4)).toEqual([0, 0, 0, 0]);
    expect(cpu.state.ripLo).toBe(0x5000);
  });
});

describe('IA-32e delivery through 64-bit gates (SDM Vol. 3A, 6.14)', () => {
  it('INT n from CPL 3: RSP0 from the TSS aligned to 16, SS:RSP, RFLAGS, CS:RIP pushed as quadwords, SS = null with RPL 0, IF cleared', () => {
    const cpu = long64('intel', 3);
    cpu.w32(TSS + 4, STACK0 + 8);
    cpu.state.regLo[4] = STACK3 - 8;
    cpu.state.rflags = 0x202;
    gate64(cpu, 0x80, SEL.CODE64_0, 0x80001000, 0xffffffff, { dpl: 3 });
    execSystem(cpu, insn('int', [imm(0x80)]), 0x5002, 0);
    const st = cpu.state;
    expect(st.regLo[4]).toBe(STACK0 - 40);
    expect(cpu.qwords(STACK0 - 40, 5)).toEqual([0x5002n, BigInt(SEL.CODE64_3), 0x202n, BigInt(STACK3 - 8), BigInt(SEL.DATA_3B)]);
    expect(st.seg[Seg.SS]!.selector).toBe(0);
    expect(st.seg[Seg.CS]!.selector).toBe(SEL.CODE64_0);
    expect([st.ripLo, st.ripHi]).toEqual([0x80001000, 0xffffffff]);
    expect(st.rflags).toBe(0x2);
  });

  it('IST: a gate with IST = 2 switches to IST2 even without a privilege change; SS is kept', () => {
    const cpu = long64();
    cpu.w32(TSS + 0x24 + 8, 0x6008);
    gate64(cpu, 13, SEL.CODE64_0, 0x1300, 0, { ist: 2 });
    deliverException(cpu, new Fault(Vec.GP, 0x10));
    expect(cpu.state.regLo[4]).toBe(0x6000 - 48);
    expect(cpu.qwords(0x6000 - 48, 6)).toEqual([0x10n, 0x5000n, BigInt(SEL.CODE64_0), 0x2n | BigInt(Flag.RF), BigInt(STACK0), BigInt(SEL.DATA64_0)]);
    expect(cpu.state.seg[Seg.SS]!.selector).toBe(SEL.DATA64_0);
  });

  it('same privilege without IST: the current RSP is aligned down to 16 and SS:RSP is still pushed', () => {
    const cpu = long64();
    cpu.state.regLo[4] = STACK0 - 4;
    gate64(cpu, 3, SEL.CODE64_0, 0x1300, 0, { dpl: 3, trap: true });
    execSystem(cpu, insn('int3', [], 4, 1), 0x5001, 0);
    expect(cpu.state.regLo[4]).toBe(STACK0 - 16 - 40);
    expect(cpu.qwords(STACK0 - 16 - 40, 5)).toEqual([0x5001n, BigInt(SEL.CODE64_0), 0x2n, BigInt(STACK0 - 4), BigInt(SEL.DATA64_0)]);
  });

  it('a 64-bit gate whose target is not a 64-bit code segment raises #GP(selector+EXT)', () => {
    const cpu = long64();
    gate64(cpu, Vec.UD, SEL.CODE32_0, 0x1111, 0);
    gate64(cpu, 13, SEL.CODE64_0, 0x1300, 0);
    deliverException(cpu, new Fault(Vec.UD));
    expect(cpu.state.ripLo).toBe(0x1300);
    expect(cpu.qwords(STACK0 - 48, 1)).toEqual([BigInt(SEL.CODE32_0 | 1)]);
  });
});

describe('IRET (SDM Vol. 2A, IRET)', () => {
  it('IRETQ round trip: INT 0x80 from CPL 3 and back restores CS:RIP, SS:RSP, RFLAGS; DS with DPL 0 becomes null', () => {
    const cpu = long64('intel', 3);
    gate64(cpu, 0x80, SEL.CODE64_0, 0x8000, 0, { dpl: 3 });
    cpu.state.rflags = 0x202;
    cpu.state.regLo[4] = STACK3 - 8;
    execSystem(cpu, insn('int', [imm(0x80)]), 0x5002, 0);
    setSeg(cpu, Seg.DS, SEL.DATA64_0);
    execSystem(cpu, insn('iretq', [], 8), 0x8002, 0);
    const st = cpu.state;
    expect(cpu.cpl()).toBe(3);
    expect(st.seg[Seg.CS]!.selector).toBe(SEL.CODE64_3);
    expect(st.ripLo).toBe(0x5002);
    expect(st.seg[Seg.SS]!.selector).toBe(SEL.DATA_3B);
    expect(st.regLo[4]).toBe(STACK3 - 8);
    expect(st.rflags).toBe(0x202);
    expect(st.seg[Seg.DS]!.selector).toBe(0);
    expect(st.seg[Seg.ES]!.selector).toBe(SEL.DATA_3B);
  });

  it('IRETQ at the same privilege still pops SS:RSP (64-bit mode always does)', () => {
    const cpu = long64();
    const f = [0x6000, SEL.CODE64_0, 0x2, 0x8800, SEL.DATA64_0];
    f.forEach((v, i) => cpu.w32(STACK0 - 40 + 8 * i, v));
    cpu.state.regLo[4] = STACK0 - 40;
    execSystem(cpu, insn('iretq', [], 8), 0x5002, 0);
    expect(cpu.state.regLo[4]).toBe(0x8800);
    expect(cpu.state.ripLo).toBe(0x6000);
  });

  it('IRETD round trip in protected mode: back to CPL 3 pops SS:ESP; DS with DPL 0 becomes null, DS with DPL 3 stays', () => {
    const cpu = prot32('intel', 3);
    gate32(cpu, 0x80, SEL.CODE32_0, 0x8000, { dpl: 3 });
    cpu.state.rflags = 0x202;
    execSystem(cpu, insn('int', [imm(0x80)]), 0x5002, 0);
    expect(cpu.state.rflags & Flag.IF).toBe(0);
    setSeg(cpu, Seg.DS, SEL.DATA_0);
    execSystem(cpu, insn('iretd'), 0x8001, 0);
    const st = cpu.state;
    expect([st.seg[Seg.CS]!.selector, st.ripLo, st.seg[Seg.SS]!.selector, st.regLo[4], st.rflags]).toEqual([SEL.CODE32_3, 0x5002, SEL.DATA_3, STACK3, 0x202]);
    expect(st.seg[Seg.DS]!.selector).toBe(0);
    expect(st.seg[Seg.DS]!.valid).toBe(false);
    expect(st.seg[Seg.ES]!.selector).toBe(SEL.DATA_3);
  });

  it('IRET at CPL 3 with IOPL 0 leaves IF and IOPL unchanged but loads the arithmetic flags', () => {
    const cpu = prot32('intel', 3);
    cpu.state.rflags = 0x202;
    [0x6000, SEL.CODE32_3, 0x3001].forEach((v, i) => cpu.w32(STACK3 + 4 * i, v));
    execSystem(cpu, insn('iretd'), 0x5001, 0);
    expect(cpu.state.rflags).toBe(0x203);
    expect(cpu.state.regLo[4]).toBe(STACK3 + 12);
  });

  it('IRET at CPL 0 loads IF and IOPL', () => {
    const cpu = prot32();
    cpu.state.rflags = 0x202;
    [0x6000, SEL.CODE32_0, 0x3001].forEach((v, i) => cpu.w32(STACK0 + 4 * i, v));
    execSystem(cpu, insn('iretd'), 0x5001, 0);
    expect(cpu.state.rflags).toBe(0x3003);
  });

  it('IRET with NT = 1 (a task return) raises #GP(0) (task switching not modelled)', () => {
    const cpu = prot32();
    cpu.state.rflags = 0x2 | Flag.NT;
    expect(faultOf(() => execSystem(cpu, insn('iretd'), 0x5001, 0))).toMatchObject({ vector: Vec.GP, errorCode: 0 });
  });

  it('IRET to a more privileged level (RPL < CPL) raises #GP(selector)', () => {
    const cpu = prot32('intel', 3);
    [0x6000, SEL.CODE32_0, 0x2].forEach((v, i) => cpu.w32(STACK3 + 4 * i, v));
    expect(faultOf(() => execSystem(cpu, insn('iretd'), 0x5001, 0))).toMatchObject({ vector: Vec.GP, errorCode: SEL.CODE32_0 });
    expect(cpu.state.regLo[4]).toBe(STACK3);
  });

  it('IDT vector entries are read at IDTR.base + vector*8 in protected mode', () => {
    const cpu = prot32();
    gate32(cpu, 0x21, SEL.CODE32_0, 0xabcd);
    expect(cpu.r32(IDT + 0x21 * 8) & 0xffff).toBe(0xabcd);
    execSystem(cpu, insn('int', [imm(0x21)]), 0x5002, 0);
    expect(cpu.state.ripLo).toBe(0xabcd);
  });
});

describe('real-address mode (SDM Vol. 3A, 20.1.4)', () => {
  it('INT n reads IP:CS from the IVT, pushes FLAGS, CS, IP (16-bit), clears IF; IRET returns', () => {
    const cpu = new FakeCpu();
    const st = cpu.state;
    st.cr0 = 0x60000010;
    st.idtr = { baseLo: 0, baseHi: 0, limit: 0x3ff };
    Object.assign(st.seg[Seg.CS]!, { selector: 0x100, baseLo: 0x1000 });
    st.regLo[4] = 0x8000;
    st.ripLo = 0x100;
    st.rflags = 0x202;
    cpu.w32(0x10 * 4, (0x2000 << 16) | 0x40);
    execSystem(cpu, insn('int', [imm(0x10)], 2), 0x102, 0);
    expect([st.seg[Seg.CS]!.selector, st.seg[Seg.CS]!.baseLo, st.ripLo, st.regLo[4], st.rflags]).toEqual([0x2000, 0x20000, 0x40, 0x7ffa, 0x2]);
    expect([cpu.mem.read(0x7ffa, 2), cpu.mem.read(0x7ffc, 2), cpu.mem.read(0x7ffe, 2)]).toEqual([0x102, 0x100, 0x202]);
    execSystem(cpu, insn('iret', [], 2, 1), 0x41, 0);
    expect([st.seg[Seg.CS]!.baseLo, st.ripLo, st.regLo[4], st.rflags]).toEqual([0x1000, 0x102, 0x8000, 0x202]);
  });
});
