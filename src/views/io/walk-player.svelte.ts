/**
 * The box-by-box player of the IOMMU view's paths (IommuView.svelte for a DMA request,
 * MsiView.svelte for an interrupt message): how many boxes are lit, playing or not. A new path is
 * played from its first box every PLAY_MS, or shown whole when motion is reduced; the reader can
 * step back and forth, play, pause, or show all.
 */
import { prefersReducedMotion } from 'svelte/motion';

export const PLAY_MS = 600;

export class WalkPlayer {
  /** Boxes lit (1..count): the current one is number `pos`. */
  pos = $state(0);
  playing = $state(false);
  private timer: ReturnType<typeof setInterval> | null = null;
  private shownKey: string | null = null;
  private count = 0;

  /** A path on screen (`key` names it, null for none) with `count` boxes: a new one starts over. */
  show(key: string | null, count: number): void {
    this.count = count;
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.stop();
    if (count === 0) this.pos = 0;
    else if (prefersReducedMotion.current) this.pos = count;
    else {
      this.pos = 1;
      this.start();
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.playing = false;
  }

  private start(): void {
    this.playing = true;
    this.timer = setInterval(() => {
      if (this.pos >= this.count) return this.stop();
      this.pos += 1;
    }, PLAY_MS);
  }

  move(d: number): void {
    this.stop();
    this.pos = Math.min(this.count, Math.max(1, this.pos + d));
  }

  /** Play or pause; from the first box again when all are lit. With reduced motion the boxes still light one by one (the reader asked for it), without transitions. */
  play(): void {
    if (this.playing) return this.stop();
    if (this.pos >= this.count) this.pos = 1;
    this.start();
  }

  all(): void {
    this.stop();
    this.pos = this.count;
  }
}
