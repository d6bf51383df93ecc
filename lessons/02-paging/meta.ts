/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '02-paging',
  number: 2,
  title: { en: 'Paging, the page walk and the TLB', 'zh-CN': '分页、页表遍历与 TLB' },
  minutes: 15,
  steps: 14,
  maxScore: 7,
};
