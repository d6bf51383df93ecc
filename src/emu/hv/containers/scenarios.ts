/**
 * The lab's three partitioning examples as scenarios (scenario/examples/containers.json,
 * containers-crash.json and vms-crash.json are this module's output, which examples.test.ts checks;
 * `npx tsx scripts/partition-examples.ts` writes them again after the kernel changes):
 * - `containers`: the kernel with alpha and beta on the bare machine, as `lab exec` starts a
 *   program (boot 'bare'); both run to their exit;
 * - `containers-crash`: the same with beta's uname(NULL), which panics the one kernel;
 * - `vms-crash`: two VMs under VT-x, each with its own copy of the kernel and one container, its
 *   PC devices (the kernel's UART), beta's kernel panicking while alpha's runs to its end.
 */
import type { ScenarioV1 } from '../../scenario/schema.ts';
import { KERNEL_LOAD, kernelSource } from './kernel.ts';
import { partitionContainers } from './run.ts';

export const PARTITION_EXAMPLES = ['containers', 'containers-crash', 'vms-crash'] as const;
export type PartitionExample = (typeof PARTITION_EXAMPLES)[number];

const MEMORY = 4 * 1024 * 1024;

export function partitionScenario(id: PartitionExample): ScenarioV1 {
  if (id === 'vms-crash') {
    return {
      version: 1,
      name: 'Two VMs, a kernel each: one panics, the other runs on',
      description: 'The workloads of containers-crash as two VMs under VT-x instead: each VM boots its own copy of the small kernel with one container, so two kernels are in memory. Every byte a kernel sends to its UART is two I/O exits (the LSR poll and the THR write). Beta\u2019s uname(NULL) makes its kernel fault in ring 0 and panic; only that VM stops, and alpha\u2019s VM runs to its end.',
      technique: 'vtx',
      cpu: { vendor: 'intel' },
      hypervisor: { quantum: 2000 },
      vms: partitionContainers({ crash: true }).map((c) => ({
        name: c.name, mode: 'prot32', paging: 'none', memory: { size: MEMORY }, devices: { pc: true },
        kernel: { source: kernelSource([c]) },
      })),
      limits: { maxSteps: 60_000 },
    } as unknown as ScenarioV1;
  }
  const crash = id === 'containers-crash';
  return {
    version: 1,
    name: crash ? 'Containers: one container\u2019s system call panics the shared kernel' : 'Containers: one kernel, two isolated user spaces',
    description: crash
      ? 'The kernel of the containers example, with beta calling uname(NULL): uname copies the kernel\u2019s version string to the pointer it is given without checking it, so the kernel writes to the unmapped page 0 in ring 0 (#PF, error code 2). Its fault handler sees ring 0 and panics; every container stops, alpha too, because they share the kernel.'
      : 'A small 32-bit kernel runs two containers, alpha and beta, each a process in ring 3 with its own page directory. getpid answers the pid inside the container (1 in both), gethostname the container\u2019s name; the kernel\u2019s version string and its tick counter are the same for both. Every write goes through the kernel\u2019s one UART driver, each line tagged with the container\u2019s name; yield passes the CPU round robin. No hypervisor: the rings view shows only user \u2194 kernel transitions.',
    boot: 'bare',
    cpu: { vendor: 'intel' },
    mode: 'prot32',
    paging: 'none',
    memory: { size: MEMORY },
    kernel: { source: kernelSource(partitionContainers({ crash })), origin: KERNEL_LOAD },
    devices: { uart: { port: 0x3f8 } },
    limits: { maxSteps: 40_000 },
  };
}
