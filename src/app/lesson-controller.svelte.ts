/**
 * The lesson's side of the lab screen, out of App.svelte: opening a lesson (from the URL, the
 * lesson map), the lesson and its step in the URL, the lab's views fed to the lesson, a step's own
 * scenario loaded on entering it, every change reported as progress (which the embed posts to its
 * host), and, when a lesson opens at a later step, the lab run forward to where that step expects
 * it (src/lessons/position.ts plans; this drives the session). Create it while App initialises:
 * its effects belong to the component.
 */
import { tick, untrack } from 'svelte';
import type { Locale } from '../i18n/messages.ts';
import type { LessonReport } from '../lessons/contract.ts';
import { lessonInfo } from '../lessons/registry.ts';
import { drive, planPosition, type DriveResult, type Moved } from '../lessons/position.ts';
import { Lessons, type LessonRun } from '../lessons/runtime.svelte.ts';
import type { Session } from '../state/session.svelte.ts';
import { translator } from '../views/cpu/text.ts';
import { readLessonParams, withLesson, type ScenarioId } from '../views/shell/url.ts';
import type { Json } from '../worker/protocol.ts';

/** What the controller needs from the lab screen. */
export interface LessonHost {
  readonly session: Session;
  /** The example on screen (the top bar's scenario) and a way to change it (App loads it). */
  scenario(): ScenarioId;
  /** `skipLoad`: the lesson's own scenario is loading already, the example must not replace it. */
  setScenario(id: ScenarioId, skipLoad: boolean): void;
  /** The lesson's own scenario `name` finished loading and is on screen (any later load clears it). */
  ownLoaded(name: string): void;
  /** Loads a scenario as App does (pausing, clearing breakpoints); counts the loads asked for. `example`: the example it is. */
  loadJson(json: Promise<Json>, example?: ScenarioId): Promise<boolean>;
  exampleJson(id: ScenarioId): Promise<Json>;
  /** Loads asked for so far, and the last one's promise. */
  loadGen(): number;
  lastLoad(): Promise<unknown>;
  /** After a jump: makes the screen the one reached by stepping (App's learnStepBefore). */
  settle(gen: number): Promise<void>;
  /** A line in the status area. */
  say(text: string): void;
  locale(): Locale;
  /** Every change of the lesson played (progress, and the embed's host). */
  report(r: LessonReport): void;
}

/** A condition of an earlier step the lab did not reach on opening: that step, why, where the lab stayed, and the lesson step opened. */
export type PlaceFailure = Extract<DriveResult, { ok: false }> & { opened: number };

export class LessonController {
  readonly lessons = new Lessons();
  /** While the lab is run forward to the opened step: the condition being looked for (0-based) of how many. */
  placing = $state.raw<{ at: number; of: number } | null>(null);
  /** The last opening's condition not reached (cleared by the next opening). */
  placeFailed = $state.raw<PlaceFailure | null>(null);
  /** What the lesson column says about it: only while the student is still on the step opened. */
  readonly failure: PlaceFailure | null = $derived(this.placeFailed !== null && this.lessons.run?.index === this.placeFailed.opened ? this.placeFailed : null);
  /** A lesson is loading or the lab is being run to its step: the lab is not at rest (no `ready`, no keys). */
  readonly busy: boolean = $derived(this.lessons.loading || this.placing !== null);
  /** The URL asked for a known lesson: it decides where the lab opens (`step=` is not used). */
  readonly ownsStart: boolean;
  readonly #host: LessonHost;
  /** The lesson-own scenario on screen (`<lesson>/<name>`), or null for the lesson's example. */
  #own: string | null = null;

  constructor(host: LessonHost, search: string, enabled: boolean) {
    this.#host = host;
    const asked = readLessonParams(search);
    this.ownsStart = enabled && asked.lesson !== null && lessonInfo(asked.lesson) !== null;
    if (enabled && asked.lesson !== null) void this.open(asked.lesson, asked.step);

    // The lesson hears of every view the lab reaches (the events of the steps that led to it), but
    // not of those it passes while being run to the opened step: those are behind the student.
    $effect(() => {
      const v = host.session.view;
      const run = this.lessons.run;
      if (v !== null && run !== null && this.placing === null) run.see(v.events, v.walks);
    });
    // The lesson and its step go into the URL.
    $effect(() => {
      const run = this.lessons.run;
      const step = run?.index ?? 0;
      if (!this.lessons.loading) history.replaceState(null, '', withLesson(location.href, run?.lesson.id ?? null, step));
    });
    // A lesson step may run on one of the lesson's own scenarios: loaded on entering it (after App's
    // example effect, so it wins over the lesson's example), and the example again on leaving it.
    $effect(() => {
      const run = this.lessons.run;
      const name = run?.step.scenario ?? null;
      const key = run === null || name === null ? null : `${run.lesson.id}/${name}`;
      if (key === this.#own) return;
      const was = this.#own;
      this.#own = key;
      const load = name === null ? undefined : run?.lesson.scenarios?.[name];
      if (name !== null && load !== undefined) this.loadOwn(name, load);
      else if (was !== null) {
        const id = untrack(() => host.scenario());
        void host.loadJson(host.exampleJson(id), id);
      }
    });
    // Every change in the lesson played is kept as progress (and, in an embed, posted to the host).
    $effect(() => {
      const r = this.lessons.report;
      if (r !== null) untrack(() => host.report(r));
    });
  }

  get run(): LessonRun | null {
    return this.lessons.run;
  }

  /** Loads one of the lesson's own scenarios; once it is on screen (no later load asked for), says so to the host. */
  loadOwn(name: string, load: () => Promise<{ default: unknown }>): void {
    const host = this.#host;
    const done = host.loadJson(load().then((m) => m.default as Json));
    const gen = host.loadGen();
    void done.then((ok) => {
      if (ok && gen === host.loadGen()) host.ownLoaded(name);
    });
  }

  /** Opens a lesson at a step (0-based) on its scenario, with the lab where that step expects it; an unknown id leaves the lab as it is and says so. */
  async open(id: string, step = 0): Promise<void> {
    const info = await this.lessons.open(id, step);
    const run = this.lessons.run;
    if (info === null || run === null) {
      this.#host.say(translator(this.#host.locale())('lesson.unknown', { id }));
      return;
    }
    // A step on one of the lesson's own scenarios has that loading already (the effect above): the example must not replace it.
    if (run.lesson.scenario !== this.#host.scenario()) this.#host.setScenario(run.lesson.scenario, run.step.scenario !== undefined);
    await this.#place(run);
  }

  close(): void {
    this.lessons.close();
    this.placeFailed = null;
  }

  /** Runs the lab forward through the conditions of the earlier wait steps on the opened step's scenario. */
  async #place(run: LessonRun): Promise<void> {
    this.placeFailed = null;
    const opened = run.index;
    const plan = planPosition(run.lesson.steps, opened);
    if (plan.waits.length === 0) return;
    const host = this.#host;
    const s = host.session;
    this.placing = { at: 0, of: plan.waits.length };
    try {
      // The effects ask for the step's scenario; wait until the last load asked for has finished.
      await tick();
      let gen: number;
      do {
        gen = host.loadGen();
        await host.lastLoad();
      } while (gen !== host.loadGen());
      const moved = (ok: boolean): Moved | null =>
        ok && s.view !== null ? { step: s.view.step, events: s.view.events, walks: s.view.walks, found: s.found, stopped: s.stopped } : null;
      const r = await drive(plan, {
        at: () => s.currentStep,
        runUntil: async (kinds, max) => moved(await s.runUntil(kinds, max)),
        step: async () => moved(await s.step(1)),
        current: () => gen === host.loadGen() && this.lessons.run === run && s.loaded,
        reaching: (at) => (this.placing = { at, of: plan.waits.length }),
      });
      if (!r.ok && r.why === 'cancelled') return;
      await host.settle(gen);
      if (!r.ok) this.placeFailed = { ...r, opened };
    } finally {
      this.placing = null;
    }
  }
}
