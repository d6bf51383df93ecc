import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_URL_STEP } from '../shell/url.ts';
import { accepts, heightMessage, parseCommand, readyMessage, stepMessage, targetOrigin } from './api.ts';

const cmd = (o: Record<string, unknown>) => ({ source: 'ring-minus-one', v: 1, ...o });

describe('embed postMessage API', () => {
  it('builds messages in the v1 envelope', () => {
    expect(readyMessage({ scenario: 'timer', step: 0, furthest: 0, lang: 'en' })).toEqual({
      source: 'ring-minus-one', v: 1, type: 'ready', scenario: 'timer', step: 0, furthest: 0, lang: 'en',
    });
    expect(stepMessage({ step: 2, furthest: 5, cpl: 0, narration: 'x' })).toEqual({
      source: 'ring-minus-one', v: 1, type: 'step', step: 2, furthest: 5, cpl: 0, narration: 'x',
    });
    expect(heightMessage(410.2)).toEqual({ source: 'ring-minus-one', v: 1, type: 'height', height: 411 });
    expect(heightMessage(-3).height).toBe(0);
  });

  it('sends only the fields it documents (no extra state leaks into a message)', () => {
    const extra = { step: 1, furthest: 1, cpl: 3, narration: 'n', secret: 'no' } as Parameters<typeof stepMessage>[0];
    expect(Object.keys(stepMessage(extra)).sort()).toEqual(['cpl', 'furthest', 'narration', 'source', 'step', 'type', 'v']);
  });

  it('reads the three commands, clamping a far goto', () => {
    expect(parseCommand(cmd({ type: 'next' }))).toEqual({ type: 'next' });
    expect(parseCommand(cmd({ type: 'prev' }))).toEqual({ type: 'prev' });
    expect(parseCommand(cmd({ type: 'goto', step: 7 }))).toEqual({ type: 'goto', step: 7 });
    expect(parseCommand(cmd({ type: 'goto', step: Number.MAX_SAFE_INTEGER }))).toEqual({ type: 'goto', step: MAX_URL_STEP });
  });

  it('ignores messages of another source, version or type, and malformed steps', () => {
    for (const bad of [
      cmd({ type: 'next', v: 2 }),
      cmd({ type: 'next', source: 'x' }),
      { type: 'next' },
      cmd({ type: 'goto', step: -1 }),
      cmd({ type: 'goto', step: 1.5 }),
      cmd({ type: 'goto', step: Number.NaN }),
      cmd({ type: 'goto', step: Infinity }),
      cmd({ type: 'goto', step: '3' }),
      cmd({ type: 'goto' }),
      cmd({ type: 'ready', step: 1 }),
      cmd({ type: '__proto__' }),
      'next',
      42,
      null,
      undefined,
      ['ring-minus-one', 1, 'next'],
    ]) {
      expect(parseCommand(bad)).toBeNull();
    }
  });

  it('never throws, even on hostile objects', () => {
    const throwing = new Proxy({}, { get: () => { throw new Error('boom'); } });
    expect(parseCommand(throwing)).toBeNull();
    const getter = Object.defineProperty({ source: 'ring-minus-one', v: 1 }, 'type', { get: () => { throw new Error('boom'); } });
    expect(parseCommand(getter)).toBeNull();
    fc.assert(
      fc.property(fc.anything(), (x) => {
        const c = parseCommand(x);
        expect(c === null || ['next', 'prev', 'goto'].includes(c.type)).toBe(true);
      }),
    );
  });

  it('with a host, accepts exactly that origin (whatever the source window)', () => {
    const parent = {};
    const rule = { host: 'https://courses.example.edu', parent };
    expect(accepts(rule, { origin: 'https://courses.example.edu', source: parent })).toBe(true);
    expect(accepts(rule, { origin: 'https://courses.example.edu', source: {} })).toBe(true);
    expect(accepts(rule, { origin: 'https://evil.example', source: parent })).toBe(false);
    expect(accepts(rule, { origin: 'https://courses.example.edu:444', source: parent })).toBe(false);
    expect(accepts(rule, { origin: 'null', source: parent })).toBe(false);
    expect(targetOrigin(rule.host)).toBe('https://courses.example.edu');
  });

  it('without a host, accepts only the parent window, and posts to any origin', () => {
    const parent = {};
    const rule = { host: null, parent };
    expect(accepts(rule, { origin: 'https://any.example', source: parent })).toBe(true);
    expect(accepts(rule, { origin: 'https://any.example', source: {} })).toBe(false);
    expect(accepts(rule, { origin: 'https://any.example', source: null })).toBe(false);
    expect(accepts({ host: null, parent: null }, { origin: 'x', source: null })).toBe(false);
    expect(targetOrigin(null)).toBe('*');
  });
});
