/**
 * Play and pause: steps the session on a timer, never blocking the page, one request in flight at
 * a time; stops when the machine stops (HLT, shutdown) or makes no progress, a call fails, on
 * pause, or before an instruction at a breakpoint (each request carries them: the engine stops
 * there whatever the speed; the first step of a run goes past a breakpoint at the current RIP).
 */
import type { TraceKind } from '../../emu/trace/events.ts';
import type { Session } from '../../state/session.svelte.ts';

export const SPEEDS = [1, 2, 5, 10, 50] as const;

/** Event kinds offered for "run to next", in the order shown. */
export const RUN_TO_KINDS = ['ring/change', 'cpu/exception', 'cpu/interrupt', 'io/port', 'tlb/flush', 'cpu/halt', 'mmu/walk', 'iommu/dma', 'iommu/msi'] as const satisfies readonly TraceKind[];

/** What "run to next" can run to: an event of a kind, or a breakpoint. */
export type RunToChoice = TraceKind | 'breakpoint';

export interface PlayerOptions {
  /** The breakpoints' linear addresses (0x + hex), read at each request. */
  breakpoints?: () => readonly string[];
  /** Told when play stopped at a breakpoint, with the step it stopped at. */
  onbreakpoint?: (step: number) => void;
}

/** Shortest pause between two requests (ms): higher speeds step several instructions per request. */
const MIN_TICK_MS = 40;

export class Player {
  playing = $state(false);
  speed = $state<number>(5);
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly session: Session,
    private readonly opts: PlayerOptions = {},
  ) {}

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
    const bps = this.opts.breakpoints?.() ?? [];
    const ok = await this.session.step(n, bps.length > 0 ? bps : undefined);
    if (!this.playing) return;
    if (ok && this.session.view?.end === 'breakpoint') {
      this.pause();
      this.opts.onbreakpoint?.(this.session.currentStep);
      return;
    }
    if (!ok || this.session.stopped || this.session.currentStep === before) {
      this.pause();
      return;
    }
    this.#schedule();
  }
}
