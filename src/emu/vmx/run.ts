/**
 * Running a guest under VT-x on the lab's Cpu: VM entry loads the guest state into the processor
 * (SDM Vol. 3C, 27.3.2) and injects the VM-entry event (27.6); the guest runs in VMX non-root
 * operation under a `VmxMonitor` (nonroot.ts); a VM exit records the exit information (28.2),
 * saves the guest state (28.3) through `Vmx.vmexit`, and loads the host state (28.5).
 *
 * The hypervisor is TypeScript: it calls `vmx.vmlaunch()` / `vmx.vmresume()` (the VMX layer's
 * checks), then `runGuest(vmx, cpu, budget)`, which loads the entered guest into the Cpu on its first
 * call after an entry and runs it until a VM exit or the budget of guest steps:
 *
 *   vmx.vmlaunch();
 *   for (;;) {
 *     const r = runGuest(vmx, cpu, 100_000);
 *     const reason = vmx.vmread(VM_EXIT_REASON) ...;  advance GUEST_RIP by VM_EXIT_INSTRUCTION_LEN
 *     vmx.vmresume();
 *   }
 *
 * After an exit the Cpu holds the host state (as a real processor would, at HOST_RIP), which is what
 * the next entry's host-state checks and `VmxProcessor` read. Without EPT, guest-physical addresses
 * are the host's (the lab's single guest); with "enable EPT" the CPU translates every guest access
 * and every entry of the guest's own walk through the EPTP's tables (`Cpu.setNested` with ept.ts's
 * `eptNested`), an EPT violation or misconfiguration is exit 48 or 49 with its qualification and
 * addresses, and "unrestricted guest" lets the guest run with paging or protection off. A PAE
 * guest under EPT takes its PDPTEs from the VMCS at entry and loads them through EPT at its MOVs
 * to CR0/CR3/CR4 (29.3.1 and 4.4.1; saved back at the exit, 28.3.4). The VM-entry MSR-load area is loaded with the guest state, so its failure
 * (exit reason 34 with bit 31) is what the first runGuest after the entry returns; the VM-exit
 * MSR-store and MSR-load areas are processed at each exit, a failure being a VMX abort. Debug
 * registers do not exist in the CPU, so DR7 and IA32_DEBUGCTL keep their VMCS values across a run.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { Fault } from '../cpu/core.ts';
import { GuestExit, type EventType } from '../cpu/guest.ts';
import type { SegmentCache } from '../cpu/state.ts';
import { Flag, SegAttr } from '../cpu/state.ts';
import { EventKind, deliverExceptionImpl, type EventKindValue } from '../cpu/sys-int.ts';
import { MAXPHYADDR, MSR, loadPdptes, readMsr, writeMsr } from '../cpu/sys-ctl.ts';
import { CR0, CR4, EFER } from '../cpu/sys-util.ts';
import { ActivityState, Entry, Exit, Primary, Secondary } from './controls.ts';
import { INVEPT_TYPE, INVVPID_TYPE, NO_EP4TA } from '../mmu/tlb.ts';
import { EXIT_MSR_LOADING, EXIT_REASON_ENTRY_FAILURE } from './exit-reasons.ts';
import { ia32eGuest, VmxMonitor } from './nonroot.ts';
import { eptCaps, eptNested } from './ept.ts';
import { AR_UNUSABLE, decodeInterruptionInfo, InterruptionType } from './qualification.ts';
import { readGuestState, readHostState, REGION_ABORT, SEGMENTS, type FieldReader, type GuestState, type HostState, type SegmentName, type VmxSegment } from './vmcs.ts';
import type { Vmx, VmExitInfo, VmxProcessor } from './vmx.ts';

/** The VMX layer's view of the lab's Cpu (vmx.ts `VmxProcessor`). */
export function cpuProcessor(cpu: Cpu): VmxProcessor {
  const s = cpu.state;
  return {
    mem: cpu.mem,
    cpl: () => cpu.cpl(),
    cr0: () => s.cr0 >>> 0,
    cr4: () => s.cr4 >>> 0,
    rflags: () => cpu.syncFlags() >>> 0,
    efer: () => s.efer >>> 0,
    csLong: () => (s.seg[1]!.attr & SegAttr.L) !== 0,
    // The CPU keeps one shadow bit for STI and MOV SS; with IF = 0 it can only be MOV SS's.
    blockedByMovSs: () => s.interruptShadow && (s.rflags & Flag.IF) === 0,
    tlb: {
      invvpid: (type, vpid, linear) => {
        const lo = Number(linear & 0xffffffffn);
        const hi = Number((linear >> 32n) & 0xffffffffn);
        const scope = type === INVVPID_TYPE.INDIVIDUAL_ADDRESS ? 'page' : type === INVVPID_TYPE.SINGLE_CONTEXT ? 'tag' : type === INVVPID_TYPE.ALL_CONTEXT ? 'all-but-host' : 'tag-non-global';
        cpu.tlbInvalidateTagged((t) => t.invvpid(type, vpid, lo, hi), {
          cause: 'invvpid', scope, ...(type === INVVPID_TYPE.ALL_CONTEXT ? {} : { tag: vpid }), ...(type === INVVPID_TYPE.INDIVIDUAL_ADDRESS ? { linear } : {}),
        });
      },
      invept: (type, ep4ta) => {
        cpu.tlbInvalidateTagged((t) => t.invept(type, ep4ta), type === INVEPT_TYPE.SINGLE_CONTEXT ? { cause: 'invept', scope: 'ep4ta', ep4ta } : { cause: 'invept', scope: 'all-combined' });
        // The guest-physical mappings (29.4.1) cached outside the TLB: the nested walk's caches.
        cpu.mmu.flushWalkCaches();
      },
    },
  };
}

/** EPTP bits 51:12, the EP4TA that tags combined mappings (SDM 29.4.1), as a page number. */
export function ep4taOf(eptp: bigint): number {
  return Number((eptp >> 12n) & 0xffffffffffn);
}

/**
 * The TLB at VM entry (SDM 29.4.3.1, 27.3.3): without "enable VPID" the entry invalidates the
 * linear and combined mappings of VPID 0000H (every PCID, every EP4TA, globals too); with it,
 * nothing. Then the guest's translations are looked up and filled under its VPID (0 without
 * VPID) and, with "enable EPT", the EPTP's EP4TA.
 */
function tlbAtEntry(cpu: Cpu, read: FieldReader): void {
  const primary = Number(read('CPU_BASED_VM_EXEC_CONTROL'));
  const secondary = (primary & Primary.ACTIVATE_SECONDARY_CONTROLS!) !== 0 ? Number(read('SECONDARY_VM_EXEC_CONTROL')) : 0;
  const vpid = (secondary & Secondary.ENABLE_VPID!) !== 0 ? Number(read('VIRTUAL_PROCESSOR_ID')) : 0;
  if (vpid === 0) cpu.tlbInvalidateTagged((t) => t.flushTag(0, true), { cause: 'vm-entry', scope: 'tag', tag: 0 });
  cpu.setTlbTag(vpid, (secondary & Secondary.ENABLE_EPT!) !== 0 ? ep4taOf(read('EPT_POINTER')) : NO_EP4TA);
}

/**
 * The TLB at VM exit (SDM 29.4.3.1, 28.5): a guest that ran without VPID ran under tag 0 (a VPID
 * of 0 cannot be entered with "enable VPID", 27.2.1.1), so the exit invalidates VPID 0000H's
 * mappings; a guest with a VPID leaves its entries. The host's are looked up under tag 0, no EP4TA.
 */
function tlbAtExit(cpu: Cpu): void {
  if (cpu.mmu.tlb.current === 0) cpu.tlbInvalidateTagged((t) => t.flushTag(0, true), { cause: 'vm-exit', scope: 'tag', tag: 0 });
  cpu.setTlbTag(0, NO_EP4TA);
}

const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);
const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** The Cpu's segment indexes of the VMCS's segment names (LDTR and TR are separate registers). */
const SEG_INDEX: Partial<Record<SegmentName, number>> = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 };

function segmentOf(cpu: Cpu, name: SegmentName): SegmentCache {
  const s = cpu.state;
  if (name === 'LDTR') return s.ldtr;
  if (name === 'TR') return s.tr;
  return s.seg[SEG_INDEX[name]!]!;
}

/** A segment register loaded from the VMCS's form: the access rights are the descriptor's attribute bits (limit 19:16 excluded). */
function loadSegment(c: SegmentCache, v: VmxSegment): void {
  c.selector = v.selector & 0xffff;
  c.baseLo = lo32(v.base);
  c.baseHi = hi32(v.base);
  c.limit = v.limit >>> 0;
  c.attr = v.ar & 0xf0ff;
  c.valid = (v.ar & AR_UNUSABLE) === 0;
}

function saveSegment(c: SegmentCache): VmxSegment {
  return { selector: c.selector, base: u64(c.baseLo, c.baseHi), limit: c.limit >>> 0, ar: ((c.attr & 0xf0ff) | (c.valid ? 0 : AR_UNUSABLE)) >>> 0 };
}

function setMsr(cpu: Cpu, index: number, v: bigint): void {
  cpu.state.msr.set(index, [lo32(v), hi32(v)]);
}

function getMsr(cpu: Cpu, index: number): bigint {
  const m = cpu.state.msr.get(index);
  return m === undefined ? 0n : u64(m[0], m[1]);
}

/** 27.3.2: loads the guest-state area into the processor. */
export function loadGuestState(cpu: Cpu, g: GuestState, entryControls: number): void {
  const s = cpu.state;
  s.cr0 = lo32(g.cr0) >>> 0;
  s.cr3Lo = lo32(g.cr3);
  s.cr3Hi = hi32(g.cr3);
  s.cr4 = lo32(g.cr4) >>> 0;
  if ((entryControls & Entry.LOAD_IA32_EFER!) !== 0) s.efer = lo32(g.efer) >>> 0;
  else {
    // Without "load IA32_EFER", LMA and LME take the "IA-32e mode guest" control; the other bits stay.
    const lm = EFER.LMA | EFER.LME;
    s.efer = ((s.efer & ~lm) | (ia32eGuest(entryControls) ? lm : 0)) >>> 0;
  }
  if ((entryControls & Entry.LOAD_IA32_PAT!) !== 0) setMsr(cpu, MSR.IA32_PAT, g.pat);
  setMsr(cpu, MSR.IA32_SYSENTER_CS, BigInt(g.sysenterCs >>> 0));
  setMsr(cpu, MSR.IA32_SYSENTER_ESP, g.sysenterEsp);
  setMsr(cpu, MSR.IA32_SYSENTER_EIP, g.sysenterEip);
  for (const name of SEGMENTS) loadSegment(segmentOf(cpu, name), g.seg[name]);
  s.gdtr = { baseLo: lo32(g.gdtr.base), baseHi: hi32(g.gdtr.base), limit: g.gdtr.limit & 0xffff };
  s.idtr = { baseLo: lo32(g.idtr.base), baseHi: hi32(g.idtr.base), limit: g.idtr.limit & 0xffff };
  s.regLo[4] = lo32(g.rsp);
  s.regHi[4] = hi32(g.rsp);
  s.ripLo = lo32(g.rip);
  s.ripHi = hi32(g.rip);
  cpu.syncFlags(); // drop pending lazy flags before RFLAGS is replaced
  s.rflags = (lo32(g.rflags) | 2) >>> 0;
  s.halted = g.activityState === ActivityState.HLT;
  // Blocking by STI or by MOV SS: the CPU has one shadow for both.
  s.interruptShadow = (g.interruptibility & 3) !== 0;
  // PAE paging without EPT: the PDPTEs come from CR3 (27.3.2.4 with "enable EPT" 0; with EPT,
  // enter() loads them from the VMCS instead).
  if ((s.cr0 & CR0.PG) !== 0 && (s.cr4 & CR4.PAE) !== 0 && (s.efer & EFER.LMA) === 0) loadPdptes(cpu, s.cr3Lo);
  // The TLB's part of the entry (VPID 0000H's flush without VPID, the tags) is tlbAtEntry's.
  cpu.modeChanged();
}

/** 28.3: the guest state as the processor holds it at the exit. */
export function saveGuestState(cpu: Cpu, vmx: Vmx, mon: VmxMonitor): GuestState {
  const s = cpu.state;
  const read = vmx.currentReader()!;
  const before = readGuestState(read);
  const seg = {} as Record<SegmentName, VmxSegment>;
  for (const name of SEGMENTS) seg[name] = saveSegment(segmentOf(cpu, name));
  const rflags = cpu.syncFlags() >>> 0;
  // The CPU's one shadow bit: with IF = 1 it is STI's (MOV SS blocking then is indistinguishable), else MOV SS's.
  const interruptibility = s.interruptShadow ? ((rflags & Flag.IF) !== 0 ? 1 : 2) : 0;
  return {
    ...before,
    cr0: BigInt(s.cr0 >>> 0),
    cr3: u64(s.cr3Lo, s.cr3Hi),
    cr4: BigInt(s.cr4 >>> 0),
    rsp: u64(s.regLo[4]!, s.regHi[4]!),
    rip: u64(s.ripLo, s.ripHi),
    rflags: BigInt(rflags),
    seg,
    gdtr: { base: u64(s.gdtr.baseLo, s.gdtr.baseHi), limit: s.gdtr.limit },
    idtr: { base: u64(s.idtr.baseLo, s.idtr.baseHi), limit: s.idtr.limit },
    sysenterCs: Number(getMsr(cpu, MSR.IA32_SYSENTER_CS) & 0xffffffffn),
    sysenterEsp: getMsr(cpu, MSR.IA32_SYSENTER_ESP),
    sysenterEip: getMsr(cpu, MSR.IA32_SYSENTER_EIP),
    pat: getMsr(cpu, MSR.IA32_PAT),
    efer: BigInt(s.efer >>> 0),
    activityState: s.halted ? ActivityState.HLT : ActivityState.ACTIVE,
    interruptibility,
    pendingDebugExceptions: 0n,
    pdpte: [u64(s.pdpte[0]!, s.pdpte[1]!), u64(s.pdpte[2]!, s.pdpte[3]!), u64(s.pdpte[4]!, s.pdpte[5]!), u64(s.pdpte[6]!, s.pdpte[7]!)],
    preemptionTimer: mon.timerValue(),
    // RVI and SVI go back to the guest interrupt-status field (28.3.3 with "virtual-interrupt delivery").
    ...(mon.apic !== null && mon.apic.ctl.virtualInterruptDelivery ? { interruptStatus: mon.apic.interruptStatus() } : {}),
  };
}

/** 28.5: loads the host-state area (`hostLong`: the "host address-space size" exit control). */
export function loadHostState(cpu: Cpu, h: HostState, hostLong: boolean, exitControls: number): void {
  const s = cpu.state;
  cpu.guest = null;
  if (cpu.nestedTranslator() !== null) cpu.setNested(null);
  s.cr0 = lo32(h.cr0) >>> 0;
  s.cr3Lo = lo32(h.cr3);
  s.cr3Hi = hi32(h.cr3);
  s.cr4 = lo32(h.cr4) >>> 0;
  if ((exitControls & Exit.LOAD_IA32_EFER!) !== 0) s.efer = lo32(h.efer) >>> 0;
  else {
    const lm = EFER.LMA | EFER.LME;
    s.efer = ((s.efer & ~lm) | (hostLong ? lm : 0)) >>> 0;
  }
  if ((exitControls & Exit.LOAD_IA32_PAT!) !== 0) setMsr(cpu, MSR.IA32_PAT, h.pat);
  setMsr(cpu, MSR.IA32_SYSENTER_CS, BigInt(h.sysenterCs >>> 0));
  setMsr(cpu, MSR.IA32_SYSENTER_ESP, h.sysenterEsp);
  setMsr(cpu, MSR.IA32_SYSENTER_EIP, h.sysenterEip);
  // CS: base 0, limit 4 GiB, execute/read accessed code, DPL 0, L = host address-space size (28.5.2).
  const cs = s.seg[1]!;
  Object.assign(cs, { selector: h.selector.CS, baseLo: 0, baseHi: 0, limit: 0xffffffff, valid: true });
  cs.attr = 0xb | SegAttr.S | SegAttr.P | SegAttr.G | (hostLong ? SegAttr.L : SegAttr.DB);
  const data: [number, 'ES' | 'SS' | 'DS' | 'FS' | 'GS'][] = [[0, 'ES'], [2, 'SS'], [3, 'DS'], [4, 'FS'], [5, 'GS']];
  for (const [i, name] of data) {
    const c = s.seg[i]!;
    const sel = h.selector[name];
    const base = name === 'FS' ? h.fsBase : name === 'GS' ? h.gsBase : 0n;
    // A null selector makes the register unusable (SS too: its DPL is 0 either way).
    Object.assign(c, { selector: sel, baseLo: lo32(base), baseHi: hi32(base), limit: 0xffffffff, valid: sel !== 0 });
    c.attr = 0x3 | SegAttr.S | SegAttr.P | SegAttr.DB | SegAttr.G;
  }
  s.tr = { selector: h.selector.TR, baseLo: lo32(h.trBase), baseHi: hi32(h.trBase), limit: 0x67, attr: 0xb | SegAttr.P, valid: true };
  s.ldtr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0, attr: 0, valid: false };
  s.gdtr = { baseLo: lo32(h.gdtrBase), baseHi: hi32(h.gdtrBase), limit: 0xffff };
  s.idtr = { baseLo: lo32(h.idtrBase), baseHi: hi32(h.idtrBase), limit: 0xffff };
  s.regLo[4] = lo32(h.rsp);
  s.regHi[4] = hi32(h.rsp);
  s.ripLo = lo32(h.rip);
  s.ripHi = hi32(h.rip);
  // RFLAGS is cleared except bit 1; no blocking; the processor is active (28.5.3).
  cpu.syncFlags();
  s.rflags = 2;
  s.interruptShadow = false;
  s.halted = false;
  cpu.exit = null;
  cpu.guestVectoring = null;
  if ((s.cr0 & CR0.PG) !== 0 && (s.cr4 & CR4.PAE) !== 0 && (s.efer & EFER.LMA) === 0) loadPdptes(cpu, s.cr3Lo);
  tlbAtExit(cpu);
  cpu.modeChanged();
}

const TYPE_OF: Readonly<Record<number, EventType>> = {
  [InterruptionType.EXTERNAL_INTERRUPT]: 'external-interrupt',
  [InterruptionType.NMI]: 'nmi',
  [InterruptionType.HARDWARE_EXCEPTION]: 'hardware-exception',
  [InterruptionType.SOFTWARE_INTERRUPT]: 'software-interrupt',
  [InterruptionType.PRIVILEGED_SOFTWARE_EXCEPTION]: 'privileged-software-exception',
  [InterruptionType.SOFTWARE_EXCEPTION]: 'software-exception',
};

/**
 * 27.6: delivers the VM-entry event through the guest's IDT before the guest's first instruction. A
 * software interrupt or exception pushes RIP + the VM-entry instruction length, and is checked
 * against the gate's DPL as INT n is; a hardware exception pushes the error code when bit 11 says so.
 * The injected event is not offered to the exception bitmap; a fault during its delivery is, with
 * the injected event as IDT-vectoring information.
 */
function inject(cpu: Cpu, mon: VmxMonitor, info: number, errorCode: number, length: number): void {
  const ev = decodeInterruptionInfo(info);
  if (!ev.valid) return;
  const type = TYPE_OF[ev.type];
  if (type === undefined) return; // type 7 (MTF pending) has no event to deliver; the lab has no MTF
  const s = cpu.state;
  s.halted = false;
  const software = type === 'software-interrupt' || type === 'software-exception' || type === 'privileged-software-exception';
  const rip = u64(s.ripLo, s.ripHi);
  const kind: EventKindValue =
    type === 'external-interrupt' ? EventKind.EXTERNAL : type === 'privileged-software-exception' ? EventKind.ICEBP : software ? EventKind.SOFTWARE : EventKind.EXCEPTION;
  mon.injecting = { vector: ev.vector, type, length: software ? length : 0 };
  mon.injected = mon.injecting;
  if (software) {
    const next = BigInt.asUintN(64, rip + BigInt(length));
    s.ripLo = lo32(next);
    s.ripHi = hi32(next);
  }
  deliverExceptionImpl(cpu, new Fault(ev.vector, ev.errorCodeValid ? errorCode >>> 0 : -1), kind);
  mon.injecting = null;
  if (cpu.exit !== null && software) {
    // The delivery exited: the guest's RIP is still that of the entry.
    s.ripLo = lo32(rip);
    s.ripHi = hi32(rip);
  }
  cpu.modeChanged();
}

// ---- the MSR areas (27.4, 28.4, 28.6): 16-byte entries, MSR index in bits 31:0, bits 63:32 reserved, data in 127:64

const IA32_FS_BASE = 0xc0000100;
const IA32_GS_BASE = 0xc0000101;
const IA32_SMM_MONITOR_CTL = 0x9b;
const IA32_SMBASE = 0x9e;

/** The x2APIC MSRs (bits 31:8 = 000008H) may not be in any MSR area. */
const x2apic = (index: number): boolean => index >>> 8 === 0x8;

/**
 * Loads the MSRs of an MSR-load area as WRMSR would, in order; the number (from 1) of the first
 * entry that fails, or 0. An entry fails with reserved bits set, for FS.base and GS.base (loaded
 * from their fields instead), IA32_SMM_MONITOR_CTL and the x2APIC MSRs, and when WRMSR of its
 * value would #GP (27.4 for VM entry, 28.6 for VM exit).
 */
function loadMsrArea(cpu: Cpu, address: number, count: number): number {
  const mem = cpu.mem;
  for (let i = 0; i < count; i++) {
    const a = address + 16 * i;
    const index = mem.read(a, 4) >>> 0;
    if (mem.read(a + 4, 4) !== 0 || x2apic(index) || index === IA32_FS_BASE || index === IA32_GS_BASE || index === IA32_SMM_MONITOR_CTL) return i + 1;
    try {
      writeMsr(cpu, index, mem.read(a + 8, 4), mem.read(a + 12, 4));
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      return i + 1;
    }
  }
  return 0;
}

/** Stores the MSRs an MSR-store area names, as RDMSR reads them (28.4); false when an entry fails (a VMX abort). */
function storeMsrArea(cpu: Cpu, address: number, count: number): boolean {
  const mem = cpu.mem;
  for (let i = 0; i < count; i++) {
    const a = address + 16 * i;
    const index = mem.read(a, 4) >>> 0;
    if (mem.read(a + 4, 4) !== 0 || x2apic(index) || index === IA32_SMBASE) return false;
    try {
      const [lo, hi] = readMsr(cpu, index);
      mem.write(a + 8, 4, lo);
      mem.write(a + 12, 4, hi);
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      return false;
    }
  }
  return true;
}

/** VMX-abort indicators (SDM Vol. 3C, 28.7). */
export const VmxAbort = { SAVING_GUEST_MSRS: 1, LOADING_HOST_MSRS: 4 } as const;

/**
 * A VMX abort (28.7): the indicator is written to bytes 4–7 of the current VMCS region and the
 * logical processor shuts down.
 */
function vmxAbort(vmx: Vmx, cpu: Cpu, indicator: number): GuestRunEnd {
  const region = vmx.state.currentVmcs;
  cpu.mem.write(region + REGION_ABORT, 4, indicator);
  cpu.guest = null;
  if (cpu.nestedTranslator() !== null) cpu.setNested(null);
  cpu.setTlbTag(0, NO_EP4TA);
  cpu.state.shutdown = true;
  return { kind: 'abort', indicator };
}

/** How `runGuest` ended. */
export type GuestRunEnd =
  | { kind: 'exit'; reason: number; info: VmExitInfo }
  /** The budget of guest steps ran out; the guest stays loaded and the next call continues it. */
  | { kind: 'budget' }
  /** The guest is halted and nothing can wake it or end the run (no HLT exiting, no interrupt, no timer). */
  | { kind: 'halted' }
  /** A VMX abort while exiting (an MSR area entry failed): the processor is shut down. */
  | { kind: 'abort'; indicator: number };

/**
 * Loads the guest that the last successful VMLAUNCH/VMRESUME entered and its VM-entry MSR-load area,
 * and installs its monitor; or, when the MSR-load area fails, ends the entry (27.8: exit reason 34)
 * with the host loaded and returns the failure.
 */
function enter(vmx: Vmx, cpu: Cpu): VmxMonitor | GuestRunEnd {
  const read = vmx.currentReader();
  if (read === undefined) throw new Error('runGuest: no current VMCS');
  const entryControls = Number(read('VM_ENTRY_CONTROLS'));
  loadGuestState(cpu, readGuestState(read), entryControls);
  tlbAtEntry(cpu, read);
  const failed = loadMsrArea(cpu, Number(read('VM_ENTRY_MSR_LOAD_ADDR')), Number(read('VM_ENTRY_MSR_LOAD_COUNT')));
  if (failed !== 0) {
    const r = vmx.entryFailedLate(EXIT_MSR_LOADING, failed);
    loadHostState(cpu, r.host, r.hostLong, r.exitControls);
    const reason = (EXIT_MSR_LOADING | EXIT_REASON_ENTRY_FAILURE) >>> 0;
    return { kind: 'exit', reason, info: { reason, qualification: BigInt(failed) } };
  }
  cpu.exit = null;
  cpu.guestVectoring = null;
  const mon = new VmxMonitor(read, cpu);
  cpu.guest = mon;
  if ((mon.secondary & Secondary.ENABLE_EPT!) !== 0) {
    // With EPT every guest-physical address the guest's accesses and its own walk use is
    // translated through the EPTP's tables (29.3); entry checked the EPTP. A PAE guest's PDPTEs
    // come from the VMCS guest PDPTE fields (27.3.2.4), not from memory at CR3 (which
    // loadGuestState read as if host-physical: replaced here); its MOVs to CR0/CR3/CR4 load them
    // through EPT (cpu/sys-ctl.ts loadPdptes). The PDPTE checks of 27.3.1.6 are not made.
    const s = cpu.state;
    if ((s.cr0 & CR0.PG) !== 0 && (s.cr4 & CR4.PAE) !== 0 && (s.efer & EFER.LMA) === 0) {
      const p = readGuestState(read).pdpte;
      for (let i = 0; i < 4; i++) {
        s.pdpte[2 * i] = lo32(p[i]!);
        s.pdpte[2 * i + 1] = hi32(p[i]!);
      }
    }
    cpu.setNested(eptNested(cpu.mem, read('EPT_POINTER'), { caps: eptCaps(), maxPhysAddr: MAXPHYADDR, sideEffects: true }));
  }
  // 27.3.2.5: with "virtual-interrupt delivery", PPR virtualization and evaluation of pending
  // virtual interrupts (apicv.ts atEntry).
  mon.apic?.atEntry();
  try {
    inject(cpu, mon, Number(read('VM_ENTRY_INTR_INFO_FIELD')), Number(read('VM_ENTRY_EXCEPTION_ERROR_CODE')), Number(read('VM_ENTRY_INSTRUCTION_LEN')));
  } catch (e) {
    // An EPT fault while delivering the injected event: cpu.exit holds it (runGuest exits).
    if (e !== GuestExit.signal) throw e;
  }
  return mon;
}

/** The VM exit: exit information, guest state saved, host state loaded (28.2, 28.3, 28.5). */
function exitToHost(vmx: Vmx, cpu: Cpu, mon: VmxMonitor): GuestRunEnd {
  const w = cpu.exit!;
  const info = mon.exitInfo(w);
  mon.injected = null;
  const guest = saveGuestState(cpu, vmx, mon);
  const read = vmx.currentReader()!;
  const store = { address: Number(read('VM_EXIT_MSR_STORE_ADDR')), count: Number(read('VM_EXIT_MSR_STORE_COUNT')) };
  const load = { address: Number(read('VM_EXIT_MSR_LOAD_ADDR')), count: Number(read('VM_EXIT_MSR_LOAD_COUNT')) };
  const r = vmx.vmexit(info, guest);
  // 28.4: the guest's MSRs are stored after its state is saved, while the processor still holds them.
  if (!storeMsrArea(cpu, store.address, store.count)) return vmxAbort(vmx, cpu, VmxAbort.SAVING_GUEST_MSRS);
  loadHostState(cpu, r.host, r.hostLong, r.exitControls);
  // 28.6: then the host's MSRs are loaded.
  if (loadMsrArea(cpu, load.address, load.count) !== 0) return vmxAbort(vmx, cpu, VmxAbort.LOADING_HOST_MSRS);
  return { kind: 'exit', reason: info.reason, info };
}

/**
 * Runs the guest of the current VMCS after a successful VMLAUNCH/VMRESUME until a VM exit (then the
 * Cpu holds the host state and VMX is in root operation) or `budget` guest steps.
 */
export function runGuest(vmx: Vmx, cpu: Cpu, budget: number): GuestRunEnd {
  if (vmx.state.mode !== 'non-root') throw new Error('runGuest: not in VMX non-root operation (VMLAUNCH/VMRESUME first)');
  let mon = cpu.guest instanceof VmxMonitor && cpu.guest.owner === vmx ? cpu.guest : null;
  if (mon === null) {
    const entered = enter(vmx, cpu);
    if (!(entered instanceof VmxMonitor)) return entered;
    mon = entered;
    mon.owner = vmx;
    if (cpu.exit !== null) return exitToHost(vmx, cpu, mon);
    mon.injected = null;
  }
  const end = cpu.run(budget);
  if (end === 'exit') return exitToHost(vmx, cpu, mon);
  if (end === 'hlt') return { kind: 'halted' };
  if (end === 'shutdown') throw new Error('runGuest: shutdown in VMX non-root operation (a triple fault always exits)');
  return { kind: 'budget' };
}
