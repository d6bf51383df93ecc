/**
 * The embed's postMessage API, version 1: the messages the lab sends its host page, the commands
 * it accepts, and whose commands it accepts. Plain TS (no DOM): the wiring is bridge.ts.
 *
 * Every message either way is a plain object `{ source: 'ring-minus-one', v: 1, type, ... }`.
 * Lab → host: `ready`, `step`, `height`, and in a lesson `progress` and `complete`. Host → lab: `goto`, `next`, `prev`. Anything else (another
 * source, another version, an unknown type, a malformed field) is ignored.
 */
import type { LessonReport } from '../../lessons/contract.ts';
import { MAX_URL_STEP } from '../shell/url.ts';

export const MESSAGE_SOURCE = 'ring-minus-one';
/** The version of the messages; a later, incompatible version gets a new number. */
export const MESSAGE_VERSION = 1;

interface Envelope {
  source: typeof MESSAGE_SOURCE;
  v: typeof MESSAGE_VERSION;
}

/** Sent once, when the lab has loaded its scenario and reached the step the URL asked for. */
export interface ReadyMessage extends Envelope {
  type: 'ready';
  scenario: string;
  step: number;
  furthest: number;
  lang: string;
}

/** Sent after each change of step, and in answer to every command. */
export interface StepMessage extends Envelope {
  type: 'step';
  step: number;
  furthest: number;
  /** The current privilege level (0–3). */
  cpl: number;
  /** The narration line as plain text, in the embed's language. */
  narration: string;
}

/** Sent when the lab's content height (CSS pixels, rounded up) changes. */
export interface HeightMessage extends Envelope {
  type: 'height';
  height: number;
}

/** Sent after every change in a lesson (the step shown, the furthest reached, the score): the lesson runtime's LessonReport. */
export interface ProgressMessage extends Envelope, LessonReport {
  type: 'progress';
}

/** Sent once when a lesson is completed, with its score (sent again only after a report that it is not). */
export interface CompleteMessage extends Envelope {
  type: 'complete';
  lessonId: string;
  score: number;
  maxScore: number;
}

export type LabMessage = ReadyMessage | StepMessage | HeightMessage | ProgressMessage | CompleteMessage;
export type LabMessageType = LabMessage['type'];

/** What the host may ask. `goto` past the last step reached runs forward to it (or to where the machine stops). */
export type Command = { type: 'goto'; step: number } | { type: 'next' } | { type: 'prev' };

const envelope: Envelope = { source: MESSAGE_SOURCE, v: MESSAGE_VERSION };

export function readyMessage(p: Omit<ReadyMessage, keyof Envelope | 'type'>): ReadyMessage {
  return { ...envelope, type: 'ready', scenario: p.scenario, step: p.step, furthest: p.furthest, lang: p.lang };
}

export function stepMessage(p: Omit<StepMessage, keyof Envelope | 'type'>): StepMessage {
  return { ...envelope, type: 'step', step: p.step, furthest: p.furthest, cpl: p.cpl, narration: p.narration };
}

export function heightMessage(height: number): HeightMessage {
  return { ...envelope, type: 'height', height: Math.max(0, Math.ceil(height)) };
}

export function progressMessage(r: LessonReport): ProgressMessage {
  return {
    ...envelope,
    type: 'progress',
    lessonId: r.lessonId,
    step: r.step,
    reached: r.reached,
    steps: r.steps,
    score: r.score,
    maxScore: r.maxScore,
    completed: r.completed,
  };
}

export function completeMessage(p: Omit<CompleteMessage, keyof Envelope | 'type'>): CompleteMessage {
  return { ...envelope, type: 'complete', lessonId: p.lessonId, score: p.score, maxScore: p.maxScore };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The command a message carries, or null for anything that is not a well-formed v1 command. Never throws. */
export function parseCommand(data: unknown): Command | null {
  try {
    if (!isRecord(data) || data['source'] !== MESSAGE_SOURCE || data['v'] !== MESSAGE_VERSION) return null;
    switch (data['type']) {
      case 'next':
        return { type: 'next' };
      case 'prev':
        return { type: 'prev' };
      case 'goto': {
        const step = data['step'];
        if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) return null;
        return { type: 'goto', step: Math.min(step, MAX_URL_STEP) };
      }
      default:
        return null;
    }
  } catch {
    // A hostile object (a throwing getter or proxy) is not a command.
    return null;
  }
}

/** Who may command the lab: the named host origin, or else the parent window itself. */
export interface OriginRule {
  /** `?host=`: when set, only messages from this origin are commands. */
  host: string | null;
  /** The embedding window (window.parent); without a host, only its messages are commands. */
  parent: unknown;
}

/** Whether a message event (its origin and source window) may command the lab. */
export function accepts(rule: OriginRule, event: { origin: string; source: unknown }): boolean {
  if (rule.host !== null) return event.origin === rule.host;
  return event.source !== null && event.source === rule.parent;
}

/** The targetOrigin to post with: the named host, else any (the messages carry nothing private). */
export function targetOrigin(host: string | null): string {
  return host ?? '*';
}
