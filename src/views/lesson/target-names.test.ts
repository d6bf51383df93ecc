/** Every view a lesson's step points at has a name in both languages (not its raw target id). */
import { describe, expect, it } from 'vitest';
import type { Locale } from '../../i18n/messages.ts';
import { translator } from '../cpu/text.ts';
import type { StepDef } from '../../lessons/kit.ts';
import { targetName } from './target-names.ts';

const modules = import.meta.glob<{ steps: readonly StepDef[] }>('../../../lessons/*/steps.ts', { eager: true });

describe('target names', () => {
  it('name every point of every lesson in English and Chinese', () => {
    const points = new Set<string>();
    for (const m of Object.values(modules)) for (const s of m.steps) if (s.point !== undefined) points.add(s.point);
    expect(points.size).toBeGreaterThan(5);
    for (const locale of ['en', 'zh-CN'] as Locale[]) {
      const t = translator(locale);
      for (const p of points) expect(targetName(p, t), `${locale} ${p}`).not.toBe(p);
    }
  });
});
