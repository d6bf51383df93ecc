import { describe, expect, it } from 'vitest';
import { readParams, readPractice, withParams, withPractice } from '../shell/url.ts';

describe('practice mode in the URL', () => {
  it('reads ?practice=walk with its levels, seed and count', () => {
    expect(readPractice('?v=1&practice=walk&levels=3&seed=4242&count=8')).toEqual({ kind: 'walk', levels: 3, seed: 4242, count: 8 });
    expect(readPractice('?practice=WALK&levels=5&seed=0')).toEqual({ kind: 'walk', levels: 5, seed: 0, count: 5 });
  });

  it('reads ?practice=vmexit with its seed and count (its own bounds), and writes no levels for it', () => {
    expect(readPractice('?v=1&practice=vmexit&seed=31337&count=12')).toEqual({ kind: 'vmexit', levels: 4, seed: 31337, count: 12 });
    expect(readPractice('?practice=VMExit&seed=7&count=1')).toEqual({ kind: 'vmexit', levels: 4, seed: 7, count: 1 });
    expect(readPractice('?practice=vmexit&seed=7&count=40')?.count).toBe(40);
    expect(readPractice('?practice=vmexit&seed=x&count=41')).toEqual({ kind: 'vmexit', levels: 4, seed: null, count: 6 });
    expect(readPractice('?practice=vmexit&count=0')).toEqual({ kind: 'vmexit', levels: 4, seed: null, count: 6 });
    expect(readPractice('?v=2&practice=vmexit&seed=3')).toBeNull();
    const on = withPractice('http://x/?practice=walk&levels=3&seed=1', { kind: 'vmexit', levels: 3, seed: 55, count: 6 });
    expect(new URL(on).search).toBe('?v=1&practice=vmexit&seed=55');
    const more = withPractice(on, { kind: 'vmexit', levels: 4, seed: 55, count: 5 });
    expect(new URL(more).search).toBe('?v=1&practice=vmexit&seed=55&count=5');
    expect(readPractice(new URL(more).search)).toEqual({ kind: 'vmexit', levels: 4, seed: 55, count: 5 });
  });

  it('is off without ?practice=, with an unknown kind, or in a URL from a newer lab', () => {
    expect(readPractice('?scenario=timer')).toBeNull();
    expect(readPractice('?practice=tlb&seed=3')).toBeNull();
    expect(readPractice('?v=99&practice=walk&seed=3')).toBeNull();
  });

  it('reads bad values leniently: levels 4, a fresh seed, the default count', () => {
    expect(readPractice('?practice=walk&levels=6&seed=-3&count=99')).toEqual({ kind: 'walk', levels: 4, seed: null, count: 5 });
    expect(readPractice('?practice=walk&levels=2&seed=1e3&count=1')).toEqual({ kind: 'walk', levels: 2, seed: null, count: 5 });
    expect(readPractice('?practice=walk&seed=99999999999999999999')).toEqual({ kind: 'walk', levels: 4, seed: null, count: 5 });
  });

  it('writes the problem (count only when not the default), keeps the rest, and removes it again', () => {
    const start = withParams('http://x/?lang=zh-CN', { lang: 'zh-CN', scenario: 'timer', theme: 'dark' });
    const on = withPractice(start, { kind: 'walk', levels: 2, seed: 77, count: 5 });
    expect(new URL(on).search).toBe('?v=1&lang=zh-CN&scenario=timer&theme=dark&practice=walk&levels=2&seed=77');
    expect(readPractice(new URL(on).search)).toEqual({ kind: 'walk', levels: 2, seed: 77, count: 5 });
    const more = withPractice(on, { kind: 'walk', levels: 5, seed: 8, count: 9 });
    expect(readPractice(new URL(more).search)).toEqual({ kind: 'walk', levels: 5, seed: 8, count: 9 });
    expect(readParams(new URL(more).search)).toMatchObject({ scenario: 'timer', theme: 'dark', future: false });
    expect(withPractice(more, null)).toBe(start);
  });
});
