/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Run a guest kernel deprivileged to ring 1 under a trap-and-emulate monitor: predict which of its instructions trap, see POPF lose the guest\'s IF without a fault, let SIDT and its kin reveal the monitor, and meet Robin and Irvine\'s list of sensitive instructions that x86 does not make privileged.',
  'zh-CN': '在陷入并模拟的虚拟机监控器下运行一个被降权到特权级 1 的客户机内核：预测它的哪些指令会陷入，看 POPF 如何不引发故障就丢掉客户机的 IF，让 SIDT 等指令暴露虚拟机监控器，并认识 Robin 与 Irvine 列出的、x86 没有设为特权指令的敏感指令。',
};
