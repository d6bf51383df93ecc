/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Two VMs run the same network-card driver, one with the card emulated by the hypervisor and one with the real card assigned; predict which accesses exit, what an emulated register write costs, and where an assigned card\'s DMA lands; then compare the emulated, paravirtual and assigned ways frame by frame.',
  'zh-CN': '两台虚拟机运行同一个网卡驱动，一台的网卡由虚拟机监控器模拟，另一台直接分配了真实网卡；预测哪些访问会退出、模拟一次寄存器写要付出什么，以及直通网卡的 DMA 落在哪里；然后逐帧比较模拟、半虚拟化和设备直通三种方式。',
};
