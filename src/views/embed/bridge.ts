/**
 * The embed's side of the postMessage API (api.ts) wired to a window: announces `ready` once the
 * lab has settled at the step the URL asked for, reports each later change of step and every
 * change of height, and carries out the host's commands one at a time, answering each with a
 * `step` message. Used only when the lab is framed in embed mode.
 */
import { accepts, parseCommand, readyMessage, heightMessage, stepMessage, targetOrigin, type Command, type LabMessage } from './api.ts';

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
