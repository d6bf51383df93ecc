/**
 * SVM operation of one logical processor (AMD APM Vol. 2, chapter 15; the instructions in Vol. 3):
 * VMRUN, VMLOAD, VMSAVE, CLGI, STGI, the global interrupt flag (GIF), the VM_HSAVE_PA MSR, and
 * the #VMEXIT world switch back to the host.
 *
 * Design note: the seam between this layer and the one that runs guests.
 *   - The API mirrors the instructions one to one: `vmrun(vmcbPa)`, `vmload(pa)`, `vmsave(pa)`,
 *     `clgi()`, `stgi()`; the address argument is what the instruction takes in rAX. Each call
 *     returns its architectural outcome as data: `{ kind: 'fault' }` with the vector and error
 *     code the instruction raises (#UD, #GP), or what it did. Nothing is thrown for architectural
 *     events; an Error is thrown only for misuse of the API itself (a #VMEXIT with no guest).
 *   - The processor is a CpuCore (the interface the system layer sees): the host's state is
 *     `cpu.state`. VMRUN saves it to the host save area, checks the VMCB, and on success returns
 *     the guest state it read from the state-save area (`SvmGuestState`, exactly what VMRUN
 *     loads: ES CS SS DS, GDTR IDTR, EFER CR0 CR2 CR3 CR4, DR6 DR7, RFLAGS RIP RSP RAX, CPL, the
 *     interrupt shadow, G_PAT) and the controls in force (`SvmControls`). It does NOT load the
 *     guest into `cpu.state` and does not run it: the next layer decides how the guest executes
 *     (on this Cpu or another), honours the intercepts, performs TLB_CONTROL and EVENTINJ, and
 *     when an intercepted event happens calls `vmexit(info, guest)` with the guest's state at
 *     that moment. `vmexit` writes that state and the exit information to the VMCB and reloads
 *     the host into `cpu.state` (APM 15.6), clearing GIF.
 *   - FS, GS, TR, LDTR and the SYSCALL/SYSENTER MSRs are not part of the world switch: VMLOAD
 *     and VMSAVE move them, on `cpu.state`, as on hardware.
 *   - The host save area's format is implementation-specific (APM 15.30.4); this lab stores the
 *     host in the VMCB state-save layout at VM_HSAVE_PA + 0x400, as KVM's nested SVM does, so a
 *     view can decode it with the same table.
 *   - The lab's CPU models no debug registers: the guest's DR6/DR7 travel in SvmGuestState, and
 *     the host's DR7 (which #VMEXIT sets to disable all breakpoints) has nowhere to go.
 *
 * Per-processor SVM state (GIF, VM_HSAVE_PA, the VMCB of the running guest and the controls
 * latched by VMRUN) is plain data in `SvmState`, so a checkpoint can copy it.
 */
import type { CpuCore } from '../cpu/core.ts';
import { Vec } from '../cpu/core.ts';
import type { CpuState } from '../cpu/state.ts';
import { Flag } from '../cpu/state.ts';
import type { PhysMem } from '../mem/physmem.ts';
import { Seg } from '../cpu/insn.ts';
import { CR0, CR4, EFER } from '../cpu/sys-util.ts';
import { CR4_ALLOWED, eferImplemented, loadPdptes, MAXPHYADDR, MSR, msrGet } from '../cpu/sys-ctl.ts';
import {
  dtrFromVmcb, dtrToVmcb, segmentFromVmcb, segmentToVmcb, u64, VmcbAttrib, VMCB_SIZE,
  vmcbRead, vmcbRead64, vmcbReadDtr, vmcbReadSegment, vmcbWrite, vmcbWrite64, vmcbWriteDtr, vmcbWriteSegment,
  type U64, type Vmcb64Field, type VmcbDtr, type VmcbSegment,
} from './vmcb.ts';
import { interceptSet, readInterceptWords } from './intercepts.ts';
import { IOPM_SIZE, MSRPM_SIZE } from './intercepts.ts';
import { exitCodeToU64 } from './exit-codes.ts';
import { NO_EP4TA } from '../mmu/tlb.ts';
import {
  decodeEvent, decodeVIntr, encodeVIntr, EventInfo, eventInjLegal, IntState, NestedCtl,
  type SvmEvent, type VIntr,
} from './exitinfo.ts';

/** MSR C001_0117h: the physical address of the host save area (APM 15.30.4). */
export const MSR_VM_HSAVE_PA = 0xc0010117;

export interface SvmState {
  /** The global interrupt flag (APM 15.17): 1 at reset; VMRUN sets it, #VMEXIT and CLGI clear it. */
  gif: boolean;
  /** VM_HSAVE_PA (0 at reset). */
  hsavePa: number;
  /** The VMCB of the guest between a successful VMRUN and its #VMEXIT, else null. */
  guestVmcbPa: number | null;
  /** The controls VMRUN latched for that guest. */
  controls: SvmControls | null;
}

export function createSvmState(): SvmState {
  return { gif: true, hsavePa: 0, guestVmcbPa: null, controls: null };
}

/** The guest state VMRUN loads from the state-save area (APM 15.5.1), as read. */
export interface SvmGuestState {
  es: VmcbSegment;
  cs: VmcbSegment;
  ss: VmcbSegment;
  ds: VmcbSegment;
  gdtr: VmcbDtr;
  idtr: VmcbDtr;
  efer: U64;
  cr0: U64;
  cr2: U64;
  cr3: U64;
  cr4: U64;
  dr6: U64;
  dr7: U64;
  rflags: U64;
  rip: U64;
  rsp: U64;
  rax: U64;
  /**
   * The CPL the guest runs at: from VMRUN, 0 in real mode, 3 in virtual-8086 mode, else the
   * VMCB's CPL field; #VMEXIT writes it back as the guest's CPL at the exit.
   */
  cpl: number;
  /** The VMCB's CPL byte as VMRUN found it (for views: it can differ from `cpl` in real and v86 mode). */
  vmcbCpl: number;
  interruptShadow: boolean;
  /** G_PAT: the guest's PAT, used only with nested paging. */
  gPat: U64;
}

/** The control-area fields VMRUN latches (APM 15.5.1, "load control information"). */
export interface SvmControls {
  intercepts: Uint32Array;
  /** Physical bases with bits 11:0 ignored (cleared), as the processor uses them. */
  iopmBasePa: number;
  msrpmBasePa: number;
  tscOffset: U64;
  asid: number;
  tlbControl: number;
  intCtl: number;
  vIntr: VIntr;
  npEnable: boolean;
  nCr3: U64;
  eventInj: SvmEvent;
  lbrVirtualization: boolean;
}

export interface SvmFault {
  kind: 'fault';
  vector: number;
  /** The error code pushed, or -1 (for #UD). */
  errorCode: number;
  /** Which rule raised it, for the trace and the narration. */
  why: string;
}

export type SvmDone = { kind: 'done' };

/** A VMRUN consistency check (APM 15.5.1, "Canonicalization and Consistency Checks"). */
export interface ConsistencyCheck {
  id: string;
  /** Where the rule is stated. */
  apm: string;
  /** The illegal condition, in the APM's words (paraphrased). */
  illegal: string;
  /** Whether the check applies to host state on #VMEXIT too (state checks do, control checks do not). */
  host: boolean;
  fails(g: SvmGuestState, c: SvmControls | null, ctx: CheckContext): boolean;
}

export interface CheckContext {
  maxPhysAddr: number;
  eferMbz: number;
  cr4Mbz: number;
}

export type VmrunOutcome =
  | SvmFault
  | { kind: 'entered'; vmcbPa: number; guest: SvmGuestState; controls: SvmControls }
  /** The checks failed: #VMEXIT with EXITCODE = VMEXIT_INVALID; the host is back (or shut down). */
  | { kind: 'invalid'; vmcbPa: number; failed: string[]; host: 'resumed' | 'shutdown'; hostFailed: string[] };

export interface VmexitInfo {
  /** The EXITCODE (−1 for VMEXIT_INVALID). */
  exitCode: number;
  exitInfo1?: U64;
  exitInfo2?: U64;
  /** EXITINTINFO: the event being delivered when the exit happened (encodeEvent), or zero. */
  exitIntInfo?: U64;
  /** nRIP: the guest's next sequential instruction pointer (NRIP_SAVE), or zero. */
  nextRip?: U64;
  /** V_TPR and V_IRQ as they are at the exit, written back to INT_CTL (other INT_CTL bits kept). */
  vIntr?: Pick<VIntr, 'vTpr' | 'vIrq'>;
}

export type VmexitOutcome = { kind: 'host'; failed: [] } | { kind: 'shutdown'; failed: string[] };

const hiBits = (v: U64): boolean => v.hi >>> 0 !== 0;
const lme = (g: SvmGuestState): boolean => (g.efer.lo & EFER.LME) !== 0;
const pg = (g: SvmGuestState): boolean => (g.cr0.lo & CR0.PG) !== 0;
const csL = (g: SvmGuestState): boolean => (g.cs.attrib & VmcbAttrib.L) !== 0;
const csD = (g: SvmGuestState): boolean => (g.cs.attrib & VmcbAttrib.DB) !== 0;

/** Whether a physical range [base, base + size) reaches MAXPHYADDR. */
function beyondMaxPhys(base: number, size: number, maxPhysAddr: number): boolean {
  return base + size - 1 >= 2 ** maxPhysAddr;
}

/**
 * The checks this lab performs, in the APM's order. Left out: "EFER.LMA or EFER.LME is non-zero
 * and this processor does not support long mode" (the lab's processor supports long mode, so it
 * cannot fail), and the SEV/AVIC-related checks of newer APM revisions (not modelled).
 */
export const CONSISTENCY_CHECKS: readonly ConsistencyCheck[] = [
  { id: 'efer-svme', apm: '15.5.1', illegal: 'EFER.SVME is zero', host: true, fails: (g) => (g.efer.lo & EFER.SVME) === 0 },
  { id: 'cr0-cd-nw', apm: '15.5.1', illegal: 'CR0.CD is zero and CR0.NW is set', host: true, fails: (g) => (g.cr0.lo & CR0.CD) === 0 && (g.cr0.lo & CR0.NW) !== 0 },
  { id: 'cr0-high', apm: '15.5.1', illegal: 'CR0[63:32] are not zero', host: true, fails: (g) => hiBits(g.cr0) },
  {
    id: 'cr3-mbz', apm: '15.5.1; Vol. 2 3.1.2 (CR3 MBZ bits)', illegal: 'any MBZ bit of CR3 is set', host: true,
    // In long mode CR3 bits 63:MAXPHYADDR must be zero; outside it CR3 is a 32-bit register and bits 63:32 must be zero.
    fails: (g, _c, x) => (lme(g) && pg(g) ? g.cr3.hi >>> 0 >= 2 ** (x.maxPhysAddr - 32) : hiBits(g.cr3)),
  },
  { id: 'cr4-mbz', apm: '15.5.1; Vol. 2 3.1.3 (CR4 reserved bits)', illegal: 'any MBZ bit of CR4 is set', host: true, fails: (g, _c, x) => hiBits(g.cr4) || (g.cr4.lo & x.cr4Mbz) !== 0 },
  { id: 'dr6-high', apm: '15.5.1', illegal: 'DR6[63:32] are not zero', host: false, fails: (g) => hiBits(g.dr6) },
  { id: 'dr7-high', apm: '15.5.1', illegal: 'DR7[63:32] are not zero', host: false, fails: (g) => hiBits(g.dr7) },
  { id: 'efer-mbz', apm: '15.5.1; Vol. 2 3.1.7 (EFER reserved bits)', illegal: 'any MBZ bit of EFER is set', host: true, fails: (g, _c, x) => hiBits(g.efer) || (g.efer.lo & x.eferMbz) !== 0 },
  { id: 'lme-pg-no-pae', apm: '15.5.1', illegal: 'EFER.LME and CR0.PG are both set and CR4.PAE is zero', host: true, fails: (g) => lme(g) && pg(g) && (g.cr4.lo & CR4.PAE) === 0 },
  { id: 'lme-pg-no-pe', apm: '15.5.1', illegal: 'EFER.LME and CR0.PG are both non-zero and CR0.PE is zero', host: true, fails: (g) => lme(g) && pg(g) && (g.cr0.lo & CR0.PE) === 0 },
  {
    id: 'cs-l-and-d', apm: '15.5.1', illegal: 'EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all non-zero', host: true,
    fails: (g) => lme(g) && pg(g) && (g.cr4.lo & CR4.PAE) !== 0 && csL(g) && csD(g),
  },
  { id: 'vmrun-intercept', apm: '15.5.1', illegal: 'the VMRUN intercept bit is clear', host: false, fails: (_g, c) => c !== null && !interceptSet(c.intercepts, 'VMRUN') },
  {
    id: 'permission-maps', apm: '15.5.1', illegal: 'the MSR or IOIO intercept tables extend to a physical address ≥ the maximum supported physical address', host: false,
    fails: (_g, c, x) => c !== null && (beyondMaxPhys(c.iopmBasePa, IOPM_SIZE, x.maxPhysAddr) || beyondMaxPhys(c.msrpmBasePa, MSRPM_SIZE, x.maxPhysAddr)),
  },
  { id: 'event-injection', apm: '15.5.1; 15.20', illegal: 'illegal event injection (reserved TYPE, or an exception with vector 2 or above 31)', host: false, fails: (_g, c) => c !== null && !eventInjLegal(c.eventInj) },
  { id: 'asid-zero', apm: '15.5.1; 15.16', illegal: 'ASID is equal to zero (the host\u2019s ASID)', host: false, fails: (_g, c) => c !== null && c.asid === 0 },
];

const ud = (why: string): SvmFault => ({ kind: 'fault', vector: Vec.UD, errorCode: -1, why });
const gp = (why: string): SvmFault => ({ kind: 'fault', vector: Vec.GP, errorCode: 0, why });

function physOf(v: U64): number {
  return (v.hi >>> 0) * 0x100000000 + (v.lo >>> 0);
}

function pageBase(v: U64): number {
  return (v.hi >>> 0) * 0x100000000 + ((v.lo & ~0xfff) >>> 0);
}

/** Reads the guest state VMRUN loads from the VMCB at `vmcbPa`. */
export function readGuestState(mem: PhysMem, vmcbPa: number): SvmGuestState {
  const r64 = (f: Vmcb64Field): U64 => vmcbRead64(mem, vmcbPa, f);
  const cr0 = r64('save.cr0');
  const rflags = r64('save.rflags');
  const vmcbCpl = vmcbRead(mem, vmcbPa, 'save.cpl');
  const cpl = (cr0.lo & CR0.PE) === 0 ? 0 : (rflags.lo & Flag.VM) !== 0 ? 3 : vmcbCpl & 3;
  return {
    es: vmcbReadSegment(mem, vmcbPa, 'save.es'),
    cs: vmcbReadSegment(mem, vmcbPa, 'save.cs'),
    ss: vmcbReadSegment(mem, vmcbPa, 'save.ss'),
    ds: vmcbReadSegment(mem, vmcbPa, 'save.ds'),
    gdtr: vmcbReadDtr(mem, vmcbPa, 'save.gdtr'),
    idtr: vmcbReadDtr(mem, vmcbPa, 'save.idtr'),
    efer: r64('save.efer'),
    cr0,
    cr2: r64('save.cr2'),
    cr3: r64('save.cr3'),
    cr4: r64('save.cr4'),
    dr6: r64('save.dr6'),
    dr7: r64('save.dr7'),
    rflags,
    rip: r64('save.rip'),
    rsp: r64('save.rsp'),
    rax: r64('save.rax'),
    cpl,
    vmcbCpl,
    interruptShadow: (vmcbRead(mem, vmcbPa, 'int_state') & IntState.INTERRUPT_SHADOW) !== 0,
    gPat: r64('save.g_pat'),
  };
}

/** Reads the controls VMRUN latches from the VMCB at `vmcbPa`. */
export function readControls(mem: PhysMem, vmcbPa: number): SvmControls {
  const intCtl = vmcbRead(mem, vmcbPa, 'int_ctl');
  return {
    intercepts: readInterceptWords(mem, vmcbPa),
    iopmBasePa: pageBase(vmcbRead64(mem, vmcbPa, 'iopm_base_pa')),
    msrpmBasePa: pageBase(vmcbRead64(mem, vmcbPa, 'msrpm_base_pa')),
    tscOffset: vmcbRead64(mem, vmcbPa, 'tsc_offset'),
    asid: vmcbRead(mem, vmcbPa, 'asid'),
    tlbControl: vmcbRead(mem, vmcbPa, 'tlb_ctl'),
    intCtl,
    vIntr: decodeVIntr(intCtl, vmcbRead(mem, vmcbPa, 'int_vector')),
    npEnable: (vmcbRead64(mem, vmcbPa, 'nested_ctl').lo & NestedCtl.NP_ENABLE) !== 0,
    nCr3: vmcbRead64(mem, vmcbPa, 'nested_cr3'),
    eventInj: decodeEvent(vmcbRead64(mem, vmcbPa, 'event_inj')),
    lbrVirtualization: (vmcbRead64(mem, vmcbPa, 'virt_ext').lo & 1) !== 0,
  };
}

/** The ids of the checks `g` (and `c`, for VMRUN) fail; `hostOnly` runs the subset #VMEXIT applies to host state. */
export function failedChecks(g: SvmGuestState, c: SvmControls | null, ctx: CheckContext, hostOnly = false): string[] {
  return CONSISTENCY_CHECKS.filter((k) => (!hostOnly || k.host) && k.fails(g, c, ctx)).map((k) => k.id);
}

/** The host state, saved by VMRUN, in the state-save layout (the fields #VMEXIT reloads). */
function writeHost(mem: PhysMem, at: number, st: CpuState): void {
  vmcbWriteSegment(mem, at, 'save.es', segmentToVmcb(st.seg[Seg.ES]!));
  vmcbWriteSegment(mem, at, 'save.cs', segmentToVmcb(st.seg[Seg.CS]!));
  vmcbWriteSegment(mem, at, 'save.ss', segmentToVmcb(st.seg[Seg.SS]!));
  vmcbWriteSegment(mem, at, 'save.ds', segmentToVmcb(st.seg[Seg.DS]!));
  vmcbWriteDtr(mem, at, 'save.gdtr', dtrToVmcb(st.gdtr));
  vmcbWriteDtr(mem, at, 'save.idtr', dtrToVmcb(st.idtr));
  vmcbWrite64(mem, at, 'save.efer', u64(st.efer));
  vmcbWrite64(mem, at, 'save.cr0', u64(st.cr0));
  vmcbWrite64(mem, at, 'save.cr3', u64(st.cr3Lo, st.cr3Hi));
  vmcbWrite64(mem, at, 'save.cr4', u64(st.cr4));
  vmcbWrite64(mem, at, 'save.rflags', u64(st.rflags));
  vmcbWrite64(mem, at, 'save.rip', u64(st.ripLo, st.ripHi));
  vmcbWrite64(mem, at, 'save.rsp', u64(st.regLo[4]!, st.regHi[4]!));
  vmcbWrite64(mem, at, 'save.rax', u64(st.regLo[0]!, st.regHi[0]!));
  vmcbWrite(mem, at, 'save.cpl', 0);
}

/** The state VMLOAD loads and VMSAVE stores (APM Vol. 3, VMLOAD/VMSAVE). */
const VMLOAD_MSRS = [
  ['save.kernel_gs_base', MSR.IA32_KERNEL_GS_BASE], ['save.star', MSR.IA32_STAR], ['save.lstar', MSR.IA32_LSTAR],
  ['save.cstar', MSR.IA32_CSTAR], ['save.sfmask', MSR.IA32_FMASK], ['save.sysenter_cs', MSR.IA32_SYSENTER_CS],
  ['save.sysenter_esp', MSR.IA32_SYSENTER_ESP], ['save.sysenter_eip', MSR.IA32_SYSENTER_EIP],
] as const;

export class Svm {
  readonly svm: SvmState;

  constructor(
    readonly cpu: CpuCore,
    svm: SvmState = createSvmState(),
  ) {
    this.svm = svm;
  }

  get gif(): boolean {
    return this.svm.gif;
  }

  /** Whether a guest is between VMRUN and #VMEXIT. */
  get inGuest(): boolean {
    return this.svm.guestVmcbPa !== null;
  }

  private checkContext(): CheckContext {
    const la57 = this.cpu.features?.la57 !== false;
    return {
      maxPhysAddr: MAXPHYADDR,
      eferMbz: ~eferImplemented('amd') >>> 0,
      cr4Mbz: ~(la57 ? CR4_ALLOWED : CR4_ALLOWED & ~CR4.LA57) >>> 0,
    };
  }

  /**
   * The checks every SVM instruction makes first (APM Vol. 3, VMRUN/VMLOAD/VMSAVE/STGI/CLGI,
   * "Exceptions"): #UD when EFER.SVME = 0 (always on an Intel processor), #UD outside protected
   * mode (real or virtual-8086), #GP(0) at CPL > 0.
   */
  private privileged(name: string): SvmFault | null {
    const st = this.cpu.state;
    if (st.vendor !== 'amd' || (st.efer & EFER.SVME) === 0) return ud(`${name} with EFER.SVME = 0`);
    if (this.cpu.mode() === 'real' || (st.rflags & Flag.VM) !== 0) return ud(`${name} outside protected mode`);
    if (this.cpu.cpl() !== 0) return gp(`${name} at CPL ${this.cpu.cpl()}`);
    return null;
  }

  /** Then VMRUN, VMLOAD and VMSAVE check rAX: #GP(0) unless 4-KByte aligned and below 2^MAXPHYADDR. */
  private addressed(name: string, pa: number): SvmFault | null {
    const f = this.privileged(name);
    if (f !== null) return f;
    if (!Number.isInteger(pa) || pa < 0) throw new RangeError(`${pa} is not a physical address`);
    if (pa % VMCB_SIZE !== 0) return gp(`${name}: rAX is not aligned on a 4-KByte boundary`);
    if (pa >= 2 ** MAXPHYADDR) return gp(`${name}: rAX is above the maximum supported physical address`);
    return null;
  }

  // ---- VM_HSAVE_PA ----

  /** RDMSR C001_0117h. */
  readHsavePa(): U64 {
    return u64(this.svm.hsavePa % 0x100000000, Math.floor(this.svm.hsavePa / 0x100000000));
  }

  /** WRMSR C001_0117h: #GP(0) if bits 11:0 are not zero or the address is beyond MAXPHYADDR. */
  writeHsavePa(v: U64): SvmFault | SvmDone {
    if ((v.lo & 0xfff) !== 0) return gp('VM_HSAVE_PA bits 11:0 must be zero');
    if (v.hi >>> 0 >= 2 ** (MAXPHYADDR - 32)) return gp('VM_HSAVE_PA is above the maximum supported physical address');
    this.svm.hsavePa = physOf(v);
    return { kind: 'done' };
  }

  // ---- GIF ----

  /** CLGI: GIF ← 0. */
  clgi(): SvmFault | SvmDone {
    const f = this.privileged('CLGI');
    if (f !== null) return f;
    this.svm.gif = false;
    return { kind: 'done' };
  }

  /** STGI: GIF ← 1. */
  stgi(): SvmFault | SvmDone {
    const f = this.privileged('STGI');
    if (f !== null) return f;
    this.svm.gif = true;
    return { kind: 'done' };
  }

  // ---- INVLPGA ----

  /**
   * INVLPGA rAX, ECX (APM Vol. 3, INVLPGA; Vol. 2 15.16.3): invalidates the TLB entries of the
   * page holding the virtual address in rAX (its low 32 bits outside 64-bit mode, `addrSize` the
   * effective address size) under the ASID in ECX: #UD with EFER.SVME = 0 or outside protected
   * mode, #GP(0) at CPL > 0. Every PCID's entries for the page go, global ones too (the APM lets
   * the instruction invalidate more than the entry aimed at).
   */
  invlpga(rax: U64, ecx: number, addrSize: 16 | 32 | 64 = 64): SvmFault | SvmDone {
    const f = this.privileged('INVLPGA');
    if (f !== null) return f;
    const lo = addrSize === 16 ? rax.lo & 0xffff : rax.lo >>> 0;
    const hi = addrSize === 64 ? rax.hi >>> 0 : 0;
    const asid = ecx >>> 0;
    this.cpu.tlbInvalidateTagged?.((t) => t.invlpga(asid, lo, hi), {
      cause: 'invlpga', scope: 'page', tag: asid, linear: (BigInt(hi) << 32n) | BigInt(lo >>> 0),
    });
    return { kind: 'done' };
  }

  // ---- VMLOAD / VMSAVE ----

  /** VMLOAD: FS, GS, TR and LDTR (with their hidden state), KernelGsBase, STAR, LSTAR, CSTAR, SFMASK and the SYSENTER MSRs from the VMCB at `pa`. */
  vmload(pa: number): SvmFault | SvmDone {
    const f = this.addressed('VMLOAD', pa);
    if (f !== null) return f;
    const { mem, state: st } = this.cpu;
    // VMLOAD runs only in protected mode, where a segment is usable exactly when P is set.
    st.seg[Seg.FS] = segmentFromVmcb(vmcbReadSegment(mem, pa, 'save.fs'), false);
    st.seg[Seg.GS] = segmentFromVmcb(vmcbReadSegment(mem, pa, 'save.gs'), false);
    st.tr = segmentFromVmcb(vmcbReadSegment(mem, pa, 'save.tr'), false);
    st.ldtr = segmentFromVmcb(vmcbReadSegment(mem, pa, 'save.ldtr'), false);
    for (const [field, index] of VMLOAD_MSRS) {
      const v = vmcbRead64(mem, pa, field);
      st.msr.set(index, [v.lo, v.hi]);
    }
    this.cpu.modeChanged();
    return { kind: 'done' };
  }

  /** VMSAVE: stores what VMLOAD loads into the VMCB at `pa`. */
  vmsave(pa: number): SvmFault | SvmDone {
    const f = this.addressed('VMSAVE', pa);
    if (f !== null) return f;
    const { mem, state: st } = this.cpu;
    vmcbWriteSegment(mem, pa, 'save.fs', segmentToVmcb(st.seg[Seg.FS]!));
    vmcbWriteSegment(mem, pa, 'save.gs', segmentToVmcb(st.seg[Seg.GS]!));
    vmcbWriteSegment(mem, pa, 'save.tr', segmentToVmcb(st.tr));
    vmcbWriteSegment(mem, pa, 'save.ldtr', segmentToVmcb(st.ldtr));
    for (const [field, index] of VMLOAD_MSRS) {
      const [lo, hi] = msrGet(this.cpu, index);
      vmcbWrite64(mem, pa, field, u64(lo, hi));
    }
    return { kind: 'done' };
  }

  // ---- VMRUN ----

  /**
   * VMRUN (APM Vol. 3, VMRUN; Vol. 2, 15.5): the instruction checks (#UD, #GP); then it remembers
   * the VMCB, saves the host state to the host save area (the caller has already advanced RIP
   * past the VMRUN: the saved RIP is where the host resumes), reads the controls and the guest
   * state, and makes the consistency checks. A failed check is a #VMEXIT with EXITCODE
   * VMEXIT_INVALID: the guest was never loaded, so only EXITCODE, EXITINFO1 and EXITINFO2 are
   * written (as KVM's nested SVM does), the host is reloaded and GIF is cleared. Otherwise GIF
   * is set and the guest state and controls are returned for the layer that runs the guest.
   */
  vmrun(vmcbPa: number): VmrunOutcome {
    const f = this.addressed('VMRUN', vmcbPa);
    if (f !== null) return f;
    if (this.svm.guestVmcbPa !== null) throw new Error('vmrun while a guest runs: a guest\u2019s VMRUN is always intercepted, so the host sees a #VMEXIT first');
    const { mem, state: st } = this.cpu;
    writeHost(mem, this.svm.hsavePa, st);
    const controls = readControls(mem, vmcbPa);
    const guest = readGuestState(mem, vmcbPa);
    const failed = failedChecks(guest, controls, this.checkContext());
    this.svm.guestVmcbPa = vmcbPa;
    this.svm.controls = controls;
    if (failed.length > 0) {
      vmcbWrite64(mem, vmcbPa, 'exit_code', exitCodeToU64(-1));
      vmcbWrite64(mem, vmcbPa, 'exit_info_1', u64(0));
      vmcbWrite64(mem, vmcbPa, 'exit_info_2', u64(0));
      const back = this.reloadHost();
      return { kind: 'invalid', vmcbPa, failed, host: back.kind === 'host' ? 'resumed' : 'shutdown', hostFailed: back.failed };
    }
    this.svm.gif = true;
    return { kind: 'entered', vmcbPa, guest, controls };
  }

  // ---- #VMEXIT ----

  /**
   * #VMEXIT (APM 15.6): GIF ← 0; the guest state (`guest`, as the guest has it now) goes to the
   * VMCB's state-save area, with the interrupt shadow to INT_STATE and V_TPR/V_IRQ to INT_CTL;
   * EXITCODE, EXITINFO1, EXITINFO2, EXITINTINFO and nRIP are written and EVENTINJ.V is cleared;
   * then the host state is reloaded from the host save area (CR0.PE forced to 1, CPL 0). If the
   * host state fails the state checks the processor shuts down.
   */
  vmexit(info: VmexitInfo, guest: SvmGuestState): VmexitOutcome {
    const pa = this.svm.guestVmcbPa;
    if (pa === null) throw new Error('#VMEXIT with no guest running');
    const mem = this.cpu.mem;
    this.svm.gif = false;
    vmcbWriteSegment(mem, pa, 'save.es', guest.es);
    vmcbWriteSegment(mem, pa, 'save.cs', guest.cs);
    vmcbWriteSegment(mem, pa, 'save.ss', guest.ss);
    vmcbWriteSegment(mem, pa, 'save.ds', guest.ds);
    vmcbWriteDtr(mem, pa, 'save.gdtr', guest.gdtr);
    vmcbWriteDtr(mem, pa, 'save.idtr', guest.idtr);
    const w = (f: Vmcb64Field, v: U64): void => vmcbWrite64(mem, pa, f, v);
    w('save.efer', guest.efer);
    w('save.cr4', guest.cr4);
    w('save.cr3', guest.cr3);
    w('save.cr2', guest.cr2);
    w('save.cr0', guest.cr0);
    w('save.dr7', guest.dr7);
    w('save.dr6', guest.dr6);
    w('save.rflags', guest.rflags);
    w('save.rip', guest.rip);
    w('save.rsp', guest.rsp);
    w('save.rax', guest.rax);
    if (this.svm.controls?.npEnable === true) w('save.g_pat', guest.gPat);
    vmcbWrite(mem, pa, 'save.cpl', guest.cpl & 3);
    const intState = vmcbRead(mem, pa, 'int_state');
    // INT_STATE: the interrupt shadow, and GUEST_INTERRUPT_MASK = the guest's RFLAGS.IF at the exit (APM 15.21.5).
    let st = guest.interruptShadow ? intState | IntState.INTERRUPT_SHADOW : intState & ~IntState.INTERRUPT_SHADOW;
    st = (guest.rflags.lo & Flag.IF) !== 0 ? st | IntState.GUEST_INTERRUPT_MASK : st & ~IntState.GUEST_INTERRUPT_MASK;
    vmcbWrite(mem, pa, 'int_state', st >>> 0);
    if (info.vIntr !== undefined) {
      const intCtl = vmcbRead(mem, pa, 'int_ctl');
      const cur = decodeVIntr(intCtl, 0);
      vmcbWrite(mem, pa, 'int_ctl', encodeVIntr(intCtl, { ...cur, vTpr: info.vIntr.vTpr, vIrq: info.vIntr.vIrq }));
    }
    w('exit_code', exitCodeToU64(info.exitCode));
    w('exit_info_1', info.exitInfo1 ?? u64(0));
    w('exit_info_2', info.exitInfo2 ?? u64(0));
    w('exit_int_info', info.exitIntInfo ?? u64(0));
    w('next_rip', info.nextRip ?? u64(0));
    const inj = vmcbRead64(mem, pa, 'event_inj');
    w('event_inj', u64(inj.lo & ~EventInfo.V, inj.hi));
    return this.reloadHost();
  }

  /** The host half of #VMEXIT: reload from the host save area, GIF ← 0, leave guest mode. */
  private reloadHost(): VmexitOutcome {
    const { mem, state: st } = this.cpu;
    const at = this.svm.hsavePa;
    this.svm.gif = false;
    this.svm.guestVmcbPa = null;
    this.svm.controls = null;
    const host = readGuestState(mem, at);
    st.seg[Seg.ES] = segmentFromVmcb(host.es, false);
    st.seg[Seg.CS] = segmentFromVmcb(host.cs, false);
    st.seg[Seg.SS] = segmentFromVmcb(host.ss, false);
    st.seg[Seg.DS] = segmentFromVmcb(host.ds, false);
    // CPL 0: the lab's CPL is CS.RPL (VMRUN ran at CPL 0, so the saved selector has RPL 0).
    st.seg[Seg.CS]!.selector &= 0xfffc;
    st.gdtr = dtrFromVmcb(host.gdtr);
    st.idtr = dtrFromVmcb(host.idtr);
    st.efer = host.efer.lo >>> 0;
    st.cr0 = (host.cr0.lo | CR0.PE) >>> 0;
    st.cr4 = host.cr4.lo >>> 0;
    st.cr3Lo = host.cr3.lo >>> 0;
    st.cr3Hi = host.cr3.hi >>> 0;
    st.rflags = (host.rflags.lo | 2) >>> 0;
    st.ripLo = host.rip.lo;
    st.ripHi = host.rip.hi;
    st.regLo[4] = host.rsp.lo;
    st.regHi[4] = host.rsp.hi;
    st.regLo[0] = host.rax.lo;
    st.regHi[0] = host.rax.hi;
    st.interruptShadow = false;
    this.cpu.modeChanged();
    // #VMEXIT flushes nothing (APM 15.16): the guest's entries carry its ASID, never 0, so the host's
    // lookups, under ASID 0, do not see them.
    this.cpu.setTlbTag?.(0, NO_EP4TA);
    const failed = failedChecks({ ...host, cr0: u64(st.cr0, host.cr0.hi) }, null, this.checkContext(), true);
    const pae = (st.cr0 & CR0.PG) !== 0 && (st.cr4 & CR4.PAE) !== 0 && (st.efer & EFER.LMA) === 0;
    if (failed.length === 0 && pae && !loadPdptes(this.cpu, st.cr3Lo)) failed.push('host-pdptes');
    if (failed.length > 0) {
      st.shutdown = true;
      return { kind: 'shutdown', failed };
    }
    return { kind: 'host', failed: [] };
  }
}
