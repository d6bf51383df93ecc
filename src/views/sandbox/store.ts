/**
 * The sandbox draft kept in the browser (localStorage), so that a reload or a detour through the
 * examples loses nothing. Storage may be missing, disabled (access throws), full (setItem throws)
 * or hold anything at all: every case is caught and reported, and what is read is checked.
 */

/** The part of the Storage API used (window.localStorage fits; tests pass a Map-backed fake). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const DRAFT_KEY = 'ring-minus-one.sandbox';

/** What is saved: the draft's JSON text, and the draft it replaced (a share link, "start over"). */
export interface SavedDraft {
  text: string;
  previous: string | null;
}

export type SaveOutcome = 'saved' | 'full' | 'unavailable';

/** The browser's localStorage, or null where it is missing or refused. */
export function browserStorage(): StorageLike | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export function readDraft(storage: StorageLike | null): SavedDraft | null {
  if (storage === null) return null;
  let raw: string | null;
  try {
    raw = storage.getItem(DRAFT_KEY);
  } catch {
    return null;
  }
  if (raw === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o['v'] !== 1 || typeof o['text'] !== 'string') return null;
  const previous = typeof o['previous'] === 'string' ? o['previous'] : null;
  return { text: o['text'], previous };
}

export function writeDraft(storage: StorageLike | null, d: SavedDraft): SaveOutcome {
  if (storage === null) return 'unavailable';
  try {
    storage.setItem(DRAFT_KEY, JSON.stringify({ v: 1, text: d.text, previous: d.previous }));
    return 'saved';
  } catch (e) {
    // QuotaExceededError (also reported as code 22 or NS_ERROR_DOM_QUOTA_REACHED): storage is full.
    const name = e instanceof Error ? e.name : '';
    return /quota/i.test(name) || (e as { code?: unknown } | null)?.code === 22 ? 'full' : 'unavailable';
  }
}
