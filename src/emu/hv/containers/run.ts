/**
 * The same two workloads partitioned two ways (issue 9, item 4): as two containers of one kernel
 * (kernel.ts) on the bare machine, or as two VMs on the multi-VM host (host.ts), each VM running its
 * own copy of that kernel with one process. The container `alpha` runs its program to the end; the
 * container `beta` does the same, or (`peek`) tries to read alpha's page, or (`crash`) makes the
 * kernel's buggy `uname` write to NULL.
 *
 * `runPartitioning` runs one of them step by step and reads the kernel's process table (inspect.ts)
 * after each step, so that it can say, per container or VM:
 * - its console: the lines the kernel tagged with its name (containers share one UART), or its
 *   VM's own UART;
 * - how its process ended (exited with a code, killed by the kernel, stopped by the kernel's panic
 *   it caused, stopped by a panic another container caused, or still running at the step limit) and
 *   the step (the physical CPU's instructions and idle steps retired) at which the kernel marked it;
 * - the system calls it made (the kernel's count), the VM exits it cost (0 for a container: there
 *   is no hypervisor), the instructions run for it and their cycles;
 * and overall: how many copies of the kernel's code are in the machine's memory (found by scanning
 * every page of physical RAM for it: 1 for containers, one per VM), the steps and the cycles.
 *
 * Cycles. A container runs natively, so it is priced as technique-compare.ts and compare.ts price a
 * bare run: its instructions at the preset's `guest-insn` figure and its page walks' memory
 * references at `page-walk-ref` (the same figures in every preset, cost/presets.ts). The instructions
 * of a container are those retired while its process was the kernel's current one (its own in ring 3
 * and the kernel's on its behalf); the kernel's boot before the first process is the kernel's own. A
 * VM is priced by its ledger under the host's preset: its instructions and 2D walk references as
 * above, plus every exit and entry and the hypervisor's handling (the UART's LSR poll and THR
 * write are an I/O exit each).
 */
import { assemble } from '../../asm/assembler.ts';
import { price } from '../../cost/price.ts';
import type { Preset } from '../../cost/presets.ts';
import { createBareMachine } from '../../machine/bare.ts';
import type { PhysMem } from '../../mem/physmem.ts';
import { presetFor } from '../exec.ts';
import { Host } from '../host.ts';
import { kernelLabels, readKernel, type KernelLabels, type KernelView } from './inspect.ts';
import { KERNEL_LOAD, kernelSource, type Command, type ContainerSpec } from './kernel.ts';

export type PartitionAs = 'containers' | 'vms';

export interface PartitionOptions {
  as: PartitionAs;
  /** Beta makes the kernel's buggy `uname` write to NULL: a kernel panic. */
  crash?: boolean;
  /** Beta reads alpha's page (at its physical address): a #PF in ring 3, and the kernel kills beta. */
  peek?: boolean;
  /** The VMs' processor (default 'vtx'); containers are priced with the same preset. */
  under?: 'vtx' | 'svm';
  /** A cost preset of that vendor (default: the vendor's default, cost/pick.ts). */
  preset?: string;
  /** Steps before the run is cut (default 200,000; each run ends well before). */
  maxSteps?: number;
}

/** How a container's (or VM's) process ended. */
export type EndKind =
  /** It called exit. */
  | 'exited'
  /** It faulted in ring 3 and the kernel killed it. */
  | 'killed'
  /** Its system call made the kernel fault in ring 0: the kernel panicked and halted. */
  | 'panic'
  /** Another container made the shared kernel panic; this one stopped with it. */
  | 'stopped'
  /** Still runnable when the run was cut. */
  | 'running';

export interface PartitionUnit {
  /** The container's (and, as a VM, the VM's) name. */
  name: string;
  command: Command;
  /** The kernel's pid of its process, and the pid the process sees (getpid). */
  pid: number;
  nsPid: number;
  console: string;
  end: { kind: EndKind; step: number | null; exitCode?: number };
  /** As a VM: when its last vCPU ended (the kernel's final HLT with interrupts off), or null. */
  vmEnd: { kind: string; step: number } | null;
  syscalls: number;
  exits: { total: number; byName: Record<string, number> };
  /** Instructions run for it (a container: while its process was current; a VM: its guest instructions). */
  instructions: number;
  cycles: number;
}

export interface PartitionResult {
  as: PartitionAs;
  under: 'vtx' | 'svm';
  preset: string;
  /** The whole console: the one UART's text for containers; each VM's in turn for VMs. */
  console: string;
  units: PartitionUnit[];
  /** Copies of the kernel's code in physical memory. */
  kernelsInMemory: number;
  /** The physical CPU's steps when the run stopped. */
  steps: number;
  /** Whether every unit's run came to an end before the step limit. */
  ended: boolean;
  cycles: number;
  /** Containers: the kernel's boot, before its first process ran (instructions and cycles). */
  kernelBoot: { instructions: number; cycles: number } | null;
  /** The tick counter of each kernel at the end (one kernel for containers, one per VM). */
  ticks: number[];
}

export const DEFAULT_PARTITION_STEPS = 200_000;

/** The two containers of the comparison: alpha runs; beta runs, peeks or crashes. */
export function partitionContainers(opts: Pick<PartitionOptions, 'crash' | 'peek'>): ContainerSpec[] {
  if (opts.crash === true && opts.peek === true) throw new RangeError('crash and peek: beta does one or the other');
  return [
    { name: 'alpha', command: 'run' },
    { name: 'beta', command: opts.crash === true ? 'crash' : opts.peek === true ? 'peek' : 'run' },
  ];
}

export interface KernelImage {
  source: string;
  code: Uint8Array;
  labels: Map<string, number>;
  known: KernelLabels;
}

/** Assembles the kernel with these containers at KERNEL_LOAD. */
export function buildContainerKernel(containers: readonly ContainerSpec[]): KernelImage {
  const source = kernelSource(containers);
  const r = assemble(source, { bits: 32, origin: KERNEL_LOAD });
  if (!r.ok) throw new Error(`container kernel: line ${r.errors[0]!.line}: ${r.errors[0]!.message}`);
  const known = kernelLabels(r.labels);
  if (known === null) throw new Error('container kernel: a label the reader needs is missing');
  return { source, code: r.bytes, labels: r.labels, known };
}

/** Page-aligned copies of `text` in `mem`'s RAM (each page compared where its first dword matches). */
export function countCopies(mem: PhysMem, text: Uint8Array): number {
  const first = text[0]! | (text[1]! << 8) | (text[2]! << 16) | (text[3]! << 24);
  let n = 0;
  for (let pa = 0; pa + text.length <= mem.ramSize; pa += 0x1000) {
    if (mem.pageForRead(pa) === undefined || mem.read(pa, 4) !== first >>> 0) continue;
    let same = true;
    for (let i = 0; i < text.length && same; i++) same = mem.read8(pa + i) === text[i];
    if (same) n++;
  }
  return n;
}

/** The kernel's code (its image up to the programs' text). */
function kernelText(img: KernelImage): Uint8Array {
  return img.code.subarray(0, img.known.user_text - KERNEL_LOAD);
}

function preset(opts: PartitionOptions): Preset {
  const p = presetFor(opts.under ?? 'vtx', opts.preset);
  if (typeof p === 'string') throw new RangeError(p);
  return p;
}

/** The lines of a console the kernel tagged with `name`. */
export function taggedLines(console: string, name: string): string {
  return console.split('\n').filter((l) => l.startsWith(`[${name}] `)).map((l) => l + '\n').join('');
}

interface Tracker {
  states: string[];
  kstate: string;
  ends: ({ kind: EndKind; step: number; exitCode?: number } | null)[];
}

/** Records the ends the kernel's table shows now (at `step`) that it did not show before. */
function track(t: Tracker, k: KernelView, step: number): void {
  k.procs.forEach((p, i) => {
    if (p.state !== t.states[i] && t.ends[i] == null) {
      if (p.state === 'exited') t.ends[i] = { kind: 'exited', step, exitCode: p.exitCode };
      else if (p.state === 'killed') t.ends[i] = { kind: 'killed', step };
    }
    t.states[i] = p.state;
  });
  if (k.state === 'panic' && t.kstate !== 'panic') {
    k.procs.forEach((p, i) => {
      if (p.state === 'runnable' && t.ends[i] == null) t.ends[i] = { kind: i === k.current ? 'panic' : 'stopped', step };
    });
  }
  t.kstate = k.state;
}

/** Runs the two workloads as containers of one kernel or as two VMs; see the file's header. */
export function runPartitioning(opts: PartitionOptions): PartitionResult {
  const specs = partitionContainers(opts);
  const p = preset(opts);
  const maxSteps = opts.maxSteps ?? DEFAULT_PARTITION_STEPS;
  return opts.as === 'containers' ? runContainers(specs, p, opts.under ?? 'vtx', maxSteps) : runVms(specs, p, opts.under ?? 'vtx', maxSteps);
}

function runContainers(specs: ContainerSpec[], p: Preset, under: 'vtx' | 'svm', maxSteps: number): PartitionResult {
  const img = buildContainerKernel(specs);
  const l = img.known;
  const m = createBareMachine({ mode: 'prot32', load: KERNEL_LOAD, code: img.code });
  const cpu = m.cpu;
  const st = cpu.state;
  const mmu = cpu.mmu;
  const read32 = (pa: number): number => m.mem.read(pa, 4) >>> 0;
  const read8 = (pa: number): number => m.mem.read8(pa);
  const t: Tracker = { states: [], kstate: 'booting', ends: [] };
  // Per process index (and the boot, index −1): instructions and walk references.
  const insns = new Map<number, number>();
  const refs = new Map<number, number>();
  let end = 'limit';
  while (st.steps < maxSteps) {
    const who = read32(l.kstate) === 0 ? -1 : read32(l.cur_index) | 0;
    const s0 = st.steps;
    const r0 = mmu.refs;
    end = cpu.run(1);
    insns.set(who, (insns.get(who) ?? 0) + (st.steps - s0));
    refs.set(who, (refs.get(who) ?? 0) + (mmu.refs - r0));
    track(t, readKernel(l, read32, read8), st.steps);
    if (end !== 'limit') break;
  }
  const k = readKernel(l, read32, read8);
  const console = m.exits.filter((e) => e.kind === 'io' && e.dir === 'out' && e.port === 0x3f8).map((e) => String.fromCharCode(Number(e.value) & 0xff)).join('');
  const cyclesOf = (i: number): number => price(p, { kind: 'guest-insn', count: insns.get(i) ?? 0 }) + price(p, { kind: 'page-walk-ref', count: refs.get(i) ?? 0 });
  const units: PartitionUnit[] = specs.map((c, i) => {
    const pr = k.procs[i];
    return {
      name: c.name,
      command: c.command,
      pid: pr?.pid ?? 0,
      nsPid: pr?.nsPid ?? 0,
      console: taggedLines(console, c.name),
      end: t.ends[i] ?? { kind: 'running', step: null },
      vmEnd: null,
      syscalls: pr?.syscalls ?? 0,
      exits: { total: 0, byName: {} },
      instructions: insns.get(i) ?? 0,
      cycles: cyclesOf(i),
    };
  });
  return {
    as: 'containers', under, preset: p.id, console, units,
    kernelsInMemory: countCopies(m.mem, kernelText(img)),
    steps: st.steps,
    ended: end === 'hlt' && units.every((u) => u.end.kind !== 'running'),
    cycles: price(p, { kind: 'guest-insn', count: st.steps }) + price(p, { kind: 'page-walk-ref', count: mmu.refs }),
    kernelBoot: { instructions: insns.get(-1) ?? 0, cycles: cyclesOf(-1) },
    ticks: [k.ticks],
  };
}

function runVms(specs: ContainerSpec[], p: Preset, under: 'vtx' | 'svm', maxSteps: number): PartitionResult {
  const imgs = specs.map((c) => buildContainerKernel([c]));
  const host = new Host({
    under, preset: p.id,
    guests: specs.map((c, i) => ({ name: c.name, mode: 'prot32' as const, load: KERNEL_LOAD, code: imgs[i]!.code, pc: true })),
  });
  const st = host.cpu.state;
  const vmEnds: ({ kind: string; step: number } | null)[] = specs.map(() => null);
  host.hooks = { ended: (vm, _vcpu, e) => (vmEnds[vm] = { kind: e.kind, step: st.steps }) };
  const readers = specs.map((_c, i) => {
    const base = host.vm(i).hpaBase;
    return { read32: (pa: number): number => host.mem.read(base + pa, 4) >>> 0, read8: (pa: number): number => host.mem.read8(base + pa) };
  });
  const trackers: Tracker[] = specs.map(() => ({ states: [], kstate: 'booting', ends: [] }));
  let done = false;
  while (st.steps < maxSteps && !done) {
    done = host.run(st.steps + 1) === 'ended';
    imgs.forEach((img, i) => track(trackers[i]!, readKernel(img.known, readers[i]!.read32, readers[i]!.read8), st.steps));
  }
  const report = host.report();
  const units: PartitionUnit[] = specs.map((c, i) => {
    const k = readKernel(imgs[i]!.known, readers[i]!.read32, readers[i]!.read8);
    const pr = k.procs[0];
    const r = report[i]!;
    return {
      name: c.name,
      command: c.command,
      pid: pr?.pid ?? 0,
      nsPid: pr?.nsPid ?? 0,
      console: r.uart,
      end: trackers[i]!.ends[0] ?? { kind: 'running', step: null },
      vmEnd: vmEnds[i]!,
      syscalls: pr?.syscalls ?? 0,
      exits: { total: r.exitTotal, byName: Object.fromEntries(Object.entries(r.exits).map(([name, e]) => [name, e.count])) },
      instructions: r.steps,
      cycles: host.vm(i).ledger.data().cycles,
    };
  });
  return {
    as: 'vms', under, preset: p.id,
    console: units.map((u) => u.console).join(''),
    units,
    kernelsInMemory: countCopies(host.mem, kernelText(imgs[0]!)),
    steps: st.steps,
    ended: done && units.every((u) => u.end.kind !== 'running'),
    cycles: units.reduce((s, u) => s + u.cycles, 0),
    kernelBoot: null,
    ticks: imgs.map((img, i) => readKernel(img.known, readers[i]!.read32, readers[i]!.read8).ticks),
  };
}
