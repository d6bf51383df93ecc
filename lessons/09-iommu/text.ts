/**
 * Lesson 9's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the runs' (attack.json and vtd.json under the lab's multi-VM host, and the
 * dma-attack-amdvi example: addresses, the card's place on the host's bus, its domain, the blocked
 * request's walk and fault record, the frames received) or the reference tables' (VT-d fault
 * reason 6, AMD-Vi event code 2); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'DMA and the IOMMU',
  summary: 'A VM with an assigned network card and a hostile driver points the card at another VM\'s memory; predict what the card reads without an IOMMU and under VT-d, follow the blocked request through the remapping tables to the fault record, and see the same under AMD-Vi.',
  scenarios: {
    attack: 'An assigned card with a hostile driver, no IOMMU (one frame)',
    vtd: 'The same card and driver under VT-d (one frame)',
  },
  steps: {
    'two-vms': {
      title: 'An assigned card and a hostile driver',
      body: 'Two VMs share the CPU under VT-x, 8 MiB of RAM each. The first, "attacker", has a real network card assigned to it: 00:08.0 on the host\'s bus, its registers mapped into the attacker\'s EPT. The second, "victim", keeps a secret at its guest-physical 0x300000. The victim\'s RAM starts at host-physical 0x800000, so the secret is at host-physical 0xB00000.\n\nThe attacker\'s driver is the card driver of lesson 8, sending one frame, with one change: the frame\'s transmit descriptor does not point at the frame. It points at 0xB00000.',
      hints: [],
      notes: 'The driver needs no privilege the guest does not already have: a guest kernel programs its own devices. Every number it writes into a descriptor is a number the card will use on the bus. The host has no IOMMU in this first scenario.',
    },
    'predict-steal': {
      title: 'Predict: the card reads 0xB00000',
      body: 'The attacker writes the transmit tail register. The card reads the descriptor, then reads 64 bytes at 0xB00000 by DMA to send them.',
      prompt: 'With no IOMMU, what does the card read?',
      choices: {
        ept: 'Nothing: the attacker\'s EPT maps only its own 8 MiB, so the access is stopped',
        reads: 'The victim\'s secret: nothing checks a device\'s addresses',
        error: 'The card reports an error: 0xB00000 is not the attacker\'s memory',
      },
      why: 'The victim\'s secret. The EPT translates the processor\'s accesses, not a device\'s: the card\'s read goes from the card to the memory controller. Without an IOMMU the address on the bus is a host-physical address, and 0xB00000 is the victim\'s RAM. The card sends those bytes; its loopback hands them back to the attacker, whose driver copies the frame out like any other.',
      hints: ['Does a DMA read pass through the processor\'s page tables or EPT?'],
      notes: 'This is why assigning devices to VMs was not safe before IOMMUs (VT-d arrived in 2008 chipsets). An emulated or paravirtual card cannot be turned against the host this way: its "DMA" is the hypervisor copying, and the hypervisor checks every guest-physical address against the VM\'s RAM (the lab\'s device models refuse any other).',
    },
    stolen: {
      title: 'The stolen read',
      body: 'Run to the read of 0xB00000.',
      act: 'Choose "DMA request" in the run-to list and press "Run to next" until the task is done.',
      done: 'The IOMMU view shows the request: a read of 64 bytes at 0xB00000 by 00:08.0, with no IOMMU on its path, landing in VM victim\'s RAM. In the same step the card\'s loopback writes the victim\'s secret into the attacker\'s receive buffer.',
      hints: ['The transmit tail write makes the card read the descriptor and the frame in one step: that is the stop.'],
      notes: 'The same card also writes: a receive descriptor pointing at the victim would have the card write a frame into the victim\'s memory, or into the hypervisor\'s: its EPT tables, say. That is how DMA attacks escape a VM.',
    },
    'predict-vtd': {
      title: 'Predict: the same read under VT-d',
      body: 'Now the host has VT-d, Intel\'s IOMMU. Before the guest ran, the hypervisor gave the card domain 1: a context entry for 00:08.0 pointing at second-level page tables that map guest-physical addresses 0 to 8 MiB to the attacker\'s RAM, and nothing else. The guest and its driver are unchanged.',
      prompt: 'What happens to the card\'s read of 0xB00000?',
      choices: {
        victim: 'VT-d translates it, and the card reads the victim\'s secret anyway',
        blocked: 'VT-d blocks it and records a fault: nothing is read',
        own: 'VT-d translates it into the attacker\'s own RAM',
      },
      why: 'It is blocked. The card\'s addresses are now guest-physical: VT-d looks up the card\'s requester ID in its root and context tables, finds domain 1, and walks that domain\'s tables for 0xB00000. They map only the first 8 MiB, so the walk ends at an entry that is not present. The read is blocked, and VT-d records the fault in a fault-recording register.',
      hints: ['What do domain 1\'s tables map, and is 0xB00000 in it?'],
      notes: 'The same tables also make honest DMA work for a VM that does not start at host-physical 0: the card uses guest-physical addresses, and the IOMMU adds the VM\'s place in host memory, as EPT does for the processor.',
    },
    blocked: {
      title: 'A blocked request',
      body: 'The second scenario loads: the same VMs under VT-d.',
      act: 'Choose "DMA request" in the run-to list and press "Run to next" until the task is done.',
      done: 'The IOMMU view marks the request blocked. Its fault record says: fault reason 6 (the second-level entry\'s Read field is clear for a read), source ID 00:08.0, page address 0xB00000, T = 1 (a read). The frame is never sent: the attacker receives no frame at all.',
      hints: ['The transmit tail write is the stop: the descriptor read goes through, the frame read is blocked.'],
      notes: 'Fault reasons are in the VT-d specification, chapter 7 (the lab\'s table is tests/reference/vtd.json). A not-present entry has both Read and Write clear, so a read faults with reason 6 and a write with reason 5. VT-d can also signal the fault with an interrupt; the hypervisor then reads and clears the record.',
    },
    'predict-entries': {
      title: 'Predict: how many entries were read?',
      body: 'The walk of that blocked request is in the IOMMU view. Just before it, the card read the frame\'s descriptor, through the same root and context entries.',
      prompt: 'How many entries of the remapping structures did VT-d read for the blocked request?',
      why: '3: the first, second and third levels of domain 1\'s second-level tables, the last of which, index 5 of the third, maps 0xA00000 to 0xBFFFFF and is not present. The root and context entries were not read again: the context cache kept the card\'s context entry from the descriptor read. Translations are cached too, in the IOTLB: in the example run with 4 frames the card\'s requests hit it 13 times.',
      hints: ['Look at which entries the view says were read and which come from a cache.'],
      notes: 'Because the IOMMU caches entries, a hypervisor that changes a domain\'s tables must invalidate the IOTLB (and, for context entries, the context cache) before the change takes effect: the classic exam question of `lab exercise iommu`.',
    },
    'amd-vi': {
      title: 'The same under AMD-Vi',
      body: 'Under AMD-V the IOMMU is AMD-Vi. Its structures differ, its answer does not: the card\'s DeviceID selects a device table entry, which gives the domain and the root of the I/O page tables. In the dma-attack-amdvi example the same read of 0xB00000 is blocked, and AMD-Vi writes an IO_PAGE_FAULT event (code 2) to its event log in memory, with DeviceID 00:08.0, domain 1 and the address.',
      hints: [],
      notes: 'Open the dma-attack-amdvi example from the scenario menu and run to its blocked request: the IOMMU view shows the device table entry, the I/O page-table levels and the event.',
    },
    summary: {
      title: 'Summary',
      body: 'A device\'s DMA does not go through the processor\'s paging or EPT. An assigned device uses the addresses its guest gives it, so without an IOMMU a guest can read and write any host memory: another VM\'s, or the hypervisor\'s. An IOMMU (VT-d, AMD-Vi) translates every DMA in the domain the hypervisor gave the device, found by its requester ID: the guest\'s own RAM, and nothing else. A request outside it is blocked and recorded. The IOMMU caches what it reads, so changing a domain means invalidating.',
      hints: [],
      notes: 'Interrupts are DMA too (an MSI is a memory write): VT-d\'s interrupt remapping checks them the same way, and posted interrupts deliver them to a vCPU without a VM exit. That is the next part of this lab.',
    },
  },
};

export const zh: Text = {
  title: 'DMA 与 IOMMU',
  summary: '一台虚拟机拥有一块直通网卡，它的恶意驱动让网卡指向另一台虚拟机的内存；预测在没有 IOMMU 时和在 VT-d 下网卡读到什么，沿着被拦截的请求穿过重映射表直到故障记录，再看 AMD-Vi 下的同一情形。',
  scenarios: {
    attack: '一块直通网卡和恶意驱动，没有 IOMMU（一个帧）',
    vtd: '同一块网卡和同一个驱动，在 VT-d 下（一个帧）',
  },
  steps: {
    'two-vms': {
      title: '一块直通网卡和一个恶意驱动',
      body: '两台虚拟机在 VT-x 下共用 CPU，各有 8 MiB 内存。第一台名为“attacker”，分配给它一块真实网卡：主机总线上的 00:08.0，网卡寄存器映射在 attacker 的 EPT 中。第二台名为“victim”，在它的客户机物理地址 0x300000 处保存一个秘密。victim 的内存从主机物理地址 0x800000 开始，所以这个秘密位于主机物理地址 0xB00000。\n\nattacker 的驱动就是第 8 课的网卡驱动，只发送一个帧，并且只改了一处：这个帧的发送描述符不指向这个帧，而指向 0xB00000。',
      hints: [],
      notes: '这个驱动不需要客户机原本没有的任何特权：客户机内核本来就要编程自己的设备。它写进描述符的每个数，网卡都会原样用在总线上。第一个场景中主机没有 IOMMU。',
    },
    'predict-steal': {
      title: '预测：网卡读 0xB00000',
      body: 'attacker 写发送尾寄存器。网卡读取描述符，再通过 DMA 读取 0xB00000 处的 64 个字节，准备发送。',
      prompt: '没有 IOMMU 时，网卡读到的是什么？',
      choices: {
        ept: '什么也读不到：attacker 的 EPT 只映射了它自己的 8 MiB，这次访问会被拦下',
        reads: 'victim 的秘密：没有任何东西检查设备使用的地址',
        error: '网卡报告错误：0xB00000 不是 attacker 的内存',
      },
      why: 'victim 的秘密。EPT 翻译的是处理器的访问，而不是设备的访问：网卡的读请求从网卡直接到达内存控制器。没有 IOMMU 时，总线上的地址就是主机物理地址，而 0xB00000 是 victim 的内存。网卡把这些字节发送出去，回环又把它们交还给 attacker，它的驱动像对待其他帧一样把这个帧复制出来。',
      hints: ['DMA 读请求会经过处理器的页表或 EPT 吗？'],
      notes: '这就是在出现 IOMMU 之前（VT-d 随 2008 年的芯片组出现）把设备直通给虚拟机并不安全的原因。模拟网卡或半虚拟化网卡无法这样被用来对付主机：它们的“DMA”是虚拟机监控器在复制数据，而虚拟机监控器会用该虚拟机的内存范围检查每一个客户机物理地址（本实验的设备模型会拒绝其他地址）。',
    },
    stolen: {
      title: '被窃取的读请求',
      body: '运行到读取 0xB00000 的那一步。',
      act: '在“运行到”列表中选择“DMA 请求”，反复按“运行到下一个”，直到任务完成。',
      done: 'IOMMU 视图显示了这个请求：00:08.0 在 0xB00000 处读取 64 个字节，路径上没有 IOMMU，落在虚拟机 victim 的内存中。在同一步中，网卡的回环把 victim 的秘密写进 attacker 的接收缓冲区。',
      hints: ['写发送尾寄存器使网卡在同一步中读取描述符和帧：就停在那一步。'],
      notes: '这块网卡也会写：让一个接收描述符指向 victim，网卡就会把一个帧写进 victim 的内存，或写进虚拟机监控器的内存，比如它的 EPT 页表。DMA 攻击正是这样逃出虚拟机的。',
    },
    'predict-vtd': {
      title: '预测：VT-d 下的同一个读请求',
      body: '现在主机有了 Intel 的 IOMMU：VT-d。在客户机运行之前，虚拟机监控器给这块网卡分配了域 1：00:08.0 的上下文表项指向一组二级页表，它们把客户机物理地址 0 到 8 MiB 映射到 attacker 的内存，别的什么也不映射。客户机和它的驱动都没有改变。',
      prompt: '网卡对 0xB00000 的读请求会怎样？',
      choices: {
        victim: 'VT-d 翻译了它，网卡照样读到 victim 的秘密',
        blocked: 'VT-d 拦截它并记录一次故障：什么也读不到',
        own: 'VT-d 把它翻译到 attacker 自己的内存中',
      },
      why: '它被拦截。网卡使用的地址现在是客户机物理地址：VT-d 在根表和上下文表中按网卡的请求者 ID 查到域 1，再为 0xB00000 遍历这个域的页表。这些表只映射了前 8 MiB，所以遍历停在一个不存在的表项上。读请求被拦截，VT-d 在一个故障记录寄存器中记下这次故障。',
      hints: ['域 1 的表映射了什么？0xB00000 在其中吗？'],
      notes: '同样的表也让不从主机物理地址 0 开始的虚拟机的正常 DMA 能够工作：网卡使用客户机物理地址，IOMMU 再加上这台虚拟机在主机内存中的位置，就像 EPT 为处理器所做的那样。',
    },
    blocked: {
      title: '一个被拦截的请求',
      body: '第二个场景加载了：同样的两台虚拟机，在 VT-d 下。',
      act: '在“运行到”列表中选择“DMA 请求”，反复按“运行到下一个”，直到任务完成。',
      done: 'IOMMU 视图把这个请求标为被拦截。它的故障记录说：故障原因 6（读请求遇到的二级页表项中 Read 位未置位），源 ID 00:08.0，页地址 0xB00000，T = 1（读）。这个帧从未被发送：attacker 一个帧也没有收到。',
      hints: ['停在写发送尾寄存器的那一步：读描述符成功，读帧被拦截。'],
      notes: '故障原因见 VT-d 规范第 7 章（本实验的表是 tests/reference/vtd.json）。不存在的表项 Read 位和 Write 位都为 0，所以读请求以原因 6 出错，写请求以原因 5 出错。VT-d 还可以用中断报告故障；虚拟机监控器随后读取并清除这条记录。',
    },
    'predict-entries': {
      title: '预测：读了多少个表项？',
      body: '这个被拦截请求的遍历过程显示在 IOMMU 视图中。就在它之前，网卡通过同样的根表项和上下文表项读取了这个帧的描述符。',
      prompt: '为这个被拦截的请求，VT-d 读了多少个重映射结构中的表项？',
      why: '3 个：域 1 的二级页表的第一、第二、第三级表项；最后一个是第三级表的第 5 项，它覆盖 0xA00000 到 0xBFFFFF，不存在。根表项和上下文表项没有再读：上下文缓存保存了读描述符时读到的上下文表项。翻译结果也会被缓存在 IOTLB 中：在有 4 个帧的示例运行里，网卡的请求命中 IOTLB 13 次。',
      hints: ['看视图中哪些表项是读出来的，哪些来自缓存。'],
      notes: '因为 IOMMU 会缓存表项，虚拟机监控器修改某个域的页表后，必须使 IOTLB 失效（修改上下文表项时还要使上下文缓存失效），修改才会生效：这正是 `lab exercise iommu` 里的经典考题。',
    },
    'amd-vi': {
      title: 'AMD-Vi 下的同一情形',
      body: '在 AMD-V 下，IOMMU 是 AMD-Vi。它的结构不同，结论却一样：网卡的 DeviceID 选出一个设备表项，给出域和 I/O 页表的根。在 dma-attack-amdvi 示例中，对 0xB00000 的同一个读请求被拦截，AMD-Vi 在内存中的事件日志里写入一个 IO_PAGE_FAULT 事件（代码 2），其中有 DeviceID 00:08.0、域 1 和这个地址。',
      hints: [],
      notes: '从场景菜单打开 dma-attack-amdvi 示例，运行到被拦截的请求：IOMMU 视图显示设备表项、各级 I/O 页表和这个事件。',
    },
    summary: {
      title: '小结',
      body: '设备的 DMA 不经过处理器的分页或 EPT。直通的设备使用客户机给它的地址，所以没有 IOMMU 时，客户机可以读写任何主机内存：另一台虚拟机的，或虚拟机监控器的。IOMMU（VT-d、AMD-Vi）在虚拟机监控器为设备设定的域中翻译每一次 DMA，这个域按请求者 ID 找到：只有客户机自己的内存，别无其他。超出范围的请求被拦截并被记录。IOMMU 会缓存它读过的表项，所以修改一个域就意味着要使缓存失效。',
      hints: [],
      notes: '中断也是 DMA（MSI 是一次内存写）：VT-d 的中断重映射用同样的方式检查它们，投递中断（posted interrupt）则把它们送到 vCPU 而不引起 VM 退出。这是本实验接下来要做的部分。',
    },
  },
};
