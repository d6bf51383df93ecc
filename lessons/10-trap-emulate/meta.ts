/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '10-trap-emulate',
  number: 10,
  title: { en: 'Why classic x86 could not be trap-and-emulated', 'zh-CN': '为什么经典 x86 无法陷入并模拟' },
  minutes: 12,
  steps: 11,
  maxScore: 3,
};
