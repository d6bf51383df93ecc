/**
 * Running a guest kernel as a paravirtualized domain (pv/backend.ts under the hypervisor core), and
 * the same source on the bare processor, each returning the `exec`-like JSON: end, registers, and
 * for the PV run `hv` with the exits, the hypercalls (counts by name and a log of each, its
 * arguments decoded and what the hypervisor did), the traps, the cost and the TLB.
 */
import { assemble } from '../../asm/assembler.ts';
import { Ledger } from '../../cost/ledger.ts';
import { COST_KIND_IDS } from '../../cost/kinds.ts';
import { cpuid } from '../../cpu/sys-ctl.ts';
import { BARE_RAM_SIZE, createBareMachine, DEFAULT_MAX_STEPS, REG_ORDER, type BareMachine, type U64Json } from '../../machine/bare.ts';
import { presetFor, tlbJson, type HvJson } from '../exec.ts';
import { Hypervisor } from '../hypervisor.ts';
import { GPR_NAMES, type HvLogEntry } from '../types.ts';
import { PvBackend, PV_AREA_SIZE, type PvHypercallRecord } from './backend.ts';
import { KERNEL_LOAD, kernelSource, type KernelVersion } from './kernel.ts';

export interface PvJson extends Omit<HvJson, 'under' | 'paging'> {
  under: 'pv';
  /** The processor walks the guest's own (validated) page tables. */
  paging: 'direct';
  hypercalls: { counts: Record<string, number>; total: number; log: PvHypercallRecord[] };
  /** Event upcalls delivered to the kernel's callback. */
  upcalls: number;
}

export interface PvResult {
  end: 'hlt' | 'shutdown' | 'limit' | 'error' | 'hypercall-exit';
  regs: Record<string, U64Json>;
  error?: string;
  console: string;
  /** The kernel's result words (`syscalls`, `exit_code`), when its labels are known. */
  results: Record<string, number>;
  hv: PvJson;
  /** The hypervisor's exit log. */
  log: HvLogEntry[];
}

export interface BareKernelResult {
  end: string;
  console: string;
  results: Record<string, number>;
  regs: Record<string, U64Json>;
}

export interface KernelImage {
  code: Uint8Array;
  labels: Map<string, number>;
}

/** Assembles a kernel version (or a source of one's own) at KERNEL_LOAD; throws with the assembler's first error. */
export function buildKernel(kernel: KernelVersion | { source: string }): KernelImage {
  const src = typeof kernel === 'string' ? kernelSource(kernel) : kernel.source;
  const r = assemble(src, { bits: 32, origin: KERNEL_LOAD });
  if (!r.ok) throw new Error(`kernel: line ${r.errors[0]!.line}: ${r.errors[0]!.message}`);
  return { code: r.bytes, labels: r.labels };
}

const RESULT_LABELS = ['syscalls', 'exit_code'] as const;

function results(m: BareMachine, labels: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of RESULT_LABELS) {
    const at = labels.get(l);
    if (at !== undefined) out[l] = m.mem.read(at, 4) >>> 0;
  }
  return out;
}

const json = (v: bigint): U64Json => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

/** The kernel on the bare processor (ring 0, no hypervisor); its console is what it wrote to port 0xE9. */
export function runBareKernel(kernel: KernelVersion | { source: string }, maxSteps = DEFAULT_MAX_STEPS): BareKernelResult {
  const img = buildKernel(kernel);
  const m = createBareMachine({ mode: 'prot32', load: KERNEL_LOAD, code: img.code });
  const end = m.cpu.run(maxSteps);
  const console = m.exits.filter((e) => e.kind === 'io' && e.dir === 'out' && e.port === 0xe9).map((e) => String.fromCharCode(Number(e.value) & 0xff)).join('');
  const st = m.cpu.state;
  const regs: Record<string, U64Json> = {};
  for (const name of REG_ORDER.slice(0, 8)) regs[name] = st.regLo[GPR_NAMES.indexOf(name)]! >>> 0;
  regs.rip = st.ripLo >>> 0;
  return { end, console, results: results(m, img.labels), regs };
}

export interface PvRunOptions {
  maxSteps?: number;
  /** A cost preset (default: trap-and-emulate's, the Pentium 4 of Xen's first years). */
  preset?: string;
}

/** The kernel as a paravirtualized domain of the hypervisor. */
export function runPv(kernel: KernelVersion | { source: string }, opts: PvRunOptions = {}): PvResult & { backend: PvBackend; hypervisor: Hypervisor } {
  const img = buildKernel(kernel);
  const p = presetFor('trap-emulate', opts.preset);
  if (typeof p === 'string') throw new RangeError(p);
  const m = createBareMachine({ mode: 'prot32', load: KERNEL_LOAD, code: img.code, ramSize: BARE_RAM_SIZE + PV_AREA_SIZE });
  const cpu = m.cpu;
  const ledger = new Ledger(p);
  const backend = new PvBackend(cpu, { area: BARE_RAM_SIZE, ledger, guestRam: { size: BARE_RAM_SIZE, hpaBase: 0 }, vendor: p.vendor });
  const features = cpu.features;
  const hypervisor = new Hypervisor({ backend, ledger, cpuid: (leaf, sub) => cpuid('intel', leaf, sub, features), ports: cpu.io });
  const end = hypervisor.run(opts.maxSteps ?? DEFAULT_MAX_STEPS);
  const s = backend.report();
  const regs: Record<string, U64Json> = {};
  for (const name of REG_ORDER.slice(0, 8)) regs[name] = json(s.gpr[GPR_NAMES.indexOf(name)]!);
  regs.rip = json(s.rip);
  regs.rflags = json(s.rflags);
  regs.cr0 = json(s.cr0);
  regs.cr3 = json(s.cr3);
  const data = ledger.data();
  const byKind: HvJson['cost']['byKind'] = {};
  for (const k of COST_KIND_IDS) {
    const t = data.byKind[k];
    if (t !== undefined) byKind[k] = { count: t.count, cycles: t.cycles };
  }
  const hv: PvJson = {
    under: 'pv',
    nested: false,
    paging: 'direct',
    steps: cpu.state.steps,
    exits: Object.fromEntries([...hypervisor.counts].map(([name, c]) => [name, { code: c.code, count: c.count }])),
    exitTotal: hypervisor.exitCount,
    cost: { preset: p.id, vendor: p.vendor, cycles: data.cycles, byKind, byWork: { ...data.byWork } as HvJson['cost']['byWork'] },
    tlb: tlbJson(cpu.mmu, false),
    traps: Object.fromEntries([...backend.traps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    hypercalls: { counts: Object.fromEntries(backend.hypercalls), total: backend.hypercallLog.length, log: backend.hypercallLog },
    upcalls: backend.upcalls,
  };
  if (backend.console !== '') hv.console = backend.console;
  if (end.kind === 'hypercall-exit') hv.exitCode = end.code;
  if (end.kind === 'idle' || end.kind === 'preempted') throw new Error(`pv: unexpected end ${end.kind}`);
  const out: PvResult & { backend: PvBackend; hypervisor: Hypervisor } = {
    end: end.kind, regs, console: backend.console, results: results(m, img.labels), hv, log: hypervisor.log, backend, hypervisor,
  };
  if (end.kind === 'error') out.error = end.why;
  return out;
}
