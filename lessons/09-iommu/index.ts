/** Lesson 9, DMA and the IOMMU: loaded on demand by the registry (its own chunk). */
import type { LessonModule } from '../../src/lessons/lesson.ts';
import { machine } from './machine.ts';
import { steps } from './steps.ts';
import { en, zh } from './text.ts';

const lesson: LessonModule = {
  id: '09-iommu',
  // Every step names one of the lesson's own scenarios (the dma-attack examples with two frames); the example is what the lab returns to.
  scenario: 'dma-attack',
  scenarios: { attack: () => import('./attack.json'), vtd: () => import('./vtd.json') },
  steps,
  machine,
  text: { en, 'zh-CN': zh },
};
export default lesson;
