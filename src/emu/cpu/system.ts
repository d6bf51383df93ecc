/**
 * The CPU's system layer: privileged and system instructions, exception and interrupt delivery,
 * segment loading and I/O permission, written against CpuCore (core.ts). The parts live in
 * sys-*.ts; this module dispatches and holds the flag instructions (PUSHF/POPF/CLI/STI), HLT,
 * the VMX/SVM instructions outside VMX/SVM operation, and interrupt acceptance.
 */
import { Fault, type CpuCore } from './core.ts';
import type { Insn } from './insn.ts';
import { Flag } from './state.ts';
import { execCtlInsn, execMovCr } from './sys-ctl.ts';
import { execDescInsn } from './sys-desc.ts';
import { execFarBranch, execRetf } from './sys-far.ts';
import { execSwapgs, execSyscall, execSysenter, execSysexit, execSysret } from './sys-fast.ts';
import { EventKind, deliverExceptionImpl, execInt, execIret } from './sys-int.ts';
import { EFER, gp, isFarMem, ud } from './sys-util.ts';
import { exitOn, guestOn, guestOperand, ripOf, type SvmMnemonic, type VmxMnemonic } from './guest.ts';

export { loadSegment, ioPermitted } from './sys-desc.ts';
export { MAXPHYADDR, MSR, cpuid } from './sys-ctl.ts';

/** Mnemonics (iced-x86 spelling) that belong wholly to the system layer. */
export const SYSTEM_MNEMONICS: ReadonlySet<string> = new Set([
  'int', 'int3', 'into', 'int1', 'iret', 'iretd', 'iretq', 'retf', 'ret far',
  'syscall', 'sysret', 'sysretq', 'sysenter', 'sysexit', 'sysexitq', 'swapgs',
  'lgdt', 'lidt', 'sgdt', 'sidt', 'sldt', 'str', 'lldt', 'ltr', 'lar', 'lsl', 'verr', 'verw',
  'smsw', 'lmsw', 'clts', 'invlpg', 'rdmsr', 'wrmsr', 'cpuid', 'rdtsc', 'rdtscp', 'hlt', 'cli', 'sti',
  'pushf', 'pushfd', 'pushfq', 'popf', 'popfd', 'popfq',
  'vmcall', 'vmlaunch', 'vmresume', 'vmxoff', 'vmxon', 'vmclear', 'vmptrld', 'vmptrst', 'vmread', 'vmwrite',
  'invept', 'invvpid', 'vmfunc',
  'vmrun', 'vmmcall', 'vmload', 'vmsave', 'stgi', 'clgi', 'skinit', 'invlpga',
]);

const VMX = new Set(['vmcall', 'vmlaunch', 'vmresume', 'vmxoff', 'vmxon', 'vmclear', 'vmptrld', 'vmptrst', 'vmread', 'vmwrite', 'invept', 'invvpid', 'vmfunc']);
const SVM = new Set(['vmrun', 'vmload', 'vmsave', 'stgi', 'clgi', 'skinit', 'invlpga']);

/**
 * Whether the executor should hand `insn` to execSystem: SYSTEM_MNEMONICS, MOV to/from a control
 * register, and far JMP/CALL (a 'far' operand, or a memory operand of opSize + 2 bytes: m16:16/32/64).
 */
export function isSystemInsn(insn: Insn): boolean {
  const m = insn.mnemonic;
  if (SYSTEM_MNEMONICS.has(m)) return true;
  if (m === 'mov') return insn.operands.some((o) => o.kind === 'cr');
  if (m === 'jmp' || m === 'call') return insn.operands[0]?.kind === 'far' || isFarMem(insn);
  return false;
}

/**
 * Executes a system instruction whose RIP is state.rip; sets RIP to the next instruction or the
 * branch target. Throws Fault (RIP unchanged, no register changed) when the instruction faults.
 */
export function execSystem(cpu: CpuCore, insn: Insn, nextRipLo: number, nextRipHi: number): void {
  const st = cpu.state;
  const m = insn.mnemonic;
  switch (m) {
    case 'int':
    case 'int3':
    case 'into':
    case 'int1':
      execInt(cpu, insn, nextRipLo, nextRipHi);
      return;
    case 'iret':
    case 'iretd':
    case 'iretq':
      execIret(cpu, insn);
      return;
    case 'retf':
    case 'ret far':
      execRetf(cpu, insn);
      return;
    case 'jmp':
    case 'call':
      execFarBranch(cpu, insn, nextRipLo, nextRipHi);
      return;
    case 'syscall':
      execSyscall(cpu, nextRipLo, nextRipHi);
      return;
    case 'sysret':
    case 'sysretq':
      execSysret(cpu, insn);
      return;
    case 'sysenter':
      execSysenter(cpu);
      return;
    case 'sysexit':
    case 'sysexitq':
      execSysexit(cpu, insn);
      return;
    case 'mov':
      execMovCr(cpu, insn);
      break;
    case 'swapgs':
      execSwapgs(cpu);
      break;
    case 'hlt':
      if (cpu.mode() !== 'real' && cpu.cpl() !== 0) throw gp(0);
      // Guest seam: the CPL #GP first (SDM Vol. 3C 26.1.1, faults based on privilege level).
      if (guestOn(cpu)) exitOn(cpu, { kind: 'hlt', rip: ripOf(cpu), length: insn.length });
      st.halted = true;
      break;
    case 'cli':
    case 'sti':
      execCliSti(cpu, m === 'sti');
      break;
    case 'pushf':
    case 'pushfd':
    case 'pushfq':
      execPushf(cpu, insn);
      break;
    case 'popf':
    case 'popfd':
    case 'popfq':
      execPopf(cpu, insn);
      break;
    default:
      if (VMX.has(m) || SVM.has(m) || m === 'vmmcall') {
        execVirtInsn(cpu, insn, nextRipLo, nextRipHi);
        break;
      }
      if (!execDescInsn(cpu, insn, nextRipLo, nextRipHi) && !execCtlInsn(cpu, insn, nextRipLo, nextRipHi)) {
        throw ud();
      }
  }
  st.ripLo = nextRipLo >>> 0;
  st.ripHi = nextRipHi >>> 0;
}

/**
 * VMX and SVM instructions outside VMX/SVM operation. VMX (SDM Vol. 3C, ch. 31): VMXON is #UD with
 * CR4.VMXE = 0 (not settable yet); the others are #UD outside VMX operation; VMFUNC outside non-root.
 * SVM (AMD APM Vol. 3): #UD with EFER.SVME = 0 (always on Intel); with SVME = 1, #GP(0) at CPL > 0;
 * at CPL 0 they are #UD until SVM is modelled. VMMCALL outside a guest is #UD.
 */
function execVirtInsn(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  const m = insn.mnemonic;
  if (SVM.has(m) && st.vendor === 'amd' && (st.efer & EFER.SVME) !== 0 && cpu.mode() !== 'real' && cpu.cpl() !== 0) {
    throw gp(0);
  }
  if (guestOn(cpu)) guestVirtInsn(cpu, insn, nextLo, nextHi);
  throw ud();
}

/**
 * The guest seam for the VMX and SVM instructions; returns when the monitor declines (the
 * instruction then behaves as outside VMX/SVM operation). Rules applied:
 * - VMCALL: no check precedes the exit (SDM Vol. 3C "Instructions That Cause VM Exits
 *   Unconditionally"; its pseudocode exits right after its test for VMX operation).
 * - VMFUNC: offered with no check first; it exits only for an invalid function with "enable VM
 *   functions" = 1 ("Instructions That Cause VM Exits Conditionally"), which this lab never sets, so
 *   a VMX monitor declines it and it is #UD, as with "enable VM functions" = 0.
 * - the other VMX instructions: the #UD of CR0.PE = 0 and of compatibility mode first (their
 *   pseudocode tests it before "in VMX non-root operation"), then the exit, before any CPL check.
 * - SVM instructions: the #UD of EFER.SVME = 0 and the CPL #GP first (checked by the caller; APM
 *   Vol. 2 "Instruction Intercepts": intercepts follow the simple exceptions, precede memory ones).
 * - VMMCALL: no check precedes the intercept; not intercepted, it is #UD (APM Vol. 3, VMMCALL).
 */
function guestVirtInsn(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  const m = insn.mnemonic;
  const at = { rip: ripOf(cpu), length: insn.length };
  if (m === 'vmcall') return exitOn(cpu, { kind: 'vmcall', ...at });
  if (m === 'vmmcall') return exitOn(cpu, { kind: 'vmmcall', ...at });
  if (SVM.has(m)) {
    if (st.vendor !== 'amd' || (st.efer & EFER.SVME) === 0 || cpu.mode() === 'real') return;
    return exitOn(cpu, { kind: 'svm', ...at, mnemonic: m as SvmMnemonic });
  }
  if (m !== 'vmfunc' && (cpu.mode() === 'real' || cpu.mode() === 'compat')) return;
  const operands = insn.operands.map((_, i) => guestOperand(cpu, insn, i, nextLo, nextHi));
  exitOn(cpu, { kind: 'vmx', ...at, mnemonic: m as VmxMnemonic, operands, opSize: insn.opSize, addrSize: insn.addrSize });
}

/** CLI/STI: allowed when CPL <= IOPL (always in real mode), else #GP(0) (SDM Vol. 2A, CLI; VME/PVI not modelled). */
function execCliSti(cpu: CpuCore, set: boolean): void {
  const st = cpu.state;
  if (cpu.mode() !== 'real' && cpu.cpl() > (st.rflags & Flag.IOPL) >>> 12) throw gp(0);
  if (!set) st.rflags &= ~Flag.IF;
  else if ((st.rflags & Flag.IF) === 0) {
    st.rflags |= Flag.IF;
    st.interruptShadow = true; // STI's one-instruction interrupt shadow (SDM Vol. 2B, STI)
  }
}

/** PUSHF/PUSHFD/PUSHFQ: the image has VM and RF clear (SDM Vol. 2B, PUSHF). */
function execPushf(cpu: CpuCore, insn: Insn): void {
  const size = insn.opSize === 8 ? 8 : insn.opSize === 4 ? 4 : 2;
  const image = cpu.state.rflags & ~(Flag.VM | Flag.RF);
  cpu.push(size, size === 2 ? image & 0xffff : image >>> 0, 0);
}

/** The RFLAGS bits POPF may always load: CF PF AF ZF SF TF DF OF NT AC ID. */
const POPF_BASE = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT | Flag.AC | Flag.ID;

/**
 * POPF/POPFD/POPFQ (SDM Vol. 2B, POPF): IOPL changes only at CPL 0 and IF only at CPL <= IOPL, and
 * otherwise they stay as they were, silently, without a fault: the classic reason a deprivileged guest
 * kernel cannot be trapped on its CLI-by-POPF. VM, VIP, VIF are unaffected; RF is cleared.
 */
function execPopf(cpu: CpuCore, insn: Insn): void {
  const st = cpu.state;
  const size = insn.opSize === 8 ? 8 : insn.opSize === 4 ? 4 : 2;
  const v = cpu.pop(size);
  let mask = POPF_BASE;
  const real = cpu.mode() === 'real';
  const cpl = real ? 0 : cpu.cpl();
  if (cpl <= (st.rflags & Flag.IOPL) >>> 12) mask |= Flag.IF;
  if (cpl === 0) mask |= Flag.IOPL;
  if (size === 2) mask &= 0xffff;
  st.rflags = ((st.rflags & ~mask & ~Flag.RF) | (v & mask) | 2) >>> 0;
}

/** Delivers an exception raised by the instruction at RIP; #DF and triple fault by SDM Vol. 3A, 6.15. */
export function deliverException(cpu: CpuCore, fault: Fault): void {
  deliverExceptionImpl(cpu, fault, EventKind.EXCEPTION);
}

/**
 * Delivers an external interrupt at the current instruction boundary (RIP is the next instruction to
 * run); wakes a halted processor and acknowledges the timer's request. A fault during delivery is
 * delivered as an exception (EXT = 1 in its error code).
 */
export function deliverExternalInterrupt(cpu: CpuCore, vector: number): void {
  const st = cpu.state;
  st.halted = false;
  if (st.timer.pending && st.timer.vector === vector) st.timer.pending = false;
  deliverExceptionImpl(cpu, new Fault(vector & 0xff), EventKind.EXTERNAL);
}

/**
 * The vector of an external interrupt the processor would accept now, or -1: a pending request,
 * RFLAGS.IF = 1, no STI / MOV SS shadow, and a priority class (vector 7:4) above CR8's task priority
 * (SDM Vol. 3A, 6.8.1, 6.8.3 and 11.8.3.1).
 */
export function pendingInterrupt(cpu: CpuCore): number {
  const st = cpu.state;
  const t = st.timer;
  if (!t.pending) return -1;
  if ((st.rflags & Flag.IF) === 0 || st.interruptShadow) return -1;
  if (t.vector >>> 4 <= (st.cr8 & 0xf)) return -1;
  return t.vector;
}


