/**
 * The comparison chart's data (VmCompare.svelte): each configuration's cycles split into what the
 * guest would pay bare (its instructions), what translating its addresses cost (page-walk
 * references, TLB flushes, shadow page-table updates) and what the hypervisor's exits cost (world
 * switches, control-structure accesses, dispatch and handlers; under a software monitor its traps,
 * callouts and handlers), as a multiple of the bare run.
 */
import { MEMORY_COST_KINDS } from '../../emu/cost/kinds.ts';
import type { CompareConfig, CompareConfigId, CompareResult, CompareRow } from '../../emu/hv/compare.ts';
import type { MessageKey } from '../../i18n/messages.ts';

export const COMPARE_PARTS = ['guest', 'memory', 'exits'] as const;
export type ComparePart = (typeof COMPARE_PARTS)[number];


/** A software monitor (trap-and-emulate, binary translation): traps and callouts instead of VM exits (emu/hv/compare.ts isSoftware, without importing the hypervisor). */
export function isSoftwareConfig(c: Pick<CompareConfig, 'technique'>): boolean {
  return c.technique === 'trap-emulate' || c.technique === 'bt';
}

/** Which kinds of entry into the hypervisor some configurations show: VM exits, traps and callouts, or both. */
export type ExitFamily = 'hw' | 'sw' | 'both';

export function exitFamily(configs: readonly Pick<CompareConfig, 'technique'>[]): ExitFamily {
  const sw = configs.filter(isSoftwareConfig).length;
  return sw === 0 ? 'hw' : sw === configs.length ? 'sw' : 'both';
}

/** The catalog key of a configuration's name: the hardware configurations' are the comparison's (parts/vm.ts), the software monitors' the pair part's. */
export function configKey(id: CompareConfigId): MessageKey {
  return id === 'te' || id === 'bt' ? `pair.config.${id}` : `vm.compare.config.${id}`;
}

/** The catalog key of a part's name; the exits part is named for what the configurations shown enter the hypervisor by. */
export function partKey(part: ComparePart, family: ExitFamily): MessageKey {
  if (part !== 'exits' || family === 'hw') return `vm.compare.part.${part}`;
  return family === 'sw' ? 'pair.part.exits.sw' : 'pair.part.exits.both';
}

export interface CompareBar {
  id: CompareConfigId;
  total: number;
  /** total / the bare run's total (1 for the bare run; 0 when there is no bare run). */
  ratio: number;
  parts: { part: ComparePart; cycles: number; /** Of the largest total (0–1), for the bar's width. */ width: number }[];
  same: boolean;
  end: string;
}

/** Cycles (a total and its kinds) split into the guest, address translation and the rest: the exits and the hypervisor's work. */
export function cycleParts<C extends { total: number; byKind: Readonly<Record<string, number>> }>(c: C): Record<ComparePart, number> {
  const guest = c.byKind['guest-insn'] ?? 0;
  const memory = MEMORY_COST_KINDS.reduce((s, m) => s + (c.byKind[m] ?? 0), 0);
  return { guest, memory, exits: c.total - guest - memory };
}

export function partCycles(r: CompareRow): Record<ComparePart, number> {
  return cycleParts(r.cycles);
}

export function compareBars(res: Extract<CompareResult, { ok: true }>): CompareBar[] {
  const max = Math.max(1, ...res.rows.map((r) => r.cycles.total));
  const bare = res.rows.find((r) => r.technique === 'bare');
  return res.rows.map((r) => {
    const c = partCycles(r);
    return {
      id: r.id,
      total: r.cycles.total,
      ratio: bare === undefined || bare.cycles.total === 0 ? 0 : r.cycles.total / bare.cycles.total,
      parts: COMPARE_PARTS.map((part) => ({ part, cycles: c[part], width: c[part] / max })),
      same: r.same,
      end: r.end,
    };
  });
}

/** The names of every VM exit any hardware configuration took, sorted, for the table's rows. */
export function exitNames(res: Extract<CompareResult, { ok: true }>): string[] {
  return [...new Set(res.rows.filter((r) => !isSoftwareConfig(r)).flatMap((r) => Object.keys(r.exits.byName)))].sort();
}

/** What the software monitors' traps and callouts were caused by (`cli`, `out`, `#PF`, `popfd`), sorted, for the table's rows. */
export function monitorNames(res: Extract<CompareResult, { ok: true }>): string[] {
  return [...new Set(res.rows.filter(isSoftwareConfig).flatMap((r) => Object.keys(r.exits.byName)))].sort();
}
