/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Read the diff of a small kernel ported to a Xen-style hypervisor, predict what the unmodified kernel\'s CLI does in ring 1, follow the ported kernel\'s hypercalls, count how many write its page table, and see its "interrupts off" become a store to the shared info page.',
  'zh-CN': '阅读一个移植到 Xen 式虚拟机监控器上的小内核的差异，预测未修改内核的 CLI 在特权级 1 会怎样，跟随移植后内核的超级调用，数一数写页表用了几次超级调用，并看到它的“关中断”变成对共享信息页的一次存储。',
};
