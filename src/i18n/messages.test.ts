import { describe, expect, it } from 'vitest';
import { catalogs, LOCALES, pickLocale } from './messages.ts';

describe('i18n catalog', () => {
  it('has every key in every locale, none empty', () => {
    const keys = Object.keys(catalogs.en).sort();
    for (const l of LOCALES) {
      expect(Object.keys(catalogs[l]).sort()).toEqual(keys);
      for (const k of keys) expect((catalogs[l] as Record<string, string>)[k]?.trim().length).toBeGreaterThan(0);
    }
  });

  it('translates the Chinese catalog (no English sentence left behind)', () => {
    const same = Object.entries(catalogs['zh-CN']).filter(([k, v]) => k !== 'app.title' && v === (catalogs.en as Record<string, string>)[k] && v.includes(' '));
    expect(same).toEqual([]);
  });

  it('picks the locale from the URL first, then the browser', () => {
    expect(pickLocale('?lang=zh-CN', ['en-GB'])).toBe('zh-CN');
    expect(pickLocale('?lang=zh-cn', [])).toBe('zh-CN');
    expect(pickLocale('?lang=xx', ['zh-TW'])).toBe('zh-CN');
    expect(pickLocale('', ['fr-FR', 'en'])).toBe('en');
    expect(pickLocale('?lang=<script>', [])).toBe('en');
  });
});
