/** Links and embeds made with version 1 keep working: tests/fixtures/public-v1.json is read as it was written. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pickLocale } from '../../i18n/messages.ts';
import { readLessonParams, readParams } from '../shell/url.ts';
import { completeMessage, heightMessage, parseCommand, progressMessage, readyMessage, stepMessage, type LabMessage } from './api.ts';

interface Fixture {
  urls: { url: string; opens: Record<string, unknown> }[];
  futureUrls: { url: string; opens: Record<string, unknown> }[];
  lessonUrls: { url: string; opens: { lesson: string; step: number; embed: boolean; host: string | null } }[];
  commands: { message: unknown; means: unknown }[];
  messages: { ready: LabMessage; step: LabMessage; height: LabMessage; progress: LabMessage; complete: LabMessage };
  session: { url: string };
}

const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../tests/fixtures/public-v1.json'), 'utf8')) as Fixture;
const searchOf = (url: string): string => new URL(url, 'http://lab.test').search;

describe('public surface, version 1', () => {
  it('has entries to check', () => {
    expect(fixture.urls.length).toBeGreaterThanOrEqual(5);
    expect(fixture.urls.some((u) => !/[?&]v=/.test(u.url))).toBe(true);
    expect(fixture.commands.length).toBeGreaterThanOrEqual(10);
  });

  for (const { url, opens } of fixture.urls) {
    it(`opens ${url} as it did`, () => {
      const search = searchOf(url);
      const p = readParams(search);
      expect(p.future).toBe(false);
      // `speaker` came later in version 1: none of these URLs asks for the speaker window.
      const { version: _v, future: _f, speaker, ...got } = p;
      expect(speaker).toBe(false);
      expect({ ...got, lang: pickLocale(search, []) }).toEqual(opens);
    });
  }

  for (const { url, opens } of fixture.lessonUrls) {
    it(`opens the lesson of ${url} as it did`, () => {
      const search = searchOf(url);
      const { embed, host } = readParams(search);
      expect({ ...readLessonParams(search), embed, host }).toEqual(opens);
    });
  }

  for (const { url, opens } of fixture.futureUrls) {
    it(`opens ${url} (a newer version) with the defaults`, () => {
      const { future, speaker, ...got } = readParams(searchOf(url));
      expect(future).toBe(true);
      expect(speaker).toBe(false);
      expect(got).toEqual(opens);
    });
  }

  it('reads every v1 command as it did, and ignores what it ignored', () => {
    for (const { message, means } of fixture.commands) expect(parseCommand(message)).toEqual(means);
  });

  it('sends the v1 messages in the shape it did', () => {
    const { ready, step, height } = fixture.messages;
    if (ready.type !== 'ready' || step.type !== 'step' || height.type !== 'height') throw new Error('fixture messages out of order');
    expect(readyMessage(ready)).toEqual(ready);
    expect(stepMessage(step)).toEqual(step);
    expect(heightMessage(height.height)).toEqual(height);
  });

  it('sends the lesson messages (added in version 1, after the first release) in their shape', () => {
    const { progress, complete } = fixture.messages;
    if (progress.type !== 'progress' || complete.type !== 'complete') throw new Error('fixture lesson messages out of order');
    expect(progressMessage(progress)).toEqual(progress);
    expect(completeMessage(complete)).toEqual(complete);
  });
});
