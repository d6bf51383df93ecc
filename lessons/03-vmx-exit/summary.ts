/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Run a guest under VT-x, predict which of its instructions leaves it for the hypervisor, read the exit reason and qualification in the VMCS, and follow the handler from VMREAD to VMRESUME.',
  'zh-CN': '在 VT-x 下运行一个客户机，预测它的哪条指令会离开客户机、转到虚拟机监控器，在 VMCS 中读出退出原因和退出限定，并跟随处理程序从 VMREAD 一直走到 VMRESUME。',
};
