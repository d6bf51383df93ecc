/**
 * The glossary: the technical terms the lab uses, in English and Simplified Chinese, each with a
 * one-line definition in both languages and a note on where the Chinese term is used, so that a
 * native reviewer can check it.
 *
 * Where the Chinese term is used: `vendor` (a vendor's Chinese documentation) and `textbook` (a
 * named Chinese textbook or translation) need the work named, as read; `common` means no named
 * source was checked for this build, and says so. Nothing here was checked against a named
 * Chinese source yet, so every entry is `common`: a reviewer who checks one against a book or a
 * vendor manual changes its `usage` to name it.
 *
 * `zhAlso` lists other Chinese forms met in the literature or in the lab's UI, which the UI may
 * use; `avoid` lists forms the lab's Chinese UI must not use (glossary.test.ts checks the
 * catalogs). `ui` matches the English UI strings that speak of the term: their Chinese
 * counterparts must use `zh` or a `zhAlso` form.
 */
import type { Locale } from '../i18n/messages.ts';

export const USAGE_KINDS = ['vendor', 'textbook', 'common'] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

export interface Usage {
  kind: UsageKind;
  /** The document or book, as read (required for `vendor` and `textbook`). */
  work?: string;
  /** Variants and remarks for the reviewer, in each language. */
  note: Record<Locale, string>;
}

export interface Term {
  id: string;
  en: string;
  /** The abbreviation the lab writes (in both languages), if any. */
  abbr?: string;
  zh: string;
  zhAlso: readonly string[];
  avoid: readonly string[];
  def: Record<Locale, string>;
  usage: Usage;
  /** English UI strings about this term (see above). */
  ui?: RegExp;
}

const common = (en: string, zh: string): Usage => ({ kind: 'common', note: { en, 'zh-CN': zh } });

export const GLOSSARY = [
  {
    id: 'ring',
    en: 'ring (protection ring)',
    zh: '特权级环',
    zhAlso: ['特权级', '环', '保护环'],
    avoid: [],
    def: {
      en: 'One of the four privilege levels 0–3 of x86 protected mode, drawn as concentric rings; ring 0 is the most privileged.',
      'zh-CN': 'x86 保护模式的四个特权级 0–3 之一，常画成同心圆环；环 0 的特权最高。',
    },
    usage: common('The lab’s Chinese UI says 特权级 for “ring” (特权级 0 → 3), since ring n is privilege level n.', '本实验室的中文界面把 ring 译作“特权级”（特权级 0 → 3），因为环 n 就是特权级 n。'),
    ui: /\brings?\b(?! ?−1)/i,
  },
  {
    id: 'privilege-level',
    en: 'privilege level',
    zh: '特权级',
    zhAlso: [],
    avoid: ['特权等级', '权限级别', '特权层级'],
    def: {
      en: 'A number from 0 (most privileged) to 3 that decides which instructions and memory code may use.',
      'zh-CN': '从 0（特权最高）到 3 的数值，决定代码可以使用哪些指令和内存。',
    },
    usage: common('Also written 特权级别 in some texts.', '部分文献写作“特权级别”。'),
    ui: /privilege level/i,
  },
  {
    id: 'cpl',
    en: 'current privilege level',
    abbr: 'CPL',
    zh: '当前特权级',
    zhAlso: ['CPL'],
    avoid: [],
    def: {
      en: 'The privilege level of the code running now, held in the low two bits of CS.',
      'zh-CN': '当前正在运行的代码的特权级，保存在 CS 的最低两位。',
    },
    usage: common('Usually left as CPL in running text.', '正文中通常直接写 CPL。'),
  },
  {
    id: 'privileged-instruction',
    en: 'privileged instruction',
    zh: '特权指令',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'An instruction that only ring 0 may execute; elsewhere it raises #GP.',
      'zh-CN': '只能在特权级 0 执行的指令；在其他特权级执行会引发 #GP。',
    },
    usage: common('', ''),
    ui: /privileged instructions?/i,
  },
  {
    id: 'sensitive-instruction',
    en: 'sensitive instruction',
    zh: '敏感指令',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'An instruction that reads or changes the machine’s control state, or behaves differently by privilege level.',
      'zh-CN': '读取或改变机器控制状态、或随特权级不同而行为不同的指令。',
    },
    usage: common('', ''),
  },
  {
    id: 'supervisor-mode',
    en: 'supervisor mode',
    zh: '内核态',
    zhAlso: ['管理模式', '管态', '超级用户模式', '超级用户态', '核心态'],
    avoid: [],
    def: {
      en: 'Code at privilege level 0–2, which paging treats as the operating system (U/S = 0 pages are for it only).',
      'zh-CN': '特权级 0–2 的代码，分页机制把它视为操作系统（U/S = 0 的页只供它访问）。',
    },
    usage: common(
      'Renderings vary: 管态 (older OS textbooks), 管理模式, 超级用户模式; the lab’s UI uses 内核态 and, in the TLB view, 超级用户 (see the report).',
      '译法不一：管态（较早的操作系统教材）、管理模式、超级用户模式；本实验室界面多用“内核态”，TLB 视图中用“超级用户”。',
    ),
    ui: /supervisor/i,
  },
  {
    id: 'user-mode',
    en: 'user mode',
    zh: '用户态',
    zhAlso: ['用户模式', '目态', '用户'],
    avoid: [],
    def: {
      en: 'Code at privilege level 3: applications, which may touch only U/S = 1 pages.',
      'zh-CN': '特权级 3 的代码，即应用程序，只能访问 U/S = 1 的页。',
    },
    usage: common('目态 appears in older OS textbooks.', '较早的操作系统教材中写作“目态”。'),
  },
  {
    id: 'interrupt',
    en: 'interrupt',
    zh: '中断',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'A signal, from a device or an INT instruction, that makes the CPU run a handler found through the IDT.',
      'zh-CN': '来自设备或 INT 指令的信号，使 CPU 转去执行经由 IDT 找到的处理程序。',
    },
    usage: common('', ''),
    ui: /\binterrupts?\b/i,
  },
  {
    id: 'exception',
    en: 'exception',
    zh: '异常',
    zhAlso: [],
    avoid: ['例外'],
    def: {
      en: 'An event the CPU raises itself while executing an instruction (a fault, trap or abort), such as #PF or #GP.',
      'zh-CN': 'CPU 在执行指令时自身产生的事件（故障、陷阱或中止），如 #PF、#GP。',
    },
    usage: common('例外 is seen in some translations; the lab uses 异常.', '部分译本写作“例外”；本实验室用“异常”。'),
    ui: /\bexceptions?\b/i,
  },
  {
    id: 'fault',
    en: 'fault (exception class)',
    zh: '故障',
    zhAlso: ['异常'],
    avoid: [],
    def: {
      en: 'An exception reported before the faulting instruction completes, so that it can be restarted after the handler returns.',
      'zh-CN': '在出错指令完成之前报告的异常，处理程序返回后该指令可以重新执行。',
    },
    usage: common('The three classes fault / trap / abort are commonly 故障 / 陷阱 / 中止.', '三类异常 fault / trap / abort 通常译作 故障 / 陷阱 / 中止。'),
  },
  {
    id: 'vector',
    en: 'vector (interrupt vector)',
    zh: '向量号',
    zhAlso: ['中断向量', '向量'],
    avoid: [],
    def: {
      en: 'The number 0–255 that selects an interrupt’s or exception’s entry in the IDT.',
      'zh-CN': '0–255 的编号，用来在 IDT 中选出某个中断或异常的表项。',
    },
    usage: common('', ''),
    ui: /(?<!\{)\bvector\b/i,
  },
  {
    id: 'idt',
    en: 'interrupt descriptor table',
    abbr: 'IDT',
    zh: '中断描述符表',
    zhAlso: ['IDT'],
    avoid: [],
    def: {
      en: 'The table of gate descriptors, one per vector, that says where each interrupt’s or exception’s handler is.',
      'zh-CN': '每个向量号一个门描述符的表，指明各个中断或异常的处理程序所在。',
    },
    usage: common('', ''),
  },
  {
    id: 'gdt',
    en: 'global descriptor table',
    abbr: 'GDT',
    zh: '全局描述符表',
    zhAlso: ['GDT'],
    avoid: [],
    def: {
      en: 'The table of segment descriptors (and the TSS descriptor) that segment selectors index.',
      'zh-CN': '存放段描述符（以及 TSS 描述符）的表，由段选择子索引。',
    },
    usage: common('', ''),
  },
  {
    id: 'gate',
    en: 'gate (interrupt or trap gate)',
    zh: '门',
    zhAlso: ['中断门', '陷阱门', '门描述符'],
    avoid: [],
    def: {
      en: 'A descriptor that names a handler’s code segment and entry point; an interrupt gate also clears IF.',
      'zh-CN': '指明处理程序代码段和入口地址的描述符；中断门还会清除 IF。',
    },
    usage: common('', ''),
  },
  {
    id: 'tss',
    en: 'task-state segment',
    abbr: 'TSS',
    zh: '任务状态段',
    zhAlso: ['TSS'],
    avoid: [],
    def: {
      en: 'In 64-bit mode, the structure that holds the stack pointers loaded when an interrupt enters a more privileged ring.',
      'zh-CN': '在 64 位模式下，保存中断进入更高特权级时所装入的栈指针的结构。',
    },
    usage: common('', ''),
  },
  {
    id: 'system-call',
    en: 'system call',
    zh: '系统调用',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'A request from an application to the kernel, made with SYSCALL, SYSENTER or INT n, that enters ring 0 at a fixed entry point.',
      'zh-CN': '应用程序向内核提出的请求，用 SYSCALL、SYSENTER 或 INT n 发出，在固定入口进入特权级 0。',
    },
    usage: common('', ''),
    ui: /system calls?/i,
  },
  {
    id: 'paging',
    en: 'paging',
    zh: '分页',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'Translating linear addresses to physical ones through page tables, page by page (4 KiB, 2 MiB or 1 GiB).',
      'zh-CN': '通过页表以页（4 KiB、2 MiB 或 1 GiB）为单位把线性地址转换为物理地址。',
    },
    usage: common('', ''),
    ui: /\bpaging\b/i,
  },
  {
    id: 'page-table',
    en: 'page table',
    zh: '页表',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'A 4 KiB table of 512 (or 1024) entries, one level of the tree that maps linear addresses to physical ones.',
      'zh-CN': '含 512（或 1024）个表项的 4 KiB 表，是把线性地址映射到物理地址的树中的一层。',
    },
    usage: common('', ''),
    ui: /page tables?/i,
  },
  {
    id: 'page-table-entry',
    en: 'page-table entry',
    abbr: 'PTE',
    zh: '页表项',
    zhAlso: ['表项', '分页表项'],
    avoid: ['页表条目'],
    def: {
      en: 'One entry of a paging structure: the next table’s or the page’s address, and bits such as P, R/W, U/S, A, D, XD.',
      'zh-CN': '分页结构中的一个表项：下一级表或页的地址，以及 P、R/W、U/S、A、D、XD 等位。',
    },
    usage: common('条目 is also met for “entry” (see TLB entry).', '“entry”也常译作“条目”（见“TLB 表项”）。'),
  },
  {
    id: 'page-walk',
    en: 'page walk',
    zh: '页表遍历',
    zhAlso: ['遍历', '页遍历'],
    avoid: [],
    def: {
      en: 'The CPU reading one entry per level of the page tables to translate an address the TLB could not.',
      'zh-CN': 'CPU 为翻译 TLB 无法给出的地址，逐级读取各层页表中的一个表项。',
    },
    usage: common('Also 页表查询 or 页表漫游 in some texts.', '部分文献也写作“页表查询”或“页表漫游”。'),
    ui: /\bwalk(s|ed)?\b/i,
  },
  {
    id: 'page-fault',
    en: 'page fault',
    abbr: '#PF',
    zh: '缺页异常',
    zhAlso: ['缺页'],
    avoid: ['页错误', '页面错误', '页故障'],
    def: {
      en: 'Exception 14: a translation failed (entry not present, a reserved bit set, or access not allowed); CR2 holds the address.',
      'zh-CN': '14 号异常：地址转换失败（表项不存在、保留位被置位或访问不被允许）；CR2 保存出错地址。',
    },
    usage: common('Also 缺页中断 in older texts, though it is an exception, not an interrupt.', '较早的文献写作“缺页中断”，但它是异常而不是中断。'),
    ui: /page faults?/i,
  },
  {
    id: 'demand-paging',
    en: 'demand paging',
    zh: '按需分页',
    zhAlso: ['请求分页'],
    avoid: [],
    def: {
      en: 'Mapping a page only when it is first touched, in the page-fault handler.',
      'zh-CN': '只在页第一次被访问时，由缺页异常处理程序建立映射。',
    },
    usage: common('请求分页 is common in Chinese OS textbooks.', '中文操作系统教材中常写作“请求分页”。'),
    ui: /demand paging/i,
  },
  {
    id: 'linear-address',
    en: 'linear address',
    zh: '线性地址',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'The address after segmentation and before paging: what the page tables translate.',
      'zh-CN': '经过分段、尚未分页的地址，即页表所翻译的地址。',
    },
    usage: common('', ''),
    ui: /linear address/i,
  },
  {
    id: 'physical-address',
    en: 'physical address',
    zh: '物理地址',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'The address that goes to memory (or to a device) after paging.',
      'zh-CN': '经过分页之后送往内存（或设备）的地址。',
    },
    usage: common('', ''),
    ui: /physical address/i,
  },
  {
    id: 'tlb',
    en: 'translation lookaside buffer',
    abbr: 'TLB',
    zh: '转换后备缓冲器',
    zhAlso: ['TLB', '快表', '翻译后备缓冲器', '转译后备缓冲区'],
    avoid: [],
    def: {
      en: 'The CPU’s cache of recent translations, so that most accesses need no page walk.',
      'zh-CN': 'CPU 缓存最近地址转换结果的部件，使大多数访问无需遍历页表。',
    },
    usage: common('Usually left as TLB; 快表 is common in Chinese OS textbooks; renderings of the full name vary.', '通常直接写 TLB；中文操作系统教材常称“快表”；全称的译法不一。'),
  },
  {
    id: 'tlb-entry',
    en: 'TLB entry',
    zh: 'TLB 表项',
    zhAlso: ['表项', '项'],
    avoid: [],
    def: {
      en: 'One cached translation: a page’s linear and physical address with its rights, tagged with a PCID and whether it is global.',
      'zh-CN': '一条缓存的地址转换：某页的线性地址与物理地址及其访问权限，带有 PCID 标签和是否全局的标记。',
    },
    usage: common('条目 is also met for “entry”; the lab’s TLB view and walk view say 表项 or 项, its timeline says 条目 (see the report).', '“entry”也常译作“条目”；本实验室的 TLB 视图与页表遍历视图用“表项”或“项”，时间线用“条目”。'),
    ui: /(?<![{]|exits and |VM[ -])\bentr(?:y|ies)\b/i,
  },
  {
    id: 'pcid',
    en: 'process-context identifier',
    abbr: 'PCID',
    zh: '进程上下文标识符',
    zhAlso: ['PCID'],
    avoid: [],
    def: {
      en: 'A 12-bit tag in CR3 that lets TLB entries of several address spaces live side by side.',
      'zh-CN': 'CR3 中的 12 位标签，使多个地址空间的 TLB 表项可以同时保留。',
    },
    usage: common('', ''),
  },
  {
    id: 'global-page',
    en: 'global page',
    zh: '全局页',
    zhAlso: ['全局'],
    avoid: [],
    def: {
      en: 'A page whose TLB entry (G = 1, with CR4.PGE) survives a CR3 load, for kernel mappings shared by all processes.',
      'zh-CN': '其 TLB 表项（G = 1，且 CR4.PGE 置位）在加载 CR3 时不被清除的页，用于所有进程共享的内核映射。',
    },
    usage: common('', ''),
  },
  {
    id: 'hypervisor',
    en: 'hypervisor (virtual machine monitor)',
    abbr: 'VMM',
    zh: '虚拟机监控器',
    zhAlso: ['虚拟机监视器', 'hypervisor', 'Hypervisor', 'VMM'],
    avoid: ['管理程序'],
    def: {
      en: 'The software that creates and runs virtual machines and keeps control of the real hardware.',
      'zh-CN': '创建并运行虚拟机、同时保持对真实硬件控制的软件。',
    },
    usage: common('Often left as Hypervisor; 虚拟机监视器 is also common.', '常直接写 Hypervisor；“虚拟机监视器”也很常见。'),
    ui: /hypervisors?/i,
  },
  {
    id: 'virtual-machine',
    en: 'virtual machine',
    abbr: 'VM',
    zh: '虚拟机',
    zhAlso: ['VM'],
    avoid: [],
    def: {
      en: 'A machine the hypervisor presents to a guest: CPUs, memory and devices, partly real and partly emulated.',
      'zh-CN': '虚拟机监控器呈现给客户机的机器：CPU、内存和设备，部分真实、部分模拟。',
    },
    usage: common('', ''),
    ui: /virtual machines?/i,
  },
  {
    id: 'guest',
    en: 'guest',
    zh: '客户机',
    zhAlso: ['客户'],
    avoid: ['来宾', '访客'],
    def: {
      en: 'The operating system and programs running inside a virtual machine.',
      'zh-CN': '在虚拟机中运行的操作系统和程序。',
    },
    usage: common('', ''),
    ui: /\bguest/i,
  },
  {
    id: 'host',
    en: 'host',
    zh: '宿主机',
    zhAlso: ['主机'],
    avoid: [],
    def: {
      en: 'The real machine, and the hypervisor or operating system running directly on it.',
      'zh-CN': '真实的机器，以及直接运行在其上的虚拟机监控器或操作系统。',
    },
    usage: common('', ''),
  },
  {
    id: 'vcpu',
    en: 'virtual CPU',
    abbr: 'vCPU',
    zh: '虚拟 CPU',
    zhAlso: ['vCPU', '虚拟处理器'],
    avoid: [],
    def: {
      en: 'One processor of a virtual machine, scheduled by the hypervisor onto a real one.',
      'zh-CN': '虚拟机中的一个处理器，由虚拟机监控器调度到真实处理器上运行。',
    },
    usage: common('', ''),
  },
  {
    id: 'trap-and-emulate',
    en: 'trap-and-emulate',
    zh: '陷入并模拟',
    zhAlso: ['陷入-模拟', '陷入再模拟'],
    avoid: [],
    def: {
      en: 'Running the guest kernel deprivileged, so that each sensitive instruction traps to the hypervisor, which emulates it.',
      'zh-CN': '以降低的特权运行客户机内核，使每条敏感指令都陷入虚拟机监控器，由后者模拟执行。',
    },
    usage: common('', ''),
    ui: /trap-and-emulate/i,
  },
  {
    id: 'trap',
    en: 'trap (into the monitor)',
    zh: '陷入',
    zhAlso: ['陷阱'],
    avoid: [],
    def: {
      en: 'A transfer of control from the deprivileged guest to the monitor, caused by a fault such as #GP on a privileged instruction.',
      'zh-CN': '因故障（例如特权指令引发的 #GP）而从被降权的客户机转到虚拟机监控器的控制转移。',
    },
    usage: common('陷阱 is met for the x86 “trap” exception class; the lab says 陷入 for the transfer into the monitor.', '“陷阱”多用于 x86 的 trap 类异常；本实验室把转入虚拟机监控器称为“陷入”。'),
    ui: /traps?|trapped/i,
  },
  {
    id: 'deprivileging',
    en: 'deprivileging',
    zh: '降权',
    zhAlso: ['降低特权'],
    avoid: [],
    def: {
      en: 'Running the guest kernel at a less privileged ring than the one it was written for (ring 1 instead of ring 0), so the monitor keeps ring 0.',
      'zh-CN': '让客户机内核在比其设计时更低的特权级运行（特权级 1 而非 0），使特权级 0 留给虚拟机监控器。',
    },
    usage: common('', ''),
    ui: /depriviledg|deprivileg/i,
  },
  {
    id: 'ring-compression',
    en: 'ring compression',
    zh: '环压缩',
    zhAlso: ['特权级压缩'],
    avoid: [],
    def: {
      en: 'Mapping the guest’s four rings onto fewer real ones: its ring 0 runs in ring 1, so descriptors of DPL 0 are shadowed with DPL 1.',
      'zh-CN': '把客户机的四个特权级映射到更少的真实特权级：它的特权级 0 在特权级 1 运行，因此 DPL 为 0 的描述符在影子表中改为 DPL 1。',
    },
    usage: common('', ''),
    ui: /ring compression/i,
  },
  {
    id: 'binary-translation',
    en: 'binary translation',
    abbr: 'BT',
    zh: '二进制翻译',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'Rewriting the guest kernel’s code as it runs, replacing sensitive instructions with safe sequences.',
      'zh-CN': '在运行时改写客户机内核的代码，把敏感指令替换为安全的指令序列。',
    },
    usage: common('', ''),
    ui: /binary translation/i,
  },
  {
    id: 'paravirtualization',
    en: 'paravirtualization',
    zh: '半虚拟化',
    zhAlso: ['类虚拟化', '准虚拟化'],
    avoid: [],
    def: {
      en: 'Changing the guest to call the hypervisor (hypercalls) instead of using instructions that would need trapping.',
      'zh-CN': '修改客户机，使其调用虚拟机监控器（超级调用），而不使用需要陷入的指令。',
    },
    usage: common('类虚拟化 and 准虚拟化 are also met; the lab uses 半虚拟化.', '也有“类虚拟化”“准虚拟化”的译法；本实验室用“半虚拟化”。'),
    ui: /paravirtu/i,
  },
  {
    id: 'hypercall',
    en: 'hypercall',
    zh: '超级调用',
    zhAlso: ['超调用', 'hypercall'],
    avoid: [],
    def: {
      en: 'A call from a guest to the hypervisor, as a system call is from a program to the kernel (VMCALL, VMMCALL).',
      'zh-CN': '客户机对虚拟机监控器的调用，如同程序对内核的系统调用（VMCALL、VMMCALL）。',
    },
    usage: common('', ''),
  },
  {
    id: 'vmx-root',
    en: 'VMX root / non-root operation',
    zh: 'VMX 根操作 / 非根操作',
    zhAlso: ['根模式', '非根模式'],
    avoid: [],
    def: {
      en: 'Intel VT-x’s two modes: the hypervisor runs in root operation, guests in non-root; each has rings 0–3.',
      'zh-CN': 'Intel VT-x 的两种模式：虚拟机监控器运行于根操作，客户机运行于非根操作；两者各有特权级 0–3。',
    },
    usage: common('Also 根模式 / 非根模式.', '也写作“根模式 / 非根模式”。'),
  },
  {
    id: 'vm-exit',
    en: 'VM exit',
    zh: 'VM 退出',
    zhAlso: ['虚拟机退出', 'VM Exit'],
    avoid: [],
    def: {
      en: 'A transition from the guest to the hypervisor, with the reason recorded (VMCS exit reason, VMCB EXITCODE).',
      'zh-CN': '从客户机切换到虚拟机监控器，同时记下原因（VMCS 中的退出原因、VMCB 中的 EXITCODE）。',
    },
    usage: common('Often left as VM Exit.', '常直接写 VM Exit。'),
    ui: /VM exits?/i,
  },
  {
    id: 'vm-entry',
    en: 'VM entry',
    zh: 'VM 进入',
    zhAlso: ['虚拟机进入', 'VM Entry', '进入'],
    avoid: [],
    def: {
      en: 'A transition from the hypervisor into the guest (VMLAUNCH or VMRESUME; VMRUN on AMD).',
      'zh-CN': '从虚拟机监控器切换进入客户机（VMLAUNCH 或 VMRESUME；AMD 上为 VMRUN）。',
    },
    usage: common('Often left as VM Entry.', '常直接写 VM Entry。'),
    ui: /VM entr(y|ies)/i,
  },
  {
    id: 'exit-reason',
    en: 'exit reason',
    zh: '退出原因',
    zhAlso: ['基本退出原因', 'VM_EXIT_REASON'],
    avoid: [],
    def: {
      en: 'The VMCS field VM_EXIT_REASON: bits 15:0 hold the basic exit reason (10 for CPUID, 30 for an I/O instruction); bit 31 marks a failed VM entry.',
      'zh-CN': 'VMCS 字段 VM_EXIT_REASON：第 15:0 位是基本退出原因（CPUID 为 10，I/O 指令为 30）；第 31 位表示 VM 进入失败。',
    },
    usage: common('The lab’s VM views say 退出原因.', '本实验室的 VM 视图用“退出原因”。'),
  },
  {
    id: 'exit-qualification',
    en: 'exit qualification',
    zh: '退出限定',
    zhAlso: ['退出限定信息', 'EXIT_QUALIFICATION', 'Exit Qualification'],
    avoid: [],
    def: {
      en: 'The VMCS field EXIT_QUALIFICATION: details of a VM exit whose layout depends on the reason, such as the port, size and direction of an I/O instruction.',
      'zh-CN': 'VMCS 字段 EXIT_QUALIFICATION：VM 退出的细节，其布局取决于退出原因，例如 I/O 指令的端口、大小和方向。',
    },
    usage: common('Often left as Exit Qualification.', '常直接写 Exit Qualification。'),
    ui: /exit qualification/i,
  },
  {
    id: 'exitcode',
    en: 'EXITCODE',
    zh: '退出代码',
    zhAlso: ['EXITCODE', 'exit_code'],
    avoid: [],
    def: {
      en: 'AMD-V’s reason for a #VMEXIT, written to the VMCB at offset 0x70 (0x72 for CPUID, 0x7B for I/O, VMEXIT_IOIO).',
      'zh-CN': 'AMD-V 中 #VMEXIT 的原因，写入 VMCB 偏移 0x70 处（CPUID 为 0x72，I/O 为 0x7B，即 VMEXIT_IOIO）。',
    },
    usage: common('The lab writes EXITCODE as the APM does, in both languages.', '本实验室在两种语言中都照 APM 写作 EXITCODE。'),
  },
  {
    id: 'exitinfo',
    en: 'EXITINFO1 / EXITINFO2',
    zh: '退出信息 EXITINFO1 / EXITINFO2',
    zhAlso: ['EXITINFO1', 'EXITINFO2', 'exit_info_1', 'exit_info_2'],
    avoid: [],
    def: {
      en: 'The two VMCB fields that qualify a #VMEXIT; for I/O, EXITINFO1 holds the port, sizes and direction and EXITINFO2 the next RIP.',
      'zh-CN': 'VMCB 中说明 #VMEXIT 细节的两个字段；对于 I/O，EXITINFO1 存放端口、大小和方向，EXITINFO2 存放下一条指令的 RIP。',
    },
    usage: common('Field names are kept as the APM writes them.', '字段名照 APM 原样保留。'),
  },
  {
    id: 'guest-mode',
    en: 'host mode / guest mode',
    zh: '主机模式 / 客户机模式',
    zhAlso: ['主机模式', '客户机模式', '宿主机模式'],
    avoid: [],
    def: {
      en: 'AMD-V’s names for where the processor runs: the hypervisor in host mode, the guest in guest mode (VT-x: VMX root and non-root operation).',
      'zh-CN': 'AMD-V 对处理器运行位置的叫法：虚拟机监控器在主机模式，客户机在客户机模式（VT-x 中称 VMX 根操作与非根操作）。',
    },
    usage: common('The lab’s VM views say 主机模式 / 客户机模式.', '本实验室的 VM 视图用“主机模式 / 客户机模式”。'),
    ui: /\b(host|guest) mode\b/i,
  },
  {
    id: 'nrip',
    en: 'next RIP',
    abbr: 'nRIP',
    zh: '下一条指令的 RIP',
    zhAlso: ['nRIP', 'next_rip', '下一条 RIP'],
    avoid: [],
    def: {
      en: 'The VMCB field (offset 0xC8) where a processor with the NRIP-save feature writes the address of the instruction after the one intercepted.',
      'zh-CN': 'VMCB 字段（偏移 0xC8），支持 NRIP 保存特性的处理器在其中写入被拦截指令之后那条指令的地址。',
    },
    usage: common('Usually left as nRIP.', '通常直接写 nRIP。'),
  },
  {
    id: 'gif',
    en: 'global interrupt flag',
    abbr: 'GIF',
    zh: '全局中断标志',
    zhAlso: ['GIF'],
    avoid: [],
    def: {
      en: 'AMD-V’s flag that, when clear, holds every interrupt, NMIs included, pending; #VMEXIT clears it, VMRUN and STGI set it, CLGI clears it.',
      'zh-CN': 'AMD-V 的标志，清除时把所有中断（包括 NMI）挂起；#VMEXIT 清除它，VMRUN 和 STGI 置位它，CLGI 清除它。',
    },
    usage: common('', ''),
  },
  {
    id: 'vmcs',
    en: 'virtual-machine control structure',
    abbr: 'VMCS',
    zh: '虚拟机控制结构',
    zhAlso: ['VMCS'],
    avoid: [],
    def: {
      en: 'Intel’s per-vCPU region holding guest and host state and the controls; read and written only with VMREAD/VMWRITE.',
      'zh-CN': 'Intel 的每个 vCPU 一份的区域，保存客户机与宿主机状态及各项控制；只能用 VMREAD/VMWRITE 读写。',
    },
    usage: common('', ''),
  },
  {
    id: 'vmcb',
    en: 'virtual machine control block',
    abbr: 'VMCB',
    zh: '虚拟机控制块',
    zhAlso: ['VMCB'],
    avoid: [],
    def: {
      en: 'AMD’s per-vCPU page of controls and guest state, with a documented layout, read and written as memory.',
      'zh-CN': 'AMD 的每个 vCPU 一页的控制与客户机状态，布局有文档规定，可以像普通内存一样读写。',
    },
    usage: common('', ''),
  },
  {
    id: 'ept',
    en: 'extended page tables',
    abbr: 'EPT',
    zh: '扩展页表',
    zhAlso: ['EPT'],
    avoid: [],
    def: {
      en: 'Intel’s nested paging: tables the hypervisor owns that translate guest-physical to host-physical addresses.',
      'zh-CN': 'Intel 的嵌套分页：由虚拟机监控器掌管的页表，把客户机物理地址翻译为宿主机物理地址。',
    },
    usage: common('', ''),
  },
  {
    id: 'nested-paging',
    en: 'nested paging (nested page tables)',
    abbr: 'NPT',
    zh: '嵌套分页',
    zhAlso: ['嵌套页表', 'NPT'],
    avoid: [],
    def: {
      en: 'A second level of translation in hardware (AMD NPT, Intel EPT), so guests manage their own page tables without exits.',
      'zh-CN': '由硬件完成的第二级地址转换（AMD NPT、Intel EPT），客户机管理自己的页表时无需退出。',
    },
    usage: common('', ''),
    ui: /nested paging/i,
  },
  {
    id: 'two-dimensional-walk',
    en: 'two-dimensional page walk (2D walk)',
    zh: '二维页表遍历',
    zhAlso: ['二维遍历'],
    avoid: [],
    def: {
      en: 'A guest page walk under nested paging: the guest-physical address of every guest table and of the data is translated through the nested tables first.',
      'zh-CN': '嵌套分页下客户机的页表遍历：每一级客户机页表和数据的客户机物理地址都要先经过嵌套页表翻译。',
    },
    usage: common('', ''),
  },
  {
    id: 'guest-physical-address',
    en: 'guest-physical address',
    abbr: 'GPA',
    zh: '客户机物理地址',
    zhAlso: ['GPA'],
    avoid: [],
    def: {
      en: 'What a guest takes for a physical address; nested paging (or the shadow tables) maps it to a host-physical address (HPA).',
      'zh-CN': '客户机所认为的物理地址；嵌套分页（或影子页表）把它映射为宿主机物理地址（HPA）。',
    },
    usage: common('', ''),
  },
  {
    id: 'ept-violation',
    en: 'EPT violation',
    zh: 'EPT 违例',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'The VM exit (basic reason 48) made when a guest access finds no EPT mapping, or one that does not allow it; AMD-V\'s counterpart is #VMEXIT(NPF).',
      'zh-CN': '客户机访问在 EPT 中找不到映射或映射不允许该访问时产生的 VM 退出（基本退出原因 48）；AMD-V 中与之对应的是 #VMEXIT(NPF)。',
    },
    usage: common('', ''),
  },
  {
    id: 'shadow-page-table',
    en: 'shadow page table',
    zh: '影子页表',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'Tables the hypervisor builds from the guest’s, mapping guest-virtual straight to host-physical, kept in sync by traps.',
      'zh-CN': '虚拟机监控器依据客户机页表构建、把客户机虚拟地址直接映射到宿主机物理地址的页表，靠陷入保持同步。',
    },
    usage: common('', ''),
    ui: /shadow page tables?/i,
  },
  {
    id: 'asid',
    en: 'address-space identifier / virtual-processor identifier',
    abbr: 'ASID / VPID',
    zh: '地址空间标识符 / 虚拟处理器标识符',
    zhAlso: ['ASID', 'VPID'],
    avoid: [],
    def: {
      en: 'A tag on TLB entries naming the VM (or the host) they belong to, so a VM exit or entry need not flush the TLB.',
      'zh-CN': 'TLB 表项上标明其所属虚拟机（或宿主机）的标签，使 VM 退出或进入时无需刷新 TLB。',
    },
    usage: common('', ''),
  },
  {
    id: 'tagged-tlb',
    en: 'tagged TLB',
    zh: '带标签的 TLB',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'A TLB whose entries each carry the VPID or ASID of the world that filled them, so guests and the host share it without flushing at a switch.',
      'zh-CN': '每个表项都带有填入它的那个世界的 VPID 或 ASID 的 TLB，使客户机与宿主机共用它而无需在切换时刷新。',
    },
    usage: common('', ''),
  },
  {
    id: 'tlb-flush',
    en: 'TLB flush',
    zh: 'TLB 刷新',
    zhAlso: ['TLB 失效'],
    avoid: [],
    def: {
      en: 'Invalidating TLB entries (all of them, those of one tag, or one page’s), so that later accesses walk the tables again.',
      'zh-CN': '使 TLB 表项失效（全部、某个标签的或某一页的），此后的访问要重新遍历页表。',
    },
    usage: common('失效 renders “invalidate”, the manuals’ word; 刷新 the everyday “flush”.', '“失效”对应手册中的 invalidate，“刷新”对应日常说法 flush。'),
  },
  {
    id: 'invvpid',
    en: 'invalidate translations based on VPID',
    abbr: 'INVVPID',
    zh: '按 VPID 使转换失效指令',
    zhAlso: ['INVVPID'],
    avoid: [],
    def: {
      en: 'The VMX instruction that invalidates TLB entries of a given VPID: one address (type 0), the whole VPID (1), every VPID (2), or the VPID but its global entries (3).',
      'zh-CN': '使指定 VPID 的 TLB 表项失效的 VMX 指令：单个地址（类型 0）、整个 VPID（1）、所有 VPID（2），或该 VPID 中除全局表项以外的表项（3）。',
    },
    usage: common('The Chinese name describes the instruction; the lab writes the mnemonic, untranslated.', '中文名称描述该指令；本实验室直接写助记符，不翻译。'),
  },
  {
    id: 'invlpga',
    en: 'invalidate a page in a given ASID',
    abbr: 'INVLPGA',
    zh: '按 ASID 使页失效指令',
    zhAlso: ['INVLPGA'],
    avoid: [],
    def: {
      en: 'The AMD-V instruction that invalidates one page’s TLB entries for a given ASID, which the hypervisor uses to carry out a guest’s INVLPG.',
      'zh-CN': '使指定 ASID 下某一页的 TLB 表项失效的 AMD-V 指令，虚拟机监控器用它替客户机完成 INVLPG。',
    },
    usage: common('The Chinese name describes the instruction; the lab writes the mnemonic, untranslated.', '中文名称描述该指令；本实验室直接写助记符，不翻译。'),
  },
  {
    id: 'tlb-control',
    en: 'TLB control field',
    abbr: 'TLB_CONTROL',
    zh: 'TLB 控制字段',
    zhAlso: ['TLB_CONTROL'],
    avoid: [],
    def: {
      en: 'The VMCB field whose value VMRUN performs before entering the guest: 0 nothing, 1 flush every ASID, 3 flush the guest’s ASID, 7 its non-global entries.',
      'zh-CN': 'VMCB 中的一个字段，VMRUN 在进入客户机之前执行其值：0 不做任何事，1 刷新所有 ASID，3 刷新客户机的 ASID，7 刷新其非全局表项。',
    },
    usage: common('The lab writes the field’s name, untranslated.', '本实验室直接写字段名，不翻译。'),
  },
  {
    id: 'iommu',
    en: 'I/O memory management unit',
    abbr: 'IOMMU',
    zh: 'I/O 内存管理单元',
    zhAlso: ['IOMMU', '输入输出内存管理单元'],
    avoid: [],
    def: {
      en: 'Translates and checks the addresses devices use for DMA (Intel VT-d, AMD-Vi are its implementations).',
      'zh-CN': '翻译并检查设备在 DMA 中使用的地址（Intel VT-d、AMD-Vi 是它的实现）。',
    },
    usage: common('Usually left as IOMMU.', '通常直接写 IOMMU。'),
  },
  {
    id: 'dma',
    en: 'direct memory access',
    abbr: 'DMA',
    zh: '直接内存访问',
    zhAlso: ['DMA', '直接存储器访问'],
    avoid: [],
    def: {
      en: 'A device reading or writing memory itself, without the CPU copying the data.',
      'zh-CN': '设备自行读写内存，无需 CPU 搬运数据。',
    },
    usage: common('直接存储器访问 is the form in older textbooks.', '较早的教材写作“直接存储器访问”。'),
  },
  {
    id: 'dma-remapping',
    en: 'DMA remapping',
    zh: 'DMA 重映射',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'The IOMMU translating a device’s DMA addresses through per-device tables, so a device reaches only its VM’s memory.',
      'zh-CN': 'IOMMU 通过每个设备的表翻译其 DMA 地址，使设备只能访问其所属虚拟机的内存。',
    },
    usage: common('', ''),
    ui: /DMA remapping/i,
  },
  {
    id: 'device-assignment',
    en: 'direct device assignment (passthrough)',
    zh: '设备直通',
    zhAlso: ['直通', '设备直接分配'],
    avoid: [],
    def: {
      en: 'Giving a VM a real device to drive itself, made safe by the IOMMU.',
      'zh-CN': '把一个真实设备交给虚拟机直接驱动，由 IOMMU 保证安全。',
    },
    usage: common('', ''),
    ui: /direct assignment/i,
  },
  {
    id: 'virtual-function',
    en: 'virtual function (SR-IOV)',
    abbr: 'VF',
    zh: '虚拟功能',
    zhAlso: ['虚拟函数'],
    avoid: [],
    def: {
      en: 'One of the PCI Express functions an SR-IOV device makes for itself, each with its own requester ID, so that one card can be assigned to several VMs, a VF to each, while its physical function stays with the host.',
      'zh-CN': 'SR-IOV 设备自己生成的 PCI Express 功能之一，各有自己的请求者 ID；于是一块卡可以直通给多台虚拟机，每台一个 VF，而它的物理功能仍归宿主机。',
    },
    usage: common('虚拟函数 is a literal rendering of “function” also seen.', '也可见按字面译作“虚拟函数”。'),
    ui: /virtual function/i,
  },
  {
    id: 'interrupt-remapping',
    en: 'interrupt remapping',
    zh: '中断重映射',
    zhAlso: [],
    avoid: [],
    def: {
      en: 'The IOMMU looking a device\u2019s interrupt message up in a table the host wrote, so that the device cannot choose its own vector or destination.',
      'zh-CN': 'IOMMU 在宿主机写好的表中查找设备发来的中断消息，使设备不能自己选择中断向量或目标。',
    },
    usage: common('', ''),
    ui: /interrupt remapping/i,
  },
  {
    id: 'posted-interrupt',
    en: 'posted interrupt',
    zh: '中断投递',
    zhAlso: ['发布中断', 'Posted Interrupt'],
    avoid: [],
    def: {
      en: 'An interrupt for a vCPU recorded in its posted-interrupt descriptor in memory and delivered to the guest by the processor, with no VM exit.',
      'zh-CN': '发给某个 vCPU 的中断先记入内存中它的 posted-interrupt 描述符，再由处理器直接交给客户机，不引起 VM 退出。',
    },
    usage: common('Often left in English (Posted Interrupt); 发布中断 is a literal rendering also seen.', '常直接写英文 Posted Interrupt；也可见直译“发布中断”。'),
    ui: /posted interrupts?/i,
  },
  {
    id: 'live-migration',
    en: 'live migration',
    zh: '热迁移',
    zhAlso: ['在线迁移', '实时迁移'],
    avoid: [],
    def: {
      en: 'Moving a running VM to another host while it keeps running, stopping it only briefly at the end.',
      'zh-CN': '把运行中的虚拟机迁移到另一台宿主机，期间虚拟机继续运行，只在最后短暂停机。',
    },
    usage: common('在线迁移 and 实时迁移 are also common.', '“在线迁移”“实时迁移”也很常见。'),
    ui: /live migration/i,
  },
] as const satisfies readonly Term[];

export type TermId = (typeof GLOSSARY)[number]['id'];

/** Lower case, without spaces or punctuation, full-width forms folded: what search compares. */
export function fold(s: string): string {
  return s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\p{P}\p{S}]+/gu, '');
}

/**
 * The terms matching a search in either language (term, abbreviation, other Chinese forms or
 * definition), in glossary order, those matching by name first. An empty query matches all.
 */
export function search(terms: readonly Term[], query: string): Term[] {
  const q = fold(query);
  if (q === '') return [...terms];
  const names = (t: Term): string[] => [t.en, t.zh, t.abbr ?? '', ...t.zhAlso].map(fold);
  const byName = terms.filter((t) => names(t).some((n) => n.includes(q)));
  const byDef = terms.filter((t) => !byName.includes(t) && (fold(t.def.en).includes(q) || fold(t.def['zh-CN']).includes(q)));
  return [...byName, ...byDef];
}
