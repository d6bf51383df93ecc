/** Lesson 14, Where the hypervisor lives: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '14-hosting',
  // Every step names one of the five examples, imported as they are (not copied): the same two VMs bare-metal and hosted, the containers, and the two crashes.
  scenario: 'bare-metal-two-vms',
  scenarios: {
    bare: () => import('../../src/emu/scenario/examples/bare-metal-two-vms.json'),
    hosted: () => import('../../src/emu/scenario/examples/hosted-two-vms.json'),
    containers: () => import('../../src/emu/scenario/examples/containers.json'),
    crash: () => import('../../src/emu/scenario/examples/containers-crash.json'),
    vmcrash: () => import('../../src/emu/scenario/examples/vms-crash.json'),
  },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
