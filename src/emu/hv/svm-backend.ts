/**
 * The hypervisor's AMD-V backend: a VMCB in host memory, VMRUN and #VMEXIT through
 * svm/guest-run.ts, and every exit normalised for the core (types.ts) with its EXITCODE,
 * EXITINFO1/2 and EXITINTINFO kept.
 *
 * Where the guest's state lives between exits, as on hardware (APM 15.5.1, 15.6): RIP, RSP, RAX,
 * RFLAGS, the control registers, EFER and the segments in the VMCB's state-save area; the other
 * general registers stay in the processor, where a real hypervisor saves them in software (the
 * lab's hypervisor is TypeScript and runs no host instructions, so they simply stay in
 * `cpu.state`). Reads and writes of VMCB fields are recorded and charged as `vmcb-read` and
 * `vmcb-write`; register accesses are recorded as `gpr.*` and cost nothing.
 *
 * Nested paging (the default, `nested: true`): NP_ENABLE with N_CR3 pointing at the hypervisor's
 * own tables (nested-map.ts), which map guest-physical [0, guestRam.size) to host-physical
 * [guestRam.hpaBase, …) and nothing else. A guest access anywhere else is #VMEXIT(NPF): the
 * hypervisor core treats one outside the guest's RAM as MMIO; a reserved-bit fault or one inside
 * the guest's RAM ends the VM with an error. The guest runs with its own paging, or none, and its
 * own CR3 (nothing about paging is intercepted). With `nested: false`: shadow paging (shadow.ts).
 * The VMCB's CR0, CR3 and CR4 are then what the processor runs the guest with (CR0.PG and WP
 * set, CR3 the shadow root, CR4.PAE by the shadow's format, PSE clear), and the guest's own values
 * are kept in software: reads and writes of CR0, CR3 and CR4 are intercepted (APM 15.9; AMD-V has
 * no read shadows), as are #PF (exception intercept 14, 15.12) and INVLPG (15.10). A MOV to CR0
 * that turns paging on or off sets EFER.LMA as the processor would. The guest's RAM is at
 * host-physical [guestRam.hpaBase, …); the area and the shadow pool lie outside it.
 *
 * The memory it uses (`area`, SVM_AREA_SIZE, 4-KByte aligned, in host RAM outside the guest's
 * RAM when nested paging is on): the host save area (VM_HSAVE_PA), the VMCB, the IOPM (12 KiB),
 * the MSRPM (8 KiB), the host's page tables (PML4, PDPT, PD: the first GiB in 2-MByte pages,
 * which no host instruction uses but the host runs on), and the nested tables.
 *
 * The host: 64-bit (nested paging walks in the host's paging mode, which the lab requires to be
 * long mode), CPL 0, with EFER.SVME. The processor must be an AMD model for SVM
 * (`cpu.state.vendor = 'amd'`): the backend sets it. Vendor-dependent behaviour of the guest's own
 * instructions (SYSCALL outside 64-bit mode, SYSENTER in long mode, null FS/GS loads) therefore
 * follows AMD under this backend.
 *
 * Intercepts: those in REQUIRED_CONTROLS always (VMRUN, CPUID, VMMCALL, IOIO_PROT, MSR_PROT,
 * SHUTDOWN, and VMLOAD, VMSAVE, STGI, CLGI, which the guest is not offered: it sees no SVM, and
 * natively they would take rAX as a host-physical address); the optional ones of EXIT_OPTIONS
 * (HLT by default; RDTSC, INVLPG, CR3 reads and writes, exception vectors).
 */
import { enterAside, fieldLog, takeFields } from './field-log.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { Seg } from '../cpu/insn.ts';
import { SegAttr } from '../cpu/state.ts';
import { EFER } from '../cpu/sys-util.ts';
import type { MmioHandler, PhysMem } from '../mem/physmem.ts';
import type { Ledger } from '../cost/ledger.ts';
import { exceptionExitCode, exitCodeFromU64, exitCodeName, SVM_EXIT, SvmExit } from '../svm/exit-codes.ts';
import { decodeEvent, decodeIoioInfo, decodeNpfInfo, encodeEvent, EventType, IntCtl, IntState, NestedCtl, TlbControl } from '../svm/exitinfo.ts';
import { runGuest, vmrunGuest } from '../svm/guest-run.ts';
import {
  crReadIntercept, crWriteIntercept, exceptionIntercept, INTERCEPT, setIntercept, setIopmBit, setMsrpmBit, type InterceptName,
} from '../svm/intercepts.ts';
import { Svm } from '../svm/svm.ts';
import { segmentToVmcb, u64, Vmcb, type Vmcb64Field, type U64 } from '../svm/vmcb.ts';
import { hasErrorCode } from '../cpu/sys-int.ts';
import { buildNestedMap, isGuestRam, NESTED_TABLES_SIZE, mapDirect, nestedTablesSize, passThrough, type MmioRecord, type NestedMap, type NestedPageSize } from './nested-map.ts';
import { ShadowMmu, type ShadowFormat } from './shadow.ts';
import { MAXPHYADDR } from '../cpu/sys-ctl.ts';
import { CR0, CR4 } from '../cpu/sys-util.ts';
import {
  GPR_NAMES, type BackendRun, type ExitOptionControl, type FieldAccess, type HvBackend, type HvEvent, type HvExit, type HvExitDetail,
  type HvExitOptions, type PortHandler, type RequiredControl,
} from './types.ts';

/** Offsets in the backend's area. */
const HSAVE = 0;
const VMCB = 0x1000;
const IOPM = 0x2000;
const MSRPM = 0x5000;
const HOST_PT = 0x7000;
const NESTED = 0xa000;
/** Bytes of host memory the backend needs at `area`. */
export const SVM_AREA_SIZE = NESTED + NESTED_TABLES_SIZE;
/** The area's size with `pageSize` nested pages for `guestRam` bytes (SVM_AREA_SIZE with 2-MByte pages; 4-KByte ones add their page tables). */
export const svmAreaSize = (guestRam: number, pageSize: NestedPageSize = '2m'): number => NESTED + nestedTablesSize(guestRam, pageSize);

const wordField = (word: number): string => ['intercept_cr', 'intercept_dr', 'intercept_exceptions', 'intercept_word3', 'intercept_word4', 'intercept_word5'][word]!;
const named = (n: InterceptName): { field: string; bit: number; name: string } => ({ field: wordField(INTERCEPT[n].word), bit: INTERCEPT[n].bit, name: `INTERCEPT_${n}` });

/** The optional exits as AMD-V intercepts (APM Table B-1; the VMCB field and bit of each). */
export const EXIT_OPTIONS: readonly ExitOptionControl[] = [
  { option: 'hlt', field: named('HLT').field, bits: [named('HLT').bit], names: ['INTERCEPT_HLT'] },
  { option: 'rdtsc', field: named('RDTSC').field, bits: [named('RDTSC').bit], names: ['INTERCEPT_RDTSC'] },
  { option: 'invlpg', field: named('INVLPG').field, bits: [named('INVLPG').bit], names: ['INTERCEPT_INVLPG'] },
  { option: 'cr3', field: 'intercept_cr', bits: [crReadIntercept(3).bit, crWriteIntercept(3).bit], names: ['intercept reads of CR3', 'intercept writes of CR3'] },
  { option: 'exceptions', field: 'intercept_exceptions', bits: Array.from({ length: 32 }, (_, i) => i), names: Array.from({ length: 32 }, (_, i) => `intercept exception vector ${i}`) },
];

/** The intercepts and controls the hypervisor sets itself on AMD-V, with why. */
export const REQUIRED_CONTROLS: readonly RequiredControl[] = [
  { ...named('VMRUN'), why: 'VMRUN must be intercepted (a VMRUN consistency check); the guest is offered no SVM: #UD', when: 'always' },
  { ...named('CPUID'), why: 'CPUID always exits: the hypervisor bit and the leaves 0x40000000 and up', when: 'always' },
  { ...named('VMMCALL'), why: 'VMMCALL is the hypercall', when: 'always' },
  { ...named('IOIO_PROT'), why: 'the IOPM has every bit set: every port is forwarded', when: 'always' },
  { ...named('MSR_PROT'), why: 'the MSRPM selects the MSRs the hypervisor shadows (EFER, VM_CR, VM_HSAVE_PA)', when: 'always' },
  { ...named('SHUTDOWN'), why: 'a triple fault ends the VM instead of shutting the processor down', when: 'always' },
  { ...named('VMLOAD'), why: 'no SVM for the guest (#UD); natively rAX would be a host-physical address', when: 'always' },
  { ...named('VMSAVE'), why: 'no SVM for the guest (#UD); natively rAX would be a host-physical address', when: 'always' },
  { ...named('STGI'), why: 'no SVM for the guest (#UD); natively it would set the host\u2019s GIF', when: 'always' },
  { ...named('CLGI'), why: 'no SVM for the guest (#UD); natively it would hold the host\u2019s interrupts', when: 'always' },
  { field: 'nested_ctl', bit: 0, name: 'NP_ENABLE', why: 'nested paging: the guest-physical space is the hypervisor\u2019s map (N_CR3)', when: 'nested' },
  { field: 'intercept_cr', bit: crReadIntercept(0).bit, name: 'intercept reads of CR0', why: 'shadow paging: the guest reads its own CR0 (the processor runs with PG and WP set)', when: 'no-nested' },
  { field: 'intercept_cr', bit: crWriteIntercept(0).bit, name: 'intercept writes of CR0', why: 'shadow paging: a paging-mode change rebuilds the shadow', when: 'no-nested' },
  { field: 'intercept_cr', bit: crReadIntercept(3).bit, name: 'intercept reads of CR3', why: 'shadow paging: the guest reads its own CR3, not the shadow root', when: 'no-nested' },
  { field: 'intercept_cr', bit: crWriteIntercept(3).bit, name: 'intercept writes of CR3', why: 'shadow paging: a CR3 load switches shadows', when: 'no-nested' },
  { field: 'intercept_cr', bit: crReadIntercept(4).bit, name: 'intercept reads of CR4', why: 'shadow paging: the guest reads its own CR4 (PAE, PSE are the shadow\u2019s)', when: 'no-nested' },
  { field: 'intercept_cr', bit: crWriteIntercept(4).bit, name: 'intercept writes of CR4', why: 'shadow paging: a paging-mode change rebuilds the shadow', when: 'no-nested' },
  { ...named('INVLPG'), why: 'shadow paging: the guest\u2019s INVLPG zaps the shadow entry', when: 'no-nested' },
  { field: 'intercept_exceptions', bit: 14, name: 'intercept exception vector 14', why: 'shadow paging: #PF exits, to fill the shadow (hidden fault) or reflect (true fault)', when: 'no-nested' },
];

export interface SvmIntercepts {
  /** Exception vectors (0..31) to intercept and reflect. */
  exceptions?: readonly number[];
  crRead?: readonly number[];
  crWrite?: readonly number[];
  /** MSRs to intercept (read and write) inside the MSRPM's ranges; those outside are always intercepted. */
  msrs?: readonly number[];
}

export interface SvmBackendOptions {
  /** 4-KByte aligned host-physical address of SVM_AREA_SIZE bytes for HSAVE, VMCB, IOPM, MSRPM, host and nested tables. */
  area: number;
  ledger: Ledger;
  intercepts?: SvmIntercepts;
  /** Nested paging (default true); false: shadow paging. */
  nested?: boolean;
  /** Without nested paging: the host-physical address of the shadow pool (SHADOW_POOL_SIZE bytes; default: right after the area). */
  shadowPool?: number;
  /** The guest's RAM under nested paging: `size` bytes at guest-physical 0, at host-physical `hpaBase` (default: the 2-MByte pages below `area`, at 0). */
  guestRam?: { size: number; hpaBase?: number };
  /** Nested paging: the nested pages mapping the guest's RAM (default '2m'; '4k' makes the area larger, see svmAreaSize). */
  nestedPageSize?: NestedPageSize;
  /** The optional exits (default: HLT only). */
  exits?: HvExitOptions;
  /**
   * Another backend's processor state with SVM already set up (host.ts: several VMCBs on one CPU):
   * this backend then shares its host save area (VM_HSAVE_PA is written once).
   */
  svm?: Svm;
  /** The VM's ASID (default 1); the multi-VM host gives each VM its own. */
  asid?: number;
  /**
   * Tagged TLBs (issue 7): the guest's translations stay cached under its ASID across world
   * switches (TLB_CONTROL 0; the hypervisor invalidates with INVLPGA or a one-shot TLB_CONTROL 3
   * or 7). Off: TLB_CONTROL 1 at every VMRUN flushes every ASID, the untagged baseline ("ASID 0
   * is the host's, so an untagged hypervisor flushes at each VMRUN"). Default: on with nested
   * paging, off without it (as on VT-x: that path relies on the flush at every entry).
   */
  tlbTags?: boolean;
  /**
   * The multi-VM host's controls: the INTR intercept with V_INTR_MASKING = 1 (the host's timer
   * interrupts the guest whatever its IF, #VMEXIT(INTR), and the host's IF = 1 at VMRUN lets it);
   * the VINTR intercept is switched on and off by `setInterruptWindow`. Default false.
   */
  hostControls?: boolean;
}

/** The guest RAM a backend gives its guest by default: everything below its area, in whole 2-MByte pages. */
export function defaultGuestRam(area: number): { size: number; hpaBase: number } {
  return { size: area - (area % 0x200000), hpaBase: 0 };
}

/** The host's 64-bit page tables at `pml4` (three pages): the first GiB identity-mapped in 2-MByte pages. */
export function buildHostTables(mem: PhysMem, pml4: number): void {
  for (let i = 0; i < 0x3000; i += 4) mem.write(pml4 + i, 4, 0);
  mem.write(pml4, 4, (pml4 + 0x1000) | 3);
  mem.write(pml4 + 0x1000, 4, (pml4 + 0x2000) | 3);
  for (let i = 0; i < 512; i++) mem.write(pml4 + 0x2000 + i * 8, 4, ((i << 21) | 0x83) >>> 0);
}

const big = (v: U64): bigint => (BigInt(v.hi >>> 0) << 32n) | BigInt(v.lo >>> 0);
const toU64 = (v: bigint): U64 => u64(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
const REG_INDEX = (n: number): number => n; // the lab's regLo/regHi use the encoding order too

export class SvmBackend implements HvBackend {
  readonly vendor = 'amd' as const;
  readonly id = 'svm';
  readonly svm: Svm;
  readonly vmcb: Vmcb;
  private readonly ledger: Ledger;
  private accesses = fieldLog();
  /** True while the guest is loaded in the CPU (after VMRUN, until its #VMEXIT). */
  private inCpu = false;
  readonly nested: boolean;
  /** The nested tables (null without nested paging): built once, changed only inside `passThroughMmio` and by `mapMmio`. */
  readonly map: NestedMap | null;
  private readonly hostControls: boolean;
  readonly tlbTags: boolean;
  readonly asid: number;
  /** With tags: the TLB_CONTROL the next VMRUN performs once (0: none), reset after it as KVM does. */
  private pendingTlbControl = 0;
  /** The shadow MMU without nested paging (shadow.ts), null under NPT. */
  readonly shadow: ShadowMmu | null;
  /** Shadow paging: the guest's CR0, CR3, CR4 as it set them (the VMCB holds what the processor runs). */
  private gcr0 = 0n;
  private gcr3 = 0n;
  private gcr4 = 0n;
  private format: ShadowFormat = '32bit';
  /** Construction: VMCB writes are not the hypervisor's logged work yet. */
  private quiet = true;
  /**
   * Shadow paging: the guest set EFER.LME while its paging is off; the processor runs it with
   * paging on, where LME would mean long mode (and, without CR4.PAE, fail VMRUN's checks, APM
   * 15.5.1), so LME is kept here until the guest turns paging on.
   */
  private hiddenLme = false;

  constructor(
    readonly cpu: Cpu,
    opts: SvmBackendOptions,
  ) {
    const { area } = opts;
    if (area % 0x1000 !== 0 || area < 0) throw new RangeError(`SVM area ${area} is not 4-KByte aligned`);
    this.ledger = opts.ledger;
    const hsave = area + HSAVE;
    const vmcbPa = area + VMCB;
    const iopm = area + IOPM;
    const msrpm = area + MSRPM;
    const mem = cpu.mem;
    const st = cpu.state;
    this.nested = opts.nested ?? true;
    const ram = { ...defaultGuestRam(area), ...opts.guestRam };
    const areaSize = this.nested ? svmAreaSize(ram.size, opts.nestedPageSize) : SVM_AREA_SIZE;
    if (area < ram.hpaBase + ram.size && area + areaSize > ram.hpaBase) throw new RangeError('SVM area: inside the guest\u2019s RAM (the guest would reach it)');
    if (this.nested) {
      this.map = buildNestedMap(mem, area + NESTED, ram.size, ram.hpaBase ?? 0, 'npt', opts.nestedPageSize);
      this.shadow = null;
    } else {
      this.map = null;
      this.shadow = new ShadowMmu({
        pool: opts.shadowPool ?? area + SVM_AREA_SIZE, guestRam: { size: ram.size, hpaBase: ram.hpaBase ?? 0 },
        host: {
          mem, maxPhysAddr: MAXPHYADDR, page1gb: cpu.features.page1gb !== false,
          guestRegs: () => ({
            cr0: Number(this.gcr0 & 0xffffffffn), cr3: Number(this.gcr3), cr4: Number(this.gcr4 & 0xffffffffn),
            // While the guest is loaded (a view between exits) the processor, not the VMCB, holds its EFER.
            efer: ((this.loaded ? cpu.state.efer : this.vmcb.read64('save.efer').lo) & ~EFER.SVME) >>> 0,
          }),
          loadRoot: (root: number, format: ShadowFormat) => {
            this.format = format;
            this.putReal('save.cr3', BigInt(root));
            this.putReal('save.cr4', this.realCr4(this.gcr4));
          },
          enterOnce: () => this.enter(1),
          flushTlb: () => this.cpu.tlbFlushAll(true),
        },
      });
    }
    // The guest starts in the state the CPU holds now; the host is a 64-bit one with SVM enabled.
    const v = new Vmcb(mem, vmcbPa);
    v.clear();
    for (let i = 0; i < 0x2000; i += 4) mem.write(msrpm + i, 4, 0);
    for (const r of REQUIRED_CONTROLS) if (r.when === 'always') setIntercept(mem, vmcbPa, r.name.slice('INTERCEPT_'.length) as InterceptName);
    const ex = opts.exits ?? {};
    if (ex.hlt !== false) setIntercept(mem, vmcbPa, 'HLT');
    if (ex.rdtsc === true) setIntercept(mem, vmcbPa, 'RDTSC');
    if (ex.invlpg === true) setIntercept(mem, vmcbPa, 'INVLPG');
    if (ex.cr3 === true) {
      setIntercept(mem, vmcbPa, crReadIntercept(3));
      setIntercept(mem, vmcbPa, crWriteIntercept(3));
    }
    const ic = opts.intercepts ?? {};
    for (const vec of [...(ic.exceptions ?? []), ...(ex.exceptions ?? [])]) setIntercept(mem, vmcbPa, exceptionIntercept(vec));
    for (const cr of ic.crRead ?? []) setIntercept(mem, vmcbPa, crReadIntercept(cr));
    for (const cr of ic.crWrite ?? []) setIntercept(mem, vmcbPa, crWriteIntercept(cr));
    if (this.shadow !== null) for (const r of REQUIRED_CONTROLS) {
      if (r.when !== 'no-nested') continue;
      if (r.field === 'intercept_cr') setIntercept(mem, vmcbPa, r.bit < 16 ? crReadIntercept(r.bit) : crWriteIntercept(r.bit - 16));
      else if (r.field === 'intercept_exceptions') setIntercept(mem, vmcbPa, exceptionIntercept(r.bit));
      else setIntercept(mem, vmcbPa, 'INVLPG');
    }
    if (this.map !== null) {
      v.write64('nested_ctl', u64(NestedCtl.NP_ENABLE));
      v.write64('nested_cr3', u64(this.map.root % 0x100000000, Math.floor(this.map.root / 0x100000000)));
    }
    // Every port: the hypervisor forwards all port I/O (the whole 12-KByte IOPM set, including the
    // bits past 0xFFFF that a wide access at the top of the port space reads).
    for (let i = 0; i < 0x3000; i += 4) mem.write(iopm + i, 4, 0xffffffff);
    for (const m of ic.msrs ?? []) {
      setMsrpmBit(mem, msrpm, m, false);
      setMsrpmBit(mem, msrpm, m, true);
    }
    v.write64('iopm_base_pa', u64(iopm));
    v.write64('msrpm_base_pa', u64(msrpm));
    const asid = opts.asid ?? 1;
    if (!Number.isInteger(asid) || asid < 1) throw new RangeError(`ASID ${asid}: ASID 0 is the host's`);
    v.write('asid', asid);
    this.asid = asid;
    this.tlbTags = opts.tlbTags ?? this.nested;
    // The shadow MMU invalidates by flushing from the host (shadow.ts flushTlb) and relies on
    // TLB_CONTROL 1 at every VMRUN to take the guest ASID's entries.
    if (this.tlbTags && this.shadow !== null) throw new RangeError('tagged TLBs (ASIDs without a flush at VMRUN) need nested paging here: shadow paging runs untagged');
    // APM 15.16.1: untagged, every VMRUN flushes every ASID (the processor leaves the field as written).
    v.write('tlb_ctl', this.tlbTags ? TlbControl.DO_NOTHING : TlbControl.FLUSH_ALL);
    this.hostControls = opts.hostControls === true;
    if (this.hostControls) {
      setIntercept(mem, vmcbPa, 'INTR');
      v.write('int_ctl', IntCtl.V_INTR_MASKING);
    }
    cpu.syncFlags();
    v.writeSegment('save.cs', segmentToVmcb(st.seg[Seg.CS]!));
    v.writeSegment('save.ss', segmentToVmcb(st.seg[Seg.SS]!));
    v.writeSegment('save.ds', segmentToVmcb(st.seg[Seg.DS]!));
    v.writeSegment('save.es', segmentToVmcb(st.seg[Seg.ES]!));
    v.writeDtr('save.gdtr', { limit: st.gdtr.limit, base: u64(st.gdtr.baseLo, st.gdtr.baseHi) });
    v.writeDtr('save.idtr', { limit: st.idtr.limit, base: u64(st.idtr.baseLo, st.idtr.baseHi) });
    v.write('save.cpl', cpu.cpl());
    // The guest's EFER.SVME must be 1 (a VMRUN consistency check); the guest never sees it: RDMSR EFER is shadowed.
    v.write64('save.efer', u64((st.efer | EFER.SVME) >>> 0));
    this.gcr0 = BigInt(st.cr0 >>> 0);
    this.gcr3 = (BigInt(st.cr3Hi >>> 0) << 32n) | BigInt(st.cr3Lo >>> 0);
    this.gcr4 = BigInt(st.cr4 >>> 0);
    v.write64('save.cr0', toU64(this.realCr0(this.gcr0)));
    v.write64('save.cr2', u64(st.cr2Lo, st.cr2Hi));
    v.write64('save.cr3', u64(st.cr3Lo, st.cr3Hi));
    v.write64('save.cr4', toU64(this.realCr4(this.gcr4)));
    v.write64('save.rflags', u64(st.rflags));
    v.write64('save.rip', u64(st.ripLo, st.ripHi));
    v.write64('save.rsp', u64(st.regLo[4]!, st.regHi[4]!));
    v.write64('save.rax', u64(st.regLo[0]!, st.regHi[0]!));
    v.write64('save.g_pat', u64(0x00070406, 0x00070406));
    // The host: 64-bit, CPL 0, on its own page tables, with SVM enabled (VMRUN saves this in HSAVE).
    buildHostTables(mem, area + HOST_PT);
    st.vendor = 'amd';
    st.cr0 = 0x80050033;
    st.cr4 = 0x20;
    st.efer = (EFER.LME | EFER.LMA | EFER.SVME) >>> 0;
    st.cr3Lo = area + HOST_PT;
    st.cr3Hi = 0;
    const cs = st.seg[Seg.CS]!;
    cs.selector = 8;
    cs.attr = (0xb | SegAttr.S | SegAttr.P | SegAttr.G | SegAttr.L) >>> 0;
    cpu.modeChanged();
    if (opts.svm !== undefined) this.svm = opts.svm;
    else {
      this.svm = new Svm(cpu);
      const r = this.svm.writeHsavePa(u64(hsave));
      if (r.kind === 'fault') throw new Error(`VM_HSAVE_PA: ${r.why}`);
    }
    this.vmcb = v;
    if (this.shadow !== null && (st.cr0 & 0x80000000) === 0 && (v.read64('save.efer').lo & EFER.LME) !== 0) {
      this.hiddenLme = true;
      v.write64('save.efer', u64((v.read64('save.efer').lo & ~EFER.LME) >>> 0));
    }
    if (this.shadow !== null) {
      const why = this.shadow.sync('start');
      if (why !== null) throw new RangeError(why);
    }
    this.quiet = false;
  }

  /** CR0 as the processor runs the guest: under shadow paging PG and WP set. */
  private realCr0(guest: bigint): bigint {
    return this.shadow !== null ? guest | BigInt((CR0.PG | CR0.WP) >>> 0) : guest;
  }

  /** CR4 as the processor runs the guest: under shadow paging PAE by the shadow's format, PSE clear (4-KByte leaves). */
  private realCr4(guest: bigint): bigint {
    if (this.shadow === null) return guest;
    return (guest & ~BigInt(CR4.PAE | CR4.PSE)) | (this.format === '4level' ? BigInt(CR4.PAE) : 0n);
  }

  /** A VMCB write that is the hypervisor's work once the VM runs (logged), not during construction. */
  private putReal(field: Vmcb64Field, v: bigint): void {
    if (this.quiet) this.vmcb.write64(field, toU64(v));
    else this.w64(field, v);
  }

  get steps(): number {
    return this.cpu.state.steps;
  }

  /** RFLAGS.IF = 1, no interrupt shadow (INT_STATE bit 0), no event already in EVENTINJ. */
  interruptible(): boolean {
    if ((this.r64('save.rflags') & 0x200n) === 0n) return false;
    if ((this.r32('int_state') & IntState.INTERRUPT_SHADOW) !== 0) return false;
    return (this.r64('event_inj') & 0x80000000n) === 0n;
  }

  /**
   * The interrupt window on AMD-V: a virtual interrupt pending (V_IRQ = 1, V_IGN_TPR so the guest's
   * TPR does not hold it) with the VINTR intercept, so the guest exits (#VMEXIT(VINTR)) when it can
   * take an interrupt instead of taking the virtual one; off: V_IRQ and the intercept cleared.
   */
  setInterruptWindow(on: boolean): void {
    const mem = this.cpu.mem;
    const ctl = this.vmcb.read('int_ctl');
    const next = on ? ctl | IntCtl.V_IRQ | IntCtl.V_IGN_TPR : ctl & ~(IntCtl.V_IRQ | IntCtl.V_IGN_TPR);
    this.vmcb.write('int_ctl', next >>> 0);
    this.accesses.list.push({ op: 'write', field: 'int_ctl', value: BigInt(next >>> 0) });
    this.ledger.charge({ kind: 'vmcb-write' });
    setIntercept(mem, this.vmcb.pa, 'VINTR', on);
    this.accesses.list.push({ op: 'write', field: 'intercept_word3', value: BigInt(this.vmcb.read('intercept_word3')) });
    this.ledger.charge({ kind: 'vmcb-write' });
  }

  /** The guest's RFLAGS for the host's scheduler (not the hypervisor's work: not logged or charged). */
  rflagsForHost(): number {
    return this.vmcb.read64('save.rflags').lo >>> 0;
  }

  /** The backend's bookkeeping as plain data (the VMCB and the tables are in memory). */
  saveState(): { inCpu: boolean; pendingTlbControl: number } {
    return { inCpu: this.inCpu, pendingTlbControl: this.pendingTlbControl };
  }

  loadState(s: { inCpu: boolean; pendingTlbControl?: number }): void {
    this.inCpu = s.inCpu;
    this.pendingTlbControl = s.pendingTlbControl ?? 0;
    this.accesses = fieldLog();
  }

  // ---- logged VMCB accesses ----

  private r64(field: Vmcb64Field): bigint {
    const v = big(this.vmcb.read64(field));
    this.accesses.list.push({ op: 'read', field, value: v });
    this.ledger.charge({ kind: 'vmcb-read' });
    return v;
  }

  private w64(field: Vmcb64Field, v: bigint): void {
    this.vmcb.write64(field, toU64(v));
    this.accesses.list.push({ op: 'write', field, value: v });
    this.ledger.charge({ kind: 'vmcb-write' });
  }

  private r32(field: 'int_state' | 'save.cs.attrib'): number {
    const v = field === 'save.cs.attrib' ? this.vmcb.readSegment('save.cs').attrib : this.vmcb.read('int_state');
    this.accesses.list.push({ op: 'read', field, value: BigInt(v) });
    this.ledger.charge({ kind: 'vmcb-read' });
    return v;
  }

  takeAccesses(): FieldAccess[] {
    return takeFields(this.accesses);
  }

  /** Set by the hypervisor while an exit's handler runs (HvBackend.inHandler). */
  inHandler = false;

  // ---- entering and exiting ----

  enter(budget: number): BackendRun {
    // Inside a handler, a one-instruction run: what an exit it ends in logs is that exit's (FieldLog).
    return this.inHandler ? enterAside(this.accesses, () => this.run(budget)) : this.run(budget);
  }

  private run(budget: number): BackendRun {
    const cpu = this.cpu;
    if (!this.inCpu) {
      this.ledger.charge({ kind: 'vmrun' });
      // The multi-VM host enters with IF = 1 (as KVM's STI before VMRUN, GIF still 0), so that
      // under V_INTR_MASKING its timer's interrupt is intercepted (#VMEXIT(INTR)).
      if (this.hostControls) {
        cpu.syncFlags();
        cpu.state.rflags |= 0x200;
      }
      // The TLB_CONTROL this VMRUN performs: 1 at every one untagged, a one-shot 3 or 7 with tags.
      const tlbControl = this.tlbTags ? this.pendingTlbControl : TlbControl.FLUSH_ALL;
      const r = vmrunGuest(this.svm, cpu, this.vmcb.pa);
      if (r.kind === 'fault') throw new Error(`VMRUN faulted: ${r.why}`);
      if (r.kind === 'entered' && tlbControl !== TlbControl.DO_NOTHING) this.ledger.charge({ kind: 'tlb-flush' });
      // A one-shot TLB_CONTROL was performed by this VMRUN: back to 0 for the next (logged with the next exit).
      if (this.pendingTlbControl !== 0) {
        this.pendingTlbControl = 0;
        this.vmcb.write('tlb_ctl', TlbControl.DO_NOTHING);
        this.accesses.list.push({ op: 'write', field: 'tlb_ctl', value: 0n });
        this.ledger.charge({ kind: 'vmcb-write' });
      }
      this.onEntry?.('VMRUN', r.kind === 'invalid' ? r.failed : null);
      if (r.kind === 'invalid') return { kind: 'invalid', failed: r.failed };
      this.inCpu = true;
    }
    const before = cpu.state.steps;
    const refsBefore = cpu.mmu.refs;
    const end = runGuest(this.svm, cpu, budget);
    const native = cpu.state.steps - before;
    if (native > 0) this.ledger.charge({ kind: 'guest-insn', count: native });
    // The memory references of the guest's page walks (2D walks under nested paging).
    const refs = cpu.mmu.refs - refsBefore;
    if (refs > 0) this.ledger.charge({ kind: 'page-walk-ref', count: refs });
    if (end.kind !== 'vmexit') return end;
    this.inCpu = false;
    // The #VMEXIT itself, then the hypervisor's fixed path (save registers, dispatch on the code).
    this.ledger.charge({ kind: 'vmexit', code: end.info.exitCode });
    this.ledger.charge({ kind: 'hv-dispatch' });
    if (end.host === 'shutdown') return { kind: 'shutdown' };
    return { kind: 'exit', exit: this.readExit() };
  }

  /** The #VMEXIT as the hypervisor reads it from the VMCB: EXITCODE, then what the code needs. */
  private readExit(): HvExit {
    const raw: Record<string, bigint> = {};
    const codeRaw = this.r64('exit_code');
    const code = exitCodeFromU64(toU64(codeRaw)) ?? -2;
    raw.exit_code = codeRaw;
    const rip = this.r64('save.rip');
    const intInfo = this.r64('exit_int_info');
    raw.exit_int_info = intInfo;
    const info1 = (): bigint => (raw.exit_info_1 = this.r64('exit_info_1'));
    const info2 = (): bigint => (raw.exit_info_2 = this.r64('exit_info_2'));
    const name = exitCodeName(code) ?? `VMEXIT_${code}`;
    let detail: HvExitDetail;
    if (code === SVM_EXIT.CPUID) detail = { kind: 'cpuid' };
    else if (code === SVM_EXIT.INTR) detail = { kind: 'external-interrupt' };
    else if (code === SVM_EXIT.VINTR) detail = { kind: 'interrupt-window' };
    else if (code === SVM_EXIT.HLT) detail = { kind: 'hlt' };
    else if (code === SVM_EXIT.RDTSC) detail = { kind: 'rdtsc' };
    else if (code === SvmExit.INVLPG) detail = { kind: 'invlpg', linear: info1() };
    else if (code === SvmExit.VMRUN || code === SvmExit.VMLOAD || code === SvmExit.VMSAVE || code === SvmExit.STGI || code === SvmExit.CLGI) detail = { kind: 'ud' };
    else if (code === SvmExit.NPF) {
      const i1 = info1();
      const gpa = Number(info2());
      const f = decodeNpfInfo(toU64(i1));
      if (f.reserved) detail = { kind: 'other', why: `VMEXIT_NPF at guest-physical 0x${gpa.toString(16)}: a reserved bit in the nested tables` };
      else if (this.map === null || isGuestRam(this.map, gpa)) detail = { kind: 'other', why: `VMEXIT_NPF at guest-physical 0x${gpa.toString(16)}, inside the guest\u2019s RAM` };
      else detail = { kind: 'mmio', gpa, access: f.fetch ? 'fetch' : f.write ? 'write' : 'read', guestTable: f.guestTable };
    }
    else if (code === SVM_EXIT.VMMCALL) detail = { kind: 'hypercall' };
    else if (code === SVM_EXIT.SHUTDOWN) detail = { kind: 'triple-fault' };
    else if (code === SVM_EXIT.IOIO) {
      const io = decodeIoioInfo(Number(info1() & 0xffffffffn));
      if (io === undefined) detail = { kind: 'other' };
      else detail = { kind: 'io', dir: io.in ? 'in' : 'out', port: io.port, size: io.size, string: io.string, rep: io.rep };
    } else if (code === SVM_EXIT.MSR) detail = { kind: 'msr', write: (info1() & 1n) !== 0n };
    else if (code >= 0 && code < 0x20) {
      const i1 = info1();
      detail = { kind: 'cr', cr: code & 0xf, access: code < 0x10 ? 'read' : 'write', gpr: (i1 >> 63n) !== 0n ? Number(i1 & 0xfn) : null };
    } else if (code >= exceptionExitCode(0) && code <= exceptionExitCode(31)) {
      const vector = code - exceptionExitCode(0);
      const i1 = info1();
      const i2 = vector === 14 ? info2() : 0n;
      const during = decodeEvent(toU64(intInfo));
      // INT3 and INTO save nRIP (APM 15.7.1): a non-zero nRIP says the instruction raised it by design.
      const software = (vector === 3 || vector === 4) && this.r64('next_rip') !== 0n;
      detail = {
        kind: 'exception', vector, software,
        errorCode: hasErrorCode(vector) ? Number(i1 & 0xffffffffn) : null,
        address: vector === 14 ? i2 : null,
        during: during.valid ? { vector: during.vector, exception: during.type === EventType.EXCEPTION, errorCode: during.errorCode ?? null, software: during.type === EventType.SOFT_INT || (during.type === EventType.EXCEPTION && (during.vector === 3 || during.vector === 4)) } : null,
      };
    } else detail = { kind: 'other' };
    return { code, name, detail, rip, raw };
  }

  // ---- guest state ----

  gpr(n: number): bigint {
    if (!this.inCpu && (n === 0 || n === 4)) return this.r64(n === 0 ? 'save.rax' : 'save.rsp');
    const st = this.cpu.state;
    const v = (BigInt(st.regHi[REG_INDEX(n)]! >>> 0) << 32n) | BigInt(st.regLo[REG_INDEX(n)]! >>> 0);
    if (!this.inCpu) this.accesses.list.push({ op: 'read', field: `gpr.${GPR_NAMES[n]}`, value: v });
    return v;
  }

  /** Writes like the guest's own instruction of that size: 1 and 2 bytes merge, 4 zero-extends (the lab zero-extends in every mode), 8 whole. */
  setGpr(n: number, v: bigint, size: 1 | 2 | 4 | 8): void {
    const old = size === 8 || size === 4 ? 0n : this.gpr(n);
    const mask = size === 8 ? 0xffffffffffffffffn : (1n << BigInt(size * 8)) - 1n;
    const nv = size === 8 || size === 4 ? v & mask : (old & ~mask) | (v & mask);
    if (!this.inCpu && (n === 0 || n === 4)) {
      this.w64(n === 0 ? 'save.rax' : 'save.rsp', nv);
      return;
    }
    const st = this.cpu.state;
    st.regLo[REG_INDEX(n)] = Number(nv & 0xffffffffn);
    st.regHi[REG_INDEX(n)] = Number(nv >> 32n);
    if (!this.inCpu) this.accesses.list.push({ op: 'write', field: `gpr.${GPR_NAMES[n]}`, value: nv });
  }

  rip(): bigint {
    if (this.inCpu) return (BigInt(this.cpu.state.ripHi >>> 0) << 32n) | BigInt(this.cpu.state.ripLo >>> 0);
    return this.r64('save.rip');
  }

  /**
   * RIP ← nRIP (the NRIP-save feature: the next RIP of an intercepted instruction), the interrupt
   * shadow cleared as retiring an instruction clears it, and the instruction counted as a retired
   * guest instruction (steps and the TSC, which the lab counts in retired instructions).
   */
  advance(): void {
    const next = this.r64('next_rip');
    if (next === 0n) throw new Error('advance: nRIP is 0 (not an instruction intercept)');
    this.w64('save.rip', next);
    const is = this.r32('int_state');
    if ((is & IntState.INTERRUPT_SHADOW) !== 0) {
      this.vmcb.write('int_state', is & ~IntState.INTERRUPT_SHADOW);
      this.accesses.list.push({ op: 'write', field: 'int_state', value: BigInt(is & ~IntState.INTERRUPT_SHADOW) });
      this.ledger.charge({ kind: 'vmcb-write' });
    }
    this.cpu.state.steps++;
    this.cpu.state.tsc++;
  }

  cpl(): number {
    if (this.inCpu) return this.cpu.cpl();
    const v = this.vmcb.read('save.cpl');
    this.accesses.list.push({ op: 'read', field: 'save.cpl', value: BigInt(v) });
    this.ledger.charge({ kind: 'vmcb-read' });
    return v;
  }

  long64(): boolean {
    if (this.inCpu) return this.cpu.mode() === 'long64';
    const efer = this.r64('save.efer');
    const attrib = this.r32('save.cs.attrib');
    // EFER.LMA (bit 10) and CS.L (attrib bit 9 in the packed 12-bit form).
    return (efer & BigInt(EFER.LMA)) !== 0n && (attrib & 0x200) !== 0;
  }

  rflags(): number {
    if (this.inCpu) {
      this.cpu.syncFlags();
      return this.cpu.state.rflags >>> 0;
    }
    return Number(this.r64('save.rflags') & 0xffffffffn);
  }

  cr(n: 0 | 2 | 3 | 4): bigint {
    const st = this.cpu.state;
    if (this.shadow !== null && n !== 2) return n === 0 ? this.gcr0 : n === 3 ? this.gcr3 : this.gcr4;
    if (this.inCpu) {
      if (n === 0) return BigInt(st.cr0 >>> 0);
      if (n === 4) return BigInt(st.cr4 >>> 0);
      if (n === 2) return (BigInt(st.cr2Hi >>> 0) << 32n) | BigInt(st.cr2Lo >>> 0);
      return (BigInt(st.cr3Hi >>> 0) << 32n) | BigInt(st.cr3Lo >>> 0);
    }
    return this.r64(`save.cr${n}`);
  }

  setCr(n: 0 | 2 | 3 | 4, v: bigint): string | null {
    if (this.inCpu) throw new Error('setCr while the guest is in the CPU');
    const sh = this.shadow;
    if (sh === null || n === 2) {
      this.w64(`save.cr${n}`, v);
      return null;
    }
    this.accesses.list.push({ op: 'write', field: `gpr.cr${n}-shadow`, value: v });
    if (n === 3) {
      this.gcr3 = v;
      return sh.sync('cr3');
    }
    if (n === 4) {
      this.gcr4 = v;
      this.w64('save.cr4', this.realCr4(v));
      return sh.sync('mode');
    }
    if ((v & BigInt(CR0.PE)) === 0n) return 'the guest cleared CR0.PE: real mode under shadow paging is not supported';
    const paging = (v & BigInt(CR0.PG)) !== 0n;
    if (paging !== ((this.gcr0 & BigInt(CR0.PG)) !== 0n)) {
      // What the guest's own MOV to CR0 would do to EFER.LMA (the processor runs with paging on either way).
      let efer = this.r64('save.efer') | (this.hiddenLme ? BigInt(EFER.LME) : 0n);
      this.hiddenLme = false;
      if (paging && (efer & BigInt(EFER.LME)) !== 0n) efer |= BigInt(EFER.LMA);
      else if (!paging) {
        efer &= ~BigInt(EFER.LMA);
        if ((efer & BigInt(EFER.LME)) !== 0n) {
          this.hiddenLme = true;
          efer &= ~BigInt(EFER.LME);
        }
      }
      this.w64('save.efer', efer);
    }
    this.gcr0 = v;
    this.w64('save.cr0', this.realCr0(v));
    return sh.sync('mode');
  }

  /** The guest's EFER without SVME, which VMRUN requires in the VMCB but the guest never set. */
  efer(): bigint {
    const v = this.inCpu ? BigInt(this.cpu.state.efer >>> 0) : this.r64('save.efer');
    return (v & ~BigInt(EFER.SVME)) | (this.hiddenLme ? BigInt(EFER.LME) : 0n);
  }

  setEfer(v: bigint): void {
    if (this.inCpu) throw new Error('setEfer while the guest is in the CPU');
    this.hiddenLme = this.shadow !== null && (this.gcr0 & BigInt(CR0.PG)) === 0n && (v & BigInt(EFER.LME)) !== 0n;
    this.w64('save.efer', (this.hiddenLme ? v & ~BigInt(EFER.LME) : v) | BigInt(EFER.SVME));
    const why = this.shadow?.sync('mode') ?? null;
    if (why !== null) throw new Error(why);
  }

  /**
   * Maps guest-physical [gpa, gpa + size) to the host-physical MMIO at `hpa` in the NPT (an
   * assigned device's BAR, hv/devio.ts), or unmaps it (`hpa` null), then invalidates as after a
   * pass-through: the processor may hold the old translation.
   */
  mapMmio(gpa: number, size: number, hpa: number | null): void {
    if (this.map === null) throw new Error('mapMmio: no nested paging');
    mapDirect(this.cpu.mem, this.map, gpa, size, hpa);
    this.afterPassThrough();
  }

  passThroughMmio(gpaPages: readonly number[], mmio: MmioHandler, records: MmioRecord[]): BackendRun {
    if (this.map === null) throw new Error('passThroughMmio: no nested paging');
    return passThrough(this.cpu.mem, this.map, gpaPages, mmio, records, () => this.afterPassThrough(), () => this.enter(1));
  }

  /**
   * After the MMIO pass-through the guest may have cached the window's translation. Still in the
   * processor (the run ended on its budget): its own ASID's entries go, as the lab's device. After
   * the #VMEXIT with tags: the next VMRUN flushes this ASID (TLB_CONTROL 3, what KVM does when its
   * nested tables change). Untagged, the next VMRUN flushes everything anyway.
   */
  private afterPassThrough(): void {
    if (this.inCpu) this.cpu.tlbFlushAll(true);
    else if (this.tlbTags) this.requestTlbControl(TlbControl.FLUSH_ASID);
  }

  /** Asks the next VMRUN for a TLB_CONTROL flush of this ASID (3 wins over 7). */
  private requestTlbControl(v: number): void {
    const next = this.pendingTlbControl === TlbControl.FLUSH_ASID ? TlbControl.FLUSH_ASID : v;
    if (next === this.pendingTlbControl) return;
    this.pendingTlbControl = next;
    this.vmcb.write('tlb_ctl', next);
    this.accesses.list.push({ op: 'write', field: 'tlb_ctl', value: BigInt(next) });
    this.ledger.charge({ kind: 'vmcb-write' });
  }

  invalidateGuest(scope: 'page' | 'non-global' | 'all', linear = 0n): string {
    if (!this.tlbTags) return 'nothing to do: TLB_CONTROL 1 flushes every ASID at the next VMRUN (untagged)';
    if (this.inCpu) throw new Error('invalidateGuest while the guest is in the CPU');
    if (scope === 'page') {
      // INVLPGA rAX = the address, ECX = the guest's ASID (the host runs it in 64-bit mode).
      this.ledger.charge({ kind: 'tlb-flush' });
      const o = this.svm.invlpga(toU64(linear), this.asid, 64);
      if (o.kind === 'fault') throw new Error(`INVLPGA: ${o.why}`);
      return `INVLPGA 0x${linear.toString(16)} for ASID ${this.asid}`;
    }
    // APM 15.16.1: MOV to CR3 emulated by flushing the ASID's non-global entries (7), a CR0/CR4 change by all of them (3).
    this.requestTlbControl(scope === 'all' ? TlbControl.FLUSH_ASID : TlbControl.FLUSH_ASID_LOCAL);
    return `TLB_CONTROL ${this.pendingTlbControl} at the next VMRUN for ASID ${this.asid}`;
  }

  /** The guest's TSC: the processor's (the host's, after the exit) plus TSC_OFFSET, which VMRUN always applies. */
  guestTsc(): bigint {
    return BigInt.asUintN(64, BigInt(this.cpu.state.tsc) + BigInt.asIntN(64, this.r64('tsc_offset')));
  }

  passThroughOnce(port: number, size: 1 | 2 | 4, ports: PortHandler): BackendRun {
    const mem = this.cpu.mem;
    const iopm = this.vmcb.pa + 0x1000;
    const last = Math.min(port + size - 1, 0x10002);
    for (let p = port; p <= last; p++) setIopmBit(mem, iopm, p, false);
    const saved = this.cpu.io;
    this.cpu.io = ports;
    try {
      return this.enter(1);
    } finally {
      this.cpu.io = saved;
      for (let p = port; p <= last; p++) setIopmBit(mem, iopm, p, true);
    }
  }

  report(): { gpr: bigint[]; rip: bigint; rflags: bigint; cr0: bigint; cr3: bigint; cr4: bigint } {
    const st = this.cpu.state;
    const reg = (n: number): bigint => (BigInt(st.regHi[n]! >>> 0) << 32n) | BigInt(st.regLo[n]! >>> 0);
    const gpr = Array.from({ length: 16 }, (_, n) => reg(n));
    if (this.inCpu) {
      this.cpu.syncFlags();
      if (this.shadow !== null) return { gpr, rip: (BigInt(st.ripHi >>> 0) << 32n) | BigInt(st.ripLo >>> 0), rflags: BigInt(st.rflags >>> 0), cr0: this.gcr0, cr3: this.gcr3, cr4: this.gcr4 };
      return {
        gpr, rip: (BigInt(st.ripHi >>> 0) << 32n) | BigInt(st.ripLo >>> 0), rflags: BigInt(st.rflags >>> 0),
        cr0: BigInt(st.cr0 >>> 0), cr3: (BigInt(st.cr3Hi >>> 0) << 32n) | BigInt(st.cr3Lo >>> 0), cr4: BigInt(st.cr4 >>> 0),
      };
    }
    const v = this.vmcb;
    gpr[0] = big(v.read64('save.rax'));
    gpr[4] = big(v.read64('save.rsp'));
    if (this.shadow !== null) return { gpr, rip: big(v.read64('save.rip')), rflags: big(v.read64('save.rflags')), cr0: this.gcr0, cr3: this.gcr3, cr4: this.gcr4 };
    return {
      gpr, rip: big(v.read64('save.rip')), rflags: big(v.read64('save.rflags')),
      cr0: big(v.read64('save.cr0')), cr3: big(v.read64('save.cr3')), cr4: big(v.read64('save.cr4')),
    };
  }

  inject(ev: HvEvent): void {
    const e = encodeEvent({
      valid: true, vector: ev.vector, type: ev.type === 'exception' ? EventType.EXCEPTION : EventType.INTR,
      ...(ev.errorCode !== undefined ? { errorCode: ev.errorCode } : {}),
    });
    this.w64('event_inj', big(e));
  }

  // ---- for the time-travelling machine (hv-machine.ts) ----

  /** Called at each VMRUN (the trace's vm/entry); null: nobody listens. */
  onEntry: ((instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN', failed: string[] | null) => void) | null = null;

  /** Whether the guest is in the CPU now. */
  get loaded(): boolean {
    return this.inCpu;
  }
}
