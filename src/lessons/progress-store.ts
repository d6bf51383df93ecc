/**
 * The progress store: the student's progress (progress.ts) kept in localStorage, and the one entry
 * point the lesson runtime reports to (`report`), which also tells the embed's host page.
 *
 * Storage may be missing, blocked (a framed page whose browser partitions or refuses storage:
 * access throws), full, or hold anything at all. None of it throws: the store then keeps progress
 * in memory for this visit and says why once (`notice`); what it reads is validated first, and a
 * stored document it cannot read is set aside under its own key rather than overwritten.
 */
import type { LessonReport } from './contract.ts';
import { applyReport, emptyProgress, parseProgress, serializeProgress, validReport, type ProgressDoc } from './progress.ts';

/** The part of the Storage API used (window.localStorage fits; tests pass a fake). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const PROGRESS_KEY = 'ring-minus-one.progress';
/** Where an unreadable stored document is moved, so that nothing the student had is destroyed. */
export const UNREADABLE_KEY = 'ring-minus-one.progress.unreadable';

/**
 * Why progress is not being kept in the browser: storage is blocked or missing, full, or held
 * something unreadable (set aside; progress starts afresh and is kept again).
 */
export type StorageNotice = 'blocked' | 'full' | 'unreadable';

/** The browser's localStorage, or null where it is missing or refused (reading the property can throw). */
export function browserStorage(): StorageLike | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export interface StoreOptions {
  storage: StorageLike | null;
  /** The time now, ISO 8601 (completion times). */
  now?: () => string;
  /** After every change of the document. */
  onchange?: (doc: ProgressDoc) => void;
  /** After every well-formed report, stored or not (the embed bridge posts it to the host page). */
  onreport?: (r: LessonReport) => void;
  /** When the store first falls back to memory, or finds unreadable data. */
  onnotice?: (n: StorageNotice) => void;
}

export class ProgressStore {
  #doc: ProgressDoc;
  #storage: StorageLike | null;
  #notice: StorageNotice | null = null;
  readonly #opts: StoreOptions;
  readonly #now: () => string;

  constructor(opts: StoreOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date().toISOString());
    this.#storage = opts.storage;
    this.#doc = emptyProgress();
    if (this.#storage === null) {
      this.#say('blocked');
      return;
    }
    let raw: string | null;
    try {
      raw = this.#storage.getItem(PROGRESS_KEY);
    } catch {
      this.#storage = null;
      this.#say('blocked');
      return;
    }
    if (raw === null) return;
    const parsed = parseProgress(raw);
    if (parsed.ok) {
      this.#doc = parsed.doc;
      return;
    }
    try {
      this.#storage.setItem(UNREADABLE_KEY, raw);
    } catch {
      // Cannot set it aside: leave it in place and keep this visit's progress in memory.
      this.#storage = null;
    }
    this.#say('unreadable');
  }

  get doc(): ProgressDoc {
    return this.#doc;
  }
  /** Whether progress is being kept in the browser (false: in memory, for this visit only). */
  get persistent(): boolean {
    return this.#storage !== null;
  }
  /** The first reason progress could not be kept or read, or null. */
  get notice(): StorageNotice | null {
    return this.#notice;
  }

  /**
   * The runtime's entry point: a lesson's state after a change. Kept by the merge rules of
   * progress.ts, saved, and passed on (the embed posts it). A malformed report is dropped.
   * Returns whether the report completed the lesson for the first time.
   */
  report(r: LessonReport): boolean {
    if (!validReport(r)) return false;
    const a = applyReport(this.#doc, r, this.#now());
    if (a.changed) this.#set(a.doc);
    this.#opts.onreport?.(r);
    return a.firstCompletion;
  }

  /** Replaces the document (an import the student confirmed, already merged) and saves it. */
  replace(doc: ProgressDoc): void {
    this.#set(doc);
  }

  #set(doc: ProgressDoc): void {
    this.#doc = doc;
    this.#save();
    this.#opts.onchange?.(doc);
  }

  #save(): void {
    if (this.#storage === null) return;
    try {
      this.#storage.setItem(PROGRESS_KEY, serializeProgress(this.#doc));
    } catch (e) {
      // QuotaExceededError (also code 22, NS_ERROR_DOM_QUOTA_REACHED) is a full store; anything else, a refusal.
      const name = e instanceof Error ? e.name : '';
      const full = /quota/i.test(name) || (e as { code?: unknown } | null)?.code === 22;
      this.#storage = null;
      this.#say(full ? 'full' : 'blocked');
    }
  }

  #say(n: StorageNotice): void {
    if (this.#notice !== null) return;
    this.#notice = n;
    this.#opts.onnotice?.(n);
  }
}
