import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../mem/physmem.ts';
import type { AccessKind, PagingControl, PagingMode } from './types.ts';
import { walk } from './walk.ts';
import { refTranslate } from '../../../tests/oracle/paging-reference.ts';
import type { RefCtl, RefMode } from '../../../tests/oracle/paging-reference.ts';

const RAM = 1 << 20;
const TABLE_BASE = 0x10000n;

/** The six access kinds: read / write / fetch × supervisor / user. */
const ACCESSES: AccessKind[] = [];
for (const user of [false, true])
  for (const k of ['r', 'w', 'x'] as const) ACCESSES.push({ write: k === 'w', fetch: k === 'x', user });

interface Chain {
  mode: RefMode;
  /** Non-address bits of each entry in walk order (for PAE the first is the PDPTE register). */
  flags: bigint[];
  la: bigint;
  /** Physical frame for the leaf (address bits only). */
  frame: bigint;
  maxPhysAddr: number;
  wp: boolean;
  pse: boolean;
  pge: boolean;
  nxe: boolean;
  page1gb?: boolean;
}

const LA: Record<RefMode, bigint> = {
  '32bit': 0xa5c3_7123n,
  pae: 0xa5c3_7123n,
  '4level': 0x0000_6b9d_e5c3_7123n,
  '5level': 0x01a6_6b9d_e5c3_7123n,
};

function levelNames(mode: RefMode): string[] {
  switch (mode) {
    case '32bit':
      return ['PDE', 'PTE'];
    case 'pae':
      return ['PDPTE', 'PDE', 'PTE'];
    case '4level':
      return ['PML4E', 'PDPTE', 'PDE', 'PTE'];
    case '5level':
      return ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'];
  }
}

function shiftOf(name: string): number {
  return { PML5E: 48, PML4E: 39, PDPTE: 30, PDE: 21, PTE: 12 }[name]!;
}

/** Builds the tables in both a PhysMem and a Map and runs walk and the reference on every access. */
function check(chain: Chain, accesses: AccessKind[] = ACCESSES): number {
  const names = levelNames(chain.mode);
  const wide = chain.mode !== '32bit';
  // Unbacked addresses read as zero, like a missing key in the reference's Map.
  const mem = new PhysMem(RAM, { read: () => 0, write: () => {} });
  const map = new Map<bigint, bigint>();
  const pdpte: bigint[] = [0n, 0n, 0n, 0n];
  let table = TABLE_BASE;
  let cr3 = TABLE_BASE;
  const entryAddrs: bigint[] = [];
  for (let k = 0; k < names.length && k < chain.flags.length; k++) {
    const name = names[k]!;
    const f = chain.flags[k]!;
    const last = k === chain.flags.length - 1;
    const next = TABLE_BASE + BigInt(k + 1) * 0x1000n;
    const target = last ? chain.frame : next;
    const e = f | target;
    if (chain.mode === 'pae' && name === 'PDPTE') {
      pdpte[Number((chain.la >> 30n) & 3n)] = e;
      table = next;
      continue;
    }
    let addr: bigint;
    if (chain.mode === '32bit') {
      addr = table + ((chain.la >> BigInt(name === 'PDE' ? 22 : 12)) & 0x3ffn) * 4n;
    } else {
      addr = table + ((chain.la >> BigInt(shiftOf(name))) & 0x1ffn) * 8n;
    }
    entryAddrs.push(addr);
    map.set(addr, e);
    mem.write(Number(addr), 4, Number(e & 0xffffffffn));
    if (wide) mem.write(Number(addr) + 4, 4, Number(e >> 32n));
    table = next;
  }
  const pdpteRegs = new Uint32Array(8);
  pdpte.forEach((v, i) => {
    pdpteRegs[2 * i] = Number(v & 0xffffffffn);
    pdpteRegs[2 * i + 1] = Number(v >> 32n);
  });
  const ctl: PagingControl = {
    mode: chain.mode as PagingMode,
    cr3Lo: Number(cr3 & 0xffffffffn),
    cr3Hi: 0,
    wp: chain.wp,
    pse: chain.pse,
    pge: chain.pge,
    pcide: false,
    nxe: chain.nxe,
    pdpte: pdpteRegs,
    maxPhysAddr: chain.maxPhysAddr,
    ...(chain.page1gb === undefined ? {} : { page1gb: chain.page1gb }),
  };
  const refCtl: RefCtl = { ...chain, cr3, pdpte };
  const snapshot = entryAddrs.map((a) => [mem.read(Number(a), 4), wide ? mem.read(Number(a) + 4, 4) : 0] as const);
  let n = 0;
  for (const acc of accesses) {
    for (const side of [false, true]) {
      // Restore the entries (A/D from an earlier access) so each access starts from the chain.
      entryAddrs.forEach((a, i) => mem.write(Number(a), 4, snapshot[i]![0]));
      const got = walk(mem, ctl, Number(chain.la & 0xffffffffn), Number(chain.la >> 32n), acc, side);
      const want = refTranslate(refCtl, map, chain.la, acc);
      const what = `${chain.mode} flags=[${chain.flags.map((x) => x.toString(16)).join(',')}] wp=${chain.wp} pse=${chain.pse} nxe=${chain.nxe} pge=${chain.pge} M=${chain.maxPhysAddr} access=${JSON.stringify(acc)} side=${side}`;
      expect(got.ok, what).toBe(want.ok);
      expect(got.steps.map((s) => BigInt(s.entryPa)), what).toEqual(want.reads);
      if (got.ok) {
        expect(BigInt(got.pa), what).toBe(want.pa);
        expect(BigInt(got.pageSize), what).toBe(want.pageSize);
        expect(got.global, what).toBe(want.global);
      } else {
        expect(got.fault.errorCode, what).toBe(want.errorCode);
        expect(got.fault.level, what).toBe(want.faultLevel);
      }
      // A/D, on faulting walks too (SDM 4.8): with side effects exactly the reference's writes;
      // without, nothing.
      entryAddrs.forEach((a, i) => {
        const now = mem.read(Number(a), 4);
        const expected = side && want.writes.has(a) ? Number(want.writes.get(a)! & 0xffffffffn) : snapshot[i]![0];
        expect(now, `${what} entry@${a.toString(16)}`).toBe(expected);
      });
      n++;
    }
  }
  return n;
}

const P = 1n,
  RW = 2n,
  US = 4n,
  A = 0x20n,
  D = 0x40n,
  PS = 0x80n,
  G = 0x100n,
  XD = 1n << 63n;

/** Rights variants (R/W, U/S, XD) of a present entry: 8, or 4 without XD. */
function rightsVariants(withXd: boolean): bigint[] {
  const out: bigint[] = [];
  for (const rw of [0n, RW]) for (const us of [0n, US]) for (const xd of withXd ? [0n, XD] : [0n]) out.push(P | rw | us | xd);
  return out;
}

function product<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>((acc, l) => acc.flatMap((a) => l.map((x) => [...a, x])), [[]]);
}

function frameFor(leafName: string, maxPhysAddr: number, mode: RefMode): bigint {
  const shift = mode === '32bit' ? (leafName === 'PDE' ? 22 : 12) : shiftOf(leafName);
  const top = mode === '32bit' ? 32 : maxPhysAddr;
  const raw = 0xf_ed_cb_a9_87_65_43_21n & ((1n << BigInt(top)) - 1n);
  return (raw >> BigInt(shift)) << BigInt(shift);
}

/** (WP, NXE) combinations, with PGE alternating. */
const CTLS = [
  { wp: false, nxe: false, pge: false },
  { wp: true, nxe: false, pge: true },
  { wp: false, nxe: true, pge: true },
  { wp: true, nxe: true, pge: false },
];

describe('walk agrees with the independent SDM reference model', () => {
  it('every combination of R/W, U/S and XD at every level, all leaf sizes, all control and access kinds (4-level, PAE)', () => {
    let n = 0;
    for (const mode of ['4level', 'pae'] as const) {
      const names = levelNames(mode);
      const M = 40;
      // Leaf at PTE, PDE (2 MiB), and for 4-level PDPTE (1 GiB).
      const leaves = mode === '4level' ? ['PTE', 'PDE', 'PDPTE'] : ['PTE', 'PDE'];
      for (const leaf of leaves) {
        const depth = names.indexOf(leaf) + 1;
        const perLevel = names.slice(0, depth).map((name, k) => {
          if (mode === 'pae' && name === 'PDPTE') return [P];
          const v = rightsVariants(true);
          return k === depth - 1 && leaf !== 'PTE' ? v.map((x) => x | PS | G) : k === depth - 1 ? v.map((x) => x | G) : v;
        });
        for (const flags of product(perLevel))
          for (const c of CTLS) n += check({ mode, flags, la: LA[mode], frame: frameFor(leaf, M, mode), maxPhysAddr: M, pse: false, ...c });
      }
    }
    expect(n).toBeGreaterThan(100_000);
  });

  it('a PDPTE with PS set is a reserved-bit fault where 1-GByte pages are not supported, a 1-GByte page where they are', () => {
    let n = 0;
    for (const page1gb of [false, true]) {
      for (const flags of product([rightsVariants(true), rightsVariants(true).map((x) => x | PS)]))
        for (const c of CTLS) n += check({ mode: '4level', flags, la: LA['4level'], frame: frameFor('PDPTE', 40, '4level'), maxPhysAddr: 40, pse: false, page1gb, ...c });
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('every combination of R/W and U/S at every level for 5-level (XD varied one level at a time)', () => {
    let n = 0;
    const mode = '5level';
    const names = levelNames(mode);
    for (const xdLevel of [-1, 0, 4]) {
      const perLevel = names.map((_, k) => rightsVariants(false).map((x) => (k === xdLevel ? x | XD : x)));
      for (const flags of product(perLevel))
        for (const c of [CTLS[1]!, CTLS[2]!]) n += check({ mode, flags, la: LA[mode], frame: frameFor('PTE', 46, mode), maxPhysAddr: 46, pse: false, ...c });
    }
    expect(n).toBeGreaterThan(10_000);
  });

  it('every combination of R/W, U/S, PS, G at both levels of 32-bit paging, with and without CR4.PSE, with PSE-36', () => {
    let n = 0;
    const perLevel = [
      rightsVariants(false).flatMap((x) => [x, x | PS, x | PS | G, x | A]),
      rightsVariants(false).flatMap((x) => [x, x | G, x | PS /* PAT */, x | A | D]),
    ];
    for (const M of [32, 36, 40])
      for (const flags of product(perLevel))
        for (const pse of [false, true])
          for (const c of CTLS) {
            const leaf = pse && (flags[0]! & PS) !== 0n;
            const fl = leaf ? flags.slice(0, 1) : flags;
            // PSE-36: physical-address bits 39:32 of a 4-MByte page come from PDE bits 20:13.
            const frame = leaf ? 0xd5c00000n | ((0x95n & ((1n << BigInt(M - 32)) - 1n)) << 13n) : 0x12345000n;
            n += check({ mode: '32bit', flags: fl, la: LA['32bit'], frame, maxPhysAddr: M, pse, ...c });
          }
    expect(n).toBeGreaterThan(10_000);
  });

  it('not-present and reserved-bit faults at every level, and bits that are ignored rather than reserved', () => {
    let n = 0;
    const M = 40;
    const bitM = 1n << BigInt(M);
    for (const mode of ['4level', '5level', 'pae'] as const) {
      const names = levelNames(mode);
      for (const leaf of mode === 'pae' ? ['PTE', 'PDE'] : ['PTE', 'PDE', 'PDPTE']) {
        const depth = names.indexOf(leaf) + 1;
        for (let k = 0; k < depth; k++) {
          const name = names[k]!;
          if (mode === 'pae' && name === 'PDPTE') continue;
          const isLeaf = k === depth - 1;
          const extras: bigint[] = [bitM, 1n << 51n, 1n << 52n, 1n << 55n, 1n << 62n, XD, 1n << 9n, 1n << 11n];
          if (name === 'PML4E' || name === 'PML5E') extras.push(PS, G);
          if (isLeaf && leaf === 'PDE') extras.push(1n << 12n, 1n << 13n, 1n << 20n, 1n << 21n);
          if (isLeaf && leaf === 'PDPTE') extras.push(1n << 12n, 1n << 13n, 1n << 21n, 1n << 29n);
          if (isLeaf && leaf === 'PTE') extras.push(PS /* PAT */, G);
          const base = names.slice(0, depth).map((_, j) => (j === depth - 1 && leaf !== 'PTE' ? P | RW | US | PS : P | RW | US));
          const variants = [...extras.map((x) => base[k]! | x), base[k]! & ~P, (base[k]! & ~P) | bitM];
          for (const v of variants) {
            const flags = base.slice();
            flags[k] = v;
            for (const c of CTLS) n += check({ mode, flags, la: LA[mode], frame: frameFor(leaf, M, mode), maxPhysAddr: M, pse: false, ...c });
          }
        }
      }
      // PAE: a PDPTE register that is not present.
      if (mode === 'pae') for (const c of CTLS) n += check({ mode, flags: [0n, P | RW | US, P | RW | US], la: LA.pae, frame: 0x5000n, maxPhysAddr: M, pse: false, ...c });
    }
    // 32-bit: with CR4.PSE = 1, PDE bits 21:(M-19) are reserved for a 4-MByte page; with PSE = 0 PS is ignored.
    for (const M2 of [32, 36, 40])
      for (const b of [13, 16, 17, 20, 21])
        for (const pse of [false, true])
          for (const c of CTLS) {
            const flags = [P | RW | US | PS | (1n << BigInt(b))];
            if (!pse) flags.push(P | RW | US);
            n += check({ mode: '32bit', flags, la: LA['32bit'], frame: pse ? 0xd5c00000n : 0x12345000n, maxPhysAddr: M2, pse, ...c });
          }
    expect(n).toBeGreaterThan(2_000);
  });

  it('random entries at every level agree with the reference (fast-check)', () => {
    const flagBits = [0, 1, 2, 5, 6, 7, 8, 12, 13, 20, 21, 29, 40, 45, 51, 52, 62, 63];
    const entryArb = fc.subarray(flagBits).map((bs) => bs.reduce((a, b) => a | (1n << BigInt(b)), 0n));
    fc.assert(
      fc.property(
        fc.constantFrom<RefMode>('32bit', 'pae', '4level', '5level'),
        fc.array(entryArb, { minLength: 5, maxLength: 5 }),
        fc.record({ wp: fc.boolean(), pse: fc.boolean(), pge: fc.boolean(), nxe: fc.boolean() }),
        fc.constantFrom(36, 40, 46, 52),
        (mode, raw, c, M) => {
          const names = levelNames(mode);
          // Cut the chain at the first entry that would be a leaf.
          const flags: bigint[] = [];
          let leaf = 'PTE';
          for (let k = 0; k < names.length; k++) {
            const name = names[k]!;
            let f = raw[k]! & (mode === '32bit' ? 0xffffffffn : ~0n);
            if (mode === '32bit') f &= ~0xfffff000n | (1n << 12n) | (1n << 13n) | (1n << 20n) | (1n << 21n);
            else f &= ~((1n << BigInt(M)) - 1n) | 0xfffn | (1n << 12n) | (1n << 13n) | (1n << 20n) | (1n << 21n) | (1n << 29n);
            if (mode === 'pae' && name === 'PDPTE') f = P;
            flags.push(f);
            const ps = (f & PS) !== 0n && (f & P) !== 0n;
            const isLeaf = (name === 'PDE' && ps && (mode !== '32bit' || c.pse)) || (name === 'PDPTE' && ps && mode !== 'pae');
            if (isLeaf) {
              leaf = name;
              break;
            }
          }
          const frame = frameFor(leaf, M, mode) & ~(mode === '32bit' && leaf === 'PDE' ? 0x3fffffn : 0n);
          check({ mode, flags, la: LA[mode], frame, maxPhysAddr: mode === '32bit' ? Math.min(M, 40) : M, ...c });
        },
      ),
      { numRuns: 3000, seed: 20240601 },
    );
  });

  it("mode 'none' is the identity and reads no entry", () => {
    const mem = new PhysMem(RAM);
    const ctl: PagingControl = { mode: 'none', cr3Lo: 0, cr3Hi: 0, wp: true, pse: false, pge: false, pcide: false, nxe: false, pdpte: new Uint32Array(8), maxPhysAddr: 36 };
    const r = walk(mem, ctl, 0xdeadbeef, 0, { write: true, fetch: false, user: true }, true);
    expect(r).toMatchObject({ ok: true, pa: 0xdeadbeef, steps: [] });
  });
});

describe('accessed and dirty flags (SDM Vol. 3A, 4.8)', () => {
  // 4-level tables: PML4 0x1000 → PDPT 0x2000 → PD 0x3000 → PT 0x4000; linear 0x1123 uses entry 0
  // of PML4, PDPT and PD and entry 1 of the PT; PD[1] maps the 2-MByte page at 0x200000.
  const PML4E = 0x1000,
    PDPTE = 0x2000,
    PDE = 0x3000,
    PDE_BIG = 0x3008,
    PTE_AT = 0x4008;
  const RWX = Number(P | RW | US);
  function tables(over: Partial<Record<'pml4e' | 'pdpte' | 'pde' | 'pte' | 'big', [number, number]>> = {}): PhysMem {
    const mem = new PhysMem(RAM);
    const w = (pa: number, [lo, hi]: [number, number]): void => {
      mem.write(pa, 4, lo >>> 0);
      mem.write(pa + 4, 4, hi >>> 0);
    };
    w(PML4E, over.pml4e ?? [0x2000 | RWX, 0]);
    w(PDPTE, over.pdpte ?? [0x3000 | RWX, 0]);
    w(PDE, over.pde ?? [0x4000 | RWX, 0]);
    w(PDE_BIG, over.big ?? [0x200000 | RWX | Number(PS), 0]);
    w(PTE_AT, over.pte ?? [0x9000 | RWX, 0]);
    return mem;
  }
  const ctl: PagingControl = { mode: '4level', cr3Lo: 0x1000, cr3Hi: 0, wp: true, pse: false, pge: false, pcide: false, nxe: true, pdpte: new Uint32Array(8), maxPhysAddr: 40 };
  const READ: AccessKind = { write: false, fetch: false, user: false };
  const WRITE: AccessKind = { write: true, fetch: false, user: false };
  const USER_WRITE: AccessKind = { write: true, fetch: false, user: true };
  const ad = (mem: PhysMem, pa: number): number => mem.read(pa, 4) & Number(A | D);
  const a = Number(A),
    d = Number(D);

  it('a not-present PTE after present upper levels: the PML4E, PDPTE and PDE get A, the PTE nothing', () => {
    const mem = tables({ pte: [0x9000 | Number(RW | US), 0] });
    const r = walk(mem, ctl, 0x1123, 0, WRITE, true);
    expect(r.ok).toBe(false);
    expect([ad(mem, PML4E), ad(mem, PDPTE), ad(mem, PDE), ad(mem, PTE_AT)]).toEqual([a, a, a, 0]);
  });

  it('32-bit paging: a not-present PTE leaves A set in the PDE that referenced the page table', () => {
    const mem = new PhysMem(RAM);
    mem.write(0x1000, 4, 0x4000 | RWX); // PDE 0
    mem.write(0x4004, 4, 0x9000 | Number(RW | US)); // PTE 1, P = 0
    const c32: PagingControl = { ...ctl, mode: '32bit', nxe: false };
    expect(walk(mem, c32, 0x1123, 0, READ, true).ok).toBe(false);
    expect([ad(mem, 0x1000), ad(mem, 0x4004)]).toEqual([a, 0]);
  });

  it('an entry with P = 0 gets no A; the entries before it do', () => {
    const mem = tables({ pdpte: [0x3000 | Number(RW | US), 0] });
    expect(walk(mem, ctl, 0x1123, 0, READ, true).ok).toBe(false);
    expect([ad(mem, PML4E), ad(mem, PDPTE), ad(mem, PDE), ad(mem, PTE_AT)]).toEqual([a, 0, 0, 0]);
  });

  it('a reserved bit: the entries above get A; the entry with the reserved bit, and a leaf with one, get nothing', () => {
    // Bit 40 is reserved with MAXPHYADDR 40 (Table 4-17).
    const mem = tables({ pde: [0x4000 | RWX, 1 << 8] });
    const r = walk(mem, ctl, 0x1123, 0, READ, true);
    expect(r.ok === false && r.fault).toEqual({ errorCode: 0b1001, level: 'PDE' });
    expect([ad(mem, PML4E), ad(mem, PDPTE), ad(mem, PDE), ad(mem, PTE_AT)]).toEqual([a, a, 0, 0]);
    // A 2-MByte page with bit 13 set (reserved, Table 4-17).
    const mem2 = tables({ big: [0x200000 | RWX | Number(PS) | (1 << 13), 0] });
    expect(walk(mem2, ctl, 0x201123, 0, READ, true).ok).toBe(false);
    expect([ad(mem2, PML4E), ad(mem2, PDPTE), ad(mem2, PDE_BIG)]).toEqual([a, a, 0]);
  });

  it('an access the rights deny: every entry that referenced a table gets A, the leaf neither A nor D', () => {
    // Denied by the leaf: a user write to a read-only page.
    const mem = tables({ pte: [0x9000 | Number(P | US), 0] });
    const r = walk(mem, ctl, 0x1123, 0, USER_WRITE, true);
    expect(r.ok === false && r.fault).toEqual({ errorCode: 0b111, level: 'PTE' });
    expect([ad(mem, PML4E), ad(mem, PDPTE), ad(mem, PDE), ad(mem, PTE_AT)]).toEqual([a, a, a, 0]);
    // Denied by an upper level: U/S = 0 in the PDPTE; the PDPTE still referenced the next table.
    const mem2 = tables({ pdpte: [0x3000 | Number(P | RW), 0] });
    expect(walk(mem2, ctl, 0x1123, 0, USER_WRITE, true).ok).toBe(false);
    expect([ad(mem2, PML4E), ad(mem2, PDPTE), ad(mem2, PDE), ad(mem2, PTE_AT)]).toEqual([a, a, a, 0]);
    // A supervisor write to a read-only 2-MByte page with CR0.WP = 1.
    const mem3 = tables({ big: [0x200000 | Number(P | PS), 0] });
    expect(walk(mem3, ctl, 0x201123, 0, WRITE, true).ok).toBe(false);
    expect([ad(mem3, PML4E), ad(mem3, PDPTE), ad(mem3, PDE_BIG)]).toEqual([a, a, 0]);
  });

  it('a permitted access sets A everywhere; D only in the leaf, and only for a write', () => {
    const mem = tables();
    expect(walk(mem, ctl, 0x1123, 0, READ, true).ok).toBe(true);
    expect([ad(mem, PML4E), ad(mem, PDPTE), ad(mem, PDE), ad(mem, PTE_AT)]).toEqual([a, a, a, a]);
    const r = walk(mem, ctl, 0x1123, 0, WRITE, true);
    expect(r.ok && r.dirtySet).toBe(true);
    expect([ad(mem, PML4E), ad(mem, PDPTE), ad(mem, PDE), ad(mem, PTE_AT)]).toEqual([a, a, a, a | d]);
    expect(walk(mem, ctl, 0x201123, 0, WRITE, true).ok).toBe(true);
    expect(ad(mem, PDE_BIG)).toBe(a | d);
  });

  it('PAE: the PDPTE registers are never written back (bit 5 is reserved there); the PDE gets A on a fault', () => {
    const mem = new PhysMem(RAM);
    mem.write(0x1000, 4, 0x3000 | Number(P)); // PDPT[0] in memory, also loaded in the register
    mem.write(0x3000, 4, 0x4000 | RWX); // PDE 0
    mem.write(0x4008, 4, 0x9000 | Number(RW | US)); // PTE 1, P = 0
    mem.write(0x4010, 4, 0xa000 | RWX); // PTE 2
    const cPae: PagingControl = { ...ctl, mode: 'pae', pdpte: Uint32Array.from([0x3000 | Number(P), 0, 0, 0, 0, 0, 0, 0]) };
    expect(walk(mem, cPae, 0x1123, 0, READ, true).ok).toBe(false);
    expect([ad(mem, 0x1000), ad(mem, 0x3000), ad(mem, 0x4008)]).toEqual([0, a, 0]);
    expect(walk(mem, cPae, 0x2123, 0, WRITE, true).ok).toBe(true);
    expect([ad(mem, 0x1000), ad(mem, 0x3000), ad(mem, 0x4010)]).toEqual([0, a, a | d]);
  });

  it('a walk without side effects writes nothing, whether it succeeds or faults at any level', () => {
    for (const over of [{}, { pte: [0x9000, 0] as [number, number] }, { pde: [0x4000 | RWX, 1 << 8] as [number, number] }, { pte: [0x9000 | Number(P), 0] as [number, number] }]) {
      const mem = tables(over);
      const before = [PML4E, PDPTE, PDE, PTE_AT].map((pa) => mem.read(pa, 4));
      walk(mem, ctl, 0x1123, 0, USER_WRITE, false);
      walk(mem, ctl, 0x1123, 0, READ, false);
      expect([PML4E, PDPTE, PDE, PTE_AT].map((pa) => mem.read(pa, 4))).toEqual(before);
    }
  });
});
