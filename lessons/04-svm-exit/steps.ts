/**
 * Lesson 4's steps, in order: what each one points at, waits for, or asks, and its answer. Every
 * step runs on the lesson's own scenario (svm-exit.json, a copy of the svm-first-exit example: the
 * guest of lesson 3). The words are in text.ts; every number they state is checked against the run
 * and the reference tables (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const S = 'svm';

export const steps = [
  { id: 'vmrun', kind: 'read', point: 'vm-planes', scenario: S },
  { id: 'vmcb', kind: 'read', point: 'vm-inspector', scenario: S },
  { id: 'predict-entry', kind: 'choice', point: 'vm-inspector', scenario: S, choices: ['vmresume', 'vmrun'], answer: 'vmrun', points: 1 },
  { id: 'launch', kind: 'wait', point: 'vm-planes', scenario: S, until: { kind: 'vm/entry', instruction: 'VMRUN' } },
  { id: 'predict-cpuid', kind: 'number', point: 'vm-inspector', scenario: S, answer: 0x72, points: 1 },
  { id: 'first-exit', kind: 'wait', point: 'vm-inspector', scenario: S, until: { kind: 'vm/exit', code: 0x72, name: 'VMEXIT_CPUID' } },
  { id: 'find-nrip', kind: 'target', point: 'vm-inspector', scenario: S, among: 'exit-', answer: 'exit-next_rip', points: 1 },
  { id: 'predict-io', kind: 'number', point: 'code', scenario: S, answer: 0x7b, points: 1 },
  { id: 'predict-info1', kind: 'number', point: 'code', scenario: S, answer: 0x3f80210, points: 1 },
  { id: 'io-exit', kind: 'wait', point: 'vm-inspector', scenario: S, until: { kind: 'vm/exit', code: 0x7b, name: 'VMEXIT_IOIO' } },
  { id: 'gif', kind: 'read', point: 'vm-planes', scenario: S },
  { id: 'summary', kind: 'read', scenario: S, cite: ['kvm-round-trip-amd'] },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
