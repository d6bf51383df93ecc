/**
 * Where the lab should be when a lesson opens at a later step: the plan (pure, no emulator) and the
 * reading of one view against a condition. A lesson opened at step k runs on the scenario step k
 * names (or the lesson's main one); every earlier `wait` step on that same scenario stands for
 * something the student would already have made the lab do, so the app runs the lab forward
 * through their conditions, in order, before the student carries on.
 */
import type { TraceEvent, TraceKind } from '../emu/trace/events.ts';
import type { StepWalks } from '../worker/walk-types.ts';
import type { StepDef, WaitFor } from './kit.ts';
import { matches } from './reading.ts';
import { seenEvents } from './report.ts';

/** One condition to reach, and how the app looks for it. */
export interface PlannedWait {
  /** The wait step it comes from (its title names it if it is not reached). */
  stepId: string;
  until: WaitFor;
  /**
   * `run`: the worker's runUntil over this kind, checking each event it stops at (cheap, long
   * budget). `step`: one step at a time, reading the step's translations (ViewState.walks), for the
   * kinds on the TLB path that runUntil cannot trace without disturbing the TLB's counters.
   */
  how: 'run' | 'step';
}

export interface LabPlan {
  /** The lesson's own scenario the step runs on (a key of LessonModule.scenarios), or null for its main one. */
  scenario: string | null;
  /** The conditions to reach, in the order of the lesson's steps. */
  waits: PlannedWait[];
}

/** Kinds traced on the TLB path: runUntil over them would change what an untraced run does. */
const STEPPED: readonly TraceKind[] = ['mmu/walk', 'tlb/lookup', 'tlb/fill'];

/** How the app looks for an event of this kind. */
export function searchFor(want: WaitFor): 'run' | 'step' {
  return STEPPED.includes(want.kind) ? 'step' : 'run';
}

/**
 * The lab's place for opening at `step` (0-based, clamped): the scenario of that step, and the
 * conditions of the earlier wait steps on the same scenario, in order. The step's own condition is
 * not among them: that one is the student's to meet.
 */
export function planPosition(steps: readonly StepDef[], step: number): LabPlan {
  const k = Math.min(Math.max(0, Math.trunc(step)), Math.max(0, steps.length - 1));
  const scenario = steps[k]?.scenario ?? null;
  const waits: PlannedWait[] = [];
  for (const s of steps.slice(0, k)) {
    if (s.kind !== 'wait' || (s.scenario ?? null) !== scenario) continue;
    waits.push({ stepId: s.id, until: s.until, how: searchFor(s.until) });
  }
  return { scenario, waits };
}

/** Whether one view (the events of the step(s) that led to it, its translations, and runUntil's find) shows the condition. */
export function viewShows(want: WaitFor, events: readonly TraceEvent[], walks?: StepWalks, found?: TraceEvent | null): boolean {
  const seen = seenEvents(found === null || found === undefined ? events : [...events, found], walks);
  return seen.some((e) => matches(want, e));
}

/** Where the lab is after a move the driver asked for. */
export interface Moved {
  step: number;
  /** The events of the step(s) that led here (ViewState.events) and that step's translations. */
  events: readonly TraceEvent[];
  walks?: StepWalks;
  /** The event runUntil stopped at (null after a plain step, or when none came). */
  found: TraceEvent | null;
  /** The machine can go no further. */
  stopped: boolean;
}

/** The lab as the driver sees it: the app's session, or the worker's engine in tests. */
export interface DriveLab {
  /** The current step. */
  at(): number;
  /** runUntil over these kinds within `maxSteps`; null if the call failed. */
  runUntil(kinds: TraceKind[], maxSteps: number): Promise<Moved | null>;
  /** One step forward; null if the call failed. */
  step(): Promise<Moved | null>;
  /** False once the lab is no longer the driver's (another scenario loaded, the lesson closed): it stops. */
  current(): boolean;
  /** Told before each condition is looked for (0-based). */
  reaching?(index: number): void;
}

/** Steps each condition may take: runUntil is cheap per step; stepping costs a request per step. */
export const RUN_BUDGET = 200_000;
export const STEP_BUDGET = 3_000;

export type DriveResult =
  | { ok: true; step: number }
  /** `budget`: not within the steps allowed; `stopped`: the machine halted first; `failed`: a request failed; `cancelled`: the lab changed under it. */
  | { ok: false; stepId: string; why: 'budget' | 'stopped' | 'failed' | 'cancelled'; step: number; budget: number };

/**
 * Runs the lab forward through the plan's conditions, in order, each from where the one before was
 * found and within its budget. Stops at the first one not reached and says which and why; the lab
 * stays where it got.
 */
export async function drive(plan: LabPlan, lab: DriveLab, budgets = { run: RUN_BUDGET, step: STEP_BUDGET }): Promise<DriveResult> {
  for (const [i, w] of plan.waits.entries()) {
    if (!lab.current()) return { ok: false, stepId: w.stepId, why: 'cancelled', step: lab.at(), budget: 0 };
    lab.reaching?.(i);
    const budget = w.how === 'run' ? budgets.run : budgets.step;
    const from = lab.at();
    const fail = (why: 'budget' | 'stopped' | 'failed' | 'cancelled'): DriveResult => ({ ok: false, stepId: w.stepId, why, step: lab.at(), budget });
    for (;;) {
      const used = lab.at() - from;
      if (used >= budget) return fail('budget');
      const before = lab.at();
      let r = w.how === 'run' ? await lab.runUntil([w.until.kind], budget - used) : await lab.step();
      if (!lab.current()) return fail('cancelled');
      if (r === null) return fail('failed');
      if (viewShows(w.until, r.events, r.walks, r.found)) break;
      if (r.stopped) return fail('stopped');
      if (w.how === 'run' && r.found === null) return fail('budget');
      // An event delivered between instructions is found at the step it started from: step past it.
      if (r.step <= before) {
        r = await lab.step();
        if (!lab.current()) return fail('cancelled');
        if (r === null) return fail('failed');
        if (viewShows(w.until, r.events, r.walks, r.found)) break;
        if (r.stopped) return fail('stopped');
      }
    }
  }
  return { ok: true, step: lab.at() };
}
