/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Follow a guest\'s page walk under EPT, where every guest table reference is itself translated; predict how many references a first touch makes, what a TLB hit saves, and which faults reach the hypervisor.',
  'zh-CN': '跟随客户机在 EPT 下的页表遍历：客户机页表的每一次引用本身都要再经过一次地址转换。预测第一次访问要做多少次内存引用、TLB 命中省下了什么，以及哪些故障会交给虚拟机监控器。',
};
