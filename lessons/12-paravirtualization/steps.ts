/**
 * Lesson 12's steps, in order, on the two paravirtualization examples: pv-unmodified (the lab's
 * small kernel as written for the bare processor, run as a Xen-style domain) and pv-kernel (the
 * same kernel ported to the hypercall interface). Wait steps wait for the hypervisor stopping the
 * unmodified kernel, the first hypercall and the page table's mmu_update. The words are in
 * text.ts; every number they state is checked against the runs (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const P = 'pv';
const U = 'unmodified';

export const steps = [
  { id: 'port', kind: 'read', point: 'pv-diff', scenario: P },
  { id: 'predict-cli', kind: 'choice', point: 'code', scenario: U, choices: ['emulated', 'ignored', 'stops'], answer: 'stops', points: 1 },
  { id: 'stopped', kind: 'wait', point: 'vm-inspector', scenario: U, until: { kind: 'vm/end' } },
  { id: 'first-call', kind: 'wait', point: 'vm-inspector', scenario: P, until: { kind: 'vm/exit', code: 0x82, label: 'set_trap_table' } },
  { id: 'predict-calls', kind: 'number', point: 'pv-diff', scenario: P, answer: 1, points: 1 },
  { id: 'batch', kind: 'wait', point: 'vm-inspector', scenario: P, until: { kind: 'vm/exit', code: 0x82, label: 'mmu_update' } },
  { id: 'predict-requests', kind: 'number', point: 'vm-inspector', scenario: P, answer: 1025, points: 1 },
  { id: 'events', kind: 'read', point: 'vm-planes', scenario: P },
  { id: 'summary', kind: 'read', scenario: P },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
