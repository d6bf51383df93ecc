/**
 * Lesson 11's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the runs' (bt-popf, bt-smc and bt-adaptive under binary translation: the blocks, the
 * callouts, the writes, the sums the guests print), the translation cache's size, and the lab's
 * comparison of the techniques on Adams and Agesen's page-table benchmark (cycles per edit on
 * Prescott); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Binary translation',
  summary: 'The kernel that trap-and-emulate could not run correctly, under binary translation: predict what becomes of its POPF, what a translated block is made of, what happens when the guest rewrites its own code, and why a page-table write by callout beats a VM exit on the first VT-x processors.',
  scenarios: {
    popf: 'The POPF kernel under binary translation',
    smc: 'A loop that rewrites its own code',
    adaptive: 'A loop that keeps editing a page table',
  },
  steps: {
    translate: {
      title: 'The same kernel, translated',
      body: 'This is the kernel of the popf-trap example, unchanged. Under trap-and-emulate its POPFD in ring 1 left IF at 0 without a trap.\n\nHere the monitor runs the guest kernel from a translation cache of 256 KiB, as VMware\'s monitor did before VT-x. It translates the kernel\'s code one block at a time, up to a control transfer or an instruction it will not copy. Innocuous instructions are copied byte for byte. A direct branch becomes a jump to a block exit, which the monitor later chains straight to its target\'s translation. Privileged and sensitive instructions, and indirect transfers, become callouts: jumps into the monitor. The binary translation view shows the current block beside its translation.',
      hints: [],
      notes: 'The kernel still runs in ring 1, on its own registers, stack and data segments: only its code runs from the cache, on the monitor\'s code segment. That is why a copied instruction computes exactly what the guest\'s own would. User code (ring 3) would run directly, untranslated. Adams and Agesen (ASPLOS 2006) describe VMware\'s translator; the lab\'s caps a block at twelve instructions and never lets one cross a guest page.',
    },
    'predict-popf': {
      title: 'Predict: the POPFD',
      body: 'The kernel pushes EFLAGS, sets IF in the pushed copy, and loads it back with POPFD, still in ring 1.',
      prompt: 'What becomes of this POPFD under binary translation?',
      choices: {
        ignored: 'What became of it under trap-and-emulate: it runs in ring 1 and IF silently stays 0',
        trap: 'It faults (#GP) in ring 1 and the monitor emulates it',
        callout: 'The translator made it a callout: the monitor runs it, then sets the guest\'s IF from the popped value',
      },
      why: 'A callout. The translator reads every instruction before it runs, and it knows POPF is sensitive: in ring 1 it does not fault, yet it cannot do there what it does in ring 0. So its translation is a jump into the monitor, which runs the POPFD once where it stands in ring 1, then writes the guest\'s IF (and IOPL) from the value it popped. The guest prints P1, as on the bare machine.',
      hints: ['The translator decides for each instruction before it runs: copied, rewritten, or a callout.'],
      notes: 'This is what Popek and Goldberg\'s condition asks for and the x86 lacked: POPF, PUSHF, SGDT, SIDT, SMSW, STR, LAR, LSL and moves from CS or SS are sensitive but do not trap in ring 1. Binary translation does not need them to trap: it finds them in the code. The list the lab\'s translator uses is calloutReason in src/emu/hv/bt/translate.ts.',
    },
    popf: {
      title: 'The POPFD callout',
      body: 'Run the kernel to its POPFD.',
      act: 'Step (or play) until the monitor takes the POPFD callout.',
      done: 'The narration says the translated popfd is a callout, and the guest\'s IF is now 1. The binary translation view shows its block: pop eax, or eax and push eax are copied, and popfd is marked "callout: sensitive", translated as a JMP to a callout site at 0xFFD00000 or above: an address the monitor leaves unmapped, so that fetching there enters it.',
      hints: ['The narration says when a step ran a callout; the POPFD comes after the first report is printed.'],
      notes: 'VMware\'s translated code jumped into the monitor\'s own code; the lab uses a range of unmapped addresses, one per callout site, so that the fetch fault says which site was reached. Either way no guest-visible fault is taken: the cost is the monitor\'s, not an exception\'s.',
    },
    'predict-copied': {
      title: 'Predict: what is copied',
      body: 'The block that ends at that POPFD holds 4 guest instructions.',
      prompt: 'How many of them are copied into the translation byte for byte?',
      why: '3: POP EAX, OR EAX and PUSH EAX are innocuous, so their translated bytes are the guest\'s own. Only the POPFD, the last, is a callout, and a callout ends the block. The two byte columns of the view agree on those rows.',
      hints: ['Compare the guest bytes with the translated bytes, row by row.'],
      notes: 'Most kernel code is copied unchanged: that is why binary translation runs close to native speed between callouts. Rewritten branches cost a little (a block exit goes through the monitor once, then is chained); callouts cost the most.',
    },
    'predict-smc': {
      title: 'Predict: the guest rewrites its code',
      body: 'Another kernel: a loop writes its counter into the 32-bit immediate of a MOV a few bytes further on, then runs that MOV. The monitor has translated the MOV already, and has write-protected the guest page it came from in its shadow page tables.',
      prompt: 'The guest writes the immediate. What happens to the translated block?',
      choices: {
        stale: 'Nothing: the translation keeps the old immediate until the cache is flushed',
        dropped: 'The write faults into the monitor, which drops the blocks translated from that page; the code is translated again from the new bytes',
        every: 'From then on every instruction on that page becomes a callout',
      },
      why: 'The write to the protected page faults into the monitor: a code write. The monitor drops every block translated from that page, lifts the protection, lets the store run where it stands, and translates again from the bytes now in memory. The guest adds 3, 2 and 1 and prints 6, as on the bare machine.',
      hints: ['What did the monitor do to the page its translation came from?'],
      notes: 'Kernels rarely rewrite code, but they do load modules and patch themselves at boot, and the guest page may also be reused for data. Write-protecting translated pages is the same mechanism the shadow page tables use for page tables: a watched page whose writes the monitor must see.',
    },
    smc: {
      title: 'A code write caught',
      body: 'The second kernel loads.',
      act: 'Step until the monitor catches a code write.',
      done: 'The narration says a code write was caught and how many blocks were dropped; the list of blocks marks them dropped. Step on: the next translation of the loop shows the MOV with its new immediate.',
      hints: ['The first write comes in the first pass of the loop.'],
      notes: 'A write to an instruction later in the same block also takes effect: the monitor resumes at a fresh translation of the instruction after the store.',
    },
    'predict-cost': {
      title: 'Predict: callout or VM exit',
      body: 'A third kernel keeps editing a page-table word and reading through it. Under shadow paging every write to a guest page table must reach the monitor. On the first VT-x processors (Prescott) that means a VM exit. Under binary translation, once the store has faulted twice, the monitor translates it again as a callout.',
      prompt: 'On Prescott, which costs less per page-table edit (with its INVLPG)?',
      choices: {
        callout: 'Binary translation\'s callout',
        exit: 'VT-x\'s VM exit: it is done in hardware',
        same: 'About the same',
      },
      why: 'The callout. The lab\'s comparison of the techniques on Adams and Agesen\'s page-table benchmark gives 1999 cycles an edit under binary translation against 14903 under VT-x with shadow paging on Prescott: the exit and the entry alone cost thousands of cycles on that processor, while the callout stays inside the monitor. Hardware assists won this case only later, with faster exits and nested paging.',
      hints: ['A VM exit saves the whole guest state and loads the host\'s; a callout is a jump.'],
      notes: 'Run `lab techniques` for the whole table: system calls, I/O, page faults, page-table edits and plain computation under each technique. Adams and Agesen measured the same shape on real hardware (ASPLOS 2006): binary translation ahead of the first VT-x everywhere but system calls.',
    },
    adaptive: {
      title: 'An adaptive rewrite',
      body: 'The third kernel loads.',
      act: 'Step until the store is a page-table-write callout.',
      done: 'The narration told the adaptive rewrite: the store faulted twice on the page table, and its block was translated again with the store as a callout. The binary translation view marks it "callout: page-table write"; of the loop\'s 10 writes, 7 reach the monitor this way, without a fault.',
      hints: ['Watch the counter of adaptive rewrites in the view.'],
      notes: 'VMware called this adaptive binary translation: instructions that keep trapping are retranslated so they no longer trap. The first write here faults too, for another reason: it is the first touch of the page table\'s own page.',
    },
    summary: {
      title: 'Summary',
      body: 'Binary translation reads the guest kernel\'s code before it runs: it copies what is innocuous, chains direct branches, and turns privileged and sensitive instructions into callouts, so POPF and its kin behave as in ring 0, which trap-and-emulate could not achieve. It pays for translating, for protecting the pages it translated (a code write drops blocks) and for each callout; adaptive translation makes a store that keeps faulting a callout. Before nested paging this made binary translation faster than the first VT-x on page-table work and I/O.',
      hints: [],
      notes: 'The other answer to the x86\'s sensitive instructions was to change the guest: paravirtualization (Xen), where the kernel calls the hypervisor instead. Hardware assists made both unnecessary for correctness; nested paging made them unnecessary for speed.',
    },
  },
};

export const zh: Text = {
  title: '二进制翻译',
  summary: '陷入并模拟无法正确运行的那个内核，换用二进制翻译：预测它的 POPF 会怎样、翻译后的代码块由什么组成、客户机改写自己的代码时会发生什么，以及为什么在第一代 VT-x 处理器上，通过调出完成的页表写入比 VM 退出便宜。',
  scenarios: {
    popf: '二进制翻译下的 POPF 内核',
    smc: '改写自身代码的循环',
    adaptive: '不断修改页表的循环',
  },
  steps: {
    translate: {
      title: '同一个内核，经过翻译',
      body: '这是 popf-trap 示例中的内核，没有任何改动。在陷入并模拟下，它在特权级 1 执行的 POPFD 让 IF 保持为 0，而且没有陷入。\n\n这里，虚拟机监控器从 256 KiB 的翻译缓存运行客户机内核，就像 VT-x 出现之前 VMware 的虚拟机监控器那样。它一次翻译内核代码中的一个代码块，直到一次控制转移或一条它不复制的指令为止。无害的指令逐字节复制。直接跳转变成跳到块出口的跳转，虚拟机监控器随后把出口直接链接到目标的翻译。特权指令、敏感指令和间接转移变成调出：跳入虚拟机监控器。二进制翻译视图把当前代码块与其翻译并列显示。',
      hints: [],
      notes: '内核仍在特权级 1 运行，使用它自己的寄存器、栈和数据段：只有它的代码从翻译缓存运行，使用虚拟机监控器的代码段。所以复制的指令算出的结果与客户机自己的指令完全相同。用户代码（特权级 3）不经翻译直接运行。Adams 和 Agesen（ASPLOS 2006）描述了 VMware 的翻译器；本实验的翻译器每个代码块最多十二条指令，而且代码块从不跨越客户机页。',
    },
    'predict-popf': {
      title: '预测：POPFD',
      body: '内核压入 EFLAGS，在压入的副本中置上 IF，再用 POPFD 把它装回，仍在特权级 1。',
      prompt: '在二进制翻译下，这条 POPFD 会怎样？',
      choices: {
        ignored: '和陷入并模拟下一样：它在特权级 1 执行，IF 悄悄地保持为 0',
        trap: '它在特权级 1 产生故障（#GP），由虚拟机监控器模拟',
        callout: '翻译器把它变成了调出：虚拟机监控器执行它，再按弹出的值设置客户机的 IF',
      },
      why: '调出。翻译器在每条指令运行之前都读过它，知道 POPF 是敏感指令：它在特权级 1 不产生故障，却不能在那里做到它在特权级 0 所做的事。所以它的翻译是跳入虚拟机监控器，虚拟机监控器在特权级 1 原地执行一次这条 POPFD，再按弹出的值写入客户机的 IF（和 IOPL）。客户机打印 P1，与裸机上相同。',
      hints: ['翻译器在每条指令运行之前就决定：复制、改写，还是调出。'],
      notes: '这正是 Popek 与 Goldberg 的条件所要求而 x86 所缺的：POPF、PUSHF、SGDT、SIDT、SMSW、STR、LAR、LSL 以及从 CS 或 SS 的传送都是敏感指令，在特权级 1 却不陷入。二进制翻译不需要它们陷入：它在代码中找到它们。本实验翻译器使用的列表是 src/emu/hv/bt/translate.ts 中的 calloutReason。',
    },
    popf: {
      title: 'POPFD 调出',
      body: '把内核运行到它的 POPFD。',
      act: '单步（或播放），直到虚拟机监控器处理这条 POPFD 的调出。',
      done: '旁白说翻译后的 popfd 是一次调出，客户机的 IF 现在为 1。二进制翻译视图显示它所在的代码块：pop eax、or eax 和 push eax 是复制的，popfd 标为“调出：敏感指令”，翻译成一条跳到 0xFFD00000 或更高处的调出位置的 JMP：这是虚拟机监控器不映射的地址，在那里取指就进入虚拟机监控器。',
      hints: ['旁白会说明某一步执行了调出；POPFD 在第一次报告打印之后。'],
      notes: 'VMware 的翻译代码跳入虚拟机监控器自己的代码；本实验用一段不映射的地址，每个调出位置一个地址，这样取指故障就说明到达的是哪个位置。两种做法都不会产生客户机可见的故障：代价在虚拟机监控器，而不在异常。',
    },
    'predict-copied': {
      title: '预测：哪些被复制',
      body: '以这条 POPFD 结尾的代码块有 4 条客户机指令。',
      prompt: '其中有几条被逐字节复制进翻译？',
      why: '3 条：POP EAX、OR EAX 和 PUSH EAX 是无害的，所以它们翻译后的字节就是客户机自己的字节。只有最后一条 POPFD 是调出，而调出结束代码块。视图的两列字节在这几行上相同。',
      hints: ['逐行比较客户机字节与翻译后的字节。'],
      notes: '大多数内核代码原样复制：这就是二进制翻译在两次调出之间接近原生速度的原因。改写的跳转代价很小（块出口经过虚拟机监控器一次，然后被链接）；调出代价最大。',
    },
    'predict-smc': {
      title: '预测：客户机改写自己的代码',
      body: '另一个内核：一个循环把计数器写进几字节之后一条 MOV 的 32 位立即数，然后执行这条 MOV。虚拟机监控器已经翻译过这条 MOV，并在影子页表中把它所在的客户机页设为写保护。',
      prompt: '客户机写入立即数。翻译后的代码块会怎样？',
      choices: {
        stale: '什么也不发生：翻译保留旧的立即数，直到缓存被清空',
        dropped: '这次写入产生故障，进入虚拟机监控器，它丢弃从那个页翻译的代码块；代码按新的字节重新翻译',
        every: '从此那个页上的每条指令都变成调出',
      },
      why: '对受保护页的写入产生故障，进入虚拟机监控器：一次代码写入。虚拟机监控器丢弃从那个页翻译的每个代码块，解除保护，让这条存储指令原地执行，再按内存中现在的字节重新翻译。客户机把 3、2 和 1 相加，打印 6，与裸机上相同。',
      hints: ['虚拟机监控器对它翻译所来自的页做了什么？'],
      notes: '内核很少改写代码，但会加载模块、在启动时修补自己，客户机页也可能被重新用作数据。对已翻译的页做写保护，和影子页表对页表所用的机制相同：虚拟机监控器必须看到对被监视页的写入。',
    },
    smc: {
      title: '捕获到一次代码写入',
      body: '第二个内核加载了。',
      act: '单步，直到虚拟机监控器捕获一次代码写入。',
      done: '旁白说捕获到一次代码写入，以及丢弃了几个代码块；代码块列表把它们标为已丢弃。继续单步：循环的下一次翻译显示带有新立即数的 MOV。',
      hints: ['第一次写入发生在循环的第一遍。'],
      notes: '对同一代码块中后面一条指令的写入也会生效：虚拟机监控器从存储指令之后那条指令的新翻译处继续。',
    },
    'predict-cost': {
      title: '预测：调出还是 VM 退出',
      body: '第三个内核不断修改一个页表字并通过它读取。在影子页表下，对客户机页表的每次写入都必须到达虚拟机监控器。在第一代 VT-x 处理器（Prescott）上，这意味着一次 VM 退出。在二进制翻译下，这条存储指令产生两次故障之后，虚拟机监控器把它重新翻译成调出。',
      prompt: '在 Prescott 上，每次页表修改（连同它的 INVLPG）哪一种更便宜？',
      choices: {
        callout: '二进制翻译的调出',
        exit: 'VT-x 的 VM 退出：它由硬件完成',
        same: '差不多',
      },
      why: '调出。本实验在 Adams 和 Agesen 的页表基准上对各种技术的比较给出：二进制翻译下每次修改 1999 个周期，而 Prescott 上使用影子页表的 VT-x 是 14903 个周期：仅退出和进入在那款处理器上就要数千个周期，而调出始终在虚拟机监控器之内。硬件辅助直到后来有了更快的退出和嵌套分页，才在这一项上胜出。',
      hints: ['VM 退出要保存整个客户机状态并装入宿主机状态；调出只是一次跳转。'],
      notes: '运行 `lab techniques` 查看完整的表：系统调用、I/O、缺页异常、页表修改和纯计算在每种技术下的代价。Adams 和 Agesen 在真实硬件上测得同样的形态（ASPLOS 2006）：除系统调用外，二进制翻译都领先第一代 VT-x。',
    },
    adaptive: {
      title: '一次自适应改写',
      body: '第三个内核加载了。',
      act: '单步，直到这条存储指令成为页表写入调出。',
      done: '旁白讲述了这次自适应改写：这条存储指令在页表上产生了两次故障，它所在的代码块被重新翻译，存储指令成为调出。二进制翻译视图把它标为“调出：页表写入”；循环的 10 次写入中，有 7 次以这种方式到达虚拟机监控器，不产生故障。',
      hints: ['注意视图中自适应改写的计数。'],
      notes: 'VMware 称之为自适应二进制翻译：不断陷入的指令被重新翻译，从而不再陷入。这里第一次写入也产生故障，原因不同：那是第一次触及页表本身所在的页。',
    },
    summary: {
      title: '小结',
      body: '二进制翻译在客户机内核代码运行之前读它：复制无害的指令，链接直接跳转，把特权指令和敏感指令变成调出，于是 POPF 之类的指令表现得和在特权级 0 时一样，这是陷入并模拟做不到的。它要为翻译付出代价，为保护已翻译的页付出代价（代码写入会丢弃代码块），也为每次调出付出代价；自适应翻译把不断产生故障的存储指令变成调出。在嵌套分页出现之前，这使二进制翻译在页表操作和 I/O 上比第一代 VT-x 更快。',
      hints: [],
      notes: '应对 x86 敏感指令的另一种办法是修改客户机：半虚拟化（Xen），内核改为调用虚拟机监控器。硬件辅助使二者在正确性上不再必要；嵌套分页使它们在速度上也不再必要。',
    },
  },
};
