/**
 * ViewState.containers: the container kernel's state at a step (src/emu/hv/containers, read by
 * containers-part.ts), for the containers view and its narration (src/views/containers). Set only
 * for a scenario without a technique whose kernel is that kernel.
 */

/**
 * How the kernel's source begins (kernel.ts's first line; containers-view.test.ts checks it): a
 * scenario whose kernel source starts so makes the worker fetch containers-part.ts before it loads.
 * The view is then made only if the assembled kernel has the labels the reader needs.
 */
export const CONTAINER_KERNEL_MARK = '; ringos:';

export interface ContainerProcView {
  /** The kernel's pid. */
  pid: number;
  /** The pid inside its container (what its getpid answers). */
  nsPid: number;
  container: string;
  state: 'free' | 'runnable' | 'exited' | 'killed';
  exitCode: number;
  syscalls: number;
  /** Its page directory (physical address). */
  cr3: number;
  /** The frame its private page at `privatePage` is (through its own page directory), or null when unmapped. */
  frame: number | null;
}

export interface StepContainers {
  kernel: 'booting' | 'running' | 'idle' | 'panic';
  /** The kernel's version string (what uname copies). */
  version: string;
  /** The kernel's tick counter (one per scheduler pass). */
  ticks: number;
  /** The index in `procs` of the process the kernel runs (or was running), −1 before the first. */
  current: number;
  procs: ContainerProcView[];
  /** The linear address of every process's private data page. */
  privatePage: number;
}
