/**
 * A stand-in for a module Worker in tests: requests are structured-cloned and answered on a later
 * macrotask by the real lab.worker.ts handler, in-thread. It can be told to crash (emit `error`)
 * or hang (never answer) on chosen requests.
 */
import type { WorkerLike } from './client.ts';
import { createLabHandler } from './lab.worker.ts';
import type { LabMessage, LabRequest } from './protocol.ts';
import type { SessionOptions } from './session.ts';

type Listener = (e: { data: LabMessage } & Event) => void;

export class FakeWorker implements WorkerLike {
  private readonly listeners = new Map<string, ((e: Event) => void)[]>();
  private readonly handle: (req: LabRequest) => void;
  terminated = false;
  /** Requests received, in order. */
  readonly received: LabRequest[] = [];
  /** Return 'crash' to emit an error event instead of answering, 'hang' to never answer. */
  fault: (req: LabRequest) => 'crash' | 'hang' | null = () => null;

  constructor(opts: SessionOptions = {}) {
    this.handle = createLabHandler((m) => this.deliver(m), opts);
  }

  addEventListener(type: string, fn: ((e: Event) => void) | Listener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(fn as (e: Event) => void);
    this.listeners.set(type, list);
  }

  private dispatch(type: string, e: Event): void {
    for (const fn of this.listeners.get(type) ?? []) fn(e);
  }

  /** Posts a message to the page side as the worker would (a signal, say). */
  deliver(m: LabMessage): void {
    const data = structuredClone(m);
    setTimeout(() => {
      if (this.terminated) return;
      this.dispatch('message', Object.assign(new Event('message'), { data }));
    }, 0);
  }

  postMessage(msg: LabRequest): void {
    if (this.terminated) return;
    const req = structuredClone(msg);
    this.received.push(req);
    const f = this.fault(req);
    if (f === 'hang') return;
    setTimeout(() => {
      if (this.terminated) return;
      if (f === 'crash') this.dispatch('error', Object.assign(new Event('error'), { message: 'fake worker crashed' }));
      else this.handle(req);
    }, 0);
  }

  terminate(): void {
    this.terminated = true;
  }
}
