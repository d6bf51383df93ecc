/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '02-paging',
  number: 2,
  title: { en: 'Paging, the page walk and the TLB', 'zh-CN': '分页、页表遍历与 TLB' },
  summary: {
    en: 'Watch the CPU translate a linear address through four levels of page tables, see the TLB spare it the walk, fault on a read-only page, and lose its cached translations when CR3 is loaded.',
    'zh-CN': '观察 CPU 经由四级页表转换一个线性地址，看 TLB 如何省去页表遍历、在只读页上触发缺页异常，以及加载 CR3 时如何丢掉缓存的地址转换。',
  },
  minutes: 15,
  steps: 14,
  maxScore: 7,
};
