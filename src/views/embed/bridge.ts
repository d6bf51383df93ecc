/**
 * The embed's side of the postMessage API (api.ts) wired to a window: announces `ready` once the
 * lab has settled at the step the URL asked for, reports each later change of step and every
 * change of height, and carries out the host's commands one at a time, answering each with a
 * `step` message; in a lesson, posts each progress report and each completion (after `ready`).
 * Used only when the lab is framed in embed mode.
 */
import type { LessonReport } from '../../lessons/contract.ts';
import { accepts, completeMessage, parseCommand, progressMessage, readyMessage, heightMessage, stepMessage, targetOrigin, type Command, type LabMessage } from './api.ts';

/** The lab's state at rest (no request in flight, nothing held on screen). */
export interface Snapshot {
  scenario: string;
  lang: string;
  step: number;
  furthest: number;
  cpl: number;
  narration: string;
}

/** The part of a window the bridge uses (a real `window`, or a fake in tests). */
export interface EmbedWindow {
  readonly parent: { postMessage(message: LabMessage, targetOrigin: string): void };
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
}

export interface BridgeOptions {
  /** `?host=`: the embedding page's origin, or null. */
  host: string | null;
  /** Carries out a command; resolves when the request it made has been answered. */
  run: (c: Command) => Promise<void>;
  /**
   * Runs a check after the current task: the shell follows a jump with more requests in the same
   * chain of microtasks (see App's learnStepBefore), so only then is the lab known to be at rest.
   */
  defer?: (fn: () => void) => void;
}

/** Commands waiting beyond this are dropped (a host that floods the lab is not followed). */
export const MAX_PENDING_COMMANDS = 32;
/** Lesson messages kept while the lab is not yet ready (past this, the oldest progress report is dropped). */
export const MAX_EARLY_MESSAGES = 64;

export class EmbedBridge {
  #latest: Snapshot | null = null;
  #ready = false;
  #lastStep = -1;
  #lastHeight = -1;
  #pending = 0;
  #queue: Promise<void> = Promise.resolve();
  #waiter: ((s: Snapshot) => void) | null = null;
  #scheduled = false;
  #disposed = false;
  /** Lesson messages made before `ready`, posted right after it. */
  #early: LabMessage[] = [];
  /** Lessons whose last report said completed: `complete` is posted when a lesson turns completed. */
  readonly #completed = new Set<string>();
  readonly #defer: (fn: () => void) => void;

  constructor(
    private readonly win: EmbedWindow,
    private readonly opts: BridgeOptions,
  ) {
    this.#defer = opts.defer ?? ((fn) => void setTimeout(fn, 0));
  }

  /** The lab's state when at rest, or null while it is loading or moving. */
  update(s: Snapshot | null): void {
    this.#latest = s;
    this.#schedule();
  }

  /** The content height in CSS pixels; posted when it changes (rounded up). */
  height(px: number): void {
    if (this.#disposed || !Number.isFinite(px)) return;
    const m = heightMessage(px);
    if (m.height === this.#lastHeight) return;
    this.#lastHeight = m.height;
    this.#post(m);
  }

  /**
   * A lesson's progress (the lesson runtime's report, already kept by the progress store): posted
   * as `progress`, and followed by `complete` when it is the report that completed the lesson.
   */
  progress(r: LessonReport): void {
    if (this.#disposed) return;
    this.#postLesson(progressMessage(r));
    if (!r.completed) {
      this.#completed.delete(r.lessonId);
      return;
    }
    if (this.#completed.has(r.lessonId)) return;
    this.#completed.add(r.lessonId);
    this.#postLesson(completeMessage(r));
  }

  #postLesson(m: LabMessage): void {
    if (this.#ready) return this.#post(m);
    this.#early.push(m);
    if (this.#early.length <= MAX_EARLY_MESSAGES) return;
    // Past the bound, the oldest progress report goes first: a completion is never dropped for one.
    const i = this.#early.findIndex((e) => e.type === 'progress');
    this.#early.splice(Math.max(i, 0), 1);
  }

  dispose(): void {
    this.#disposed = true;
    this.win.removeEventListener('message', this.#onMessage);
  }

  #schedule(): void {
    if (this.#scheduled || this.#disposed) return;
    this.#scheduled = true;
    this.#defer(() => {
      this.#scheduled = false;
      this.#check();
    });
  }

  #check(): void {
    const s = this.#latest;
    if (s === null || this.#disposed) return;
    if (!this.#ready) {
      this.#ready = true;
      this.#lastStep = s.step;
      this.#post(readyMessage(s));
      for (const m of this.#early.splice(0)) this.#post(m);
      this.win.addEventListener('message', this.#onMessage);
      return;
    }
    if (this.#waiter !== null) {
      const w = this.#waiter;
      this.#waiter = null;
      w(s);
      return;
    }
    // A command's own answer reports where it led; changes by the reader (keys, buttons, play) are reported here.
    if (this.#pending > 0 || s.step === this.#lastStep) return;
    this.#answer(s);
  }

  #answer(s: Snapshot): void {
    this.#lastStep = s.step;
    this.#post(stepMessage(s));
  }

  /** The next snapshot at rest, seen after the current task. */
  #atRest(): Promise<Snapshot> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#schedule();
    });
  }

  readonly #onMessage = (e: MessageEvent): void => {
    if (this.#disposed || !accepts({ host: this.opts.host, parent: this.win.parent }, e)) return;
    const c = parseCommand(e.data);
    if (c === null || this.#pending >= MAX_PENDING_COMMANDS) return;
    this.#pending++;
    this.#queue = this.#queue.then(async () => {
      try {
        await this.opts.run(c);
      } catch {
        // The lab shows its own error; the answer still says where it is.
      }
      const s = await this.#atRest();
      this.#pending--;
      this.#answer(s);
    });
  };

  #post(m: LabMessage): void {
    try {
      this.win.parent.postMessage(m, targetOrigin(this.opts.host));
    } catch {
      // A parent that refuses messages (or has gone away) is not the lab's failure.
    }
  }
}

/**
 * Calls `report` with the document's content height now and whenever it changes; returns a stop
 * function. The root element's own box is measured, not the viewport, so an iframe sized to the
 * reported height can also shrink again.
 */
export function watchHeight(report: (px: number) => void): () => void {
  const root = document.documentElement;
  // A horizontal scrollbar (content wider than the frame) takes its height from the viewport.
  const measure = (): void => report(root.getBoundingClientRect().height + Math.max(0, window.innerHeight - root.clientHeight));
  measure();
  window.addEventListener('resize', measure);
  const ro = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(measure);
  ro?.observe(root);
  return () => {
    window.removeEventListener('resize', measure);
    ro?.disconnect();
  };
}
