/**
 * Lesson 11's steps, in order, on three examples: bt-popf (popf-trap's kernel under binary
 * translation), bt-smc (a loop that rewrites an immediate it runs) and bt-adaptive (a loop that
 * keeps writing a page-table word). Wait steps wait for what the monitor counts: the POPFD
 * callout, a code write, a page-table-write callout. The words are in text.ts; every number they
 * state is checked against the runs and the technique comparison (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const P = 'popf';
const S = 'smc';
const A = 'adaptive';

export const steps = [
  { id: 'translate', kind: 'read', point: 'bt', scenario: P },
  { id: 'predict-popf', kind: 'choice', point: 'code', scenario: P, choices: ['ignored', 'trap', 'callout'], answer: 'callout', points: 1 },
  { id: 'popf', kind: 'wait', point: 'bt', scenario: P, until: { kind: 'vm/exit', label: 'popfd' } },
  { id: 'predict-copied', kind: 'number', point: 'bt', scenario: P, answer: 3, points: 1 },
  { id: 'predict-smc', kind: 'choice', point: 'bt', scenario: S, choices: ['stale', 'dropped', 'every'], answer: 'dropped', points: 1 },
  { id: 'smc', kind: 'wait', point: 'bt', scenario: S, until: { kind: 'vm/exit', label: 'code write' } },
  { id: 'predict-cost', kind: 'choice', point: 'vm-charts', scenario: A, choices: ['callout', 'exit', 'same'], answer: 'callout', points: 1 },
  { id: 'adaptive', kind: 'wait', point: 'bt', scenario: A, until: { kind: 'vm/exit', label: 'page-table write' } },
  { id: 'summary', kind: 'read', scenario: A },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
