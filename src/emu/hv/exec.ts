/**
 * `lab exec --under svm|vtx`: the bare machine's program run as the only guest of the hypervisor.
 *
 * The machine is the bare one of `exec` (machine/bare.ts: the same start state, load address and
 * port/MMIO log); its start state becomes the guest's VMCB or VMCS, and the CPU becomes the host.
 * The hypervisor attaches no devices of its own:
 * - port I/O: every port is intercepted and forwarded to the bare machine's port handler, so the
 *   guest sees what it sees bare (IN reads all ones) and the same records reach the log;
 * - MMIO, with nested paging (the default): the host's RAM is 64 MiB plus the hypervisor's area
 *   (HV_AREA = 64 MiB, above everything the guest can reach); the nested tables map guest-physical
 *   [0, 64 MiB) to host-physical [0, 64 MiB) and nothing else, so the guest sees exactly the bare
 *   machine's RAM. A guest access above it is an EPT violation or #VMEXIT(NPF); the hypervisor
 *   lets the processor run that instruction with the page passed through to the bare machine's
 *   MMIO handler at the guest-physical address (hypervisor.ts), which logs it as in the bare run;
 * - shadow paging (`paging: 'shadow'`, `--paging shadow`, alias `--nested off`): the same layout
 *   (the guest's 64 MiB at host-physical 0, the area above it) plus the shadow pool after the area
 *   (shadow.ts); the processor walks the hypervisor's shadow tables, #PF, INVLPG and the CR
 *   accesses exit, and a guest access above its RAM is MMIO through the shadow's window, forwarded
 *   to the bare machine's handler at the guest-physical address;
 * - HLT ends the run (no interrupt source, no timer);
 * - CPUID: the guest sees the bare machine's CPUID (the lab's model with the KVM harness's
 *   features), plus CPUID.1:ECX[31] and the hypervisor's leaves 0x40000000–0x400000FF.
 */
import type { CpuFeatures } from '../cpu/core.ts';
import { cpuid, readMsr, writeMsr } from '../cpu/sys-ctl.ts';
import { Vec } from '../cpu/core.ts';
import { Ledger } from '../cost/ledger.ts';
import { preset as presetById, type Preset } from '../cost/presets.ts';
import { DEFAULT_PRESET, presetProblem, type PresetTechnique } from '../cost/pick.ts';
import { COST_KIND_IDS } from '../cost/kinds.ts';
import { BARE_RAM_SIZE, createBareMachine, type BareMachine, DEFAULT_MAX_STEPS, REG_ORDER, type BareMode, type ExitRecord, type U64Json } from '../machine/bare.ts';
import type { MmioHandler, PhysMem } from '../mem/physmem.ts';
import { Hypervisor, SHADOW_MSRS, type HvEnd, type HvInterrupts } from './hypervisor.ts';
import { SVM_AREA_SIZE, SvmBackend, type SvmIntercepts } from './svm-backend.ts';
import { VMX_AREA_SIZE, VmxBackend } from './vmx-backend.ts';
import { GPR_NAMES, type HvBackend, type HvExitOptions } from './types.ts';
import { SHADOW_POOL_SIZE, type ShadowStats } from './shadow.ts';
import { TE_AREA_SIZE, TeBackend } from './te/backend.ts';
import { BT_AREA_SIZE, BtBackend, type BtStats } from './bt/backend.ts';

export type HvBackendId = 'svm' | 'vtx' | 'trap-emulate' | 'bt';
export { DEFAULT_PRESET };

/** A preset usable with this technique, or a message saying why not (cost/pick.ts). */
export function presetFor(under: PresetTechnique, id: string | undefined): Preset | string {
  const problem = presetProblem(under, id);
  return problem ?? presetById(id ?? DEFAULT_PRESET[under])!;
}

const AREA_SIZE = Math.max(SVM_AREA_SIZE, VMX_AREA_SIZE, TE_AREA_SIZE);
/** Where the backend keeps its structures under nested paging: host RAM just above the guest's 64 MiB. */
export const HV_AREA = BARE_RAM_SIZE;
/** The host's RAM under nested paging: the guest's 64 MiB and the hypervisor's area. */
export const HV_HOST_RAM_SIZE = BARE_RAM_SIZE + AREA_SIZE;
/** Under shadow paging: the shadow pool right after the area. */
export const HV_SHADOW_POOL = HV_AREA + AREA_SIZE;
/** The host's RAM under shadow paging: the guest's 64 MiB, the area and the shadow pool. */
export const HV_SHADOW_RAM_SIZE = HV_SHADOW_POOL + SHADOW_POOL_SIZE;

export type HvPaging = 'nested' | 'shadow';

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
  /** Nested paging (EPT, NPT) or shadow paging; default nested. */
  paging?: HvPaging;
  /** The older spelling: `nested: false` is `paging: 'shadow'` (ignored when `paging` is given). */
  nested?: boolean;
  /** Tagged TLBs (VPID, ASID without a flush at each VMRUN): the backends' default (on with nested paging, off without). */
  tlbTags?: boolean;
}

/** The processor's TLB over the run (issue 7): tagged or not, and its counters (mmu/tlb.ts). */
export interface HvTlbJson {
  tags: boolean;
  hits: number;
  misses: number;
  /** Flush and invalidation operations (whole, by tag, by EPTP, per page). */
  flushes: number;
  /** Entries those operations removed. */
  invalidated: number;
  /** Page walks (the misses, and re-walks to set a dirty flag) and the memory references they made (2D walks under nested paging). */
  walks: number;
  walkRefs: number;
  /** walkRefs / walks: at most 4 for a 4-level walk (shadow paging's too), up to 24 for a 2D walk of 4 on 4 levels. */
  refsPerWalk: number;
}

/** The TLB counters of a processor and its walks, as `hv.tlb` prints them. */
export function tlbJson(mmu: { tlb: { hits: number; misses: number; flushes: number; invalidated: number }; walks: number; refs: number }, tags: boolean): HvTlbJson {
  const t = mmu.tlb;
  const refsPerWalk = mmu.walks === 0 ? 0 : Math.round((mmu.refs / mmu.walks) * 100) / 100;
  return { tags, hits: t.hits, misses: t.misses, flushes: t.flushes, invalidated: t.invalidated, walks: mmu.walks, walkRefs: mmu.refs, refsPerWalk };
}

/** The paging an exec option set asks for. */
export function pagingOf(opts: { paging?: HvPaging; nested?: boolean }): HvPaging {
  return opts.paging ?? (opts.nested === false ? 'shadow' : 'nested');
}

export type HvExecEnd = 'hlt' | 'shutdown' | 'limit' | 'error' | 'hypercall-exit';

export interface HvJson {
  under: HvBackendId | 'pv';
  /** Whether the guest ran under nested paging. */
  nested: boolean;
  /** How guest memory was virtualized. */
  paging: HvPaging | 'direct';
  /** Shadow paging: what the shadow MMU did (shadow.ts). */
  shadow?: ShadowStats;
  /** Trap-and-emulate: the monitor's traps by the instruction that caused them (`cli`, `out`, `mov cr3`) and the exceptions it reflected (`#PF`, `#UD`). */
  traps?: Record<string, number>;
  /** Binary translation: the translation cache's statistics (bt/backend.ts). */
  bt?: BtStats & { cacheBlocks: number };
  /** Guest instructions retired (natively and by the hypervisor's emulation), as the bare run's `steps`; under binary translation the processor's, translated code included. */
  steps: number;
  /** Exits by the vendor's name, each with its code and count. */
  exits: Record<string, { code: number; count: number }>;
  exitTotal: number;
  cost: { preset: string; vendor: 'intel' | 'amd'; cycles: number; byKind: Record<string, { count: number; cycles: number }>; byWork: Record<string, { count: number; cycles: number }> };
  tlb: HvTlbJson;
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
  /** Optional exits (RDTSC, INVLPG, CR3, exceptions; HLT off). */
  exits?: HvExitOptions;
  /** A device for guest MMIO instead of the bare machine's log (tests attach one that answers reads). */
  mmio?: MmioHandler;
  interrupts?: HvInterrupts;
}

/**
 * The bare machine of `exec` with its program as the hypervisor's guest, ready to run. `extra`
 * is for tests that intercept more (CR accesses, other exceptions, the optional exits) or attach
 * an interrupt source or an MMIO device;
 * `exec --under` uses none of it.
 */
export function createVm(under: HvBackendId, opts: HvExecOptions, extra: HvExtra = {}): HvVm {
  const p = presetFor(under, opts.preset);
  if (typeof p === 'string') throw new RangeError(p);
  const software = under === 'trap-emulate' || under === 'bt';
  if (software && opts.paging === 'nested') throw new RangeError(`${under === 'bt' ? 'binary translation' : 'trap-and-emulate'} has no nested paging: its monitor shadows the guest\u2019s page tables (--paging shadow)`);
  const nested = !software && pagingOf(opts) === 'nested';
  // Binary translation's area holds its translation cache too: its shadow pool comes after it.
  const swPool = HV_AREA + BT_AREA_SIZE;
  const m = createBareMachine({
    mode: opts.mode, load: opts.load, code: opts.code, ...(opts.features ? { features: opts.features } : {}),
    ramSize: under === 'bt' ? swPool + SHADOW_POOL_SIZE : nested ? HV_HOST_RAM_SIZE : HV_SHADOW_RAM_SIZE,
  });
  const cpu = m.cpu;
  const features = cpu.features;
  const ledger = new Ledger(p);
  const mmio = extra.mmio ?? m.mem.mmio;
  const intercepts: SvmIntercepts = { exceptions: EXEC_EXCEPTION_INTERCEPTS, msrs: SHADOW_MSRS, ...extra.intercepts };
  const common = {
    area: HV_AREA, ledger, intercepts, nested, shadowPool: HV_SHADOW_POOL,
    ...(opts.tlbTags !== undefined ? { tlbTags: opts.tlbTags } : {}),
    guestRam: { size: BARE_RAM_SIZE, hpaBase: 0 },
    ...(extra.exits ? { exits: extra.exits } : {}),
  };
  const backend: HvBackend = under === 'svm' ? new SvmBackend(cpu, common)
    : under === 'vtx' ? new VmxBackend(cpu, common)
    : under === 'trap-emulate' ? new TeBackend(cpu, { area: HV_AREA, ledger, shadowPool: HV_SHADOW_POOL, guestRam: { size: BARE_RAM_SIZE, hpaBase: 0 }, vendor: p.vendor })
    : new BtBackend(cpu, { area: HV_AREA, ledger, shadowPool: swPool, guestRam: { size: BARE_RAM_SIZE, hpaBase: 0 }, vendor: p.vendor });
  const hypervisor = new Hypervisor({
    backend, ledger,
    // The bare machine's CPUID (its Intel model), so the guest sees what it sees bare.
    cpuid: (leaf, sub) => cpuid('intel', leaf, sub, features),
    ports: cpu.io,
    mmio,
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
    nested: backend.nested,
    paging: backend.nested ? 'nested' : 'shadow',
    steps: cpu.state.steps,
    exits: Object.fromEntries([...hv.counts].map(([name, c]) => [name, { code: c.code, count: c.count }])),
    exitTotal: hv.exitCount,
    cost: { preset: p.id, vendor: p.vendor, cycles: data.cycles, byKind, byWork: { ...data.byWork } as HvJson['cost']['byWork'] },
    tlb: tlbJson(cpu.mmu, backend.tlbTags),
  };
  if (backend.shadow != null) hvJson.shadow = { ...backend.shadow.stats };
  if (backend instanceof BtBackend) hvJson.bt = { ...backend.stats, callouts: { ...backend.stats.callouts }, cacheBlocks: backend.blocks.size };
  if (backend instanceof TeBackend) hvJson.traps = Object.fromEntries([...backend.traps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (hv.console !== '') hvJson.console = hv.console;
  if (end.kind === 'hypercall-exit') hvJson.exitCode = end.code;
  // 'idle' and 'preempted' need the multi-VM host's options (host.ts), which exec does not set.
  if (end.kind === 'idle' || end.kind === 'preempted') throw new Error(`exec --under: unexpected end ${end.kind}`);
  const result: HvExecResult = { exits: m.exits, end: end.kind, regs, hv: hvJson };
  if (end.kind === 'error') result.error = end.why;
  return { result, hypervisor: hv, mem: m.mem, vm };
}
