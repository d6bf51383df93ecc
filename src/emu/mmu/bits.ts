/**
 * Bit positions used by paging (SDM Vol. 3A, chapter 4; CR0/CR4 in 2.5; IA32_EFER in 2.2.1).
 * Entry flags are masks on the low 32 bits of an entry; XD is bit 63, i.e. bit 31 of the high half.
 */

/** Paging-structure entry flags (SDM Vol. 3A, Tables 4-4..4-11 and 4-14..4-20). */
export const PTE = {
  /** Present */
  P: 1 << 0,
  /** Read/write: 0 = writes may not be allowed (4.6) */
  RW: 1 << 1,
  /** User/supervisor: 0 = user-mode accesses are not allowed (4.6) */
  US: 1 << 2,
  PWT: 1 << 3,
  PCD: 1 << 4,
  /** Accessed (4.8) */
  A: 1 << 5,
  /** Dirty, in entries that map a page (4.8) */
  D: 1 << 6,
  /** Page size, in a PDE (32-bit, PAE, 4-level) or PDPTE (4-level): the entry maps a page */
  PS: 1 << 7,
  /** PAT, in an entry that maps a 4-KByte page (same position as PS) */
  PAT: 1 << 7,
  /** Global, in an entry that maps a page; honoured only with CR4.PGE = 1 (4.10.2.4) */
  G: 1 << 8,
  /** PAT, in an entry that maps a 4-MByte, 2-MByte or 1-GByte page */
  PAT_LARGE: 1 << 12,
} as const;

/** XD (execute-disable), bit 63 of a PAE/4-level/5-level entry: bit 31 of the high half. */
export const PTE_HI_XD = 0x80000000;
export const PTE_XD_BIT = 63;

/** #PF error code bits (SDM Vol. 3A, 4.7, Figure 4-12). */
export const PFEC = {
  P: 1 << 0,
  W_R: 1 << 1,
  U_S: 1 << 2,
  RSVD: 1 << 3,
  I_D: 1 << 4,
  PK: 1 << 5,
  SS: 1 << 6,
  SGX: 1 << 15,
} as const;

/** CR0 bits that paging depends on (SDM Vol. 3A, 2.5). */
export const CR0_BITS = { WP: 1 << 16, PG: 1 << 31 } as const;

/** CR4 bits that paging depends on (SDM Vol. 3A, 2.5). */
export const CR4_BITS = {
  PSE: 1 << 4,
  PAE: 1 << 5,
  PGE: 1 << 7,
  LA57: 1 << 12,
  PCIDE: 1 << 17,
  SMEP: 1 << 20,
  SMAP: 1 << 21,
  PKE: 1 << 22,
} as const;

/** IA32_EFER bits (MSR C0000080H) that paging depends on. */
export const EFER_BITS = { LME: 1 << 8, LMA: 1 << 10, NXE: 1 << 11 } as const;

/** CR3 bit 63 on MOV to CR3 with CR4.PCIDE = 1: do not invalidate the new PCID's entries (4.10.4.1). */
export const CR3_NOFLUSH_BIT = 63;
/** PCID: CR3[11:0] when CR4.PCIDE = 1 (4.10.1). */
export const CR3_PCID_MASK = 0xfff;

/**
 * PAE PDPTE register reserved bits (SDM Vol. 3A, 4.4.1, Table 4-8): 2:1 and 8:5 in the low half;
 * 63:MAXPHYADDR in the high half (computed from MAXPHYADDR).
 */
export const PAE_PDPTE_RSVD_LO = 0x1e6;
