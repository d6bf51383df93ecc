/**
 * UI strings of the technique comparison chart (src/views/vm/Techniques.svelte): Adams and
 * Agesen's nanobenchmarks run bare and under trap-and-emulate, binary translation, VT-x and AMD-V.
 * English, and the same keys in Simplified Chinese (glossary terms: 陷入并模拟, 陷入, 二进制翻译,
 * 影子页表, 嵌套分页, 扩展页表, 系统调用, 缺页异常, 页表项, 虚拟机监控器, 客户机, VM 退出).
 * Exit names (EXIT_REASON_IO_INSTRUCTION …) stay as the manuals write them. `{name}` marks a value.
 */

import { registerMessages } from '../messages.ts';

export const techniquesEn = {
  'techniques.title': 'Techniques compared: the nanobenchmarks',
  'techniques.about':
    'Five tiny guest kernels, each a loop doing one thing (after Adams and Agesen, ASPLOS 2006), run in the worker bare and under each technique: {n} iterations, then {n2}; the difference divided by {n} leaves the cost of one iteration.',
  'techniques.preset': 'Price VT-x as',
  'techniques.preset.vtx-prescott': 'First-generation VT-x (Pentium 4, Prescott)',
  'techniques.preset.core2-merom': 'Core 2 (Merom)',
  'techniques.preset.intel-broadwell': 'Broadwell',
  'techniques.run': 'Run the comparison',
  'techniques.again': 'Run again',
  'techniques.running': 'Running {runs} small machines in the worker…',
  'techniques.failed': 'The comparison failed: {why}',
  'techniques.priced': 'Priced with VT-x as {preset}; AMD-V always as a recent AMD processor; trap-and-emulate, binary translation and paravirtualization with the same preset as VT-x (the same processor without its hardware assist).',
  'techniques.axis': 'Cycles per iteration, logarithmic: each gridline is ten times the one before.',
  'techniques.workload.syscall': 'System call: INT 0x80 from user code, IRET back',
  'techniques.workload.in': 'Port I/O: IN from port 0x80',
  'techniques.workload.pgfault': 'Page fault: the kernel’s handler maps the page, the loop unmaps it',
  'techniques.workload.ptemod': 'Page-table edit: a page-table entry changed, then INVLPG',
  'techniques.workload.compute': 'Arithmetic only',
  'techniques.technique.native': 'Native (no hypervisor)',
  'techniques.technique.trap-emulate': 'Trap-and-emulate',
  'techniques.technique.bt': 'Binary translation',
  'techniques.technique.pv': 'Paravirtualization (Xen-style)',
  'techniques.technique.vtx-shadow': 'VT-x, shadow page tables',
  'techniques.technique.vtx-nested': 'VT-x, nested paging (EPT)',
  'techniques.technique.svm-shadow': 'AMD-V, shadow page tables',
  'techniques.technique.svm-nested': 'AMD-V, nested paging (NPT)',
  'techniques.bar': '{technique}: {cycles}',
  'techniques.barSr': ' cycles per iteration; {workload}; {exits} exits or traps per iteration',
  'techniques.fastest': 'Fewest cycles after native: {technique}.',
  'techniques.listSep': '; ',
  'techniques.detail.pick': 'Point at a bar or move the focus to it: its exits or traps show under its panel.',
  'techniques.detail.head': '{technique}, {workload}: {cycles} cycles per iteration.',
  'techniques.detail.none': 'No exit or trap per iteration: the loop runs as it does on the bare machine.',
  'techniques.detail.kinds': 'Exits or traps per iteration: {kinds}.',
  'techniques.detail.kind': '{kind} × {n}',
  'techniques.detail.bt': 'Translation cache, over the whole run: {blocks} blocks, {rate} of lookups hit, {callouts} callouts.',
  'techniques.note':
    'The cost model prices transitions (VM exits and entries, traps into the monitor, callouts out of the translation cache) and the monitor’s handler work; it does not model devices or memory. So native IN costs its one instruction here, where a real port read takes far longer, and only the differences between techniques mean anything.',
  'techniques.unavailable': '{technique}: not available. {why}',
  'techniques.unavailable.short': 'Not available. {why}',
  'techniques.unavailable.pv.in':
    'The lab’s paravirtualized domain has no I/O privilege (IOPL 0 and no I/O permission bitmap; Xen’s physdev_op grants are not modelled), so IN in its ring-1 kernel would fault; its only device is the console hypercall.',
  'techniques.notePv':
    'Paravirtualization runs each workload ported to the hypervisor’s interface, as a Xen-style 32-bit kernel in ring 1. Its INT 0x80 goes through the gate its trap table set up, with no hypervisor on the path; a page-table edit is one hypercall (update_va_mapping) instead of a trap and an emulation; a page fault still traps into the hypervisor, which reflects it to the kernel’s handler, and the handler maps the page with a hypercall. Its exits are its hypercalls and traps.',
  'techniques.noteSyscall':
    'Under trap-and-emulate the lab’s monitor runs the guest’s INT 0x80 and IRET without a trap: its shadow IDT sends them straight to the guest kernel in ring 1. Binary translation pays callouts for both, because the translated kernel runs on the monitor’s code segment.',
  'techniques.table': 'Every figure, per iteration',
  'techniques.tableShow': 'Every figure as a table',
  'techniques.col.workload': 'Workload',
  'techniques.col.technique': 'Technique',
  'techniques.col.preset': 'Cost preset',
  'techniques.col.cycles': 'Cycles',
  'techniques.col.exits': 'Exits or traps',
  'techniques.col.kinds': 'By kind',
  'techniques.presetNone': 'none (one cycle per instruction)',
};

export const techniquesZh: Record<keyof typeof techniquesEn, string> = {
  'techniques.title': '各种技术的比较：纳米基准测试',
  'techniques.about':
    '五个极小的客户机内核，每个都是只做一件事的循环（依照 Adams 与 Agesen，ASPLOS 2006），在 worker 中分别在裸机上和每种技术下运行：先 {n} 次迭代，再 {n2} 次；两者之差除以 {n}，就只剩下一次迭代的开销。',
  'techniques.preset': 'VT-x 按此计价',
  'techniques.preset.vtx-prescott': '第一代 VT-x（Pentium 4，Prescott）',
  'techniques.preset.core2-merom': 'Core 2（Merom）',
  'techniques.preset.intel-broadwell': 'Broadwell',
  'techniques.run': '运行比较',
  'techniques.again': '再运行一次',
  'techniques.running': '正在 worker 中运行 {runs} 台小机器……',
  'techniques.failed': '比较失败：{why}',
  'techniques.priced': 'VT-x 按 {preset} 计价；AMD-V 总是按较新的 AMD 处理器计价；陷入并模拟、二进制翻译和半虚拟化使用与 VT-x 相同的预设（同一款处理器，只是不用它的硬件辅助）。',
  'techniques.axis': '每次迭代的周期数，对数刻度：每条网格线是前一条的十倍。',
  'techniques.workload.syscall': '系统调用：用户代码执行 INT 0x80，再用 IRET 返回',
  'techniques.workload.in': '端口 I/O：从端口 0x80 执行 IN',
  'techniques.workload.pgfault': '缺页异常：内核的处理程序映射该页，循环再取消映射',
  'techniques.workload.ptemod': '修改页表：改一个页表项，再执行 INVLPG',
  'techniques.workload.compute': '只有算术运算',
  'techniques.technique.native': '本机（无虚拟机监控器）',
  'techniques.technique.trap-emulate': '陷入并模拟',
  'techniques.technique.bt': '二进制翻译',
  'techniques.technique.pv': '半虚拟化（Xen 式）',
  'techniques.technique.vtx-shadow': 'VT-x，影子页表',
  'techniques.technique.vtx-nested': 'VT-x，嵌套分页（EPT）',
  'techniques.technique.svm-shadow': 'AMD-V，影子页表',
  'techniques.technique.svm-nested': 'AMD-V，嵌套分页（NPT）',
  'techniques.bar': '{technique}：{cycles}',
  'techniques.barSr': ' 个周期（每次迭代）；{workload}；每次迭代 {exits} 次 VM 退出或陷入',
  'techniques.fastest': '除本机外周期最少：{technique}。',
  'techniques.listSep': '；',
  'techniques.detail.pick': '把指针移到某个条形上，或把焦点移到它上面：它的 VM 退出或陷入会显示在该面板下方。',
  'techniques.detail.head': '{technique}，{workload}：每次迭代 {cycles} 个周期。',
  'techniques.detail.none': '每次迭代没有 VM 退出或陷入：这个循环像在裸机上一样运行。',
  'techniques.detail.kinds': '每次迭代的 VM 退出或陷入：{kinds}。',
  'techniques.detail.kind': '{kind} {n} 次',
  'techniques.detail.bt': '翻译缓存（整个运行期间）：{blocks} 个块，查找命中率 {rate}，{callouts} 次调出。',
  'techniques.note':
    '成本模型为切换（VM 退出和 VM 进入、陷入虚拟机监控器、从翻译缓存调出）和虚拟机监控器的处理工作计价，不模拟设备或内存。所以这里本机的 IN 只算它那一条指令，而真实的端口读取要慢得多；只有各技术之间的差别才有意义。',
  'techniques.unavailable': '{technique}：不适用。{why}',
  'techniques.unavailable.short': '不适用。{why}',
  'techniques.unavailable.pv.in':
    '本实验室的半虚拟化域没有 I/O 特权（IOPL 为 0，也没有 I/O 许可位图；未建模 Xen 的 physdev_op 授权），所以它在特权级 1 运行的内核执行 IN 会引发故障；它唯一的设备是控制台超级调用。',
  'techniques.notePv':
    '半虚拟化运行的是移植到虚拟机监控器接口上的各个工作负载，即在特权级 1 运行的 Xen 式 32 位内核。它的 INT 0x80 经由其陷阱表设置的门到达内核，路径上没有虚拟机监控器；修改页表项是一次超级调用（update_va_mapping），而不是一次陷入加一次模拟；缺页异常仍然陷入虚拟机监控器，由它转交给内核的处理程序，处理程序再用一次超级调用映射该页。它的退出就是它的超级调用与陷入。',
  'techniques.noteSyscall':
    '在陷入并模拟下，本实验的虚拟机监控器执行客户机的 INT 0x80 和 IRET 时不发生陷入：它的影子 IDT 把它们直接送到特权级 1 中的客户机内核。二进制翻译则要为两者各付一次调出，因为翻译后的内核运行在虚拟机监控器的代码段上。',
  'techniques.table': '每一个数字（每次迭代）',
  'techniques.tableShow': '以表格显示每一个数字',
  'techniques.col.workload': '负载',
  'techniques.col.technique': '技术',
  'techniques.col.preset': '成本预设',
  'techniques.col.cycles': '周期',
  'techniques.col.exits': 'VM 退出或陷入',
  'techniques.col.kinds': '按种类',
  'techniques.presetNone': '无（每条指令一个周期）',
};

// Loaded with the comparison chart's chunk, not with the first screen.
registerMessages(techniquesEn, techniquesZh);
