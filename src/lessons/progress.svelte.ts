/**
 * The student's progress as Svelte state, over the plain ProgressStore: the lesson map reads
 * `doc` and `notice`; the lesson runtime calls `report` after every change of a lesson.
 */
import type { LessonReport } from './contract.ts';
import type { ProgressDoc } from './progress.ts';
import { ProgressStore, type StorageLike, type StorageNotice } from './progress-store.ts';

export class Progress {
  doc = $state.raw<ProgressDoc>({ format: 1, lessons: {} });
  notice = $state.raw<StorageNotice | null>(null);
  persistent = $state(true);
  readonly #store: ProgressStore;

  /** `onreport`: every well-formed report, after it is kept (the App hands it to the embed bridge). */
  constructor(storage: StorageLike | null, onreport?: (r: LessonReport) => void) {
    this.#store = new ProgressStore({
      storage,
      onchange: (d) => {
        this.doc = d;
        this.persistent = this.#store.persistent;
      },
      onnotice: (n) => {
        this.notice = n;
      },
      ...(onreport === undefined ? {} : { onreport }),
    });
    this.doc = this.#store.doc;
    this.notice = this.#store.notice;
    this.persistent = this.#store.persistent;
  }

  /** The lesson runtime's entry point: stores the report and passes it on. */
  report(r: LessonReport): void {
    this.#store.report(r);
  }

  /** Keeps an imported document the student confirmed (already merged with what was kept). */
  replace(doc: ProgressDoc): void {
    this.#store.replace(doc);
  }
}
