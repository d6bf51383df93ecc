/**
 * The checks VM entry makes (Intel SDM Vol. 3C, chapter 27 "VM Entries"), as a list a student can
 * read: each check has an id, the SDM section it comes from, and what it requires. They run in
 * the SDM's order: 27.2.1 VMX controls (a failure is VMfailValid with VM-instruction error 7),
 * 27.2.2-27.2.4 host state and address-space size (error 8), then 27.3.1 guest state (a failure is
 * not a VMfail: VM entry fails with exit reason 33 and bit 31 set, qualification 0, or 4 for the
 * VMCS link pointer).
 *
 * The set is the SDM's checks on everything this lab's processor supports, with these left out
 * (listed so nobody teaches them as done): checks on controls the lab does not support beyond
 * their reserved bits ("virtualize APIC accesses" and what needs it, such as "virtualize x2APIC mode" excluding it; PML, VMFUNC, VMCS
 * shadowing, #VE, SMM and dual-monitor treatment, Intel PT, CET, PKRS, perf-global-ctrl,
 * BNDCFGS), the IA32_DEBUGCTL reserved-bit check, the single-step (BS) rule for pending debug
 * exceptions, the "activity state vs. event injection" rules, and PDPTE checks for PAE guests
 * (27.3.1.6, qualification 2). Loading the VM-entry MSR-load area (27.4, exit reason 34) belongs
 * to the layer that loads guest state into the CPU.
 */
import { MAXPHYADDR } from '../cpu/sys-ctl.ts';
import { CR0, CR4, EFER } from '../cpu/sys-util.ts';
import type { PhysMem } from '../mem/physmem.ts';
import {
  CR0_FIXED0,
  CR0_FIXED1,
  CR3_TARGET_COUNT_MAX,
  CR4_FIXED0,
  CR4_FIXED1,
  Entry,
  Exit,
  Pin,
  Primary,
  SUPPORTED_ACTIVITY_STATES,
  Secondary,
  TRUE_ALLOWED,
  VMCS_REVISION,
  controlViolations,
} from './controls.ts';
import { ACCESS_RIGHTS_RESERVED, AR_UNUSABLE, ENTRY_INTR_INFO_RESERVED, InterruptionType, decodeInterruptionInfo } from './qualification.ts';
import type { FieldReader, SegmentName } from './vmcs.ts';
import { eptCaps, eptpProblems } from './ept.ts';

export type CheckStage = 'controls' | 'host' | 'guest';

export interface EntryCheck {
  readonly id: string;
  readonly stage: CheckStage;
  /** SDM Vol. 3C section. */
  readonly section: string;
  /** What must hold, in SDM terms. */
  readonly rule: string;
  /** Exit qualification of a guest-state failure (0 but for the VMCS link pointer, 4). */
  readonly qualification?: number;
}

/** What the checks may consult besides the VMCS. */
export interface EntryContext {
  read: FieldReader;
  /** IA32_EFER.LMA of the processor executing VMLAUNCH/VMRESUME (27.2.4). */
  processorLma: boolean;
  mem: PhysMem;
}

type Test = (v: View) => boolean;

/** Values the checks share, read once. */
interface View {
  read: FieldReader;
  ctx: EntryContext;
  pin: number;
  primary: number;
  /** Secondary controls as VM entry sees them: 0 when "activate secondary controls" is 0. */
  secondary: number;
  exit: number;
  entry: number;
  ia32eGuest: boolean;
  unrestricted: boolean;
  hostLong: boolean;
}

const PHYS_LIMIT = 1n << BigInt(MAXPHYADDR);
const withinWidth = (pa: bigint): boolean => pa < PHYS_LIMIT;
const aligned = (pa: bigint, n: bigint): boolean => pa % n === 0n;
/** Canonical for a linear-address width of `bits`. */
export function canonical(v: bigint, bits = 48): boolean {
  const top = v >> BigInt(bits - 1);
  return top === 0n || top === (1n << BigInt(65 - bits)) - 1n;
}
const laWidth = (cr4: bigint): number => ((cr4 & BigInt(CR4.LA57)) !== 0n ? 57 : 48);
const fixedOk = (v: bigint, f0: number, f1: number): boolean => (v & BigInt(f0)) === BigInt(f0) && (v & ~BigInt(f1 >>> 0)) === 0n;
/** IA32_PAT: each of the eight bytes a valid memory type (0, 1, 4, 5, 6, 7). */
export function patValid(pat: bigint): boolean {
  for (let i = 0n; i < 8n; i++) {
    const t = Number((pat >> (i * 8n)) & 0xffn);
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}
const EFER_DEFINED = BigInt(EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE);
const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;

/** Limit and G agree (27.3.1.2): limit bits 11:0 not all 1 → G = 0; any of bits 31:20 set → G = 1. */
function limitMatchesG(limit: number, ar: number): boolean {
  const g = (ar & (1 << 15)) !== 0;
  if ((limit & 0xfff) !== 0xfff && g) return false;
  if ((limit >>> 20) !== 0 && !g) return false;
  return true;
}

const seg = (v: View, s: SegmentName) => ({
  sel: Number(v.read(`GUEST_${s}_SELECTOR`)),
  base: v.read(`GUEST_${s}_BASE`),
  limit: Number(v.read(`GUEST_${s}_LIMIT`)),
  ar: Number(v.read(`GUEST_${s}_AR_BYTES`)),
});
const usable = (ar: number): boolean => (ar & AR_UNUSABLE) === 0;
const arType = (ar: number): number => ar & 0xf;
const arDpl = (ar: number): number => (ar >>> 5) & 3;
const arS = (ar: number): boolean => (ar & (1 << 4)) !== 0;
const arP = (ar: number): boolean => (ar & (1 << 7)) !== 0;
const v86 = (v: View): boolean => bit(v.read('GUEST_RFLAGS'), 17);
const injection = (v: View) => decodeInterruptionInfo(Number(v.read('VM_ENTRY_INTR_INFO_FIELD')));

interface Def extends EntryCheck {
  test: Test;
}

const c = (stage: CheckStage, id: string, section: string, rule: string, test: Test, qualification?: number): Def => ({
  id,
  stage,
  section,
  rule,
  test,
  ...(qualification === undefined ? {} : { qualification }),
});

const DEFS: readonly Def[] = [
  // ---- 27.2.1.1 VM-execution control fields
  c('controls', 'pin-controls', '27.2.1.1', 'Pin-based controls within IA32_VMX_TRUE_PINBASED_CTLS', (v) => controlViolations(v.pin, TRUE_ALLOWED.pin) === 0),
  c('controls', 'primary-controls', '27.2.1.1', 'Primary processor-based controls within IA32_VMX_TRUE_PROCBASED_CTLS', (v) => controlViolations(v.primary, TRUE_ALLOWED.primary) === 0),
  c('controls', 'secondary-controls', '27.2.1.1', 'With "activate secondary controls", secondary controls within IA32_VMX_PROCBASED_CTLS2', (v) => controlViolations(v.secondary, TRUE_ALLOWED.secondary) === 0),
  c('controls', 'cr3-target-count', '27.2.1.1', 'CR3-target count at most 4 (IA32_VMX_MISC bits 24:16)', (v) => v.read('CR3_TARGET_COUNT') <= BigInt(CR3_TARGET_COUNT_MAX)),
  c('controls', 'io-bitmaps', '27.2.1.1', 'With "use I/O bitmaps", both bitmap addresses 4-KByte aligned and within the physical-address width', (v) => {
    if ((v.primary & Primary.USE_IO_BITMAPS!) === 0) return true;
    return ['IO_BITMAP_A', 'IO_BITMAP_B'].every((n) => aligned(v.read(n), 4096n) && withinWidth(v.read(n)));
  }),
  c('controls', 'msr-bitmaps', '27.2.1.1', 'With "use MSR bitmaps", the MSR-bitmap address 4-KByte aligned and within the physical-address width', (v) => {
    if ((v.primary & Primary.USE_MSR_BITMAPS!) === 0) return true;
    const a = v.read('MSR_BITMAP');
    return aligned(a, 4096n) && withinWidth(a);
  }),
  c('controls', 'vpid', '27.2.1.1', 'With "enable VPID", the VPID is not 0', (v) => (v.secondary & Secondary.ENABLE_VPID!) === 0 || v.read('VIRTUAL_PROCESSOR_ID') !== 0n),
  c('controls', 'ept-pointer', '27.2.1.1', 'With "enable EPT", the EPTP: memory type UC (0) or WB (6), page-walk length 4 or 5 (bits 5:3 = 3 or 4), A/D flags (bit 6) allowed, bits 11:7 and bits above the physical-address width 0', (v) => {
    if ((v.secondary & Secondary.ENABLE_EPT!) === 0) return true;
    // What IA32_VMX_EPT_VPID_CAP advertises (controls.ts), as ept.ts checks it.
    return eptpProblems(v.read('EPT_POINTER'), eptCaps(), MAXPHYADDR).length === 0;
  }),
  c('controls', 'virtual-apic-address', '27.2.1.1', 'With "use TPR shadow", the virtual-APIC address 4-KByte aligned and within the physical-address width', (v) => {
    if ((v.primary & Primary.USE_TPR_SHADOW!) === 0) return true;
    const a = v.read('VIRTUAL_APIC_PAGE_ADDR');
    return aligned(a, 4096n) && withinWidth(a);
  }),
  c('controls', 'tpr-threshold-bits', '27.2.1.1', 'With "use TPR shadow" and without "virtual-interrupt delivery", bits 31:4 of the TPR threshold are 0', (v) =>
    (v.primary & Primary.USE_TPR_SHADOW!) === 0 || (v.secondary & Secondary.VIRTUAL_INTERRUPT_DELIVERY!) !== 0 || v.read('TPR_THRESHOLD') >> 4n === 0n,
  ),
  c('controls', 'tpr-threshold-vtpr', '27.2.1.1', 'With "use TPR shadow" and neither "virtualize APIC accesses" nor "virtual-interrupt delivery", TPR threshold bits 3:0 not above VTPR bits 7:4 (byte 80H of the virtual-APIC page)', (v) => {
    if ((v.primary & Primary.USE_TPR_SHADOW!) === 0) return true;
    if ((v.secondary & (Secondary.VIRTUALIZE_APIC_ACCESSES! | Secondary.VIRTUAL_INTERRUPT_DELIVERY!)) !== 0) return true;
    const a = v.read('VIRTUAL_APIC_PAGE_ADDR');
    if (!aligned(a, 4096n) || !withinWidth(a)) return true; // the address check reports it
    return Number(v.read('TPR_THRESHOLD') & 0xfn) <= ((v.ctx.mem.read(Number(a) + 0x80, 1) >>> 4) & 0xf);
  }),
  c('controls', 'apic-virtualization-needs-tpr-shadow', '27.2.1.1', 'Without "use TPR shadow", "virtualize x2APIC mode", "APIC-register virtualization" and "virtual-interrupt delivery" are 0', (v) =>
    (v.primary & Primary.USE_TPR_SHADOW!) !== 0 || (v.secondary & (Secondary.VIRTUALIZE_X2APIC_MODE! | Secondary.APIC_REGISTER_VIRTUALIZATION! | Secondary.VIRTUAL_INTERRUPT_DELIVERY!)) === 0,
  ),
  c('controls', 'virtual-interrupts-need-exiting', '27.2.1.1', 'With "virtual-interrupt delivery", "external-interrupt exiting" is 1', (v) =>
    (v.secondary & Secondary.VIRTUAL_INTERRUPT_DELIVERY!) === 0 || (v.pin & Pin.EXTERNAL_INTERRUPT_EXITING!) !== 0,
  ),
  c('controls', 'posted-interrupts', '27.2.1.1', 'With "process posted interrupts": "virtual-interrupt delivery" and "acknowledge interrupt on exit" are 1, the notification vector\'s bits 15:8 are 0, and the descriptor address is 64-byte aligned and within the physical-address width', (v) => {
    if ((v.pin & Pin.PROCESS_POSTED_INTERRUPTS!) === 0) return true;
    const d = v.read('POSTED_INTR_DESC_ADDR');
    return (
      (v.secondary & Secondary.VIRTUAL_INTERRUPT_DELIVERY!) !== 0 &&
      (v.exit & Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT!) !== 0 &&
      v.read('POSTED_INTR_NV') >> 8n === 0n &&
      aligned(d, 64n) &&
      withinWidth(d)
    );
  }),
  c('controls', 'unrestricted-needs-ept', '27.2.1.1', 'With "unrestricted guest", "enable EPT" is 1', (v) => (v.secondary & Secondary.UNRESTRICTED_GUEST!) === 0 || (v.secondary & Secondary.ENABLE_EPT!) !== 0),
  // ---- 27.2.1.2 VM-exit control fields
  c('controls', 'exit-controls', '27.2.1.2', 'VM-exit controls within IA32_VMX_TRUE_EXIT_CTLS', (v) => controlViolations(v.exit, TRUE_ALLOWED.exit) === 0),
  c('controls', 'preemption-timer-save', '27.2.1.2', 'With "save VMX-preemption timer value", "activate VMX-preemption timer" is 1', (v) => (v.exit & Exit.SAVE_PREEMPTION_TIMER_VALUE!) === 0 || (v.pin & Pin.ACTIVATE_PREEMPTION_TIMER!) !== 0),
  c('controls', 'exit-msr-areas', '27.2.1.2', 'With a non-zero count, the VM-exit MSR-store and MSR-load addresses 16-byte aligned and within the physical-address width', (v) =>
    ([['VM_EXIT_MSR_STORE_COUNT', 'VM_EXIT_MSR_STORE_ADDR'], ['VM_EXIT_MSR_LOAD_COUNT', 'VM_EXIT_MSR_LOAD_ADDR']] as const).every(([n, a]) => {
      if (v.read(n) === 0n) return true;
      const addr = v.read(a);
      return aligned(addr, 16n) && withinWidth(addr + v.read(n) * 16n - 1n);
    }),
  ),
  // ---- 27.2.1.3 VM-entry control fields
  c('controls', 'entry-controls', '27.2.1.3', 'VM-entry controls within IA32_VMX_TRUE_ENTRY_CTLS', (v) => controlViolations(v.entry, TRUE_ALLOWED.entry) === 0),
  c('controls', 'event-type', '27.2.1.3', 'An injected event\'s type is not 1 (reserved) and not 7 (other event: needs the monitor trap flag, not supported)', (v) => {
    const i = injection(v);
    return !i.valid || (i.type !== 1 && i.type !== InterruptionType.OTHER_EVENT);
  }),
  c('controls', 'event-vector', '27.2.1.3', 'An injected NMI has vector 2; a hardware exception a vector at most 31', (v) => {
    const i = injection(v);
    if (!i.valid) return true;
    if (i.type === InterruptionType.NMI) return i.vector === 2;
    if (i.type === InterruptionType.HARDWARE_EXCEPTION) return i.vector <= 31;
    return true;
  }),
  c('controls', 'event-error-code', '27.2.1.3', 'Deliver-error-code is 1 exactly for a hardware exception that pushes one (8, 10-14, 17) while the guest is in protected mode (CR0.PE = 1 with "unrestricted guest")', (v) => {
    const i = injection(v);
    if (!i.valid) return true;
    const pe = !v.unrestricted || bit(v.read('GUEST_CR0'), 0);
    const pushes = i.type === InterruptionType.HARDWARE_EXCEPTION && [8, 10, 11, 12, 13, 14, 17].includes(i.vector) && pe;
    return i.errorCodeValid === pushes;
  }),
  c('controls', 'event-reserved', '27.2.1.3', 'Bits 30:12 of the VM-entry interruption-information field are 0', (v) => {
    const raw = Number(v.read('VM_ENTRY_INTR_INFO_FIELD'));
    return (raw & 0x80000000) === 0 || (raw & ENTRY_INTR_INFO_RESERVED) === 0;
  }),
  c('controls', 'event-error-code-bits', '27.2.1.3', 'With deliver-error-code, bits 31:16 of the VM-entry exception error code are 0', (v) => {
    const i = injection(v);
    return !i.valid || !i.errorCodeValid || (v.read('VM_ENTRY_EXCEPTION_ERROR_CODE') >> 16n) === 0n;
  }),
  c('controls', 'event-instruction-length', '27.2.1.3', 'A software interrupt or exception (types 4, 5, 6) has a VM-entry instruction length from 1 to 15', (v) => {
    const i = injection(v);
    if (!i.valid || i.type < 4 || i.type > 6) return true;
    const n = v.read('VM_ENTRY_INSTRUCTION_LEN');
    return n >= 1n && n <= 15n;
  }),
  c('controls', 'entry-msr-load-area', '27.2.1.3', 'With a non-zero VM-entry MSR-load count, the address is 16-byte aligned and the area within the physical-address width', (v) => {
    const n = v.read('VM_ENTRY_MSR_LOAD_COUNT');
    if (n === 0n) return true;
    const a = v.read('VM_ENTRY_MSR_LOAD_ADDR');
    return aligned(a, 16n) && withinWidth(a + n * 16n - 1n);
  }),
  // ---- 27.2.2 host control registers and MSRs
  c('host', 'host-cr0', '27.2.2', 'Host CR0 has the bits IA32_VMX_CR0_FIXED0 requires and none IA32_VMX_CR0_FIXED1 forbids', (v) => fixedOk(v.read('HOST_CR0'), CR0_FIXED0, CR0_FIXED1)),
  c('host', 'host-cr4', '27.2.2', 'Host CR4 likewise against IA32_VMX_CR4_FIXED0/1 (so CR4.VMXE = 1)', (v) => fixedOk(v.read('HOST_CR4'), CR4_FIXED0, CR4_FIXED1)),
  c('host', 'host-cr3', '27.2.2', 'Host CR3 sets no bit beyond the physical-address width', (v) => withinWidth(v.read('HOST_CR3'))),
  c('host', 'host-sysenter', '27.2.2', 'Host IA32_SYSENTER_ESP and IA32_SYSENTER_EIP are canonical', (v) => {
    const w = laWidth(v.read('HOST_CR4'));
    return canonical(v.read('HOST_IA32_SYSENTER_ESP'), w) && canonical(v.read('HOST_IA32_SYSENTER_EIP'), w);
  }),
  c('host', 'host-pat', '27.2.2', 'With "load IA32_PAT" (exit), each byte of host IA32_PAT is a valid memory type', (v) => (v.exit & Exit.LOAD_IA32_PAT!) === 0 || patValid(v.read('HOST_IA32_PAT'))),
  c('host', 'host-efer', '27.2.2', 'With "load IA32_EFER" (exit), host IA32_EFER has no reserved bit set and LMA = LME = "host address-space size"', (v) => {
    if ((v.exit & Exit.LOAD_IA32_EFER!) === 0) return true;
    const e = v.read('HOST_IA32_EFER');
    return (e & ~EFER_DEFINED) === 0n && bit(e, 10) === v.hostLong && bit(e, 8) === v.hostLong;
  }),
  // ---- 27.2.3 host segment and descriptor-table registers
  c('host', 'host-selectors', '27.2.3', 'Host ES, CS, SS, DS, FS, GS and TR selectors have RPL = 0 and TI = 0', (v) =>
    ['ES', 'CS', 'SS', 'DS', 'FS', 'GS', 'TR'].every((s) => (v.read(`HOST_${s}_SELECTOR`) & 7n) === 0n),
  ),
  c('host', 'host-cs', '27.2.3', 'Host CS selector is not 0', (v) => v.read('HOST_CS_SELECTOR') !== 0n),
  c('host', 'host-tr', '27.2.3', 'Host TR selector is not 0', (v) => v.read('HOST_TR_SELECTOR') !== 0n),
  c('host', 'host-ss', '27.2.3', 'Host SS selector is not 0 when "host address-space size" is 0', (v) => v.hostLong || v.read('HOST_SS_SELECTOR') !== 0n),
  c('host', 'host-bases', '27.2.3', 'Host FS, GS, GDTR, IDTR and TR bases are canonical', (v) => {
    const w = laWidth(v.read('HOST_CR4'));
    return ['HOST_FS_BASE', 'HOST_GS_BASE', 'HOST_GDTR_BASE', 'HOST_IDTR_BASE', 'HOST_TR_BASE'].every((n) => canonical(v.read(n), w));
  }),
  // ---- 27.2.4 address-space size
  c('host', 'address-space-outside-ia32e', '27.2.4', 'A processor outside IA-32e mode enters only with "IA-32e mode guest" = 0 and "host address-space size" = 0', (v) => v.ctx.processorLma || (!v.ia32eGuest && !v.hostLong)),
  c('host', 'address-space-inside-ia32e', '27.2.4', 'A processor in IA-32e mode enters only with "host address-space size" = 1', (v) => !v.ctx.processorLma || v.hostLong),
  c('host', 'host-rip', '27.2.4', 'With "host address-space size" = 1: host CR4.PAE = 1 and host RIP canonical; with 0: host CR4.PCIDE = 0 and host RIP bits 63:32 = 0', (v) => {
    const cr4 = v.read('HOST_CR4');
    const rip = v.read('HOST_RIP');
    return v.hostLong ? bit(cr4, 5) && canonical(rip, laWidth(cr4)) : !bit(cr4, 17) && rip >> 32n === 0n;
  }),
  // ---- 27.3.1.1 guest control registers, debug registers and MSRs
  c('guest', 'guest-cr0', '27.3.1.1', 'Guest CR0 against IA32_VMX_CR0_FIXED0/1 (PE and PG exempt with "unrestricted guest")', (v) => {
    const f0 = v.unrestricted ? CR0_FIXED0 & ~(CR0.PE | CR0.PG) : CR0_FIXED0;
    return fixedOk(v.read('GUEST_CR0'), f0, CR0_FIXED1);
  }),
  c('guest', 'guest-cr0-pg-pe', '27.3.1.1', 'Guest CR0.PG = 1 only with CR0.PE = 1', (v) => {
    const cr0 = v.read('GUEST_CR0');
    return !bit(cr0, 31) || bit(cr0, 0);
  }),
  c('guest', 'guest-cr4', '27.3.1.1', 'Guest CR4 against IA32_VMX_CR4_FIXED0/1', (v) => fixedOk(v.read('GUEST_CR4'), CR4_FIXED0, CR4_FIXED1)),
  c('guest', 'guest-dr7', '27.3.1.1', 'With "load debug controls", guest DR7 bits 63:32 are 0', (v) => (v.entry & Entry.LOAD_DEBUG_CONTROLS!) === 0 || v.read('GUEST_DR7') >> 32n === 0n),
  c('guest', 'guest-ia32e-paging', '27.3.1.1', 'With "IA-32e mode guest": CR0.PG = 1 and CR4.PAE = 1; without it: CR4.PCIDE = 0', (v) => {
    const cr4 = v.read('GUEST_CR4');
    return v.ia32eGuest ? bit(v.read('GUEST_CR0'), 31) && bit(cr4, 5) : !bit(cr4, 17);
  }),
  c('guest', 'guest-cr3', '27.3.1.1', 'Guest CR3 sets no bit beyond the physical-address width', (v) => withinWidth(v.read('GUEST_CR3'))),
  c('guest', 'guest-sysenter', '27.3.1.1', 'Guest IA32_SYSENTER_ESP and IA32_SYSENTER_EIP are canonical', (v) => {
    const w = laWidth(v.read('GUEST_CR4'));
    return canonical(v.read('GUEST_SYSENTER_ESP'), w) && canonical(v.read('GUEST_SYSENTER_EIP'), w);
  }),
  c('guest', 'guest-pat', '27.3.1.1', 'With "load IA32_PAT" (entry), each byte of guest IA32_PAT is a valid memory type', (v) => (v.entry & Entry.LOAD_IA32_PAT!) === 0 || patValid(v.read('GUEST_IA32_PAT'))),
  c('guest', 'guest-efer', '27.3.1.1', 'With "load IA32_EFER" (entry): no reserved bit, LMA = "IA-32e mode guest", and with CR0.PG = 1 also LME = "IA-32e mode guest"', (v) => {
    if ((v.entry & Entry.LOAD_IA32_EFER!) === 0) return true;
    const e = v.read('GUEST_IA32_EFER');
    if ((e & ~EFER_DEFINED) !== 0n || bit(e, 10) !== v.ia32eGuest) return false;
    return !bit(v.read('GUEST_CR0'), 31) || bit(e, 8) === v.ia32eGuest;
  }),
  // ---- 27.3.1.2 guest segment registers
  c('guest', 'guest-tr-ldtr-ti', '27.3.1.2', 'TR selector TI = 0; LDTR selector TI = 0 if LDTR is usable', (v) => {
    const ldtr = seg(v, 'LDTR');
    return (seg(v, 'TR').sel & 4) === 0 && (!usable(ldtr.ar) || (ldtr.sel & 4) === 0);
  }),
  c('guest', 'guest-ss-rpl', '27.3.1.2', 'Outside virtual-8086 mode and without "unrestricted guest", SS.RPL = CS.RPL', (v) => v86(v) || v.unrestricted || (seg(v, 'SS').sel & 3) === (seg(v, 'CS').sel & 3)),
  c('guest', 'guest-v86-segments', '27.3.1.2', 'In virtual-8086 mode, CS SS DS ES FS GS have base = selector × 16, limit FFFFH and access rights F3H', (v) =>
    !v86(v) || (['CS', 'SS', 'DS', 'ES', 'FS', 'GS'] as const).every((s) => {
      const x = seg(v, s);
      return x.base === BigInt(x.sel) << 4n && x.limit === 0xffff && x.ar === 0xf3;
    }),
  ),
  c('guest', 'guest-segment-bases', '27.3.1.2', 'TR, FS, GS (and LDTR if usable) bases canonical; CS base bits 63:32 = 0; SS, DS, ES bases bits 63:32 = 0 if usable', (v) => {
    const w = laWidth(v.read('GUEST_CR4'));
    const ldtr = seg(v, 'LDTR');
    if (!canonical(seg(v, 'TR').base, w) || !canonical(seg(v, 'FS').base, w) || !canonical(seg(v, 'GS').base, w)) return false;
    if (usable(ldtr.ar) && !canonical(ldtr.base, w)) return false;
    if (seg(v, 'CS').base >> 32n !== 0n) return false;
    return (['SS', 'DS', 'ES'] as const).every((s) => {
      const x = seg(v, s);
      return !usable(x.ar) || x.base >> 32n === 0n;
    });
  }),
  c('guest', 'guest-cs-rights', '27.3.1.2', 'CS (outside virtual-8086 mode): type 9, 11, 13 or 15 (or 3 with "unrestricted guest"), S = 1, P = 1, reserved bits 0, DPL rules against SS, L and D/B not both 1 in an IA-32e guest, limit agrees with G', (v) => {
    if (v86(v)) return true;
    const cs = seg(v, 'CS');
    const ss = seg(v, 'SS');
    const t = arType(cs.ar);
    if (!(t === 9 || t === 11 || t === 13 || t === 15 || (t === 3 && v.unrestricted))) return false;
    if (!arS(cs.ar) || !arP(cs.ar) || (cs.ar & ACCESS_RIGHTS_RESERVED) !== 0) return false;
    if (t === 3 && arDpl(cs.ar) !== 0) return false;
    if ((t === 9 || t === 11) && arDpl(cs.ar) !== arDpl(ss.ar)) return false;
    if ((t === 13 || t === 15) && arDpl(cs.ar) > arDpl(ss.ar)) return false;
    if (v.ia32eGuest && (cs.ar & (1 << 13)) !== 0 && (cs.ar & (1 << 14)) !== 0) return false;
    return limitMatchesG(cs.limit, cs.ar);
  }),
  c('guest', 'guest-ss-rights', '27.3.1.2', 'SS (outside virtual-8086 mode): DPL = RPL without "unrestricted guest" and DPL 0 if CS type is 3 or CR0.PE = 0, usable or not (SS.DPL is the CPL); if usable, type 3 or 7, S = 1, P = 1, reserved bits 0, limit agrees with G', (v) => {
    if (v86(v)) return true;
    const ss = seg(v, 'SS');
    // The DPL rules apply whether or not SS is usable: only the type, S, P, reserved-bit and limit checks wait on usability.
    if (!v.unrestricted && arDpl(ss.ar) !== (ss.sel & 3)) return false;
    if ((arType(seg(v, 'CS').ar) === 3 || !bit(v.read('GUEST_CR0'), 0)) && arDpl(ss.ar) !== 0) return false;
    if (!usable(ss.ar)) return true;
    const t = arType(ss.ar);
    if ((t !== 3 && t !== 7) || !arS(ss.ar) || !arP(ss.ar) || (ss.ar & ACCESS_RIGHTS_RESERVED) !== 0) return false;
    return limitMatchesG(ss.limit, ss.ar);
  }),
  c('guest', 'guest-data-rights', '27.3.1.2', 'DS, ES, FS, GS if usable (outside virtual-8086 mode): accessed, readable if code, S = 1, P = 1, reserved bits 0, DPL ≥ RPL for types 0-11 without "unrestricted guest", limit agrees with G', (v) => {
    if (v86(v)) return true;
    return (['DS', 'ES', 'FS', 'GS'] as const).every((s) => {
      const x = seg(v, s);
      if (!usable(x.ar)) return true;
      const t = arType(x.ar);
      if ((t & 1) === 0 || ((t & 8) !== 0 && (t & 2) === 0)) return false;
      if (!arS(x.ar) || !arP(x.ar) || (x.ar & ACCESS_RIGHTS_RESERVED) !== 0) return false;
      if (!v.unrestricted && t <= 11 && arDpl(x.ar) < (x.sel & 3)) return false;
      return limitMatchesG(x.limit, x.ar);
    });
  }),
  c('guest', 'guest-tr-rights', '27.3.1.2', 'TR usable, type 11 (busy 64-bit TSS) in an IA-32e guest or 3 or 11 otherwise, S = 0, P = 1, reserved bits 0, limit agrees with G', (v) => {
    const tr = seg(v, 'TR');
    const t = arType(tr.ar);
    if (!usable(tr.ar)) return false;
    if (v.ia32eGuest ? t !== 11 : t !== 3 && t !== 11) return false;
    return !arS(tr.ar) && arP(tr.ar) && (tr.ar & ACCESS_RIGHTS_RESERVED) === 0 && limitMatchesG(tr.limit, tr.ar);
  }),
  c('guest', 'guest-ldtr-rights', '27.3.1.2', 'LDTR if usable: type 2, S = 0, P = 1, reserved bits 0, limit agrees with G', (v) => {
    const l = seg(v, 'LDTR');
    if (!usable(l.ar)) return true;
    return arType(l.ar) === 2 && !arS(l.ar) && arP(l.ar) && (l.ar & ACCESS_RIGHTS_RESERVED) === 0 && limitMatchesG(l.limit, l.ar);
  }),
  // ---- 27.3.1.3 descriptor-table registers
  c('guest', 'guest-gdtr-idtr', '27.3.1.3', 'GDTR and IDTR bases canonical and limits at most FFFFH', (v) => {
    const w = laWidth(v.read('GUEST_CR4'));
    return canonical(v.read('GUEST_GDTR_BASE'), w) && canonical(v.read('GUEST_IDTR_BASE'), w) && v.read('GUEST_GDTR_LIMIT') <= 0xffffn && v.read('GUEST_IDTR_LIMIT') <= 0xffffn;
  }),
  // ---- 27.3.1.4 RIP and RFLAGS
  c('guest', 'guest-rip', '27.3.1.4', 'RIP bits 63:32 = 0 unless in an IA-32e guest with CS.L = 1, where RIP is canonical', (v) => {
    const rip = v.read('GUEST_RIP');
    const long = v.ia32eGuest && (seg(v, 'CS').ar & (1 << 13)) !== 0;
    return long ? canonical(rip, laWidth(v.read('GUEST_CR4'))) : rip >> 32n === 0n;
  }),
  c('guest', 'guest-rflags', '27.3.1.4', 'RFLAGS bits 63:22, 15, 5, 3 are 0 and bit 1 is 1; VM = 0 in an IA-32e guest or with CR0.PE = 0; IF = 1 when injecting an external interrupt', (v) => {
    const f = v.read('GUEST_RFLAGS');
    if (f >> 22n !== 0n || bit(f, 15) || bit(f, 5) || bit(f, 3) || !bit(f, 1)) return false;
    if (bit(f, 17) && (v.ia32eGuest || !bit(v.read('GUEST_CR0'), 0))) return false;
    const i = injection(v);
    return !(i.valid && i.type === InterruptionType.EXTERNAL_INTERRUPT && !bit(f, 9));
  }),
  // ---- 27.3.1.5 non-register state
  c('guest', 'guest-activity', '27.3.1.5', 'Activity state is one the processor supports (active or HLT), HLT only with SS.DPL = 0, and active whenever the interruptibility state shows blocking by STI or by MOV SS', (v) => {
    const a = Number(v.read('GUEST_ACTIVITY_STATE'));
    if (!SUPPORTED_ACTIVITY_STATES.has(a)) return false;
    if (a !== 0 && (Number(v.read('GUEST_INTERRUPTIBILITY_INFO')) & 3) !== 0) return false;
    return a !== 1 || arDpl(seg(v, 'SS').ar) === 0;
  }),
  c('guest', 'guest-interruptibility', '27.3.1.5', 'Interruptibility: bits 31:5 and enclave interruption (bit 4, no SGX) and blocking by SMI (bit 2, not in SMM) are 0; not blocked by both STI and MOV SS; no blocking by STI with RFLAGS.IF = 0; none by STI or MOV SS when injecting an external interrupt, none by MOV SS when injecting an NMI', (v) => {
    const s = Number(v.read('GUEST_INTERRUPTIBILITY_INFO'));
    if ((s & ~0xb) !== 0) return false;
    if ((s & 3) === 3) return false;
    if ((s & 1) !== 0 && !bit(v.read('GUEST_RFLAGS'), 9)) return false;
    const i = injection(v);
    if (i.valid && i.type === InterruptionType.EXTERNAL_INTERRUPT && (s & 3) !== 0) return false;
    return !(i.valid && i.type === InterruptionType.NMI && (s & 2) !== 0);
  }),
  c('guest', 'guest-pending-debug', '27.3.1.5', 'Pending debug exceptions: bits 11:4, 13, 15 and 63:17 are 0', (v) => (v.read('GUEST_PENDING_DBG_EXCEPTIONS') & ~0x1500fn) === 0n),
  c('guest', 'guest-vmcs-link', '27.3.1.5', 'The VMCS link pointer is FFFFFFFF_FFFFFFFFH, or 4-KByte aligned, within the physical-address width, and pointing at a region with this revision identifier and the shadow indicator 0 ("VMCS shadowing" is not supported)', (v) => {
    const p = v.read('VMCS_LINK_POINTER');
    if (p === 0xffffffffffffffffn) return true;
    if (!aligned(p, 4096n) || !withinWidth(p)) return false;
    return v.ctx.mem.read(Number(p), 4) === VMCS_REVISION;
  }, 4),
];

/** Every check, in the order VM entry makes them. */
export const ENTRY_CHECKS: readonly EntryCheck[] = DEFS.map(({ test: _t, ...rest }) => rest);

export type EntryCheckResult =
  | { ok: true }
  | { ok: false; check: EntryCheck };

/** Runs the checks of one stage in order; the first that fails is returned. */
export function runChecks(stage: CheckStage, ctx: EntryContext): EntryCheckResult {
  const read = ctx.read;
  const primary = Number(read('CPU_BASED_VM_EXEC_CONTROL'));
  const secondary = (primary & Primary.ACTIVATE_SECONDARY_CONTROLS!) !== 0 ? Number(read('SECONDARY_VM_EXEC_CONTROL')) : 0;
  const entry = Number(read('VM_ENTRY_CONTROLS'));
  const exit = Number(read('VM_EXIT_CONTROLS'));
  const v: View = {
    read,
    ctx,
    pin: Number(read('PIN_BASED_VM_EXEC_CONTROL')),
    primary,
    secondary,
    exit,
    entry,
    ia32eGuest: (entry & Entry.IA32E_MODE_GUEST!) !== 0,
    unrestricted: (secondary & Secondary.UNRESTRICTED_GUEST!) !== 0,
    hostLong: (exit & Exit.HOST_ADDRESS_SPACE_SIZE!) !== 0,
  };
  for (const d of DEFS) {
    if (d.stage !== stage) continue;
    if (!d.test(v)) return { ok: false, check: ENTRY_CHECKS.find((x) => x.id === d.id)! };
  }
  return { ok: true };
}
