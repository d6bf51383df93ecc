/** Lesson 7, shadow page tables: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '07-shadow-paging',
  // Every step names the lesson's own scenario (shadow.json: lesson 5's guest with nested paging off); the example is what the lab returns to.
  scenario: 'shadow-paging-vtx',
  scenarios: { shadow: () => import('./shadow.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
