/**
 * Lesson 13's steps, in order, on two scenarios: tell.json (a 64-bit guest under VT-x that asks
 * CPUID whether a hypervisor is present and prints its name) and the red-pill example (a guest
 * under the trap-and-emulate monitor, beside which the app offers the technique comparison chart).
 * Each myth is answered with the machine: a wait step on the run, or a question checked against the
 * run or compareTechniques (lesson.test.ts). The words are in text.ts.
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const T = 'tell';
const R = 'redpill';

export const steps = [
  { id: 'ring-minus-one', kind: 'read', point: 'vm-planes', scenario: T },
  { id: 'predict-cpl', kind: 'choice', point: 'vm-planes', scenario: T, choices: ['minus', 'zero', 'one'], answer: 'zero', points: 1 },
  { id: 'launched', kind: 'wait', point: 'vm-planes', scenario: T, until: { kind: 'vm/entry', instruction: 'VMLAUNCH' } },
  { id: 'predict-bit', kind: 'choice', point: 'code', scenario: T, choices: ['clear', 'set', 'fault'], answer: 'set', points: 1 },
  { id: 'cpuid-exit', kind: 'wait', point: 'vm-inspector', scenario: T, until: { kind: 'vm/exit', code: 10, name: 'EXIT_REASON_CPUID' } },
  { id: 'named', kind: 'wait', point: 'registers', scenario: T, until: { kind: 'vm/end' } },
  { id: 'before-vtx', kind: 'read', point: 'code', scenario: R },
  { id: 'predict-faster', kind: 'choice', point: 'techniques', scenario: R, choices: ['syscall', 'in', 'pgfault', 'ptemod'], answer: 'syscall', points: 1 },
  { id: 'measured', kind: 'read', point: 'techniques', scenario: R, cite: ['forkwait', 'nanobench-syscall'] },
  { id: 'popek-goldberg', kind: 'choice', scenario: R, choices: ['impossible', 'sufficient', 'outdated'], answer: 'sufficient', points: 1 },
  { id: 'summary', kind: 'read', scenario: R },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
