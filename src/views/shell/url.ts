/**
 * The lab's URL parameters, read leniently (a bad value is its default, never an exception) and
 * written back. Version 1 (`v=1`): `scenario`, `theme`, `mode`, `step`, `embed`, `host`, and `lang`
 * (read by i18n's pickLocale); lessons add `lesson` and `lstep` (a lesson and its step, 1-based:
 * readLessonParams); the speaker window adds `speaker`; practice mode adds `practice`, `levels`, `seed` and `count` (readPractice).
 * These later parameters are optional, so an older lab opens such a link as the plain lab. A URL
 * without `v` is a version 1 URL; one from a newer version (`v` above URL_VERSION) opens with the
 * defaults and says so (readParams().future).
 */
import { EXERCISE_COUNTS, EXERCISE_KINDS, WALK_LEVELS, type ExerciseKind } from '../../worker/exercise-types.ts';
import type { WalkLevels } from '../../emu/exercise/walk-exercise.ts';

/** The version of the parameters this lab reads and writes. */
export const URL_VERSION = 1;

/** The highest step a URL may open at (further asks are clamped): a jump the worker makes quickly. */
export const MAX_URL_STEP = 1_000_000;

export const SCENARIOS = ['syscalls', 'page-fault', 'timer', 'vtx-first-exit', 'svm-first-exit', 'two-vms', 'two-vms-svm', 'nested-walk-vtx', 'nested-walk-svm', 'mm-workload', 'shadow-paging-vtx', 'shadow-paging-svm', 'nic-two-ways', 'nic-three-ways', 'dma-attack', 'dma-attack-vtd', 'dma-attack-amdvi', 'sriov-two-vms', 'disk-three-ways', 'nic-interrupts', 'nic-interrupts-posted', 'nic-interrupts-amdvi', 'popf-trap', 'red-pill', 'bt-popf', 'bt-smc', 'bt-adaptive', 'pv-kernel', 'pv-unmodified', 'containers', 'containers-crash', 'vms-crash', 'hosted-two-vms', 'bare-metal-two-vms'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export const THEMES = ['auto', 'light', 'dark', 'contrast'] as const;
export type Theme = (typeof THEMES)[number];

/** `presenter`: large type and only the big controls, for a projector (DESIGN.md, "Modes"). */
export const MODES = ['normal', 'presenter'] as const;
export type Mode = (typeof MODES)[number];

function pick<T extends string>(values: readonly T[], asked: string | null, fallback: T): T {
  if (asked === null) return fallback;
  return values.find((v) => v === asked.toLowerCase()) ?? fallback;
}

export function pickScenario(search: string): ScenarioId {
  return pick(SCENARIOS, new URLSearchParams(search).get('scenario'), 'syscalls');
}

/** `high-contrast` is accepted for `contrast`. */
export function pickTheme(search: string): Theme {
  const asked = new URLSearchParams(search).get('theme');
  return pick(THEMES, asked === 'high-contrast' ? 'contrast' : asked, 'auto');
}

/** Unknown or absent `?mode=` is the normal lab. */
export function pickMode(search: string): Mode {
  return pick(MODES, new URLSearchParams(search).get('mode'), 'normal');
}

/** A non-negative decimal integer of at most 15 digits (so it is exact as a number), else null. */
function count(asked: string | null): number | null {
  if (asked === null) return null;
  const s = asked.trim();
  return /^\d{1,15}$/.test(s) ? Number(s) : null;
}

/** `?v=`: the version a URL was written for; absent or malformed is 1 (the first public version). */
export function pickVersion(search: string): number {
  const v = count(new URLSearchParams(search).get('v'));
  return v === null || v < 1 ? 1 : v;
}

/** `?step=`: the step to open at, 0 to MAX_URL_STEP (larger asks are clamped); malformed is 0. */
export function pickStep(search: string): number {
  return Math.min(count(new URLSearchParams(search).get('step')) ?? 0, MAX_URL_STEP);
}

/** `?embed=1` (also `true`, `yes`, or a bare `?embed`): the minimal chrome of an iframe. */
export function pickEmbed(search: string): boolean {
  const asked = new URLSearchParams(search).get('embed');
  return asked !== null && ['', '1', 'true', 'yes'].includes(asked.trim().toLowerCase());
}

/** `?speaker=1` (also `true`, `yes`, or a bare `?speaker`): the speaker window of a presenter-mode lab. */
export function pickSpeaker(search: string): boolean {
  const asked = new URLSearchParams(search).get('speaker');
  return asked !== null && ['', '1', 'true', 'yes'].includes(asked.trim().toLowerCase());
}

/**
 * `?host=`: the origin of the page that embeds the lab (`https://courses.example.edu`), or null
 * when absent or not an http(s) URL. A path or query after the origin is dropped.
 */
export function pickHost(search: string): string | null {
  const asked = new URLSearchParams(search).get('host');
  if (asked === null || asked.trim() === '') return null;
  let url: URL;
  try {
    url = new URL(asked.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return url.origin;
}

/** `?lesson=`: a lesson id of the form `01-rings` (whether it exists is the registry's to say), else null. */
export function pickLesson(search: string): string | null {
  const asked = new URLSearchParams(search).get('lesson');
  if (asked === null) return null;
  const id = asked.trim().toLowerCase();
  return /^[0-9]{2}-[a-z0-9]+(?:-[a-z0-9]+)*$/.test(id) && id.length <= 64 ? id : null;
}

/** `?lstep=`: the lesson step to open at, 1-based as people count; returned 0-based (malformed or 0 is the first). */
export function pickLessonStep(search: string): number {
  const n = count(new URLSearchParams(search).get('lstep'));
  return n === null || n < 1 ? 0 : Math.min(n, 999) - 1;
}

/** Everything a lab URL asks for (the language aside: see pickLocale). */
export interface LabParams {
  /** The version the URL was written for. */
  version: number;
  /** Written by a newer lab: its parameters were not read, and these are the defaults. */
  future: boolean;
  scenario: ScenarioId;
  theme: Theme;
  /** Always `normal` in embed mode (the embed has its own, minimal layout). */
  mode: Mode;
  step: number;
  embed: boolean;
  host: string | null;
  /** The speaker window (never in embed mode). */
  speaker: boolean;
}

export function readParams(search: string): LabParams {
  const version = pickVersion(search);
  const future = version > URL_VERSION;
  const s = future ? '' : search;
  const embed = pickEmbed(s);
  return {
    version,
    future,
    scenario: pickScenario(s),
    theme: pickTheme(s),
    mode: embed ? 'normal' : pickMode(s),
    step: pickStep(s),
    embed,
    host: embed ? pickHost(s) : null,
    speaker: !embed && pickSpeaker(s),
  };
}

/** The lesson a URL asks for and its step (0-based); none from a newer version's URL. */
export function readLessonParams(search: string): { lesson: string | null; step: number } {
  const s = pickVersion(search) > URL_VERSION ? '' : search;
  return { lesson: pickLesson(s), step: pickLessonStep(s) };
}

/** `v` first, then the rest in their order: the version is the first thing a reader sees. */
function versioned(url: URL): string {
  url.searchParams.delete('v');
  const rest = [...url.searchParams];
  url.search = new URLSearchParams([['v', String(URL_VERSION)], ...rest]).toString();
  return url.toString();
}

/**
 * The URL with these parameters set and `v` written (`theme` left out when it is `auto`, `mode`
 * when it is `normal`, `step` when it is 0; parameters not named here are kept).
 */
export function withParams(href: string, p: { lang: string; scenario: ScenarioId; theme: Theme; mode?: Mode; step?: number }): string {
  const url = new URL(href);
  url.searchParams.set('lang', p.lang);
  url.searchParams.set('scenario', p.scenario);
  if (p.theme === 'auto') url.searchParams.delete('theme');
  else url.searchParams.set('theme', p.theme);
  if ((p.mode ?? 'normal') === 'normal') url.searchParams.delete('mode');
  else url.searchParams.set('mode', p.mode ?? 'normal');
  if (p.step !== undefined) setStep(url, p.step);
  return versioned(url);
}

function setStep(url: URL, step: number): void {
  if (Number.isSafeInteger(step) && step > 0) url.searchParams.set('step', String(Math.min(step, MAX_URL_STEP)));
  else url.searchParams.delete('step');
}

/** The URL with `step` set (dropped at 0) and `v` written, the rest kept. */
export function withStep(href: string, step: number): string {
  const url = new URL(href);
  setStep(url, step);
  return versioned(url);
}

/** The URL with the lesson and its step (0-based, written 1-based) set, or both dropped for null; `v` written, the rest kept. */
export function withLesson(href: string, lesson: string | null, step = 0): string {
  const url = new URL(href);
  if (lesson === null) {
    url.searchParams.delete('lesson');
    url.searchParams.delete('lstep');
  } else {
    url.searchParams.set('lesson', lesson);
    if (Number.isSafeInteger(step) && step > 0) url.searchParams.set('lstep', String(step + 1));
    else url.searchParams.delete('lstep');
  }
  return versioned(url);
}

/** The full lab at the same place as an embed: its URL without `embed` and `host`. */
export function fullLabHref(href: string, p: { lang: string; scenario: ScenarioId; theme: Theme; step: number }): string {
  const url = new URL(withParams(href, { ...p, mode: 'normal' }));
  url.searchParams.delete('embed');
  url.searchParams.delete('host');
  return url.toString();
}

/** Practice mode as a URL asks for it: `?practice=walk&levels=4&seed=N[&count=K]` or `?practice=vmexit&seed=N[&count=K]`. */
export interface PracticeParams {
  kind: ExerciseKind;
  /** Walk's paging levels (4 for a vmexit URL, which has none: the walk picker's starting value). */
  levels: WalkLevels;
  /** Null: the page draws a fresh seed. */
  seed: number | null;
  count: number;
}

/**
 * `?practice=`: practice mode and its problem, or null when absent, unknown, or in a URL from a
 * newer lab. A bad `levels` is 4, a bad `seed` draws a fresh one, a bad `count` is the kind's default.
 */
export function readPractice(search: string): PracticeParams | null {
  if (pickVersion(search) > URL_VERSION) return null;
  const q = new URLSearchParams(search);
  const kind = EXERCISE_KINDS.find((k) => k === q.get('practice')?.trim().toLowerCase());
  if (kind === undefined) return null;
  const levels = WALK_LEVELS.find((l) => String(l) === q.get('levels')?.trim()) ?? 4;
  const c = count(q.get('count'));
  return {
    kind,
    levels,
    seed: count(q.get('seed')),
    count: c !== null && c >= EXERCISE_COUNTS[kind].min && c <= EXERCISE_COUNTS[kind].max ? c : EXERCISE_COUNTS[kind].default,
  };
}

/** The URL with practice mode's parameters set (`count` left out at its default), or removed (null); `v` written. */
export function withPractice(href: string, p: { kind: ExerciseKind; levels?: WalkLevels; seed: number; count: number } | null): string {
  const url = new URL(href);
  for (const k of ['practice', 'levels', 'seed', 'count']) url.searchParams.delete(k);
  if (p !== null) {
    url.searchParams.set('practice', p.kind);
    if (p.kind === 'walk') url.searchParams.set('levels', String(p.levels ?? 4));
    url.searchParams.set('seed', String(p.seed));
    if (p.count !== EXERCISE_COUNTS[p.kind].default) url.searchParams.set('count', String(p.count));
  }
  return versioned(url);
}

/** The speaker window's URL for the lab at `href`: the same language and theme, `speaker=1`, nothing else. */
export function speakerHref(href: string, p: { lang: string; theme: Theme }): string {
  const url = new URL(href);
  url.search = '';
  url.hash = '';
  url.searchParams.set('lang', p.lang);
  if (p.theme !== 'auto') url.searchParams.set('theme', p.theme);
  url.searchParams.set('speaker', '1');
  return versioned(url);
}
