/**
 * Lesson 13's words, English and Simplified Chinese, with instructor notes per step. Each myth is
 * one of teaching-facts.md's misconceptions (1, 9, 10 and 7), answered with the machine. Numbers
 * stated here are the runs' (tell.json under VT-x: the CPUID leaves and bit, the exit reason, CS,
 * EDI; the red-pill example) or teaching-facts.md's (Popek and Goldberg's year, Adams and Agesen's
 * forkwait figures, shown with their source and grade by the step's citation); lesson.test.ts finds
 * each one and checks it, and checks the chart question against compareTechniques.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Myths of the VT-x era',
  summary: 'Test four things often said about hardware-assisted virtualization against the machine: find the guest kernel in ring 0 of non-root operation rather than below a "ring −1", let a guest ask CPUID whether it is virtualized, run the techniques side by side to see where first-generation VT-x lost to binary translation, and read Popek and Goldberg\'s theorem for what it says.',
  scenarios: {
    tell: 'A guest under VT-x asks CPUID whether a hypervisor is present',
    redpill: 'The red pill under trap-and-emulate, with the comparison chart',
  },
  steps: {
    'ring-minus-one': {
      title: 'Myth: VT-x adds a ring −1',
      body: 'A common picture puts the hypervisor in "ring −1", a new ring below ring 0, with the guest kernel in ring 0 above it. VT-x adds no ring. It adds two modes of operation: the hypervisor runs in VMX root operation and the guest in VMX non-root operation, and each mode has the same rings 0 to 3. "Ring −1" is a nickname, and this lab is named after it.\n\nThe guest here is a small 64-bit kernel under VT-x. Where the processor runs shows both modes, each with its rings.',
      hints: [],
      notes: 'Misconception 1 of teaching-facts.md. The nickname is harmless as long as students know that nothing numbers a ring −1: CPL is still 0 to 3, and what distinguishes the hypervisor is the mode, which the VMCS and VM entries and exits switch. AMD-V says host mode and guest mode.',
    },
    'predict-cpl': {
      title: 'Predict: the guest kernel\'s ring',
      body: 'The hypervisor is about to enter the guest with VMLAUNCH. The guest kernel was written for ring 0, as in lesson 10, but now there is hardware assist.',
      prompt: 'At which CPL does the guest kernel run once VMLAUNCH has entered it?',
      choices: {
        minus: 'It runs in ring 0 while the hypervisor moves to ring −1 below it',
        zero: 'It runs in ring 0 of VMX non-root operation; the hypervisor keeps ring 0 of root operation',
        one: 'It runs in ring 1, deprivileged, as under trap-and-emulate',
      },
      why: 'Ring 0 of non-root operation. The guest kernel needs no deprivileging: it runs at CPL 0, so POPF, STI and the rest behave as on the bare machine, and what must reach the hypervisor exits by the VMCS\'s rules. The hypervisor is also at CPL 0, in root operation. No CPL is below 0.',
      hints: ['Is "ring −1" a value CPL can take?'],
      notes: 'Contrast with lesson 10, where the guest kernel ran in ring 1 and its CS showed RPL 1.',
    },
    launched: {
      title: 'In non-root operation, in ring 0',
      body: 'Enter the guest.',
      act: 'Step once.',
      done: 'VMLAUNCH entered the guest. Where the processor runs says VMX non-root operation, ring 0, and CS = 0x8: the guest kernel\'s code selector, RPL 0.',
      hints: ['VMLAUNCH is the first instruction: one step.'],
      notes: 'Before the step the drawing showed the hypervisor in ring 0 of root operation. Both are ring 0: the difference between them is the mode.',
    },
    'predict-bit': {
      title: 'Myth: a VM cannot tell it is virtualized',
      body: 'The guest runs CPUID with EAX = 1, the leaf of feature flags, and keeps ECX. Bit 31 of that ECX is the bit processors leave clear for operating systems on the bare machine; hypervisors set it. If it is set, the guest asks leaf 0x40000000, the hypervisors\' range, for a name and prints it.',
      prompt: 'What will bit 31 of ECX be?',
      choices: {
        clear: 'Clear: VT-x hides the hypervisor from the guest',
        set: 'Set: CPUID exits, and the hypervisor answers with bit 31 set',
        fault: 'CPUID faults: a guest in non-root operation may not ask',
      },
      why: 'Set. CPUID always exits under VT-x, so the hypervisor answers in the processor\'s place, and it says that it is there: bit 31 set, and its name in leaf 0x40000000. A guest that wants to know simply asks.',
      hints: ['Which of the guest\'s instructions always exits under VT-x?'],
      notes: 'Misconception 9 of teaching-facts.md. Even a hypervisor that cleared the bit could be found by timing: an exit costs hundreds or thousands of cycles, which RDTSC around CPUID shows. Linux prints "Hypervisor detected" at boot from this bit and leaf.',
    },
    'cpuid-exit': {
      title: 'The CPUID exit',
      body: 'Run to the first VM exit.',
      act: 'Press "Next VM exit" (or the X key).',
      done: 'The VMCS says exit reason 10, CPUID. The hypervisor reads the guest\'s EAX (leaf 1), fills EAX, EBX, ECX and EDX with its answer, bit 31 of ECX set, advances the guest\'s RIP past CPUID and resumes it.',
      hints: ['The first instruction after the entry is MOV; the second is CPUID.'],
      notes: 'The lab\'s hypervisor answers with the host\'s values and adds the hypervisor bit; in its own range, leaf 0x40000001 gives the version of its hypercall interface. Real hypervisors also hide features they do not virtualize.',
    },
    named: {
      title: 'The guest names its hypervisor',
      body: 'Run the guest to its end.',
      act: 'Press "Next VM exit" (or the X key) until the guest halts.',
      done: 'EDI holds leaf 1\'s ECX, 0x80020000: bit 31 set. The console shows RingMinus1, the name the lab\'s hypervisor gives in leaf 0x40000000. EBP holds the guest kernel\'s CS, 0x8: ring 0 throughout.',
      hints: ['Each character printed is an OUT, and each OUT an exit.'],
      notes: 'KVM answers leaf 0x40000000 with "KVMKVMKVM", Hyper-V with "Microsoft Hv", VMware with "VMwareVMware". Guest drivers use the name to turn on paravirtual features.',
    },
    'before-vtx': {
      title: 'Before VT-x: no bit to ask',
      body: 'This is the red pill of lesson 10: a guest kernel in ring 1 under a trap-and-emulate monitor, with no hardware assist. There was no CPUID bit to ask, and the monitor had no wish to be found, yet SIDT alone gave it away, without a trap. Either way a VM can tell: by asking, under VT-x, or by what the processor leaks, before it.',
      hints: [],
      notes: 'The chart below is offered with trap-and-emulate scenarios: it runs the same small workloads bare, under trap-and-emulate, under binary translation and under VT-x and AMD-V with shadow and nested paging.',
    },
    'predict-faster': {
      title: 'Myth: hardware assist is always faster',
      body: 'Run the comparison chart on this page, priced as first-generation VT-x (Pentium 4, Prescott). It runs five small loops: a system call, an IN from a port, a page fault the kernel handles, a page-table edit, and plain arithmetic.',
      prompt: 'On which workload does VT-x with shadow page tables take fewer cycles than binary translation?',
      choices: {
        syscall: 'The system call',
        in: 'The IN from a port',
        pgfault: 'The page fault',
        ptemod: 'The page-table edit',
      },
      why: 'The system call. Under VT-x the guest\'s INT and IRET run in ring 0 of non-root operation with no exit, at native speed, while binary translation must call out of its translation cache for both. On the other three, each VT-x exit and entry costs thousands of cycles on the first VT-x, and binary translation, which handles them in its own code without leaving the guest\'s address space, wins.',
      hints: ['Which workload needs no VM exit at all under VT-x?'],
      notes: 'Misconception 10 of teaching-facts.md. Re-run the chart priced as Core 2 and Broadwell: VT-x\'s exits get cheaper and its shadow-paging bars shrink, and nested paging removes most of the page-fault and page-table exits. The lab prices transitions and handler work only, not devices or memory.',
    },
    measured: {
      title: 'What Adams and Agesen measured',
      body: 'The chart is a model. Adams and Agesen measured real machines (ASPLOS 2006) and found the same shape: on forkwait, a loop of 40,000 fork and wait calls, the native run took 6.0 s, binary translation 36.9 s and first-generation VT-x 106.4 s; system calls alone ran at native speed under VT-x. These figures come from secondary sources quoting the paper, graded "partly": the sources panel shows where they come from.',
      hints: [],
      notes: 'VirtualBox\'s manual said the same of its software mode at the time. Hardware assist won later, once exits got cheaper and EPT and NPT removed the shadow page tables\' exits.',
    },
    'popek-goldberg': {
      title: 'Myth: Popek and Goldberg forbid virtualizing x86',
      body: 'Classic x86 fails Popek and Goldberg\'s condition, as lesson 10 showed: POPF and SIDT are sensitive but not privileged.',
      prompt: 'What follows from that?',
      choices: {
        impossible: 'x86 could not be virtualized until the processor changed: the theorem is an if-and-only-if',
        sufficient: 'Only that trapping alone does not suffice: the condition is sufficient, not necessary',
        outdated: 'Nothing: the theorem is from the 1990s and was about other machines',
      },
      why: 'Trapping alone does not suffice, and that is all. Popek and Goldberg (1974) gave a sufficient condition, not a necessary one. Binary translation virtualized unmodified x86 guests before VT-x existed, and on first-generation VT-x it was often the faster of the two, as the chart shows.',
      hints: ['Does "if every sensitive instruction is privileged, then a monitor can be built" say anything about machines where that fails?'],
      notes: 'Misconception 7 of teaching-facts.md. The theorem also assumes a machine without I/O or interrupts; its value is the vocabulary (sensitive, privileged, equivalence, resource control, efficiency).',
    },
    summary: {
      title: 'Summary',
      body: 'VT-x adds modes, not a ring: the guest kernel runs in ring 0 of non-root operation, and "ring −1" is a nickname. A VM can tell it is virtualized: under VT-x it asks CPUID, which says so in bit 31 of ECX; before VT-x the red pill found the monitor. Hardware assist was not always faster: first-generation VT-x lost to binary translation on everything that exits, and won on system calls. And Popek and Goldberg\'s condition is sufficient, from 1974: x86 failing it meant trapping alone would not do, not that x86 could not be virtualized.',
      hints: [],
      notes: 'Ask the class which of these myths the VMCS and the exit costs they met in lessons 3 and 7 already answered.',
    },
  },
};

export const zh: Text = {
  title: 'VT-x 时代的误解',
  summary: '用机器检验关于硬件辅助虚拟化的四种常见说法：看到客户机内核运行在非根操作的特权级 0，而不是在某个“ring −1”之下；让客户机用 CPUID 询问自己是否被虚拟化；把各种技术并排运行，看第一代 VT-x 在哪里输给二进制翻译；并按原意读懂 Popek 与 Goldberg 的定理。',
  scenarios: {
    tell: 'VT-x 下的客户机用 CPUID 询问是否有虚拟机监控器',
    redpill: '陷入并模拟下的红色药丸，以及比较图表',
  },
  steps: {
    'ring-minus-one': {
      title: '误解：VT-x 增加了一个 ring −1',
      body: '一种常见的图示把虚拟机监控器放在“ring −1”，即特权级 0 之下的一个新环，客户机内核在它上面的特权级 0。VT-x 并没有增加任何特权级。它增加的是两种操作模式：虚拟机监控器运行于 VMX 根操作，客户机运行于 VMX 非根操作，两种模式都有同样的特权级 0 到 3。“Ring −1”只是一个绰号，本实验室就以它命名。\n\n这里的客户机是 VT-x 下的一个小型 64 位内核。“处理器在哪里运行”显示了两种模式，以及各自的特权级。',
      hints: [],
      notes: 'teaching-facts.md 中的第 1 条误解。只要学生知道没有任何东西编号为 ring −1，这个绰号就无害：CPL 仍然是 0 到 3，区分虚拟机监控器的是模式，由 VMCS 以及 VM 进入和 VM 退出来切换。AMD-V 称之为宿主机模式和客户机模式。',
    },
    'predict-cpl': {
      title: '预测：客户机内核的特权级',
      body: '虚拟机监控器即将用 VMLAUNCH 进入客户机。客户机内核是为特权级 0 编写的，和第 10 课一样，但现在有了硬件辅助。',
      prompt: 'VMLAUNCH 进入客户机之后，客户机内核在哪个 CPL 运行？',
      choices: {
        minus: '它在特权级 0 运行，而虚拟机监控器移到它下面的 ring −1',
        zero: '它在 VMX 非根操作的特权级 0 运行；虚拟机监控器保有根操作的特权级 0',
        one: '它在特权级 1 运行，被降权，就像在陷入并模拟下一样',
      },
      why: '非根操作的特权级 0。客户机内核不需要降权：它在 CPL 0 运行，所以 POPF、STI 等指令的行为与在裸机上相同，必须交给虚拟机监控器的操作按 VMCS 的规则引发 VM 退出。虚拟机监控器也在 CPL 0，只是处于根操作。没有低于 0 的 CPL。',
      hints: ['“ring −1”是 CPL 可能取的值吗？'],
      notes: '与第 10 课对比：那里客户机内核运行在特权级 1，它的 CS 显示 RPL 1。',
    },
    launched: {
      title: '在非根操作中，在特权级 0',
      body: '进入客户机。',
      act: '单步一次。',
      done: 'VMLAUNCH 进入了客户机。“处理器在哪里运行”显示 VMX 非根操作、特权级 0，CS = 0x8：客户机内核的代码段选择子，RPL 0。',
      hints: ['VMLAUNCH 是第一条指令：单步一次。'],
      notes: '单步之前，图中显示虚拟机监控器在根操作的特权级 0。两者都是特权级 0：区别在于模式。',
    },
    'predict-bit': {
      title: '误解：虚拟机无法知道自己被虚拟化',
      body: '客户机在 EAX = 1（功能标志所在的叶）时执行 CPUID，并保存 ECX。这个 ECX 的第 31 位，处理器在裸机上留给操作系统、不置位；虚拟机监控器会把它置位。如果它已置位，客户机就查询虚拟机监控器范围中的叶 0x40000000，取得一个名字并输出。',
      prompt: 'ECX 的第 31 位会是什么？',
      choices: {
        clear: '未置位：VT-x 对客户机隐藏了虚拟机监控器',
        set: '置位：CPUID 引发 VM 退出，虚拟机监控器的回答中第 31 位置位',
        fault: 'CPUID 引发故障：非根操作中的客户机不能查询',
      },
      why: '置位。在 VT-x 下 CPUID 总会引发 VM 退出，所以由虚拟机监控器代替处理器回答，而它会说明自己的存在：第 31 位置位，叶 0x40000000 中给出它的名字。客户机想知道，只要问一下就行。',
      hints: ['在 VT-x 下，客户机的哪条指令总会引发 VM 退出？'],
      notes: 'teaching-facts.md 中的第 9 条误解。即使虚拟机监控器清除了这一位，也能通过计时发现它：一次 VM 退出要花数百到数千个周期，用 RDTSC 包住 CPUID 就能看出来。Linux 在启动时根据这一位和这个叶输出“Hypervisor detected”。',
    },
    'cpuid-exit': {
      title: 'CPUID 引发的 VM 退出',
      body: '运行到第一次 VM 退出。',
      act: '按“下一次 VM 退出”（或 X 键）。',
      done: 'VMCS 显示退出原因 10，即 CPUID。虚拟机监控器读取客户机的 EAX（叶 1），把它的回答填入 EAX、EBX、ECX 和 EDX，ECX 的第 31 位置位，再把客户机的 RIP 推进到 CPUID 之后，恢复客户机运行。',
      hints: ['进入之后的第一条指令是 MOV，第二条是 CPUID。'],
      notes: '本实验的虚拟机监控器用宿主机的值回答，并加上虚拟机监控器位；在它自己的范围中，叶 0x40000001 给出它的超级调用接口的版本。真实的虚拟机监控器还会隐藏它们不虚拟化的功能。',
    },
    named: {
      title: '客户机说出了虚拟机监控器的名字',
      body: '让客户机运行到结束。',
      act: '按“下一次 VM 退出”（或 X 键），直到客户机停机。',
      done: 'EDI 保存着叶 1 的 ECX，即 0x80020000：第 31 位置位。控制台显示 RingMinus1，这是本实验的虚拟机监控器在叶 0x40000000 中给出的名字。EBP 保存着客户机内核的 CS，即 0x8：自始至终都在特权级 0。',
      hints: ['每输出一个字符就是一条 OUT，每条 OUT 都引发一次 VM 退出。'],
      notes: 'KVM 对叶 0x40000000 的回答是“KVMKVMKVM”，Hyper-V 是“Microsoft Hv”，VMware 是“VMwareVMware”。客户机驱动根据这个名字启用半虚拟化功能。',
    },
    'before-vtx': {
      title: '在 VT-x 之前：没有可以询问的位',
      body: '这是第 10 课的红色药丸：一个客户机内核在陷入并模拟的虚拟机监控器下运行于特权级 1，没有硬件辅助。那时没有可以询问的 CPUID 位，虚拟机监控器也不想被发现，但仅凭 SIDT 就暴露了它，而且没有陷入。无论哪种情况，虚拟机都能知道：在 VT-x 下靠询问，在它之前靠处理器泄露的信息。',
      hints: [],
      notes: '下方的图表在陷入并模拟的场景中提供：它在裸机上、在陷入并模拟下、在二进制翻译下，以及在使用影子页表和嵌套分页的 VT-x 与 AMD-V 下运行同样的小负载。',
    },
    'predict-faster': {
      title: '误解：硬件辅助总是更快',
      body: '运行本页的比较图表，按第一代 VT-x（Pentium 4，Prescott）计价。它运行五个小循环：一次系统调用、一次端口 IN、一次由内核处理的缺页异常、一次页表修改，以及单纯的算术运算。',
      prompt: '在哪个负载上，使用影子页表的 VT-x 比二进制翻译用的周期更少？',
      choices: {
        syscall: '系统调用',
        in: '端口 IN',
        pgfault: '缺页异常',
        ptemod: '修改页表',
      },
      why: '系统调用。在 VT-x 下，客户机的 INT 和 IRET 在非根操作的特权级 0 中运行，没有 VM 退出，以本机速度执行；而二进制翻译必须为两者各从翻译缓存中调出一次。在其他三个负载上，第一代 VT-x 的每次 VM 退出和 VM 进入都要花数千个周期，而二进制翻译在自己的代码中处理它们，不离开客户机的地址空间，于是胜出。',
      hints: ['哪个负载在 VT-x 下完全不需要 VM 退出？'],
      notes: 'teaching-facts.md 中的第 10 条误解。按 Core 2 和 Broadwell 计价重新运行图表：VT-x 的 VM 退出变得更便宜，影子页表的条形缩短；嵌套分页则去掉了缺页异常和页表修改的大部分 VM 退出。本实验只为切换和处理工作计价，不模拟设备或内存。',
    },
    measured: {
      title: 'Adams 与 Agesen 的测量',
      body: '图表是一个模型。Adams 与 Agesen 在真实机器上做了测量（ASPLOS 2006），得到同样的形状：在 forkwait（40,000 次 fork 和 wait 调用的循环）上，本机运行用时 6.0 秒，二进制翻译 36.9 秒，第一代 VT-x 106.4 秒；只有系统调用在 VT-x 下以本机速度运行。这些数字来自转引该论文的二手资料，评级为“部分核实”：来源面板显示了它们的出处。',
      hints: [],
      notes: '当时 VirtualBox 的手册对它的软件模式也是这样说的。后来硬件辅助胜出了：VM 退出变得更便宜，EPT 和 NPT 去掉了影子页表带来的 VM 退出。',
    },
    'popek-goldberg': {
      title: '误解：Popek 与 Goldberg 禁止虚拟化 x86',
      body: '正如第 10 课所示，经典 x86 不满足 Popek 与 Goldberg 的条件：POPF 和 SIDT 是敏感指令，却不是特权指令。',
      prompt: '由此能得出什么？',
      choices: {
        impossible: '在处理器改变之前，x86 无法虚拟化：这个定理是充要条件',
        sufficient: '只能得出单靠陷入是不够的：这个条件是充分条件，而不是必要条件',
        outdated: '什么也得不出：这个定理出自 1990s，讲的是别的机器',
      },
      why: '单靠陷入是不够的，仅此而已。Popek 与 Goldberg（1974）给出的是充分条件，而不是必要条件。在 VT-x 出现之前，二进制翻译就已经虚拟化了未经修改的 x86 客户机；在第一代 VT-x 上，它往往还是两者中更快的一个，正如图表所示。',
      hints: ['“如果每条敏感指令都是特权指令，就能构造虚拟机监控器”这句话，对不满足这一点的机器说了什么吗？'],
      notes: 'teaching-facts.md 中的第 7 条误解。这个定理还假设机器没有 I/O 和中断；它的价值在于提供了一套概念（敏感、特权、等价性、资源控制、效率）。',
    },
    summary: {
      title: '小结',
      body: 'VT-x 增加的是模式，而不是特权级：客户机内核运行在非根操作的特权级 0，“ring −1”只是一个绰号。虚拟机能知道自己被虚拟化：在 VT-x 下它询问 CPUID，ECX 的第 31 位会说明；在 VT-x 之前，红色药丸就能找到虚拟机监控器。硬件辅助并不总是更快：第一代 VT-x 在所有会引发 VM 退出的操作上都输给了二进制翻译，只在系统调用上胜出。而 Popek 与 Goldberg 的条件是充分条件，出自 1974 年：x86 不满足它，意味着单靠陷入不行，而不是 x86 无法虚拟化。',
      hints: [],
      notes: '请学生想一想：这些误解中，哪些已经被他们在第 3 课和第 7 课中见过的 VMCS 和 VM 退出开销回答了。',
    },
  },
};
