/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Follow a user program into the kernel and back through INT 0x80 and SYSCALL, and say what the CPU saves, checks and loads on each crossing.',
  'zh-CN': '跟随一个用户程序经由 INT 0x80 和 SYSCALL 进入内核再返回，说出每次跨越时 CPU 保存、检查和加载了什么。',
};
