/**
 * Lesson 6's steps, in order. The first steps run on the lesson's tagged scenario (tagged.json:
 * VT-x with EPT and VPID), the untagged ones on the same guest without VPID (untagged.json), which
 * the app loads on entering them. The words are in text.ts; every number they state is checked
 * against the two runs and the reference tables (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const T = 'tagged';
const U = 'untagged';

export const steps = [
  { id: 'tlb', kind: 'read', point: 'tlb', scenario: T },
  { id: 'predict-flush', kind: 'choice', point: 'vm-planes', scenario: T, choices: ['nothing', 'flush', 'global'], answer: 'flush', points: 1 },
  { id: 'tags', kind: 'read', point: 'tlb', scenario: T },
  { id: 'to-exit', kind: 'wait', point: 'tlb', scenario: T, until: { kind: 'vm/exit', code: 10, name: 'EXIT_REASON_CPUID' } },
  { id: 'predict-tagged', kind: 'number', point: 'tlb', scenario: T, answer: 0, points: 1 },
  { id: 'predict-invlpg', kind: 'choice', point: 'code', scenario: T, choices: ['nothing', 'invlpg', 'invvpid'], answer: 'invvpid', points: 1 },
  { id: 'invlpg-exit', kind: 'wait', point: 'vm-inspector', scenario: T, until: { kind: 'tlb/flush', cause: 'invvpid' } },
  { id: 'predict-untagged', kind: 'number', point: 'tlb', scenario: U, answer: 4, points: 1 },
  { id: 'untagged-run', kind: 'wait', point: 'tlb', scenario: U, until: { kind: 'vm/exit', code: 14, name: 'EXIT_REASON_INVLPG' } },
  { id: 'predict-amd', kind: 'number', point: 'vm-inspector', scenario: U, answer: 1, points: 1 },
  { id: 'pcid', kind: 'read', point: 'tlb', scenario: U },
  { id: 'summary', kind: 'read', scenario: U },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
