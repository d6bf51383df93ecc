/**
 * UI strings of the side-by-side pair (src/views/pair, and its chooser in the comparison panel):
 * one guest under two configurations, stepped together. English, and the same keys in Simplified
 * Chinese. The configurations' names and the cost parts are the comparison's (`vm.compare.*`, in
 * parts/vm.ts). `{name}` marks a value filled in by the view.
 */

import { registerMessages } from '../messages.ts';

export const pairEn = {
  'pair.choose.title': 'Step two configurations side by side',
  'pair.choose.first': 'Left',
  'pair.choose.second': 'Right',
  'pair.choose.open': 'Open side by side',
  'pair.choose.same': 'Choose two different configurations.',

  'pair.title': 'Side by side: {a} and {b}',
  'pair.about': "The same guest from the start under both configurations, stepped together one guest instruction at a time, each with its own diagram and its costs so far. Your run above is not touched. A side whose guest ended stays at its end while the other goes on.",
  'pair.loading': 'Building both machines…',
  'pair.controls': 'Step both sides',
  'pair.back': 'Back one step',
  'pair.step': 'Step',
  'pair.step10': 'Step 10',
  'pair.run': 'Run to the end',
  'pair.runBudget': 'Runs at most {n} guest instructions.',
  'pair.close': 'Close side by side',
  'pair.at': 'Step {step}',
  'pair.live': 'Step {step}. {a}: {ea} VM exits, {ca} cycles so far. {b}: {eb} VM exits, {cb} cycles so far.',
  'pair.liveEnded': '{config} ended at step {step}.',
  'pair.budgetOut': 'Stopped after the budget of {n} guest instructions; neither guest has ended yet.',
  'pair.failed': 'The side by side view failed: {why}',
  'pair.cannot': 'These configurations cannot run this scenario: {why}',

  'pair.side.context': 'side by side, {config}',
  'pair.side.state': 'Step {step}, RIP {rip}, ring {cpl}.',
  'pair.side.running': 'Running.',
  'pair.side.ended': 'Ended at step {step} ({why}).',
  'pair.side.endedBefore': 'Ended at step {step} ({why}); it stays there while the other side goes on.',
  'pair.side.bare': 'No hypervisor: the guest runs directly on the processor, with no VM exits.',
  'pair.side.stepStill': 'This side did not move.',
  'pair.side.counters': 'Counts so far',
  'pair.row.exits': 'VM exits',
  'pair.row.hits': 'TLB hits',
  'pair.row.misses': 'TLB misses',
  'pair.row.flushes': 'TLB flushes',
  'pair.row.walks': 'Page walks',
  'pair.row.refs': 'Memory references of the walks',
  'pair.row.perWalk': 'References per walk',
  'pair.cost.title': 'Cycles so far',
  'pair.cost.total': '{cycles} cycles (preset {preset})',
  'pair.cost.part': '{part}: {cycles}',
  'pair.cost.scale': 'Both bars share one scale: the larger total so far is the full width.',

  'pair.notice.bad': 'The link asked for side by side "{value}", which is not two configurations this lab knows; it was ignored.',
  'pair.notice.step': 'The link asked to open side by side at step "{value}", which is not a step; it opened at step 0.',
} as const;

export const pairZh: Record<keyof typeof pairEn, string> = {
  'pair.choose.title': '并排单步执行两种配置',
  'pair.choose.first': '左侧',
  'pair.choose.second': '右侧',
  'pair.choose.open': '并排打开',
  'pair.choose.same': '请选择两种不同的配置。',

  'pair.title': '并排：{a} 与 {b}',
  'pair.about': '同一个客户机从头在两种配置下运行，一次一条客户机指令地同步单步执行，每侧有自己的示意图和到目前为止的开销。上方你自己的运行不受影响。客户机已结束的一侧停在结束处，另一侧继续前进。',
  'pair.loading': '正在构建两台机器…',
  'pair.controls': '同步单步执行两侧',
  'pair.back': '后退一步',
  'pair.step': '单步',
  'pair.step10': '前进 10 步',
  'pair.run': '运行到结束',
  'pair.runBudget': '最多运行 {n} 条客户机指令。',
  'pair.close': '关闭并排视图',
  'pair.at': '第 {step} 步',
  'pair.live': '第 {step} 步。{a}：到目前为止 {ea} 次 VM 退出，{ca} 个周期。{b}：到目前为止 {eb} 次 VM 退出，{cb} 个周期。',
  'pair.liveEnded': '{config} 在第 {step} 步结束。',
  'pair.budgetOut': '已运行完 {n} 条客户机指令的预算后停止；两个客户机都还没有结束。',
  'pair.failed': '并排视图出错：{why}',
  'pair.cannot': '这两种配置无法运行这个场景：{why}',

  'pair.side.context': '并排：{config}',
  'pair.side.state': '第 {step} 步，RIP {rip}，特权级 {cpl}。',
  'pair.side.running': '运行中。',
  'pair.side.ended': '在第 {step} 步结束（{why}）。',
  'pair.side.endedBefore': '在第 {step} 步结束（{why}）；另一侧继续前进时，这一侧停在那里。',
  'pair.side.bare': '没有虚拟机监控器：客户机直接在处理器上运行，没有 VM 退出。',
  'pair.side.stepStill': '这一侧没有前进。',
  'pair.side.counters': '到目前为止的计数',
  'pair.row.exits': 'VM 退出',
  'pair.row.hits': 'TLB 命中',
  'pair.row.misses': 'TLB 未命中',
  'pair.row.flushes': 'TLB 刷新',
  'pair.row.walks': '页表遍历次数',
  'pair.row.refs': '遍历的内存访问',
  'pair.row.perWalk': '每次遍历的内存访问',
  'pair.cost.title': '到目前为止的周期',
  'pair.cost.total': '{cycles} 个周期（预设 {preset}）',
  'pair.cost.part': '{part}：{cycles}',
  'pair.cost.scale': '两根条形使用同一刻度：到目前为止较大的总数占满全宽。',

  'pair.notice.bad': '链接要求并排显示“{value}”，但这不是本实验室认识的两种配置，已忽略。',
  'pair.notice.step': '链接要求在第“{value}”步打开并排视图，但这不是一个步数；已从第 0 步打开。',
};

// Loaded with the pair's chunk (and the comparison panel's chooser), not with the first screen.
registerMessages(pairEn, pairZh);
