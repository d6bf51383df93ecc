/**
 * The English strings of the first screen (messages.ts's eager parts), one chunk: `loadLocale('en')`
 * fetches it before the app mounts, so the first screen downloads one language, not both.
 */
import { embedEn } from './parts/embed.ts';
import { entryEn } from './parts/entry.ts';
import { breakpointsEn } from './parts/breakpoints.ts';
import { shellEn } from './parts/shell.ts';
import { viewsEn } from './parts/views.ts';
import { walkEn } from './parts/walk.ts';

export const baseEn = {
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

export const eagerEn = { ...baseEn, ...shellEn, ...viewsEn, ...embedEn, ...walkEn, ...breakpointsEn, ...entryEn } as const;
