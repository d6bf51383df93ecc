/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Run lesson 5\'s guest again with nested paging off, so the hypervisor keeps a shadow of its page tables; predict which accesses exit, what the guest reads from CR3, how a write to its own page table is handled, and who gets a page fault the guest\'s tables refuse.',
  'zh-CN': '关闭嵌套分页，再次运行第 5 课的客户机，由虚拟机监控器为它的页表维护一份影子；预测哪些访问会退出、客户机从 CR3 读到什么、它写自己的页表时如何处理，以及客户机页表拒绝的访问产生的缺页异常交给谁。',
};
