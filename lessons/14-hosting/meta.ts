/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '14-hosting',
  number: 14,
  title: { en: 'Where the hypervisor lives: hosted, bare-metal, containers', 'zh-CN': '虚拟机监控器位于何处：宿主型、裸金属型与容器' },
  minutes: 15,
  steps: 16,
  maxScore: 7,
};
