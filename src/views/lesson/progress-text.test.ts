import { describe, expect, it } from 'vitest';
import { LOCALES } from '../../i18n/messages.ts';
import { parseProgress, type ProgressProblem } from '../../lessons/progress.ts';
import { points, problemText, recordState, stateText } from './progress-text.ts';

describe('progress in words', () => {
  it('states each kind of lesson state with its numbers, in both languages', () => {
    expect(stateText('en', { kind: 'new' })).toBe('Not started');
    expect(stateText('en', { kind: 'started', reached: 4, steps: 12, score: 2, maxScore: 10 })).toBe('In progress: step 4 of 12, 2 of 10 points');
    expect(stateText('en', { kind: 'done', score: 8, maxScore: 10 })).toBe('Done: 8 of 10 points');
    expect(stateText('zh-CN', { kind: 'started', reached: 4, steps: 12, score: 2, maxScore: 10 })).toBe('进行中：第 4/12 步，得分 2/10');
    expect(stateText('zh-CN', { kind: 'done', score: 8, maxScore: 10 })).toBe('已完成：得分 8/10');
  });

  it('writes fractional scores with at most two decimals', () => {
    expect(points(2.5)).toBe('2.5');
    expect(points(1 / 3)).toBe('0.33');
  });

  it('measures a record by its own lesson size when the course does not have it', () => {
    expect(recordState({ reached: 1, steps: 3, score: 1, maxScore: 2, completed: false }, undefined)).toEqual({ kind: 'started', reached: 2, steps: 3, score: 1, maxScore: 2 });
    expect(recordState(null, undefined)).toEqual({ kind: 'new' });
  });

  it('locates every refused file in words, with no template left unfilled', () => {
    const texts = ['{', '[]', '{"format":3,"lessons":{}}', '{"format":1,"lessons":{"01-rings":{"reached":5,"steps":2,"score":0,"maxScore":1,"completed":false}}}'];
    const problems = texts.map((t) => parseProgress(t)).flatMap((r): ProgressProblem[] => (r.ok ? [] : [r.problem]));
    expect(problems).toHaveLength(texts.length);
    for (const locale of LOCALES) {
      for (const p of problems) expect(problemText(locale, p)).not.toMatch(/[{}]/);
    }
    expect(problemText('en', problems[3] as ProgressProblem)).toBe('at lessons.01-rings.reached, expected a whole number from 0 to 1');
    expect(problemText('zh-CN', problems[2] as ProgressProblem)).toBe('它由更新版本的实验室生成（进度格式 3）');
  });
});
