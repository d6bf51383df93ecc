import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../mem/physmem.ts';
import { TableBuilder } from '../mmu/nested-testkit.ts';
import {
  EPTE,
  EPTP,
  decodeEptEntry,
  decodeEptp,
  eptCaps,
  eptReservedBits,
  eptTranslate,
  eptpProblems,
  encodeEptp,
  type EptCaps,
  type EptOptions,
  type EptResult,
} from './ept.ts';
import { decodeEptViolation } from './qualification.ts';

const ALL: EptCaps = {
  executeOnly: true, walk4: true, walk5: true, uc: true, wb: true, pde2mb: true, pdpte1gb: true, accessedDirty: true,
};
/** A processor with 4-level walks, 2-MByte pages and no A/D flags (what the lab advertised before issue 7). */
const BASIC: EptCaps = { ...eptCaps(), walk5: false, pdpte1gb: false, accessedDirty: false };
const RWX = EPTE.R | EPTE.W | EPTE.X;
const WB_LEAF = RWX | (6 << EPTE.MT_SHIFT);
const ROOT = 0x1000;

function setup(levels: 4 | 5 = 4, ad = false) {
  const mem = new PhysMem(0x100000);
  const b = new TableBuilder(mem, 0x2000);
  const eptp = encodeEptp({ memType: 6, walkLength: levels, accessedDirty: ad, root: ROOT });
  return { mem, b, eptp };
}

function opts(extra: Partial<EptOptions> = {}): EptOptions {
  return { caps: ALL, maxPhysAddr: 46, ...extra };
}

const READ = { write: false, fetch: false };
const WRITE = { write: true, fetch: false };
const FETCH = { write: false, fetch: true };

function misconfig(r: EptResult): string {
  expect(r.kind).toBe('misconfig');
  if (r.kind !== 'misconfig') return '';
  expect(r.exitReason).toBe(49);
  return r.cause;
}

function violation(r: EptResult) {
  expect(r.kind).toBe('violation');
  if (r.kind !== 'violation') throw new Error('not a violation');
  expect(r.exitReason).toBe(48);
  return { ...r, q: decodeEptViolation(r.qualification) };
}

describe('EPTP', () => {
  it('decodes and encodes memory type, walk length, A/D and root', () => {
    const v = 0x5en | 0x123456000n;
    expect(decodeEptp(v)).toEqual({ memType: 6, walkLength: 4, accessedDirty: true, root: 0x123456000 });
    expect(encodeEptp(decodeEptp(v))).toBe(v);
  });

  it("accepts a 4-level-only processor's WB or UC EPTP and refuses each bad field alone", () => {
    const good = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: false, root: 0x5000 });
    expect(eptpProblems(good, BASIC, 36)).toEqual([]);
    expect(eptpProblems(good & ~7n, BASIC, 36)).toEqual([]);
    expect(eptpProblems((good & ~7n) | 1n, BASIC, 36)).toEqual(['memory-type']);
    expect(eptpProblems((good & ~7n) | 4n, BASIC, 36)).toEqual(['memory-type']);
    expect(eptpProblems(good | BigInt(EPTP.AD), BASIC, 36)).toEqual(['accessed-dirty']);
    expect(eptpProblems(good | BigInt(EPTP.AD), ALL, 36)).toEqual([]);
    const five = encodeEptp({ memType: 6, walkLength: 5, accessedDirty: false, root: 0x5000 });
    expect(eptpProblems(five, BASIC, 36)).toEqual(['walk-length']);
    expect(eptpProblems(five, ALL, 36)).toEqual([]);
    const three = encodeEptp({ memType: 6, walkLength: 3, accessedDirty: false, root: 0x5000 });
    expect(eptpProblems(three, ALL, 36)).toEqual(['walk-length']);
    for (let b = 7; b <= 11; b++) expect(eptpProblems(good | (1n << BigInt(b)), ALL, 36)).toEqual(['reserved-low']);
    expect(eptpProblems(good | (1n << 36n), ALL, 36)).toEqual(['reserved-high']);
    expect(eptpProblems(good | (1n << 36n), ALL, 40)).toEqual([]);
    expect(eptpProblems(good | (1n << 63n), ALL, 52)).toEqual(['reserved-high']);
  });

  it('the translation refuses an EPTP VM entry would not accept', () => {
    const { mem } = setup();
    const bad = encodeEptp({ memType: 6, walkLength: 5, accessedDirty: false, root: ROOT });
    expect(() => eptTranslate(mem, bad, 0, READ, { caps: BASIC, maxPhysAddr: 36 })).toThrow(RangeError);
  });
});

describe('EPT entries', () => {
  it('decodes every field', () => {
    const e = decodeEptEntry(0x12345000 | EPTE.R | EPTE.X | (5 << 3) | EPTE.IPAT | EPTE.PS | EPTE.A | EPTE.D | EPTE.XU, 0x80000007, 36);
    expect(e).toEqual({
      read: true, write: false, execute: true, userExecute: true, memType: 5, ipat: true, pageSize: true, accessed: true,
      dirty: true, suppressVe: true, address: 0x712345000,
    });
  });

  it('reserved-bit masks follow MAXPHYADDR', () => {
    const c = { caps: ALL, maxPhysAddr: 36 };
    expect(eptReservedBits(c, 'PTE', RWX).hi).toBe(0xffff0);
    expect(eptReservedBits({ caps: ALL, maxPhysAddr: 52 }, 'PTE', RWX).hi).toBe(0);
    expect(eptReservedBits({ caps: ALL, maxPhysAddr: 32 }, 'PTE', RWX).hi).toBe(0xfffff);
    expect(eptReservedBits(c, 'PML4E', RWX).lo).toBe(0xf8);
    expect(eptReservedBits(c, 'PDE', RWX).lo).toBe(0x78);
    expect(eptReservedBits(c, 'PDE', RWX | EPTE.PS).lo).toBe(0x1ff000);
    expect(eptReservedBits(c, 'PDPTE', RWX | EPTE.PS).lo).toBe(0x3ffff000);
    expect(eptReservedBits({ caps: BASIC, maxPhysAddr: 36 }, 'PDPTE', RWX | EPTE.PS).lo).toBe(EPTE.PS);
  });

  it('an address bit at MAXPHYADDR misconfigures, one below does not', () => {
    for (const m of [36, 39, 46]) {
      const { mem, b, eptp } = setup();
      const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, WB_LEAF);
      b.set(leaf, 0x9000 | WB_LEAF, 1 << (m - 32));
      expect(misconfig(eptTranslate(mem, eptp, 0x5000, READ, opts({ maxPhysAddr: m })))).toBe('reserved-bit');
      b.set(leaf, 0x9000 | WB_LEAF, 1 << (m - 33));
      const r = eptTranslate(mem, eptp, 0x5123, READ, opts({ maxPhysAddr: m }));
      expect(r.kind === 'ok' && r.hpa).toBe(2 ** (m - 1) + 0x9123);
    }
  });
});

describe('EPT translation', () => {
  it('translates 4 KiB, 2 MiB and 1 GiB pages, recording each entry read', () => {
    const { mem, b, eptp } = setup();
    b.map(ROOT, 4, 0x7000, 0x12345000, 12, RWX, WB_LEAF);
    b.map(ROOT, 4, 0x40200000, 0x80000000, 21, RWX, WB_LEAF | EPTE.PS);
    b.map(ROOT, 4, 0x8000000000, 0x1c0000000, 30, RWX, WB_LEAF | EPTE.PS);
    const r4 = eptTranslate(mem, eptp, 0x7abc, READ, opts());
    expect(r4).toMatchObject({ kind: 'ok', hpa: 0x12345abc, pageSize: 4096, memType: 6 });
    expect(r4.steps.map((s) => s.level)).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
    expect(r4.steps.map((s) => s.leaf)).toEqual([false, false, false, true]);
    const r2 = eptTranslate(mem, eptp, 0x402abcde, WRITE, opts());
    expect(r2).toMatchObject({ kind: 'ok', hpa: 0x800abcde, pageSize: 2 ** 21 });
    expect(r2.steps.length).toBe(3);
    const r1 = eptTranslate(mem, eptp, 0x8012345678, FETCH, opts());
    expect(r1).toMatchObject({ kind: 'ok', hpa: 0x1c0000000 + 0x12345678, pageSize: 2 ** 30 });
    expect(r1.steps.length).toBe(2);
  });

  it('walks 5 levels only with a 5-level EPTP, which needs the capability', () => {
    const { mem, b, eptp } = setup(5);
    b.map(ROOT, 5, 0x1000000000000, 0x3000, 12, RWX, WB_LEAF);
    const r = eptTranslate(mem, eptp, 0x1000000000042, READ, opts());
    expect(r).toMatchObject({ kind: 'ok', hpa: 0x3042 });
    expect(r.steps.map((s) => s.level)).toEqual(['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE']);
    expect(() => eptTranslate(mem, eptp, 0, READ, opts({ caps: { ...ALL, walk5: false } }))).toThrow(RangeError);
  });

  describe('misconfigurations, each alone (exit reason 49)', () => {
    const cases: [string, number, number, Partial<EptCaps>, string][] = [
      ['W without R', EPTE.W, 0, {}, 'write-without-read'],
      ['W+X without R', EPTE.W | EPTE.X, 0, {}, 'write-without-read'],
      ['X only, not supported', EPTE.X, 0, { executeOnly: false }, 'execute-only'],
      ['memory type 2', RWX | (2 << 3), 0, {}, 'memory-type'],
      ['memory type 3', RWX | (3 << 3), 0, {}, 'memory-type'],
      ['memory type 7', RWX | (7 << 3), 0, {}, 'memory-type'],
      ['bit 51', WB_LEAF, 1 << 19, {}, 'reserved-bit'],
    ];
    for (const [name, lo, hi, caps, cause] of cases) {
      it(`${name} in the PTE`, () => {
        const { mem, b, eptp } = setup();
        const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, 0);
        b.set(leaf, 0x9000 | lo, hi);
        const r = eptTranslate(mem, eptp, 0x5000, READ, opts({ caps: { ...ALL, ...caps } }));
        expect(misconfig(r)).toBe(cause);
        expect(r.kind === 'misconfig' && r.guestPhysicalAddress).toBe(0x5000);
      });
    }

    for (const [level, shift] of [['PML4E', 39], ['PDPTE', 30], ['PDE', 21]] as const) {
      it(`W without R, and bits 6:3 set, in the ${level} that references a table`, () => {
        const { mem, b, eptp } = setup();
        b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, WB_LEAF);
        // Find the entry of `level` and spoil it.
        const depth = { PML4E: 0, PDPTE: 1, PDE: 2 }[level];
        const entry = eptTranslate(mem, eptp, 0x5000, READ, opts()).steps[depth]!;
        expect(Math.floor(0x5000 / 2 ** shift) % 512).toBe(entry.index);
        b.set(entry.entryPa, (entry.entryLo & ~3) | EPTE.W, 0);
        expect(misconfig(eptTranslate(mem, eptp, 0x5000, READ, opts()))).toBe('write-without-read');
        for (let bit = 3; bit <= 6; bit++) {
          b.set(entry.entryPa, entry.entryLo | (1 << bit), 0);
          const r = eptTranslate(mem, eptp, 0x5000, READ, opts());
          expect(misconfig(r)).toBe('reserved-bit');
          expect(r.kind === 'misconfig' && r.level).toBe(level);
        }
      });
    }

    it('PS in a PML4E, and in a PDPTE/PDE without 1 GiB/2 MiB pages', () => {
      const { mem, b, eptp } = setup();
      b.set(ROOT, 0x40000000 | WB_LEAF | EPTE.PS);
      expect(misconfig(eptTranslate(mem, eptp, 0x5000, READ, opts()))).toBe('large-page');
      const s = setup();
      s.b.map(ROOT, 4, 0x40000000, 0x40000000, 30, RWX, WB_LEAF | EPTE.PS);
      expect(misconfig(eptTranslate(s.mem, s.eptp, 0x40000000, READ, opts({ caps: BASIC })))).toBe('large-page');
      expect(eptTranslate(s.mem, s.eptp, 0x40000000, READ, opts()).kind).toBe('ok');
      const t = setup();
      t.b.map(ROOT, 4, 0x200000, 0x200000, 21, RWX, WB_LEAF | EPTE.PS);
      expect(misconfig(eptTranslate(t.mem, t.eptp, 0x200000, READ, opts({ caps: { ...ALL, pde2mb: false } })))).toBe('large-page');
      expect(eptTranslate(t.mem, t.eptp, 0x200000, READ, opts({ caps: BASIC })).kind).toBe('ok');
    });

    it('a misconfiguration takes priority over a permission the access lacks', () => {
      const { mem, b, eptp } = setup();
      const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, 0);
      b.set(leaf, 0x9000 | EPTE.R | (7 << 3));
      expect(misconfig(eptTranslate(mem, eptp, 0x5000, WRITE, opts()))).toBe('memory-type');
    });

    it('execute-only is a translation when supported', () => {
      const { mem, b, eptp } = setup();
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, EPTE.X | (6 << 3));
      expect(eptTranslate(mem, eptp, 0x5000, FETCH, opts()).kind).toBe('ok');
      const v = violation(eptTranslate(mem, eptp, 0x5000, READ, opts()));
      expect(v.q).toMatchObject({ read: true, readable: false, writable: false, executable: true });
    });

    it('ignored bits do not misconfigure: A/D with A/D off, bit 10 without MBEC, bit 11, 62:52, 63', () => {
      const { mem, b, eptp } = setup();
      const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX | EPTE.A | EPTE.XU | (1 << 11), WB_LEAF | EPTE.A | EPTE.D | EPTE.XU | (1 << 11) | EPTE.PS);
      b.set(leaf, 0x9000 | WB_LEAF | EPTE.PS, 0xfff00000);
      expect(eptTranslate(mem, eptp, 0x5000, READ, opts({ maxPhysAddr: 52 }))).toMatchObject({ kind: 'ok', hpa: 0x9000 });
    });
  });

  describe('violations (exit reason 48, Table 28-7)', () => {
    it('read, write and fetch against a page missing each right', () => {
      for (const [perm, acc, bit] of [
        [EPTE.W | EPTE.X, READ, 'read'],
        [EPTE.R | EPTE.X, WRITE, 'write'],
        [EPTE.R | EPTE.W, FETCH, 'fetch'],
      ] as const) {
        const { mem, b, eptp } = setup();
        b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, perm | (6 << 3));
        const r = eptTranslate(mem, eptp, 0x5678, acc, opts());
        if (perm === (EPTE.W | EPTE.X)) {
          expect(misconfig(r)).toBe('write-without-read');
          continue;
        }
        const v = violation(r);
        expect(v.q.read).toBe(bit === 'read');
        expect(v.q.write).toBe(bit === 'write');
        expect(v.q.fetch).toBe(bit === 'fetch');
        expect([v.q.readable, v.q.writable, v.q.executable]).toEqual([(perm & 1) !== 0, (perm & 2) !== 0, (perm & 4) !== 0]);
        expect(v.guestPhysicalAddress).toBe(0x5678);
        expect(v.q.linearValid).toBe(false);
        expect(v.guestLinearAddress).toBeUndefined();
      }
    });

    it('a read of an execute-only page (supported) is the read violation', () => {
      const { mem, b, eptp } = setup();
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, EPTE.X | (6 << 3));
      expect(violation(eptTranslate(mem, eptp, 0x5000, READ, opts())).q).toMatchObject({ read: true, write: false, fetch: false });
    });

    it('the permissions are ANDed across the levels', () => {
      const { mem, b, eptp } = setup();
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, WB_LEAF);
      const steps = eptTranslate(mem, eptp, 0x5000, READ, opts()).steps;
      // Writable only in the PTE: the PDPTE takes W away, the PDE takes X away.
      b.set(steps[1]!.entryPa, steps[1]!.entryLo & ~EPTE.W);
      b.set(steps[2]!.entryPa, steps[2]!.entryLo & ~EPTE.X);
      const w = violation(eptTranslate(mem, eptp, 0x5000, WRITE, opts()));
      expect([w.q.readable, w.q.writable, w.q.executable]).toEqual([true, false, false]);
      expect(w.level).toBe('PTE');
      const f = violation(eptTranslate(mem, eptp, 0x5000, FETCH, opts()));
      expect(f.q.fetch).toBe(true);
      expect(eptTranslate(mem, eptp, 0x5000, READ, opts()).kind).toBe('ok');
    });

    it('large pages: the rights of the 2 MiB and 1 GiB leaves', () => {
      const { mem, b, eptp } = setup();
      b.map(ROOT, 4, 0x200000, 0x200000, 21, RWX, EPTE.R | (6 << 3) | EPTE.PS);
      b.map(ROOT, 4, 0x80000000, 0x80000000, 30, RWX, EPTE.R | EPTE.X | (6 << 3) | EPTE.PS);
      const v2 = violation(eptTranslate(mem, eptp, 0x212345, WRITE, opts()));
      expect(v2).toMatchObject({ level: 'PDE', guestPhysicalAddress: 0x212345 });
      expect([v2.q.readable, v2.q.writable, v2.q.executable]).toEqual([true, false, false]);
      const v1 = violation(eptTranslate(mem, eptp, 0x80000010, WRITE, opts()));
      expect(v1.level).toBe('PDPTE');
      expect([v1.q.readable, v1.q.writable, v1.q.executable]).toEqual([true, false, true]);
    });

    it('a not-present entry at each level: the walk stops there, rights all 0', () => {
      for (const depth of [0, 1, 2, 3]) {
        const { mem, b, eptp } = setup();
        b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, WB_LEAF);
        const s = eptTranslate(mem, eptp, 0x5000, READ, opts()).steps[depth]!;
        // Bits 2:0 = 0 with junk elsewhere is still not present (and not misconfigured).
        b.set(s.entryPa, (s.entryLo & ~7) | 0xf8, 0xffffffff);
        const v = violation(eptTranslate(mem, eptp, 0x5000, WRITE, opts({ linear: 0x7fff5000 })));
        expect(v.level).toBe(['PML4E', 'PDPTE', 'PDE', 'PTE'][depth]);
        expect(v.steps.length).toBe(depth + 1);
        expect(v.steps[depth]!.leaf).toBe(false);
        expect([v.q.readable, v.q.writable, v.q.executable]).toEqual([false, false, false]);
        expect(v.q).toMatchObject({ write: true, linearValid: true, translated: true });
        expect(v.guestLinearAddress).toBe(0x7fff5000);
      }
    });

    it('bits 7, 8 and 12 come from what the caller states', () => {
      const { mem, eptp } = setup();
      const table = violation(eptTranslate(mem, eptp, 0x5000, READ, opts({ linear: 0x1234, guestTable: true })));
      expect(table.q).toMatchObject({ read: true, write: false, linearValid: true, translated: false });
      const nmi = violation(eptTranslate(mem, eptp, 0x5000, READ, opts({ nmiUnblocking: true })));
      expect(nmi.q).toMatchObject({ nmiUnblocking: true, linearValid: false, translated: false });
    });

    it('with A/D flags on, a guest-table access is a write: bits 0 and 1 both set', () => {
      const { mem, b } = setup();
      const eptp = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: true, root: ROOT });
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, EPTE.R | (6 << 3));
      const v = violation(eptTranslate(mem, eptp, 0x5000, READ, opts({ guestTable: true, linear: 0 })));
      expect(v.q).toMatchObject({ read: true, write: true, readable: true, writable: false, translated: false });
      // The same table read with A/D off is a read, and allowed.
      const off = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: false, root: ROOT });
      expect(eptTranslate(mem, off, 0x5000, READ, opts({ guestTable: true })).kind).toBe('ok');
    });

    it('mode-based execute control: X for supervisor, XU for user linear addresses (bit 6)', () => {
      const { mem, b, eptp } = setup();
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX | EPTE.XU, EPTE.R | EPTE.XU | (6 << 3));
      expect(eptTranslate(mem, eptp, 0x5000, FETCH, opts({ mbec: true, userLinear: true })).kind).toBe('ok');
      const sup = violation(eptTranslate(mem, eptp, 0x5000, FETCH, opts({ mbec: true, userLinear: false })));
      expect(sup.q).toMatchObject({ fetch: true, executable: false, userExecutable: true });
      // Without MBEC bit 10 is ignored and bit 6 of the qualification is 0.
      const plain = violation(eptTranslate(mem, eptp, 0x5000, FETCH, opts()));
      expect(plain.q).toMatchObject({ executable: false, userExecutable: false });
    });
  });

  describe('accessed and dirty flags (29.3.5)', () => {
    function flagsAfter(ad: boolean, acc: { write: boolean; fetch: boolean }, guestTable = false) {
      const { mem, b } = setup();
      const eptp = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: ad, root: ROOT });
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, WB_LEAF);
      const r = eptTranslate(mem, eptp, 0x5000, acc, opts({ sideEffects: true, guestTable }));
      expect(r.kind).toBe('ok');
      return r.steps.map((s) => mem.read(s.entryPa, 4) & (EPTE.A | EPTE.D));
    }
    it('are left alone when EPTP bit 6 is 0', () => {
      expect(flagsAfter(false, WRITE)).toEqual([0, 0, 0, 0]);
    });
    it('A on every entry used; D on the leaf for a write only', () => {
      const A = EPTE.A;
      const AD = EPTE.A | EPTE.D;
      expect(flagsAfter(true, READ)).toEqual([A, A, A, A]);
      expect(flagsAfter(true, FETCH)).toEqual([A, A, A, A]);
      expect(flagsAfter(true, WRITE)).toEqual([A, A, A, AD]);
      expect(flagsAfter(true, READ, true)).toEqual([A, A, A, AD]);
    });
    it('a refused access sets A on the entries above, not on the leaf', () => {
      const { mem, b } = setup();
      const eptp = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: true, root: ROOT });
      const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, EPTE.R | (6 << 3));
      const r = eptTranslate(mem, eptp, 0x5000, WRITE, opts({ sideEffects: true }));
      expect(r.kind).toBe('violation');
      expect(r.steps.slice(0, 3).map((s) => mem.read(s.entryPa, 4) & EPTE.A)).toEqual([EPTE.A, EPTE.A, EPTE.A]);
      expect(mem.read(leaf, 4) & (EPTE.A | EPTE.D)).toBe(0);
    });
    it('nothing is written without sideEffects', () => {
      const { mem, b } = setup();
      const eptp = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: true, root: ROOT });
      b.map(ROOT, 4, 0x5000, 0x9000, 12, RWX, WB_LEAF);
      const r = eptTranslate(mem, eptp, 0x5000, WRITE, opts());
      expect(r.steps.map((s) => mem.read(s.entryPa, 4) & (EPTE.A | EPTE.D))).toEqual([0, 0, 0, 0]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the walker against a deliberately simple reference written from 29.3 here.

interface RefOut {
  kind: 'ok' | 'misconfig' | 'violation';
  hpa?: bigint;
  qual?: number;
  reads: bigint[];
}

const bitOf = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const bitsSet = (v: bigint, hi: number, lo: number): boolean => hi >= lo && ((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n)) !== 0n;

function refEpt(mem: Map<bigint, bigint>, eptp: bigint, gpa: bigint, acc: { write: boolean; fetch: boolean }, caps: EptCaps, M: number, guestTable: boolean): RefOut {
  const levels = Number((eptp >> 3n) & 7n) + 1;
  const ad = bitOf(eptp, 6);
  const asWrite = acc.write || (ad && guestTable);
  const addrMask = ((1n << BigInt(M)) - 1n) & ~0xfffn;
  let table = eptp & addrMask;
  let r = true;
  let w = true;
  let x = true;
  const reads: bigint[] = [];
  const viol = (): RefOut => {
    let q = 0;
    if (!acc.fetch && (!acc.write || (ad && guestTable))) q |= 1;
    if (asWrite && !acc.fetch) q |= 2;
    if (acc.fetch) q |= 4;
    if (r) q |= 8;
    if (w) q |= 16;
    if (x) q |= 32;
    return { kind: 'violation', qual: q, reads };
  };
  for (let lvl = levels; lvl >= 1; lvl--) {
    const shift = 12 + 9 * (lvl - 1);
    const addr = table + ((gpa >> BigInt(shift)) & 511n) * 8n;
    reads.push(addr);
    // Unbacked physical addresses read as all ones (mem/physmem.ts, open bus).
    const e = mem.get(addr) ?? (addr < 0x10000n ? 0n : 0xffffffffffffffffn);
    const perm = Number(e & 7n);
    if (perm === 0) {
      r = w = x = false;
      return viol();
    }
    if (perm === 2 || perm === 6) return { kind: 'misconfig', reads };
    if (perm === 4 && !caps.executeOnly) return { kind: 'misconfig', reads };
    if (bitsSet(e, 51, M)) return { kind: 'misconfig', reads };
    const ps = bitOf(e, 7);
    let leaf = lvl === 1;
    if (lvl >= 4 && bitsSet(e, 7, 3)) return { kind: 'misconfig', reads };
    if (lvl === 2 || lvl === 3) {
      if (ps) {
        if (lvl === 3 ? !caps.pdpte1gb : !caps.pde2mb) return { kind: 'misconfig', reads };
        if (bitsSet(e, shift - 1, 12)) return { kind: 'misconfig', reads };
        leaf = true;
      } else if (bitsSet(e, 6, 3)) return { kind: 'misconfig', reads };
    }
    if (leaf && [2, 3, 7].includes(Number((e >> 3n) & 7n))) return { kind: 'misconfig', reads };
    r &&= bitOf(e, 0);
    w &&= bitOf(e, 1);
    x &&= bitOf(e, 2);
    if (leaf) {
      const ok = acc.fetch ? x : asWrite ? w : r;
      if (!ok) return viol();
      const size = 1n << BigInt(shift);
      return { kind: 'ok', hpa: (e & addrMask & ~(size - 1n)) | (gpa & (size - 1n)), reads };
    }
    table = e & addrMask;
  }
  throw new Error('unreachable');
}

describe('EPT walker = reference (fast-check)', () => {
  it('random tables, capabilities and addresses agree on outcome, address, qualification and reads', () => {
    const TABLES = [0x1000, 0x2000, 0x3000, 0x4000];
    const FRAMES = [...TABLES, 0x200000, 0x40000000, 0x12345000, 0x7fe00000];
    const lowBits = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 21, 29];
    const entryArb = fc
      .record({
        rwx: fc.integer({ min: 0, max: 7 }),
        flags: fc.subarray(lowBits),
        frame: fc.constantFrom(...FRAMES),
        hiBits: fc.subarray([35 - 32, 39 - 32, 45 - 32, 51 - 32, 52 - 32, 63 - 32]),
      })
      .map(({ rwx, flags, frame, hiBits }) => {
        let v = BigInt(frame) | BigInt(rwx);
        for (const f of flags) v |= 1n << BigInt(f);
        for (const h of hiBits) v |= 1n << BigInt(h + 32);
        return v;
      });
    // Mostly well-formed entries so that walks get deep; the random ones find the edges.
    const goodArb = fc
      .tuple(fc.constantFrom(...TABLES, ...TABLES, 0x200000), fc.constantFrom(7n, 7n, 5n, 3n, 1n), fc.constantFrom(false, false, false, false, true))
      // Memory type 0 (UC) is valid in a leaf and bits 5:3 are reserved elsewhere; PS sometimes.
      .map(([f, perm, ps]) => BigInt(f) | perm | (ps ? 0x80n : 0n));
    const slotArb = fc.oneof({ weight: 5, arbitrary: goodArb }, { weight: 1, arbitrary: entryArb });
    fc.assert(
      fc.property(
        // Entries 0 and 1 of each of the four table pages (a zero one is not present).
        fc.array(fc.oneof({ weight: 1, arbitrary: fc.constant(0n) }, { weight: 6, arbitrary: slotArb }), { minLength: 8, maxLength: 8 }),
        fc.record({ executeOnly: fc.boolean(), pde2mb: fc.boolean(), pdpte1gb: fc.boolean(), ad: fc.boolean(), five: fc.boolean() }),
        fc.constantFrom(36, 39, 46, 52),
        fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 5, maxLength: 5 }),
        fc.integer({ min: 0, max: 0xfff }),
        fc.constantFrom(READ, WRITE, FETCH),
        fc.boolean(),
        (slots, c, M, idx, off, acc, guestTable) => {
          const caps: EptCaps = { ...ALL, executeOnly: c.executeOnly, pde2mb: c.pde2mb, pdpte1gb: c.pdpte1gb };
          const mem = new PhysMem(0x10000);
          const ref = new Map<bigint, bigint>();
          for (const [k, v] of slots.entries()) {
            const a = TABLES[k >> 1]! + (k & 1) * 8;
            mem.write(a, 4, Number(v & 0xffffffffn));
            mem.write(a + 4, 4, Number(v >> 32n));
            ref.set(BigInt(a), v);
          }
          const eptp = encodeEptp({ memType: 6, walkLength: c.five ? 5 : 4, accessedDirty: c.ad, root: 0x1000 });
          let gpa = off;
          idx.forEach((b, k) => (gpa += b * 2 ** (12 + 9 * k)));
          const got = eptTranslate(mem, eptp, gpa, acc, { caps, maxPhysAddr: M, guestTable });
          const want = refEpt(ref, eptp, BigInt(gpa), acc, caps, M, guestTable);
          expect(got.kind).toBe(want.kind);
          expect(got.steps.map((s) => BigInt(s.entryPa))).toEqual(want.reads);
          if (got.kind === 'ok') expect(BigInt(got.hpa)).toBe(want.hpa);
          if (got.kind === 'violation') expect(got.qualification).toBe(want.qual);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
