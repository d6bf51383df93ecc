/**
 * Lesson 10's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the runs' (the popf-trap and red-pill examples under the lab's trap-and-emulate monitor:
 * vectors, rings, IF, the descriptor-table bases, CR0, the TSS selector and CS the guest reads) or
 * teaching-facts.md's (Popek and Goldberg's year, Robin and Irvine's year and count, shown with
 * their source and grade by the step's citation); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Why classic x86 could not be trap-and-emulated',
  summary: 'Run a guest kernel deprivileged to ring 1 under a trap-and-emulate monitor: predict which of its instructions trap, see POPF lose the guest\'s IF without a fault, let SIDT and its kin reveal the monitor, and meet Robin and Irvine\'s list of sensitive instructions that x86 does not make privileged.',
  scenarios: {
    popf: 'A guest kernel in ring 1: STI and CLI trap, POPF does not',
    redpill: 'The red pill: SIDT, SGDT, SMSW and STR in ring 1',
  },
  steps: {
    'popek-goldberg': {
      title: 'Popek and Goldberg: a sufficient condition',
      body: 'In 1974 Popek and Goldberg said when a machine can be virtualized by trap-and-emulate: run the guest kernel with less privilege than it was written for, let each instruction that would read or change the real machine\'s control state trap to a monitor, and carry it out there on the guest\'s virtual state.\n\nTheir condition: every sensitive instruction (one that reads or changes control state, or behaves differently with privilege) is privileged (it traps when run without full privilege). The condition is sufficient, not necessary. A machine that meets it can be virtualized this way; one that fails it cannot be virtualized by trapping alone, but may be by other means. Classic x86, before VT-x and AMD-V, fails it. This lesson shows where.',
      hints: [],
      notes: 'Teach against misconception 7 of teaching-facts.md: "Popek and Goldberg is from the 1990s" and "it is an if-and-only-if". The paper appeared in Communications of the ACM in 1974, and the theorem gives a sufficient condition. Its model machine has no I/O and no interrupts. The textbook (Bugnion, Nieh and Tsafrir, chapter 2) restates it for modern machines.',
    },
    deprivileged: {
      title: 'The guest kernel in ring 1',
      body: 'This guest kernel was written for ring 0. The lab\'s trap-and-emulate monitor runs it in ring 1 and keeps ring 0 for itself; there is no VT-x or AMD-V. The ring view shows the monitor in ring 0 and the guest kernel in ring 1, believing it is in ring 0.\n\nIn ring 1 a privileged instruction raises #GP: CLI and STI, HLT, and IN and OUT too, since the monitor gives the guest an IOPL of 0. The #GP goes to the monitor, not to the guest. The monitor decodes the instruction, carries it out on the guest\'s virtual state (its virtual IF, its virtual UART), steps past it and returns to the guest with IRET.',
      hints: [],
      notes: 'The monitor lives at linear 0xFFC00000, behind segment limits the guest cannot widen; its shadow GDT and IDT "compress" the guest\'s rings (descriptors of DPL 0 run as DPL 1), and it shadows the guest\'s page tables. Ring 2 stays unused. VMware\'s monitor ran guest user code this way and used binary translation for the guest kernel (textbook, chapter 3).',
    },
    'predict-sti': {
      title: 'Predict: STI in ring 1',
      body: 'The kernel\'s first instruction is STI, to turn interrupts on.',
      prompt: 'What happens when the deprivileged kernel executes STI?',
      choices: {
        runs: 'It runs: the processor sets the real IF, and the guest now controls the machine\'s interrupts',
        traps: 'It raises #GP: the monitor sets the guest\'s virtual IF and returns past the STI',
        ignored: 'Nothing: in ring 1 STI is skipped without a fault',
      },
      why: 'It traps. STI is privileged unless CPL ≤ IOPL: in ring 1 with IOPL 0 it raises #GP. The monitor sees a #GP at an STI, sets the guest\'s virtual IF, advances past the instruction and returns with IRET. The real IF stays the monitor\'s to decide.',
      hints: ['STI and CLI compare CPL with IOPL. Which IOPL does the monitor give the guest?'],
      notes: 'This is the good case: STI and CLI are sensitive and privileged, so trapping works for them. Ask the class for other instructions of this kind (LGDT, LIDT, MOV to CR3, HLT).',
    },
    'sti-trap': {
      title: 'The first trap',
      body: 'Run to the first trap.',
      act: 'Press "Next VM exit" (or the X key) until the trap list shows a trap.',
      done: 'The trap list shows it: #GP (vector 13) at STI, from ring 1, emulated by the monitor, and the ring view says guest IF = 1. The guest goes on after the STI as if it had run.',
      hints: ['The first instruction traps: one step is enough.'],
      notes: 'In the same step the monitor also takes a page fault of its own (#PF) to fill its shadow page table: the guest never sees it. The trap list shows both, and the charts count them by what trapped.',
    },
    'predict-popf': {
      title: 'Predict: POPF in ring 1',
      body: 'The kernel prints "S" and its IF on the UART, then executes CLI (another trap: the monitor clears the virtual IF). Then it turns interrupts back on another way: PUSHF, set bit 9 (IF) in the copy on the stack, POPF. Finally it reads EFLAGS back with PUSHF and prints "P" and its IF.',
      prompt: 'What IF does the kernel read back after the POPF?',
      choices: {
        one: '1: POPF loaded the new EFLAGS, IF with it',
        trap: '1: POPF changes IF, so it traps and the monitor sets the virtual IF',
        zero: '0: in ring 1 POPF leaves IF as it was, without a fault',
      },
      why: '0. POPF is not privileged: when CPL > IOPL it loads the other flags and silently keeps IF. There is no fault, so the monitor never learns that the guest asked for interrupts: the guest believes they are on, the monitor that they are off. POPF does not break trap-and-emulate by faulting; it breaks it because it does not fault.',
      hints: ['With CPL > IOPL, does POPF raise #GP when it would change IF, or ignore that bit?'],
      notes: 'Misconception 6 of teaching-facts.md: "POPF breaks virtualization because it faults." It is the opposite. Real kernels save EFLAGS with PUSHF and restore them with POPF around critical sections, so a guest kernel under such a monitor would soon run with interrupts off for good. The SDM\'s POPF page lists the cases: IF changes only when CPL ≤ IOPL.',
    },
    'popf-lost': {
      title: 'The lost IF',
      body: 'Run the guest to its end.',
      act: 'Press "Next VM exit" (or the X key) until the guest halts.',
      done: 'The console shows "S1" and then "P0": IF was 1 after STI and is 0 after POPF. The same kernel on the bare machine prints "P1". The trap list has the STI, the CLI, the OUTs that printed and the final HLT, and no POPF: the monitor saw nothing.',
      hints: ['The OUTs that print trap too: several traps come before the end.'],
      notes: 'Step back to the POPF and look at the ring view: it narrates the step, "asked for IF = 1, the processor kept IF = 0", which it can only know by comparing the flags before and after. The monitor itself has no such view. Compare with lesson 3: under VT-x the same POPF runs in ring 0 of non-root operation and changes the guest\'s IF as on the bare machine.',
    },
    'red-pill': {
      title: 'Sensitive but not privileged',
      body: 'A second guest kernel, also in ring 1 under the monitor, uses SIDT, SGDT, SMSW and STR. They store the IDT and GDT registers, CR0\'s low bits and the task register. None of them is privileged: they run in any ring without a fault. Yet they are sensitive, because under the monitor the registers they read are the monitor\'s, not the guest\'s.\n\nThe monitor keeps its GDT at the start of its area, at linear 0xFFC00000, and its IDT 0x10000 bytes above. This kernel never loaded an IDT of its own.',
      hints: [],
      notes: 'This is the "red pill", Joanna Rutkowska\'s name for it: one unprivileged instruction that tells a guest it is not on the bare machine. A monitor cannot give the guest its own value for these registers without a trap, and there is no trap.',
    },
    'predict-sidt': {
      title: 'Predict: the base SIDT reads',
      body: 'The kernel runs SIDT first and compares the base with 0xD0000000: an IDT that high, the test goes, belongs to a monitor.',
      prompt: 'What base does SIDT store? (Type it in hex: 0x…)',
      why: '0xFFC10000, the monitor\'s IDT. SIDT does not trap, so the monitor cannot answer in its place, and the IDTR the processor holds is the monitor\'s. The kernel concludes that it runs inside a monitor.',
      hints: ['Where did the monitor put its IDT, relative to its area at 0xFFC00000?'],
      notes: 'Not every guest would notice, but any can: a malware sample or a licence check only needs SIDT. Monitors with binary translation hide these instructions by translating them; VT-x and AMD-V can make the descriptor-table instructions exit.',
    },
    'pill-taken': {
      title: 'What the guest found',
      body: 'Run the guest to its end.',
      act: 'Press "Next VM exit" (or the X key) until the guest halts.',
      done: 'The console says "inside a monitor". The registers hold what the unprivileged instructions read: EDI = 0xFFC10000 (SIDT), ESI = 0xFFC00000 (SGDT), EBX = 0x80010031 (SMSW: paging on, though this kernel never turned paging on), ECX = 0xFFF8 (STR: the monitor\'s TSS selector) and EBP = 0x9, the kernel\'s CS, whose low bits, the RPL, say ring 1. The trap list has only the OUTs that printed and the final HLT.',
      hints: ['Watch EDI, ESI, EBX, ECX and EBP in the registers view.'],
      notes: 'MOV from CS and PUSH CS are on Robin and Irvine\'s list for this reason: the selector\'s RPL shows the ring the code really runs in. The monitor turned paging on for its shadow page tables, so CR0.PG is set though the guest runs without paging.',
    },
    'robin-irvine': {
      title: 'Robin and Irvine\'s list',
      body: 'In 2000 Robin and Irvine went through the Pentium\'s instructions and listed those that are sensitive but not privileged, in two groups:\n\n• instructions that read sensitive registers: SGDT, SIDT, SLDT, SMSW, PUSHF, POPF;\n• instructions that check or use the protection system: LAR, LSL, VERR, VERW, POP, PUSH, CALL, JMP, INT n, RET, STR, and MOV to or from a segment register.\n\nThe paper counts 17; the list as other sources reproduce it names 18 mnemonics, so say "about 17". Each is a way for a deprivileged kernel to see through the monitor or to behave unlike on the machine it was written for, and a single one breaks Popek and Goldberg\'s condition.',
      hints: [],
      notes: 'The count is graded "partly" in teaching-facts.md: show the list, say "about 17", and never give the number alone. The sources panel shows the source and the grade.',
    },
    summary: {
      title: 'Summary',
      body: 'Trap-and-emulate needs every sensitive instruction to trap (Popek and Goldberg, 1974: a sufficient condition). Classic x86 has about 17 that do not: POPF silently keeps IF, and SIDT, SGDT, SMSW and STR show the monitor to the guest. There were three ways out: rewrite the guest kernel\'s code as it runs (binary translation, VMware), change the guest kernel to call the monitor (paravirtualization, Xen), or change the processor (VT-x and AMD-V). The comparison chart on this page runs them all on the same small workloads: run it and see which wins where.',
      hints: [],
      notes: 'The chart prices transitions and the monitor\'s work, not devices or memory; let the class find where binary translation beats first-generation VT-x (I/O, page faults, page-table edits) and where it loses (system calls). Lesson 13 returns to it.',
    },
  },
};

export const zh: Text = {
  title: '为什么经典 x86 无法陷入并模拟',
  summary: '在陷入并模拟的虚拟机监控器下运行一个被降权到特权级 1 的客户机内核：预测它的哪些指令会陷入，看 POPF 如何不引发故障就丢掉客户机的 IF，让 SIDT 等指令暴露虚拟机监控器，并认识 Robin 与 Irvine 列出的、x86 没有设为特权指令的敏感指令。',
  scenarios: {
    popf: '特权级 1 中的客户机内核：STI 和 CLI 陷入，POPF 不陷入',
    redpill: '红色药丸：特权级 1 中的 SIDT、SGDT、SMSW 和 STR',
  },
  steps: {
    'popek-goldberg': {
      title: 'Popek 与 Goldberg：一个充分条件',
      body: '1974 年，Popek 与 Goldberg 说明了一台机器在什么条件下可以用陷入并模拟的方法虚拟化：以低于其设计时的特权运行客户机内核，让每一条会读取或改变真实机器控制状态的指令都陷入虚拟机监控器，由它在客户机的虚拟状态上执行。\n\n他们的条件是：每一条敏感指令（读取或改变控制状态、或随特权不同而行为不同的指令）都是特权指令（在没有完全特权时执行会陷入）。这个条件是充分条件，而不是必要条件。满足它的机器可以这样虚拟化；不满足它的机器不能只靠陷入来虚拟化，但也许可以用别的方法。在 VT-x 和 AMD-V 出现之前，经典 x86 不满足这个条件。本课展示问题出在哪里。',
      hints: [],
      notes: '纠正 teaching-facts.md 中的第 7 条误解：“Popek 与 Goldberg 是 1990 年代的工作”以及“它是充要条件”。这篇论文 1974 年发表于 Communications of the ACM，定理给出的是充分条件。它的模型机器没有 I/O，也没有中断。教材（Bugnion、Nieh、Tsafrir，第 2 章）针对现代机器重新表述了它。',
    },
    deprivileged: {
      title: '特权级 1 中的客户机内核',
      body: '这个客户机内核是为特权级 0 编写的。本实验的陷入并模拟虚拟机监控器让它在特权级 1 运行，把特权级 0 留给自己；这里没有 VT-x 或 AMD-V。特权级视图显示虚拟机监控器在特权级 0，客户机内核在特权级 1，而内核以为自己在特权级 0。\n\n在特权级 1 中，特权指令会引发 #GP：CLI 和 STI、HLT，还有 IN 和 OUT，因为虚拟机监控器给客户机的 IOPL 是 0。这个 #GP 交给虚拟机监控器，而不是客户机。虚拟机监控器解码这条指令，在客户机的虚拟状态（它的虚拟 IF、虚拟 UART）上执行它，跳过它，再用 IRET 返回客户机。',
      hints: [],
      notes: '虚拟机监控器位于线性地址 0xFFC00000，藏在客户机无法扩大的段界限之后；它的影子 GDT 和影子 IDT 对客户机的特权级做“环压缩”（DPL 0 的描述符以 DPL 1 运行），它还为客户机的页表维护影子页表。特权级 2 不使用。VMware 的虚拟机监控器就这样运行客户机的用户代码，而对客户机内核使用二进制翻译（教材第 3 章）。',
    },
    'predict-sti': {
      title: '预测：特权级 1 中的 STI',
      body: '内核的第一条指令是 STI，用来打开中断。',
      prompt: '被降权的内核执行 STI 时会发生什么？',
      choices: {
        runs: '它照常执行：处理器设置真实的 IF，客户机从此控制机器的中断',
        traps: '它引发 #GP：虚拟机监控器设置客户机的虚拟 IF，并跳过这条 STI 返回',
        ignored: '什么也不发生：在特权级 1 中 STI 被跳过，不引发故障',
      },
      why: '它会陷入。除非 CPL ≤ IOPL，STI 是特权指令：在特权级 1、IOPL 为 0 时它引发 #GP。虚拟机监控器看到 STI 处的 #GP，设置客户机的虚拟 IF，跳过这条指令，再用 IRET 返回。真实的 IF 仍由虚拟机监控器决定。',
      hints: ['STI 和 CLI 会比较 CPL 与 IOPL。虚拟机监控器给客户机的 IOPL 是多少？'],
      notes: '这是好的情况：STI 和 CLI 既是敏感指令又是特权指令，所以陷入对它们有效。请学生举出同类的其他指令（LGDT、LIDT、写 CR3 的 MOV、HLT）。',
    },
    'sti-trap': {
      title: '第一次陷入',
      body: '运行到第一次陷入。',
      act: '按“下一次 VM 退出”（或 X 键），直到陷入列表中出现一次陷入。',
      done: '陷入列表显示了它：STI 处的 #GP（向量号 13），来自特权级 1，由虚拟机监控器模拟；特权级视图显示客户机 IF = 1。客户机在 STI 之后继续运行，就像 STI 真的执行过一样。',
      hints: ['第一条指令就会陷入：单步一次就够了。'],
      notes: '在同一步中，虚拟机监控器还因为自己的原因发生了一次缺页异常（#PF），用来填写影子页表：客户机看不到它。陷入列表两者都显示，图表按陷入的原因计数。',
    },
    'predict-popf': {
      title: '预测：特权级 1 中的 POPF',
      body: '内核在 UART 上输出“S”和它的 IF，然后执行 CLI（又一次陷入：虚拟机监控器清除虚拟 IF）。接着它用另一种方法重新打开中断：PUSHF，把栈上副本中的第 9 位（IF）置位，再 POPF。最后它用 PUSHF 读回 EFLAGS，输出“P”和它的 IF。',
      prompt: 'POPF 之后，内核读回的 IF 是多少？',
      choices: {
        one: '1：POPF 装入了新的 EFLAGS，IF 也在其中',
        trap: '1：POPF 要改变 IF，所以它陷入，由虚拟机监控器设置虚拟 IF',
        zero: '0：在特权级 1 中 POPF 不改变 IF，也不引发故障',
      },
      why: '0。POPF 不是特权指令：当 CPL > IOPL 时，它装入其他标志位，却悄悄保留 IF。没有故障，虚拟机监控器就永远不知道客户机要求打开中断：客户机以为中断开着，虚拟机监控器以为中断关着。POPF 破坏陷入并模拟，不是因为它引发故障，而恰恰是因为它不引发故障。',
      hints: ['当 CPL > IOPL 时，POPF 要改变 IF 会引发 #GP，还是忽略这一位？'],
      notes: 'teaching-facts.md 中的第 6 条误解：“POPF 破坏虚拟化是因为它会引发故障。”事实正相反。真实的内核在临界区前后用 PUSHF 保存、用 POPF 恢复 EFLAGS，所以在这样的虚拟机监控器下，客户机内核很快就会永远关着中断运行。SDM 中 POPF 一页列出了各种情况：只有 CPL ≤ IOPL 时 IF 才会改变。',
    },
    'popf-lost': {
      title: '丢失的 IF',
      body: '让客户机运行到结束。',
      act: '按“下一次 VM 退出”（或 X 键），直到客户机停机。',
      done: '控制台先显示“S1”，再显示“P0”：STI 之后 IF 为 1，POPF 之后 IF 为 0。同一个内核在裸机上输出“P1”。陷入列表中有 STI、CLI、输出字符的 OUT 和最后的 HLT，却没有 POPF：虚拟机监控器什么也没看到。',
      hints: ['输出字符的 OUT 也会陷入：结束之前还有好几次陷入。'],
      notes: '退回到 POPF 那一步，看特权级视图：它这样叙述这一步，“要求 IF = 1，处理器保留了 IF = 0”，这是它比较前后两步的标志位才知道的。虚拟机监控器自己没有这样的视角。与第 3 课对比：在 VT-x 下，同一条 POPF 在非根操作的特权级 0 中运行，会像在裸机上一样改变客户机的 IF。',
    },
    'red-pill': {
      title: '敏感，却不是特权指令',
      body: '第二个客户机内核同样在虚拟机监控器下的特权级 1 中运行，它使用 SIDT、SGDT、SMSW 和 STR。这些指令保存 IDT 和 GDT 寄存器、CR0 的低位以及任务寄存器。它们都不是特权指令：在任何特权级都能执行，不会引发故障。但它们是敏感指令，因为在虚拟机监控器下，它们读到的寄存器属于虚拟机监控器，而不是客户机。\n\n虚拟机监控器把它的 GDT 放在自己区域的开头，即线性地址 0xFFC00000，把 IDT 放在其上 0x10000 字节处。这个内核从未装入过自己的 IDT。',
      hints: [],
      notes: '这就是“红色药丸”，是 Joanna Rutkowska 起的名字：一条非特权指令就能让客户机知道自己不在裸机上。没有陷入，虚拟机监控器就无法为这些寄存器给客户机提供它自己的值，而这里恰恰没有陷入。',
    },
    'predict-sidt': {
      title: '预测：SIDT 读到的基址',
      body: '内核先执行 SIDT，把读到的基址与 0xD0000000 比较：按照这个测试的说法，位置这么高的 IDT 属于虚拟机监控器。',
      prompt: 'SIDT 保存的基址是多少？（请用十六进制输入：0x…）',
      why: '0xFFC10000，虚拟机监控器的 IDT。SIDT 不会陷入，所以虚拟机监控器无法代为回答，而处理器中的 IDTR 正是虚拟机监控器的。内核于是断定自己在虚拟机监控器中运行。',
      hints: ['相对于它位于 0xFFC00000 的区域，虚拟机监控器把 IDT 放在哪里？'],
      notes: '并不是每个客户机都会注意到，但任何客户机都能做到：恶意软件样本或许可证检查只需要一条 SIDT。使用二进制翻译的虚拟机监控器通过翻译这些指令来隐藏它们；VT-x 和 AMD-V 可以让描述符表指令引发 VM 退出。',
    },
    'pill-taken': {
      title: '客户机发现了什么',
      body: '让客户机运行到结束。',
      act: '按“下一次 VM 退出”（或 X 键），直到客户机停机。',
      done: '控制台显示“inside a monitor”。寄存器中保存着这些非特权指令读到的值：EDI = 0xFFC10000（SIDT），ESI = 0xFFC00000（SGDT），EBX = 0x80010031（SMSW：分页已开启，尽管这个内核从未开启分页），ECX = 0xFFF8（STR：虚拟机监控器的 TSS 选择子），EBP = 0x9，即内核的 CS，它的低位 RPL 表明特权级 1。陷入列表中只有输出字符的 OUT 和最后的 HLT。',
      hints: ['注意寄存器视图中的 EDI、ESI、EBX、ECX 和 EBP。'],
      notes: '正因如此，MOV 读 CS 和 PUSH CS 也在 Robin 与 Irvine 的清单上：选择子的 RPL 暴露了代码真正运行的特权级。虚拟机监控器为影子页表开启了分页，所以虽然客户机不使用分页，CR0.PG 仍然置位。',
    },
    'robin-irvine': {
      title: 'Robin 与 Irvine 的清单',
      body: '2000 年，Robin 与 Irvine 逐一检查了 Pentium 的指令，列出了那些敏感却不是特权指令的指令，分为两组：\n\n• 读取敏感寄存器的指令：SGDT、SIDT、SLDT、SMSW、PUSHF、POPF；\n• 检查或使用保护机制的指令：LAR、LSL、VERR、VERW、POP、PUSH、CALL、JMP、INT n、RET、STR，以及读写段寄存器的 MOV。\n\n论文给出的数目是 17；其他资料转引的清单中有 18 个助记符，所以应说“约 17 条”。每一条都让被降权的内核能够看穿虚拟机监控器，或表现得与在它原本面向的机器上不同；只要有一条，就破坏了 Popek 与 Goldberg 的条件。',
      hints: [],
      notes: '这个数目在 teaching-facts.md 中的评级是“部分核实”：要展示清单，说“约 17 条”，不要单独给出这个数字。来源面板显示出处和评级。',
    },
    summary: {
      title: '小结',
      body: '陷入并模拟要求每一条敏感指令都会陷入（Popek 与 Goldberg，1974：一个充分条件）。经典 x86 有约 17 条敏感指令不会陷入：POPF 悄悄保留 IF，SIDT、SGDT、SMSW 和 STR 向客户机暴露虚拟机监控器。出路有三条：在运行时改写客户机内核的代码（二进制翻译，VMware），修改客户机内核让它调用虚拟机监控器（半虚拟化，Xen），或者修改处理器（VT-x 和 AMD-V）。本页的比较图表在同样的小负载上运行它们：运行它，看看谁在哪里胜出。',
      hints: [],
      notes: '图表为切换和虚拟机监控器的工作计价，不模拟设备或内存；让学生找出二进制翻译在哪里胜过第一代 VT-x（I/O、缺页异常、修改页表），又在哪里落后（系统调用）。第 13 课会再讲到它。',
    },
  },
};
