/** Lesson 5, nested paging and the two-dimensional walk: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '05-nested-walk',
  // Every step names the lesson's own scenario (nested-walk.json, a copy of the example); the example is what the lab returns to.
  scenario: 'nested-walk-vtx',
  scenarios: { nested: () => import('./nested-walk.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
