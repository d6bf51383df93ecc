/**
 * What the page-walk view receives for a step (ViewState.walks): plain, structured-clone-safe data,
 * with 64-bit values as 0x + 16 hex digits. Kept apart from walks.ts (which builds it from the
 * machine) so that the page can import these types and the limit without the emulator.
 */
import type { PagingMode, WalkStep } from '../emu/mmu/types.ts';
import type { AccessType } from '../emu/trace/events.ts';

/** Translations sent per step (a #PF step makes about six: the fault, IDT, GDT, TSS, stack, handler). */
export const MAX_STEP_TRANSLATIONS = 12;

export type WalkLevel = WalkStep['level'];
export type WalkPagingMode = Exclude<PagingMode, 'none'>;

/** One paging-structure entry a walk read. */
export interface WalkEntryView {
  level: WalkLevel;
  /** Physical address of the entry, 0x + 16 hex digits; null for a PAE PDPTE register (loaded by MOV to CR3). */
  entryPa: string | null;
  /** The index bits of the linear address that selected it. */
  index: number;
  /** The entry as read (before the walk set A or D), 0x + 16 hex digits (32-bit paging: the high half is 0). */
  value: string;
  /** A present entry that maps the page (a PTE, or a PDE/PDPTE with PS = 1 used as such). */
  leaf: boolean;
  /** The bit positions reserved in this entry under the walk's controls (entry.ts), 0x + 16 hex digits. */
  reserved: string;
}

export type WalkOutcome =
  | { ok: true; pa: string; pageSize: number }
  | { ok: false; errorCode: number; level: WalkLevel };

export interface TranslationView {
  linear: string;
  access: AccessType;
  /** A CPL-3 access (not an implicit supervisor access such as an IDT or GDT read). */
  user: boolean;
  /**
   * 'walk': the TLB missed (or hit an entry whose D flag a write must set) and the CPU walked the
   * tables on this step; 'tlb': the TLB answered, `entries` are the walk a miss would have made
   * (read without setting A or D); 'next': no step yet, the walk the next instruction's fetch will make.
   */
  source: 'walk' | 'tlb' | 'next';
  entries: WalkEntryView[];
  outcome: WalkOutcome;
}

/** The controls the entries were read and decoded under (the state before the step). */
export interface WalkControls {
  mode: WalkPagingMode;
  cr3: string;
  /** IA32_EFER.NXE: XD (bit 63) in use. */
  nxe: boolean;
  /** CR4.PSE: 4-MByte pages in 32-bit paging. */
  pse: boolean;
  /** CR0.WP: supervisor writes honour R/W. */
  wp: boolean;
  maxPhysAddr: number;
}

export type StepWalks =
  /** Paging is off (CR0.PG = 0): linear addresses are physical. */
  | { paging: 'none' }
  | {
      paging: WalkPagingMode;
      controls: WalkControls;
      /** In the order the CPU made them, at most MAX_STEP_TRANSLATIONS. */
      translations: TranslationView[];
      /** Translations left out by the bound. */
      dropped: number;
      /** The #PF the step raised, if any (the first). */
      pageFault: { errorCode: number; cr2: string } | null;
    };
