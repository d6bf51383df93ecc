/** The lesson's one-sentence summary for the lesson map, loaded with the map (src/lessons/summaries.ts), not on the first screen. */
import type { Locale } from '../../src/i18n/messages.ts';

export const summary: Record<Locale, string> = {
  en: 'Run the guest of the VT-x lesson under AMD-V: enter it with VMRUN, read its exits from the VMCB at their fixed offsets, predict the EXITCODE and EXITINFO1 of CPUID and OUT, and compare every name and number with VT-x.',
  'zh-CN': '在 AMD-V 下运行 VT-x 那一课的客户机：用 VMRUN 进入它，在 VMCB 的固定偏移处读出它的退出，预测 CPUID 和 OUT 的 EXITCODE 与 EXITINFO1，并把每个名字和编号与 VT-x 对照。',
};
