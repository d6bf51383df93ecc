/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '01-rings',
  number: 1,
  title: { en: 'Rings, interrupts and system calls', 'zh-CN': '特权级、中断与系统调用' },
  minutes: 10,
  steps: 12,
  maxScore: 5,
};
