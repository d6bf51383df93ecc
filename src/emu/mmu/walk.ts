/**
 * Linear-address translation by walking the paging structures (SDM Vol. 3A, chapter 4):
 * 32-bit paging (4.3), PAE paging (4.4), 4-level and 5-level paging (4.5), access rights (4.6),
 * the #PF error code (4.7) and the accessed and dirty flags (4.8).
 *
 * `walkFast` is the allocation-free core used by the MMU's miss path; it leaves its answer in
 * `walkOut`. `walk` wraps it and returns the contract's `WalkResult` with every step.
 *
 * Accessed and dirty flags (4.8): "Whenever the processor uses a paging-structure entry as part of
 * linear-address translation, it sets the accessed flag in that entry (if it is not already set)."
 * A present entry with no reserved bit set that references the next paging structure has been
 * used, whatever happens at the next level, so it gets A as the walk passes it, even if a later
 * level is not present, has a reserved bit set, or the access rights then deny the access. An
 * entry with P = 0 or a reserved bit set "is used neither to reference another paging-structure
 * entry nor to map a page" (4.4.2, 4.5) and gets nothing. The entry that maps the page gets A, and
 * D for a write, only when the access is permitted, so D is set only when a write happens. PAE
 * PDPTEs are registers (4.4.1; bit 5 is reserved there) and are never written. QEMU's TCG behaves
 * this way; KVM's software walker on the oracle machines sets A only on a successful walk, so a
 * KVM comparison must not rely on A in the upper levels after a faulting walk (the 4-level
 * programs of tests/oracle/paging-programs.test.ts agree with KVM under either rule). Without
 * `sideEffects` nothing is written.
 */

import type { AccessKind, EntryMemory, PagingControl, WalkResult, WalkStep } from './types.ts';
import { PFEC, PTE, PTE_HI_XD } from './bits.ts';

export const LEVEL_NAMES = ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];
/** Index into LEVEL_NAMES. */
export const LV = { PML5E: 0, PML4E: 1, PDPTE: 2, PDE: 3, PTE: 4 } as const;

/** Combined access rights of a translation (4.6): AND of R/W and U/S, OR of XD over all levels. */
export const RIGHT = { RW: 1, US: 2, XD: 4 } as const;

const TWO32 = 4294967296;

/** The answer of the last `walkFast`. */
export const walkOut = {
  ok: false,
  pa: 0,
  /** log2 of the page size: 12, 21, 22 or 30. */
  pageShift: 12,
  /** RIGHT bits. */
  rights: 0,
  /** G = 1 in the leaf and CR4.PGE = 1. */
  global: false,
  /** D is set in the leaf after the walk. */
  dirty: false,
  errorCode: 0,
  /** LV index of the entry that faulted (or the leaf, for an access-rights fault). */
  faultLevel: 0,
  /** LV index of the leaf. */
  leafLevel: 0,
};

/** Mask of the address bits MAXPHYADDR-1:32 in an entry's high half. */
export function hiAddrMask(maxPhysAddr: number): number {
  if (maxPhysAddr <= 32) return 0;
  if (maxPhysAddr >= 52) return 0xfffff;
  return (1 << (maxPhysAddr - 32)) - 1;
}

function fault(level: number, code: number): false {
  walkOut.ok = false;
  walkOut.errorCode = code;
  walkOut.faultLevel = level;
  return false;
}

/** Sets A in an entry that references the next paging structure (4.8), if not already set. */
function setAccessed(mem: EntryMemory, entryPa: number, lo: number): void {
  if ((lo & PTE.A) === 0) mem.write(entryPa, 4, (lo | PTE.A) >>> 0);
}

function record(
  steps: WalkStep[] | null,
  level: number,
  entryPa: number,
  lo: number,
  hi: number,
  index: number,
  leaf: boolean,
): void {
  if (steps !== null) steps.push({ level: LEVEL_NAMES[level]!, entryPa, entryLo: lo, entryHi: hi, index, leaf });
}

/** Index of the entry selected at `level` (LV) by a 4-level/5-level/PAE linear address. */
function index9(level: number, linLo: number, linHi: number): number {
  switch (level) {
    case 0:
      return (linHi >>> 16) & 0x1ff;
    case 1:
      return (linHi >>> 7) & 0x1ff;
    case 2:
      return ((linHi << 2) | (linLo >>> 30)) & 0x1ff;
    case 3:
      return (linLo >>> 21) & 0x1ff;
    default:
      return (linLo >>> 12) & 0x1ff;
  }
}

/**
 * Access rights check (4.6) with SMEP, SMAP and protection keys off. Returns true if allowed.
 * Supervisor reads: always. Supervisor writes: R/W = 1 unless CR0.WP = 0. User accesses need
 * U/S = 1; user writes also need R/W = 1 whatever CR0.WP. Fetches need XD = 0 when XD is in use.
 */
export function rightsAllow(rights: number, write: boolean, fetch: boolean, user: boolean, wp: boolean, xdOn: boolean): boolean {
  if (user && (rights & RIGHT.US) === 0) return false;
  if (write && (rights & RIGHT.RW) === 0 && (user || wp)) return false;
  if (fetch && xdOn && (rights & RIGHT.XD) !== 0) return false;
  return true;
}

/**
 * The error-code bits that describe the access (4.7): W/R for writes, U/S for user-mode
 * accesses, I/D for fetches only if CR4.SMEP = 1 or (CR4.PAE = 1 and IA32_EFER.NXE = 1).
 */
export function accessErrorBits(ctl: PagingControl, write: boolean, fetch: boolean, user: boolean): number {
  let c = 0;
  if (write) c |= PFEC.W_R;
  if (user) c |= PFEC.U_S;
  if (fetch && ctl.nxe && (ctl.mode === 'pae' || ctl.mode === '4level' || ctl.mode === '5level')) c |= PFEC.I_D;
  return c;
}

function finish(
  mem: EntryMemory,
  ctl: PagingControl,
  write: boolean,
  fetch: boolean,
  user: boolean,
  sideEffects: boolean,
  rights: number,
  leafPa: number,
  leafLo: number,
  leafLevel: number,
  pa: number,
  pageShift: number,
): boolean {
  const xdOn = ctl.nxe && ctl.mode !== '32bit';
  if (!rightsAllow(rights, write, fetch, user, ctl.wp, xdOn)) {
    return fault(leafLevel, accessErrorBits(ctl, write, fetch, user) | PFEC.P);
  }
  let dirty = (leafLo & PTE.D) !== 0;
  if (sideEffects) {
    const nv = (leafLo | PTE.A | (write ? PTE.D : 0)) >>> 0;
    if (nv !== leafLo >>> 0) mem.write(leafPa, 4, nv);
    if (write) dirty = true;
  }
  walkOut.ok = true;
  walkOut.pa = pa;
  walkOut.pageShift = pageShift;
  walkOut.rights = rights;
  walkOut.global = ctl.pge && (leafLo & PTE.G) !== 0;
  walkOut.dirty = dirty;
  walkOut.leafLevel = leafLevel;
  return true;
}

function walk32(
  mem: EntryMemory,
  ctl: PagingControl,
  linLo: number,
  write: boolean,
  fetch: boolean,
  user: boolean,
  sideEffects: boolean,
  steps: WalkStep[] | null,
): boolean {
  const acc = accessErrorBits(ctl, write, fetch, user);
  const pdIndex = linLo >>> 22;
  const pdePa = (ctl.cr3Lo & 0xfffff000) >>> 0;
  const pdeAddr = pdePa + pdIndex * 4;
  const pde = mem.read(pdeAddr, 4);
  // 4.3: a PDE maps a 4-MByte page only if CR4.PSE = 1 and PS = 1; with CR4.PSE = 0, PS is ignored.
  const big = (pde & PTE.P) !== 0 && ctl.pse && (pde & PTE.PS) !== 0;
  record(steps, LV.PDE, pdeAddr, pde, 0, pdIndex, big);
  if ((pde & PTE.P) === 0) return fault(LV.PDE, acc);
  let rights = ((pde & PTE.RW) !== 0 ? RIGHT.RW : 0) | ((pde & PTE.US) !== 0 ? RIGHT.US : 0);
  if (big) {
    // Table 4-4: bits (M-20):13 hold physical-address bits (M-1):32 (PSE-36), M = min(MAXPHYADDR, 40);
    // bits 21:(M-19) are reserved.
    const m = Math.min(ctl.maxPhysAddr, 40);
    const highBits = m - 32;
    const rsvd = (0x3fe000 & ~(((1 << highBits) - 1) << 13)) >>> 0;
    if ((pde & rsvd) !== 0) return fault(LV.PDE, acc | PFEC.P | PFEC.RSVD);
    const hi = (pde >>> 13) & ((1 << highBits) - 1);
    const pa = ((pde & 0xffc00000) >>> 0) + (linLo & 0x3fffff) + hi * TWO32;
    return finish(mem, ctl, write, fetch, user, sideEffects, rights, pdeAddr, pde, LV.PDE, pa, 22);
  }
  // A PDE that references a page table has no reserved bits (Table 4-5).
  if (sideEffects) setAccessed(mem, pdeAddr, pde);
  const ptIndex = (linLo >>> 12) & 0x3ff;
  const pteAddr = ((pde & 0xfffff000) >>> 0) + ptIndex * 4;
  const pte = mem.read(pteAddr, 4);
  record(steps, LV.PTE, pteAddr, pte, 0, ptIndex, true);
  if ((pte & PTE.P) === 0) return fault(LV.PTE, acc);
  if ((pte & PTE.RW) === 0) rights &= ~RIGHT.RW;
  if ((pte & PTE.US) === 0) rights &= ~RIGHT.US;
  const pa = ((pte & 0xfffff000) >>> 0) + (linLo & 0xfff);
  return finish(mem, ctl, write, fetch, user, sideEffects, rights, pteAddr, pte, LV.PTE, pa, 12);
}

function walk64(
  mem: EntryMemory,
  ctl: PagingControl,
  linLo: number,
  linHi: number,
  write: boolean,
  fetch: boolean,
  user: boolean,
  sideEffects: boolean,
  steps: WalkStep[] | null,
): boolean {
  const acc = accessErrorBits(ctl, write, fetch, user);
  const pae = ctl.mode === 'pae';
  const addrHi = hiAddrMask(ctl.maxPhysAddr);
  // Reserved high-half bits: 51:M for 4-level/5-level (Tables 4-14..4-20), 62:M for PAE
  // (Tables 4-9..4-11); bit 63 too when IA32_EFER.NXE = 0.
  let rsvdHi = ((pae ? 0x7fffffff : 0x000fffff) & ~addrHi) >>> 0;
  if (!ctl.nxe) rsvdHi = (rsvdHi | PTE_HI_XD) >>> 0;
  const rsvdP = PFEC.P | PFEC.RSVD;
  let rights = RIGHT.RW | RIGHT.US;
  let tableLo: number;
  let tableHi: number;
  let level: number;
  if (pae) {
    // 4.4.1: the PDPTEs come from the four PDPTE registers, loaded by MOV to CR3; their reserved
    // bits were checked then (#GP). A PDPTE does not control access rights (4.6).
    const i = linLo >>> 30;
    const lo = ctl.pdpte[2 * i]! >>> 0;
    const hi = ctl.pdpte[2 * i + 1]! >>> 0;
    record(steps, LV.PDPTE, -1, lo, hi, i, false);
    if ((lo & PTE.P) === 0) return fault(LV.PDPTE, acc);
    tableLo = (lo & 0xfffff000) >>> 0;
    tableHi = hi & addrHi;
    level = LV.PDE;
  } else {
    tableLo = (ctl.cr3Lo & 0xfffff000) >>> 0;
    tableHi = ctl.cr3Hi & addrHi;
    level = ctl.mode === '5level' ? LV.PML5E : LV.PML4E;
  }
  for (;;) {
    const idx = index9(level, linLo, linHi);
    const entryPa = tableLo + tableHi * TWO32 + idx * 8;
    const lo = mem.read(entryPa, 4);
    const hi = mem.read(entryPa + 4, 4);
    const ps = (lo & PTE.PS) !== 0;
    const leaf = level === LV.PTE || (ps && (level === LV.PDE || level === LV.PDPTE));
    record(steps, level, entryPa, lo, hi, idx, leaf && (lo & PTE.P) !== 0);
    if ((lo & PTE.P) === 0) return fault(level, acc);
    if ((hi & rsvdHi) !== 0) return fault(level, acc | rsvdP);
    // PS is reserved in a PML5E and a PML4E (Tables 4-14, 4-15), and in a PDPTE on processors
    // without 1-GByte pages (CPUID.80000001H:EDX.Page1GB[26] = 0; SDM 4.5.4).
    if (ps && (level <= LV.PML4E || (level === LV.PDPTE && ctl.page1gb === false))) return fault(level, acc | rsvdP);
    if ((lo & PTE.RW) === 0) rights &= ~RIGHT.RW;
    if ((lo & PTE.US) === 0) rights &= ~RIGHT.US;
    if ((hi & PTE_HI_XD) !== 0) rights |= RIGHT.XD;
    if (leaf) {
      let shift: number;
      let frameLo: number;
      if (level === LV.PTE) {
        shift = 12;
        frameLo = (lo & 0xfffff000) >>> 0;
      } else if (level === LV.PDE) {
        // 2-MByte page: bits 20:13 reserved (Tables 4-10, 4-17); bit 12 is PAT.
        if ((lo & 0x001fe000) !== 0) return fault(level, acc | rsvdP);
        shift = 21;
        frameLo = (lo & 0xffe00000) >>> 0;
      } else {
        // 1-GByte page: bits 29:13 reserved (Table 4-16); bit 12 is PAT.
        if ((lo & 0x3fffe000) !== 0) return fault(level, acc | rsvdP);
        shift = 30;
        frameLo = (lo & 0xc0000000) >>> 0;
      }
      const offMask = shift === 30 ? 0x3fffffff : (1 << shift) - 1;
      const pa = frameLo + (hi & addrHi) * TWO32 + (linLo & offMask);
      return finish(mem, ctl, write, fetch, user, sideEffects, rights, entryPa, lo, level, pa, shift);
    }
    if (sideEffects) setAccessed(mem, entryPa, lo);
    tableLo = (lo & 0xfffff000) >>> 0;
    tableHi = hi & addrHi;
    level++;
  }
}

/**
 * Allocation-free walk; the answer is in `walkOut`. Returns walkOut.ok. `steps`, if given,
 * receives every entry read, in order.
 */
export function walkFast(
  mem: EntryMemory,
  ctl: PagingControl,
  linLo: number,
  linHi: number,
  write: boolean,
  fetch: boolean,
  user: boolean,
  sideEffects: boolean,
  steps: WalkStep[] | null,
): boolean {
  switch (ctl.mode) {
    case 'none':
      walkOut.ok = true;
      walkOut.pa = linLo >>> 0;
      walkOut.pageShift = 12;
      walkOut.rights = RIGHT.RW | RIGHT.US;
      walkOut.global = false;
      walkOut.dirty = false;
      walkOut.leafLevel = LV.PTE;
      return true;
    case '32bit':
      return walk32(mem, ctl, linLo >>> 0, write, fetch, user, sideEffects, steps);
    default:
      return walk64(mem, ctl, linLo >>> 0, linHi >>> 0, write, fetch, user, sideEffects, steps);
  }
}

/**
 * Translates one linear address (halves `linLo`, `linHi`) for `access`. With `sideEffects`, every
 * present, reserved-bit-free entry that references a next paging structure gets A as the walk
 * passes it (even if the walk then faults), and the entry that maps the page gets A, and D for a
 * write, only if the access is permitted (4.8; see the file comment). Canonicality
 * is not checked here: the CPU raises #GP before translating a non-canonical address.
 */
export function walk(
  mem: EntryMemory,
  ctl: PagingControl,
  linLo: number,
  linHi: number,
  access: AccessKind,
  sideEffects: boolean,
): WalkResult {
  const steps: WalkStep[] = [];
  const ok = walkFast(mem, ctl, linLo, linHi, access.write, access.fetch, access.user, sideEffects, steps);
  if (!ok) {
    return { ok: false, fault: { errorCode: walkOut.errorCode, level: LEVEL_NAMES[walkOut.faultLevel]! }, steps };
  }
  const r = walkOut.rights;
  return {
    ok: true,
    pa: walkOut.pa,
    steps,
    pageSize: 2 ** walkOut.pageShift,
    global: walkOut.global,
    dirtySet: walkOut.dirty,
    rights: { rw: (r & RIGHT.RW) !== 0, us: (r & RIGHT.US) !== 0, xd: (r & RIGHT.XD) !== 0 },
  };
}
