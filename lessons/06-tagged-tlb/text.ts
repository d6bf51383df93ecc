/**
 * Lesson 6's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the two runs' (tagged.json and untagged.json under the lab's hypervisor) or the
 * reference tables' (TLB_CONTROL values, exit reasons); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Tagged TLBs: VPID, ASID and what a world switch flushes',
  summary: 'Watch a guest\'s TLB entries survive a VM exit when they carry a VPID, and vanish at every exit and entry when they do not; predict how the hypervisor carries out an intercepted INVLPG, and what an untagged AMD-V hypervisor writes to TLB_CONTROL.',
  scenarios: { tagged: 'The same guest with VPID: reads, CPUID, reads, INVLPG', untagged: 'The same guest without VPID: every exit and entry flushes' },
  steps: {
    tlb: {
      title: 'A TLB entry is a cached translation',
      body: 'Each time the processor translates a linear address by walking the page tables, it keeps the result in the TLB, so the next access to that page needs no walk. The TLB view lists the entries it holds and counts hits and misses.\n\nUnder a hypervisor two translations exist for the same linear address: the guest\'s (through its own page tables and then EPT) and the host\'s (through the hypervisor\'s tables). Linear address 0x300000 can mean one page to the guest and quite another to the host. An entry filled while the guest ran must never answer a lookup made by the host, nor the other way round.\n\nThis guest reads three pages, 0x300000, 0x301000 and 0x302000, exits on CPUID, reads the same three again, and then invalidates one of them with INVLPG.',
      hints: [],
      notes: 'Recall lesson 2: the TLB caches the result of a walk, and a MOV to CR3 or INVLPG is how software tells it an entry is stale. The TLB is not coherent with the page tables: software must invalidate.\n\nUnder EPT an entry of the guest holds a combined mapping: guest-linear straight to host-physical (SDM Vol. 3C, 29.4.1).',
    },
    'predict-flush': {
      title: 'Predict: without a tag',
      body: 'Suppose the TLB\'s entries say nothing about whose translations they are. The processor switches from the guest to the host at every VM exit and back at every VM entry.',
      prompt: 'What must the processor do at each VM entry and VM exit?',
      choices: {
        nothing: 'Nothing: the entries are still right',
        flush: 'Invalidate the TLB\'s entries, so the other side cannot use them',
        global: 'Invalidate only the global entries',
      },
      why: 'Invalidate them. An entry of the guest could otherwise translate a host address, and the host\'s could translate a guest address: one world would read the other\'s memory. Without a tag, VT-x invalidates at every VM entry and every VM exit, global entries included, and the world on the other side starts with a cold TLB.',
      hints: ['Who else uses the same linear addresses after the switch?', 'Global entries are global within one address space, not across two worlds.'],
      notes: 'SDM Vol. 3C, 29.4.3.1: with "enable VPID" 0, VM entries and exits invalidate the linear and combined mappings of VPID 0000H, for all PCIDs and EP4TAs, global ones too.\n\nThe first VT-x processors (2005) had no VPID at all: every exit cost a full TLB refill afterwards, which is a large part of why early exits were so expensive.',
    },
    tags: {
      title: 'Tags: VPID and ASID',
      body: 'A tagged TLB stores with each entry the tag of the world that filled it. On VT-x the tag is the VPID, set in the VMCS by the hypervisor (0 is the host\'s, so a guest\'s is never 0); on AMD-V it is the ASID in the VMCB (again 0 is the host\'s). A lookup matches only entries with the current tag. Then nothing has to be flushed at a world switch: the guest\'s entries stay, unused by the host, and are found again after the next entry.\n\nThis run has "Enable VPID" on and the guest\'s VPID is 1.',
      hints: [],
      notes: 'Point at the VM inspector\'s VPID field. Under EPT the tag of a combined mapping also includes the EP4TA (the EPT root), so two guests that share a VPID but not EPT tables do not mix either; AMD tags by ASID only.\n\nKVM gives each vCPU its own VPID or ASID when the processor has them.',
    },
    'to-exit': {
      title: 'Fill the TLB, then exit',
      body: 'The guest starts with an empty TLB: the first fetch from its code page and each of the three reads miss and are walked.',
      act: 'Step until the CPUID exits (or press Next VM exit).',
      done: 'The guest missed 4 times (its code page and the three data pages), and the TLB holds 4 entries, all tagged with VPID 1. The CPUID exited with reason 10 and the hypervisor entered the guest again with VMRESUME. No flush: the timeline shows no TLB flush at the exit or the entry.',
      hints: ['Press → until the inspector shows EXIT_REASON_CPUID.', 'Next VM exit stops at the first exit.'],
      notes: 'Let students compare the TLB view before and after the step: the entries are the same.',
    },
    'predict-tagged': {
      title: 'Predict: misses after the exit',
      body: 'The guest now reads the same three pages again, from the same code page.',
      prompt: 'With VPID, how many TLB misses will the next three instructions make (code page and data pages together)?',
      why: '0. The entries filled before the exit carry VPID 1, the exit and the entry left them alone, and the guest runs with VPID 1 again: every lookup hits. The run shows 4 hits and the misses still at 4.',
      hints: ['Did anything invalidate the entries at the exit?', 'Only a lookup with a different tag could fail to match.'],
      notes: 'The point of tags: an exit costs its own round trip and nothing after it.',
    },
    'predict-invlpg': {
      title: 'Predict: an intercepted INVLPG',
      body: 'Next the guest runs INVLPG for 0x301000 to tell the TLB that this page\'s translation is stale. The hypervisor intercepts INVLPG here, so the instruction exits (reason 14) instead of running, and the hypervisor must carry it out for the guest. The guest\'s entries are tagged with VPID 1, and the hypervisor runs with the host\'s tag, 0.',
      prompt: 'What does the hypervisor do to invalidate the guest\'s page?',
      choices: {
        nothing: 'Nothing: the VM exit already emptied the TLB',
        invlpg: 'Run INVLPG 0x301000 itself',
        invvpid: 'Run INVVPID, naming VPID 1 and the address 0x301000',
      },
      why: 'INVVPID type 0, individual address: it invalidates the mappings of one linear address for one VPID. With tags the exit emptied nothing, so the stale entry would still answer the guest\'s next read. The hypervisor\'s own INVLPG acts only on the current tag, which in root operation is the host\'s: it would leave the guest\'s entry in place. On AMD-V the instruction is INVLPGA, which takes the address and the ASID.',
      hints: ['Which entries does an INVLPG in the hypervisor reach: the host\'s or the guest\'s?', 'The instruction has to name whose entry it is.'],
      notes: 'SDM Vol. 3C, ch. 31, INVVPID: type 0 individual-address, 1 single-context, 2 all-context, 3 single-context retaining globals. KVM uses type 0 for an intercepted INVLPG when it is supported, and falls back to type 1.\n\nWith EPT most hypervisors do not intercept INVLPG at all: the guest\'s own INVLPG then acts on its VPID directly. The lab intercepts it here to show the hypervisor\'s side.',
    },
    'invlpg-exit': {
      title: 'INVVPID for the guest',
      body: 'The three reads run first; then INVLPG exits.',
      act: 'Step until INVLPG exits (or press Next VM exit).',
      done: 'The three reads all hit: 4 hits, and the misses still 4. INVLPG exited with reason 14, and the hypervisor ran INVVPID type 0 for VPID 1 at 0x301000: the TLB view counts 1 entry invalidated, and that page is gone from it. The other entries stay.',
      hints: ['Press → until the inspector shows EXIT_REASON_INVLPG.', 'The timeline marks the flush with its cause, INVVPID.'],
      notes: 'The next read of 0x301000 misses and is walked again: step once more to show it.\n\nSkipping the INVVPID here would be a real bug: the guest would keep reading through the stale entry (hv/tlb-tags.test.ts shows it).',
    },
    'predict-untagged': {
      title: 'Predict: the same guest without VPID',
      body: 'The lab has loaded the same guest under a hypervisor that does not enable VPID: its entries carry the host\'s tag, 0.',
      prompt: 'Without VPID, how many TLB misses will the three instructions after the CPUID exit make (code page and data pages together)?',
      why: '4: the code page and all three data pages. The exit invalidated the 4 entries, the entry flushed again, and the guest refills each page with a walk. The tagged run made 0 misses at the same place.',
      hints: ['What did you predict a switch must do without a tag?', 'Count the pages those three instructions touch, counting the code page.'],
      notes: 'The walks here are two-dimensional (EPT): each guest miss costs far more than a native miss. Lesson 5 counts them.',
    },
    'untagged-run': {
      title: 'Flushed at every switch',
      body: 'Watch the timeline\'s TLB flush marks and the TLB view\'s counters as you go.',
      act: 'Step until INVLPG exits (or press Next VM exit twice).',
      done: 'Each VM entry and each VM exit flushed the TLB: 5 flushes by now. At the CPUID exit the 4 entries were invalidated, and the guest missed 4 times after it. At INVLPG the hypervisor had nothing to invalidate: the exit had already emptied the TLB, as its note says.',
      hints: ['Press → until the inspector shows EXIT_REASON_INVLPG.', 'The flush marks have the causes VM entry and VM exit.'],
      notes: 'Compare the counters with the tagged run: same guest, same instructions, but every exit now also costs the refill of everything the guest was using. In a real workload that is hundreds of entries, not 4.',
    },
    'predict-amd': {
      title: 'Predict: untagged on AMD-V',
      body: 'On AMD-V the VMCB holds the guest\'s ASID and a field TLB_CONTROL that VMRUN performs before entering: 0 does nothing, 3 flushes this ASID, 7 flushes this ASID\'s non-global entries, and 1 flushes every ASID. ASID 0 belongs to the host and a VMCB with ASID 0 is illegal, so a guest always runs with some ASID other than the host\'s.',
      prompt: 'A hypervisor that does not manage ASIDs gives every guest the same one. Which TLB_CONTROL value must it use at every VMRUN?',
      why: '1, flush every ASID. #VMEXIT flushes nothing on AMD-V, so with one shared ASID the only safe choice is to empty the TLB of everything at each VMRUN. A hypervisor that gives each vCPU its own ASID uses 0 and flushes nothing.',
      hints: ['The guest\'s stale entries must not survive into another guest that has the same ASID.', 'Of 0, 1, 3 and 7, which reaches every ASID?'],
      notes: 'APM Vol. 2, 15.16: TLB control and ASIDs. The lab\'s untagged AMD-V hypervisor writes 1 at every VMRUN; the tagged one writes 0, and 3 or 7 once when the guest reloads CR3 or changes paging modes, then back to 0 (as KVM does).',
    },
    pcid: {
      title: 'PCID inside the guest',
      body: 'A guest that uses PCIDs tags its own entries by process, as it would on bare metal. With VPID the entry\'s tag is the pair (VPID, PCID): the guest\'s PCIDs keep its processes apart, and the VPID keeps the guest apart from the host and other guests. So a guest\'s MOV to CR3 that switches PCID keeps its other processes\' entries, and no exit or entry disturbs them either.\n\nWithout VPID, PCIDs help the guest only between two exits: each exit empties everything, whatever the PCID.',
      hints: [],
      notes: 'Linux uses PCIDs to avoid flushing at context switches (and for kernel page-table isolation). Under a hypervisor without VPID that gain is lost at every exit.',
    },
    summary: {
      title: 'What you have seen',
      body: 'The TLB caches translations, and the guest\'s and the host\'s differ for the same linear address. Without a tag the processor must flush at every VM entry and exit (VT-x without VPID), or the hypervisor must ask for it at every VMRUN (TLB_CONTROL 1 on AMD-V), and the guest refills its TLB after each exit: 4 misses after one CPUID here, instead of 0.\n\nWith VPID or ASID the entries carry the world that filled them, and nothing is flushed at a switch. The price is that invalidation becomes explicit: an intercepted INVLPG must be carried out with INVVPID (or INVLPGA on AMD-V) for the guest\'s tag.',
      hints: [],
      notes: 'Good closing question: a hypervisor runs more vCPUs than the processor has VPIDs or ASIDs. What must it do when it reuses one? (Flush that tag before giving it to another vCPU: KVM keeps a generation counter per CPU.)',
    },
  },
};

export const zh: Text = {
  title: '带标签的 TLB：VPID、ASID 与世界切换时刷新什么',
  summary: '观察客户机的 TLB 表项带有 VPID 时如何在 VM 退出后保留下来，不带标签时又如何在每次退出和进入时被清空；预测虚拟机监控器如何替客户机执行被拦截的 INVLPG，以及不带标签的 AMD-V 虚拟机监控器向 TLB_CONTROL 写入什么值。',
  scenarios: { tagged: '启用 VPID 的同一客户机：读取、CPUID、再读取、INVLPG', untagged: '未启用 VPID 的同一客户机：每次退出和进入都刷新 TLB' },
  steps: {
    tlb: {
      title: 'TLB 表项是缓存的地址转换',
      body: '处理器每次通过遍历页表翻译一个线性地址，都会把结果存入 TLB，下次访问该页时就无需再遍历。TLB 视图列出它持有的表项，并统计命中与未命中次数。\n\n在虚拟机监控器之下，同一个线性地址有两种转换：客户机的（经过它自己的页表，再经过 EPT）和宿主机的（经过虚拟机监控器的页表）。线性地址 0x300000 对客户机是一页，对宿主机可能是完全不同的另一页。客户机运行时填入的表项绝不能回答宿主机的查找，反之亦然。\n\n这个客户机读取三页：0x300000、0x301000 和 0x302000，因 CPUID 而退出，再次读取这三页，然后用 INVLPG 使其中一页失效。',
      hints: [],
      notes: '回顾第 2 课：TLB 缓存页表遍历的结果，MOV 到 CR3 或 INVLPG 是软件告诉它某个表项已过时的方式。TLB 与页表之间不保持一致，必须由软件使其失效。\n\n在 EPT 下，客户机的表项保存的是组合映射：客户机线性地址直接对应宿主机物理地址（SDM 卷 3C，29.4.1）。',
    },
    'predict-flush': {
      title: '预测：没有标签时',
      body: '假设 TLB 的表项不记录它们属于谁的转换。处理器在每次 VM 退出时从客户机切换到宿主机，在每次 VM 进入时再切换回去。',
      prompt: '每次 VM 进入和 VM 退出时，处理器必须做什么？',
      choices: {
        nothing: '什么都不做：表项仍然正确',
        flush: '使 TLB 的表项失效，让另一方无法使用它们',
        global: '只使全局表项失效',
      },
      why: '使它们失效。否则客户机的表项可能翻译宿主机的地址，宿主机的表项也可能翻译客户机的地址：一个世界就能读到另一个世界的内存。没有标签时，VT-x 在每次 VM 进入和每次 VM 退出时都使表项失效，全局表项也不例外，切换到的另一方从一个空的 TLB 开始。',
      hints: ['切换之后，还有谁在使用同样的线性地址？', '全局表项只在一个地址空间内是全局的，并不跨越两个世界。'],
      notes: 'SDM 卷 3C，29.4.3.1：当“enable VPID”为 0 时，VM 进入和退出会使 VPID 0000H 的线性映射和组合映射失效，涵盖所有 PCID 和 EP4TA，包括全局表项。\n\n最早的 VT-x 处理器（2005 年）根本没有 VPID：每次退出之后都要重新填满 TLB，这是早期退出开销如此之大的重要原因之一。',
    },
    tags: {
      title: '标签：VPID 与 ASID',
      body: '带标签的 TLB 在每个表项中保存填入它的那个世界的标签。在 VT-x 上，标签是 VPID，由虚拟机监控器写入 VMCS（0 属于宿主机，所以客户机的 VPID 从不为 0）；在 AMD-V 上是 VMCB 中的 ASID（同样 0 属于宿主机）。查找只匹配带有当前标签的表项。这样世界切换时就什么都不必刷新：客户机的表项留在 TLB 中，宿主机不会用到它们，下次进入后又能被找到。\n\n本次运行启用了“Enable VPID”，客户机的 VPID 为 1。',
      hints: [],
      notes: '指向 VM 检查器中的 VPID 字段。在 EPT 下，组合映射的标签还包括 EP4TA（EPT 的根），因此共用一个 VPID 但不共用 EPT 页表的两个客户机也不会混在一起；AMD 只按 ASID 打标签。\n\n处理器支持时，KVM 为每个 vCPU 分配自己的 VPID 或 ASID。',
    },
    'to-exit': {
      title: '填满 TLB，然后退出',
      body: '客户机从一个空的 TLB 开始：第一次从代码页取指以及三次读取都未命中，都要遍历页表。',
      act: '单步执行，直到 CPUID 退出（或按“下一次 VM 退出”）。',
      done: '客户机未命中 4 次（它的代码页和三个数据页），TLB 中有 4 个表项，都带有 VPID 1 的标签。CPUID 以原因 10 退出，虚拟机监控器用 VMRESUME 再次进入客户机。没有刷新：时间线上在退出和进入处都没有 TLB 刷新标记。',
      hints: ['按 → 直到检查器显示 EXIT_REASON_CPUID。', '“下一次 VM 退出”会停在第一次退出处。'],
      notes: '让学生比较这一步前后的 TLB 视图：表项完全相同。',
    },
    'predict-tagged': {
      title: '预测：退出之后的未命中',
      body: '客户机现在从同一个代码页再次读取这三页。',
      prompt: '启用 VPID 时，接下来的三条指令会产生多少次 TLB 未命中（代码页和数据页合计）？',
      why: '0。退出前填入的表项带有 VPID 1，退出和进入都没有动它们，客户机又以 VPID 1 运行：每次查找都命中。运行结果显示 4 次命中，未命中仍为 4。',
      hints: ['退出时有没有什么使这些表项失效？', '只有带不同标签的查找才会匹配不上。'],
      notes: '标签的意义：一次退出只花费它自身往返的开销，之后不再有额外代价。',
    },
    'predict-invlpg': {
      title: '预测：被拦截的 INVLPG',
      body: '接下来客户机对 0x301000 执行 INVLPG，告诉 TLB 这一页的转换已经过时。这里虚拟机监控器拦截了 INVLPG，所以该指令不会执行，而是引起退出（原因 14），虚拟机监控器必须替客户机完成它。客户机的表项带有 VPID 1 的标签，而虚拟机监控器以宿主机的标签 0 运行。',
      prompt: '虚拟机监控器怎样使客户机的这一页失效？',
      choices: {
        nothing: '什么都不做：VM 退出已经清空了 TLB',
        invlpg: '自己执行 INVLPG 0x301000',
        invvpid: '执行 INVVPID，指明 VPID 1 和地址 0x301000',
      },
      why: 'INVVPID 类型 0，即单个地址：它使一个 VPID 下某个线性地址的映射失效。有标签时退出并没有清空任何东西，过时的表项仍会回答客户机的下一次读取。虚拟机监控器自己的 INVLPG 只作用于当前标签，而在根模式下当前标签是宿主机的：客户机的表项会原样保留。在 AMD-V 上对应的指令是 INVLPGA，它接受地址和 ASID。',
      hints: ['虚拟机监控器中的 INVLPG 能作用到哪些表项：宿主机的还是客户机的？', '这条指令必须指明是谁的表项。'],
      notes: 'SDM 卷 3C 第 31 章 INVVPID：类型 0 单个地址，1 单一上下文，2 所有上下文，3 保留全局表项的单一上下文。KVM 在支持时对被拦截的 INVLPG 使用类型 0，否则退而使用类型 1。\n\n有 EPT 时，大多数虚拟机监控器根本不拦截 INVLPG：客户机自己的 INVLPG 直接作用于它的 VPID。本实验室在这里拦截它，是为了展示虚拟机监控器这一侧。',
    },
    'invlpg-exit': {
      title: '替客户机执行 INVVPID',
      body: '先执行三次读取，然后 INVLPG 引起退出。',
      act: '单步执行，直到 INVLPG 退出（或按“下一次 VM 退出”）。',
      done: '三次读取全部命中：命中 4 次，未命中仍为 4。INVLPG 以原因 14 退出，虚拟机监控器对 VPID 1 的 0x301000 执行了 INVVPID 类型 0：TLB 视图统计到 1 个表项失效，那一页已从中消失。其他表项仍在。',
      hints: ['按 → 直到检查器显示 EXIT_REASON_INVLPG。', '时间线会标出这次刷新及其原因 INVVPID。'],
      notes: '对 0x301000 的下一次读取会未命中并重新遍历：再单步一次即可展示。\n\n如果这里省略 INVVPID，就是一个真实的错误：客户机会一直通过过时的表项读取（hv/tlb-tags.test.ts 展示了这一点）。',
    },
    'predict-untagged': {
      title: '预测：不启用 VPID 的同一客户机',
      body: '实验室已在一个不启用 VPID 的虚拟机监控器下加载了同一个客户机：它的表项带的是宿主机的标签 0。',
      prompt: '不启用 VPID 时，CPUID 退出之后的三条指令会产生多少次 TLB 未命中（代码页和数据页合计）？',
      why: '4：代码页和全部三个数据页。退出使这 4 个表项失效，进入时又刷新了一次，客户机要对每一页重新遍历页表来填回。带标签的运行在同一位置是 0 次未命中。',
      hints: ['你之前预测过，没有标签时切换必须做什么？', '数一数这三条指令触及的页，别忘了代码页。'],
      notes: '这里的页表遍历是二维的（EPT）：客户机的每次未命中都比原生未命中昂贵得多。第 5 课会数清它们。',
    },
    'untagged-run': {
      title: '每次切换都刷新',
      body: '一边执行，一边观察时间线上的 TLB 刷新标记和 TLB 视图的计数器。',
      act: '单步执行，直到 INVLPG 退出（或按两次“下一次 VM 退出”）。',
      done: '每次 VM 进入和每次 VM 退出都刷新了 TLB：到现在共 5 次刷新。在 CPUID 退出时 4 个表项失效，之后客户机未命中 4 次。到 INVLPG 时虚拟机监控器没有什么需要失效的：退出已经清空了 TLB，正如它的说明所写。',
      hints: ['按 → 直到检查器显示 EXIT_REASON_INVLPG。', '刷新标记的原因是 VM 进入和 VM 退出。'],
      notes: '与带标签的运行比较计数器：同一个客户机、同样的指令，但现在每次退出还要付出重新填满客户机所用全部表项的代价。在真实负载中那是数百个表项，而不是 4 个。',
    },
    'predict-amd': {
      title: '预测：AMD-V 上不带标签',
      body: '在 AMD-V 上，VMCB 保存客户机的 ASID 以及一个字段 TLB_CONTROL，VMRUN 在进入之前执行它：0 什么都不做，3 刷新本 ASID，7 刷新本 ASID 的非全局表项，1 刷新所有 ASID。ASID 0 属于宿主机，ASID 为 0 的 VMCB 是非法的，所以客户机总是以宿主机以外的某个 ASID 运行。',
      prompt: '一个不管理 ASID 的虚拟机监控器让所有客户机共用同一个 ASID。它在每次 VMRUN 时必须使用哪个 TLB_CONTROL 值？',
      why: '1，刷新所有 ASID。在 AMD-V 上 #VMEXIT 不刷新任何东西，所以共用一个 ASID 时，唯一安全的做法是在每次 VMRUN 时清空 TLB 中的一切。为每个 vCPU 分配自己 ASID 的虚拟机监控器使用 0，什么都不刷新。',
      hints: ['客户机过时的表项不能留到另一个使用相同 ASID 的客户机中。', '在 0、1、3 和 7 中，哪个能作用到所有 ASID？'],
      notes: 'APM 卷 2，15.16：TLB 控制与 ASID。本实验室不带标签的 AMD-V 虚拟机监控器在每次 VMRUN 时写入 1；带标签的写入 0，在客户机重新加载 CR3 或改变分页模式时写入一次 3 或 7，然后恢复为 0（与 KVM 相同）。',
    },
    pcid: {
      title: '客户机内部的 PCID',
      body: '使用 PCID 的客户机按进程为自己的表项打标签，就像在裸机上一样。启用 VPID 时，表项的标签是 (VPID, PCID) 这一对：客户机的 PCID 把它的各个进程分开，VPID 把客户机与宿主机以及其他客户机分开。因此客户机通过 MOV 到 CR3 切换 PCID 时，其他进程的表项得以保留，任何退出或进入也不会扰动它们。\n\n不启用 VPID 时，PCID 只在两次退出之间对客户机有用：每次退出都会清空一切，不论 PCID 是多少。',
      hints: [],
      notes: 'Linux 用 PCID 避免在上下文切换时刷新 TLB（也用于内核页表隔离）。在不启用 VPID 的虚拟机监控器之下，这一收益在每次退出时都会丧失。',
    },
    summary: {
      title: '你看到了什么',
      body: 'TLB 缓存地址转换，而对同一个线性地址，客户机和宿主机的转换并不相同。没有标签时，处理器必须在每次 VM 进入和退出时刷新（不启用 VPID 的 VT-x），或者由虚拟机监控器在每次 VMRUN 时要求刷新（AMD-V 上 TLB_CONTROL 为 1），客户机在每次退出后都要重新填满 TLB：这里一次 CPUID 之后未命中 4 次，而不是 0 次。\n\n有了 VPID 或 ASID，表项记录着填入它的世界，切换时什么都不刷新。代价是失效必须显式进行：被拦截的 INVLPG 必须用针对客户机标签的 INVVPID（AMD-V 上为 INVLPGA）来完成。',
      hints: [],
      notes: '一个好的结束问题：虚拟机监控器运行的 vCPU 比处理器拥有的 VPID 或 ASID 还多。复用一个标签时它必须做什么？（在把该标签交给另一个 vCPU 之前刷新它：KVM 为每个 CPU 维护一个代计数器。）',
    },
  },
};
