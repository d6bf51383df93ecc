/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '04-svm-exit',
  number: 4,
  title: { en: 'The same guest on AMD-V', 'zh-CN': '同一个客户机在 AMD-V 上' },
  summary: {
    en: 'Run the guest of the VT-x lesson under AMD-V: enter it with VMRUN, read its exits from the VMCB at their fixed offsets, predict the EXITCODE and EXITINFO1 of CPUID and OUT, and compare every name and number with VT-x.',
    'zh-CN': '在 AMD-V 下运行 VT-x 那一课的客户机：用 VMRUN 进入它，在 VMCB 的固定偏移处读出它的退出，预测 CPUID 和 OUT 的 EXITCODE 与 EXITINFO1，并把每个名字和编号与 VT-x 对照。',
  },
  minutes: 12,
  steps: 12,
  maxScore: 5,
};
