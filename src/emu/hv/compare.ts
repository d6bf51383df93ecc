/**
 * The comparison of issue 7: one scenario run bare and as the only guest of the lab's hypervisor
 * under each memory-virtualization configuration (VT-x and AMD-V, nested or shadow paging), and
 * (issue 9) under the software monitors that came before them, trap-and-emulate and binary
 * translation (both with shadow paging), with what each cost: exits by reason (VM exits, or the
 * monitor's traps and callouts by what caused them), TLB hits, misses and flushes, walks and the
 * memory references they made (references per translation), and cycles under the cost preset.
 *
 * The software monitors run a 32-bit protected-mode guest only, with no timer (scenario/validate.ts
 * checkTechnique): a scenario they cannot run leaves their configuration `unavailable`, with the
 * validator's located reasons, while the rest of the comparison runs. A hardware configuration
 * that cannot run the scenario fails the comparison, as before. Paravirtualization is not a
 * configuration: it runs its own ported kernel (pv/), not the scenario's guest.
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

export type CompareConfigId = 'bare' | 'vtx-shadow' | 'vtx-nested' | 'vtx-untagged' | 'svm-shadow' | 'svm-nested' | 'svm-untagged' | 'te' | 'bt';

/** One configuration of the comparison. */
export interface CompareConfig {
  id: CompareConfigId;
  technique: 'bare' | 'vtx' | 'svm' | 'trap-emulate' | 'bt';
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
  { id: 'te', technique: 'trap-emulate', paging: 'shadow', tlbTags: false },
  { id: 'bt', technique: 'bt', paging: 'shadow', tlbTags: false },
];

/** A software monitor (no virtualization extension): its exits are traps and callouts, not VM exits. */
export function isSoftware(c: Pick<CompareConfig, 'technique'>): boolean {
  return c.technique === 'trap-emulate' || c.technique === 'bt';
}

export interface CompareRow extends CompareConfig {
  end: string;
  /** Why the hypervisor stopped the guest, when it could not go on (`error`: an instruction the monitor does not handle). */
  error?: string;
  /** Guest instructions retired; under binary translation the processor's, translated code included (hv/exec.ts HvJson.steps). */
  steps: number;
  /** The guest's registers at the end equal the bare run's. */
  same: boolean;
  /**
   * What entered the hypervisor. Under VT-x and AMD-V: VM exits by the vendor's name. Under a
   * software monitor: its traps (faults into it) and callouts (jumps from translated code into it)
   * by what caused them (`cli`, `out`, `mov cr3`, `#PF`, `popfd`: te/backend.ts `traps`), as
   * technique-compare.ts counts them.
   */
  exits: { total: number; byName: Record<string, number> };
  /**
   * A software monitor's entries split: faults into it (the cost model's `trap` count) and binary
   * translation's callouts (BtStats.callouts; 0 under trap-and-emulate). Their sum is `exits.total`
   * under these techniques, which can exceed the exit records: a fault the monitor takes while it
   * runs an instruction once inside a handler is counted and priced, but handled in that record.
   */
  monitor?: { traps: number; callouts: number };
  /** Binary translation's translation cache: blocks translated (re-translations included) and held now, lookups that hit or had to translate, exits chained. */
  bt?: { blocks: number; cached: number; hits: number; misses: number; hitRate: number; chains: number };
  /** `flushes`: invalidation operations (whole TLB, a tag, a PCID, or a single page: INVLPG, INVVPID type 0, INVLPGA, after a #PF). */
  tlb: { hits: number; misses: number; flushes: number };
  /** Page walks (TLB misses, and re-walks to set a dirty flag) and the memory references they made. */
  walks: number;
  refs: number;
  /** refs / walks: 4 for a native 4-level walk, up to 24 for a 2D walk of a 4-level guest on 4-level nested tables. */
  refsPerWalk: number;
  cycles: { preset: string; total: number; byKind: Record<string, number> };
}

/** A configuration that cannot run the scenario, with the validator's reasons (each located by its path in the scenario). */
export interface CompareUnavailable extends CompareConfig {
  errors: ScenarioError[];
}

/** `rows`: the configurations that ran, in COMPARE_CONFIGS' order; `unavailable`: those that cannot run this scenario (the software monitors only). */
export type CompareResult = { ok: true; name: string; rows: CompareRow[]; unavailable: CompareUnavailable[] } | { ok: false; errors: ScenarioError[] };

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
 * worker/pair.ts, both build their machines from it). The software monitors run on any processor
 * (the scenario's vendor stays) and keep only the scenario's cost preset, by default the one the
 * VT-x configurations get (the same processor without its hardware assist, as technique-compare.ts
 * prices them): they have no exit controls, nested tables, walk caches or tags.
 */
export function configure(raw: Raw, c: CompareConfig): Raw {
  const { technique: _t, hypervisor: _h, ...rest } = raw;
  if (c.technique === 'bare') return rest;
  const hv = raw.hypervisor ?? {};
  if (isSoftware(c)) {
    return { ...rest, technique: c.technique, hypervisor: { costPreset: hv.costPreset ?? DEFAULT_PRESET.vtx, nestedPaging: false, tlbTags: false } };
  }
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
  // A software monitor counts its traps and callouts by what caused them; its exits by vector name (`#GP`, `callout`) say less.
  if (hv?.traps !== undefined) Object.assign(byName, hv.traps);
  else for (const [name, e] of Object.entries(hv?.exits ?? {})) byName[name] = e.count;
  const row: CompareRow = {
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
  if (hv !== null && isSoftware(c)) {
    // Every entry into the monitor as it counts them: a fault taken while it runs an instruction
    // once inside a handler is a trap of its own (and priced as one), though no exit record of its own.
    const total = Object.values(byName).reduce((a, b) => a + b, 0);
    const callouts = Object.values(hv.bt?.callouts ?? {}).reduce((a, b) => a + (b ?? 0), 0);
    row.exits.total = total;
    row.monitor = { traps: total - callouts, callouts };
  }
  if (hv?.bt !== undefined) {
    const b = hv.bt;
    row.bt = { blocks: b.blocks, cached: b.cacheBlocks, hits: b.hits, misses: b.misses, hitRate: b.hits + b.misses === 0 ? 0 : b.hits / (b.hits + b.misses), chains: b.chains };
  }
  return row;
}

/** Runs the scenario (its JSON, before migration) under each configuration. */
export function compareScenario(json: unknown, opts: CompareOptions = {}): CompareResult {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, errors: [{ path: '', message: 'expected a scenario object' }] };
  const raw = json as Raw;
  if (raw.vms !== undefined) return { ok: false, errors: [{ path: 'vms', message: 'the comparison runs one guest: a scenario with vms cannot be compared' }] };
  const rows: CompareRow[] = [];
  const unavailable: CompareUnavailable[] = [];
  let bare: bigint[] | null = null;
  let name = typeof raw.name === 'string' ? raw.name : '';
  for (const c of opts.configs ?? COMPARE_CONFIGS) {
    const loaded = loadScenario(configure(raw, c));
    if (!loaded.ok) {
      // What the software monitors cannot run (a 64-bit guest, a timer, …) is said on their row; the rest of the comparison goes on.
      if (isSoftware(c)) {
        unavailable.push({ ...c, errors: loaded.errors });
        continue;
      }
      return { ok: false, errors: loaded.errors.map((e) => ({ ...e, message: `${c.id}: ${e.message}` })) };
    }
    const ls = loaded.loaded;
    name = ls.scenario.name;
    const m = buildScenario(ls);
    const end = m.run(Math.min(opts.maxSteps ?? ls.maxSteps, opts.stepCap ?? Infinity));
    const regs = guestRegs(m);
    const same = bare === null || regs.every((v, i) => v === bare![i]);
    const row = measure(c, m, end, m instanceof HvMachine ? m.guestResult().hv : null, same);
    if (m instanceof HvMachine && m.ended?.kind === 'error') row.error = m.ended.why;
    rows.push(row);
    if (c.technique === 'bare') bare = regs;
  }
  return { ok: true, name, rows, unavailable };
}

const num = (n: number): string => n.toLocaleString('en-US');

/** The comparison as a plain-text table for the command line, then the configurations that could not run it and why. */
export function compareTable(res: Extract<CompareResult, { ok: true }>): string {
  const rows = res.rows;
  const head = ['', ...rows.map((r) => r.id)];
  const line = (label: string, f: (r: CompareRow) => string): string[] => [label, ...rows.map(f)];
  const hw = rows.filter((r) => !isSoftware(r));
  const sw = rows.filter((r) => isSoftware(r));
  const namesOf = (rs: CompareRow[]): string[] => [...new Set(rs.flatMap((r) => Object.keys(r.exits.byName)))].sort();
  // VM exits are the hardware's, traps and callouts the software monitors': each family's rows leave the other's cells empty.
  const count = (soft: boolean, f: (r: CompareRow) => number) => (r: CompareRow): string => (isSoftware(r) === soft ? num(f(r)) : '-');
  const body: string[][] = [
    line('end', (r) => r.end + (r.error !== undefined ? ` (${r.error})` : '') + (r.same ? '' : ' (differs from bare)')),
    line(sw.length > 0 ? 'guest instructions (BT: processor\'s)' : 'guest instructions', (r) => num(r.steps)),
    ...(hw.length > 0 ? [line('VM exits', count(false, (r) => r.exits.total)), ...namesOf(hw).map((n) => line(`  ${n}`, count(false, (r) => r.exits.byName[n] ?? 0)))] : []),
    ...(sw.length > 0
      ? [
        line('traps into the monitor', count(true, (r) => r.monitor?.traps ?? 0)),
        line('callouts', count(true, (r) => r.monitor?.callouts ?? 0)),
        ...namesOf(sw).map((n) => line(`  ${n}`, count(true, (r) => r.exits.byName[n] ?? 0))),
      ]
      : []),
    ...(rows.some((r) => r.bt !== undefined)
      ? [
        line('blocks translated', (r) => (r.bt === undefined ? '-' : num(r.bt.blocks))),
        line('translation cache hit rate', (r) => (r.bt === undefined ? '-' : `${(100 * r.bt.hitRate).toFixed(1)}% of ${num(r.bt.hits + r.bt.misses)}`)),
      ]
      : []),
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
  const out = [`${res.name}`, '', fmt(head), ...body.map(fmt)];
  if (res.unavailable.length > 0) {
    out.push('', 'not run:');
    for (const u of res.unavailable) out.push(`  ${u.id}: ${u.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  }
  return out.join('\n');
}
