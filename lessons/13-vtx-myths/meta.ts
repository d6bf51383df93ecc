/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '13-vtx-myths',
  number: 13,
  title: { en: 'Myths of the VT-x era', 'zh-CN': 'VT-x 时代的误解' },
  minutes: 12,
  steps: 11,
  maxScore: 4,
};
