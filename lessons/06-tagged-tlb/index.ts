/** Lesson 6, tagged TLBs (VPID, ASID): loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '06-tagged-tlb',
  // Every step names one of the lesson's own scenarios: the same guest with and without VPID.
  scenario: 'vtx-first-exit',
  scenarios: { tagged: () => import('./tagged.json'), untagged: () => import('./untagged.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
