/** Lesson 14's xstate machine: its steps laid out by the lesson kit (src/lessons/kit.ts). */
import { lessonMachine } from '../../src/lessons/kit.ts';
import { steps } from './steps.ts';

export const machine = lessonMachine('14-hosting', steps);
