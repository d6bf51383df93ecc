/**
 * AMD-V nested paging (APM Vol. 2, 15.25): with NP_ENABLE set in the VMCB, a guest-physical
 * address is translated through the host's page tables rooted at N_CR3, in the paging mode the
 * host had at VMRUN (15.25.5). The nested tables have the format of ordinary long-mode tables, so
 * the walk is the MMU's own (`walk` of mmu/walk.ts), with two differences APM 15.25.5 states:
 * every nested access is a user access (so U/S = 0 anywhere denies it, and CR0.WP plays no part),
 * and the guest's own page-table reads are checked as writes (user writes: the nested entries
 * that map guest page tables must be writable; KVM's walker in arch/x86/kvm/mmu/paging_tmpl.h
 * does the same). NX, R/W and the reserved bits are those of ordinary paging under the host's
 * IA32_EFER.NXE and MAXPHYADDR; accessed and dirty flags are set in the nested tables as in any
 * walk (4.8 of the SDM, the same rule for AMD).
 *
 * Supported host modes: long mode, 4-level (the lab's host) and 5-level. Legacy-mode hosts
 * (32-bit or PAE nested tables, whose top level the nested walk reads from memory rather than
 * from PDPTE registers) are not supported: `nptTranslate` throws for them.
 *
 * A failed walk is a nested page fault (15.25.6): #VMEXIT with code NPF (0x400), EXITINFO1 the
 * #PF-style error code (P, W/R, U/S, RSVD, I/D) with bit 32 set when the fault was on the guest's
 * final guest-physical address and bit 33 when it was on a guest page-table access, and
 * EXITINFO2 the guest-physical address that faulted.
 */
import type { AccessKind, EntryMemory, PagingControl, WalkStep } from '../mmu/types.ts';
import { walk } from '../mmu/walk.ts';
import type { NestedOutcome, NestedRequest, NestedTranslator } from '../mmu/nested.ts';
import { encodeNpfInfo, type NpfExit } from './exitinfo.ts';
import { SvmExit } from './exit-codes.ts';
import type { U64 } from './vmcb.ts';

/** The host state the nested walk uses, as VMRUN found it. */
export interface NptControl {
  /** N_CR3 (VMCB offset 0xB0), as 32-bit halves. */
  nCr3Lo: number;
  nCr3Hi: number;
  mode: '4level' | '5level';
  /** The host's IA32_EFER.NXE. */
  nxe: boolean;
  maxPhysAddr: number;
  /** 1-GByte pages supported; absent means supported. */
  page1gb?: boolean;
}

/** Which translation of the guest's access this is (EXITINFO1 bits 32, 33). */
export type NptStage = 'final' | 'guest-table';

export interface NptAccess {
  write: boolean;
  fetch: boolean;
  /**
   * 'final': the guest-physical address a guest linear address translated to (bit 32);
   * 'guest-table': a guest page-table entry, checked as a write (bit 33); absent: neither, as for
   * an access the guest makes with its paging off.
   */
  stage?: NptStage;
}

export type NptResult =
  | { ok: true; hpa: number; pageSize: number; steps: WalkStep[]; asWrite: boolean }
  | {
      ok: false;
      exitCode: number;
      exitInfo1: U64;
      /** The faulting guest-physical address. */
      exitInfo2: number;
      /** The decoded EXITINFO1. */
      info: NpfExit;
      /** Level of the nested entry that faulted. */
      level: WalkStep['level'];
      steps: WalkStep[];
    };

const EMPTY_PDPTE = new Uint32Array(8);

/** The PagingControl of the nested walk: the host's mode and NXE, N_CR3 as CR3. */
export function nestedPagingControl(ctl: NptControl): PagingControl {
  if (ctl.mode !== '4level' && ctl.mode !== '5level') throw new RangeError(`nested paging in host mode ${String(ctl.mode)} is not supported`);
  return {
    mode: ctl.mode,
    cr3Lo: ctl.nCr3Lo >>> 0,
    cr3Hi: ctl.nCr3Hi >>> 0,
    // All nested accesses are user accesses, to which CR0.WP does not apply.
    wp: true,
    pse: true,
    pge: false,
    pcide: false,
    nxe: ctl.nxe,
    pdpte: EMPTY_PDPTE,
    maxPhysAddr: ctl.maxPhysAddr,
    ...(ctl.page1gb === undefined ? {} : { page1gb: ctl.page1gb }),
  };
}

/** Translates guest-physical `gpa` through the nested page tables (15.25.5). */
export function nptTranslate(mem: EntryMemory, ctl: NptControl, gpa: number, access: NptAccess, sideEffects: boolean): NptResult {
  const pc = nestedPagingControl(ctl);
  const asWrite = access.write || access.stage === 'guest-table';
  const kind: AccessKind = { write: asWrite, fetch: access.fetch && access.stage !== 'guest-table', user: true };
  const lo = gpa >>> 0;
  const hi = Math.floor(gpa / 4294967296) >>> 0;
  const res = walk(mem, pc, lo, hi, kind, sideEffects);
  if (res.ok) return { ok: true, hpa: res.pa, pageSize: res.pageSize, steps: res.steps, asWrite };
  const ec = res.fault.errorCode;
  const info: NpfExit = {
    present: (ec & 1) !== 0,
    write: (ec & 2) !== 0,
    user: (ec & 4) !== 0,
    reserved: (ec & 8) !== 0,
    fetch: (ec & 16) !== 0,
    finalGpa: access.stage === 'final',
    guestTable: access.stage === 'guest-table',
  };
  return {
    ok: false,
    exitCode: SvmExit.NPF,
    exitInfo1: encodeNpfInfo(info),
    exitInfo2: gpa,
    info,
    level: res.fault.level,
    steps: res.steps,
  };
}

export type NptFault = Extract<NptResult, { ok: false }>;

/** NPT as the nested dimension of `translate2D` (mmu/nested.ts). */
export function nptNested(mem: EntryMemory, ctl: NptControl, sideEffects: boolean): NestedTranslator<NptFault> {
  return {
    // A PAE guest's PDPTEs are read through the nested tables on each walk (mmu/nested.ts).
    paePdptes: 'memory',
    translate(gpa: number, req: NestedRequest): NestedOutcome<NptFault> {
      // With the guest's paging off the access has no guest walk: neither EXITINFO1 bit 32 nor 33.
      const access: NptAccess = req.paged === false ? { write: req.write, fetch: req.fetch } : { write: req.write, fetch: req.fetch, stage: req.stage };
      const res = nptTranslate(mem, ctl, gpa, access, sideEffects);
      if (res.ok) return { ok: true, hpa: res.hpa, steps: res.steps, asWrite: res.asWrite };
      return { ok: false, fault: res, steps: res.steps };
    },
  };
}
