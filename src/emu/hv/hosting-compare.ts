/**
 * Hosted against bare-metal on one workload (issue 9, item 4; `lab hosting`): the same two VMs on
 * the multi-VM host (host.ts) with the hypervisor bare-metal, then hosted under a host OS with CPU-
 * bound host processes. The guests are identical, so their consoles must match; what differs is the
 * path each exit takes (hosting.ts), what those paths cost, and the CPU time the host's own
 * processes take from the VMs.
 *
 * The workload: VM 0 (`printer`) prints a line on COM1 between compute loops, each character an
 * I/O exit to a device model whose byte leaves the machine; VM 1 (`ticker`) halts between timer
 * ticks from its 8254 (exits to the interrupt controller, the timer and idle).
 */
import { assemble } from '../asm/assembler.ts';
import { Host, type HostGuest } from './host.ts';
import { HALTER, uartPrint } from './host-guests.ts';
import type { ExitWhere, Hosting } from './hosting.ts';
import type { CostKind } from '../cost/kinds.ts';

const LOAD = 0x100000;

/** VM 0: `lines` times, a compute loop of 1,000 iterations and the line "vm\n" on COM1; then CLI; HLT. */
export function printerSource(lines: number): string {
  return [
    `mov ebx, ${lines}`,
    'line: mov ecx, 1000',
    'spin: dec ecx',
    'jnz spin',
    ...uartPrint('vm\n'),
    'dec ebx',
    'jnz line',
    'cli',
    'hlt',
  ].join('\n');
}

function code(src: string): Uint8Array {
  const r = assemble(src, { bits: 32, origin: LOAD });
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}: ${e.message}`).join('; '));
  return r.bytes;
}

export function hostingGuests(lines: number): HostGuest[] {
  return [
    { name: 'printer', mode: 'prot32', load: LOAD, code: code(printerSource(lines)), pc: true },
    { name: 'ticker', mode: 'prot32', load: LOAD, code: code(HALTER), pc: true },
  ];
}

export interface HostingVmRow {
  name: string;
  console: string;
  end: string | null;
  /** Guest instructions retired. */
  steps: number;
  exits: number;
  cycles: number;
}

export interface HostingRow {
  hosting: Hosting;
  /** The physical CPU's steps until every VM ended: guest instructions, host processes' steps and idle steps. */
  steps: number;
  guestSteps: number;
  /** Steps the host's own processes held the CPU (hosted). */
  hostSteps: number;
  idleSteps: number;
  /** Turns the host's scheduler gave a host process. */
  hostRuns: number;
  exits: number;
  /** Exits by who handled them (hosting.ts ExitWhere). */
  byWhere: Record<ExitWhere, number>;
  /** Exits whose data left the machine (a byte the UART sent). */
  output: number;
  worldSwitches: number;
  userCrossings: number;
  syscalls: number;
  /** Cycles of every VM together under the preset, and by cost kind. */
  cycles: number;
  byKind: Record<string, number>;
  vms: HostingVmRow[];
}

/** Runs the workload (`lines` lines) under each arrangement. */
export function compareHosting(opts: { lines?: number; hostProcesses?: number; under?: 'vtx' | 'svm'; preset?: string; maxSteps?: number } = {}): HostingRow[] {
  const lines = opts.lines ?? 4;
  const rows: HostingRow[] = [];
  for (const hosting of ['bare-metal', 'hosted'] as const) {
    const h = new Host({
      under: opts.under ?? 'vtx',
      guests: hostingGuests(lines),
      hosting,
      ...(hosting === 'hosted' ? { hostProcesses: opts.hostProcesses ?? 1 } : {}),
      ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
    });
    const end = h.run(opts.maxSteps ?? 2_000_000);
    if (end !== 'ended') throw new Error(`${hosting}: the VMs did not end within ${opts.maxSteps ?? 2_000_000} steps`);
    const rep = h.report();
    const { output, ...byWhere } = h.pathCounts;
    const byKind: Record<string, number> = {};
    let cycles = 0;
    const vms: HostingVmRow[] = rep.map((r, i) => {
      const l = h.vm(i).ledger.data();
      cycles += l.cycles;
      for (const [k, v] of Object.entries(l.byKind)) byKind[k] = (byKind[k] ?? 0) + v.cycles;
      return { name: r.name, console: r.console, end: r.vcpus[0]!.end, steps: r.steps, exits: r.exitTotal, cycles: l.cycles };
    });
    const count = (k: CostKind): number => rep.reduce((n, _r, i) => n + (h.vm(i).ledger.data().byKind[k]?.count ?? 0), 0);
    rows.push({
      hosting,
      steps: h.cpu.state.steps,
      guestSteps: vms.reduce((n, v) => n + v.steps, 0),
      hostSteps: h.hostSteps,
      idleSteps: h.idleSteps,
      hostRuns: h.hostRuns.length,
      exits: byWhere.monitor + byWhere.device + byWhere.interrupt + byWhere.idle,
      byWhere,
      output,
      worldSwitches: count('world-switch'),
      userCrossings: count('host-user'),
      syscalls: count('host-syscall'),
      cycles,
      byKind,
      vms,
    });
  }
  return rows;
}
