/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '03-vmx-exit',
  number: 3,
  title: { en: 'Your first VM exit on VT-x', 'zh-CN': '在 VT-x 上的第一次 VM 退出' },
  summary: {
    en: 'Run a guest under VT-x, predict which of its instructions leaves it for the hypervisor, read the exit reason and qualification in the VMCS, and follow the handler from VMREAD to VMRESUME.',
    'zh-CN': '在 VT-x 下运行一个客户机，预测它的哪条指令会离开客户机、转到虚拟机监控器，在 VMCS 中读出退出原因和退出限定，并跟随处理程序从 VMREAD 一直走到 VMRESUME。',
  },
  minutes: 15,
  steps: 13,
  maxScore: 6,
};
