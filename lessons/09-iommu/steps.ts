/**
 * Lesson 9's steps, in order, on two scenarios of its own: attack.json (an assigned card whose
 * hostile driver points a descriptor at another VM's memory, no IOMMU) and vtd.json (the same under
 * VT-d); both are the dma-attack examples with two frames and a short time slice. Wait steps wait
 * for the stolen read (a DMA at host-physical 0xB00000) and for the blocked request. The words are
 * in text.ts; every number they state is checked against the runs (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const A = 'attack';
const V = 'vtd';

export const steps = [
  { id: 'two-vms', kind: 'read', point: 'vm-planes', scenario: A },
  { id: 'predict-steal', kind: 'choice', point: 'code', scenario: A, choices: ['ept', 'reads', 'error'], answer: 'reads', points: 1 },
  { id: 'stolen', kind: 'wait', point: 'iommu', scenario: A, until: { kind: 'iommu/dma', iova: 0xb00000 } },
  { id: 'predict-vtd', kind: 'choice', point: 'code', scenario: V, choices: ['victim', 'blocked', 'own'], answer: 'blocked', points: 1 },
  { id: 'blocked', kind: 'wait', point: 'iommu', scenario: V, until: { kind: 'iommu/dma', blocked: true } },
  { id: 'predict-entries', kind: 'number', point: 'iommu', scenario: V, answer: 3, points: 1 },
  { id: 'amd-vi', kind: 'read', point: 'iommu', scenario: V },
  { id: 'summary', kind: 'read', scenario: V },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
