import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { refTranslate } from '../../../tests/oracle/paging-reference.ts';
import type { RefCtl, RefMode } from '../../../tests/oracle/paging-reference.ts';
import { PhysMem } from '../mem/physmem.ts';
import { Mmu } from './mmu.ts';
import { hasReservedBitSet, reservedBits, type ReservedControl } from './entry.ts';
import type { PagingControl, WalkStep } from './types.ts';

const LEVELS: Record<RefMode, WalkStep['level'][]> = {
  '32bit': ['PDE', 'PTE'],
  pae: ['PDPTE', 'PDE', 'PTE'],
  '4level': ['PML4E', 'PDPTE', 'PDE', 'PTE'],
  '5level': ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'],
};
const SHIFT: Record<string, number> = { PML5E: 48, PML4E: 39, PDPTE: 30, PDE: 21, PTE: 12 };
const TABLE = 0x10000n;

/**
 * Runs the independent reference model on a chain of plain entries (P, R/W, U/S) that leads to
 * `entry` at `level`, and says whether the walk stopped at that level with a reserved-bit fault.
 */
function refSaysReserved(ctl: Omit<RefCtl, 'cr3' | 'pdpte'>, level: WalkStep['level'], entry: bigint): boolean {
  const names = LEVELS[ctl.mode];
  const la = ctl.mode === '5level' ? 0x00ab_cdef_1234_5678n : ctl.mode === '4level' ? 0x0000_6b9d_e5c3_7123n : 0xa5c3_7123n;
  const mem = new Map<bigint, bigint>();
  const pdpte = [0n, 0n, 0n, 0n];
  let table = TABLE;
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!;
    const next = TABLE + BigInt(k + 1) * 0x1000n;
    const value = name === level ? entry : next | 7n;
    if (ctl.mode === 'pae' && name === 'PDPTE') pdpte[Number((la >> 30n) & 3n)] = name === level ? entry : next | 1n;
    else {
      const addr = ctl.mode === '32bit' ? table + ((la >> BigInt(name === 'PDE' ? 22 : 12)) & 0x3ffn) * 4n : table + ((la >> BigInt(SHIFT[name]!)) & 0x1ffn) * 8n;
      mem.set(addr, value);
    }
    if (name === level) break;
    table = next;
  }
  const r = refTranslate({ ...ctl, cr3: TABLE, pdpte }, mem, la, { write: false, fetch: false, user: false });
  return !r.ok && r.faultLevel === level && (r.errorCode & 8) !== 0;
}

const modeArb = fc.constantFrom<RefMode>('32bit', 'pae', '4level', '5level');
const entryArb = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => v | 1n);

describe('reservedBits agrees with the independent SDM reference model', () => {
  it('a present entry has a reserved bit set exactly when the reference walk stops there with RSVD = 1', () => {
    fc.assert(
      fc.property(
        modeArb,
        fc.nat(4),
        entryArb,
        fc.constantFrom(36, 39, 40, 46, 48, 52),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<boolean | undefined>(true, false, undefined),
        fc.boolean(),
        fc.array(fc.nat(63), { maxLength: 2 }),
        (mode, li, raw, maxPhysAddr, nxe, pse, page1gb, ps, flips) => {
          const names = LEVELS[mode];
          const level = names[li % names.length]!;
          // The reference only checks PAE PDPTE registers at load time: see the next test.
          fc.pre(!(mode === 'pae' && level === 'PDPTE'));
          // An entry that would be valid (address bits below MAXPHYADDR and 1-GByte aligned, flags,
          // PS as drawn) with up to two bits flipped anywhere: the cases near each mask's edges.
          const addr = raw & ((1n << BigInt(maxPhysAddr)) - 1n) & ~0x3fffffffn;
          let entry = (addr | (raw & 0x77fn) | (ps ? 0x80n : 0n) | 1n) ^ flips.reduce((m, b) => m | (1n << BigInt(b)), 0n);
          entry = (mode === '32bit' ? entry & 0xffffffffn : entry) | 1n;
          const ctl: ReservedControl = { mode, maxPhysAddr, nxe, pse, ...(page1gb === undefined ? {} : { page1gb }) };
          const got = hasReservedBitSet(ctl, level, Number(entry & 0xffffffffn), Number(entry >> 32n));
          const ref = refSaysReserved({ mode, maxPhysAddr, nxe, pse, wp: false, pge: false, ...(page1gb === undefined ? {} : { page1gb }) }, level, entry);
          expect(got, `${mode} ${level} 0x${entry.toString(16)} M=${maxPhysAddr} nxe=${nxe} pse=${pse} 1g=${page1gb}`).toBe(ref);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('PAE PDPTE registers: the bits MOV to CR3 refuses to load (2:1, 8:5, 63:MAXPHYADDR)', () => {
    const mem = new PhysMem(1 << 20, { read: () => 0, write: () => {} });
    const mmu = new Mmu(mem);
    fc.assert(
      fc.property(entryArb, fc.constantFrom(36, 40, 52), (entry, maxPhysAddr) => {
        const lo = Number(entry & 0xffffffffn);
        const hi = Number(entry >> 32n);
        mem.write(0x20000, 4, lo);
        mem.write(0x20004, 4, hi);
        const ctl: PagingControl = {
          mode: 'pae', cr3Lo: 0x20000, cr3Hi: 0, wp: false, pse: false, pge: false, pcide: false, nxe: true, pdpte: new Uint32Array(8), maxPhysAddr,
        };
        expect(hasReservedBitSet(ctl, 'PDPTE', lo, hi)).toBe(!mmu.loadPdptes(ctl, new Uint32Array(8)));
      }),
      { numRuns: 2000 },
    );
    expect(reservedBits({ mode: 'pae', maxPhysAddr: 36, nxe: true, pse: false }, 'PDPTE', 1, 0)).toEqual({ lo: 0b1_1110_0110, hi: 0xfffffff0 });
  });

  it('has no reserved bits in a not-present entry, with paging off, or in a 32-bit PTE', () => {
    const ctl: ReservedControl = { mode: '4level', maxPhysAddr: 40, nxe: false, pse: false };
    expect(reservedBits(ctl, 'PML4E', 0xfffffffe, 0xffffffff)).toEqual({ lo: 0, hi: 0 });
    expect(reservedBits({ ...ctl, mode: 'none' }, 'PTE', 0xffffffff, 0)).toEqual({ lo: 0, hi: 0 });
    expect(reservedBits({ ...ctl, mode: '32bit' }, 'PTE', 0xffffffff, 0)).toEqual({ lo: 0, hi: 0 });
  });

  it('names the 4-level masks of the SDM tables: 51:M and 63 without NXE; PS in a PML4E; 20:13 in a 2-MByte PDE', () => {
    const ctl: ReservedControl = { mode: '4level', maxPhysAddr: 40, nxe: false, pse: false };
    expect(reservedBits(ctl, 'PML4E', 0x1, 0)).toEqual({ lo: 0x80, hi: 0x800fff00 });
    expect(reservedBits({ ...ctl, nxe: true }, 'PTE', 0x1, 0)).toEqual({ lo: 0, hi: 0x000fff00 });
    expect(reservedBits({ ...ctl, nxe: true }, 'PDE', 0x81, 0)).toEqual({ lo: 0x001fe000, hi: 0x000fff00 });
    expect(reservedBits({ ...ctl, nxe: true }, 'PDPTE', 0x81, 0)).toEqual({ lo: 0x3fffe000, hi: 0x000fff00 });
    expect(reservedBits({ ...ctl, nxe: true, page1gb: false }, 'PDPTE', 0x81, 0)).toEqual({ lo: 0x80, hi: 0x000fff00 });
  });
});
