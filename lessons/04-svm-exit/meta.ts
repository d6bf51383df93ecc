/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '04-svm-exit',
  number: 4,
  title: { en: 'The same guest on AMD-V', 'zh-CN': '同一个客户机在 AMD-V 上' },
  minutes: 12,
  steps: 12,
  maxScore: 5,
};
