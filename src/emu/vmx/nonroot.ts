/**
 * VMX non-root operation: the monitor that decides, from the current VMCS's controls, which of the
 * guest seam's intercepts (cpu/guest.ts) are VM exits, and what each exit records (Intel SDM Vol.
 * 3C, ch. 26 "VMX Non-Root Operation", 26.1 and 26.2 for the exits, 26.3 for the changed behaviour
 * of MOV CR0/CR4, SMSW, CLTS and LMSW; ch. 28.2 for the exit information).
 *
 * The controls are read once at VM entry (a VMCS cannot change while the guest runs: VMWRITE from
 * the guest exits); the I/O and MSR bitmaps are read from memory at each access, as the processor
 * does. The exit information is built after the run ends (`exitInfo`), from the intercept as the CPU
 * left it (an acknowledged interrupt's vector is filled in only after the intercept is taken).
 *
 * Not here: NMIs, INIT, SIPI, SMIs and the NMI window (the lab has no such events), MOV DR, MWAIT,
 * MONITOR, RDPMC, INVD, GETSEC, XSETBV (the CPU does not decode them, so a guest sees #UD). With
 * "use TPR shadow" the monitor hands the CPU a virtual APIC (apicv.ts: virtual-interrupt delivery,
 * posted interrupts, x2APIC EOI and TPR, CR8). TSC offsetting applies to RDTSC,
 * RDTSCP and RDMSR of IA32_TIME_STAMP_COUNTER (guest.ts `tscReadOffset`).
 */
import { Fault, Vec } from '../cpu/core.ts';
import type { CpuCore } from '../cpu/core.ts';
import type { EventInfo, EventType, GuestMonitor, GuestOperand, Intercept, VmxMnemonic } from '../cpu/guest.ts';
import { CR0 } from '../cpu/sys-util.ts';
import { CR0_FIXED0, CR4_FIXED0, Entry, Exit, Pin, Primary, Secondary } from './controls.ts';
import { ExitReason } from './exit-reasons.ts';
import { encodeCrAccess, encodeInterruptionInfo, encodeIo, InterruptionType } from './qualification.ts';
import type { FieldReader } from './vmcs.ts';
import type { VmExitInfo } from './vmx.ts';
import type { EptExit } from './ept.ts';
import { VirtualApic } from './apicv.ts';

const R = ExitReason as Readonly<Record<string, number>>;
const reason = (name: string): number => {
  const n = R[name];
  if (n === undefined) throw new Error(`no exit reason ${name}`);
  return n;
};

/** The interruption type (bits 10:8 of the interruption-information fields) of a seam event type. */
export function interruptionType(t: EventType): number {
  switch (t) {
    case 'external-interrupt': return InterruptionType.EXTERNAL_INTERRUPT;
    case 'nmi': return InterruptionType.NMI;
    case 'hardware-exception': return InterruptionType.HARDWARE_EXCEPTION;
    case 'software-interrupt': return InterruptionType.SOFTWARE_INTERRUPT;
    case 'privileged-software-exception': return InterruptionType.PRIVILEGED_SOFTWARE_EXCEPTION;
    case 'software-exception': return InterruptionType.SOFTWARE_EXCEPTION;
  }
}

const SOFTWARE_TYPES: ReadonlySet<EventType> = new Set(['software-interrupt', 'privileged-software-exception', 'software-exception']);

/** The exit reason of each VMX instruction a guest executes (Appendix C). */
const VMX_REASON: Readonly<Record<VmxMnemonic, string>> = {
  vmclear: 'VMCLEAR', vmlaunch: 'VMLAUNCH', vmptrld: 'VMPTRLD', vmptrst: 'VMPTRST', vmread: 'VMREAD',
  vmresume: 'VMRESUME', vmwrite: 'VMWRITE', vmxoff: 'VMOFF', vmxon: 'VMON', invept: 'INVEPT', invvpid: 'INVVPID',
  vmfunc: 'VMFUNC',
};

const ADDR_SIZE_CODE: Readonly<Record<2 | 4 | 8, number>> = { 2: 0, 4: 1, 8: 2 };
const SCALE_CODE: Readonly<Record<1 | 2 | 4 | 8, number>> = { 1: 0, 2: 1, 4: 2, 8: 3 };

/**
 * The VM-exit instruction-information field for VMCLEAR, VMPTRLD, VMPTRST, VMXON, VMREAD, VMWRITE,
 * INVEPT and INVVPID (SDM Vol. 3C, 28.2.5, the tables for these instructions): scaling 1:0, Reg1
 * 6:3 (VMREAD/VMWRITE register form), address size 9:7, memory/register 10, segment 17:15, index
 * register 21:18 with its invalid bit 22, base register 26:23 with its invalid bit 27, Reg2 31:28.
 * `rm` is the register-or-memory operand; `reg2` the register operand, or -1. Also returns the
 * exit qualification, which for a memory operand is its displacement (sign-extended).
 */
export function vmxInstructionInfo(rm: GuestOperand | undefined, reg2: number, addrSize: 2 | 4 | 8): { info: number; qualification: bigint } {
  let info = ADDR_SIZE_CODE[addrSize] << 7;
  let qualification = 0n;
  if (rm?.kind === 'reg') {
    info |= ((rm.reg & 0xf) << 3) | (1 << 10);
  } else if (rm?.kind === 'mem') {
    info |= SCALE_CODE[rm.scale] | (rm.seg << 15);
    info |= rm.index >= 0 ? (rm.index & 0xf) << 18 : 1 << 22;
    info |= rm.base >= 0 ? (rm.base & 0xf) << 23 : 1 << 27;
    qualification = BigInt.asUintN(64, rm.disp);
  }
  if (reg2 >= 0) info |= (reg2 & 0xf) << 28;
  return { info: info >>> 0, qualification };
}

/** An event VM entry is injecting (27.6), so that its delivery is not offered to the exception bitmap. */
export interface Injecting {
  vector: number;
  type: EventType;
  /** VM-entry instruction length (software events). */
  length: number;
}

export class VmxMonitor implements GuestMonitor {
  interruptWindow: boolean;
  interruptExitsIgnoreIf: boolean;
  acknowledgeInterruptOnExit: boolean;
  deadline: number;
  /** The TSC-offset field under "use TSC offsetting" (RDTSC and RDTSCP in the guest read TSC + offset). */
  tscReadOffset: bigint | undefined;
  /** The event VM entry delivers now; its own delivery is not an exception exit (27.6.1). */
  injecting: Injecting | null = null;
  /** The event VM entry injected, kept to describe it in IDT-vectoring information. */
  injected: Injecting | null = null;
  /** The VMX unit whose entry installed this monitor (run.ts). */
  owner: unknown = null;

  readonly pin: number;
  readonly primary: number;
  readonly secondary: number;
  readonly exitControls: number;
  readonly entryControls: number;
  private readonly exceptionBitmap: number;
  private readonly pfMask: number;
  private readonly pfMatch: number;
  private readonly crMask: Record<0 | 4, bigint>;
  private readonly crShadow: Record<0 | 4, bigint>;
  private readonly cr3Targets: bigint[];
  private readonly ioA: number;
  private readonly ioB: number;
  private readonly msrBitmap: number;

  constructor(
    read: FieldReader,
    private readonly cpu: CpuCore,
  ) {
    this.pin = Number(read('PIN_BASED_VM_EXEC_CONTROL'));
    this.primary = Number(read('CPU_BASED_VM_EXEC_CONTROL'));
    this.secondary = (this.primary & Primary.ACTIVATE_SECONDARY_CONTROLS!) !== 0 ? Number(read('SECONDARY_VM_EXEC_CONTROL')) : 0;
    this.exitControls = Number(read('VM_EXIT_CONTROLS'));
    this.entryControls = Number(read('VM_ENTRY_CONTROLS'));
    this.exceptionBitmap = Number(read('EXCEPTION_BITMAP'));
    this.pfMask = Number(read('PAGE_FAULT_ERROR_CODE_MASK'));
    this.pfMatch = Number(read('PAGE_FAULT_ERROR_CODE_MATCH'));
    this.crMask = { 0: read('CR0_GUEST_HOST_MASK'), 4: read('CR4_GUEST_HOST_MASK') };
    this.crShadow = { 0: read('CR0_READ_SHADOW'), 4: read('CR4_READ_SHADOW') };
    const n = Number(read('CR3_TARGET_COUNT'));
    this.cr3Targets = [0, 1, 2, 3].filter((i) => i < n).map((i) => read(`CR3_TARGET_VALUE${i}`));
    this.ioA = Number(read('IO_BITMAP_A'));
    this.ioB = Number(read('IO_BITMAP_B'));
    this.msrBitmap = Number(read('MSR_BITMAP'));
    this.tscReadOffset = (this.primary & Primary.USE_TSC_OFFSETTING!) !== 0 ? BigInt.asIntN(64, read('TSC_OFFSET')) : undefined;
    this.interruptWindow = (this.primary & Primary.INTERRUPT_WINDOW_EXITING!) !== 0;
    this.interruptExitsIgnoreIf = (this.pin & Pin.EXTERNAL_INTERRUPT_EXITING!) !== 0;
    this.acknowledgeInterruptOnExit = (this.exitControls & Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT!) !== 0;
    // The preemption timer counts down once per TSC increment (rate 0, controls.ts), and the lab's
    // TSC counts retired instructions (and halted steps): it expires `value` steps after entry.
    this.deadline = (this.pin & Pin.ACTIVATE_PREEMPTION_TIMER!) !== 0 ? cpu.state.steps + Number(read('VMX_PREEMPTION_TIMER_VALUE')) : Infinity;
    // Chapter 30: the virtual APIC exists with "use TPR shadow" (VM entry checked the combinations).
    if ((this.primary & Primary.USE_TPR_SHADOW!) !== 0) {
      const vid = this.on(this.secondary, Secondary.VIRTUAL_INTERRUPT_DELIVERY);
      const eoi: number[] = [];
      for (const n of [0, 1, 2, 3]) {
        const v = vid ? read(`EOI_EXIT_BITMAP${n}`) : 0n;
        eoi.push(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
      }
      this.apic = new VirtualApic(cpu.mem, {
        tprShadow: true,
        virtualInterruptDelivery: vid,
        virtualizeX2apic: this.on(this.secondary, Secondary.VIRTUALIZE_X2APIC_MODE),
        processPosted: this.on(this.pin, Pin.PROCESS_POSTED_INTERRUPTS),
        interruptWindowExiting: this.interruptWindow,
        virtualApicAddress: Number(read('VIRTUAL_APIC_PAGE_ADDR')),
        notificationVector: Number(read('POSTED_INTR_NV') & 0xffn),
        descriptorAddress: Number(read('POSTED_INTR_DESC_ADDR')),
        tprThreshold: Number(read('TPR_THRESHOLD')),
        eoiExitBitmap: eoi,
        interruptStatus: vid ? Number(read('GUEST_INTR_STATUS')) : 0,
      });
    }
  }

  /** The guest's virtual APIC under "use TPR shadow" (apicv.ts), else null. */
  apic: VirtualApic | null = null;

  private on(ctl: number, bit: number | undefined): boolean {
    return (ctl & bit!) !== 0;
  }

  /** The preemption timer's value now (what "save VMX-preemption timer value" stores). */
  timerValue(): number {
    return this.deadline === Infinity ? 0 : Math.max(0, this.deadline - this.cpu.state.steps);
  }

  // ---- 26.3: CR0 and CR4 through the guest/host masks and read shadows

  crRead(cr: 0 | 4, actual: number): number {
    const mask = Number(this.crMask[cr] & 0xffffffffn);
    const shadow = Number(this.crShadow[cr] & 0xffffffffn);
    return ((actual & ~mask) | (shadow & mask)) >>> 0;
  }

  /**
   * A MOV to CR0/CR4, CLTS or LMSW that did not exit changes only the guest-owned bits (mask 0).
   * The result must still respect the bits fixed in VMX operation (SDM Vol. 3C 24.8; for an
   * unrestricted guest CR0.PE and CR0.PG are free): otherwise #GP(0).
   */
  crWrite(cr: 0 | 4, value: number, current: number): number {
    const mask = Number(this.crMask[cr] & 0xffffffffn);
    const v = ((value & ~mask) | (current & mask)) >>> 0;
    let fixed0 = cr === 0 ? CR0_FIXED0 : CR4_FIXED0;
    if (cr === 0 && this.on(this.secondary, Secondary.UNRESTRICTED_GUEST)) fixed0 = (fixed0 & ~(CR0.PE | CR0.PG)) >>> 0;
    if (((v & fixed0) >>> 0) !== fixed0 >>> 0) throw new Fault(Vec.GP, 0);
    return v;
  }

  // ---- 26.1 and 26.2: which intercepts exit

  intercept(w: Intercept): boolean {
    const p = this.primary;
    switch (w.kind) {
      case 'cpuid':
      case 'vmcall':
      case 'triple-fault':
        return true;
      case 'hlt': return this.on(p, Primary.HLT_EXITING);
      case 'invlpg': return this.on(p, Primary.INVLPG_EXITING);
      case 'rdtsc': return this.on(p, Primary.RDTSC_EXITING);
      case 'rdtscp':
        // RDTSCP is #UD in a guest unless "enable RDTSCP" is 1 (26.3); then it exits with RDTSC exiting.
        if (!this.on(this.secondary, Secondary.ENABLE_RDTSCP)) throw new Fault(Vec.UD);
        return this.on(p, Primary.RDTSC_EXITING);
      case 'pause': return this.on(p, Primary.PAUSE_EXITING);
      case 'rdmsr':
      case 'wrmsr':
        return this.msrExits(w.msr, w.kind === 'wrmsr');
      case 'cr': return this.crExits(w.cr, w.access, w.value);
      case 'clts': return this.crBit(0, CR0.TS) && (this.crShadow[0] & BigInt(CR0.TS)) !== 0n;
      case 'lmsw': return this.lmswExits(w.value);
      case 'io': return this.ioExits(w.port, w.size);
      case 'vmx':
        // INVEPT and INVVPID are #UD unless EPT / VPID is enabled (26.3); VMFUNC is #UD without VM
        // functions, which the lab does not offer. Declining leaves the CPU's #UD.
        if (w.mnemonic === 'invept') return this.on(this.secondary, Secondary.ENABLE_EPT);
        if (w.mnemonic === 'invvpid') return this.on(this.secondary, Secondary.ENABLE_VPID);
        return w.mnemonic !== 'vmfunc';
      case 'vmmcall':
      case 'svm':
        return false;
      // Raised only by this monitor's virtual APIC, and always VM exits (30.1.2, 30.1.4).
      case 'virtualized-eoi':
      case 'tpr-below-threshold':
        return true;
      case 'descriptor-table': return this.on(this.secondary, Secondary.DESCRIPTOR_TABLE_EXITING);
      case 'exception': return this.exceptionExits(w.vector, w.type, w.errorCode, w.during);
      case 'external-interrupt': return this.on(this.pin, Pin.EXTERNAL_INTERRUPT_EXITING);
      case 'interrupt-window': return this.interruptWindow;
      case 'deadline': return this.deadline !== Infinity;
      // Only a guest entered with "enable EPT" has nested faults (run.ts), and they always exit.
      case 'nested-fault': return true;
    }
  }

  private crBit(cr: 0 | 4, bit: number): boolean {
    return (this.crMask[cr] & BigInt(bit)) !== 0n;
  }

  private crExits(cr: number, access: 'read' | 'write', value: bigint): boolean {
    const p = this.primary;
    if (cr === 0 || cr === 4) {
      // MOV from CR0/CR4 never exits (it reads the shadow); MOV to exits when a host-owned bit would differ from the shadow.
      return access === 'write' && ((value ^ this.crShadow[cr]) & this.crMask[cr]) !== 0n;
    }
    if (cr === 3) {
      if (access === 'read') return this.on(p, Primary.CR3_STORE_EXITING);
      return this.on(p, Primary.CR3_LOAD_EXITING) && !this.cr3Targets.includes(value);
    }
    if (cr === 8) return this.on(p, access === 'write' ? Primary.CR8_LOAD_EXITING : Primary.CR8_STORE_EXITING);
    return false;
  }

  /** LMSW (26.1.3): a host-owned PE, MP, EM or TS it would make differ from the shadow, except that it never clears PE. */
  private lmswExits(src: number): boolean {
    const mask = Number(this.crMask[0] & 0xfn);
    const shadow = Number(this.crShadow[0] & 0xfn);
    if ((mask & CR0.PE) !== 0 && (shadow & CR0.PE) === 0 && (src & CR0.PE) !== 0) return true;
    return ((src ^ shadow) & mask & (CR0.MP | CR0.EM | CR0.TS)) !== 0;
  }

  /** Unconditional I/O exiting, or with I/O bitmaps every port the access touches (a wrap past FFFFH exits). */
  private ioExits(port: number, size: number): boolean {
    if (!this.on(this.primary, Primary.USE_IO_BITMAPS)) return this.on(this.primary, Primary.UNCONDITIONAL_IO_EXITING);
    const mem = this.cpu.mem;
    for (let q = port; q < port + size; q++) {
      if (q > 0xffff) return true;
      const base = q < 0x8000 ? this.ioA : this.ioB;
      const off = q & 0x7fff;
      if (((mem.read(base + (off >>> 3), 1) >>> (off & 7)) & 1) !== 0) return true;
    }
    return false;
  }

  /** RDMSR/WRMSR: every MSR exits without MSR bitmaps; with them, by the quarter for its range, and MSRs outside both ranges always. */
  private msrExits(msr: number, write: boolean): boolean {
    if (!this.on(this.primary, Primary.USE_MSR_BITMAPS)) return true;
    const m = msr >>> 0;
    let quarter: number;
    if (m <= 0x1fff) quarter = write ? 2048 : 0;
    else if (m >= 0xc0000000 && m <= 0xc0001fff) quarter = write ? 3072 : 1024;
    else return true;
    const n = m & 0x1fff;
    return ((this.cpu.mem.read(this.msrBitmap + quarter + (n >>> 3), 1) >>> (n & 7)) & 1) !== 0;
  }

  private exceptionExits(vector: number, type: EventType, errorCode: number, during: EventInfo | null): boolean {
    const inj = this.injecting;
    if (inj !== null) {
      this.injecting = null;
      // The injected event itself is delivered, whatever the exception bitmap says (27.6.1).
      if (during === null && vector === inj.vector) return false;
    }
    // INT n is not subject to the exception bitmap (26.2); a fault during its delivery is.
    if (type === 'software-interrupt') return false;
    const bit = ((this.exceptionBitmap >>> vector) & 1) !== 0;
    if (vector !== Vec.PF) return bit;
    // #PF: with bit 14 set, exit when (PFEC & mask) = match; with it clear, when they differ (26.2).
    const hit = ((errorCode & this.pfMask) >>> 0) === this.pfMatch >>> 0;
    return bit ? hit : !hit;
  }

  // ---- 28.2: the exit information

  /** What the VM exit for intercept `w` (taken by this monitor) records. */
  exitInfo(w: Intercept): VmExitInfo {
    const len = w.length;
    switch (w.kind) {
      case 'cpuid': return { reason: reason('CPUID'), instructionLength: len };
      case 'hlt': return { reason: reason('HLT'), instructionLength: len };
      case 'vmcall': return { reason: reason('VMCALL'), instructionLength: len };
      case 'rdtsc': return { reason: reason('RDTSC'), instructionLength: len };
      case 'rdtscp': return { reason: reason('RDTSCP'), instructionLength: len };
      case 'pause': return { reason: reason('PAUSE_INSTRUCTION'), instructionLength: len };
      case 'invlpg': return { reason: reason('INVLPG'), qualification: BigInt.asUintN(64, w.linear), instructionLength: len };
      case 'rdmsr': return { reason: reason('MSR_READ'), instructionLength: len };
      case 'wrmsr': return { reason: reason('MSR_WRITE'), instructionLength: len };
      case 'triple-fault': return { reason: reason('TRIPLE_FAULT') };
      case 'interrupt-window': return { reason: reason('INTERRUPT_WINDOW') };
      case 'deadline': return { reason: reason('PREEMPTION_TIMER') };
      case 'cr': {
        const q = encodeCrAccess({ cr: w.cr, access: w.access === 'write' ? 'mov-to-cr' : 'mov-from-cr', lmswMemory: false, gpr: w.gpr, lmswSource: 0 });
        return { reason: reason('CR_ACCESS'), qualification: BigInt(q), instructionLength: len };
      }
      case 'clts': {
        const q = encodeCrAccess({ cr: 0, access: 'clts', lmswMemory: false, gpr: 0, lmswSource: 0 });
        return { reason: reason('CR_ACCESS'), qualification: BigInt(q), instructionLength: len };
      }
      case 'lmsw': {
        const q = encodeCrAccess({ cr: 0, access: 'lmsw', lmswMemory: w.memory, gpr: 0, lmswSource: w.value & 0xffff });
        const info: VmExitInfo = { reason: reason('CR_ACCESS'), qualification: BigInt(q), instructionLength: len };
        if (w.linear !== null) info.guestLinearAddress = w.linear;
        return info;
      }
      case 'io': {
        const q = encodeIo({ size: w.size, direction: w.dir, string: w.string, rep: w.rep, immediate: w.immediate, port: w.port });
        const info: VmExitInfo = { reason: reason('IO_INSTRUCTION'), qualification: BigInt(q), instructionLength: len };
        // INS/OUTS record the linear address of the element (28.2.1); their instruction information
        // is not given, as IA32_VMX_BASIC bit 54 says (controls.ts).
        if (w.string && w.linear !== null) info.guestLinearAddress = w.linear;
        return info;
      }
      case 'vmx': {
        const info: VmExitInfo = { reason: reason(VMX_REASON[w.mnemonic]), instructionLength: len };
        const ops = w.operands;
        let x: { info: number; qualification: bigint } | undefined;
        switch (w.mnemonic) {
          case 'vmclear': case 'vmptrld': case 'vmptrst': case 'vmxon':
            x = vmxInstructionInfo(ops[0], -1, w.addrSize);
            break;
          case 'vmread': // VMREAD r/m, r: Reg2 holds the field encoding
            x = vmxInstructionInfo(ops[0], ops[1]?.kind === 'reg' ? ops[1].reg : -1, w.addrSize);
            break;
          case 'vmwrite': // VMWRITE r, r/m
          case 'invept': // INVEPT r, m128: Reg2 holds the type
          case 'invvpid':
            x = vmxInstructionInfo(ops[1], ops[0]?.kind === 'reg' ? ops[0].reg : -1, w.addrSize);
            break;
          default:
            break;
        }
        if (x !== undefined) {
          info.instructionInfo = x.info;
          info.qualification = x.qualification;
        }
        return info;
      }
      case 'external-interrupt': {
        const info: VmExitInfo = { reason: reason('EXTERNAL_INTERRUPT') };
        if (w.acknowledged) info.interruptionInfo = encodeInterruptionInfo({ vector: w.vector, type: InterruptionType.EXTERNAL_INTERRUPT, valid: true });
        return info;
      }
      case 'exception': {
        const info: VmExitInfo = {
          reason: reason('EXCEPTION_NMI'),
          interruptionInfo: encodeInterruptionInfo({ vector: w.vector, type: interruptionType(w.type), errorCodeValid: w.errorCode >= 0, valid: true }),
        };
        if (w.errorCode >= 0) info.interruptionErrorCode = w.errorCode;
        if (w.vector === Vec.PF && w.type === 'hardware-exception' && w.address !== null) info.qualification = BigInt.asUintN(64, w.address);
        if (SOFTWARE_TYPES.has(w.type)) info.instructionLength = len;
        const d = this.vectoring(w.during);
        if (d !== null) {
          info.idtVectoringInfo = encodeInterruptionInfo({ vector: d.vector, type: interruptionType(d.type), errorCodeValid: d.errorCode >= 0, valid: true });
          if (d.errorCode >= 0) info.idtVectoringErrorCode = d.errorCode;
          // An exit during delivery of a software event records that instruction's length (28.2.4).
          if (SOFTWARE_TYPES.has(d.type)) info.instructionLength = d.length;
        }
        return info;
      }
      case 'descriptor-table': {
        // 28.2.5, the tables for GDTR/IDTR and LDTR/TR accesses: the operand as for the VMX
        // instructions, and the instruction identity in bits 29:28 (SGDT/SLDT 0, SIDT/STR 1,
        // LGDT/LLDT 2, LIDT/LTR 3, the ModRM reg field of 0F 01 and 0F 00). GDTR/IDTR accesses
        // always have a memory operand and give its operand size in bit 11 (1 = 32-bit; undefined
        // in 64-bit mode, left 0). The qualification is the displacement (register form: 0).
        const gdtIdt = ['sgdt', 'sidt', 'lgdt', 'lidt'].includes(w.mnemonic);
        const identity = (gdtIdt ? ['sgdt', 'sidt', 'lgdt', 'lidt'] : ['sldt', 'str', 'lldt', 'ltr']).indexOf(w.mnemonic);
        const x = vmxInstructionInfo(w.operand, identity, w.addrSize);
        let info = x.info;
        if (gdtIdt && w.addrSize !== 8 && w.opSize === 4) info |= 1 << 11;
        return { reason: reason(gdtIdt ? 'GDTR_IDTR' : 'LDTR_TR'), instructionLength: len, instructionInfo: info >>> 0, qualification: x.qualification };
      }
      case 'nested-fault': {
        // The EPT walker's exit (ept.ts): reason 48 with the Table 28-7 qualification and both
        // addresses, or 49 with the guest-physical address only (28.2.1, 28.2.3).
        const f = w.fault as EptExit;
        const info: VmExitInfo = { reason: f.exitReason, guestPhysicalAddress: BigInt(f.guestPhysicalAddress) };
        if (f.kind === 'violation') {
          info.qualification = BigInt(f.qualification);
          if (f.guestLinearAddress !== undefined) info.guestLinearAddress = BigInt(f.guestLinearAddress);
        }
        return info;
      }
      // Trap-like: no instruction length; the EOI-induced exit's qualification is the vector (28.2.1).
      case 'virtualized-eoi': return { reason: reason('EOI_INDUCED'), qualification: BigInt(w.vector) };
      case 'tpr-below-threshold': return { reason: reason('TPR_BELOW_THRESHOLD') };
      case 'vmmcall':
      case 'svm':
        throw new Error(`${w.kind} is not a VMX exit`);
    }
  }

  /** The event being delivered, as IDT-vectoring information describes it (an injected one as VM entry gave it). */
  private vectoring(d: EventInfo | null): EventInfo | null {
    if (d === null) return null;
    const inj = this.injected;
    if (inj !== null && d.vector === inj.vector && SOFTWARE_TYPES.has(inj.type)) return { ...d, type: inj.type, length: inj.length };
    return d;
  }
}

/** Entry-control helpers the loader shares. */
export function ia32eGuest(entryControls: number): boolean {
  return (entryControls & Entry.IA32E_MODE_GUEST!) !== 0;
}
