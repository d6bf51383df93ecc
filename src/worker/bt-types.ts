/**
 * Binary translation at a step (VmView.bt, computed in the worker by bt-view.ts from the BtBackend
 * of hv/bt/backend.ts): plain data for the BT view (views/bt) and the narration.
 */

/** Why the translator made an instruction a callout (hv/bt/translate.ts CalloutReason). */
export type BtReason = 'privileged' | 'sensitive' | 'indirect' | 'interrupt' | 'cs-override' | 'undecodable' | 'page-table-write';

export const BT_REASONS: readonly BtReason[] = ['privileged', 'sensitive', 'indirect', 'interrupt', 'page-table-write', 'cs-override', 'undecodable'];

/** Where a rewritten branch leads: the monitor (an exit not chained yet) or straight into block `chainedTo`. */
export interface BtExitView {
  /** The guest address the exit leads to (hex). */
  target: string;
  /** The block it is chained to (its id), or null while it still jumps into the monitor. */
  chainedTo: number | null;
}

/** One guest instruction beside its translation. */
export interface BtInsnView {
  /** Guest linear address (hex), its bytes (hex) and disassembly. */
  guest: string;
  bytes: string;
  text: string;
  /** Linear address of its translation in the cache (hex), the translated bytes as they are in the cache now (chains patched in), and their disassembly at that address. */
  tc: string;
  tcBytes: string;
  tcText: string[];
  how: 'copied' | 'branch' | 'callout';
  reason: BtReason | null;
  /** The block exits in its translation (a branch: taken and fall-through; a block's last copied instruction: the exit to the next). */
  exits: BtExitView[];
  /** The processor is at this instruction's translation now. */
  current: boolean;
}

export interface BtBlockView {
  id: number;
  /** Guest linear start (hex), its size in bytes and instructions. */
  guestStart: string;
  size: number;
  insns: number;
  /** Linear address of its translation (hex) and the translation's size in bytes. */
  tc: string;
  tcSize: number;
  /** Still in use (false: dropped by a code write, a paging change or an adaptive rewrite). */
  valid: boolean;
  /** Its exits chained so far, of how many. */
  chained: number;
  exits: number;
}

export interface BtStatsView {
  /** Blocks translated so far (retranslations included), and valid in the cache now. */
  translated: number;
  cached: number;
  /** Bytes of the translation cache used, of its size (256 KiB). */
  tcUsed: number;
  tcSize: number;
  /** Lookups that found a translation, and that had to translate. */
  hits: number;
  misses: number;
  chains: number;
  /** Callouts run, by reason. */
  callouts: Partial<Record<BtReason, number>>;
  /** Block exits taken through the monitor (before they were chained). */
  exitsThroughMonitor: number;
  /** Writes to translated code caught (self-modifying code) and blocks dropped. */
  codeWrites: number;
  invalidations: number;
  flushes: number;
  /** Stores retranslated as page-table-write callouts. */
  adaptive: number;
}

/** What the step that led here did to the translation cache (against the step before). */
export interface BtStepView {
  /** Blocks translated in the step (ids). */
  translated: number[];
  /** Exits chained in the step. */
  chained: number;
  /** Callouts run in the step: the guest instruction, its reason. */
  callouts: { insn: string; reason: BtReason; note: string }[];
  codeWrites: number;
  invalidated: number;
  adaptive: number;
}

export interface VmBtView {
  /**
   * Where the processor is: in the translation of a guest instruction (`tc` the processor's EIP,
   * `guest` the guest instruction's address), at a callout or exit site (`site`, unmapped: the
   * translated code has just jumped there, and its fetch enters the monitor in the next step; `guest`
   * the instruction of the callout, or the block's last for an exit), at a guest address outside the cache (the guest's
   * user code, or the monitor about to settle the kernel into a translation), or the guest ended.
   */
  where: { kind: 'tc'; tc: string; guest: string } | { kind: 'site'; site: string; guest: string; exit: boolean } | { kind: 'guest'; guest: string; cpl: number } | { kind: 'ended' };
  /** The current block (the one the processor runs, else the one translated last), with its instructions. */
  block: (BtBlockView & { code: BtInsnView[]; running: boolean }) | null;
  stats: BtStatsView;
  /** The blocks since the last flush, newest first (at most BT_LIST), and how many there are. */
  blocks: BtBlockView[];
  blockTotal: number;
  step: BtStepView;
}

/** How many blocks the list shows. */
export const BT_LIST = 24;
