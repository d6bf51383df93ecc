/**
 * What the shadow view receives for a step (ViewState.shadow): the shadow MMU's activity (the
 * `shadow` records of the hypervisor's log, hv/shadow.ts) of the step that led here, or of the last
 * exit before it that had any, and, for its last translation-level record (a fill, a zap, a true
 * fault, an emulated page-table write), the three tables side by side as they stand at the step:
 * the guest's own walk of the linear address, the hypervisor's GPA → HPA map and the shadow entry.
 * Plain, structured-clone-safe data; addresses as 0x + 16 hex digits. Kept apart from
 * shadow-view.ts (which builds it, in the worker's hypervisor chunk) so the page imports no emulator.
 */
import type { WalkStep } from '../emu/mmu/types.ts';

/** Records sent per step (an exit that refills a page-table page can make a dozen). */
export const MAX_SHADOW_RECORDS = 24;

/** One shadow-MMU record as the view shows it (hv/shadow.ts ShadowRecord, addresses as hex). */
export type ShadowRecordView =
  | { op: 'hidden-fault' | 'true-fault'; gva: string; errorCode: number }
  | { op: 'fill'; gva: string; gpa: string; hpa: string; spte: string }
  | { op: 'zap'; gva: string; why: 'write' | 'invlpg' | 'unprotect' | 'refill' }
  | { op: 'write-protect' | 'unprotect'; gfn: string }
  | { op: 'emulated-write'; gva: string; gpa: string; changed: string[] }
  | { op: 'mmio'; gva: string; gpa: string }
  | { op: 'cr3'; cr3: string; hit: boolean; root: string }
  | { op: 'reset'; why: string };

export type ShadowOp = ShadowRecordView['op'];

/** One entry of the guest's own walk. */
export interface ShadowGuestEntry {
  level: WalkStep['level'];
  /** The entry's guest-physical address. */
  gpa: string;
  value: string;
  leaf: boolean;
  /** The entry is one the step's emulated page-table write changed. */
  changed: boolean;
}

/** The shadow entry (the leaf slot of the current shadow root) decoded. */
export interface ShadowEntryView {
  /** The slot's host-physical address (in the shadow pool). */
  slot: string;
  value: string;
  present: boolean;
  frame: string;
  rw: boolean;
  us: boolean;
  xd: boolean;
}

/** The composition for one linear address: guest VA → (guest tables) → GPA → (hypervisor's map) → HPA, against the shadow entry. */
export interface ShadowFocus {
  /** The record it explains. */
  op: 'fill' | 'zap' | 'true-fault' | 'hidden-fault' | 'emulated-write' | 'mmio';
  /** Why a zap was made (zap only). */
  why?: 'write' | 'invlpg' | 'unprotect' | 'refill';
  /** The linear page (4 KiB). */
  gva: string;
  /** The guest's CR3 (its own, the one it loaded). */
  guestCr3: string;
  guest: ShadowGuestEntry[];
  /** The guest walk's end: the page's guest-physical address, a fault (not present / rights) with its error code, or paging off. */
  guestOutcome: { kind: 'ok'; gpa: string } | { kind: 'fault'; errorCode: number } | { kind: 'off'; gpa: string };
  /** The hypervisor's map of that guest-physical page; null: outside the guest's RAM (MMIO) or no GPA. */
  hpa: string | null;
  /** The shadow entry now (null: no shadow table reaches it). */
  shadow: ShadowEntryView | null;
  /** The shadow entry is present and holds the composed HPA. */
  agrees: boolean;
  /** Entries the emulated write changed (guest-physical), emulated-write only. */
  changed: string[];
}

export interface StepShadow {
  vendor: 'intel' | 'amd';
  format: '32bit' | '4level';
  /** The step the records come from: the step that led here, or an earlier one (`fresh` false). */
  step: number;
  fresh: boolean;
  records: ShadowRecordView[];
  /** Records left out by the bound. */
  dropped: number;
  focus: ShadowFocus | null;
  /** The latest CR3 switch of those records (root cache hit or miss). */
  cr3: Extract<ShadowRecordView, { op: 'cr3' }> | null;
  /** The shadow MMU's counters so far (hv/shadow.ts ShadowStats). */
  stats: Record<'hiddenFaults' | 'trueFaults' | 'fills' | 'zaps' | 'writeProtects' | 'emulatedWrites' | 'mmio' | 'cr3Switches' | 'cacheHits' | 'cacheMisses' | 'invlpgs' | 'resets', number>;
}
