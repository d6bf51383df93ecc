/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'The kernel that trap-and-emulate could not run correctly, under binary translation: predict what becomes of its POPF, what a translated block is made of, what happens when the guest rewrites its own code, and why a page-table write by callout beats a VM exit on the first VT-x processors.',
  'zh-CN': '陷入并模拟无法正确运行的那个内核，换用二进制翻译：预测它的 POPF 会怎样、翻译后的代码块由什么组成、客户机改写自己的代码时会发生什么，以及为什么在第一代 VT-x 处理器上，通过调出完成的页表写入比 VM 退出便宜。',
};
