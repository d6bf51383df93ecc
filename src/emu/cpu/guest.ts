/**
 * The CPU's guest-mode seam: while a guest runs, the CPU asks a monitor at every point where VT-x
 * (a VM exit, SDM Vol. 3C ch. 26) or AMD-V (a #VMEXIT, APM Vol. 2 15.8–15.13) may take control
 * away from the guest. If the monitor takes the intercept, the instruction or event does not
 * happen, the CPU state is as the manuals say for that exit, and `Cpu.run` returns 'exit' with the
 * description in `Cpu.exit`. The vendor layers (src/emu/vmx, src/emu/svm) turn the description into
 * an exit reason and qualification, or an exit code and EXITINFO1/2, from their own controls: this
 * file is vendor-neutral, and nothing here knows a VMCS or a VMCB.
 *
 * The state an intercept leaves:
 * - instructions: RIP at the instruction (it did not retire: steps and the TSC do not count it),
 *   nothing it would change changed; `length` is its length (VMX "VM-exit instruction length",
 *   SVM's next RIP is rip + length). Faults the instruction raises before its exit point (see each
 *   hook) are delivered, or intercepted as exceptions, instead.
 * - exceptions: before delivery: nothing pushed, no IDT read; a #PF leaves CR2 as it was (SDM Vol.
 *   3C "Architectural State Before a VM Exit"; APM Vol. 2 "Exception Intercepts": the address is in
 *   the exit information), and `address` carries it.
 * - events between instructions: RIP at the next instruction to run.
 *
 * Where the manuals' lists are not covered, and why (the decoder does not know the instruction, so it
 * is #UD, which a monitor sees as an exception; or the lab has no such event):
 * INVD, WBINVD, XSETBV, MONITOR, MWAIT, RDPMC, MOV DR, RSM, GETSEC, ENCLS, INVPCID, RDRAND, RDSEED,
 * XSAVES/XRSTORS, UMWAIT/TPAUSE, LOADIWKEY (not decoded); SMSW (no VMX exit; SVM's CR0-read and
 * selective-CR0 rules for it are left to a later change); SVM's IRET, PUSHF, POPF, RSM, INTR shadow
 * and task-switch intercepts; NMIs and the NMI window, INIT, SIPI, SMI (the lab has no such events);
 * nested faults during event delivery carry no vectoring information (see `nested-fault`); APIC accesses and virtual-interrupt delivery.
 */
import type { CpuCore } from './core.ts';
import type { Insn, MemOperand, SegIndex } from './insn.ts';
import { effAddr, r64 } from './sys-util.ts';

/**
 * How VMX (interruption type) and SVM (EVENTINJ/EXITINTINFO type) classify an event: INT3 and INTO
 * are software exceptions, INT n a software interrupt, INT1 (ICEBP) a privileged software exception.
 */
export type EventType =
  | 'external-interrupt'
  | 'nmi'
  | 'hardware-exception'
  | 'software-interrupt'
  | 'privileged-software-exception'
  | 'software-exception';

/** An event whose delivery was under way when the intercept happened (VMX IDT-vectoring information, SVM EXITINTINFO). */
export interface EventInfo {
  vector: number;
  type: EventType;
  /** The error code the delivery pushes, or -1. */
  errorCode: number;
  /** For INT n / INT3 / INTO / INT1: the instruction's length (needed to re-inject it); else 0. */
  length: number;
}

/** An instruction operand as the exit information describes it (VMX instruction-information field, SVM decode assists). */
export type GuestOperand =
  | { kind: 'reg'; reg: number; size: number }
  | {
      kind: 'mem';
      seg: SegIndex;
      /** Register numbers, -1 for none. */
      base: number;
      index: number;
      scale: 1 | 2 | 4 | 8;
      /**
       * The displacement as decoded, plus the address of the next instruction for a RIP-relative
       * operand (whose base is then -1): what VMX puts in the exit qualification (SDM Vol. 3C,
       * 28.2.1, for the VMX instructions; Bochs and KVM's get_vmx_mem_address read it so).
       */
      disp: bigint;
      addrSize: 2 | 4 | 8;
      /** The operand's linear address: segment base + effective address (no limit or canonical check made). */
      linear: bigint;
    };

/** What every intercept carries: the guest RIP and, for instructions, the instruction's length (else 0). */
interface At {
  rip: bigint;
  length: number;
}

export type VmxMnemonic = 'vmlaunch' | 'vmresume' | 'vmxoff' | 'vmxon' | 'vmclear' | 'vmptrld' | 'vmptrst' | 'vmread' | 'vmwrite' | 'invept' | 'invvpid' | 'vmfunc';
export type SvmMnemonic = 'vmrun' | 'vmload' | 'vmsave' | 'stgi' | 'clgi' | 'skinit' | 'invlpga';
export type DescMnemonic = 'sgdt' | 'sidt' | 'lgdt' | 'lidt' | 'sldt' | 'str' | 'lldt' | 'ltr';

export type Intercept = At &
  (
    | { kind: 'cpuid'; leaf: number; subleaf: number }
    | { kind: 'hlt' }
    | { kind: 'pause' }
    | { kind: 'invlpg'; linear: bigint; operand: GuestOperand }
    | { kind: 'rdtsc' }
    | { kind: 'rdtscp' }
    | { kind: 'rdmsr'; msr: number }
    | { kind: 'wrmsr'; msr: number; value: bigint }
    /** MOV to or from CRn: `gpr` is the general register operand; `value` what a write would load. */
    | { kind: 'cr'; cr: number; access: 'write' | 'read'; gpr: number; value: bigint }
    | { kind: 'clts' }
    /** LMSW: the 16-bit source; for a memory operand, its linear address (else null). */
    | { kind: 'lmsw'; value: number; memory: boolean; linear: bigint | null }
    /**
     * IN, OUT, INS, OUTS. `immediate`: the port came from an imm8 (else DX). For INS/OUTS, `seg` is
     * the memory operand's segment (ES for INS) and `linear` the element's linear address.
     */
    | {
        kind: 'io';
        port: number;
        size: 1 | 2 | 4;
        dir: 'in' | 'out';
        string: boolean;
        rep: boolean;
        immediate: boolean;
        addrSize: 2 | 4 | 8;
        seg: SegIndex | null;
        linear: bigint | null;
      }
    | { kind: 'vmcall' }
    | { kind: 'vmmcall' }
    /** Trap-like exits of VMX APIC virtualization (vmx/apicv.ts), taken at the boundary after the instruction that caused them. */
    | { kind: 'virtualized-eoi'; vector: number }
    | { kind: 'tpr-below-threshold' }
    /** A VMX instruction other than VMCALL; operands in Intel order (destination first). */
    | { kind: 'vmx'; mnemonic: VmxMnemonic; operands: GuestOperand[]; opSize: number; addrSize: 2 | 4 | 8 }
    | { kind: 'svm'; mnemonic: SvmMnemonic }
    | { kind: 'descriptor-table'; mnemonic: DescMnemonic; operand: GuestOperand; opSize: number; addrSize: 2 | 4 | 8 }
    /**
     * An exception (or INT n) about to be delivered. `errorCode` is the one delivery would push, or
     * -1; `address` the #PF linear address (else null); `during` the event whose delivery raised it
     * (null when the exception is not a fault during delivery, and for a #DF: SDM Vol. 3C "Information for
     * VM Exits That Occur During Event Delivery").
     */
    | { kind: 'exception'; vector: number; type: EventType; errorCode: number; address: bigint | null; during: EventInfo | null }
    /**
     * A maskable external interrupt is requested (the timer's latch or the InterruptSource's line).
     * `ifClear` and `shadow` say what would block it bare (RFLAGS.IF = 0; an STI or MOV SS shadow):
     * the monitor decides whether it exits anyway. The task priority in CR8 is not applied here: it
     * is the guest's, and whether it masks the request is the monitor's call (a TPR shadow, V_TPR).
     * With `acknowledgeInterruptOnExit`, the CPU acknowledges it once the monitor has taken the
     * intercept and fills in `acknowledged` and `vector`; otherwise it stays pending (vector -1).
     */
    | { kind: 'external-interrupt'; ifClear: boolean; shadow: boolean; acknowledged: boolean; vector: number }
    /** RFLAGS.IF = 1 and no STI or MOV SS shadow, asked only while the monitor's interruptWindow is set. */
    | { kind: 'interrupt-window' }
    /** The processor would shut down (a fault while delivering #DF). */
    | { kind: 'triple-fault' }
    /** The monitor's step deadline was reached (the VMX-preemption timer). */
    | { kind: 'deadline' }
    /**
     * A nested translation (EPT, NPT: `Cpu.setNested`) failed: the access did not happen (RIP at
     * the instruction, `length` 0). `gpa` the guest-physical address that failed; `linear` the
     * guest linear address being accessed (null when none: a PAE guest's PDPTE load at MOV to CR
     * under EPT, cpu/sys-ctl.ts `loadPdptes`); `stage` whether `gpa` is an
     * entry of the guest's own walk or the access's final address (with the guest's paging off,
     * 'final' and `paged` false); `fault` the vendor walker's result, which the vendor layer
     * turns into its exit (vmx/ept.ts EptExit, svm/npt.ts NptFault).
     */
    | {
        kind: 'nested-fault';
        gpa: number;
        linear: bigint | null;
        stage: 'final' | 'guest-table';
        paged: boolean;
        access: { write: boolean; fetch: boolean; user: boolean };
        fault: unknown;
      }
  );

export type InterceptKind = Intercept['kind'];

/** The party that decides, while a guest runs, which intercept points end the run. */
export interface GuestMonitor {
  /** True to take the intercept: the run ends with it. Called with the CPU state as the intercept leaves it. */
  intercept(what: Intercept, cpu: CpuCore): boolean;
  /** Ask for the interrupt window at every instruction boundary (VMX interrupt-window exiting, SVM VINTR). */
  interruptWindow: boolean;
  /**
   * The monitor takes external interrupts even while RFLAGS.IF = 0 (VMX external-interrupt exiting,
   * SVM's INTR intercept with V_INTR_MASKING): a guest halted with IF = 0 then waits for the next
   * interrupt (the timer's) instead of ending the run with 'hlt' as a bare CPU does.
   */
  interruptExitsIgnoreIf: boolean;
  /** Acknowledge an intercepted external interrupt (VMX's "acknowledge interrupt on exit"). */
  acknowledgeInterruptOnExit: boolean;
  /** A value of state.steps at which a boundary asks 'deadline' (Infinity for none). */
  deadline: number;
  /**
   * While true, maskable external interrupts are held pending: neither delivered to the guest nor
   * offered as 'external-interrupt' (SVM's GIF = 0 after a guest's own CLGI, APM Vol. 2 15.17).
   * Absent means false.
   */
  interruptsHeld?: boolean;
  /**
   * Optional: the guest's view of CR0 and CR4 when an access does not end the run (VMX guest/host
   * masks and read shadows, SDM Vol. 3C 26.3 "Changes to Instruction Behavior in VMX Non-Root
   * Operation"). `crRead` gives what MOV from CR0/CR4 and SMSW return for the register's actual
   * value (low 32 bits); `crWrite` gives what a MOV to CR0/CR4, CLTS or LMSW that was not
   * intercepted loads, from the value the instruction would load and the current one. Absent, the
   * guest sees and changes the registers as a bare CPU does (SVM has no such shadows).
   */
  crRead?(cr: 0 | 4, actual: number): number;
  crWrite?(cr: 0 | 4, value: number, current: number): number;
  /**
   * Optional: added (modulo 2^64) to the time-stamp counter that RDTSC, RDTSCP and RDMSR of
   * IA32_TIME_STAMP_COUNTER read in the guest when they are not intercepted (VMX "use TSC
   * offsetting" with the TSC-offset field, SDM Vol. 3C 26.3). The TSC itself is not changed, so
   * any 64-bit offset works. (svm/guest-run.ts applies TSC_OFFSET its own way, to the TSC while
   * the guest runs, and leaves this absent.)
   */
  tscReadOffset?: bigint;
  /** Optional: the guest's virtual APIC (VMX "use TPR shadow" and what builds on it; vmx/apicv.ts). */
  apic?: GuestApic | null;
}

/** What the CPU asks of a monitor's virtual APIC (SDM Vol. 3C chapter 30; vmx/apicv.ts implements it). */
export interface GuestApic {
  /** Posted-interrupt notification vector, or -1 without "process posted interrupts" (30.6). */
  readonly notificationVector: number;
  /** Posted-interrupt processing for an acknowledged notification (30.6 steps 3 to 7). */
  processPosted(): void;
  /** At a boundary with IF = 1 and no blocking: the virtual interrupt delivered now (30.2.2), or -1. */
  deliverable(): number;
  /** Whether a virtual interrupt is recognized (it waits for IF = 1 and no blocking). */
  hasPending(): boolean;
  /** A trap-like exit the last instruction caused, taken at the next boundary before anything else. */
  trap: Intercept | null;
  cr8Read(): number;
  cr8Write(value: number): void;
  /** x2APIC MSR accesses that did not exit: null means "as without the control". */
  msrRead(msr: number): [number, number] | null;
  msrWrite(msr: number, lo: number, hi: number): 'done' | 'gp' | null;
}

/** The value a guest reads from CR0 or CR4 (its monitor's read shadow, if any). */
export function guestCrRead(cpu: CpuCore, cr: 0 | 4, actual: number): number {
  const g = cpu.guest;
  return g !== undefined && g !== null && g.crRead !== undefined ? g.crRead(cr, actual) >>> 0 : actual;
}

/** The value a guest's write to CR0 or CR4 loads (its monitor keeps the bits it owns). */
export function guestCrWrite(cpu: CpuCore, cr: 0 | 4, value: number, current: number): number {
  const g = cpu.guest;
  return g !== undefined && g !== null && g.crWrite !== undefined ? g.crWrite(cr, value, current) >>> 0 : value;
}

/** Thrown by a hook inside an instruction when the monitor took its intercept; caught by the block loop. */
export class GuestExit {
  private constructor() {}
  static readonly signal = new GuestExit();
}

/** 64-bit value from halves. */
export function big(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The current RIP as a bigint. */
export function ripOf(cpu: CpuCore): bigint {
  return big(cpu.state.ripLo, cpu.state.ripHi);
}

/** Whether a guest monitor is attached (the check every hook makes first). */
export function guestOn(cpu: CpuCore): boolean {
  return cpu.guest !== undefined && cpu.guest !== null;
}

/** Asks the monitor about an instruction's intercept; throws GuestExit.signal if it takes it. */
export function exitOn(cpu: CpuCore, what: Intercept): void {
  if (cpu.guestIntercept !== undefined && cpu.guestIntercept(what)) throw GuestExit.signal;
}

/** Linear address of a memory operand (segment base in every mode but 64-bit, where only FS and GS have one). */
export function operandLinear(cpu: CpuCore, op: MemOperand, nextLo: number, nextHi: number): bigint {
  effAddr(cpu, op, nextLo, nextHi);
  const off = big(r64.lo, r64.hi);
  const s = cpu.state.seg[op.seg]!;
  const long = cpu.mode() === 'long64';
  if (long && op.seg !== 4 && op.seg !== 5) return off;
  const sum = off + big(s.baseLo, long ? s.baseHi : 0);
  return long ? sum & 0xffffffffffffffffn : sum & 0xffffffffn;
}

/** An instruction operand for the exit information. */
export function guestOperand(cpu: CpuCore, insn: Insn, i: number, nextLo: number, nextHi: number): GuestOperand {
  const op = insn.operands[i];
  if (op === undefined) throw new Error(`${insn.mnemonic}: no operand ${i}`);
  if (op.kind === 'reg') return { kind: 'reg', reg: op.reg, size: op.size };
  if (op.kind !== 'mem') throw new Error(`${insn.mnemonic}: operand ${i} is ${op.kind}`);
  let disp = big(op.dispLo, op.dispHi);
  if (op.ripRel) disp = BigInt.asIntN(64, disp + big(nextLo, nextHi));
  return {
    kind: 'mem', seg: op.seg, base: op.base, index: op.index, scale: op.scale, disp,
    addrSize: op.addrSize, linear: operandLinear(cpu, op, nextLo, nextHi),
  };
}

/**
 * The event type of a delivery kind of sys-int.ts (EventKind: 0 exception, 1 external, 2 INT n /
 * INT3 / INTO, 3 INT1). INT3 (CC) and INTO are software exceptions, INT n (CD, even CD 03) a
 * software interrupt (SDM Vol. 3C, the "interruption type" of the VM-exit interruption-information and
 * IDT-vectoring information fields).
 */
export function eventTypeOf(kind: number, mnemonic?: string): EventType {
  if (kind === 1) return 'external-interrupt';
  if (kind === 3) return 'privileged-software-exception';
  if (kind === 2) return mnemonic === 'int3' || mnemonic === 'into' ? 'software-exception' : 'software-interrupt';
  return 'hardware-exception';
}
