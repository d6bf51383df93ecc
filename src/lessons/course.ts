/**
 * The course: the lessons this lab has, as the lesson map and progress see them (LessonInfo), in
 * course order (from the registry, which also knows how to load each lesson).
 */
import type { LessonInfo } from './contract.ts';
import { LESSONS } from './registry.ts';

export const COURSE: readonly LessonInfo[] = LESSONS;
