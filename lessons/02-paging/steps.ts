/**
 * Lesson 2's steps, in order: what each one points at, waits for, or asks, and its answer. Every
 * step runs on the lesson's own scenario (paging.json). The words are in text.ts; every number
 * they state is checked against the scenario (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const S = 'paging';

export const steps = [
  { id: 'translate', kind: 'read', point: 'walk', scenario: S },
  { id: 'predict-refs', kind: 'number', point: 'walk', scenario: S, answer: 4, points: 1 },
  { id: 'predict-index', kind: 'number', point: 'walk', scenario: S, answer: 320, points: 1 },
  { id: 'first-read', kind: 'wait', point: 'walk', scenario: S, until: { kind: 'mmu/walk', access: 'read', user: true } },
  { id: 'predict-hit', kind: 'number', point: 'tlb', scenario: S, answer: 0, points: 1 },
  { id: 'tlb-hit', kind: 'wait', point: 'tlb', scenario: S, until: { kind: 'tlb/lookup', access: 'read', user: true, hit: true } },
  { id: 'predict-write', kind: 'choice', point: 'code', scenario: S, choices: ['writes', 'gp', 'pf'], answer: 'pf', points: 1 },
  { id: 'predict-error', kind: 'number', point: 'walk', scenario: S, answer: 7, points: 1 },
  { id: 'fault', kind: 'wait', point: 'walk', scenario: S, until: { kind: 'cpu/exception', vector: 14 } },
  { id: 'find-rw', kind: 'target', point: 'walk', scenario: S, among: 'walk-', answer: 'walk-pte', points: 1 },
  { id: 'copy', kind: 'wait', point: 'walk', scenario: S, until: { kind: 'mmu/walk', access: 'write', user: true } },
  { id: 'predict-cr3', kind: 'choice', point: 'tlb', scenario: S, choices: ['hit', 'miss'], answer: 'miss', points: 1 },
  { id: 'reload', kind: 'wait', point: 'tlb', scenario: S, until: { kind: 'mmu/walk', access: 'read', user: true } },
  { id: 'summary', kind: 'read', scenario: S, cite: ['nested-walk-refs'] },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
