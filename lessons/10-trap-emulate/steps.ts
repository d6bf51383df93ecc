/**
 * Lesson 10's steps, in order, on two scenarios: the popf-trap and red-pill examples (a guest
 * kernel deprivileged to ring 1 by the lab's trap-and-emulate monitor). Wait steps wait for the
 * first #GP trap (the STI) and for the guest's end. The words are in text.ts; every number they
 * state is checked against the runs (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const P = 'popf';
const R = 'redpill';

export const steps = [
  { id: 'popek-goldberg', kind: 'read', scenario: P },
  { id: 'deprivileged', kind: 'read', point: 'vm-planes', scenario: P },
  { id: 'predict-sti', kind: 'choice', point: 'code', scenario: P, choices: ['runs', 'traps', 'ignored'], answer: 'traps', points: 1 },
  { id: 'sti-trap', kind: 'wait', point: 'vm-inspector', scenario: P, until: { kind: 'vm/exit', code: 13, name: '#GP' } },
  { id: 'predict-popf', kind: 'choice', point: 'code', scenario: P, choices: ['one', 'trap', 'zero'], answer: 'zero', points: 1 },
  { id: 'popf-lost', kind: 'wait', point: 'vm-planes', scenario: P, until: { kind: 'vm/end' } },
  { id: 'red-pill', kind: 'read', point: 'code', scenario: R },
  { id: 'predict-sidt', kind: 'number', point: 'code', scenario: R, answer: 0xffc10000, points: 1 },
  { id: 'pill-taken', kind: 'wait', point: 'registers', scenario: R, until: { kind: 'vm/end' } },
  { id: 'robin-irvine', kind: 'read', scenario: R, cite: ['sensitive-unprivileged-count'] },
  { id: 'summary', kind: 'read', point: 'techniques', scenario: R },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
