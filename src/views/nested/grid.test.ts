import { describe, expect, it } from 'vitest';
import { PhysMem } from '../../emu/mem/physmem.ts';
import { EPTE, eptCaps, eptNested, encodeEptp } from '../../emu/vmx/ept.ts';
import { nptNested, type NptControl } from '../../emu/svm/npt.ts';
import { PTE } from '../../emu/mmu/bits.ts';
import { TableBuilder } from '../../emu/mmu/nested-testkit.ts';
import { translate2D, type NestedTranslator } from '../../emu/mmu/nested.ts';
import type { AccessKind, PagingControl } from '../../emu/mmu/types.ts';
import { twoDWalkView } from '../../worker/twod.ts';
import { gridOf, pickWalk, type Grid } from './grid.ts';
import { NestedWorld } from '../../emu/exercise/nested-exercise.ts';
import { rng } from '../../emu/exercise/rng.ts';

/** Guest-physical X lives at host-physical X + OFFSET; the guest's tables start at G_ROOT. */
const OFFSET = 0x400000;
const G_ROOT = 0x10000;
const DATA_GPA = 0x50000;
const LIN64 = 0x7f0000401abc;
const LIN32 = 0x40203abc;
const RWX = EPTE.R | EPTE.W | EPTE.X;
const WB = RWX | (6 << EPTE.MT_SHIFT);
const U = PTE.P | PTE.RW | PTE.US;
const READ: AccessKind = { write: false, fetch: false, user: true };
const TWO32 = 2 ** 32;

function ctl(mode: PagingControl['mode']): PagingControl {
  return { mode, cr3Lo: G_ROOT, cr3Hi: 0, wp: true, pse: true, pge: false, pcide: false, nxe: true, pdpte: new Uint32Array(8), maxPhysAddr: 40 };
}

interface World {
  mem: PhysMem;
  /** Guest table pages, root first, then the data page. */
  pages: number[];
  mapNested: (gpa: number, leafLo?: number, shift?: 12 | 21) => number;
  nested: NestedTranslator<unknown>;
}

/** A guest with its own tables (2, 4 or 5 levels) mapping the linear address to DATA_GPA, A and D preset, on EPT with `m` levels. */
function world(levels: 2 | 4 | 5, m: 4 | 5, nestedShift: 12 | 21 = 12): World {
  const mem = new PhysMem(0x800000);
  const nb = new TableBuilder(mem, 0x2000);
  const pages: number[] = [];
  if (levels === 2) {
    // 32-bit paging: 4-byte entries, 1024 a table.
    const pt = G_ROOT + 0x1000;
    mem.write(G_ROOT + OFFSET + (LIN32 >>> 22) * 4, 4, pt | U | PTE.A);
    mem.write(pt + OFFSET + ((LIN32 >>> 12) & 1023) * 4, 4, DATA_GPA | U | PTE.A | PTE.D);
    pages.push(G_ROOT, pt);
  } else {
    const g = new TableBuilder(mem, G_ROOT + 0x1000, (a) => a + OFFSET);
    g.map(G_ROOT, levels, LIN64, DATA_GPA, 12, U | PTE.A, U | PTE.A | PTE.D);
    for (let i = 0; i < levels; i++) pages.push(G_ROOT + i * 0x1000);
  }
  pages.push(DATA_GPA);
  const mapNested = (gpa: number, leafLo = WB, shift: 12 | 21 = nestedShift): number =>
    nb.map(0x1000, m, shift === 21 ? gpa - (gpa % 0x200000) : gpa, (shift === 21 ? gpa - (gpa % 0x200000) : gpa) + OFFSET, shift, RWX, leafLo | (shift === 21 ? 0x80 : 0));
  for (const p of pages) mapNested(p);
  const eptp = encodeEptp({ memType: 6, walkLength: m, accessedDirty: false, root: 0x1000 });
  const nested = eptNested(mem, eptp, { caps: { ...eptCaps(), walk5: true }, maxPhysAddr: 40 }) as NestedTranslator<unknown>;
  return { mem, pages, mapNested, nested };
}

function gridFor(w: World, levels: 2 | 4 | 5, access = READ, translator = w.nested): Grid {
  const mode = levels === 2 ? '32bit' : levels === 4 ? '4level' : '5level';
  const lin = levels === 2 ? LIN32 : LIN64;
  const lo = lin % TWO32;
  const hi = Math.floor(lin / TWO32);
  const r = translate2D(w.mem, ctl(mode), lo, hi, access, translator, true);
  return gridOf(twoDWalkView(mode, lo, hi, access, r, 'walk'));
}

/** The numbers in the grid, row by row ('·' data, '-' empty). */
function numbers(g: Grid): string[] {
  return g.rows.map((r) => r.cells.map((c) => (c.kind === 'ref' ? String(c.ref.n) : c.kind === 'data' ? '·' : '-')).join(' '));
}

describe('the nested-walk grid from real 2D walks', () => {
  it('4-level guest on 4-level EPT: 24 references, numbered row by row, the data access last', () => {
    const g = gridFor(world(4, 4), 4);
    expect([g.n, g.m, g.made, g.full]).toEqual([4, 4, 24, 24]);
    expect(numbers(g)).toEqual(['1 2 3 4 5', '6 7 8 9 10', '11 12 13 14 15', '16 17 18 19 20', '21 22 23 24 ·']);
    expect(g.rows.map((r) => r.level)).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE', null]);
    // Each row's nested walk translates the guest entry's guest-physical address (in the guest table page of that level).
    expect(g.rows.slice(0, 4).map((r) => Math.floor(Number(r.gpa) / 0x1000) * 0x1000)).toEqual([G_ROOT, G_ROOT + 0x1000, G_ROOT + 0x2000, G_ROOT + 0x3000]);
    expect(Number(g.rows[4]!.gpa)).toBe(DATA_GPA + 0xabc);
    expect(g.nested).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
    expect(g.fault).toBeNull();
    expect(g.extras).toEqual([]);
  });

  it('5-level guest on 5-level EPT: 35 references', () => {
    const g = gridFor(world(5, 5), 5);
    expect([g.n, g.m, g.made, g.full]).toEqual([5, 5, 35, 35]);
    expect(numbers(g)[0]).toBe('1 2 3 4 5 6');
    expect(numbers(g)[5]).toBe('31 32 33 34 35 ·');
  });

  it('2-level (32-bit) guest on 4-level EPT: (2+1)(4+1)−1 = 14', () => {
    const g = gridFor(world(2, 4), 2);
    expect([g.n, g.m, g.made, g.full]).toEqual([2, 4, 14, 14]);
    expect(numbers(g)).toEqual(['1 2 3 4 5', '6 7 8 9 10', '11 12 13 14 ·']);
    expect(g.rows.map((r) => r.level)).toEqual(['PDE', 'PTE', null]);
  });

  it('NPT gives the same grid (APM 15.25.5)', () => {
    const w = world(4, 4);
    // Rebuild the nested dimension as NPT entries at the same places.
    const mem = new PhysMem(0x800000);
    const nb = new TableBuilder(mem, 0x2000);
    const gb = new TableBuilder(mem, G_ROOT + 0x1000, (a) => a + OFFSET);
    gb.map(G_ROOT, 4, LIN64, DATA_GPA, 12, U | PTE.A, U | PTE.A | PTE.D);
    for (const p of w.pages) nb.map(0x1000, 4, p, p + OFFSET, 12, U, U);
    const npt: NptControl = { nCr3Lo: 0x1000, nCr3Hi: 0, mode: '4level', nxe: true, maxPhysAddr: 40 };
    const g = gridFor({ ...w, mem }, 4, READ, nptNested(mem, npt, true) as NestedTranslator<unknown>);
    expect(g.made).toBe(24);
    expect(numbers(g)[4]).toBe('21 22 23 24 ·');
  });

  it('2-MByte nested pages: each nested walk stops at its PDE, 19 references, the PTE column marked', () => {
    const g = gridFor(world(4, 4, 21), 4);
    expect([g.made, g.full]).toEqual([19, 24]);
    expect(numbers(g)).toEqual(['1 2 3 - 4', '5 6 7 - 8', '9 10 11 - 12', '13 14 15 - 16', '17 18 19 - ·']);
    expect(g.rows.every((r) => { const c = r.cells[3]!; return c.kind === 'empty' && c.why === 'nested-large'; })).toBe(true);
  });

  it('an EPT violation on the guest PDPT: the walk stops in row 2 at the nested entry that failed', () => {
    const w = world(4, 4);
    w.mapNested(w.pages[1]!, 0);
    const g = gridFor(w, 4);
    expect(g.made).toBe(9);
    expect(g.fault).toEqual({ row: 1, col: 3 });
    expect(numbers(g)).toEqual(['1 2 3 4 5', '6 7 8 9 -', '- - - - -', '- - - - -', '- - - - -']);
    const after = g.rows[1]!.cells[4]!;
    expect(after.kind === 'empty' && after.why).toBe('not-reached');
    expect(Math.floor(Number(g.rows[1]!.gpa) / 0x1000) * 0x1000).toBe(w.pages[1]);
  });

  it("the guest's own #PF at its PTE: the fault cell is the PTE's read, the data row not reached", () => {
    const w = world(4, 4);
    const first = gridFor(w, 4);
    const pte = first.rows[3]!.cells[4]!;
    if (pte.kind !== 'ref') throw new Error('no PTE read');
    w.mem.write(Number(pte.ref.ref.hpa), 4, 0);
    const g = gridFor(w, 4);
    expect(g.fault).toEqual({ row: 3, col: 4 });
    expect(g.made).toBe(20);
    expect(g.rows[4]!.cells.every((c) => c.kind === 'empty' && c.why === 'not-reached')).toBe(true);
  });

  it('EPT without accessed/dirty flags: the guest A/D writes are extra references outside the grid, numbered in order', () => {
    const w = world(4, 4);
    // Clear the guest's A and D flags so that the walk sets them.
    for (const p of w.pages.slice(0, 4)) for (let i = 0; i < 512; i++) {
      const a = p + OFFSET + i * 8;
      const v = w.mem.read(a, 4);
      if (v !== 0) w.mem.write(a, 4, v & ~(PTE.A | PTE.D));
    }
    const g = gridFor(w, 4, { write: true, fetch: false, user: true });
    expect(g.made).toBe(24 + 16);
    expect(g.extras.length).toBe(16);
    expect(g.rows.flatMap((r) => r.cells).filter((c) => c.kind === 'ref').length).toBe(24);
    expect(g.refs.map((r) => r.n)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('pickWalk prefers a fault, then the miss with the most references', () => {
    const w = world(4, 4);
    const ok = twoDWalkView('4level', LIN64 % TWO32, Math.floor(LIN64 / TWO32), READ, translate2D(w.mem, ctl('4level'), LIN64 % TWO32, Math.floor(LIN64 / TWO32), READ, w.nested, false), 'walk');
    const hit = { ...ok, source: 'tlb' as const };
    expect(pickWalk([hit, ok])).toBe(1);
    const bad = { ...ok, refs: ok.refs.slice(0, 3), outcome: { kind: 'nested-fault' as const, stage: 'guest-table' as const, gpa: '0x0' } };
    expect(pickWalk([ok, bad])).toBe(1);
    // All hits: the data access before the fetch, even with fewer references.
    const fetchHit = { ...hit, access: 'fetch' as const };
    expect(pickWalk([fetchHit, { ...hit, refs: hit.refs.slice(1) }])).toBe(1);
  });
});

describe('a PAE guest', () => {
  // Intel loads the PDPTEs into registers (under EPT from the VMCS); AMD's nested walk reads the
  // PDPTE from the guest's PDPT every time (mmu/nested.ts): 2 or 3 guest rows.
  it.each([['ept', 'intel', 14, ['PDE', 'PTE']], ['npt', 'amd', 19, ['PDPTE', 'PDE', 'PTE']]] as const)('on %s: %i references, every one in its cell', (format, vendor, full, levels) => {
    const w = new NestedWorld({ vendor: format, guest: 'pae', nestedLevels: 4, nestedShift: 12 }, rng(1));
    const { la } = w.addressIn(w.addMapping(0));
    const r = w.translate(la, { write: false, fetch: false, user: true });
    const g = gridOf(twoDWalkView('pae', la.lo, la.hi, { write: false, fetch: false, user: true }, r, 'walk'), vendor);
    expect(g.full).toBe(full);
    expect(g.made).toBe(full);
    expect(g.refs.every((x) => x.row >= 0)).toBe(true);
    expect(g.rows.slice(0, -1).map((row) => row.level)).toEqual(levels);
    expect(g.rows.flatMap((row) => row.cells).filter((c) => c.kind === 'ref')).toHaveLength(full);
  });
});
