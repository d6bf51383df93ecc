import { describe, expect, it } from 'vitest';
import { catalogs, LAZY_PARTS, LOCALES } from '../i18n/messages.ts';
import { fold, GLOSSARY, search, USAGE_KINDS, type Term } from './glossary.ts';

const terms: readonly Term[] = GLOSSARY;
// Every part's strings, those loaded on demand too.
await Promise.all(LAZY_PARTS.map((p) => import(`../i18n/parts/${p}.ts`)));
const en = catalogs.en as Record<string, string>;
const zh = catalogs['zh-CN'] as Record<string, string>;

/**
 * Places where the Chinese UI (other parts' catalogs) departs from the glossary, found by the test
 * below and left for a native reviewer and the parts' owners to settle. A new departure fails the
 * test; a settled one must be removed from here (the test fails on a stale entry too).
 */
const KNOWN: Record<string, string> = {
  // Not a departure: "rings" here is part of the lesson id 01-rings, which both languages keep as is.
  'ring progress.expect.lesson-id': 'the lesson id 01-rings',
};

describe('the glossary', () => {
  it('has about 40 terms or more, each with unique id and both languages', () => {
    expect(terms.length).toBeGreaterThanOrEqual(40);
    expect(new Set(terms.map((t) => t.id)).size).toBe(terms.length);
    expect(new Set(terms.map((t) => t.en.toLowerCase())).size).toBe(terms.length);
    for (const t of terms) {
      expect(t.id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(t.en.trim(), t.id).not.toBe('');
      expect(t.zh, t.id).toMatch(/\p{Script=Han}/u);
      for (const l of LOCALES) expect(t.def[l].trim().length, `${t.id} ${l}`).toBeGreaterThan(15);
      expect(t.def['zh-CN'], t.id).toMatch(/\p{Script=Han}/u);
      expect(t.def.en, t.id).not.toMatch(/\p{Script=Han}/u);
    }
  });

  it('says for every term where its Chinese form is used, naming the work unless it is common usage', () => {
    for (const t of terms) {
      expect(USAGE_KINDS, t.id).toContain(t.usage.kind);
      if (t.usage.kind !== 'common') expect(t.usage.work?.trim().length ?? 0, t.id).toBeGreaterThan(5);
      // A note is said in both languages or in neither.
      expect(t.usage.note.en === '', t.id).toBe(t.usage.note['zh-CN'] === '');
    }
  });

  it('never lists a form both to use and to avoid', () => {
    for (const t of terms) for (const a of t.avoid) expect([t.zh, ...t.zhAlso], t.id).not.toContain(a);
  });

  it('the Chinese UI uses no form the glossary says to avoid', () => {
    const hits: string[] = [];
    for (const t of terms) for (const a of t.avoid) for (const [k, v] of Object.entries(zh)) if (v.includes(a)) hits.push(`${k}: ${a} (${t.id})`);
    expect(hits).toEqual([]);
  });

  it('where an English UI string speaks of a term, its Chinese counterpart uses the glossary’s term', () => {
    const found: Record<string, string> = {};
    for (const t of terms) {
      const re = (t as { ui?: RegExp }).ui;
      if (re === undefined) continue;
      for (const [k, v] of Object.entries(en)) {
        if (!re.test(v)) continue;
        const z = zh[k] ?? '';
        if (![t.zh, ...t.zhAlso].some((form) => z.includes(form))) found[`${t.id} ${k}`] = z;
      }
    }
    expect(Object.keys(found).sort()).toEqual(Object.keys(KNOWN).sort());
  });

  it('finds terms in either language, by abbreviation or definition, ignoring case, spaces and punctuation', () => {
    const ids = (q: string): string[] => search(terms, q).map((t) => t.id);
    expect(ids('')).toHaveLength(terms.length);
    expect(ids('tlb')[0]).toBe('tlb');
    expect(ids('快表')).toEqual(['tlb']);
    expect(ids('缺页异常')[0]).toBe('page-fault');
    expect(ids('Page  Fault')[0]).toBe('page-fault');
    expect(ids('trap and emulate')).toContain('trap-and-emulate');
    expect(ids('VMCB')[0]).toBe('vmcb');
    expect(ids('ＶＭＣＳ')[0]).toBe('vmcs');
    expect(ids('zzzz-nothing')).toEqual([]);
    // A match in the name comes before one only in a definition.
    const cr3 = ids('cr3');
    expect(cr3.length).toBeGreaterThan(0);
    expect(ids('hypervisor')[0]).toBe('hypervisor');
  });

  it('folds for search', () => {
    expect(fold(' Trap-and-Emulate ')).toBe('trapandemulate');
    expect(fold('ＴＬＢ（快表）')).toBe('tlb快表');
  });
});
