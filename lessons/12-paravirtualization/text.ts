/**
 * Lesson 12's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the runs' (pv-kernel and pv-unmodified under the lab's PV hypervisor: the hypercalls,
 * their numbers and requests, the failing instruction's address) or Xen's interface (INT 0x82, the
 * hypercall numbers in xen.h); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Paravirtualization',
  summary: 'Read the diff of a small kernel ported to a Xen-style hypervisor, predict what the unmodified kernel\'s CLI does in ring 1, follow the ported kernel\'s hypercalls, count how many write its page table, and see its "interrupts off" become a store to the shared info page.',
  scenarios: {
    pv: 'The kernel ported to the hypervisor (hypercalls)',
    unmodified: 'The same kernel before the port',
  },
  steps: {
    port: {
      title: 'One kernel, ported',
      body: 'Trap-and-emulate needs every sensitive instruction to trap, and on x86 some do not. Xen took another road: change the guest kernel. The kernel runs in ring 1 and never executes a privileged instruction; where it would, it asks the hypervisor with a hypercall, INT 0x82, the number in EAX and the arguments in EBX, ECX, EDX, ESI and EDI.\n\nThe kernel diff shows the port of the lab\'s small kernel. Each removed line of the unmodified kernel says what it became: LIDT became the hypercall set_trap_table, OUT to the console became console_io, and CLI became a plain store to the shared info page.',
      hints: [],
      notes: 'The kernel is one template with two versions (src/emu/hv/pv/kernel.ts); the diff is computed from the two sources, so it cannot drift from what runs. Barham et al. (SOSP 2003) report that porting Linux 2.4 to Xen touched about 3,000 lines, under 2% of the x86 code; the lab\'s kernel is small, so its diff is a large share of it.',
    },
    'predict-cli': {
      title: 'Predict: the unmodified kernel\'s CLI',
      body: 'The lab now runs the kernel before the port as a domain of the same hypervisor, in ring 1. Its first instruction is CLI, at 0x100000.',
      prompt: 'What happens when the unmodified kernel executes CLI here?',
      choices: {
        emulated: 'It traps, and the hypervisor emulates it, as a trap-and-emulate monitor would',
        ignored: 'Nothing: like POPF, it is silently ignored in ring 1',
        stops: 'It faults into the hypervisor, which stops the domain: a paravirtualized kernel must ask with a hypercall',
      },
      why: 'The hypervisor stops the domain. CLI is privileged: in ring 1 it faults (#GP) into the hypervisor, as under trap-and-emulate. But this hypervisor does not emulate privileged instructions; its interface is the hypercalls, and a kernel that still executes CLI was not ported. The run ends at CLI at 0x100000, the instruction and its address named.',
      hints: ['Is CLI privileged? And does this hypervisor emulate privileged instructions, or expect hypercalls?'],
      notes: 'Xen does emulate a few instructions for PV guests (some I/O, for instance, with I/O privilege), but the point of the design is that the kernel no longer relies on traps for its privileged work. The lab\'s hypervisor emulates none, so the failure is sharp and located.',
    },
    stopped: {
      title: 'Stopped at CLI',
      body: 'Step forward once.',
      act: 'Press "Step forward".',
      done: 'The hypercall view shows the failure: cli at 0x100000, not paravirtualized. No instruction retired: the hypervisor stopped the domain at its first.',
      hints: ['The failure happens at the very first instruction: one step is enough.'],
      notes: 'The same CLI on the bare processor runs in ring 0 and is fine: lab pv --kernel unmodified --bare prints the same console and results as the ported kernel under the hypervisor.',
    },
    'first-call': {
      title: 'The first hypercall',
      body: 'The ported kernel is loaded. Its first instructions read the shared info page\'s address from start_info and mask events with a store. Then it sets its trap table: a table of one entry, vector 0x80 for its system calls from ring 3, given to the hypervisor by set_trap_table.',
      act: 'Press "Next VM exit" until the task is done.',
      done: 'The hypercall list shows set_trap_table (number 0): vector 0x80 to the kernel\'s handler, INT allowed from ring 3, and the result 0. The hypervisor built the IDT gate itself, so a system call from ring 3 reaches the kernel in ring 1 with no hypervisor on its path.',
      hints: ['Every hypercall enters the hypervisor through INT 0x82: that is the exit to run to.'],
      notes: 'The IDT stays the hypervisor\'s: the guest never gets LIDT. The trap table is validated (the code segment must be the ring-1 one, vector 0x82 is refused), which is how the hypervisor keeps control.',
    },
    'predict-calls': {
      title: 'Predict: writing the page table',
      body: 'The kernel maps its first 4 MiB with one page table: 1024 entries, and the directory entry that points to the table. Under direct paging the tables are the processor\'s, so the kernel may not write them itself: they are read-only to it, and each write is checked by the hypervisor. The kernel queues the writes, then asks.',
      prompt: 'How many hypercalls write those 1025 entries?',
      why: '1: one mmu_update with 1025 requests. Batching is the point: one trip into the hypervisor, and it validates every request (the frame inside the domain\'s memory, no page table mapped writable) before it writes.',
      hints: ['Look at the diff: where the unmodified kernel stored each entry, what does the ported kernel do?'],
      notes: 'A shadow-paging monitor pays a trap per page-table write (lesson 7); here the guest batches. Xen also offers update_va_mapping for a single entry, which the kernel uses to make its table pages read-only before pinning them.',
    },
    batch: {
      title: 'One mmu_update',
      body: 'Run to the page table\'s hypercall.',
      act: 'Press "Next VM exit" until the task is done.',
      done: 'The hypercall list shows mmu_update (number 1): 1025 requests, 1025 validated and written, the first mapping 0x0 to 0x0 and the last the directory entry. The pinned tables are read-only to the kernel.',
      hints: ['It comes after two update_va_mapping calls and an mmuext_op that pins the tables.'],
      notes: 'If one request fails validation, Xen stops the batch there, writes the count done to success_count and returns -EINVAL; the lab does the same (its tests try a writable mapping of a page table).',
    },
    'predict-requests': {
      title: 'Predict: the requests',
      body: 'Each request of mmu_update is a pair (the machine address of an entry, its new value).',
      prompt: 'How many requests did that one hypercall carry?',
      why: '1025: the table\'s 1024 entries and the directory entry. After it, one mmuext_op loads CR3 with the new directory.',
      hints: ['The table\'s entries, and one more.'],
      notes: 'The whole run makes 12 hypercalls; the unmodified kernel\'s OUTs alone would have been one trap per character under trap-and-emulate.',
    },
    events: {
      title: 'Interrupts off, without a trap',
      body: 'The state view shows the shared info page. Its evtchn_upcall_mask is the kernel\'s interrupt flag, inverted: the kernel writes 1 for "interrupts off" and 0 for "on", plain stores to memory it shares with the hypervisor. No hypercall and no trap: the CLI and STI that trap-and-emulate must catch simply disappear. Events the hypervisor raises wait as pending bits until the mask is clear.',
      hints: [],
      notes: 'STI became a store of 0 and a check of evtchn_upcall_pending: if an event arrived while masked, the kernel makes any hypercall so that the hypervisor delivers it. The lab\'s hypervisor binds a virtual timer and a port to the domain itself; the example kernel registers no callback.',
    },
    summary: {
      title: 'Summary',
      body: 'Paravirtualization changes the guest instead of the processor: the kernel runs deprivileged and asks the hypervisor with hypercalls, so no sensitive instruction has to trap. An unported kernel fails at its first privileged instruction. Hypercalls batch work (one mmu_update for 1025 page-table writes), the page tables are the guest\'s own but validated and read-only to it, and the interrupt flag becomes a mask in shared memory.',
      hints: [],
      notes: 'The cost is the port itself, and a kernel that runs only on that hypervisor. Hardware assists (lessons 3 and 4) removed the need; paravirtual devices (virtio, lesson 8) kept the idea where it pays most.',
    },
  },
};

export const zh: Text = {
  title: '半虚拟化',
  summary: '阅读一个移植到 Xen 式虚拟机监控器上的小内核的差异，预测未修改内核的 CLI 在特权级 1 会怎样，跟随移植后内核的超级调用，数一数写页表用了几次超级调用，并看到它的“关中断”变成对共享信息页的一次存储。',
  scenarios: {
    pv: '移植到虚拟机监控器上的内核（超级调用）',
    unmodified: '移植之前的同一个内核',
  },
  steps: {
    port: {
      title: '一个内核，移植之后',
      body: '陷入并模拟要求每条敏感指令都陷入，而 x86 上有些敏感指令并不陷入。Xen 走了另一条路：修改客户机内核。内核运行在特权级 1，从不执行特权指令；本该执行的地方，它用超级调用请求虚拟机监控器：INT 0x82，编号放在 EAX，参数放在 EBX、ECX、EDX、ESI 和 EDI。\n\n内核差异展示了本实验小内核的移植。未修改内核中每一行被删去的代码都注明了它变成了什么：LIDT 变成超级调用 set_trap_table，向控制台的 OUT 变成 console_io，CLI 变成对共享信息页的一次普通存储。',
      hints: [],
      notes: '这个内核是一个模板的两个版本（src/emu/hv/pv/kernel.ts）；差异由两份源码算出，不会与实际运行的代码脱节。Barham 等人（SOSP 2003）报告，把 Linux 2.4 移植到 Xen 改动了约 3,000 行，不到 x86 相关代码的 2%；本实验的内核很小，差异在其中所占比例就大得多。',
    },
    'predict-cli': {
      title: '预测：未修改内核的 CLI',
      body: '现在本实验把移植之前的内核作为同一个虚拟机监控器的一个域运行，位于特权级 1。它的第一条指令是 0x100000 处的 CLI。',
      prompt: '未修改的内核在这里执行 CLI 时会发生什么？',
      choices: {
        emulated: '它陷入，虚拟机监控器像陷入并模拟的监控器那样模拟它',
        ignored: '什么也不发生：像 POPF 一样，它在特权级 1 被悄悄忽略',
        stops: '它产生故障进入虚拟机监控器，后者停止该域：半虚拟化内核必须用超级调用请求',
      },
      why: '虚拟机监控器停止该域。CLI 是特权指令：在特权级 1 它产生故障（#GP）进入虚拟机监控器，这一点与陷入并模拟相同。但这个虚拟机监控器不模拟特权指令；它的接口是超级调用，仍执行 CLI 的内核说明它没有被移植。运行在 0x100000 处的 CLI 结束，并指明了指令和地址。',
      hints: ['CLI 是特权指令吗？这个虚拟机监控器会模拟特权指令，还是只接受超级调用？'],
      notes: 'Xen 确实为半虚拟化客户机模拟少数指令（例如具有 I/O 特权时的部分 I/O），但这种设计的要点是内核的特权工作不再依赖陷入。本实验的虚拟机监控器一条也不模拟，所以失败干脆且位置明确。',
    },
    stopped: {
      title: '停在 CLI',
      body: '向前执行一步。',
      act: '按“前进一步”。',
      done: '超级调用视图显示了失败：0x100000 处的 cli，未经半虚拟化。没有任何指令执行完毕：虚拟机监控器在第一条指令处就停止了该域。',
      hints: ['失败发生在第一条指令：一步就够了。'],
      notes: '同一条 CLI 在裸机处理器上运行于特权级 0，没有问题：lab pv --kernel unmodified --bare 打印的控制台输出和结果与移植后内核在虚拟机监控器下的相同。',
    },
    'first-call': {
      title: '第一个超级调用',
      body: '移植后的内核已载入。它最初的几条指令从 start_info 读出共享信息页的地址，并用一次存储屏蔽事件。然后它设置陷阱表：只有一项的表，向量号 0x80 用于来自特权级 3 的系统调用，通过 set_trap_table 交给虚拟机监控器。',
      act: '反复按“下一次 VM 退出”，直到任务完成。',
      done: '超级调用列表显示 set_trap_table（编号 0）：向量号 0x80 指向内核的处理程序，允许特权级 3 执行 INT，结果为 0。中断描述符表的门由虚拟机监控器自己建立，因此来自特权级 3 的系统调用直接进入特权级 1 的内核，途中不经过虚拟机监控器。',
      hints: ['每个超级调用都经 INT 0x82 进入虚拟机监控器：运行到这种退出即可。'],
      notes: '中断描述符表仍属于虚拟机监控器：客户机从未得到 LIDT。陷阱表要经过验证（代码段必须是特权级 1 的，向量号 0x82 会被拒绝），虚拟机监控器正是这样保持控制的。',
    },
    'predict-calls': {
      title: '预测：写页表',
      body: '内核用一个页表映射它的前 4 MiB：1024 个表项，再加上指向这个页表的页目录项。在直接分页下，这些表就是处理器使用的表，所以内核不能自己写它们：它们对内核只读，每次写都由虚拟机监控器检查。内核先把写请求排好队，然后再请求。',
      prompt: '写这 1025 个表项用了几次超级调用？',
      why: '1 次：一次带 1025 个请求的 mmu_update。批处理正是关键：只进入虚拟机监控器一次，它在写之前验证每个请求（页帧在该域的内存内，不把任何页表映射为可写）。',
      hints: ['看看差异：未修改的内核逐个存储表项的地方，移植后的内核做了什么？'],
      notes: '影子页表的监控器每写一次页表就要付出一次陷入（第 7 课）；这里是客户机自己批处理。Xen 还提供只改一个表项的 update_va_mapping，内核在固定页表之前用它把页表所在页设为只读。',
    },
    batch: {
      title: '一次 mmu_update',
      body: '运行到写页表的那个超级调用。',
      act: '反复按“下一次 VM 退出”，直到任务完成。',
      done: '超级调用列表显示 mmu_update（编号 1）：1025 个请求，1025 个经验证后写入，第一个把 0x0 映射到 0x0，最后一个是页目录项。已固定的页表对内核只读。',
      hints: ['它在两次 update_va_mapping 和一次固定页表的 mmuext_op 之后。'],
      notes: '若某个请求未通过验证，Xen 就在那里停止这一批，把已完成的数目写入 success_count 并返回 -EINVAL；本实验也是如此（它的测试尝试把页表映射为可写）。',
    },
    'predict-requests': {
      title: '预测：请求的个数',
      body: 'mmu_update 的每个请求是一对值（表项的机器地址，它的新值）。',
      prompt: '那一次超级调用带了多少个请求？',
      why: '1025 个：页表的 1024 个表项和页目录项。之后，一次 mmuext_op 把新页目录装入 CR3。',
      hints: ['页表的表项，再加一个。'],
      notes: '整个运行共发出 12 次超级调用；而在陷入并模拟下，单是未修改内核的 OUT 就会每个字符陷入一次。',
    },
    events: {
      title: '关中断，却没有陷入',
      body: '状态视图显示了共享信息页。其中的 evtchn_upcall_mask 就是内核的中断标志，只是取反：内核写 1 表示“关中断”，写 0 表示“开中断”，都是对它与虚拟机监控器共享的内存的普通存储。没有超级调用，也没有陷入：陷入并模拟必须捕获的 CLI 和 STI 就这样消失了。虚拟机监控器发出的事件以待处理位的形式等待，直到屏蔽被清除。',
      hints: [],
      notes: 'STI 变成存储 0 并检查 evtchn_upcall_pending：若屏蔽期间有事件到达，内核随便发一个超级调用，让虚拟机监控器把它投递进来。本实验的虚拟机监控器绑定了一个虚拟定时器和一个指向本域的端口；示例内核没有注册回调。',
    },
    summary: {
      title: '小结',
      body: '半虚拟化修改的是客户机而不是处理器：内核降权运行，用超级调用请求虚拟机监控器，因此没有敏感指令需要陷入。未移植的内核会在第一条特权指令处失败。超级调用可以批处理工作（一次 mmu_update 完成 1025 次页表写），页表是客户机自己的，但经过验证且对它只读，中断标志变成共享内存中的一个屏蔽位。',
      hints: [],
      notes: '代价是移植本身，以及一个只能在那个虚拟机监控器上运行的内核。硬件辅助（第 3、4 课）消除了这种需要；半虚拟化设备（virtio，第 8 课）则把这个思想保留在收益最大的地方。',
    },
  },
};
