/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '06-tagged-tlb',
  number: 6,
  title: { en: 'Tagged TLBs: VPID, ASID and what a world switch flushes', 'zh-CN': '带标签的 TLB：VPID、ASID 与世界切换时刷新什么' },
  summary: {
    en: 'Watch a guest\'s TLB entries survive a VM exit when they carry a VPID, and vanish at every exit and entry when they do not; predict how the hypervisor carries out an intercepted INVLPG, and what an untagged AMD-V hypervisor writes to TLB_CONTROL.',
    'zh-CN': '观察客户机的 TLB 表项带有 VPID 时如何在 VM 退出后保留下来，不带标签时又如何在每次退出和进入时被清空；预测虚拟机监控器如何替客户机执行被拦截的 INVLPG，以及不带标签的 AMD-V 虚拟机监控器向 TLB_CONTROL 写入什么值。',
  },
  minutes: 15,
  steps: 12,
  maxScore: 5,
};
