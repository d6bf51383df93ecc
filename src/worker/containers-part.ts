/**
 * The worker's part for the container kernel (a chunk session.ts loads before a scenario whose
 * kernel source begins with CONTAINER_KERNEL_MARK): ViewState.containers, read from the machine's
 * memory through the kernel's labels (src/emu/hv/containers/inspect.ts).
 */
import type { Machine } from '../emu/machine/machine.ts';
import { kernelLabels, readKernel } from '../emu/hv/containers/inspect.ts';
import { U_DATA } from '../emu/hv/containers/layout.ts';
import type { StepContainers } from './containers-types.ts';

/** The frame linear `la` maps to through the 32-bit page directory at `cr3`, or null. */
function frameOf(read32: (pa: number) => number, cr3: number, la: number): number | null {
  const pde = read32(cr3 + (la >>> 22) * 4);
  if ((pde & 1) === 0) return null;
  const pte = read32((pde & ~0xfff) + ((la >>> 12) & 0x3ff) * 4);
  return (pte & 1) === 0 ? null : (pte & ~0xfff) >>> 0;
}

/** The kernel's state in `m`'s memory, or null when the kernel lacks a label the reader needs. */
export function containersView(m: Machine, labels: ReadonlyMap<string, number>): StepContainers | null {
  const l = kernelLabels(labels);
  const version = labels.get('version');
  if (l === null || version === undefined) return null;
  const read32 = (pa: number): number => m.mem.read(pa, 4) >>> 0;
  const read8 = (pa: number): number => m.mem.read8(pa);
  const k = readKernel(l, read32, read8);
  let v = '';
  for (let i = 0; i < 32; i++) {
    const b = read8(version + i);
    if (b === 0) break;
    v += String.fromCharCode(b);
  }
  return {
    kernel: k.state,
    version: v,
    ticks: k.ticks,
    current: k.current,
    procs: k.procs.map((p) => ({ ...p, frame: p.cr3 === 0 ? null : frameOf(read32, p.cr3, U_DATA) })),
    privatePage: U_DATA,
  };
}
