/**
 * The hypervisor's vendor-neutral vocabulary: an exit as the core sees it (what happened, with the
 * vendor's own code and information kept for the trace), the exit log, and the backend interface
 * a vendor layer implements (AMD-V in svm-backend.ts, VT-x in vmx-backend.ts).
 *
 * The backend owns every access to the vendor's control structure (VMCB fields, or VMREAD/VMWRITE
 * on VT-x). Each access is recorded (`FieldAccess`) and charged to the ledger by the backend, so the
 * exit log can say "read EXITCODE, read nRIP, wrote RIP, resumed" and the ledger counts them.
 */
import type { MmioHandler } from '../mem/physmem.ts';
import type { MmioRecord } from './nested-map.ts';
import type { ShadowMmu, ShadowRecord } from './shadow.ts';

/** What the guest did, as the core's handlers dispatch on it. */
export type HvExitKind =
  | 'cpuid'
  | 'io'
  | 'msr'
  | 'cr'
  | 'hlt'
  | 'hypercall'
  | 'exception'
  | 'triple-fault'
  /** A guest access to guest-physical memory the nested tables do not map (EPT violation, NPF) outside the guest's RAM. */
  | 'mmio'
  /** RDTSC under the optional RDTSC exit. */
  | 'rdtsc'
  /** INVLPG under the optional INVLPG exit. */
  | 'invlpg'
  /** An instruction the guest is not offered (AMD-V: VMLOAD, VMSAVE, STGI, CLGI, VMRUN): #UD is reflected. */
  | 'ud'
  /** The interrupt window opened (VT-x exit 7, AMD-V VINTR): the guest can now take the interrupt the hypervisor holds. */
  | 'interrupt-window'
  /** A host interrupt arrived while the guest ran (VT-x exit 1 with external-interrupt exiting, AMD-V INTR): the host's own. */
  | 'external-interrupt'
  /** The host's scheduling timer expired (VT-x exit 52, the VMX-preemption timer): the vCPU's time slice is over. */
  | 'preemption-timer'
  /** Trap-and-emulate: a privileged instruction the backend emulates itself (te/backend.ts `emulate`). */
  | 'privileged'
  /** An exit the core has no handler for (the VM ends with an error naming the vendor's code). */
  | 'other';

/** The normalised description of one exit, per kind. */
export type HvExitDetail =
  | { kind: 'cpuid' | 'hlt' | 'hypercall' | 'triple-fault' | 'rdtsc' | 'ud' | 'interrupt-window' | 'preemption-timer' | 'privileged' }
  /** `vector`: the interrupt the exit acknowledged (VT-x "acknowledge interrupt on exit"); absent when it stays pending. */
  | { kind: 'external-interrupt'; vector?: number }
  /** No handler: the VM ends with an error naming the exit (and `why`, when the backend can say more). */
  | { kind: 'other'; why?: string }
  /** `linear`: the address INVLPG invalidates (VT-x: the qualification; AMD-V: EXITINFO1 with the decode assist). */
  | { kind: 'invlpg'; linear: bigint }
  /**
   * `gpa`: the guest-physical address (GUEST_PHYSICAL_ADDRESS, EXITINFO2); `access` as the
   * qualification or EXITINFO1 reports it; `guestTable`: the access was the guest's own page walk.
   */
  | { kind: 'mmio'; gpa: number; access: 'read' | 'write' | 'fetch'; guestTable: boolean }
  | { kind: 'io'; dir: 'in' | 'out'; port: number; size: 1 | 2 | 4; string: boolean; rep: boolean }
  | { kind: 'msr'; write: boolean }
  /** `gpr` is the general register of a MOV CRn (decode assist), null for LMSW/CLTS or when not reported. */
  | { kind: 'cr'; cr: number; access: 'read' | 'write'; gpr: number | null }
  /**
   * `errorCode` as the exit reports it (null for a vector without one); `address` the #PF linear
   * address; `during` the event whose delivery raised it (SVM EXITINTINFO, VMX IDT-vectoring).
   */
  | {
      kind: 'exception';
      vector: number;
      errorCode: number | null;
      address: bigint | null;
      software: boolean;
      /** `software`: an INT n, INT3, INTO or INT1, whose RIP is at the instruction (it runs again rather than being re-injected). */
      during: { vector: number; exception: boolean; errorCode: number | null; software?: boolean } | null;
    };

export interface HvExit {
  /** The vendor's exit code (SVM EXITCODE) or basic exit reason (VMX). */
  code: number;
  /** The vendor's name for it (`VMEXIT_IOIO`, `EXIT_REASON_IO_INSTRUCTION`). */
  name: string;
  detail: HvExitDetail;
  /** The guest RIP the exit reports (at the instruction for instruction exits). */
  rip: bigint;
  /** The vendor's raw exit information, kept for the trace: SVM EXITINFO1/2 and EXITINTINFO. */
  raw: Record<string, bigint>;
  /** A software monitor's name for what entered it, as it counts it (soft-backend.ts `traps`: `cli`, `out`, `#PF`, `popfd`, `code write`, a hypercall's name). */
  cause?: string;
}

/** One access of the hypervisor to the vendor's control structure, or to the guest registers it keeps itself. */
export interface FieldAccess {
  op: 'read' | 'write';
  /** The VMCB field (`exit_code`, `save.rip`) or VMCS field name; `gpr.rbx` for a register the hypervisor saved in software. */
  field: string;
  value: bigint;
}

/** What the handler did with an exit. */
export type HvAction =
  /** Performed the instruction for the guest and advanced RIP past it. */
  | 'emulated'
  /** Sent the access to the attached port handler (and advanced RIP). */
  | 'forwarded'
  /** Injected the exception back into the guest (event injection). */
  | 'reflected'
  /** Ended the VM (HLT with no possible wake-up, the exit hypercall, a triple fault, an unhandled exit). */
  | 'ended'
  /** An exit of the host's own (its interrupt, its scheduling timer, a HLT that idles the vCPU): the guest's state untouched. */
  | 'host';

export interface HvLogEntry {
  /** 0-based exit number. */
  n: number;
  vendor: 'amd' | 'intel';
  code: number;
  name: string;
  kind: HvExitKind;
  rip: bigint;
  /** The vendor's raw exit information (EXITINFO1/2, EXITINTINFO; qualification on VT-x). */
  raw: Record<string, bigint>;
  action: HvAction;
  /** A short plain-data account of the handler's work (`port 0x80 out 1 byte`, `leaf 0x1`). */
  note: string;
  /** The fields read and written while handling this exit, in order (the exit's own reads first). */
  accesses: FieldAccess[];
  /** Guest instructions retired natively between the previous entry and this exit. */
  guestSteps: number;
  /** The step the exit happened at (CpuState.steps then: the exiting instruction's own step). */
  step?: number;
  /** Shadow paging: what the shadow MMU did while handling this exit (shadow.ts), when it did anything. */
  shadow?: ShadowRecord[];
  /** A software monitor's name for what entered it (HvExit.cause). */
  cause?: string;
}

/** An event to inject into the guest on the next entry. */
export interface HvEvent {
  vector: number;
  /** 'software': an INT n the guest executed, delivered by a software monitor (te/, bt/) with the return address after it (`length` bytes on). */
  type: 'exception' | 'interrupt' | 'software';
  errorCode?: number;
  length?: number;
}

/** How one entry into the guest came back. */
export type BackendRun =
  | { kind: 'exit'; exit: HvExit }
  /** The budget of guest instructions is spent; the guest is still in the CPU. */
  | { kind: 'budget' }
  /** The guest halted without an exit and nothing can wake it (only when HLT is not intercepted). */
  | { kind: 'halted' }
  /** The processor shut down (a triple fault not intercepted, or an illegal host state). */
  | { kind: 'shutdown' }
  /** The entry itself failed (VMEXIT_INVALID, a VM-entry failure): the checks that failed. */
  | { kind: 'invalid'; failed: string[] };

/** Guest general registers by number (RAX 0 … R15 15, the encoding order). */
export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

/**
 * A vendor's backend. Guest state accessors go through the control structure where the vendor
 * keeps that state (and are logged and charged), or to the registers the hypervisor keeps itself.
 */
export interface HvBackend {
  readonly vendor: 'amd' | 'intel';
  /** `svm` or `vmx`. */
  readonly id: string;
  /** Enter the guest (VMRUN, VMRESUME) and run it for at most `budget` guest instructions. */
  enter(budget: number): BackendRun;
  /**
   * Set by the hypervisor while an exit's handler runs: an entry then is a one-instruction run
   * inside the handler (string I/O, MMIO, a shadow page-table write), which the time-travelling
   * machines report after the exit (hv-machine.ts HeldEntry).
   */
  inHandler?: boolean;
  /** Guest instructions retired so far (natively, plus those the hypervisor retired by `advance`). */
  readonly steps: number;
  gpr(n: number): bigint;
  setGpr(n: number, v: bigint, size: 1 | 2 | 4 | 8): void;
  rip(): bigint;
  /** The guest's current privilege level. */
  cpl(): number;
  /** Advance the guest's RIP past the exiting instruction (SVM: to nRIP) and retire it. */
  advance(): void;
  /** Whether the guest runs in 64-bit mode (for register and address widths). */
  long64(): boolean;
  rflags(): number;
  cr(n: 0 | 2 | 3 | 4): bigint;
  /** Sets the guest's view of CRn; a string says why this backend cannot (the VM then ends with an error). */
  setCr(n: 0 | 2 | 3 | 4, v: bigint): string | null;
  /**
   * Whether loading CRn with `v` raises #GP(0) for a reason only the backend sees: VT-x with EPT
   * and a PAE guest, whose MOV to CR3 loads the four PDPTEs (SDM Vol. 3A 4.4.1) into the VMCS's
   * guest PDPTE fields (`setCr` then loads them); a present PDPTE with a reserved bit set faults.
   */
  crLoadFaults?(n: 0 | 2 | 3 | 4, v: bigint): boolean;
  /** The guest's EFER as the guest sees it (without bits the vendor requires only for VM entry). */
  efer(): bigint;
  /** Sets the guest's EFER (the backend adds what VM entry requires, e.g. SVME on AMD-V). */
  setEfer(v: bigint): void;
  /** An MSR the vendor switches through its control structure (VT-x: FS/GS base, SYSENTER), or undefined. */
  guestMsr?(index: number): bigint | undefined;
  /** Writes such an MSR: false if it is not one, 'gp' if the value is not allowed. */
  setGuestMsr?(index: number, v: bigint): boolean | 'gp';
  inject(ev: HvEvent): void;
  /**
   * The guest's state for a report after the VM ended (not the hypervisor's work: nothing is
   * logged or charged): general registers by number, RIP, RFLAGS, CR0, CR3, CR4.
   */
  report(): { gpr: bigint[]; rip: bigint; rflags: bigint; cr0: bigint; cr3: bigint; cr4: bigint };
  /**
   * String I/O (INS/OUTS, REP or not): lets the processor run the exiting instruction once with the
   * ports it touches passed through (the bitmap bits cleared for that one instruction) and its port
   * accesses routed to `ports`, then intercepts them again. Returns how that run ended: 'budget'
   * when the instruction completed and the guest is still loaded, else what stopped it (an exit
   * the core handles next, e.g. a #PF the instruction raised).
   */
  passThroughOnce(port: number, size: 1 | 2 | 4, ports: PortHandler): BackendRun;
  /**
   * MMIO (an exit of kind 'mmio'): lets the processor run the exiting instruction once with the
   * guest-physical pages `gpaPages` mapped through the nested tables to the host's MMIO window
   * and that window's accesses given to `mmio` at their guest-physical addresses (nested-map.ts
   * `passThrough`), then unmaps them. Returns how that run ended, as `passThroughOnce`.
   */
  passThroughMmio(gpaPages: readonly number[], mmio: MmioHandler, records: MmioRecord[]): BackendRun;
  /** Nested paging: maps guest-physical [gpa, gpa + size) to host-physical MMIO at `hpa` (null: unmaps it), for an assigned device's BAR. */
  mapMmio(gpa: number, size: number, hpa: number | null): void;
  /** Whether the backend runs the guest under nested paging (EPT, NPT). */
  readonly nested: boolean;
  /** Whether the guest's translations are tagged (VPID, or an ASID without a TLB_CONTROL flush at every VMRUN). */
  readonly tlbTags: boolean;
  /**
   * Invalidates the guest's cached translations as the instruction the hypervisor emulated would
   * have (issue 7): 'page' for INVLPG (`linear`), 'non-global' for MOV to CR3, 'all' for a CR0 or
   * CR4 change. With tags: INVVPID type 0, 3 or 1; INVLPGA, or TLB_CONTROL 7 or 3 at the next
   * VMRUN. Untagged, nothing: the world switch flushed (VT-x) or will (TLB_CONTROL 1). Between
   * exit and entry only; returns what it did, for the exit's note.
   */
  invalidateGuest(scope: 'page' | 'non-global' | 'all', linear?: bigint): string;
  /** Without nested paging: the shadow MMU (shadow.ts). */
  readonly shadow?: ShadowMmu | null;
  /** The TSC the guest would read now: the processor's TSC plus the TSC offset the guest runs with (read from the control structure). */
  guestTsc(): bigint;
  /** The accesses recorded since the last call (and clears them). */
  takeAccesses(): FieldAccess[];
  /** Whether the guest is in the CPU now, between an entry and its exit (a run that ended on its budget: the next `enter` continues it). */
  readonly loaded?: boolean;
  /** Called at each entry, after the entry instruction's outcome and before the guest runs (the trace's vm/entry). */
  onEntry?: ((instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN', failed: string[] | null) => void) | null;
  /**
   * Whether the guest can take an external interrupt at the next entry: RFLAGS.IF = 1, no blocking
   * by STI or MOV SS, and no event already set up for injection. (Optional: the multi-VM host's.)
   */
  interruptible?(): boolean;
  /**
   * Trap-and-emulate: carries out the privileged instruction of the last 'privileged' exit on the
   * guest's virtual state and advances past it; `reflect` is a fault the instruction raises in the
   * guest instead, `error` ends the VM; `next`, how a one-instruction run the emulation made ended
   * (binary translation runs some instructions where they stand), when it did not just complete.
   */
  emulate?(): { note: string; reflect?: HvEvent; next?: BackendRun } | { error: string };
  /**
   * Paravirtualization (pv/backend.ts): carries out the hypercall of the last 'hypercall' exit with
   * the backend's own interface (Xen's numbers) instead of the core's two functions, sets the result
   * and advances past it; `shutdown` ends the VM with that code ('hypercall-exit').
   */
  paravirtual?(): { note: string; shutdown?: number };
  /** Asks for an exit as soon as the guest can take an interrupt (VT-x interrupt-window exiting; AMD-V V_IRQ with the VINTR intercept), or stops asking. */
  setInterruptWindow?(on: boolean): void;
}

/**
 * The optional exits (the hypervisor's `exits` option, mapped by each backend to its vendor's
 * controls: `EXIT_OPTIONS` in vmx-backend.ts and svm-backend.ts).
 */
export interface HvExitOptions {
  /** HLT exits (default true); without it the guest halts in the CPU. */
  hlt?: boolean;
  /** RDTSC exits; the hypervisor emulates RDTSC with the guest's TSC. */
  rdtsc?: boolean;
  /** INVLPG exits; the hypervisor emulates INVLPG. */
  invlpg?: boolean;
  /** CR3 reads and writes exit; the CR handler performs them. */
  cr3?: boolean;
  /** Exception vectors (0..31) that exit; the hypervisor reflects them. */
  exceptions?: readonly number[];
}

/** One optional exit as a vendor's control: the field, the bit(s) and the manual's name. */
export interface ExitOptionControl {
  option: keyof HvExitOptions;
  /** VMCS field or VMCB field name. */
  field: string;
  /** Bit numbers in that field (the exception bitmap / intercept word: the vector is the bit). */
  bits: readonly number[];
  /** The SDM's or APM's name of each bit. */
  names: readonly string[];
}

/** A control bit the hypervisor sets itself, whatever the options, with why. */
export interface RequiredControl {
  field: string;
  bit: number;
  name: string;
  why: string;
  /** When it is set: always, only with nested paging, only without it, only for an IA-32e-mode guest, or only with tagged TLBs. */
  when: 'always' | 'nested' | 'no-nested' | 'long-guest' | 'tlb-tags';
}

/** Where a forwarded port access goes (the bare machine's log in `exec`, a device bus later). */
export interface PortHandler {
  portIn(port: number, size: 1 | 2 | 4): number;
  portOut(port: number, size: 1 | 2 | 4, value: number): void;
}
