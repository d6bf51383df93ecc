/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Watch a guest\'s TLB entries survive a VM exit when they carry a VPID, and vanish at every exit and entry when they do not; predict how the hypervisor carries out an intercepted INVLPG, and what an untagged AMD-V hypervisor writes to TLB_CONTROL.',
  'zh-CN': '观察客户机的 TLB 表项带有 VPID 时如何在 VM 退出后保留下来，不带标签时又如何在每次退出和进入时被清空；预测虚拟机监控器如何替客户机执行被拦截的 INVLPG，以及不带标签的 AMD-V 虚拟机监控器向 TLB_CONTROL 写入什么值。',
};
