/**
 * Lesson 7's steps, in order. Every step runs on the lesson's own scenario (shadow.json: lesson 5's
 * guest, byte for byte, under VT-x with nested paging off). Wait steps wait for exits a student can
 * tell apart: the first hidden fault (the first exit of all), the CR3 read (reason 28), the INVLPG
 * (reason 14, just after the emulated page-table write) and the guest's own #PF (the injected
 * exception's delivery). The words are in text.ts; every number they state is checked against the
 * run (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const S = 'shadow';

export const steps = [
  { id: 'one-table', kind: 'read', point: 'shadow', scenario: S },
  { id: 'predict-first', kind: 'choice', point: 'code', scenario: S, choices: ['walk', 'guest-pf', 'hidden'], answer: 'hidden', points: 1 },
  { id: 'first-fault', kind: 'wait', point: 'shadow', scenario: S, until: { kind: 'vm/exit', code: 0, name: 'EXIT_REASON_EXCEPTION_NMI' } },
  { id: 'predict-touch', kind: 'number', point: 'code', scenario: S, answer: 1, points: 1 },
  { id: 'touches', kind: 'read', point: 'shadow', scenario: S },
  { id: 'predict-cr3', kind: 'choice', point: 'code', scenario: S, choices: ['guest', 'shadow', 'fault'], answer: 'guest', points: 1 },
  { id: 'cr3-read', kind: 'wait', point: 'vm-inspector', scenario: S, until: { kind: 'vm/exit', code: 28, name: 'EXIT_REASON_CR_ACCESS' } },
  { id: 'predict-pt-write', kind: 'choice', point: 'code', scenario: S, choices: ['direct', 'emulate', 'guest-pf'], answer: 'emulate', points: 1 },
  { id: 'pt-write', kind: 'wait', point: 'shadow', scenario: S, until: { kind: 'vm/exit', code: 14, name: 'EXIT_REASON_INVLPG' } },
  { id: 'predict-absent', kind: 'choice', point: 'code', scenario: S, choices: ['fill', 'map', 'inject'], answer: 'inject', points: 1 },
  { id: 'true-fault', kind: 'wait', point: 'shadow', scenario: S, until: { kind: 'cpu/exception', vector: 14 } },
  { id: 'cost', kind: 'read', point: 'vm-charts', scenario: S, cite: ['shadow-exit-share', 'pf-exit-by-generation'] },
  { id: 'summary', kind: 'read', scenario: S },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
