/**
 * Lesson 3's words, English and Simplified Chinese, with instructor notes per step. Numbers stated
 * here are the run's (vmx-exit.json under the lab's hypervisor) or the reference tables' (exit
 * reasons, the I/O exit qualification, VMCS encodings, VM-instruction errors); lesson.test.ts finds
 * each one and checks it.
 */
import type { LessonText } from '../../src/lessons/lesson.ts';
import type { StepId } from './steps.ts';

type Text = LessonText & { steps: Record<StepId, LessonText['steps'][string]> };

export const en: Text = {
  title: 'Your first VM exit on VT-x',
  summary: 'Run a guest under VT-x, predict which of its instructions leaves it for the hypervisor, read the exit reason and qualification in the VMCS, and follow the handler from VMREAD to VMRESUME.',
  scenarios: { vmx: 'A guest under VT-x: CPUID, OUT, RDMSR, VMCALL, HLT' },
  steps: {
    'non-root': {
      title: 'Two worlds on one processor',
      body: 'With VT-x the processor has two modes of operation. The hypervisor runs in VMX root operation; the guest runs in VMX non-root operation. Each has its own rings 0 to 3, so the guest kernel really runs in ring 0, and most of its instructions run natively, at full speed.\n\nSome instructions and events in non-root operation are not carried out: the processor makes a VM exit instead. It saves the guest\'s state in the VMCS (the virtual-machine control structure), loads the hypervisor\'s, and records why it left. The hypervisor handles the exit and enters the guest again.\n\nThe view Where the processor runs shows the two worlds. The machine has not started: the hypervisor has prepared the VMCS and is about to enter the guest.',
      hints: [],
      notes: 'Contrast with lesson 1: there a privileged instruction at CPL 3 raised #GP. Here the guest is at CPL 0 and the processor itself decides, from the VMCS controls, what must exit.\n\nThe guest is a tiny 64-bit kernel, the same one lesson 4 runs on AMD-V.',
    },
    'predict-first': {
      title: 'Predict: the first exit',
      body: 'The guest\'s first three instructions are xor eax, eax, then cpuid, then mov r12d, ebx. The hypervisor did not ask for exits on any of them.',
      prompt: 'Which instruction makes the first VM exit?',
      choices: {
        xor: 'xor eax, eax: the first instruction the guest runs',
        cpuid: 'cpuid: it reports the processor\'s identity and features',
        mov: 'mov r12d, ebx: it copies what CPUID returned',
      },
      why: 'CPUID. In VMX non-root operation a few instructions exit whatever the controls say, and CPUID is one of them: it tells software what processor it runs on, so a hypervisor must always be able to answer in its place (to hide features, or to say that there is a hypervisor). XOR and MOV touch only registers, which the guest owns: they run natively.',
      hints: ['Which of the three could reveal to the guest that it is not alone on the machine?', 'Registers belong to the guest while it runs: arithmetic on them never needs the hypervisor.'],
      notes: 'SDM Vol. 3C, 26.1.2, "Instructions That Cause VM Exits Unconditionally": CPUID, GETSEC, INVD, XSETBV, and the VMX instructions themselves.\n\nAsk why the hypervisor cannot simply turn the CPUID exit off. Answer: it could not hide host features any more, and live migration between different CPUs needs exactly that.',
    },
    launch: {
      title: 'VMLAUNCH',
      body: 'The hypervisor enters the guest with VMLAUNCH. The processor checks the VMCS\'s controls and host state, then the guest state, loads the guest state and continues at the guest\'s RIP, in non-root operation.',
      act: 'Step once.',
      done: 'VMLAUNCH succeeded: Where the processor runs shows VMX non-root operation, and the guest has run its first instruction, xor eax, eax, natively. No exit yet.',
      hints: ['Press → once.'],
      notes: 'If the checks had failed, VMLAUNCH would have failed with a VM-instruction error (bad controls or host state) or a VM exit with bit 31 of the exit reason set (bad guest state). Both are in the sandbox for students who want to break things.',
    },
    'predict-reason': {
      title: 'Predict: the exit reason',
      body: 'At a VM exit the processor writes the basic exit reason, a number, into the VMCS field VM_EXIT_REASON. The SDM numbers the reasons: 0 is an exception or NMI, 1 an external interrupt, 2 a triple fault, 12 HLT, 18 VMCALL, 30 an I/O instruction.',
      prompt: 'Which basic exit reason will the CPUID exit report?',
      why: '10, EXIT_REASON_CPUID. The hypervisor\'s handler starts by reading it and dispatches on it, as a kernel dispatches on the vector of an exception.',
      hints: ['CPUID\'s reason lies between the triple fault and HLT.', 'It is a two-digit number below 12.'],
      notes: 'Students cannot derive 10; the point is to know where the number lives and that the hypervisor switches on it. Let them guess, then look it up together in the SDM\'s Appendix C table.',
    },
    'predict-resume': {
      title: 'Predict: back into the guest',
      body: 'After handling the exit the hypervisor enters the guest again. VT-x has two instructions for that.',
      prompt: 'Which one will it use?',
      choices: {
        vmlaunch: 'VMLAUNCH again: every entry is a launch',
        vmresume: 'VMRESUME: the VMCS has been launched already',
      },
      why: 'VMRESUME. Each VMCS has a launch state. VMCLEAR makes it clear; VMLAUNCH needs a clear VMCS and makes it launched; VMRESUME needs a launched one. VMLAUNCH on a launched VMCS fails with VM-instruction error 4, and VMRESUME on a clear one with error 5. The launch state lets the processor keep a launched VMCS partly inside itself.',
      hints: ['The first entry was a launch. Is the VMCS still in the state it was in before it?'],
      notes: 'Errors 4 and 5 are SDM Vol. 3C Table 31-1. The lab\'s hypervisor checks both (src/emu/vmx tests them).\n\nA hypervisor that migrates a vCPU to another physical CPU must VMCLEAR it first, and VMLAUNCH it there.',
    },
    'first-exit': {
      title: 'The first VM exit',
      body: 'The guest\'s next instruction is the CPUID, at 0x100002.',
      act: 'Step once.',
      done: 'VM exit, reason 10 (EXIT_REASON_CPUID), at guest RIP 0x100002. In the same step the hypervisor handled it and entered the guest again with VMRESUME, at 0x100004. The inspector decodes the exit; Where the processor runs draws the way up and back down.',
      hints: ['Press → once.', 'Or use Next VM exit in the playback bar.'],
      notes: 'One step of the lab covers the exit, the whole handler and the entry: the guest sees nothing of it, only that CPUID returned values the hypervisor chose.',
    },
    'find-reason': {
      title: 'Find the exit reason',
      body: 'The inspector lists the exit-information fields the processor wrote at the exit, each with its VMCS encoding and, where the SDM gives a layout, its bits.',
      act: 'Pick the field that tells the hypervisor why the guest exited: click it, or Tab to it and press Enter.',
      done: 'VM_EXIT_REASON, encoding 0x4402: the basic exit reason 10 in bits 15 to 0, and bit 31 clear, so this is not a failed VM entry.',
      miss: '{name} is not it: it holds details of an exit, not its reason.',
      hints: ['Its name says what it holds.', 'The handler reads it first: look at the top of the handler\'s path.'],
      notes: 'The encoding is how software names a VMCS field: 0x4402 says a 32-bit read-only data field. The field\'s place in memory is the processor\'s secret, which the next step explains.',
    },
    handler: {
      title: 'The handler\'s path',
      body: 'Below the exit, the handler\'s path lists every VMCS access in order. After VM_EXIT_REASON it wrote CPUID\'s four result registers (it keeps the guest\'s general registers in software), then VMREAD VM_EXIT_INSTRUCTION_LEN = 2 and GUEST_RIP = 0x100002, and VMWRITE GUEST_RIP = 0x100004, RIP plus the length. Then VMRESUME.\n\nThe processor does not skip the exiting instruction: GUEST_RIP still points at the CPUID. If the handler did not move it, the guest would run CPUID again, exit again, forever.\n\nWhy VMREAD and VMWRITE, not ordinary loads and stores? The VMCS lives in memory, but its layout is the processor\'s own: only its revision identifier and abort indicator are defined. A field is named by its encoding, and the processor may keep parts of a launched VMCS inside itself.',
      hints: [],
      notes: 'Point at each line of the path. The order (reason, RIP, IDT-vectoring information first) is what real handlers do: an exit that interrupted the delivery of an event must re-inject it.\n\nThe undefined layout is why nested virtualization and VMCS shadowing are hard: see the VMCB in lesson 4 for the opposite choice.',
    },
    'predict-qual': {
      title: 'Predict: the exit qualification',
      body: 'Further on, the guest writes to the UART: DX = 0x3f8 and then out dx, al, a 1-byte write to port 0x3f8. The hypervisor asked for exits on port I/O, so OUT exits with reason 30, and EXIT_QUALIFICATION says which access it was. For I/O, the SDM defines: bits 2 to 0, the size of the access minus 1; bit 3, the direction (1 = IN, 0 = OUT); bit 4, a string instruction; bit 5, a REP prefix; bit 6, the operand (0 = the port in DX, 1 = an immediate); bits 31 to 16, the port number.',
      prompt: 'What value will EXIT_QUALIFICATION hold for this OUT? Answer in hex with 0x.',
      why: 'Size minus 1 = 0, direction 0 (OUT), no string, no REP, the port in DX (0): every bit below 16 is 0. The port, 0x3f8, sits in bits 31 to 16: 0x3f8 shifted left by 16 is 0x3f80000. From this one value the hypervisor knows everything it needs, without decoding the instruction.',
      hints: ['Start with the port: shifting left by 16 appends four hex zeros.', 'Every other field is 0 for a plain 1-byte OUT with the port in DX.'],
      notes: 'SDM Vol. 3C, Table 28-5. The point is the design: the processor has decoded the instruction already, and hands the result to the hypervisor, so the hypervisor does not need an x86 decoder for the common exits.',
    },
    'predict-rip': {
      title: 'Predict: where the guest goes on',
      body: 'out dx, al is 1 byte long, and this OUT sits at 0x100014.',
      prompt: 'What will the handler write to GUEST_RIP? Answer in hex with 0x.',
      why: '0x100014 + 1 = 0x100015. The handler reads VM_EXIT_INSTRUCTION_LEN (1 for this OUT) rather than decoding the instruction itself.',
      hints: ['The same rule as for the CPUID: RIP plus the instruction\'s length.'],
      notes: 'Good moment to ask what happens with a REP OUTS that must stop halfway: the hypervisor then leaves RIP where it is and updates RCX and RSI instead.',
    },
    'io-exit': {
      title: 'The I/O exit',
      body: 'On the way the guest will make one more CPUID exit (for the hypervisor\'s own leaf) and run four instructions natively.',
      act: 'Step until the OUT exits, or press Next VM exit until its reason is 30.',
      done: 'Reason 30, EXIT_REASON_IO_INSTRUCTION, at guest RIP 0x100014. EXIT_QUALIFICATION = 0x3f80000, and its bit strip names each field: size 0, direction 0, port 0x3f8. The handler read it, passed the byte to its UART model (the console shows H), read VM_EXIT_INSTRUCTION_LEN = 1, wrote GUEST_RIP = 0x100015 and resumed.',
      hints: ['Press → until the inspector\'s exit says EXIT_REASON_IO_INSTRUCTION.', 'Next VM exit stops at each exit: the second one is the OUT.'],
      notes: 'The character reaches the console only through the hypervisor: the guest has no UART, only the illusion of one. This is a device model, the heart of every hypervisor.',
    },
    cost: {
      title: 'What an exit costs',
      body: 'Every exit saves the guest state and loads the host state; every entry checks and loads the guest state again; every VMREAD and VMWRITE is an instruction of its own. The figures below were measured on the first VT-x processors. The inspector shows what the lab\'s cost model charged for this exit\'s round trip, and the charts add them up by reason.\n\nA device that exits on every byte, as this UART does, is slow under any hypervisor: this is why hypervisors batch work, and why paravirtual devices exist.',
      hints: [],
      notes: 'The figures are graded: read the source and grade under each one. Later processors made exits several times cheaper, but never free.\n\nThe lab\'s cycle costs come from a named preset; they are a model, not a measurement of this machine.',
    },
    summary: {
      title: 'What you have seen',
      body: 'In VMX non-root operation the guest runs natively until an instruction or event the processor must not carry out for it: CPUID always, OUT because the hypervisor asked. The processor then makes a VM exit: it writes the basic exit reason and the exit qualification into the VMCS and switches to the hypervisor in VMX root operation.\n\nThe hypervisor reads them with VMREAD, emulates the instruction, moves GUEST_RIP past it by VM_EXIT_INSTRUCTION_LEN with VMWRITE, and enters again with VMRESUME, because the VMCS is already launched.\n\nNext: the same guest on AMD-V, where the names and the numbers change, and the control block is ordinary memory.',
      hints: [],
      notes: 'Ask the room to name the three VMCS fields every instruction exit reads: VM_EXIT_REASON, EXIT_QUALIFICATION (where the instruction has one) and VM_EXIT_INSTRUCTION_LEN.',
    },
  },
};

export const zh: Text = {
  title: '在 VT-x 上的第一次 VM 退出',
  summary: '在 VT-x 下运行一个客户机，预测它的哪条指令会离开客户机、转到虚拟机监控器，在 VMCS 中读出退出原因和退出限定，并跟随处理程序从 VMREAD 一直走到 VMRESUME。',
  scenarios: { vmx: 'VT-x 下的客户机：CPUID、OUT、RDMSR、VMCALL、HLT' },
  steps: {
    'non-root': {
      title: '一个处理器上的两个世界',
      body: '有了 VT-x，处理器有两种操作模式。虚拟机监控器运行于 VMX 根操作，客户机运行于 VMX 非根操作。两者各有自己的特权级 0 到 3，所以客户机内核真的运行在特权级 0，它的大多数指令都原生地全速执行。\n\n在非根操作中，有些指令和事件不会被执行：处理器转而产生一次 VM 退出。它把客户机的状态保存到 VMCS（虚拟机控制结构）中，装入虚拟机监控器的状态，并记下离开的原因。虚拟机监控器处理这次退出，然后再次进入客户机。\n\n“处理器在哪里运行”视图画出了这两个世界。机器还没有开始运行：虚拟机监控器已经准备好 VMCS，正要进入客户机。',
      hints: [],
      notes: '与第 1 课对比：那里特权指令在 CPL 3 下引发 #GP。这里客户机处于 CPL 0，由处理器根据 VMCS 中的控制位决定哪些操作必须退出。\n\n客户机是一个很小的 64 位内核，第 4 课在 AMD-V 上运行的正是同一个。',
    },
    'predict-first': {
      title: '预测：第一次退出',
      body: '客户机的前三条指令依次是 xor eax, eax、cpuid 和 mov r12d, ebx。虚拟机监控器没有要求其中任何一条退出。',
      prompt: '哪条指令会产生第一次 VM 退出？',
      choices: {
        xor: 'xor eax, eax：客户机执行的第一条指令',
        cpuid: 'cpuid：它报告处理器的身份和特性',
        mov: 'mov r12d, ebx：它复制 CPUID 返回的结果',
      },
      why: '是 CPUID。在 VMX 非根操作中，有少数指令不论控制位如何都会退出，CPUID 就是其中之一：它告诉软件自己运行在什么处理器上，所以虚拟机监控器必须始终能够代替处理器回答（以隐藏某些特性，或者表明存在虚拟机监控器）。XOR 和 MOV 只访问寄存器，而寄存器归客户机所有：它们原生执行。',
      hints: ['三条指令中，哪一条可能让客户机发现机器上不只有它自己？', '客户机运行时寄存器归它所有：对寄存器的运算从不需要虚拟机监控器。'],
      notes: 'SDM 第 3C 卷 26.1.2 节“无条件引起 VM 退出的指令”：CPUID、GETSEC、INVD、XSETBV，以及 VMX 指令本身。\n\n可以问学生：为什么虚拟机监控器不能干脆关掉 CPUID 退出？答：那样就无法再隐藏宿主机的特性，而在不同 CPU 之间做热迁移恰恰需要这一点。',
    },
    launch: {
      title: '用 VMLAUNCH 进入客户机',
      body: '虚拟机监控器用 VMLAUNCH 进入客户机。处理器检查 VMCS 中的控制字段和宿主机状态，再检查客户机状态，然后装入客户机状态，在非根操作中从客户机的 RIP 继续执行。',
      act: '单步执行一次。',
      done: 'VMLAUNCH 成功：视图显示处理器处于 VMX 非根操作，客户机已经原生地执行了它的第一条指令 xor eax, eax。还没有退出。',
      hints: ['按一次 →。'],
      notes: '如果检查失败，VMLAUNCH 会以 VM 指令错误失败（控制字段或宿主机状态有误），或者产生一次退出原因第 31 位为 1 的 VM 退出（客户机状态有误）。想动手破坏的学生可以在沙盒里试这两种情况。',
    },
    'predict-reason': {
      title: '预测：退出原因',
      body: '发生 VM 退出时，处理器把基本退出原因（一个编号）写入 VMCS 字段 VM_EXIT_REASON。SDM 给各种原因编了号：0 是异常或 NMI，1 是外部中断，2 是三重故障，12 是 HLT，18 是 VMCALL，30 是 I/O 指令。',
      prompt: 'CPUID 这次退出会报告哪个基本退出原因？',
      why: '10，即 EXIT_REASON_CPUID。虚拟机监控器的处理程序首先读出它，再按它分派，就像内核按异常的向量号分派一样。',
      hints: ['CPUID 的编号介于三重故障和 HLT 之间。', '它是一个小于 12 的两位数。'],
      notes: '学生无法推导出 10；重点是知道这个编号存放在哪里、虚拟机监控器按它分支。让他们先猜，再一起到 SDM 附录 C 的表中查。',
    },
    'predict-resume': {
      title: '预测：回到客户机',
      body: '处理完退出之后，虚拟机监控器再次进入客户机。VT-x 为此提供了两条指令。',
      prompt: '它会用哪一条？',
      choices: {
        vmlaunch: '还是 VMLAUNCH：每次进入都是一次启动',
        vmresume: 'VMRESUME：这个 VMCS 已经启动过了',
      },
      why: '是 VMRESUME。每个 VMCS 都有一个启动状态。VMCLEAR 把它置为“清除”；VMLAUNCH 要求 VMCS 处于清除状态，并把它变为“已启动”；VMRESUME 要求 VMCS 已启动。对已启动的 VMCS 执行 VMLAUNCH 会以 VM 指令错误 4 失败，对清除状态的 VMCS 执行 VMRESUME 则以错误 5 失败。有了启动状态，处理器就可以把已启动的 VMCS 的一部分保存在自己内部。',
      hints: ['第一次进入是一次启动。VMCS 还处在启动之前的状态吗？'],
      notes: '错误 4 和 5 见 SDM 第 3C 卷表 31-1。本实验室的虚拟机监控器对两者都做检查（src/emu/vmx 中有测试）。\n\n虚拟机监控器若要把一个 vCPU 迁到另一颗物理 CPU 上，必须先对它执行 VMCLEAR，再在那里执行 VMLAUNCH。',
    },
    'first-exit': {
      title: '第一次 VM 退出',
      body: '客户机的下一条指令就是位于 0x100002 的 CPUID。',
      act: '单步执行一次。',
      done: 'VM 退出，原因 10（EXIT_REASON_CPUID），客户机 RIP 为 0x100002。在同一步中，虚拟机监控器处理了它，并用 VMRESUME 在 0x100004 处再次进入客户机。检查器解码了这次退出；视图画出了上去再下来的路径。',
      hints: ['按一次 →。', '也可以用播放栏中的“下一次 VM 退出”。'],
      notes: '实验室的一步涵盖了退出、整个处理程序和再次进入：客户机对此毫无察觉，只看到 CPUID 返回了虚拟机监控器选定的值。',
    },
    'find-reason': {
      title: '找到退出原因',
      body: '检查器列出了处理器在退出时写入的各个退出信息字段，每个都带有它的 VMCS 编码；SDM 给出了布局的字段，还按位展开。',
      act: '选出告诉虚拟机监控器客户机为何退出的那个字段：点击它，或用 Tab 移到它上面再按 Enter。',
      done: 'VM_EXIT_REASON，编码 0x4402：第 15 到 0 位是基本退出原因 10，第 31 位未置位，所以这不是一次失败的 VM 进入。',
      miss: '{name} 不是要找的字段：它存放的是退出的细节，而不是原因。',
      hints: ['它的名字就说明了它存放什么。', '处理程序最先读它：看处理程序路径的第一行。'],
      notes: '编码是软件称呼 VMCS 字段的方式：0x4402 表示一个 32 位的只读数据字段。字段在内存中的位置是处理器的秘密，下一步会解释。',
    },
    handler: {
      title: '处理程序的路径',
      body: '在退出信息下面，“处理程序的路径”按顺序列出了每一次 VMCS 访问。读完 VM_EXIT_REASON 之后，它写入了 CPUID 的四个结果寄存器（它在软件中保存客户机的通用寄存器），然后 VMREAD 读出 VM_EXIT_INSTRUCTION_LEN = 2 和 GUEST_RIP = 0x100002，再 VMWRITE 写入 GUEST_RIP = 0x100004，即 RIP 加上指令长度。最后是 VMRESUME。\n\n处理器不会跳过引起退出的指令：GUEST_RIP 仍然指向这条 CPUID。如果处理程序不移动它，客户机就会再次执行 CPUID、再次退出，永无止境。\n\n为什么要用 VMREAD 和 VMWRITE，而不是普通的读写内存？VMCS 位于内存中，但它的布局由处理器自己决定：只有修订标识符和中止指示符是有定义的。字段用编码来指明，处理器还可以把已启动的 VMCS 的一部分保存在自己内部。',
      hints: [],
      notes: '逐行指给学生看。这个顺序（先读原因、RIP 和 IDT 向量信息）正是真实处理程序的做法：如果退出打断了一次事件投递，就必须重新注入它。\n\n布局未定义，正是嵌套虚拟化和 VMCS 影子难做的原因；第 4 课的 VMCB 做了相反的选择。',
    },
    'predict-qual': {
      title: '预测：退出限定',
      body: '再往后，客户机向 UART 写数据：先置 DX = 0x3f8，再执行 out dx, al，即向端口 0x3f8 写 1 个字节。虚拟机监控器要求端口 I/O 退出，所以 OUT 以原因 30 退出，而 EXIT_QUALIFICATION 说明了这是怎样的一次访问。对于 I/O，SDM 规定：第 2 到 0 位是访问大小减 1；第 3 位是方向（1 = IN，0 = OUT）；第 4 位表示串指令；第 5 位表示 REP 前缀；第 6 位是操作数（0 = 端口在 DX 中，1 = 立即数）；第 31 到 16 位是端口号。',
      prompt: '这条 OUT 的 EXIT_QUALIFICATION 会是什么值？请用带 0x 的十六进制作答。',
      why: '大小减 1 = 0，方向为 0（OUT），不是串指令，没有 REP，端口在 DX 中（0）：16 以下的各位都是 0。端口 0x3f8 位于第 31 到 16 位：0x3f8 左移 16 位得到 0x3f80000。单凭这一个值，虚拟机监控器就知道了所需的一切，无须自己解码指令。',
      hints: ['先算端口：左移 16 位就是在后面添上四个十六进制零。', '对于端口在 DX 中的普通 1 字节 OUT，其余字段都是 0。'],
      notes: 'SDM 第 3C 卷表 28-5。要点在于设计：处理器已经解码过这条指令，把结果交给虚拟机监控器，因此对常见的退出，虚拟机监控器不需要 x86 解码器。',
    },
    'predict-rip': {
      title: '预测：客户机从哪里继续',
      body: 'out dx, al 长 1 个字节，这条 OUT 位于 0x100014。',
      prompt: '处理程序会向 GUEST_RIP 写入什么？请用带 0x 的十六进制作答。',
      why: '0x100014 + 1 = 0x100015。处理程序读取 VM_EXIT_INSTRUCTION_LEN（这条 OUT 为 1），而不是自己解码指令。',
      hints: ['与 CPUID 的规则相同：RIP 加上指令长度。'],
      notes: '这时可以问：如果一条 REP OUTS 必须中途停下会怎样？那时虚拟机监控器让 RIP 保持不变，转而更新 RCX 和 RSI。',
    },
    'io-exit': {
      title: 'I/O 退出',
      body: '在此之前，客户机还会再产生一次 CPUID 退出（查询虚拟机监控器自己的叶），并原生执行四条指令。',
      act: '单步执行直到 OUT 退出，或者反复按“下一次 VM 退出”，直到退出原因为 30。',
      done: '原因 30，EXIT_REASON_IO_INSTRUCTION，客户机 RIP 为 0x100014。EXIT_QUALIFICATION = 0x3f80000，它的位带标出了每个字段：大小 0，方向 0，端口 0x3f8。处理程序读出它，把这个字节交给自己的 UART 模型（控制台显示 H），读出 VM_EXIT_INSTRUCTION_LEN = 1，写入 GUEST_RIP = 0x100015，然后恢复客户机。',
      hints: ['按 →，直到检查器中的退出显示 EXIT_REASON_IO_INSTRUCTION。', '“下一次 VM 退出”在每次退出处停下：第二次就是 OUT。'],
      notes: '字符只能经由虚拟机监控器到达控制台：客户机并没有 UART，只有一个 UART 的假象。这就是设备模型，每个虚拟机监控器的核心。',
    },
    cost: {
      title: '一次退出的代价',
      body: '每次退出都要保存客户机状态、装入宿主机状态；每次进入都要再检查并装入客户机状态；每个 VMREAD 和 VMWRITE 都是一条单独的指令。下面的数字是在最早的 VT-x 处理器上测得的。检查器显示了本实验室的开销模型为这次往返计的开销，统计图按原因把它们加起来。\n\n像这个 UART 这样每个字节都退出一次的设备，在任何虚拟机监控器下都很慢：这就是虚拟机监控器要批量处理工作、以及半虚拟化设备存在的原因。',
      hints: [],
      notes: '这些数字都有评级：请看每个数字下面的来源和评级。后来的处理器使退出便宜了好几倍，但从未免费。\n\n本实验室的周期开销来自一个有名字的预设；它是一个模型，而不是对这台机器的测量。',
    },
    summary: {
      title: '你看到了什么',
      body: '在 VMX 非根操作中，客户机原生运行，直到遇到处理器不能替它执行的指令或事件：CPUID 总是如此，OUT 则是因为虚拟机监控器要求。这时处理器产生一次 VM 退出：把基本退出原因和退出限定写入 VMCS，并切换到处于 VMX 根操作的虚拟机监控器。\n\n虚拟机监控器用 VMREAD 读出它们，模拟这条指令，用 VMWRITE 把 GUEST_RIP 向前移动 VM_EXIT_INSTRUCTION_LEN，再用 VMRESUME 重新进入，因为这个 VMCS 已经启动过了。\n\n下一课：同一个客户机在 AMD-V 上运行，名字和编号都变了，而控制块就是普通的内存。',
      hints: [],
      notes: '请全班说出每次指令退出都要读的三个 VMCS 字段：VM_EXIT_REASON、EXIT_QUALIFICATION（指令有的话）和 VM_EXIT_INSTRUCTION_LEN。',
    },
  },
};
