/**
 * What a paging-structure entry's bits mean where a walk read it: which of its bits are reserved
 * (must be 0, or the walk ends in a #PF with RSVD = 1) under the paging mode and controls of the
 * walk. Pure and side-effect free: views decode walks with it, and its masks are the ones the
 * walk of walk.ts enforces (walk64, walk32; tests check both against the reference model).
 *
 * SDM Vol. 3A: 32-bit paging Table 4-4 (PDE mapping a 4-MByte page; PDEs that reference a page
 * table and PTEs have no reserved bits); PAE Tables 4-8 (PDPTE registers), 4-9..4-11; 4-level and
 * 5-level Tables 4-14..4-20; 1-GByte pages need CPUID.80000001H:EDX.Page1GB[bit 26] (4.5.4).
 */
import { PAE_PDPTE_RSVD_LO, PTE, PTE_HI_XD } from './bits.ts';
import type { PagingControl, WalkStep } from './types.ts';
import { hiAddrMask } from './walk.ts';

/** The controls that decide which bits are reserved. */
export type ReservedControl = Pick<PagingControl, 'mode' | 'maxPhysAddr' | 'nxe' | 'pse' | 'page1gb'>;

/** A 64-bit mask as unsigned 32-bit halves. */
export interface Mask64 {
  lo: number;
  hi: number;
}

const NONE: Mask64 = { lo: 0, hi: 0 };

/**
 * The bits of the entry `lo`/`hi` read at `level` that are reserved. An entry with P = 0 has none
 * (its other bits are ignored, 4.3-4.5). `level` 'PDPTE' in PAE paging is a PDPTE register, whose
 * reserved bits MOV to CR3 checks (#GP) rather than the walk.
 */
export function reservedBits(ctl: ReservedControl, level: WalkStep['level'], lo: number, hi: number): Mask64 {
  if ((lo & PTE.P) === 0 || ctl.mode === 'none') return NONE;
  const ps = (lo & PTE.PS) !== 0;
  if (ctl.mode === '32bit') {
    // Table 4-4: a PDE that maps a 4-MByte page (CR4.PSE = 1, PS = 1) keeps physical-address bits
    // (M-1):32 in bits (M-20):13, M = min(MAXPHYADDR, 40); bits 21:(M-19) are reserved.
    if (level !== 'PDE' || !ctl.pse || !ps) return NONE;
    const highBits = Math.max(0, Math.min(ctl.maxPhysAddr, 40) - 32);
    return { lo: (0x3fe000 & ~(((1 << highBits) - 1) << 13)) >>> 0, hi: 0 };
  }
  const addrHi = hiAddrMask(ctl.maxPhysAddr);
  if (ctl.mode === 'pae' && level === 'PDPTE') {
    // Table 4-8: bits 2:1, 8:5 and 63:MAXPHYADDR.
    return { lo: PAE_PDPTE_RSVD_LO, hi: ~addrHi >>> 0 };
  }
  // Bits MAXPHYADDR..51 (4-level, 5-level) or ..62 (PAE); bit 63 too when IA32_EFER.NXE = 0.
  let rsvdHi = ((ctl.mode === 'pae' ? 0x7fffffff : 0x000fffff) & ~addrHi) >>> 0;
  if (!ctl.nxe) rsvdHi = (rsvdHi | PTE_HI_XD) >>> 0;
  let rsvdLo = 0;
  if (level === 'PML5E' || level === 'PML4E') rsvdLo = PTE.PS;
  else if (level === 'PDPTE' && ps) rsvdLo = ctl.page1gb === false ? PTE.PS : 0x3fffe000; // 1-GByte page: 29:13
  else if (level === 'PDE' && ps) rsvdLo = 0x001fe000; // 2-MByte page: 20:13
  return { lo: rsvdLo >>> 0, hi: rsvdHi };
}

/** Whether the entry has a reserved bit set (the walk stops there with a reserved-bit #PF). */
export function hasReservedBitSet(ctl: ReservedControl, level: WalkStep['level'], lo: number, hi: number): boolean {
  const m = reservedBits(ctl, level, lo, hi);
  return (lo & m.lo) !== 0 || (hi & m.hi) !== 0;
}
