/**
 * Lesson 8's steps, in order, on the lesson's own scenario (devices.json, a copy of the `nic-two-ways` example): two VMs under VT-x run the same
 * network-card driver, VM "emulated" with the card emulated by the hypervisor, VM "assigned" with
 * the real card assigned and its DMA through VT-d. Wait steps wait for the first configuration-space
 * exit (reason 30) and the emulated card's first register write (an EPT violation, reason 48). The
 * words are in text.ts; every number they state is checked against the run (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const S = 'devices';

export const steps = [
  { id: 'two-vms', kind: 'read', scenario: S, point: 'vm-planes' },
  { id: 'predict-config', kind: 'choice', scenario: S, point: 'code', choices: ['emulated', 'both', 'neither'], answer: 'both', points: 1 },
  { id: 'config-exit', kind: 'wait', scenario: S, point: 'vm-inspector', until: { kind: 'vm/exit', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION' } },
  { id: 'predict-register', kind: 'choice', scenario: S, point: 'code', choices: ['io', 'ept', 'none'], answer: 'ept', points: 1 },
  { id: 'mmio-exit', kind: 'wait', scenario: S, point: 'vm-inspector', until: { kind: 'vm/exit', code: 48, name: 'EXIT_REASON_EPT_VIOLATION' } },
  { id: 'predict-per-frame', kind: 'number', scenario: S, point: 'code', answer: 2, points: 1 },
  { id: 'three-ways', kind: 'read', scenario: S, point: 'io-ways' },
  { id: 'predict-dma', kind: 'choice', scenario: S, point: 'code', choices: ['host-gpa', 'translated', 'copied'], answer: 'translated', points: 1 },
  { id: 'summary', kind: 'read', scenario: S },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
