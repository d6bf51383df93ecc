import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fullLabHref, MAX_URL_STEP, pickEmbed, pickSpeaker, speakerHref, pickHost, pickMode, pickScenario, pickStep, pickTheme, pickVersion, readParams, withParams, withStep } from './url.ts';

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

  it('writes v=1 first on every URL it writes, keeping the other parameters', () => {
    const u = new URL(withParams('http://x/?v=1&embed=1&host=http%3A%2F%2Fh.test', { lang: 'en', scenario: 'timer', theme: 'auto' }));
    expect(u.search.startsWith('?v=1&')).toBe(true);
    expect(u.searchParams.getAll('v')).toEqual(['1']);
    expect(u.searchParams.get('host')).toBe('http://h.test');
    expect(new URL(withStep('http://x/?lang=en', 4)).search).toBe('?v=1&lang=en&step=4');
    // A share link lives in the fragment: writing the parameters keeps it.
    expect(new URL(withParams('http://x/?lang=en#s=1.abc', { lang: 'en', scenario: 'timer', theme: 'auto' })).hash).toBe('#s=1.abc');
    expect(new URL(withStep('http://x/#s=1.abc', 3)).hash).toBe('#s=1.abc');
  });

  it('reads a URL without v, or with a malformed v, as version 1', () => {
    expect(pickVersion('')).toBe(1);
    expect(pickVersion('?v=1')).toBe(1);
    expect(pickVersion('?v=one')).toBe(1);
    expect(pickVersion('?v=0')).toBe(1);
    expect(pickVersion('?v=-2')).toBe(1);
    expect(pickVersion('?v=2')).toBe(2);
  });

  it('opens a URL from a newer version with the defaults, not reading its parameters', () => {
    const p = readParams('?v=3&scenario=timer&step=9&embed=1&theme=dark&mode=presenter');
    expect(p).toEqual({ version: 3, future: true, scenario: 'syscalls', theme: 'auto', mode: 'normal', step: 0, embed: false, host: null, speaker: false });
    expect(readParams('?v=1&scenario=timer').future).toBe(false);
  });

  it('reads ?step= as a non-negative integer, clamped, else 0', () => {
    expect(pickStep('?step=12')).toBe(12);
    expect(pickStep('?step=%2012%20')).toBe(12);
    expect(pickStep('?step=0')).toBe(0);
    expect(pickStep('?step=-3')).toBe(0);
    expect(pickStep('?step=1e3')).toBe(0);
    expect(pickStep('?step=2.5')).toBe(0);
    expect(pickStep('?step=0x10')).toBe(0);
    expect(pickStep('?step=')).toBe(0);
    expect(pickStep('?step=99999999999999999999999')).toBe(0);
    expect(pickStep(`?step=${MAX_URL_STEP + 1}`)).toBe(MAX_URL_STEP);
    expect(pickStep('')).toBe(0);
  });

  it('writes the step back, dropping it at 0 and keeping the rest', () => {
    const u = new URL(withStep('http://x/?embed=1&scenario=timer&step=3', 7));
    expect(u.searchParams.get('step')).toBe('7');
    expect(u.searchParams.get('embed')).toBe('1');
    expect(new URL(withStep('http://x/?step=3', 0)).searchParams.has('step')).toBe(false);
    expect(new URL(withStep('http://x/', Number.NaN)).searchParams.has('step')).toBe(false);
    expect(new URL(withParams('http://x/?step=3', { lang: 'en', scenario: 'timer', theme: 'auto', step: 8 })).searchParams.get('step')).toBe('8');
    expect(new URL(withParams('http://x/?step=3', { lang: 'en', scenario: 'timer', theme: 'auto' })).searchParams.get('step')).toBe('3');
  });

  it('reads ?embed= as a switch', () => {
    for (const on of ['?embed=1', '?embed=true', '?embed=YES', '?embed']) expect(pickEmbed(on)).toBe(true);
    for (const off of ['', '?embed=0', '?embed=false', '?embed=2', '?embedded=1']) expect(pickEmbed(off)).toBe(false);
  });

  it('reads ?host= as an http(s) origin, else no host', () => {
    expect(pickHost('?host=https://courses.example.edu')).toBe('https://courses.example.edu');
    expect(pickHost('?host=https%3A%2F%2Fcourses.example.edu%2Funit%2F4%3Fa%3Db')).toBe('https://courses.example.edu');
    expect(pickHost('?host=http://host.test:8080/')).toBe('http://host.test:8080');
    expect(pickHost('?host=HTTPS://Example.EDU')).toBe('https://example.edu');
    for (const bad of ['', '?host=', '?host=example.edu', '?host=javascript:alert(1)', '?host=file:///etc/passwd', '?host=data:text/html,x', '?host=*', '?host=null']) {
      expect(pickHost(bad)).toBeNull();
    }
  });

  it('reads the host only in embed mode, and has no presenter layout there', () => {
    expect(readParams('?host=https://a.test').host).toBeNull();
    const p = readParams('?embed=1&host=https://a.test&mode=presenter&step=4&scenario=timer');
    expect(p).toMatchObject({ embed: true, host: 'https://a.test', mode: 'normal', step: 4, scenario: 'timer', future: false, version: 1 });
  });

  it('links an embed to the full lab at the same place, without embed and host', () => {
    const u = new URL(fullLabHref('http://x/lab/?embed=1&host=https%3A%2F%2Fa.test&scenario=timer&step=2', { lang: 'zh-CN', scenario: 'timer', theme: 'dark', step: 9 }));
    expect(u.pathname).toBe('/lab/');
    expect([...u.searchParams]).toEqual([['v', '1'], ['scenario', 'timer'], ['step', '9'], ['lang', 'zh-CN'], ['theme', 'dark']]);
  });

  it('never throws and always gives valid parameters, whatever the query string', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (a, b, c) => {
        const search = `?v=${a}&step=${b}&host=${c}&embed=${a}&scenario=${b}&theme=${c}&mode=${a}`;
        const p = readParams(search);
        expect(Number.isSafeInteger(p.step) && p.step >= 0 && p.step <= MAX_URL_STEP).toBe(true);
        expect(p.host === null || /^https?:\/\/[^/]+$/.test(p.host)).toBe(true);
        expect(Number.isSafeInteger(p.version) && p.version >= 1).toBe(true);
        expect(() => withStep(`http://x/${search}`, p.step)).not.toThrow();
      }),
    );
  });

  it('reads ?speaker=1 (not in embed mode) and builds the speaker window’s URL', () => {
    for (const yes of ['?speaker=1', '?speaker', '?speaker=TRUE', '?speaker=yes']) expect(pickSpeaker(yes), yes).toBe(true);
    for (const no of ['', '?speaker=0', '?speaker=no', '?speakers=1']) expect(pickSpeaker(no), no).toBe(false);
    expect(readParams('?speaker=1').speaker).toBe(true);
    expect(readParams('?speaker=1&embed=1').speaker).toBe(false);
    expect(readParams('?v=9&speaker=1').speaker).toBe(false);
    const href = speakerHref('https://lab.test/ring/?v=1&lang=zh-CN&scenario=timer&mode=presenter&step=4#s=1.x', { lang: 'zh-CN', theme: 'dark' });
    expect(href).toBe('https://lab.test/ring/?v=1&lang=zh-CN&theme=dark&speaker=1');
    expect(readParams(new URL(href).search)).toMatchObject({ speaker: true, mode: 'normal', step: 0 });
    expect(speakerHref('https://lab.test/', { lang: 'en', theme: 'auto' })).toBe('https://lab.test/?v=1&lang=en&speaker=1');
  });
});
