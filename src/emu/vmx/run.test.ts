/**
 * VMX non-root operation on the lab's Cpu: real guest programs (assembled with the lab's assembler)
 * run under VT-x through runGuest. For each exit: it happens under its control, with the exit
 * reason, qualification, instruction length and information, and the saved guest RIP; and with the
 * control off the instruction runs in the guest (the program reaches a later VMCALL, which always
 * exits). Exit-reason numbers and qualification layouts are the lab's tables, which
 * tests/oracle/vmx-reference.test.ts checks against the reference.
 */
import { describe, expect, it } from 'vitest';
import type { BareMachine } from '../machine/bare.ts';
import { CR0, CR4 } from '../cpu/sys-util.ts';
import { Flag } from '../cpu/state.ts';
import { timerProgram, timerStop } from '../cpu/timer.ts';
import { cpuid } from '../cpu/sys-ctl.ts';
import { Entry, Exit, Pin, Primary, Secondary } from './controls.ts';
import { ExitReason } from './exit-reasons.ts';
import { decodeCrAccess, decodeEptViolation, decodeInterruptionInfo, decodeIo, encodeInterruptionInfo, InterruptionType } from './qualification.ts';

import { VMCS_PA } from './testkit.ts';
import { MsiInterruptSink, decodeMsi } from '../dev/msi.ts';
import { at, base, exitAt, GUEST, postedFields, IDT, IO_A, IO_B, len, MSR_BITMAP, primary, qual, RSP, runsThrough, vm, type Vm } from './guest-testkit.ts';

describe('unconditional and simple instruction exits', () => {
  it('CPUID always exits, with its length, RIP at the instruction and the leaf untouched', () => {
    const v = vm('mov eax, 1\nt: cpuid\nvmcall');
    exitAt(v, ExitReason.CPUID!);
    expect(len(v)).toBe(2);
    expect(v.reg(0)).toBe(1n);
  });

  it('VMCALL always exits (length 3)', () => {
    const v = vm('nop\nt: vmcall');
    exitAt(v, ExitReason.VMCALL!);
    expect(len(v)).toBe(3);
  });

  it('HLT exits under HLT exiting; without it the guest halts and nothing wakes it', () => {
    const on = vm('nop\nt: hlt', primary(Primary.HLT_EXITING!));
    exitAt(on, ExitReason.HLT!);
    expect(len(on)).toBe(1);
    expect(on.rd('GUEST_ACTIVITY_STATE')).toBe(0n);
    const off = vm('nop\nt: hlt');
    expect(off.run().kind).toBe('halted');
    expect(off.vmx.state.mode).toBe('non-root');
  });

  it('INVLPG exits with the linear address as qualification', () => {
    const src = 'mov rax, 0x1000\nt: invlpg [rax+0x10]\nafter: vmcall';
    const on = vm(src, primary(Primary.INVLPG_EXITING!));
    exitAt(on, ExitReason.INVLPG!);
    expect(qual(on)).toBe(0x1010n);
    expect(len(on)).toBe(4);
    runsThrough(vm(src));
  });

  it('RDTSC exits under RDTSC exiting', () => {
    const src = 't: rdtsc\nafter: vmcall';
    const on = vm(src, primary(Primary.RDTSC_EXITING!));
    exitAt(on, ExitReason.RDTSC!);
    expect(len(on)).toBe(2);
    runsThrough(vm(src));
  });

  it('TSC offsetting: RDTSC in the guest reads TSC + offset (modulo 2^64)', () => {
    const src = 'nop\nrdtsc\nafter: vmcall';
    const plain = vm(src);
    runsThrough(plain);
    const tsc = (plain.reg(2) << 32n) | plain.reg(0);
    const off = vm(src, { ...primary(Primary.USE_TSC_OFFSETTING!), TSC_OFFSET: BigInt.asUintN(64, -1n) });
    runsThrough(off);
    expect((off.reg(2) << 32n) | off.reg(0)).toBe(tsc - 1n);
    const wrap = vm(src, { ...primary(Primary.USE_TSC_OFFSETTING!), TSC_OFFSET: BigInt.asUintN(64, -(tsc + 1n)) });
    runsThrough(wrap);
    expect((wrap.reg(2) << 32n) | wrap.reg(0)).toBe(0xffffffffffffffffn);
    // RDMSR of IA32_TIME_STAMP_COUNTER (10H) reads the same offset TSC.
    const msr = vm('mov ecx, 0x10\nrdmsr\nafter: vmcall', { ...primary(Primary.USE_TSC_OFFSETTING! | Primary.USE_MSR_BITMAPS!), TSC_OFFSET: 0x100000000n });
    runsThrough(msr);
    expect((msr.reg(2) << 32n) | msr.reg(0)).toBe(0x100000000n + 1n); // one instruction (the MOV) retired before it
  });

  it('RDTSCP is #UD in a guest without "enable RDTSCP", and exits under RDTSC exiting with it', () => {
    const ud = vm('t: rdtscp\nvmcall', { ...primary(Primary.RDTSC_EXITING!), EXCEPTION_BITMAP: 1n << 6n });
    exitAt(ud, ExitReason.EXCEPTION_NMI!);
    expect(decodeInterruptionInfo(Number(ud.rd('VM_EXIT_INTR_INFO'))).vector).toBe(6);
    const on = vm('t: rdtscp\nvmcall', {
      ...primary(Primary.RDTSC_EXITING! | Primary.ACTIVATE_SECONDARY_CONTROLS!),
      SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_RDTSCP!),
    });
    exitAt(on, ExitReason.RDTSCP!);
    expect(len(on)).toBe(3);
  });
});

describe('VMX instructions in the guest', () => {
  it('VMPTRLD exits with its displacement as qualification and the operand in the instruction information', () => {
    const v = vm('mov rax, 0x11000\nt: vmptrld [rax+8]');
    exitAt(v, ExitReason.VMPTRLD!);
    expect(qual(v)).toBe(8n);
    expect(len(v)).toBe(4);
    // scaling 0, address size 64-bit (2 << 7), segment DS (3 << 15), no index (bit 22), base RAX (0 << 23)
    expect(Number(v.rd('VMX_INSTRUCTION_INFO'))).toBe((2 << 7) | (3 << 15) | (1 << 22));
  });

  it('VMPTRLD with a RIP-relative operand: the qualification is the displacement plus the next RIP, the base invalid', () => {
    const v = vm('t: vmptrld [rel q]\nhlt\nq: dq 0x11000');
    exitAt(v, ExitReason.VMPTRLD!);
    expect(len(v)).toBe(7);
    // q is the byte after HLT: the instruction's own address + 7 + 1, whatever its displacement.
    expect(qual(v)).toBe(v.rd('GUEST_RIP') + 8n);
    expect(Number(v.rd('VMX_INSTRUCTION_INFO'))).toBe((2 << 7) | (3 << 15) | (1 << 22) | (1 << 27));
  });

  it('VMREAD with registers: Reg1 the destination, bit 10 register form, Reg2 the encoding', () => {
    const v = vm('t: vmread rbx, rcx');
    exitAt(v, ExitReason.VMREAD!);
    expect(Number(v.rd('VMX_INSTRUCTION_INFO'))).toBe(((3 << 3) | (2 << 7) | (1 << 10) | (1 << 28)) >>> 0);
    expect(len(v)).toBe(3);
  });

  it('VMWRITE with a scaled-index memory source', () => {
    const v = vm('t: vmwrite rcx, [rbx+rsi*4+16]');
    exitAt(v, ExitReason.VMWRITE!);
    expect(qual(v)).toBe(16n);
    expect(Number(v.rd('VMX_INSTRUCTION_INFO'))).toBe((2 | (2 << 7) | (3 << 15) | (6 << 18) | (3 << 23) | (1 << 28)) >>> 0);
  });

  it('VMXOFF exits; VMFUNC without VM functions is #UD', () => {
    exitAt(vm('t: vmxoff'), ExitReason.VMOFF!);
    const f = vm('t: vmfunc', { EXCEPTION_BITMAP: 1n << 6n });
    exitAt(f, ExitReason.EXCEPTION_NMI!);
    expect(decodeInterruptionInfo(Number(f.rd('VM_EXIT_INTR_INFO'))).vector).toBe(6);
  });
});

describe('descriptor-table exiting', () => {
  const dt = { ...primary(Primary.ACTIVATE_SECONDARY_CONTROLS!), SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.DESCRIPTOR_TABLE_EXITING!) };

  it('SIDT: reason 46, the displacement as qualification, identity 1 in bits 29:28, a memory operand', () => {
    const v = vm('mov rbx, 0x9000\nt: sidt [rbx+16]', dt);
    exitAt(v, ExitReason.GDTR_IDTR!);
    expect(qual(v)).toBe(16n);
    // address size 64-bit (2 << 7), bit 10 clear, segment DS (3 << 15), no index (bit 22), base RBX (3 << 23), SIDT (1 << 28)
    expect(Number(v.rd('VMX_INSTRUCTION_INFO'))).toBe(((2 << 7) | (3 << 15) | (1 << 22) | (3 << 23) | (1 << 28)) >>> 0);
  });

  it('SLDT to a register and LTR from memory: reason 47, Reg1 and bit 10 for the register, identities 0 and 3', () => {
    const r = vm('t: sldt ecx', dt);
    exitAt(r, ExitReason.LDTR_TR!);
    expect(qual(r)).toBe(0n);
    // bits 6:3, 10 and 29:28 (the memory-operand fields are undefined for a register)
    expect(Number(r.rd('VMX_INSTRUCTION_INFO')) & 0x30000478).toBe(((1 << 3) | (1 << 10)) >>> 0);
    const m = vm('mov rax, 0x9000\nt: ltr [rax+rsi*2]', dt);
    exitAt(m, ExitReason.LDTR_TR!);
    expect(Number(m.rd('VMX_INSTRUCTION_INFO'))).toBe((1 | (2 << 7) | (3 << 15) | (6 << 18) | (0 << 23) | (3 << 28)) >>> 0);
  });

  it('without the control, SGDT runs in the guest', () => {
    runsThrough(vm('mov rbx, 0x9000\nt: sgdt [rbx]\nafter: vmcall'));
  });
});

describe('control-register accesses', () => {
  it('MOV to CR0 exits when a host-owned bit would differ from the read shadow', () => {
    const v = vm('mov rax, cr0\nor eax, 8\nt: mov cr0, rax', { CR0_GUEST_HOST_MASK: 8n, CR0_READ_SHADOW: 0n });
    exitAt(v, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(v)))).toEqual({ cr: 0, access: 'mov-to-cr', lmswMemory: false, gpr: 0, lmswSource: 0 });
    expect(len(v)).toBe(3);
  });

  it('MOV from CR0 reads the shadow for host-owned bits; a write matching the shadow does not exit and keeps them', () => {
    const v = vm('mov rax, cr0\nmov cr0, rax\nsmsw ecx\nafter: vmcall', { CR0_GUEST_HOST_MASK: 8n, CR0_READ_SHADOW: 8n });
    runsThrough(v);
    expect(v.reg(0) & 8n).toBe(8n); // the shadow's TS
    expect(v.reg(1) & 8n).toBe(8n);
    expect(v.rd('GUEST_CR0') & 8n).toBe(0n); // the real TS stayed 0
  });

  it('CR4: the host owns VMXE and the guest sees it clear', () => {
    const v = vm('mov rax, cr4\nmov cr4, rax\nafter: vmcall', { CR4_GUEST_HOST_MASK: BigInt(CR4.VMXE), CR4_READ_SHADOW: 0n });
    runsThrough(v);
    expect(v.reg(0) & BigInt(CR4.VMXE)).toBe(0n);
    expect(v.rd('GUEST_CR4') & BigInt(CR4.VMXE)).toBe(BigInt(CR4.VMXE));
  });

  it('MOV from CR3 exits under CR3-store exiting, with the destination register', () => {
    const src = 't: mov rbx, cr3\nafter: vmcall';
    const on = vm(src, primary(Primary.CR3_STORE_EXITING!));
    exitAt(on, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(on)))).toMatchObject({ cr: 3, access: 'mov-from-cr', gpr: 3 });
    runsThrough(vm(src));
  });

  it('MOV to CR3 exits under CR3-load exiting unless the value is a CR3-target value', () => {
    const src = 'mov rax, cr3\nmov cr3, rax\nmov rdx, 0x9000\nt: mov cr3, rdx\nafter: vmcall';
    const on = vm(src, { ...primary(Primary.CR3_LOAD_EXITING!), CR3_TARGET_COUNT: 1n, CR3_TARGET_VALUE0: 0x1000n });
    exitAt(on, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(on)))).toMatchObject({ cr: 3, access: 'mov-to-cr', gpr: 2 });
    expect(on.rd('GUEST_CR3')).toBe(0x1000n);
    const none = vm('mov rax, cr3\nt: mov cr3, rax', { ...primary(Primary.CR3_LOAD_EXITING!), CR3_TARGET_COUNT: 0n });
    exitAt(none, ExitReason.CR_ACCESS!);
  });

  it('MOV to CR8 exits under CR8-load exiting', () => {
    const src = 'xor eax, eax\nt: mov cr8, rax\nafter: vmcall';
    const on = vm(src, primary(Primary.CR8_LOAD_EXITING!));
    exitAt(on, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(on)))).toMatchObject({ cr: 8, access: 'mov-to-cr', gpr: 0 });
    runsThrough(vm(src));
  });

  it('CLTS exits when TS is host-owned and set in the shadow; with the shadow clear it leaves the real TS alone', () => {
    const on = vm('t: clts', { CR0_GUEST_HOST_MASK: 8n, CR0_READ_SHADOW: 8n });
    exitAt(on, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(on)))).toMatchObject({ cr: 0, access: 'clts' });
    const cr0 = BigInt((CR0.PE | CR0.ET | CR0.NE | CR0.PG | CR0.TS) >>> 0);
    const off = vm('t: clts\nafter: vmcall', { GUEST_CR0: cr0, CR0_GUEST_HOST_MASK: 8n, CR0_READ_SHADOW: 0n });
    runsThrough(off);
    expect(off.rd('GUEST_CR0') & 8n).toBe(8n);
  });

  it('LMSW exits on a host-owned bit differing from the shadow, with its source and operand type; memory operands give the linear address', () => {
    const reg = vm('mov eax, 0x3\nt: lmsw ax', { CR0_GUEST_HOST_MASK: 2n, CR0_READ_SHADOW: 0n });
    exitAt(reg, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(reg)))).toEqual({ cr: 0, access: 'lmsw', lmswMemory: false, gpr: 0, lmswSource: 3 });
    const mem = vm('mov rbx, 0x9000\nmov word [rbx], 2\nt: lmsw [rbx]', { CR0_GUEST_HOST_MASK: 2n, CR0_READ_SHADOW: 0n });
    exitAt(mem, ExitReason.CR_ACCESS!);
    expect(decodeCrAccess(Number(qual(mem)))).toMatchObject({ access: 'lmsw', lmswMemory: true, lmswSource: 2 });
    expect(mem.rd('GUEST_LINEAR_ADDRESS')).toBe(0x9000n);
    // PE: LMSW cannot clear it, so a source with PE = 0 against a shadow with PE = 1 does not exit.
    const pe = vm('mov eax, 0\nt: lmsw ax\nafter: vmcall', { CR0_GUEST_HOST_MASK: 1n, CR0_READ_SHADOW: 1n });
    runsThrough(pe);
  });
});

describe('I/O instructions', () => {
  it('unconditional I/O exiting: OUT imm8 with size, direction and operand encoding', () => {
    const src = 'mov al, 7\nt: out 0x80, al\nafter: vmcall';
    const on = vm(src, primary(Primary.UNCONDITIONAL_IO_EXITING!));
    exitAt(on, ExitReason.IO_INSTRUCTION!);
    expect(decodeIo(Number(qual(on)))).toEqual({ size: 1, direction: 'out', string: false, rep: false, immediate: true, port: 0x80 });
    expect(len(on)).toBe(2);
    expect(on.m.exits).toEqual([]);
    const off = vm(src);
    runsThrough(off);
    expect(off.m.exits).toEqual([{ kind: 'io', dir: 'out', port: 0x80, size: 1, value: 7 }]);
  });

  it('I/O bitmaps: every port an access touches, A below 8000H and B above; a clear bit lets it through', () => {
    const src = 'out 0x80, al\nmov dx, 0x7fff\nt: in ax, dx\nafter: vmcall';
    const f = { ...primary(Primary.USE_IO_BITMAPS! | Primary.UNCONDITIONAL_IO_EXITING!) };
    const on = vm(src, f);
    on.m.mem.write(IO_B, 1, 1); // port 8000H: touched by the 2-byte IN at 7FFFH
    exitAt(on, ExitReason.IO_INSTRUCTION!);
    expect(decodeIo(Number(qual(on)))).toEqual({ size: 2, direction: 'in', string: false, rep: false, immediate: false, port: 0x7fff });
    expect(on.m.exits.map((e) => e.kind === 'io' && e.port)).toEqual([0x80]); // port 80H's bit is clear: no exit
    const a = vm('mov dx, 0x80\nt: out dx, al', f);
    a.m.mem.write(IO_A + 0x10, 1, 1); // port 80H
    exitAt(a, ExitReason.IO_INSTRUCTION!);
    runsThrough(vm(src, f));
  });

  it('REP OUTSB: string and REP set, DX encoding, the element linear address recorded, nothing output', () => {
    const v = vm('mov rsi, 0x9000\nmov ecx, 3\nmov dx, 0x3f8\nt: rep outsb', primary(Primary.UNCONDITIONAL_IO_EXITING!));
    exitAt(v, ExitReason.IO_INSTRUCTION!);
    expect(decodeIo(Number(qual(v)))).toEqual({ size: 1, direction: 'out', string: true, rep: true, immediate: false, port: 0x3f8 });
    expect(v.rd('GUEST_LINEAR_ADDRESS')).toBe(0x9000n);
    expect(len(v)).toBe(2);
    expect(v.reg(1)).toBe(3n);
  });
});

describe('RDMSR and WRMSR', () => {
  it('without MSR bitmaps every RDMSR exits', () => {
    const v = vm('mov ecx, 0x175\nt: rdmsr');
    exitAt(v, ExitReason.MSR_READ!);
    expect(len(v)).toBe(2);
  });

  it('with MSR bitmaps: the read-low and write-high quarters decide, and MSRs outside both ranges always exit', () => {
    const f = primary(Primary.USE_MSR_BITMAPS!);
    const read = vm('mov ecx, 0x175\nrdmsr\nmov ecx, 0x174\nt: rdmsr', f);
    read.m.mem.write(MSR_BITMAP + (0x174 >>> 3), 1, 1 << (0x174 & 7));
    exitAt(read, ExitReason.MSR_READ!);
    const write = vm('mov ecx, 0xc0000100\nxor eax, eax\nxor edx, edx\nt: wrmsr\nafter: vmcall', f);
    write.m.mem.write(MSR_BITMAP + 3072 + (0x100 >>> 3), 1, 1); // MSR C0000100H, write-high quarter
    exitAt(write, ExitReason.MSR_WRITE!);
    // The same WRMSR with its bit in the read-high quarter instead: no exit.
    const other = vm('mov ecx, 0xc0000100\nxor eax, eax\nxor edx, edx\nt: wrmsr\nafter: vmcall', f);
    other.m.mem.write(MSR_BITMAP + 1024 + (0x100 >>> 3), 1, 1);
    runsThrough(other);
    exitAt(vm('mov ecx, 0x40000000\nt: rdmsr', f), ExitReason.MSR_READ!);
  });
});

describe('exceptions, interrupts and events', () => {
  const handler = '\nh: vmcall';

  it('the exception bitmap: #UD exits before delivery (RIP at the instruction); with the bit clear it is delivered', () => {
    const src = 't: ud2\nhlt' + handler;
    const on = vm(src, { EXCEPTION_BITMAP: 1n << 6n }, { 6: 'h' });
    exitAt(on, ExitReason.EXCEPTION_NMI!);
    expect(Number(on.rd('VM_EXIT_INTR_INFO'))).toBe(encodeInterruptionInfo({ vector: 6, type: InterruptionType.HARDWARE_EXCEPTION, valid: true }));
    expect(Number(on.rd('IDT_VECTORING_INFO_FIELD'))).toBe(0);
    expect(on.rd('GUEST_RSP')).toBe(BigInt(RSP));
    const off = vm(src, {}, { 6: 'h' });
    exitAt(off, ExitReason.VMCALL!, 'h');
    expect(off.rd('GUEST_RSP')).toBe(BigInt(RSP - 40));
  });

  it('#PF: the error code, the address as qualification, CR2 untouched, and the mask/match rule both ways', () => {
    const src = 't: mov rax, [0x40000000]' + handler;
    const v = vm(src, { EXCEPTION_BITMAP: 1n << 14n }, { 14: 'h' });
    exitAt(v, ExitReason.EXCEPTION_NMI!);
    const info = decodeInterruptionInfo(Number(v.rd('VM_EXIT_INTR_INFO')));
    expect(info).toMatchObject({ vector: 14, type: InterruptionType.HARDWARE_EXCEPTION, errorCodeValid: true, valid: true });
    expect(v.rd('VM_EXIT_INTR_ERROR_CODE')).toBe(0n);
    expect(qual(v)).toBe(0x40000000n);
    expect(v.m.cpu.state.cr2Lo).toBe(0);
    // Bit 14 set, (PFEC & 1) = 0 ≠ match 1: delivered to the guest.
    exitAt(vm(src, { EXCEPTION_BITMAP: 1n << 14n, PAGE_FAULT_ERROR_CODE_MASK: 1n, PAGE_FAULT_ERROR_CODE_MATCH: 1n }, { 14: 'h' }), ExitReason.VMCALL!, 'h');
    // Bit 14 clear, (PFEC & 1) ≠ match: exits.
    exitAt(vm(src, { PAGE_FAULT_ERROR_CODE_MASK: 1n, PAGE_FAULT_ERROR_CODE_MATCH: 1n }, { 14: 'h' }), ExitReason.EXCEPTION_NMI!);
  });

  it('INT3 is a software exception with its length; INT n is not subject to the bitmap', () => {
    const v = vm('t: int3' + handler, { EXCEPTION_BITMAP: 1n << 3n }, { 3: 'h' });
    exitAt(v, ExitReason.EXCEPTION_NMI!);
    expect(decodeInterruptionInfo(Number(v.rd('VM_EXIT_INTR_INFO')))).toMatchObject({ vector: 3, type: InterruptionType.SOFTWARE_EXCEPTION });
    expect(len(v)).toBe(1);
    exitAt(vm('t: int 0x40' + handler, { EXCEPTION_BITMAP: 0xffffffffn }, { 0x40: 'h' }), ExitReason.VMCALL!, 'h');
  });

  it('a fault while delivering INT n records it as IDT-vectoring information with the instruction length', () => {
    const v = vm('t: int 0x40' + handler, { EXCEPTION_BITMAP: 1n << 11n }, { 0x40: 'h' });
    v.m.mem.write(IDT + 0x40 * 16 + 5, 1, 0x0e); // the gate not present: #NP(40H * 8 + 2)
    exitAt(v, ExitReason.EXCEPTION_NMI!);
    expect(decodeInterruptionInfo(Number(v.rd('VM_EXIT_INTR_INFO')))).toMatchObject({ vector: 11, errorCodeValid: true });
    expect(v.rd('VM_EXIT_INTR_ERROR_CODE')).toBe(BigInt(0x40 * 8 + 2));
    expect(Number(v.rd('IDT_VECTORING_INFO_FIELD'))).toBe(encodeInterruptionInfo({ vector: 0x40, type: InterruptionType.SOFTWARE_INTERRUPT, valid: true }));
    expect(len(v)).toBe(2);
  });

  it('a triple fault exits with reason 2', () => {
    const v = vm('t: ud2', { GUEST_IDTR_LIMIT: 0n });
    exitAt(v, ExitReason.TRIPLE_FAULT!);
  });

  it('external interrupts: exiting with acknowledge fills the interruption information; without it the guest takes them', () => {
    const src = 'sti\nt: jmp t' + handler;
    const ack = vm(src, { PIN_BASED_VM_EXEC_CONTROL: BigInt(base('PIN_BASED_VM_EXEC_CONTROL') | Pin.EXTERNAL_INTERRUPT_EXITING!), VM_EXIT_CONTROLS: BigInt(base('VM_EXIT_CONTROLS') | Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT!) }, { 0x30: 'h' });
    timerProgram(ack.m.cpu.state.timer, 0x30, 10);
    exitAt(ack, ExitReason.EXTERNAL_INTERRUPT!);
    expect(Number(ack.rd('VM_EXIT_INTR_INFO'))).toBe(encodeInterruptionInfo({ vector: 0x30, type: InterruptionType.EXTERNAL_INTERRUPT, valid: true }));
    expect(ack.m.cpu.state.timer.pending).toBe(false);
    const noAck = vm('t: jmp t', { PIN_BASED_VM_EXEC_CONTROL: BigInt(base('PIN_BASED_VM_EXEC_CONTROL') | Pin.EXTERNAL_INTERRUPT_EXITING!) });
    timerProgram(noAck.m.cpu.state.timer, 0x30, 10);
    exitAt(noAck, ExitReason.EXTERNAL_INTERRUPT!); // exits although the guest's IF is 0
    expect(Number(noAck.rd('VM_EXIT_INTR_INFO'))).toBe(0);
    expect(noAck.m.cpu.state.timer.pending).toBe(true);
    const off = vm(src, {}, { 0x30: 'h' });
    timerProgram(off.m.cpu.state.timer, 0x30, 10);
    exitAt(off, ExitReason.VMCALL!, 'h');
  });

  it('interrupt-window exiting: after STI and its shadow', () => {
    const src = 'nop\nsti\nnop\nt: nop\nafter: vmcall';
    const on = vm(src, primary(Primary.INTERRUPT_WINDOW_EXITING!));
    exitAt(on, ExitReason.INTERRUPT_WINDOW!);
    expect(on.rd('GUEST_RFLAGS') & BigInt(Flag.IF)).toBe(BigInt(Flag.IF));
    runsThrough(vm(src));
  });

  it('the preemption timer counts guest instructions and saves 0 when it expires', () => {
    const src = 'l: inc rax\njmp l';
    const f = {
      PIN_BASED_VM_EXEC_CONTROL: BigInt(base('PIN_BASED_VM_EXEC_CONTROL') | Pin.ACTIVATE_PREEMPTION_TIMER!),
      VM_EXIT_CONTROLS: BigInt(base('VM_EXIT_CONTROLS') | Exit.SAVE_PREEMPTION_TIMER_VALUE!),
      VMX_PREEMPTION_TIMER_VALUE: 5n,
      GUEST_RFLAGS: 2n,
    };
    const on = vm('xor eax, eax\n' + src, f);
    expect(on.run().kind).toBe('exit');
    expect(Number(on.rd('VM_EXIT_REASON'))).toBe(ExitReason.PREEMPTION_TIMER);
    expect(on.reg(0)).toBe(2n); // xor, inc, jmp, inc, jmp
    expect(on.rd('VMX_PREEMPTION_TIMER_VALUE')).toBe(0n);
    const off = vm('xor eax, eax\n' + src);
    expect(off.run(100).kind).toBe('budget');
  });

  it('injects an external interrupt through the guest IDT before the first instruction', () => {
    const v = vm('s: nop\nvmcall' + handler, { GUEST_RFLAGS: 0x202n, VM_ENTRY_INTR_INFO_FIELD: BigInt(encodeInterruptionInfo({ vector: 0x30, type: InterruptionType.EXTERNAL_INTERRUPT, valid: true })) }, { 0x30: 'h' });
    exitAt(v, ExitReason.VMCALL!, 'h');
    expect(v.m.mem.read(RSP - 40, 4)).toBe(GUEST); // the return RIP is the guest's first instruction
    // The exit cleared the valid bit of the VM-entry interruption-information field.
    expect(v.rd('VM_ENTRY_INTR_INFO_FIELD') >> 31n).toBe(0n);
  });

  it('injects a #GP with its error code, not subject to the exception bitmap', () => {
    const v = vm('s: nop\nvmcall\nh: pop rbx\nvmcall', {
      EXCEPTION_BITMAP: 1n << 13n,
      VM_ENTRY_INTR_INFO_FIELD: BigInt(encodeInterruptionInfo({ vector: 13, type: InterruptionType.HARDWARE_EXCEPTION, errorCodeValid: true, valid: true })),
      VM_ENTRY_EXCEPTION_ERROR_CODE: 0x1234n,
    }, { 13: 'h' });
    const r = v.run();
    expect(r.kind).toBe('exit');
    expect(Number(v.rd('VM_EXIT_REASON'))).toBe(ExitReason.VMCALL);
    expect(v.reg(3)).toBe(0x1234n);
    expect(v.m.mem.read(RSP - 40, 4)).toBe(GUEST);
  });

  it('an injected software interrupt pushes RIP + the VM-entry instruction length', () => {
    const v = vm('s: int 0x40\nvmcall' + handler, {
      VM_ENTRY_INTR_INFO_FIELD: BigInt(encodeInterruptionInfo({ vector: 0x40, type: InterruptionType.SOFTWARE_INTERRUPT, valid: true })),
      VM_ENTRY_INSTRUCTION_LEN: 2n,
    }, { 0x40: 'h' });
    exitAt(v, ExitReason.VMCALL!, 'h');
    expect(v.m.mem.read(RSP - 40, 4)).toBe(GUEST + 2);
  });
});

describe('the MSR areas', () => {
  const AREA = 0x23000;
  const entry = (m: BareMachine, at: number, index: number, lo: number, reserved = 0) => {
    m.mem.write(at, 4, index);
    m.mem.write(at + 4, 4, reserved);
    m.mem.write(at + 8, 4, lo);
    m.mem.write(at + 12, 4, 0);
  };

  it('VM entry loads the MSR-load area before the guest runs', () => {
    const v = vm('mov ecx, 0x174\nrdmsr\nafter: vmcall', { ...primary(Primary.USE_MSR_BITMAPS!), VM_ENTRY_MSR_LOAD_ADDR: BigInt(AREA), VM_ENTRY_MSR_LOAD_COUNT: 1n });
    entry(v.m, AREA, 0x174, 0x10);
    runsThrough(v);
    expect(v.reg(0)).toBe(0x10n);
    expect(v.rd('GUEST_SYSENTER_CS')).toBe(0x10n);
  });

  it('an entry that fails (FS.base may not be loaded this way) is exit reason 34 with bit 31, the entry number as qualification, and the guest never runs', () => {
    const v = vm('t: vmcall', { VM_ENTRY_MSR_LOAD_ADDR: BigInt(AREA), VM_ENTRY_MSR_LOAD_COUNT: 2n });
    entry(v.m, AREA, 0x174, 0x10);
    entry(v.m, AREA + 16, 0xc0000100, 0x1000);
    const r = v.run();
    expect(r).toMatchObject({ kind: 'exit', reason: 0x80000022 });
    expect(v.rd('VM_EXIT_REASON')).toBe(0x80000022n);
    expect(qual(v)).toBe(2n);
    expect(v.vmx.state.mode).toBe('root');
    expect(v.m.cpu.state.ripLo).toBe(0x401000);
    expect(v.m.cpu.state.steps).toBe(0);
  });

  it('a VM exit stores the guest MSRs, then loads the host MSRs; a failing host entry is a VMX abort', () => {
    const src = 'mov ecx, 0x174\nmov eax, 0x33\nxor edx, edx\nwrmsr\nafter: vmcall';
    const f = {
      ...primary(Primary.USE_MSR_BITMAPS!),
      VM_EXIT_MSR_STORE_ADDR: BigInt(AREA), VM_EXIT_MSR_STORE_COUNT: 1n,
      VM_EXIT_MSR_LOAD_ADDR: BigInt(AREA + 0x100), VM_EXIT_MSR_LOAD_COUNT: 1n,
    };
    const v = vm(src, f);
    entry(v.m, AREA, 0x174, 0);
    entry(v.m, AREA + 0x100, 0x174, 0x8);
    runsThrough(v);
    expect(v.m.mem.read(AREA + 8, 4)).toBe(0x33);
    expect(v.m.cpu.state.msr.get(0x174)).toEqual([0x8, 0]);
    const bad = vm(src, f);
    entry(bad.m, AREA, 0x174, 0);
    entry(bad.m, AREA + 0x100, 0x174, 0x8, 1); // reserved bits 63:32 set
    expect(bad.run()).toEqual({ kind: 'abort', indicator: 4 });
    expect(bad.m.mem.read(Number(VMCS_PA) + 4, 4)).toBe(4);
    expect(bad.m.cpu.state.shutdown).toBe(true);
  });
});

/** EPT tables at host-physical EPT: PML4, PDPT, PD, and a PT for guest-physical 0..2 MiB. */
const EPT = 0x400000;
const EPT_PT = EPT + 0x3000;
const EPT_RWX_WB = 7 | (6 << 3);
/**
 * Identity EPT for the guest's first 64 MiB (the bare machine's RAM): 4-KByte pages below 2 MiB,
 * 2-MByte pages above, all RWX write-back. The tables' own pages (EPT..EPT+16K) are left out of the
 * identity map, as a hypervisor would keep its structures from its guest.
 */
function identityEpt(m: BareMachine): bigint {
  m.mem.write(EPT, 4, (EPT + 0x1000) | 7);
  m.mem.write(EPT + 0x1000, 4, (EPT + 0x2000) | 7);
  m.mem.write(EPT + 0x2000, 4, EPT_PT | 7);
  for (let i = 1; i < 32; i++) {
    if (i === EPT >>> 21) continue;
    m.mem.write(EPT + 0x2000 + i * 8, 4, ((i << 21) | EPT_RWX_WB | 0x80) >>> 0);
  }
  for (let i = 0; i < 512; i++) m.mem.write(EPT_PT + i * 8, 4, ((i << 12) | EPT_RWX_WB) >>> 0);
  return BigInt(EPT) | 6n | (3n << 3n); // WB, 4-level walk
}

/** A guest under EPT (and unrestricted guest): its own 4-level paging, the bare machine's identity map at 0x1000. */
function eptVm(src: string, edit: (m: BareMachine) => void = () => {}, fields: Record<string, bigint> = {}, bits: 32 | 64 = 64): Vm {
  return vm(src, {
    ...primary(Primary.ACTIVATE_SECONDARY_CONTROLS!),
    SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_EPT!),
    EPT_POINTER: 0n,
    ...fields,
  }, {}, (m) => {
    const eptp = identityEpt(m);
    edit(m);
    return { EPT_POINTER: eptp };
  }, bits);
}

describe('EPT (29.3): the guest\u2019s accesses and its own walk go through the EPT tables', () => {
  it('a 4-level guest on 4-level EPT reads and writes the host page its guest-physical page maps to', () => {
    const v = eptVm('mov rax, [0x200000]\nmov rbx, 0x1122334455667788\nmov [0x200008], rbx\nt: vmcall', (m) => {
      // Guest-physical 0x200000..0x3fffff → host-physical 0x600000.
      m.mem.write(EPT + 0x2000 + 8, 4, (0x600000 | EPT_RWX_WB | 0x80) >>> 0);
      m.mem.write(0x200000, 4, 0xdead);
      m.mem.write(0x600000, 4, 0xbeef);
    });
    exitAt(v, ExitReason.VMCALL!);
    expect(v.reg(0)).toBe(0xbeefn);
    expect(v.m.mem.read(0x600008, 4)).toBe(0x55667788);
    expect(v.m.mem.read(0x600008 + 4, 4)).toBe(0x11223344);
    expect(v.m.mem.read(0x200008, 4)).toBe(0);
    // The guest's own walk set A in its entries at guest-physical = host-physical 0x1000.. (identity there).
    expect(v.m.mem.read(0x1000, 4) & 0x20).toBe(0x20);
  });

  it('an EPT violation on the final address: exit 48, the qualification, GUEST_PHYSICAL_ADDRESS and GUEST_LINEAR_ADDRESS; the access did not happen', () => {
    const v = eptVm('mov rbx, 7\nt: mov rax, [0x180010]\nvmcall', (m) => m.mem.write(EPT_PT + 0x180 * 8, 4, 0));
    exitAt(v, ExitReason.EPT_VIOLATION!);
    const q = decodeEptViolation(Number(v.rd('EXIT_QUALIFICATION')));
    expect(q).toMatchObject({ read: true, write: false, fetch: false, readable: false, writable: false, executable: false, linearValid: true, translated: true });
    expect(v.rd('GUEST_PHYSICAL_ADDRESS')).toBe(0x180010n);
    expect(v.rd('GUEST_LINEAR_ADDRESS')).toBe(0x180010n);
    expect(v.rd('GUEST_RIP')).toBe(at(v, 't'));
    expect(v.reg(3)).toBe(7n);
  });

  it('a write to a read-only EPT page: bit 1 with the rights (R) the entry gave', () => {
    const v = eptVm('t: mov [0x180010], eax\nvmcall', (m) => m.mem.write(EPT_PT + 0x180 * 8, 4, (0x180000 | 1 | (6 << 3)) >>> 0));
    exitAt(v, ExitReason.EPT_VIOLATION!);
    expect(decodeEptViolation(Number(v.rd('EXIT_QUALIFICATION')))).toMatchObject({ read: false, write: true, readable: true, writable: false, executable: false, translated: true });
  });

  it('a violation on an entry of the guest\u2019s own walk: bit 8 clear, the entry\u2019s guest-physical address', () => {
    // The guest's PD (guest-physical 0x3000) is not mapped: the first fetch's walk stops there.
    const v = eptVm('t: nop\nvmcall', (m) => m.mem.write(EPT_PT + 3 * 8, 4, 0));
    exitAt(v, ExitReason.EPT_VIOLATION!);
    expect(decodeEptViolation(Number(v.rd('EXIT_QUALIFICATION')))).toMatchObject({ read: true, write: false, fetch: false, linearValid: true, translated: false });
    expect(v.rd('GUEST_PHYSICAL_ADDRESS')).toBe(0x3000n);
    expect(v.rd('GUEST_LINEAR_ADDRESS')).toBe(at(v, 't'));
  });

  it('the TLB keeps the EPT rights: a read-only page read first still exits on the write, a non-executable page read first on the fetch', () => {
    const w = eptVm('mov eax, [0x180010]\nt: mov [0x180010], eax\nvmcall', (m) => m.mem.write(EPT_PT + 0x180 * 8, 4, (0x180000 | 1 | (6 << 3)) >>> 0));
    exitAt(w, ExitReason.EPT_VIOLATION!);
    expect(decodeEptViolation(Number(w.rd('EXIT_QUALIFICATION')))).toMatchObject({ write: true, readable: true, writable: false });
    // 0x180000 holds RET; R and W but not X.
    const x = eptVm('mov al, [0x180000]\nmov rbx, 0x180000\nt: call rbx\nvmcall', (m) => {
      m.mem.write8(0x180000, 0xc3);
      m.mem.write(EPT_PT + 0x180 * 8, 4, (0x180000 | 3 | (6 << 3)) >>> 0);
    });
    const r = x.run();
    expect(r.kind).toBe('exit');
    expect(Number(x.rd('VM_EXIT_REASON'))).toBe(ExitReason.EPT_VIOLATION!);
    // CALL pushed its return address and jumped: the fetch at the target is what exits.
    expect(x.rd('GUEST_RIP')).toBe(0x180000n);
    expect(decodeEptViolation(Number(x.rd('EXIT_QUALIFICATION')))).toMatchObject({ read: false, write: false, fetch: true, readable: true, writable: true, executable: false });
    expect(x.rd('GUEST_PHYSICAL_ADDRESS')).toBe(0x180000n);
  });

  it('an EPT misconfiguration (W without R): exit 49 with the guest-physical address', () => {
    const v = eptVm('t: mov rax, [0x180010]\nvmcall', (m) => m.mem.write(EPT_PT + 0x180 * 8, 4, (0x180000 | 2 | (6 << 3)) >>> 0));
    exitAt(v, ExitReason.EPT_MISCONFIG!);
    expect(v.rd('GUEST_PHYSICAL_ADDRESS')).toBe(0x180010n);
    expect(v.rd('EXIT_QUALIFICATION')).toBe(0n);
  });

  it('every entry starts from an empty TLB: a page the guest used before is checked against the EPT as the hypervisor changed it', () => {
    const v = eptVm('mov rax, [0x180010]\nu: vmcall\nt: mov rax, [0x180010]\nvmcall');
    exitAt(v, ExitReason.VMCALL!, 'u');
    v.m.mem.write(EPT_PT + 0x180 * 8, 4, 0);
    v.wr('GUEST_RIP', at(v, 't'));
    expect(v.vmx.vmresume().kind).toBe('entered');
    exitAt(v, ExitReason.EPT_VIOLATION!);
    expect(v.rd('GUEST_PHYSICAL_ADDRESS')).toBe(0x180010n);
  });

  it('unrestricted guest: a guest with paging off runs on EPT alone, its linear addresses guest-physical', () => {
    const v = eptVm('mov eax, [0x200000]\nt: vmcall', (m) => {
      m.mem.write(EPT + 0x2000 + 8, 4, (0x600000 | EPT_RWX_WB | 0x80) >>> 0);
      m.mem.write(0x600000, 4, 0x5a5a);
    }, { GUEST_CR0: BigInt((CR0.PE | CR0.ET | CR0.NE) >>> 0), GUEST_CR4: BigInt(CR4.VMXE), GUEST_IA32_EFER: 0n, GUEST_CS_AR_BYTES: 0xc09bn, VM_ENTRY_CONTROLS: BigInt(base('VM_ENTRY_CONTROLS') & ~Entry.IA32E_MODE_GUEST!), SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_EPT! | Secondary.UNRESTRICTED_GUEST!) }, 32);
    exitAt(v, ExitReason.VMCALL!);
    expect(v.reg(0) & 0xffffffffn).toBe(0x5a5an);
  });
});

describe('EPT accessed and dirty flags (EPTP bit 6, 29.3.5), now that IA32_VMX_EPT_VPID_CAP advertises them', () => {
  it('the guest\u2019s walk marks the EPT entries mapping its tables accessed and dirty; its data pages get D only when written', () => {
    const v = vm('mov eax, [0x190010]\nmov [0x180010], eax\nt: vmcall', {
      ...primary(Primary.ACTIVATE_SECONDARY_CONTROLS!),
      SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_EPT!),
    }, {}, (m) => ({ EPT_POINTER: identityEpt(m) | 0x40n }));
    exitAt(v, ExitReason.VMCALL!);
    const flags = (page: number): number => v.m.mem.read(EPT_PT + page * 8, 4) & 0x300;
    const A = 0x100;
    const D = 0x200;
    // The guest's PML4 at guest-physical 0x1000: guest paging-structure accesses count as writes.
    expect(flags(1)).toBe(A | D);
    expect(flags(0x100)).toBe(A); // the code page: fetched only
    expect(flags(0x190)).toBe(A); // read
    expect(flags(0x180)).toBe(A | D); // written
    expect(flags(0x1a0)).toBe(0); // untouched
    expect(v.m.mem.read(EPT, 4) & A).toBe(A);
  });
});

describe('a PAE guest under EPT: its PDPTEs are registers (27.3.2.4, 4.4.1, 29.3)', () => {
  /** Guest-physical PDPT (remapped by EPT to host-physical PDPT_HPA), and two page directories. */
  const PDPT = 0x30000;
  const PDPT_HPA = 0x630000;
  const PD_A = 0x31000;
  const PD_B = 0x32000;
  function paeVm(src: string, edit: (m: BareMachine) => void = () => {}, fields: Record<string, bigint> = {}): Vm {
    return eptVm(src, (m) => {
      // PD_A: 2 MiB identity pages; PD_B the same but guest-physical 0x800000 at linear 0x200000.
      for (let i = 0; i < 32; i++) {
        m.mem.write(PD_A + i * 8, 4, ((i << 21) | 0x83) >>> 0);
        m.mem.write(PD_B + i * 8, 4, (((i === 1 ? 4 : i) << 21) | 0x83) >>> 0);
      }
      // Host-physical PDPT (what a walk reading CR3 as host-physical would see): PD_A.
      m.mem.write(PDPT, 4, PD_A | 1);
      // Guest-physical PDPT through EPT: PD_B.
      m.mem.write(EPT_PT + (PDPT >>> 12) * 8, 4, (PDPT_HPA | EPT_RWX_WB) >>> 0);
      m.mem.write(PDPT_HPA, 4, PD_B | 1);
      m.mem.write(0x200000, 4, 0x1111);
      m.mem.write(0x800000, 4, 0x2222);
      edit(m);
    }, {
      GUEST_CR0: BigInt((CR0.PE | CR0.ET | CR0.NE | CR0.PG) >>> 0),
      GUEST_CR4: BigInt((CR4.VMXE | CR4.PAE) >>> 0),
      GUEST_CR3: BigInt(PDPT),
      GUEST_IA32_EFER: 0n,
      GUEST_CS_AR_BYTES: 0xc09bn,
      VM_ENTRY_CONTROLS: BigInt(base('VM_ENTRY_CONTROLS') & ~Entry.IA32E_MODE_GUEST!),
      // VM entry takes the PDPTEs from here, not from the PDPT: PD_A.
      GUEST_PDPTR0: BigInt(PD_A | 1),
      ...fields,
    }, 32);
  }

  it('VM entry loads them from the VMCS; MOV to CR3 loads them from the PDPT\u2019s guest-physical address through EPT; the exit saves them', () => {
    const v = paeVm('mov eax, [0x200000]\nmov ecx, cr3\nmov cr3, ecx\nmov ebx, [0x200000]\nt: vmcall');
    exitAt(v, ExitReason.VMCALL!);
    expect(v.reg(0) & 0xffffffffn).toBe(0x1111n);
    expect(v.reg(3) & 0xffffffffn).toBe(0x2222n);
    // 28.3.4: with EPT and PAE paging the PDPTEs in use are saved in the guest-state area.
    expect(v.rd('GUEST_PDPTR0')).toBe(BigInt(PD_B | 1));
  });

  it('the PDPT not mapped in EPT: MOV to CR3 is an EPT violation with no guest linear address (qualification bit 7 = 0)', () => {
    const v = paeVm('mov ecx, cr3\nt: mov cr3, ecx\nvmcall', (m) => m.mem.write(EPT_PT + (PDPT >>> 12) * 8, 4, 0));
    exitAt(v, ExitReason.EPT_VIOLATION!);
    const q = decodeEptViolation(Number(v.rd('EXIT_QUALIFICATION')));
    expect(q).toMatchObject({ read: true, write: false, fetch: false, readable: false, linearValid: false, translated: false });
    expect(v.rd('GUEST_PHYSICAL_ADDRESS')).toBe(BigInt(PDPT));
  });

  it('a PDPTE with a reserved bit loaded at MOV to CR3 is #GP(0) in the guest, as without EPT', () => {
    const v = paeVm('mov ecx, cr3\nt: mov cr3, ecx\nvmcall', (m) => m.mem.write(PDPT_HPA, 4, PD_B | 1 | 0x20), { EXCEPTION_BITMAP: 1n << 13n });
    exitAt(v, ExitReason.EXCEPTION_NMI!);
    expect(decodeInterruptionInfo(Number(v.rd('VM_EXIT_INTR_INFO')))).toMatchObject({ vector: 13, type: InterruptionType.HARDWARE_EXCEPTION });
  });
});

describe('APIC virtualization and posted interrupts (SDM Vol. 3C chapter 30)', () => {
  const PI_DESC = 0x23000;
  const VAPIC_PAGE = 0x24000;
  const NV = 0xf2;
  /** Posted interrupts on: TPR shadow, virtualize x2APIC mode, virtual-interrupt delivery, MSR bitmaps all clear. */
  const posted = (more: Record<string, bigint> = {}): Record<string, bigint> => postedFields({ descriptor: PI_DESC, virtualApic: VAPIC_PAGE, vector: NV }, more);
  /** Sets PIR bits and ON in the descriptor, as an IOMMU or another CPU posting does. */
  const post = (m: BareMachine, ...vectors: number[]): void => {
    for (const v of vectors) {
      const at = PI_DESC + (v >>> 5) * 4;
      m.mem.write(at, 4, (m.mem.read(at, 4) | (1 << (v & 31))) >>> 0);
    }
    m.mem.write(PI_DESC + 32, 1, 1);
  };
  const bitOf = (m: BareMachine, base: number, v: number): number => (m.mem.read(VAPIC_PAGE + base + (v >>> 5) * 16, 4) >>> (v & 31)) & 1;
  const eoi = 'mov ecx, 0x80b\nxor eax, eax\nxor edx, edx\nwrmsr\n';

  it('the notification vector is processed without a VM exit: PIR into VIRR, the vector delivered through the guest IDT, EOI virtualized', () => {
    const v = vm('sti\nl: jmp l\nh: ' + eoi + 'after: vmcall', posted(), { 0x41: 'h' });
    post(v.m, 0x41);
    timerProgram(v.m.cpu.state.timer, NV, 10); // the notification event reaching this CPU
    exitAt(v, ExitReason.VMCALL!, 'after');
    expect(v.m.mem.read(PI_DESC, 4)).toBe(0); // PIR cleared
    expect(v.m.mem.read(PI_DESC + 32, 1) & 1).toBe(0); // ON cleared
    expect(bitOf(v.m, 0x200, 0x41)).toBe(0); // VIRR
    expect(bitOf(v.m, 0x100, 0x41)).toBe(0); // VISR after the EOI
    expect(v.rd('GUEST_INTR_STATUS')).toBe(0n);
  });

  it('delivers the highest vector first; before its EOI, SVI and VPPR hold its class and RVI the next vector', () => {
    const v = vm('sti\nl: jmp l\nh: vmcall\nh2: vmcall', posted(), { 0x41: 'h2', 0x51: 'h' });
    post(v.m, 0x41, 0x51);
    timerProgram(v.m.cpu.state.timer, NV, 10);
    exitAt(v, ExitReason.VMCALL!, 'h');
    expect(v.rd('GUEST_INTR_STATUS')).toBe(0x5141n); // SVI 51H, RVI 41H
    expect(v.m.mem.read(VAPIC_PAGE + 0xa0, 4)).toBe(0x50); // VPPR
    expect(bitOf(v.m, 0x100, 0x51)).toBe(1);
    expect(bitOf(v.m, 0x200, 0x41)).toBe(1);
  });

  it('an EOI whose vector is in the EOI-exit bitmap is a trap-like exit 45 with the vector as qualification', () => {
    const v = vm('sti\nl: jmp l\nh: ' + eoi + 't: nop', posted({ EOI_EXIT_BITMAP1: 1n << BigInt(0x41 - 64) }), { 0x41: 'h' });
    post(v.m, 0x41);
    timerProgram(v.m.cpu.state.timer, NV, 10);
    exitAt(v, ExitReason.EOI_INDUCED!, 't');
    expect(v.rd('EXIT_QUALIFICATION')).toBe(0x41n);
  });

  it('another vector exits with reason 1 and the vector; with IF = 0 the posted vector waits in VIRR until STI', () => {
    const other = vm('sti\nl: jmp l', posted());
    timerProgram(other.m.cpu.state.timer, 0x30, 10);
    exitAt(other, ExitReason.EXTERNAL_INTERRUPT!, 'l');
    expect(Number(other.rd('VM_EXIT_INTR_INFO'))).toBe(encodeInterruptionInfo({ vector: 0x30, type: InterruptionType.EXTERNAL_INTERRUPT, valid: true }));
    const masked = vm('mov ecx, 200\nw: loop w\nt: vmcall\nsti\nnop\nl: jmp l\nh: vmcall', posted({ GUEST_RFLAGS: 2n }), { 0x41: 'h' });
    post(masked.m, 0x41);
    timerProgram(masked.m.cpu.state.timer, NV, 10);
    exitAt(masked, ExitReason.VMCALL!, 't'); // processed, not delivered
    expect(masked.rd('GUEST_INTR_STATUS')).toBe(0x41n); // RVI 41H
    expect(bitOf(masked.m, 0x200, 0x41)).toBe(1);
    timerStop(masked.m.cpu.state.timer);
    masked.wr('GUEST_RIP', masked.rd('GUEST_RIP') + 3n); // past the VMCALL (0F 01 C1)
    expect(masked.vmx.vmresume().kind).toBe('entered');
    exitAt(masked, ExitReason.VMCALL!, 'h');
  });

  it('x2APIC TPR through the MSR and CR8; a non-zero EOI write is #GP(0); without virtual-interrupt delivery a TPR below the threshold exits (43)', () => {
    const v = vm('mov ecx, 0x808\nmov eax, 0x20\nxor edx, edx\nwrmsr\nmov rbx, cr8\nrdmsr\nmov esi, eax\nmov ecx, 0x80b\nmov eax, 1\nt: wrmsr', posted({ EXCEPTION_BITMAP: 1n << 13n }));
    exitAt(v, ExitReason.EXCEPTION_NMI!);
    expect(v.reg(3)).toBe(2n); // CR8 = VTPR[7:4]
    expect(v.reg(6)).toBe(0x20n); // RDMSR 808H reads VTPR
    expect(v.m.mem.read(VAPIC_PAGE + 0x80, 4)).toBe(0x20);
    const thr = vm('mov eax, 1\nmov cr8, rax\nt: nop', {
      CPU_BASED_VM_EXEC_CONTROL: BigInt(((base('CPU_BASED_VM_EXEC_CONTROL') & ~Primary.HLT_EXITING! & ~Primary.CR8_LOAD_EXITING! & ~Primary.CR8_STORE_EXITING!) | Primary.USE_TPR_SHADOW!) >>> 0),
      VIRTUAL_APIC_PAGE_ADDR: BigInt(VAPIC_PAGE),
      TPR_THRESHOLD: 2n,
    }, {}, (m) => {
      m.mem.write(VAPIC_PAGE + 0x80, 4, 0x30);
      return {};
    });
    exitAt(thr, ExitReason.TPR_BELOW_THRESHOLD!, 't');
    expect(thr.m.mem.read(VAPIC_PAGE + 0x80, 4)).toBe(0x10);
    expect(thr.m.cpu.state.cr8).toBe(0); // the real TPR is untouched
  });

  it('VM entry refuses posted interrupts without virtual-interrupt delivery (VM-instruction error 7)', () => {
    expect(() => vm('nop', posted({ SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.VIRTUALIZE_X2APIC_MODE!) }))).toThrow(/vmlaunch: .*"fail-valid".*"error":7/);
  });

  it('a host interrupt pending when a virtual interrupt is delivered through a trap gate still exits, not into the guest\'s IDT', () => {
    const v = vm('sti\nl: jmp l\nh: nop\nvmcall\nh30: vmcall', posted(), { 0x41: 'h', 0x30: 'h30' });
    v.m.mem.write8(IDT + 0x41 * 16 + 5, 0x8f); // 0x41's gate: a trap gate (IF stays 1)
    post(v.m, 0x41);
    const sink = new MsiInterruptSink();
    for (const vector of [NV, 0x30]) sink.deliver({ ...decodeMsi(0, 'test', 0, 0xfee00000, vector) });
    v.m.cpu.interrupts = sink;
    exitAt(v, ExitReason.EXTERNAL_INTERRUPT!, 'h'); // in the handler, before its first instruction
    expect(decodeInterruptionInfo(Number(v.rd('VM_EXIT_INTR_INFO')))).toMatchObject({ valid: true, vector: 0x30 });
    expect(v.rd('GUEST_INTR_STATUS')).toBe(0x4100n); // SVI 41H: 0x41 was delivered first
  });

  it('TPR virtualization with virtual-interrupt delivery: a raised VTPR holds a posted vector back, lowering it lets it in', () => {
    const v = vm('mov eax, 5\nmov cr8, rax\nsti\nmov ecx, 100\nw: loop w\nt: vmcall\nxor eax, eax\nmov cr8, rax\nl: jmp l\nh: vmcall', posted(), { 0x41: 'h' });
    post(v.m, 0x41);
    timerProgram(v.m.cpu.state.timer, NV, 10);
    exitAt(v, ExitReason.VMCALL!, 't'); // processed, but class 4 is not above VPPR's class 5
    expect(v.rd('GUEST_INTR_STATUS')).toBe(0x41n);
    expect(v.m.mem.read(VAPIC_PAGE + 0xa0, 4)).toBe(0x50); // VPPR = VTPR
    timerStop(v.m.cpu.state.timer);
    v.wr('GUEST_RIP', v.rd('GUEST_RIP') + 3n);
    expect(v.vmx.vmresume().kind).toBe('entered');
    exitAt(v, ExitReason.VMCALL!, 'h');
  });
});
