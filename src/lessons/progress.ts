/**
 * A student's progress through the lessons, as plain data (issue 5): what is kept in the browser,
 * exported to a file and imported from one. Pure: no DOM, no storage, no clock (times are passed in).
 *
 * The document, format 1:
 *   { format: 1, lessons: { "<lesson id>": { reached, steps, score, maxScore, completed, completedAt?, best? } } }
 * An exported file is the same document with `app: "ring-minus-one"` and `exportedAt` added.
 *
 * Merge rules (a report from the runtime, or an imported file, into what is kept):
 * - `reached` (the furthest lesson step, 0-based) only grows; `completed` once true stays true, and
 *   `completedAt` is the first completion's time.
 * - `score` is the current attempt's score as last reported (a lesson started again starts at 0);
 *   `best` is the highest score with which the lesson was ever completed, so a later, weaker attempt
 *   never lowers it. The lesson map shows `best` for a lesson that is done.
 * - `steps` and `maxScore` are the lesson's as last reported (a lesson may gain steps in a new release).
 */
import { LESSON_ID, type LessonInfo, type LessonReport } from './contract.ts';

export const PROGRESS_FORMAT = 1;
export const PROGRESS_APP = 'ring-minus-one';

export interface LessonProgress {
  /** The furthest lesson step reached (0-based). */
  reached: number;
  steps: number;
  /** The current attempt's score, as last reported. */
  score: number;
  maxScore: number;
  completed: boolean;
  /** When the lesson was first completed (ISO 8601). */
  completedAt?: string;
  /** The best score of a completed attempt. */
  best?: number;
}

export interface ProgressDoc {
  format: typeof PROGRESS_FORMAT;
  lessons: Record<string, LessonProgress>;
}

/** The limits of what is read: a progress file is small; anything past these is not one. */
export const MAX_FILE_CHARS = 256 * 1024;
export const MAX_LESSONS = 500;
export const MAX_STEPS = 10_000;
export const MAX_POINTS = 100_000;

export function emptyProgress(): ProgressDoc {
  return { format: PROGRESS_FORMAT, lessons: {} };
}

const isCount = (x: unknown, max: number): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x <= max;
const isPoints = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= MAX_POINTS;

/** Whether a report from the runtime is well formed; one that is not changes nothing. */
export function validReport(r: LessonReport): boolean {
  return (
    typeof r.lessonId === 'string' &&
    LESSON_ID.test(r.lessonId) &&
    isCount(r.steps, MAX_STEPS) &&
    r.steps > 0 &&
    isCount(r.reached, r.steps - 1) &&
    isCount(r.step, r.steps - 1) &&
    isPoints(r.maxScore) &&
    isPoints(r.score) &&
    r.score <= r.maxScore &&
    typeof r.completed === 'boolean'
  );
}

/** One lesson's progress after a report, by the rules above. */
export function mergeReport(old: LessonProgress | undefined, r: LessonReport, now: string): LessonProgress {
  const completed = (old?.completed ?? false) || r.completed;
  const out: LessonProgress = {
    reached: Math.min(Math.max(old?.reached ?? 0, r.reached), r.steps - 1),
    steps: r.steps,
    score: r.score,
    maxScore: r.maxScore,
    completed,
  };
  const completedAt = old?.completedAt ?? (r.completed ? now : undefined);
  if (completed && completedAt !== undefined) out.completedAt = completedAt;
  const best = r.completed ? Math.max(old?.best ?? 0, r.score) : old?.best;
  if (best !== undefined) out.best = Math.min(best, r.maxScore);
  return out;
}

export interface Applied {
  doc: ProgressDoc;
  /** Whether this report completed a lesson that was not completed before. */
  firstCompletion: boolean;
  changed: boolean;
}

/** The document after a report (a new object; the old one is untouched). A malformed report changes nothing. */
export function applyReport(doc: ProgressDoc, r: LessonReport, now: string): Applied {
  if (!validReport(r)) return { doc, firstCompletion: false, changed: false };
  const old = doc.lessons[r.lessonId];
  const next = mergeReport(old, r, now);
  const changed = old === undefined || !sameLesson(old, next);
  if (!changed) return { doc, firstCompletion: false, changed };
  return { doc: { format: PROGRESS_FORMAT, lessons: { ...doc.lessons, [r.lessonId]: next } }, firstCompletion: next.completed && !(old?.completed ?? false), changed };
}

export function sameLesson(a: LessonProgress, b: LessonProgress): boolean {
  return (
    a.reached === b.reached &&
    a.steps === b.steps &&
    a.score === b.score &&
    a.maxScore === b.maxScore &&
    a.completed === b.completed &&
    a.completedAt === b.completedAt &&
    a.best === b.best
  );
}

/** Two records of one lesson merged (an import into what is kept): nothing reached, completed or scored is lost. */
export function mergeLessons(kept: LessonProgress, incoming: LessonProgress): LessonProgress {
  // The attempt that got further supplies the lesson's shape and current score; on a tie, what is kept.
  const lead = incoming.reached > kept.reached ? incoming : kept;
  const out: LessonProgress = {
    reached: Math.min(Math.max(kept.reached, incoming.reached), lead.steps - 1),
    steps: lead.steps,
    score: Math.min(lead.score, lead.maxScore),
    maxScore: lead.maxScore,
    completed: kept.completed || incoming.completed,
  };
  const times = [kept.completedAt, incoming.completedAt].filter((t): t is string => t !== undefined).sort();
  if (out.completed && times[0] !== undefined) out.completedAt = times[0];
  const bests = [kept.best, incoming.best].filter((b): b is number => b !== undefined);
  if (bests.length > 0) out.best = Math.min(Math.max(...bests), out.maxScore);
  return out;
}

export function mergeDocs(kept: ProgressDoc, incoming: ProgressDoc): ProgressDoc {
  const lessons: Record<string, LessonProgress> = { ...kept.lessons };
  for (const [id, p] of Object.entries(incoming.lessons)) {
    const k = kept.lessons[id];
    lessons[id] = k === undefined ? p : mergeLessons(k, p);
  }
  return { format: PROGRESS_FORMAT, lessons };
}

/** A lesson's state as the map shows it. */
export type LessonState =
  | { kind: 'new' }
  | { kind: 'started'; reached: number; steps: number; score: number; maxScore: number }
  | { kind: 'done'; score: number; maxScore: number };

/** The state of a lesson of the course; its step count and points are the course's, not the record's. */
export function lessonState(info: LessonInfo, p: LessonProgress | undefined): LessonState {
  if (p === undefined) return { kind: 'new' };
  if (p.completed) return { kind: 'done', score: Math.min(p.best ?? p.score, info.maxScore), maxScore: info.maxScore };
  return { kind: 'started', reached: Math.min(p.reached + 1, info.steps), steps: info.steps, score: Math.min(p.score, info.maxScore), maxScore: info.maxScore };
}

/** A change an import would make to one lesson, for the student to confirm. */
export interface ImportChange {
  lessonId: string;
  before: LessonProgress | null;
  after: LessonProgress;
  /** Whether the lab's course has this lesson (progress of other lessons is kept, not shown on the map). */
  known: boolean;
}

export function previewImport(kept: ProgressDoc, incoming: ProgressDoc, course: readonly LessonInfo[]): { merged: ProgressDoc; changes: ImportChange[] } {
  const merged = mergeDocs(kept, incoming);
  const known = new Set(course.map((l) => l.id));
  const changes: ImportChange[] = [];
  for (const id of Object.keys(merged.lessons).sort()) {
    const before = kept.lessons[id] ?? null;
    const after = merged.lessons[id];
    if (after === undefined || (before !== null && sameLesson(before, after))) continue;
    changes.push({ lessonId: id, before, after, known: known.has(id) });
  }
  return { merged, changes };
}

/** What is wrong with a progress text, and where: `path` names the field (`lessons.01-rings.reached`). */
export type ProgressProblem =
  | { code: 'too-large'; path: string; limit: number }
  | { code: 'json'; path: string; detail: string }
  | { code: 'not-progress'; path: string }
  | { code: 'future'; path: string; format: number }
  | { code: 'bad-field'; path: string; expected: Expected; max?: number };

/** What a bad field should have held (`max` is the bound where one applies); the page words it. */
export type Expected = 'object' | 'steps' | 'reached' | 'points' | 'score' | 'boolean' | 'time' | 'format' | 'lessons' | 'lesson-id' | 'too-many';

export type ParsedProgress = { ok: true; doc: ProgressDoc } | { ok: false; problem: ProgressProblem };

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

/** One lesson's record read from untrusted data, or the first problem with it. */
function readLesson(x: unknown, at: string): LessonProgress | ProgressProblem {
  const bad = (field: string, expected: Expected, max?: number): ProgressProblem => ({ code: 'bad-field', path: field === '' ? at : `${at}.${field}`, expected, ...(max === undefined ? {} : { max }) });
  if (!isRecord(x)) return bad('', 'object');
  const { reached, steps, score, maxScore, completed, completedAt, best } = x;
  if (!isCount(steps, MAX_STEPS) || steps === 0) return bad('steps', 'steps', MAX_STEPS);
  if (!isCount(reached, steps - 1)) return bad('reached', 'reached', steps - 1);
  if (!isPoints(maxScore)) return bad('maxScore', 'points', MAX_POINTS);
  if (!isPoints(score) || score > maxScore) return bad('score', 'score', maxScore);
  if (typeof completed !== 'boolean') return bad('completed', 'boolean');
  const out: LessonProgress = { reached, steps, score, maxScore, completed };
  if (completedAt !== undefined) {
    if (typeof completedAt !== 'string' || !ISO_TIME.test(completedAt) || Number.isNaN(Date.parse(completedAt))) return bad('completedAt', 'time');
    if (completed) out.completedAt = completedAt;
  }
  if (best !== undefined) {
    if (!isPoints(best) || best > maxScore) return bad('best', 'score', maxScore);
    if (completed) out.best = best;
  }
  return out;
}

/**
 * Reads a progress document (kept in storage, or a file the student picked) without trusting it.
 * Never throws: anything that is not a well-formed progress document is a located problem.
 * Readers of later formats add a migration here from the format before; format 1 is the first.
 */
export function parseProgress(text: string): ParsedProgress {
  const fail = (problem: ProgressProblem): ParsedProgress => ({ ok: false, problem });
  try {
    if (text.length > MAX_FILE_CHARS) return fail({ code: 'too-large', path: '(file)', limit: MAX_FILE_CHARS });
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      return fail({ code: 'json', path: '(file)', detail: e instanceof Error ? e.message : String(e) });
    }
    if (!isRecord(v)) return fail({ code: 'not-progress', path: '(root)' });
    if (v['app'] !== undefined && v['app'] !== PROGRESS_APP) return fail({ code: 'not-progress', path: 'app' });
    const format = v['format'];
    if (typeof format !== 'number' || !Number.isSafeInteger(format) || format < 1) {
      return v['lessons'] === undefined ? fail({ code: 'not-progress', path: 'format' }) : fail({ code: 'bad-field', path: 'format', expected: 'format' });
    }
    if (format > PROGRESS_FORMAT) return fail({ code: 'future', path: 'format', format });
    const lessons = v['lessons'];
    if (!isRecord(lessons)) return fail({ code: 'bad-field', path: 'lessons', expected: 'lessons' });
    const ids = Object.keys(lessons);
    if (ids.length > MAX_LESSONS) return fail({ code: 'bad-field', path: 'lessons', expected: 'too-many', max: MAX_LESSONS });
    const out: Record<string, LessonProgress> = {};
    for (const id of ids) {
      const at = `lessons.${JSON.stringify(id).slice(1, -1)}`;
      if (!LESSON_ID.test(id)) return fail({ code: 'bad-field', path: at, expected: 'lesson-id' });
      const p = readLesson(lessons[id], at);
      if ('code' in p) return fail(p);
      out[id] = p;
    }
    return { ok: true, doc: { format: PROGRESS_FORMAT, lessons: out } };
  } catch (e) {
    // A hostile object cannot reach here from JSON text; this keeps the promise never to throw.
    return fail({ code: 'json', path: '(file)', detail: e instanceof Error ? e.message : String(e) });
  }
}

/** The document as kept in storage. */
export function serializeProgress(doc: ProgressDoc): string {
  return JSON.stringify(doc);
}

/** The document as an exported file: readable by `parseProgress`, and by a person. */
export function exportProgress(doc: ProgressDoc, now: string): string {
  return `${JSON.stringify({ app: PROGRESS_APP, format: PROGRESS_FORMAT, exportedAt: now, lessons: doc.lessons }, null, 2)}\n`;
}

/** The exported file's name, dated (`ring-minus-one-progress-2026-01-31.json`). */
export function exportFileName(now: string): string {
  return `${PROGRESS_APP}-progress-${now.slice(0, 10)}.json`;
}
