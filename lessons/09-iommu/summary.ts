/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'A VM with an assigned network card and a hostile driver points the card at another VM\'s memory; predict what the card reads without an IOMMU and under VT-d, follow the blocked request through the remapping tables to the fault record, and see the same under AMD-Vi.',
  'zh-CN': '一台虚拟机拥有一块直通网卡，它的恶意驱动让网卡指向另一台虚拟机的内存；预测在没有 IOMMU 时和在 VT-d 下网卡读到什么，沿着被拦截的请求穿过重映射表直到故障记录，再看 AMD-Vi 下的同一情形。',
};
