/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Test four things often said about hardware-assisted virtualization against the machine: find the guest kernel in ring 0 of non-root operation rather than below a "ring −1", let a guest ask CPUID whether it is virtualized, run the techniques side by side to see where first-generation VT-x lost to binary translation, and read Popek and Goldberg\'s theorem for what it says.',
  'zh-CN': '用机器检验关于硬件辅助虚拟化的四种常见说法：看到客户机内核运行在非根操作的特权级 0，而不是在某个“ring −1”之下；让客户机用 CPUID 询问自己是否被虚拟化；把各种技术并排运行，看第一代 VT-x 在哪里输给二进制翻译；并按原意读懂 Popek 与 Goldberg 的定理。',
};
