/**
 * The speaker window's end of the channel (channel.ts), as Svelte state: the projected windows it
 * hears, the one it drives, and the commands it sends. It says `hello` on opening and every
 * HELLO_EVERY_MS (each projected window answers), and forgets a window that fell silent.
 */
import {
  commandMessage,
  driven,
  emptyAudience,
  forget,
  heard,
  HELLO_EVERY_MS,
  helloMessage,
  parseToSpeaker,
  pin,
  type Audience,
  type Heard,
  type SpeakerCommand,
} from './channel.ts';
import type { Port } from './projector.ts';

export class Remote {
  audience = $state.raw<Audience>(emptyAudience);
  readonly target: Heard | null = $derived(driven(this.audience));
  readonly #port: Port;
  readonly #now: () => number;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(port: Port, now: () => number = Date.now) {
    this.#port = port;
    this.#now = now;
    port.addEventListener('message', this.#onMessage);
    port.postMessage(helloMessage());
    this.#timer = setInterval(() => {
      this.audience = forget(this.audience, this.#now());
      this.#port.postMessage(helloMessage());
    }, HELLO_EVERY_MS);
  }

  /** Sends a command to the window driven; false when there is none. */
  send(c: SpeakerCommand): boolean {
    const t = this.target;
    if (t === null) return false;
    this.#port.postMessage(commandMessage(t.id, c));
    return true;
  }

  /** Drives this window from now on (null: follow the newest). */
  pin(id: string | null): void {
    this.audience = pin(this.audience, id);
  }

  dispose(): void {
    clearInterval(this.#timer);
    this.#port.removeEventListener('message', this.#onMessage);
    this.#port.close();
  }

  readonly #onMessage = (e: MessageEvent): void => {
    const m = parseToSpeaker(e.data);
    if (m !== null) this.audience = heard(this.audience, m, this.#now());
  };
}
