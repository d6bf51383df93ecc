/**
 * The contract of a linear-to-physical translation (SDM Vol. 3A, chapter 4). A walk never throws:
 * it returns a result or a fault record, and lists every paging-structure reference it made so
 * that views can draw it and tests can check it.
 */

/**
 * What a walk needs of memory: 4-byte reads and writes of paging-structure entries at physical
 * addresses. `PhysMem` is one; the nested walk of mmu/nested.ts passes another that translates
 * each guest-physical entry address through EPT or NPT first.
 */
export interface EntryMemory {
  read(pa: number, size: number): number;
  write(pa: number, size: number, v: number): void;
}

export type PagingMode = 'none' | '32bit' | 'pae' | '4level' | '5level';

/** What the access is, as the permission rules and the #PF error code need it. */
export interface AccessKind {
  write: boolean;
  /** Instruction fetch. */
  fetch: boolean;
  /** A user-mode access (CPL 3, not an implicit supervisor access such as a descriptor-table read). */
  user: boolean;
}

/** The paging-relevant control state, read from the CPU at the time of the access. */
export interface PagingControl {
  mode: PagingMode;
  cr3Lo: number;
  cr3Hi: number;
  /** CR0.WP */
  wp: boolean;
  /** CR4.PSE (4 MiB pages in 32-bit paging) */
  pse: boolean;
  /** CR4.PGE */
  pge: boolean;
  /** CR4.PCIDE */
  pcide: boolean;
  /** CR4.SMEP / CR4.SMAP are not modelled yet; they are treated as 0. */
  /** EFER.NXE */
  nxe: boolean;
  /** PAE PDPTE registers (4 lo/hi pairs), used instead of memory in PAE mode. */
  pdpte: Uint32Array;
  /** MAXPHYADDR, in bits. */
  maxPhysAddr: number;
  /** 1-GByte pages supported (CPUID.80000001H:EDX.Page1GB[bit 26]); absent means supported. */
  page1gb?: boolean;
}

/** One paging-structure reference of a walk. */
export interface WalkStep {
  /** 'PML5E' | 'PML4E' | 'PDPTE' | 'PDE' | 'PTE' (names as in the SDM). */
  level: 'PML5E' | 'PML4E' | 'PDPTE' | 'PDE' | 'PTE';
  /** Physical address of the entry that was read (for PAE PDPTEs: from the PDPTE register, -1). */
  entryPa: number;
  entryLo: number;
  entryHi: number;
  /** The index bits of the linear address that selected this entry. */
  index: number;
  /** Whether this entry maps the page (a leaf) rather than pointing at another table. */
  leaf: boolean;
}

export interface PageFault {
  /** #PF error code (SDM Vol. 3A, 4.7): P, W/R, U/S, RSVD, I/D, PK ... */
  errorCode: number;
  /** The level whose entry caused the fault. */
  level: WalkStep['level'];
}

/** The access rights a translation combines over all its levels (SDM Vol. 3A, 4.6). */
export interface PageRights {
  /** R/W = 1 at every level */
  rw: boolean;
  /** U/S = 1 at every level */
  us: boolean;
  /** XD = 1 at some level (PAE, 4-level, 5-level paging with IA32_EFER.NXE = 1) */
  xd: boolean;
}

export type WalkResult =
  | {
      ok: true;
      pa: number;
      steps: WalkStep[];
      pageSize: number;
      global: boolean;
      /** The leaf's D flag after the walk. */
      dirtySet: boolean;
      /** Added later (optional, so older producers still type-check); `walk` always sets it. */
      rights?: PageRights;
    }
  | { ok: false; fault: PageFault; steps: WalkStep[] };
