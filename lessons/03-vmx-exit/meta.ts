/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '03-vmx-exit',
  number: 3,
  title: { en: 'Your first VM exit on VT-x', 'zh-CN': '在 VT-x 上的第一次 VM 退出' },
  minutes: 15,
  steps: 13,
  maxScore: 6,
};
