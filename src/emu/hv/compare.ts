/**
 * The comparison of issue 7: one scenario run bare and as the only guest of the lab's hypervisor
 * under each memory-virtualization configuration (VT-x and AMD-V, nested or shadow paging), with
 * what each cost: exits by reason, TLB hits, misses and flushes, walks and the memory references
 * they made (references per translation), and cycles under the vendor's cost preset.
 *
 * Every configuration runs the same guest bytes from the same start, so the runs must end alike
 * (`same`: the guest's registers equal the bare run's); what differs is only what the
 * virtualization cost. The bare run is priced with the figures every preset shares (one cycle a
 * guest instruction, `page-walk-ref` per walk reference: cost/presets.ts), so its cycles are the
 * baseline the others add to.
 */
import { price } from '../cost/price.ts';
import { preset as presetById } from '../cost/presets.ts';
import { buildScenario } from '../scenario/build.ts';
import { loadScenario } from '../scenario/migrate.ts';
import type { ScenarioError } from '../scenario/schema.ts';
import type { Machine } from '../machine/machine.ts';
import { DEFAULT_PRESET } from '../cost/pick.ts';
import { HvMachine } from './hv-machine.ts';
import type { HvJson } from './exec.ts';

export type CompareConfigId = 'bare' | 'vtx-shadow' | 'vtx-nested' | 'vtx-untagged' | 'svm-shadow' | 'svm-nested' | 'svm-untagged';

/** One configuration of the comparison. */
export interface CompareConfig {
  id: CompareConfigId;
  technique: 'bare' | 'vtx' | 'svm';
  /** How guest memory is virtualized: not at all (bare), by the hardware's nested paging, or by the hypervisor's shadow tables. */
  paging: 'native' | 'nested' | 'shadow';
  /** Whether the TLB tags the guest's translations (VPID, ASID without a flush at each VMRUN); shadow paging runs untagged. */
  tlbTags: boolean;
}

export const COMPARE_CONFIGS: readonly CompareConfig[] = [
  { id: 'bare', technique: 'bare', paging: 'native', tlbTags: false },
  { id: 'vtx-shadow', technique: 'vtx', paging: 'shadow', tlbTags: false },
  { id: 'vtx-nested', technique: 'vtx', paging: 'nested', tlbTags: true },
  { id: 'vtx-untagged', technique: 'vtx', paging: 'nested', tlbTags: false },
  { id: 'svm-shadow', technique: 'svm', paging: 'shadow', tlbTags: false },
  { id: 'svm-nested', technique: 'svm', paging: 'nested', tlbTags: true },
  { id: 'svm-untagged', technique: 'svm', paging: 'nested', tlbTags: false },
];

export interface CompareRow extends CompareConfig {
  end: string;
  /** Guest instructions retired. */
  steps: number;
  /** The guest's registers at the end equal the bare run's. */
  same: boolean;
  exits: { total: number; byName: Record<string, number> };
  /** `flushes`: invalidation operations (whole TLB, a tag, a PCID, or a single page: INVLPG, INVVPID type 0, INVLPGA, after a #PF). */
  tlb: { hits: number; misses: number; flushes: number };
  /** Page walks (TLB misses, and re-walks to set a dirty flag) and the memory references they made. */
  walks: number;
  refs: number;
  /** refs / walks: 4 for a native 4-level walk, up to 24 for a 2D walk of a 4-level guest on 4-level nested tables. */
  refsPerWalk: number;
  cycles: { preset: string; total: number; byKind: Record<string, number> };
}

export type CompareResult = { ok: true; name: string; rows: CompareRow[] } | { ok: false; errors: ScenarioError[] };

export interface CompareOptions {
  configs?: readonly CompareConfig[];
  /** Steps per run (default: the scenario's own limit). */
  maxSteps?: number;
  /** At most this many steps per run whatever the limit (the app bounds the work it asks of the worker). */
  stepCap?: number;
}

export type Raw = Record<string, unknown> & { cpu?: Record<string, unknown>; hypervisor?: Record<string, unknown> };

/**
 * The scenario's JSON for a configuration: the technique, the vendor it needs, and the paging. The
 * one place a configuration becomes scenario JSON (the comparison and the side-by-side pair,
 * worker/pair.ts, both build their machines from it).
 */
export function configure(raw: Raw, c: CompareConfig): Raw {
  const { technique: _t, hypervisor: _h, ...rest } = raw;
  if (c.technique === 'bare') return rest;
  const hv = raw.hypervisor ?? {};
  return {
    ...rest,
    technique: c.technique,
    cpu: { ...(raw.cpu ?? {}), vendor: c.technique === 'svm' ? 'amd' : 'intel' },
    hypervisor: c.paging === 'nested' ? { ...hv, nestedPaging: true, tlbTags: c.tlbTags } : { ...shadowHv(hv), nestedPaging: false, tlbTags: c.tlbTags },
  };
}

/** The scenario's hypervisor settings without those only nested paging has (the nested page size, the walk caches), which shadow paging refuses. */
function shadowHv(hv: Record<string, unknown>): Record<string, unknown> {
  const { nestedPageSize: _p, walkCaches: _w, ...rest } = hv;
  return rest;
}

/** The guest's general registers, RIP and RFLAGS at the end, for `same` (the hypervisor's machine reads them from the VMCS or VMCB). */
function guestRegs(m: Machine): bigint[] {
  if (m instanceof HvMachine) {
    const r = m.guestResult().regs;
    return [...REGS, 'rip', 'rflags'].map((k) => BigInt(r[k]!));
  }
  m.cpu.syncFlags();
  const s = m.cpu.state;
  const u = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return [...REGS.map((_, i) => u(s.regLo[i]!, s.regHi[i]!)), u(s.ripLo, s.ripHi), BigInt(s.rflags >>> 0)];
}

/** In the order of the CPU's register file (and of `HvMachine.guestResult`'s names). */
const REGS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/** The configuration of that id, or undefined for an id COMPARE_CONFIGS does not list. */
export function compareConfig(id: string): CompareConfig | undefined {
  return COMPARE_CONFIGS.find((c) => c.id === id);
}

/** What a run cost so far: its counters and cycles (the machine's own, read without side effects). */
export function measure(c: CompareConfig, m: Machine, end: string, hv: HvJson | null, same: boolean): CompareRow {
  const t = m.mmu.tlb;
  const walks = m.mmu.walks;
  const refs = m.mmu.refs;
  const steps = m.cpu.state.steps;
  let cycles: CompareRow['cycles'];
  if (hv !== null) {
    const byKind: Record<string, number> = {};
    for (const [k, v] of Object.entries(hv.cost.byKind)) byKind[k] = v.cycles;
    cycles = { preset: hv.cost.preset, total: hv.cost.cycles, byKind };
  } else {
    const p = presetById(DEFAULT_PRESET.vtx)!;
    const guest = price(p, { kind: 'guest-insn', count: steps });
    const walk = price(p, { kind: 'page-walk-ref', count: refs });
    cycles = { preset: p.id, total: guest + walk, byKind: { 'guest-insn': guest, 'page-walk-ref': walk } };
  }
  const byName: Record<string, number> = {};
  for (const [name, e] of Object.entries(hv?.exits ?? {})) byName[name] = e.count;
  return {
    ...c,
    end,
    steps,
    same,
    exits: { total: hv?.exitTotal ?? 0, byName },
    tlb: { hits: t.hits, misses: t.misses, flushes: t.flushes },
    walks,
    refs,
    refsPerWalk: walks === 0 ? 0 : refs / walks,
    cycles,
  };
}

/** Runs the scenario (its JSON, before migration) under each configuration. */
export function compareScenario(json: unknown, opts: CompareOptions = {}): CompareResult {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, errors: [{ path: '', message: 'expected a scenario object' }] };
  const raw = json as Raw;
  if (raw.vms !== undefined) return { ok: false, errors: [{ path: 'vms', message: 'the comparison runs one guest: a scenario with vms cannot be compared' }] };
  const rows: CompareRow[] = [];
  let bare: bigint[] | null = null;
  let name = '';
  for (const c of opts.configs ?? COMPARE_CONFIGS) {
    const loaded = loadScenario(configure(raw, c));
    if (!loaded.ok) return { ok: false, errors: loaded.errors.map((e) => ({ ...e, message: `${c.id}: ${e.message}` })) };
    const ls = loaded.loaded;
    name = ls.scenario.name;
    const m = buildScenario(ls);
    const end = m.run(Math.min(opts.maxSteps ?? ls.maxSteps, opts.stepCap ?? Infinity));
    const regs = guestRegs(m);
    const same = bare === null || regs.every((v, i) => v === bare![i]);
    rows.push(measure(c, m, end, m instanceof HvMachine ? m.guestResult().hv : null, same));
    if (c.technique === 'bare') bare = regs;
  }
  return { ok: true, name, rows };
}

const num = (n: number): string => n.toLocaleString('en-US');

/** The comparison as a plain-text table for the command line. */
export function compareTable(res: Extract<CompareResult, { ok: true }>): string {
  const rows = res.rows;
  const head = ['', ...rows.map((r) => r.id)];
  const line = (label: string, f: (r: CompareRow) => string): string[] => [label, ...rows.map(f)];
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.exits.byName)))].sort();
  const body: string[][] = [
    line('end', (r) => r.end + (r.same ? '' : ' (differs from bare)')),
    line('guest instructions', (r) => num(r.steps)),
    line('VM exits', (r) => num(r.exits.total)),
    ...names.map((n) => line(`  ${n}`, (r) => num(r.exits.byName[n] ?? 0))),
    line('TLB hits', (r) => num(r.tlb.hits)),
    line('TLB misses', (r) => num(r.tlb.misses)),
    line('TLB invalidations', (r) => num(r.tlb.flushes)),
    line('page walks', (r) => num(r.walks)),
    line('walk references', (r) => num(r.refs)),
    line('references per walk', (r) => r.refsPerWalk.toFixed(2)),
    line('cycles', (r) => num(r.cycles.total)),
    line('  cost preset', (r) => r.cycles.preset),
  ];
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const fmt = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [`${res.name}`, '', fmt(head), ...body.map(fmt)].join('\n');
}
