/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '07-shadow-paging',
  number: 7,
  title: { en: 'Shadow page tables: memory virtualization before EPT', 'zh-CN': '影子页表：EPT 出现之前的内存虚拟化' },
  minutes: 15,
  steps: 13,
  maxScore: 5,
};
