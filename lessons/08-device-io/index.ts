/** Lesson 8, giving a VM a device: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '08-device-io',
  // Every step names the lesson's own scenario (devices.json, a copy of the example); the example is what the lab returns to.
  scenario: 'nic-two-ways',
  scenarios: { devices: () => import('./devices.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
