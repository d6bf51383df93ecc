/**
 * The session logic behind the views, as a plain class (testable without the Svelte compiler):
 * it calls a LabClient and writes the outcome into a SessionFields object, which
 * session.svelte.ts backs with `$state.raw` fields. No method throws: a failed call leaves the
 * last good view in place and sets `error`.
 */
import { share } from './share.ts';
import type { ScenarioError } from '../emu/scenario/schema.ts';
import type { TraceEvent, TraceKind } from '../emu/trace/events.ts';
import type { LabClient, LabNotice } from '../worker/client.ts';
import type { Json, MarksView, RunMatch, ScenarioInfo, ViewState } from '../worker/protocol.ts';

/** Notices kept for the UI (the oldest go first). */
export const MAX_NOTICES = 5;

export interface ShownNotice extends LabNotice {
  /** Increasing, for keyed lists and dismissing. */
  id: number;
}

/**
 * The new view, its hypervisor part sharing the previous one's unchanged objects (share.ts), so
 * that the VM views' keyed rows that did not change are not updated.
 */
function withSharedVm(prev: ViewState | null, next: ViewState): ViewState {
  if (prev === null || prev.vm === null || next.vm === null) return next;
  return { ...next, vm: share(prev.vm, next.vm) };
}

/** What the views read. */
export interface SessionFields {
  view: ViewState | null;
  info: ScenarioInfo | null;
  /** A load in progress. */
  loading: boolean;
  /** Any call in progress. */
  busy: boolean;
  /** The last call's failure (cleared by the next success). */
  error: string | null;
  /** Validation errors of the last scenario that failed to load, each with its field path. */
  scenarioErrors: ScenarioError[];
  /** The event the last runUntil stopped at (null if none matched). */
  found: TraceEvent | null;
  notices: ShownNotice[];
  /** The last answer to requestMarks (null until one comes, and after a load). */
  marks: MarksView | null;
}

export function initialFields(): SessionFields {
  return { view: null, info: null, loading: false, busy: false, error: null, scenarioErrors: [], found: null, notices: [], marks: null };
}

/** What the timeline asks for: the marks with from ≤ step ≤ to, single up to `limit`, else in `buckets`. */
export interface MarksQuery {
  from: number;
  to: number;
  limit: number;
  buckets: number;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class SessionModel {
  private inFlight = 0;
  private noticeId = 0;
  private marksWanted: MarksQuery | null = null;
  private marksSending = false;

  constructor(
    private readonly client: LabClient,
    private readonly f: SessionFields,
  ) {}

  /** Where WorkerClient's onNotice should go. */
  notice(n: LabNotice): void {
    const shown = [...this.f.notices, { ...n, id: ++this.noticeId }];
    this.f.notices = shown.slice(-MAX_NOTICES);
  }

  dismissNotice(id: number): void {
    this.f.notices = this.f.notices.filter((n) => n.id !== id);
  }

  /** Runs one call with the busy flag up; a rejection becomes `error`. Resolves true on success. */
  private async run<T>(call: () => Promise<T>, apply: (r: T) => void): Promise<boolean> {
    this.inFlight++;
    this.f.busy = true;
    try {
      const r = await call();
      apply(r);
      this.f.error = null;
      return true;
    } catch (e) {
      this.f.error = message(e);
      return false;
    } finally {
      this.inFlight--;
      this.f.busy = this.inFlight > 0;
    }
  }

  /** Loads a scenario; on validation errors the previous session (if any) stays on screen. */
  async load(scenario: Json): Promise<boolean> {
    this.f.loading = true;
    let ok = false;
    try {
      await this.run(
        () => this.client.load(scenario),
        (r) => {
          if (r.ok) {
            this.f.view = r.view;
            this.f.info = r.info;
            this.f.scenarioErrors = [];
            this.f.found = null;
            this.f.marks = null;
            ok = true;
          } else this.f.scenarioErrors = r.errors;
        },
      );
    } finally {
      this.f.loading = false;
    }
    return ok;
  }

  private moved(v: ViewState): void {
    this.f.view = withSharedVm(this.f.view, v);
    this.f.found = null;
  }

  private needLoaded(): boolean {
    if (this.f.view !== null) return true;
    this.f.error = 'no scenario is loaded';
    return false;
  }

  /** Up to `n` steps; with `breakpoints`, stops before an instruction at one (view.end 'breakpoint'). */
  step(n = 1, breakpoints?: readonly string[]): Promise<boolean> {
    if (!this.needLoaded()) return Promise.resolve(false);
    return this.run(() => this.client.step(n, breakpoints), (v) => this.moved(v));
  }

  back(k = 1): Promise<boolean> {
    if (!this.needLoaded()) return Promise.resolve(false);
    return this.run(() => this.client.back(k), (v) => this.moved(v));
  }

  goto(step: number): Promise<boolean> {
    if (!this.needLoaded()) return Promise.resolve(false);
    return this.run(() => this.client.goto(step), (v) => this.moved(v));
  }

  runUntil(kinds: readonly TraceKind[], maxSteps: number, match?: RunMatch): Promise<boolean> {
    if (!this.needLoaded()) return Promise.resolve(false);
    return this.run(
      () => this.client.runUntil(kinds, maxSteps, match),
      (r) => {
        this.f.view = withSharedVm(this.f.view, r.view);
        this.f.found = r.event;
      },
    );
  }

  setTraceKinds(kinds: readonly TraceKind[]): Promise<boolean> {
    return this.run(() => this.client.setTraceKinds(kinds), () => {});
  }

  /**
   * Asks for marks (into `marks`). One request is in flight at a time; what is asked meanwhile
   * replaces what waits, so a timeline that asks on every step while playing sends only the latest.
   */
  async requestMarks(q: MarksQuery): Promise<void> {
    this.marksWanted = q;
    if (this.marksSending) return;
    this.marksSending = true;
    try {
      for (let next: MarksQuery | null = q; next !== null; next = this.marksWanted) {
        this.marksWanted = null;
        try {
          this.f.marks = await this.client.marks(next.from, next.to, next.limit, next.buckets);
        } catch (e) {
          this.f.error = message(e);
        }
      }
    } finally {
      this.marksSending = false;
    }
  }

  dispose(): void {
    this.client.dispose();
  }
}
