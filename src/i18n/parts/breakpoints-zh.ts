/** The Chinese strings of breakpoints.ts (the same keys), in a file of their own so that each language is its own chunk (messages.ts `loadLocale`). */
import type { breakpointsEn } from './breakpoints.ts';

export const breakpointsZh: Record<keyof typeof breakpointsEn, string> = {
  'bp.column': '断点',
  'bp.toggle': '{address} 处的断点',
  'bp.list.title': '断点',
  'bp.list.count': '已设 {n} 个',
  'bp.list.empty': '尚未设置。按指令旁的 ○ 即可设置：之后“播放”和“运行到下一个：断点”会在该指令执行之前停下。',
  'bp.list.unseen': '尚未显示该指令',
  'bp.list.full': '最多 {n} 个断点：请先移除一个再设置新的。',
  'bp.remove': '移除',
  'bp.removeAt': '移除 {address} 处的断点',
  'bp.removeAll': '全部移除',
  'bp.removeAllLong': '移除全部断点',
  'bp.runTo': '断点',
  'bp.hit': '在 {address} 处的断点停下，{insn} 尚未执行。',
  'bp.none': '尚未设置断点：请在代码视图中按指令旁的 ○ 设置一个。',
  'bp.notReached': '在 {n} 步之内没有到达任何断点。',
};
