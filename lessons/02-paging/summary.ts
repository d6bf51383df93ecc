/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Watch the CPU translate a linear address through four levels of page tables, see the TLB spare it the walk, fault on a read-only page, and lose its cached translations when CR3 is loaded.',
  'zh-CN': '观察 CPU 经由四级页表转换一个线性地址，看 TLB 如何省去页表遍历、在只读页上触发缺页异常，以及加载 CR3 时如何丢掉缓存的地址转换。',
};
