/**
 * The in-thread LabClient: a LabSession called directly, through the same message path as the
 * worker (handle, with every request and answer structured-cloned), for tests and Node. Kept
 * apart from client.ts so that the page's bundle does not pull the emulator in.
 */
import { RequestClient } from './client.ts';
import { requestOf, type LabCallOf, type LabRequestType, type LabResults } from './protocol.ts';
import { prepareExercise } from './exercise.ts';
import { prepareCompare } from './compare.ts';
import { LabSession, prepareLoad, type SessionOptions } from './session.ts';

/** Runs requests through the same message path as the worker (handle + structuredClone), in-thread. */
export class InThreadClient extends RequestClient {
  private readonly session: LabSession;
  private nextId = 1;

  constructor(opts: SessionOptions = {}) {
    super();
    this.session = new LabSession(opts);
  }

  protected override async call<T extends LabRequestType>(call: LabCallOf<T>): Promise<LabResults[T]> {
    const req = structuredClone(requestOf(call, this.nextId++));
    // As the worker's handler does: an exercise's generator chunk is loaded first.
    if (req.type === 'exercise') await prepareExercise(req.spec);
    if (req.type === 'compare' || req.type === 'pair' || req.type === 'ioWays' || req.type === 'ioInterrupts' || req.type === 'techniques') await prepareCompare();
    if (req.type === 'load') await prepareLoad(req.scenario);
    const res = structuredClone(this.session.handle(req));
    if (res.kind === 'error') throw new Error(res.message);
    return res.result as LabResults[T];
  }

  override dispose(): void {}
}
