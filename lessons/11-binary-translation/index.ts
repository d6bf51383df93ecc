/** Lesson 11, binary translation: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '11-binary-translation',
  // Every step names one of the three binary-translation examples; bt-popf is what the lab returns to.
  scenario: 'bt-popf',
  scenarios: {
    popf: () => import('../../src/emu/scenario/examples/bt-popf.json'),
    smc: () => import('../../src/emu/scenario/examples/bt-smc.json'),
    adaptive: () => import('../../src/emu/scenario/examples/bt-adaptive.json'),
  },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
