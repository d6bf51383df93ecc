import { describe, expect, it } from 'vitest';
import { LOCALES } from '../../i18n/messages.ts';
import { translator } from '../cpu/text.ts';
import type { ShareFailure } from './share.ts';
import { errorWhere, jsonIssueText, shareFailureText } from './words.ts';

const FAILURES: ShareFailure[] = [
  { kind: 'malformed' },
  { kind: 'too-long', length: 300000, max: 262144 },
  { kind: 'newer', version: 2 },
  { kind: 'base64' },
  { kind: 'deflate' },
  { kind: 'too-big', max: 1048576 },
  { kind: 'text' },
  { kind: 'json', at: { line: 3, column: 5 }, issue: 'unexpected' },
  { kind: 'invalid', errors: [{ path: 'user.source', line: 2, column: 7, message: "undefined label 'x'" }] },
];

describe('sandbox wording', () => {
  it('explains every share-link failure in each language, with its figures filled in', () => {
    for (const l of LOCALES) {
      const t = translator(l);
      const texts = FAILURES.map((f) => shareFailureText(t, f));
      expect(new Set(texts).size).toBe(FAILURES.length);
      for (const s of texts) expect(s).not.toMatch(/\{\w+\}/);
    }
    const en = translator('en');
    expect(shareFailureText(en, { kind: 'newer', version: 2 })).toContain('newer version of the lab');
    expect(shareFailureText(en, FAILURES[1]!)).toContain('300000');
    expect(shareFailureText(en, FAILURES[7]!)).toContain('line 3, column 5');
    expect(shareFailureText(en, FAILURES[8]!)).toContain("user.source: line 2, column 7: undefined label 'x'");
    expect(shareFailureText(translator('zh-CN'), { kind: 'newer', version: 2 })).toContain('更新版本');
  });

  it('names where an error is', () => {
    const en = translator('en');
    expect(errorWhere(en, { path: 'kernel.source', message: '', line: 3, column: 7 })).toBe('Kernel, line 3, column 7');
    expect(errorWhere(en, { path: 'user', message: '' })).toBe('User program');
    expect(errorWhere(en, { path: 'paging', message: '' })).toBe('Machine: Paging');
    expect(errorWhere(en, { path: 'mappings[1].size', message: '' })).toBe('JSON: mappings[1].size');
    expect(errorWhere(translator('zh-CN'), { path: 'kernel.source', message: '', line: 3, column: 7 })).toBe('内核，第 3 行，第 7 列');
  });

  it('shows a JSON problem character as text, escaped when it is invisible', () => {
    expect(jsonIssueText(translator('en'), 'unexpected', '}')).toBe('unexpected “}”');
    expect(jsonIssueText(translator('en'), 'control', '\n')).toContain('\\n');
  });
});
