/**
 * Lesson 1's steps, in order: what each one points at, waits for, or asks, and its answer. The
 * words are in text.ts; every number they state is checked against the scenario (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

export const steps = [
  { id: 'rings', kind: 'choice', point: 'ring', choices: ['halts', 'gp', 'skipped'], answer: 'gp', points: 1 },
  { id: 'try-hlt', kind: 'wait', point: 'ring', scenario: 'gp', until: { kind: 'ring/change', cause: 'exception', vector: 13, to: 0 } },
  { id: 'enter-user', kind: 'wait', point: 'code', until: { kind: 'ring/change', cause: 'iret', to: 3 } },
  { id: 'predict-vector', kind: 'number', point: 'code', answer: 0x80, points: 1 },
  { id: 'predict-stack', kind: 'choice', point: 'registers', choices: ['user', 'tss', 'gate'], answer: 'tss', points: 1 },
  { id: 'int80', kind: 'wait', point: 'registers', until: { kind: 'ring/change', cause: 'software-interrupt', vector: 0x80, to: 0 } },
  { id: 'iret-back', kind: 'wait', point: 'ring', until: { kind: 'ring/change', cause: 'iret', from: 0, to: 3 } },
  { id: 'predict-ring', kind: 'choice', point: 'ring', choices: ['r0', 'r1', 'r3'], answer: 'r0', points: 1 },
  { id: 'syscall', kind: 'wait', point: 'registers', until: { kind: 'ring/change', cause: 'syscall', to: 0 } },
  { id: 'find-rcx', kind: 'target', point: 'registers', among: 'reg-', answer: 'reg-rcx', points: 1 },
  { id: 'sysret', kind: 'wait', point: 'ring', until: { kind: 'ring/change', cause: 'sysret', to: 3 } },
  { id: 'summary', kind: 'read', cite: ['sensitive-unprivileged-count'] },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
