/**
 * The worker entry: messages in → LabSession → messages out. The page creates it with
 * `new Worker(new URL('./lab.worker.ts', import.meta.url), { type: 'module' })` (client.ts).
 * `createLabHandler` is the whole behaviour and can run in-thread (tests' fake workers); the
 * module installs it only when loaded in a worker scope.
 */
import type { LabMessage, LabRequest } from './protocol.ts';
import { needsPreparing, prepareExercise } from './exercise.ts';
import { needsCompareChunk, prepareCompare } from './compare.ts';
import { LabSession, needsPart, prepareLoad, type SessionOptions } from './session.ts';

/** A handler for request messages that posts each answer through `post`. */
export function createLabHandler(post: (msg: LabMessage) => void, opts: SessionOptions = {}): (req: LabRequest) => void {
  const session = new LabSession(opts);
  let pending: Promise<void> | null = null;
  return (req) => {
    // An exercise whose generator is a chunk of its own (exercise.ts) is answered once it has loaded;
    // the answer carries its id, and the exercise call does not touch the scenario, so other requests need not wait.
    if (req.type === 'exercise' && needsPreparing(req.spec)) {
      prepareExercise(req.spec).then(
        () => post(session.handle(req)),
        (e: unknown) => post({ kind: 'error', id: req.id, message: `exercise: ${e instanceof Error ? e.message : String(e)}` }),
      );
      return;
    }
    // So is a comparison, which runs its own machines and leaves the session's alone, and so are the
    // side-by-side pair's calls (answered in the order asked: each waits for the same import).
    if ((req.type === 'compare' || req.type === 'pair' || req.type === 'ioWays' || req.type === 'ioInterrupts' || req.type === 'techniques') && needsCompareChunk()) {
      prepareCompare().then(
        () => post(session.handle(req)),
        (e: unknown) => post({ kind: 'error', id: req.id, message: `${req.type}: ${e instanceof Error ? e.message : String(e)}` }),
      );
      return;
    }
    // A scenario with a technique needs the hypervisor's chunk, one running the container kernel the
    // containers' chunk (session.ts prepareLoad). Later requests wait behind the load in a queue, so
    // that they see the scenario it loads.
    if (pending !== null || (req.type === 'load' && needsPart(req.scenario))) {
      const before = pending ?? Promise.resolve();
      pending = before
        .then(() => (req.type === 'load' ? prepareLoad(req.scenario) : undefined))
        .then(
          () => post(session.handle(req)),
          (e: unknown) => post({ kind: 'error', id: req.id, message: `${req.type}: ${e instanceof Error ? e.message : String(e)}` }),
        );
      const mine = pending;
      void mine.then(() => {
        if (pending === mine) pending = null;
      });
      return;
    }
    post(session.handle(req));
  };
}

/** The part of a worker's global scope used here. */
interface WorkerScope {
  postMessage(msg: LabMessage): void;
  addEventListener(type: 'message', fn: (e: MessageEvent<LabRequest>) => void): void;
  addEventListener(type: 'error' | 'unhandledrejection', fn: (e: Event) => void): void;
}

/** Wires a handler to a worker scope and announces it with the `ready` signal. */
export function installLabWorker(scope: WorkerScope): void {
  const handle = createLabHandler((m) => scope.postMessage(m));
  scope.addEventListener('message', (e) => handle(e.data));
  const crashed = (e: Event): void => {
    const message = 'message' in e && typeof e.message === 'string' ? e.message : 'uncaught error in the lab worker';
    scope.postMessage({ kind: 'signal', signal: 'crashed', message });
  };
  scope.addEventListener('error', crashed);
  scope.addEventListener('unhandledrejection', crashed);
  scope.postMessage({ kind: 'signal', signal: 'ready' });
}

declare const WorkerGlobalScope: (abstract new () => object) | undefined;
if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) {
  installLabWorker(globalThis as unknown as WorkerScope);
}
