/**
 * No cached translation survives an invalidation that covers it, and (this model being exact) no
 * other one is dropped: random IOTLB contents in two domains (4 KiB and 2 MiB pages), then a
 * random invalidation, for VT-d (global, domain-selective, page-selective with an address mask)
 * and AMD-Vi (INVALIDATE_IOMMU_PAGES with S = 0 / 1, the all-pages address).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { ALL_PAGES_ADDRESS } from './amdvi.ts';
import { AmdKit, PageAlloc, VtdKit } from './testkit.ts';
import { requesterId } from './types.ts';
import { INV_DEVICE_OR_PAGE, INV_DOMAIN, INV_GLOBAL } from './vtd.ts';

const pageArb = fc.record({ dom: fc.integer({ min: 0, max: 1 }), big: fc.boolean(), n: fc.integer({ min: 0, max: 63 }) });
const sids = [requesterId(0, 1, 0), requesterId(0, 2, 0)];

const iovaOf = (p: { big: boolean; n: number }) => (p.big ? (1n << 30n) + (BigInt(p.n) << 21n) : BigInt(p.n) << 12n);

/** An invalidation address: `page` 4 KiB steps past a cached page's IOVA, or a low page. */
function nearAddr(pages: { big: boolean; n: number }[], inv: { near: boolean; pick: number; page: number }): bigint {
  return inv.near ? iovaOf(pages[inv.pick % pages.length]!) + (BigInt(inv.page) << 12n) : BigInt(inv.page % 64) << 12n;
}

/** Whether [start, start + size) meets [lo, hi). */
const covered = (start: bigint, size: bigint, lo: bigint, hi: bigint) => start < hi && lo < start + size;

describe('invalidation covers exactly what it names (fast-check)', () => {
  it('VT-d IOTLB register: global, DSI, PSI with AM', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(pageArb, { minLength: 1, maxLength: 20, selector: (p) => `${p.dom}/${p.big}/${p.n}` }),
        fc.record({ g: fc.constantFrom(INV_GLOBAL, INV_DOMAIN, INV_DEVICE_OR_PAGE), dom: fc.integer({ min: 0, max: 1 }), near: fc.boolean(), pick: fc.nat(), page: fc.integer({ min: 0, max: 511 }), am: fc.integer({ min: 0, max: 9 }) }),
        (pages, inv) => {
          const mem = new PhysMem(1 << 24);
          const k = new VtdKit(mem, new PageAlloc(0x100000));
          const roots = sids.map((sid, d) => k.context(sid, { did: 10 + d }));
          // 4 KiB pages below 256 KiB, 2 MiB pages from 1 GiB up
          for (const p of pages) k.map(roots[p.dom]!, 4, iovaOf(p), p.big ? 0x200000 : 0x5000, { r: true, w: true }, p.big ? 21 : 12);
          k.enable();
          for (const p of pages) expect(k.iommu.translate({ sid: sids[p.dom]!, iova: iovaOf(p), access: 'read', length: 1 }).ok).toBe(true);
          const before = k.iommu.iotlbEntries();
          expect(before.length).toBe(pages.length);
          // at or inside a cached page (4 KiB steps, so also inside a 2 MiB page), or among the 4 KiB pages
          const addr = nearAddr(pages, inv);
          k.iommu.write64(k.iommu.caps.iroOffset, addr | BigInt(inv.am));
          k.iommu.write64(k.iommu.caps.iroOffset + 8, (1n << 63n) | (BigInt(inv.g) << 60n) | (BigInt(10 + inv.dom) << 32n));
          const size = 1n << BigInt(12 + inv.am);
          const lo = addr & ~(size - 1n);
          const hit = (e: (typeof before)[number]) =>
            inv.g === INV_GLOBAL || (e.did === 10 + inv.dom && (inv.g === INV_DOMAIN || covered(BigInt('0x' + e.vpn) << BigInt(e.shift), 1n << BigInt(e.shift), lo, lo + size)));
          const after = k.iommu.iotlbEntries();
          expect(after).toEqual(before.filter((e) => !hit(e)));
          expect(k.iommu.read64(k.iommu.caps.iroOffset + 8) >> 63n).toBe(0n);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('AMD-Vi INVALIDATE_IOMMU_PAGES: S = 0 one page, S = 1 the range coded in the address, all pages', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(pageArb, { minLength: 1, maxLength: 20, selector: (p) => `${p.dom}/${p.big}/${p.n}` }),
        fc.record({ dom: fc.integer({ min: 0, max: 1 }), s: fc.boolean(), all: fc.boolean(), near: fc.boolean(), pick: fc.nat(), page: fc.integer({ min: 0, max: 511 }), ones: fc.integer({ min: 0, max: 20 }) }),
        (pages, inv) => {
          const mem = new PhysMem(1 << 24);
          const k = new AmdKit(mem, new PageAlloc(0x100000));
          const roots = sids.map((sid, d) => k.dte(sid, { domainId: 20 + d, mode: 3 }));
          for (const p of pages) k.map(roots[p.dom]!, 3, iovaOf(p), p.big ? 0x200000 : 0x5000, { r: true, w: true }, p.big ? 21 : 12);
          k.enable();
          for (const p of pages) expect(k.iommu.translate({ sid: sids[p.dom]!, iova: iovaOf(p), access: 'read', length: 1 }).ok).toBe(true);
          const before = k.iommu.iotlbEntries();
          // S = 1: `ones` one-bits from bit 12 then a zero → 2^(13 + ones) bytes
          let addr = inv.all ? ALL_PAGES_ADDRESS : nearAddr(pages, inv);
          let size = 1n << 12n;
          if (inv.all) size = 1n << 64n;
          else if (inv.s) {
            size = 1n << BigInt(13 + inv.ones);
            addr = (addr & ~(size - 1n)) | (((1n << BigInt(inv.ones)) - 1n) << 12n);
          }
          k.iommu.invalidatePages(20 + inv.dom, addr, inv.s || inv.all);
          const lo = inv.all ? 0n : addr & ~(size - 1n);
          const hit = (e: (typeof before)[number]) => e.domainId === 20 + inv.dom && covered(BigInt('0x' + e.vpn) << BigInt(e.shift), 1n << BigInt(e.shift), lo, lo + size);
          expect(k.iommu.iotlbEntries()).toEqual(before.filter((e) => !hit(e)));
        },
      ),
      { numRuns: 200 },
    );
  });
});
