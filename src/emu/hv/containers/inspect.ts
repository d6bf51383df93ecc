/**
 * Reading the container kernel's state (kernel.ts) out of memory, as plain data: its state word,
 * its tick counter, the process table with each process's container, pids, page directory, state,
 * exit code and system calls, and its log. The kernel maps its own image one to one, so its labels
 * are physical addresses; `read` reads a dword at one (the bare machine's RAM, or a VM's range of
 * the host's RAM). The runner (run.ts) and the worker's view read the same fields this way.
 */
import { CT, LOG_SIZE, PROC } from './layout.ts';

/** The labels the reader needs (the assembler's map for the kernel's image). */
export const KERNEL_LABELS = ['kstate', 'ticks', 'nprocs', 'cur_index', 'procs', 'containers', 'containers_end', 'log_len', 'log_buf', 'user_text'] as const;
export type KernelLabels = Readonly<Record<(typeof KERNEL_LABELS)[number], number>>;

export type KernelState = 'booting' | 'running' | 'idle' | 'panic';
export type ProcState = 'free' | 'runnable' | 'exited' | 'killed';

export interface ProcView {
  /** The kernel's pid. */
  pid: number;
  /** The pid inside its container (what `getpid` answers). */
  nsPid: number;
  /** Its container's name (its hostname). */
  container: string;
  state: ProcState;
  exitCode: number;
  syscalls: number;
  /** Its page directory (physical). */
  cr3: number;
}

export interface KernelView {
  state: KernelState;
  ticks: number;
  /** The index of the current process in `procs` (−1 before the first runs). */
  current: number;
  procs: ProcView[];
  /** The containers in the table's order. */
  containers: string[];
}

const KSTATES: readonly KernelState[] = ['booting', 'running', 'idle', 'panic'];
const PSTATES: readonly ProcState[] = ['free', 'runnable', 'exited', 'killed'];

/** The labels of an assembled container kernel, or null when one is missing (another program). */
export function kernelLabels(labels: ReadonlyMap<string, number>): KernelLabels | null {
  const out: Record<string, number> = {};
  for (const l of KERNEL_LABELS) {
    const v = labels.get(l);
    if (v === undefined) return null;
    out[l] = v;
  }
  return out as KernelLabels;
}

/** A NUL-terminated string of at most `max` bytes at `pa`. */
function readString(read8: (pa: number) => number, pa: number, max: number): string {
  let s = '';
  for (let i = 0; i < max; i++) {
    const b = read8(pa + i);
    if (b === 0) break;
    s += String.fromCharCode(b);
  }
  return s;
}

/** The kernel's state, read through `read32` (and `read8` for names). */
export function readKernel(l: KernelLabels, read32: (pa: number) => number, read8: (pa: number) => number): KernelView {
  const n = Math.min(read32(l.nprocs), (l.containers - l.procs) / PROC.SIZE);
  const procs: ProcView[] = [];
  for (let i = 0; i < n; i++) {
    const p = l.procs + i * PROC.SIZE;
    const ct = read32(p + PROC.CT);
    procs.push({
      pid: read32(p + PROC.PID),
      nsPid: read32(p + PROC.NSPID),
      container: readString(read8, ct + CT.NAME, 16),
      state: PSTATES[read32(p + PROC.STATE)] ?? 'free',
      exitCode: read32(p + PROC.EXIT) | 0,
      syscalls: read32(p + PROC.SYSCALLS),
      cr3: read32(p + PROC.CR3),
    });
  }
  const containers: string[] = [];
  for (let c = l.containers; c < l.containers_end; c += CT.SIZE) containers.push(readString(read8, c + CT.NAME, 16));
  const state = KSTATES[read32(l.kstate)] ?? 'booting';
  // cur_index is set (to −1, then each process's) once the boot is over.
  return { state, ticks: read32(l.ticks), current: state === 'booting' ? -1 : read32(l.cur_index) | 0, procs, containers };
}

/** The kernel's log (what it wrote to the UART, kept in memory). */
export function readLog(l: KernelLabels, read8: (pa: number) => number, read32: (pa: number) => number): string {
  const n = Math.min(read32(l.log_len), LOG_SIZE);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(read8(l.log_buf + i));
  return s;
}
