/**
 * Lesson 4's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the run's (svm-exit.json under the lab's hypervisor, and lesson 3's guest under VT-x for
 * the comparisons) or the reference tables' (SVM exit codes, the VMCB layout, the IOIO EXITINFO1
 * bits); lesson.test.ts finds each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'The same guest on AMD-V',
  summary: 'Run the guest of the VT-x lesson under AMD-V: enter it with VMRUN, read its exits from the VMCB at their fixed offsets, predict the EXITCODE and EXITINFO1 of CPUID and OUT, and compare every name and number with VT-x.',
  scenarios: { svm: 'The same guest under AMD-V' },
  steps: {
    vmrun: {
      title: 'Host mode and guest mode',
      body: 'This is the guest of the VT-x lesson, byte for byte, now on an AMD processor with AMD-V (SVM). AMD names the two worlds host mode and guest mode: they are what VT-x calls VMX root and non-root operation.\n\nOne instruction, VMRUN, enters the guest. Its operand, in RAX, is the physical address of the guest\'s VMCB, the virtual machine control block. When the guest does something the hypervisor intercepts, the processor makes a #VMEXIT: it saves the guest state in the VMCB, reloads the host state, and the hypervisor continues after its VMRUN.',
      hints: [],
      notes: 'Put the two lessons side by side on the board: two columns, VT-x and AMD-V, filled in as the lesson goes (mode names, entry instruction, control structure, exit code field, information fields, next RIP).',
    },
    vmcb: {
      title: 'The VMCB: a page with a layout',
      body: 'The VMCB is a 4 KB page whose layout AMD defines. The control area fills its first 1024 bytes: the intercept bits, the ASID, and the exit fields, EXITCODE at offset 0x70, EXITINFO1 at 0x78, EXITINFO2 at 0x80 and nRIP at 0xc8. The state-save area starts at offset 0x400: the guest\'s RIP, for instance, is at 0x578.\n\nSo the hypervisor reads and writes the VMCB with ordinary loads and stores: AMD-V has no VMREAD or VMWRITE. The VMCS of VT-x hides its layout, which is why it needs them. The inspector lists the VMCB by offset.',
      hints: [],
      notes: 'The trade-off: a fixed layout is simple and makes nested virtualization easy (the outer hypervisor can read a guest hypervisor\'s VMCB directly); a hidden layout lets Intel cache the VMCS inside the processor and change the format between generations.\n\nAMD still caches parts of the VMCB, and the VMCB clean bits tell the processor which parts the hypervisor did not change.',
    },
    'predict-entry': {
      title: 'Predict: entering again',
      body: 'On VT-x the hypervisor entered with VMLAUNCH the first time and VMRESUME after every exit, because the VMCS has a launch state.',
      prompt: 'After the first #VMEXIT, which instruction enters the guest again on AMD-V?',
      choices: {
        vmresume: 'A resume instruction, as on VT-x: the VMCB has been run once',
        vmrun: 'VMRUN again, with the same VMCB: every entry is the same',
      },
      why: 'VMRUN, every time. The VMCB has no launch state: every VMRUN reads the guest state from the VMCB afresh, and every #VMEXIT writes it back. There is no VM-instruction error for entering "the wrong way".',
      hints: ['Count the instructions AMD-V has for entering a guest.'],
      notes: 'The inspector\'s handler path will end in VMRUN after each exit; the planes show it too.',
    },
    launch: {
      title: 'VMRUN',
      body: 'The processor checks the VMCB (the APM lists the conditions that make the state illegal), saves the host state in the host save area, loads the guest state and runs the guest in guest mode.',
      act: 'Step once.',
      done: 'VMRUN entered the guest, which has run xor eax, eax natively, in guest mode. No #VMEXIT yet.',
      hints: ['Press → once.'],
      notes: 'A VMCB with illegal guest state makes VMRUN exit at once with EXITCODE VMEXIT_INVALID, the counterpart of a VT-x entry failure.',
    },
    'predict-cpuid': {
      title: 'Predict: the EXITCODE for CPUID',
      body: 'The guest\'s next instruction is the same CPUID as on VT-x, where its exit was basic exit reason 10. AMD numbers its exits differently: the codes of intercepted instructions follow the order of their intercept bits. RDPMC is 0x6f, PUSHF 0x70, POPF 0x71, and HLT 0x78.',
      prompt: 'Which EXITCODE will the CPUID #VMEXIT report? Answer in hex with 0x.',
      why: '0x72, VMEXIT_CPUID: CPUID\'s intercept bit comes right after POPF\'s. The same instruction at the same moment, and a different number: a hypervisor that supports both vendors has two tables.',
      hints: ['CPUID\'s intercept bit comes right after POPF\'s.', 'POPF is 0x71.'],
      notes: 'Unlike VT-x, AMD-V can let CPUID run natively (its intercept is a bit like any other); the lab\'s hypervisor sets it, as every real one does.\n\nAPM Vol. 2, Appendix C, lists the codes.',
    },
    'first-exit': {
      title: 'The first #VMEXIT',
      body: 'Watch the inspector: it now shows the VMCB\'s exit fields.',
      act: 'Step once.',
      done: '#VMEXIT with EXITCODE 0x72 (VMEXIT_CPUID), at guest RIP 0x100002. The hypervisor read exit_code at offset 0x70 with an ordinary load, emulated CPUID, and ran VMRUN again at 0x100004.',
      hints: ['Press → once.', 'Or use Next VM exit in the playback bar.'],
      notes: 'The handler\'s path lists "VMCB read" and "VMCB write" where lesson 3 listed VMREAD and VMWRITE: the same information, plain memory accesses.',
    },
    'find-nrip': {
      title: 'Where does the guest go on?',
      body: 'On VT-x the handler added VM_EXIT_INSTRUCTION_LEN to the guest\'s RIP. The VMCB has no instruction length field.',
      act: 'Pick the exit field that tells the hypervisor where the guest\'s next instruction starts: click it, or Tab to it and press Enter.',
      done: 'next_rip, nRIP, at offset 0xc8: 0x100004, the address of the instruction after the CPUID. The handler read it and wrote it to save.rip, with no length to add. Processors with the NRIP-save feature write it on instruction intercepts; on older ones the hypervisor had to decode the instruction to find its length.',
      miss: '{name} is not it: it does not hold an address in the guest\'s code for this exit.',
      hints: ['An address, not a length: which field holds one equal to the CPUID\'s address plus its length?'],
      notes: 'nRIP came with the NRIP-save feature (CPUID Fn8000_000A EDX). Before it, KVM on AMD decoded the instruction at the guest\'s RIP to skip it.',
    },
    'predict-io': {
      title: 'Predict: the EXITCODE for OUT',
      body: 'Further on, the guest writes to the UART with out dx, al and DX = 0x3f8. HLT is 0x78, INVLPG 0x79, INVLPGA 0x7a, and the next code is the I/O intercept\'s.',
      prompt: 'Which EXITCODE will the OUT report? Answer in hex with 0x.',
      why: '0x7b, VMEXIT_IOIO. On VT-x the same OUT exited with basic exit reason 30.',
      hints: ['The code right after INVLPGA\'s.'],
      notes: 'As on VT-x, the I/O exit is asked for: AMD-V checks the I/O permission map (IOPM), one bit per port, when the IOIO intercept is on.',
    },
    'predict-info1': {
      title: 'Predict: EXITINFO1',
      body: 'For I/O, EXITINFO1 describes the access. Bit 0, TYPE: 1 = IN, 0 = OUT. Bit 2, a string instruction; bit 3, REP. Bits 4, 5 and 6: one bit for each operand size, SZ8, SZ16 and SZ32. Bits 7, 8 and 9: one bit for each address size, A16, A32 and A64. Bits 12 to 10: the segment of a string instruction. Bits 31 to 16: the port. The guest runs 64-bit code, so its address size is 64.',
      prompt: 'What will EXITINFO1 hold for out dx, al with DX = 0x3f8? Answer in hex with 0x.',
      why: 'The port, 0x3f8, in bits 31 to 16 gives 0x3f80000. A64 is bit 9, 0x200; SZ8 is bit 4, 0x10; TYPE is 0 for OUT. 0x3f80000 + 0x200 + 0x10 = 0x3f80210.',
      hints: ['Start from the port, as on VT-x: 0x3f80000.', 'Two bits are set besides the port: one for the 8-bit operand, one for the 64-bit addresses.'],
      notes: 'Compare with the VT-x qualification 0x3f80000: the port is in the same bits, but AMD encodes sizes one-hot and adds the address size, and the direction is bit 0, not bit 3.',
    },
    'io-exit': {
      title: 'The I/O #VMEXIT',
      body: 'On the way the guest makes the second CPUID #VMEXIT, as it did on VT-x.',
      act: 'Step until the OUT exits, or press Next VM exit until the EXITCODE is 0x7b.',
      done: 'EXITCODE 0x7b (VMEXIT_IOIO) at guest RIP 0x100014. EXITINFO1 = 0x3f80210; its bit strip shows TYPE 0, SZ8 1, A64 1 and PORT 0x3f8. EXITINFO2 = 0x100015, the address of the next instruction, and nRIP says the same. On VT-x the same OUT gave reason 30 and qualification 0x3f80000.',
      hints: ['Press → until the inspector\'s exit says VMEXIT_IOIO.', 'Next VM exit stops at each exit: the second one is the OUT.'],
      notes: 'EXITINFO2 for IOIO predates nRIP: it gave hypervisors the next RIP for I/O before the NRIP-save feature existed.',
    },
    gif: {
      title: 'GIF, the global interrupt flag',
      body: 'AMD-V adds a flag VT-x does not have: GIF, the global interrupt flag. While GIF = 0 the processor holds every interrupt, NMIs included, pending. #VMEXIT clears it and VMRUN sets it, and a hypervisor can set it with STGI and clear it with CLGI.\n\nSo after a #VMEXIT the host decides when it can be interrupted: typically it saves what it needs first, then executes STGI. On VT-x a VM exit simply loads the host\'s RFLAGS with IF = 0, which holds maskable interrupts only.',
      hints: [],
      notes: 'GIF exists because the window between #VMEXIT and the host\'s own bookkeeping must not be interrupted, even by an NMI. It is also the switch that makes VMRUN safe to interleave with the host\'s interrupt handling.\n\nThe lab\'s guests see no SVM: a guest that executes CLGI or STGI gets #UD.',
    },
    summary: {
      title: 'The same guest, two vocabularies',
      body: 'Both processors let the guest run natively and stop it at the same instructions: CPUID, OUT, RDMSR, the hypercall and HLT. What differs is the vocabulary. VT-x: VMX root and non-root operation, VMLAUNCH then VMRESUME, a VMCS reached only through VMREAD and VMWRITE, a basic exit reason (10 for CPUID, 30 for I/O), the exit qualification and VM_EXIT_INSTRUCTION_LEN. AMD-V: host and guest mode, VMRUN every time, a VMCB at fixed offsets read as memory, an EXITCODE (0x72 for CPUID, 0x7b for I/O), EXITINFO1, EXITINFO2 and nRIP, and GIF.\n\nThe cost is of the same kind: an exit and an entry are expensive round trips, as the figure below shows for a recent AMD processor.',
      hints: [],
      notes: 'Ask the room to fill in the last row of the board table: what a cross-vendor hypervisor (KVM, Xen) has to abstract, and what stays the same (the handlers\' logic).',
    },
  },
};

export const zh: Text = {
  title: '同一个客户机在 AMD-V 上',
  summary: '在 AMD-V 下运行 VT-x 那一课的客户机：用 VMRUN 进入它，在 VMCB 的固定偏移处读出它的退出，预测 CPUID 和 OUT 的 EXITCODE 与 EXITINFO1，并把每个名字和编号与 VT-x 对照。',
  scenarios: { svm: 'AMD-V 下的同一个客户机' },
  steps: {
    vmrun: {
      title: '主机模式与客户机模式',
      body: '这就是 VT-x 那一课的客户机，逐字节相同，现在运行在带 AMD-V（SVM）的 AMD 处理器上。AMD 把这两个世界称为主机模式和客户机模式：它们就是 VT-x 所说的 VMX 根操作和非根操作。\n\n只用一条指令 VMRUN 进入客户机。它的操作数放在 RAX 中，是客户机的 VMCB（虚拟机控制块）的物理地址。当客户机做了虚拟机监控器要拦截的事情时，处理器产生一次 #VMEXIT：把客户机状态保存到 VMCB，重新装入宿主机状态，虚拟机监控器从它的 VMRUN 之后继续执行。',
      hints: [],
      notes: '在黑板上把两课并排写：VT-x 和 AMD-V 两栏，随课程推进填写（模式名称、进入指令、控制结构、退出代码字段、信息字段、下一条 RIP）。',
    },
    vmcb: {
      title: 'VMCB：有固定布局的一页',
      body: 'VMCB 是一个 4 KB 的页，其布局由 AMD 规定。控制区占据前 1024 个字节：拦截位、ASID 以及各个退出字段，EXITCODE 位于偏移 0x70，EXITINFO1 位于 0x78，EXITINFO2 位于 0x80，nRIP 位于 0xc8。状态保存区从偏移 0x400 开始：例如客户机的 RIP 位于 0x578。\n\n因此虚拟机监控器用普通的读写内存来访问 VMCB：AMD-V 没有 VMREAD 或 VMWRITE。VT-x 的 VMCS 隐藏了自己的布局，所以才需要它们。检查器按偏移列出 VMCB。',
      hints: [],
      notes: '其中的取舍：固定布局简单，也使嵌套虚拟化容易（外层虚拟机监控器可以直接读取客户机中虚拟机监控器的 VMCB）；隐藏布局则让 Intel 可以把 VMCS 缓存在处理器内部，并在各代之间改变格式。\n\nAMD 同样会缓存 VMCB 的一部分，VMCB 的 clean 位告诉处理器哪些部分虚拟机监控器没有改动过。',
    },
    'predict-entry': {
      title: '预测：再次进入',
      body: '在 VT-x 上，虚拟机监控器第一次用 VMLAUNCH 进入，之后每次退出后用 VMRESUME，因为 VMCS 有启动状态。',
      prompt: '第一次 #VMEXIT 之后，在 AMD-V 上用哪条指令再次进入客户机？',
      choices: {
        vmresume: '与 VT-x 一样，用一条恢复指令：这个 VMCB 已经运行过一次',
        vmrun: '还是 VMRUN，用同一个 VMCB：每次进入都一样',
      },
      why: '每次都是 VMRUN。VMCB 没有启动状态：每次 VMRUN 都重新从 VMCB 读取客户机状态，每次 #VMEXIT 都把它写回。不存在因“进入方式不对”而产生的 VM 指令错误。',
      hints: ['数一数 AMD-V 有几条进入客户机的指令。'],
      notes: '检查器中每次退出后的处理程序路径都以 VMRUN 结束；视图也画出了这一点。',
    },
    launch: {
      title: '用 VMRUN 进入客户机',
      body: '处理器检查 VMCB（APM 列出了使状态非法的各种条件），把宿主机状态保存到宿主机保存区，装入客户机状态，并在客户机模式下运行客户机。',
      act: '单步执行一次。',
      done: 'VMRUN 进入了客户机，客户机已经在客户机模式下原生执行了 xor eax, eax。还没有 #VMEXIT。',
      hints: ['按一次 →。'],
      notes: '如果 VMCB 中的客户机状态非法，VMRUN 会立即以 EXITCODE VMEXIT_INVALID 退出，相当于 VT-x 的 VM 进入失败。',
    },
    'predict-cpuid': {
      title: '预测：CPUID 的 EXITCODE',
      body: '客户机的下一条指令就是 VT-x 上那条 CPUID，在那里它的退出是基本退出原因 10。AMD 的退出编号方式不同：被拦截指令的代码按其拦截位的顺序排列。RDPMC 是 0x6f，PUSHF 是 0x70，POPF 是 0x71，HLT 是 0x78。',
      prompt: '这次 CPUID 的 #VMEXIT 会报告哪个 EXITCODE？请用带 0x 的十六进制作答。',
      why: '0x72，即 VMEXIT_CPUID：CPUID 的拦截位紧跟在 POPF 之后。同一条指令、同一时刻，却是不同的编号：同时支持两家厂商的虚拟机监控器要备两张表。',
      hints: ['CPUID 的拦截位紧跟在 POPF 之后。', 'POPF 是 0x71。'],
      notes: '与 VT-x 不同，AMD-V 可以让 CPUID 原生执行（它的拦截位和其他拦截位一样）；本实验室的虚拟机监控器设置了它，所有真实的虚拟机监控器也都如此。\n\nAPM 第 2 卷附录 C 列出了这些代码。',
    },
    'first-exit': {
      title: '第一次 #VMEXIT',
      body: '请看检查器：它现在显示 VMCB 中的退出字段。',
      act: '单步执行一次。',
      done: '#VMEXIT，EXITCODE 为 0x72（VMEXIT_CPUID），客户机 RIP 为 0x100002。虚拟机监控器用普通的读内存读出偏移 0x70 处的 exit_code，模拟了 CPUID，并在 0x100004 处再次执行 VMRUN。',
      hints: ['按一次 →。', '也可以用播放栏中的“下一次 VM 退出”。'],
      notes: '处理程序路径中列出的是“VMCB 读”和“VMCB 写”，而第 3 课列出的是 VMREAD 和 VMWRITE：信息相同，只是普通的内存访问。',
    },
    'find-nrip': {
      title: '客户机从哪里继续？',
      body: '在 VT-x 上，处理程序把 VM_EXIT_INSTRUCTION_LEN 加到客户机的 RIP 上。VMCB 中没有指令长度字段。',
      act: '选出告诉虚拟机监控器客户机下一条指令从哪里开始的那个退出字段：点击它，或用 Tab 移到它上面再按 Enter。',
      done: 'next_rip，即 nRIP，位于偏移 0xc8：0x100004，是 CPUID 之后那条指令的地址。处理程序读出它并写入 save.rip，无须再加长度。支持 NRIP 保存特性的处理器在指令拦截时写入它；在较老的处理器上，虚拟机监控器必须解码指令才能知道它的长度。',
      miss: '{name} 不是要找的字段：对这次退出，它存放的不是客户机代码中的地址。',
      hints: ['要找的是地址，不是长度：哪个字段的值等于 CPUID 的地址加上它的长度？'],
      notes: 'nRIP 随 NRIP 保存特性出现（CPUID Fn8000_000A EDX）。在此之前，AMD 上的 KVM 要解码客户机 RIP 处的指令才能跳过它。',
    },
    'predict-io': {
      title: '预测：OUT 的 EXITCODE',
      body: '再往后，客户机置 DX = 0x3f8，用 out dx, al 向 UART 写数据。HLT 是 0x78，INVLPG 是 0x79，INVLPGA 是 0x7a，下一个代码就是 I/O 拦截的。',
      prompt: '这条 OUT 会报告哪个 EXITCODE？请用带 0x 的十六进制作答。',
      why: '0x7b，即 VMEXIT_IOIO。在 VT-x 上，同一条 OUT 以基本退出原因 30 退出。',
      hints: ['紧跟在 INVLPGA 之后的那个代码。'],
      notes: '与 VT-x 一样，I/O 退出是虚拟机监控器要求的：打开 IOIO 拦截后，AMD-V 查 I/O 许可位图（IOPM），每个端口一位。',
    },
    'predict-info1': {
      title: '预测：EXITINFO1',
      body: '对于 I/O，EXITINFO1 描述这次访问。第 0 位 TYPE：1 = IN，0 = OUT。第 2 位表示串指令；第 3 位表示 REP。第 4、5、6 位：每种操作数大小各占一位，即 SZ8、SZ16 和 SZ32。第 7、8、9 位：每种地址大小各占一位，即 A16、A32 和 A64。第 12 到 10 位：串指令的段。第 31 到 16 位：端口。客户机运行的是 64 位代码，所以地址大小为 64。',
      prompt: '对于 DX = 0x3f8 时的 out dx, al，EXITINFO1 会是什么值？请用带 0x 的十六进制作答。',
      why: '端口 0x3f8 位于第 31 到 16 位，得到 0x3f80000。A64 是第 9 位，即 0x200；SZ8 是第 4 位，即 0x10；OUT 的 TYPE 为 0。0x3f80000 + 0x200 + 0x10 = 0x3f80210。',
      hints: ['和 VT-x 一样，先从端口算起：0x3f80000。', '除端口外还有两位被置位：一位表示 8 位操作数，一位表示 64 位地址。'],
      notes: '与 VT-x 的退出限定 0x3f80000 对比：端口位于相同的位，但 AMD 对大小用独热编码，还加上了地址大小，方向位是第 0 位而不是第 3 位。',
    },
    'io-exit': {
      title: 'I/O 的 #VMEXIT',
      body: '在此之前，客户机会像在 VT-x 上一样产生第二次 CPUID 的 #VMEXIT。',
      act: '单步执行直到 OUT 退出，或者反复按“下一次 VM 退出”，直到 EXITCODE 为 0x7b。',
      done: 'EXITCODE 0x7b（VMEXIT_IOIO），客户机 RIP 为 0x100014。EXITINFO1 = 0x3f80210；它的位带显示 TYPE 0、SZ8 1、A64 1 和 PORT 0x3f8。EXITINFO2 = 0x100015，即下一条指令的地址，nRIP 也是这个值。在 VT-x 上，同一条 OUT 给出的是原因 30 和退出限定 0x3f80000。',
      hints: ['按 →，直到检查器中的退出显示 VMEXIT_IOIO。', '“下一次 VM 退出”在每次退出处停下：第二次就是 OUT。'],
      notes: 'IOIO 的 EXITINFO2 比 nRIP 出现得早：在 NRIP 保存特性出现之前，它就为 I/O 给出了下一条 RIP。',
    },
    gif: {
      title: 'GIF：全局中断标志',
      body: 'AMD-V 增加了一个 VT-x 没有的标志：GIF，即全局中断标志。GIF = 0 时，处理器把所有中断（包括 NMI）都挂起。#VMEXIT 清除它，VMRUN 置位它，虚拟机监控器也可以用 STGI 置位、用 CLGI 清除它。\n\n因此在 #VMEXIT 之后，由宿主机决定何时可以被中断：通常它先保存所需的状态，再执行 STGI。在 VT-x 上，VM 退出只是把宿主机的 RFLAGS 装入为 IF = 0，这只挂起可屏蔽中断。',
      hints: [],
      notes: 'GIF 的存在是因为从 #VMEXIT 到宿主机完成自身记录的这段窗口不能被打断，即使是 NMI。它也是让 VMRUN 能与宿主机的中断处理安全交错的开关。\n\n本实验室的客户机看不到 SVM：客户机执行 CLGI 或 STGI 会得到 #UD。',
    },
    summary: {
      title: '同一个客户机，两套术语',
      body: '两种处理器都让客户机原生运行，并在相同的指令处让它停下：CPUID、OUT、RDMSR、超级调用和 HLT。不同的是术语。VT-x：VMX 根操作与非根操作，先 VMLAUNCH 后 VMRESUME，只能通过 VMREAD 和 VMWRITE 访问的 VMCS，基本退出原因（CPUID 为 10，I/O 为 30），退出限定和 VM_EXIT_INSTRUCTION_LEN。AMD-V：主机模式与客户机模式，每次都用 VMRUN，在固定偏移处像内存一样读取的 VMCB，EXITCODE（CPUID 为 0x72，I/O 为 0x7b），EXITINFO1、EXITINFO2 和 nRIP，还有 GIF。\n\n代价是同一类的：一次退出加一次进入是昂贵的往返，下面的数字给出了一款较新的 AMD 处理器上的情况。',
      hints: [],
      notes: '请全班填写黑板表格的最后一行：跨厂商的虚拟机监控器（KVM、Xen）必须抽象掉什么，什么保持不变（处理程序的逻辑）。',
    },
  },
};
