/**
 * What costs cycles: the cost model's vocabulary. Every chargeable thing is one entry of
 * `COST_KINDS`, declared once here with the vendor it belongs to and what it is keyed by; a charge
 * (`Charge`) is a kind with its key, and the type follows the table, so a kind that is not declared
 * here cannot be charged. A later layer that needs a new kind adds one entry to the table (and a
 * `Charge` arm if it is keyed), then prices it in the presets or with `withFigures` (presets.ts).
 *
 * Keys: a VT-x VM exit is charged by its basic exit reason (src/emu/vmx/exit-reasons.ts), an AMD-V
 * #VMEXIT by its exit code (src/emu/svm/exit-codes.ts), the hypervisor's handler work by what the
 * handler does (`HandlerWork`), so the ledger can total cycles per reason or code and per handler.
 */

/** Which processors a kind exists on: VT-x, AMD-V, or any (software, the guest itself, memory). */
export type CostVendor = 'intel' | 'amd' | 'any';

/** What the cost of a kind depends on besides the preset. */
export type CostKey = 'none' | 'exit-reason' | 'exit-code' | 'handler-work';

export interface CostKindInfo {
  readonly vendor: CostVendor;
  readonly key: CostKey;
  /** One line for readers of the code (the app names kinds through its own catalog). */
  readonly about: string;
  /** The issue that brings the layer charging this kind, when that layer is not written yet. */
  readonly pendingIssue?: number;
}

export const COST_KINDS = {
  'vm-entry': { vendor: 'intel', key: 'none', about: 'VM entry by VMLAUNCH or VMRESUME, root to non-root' },
  'vm-exit': { vendor: 'intel', key: 'exit-reason', about: 'VM exit, non-root to root, by basic exit reason' },
  vmread: { vendor: 'intel', key: 'none', about: 'VMREAD of one VMCS field by the hypervisor' },
  vmwrite: { vendor: 'intel', key: 'none', about: 'VMWRITE of one VMCS field by the hypervisor' },
  vmrun: { vendor: 'amd', key: 'none', about: 'VMRUN, host to guest' },
  vmexit: { vendor: 'amd', key: 'exit-code', about: '#VMEXIT, guest to host, by exit code' },
  'vmcb-read': { vendor: 'amd', key: 'none', about: 'the hypervisor reading one VMCB field: a plain memory load' },
  'vmcb-write': { vendor: 'amd', key: 'none', about: 'the hypervisor writing one VMCB field: a plain memory store' },
  'guest-insn': { vendor: 'any', key: 'none', about: 'one guest instruction run natively, without an exit (the baseline)' },
  'hv-dispatch': {
    vendor: 'any',
    key: 'none',
    about: "the hypervisor's fixed software path around every exit: save guest registers, dispatch on the reason, restore, return to the entry instruction",
  },
  handler: { vendor: 'any', key: 'handler-work', about: "the handler's own work for one exit (emulating CPUID, a device model access, a hypercall…)" },
  'page-walk-ref': { vendor: 'any', key: 'none', about: 'one memory reference of a page walk (guest, nested or shadow)' },
  'tlb-flush': { vendor: 'any', key: 'none', about: 'a TLB flush forced by a transition or an invalidation' },
  'shadow-pt-update': { vendor: 'any', key: 'none', about: 'the hypervisor updating one shadow page-table entry' },
  trap: {
    vendor: 'any',
    key: 'none',
    about: 'a fault of the deprivileged guest into the software monitor through its IDT, and the IRET back (trap-and-emulate, before VT-x and AMD-V)',
  },
  'bt-step': { vendor: 'any', key: 'none', about: 'one binary-translation step (translating a guest basic block into the translation cache)' },
  'bt-callout': {
    vendor: 'any',
    key: 'none',
    about: "translated code jumping into the monitor (a callout, or a block exit not yet chained), the monitor's dispatch, and the jump back: no fault is taken",
  },
  'world-switch': {
    vendor: 'any',
    key: 'none',
    about: "a hosted hypervisor's switch between the VMM world and the host OS's world, one way: every user- and system-visible processor state saved and reloaded (hv/hosting.ts)",
  },
  'host-user': {
    vendor: 'any',
    key: 'none',
    about: "a hosted hypervisor's user-level VMM process entered from the host kernel (its ioctl returning) or leaving for it (its next ioctl to run the VM), one way",
  },
  'host-syscall': {
    vendor: 'any',
    key: 'none',
    about: "a system call of a hosted hypervisor's VMM process into the host kernel to do the guest's I/O (write() to the host's terminal), through the host's driver and back",
  },
} as const satisfies Record<string, CostKindInfo>;

export type CostKind = keyof typeof COST_KINDS;

/** The kinds that pay for translating a guest's addresses (the views' "memory" or "address translation" part). */
export const MEMORY_COST_KINDS: readonly CostKind[] = ['page-walk-ref', 'tlb-flush', 'shadow-pt-update'];

export const COST_KIND_IDS = Object.keys(COST_KINDS) as CostKind[];

/**
 * The work a handler does for one exit, a closed list the presets price one by one. The exit
 * reason or code says why the guest left; this says what the hypervisor then does (an I/O exit
 * may reach a device model or be forwarded; an EPT violation or NPF may be MMIO).
 */
export const HANDLER_WORK = [
  'cpuid', // emulate CPUID from the hypervisor's filtered table
  'io', // a port I/O access reaching a device model
  'mmio', // an MMIO access through an EPT violation or NPF: decode the guest instruction, then the device model
  'hypercall', // VMCALL / VMMCALL into the hypervisor's interface
  'msr', // RDMSR/WRMSR against the hypervisor's shadow MSRs
  'cr', // a control-register access: shadow CR0/CR4, CR3 loads
  'hlt', // HLT: mark the vCPU idle until an interrupt (the wait itself is not charged)
  'exception', // an intercepted exception, reflected into the guest by event injection
  'interrupt', // an external interrupt: acknowledge it and inject it into the guest
  'invlpg', // INVLPG under an intercept
  'rdtsc', // RDTSC / RDTSCP under an intercept: the guest's view of the TSC
  'privileged', // trap-and-emulate: a privileged instruction (CLI, LGDT, LTR, ...) carried out on the guest's virtual state
] as const;

export type HandlerWork = (typeof HANDLER_WORK)[number];

/** Kinds with no key: a charge names only the kind. */
type Unkeyed = { [K in CostKind]: (typeof COST_KINDS)[K]['key'] extends 'none' ? K : never }[CostKind];

/**
 * One charge: a kind with its key, and how many times it happened (default 1), so a run of guest
 * instructions or of walk references is one charge.
 */
export type Charge = (
  | { kind: Unkeyed }
  | { kind: 'vm-exit'; reason: number }
  | { kind: 'vmexit'; code: number }
  | { kind: 'handler'; work: HandlerWork }
) & { count?: number };
