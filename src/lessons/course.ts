/**
 * The course: the lessons this lab has, as the lesson map and progress see them (LessonInfo).
 * Each lesson adds its entry here when it lands; until then the map says there are none.
 */
import type { LessonInfo } from './contract.ts';

export const COURSE: readonly LessonInfo[] = [];
