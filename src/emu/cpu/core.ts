/**
 * The seam between the general executor (cpu.ts, exec*.ts) and the system layer (system.ts:
 * descriptor tables, exception and interrupt delivery, far transfers, SYSCALL/SYSENTER, ...).
 * The Cpu class implements CpuCore; system.ts is written against this interface only.
 */
import type { CpuState } from './state.ts';
import type { PhysMem } from '../mem/physmem.ts';
import type { SegIndex } from './insn.ts';
import type { EventInfo, GuestMonitor, Intercept } from './guest.ts';
import type { Tlb } from '../mmu/tlb.ts';
import type { TraceEvent } from '../trace/events.ts';
import type { NestedTranslator } from '../mmu/nested.ts';

/** Exception vectors (SDM Vol. 3A, Table 6-1). */
export const Vec = {
  DE: 0, DB: 1, NMI: 2, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13,
  PF: 14, MF: 16, AC: 17, MC: 18, XM: 19,
} as const;

/**
 * An exception raised while executing an instruction. Thrown, caught by the step loop, and
 * delivered through the IDT by system.ts. `errorCode` is -1 for vectors that push none.
 * For #PF the thrower has already written CR2.
 */
export class Fault {
  constructor(
    readonly vector: number,
    readonly errorCode: number = -1,
  ) {}
}

/** Which privilege a linear access is made with. */
export const Priv = {
  /** As the current CPL says (user if CPL = 3). */
  CURRENT: 0,
  /** An implicit supervisor access (GDT, IDT, TSS reads and the stack pushes of event delivery). */
  SUPERVISOR: 1,
} as const;
export type PrivKind = (typeof Priv)[keyof typeof Priv];

/** The execution mode as far as instruction semantics care. */
export type CpuMode = 'real' | 'prot32' | 'prot16' | 'compat' | 'long64';

/** Optional model features the system layer reports in CPUID; an absent field means the default. */
export interface CpuFeatures {
  /** 1-GByte pages, CPUID.80000001H:EDX[26] (default true). */
  page1gb?: boolean;
  /** 5-level paging and 57-bit linear addresses, CPUID.(EAX=07H,ECX=0):ECX.LA57[16] (default true). */
  la57?: boolean;
}

export interface CpuCore {
  readonly state: CpuState;
  readonly mem: PhysMem;
  /** Optional (added by the system layer): model features that CPUID reports (system.ts, sys-ctl.ts). */
  readonly features?: CpuFeatures;

  /** Current privilege level (CS.RPL, i.e. the low two bits of the CS selector as loaded). */
  cpl(): number;
  mode(): CpuMode;

  /**
   * Linear-address accesses through paging (and the TLB). They throw Fault(#PF) after setting CR2.
   * Reads return the low 32 bits; for 8-byte reads the high half is left in `hiOut`.
   */
  linRead(linLo: number, linHi: number, size: 1 | 2 | 4 | 8, priv: PrivKind): number;
  linWrite(linLo: number, linHi: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, priv: PrivKind): void;
  hiOut: number;

  /** Segmented accesses: limit and type checks in protected mode, canonical checks in 64-bit mode. */
  segRead(seg: SegIndex, offLo: number, offHi: number, size: 1 | 2 | 4 | 8): number;
  segWrite(seg: SegIndex, offLo: number, offHi: number, size: 1 | 2 | 4 | 8, lo: number, hi: number): void;

  /** Stack operations with the current stack-address size and SS. */
  push(size: 2 | 4 | 8, lo: number, hi: number): void;
  pop(size: 2 | 4 | 8): number; // high half in hiOut

  /** Called after anything that changes CS, CR0, CR4 or EFER so cached mode and decode state are recomputed. */
  modeChanged(): void;
  /**
   * Called after CR3/CR4/CR0 writes and INVLPG: the TLB flush rules live in the MMU. `cause`
   * (optional, added for the trace) names the instruction that flushed.
   */
  tlbFlushAll(includeGlobal: boolean, cause?: 'mov-cr0' | 'mov-cr3' | 'mov-cr4' | 'wrmsr'): void;
  tlbInvlpg(linLo: number, linHi: number): void;
  /**
   * Optional (issue 7, cpu.ts implements them): the TLB's current VPID/ASID and EP4TA, which the
   * virtualization layers set at a world switch, and their invalidations by tag (Cpu.setTlbTag,
   * Cpu.tlbInvalidateTagged). A core without them (a test's) has no TLB to tag.
   */
  setTlbTag?(tag: number, ep4ta: number): void;
  tlbInvalidateTagged?(op: (tlb: Tlb) => void, ev: Omit<Extract<TraceEvent, { kind: 'tlb/flush' }>, 'kind' | 'step'>): void;

  /**
   * Optional (added for the trace, cpu.ts implements it): the system layer calls it as it starts
   * delivering an event through the IDT or IVT, once per attempt (a #DF after a failed delivery is
   * a second call). `errorCode` is the one pushed, or -1; `kind` is sys-int.ts's EventKind
   * (0 exception, 1 external interrupt, 2 INT n / INT3 / INTO, 3 INT1).
   */
  traceDelivery?(vector: number, errorCode: number, kind: number): void;

  /**
   * Optional (guest.ts; cpu.ts implements it): the monitor while a guest runs, else null. Every hook
   * of the guest seam checks it first, so a bare run pays one comparison per hook reached.
   */
  readonly guest?: GuestMonitor | null;
  /** Asks the monitor about an intercept point; true when it took it (the run ends with it). */
  guestIntercept?(what: Intercept): boolean;
  /**
   * Set by INT n / INT3 / INTO / INT1 when their delivery faults while a guest runs: the event whose
   * delivery was under way, which the exception's intercept reports as `during`. Read once.
   */
  guestVectoring?: EventInfo | null;

  /**
   * Optional (cpu.ts implements it): the nested dimension (EPT, NPT) while a guest runs with
   * nested paging, else null; `loadPdptes` (sys-ctl.ts) translates a PAE guest's PDPT through it.
   */
  nestedTranslator?(): NestedTranslator<unknown> | null;

  /** Port I/O, after permission checks have passed. */
  portIn(port: number, size: 1 | 2 | 4): number;
  portOut(port: number, size: 1 | 2 | 4, value: number): void;
}
