/** Lesson 13, myths of the VT-x era: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '13-vtx-myths',
  // Every step names one of the lesson's own scenarios (tell.json under VT-x, the red-pill example under trap-and-emulate); vtx-first-exit is what the lab returns to.
  scenario: 'vtx-first-exit',
  scenarios: { tell: () => import('./tell.json'), redpill: () => import('../../src/emu/scenario/examples/red-pill.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
