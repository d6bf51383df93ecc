import { describe, expect, it } from 'vitest';
import { DRAFT_KEY, readDraft, writeDraft, type StorageLike } from './store.ts';

class MapStorage implements StorageLike {
  readonly m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
}

function throwing(e: unknown): StorageLike {
  return {
    getItem: () => {
      throw e;
    },
    setItem: () => {
      throw e;
    },
  };
}

describe('the stored draft', () => {
  it('round-trips', () => {
    const s = new MapStorage();
    expect(writeDraft(s, { text: '{"a":1}', previous: null })).toBe('saved');
    expect(readDraft(s)).toEqual({ text: '{"a":1}', previous: null });
    expect(writeDraft(s, { text: 'x', previous: 'y' })).toBe('saved');
    expect(readDraft(s)).toEqual({ text: 'x', previous: 'y' });
  });

  it('ignores what it did not write', () => {
    const s = new MapStorage();
    for (const junk of ['not json', '[]', 'null', '{"v":2,"text":"x"}', '{"v":1,"text":5}', '"text"']) {
      s.setItem(DRAFT_KEY, junk);
      expect(readDraft(s)).toBeNull();
    }
    s.setItem(DRAFT_KEY, '{"v":1,"text":"t","previous":7}');
    expect(readDraft(s)).toEqual({ text: 't', previous: null });
  });

  it('reports full and disabled storage instead of throwing', () => {
    const quota = new DOMException('exceeded', 'QuotaExceededError');
    expect(writeDraft(throwing(quota), { text: 'x', previous: null })).toBe('full');
    expect(readDraft(throwing(quota))).toBeNull();
    const denied = new DOMException('denied', 'SecurityError');
    expect(writeDraft(throwing(denied), { text: 'x', previous: null })).toBe('unavailable');
    expect(readDraft(throwing(denied))).toBeNull();
    expect(writeDraft(null, { text: 'x', previous: null })).toBe('unavailable');
    expect(readDraft(null)).toBeNull();
  });
});
