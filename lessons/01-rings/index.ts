/** Lesson 1, rings, interrupts and system calls: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '01-rings',
  scenario: 'syscalls',
  scenarios: { gp: () => import('./gp.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
