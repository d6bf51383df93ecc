/**
 * The lessons of the course, in order: each one's LessonInfo (small, in the main bundle) and a
 * loader for the lesson itself (its own chunk, fetched when the lesson opens).
 */
import type { LessonInfo } from './contract.ts';
import { LESSON_ID } from './contract.ts';
import type { LessonModule } from './lesson.ts';
import { info as rings } from '../../lessons/01-rings/meta.ts';
import { info as paging } from '../../lessons/02-paging/meta.ts';
import { info as vmxExit } from '../../lessons/03-vmx-exit/meta.ts';
import { info as svmExit } from '../../lessons/04-svm-exit/meta.ts';
import { info as nestedWalk } from '../../lessons/05-nested-walk/meta.ts';
import { info as taggedTlb } from '../../lessons/06-tagged-tlb/meta.ts';
import { info as shadowPaging } from '../../lessons/07-shadow-paging/meta.ts';
import { info as deviceIo } from '../../lessons/08-device-io/meta.ts';
import { info as iommu } from '../../lessons/09-iommu/meta.ts';
import { info as trapEmulate } from '../../lessons/10-trap-emulate/meta.ts';
import { info as binaryTranslation } from '../../lessons/11-binary-translation/meta.ts';
import { info as paravirt } from '../../lessons/12-paravirtualization/meta.ts';
import { info as vtxMyths } from '../../lessons/13-vtx-myths/meta.ts';
import { info as hosting } from '../../lessons/14-hosting/meta.ts';

interface Entry {
  info: LessonInfo;
  load: () => Promise<{ default: LessonModule }>;
}

const entries: readonly Entry[] = [
  { info: rings, load: () => import('../../lessons/01-rings/index.ts') },
  { info: paging, load: () => import('../../lessons/02-paging/index.ts') },
  { info: vmxExit, load: () => import('../../lessons/03-vmx-exit/index.ts') },
  { info: svmExit, load: () => import('../../lessons/04-svm-exit/index.ts') },
  { info: nestedWalk, load: () => import('../../lessons/05-nested-walk/index.ts') },
  { info: taggedTlb, load: () => import('../../lessons/06-tagged-tlb/index.ts') },
  { info: shadowPaging, load: () => import('../../lessons/07-shadow-paging/index.ts') },
  { info: deviceIo, load: () => import('../../lessons/08-device-io/index.ts') },
  { info: iommu, load: () => import('../../lessons/09-iommu/index.ts') },
  { info: trapEmulate, load: () => import('../../lessons/10-trap-emulate/index.ts') },
  { info: binaryTranslation, load: () => import('../../lessons/11-binary-translation/index.ts') },
  { info: paravirt, load: () => import('../../lessons/12-paravirtualization/index.ts') },
  { info: vtxMyths, load: () => import('../../lessons/13-vtx-myths/index.ts') },
  { info: hosting, load: () => import('../../lessons/14-hosting/index.ts') },
];

/** Every lesson's LessonInfo, in course order. */
export const LESSONS: readonly LessonInfo[] = entries.map((e) => e.info);

/** The LessonInfo of a lesson id, or null for an unknown or malformed one. */
export function lessonInfo(id: string): LessonInfo | null {
  if (!LESSON_ID.test(id)) return null;
  return entries.find((e) => e.info.id === id)?.info ?? null;
}

/** Loads a lesson's module; rejects for an unknown id. */
export async function loadLesson(id: string): Promise<LessonModule> {
  const e = entries.find((x) => x.info.id === id);
  if (e === undefined) throw new Error(`no lesson "${id}"`);
  return (await e.load()).default;
}
