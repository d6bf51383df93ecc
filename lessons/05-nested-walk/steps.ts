/**
 * Lesson 5's steps, in order. Every step runs on the lesson's own scenario (nested-walk.json, a
 * copy of the nested-walk-vtx example). The first touches make no trace event a wait step could
 * match (a walk under EPT is in ViewState.twod, not in the trace), so those steps are read steps
 * that ask the student to step; the EPT violation and the guest's #PF are waited for. The words
 * are in text.ts; every number they state is checked against the run (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const S = 'nested';

export const steps = [
  { id: 'gpa', kind: 'read', point: 'code', scenario: S },
  { id: 'predict-cr3', kind: 'choice', point: 'code', scenario: S, choices: ['direct', 'nested', 'exit'], answer: 'nested', points: 1 },
  { id: 'predict-count', kind: 'number', point: 'nested-walk', scenario: S, answer: 19, points: 1 },
  { id: 'first-touch', kind: 'read', point: 'nested-walk', scenario: S },
  { id: 'order', kind: 'read', point: 'nested-walk', scenario: S },
  { id: 'predict-hit', kind: 'number', point: 'nested-walk', scenario: S, answer: 0, points: 1 },
  { id: 'predict-outside', kind: 'choice', point: 'code', scenario: S, choices: ['guest-pf', 'violation', 'nothing'], answer: 'violation', points: 1 },
  { id: 'violation', kind: 'wait', point: 'vm-inspector', scenario: S, until: { kind: 'vm/exit', code: 48, name: 'EXIT_REASON_EPT_VIOLATION' } },
  { id: 'predict-qual', kind: 'number', point: 'vm-inspector', scenario: S, answer: 0x181, points: 1 },
  { id: 'predict-absent', kind: 'choice', point: 'code', scenario: S, choices: ['guest-pf', 'violation'], answer: 'guest-pf', points: 1 },
  { id: 'guest-pf', kind: 'wait', point: 'nested-walk', scenario: S, until: { kind: 'cpu/exception', vector: 14 } },
  { id: 'cost', kind: 'read', point: 'nested-walk', scenario: S, cite: ['nested-walk-refs', 'page-walk-caches'] },
  { id: 'summary', kind: 'read', scenario: S },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
