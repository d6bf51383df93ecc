/**
 * Extended page tables (SDM Vol. 3C, chapter 29, "VMX support for address translation"):
 * the EPT pointer (29.3.1, with the VM-entry checks of 26.2.1.1), the EPT paging-structure
 * entries (Tables 29-1..29-6), the translation of a guest-physical address (29.3.2), the
 * EPT-induced VM exits (29.3.3: misconfigurations, exit reason 49, and violations, exit reason 48
 * with the exit qualification of Table 28-7) and the EPT accessed and dirty flags (29.3.5).
 *
 * Pure: `eptTranslate` reads (and, with accessed/dirty flags enabled and `sideEffects`, writes)
 * the EPT paging structures in the memory it is given, returns an outcome and lists every entry it
 * read as a `WalkStep` (the shape the guest's own walks use), so the 2D-walk picture can draw them.
 * It never throws for anything an EPT can hold; an EPTP that fails the VM-entry checks is a caller
 * error (VM entry refuses such an EPTP) and throws.
 *
 * What the lab's processor supports is IA32_VMX_EPT_VPID_CAP (vmx/controls.ts); `eptCaps` reads
 * it. The walker takes the capabilities as a parameter so that tests (and a later, richer CPU) can
 * turn on execute-only pages, 1-GByte pages, 5-level walks and accessed/dirty flags.
 */
import type { EntryMemory, WalkStep } from '../mmu/types.ts';
import { EPT_VPID_CAP, EptVpidCap } from './controls.ts';
import { ExitReason } from './exit-reasons.ts';
import { encodeEptViolation } from './qualification.ts';
import type { NestedOutcome, NestedRequest, NestedTranslator } from '../mmu/nested.ts';

const TWO32 = 4294967296;

// ---------------------------------------------------------------------------------------------
// Capabilities

/** The EPT-related bits of IA32_VMX_EPT_VPID_CAP (Appendix A.10). */
export interface EptCaps {
  executeOnly: boolean;
  walk4: boolean;
  walk5: boolean;
  /** EPTP memory type UC (0) allowed. */
  uc: boolean;
  /** EPTP memory type WB (6) allowed. */
  wb: boolean;
  pde2mb: boolean;
  pdpte1gb: boolean;
  accessedDirty: boolean;
}

const capBit = (msr: bigint, n: number): boolean => ((msr >> BigInt(n)) & 1n) === 1n;

/** Decodes IA32_VMX_EPT_VPID_CAP; without an argument, this lab's value. */
export function eptCaps(msr: bigint = EPT_VPID_CAP): EptCaps {
  return {
    executeOnly: capBit(msr, EptVpidCap.EXECUTE_ONLY),
    walk4: capBit(msr, EptVpidCap.WALK_4),
    walk5: capBit(msr, EptVpidCap.WALK_5),
    uc: capBit(msr, EptVpidCap.UC),
    wb: capBit(msr, EptVpidCap.WB),
    pde2mb: capBit(msr, EptVpidCap.PDE_2MB),
    pdpte1gb: capBit(msr, EptVpidCap.PDPTE_1GB),
    accessedDirty: capBit(msr, EptVpidCap.ACCESSED_DIRTY),
  };
}

// ---------------------------------------------------------------------------------------------
// The EPT pointer (29.3.1 and Table 25-9 "Format of Extended-Page-Table Pointer")

export const EPTP = {
  /** Bits 2:0: memory type of the paging-structure accesses (0 UC, 6 WB). */
  MT_MASK: 0x7,
  /** Bits 5:3: the page-walk length minus 1. */
  PWL_SHIFT: 3,
  PWL_MASK: 0x38,
  /** Bit 6: enable the accessed and dirty flags. */
  AD: 1 << 6,
  /** Bits 11:7: reserved here (bit 7, supervisor shadow-stack enforcement, is not supported). */
  RSVD_LO: 0xf80,
} as const;

export interface Eptp {
  memType: number;
  /** Page-walk length: 4 or 5 for a valid EPTP. */
  walkLength: number;
  accessedDirty: boolean;
  /** Physical address of the EPT PML4 (or PML5) table. */
  root: number;
}

export function decodeEptp(eptp: bigint): Eptp {
  const lo = Number(eptp & 0xffffffffn);
  const hi = Number((eptp >> 32n) & 0xfffffn);
  return {
    memType: lo & EPTP.MT_MASK,
    walkLength: ((lo & EPTP.PWL_MASK) >>> EPTP.PWL_SHIFT) + 1,
    accessedDirty: (lo & EPTP.AD) !== 0,
    root: ((lo & 0xfffff000) >>> 0) + hi * TWO32,
  };
}

export function encodeEptp(e: Eptp): bigint {
  return (
    BigInt(e.root) |
    BigInt(e.memType & EPTP.MT_MASK) |
    (BigInt(e.walkLength - 1) << BigInt(EPTP.PWL_SHIFT)) |
    (e.accessedDirty ? BigInt(EPTP.AD) : 0n)
  );
}

/** Why an EPTP fails the VM-entry check of 26.2.1.1 (each a separate, named reason). */
export type EptpProblem = 'memory-type' | 'walk-length' | 'accessed-dirty' | 'reserved-low' | 'reserved-high';

/**
 * The VM-entry checks on the EPT pointer (26.2.1.1): the memory type is one the capability MSR
 * allows (UC if bit 8, WB if bit 14); bits 5:3 give a walk length the processor supports (4 if bit
 * 6, 5 if bit 7); bit 6 is 0 unless accessed/dirty flags are supported (bit 21); bits 11:7 and
 * 63:MAXPHYADDR are 0. Returns the failed checks; empty means VM entry accepts the EPTP.
 */
export function eptpProblems(eptp: bigint, caps: EptCaps, maxPhysAddr: number): EptpProblem[] {
  const out: EptpProblem[] = [];
  const e = decodeEptp(eptp);
  if (!((e.memType === 0 && caps.uc) || (e.memType === 6 && caps.wb))) out.push('memory-type');
  if (!((e.walkLength === 4 && caps.walk4) || (e.walkLength === 5 && caps.walk5))) out.push('walk-length');
  if (e.accessedDirty && !caps.accessedDirty) out.push('accessed-dirty');
  if ((eptp & BigInt(EPTP.RSVD_LO)) !== 0n) out.push('reserved-low');
  if (eptp >> BigInt(maxPhysAddr) !== 0n) out.push('reserved-high');
  return out;
}

// ---------------------------------------------------------------------------------------------
// EPT paging-structure entries (Figure 29-1, Tables 29-1..29-6)

/** Bits of the low half of an EPT entry. */
export const EPTE = {
  R: 1 << 0,
  W: 1 << 1,
  /** Execute; supervisor-mode execute under mode-based execute control. */
  X: 1 << 2,
  /** Bits 5:3: memory type (leaf entries). */
  MT_SHIFT: 3,
  MT_MASK: 0x38,
  /** Ignore PAT memory type (leaf entries). */
  IPAT: 1 << 6,
  /** Page size: maps a 1-GByte page (PDPTE) or a 2-MByte page (PDE). */
  PS: 1 << 7,
  /** Accessed (when EPTP bit 6 is 1). */
  A: 1 << 8,
  /** Dirty (leaf entries, when EPTP bit 6 is 1). */
  D: 1 << 9,
  /** User-mode execute (mode-based execute control). */
  XU: 1 << 10,
} as const;

/** Bit 63 (bit 31 of the high half): suppress #VE (leaf entries, EPT-violation #VE). */
export const EPTE_HI_SUPPRESS_VE = 1 << 31;

/** EPT memory types (Table 11-2 / 29.3.7); 2, 3 and 7 are reserved and misconfigure a leaf. */
export const EptMemType = { UC: 0, WC: 1, WT: 4, WP: 5, WB: 6 } as const;
export const RESERVED_MEM_TYPES: ReadonlySet<number> = new Set([2, 3, 7]);

export type EptLevel = WalkStep['level'];
const LEVELS: readonly EptLevel[] = ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'];
/** log2 of the region an entry at LEVELS[i] covers. */
const SHIFTS = [48, 39, 30, 21, 12] as const;

export interface EptEntry {
  read: boolean;
  write: boolean;
  execute: boolean;
  userExecute: boolean;
  memType: number;
  ipat: boolean;
  pageSize: boolean;
  accessed: boolean;
  dirty: boolean;
  suppressVe: boolean;
  /** Bits 51:12 (MAXPHYADDR-1:12 of them) as an address: next table or page frame. */
  address: number;
}

/** Mask of the address bits MAXPHYADDR-1:32 in an entry's high half. */
function hiAddr(maxPhysAddr: number): number {
  if (maxPhysAddr <= 32) return 0;
  if (maxPhysAddr >= 52) return 0xfffff;
  return (1 << (maxPhysAddr - 32)) - 1;
}

/** Decodes the fields of an EPT entry (what each bit says, whether or not the level uses it). */
export function decodeEptEntry(lo: number, hi: number, maxPhysAddr = 52): EptEntry {
  return {
    read: (lo & EPTE.R) !== 0,
    write: (lo & EPTE.W) !== 0,
    execute: (lo & EPTE.X) !== 0,
    userExecute: (lo & EPTE.XU) !== 0,
    memType: (lo & EPTE.MT_MASK) >>> EPTE.MT_SHIFT,
    ipat: (lo & EPTE.IPAT) !== 0,
    pageSize: (lo & EPTE.PS) !== 0,
    accessed: (lo & EPTE.A) !== 0,
    dirty: (lo & EPTE.D) !== 0,
    suppressVe: (hi & EPTE_HI_SUPPRESS_VE) !== 0,
    address: ((lo & 0xfffff000) >>> 0) + (hi & hiAddr(maxPhysAddr)) * TWO32,
  };
}

/** The controls that decide what an EPT entry's bits mean. */
export interface EptEntryControl {
  caps: EptCaps;
  maxPhysAddr: number;
  /** Mode-based execute control (secondary control bit 22): bit 10 is user-execute. */
  mbec?: boolean;
}

/**
 * Whether an entry is present (29.3.2): any of bits 2:0 set, or, with mode-based execute
 * control, bit 10. A not-present entry ends the walk with an EPT violation.
 */
export function eptPresent(lo: number, mbec = false): boolean {
  return (lo & 7) !== 0 || (mbec && (lo & EPTE.XU) !== 0);
}

/** Whether the entry at `level` maps a page (rather than referencing another EPT table). */
export function eptIsLeaf(level: EptLevel, lo: number): boolean {
  return level === 'PTE' || ((level === 'PDE' || level === 'PDPTE') && (lo & EPTE.PS) !== 0);
}

/**
 * The reserved bits of a present EPT entry (Tables 29-1..29-6): bits 51:MAXPHYADDR everywhere;
 * bits 7:3 in an entry that references another table (bit 7, PS, is 0 there by definition for
 * PDPTEs and PDEs, and must be 0 in PML5Es and PML4Es); bit 7 in a PDPTE (PDE) when 1-GByte
 * (2-MByte) pages are not supported; bits 29:12 of a PDPTE and 20:12 of a PDE that map a page.
 * The A and D bits, bit 10 without mode-based execute control, bits 11, 62:52 and 63 are ignored
 * (never reserved). Returns the mask as 32-bit halves.
 */
export function eptReservedBits(ctl: EptEntryControl, level: EptLevel, lo: number): { lo: number; hi: number } {
  const hi = (0xfffff & ~hiAddr(ctl.maxPhysAddr)) >>> 0;
  const ps = (lo & EPTE.PS) !== 0;
  if (level === 'PTE') return { lo: 0, hi };
  if (level === 'PML5E' || level === 'PML4E') return { lo: 0xf8, hi };
  if (!ps) return { lo: 0x78, hi };
  if (level === 'PDPTE') return ctl.caps.pdpte1gb ? { lo: 0x3ffff000, hi } : { lo: EPTE.PS, hi };
  return ctl.caps.pde2mb ? { lo: 0x001ff000, hi } : { lo: EPTE.PS, hi };
}

/** Why a walk ended in an EPT misconfiguration (29.3.3.1). */
export type EptMisconfigCause = 'write-without-read' | 'execute-only' | 'reserved-bit' | 'large-page' | 'memory-type';

/**
 * The first misconfiguration the present entry `lo`/`hi` at `level` shows, or null (29.3.3.1):
 * bits 2:0 = 010b or 110b (write without read); 100b when execute-only translations are not
 * supported; a reserved bit set (PS where the level cannot map a page is reported as
 * 'large-page', a reserved bit too); the leaf's memory type 2, 3 or 7.
 */
export function eptMisconfiguration(ctl: EptEntryControl, level: EptLevel, lo: number, hi: number): EptMisconfigCause | null {
  if ((lo & 3) === EPTE.W) return 'write-without-read';
  if ((lo & 7) === EPTE.X && !ctl.caps.executeOnly) return 'execute-only';
  const m = eptReservedBits(ctl, level, lo);
  if ((lo & m.lo) !== 0 || (hi & m.hi) !== 0) {
    const ps = (lo & EPTE.PS) !== 0;
    const psNotAllowed =
      ps &&
      (level === 'PML5E' ||
        level === 'PML4E' ||
        (level === 'PDPTE' && !ctl.caps.pdpte1gb) ||
        (level === 'PDE' && !ctl.caps.pde2mb));
    return psNotAllowed ? 'large-page' : 'reserved-bit';
  }
  if (eptIsLeaf(level, lo) && RESERVED_MEM_TYPES.has((lo & EPTE.MT_MASK) >>> EPTE.MT_SHIFT)) return 'memory-type';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Translation (29.3.2) and the EPT-induced VM exits (29.3.3)

/** The access being translated. A data read is neither write nor fetch. */
export interface EptAccess {
  write: boolean;
  fetch: boolean;
}

export interface EptOptions extends EptEntryControl {
  /**
   * The access is to a guest paging-structure entry (the guest's own walk), not to the
   * guest-physical address a linear address translated to. With EPT accessed and dirty flags
   * enabled such accesses are treated as writes (29.3.3.2, 29.3.5).
   */
  guestTable?: boolean;
  /** The guest linear address, when the access had one (exit qualification bit 7). */
  linear?: number;
  /** The guest linear address is a user-mode address (mode-based execute control: which X bit). */
  userLinear?: boolean;
  /** NMI unblocking due to IRET (exit qualification bit 12): the caller knows. */
  nmiUnblocking?: boolean;
  /** Set accessed/dirty flags (only when the EPTP enables them). */
  sideEffects?: boolean;
}

/** The access rights of a translation: each the AND of that bit over the entries used. */
export interface EptRights {
  read: boolean;
  write: boolean;
  execute: boolean;
  userExecute: boolean;
}

export type EptResult =
  | {
      kind: 'ok';
      hpa: number;
      pageSize: number;
      steps: WalkStep[];
      rights: EptRights;
      /** The leaf's memory type and IPAT bit. */
      memType: number;
      ipat: boolean;
      /** The access was checked as a write (a data write, or a guest-table access with A/D on). */
      asWrite: boolean;
    }
  | {
      kind: 'misconfig';
      exitReason: number;
      cause: EptMisconfigCause;
      level: EptLevel;
      /** What VM exit saves in GUEST_PHYSICAL_ADDRESS. */
      guestPhysicalAddress: number;
      steps: WalkStep[];
    }
  | {
      kind: 'violation';
      exitReason: number;
      /** The exit qualification (Table 28-7). */
      qualification: number;
      /** The level of the not-present entry, or of the leaf for an access-rights violation. */
      level: EptLevel;
      guestPhysicalAddress: number;
      /** What VM exit saves in GUEST_LINEAR_ADDRESS, when qualification bit 7 is set. */
      guestLinearAddress: number | undefined;
      steps: WalkStep[];
    };

function indexAt(gpa: number, shift: number): number {
  return Math.floor(gpa / 2 ** shift) % 512;
}

/**
 * Translates the guest-physical address `gpa` through the EPT paging structures that `eptp`
 * points at (29.3.2), for `access`. Walk length 4 uses bits 47:0 of `gpa`, 5 bits 56:0.
 *
 * Order of checks at each entry: not present → violation; then misconfiguration (which takes
 * priority over a violation, 29.3.3.2: a violation can happen only for a translation with no
 * misconfiguration); the leaf's rights last. A read needs R, a write W, a fetch X (or, with
 * mode-based execute control, X for a supervisor-mode and XU for a user-mode linear address), in
 * every entry used. Accessed and dirty flags (29.3.5), with EPTP bit 6 and `sideEffects`: every
 * entry that references another table gets A as the walk uses it; the leaf gets A, and D for a
 * write (guest-table accesses count as writes), only when the access is allowed; entries that are
 * not present or misconfigured get nothing. This mirrors the rule the guest's walk follows in
 * mmu/walk.ts.
 */
export function eptTranslate(mem: EntryMemory, eptp: bigint, gpa: number, access: EptAccess, opts: EptOptions): EptResult {
  const problems = eptpProblems(eptp, opts.caps, opts.maxPhysAddr);
  if (problems.length > 0) throw new RangeError(`EPTP 0x${eptp.toString(16)} fails VM entry: ${problems.join(', ')}`);
  const p = decodeEptp(eptp);
  const mbec = opts.mbec === true;
  const ad = p.accessedDirty;
  const writeCheck = access.write || (ad && opts.guestTable === true);
  const steps: WalkStep[] = [];
  const addrHi = hiAddr(opts.maxPhysAddr);
  let r = true;
  let w = true;
  let x = true;
  let xu = true;

  const violation = (level: EptLevel): EptResult => {
    const linearValid = opts.linear !== undefined;
    const qualification = encodeEptViolation({
      // Table 28-7: bit 0 a data read, bit 1 a data write. A guest-table access treated as a
      // write (A/D flags on) sets both.
      read: !access.fetch && (!access.write || (ad && opts.guestTable === true)),
      write: writeCheck && !access.fetch,
      fetch: access.fetch,
      readable: r,
      writable: w,
      executable: x,
      userExecutable: mbec && xu,
      linearValid,
      translated: linearValid && opts.guestTable !== true,
      nmiUnblocking: opts.nmiUnblocking === true,
    });
    return {
      kind: 'violation',
      exitReason: ExitReason.EPT_VIOLATION!,
      qualification,
      level,
      guestPhysicalAddress: gpa,
      guestLinearAddress: linearValid ? opts.linear : undefined,
      steps,
    };
  };

  let table = p.root;
  for (let li = p.walkLength === 5 ? 0 : 1; ; li++) {
    const level = LEVELS[li]!;
    const idx = indexAt(gpa, SHIFTS[li]!);
    const entryPa = table + idx * 8;
    const lo = mem.read(entryPa, 4) >>> 0;
    const hi = mem.read(entryPa + 4, 4) >>> 0;
    const present = eptPresent(lo, mbec);
    const leaf = eptIsLeaf(level, lo);
    steps.push({ level, entryPa, entryLo: lo, entryHi: hi, index: idx, leaf: leaf && present });
    if (!present) {
      // The not-present entry is one of "the entries used": its zero bits clear the rights.
      r = w = x = xu = false;
      return violation(level);
    }
    const cause = eptMisconfiguration(opts, level, lo, hi);
    if (cause !== null) {
      return { kind: 'misconfig', exitReason: ExitReason.EPT_MISCONFIG!, cause, level, guestPhysicalAddress: gpa, steps };
    }
    r &&= (lo & EPTE.R) !== 0;
    w &&= (lo & EPTE.W) !== 0;
    x &&= (lo & EPTE.X) !== 0;
    xu &&= (lo & EPTE.XU) !== 0;
    if (!leaf) {
      if (ad && opts.sideEffects === true && (lo & EPTE.A) === 0) mem.write(entryPa, 4, (lo | EPTE.A) >>> 0);
      table = ((lo & 0xfffff000) >>> 0) + (hi & addrHi) * TWO32;
      continue;
    }
    const fetchOk = mbec ? (opts.userLinear === true ? xu : x) : x;
    const allowed = access.fetch ? fetchOk : writeCheck ? w && r : r;
    // A write needs W; W without R is a misconfiguration, so w implies r in any entry that got here.
    if (!allowed) return violation(level);
    if (ad && opts.sideEffects === true) {
      const nv = (lo | EPTE.A | (writeCheck ? EPTE.D : 0)) >>> 0;
      if (nv !== lo) mem.write(entryPa, 4, nv);
    }
    const shift = SHIFTS[li]!;
    const size = 2 ** shift;
    const frame = ((lo & 0xfffff000) >>> 0) + (hi & addrHi) * TWO32;
    const base = frame - (frame % size);
    return {
      kind: 'ok',
      hpa: base + (gpa % size),
      pageSize: size,
      steps,
      rights: { read: r, write: w, execute: x, userExecute: xu },
      memType: (lo & EPTE.MT_MASK) >>> EPTE.MT_SHIFT,
      ipat: (lo & EPTE.IPAT) !== 0,
      asWrite: writeCheck,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The nested dimension of the 2D walk (mmu/nested.ts)

export type EptExit = Exclude<EptResult, { kind: 'ok' }>;

/**
 * EPT as the nested dimension of `translate2D`: guest-table accesses are reads (writes with EPT
 * accessed/dirty flags on, 29.3.3.2), the final access is the guest's own; the guest linear
 * address is reported valid for both (qualification bit 7), with bit 8 telling them apart.
 */
export function eptNested(mem: EntryMemory, eptp: bigint, opts: EptOptions): NestedTranslator<EptExit> {
  return {
    translate(gpa: number, req: NestedRequest): NestedOutcome<EptExit> {
      const res = eptTranslate(mem, eptp, gpa, { write: req.write, fetch: req.fetch }, {
        ...opts,
        guestTable: req.stage === 'guest-table',
        // A PDPTE load at MOV to CR has no guest linear address (qualification bit 7 = 0).
        ...(req.pdpteLoad === true ? {} : { linear: req.linear }),
        userLinear: req.user,
      });
      if (res.kind === 'ok') return { ok: true, hpa: res.hpa, steps: res.steps, asWrite: res.asWrite };
      return { ok: false, fault: res, steps: res.steps };
    },
  };
}
