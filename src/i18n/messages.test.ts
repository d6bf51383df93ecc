import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalogs, LAZY_PARTS, LOCALES, pickLocale, translate } from './messages.ts';
import { entryEn } from './parts/entry.ts';
import { firstScreen } from '../../tests/unit/first-screen.ts';

// The parts that load on demand, registered as their chunks would register them.
const eagerKeys = new Set(Object.keys(catalogs.en));
await Promise.all(LAZY_PARTS.map((p) => import(`./parts/${p}.ts`)));

/** Source files that are part of the first screen: the app's static import graph (not chunks loaded on demand). */
function firstScreenFiles(): string[] {
  return [...firstScreen().keys()].filter((f) => /\.(ts|svelte)$/.test(f));
}

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

  it('lets the first screen use only strings it loads with (a lazy part’s key there must be in parts/entry.ts)', () => {
    const lazy = new RegExp(`['\`"]((?:${LAZY_PARTS.join('|')})\\.[A-Za-z0-9_.]+)(?=['\`"$])`, 'g');
    const missing: string[] = [];
    for (const f of firstScreenFiles()) {
      for (const m of readFileSync(f, 'utf8').matchAll(lazy)) {
        const key = m[1]!;
        // A key built from a template (`progress.notice.${n}`): some entry key must start with it.
        const ok = key.endsWith('.') ? Object.keys(entryEn).some((k) => k.startsWith(key)) : key in entryEn;
        if (!ok) missing.push(`${f}: ${key}`);
      }
    }
    expect(missing).toEqual([]);
    for (const k of Object.keys(entryEn)) expect(eagerKeys.has(k)).toBe(true);
  });

  it('registers each lazy part once its module loads, and shows a key whose part is missing as itself', () => {
    for (const p of LAZY_PARTS) expect(Object.keys(catalogs.en).some((k) => k.startsWith(`${p}.`) && !eagerKeys.has(k))).toBe(true);
    expect(translate('en', 'nope.missing' as never)).toBe('nope.missing');
  });

  it('picks the locale from the URL first, then the browser', () => {
    expect(pickLocale('?lang=zh-CN', ['en-GB'])).toBe('zh-CN');
    expect(pickLocale('?lang=zh-cn', [])).toBe('zh-CN');
    expect(pickLocale('?lang=xx', ['zh-TW'])).toBe('zh-CN');
    expect(pickLocale('', ['fr-FR', 'en'])).toBe('en');
    expect(pickLocale('?lang=<script>', [])).toBe('en');
  });
});
