/**
 * Lesson 5's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the run's (nested-walk.json under the lab's hypervisor: the grids' reference counts and
 * levels, the exits and the fault), the reference tables' (exit reason 48, EXITCODE 0x400, the EPT
 * violation qualification's bits) or the cited figure's (24); lesson.test.ts finds each one and
 * checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Nested paging and the two-dimensional walk',
  summary: 'Follow a guest\'s page walk under EPT, where every guest table reference is itself translated; predict how many references a first touch makes, what a TLB hit saves, and which faults reach the hypervisor.',
  scenarios: { nested: 'A guest with its own 4-level tables under EPT: first touches, an EPT violation, a guest #PF' },
  steps: {
    gpa: {
      title: 'Two translations, one walk',
      body: 'This guest runs under VT-x with EPT, Intel\'s nested paging. The guest kernel keeps its own 4-level page tables and loads its own CR3, with no exit: it believes it owns the machine\'s memory.\n\nIt does not. What the guest calls physical addresses are guest-physical addresses (GPAs). The hypervisor\'s EPT tables translate each GPA to a host-physical address (HPA), the address the memory really answers to.\n\nSo the guest\'s CR3 holds a GPA, and so does every entry of its tables: each points at the next table, or at the page, by its guest-physical address.',
      hints: [],
      notes: 'Draw the two maps on the board: linear → guest-physical (the guest\'s tables), guest-physical → host-physical (the EPT). Ask who owns which. AMD-V does the same with its nested page tables (NPT), rooted in the VMCB\'s nCR3.',
    },
    'predict-cr3': {
      title: 'Predict: reading the first guest entry',
      body: 'The guest writes to a page it has never touched. The TLB misses, and the processor starts the guest\'s walk at CR3.',
      prompt: 'What must the processor do before it can read the guest\'s PML4 entry?',
      choices: {
        direct: 'Nothing: CR3 gives the table\'s address in memory',
        nested: 'Translate CR3\'s guest-physical address through the EPT',
        exit: 'Exit to the hypervisor, which reads the entry for the guest',
      },
      why: 'It translates CR3 through the EPT. CR3 holds a guest-physical address, which memory does not answer to: the processor walks the EPT for it, gets the HPA of the guest\'s PML4 and reads the entry there. The same happens for every guest entry after it, and once more for the data\'s address at the end. All of it in hardware, with no exit.',
      hints: ['Whose address space is CR3\'s value in?', 'Nested paging exists so that guests can walk their own tables without the hypervisor.'],
      notes: 'The wrong answer "exit" is what shadow paging does on a table write: contrast it briefly; lesson 7 and the comparison chart come back to it.',
    },
    'predict-count': {
      title: 'Predict: references of a first touch',
      body: 'The guest\'s walk reads 4 entries: PML4E, PDPTE, PDE and PTE. The hypervisor maps the guest\'s RAM with 2-MiB pages in its EPT, so each nested walk here reads 3 EPT entries (PML4E, PDPTE and a PDE that maps the page), not 4.\n\nCount the nested walks: one for the GPA in CR3, one for the GPA in each of the guest\'s entries that points at a table, and one for the data\'s GPA at the end.',
      prompt: 'How many memory references does the walk of the first touch make, before the data access itself?',
      why: '19. There are 4 + 1 nested walks (the CR3 and each of the 4 guest entries hand on a GPA), each of 3 references, and the 4 guest entries themselves: 4·3 + 4 + 3 = 19. In general n guest levels under m nested levels make n·m + n + m = (n+1)(m+1)−1 references.',
      hints: ['Each guest entry costs one reference of its own, plus the nested walk that found it.', 'Do not forget the nested walk of the final GPA, the data\'s.'],
      notes: 'Write n·m + n + m on the board: n·m for the nested walks of the guest tables, n for the guest entries, m for the final nested walk. With 4-KiB nested pages it is 4·4 + 4 + 4 = 24, the figure usually quoted (some texts count the data access too and say 25).',
    },
    'first-touch': {
      title: 'The walk in the grid',
      body: 'Press → twice: mov rdi, PAGE_A, then mov dword [rdi], 1, the first touch of PAGE_A.\n\nThe grid shows the walk of that write. Each row is a guest level, and a last row for the data; each column is an EPT level, and a last column for the guest\'s own entry. The count line gives 19 references in the grid, with 4 guest levels and 4 EPT levels: at most 24. The EPT\'s PTE column stays empty, and each empty cell says why: the nested walk ended at a PDE that maps a 2-MiB page.\n\nThe count may add references outside the grid: the processor sets the accessed and dirty flags of the guest\'s entries, and each such write to a guest table is translated again.',
      hints: [],
      notes: 'If students press → once too often, the grid shows the next instruction\'s walks instead: the picker above the grid lists every walk of the step, and ← goes back one step.',
    },
    order: {
      title: 'In order: the nested walk first',
      body: 'Use the grid\'s ◀ and ▶|, or ▶ to play, to go through the references one by one: the detail line names each entry, its address and value.\n\nThe first row begins with the nested walk of CR3\'s GPA, left to right across the EPT levels; only then comes the guest\'s PML4E, in the guest column, read at the HPA that walk found. The guest entry holds the GPA of the next table, and the next row repeats the pattern: nested walk, then guest entry. The last row is the nested walk of the data\'s GPA.\n\nA guest entry can never be read before the nested walk of its own address: the walk is a chain, each reference needing the one before it.',
      hints: [],
      notes: 'Arrow keys on the grid\'s buttons move through the references without stepping the machine. Ask why the references cannot be made in parallel (each address depends on the value read before).',
    },
    'predict-hit': {
      title: 'Predict: the second touch',
      body: 'The next instruction, mov eax, [rdi], reads the same page. The first walk left a TLB entry that maps the guest\'s linear page straight to its HPA: the result of both translations together.',
      prompt: 'How many page-table references does the read make?',
      why: '0. The TLB holds the whole translation, linear to host-physical, so a hit skips both dimensions. Press → once: the grid now says that the TLB answered, and shows, greyed, the walk a miss would have made.',
      hints: ['What does a TLB entry map from, and to?'],
      notes: 'This is why nested paging is fast in practice despite the long walks: most accesses hit. The TLB entry is tagged (VPID) so it can survive exits: that is lesson 6.',
    },
    'predict-outside': {
      title: 'Predict: an entry outside the guest\'s RAM',
      body: 'Next the guest edits its own page tables: it points the PTE of DEV at the GPA 0x8000000, above its RAM, where the hypervisor has no EPT mapping. It executes INVLPG on DEV and then reads it. The guest\'s own walk succeeds: every guest entry is present.',
      prompt: 'What happens at the read?',
      choices: {
        'guest-pf': 'A page fault in the guest: the address is not backed',
        violation: 'A VM exit: the nested walk of the final GPA finds no mapping',
        nothing: 'Nothing: the guest reads whatever is in host memory there',
      },
      why: 'A VM exit, an EPT violation. The guest\'s tables are valid, so the guest has nothing to fault on; it is the EPT that has no entry for the GPA. Only the hypervisor can resolve that: it may back the address with memory, or, as here, treat it as a device and emulate the access (MMIO).',
      hints: ['Which tables lack an entry: the guest\'s or the hypervisor\'s?'],
      notes: 'Ask why the processor must not let the guest read host memory there: isolation. Under AMD-V the same access makes #VMEXIT(NPF), EXITCODE 0x400, with a page-fault-like error code in EXITINFO1 and the GPA in EXITINFO2.',
    },
    violation: {
      title: 'The EPT violation',
      body: 'The guest\'s read of DEV is a few instructions ahead.',
      act: 'Step until the VM exit, or use the grid\'s Run to: Next EPT violation.',
      done: 'VM exit, reason 48 (EXIT_REASON_EPT_VIOLATION). The grid marks where the walk stopped: in the last row, the nested walk of the data\'s GPA 0x8000000. GUEST_PHYSICAL_ADDRESS holds that GPA; the hypervisor handled the read as MMIO, and the guest read a value with every bit 1.',
      hints: ['Press → until the inspector shows an exit.', 'Or press the grid\'s button that runs to the next EPT violation.'],
      notes: 'Point out that the guest walk\'s own references were made first: the violation happens in the final nested walk. A GPA in a guest table entry that has no EPT mapping would fault earlier, in that row.',
    },
    'predict-qual': {
      title: 'Predict: the exit qualification',
      body: 'For an EPT violation, EXIT_QUALIFICATION says what kind of access it was and where in the walk it failed. Bit 0: a data read; bit 1: a data write; bit 2: an instruction fetch; bits 5 to 3: what the EPT entries allowed (here nothing, there was no mapping); bit 7: the guest linear address is valid; bit 8, when bit 7 is set: 1 for an access to the translated address itself, 0 for an access to a guest paging entry.',
      prompt: 'What value does EXIT_QUALIFICATION hold for this read? Answer in hex with 0x.',
      why: 'Bits 0, 7 and 8: 0x1 + 0x80 + 0x100 = 0x181. A data read, of a valid linear address, failing at the final GPA rather than at a guest table entry. The inspector decodes each bit.',
      hints: ['The access was a data read, by an instruction with a linear address.', 'It failed at the data\'s GPA, not at one of the guest\'s table entries.'],
      notes: 'SDM Vol. 3C, Table 28-7. With bit 8 clear, the hypervisor knows that the guest put a GPA without EPT mapping in a page-table entry, which usually means a bug or an attack rather than MMIO.',
    },
    'predict-absent': {
      title: 'Predict: a not-present guest entry',
      body: 'Last, the guest reads ABSENT, whose PTE in the guest\'s own tables is not present.',
      prompt: 'Who handles this fault?',
      choices: {
        'guest-pf': 'The guest: a #PF through its own IDT, with no exit',
        violation: 'The hypervisor: another EPT violation',
      },
      why: 'The guest. The guest\'s own table has no mapping, so the walk stops at its PTE and the processor delivers #PF, vector 14, to the guest kernel, as on bare metal. Nested paging does not intercept guest page faults: the guest manages its own address space.',
      hints: ['Whose table lacks the entry this time?'],
      notes: 'Contrast with shadow paging, where the hypervisor intercepts every guest #PF to find out whether its shadow tables are merely out of date.',
    },
    'guest-pf': {
      title: 'The guest\'s own page fault',
      body: 'The read of ABSENT comes after the exit.',
      act: 'Step until the guest\'s #PF, or use the grid\'s Run to: Next guest page fault.',
      done: 'A #PF, vector 14, at 0x80004000, and no VM exit. The grid shows the walk stopping at the guest\'s PTE after 16 references: the nested walks of CR3 and of 3 guest entries, and the 4 guest entries. The guest\'s handler prints its message through the UART, which does exit, once per byte.',
      hints: ['Press → until the inspector or the trace shows vector 14.', 'Or press the grid\'s button that runs to the next guest page fault.'],
      notes: 'The console line is the guest\'s, not the hypervisor\'s: the hypervisor never saw the fault.',
    },
    cost: {
      title: 'What the walk costs',
      body: 'With 4-KiB pages in both dimensions, a 2D walk makes up to 24 references where a native walk makes 4. Nested paging removes the exits of shadow paging, but it makes every TLB miss longer.\n\nHardware and hypervisors shorten it. Large nested pages end each nested walk early: 2-MiB pages gave 19 here. Page-walk caches keep upper-level entries of both dimensions, and a nested TLB keeps GPA-to-HPA translations, so most nested walks of a miss are skipped. The figures below are from the paper that measured these caches.',
      hints: [],
      notes: 'The figures are graded: read the source and grade under each one. The lab\'s walk caches are off by default, so the grid shows every reference; the comparison chart (example mm-workload) prices walks against shadow paging\'s exits.',
    },
    summary: {
      title: 'What you have seen',
      body: 'Under nested paging the guest\'s CR3 and table entries hold guest-physical addresses, so each of them is translated through the hypervisor\'s tables before the guest walk can go on: a two-dimensional walk of (n+1)(m+1)−1 references, 19 here with 2-MiB nested pages, 24 with 4-KiB pages in both. A TLB hit skips all of it.\n\nA GPA without nested mapping is the hypervisor\'s business: an EPT violation on VT-x, #VMEXIT(NPF) on AMD-V. A not-present entry in the guest\'s own tables is the guest\'s: its own #PF, with no exit.\n\nNext: tagged TLBs, which let those translations survive exits and switches between guests.',
      hints: [],
      notes: 'Ask the room which of the two faults a guest can cause on purpose, and which the hypervisor may cause on purpose (EPT violations for MMIO, for tracking dirty pages in live migration).',
    },
  },
};

export const zh: Text = {
  title: '嵌套分页与二维页表遍历',
  summary: '跟随客户机在 EPT 下的页表遍历：客户机页表的每一次引用本身都要再经过一次地址转换。预测第一次访问要做多少次内存引用、TLB 命中省下了什么，以及哪些故障会交给虚拟机监控器。',
  scenarios: { nested: 'EPT 下自带 4 级页表的客户机：第一次访问、一次 EPT 违例、一次客户机 #PF' },
  steps: {
    gpa: {
      title: '两次地址转换，一次遍历',
      body: '这个客户机在启用 EPT（Intel 的嵌套分页）的 VT-x 下运行。客户机内核维护自己的 4 级页表，自己装入 CR3，不会退出：它以为自己拥有整台机器的内存。\n\n其实不然。客户机所说的物理地址是客户机物理地址（GPA）。虚拟机监控器的 EPT 页表把每个 GPA 翻译为宿主机物理地址（HPA），内存真正响应的是这个地址。\n\n所以客户机的 CR3 存放的是 GPA，它页表中的每个表项也是：每个表项都用客户机物理地址指向下一级页表或页面。',
      hints: [],
      notes: '在黑板上画出两张映射：线性地址 → 客户机物理地址（客户机页表），客户机物理地址 → 宿主机物理地址（EPT）。问学生各归谁所有。AMD-V 用它的嵌套页表（NPT）做同样的事，其根在 VMCB 的 nCR3 中。',
    },
    'predict-cr3': {
      title: '预测：读取第一个客户机表项',
      body: '客户机写一个它从未访问过的页面。TLB 未命中，处理器从 CR3 开始遍历客户机页表。',
      prompt: '在读取客户机的 PML4 表项之前，处理器必须做什么？',
      choices: {
        direct: '什么都不用做：CR3 给出的就是页表在内存中的地址',
        nested: '通过 EPT 翻译 CR3 中的客户机物理地址',
        exit: '退出到虚拟机监控器，由它替客户机读出表项',
      },
      why: '通过 EPT 翻译 CR3。CR3 存放的是客户机物理地址，内存并不响应这个地址：处理器为它遍历 EPT，得到客户机 PML4 的 HPA，再从那里读出表项。之后的每个客户机表项都是如此，最后数据的地址还要再翻译一次。这一切都由硬件完成，没有退出。',
      hints: ['CR3 中的值属于谁的地址空间？', '嵌套分页的意义，就在于客户机无须虚拟机监控器就能遍历自己的页表。'],
      notes: '错误答案“退出”正是影子页表在客户机写页表时的做法：可以简单对比；第 7 课和对比图还会谈到它。',
    },
    'predict-count': {
      title: '预测：第一次访问的内存引用次数',
      body: '客户机页表遍历读取 4 个表项：PML4E、PDPTE、PDE 和 PTE。虚拟机监控器在 EPT 中用 2 MiB 页映射客户机内存，所以这里每次嵌套遍历读取 3 个 EPT 表项（PML4E、PDPTE 和一个映射该页的 PDE），而不是 4 个。\n\n数一数嵌套遍历：CR3 中的 GPA 一次，客户机每个指向页表的表项中的 GPA 各一次，最后数据的 GPA 再一次。',
      prompt: '第一次访问的页表遍历要做多少次内存引用（不含数据访问本身）？',
      why: '19。共有 4 + 1 次嵌套遍历（CR3 和 4 个客户机表项各交出一个 GPA），每次 3 次引用，再加上 4 个客户机表项本身：4·3 + 4 + 3 = 19。一般地，n 级客户机页表加 m 级嵌套页表需要 n·m + n + m = (n+1)(m+1)−1 次引用。',
      hints: ['每个客户机表项本身算一次引用，还要加上找到它的那次嵌套遍历。', '别忘了最后那个 GPA（数据的 GPA）的嵌套遍历。'],
      notes: '在黑板上写出 n·m + n + m：n·m 是客户机各级页表的嵌套遍历，n 是客户机表项，m 是最后的嵌套遍历。嵌套页为 4 KiB 时是 4·4 + 4 + 4 = 24，这是通常引用的数字（有些文献把数据访问也算上，说 25）。',
    },
    'first-touch': {
      title: '网格中的遍历',
      body: '按两次 →：先是 mov rdi, PAGE_A，再是 mov dword [rdi], 1，即第一次访问 PAGE_A。\n\n网格显示这次写操作的遍历。每一行是客户机的一级页表，最后一行是数据；每一列是 EPT 的一级，最后一列是客户机自己的表项。计数行给出网格中的 19 次引用，客户机 4 级、EPT 4 级：最多 24 次。EPT 的 PTE 一列是空的，每个空格子都注明了原因：嵌套遍历在映射 2 MiB 页的 PDE 处就结束了。\n\n计数中可能还有网格之外的引用：处理器设置客户机表项的访问位和脏位，每次这样写客户机页表，都要再翻译一次地址。',
      hints: [],
      notes: '如果学生多按了一次 →，网格显示的就是下一条指令的遍历：网格上方的选择框列出了这一步的所有遍历，← 可以后退一步。',
    },
    order: {
      title: '按顺序看：先做嵌套遍历',
      body: '用网格的 ◀ 和 ▶|，或用 ▶ 播放，逐个查看每次引用：详情行给出每个表项、它的地址和值。\n\n第一行从 CR3 中 GPA 的嵌套遍历开始，从左到右经过 EPT 的各级；然后才是客户机列中客户机的 PML4E，在那次遍历找到的 HPA 处读出。这个客户机表项存放下一级页表的 GPA，下一行重复同样的模式：先嵌套遍历，再读客户机表项。最后一行是数据 GPA 的嵌套遍历。\n\n客户机表项绝不可能在它自己地址的嵌套遍历之前读出：遍历是一条链，每次引用都依赖前一次。',
      hints: [],
      notes: '在网格的按钮上按方向键可以在引用之间移动，而不会让机器执行一步。问学生：为什么这些引用不能并行进行？（每个地址都取决于前一次读出的值。）',
    },
    'predict-hit': {
      title: '预测：第二次访问',
      body: '下一条指令 mov eax, [rdi] 读同一个页面。第一次遍历留下了一个 TLB 表项，它把客户机的线性页直接映射到 HPA：这是两次地址转换合起来的结果。',
      prompt: '这次读操作要做多少次页表引用？',
      why: '0。TLB 保存的是从线性地址到宿主机物理地址的完整转换，所以一次命中把两个维度都省掉了。按一次 →：网格现在说明是 TLB 给出了结果，并以灰色显示未命中时会进行的遍历。',
      hints: ['TLB 表项是从什么映射到什么？'],
      notes: '尽管遍历很长，嵌套分页在实践中仍然很快，原因就在这里：大多数访问都命中。TLB 表项带有标记（VPID），因此可以在退出之后保留下来：这是第 6 课的内容。',
    },
    'predict-outside': {
      title: '预测：指向客户机内存之外的表项',
      body: '接下来客户机修改自己的页表：它让 DEV 的 PTE 指向 GPA 0x8000000，这个地址在它的内存之上，虚拟机监控器没有为它建立 EPT 映射。它对 DEV 执行 INVLPG，然后读它。客户机自己的遍历会成功：客户机的每个表项都存在。',
      prompt: '读操作时会发生什么？',
      choices: {
        'guest-pf': '客户机中的缺页异常：这个地址没有内存支撑',
        violation: '一次 VM 退出：最后那个 GPA 的嵌套遍历找不到映射',
        nothing: '什么也不发生：客户机读到宿主机内存中那里的内容',
      },
      why: '一次 VM 退出，即 EPT 违例。客户机的页表是有效的，客户机没有理由产生故障；缺少表项的是 EPT。只有虚拟机监控器能解决这个问题：它可以为这个地址分配内存，也可以像这里一样把它当作设备，模拟这次访问（MMIO）。',
      hints: ['缺少表项的是哪一方的页表：客户机的，还是虚拟机监控器的？'],
      notes: '问学生：为什么处理器决不能让客户机读到宿主机那里的内存？隔离。在 AMD-V 下，同样的访问产生 #VMEXIT(NPF)，EXITCODE 为 0x400，EXITINFO1 中是类似缺页错误码的值，EXITINFO2 中是 GPA。',
    },
    violation: {
      title: 'EPT 违例',
      body: '客户机读取 DEV 的指令就在前面几条。',
      act: '单步执行直到 VM 退出，或使用网格中的“运行到：下一次 EPT 违例”。',
      done: 'VM 退出，原因 48（EXIT_REASON_EPT_VIOLATION）。网格标出了遍历停下的位置：最后一行，数据 GPA 0x8000000 的嵌套遍历。GUEST_PHYSICAL_ADDRESS 存放这个 GPA；虚拟机监控器把这次读当作 MMIO 处理，客户机读到的值每一位都是 1。',
      hints: ['按 →，直到检查器显示一次退出。', '或者按网格中运行到下一次 EPT 违例的按钮。'],
      notes: '指出客户机遍历自己的引用先完成了：违例发生在最后的嵌套遍历中。如果客户机表项中的 GPA 没有 EPT 映射，故障会更早发生，就在那一行。',
    },
    'predict-qual': {
      title: '预测：退出限定',
      body: '对于 EPT 违例，EXIT_QUALIFICATION 说明这是哪种访问、在遍历的哪里失败。第 0 位：数据读；第 1 位：数据写；第 2 位：取指令；第 5 到 3 位：EPT 表项允许的访问（这里什么也不允许，因为没有映射）；第 7 位：客户机线性地址有效；第 8 位（第 7 位置位时）：1 表示访问的是转换后的地址本身，0 表示访问的是客户机的页表项。',
      prompt: '这次读操作的 EXIT_QUALIFICATION 是什么值？请用带 0x 的十六进制作答。',
      why: '第 0、7、8 位：0x1 + 0x80 + 0x100 = 0x181。一次数据读，线性地址有效，失败在最后的 GPA，而不是客户机的某个页表项。检查器逐位解码了它。',
      hints: ['这是一次数据读，由一条带线性地址的指令发出。', '它失败在数据的 GPA 上，而不是客户机的某个页表项上。'],
      notes: 'SDM 第 3C 卷表 28-7。若第 8 位为 0，虚拟机监控器就知道客户机在页表项中放了一个没有 EPT 映射的 GPA，这通常意味着错误或攻击，而不是 MMIO。',
    },
    'predict-absent': {
      title: '预测：客户机表项不存在',
      body: '最后，客户机读取 ABSENT，它在客户机自己页表中的 PTE 不存在。',
      prompt: '由谁处理这个故障？',
      choices: {
        'guest-pf': '客户机：经由它自己的 IDT 产生 #PF，没有退出',
        violation: '虚拟机监控器：又一次 EPT 违例',
      },
      why: '客户机。客户机自己的页表没有映射，遍历停在它的 PTE，处理器向客户机内核投递 #PF（向量 14），和在裸机上一样。嵌套分页不拦截客户机的缺页异常：客户机自己管理自己的地址空间。',
      hints: ['这一次缺少表项的是谁的页表？'],
      notes: '与影子页表对比：那里虚拟机监控器要拦截客户机的每一次 #PF，以判断是否只是自己的影子页表过时了。',
    },
    'guest-pf': {
      title: '客户机自己的缺页异常',
      body: '读取 ABSENT 的指令在这次退出之后。',
      act: '单步执行直到客户机的 #PF，或使用网格中的“运行到：下一次客户机缺页异常”。',
      done: '#PF，向量 14，地址 0x80004000，没有 VM 退出。网格显示遍历在 16 次引用之后停在客户机的 PTE：CR3 和 3 个客户机表项的嵌套遍历，以及 4 个客户机表项。客户机的处理程序通过 UART 打印它的消息，而 UART 确实会退出，每个字节一次。',
      hints: ['按 →，直到检查器或跟踪显示向量 14。', '或者按网格中运行到下一次客户机缺页异常的按钮。'],
      notes: '控制台上的这一行是客户机打印的，而不是虚拟机监控器：虚拟机监控器根本没有看到这个故障。',
    },
    cost: {
      title: '遍历的代价',
      body: '两个维度都用 4 KiB 页时，一次二维遍历最多要做 24 次引用，而原生遍历只要 4 次。嵌套分页消除了影子页表的退出，却让每次 TLB 未命中都变长了。\n\n硬件和虚拟机监控器会缩短它。大的嵌套页让每次嵌套遍历提早结束：这里用 2 MiB 页得到 19 次。页遍历缓存保存两个维度的上层表项，嵌套 TLB 保存 GPA 到 HPA 的转换，所以一次未命中中的大多数嵌套遍历都可以跳过。下面的数字来自测量这些缓存的论文。',
      hints: [],
      notes: '这些数字都有评级：请看每个数字下面的来源和评级。本实验室的遍历缓存默认关闭，所以网格显示每一次引用；对比图（示例 mm-workload）把遍历的开销与影子页表的退出放在一起比较。',
    },
    summary: {
      title: '你看到了什么',
      body: '在嵌套分页下，客户机的 CR3 和页表项存放的是客户机物理地址，所以每一个都要先经过虚拟机监控器的页表翻译，客户机的遍历才能继续：这是一次需要 (n+1)(m+1)−1 次引用的二维遍历，这里嵌套页为 2 MiB 时是 19 次，两个维度都用 4 KiB 页时是 24 次。TLB 命中把这些全部省掉。\n\n没有嵌套映射的 GPA 归虚拟机监控器处理：在 VT-x 上是 EPT 违例，在 AMD-V 上是 #VMEXIT(NPF)。客户机自己页表中不存在的表项归客户机处理：它自己的 #PF，没有退出。\n\n下一课：带标记的 TLB，它让这些转换在退出和客户机切换之后仍能保留。',
      hints: [],
      notes: '请全班说说：两种故障中，哪一种客户机可以故意引起，哪一种虚拟机监控器可能故意引起（为 MMIO，或在热迁移中追踪脏页而产生的 EPT 违例）。',
    },
  },
};
