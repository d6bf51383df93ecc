/**
 * The two-dimensional walk's reference counts and order, proven over random guest and nested
 * tables (exercise/nested-exercise.ts `NestedWorld`), EPT and NPT, with and without the walk caches.
 *
 * The convention (../shared/reference/paper-anchors.json "nested_walk_refs", teaching-facts.md
 * "2D walk references"): an n-level guest on an m-level nested table, 4 KiB pages, no caches, makes
 * (n+1)(m+1) − 1 = n·m + n + m references: for each guest level the m nested references that
 * translate the entry's guest-physical address and the entry itself, then the m references that
 * translate the final guest-physical address. The data access itself is not counted (some texts
 * add it and say 25 for 4 on 4). Large pages at either level remove rows (guest) or columns
 * (nested). A PAE guest on Intel reads no PDPTE (registers); on AMD with NPT it reads its PDPTE
 * from memory on every walk (mmu/nested.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NestedWorld, GPA_TO_HPA, gridCoords, guestLevelsRead, type GuestMode, type NestedShift, type NestedVendor, type NestedWorldSpec } from '../exercise/nested-exercise.ts';
import { rng } from '../exercise/rng.ts';
import { EPTE } from '../vmx/ept.ts';
import { NestedTlb, PageWalkCache } from './walk-cache.ts';
import { Mmu } from './mmu.ts';
import type { TwoDRef, TwoDResult } from './nested.ts';
import type { AccessKind } from './types.ts';

const READ: AccessKind = { write: false, fetch: false, user: true };
const ACCESSES: AccessKind[] = [READ, { write: true, fetch: false, user: true }, { write: false, fetch: true, user: false }];
const NAMES5 = ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'] as const;

function world(spec: NestedWorldSpec, seed: number): NestedWorld {
  return new NestedWorld(spec, rng(seed));
}

/** The nested level names a walk of `depth` levels reads on an m-level table. */
function nestedNames(m: number, depth: number): string[] {
  return NAMES5.slice(5 - m, 5 - m + depth);
}

/** Checks the order: per guest level, `m` nested references for its entry's address, the entry; then `m` for the final address. */
function expectOrder(w: NestedWorld, refs: readonly TwoDRef[], n: number, finalGpa: number): void {
  const m = w.nestedDepth;
  const names = nestedNames(w.spec.nestedLevels, m);
  expect(refs.length).toBe(n * m + n + m);
  let i = 0;
  for (let g = 0; g < n; g++) {
    const entry = refs[i + m]!;
    if (entry.dim !== 'guest') throw new Error(`reference ${i + m} is not a guest entry`);
    expect(entry.hpa).toBe(entry.gpa + GPA_TO_HPA);
    expect(entry.step.entryPa).toBe(entry.gpa);
    for (let k = 0; k < m; k++) {
      const r = refs[i + k]!;
      expect(r).toMatchObject({ dim: 'nested', stage: 'guest-table', gpa: entry.gpa, update: false });
      expect(r.step.level).toBe(names[k]);
    }
    i += m + 1;
  }
  for (let k = 0; k < m; k++) {
    expect(refs[i + k]).toMatchObject({ dim: 'nested', stage: 'final', gpa: finalGpa });
    expect(refs[i + k]!.step.level).toBe(names[k]);
  }
}

function ok(r: TwoDResult<unknown>): Extract<TwoDResult<unknown>, { kind: 'ok' }> {
  if (r.kind !== 'ok') throw new Error(`expected a translation, got ${r.kind}`);
  return r;
}

const specArb = fc
  .record({
    vendor: fc.constantFrom<NestedVendor>('ept', 'npt'),
    guest: fc.constantFrom<GuestMode>('32bit', 'pae', '4level', '5level'),
    nestedLevels: fc.constantFrom<4 | 5>(4, 5),
    nestedShift: fc.constantFrom<NestedShift>(12, 21, 30),
    eptAd: fc.boolean(),
  })
  .map((s): NestedWorldSpec => s);

describe('the 2D walk: counts and order over random tables', () => {
  it('a successful walk makes n·m + n + m references, in order, to the right host address', () => {
    fc.assert(
      fc.property(specArb, fc.nat(), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(2), (spec, seed, count, large, a) => {
        const w = world(spec, seed);
        const maps = Array.from({ length: count }, () => w.addMapping(large));
        for (const m of maps) {
          const { la, gpa } = w.addressIn(m);
          const r = ok(w.translate(la, ACCESSES[a]!));
          expect(r.gpa).toBe(gpa);
          expect(r.hpa).toBe(gpa + GPA_TO_HPA);
          expect(r.pageSize).toBe(2 ** m.shift);
          expectOrder(w, r.refs, w.guestDepth(m), gpa);
          expect(r.saved).toBeUndefined();
        }
      }),
      { numRuns: 150 },
    );
  });

  const named: [string, NestedWorldSpec, number][] = [
    ['4-level guest on 4-level EPT', { vendor: 'ept', guest: '4level', nestedLevels: 4, nestedShift: 12 }, 24],
    ['4-level guest on 4-level NPT', { vendor: 'npt', guest: '4level', nestedLevels: 4, nestedShift: 12 }, 24],
    ['5-level guest on 5-level EPT', { vendor: 'ept', guest: '5level', nestedLevels: 5, nestedShift: 12 }, 35],
    ['5-level guest on 5-level NPT', { vendor: 'npt', guest: '5level', nestedLevels: 5, nestedShift: 12 }, 35],
    ['4-level guest on 5-level EPT', { vendor: 'ept', guest: '4level', nestedLevels: 5, nestedShift: 12 }, 29],
    ['5-level guest on 4-level NPT', { vendor: 'npt', guest: '5level', nestedLevels: 4, nestedShift: 12 }, 29],
    ['32-bit 2-level guest on 4-level EPT', { vendor: 'ept', guest: '32bit', nestedLevels: 4, nestedShift: 12 }, 14],
    ['32-bit 2-level guest on 4-level NPT', { vendor: 'npt', guest: '32bit', nestedLevels: 4, nestedShift: 12 }, 14],
    ['PAE guest on 4-level EPT (PDPTEs in registers: 2 guest levels)', { vendor: 'ept', guest: 'pae', nestedLevels: 4, nestedShift: 12 }, 14],
    ['PAE guest on 4-level NPT (PDPTE read each walk: 3 guest levels)', { vendor: 'npt', guest: 'pae', nestedLevels: 4, nestedShift: 12 }, 19],
    ['PAE guest on 5-level EPT', { vendor: 'ept', guest: 'pae', nestedLevels: 5, nestedShift: 12 }, 17],
    ['PAE guest on 5-level NPT', { vendor: 'npt', guest: 'pae', nestedLevels: 5, nestedShift: 12 }, 23],
    ['4-level guest on 4-level EPT with 2 MiB nested pages (a column less)', { vendor: 'ept', guest: '4level', nestedLevels: 4, nestedShift: 21 }, 19],
    ['4-level guest on 4-level NPT with 1 GiB nested pages (two columns less)', { vendor: 'npt', guest: '4level', nestedLevels: 4, nestedShift: 30 }, 14],
  ];
  for (const [name, spec, want] of named) {
    it(`${name}: ${want}`, () => {
      const w = world(spec, 7);
      const m = w.addMapping(0);
      const { la, gpa } = w.addressIn(m);
      const r = ok(w.translate(la, READ));
      expect(r.refs.length).toBe(want);
      expect(r.hpa).toBe(gpa + GPA_TO_HPA);
    });
  }

  it('large guest pages remove rows: 2 MiB on a 4-level guest 19, 1 GiB 14, 4 MiB on a 32-bit guest 9 (4-level EPT)', () => {
    for (const [guest, shift, want] of [['4level', 21, 19], ['4level', 30, 14], ['32bit', 22, 9], ['pae', 21, 9]] as const) {
      let found = false;
      for (let seed = 0; seed < 40 && !found; seed++) {
        const w = world({ vendor: 'ept', guest, nestedLevels: 4, nestedShift: 12 }, seed);
        const m = w.addMapping(1);
        if (m.shift !== shift) continue;
        found = true;
        const { la, gpa } = w.addressIn(m);
        const r = ok(w.translate(la, READ));
        expect(r.refs.length).toBe(want);
        expect(r.hpa).toBe(gpa + GPA_TO_HPA);
      }
      expect(found).toBe(true);
    }
  });

  it('a not-present guest entry at depth k ends the walk after (k+1)(m+1) references, with no final translation', () => {
    fc.assert(
      fc.property(specArb, fc.nat(), fc.nat(4), fc.nat(2), (spec, seed, kk, a) => {
        const w = world(spec, seed);
        const m = w.addMapping(0.3);
        const k = kk % m.entries.length;
        const { la } = w.addressIn(m);
        w.clearGuestEntry(m.entries[k]!);
        const r = w.translate(la, ACCESSES[a]!);
        if (r.kind !== 'guest-fault') throw new Error(r.kind);
        // Intel PAE: the PDPTE is a register; clearing it faults before any reference.
        const regs = spec.guest === 'pae' && spec.vendor === 'ept' ? 1 : 0;
        const readLevels = k + 1 - regs;
        expect(r.refs.length).toBe(readLevels * (w.nestedDepth + 1));
        expect(r.fault.level).toBe(w.g.names[k]);
        expect(r.fault.errorCode & 1).toBe(0);
        expect(r.refs.every((x) => x.dim === 'guest' || x.stage === 'guest-table')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("a nested fault on a guest table at depth k ends after k(m+1) + m references; on the final address after n(m+1) + m", () => {
    fc.assert(
      fc.property(specArb, fc.nat(), fc.nat(5), (spec, seed, kk) => {
        // 4 KiB nested pages, so the cleared nested entry maps one guest page only.
        const w = world({ ...spec, nestedShift: 12 }, seed);
        const m = w.addMapping(0);
        const { la, gpa } = w.addressIn(m);
        const regs = spec.guest === 'pae' && spec.vendor === 'ept' ? 1 : 0;
        const read = m.entries.slice(regs);
        const k = kk % (read.length + 1);
        const target = k < read.length ? read[k]! : gpa;
        expect(w.clearNestedEntry(target, w.nestedDepth - 1)).toBe(true);
        const r = w.translate(la, READ);
        if (r.kind !== 'nested-fault') throw new Error(r.kind);
        const mm = w.nestedDepth;
        expect(r.refs.length).toBe(k * (mm + 1) + mm);
        expect(r.stage).toBe(k < read.length ? 'guest-table' : 'final');
        expect(r.gpa).toBe(target);
      }),
      { numRuns: 100 },
    );
  });

  it('grid coordinates: every nested reference is on the row of the guest entry it reaches, or the data row', () => {
    const w = world({ vendor: 'npt', guest: '4level', nestedLevels: 4, nestedShift: 12 }, 3);
    const r = ok(w.translate(w.addressIn(w.addMapping(0)).la, READ));
    const c = gridCoords(r.refs, guestLevelsRead('4level', 'npt'));
    expect(c.slice(0, 5).map((x) => `${x.row}/${x.col}`)).toEqual(['PML4E/PML4E', 'PML4E/PDPTE', 'PML4E/PDE', 'PML4E/PTE', 'PML4E/guest']);
    expect(c[23]).toEqual({ row: 'data', col: 'PTE' });
  });
});

describe('EPT accessed and dirty flags in the 2D walk (SDM 29.3.5)', () => {
  it('with EPTP bit 6, every EPT entry used gets A; leaves mapping guest tables get D (guest-table accesses are writes); the data leaf D only for a write', () => {
    fc.assert(
      fc.property(fc.constantFrom<GuestMode>('32bit', 'pae', '4level', '5level'), fc.nat(), fc.boolean(), (guest, seed, write) => {
        const w = world({ vendor: 'ept', guest, nestedLevels: guest === '5level' ? 5 : 4, nestedShift: 12, eptAd: true }, seed);
        const m = w.addMapping(0);
        const { la, gpa } = w.addressIn(m);
        const r = ok(w.translate(la, { write, fetch: false, user: true }, { sideEffects: true }));
        for (const x of r.refs) {
          if (x.dim !== 'nested') continue;
          const now = w.mem.read(x.step.entryPa, 4);
          expect(now & EPTE.A).toBe(EPTE.A);
          if (x.step.leaf) expect(now & EPTE.D).toBe(x.stage === 'guest-table' || write ? EPTE.D : 0);
        }
        expect(r.hpa).toBe(gpa + GPA_TO_HPA);
      }),
      { numRuns: 60 },
    );
  });

  it('without EPTP bit 6 nothing in the EPT tables is written', () => {
    const w = world({ vendor: 'ept', guest: '4level', nestedLevels: 4, nestedShift: 12, eptAd: false }, 11);
    const { la } = w.addressIn(w.addMapping(0));
    const r = ok(w.translate(la, { write: true, fetch: false, user: true }, { sideEffects: true }));
    for (const x of r.refs) if (x.dim === 'nested') expect(w.mem.read(x.step.entryPa, 4) & (EPTE.A | EPTE.D)).toBe(0);
  });
});

describe('the walk caches (walk-cache.ts)', () => {
  /** `sub` is `all` with some elements left out, in order. */
  function isSubsequence(sub: readonly TwoDRef[], all: readonly TwoDRef[]): boolean {
    const key = (r: TwoDRef): string => `${r.dim}:${r.dim === 'nested' ? r.stage : ''}:${r.gpa}:${r.step.level}:${r.step.entryPa}`;
    let j = 0;
    for (const r of sub) {
      while (j < all.length && key(all[j]!) !== key(r)) j++;
      if (j === all.length) return false;
      j++;
    }
    return true;
  }

  it('with either cache or both, every result equals the uncached one and the count drops by exactly what they report saved', () => {
    fc.assert(
      fc.property(specArb, fc.nat(), fc.integer({ min: 1, max: 5 }), fc.array(fc.nat(), { minLength: 2, maxLength: 12 }), fc.boolean(), fc.boolean(), (spec, seed, count, picks, usePwc, useNtlb) => {
        const w = world(spec, seed);
        const maps = Array.from({ length: count }, () => w.addMapping(0.3));
        const addrs = maps.map((m) => w.addressIn(m));
        const pwc = usePwc || !useNtlb ? new PageWalkCache() : null;
        const ntlb = useNtlb ? new NestedTlb() : null;
        // A first pass with side effects sets every A/D flag, so later walks write nothing.
        for (const p of picks) w.translate(addrs[p % addrs.length]!.la, ACCESSES[p % 3]!, { sideEffects: true });
        let savedTotal = 0;
        for (const p of picks) {
          const { la } = addrs[p % addrs.length]!;
          const access = ACCESSES[p % 3]!;
          const plain = w.translate(la, access, { sideEffects: true });
          const cached = w.translate(la, access, { sideEffects: true, pwc, ntlb });
          expect(cached.kind).toBe(plain.kind);
          if (plain.kind === 'ok' && cached.kind === 'ok') {
            expect(cached.hpa).toBe(plain.hpa);
            expect(cached.gpa).toBe(plain.gpa);
            expect(cached.leaf).toEqual(plain.leaf);
          }
          const s = cached.saved!;
          expect(s.pwc + s.ntlb).toBe(s.skips.reduce((t, x) => t + x.refs, 0));
          expect(cached.refs.length + s.pwc + s.ntlb).toBe(plain.refs.length);
          expect(isSubsequence(cached.refs, plain.refs)).toBe(true);
          if (pwc === null) expect(s.pwc).toBe(0);
          if (ntlb === null) expect(s.ntlb).toBe(0);
          savedTotal += s.pwc + s.ntlb;
        }
        // With the nested TLB, the second translation of any address finds its final address cached.
        if (ntlb !== null && picks.length > addrs.length) expect(savedTotal).toBeGreaterThan(0);
      }),
      { numRuns: 150 },
    );
  });

  it('a repeated 4-on-4 translation: 24 references uncached, 9 with the page-walk cache, 4 with the nested TLB, 1 with both', () => {
    const counts = (pwc: boolean, ntlb: boolean): number[] => {
      const w = world({ vendor: 'ept', guest: '4level', nestedLevels: 4, nestedShift: 12 }, 5);
      const { la } = w.addressIn(w.addMapping(0));
      const caches = { pwc: pwc ? new PageWalkCache() : null, ntlb: ntlb ? new NestedTlb() : null };
      return [0, 1].map(() => w.translate(la, READ, caches).refs.length);
    };
    expect(counts(false, false)).toEqual([24, 24]);
    expect(counts(true, false)).toEqual([24, 9]);
    expect(counts(false, true)).toEqual([24, 4]);
    expect(counts(true, true)).toEqual([24, 1]);
  });

  it('hit and miss counters; flush empties both caches', () => {
    const w = world({ vendor: 'npt', guest: '4level', nestedLevels: 4, nestedShift: 12 }, 9);
    const { la } = w.addressIn(w.addMapping(0));
    const pwc = new PageWalkCache();
    const ntlb = new NestedTlb();
    w.translate(la, READ, { pwc, ntlb });
    expect([pwc.hits, pwc.misses, ntlb.hits, ntlb.misses]).toEqual([0, 4, 0, 5]);
    expect([pwc.size, ntlb.size]).toEqual([3, 5]);
    w.translate(la, READ, { pwc, ntlb });
    expect([pwc.hits, pwc.misses, ntlb.hits, ntlb.misses]).toEqual([3, 5, 2, 5]);
    pwc.flush();
    ntlb.flush();
    expect([pwc.size, ntlb.size, pwc.flushes, ntlb.flushes]).toEqual([0, 0, 1, 1]);
    expect(w.translate(la, READ, { pwc, ntlb }).refs.length).toBe(24);
  });

  it('the nested TLB does not let a read-filled entry serve a write or a fetch', () => {
    const t = new NestedTlb();
    t.fill(0x5000, 0x45000, 1, 4);
    expect(t.lookup(0x5123, false, false, false)).toEqual({ hpa: 0x45123, refs: 4 });
    expect(t.lookup(0x5123, true, false, false)).toBeUndefined();
    expect(t.lookup(0x5123, false, true, false)).toBeUndefined();
    expect(t.lookup(0x5123, false, false, true)).toBeUndefined();
  });

  it('PAE guests: with both caches the AMD walk caches its PDPTE like any upper entry', () => {
    for (const vendor of ['ept', 'npt'] as const) {
      const w = world({ vendor, guest: 'pae', nestedLevels: 4, nestedShift: 12 }, 4);
      const { la } = w.addressIn(w.addMapping(0));
      const caches = { pwc: new PageWalkCache(), ntlb: new NestedTlb() };
      const first = w.translate(la, READ, caches).refs.length;
      const second = w.translate(la, READ, caches).refs.length;
      expect([vendor, first, second]).toEqual([vendor, vendor === 'ept' ? 14 : 19, 1]);
    }
  });
});

describe('the walk caches on the Mmu (Mmu.walkCaches)', () => {
  it('translateNested uses them; a TLB flush takes the page-walk cache, a flush of everything the nested TLB too, INVLPG the page-walk cache', () => {
    const w = world({ vendor: 'npt', guest: '4level', nestedLevels: 4, nestedShift: 12 }, 17);
    const { la, gpa } = w.addressIn(w.addMapping(0));
    const mmu = new Mmu(w.mem);
    const pwc = new PageWalkCache();
    const ntlb = new NestedTlb();
    mmu.walkCaches = { pwc, ntlb };
    const t = w.translator({ sideEffects: true });
    expect(mmu.translateNested(w.ctl, la.lo, la.hi, false, false, true, t)).toBe(gpa + GPA_TO_HPA);
    mmu.tlb.flushAll(true);
    expect(mmu.translateNested(w.ctl, la.lo, la.hi, false, false, true, t)).toBe(gpa + GPA_TO_HPA);
    expect([pwc.hits, ntlb.hits]).toEqual([3, 2]);
    mmu.flushAll(false);
    expect([pwc.size, ntlb.size > 0]).toEqual([0, true]);
    mmu.translateNested(w.ctl, la.lo, la.hi, false, false, true, t);
    mmu.invlpg(w.ctl, la.lo, la.hi);
    expect(pwc.size).toBe(0);
    mmu.flushAll(true);
    expect(ntlb.size).toBe(0);
  });
});

describe('a PAE guest on NPT reads its PDPTE like any entry', () => {
  it('a reserved bit in the PDPTE (bit 5, A) is the guest\u2019s #PF with RSVD at the PDPTE, after m + 1 references; on EPT the register is used and memory is not read', () => {
    for (const vendor of ['npt', 'ept'] as const) {
      const w = world({ vendor, guest: 'pae', nestedLevels: 4, nestedShift: 12 }, 8);
      const m = w.addMapping(0);
      const { la, gpa } = w.addressIn(m);
      const h = m.entries[0]! + GPA_TO_HPA;
      // In memory only: the Intel registers keep the value loaded with CR3.
      w.mem.write(h, 4, w.mem.read(h, 4) | 0x20);
      const r = w.translate(la, { write: true, fetch: false, user: true });
      if (vendor === 'ept') {
        expect(ok(r).hpa).toBe(gpa + GPA_TO_HPA);
        continue;
      }
      if (r.kind !== 'guest-fault') throw new Error(r.kind);
      expect(r.fault).toEqual({ errorCode: 0b1111, level: 'PDPTE' });
      expect(r.refs.length).toBe(5);
      const last = r.refs[4]!;
      expect(last.dim === 'guest' && last.step).toMatchObject({ level: 'PDPTE', entryPa: m.entries[0], leaf: false });
    }
  });
});
