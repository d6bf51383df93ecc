/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '06-tagged-tlb',
  number: 6,
  title: { en: 'Tagged TLBs: VPID, ASID and what a world switch flushes', 'zh-CN': '带标签的 TLB：VPID、ASID 与世界切换时刷新什么' },
  minutes: 15,
  steps: 12,
  maxScore: 5,
};
