/**
 * VM-exit reasons (Intel SDM Vol. 3C, Appendix C "VMX Basic Exit Reasons") and the exit-reason
 * field (SDM Vol. 3C, 25.9.1 "Basic VM-Exit Information", Table 25-17).
 *
 * Identifiers follow the names hypervisor sources use (Linux `EXIT_REASON_*` without the prefix);
 * `title` is the SDM's wording. Numbers the SDM leaves unused are named RESERVED<n>.
 */

export interface ExitReasonInfo {
  readonly reason: number;
  readonly name: string;
  readonly title: string;
}

const REASONS: readonly (readonly [string, string])[] = [
  ['EXCEPTION_NMI', 'Exception or non-maskable interrupt (NMI)'], // 0
  ['EXTERNAL_INTERRUPT', 'External interrupt'],
  ['TRIPLE_FAULT', 'Triple fault'],
  ['INIT_SIGNAL', 'INIT signal'],
  ['SIPI_SIGNAL', 'Start-up IPI (SIPI)'],
  ['IO_SMI', 'I/O system-management interrupt (SMI)'], // 5
  ['OTHER_SMI', 'Other SMI'],
  ['INTERRUPT_WINDOW', 'Interrupt window'],
  ['NMI_WINDOW', 'NMI window'],
  ['TASK_SWITCH', 'Task switch'],
  ['CPUID', 'CPUID'], // 10
  ['GETSEC', 'GETSEC'],
  ['HLT', 'HLT'],
  ['INVD', 'INVD'],
  ['INVLPG', 'INVLPG'],
  ['RDPMC', 'RDPMC'], // 15
  ['RDTSC', 'RDTSC'],
  ['RSM', 'RSM'],
  ['VMCALL', 'VMCALL'],
  ['VMCLEAR', 'VMCLEAR'],
  ['VMLAUNCH', 'VMLAUNCH'], // 20
  ['VMPTRLD', 'VMPTRLD'],
  ['VMPTRST', 'VMPTRST'],
  ['VMREAD', 'VMREAD'],
  ['VMRESUME', 'VMRESUME'],
  ['VMWRITE', 'VMWRITE'], // 25
  ['VMOFF', 'VMXOFF'],
  ['VMON', 'VMXON'],
  ['CR_ACCESS', 'Control-register accesses'],
  ['DR_ACCESS', 'MOV DR'],
  ['IO_INSTRUCTION', 'I/O instruction'], // 30
  ['MSR_READ', 'RDMSR'],
  ['MSR_WRITE', 'WRMSR'],
  ['INVALID_STATE', 'VM-entry failure due to invalid guest state'],
  ['MSR_LOAD_FAIL', 'VM-entry failure due to MSR loading'],
  ['RESERVED35', '(not used)'], // 35
  ['MWAIT_INSTRUCTION', 'MWAIT'],
  ['MONITOR_TRAP_FLAG', 'Monitor trap flag'],
  ['RESERVED38', '(not used)'],
  ['MONITOR_INSTRUCTION', 'MONITOR'],
  ['PAUSE_INSTRUCTION', 'PAUSE'], // 40
  ['MCE_DURING_VMENTRY', 'VM-entry failure due to machine-check event'],
  ['RESERVED42', '(not used)'],
  ['TPR_BELOW_THRESHOLD', 'TPR below threshold'],
  ['APIC_ACCESS', 'APIC access'],
  ['EOI_INDUCED', 'Virtualized EOI'], // 45
  ['GDTR_IDTR', 'Access to GDTR or IDTR'],
  ['LDTR_TR', 'Access to LDTR or TR'],
  ['EPT_VIOLATION', 'EPT violation'],
  ['EPT_MISCONFIG', 'EPT misconfiguration'],
  ['INVEPT', 'INVEPT'], // 50
  ['RDTSCP', 'RDTSCP'],
  ['PREEMPTION_TIMER', 'VMX-preemption timer expired'],
  ['INVVPID', 'INVVPID'],
  ['WBINVD', 'WBINVD or WBNOINVD'],
  ['XSETBV', 'XSETBV'], // 55
  ['APIC_WRITE', 'APIC write'],
  ['RDRAND', 'RDRAND'],
  ['INVPCID', 'INVPCID'],
  ['VMFUNC', 'VMFUNC'],
  ['ENCLS', 'ENCLS'], // 60
  ['RDSEED', 'RDSEED'],
  ['PML_FULL', 'Page-modification log full'],
  ['XSAVES', 'XSAVES'],
  ['XRSTORS', 'XRSTORS'],
  ['PCONFIG', 'PCONFIG'], // 65
  ['SPP', 'SPP-related event'],
  ['UMWAIT', 'UMWAIT'],
  ['TPAUSE', 'TPAUSE'],
  ['LOADIWKEY', 'LOADIWKEY'],
  ['ENCLV', 'ENCLV'], // 70
  ['RESERVED71', '(not used)'],
  ['ENQCMD_PASID', 'ENQCMD PASID translation failure'],
  ['ENQCMDS_PASID', 'ENQCMDS PASID translation failure'],
  ['BUS_LOCK', 'Bus lock'],
  ['NOTIFY', 'Instruction timeout'], // 75
  ['SEAMCALL', 'SEAMCALL'],
  ['TDCALL', 'TDCALL'],
];

/** Every basic exit reason 0..77, indexed by number. */
export const EXIT_REASONS: readonly ExitReasonInfo[] = REASONS.map(([name, title], reason) => ({ reason, name, title }));

/** Basic exit reason numbers by identifier: `ExitReason.CR_ACCESS` = 28. */
export const ExitReason: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(EXIT_REASONS.map((r) => [r.name, r.reason])));

/** The named reasons the VMX layer itself produces (typed, so callers need no lookup). */
export const EXIT_INVALID_GUEST_STATE = 33;
export const EXIT_MSR_LOADING = 34;

export function exitReasonInfo(reason: number): ExitReasonInfo | undefined {
  return EXIT_REASONS[reason];
}

/** Bit 31 of the exit-reason field: VM-entry failure. */
export const EXIT_REASON_ENTRY_FAILURE = 0x80000000;
/** Bit 27: the exit came from SGX enclave mode (never set by this lab, which has no SGX). */
export const EXIT_REASON_ENCLAVE = 1 << 27;

/** The exit-reason field (SDM Vol. 3C, Table 25-17) as named parts. */
export interface ExitReasonField {
  /** Bits 15:0. */
  basic: number;
  /** Bit 27. */
  enclaveMode: boolean;
  /** Bit 31. */
  entryFailure: boolean;
}

export function decodeExitReason(value: number): ExitReasonField {
  const v = value >>> 0;
  return { basic: v & 0xffff, enclaveMode: (v & EXIT_REASON_ENCLAVE) !== 0, entryFailure: (v & EXIT_REASON_ENTRY_FAILURE) !== 0 };
}

export function encodeExitReason(f: ExitReasonField): number {
  return ((f.basic & 0xffff) | (f.enclaveMode ? EXIT_REASON_ENCLAVE : 0) | (f.entryFailure ? EXIT_REASON_ENTRY_FAILURE : 0)) >>> 0;
}
