/**
 * Lesson 14's steps, in order, on five examples: bare-metal-two-vms and hosted-two-vms (the same
 * printer and ticker VMs under a bare-metal and a hosted hypervisor, hv/hosting.ts), containers
 * (one kernel, two containers), containers-crash and vms-crash (one container's system call panics
 * the shared kernel; the same workloads as two VMs, a kernel each). Wait steps wait for a device
 * exit's path (`host/path` with `where` device, on each arrangement), a host process's turn
 * (`host/run`), a system call into the shared kernel (INT 0x80), the panicked kernel's halt, and
 * the ring-0 #PF inside one VM. The words are in text.ts; every number they state is checked
 * against the runs (lesson.test.ts).
 */
import type { StepDef } from '../../src/lessons/kit.ts';

const B = 'bare';
const H = 'hosted';
const C = 'containers';
const X = 'crash';
const V = 'vmcrash';

export const steps = [
  { id: 'bare-metal', kind: 'read', point: 'hosting', scenario: B },
  { id: 'bare-path', kind: 'wait', point: 'hosting', scenario: B, until: { kind: 'host/path', where: 'device', hosting: 'bare-metal' } },
  { id: 'predict-switches', kind: 'number', point: 'hosting', scenario: H, answer: 2, points: 1 },
  { id: 'hosted-path', kind: 'wait', point: 'hosting', scenario: H, until: { kind: 'host/path', where: 'device', hosting: 'hosted' } },
  { id: 'predict-away', kind: 'choice', point: 'vm-planes', scenario: H, choices: ['runs', 'frozen', 'late'], answer: 'late', points: 1 },
  { id: 'host-turn', kind: 'wait', point: 'hosting', scenario: H, until: { kind: 'host/run' } },
  { id: 'predict-ticks', kind: 'number', point: 'vm-planes', scenario: H, answer: 1, points: 1 },
  { id: 'predict-vmcs', kind: 'choice', point: 'vm-inspector', scenario: H, choices: ['none', 'emulated', 'same'], answer: 'same', points: 1 },
  { id: 'same-vmcs', kind: 'read', point: 'vm-inspector', scenario: H },
  { id: 'predict-exits', kind: 'number', point: 'containers', scenario: C, answer: 0, points: 1 },
  { id: 'syscall', kind: 'wait', point: 'containers', scenario: C, until: { kind: 'ring/change', cause: 'software-interrupt', vector: 0x80 } },
  { id: 'predict-crash', kind: 'choice', point: 'containers', scenario: X, choices: ['beta', 'all', 'none'], answer: 'all', points: 1 },
  { id: 'panic', kind: 'wait', point: 'containers', scenario: X, until: { kind: 'cpu/halt' } },
  { id: 'predict-vm-crash', kind: 'choice', point: 'vm-planes', scenario: V, choices: ['beta', 'all', 'none'], answer: 'beta', points: 1 },
  { id: 'vm-fault', kind: 'wait', point: 'vm-planes', scenario: V, until: { kind: 'cpu/exception', vector: 14 } },
  { id: 'summary', kind: 'read', scenario: V },
] as const satisfies readonly StepDef[];

export type StepId = (typeof steps)[number]['id'];
