/**
 * The trace: one discriminated union of plain-data events, each tied to the step (the number of
 * instructions retired before it, i.e. CpuState.steps when it happened). Kinds are namespaced with
 * a slash (`cpu/…`, `ring/…`, `mmu/…`, `tlb/…`, `io/…`); `vm/…` are the hypervisor's
 * (issue 6: exits, entries, field accesses); `iommu/dma` a device's DMA (issue 8). Views render from these events and tests assert on them.
 *
 * 64-bit quantities (addresses, entries) are `bigint`: the trace is an edge of the core. Events are
 * structured-clone safe (postMessage) but not JSON-safe: use `traceToJson` for JSON lines.
 */

import type { DmaLogFault, DmaPurpose } from '../dev/pci.ts';
import type { HostHop } from '../hv/hosting.ts';

/** Why the privilege level changed. */
export type RingCause =
  | 'exception'
  | 'interrupt'
  | 'software-interrupt'
  | 'iret'
  | 'syscall'
  | 'sysret'
  | 'sysenter'
  | 'sysexit'
  | 'far-call'
  | 'far-jmp'
  | 'far-ret';

export type AccessType = 'read' | 'write' | 'fetch';

/** What invalidated TLB entries. */
export type TlbFlushCause =
  | 'mov-cr3' | 'mov-cr4' | 'mov-cr0' | 'invlpg' | 'invpcid' | 'wrmsr' | 'page-fault'
  | 'vm-entry' | 'vm-exit' | 'invvpid' | 'invept' | 'tlb-control' | 'invlpga';

/** One paging-structure reference of a walk (SDM names). */
export interface TraceWalkStep {
  level: 'PML5E' | 'PML4E' | 'PDPTE' | 'PDE' | 'PTE';
  /** Physical address of the entry (-1n for a PAE PDPTE register). */
  entryPa: bigint;
  entry: bigint;
  index: number;
  leaf: boolean;
}

export type TraceEvent =
  /**
   * An instruction starts (emitted before its own events: TLB lookups, I/O, a software interrupt).
   * It retires unless a cpu/exception with the same step follows before the next cpu/insn.
   */
  | { kind: 'cpu/insn'; step: number; rip: bigint; length: number; cpl: number }
  /**
   * An exception delivered through the IDT (or escalating). `errorCode` is -1 when none is pushed.
   * `rip` (here and in cpu/interrupt) is RIP as delivery starts: the faulting instruction, the INT
   * instruction, or for an external interrupt the next instruction to run.
   */
  | { kind: 'cpu/exception'; step: number; vector: number; errorCode: number; rip: bigint; cr2?: bigint }
  /** An interrupt delivered through the IDT: external (the timer) or software (INT n, INT3, INTO). */
  | { kind: 'cpu/interrupt'; step: number; vector: number; source: 'external' | 'software'; rip: bigint }
  /** A fault during #DF delivery: the processor shuts down. */
  | { kind: 'cpu/triple-fault'; step: number; rip: bigint }
  /** HLT halted the processor; `rip` is the address of the HLT instruction. */
  | { kind: 'cpu/halt'; step: number; rip: bigint }
  /** The CPL changed; `rip` is where execution continues. */
  | { kind: 'ring/change'; step: number; from: number; to: number; cause: RingCause; vector?: number; rip: bigint }
  /** A page walk on a TLB miss (or a probe), with every entry it read, and its outcome. */
  | {
      kind: 'mmu/walk';
      step: number;
      linear: bigint;
      access: AccessType;
      user: boolean;
      mode: '32bit' | 'pae' | '4level' | '5level';
      steps: TraceWalkStep[];
      pa?: bigint;
      pageSize?: number;
      fault?: { errorCode: number; level: TraceWalkStep['level'] };
    }
  /**
   * A TLB lookup for one access; `linear` is the address accessed, `access` and `user` what the
   * access was (`user`: a CPL-3 access, not an implicit supervisor one such as an IDT read).
   */
  | { kind: 'tlb/lookup'; step: number; linear: bigint; access: AccessType; user: boolean; pcid: number; hit: boolean }
  /**
   * A TLB entry written after a walk. The TLB caches 4-KByte pieces: `linear` and `pa` are the
   * 4-KByte-aligned linear page and physical frame of the access; `pageSize` is the size of the page
   * the piece belongs to.
   */
  | { kind: 'tlb/fill'; step: number; linear: bigint; pa: bigint; pageSize: number; pcid: number; global: boolean }
  /**
   * A TLB invalidation and what caused it; `linear` for single-page invalidations. 'wrmsr' is a
   * write to IA32_EFER that changes NXE; 'page-fault' is the invalidation of the faulting page's
   * entries that a #PF makes (SDM Vol. 3A, 4.10.4.1). The virtualization layers' causes (issue 7):
   * 'vm-entry' / 'vm-exit' (VT-x without VPID: VPID 0000H's mappings, SDM 29.4.3.1), 'invvpid',
   * 'invept', 'tlb-control' (at VMRUN, APM 15.16.1), 'invlpga'; `tag` is the VPID or ASID acted on
   * (absent: the current one), scope 'tag' every entry of that tag, 'ep4ta' the combined mappings
   * of one EPTP (`ep4ta`, its bits 51:12 as a page number), 'everything' every tag's entries.
   */
  | {
      kind: 'tlb/flush';
      step: number;
      cause: TlbFlushCause;
      scope: 'all' | 'non-global' | 'pcid' | 'page' | 'tag' | 'tag-non-global' | 'ep4ta' | 'all-combined' | 'all-but-host' | 'everything';
      pcid?: number;
      linear?: bigint;
      tag?: number;
      ep4ta?: number;
    }
  | { kind: 'io/port'; step: number; dir: 'in' | 'out'; port: number; size: number; value: number }
  | { kind: 'io/mmio'; step: number; dir: 'read' | 'write'; pa: bigint; size: number; value: bigint }
  /**
   * A VM exit (VT-x) or #VMEXIT (AMD-V) of VM `vm`: the processor left the guest for the hypervisor.
   * `code` is the basic exit reason (VT-x) or EXITCODE (AMD-V, VMEXIT_INVALID as -1), `name` the
   * vendor's name for it; `rip` the guest RIP the exit reports; `info` the exit-information fields
   * by the vendor's names (EXIT_QUALIFICATION, VM_EXIT_INSTRUCTION_LEN, ...; EXITINFO1, EXITINFO2,
   * EXITINTINFO, NRIP), as the processor wrote them.
   */
  /**
   * `trap`: a trap of the trap-and-emulate monitor (hv/te/backend.ts), whose `code` is the vector
   * (13: #GP), not an exit reason or EXITCODE; with it `label` (what trapped as the monitor counts
   * it: `cli`, `out`, `#PF`), `insn` (the instruction at the trap, disassembled, null if unreadable)
   * and `from` (the ring it trapped from: 1 for the guest kernel, 3 for its user code).
   */
  | { kind: 'vm/exit'; step: number; vm: number; vendor: 'intel' | 'amd'; code: number; name: string; rip: bigint; info: Record<string, bigint>; trap?: true; label?: string; insn?: string | null; from?: number }
  /**
   * The hypervisor read or wrote its control structure: VMREAD/VMWRITE of a VMCS field (`key` the
   * field's encoding) or a load/store of a VMCB field (`key` its offset); `key` is null for guest
   * state the hypervisor keeps in software (`gpr.rbx`).
   */
  | { kind: 'vm/field'; step: number; vm: number; op: 'read' | 'write'; field: string; key: number | null; value: bigint }
  /**
   * What the hypervisor's handler did with the exit, and a short plain-data note (`port 0x3f8 out 1
   * byte`); `host`: an exit of the host's own (its timer, the end of a time slice, a HLT that idles
   * the vCPU), the guest's state untouched.
   */
  | { kind: 'vm/handle'; step: number; vm: number; action: 'emulated' | 'forwarded' | 'reflected' | 'ended' | 'host'; note: string }
  /**
   * A VM entry: VMLAUNCH or VMRESUME (VT-x) or VMRUN (AMD-V) into VM `vm` at guest `rip`, or under
   * trap-and-emulate the monitor's IRET back to the deprivileged guest after a trap. `failed`
   * lists the checks that failed when the entry did not happen (VM-instruction error, a VM-entry
   * failure exit, VMEXIT_INVALID).
   */
  | { kind: 'vm/entry'; step: number; vm: number; vendor: 'intel' | 'amd'; instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN' | 'IRET'; rip: bigint; failed?: string[] }
  /** VM `vm` ended: its last HLT with nothing to wake it, the exit hypercall, a triple fault, or an exit it cannot handle. */
  | { kind: 'vm/end'; step: number; vm: number; why: 'hlt' | 'shutdown' | 'hypercall-exit' | 'error'; detail: string }
  /** The hypervisor's scheduler moved the physical CPU from VM `from` to VM `to` (several VMs). */
  | { kind: 'vm/switch'; step: number; from: number; to: number }
  /**
   * Where the hypervisor lives (a scenario's `hypervisor.hosting`, hv/hosting.ts): the path VM
   * `vm`'s exit took, from the exit through the components that handled it (`hops`) back to the
   * entry; `where` names who handled it and `output` whether data left the machine.
   */
  | { kind: 'host/path'; step: number; vm: number; hosting: 'bare-metal' | 'hosted'; name: string; where: 'monitor' | 'device' | 'interrupt' | 'idle'; output: boolean; preempt: boolean; final: boolean; hops: HostHop[] }
  /** A hosted hypervisor's host OS gave the CPU to one of its own processes (`proc`) for `steps` steps: no VM runs meanwhile. */
  | { kind: 'host/run'; step: number; proc: number; steps: number }
  /**
   * A DMA request of VM `vm`'s device (issue 8), decided and made or blocked. `bus` 'vm': the device
   * is a model inside the hypervisor (emulated, virtio), its "DMA" the hypervisor's processor copying
   * guest memory; 'host': an assigned function on the host's bus, its DMA through the host's IOMMU.
   * `seq` is the request's place in that bus's DMA log (dev/pci.ts DmaLogEntry: the entries the
   * IOMMU read, the fault record), `rid` the requester ID, `iova` the address the device used, `hpa`
   * where it landed (null: blocked), `domainId` the IOMMU domain that translated it (-1: no IOMMU,
   * translation off, or a model's copy in the hypervisor; null: blocked), `fault` why it was blocked.
   */
  | {
      kind: 'iommu/dma'; step: number; vm: number; bus: 'vm' | 'host'; seq: number; rid: number; device: string;
      access: 'read' | 'write'; what: DmaPurpose | null; iova: bigint; length: number; hpa: bigint | null; domainId: number | null; iotlbHit: boolean; fault: DmaLogFault | null;
    }
  /**
   * An interrupt message (MSI) VM `vm`'s device sent (issue 8 item 4). `bus` 'vm': an emulated
   * card's, on the VM's own bus, to the VM's virtual local APIC (no IOMMU on the way); 'host': an
   * assigned function's, on the host's bus, through the IOMMU's interrupt remapping when there is
   * one. `seq` is its place in that bus's MSI log (dev/pci.ts msiLog), `address` and `data` the
   * message as written, `vector` and `destinationId` those of the interrupt that went to the CPU
   * (an IRTE's, a posted-interrupt notification's, or the message's own; when nothing went, the
   * message's as written), `outcome` what the remapper decided, `delivered` whether an interrupt
   * reached a local APIC (a posted one with no notification was not, yet waits in the descriptor);
   * `guestVector` the vector VM `vm` receives for it (the VM bus's own; the guest's vector the
   * hypervisor routes a host vector to, hv/host.ts syncMsi, and injects; the posted vector), or
   * null when it receives none.
   */
  | {
      kind: 'iommu/msi'; step: number; vm: number; bus: 'vm' | 'host'; seq: number; rid: number; device: string;
      address: number; data: number; vector: number; destinationId: number; outcome: MsiOutcome; delivered: boolean; guestVector: number | null;
    };

/**
 * What interrupt remapping decided about one message (dev/pci.ts MsiRemap, without the entries it
 * read): `direct` no interrupt remapper on that bus; `passed` let through as written; `remapped`
 * IRTE `index` gave `vector` for APIC ID `destinationId`; `posted` IRTE `index` set PIR bit `vector`
 * in the descriptor at `descriptor` (host-physical), with a notification event (`notification`:
 * its vector) or none (ON already set, or SN); `blocked` with the fault; `aborted` (AMD-Vi) with no event.
 */
export type MsiOutcome =
  | { kind: 'direct' }
  | { kind: 'passed'; why: 'remapping-off' | 'compatibility' | 'forwarded' }
  | { kind: 'remapped'; index: number; vector: number; destinationId: number; cacheHit: boolean }
  | { kind: 'posted'; index: number; vector: number; descriptor: number; notification: number | null; cacheHit: boolean }
  | { kind: 'blocked'; index: number | null; fault: Extract<DmaLogFault, { vendor: 'vtd' | 'amd-vi' }> }
  | { kind: 'aborted'; why: 'int-ctl' | 'not-passed' | 'delivery-mode' };

export type TraceKind = TraceEvent['kind'];

/** Every kind, for validation, filters and "run to next event of a kind". */
export const TRACE_KINDS = [
  'cpu/insn',
  'cpu/exception',
  'cpu/interrupt',
  'cpu/triple-fault',
  'cpu/halt',
  'ring/change',
  'mmu/walk',
  'tlb/lookup',
  'tlb/fill',
  'tlb/flush',
  'io/port',
  'io/mmio',
  'vm/exit',
  'vm/field',
  'vm/handle',
  'vm/entry',
  'vm/end',
  'vm/switch',
  'host/path',
  'host/run',
  'iommu/dma',
  'iommu/msi',
] as const satisfies readonly TraceKind[];

/**
 * Where the core writes events. The core checks `sink !== null` before building an event, so
 * tracing off costs one comparison at each place an event could occur.
 */
export interface TraceSink {
  emit(e: TraceEvent): void;
}

/** Collects events in an array. */
export class ArraySink implements TraceSink {
  readonly events: TraceEvent[] = [];
  emit(e: TraceEvent): void {
    this.events.push(e);
  }
}

/** A plain-JSON copy of an event: bigints become decimal strings if above 2^53−1, else numbers. */
export function traceToJson(e: TraceEvent): Record<string, unknown> {
  const conv = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    if (Array.isArray(v)) return v.map(conv);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, conv(x)]));
    return v;
  };
  return conv(e) as Record<string, unknown>;
}

/** Exhaustiveness check for switches over event kinds. */
export function assertNever(x: never): never {
  throw new Error(`unhandled trace event ${JSON.stringify(x)}`);
}
