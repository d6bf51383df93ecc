/**
 * Lesson 7's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the run's (shadow.json under the lab's hypervisor: the faulting addresses and error
 * codes, the guest's entries, the exits and their qualification, the counts by reason, and those
 * of lesson 5's run of the same guest under EPT) or the reference tables' (exit reasons 0, 14 and
 * 28); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Shadow page tables: memory virtualization before EPT',
  summary: 'Run lesson 5\'s guest again with nested paging off, so the hypervisor keeps a shadow of its page tables; predict which accesses exit, what the guest reads from CR3, how a write to its own page table is handled, and who gets a page fault the guest\'s tables refuse.',
  scenarios: { shadow: 'Lesson 5\'s guest under VT-x with nested paging off: hidden faults, a CR3 read, an emulated page-table write, the guest\'s own #PF' },
  steps: {
    'one-table': {
      title: 'One table for two translations',
      body: 'This is lesson 5\'s guest, byte for byte, under VT-x, but with EPT turned off. The guest still keeps its own 4-level page tables and loads its own CR3. Its tables still map linear addresses to guest-physical addresses (GPAs), and the guest\'s RAM still sits at host-physical addresses (HPAs) the hypervisor chose.\n\nWithout nested paging the processor walks only one set of tables, so the hypervisor builds one that does both translations at once: a shadow page table, mapping the guest\'s linear addresses straight to HPAs. The real CR3 points at the shadow\'s root. The guest\'s own tables are never walked by the processor: the hypervisor reads them as data.\n\nThe shadow view shows the three side by side: the guest\'s walk, the hypervisor\'s GPA → HPA map, and the shadow entry built from the two.',
      hints: [],
      notes: 'This is how hypervisors virtualized the memory of unmodified guests before EPT (Nehalem, 2008) and AMD\'s nested paging (Barcelona, 2007), and how KVM still runs when nested paging is off (its "shadow MMU"). Paravirtualized Xen guests did without shadows: their tables held machine addresses, which Xen validated and updated through hypercalls. Draw the composition on the board: linear → GPA (guest\'s tables) then GPA → HPA (the hypervisor\'s map) becomes one shadow map linear → HPA.',
    },
    'predict-first': {
      title: 'Predict: the very first instruction',
      body: 'The shadow starts empty: the hypervisor fills it only on demand. The guest\'s first instruction is at a linear address its own tables map, but the shadow has no entry for it yet.',
      prompt: 'What happens when the processor fetches the first instruction?',
      choices: {
        walk: 'The processor walks the guest\'s tables instead, and the fetch succeeds',
        hidden: 'A page fault that exits to the hypervisor, which fills the shadow entry and resumes the guest',
        'guest-pf': 'A page fault delivered to the guest\'s own handler',
      },
      why: 'A page fault that exits. The processor walks the shadow, which has no entry, so it raises #PF; the hypervisor has set bit 14 of the exception bitmap, so the #PF becomes a VM exit. The hypervisor walks the guest\'s tables itself, finds that they allow the access, writes the shadow entry and resumes the guest, which never learns of it. This is a hidden page fault.',
      hints: ['Which tables does the processor walk under shadow paging?', 'Would it be right to show the guest a fault its own tables do not explain?'],
      notes: 'The wrong answer "walks the guest\'s tables" is what nested paging does (lesson 5). A guest that could see these faults would break: its own kernel would find a fault on a page that its tables map.',
    },
    'first-fault': {
      title: 'A hidden page fault',
      body: 'The guest is about to run its first instruction.',
      act: 'Step once, and watch the shadow view.',
      done: 'VM exit, reason 0 (EXIT_REASON_EXCEPTION_NMI): a #PF at 0x100000 with error code 0x10, an instruction fetch of a page not present in the shadow. The shadow view shows what the hypervisor did: it walked the guest\'s tables (a PML4E, a PDPTE and a PDE that maps a large page), found GPA 0x100000, looked up its HPA, and filled the shadow entry.\n\nIt also write-protected the 3 guest pages it read entries from: they hold page tables, and the hypervisor must see every write to them.',
      hints: ['Press → once.'],
      notes: 'The error code is the processor\'s, from the shadow walk: bit 4 (instruction fetch, reported because the guest runs with EFER.NXE set) set, bit 0 (present) clear. The inspector shows VM_EXIT_INTR_INFO with vector 14 (SDM Vol. 3C 28.2.2) and EXIT_QUALIFICATION holding the faulting address (28.2.1). The page-fault error-code mask and match are 0, so every #PF exits.',
    },
    'predict-touch': {
      title: 'Predict: a first write and a read',
      body: 'The next two instructions write PAGE_A, a page the guest has never touched, and then read it back.',
      prompt: 'How many VM exits do the two instructions make together?',
      why: '1. The write finds no shadow entry: one hidden fault, and the hypervisor fills the entry. The read finds the translation in the TLB, or at worst in the shadow: no exit.',
      hints: ['Is there a shadow entry for PAGE_A before the write? After it?'],
      notes: 'Press → twice with the class and confirm on the exit chart or in the narration.',
    },
    touches: {
      title: 'The fill, and the guest\'s dirty flag',
      body: 'Press → twice: the write to PAGE_A, then the read.\n\nThe write made 1 exit: a hidden fault at 0x80001000 with error code 0x2 (a write to a page not present in the shadow). The shadow view shows the guest\'s walk down to its PTE, the GPA 0x300000 it maps, the HPA the hypervisor keeps that page at (the same address, in this lab), and the shadow entry now holding it. The read made none.\n\nLook at the guest\'s PTE: 0x300063. The hypervisor set its accessed and dirty flags, as the processor would have done on bare metal. Under shadow paging the processor sets them in the shadow entry, which the guest never reads, so the hypervisor must do it in the guest\'s entry. It made the shadow entry writable only once the guest\'s dirty flag was set.\n\nOn the way it write-protected 2 more page-table pages.',
      hints: [],
      notes: 'A shadow entry filled for a read of a clean page stays read-only, so that the first write exits and the hypervisor can set the guest\'s dirty flag: that is the "emulates the accessed and dirty bits" of the textbooks.',
    },
    'predict-cr3': {
      title: 'Predict: the guest reads CR3',
      body: 'Now the guest edits its own tables. It finds them from CR3: mov rax, cr3. The real CR3 holds the shadow\'s root.',
      prompt: 'What value does the guest get in RAX?',
      choices: {
        shadow: 'The shadow\'s root, since that is what CR3 holds',
        guest: 'The CR3 the guest loaded: the read exits, and the hypervisor answers',
        fault: 'A #GP: the guest may not read CR3',
      },
      why: 'The guest\'s own CR3. The hypervisor sets "CR3-store exiting", so the read is a VM exit and the hypervisor writes the value the guest last loaded into RAX. Showing the shadow root would reveal the hypervisor and send the guest to edit a table that is not its own. Loads of CR3 exit too: the hypervisor switches to the shadow of the new address space.',
      hints: ['Who would the shadow root\'s address mean anything to?'],
      notes: 'CR3 loads are frequent: every context switch. Each is an exit under shadow paging, and the hypervisor keeps shadows for a few address spaces so that switching back is cheap (the shadow view counts root cache hits). Under nested paging, CR3 accesses need no exit at all.',
    },
    'cr3-read': {
      title: 'The CR3 read',
      body: 'The read of CR3 is a few instructions ahead: on the way, the first write to PAGE_B is one more hidden fault.',
      act: 'Step until the VM exit for mov rax, cr3.',
      done: 'VM exit, reason 28 (EXIT_REASON_CR_ACCESS). EXIT_QUALIFICATION 0x13 says: CR3, a MOV from the control register, into RAX. The hypervisor wrote the guest\'s CR3, 0x10000, into RAX and moved the guest\'s RIP past the instruction.',
      hints: ['Press → until the inspector shows a new exit reason.'],
      notes: 'SDM Vol. 3C, Table 28-3: bits 3:0 the control register, bits 5:4 the access type (1 = MOV from CR), bits 11:8 the general register.',
    },
    'predict-pt-write': {
      title: 'Predict: a write to the guest\'s page table',
      body: 'The guest now reads its tables through its own mappings (each table page it touches for the first time is one more hidden fault), and writes DEV\'s PTE: mov [rax + 0x18], rbx. That PTE\'s page holds a guest page table, so the hypervisor keeps any shadow entry for it read-only; the guest has not touched this page yet, so the shadow has no entry for it at all.',
      prompt: 'What happens at the write?',
      choices: {
        direct: 'It reaches the guest\'s table and nothing else; the shadow stays stale until the guest flushes',
        emulate: 'A page fault exits; the hypervisor makes the write for the guest and drops the shadow entries built from the changed entry',
        'guest-pf': 'The guest gets a page fault for writing a read-only page',
      },
      why: 'It exits, and the hypervisor makes the write. The write faults like any first touch (not present, error code 0x2). The hypervisor\'s walk of the guest\'s tables finds the write allowed, so it is not the guest\'s fault, but it lands in a guest page table, so the page must not simply be mapped writable. The hypervisor carries out the write, then drops any shadow entry that was built from the entry that changed, so the shadow can never hold a translation the guest\'s tables no longer give.',
      hints: ['Why did the hypervisor write-protect these pages in the first place?'],
      notes: 'Hypervisors differ in how they make the write. KVM decodes and emulates the instruction; this lab lets the one instruction run with the page opened and compares the page before and after, and says so in the exit\'s note. The result for the guest is the same.',
    },
    'pt-write': {
      title: 'The write, then INVLPG',
      body: 'The guest writes DEV\'s PTE and then, as the SDM prescribes after changing a present mapping, executes INVLPG on DEV.',
      act: 'Step until the VM exit for INVLPG. On the way, stop at the step after mov [rax + 0x18], rbx and look at the shadow view.',
      done: 'The write made an exit with reason 0 again, as any #PF. The shadow view marks the entry it changed, at guest-physical 0x16018, and calls the page read-only because it holds guest page tables: the hypervisor made the write, and 1 entry changed.\n\nThen INVLPG exited, reason 14 (EXIT_REASON_INVLPG). Under shadow paging this hypervisor intercepts every INVLPG and drops the shadow entry of that page, if there is one. Here there was none for 0x80003000: the guest had never touched DEV.',
      hints: ['Press → until the inspector shows EXIT_REASON_INVLPG.'],
      notes: 'Here every write to a guest page table is emulated, so the shadow is already up to date when INVLPG comes, and it finds nothing to do. Shadow MMUs that let the guest write some of its tables directly, such as KVM\'s unsync pages and Xen\'s out-of-sync shadows, catch up at INVLPG and at CR3 loads: that is why hypervisors intercept INVLPG under shadow paging.',
    },
    'predict-absent': {
      title: 'Predict: a page the guest never mapped',
      body: 'The guest reads DEV, whose PTE now names GPA 0x8000000, outside its RAM: the hypervisor handles that fault as MMIO, as it did under EPT. Then it reads ABSENT, whose PTE is not present in the guest\'s own tables. The shadow has no entry either, so the read faults and exits.',
      prompt: 'What does the hypervisor do with this fault?',
      choices: {
        fill: 'Fills the shadow entry and resumes: another hidden fault',
        inject: 'Injects a #PF into the guest: its own tables refuse the access',
        map: 'Gives the page some memory: the guest asked for it',
      },
      why: 'It injects a #PF. The hypervisor walks the guest\'s tables as for every fault and finds the PTE not present: the guest itself would fault on bare metal, so it must fault here. The hypervisor sets the guest\'s CR2 to the address and injects #PF with the error code the guest\'s walk gives. This is a true page fault.',
      hints: ['Whose tables refuse the access?', 'What would happen on bare metal?'],
      notes: 'Telling hidden from true faults is the heart of a shadow MMU: every #PF exits, and the hypervisor must decide for each one. KVM does the walk in software (its "paging_tmpl.h" walker) exactly like this.',
    },
    'true-fault': {
      title: 'A true page fault, and its delivery',
      body: 'The read of ABSENT is a few steps ahead.',
      act: 'Step until the guest takes its #PF.',
      done: '4 exits in one step. The first is the true fault: the hypervisor found ABSENT\'s PTE not present, set CR2 to 0x80004000 and injected #PF with error code 0. Delivering it touched three guest pages for the first time: the IDT gate at 0x20e0, the code segment\'s descriptor at 0x1008 and the stack at 0xfff8. Each was a hidden fault, and after each fill the hypervisor injected the #PF again. Then the guest\'s handler ran, as it would on bare metal.',
      hints: ['Press → until the trace or the inspector shows vector 14 delivered.'],
      notes: 'The IDT_VECTORING_INFO_FIELD of the three later exits holds the #PF being delivered: that is how a hypervisor knows it must inject it again (SDM Vol. 3C 28.2.4).',
    },
    cost: {
      title: 'What shadow paging costs',
      body: 'Run the guest to its HLT and compare with lesson 5. Under shadow paging it made 39 VM exits; under EPT, 26. Both runs share the 24 UART writes of the handler\'s message and the final HLT. The rest are the memory management: here 12 page-fault exits, 1 CR3 read and 1 INVLPG; under EPT, 1 EPT violation.\n\nThis guest touches only a few pages. A real kernel creating processes, forking and switching address spaces makes hidden faults, page-table writes and CR3 exits by the thousand. The figures below measured what that meant.',
      hints: [],
      notes: 'The chart of exits by reason shows the split. The comparison (example mm-workload) runs a guest with fork and context switches under both paging modes on both vendors; the pair view steps shadow and nested paging side by side.',
    },
    summary: {
      title: 'What you have seen',
      body: 'Without nested paging, the hypervisor builds a shadow page table that maps the guest\'s linear addresses straight to host-physical ones, and points the real CR3 at it. It fills the shadow on demand through hidden page faults, tells them from true ones by walking the guest\'s tables itself, and injects only the true ones. It write-protects the guest\'s page tables and makes every write to them itself, intercepts CR3 reads and loads and INVLPG, and sets the guest\'s accessed and dirty flags.\n\nAll of that is exits: nested paging moved it into the processor\'s walk, at the price of the longer walk of lesson 5.',
      hints: [],
      notes: 'Ask the room which workloads suffer most under shadow paging (many processes, frequent fork and exec, many page-table edits) and which under nested paging (large working sets with poor TLB reach). Hypervisors today use nested paging almost everywhere, with large pages to shorten the walk.',
    },
  },
};

export const zh: Text = {
  title: '影子页表：EPT 出现之前的内存虚拟化',
  summary: '关闭嵌套分页，再次运行第 5 课的客户机，由虚拟机监控器为它的页表维护一份影子；预测哪些访问会退出、客户机从 CR3 读到什么、它写自己的页表时如何处理，以及客户机页表拒绝的访问产生的缺页异常交给谁。',
  scenarios: { shadow: '关闭嵌套分页的 VT-x 下第 5 课的客户机：隐藏缺页异常、读取 CR3、模拟的页表写入、客户机自己的 #PF' },
  steps: {
    'one-table': {
      title: '一张页表，两次地址转换',
      body: '这是第 5 课的客户机，一个字节都没有改，仍在 VT-x 下运行，但关闭了 EPT。客户机仍然维护自己的 4 级页表，自己装入 CR3。它的页表仍然把线性地址映射到客户机物理地址（GPA），客户机内存仍然位于虚拟机监控器选定的宿主机物理地址（HPA）上。\n\n没有嵌套分页，处理器只遍历一套页表，所以虚拟机监控器构建一套同时完成两次转换的页表：影子页表，把客户机的线性地址直接映射到 HPA。真正的 CR3 指向影子页表的根。处理器从不遍历客户机自己的页表：虚拟机监控器把它们当作数据来读。\n\n影子页表视图把三者并排显示：客户机的遍历、虚拟机监控器的 GPA → HPA 映射，以及由这两者构建出的影子表项。',
      hints: [],
      notes: '在 EPT（Nehalem，2008 年）和 AMD 的嵌套分页（Barcelona，2007 年）出现之前，虚拟机监控器就是这样为未经修改的客户机虚拟化内存的；关闭嵌套分页时，KVM 至今仍这样运行（它的“影子 MMU”）。半虚拟化的 Xen 客户机不用影子页表：它们的页表存放机器地址，由 Xen 校验并通过超级调用更新。在黑板上画出这个组合：线性地址 → GPA（客户机页表），再 GPA → HPA（虚拟机监控器的映射），合成一张影子映射：线性地址 → HPA。',
    },
    'predict-first': {
      title: '预测：第一条指令',
      body: '影子页表一开始是空的：虚拟机监控器只在需要时才填入表项。客户机的第一条指令所在的线性地址在它自己的页表中有映射，但影子页表中还没有对应的表项。',
      prompt: '处理器取第一条指令时会发生什么？',
      choices: {
        walk: '处理器改为遍历客户机的页表，取指成功',
        hidden: '一次缺页异常引起退出，虚拟机监控器填入影子表项后让客户机继续运行',
        'guest-pf': '一次缺页异常，交给客户机自己的处理程序',
      },
      why: '一次引起退出的缺页异常。处理器遍历影子页表，没有找到表项，于是产生 #PF；虚拟机监控器在异常位图中设置了第 14 位，所以这次 #PF 变成一次 VM 退出。虚拟机监控器自己遍历客户机的页表，发现它们允许这次访问，就写入影子表项，让客户机继续运行，客户机对此一无所知。这就是隐藏缺页异常。',
      hints: ['在影子页表下，处理器遍历的是哪套页表？', '让客户机看到一个它自己的页表无法解释的故障，合适吗？'],
      notes: '错误答案“遍历客户机的页表”正是嵌套分页的做法（第 5 课）。如果客户机能看到这些故障，它就会出错：它自己的内核会在一个页表中有映射的页面上发现故障。',
    },
    'first-fault': {
      title: '隐藏缺页异常',
      body: '客户机即将执行它的第一条指令。',
      act: '单步执行一次，观察影子页表视图。',
      done: 'VM 退出，原因 0（EXIT_REASON_EXCEPTION_NMI）：0x100000 处的 #PF，错误码 0x10，即对一个在影子页表中不存在的页面取指令。影子页表视图显示了虚拟机监控器做的事：它遍历客户机的页表（一个 PML4E、一个 PDPTE 和一个映射大页的 PDE），得到 GPA 0x100000，查到它的 HPA，填入影子表项。\n\n它还对读取过表项的 3 个客户机页面设置了写保护：这些页面存放页表，虚拟机监控器必须看到对它们的每一次写入。',
      hints: ['按一次 →。'],
      notes: '错误码来自处理器对影子页表的遍历：第 4 位（取指令；客户机设置了 EFER.NXE，所以会报告这一位）置位，第 0 位（存在）为 0。检查器显示 VM_EXIT_INTR_INFO 中的向量 14（SDM 第 3C 卷 28.2.2 节），EXIT_QUALIFICATION 中是出错的地址（28.2.1 节）。缺页错误码的掩码和匹配值都是 0，所以每次 #PF 都会退出。',
    },
    'predict-touch': {
      title: '预测：第一次写和一次读',
      body: '接下来两条指令先写 PAGE_A（客户机从未访问过的页面），再把它读回来。',
      prompt: '这两条指令一共引起多少次 VM 退出？',
      why: '1 次。写操作找不到影子表项：一次隐藏缺页异常，虚拟机监控器填入表项。读操作在 TLB 中找到转换，最坏也在影子页表中找到：没有退出。',
      hints: ['写之前影子页表中有 PAGE_A 的表项吗？写之后呢？'],
      notes: '和全班一起按两次 →，在退出图表或解说中确认。',
    },
    touches: {
      title: '填入表项，以及客户机的脏位',
      body: '按两次 →：先是写 PAGE_A，然后是读。\n\n写操作引起了 1 次退出：0x80001000 处的隐藏缺页异常，错误码 0x2（写一个在影子页表中不存在的页面）。影子页表视图显示客户机一直遍历到 PTE、它映射的 GPA 0x300000、虚拟机监控器存放这一页的 HPA（在本实验室中地址相同），以及现在保存着它的影子表项。读操作没有引起退出。\n\n看看客户机的 PTE：0x300063。虚拟机监控器设置了它的访问位和脏位，就像裸机上处理器会做的那样。在影子页表下，处理器把这两位设置在影子表项中，而客户机从不读取影子表项，所以虚拟机监控器必须在客户机的表项中设置它们。只有在客户机的脏位置位之后，它才让影子表项可写。\n\n在这个过程中，它又对 2 个页表页面设置了写保护。',
      hints: [],
      notes: '为读一个干净页面而填入的影子表项保持只读，这样第一次写操作就会退出，虚拟机监控器可以设置客户机的脏位：这就是教科书中“模拟访问位和脏位”的含义。',
    },
    'predict-cr3': {
      title: '预测：客户机读取 CR3',
      body: '现在客户机要修改自己的页表。它从 CR3 找到它们：mov rax, cr3。真正的 CR3 存放的是影子页表的根。',
      prompt: '客户机在 RAX 中得到什么值？',
      choices: {
        shadow: '影子页表的根，因为 CR3 中存放的就是它',
        guest: '客户机装入的 CR3：读操作引起退出，由虚拟机监控器给出答案',
        fault: '#GP：客户机不允许读取 CR3',
      },
      why: '客户机自己的 CR3。虚拟机监控器设置了“CR3-store exiting”，所以读操作是一次 VM 退出，虚拟机监控器把客户机最近装入的值写入 RAX。给出影子页表的根会暴露虚拟机监控器，并让客户机去修改一张不属于它的页表。装入 CR3 也会退出：虚拟机监控器切换到新地址空间的影子页表。',
      hints: ['影子页表根的地址对谁才有意义？'],
      notes: '装入 CR3 很频繁：每次上下文切换都有。在影子页表下，每次都是一次退出，虚拟机监控器为几个地址空间保留影子页表，让切换回来时代价较小（影子页表视图统计了根缓存命中）。在嵌套分页下，访问 CR3 根本不需要退出。',
    },
    'cr3-read': {
      title: '读取 CR3',
      body: '读取 CR3 的指令就在前面几条：途中，第一次写 PAGE_B 又是一次隐藏缺页异常。',
      act: '单步执行，直到 mov rax, cr3 引起的 VM 退出。',
      done: 'VM 退出，原因 28（EXIT_REASON_CR_ACCESS）。EXIT_QUALIFICATION 0x13 表示：CR3，一次从控制寄存器读出的 MOV，目标是 RAX。虚拟机监控器把客户机的 CR3（0x10000）写入 RAX，并让客户机的 RIP 越过这条指令。',
      hints: ['按 →，直到检查器显示新的退出原因。'],
      notes: 'SDM 第 3C 卷表 28-3：第 3:0 位是控制寄存器，第 5:4 位是访问类型（1 = MOV from CR），第 11:8 位是通用寄存器。',
    },
    'predict-pt-write': {
      title: '预测：写客户机的页表',
      body: '客户机现在通过自己的映射读取它的页表（它第一次访问的每个页表页面又是一次隐藏缺页异常），然后写 DEV 的 PTE：mov [rax + 0x18], rbx。这个 PTE 所在的页面存放着客户机页表，所以虚拟机监控器让它的影子表项（如果有）保持只读；客户机还没有访问过这一页，所以影子页表中根本没有它的表项。',
      prompt: '写操作时会发生什么？',
      choices: {
        direct: '写入客户机的页表，别的什么也不发生；影子页表一直过时，直到客户机刷新',
        emulate: '一次缺页异常引起退出；虚拟机监控器替客户机完成写入，并丢弃由被修改表项构建的影子表项',
        'guest-pf': '客户机因为写只读页面而得到一次缺页异常',
      },
      why: '引起退出，由虚拟机监控器完成写入。和任何第一次访问一样，写操作产生故障（不存在，错误码 0x2）。虚拟机监控器遍历客户机页表，发现这次写是允许的，所以这不是客户机的故障；但它写的是客户机页表，所以不能简单地把这一页映射为可写。虚拟机监控器完成这次写入，再丢弃由被修改表项构建的影子表项，这样影子页表就绝不会保存客户机页表已不再给出的转换。',
      hints: ['虚拟机监控器当初为什么要对这些页面设置写保护？'],
      notes: '各个虚拟机监控器完成这次写入的方法不同。KVM 解码并模拟这条指令；本实验室让这一条指令在页面打开的情况下运行，比较页面前后的内容，并在退出的说明中写明这一点。对客户机来说结果相同。',
    },
    'pt-write': {
      title: '写入，然后是 INVLPG',
      body: '客户机写 DEV 的 PTE，然后按 SDM 对修改存在的映射之后的规定，对 DEV 执行 INVLPG。',
      act: '单步执行，直到 INVLPG 引起的 VM 退出。途中，在 mov [rax + 0x18], rbx 之后的那一步停下，看看影子页表视图。',
      done: '写操作又引起一次原因为 0 的退出，和任何 #PF 一样。影子页表视图标出了它修改的表项（客户机物理地址 0x16018），并说明这一页是只读的，因为它存放客户机页表：虚拟机监控器完成了这次写入，1 个表项被修改。\n\n接着 INVLPG 引起退出，原因 14（EXIT_REASON_INVLPG）。在影子页表下，这个虚拟机监控器拦截每一条 INVLPG，并丢弃这一页的影子表项（如果有）。这里 0x80003000 没有影子表项：客户机之前从未访问过 DEV。',
      hints: ['按 →，直到检查器显示 EXIT_REASON_INVLPG。'],
      notes: '这里对客户机页表的每一次写入都被模拟，所以 INVLPG 到来时影子页表已经是最新的，它无事可做。让客户机直接写部分页表的影子 MMU（例如 KVM 的 unsync 页、Xen 的 out-of-sync 影子页表）在 INVLPG 和装入 CR3 时补上这些修改：这就是虚拟机监控器在影子页表下拦截 INVLPG 的原因。',
    },
    'predict-absent': {
      title: '预测：客户机从未映射的页面',
      body: '客户机读取 DEV，它的 PTE 现在指向 GPA 0x8000000，在客户机内存之外：虚拟机监控器把这次故障当作 MMIO 处理，和在 EPT 下一样。然后它读取 ABSENT，这个页面的 PTE 在客户机自己的页表中标记为不存在。影子页表中也没有表项，所以读操作产生故障并引起退出。',
      prompt: '虚拟机监控器如何处理这次故障？',
      choices: {
        fill: '填入影子表项后继续运行：又一次隐藏缺页异常',
        inject: '向客户机注入 #PF：客户机自己的页表拒绝这次访问',
        map: '为这一页分配内存：客户机要用它',
      },
      why: '注入 #PF。和处理每次故障一样，虚拟机监控器遍历客户机的页表，发现 PTE 标记为不存在：在裸机上客户机自己也会产生故障，所以这里也必须产生故障。虚拟机监控器把客户机的 CR2 设为这个地址，并用客户机遍历得到的错误码注入 #PF。这就是真实缺页异常。',
      hints: ['是谁的页表拒绝了这次访问？', '在裸机上会发生什么？'],
      notes: '区分隐藏缺页异常和真实缺页异常是影子 MMU 的核心：每次 #PF 都会退出，虚拟机监控器必须逐一判断。KVM 正是这样用软件完成遍历的（它的“paging_tmpl.h”遍历器）。',
    },
    'true-fault': {
      title: '真实缺页异常及其投递',
      body: '读取 ABSENT 的指令在前面几步。',
      act: '单步执行，直到客户机接收它的 #PF。',
      done: '一步之中 4 次退出。第一次是真实缺页异常：虚拟机监控器发现 ABSENT 的 PTE 标记为不存在，把 CR2 设为 0x80004000，注入错误码为 0 的 #PF。投递它时第一次访问了三个客户机页面：0x20e0 处的 IDT 门、0x1008 处的代码段描述符和 0xfff8 处的栈。每一次都是隐藏缺页异常，每次填入表项之后，虚拟机监控器都再次注入 #PF。然后客户机的处理程序开始运行，就像在裸机上一样。',
      hints: ['按 →，直到跟踪或检查器显示投递了向量 14。'],
      notes: '后三次退出的 IDT_VECTORING_INFO_FIELD 中保存着正在投递的 #PF：虚拟机监控器正是据此知道必须再次注入它（SDM 第 3C 卷 28.2.4 节）。',
    },
    cost: {
      title: '影子页表的代价',
      body: '把客户机运行到它的 HLT，再与第 5 课比较。在影子页表下它引起了 39 次 VM 退出；在 EPT 下是 26 次。两次运行都有处理程序输出消息时的 24 次 UART 写入和最后的 HLT。其余的是内存管理：这里是 12 次缺页退出、1 次读取 CR3 和 1 次 INVLPG；在 EPT 下是 1 次 EPT 违例。\n\n这个客户机只访问了几个页面。一个真正的内核创建进程、fork、切换地址空间时，隐藏缺页异常、页表写入和 CR3 退出数以千计。下面的数字测量了这意味着什么。',
      hints: [],
      notes: '按退出原因分类的图表显示了这种构成。对比（示例 mm-workload）在两种分页方式、两家厂商下运行一个带 fork 和上下文切换的客户机；并排视图把影子页表和嵌套分页放在一起单步执行。',
    },
    summary: {
      title: '你看到了什么',
      body: '没有嵌套分页时，虚拟机监控器构建影子页表，把客户机的线性地址直接映射到宿主机物理地址，并让真正的 CR3 指向它。它通过隐藏缺页异常按需填入影子页表，自己遍历客户机的页表来区分隐藏缺页异常和真实缺页异常，只注入真实的那些。它对客户机的页表设置写保护，并亲自完成对它们的每一次写入，拦截 CR3 的读取和装入以及 INVLPG，还设置客户机的访问位和脏位。\n\n所有这些都是退出：嵌套分页把它们移进了处理器的页表遍历，代价是第 5 课中那种更长的遍历。',
      hints: [],
      notes: '请全班说说：哪些工作负载在影子页表下代价最高（进程多、fork 和 exec 频繁、页表修改多），哪些在嵌套分页下（工作集大、TLB 覆盖范围不足）。今天的虚拟机监控器几乎都使用嵌套分页，并用大页缩短遍历。',
    },
  },
};
