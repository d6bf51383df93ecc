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
