/**
 * `lab exec --under svm`: the bare machine's program run as the only guest of the hypervisor.
 *
 * The machine is the bare one of `exec` (machine/bare.ts: the same RAM, start state, load address
 * and port/MMIO log); its start state becomes the guest's VMCB, and the CPU becomes the host with
 * SVM enabled. The hypervisor attaches no devices of its own:
 * - port I/O: every port is intercepted and forwarded to the bare machine's port handler, so the
 *   guest sees what it sees bare (IN reads all ones) and the same records reach the log;
 * - MMIO: the guest runs without nested paging (guest-run.ts does not apply it yet), so nothing
 *   traps a guest access above RAM: it reaches the bare machine's MMIO handler directly, exactly as
 *   in the bare run, and is logged by it. With nested paging those accesses would become NPF exits
 *   for the hypervisor to decode and forward; the log would stay the same;
 * - HLT ends the run (no interrupt source, no timer);
 * - CPUID: the guest sees the bare machine's CPUID (the lab's model with the KVM harness's
 *   features), plus CPUID.1:ECX[31] and the hypervisor's leaves 0x40000000–0x400000FF.
 * The hypervisor's structures (host save area, VMCB, IOPM, MSRPM) take the top 28 KiB of the 64 MiB
 * of RAM (SvmBackend explains why the guest could reach them without nested paging).
 */
import type { CpuFeatures } from '../cpu/core.ts';
import { cpuid, readMsr, writeMsr } from '../cpu/sys-ctl.ts';
import { Vec } from '../cpu/core.ts';
import { Ledger } from '../cost/ledger.ts';
import { preset as presetById, PRESETS, type Preset } from '../cost/presets.ts';
import { COST_KIND_IDS } from '../cost/kinds.ts';
import { BARE_RAM_SIZE, createBareMachine, type BareMachine, DEFAULT_MAX_STEPS, REG_ORDER, type BareMode, type ExitRecord, type U64Json } from '../machine/bare.ts';
import type { PhysMem } from '../mem/physmem.ts';
import { Hypervisor, SHADOW_MSRS, type HvEnd, type HvInterrupts } from './hypervisor.ts';
import { SVM_AREA_SIZE, SvmBackend, type SvmIntercepts } from './svm-backend.ts';
import { VMX_AREA_SIZE, VmxBackend } from './vmx-backend.ts';
import { GPR_NAMES, type HvBackend } from './types.ts';

export type HvBackendId = 'svm' | 'vtx';
export const DEFAULT_PRESET: Record<HvBackendId, string> = { svm: 'amd-recent', vtx: 'intel-broadwell' };

/** Where the backend keeps its structures: the top 32 KiB of the bare machine's RAM (either backend's area fits). */
export const HV_AREA = BARE_RAM_SIZE - Math.max(SVM_AREA_SIZE, VMX_AREA_SIZE);

/** The exceptions `exec --under` intercepts and reflects (#UD, as KVM does). */
export const EXEC_EXCEPTION_INTERCEPTS = [Vec.UD] as const;

export interface HvExecOptions {
  mode: BareMode;
  load: number;
  code: Uint8Array;
  maxSteps?: number;
  /** A cost preset id (default: DEFAULT_PRESET.svm). */
  preset?: string;
  features?: CpuFeatures;
}

export type HvExecEnd = 'hlt' | 'shutdown' | 'limit' | 'error' | 'hypercall-exit';

export interface HvJson {
  under: HvBackendId;
  /** Guest instructions retired (natively and by the hypervisor's emulation), as the bare run's `steps`. */
  steps: number;
  /** Exits by the vendor's name, each with its code and count. */
  exits: Record<string, { code: number; count: number }>;
  exitTotal: number;
  cost: { preset: string; vendor: 'intel' | 'amd'; cycles: number; byKind: Record<string, { count: number; cycles: number }>; byWork: Record<string, { count: number; cycles: number }> };
  console?: string;
  exitCode?: number;
}

export interface HvExecResult {
  exits: ExitRecord[];
  end: HvExecEnd;
  regs: Record<string, U64Json>;
  error?: string;
  hv: HvJson;
}

/** A preset usable with this backend, or a message saying why not. */
export function presetFor(under: HvBackendId, id: string | undefined): Preset | string {
  const want = under === 'svm' ? 'amd' : 'intel';
  const p = presetById(id ?? DEFAULT_PRESET[under]);
  if (p === undefined) return `no cost preset '${id}' (presets: ${PRESETS.map((x) => x.id).join(', ')})`;
  if (p.vendor !== want) {
    const fit = PRESETS.filter((x) => x.vendor === want).map((x) => x.id).join(', ');
    return `preset '${p.id}' prices ${p.vendor === 'intel' ? 'VT-x' : 'AMD-V'}, not ${want === 'intel' ? 'VT-x' : 'AMD-V'} (use ${fit})`;
  }
  return p;
}

const json = (v: bigint): U64Json => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

export interface HvExecRun {
  result: HvExecResult;
  hypervisor: Hypervisor;
  mem: PhysMem;
  vm: HvVm;
}

export interface HvVm {
  machine: BareMachine;
  backend: HvBackend;
  hypervisor: Hypervisor;
  ledger: Ledger;
  preset: Preset;
}

export interface HvExtra {
  intercepts?: SvmIntercepts;
  interrupts?: HvInterrupts;
}

/**
 * The bare machine of `exec` with its program as the hypervisor's guest, ready to run. `extra`
 * is for tests that intercept more (CR accesses, other exceptions) or attach an interrupt source;
 * `exec --under` uses none of it.
 */
export function createVm(under: HvBackendId, opts: HvExecOptions, extra: HvExtra = {}): HvVm {
  const p = presetFor(under, opts.preset);
  if (typeof p === 'string') throw new RangeError(p);
  const m = createBareMachine({ mode: opts.mode, load: opts.load, code: opts.code, ...(opts.features ? { features: opts.features } : {}) });
  const cpu = m.cpu;
  const features = cpu.features;
  const ledger = new Ledger(p);
  const intercepts: SvmIntercepts = { exceptions: EXEC_EXCEPTION_INTERCEPTS, msrs: SHADOW_MSRS, ...extra.intercepts };
  const backend: HvBackend = under === 'svm'
    ? new SvmBackend(cpu, { area: HV_AREA, ledger, intercepts })
    : new VmxBackend(cpu, { area: HV_AREA, ledger, intercepts });
  const hypervisor = new Hypervisor({
    backend, ledger,
    // The bare machine's CPUID (its Intel model), so the guest sees what it sees bare.
    cpuid: (leaf, sub) => cpuid('intel', leaf, sub, features),
    ports: cpu.io,
    msr: { read: (i) => readMsr(cpu, i), write: (i, lo, hi) => writeMsr(cpu, i, lo, hi) },
    ...(extra.interrupts ? { interrupts: extra.interrupts } : {}),
  });
  return { machine: m, backend, hypervisor, ledger, preset: p };
}

/** Runs raw machine code as the only guest of the hypervisor under AMD-V. */
export function runUnderSvm(opts: HvExecOptions, extra: HvExtra = {}): HvExecRun {
  return runUnder('svm', opts, extra);
}

/** Runs raw machine code as the only guest of the hypervisor under AMD-V or VT-x. */
export function runUnder(under: HvBackendId, opts: HvExecOptions, extra: HvExtra = {}): HvExecRun {
  const vm = createVm(under, opts, extra);
  const { machine: m, backend, hypervisor: hv, ledger, preset: p } = vm;
  const cpu = m.cpu;
  const end: HvEnd = hv.run(opts.maxSteps ?? DEFAULT_MAX_STEPS);
  const s = backend.report();
  const regs: Record<string, U64Json> = {};
  for (const name of REG_ORDER) regs[name] = json(s.gpr[GPR_NAMES.indexOf(name)]!);
  regs.rip = json(s.rip);
  regs.rflags = json(s.rflags & 0xffffffffn);
  regs.cr0 = json(s.cr0 & 0xffffffffn);
  regs.cr3 = json(s.cr3);
  regs.cr4 = json(s.cr4 & 0xffffffffn);
  const data = ledger.data();
  const byKind: HvJson['cost']['byKind'] = {};
  for (const k of COST_KIND_IDS) {
    const t = data.byKind[k];
    if (t !== undefined) byKind[k] = { count: t.count, cycles: t.cycles };
  }
  const hvJson: HvJson = {
    under,
    steps: cpu.state.steps,
    exits: Object.fromEntries([...hv.counts].map(([name, c]) => [name, { code: c.code, count: c.count }])),
    exitTotal: hv.exitCount,
    cost: { preset: p.id, vendor: p.vendor, cycles: data.cycles, byKind, byWork: { ...data.byWork } as HvJson['cost']['byWork'] },
  };
  if (hv.console !== '') hvJson.console = hv.console;
  if (end.kind === 'hypercall-exit') hvJson.exitCode = end.code;
  const result: HvExecResult = { exits: m.exits, end: end.kind, regs, hv: hvJson };
  if (end.kind === 'error') result.error = end.why;
  return { result, hypervisor: hv, mem: m.mem, vm };
}
