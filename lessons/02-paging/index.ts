/** Lesson 2, paging, the page walk and the TLB: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '02-paging',
  // Every step names the lesson's own scenario (paging.json); the example is what the lab returns to.
  scenario: 'page-fault',
  scenarios: { paging: () => import('./paging.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
