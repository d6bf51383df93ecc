/** Lesson 4, the same guest on AMD-V: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '04-svm-exit',
  // Every step names the lesson's own scenario (svm-exit.json); the example is what the lab returns to.
  scenario: 'svm-first-exit',
  scenarios: { svm: () => import('./svm-exit.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
