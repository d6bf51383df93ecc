/** Lesson 12, Paravirtualization: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '12-paravirtualization',
  // The two examples are the lesson's scenarios: the kernel ported to the hypervisor, and the same kernel before the port.
  scenario: 'pv-kernel',
  scenarios: { pv: () => import('../../src/emu/scenario/examples/pv-kernel.json'), unmodified: () => import('../../src/emu/scenario/examples/pv-unmodified.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
