/**
 * What a lesson's snapshot says to the rest of the app: the LessonReport (progress, score) and the
 * SpeakerCue (instructor notes), and the trace events as a lesson sees them. Pure functions.
 */
import type { TraceEvent } from '../emu/trace/events.ts';
import type { StepWalks } from '../worker/walk-types.ts';
import type { LessonReport, SpeakerCue, SpeakerGate } from './contract.ts';
import type { LessonSnapshot, SeenEvent, StepDef } from './kit.ts';
import { phaseOf } from './reading.ts';
import type { LessonText } from './lesson.ts';

export function maxScoreOf(steps: readonly StepDef[]): number {
  return steps.reduce((n, s) => n + ('points' in s ? s.points : 0), 0);
}

export function reportOf(snapshot: LessonSnapshot): LessonReport {
  const c = snapshot.context;
  return {
    lessonId: c.lessonId,
    step: c.step,
    reached: c.reached,
    steps: c.steps.length,
    score: Object.values(c.points).reduce((a, b) => a + b, 0),
    maxScore: maxScoreOf(c.steps),
    completed: c.completed,
  };
}

/** What the lesson's Next waits for in this snapshot (see SpeakerCue.gate). */
export function gateOf(snapshot: LessonSnapshot): SpeakerGate {
  const phase = phaseOf(snapshot);
  if (phase === 'finished') return 'finished';
  if (phase === 'predict') return 'answer';
  if (phase === 'waiting') return snapshot.context.steps[snapshot.context.step]?.kind === 'target' ? 'pick' : 'lab';
  return 'open';
}

export function cueOf(snapshot: LessonSnapshot, text: LessonText): SpeakerCue {
  const c = snapshot.context;
  const step = c.steps[c.step];
  const next = c.steps[c.step + 1];
  const gate = gateOf(snapshot);
  const words = step === undefined ? undefined : text.steps[step.id];
  const task = gate === 'answer' ? (words?.prompt ?? null) : gate === 'lab' || gate === 'pick' ? (words?.act ?? null) : null;
  return {
    lessonId: c.lessonId,
    lessonTitle: text.title,
    step: c.step,
    steps: c.steps.length,
    notes: step === undefined ? null : (text.steps[step.id]?.notes ?? null),
    next: next === undefined ? null : (text.steps[next.id]?.title ?? null),
    gate,
    task,
  };
}

/** The cue outside a lesson. */
export const NO_CUE: SpeakerCue = { lessonId: null, lessonTitle: null, step: null, steps: null, notes: null, next: null, gate: null, task: null };

/**
 * Trace events reduced to what a lesson step may wait for, followed by the step's translations
 * (ViewState.walks, traced apart from the events): a TLB miss is a `tlb/lookup` with `hit: false`
 * and the `mmu/walk` the CPU made; a TLB hit is a `tlb/lookup` with `hit: true`. A VM exit keeps its
 * reason or EXITCODE and its name (a software monitor's trap or callout also what it counts it as); a VM entry the instruction that made it (a failed entry did not
 * enter the guest, so it names none).
 */
export function seenEvents(events: readonly TraceEvent[], walks?: StepWalks): SeenEvent[] {
  const out: SeenEvent[] = [];
  for (const e of events) {
    if (e.kind === 'ring/change') {
      out.push(e.vector === undefined ? { kind: e.kind, cause: e.cause, from: e.from, to: e.to } : { kind: e.kind, cause: e.cause, from: e.from, to: e.to, vector: e.vector });
    } else if (e.kind === 'cpu/exception' || e.kind === 'cpu/interrupt') out.push({ kind: e.kind, vector: e.vector });
    else if (e.kind === 'tlb/flush') out.push({ kind: e.kind, cause: e.cause });
    else if (e.kind === 'tlb/lookup') out.push({ kind: e.kind, access: e.access, user: e.user, hit: e.hit });
    else if (e.kind === 'mmu/walk') out.push({ kind: e.kind, access: e.access, user: e.user });
    else if (e.kind === 'vm/exit') out.push(e.label === undefined ? { kind: e.kind, code: e.code, name: e.name } : { kind: e.kind, code: e.code, name: e.name, label: e.label });
    else if (e.kind === 'vm/entry') out.push(e.failed === undefined ? { kind: e.kind, instruction: e.instruction } : { kind: e.kind });
    else if (e.kind === 'vm/end') out.push({ kind: e.kind, vm: e.vm });
    else if (e.kind === 'host/path') out.push({ kind: e.kind, name: e.name, where: e.where, hosting: e.hosting });
    else if (e.kind === 'iommu/dma') out.push({ kind: e.kind, iova: Number(e.iova), blocked: e.fault !== null });
    else if (e.kind !== 'cpu/insn') out.push({ kind: e.kind });
  }
  if (walks !== undefined && walks.paging !== 'none') {
    for (const t of walks.translations) {
      if (t.source === 'next') continue;
      out.push({ kind: 'tlb/lookup', access: t.access, user: t.user, hit: t.source === 'tlb' });
      if (t.source === 'walk') out.push({ kind: 'mmu/walk', access: t.access, user: t.user });
    }
  }
  return out;
}
