/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '12-paravirtualization',
  number: 12,
  title: { en: 'Paravirtualization', 'zh-CN': '半虚拟化' },
  minutes: 12,
  steps: 9,
  maxScore: 3,
};
