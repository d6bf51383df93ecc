/**
 * The hypervisor's VT-x backend: VMXON, one VMCS filled by VMWRITE, VMLAUNCH/VMRESUME and VM exits
 * through vmx/run.ts, every exit normalised for the core (types.ts) with its basic exit reason,
 * qualification and exit-information fields kept. Every VMREAD and VMWRITE is recorded and charged
 * (`vmread`, `vmwrite`); registers the hypervisor keeps in software are recorded as `gpr.*`.
 *
 * Where the guest's state lives between exits (SDM Vol. 3C, 25.4): RSP, RIP, RFLAGS, CR0, CR3, CR4,
 * the segments, EFER (with the "save/load IA32_EFER" controls), FS/GS base and the SYSENTER MSRs
 * in the VMCS; RAX and the other general registers and CR2 stay in the processor, where a real
 * hypervisor saves them in software (here they simply stay in `cpu.state`).
 *
 * Nested paging (the default, `nested: true`): "enable EPT" with an EPTP (4-level walk, write-back)
 * pointing at the hypervisor's own tables (nested-map.ts), which map guest-physical [0,
 * guestRam.size) to host-physical [guestRam.hpaBase, …) and nothing else, and "unrestricted guest",
 * so the guest runs with its own CR0, CR3 and CR4 as it set them, paging on or off, protection on
 * or off. A guest access outside the map is an EPT violation (exit 48): outside the guest's RAM it
 * is MMIO for the hypervisor core; an EPT misconfiguration (49) or a violation inside the guest's
 * RAM ends the VM with an error. The guest/host masks then own only CR0.NE and CR4.VMXE (which VMX
 * operation fixes to 1; the read shadows give the guest its own values).
 *
 * Without nested paging (`nested: false`): shadow paging (shadow.ts). VMX operation fixes CR0.PE,
 * CR0.NE, CR0.PG and CR4.VMXE to 1 and unrestricted guest needs EPT, so the hypervisor owns PE,
 * NE, PG and WP of CR0 and VMXE, PSE and PAE of CR4 through the guest/host masks (SDM Vol. 3C,
 * 25.6.6; the read shadows give the guest its own values). GUEST_CR3 is the shadow root; the
 * guest's CR3 is kept in software with CR3-load and CR3-store exiting (25.6.2); #PF exits
 * (exception bitmap bit 14) and INVLPG exits. Underneath: paging always on, CR0.WP = 1, CR4.PAE as
 * the shadow's format needs (32-bit shadow tables for a guest with 32-bit paging or none, 4-level
 * for an IA-32e guest). A MOV to CR0 that turns paging on or off sets EFER.LMA and the "IA-32e
 * mode guest" control as the processor would; a guest clearing CR0.PE is not supported (it would
 * need real-mode emulation): the VM ends with an error. The guest's RAM is at host-physical
 * [guestRam.hpaBase, …) and the area and the shadow pool lie outside it, as under EPT.
 *
 * The area (VMX_AREA_SIZE, 4-KByte aligned, in host RAM outside the guest's RAM): the VMXON
 * region, the VMCS, a page no longer used, a 64-bit host's page tables
 * (PML4, PDPT, PD: the first GiB in 2-MByte pages), which no host instruction uses but VM exits
 * load, the I/O bitmaps A and B (every bit set: every port exits; one bit is cleared only while
 * `passThroughOnce` runs a string I/O instruction), and the nested tables.
 *
 * Controls: those in REQUIRED_CONTROLS, and the optional exits of EXIT_OPTIONS (HLT exiting by
 * default; RDTSC exiting, INVLPG exiting, CR3-load and CR3-store exiting, the exception bitmap).
 * No MSR bitmaps: every RDMSR and WRMSR exits (with `posted`, an MSR bitmap lets only the x2APIC
 * EOI write through, for the processor to virtualize).
 */
import { enterAside, fieldLog, takeFields } from './field-log.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { SegAttr, type SegmentCache } from '../cpu/state.ts';
import { Seg } from '../cpu/insn.ts';
import { CR0, CR4, EFER, isCanonical } from '../cpu/sys-util.ts';
import { MSR, PHYS_HI_MASK } from '../cpu/sys-ctl.ts';
import type { Ledger } from '../cost/ledger.ts';
import type { MmioHandler } from '../mem/physmem.ts';
import { CONTROL_BITS, Entry, Exit, Pin, Primary, Secondary, TRUE_ALLOWED, VMCS_REVISION, type ControlField } from '../vmx/controls.ts';
import { encodeEptp } from '../vmx/ept.ts';
import { exitReasonInfo, ExitReason } from '../vmx/exit-reasons.ts';
import { enc } from '../vmx/fields.ts';
import { decodeCrAccess, decodeEptViolation, decodeInterruptionInfo, decodeIo, encodeInterruptionInfo, InterruptionType } from '../vmx/qualification.ts';
import { cpuProcessor, runGuest } from '../vmx/run.ts';
import { PI_DESC, VAPIC } from '../vmx/apicv.ts';
import { X2APIC_EOI_MSR } from './vlapic.ts';
import { Vmx } from '../vmx/vmx.ts';
import { INVEPT_TYPE, INVVPID_TYPE } from '../mmu/tlb.ts';
import {
  GPR_NAMES, type BackendRun, type ExitOptionControl, type FieldAccess, type HvBackend, type HvEvent, type HvExit, type HvExitDetail,
  type HvExitOptions, type PortHandler, type RequiredControl,
} from './types.ts';
import { buildHostTables, defaultGuestRam, type SvmIntercepts } from './svm-backend.ts';
import { buildNestedMap, isGuestRam, NESTED_TABLES_SIZE, mapDirect, nestedTablesSize, passThrough, type MmioRecord, type NestedMap, type NestedPageSize } from './nested-map.ts';
import { ShadowMmu, type ShadowFormat } from './shadow.ts';
import { MAXPHYADDR } from '../cpu/sys-ctl.ts';

const NESTED = 0x8000;
export const VMX_AREA_SIZE = NESTED + NESTED_TABLES_SIZE;
/** The area's size with `pageSize` nested pages for `guestRam` bytes (VMX_AREA_SIZE with 2-MByte pages; 4-KByte ones add their page tables). */
export const vmxAreaSize = (guestRam: number, pageSize: NestedPageSize = '2m'): number => NESTED + nestedTablesSize(guestRam, pageSize);

export interface VmxBackendOptions {
  area: number;
  ledger: Ledger;
  /** Exceptions (exception bitmap) to intercept; CR and MSR settings are the backend's own. */
  intercepts?: Pick<SvmIntercepts, 'exceptions'>;
  /** Nested paging: "enable EPT" and "unrestricted guest" (default true); false: shadow paging. */
  nested?: boolean;
  /** Without nested paging: the host-physical address of the shadow pool (SHADOW_POOL_SIZE bytes; default: right after the area). */
  shadowPool?: number;
  /** The guest's RAM under EPT: `size` bytes at guest-physical 0, at host-physical `hpaBase` (default: the 2-MByte pages below `area`, at 0). */
  guestRam?: { size: number; hpaBase?: number };
  /** Nested paging: the nested pages mapping the guest's RAM (default '2m'; '4k' makes the area larger, see vmxAreaSize). */
  nestedPageSize?: NestedPageSize;
  /** The optional exits (default: HLT only). */
  exits?: HvExitOptions;
  /**
   * Another backend's processor, already in VMX operation (host.ts: several VMCSs on one CPU). This
   * backend then does no VMXON: it VMCLEARs its own VMCS (in its area), makes it current with
   * VMPTRLD and fills it; `activate` makes it current again before the scheduler enters it.
   */
  vmx?: Vmx;
  /**
   * The multi-VM host's controls: external-interrupt exiting (the host's timer interrupts the
   * guest, exit 1), the VMX-preemption timer with "save VMX-preemption timer value" (the time
   * slice, exit 52; `setPreemptionTimer`). Default false.
   */
  hostControls?: boolean;
  /**
   * Tagged TLBs (issue 7): "enable VPID" with VIRTUAL_PROCESSOR_ID = `vpid`, so VM entries and exits
   * invalidate nothing and the hypervisor invalidates the guest's translations itself (INVVPID,
   * INVEPT). Default: on with nested paging; off without it (that path changes the guest's
   * translations behind its back, switching CR3 between the identity map and the guest's tables,
   * and relies on the flush at every entry and exit that VPID 0000H gets).
   */
  tlbTags?: boolean;
  /** The VPID with tags (default 1; 0 is the host's and VM entry refuses it, SDM 27.2.1.1). */
  vpid?: number;
  /**
   * Posted interrupts (SDM Vol. 3C 30.6; with `hostControls`): three 4-KByte pages at host-physical
   * `page`, outside the guest's RAM, hold the virtual-APIC page, the MSR bitmap (every MSR exits
   * but writes of the x2APIC EOI register, 80BH, which the processor virtualizes) and the
   * posted-interrupt descriptor (NV = `notificationVector`, NDST = APIC ID 0). The VMCS gets "use TPR
   * shadow", "use MSR bitmaps", "virtualize x2APIC mode", "virtual-interrupt delivery", "process
   * posted interrupts" and "acknowledge interrupt on exit".
   */
  posted?: { page: number; notificationVector: number };
}

/** Offsets in the posted-interrupt pages (VmxBackendOptions.posted). */
export const POSTED_PAGES = { VIRTUAL_APIC: 0, MSR_BITMAP: 0x1000, DESCRIPTOR: 0x2000, SIZE: 0x3000 } as const;

/** The backend's own bookkeeping, as plain data (the VMCS itself is in memory). */
export interface VmxBackendState {
  inCpu: boolean;
  launched: boolean;
  cr3Shadow: string;
  cr0Shadow: string;
  cr4Shadow: string;
}

const FIELD_OF: Record<ControlField, string> = {
  pin: 'PIN_BASED_VM_EXEC_CONTROL', primary: 'CPU_BASED_VM_EXEC_CONTROL', secondary: 'SECONDARY_VM_EXEC_CONTROL',
  exit: 'VM_EXIT_CONTROLS', entry: 'VM_ENTRY_CONTROLS',
};
const ctl = (f: ControlField, name: string): { field: string; bit: number; name: string } => {
  const c = CONTROL_BITS[f].find((x) => x.name === name);
  if (c === undefined) throw new Error(`no ${f} control ${name}`);
  return { field: FIELD_OF[f], bit: c.bit, name: c.title };
};
const option = (o: ExitOptionControl['option'], f: ControlField, ...names: string[]): ExitOptionControl => {
  const cs = names.map((n) => ctl(f, n));
  return { option: o, field: FIELD_OF[f], bits: cs.map((c) => c.bit), names: cs.map((c) => c.name) };
};

/** The optional exits as VT-x controls (SDM Vol. 3C, Table 25-6 and 25.6.3): field, bit, the SDM's name. */
export const EXIT_OPTIONS: readonly ExitOptionControl[] = [
  option('hlt', 'primary', 'HLT_EXITING'),
  option('rdtsc', 'primary', 'RDTSC_EXITING'),
  option('invlpg', 'primary', 'INVLPG_EXITING'),
  option('cr3', 'primary', 'CR3_LOAD_EXITING', 'CR3_STORE_EXITING'),
  { option: 'exceptions', field: 'EXCEPTION_BITMAP', bits: Array.from({ length: 32 }, (_, i) => i), names: Array.from({ length: 32 }, (_, i) => `Exception bitmap bit ${i}`) },
];

/** The controls the hypervisor sets itself on VT-x (besides the default1 bits the TRUE capability MSRs require), with why. */
export const REQUIRED_CONTROLS: readonly RequiredControl[] = [
  { ...ctl('primary', 'USE_IO_BITMAPS'), why: 'I/O bitmaps with every bit set: every port is forwarded', when: 'always' },
  { ...ctl('primary', 'ACTIVATE_SECONDARY_CONTROLS'), why: 'the secondary controls hold "enable EPT" and "unrestricted guest"', when: 'nested' },
  { ...ctl('secondary', 'ENABLE_EPT'), why: 'enable EPT: nested paging through the hypervisor\u2019s map (EPTP)', when: 'nested' },
  { ...ctl('secondary', 'UNRESTRICTED_GUEST'), why: 'the guest runs with paging or protection off, as it set CR0', when: 'nested' },
  { ...ctl('secondary', 'ENABLE_VPID'), why: 'enable VPID: the guest\u2019s translations are tagged, so entries and exits flush nothing', when: 'tlb-tags' },
  { ...ctl('primary', 'CR3_LOAD_EXITING'), why: 'shadow paging: the processor\u2019s CR3 is the shadow root, the guest\u2019s is kept in software', when: 'no-nested' },
  { ...ctl('primary', 'CR3_STORE_EXITING'), why: 'shadow paging: the guest reads its own CR3, not the shadow root', when: 'no-nested' },
  { ...ctl('primary', 'INVLPG_EXITING'), why: 'shadow paging: the guest\u2019s INVLPG zaps the shadow entry', when: 'no-nested' },
  { field: 'EXCEPTION_BITMAP', bit: 14, name: 'Exception bitmap bit 14', why: 'shadow paging: #PF exits, to fill the shadow (hidden fault) or reflect (true fault)', when: 'no-nested' },
  { ...ctl('exit', 'HOST_ADDRESS_SPACE_SIZE'), why: 'the host is 64-bit', when: 'always' },
  { ...ctl('exit', 'SAVE_IA32_EFER'), why: 'the guest\u2019s EFER is kept in the VMCS across exits', when: 'always' },
  { ...ctl('exit', 'LOAD_IA32_EFER'), why: 'the host\u2019s EFER (LME, LMA) is loaded at each exit', when: 'always' },
  { ...ctl('entry', 'LOAD_IA32_EFER'), why: 'the guest\u2019s EFER is loaded at each entry', when: 'always' },
  { ...ctl('entry', 'IA32E_MODE_GUEST'), why: 'the guest is in IA-32e mode (EFER.LMA = 1)', when: 'long-guest' },
];

const SEGS = [['ES', Seg.ES], ['CS', Seg.CS], ['SS', Seg.SS], ['DS', Seg.DS], ['FS', Seg.FS], ['GS', Seg.GS]] as const;
/** MSRs VM entry and exit switch through the VMCS (so the guest's value is a field, not the processor's). */
const VMCS_MSRS = new Map<number, string>([
  [MSR.IA32_FS_BASE, 'GUEST_FS_BASE'], [MSR.IA32_GS_BASE, 'GUEST_GS_BASE'], [MSR.IA32_SYSENTER_CS, 'GUEST_SYSENTER_CS'],
  [MSR.IA32_SYSENTER_ESP, 'GUEST_SYSENTER_ESP'], [MSR.IA32_SYSENTER_EIP, 'GUEST_SYSENTER_EIP'],
]);

/** A segment register in the VMCS's access-rights form (bit 16: unusable). */
function arOf(c: SegmentCache): bigint {
  return BigInt(((c.attr & 0xf0ff) | (c.valid ? 0 : 0x10000)) >>> 0);
}

const reg64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

export class VmxBackend implements HvBackend {
  readonly vendor = 'intel' as const;
  readonly id = 'vmx';
  readonly vmx: Vmx;
  private readonly ledger: Ledger;
  private accesses = fieldLog();
  private inCpu = false;
  private launched = false;
  /** The guest's CR3 as it set it (shadow paging; under EPT the VMCS's GUEST_CR3). */
  private cr3Shadow: bigint;
  /** The shadow MMU without nested paging (shadow.ts), null under EPT. */
  readonly shadow: ShadowMmu | null;
  /** Construction: VMCS writes are not the hypervisor's logged work yet. */
  private quiet = true;
  /**
   * Shadow paging: the guest set EFER.LME while its paging is off. The processor runs it with
   * paging on, and VM entry requires LME = LMA when CR0.PG = 1 (SDM Vol. 3C 27.3.1.1), so LME is
   * kept here until the guest turns paging on (then LMA is set, as its own MOV to CR0 would).
   */
  private hiddenLme = false;
  private readonly ioBitmaps: number;
  /** Copies of the read shadows (what the hypervisor last wrote), for a report while the guest is loaded. */
  private cr0Shadow: bigint;
  private cr4Shadow: bigint;
  readonly nested: boolean;
  /** `mapMmio` changed the EPT while another vCPU's VMCS was current: INVEPT before this vCPU's next entry. */
  pendingInvept = false;
  /** The EPT tables (null without nested paging): built once, changed only inside `passThroughMmio` and by `mapMmio`. */
  readonly map: NestedMap | null;
  /** The CR0 and CR4 bits the hypervisor owns (guest/host masks). */
  private readonly cr0Mask: number;
  private readonly cr4Mask: number;
  /** The optional exits in force (fixed at construction). */
  private readonly exitOpts: { hlt: boolean; rdtsc: boolean; invlpg: boolean; cr3: boolean };
  /** This backend's VMCS (host-physical). */
  readonly vmcs: number;
  private readonly hostControls: boolean;
  /** Tagged TLBs: "enable VPID" with `vpid` (VmxBackendOptions.tlbTags). */
  readonly tlbTags: boolean;
  readonly vpid: number;
  /** Posted interrupts: the pages (VmxBackendOptions.posted), else null. */
  readonly posted: { page: number; notificationVector: number } | null;

  constructor(
    readonly cpu: Cpu,
    opts: VmxBackendOptions,
  ) {
    const { area } = opts;
    if (area % 0x1000 !== 0 || area < 0) throw new RangeError(`VMX area ${area} is not 4-KByte aligned`);
    this.ledger = opts.ledger;
    const mem = cpu.mem;
    const st = cpu.state;
    const vmxon = area;
    const vmcs = area + 0x1000;
    this.vmcs = vmcs;
    this.hostControls = opts.hostControls === true;
    this.posted = opts.posted ?? null;
    const pml4 = area + 0x3000;
    this.nested = opts.nested ?? true;
    const ram = { ...defaultGuestRam(area), ...opts.guestRam };
    const areaSize = this.nested ? vmxAreaSize(ram.size, opts.nestedPageSize) : VMX_AREA_SIZE;
    if (area < ram.hpaBase + ram.size && area + areaSize > ram.hpaBase) throw new RangeError('VMX area: inside the guest\u2019s RAM (the guest would reach it)');
    if (this.nested) {
      this.map = buildNestedMap(mem, area + NESTED, ram.size, ram.hpaBase ?? 0, 'ept', opts.nestedPageSize);
      this.shadow = null;
    } else {
      this.map = null;
      this.shadow = new ShadowMmu({
        pool: opts.shadowPool ?? area + VMX_AREA_SIZE, guestRam: { size: ram.size, hpaBase: ram.hpaBase ?? 0 },
        host: {
          mem, maxPhysAddr: MAXPHYADDR, page1gb: cpu.features.page1gb !== false,
          guestRegs: () => ({
            cr0: Number(this.cr0Shadow & 0xffffffffn), cr3: Number(this.cr3Shadow), cr4: Number(this.cr4Shadow & 0xffffffffn),
            // While the guest is loaded (a view between exits), VMREAD is not available: the processor holds its EFER.
            efer: this.loaded ? cpu.state.efer >>> 0 : Number(this.read('GUEST_IA32_EFER', false) & 0xffffffffn),
          }),
          loadRoot: (root: number, format: ShadowFormat) => {
            this.format = format;
            this.write('GUEST_CR3', BigInt(root), !this.quiet);
            this.write('GUEST_CR4', this.realCr4(this.cr4Shadow), !this.quiet);
          },
          enterOnce: () => this.enter(1),
          flushTlb: () => this.cpu.tlbFlushAll(true),
        },
      });
    }
    this.tlbTags = opts.tlbTags ?? this.nested;
    // The shadow MMU invalidates by flushing from the host (shadow.ts flushTlb) and relies on the
    // flush at each world switch: without VPID, every entry is VPID 0000H's.
    if (this.tlbTags && this.shadow !== null) throw new RangeError('tagged TLBs (VPID) need nested paging here: shadow paging runs untagged');
    this.vpid = opts.vpid ?? 1;
    if (this.tlbTags && (!Number.isInteger(this.vpid) || this.vpid < 1 || this.vpid > 0xffff)) throw new RangeError(`VPID ${this.vpid}: 1 to FFFFH (0000H is the host's)`);
    this.cr0Mask = this.nested ? CR0.NE : (CR0.PE | CR0.NE | CR0.PG | CR0.WP) >>> 0;
    this.cr4Mask = this.nested ? CR4.VMXE : (CR4.VMXE | CR4.PSE | CR4.PAE) >>> 0;
    const ex = opts.exits ?? {};
    this.exitOpts = { hlt: ex.hlt !== false, rdtsc: ex.rdtsc === true, invlpg: ex.invlpg === true, cr3: ex.cr3 === true };
    buildHostTables(mem, pml4);
    // I/O bitmaps A and B: every port exits.
    this.ioBitmaps = area + 0x6000;
    for (let i = 0; i < 0x2000; i += 4) mem.write(this.ioBitmaps + i, 4, 0xffffffff);
    mem.write(vmxon, 4, VMCS_REVISION);
    mem.write(vmcs, 4, VMCS_REVISION);

    // The guest: the state the CPU holds now.
    cpu.syncFlags();
    const guestCr0 = BigInt(st.cr0 >>> 0);
    const guestCr4 = BigInt(st.cr4 >>> 0);
    const long = cpu.mode() === 'long64';
    this.cr3Shadow = reg64(st.cr3Lo, st.cr3Hi);
    this.cr0Shadow = guestCr0;
    this.cr4Shadow = guestCr4;
    const g: Record<string, bigint> = {};
    for (const [name, i] of SEGS) {
      const c = st.seg[i]!;
      g[`GUEST_${name}_SELECTOR`] = BigInt(c.selector);
      g[`GUEST_${name}_BASE`] = reg64(c.baseLo, c.baseHi);
      g[`GUEST_${name}_LIMIT`] = BigInt(c.limit >>> 0);
      g[`GUEST_${name}_AR_BYTES`] = arOf(c);
    }
    for (const [name, c] of [['LDTR', st.ldtr], ['TR', st.tr]] as const) {
      g[`GUEST_${name}_SELECTOR`] = BigInt(c.selector);
      g[`GUEST_${name}_BASE`] = reg64(c.baseLo, c.baseHi);
      g[`GUEST_${name}_LIMIT`] = BigInt(c.limit >>> 0);
      g[`GUEST_${name}_AR_BYTES`] = arOf(c);
    }
    Object.assign(g, {
      GUEST_GDTR_BASE: reg64(st.gdtr.baseLo, st.gdtr.baseHi), GUEST_GDTR_LIMIT: BigInt(st.gdtr.limit),
      GUEST_IDTR_BASE: reg64(st.idtr.baseLo, st.idtr.baseHi), GUEST_IDTR_LIMIT: BigInt(st.idtr.limit),
      GUEST_CR0: this.realCr0(guestCr0), GUEST_CR3: this.cr3Shadow, GUEST_CR4: this.realCr4(guestCr4),
      CR0_GUEST_HOST_MASK: BigInt(this.cr0Mask), CR0_READ_SHADOW: guestCr0, CR4_GUEST_HOST_MASK: BigInt(this.cr4Mask), CR4_READ_SHADOW: guestCr4,
      GUEST_IA32_EFER: BigInt(st.efer >>> 0), GUEST_DR7: 0x400n, GUEST_RFLAGS: BigInt(st.rflags >>> 0),
      GUEST_RIP: reg64(st.ripLo, st.ripHi), GUEST_RSP: reg64(st.regLo[4]!, st.regHi[4]!),
      VMCS_LINK_POINTER: 0xffffffffffffffffn,
    });
    let exceptionBitmap = 0;
    for (const v of [...(opts.intercepts?.exceptions ?? []), ...(ex.exceptions ?? []), ...(this.nested ? [] : [14])]) exceptionBitmap |= 1 << v;
    const hc = this.hostControls;
    const controls: Record<string, bigint> = {
      PIN_BASED_VM_EXEC_CONTROL: BigInt((TRUE_ALLOWED.pin.must1 | (hc ? Pin.EXTERNAL_INTERRUPT_EXITING! | Pin.ACTIVATE_PREEMPTION_TIMER! : 0)) >>> 0),
      // No MSR bitmaps: every RDMSR/WRMSR exits; every port I/O exits.
      CPU_BASED_VM_EXEC_CONTROL: BigInt(this.primary()),
      VM_EXIT_CONTROLS: BigInt((TRUE_ALLOWED.exit.must1 | Exit.HOST_ADDRESS_SPACE_SIZE! | Exit.SAVE_IA32_EFER! | Exit.LOAD_IA32_EFER! | (hc ? Exit.SAVE_PREEMPTION_TIMER_VALUE! : 0)) >>> 0),
      VM_ENTRY_CONTROLS: BigInt((TRUE_ALLOWED.entry.must1 | Entry.LOAD_IA32_EFER! | (long ? Entry.IA32E_MODE_GUEST! : 0)) >>> 0),
      EXCEPTION_BITMAP: BigInt(exceptionBitmap >>> 0),
      // Written though 0 is their initial value: with mask = match = 0 every #PF the bitmap's bit 14 selects exits (SDM Vol. 3C 25.2).
      PAGE_FAULT_ERROR_CODE_MASK: 0n, PAGE_FAULT_ERROR_CODE_MATCH: 0n,
      IO_BITMAP_A: BigInt(this.ioBitmaps), IO_BITMAP_B: BigInt(this.ioBitmaps + 0x1000),
    };
    let secondary = 0;
    if (this.map !== null) {
      secondary |= Secondary.ENABLE_EPT! | Secondary.UNRESTRICTED_GUEST!;
      controls.EPT_POINTER = encodeEptp({ root: this.map.root, memType: 6, walkLength: 4, accessedDirty: false });
    }
    if (this.tlbTags) {
      secondary |= Secondary.ENABLE_VPID!;
      controls.VIRTUAL_PROCESSOR_ID = BigInt(this.vpid);
    }
    if (this.posted !== null) {
      const p = this.posted;
      if (!hc) throw new RangeError('posted interrupts need the host controls (external-interrupt exiting)');
      if (p.page % 0x1000 !== 0 || (p.page < ram.hpaBase + ram.size && p.page + POSTED_PAGES.SIZE > ram.hpaBase)) throw new RangeError('posted-interrupt pages: 4-KByte aligned, outside the guest\u2019s RAM');
      for (let i = 0; i < POSTED_PAGES.SIZE; i += 4) mem.write(p.page + i, 4, 0);
      const bitmap = p.page + POSTED_PAGES.MSR_BITMAP;
      for (let i = 0; i < 0x1000; i += 4) mem.write(bitmap + i, 4, 0xffffffff);
      // The write bitmap for low MSRs starts at byte 800H (SDM Vol. 3C 25.6.9): clear 80BH's bit.
      const at = bitmap + 0x800 + (X2APIC_EOI_MSR >>> 3);
      mem.write8(at, mem.read8(at) & ~(1 << (X2APIC_EOI_MSR & 7)));
      const desc = p.page + POSTED_PAGES.DESCRIPTOR;
      mem.write8(desc + PI_DESC.NV, p.notificationVector);
      mem.write(desc + PI_DESC.NDST, 4, 0); // xAPIC: APIC ID 0 in bits 15:8
      // SN until the scheduler first puts the vCPU on the CPU (as KVM does at a vCPU's reset).
      mem.write8(desc + PI_DESC.CONTROL, 1 << PI_DESC.SN_BIT);
      controls.PIN_BASED_VM_EXEC_CONTROL = controls.PIN_BASED_VM_EXEC_CONTROL! | BigInt(Pin.PROCESS_POSTED_INTERRUPTS!);
      controls.VM_EXIT_CONTROLS = controls.VM_EXIT_CONTROLS! | BigInt(Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT!);
      secondary |= Secondary.VIRTUALIZE_X2APIC_MODE! | Secondary.VIRTUAL_INTERRUPT_DELIVERY!;
      Object.assign(controls, {
        VIRTUAL_APIC_PAGE_ADDR: BigInt(p.page + POSTED_PAGES.VIRTUAL_APIC), MSR_BITMAP: BigInt(bitmap),
        POSTED_INTR_NV: BigInt(p.notificationVector), POSTED_INTR_DESC_ADDR: BigInt(desc), GUEST_INTR_STATUS: 0n,
        EOI_EXIT_BITMAP0: 0n, EOI_EXIT_BITMAP1: 0n, EOI_EXIT_BITMAP2: 0n, EOI_EXIT_BITMAP3: 0n, TPR_THRESHOLD: 0n,
      });
    }
    if (secondary !== 0) controls.SECONDARY_VM_EXEC_CONTROL = BigInt(secondary >>> 0);
    // The host: 64-bit, CPL 0, paging through its own tables, CR4.VMXE (what VMXON requires).
    const hostCr0 = 0x80050033;
    const hostCr4 = (CR4.PAE | CR4.VMXE) >>> 0;
    const host: Record<string, bigint> = {
      HOST_CR0: BigInt(hostCr0), HOST_CR3: BigInt(pml4), HOST_CR4: BigInt(hostCr4), HOST_IA32_EFER: BigInt(EFER.LME | EFER.LMA),
      HOST_CS_SELECTOR: 0x08n, HOST_SS_SELECTOR: 0x10n, HOST_DS_SELECTOR: 0x10n, HOST_ES_SELECTOR: 0x10n,
      HOST_FS_SELECTOR: 0x10n, HOST_GS_SELECTOR: 0x10n, HOST_TR_SELECTOR: 0x18n,
      HOST_RIP: 0n, HOST_RSP: BigInt(area + 0x1000),
    };
    st.cr0 = hostCr0;
    st.cr4 = hostCr4;
    st.efer = (EFER.LME | EFER.LMA) >>> 0;
    st.cr3Lo = pml4;
    st.cr3Hi = 0;
    const cs = st.seg[Seg.CS]!;
    cs.selector = 8;
    cs.attr = (0xb | SegAttr.S | SegAttr.P | SegAttr.G | SegAttr.L) >>> 0;
    cpu.modeChanged();
    this.vmx = opts.vmx ?? new Vmx(cpuProcessor(cpu));
    const setup = opts.vmx !== undefined ? [] : [this.vmx.vmxon(BigInt(vmxon))];
    for (const o of [...setup, this.vmx.vmclear(BigInt(vmcs)), this.vmx.vmptrld(BigInt(vmcs))]) {
      if (o.kind !== 'succeed') throw new Error(`VMX setup: ${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    }
    for (const [name, v] of Object.entries({ ...controls, ...host, ...g })) this.write(name, v, false);
    if (this.shadow !== null && (st.cr0 & CR0.PG) === 0 && (st.efer & EFER.LME) !== 0) {
      this.hiddenLme = true;
      this.write('GUEST_IA32_EFER', BigInt((st.efer & ~EFER.LME) >>> 0), false);
    }
    if (this.shadow !== null) {
      const why = this.shadow.sync('start');
      if (why !== null) throw new RangeError(why);
    }
    this.quiet = false;
  }

  /** The shadow's format underneath (what CR4.PAE the processor runs the guest with). */
  private format: ShadowFormat = '32bit';

  /**
   * Posted interrupts, while this vCPU is off the processor: SN (suppress notification, bit 257 of the
   * descriptor) set, so that the IOMMU records vectors in PIR without sending the notification to a
   * processor running someone else; cleared when it is back.
   */
  suppressNotifications(on: boolean): void {
    if (this.posted === null) return;
    const at = this.posted.page + POSTED_PAGES.DESCRIPTOR + PI_DESC.CONTROL;
    const c = this.cpu.mem.read8(at);
    this.cpu.mem.write8(at, on ? c | (1 << PI_DESC.SN_BIT) : c & ~(1 << PI_DESC.SN_BIT));
  }

  /**
   * Before an entry with posted interrupts: vectors posted while the vCPU was away (PIR: with SN set
   * no notification came; halted, the notification went to whichever vCPU ran) move to the virtual
   * APIC's VIRR and RVI (GUEST_INTR_STATUS), ON cleared first, as KVM's sync_pir_to_irr does; VM
   * entry then evaluates them (SDM 27.3.2.5). Returns the vectors moved.
   */
  syncPosted(): number[] {
    if (this.posted === null) return [];
    const mem = this.cpu.mem;
    const desc = this.posted.page + POSTED_PAGES.DESCRIPTOR;
    const vapic = this.posted.page + POSTED_PAGES.VIRTUAL_APIC;
    const moved: number[] = [];
    // ON first, then PIR word by word (the order that leaves a later post its notification).
    const c = mem.read8(desc + PI_DESC.CONTROL);
    mem.write8(desc + PI_DESC.CONTROL, c & ~(1 << PI_DESC.ON_BIT));
    for (let i = 0; i < 8; i++) {
      const pir = mem.read(desc + i * 4, 4) >>> 0;
      if (pir === 0) continue;
      mem.write(desc + i * 4, 4, 0);
      const at = vapic + VAPIC.VIRR + i * 16;
      mem.write(at, 4, (mem.read(at, 4) | pir) >>> 0);
      for (let b = 0; b < 32; b++) if (((pir >>> b) & 1) !== 0) moved.push(i * 32 + b);
    }
    if (moved.length > 0) {
      const status = this.read('GUEST_INTR_STATUS');
      const rvi = Math.max(Number(status & 0xffn), ...moved);
      this.write('GUEST_INTR_STATUS', (status & 0xff00n) | BigInt(rvi));
    }
    return moved;
  }

  /**
   * Posted interrupts, for an idle vCPU (its VMCS need not be current: memory only): whether a
   * vector waits for it, in PIR (ON or not) or in its virtual APIC's VIRR with a class above VPPR's
   * (a notification processed while its IF was 0). KVM's pi_has_pending_interrupt, in spirit.
   */
  postedPending(): boolean {
    if (this.posted === null) return false;
    const mem = this.cpu.mem;
    const desc = this.posted.page + POSTED_PAGES.DESCRIPTOR;
    if ((mem.read8(desc + PI_DESC.CONTROL) & (1 << PI_DESC.ON_BIT)) !== 0) return true;
    for (let i = 0; i < 8; i++) if (mem.read(desc + i * 4, 4) !== 0) return true;
    const vapic = this.posted.page + POSTED_PAGES.VIRTUAL_APIC;
    const vppr = mem.read(vapic + VAPIC.VPPR, 4) & 0xff;
    for (let i = 7; i >= 0; i--) {
      const w = mem.read(vapic + VAPIC.VIRR + i * 16, 4) >>> 0;
      if (w !== 0) return (i * 32 + 31 - Math.clz32(w)) >>> 4 > vppr >>> 4;
    }
    return false;
  }

  private primary(): number {
    const o = this.exitOpts;
    const cr3 = this.shadow !== null || o.cr3 ? Primary.CR3_LOAD_EXITING! | Primary.CR3_STORE_EXITING! : 0;
    return (
      TRUE_ALLOWED.primary.must1 | Primary.USE_IO_BITMAPS! | cr3 |
      (o.hlt ? Primary.HLT_EXITING! : 0) | (o.rdtsc ? Primary.RDTSC_EXITING! : 0) | (o.invlpg || this.shadow !== null ? Primary.INVLPG_EXITING! : 0) |
      (this.nested || this.tlbTags || this.posted !== null ? Primary.ACTIVATE_SECONDARY_CONTROLS! : 0) |
      (this.posted !== null ? Primary.USE_TPR_SHADOW! | Primary.USE_MSR_BITMAPS! : 0)
    ) >>> 0;
  }

  /** The guest's CR0 as the processor holds it: NE always (VMX operation); under shadow paging PG and WP too. */
  private realCr0(guest: bigint): bigint {
    return guest | BigInt(CR0.NE) | (this.shadow !== null ? BigInt((CR0.PG | CR0.WP) >>> 0) : 0n);
  }

  /** The guest's CR4 as the processor holds it: VMXE always; under shadow paging PAE by the shadow's format, PSE off (4-KByte leaves). */
  private realCr4(guest: bigint): bigint {
    if (this.shadow !== null) return (guest & ~BigInt(CR4.PAE | CR4.PSE)) | BigInt(CR4.VMXE) | (this.format === '4level' ? BigInt(CR4.PAE) : 0n);
    return guest | BigInt(CR4.VMXE);
  }

  get steps(): number {
    return this.cpu.state.steps;
  }

  /**
   * VMPTRLD of this backend's VMCS: the scheduler makes it current before entering this vCPU. There
   * is one physical CPU, so a VMCS never moves between processors and needs no VMCLEAR on a switch
   * (the SDM asks for VMCLEAR before a VMCS is made current on another processor); its launch state
   * stays "launched" and the next entry is a VMRESUME.
   */
  activate(): void {
    if (this.inCpu) throw new Error('activate: the guest of the current VMCS is still in the processor');
    const o = this.vmx.vmptrld(BigInt(this.vmcs));
    if (o.kind !== 'succeed') throw new Error(`VMPTRLD 0x${this.vmcs.toString(16)}: ${o.kind}`);
  }

  /** The VMX-preemption timer's value for the next entry (the time slice left, in steps: the timer's rate is 0, one count per TSC increment). */
  setPreemptionTimer(steps: number): void {
    if (!this.hostControls) throw new Error('setPreemptionTimer: the backend has no host controls');
    this.write('VMX_PREEMPTION_TIMER_VALUE', BigInt(Math.max(0, Math.min(steps, 0xffffffff)) >>> 0));
  }

  /** RFLAGS.IF = 1, no blocking by STI or MOV SS (GUEST_INTERRUPTIBILITY_INFO bits 1:0), no event already in VM_ENTRY_INTR_INFO_FIELD. */
  interruptible(): boolean {
    if ((this.read('GUEST_RFLAGS') & 0x200n) === 0n) return false;
    if ((this.read('GUEST_INTERRUPTIBILITY_INFO') & 3n) !== 0n) return false;
    return (this.read('VM_ENTRY_INTR_INFO_FIELD') & 0x80000000n) === 0n;
  }

  /** Interrupt-window exiting (primary control bit 2): exit 7 at the first instruction boundary where the guest can take an interrupt. */
  setInterruptWindow(on: boolean): void {
    const cur = this.read('CPU_BASED_VM_EXEC_CONTROL');
    const bit = BigInt(Primary.INTERRUPT_WINDOW_EXITING!);
    this.write('CPU_BASED_VM_EXEC_CONTROL', on ? cur | bit : cur & ~bit);
  }

  /** The guest's RFLAGS for the host's scheduler (not the hypervisor's work: not logged or charged). */
  rflagsForHost(): number {
    return Number(this.read('GUEST_RFLAGS', false) & 0xffffffffn);
  }

  /** The backend's bookkeeping as plain data (the VMCS and the tables are in memory). */
  saveState(): VmxBackendState {
    return {
      inCpu: this.inCpu, launched: this.launched,
      cr3Shadow: this.cr3Shadow.toString(), cr0Shadow: this.cr0Shadow.toString(), cr4Shadow: this.cr4Shadow.toString(),
    };
  }

  loadState(s: VmxBackendState): void {
    this.inCpu = s.inCpu;
    this.launched = s.launched;
    this.cr3Shadow = BigInt(s.cr3Shadow);
    this.cr0Shadow = BigInt(s.cr0Shadow);
    this.cr4Shadow = BigInt(s.cr4Shadow);
    this.accesses = fieldLog();
  }

  // ---- VMREAD / VMWRITE, logged and charged ----

  private read(name: string, log = true): bigint {
    const o = this.vmx.vmread(enc(name));
    if (o.kind !== 'succeed') throw new Error(`VMREAD ${name}: ${o.kind}`);
    if (log) {
      this.accesses.list.push({ op: 'read', field: name, value: o.value });
      this.ledger.charge({ kind: 'vmread' });
    }
    return o.value;
  }

  private write(name: string, v: bigint, log = true): void {
    const o = this.vmx.vmwrite(enc(name), v);
    if (o.kind !== 'succeed') throw new Error(`VMWRITE ${name}: ${JSON.stringify(o)}`);
    if (log) {
      this.accesses.list.push({ op: 'write', field: name, value: v });
      this.ledger.charge({ kind: 'vmwrite' });
    }
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
      if (this.pendingInvept) {
        this.pendingInvept = false;
        this.invept();
      }
      this.ledger.charge({ kind: 'vm-entry' });
      const o = this.launched ? this.vmx.vmresume() : this.vmx.vmlaunch();
      const instr = this.launched ? 'VMRESUME' : 'VMLAUNCH';
      let failed: string[] | null = null;
      if (o.kind === 'entry-failed') failed = [`exit reason ${o.exitReason & 0xffff}: ${o.check.id ?? JSON.stringify(o.check)}`];
      else if (o.kind !== 'entered') failed = [`${instr}: ${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`];
      this.onEntry?.(instr, failed);
      if (failed !== null) return { kind: 'invalid', failed };
      this.launched = true;
      this.inCpu = true;
      // Without VPID the entry invalidated VPID 0000H's mappings (SDM 29.4.3.1): a flush to pay for.
      if (!this.tlbTags) this.ledger.charge({ kind: 'tlb-flush' });
    }
    const before = cpu.state.steps;
    const refsBefore = cpu.mmu.refs;
    const end = runGuest(this.vmx, cpu, budget);
    const native = cpu.state.steps - before;
    if (native > 0) this.ledger.charge({ kind: 'guest-insn', count: native });
    // The memory references of the guest's page walks (2D walks under nested paging).
    const refs = cpu.mmu.refs - refsBefore;
    if (refs > 0) this.ledger.charge({ kind: 'page-walk-ref', count: refs });
    if (end.kind === 'budget' || end.kind === 'halted') return end;
    this.inCpu = false;
    if (end.kind === 'abort') return { kind: 'shutdown' };
    this.ledger.charge({ kind: 'vm-exit', reason: end.reason & 0xffff });
    // And so did the exit.
    if (!this.tlbTags) this.ledger.charge({ kind: 'tlb-flush' });
    this.ledger.charge({ kind: 'hv-dispatch' });
    if ((end.reason & 0x80000000) !== 0) return { kind: 'invalid', failed: [`VM entry failed late: exit reason ${end.reason & 0xffff}`] };
    return { kind: 'exit', exit: this.readExit() };
  }

  /** The exit as the hypervisor reads it: VM_EXIT_REASON, GUEST_RIP, IDT-vectoring information, then what the reason needs. */
  private readExit(): HvExit {
    const raw: Record<string, bigint> = {};
    const reasonField = this.read('VM_EXIT_REASON');
    raw.exit_reason = reasonField;
    const code = Number(reasonField & 0xffffn);
    const rip = this.read('GUEST_RIP');
    const vect = this.read('IDT_VECTORING_INFO_FIELD');
    raw.idt_vectoring_info = vect;
    const qual = (): bigint => (raw.exit_qualification = this.read('EXIT_QUALIFICATION'));
    const name = `EXIT_REASON_${exitReasonInfo(code)?.name ?? code}`;
    const R = ExitReason;
    let detail: HvExitDetail;
    if (code === R.CPUID) detail = { kind: 'cpuid' };
    else if (code === R.EXTERNAL_INTERRUPT) {
      const info = this.read('VM_EXIT_INTR_INFO');
      raw.vm_exit_intr_info = info;
      detail = (info & 0x80000000n) !== 0n ? { kind: 'external-interrupt', vector: Number(info & 0xffn) } : { kind: 'external-interrupt' };
    } else if (code === R.INTERRUPT_WINDOW) detail = { kind: 'interrupt-window' };
    else if (code === R.PREEMPTION_TIMER) detail = { kind: 'preemption-timer' };
    else if (code === R.HLT) detail = { kind: 'hlt' };
    else if (code === R.RDTSC) detail = { kind: 'rdtsc' };
    else if (code === R.INVLPG) detail = { kind: 'invlpg', linear: qual() };
    else if (code === R.EPT_VIOLATION) {
      const q = decodeEptViolation(Number(qual() & 0xffffffffn));
      const gpa = Number(raw.guest_physical_address = this.read('GUEST_PHYSICAL_ADDRESS'));
      if (this.map === null || isGuestRam(this.map, gpa)) detail = { kind: 'other', why: `EPT violation at guest-physical 0x${gpa.toString(16)}, inside the guest\u2019s RAM` };
      else detail = { kind: 'mmio', gpa, access: q.fetch ? 'fetch' : q.write ? 'write' : 'read', guestTable: q.linearValid && !q.translated };
    } else if (code === R.EPT_MISCONFIG) {
      const gpa = Number(raw.guest_physical_address = this.read('GUEST_PHYSICAL_ADDRESS'));
      detail = { kind: 'other', why: `EPT misconfiguration at guest-physical 0x${gpa.toString(16)}` };
    }
    else if (code === R.VMCALL) detail = { kind: 'hypercall' };
    else if (code === R.TRIPLE_FAULT) detail = { kind: 'triple-fault' };
    else if (code === R.IO_INSTRUCTION) {
      const io = decodeIo(Number(qual()));
      detail = { kind: 'io', dir: io.direction, port: io.port, size: io.size as 1 | 2 | 4, string: io.string, rep: io.rep };
    } else if (code === R.MSR_READ || code === R.MSR_WRITE) detail = { kind: 'msr', write: code === R.MSR_WRITE };
    else if (code === R.CR_ACCESS) {
      const q = decodeCrAccess(Number(qual()));
      const mov = q.access === 'mov-to-cr' || q.access === 'mov-from-cr';
      detail = { kind: 'cr', cr: q.cr, access: q.access === 'mov-from-cr' ? 'read' : 'write', gpr: mov ? q.gpr : null };
    } else if (code === R.EXCEPTION_NMI) {
      const info = decodeInterruptionInfo(Number(raw.vm_exit_intr_info = this.read('VM_EXIT_INTR_INFO')));
      const err = info.errorCodeValid ? Number(this.read('VM_EXIT_INTR_ERROR_CODE')) : null;
      const address = info.vector === 14 ? qual() : null;
      const v = decodeInterruptionInfo(Number(vect));
      const vErr = v.valid && v.errorCodeValid ? Number(this.read('IDT_VECTORING_ERROR_CODE')) : null;
      detail = {
        kind: 'exception', vector: info.vector, errorCode: err, address, software: info.type === InterruptionType.SOFTWARE_EXCEPTION,
        during: v.valid ? { vector: v.vector, exception: v.type === InterruptionType.HARDWARE_EXCEPTION, errorCode: vErr, software: v.type === InterruptionType.SOFTWARE_INTERRUPT || v.type === InterruptionType.SOFTWARE_EXCEPTION || v.type === InterruptionType.PRIVILEGED_SOFTWARE_EXCEPTION } : null,
      };
    } else detail = { kind: 'other' };
    return { code, name, detail, rip, raw };
  }

  // ---- guest state ----

  gpr(n: number): bigint {
    if (!this.inCpu && n === 4) return this.read('GUEST_RSP');
    const st = this.cpu.state;
    const v = reg64(st.regLo[n]!, st.regHi[n]!);
    if (!this.inCpu) this.accesses.list.push({ op: 'read', field: `gpr.${GPR_NAMES[n]}`, value: v });
    return v;
  }

  setGpr(n: number, v: bigint, size: 1 | 2 | 4 | 8): void {
    const old = size === 8 || size === 4 ? 0n : this.gpr(n);
    const mask = size === 8 ? 0xffffffffffffffffn : (1n << BigInt(size * 8)) - 1n;
    const nv = size === 8 || size === 4 ? v & mask : (old & ~mask) | (v & mask);
    if (!this.inCpu && n === 4) {
      this.write('GUEST_RSP', nv);
      return;
    }
    const st = this.cpu.state;
    st.regLo[n] = Number(nv & 0xffffffffn);
    st.regHi[n] = Number(nv >> 32n);
    if (!this.inCpu) this.accesses.list.push({ op: 'write', field: `gpr.${GPR_NAMES[n]}`, value: nv });
  }

  rip(): bigint {
    return this.read('GUEST_RIP');
  }

  /** GUEST_RIP += VM_EXIT_INSTRUCTION_LEN, blocking by STI / MOV SS cleared, the instruction counted as retired. */
  advance(): void {
    const len = this.read('VM_EXIT_INSTRUCTION_LEN');
    this.write('GUEST_RIP', (this.read('GUEST_RIP') + len) & 0xffffffffffffffffn);
    const ib = this.read('GUEST_INTERRUPTIBILITY_INFO');
    if ((ib & 3n) !== 0n) this.write('GUEST_INTERRUPTIBILITY_INFO', ib & ~3n);
    this.cpu.state.steps++;
    this.cpu.state.tsc++;
  }

  cpl(): number {
    return Number((this.read('GUEST_SS_AR_BYTES') >> 5n) & 3n);
  }

  long64(): boolean {
    const entry = this.read('VM_ENTRY_CONTROLS');
    const ar = this.read('GUEST_CS_AR_BYTES');
    return (entry & BigInt(Entry.IA32E_MODE_GUEST!)) !== 0n && (ar & BigInt(SegAttr.L)) !== 0n;
  }

  rflags(): number {
    return Number(this.read('GUEST_RFLAGS') & 0xffffffffn);
  }

  /** The guest's view: the owned bits from the read shadow (24.6.6). */
  cr(n: 0 | 2 | 3 | 4): bigint {
    const st = this.cpu.state;
    if (n === 2) return reg64(st.cr2Lo, st.cr2Hi);
    if (n === 3) return this.shadow !== null ? this.cr3Shadow : this.read('GUEST_CR3');
    const mask = BigInt(n === 0 ? this.cr0Mask : this.cr4Mask);
    const real = this.read(n === 0 ? 'GUEST_CR0' : 'GUEST_CR4');
    const shadow = this.read(n === 0 ? 'CR0_READ_SHADOW' : 'CR4_READ_SHADOW');
    return (real & ~mask) | (shadow & mask);
  }

  /**
   * The four PDPTEs a MOV to CR3 of `cr3` would load, when the guest uses PAE paging under EPT
   * (null otherwise); 'fault' when a present one has a reserved bit set, or the table is not in
   * the guest's RAM (KVM's load_pdptrs fails the same way, and the MOV raises #GP).
   */
  private guestPdptes(cr3: bigint): bigint[] | 'fault' | null {
    if (this.map === null) return null;
    const cr0 = this.read('GUEST_CR0');
    const cr4 = this.read('GUEST_CR4');
    const efer = this.read('GUEST_IA32_EFER');
    if ((cr0 & BigInt(CR0.PG)) === 0n || (cr4 & BigInt(CR4.PAE)) === 0n || (efer & BigInt(EFER.LMA)) !== 0n) return null;
    const gpa = Number(cr3 & 0xffffffe0n);
    if (gpa + 32 > this.map.gpaSize) return 'fault';
    const mem = this.cpu.mem;
    const out: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      const lo = mem.read(this.map.hpaBase + gpa + i * 8, 4) >>> 0;
      const hi = mem.read(this.map.hpaBase + gpa + i * 8 + 4, 4) >>> 0;
      if ((lo & 1) !== 0 && ((lo & 0x1e6) !== 0 || (hi & ~PHYS_HI_MASK) !== 0)) return 'fault';
      out.push((BigInt(hi) << 32n) | BigInt(lo));
    }
    return out;
  }

  /** The PDPTEs `crLoadFaults` read for a CR3 value, kept for `setCr` (their VMREADs are made once). */
  private checkedPdptes: { cr3: bigint; pdptes: bigint[] | 'fault' | null } | null = null;

  crLoadFaults(n: 0 | 2 | 3 | 4, v: bigint): boolean {
    if (n !== 3 || this.shadow !== null) return false;
    this.checkedPdptes = { cr3: v, pdptes: this.guestPdptes(v) };
    return this.checkedPdptes.pdptes === 'fault';
  }

  setCr(n: 0 | 2 | 3 | 4, v: bigint): string | null {
    const st = this.cpu.state;
    if (n === 2) {
      st.cr2Lo = Number(v & 0xffffffffn);
      st.cr2Hi = Number(v >> 32n);
      this.accesses.list.push({ op: 'write', field: 'gpr.cr2', value: v });
      return null;
    }
    if (n === 3) {
      if (this.shadow !== null) {
        this.cr3Shadow = v;
        this.accesses.list.push({ op: 'write', field: 'gpr.cr3-shadow', value: v });
        return this.shadow.sync('cr3');
      }
      this.write('GUEST_CR3', v);
      // With EPT a PAE guest's PDPTEs are the VMCS's guest PDPTE fields, which VM entry loads
      // (SDM Vol. 3C 27.3.2.4): the emulated MOV to CR3 loads them from the new table as the
      // instruction would (Vol. 3A 4.4.1), or the guest would go on with the old one (KVM does the
      // same: load_pdptrs, then the VMWRITEs of ept_load_pdptrs).
      const checked = this.checkedPdptes;
      this.checkedPdptes = null;
      const pdptes = checked !== null && checked.cr3 === v ? checked.pdptes : this.guestPdptes(v);
      if (pdptes !== null && pdptes !== 'fault') pdptes.forEach((e, i) => this.write(`GUEST_PDPTR${i}`, e));
      return null;
    }
    if (n === 4) {
      this.cr4Shadow = v;
      this.write('CR4_READ_SHADOW', v);
      this.write('GUEST_CR4', this.realCr4(v));
      return this.shadow?.sync('mode') ?? null;
    }
    const paging = (v & BigInt(CR0.PG)) !== 0n;
    if (this.nested) {
      // Unrestricted guest: the guest's CR0 is loaded as it is (NE forced). Turning paging on or
      // off is what the processor's own MOV to CR0 does to EFER.LMA and the "IA-32e mode guest" control.
      const was = (this.read('GUEST_CR0') & BigInt(CR0.PG)) !== 0n;
      if (paging !== was) {
        let efer = this.read('GUEST_IA32_EFER');
        let entry = this.read('VM_ENTRY_CONTROLS');
        if (paging && (efer & BigInt(EFER.LME)) !== 0n) {
          efer |= BigInt(EFER.LMA);
          entry |= BigInt(Entry.IA32E_MODE_GUEST!);
        } else if (!paging) {
          efer &= ~BigInt(EFER.LMA);
          entry &= ~BigInt(Entry.IA32E_MODE_GUEST!);
        }
        this.write('GUEST_IA32_EFER', efer);
        this.write('VM_ENTRY_CONTROLS', entry);
      }
    } else if ((v & BigInt(CR0.PE)) === 0n) {
      return 'the guest cleared CR0.PE: real mode needs unrestricted guest (EPT) or emulation, which this hypervisor does not have without nested paging';
    } else if (paging !== ((this.cr0Shadow & BigInt(CR0.PG)) !== 0n)) {
      // The guest turns paging on or off: what its own MOV to CR0 would do to EFER.LMA and the
      // "IA-32e mode guest" control (the processor runs with paging on either way; LME is hidden
      // from it while the guest's paging is off).
      let efer = this.read('GUEST_IA32_EFER') | (this.hiddenLme ? BigInt(EFER.LME) : 0n);
      let entry = this.read('VM_ENTRY_CONTROLS');
      this.hiddenLme = false;
      if (paging && (efer & BigInt(EFER.LME)) !== 0n) {
        efer |= BigInt(EFER.LMA);
        entry |= BigInt(Entry.IA32E_MODE_GUEST!);
      } else if (!paging) {
        efer &= ~BigInt(EFER.LMA);
        entry &= ~BigInt(Entry.IA32E_MODE_GUEST!);
        if ((efer & BigInt(EFER.LME)) !== 0n) {
          this.hiddenLme = true;
          efer &= ~BigInt(EFER.LME);
        }
      }
      this.write('GUEST_IA32_EFER', efer);
      this.write('VM_ENTRY_CONTROLS', entry);
    }
    this.cr0Shadow = v;
    this.write('CR0_READ_SHADOW', v);
    this.write('GUEST_CR0', this.realCr0(v));
    return this.shadow?.sync('mode') ?? null;
  }

  efer(): bigint {
    return this.read('GUEST_IA32_EFER') | (this.hiddenLme ? BigInt(EFER.LME) : 0n);
  }

  setEfer(v: bigint): void {
    this.hiddenLme = this.shadow !== null && (this.cr0Shadow & BigInt(CR0.PG)) === 0n && (v & BigInt(EFER.LME)) !== 0n;
    this.write('GUEST_IA32_EFER', this.hiddenLme ? v & ~BigInt(EFER.LME) : v);
    // NXE changes how the guest's tables read: the shadows are rebuilt (shadow.ts).
    const why = this.shadow?.sync('mode') ?? null;
    if (why !== null) throw new Error(why);
  }

  guestMsr(index: number): bigint | undefined {
    const f = VMCS_MSRS.get(index);
    return f === undefined ? undefined : this.read(f);
  }

  setGuestMsr(index: number, v: bigint): boolean | 'gp' {
    const f = VMCS_MSRS.get(index);
    if (f === undefined) return false;
    if (index !== MSR.IA32_SYSENTER_CS && !isCanonical(Number(v & 0xffffffffn), Number(v >> 32n), this.cpu.features.la57 === false ? 48 : 57)) return 'gp';
    this.write(f, v);
    return true;
  }

  inject(ev: HvEvent): void {
    const type = ev.type === 'exception' ? InterruptionType.HARDWARE_EXCEPTION : InterruptionType.EXTERNAL_INTERRUPT;
    const info = encodeInterruptionInfo({ vector: ev.vector, type, errorCodeValid: ev.errorCode !== undefined, valid: true });
    if (ev.errorCode !== undefined) this.write('VM_ENTRY_EXCEPTION_ERROR_CODE', BigInt(ev.errorCode >>> 0));
    this.write('VM_ENTRY_INTR_INFO_FIELD', BigInt(info >>> 0));
  }

  /**
   * Maps guest-physical [gpa, gpa + size) to the host-physical MMIO at `hpa` in the EPT (an
   * assigned device's BAR, hv/devio.ts), or unmaps it (`hpa` null); the processor may hold the old
   * translation, so this vCPU's next entry runs INVEPT single-context for its own EPTP first.
   */
  mapMmio(gpa: number, size: number, hpa: number | null): void {
    if (this.map === null) throw new Error('mapMmio: no EPT');
    mapDirect(this.cpu.mem, this.map, gpa, size, hpa);
    // The host changes every vCPU's EPT of a VM during one vCPU's exit, while that vCPU's VMCS is
    // current: INVEPT here would name the current VMCS's EPTP, not this one's. So the INVEPT waits
    // for this vCPU's next entry, when its own VMCS is current (KVM's KVM_REQ_TLB_FLUSH likewise).
    if (this.inCpu) this.cpu.tlbFlushAll(true);
    else this.pendingInvept = true;
  }

  passThroughMmio(gpaPages: readonly number[], mmio: MmioHandler, records: MmioRecord[]): BackendRun {
    if (this.map === null) throw new Error('passThroughMmio: no EPT');
    return passThrough(this.cpu.mem, this.map, gpaPages, mmio, records, () => this.afterPassThrough(), () => this.enter(1));
  }

  /**
   * After the MMIO pass-through the guest may have cached the window's translation. Still in the
   * processor (the run ended on its budget): its own tag's entries go, as the lab's device. After
   * an exit: INVEPT single-context for this EPTP, with or without VPID. A VM exit without VPID
   * invalidates VPID 0000H's linear and combined mappings but not the guest-physical ones, which
   * carry no VPID (SDM 29.4.1, 29.4.3.1), so a hypervisor that changed its EPT always runs INVEPT
   * (as KVM does).
   */
  private afterPassThrough(): void {
    if (this.inCpu) this.cpu.tlbFlushAll(true);
    else this.invept();
  }

  /** INVEPT single-context for this backend's EPTP, charged (SDM 29.4.3.1). */
  private invept(): void {
    const eptp = this.read('EPT_POINTER', false);
    this.ledger.charge({ kind: 'tlb-flush' });
    const o = this.vmx.invept(INVEPT_TYPE.SINGLE_CONTEXT, { lo: eptp, hi: 0n });
    if (o.kind !== 'succeed') throw new Error(`INVEPT: ${JSON.stringify(o)}`);
  }

  invalidateGuest(scope: 'page' | 'non-global' | 'all', linear = 0n): string {
    if (!this.tlbTags) return 'nothing cached: the VM exit invalidated VPID 0000H\u2019s mappings (no VPID)';
    if (this.inCpu) throw new Error('invalidateGuest while the guest is in the CPU');
    // INVLPG of a non-canonical address invalidates nothing (SDM Vol. 2A, INVLPG); INVVPID would refuse it.
    const la57 = (this.read('GUEST_CR4', false) & BigInt(CR4.LA57)) !== 0n;
    if (scope === 'page' && !isCanonical(Number(linear & 0xffffffffn), Number((linear >> 32n) & 0xffffffffn), la57 ? 57 : 48)) {
      return `nothing to invalidate: 0x${linear.toString(16)} is not canonical`;
    }
    // SDM 29.4.3.3: INVLPG emulated by type 0, MOV to CR3 by type 3, a CR0/CR4 change by type 1.
    const type = scope === 'page' ? INVVPID_TYPE.INDIVIDUAL_ADDRESS : scope === 'non-global' ? INVVPID_TYPE.SINGLE_CONTEXT_RETAINING_GLOBALS : INVVPID_TYPE.SINGLE_CONTEXT;
    this.ledger.charge({ kind: 'tlb-flush' });
    const o = this.vmx.invvpid(type, { lo: BigInt(this.vpid), hi: linear });
    if (o.kind !== 'succeed') throw new Error(`INVVPID: ${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    return `INVVPID type ${type} for VPID ${this.vpid}${scope === 'page' ? ` at 0x${linear.toString(16)}` : ''}`;
  }

  /** The guest's TSC: the processor's plus TSC_OFFSET when "use TSC offsetting" is 1 (read from the VMCS). */
  guestTsc(): bigint {
    const tsc = BigInt(this.cpu.state.tsc);
    if ((this.read('CPU_BASED_VM_EXEC_CONTROL') & BigInt(Primary.USE_TSC_OFFSETTING!)) === 0n) return tsc;
    return BigInt.asUintN(64, tsc + BigInt.asIntN(64, this.read('TSC_OFFSET')));
  }

  passThroughOnce(port: number, size: 1 | 2 | 4, ports: PortHandler): BackendRun {
    const mem = this.cpu.mem;
    const bit = (q: number, on: boolean): void => {
      const at = this.ioBitmaps + (q >= 0x8000 ? 0x1000 : 0) + ((q & 0x7fff) >>> 3);
      const v = mem.read8(at);
      mem.write8(at, on ? v | (1 << (q & 7)) : v & ~(1 << (q & 7)));
    };
    // A port range that wraps past FFFFH always exits (24.6.4): nothing to clear there.
    const last = Math.min(port + size - 1, 0xffff);
    for (let q = port; q <= last; q++) bit(q, false);
    const saved = this.cpu.io;
    this.cpu.io = ports;
    try {
      return this.enter(1);
    } finally {
      this.cpu.io = saved;
      for (let q = port; q <= last; q++) bit(q, true);
    }
  }

  report(): { gpr: bigint[]; rip: bigint; rflags: bigint; cr0: bigint; cr3: bigint; cr4: bigint } {
    const st = this.cpu.state;
    const gpr = Array.from({ length: 16 }, (_, n) => reg64(st.regLo[n]!, st.regHi[n]!));
    if (this.inCpu) {
      // The guest is loaded (the run ended on its budget): the processor holds the real values.
      this.cpu.syncFlags();
      const view = (real: number, mask: number, shadow: bigint): bigint => (BigInt(real >>> 0) & ~BigInt(mask)) | (shadow & BigInt(mask));
      return {
        gpr, rip: reg64(st.ripLo, st.ripHi), rflags: BigInt(st.rflags >>> 0),
        cr0: view(st.cr0, this.cr0Mask, this.cr0Shadow),
        cr3: this.shadow !== null ? this.cr3Shadow : reg64(st.cr3Lo, st.cr3Hi),
        cr4: view(st.cr4, this.cr4Mask, this.cr4Shadow),
      };
    }
    const r = (f: string): bigint => this.read(f, false);
    gpr[4] = r('GUEST_RSP');
    return {
      gpr, rip: r('GUEST_RIP'), rflags: r('GUEST_RFLAGS'),
      cr0: (r('GUEST_CR0') & ~BigInt(this.cr0Mask)) | (this.cr0Shadow & BigInt(this.cr0Mask)),
      cr3: this.shadow !== null ? this.cr3Shadow : r('GUEST_CR3'),
      cr4: (r('GUEST_CR4') & ~BigInt(this.cr4Mask)) | (this.cr4Shadow & BigInt(this.cr4Mask)),
    };
  }

  // ---- for the time-travelling machine (hv-machine.ts) ----

  /** Called at each entry (the trace's vm/entry); null: nobody listens. */
  onEntry: ((instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN', failed: string[] | null) => void) | null = null;

  /** Whether the guest is in the CPU now. */
  get loaded(): boolean {
    return this.inCpu;
  }
}
