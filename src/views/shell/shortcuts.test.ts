import { describe, expect, it } from 'vitest';
import { shortcutFor, type KeyPress } from './shortcuts.ts';

const press = (key: string, over: Partial<KeyPress> = {}): KeyPress => ({
  key, ctrlKey: false, altKey: false, metaKey: false, targetTag: 'BODY', targetEditable: false, ...over,
});

describe('keyboard shortcuts', () => {
  it('maps arrows, clicker keys, Space, Home, End, ? and X (next VM exit)', () => {
    expect(shortcutFor(press('ArrowRight'))).toBe('next');
    expect(shortcutFor(press('PageDown'))).toBe('next');
    expect(shortcutFor(press('ArrowLeft'))).toBe('prev');
    expect(shortcutFor(press('PageUp'))).toBe('prev');
    expect(shortcutFor(press(' '))).toBe('play');
    expect(shortcutFor(press('Home'))).toBe('home');
    expect(shortcutFor(press('End'))).toBe('end');
    expect(shortcutFor(press('?'))).toBe('help');
    expect(shortcutFor(press('x'))).toBe('vmExit');
    expect(shortcutFor(press('X'))).toBe('vmExit');
    expect(shortcutFor(press('z'))).toBeNull();
    expect(shortcutFor(press('x', { targetTag: 'INPUT' }))).toBeNull();
  });

  it('stays out of the way while typing or choosing, and of browser shortcuts', () => {
    for (const tag of ['INPUT', 'SELECT', 'TEXTAREA']) expect(shortcutFor(press('ArrowRight', { targetTag: tag }))).toBeNull();
    expect(shortcutFor(press('?', { targetTag: 'DIV', targetEditable: true }))).toBeNull();
    expect(shortcutFor(press('ArrowLeft', { altKey: true }))).toBeNull();
    expect(shortcutFor(press('End', { ctrlKey: true }))).toBeNull();
  });

  it('leaves Space to the focused button it would press', () => {
    expect(shortcutFor(press(' ', { targetTag: 'BUTTON' }))).toBeNull();
    expect(shortcutFor(press('ArrowRight', { targetTag: 'BUTTON' }))).toBe('next');
  });
});
