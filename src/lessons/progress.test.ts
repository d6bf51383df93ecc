import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LessonInfo, LessonReport } from './contract.ts';
import {
  applyReport,
  emptyProgress,
  exportFileName,
  exportProgress,
  lessonState,
  MAX_FILE_CHARS,
  mergeDocs,
  parseProgress,
  previewImport,
  serializeProgress,
  type LessonProgress,
  type ProgressDoc,
} from './progress.ts';

/** Test fixtures only: the product's course has its own lessons. */
const rings: LessonInfo = {
  id: '01-rings',
  number: 1,
  title: { en: 'Rings', 'zh-CN': '特权级' },
  minutes: 10,
  steps: 12,
  maxScore: 10,
};
const paging: LessonInfo = { ...rings, id: '02-paging', number: 2, title: { en: 'Paging', 'zh-CN': '分页' }, steps: 14, maxScore: 12 };

const report = (o: Partial<LessonReport> = {}): LessonReport => ({ lessonId: '01-rings', step: 0, reached: 0, steps: 12, score: 0, maxScore: 10, completed: false, ...o });
const T1 = '2026-11-28T10:00:00.000Z';
const T2 = '2026-11-29T10:00:00.000Z';

function run(reports: LessonReport[], start: ProgressDoc = emptyProgress()): ProgressDoc {
  let d = start;
  reports.forEach((r, i) => (d = applyReport(d, r, `2026-11-28T10:00:${String(i % 60).padStart(2, '0')}.000Z`).doc));
  return d;
}

describe('progress: reports', () => {
  it('records a lesson from its first report', () => {
    const a = applyReport(emptyProgress(), report({ step: 2, reached: 3, score: 2 }), T1);
    expect(a.changed).toBe(true);
    expect(a.firstCompletion).toBe(false);
    expect(a.doc.lessons['01-rings']).toEqual({ reached: 3, steps: 12, score: 2, maxScore: 10, completed: false });
  });

  it('never lowers the step reached, nor undoes a completion; keeps the first completion time', () => {
    const d = run([report({ reached: 11, step: 11, score: 9, completed: true }), report({ reached: 2, step: 2, score: 1 })]);
    const p = d.lessons['01-rings'];
    expect(p?.reached).toBe(11);
    expect(p?.completed).toBe(true);
    expect(p?.completedAt).toBe('2026-11-28T10:00:00.000Z');
    const again = applyReport(d, report({ reached: 11, score: 10, completed: true }), T2);
    expect(again.firstCompletion).toBe(false);
    expect(again.doc.lessons['01-rings']?.completedAt).toBe('2026-11-28T10:00:00.000Z');
  });

  it('keeps the best score of a completed attempt; the current attempt score is as reported', () => {
    const d = run([
      report({ reached: 11, score: 8, completed: true }),
      report({ reached: 0, score: 0 }),
      report({ reached: 11, score: 5, completed: true }),
    ]);
    expect(d.lessons['01-rings']).toMatchObject({ score: 5, best: 8, completed: true });
    expect(lessonState(rings, d.lessons['01-rings'])).toEqual({ kind: 'done', score: 8, maxScore: 10 });
    const better = run([report({ reached: 11, score: 10, completed: true })], d);
    expect(better.lessons['01-rings']?.best).toBe(10);
  });

  it('says when a report completes a lesson for the first time', () => {
    const a = applyReport(emptyProgress(), report({ reached: 11, score: 7, completed: true }), T1);
    expect(a.firstCompletion).toBe(true);
    expect(a.doc.lessons['01-rings']).toEqual({ reached: 11, steps: 12, score: 7, maxScore: 10, completed: true, completedAt: T1, best: 7 });
  });

  it('drops a malformed report and changes nothing', () => {
    const start = run([report({ reached: 4 })]);
    for (const bad of [
      report({ lessonId: '__proto__' }),
      report({ lessonId: 'rings' }),
      report({ reached: 12 }),
      report({ step: -1 }),
      report({ steps: 0, reached: 0 }),
      report({ score: 11 }),
      report({ score: Number.NaN }),
      report({ reached: 1.5 }),
      { ...report(), completed: 'yes' } as unknown as LessonReport,
    ]) {
      const a = applyReport(start, bad, T1);
      expect(a.changed).toBe(false);
      expect(a.doc).toBe(start);
    }
  });

  it('holds the rules for any sequence of reports (property)', () => {
    const arb = fc.record({
      reached: fc.integer({ min: 0, max: 11 }),
      score: fc.integer({ min: 0, max: 10 }),
      completed: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(arb, { minLength: 1, maxLength: 30 }), (xs) => {
        const rs = xs.map((x) => report({ ...x, step: x.reached }));
        const p = run(rs).lessons['01-rings'];
        expect(p?.reached).toBe(Math.max(...rs.map((r) => r.reached)));
        expect(p?.completed).toBe(rs.some((r) => r.completed));
        const completedScores = rs.filter((r) => r.completed).map((r) => r.score);
        expect(p?.best).toBe(completedScores.length > 0 ? Math.max(...completedScores) : undefined);
        expect(p?.score).toBe(rs[rs.length - 1]?.score);
      }),
    );
  });
});

describe('progress: what the map shows', () => {
  it('is not started, in progress k of n (1-based), or done with its score', () => {
    expect(lessonState(rings, undefined)).toEqual({ kind: 'new' });
    const d = run([report({ reached: 3, score: 2 })]);
    expect(lessonState(rings, d.lessons['01-rings'])).toEqual({ kind: 'started', reached: 4, steps: 12, score: 2, maxScore: 10 });
  });

  it('measures by the course lesson (a lesson that shrank or lost points never shows past its end)', () => {
    const p: LessonProgress = { reached: 19, steps: 20, score: 15, maxScore: 20, completed: false };
    expect(lessonState(rings, p)).toEqual({ kind: 'started', reached: 12, steps: 12, score: 10, maxScore: 10 });
  });
});

describe('progress: reading documents', () => {
  const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../tests/fixtures/progress-v1.json'), 'utf8')) as {
    documents: { why: string; text: string; reads: ProgressDoc }[];
  };

  it('has documents to read', () => expect(fixture.documents.length).toBeGreaterThanOrEqual(3));
  for (const { why, text, reads } of fixture.documents) {
    it(`reads a format-1 document as it did: ${why}`, () => expect(parseProgress(text)).toEqual({ ok: true, doc: reads }));
  }

  it('reads back what it exports and what it stores', () => {
    const d = run([report({ reached: 11, score: 8, completed: true }), report({ lessonId: '02-paging', steps: 14, maxScore: 12, reached: 5, score: 3 })]);
    expect(parseProgress(exportProgress(d, T2))).toEqual({ ok: true, doc: d });
    expect(parseProgress(serializeProgress(d))).toEqual({ ok: true, doc: d });
    expect(JSON.parse(exportProgress(d, T2))).toMatchObject({ app: 'ring-minus-one', format: 1, exportedAt: T2 });
    expect(exportFileName(T2)).toBe('ring-minus-one-progress-2026-11-29.json');
  });

  const cases: [string, string, unknown][] = [
    ['not JSON', '{"format":1,', { code: 'json', path: '(file)' }],
    ['an array', '[1,2]', { code: 'not-progress', path: '(root)' }],
    ['another app', '{"app":"moodle","format":1,"lessons":{}}', { code: 'not-progress', path: 'app' }],
    ['no format at all', '{"hello":"world"}', { code: 'not-progress', path: 'format' }],
    ['a format that is not a number', '{"format":"1","lessons":{}}', { code: 'bad-field', path: 'format', expected: 'format' }],
    ['a newer format', '{"format":2,"lessons":{}}', { code: 'future', path: 'format', format: 2 }],
    ['lessons not an object', '{"format":1,"lessons":[]}', { code: 'bad-field', path: 'lessons', expected: 'lessons' }],
    ['a prototype key', '{"format":1,"lessons":{"__proto__":{"reached":0,"steps":1,"score":0,"maxScore":0,"completed":false}}}', { code: 'bad-field', path: 'lessons.__proto__', expected: 'lesson-id' }],
    ['a lesson id with a quote', '{"format":1,"lessons":{"01-a\\"b":{}}}', { code: 'bad-field', path: 'lessons.01-a\\"b', expected: 'lesson-id' }],
    ['a lesson not an object', '{"format":1,"lessons":{"01-rings":7}}', { code: 'bad-field', path: 'lessons.01-rings', expected: 'object' }],
    ['reached past the end', '{"format":1,"lessons":{"01-rings":{"reached":12,"steps":12,"score":0,"maxScore":10,"completed":false}}}', { code: 'bad-field', path: 'lessons.01-rings.reached', expected: 'reached', max: 11 }],
    ['zero steps', '{"format":1,"lessons":{"01-rings":{"reached":0,"steps":0,"score":0,"maxScore":10,"completed":false}}}', { code: 'bad-field', path: 'lessons.01-rings.steps', expected: 'steps', max: 10000 }],
    ['score above max', '{"format":1,"lessons":{"01-rings":{"reached":0,"steps":2,"score":11,"maxScore":10,"completed":false}}}', { code: 'bad-field', path: 'lessons.01-rings.score', expected: 'score', max: 10 }],
    ['a negative max', '{"format":1,"lessons":{"01-rings":{"reached":0,"steps":2,"score":0,"maxScore":-1,"completed":false}}}', { code: 'bad-field', path: 'lessons.01-rings.maxScore', expected: 'points', max: 100000 }],
    ['completed a string', '{"format":1,"lessons":{"01-rings":{"reached":0,"steps":2,"score":0,"maxScore":1,"completed":"true"}}}', { code: 'bad-field', path: 'lessons.01-rings.completed', expected: 'boolean' }],
    ['a bad time', '{"format":1,"lessons":{"01-rings":{"reached":0,"steps":2,"score":0,"maxScore":1,"completed":true,"completedAt":"yesterday"}}}', { code: 'bad-field', path: 'lessons.01-rings.completedAt', expected: 'time' }],
    ['best above max', '{"format":1,"lessons":{"01-rings":{"reached":0,"steps":2,"score":0,"maxScore":1,"completed":true,"best":2}}}', { code: 'bad-field', path: 'lessons.01-rings.best', expected: 'score', max: 1 }],
  ];
  for (const [name, text, problem] of cases) {
    it(`refuses ${name}, saying where`, () => {
      const r = parseProgress(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problem).toMatchObject(problem as object);
    });
  }

  it('refuses a file past the size limit before parsing it, and too many lessons', () => {
    expect(parseProgress(' '.repeat(MAX_FILE_CHARS + 1))).toEqual({ ok: false, problem: { code: 'too-large', path: '(file)', limit: MAX_FILE_CHARS } });
    const lessons = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`${String(i % 100).padStart(2, '0')}-l${i}`, {}]));
    expect(parseProgress(JSON.stringify({ format: 1, lessons }))).toMatchObject({ ok: false, problem: { path: 'lessons', expected: 'too-many' } });
  });

  it('never throws on arbitrary text or JSON (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseProgress(s)));
    fc.assert(fc.property(fc.jsonValue(), (v) => void parseProgress(JSON.stringify(v))));
  });
});

describe('progress: importing', () => {
  const kept = run([report({ reached: 11, score: 6, completed: true }), report({ lessonId: '02-paging', steps: 14, maxScore: 12, reached: 8, score: 5 })]);

  it('merges so that nothing reached, completed or scored is lost', () => {
    const incoming: ProgressDoc = {
      format: 1,
      lessons: {
        '01-rings': { reached: 3, steps: 12, score: 2, maxScore: 10, completed: true, completedAt: '2026-01-01T00:00:00.000Z', best: 9 },
        '02-paging': { reached: 2, steps: 14, score: 1, maxScore: 12, completed: false },
        '07-later': { reached: 1, steps: 3, score: 0, maxScore: 2, completed: false },
      },
    };
    const m = mergeDocs(kept, incoming);
    expect(m.lessons['01-rings']).toEqual({ reached: 11, steps: 12, score: 6, maxScore: 10, completed: true, completedAt: '2026-01-01T00:00:00.000Z', best: 9 });
    expect(m.lessons['02-paging']).toEqual(kept.lessons['02-paging']);
    expect(m.lessons['07-later']).toEqual(incoming.lessons['07-later']);
  });

  it('previews each lesson that would change, and marks lessons the course does not have', () => {
    const incoming: ProgressDoc = {
      format: 1,
      lessons: {
        '01-rings': kept.lessons['01-rings'] as LessonProgress,
        '02-paging': { reached: 13, steps: 14, score: 11, maxScore: 12, completed: true, completedAt: T2, best: 11 },
        '07-later': { reached: 1, steps: 3, score: 0, maxScore: 2, completed: false },
      },
    };
    const { merged, changes } = previewImport(kept, incoming, [rings, paging]);
    expect(changes.map((c) => [c.lessonId, c.known])).toEqual([
      ['02-paging', true],
      ['07-later', false],
    ]);
    expect(changes[0]?.before).toEqual(kept.lessons['02-paging']);
    expect(changes[0]?.after).toEqual(merged.lessons['02-paging']);
    expect(changes[1]?.before).toBeNull();
  });

  it('previews no change for a file that holds nothing new (importing what was exported)', () => {
    const back = parseProgress(exportProgress(kept, T2));
    if (!back.ok) throw new Error('round trip failed');
    expect(previewImport(kept, back.doc, [rings, paging]).changes).toEqual([]);
  });
});
