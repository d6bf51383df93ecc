/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '05-nested-walk',
  number: 5,
  title: { en: 'Nested paging and the two-dimensional walk', 'zh-CN': '嵌套分页与二维页表遍历' },
  minutes: 15,
  steps: 13,
  maxScore: 6,
};
