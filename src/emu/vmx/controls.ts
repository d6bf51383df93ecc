/**
 * VMX controls and this lab's VMX capability MSRs.
 *
 * The control fields (Intel SDM Vol. 3C, 25.6 "VM-Execution Control Fields", 25.7.1 "VM-Exit
 * Controls", 25.8.1 "VM-Entry Controls") are 32-bit bit masks; every bit hypervisors name is
 * listed here by its SDM name. Which of them this lab's processor lets software set to 1 is said,
 * as on real hardware, by the capability MSRs of SDM Vol. 3C, Appendix A "VMX Capability
 * Reporting Facility": for each control field an MSR whose low 32 bits are the allowed 0-settings
 * (a 1 there means the control must be 1) and whose high 32 bits are the allowed 1-settings (a 0
 * there means the control must be 0). VM entry checks the control fields against them
 * (vmentry.ts). The lab supports what issue 6's hypervisor needs; every choice is documented at
 * the value.
 */
import { CR0, CR4 } from '../cpu/sys-util.ts';
import { CR4_ALLOWED } from '../cpu/sys-ctl.ts';
import { VMCS_FIELDS, type FieldFeature } from './fields.ts';

export interface ControlBit {
  readonly bit: number;
  /** Identifier in SDM words (e.g. HLT_EXITING). */
  readonly name: string;
  /** The SDM's name of the control. */
  readonly title: string;
}

export type ControlField = 'pin' | 'primary' | 'secondary' | 'exit' | 'entry';

const bits = (rows: readonly (readonly [number, string, string])[]): readonly ControlBit[] =>
  rows.map(([bit, name, title]) => ({ bit, name, title }));

/** Pin-based VM-execution controls (SDM Vol. 3C, Table 25-5). */
export const PIN_CONTROLS = bits([
  [0, 'EXTERNAL_INTERRUPT_EXITING', 'External-interrupt exiting'],
  [3, 'NMI_EXITING', 'NMI exiting'],
  [5, 'VIRTUAL_NMIS', 'Virtual NMIs'],
  [6, 'ACTIVATE_PREEMPTION_TIMER', 'Activate VMX-preemption timer'],
  [7, 'PROCESS_POSTED_INTERRUPTS', 'Process posted interrupts'],
]);

/** Primary processor-based VM-execution controls (SDM Vol. 3C, Table 25-6). */
export const PRIMARY_CONTROLS = bits([
  [2, 'INTERRUPT_WINDOW_EXITING', 'Interrupt-window exiting'],
  [3, 'USE_TSC_OFFSETTING', 'Use TSC offsetting'],
  [7, 'HLT_EXITING', 'HLT exiting'],
  [9, 'INVLPG_EXITING', 'INVLPG exiting'],
  [10, 'MWAIT_EXITING', 'MWAIT exiting'],
  [11, 'RDPMC_EXITING', 'RDPMC exiting'],
  [12, 'RDTSC_EXITING', 'RDTSC exiting'],
  [15, 'CR3_LOAD_EXITING', 'CR3-load exiting'],
  [16, 'CR3_STORE_EXITING', 'CR3-store exiting'],
  [17, 'ACTIVATE_TERTIARY_CONTROLS', 'Activate tertiary controls'],
  [19, 'CR8_LOAD_EXITING', 'CR8-load exiting'],
  [20, 'CR8_STORE_EXITING', 'CR8-store exiting'],
  [21, 'USE_TPR_SHADOW', 'Use TPR shadow'],
  [22, 'NMI_WINDOW_EXITING', 'NMI-window exiting'],
  [23, 'MOV_DR_EXITING', 'MOV-DR exiting'],
  [24, 'UNCONDITIONAL_IO_EXITING', 'Unconditional I/O exiting'],
  [25, 'USE_IO_BITMAPS', 'Use I/O bitmaps'],
  [27, 'MONITOR_TRAP_FLAG', 'Monitor trap flag'],
  [28, 'USE_MSR_BITMAPS', 'Use MSR bitmaps'],
  [29, 'MONITOR_EXITING', 'MONITOR exiting'],
  [30, 'PAUSE_EXITING', 'PAUSE exiting'],
  [31, 'ACTIVATE_SECONDARY_CONTROLS', 'Activate secondary controls'],
]);

/** Secondary processor-based VM-execution controls (SDM Vol. 3C, Table 25-7). */
export const SECONDARY_CONTROLS = bits([
  [0, 'VIRTUALIZE_APIC_ACCESSES', 'Virtualize APIC accesses'],
  [1, 'ENABLE_EPT', 'Enable EPT'],
  [2, 'DESCRIPTOR_TABLE_EXITING', 'Descriptor-table exiting'],
  [3, 'ENABLE_RDTSCP', 'Enable RDTSCP'],
  [4, 'VIRTUALIZE_X2APIC_MODE', 'Virtualize x2APIC mode'],
  [5, 'ENABLE_VPID', 'Enable VPID'],
  [6, 'WBINVD_EXITING', 'WBINVD exiting'],
  [7, 'UNRESTRICTED_GUEST', 'Unrestricted guest'],
  [8, 'APIC_REGISTER_VIRTUALIZATION', 'APIC-register virtualization'],
  [9, 'VIRTUAL_INTERRUPT_DELIVERY', 'Virtual-interrupt delivery'],
  [10, 'PAUSE_LOOP_EXITING', 'PAUSE-loop exiting'],
  [11, 'RDRAND_EXITING', 'RDRAND exiting'],
  [12, 'ENABLE_INVPCID', 'Enable INVPCID'],
  [13, 'ENABLE_VM_FUNCTIONS', 'Enable VM functions'],
  [14, 'VMCS_SHADOWING', 'VMCS shadowing'],
  [15, 'ENABLE_ENCLS_EXITING', 'Enable ENCLS exiting'],
  [16, 'RDSEED_EXITING', 'RDSEED exiting'],
  [17, 'ENABLE_PML', 'Enable PML'],
  [18, 'EPT_VIOLATION_VE', 'EPT-violation #VE'],
  [19, 'CONCEAL_VMX_FROM_PT', 'Conceal VMX from PT'],
  [20, 'ENABLE_XSAVES_XRSTORS', 'Enable XSAVES/XRSTORS'],
  [22, 'MODE_BASED_EXECUTE_CONTROL', 'Mode-based execute control for EPT'],
  [24, 'PT_USES_GUEST_PHYSICAL_ADDRESSES', 'Intel PT uses guest physical addresses'],
  [25, 'USE_TSC_SCALING', 'Use TSC scaling'],
  [26, 'ENABLE_USER_WAIT_AND_PAUSE', 'Enable user wait and pause'],
  [28, 'ENABLE_ENCLV_EXITING', 'Enable ENCLV exiting'],
  [30, 'VMM_BUS_LOCK_DETECTION', 'VMM bus-lock detection'],
  [31, 'INSTRUCTION_TIMEOUT', 'Instruction timeout'],
]);

/** Primary VM-exit controls (SDM Vol. 3C, Table 25-13). */
export const EXIT_CONTROLS = bits([
  [2, 'SAVE_DEBUG_CONTROLS', 'Save debug controls'],
  [9, 'HOST_ADDRESS_SPACE_SIZE', 'Host address-space size'],
  [12, 'LOAD_IA32_PERF_GLOBAL_CTRL', 'Load IA32_PERF_GLOBAL_CTRL'],
  [15, 'ACKNOWLEDGE_INTERRUPT_ON_EXIT', 'Acknowledge interrupt on exit'],
  [18, 'SAVE_IA32_PAT', 'Save IA32_PAT'],
  [19, 'LOAD_IA32_PAT', 'Load IA32_PAT'],
  [20, 'SAVE_IA32_EFER', 'Save IA32_EFER'],
  [21, 'LOAD_IA32_EFER', 'Load IA32_EFER'],
  [22, 'SAVE_PREEMPTION_TIMER_VALUE', 'Save VMX-preemption timer value'],
  [23, 'CLEAR_IA32_BNDCFGS', 'Clear IA32_BNDCFGS'],
  [24, 'CONCEAL_VMX_FROM_PT', 'Conceal VMX from PT'],
  [25, 'CLEAR_IA32_RTIT_CTL', 'Clear IA32_RTIT_CTL'],
]);

/** VM-entry controls (SDM Vol. 3C, Table 25-15). */
export const ENTRY_CONTROLS = bits([
  [2, 'LOAD_DEBUG_CONTROLS', 'Load debug controls'],
  [9, 'IA32E_MODE_GUEST', 'IA-32e mode guest'],
  [10, 'ENTRY_TO_SMM', 'Entry to SMM'],
  [11, 'DEACTIVATE_DUAL_MONITOR_TREATMENT', 'Deactivate dual-monitor treatment'],
  [13, 'LOAD_IA32_PERF_GLOBAL_CTRL', 'Load IA32_PERF_GLOBAL_CTRL'],
  [14, 'LOAD_IA32_PAT', 'Load IA32_PAT'],
  [15, 'LOAD_IA32_EFER', 'Load IA32_EFER'],
  [16, 'LOAD_IA32_BNDCFGS', 'Load IA32_BNDCFGS'],
  [17, 'CONCEAL_VMX_FROM_PT', 'Conceal VMX from PT'],
  [18, 'LOAD_IA32_RTIT_CTL', 'Load IA32_RTIT_CTL'],
]);

export const CONTROL_BITS: Readonly<Record<ControlField, readonly ControlBit[]>> = {
  pin: PIN_CONTROLS,
  primary: PRIMARY_CONTROLS,
  secondary: SECONDARY_CONTROLS,
  exit: EXIT_CONTROLS,
  entry: ENTRY_CONTROLS,
};

const masks = (list: readonly ControlBit[]): Readonly<Record<string, number>> =>
  Object.freeze(Object.fromEntries(list.map((c) => [c.name, (1 << c.bit) >>> 0])));

/** Masks by name: `Primary.HLT_EXITING` = 0x80. */
export const Pin = masks(PIN_CONTROLS);
export const Primary = masks(PRIMARY_CONTROLS);
export const Secondary = masks(SECONDARY_CONTROLS);
export const Exit = masks(EXIT_CONTROLS);
export const Entry = masks(ENTRY_CONTROLS);

const m = (...b: number[]): number => b.reduce((a, x) => (a | (1 << x)) >>> 0, 0);

/**
 * The "default1" bits: reserved bits that the original (non-TRUE) capability MSRs report as
 * must-be-1 (SDM Vol. 3C, A.2: pin 1, 2, 4; primary 1, 4-6, 8, 13-16, 26; exit 0-8, 10, 11, 13,
 * 14, 16, 17; entry 0-8, 12).
 */
export const DEFAULT1 = {
  pin: m(1, 2, 4),
  primary: m(1, 4, 5, 6, 8, 13, 14, 15, 16, 26),
  secondary: 0,
  exit: m(0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 14, 16, 17),
  entry: m(0, 1, 2, 3, 4, 5, 6, 7, 8, 12),
} as const satisfies Record<ControlField, number>;

/**
 * The controls this lab supports setting to 1 (besides the default1 bits, which it must accept).
 * Chosen for issue 6's hypervisor: exits for interrupts, NMIs, the interrupt window, HLT, INVLPG,
 * RDTSC, CR3 and CR8 accesses, I/O (unconditional or by bitmap) and MSRs (by bitmap); the
 * preemption timer; EPT, VPID and unrestricted guest; descriptor-table exiting (LGDT, SIDT, LTR,
 * SLDT...: the guest seam reports them); RDTSCP in the guest (the CPU implements it); a 64-bit host; IA-32e mode guests; and saving and loading EFER and PAT (MSRs the CPU has).
 * Issue 8 added what posted interrupts need (apicv.ts): the TPR shadow, "virtualize x2APIC mode",
 * virtual-interrupt delivery and posted-interrupt processing.
 * Not supported (always 0): virtual NMIs and NMI-window exiting, "virtualize APIC accesses"
 * and "APIC-register virtualization" (the xAPIC MMIO path), MOV-DR, MONITOR, MWAIT and RDPMC exiting (the CPU has none of
 * these instructions), PAUSE exiting (the CPU's PAUSE is only a hint; issue 6 needs no such exit),
 * the monitor trap flag, and the SGX, PT, PML, VMFUNC, VMCS-shadowing and TSC-scaling features.
 */
export const SUPPORTED1 = {
  pin: Pin.EXTERNAL_INTERRUPT_EXITING! | Pin.NMI_EXITING! | Pin.ACTIVATE_PREEMPTION_TIMER! | Pin.PROCESS_POSTED_INTERRUPTS!,
  primary:
    (Primary.INTERRUPT_WINDOW_EXITING! |
      Primary.USE_TSC_OFFSETTING! |
      Primary.HLT_EXITING! |
      Primary.INVLPG_EXITING! |
      Primary.RDTSC_EXITING! |
      Primary.CR3_LOAD_EXITING! |
      Primary.CR3_STORE_EXITING! |
      Primary.CR8_LOAD_EXITING! |
      Primary.CR8_STORE_EXITING! |
      Primary.UNCONDITIONAL_IO_EXITING! |
      Primary.USE_IO_BITMAPS! |
      Primary.USE_MSR_BITMAPS! |
      Primary.USE_TPR_SHADOW! |
      Primary.ACTIVATE_SECONDARY_CONTROLS!) >>> 0,
  secondary:
    Secondary.ENABLE_EPT! |
    Secondary.DESCRIPTOR_TABLE_EXITING! |
    Secondary.ENABLE_RDTSCP! |
    Secondary.ENABLE_VPID! |
    Secondary.UNRESTRICTED_GUEST! |
    Secondary.VIRTUALIZE_X2APIC_MODE! |
    Secondary.VIRTUAL_INTERRUPT_DELIVERY!,
  exit:
    Exit.SAVE_DEBUG_CONTROLS! |
    Exit.HOST_ADDRESS_SPACE_SIZE! |
    Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT! |
    Exit.SAVE_IA32_PAT! |
    Exit.LOAD_IA32_PAT! |
    Exit.SAVE_IA32_EFER! |
    Exit.LOAD_IA32_EFER! |
    Exit.SAVE_PREEMPTION_TIMER_VALUE!,
  entry: Entry.LOAD_DEBUG_CONTROLS! | Entry.IA32E_MODE_GUEST! | Entry.LOAD_IA32_PAT! | Entry.LOAD_IA32_EFER!,
} as const satisfies Record<ControlField, number>;

/** Allowed settings of one control field: bits set in `must1` must be 1, bits clear in `may1` must be 0. */
export interface AllowedSettings {
  /** Allowed 0-settings (MSR bits 31:0): a 1 means the control must be 1. */
  must1: number;
  /** Allowed 1-settings (MSR bits 63:32): a 0 means the control must be 0. */
  may1: number;
}

/**
 * The TRUE_ capability MSRs (A.3.1, A.3.2, A.4, A.5): IA32_VMX_BASIC bit 55 is 1 on this lab, so
 * these, not the originals, say what VM entry accepts. As on the processors that introduced them,
 * only these default1 bits become free: CR3-load and CR3-store exiting (so that a hypervisor with
 * EPT need not exit on CR3 accesses), save debug controls and load debug controls.
 */
export const TRUE_ALLOWED: Readonly<Record<ControlField, AllowedSettings>> = {
  pin: { must1: DEFAULT1.pin, may1: (DEFAULT1.pin | SUPPORTED1.pin) >>> 0 },
  primary: {
    must1: (DEFAULT1.primary & ~(Primary.CR3_LOAD_EXITING! | Primary.CR3_STORE_EXITING!)) >>> 0,
    may1: (DEFAULT1.primary | SUPPORTED1.primary) >>> 0,
  },
  secondary: { must1: 0, may1: SUPPORTED1.secondary },
  exit: { must1: (DEFAULT1.exit & ~Exit.SAVE_DEBUG_CONTROLS!) >>> 0, may1: (DEFAULT1.exit | SUPPORTED1.exit) >>> 0 },
  entry: { must1: (DEFAULT1.entry & ~Entry.LOAD_DEBUG_CONTROLS!) >>> 0, may1: (DEFAULT1.entry | SUPPORTED1.entry) >>> 0 },
};

/** The original capability MSRs: default1 bits must be 1. */
export const ALLOWED: Readonly<Record<ControlField, AllowedSettings>> = {
  pin: { must1: DEFAULT1.pin, may1: TRUE_ALLOWED.pin.may1 },
  primary: { must1: DEFAULT1.primary, may1: TRUE_ALLOWED.primary.may1 },
  secondary: TRUE_ALLOWED.secondary,
  exit: { must1: DEFAULT1.exit, may1: TRUE_ALLOWED.exit.may1 },
  entry: { must1: DEFAULT1.entry, may1: TRUE_ALLOWED.entry.may1 },
};

/** Whether `value` respects `allowed`; the bits that break it otherwise. */
export function controlViolations(value: number, allowed: AllowedSettings): number {
  const v = value >>> 0;
  return ((allowed.must1 & ~v) | (v & ~allowed.may1)) >>> 0;
}

/** Processor features whose VMCS fields exist on this lab (see fields.ts FieldFeature). */
export const SUPPORTED_FEATURES: ReadonlySet<FieldFeature> = new Set<FieldFeature>(['base', 'vpid', 'ept', 'pat', 'efer', 'preemption-timer', 'tpr-shadow', 'virtual-interrupt-delivery', 'posted-interrupts']);

/** Options a lab may change (tests and, later, the sandbox). */
export interface VmxOptions {
  /**
   * IA32_VMX_MISC bit 29: VMWRITE may write the VM-exit information fields. Off by default, as on
   * the processors before it appeared, so that VM-instruction error 13 can be taught; nested
   * hypervisors need it on.
   */
  vmwriteExitInfo?: boolean;
}

/** VMCS revision identifier (IA32_VMX_BASIC bits 30:0): any value is the implementation's; 0x4c4142 spells "LAB". */
export const VMCS_REVISION = 0x004c4142;
/** VMCS region size in bytes (IA32_VMX_BASIC bits 44:32). */
export const VMCS_REGION_SIZE = 4096;
/** Memory type for the VMCS and the structures it points to (IA32_VMX_BASIC bits 53:50): 6 = write-back. */
export const VMCS_MEMORY_TYPE = 6;
/** Number of CR3-target values (IA32_VMX_MISC bits 24:16). */
export const CR3_TARGET_COUNT_MAX = 4;
/**
 * VMX-preemption timer rate (IA32_VMX_MISC bits 4:0): the timer counts down when bit X of the TSC
 * changes. 0: every TSC increment, and the lab's TSC counts retired instructions, so the timer
 * counts guest instructions, exactly and visibly.
 */
export const PREEMPTION_TIMER_RATE = 0;

/** Guest activity states VM entry accepts (IA32_VMX_MISC bits 8:6): active always; HLT yes; shutdown and wait-for-SIPI no. */
export const ActivityState = { ACTIVE: 0, HLT: 1, SHUTDOWN: 2, WAIT_FOR_SIPI: 3 } as const;
export const SUPPORTED_ACTIVITY_STATES: ReadonlySet<number> = new Set([ActivityState.ACTIVE, ActivityState.HLT]);

/** CR0 bits fixed in VMX operation (A.7): PE, NE and PG must be 1 (PE and PG are exempt for an unrestricted guest). */
export const CR0_FIXED0 = (CR0.PE | CR0.NE | CR0.PG) >>> 0;
/** Every low CR0 bit may be 1; bits 63:32 must be 0. */
export const CR0_FIXED1 = 0xffffffff;
/** CR4.VMXE must be 1 in VMX operation (A.8). */
export const CR4_FIXED0 = CR4.VMXE;
/** The CR4 bits the lab's CPU implements, plus VMXE. */
export const CR4_FIXED1 = (CR4_ALLOWED | CR4.VMXE) >>> 0;

/** IA32_VMX_EPT_VPID_CAP bits (A.10). */
export const EptVpidCap = {
  EXECUTE_ONLY: 0,
  WALK_4: 6,
  WALK_5: 7,
  UC: 8,
  WB: 14,
  PDE_2MB: 16,
  PDPTE_1GB: 17,
  INVEPT: 20,
  ACCESSED_DIRTY: 21,
  ADVANCED_EXIT_INFO: 22,
  INVEPT_SINGLE_CONTEXT: 25,
  INVEPT_ALL_CONTEXT: 26,
  INVVPID: 32,
  INVVPID_INDIVIDUAL_ADDRESS: 40,
  INVVPID_SINGLE_CONTEXT: 41,
  INVVPID_ALL_CONTEXT: 42,
  INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS: 43,
} as const;

/**
 * This lab's EPT and VPID: 4-level and 5-level walks; UC or WB for the paging structures; 2-MByte
 * and 1-GByte pages; accessed and dirty flags (EPTP bit 6, SDM 29.3.5); no execute-only pages (an
 * entry with X but not R is a misconfiguration); no advanced EPT-violation information; INVEPT
 * single-context and all-context; INVVPID individual-address, single-context, all-context and
 * single-context-retaining-globals (vmx.ts `invept`, `invvpid`, over the tagged TLB).
 */
export const EPT_VPID_CAP: bigint = [
  EptVpidCap.WALK_4,
  EptVpidCap.WALK_5,
  EptVpidCap.UC,
  EptVpidCap.WB,
  EptVpidCap.PDE_2MB,
  EptVpidCap.PDPTE_1GB,
  EptVpidCap.ACCESSED_DIRTY,
  EptVpidCap.INVEPT,
  EptVpidCap.INVEPT_SINGLE_CONTEXT,
  EptVpidCap.INVEPT_ALL_CONTEXT,
  EptVpidCap.INVVPID,
  EptVpidCap.INVVPID_INDIVIDUAL_ADDRESS,
  EptVpidCap.INVVPID_SINGLE_CONTEXT,
  EptVpidCap.INVVPID_ALL_CONTEXT,
  EptVpidCap.INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS,
].reduce((a, b) => a | (1n << BigInt(b)), 0n);

/** Capability MSR indexes (SDM Vol. 4, Table 2-2; Vol. 3C, Appendix A). */
export const VmxMsr = {
  IA32_FEATURE_CONTROL: 0x3a,
  IA32_VMX_BASIC: 0x480,
  IA32_VMX_PINBASED_CTLS: 0x481,
  IA32_VMX_PROCBASED_CTLS: 0x482,
  IA32_VMX_EXIT_CTLS: 0x483,
  IA32_VMX_ENTRY_CTLS: 0x484,
  IA32_VMX_MISC: 0x485,
  IA32_VMX_CR0_FIXED0: 0x486,
  IA32_VMX_CR0_FIXED1: 0x487,
  IA32_VMX_CR4_FIXED0: 0x488,
  IA32_VMX_CR4_FIXED1: 0x489,
  IA32_VMX_VMCS_ENUM: 0x48a,
  IA32_VMX_PROCBASED_CTLS2: 0x48b,
  IA32_VMX_EPT_VPID_CAP: 0x48c,
  IA32_VMX_TRUE_PINBASED_CTLS: 0x48d,
  IA32_VMX_TRUE_PROCBASED_CTLS: 0x48e,
  IA32_VMX_TRUE_EXIT_CTLS: 0x48f,
  IA32_VMX_TRUE_ENTRY_CTLS: 0x490,
} as const;

/** IA32_FEATURE_CONTROL as firmware leaves it for a hypervisor: lock (bit 0) and VMX outside SMX (bit 2). */
export const FEATURE_CONTROL_LOCK = 1 << 0;
export const FEATURE_CONTROL_VMX_OUTSIDE_SMX = 1 << 2;
export const FEATURE_CONTROL_DEFAULT = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX;

const pair = (a: AllowedSettings): bigint => (BigInt(a.may1 >>> 0) << 32n) | BigInt(a.must1 >>> 0);

/** The highest index of any supported VMCS field encoding (IA32_VMX_VMCS_ENUM bits 9:1). */
export const VMCS_ENUM_MAX_INDEX = Math.max(
  ...VMCS_FIELDS.filter((f) => SUPPORTED_FEATURES.has(f.feature)).map((f) => (f.encoding >>> 1) & 0x1ff),
);

/**
 * IA32_VMX_BASIC (A.1): revision (30:0), region size (44:32), physical-address width of VMX
 * structures not limited to 32 bits (48 = 0), no dual-monitor SMM (49 = 0), write-back (53:50),
 * no instruction information for INS/OUTS exits (54 = 0), TRUE_ MSRs present (55 = 1), and VM
 * entry still checks the deliver-error-code bit against the vector (56 = 0).
 */
export const VMX_BASIC: bigint =
  BigInt(VMCS_REVISION) | (BigInt(VMCS_REGION_SIZE) << 32n) | (BigInt(VMCS_MEMORY_TYPE) << 50n) | (1n << 55n);

/** IA32_VMX_MISC (A.6) with the options' bit 29. Bit 5: VM exits store EFER.LMA in the IA-32e mode guest control. */
export function vmxMisc(opts: VmxOptions = {}): bigint {
  let v = BigInt(PREEMPTION_TIMER_RATE) | (1n << 5n);
  if (SUPPORTED_ACTIVITY_STATES.has(ActivityState.HLT)) v |= 1n << 6n;
  if (SUPPORTED_ACTIVITY_STATES.has(ActivityState.SHUTDOWN)) v |= 1n << 7n;
  if (SUPPORTED_ACTIVITY_STATES.has(ActivityState.WAIT_FOR_SIPI)) v |= 1n << 8n;
  v |= BigInt(CR3_TARGET_COUNT_MAX) << 16n;
  // bits 27:25 = 0: recommended maximum of 512 MSRs in each MSR list
  if (opts.vmwriteExitInfo === true) v |= 1n << 29n;
  return v;
}

/** The value RDMSR reads from a VMX capability MSR, or undefined if the lab has no such MSR (RDMSR then #GP(0)). */
export function readVmxMsr(index: number, opts: VmxOptions = {}): bigint | undefined {
  switch (index) {
    case VmxMsr.IA32_VMX_BASIC: return VMX_BASIC;
    case VmxMsr.IA32_VMX_PINBASED_CTLS: return pair(ALLOWED.pin);
    case VmxMsr.IA32_VMX_PROCBASED_CTLS: return pair(ALLOWED.primary);
    case VmxMsr.IA32_VMX_EXIT_CTLS: return pair(ALLOWED.exit);
    case VmxMsr.IA32_VMX_ENTRY_CTLS: return pair(ALLOWED.entry);
    case VmxMsr.IA32_VMX_MISC: return vmxMisc(opts);
    case VmxMsr.IA32_VMX_CR0_FIXED0: return BigInt(CR0_FIXED0);
    case VmxMsr.IA32_VMX_CR0_FIXED1: return BigInt(CR0_FIXED1);
    case VmxMsr.IA32_VMX_CR4_FIXED0: return BigInt(CR4_FIXED0);
    case VmxMsr.IA32_VMX_CR4_FIXED1: return BigInt(CR4_FIXED1);
    case VmxMsr.IA32_VMX_VMCS_ENUM: return BigInt(VMCS_ENUM_MAX_INDEX << 1);
    case VmxMsr.IA32_VMX_PROCBASED_CTLS2: return pair(ALLOWED.secondary);
    case VmxMsr.IA32_VMX_EPT_VPID_CAP: return EPT_VPID_CAP;
    case VmxMsr.IA32_VMX_TRUE_PINBASED_CTLS: return pair(TRUE_ALLOWED.pin);
    case VmxMsr.IA32_VMX_TRUE_PROCBASED_CTLS: return pair(TRUE_ALLOWED.primary);
    case VmxMsr.IA32_VMX_TRUE_EXIT_CTLS: return pair(TRUE_ALLOWED.exit);
    case VmxMsr.IA32_VMX_TRUE_ENTRY_CTLS: return pair(TRUE_ALLOWED.entry);
    default: return undefined;
  }
}
