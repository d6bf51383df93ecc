/**
 * What every lesson machine is built from: the step definitions a lesson declares, the events the
 * app sends, and `lessonSetup` (xstate v5 `setup` with named guards and actions). A lesson's
 * `machine.ts` calls `lessonMachine(id, steps)`, which lays its steps out as top-level states in
 * order; each kind of step has its own small sub-machine:
 *
 * - `read`: narration only; `lesson.next` goes on.
 * - `choice` / `number`: predict then reveal. `predict` takes one `lesson.answer`, which is locked
 *   (scored, stored) and moves to `revealed`; `lesson.next` only from `revealed`.
 * - `wait`: `waiting` until the lab shows an event that matches (`lab.events`), then `met`.
 * - `target`: `waiting` until the student clicks the view element with the right target id
 *   (`lab.target`); a wrong one is counted, so only a first-try hit earns the points.
 *
 * Pure data and pure functions: no DOM, no emulator; tests drive it with `createActor` alone.
 */
import { assign, setup, type SnapshotFrom } from 'xstate';
import type { AccessType, RingCause, TlbFlushCause, TraceKind } from '../emu/trace/events.ts';
import type { FactId } from './sources.ts';

export { parseNumber } from './answers.ts';
export { matches, phaseOf } from './reading.ts';
import { matches } from './reading.ts';

/** A trace event as a lesson sees it: the kind and the fields a step may wait for. */
export interface SeenEvent {
  kind: TraceKind;
  /** ring/change: why the CPL changed; tlb/flush: what invalidated the TLB. */
  cause?: RingCause | TlbFlushCause;
  from?: number;
  to?: number;
  vector?: number;
  /** mmu/walk and tlb/lookup: the kind of access translated, and whether it was a CPL-3 access. */
  access?: AccessType;
  user?: boolean;
  /** tlb/lookup: the TLB answered without a walk. */
  hit?: boolean;
  /** vm/exit: the basic exit reason (VT-x) or EXITCODE (AMD-V), and the vendor's name for it. */
  code?: number;
  name?: string;
  /** vm/exit of a software technique: what entered the monitor as it counts it (`cli`, `popfd`, `code write`, `page-table write`; a hypercall's name, `mmu_update`). */
  label?: string;
  /** vm/entry: the instruction that entered the guest (VMLAUNCH, VMRESUME, VMRUN). */
  instruction?: string;
  /** iommu/dma: the address the device used, and whether the request was blocked. */
  iova?: number;
  blocked?: boolean;
  /** vm/end: the VM that ended (several VMs: 0, 1, ...). */
  vm?: number;
  /** host/path: who handled the exit (the monitor, a device model, a host interrupt, a halt) and where the hypervisor lives. */
  where?: 'monitor' | 'device' | 'interrupt' | 'idle';
  hosting?: 'bare-metal' | 'hosted';
}

/** What a `wait` step waits for: an event of this kind whose given fields all match. */
export type WaitFor = SeenEvent;

interface StepBase {
  /** Unique in its lesson; also the key of the step's text. */
  id: string;
  /** The view element the step points at (a `data-lesson-target` value), if any. */
  point?: string;
  /** The lesson's own scenario this step runs on (a key of LessonModule.scenarios), instead of its main one. */
  scenario?: string;
  /** Figures the step quotes (src/lessons/sources.ts): each is shown with its source and grade of verification. */
  cite?: readonly FactId[];
}
export interface ReadStep extends StepBase {
  kind: 'read';
}
export interface ChoiceStep extends StepBase {
  kind: 'choice';
  /** Choice ids, in the order shown; their text is in the lesson's text. */
  choices: readonly string[];
  answer: string;
  points: number;
}
export interface NumberStep extends StepBase {
  kind: 'number';
  answer: number;
  points: number;
}
export interface WaitStep extends StepBase {
  kind: 'wait';
  until: WaitFor;
}
export interface TargetStep extends StepBase {
  kind: 'target';
  /** The target ids the student may pick from share this prefix (`reg-`). */
  among: string;
  answer: string;
  points: number;
}
export type StepDef = ReadStep | ChoiceStep | NumberStep | WaitStep | TargetStep;

/** Where a step's question or task stands. */
export type StepPhase = 'read' | 'predict' | 'revealed' | 'waiting' | 'met';

export interface LessonContext {
  lessonId: string;
  steps: readonly StepDef[];
  /** The step shown (index into steps). */
  step: number;
  reached: number;
  /** Locked answers by step id (choice id, number, or the first target clicked). */
  answers: Record<string, string | number>;
  /** Points earned by step id. */
  points: Record<string, number>;
  /** Hints shown by step id. */
  hints: Record<string, number>;
  /** Wrong targets clicked by step id, and the last one (for feedback). */
  misses: Record<string, number>;
  lastMiss: string | null;
  /** Steps whose wait or target condition was met (kept when the student goes back). */
  met: Record<string, true>;
  /** The lab's most recent events (from `lab.events`), so a step entered later still sees them. */
  recent: readonly SeenEvent[];
  completed: boolean;
}

export type LessonEvent =
  | { type: 'lesson.next' }
  | { type: 'lesson.back' }
  | { type: 'lesson.goto'; step: number }
  | { type: 'lesson.answer'; value: string | number }
  | { type: 'lesson.hint' }
  | { type: 'lab.events'; events: readonly SeenEvent[] }
  | { type: 'lab.target'; id: string };

export interface LessonInput {
  lessonId: string;
  steps: readonly StepDef[];
  /** The step to open at (clamped). */
  start?: number;
}

/** Hints each step may have at most (their text is in the lesson's text). */
export const MAX_HINTS = 3;


/** Is `value` the right answer to step `s`? Numbers compare as numbers (`0x80` and `128` alike). */
export function isRight(s: StepDef, value: string | number): boolean {
  if (s.kind === 'choice' || s.kind === 'target') return value === s.answer;
  if (s.kind === 'number') return typeof value === 'number' && value === s.answer;
  return false;
}

const current = (c: LessonContext): StepDef | undefined => c.steps[c.step];

export const lessonSetup = setup({
  types: {
    context: {} as LessonContext,
    events: {} as LessonEvent,
    input: {} as LessonInput,
  },
  guards: {
    answered: ({ context }) => {
      const s = current(context);
      return s !== undefined && s.id in context.answers;
    },
    conditionMet: ({ context }) => {
      const s = current(context);
      return s !== undefined && context.met[s.id] === true;
    },
    /** The recent events (or those just sent) include what the current wait step waits for. */
    sawAwaited: ({ context, event }) => {
      const s = current(context);
      if (s?.kind !== 'wait') return false;
      const seen = event.type === 'lab.events' ? event.events : context.recent;
      return seen.some((e) => matches(s.until, e));
    },
    rightTarget: ({ context, event }) => {
      const s = current(context);
      return event.type === 'lab.target' && s?.kind === 'target' && event.id === s.answer;
    },
    /** A target among those the current step offers (others are ignored, not counted). */
    offeredTarget: ({ context, event }) => {
      const s = current(context);
      return event.type === 'lab.target' && s?.kind === 'target' && event.id.startsWith(s.among);
    },
    validAnswer: ({ context, event }) => {
      const s = current(context);
      if (event.type !== 'lesson.answer' || s === undefined) return false;
      if (s.kind === 'choice') return typeof event.value === 'string' && s.choices.includes(event.value);
      if (s.kind === 'number') return typeof event.value === 'number' && Number.isFinite(event.value);
      return false;
    },
    hasMoreHints: ({ context }) => {
      const s = current(context);
      return s !== undefined && (context.hints[s.id] ?? 0) < MAX_HINTS;
    },
    isLast: ({ context }) => context.step === context.steps.length - 1,
    isFirst: ({ context }) => context.step === 0,
    gotoInRange: ({ context, event }) =>
      event.type === 'lesson.goto' && Number.isInteger(event.step) && event.step >= 0 && event.step < context.steps.length,
  },
  actions: {
    lockAnswer: assign(({ context, event }) => {
      const s = current(context);
      if (event.type !== 'lesson.answer' || s === undefined) return {};
      const pts = s.kind === 'choice' || s.kind === 'number' ? (isRight(s, event.value) ? s.points : 0) : 0;
      return { answers: { ...context.answers, [s.id]: event.value }, points: { ...context.points, [s.id]: pts } };
    }),
    hitTarget: assign(({ context, event }) => {
      const s = current(context);
      if (event.type !== 'lab.target' || s?.kind !== 'target') return {};
      const firstTry = (context.misses[s.id] ?? 0) === 0 && !(s.id in context.answers);
      return {
        answers: s.id in context.answers ? context.answers : { ...context.answers, [s.id]: event.id },
        points: s.id in context.points ? context.points : { ...context.points, [s.id]: firstTry ? s.points : 0 },
        met: { ...context.met, [s.id]: true as const },
        lastMiss: null,
      };
    }),
    missTarget: assign(({ context, event }) => {
      const s = current(context);
      if (event.type !== 'lab.target' || s === undefined) return {};
      return {
        misses: { ...context.misses, [s.id]: (context.misses[s.id] ?? 0) + 1 },
        answers: s.id in context.answers ? context.answers : { ...context.answers, [s.id]: event.id },
        lastMiss: event.id,
      };
    }),
    markMet: assign(({ context }) => {
      const s = current(context);
      return s === undefined ? {} : { met: { ...context.met, [s.id]: true as const } };
    }),
    /** Keeps the events some wait step of the lesson waits for (frequent ones, such as TLB lookups, would crowd them out). */
    remember: assign(({ context, event }) =>
      event.type === 'lab.events'
        ? { recent: event.events.filter((e) => context.steps.some((s) => s.kind === 'wait' && matches(s.until, e))).slice(-64) }
        : {},
    ),
    showHint: assign(({ context }) => {
      const s = current(context);
      return s === undefined ? {} : { hints: { ...context.hints, [s.id]: (context.hints[s.id] ?? 0) + 1 } };
    }),
    forward: assign(({ context }) => {
      const step = Math.min(context.step + 1, context.steps.length - 1);
      return { step, reached: Math.max(context.reached, step), lastMiss: null };
    }),
    backward: assign(({ context }) => ({ step: Math.max(0, context.step - 1), lastMiss: null })),
    jump: assign(({ context, event }) => {
      if (event.type !== 'lesson.goto') return {};
      return { step: event.step, reached: Math.max(context.reached, event.step), lastMiss: null };
    }),
    complete: assign({ completed: true }),
  },
});

export type LessonMachine = ReturnType<typeof lessonMachine>;
export type LessonSnapshot = SnapshotFrom<LessonMachine>;

/** Events every step state answers the same way: hints, the lab's events, back, and jumps by number. */
function common(i: number, ids: readonly string[]) {
  return {
    'lesson.hint': { guard: 'hasMoreHints' as const, actions: 'showHint' as const },
    'lesson.back': i === 0 ? [] : [{ target: `#lesson.${ids[i - 1] ?? ''}`, actions: 'backward' as const }],
    'lesson.goto': ids.map((id, j) => ({
      target: `#lesson.${id}`,
      guard: ({ event }: { event: LessonEvent }) => event.type === 'lesson.goto' && event.step === j,
      actions: 'jump' as const,
    })),
  };
}

function stepState(s: StepDef, i: number, ids: readonly string[]) {
  const last = i === ids.length - 1;
  const next = last ? { target: '#lesson.finished', actions: 'complete' as const } : { target: `#lesson.${ids[i + 1] ?? ''}`, actions: 'forward' as const };
  const base = common(i, ids);
  switch (s.kind) {
    case 'read':
      return { on: { ...base, 'lab.events': { actions: 'remember' as const }, 'lesson.next': next } };
    case 'choice':
    case 'number':
      return {
        initial: 'entry',
        on: { ...base, 'lab.events': { actions: 'remember' as const } },
        states: {
          entry: { always: [{ guard: 'answered' as const, target: 'revealed' }, { target: 'predict' }] },
          predict: { on: { 'lesson.answer': { guard: 'validAnswer' as const, target: 'revealed', actions: 'lockAnswer' as const } } },
          revealed: { on: { 'lesson.next': next } },
        },
      };
    case 'wait':
      return {
        initial: 'entry',
        on: base,
        states: {
          entry: {
            always: [
              { guard: 'conditionMet' as const, target: 'met' },
              { guard: 'sawAwaited' as const, target: 'met', actions: 'markMet' as const },
              { target: 'waiting' },
            ],
          },
          waiting: {
            on: { 'lab.events': [{ guard: 'sawAwaited' as const, target: 'met', actions: ['remember' as const, 'markMet' as const] }, { actions: 'remember' as const }] },
          },
          met: { on: { 'lab.events': { actions: 'remember' as const }, 'lesson.next': next } },
        },
      };
    case 'target':
      return {
        initial: 'entry',
        on: { ...base, 'lab.events': { actions: 'remember' as const } },
        states: {
          entry: { always: [{ guard: 'conditionMet' as const, target: 'met' }, { target: 'waiting' }] },
          waiting: {
            on: {
              'lab.target': [
                { guard: 'rightTarget' as const, target: 'met', actions: 'hitTarget' as const },
                { guard: 'offeredTarget' as const, actions: 'missTarget' as const },
              ],
            },
          },
          met: { on: { 'lesson.next': next } },
        },
      };
  }
}

/**
 * The machine of a lesson with these steps, one top-level state per step (named by its id) and
 * `finished` after the last. Its input picks the step to open at (`lesson.goto` on start).
 */
export function lessonMachine(lessonId: string, steps: readonly StepDef[]) {
  const ids = steps.map((s) => s.id);
  if (ids.length === 0 || new Set(ids).size !== ids.length || ids.includes('finished') || ids.includes('start')) {
    throw new Error(`lesson ${lessonId}: step ids must be unique, non-empty, and not "start" or "finished"`);
  }
  const states = Object.fromEntries(steps.map((s, i) => [s.id, stepState(s, i, ids)]));
  return lessonSetup.createMachine({
    id: 'lesson',
    context: ({ input }) => {
      const start = Math.min(Math.max(0, Math.trunc(input.start ?? 0)), input.steps.length - 1);
      return {
        lessonId: input.lessonId,
        steps: input.steps,
        step: start,
        reached: start,
        answers: {},
        points: {},
        hints: {},
        misses: {},
        lastMiss: null,
        met: {},
        recent: [],
        completed: false,
      };
    },
    initial: 'start',
    states: {
      start: {
        always: ids.map((id, j) => ({ target: id, guard: ({ context }: { context: LessonContext }) => context.step === j })),
      },
      ...states,
      finished: {
        on: {
          'lesson.back': { target: `#lesson.${ids[ids.length - 1] ?? ''}` },
          'lesson.goto': ids.map((id, j) => ({
            target: `#lesson.${id}`,
            guard: ({ event }: { event: LessonEvent }) => event.type === 'lesson.goto' && event.step === j,
            actions: 'jump' as const,
          })),
        },
      },
    },
  });
}

