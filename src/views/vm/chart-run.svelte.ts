/**
 * A comparison chart's run in the worker (IoWays.svelte, IoInterrupts.svelte): idle, running, done
 * with its result, or failed with the reason.
 */
export class ChartRun<T> {
  status = $state<'idle' | 'running' | 'done' | 'error'>('idle');
  result = $state.raw<T | null>(null);
  failure = $state('');

  async run(job: () => Promise<T>): Promise<void> {
    this.status = 'running';
    try {
      this.result = await job();
      this.status = 'done';
    } catch (e) {
      this.failure = e instanceof Error ? e.message : String(e);
      this.status = 'error';
    }
  }
}
