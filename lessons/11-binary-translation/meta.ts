/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '11-binary-translation',
  number: 11,
  title: { en: 'Binary translation', 'zh-CN': '二进制翻译' },
  minutes: 12,
  steps: 9,
  maxScore: 4,
};
