import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../mem/physmem.ts';
import { TableBuilder } from '../mmu/nested-testkit.ts';
import { PTE } from '../mmu/bits.ts';
import { refTranslate } from '../../../tests/oracle/paging-reference.ts';
import { decodeNpfInfo } from './exitinfo.ts';
import { nestedPagingControl, nptTranslate, type NptControl, type NptResult } from './npt.ts';

const ROOT = 0x1000;
const TABLE = PTE.P | PTE.RW | PTE.US;

function setup(extra: Partial<NptControl> = {}) {
  const mem = new PhysMem(0x100000);
  const b = new TableBuilder(mem, 0x2000);
  const ctl: NptControl = { nCr3Lo: ROOT, nCr3Hi: 0, mode: '4level', nxe: true, maxPhysAddr: 40, ...extra };
  return { mem, b, ctl };
}

function npf(r: NptResult) {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error('no fault');
  expect(r.exitCode).toBe(0x400);
  expect(decodeNpfInfo(r.exitInfo1)).toEqual(r.info);
  return r;
}

const READ = { write: false, fetch: false };
const WRITE = { write: true, fetch: false };
const FETCH = { write: false, fetch: true };

describe('nested paging (APM 15.25.5)', () => {
  it('translates through N_CR3 with 4 KiB and 2 MiB pages', () => {
    const { mem, b, ctl } = setup();
    b.map(ROOT, 4, 0x5000, 0x9000, 12, TABLE, TABLE);
    b.map(ROOT, 4, 0x400000, 0x800000, 21, TABLE, TABLE | PTE.PS);
    const r = nptTranslate(mem, ctl, 0x5abc, READ, false);
    expect(r).toMatchObject({ ok: true, hpa: 0x9abc, pageSize: 4096 });
    expect(r.steps.map((s) => s.level)).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
    expect(nptTranslate(mem, ctl, 0x4abcde, WRITE, false)).toMatchObject({ ok: true, hpa: 0x8abcde, pageSize: 2 ** 21 });
  });

  it('every access is a user access: U/S = 0 anywhere faults, even for a read', () => {
    const { mem, b, ctl } = setup();
    b.map(ROOT, 4, 0x5000, 0x9000, 12, PTE.P | PTE.RW, TABLE);
    const f = npf(nptTranslate(mem, ctl, 0x5000, READ, false));
    expect(f.info).toMatchObject({ present: true, write: false, user: true, reserved: false, fetch: false });
  });

  it('not present: P = 0, EXITINFO2 the faulting guest-physical address', () => {
    const { mem, ctl } = setup();
    const f = npf(nptTranslate(mem, ctl, 0x12345678, WRITE, false));
    expect(f.info).toMatchObject({ present: false, write: true, user: true });
    expect(f.exitInfo2).toBe(0x12345678);
    expect(f.level).toBe('PML4E');
  });

  it('a write to a read-only page, whatever CR0.WP', () => {
    const { mem, b, ctl } = setup();
    b.map(ROOT, 4, 0x5000, 0x9000, 12, TABLE, PTE.P | PTE.US);
    expect(nptTranslate(mem, ctl, 0x5000, READ, false).ok).toBe(true);
    expect(npf(nptTranslate(mem, ctl, 0x5000, WRITE, false)).info).toMatchObject({ present: true, write: true, user: true });
  });

  it('NX with the host EFER.NXE: a fetch faults with I/D; without NXE bit 63 is reserved', () => {
    const { mem, b, ctl } = setup();
    b.map(ROOT, 4, 0x5000, 0x9000, 12, TABLE, TABLE, 0x80000000);
    expect(npf(nptTranslate(mem, ctl, 0x5000, FETCH, false)).info).toMatchObject({ present: true, fetch: true, reserved: false });
    expect(nptTranslate(mem, ctl, 0x5000, READ, false).ok).toBe(true);
    const noNx = npf(nptTranslate(mem, { ...ctl, nxe: false }, 0x5000, READ, false));
    expect(noNx.info).toMatchObject({ present: true, reserved: true });
  });

  it('reserved bits: address bits at MAXPHYADDR, PS in a PML4E', () => {
    const { mem, b, ctl } = setup();
    const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, TABLE, TABLE);
    b.set(leaf, 0x9000 | TABLE, 1 << (40 - 32));
    expect(npf(nptTranslate(mem, ctl, 0x5000, READ, false)).info).toMatchObject({ present: true, reserved: true });
    expect(nptTranslate(mem, { ...ctl, maxPhysAddr: 41 }, 0x5000, READ, false)).toMatchObject({ ok: true, hpa: 2 ** 40 + 0x9000 });
    const s = setup();
    s.b.set(ROOT, TABLE | PTE.PS);
    expect(npf(nptTranslate(s.mem, s.ctl, 0x5000, READ, false)).info.reserved).toBe(true);
  });

  it('EXITINFO1 bit 32 on the final address, bit 33 on a guest page-table access (checked as a write)', () => {
    const { mem, b, ctl } = setup();
    b.map(ROOT, 4, 0x5000, 0x9000, 12, TABLE, PTE.P | PTE.US);
    const fin = npf(nptTranslate(mem, ctl, 0x5000, { ...WRITE, stage: 'final' }, false));
    expect(fin.exitInfo1.hi).toBe(1);
    expect(fin.info).toMatchObject({ finalGpa: true, guestTable: false });
    const tab = npf(nptTranslate(mem, ctl, 0x5000, { ...READ, stage: 'guest-table' }, false));
    expect(tab.exitInfo1.hi).toBe(2);
    expect(tab.info).toMatchObject({ finalGpa: false, guestTable: true, write: true, user: true, present: true });
    const none = npf(nptTranslate(mem, ctl, 0x6000, READ, false));
    expect(none.exitInfo1.hi).toBe(0);
    expect(nptTranslate(mem, ctl, 0x5000, { ...READ, stage: 'final' }, false).ok).toBe(true);
  });

  it('sets A/D in the nested tables only with side effects', () => {
    const { mem, b, ctl } = setup();
    const leaf = b.map(ROOT, 4, 0x5000, 0x9000, 12, TABLE, TABLE);
    nptTranslate(mem, ctl, 0x5000, WRITE, false);
    expect(mem.read(leaf, 4) & (PTE.A | PTE.D)).toBe(0);
    nptTranslate(mem, ctl, 0x5000, WRITE, true);
    expect(mem.read(leaf, 4) & (PTE.A | PTE.D)).toBe(PTE.A | PTE.D);
  });

  it('supports long-mode hosts only', () => {
    expect(() => nestedPagingControl({ nCr3Lo: 0, nCr3Hi: 0, mode: 'pae' as '4level', nxe: true, maxPhysAddr: 40 })).toThrow(RangeError);
    expect(nestedPagingControl({ nCr3Lo: 0x1000, nCr3Hi: 0, mode: '5level', nxe: false, maxPhysAddr: 52 }).mode).toBe('5level');
  });

  it('random nested tables agree with the independent paging reference (user accesses; fast-check)', () => {
    const TABLES = [0x1000, 0x2000, 0x3000, 0x4000];
    const FRAMES = [...TABLES, 0x200000, 0x40000000, 0x12345000];
    const flagBits = [0, 1, 2, 5, 6, 7, 8, 13, 21];
    const entryArb = fc
      .record({ flags: fc.subarray(flagBits), frame: fc.constantFrom(...FRAMES), hi: fc.subarray([36, 39, 51, 52, 63]) })
      .map(({ flags, frame, hi }) => [...flags, ...hi].reduce((v, f) => v | (1n << BigInt(f)), BigInt(frame)));
    const goodArb = fc
      .tuple(fc.constantFrom(...TABLES), fc.constantFrom(7n, 7n, 5n, 3n, 1n), fc.constantFrom(0n, 0n, 0n, 0x80n), fc.constantFrom(0n, 0n, 1n << 63n))
      .map(([f, perm, ps, nx]) => BigInt(f) | perm | ps | nx);
    fc.assert(
      fc.property(
        // Entries 0 and 1 of each of the four table pages (a zero one is not present).
        fc.array(fc.oneof({ weight: 1, arbitrary: fc.constant(0n) }, { weight: 6, arbitrary: goodArb }, { weight: 2, arbitrary: entryArb }), {
          minLength: 8,
          maxLength: 8,
        }),
        fc.boolean(),
        fc.constantFrom(36, 40, 52),
        fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 4, maxLength: 4 }),
        fc.constantFrom(READ, WRITE, FETCH),
        fc.constantFrom(undefined, 'final' as const, 'guest-table' as const),
        (slots, nxe, M, idx, acc, stage) => {
          // Unbacked addresses read as 0 here, as in the reference's Map.
          const mem = new PhysMem(0x10000, { read: () => 0, write: () => {} });
          const ref = new Map<bigint, bigint>();
          for (const [k, v] of slots.entries()) {
            const a = TABLES[k >> 1]! + (k & 1) * 8;
            mem.write(a, 4, Number(v & 0xffffffffn));
            mem.write(a + 4, 4, Number(v >> 32n));
            ref.set(BigInt(a), v);
          }
          let gpa = 0x123;
          idx.forEach((b, k) => (gpa += b * 2 ** (12 + 9 * k)));
          const got = nptTranslate(mem, { nCr3Lo: 0x1000, nCr3Hi: 0, mode: '4level', nxe, maxPhysAddr: M }, gpa, { ...acc, stage }, false);
          const tableWrite = stage === 'guest-table';
          const want = refTranslate(
            { mode: '4level', cr3: 0x1000n, wp: false, pse: true, pge: false, nxe, pdpte: [], maxPhysAddr: M },
            ref,
            BigInt(gpa),
            { write: acc.write || tableWrite, fetch: acc.fetch && !tableWrite, user: true },
          );
          expect(got.ok).toBe(want.ok);
          expect(got.steps.map((s) => BigInt(s.entryPa))).toEqual(want.reads);
          if (got.ok) expect(BigInt(got.hpa)).toBe(want.pa);
          else {
            expect(got.exitInfo1.lo).toBe(want.errorCode);
            expect(got.exitInfo1.hi).toBe(stage === 'final' ? 1 : stage === 'guest-table' ? 2 : 0);
            expect(got.exitInfo2).toBe(gpa);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
