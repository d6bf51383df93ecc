/**
 * The hypervisor: one VM with one vCPU, vendor-neutral, over a backend (svm-backend.ts) that
 * enters the guest and hands back each exit normalised. The loop is a real hypervisor's:
 *
 *   enter the guest → exit → read why (the backend reads EXITCODE etc.) → handle → resume or end
 *
 * Handlers (each charges its `HandlerWork` to the ledger; the backend charges the entry, the exit,
 * the fixed dispatch path and every VMCB/VMCS access):
 * - CPUID: the host's values (`cpuid` option) with the hypervisor-present bit CPUID.1:ECX[31] set,
 *   and the hypervisor range: leaf 0x40000000 gives EAX = 0x40000001 (the highest hypervisor leaf)
 *   and the signature "RingMinus1\0\0" in EBX, ECX, EDX; leaf 0x40000001 gives EAX = 1, the version
 *   of the hypercall interface below; other leaves up to 0x400000FF give zeros.
 * - I/O (IN/OUT): forwarded to the attached port handler (`ports`; none: IN reads all ones, OUT is
 *   dropped); RIP ← nRIP. INS/OUTS (REP or not): the backend lets the processor run the instruction
 *   once with its ports passed through and its accesses routed to the port handler (segments,
 *   paging, REP, DF and faults are then the processor's own), and intercepts the ports again.
 * - RDMSR/WRMSR: a shadow set. EFER: the guest sees its own EFER (the SVM backend hides SVME, which
 *   VMRUN needs set in the guest's VMCB), may not set SVME or other bits the lab does not implement
 *   (#GP: no nested virtualization is offered), and LME may not change while paging (#GP); LMA is
 *   read-only. VM_CR and VM_HSAVE_PA: #GP, as on a processor without SVM. MSRs the vendor switches
 *   through its control structure (VT-x: FS/GS base, SYSENTER_CS/ESP/EIP) are read and written
 *   there. Any other intercepted MSR is passed through to the processor's own (`msr` option) and a
 *   #GP it raises is reflected. The SVM backend intercepts only the shadow set and what the hardware
 *   always intercepts (outside the MSRPM's ranges); the VT-x backend uses no MSR bitmap, so every
 *   RDMSR/WRMSR exits.
 * - CR accesses, as far as the runner reports them (MOV CRn with the decode assist's register):
 *   reads answered from the guest's value in the control structure, writes checked (the reserved
 *   and PG-without-PE and NW-without-CD rules, #GP reflected) and stored; the next entry's checks
 *   and mode logic apply them. LMSW and CLTS (no register reported) end the VM with an error.
 * - HLT: RIP ← nRIP, then idle until an interrupt can wake the guest: with an `interrupts` source
 *   that has a vector pending and the guest's IF = 1, the vector is injected and the guest resumes;
 *   otherwise nothing can ever wake it and the VM ends ('hlt').
 *   With `idleOnHlt` (the multi-VM host, host.ts) the run ends 'idle' instead (unless `pic` has a
 *   request the guest can take at once) and the host wakes the vCPU when its timer has one.
 * - External interrupts from the VM's PIC (`pic`, host.ts): before each entry a requested interrupt
 *   is acknowledged and injected as an external interrupt when the guest can take it (IF = 1, no
 *   STI/MOV SS blocking, nothing else being injected); otherwise the hypervisor asks for the
 *   interrupt window (VT-x interrupt-window exiting; AMD-V V_IRQ with the VINTR intercept) and the
 *   window's exit (VT-x 7, #VMEXIT(VINTR)) stops asking, so the resume injects it.
 * - A host interrupt (VT-x exit 1 with external-interrupt exiting, #VMEXIT(INTR)): the host's own
 *   (`hostInterrupt`, its timer); the guest is untouched and resumes, unless the host says the time
 *   slice is over (AMD-V): the run ends 'preempted'.
 * - The VMX-preemption timer (exit 52): the time slice is over, the run ends 'preempted'.
 * - Hypercalls on VMMCALL under AMD-V, VMCALL under VT-x (the other vendor's instruction is #UD). ABI: RAX = function, RBX = argument, result in RAX.
 *   (A paravirtual backend, pv/backend.ts, answers INT 0x82 with Xen's interface instead: `paravirtual`.)
 *   Function 0: print the character in BL (appended to `console`), RAX ← 0. Function 1: exit with
 *   the code in EBX (the VM ends, 'hypercall-exit'). Any other function, or a call from CPL > 0:
 *   RAX ← all ones (−1), nothing done.
 * - Exceptions the backend intercepts: reflected into the guest by event injection (with the error
 *   code; #PF with CR2 set from the exit's address, since the intercept leaves CR2 unchanged; INT3
 *   and INTO after RIP ← nRIP). The event whose delivery raised it (EXITINTINFO) is not re-injected:
 *   the exception replaces it, as on a bare processor. If an exit ever reports a pair that would
 *   combine (contributory or #PF after contributory or #PF, anything during #DF), the hypervisor
 *   injects #DF or ends the VM as a triple fault; on the lab's processor the pair is combined before
 *   the intercept (and the processor makes the #DF when an injected event's delivery faults).
 * - Triple fault (SVM SHUTDOWN intercept): the VM ends ('shutdown').
 * - MMIO (an EPT violation or #VMEXIT(NPF) at a guest-physical address outside the guest's RAM,
 *   which the nested tables leave unmapped): the instruction is not decoded or emulated here.
 *   Instead, as for string I/O, the processor runs that one instruction with the faulting page
 *   mapped through the nested tables to the host's MMIO window, whose accesses reach the attached
 *   MMIO handler (`mmio`; none: reads see all ones, writes vanish) at their guest-physical
 *   addresses, and the page is unmapped again (nested-map.ts `passThrough`). RIP advances because
 *   the processor completed the instruction; segments, widths, flags, faults are its own. If that
 *   one instruction touches a second unmapped page (an access across a page boundary), its nested
 *   fault comes back before the instruction completed: the pages are mapped together and the
 *   instruction run again (up to four pages), so an MMIO read it made on the first try is made
 *   again, as when a processor restarts a faulting instruction. The log's note lists the accesses
 *   (`mmio write 0x8000010 4 bytes value 0x…`).
 * - RDTSC (optional exit): EDX:EAX ← the guest's TSC as the processor would give it (its TSC plus
 *   the TSC offset, backend `guestTsc`), RIP advanced.
 * - INVLPG (optional exit): the guest's translation of that linear page must go. With tagged TLBs
 *   (the backends' `tlbTags`: VPID, or ASIDs without a flush at each VMRUN) the guest's entries
 *   survive the exit, so the handler invalidates the page itself, INVVPID type 0 for the guest's
 *   VPID (SDM 29.4.3.3) or INVLPGA for its ASID (APM 15.16.3), then advances RIP. Untagged there
 *   is nothing left to do: VT-x without VPID invalidated VPID 0000H's mappings at the exit (SDM
 *   29.4.3.1), and AMD-V's next VMRUN flushes every ASID (TLB_CONTROL 1). The note says which.
 * - MOV to CR0/CR3/CR4 emulated (CR exits): with tags the handler also invalidates what the
 *   native instruction would have (backend `invalidateGuest`: INVVPID type 3 or 1, TLB_CONTROL 7
 *   or 3 at the next VMRUN), since no world switch flushes the guest's entries.
 * - Shadow paging (a backend without nested paging, shadow.ts): a #PF exit is classified by the
 *   shadow MMU's walk of the guest's tables. A true fault is reflected with the guest walk's error
 *   code and CR2; a hidden fault fills the shadow and resumes (the event whose delivery it
 *   interrupted, IDT-vectoring / EXITINTINFO, is injected again when it was an exception or an
 *   external interrupt; INT n, INT3 and INTO, whose RIP is at the instruction, simply run again);
 *   a write to a guest page table and an access to MMIO run the instruction once with the page
 *   opened (shadow.ts `runOnce`). INVLPG zaps the shadow entry; CR3 loads and CR0/CR4/EFER
 *   changes go to the shadow through the backend's `setCr`/`setEfer`. What the shadow MMU did is
 *   the log entry's `shadow` records.
 * - VMRUN, VMLOAD, VMSAVE, STGI, CLGI under AMD-V: the guest is offered no SVM, so #UD is injected.
 * - Anything else ends the VM with an error naming the vendor's exit (and what the backend found:
 *   an EPT misconfiguration, a nested fault inside the guest's RAM).
 *
 * Every exit is appended to `log` as plain data (types.ts: code, name, RIP, raw exit information,
 * the action, and the fields read and written in order).
 */
import { X2APIC_EOI_MSR } from './vlapic.ts';
import { isDoubleFault } from '../cpu/sys-int.ts';
import { Fault } from '../cpu/core.ts';
import { EFER } from '../cpu/sys-util.ts';
import { CR4_ALLOWED } from '../cpu/sys-ctl.ts';
import type { HandlerWork } from '../cost/kinds.ts';
import type { Ledger } from '../cost/ledger.ts';
import type { MmioHandler } from '../mem/physmem.ts';
import type { InterruptSource } from '../cpu/cpu.ts';
import type { MmioRecord } from './nested-map.ts';
import { SHADOW_STUCK } from './shadow.ts';
import type { BackendRun, HvAction, HvBackend, HvExit, HvLogEntry, PortHandler } from './types.ts';

/**
 * The leaves whose output depends on ECX (SDM Vol. 2A, CPUID: 4, 7, 0BH, 0DH, 0FH, 10H, 12H, 14H,
 * 17H, 18H, 1DH, 1EH, 1FH, 20H, 23H, and 8000001DH); for the others ECX is whatever the guest left
 * there, so the note leaves it out.
 */
const SUBLEAF_LEAVES = new Set([4, 7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1d, 0x1e, 0x1f, 0x20, 0x23, 0x8000001d]);

export type CpuidFn = (leaf: number, subleaf: number) => [number, number, number, number];

/** The processor's own MSRs, for pass-through: each throws a `Fault` (#GP) as RDMSR/WRMSR would. */
export interface MsrPassThrough {
  read(index: number): [number, number];
  write(index: number, lo: number, hi: number): void;
}

/** Something that can raise interrupts for the guest: the vector pending now, or null. */
export interface HvInterrupts {
  pending(): number | null;
  /** The vector was injected. */
  acknowledge(vector: number): void;
}

export interface HypervisorOptions {
  backend: HvBackend;
  ledger: Ledger;
  cpuid: CpuidFn;
  ports?: PortHandler;
  /** Where guest MMIO goes (guest-physical addresses outside the guest's RAM, under nested paging). */
  mmio?: MmioHandler;
  msr?: MsrPassThrough;
  interrupts?: HvInterrupts;
  /**
   * The VM's interrupt controller (its 8259A pair's INT line, host.ts): before each entry, a
   * requested interrupt is acknowledged and injected as an external interrupt when the guest can
   * take it (backend `interruptible`); when it cannot, the hypervisor asks for the interrupt window
   * and injects at that exit's resume. Needs a backend with `interruptible` and `setInterruptWindow`.
   */
  pic?: InterruptSource;
  /**
   * The VM's virtual local APIC (vlapic.ts), reached by the guest through the x2APIC EOI MSR (80BH):
   * a WRMSR of 0 there exits and is the EOI (`eoi` returns the vector it ended, or -1); any other
   * value, and RDMSR of it (write-only), are #GP(0). Without it the MSR is #GP(0) as every MSR the
   * hypervisor does not handle.
   */
  lapic?: { eoi(): number };
  /** HLT idles the vCPU: the run ends 'idle' (RIP past the HLT) unless `pic` can be injected at once; the host wakes it. */
  idleOnHlt?: boolean;
  /**
   * Services a host interrupt that made the guest exit (external-interrupt exit; `vector` when the
   * exit acknowledged it, else null and it is still pending): a note for the log, and whether the time slice is over (AMD-V, which has no preemption timer: the host's timer
   * ends the slice; the run then ends 'preempted').
   */
  hostInterrupt?: (vector: number | null) => { note: string; preempt?: boolean };
  /** Called before each entry into the guest (the host brings the VM's devices up to date and arms its timer). */
  beforeEntry?: () => void;
  /** Log entries kept (default 100 000); later exits are counted but not logged. */
  logLimit?: number;
  /**
   * Called after each exit is handled, while its charges are still this exit's (host.ts: a hosted
   * hypervisor's path from the exit to its handler, hv/hosting.ts).
   */
  afterHandle?: (exit: HvExit, entry: HvLogEntry, end: HvEnd | null) => void;
}

export type HvEnd =
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'limit' }
  /** HLT under `idleOnHlt`: the vCPU waits for an interrupt; the host runs something else meanwhile. */
  | { kind: 'idle' }
  /** The host's scheduling timer expired (VMX-preemption timer): the time slice is over. */
  | { kind: 'preempted' }
  | { kind: 'hypercall-exit'; code: number }
  | { kind: 'error'; why: string };

/** The hypervisor's leaves: EBX ECX EDX of 0x40000000 spell "RingMinus1\0\0". */
export const HV_CPUID_BASE = 0x40000000;
export const HV_SIGNATURE = 'RingMinus1\0\0';
export const HV_HYPERCALL_VERSION = 1;
export const Hypercall = { PRINT_CHAR: 0, EXIT: 1 } as const;

export const MSR_EFER = 0xc0000080;
export const MSR_VM_CR = 0xc0010114;
export const MSR_VM_HSAVE_PA = 0xc0010117;
/** The MSRs the hypervisor handles itself (the backends intercept these). */
export const SHADOW_MSRS = [MSR_EFER, MSR_VM_CR, MSR_VM_HSAVE_PA] as const;

const sig4 = (s: string, at: number): number =>
  (s.charCodeAt(at) | (s.charCodeAt(at + 1) << 8) | (s.charCodeAt(at + 2) << 16) | (s.charCodeAt(at + 3) << 24)) >>> 0;

/** The CPUID the guest sees: the host's values with the hypervisor bit, plus the hypervisor's leaves. */
export function guestCpuid(host: CpuidFn, leaf: number, subleaf: number): [number, number, number, number] {
  leaf >>>= 0;
  if (leaf >= HV_CPUID_BASE && leaf <= 0x400000ff) {
    if (leaf === HV_CPUID_BASE) return [HV_CPUID_BASE + 1, sig4(HV_SIGNATURE, 0), sig4(HV_SIGNATURE, 4), sig4(HV_SIGNATURE, 8)];
    if (leaf === HV_CPUID_BASE + 1) return [HV_HYPERCALL_VERSION, 0, 0, 0];
    return [0, 0, 0, 0];
  }
  const r = host(leaf, subleaf);
  if (leaf === 1) r[2] = (r[2] | 0x80000000) >>> 0;
  return r;
}

interface Handled {
  action: HvAction;
  note: string;
  work?: HandlerWork;
  end?: HvEnd;
  /** The handler entered the guest itself (string I/O) and it stopped with this: handled next. */
  next?: BackendRun;
}

const GP0 = { vector: 13, type: 'exception', errorCode: 0 } as const;
const CR0_RESERVED_LO = ~0xe005003f >>> 0;

export class Hypervisor {
  readonly log: HvLogEntry[] = [];
  /** Exits by the vendor's name, with the code. */
  readonly counts = new Map<string, { code: number; count: number }>();
  /** Characters printed through the print hypercall. */
  console = '';
  private exits = 0;
  private readonly b: HvBackend;
  /** Interrupt-window exiting is on (the PIC has an interrupt the guest could not take at the last entry). */
  windowRequested = false;
  /** External interrupts injected from `pic`, in order: the vector and the step of the entry that delivered it. */
  readonly injected: { vector: number; step: number }[] = [];

  constructor(readonly opts: HypervisorOptions) {
    this.b = opts.backend;
  }

  get exitCount(): number {
    return this.exits;
  }

  /** Puts back the console, log, counters and interrupt bookkeeping (host.ts restore; plain data). */
  restoreCounters(s: { console: string; log: HvLogEntry[]; counts: [string, { code: number; count: number }][]; exits: number; windowRequested: boolean; injected: { vector: number; step: number }[] }): void {
    this.console = s.console;
    this.log.length = 0;
    this.log.push(...s.log);
    this.counts.clear();
    for (const [k, v] of s.counts) this.counts.set(k, { ...v });
    this.exits = s.exits;
    this.windowRequested = s.windowRequested;
    this.injected.length = 0;
    this.injected.push(...s.injected);
  }

  /** Runs the VM until it ends or `maxSteps` guest instructions have retired. */
  run(maxSteps: number): HvEnd {
    const b = this.b;
    let next: BackendRun | undefined;
    for (;;) {
      const left = maxSteps - b.steps;
      // With `enterAtLimit`, the guest is entered again before the run stops, so that it is in the CPU at every step boundary.
      if (next === undefined && left <= 0 && !(this.enterAtLimit && b.loaded === false)) return { kind: 'limit' };
      const before = b.steps;
      if (next === undefined && b.loaded !== true) {
        this.opts.beforeEntry?.();
        if (this.opts.pic !== undefined) this.deliver(this.opts.pic);
      }
      const r = next ?? b.enter(left);
      next = undefined;
      const guestSteps = b.steps - before;
      const step = b.steps;
      if (r.kind === 'budget') return { kind: 'limit' };
      if (r.kind === 'halted') return { kind: 'hlt' };
      if (r.kind === 'shutdown') return { kind: 'shutdown' };
      if (r.kind === 'invalid') return { kind: 'error', why: `the entry failed its checks: ${r.failed.join(', ')}` };
      const exit = r.exit;
      let h: Handled;
      let entry: HvLogEntry;
      b.inHandler = true;
      // Everything the handler charges is this exit's, even after an entry it makes to run the guest for one instruction.
      this.opts.ledger.hold();
      try {
        try {
          h = this.handle(exit);
        } catch (e) {
          if (!(e instanceof Fault)) throw e;
          // A #GP the processor's own MSR raised on pass-through: reflect it.
          b.inject({ vector: e.vector, type: 'exception', ...(e.errorCode >= 0 ? { errorCode: e.errorCode } : {}) });
          h = { action: 'reflected', note: `#${e.vector} from the processor's MSR, reflected`, work: 'msr' };
        } finally {
          b.inHandler = false;
        }
        if (h.work !== undefined) this.opts.ledger.charge({ kind: 'handler', work: h.work });
        const c = this.counts.get(exit.name);
        if (c === undefined) this.counts.set(exit.name, { code: exit.code, count: 1 });
        else c.count++;
        entry = {
          n: this.exits++, vendor: b.vendor, code: exit.code, name: exit.name, kind: exit.detail.kind, rip: exit.rip,
          raw: exit.raw, action: h.action, note: h.note, accesses: b.takeAccesses(), guestSteps, step,
          ...(exit.cause !== undefined ? { cause: exit.cause } : {}),
        };
        const sh = b.shadow?.take();
        if (sh !== undefined && sh.length > 0) {
          entry.shadow = sh;
          // The hypervisor's software work on shadow entries, beyond the exit's dispatch and handler.
          const updates = sh.filter((r) => r.op === 'fill' || r.op === 'zap').length;
          if (updates > 0) this.opts.ledger.charge({ kind: 'shadow-pt-update', count: updates });
        }
        this.opts.afterHandle?.(exit, entry, h.end ?? null);
      } finally {
        this.opts.ledger.release();
      }
      if (this.log.length < (this.opts.logLimit ?? 100_000)) this.log.push(entry);
      this.observer?.(entry, h.end ?? null);
      if (h.end !== undefined) return h.end;
      if (h.next !== undefined && h.next.kind !== 'budget') next = h.next;
    }
  }

  /**
   * Before an entry: the PIC's request, injected when the guest can take it, else the interrupt
   * window asked for (and no longer asked for once nothing is requested).
   */
  private deliver(pic: InterruptSource): void {
    const b = this.b;
    if (b.interruptible === undefined || b.setInterruptWindow === undefined) throw new Error('pic: the backend cannot inject external interrupts');
    if (pic.pending()) {
      if (b.interruptible()) {
        const vector = pic.acknowledge();
        b.inject({ vector, type: 'interrupt' });
        this.injected.push({ vector, step: b.steps });
        if (this.windowRequested) {
          b.setInterruptWindow(false);
          this.windowRequested = false;
        }
      } else if (!this.windowRequested) {
        b.setInterruptWindow(true);
        this.windowRequested = true;
      }
    } else if (this.windowRequested) {
      b.setInterruptWindow(false);
      this.windowRequested = false;
    }
  }

  private handle(exit: HvExit): Handled {
    const b = this.b;
    const d = exit.detail;
    switch (d.kind) {
      case 'cpuid': {
        const leaf = Number(b.gpr(0) & 0xffffffffn);
        const sub = Number(b.gpr(1) & 0xffffffffn);
        const [a, bx, c, dx] = guestCpuid(this.opts.cpuid, leaf, sub);
        b.setGpr(0, BigInt(a), 4);
        b.setGpr(3, BigInt(bx), 4);
        b.setGpr(1, BigInt(c), 4);
        b.setGpr(2, BigInt(dx), 4);
        b.advance();
        return { action: 'emulated', note: SUBLEAF_LEAVES.has(leaf >>> 0) ? `leaf 0x${leaf.toString(16)} subleaf 0x${sub.toString(16)}` : `leaf 0x${leaf.toString(16)}`, work: 'cpuid' };
      }
      case 'io': {
        const mask = d.size === 4 ? 0xffffffffn : (1n << BigInt(d.size * 8)) - 1n;
        const p = this.opts.ports;
        if (d.string) {
          // The processor performs the string instruction (segments, paging, REP, DF, faults) with the
          // ports passed through for that one instruction, its accesses going to the port handler.
          const none: PortHandler = { portIn: (_q, size) => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1), portOut: () => {} };
          const next = b.passThroughOnce(d.port, d.size, p ?? none);
          const what = `${d.rep ? 'REP ' : ''}${d.dir === 'in' ? 'INS' : 'OUTS'} port 0x${d.port.toString(16)} size ${d.size}`;
          return { action: p ? 'forwarded' : 'emulated', note: `${what}: run once with the port passed through${next.kind === 'budget' ? '' : `, stopped by ${next.kind}`}`, work: 'io', next };
        }
        if (d.dir === 'out') {
          const v = Number(b.gpr(0) & mask);
          p?.portOut(d.port, d.size, v);
          b.advance();
          return { action: p ? 'forwarded' : 'emulated', note: `out port 0x${d.port.toString(16)} size ${d.size} value 0x${v.toString(16)}`, work: 'io' };
        }
        const v = p ? p.portIn(d.port, d.size) >>> 0 : Number(mask);
        b.setGpr(0, BigInt(v), d.size);
        b.advance();
        return { action: p ? 'forwarded' : 'emulated', note: `in port 0x${d.port.toString(16)} size ${d.size} value 0x${v.toString(16)}`, work: 'io' };
      }
      case 'msr':
        return this.msr(d.write);
      case 'cr':
        return this.cr(d.cr, d.access, d.gpr);
      case 'hlt': {
        b.advance();
        if (this.opts.idleOnHlt === true) {
          const pic = this.opts.pic;
          if (pic !== undefined && pic.pending() && (b.rflags() & 0x200) !== 0) return { action: 'emulated', note: 'halted with an interrupt requested: injected at the resume', work: 'hlt' };
          return { action: 'host', note: 'halted: the vCPU idles until its timer\u2019s next interrupt', work: 'hlt', end: { kind: 'idle' } };
        }
        const src = this.opts.interrupts;
        const vec = src?.pending() ?? null;
        if (src !== undefined && vec !== null && (b.rflags() & 0x200) !== 0) {
          b.inject({ vector: vec, type: 'interrupt' });
          src.acknowledge(vec);
          return { action: 'emulated', note: `halted; woken by interrupt ${vec}, injected`, work: 'hlt' };
        }
        return { action: 'ended', note: 'halted with no interrupt that can wake it', work: 'hlt', end: { kind: 'hlt' } };
      }
      case 'hypercall': {
        if (b.paravirtual === undefined) return this.hypercall();
        const r = b.paravirtual();
        if (r.shutdown !== undefined) return { action: 'ended', note: r.note, work: 'hypercall', end: { kind: 'hypercall-exit', code: r.shutdown } };
        return { action: 'emulated', note: r.note, work: 'hypercall' };
      }
      case 'exception':
        if (d.vector === 14 && b.shadow != null && d.address !== null) return this.shadowFault(d);
        return this.reflect(d);
      case 'triple-fault':
        return { action: 'ended', note: 'triple fault: the VM is shut down', end: { kind: 'shutdown' } };
      case 'mmio':
        return this.mmio(d.gpa, d.access, exit.rip);
      case 'rdtsc': {
        const tsc = b.guestTsc();
        b.setGpr(0, tsc & 0xffffffffn, 4);
        b.setGpr(2, tsc >> 32n, 4);
        b.advance();
        return { action: 'emulated', note: `rdtsc = 0x${tsc.toString(16)}`, work: 'rdtsc' };
      }
      case 'invlpg': {
        if (b.shadow != null) {
          // Shadow paging (untagged): zapping the shadow entry flushes the TLB (shadow.ts).
          const zapped = b.shadow.invlpg(Number(d.linear));
          b.advance();
          return { action: 'emulated', note: `invlpg 0x${d.linear.toString(16)}: ${zapped ? 'shadow entry zapped' : 'no shadow entry for that page'}`, work: 'invlpg' };
        }
        // With tags the guest's entries outlived the exit: INVVPID type 0 or INVLPGA (file header).
        const did = b.invalidateGuest('page', d.linear);
        b.advance();
        return { action: 'emulated', note: `invlpg 0x${d.linear.toString(16)}: ${did}`, work: 'invlpg' };
      }
      case 'interrupt-window':
        // The guest can take an interrupt now: stop asking; the resume injects it (deliver).
        if (this.windowRequested) b.setInterruptWindow?.(false);
        this.windowRequested = false;
        return { action: 'host', note: 'interrupt window open: the requested interrupt is injected at the resume' };
      case 'external-interrupt': {
        const r = this.opts.hostInterrupt?.(d.vector ?? null) ?? { note: 'a host interrupt: nothing of the guest\u2019s to do' };
        return { action: 'host', note: r.note, ...(r.preempt === true ? { end: { kind: 'preempted' } as const } : {}) };
      }
      case 'preemption-timer':
        return { action: 'host', note: 'the time slice is over: the scheduler runs the next vCPU', end: { kind: 'preempted' } };
      case 'ud':
        b.inject({ vector: 6, type: 'exception' });
        return { action: 'reflected', note: `${exit.name}: no SVM for the guest, #UD injected`, work: 'exception' };
      case 'privileged': {
        const r = b.emulate?.();
        if (r === undefined) return { action: 'ended', note: 'no handler', end: { kind: 'error', why: `${exit.name}: this backend emulates no privileged instruction` } };
        if ('error' in r) return { action: 'ended', note: r.error, work: 'privileged', end: { kind: 'error', why: r.error } };
        if (r.reflect !== undefined) {
          b.inject(r.reflect);
          return { action: 'reflected', note: r.note, work: 'privileged' };
        }
        return { action: 'emulated', note: r.note, work: 'privileged', ...(r.next !== undefined && r.next.kind !== 'budget' ? { next: r.next } : {}) };
      }
      case 'other':
        return { action: 'ended', note: 'no handler', end: { kind: 'error', why: `unhandled exit ${exit.name} (${exit.code})${d.why !== undefined ? `: ${d.why}` : ''}` } };
    }
  }

  /** MMIO by pass-through (see the file comment): the processor performs the instruction on the mapped page. */
  private mmio(gpa: number, access: 'read' | 'write' | 'fetch', rip: bigint): Handled {
    const b = this.b;
    const handler: MmioHandler = this.opts.mmio ?? {
      read: (_pa, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1),
      write: () => {},
      readHi: 0xffffffff,
    };
    const pages = [gpa - (gpa % 0x1000)];
    const steps = b.steps;
    let records: MmioRecord[] = [];
    let next: BackendRun;
    for (;;) {
      records = [];
      next = b.passThroughMmio(pages, handler, records);
      // Another unmapped page before the instruction completed: map both and run it again.
      if (next.kind !== 'exit' || next.exit.detail.kind !== 'mmio' || b.steps !== steps || next.exit.rip !== rip || pages.length >= 4) break;
      const more = next.exit.detail.gpa - (next.exit.detail.gpa % 0x1000);
      if (pages.includes(more)) break;
      pages.push(more);
      // The exit just taken is part of this handler's work: its accesses stay in this entry.
    }
    if (next.kind === 'exit' && next.exit.detail.kind === 'mmio' && b.steps === steps && next.exit.rip === rip) {
      // The instruction still faults with its pages passed through: handling that exit again would never end.
      return {
        action: 'ended', note: `mmio ${access} 0x${gpa.toString(16)}: the instruction did not complete with ${pages.length} page(s) passed through`, work: 'mmio',
        end: { kind: 'error', why: `an MMIO instruction at RIP 0x${rip.toString(16)} did not complete with its pages passed through (${pages.map((p) => `0x${p.toString(16)}`).join(', ')})` },
      };
    }
    const what = records.length === 0
      ? `mmio ${access} 0x${gpa.toString(16)}: no access completed`
      : records.map((r) => `mmio ${r.dir} 0x${r.gpa.toString(16)} ${r.size} byte${r.size === 1 ? '' : 's'}${r.dir === 'write' ? ` value 0x${(r.size > 4 ? (BigInt(r.valueHi) << 32n) | BigInt(r.value) : BigInt(r.value)).toString(16)}` : ''}`).join('; ');
    return {
      action: this.opts.mmio ? 'forwarded' : 'emulated',
      // The page's mapping was removed again after the access: a hypervisor then invalidates the
      // guest-physical translations it may have cached (INVEPT on VT-x, TLB_CONTROL on the next
      // VMRUN on AMD-V); the lab flushes its TLB (nested-map.ts passThrough), and the note says so.
      note: `${what}${next.kind === 'budget' ? '' : `; stopped by ${next.kind === 'exit' ? next.exit.name : next.kind}`}; page unmapped again, cached translations flushed (${this.b.vendor === 'intel' ? 'INVEPT' : 'TLB_CONTROL'})`,
      work: 'mmio',
      next,
    };
  }

  private msr(write: boolean): Handled {
    const b = this.b;
    const index = Number(b.gpr(1) & 0xffffffffn);
    const name = `0x${index.toString(16)}`;
    if (index === MSR_VM_CR || index === MSR_VM_HSAVE_PA) {
      b.inject(GP0);
      return { action: 'reflected', note: `${write ? 'wrmsr' : 'rdmsr'} ${name}: no SVM offered to the guest, #GP(0)`, work: 'msr' };
    }
    if (index === MSR_EFER) {
      const efer = b.efer();
      if (!write) {
        b.setGpr(0, efer & 0xffffffffn, 4);
        b.setGpr(2, efer >> 32n, 4);
        b.advance();
        return { action: 'emulated', note: `rdmsr EFER = 0x${efer.toString(16)}`, work: 'msr' };
      }
      const lo = Number(b.gpr(0) & 0xffffffffn);
      const hi = Number(b.gpr(2) & 0xffffffffn);
      const allowed = EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE;
      const paging = (b.cr(0) & 0x80000000n) !== 0n;
      if (hi !== 0 || (lo & ~allowed) !== 0 || (paging && ((BigInt(lo) ^ efer) & BigInt(EFER.LME)) !== 0n)) {
        b.inject(GP0);
        return { action: 'reflected', note: `wrmsr EFER 0x${lo.toString(16)}: #GP(0)`, work: 'msr' };
      }
      const nv = BigInt(((lo & ~EFER.LMA) | (Number(efer) & EFER.LMA)) >>> 0);
      b.setEfer(nv);
      b.advance();
      return { action: 'emulated', note: `wrmsr EFER 0x${nv.toString(16)}`, work: 'msr' };
    }
    if (index === X2APIC_EOI_MSR && this.opts.lapic !== undefined) {
      const lo = Number(b.gpr(0) & 0xffffffffn);
      const hi = Number(b.gpr(2) & 0xffffffffn);
      if (!write || lo !== 0 || hi !== 0) {
        b.inject(GP0);
        return { action: 'reflected', note: `${write ? 'wrmsr' : 'rdmsr'} x2APIC EOI${write ? ` 0x${lo.toString(16)}` : ''}: #GP(0) (write-only, value 0)`, work: 'msr' };
      }
      const v = this.opts.lapic.eoi();
      b.advance();
      return { action: 'emulated', note: v < 0 ? 'x2APIC EOI with nothing in service' : `x2APIC EOI: vector 0x${v.toString(16)} no longer in service`, work: 'msr' };
    }
    // MSRs the vendor switches through its control structure (VT-x: FS/GS base, SYSENTER).
    if (!write) {
      const v = b.guestMsr?.(index);
      if (v !== undefined) {
        b.setGpr(0, v & 0xffffffffn, 4);
        b.setGpr(2, v >> 32n, 4);
        b.advance();
        return { action: 'emulated', note: `rdmsr ${name} from the control structure`, work: 'msr' };
      }
    } else if (b.setGuestMsr !== undefined) {
      const r = b.setGuestMsr(index, ((b.gpr(2) & 0xffffffffn) << 32n) | (b.gpr(0) & 0xffffffffn));
      if (r === 'gp') {
        b.inject(GP0);
        return { action: 'reflected', note: `wrmsr ${name}: #GP(0)`, work: 'msr' };
      }
      if (r) {
        b.advance();
        return { action: 'emulated', note: `wrmsr ${name} to the control structure`, work: 'msr' };
      }
    }
    const pt = this.opts.msr;
    if (pt === undefined) {
      b.inject(GP0);
      return { action: 'reflected', note: `${write ? 'wrmsr' : 'rdmsr'} ${name}: not handled, #GP(0)`, work: 'msr' };
    }
    if (write) {
      pt.write(index, Number(b.gpr(0) & 0xffffffffn), Number(b.gpr(2) & 0xffffffffn));
      b.advance();
      return { action: 'emulated', note: `wrmsr ${name} passed through`, work: 'msr' };
    }
    const [lo, hi] = pt.read(index);
    b.setGpr(0, BigInt(lo >>> 0), 4);
    b.setGpr(2, BigInt(hi >>> 0), 4);
    b.advance();
    return { action: 'emulated', note: `rdmsr ${name} passed through`, work: 'msr' };
  }

  private cr(n: number, access: 'read' | 'write', gpr: number | null): Handled {
    const b = this.b;
    if (gpr === null || (n !== 0 && n !== 2 && n !== 3 && n !== 4)) {
      return { action: 'ended', note: 'no register reported', end: { kind: 'error', why: `CR${n} ${access} without a reported register (LMSW/CLTS) or of a CR this hypervisor does not emulate` } };
    }
    const crn = n as 0 | 2 | 3 | 4;
    const long = b.long64();
    if (access === 'read') {
      const v = b.cr(crn);
      b.setGpr(gpr, v, long ? 8 : 4);
      b.advance();
      return { action: 'emulated', note: `mov from CR${n} = 0x${v.toString(16)}`, work: 'cr' };
    }
    let v = b.gpr(gpr);
    if (!long) v &= 0xffffffffn;
    const lo = Number(v & 0xffffffffn);
    const hi = Number(v >> 32n);
    let bad = false;
    if (crn === 0) bad = hi !== 0 || ((lo & 0x80000000) !== 0 && (lo & 1) === 0) || ((lo & 0x20000000) !== 0 && (lo & 0x40000000) === 0);
    if (crn === 0 && !bad) v = BigInt(((lo & ~CR0_RESERVED_LO) | 0x10) >>> 0);
    if (crn === 4) bad = hi !== 0 || (lo & ~CR4_ALLOWED) !== 0;
    if (bad) {
      b.inject(GP0);
      return { action: 'reflected', note: `mov to CR${n} 0x${v.toString(16)}: #GP(0)`, work: 'cr' };
    }
    if (b.crLoadFaults?.(crn, v) === true) {
      b.inject(GP0);
      return { action: 'reflected', note: `mov to CR${n} 0x${v.toString(16)}: a PDPTE of the new table has a reserved bit set, #GP(0)`, work: 'cr' };
    }
    const old = crn === 0 || crn === 4 ? b.cr(crn) : 0n;
    const why = b.setCr(crn, v);
    if (why !== null) return { action: 'ended', note: `mov to CR${n} 0x${v.toString(16)}: not supported`, work: 'cr', end: { kind: 'error', why } };
    // What the native MOV would have invalidated (SDM 4.10.4.1), which no world switch does with tags.
    const ch = Number((old ^ v) & 0xffffffffn);
    const flushAll = (crn === 0 && (ch & 0x80010001) !== 0) || (crn === 4 && ((ch & 0x10b0) !== 0 || (Number(old) & ~Number(v) & 0x20000) !== 0));
    const did = crn === 3 ? b.invalidateGuest('non-global') : flushAll ? b.invalidateGuest('all') : null;
    b.advance();
    return { action: 'emulated', note: `mov to CR${n} 0x${v.toString(16)}${did !== null && b.tlbTags ? `; ${did}` : ''}`, work: 'cr' };
  }

  private hypercall(): Handled {
    const b = this.b;
    const fn = b.gpr(0) & 0xffffffffn;
    const long = b.long64();
    const fail = (why: string): Handled => {
      b.setGpr(0, 0xffffffffffffffffn, long ? 8 : 4);
      b.advance();
      return { action: 'emulated', note: why, work: 'hypercall' };
    };
    const cpl = b.cpl();
    if (cpl !== 0) return fail(`hypercall ${fn} from CPL ${cpl}: refused, RAX = -1`);
    if (fn === BigInt(Hypercall.PRINT_CHAR)) {
      const ch = Number(b.gpr(3) & 0xffn);
      this.console += String.fromCharCode(ch);
      b.setGpr(0, 0n, long ? 8 : 4);
      b.advance();
      return { action: 'emulated', note: `print 0x${ch.toString(16)}`, work: 'hypercall' };
    }
    if (fn === BigInt(Hypercall.EXIT)) {
      const code = Number(b.gpr(3) & 0xffffffffn);
      b.advance();
      return { action: 'ended', note: `exit with code ${code}`, work: 'hypercall', end: { kind: 'hypercall-exit', code } };
    }
    return fail(`unknown hypercall ${fn}: RAX = -1`);
  }

  /** A #PF under shadow paging (see the file comment and shadow.ts). */
  private shadowFault(d: Extract<HvExit['detail'], { kind: 'exception' }>): Handled {
    const b = this.b;
    const sh = b.shadow!;
    const gva = Number(d.address!);
    const ec = d.errorCode ?? 0;
    const f = sh.classify(gva, ec);
    const at = `0x${gva.toString(16)}`;
    if (f.kind === 'error') return { action: 'ended', note: f.why, work: 'exception', end: { kind: 'error', why: f.why } };
    if (f.kind === 'true') {
      sh.stats.trueFaults++;
      sh.records.push({ op: 'true-fault', gva, errorCode: f.errorCode });
      const h = this.reflect({ ...d, errorCode: f.errorCode });
      return { ...h, note: `true #PF at ${at}: ${h.note}` };
    }
    if (f.kind === 'hidden') {
      sh.stats.hiddenFaults++;
      const key = `${b.steps}:${gva - (gva % 0x1000)}:${ec}`;
      if (this.stuckKey !== key) {
        this.stuckKey = key;
        this.stuck = 0;
      }
      if (++this.stuck > SHADOW_STUCK) {
        const why = `shadow paging made no progress: the same hidden fault at ${at} (error code 0x${ec.toString(16)}) ${SHADOW_STUCK} times in one step`;
        return { action: 'ended', note: why, work: 'exception', end: { kind: 'error', why } };
      }
      sh.records.push({ op: 'hidden-fault', gva, errorCode: ec });
      // The event whose delivery faulted is delivered again (a software interrupt runs again from its instruction).
      const ev = d.during;
      let again = '';
      if (ev !== null && ev.software !== true) {
        b.inject({ vector: ev.vector, type: ev.exception ? 'exception' : 'interrupt', ...(ev.errorCode !== null ? { errorCode: ev.errorCode } : {}) });
        again = `; #${ev.vector} injected again`;
      }
      return { action: 'host', note: `hidden #PF at ${at} (error code 0x${ec.toString(16)}): shadow filled${again}`, work: 'exception' };
    }
    const handler: MmioHandler = this.opts.mmio ?? { read: (_pa, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1), write: () => {}, readHi: 0xffffffff };
    const records: MmioRecord[] = [];
    if (f.kind === 'mmio') sh.stats.hiddenFaults++;
    const { next, notes } = sh.runOnce(gva, f, () => b.rip(), () => b.steps, handler, records);
    const mm = records.map((r) => `mmio ${r.dir} 0x${r.gpa.toString(16)} ${r.size} byte${r.size === 1 ? '' : 's'}${r.dir === 'write' ? ` value 0x${(r.size > 4 ? (BigInt(r.valueHi) << 32n) | BigInt(r.value) : BigInt(r.value)).toString(16)}` : ''}`);
    const what = [...mm, ...notes].join('; ') || (f.kind === 'mmio' ? `mmio at ${at}: no access completed` : `page-table write at ${at}: no entry changed`);
    return {
      action: f.kind === 'mmio' && this.opts.mmio ? 'forwarded' : 'emulated',
      note: `${what}; run once with the page opened in the shadow${next.kind === 'budget' ? '' : `, stopped by ${next.kind === 'exit' ? next.exit.name : next.kind}`}`,
      work: f.kind === 'mmio' ? 'mmio' : 'exception',
      next,
    };
  }

  private reflect(d: Extract<HvExit['detail'], { kind: 'exception' }>): Handled {
    const b = this.b;
    const during = d.during;
    if (during !== null && during.exception) {
      if (during.vector === 8) return { action: 'ended', note: `#${d.vector} while delivering #DF: triple fault`, work: 'exception', end: { kind: 'shutdown' } };
      if (isDoubleFault(during.vector, d.vector)) {
        b.inject({ vector: 8, type: 'exception', errorCode: 0 });
        return { action: 'reflected', note: `#${d.vector} while delivering #${during.vector}: #DF injected`, work: 'exception' };
      }
    }
    if (d.vector === 14 && d.address !== null) void b.setCr(2, d.address);
    if (d.software) b.advance();
    b.inject({ vector: d.vector, type: 'exception', ...(d.errorCode !== null ? { errorCode: d.errorCode } : {}) });
    return { action: 'reflected', note: `#${d.vector}${d.errorCode !== null ? ` (error code 0x${d.errorCode.toString(16)})` : ''} injected`, work: 'exception' };
  }

  // ---- for the time-travelling machine (hv-machine.ts) ----

  /** Shadow paging's safety net: the last hidden fault (step, page, error code) and how many times in a row it came. */
  stuckKey = '';
  stuck = 0;

  /** Enter the guest again before `run` returns at its limit, so that the guest is loaded at each step boundary. */
  enterAtLimit = false;

  /** Called after each exit is handled, with its log entry and the end it caused (null: the guest resumes). */
  observer: ((entry: HvLogEntry, end: HvEnd | null) => void) | null = null;
}
