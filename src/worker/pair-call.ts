/**
 * The worker's `pair` call (the side-by-side view of issue 7; worker/pair.ts): the pair runs the
 * hypervisor, so it lives in the hypervisor's chunk (hv-part.ts), loaded before the first pair
 * call (`preparePair`; the worker's handler queues it and the calls after it, the in-thread client
 * awaits it). The same chunk as the comparison and the hypervisor's machine: one dynamic import,
 * not another that would split the modules they share into more files.
 */
import type { PairOp, PairResult } from './pair-types.ts';
import type { PairSession } from './pair.ts';

let part: typeof import('./hv-part.ts') | null = null;

export function needsPairChunk(): boolean {
  return part === null;
}

export async function preparePair(): Promise<void> {
  part ??= await import('./hv-part.ts');
}

/** One session's pair, beside its main machine (LabSession holds one). */
export class PairCalls {
  private session: PairSession | null = null;

  constructor(private readonly interval?: number) {}

  handle(op: PairOp): PairResult {
    if (part === null) throw new Error('pair: the hypervisor is not loaded (preparePair first)');
    if (this.session === null) {
      if (op.kind !== 'load') throw new Error('no pair is loaded');
      this.session = new part.PairSession(this.interval === undefined ? {} : { interval: this.interval });
    }
    return this.session.handle(op);
  }
}
