/**
 * The projected window's end of the speaker channel (channel.ts): in presenter mode it publishes
 * what is on screen, answers `hello`, and carries out the speaker's commands addressed to it, one
 * at a time, answering each with its new state. Plain TS over a port (a BroadcastChannel, or a
 * fake in tests).
 */
import { byeMessage, parseToProjected, stateMessage, type ProjectedState, type SpeakerCommand, type SpeakerMessage } from './channel.ts';

/** The part of a BroadcastChannel the link uses. */
export interface Port {
  postMessage(message: SpeakerMessage): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
  close(): void;
}

/** What the lab shows, at rest (the link adds the window's id and `since`). */
export type Shown = Omit<ProjectedState, 'id' | 'since'>;

export interface ProjectorOptions {
  id: string;
  /** When the window went into presenter mode. */
  since: number;
  /** Carries out a command; resolves when the request it made has been answered. */
  run: (c: SpeakerCommand) => Promise<void>;
  /** Runs a check after the current task (the lab settles in a chain of microtasks after a jump). */
  defer?: (fn: () => void) => void;
}

/** The part of a lesson being played that the speaker's lesson commands use (LessonRun). */
export interface DrivenLesson {
  /** The step's question is answered, its task met, or it is a read step. */
  readonly canNext: boolean;
  readonly finished: boolean;
  readonly index: number;
  next(): void;
  back(): void;
}

/**
 * Carries out the speaker's lesson-next or lesson-back on the lesson played (as its column's Next
 * and Back would: Next only when the lesson allows it, whatever the speaker believed); false for a
 * command that moves the machine instead.
 */
export function runLessonCommand(c: SpeakerCommand, lesson: DrivenLesson | null): boolean {
  if (c.type !== 'lesson-next' && c.type !== 'lesson-back') return false;
  if (lesson === null) return true;
  if (c.type === 'lesson-next') {
    if (lesson.canNext) lesson.next();
  } else if (lesson.index > 0 || lesson.finished) lesson.back();
  return true;
}

/** Commands waiting beyond this are dropped (a stuck clicker does not queue a minute of steps). */
export const MAX_PENDING = 16;

export class ProjectorLink {
  #shown: Shown | null = null;
  /** The last state at rest: what a `hello` is answered with while the lab is moving (playing). */
  #last: Shown | null = null;
  #posted = '';
  #answerDue = false;
  #pending = 0;
  #queue: Promise<void> = Promise.resolve();
  #disposed = false;
  readonly #defer: (fn: () => void) => void;

  constructor(
    private readonly port: Port,
    private readonly opts: ProjectorOptions,
  ) {
    this.#defer = opts.defer ?? ((fn) => void setTimeout(fn, 0));
    port.addEventListener('message', this.#onMessage);
  }

  /** What the lab shows when at rest, or null while it is loading or moving (nothing is posted then). */
  update(s: Shown | null): void {
    if (this.#disposed) return;
    this.#shown = s;
    if (s === null) return;
    this.#last = s;
    const state = stateMessage({ id: this.opts.id, since: this.opts.since, ...s });
    const text = JSON.stringify(state);
    if (text === this.#posted && !this.#answerDue) return;
    this.#posted = text;
    this.#answerDue = false;
    this.port.postMessage(state);
  }

  /** Says goodbye (the speaker stops driving this window) and closes the port. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.port.removeEventListener('message', this.#onMessage);
    this.port.postMessage(byeMessage(this.opts.id));
    this.port.close();
  }

  #answer(): void {
    this.#answerDue = true;
    this.#defer(() => {
      if (this.#shown !== null) return this.update(this.#shown);
      // Moving: the last state at rest, so that the speaker knows this window is still there.
      if (this.#last === null || this.#disposed) return;
      this.#answerDue = false;
      this.port.postMessage(stateMessage({ id: this.opts.id, since: this.opts.since, ...this.#last }));
    });
  }

  readonly #onMessage = (e: MessageEvent): void => {
    if (this.#disposed) return;
    const m = parseToProjected(e.data);
    if (m === null) return;
    if (m.type === 'hello') return this.#answer();
    if (m.to !== this.opts.id || this.#pending >= MAX_PENDING) return;
    this.#pending++;
    const c = m.command;
    this.#queue = this.#queue
      .then(() => (this.#disposed ? undefined : this.opts.run(c)))
      .catch(() => undefined)
      .then(() => {
        this.#pending--;
        this.#answer();
      });
  };
}
