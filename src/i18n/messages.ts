/**
 * The UI string catalog: every string the app shows, in English and Simplified Chinese. Parts of
 * the UI keep their strings in ./parts/*.ts. Those the first screen needs are merged here; a part
 * that loads on demand (LAZY_PARTS) registers its strings when its chunk loads (`registerMessages`
 * at the end of its file, imported by each module that uses them), so the initial download holds
 * only what the first screen shows. The key type covers every part.
 */
import { embedEn, embedZh } from './parts/embed.ts';
import { entryEn, entryZh } from './parts/entry.ts';
import { breakpointsEn, breakpointsZh } from './parts/breakpoints.ts';
import { shellEn, shellZh } from './parts/shell.ts';
import { viewsEn, viewsZh } from './parts/views.ts';
import type { sandboxEn } from './parts/sandbox.ts';
import { walkEn, walkZh } from './parts/walk.ts';
import type { timelineEn } from './parts/timeline.ts';
import type { progressEn } from './parts/progress.ts';
import type { practiceEn } from './parts/practice.ts';
import type { lessonEn } from './parts/lesson.ts';
import type { speakerEn } from './parts/speaker.ts';
import type { referenceEn } from './parts/reference.ts';
import type { vmEn } from './parts/vm.ts';
import type { nestedEn } from './parts/nested.ts';

export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];

const baseEn = {
  'app.title': 'Ring −1',
  'app.tagline': 'How a CPU and a hypervisor cooperate to run virtual machines on x86, step by step.',
  'app.status':
    'The lab is being built. Its x86 core already runs real machine code, checked against KVM; the interactive views and lessons follow.',
  'nav.language': 'Language',
  'syllabus.heading': 'What the lab will teach',
  'syllabus.rings': 'Rings and system calls: CPL 0–3, privileged instructions, interrupts and exceptions through the IDT.',
  'syllabus.problem': 'The virtualization problem: trap-and-emulate, and where classic x86 breaks it.',
  'syllabus.software': 'Software answers: binary translation and paravirtualization.',
  'syllabus.hardware': 'Hardware assist: Intel VT-x with its VMCS and AMD-V with its VMCB, VM exits and entries.',
  'syllabus.memory': 'Memory: guest paging, shadow page tables, nested paging (EPT/NPT) and tagged TLBs.',
  'syllabus.io': 'I/O: emulated and paravirtual devices, direct assignment and DMA remapping through an IOMMU.',
  'syllabus.many': 'Many VMs: vCPU scheduling and live migration.',
  'footer.licence': 'Open source under the MIT licence. Runs entirely in your browser and sends no data anywhere.',
} as const;

const en = { ...baseEn, ...shellEn, ...viewsEn, ...embedEn, ...walkEn, ...breakpointsEn, ...entryEn } as const;

/** The parts that load on demand, by the prefix of their keys (each registers itself: see the top). */
export const LAZY_PARTS = ['sandbox', 'timeline', 'progress', 'practice', 'speaker', 'reference', 'lesson', 'vm', 'nested'] as const;

export type MessageKey = keyof typeof en | keyof typeof sandboxEn | keyof typeof timelineEn | keyof typeof progressEn | keyof typeof practiceEn | keyof typeof speakerEn | keyof typeof referenceEn | keyof typeof lessonEn | keyof typeof vmEn | keyof typeof nestedEn;
type EagerKey = keyof typeof en;

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

const zhCN: Record<EagerKey, string> = { ...baseZh, ...shellZh, ...viewsZh, ...embedZh, ...walkZh, ...breakpointsZh, ...entryZh };

/** The strings known now, per locale: the first screen's, and those of every part registered since. */
export const catalogs: Record<Locale, Partial<Record<MessageKey, string>>> = { en: { ...en }, 'zh-CN': { ...zhCN } };

/** Adds a part's strings (both languages, the same keys); a part calls it once, when its module loads. */
export function registerMessages<K extends MessageKey>(partEn: Readonly<Record<K, string>>, partZh: Readonly<Record<K, string>>): void {
  Object.assign(catalogs.en, partEn);
  Object.assign(catalogs['zh-CN'], partZh);
}

const reported = new Set<string>();

/** The locale a URL asks for (`?lang=zh-CN`), else the browser's preference, else English. */
export function pickLocale(search: string, preferred: readonly string[]): Locale {
  const asked = new URLSearchParams(search).get('lang');
  if (asked !== null) {
    const hit = LOCALES.find((l) => l.toLowerCase() === asked.toLowerCase());
    if (hit) return hit;
  }
  for (const p of preferred) if (p.toLowerCase().startsWith('zh')) return 'zh-CN';
  return 'en';
}

/**
 * The string for `key`. A key whose part has not loaded (a module used it without importing its
 * part) shows as the key itself and is reported once on the console, which the browser tests treat
 * as a failure.
 */
export function translate(locale: Locale, key: MessageKey): string {
  const v = catalogs[locale][key];
  if (v !== undefined) return v;
  if (!reported.has(key)) {
    reported.add(key);
    console.error(`i18n: no string for ${key} (${locale}): its part is not loaded`);
  }
  return key;
}
