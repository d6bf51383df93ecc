/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '08-device-io',
  number: 8,
  title: { en: 'Giving a VM a device: emulated, paravirtual, assigned', 'zh-CN': '为虚拟机提供设备：模拟、半虚拟化与设备直通' },
  minutes: 15,
  steps: 9,
  maxScore: 4,
};
