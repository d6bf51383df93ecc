/**
 * UI strings of the breakpoints (the code view's gutter and list, run to breakpoint): English,
 * and the same keys in Simplified Chinese. `{name}` marks a value filled in by the view.
 */

export const breakpointsEn = {
  'bp.column': 'Breakpoint',
  'bp.toggle': 'Breakpoint at {address}',
  'bp.list.title': 'Breakpoints',
  'bp.list.count': '{n} set',
  'bp.list.empty': 'None set. Press ○ beside an instruction: Play and “Run to next: breakpoint” then stop before it runs.',
  'bp.list.unseen': 'instruction not shown yet',
  'bp.list.full': 'At most {n} breakpoints: remove one to set another.',
  'bp.remove': 'Remove',
  'bp.removeAt': 'Remove breakpoint at {address}',
  'bp.removeAll': 'Remove all',
  'bp.removeAllLong': 'Remove all breakpoints',
  'bp.runTo': 'breakpoint',
  'bp.hit': 'Stopped at the breakpoint at {address}, before {insn} runs.',
  'bp.none': 'No breakpoints are set: press ○ beside an instruction in the code view to set one.',
  'bp.notReached': 'No breakpoint reached within {n} steps.',
} as const;

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
