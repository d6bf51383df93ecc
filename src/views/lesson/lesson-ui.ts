/**
 * The lesson's UI, loaded on demand (its own chunk, with the lesson strings) when a lesson opens,
 * as the lesson runtime is: the first screen of a lab without a lesson does not pay for it.
 */
import '../../i18n/parts/lesson.ts';

export { default as LessonColumn } from './LessonColumn.svelte';
export { default as LessonOverlay } from './LessonOverlay.svelte';
export { default as EmbedLesson } from '../embed/EmbedLesson.svelte';
