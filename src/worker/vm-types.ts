/**
 * What the page learns about the hypervisor at a step (`ViewState.vm`), for the VT-x and AMD-V
 * views: the VMX root / non-root planes, the VMCS and VMCB inspectors, the exit charts and the
 * console. Plain data, structured-clone safe, a function of the scenario and the step only (like
 * the rest of ViewState); 64-bit values are `0x`-prefixed hex strings. The worker fills it from the
 * emulator (session.ts); the page's side imports only this file, never `src/emu/hv`.
 *
 * `ViewState.vm` is null for a scenario without a `technique` (the bare machine of issues 2–5).
 */
import type { HostHop } from '../emu/hv/hosting.ts';
import type { VmBtView } from './bt-types.ts';

/**
 * What a scenario runs its guests under (scenario field `technique`): a hardware assist, or
 * classic trap-and-emulate (no control structure, no root and non-root: the monitor in ring 0,
 * the guest kernel deprivileged to ring 1; see `VmView.te`).
 */
export type VmTechnique = 'vtx' | 'svm' | 'trap-emulate' | 'bt' | 'pv';

/** One named bit range of a decoded value (an exit qualification, EXITINFO1, a control word). */
export interface VmBitsView {
  /** The SDM's / APM's name for the range (`size of access`, `direction`, `port number`, `TYPE`). */
  name: string;
  /** Lowest and highest bit of the range, inclusive. */
  lo: number;
  hi: number;
  /** The range's value. */
  value: number;
}

/** A control-structure field as it is in memory at this step (VMCS by encoding, VMCB by offset). */
export interface VmFieldView {
  /** VT-x: the field's identifier (`GUEST_RIP`, as in the reference tables); AMD-V: the VMCB field (`save.rip`, `exit_code`). */
  name: string;
  /** The manual's title for it (SDM Appendix B; APM Appendix B), in English as the manual writes it. */
  title: string;
  /** VT-x: `control`, `exit-info`, `guest`, `host`; AMD-V: `control`, `save`. */
  area: string;
  /** VT-x: the 32-bit field encoding; AMD-V: the byte offset in the VMCB. */
  key: number;
  /** VT-x: `16`, `32`, `64`, `natural`; AMD-V: the size in bytes as a string (`1`, `2`, `4`, `8`). */
  width: string;
  /** The value, 0x + hex digits for the width (natural width as 64 bits). */
  value: string;
  /** Written during the step that led here (by the processor at an exit or entry, or by the hypervisor). */
  changed: boolean;
}

/** One access of the hypervisor to its control structure (or to guest state it keeps in software). */
export interface VmAccessView {
  op: 'read' | 'write';
  /** As in `VmFieldView.name`, or `gpr.rbx` for a register the hypervisor saved in software. */
  field: string;
  /** The encoding (VT-x) or offset (AMD-V); null for state kept in software. */
  key: number | null;
  value: string;
}

/** One exit-information field of an exit, with its bits decoded where the manual gives a layout. */
export interface VmExitInfoView {
  /** `EXIT_QUALIFICATION`, `VM_EXIT_INSTRUCTION_LEN`, `VM_EXIT_INTR_INFO`, ...; `exit_info_1`, `exit_info_2`, `exit_int_info`, `next_rip`. */
  field: string;
  /** Encoding or offset, as in VmFieldView. */
  key: number;
  value: string;
  /** The named bit ranges of the value for this exit (empty when the field is a plain number or address). */
  bits: VmBitsView[];
}

/** An exit the hypervisor handled, from the exit through the handler to the next entry. */
export interface VmExitView {
  /** 0-based exit number in its VM. */
  n: number;
  vm: number;
  /** The step the exit happened at. */
  step: number;
  /** Basic exit reason (VT-x) or EXITCODE (AMD-V, VMEXIT_INVALID as -1). */
  code: number;
  /** The identifier hypervisors' sources use (`EXIT_REASON_IO_INSTRUCTION`, Linux's; `VMEXIT_IOIO`, the APM's); views show the manual's name (hv/exit-names.ts `vmExitTitle`). */
  name: string;
  /** VT-x only: bit 31 of the exit reason (a VM-entry failure). */
  entryFailure: boolean;
  /** Guest RIP the exit reports. */
  rip: string;
  info: VmExitInfoView[];
  /** The handler's field accesses in order, the exit's own reads first. */
  accesses: VmAccessView[];
  /** As the vm/handle event's: `host` for an exit of the host's own (its timer, the end of a time slice, an idling HLT). */
  action: 'emulated' | 'forwarded' | 'reflected' | 'ended' | 'host';
  /** The handler's plain-data note (`port 0x3f8 out 1 byte`, `leaf 0x1`). */
  note: string;
  /** Guest instructions run natively between the previous entry and this exit. */
  guestSteps: number;
  /** The entry that followed, or null if the VM ended; under trap-and-emulate the monitor's IRET back to the guest. */
  entry: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN' | 'IRET' | null;
  /**
   * Trap-and-emulate only: what trapped as the monitor names it (`cli`, `out`, `mov cr3`, or the
   * guest's exception `#PF`, `#UD`), the instruction at the trap's EIP disassembled (null if it
   * could not be read), and the ring it trapped from (1: the guest kernel, 3: its user code).
   * `code` is then the vector (13 for #GP) and `name` its mnemonic.
   */
  trap?: { label: string; insn: string | null; from: number };
  /** This exit's round trip under the cost preset: exit, handler, field accesses and the entry, in cycles. */
  cycles: number;
}

/** One control bit (VT-x execution, exit and entry controls; AMD-V intercept bits), as a check box. */
export interface VmControlView {
  /** VT-x: `pin`, `primary`, `secondary`, `exit`, `entry`; AMD-V: the intercept word (`INTERCEPT_CR`, `INTERCEPT_MISC1`, ...). */
  field: string;
  bit: number;
  /** The manual's name for the bit (`HLT exiting`, `INTERCEPT_HLT`). */
  name: string;
  set: boolean;
  /**
   * Why the bit cannot be changed here, or null when the scenario may change it: `fixed-1` / `fixed-0`
   * (the capability MSRs allow one setting only), `hypervisor` (the hypervisor needs it to work),
   * `unsupported` (the lab does not model the feature).
   */
  locked: 'fixed-1' | 'fixed-0' | 'hypervisor' | 'unsupported' | null;
  /** The scenario option (`hypervisor.exits.<option>`) that turns this bit on and off, when there is one. */
  option: string | null;
}

/** One VM (guest) of the scenario. */
export interface VmGuestView {
  id: number;
  name: string;
  mode: 'prot32' | 'long64';
  /** running: on the physical CPU now; ready: waiting for its turn; idle: halted until an interrupt; ended. */
  state: 'running' | 'ready' | 'idle' | 'ended';
  /** Why it ended (`hlt`, `shutdown` for a triple fault, `hypercall-exit`, `error: ...`), or null. */
  end: string | null;
  exits: number;
  /** Guest instructions it has retired. */
  steps: number;
  /** Its console: what it wrote to its UART (or through the print hypercall). */
  console: string;
}

/** Exits of one reason or code so far, with their whole cost (exit, handler, entry). */
export interface VmReasonCount {
  code: number;
  /** As the manual names it: the SDM's words for a basic exit reason ("I/O instruction"), the APM's EXITCODE name. */
  name: string;
  count: number;
  cycles: number;
}

/** Trap-and-emulate at this step: where the guest runs, and what the step showed of the technique's gap. */
export interface VmTeView {
  /** The processor's CPL now: 1 while the guest kernel runs (its ring 0, deprivileged), 3 in its user code. */
  cpl: number;
  /** The guest's IF (the processor's: the monitor keeps them equal at CLI, STI and an emulated IRET). */
  interruptsOn: boolean;
  /**
   * The step ran POPF in ring 1 (IOPL 0) whose popped EFLAGS asked for another IF than the one in
   * force: the processor left IF as it was, without a trap (SDM Vol. 2B, POPF). Null otherwise.
   */
  popfIgnored: { asked: boolean; kept: boolean; insn: string; cpl: number } | null;
  /** The last traps at or before this step, oldest first (at most TE_RECENT), for the trap list. */
  recent: VmExitView[];
  /**
   * What the guest kernel believes against what the processor holds (0x hex): its CPL (0 in its
   * kernel, which runs in ring 1), CR0 (the monitor forces PG and WP for its shadow tables) and CR3
   * (the guest's page directory; the processor's is the monitor's shadow).
   */
  regs: { guest: { cpl: number; cr0: string; cr3: string }; processor: { cpl: number; cr0: string; cr3: string } };
}

/** How many traps the trap list shows. */
export const TE_RECENT = 8;

/** One page-table write a hypercall asked for (pv/decode.ts PvPteWrite, addresses as 0x hex). */
export interface VmPvPteWrite {
  ptr: string;
  val: string;
  /** The entry's table as the hypervisor types it, or null: not a pinned table. */
  table: 'l1' | 'l2' | null;
  /** The virtual address the entry maps (an L2 entry: the first of its 4 MiB), or null. */
  va: string | null;
  /** The frame's address the value points to. */
  frame: string;
  present: boolean;
  writable: boolean;
  user: boolean;
}

/** A hypercall's arguments decoded (pv/decode.ts PvDetail, numbers as they are shown). */
export type VmPvDetail =
  | { kind: 'mmu_update'; count: number; done: number; first: VmPvPteWrite[]; last: VmPvPteWrite | null }
  | { kind: 'set_trap_table'; entries: { vector: string; dpl: number; maskEvents: boolean; cs: string; address: string }[] }
  | { kind: 'mmuext_op'; ops: { cmd: string; arg: string }[] }
  | { kind: 'console_io'; text: string }
  | { kind: 'update_va_mapping'; write: VmPvPteWrite; flush: 'none' | 'invlpg' | 'all' }
  | { kind: 'stack_switch'; ss: string; esp: string }
  | { kind: 'sched_op'; cmd: string; reason: string | null }
  | { kind: 'other' };

/** One hypercall of the run so far. */
export interface VmPvHypercall {
  /** 0-based, in the order made. */
  n: number;
  /** The step of its INT 0x82, as VmExitView.step counts it (the views show step + 1). */
  step: number;
  eip: string;
  /** Xen's number (xen.h __HYPERVISOR_*) and name. */
  nr: number;
  name: string;
  /** The arguments as the hypervisor read them from EBX, ECX, … (numbers as 0x hex). */
  args: { name: string; value: string }[];
  detail: VmPvDetail;
  /** EAX on return: 0, a count, or −errno. */
  result: number;
  /** The errno name of a negative result (`EINVAL`), or null: the call succeeded. */
  errno: string | null;
  /** The hypervisor's own log line of what it did (plain data, as the handler's note). */
  did: string;
  /** The cycles of its round trip (INT 0x82, dispatch, handler, the IRET back). */
  cycles: number;
}

/** One changed place of the kernel diff (pv/kernel.ts kernelDiff), each removed line with what it became. */
export interface VmPvDiffHunk {
  fromLine: number;
  toLine: number;
  removed: { text: string; becomes: PvBecomes | null }[];
  added: string[];
}

/** What a removed line of the unmodified kernel became in the port (the page words it; vm.pv.becomes.*). */
export type PvBecomes = 'selectors' | 'cli' | 'lgdt' | 'lidt' | 'ltr' | 'pagetable' | 'pte-store' | 'cr3' | 'cr0' | 'sti' | 'hlt' | 'out' | 'tables';

/** Paravirtualization at this step (scenario technique 'pv'). */
export interface VmPvView {
  /** Which version of the lab's kernel runs (scenario field pv.kernel). */
  kernel: 'paravirtualized' | 'unmodified';
  /** The processor's CPL now: 1 the guest kernel (deprivileged), 3 its user program. */
  cpl: number;
  /** Every hypercall at or before this step, in order. */
  hypercalls: VmPvHypercall[];
  /** The hypercalls (their n) made in the step that led here. */
  inStep: number[];
  /** The run ended at a privileged instruction the kernel still executes: the instruction, where, and the mnemonic. */
  failure: { mnemonic: string; insn: string | null; eip: string } | null;
  /** The shared info page's event state (xen.h vcpu_info[0], evtchn_pending, evtchn_mask). */
  events: {
    sharedInfo: string;
    upcallMask: boolean;
    upcallPending: boolean;
    pendingSel: string;
    /** The ports the domain builder bound: 1 VIRQ_TIMER, 2 the domain itself. */
    ports: { port: number; bound: 'timer' | 'self'; pending: boolean; masked: boolean }[];
    /** An event callback is registered (set_callbacks). */
    callback: boolean;
    upcalls: number;
  };
  /** The step that led here changed vcpu_info.evtchn_upcall_mask (the kernel's store: its CLI or STI). */
  maskChanged: boolean;
  /** The pinned page tables (the hypervisor's page types), and whether the current tables map each read-only. */
  tables: { frame: string; level: 'l1' | 'l2'; mapping: 'read-only' | 'writable' | 'unmapped'; base: boolean }[];
  cr3: string;
  /** The kernel diff of the port (the same at every step). */
  diff: VmPvDiffHunk[];
}

/** One hop of an exit's path under a hosted or bare-metal hypervisor (hv/hosting.ts, a type only): the views place each in its layer and name it. */
export type VmHostHop = HostHop;

/** One exit's path (hv/hosting.ts ExitPath), with the same exit's path had the hypervisor lived the other way. */
export interface VmHostPath {
  /** The step of the exit, as VmExitView.step counts it. */
  step: number;
  vm: number;
  /** The exit's number in its VM (VmExitView.n). */
  n: number;
  /** The exit's identifier (`EXIT_REASON_IO_INSTRUCTION`, `VMEXIT_IOIO`) and its code (basic exit reason or EXITCODE). */
  name: string;
  code: number;
  /** The handler's note (`port 0x3f8 out 1 byte`), from the exit's log entry. */
  note: string;
  /** Who handled it: the monitor on its own, a device model, a host interrupt, a halt. */
  where: 'monitor' | 'device' | 'interrupt' | 'idle';
  /** The exit sent data out of the machine (a byte the UART transmitted). */
  output: boolean;
  /** The exit ended its vCPU's time slice (a scheduler ran after it). */
  preempt: boolean;
  /** The hops as the run took them, in order. */
  hops: VmHostHop[];
  /** The same exit's hops under the other arrangement (hosting.ts hopsOf: a function of who handled it, the output and the slice's end). */
  other: VmHostHop[];
}

/** A host process's turn on the CPU under a hosted hypervisor (hv/host.ts HostRun). */
export interface VmHostRun {
  /** The host process, 0-based (the views count from 1). */
  proc: number;
  /** The first step of its turn, and how many steps it holds the CPU. */
  from: number;
  steps: number;
}

/** Where the hypervisor lives (a scenario's `hypervisor.hosting`, several VMs): the step's exit paths and the running totals. */
export interface VmHostingView {
  hosting: 'bare-metal' | 'hosted';
  /** CPU-bound host processes the host's scheduler runs (hosted; 0 bare-metal). */
  hostProcesses: number;
  /** Paths of the exits handled during the step that led here, in order. */
  paths: VmHostPath[];
  /** The most recent path at or before this step (whichever VM), or null before the first exit. */
  last: VmHostPath | null;
  /**
   * The host process that has the CPU from this step on (its turn began at `from` ≤ step < from +
   * steps), with the steps of its turn already run (`done`, 0..steps − 1) and left (`left`), or null.
   */
  running: (VmHostRun & { done: number; left: number }) | null;
  /** So far, every VM: the hosted hops' counts (the ledgers' `world-switch`, `host-user` and `host-syscall` charges). */
  worldSwitches: number;
  userCrossings: number;
  syscalls: number;
  /** Exits so far by who handled them, and those whose data left the machine. */
  byWhere: Record<'monitor' | 'device' | 'interrupt' | 'idle', number>;
  output: number;
  /** Steps the host's own processes have held the CPU, and the turns the host's scheduler gave them. */
  hostSteps: number;
  hostTurns: number;
}

export interface VmView {
  technique: VmTechnique;
  /** Trap-and-emulate and binary translation (which runs on the same monitor); absent under VT-x and AMD-V. */
  te?: VmTeView;
  /** Binary translation only: the translation cache at this step (bt-types.ts). */
  bt?: VmBtView;
  /** Paravirtualization only. */
  pv?: VmPvView;
  vendor: 'intel' | 'amd';
  /**
   * Where the processor is at this step: `guest` (VMX non-root operation / guest mode) or `host`
   * (VMX root operation / host mode: the hypervisor; at a step boundary only when no VM can run).
   */
  world: 'guest' | 'host';
  vms: VmGuestView[];
  /** Several VMs with `hypervisor.hosting`: where the hypervisor lives and the path of each exit (absent otherwise). */
  hosting?: VmHostingView;
  /** The host's IOMMU (several VMs with an assigned device and `iommu` 'vtd' or 'amd-vi'), or null: none (the narration names the one that translated a DMA request). */
  iommu?: 'vtd' | 'amd-vi' | null;
  /** The VM on the physical CPU (or that ran last). */
  current: number;
  /** Exits handled during the step that led here, in order (usually none or one). */
  exits: VmExitView[];
  /** The most recent exit of the current VM at or before this step, or null before the first. */
  lastExit: VmExitView | null;
  /** The current VM's VMCS (by encoding) or VMCB (by offset), every field, as it is in memory now (none under trap-and-emulate). */
  fields: VmFieldView[];
  /** The current VM's controls or intercept bits. */
  controls: VmControlView[];
  /** Exits by reason (VT-x) or code (AMD-V) so far, all VMs; under trap-and-emulate traps by what trapped (`code` the vector). */
  byReason: VmReasonCount[];
  exitTotal: number;
  /** Cycles so far under the cost preset, by what they paid for. */
  cycles: {
    /** The preset's id (`intel-broadwell`) and its names in both languages. */
    preset: { id: string; name: { en: string; 'zh-CN': string } };
    total: number;
    /** Guest instructions run natively. */
    guest: number;
    /** VM entries and exits (the hardware's world switches); under trap-and-emulate the faults into the monitor and its IRETs. */
    transitions: number;
    /** VMREAD/VMWRITE or VMCB accesses. */
    fieldAccess: number;
    /** The hypervisor's software: dispatch and the handlers' work. */
    handlers: number;
    /** Memory virtualization: page-walk references (2D walks under nested paging), TLB flushes, shadow page-table updates. */
    memory: number;
    /**
     * With `hosting` only: the host OS's part of the exits' paths (world switches between the VMM
     * world and the host world, crossings into and out of the VMM process, its system calls); 0 bare-metal.
     */
    hostOs?: number;
  };
}
