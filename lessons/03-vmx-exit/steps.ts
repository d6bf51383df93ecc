/**
 * Lesson 3's steps, in order: what each one points at, waits for, or asks, and its answer. Every
 * step runs on the lesson's own scenario (vmx-exit.json, a copy of the vtx-first-exit example). The
 * words are in text.ts; every number they state is checked against the run and the reference
 * tables (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const S = 'vmx';

export const steps = [
  { id: 'non-root', kind: 'read', point: 'vm-planes', scenario: S },
  { id: 'predict-first', kind: 'choice', point: 'code', scenario: S, choices: ['xor', 'cpuid', 'mov'], answer: 'cpuid', points: 1 },
  { id: 'launch', kind: 'wait', point: 'vm-planes', scenario: S, until: { kind: 'vm/entry', instruction: 'VMLAUNCH' } },
  { id: 'predict-reason', kind: 'number', point: 'vm-inspector', scenario: S, answer: 10, points: 1 },
  { id: 'predict-resume', kind: 'choice', point: 'vm-inspector', scenario: S, choices: ['vmlaunch', 'vmresume'], answer: 'vmresume', points: 1 },
  { id: 'first-exit', kind: 'wait', point: 'vm-inspector', scenario: S, until: { kind: 'vm/exit', code: 10, name: 'EXIT_REASON_CPUID' } },
  { id: 'find-reason', kind: 'target', point: 'vm-inspector', scenario: S, among: 'exit-', answer: 'exit-VM_EXIT_REASON', points: 1 },
  { id: 'handler', kind: 'read', point: 'vm-inspector', scenario: S },
  { id: 'predict-qual', kind: 'number', point: 'code', scenario: S, answer: 0x3f80000, points: 1 },
  { id: 'predict-rip', kind: 'number', point: 'code', scenario: S, answer: 0x100015, points: 1 },
  { id: 'io-exit', kind: 'wait', point: 'vm-inspector', scenario: S, until: { kind: 'vm/exit', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION' } },
  { id: 'cost', kind: 'read', point: 'vm-inspector', scenario: S, cite: ['vmx-transition-prescott', 'vmx-transition-merom', 'vmcs-access-cost'] },
  { id: 'summary', kind: 'read', scenario: S },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
