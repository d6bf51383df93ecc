import { describe, expect, it } from 'vitest';
import { opensSandbox, withSandboxHash } from './start.ts';

describe('the sandbox in the address', () => {
  it('opens for a share link (even a broken one) and for the sandbox mark', () => {
    expect(opensSandbox('#sandbox')).toBe(true);
    expect(opensSandbox('#s=1.abc')).toBe(true);
    expect(opensSandbox('#s=garbage')).toBe(true);
    expect(opensSandbox('')).toBe(false);
    expect(opensSandbox('#other')).toBe(false);
  });

  it('sets and clears the mark, leaving the query alone', () => {
    expect(withSandboxHash('http://h.test/?lang=en', true)).toBe('http://h.test/?lang=en#sandbox');
    expect(withSandboxHash('http://h.test/?lang=en#sandbox', false)).toBe('http://h.test/?lang=en');
    expect(withSandboxHash('http://h.test/?lang=en', false)).toBe('http://h.test/?lang=en');
    expect(withSandboxHash('http://h.test/?a=1#s=1.abc', true)).toBe('http://h.test/?a=1#sandbox');
    expect(withSandboxHash('http://h.test/#s=1.abc', false)).toBe('http://h.test/');
    expect(withSandboxHash('http://h.test/#notes', false)).toBe('http://h.test/#notes');
  });
});
