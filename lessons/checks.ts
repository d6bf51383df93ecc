/**
 * The checks every lesson's test makes, shared: its machine reaches every state (xstate/graph) and
 * agrees with its LessonInfo; both languages are complete and state the same numbers; and the
 * helpers that find the numbers a text states; and the scripted run a student makes. A lesson's
 * own test adds the facts its numbers are checked against.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { getShortestPaths, getStateNodes } from 'xstate/graph';
import type { LessonInfo } from '../src/lessons/contract.ts';
import type { LessonEvent, LessonSnapshot, StepDef } from '../src/lessons/kit.ts';
import { phaseOf } from '../src/lessons/kit.ts';
import { seenEvents } from '../src/lessons/report.ts';
import type { TraceEvent } from '../src/emu/trace/events.ts';
import { InThreadClient } from '../src/worker/in-thread.ts';
import type { Json, ViewState } from '../src/worker/protocol.ts';
import type { LessonModule, LessonText, StepText } from '../src/lessons/lesson.ts';
import { maxScoreOf } from '../src/lessons/report.ts';
import { SUMMARIES } from '../src/lessons/summaries.ts';

/** Every number in a text: decimal or 0x-hex, not part of a name (R11, IA32_STAR, x86, RSP0). */
export function numbersIn(text: string): { token: string; value: number }[] {
  return [...text.matchAll(/(?<![A-Za-z0-9_.])(0x[0-9a-fA-F]+|[0-9]+)(?![A-Za-z0-9_])/g)].map((m) => {
    const token = m[1] ?? '';
    return { token, value: token.startsWith('0x') ? Number.parseInt(token.slice(2), 16) : Number(token) };
  });
}

/** The student-facing strings of a step (the instructor's notes are not lesson text). */
export function studentStrings(s: StepText): string[] {
  return [s.title, s.body, s.prompt ?? '', s.why ?? '', s.act ?? '', s.done ?? '', s.miss ?? '', ...Object.values(s.choices ?? {}), ...s.hints];
}

/** The answer a question or pick step expects (undefined for a step without one). */
export function answerOf(lesson: LessonModule, id: string): string | number | undefined {
  const s = lesson.steps.find((x) => x.id === id);
  return s !== undefined && 'answer' in s ? s.answer : undefined;
}

/** The numbers of a lesson's student-facing text (title, summary, steps) that are not among `known`. */
export function strayNumbers(lesson: LessonModule, known: ReadonlySet<number>): string[] {
  const strays: string[] = [];
  for (const locale of ['en', 'zh-CN'] as const) {
    const t = lesson.text[locale];
    for (const [id, s] of Object.entries(t.steps)) {
      for (const str of studentStrings(s)) for (const n of numbersIn(str)) if (!known.has(n.value)) strays.push(`${locale} ${id}: ${n.token}`);
    }
    for (const n of numbersIn(t.title + ' ' + t.summary)) if (!known.has(n.value)) strays.push(`${locale} title: ${n.token}`);
  }
  return strays;
}

/** Every event the student can send, with every answer and target the steps name, right or wrong. */
function allEvents(steps: readonly StepDef[]): LessonEvent[] {
  const ev: LessonEvent[] = [{ type: 'lesson.next' }, { type: 'lesson.back' }, { type: 'lesson.hint' }];
  for (let i = 0; i < steps.length; i++) ev.push({ type: 'lesson.goto', step: i });
  for (const s of steps) {
    if (s.kind === 'choice') for (const c of s.choices) ev.push({ type: 'lesson.answer', value: c });
    if (s.kind === 'number') ev.push({ type: 'lesson.answer', value: s.answer }, { type: 'lesson.answer', value: s.answer + 1 });
    if (s.kind === 'wait') ev.push({ type: 'lab.events', events: [s.until] });
    if (s.kind === 'target') ev.push({ type: 'lab.target', id: s.answer }, { type: 'lab.target', id: `${s.among}zz` });
  }
  return ev;
}

/** The machine's checks: every state reachable, opening at any step, agreement with its LessonInfo. */
export function describeMachine(lesson: LessonModule, info: LessonInfo): void {
  const { machine, steps } = lesson;
  const input = { lessonId: lesson.id, steps };
  describe(`lesson ${lesson.id}: the machine`, () => {
    it('reaches every state (transient entry and start states resolve within the step that enters them)', () => {
      const paths = getShortestPaths(machine, {
        input,
        events: allEvents(steps),
        serializeState: (s) => JSON.stringify(s.value) + JSON.stringify(Object.keys(s.context.answers).sort()),
      });
      const reached = paths.map((p) => p.state);
      const missing = getStateNodes(machine)
        .filter((n) => n.path.length > 0 && n.key !== 'entry' && n.key !== 'start')
        .filter((n) => {
          const value = n.path.length === 1 ? (n.path[0] as string) : { [n.path[0] as string]: n.path[1] as string };
          return !reached.some((s) => s.matches(value as never));
        })
        .map((n) => n.id);
      expect(reached.length).toBeGreaterThan(steps.length);
      expect(missing).toEqual([]);
    });

    it('opens at any step asked, clamped to the lesson', () => {
      for (const [start, want] of [[0, 0], [4, 4], [99, steps.length - 1], [-3, 0]] as const) {
        const a = createActor(machine, { input: { ...input, start } }).start();
        expect(a.getSnapshot().context.step).toBe(want);
        a.stop();
      }
    });

    it('agrees with its LessonInfo (steps, points, titles, summaries)', () => {
      expect(info.id).toBe(lesson.id);
      expect(info.steps).toBe(steps.length);
      expect(info.maxScore).toBe(maxScoreOf(steps));
      expect(info.title).toEqual({ en: lesson.text.en.title, 'zh-CN': lesson.text['zh-CN'].title });
      expect(SUMMARIES[lesson.id]).toEqual({ en: lesson.text.en.summary, 'zh-CN': lesson.text['zh-CN'].summary });
      expect(info.minutes).toBeGreaterThanOrEqual(5);
      expect(info.minutes).toBeLessThanOrEqual(15);
    });

    it('names only scenarios it has', () => {
      for (const s of steps) if (s.scenario !== undefined) expect(Object.keys(lesson.scenarios ?? {}), s.id).toContain(s.scenario);
    });
  });
}

/** Both languages complete: every step's text, the fields its kind needs, real Chinese, the same numbers. */
export function describeLanguages(lesson: LessonModule): void {
  const { steps } = lesson;
  const shape = (t: LessonText) => Object.entries(t.steps).map(([id, s]) => [id, Object.keys(s).sort(), Object.keys(s.choices ?? {}), s.hints.length]);

  describe(`lesson ${lesson.id}: both languages complete`, () => {
    it('has text for every step and nothing else, the same fields and choices in both languages', () => {
      for (const l of ['en', 'zh-CN'] as const) expect(Object.keys(lesson.text[l].steps).sort()).toEqual(steps.map((s) => s.id).sort());
      expect(shape(lesson.text['zh-CN'])).toEqual(shape(lesson.text.en));
    });

    it('names each of its own scenarios in both languages', () => {
      for (const l of ['en', 'zh-CN'] as const) expect(Object.keys(lesson.text[l].scenarios ?? {}).sort(), l).toEqual(Object.keys(lesson.scenarios ?? {}).sort());
      for (const name of Object.keys(lesson.scenarios ?? {})) expect(lesson.text['zh-CN'].scenarios?.[name], name).toMatch(/[\u4e00-\u9fff]/);
    });

    it('gives each step what its kind needs', () => {
      for (const l of ['en', 'zh-CN'] as const) {
        for (const s of steps) {
          const t = lesson.text[l].steps[s.id] as StepText;
          expect(t.notes.trim(), `${l} ${s.id} notes`).not.toBe('');
          if (s.kind === 'choice') expect(Object.keys(t.choices ?? {}).sort()).toEqual([...s.choices].sort());
          if (s.kind === 'choice' || s.kind === 'number') expect([t.prompt, t.why].every((x) => (x ?? '').trim() !== '')).toBe(true);
          if (s.kind === 'wait' || s.kind === 'target') expect([t.act, t.done].every((x) => (x ?? '').trim() !== '')).toBe(true);
          if (s.kind === 'target') expect(t.miss).toContain('{name}');
          if (s.kind !== 'read') expect(t.hints.length).toBeGreaterThan(0);
        }
      }
    });

    it('translates every string: each Chinese string is non-empty, has Chinese in it, and differs from the English', () => {
      const zh = lesson.text['zh-CN'];
      const en = lesson.text.en;
      const pairs: [string, string, string][] = [['title', zh.title, en.title], ['summary', zh.summary, en.summary]];
      for (const s of steps) {
        const z = zh.steps[s.id] as StepText;
        const e = en.steps[s.id] as StepText;
        for (const k of ['title', 'body', 'prompt', 'why', 'act', 'done', 'miss', 'notes'] as const) if (e[k] !== undefined) pairs.push([`${s.id}.${k}`, z[k] ?? '', e[k]]);
        for (const c of Object.keys(e.choices ?? {})) pairs.push([`${s.id}.choices.${c}`, z.choices?.[c] ?? '', e.choices?.[c] ?? '']);
        e.hints.forEach((h, i) => pairs.push([`${s.id}.hints.${i}`, z.hints[i] ?? '', h]));
      }
      const bad = pairs.filter(([, z, e]) => z.trim() === '' || z === e || !/[\u4e00-\u9fff]/.test(z)).map(([k]) => k);
      expect(bad).toEqual([]);
    });

    it('the Chinese text states the same numbers as the English, step by step', () => {
      for (const s of steps) {
        const nums = (l: 'en' | 'zh-CN') => studentStrings(lesson.text[l].steps[s.id] as StepText).flatMap((x) => numbersIn(x).map((n) => n.value)).sort((a, b) => a - b);
        expect(nums('zh-CN'), s.id).toEqual(nums('en'));
      }
    });
  });
}

/** A lesson's scripted run: the lesson's actor at the end, the views at its wait and pick steps, every event. */
export interface ScriptedRun {
  actor: ReturnType<typeof createActor>;
  client: InThreadClient;
  /** The view the scenario loaded with. */
  first: ViewState;
  /** The view when each wait or target step was met, by step id. */
  views: Map<string, ViewState>;
  /** Every event of the run, in order (each view carries the events of the one step that led to it). */
  events: TraceEvent[];
}

/**
 * The run a student makes, on the lesson's scenario: each question answered right, each wait step
 * reached by stepping the lab one step at a time (at most `waitBudget` steps each), each pick made
 * on the right target. Every step must run on `scenarioId`, or, when `others` names more of the
 * lesson's own scenarios, on one of them: entering a step on another scenario loads it afresh, as
 * the app does (`first` is then the view `scenarioId` loaded with).
 */
export async function playScripted(o: {
  lesson: LessonModule;
  scenario: unknown;
  scenarioId: string;
  waitBudget: number;
  others?: Record<string, unknown>;
  /**
   * Reach each wait step with the worker's runUntil over its condition's kind (as the app's
   * positioning does, checking each event found), instead of one step at a time: for waits
   * thousands of steps away. Not for conditions on the TLB path (`mmu/walk`, `tlb/lookup`).
   */
  runTo?: boolean;
}): Promise<ScriptedRun> {
  const client = new InThreadClient();
  const load = async (id: string, json: unknown): Promise<ViewState> => {
    const loaded = await client.load(json as Json);
    if (!loaded.ok) throw new Error(`${id} did not load: ${JSON.stringify(loaded.errors)}`);
    return loaded.view;
  };
  let view = await load(o.scenarioId, o.scenario);
  let current = o.scenarioId;
  const first = view;
  const actor = createActor(o.lesson.machine, { input: { lessonId: o.lesson.id, steps: o.lesson.steps } }).start();
  actor.send({ type: 'lab.events', events: seenEvents(view.events, view.walks) });
  const views = new Map<string, ViewState>();
  const events: TraceEvent[] = [];
  for (let guard = 0; guard < 100 && phaseOf(actor.getSnapshot() as LessonSnapshot) !== 'finished'; guard++) {
    const snap = actor.getSnapshot() as LessonSnapshot;
    const step = o.lesson.steps[snap.context.step] as StepDef;
    if (step.scenario !== current && o.others !== undefined && step.scenario !== undefined && step.scenario in o.others) {
      current = step.scenario;
      view = await load(current, o.others[current]);
      actor.send({ type: 'lab.events', events: seenEvents(view.events, view.walks) });
    }
    expect(step.scenario, step.id).toBe(current);
    const phase = phaseOf(snap);
    if (phase === 'predict' && (step.kind === 'choice' || step.kind === 'number')) actor.send({ type: 'lesson.answer', value: step.answer });
    else if (phase === 'waiting' && step.kind === 'wait' && o.runTo === true) {
      for (let n = 0; n < 64 && phaseOf(actor.getSnapshot() as LessonSnapshot) === 'waiting'; n++) {
        const r = await client.runUntil([step.until.kind], o.waitBudget);
        view = r.view;
        events.push(...view.events);
        actor.send({ type: 'lab.events', events: seenEvents(r.event === null ? view.events : [...view.events, r.event], view.walks) });
        if (r.event === null) break;
      }
      views.set(step.id, view);
    } else if (phase === 'waiting' && step.kind === 'wait') {
      for (let n = 0; n < o.waitBudget && phaseOf(actor.getSnapshot() as LessonSnapshot) === 'waiting'; n++) {
        view = await client.step(1);
        events.push(...view.events);
        actor.send({ type: 'lab.events', events: seenEvents(view.events, view.walks) });
      }
      views.set(step.id, view);
    } else if (phase === 'waiting' && step.kind === 'target') {
      views.set(step.id, view);
      actor.send({ type: 'lab.target', id: step.answer });
    } else actor.send({ type: 'lesson.next' });
  }
  return { actor, client, first, views, events };
}
