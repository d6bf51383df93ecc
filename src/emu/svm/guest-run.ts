/**
 * Running a guest under AMD-V on the lab's Cpu (AMD APM Vol. 2, ch. 15): the layer between the
 * instruction API of svm.ts and a hypervisor written in TypeScript.
 *
 *   const r = vmrunGuest(svm, cpu, vmcbPa);      // VMRUN: checks, then the guest is in the CPU
 *   const end = runGuest(svm, cpu, budget);      // runs it until a #VMEXIT (or the budget)
 *   switch (vmcb.read64('exit_code').lo) { … }   // the host is back: read EXITCODE, EXITINFO1/2, nRIP
 *
 * Entering (15.5): `enterGuest` loads the state VMRUN returned into `cpu.state` (ES CS SS DS from
 * the packed attributes, GDTR IDTR, EFER CR0 CR2 CR3 CR4, RFLAGS RIP RSP RAX, the interrupt shadow;
 * the CPL: the lab's CPL is CS.RPL, so in protected mode the CS selector's RPL is set to the VMCB's
 * CPL, which a consistent guest has there anyway; EFER.LMA follows LME and CR0.PG as the
 * processor's own mode logic does), adds TSC_OFFSET to the TSC the guest reads, performs
 * TLB_CONTROL, injects EVENTINJ (15.20) and installs an `SvmMonitor` built from the latched
 * intercept words and the IOPM and MSRPM in memory.
 *
 * TLB_CONTROL and ASIDs (15.16): the guest's translations are tagged with its ASID (ASID 0 is the
 * host's and illegal in a VMCB, 15.5.1), so neither VMRUN nor #VMEXIT flushes by itself; VMRUN
 * performs what TLB_CONTROL asks (applyTlbControl) before the guest's first access.
 *
 * Exiting (15.6): the monitor turns an intercept the CPU reports (cpu/guest.ts) into EXITCODE,
 * EXITINFO1, EXITINFO2, EXITINTINFO and nRIP; `runGuest` saves the guest state from `cpu.state`
 * (TSC offset removed) and calls `Svm.vmexit`, which writes the VMCB and reloads the host. The guest's
 * other general registers stay in `cpu.state`, as on hardware, where the hypervisor saves them itself.
 *
 * What the lab advertises (it has no CPUID leaf 8000_000Ah yet; `SVM_FEATURES` says what would be
 * set): NRIP save (nRIP on instruction intercepts, IOIO, MSR and the INT3/INTO exception
 * intercepts, zero otherwise: APM 15.7.1). Decode assists (15.33) in part: a MOV CRn intercept has
 * EXITINFO1 bit 63 set and the GPR number in bits 3:0 (LMSW and CLTS: bit 63 clear), INVLPG puts
 * the linear address and INTn the vector in EXITINFO1; the instruction bytes of #PF and nested page
 * fault intercepts (INSN_LEN, INSN_BYTES) are not fetched, so the DecodeAssists bit is not claimed.
 *
 * Interrupts, as far as the lab models them (15.13, 15.17, 15.21): GIF = 0 (a guest's own CLGI,
 * when CLGI is not intercepted) holds every interrupt pending: no INTR intercept, no delivery. A
 * physical interrupt is intercepted with INTR set; with V_INTR_MASKING = 1 the guest's IF and
 * shadow do not mask it, the host's IF as VMRUN saved it does (IF = 0 holds it pending, like GIF =
 * 0); with V_INTR_MASKING = 0 the guest's IF and shadow mask it. Not intercepted, it is delivered
 * through the guest's IDT as on a bare CPU (the guest's IF applies). A halted guest is woken by an
 * interrupt it would exit for. The INTR #VMEXIT does not acknowledge the interrupt: it stays
 * pending for the host, which takes it once it sets GIF again (STGI). A virtual interrupt (V_IRQ, with V_INTR_PRIO above V_TPR unless V_IGN_TPR) is taken
 * when the guest's IF = 1 outside a shadow: with VINTR intercepted that is the VINTR #VMEXIT (the
 * interrupt window), otherwise V_INTR_VECTOR is delivered through the guest's IDT and V_IRQ
 * cleared. Not modelled: V_TPR as the guest's CR8 (CR8 accesses reach the lab's CR8), NMIs, AVIC.
 *
 * Guest SVM instructions not intercepted: CLGI, STGI, VMLOAD and VMSAVE execute (on the guest's
 * registers, rAX a physical address taken as host-physical: with nested paging on, these
 * should be intercepted); SKINIT and INVLPGA are
 * #UD (not modelled); VMRUN is always intercepted (a VMRUN consistency check). Not modelled at
 * all: the CR write traps (word 4, bits 16..24: they fire after the write, and the seam reports
 * before it), DR intercepts (the lab has no debug registers), PUSHF/POPF/IRET/RSM/INVD/WBINVD/
 * MONITOR/MWAIT/XSETBV/RDPMC/RDPRU/task-switch/FERR intercepts (cpu/guest.ts lists why).
 *
 * Nested paging (15.25): with NP_ENABLE the CPU translates every guest access and every entry of
 * the guest's own walk through N_CR3's tables in the host's paging mode (`Cpu.setNested` with
 * npt.ts's `nptNested`); a nested fault is #VMEXIT(NPF) with EXITINFO1 (the #PF-style code, bit 32
 * for the final guest-physical address, 33 for a guest page-table access, neither with the guest's
 * paging off) and EXITINFO2 (the guest-physical address). A PAE-paging guest's PDPTE is read
 * from its PDPT through the nested tables on every walk (npt.ts `paePdptes`). Refused with an
 * Error: a host outside long mode.
 */
import type { Cpu } from '../cpu/cpu.ts';
import type { CpuCore } from '../cpu/core.ts';
import { Fault, Vec } from '../cpu/core.ts';
import { GuestExit, type EventInfo, type EventType as SeamEventType, type GuestMonitor, type Intercept } from '../cpu/guest.ts';
import { Seg } from '../cpu/insn.ts';
import { Flag } from '../cpu/state.ts';
import { CR0, CR4, EFER } from '../cpu/sys-util.ts';
import { loadPdptes, MAXPHYADDR } from '../cpu/sys-ctl.ts';
import { nptNested, type NptControl, type NptFault } from './npt.ts';
import { deliverEvent, deliverExceptionImpl, EventKind, hasErrorCode, isDoubleFault } from '../cpu/sys-int.ts';
import { exceptionExitCode, SVM_EXIT } from './exit-codes.ts';
import {
  encodeEvent, encodeIoioInfo, EventType, NestedCtl, TlbControl, type SvmEvent, type VIntr,
} from './exitinfo.ts';
import {
  crReadIntercept, crWriteIntercept, exceptionIntercept, interceptSet, ioIntercepted, msrIntercepted,
  type InterceptName,
} from './intercepts.ts';
import type { Svm, SvmControls, SvmGuestState, VmexitInfo, VmrunOutcome } from './svm.ts';
import { NO_EP4TA } from '../mmu/tlb.ts';
import {
  dtrFromVmcb, dtrToVmcb, segmentFromVmcb, segmentToVmcb, u64, vmcbRead64, type U64,
} from './vmcb.ts';

/** CPUID 8000_000Ah EDX bits the lab's SVM would report (APM Vol. 3, Appendix E): NRIPS only. */
export const SVM_FEATURES = { NRIPS: 1 << 3 } as const;

/** What the monitor decided at an intercept point it took. */
export type SvmDecision =
  | { kind: 'exit'; info: VmexitInfo }
  /** Not intercepted, but the CPU cannot do it alone: this layer performs it and the guest goes on. */
  | { kind: 'emulate'; what: 'clgi' | 'stgi' | 'vmload' | 'vmsave' | 'virtual-interrupt'; length: number };

const bigU64 = (v: bigint): U64 => u64(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
const code = (name: string): number => {
  const c = SVM_EXIT[name];
  if (c === undefined) throw new Error(`no exit code ${name}`);
  return c;
};

/** The EXITINTINFO / EVENTINJ TYPE of a seam event type (APM 15.20: INT3, INTO and INT1 are exceptions, TYPE 3). */
function svmEventType(t: SeamEventType): number {
  if (t === 'external-interrupt') return EventType.INTR;
  if (t === 'nmi') return EventType.NMI;
  if (t === 'software-interrupt') return EventType.SOFT_INT;
  return EventType.EXCEPTION;
}

/** EXITINTINFO for an event whose delivery was under way. */
export function exitIntInfoOf(e: EventInfo | null): U64 {
  if (e === null) return u64(0);
  const ev: SvmEvent = { valid: true, vector: e.vector, type: svmEventType(e.type) };
  if (e.errorCode >= 0) ev.errorCode = e.errorCode;
  return encodeEvent(ev);
}

const DESC_INTERCEPT: Record<string, InterceptName> = {
  sidt: 'IDTR_READ', sgdt: 'GDTR_READ', sldt: 'LDTR_READ', str: 'TR_READ',
  lidt: 'IDTR_WRITE', lgdt: 'GDTR_WRITE', lldt: 'LDTR_WRITE', ltr: 'TR_WRITE',
};
const SVM_INTERCEPT: Record<string, InterceptName> = {
  vmrun: 'VMRUN', vmload: 'VMLOAD', vmsave: 'VMSAVE', stgi: 'STGI', clgi: 'CLGI', skinit: 'SKINIT', invlpga: 'INVLPGA',
};

/** The facts the decision needs besides the intercept itself. */
export interface DecideContext {
  controls: SvmControls;
  cpu: CpuCore;
  gif: boolean;
  /** The host's RFLAGS.IF as VMRUN saved it (masks physical interrupts under V_INTR_MASKING). */
  hostIf: boolean;
}

/**
 * The #VMEXIT (or emulation) an intercept point causes under the latched controls, or null when the
 * guest goes on as a bare CPU would (APM 15.8–15.13).
 */
export function decide(what: Intercept, x: DecideContext): SvmDecision | null {
  const c = x.controls;
  const on = (n: InterceptName): boolean => interceptSet(c.intercepts, n);
  const nrip = bigU64((what.rip + BigInt(what.length)) & 0xffffffffffffffffn);
  const insn = (exitCode: number, exitInfo1?: U64, exitInfo2?: U64): SvmDecision => ({ kind: 'exit', info: { exitCode, exitInfo1, exitInfo2, nextRip: nrip } });
  const simple = (n: InterceptName): SvmDecision | null => (on(n) ? insn(code(n)) : null);
  switch (what.kind) {
    case 'cpuid': return simple('CPUID');
    case 'hlt': return simple('HLT');
    case 'pause': return simple('PAUSE');
    case 'rdtsc': return simple('RDTSC');
    case 'rdtscp': return simple('RDTSCP');
    case 'vmmcall': return simple('VMMCALL');
    case 'virtualized-eoi':
    case 'tpr-below-threshold':
      throw new Error(`${what.kind} is VMX APIC virtualization's, not an SVM intercept`);
    // Decode assists: the linear address INVLPG would invalidate.
    case 'invlpg': return on('INVLPG') ? insn(code('INVLPG'), bigU64(what.linear)) : null;
    case 'rdmsr':
    case 'wrmsr': {
      const write = what.kind === 'wrmsr';
      if (!on('MSR_PROT') || !msrIntercepted(x.cpu.mem, c.msrpmBasePa, what.msr, write)) return null;
      return insn(code('MSR'), u64(write ? 1 : 0));
    }
    case 'io': {
      if (!on('IOIO_PROT') || !ioIntercepted(x.cpu.mem, c.iopmBasePa, what.port, what.size)) return null;
      const info1 = encodeIoioInfo({
        in: what.dir === 'in', string: what.string, rep: what.rep, size: what.size,
        addrSize: what.addrSize === 2 ? 16 : what.addrSize === 4 ? 32 : 64,
        seg: what.string && what.seg !== null ? what.seg : 0, port: what.port,
      });
      // EXITINFO2: the rIP of the instruction after the IN/OUT (15.10.2).
      return insn(code('IOIO'), u64(info1), nrip);
    }
    case 'cr': {
      // Decode assists: bit 63 = MOV CRn, bits 3:0 the general register.
      const info1 = u64(what.gpr & 0xf, 0x80000000);
      if (what.access === 'read') return interceptSet(c.intercepts, crReadIntercept(what.cr)) ? insn(SVM_EXIT[`CR${what.cr}_READ`]!, info1) : null;
      if (interceptSet(c.intercepts, crWriteIntercept(what.cr))) return insn(SVM_EXIT[`CR${what.cr}_WRITE`]!, info1);
      if (what.cr === 0 && on('CR0_SEL_WRITE') && selectiveChange(BigInt(x.cpu.state.cr0 >>> 0), what.value)) return insn(code('CR0_SEL_WRITE'), info1);
      return null;
    }
    case 'lmsw':
    case 'clts': {
      // Both are CR0 writes (15.8.1); EXITINFO1 bit 63 clear: not a MOV CRn.
      if (interceptSet(c.intercepts, crWriteIntercept(0))) return insn(code('CR0_WRITE'), u64(0));
      if (what.kind === 'lmsw' && on('CR0_SEL_WRITE')) {
        const cr0 = x.cpu.state.cr0 >>> 0;
        // LMSW loads PE MP EM TS and cannot clear PE.
        const next = ((cr0 & ~0xf) | (what.value & 0xf) | (cr0 & 1)) >>> 0;
        if (selectiveChange(BigInt(cr0), BigInt(next))) return insn(code('CR0_SEL_WRITE'), u64(0));
      }
      return null;
    }
    case 'descriptor-table': return simple(DESC_INTERCEPT[what.mnemonic]!);
    case 'svm': {
      const n = SVM_INTERCEPT[what.mnemonic]!;
      if (on(n)) return insn(code(n));
      if (what.mnemonic === 'clgi' || what.mnemonic === 'stgi' || what.mnemonic === 'vmload' || what.mnemonic === 'vmsave') {
        return { kind: 'emulate', what: what.mnemonic, length: what.length };
      }
      return null;
    }
    case 'exception': {
      const during = exitIntInfoOf(what.during);
      if (what.type === 'software-interrupt') return on('INTN') ? { kind: 'exit', info: { exitCode: code('SWINT'), exitInfo1: u64(what.vector), nextRip: nrip, exitIntInfo: during } } : null;
      if (what.type === 'privileged-software-exception') return on('ICEBP') ? { kind: 'exit', info: { exitCode: code('ICEBP'), nextRip: nrip, exitIntInfo: during } } : null;
      if (what.vector > 31 || !interceptSet(c.intercepts, exceptionIntercept(what.vector))) return null;
      const info: VmexitInfo = {
        exitCode: exceptionExitCode(what.vector),
        exitInfo1: u64(what.errorCode >= 0 ? what.errorCode : 0),
        exitInfo2: what.vector === Vec.PF && what.address !== null ? bigU64(what.address) : u64(0),
        exitIntInfo: during,
      };
      // nRIP for the exceptions an instruction raises by design (INT3, INTO and BOUND: 15.7.1; the
      // lab's decoder has no BOUND, so its #BR never comes here).
      if (what.type === 'software-exception') info.nextRip = nrip;
      return { kind: 'exit', info };
    }
    case 'external-interrupt': {
      if (!on('INTR') || !x.gif) return null;
      const masked = c.vIntr.vIntrMasking ? !x.hostIf : what.ifClear || what.shadow;
      return masked ? null : { kind: 'exit', info: { exitCode: code('INTR') } };
    }
    case 'interrupt-window':
      return on('VINTR') ? { kind: 'exit', info: { exitCode: code('VINTR') } } : { kind: 'emulate', what: 'virtual-interrupt', length: 0 };
    case 'triple-fault': return on('SHUTDOWN') ? { kind: 'exit', info: { exitCode: code('SHUTDOWN') } } : null;
    // Only a guest entered with NP_ENABLE has nested faults (enterGuest): #VMEXIT(NPF), EXITINFO1
    // the #PF-style code with bit 32 or 33, EXITINFO2 the guest-physical address (15.25.6).
    case 'nested-fault': {
      const f = what.fault as NptFault;
      return { kind: 'exit', info: { exitCode: f.exitCode, exitInfo1: f.exitInfo1, exitInfo2: { lo: f.exitInfo2 >>> 0, hi: Math.floor(f.exitInfo2 / 4294967296) >>> 0 } } };
    }
    // VMCALL is #UD on AMD (the exception intercept may take it); VMX instructions likewise; SVM has no preemption timer.
    case 'vmcall':
    case 'vmx':
    case 'deadline':
      return null;
  }
}

/** Whether a CR0 write changes any bit other than TS (3) and MP (1): the selective CR0 write intercept (15.8.2). */
function selectiveChange(cr0: bigint, next: bigint): boolean {
  return ((cr0 ^ next) & ~0xan) !== 0n;
}

/** The GuestMonitor of an SVM guest: the VMCB's latched controls decide (via `decide`). */
export class SvmMonitor implements GuestMonitor {
  /** The decision of the intercept point last taken (read and cleared by runGuest). */
  taken: SvmDecision | null = null;
  readonly acknowledgeInterruptOnExit = false;
  readonly deadline = Infinity;
  /** V_TPR and V_IRQ as the guest has them now (V_IRQ cleared when the virtual interrupt is taken). */
  vIntr: VIntr;

  constructor(
    readonly svm: Svm,
    readonly controls: SvmControls,
    readonly entry: SvmGuestState,
    readonly hostIf: boolean,
    /** TSC_OFFSET as a signed number, added to the TSC while the guest runs. */
    readonly tscOffset: number,
  ) {
    this.vIntr = { ...controls.vIntr };
  }

  /** GIF = 0 holds physical interrupts; so does the host's IF = 0 under V_INTR_MASKING (15.21.1). */
  get interruptsHeld(): boolean {
    return !this.svm.gif || (this.controls.vIntr.vIntrMasking && !this.hostIf);
  }

  get interruptWindow(): boolean {
    const v = this.vIntr;
    return this.svm.gif && v.vIrq && (v.vIgnTpr || v.vIntrPrio > v.vTpr);
  }

  get interruptExitsIgnoreIf(): boolean {
    return this.svm.gif && interceptSet(this.controls.intercepts, 'INTR') && this.controls.vIntr.vIntrMasking && this.hostIf;
  }

  intercept(what: Intercept, cpu: CpuCore): boolean {
    const d = decide(what, { controls: this.controls, cpu, gif: this.svm.gif, hostIf: this.hostIf });
    if (d === null) return false;
    this.taken = d;
    return true;
  }
}

/** How `runGuest` ended. */
export type GuestRunEnd =
  /** #VMEXIT: the VMCB holds the exit, the host is back in the CPU (or, with an illegal host state, shut down). */
  | { kind: 'vmexit'; info: VmexitInfo; host: 'resumed' | 'shutdown' }
  /** The budget of guest instructions ran out; the guest is still in the CPU: call runGuest again. */
  | { kind: 'budget' }
  /** The guest halted (HLT not intercepted) and nothing can wake it; it stays in the CPU. */
  | { kind: 'halted' }
  /** The guest shut down (a triple fault, SHUTDOWN not intercepted): so does the processor (15.13). */
  | { kind: 'shutdown' };

const active = new WeakMap<Svm, SvmMonitor>();

/** The monitor of the guest `svm` runs, if it is in the CPU. */
export function activeMonitor(svm: Svm): SvmMonitor | undefined {
  return active.get(svm);
}

/** Puts back the monitor of a guest in the CPU (or none), for a machine restored from a checkpoint (hv/hv-machine.ts). */
export function setActiveMonitor(svm: Svm, mon: SvmMonitor | undefined): void {
  if (mon === undefined) active.delete(svm);
  else active.set(svm, mon);
}

/** VMRUN, and when it succeeds, the guest loaded into the CPU (`enterGuest`). */
export function vmrunGuest(svm: Svm, cpu: Cpu, vmcbPa: number): VmrunOutcome {
  const r = svm.vmrun(vmcbPa);
  if (r.kind === 'entered') enterGuest(svm, cpu, r);
  return r;
}


function signed64(v: U64): number {
  const n = Number(BigInt.asIntN(64, (BigInt(v.hi >>> 0) << 32n) | BigInt(v.lo >>> 0)));
  return n;
}

/**
 * TLB_CONTROL at VMRUN (APM 15.16.1; svm-misc.json): 0 nothing, 1 every ASID's entries, 3 the
 * guest's ASID's, 7 its non-global ones. The APM reserves other values; the lab flushes every
 * ASID for them (invalidating more than asked is always allowed). Then the guest's translations
 * are looked up and filled under its ASID (never 0, 15.5.1), with no EP4TA: AMD tags nested
 * translations by ASID only.
 */
function applyTlbControl(cpu: Cpu, value: number, asid: number): void {
  const known = value === TlbControl.DO_NOTHING || value === TlbControl.FLUSH_ALL || value === TlbControl.FLUSH_ASID || value === TlbControl.FLUSH_ASID_LOCAL;
  if (value !== TlbControl.DO_NOTHING) {
    const scope = !known || value === TlbControl.FLUSH_ALL ? 'everything' : value === TlbControl.FLUSH_ASID ? 'tag' : 'tag-non-global';
    cpu.tlbInvalidateTagged((t) => {
      if (!known || !t.tlbControl(value, asid)) t.flushEverything();
    }, { cause: 'tlb-control', scope, ...(scope === 'everything' ? {} : { tag: asid }) });
  }
  cpu.setTlbTag(asid, NO_EP4TA);
}

/**
 * The second half of VMRUN (APM 15.5.1 "load guest state", 15.16 TLB_CONTROL, 15.20 EVENTINJ): the
 * guest state into `cpu.state`, the monitor installed, the TLB flushed, the event injected. If the
 * injection's delivery faults into an intercepted exception, the #VMEXIT is already pending:
 * `runGuest` completes it before running anything.
 */
export function enterGuest(svm: Svm, cpu: Cpu, r: Extract<VmrunOutcome, { kind: 'entered' }>): SvmMonitor {
  if (active.has(svm)) throw new Error('enterGuest: this processor already runs a guest');
  const { guest: g, controls } = r;
  const st = cpu.state;
  const hostIf = (vmcbRead64(cpu.mem, svm.svm.hsavePa, 'save.rflags').lo & Flag.IF) !== 0;
  let npt: NptControl | null = null;
  if (controls.npEnable) {
    // The nested walk runs in the host's paging mode with its NXE (15.25.5), as VMRUN saved them.
    const hEfer = vmcbRead64(cpu.mem, svm.svm.hsavePa, 'save.efer').lo;
    const hCr4 = vmcbRead64(cpu.mem, svm.svm.hsavePa, 'save.cr4').lo;
    if ((hEfer & EFER.LMA) === 0) throw new Error('enterGuest: nested paging under a host outside long mode is not supported (npt.ts walks 4- and 5-level tables only)');
    npt = { nCr3Lo: controls.nCr3.lo, nCr3Hi: controls.nCr3.hi, mode: (hCr4 & CR4.LA57) !== 0 ? '5level' : '4level', nxe: (hEfer & EFER.NXE) !== 0, maxPhysAddr: MAXPHYADDR };
  }
  const tscOffset = signed64(controls.tscOffset);
  const tsc = st.tsc + tscOffset;
  if (!Number.isSafeInteger(tsc) || tsc < 0) throw new RangeError(`TSC_OFFSET ${tscOffset} takes the lab's TSC (a number of steps) out of 0..2^53`);
  const real = (g.cr0.lo & CR0.PE) === 0;
  cpu.syncFlags();
  st.seg[Seg.ES] = segmentFromVmcb(g.es, real);
  st.seg[Seg.CS] = segmentFromVmcb(g.cs, real);
  st.seg[Seg.SS] = segmentFromVmcb(g.ss, real);
  st.seg[Seg.DS] = segmentFromVmcb(g.ds, real);
  if (!real && (g.rflags.lo & Flag.VM) === 0) st.seg[Seg.CS]!.selector = (st.seg[Seg.CS]!.selector & ~3) | g.cpl;
  st.gdtr = dtrFromVmcb(g.gdtr);
  st.idtr = dtrFromVmcb(g.idtr);
  let efer = g.efer.lo >>> 0;
  const lma = (efer & EFER.LME) !== 0 && (g.cr0.lo & CR0.PG) !== 0;
  efer = lma ? efer | EFER.LMA : efer & ~EFER.LMA;
  st.efer = efer >>> 0;
  st.cr0 = g.cr0.lo >>> 0;
  st.cr2Lo = g.cr2.lo >>> 0;
  st.cr2Hi = g.cr2.hi >>> 0;
  st.cr3Lo = g.cr3.lo >>> 0;
  st.cr3Hi = g.cr3.hi >>> 0;
  st.cr4 = g.cr4.lo >>> 0;
  st.rflags = (g.rflags.lo | 2) >>> 0;
  st.ripLo = g.rip.lo >>> 0;
  st.ripHi = g.rip.hi >>> 0;
  st.regLo[4] = g.rsp.lo;
  st.regHi[4] = g.rsp.hi;
  st.regLo[0] = g.rax.lo;
  st.regHi[0] = g.rax.hi;
  st.interruptShadow = g.interruptShadow;
  st.halted = false;
  st.tsc = tsc;
  cpu.modeChanged();
  applyTlbControl(cpu, controls.tlbControl, controls.asid);
  // With NPT a PAE guest's PDPTEs are read through the nested tables on each walk (mmu/nested.ts).
  if (npt === null && (st.cr0 & CR0.PG) !== 0 && (st.cr4 & CR4.PAE) !== 0 && !lma) loadPdptes(cpu, st.cr3Lo);
  const mon = new SvmMonitor(svm, controls, g, hostIf, tscOffset);
  active.set(svm, mon);
  cpu.guest = mon;
  cpu.exit = null;
  if (npt !== null) cpu.setNested(nptNested(cpu.mem, npt, true));
  try {
    if (controls.eventInj.valid) inject(cpu, controls.eventInj);
  } catch (e) {
    // An NPF while delivering EVENTINJ: cpu.exit holds it (runGuest completes the #VMEXIT).
    if (e !== GuestExit.signal) throw e;
  }
  return mon;
}

/**
 * EVENTINJ (15.20): delivered through the guest's IDT before its first instruction, as if it
 * happened there, and not itself subject to intercepts (a hypervisor re-injects an exception it
 * intercepts this way). An exception raised by the delivery is, and reports the injected event in
 * EXITINTINFO; a contributory or page fault after an injected exception becomes #DF, and a fault
 * delivering an injected #DF is a shutdown. The lab has no NMI: TYPE 2 is delivered through vector
 * 2 like an interrupt, with no NMI blocking.
 */
function inject(cpu: Cpu, ev: SvmEvent): void {
  const st = cpu.state;
  const kind = ev.type === EventType.EXCEPTION ? EventKind.EXCEPTION : ev.type === EventType.SOFT_INT ? EventKind.SOFTWARE : EventKind.EXTERNAL;
  const err = ev.type === EventType.EXCEPTION && ev.errorCode !== undefined ? ev.errorCode : -1;
  try {
    deliverEvent(cpu, ev.vector, err, kind, st.ripLo, st.ripHi);
  } catch (e) {
    if (!(e instanceof Fault)) throw e;
    if (ev.type === EventType.EXCEPTION && ev.vector === Vec.DF) {
      if (!cpu.guestIntercept({ kind: 'triple-fault', rip: big(st), length: 0 })) st.shutdown = true;
    } else if (ev.type === EventType.EXCEPTION && isDoubleFault(ev.vector, e.vector)) {
      // An intercepted second exception exits with the injected one in EXITINTINFO (APM 15.7.2)
      // before it would become #DF (shadow paging intercepts #PF).
      const code2 = hasErrorCode(e.vector) ? (e.errorCode < 0 ? 0 : e.errorCode) : -1;
      const address = e.vector === Vec.PF ? (BigInt(st.cr2Hi >>> 0) << 32n) | BigInt(st.cr2Lo >>> 0) : null;
      const first = { vector: ev.vector, type: 'hardware-exception', errorCode: err, length: 0 } as const;
      if (!cpu.guestIntercept({ kind: 'exception', rip: big(st), length: 0, vector: e.vector, type: 'hardware-exception', errorCode: code2, address, during: first })) deliverExceptionImpl(cpu, new Fault(Vec.DF, 0));
    } else {
      const type: SeamEventType = ev.type === EventType.EXCEPTION ? 'hardware-exception' : ev.type === EventType.SOFT_INT ? 'software-interrupt' : ev.type === EventType.NMI ? 'nmi' : 'external-interrupt';
      cpu.guestVectoring = { vector: ev.vector, type, errorCode: err, length: 0 };
      deliverExceptionImpl(cpu, e);
    }
  }
}

const big = (st: { ripLo: number; ripHi: number }): bigint => (BigInt(st.ripHi >>> 0) << 32n) | BigInt(st.ripLo >>> 0);

/** The guest state as the CPU holds it now, in the form #VMEXIT saves (DR6, DR7, G_PAT as VMRUN loaded them: the lab models none). */
export function guestStateNow(cpu: Cpu, entry: SvmGuestState): SvmGuestState {
  const st = cpu.state;
  cpu.syncFlags();
  const cpl = cpu.cpl();
  return {
    es: segmentToVmcb(st.seg[Seg.ES]!),
    cs: segmentToVmcb(st.seg[Seg.CS]!),
    ss: segmentToVmcb(st.seg[Seg.SS]!),
    ds: segmentToVmcb(st.seg[Seg.DS]!),
    gdtr: dtrToVmcb(st.gdtr),
    idtr: dtrToVmcb(st.idtr),
    efer: u64(st.efer),
    cr0: u64(st.cr0),
    cr2: u64(st.cr2Lo, st.cr2Hi),
    cr3: u64(st.cr3Lo, st.cr3Hi),
    cr4: u64(st.cr4),
    dr6: entry.dr6,
    dr7: entry.dr7,
    rflags: u64(st.rflags),
    rip: u64(st.ripLo, st.ripHi),
    rsp: u64(st.regLo[4]!, st.regHi[4]!),
    rax: u64(st.regLo[0]!, st.regHi[0]!),
    cpl,
    vmcbCpl: cpl,
    interruptShadow: st.interruptShadow,
    gPat: entry.gPat,
  };
}

/** #VMEXIT: save the guest, remove the monitor, write the VMCB and reload the host (svm.ts). */
function finishExit(svm: Svm, cpu: Cpu, mon: SvmMonitor, info: VmexitInfo): GuestRunEnd {
  const st = cpu.state;
  const guest = guestStateNow(cpu, mon.entry);
  st.tsc -= mon.tscOffset;
  // A guest halted at an INTR or VINTR exit leaves the HLT behind (its RIP is past it); the host is not halted.
  st.halted = false;
  cpu.guest = null;
  cpu.exit = null;
  if (cpu.nestedTranslator() !== null) cpu.setNested(null);
  active.delete(svm);
  const out = svm.vmexit({ ...info, vIntr: { vTpr: mon.vIntr.vTpr, vIrq: mon.vIntr.vIrq } }, guest);
  return { kind: 'vmexit', info, host: out.kind === 'host' ? 'resumed' : 'shutdown' };
}

/** Retires an instruction this layer performed for the guest: RIP past it, one step and one TSC cycle, the timer ticked, RF and the shadow cleared. */
function retire(cpu: Cpu, length: number): void {
  const st = cpu.state;
  const rip = (big(st) + BigInt(length)) & (cpu.mode() === 'long64' ? 0xffffffffffffffffn : 0xffffffffn);
  st.ripLo = Number(rip & 0xffffffffn);
  st.ripHi = Number(rip >> 32n);
  st.rflags &= ~Flag.RF;
  st.interruptShadow = false;
  st.steps++;
  st.tsc++;
  const t = st.timer;
  if (t.enabled && --t.count <= 0) {
    t.count += t.period;
    t.pending = true;
    t.fired++;
  }
}

/** Performs what a taken 'emulate' decision names; a fault it raises goes to the guest (and its intercepts). */
function emulate(svm: Svm, cpu: Cpu, mon: SvmMonitor, d: Extract<SvmDecision, { kind: 'emulate' }>): void {
  const st = cpu.state;
  if (d.what === 'virtual-interrupt') {
    mon.vIntr.vIrq = false;
    st.halted = false;
    deliverExceptionImpl(cpu, new Fault(mon.vIntr.vIntrVector), EventKind.EXTERNAL);
    return;
  }
  let r;
  if (d.what === 'clgi') r = svm.clgi();
  else if (d.what === 'stgi') r = svm.stgi();
  else {
    // rAX by the address size: a physical address (no nested paging).
    const long = cpu.mode() === 'long64';
    const pa = long ? st.regHi[0]! * 0x100000000 + st.regLo[0]! : st.regLo[0]!;
    r = d.what === 'vmload' ? svm.vmload(pa) : svm.vmsave(pa);
  }
  if (r.kind === 'fault') {
    deliverExceptionImpl(cpu, new Fault(r.vector, r.errorCode));
    return;
  }
  retire(cpu, d.length);
}

/**
 * Runs the guest in the CPU for at most `budget` guest instructions: to its #VMEXIT (the host is
 * then back in the CPU and the VMCB holds the exit), or until the budget is spent, the guest halts
 * for good, or it shuts the processor down.
 */
export function runGuest(svm: Svm, cpu: Cpu, budget: number): GuestRunEnd {
  const mon = active.get(svm);
  if (mon === undefined || cpu.guest !== mon) throw new Error('runGuest: no guest in this CPU (VMRUN it with vmrunGuest)');
  const st = cpu.state;
  const limit = st.steps + budget;
  for (;;) {
    // An exit already decided (by an injected event's delivery or an emulated instruction's fault).
    const pending = mon.taken;
    mon.taken = null;
    if (pending !== null) {
      if (pending.kind === 'exit') return finishExit(svm, cpu, mon, pending.info);
      emulate(svm, cpu, mon, pending);
      continue;
    }
    if (st.shutdown) return { kind: 'shutdown' };
    if (st.steps >= limit) return { kind: 'budget' };
    const end = cpu.run(limit - st.steps);
    if (end === 'exit') continue;
    if (end === 'shutdown') return { kind: 'shutdown' };
    if (end === 'hlt' && cpu.stuck()) return { kind: 'halted' };
    return { kind: 'budget' };
  }
}
