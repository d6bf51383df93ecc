/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '09-iommu',
  number: 9,
  title: { en: 'DMA and the IOMMU', 'zh-CN': 'DMA 与 IOMMU' },
  minutes: 12,
  steps: 8,
  maxScore: 3,
};
