/**
 * Lesson 8's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the run's (nic-two-ways under the lab's hypervisor: ports, addresses, the exits and their
 * qualifications, counts of exits and frames, the assigned VM's place in host memory and its VT-d
 * domain) or the three-ways comparison's (hv/io-compare.ts); lesson.test.ts finds each one and
 * checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Giving a VM a device: emulated, paravirtual, assigned',
  summary: 'Two VMs run the same network-card driver, one with the card emulated by the hypervisor and one with the real card assigned; predict which accesses exit, what an emulated register write costs, and where an assigned card\'s DMA lands; then compare the emulated, paravirtual and assigned ways frame by frame.',
  scenarios: { devices: 'Two VMs under VT-x with the same network-card driver: the card emulated, and the real card assigned behind VT-d' },
  steps: {
    'two-vms': {
      title: 'One driver, two ways to get a card',
      body: 'Two VMs share the CPU under VT-x, each with 8 MiB of RAM. Both run the same driver for the same network card: find the card on PCI bus 0, place its registers (its BAR) at guest-physical 0xE0000000, set up a ring of transmit descriptors and a ring of receive buffers, send 6 frames and receive them back through the card\'s loopback.\n\nThe VM called "emulated" gets a card that exists only as software in the hypervisor: a device model. The VM called "assigned" gets a real card on the host\'s bus, given to it alone.\n\nEach guest finds its card at 00:03.0 (bus 0, device 3, function 0) on a PCI bus of its own.',
      hints: [],
      notes: 'The card is a teaching model of an Intel 8254x (e1000): the register offsets and descriptor layout are the 8254x\'s legacy ones, with a test vendor ID so that no real driver would bind to it. Both VMs\' code is the same bytes; only the hypervisor\'s setup differs. The code view shows the VM on the CPU; the planes say which VM that is.',
    },
    'predict-config': {
      title: 'Predict: looking for the card',
      body: 'To find its card the driver writes an address to CONFIG_ADDRESS, I/O port 0xCF8, then reads CONFIG_DATA, port 0xCFC: PCI configuration mechanism #1.',
      prompt: 'In which VMs is that OUT to port 0xCF8 a VM exit?',
      choices: {
        emulated: 'Only in the VM whose card is emulated: the assigned card is real, so its configuration space is too',
        both: 'In both VMs',
        neither: 'In neither: configuration reads are harmless',
      },
      why: 'In both. The hypervisor intercepts ports 0xCF8 to 0xCFF for every VM: each VM has its own PCI bus, made by the hypervisor. For the assigned card it shows a copy of the real card\'s configuration space: the guest places the BAR at a guest-physical address of its choosing, while the real BAR holds a host-physical one, and the hypervisor must know where the guest put it to map it. Linux\'s VFIO does the same for a card given to a VM.',
      hints: ['Could the guest be allowed to write the real card\'s BAR with an address of its own?'],
      notes: 'Real hypervisors also hide or emulate capabilities (MSI, MSI-X, power management) in the assigned card\'s configuration space; this lab shows the IDs, BARs and command register only. PCI Express cards are more often configured through memory-mapped ECAM than through ports 0xCF8/0xCFC; the hypervisor traps either.',
    },
    'config-exit': {
      title: 'A configuration-space exit',
      body: 'The first VM on the CPU is "emulated". Its driver is about to write CONFIG_ADDRESS.',
      act: 'Step until the first VM exit.',
      done: 'VM exit, reason 30 (EXIT_REASON_IO_INSTRUCTION). The exit qualification 0xCF80003 says: 4 bytes (bits 2:0 = 3), an OUT (bit 3 = 0), port 0xCF8 in bits 31:16. The hypervisor hands the value to the VM\'s own PCI bus and moves RIP past the instruction. The scan of bus 0 and the set-up of the card\'s BAR make a few more such exits, in both VMs.',
      hints: ['Press → until the inspector shows an exit.'],
      notes: 'SDM Vol. 3C, Table 28-5 gives the qualification\'s layout for I/O instructions. The exit happens because the hypervisor set every bit of the I/O bitmaps; an I/O bitmap bit left clear would let the guest reach that port directly.',
    },
    'predict-register': {
      title: 'Predict: the first register write',
      body: 'The emulated card\'s driver has placed the BAR and now writes its first register: the receive ring\'s address, 0x201000, to guest-physical 0xE0002800 with an ordinary mov. The VM\'s RAM ends at 8 MiB; nothing is mapped at 0xE0002800 in its EPT.',
      prompt: 'What happens on that mov?',
      choices: {
        io: 'An I/O-instruction exit, as for the configuration ports',
        ept: 'An EPT violation exit: the hypervisor finds that the address is its device model\'s',
        none: 'Nothing: the write goes straight to the card',
      },
      why: 'An EPT violation. A mov is a memory access, not an I/O instruction: the processor translates the guest-physical address through the EPT, finds no entry, and exits. The hypervisor sees that the address belongs to the card it emulates, so it runs the instruction once with that page mapped to its device model, and the model sees a write of 0x201000 to its register at 0x2800 (RDBAL).',
      hints: ['Is a mov to memory an I/O instruction?', 'What does the EPT map, and what does it leave out?'],
      notes: 'Hypervisors handle MMIO exits by decoding the instruction (KVM\'s x86 emulator) or, as here, by letting the processor run it once against the device. KVM marks MMIO pages with misconfigured EPT entries, so that such exits are told apart quickly (EXIT_REASON_EPT_MISCONFIG, 49); that is an optimization, not a difference in kind.',
    },
    'mmio-exit': {
      title: 'An emulated register write',
      body: 'The rest of the configuration exits come first.',
      act: 'Step (or press "Next VM exit") until the exit reason is 48.',
      done: 'VM exit, reason 48 (EXIT_REASON_EPT_VIOLATION). The exit qualification 0x182 says a data write (bit 1), with the guest\'s linear address valid (bit 7) and the access made to that address\'s translation, not to a paging-structure entry (bit 8); GUEST_PHYSICAL_ADDRESS is 0xE0002800. The handler\'s note shows the write the device model received. Every one of the 12 set-up writes to the card\'s registers is such an exit, in this VM only.',
      hints: ['Press "Next VM exit" and watch the reason in the inspector.'],
      notes: 'SDM Vol. 3C, Table 28-7 gives the EPT-violation qualification. Bits 3 to 5 are clear: the address was not readable, writable or executable through the EPT, because it is not mapped at all.',
    },
    'predict-per-frame': {
      title: 'Predict: the cost of a frame',
      body: 'For each frame the driver fills a transmit descriptor in its own RAM and writes the transmit tail register (TDT): the card may now send. It then takes the frames received, seen by a status bit the card writes into the descriptors in RAM, and gives the buffers back with one write of the receive tail register (RDT). It never reads a register.',
      prompt: 'After set-up, how many VM exits does each frame cost the VM with the emulated card?',
      why: '2: the TDT write and the RDT write, each an EPT violation. The descriptors and frames are in the guest\'s RAM, which the EPT maps: the driver writes them with no exit. The hypervisor\'s device model then reads the descriptor and copies the frame out of the guest, and copies it back into a receive buffer: two copies of every frame. In the VM with the assigned card the same driver\'s frames cause no exit: the card takes its register writes itself.',
      hints: ['Which of the driver\'s writes go to the card\'s registers, and which to RAM?'],
      notes: 'Run the scenario to its end and count: the exits by reason show 24 EPT violations for the emulated VM (12 set-up writes, then 2 per frame for 6 frames) and none for the assigned VM. A driver that batched its tail writes would exit less; that is what the paravirtual interface is designed for.',
    },
    'three-ways': {
      title: 'Three ways, frame by frame',
      body: 'Press "Compare the three ways". The lab runs the same task alone on the host three times: with the card emulated, with a paravirtual virtio-net card, and with the card assigned, then with twice as many frames, so the difference is the cost of one more frame.\n\nEmulated: 2 exits per frame, and the hypervisor copies each frame twice. Paravirtual: 0.25 exits per frame. The virtio driver puts up to 8 frames in its ring and notifies the device once, then gives the receive buffers back with one more notification: 2 exits per batch of 8. The hypervisor still copies every frame. Assigned: 0 exits and 0 copies: the card moves the frames itself, by DMA.',
      hints: [],
      notes: 'virtio (Russell, 2008) designed the ring so that a batch needs one notification and the device can suppress notifications it does not need; the exits that remain are I/O-port writes, cheaper to handle than MMIO. The cycles include the guest making each frame, the same in every way, and the cost model prices each exit but not the bytes the hypervisor copies, so the ratios understate the difference in I/O cost.',
    },
    'predict-dma': {
      title: 'Predict: where the assigned card reads',
      body: 'The VM "assigned" sits in host memory from 0x800000 up. Its driver put the guest-physical address of frame 0, 0x210000, in a transmit descriptor, and the real card reads that address by DMA. The card is on the host\'s bus at 00:09.0, and the host has VT-d; the hypervisor gave the card its own domain, domain 2.',
      prompt: 'What host-physical address does the card read?',
      choices: {
        'host-gpa': '0x210000: a device puts the address it was given on the bus',
        translated: '0xA10000: VT-d translates 0x210000 through domain 2\'s tables, into the VM\'s own RAM',
        copied: 'None: the hypervisor copies the frame for the card',
      },
      why: '0xA10000. The card\'s DMA does not go through the processor\'s EPT. It goes through the IOMMU: VT-d looks up the card\'s requester ID, 00:09.0, in its root and context tables, finds domain 2, and walks that domain\'s second-level tables, which the hypervisor filled to map the VM\'s 8 MiB of guest-physical addresses to its host-physical RAM. Without an IOMMU the card would read host-physical 0x210000, which is in the other VM\'s RAM.',
      hints: ['Does DMA go through the processor\'s page tables or EPT?', 'What does the IOMMU\'s domain for this card map?'],
      notes: 'The dma-attack examples show the danger: a hostile driver with an assigned card and no IOMMU reads another VM\'s secret, and VT-d (or AMD-Vi) blocks the same DMA with a recorded fault. This lab\'s IOMMU views show each request\'s walk.',
    },
    summary: {
      title: 'Summary',
      body: 'Emulated: the hypervisor is the card. Every register access exits (an EPT violation for memory-mapped registers), and the hypervisor copies every frame: slow, but any guest driver works and the hypervisor sees everything. Paravirtual: the guest knows it is virtualized and uses a ring made for it; one notification per batch, but still the hypervisor\'s copies. Assigned: the guest drives the real card, whose registers are mapped into its EPT and whose DMA uses guest-physical addresses: no exits and no copies, but only safe with an IOMMU translating every DMA in a domain of the VM\'s own memory. Configuration space stays virtualized in every case.',
      hints: [],
      notes: 'Assigned cards cannot be shared between VMs (SR-IOV gives one card several functions, each assignable), and they complicate live migration. Interrupts from assigned cards need remapping too (VT-d interrupt remapping, posted interrupts); this lab\'s drivers poll instead.',
    },
  },
};

export const zh: Text = {
  title: '为虚拟机提供设备：模拟、半虚拟化与设备直通',
  summary: '两台虚拟机运行同一个网卡驱动，一台的网卡由虚拟机监控器模拟，另一台直接分配了真实网卡；预测哪些访问会退出、模拟一次寄存器写要付出什么，以及直通网卡的 DMA 落在哪里；然后逐帧比较模拟、半虚拟化和设备直通三种方式。',
  scenarios: { devices: 'VT-x 下的两台虚拟机运行同一个网卡驱动：一台的网卡被模拟，另一台的真实网卡经 VT-d 直通' },
  steps: {
    'two-vms': {
      title: '同一个驱动，两种获得网卡的方式',
      body: '两台虚拟机在 VT-x 下共用 CPU，各有 8 MiB 内存。它们运行同一个网卡驱动：在 PCI 总线 0 上找到网卡，把它的寄存器（BAR）放在客户机物理地址 0xE0000000，建立一个发送描述符环和一个接收缓冲区环，发送 6 个帧并经网卡的回环收回。\n\n名为“emulated”的虚拟机得到的网卡只是虚拟机监控器中的一段软件：设备模型。名为“assigned”的虚拟机得到主机总线上的一块真实网卡，只归它使用。\n\n每个客户机都在自己的 PCI 总线上的 00:03.0（总线 0、设备 3、功能 0）找到网卡。',
      hints: [],
      notes: '这块网卡是以 Intel 8254x（e1000）为原型的教学模型：寄存器偏移和描述符格式沿用 8254x 的传统格式，但用的是测试用厂商 ID，真实驱动不会绑定它。两台虚拟机的代码字节完全相同，不同的只是虚拟机监控器的设置。代码视图显示正在 CPU 上的虚拟机，“处理器在哪里运行”视图说明是哪一台。',
    },
    'predict-config': {
      title: '预测：寻找网卡',
      body: '为了找到网卡，驱动把一个地址写到 CONFIG_ADDRESS（I/O 端口 0xCF8），再读 CONFIG_DATA（端口 0xCFC）：这是 PCI 配置机制 #1。',
      prompt: '这条写端口 0xCF8 的 OUT 在哪台虚拟机中是一次 VM 退出？',
      choices: {
        emulated: '只在网卡被模拟的那台：直通的网卡是真实的，它的配置空间也是真实的',
        both: '两台都会',
        neither: '都不会：读配置空间没有害处',
      },
      why: '两台都会。虚拟机监控器为每台虚拟机拦截端口 0xCF8 到 0xCFF：每台虚拟机都有一条由虚拟机监控器做出来的 PCI 总线。对直通的网卡，它展示真实网卡配置空间的一份副本：客户机把 BAR 放在自己选的客户机物理地址，而真实的 BAR 里是主机物理地址，虚拟机监控器必须知道客户机把它放在哪里，才能把它映射过去。Linux 的 VFIO 为分配给虚拟机的网卡做的也是这件事。',
      hints: ['能让客户机用自己的地址去写真实网卡的 BAR 吗？'],
      notes: '真实的虚拟机监控器还会在直通网卡的配置空间中隐藏或模拟各种能力（MSI、MSI-X、电源管理）；本实验只展示 ID、BAR 和命令寄存器。PCI Express 网卡更常通过内存映射的 ECAM 配置，而不是端口 0xCF8/0xCFC；两种方式虚拟机监控器都会拦截。',
    },
    'config-exit': {
      title: '一次配置空间退出',
      body: '第一台上 CPU 的虚拟机是“emulated”。它的驱动正要写 CONFIG_ADDRESS。',
      act: '单步执行，直到第一次 VM 退出。',
      done: 'VM 退出，原因 30（EXIT_REASON_IO_INSTRUCTION）。退出限定 0xCF80003 表示：4 字节（位 2:0 = 3），一条 OUT（位 3 = 0），位 31:16 中是端口 0xCF8。虚拟机监控器把这个值交给该虚拟机自己的 PCI 总线，并把 RIP 移过这条指令。扫描总线 0 和设置网卡 BAR 还会产生几次这样的退出，两台虚拟机都一样。',
      hints: ['按 →，直到检查器显示一次退出。'],
      notes: 'SDM 第 3C 卷表 28-5 给出了 I/O 指令退出限定的格式。之所以退出，是因为虚拟机监控器把 I/O 位图的每一位都置了 1；某一位留为 0，客户机就能直接访问那个端口。',
    },
    'predict-register': {
      title: '预测：第一次写寄存器',
      body: '模拟网卡的驱动已放好 BAR，现在用一条普通的 mov 写第一个寄存器：把接收环的地址 0x201000 写到客户机物理地址 0xE0002800。这台虚拟机的内存到 8 MiB 为止；它的 EPT 在 0xE0002800 处什么也没有映射。',
      prompt: '这条 mov 会发生什么？',
      choices: {
        io: '一次 I/O 指令退出，和配置端口一样',
        ept: '一次 EPT 违例退出：虚拟机监控器发现这个地址属于它的设备模型',
        none: '什么也不发生：写操作直接到达网卡',
      },
      why: 'EPT 违例。mov 是内存访问，不是 I/O 指令：处理器通过 EPT 翻译客户机物理地址，找不到表项，于是退出。虚拟机监控器看到这个地址属于它模拟的网卡，就把那一页映射到设备模型、让这条指令运行一次，设备模型便收到对其 0x2800 号寄存器（RDBAL）写入的 0x201000。',
      hints: ['写内存的 mov 是 I/O 指令吗？', 'EPT 映射了什么，又漏掉了什么？'],
      notes: '虚拟机监控器处理 MMIO 退出的方法，或是解码这条指令（KVM 的 x86 模拟器），或是像这里一样让处理器对设备运行它一次。KVM 用配置错误的 EPT 表项标记 MMIO 页，以便快速分辨这类退出（EXIT_REASON_EPT_MISCONFIG，49）；这是一种优化，本质并无不同。',
    },
    'mmio-exit': {
      title: '一次被模拟的寄存器写',
      body: '先要经过其余的配置空间退出。',
      act: '单步执行（或按“下一次 VM 退出”），直到退出原因是 48。',
      done: 'VM 退出，原因 48（EXIT_REASON_EPT_VIOLATION）。退出限定 0x182 表示一次数据写（位 1），客户机线性地址有效（位 7），且这次访问针对的是该线性地址的翻译结果，而不是分页结构表项（位 8）；GUEST_PHYSICAL_ADDRESS 是 0xE0002800。处理程序的说明显示设备模型收到的写操作。设置网卡时对寄存器的 12 次写，每一次都是这样的退出，而且只发生在这台虚拟机中。',
      hints: ['按“下一次 VM 退出”，在检查器中看退出原因。'],
      notes: 'SDM 第 3C 卷表 28-7 给出了 EPT 违例的退出限定。位 3 到位 5 都为 0：这个地址在 EPT 中既不可读、也不可写、也不可执行，因为它根本没有被映射。',
    },
    'predict-per-frame': {
      title: '预测：一个帧的开销',
      body: '每发一个帧，驱动在自己的内存中填写一个发送描述符，再写发送尾寄存器（TDT）：网卡这时可以发送了。然后它取走收到的帧（网卡在内存中的描述符里写入状态位，驱动据此得知），并用一次对接收尾寄存器（RDT）的写把缓冲区还回去。它从不读寄存器。',
      prompt: '设置完成之后，网卡被模拟的那台虚拟机每个帧要付出多少次 VM 退出？',
      why: '2 次：写 TDT 和写 RDT，每次都是 EPT 违例。描述符和帧都在客户机内存中，EPT 映射了这些内存：驱动写它们不会退出。随后，虚拟机监控器的设备模型读取描述符，把帧从客户机中复制出来，再复制回一个接收缓冲区：每个帧复制两次。在网卡被直通的那台虚拟机中，同一个驱动发送帧时网卡不引起任何退出：寄存器写直接到达网卡。',
      hints: ['驱动的哪些写操作写到网卡的寄存器，哪些写到内存？'],
      notes: '把场景运行到底再数一数：按原因统计的退出显示，模拟网卡的虚拟机有 24 次 EPT 违例（12 次设置写，然后 6 个帧每帧 2 次），直通网卡的虚拟机一次也没有。把尾寄存器的写合并成批的驱动会退出得少一些；半虚拟化接口正是为此设计的。',
    },
    'three-ways': {
      title: '三种方式，逐帧比较',
      body: '按“比较三种方式”。实验让同一个任务在主机上单独运行三次：网卡分别被模拟、换成半虚拟化的 virtio-net 网卡、以设备直通方式分配；再用两倍的帧数运行，两者之差就是多一个帧的开销。\n\n模拟：每帧 2 次退出，虚拟机监控器把每个帧复制两次。半虚拟化：每帧 0.25 次退出。virtio 驱动在环中放入最多 8 个帧后只通知设备一次，再用一次通知把接收缓冲区还回去：每批 8 个帧 2 次退出。虚拟机监控器仍要复制每个帧。设备直通：0 次退出、0 次复制：网卡自己通过 DMA 搬运这些帧。',
      hints: [],
      notes: 'virtio（Russell，2008）把环设计成一批只需一次通知，设备还可以关掉它用不着的通知；剩下的退出是写 I/O 端口，处理起来比 MMIO 便宜。周期数包含客户机生成每个帧的工作，这部分在每种方式中都相同；开销模型为每次退出计价，却不为虚拟机监控器复制的字节计价，所以比值低估了 I/O 开销上的差别。',
    },
    'predict-dma': {
      title: '预测：直通网卡读哪里',
      body: '虚拟机“assigned”位于主机内存 0x800000 起的位置。它的驱动把第 0 个帧的客户机物理地址 0x210000 放进一个发送描述符，真实网卡通过 DMA 读这个地址。网卡在主机总线上的 00:09.0，主机有 VT-d；虚拟机监控器给了这块网卡一个专属的域：域 2。',
      prompt: '网卡读的是哪个主机物理地址？',
      choices: {
        'host-gpa': '0x210000：设备把给它的地址原样放到总线上',
        translated: '0xA10000：VT-d 通过域 2 的表翻译 0x210000，落在这台虚拟机自己的内存中',
        copied: '不读：由虚拟机监控器替网卡复制这个帧',
      },
      why: '0xA10000。网卡的 DMA 不经过处理器的 EPT，而是经过 IOMMU：VT-d 在根表和上下文表中按网卡的请求者 ID 00:09.0 查到域 2，再遍历该域的二级页表；虚拟机监控器在这些表中把这台虚拟机 8 MiB 的客户机物理地址映射到它在主机上的内存。没有 IOMMU，网卡就会读主机物理地址 0x210000，而那是另一台虚拟机的内存。',
      hints: ['DMA 经过处理器的页表或 EPT 吗？', 'IOMMU 为这块网卡设的域映射了什么？'],
      notes: 'dma-attack 系列示例展示了其中的危险：在没有 IOMMU 时，带直通网卡的恶意驱动能读到另一台虚拟机的秘密；有了 VT-d（或 AMD-Vi），同样的 DMA 被拦截并留下故障记录。本实验的 IOMMU 视图会显示每次请求的遍历过程。',
    },
    summary: {
      title: '小结',
      body: '模拟：虚拟机监控器就是网卡。每次访问寄存器都会退出（内存映射的寄存器引起 EPT 违例），每个帧都由虚拟机监控器复制：慢，但任何客户机驱动都能用，虚拟机监控器也能看到一切。半虚拟化：客户机知道自己被虚拟化，使用为此设计的环；每批一次通知，但仍要由虚拟机监控器复制。设备直通：客户机直接驱动真实网卡，网卡寄存器映射在它的 EPT 中，网卡的 DMA 使用客户机物理地址：没有退出也没有复制，但只有当 IOMMU 在只含这台虚拟机内存的域中翻译每一次 DMA 时才安全。无论哪种方式，配置空间都仍是虚拟的。',
      hints: [],
      notes: '直通的网卡不能在虚拟机之间共享（SR-IOV 让一块网卡有多个可分别直通的功能），也使热迁移更复杂。直通网卡的中断同样需要重映射（VT-d 的中断重映射、投递中断）；本实验的驱动改用轮询。',
    },
  },
};
