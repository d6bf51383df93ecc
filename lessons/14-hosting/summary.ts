/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Follow one OUT to COM1 through a bare-metal and a hosted hypervisor and count the world switches, see what a host process\'s turn does to a guest\'s timer, find the same VMCS under both, and compare containers on one kernel with VMs when one of them crashes the kernel.',
  'zh-CN': '跟随一次向 COM1 的 OUT 穿过裸金属型和宿主型虚拟机监控器并数一数世界切换，看宿主机进程的一个时间片对客户机定时器的影响，在两者中找到同一个 VMCS，并比较一个内核上的容器与虚拟机在其中之一使内核崩溃时的不同。',
};
