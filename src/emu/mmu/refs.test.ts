/**
 * `Mmu.refs`: the memory references a walk makes, which the hypervisor's backends charge as
 * `page-walk-ref`. One per paging-structure entry read from memory: 4 for a 4-level walk to a
 * 4-KiB page, 3 to a 2-MiB page, 2 for 32-bit paging and for PAE (whose PDPTEs are registers,
 * SDM Vol. 3A 4.4.1), as many as were read before a fault; a TLB hit makes none.
 */
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { Mmu } from './mmu.ts';
import { PTE } from './bits.ts';
import type { PagingControl } from './types.ts';

const F = PTE.P | PTE.RW | PTE.US;

function ctl(mode: PagingControl['mode'], cr3: number, pdpte = new Uint32Array(8)): PagingControl {
  return { mode, cr3Lo: cr3, cr3Hi: 0, wp: true, pse: true, pge: false, pcide: false, nxe: true, pdpte, maxPhysAddr: 40 };
}

function w(mem: PhysMem, pa: number, v: number): void {
  mem.write(pa, 4, v >>> 0);
}

describe('Mmu.refs', () => {
  it('counts the entries a 4-level walk reads: 4 to a 4-KiB page, 3 to a 2-MiB page, none on a hit, up to the fault', () => {
    const mem = new PhysMem(4 << 20);
    w(mem, 0x1000, 0x2000 | F); // PML4[0]
    w(mem, 0x2000, 0x3000 | F); // PDPT[0]
    w(mem, 0x3000, 0x4000 | F); // PD[0] → PT
    w(mem, 0x3008, 0x200000 | F | PTE.PS); // PD[1]: a 2-MiB page
    w(mem, 0x4000 + 5 * 8, 0x100000 | F); // PT[5]
    const mmu = new Mmu(mem);
    const c = ctl('4level', 0x1000);
    expect(mmu.translate(c, 0x5000, 0, false, false, false)).toBe(0x100000);
    expect(mmu.refs).toBe(4);
    expect(mmu.translate(c, 0x5008, 0, false, false, false)).toBe(0x100008);
    expect(mmu.refs).toBe(4);
    expect(mmu.translate(c, 0x200010, 0, false, false, false)).toBe(0x200010);
    expect(mmu.refs).toBe(7);
    expect(mmu.translate(c, 0x6000, 0, false, false, false)).toBe(-1); // PT[6] not present: 4 entries read
    expect(mmu.refs).toBe(11);
    expect(mmu.translate(c, 0x40000000, 0, false, false, false)).toBe(-1); // PDPT[1] not present: 2
    expect(mmu.refs).toBe(13);
  });

  it('counts 2 for 32-bit paging and 2 for PAE, whose PDPTE comes from a register', () => {
    const mem = new PhysMem(4 << 20);
    w(mem, 0x1000, 0x2000 | F); // 32-bit PD[0] → PT
    w(mem, 0x2000 + 3 * 4, 0x300000 | F);
    const mmu = new Mmu(mem);
    expect(mmu.translate(ctl('32bit', 0x1000), 0x3000, 0, false, false, false)).toBe(0x300000);
    expect(mmu.refs).toBe(2);
    const pdpte = new Uint32Array(8);
    pdpte[0] = 0x5000 | PTE.P;
    w(mem, 0x5000, 0x6000 | F); // PAE PD[0] → PT
    w(mem, 0x6000 + 3 * 8, 0x380000 | F);
    mmu.flushAll(true);
    expect(mmu.translate(ctl('pae', 0x4000, pdpte), 0x3000, 0, false, false, false)).toBe(0x380000);
    expect(mmu.refs).toBe(4);
    expect(mmu.translate(ctl('pae', 0x4000, pdpte), 0x40000000, 0, false, false, false)).toBe(-1); // PDPTE 1 not present: nothing read
    expect(mmu.refs).toBe(4);
  });
});
