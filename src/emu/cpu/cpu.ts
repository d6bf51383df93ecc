/**
 * The CPU: memory access through segmentation and paging, the fetch–decode–execute loop with a
 * cache of decoded blocks, and the seam to the system layer (system.ts) for privileged
 * instructions and event delivery.
 *
 * Decoded instructions are cached in blocks keyed by the physical address of their first byte
 * (a block never crosses a 4 KiB page). Pages holding cached code are watched in PhysMem: a write
 * to one drops its blocks, so self-modifying code sees its own writes at the next instruction.
 */
import type { CpuCore, CpuFeatures, CpuMode, PrivKind } from './core.ts';
import { Fault, Vec } from './core.ts';
import * as core from './core.ts';
import type { CpuState } from './state.ts';
import { Flag, SegAttr } from './state.ts';
import type { Insn, SegIndex } from './insn.ts';
import type { PhysMem } from '../mem/physmem.ts';
import * as physmem from '../mem/physmem.ts';
import type { Mmu } from '../mmu/mmu.ts';
import type { PagingControl } from '../mmu/types.ts';
import type { NestedTranslator } from '../mmu/nested.ts';
import type { Tlb } from '../mmu/tlb.ts';
import { decode } from './decode.ts';
import type { DecodeMode } from './decode.ts';
import { compile } from './exec.ts';
import * as alu from './alu.ts';
import type { RingCause, TraceEvent, TraceKind, TraceSink } from '../trace/events.ts';
import { kindFilter, u64 } from '../trace/emit.ts';
import { GuestExit, big } from './guest.ts';
import type { EventInfo, GuestMonitor, Intercept } from './guest.ts';

// Imported bindings of the hot path as module-local constants: where the modules are transpiled
// to CommonJS (tsx in Node), every use of an imported binding is a property-getter call.
const { Priv } = core;
const { PAGE_SIZE } = physmem;
const { CF, STATUS, lazyCf, lazyCf64, lazyStatus, lazyStatus64 } = alu;

/** Port I/O after permission checks. */
export interface IoHandler {
  portIn(port: number, size: 1 | 2 | 4): number;
  portOut(port: number, size: 1 | 2 | 4, value: number): void;
}

/** Ports nobody answers: reads see all ones. */
export const noIo: IoHandler = {
  portIn: (_p, size) => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1),
  portOut: () => {},
};

/** A source of maskable external interrupts (the INTR line and its controller). */
export interface InterruptSource {
  /** Whether an interrupt is requested. */
  pending(): boolean;
  /** The interrupt acknowledge cycle: the vector to deliver. */
  acknowledge(): number;
}

/** The system layer the CPU routes privileged instructions and events to (system.ts). */
export interface SystemLayer {
  SYSTEM_MNEMONICS: ReadonlySet<string>;
  execSystem(cpu: CpuCore, insn: Insn, nextRipLo: number, nextRipHi: number): void;
  deliverException(cpu: CpuCore, fault: Fault): void;
  deliverExternalInterrupt(cpu: CpuCore, vector: number): void;
  loadSegment(cpu: CpuCore, seg: SegIndex, selector: number): void;
  ioPermitted(cpu: CpuCore, port: number, size: 1 | 2 | 4): boolean;
  /** The vector of an external interrupt that may be taken now (IF, the shadow, the timer), or -1. */
  pendingInterrupt?(cpu: CpuCore): number;
}

export type Handler = (c: Cpu) => void;

/** Why `run` stopped; 'exit': a guest monitor took an intercept (`Cpu.exit` says which). */
export type RunEnd = 'hlt' | 'shutdown' | 'limit' | 'exit';

/** The cause of a CPL change made by an instruction itself (a delivery through the IDT names its own). */
const RING_CAUSE_OF: ReadonlyMap<string, RingCause> = new Map<string, RingCause>([
  ['iret', 'iret'], ['iretd', 'iret'], ['iretq', 'iret'],
  ['syscall', 'syscall'], ['sysret', 'sysret'], ['sysretq', 'sysret'],
  ['sysenter', 'sysenter'], ['sysexit', 'sysexit'], ['sysexitq', 'sysexit'],
  ['call', 'far-call'], ['jmp', 'far-jmp'], ['retf', 'far-ret'], ['ret far', 'far-ret'],
]);

const MAX_BLOCK = 64;
const FAST_TLB = 256;

export class Block {
  valid = true;
  /** Instructions that retire one after the other. */
  readonly fns: Handler[] = [];
  readonly lens: number[] = [];
  readonly insns: Insn[] = [];
  /** Bytes covered by the block's instructions. */
  size = 0;
  /** Successor chain: the block last seen after this one, for a given RIP. */
  nextBlock: Block | null = null;
  nextLo = -1;
  nextHi = -1;
  nextGen = -1;
  constructor(
    readonly pa: number,
    readonly mode: DecodeMode,
  ) {}
}

/** Valid entries of the CPU's fast translation cache (Cpu.fastTlbSnapshot). */
export interface FastTlbSnapshot {
  slot: Int32Array;
  tagLo: Int32Array;
  tagHi: Uint32Array;
  pa: Float64Array;
}

export interface CpuOptions {
  io?: IoHandler;
  interrupts?: InterruptSource | null;
  /** MAXPHYADDR in bits (CPUID 80000008H:EAX[7:0]). */
  maxPhysAddr?: number;
  /** Optional architectural features the model reports in CPUID and honours (default: all on). */
  features?: CpuFeatures;
}

export class Cpu implements CpuCore {
  readonly state: CpuState;
  readonly mem: PhysMem;
  readonly mmu: Mmu;
  sys: SystemLayer;
  readonly features: CpuFeatures;
  io: IoHandler;
  interrupts: InterruptSource | null;
  hiOut = 0;

  // Hot-path aliases of state arrays.
  readonly regLo: Uint32Array;
  readonly regHi: Uint32Array;

  /** Next RIP of the instruction being executed (branches overwrite it). */
  nextLo = 0;
  nextHi = 0;
  /** Effective address (offset) of the current memory operand. */
  eaLo = 0;
  eaHi = 0;
  /** High half of the last operand read by a compiled getter. */
  gHi = 0;
  /** Set by an instruction that must end its block (mode change, code write, unfinished rep). */
  brk = false;
  /** Steps retired before the first instruction of the block running now (exec.ts's system handlers). */
  blockSteps = 0;

  /**
   * Lazy status flags (alu.ts, lazyStatus): the last flag-producing operation, its operands and
   * result (high halves in lfAh/lfBh/lfRh for 8-byte operations, whose code has bit 3 set), and
   * for INC/DEC the CF they keep. While lfOp is LF_NONE (0), state.rflags holds the
   * status flags; otherwise they are computed from the record when read. Nothing outside the
   * block loop sees a pending record: syncFlags() runs before every call into the system layer,
   * port I/O, MMIO, exception delivery, and when run() returns.
   */
  lfOp = 0;
  lfA = 0;
  lfB = 0;
  lfR = 0;
  lfCf = 0;
  lfAh = 0;
  lfBh = 0;
  lfRh = 0;

  // Cached mode.
  private curMode: CpuMode = 'real';
  is64 = false;
  /**
   * 64 − linear-address width: 16 for 48-bit, 7 for 57-bit addresses (CR4.LA57). An address is
   * canonical when bits 63:(width−1) are all equal: `((hi << canonShift) >> canonShift) === hi`.
   */
  canonShift = 16;
  decodeMode: DecodeMode = 16;
  /** Stack-address size in bytes. */
  stackSize: 2 | 4 | 8 = 2;
  private paging = false;
  private curCpl = 0;
  readonly pctl: PagingControl;

  // Decoded-block cache.
  private blocks = new Map<number, Block>();
  private pageBlocks = new Map<number, Block[]>();
  /** Bumped on anything that may change linear→physical fetch translation or the decode mode. */
  private gen = 0;

  // Fast translation cache for CPL-privileged accesses with paging on (a subset of the TLB,
  // flushed with it): tag = linear page number lo (20 bits) | hi, value = physical page base.
  private readonly tlbTagLo = new Int32Array(FAST_TLB * 3).fill(-1);
  private readonly tlbTagHi = new Uint32Array(FAST_TLB * 3);
  private readonly tlbPa = new Float64Array(FAST_TLB * 3);
  /** Whether the fast translation cache is used (off when a lesson counts TLB hits). */
  fastTlb = true;

  /**
   * The guest monitor (guest.ts): while set, the CPU asks it at every intercept point; null for a
   * bare run, which then pays one comparison per block and per hook reached.
   */
  guest: GuestMonitor | null = null;
  /**
   * The nested dimension (EPT, NPT) while a guest runs with nested paging, else null: every
   * translation then goes through `Mmu.translateNested`, and a nested fault is the 'nested-fault'
   * intercept. Set with `setNested`.
   */
  private nested: NestedTranslator<unknown> | null = null;
  /** The intercept the last `run` ended with ('exit'), else null. */
  exit: Intercept | null = null;
  /** CpuCore.guestVectoring: an INT n / INT3 / INTO / INT1 whose delivery faulted (guest runs only). */
  guestVectoring: EventInfo | null = null;
  /** CR2 as it was before the last #PF wrote it: an intercepted #PF leaves CR2 unchanged. */
  private cr2PrevLo = 0;
  private cr2PrevHi = 0;

  /** Where trace events go (null: tracing off); set with setTrace. */
  trace: TraceSink | null = null;
  /** The step the current event belongs to (CpuState.steps as it would be at the instruction). */
  readonly traceClock = { step: 0 };
  private tInsn = false;
  private tExc = false;
  private tInt = false;
  private tTriple = false;
  private tHalt = false;
  private tRing = false;
  private tFlush = false;
  private tPort = false;
  private tMmio = false;
  /** MMU events of a block lookup, held until the first instruction's cpu/insn (runBlockTraced). */
  private readonly heldEvents = new HeldEvents();
  /** fastTlb as it was before tracing turned it off. */
  private fastTlbSaved: boolean | null = null;
  /** The cause and vector of a CPL change, as the current delivery or instruction names them. */
  private ringCause: RingCause | null = null;
  private ringVector = -1;

  constructor(state: CpuState, mem: PhysMem, mmu: Mmu, sys: SystemLayer, opts: CpuOptions = {}) {
    this.state = state;
    this.mem = mem;
    this.mmu = mmu;
    // The fast translation cache must stay a subset of the TLB: drop it when the TLB evicts. The
    // eviction may have taken the code page's entry: the block ends, so that the next instruction's
    // fetch is translated (and refills it) at its own step, as a traced or a resumed run does.
    mmu.tlb.onEvict = () => {
      this.flushFastTlb();
      this.brk = true;
    };
    this.sys = sys;
    this.features = { page1gb: opts.features?.page1gb ?? true, la57: opts.features?.la57 ?? true };
    this.io = opts.io ?? noIo;
    this.interrupts = opts.interrupts ?? null;
    this.regLo = state.regLo;
    this.regHi = state.regHi;
    this.pctl = {
      mode: 'none', cr3Lo: 0, cr3Hi: 0, wp: false, pse: false, pge: false, pcide: false, nxe: false,
      pdpte: state.pdpte, maxPhysAddr: opts.maxPhysAddr ?? 48, page1gb: opts.features?.page1gb ?? true,
    };
    mem.onWatchedWrite = (page) => this.invalidatePage(page);
    this.modeChanged();
  }

  // ---- trace ----------------------------------------------------------------------------------

  /**
   * Starts (sink) or stops (null) tracing into `sink`, for the kinds given (all when absent), and
   * hands the MMU the same sink. While tlb/lookup, mmu/walk or tlb/fill are wanted the CPU's fast
   * translation cache is bypassed, so that every translation is a real TLB lookup.
   */
  setTrace(sink: TraceSink | null, kinds?: Iterable<TraceKind> | null): void {
    const list = kinds === undefined || kinds === null ? null : [...kinds];
    const on = kindFilter(sink, list);
    this.trace = sink;
    this.tInsn = on('cpu/insn');
    this.tExc = on('cpu/exception');
    this.tInt = on('cpu/interrupt');
    this.tTriple = on('cpu/triple-fault');
    this.tHalt = on('cpu/halt');
    this.tRing = on('ring/change');
    this.tFlush = on('tlb/flush');
    this.tPort = on('io/port');
    this.tMmio = on('io/mmio');
    this.traceClock.step = this.state.steps;
    this.mmu.setTrace(sink, list, this.traceClock);
    if (this.fastTlbSaved !== null) {
      this.fastTlb = this.fastTlbSaved;
      this.fastTlbSaved = null;
    }
    this.perInsnFetch = on('tlb/lookup') || on('mmu/walk') || on('tlb/fill');
    if (this.perInsnFetch) {
      this.fastTlbSaved = this.fastTlb;
      this.fastTlb = false;
    }
  }

  /**
   * While the TLB is traced, every instruction's fetch is one TLB lookup at the step it runs: for
   * the first instruction of a block by the block lookup (blocks are then not chained), for the
   * others by the traced block loop; an instruction that spans two pages runs as a block of its
   * own, so the lookup of its second page happens at its step too. Otherwise the lookups would
   * depend on where cached blocks happened to start, and a replay from a checkpoint would show
   * different TLB events.
   */
  private perInsnFetch = false;

  /** CpuCore.traceDelivery: a delivery through the IDT starts (sys-int.ts). */
  traceDelivery(vector: number, errorCode: number, kind: number): void {
    const sink = this.trace;
    if (sink === null) return;
    this.ringCause = kind === 0 ? 'exception' : kind === 1 ? 'interrupt' : 'software-interrupt';
    this.ringVector = vector;
    const s = this.state;
    const step = this.traceClock.step;
    if (kind === 0) {
      if (!this.tExc) return;
      // Real-address mode pushes no error code (SDM Vol. 3A, 20.1.4).
      if (this.curMode === 'real') errorCode = -1;
      const rip = u64(s.ripLo, s.ripHi);
      if (vector === Vec.PF) sink.emit({ kind: 'cpu/exception', step, vector, errorCode, rip, cr2: u64(s.cr2Lo, s.cr2Hi) });
      else sink.emit({ kind: 'cpu/exception', step, vector, errorCode, rip });
    } else if (this.tInt) {
      sink.emit({ kind: 'cpu/interrupt', step, vector, source: kind === 1 ? 'external' : 'software', rip: u64(s.ripLo, s.ripHi) });
    }
  }

  /** ring/change if the CPL is no longer `from`; the cause is the delivery's, else the instruction's. */
  private traceRing(from: number, mnemonic: string | null): void {
    const to = this.curCpl;
    if (to === from || !this.tRing) return;
    const cause = this.ringCause ?? (mnemonic === null ? undefined : RING_CAUSE_OF.get(mnemonic));
    // A CPL change with no cause of the list (CR0.PE toggled under a CS with RPL ≠ 0) is not reported.
    if (cause === undefined) return;
    const s = this.state;
    const step = this.traceClock.step;
    const rip = u64(s.ripLo, s.ripHi);
    if (this.ringVector >= 0) this.trace!.emit({ kind: 'ring/change', step, from, to, cause, vector: this.ringVector, rip });
    else this.trace!.emit({ kind: 'ring/change', step, from, to, cause, rip });
  }

  /** Exception delivery while tracing: the ring change and a triple fault it leads to. */
  private deliverTraced(e: Fault, cpl: number, mnemonic: string | null): void {
    const s = this.state;
    const wasShutdown = s.shutdown;
    this.sys.deliverException(this, e);
    if (s.shutdown && !wasShutdown && this.tTriple) this.trace!.emit({ kind: 'cpu/triple-fault', step: this.traceClock.step, rip: u64(s.ripLo, s.ripHi) });
    this.traceRing(cpl, mnemonic);
  }

  /** External-interrupt delivery while tracing (run()). */
  private deliverInterruptTraced(v: number): void {
    const s = this.state;
    this.traceClock.step = s.steps;
    this.ringCause = null;
    this.ringVector = -1;
    const cpl = this.curCpl;
    try {
      this.sys.deliverExternalInterrupt(this, v);
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      this.deliverTraced(e, cpl, null);
      return;
    }
    this.traceRing(cpl, null);
  }

  // ---- lazy flags -------------------------------------------------------------------------------

  /** Writes pending lazy status flags into state.rflags; returns RFLAGS. */
  syncFlags(): number {
    const s = this.state;
    const op = this.lfOp;
    if (op !== 0) {
      const f = (op & 8) === 0
        ? lazyStatus(op, this.lfA, this.lfB, this.lfR, this.lfCf)
        : lazyStatus64(op, this.lfA, this.lfAh, this.lfB, this.lfBh, this.lfR, this.lfRh, this.lfCf);
      s.rflags = (s.rflags & ~STATUS) | f;
      this.lfOp = 0;
    }
    return s.rflags;
  }

  /** The current CF (0 or 1) without materialising the other flags. */
  cfNow(): number {
    const op = this.lfOp;
    if (op === 0) return this.state.rflags & CF;
    if ((op & 8) === 0) return lazyCf(op, this.lfA, this.lfB, this.lfR, this.lfCf);
    return lazyCf64(op, this.lfA, this.lfAh, this.lfB, this.lfBh, this.lfR, this.lfRh, this.lfCf);
  }

  // ---- mode ---------------------------------------------------------------------------------

  cpl(): number {
    return this.curCpl;
  }

  mode(): CpuMode {
    return this.curMode;
  }

  modeChanged(): void {
    const s = this.state;
    const cs = s.seg[1]!;
    const ss = s.seg[2]!;
    const pe = (s.cr0 & 1) !== 0;
    const lma = (s.efer & 0x400) !== 0;
    let m: CpuMode;
    if (!pe) m = 'real';
    else if (lma && (cs.attr & SegAttr.L) !== 0) m = 'long64';
    else if (lma) m = 'compat';
    else m = (cs.attr & SegAttr.DB) !== 0 ? 'prot32' : 'prot16';
    this.curMode = m;
    this.is64 = m === 'long64';
    this.canonShift = (s.cr4 & 0x1000) !== 0 ? 7 : 16;
    this.decodeMode = m === 'long64' ? 64 : (cs.attr & SegAttr.DB) !== 0 ? 32 : 16;
    this.stackSize = this.is64 ? 8 : (ss.attr & SegAttr.DB) !== 0 ? 4 : 2;
    this.curCpl = pe ? cs.selector & 3 : 0;
    // Under nested paging every access is translated, whether the guest's paging is on or off.
    this.paging = this.nested !== null || (pe && (s.cr0 & 0x80000000) !== 0);
    this.updatePagingControl();
    this.flushFastTlb();
  }

  private updatePagingControl(): void {
    const s = this.state;
    const c = this.pctl;
    // The paging of the running code (a guest's own under nested paging, where this.paging is always on).
    c.mode = ((s.cr0 & 0x80000001) >>> 0) !== 0x80000001 ? 'none' : (s.cr4 & 0x20) === 0 ? '32bit' : (s.efer & 0x400) === 0 ? 'pae' : (s.cr4 & 0x1000) !== 0 ? '5level' : '4level';
    c.cr3Lo = s.cr3Lo;
    c.cr3Hi = s.cr3Hi;
    c.wp = (s.cr0 & 0x10000) !== 0;
    c.pse = (s.cr4 & 0x10) !== 0;
    c.pge = (s.cr4 & 0x80) !== 0;
    c.pcide = (s.cr4 & 0x20000) !== 0;
    c.nxe = (s.efer & 0x800) !== 0;
    c.pdpte = s.pdpte;
  }

  private flushFastTlb(): void {
    this.tlbTagLo.fill(-1);
    this.gen++;
  }

  tlbFlushAll(includeGlobal: boolean, cause?: 'mov-cr0' | 'mov-cr3' | 'mov-cr4' | 'wrmsr'): void {
    this.mmu.flushAll(includeGlobal);
    this.updatePagingControl();
    this.flushFastTlb();
    if (this.tFlush && cause !== undefined) {
      this.trace!.emit({ kind: 'tlb/flush', step: this.traceClock.step, cause, scope: includeGlobal ? 'all' : 'non-global' });
    }
  }

  tlbInvlpg(linLo: number, linHi: number): void {
    this.updatePagingControl();
    this.mmu.invlpg(this.pctl, linLo, linHi);
    this.flushFastTlb();
    if (this.tFlush) {
      const pcid = this.pctl.pcide ? this.pctl.cr3Lo & 0xfff : 0;
      this.trace!.emit({ kind: 'tlb/flush', step: this.traceClock.step, cause: 'invlpg', scope: 'page', pcid, linear: u64(linLo, linHi) });
    }
  }

  /**
   * Turns nested paging on (the vendor layer's translator, when it enters a guest with EPT or
   * NP_ENABLE) or off (null, at the exit). Flushes nothing in the TLB: its entries are tagged
   * (VPID or ASID, and the EP4TA under EPT, set by `setTlbTag`), and the flushes a world switch
   * needs are the vendor layers' (VM entry and exit without VPID, TLB_CONTROL). The fast
   * translation cache is emptied (modeChanged).
   */
  setNested(t: NestedTranslator<unknown> | null): void {
    this.nested = t;
    this.modeChanged();
  }

  /**
   * The TLB's current tag (issue 7): the VPID or ASID (0: the host's) and, for a guest under EPT,
   * the EP4TA as a page number (NO_EP4TA otherwise). The vendor layers set it at each world switch;
   * other tags' entries stay in the TLB, unused. The fast translation cache holds only the current
   * tag's translations, so a change empties it; so does the 2D walk's caches (walk-cache.ts), which
   * carry no tag (emptying a cache is always allowed; using another context's entry never is).
   */
  setTlbTag(tag: number, ep4ta: number): void {
    const t = this.mmu.tlb;
    if (t.current === tag && t.currentEp === ep4ta) return;
    t.current = tag;
    t.currentEp = ep4ta;
    this.flushFastTlb();
    this.mmu.flushWalkCaches();
  }

  /**
   * An invalidation made by the virtualization layers (a VM entry or exit without VPID, INVVPID,
   * INVEPT, TLB_CONTROL at VMRUN, INVLPGA): `op` acts on the TLB by tag; traced as tlb/flush with
   * its cause and scope.
   */
  tlbInvalidateTagged(op: (tlb: Tlb) => void, ev: Omit<Extract<TraceEvent, { kind: 'tlb/flush' }>, 'kind' | 'step'>): void {
    op(this.mmu.tlb);
    this.flushFastTlb();
    if (this.tFlush) this.trace!.emit({ kind: 'tlb/flush', step: this.traceClock.step, ...ev });
  }

  /** The nested translator in use, or null. */
  nestedTranslator(): NestedTranslator<unknown> | null {
    return this.nested;
  }

  /** The slow path of `translate` under nested paging; -1 a guest #PF, else the host-physical address. */
  private translateNested(c: PagingControl, linLo: number, linHi: number, kind: 0 | 1 | 2, user: boolean): number {
    const mmu = this.mmu;
    const pa = mmu.translateNested(c, linLo, linHi, kind === 1, kind === 2, user, this.nested!);
    if (pa !== -2) return pa;
    const n = mmu.lastNested!;
    const what: Intercept = {
      kind: 'nested-fault', rip: big(this.state.ripLo, this.state.ripHi), length: 0, gpa: n.gpa, linear: big(linLo, linHi),
      stage: n.stage, paged: n.paged, access: { write: kind === 1, fetch: kind === 2, user }, fault: n.fault,
    };
    this.flushFastTlb();
    if (this.guestIntercept(what)) throw GuestExit.signal;
    throw new Error(`nested fault at guest-physical ${n.gpa.toString(16)}: the monitor must take it`);
  }

  // ---- linear and physical access -------------------------------------------------------------

  /**
   * Linear → physical for an access within one page. kind: 0 read, 1 write, 2 fetch.
   * Throws #PF (CR2 set) on a fault.
   */
  translate(linLo: number, linHi: number, kind: 0 | 1 | 2, priv: PrivKind): number {
    if (!this.paging) return linLo;
    const user = priv === Priv.CURRENT && this.curCpl === 3;
    const fast = this.fastTlb && priv === Priv.CURRENT;
    const page = linLo >>> 12;
    const slot = kind * FAST_TLB + (page & (FAST_TLB - 1));
    if (fast && this.tlbTagLo[slot] === page && this.tlbTagHi[slot] === linHi) return this.tlbPa[slot]! + (linLo & 0xfff);
    const c = this.pctl;
    c.cr3Lo = this.state.cr3Lo;
    c.cr3Hi = this.state.cr3Hi;
    const pa = this.nested === null ? this.mmu.translate(c, linLo, linHi, kind === 1, kind === 2, user) : this.translateNested(c, linLo, linHi, kind, user);
    if (pa < 0) {
      this.cr2PrevLo = this.state.cr2Lo;
      this.cr2PrevHi = this.state.cr2Hi;
      this.state.cr2Lo = linLo >>> 0;
      this.state.cr2Hi = linHi >>> 0;
      // A #PF may have removed TLB entries for the page (SDM 4.10.4.1): the fast cache follows.
      this.flushFastTlb();
      throw new Fault(Vec.PF, this.mmu.lastFault?.errorCode ?? 0);
    }
    if (fast) {
      this.tlbTagLo[slot] = page;
      this.tlbTagHi[slot] = linHi;
      this.tlbPa[slot] = pa - (linLo & 0xfff);
    }
    return pa;
  }

  linRead(linLo: number, linHi: number, size: 1 | 2 | 4 | 8, priv: PrivKind): number {
    const off = linLo & 0xfff;
    if (off + size > PAGE_SIZE) return this.linReadSplit(linLo, linHi, size, priv);
    const pa = this.translate(linLo, linHi, 0, priv);
    const mem = this.mem;
    if (pa < mem.ramSize) {
      const p = mem.pages[pa >>> 12];
      if (p === undefined) {
        this.hiOut = 0;
        return 0;
      }
      const o = pa & 0xfff;
      if (size === 4) return (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
      if (size === 1) return p[o]!;
      if (size === 2) return p[o]! | (p[o + 1]! << 8);
      this.hiOut = (p[o + 4]! | (p[o + 5]! << 8) | (p[o + 6]! << 16) | (p[o + 7]! << 24)) >>> 0;
      return (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
    }
    this.syncFlags();
    const v = mem.readWide(pa, size);
    this.hiOut = mem.hiOut;
    if (this.tMmio) this.traceMmio('read', pa, size, v, size === 8 ? mem.hiOut : 0);
    return v;
  }

  private traceMmio(dir: 'read' | 'write', pa: number, size: number, lo: number, hi: number): void {
    this.trace!.emit({ kind: 'io/mmio', step: this.traceClock.step, dir, pa: BigInt(pa), size, value: u64(lo, hi) });
  }

  private linReadSplit(linLo: number, linHi: number, size: number, priv: PrivKind): number {
    const first = PAGE_SIZE - (linLo & 0xfff);
    // Translate both parts before reading either, so a fault on the second leaves no access behind.
    const pa1 = this.translate(linLo, linHi, 0, priv);
    const n2 = (linLo + first) >>> 0;
    const h2 = this.is64 && n2 < linLo ? (linHi + 1) >>> 0 : linHi;
    const pa2 = this.translate(n2, h2, 0, priv);
    const mem = this.mem;
    this.syncFlags();
    const a = mem.readWide(pa1, first);
    const aHi = mem.hiOut;
    const b = mem.readWide(pa2, size - first);
    const bHi = mem.hiOut;
    if (this.tMmio) {
      if (pa1 >= mem.ramSize) this.traceMmio('read', pa1, first, a, first > 4 ? aHi : 0);
      if (pa2 >= mem.ramSize) this.traceMmio('read', pa2, size - first, b, size - first > 4 ? bHi : 0);
    }
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < size; i++) {
      const byte = i < first ? (i < 4 ? a >>> (i * 8) : aHi >>> ((i - 4) * 8)) : i - first < 4 ? b >>> ((i - first) * 8) : bHi >>> ((i - first - 4) * 8);
      if (i < 4) lo |= (byte & 0xff) << (i * 8);
      else hi |= (byte & 0xff) << ((i - 4) * 8);
    }
    this.hiOut = hi >>> 0;
    return lo >>> 0;
  }

  linWrite(linLo: number, linHi: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, priv: PrivKind): void {
    const off = linLo & 0xfff;
    const mem = this.mem;
    if (off + size > PAGE_SIZE) {
      const first = PAGE_SIZE - off;
      const pa1 = this.translate(linLo, linHi, 1, priv);
      const n2 = (linLo + first) >>> 0;
      const h2 = this.is64 && n2 < linLo ? (linHi + 1) >>> 0 : linHi;
      const pa2 = this.translate(n2, h2, 1, priv);
      this.syncFlags();
      const bytes = new Uint8Array(8);
      for (let i = 0; i < size; i++) bytes[i] = i < 4 ? lo >>> (i * 8) : hi >>> ((i - 4) * 8);
      const part = (from: number, n: number): void => {
        let l = 0;
        let h = 0;
        for (let i = 0; i < n; i++) {
          if (i < 4) l |= bytes[from + i]! << (i * 8);
          else h |= bytes[from + i]! << ((i - 4) * 8);
        }
        const pa = from === 0 ? pa1 : pa2;
        mem.writeWide(pa, n, l >>> 0, h >>> 0);
        if (this.tMmio && pa >= mem.ramSize) this.traceMmio('write', pa, n, l, h);
      };
      part(0, first);
      part(first, size - first);
      return;
    }
    const pa = this.translate(linLo, linHi, 1, priv);
    if (pa < mem.ramSize) {
      const n = pa >>> 12;
      if (mem.watch[n] !== 0) mem.noteWrite(n);
      let p = mem.pages[n];
      if (p === undefined) p = mem.pageForWrite(pa)!;
      const o = pa & 0xfff;
      p[o] = lo;
      if (size === 1) return;
      p[o + 1] = lo >>> 8;
      if (size === 2) return;
      p[o + 2] = lo >>> 16;
      p[o + 3] = lo >>> 24;
      if (size === 4) return;
      p[o + 4] = hi;
      p[o + 5] = hi >>> 8;
      p[o + 6] = hi >>> 16;
      p[o + 7] = hi >>> 24;
      return;
    }
    this.syncFlags();
    mem.writeWide(pa, size, lo, hi);
    if (this.tMmio) this.traceMmio('write', pa, size, lo, size === 8 ? hi : 0);
  }

  // ---- segmented access ---------------------------------------------------------------------

  /** Linear address of seg:offset for an access of `size` bytes, after the checks; hi in hiOut. */
  private segLinear(seg: SegIndex, offLo: number, offHi: number, size: number, write: boolean): number {
    if (this.is64) {
      let lo = offLo;
      let hi = offHi;
      if (seg >= 4) {
        const sc = this.state.seg[seg]!;
        const t = lo + sc.baseLo;
        lo = t >>> 0;
        hi = (hi + sc.baseHi + (t > 0xffffffff ? 1 : 0)) >>> 0;
      }
      if (((hi << this.canonShift) >> this.canonShift) !== (hi | 0)) throw new Fault(seg === 2 ? Vec.SS : Vec.GP, 0);
      this.hiOut = hi;
      return lo;
    }
    const sc = this.state.seg[seg]!;
    const fv = seg === 2 ? Vec.SS : Vec.GP;
    if (this.curMode !== 'real') {
      if (!sc.valid) throw new Fault(fv, 0);
      const type = sc.attr & 0xf;
      if ((type & 8) !== 0) {
        // Code segment: never writable; readable only with type bit 1 (SDM Vol. 3A, 3.4.5.1).
        if (write || (type & 2) === 0) throw new Fault(fv, 0);
      } else if (write && (type & 2) === 0) throw new Fault(fv, 0);
      const last = offLo + size - 1;
      if ((type & 0xc) === 4) {
        // Expand-down data segment: valid offsets are limit+1 .. 0xffff or 0xffffffff.
        const upper = (sc.attr & SegAttr.DB) !== 0 ? 0xffffffff : 0xffff;
        if (offLo <= sc.limit || last > upper) throw new Fault(fv, 0);
      } else if (last > sc.limit) throw new Fault(fv, 0);
    }
    this.hiOut = 0;
    return (sc.baseLo + offLo) >>> 0;
  }

  segRead(seg: SegIndex, offLo: number, offHi: number, size: 1 | 2 | 4 | 8): number {
    // 64-bit mode, ES/CS/SS/DS: the offset is the linear address; only the canonical check applies.
    if (this.is64 && seg < 4) {
      if (((offHi << this.canonShift) >> this.canonShift) !== (offHi | 0)) throw new Fault(seg === 2 ? Vec.SS : Vec.GP, 0);
      return this.linRead(offLo, offHi, size, Priv.CURRENT);
    }
    const lin = this.segLinear(seg, offLo, offHi, size, false);
    return this.linRead(lin, this.hiOut, size, Priv.CURRENT);
  }

  segWrite(seg: SegIndex, offLo: number, offHi: number, size: 1 | 2 | 4 | 8, lo: number, hi: number): void {
    if (this.is64 && seg < 4) {
      if (((offHi << this.canonShift) >> this.canonShift) !== (offHi | 0)) throw new Fault(seg === 2 ? Vec.SS : Vec.GP, 0);
      this.linWrite(offLo, offHi, size, lo, hi, Priv.CURRENT);
      return;
    }
    const lin = this.segLinear(seg, offLo, offHi, size, true);
    this.linWrite(lin, this.hiOut, size, lo, hi, Priv.CURRENT);
  }

  /** Checks a write access without making it (for read-modify-write ordering). */
  checkWrite(seg: SegIndex, offLo: number, offHi: number, size: number): void {
    this.segLinear(seg, offLo, offHi, size, true);
  }

  // ---- stack ----------------------------------------------------------------------------------

  push(size: 2 | 4 | 8, lo: number, hi: number): void {
    const r = this.regLo;
    if (this.stackSize === 8) {
      const t = r[4]! - size;
      const nLo = t >>> 0;
      const nHi = (this.regHi[4]! - (t < 0 ? 1 : 0)) >>> 0;
      this.segWrite(2, nLo, nHi, size, lo, hi);
      r[4] = nLo;
      this.regHi[4] = nHi;
    } else if (this.stackSize === 4) {
      const n = (r[4]! - size) >>> 0;
      this.segWrite(2, n, 0, size, lo, hi);
      r[4] = n;
    } else {
      const n = (r[4]! - size) & 0xffff;
      this.segWrite(2, n, 0, size, lo, hi);
      r[4] = ((r[4]! & 0xffff0000) | n) >>> 0;
    }
  }

  /** Reads the value `size` bytes at stack offset `at` (bytes above RSP) without moving RSP. */
  peek(size: 2 | 4 | 8, at: number): number {
    const r = this.regLo;
    if (this.stackSize === 8) {
      const t = r[4]! + at;
      return this.segRead(2, t >>> 0, (this.regHi[4]! + (t > 0xffffffff ? 1 : 0)) >>> 0, size);
    }
    if (this.stackSize === 4) return this.segRead(2, (r[4]! + at) >>> 0, 0, size);
    return this.segRead(2, (r[4]! + at) & 0xffff, 0, size);
  }

  /** Moves RSP up by `n` bytes (with the stack-address size). */
  adjustSp(n: number): void {
    const r = this.regLo;
    if (this.stackSize === 8) {
      const t = r[4]! + n;
      r[4] = t >>> 0;
      if (t > 0xffffffff) this.regHi[4] = (this.regHi[4]! + 1) >>> 0;
    } else if (this.stackSize === 4) r[4] = (r[4]! + n) >>> 0;
    else r[4] = ((r[4]! & 0xffff0000) | ((r[4]! + n) & 0xffff)) >>> 0;
  }

  pop(size: 2 | 4 | 8): number {
    const v = this.peek(size, 0);
    const hi = this.hiOut;
    this.adjustSp(size);
    this.hiOut = hi;
    return v;
  }

  // ---- port I/O ---------------------------------------------------------------------------------

  portIn(port: number, size: 1 | 2 | 4): number {
    this.syncFlags();
    const v = this.io.portIn(port, size);
    if (this.tPort) this.trace!.emit({ kind: 'io/port', step: this.traceClock.step, dir: 'in', port, size, value: v >>> 0 });
    return v;
  }

  portOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.syncFlags();
    this.io.portOut(port, size, value);
    if (this.tPort) this.trace!.emit({ kind: 'io/port', step: this.traceClock.step, dir: 'out', port, size, value: value >>> 0 });
  }

  /** #GP(0) unless CPL ≤ IOPL or the TSS I/O bitmap allows it (SDM Vol. 1, 19.5). */
  checkIo(port: number, size: 1 | 2 | 4): void {
    if (this.curMode === 'real') return;
    this.syncFlags();
    const iopl = (this.state.rflags >>> 12) & 3;
    if (this.curCpl > iopl && !this.sys.ioPermitted(this, port, size)) throw new Fault(Vec.GP, 0);
  }

  // ---- the guest seam (guest.ts) ----------------------------------------------------------------

  /**
   * CpuCore.guestIntercept: asks the monitor; when it takes the intercept, records it as `exit` (the
   * run ends at the next check) and returns true. A #PF taken leaves CR2 as it was before the fault
   * wrote it (SDM Vol. 3C "Architectural State Before a VM Exit"; AMD APM Vol. 2 "Exception
   * Intercepts": the address goes to EXITINFO2).
   */
  guestIntercept(what: Intercept): boolean {
    const g = this.guest;
    if (g === null) return false;
    this.syncFlags();
    if (!g.intercept(what, this)) return false;
    if (what.kind === 'exception' && what.vector === Vec.PF && what.type === 'hardware-exception') {
      this.state.cr2Lo = this.cr2PrevLo;
      this.state.cr2Hi = this.cr2PrevHi;
    }
    this.exit = what;
    return true;
  }

  /**
   * The I/O intercept of IN/OUT/INS/OUTS (exec.ts calls it while a guest runs, after checkIo).
   * Rule applied (SDM Vol. 3C 26.1.1): faults based on privilege level and the #GP of the TSS I/O
   * permission bitmap have priority over the VM exit, so checkIo comes first; the exits of INS and
   * OUTS have priority over the #GP/#SS of an unusable segment or a limit, #AC, and (as fault-like
   * exits) #PF, so no memory is touched before it. AMD orders IN and OUT the same way (APM Vol. 2,
   * 15.10.2: exceptions of virtual-8086 mode, IOPL and the TSS bitmap are checked before the
   * intercept, all others after; QEMU's and KVM's emulators agree). Throws GuestExit.signal when taken; a REP
   * form asks at each iteration, so the first is intercepted with RCX, RSI and RDI unchanged (with
   * RCX = 0 no iteration runs and nothing is asked).
   */
  guestIo(port: number, size: 1 | 2 | 4, dir: 'in' | 'out', insn: Insn, immediate: boolean): void {
    const s = this.state;
    const isString = insn.mnemonic.startsWith('ins') || insn.mnemonic.startsWith('outs');
    let seg: SegIndex | null = null;
    let linear: bigint | null = null;
    const asz = insn.addrSize;
    if (isString) {
      seg = dir === 'in' ? 0 : ((insn.segOverride >= 0 ? insn.segOverride : 3) as SegIndex);
      const r = dir === 'in' ? 7 : 6;
      const off = asz === 8 ? big(this.regLo[r]!, this.regHi[r]!) : BigInt(asz === 4 ? this.regLo[r]! : this.regLo[r]! & 0xffff);
      const sc = s.seg[seg]!;
      if (this.is64) linear = seg >= 4 ? (off + big(sc.baseLo, sc.baseHi)) & 0xffffffffffffffffn : off;
      else linear = (off + BigInt(sc.baseLo)) & 0xffffffffn;
    }
    const what: Intercept = {
      kind: 'io', rip: big(s.ripLo, s.ripHi), length: insn.length, port, size, dir, string: isString,
      rep: isString && insn.rep !== 'none', immediate, addrSize: asz, seg, linear,
    };
    if (this.guestIntercept(what)) throw GuestExit.signal;
  }

  /** An intercept of an instruction with no facts but its own (PAUSE); throws GuestExit.signal when taken. */
  guestInsn(kind: 'pause', length: number): void {
    if (this.guestIntercept({ kind, rip: big(this.state.ripLo, this.state.ripHi), length })) throw GuestExit.signal;
  }

  /**
   * The intercepts at an instruction boundary, in the SDM's priority order (Vol. 3C "VMX-Preemption
   * Timer" and "Interrupt-Window Exiting"; Vol. 3A "Priority Among Concurrent Events"): first the
   * deadline (the preemption timer ranks below debug traps and above the NMI window), then the
   * interrupt window (which ranks above external interrupts), then a requested external interrupt.
   * The lab has no NMIs, SMIs or INITs. True when one was taken. Asked where blocks end: exact,
   * since IF and the shadow change only at block ends and guestStop ends blocks at the deadline and
   * after a shadow; an InterruptSource raising its line in mid-block is seen at the block's end, as
   * in a bare run.
   */
  private guestBoundary(): boolean {
    const g = this.guest!;
    const s = this.state;
    const rip = big(s.ripLo, s.ripHi);
    const apic = g.apic ?? null;
    // A trap-like exit of APIC virtualization (EOI-induced, TPR below threshold) comes right after
    // the instruction that caused it, before any event at this boundary (SDM Vol. 3C 30.1.2, 30.1.4).
    if (apic !== null && apic.trap !== null) {
      const t = apic.trap;
      apic.trap = null;
      t.rip = rip;
      if (this.guestIntercept(t)) return true;
    }
    if (s.steps >= g.deadline && this.guestIntercept({ kind: 'deadline', rip, length: 0 })) return true;
    const ifSet = (s.rflags & Flag.IF) !== 0;
    if (g.interruptWindow && ifSet && !s.interruptShadow && this.guestIntercept({ kind: 'interrupt-window', rip, length: 0 })) return true;
    // Virtual-interrupt delivery has the interrupt window's priority (it needs that exiting off) and
    // ranks above external interrupts (SDM Vol. 3C 30.2.2).
    const canTake = ifSet && !s.interruptShadow && !g.interruptWindow;
    if (apic !== null && canTake) {
      const v = apic.deliverable();
      // Delivered without an exit: the boundary is asked again (an external interrupt still pending
      // must exit now, even when the vector's gate was a trap gate that left IF set).
      if (v >= 0) return this.deliverVirtual(v) || this.guestBoundary();
    }
    const timer = s.timer;
    const src = this.interrupts;
    if (g.interruptsHeld !== true && (timer.pending || (src !== null && src.pending()))) {
      const what: Intercept = { kind: 'external-interrupt', rip, length: 0, ifClear: !ifSet, shadow: s.interruptShadow, acknowledged: false, vector: -1 };
      if (apic !== null && apic.notificationVector >= 0) {
        // Posted-interrupt processing (30.6): the interrupt is acknowledged first (VM entry made sure
        // that "acknowledge interrupt on exit" and external-interrupt exiting are 1); the
        // notification vector is processed without a VM exit, any other vector exits with it.
        let vector: number;
        if (timer.pending) {
          vector = timer.vector;
          timer.pending = false;
        } else vector = src!.acknowledge();
        if (vector === apic.notificationVector) {
          apic.processPosted();
          return this.guestBoundary();
        }
        what.acknowledged = true;
        what.vector = vector;
        if (this.guestIntercept(what)) return true;
        throw new Error('posted-interrupt processing without external-interrupt exiting');
      }
      if (this.guestIntercept(what)) {
        if (g.acknowledgeInterruptOnExit) {
          what.acknowledged = true;
          if (timer.pending) {
            what.vector = timer.vector;
            timer.pending = false;
          } else what.vector = src!.acknowledge();
        }
        return true;
      }
    }
    return false;
  }

  /** Delivers a virtual interrupt through the guest's IDT (SDM Vol. 3C 30.2.2); true when its delivery exited. */
  private deliverVirtual(v: number): boolean {
    this.state.halted = false;
    if (this.trace !== null) this.deliverInterruptTraced(v);
    else {
      try {
        this.sys.deliverExternalInterrupt(this, v);
      } catch (e) {
        if (!(e instanceof Fault)) throw e;
        this.sys.deliverException(this, e);
      }
    }
    return this.exit !== null;
  }

  /** While a guest runs: where the next block must stop so that each boundary check happens on time. */
  private guestStop(stop: number): number {
    const g = this.guest!;
    const s = this.state;
    if (g.deadline > s.steps && g.deadline < stop) stop = g.deadline;
    // In an STI / MOV SS shadow, the window or a requested interrupt is asked again after one instruction.
    if (s.interruptShadow && stop > s.steps + 1 && (g.interruptWindow || s.timer.pending || (this.interrupts !== null && this.interrupts.pending()) || (g.apic != null && g.apic.hasPending()))) {
      stop = s.steps + 1;
    }
    return stop;
  }

  // ---- code cache -----------------------------------------------------------------------------

  private invalidatePage(page: number): void {
    const list = this.pageBlocks.get(page);
    if (list !== undefined) {
      for (const b of list) {
        b.valid = false;
        if (this.blocks.get(b.pa) === b) this.blocks.delete(b.pa);
      }
      this.pageBlocks.delete(page);
    }
    this.mem.watch[page] = this.mem.watch[page]! & physmem.WATCH_SHARED;
    this.brk = true;
  }

  /** Drops every decoded block (e.g. after memory was replaced wholesale). */
  flushCode(): void {
    for (const list of this.pageBlocks.values()) for (const b of list) b.valid = false;
    this.blocks.clear();
    this.pageBlocks.clear();
    this.mem.unwatchCode();
    this.gen++;
  }

  /**
   * After the machine's state was replaced (a checkpoint restored): drops the decoded blocks,
   * their chains and watches, and sets the fast translation cache to `fast` (from
   * `fastTlbSnapshot`) or empties it. Recomputes the cached mode.
   */
  dropCaches(fast?: FastTlbSnapshot): void {
    this.flushCode();
    this.modeChanged();
    if (fast === undefined) return;
    for (let i = 0; i < fast.slot.length; i++) {
      const k = fast.slot[i]!;
      this.tlbTagLo[k] = fast.tagLo[i]!;
      this.tlbTagHi[k] = fast.tagHi[i]!;
      this.tlbPa[k] = fast.pa[i]!;
    }
  }

  /**
   * The fast translation cache's valid entries: it decides which accesses reach the TLB (and so
   * its counters and LRU order), so a checkpoint keeps it for an exact replay.
   */
  fastTlbSnapshot(): FastTlbSnapshot {
    const tags = this.tlbTagLo;
    let n = 0;
    for (let i = 0; i < tags.length; i++) if (tags[i] !== -1) n++;
    const snap: FastTlbSnapshot = { slot: new Int32Array(n), tagLo: new Int32Array(n), tagHi: new Uint32Array(n), pa: new Float64Array(n) };
    let j = 0;
    for (let i = 0; i < tags.length; i++) {
      if (tags[i] === -1) continue;
      snap.slot[j] = i;
      snap.tagLo[j] = tags[i]!;
      snap.tagHi[j] = this.tlbTagHi[i]!;
      snap.pa[j++] = this.tlbPa[i]!;
    }
    return snap;
  }

  private fetchFault: Fault | null = null;

  /** Linear address of RIP (CS.base + RIP), with the CS limit or canonical check; hi in hiOut. */
  private ripLinear(): number {
    const s = this.state;
    if (this.is64) {
      if (((s.ripHi << this.canonShift) >> this.canonShift) !== (s.ripHi | 0)) throw new Fault(Vec.GP, 0);
      this.hiOut = s.ripHi;
      return s.ripLo;
    }
    const cs = s.seg[1]!;
    if (this.curMode !== 'real' && s.ripLo > cs.limit) throw new Fault(Vec.GP, 0);
    this.hiOut = 0;
    return (cs.baseLo + s.ripLo) >>> 0;
  }

  private buildBlock(pa: number, linLo: number, linHi: number): Block {
    const mode = this.decodeMode;
    const b = new Block(pa, mode);
    const mem = this.mem;
    const pageEnd = PAGE_SIZE - (pa & 0xfff);
    let off = 0;
    let cacheable = pa < mem.ramSize;
    this.fetchFault = null;
    while (b.fns.length < MAX_BLOCK) {
      const start = off;
      let crossed = false;
      const fetch = (i: number): number => {
        const k = start + i;
        if (k < pageEnd) return pa + k < mem.ramSize ? mem.read8(pa + k) : 0xff;
        crossed = true;
        // An instruction that spans two pages runs alone (below): ending the block here, without
        // translating the next page, keeps every TLB access at the step of the instruction itself.
        if (b.fns.length > 0) return -1;
        try {
          const l = (linLo + k) >>> 0;
          const h = this.is64 && l < linLo ? (linHi + 1) >>> 0 : linHi;
          const p2 = this.translate(l, h, 2, Priv.CURRENT);
          return p2 < mem.ramSize ? mem.read8(p2) : 0xff;
        } catch (e) {
          if (e instanceof Fault) {
            this.fetchFault = e;
            return -1;
          }
          throw e;
        }
      };
      const r = decode(fetch, mode);
      if (r.kind === 'fetch-fault') {
        if (b.fns.length === 0) throw this.fetchFault ?? new Fault(Vec.PF, 0);
        break;
      }
      if (crossed) {
        // An instruction that spans two pages runs alone and is never cached.
        if (b.fns.length > 0) break;
        cacheable = false;
      }
      if (r.kind === 'ud') {
        b.fns.push(udHandler);
        b.lens.push(1);
        b.size = off + 1;
        b.insns.push(UD_INSN);
        break;
      }
      if (r.kind === 'too-long') {
        b.fns.push(tooLongHandler);
        b.lens.push(15);
        b.size = off + 15;
        b.insns.push(UD_INSN);
        break;
      }
      const insn = r.insn;
      const c = compile(insn, this, b.fns.length);
      b.fns.push(c.fn);
      b.lens.push(insn.length);
      b.insns.push(insn);
      off += insn.length;
      b.size = off;
      if (c.ends || crossed || off >= pageEnd) break;
    }
    if (cacheable) {
      const old = this.blocks.get(pa);
      if (old !== undefined) old.valid = false;
      this.blocks.set(pa, b);
      const page = Math.floor(pa / PAGE_SIZE);
      let list = this.pageBlocks.get(page);
      if (list === undefined) {
        list = [];
        this.pageBlocks.set(page, list);
      }
      list.push(b);
      // Add the code mark, keeping the copy-on-write one: a page shared with a checkpoint must stay
      // watched when the code mark goes (flushCode), or a later write would change the checkpoint.
      mem.watch[page] = mem.watch[page]! | physmem.WATCH_CODE;
    }
    return b;
  }

  private lookupBlock(prev: Block | null): Block {
    const s = this.state;
    if (prev !== null && !this.perInsnFetch && prev.nextLo === s.ripLo && prev.nextHi === s.ripHi && prev.nextGen === this.gen) {
      const nb = prev.nextBlock!;
      if (nb.valid) return nb;
    }
    const linLo = this.ripLinear();
    const linHi = this.hiOut;
    const pa = this.translate(linLo, linHi, 2, Priv.CURRENT);
    let b = this.blocks.get(pa);
    if (b === undefined || !b.valid || b.mode !== this.decodeMode) b = this.buildBlock(pa, linLo, linHi);
    // Only a cached block is linked as prev's successor: an uncached one (an instruction spanning two
    // pages, code outside RAM) is decoded afresh each time, so a write to its second page is seen.
    if (prev !== null && this.blocks.get(pa) === b) {
      prev.nextBlock = b;
      prev.nextLo = s.ripLo;
      prev.nextHi = s.ripHi;
      prev.nextGen = this.gen;
    }
    return b;
  }

  // ---- execution ------------------------------------------------------------------------------

  /** Executes one instruction (or delivers one pending interrupt). */
  step(): RunEnd | null {
    return this.run(1);
  }

  /**
   * Runs until HLT (RIP after it), shutdown, or `maxSteps` more instructions have retired.
   * Returns why it stopped.
   */
  run(maxSteps: number): RunEnd {
    if (this.nested === null) return this.runLoop(maxSteps);
    try {
      return this.runLoop(maxSteps);
    } catch (e) {
      // A nested fault outside an instruction (fetching the next block, delivering an event).
      if (e !== GuestExit.signal) throw e;
      this.syncFlags();
      return 'exit';
    }
  }

  private runLoop(maxSteps: number): RunEnd {
    const s = this.state;
    const limit = s.steps + maxSteps;
    const timer = s.timer;
    let prev: Block | null = null;
    this.exit = null;
    for (;;) {
      if (s.shutdown) return 'shutdown';
      if (this.guest !== null && (this.exit !== null || this.guestBoundary())) return 'exit';
      if ((timer.pending || this.interrupts !== null) && (this.guest === null || this.guest.interruptsHeld !== true)) {
        const v = this.pendingVector();
        if (v >= 0) {
          s.halted = false;
          prev = null;
          if (this.trace !== null) {
            this.deliverInterruptTraced(v);
            continue;
          }
          try {
            this.sys.deliverExternalInterrupt(this, v);
          } catch (e) {
            if (!(e instanceof Fault)) throw e;
            this.sys.deliverException(this, e);
          }
          continue;
        }
      }
      if (s.steps >= limit) return s.halted ? 'hlt' : 'limit';
      if (s.halted) {
        // HLT waits for the timer: time passes in steps until it fires (timer.ts). Under a monitor
        // that takes interrupts whatever IF says it also waits with IF = 0, and for its deadline.
        const g = this.guest;
        const held = g !== null && g.interruptsHeld === true;
        const wake = timer.enabled && !held && ((s.rflags & Flag.IF) !== 0 || (g !== null && g.interruptExitsIgnoreIf));
        const until = g !== null && g.deadline > s.steps ? g.deadline : Infinity;
        if (!wake && until === Infinity) return 'hlt';
        let n = Math.min(limit, until) - s.steps;
        if (wake && timer.count < n) n = timer.count;
        s.steps += n;
        s.tsc += n;
        this.advanceTimer(n);
        continue;
      }
      let stop = limit;
      if (timer.enabled && s.steps + timer.count < stop) stop = s.steps + timer.count;
      if (this.guest !== null) stop = this.guestStop(stop);
      // In an STI / MOV SS shadow with an interrupt waiting: one instruction, then the check above.
      if (s.interruptShadow && timer.pending && stop > s.steps + 1) stop = s.steps + 1;
      const before = s.steps;
      prev = this.trace === null ? this.runBlock(prev, stop) : this.runBlockTraced(prev, stop);
      if (timer.enabled) this.advanceTimer(s.steps - before);
    }
  }

  /** Advances the interval timer by `n` steps (n timerTick calls; at most one firing is latched). */
  private advanceTimer(n: number): void {
    const t = this.state.timer;
    if (!t.enabled || n <= 0) return;
    t.count -= n;
    while (t.count <= 0) {
      t.count += t.period;
      t.pending = true;
      t.fired++;
    }
  }

  /**
   * Whether the machine can go no further: shut down, or halted with no interrupt able to wake it
   * (what makes `run` answer 'hlt' or 'shutdown' before its step limit). Reads only: it asks an
   * interrupt source whether a request is pending but does not acknowledge it.
   */
  stuck(): boolean {
    const s = this.state;
    if (s.shutdown) return true;
    if (!s.halted) return false;
    const g = this.guest;
    // Under a monitor that holds interrupts (SVM's GIF = 0), only its deadline can end the halt.
    if (g !== null && g.interruptsHeld === true) return !(g.deadline > s.steps && g.deadline !== Infinity);
    if (this.sys.pendingInterrupt !== undefined && this.sys.pendingInterrupt(this) >= 0) return false;
    const src = this.interrupts;
    if (src !== null && !s.interruptShadow && (s.rflags & Flag.IF) !== 0 && src.pending()) return false;
    // Under a monitor, as run's halted branch: its deadline, and interrupts it takes whatever IF says.
    if (g !== null && (g.deadline > s.steps && g.deadline !== Infinity)) return false;
    if (g !== null && g.interruptExitsIgnoreIf && s.timer.enabled) return false;
    return !s.timer.enabled || (s.rflags & Flag.IF) === 0;
  }

  private pendingVector(): number {
    const s = this.state;
    const v = this.sys.pendingInterrupt !== undefined ? this.sys.pendingInterrupt(this) : -1;
    if (v >= 0) return v;
    const src = this.interrupts;
    if (src !== null && !s.interruptShadow && (s.rflags & Flag.IF) !== 0 && src.pending()) return src.acknowledge();
    return -1;
  }

  private runBlock(prev: Block | null, limit: number): Block | null {
    const s = this.state;
    let b: Block;
    try {
      b = this.lookupBlock(prev);
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      this.syncFlags();
      this.sys.deliverException(this, e);
      return null;
    }
    const is64 = this.is64;
    const ipMask = this.decodeMode === 16 ? 0xffff : 0xffffffff;
    // Follow chained blocks without returning to the outer loop while nothing needs it.
    const chain = this.interrupts === null;
    let steps = s.steps;
    let i = 0;
    this.brk = false;
    try {
      for (;;) {
        // Only a block's last instruction can set the shadow (STI, MOV SS, POP SS end blocks),
        // so clearing it here is clearing it before the next instruction.
        s.interruptShadow = false;
        this.blockSteps = steps;
        const fns = b.fns;
        const lens = b.lens;
        const total = fns.length;
        const n = limit - steps < total ? limit - steps : total;
        let lo = s.ripLo;
        i = 0;
        if (lo + b.size <= ipMask) {
          // No instruction of the block wraps the instruction pointer. Only a block's last
          // instruction branches, so RIP advances by the lengths until then; RIP is exact while
          // each handler runs (faults and the system layer read it).
          this.nextHi = s.ripHi;
          while (i < n) {
            s.ripLo = lo;
            lo += lens[i]!;
            this.nextLo = lo;
            fns[i++]!(this);
            if (this.brk) break;
          }
          s.ripLo = this.nextLo >>> 0;
          s.ripHi = this.nextHi;
        } else {
          while (i < n) {
            let nl = s.ripLo + lens[i]!;
            let nh = s.ripHi;
            if (nl > 0xffffffff) {
              nl -= 0x100000000;
              if (is64) nh = (nh + 1) >>> 0;
            }
            this.nextLo = nl & ipMask;
            this.nextHi = nh;
            fns[i++]!(this);
            s.ripLo = this.nextLo >>> 0;
            s.ripHi = this.nextHi;
            if (this.brk) break;
          }
        }
        steps += i;
        if (this.brk || i < total) {
          s.tsc += steps - s.steps;
          s.steps = steps;
          this.syncFlags();
          return this.brk ? null : b;
        }
        const nb = b.nextBlock;
        if (!chain || nb === null || b.nextLo !== s.ripLo || b.nextHi !== s.ripHi || b.nextGen !== this.gen || !nb.valid || steps >= limit) break;
        b = nb;
      }
    } catch (e) {
      // The faulting (or intercepted) instruction (fns[i - 1]) did not retire; RIP is still its address.
      steps += i - 1;
      s.tsc += steps - s.steps;
      s.steps = steps;
      this.syncFlags();
      if (e === GuestExit.signal) return null;
      if (!(e instanceof Fault)) throw e;
      this.sys.deliverException(this, e);
      return null;
    }
    s.tsc += steps - s.steps;
    s.steps = steps;
    this.syncFlags();
    return b;
  }

  /**
   * runBlock with tracing on: the same blocks, chaining, RIP arithmetic and updates of steps and
   * TSC (so results do not depend on tracing), plus the events of each instruction.
   */
  private runBlockTraced(prev: Block | null, limit: number): Block | null {
    const s = this.state;
    const clock = this.traceClock;
    const sink = this.trace!;
    clock.step = s.steps;
    this.ringCause = null;
    this.ringVector = -1;
    let cpl = this.curCpl;
    // The block lookup translates the first instruction's fetch before its length is known: its MMU
    // events are held and emitted after that instruction's cpu/insn, as every other instruction's are.
    const mmu = this.mmu;
    const mmuSink = mmu.trace;
    const held = mmuSink !== null && this.tInsn ? this.heldEvents : null;
    if (held !== null) mmu.trace = held;
    let b: Block;
    try {
      b = this.lookupBlock(prev);
    } catch (e) {
      if (held !== null) {
        mmu.trace = mmuSink;
        held.flushTo(mmuSink!);
      }
      if (!(e instanceof Fault)) throw e;
      this.syncFlags();
      this.deliverTraced(e, cpl, null);
      return null;
    }
    if (held !== null) mmu.trace = mmuSink;
    const is64 = this.is64;
    const ipMask = this.decodeMode === 16 ? 0xffff : 0xffffffff;
    const fetchEach = this.perInsnFetch;
    const chain = this.interrupts === null && !fetchEach;
    const wantInsn = this.tInsn;
    let steps = s.steps;
    let i = 0;
    let mnemonic: string | null = null;
    this.brk = false;
    try {
      for (;;) {
        s.interruptShadow = false;
        this.blockSteps = steps;
        const fns = b.fns;
        const lens = b.lens;
        const insns = b.insns;
        const total = fns.length;
        const n = limit - steps < total ? limit - steps : total;
        const noWrap = s.ripLo + b.size <= ipMask;
        i = 0;
        while (i < n) {
          const len = lens[i]!;
          const ripLo = s.ripLo;
          const ripHi = s.ripHi;
          if (noWrap) {
            this.nextLo = ripLo + len;
            this.nextHi = ripHi;
          } else {
            let nl = ripLo + len;
            let nh = ripHi;
            if (nl > 0xffffffff) {
              nl -= 0x100000000;
              if (is64) nh = (nh + 1) >>> 0;
            }
            this.nextLo = nl & ipMask;
            this.nextHi = nh;
          }
          clock.step = steps + i;
          cpl = this.curCpl;
          mnemonic = insns[i]!.mnemonic;
          this.ringCause = null;
          this.ringVector = -1;
          if (wantInsn) {
            sink.emit({ kind: 'cpu/insn', step: steps + i, rip: u64(ripLo, ripHi), length: len, cpl });
            if (held !== null && held.events.length !== 0) held.flushTo(mmuSink!);
          }
          const fn = fns[i++]!;
          // The instruction's own fetch (the block's first was translated by the block lookup); a
          // fault here is the instruction's, like one from its handler (i is already past it).
          if (fetchEach && i > 1) {
            const lo = this.ripLinear();
            this.translate(lo, this.hiOut, 2, Priv.CURRENT);
          }
          fn(this);
          s.ripLo = this.nextLo >>> 0;
          s.ripHi = this.nextHi;
          if (this.curCpl !== cpl) this.traceRing(cpl, mnemonic);
          if (s.halted && this.tHalt) sink.emit({ kind: 'cpu/halt', step: steps + i - 1, rip: u64(ripLo, ripHi) });
          if (this.brk) break;
        }
        steps += i;
        if (this.brk || i < total) {
          s.tsc += steps - s.steps;
          s.steps = steps;
          clock.step = steps;
          this.syncFlags();
          return this.brk ? null : b;
        }
        const nb = b.nextBlock;
        if (!chain || nb === null || b.nextLo !== s.ripLo || b.nextHi !== s.ripHi || b.nextGen !== this.gen || !nb.valid || steps >= limit) break;
        b = nb;
      }
    } catch (e) {
      steps += i - 1;
      s.tsc += steps - s.steps;
      s.steps = steps;
      clock.step = steps;
      this.syncFlags();
      if (e === GuestExit.signal) return null;
      if (!(e instanceof Fault)) throw e;
      this.deliverTraced(e, cpl, mnemonic);
      return null;
    }
    s.tsc += steps - s.steps;
    s.steps = steps;
    clock.step = steps;
    this.syncFlags();
    return b;
  }
}

/** A sink that keeps events until they are passed on in order. */
class HeldEvents implements TraceSink {
  readonly events: TraceEvent[] = [];
  emit(e: TraceEvent): void {
    this.events.push(e);
  }
  flushTo(sink: TraceSink): void {
    for (const e of this.events) sink.emit(e);
    this.events.length = 0;
  }
}

const UD_INSN: Insn = { mnemonic: '(bad)', length: 1, operands: [], opSize: 4, addrSize: 4, rep: 'none', lock: false, segOverride: -1, rex: 0 };

function udHandler(): void {
  throw new Fault(Vec.UD);
}
function tooLongHandler(): void {
  throw new Fault(Vec.GP, 0);
}
