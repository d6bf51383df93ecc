/** Every view a lesson's step points at has a name in both languages (not its raw target id). */
import { describe, expect, it } from 'vitest';
import type { Locale } from '../../i18n/messages.ts';
import { LESSONS, loadLesson } from '../../lessons/registry.ts';
import { translator } from '../cpu/text.ts';
import { targetName } from './target-names.ts';

describe('target names', () => {
  it('name every point of every lesson in English and Chinese', async () => {
    const points = new Set<string>();
    for (const info of LESSONS) for (const s of (await loadLesson(info.id)).steps) if (s.point !== undefined) points.add(s.point);
    expect(points.size).toBeGreaterThan(5);
    expect(points.has('iommu')).toBe(true);
    for (const locale of ['en', 'zh-CN'] as Locale[]) {
      const t = translator(locale);
      for (const p of points) expect(targetName(p, t), `${locale} ${p}`).not.toBe(p);
    }
  });
});
