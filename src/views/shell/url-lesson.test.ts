import { describe, expect, it } from 'vitest';
import { pickLesson, pickLessonStep, readLessonParams, withLesson } from './url.ts';

describe('lesson URL parameters', () => {
  it('reads ?lesson= as a lesson id, anything else as none', () => {
    expect(pickLesson('?lesson=01-rings')).toBe('01-rings');
    expect(pickLesson('?lesson=01-RINGS')).toBe('01-rings');
    expect(pickLesson('?lesson=rings')).toBeNull();
    expect(pickLesson('?lesson=01-rings/../x')).toBeNull();
    expect(pickLesson('?lesson=')).toBeNull();
    expect(pickLesson('')).toBeNull();
  });

  it('reads ?lstep= 1-based and returns it 0-based; malformed or 0 is the first step', () => {
    expect(pickLessonStep('?lstep=3')).toBe(2);
    expect(pickLessonStep('?lstep=1')).toBe(0);
    expect(pickLessonStep('?lstep=0')).toBe(0);
    expect(pickLessonStep('?lstep=-2')).toBe(0);
    expect(pickLessonStep('?lstep=x')).toBe(0);
    expect(pickLessonStep('?lstep=100000')).toBe(998);
  });

  it('a URL from a newer version opens no lesson', () => {
    expect(readLessonParams('?v=9&lesson=01-rings&lstep=4')).toEqual({ lesson: null, step: 0 });
    expect(readLessonParams('?v=1&lesson=01-rings&lstep=4')).toEqual({ lesson: '01-rings', step: 3 });
  });

  it('writes the lesson and its step (1-based) with v first, and drops both when closed', () => {
    const a = withLesson('https://lab.test/?lang=en&scenario=syscalls', '01-rings', 3);
    expect(a).toBe('https://lab.test/?v=1&lang=en&scenario=syscalls&lesson=01-rings&lstep=4');
    expect(withLesson(a, '01-rings', 0)).toBe('https://lab.test/?v=1&lang=en&scenario=syscalls&lesson=01-rings');
    expect(withLesson(a, null)).toBe('https://lab.test/?v=1&lang=en&scenario=syscalls');
  });
});
