/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '05-nested-walk',
  number: 5,
  title: { en: 'Nested paging and the two-dimensional walk', 'zh-CN': '嵌套分页与二维页表遍历' },
  summary: {
    en: 'Follow a guest\'s page walk under EPT, where every guest table reference is itself translated; predict how many references a first touch makes, what a TLB hit saves, and which faults reach the hypervisor.',
    'zh-CN': '跟随客户机在 EPT 下的页表遍历：客户机页表的每一次引用本身都要再经过一次地址转换。预测第一次访问要做多少次内存引用、TLB 命中省下了什么，以及哪些故障会交给虚拟机监控器。',
  },
  minutes: 15,
  steps: 13,
  maxScore: 6,
};
