/**
 * The Chinese strings of the first screen (the same keys as eager-en.ts), one chunk: `loadLocale('zh-CN')`
 * fetches it before the app mounts in Chinese, or when the reader switches to Chinese.
 */
import type { baseEn, eagerEn } from './eager-en.ts';
import { embedZh } from './parts/embed-zh.ts';
import { entryZh } from './parts/entry-zh.ts';
import { breakpointsZh } from './parts/breakpoints-zh.ts';
import { shellZh } from './parts/shell-zh.ts';
import { viewsZh } from './parts/views-zh.ts';
import { walkZh } from './parts/walk-zh.ts';

const baseZh: Record<keyof typeof baseEn, string> = {
  'app.title': 'Ring −1',
  'app.tagline': '逐步展示 x86 上 CPU 与虚拟机监控器（hypervisor）如何协作运行虚拟机。',
  'app.status': '实验室正在建设中。它的 x86 内核已经能运行真实的机器码，并与 KVM 对照验证；交互视图与课程将随后推出。',
  'nav.language': '语言',
  'syllabus.heading': '实验室将讲授的内容',
  'syllabus.rings': '特权级与系统调用：CPL 0–3、特权指令、经由 IDT 的中断与异常。',
  'syllabus.problem': '虚拟化问题：陷入并模拟（trap-and-emulate），以及经典 x86 在哪里使它失效。',
  'syllabus.software': '软件方案：二进制翻译与半虚拟化。',
  'syllabus.hardware': '硬件辅助：Intel VT-x 及其 VMCS、AMD-V 及其 VMCB，VM 退出与进入。',
  'syllabus.memory': '内存：客户机分页、影子页表、嵌套分页（EPT/NPT）与带标签的 TLB。',
  'syllabus.io': 'I/O：模拟设备与半虚拟化设备、设备直通，以及经由 IOMMU 的 DMA 重映射。',
  'syllabus.many': '多虚拟机：vCPU 调度与热迁移。',
  'footer.licence': '以 MIT 许可证开源。完全在浏览器中运行，不向任何地方发送数据。',
};

export const eagerZh: Record<keyof typeof eagerEn, string> = { ...baseZh, ...shellZh, ...viewsZh, ...embedZh, ...walkZh, ...breakpointsZh, ...entryZh };
