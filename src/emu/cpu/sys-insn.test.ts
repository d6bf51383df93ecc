import { describe, expect, it } from 'vitest';
import { Fault, Vec } from './core.ts';
import { Seg } from './insn.ts';
import { Flag, SegAttr } from './state.ts';
import { MSR, deliverExternalInterrupt, execSystem, ioPermitted, isSystemInsn, loadSegment, pendingInterrupt } from './system.ts';
import { GDT, SEL, STACK0, STACK3, TSS, cr, far, imm, insn, long64, mem, prot32, reg, segDesc, writeDesc, CODE_XR } from './sys-testkit.ts';
import { timerProgram, timerTick } from './timer.ts';
import { cpuid } from './sys-ctl.ts';

function faultOf(f: () => void): Fault {
  try {
    f();
  } catch (e) {
    if (e instanceof Fault) return e;
    throw e;
  }
  throw new Error('expected a Fault');
}
const GP0 = { vector: Vec.GP, errorCode: 0 };
const UD = { vector: Vec.UD };

const RAX = 0, RCX = 1, RDX = 2, R11 = 11;

describe('PUSHF/POPF (SDM Vol. 2B, POPF: IF and IOPL silently unchanged when not allowed)', () => {
  it('at CPL 3 with IOPL 0, POPF of an image with IF = 0 and IOPL = 3 changes neither, without a fault; CF loads', () => {
    const cpu = prot32('intel', 3);
    cpu.state.rflags = 0x202;
    cpu.w32(STACK3, 0x3001);
    execSystem(cpu, insn('popfd', [], 4, 1), 0x5001, 0);
    expect(cpu.state.rflags).toBe(0x203);
    expect(cpu.state.regLo[4]).toBe(STACK3 + 4);
    expect(cpu.state.ripLo).toBe(0x5001);
  });

  it('at CPL 0, POPF loads IF and IOPL', () => {
    const cpu = prot32();
    cpu.state.rflags = 0x202;
    cpu.w32(STACK0, 0x3001);
    execSystem(cpu, insn('popfd', [], 4, 1), 0x5001, 0);
    expect(cpu.state.rflags).toBe(0x3003);
  });

  it('at CPL 3 with IOPL 3, POPF loads IF but not IOPL', () => {
    const cpu = prot32('intel', 3);
    cpu.state.rflags = 0x3202;
    cpu.w32(STACK3, 0x0001);
    execSystem(cpu, insn('popfd', [], 4, 1), 0x5001, 0);
    expect(cpu.state.rflags).toBe(0x3003);
  });

  it('POPF with a 16-bit operand leaves RFLAGS bits 31:16 alone, and never sets VM', () => {
    const cpu = prot32();
    cpu.state.rflags = 0x40202; // AC
    cpu.w32(STACK0, 0xffff_0000 | 0x0246);
    execSystem(cpu, insn('popf', [], 2, 2), 0x5002, 0);
    expect(cpu.state.rflags).toBe(0x40246);
    cpu.w32(STACK0 + 2, Flag.VM | 0x2);
    execSystem(cpu, insn('popfd', [], 4, 1), 0x5003, 0);
    expect(cpu.state.rflags & Flag.VM).toBe(0);
  });

  it('PUSHFD pushes RFLAGS with VM and RF clear', () => {
    const cpu = prot32();
    cpu.state.rflags = 0x10202 | Flag.ID;
    execSystem(cpu, insn('pushfd', [], 4, 1), 0x5001, 0);
    expect(cpu.r32(STACK0 - 4)).toBe(0x202 | Flag.ID);
  });
});

describe('CLI/STI and interrupt acceptance', () => {
  it('CLI at CPL 3 with IOPL 0 raises #GP(0); with IOPL 3 it clears IF (SDM Vol. 2A, CLI)', () => {
    const cpu = prot32('intel', 3);
    cpu.state.rflags = 0x202;
    expect(faultOf(() => execSystem(cpu, insn('cli', [], 4, 1), 0x5001, 0))).toMatchObject(GP0);
    cpu.state.rflags = 0x3202;
    execSystem(cpu, insn('cli', [], 4, 1), 0x5001, 0);
    expect(cpu.state.rflags & Flag.IF).toBe(0);
  });

  it('STI blocks interrupts for one instruction; pendingInterrupt honours IF, the shadow and CR8 (SDM Vol. 2B, STI)', () => {
    const cpu = long64();
    cpu.state.rflags = 0x2;
    timerProgram(cpu.state.timer, 0x30, 3);
    timerTick(cpu.state.timer);
    timerTick(cpu.state.timer);
    expect(cpu.state.timer.pending).toBe(false);
    expect(timerTick(cpu.state.timer)).toBe(true);
    expect(pendingInterrupt(cpu)).toBe(-1); // IF = 0
    execSystem(cpu, insn('sti', [], 4, 1), 0x5001, 0);
    expect(cpu.state.interruptShadow).toBe(true);
    expect(pendingInterrupt(cpu)).toBe(-1); // shadow
    cpu.state.interruptShadow = false;
    cpu.state.cr8 = 3;
    expect(pendingInterrupt(cpu)).toBe(-1); // priority class 3 <= TPR 3
    cpu.state.cr8 = 2;
    expect(pendingInterrupt(cpu)).toBe(0x30);
  });

  it('a timer interrupt wakes HLT: delivery pushes the RIP after HLT and clears the request', () => {
    const cpu = long64();
    cpu.state.rflags = 0x202;
    execSystem(cpu, insn('hlt', [], 4, 1), 0x5001, 0);
    expect(cpu.state.halted).toBe(true);
    expect(cpu.state.ripLo).toBe(0x5001);
    timerProgram(cpu.state.timer, 0x20, 1);
    timerTick(cpu.state.timer);
    const a = 0x2000 + 0x20 * 16;
    cpu.w32(a, (SEL.CODE64_0 << 16) | 0x4000);
    cpu.w32(a + 4, 0x8e00);
    deliverExternalInterrupt(cpu, pendingInterrupt(cpu));
    expect(cpu.state.halted).toBe(false);
    expect(cpu.state.timer.pending).toBe(false);
    expect(cpu.state.ripLo).toBe(0x4000);
    expect(cpu.qwords(STACK0 - 40, 1)).toEqual([0x5001n]);
  });

  it('HLT at CPL 3 raises #GP(0)', () => {
    const cpu = prot32('intel', 3);
    expect(faultOf(() => execSystem(cpu, insn('hlt', [], 4, 1), 0x5001, 0))).toMatchObject(GP0);
    expect(cpu.state.halted).toBe(false);
  });
});

describe('I/O permission bitmap (SDM Vol. 1, 19.5.2)', () => {
  it('CPL <= IOPL permits; otherwise the TSS bitmap decides per port, all bits of a multi-byte access, and the TSS limit', () => {
    const cpu = prot32('intel', 3);
    const map = TSS + 0x68;
    cpu.mem.write(map + (0x3f8 >>> 3), 1, 0x00); // ports 0x3f8..0x3ff allowed
    cpu.mem.write(map + (0x60 >>> 3), 1, 0x01); // port 0x60 denied, 0x61.. allowed
    cpu.mem.write(map + (0x70 >>> 3), 1, 0xff);
    expect(ioPermitted(cpu, 0x3f8, 1)).toBe(true);
    expect(ioPermitted(cpu, 0x3f8, 4)).toBe(true);
    expect(ioPermitted(cpu, 0x60, 1)).toBe(false);
    expect(ioPermitted(cpu, 0x61, 1)).toBe(true);
    expect(ioPermitted(cpu, 0x6f, 2)).toBe(false); // 0x70 denied
    expect(ioPermitted(cpu, 0xfff0, 1)).toBe(false); // beyond the TSS limit
    cpu.state.rflags = 0x3002;
    expect(ioPermitted(cpu, 0x60, 1)).toBe(true);
  });
});

describe('SYSCALL/SYSRET (SDM Vol. 2B; AMD APM Vol. 3)', () => {
  function ready(vendor: 'intel' | 'amd' = 'intel', cpl = 3) {
    const cpu = long64(vendor, cpl);
    cpu.state.efer |= 1; // SCE
    cpu.state.msr.set(MSR.IA32_STAR, [0x11223344, (0x40 << 16) | SEL.CODE64_0]);
    cpu.state.msr.set(MSR.IA32_LSTAR, [0x00401000, 0xffffffff]);
    cpu.state.msr.set(MSR.IA32_CSTAR, [0x00402000, 0]);
    cpu.state.msr.set(MSR.IA32_FMASK, [Flag.IF | Flag.TF, 0]);
    cpu.state.rflags = 0x302;
    return cpu;
  }

  it('SYSCALL in 64-bit mode: RCX = next RIP, R11 = RFLAGS, RFLAGS &= ~FMASK, CS/SS from STAR[47:32] with flat caches, RIP = LSTAR', () => {
    const cpu = ready();
    execSystem(cpu, insn('syscall'), 0x5002, 0);
    const st = cpu.state;
    expect([st.regLo[RCX], st.regLo[R11], st.rflags]).toEqual([0x5002, 0x302, 0x2]);
    expect([st.ripLo, st.ripHi]).toEqual([0x00401000, 0xffffffff]);
    const cs = st.seg[Seg.CS]!;
    expect([cs.selector, cs.baseLo, cs.limit, cs.attr]).toEqual([SEL.CODE64_0, 0, 0xffffffff, 0xb | SegAttr.S | SegAttr.P | SegAttr.L | SegAttr.G]);
    const ss = st.seg[Seg.SS]!;
    expect([ss.selector, ss.attr]).toEqual([SEL.CODE64_0 + 8, 0x3 | SegAttr.S | SegAttr.P | SegAttr.DB | SegAttr.G]);
    expect(cpu.cpl()).toBe(0);
  });

  it('SYSCALL: CS.Selector = STAR[47:32] AND FFFCH but SS.Selector = STAR[47:32] + 8 with its RPL bits kept (SDM Vol. 2B, SYSCALL; AMD APM Vol. 3)', () => {
    const cpu = ready();
    cpu.state.msr.set(MSR.IA32_STAR, [0, SEL.CODE64_0 | 3]);
    execSystem(cpu, insn('syscall'), 0x5002, 0);
    expect([cpu.state.seg[Seg.CS]!.selector, cpu.state.seg[Seg.SS]!.selector, cpu.cpl()]).toEqual([SEL.CODE64_0, SEL.CODE64_0 + 8 + 3, 0]);
    const legacy = prot32('amd', 3);
    legacy.state.efer = 1;
    legacy.state.msr.set(MSR.IA32_STAR, [0x6000, SEL.CODE32_0 | 1]);
    execSystem(legacy, insn('syscall'), 0x5002, 0);
    expect([legacy.state.seg[Seg.CS]!.selector, legacy.state.seg[Seg.SS]!.selector]).toEqual([SEL.CODE32_0, SEL.CODE32_0 + 8 + 1]);
  });

  it('SYSCALL and SYSRET with EFER.SCE = 0 raise #UD', () => {
    const cpu = ready();
    cpu.state.efer &= ~1;
    expect(faultOf(() => execSystem(cpu, insn('syscall'), 0x5002, 0))).toMatchObject(UD);
    expect(faultOf(() => execSystem(cpu, insn('sysretq', [], 8), 0x5002, 0))).toMatchObject(UD);
  });

  it('Intel: SYSCALL outside 64-bit mode is #UD; AMD: compatibility mode enters at CSTAR, legacy mode at STAR[31:0]', () => {
    const intel = ready('intel');
    intel.state.seg[Seg.CS]!.attr &= ~SegAttr.L; // compatibility mode
    expect(faultOf(() => execSystem(intel, insn('syscall'), 0x5002, 0))).toMatchObject(UD);
    const amd = ready('amd');
    amd.state.seg[Seg.CS]!.attr = (amd.state.seg[Seg.CS]!.attr & ~SegAttr.L) | SegAttr.DB;
    execSystem(amd, insn('syscall'), 0x5002, 0);
    expect([amd.state.ripLo, amd.state.ripHi, amd.cpl()]).toEqual([0x00402000, 0, 0]);
    expect(amd.state.seg[Seg.CS]!.attr & SegAttr.L).toBe(SegAttr.L);
    const legacy = prot32('amd', 3);
    legacy.state.efer = 1;
    legacy.state.msr.set(MSR.IA32_STAR, [0x11223344, SEL.CODE32_0]);
    legacy.state.rflags = 0x302;
    execSystem(legacy, insn('syscall'), 0x5002, 0);
    expect([legacy.state.ripLo, legacy.state.regLo[RCX], legacy.state.rflags, legacy.cpl()]).toEqual([0x11223344, 0x5002, 0x102, 0]);
    const intel32 = prot32('intel', 3);
    intel32.state.efer = 1;
    expect(faultOf(() => execSystem(intel32, insn('syscall'), 0x5002, 0))).toMatchObject(UD);
  });

  it('SYSRETQ returns to CPL 3 at RCX with RFLAGS from R11 and CS = STAR[63:48]+16; SYSRET (32-bit) to compatibility mode at STAR[63:48]', () => {
    const cpu = ready('intel', 0);
    cpu.state.regLo[RCX] = 0x6000;
    cpu.state.regLo[R11] = 0x10246 | Flag.VM;
    execSystem(cpu, insn('sysretq', [], 8), 0x5003, 0);
    expect([cpu.state.ripLo, cpu.state.seg[Seg.CS]!.selector, cpu.state.seg[Seg.SS]!.selector, cpu.state.rflags]).toEqual([0x6000, 0x53, 0x4b, 0x246]);
    expect(cpu.mode()).toBe('long64');
    const c2 = ready('intel', 0);
    c2.state.regLo[RCX] = 0x7000;
    c2.state.regHi[RCX] = 0x1234;
    execSystem(c2, insn('sysret'), 0x5003, 0);
    expect([c2.state.ripLo, c2.state.ripHi, c2.state.seg[Seg.CS]!.selector]).toEqual([0x7000, 0, 0x43]);
    expect(c2.mode()).toBe('compat');
  });

  it('SYSRET at CPL 3 raises #GP(0)', () => {
    const cpu = ready('intel', 3);
    expect(faultOf(() => execSystem(cpu, insn('sysretq', [], 8), 0x5003, 0))).toMatchObject(GP0);
  });

  it('SYSRETQ to a non-canonical RCX: Intel raises #GP(0) still at CPL 0; AMD returns to CPL 3 with the non-canonical RIP', () => {
    const intel = ready('intel', 0);
    intel.state.regLo[RCX] = 0;
    intel.state.regHi[RCX] = 0x00008000;
    expect(faultOf(() => execSystem(intel, insn('sysretq', [], 8), 0x5003, 0))).toMatchObject(GP0);
    expect(intel.cpl()).toBe(0);
    const amd = ready('amd', 0);
    amd.state.regLo[RCX] = 0;
    amd.state.regHi[RCX] = 0x00008000;
    execSystem(amd, insn('sysretq', [], 8), 0x5003, 0);
    expect([amd.cpl(), amd.state.ripHi]).toEqual([3, 0x8000]);
  });
});

describe('SYSENTER/SYSEXIT (SDM Vol. 2B) and SWAPGS', () => {
  it('SYSENTER with IA32_SYSENTER_CS = 0 raises #GP(0)', () => {
    const cpu = prot32('intel', 3);
    expect(faultOf(() => execSystem(cpu, insn('sysenter'), 0x5002, 0))).toMatchObject(GP0);
  });

  it('SYSENTER loads CS = SYSENTER_CS, SS = +8, ESP/EIP from the MSRs and clears IF; SYSEXIT returns to CS+16|3 / SS+24|3 at EDX with ESP = ECX', () => {
    const cpu = prot32('intel', 3);
    cpu.state.msr.set(MSR.IA32_SYSENTER_CS, [SEL.CODE32_0, 0]);
    cpu.state.msr.set(MSR.IA32_SYSENTER_ESP, [0x8800, 0]);
    cpu.state.msr.set(MSR.IA32_SYSENTER_EIP, [0x7700, 0]);
    cpu.state.rflags = 0x202;
    execSystem(cpu, insn('sysenter'), 0x5002, 0);
    const st = cpu.state;
    expect([st.seg[Seg.CS]!.selector, st.seg[Seg.SS]!.selector, st.regLo[4], st.ripLo, st.rflags]).toEqual([0x08, 0x10, 0x8800, 0x7700, 0x2]);
    expect(faultOf(() => execSystem(prot32('intel', 3), insn('sysexit'), 0, 0))).toMatchObject(GP0);
    st.regLo[RCX] = 0x6ff0;
    st.regLo[RDX] = 0x5555;
    execSystem(cpu, insn('sysexit'), 0x7702, 0);
    expect([st.seg[Seg.CS]!.selector, st.seg[Seg.SS]!.selector, st.regLo[4], st.ripLo, cpu.cpl()]).toEqual([0x1b, 0x23, 0x6ff0, 0x5555, 3]);
  });

  it('SYSEXITQ returns to 64-bit mode with CS = SYSENTER_CS+32|3; AMD raises #UD for SYSENTER in long mode', () => {
    const cpu = long64();
    cpu.state.msr.set(MSR.IA32_SYSENTER_CS, [SEL.CODE32_0, 0]);
    cpu.state.regLo[RCX] = 0x6000;
    cpu.state.regLo[RDX] = 0x5000;
    cpu.state.regHi[RDX] = 0x7fff;
    execSystem(cpu, insn('sysexitq', [], 8), 0x5003, 0);
    expect([cpu.state.seg[Seg.CS]!.selector, cpu.state.seg[Seg.SS]!.selector, cpu.state.ripHi, cpu.mode()]).toEqual([0x2b, 0x33, 0x7fff, 'long64']);
    const amd = long64('amd');
    amd.state.msr.set(MSR.IA32_SYSENTER_CS, [SEL.CODE32_0, 0]);
    expect(faultOf(() => execSystem(amd, insn('sysenter'), 0x5002, 0))).toMatchObject(UD);
  });

  it('SWAPGS exchanges GS.base and IA32_KERNEL_GS_BASE at CPL 0 in 64-bit mode; #GP(0) at CPL 3; #UD outside 64-bit mode', () => {
    const cpu = long64();
    cpu.state.seg[Seg.GS]!.baseLo = 0x1111;
    cpu.state.msr.set(MSR.IA32_KERNEL_GS_BASE, [0x2222, 0xffff8000]);
    execSystem(cpu, insn('swapgs', [], 4, 3), 0x5003, 0);
    expect([cpu.state.seg[Seg.GS]!.baseLo, cpu.state.seg[Seg.GS]!.baseHi]).toEqual([0x2222, 0xffff8000]);
    expect(cpu.state.msr.get(MSR.IA32_KERNEL_GS_BASE)).toEqual([0x1111, 0]);
    expect(faultOf(() => execSystem(long64('intel', 3), insn('swapgs', [], 4, 3), 0, 0))).toMatchObject(GP0);
    expect(faultOf(() => execSystem(prot32(), insn('swapgs', [], 4, 3), 0, 0))).toMatchObject(UD);
  });
});

describe('LAR/LSL/VERR/VERW (SDM Vol. 3A, 5.10.1)', () => {
  function run(cpu: ReturnType<typeof prot32>, m: string, sel: number, opSize: 2 | 4 = 4): { zf: boolean; out: number } {
    cpu.state.regLo[RAX] = 0xdeadbeef;
    cpu.state.regLo[RCX] = sel;
    const ops = m === 'verr' || m === 'verw' ? [reg(RCX, 2)] : [reg(RAX, opSize), reg(RCX, 2)];
    execSystem(cpu, insn(m, ops, opSize, 3), 0x5003, 0);
    return { zf: (cpu.state.rflags & Flag.ZF) !== 0, out: cpu.state.regLo[RAX]! };
  }

  it('LAR of a DPL 3 data segment at CPL 3 sets ZF and loads the access rights masked with 00F0FF00H', () => {
    const cpu = prot32('intel', 3);
    const hi = cpu.r32(GDT + (SEL.DATA_3 & ~7) + 4);
    expect(run(cpu, 'lar', SEL.DATA_3)).toEqual({ zf: true, out: (hi & 0x00f0ff00) >>> 0 });
    expect(run(cpu, 'lar', SEL.DATA_3, 2)).toEqual({ zf: true, out: (0xdead0000 | (hi & 0xff00)) >>> 0 });
  });

  it('LAR of a DPL 0 segment at CPL 3 clears ZF and leaves the destination; a null selector clears ZF; conforming code is visible at any CPL', () => {
    const cpu = prot32('intel', 3);
    cpu.state.rflags |= Flag.ZF;
    expect(run(cpu, 'lar', SEL.DATA_0)).toEqual({ zf: false, out: 0xdeadbeef });
    expect(run(cpu, 'lar', 0).zf).toBe(false);
    expect(run(cpu, 'lar', SEL.CONF_0).zf).toBe(true);
    expect(run(cpu, 'lar', 0xff8).zf).toBe(false); // beyond the GDT limit
  });

  it('RPL counts: a DPL 2 segment named with RPL 3 is invisible even at CPL 0', () => {
    const cpu = prot32();
    expect(run(cpu, 'lar', (SEL.DATA_2 & ~3) | 2).zf).toBe(true);
    expect(run(cpu, 'lar', SEL.DATA_2 | 3).zf).toBe(false);
  });

  it('LSL returns the byte-granular limit (G scales it); accepts a TSS but not a call gate; LAR accepts the call gate', () => {
    const cpu = prot32();
    expect(run(cpu, 'lsl', SEL.DATA_2 & ~3)).toEqual({ zf: true, out: 0xffff });
    expect(run(cpu, 'lsl', SEL.DATA_RO_3)).toEqual({ zf: true, out: 0x1234 });
    expect(run(cpu, 'lsl', SEL.TSS32).zf).toBe(true);
    expect(run(cpu, 'lsl', SEL.CALLGATE).zf).toBe(false);
    expect(run(cpu, 'lar', SEL.CALLGATE).zf).toBe(true);
  });

  it('VERR: data and readable code yes, execute-only code no; VERW: writable data only', () => {
    const cpu = prot32('intel', 3);
    expect(run(cpu, 'verr', SEL.DATA_RO_3).zf).toBe(true);
    expect(run(cpu, 'verr', SEL.CODE32_3).zf).toBe(true);
    expect(run(cpu, 'verr', SEL.CODE_XO_3).zf).toBe(false);
    expect(run(cpu, 'verw', SEL.DATA_3).zf).toBe(true);
    expect(run(cpu, 'verw', SEL.DATA_RO_3).zf).toBe(false);
    expect(run(cpu, 'verw', SEL.CODE32_3).zf).toBe(false);
    expect(run(cpu, 'verw', SEL.DATA_0).zf).toBe(false); // DPL 0 from CPL 3
  });
});

describe('descriptor-table instructions', () => {
  it('LTR marks the TSS descriptor busy in memory and loads TR; LTR of a busy TSS raises #GP(selector); at CPL 3 #GP(0); null #GP(0)', () => {
    const cpu = prot32();
    const hiAddr = GDT + (SEL.TSS32 & ~7) + 4;
    cpu.w32(hiAddr, cpu.r32(hiAddr) & ~0x200); // available
    cpu.state.regLo[RAX] = SEL.TSS32;
    execSystem(cpu, insn('ltr', [reg(RAX, 2)], 2, 3), 0x5003, 0);
    expect((cpu.r32(hiAddr) >>> 8) & 0xf).toBe(0xb);
    expect([cpu.state.tr.selector, cpu.state.tr.baseLo, cpu.state.tr.attr & 0xf]).toEqual([SEL.TSS32, TSS, 0xb]);
    expect(faultOf(() => execSystem(cpu, insn('ltr', [reg(RAX, 2)], 2, 3), 0x5003, 0))).toMatchObject({ vector: Vec.GP, errorCode: SEL.TSS32 });
    cpu.state.regLo[RAX] = 0;
    expect(faultOf(() => execSystem(cpu, insn('ltr', [reg(RAX, 2)], 2, 3), 0x5003, 0))).toMatchObject(GP0);
    const user = prot32('intel', 3);
    user.state.regLo[RAX] = SEL.TSS32;
    expect(faultOf(() => execSystem(user, insn('ltr', [reg(RAX, 2)], 2, 3), 0x5003, 0))).toMatchObject(GP0);
  });

  it('IA-32e mode: LTR and LLDT of a 16-byte descriptor whose upper type field (bits 12:8 of its 4th dword) is non-zero raise #GP(selector) (SDM Vol. 2A, LTR and LLDT, 64-bit mode exceptions)', () => {
    const cpu = long64();
    const tssHi = GDT + (SEL.TSS64 & ~7) + 4;
    cpu.w32(tssHi, cpu.r32(tssHi) & ~0x200); // available
    cpu.w32(GDT + (SEL.TSS64 & ~7) + 12, 0x00000900); // upper 8 bytes with a type field
    cpu.state.regLo[RAX] = SEL.TSS64;
    expect(faultOf(() => execSystem(cpu, insn('ltr', [reg(RAX, 2)], 2, 3), 0x5003, 0))).toMatchObject({ vector: Vec.GP, errorCode: SEL.TSS64 });
    expect((cpu.r32(tssHi) >>> 8) & 0xf).toBe(9); // not marked busy
    cpu.w32(GDT + (SEL.TSS64 & ~7) + 12, 0);
    execSystem(cpu, insn('ltr', [reg(RAX, 2)], 2, 3), 0x5003, 0);
    expect(cpu.state.tr.selector).toBe(SEL.TSS64);
    const ldtSel = 0xa8; // a 16-byte LDT descriptor in GDT slots 0xa8 and 0xb0
    cpu.state.gdtr.limit = 0xb7;
    writeDesc(cpu, GDT, ldtSel, segDesc({ base: 0x3800, limit: 0xff, type: 2, s: false, g: false, db: false }));
    writeDesc(cpu, GDT, ldtSel + 8, [0, 0x00000200]);
    cpu.state.regLo[RAX] = ldtSel;
    expect(faultOf(() => execSystem(cpu, insn('lldt', [reg(RAX, 2)], 2, 3), 0x5003, 0))).toMatchObject({ vector: Vec.GP, errorCode: ldtSel });
    writeDesc(cpu, GDT, ldtSel + 8, [0, 0]);
    execSystem(cpu, insn('lldt', [reg(RAX, 2)], 2, 3), 0x5003, 0);
    expect([cpu.state.ldtr.selector, cpu.state.ldtr.baseLo]).toEqual([ldtSel, 0x3800]);
  });

  it('SGDT, SIDT, SLDT, STR and SMSW work at CPL 3 (not privileged: the virtualization hole); LGDT and LLDT at CPL 3 raise #GP(0)', () => {
    const cpu = prot32('intel', 3);
    execSystem(cpu, insn('sgdt', [mem(0x6800, 6)]), 0x5003, 0);
    expect(cpu.mem.read(0x6800, 2)).toBe(cpu.state.gdtr.limit);
    expect(cpu.r32(0x6802)).toBe(GDT);
    execSystem(cpu, insn('sidt', [mem(0x6810, 6)]), 0x5003, 0);
    expect(cpu.r32(0x6812)).toBe(0x2000);
    execSystem(cpu, insn('str', [reg(RAX, 4)]), 0x5003, 0);
    expect(cpu.state.regLo[RAX]).toBe(SEL.TSS32);
    execSystem(cpu, insn('smsw', [reg(RAX, 4)]), 0x5003, 0);
    expect(cpu.state.regLo[RAX]).toBe(0x60000011);
    expect(faultOf(() => execSystem(cpu, insn('lgdt', [mem(0x6800, 6)]), 0x5003, 0))).toMatchObject(GP0);
    expect(faultOf(() => execSystem(cpu, insn('lldt', [reg(RAX, 2)], 2), 0x5003, 0))).toMatchObject(GP0);
  });

  it('SGDT in 64-bit mode stores a 10-byte pseudo-descriptor; LGDT loads one', () => {
    const cpu = long64();
    cpu.w32(0x6800, 0x12340000 | 0x0fff);
    cpu.w32(0x6804, 0x5678abcd);
    cpu.w32(0x6808, 0xffff);
    execSystem(cpu, insn('lgdt', [mem(0x6800, 10, Seg.DS, 8)], 8), 0x5003, 0);
    expect(cpu.state.gdtr).toEqual({ limit: 0x0fff, baseLo: 0xabcd1234, baseHi: 0xffff5678 });
    execSystem(cpu, insn('sgdt', [mem(0x6900, 10, Seg.DS, 8)], 8), 0x5003, 0);
    expect(cpu.dwords(0x6900, 3)).toEqual([0x12340fff, 0x5678abcd, 0xffff]);
  });
});

describe('MOV to control registers (SDM Vol. 2B, MOV CRn; Vol. 3A, 2.5, 4.4.1)', () => {
  const movCr = (n: number, r = RAX) => insn('mov', [cr(n), reg(r)], 4, 3);

  it('at CPL 3 raises #GP(0) for MOV to and from CRn', () => {
    const cpu = prot32('intel', 3);
    expect(faultOf(() => execSystem(cpu, movCr(0), 0x5003, 0))).toMatchObject(GP0);
    expect(faultOf(() => execSystem(cpu, insn('mov', [reg(RAX), cr(3)]), 0x5003, 0))).toMatchObject(GP0);
  });

  it('CR0: PG without PE, or NW without CD, raise #GP(0)', () => {
    const cpu = prot32();
    cpu.state.regLo[RAX] = 0x80000010;
    expect(faultOf(() => execSystem(cpu, movCr(0), 0x5003, 0))).toMatchObject(GP0);
    cpu.state.regLo[RAX] = 0x20000011;
    expect(faultOf(() => execSystem(cpu, movCr(0), 0x5003, 0))).toMatchObject(GP0);
  });

  it('CR0.PG with EFER.LME: #GP(0) without CR4.PAE; with it EFER.LMA becomes 1 and the TLB is flushed (SDM Vol. 3A, 10.8.5)', () => {
    const cpu = prot32();
    cpu.state.efer = 0x100;
    cpu.state.regLo[RAX] = 0x80000011;
    expect(faultOf(() => execSystem(cpu, movCr(0), 0x5003, 0))).toMatchObject(GP0);
    cpu.state.cr4 = 0x20;
    cpu.state.cr3Lo = 0x10000;
    execSystem(cpu, movCr(0), 0x5003, 0);
    expect(cpu.state.efer).toBe(0x500);
    expect(cpu.flushes).toEqual(['all+global']);
    expect(cpu.mode()).toBe('compat');
  });

  it('CR4: a reserved bit (VMXE without VMX, SMEP) raises #GP(0); clearing PAE in IA-32e mode raises #GP(0)', () => {
    const cpu = long64();
    for (const v of [0x20 | (1 << 13), 0x20 | (1 << 20), 0]) {
      cpu.state.regLo[RAX] = v;
      expect(faultOf(() => execSystem(cpu, insn('mov', [cr(4), reg(RAX, 8)], 8, 3), 0x5003, 0))).toMatchObject(GP0);
    }
  });

  it('CR4.PGE toggle flushes global entries too; CR3 write flushes non-global entries', () => {
    const cpu = long64();
    cpu.state.regLo[RAX] = 0x20 | 0x80;
    execSystem(cpu, insn('mov', [cr(4), reg(RAX, 8)], 8, 3), 0x5003, 0);
    cpu.state.regLo[RAX] = 0x20000;
    execSystem(cpu, insn('mov', [cr(3), reg(RAX, 8)], 8, 3), 0x5003, 0);
    expect(cpu.flushes).toEqual(['all+global', 'all']);
    expect(cpu.state.cr3Lo).toBe(0x20000);
  });

  it('CR3 in IA-32e mode: bits at or above MAXPHYADDR raise #GP(0)', () => {
    const cpu = long64();
    cpu.state.regLo[RAX] = 0x1000;
    cpu.state.regHi[RAX] = 0x10000; // bit 48
    expect(faultOf(() => execSystem(cpu, insn('mov', [cr(3), reg(RAX, 8)], 8, 3), 0x5003, 0))).toMatchObject(GP0);
  });

  it('PAE paging: MOV to CR3 loads the four PDPTEs; a present PDPTE with a reserved bit raises #GP(0) and CR3 is unchanged', () => {
    const cpu = prot32();
    cpu.state.cr4 = 0x20;
    cpu.state.cr0 = 0xe0000011;
    const base = 0x20000;
    cpu.w32(base, 0x30001);
    cpu.w32(base + 8, 0x31001);
    cpu.state.regLo[RAX] = base;
    execSystem(cpu, movCr(3), 0x5003, 0);
    expect(Array.from(cpu.state.pdpte)).toEqual([0x30001, 0, 0x31001, 0, 0, 0, 0, 0]);
    cpu.w32(base + 0x40, 0x32001 | 0x2); // bit 1 reserved in a PDPTE
    cpu.state.regLo[RAX] = base + 0x40;
    expect(faultOf(() => execSystem(cpu, movCr(3), 0x5003, 0))).toMatchObject(GP0);
    expect(cpu.state.cr3Lo).toBe(base);
  });

  it('CR8 accepts 0..15 in 64-bit mode and raises #GP(0) for bits 63:4', () => {
    const cpu = long64();
    cpu.state.regLo[RAX] = 0x10;
    expect(faultOf(() => execSystem(cpu, insn('mov', [cr(8), reg(RAX, 8)], 8, 4), 0x5004, 0))).toMatchObject(GP0);
    cpu.state.regLo[RAX] = 0xf;
    execSystem(cpu, insn('mov', [cr(8), reg(RAX, 8)], 8, 4), 0x5004, 0);
    expect(cpu.state.cr8).toBe(0xf);
  });

  it('LMSW cannot clear CR0.PE; CLTS clears TS; at CPL 3 both raise #GP(0)', () => {
    const cpu = prot32();
    cpu.state.cr0 |= 8;
    cpu.state.regLo[RAX] = 0x0;
    execSystem(cpu, insn('lmsw', [reg(RAX, 2)], 2), 0x5003, 0);
    expect(cpu.state.cr0 & 0xf).toBe(1);
    cpu.state.cr0 |= 8;
    execSystem(cpu, insn('clts'), 0x5002, 0);
    expect(cpu.state.cr0 & 8).toBe(0);
    const user = prot32('intel', 3);
    expect(faultOf(() => execSystem(user, insn('clts'), 0x5002, 0))).toMatchObject(GP0);
    expect(faultOf(() => execSystem(user, insn('lmsw', [reg(RAX, 2)], 2), 0x5002, 0))).toMatchObject(GP0);
  });

  it('INVLPG at CPL 0 invalidates the linear address (segment base added); at CPL 3 #GP(0)', () => {
    const cpu = prot32();
    execSystem(cpu, insn('invlpg', [mem(0x123456, 0)]), 0x5003, 0);
    expect(cpu.flushes).toEqual(['invlpg 0:123456']);
    expect(faultOf(() => execSystem(prot32('intel', 3), insn('invlpg', [mem(0x1000, 0)]), 0x5003, 0))).toMatchObject(GP0);
  });
});

describe('RDMSR/WRMSR (SDM Vol. 4, Table 2-2)', () => {
  function wrmsr(cpu: ReturnType<typeof long64>, index: number, lo: number, hi: number): void {
    cpu.state.regLo[RCX] = index;
    cpu.state.regLo[RAX] = lo;
    cpu.state.regLo[RDX] = hi;
    execSystem(cpu, insn('wrmsr'), 0x5002, 0);
  }
  function rdmsr(cpu: ReturnType<typeof long64>, index: number): [number, number] {
    cpu.state.regLo[RCX] = index;
    execSystem(cpu, insn('rdmsr'), 0x5002, 0);
    return [cpu.state.regLo[RAX]!, cpu.state.regLo[RDX]!];
  }

  it('an unknown MSR raises #GP(0); RDMSR/WRMSR at CPL 3 raise #GP(0)', () => {
    expect(faultOf(() => rdmsr(long64(), 0x12345))).toMatchObject(GP0);
    expect(faultOf(() => wrmsr(long64(), 0x12345, 0, 0))).toMatchObject(GP0);
    expect(faultOf(() => rdmsr(long64('intel', 3), MSR.IA32_EFER))).toMatchObject(GP0);
  });

  it('EFER: reserved bits raise #GP(0); LME cannot change while CR0.PG = 1; a write to LMA is ignored; SVME only on AMD', () => {
    const cpu = long64();
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_EFER, 0x501 | (1 << 2), 0))).toMatchObject(GP0);
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_EFER, 0x400, 0))).toMatchObject(GP0);
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_EFER, 0x1500, 0))).toMatchObject(GP0);
    wrmsr(cpu, MSR.IA32_EFER, 0x901, 0); // SCE, NXE, LME; LMA omitted
    expect(rdmsr(cpu, MSR.IA32_EFER)).toEqual([0xd01, 0]);
    const amd = long64('amd');
    wrmsr(amd, MSR.IA32_EFER, 0x1500, 0);
    expect(amd.state.efer).toBe(0x1500);
  });

  it('LSTAR, KERNEL_GS_BASE, FS_BASE need canonical addresses; FS_BASE writes the FS base', () => {
    const cpu = long64();
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_LSTAR, 0, 0x0100_0000))).toMatchObject(GP0);
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_KERNEL_GS_BASE, 0, 0x7f00_0000))).toMatchObject(GP0);
    wrmsr(cpu, MSR.IA32_FS_BASE, 0x1000, 0xffff8000);
    expect([cpu.state.seg[Seg.FS]!.baseLo, cpu.state.seg[Seg.FS]!.baseHi]).toEqual([0x1000, 0xffff8000]);
    expect(rdmsr(cpu, MSR.IA32_FS_BASE)).toEqual([0x1000, 0xffff8000]);
  });

  it('WRMSR canonicality is relative to 57 bits on a processor that supports 5-level paging, whatever CR4.LA57 says (SDM Vol. 3A, 4.1.1 and 4.5; LAM: MSR writes stay 57-bit canonical)', () => {
    const cpu = long64();
    expect(cpu.state.cr4 & (1 << 12)).toBe(0); // 4-level paging
    wrmsr(cpu, MSR.IA32_LSTAR, 0, 0x0080_0000); // 0x0080_0000_0000_0000: 57-bit canonical, not 48-bit
    expect(rdmsr(cpu, MSR.IA32_LSTAR)).toEqual([0, 0x0080_0000]);
    wrmsr(cpu, MSR.IA32_GS_BASE, 0, 0xff00_8000);
    expect(cpu.state.seg[Seg.GS]!.baseHi).toBe(0xff00_8000);
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_FS_BASE, 0, 0xfe00_0000))).toMatchObject(GP0);
  });

  it('without LA57 (CPUID.7.0:ECX[16] = 0) MSR addresses are 48-bit canonical, CPUID says so, and CR4.LA57 cannot be set', () => {
    const cpu = long64();
    cpu.features = { la57: false };
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_LSTAR, 0, 0x0080_0000))).toMatchObject(GP0);
    wrmsr(cpu, MSR.IA32_LSTAR, 0, 0xffff_8000);
    expect(rdmsr(cpu, MSR.IA32_LSTAR)).toEqual([0, 0xffff_8000]);
    expect(cpuid('intel', 7, 0, cpu.features)[2] & (1 << 16)).toBe(0);
    expect((cpuid('intel', 0x80000008, 0, cpu.features)[0] >>> 8) & 0xff).toBe(48);
    expect((cpuid('intel', 0x80000008, 0, {})[0] >>> 8) & 0xff).toBe(57);
  });

  it('PAT rejects reserved memory types 2, 3 and > 7; TSC reads back what was written', () => {
    const cpu = long64();
    expect(rdmsr(cpu, MSR.IA32_PAT)).toEqual([0x00070406, 0x00070406]);
    expect(faultOf(() => wrmsr(cpu, MSR.IA32_PAT, 0x02, 0))).toMatchObject(GP0);
    wrmsr(cpu, MSR.IA32_TIME_STAMP_COUNTER, 5, 1);
    expect(cpu.state.tsc).toBe(2 ** 32 + 5);
    expect(rdmsr(cpu, MSR.IA32_TIME_STAMP_COUNTER)).toEqual([5, 1]);
  });
});

describe('CPUID, RDTSC and the VMX/SVM instructions', () => {
  it('CPUID leaf 0 returns the vendor string by state.vendor; 0x80000001 reports LM, NX, SYSCALL', () => {
    for (const [vendor, id] of [['intel', 'GenuineIntel'], ['amd', 'AuthenticAMD']] as const) {
      const cpu = long64(vendor);
      cpu.state.regLo[RAX] = 0;
      execSystem(cpu, insn('cpuid'), 0x5002, 0);
      const s = [cpu.state.regLo[3]!, cpu.state.regLo[RDX]!, cpu.state.regLo[RCX]!].map((v) => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24)).join('');
      expect(s).toBe(id);
    }
    const cpu = long64();
    cpu.state.regLo[RAX] = 0x80000001;
    execSystem(cpu, insn('cpuid'), 0x5002, 0);
    const edx = cpu.state.regLo[RDX]!;
    expect([(edx >>> 29) & 1, (edx >>> 20) & 1, (edx >>> 11) & 1]).toEqual([1, 1, 1]);
  });

  it('CPUID.80000001H:EDX[26] (Page1GB) follows CpuCore.features.page1gb (default on)', () => {
    const run = (page1gb: boolean | undefined): number => {
      const cpu = long64();
      if (page1gb !== undefined) Object.assign(cpu, { features: { page1gb } });
      cpu.state.regLo[RAX] = 0x80000001;
      execSystem(cpu, insn('cpuid'), 0x5002, 0);
      return (cpu.state.regLo[RDX]! >>> 26) & 1;
    };
    expect([run(undefined), run(true), run(false)]).toEqual([1, 1, 0]);
  });

  it('RDTSC returns state.tsc in EDX:EAX; with CR4.TSD at CPL 3 it raises #GP(0)', () => {
    const cpu = prot32('intel', 3);
    cpu.state.tsc = 2 ** 32 * 3 + 7;
    execSystem(cpu, insn('rdtsc'), 0x5002, 0);
    expect([cpu.state.regLo[RAX], cpu.state.regLo[RDX]]).toEqual([7, 3]);
    cpu.state.cr4 |= 4;
    expect(faultOf(() => execSystem(cpu, insn('rdtsc'), 0x5002, 0))).toMatchObject(GP0);
  });

  it('VMX and SVM instructions outside VMX/SVM operation raise #UD (VMCALL included); SVM ones with SVME at CPL 3 raise #GP(0) on AMD', () => {
    for (const m of ['vmcall', 'vmxon', 'vmlaunch', 'vmresume', 'vmread', 'vmrun', 'vmmcall', 'stgi']) {
      expect(faultOf(() => execSystem(long64(), insn(m), 0x5003, 0))).toMatchObject(UD);
    }
    const amd = long64('amd', 3);
    amd.state.efer |= 0x1000;
    expect(faultOf(() => execSystem(amd, insn('vmrun'), 0x5003, 0))).toMatchObject(GP0);
  });
});

describe('segment loads (SDM Vol. 2B, MOV Sreg)', () => {
  it('SS: null is #GP(0) in protected mode but allowed at CPL 0 in 64-bit mode; DPL ≠ CPL is #GP(selector); not present is #SS(selector)', () => {
    const cpu = prot32();
    expect(faultOf(() => loadSegment(cpu, Seg.SS, 0))).toMatchObject(GP0);
    expect(faultOf(() => loadSegment(cpu, Seg.SS, SEL.DATA_3))).toMatchObject({ vector: Vec.GP, errorCode: SEL.DATA_3 & ~3 });
    expect(faultOf(() => loadSegment(cpu, Seg.SS, SEL.DATA_NP_0))).toMatchObject({ vector: Vec.SS, errorCode: SEL.DATA_NP_0 });
    const l = long64();
    loadSegment(l, Seg.SS, 0);
    expect(l.state.seg[Seg.SS]!.selector).toBe(0);
    expect(faultOf(() => loadSegment(long64('intel', 3), Seg.SS, 3))).toMatchObject(GP0);
  });

  it('DS: a DPL 0 segment at CPL 3 is #GP(selector); execute-only code is #GP(selector); not present is #NP; a load sets the accessed bit', () => {
    const cpu = prot32('intel', 3);
    expect(faultOf(() => loadSegment(cpu, Seg.DS, SEL.DATA_0))).toMatchObject({ vector: Vec.GP, errorCode: SEL.DATA_0 });
    expect(faultOf(() => loadSegment(cpu, Seg.DS, SEL.CODE_XO_3))).toMatchObject({ vector: Vec.GP, errorCode: SEL.CODE_XO_3 & ~3 });
    expect(faultOf(() => loadSegment(prot32(), Seg.DS, SEL.DATA_NP_0))).toMatchObject({ vector: Vec.NP, errorCode: SEL.DATA_NP_0 });
    loadSegment(cpu, Seg.DS, SEL.DATA_RO_3);
    expect((cpu.r32(GDT + (SEL.DATA_RO_3 & ~7) + 4) >>> 8) & 1).toBe(1);
    expect(cpu.state.seg[Seg.DS]!.limit).toBe(0x1234);
  });

  it('a null FS in 64-bit mode clears the base on Intel and keeps it on AMD', () => {
    for (const [vendor, base] of [['intel', 0], ['amd', 0x4000]] as const) {
      const cpu = long64(vendor);
      cpu.state.seg[Seg.FS]!.baseLo = 0x4000;
      loadSegment(cpu, Seg.FS, 0);
      expect(cpu.state.seg[Seg.FS]!.baseLo).toBe(base);
    }
  });
});

describe('far JMP/CALL/RETF (SDM Vol. 2A JMP/CALL, Vol. 2B RET)', () => {
  it('far JMP to a non-conforming segment needs DPL = CPL; to conforming DPL <= CPL keeps CPL', () => {
    const cpu = prot32('intel', 3);
    expect(faultOf(() => execSystem(cpu, insn('jmp', [far(SEL.CODE32_0, 0x1000)], 4, 7), 0x5007, 0))).toMatchObject({ vector: Vec.GP, errorCode: SEL.CODE32_0 });
    execSystem(cpu, insn('jmp', [far(SEL.CONF_0, 0x1000)], 4, 7), 0x5007, 0);
    expect([cpu.state.seg[Seg.CS]!.selector, cpu.state.ripLo, cpu.cpl()]).toEqual([SEL.CONF_0 | 3, 0x1000, 3]);
  });

  it('far CALL pushes CS and the return EIP; RETF returns; a call gate target is #GP(selector) (not modelled)', () => {
    const cpu = prot32();
    writeDesc(cpu, GDT, 0xa8, segDesc({ type: CODE_XR, limit: 0xfff, g: false }));
    cpu.state.gdtr.limit = 0xaf;
    expect(faultOf(() => execSystem(cpu, insn('call', [far(0xa8, 0x2000)], 4, 7), 0x5007, 0))).toMatchObject(GP0); // beyond limit
    execSystem(cpu, insn('call', [far(SEL.CODE16_0 & ~0, 0x1234)], 4, 7), 0x5007, 0);
    expect(cpu.dwords(STACK0 - 8, 2)).toEqual([0x5007, SEL.CODE32_0]);
    expect([cpu.state.seg[Seg.CS]!.selector, cpu.state.ripLo, cpu.mode()]).toEqual([SEL.CODE16_0, 0x1234, 'prot16']);
    execSystem(cpu, insn('retf', [], 4, 2), 0x1236, 0);
    expect([cpu.state.seg[Seg.CS]!.selector, cpu.state.ripLo, cpu.state.regLo[4], cpu.mode()]).toEqual([SEL.CODE32_0, 0x5007, STACK0, 'prot32']);
    expect(faultOf(() => execSystem(cpu, insn('call', [far(SEL.CALLGATE, 0)], 4, 7), 0x5007, 0))).toMatchObject({ vector: Vec.GP, errorCode: SEL.CALLGATE });
  });

  it('RETF to an outer level pops SS:ESP and adds the immediate to both stacks', () => {
    const cpu = prot32();
    [0x6000, SEL.CODE32_3, 0xaaaa, 0xbbbb, STACK3 + 0x100, SEL.DATA_3].forEach((v, i) => cpu.w32(STACK0 + 4 * i, v));
    execSystem(cpu, insn('retf', [imm(8, 2)], 4, 3), 0x5003, 0);
    expect([cpu.cpl(), cpu.state.ripLo, cpu.state.seg[Seg.SS]!.selector, cpu.state.regLo[4]]).toEqual([3, 0x6000, SEL.DATA_3, STACK3 + 0x108]);
  });

  it('far JMP through m16:64 in 64-bit mode to a 64-bit segment; isSystemInsn routes far forms only', () => {
    const cpu = long64();
    cpu.w32(0x6800, 0x1000);
    cpu.w32(0x6804, 0xffff8000);
    cpu.mem.write(0x6808, 2, SEL.CODE64_0);
    const j = insn('jmp', [mem(0x6800, 10, Seg.DS, 8)], 8, 3);
    expect(isSystemInsn(j)).toBe(true);
    expect(isSystemInsn(insn('jmp', [mem(0x6800, 8, Seg.DS, 8)], 8, 3))).toBe(false);
    expect(isSystemInsn(insn('mov', [cr(0), reg(RAX)]))).toBe(true);
    expect(isSystemInsn(insn('mov', [reg(RAX), reg(RCX)]))).toBe(false);
    execSystem(cpu, j, 0x5003, 0);
    expect([cpu.state.ripLo, cpu.state.ripHi]).toEqual([0x1000, 0xffff8000]);
  });
});
