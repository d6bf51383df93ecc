/** Lesson 10, why classic x86 could not be trap-and-emulated: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '10-trap-emulate',
  // Every step names one of the lesson's two scenarios, the popf-trap and red-pill examples themselves; the first is what the lab returns to.
  scenario: 'popf-trap',
  scenarios: { popf: () => import('../../src/emu/scenario/examples/popf-trap.json'), redpill: () => import('../../src/emu/scenario/examples/red-pill.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
