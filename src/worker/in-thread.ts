/**
 * The in-thread LabClient: a LabSession called directly, through the same message path as the
 * worker (handle, with every request and answer structured-cloned), for tests and Node. Kept
 * apart from client.ts so that the page's bundle does not pull the emulator in.
 */
import type { TraceKind } from '../emu/trace/events.ts';
import type { LabClient } from './client.ts';
import { requestOf, type Json, type LabCallOf, type LabRequestType, type LabResults, type LoadResult, type RunUntilView, type ViewState } from './protocol.ts';
import { LabSession, type SessionOptions } from './session.ts';

/** Runs requests through the same message path as the worker (handle + structuredClone), in-thread. */
export class InThreadClient implements LabClient {
  private readonly session: LabSession;
  private nextId = 1;

  constructor(opts: SessionOptions = {}) {
    this.session = new LabSession(opts);
  }

  private call<T extends LabRequestType>(call: LabCallOf<T>): Promise<LabResults[T]> {
    const req = structuredClone(requestOf(call, this.nextId++));
    const res = structuredClone(this.session.handle(req));
    if (res.kind === 'error') return Promise.reject(new Error(res.message));
    return Promise.resolve(res.result as LabResults[T]);
  }

  load(scenario: Json): Promise<LoadResult> {
    return this.call<'load'>({ type: 'load', scenario });
  }
  step(n = 1): Promise<ViewState> {
    return this.call<'step'>({ type: 'step', n });
  }
  back(k = 1): Promise<ViewState> {
    return this.call<'back'>({ type: 'back', k });
  }
  goto(step: number): Promise<ViewState> {
    return this.call<'goto'>({ type: 'goto', step });
  }
  runUntil(kinds: readonly TraceKind[], maxSteps: number): Promise<RunUntilView> {
    return this.call<'runUntil'>({ type: 'runUntil', kinds: [...kinds], maxSteps });
  }
  setTraceKinds(kinds: readonly TraceKind[]): Promise<TraceKind[]> {
    return this.call<'setTraceKinds'>({ type: 'setTraceKinds', kinds: [...kinds] });
  }
  dispose(): void {}
}
