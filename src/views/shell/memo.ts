/**
 * What the shell remembers across views so that the screen at a step does not depend on how it
 * was reached: instruction text by address (for the narration) and registers by step (so "changed"
 * is always against the step before, also after stepping back).
 */
import type { TraceEvent } from '../../emu/trace/events.ts';
import type { DisasmRow, ViewReg, ViewState } from '../../worker/protocol.ts';
import { VIEW_REGS } from '../../worker/protocol.ts';

/** Steps whose registers are kept (the oldest are forgotten first). */
export const MAX_REMEMBERED_STEPS = 20_000;

function remember<V>(m: Map<number, V>, step: number, v: V): void {
  m.set(step, v);
  if (m.size > MAX_REMEMBERED_STEPS) {
    const oldest = m.keys().next();
    if (!oldest.done) m.delete(oldest.value);
  }
}

export class ShellMemo {
  private readonly texts = new Map<string, string>();
  private readonly regs = new Map<number, Record<ViewReg, string>>();
  /** The events of the step that led to each step, as last seen. */
  private readonly events = new Map<number, TraceEvent[]>();

  clear(): void {
    this.texts.clear();
    this.regs.clear();
    this.events.clear();
  }

  /** Records what a view shows. */
  see(view: ViewState): void {
    this.addRows(view.machine.disasm);
    if (!this.regs.has(view.step)) remember(this.regs, view.step, view.machine.regs);
    const last = view.events.filter((e) => e.step === view.step - 1);
    if (last.length > 0) {
      this.events.delete(view.step);
      remember(this.events, view.step, last);
    }
  }

  /**
   * The events of the step that led to this view's step: the view's own, or, when the view has
   * none (a step call that could not advance, e.g. at HLT), those last seen for that step.
   */
  lastStepEvents(view: ViewState): readonly TraceEvent[] {
    if (view.events.some((e) => e.step === view.step - 1)) return view.events;
    return this.events.get(view.step) ?? view.events;
  }

  addRows(rows: readonly DisasmRow[]): void {
    for (const r of rows) this.texts.set(BigInt(r.address).toString(16), r.text);
  }

  /** Whether the registers of this step are known. */
  knows(step: number): boolean {
    return this.regs.has(step);
  }

  insnText(rip: bigint): string | null {
    return this.texts.get(rip.toString(16)) ?? null;
  }

  /** Registers that differ from the step before, when that step is known; else the session's own list. */
  changed(view: ViewState): ViewReg[] {
    if (view.step === 0) return [];
    const before = this.regs.get(view.step - 1);
    if (before === undefined) return view.changed;
    return VIEW_REGS.filter((r) => before[r] !== view.machine.regs[r]);
  }
}
