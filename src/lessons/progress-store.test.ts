import { describe, expect, it } from 'vitest';
import type { LessonReport } from './contract.ts';
import { parseProgress } from './progress.ts';
import { PROGRESS_KEY, ProgressStore, UNREADABLE_KEY, type StorageLike, type StorageNotice } from './progress-store.ts';

/** A Map-backed storage that can be made to refuse reads, refuse writes, or be full. */
function fakeStorage(init: Record<string, string> = {}) {
  const map = new Map(Object.entries(init));
  const s = { readFails: false, writeFails: null as null | 'quota' | 'security' };
  const storage: StorageLike = {
    getItem: (k) => {
      if (s.readFails) throw new DOMException('denied', 'SecurityError');
      return map.get(k) ?? null;
    },
    setItem: (k, v) => {
      if (s.writeFails === 'quota') throw new DOMException('full', 'QuotaExceededError');
      if (s.writeFails === 'security') throw new DOMException('denied', 'SecurityError');
      map.set(k, v);
    },
  };
  return { storage, map, s };
}

const report = (o: Partial<LessonReport> = {}): LessonReport => ({ lessonId: '01-rings', step: 0, reached: 0, steps: 12, score: 0, maxScore: 10, completed: false, ...o });
const NOW = () => '2026-11-29T09:00:00.000Z';

function store(storage: StorageLike | null) {
  const notices: StorageNotice[] = [];
  const reports: LessonReport[] = [];
  const s = new ProgressStore({ storage, now: NOW, onnotice: (n) => notices.push(n), onreport: (r) => reports.push(r) });
  return { s, notices, reports };
}

describe('ProgressStore', () => {
  it('keeps reports in storage, so a new store (a reload) finds them', () => {
    const f = fakeStorage();
    const a = store(f.storage);
    a.s.report(report({ reached: 4, step: 4, score: 3 }));
    expect(a.s.persistent).toBe(true);
    expect(a.notices).toEqual([]);
    const b = store(f.storage);
    expect(b.s.doc.lessons['01-rings']).toEqual({ reached: 4, steps: 12, score: 3, maxScore: 10, completed: false });
    expect(parseProgress(f.map.get(PROGRESS_KEY) ?? '')).toEqual({ ok: true, doc: b.s.doc });
  });

  it('passes every well-formed report on, and says which one completed the lesson first', () => {
    const { s, reports } = store(fakeStorage().storage);
    expect(s.report(report({ reached: 11, step: 11, score: 9, completed: true }))).toBe(true);
    expect(s.report(report({ reached: 11, step: 11, score: 9, completed: true }))).toBe(false);
    expect(s.report(report({ reached: 99 }))).toBe(false);
    expect(reports.map((r) => r.reached)).toEqual([11, 11]);
  });

  it('works in memory where storage is missing, and says so once', () => {
    const { s, notices } = store(null);
    s.report(report({ reached: 2 }));
    s.report(report({ reached: 3 }));
    expect(s.persistent).toBe(false);
    expect(s.notice).toBe('blocked');
    expect(notices).toEqual(['blocked']);
    expect(s.doc.lessons['01-rings']?.reached).toBe(3);
  });

  it('works in memory where reading storage throws (a blocked frame)', () => {
    const f = fakeStorage();
    f.s.readFails = true;
    const { s, notices } = store(f.storage);
    expect(() => s.report(report({ reached: 2 }))).not.toThrow();
    expect(notices).toEqual(['blocked']);
    expect(f.map.size).toBe(0);
  });

  it('falls back to memory when storage is full or refuses a write, saying so once, never throwing', () => {
    for (const [fail, notice] of [['quota', 'full'], ['security', 'blocked']] as const) {
      const f = fakeStorage();
      const { s, notices } = store(f.storage);
      s.report(report({ reached: 1 }));
      f.s.writeFails = fail;
      expect(() => s.report(report({ reached: 2 }))).not.toThrow();
      f.s.writeFails = null;
      s.report(report({ reached: 3 }));
      expect(notices).toEqual([notice]);
      expect(s.persistent).toBe(false);
      expect(s.doc.lessons['01-rings']?.reached).toBe(3);
      expect(parseProgress(f.map.get(PROGRESS_KEY) ?? '')).toMatchObject({ ok: true, doc: { lessons: { '01-rings': { reached: 1 } } } });
    }
  });

  it('sets unreadable stored progress aside instead of overwriting it, and carries on', () => {
    const f = fakeStorage({ [PROGRESS_KEY]: '{"format":1,"lessons":{"01-rings":{"reached":"x"}}}' });
    const { s, notices } = store(f.storage);
    expect(notices).toEqual(['unreadable']);
    expect(s.doc.lessons).toEqual({});
    expect(f.map.get(UNREADABLE_KEY)).toBe('{"format":1,"lessons":{"01-rings":{"reached":"x"}}}');
    s.report(report({ reached: 1 }));
    expect(s.persistent).toBe(true);
    expect(parseProgress(f.map.get(PROGRESS_KEY) ?? '').ok).toBe(true);
  });

  it('keeps stored progress from a newer lab untouched (it cannot be set aside safely: memory only)', () => {
    const f = fakeStorage({ [PROGRESS_KEY]: '{"format":2,"lessons":{}}' });
    f.s.writeFails = 'security';
    const { s, notices } = store(f.storage);
    s.report(report({ reached: 1 }));
    expect(notices).toEqual(['unreadable']);
    expect(s.persistent).toBe(false);
    expect(f.map.get(PROGRESS_KEY)).toBe('{"format":2,"lessons":{}}');
  });

  it('replaces the document with a confirmed import and saves it', () => {
    const f = fakeStorage();
    const { s } = store(f.storage);
    const doc = { format: 1 as const, lessons: { '02-paging': { reached: 1, steps: 3, score: 0, maxScore: 2, completed: false } } };
    s.replace(doc);
    expect(store(f.storage).s.doc).toEqual(doc);
  });
});
