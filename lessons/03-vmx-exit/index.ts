/** Lesson 3, your first VM exit on VT-x: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '03-vmx-exit',
  // Every step names the lesson's own scenario (vmx-exit.json); the example is what the lab returns to.
  scenario: 'vtx-first-exit',
  scenarios: { vmx: () => import('./vmx-exit.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
