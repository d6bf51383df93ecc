import { describe, expect, it } from 'vitest';
import { pickMode, pickScenario, pickTheme, withParams } from './url.ts';

describe('lab URL parameters', () => {
  it('picks a known scenario, else syscalls', () => {
    expect(pickScenario('?scenario=timer')).toBe('timer');
    expect(pickScenario('?scenario=Page-Fault')).toBe('page-fault');
    expect(pickScenario('?scenario=<img>')).toBe('syscalls');
    expect(pickScenario('')).toBe('syscalls');
  });

  it('picks a known theme, accepting high-contrast, else auto', () => {
    expect(pickTheme('?theme=dark')).toBe('dark');
    expect(pickTheme('?theme=high-contrast')).toBe('contrast');
    expect(pickTheme('?theme=neon')).toBe('auto');
  });

  it('writes the parameters back, keeping others and dropping theme=auto', () => {
    const u = new URL(withParams('http://x/?embed=1&theme=dark', { lang: 'zh-CN', scenario: 'timer', theme: 'auto' }));
    expect(u.searchParams.get('embed')).toBe('1');
    expect(u.searchParams.get('lang')).toBe('zh-CN');
    expect(u.searchParams.get('scenario')).toBe('timer');
    expect(u.searchParams.has('theme')).toBe(false);
    expect(new URL(withParams('http://x/', { lang: 'en', scenario: 'syscalls', theme: 'contrast' })).searchParams.get('theme')).toBe('contrast');
  });

  it('picks presenter mode only when asked, ignoring unknown modes', () => {
    expect(pickMode('?mode=presenter')).toBe('presenter');
    expect(pickMode('?mode=Presenter')).toBe('presenter');
    expect(pickMode('?mode=kiosk')).toBe('normal');
    expect(pickMode('')).toBe('normal');
  });

  it('writes mode=presenter back and drops mode for the normal lab', () => {
    const on = new URL(withParams('http://x/', { lang: 'en', scenario: 'syscalls', theme: 'auto', mode: 'presenter' }));
    expect(on.searchParams.get('mode')).toBe('presenter');
    const off = new URL(withParams('http://x/?mode=presenter', { lang: 'en', scenario: 'syscalls', theme: 'auto', mode: 'normal' }));
    expect(off.searchParams.has('mode')).toBe(false);
  });
});
