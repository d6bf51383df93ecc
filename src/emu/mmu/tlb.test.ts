import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../mem/physmem.ts';
import type { PagingControl } from './types.ts';
import { Mmu } from './mmu.ts';
import { Tlb, INVPCID_TYPE } from './tlb.ts';
import { walk } from './walk.ts';
import { CR0_BITS, CR4_BITS, PTE } from './bits.ts';

const P = PTE.P,
  RW = PTE.RW,
  US = PTE.US,
  PS = PTE.PS,
  G = PTE.G,
  A = PTE.A,
  D = PTE.D;

function w64(mem: PhysMem, pa: number, lo: number, hi = 0): void {
  mem.write(pa, 4, lo >>> 0);
  mem.write(pa + 4, 4, hi >>> 0);
}

function ctl4(cr3: number, over: Partial<PagingControl> = {}): PagingControl {
  return { mode: '4level', cr3Lo: cr3, cr3Hi: 0, wp: true, pse: false, pge: true, pcide: false, nxe: true, pdpte: new Uint32Array(8), maxPhysAddr: 40, ...over };
}

/**
 * Two address spaces: PML4 at 0x1000 (A) and 0x2000 (B). Linear 0..2 MiB uses PML4[0] → PDPT →
 * PD → PT (4 KiB pages: page i → frame 0x100000 + i*0x1000 for A, 0x200000 + ... for B);
 * PD[1] is a 2 MiB page at 0x400000 (A) / 0x600000 (B).
 */
function twoSpaces(pteFlags = P | RW | US): PhysMem {
  const mem = new PhysMem(16 << 20);
  for (const [pml4, base, frames, big] of [
    [0x1000, 0x10000, 0x100000, 0x400000],
    [0x2000, 0x20000, 0x200000, 0x600000],
  ] as const) {
    w64(mem, pml4, base | P | RW | US);
    w64(mem, base, (base + 0x1000) | P | RW | US);
    w64(mem, base + 0x1000, (base + 0x2000) | P | RW | US);
    w64(mem, base + 0x1000 + 8, big | P | RW | US | PS);
    for (let i = 0; i < 16; i++) w64(mem, base + 0x2000 + i * 8, (frames + i * 0x1000) | pteFlags);
  }
  return mem;
}

const R = [false, false, false] as const; // write, fetch, user
const W = [true, false, false] as const;

describe('Mmu.translate', () => {
  it("mode 'none' returns the linear address and never touches the TLB", () => {
    const mmu = new Mmu(new PhysMem(4096));
    const c = ctl4(0, { mode: 'none' });
    expect(mmu.translate(c, 0x12345678, 0, true, false, true)).toBe(0x12345678);
    expect(mmu.tlb.hits + mmu.tlb.misses).toBe(0);
  });

  it('a miss walks (setting A, and D for writes) and fills; the next access hits without reading memory', () => {
    const mem = twoSpaces();
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000);
    expect(mmu.translate(c, 0x3abc, 0, ...R)).toBe(0x103abc);
    expect(mmu.tlb.misses).toBe(1);
    expect(mem.read(0x12000 + 3 * 8, 4) & (A | D)).toBe(A);
    // Change the PTE behind the TLB's back: the cached translation is still used (no invalidation).
    w64(mem, 0x12000 + 3 * 8, 0x777000 | P | RW | US);
    expect(mmu.translate(c, 0x3abc, 0, ...R)).toBe(0x103abc);
    expect(mmu.tlb.hits).toBe(1);
    mmu.invlpg(c, 0x3000, 0);
    expect(mmu.translate(c, 0x3abc, 0, ...R)).toBe(0x777abc);
  });

  it('a write hit on an entry whose D is clear walks again and sets D (SDM 4.8)', () => {
    const mem = twoSpaces();
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000);
    mmu.translate(c, 0x5000, 0, ...R);
    expect(mem.read(0x12000 + 5 * 8, 4) & D).toBe(0);
    const walks = mmu.walks;
    expect(mmu.translate(c, 0x5004, 0, ...W)).toBe(0x105004);
    expect(mmu.walks).toBe(walks + 1);
    expect(mem.read(0x12000 + 5 * 8, 4) & D).toBe(D);
    mmu.translate(c, 0x5008, 0, ...W);
    expect(mmu.walks).toBe(walks + 1);
  });

  it('a hit whose cached rights forbid the access faults from the TLB (spurious #PF, 4.10.4.3) and the fault drops the entry', () => {
    const mem = twoSpaces(P | US); // read-only
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000);
    mmu.translate(c, 0x6000, 0, ...R);
    w64(mem, 0x12000 + 6 * 8, 0x106000 | P | RW | US); // made writable, no INVLPG
    expect(mmu.translate(c, 0x6000, 0, true, false, true)).toBe(-1);
    expect(mmu.lastFault).toEqual({ errorCode: 0b111, level: 'PTE' });
    expect(mmu.translate(c, 0x6000, 0, true, false, true)).toBe(0x106000);
  });

  it('a TLB hit writes no accessed flag; a faulting miss sets A on the upper levels only and fills nothing (SDM 4.8)', () => {
    const mem = twoSpaces();
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000);
    expect(mmu.translate(c, 0x4000, 0, ...R)).toBe(0x104000);
    // Clear A everywhere behind the TLB's back: hits must not set it again.
    for (const pa of [0x1000, 0x10000, 0x11000, 0x12000 + 4 * 8]) mem.write(pa, 4, mem.read(pa, 4) & ~A);
    expect(mmu.translate(c, 0x4010, 0, ...R)).toBe(0x104010);
    expect(mmu.tlb.hits).toBe(1);
    for (const pa of [0x1000, 0x10000, 0x11000, 0x12000 + 4 * 8]) expect(mem.read(pa, 4) & A).toBe(0);
    // A miss on a not-present PTE: the PML4E, PDPTE and PDE get A, the PTE nothing, no fill.
    w64(mem, 0x12000 + 8 * 8, 0x108000 | RW | US);
    const count = mmu.tlb.count();
    expect(mmu.translate(c, 0x8000, 0, ...W)).toBe(-1);
    expect(mmu.tlb.count()).toBe(count);
    for (const pa of [0x1000, 0x10000, 0x11000]) expect(mem.read(pa, 4) & A).toBe(A);
    expect(mem.read(0x12000 + 8 * 8, 4) & (A | D)).toBe(0);
    // A miss the rights deny (user write, read-only PTE): the leaf gets neither A nor D, no fill.
    w64(mem, 0x12000 + 9 * 8, 0x109000 | P | US);
    expect(mmu.translate(c, 0x9000, 0, true, false, true)).toBe(-1);
    expect(mmu.tlb.count()).toBe(count);
    expect(mem.read(0x12000 + 9 * 8, 4) & (A | D)).toBe(0);
  });

  it('a page fault on a walk reports the error code and the level', () => {
    const mem = twoSpaces();
    w64(mem, 0x12000 + 7 * 8, 0);
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000);
    expect(mmu.translate(c, 0x7000, 0, false, true, true)).toBe(-1);
    expect(mmu.lastFault).toEqual({ errorCode: 0b10100, level: 'PTE' });
  });

  it('a 2 MiB page is cached in 4 KiB pieces and INVLPG of any address in it removes every piece', () => {
    const mem = twoSpaces();
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000);
    expect(mmu.translate(c, 0x200000, 0, ...R)).toBe(0x400000);
    expect(mmu.translate(c, 0x3ff123, 0, ...R)).toBe(0x5ff123);
    expect(mmu.tlb.count()).toBe(2);
    mmu.invlpg(c, 0x2ab000, 0);
    expect(mmu.tlb.count()).toBe(0);
  });

  it('probe walks without side effects and without touching the TLB', () => {
    const mem = twoSpaces();
    const mmu = new Mmu(mem);
    const r = mmu.probe(ctl4(0x1000), 0x9000, 0, { write: true, fetch: false, user: false });
    expect(r.ok && r.pa).toBe(0x109000);
    expect(r.steps.map((s) => s.level)).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
    expect(mem.read(0x12000 + 9 * 8, 4) & (A | D)).toBe(0);
    expect(mmu.tlb.count()).toBe(0);
  });

  it('loadPdptes reads four PDPTEs from CR3[31:5] and refuses reserved bits in a present one', () => {
    const mem = new PhysMem(1 << 20);
    const mmu = new Mmu(mem);
    const base = 0x3020;
    for (let i = 0; i < 4; i++) w64(mem, base + i * 8, (0x10000 * (i + 1)) | P, i);
    const c: PagingControl = { ...ctl4(base | 0x18), mode: 'pae', maxPhysAddr: 36 };
    const out = new Uint32Array(8);
    expect(mmu.loadPdptes(c, out)).toBe(true);
    expect(Array.from(out)).toEqual([0x10001, 0, 0x20001, 1, 0x30001, 2, 0x40001, 3]);
    for (const [lo, hi] of [
      [0x10001 | 2, 0], // bit 1 (R/W) reserved in a PDPTE register
      [0x10001 | 0x20, 0], // bit 5
      [0x10001 | 0x100, 0], // bit 8
      [0x10001, 0x10], // bit 36 with MAXPHYADDR 36
    ] as const) {
      w64(mem, base + 8, lo, hi);
      const o2 = new Uint32Array(8).fill(7);
      expect(mmu.loadPdptes(c, o2)).toBe(false);
      expect(o2[0]).toBe(7);
    }
    w64(mem, base + 8, 0x1e6, 0xffff); // not present: reserved bits not checked
    expect(mmu.loadPdptes(c, out)).toBe(true);
  });
});

describe('TLB flush rules (SDM Vol. 3A, 4.10.4.1)', () => {
  function filled(pge: boolean, pcide: boolean): { mmu: Mmu; mem: PhysMem } {
    const mem = twoSpaces();
    // PT entry 1 of each space is global.
    w64(mem, 0x12000 + 8, 0x101000 | P | RW | US | G);
    w64(mem, 0x22000 + 8, 0x101000 | P | RW | US | G);
    const mmu = new Mmu(mem);
    const c = ctl4(0x1000 | (pcide ? 1 : 0), { pge, pcide });
    mmu.translate(c, 0x0000, 0, ...R);
    mmu.translate(c, 0x1000, 0, ...R);
    return { mmu, mem };
  }
  const globals = (mmu: Mmu): number => mmu.tlb.entries().filter((e) => e.global).length;

  it('G is honoured only with CR4.PGE = 1', () => {
    expect(globals(filled(true, false).mmu)).toBe(1);
    expect(globals(filled(false, false).mmu)).toBe(0);
  });

  it('MOV to CR3 with CR4.PCIDE = 0 removes all non-global entries and keeps global ones', () => {
    const { mmu } = filled(true, false);
    mmu.onCr3Write(ctl4(0x2000), false);
    expect(mmu.tlb.entries().map((e) => e.pageLo)).toEqual([1]);
    // The global page translates through the kept entry in the new address space.
    const c = ctl4(0x2000);
    const misses = mmu.tlb.misses;
    expect(mmu.translate(c, 0x1000, 0, ...R)).toBe(0x101000);
    expect(mmu.tlb.misses).toBe(misses);
    expect(mmu.translate(c, 0x0000, 0, ...R)).toBe(0x200000);
  });

  it('with CR4.PCIDE = 1 entries are tagged with CR3[11:0]; MOV to CR3 flushes only the new PCID, and not at all with bit 63 set', () => {
    const { mmu } = filled(true, true);
    const cB = ctl4(0x2000 | 2, { pcide: true });
    mmu.onCr3Write(cB, false);
    expect(mmu.tlb.count()).toBe(2); // PCID 1's entries survive a switch to PCID 2
    expect(mmu.translate(cB, 0x0000, 0, ...R)).toBe(0x200000);
    expect(mmu.tlb.count()).toBe(3);
    const cA = ctl4(0x1000 | 1, { pcide: true });
    mmu.onCr3Write(cA, true); // no-flush hint: PCID 1's entries stay
    expect(mmu.translate(cA, 0x0000, 0, ...R)).toBe(0x100000);
    expect(mmu.tlb.entries().filter((e) => e.pcid === 1 && !e.global).length).toBe(1);
    mmu.onCr3Write(cA, false); // flushes PCID 1's non-global entries only
    const left = mmu.tlb.entries();
    expect(left.filter((e) => e.pcid === 1 && !e.global).length).toBe(0);
    expect(left.filter((e) => e.pcid === 2).length).toBe(1);
    expect(left.filter((e) => e.global).length).toBe(1);
  });

  it('INVLPG removes the page for the current PCID and global entries of any PCID, not other PCIDs', () => {
    const { mmu } = filled(true, true);
    const cB = ctl4(0x2000 | 2, { pcide: true });
    mmu.onCr3Write(cB, false);
    mmu.translate(cB, 0x0000, 0, ...R);
    mmu.invlpg(cB, 0x0000, 0);
    expect(mmu.tlb.entries().map((e) => [e.pageLo, e.pcid])).toEqual(expect.arrayContaining([[0, 1]]));
    expect(mmu.tlb.entries().some((e) => e.pcid === 2 && e.pageLo === 0)).toBe(false);
    mmu.invlpg(cB, 0x1000, 0); // the global entry was filled under PCID 1
    expect(globals(mmu)).toBe(0);
  });

  it('MOV to CR4: PGE change and PCIDE 1→0 flush everything incl. globals; PAE change and SMEP 0→1 flush; other bits do not', () => {
    const base = CR4_BITS.PAE | CR4_BITS.PGE | CR4_BITS.PCIDE;
    const cases: [number, number, boolean][] = [
      [base, base & ~CR4_BITS.PGE, true],
      [base & ~CR4_BITS.PGE, base, true],
      [base, base & ~CR4_BITS.PCIDE, true],
      [base & ~CR4_BITS.PCIDE, base, false],
      [base, base & ~CR4_BITS.PAE, true],
      [base, base | CR4_BITS.SMEP, true],
      [base | CR4_BITS.SMEP, base, false],
      [base, base | (1 << 9) | (1 << 10), false], // OSFXSR, OSXMMEXCPT
    ];
    for (const [from, to, flush] of cases) {
      const { mmu } = filled(true, false);
      mmu.onCr4Write(from, to);
      expect([from.toString(16), to.toString(16), mmu.tlb.count()]).toEqual([from.toString(16), to.toString(16), flush ? 0 : 2]);
    }
  });

  it('MOV to CR0: clearing PG flushes everything; changing WP does not flush, yet a hit obeys the new WP', () => {
    const { mmu: m1 } = filled(true, false);
    m1.onCr0Write(CR0_BITS.PG | 1, 1);
    expect(m1.tlb.count()).toBe(0);
    const mem = twoSpaces(P | US);
    const mmu = new Mmu(mem);
    mmu.translate(ctl4(0x1000, { wp: false }), 0x2000, 0, ...R);
    mmu.onCr0Write(CR0_BITS.PG | 1, CR0_BITS.PG | CR0_BITS.WP | 1);
    expect(mmu.tlb.count()).toBe(1);
    expect(mmu.translate(ctl4(0x1000, { wp: true }), 0x2000, 0, ...W)).toBe(-1);
    expect(mmu.lastFault?.errorCode).toBe(0b011);
  });

  it('INVPCID types 0..3', () => {
    const setup = (): Mmu => {
      const { mmu } = filled(true, true);
      const cB = ctl4(0x2000 | 2, { pcide: true });
      mmu.translate(cB, 0x0000, 0, ...R);
      mmu.translate(cB, 0x2000, 0, ...R);
      return mmu; // PCID 1: page 0, global page 1; PCID 2: pages 0 and 2
    };
    const view = (m: Mmu): string[] => m.tlb.entries().map((e) => `${e.pcid}:${e.pageLo}${e.global ? 'g' : ''}`).sort();
    let m = setup();
    m.invpcid(INVPCID_TYPE.INDIVIDUAL_ADDRESS, 2, 0x0000, 0);
    expect(view(m)).toEqual(['1:0', '1:1g', '2:2']);
    m = setup();
    m.invpcid(INVPCID_TYPE.INDIVIDUAL_ADDRESS, 1, 0x1000, 0); // globals are not removed by type 0
    expect(view(m)).toEqual(['1:0', '1:1g', '2:0', '2:2']);
    m = setup();
    m.invpcid(INVPCID_TYPE.SINGLE_CONTEXT, 1, 0, 0);
    expect(view(m)).toEqual(['1:1g', '2:0', '2:2']);
    m = setup();
    m.invpcid(INVPCID_TYPE.ALL_CONTEXT_INCLUDING_GLOBALS, 0, 0, 0);
    expect(view(m)).toEqual([]);
    m = setup();
    m.invpcid(INVPCID_TYPE.ALL_CONTEXT, 0, 0, 0);
    expect(view(m)).toEqual(['1:1g']);
  });
});

describe('Tlb', () => {
  it('replaces the way of a full set filled longest ago, whatever was used since, and says so', () => {
    const t = new Tlb({ entries: 2, ways: 2 });
    let evictions = 0;
    t.onEvict = () => evictions++;
    expect(t.sets).toBe(1);
    t.fill(0x1000, 0, 0, 0xa000, 0, 12, 4);
    t.fill(0x2000, 0, 0, 0xb000, 0, 12, 4);
    expect(evictions).toBe(0);
    expect(t.lookup(0x1000, 0, 0)).toBeGreaterThanOrEqual(0); // a hit changes nothing
    t.fill(0x3000, 0, 0, 0xc000, 0, 12, 4);
    expect(evictions).toBe(1);
    expect(t.lookup(0x1000, 0, 0)).toBe(-1); // page 1 was filled first: evicted
    expect(t.lookup(0x2000, 0, 0)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(0x3000, 0, 0)).toBeGreaterThanOrEqual(0);
    expect([t.hits, t.misses]).toEqual([3, 1]);
    t.fill(0x3000, 0, 0, 0xd000, 0, 12, 4); // refilling the same page is not an eviction
    expect(evictions).toBe(1);
  });

  it('tags distinguish addresses that differ only in bits 63:32', () => {
    const t = new Tlb({ entries: 8, ways: 8 });
    t.fill(0x1000, 0x8000, 0, 0xa000, 0, 12, 4);
    expect(t.lookup(0x1000, 0, 0)).toBe(-1);
    expect(t.lookup(0x1000, 0x8000, 0)).toBeGreaterThanOrEqual(0);
  });
});

/**
 * Property: after any sequence of table edits, each followed by an invalidation that the SDM
 * says suffices (4.10.4.2), and address-space switches, every translate agrees with a fresh walk.
 *
 * Two address spaces (PCID 1 and 2 when CR4.PCIDE = 1): a private region (PML4[0], own tables,
 * never global) and a shared kernel region (PML4[1] → the same PDPT in both, leaves always G).
 */
describe('TLB coherence property', () => {
  const PML4 = [0x1000, 0x2000];
  const PRIV = [
    { pdpt: 0x10000, pd: 0x11000, pt: 0x12000 },
    { pdpt: 0x20000, pd: 0x21000, pt: 0x22000 },
  ];
  const SH = { pdpt: 0x30000, pd: 0x31000, pt: 0x32000 };
  const SH_HI = 0x80; // linear 0x80_0000_0000: PML4 index 1

  function build(): PhysMem {
    const mem = new PhysMem(8 << 20);
    for (let s = 0; s < 2; s++) {
      const p = PRIV[s]!;
      w64(mem, PML4[s]!, p.pdpt | P | RW | US);
      w64(mem, PML4[s]! + 8, SH.pdpt | P | RW | US);
      w64(mem, p.pdpt, p.pd | P | RW | US);
      w64(mem, p.pd, p.pt | P | RW | US);
      w64(mem, p.pd + 8, (0x400000 + s * 0x200000) | P | RW | US | PS);
      for (let i = 0; i < 4; i++) w64(mem, p.pt + i * 8, (0x100000 + s * 0x10000 + i * 0x1000) | P | RW | US);
    }
    w64(mem, SH.pdpt, SH.pd | P | RW);
    w64(mem, SH.pd, SH.pt | P | RW);
    w64(mem, SH.pd + 8, 0x600000 | P | RW | PS | G);
    for (let i = 0; i < 4; i++) w64(mem, SH.pt + i * 8, (0x180000 + i * 0x1000) | P | RW | G);
    return mem;
  }

  /** Test pages: [region (0 private, 1 shared), linear lo]. */
  const PAGES: [number, number][] = [];
  for (const r of [0, 1]) for (const lo of [0x0000, 0x1000, 0x2000, 0x3000, 0x200000, 0x201000, 0x3ff000]) PAGES.push([r, lo]);

  type Op =
    | { k: 'access'; page: number; off: number; write: boolean; fetch: boolean; user: boolean }
    | { k: 'edit'; shared: boolean; which: number; flags: number; frame: number; flush: number; flushAt: number }
    | { k: 'switch'; noFlush: boolean };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ k: fc.constant('access' as const), page: fc.nat(PAGES.length - 1), off: fc.nat(0xfff), write: fc.boolean(), fetch: fc.boolean(), user: fc.boolean() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('edit' as const),
        shared: fc.boolean(),
        which: fc.oneof(fc.nat(2), fc.integer({ min: 2, max: 6 })), // 0 PDPTE, 1 PDE→PT, 2 PDE 2 MiB, 3..6 PTE 0..3
        flags: fc
          .tuple(fc.nat(5), fc.subarray([RW, RW, US, US, A, D]))
          .map(([p, b]) => b.reduce((x, y) => x | y, p > 0 ? P : 0)),
        frame: fc.nat(7),
        flush: fc.nat(3), // 0 INVLPG each page used, 1 CR4.PGE toggled, 2 INVPCID all incl. globals, 3 MOV to CR3 (private only)
        flushAt: fc.nat(0x1ff),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('switch' as const), noFlush: fc.boolean() }) },
  );

  it('no stale entry survives a required invalidation', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.array(opArb, { minLength: 20, maxLength: 80, size: "max" }), (pcide, pgeIn, xdMix, ops) => {
        const mem = build();
        const mmu = new Mmu(mem, { tlbEntries: 8, tlbWays: 2 });
        const pge = pcide || pgeIn;
        let space = 0;
        const ctlOf = (s: number): PagingControl => ctl4(PML4[s]! | (pcide ? s + 1 : 0), { pcide, pge, wp: xdMix });
        let c = ctlOf(0);
        for (const op of ops) {
          if (op.k === 'access') {
            const [region, lo] = PAGES[op.page]!;
            const linLo = lo + op.off;
            const linHi = region === 1 ? SH_HI : 0;
            const fresh = walk(mem, c, linLo, linHi, { write: op.write, fetch: op.fetch, user: op.user }, false);
            const got = mmu.translate(c, linLo, linHi, op.write, op.fetch, op.user);
            if (fresh.ok) expect(got).toBe(fresh.pa);
            else {
              expect(got).toBe(-1);
              expect(mmu.lastFault?.errorCode).toBe(fresh.fault.errorCode);
            }
          } else if (op.k === 'edit') {
            const t = op.shared ? SH : PRIV[space]!;
            const flags = op.shared && op.which >= 2 ? op.flags | G : op.flags;
            let addr: number;
            let value: number;
            if (op.which === 0) [addr, value] = [t.pdpt, t.pd | flags];
            else if (op.which === 1) [addr, value] = [t.pd, t.pt | flags];
            else if (op.which === 2) [addr, value] = [t.pd + 8, (0x400000 + op.frame * 0x200000) | flags | PS];
            else [addr, value] = [t.pt + (op.which - 3) * 8, (0x100000 + op.frame * 0x1000) | flags];
            w64(mem, addr, value);
            // The invalidation the SDM asks for (4.10.4.2).
            const linHi = op.shared ? SH_HI : 0;
            const used = PAGES.filter(([r, lo]) => r === (op.shared ? 1 : 0) && (op.which <= 0 || (op.which === 1 && lo < 0x200000) || (op.which === 2 && lo >= 0x200000) || lo === (op.which - 3) * 0x1000));
            const flush = op.flush === 3 && op.shared ? 0 : op.flush;
            if (flush === 0) {
              for (const [, lo] of used) mmu.invlpg(c, lo >= 0x200000 ? 0x200000 + op.flushAt * 0x1000 : lo, linHi);
            } else if (flush === 1) {
              const cr4 = CR4_BITS.PAE | (pcide ? CR4_BITS.PCIDE : 0);
              mmu.onCr4Write(cr4 | CR4_BITS.PGE, cr4);
              mmu.onCr4Write(cr4, cr4 | CR4_BITS.PGE);
            } else if (flush === 2) {
              mmu.invpcid(INVPCID_TYPE.ALL_CONTEXT_INCLUDING_GLOBALS, 0, 0, 0);
            } else {
              mmu.onCr3Write(c, false);
            }
          } else {
            space = 1 - space;
            c = ctlOf(space);
            mmu.onCr3Write(c, op.noFlush);
          }
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
