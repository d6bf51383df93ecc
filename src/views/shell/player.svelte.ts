/**
 * Play and pause: steps the session on a timer, never blocking the page, one request in flight at
 * a time; stops when the machine stops (HLT, shutdown) or makes no progress, a call fails, or on pause.
 */
import type { TraceKind } from '../../emu/trace/events.ts';
import type { Session } from '../../state/session.svelte.ts';

export const SPEEDS = [1, 2, 5, 10, 50] as const;

/** Event kinds offered for "run to next", in the order shown. */
export const RUN_TO_KINDS = ['ring/change', 'cpu/exception', 'cpu/interrupt', 'io/port', 'tlb/flush', 'cpu/halt', 'mmu/walk'] as const satisfies readonly TraceKind[];

/** Shortest pause between two requests (ms): higher speeds step several instructions per request. */
const MIN_TICK_MS = 40;

export class Player {
  playing = $state(false);
  speed = $state<number>(5);
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly session: Session) {}

  toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  play(): void {
    if (this.playing || !this.session.loaded || this.session.stopped) return;
    this.playing = true;
    this.#schedule();
  }

  pause(): void {
    this.playing = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    const interval = Math.max(1000 / this.speed, MIN_TICK_MS);
    this.#timer = setTimeout(() => void this.#tick(interval), interval);
  }

  async #tick(interval: number): Promise<void> {
    this.#timer = null;
    if (!this.playing) return;
    const n = Math.max(1, Math.round((this.speed * interval) / 1000));
    const before = this.session.currentStep;
    const ok = await this.session.step(n);
    if (!this.playing) return;
    if (!ok || this.session.stopped || this.session.currentStep === before) {
      this.pause();
      return;
    }
    this.#schedule();
  }
}
