/**
 * The speaker window's BroadcastChannel protocol, version 1 (plain TS, no DOM): what the projected
 * lab (presenter mode) and the speaker window (`?speaker=1`) say to each other.
 *
 * Every message is a plain object `{ source: 'ring-minus-one/speaker', v: 1, type, ... }`.
 * Projected → speaker: `state` (after each change, and in answer to `hello` and to each command),
 * `bye` (the window is closing or left presenter mode). Speaker → projected: `hello` (who is
 * there?), `command` (next / prev / goto, addressed to one projected window by its id).
 *
 * Several projected windows, or a reload: each projected window has its own id and the time it
 * went into presenter mode (`since`). The speaker drives the one that went into presenter mode
 * last, unless the presenter picks another; a reloaded window is a new one, so it takes over, and
 * the old one's `bye` (or, after a crash, its silence) removes it. Anything malformed is ignored.
 */
import type { SpeakerCue, SpeakerGate } from '../../lessons/contract.ts';
import { MAX_URL_STEP, SCENARIOS, type ScenarioId } from '../shell/url.ts';

export const SPEAKER_SOURCE = 'ring-minus-one/speaker';
export const SPEAKER_VERSION = 1;

/**
 * The channel's name, scoped to the app's base path: two labs served from one origin (a course
 * site hosting two versions) do not drive each other.
 */
export function channelName(basePath: string): string {
  const base = basePath.endsWith('/') ? basePath : `${basePath}/`;
  return `${SPEAKER_SOURCE}/v${SPEAKER_VERSION}@${base}`;
}

interface Envelope {
  source: typeof SPEAKER_SOURCE;
  v: typeof SPEAKER_VERSION;
}

/** What the projected window shows, as the speaker needs it. */
export interface ProjectedState {
  /** This projected window's id (random, new on every load). */
  id: string;
  /** When it went into presenter mode (ms since the epoch, its clock). */
  since: number;
  scenario: ScenarioId;
  /**
   * The name of what runs when it is not the example `scenario`: a lesson's own scenario (a lesson
   * step may name one), in the projected window's language; null while the example runs.
   */
  scenarioName: string | null;
  lang: string;
  step: number;
  furthest: number;
  /** The machine cannot go further (the final HLT): Next does nothing. */
  stopped: boolean;
  /** The narration line as plain text, in the projected window's language. */
  narration: string;
  /** The lesson step on screen; null outside a lesson. */
  cue: SpeakerCue | null;
}

export interface StateMessage extends Envelope, ProjectedState {
  type: 'state';
}
export interface ByeMessage extends Envelope {
  type: 'bye';
  id: string;
}
export interface HelloMessage extends Envelope {
  type: 'hello';
}
/**
 * next / prev / goto move the machine a step (as the lab's own → ← and scrubber do); lesson-next
 * and lesson-back move the lesson a step (as its column's Next and Back do: Next only while the
 * step's question is answered or task met, which the projected window checks again).
 */
export type SpeakerCommand = { type: 'next' } | { type: 'prev' } | { type: 'goto'; step: number } | { type: 'lesson-next' } | { type: 'lesson-back' };
export interface CommandMessage extends Envelope {
  type: 'command';
  /** The projected window addressed (others ignore it). */
  to: string;
  command: SpeakerCommand;
}

export type ToSpeaker = StateMessage | ByeMessage;
export type ToProjected = HelloMessage | CommandMessage;
export type SpeakerMessage = ToSpeaker | ToProjected;

const envelope: Envelope = { source: SPEAKER_SOURCE, v: SPEAKER_VERSION };

/** Text fields longer than this are cut (a message never carries a book). */
export const MAX_TEXT = 20_000;

export function stateMessage(s: ProjectedState): StateMessage {
  return { ...envelope, type: 'state', ...s, cue: s.cue === null ? null : { ...s.cue } };
}
export function byeMessage(id: string): ByeMessage {
  return { ...envelope, type: 'bye', id };
}
export function helloMessage(): HelloMessage {
  return { ...envelope, type: 'hello' };
}
export function commandMessage(to: string, command: SpeakerCommand): CommandMessage {
  return { ...envelope, type: 'command', to, command: { ...command } };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
const isStep = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isId = (x: unknown): x is string => typeof x === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(x);
const isText = (x: unknown): x is string => typeof x === 'string' && x.length <= MAX_TEXT;
const textOrNull = (x: unknown): x is string | null => x === null || isText(x);
const countOrNull = (x: unknown): x is number | null => x === null || isStep(x);

function ours(data: unknown): data is Record<string, unknown> {
  return isRecord(data) && data['source'] === SPEAKER_SOURCE && data['v'] === SPEAKER_VERSION;
}

const GATES: readonly SpeakerGate[] = ['open', 'answer', 'lab', 'pick', 'finished'];

function parseCue(x: unknown): SpeakerCue | null | undefined {
  if (x === null) return null;
  if (!isRecord(x)) return undefined;
  const { lessonId, lessonTitle, step, steps, notes, next } = x;
  if (!textOrNull(lessonId) || !textOrNull(lessonTitle) || !textOrNull(notes) || !textOrNull(next)) return undefined;
  if (!countOrNull(step) || !countOrNull(steps)) return undefined;
  if (step !== null && steps !== null && step >= steps) return undefined;
  // gate and task came later in version 1: a window that sends neither is read as saying nothing of them.
  const gate = x['gate'] === undefined ? null : GATES.find((g) => g === x['gate']);
  const task = x['task'] ?? null;
  if (gate === undefined || !textOrNull(task)) return undefined;
  return { lessonId, lessonTitle, step, steps, notes, next, gate, task };
}

/** A message for the speaker window, or null for anything not a well-formed v1 one. Never throws. */
export function parseToSpeaker(data: unknown): ToSpeaker | null {
  try {
    if (!ours(data)) return null;
    if (data['type'] === 'bye') return isId(data['id']) ? byeMessage(data['id']) : null;
    if (data['type'] !== 'state') return null;
    const { id, since, scenario, lang, step, furthest, stopped, narration } = data;
    if (!isId(id) || typeof since !== 'number' || !Number.isFinite(since)) return null;
    const sc = SCENARIOS.find((s) => s === scenario);
    if (sc === undefined || typeof lang !== 'string' || lang.length > 16) return null;
    if (!isStep(step) || !isStep(furthest) || step > furthest || typeof stopped !== 'boolean' || !isText(narration)) return null;
    const cue = parseCue(data['cue']);
    // scenarioName came later in version 1 too: absent means the example runs.
    const scenarioName = data['scenarioName'] ?? null;
    if (cue === undefined || !textOrNull(scenarioName)) return null;
    return stateMessage({ id, since, scenario: sc, scenarioName, lang, step, furthest, stopped, narration, cue });
  } catch {
    // A hostile object (a throwing getter) is not a message.
    return null;
  }
}

/** A message for a projected window, or null for anything not a well-formed v1 one. Never throws. */
export function parseToProjected(data: unknown): ToProjected | null {
  try {
    if (!ours(data)) return null;
    if (data['type'] === 'hello') return helloMessage();
    if (data['type'] !== 'command' || !isId(data['to'])) return null;
    const c = data['command'];
    if (!isRecord(c)) return null;
    switch (c['type']) {
      case 'next':
      case 'prev':
      case 'lesson-next':
      case 'lesson-back':
        return commandMessage(data['to'], { type: c['type'] });
      case 'goto':
        return isStep(c['step']) ? commandMessage(data['to'], { type: 'goto', step: Math.min(c['step'], MAX_URL_STEP) }) : null;
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** A projected window as the speaker knows it: its last state and when that was heard (the speaker's clock). */
export interface Heard extends ProjectedState {
  heardAt: number;
}

/** The projected windows a speaker window knows of, and which one it drives. */
export interface Audience {
  windows: readonly Heard[];
  /** The id the presenter picked, or null to follow the newest. */
  pinned: string | null;
}

export const emptyAudience: Audience = { windows: [], pinned: null };

/** The speaker says `hello` this often; every projected window in presenter mode answers. */
export const HELLO_EVERY_MS = 4000;
/** A window not heard from for this long (closed without a `bye`: a crash) is forgotten. */
export const FORGET_AFTER_MS = 3 * HELLO_EVERY_MS + 1000;

/** The audience after a message heard at `now`: a state replaces that window's last one; `bye` removes it. */
export function heard(a: Audience, m: ToSpeaker, now: number): Audience {
  const others = a.windows.filter((w) => w.id !== m.id);
  if (m.type === 'bye') return { windows: others, pinned: a.pinned === m.id ? null : a.pinned };
  const { source: _s, v: _v, type: _t, ...state } = m;
  const windows = [...others, { ...state, heardAt: now }].sort((x, y) => x.since - y.since || (x.id < y.id ? -1 : 1));
  return { windows, pinned: a.pinned };
}

/** The audience without the windows silent since before `now - FORGET_AFTER_MS`. */
export function forget(a: Audience, now: number): Audience {
  const windows = a.windows.filter((w) => now - w.heardAt <= FORGET_AFTER_MS);
  if (windows.length === a.windows.length) return a;
  return { windows, pinned: windows.some((w) => w.id === a.pinned) ? a.pinned : null };
}

/** The presenter picks the window to drive (null: follow the newest again). */
export function pin(a: Audience, id: string | null): Audience {
  return { windows: a.windows, pinned: id !== null && a.windows.some((w) => w.id === id) ? id : null };
}

/** The window the speaker drives: the pinned one while it is there, else the newest in presenter mode. */
export function driven(a: Audience): Heard | null {
  return a.windows.find((w) => w.id === a.pinned) ?? a.windows.at(-1) ?? null;
}

/** Whether a cue describes a lesson step (else the speaker says no lesson is running). */
export function inLesson(cue: SpeakerCue | null): cue is SpeakerCue & { lessonId: string } {
  return cue !== null && cue.lessonId !== null;
}

/** Instructor notes as paragraphs (separated by blank lines in the lesson's text). */
export function paragraphs(notes: string | null): string[] {
  if (notes === null) return [];
  return notes
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}
