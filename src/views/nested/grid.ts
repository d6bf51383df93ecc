/**
 * The nested-walk grid (issue 7): one 2D walk (worker/twod-types.ts TwoDWalkView) laid out as the
 * processor makes it (SDM Vol. 3C, 29.3.2; APM Vol. 2, 15.25.5). Rows are the guest's levels (the
 * entry of the guest CR3's table, then each next level's) and, last, the data's guest-physical
 * address; columns are the nested levels (nL4…nL1, or nL5…nL1) and then the guest entry's own read.
 * In row r the processor first walks the nested tables for the guest-physical address of the
 * guest entry (the nested columns, left to right), then reads that entry (the last column); the
 * last row walks the nested tables for the data's address, and its last column is the data
 * access itself, which is not a paging-structure reference. With nothing cached and 4-KByte pages
 * in both dimensions that is (n+1)(m+1)−1 references: 24 for 4 on 4, 35 for 5 on 5.
 *
 * Pure: derived only from the references the walk reports. A cell without a reference says why:
 * a large page ended that walk early (the guest's or the nested one), the walk stopped before it
 * (a fault), or the reference was not made although the walk went on (a translation cache).
 */
import type { TwoDLevel, TwoDRefView, TwoDWalkView } from '../../worker/twod-types.ts';

export const GUEST_LEVELS: Readonly<Record<TwoDWalkView['guestMode'], readonly TwoDLevel[]>> = {
  '32bit': ['PDE', 'PTE'],
  // On Intel, PAE's PDPTEs are registers (loaded by MOV to CR3; under EPT from the VMCS): the walk
  // reads two levels from memory. On AMD with NPT the walk reads the PDPTE too (`guestLevels`).
  pae: ['PDE', 'PTE'],
  '4level': ['PML4E', 'PDPTE', 'PDE', 'PTE'],
  '5level': ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'],
};

export const NESTED_LEVELS: Readonly<Record<4 | 5, readonly TwoDLevel[]>> = {
  4: ['PML4E', 'PDPTE', 'PDE', 'PTE'],
  5: ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'],
};

/** A reference with its number (1-based, in the order made) and its cell. */
export interface GridRef {
  n: number;
  ref: TwoDRefView;
  /** 0..guest levels − 1: a guest level's row; guest levels: the data's row. */
  row: number;
  /** 0..nested levels − 1: a nested column; nested levels: the guest entry's column; −1: an extra reference outside the grid. */
  col: number;
}

export type EmptyWhy =
  /** A guest large page: the guest walk ended above this level. */
  | 'guest-large'
  /** A nested large page: that nested walk ended at an earlier column. */
  | 'nested-large'
  /** The walk stopped (a fault) before reaching it. */
  | 'not-reached'
  /** The walk went on past it without reading it (a translation cache answered). */
  | 'skipped';

export type GridCell = { kind: 'ref'; ref: GridRef } | { kind: 'empty'; why: EmptyWhy } | { kind: 'data' };

export interface GridRow {
  kind: 'guest' | 'final';
  /** The guest entry this row reads (null for the data's row). */
  level: TwoDLevel | null;
  /** The guest-physical address the row's nested walk translates, when known (0x + 16 hex digits). */
  gpa: string | null;
  cells: GridCell[];
}

export interface Grid {
  /** The nested columns' levels, then the guest entry's column. */
  nested: readonly TwoDLevel[];
  rows: GridRow[];
  /** Every reference in the order made (the grid's and the extra ones). */
  refs: GridRef[];
  /** References outside the grid: nested translations made again for an accessed/dirty write to a guest entry. */
  extras: GridRef[];
  /** Guest levels (n) and nested levels (m). */
  n: number;
  m: number;
  /** References made: refs.length. */
  made: number;
  /** (n+1)(m+1)−1: what a walk of this shape makes with nothing cached and 4-KByte pages throughout. */
  full: number;
  /** The cell a fault stopped at (its row and column), or null. */
  fault: { row: number; col: number } | null;
}

/**
 * The guest levels a walk reads from memory: a PAE guest's PDPTE is read on each walk under NPT
 * (mmu/nested.ts, npt.ts `paePdptes: 'memory'`), but comes from a register under EPT.
 */
export function guestLevels(mode: TwoDWalkView['guestMode'], vendor: 'intel' | 'amd'): readonly TwoDLevel[] {
  return mode === 'pae' && vendor === 'amd' ? ['PDPTE', 'PDE', 'PTE'] : GUEST_LEVELS[mode];
}

export function gridOf(w: TwoDWalkView, vendor: 'intel' | 'amd' = 'intel'): Grid {
  const guest = guestLevels(w.guestMode, vendor);
  const nested = NESTED_LEVELS[w.nestedLevels];
  const n = guest.length;
  const m = nested.length;
  const refs: GridRef[] = [];
  const extras: GridRef[] = [];
  const rowGpa: (string | null)[] = Array.from({ length: n + 1 }, () => null);
  let pending: GridRef[] = [];
  let lastGuestRow = -1;
  let guestLeafRow = -1;
  const rowOfGuestGpa = new Map<string, number>();
  w.refs.forEach((ref, i) => {
    const g: GridRef = { n: i + 1, ref, row: -1, col: -1 };
    refs.push(g);
    if (ref.dim === 'guest') {
      const row = guest.indexOf(ref.level);
      g.row = row;
      g.col = m;
      for (const p of pending) p.row = row;
      pending = [];
      lastGuestRow = row;
      rowGpa[row] = ref.gpa;
      rowOfGuestGpa.set(ref.gpa, row);
      if (ref.leaf) guestLeafRow = row;
      return;
    }
    if (ref.update) {
      g.row = rowOfGuestGpa.get(ref.gpa) ?? lastGuestRow;
      extras.push(g);
      return;
    }
    g.col = nested.indexOf(ref.level);
    if (ref.stage === 'final') {
      g.row = n;
      rowGpa[n] = ref.gpa;
    } else {
      pending.push(g);
    }
  });
  // Nested references left waiting: a nested fault on the next guest entry's address.
  for (const p of pending) {
    p.row = lastGuestRow + 1;
    rowGpa[p.row] = p.ref.gpa;
  }
  if (w.outcome.kind === 'ok' && rowGpa[n] === null) rowGpa[n] = w.outcome.gpa;
  if (w.outcome.kind === 'nested-fault') {
    const row = w.outcome.stage === 'final' ? n : lastGuestRow + 1;
    if (rowGpa[row] === null) rowGpa[row] = w.outcome.gpa;
  }

  let fault: Grid['fault'] = null;
  const inGrid = refs.filter((r) => r.col >= 0 && r.row >= 0);
  const last = inGrid[inGrid.length - 1];
  if (w.outcome.kind === 'guest-fault') {
    const row = guest.indexOf(w.outcome.level);
    fault = { row, col: m };
  } else if (w.outcome.kind === 'nested-fault') {
    const row = w.outcome.stage === 'final' ? n : lastGuestRow + 1;
    fault = last !== undefined && last.row === row && last.ref.dim === 'nested' ? { row, col: last.col } : { row, col: 0 };
  }
  const after = (row: number, col: number): boolean => fault !== null && (row > fault.row || (row === fault.row && col > fault.col));

  const rows: GridRow[] = [];
  for (let row = 0; row <= n; row++) {
    const cells: GridCell[] = [];
    const here = inGrid.filter((r) => r.row === row);
    const nestedLeafCol = here.find((r) => r.ref.dim === 'nested' && r.ref.leaf)?.col ?? m;
    for (let col = 0; col <= m; col++) {
      const ref = here.find((r) => r.col === col);
      if (ref !== undefined) cells.push({ kind: 'ref', ref });
      else if (row === n && col === m) cells.push(w.outcome.kind === 'ok' ? { kind: 'data' } : { kind: 'empty', why: 'not-reached' });
      else if (row < n && guestLeafRow >= 0 && row > guestLeafRow) cells.push({ kind: 'empty', why: 'guest-large' });
      else if (after(row, col)) cells.push({ kind: 'empty', why: 'not-reached' });
      else if (col < m && col > nestedLeafCol) cells.push({ kind: 'empty', why: 'nested-large' });
      else cells.push({ kind: 'empty', why: 'skipped' });
    }
    rows.push({ kind: row === n ? 'final' : 'guest', level: row === n ? null : guest[row]!, gpa: rowGpa[row] ?? null, cells });
  }
  return { nested, rows, refs, extras, n, m, made: refs.length, full: (n + 1) * (m + 1) - 1, fault };
}

/**
 * The walk the grid shows first: the first that faulted, else a TLB miss, else any; among those a
 * data access before an instruction fetch, then the one with the most references.
 */
export function pickWalk(walks: readonly TwoDWalkView[]): number {
  const score = (w: TwoDWalkView): number => (w.outcome.kind !== 'ok' ? 1e6 : 0) + (w.source === 'walk' ? 1e4 : 0) + (w.access !== 'fetch' ? 1e3 : 0) + w.refs.length;
  let best = 0;
  walks.forEach((w, i) => {
    if (score(w) > score(walks[best]!)) best = i;
  });
  return best;
}

/** A 0x + 16 hex digits value without its leading zeros (0x0000000000011010 → 0x11010), for narrow cells. */
export function shortHex(v: string): string {
  return `0x${BigInt(v).toString(16)}`;
}
