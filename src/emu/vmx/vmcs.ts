/**
 * The VMCS region in physical memory, and typed reads of its guest-state and host-state areas.
 *
 * Architecturally only two things in a VMCS region have a defined place (Intel SDM Vol. 3C, 25.2
 * "Format of the VMCS Region"): bytes 0-3 hold the VMCS revision identifier in bits 30:0 (bit 31
 * is the shadow-VMCS indicator), and bytes 4-7 the VMX-abort indicator. Everything else, the field
 * values and the launch state, is "implementation-specific": software must use VMREAD and VMWRITE,
 * never ordinary loads and stores, and that is exactly why those instructions exist.
 *
 * This lab's own layout (a processor may use any; do not teach it as Intel's):
 *   bytes 0-3    revision identifier (architectural)
 *   bytes 4-7    VMX-abort indicator (architectural)
 *   bytes 8-11   launch state: 0 clear, 1 launched (the lab's choice)
 *   bytes 16+8n  the value of catalogue field n (fields.ts `slot`), 8 bytes little-endian
 * Keeping the values in guest-physical memory (not in a JavaScript object) means checkpoints and
 * time travel cover them with the rest of RAM, and a memory view shows the region as it is. Real
 * processors may cache an active VMCS on chip; the lab writes through, so VMCLEAR has nothing
 * left to flush.
 */
import type { PhysMem } from '../mem/physmem.ts';
import type { VmcsField } from './fields.ts';
import { fieldByName } from './fields.ts';

export const REGION_REVISION = 0;
export const REGION_ABORT = 4;
export const REGION_LAUNCH_STATE = 8;
export const REGION_FIELDS = 16;

export type LaunchState = 'clear' | 'launched';

export function fieldOffset(field: VmcsField): number {
  return REGION_FIELDS + field.slot * 8;
}

const mask = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

/** A field's stored value (already truncated to its width when written). */
export function readStored(mem: PhysMem, region: number, field: VmcsField): bigint {
  const lo = mem.readWide(region + fieldOffset(field), 8) >>> 0;
  const hi = mem.hiOut >>> 0;
  return ((BigInt(hi) << 32n) | BigInt(lo)) & mask(field.bits);
}

/** Stores a field's value, truncated to the field's width. */
export function writeStored(mem: PhysMem, region: number, field: VmcsField, value: bigint): void {
  const v = BigInt.asUintN(64, value) & mask(field.bits);
  mem.writeWide(region + fieldOffset(field), 8, Number(v & 0xffffffffn), Number(v >> 32n));
}

export function readLaunchState(mem: PhysMem, region: number): LaunchState {
  return mem.read(region + REGION_LAUNCH_STATE, 4) === 1 ? 'launched' : 'clear';
}

export function writeLaunchState(mem: PhysMem, region: number, s: LaunchState): void {
  mem.write(region + REGION_LAUNCH_STATE, 4, s === 'launched' ? 1 : 0);
}

/** Reads a VMCS field by identifier (full access). */
export type FieldReader = (name: string) => bigint;
/** Writes a VMCS field by identifier (full access), bypassing VMWRITE's checks: the processor's own writes. */
export type FieldWriter = (name: string, value: bigint) => void;

export function regionReader(mem: PhysMem, region: number): FieldReader {
  return (name) => {
    const f = fieldByName(name);
    if (f === undefined || f.access !== 'full') throw new Error(`not a VMCS field: ${name}`);
    return readStored(mem, region, f.field);
  };
}

export function regionWriter(mem: PhysMem, region: number): FieldWriter {
  return (name, value) => {
    const f = fieldByName(name);
    if (f === undefined || f.access !== 'full') throw new Error(`not a VMCS field: ${name}`);
    writeStored(mem, region, f.field, value);
  };
}

// ---------------------------------------------------------------------------------------------
// Guest and host state as typed objects

/** A segment register in the VMCS's form (SDM Vol. 3C, 25.4.1): access rights as in Table 25-2. */
export interface VmxSegment {
  selector: number;
  base: bigint;
  limit: number;
  /** Access rights: type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16. */
  ar: number;
}

export const SEGMENTS = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS', 'LDTR', 'TR'] as const;
export type SegmentName = (typeof SEGMENTS)[number];

export interface TableRegister {
  base: bigint;
  limit: number;
}

/** The guest-state area (SDM Vol. 3C, 25.4), as VM entry loads it into the processor. */
export interface GuestState {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  dr7: bigint;
  rsp: bigint;
  rip: bigint;
  rflags: bigint;
  seg: Record<SegmentName, VmxSegment>;
  gdtr: TableRegister;
  idtr: TableRegister;
  debugctl: bigint;
  sysenterCs: number;
  sysenterEsp: bigint;
  sysenterEip: bigint;
  /** Meaningful when the load IA32_PAT entry control is 1 (else the field is absent from loading). */
  pat: bigint;
  /** Meaningful when the load IA32_EFER entry control is 1. */
  efer: bigint;
  activityState: number;
  interruptibility: number;
  pendingDebugExceptions: bigint;
  vmcsLinkPointer: bigint;
  /** Used with EPT and PAE paging (SDM Vol. 3C, 27.4.1). */
  pdpte: [bigint, bigint, bigint, bigint];
  preemptionTimer: number;
  /** Guest interrupt status (RVI 7:0, SVI 15:8), saved at an exit with "virtual-interrupt delivery" (28.3.3). */
  interruptStatus?: number;
}

export function readGuestState(rd: FieldReader): GuestState {
  const seg = {} as Record<SegmentName, VmxSegment>;
  for (const s of SEGMENTS) {
    seg[s] = {
      selector: Number(rd(`GUEST_${s}_SELECTOR`)),
      base: rd(`GUEST_${s}_BASE`),
      limit: Number(rd(`GUEST_${s}_LIMIT`)),
      ar: Number(rd(`GUEST_${s}_AR_BYTES`)),
    };
  }
  return {
    cr0: rd('GUEST_CR0'),
    cr3: rd('GUEST_CR3'),
    cr4: rd('GUEST_CR4'),
    dr7: rd('GUEST_DR7'),
    rsp: rd('GUEST_RSP'),
    rip: rd('GUEST_RIP'),
    rflags: rd('GUEST_RFLAGS'),
    seg,
    gdtr: { base: rd('GUEST_GDTR_BASE'), limit: Number(rd('GUEST_GDTR_LIMIT')) },
    idtr: { base: rd('GUEST_IDTR_BASE'), limit: Number(rd('GUEST_IDTR_LIMIT')) },
    debugctl: rd('GUEST_IA32_DEBUGCTL'),
    sysenterCs: Number(rd('GUEST_SYSENTER_CS')),
    sysenterEsp: rd('GUEST_SYSENTER_ESP'),
    sysenterEip: rd('GUEST_SYSENTER_EIP'),
    pat: rd('GUEST_IA32_PAT'),
    efer: rd('GUEST_IA32_EFER'),
    activityState: Number(rd('GUEST_ACTIVITY_STATE')),
    interruptibility: Number(rd('GUEST_INTERRUPTIBILITY_INFO')),
    pendingDebugExceptions: rd('GUEST_PENDING_DBG_EXCEPTIONS'),
    vmcsLinkPointer: rd('VMCS_LINK_POINTER'),
    pdpte: [rd('GUEST_PDPTR0'), rd('GUEST_PDPTR1'), rd('GUEST_PDPTR2'), rd('GUEST_PDPTR3')],
    preemptionTimer: Number(rd('VMX_PREEMPTION_TIMER_VALUE')),
  };
}

/**
 * Writes the guest-state fields every VM exit saves (SDM Vol. 3C, 28.3): registers, segments,
 * descriptor tables, SYSENTER MSRs and non-register state. DR7 and IA32_DEBUGCTL, IA32_PAT,
 * IA32_EFER and the preemption-timer value are saved only under their VM-exit controls (vmx.ts).
 */
export function writeGuestState(wr: FieldWriter, g: GuestState): void {
  for (const s of SEGMENTS) {
    const x = g.seg[s];
    wr(`GUEST_${s}_SELECTOR`, BigInt(x.selector));
    wr(`GUEST_${s}_BASE`, x.base);
    wr(`GUEST_${s}_LIMIT`, BigInt(x.limit >>> 0));
    wr(`GUEST_${s}_AR_BYTES`, BigInt(x.ar >>> 0));
  }
  wr('GUEST_CR0', g.cr0);
  wr('GUEST_CR3', g.cr3);
  wr('GUEST_CR4', g.cr4);
  wr('GUEST_RSP', g.rsp);
  wr('GUEST_RIP', g.rip);
  wr('GUEST_RFLAGS', g.rflags);
  wr('GUEST_GDTR_BASE', g.gdtr.base);
  wr('GUEST_GDTR_LIMIT', BigInt(g.gdtr.limit));
  wr('GUEST_IDTR_BASE', g.idtr.base);
  wr('GUEST_IDTR_LIMIT', BigInt(g.idtr.limit));
  wr('GUEST_SYSENTER_CS', BigInt(g.sysenterCs >>> 0));
  wr('GUEST_SYSENTER_ESP', g.sysenterEsp);
  wr('GUEST_SYSENTER_EIP', g.sysenterEip);
  wr('GUEST_ACTIVITY_STATE', BigInt(g.activityState));
  wr('GUEST_INTERRUPTIBILITY_INFO', BigInt(g.interruptibility >>> 0));
  wr('GUEST_PENDING_DBG_EXCEPTIONS', g.pendingDebugExceptions);
}

/** The host-state area (SDM Vol. 3C, 25.5), as a VM exit loads it. */
export interface HostState {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  rsp: bigint;
  rip: bigint;
  selector: Record<'ES' | 'CS' | 'SS' | 'DS' | 'FS' | 'GS' | 'TR', number>;
  fsBase: bigint;
  gsBase: bigint;
  trBase: bigint;
  gdtrBase: bigint;
  idtrBase: bigint;
  sysenterCs: number;
  sysenterEsp: bigint;
  sysenterEip: bigint;
  /** Loaded only when the load IA32_PAT exit control is 1. */
  pat: bigint;
  /** Loaded only when the load IA32_EFER exit control is 1. */
  efer: bigint;
}

export function readHostState(rd: FieldReader): HostState {
  return {
    cr0: rd('HOST_CR0'),
    cr3: rd('HOST_CR3'),
    cr4: rd('HOST_CR4'),
    rsp: rd('HOST_RSP'),
    rip: rd('HOST_RIP'),
    selector: {
      ES: Number(rd('HOST_ES_SELECTOR')),
      CS: Number(rd('HOST_CS_SELECTOR')),
      SS: Number(rd('HOST_SS_SELECTOR')),
      DS: Number(rd('HOST_DS_SELECTOR')),
      FS: Number(rd('HOST_FS_SELECTOR')),
      GS: Number(rd('HOST_GS_SELECTOR')),
      TR: Number(rd('HOST_TR_SELECTOR')),
    },
    fsBase: rd('HOST_FS_BASE'),
    gsBase: rd('HOST_GS_BASE'),
    trBase: rd('HOST_TR_BASE'),
    gdtrBase: rd('HOST_GDTR_BASE'),
    idtrBase: rd('HOST_IDTR_BASE'),
    sysenterCs: Number(rd('HOST_IA32_SYSENTER_CS')),
    sysenterEsp: rd('HOST_IA32_SYSENTER_ESP'),
    sysenterEip: rd('HOST_IA32_SYSENTER_EIP'),
    pat: rd('HOST_IA32_PAT'),
    efer: rd('HOST_IA32_EFER'),
  };
}
