/**
 * VMX operation of one logical processor: VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD,
 * VMWRITE, VMLAUNCH, VMRESUME and VMCALL, each a method that does what the instruction's
 * "Operation" section in Intel SDM Vol. 3C, chapter 31 ("VMX Instruction Reference") says, in its
 * order, and returns the architectural outcome:
 *
 *   { kind: 'fault', vector, errorCode, cause }  the instruction raises #UD or #GP(0)
 *   { kind: 'vm-exit', reason }                  executed in VMX non-root operation: it exits
 *   { kind: 'succeed', ... }                     VMsucceed: CF PF AF ZF SF OF all 0
 *   { kind: 'fail-invalid' }                     VMfailInvalid: CF = 1 (there is no current VMCS)
 *   { kind: 'fail-valid', error }                VMfailValid: ZF = 1, `error` written to the
 *                                                current VMCS's VM-instruction error field
 *   VMLAUNCH/VMRESUME also { kind: 'entered' } or { kind: 'entry-failed' } (below)
 *
 * `rflagsAfter` applies the flag rules of SDM Vol. 3C, 31.2 "Conventions".
 *
 * Design note: the seam to the CPU (the next layer).
 * - The hypervisor of issue 6 is TypeScript calling these methods, so a trace of its calls reads
 *   like hypervisor code (vmwrite(GUEST_RIP, ...), vmresume()). A guest executing a VMX
 *   instruction reaches the same methods through the CPU, which decodes the operand and reads a
 *   memory operand only where each instruction's Operation section does: after its #UD checks,
 *   the VM exit in non-root operation and the CPL > 0 #GP(0) (VMPTRLD at CPL 3 with a bad operand
 *   is #GP(0), not #PF); a #PF or #GP of that fetch is the CPU's. It calls the method and applies
 *   the outcome: a fault through its delivery path, flags
 *   through `rflagsAfter`, VMREAD's value to the destination, VMPTRST's to memory.
 * - Register operands where the SDM demands memory (#UD) are decoding matters for the CPU.
 * - The processor state these instructions consult comes through `VmxProcessor`, which the CPU
 *   will implement over CpuState (CPL, CR0, CR4, RFLAGS, EFER, CS.L, MOV-SS blocking) and its
 *   PhysMem, where VMCS regions live (vmcs.ts: the lab's layout).
 * - A successful VM entry returns the guest state read from the VMCS (`GuestState`) with what the
 *   loader must still do: the CPU loads it (27.3.2), loads the VM-entry MSR-load area (27.4:
 *   failures there are exit reason 34), delivers the injected event (27.6), and runs the guest
 *   in VMX non-root operation, where this object's mode is now 'non-root'.
 * - When the guest causes a VM exit, the CPU calls `vmexit(info, guestNow)`: the exit information
 *   is recorded, the guest state saved, the mode returns to root, and the host state to load is
 *   returned (28.5 loading it into CpuState is the CPU's).
 * - All state here is plain data (`VmxState`): a checkpoint is a copy; VMCS contents are in RAM.
 */
import type { PhysMem } from '../mem/physmem.ts';
import { MAXPHYADDR } from '../cpu/sys-ctl.ts';
import { CR0, CR4, EFER } from '../cpu/sys-util.ts';
import { Flag } from '../cpu/state.ts';
import {
  CR0_FIXED0,
  CR0_FIXED1,
  CR4_FIXED0,
  CR4_FIXED1,
  Entry,
  Exit,
  FEATURE_CONTROL_DEFAULT,
  FEATURE_CONTROL_LOCK,
  FEATURE_CONTROL_VMX_OUTSIDE_SMX,
  Pin,
  Primary,
  Secondary,
  SUPPORTED_FEATURES,
  VMCS_REVISION,
  VmxMsr,
  readVmxMsr,
  type VmxOptions,
} from './controls.ts';
import { ExitReason, EXIT_INVALID_GUEST_STATE, EXIT_REASON_ENTRY_FAILURE } from './exit-reasons.ts';
import { fieldByEncoding } from './fields.ts';
import { EptVpidCap } from './controls.ts';
import { eptCaps, eptpProblems } from './ept.ts';
import { runChecks, type EntryCheck } from './vmentry.ts';
import {
  readGuestState,
  readHostState,
  readLaunchState,
  readStored,
  regionReader,
  regionWriter,
  writeGuestState,
  writeLaunchState,
  writeStored,
  type FieldReader,
  type FieldWriter,
  type GuestState,
  type HostState,
} from './vmcs.ts';

/** VM-instruction error numbers (SDM Vol. 3C, 31.4, Table 31-1). */
export const VmInstructionError = {
  VMCALL_IN_ROOT: 1,
  VMCLEAR_INVALID_ADDRESS: 2,
  VMCLEAR_VMXON_POINTER: 3,
  VMLAUNCH_NON_CLEAR: 4,
  VMRESUME_NON_LAUNCHED: 5,
  VMRESUME_AFTER_VMXOFF: 6,
  ENTRY_INVALID_CONTROLS: 7,
  ENTRY_INVALID_HOST_STATE: 8,
  VMPTRLD_INVALID_ADDRESS: 9,
  VMPTRLD_VMXON_POINTER: 10,
  VMPTRLD_BAD_REVISION: 11,
  UNSUPPORTED_COMPONENT: 12,
  VMWRITE_READ_ONLY: 13,
  VMXON_IN_ROOT: 15,
  ENTRY_INVALID_EXECUTIVE_VMCS: 16,
  ENTRY_NON_LAUNCHED_EXECUTIVE_VMCS: 17,
  ENTRY_EXECUTIVE_VMCS_NOT_VMXON: 18,
  VMCALL_NON_CLEAR: 19,
  VMCALL_INVALID_EXIT_CONTROLS: 20,
  VMCALL_BAD_MSEG_REVISION: 22,
  VMXOFF_DUAL_MONITOR: 23,
  VMCALL_INVALID_SMM_FEATURES: 24,
  ENTRY_INVALID_EXECUTIVE_CONTROLS: 25,
  ENTRY_MOV_SS_BLOCKING: 26,
  INVALID_INVEPT_INVVPID_OPERAND: 28,
} as const;

/** Table 31-1's descriptions, by number. */
export const VM_INSTRUCTION_ERRORS: Readonly<Record<number, string>> = {
  1: 'VMCALL executed in VMX root operation',
  2: 'VMCLEAR with invalid physical address',
  3: 'VMCLEAR with VMXON pointer',
  4: 'VMLAUNCH with non-clear VMCS',
  5: 'VMRESUME with non-launched VMCS',
  6: 'VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)',
  7: 'VM entry with invalid control field(s)',
  8: 'VM entry with invalid host-state field(s)',
  9: 'VMPTRLD with invalid physical address',
  10: 'VMPTRLD with VMXON pointer',
  11: 'VMPTRLD with incorrect VMCS revision identifier',
  12: 'VMREAD/VMWRITE from/to unsupported VMCS component',
  13: 'VMWRITE to read-only VMCS component',
  15: 'VMXON executed in VMX root operation',
  16: 'VM entry with invalid executive-VMCS pointer',
  17: 'VM entry with non-launched executive VMCS',
  18: 'VM entry with executive-VMCS pointer not VMXON pointer',
  19: 'VMCALL with non-clear VMCS',
  20: 'VMCALL with invalid VM-exit control fields',
  22: 'VMCALL with incorrect MSEG revision identifier',
  23: 'VMXOFF under dual-monitor treatment of SMIs and SMM',
  24: 'VMCALL with invalid SMM-monitor features',
  25: 'VM entry with invalid VM-execution control fields in executive VMCS',
  26: 'VM entry with events blocked by MOV SS',
  28: 'Invalid operand to INVEPT/INVVPID',
};

/** What the VMX instructions read of the processor; the CPU implements it over CpuState. */
export interface VmxProcessor {
  readonly mem: PhysMem;
  cpl(): number;
  /** CR0 (bits 31:0; bits 63:32 are reserved and 0). */
  cr0(): number;
  cr4(): number;
  rflags(): number;
  /** IA32_EFER (bits 31:0). */
  efer(): number;
  /** CS.L of the current code segment. */
  csLong(): boolean;
  /** Whether events are blocked by MOV SS (or POP SS) right now (the one-instruction shadow). */
  blockedByMovSs(): boolean;
  /**
   * The processor's cached translations, which INVVPID and INVEPT invalidate (absent: the
   * instructions make their checks and invalidate nothing, as for a processor with no TLB).
   */
  readonly tlb?: VmxTlb;
}

/** What INVVPID and INVEPT act on (the lab's Cpu implements it over its tagged TLB: run.ts cpuProcessor). */
export interface VmxTlb {
  /** INVVPID's invalidation, checks passed (INVVPID_TYPE of mmu/tlb.ts). */
  invvpid(type: number, vpid: number, linear: bigint): void;
  /** INVEPT's invalidation, checks passed: type 1 for the EP4TA (EPTP bits 51:12 as a page number), type 2 all. */
  invept(type: number, ep4ta: number): void;
}

export type VmxMode = 'off' | 'root' | 'non-root';

/** Plain-data VMX state of a logical processor (physical addresses; -1 = FFFFFFFF_FFFFFFFFH, no pointer). */
export interface VmxState {
  mode: VmxMode;
  vmxonPointer: number;
  currentVmcs: number;
  /** IA32_FEATURE_CONTROL as firmware left it. */
  featureControl: number;
}

export const NO_POINTER = -1;
const ALL_ONES = 0xffffffffffffffffn;

export type FaultCause =
  | 'not-in-vmx-operation'
  | 'cr4-vmxe-clear'
  | 'cr0-pe-clear'
  | 'virtual-8086-mode'
  | 'compatibility-mode'
  | 'cpl-not-0'
  | 'cr0-cr4-not-supported-in-vmx'
  | 'feature-control';

export interface VmxFault {
  kind: 'fault';
  /** 6 (#UD) or 13 (#GP). */
  vector: 6 | 13;
  /** -1 for #UD (no error code), 0 for #GP(0). */
  errorCode: number;
  cause: FaultCause;
}
export interface VmxExitOutcome {
  kind: 'vm-exit';
  /** Basic exit reason (VMXON 27, VMCLEAR 19, ...). */
  reason: number;
}
export interface VmSucceed {
  kind: 'succeed';
}
export interface VmFailInvalid {
  kind: 'fail-invalid';
}
export interface VmFailValid {
  kind: 'fail-valid';
  error: number;
  /** For errors 7 and 8: the VM-entry check that failed (not architectural state: it is what a student is told). */
  check?: EntryCheck;
}
export type VmxOutcome = VmxFault | VmxExitOutcome | VmSucceed | VmFailInvalid | VmFailValid;
export type VmreadOutcome = Exclude<VmxOutcome, VmSucceed> | (VmSucceed & { value: bigint });
export type VmptrstOutcome = Exclude<VmxOutcome, VmSucceed> | (VmSucceed & { pointer: bigint });

/** VM entry succeeded: the CPU now loads `guest` and runs it in VMX non-root operation. */
export interface VmEntered {
  kind: 'entered';
  launch: boolean;
  guest: GuestState;
  /** Entry controls the loader needs: IA-32e mode guest, load EFER/PAT/debug controls. */
  entryControls: number;
  /** The event to inject (VM-entry interruption-information field, 0 if none) and its error code and length. */
  injection: { info: number; errorCode: number; instructionLength: number };
  /** The VM-entry MSR-load area for the loader (27.4). */
  msrLoad: { address: bigint; count: number };
}

/** VM entry failed on guest state (27.8): no VMfail; the exit reason is written and the host state loaded. */
export interface VmEntryFailed {
  kind: 'entry-failed';
  exitReason: number;
  qualification: number;
  check: EntryCheck;
  host: HostState;
}

export type VmEntryOutcome = Exclude<VmxOutcome, VmSucceed> | VmEntered | VmEntryFailed;

/** What a VM exit records (SDM Vol. 3C, 28.2); absent fields are written as 0. */
export interface VmExitInfo {
  reason: number;
  qualification?: bigint;
  guestLinearAddress?: bigint;
  guestPhysicalAddress?: bigint;
  interruptionInfo?: number;
  interruptionErrorCode?: number;
  idtVectoringInfo?: number;
  idtVectoringErrorCode?: number;
  instructionLength?: number;
  instructionInfo?: number;
}

export interface VmExitResult {
  host: HostState;
  /** Host address-space size (the host returns to 64-bit mode). */
  hostLong: boolean;
  /** Exit controls the loader needs: load EFER/PAT. */
  exitControls: number;
}

/** RFLAGS after an outcome (SDM Vol. 3C, 31.2): VMsucceed clears CF PF AF ZF SF OF, VMfailInvalid sets CF, VMfailValid sets ZF. */
export function rflagsAfter(rflags: number, o: { kind: string }): number {
  const arith = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
  switch (o.kind) {
    case 'succeed': return (rflags & ~arith) >>> 0;
    case 'fail-invalid': return ((rflags & ~arith) | Flag.CF) >>> 0;
    case 'fail-valid': return ((rflags & ~arith) | Flag.ZF) >>> 0;
    default: return rflags >>> 0;
  }
}

const ud = (cause: FaultCause): VmxFault => ({ kind: 'fault', vector: 6, errorCode: -1, cause });
const gp = (cause: FaultCause): VmxFault => ({ kind: 'fault', vector: 13, errorCode: 0, cause });
const SUCCEED: VmSucceed = { kind: 'succeed' };
const PHYS_LIMIT = 1n << BigInt(MAXPHYADDR);

/** A VMXON/VMCS pointer operand is 4-KByte aligned and within the physical-address width. */
export function validPointer(pa: bigint): boolean {
  return pa >= 0n && pa < PHYS_LIMIT && (pa & 0xfffn) === 0n;
}

export class Vmx {
  state: VmxState;

  constructor(
    readonly cpu: VmxProcessor,
    readonly options: VmxOptions = {},
  ) {
    this.state = { mode: 'off', vmxonPointer: NO_POINTER, currentVmcs: NO_POINTER, featureControl: FEATURE_CONTROL_DEFAULT };
  }

  /** RDMSR of IA32_FEATURE_CONTROL or a VMX capability MSR (undefined for any other index: not this unit's). */
  rdmsr(index: number): bigint | undefined {
    if (index === VmxMsr.IA32_FEATURE_CONTROL) return BigInt(this.state.featureControl);
    return readVmxMsr(index, this.options);
  }

  save(): VmxState {
    return { ...this.state };
  }

  restore(s: VmxState): void {
    this.state = { ...s };
  }

  // ---- shared parts of the Operation sections

  private in64(): boolean {
    return (this.cpu.efer() & EFER.LMA) !== 0 && this.cpu.csLong();
  }

  /** "(RFLAGS.VM = 1) or (IA32_EFER.LMA = 1 and CS.L = 0)": #UD. */
  private modeFault(): VmxFault | undefined {
    if ((this.cpu.rflags() & Flag.VM) !== 0) return ud('virtual-8086-mode');
    if ((this.cpu.efer() & EFER.LMA) !== 0 && !this.cpu.csLong()) return ud('compatibility-mode');
    return undefined;
  }

  /**
   * The prologue most VMX instructions share: #UD outside VMX operation, with CR0.PE = 0, in
   * virtual-8086 or compatibility mode; a VM exit in non-root operation; #GP(0) at CPL > 0.
   */
  private prologue(exitReason: number, checkPe = true): VmxFault | VmxExitOutcome | undefined {
    if (this.state.mode === 'off') return ud('not-in-vmx-operation');
    if (checkPe && (this.cpu.cr0() & CR0.PE) === 0) return ud('cr0-pe-clear');
    const m = this.modeFault();
    if (m !== undefined) return m;
    if (this.state.mode === 'non-root') return { kind: 'vm-exit', reason: exitReason };
    if (this.cpu.cpl() > 0) return gp('cpl-not-0');
    return undefined;
  }

  /** VMfail(error): VMfailValid if there is a current VMCS (the error is written to it), else VMfailInvalid. */
  private vmfail(error: number): VmFailValid | VmFailInvalid {
    const cur = this.state.currentVmcs;
    if (cur === NO_POINTER) return { kind: 'fail-invalid' };
    writeStored(this.cpu.mem, cur, fieldByEncoding(0x4400)!.field, BigInt(error));
    return { kind: 'fail-valid', error };
  }

  /** VMfailValid for a failed control or host-state check (there is a current VMCS by then). */
  private entryFail(error: number, check: EntryCheck): VmFailValid {
    this.currentWriter()('VM_INSTRUCTION_ERROR', BigInt(error));
    return { kind: 'fail-valid', error, check };
  }

  /** Reads fields of the current VMCS by name (the processor's own access, no VMREAD checks); for the inspector and tests. */
  currentReader(): FieldReader | undefined {
    return this.state.currentVmcs === NO_POINTER ? undefined : regionReader(this.cpu.mem, this.state.currentVmcs);
  }

  private currentWriter(): FieldWriter {
    return regionWriter(this.cpu.mem, this.state.currentVmcs);
  }

  // ---- the instructions

  /** VMXON m64: enter VMX root operation with the VMXON region at `pointer`. */
  vmxon(pointer: bigint): VmxOutcome {
    const cpu = this.cpu;
    if ((cpu.cr0() & CR0.PE) === 0) return ud('cr0-pe-clear');
    if ((cpu.cr4() & CR4_FIXED0) === 0) return ud('cr4-vmxe-clear');
    const m = this.modeFault();
    if (m !== undefined) return m;
    if (this.state.mode === 'off') {
      if (cpu.cpl() > 0) return gp('cpl-not-0');
      const cr0 = cpu.cr0() >>> 0;
      const cr4 = cpu.cr4() >>> 0;
      if (((cr0 & CR0_FIXED0) >>> 0) !== CR0_FIXED0 || (cr0 & ~CR0_FIXED1) !== 0 || (cr4 & CR4_FIXED0) !== CR4_FIXED0 || (cr4 & ~CR4_FIXED1) !== 0) {
        return gp('cr0-cr4-not-supported-in-vmx');
      }
      const fc = this.state.featureControl;
      if ((fc & FEATURE_CONTROL_LOCK) === 0 || (fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX) === 0) return gp('feature-control');
      if (!validPointer(pointer)) return { kind: 'fail-invalid' };
      const rev = cpu.mem.read(Number(pointer), 4);
      if ((rev & 0x7fffffff) !== VMCS_REVISION || (rev & 0x80000000) !== 0) return { kind: 'fail-invalid' };
      this.state = { ...this.state, mode: 'root', vmxonPointer: Number(pointer), currentVmcs: NO_POINTER };
      return SUCCEED;
    }
    if (this.state.mode === 'non-root') return { kind: 'vm-exit', reason: ExitReason.VMON! };
    if (cpu.cpl() > 0) return gp('cpl-not-0');
    return this.vmfail(VmInstructionError.VMXON_IN_ROOT);
  }

  /** VMXOFF: leave VMX operation. */
  vmxoff(): VmxOutcome {
    const p = this.prologue(ExitReason.VMOFF!);
    if (p !== undefined) return p;
    // Dual-monitor treatment of SMIs and SMM (error 23) is not supported, so never active.
    this.state = { ...this.state, mode: 'off', vmxonPointer: NO_POINTER, currentVmcs: NO_POINTER };
    return SUCCEED;
  }

  /** VMCLEAR m64: make the VMCS at `pointer` clear (and not current). */
  vmclear(pointer: bigint): VmxOutcome {
    const p = this.prologue(ExitReason.VMCLEAR!);
    if (p !== undefined) return p;
    if (!validPointer(pointer)) return this.vmfail(VmInstructionError.VMCLEAR_INVALID_ADDRESS);
    const pa = Number(pointer);
    if (pa === this.state.vmxonPointer) return this.vmfail(VmInstructionError.VMCLEAR_VMXON_POINTER);
    // Nothing is cached on chip (vmcs.ts), so "ensure the VMCS data is in memory" is already true.
    writeLaunchState(this.cpu.mem, pa, 'clear');
    if (pa === this.state.currentVmcs) this.state = { ...this.state, currentVmcs: NO_POINTER };
    return SUCCEED;
  }

  /** VMPTRLD m64: make the VMCS at `pointer` current. */
  vmptrld(pointer: bigint): VmxOutcome {
    const p = this.prologue(ExitReason.VMPTRLD!);
    if (p !== undefined) return p;
    if (!validPointer(pointer)) return this.vmfail(VmInstructionError.VMPTRLD_INVALID_ADDRESS);
    const pa = Number(pointer);
    if (pa === this.state.vmxonPointer) return this.vmfail(VmInstructionError.VMPTRLD_VMXON_POINTER);
    const rev = this.cpu.mem.read(pa, 4);
    // Bit 31 (shadow VMCS) must be 0: the lab does not support VMCS shadowing.
    if ((rev & 0x7fffffff) !== VMCS_REVISION || (rev & 0x80000000) !== 0) return this.vmfail(VmInstructionError.VMPTRLD_BAD_REVISION);
    this.state = { ...this.state, currentVmcs: pa };
    return SUCCEED;
  }

  /** VMPTRST m64: the current-VMCS pointer (FFFFFFFF_FFFFFFFFH if none), for the CPU to store. */
  vmptrst(): VmptrstOutcome {
    const p = this.prologue(ExitReason.VMPTRST!);
    if (p !== undefined) return p;
    const cur = this.state.currentVmcs;
    return { kind: 'succeed', pointer: cur === NO_POINTER ? ALL_ONES : BigInt(cur) };
  }

  /** Resolves an encoding operand to a supported field (or undefined: error 12). Bits 63:32 of the operand must be 0. */
  private field(encoding: number | bigint) {
    const e = typeof encoding === 'bigint' ? (encoding >= 0n && encoding <= 0xffffffffn ? Number(encoding) : -1) : encoding;
    const f = fieldByEncoding(e);
    if (f === undefined || !SUPPORTED_FEATURES.has(f.field.feature)) return undefined;
    return f;
  }

  /**
   * VMREAD: the field's value zero-extended; a high access gives bits 63:32 of a 64-bit field;
   * outside 64-bit mode the operand is 32 bits and gets the low 32 bits.
   */
  vmread(encoding: number | bigint): VmreadOutcome {
    const p = this.prologue(ExitReason.VMREAD!, false);
    if (p !== undefined) return p;
    if (this.state.currentVmcs === NO_POINTER) return { kind: 'fail-invalid' };
    const f = this.field(encoding);
    if (f === undefined) return this.vmfail(VmInstructionError.UNSUPPORTED_COMPONENT);
    const stored = readStored(this.cpu.mem, this.state.currentVmcs, f.field);
    let value = f.access === 'high' ? stored >> 32n : stored;
    if (!this.in64()) value &= 0xffffffffn;
    return { kind: 'succeed', value };
  }

  /**
   * VMWRITE: a field shorter than the operand takes its low bits; a longer one (a 64-bit or
   * natural-width field written outside 64-bit mode) has its high bits cleared; a high access
   * writes bits 63:32 and keeps bits 31:0.
   */
  vmwrite(encoding: number | bigint, value: bigint): VmxOutcome {
    const p = this.prologue(ExitReason.VMWRITE!, false);
    if (p !== undefined) return p;
    if (this.state.currentVmcs === NO_POINTER) return { kind: 'fail-invalid' };
    const f = this.field(encoding);
    if (f === undefined) return this.vmfail(VmInstructionError.UNSUPPORTED_COMPONENT);
    if (f.field.type === 'exit-info' && this.options.vmwriteExitInfo !== true) return this.vmfail(VmInstructionError.VMWRITE_READ_ONLY);
    const mem = this.cpu.mem;
    const cur = this.state.currentVmcs;
    const operand = BigInt.asUintN(this.in64() ? 64 : 32, value);
    if (f.access === 'high') {
      const old = readStored(mem, cur, f.field);
      writeStored(mem, cur, f.field, (old & 0xffffffffn) | ((operand & 0xffffffffn) << 32n));
    } else {
      writeStored(mem, cur, f.field, operand);
    }
    return SUCCEED;
  }

  /** Whether IA32_VMX_EPT_VPID_CAP has the bit (this processor's capabilities, options included). */
  private cap(bit: number): boolean {
    const msr = readVmxMsr(VmxMsr.IA32_VMX_EPT_VPID_CAP, this.options) ?? 0n;
    return ((msr >> BigInt(bit)) & 1n) !== 0n;
  }

  /**
   * INVVPID r, m128 (SDM Vol. 3C ch. 31, INVVPID; the invalidations of 29.4.3.1): `type` the
   * register operand, `descriptor` the 128-bit memory operand as its two halves (bits 15:0 the
   * VPID, 63:16 reserved; 127:64 the linear address). In order: the VMX prologue (#UD, the VM exit
   * in non-root operation, #GP(0) at CPL > 0); a type IA32_VMX_EPT_VPID_CAP does not report
   * (bits 40-43), reserved descriptor bits, VPID 0 for types 0, 1 and 3, and a non-canonical
   * address for type 0 are VMfail(28); otherwise the mappings are invalidated and VMsucceed.
   * Type 2 (all contexts) spares VPID 0000H, the host's.
   */
  invvpid(type: bigint | number, descriptor: { lo: bigint; hi: bigint }): VmxOutcome {
    const p = this.prologue(ExitReason.INVVPID!);
    if (p !== undefined) return p;
    const t = BigInt(type);
    const bad = (): VmFailValid | VmFailInvalid => this.vmfail(VmInstructionError.INVALID_INVEPT_INVVPID_OPERAND);
    if (!this.cap(EptVpidCap.INVVPID) || t < 0n || t > 3n || !this.cap(EptVpidCap.INVVPID_INDIVIDUAL_ADDRESS + Number(t))) return bad();
    const lo = BigInt.asUintN(64, descriptor.lo);
    if (lo >> 16n !== 0n) return bad();
    const vpid = Number(lo & 0xffffn);
    const n = Number(t);
    if (n !== 2 && vpid === 0) return bad();
    const linear = BigInt.asUintN(64, descriptor.hi);
    if (n === 0) {
      const bits = (this.cpu.cr4() & 0x1000) !== 0 ? 57 : 48;
      const top = linear >> BigInt(bits - 1);
      if (top !== 0n && top !== (1n << BigInt(65 - bits)) - 1n) return bad();
    }
    this.cpu.tlb?.invvpid(n, vpid, linear);
    return SUCCEED;
  }

  /**
   * INVEPT r, m128 (SDM Vol. 3C ch. 31, INVEPT; 29.4.3.1): `type` 1 (single-context: the EPTP in
   * descriptor bits 63:0, which must pass the VM-entry checks on an EPTP, 27.2.1.1) or 2 (global).
   * A type IA32_VMX_EPT_VPID_CAP does not report (bits 25, 26) or an invalid EPTP is VMfail(28).
   * Guest-physical and combined mappings of that EP4TA (or of all) are invalidated; linear mappings stay.
   */
  invept(type: bigint | number, descriptor: { lo: bigint; hi: bigint }): VmxOutcome {
    const p = this.prologue(ExitReason.INVEPT!);
    if (p !== undefined) return p;
    const t = BigInt(type);
    const bad = (): VmFailValid | VmFailInvalid => this.vmfail(VmInstructionError.INVALID_INVEPT_INVVPID_OPERAND);
    const supported = t === 1n ? EptVpidCap.INVEPT_SINGLE_CONTEXT : t === 2n ? EptVpidCap.INVEPT_ALL_CONTEXT : -1;
    if (!this.cap(EptVpidCap.INVEPT) || supported < 0 || !this.cap(supported)) return bad();
    const eptp = BigInt.asUintN(64, descriptor.lo);
    if (t === 1n) {
      const caps = eptCaps(readVmxMsr(VmxMsr.IA32_VMX_EPT_VPID_CAP, this.options) ?? 0n);
      if (eptpProblems(eptp, caps, MAXPHYADDR).length > 0) return bad();
    }
    this.cpu.tlb?.invept(Number(t), t === 1n ? Number((eptp >> 12n) & 0xffffffffffn) : -1);
    return SUCCEED;
  }

  /** VMCALL in VMX root operation (dual-monitor treatment is not supported): VMfail(1). In non-root operation it exits. */
  vmcall(): VmxOutcome {
    if (this.state.mode === 'off') return ud('not-in-vmx-operation');
    if (this.state.mode === 'non-root') return { kind: 'vm-exit', reason: ExitReason.VMCALL! };
    const m = this.modeFault();
    if (m !== undefined) return m;
    if (this.cpu.cpl() > 0) return gp('cpl-not-0');
    return this.vmfail(VmInstructionError.VMCALL_IN_ROOT);
  }

  vmlaunch(): VmEntryOutcome {
    return this.vmentry(true);
  }

  vmresume(): VmEntryOutcome {
    return this.vmentry(false);
  }

  /** VMLAUNCH / VMRESUME (SDM Vol. 3C, ch. 31 and ch. 27). */
  private vmentry(launch: boolean): VmEntryOutcome {
    const p = this.prologue(launch ? ExitReason.VMLAUNCH! : ExitReason.VMRESUME!);
    if (p !== undefined) return p;
    const cur = this.state.currentVmcs;
    if (cur === NO_POINTER) return { kind: 'fail-invalid' };
    if (this.cpu.blockedByMovSs()) return this.vmfail(VmInstructionError.ENTRY_MOV_SS_BLOCKING);
    const mem = this.cpu.mem;
    const ls = readLaunchState(mem, cur);
    if (launch && ls !== 'clear') return this.vmfail(VmInstructionError.VMLAUNCH_NON_CLEAR);
    if (!launch && ls !== 'launched') return this.vmfail(VmInstructionError.VMRESUME_NON_LAUNCHED);
    const read = regionReader(mem, cur);
    const ctx = { read, mem, processorLma: (this.cpu.efer() & EFER.LMA) !== 0 };
    const controls = runChecks('controls', ctx);
    if (!controls.ok) return this.entryFail(VmInstructionError.ENTRY_INVALID_CONTROLS, controls.check);
    const host = runChecks('host', ctx);
    if (!host.ok) return this.entryFail(VmInstructionError.ENTRY_INVALID_HOST_STATE, host.check);
    const guest = runChecks('guest', ctx);
    if (!guest.ok) {
      const qualification = guest.check.qualification ?? 0;
      const exitReason = (EXIT_INVALID_GUEST_STATE | EXIT_REASON_ENTRY_FAILURE) >>> 0;
      const wr = this.currentWriter();
      wr('VM_EXIT_REASON', BigInt(exitReason));
      wr('EXIT_QUALIFICATION', BigInt(qualification));
      return { kind: 'entry-failed', exitReason, qualification, check: guest.check, host: readHostState(read) };
    }
    if (launch) writeLaunchState(mem, cur, 'launched');
    this.state = { ...this.state, mode: 'non-root' };
    return {
      kind: 'entered',
      launch,
      guest: readGuestState(read),
      entryControls: Number(read('VM_ENTRY_CONTROLS')),
      injection: {
        info: Number(read('VM_ENTRY_INTR_INFO_FIELD')),
        errorCode: Number(read('VM_ENTRY_EXCEPTION_ERROR_CODE')),
        instructionLength: Number(read('VM_ENTRY_INSTRUCTION_LEN')),
      },
      msrLoad: { address: read('VM_ENTRY_MSR_LOAD_ADDR'), count: Number(read('VM_ENTRY_MSR_LOAD_COUNT')) },
    };
  }

  /**
   * A VM entry that fails after the guest state was loaded (SDM Vol. 3C, 27.8): the lab's case is
   * the VM-entry MSR-load area (exit reason 34, the qualification the number of the failing entry,
   * counting from 1). The exit reason (with bit 31, VM-entry failure) and qualification are
   * written, no guest state is saved, the mode returns to root, and the host state is returned to
   * load as at a VM exit.
   */
  entryFailedLate(reason: number, qualification: number): VmExitResult {
    if (this.state.mode !== 'non-root') throw new Error('entryFailedLate outside VMX non-root operation');
    const wr = this.currentWriter();
    const read = regionReader(this.cpu.mem, this.state.currentVmcs);
    wr('VM_EXIT_REASON', BigInt((reason | EXIT_REASON_ENTRY_FAILURE) >>> 0));
    wr('EXIT_QUALIFICATION', BigInt(qualification));
    this.state = { ...this.state, mode: 'root' };
    const exit = Number(read('VM_EXIT_CONTROLS'));
    return { host: readHostState(read), hostLong: (exit & Exit.HOST_ADDRESS_SPACE_SIZE!) !== 0, exitControls: exit };
  }

  /**
   * A VM exit (SDM Vol. 3C, ch. 28), called by the CPU running the guest: records the exit
   * information (28.2), saves the guest state `guest` (28.3), returns to VMX root operation and
   * hands back the host state to load (28.5). Calling it outside non-root operation is a bug in
   * the caller, not an architectural event, so it throws.
   */
  vmexit(info: VmExitInfo, guest: GuestState): VmExitResult {
    if (this.state.mode !== 'non-root') throw new Error('vmexit outside VMX non-root operation');
    const mem = this.cpu.mem;
    const cur = this.state.currentVmcs;
    const wr = regionWriter(mem, cur);
    const read = regionReader(mem, cur);
    wr('VM_EXIT_REASON', BigInt(info.reason & 0xffff));
    wr('EXIT_QUALIFICATION', info.qualification ?? 0n);
    wr('GUEST_LINEAR_ADDRESS', info.guestLinearAddress ?? 0n);
    wr('GUEST_PHYSICAL_ADDRESS', info.guestPhysicalAddress ?? 0n);
    wr('VM_EXIT_INTR_INFO', BigInt((info.interruptionInfo ?? 0) >>> 0));
    wr('VM_EXIT_INTR_ERROR_CODE', BigInt((info.interruptionErrorCode ?? 0) >>> 0));
    wr('IDT_VECTORING_INFO_FIELD', BigInt((info.idtVectoringInfo ?? 0) >>> 0));
    wr('IDT_VECTORING_ERROR_CODE', BigInt((info.idtVectoringErrorCode ?? 0) >>> 0));
    wr('VM_EXIT_INSTRUCTION_LEN', BigInt(info.instructionLength ?? 0));
    wr('VMX_INSTRUCTION_INFO', BigInt((info.instructionInfo ?? 0) >>> 0));
    // Every VM exit clears the valid bit of the VM-entry interruption-information field (SDM Vol. 3C, 28.2).
    wr('VM_ENTRY_INTR_INFO_FIELD', read('VM_ENTRY_INTR_INFO_FIELD') & 0x7fffffffn);
    writeGuestState(wr, guest);
    const exit = Number(read('VM_EXIT_CONTROLS'));
    if ((exit & Exit.SAVE_DEBUG_CONTROLS!) !== 0) {
      wr('GUEST_DR7', guest.dr7);
      wr('GUEST_IA32_DEBUGCTL', guest.debugctl);
    }
    if ((exit & Exit.SAVE_IA32_PAT!) !== 0) wr('GUEST_IA32_PAT', guest.pat);
    if ((exit & Exit.SAVE_IA32_EFER!) !== 0) wr('GUEST_IA32_EFER', guest.efer);
    if ((exit & Exit.SAVE_PREEMPTION_TIMER_VALUE!) !== 0 && (Number(read('PIN_BASED_VM_EXEC_CONTROL')) & Pin.ACTIVATE_PREEMPTION_TIMER!) !== 0) {
      wr('VMX_PREEMPTION_TIMER_VALUE', BigInt(guest.preemptionTimer >>> 0));
    }
    if (guest.interruptStatus !== undefined) wr('GUEST_INTR_STATUS', BigInt(guest.interruptStatus & 0xffff));
    // 28.3.4: with "enable EPT" and the guest in PAE paging, the PDPTEs in use are saved.
    const secondaryOn = (Number(read('CPU_BASED_VM_EXEC_CONTROL')) & Primary.ACTIVATE_SECONDARY_CONTROLS!) !== 0;
    const ept = secondaryOn && (Number(read('SECONDARY_VM_EXEC_CONTROL')) & Secondary.ENABLE_EPT!) !== 0;
    const paePaging = (guest.cr0 & BigInt(CR0.PG)) !== 0n && (guest.cr4 & BigInt(CR4.PAE)) !== 0n && (guest.efer & BigInt(EFER.LMA)) === 0n;
    if (ept && paePaging) guest.pdpte.forEach((v, i) => wr(`GUEST_PDPTR${i}`, v));
    // IA32_VMX_MISC bit 5: the "IA-32e mode guest" entry control receives the guest's EFER.LMA.
    const entry = Number(read('VM_ENTRY_CONTROLS'));
    const lma = (guest.efer & BigInt(EFER.LMA)) !== 0n;
    wr('VM_ENTRY_CONTROLS', BigInt(lma ? (entry | Entry.IA32E_MODE_GUEST!) >>> 0 : entry & ~Entry.IA32E_MODE_GUEST!));
    this.state = { ...this.state, mode: 'root' };
    return { host: readHostState(read), hostLong: (exit & Exit.HOST_ADDRESS_SPACE_SIZE!) !== 0, exitControls: exit };
  }
}
