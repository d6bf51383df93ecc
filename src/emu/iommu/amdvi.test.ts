import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { ALL_PAGES_ADDRESS, AMDVI_EVENT, AMDVI_REG, EVENT_FLAG_RW, IOPTE, STATUS_EVENT_LOG_INT, STATUS_EVENT_OVERFLOW, type AmdViRemapper } from './amdvi.ts';
import { AmdKit, PageAlloc, at, getEntry, putEntry } from './testkit.ts';
import { doDma, requesterId, type DmaOutcome, type DmaRequest } from './types.ts';

const RAM = 1 << 24;
const DEV = requesterId(1, 2, 0);

function setup(o: { devTablePages?: number; logLen?: number } = {}) {
  const mem = new PhysMem(RAM);
  const alloc = new PageAlloc(0x100000);
  const k = new AmdKit(mem, alloc, o.devTablePages ?? 16, o.logLen ?? 8);
  return { mem, alloc, k, iommu: k.iommu };
}

const rd = (iova: bigint, sid = DEV): DmaRequest => ({ sid, iova, access: 'read', length: 4 });
const wr = (iova: bigint, sid = DEV): DmaRequest => ({ sid, iova, access: 'write', length: 4 });

function event(o: DmaOutcome) {
  if (o.ok || o.fault.vendor !== 'amd-vi') throw new Error('expected an AMD-Vi fault');
  return o.fault;
}

const status = (iommu: AmdViRemapper) => iommu.read64(AMDVI_REG.STATUS);

describe('AMD-Vi translation', () => {
  it('passes everything through while IOMMU_EN = 0', () => {
    const { iommu } = setup();
    expect(iommu.translate(wr(0x4321n))).toMatchObject({ ok: true, hpa: 0x4321, refs: [] });
  });

  for (const mode of [1, 2, 3, 4, 5, 6]) {
    it(`walks ${mode} level${mode > 1 ? 's' : ''} (Mode ${mode}) for a read and a write`, () => {
      const { k, iommu, mem } = setup();
      const root = k.dte(DEV, { domainId: 0x31, mode });
      const reach = 12 + 9 * mode;
      const iova = mode === 1 ? 0x1f5000n : ((0x1_2345_6789_a000n * 7n) & ((1n << BigInt(Math.min(reach, 64))) - 1n)) & ~0xfffn;
      k.map(root, mode, iova, 0x345000, { r: true, w: true });
      k.enable();
      const o = iommu.translate(wr(iova + 0x20n));
      expect(o).toMatchObject({ ok: true, hpa: 0x345020, domainId: 0x31, pageSize: 4096 });
      expect(o.refs.map((r) => [r.kind, r.level, r.decision])).toEqual([
        ['device-table-entry', 0, 'next'],
        ...Array.from({ length: mode }, (_, i) => ['page-table-entry', mode - i, i === mode - 1 ? 'leaf' : 'next']),
      ]);
      expect(o.refs[0]).toMatchObject({ index: DEV, pa: k.devTable + DEV * 32 });
      for (const r of o.refs) expect(getEntry(mem, r.pa, r.kind === 'device-table-entry' ? 8 : 2)).toBe(r.raw);
      doDma(iommu, mem, wr(iova + 0x20n), Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
      expect(mem.read(0x345020, 4)).toBe(0xefbeadde);
      if (reach < 64) expect(event(iommu.translate(rd(1n << BigInt(reach)))).code).toBe(AMDVI_EVENT.IO_PAGE_FAULT);
    });
  }

  it('a PDE with Next Level 0 maps a large page (2 MB at level 2)', () => {
    const { k, iommu } = setup();
    const root = k.dte(DEV, { domainId: 1, mode: 3 });
    k.map(root, 3, 0x4000_0000n, 0x80_0000, { r: true, w: true }, 21);
    k.enable();
    expect(iommu.translate(rd(0x4001_2344n))).toMatchObject({ ok: true, hpa: 0x81_2344, pageSize: 2 << 20 });
  });

  it('Next Level 7 maps a page of the size coded in its address (three ones from bit 12 → 64 KB)', () => {
    const { k, iommu, mem } = setup();
    const root = k.dte(DEV, { domainId: 1, mode: 2 });
    const leaf = k.map(root, 2, 0x30000n, 0x0, { r: true, w: true });
    // host page 0x500000, size 64 KB: address bits 14:12 = 111, bit 15 = 0; software replicates
    // the entry in all 16 slots the page spans (Linux amd/io_pgtable.c does), the walk reads one
    for (let i = 0; i < 16; i++) putEntry(mem, leaf + 8 * i, 0x507000n | at(IOPTE.PR, 1) | at([IOPTE.NL_HI, IOPTE.NL_LO], 7) | at(IOPTE.IR, 1) | at(IOPTE.IW, 1), 2);
    k.enable();
    const o = iommu.translate(rd(0x3abccn));
    expect(o).toMatchObject({ ok: true, hpa: 0x50abcc, pageSize: 64 << 10 });
    expect(o.refs.at(-1)).toMatchObject({ level: 1, index: 0x3a, decision: 'leaf' });
    // the IOTLB now answers for the whole 64 KB
    expect(iommu.translate(rd(0x30000n))).toMatchObject({ ok: true, hpa: 0x500000, iotlbHit: true });
  });

  it('skips levels: a Mode-4 root entry pointing straight at a level-1 table, the skipped IOVA bits zero', () => {
    const { k, iommu, mem, alloc } = setup();
    const root = k.dte(DEV, { domainId: 2, mode: 4 });
    const l1 = alloc.page();
    putEntry(mem, root, BigInt(l1) | at(IOPTE.PR, 1) | at([IOPTE.NL_HI, IOPTE.NL_LO], 1) | at(IOPTE.IR, 1) | at(IOPTE.IW, 1), 2);
    putEntry(mem, l1 + 5 * 8, 0x777000n | at(IOPTE.PR, 1) | at(IOPTE.IR, 1), 2);
    k.enable();
    const o = iommu.translate(rd(0x5008n));
    expect(o).toMatchObject({ ok: true, hpa: 0x777008 });
    expect(o.refs.map((r) => r.level)).toEqual([0, 4, 1]);
    // IOVA bit 21 would index the skipped level 2: fault
    expect(event(iommu.translate(rd(0x20_5000n))).code).toBe(AMDVI_EVENT.IO_PAGE_FAULT);
  });

  it('V = 0, and V = 1 with TV = 0, pass through untranslated; Mode 0 passes through but checks IR/IW', () => {
    const { k, iommu } = setup();
    k.dte(DEV, { domainId: 1, v: false });
    k.dte(DEV + 1, { domainId: 1, tv: false });
    k.dte(DEV + 2, { domainId: 4, mode: 0, r: true, w: false });
    k.enable();
    expect(iommu.translate(wr(0x9000n))).toMatchObject({ ok: true, hpa: 0x9000 });
    expect(iommu.translate(wr(0x9000n, DEV + 1))).toMatchObject({ ok: true, hpa: 0x9000 });
    expect(iommu.translate(rd(0x9000n, DEV + 2))).toMatchObject({ ok: true, hpa: 0x9000, domainId: 4 });
    const e = event(iommu.translate(wr(0x9000n, DEV + 2)));
    expect(e.event).toMatchObject({ code: AMDVI_EVENT.IO_PAGE_FAULT, domainId: 4, flags: EVENT_FLAG_RW });
  });
});

describe('AMD-Vi events', () => {
  const faults: { name: string; code: number; write?: boolean; build: (s: ReturnType<typeof setup>) => void; domain?: number; address?: (s: ReturnType<typeof setup>) => bigint }[] = [
    { name: 'leaf not present', code: 2, build: ({ k }) => void k.dte(DEV, { domainId: 6, mode: 3 }), domain: 6 },
    { name: 'write to a page without IW', code: 2, write: true, build: ({ k }) => k.map(k.dte(DEV, { domainId: 6, mode: 3 }), 3, 0x3000n, 0x8000, { r: true, w: false }), domain: 6 },
    { name: 'read of a page without IR', code: 2, build: ({ k }) => k.map(k.dte(DEV, { domainId: 6, mode: 3 }), 3, 0x3000n, 0x8000, { r: false, w: true }), domain: 6 },
    { name: 'write with DTE.IW = 0', code: 2, write: true, build: ({ k }) => k.map(k.dte(DEV, { domainId: 6, mode: 3, w: false }), 3, 0x3000n, 0x8000, { r: true, w: true }), domain: 6 },
    {
      name: 'reserved bit 55 in a PTE',
      code: 2,
      build: ({ k, mem }) => {
        const pa = k.map(k.dte(DEV, { domainId: 6, mode: 3 }), 3, 0x3000n, 0x8000, { r: true, w: true });
        putEntry(mem, pa, getEntry(mem, pa, 2) | (1n << 55n), 2);
      },
      domain: 6,
    },
    {
      name: 'Next Level not below the current level',
      code: 2,
      build: ({ k, mem, alloc }) => {
        // the entry points at a complete level-3 table with Next Level 3: a walker that
        // followed it would find a mapping; the rule makes it a fault
        const root = k.dte(DEV, { domainId: 6, mode: 3 });
        const t = alloc.page();
        k.map(t, 3, 0x3000n, 0x8000, { r: true, w: true });
        putEntry(mem, root, BigInt(t) | at(IOPTE.PR, 1) | at([IOPTE.NL_HI, IOPTE.NL_LO], 3) | at(IOPTE.IR, 1) | at(IOPTE.IW, 1), 2);
      },
      domain: 6,
    },
    { name: 'DTE reserved bit 3', code: 1, build: ({ k }) => void k.dte(DEV, { domainId: 6, extra: 1n << 3n }), domain: 0 },
    { name: 'DTE Mode 7', code: 1, build: ({ k }) => void k.dte(DEV, { domainId: 6, mode: 7 }), domain: 0 },
    {
      name: 'device table outside memory',
      code: 3,
      build: ({ iommu }) => iommu.write64(AMDVI_REG.DEV_TABLE_BASE, BigInt(RAM) | 15n),
      domain: 0,
      address: () => BigInt(RAM + DEV * 32),
    },
    {
      name: 'page-table root outside memory',
      code: 4,
      build: ({ k }) => void k.dte(DEV, { domainId: 6, mode: 3, root: RAM + 0x1000 * 8 }),
      domain: 6,
      address: () => BigInt(RAM + 0x1000 * 8),
    },
  ];

  for (const f of faults) {
    it(`${f.name} → event type ${f.code}, written at the tail exactly`, () => {
      const s = setup();
      f.build(s);
      s.k.enable();
      const iova = 0x3010n;
      const o = s.iommu.translate(f.write ? wr(iova) : rd(iova));
      const e = event(o);
      expect(e.logged).toBe(true);
      expect(e.event).toMatchObject({ code: f.code, deviceId: DEV, domainId: f.domain, flags: f.write ? EVENT_FLAG_RW : 0, address: f.address?.(s) ?? iova });
      expect(s.k.eventTail()).toBe(16);
      expect(s.iommu.readEvent(0)).toEqual(e.event);
      expect((status(s.iommu) >> BigInt(STATUS_EVENT_LOG_INT)) & 1n).toBe(1n);
      expect(s.iommu.iotlbEntries()).toEqual([]);
    });
  }

  it('a DeviceID beyond the device table\'s Size is ILLEGAL_DEV_TABLE_ENTRY', () => {
    const { k, iommu } = setup({ devTablePages: 1 }); // 128 DTEs
    k.enable();
    expect(event(iommu.translate(rd(0x1000n, 128))).event).toMatchObject({ code: 1, deviceId: 128 });
    expect(iommu.translate(rd(0x1000n, 127)).ok).toBe(true); // a zero DTE: V = 0
  });

  it('DTE.SA suppresses IO_PAGE_FAULT logging; the request is still blocked', () => {
    const { k, iommu } = setup();
    k.dte(DEV, { domainId: 6, mode: 3, sa: true });
    k.enable();
    expect(event(iommu.translate(rd(0x1000n)))).toMatchObject({ logged: false, code: 2 });
    expect(k.eventTail()).toBe(0);
  });

  it('nothing is logged with EVT_LOG_EN = 0; a full log sets EventOverflow and drops the event; head frees a slot', () => {
    const off = setup();
    off.k.dte(DEV, { domainId: 6, mode: 3 });
    off.k.enable(false);
    expect(event(off.iommu.translate(rd(0x1000n))).logged).toBe(false);

    const { k, iommu } = setup({ logLen: 8 }); // 256 entries
    k.dte(DEV, { domainId: 6, mode: 3 });
    k.enable();
    for (let i = 0; i < 255; i++) expect(event(iommu.translate(rd(BigInt(i) << 12n))).logged).toBe(true);
    expect(k.eventTail()).toBe(255 * 16);
    const lost = event(iommu.translate(rd(0xfff000n)));
    expect(lost.logged).toBe(false);
    expect((status(iommu) >> BigInt(STATUS_EVENT_OVERFLOW)) & 1n).toBe(1n);
    iommu.write64(AMDVI_REG.STATUS, 1n << BigInt(STATUS_EVENT_OVERFLOW)); // RW1C
    expect((status(iommu) >> BigInt(STATUS_EVENT_OVERFLOW)) & 1n).toBe(0n);
    iommu.write64(AMDVI_REG.EVENT_HEAD, 16n * 10n);
    expect(event(iommu.translate(rd(0xffe000n))).logged).toBe(true);
    expect(k.eventTail()).toBe(0); // wrapped
    expect(iommu.readEvent(255 * 16).address).toBe(0xffe000n);
  });
});

describe('AMD-Vi IOTLB and device-table cache', () => {
  function twoDomains() {
    const s = setup();
    const devB = requesterId(1, 3, 0);
    const a = s.k.dte(DEV, { domainId: 10, mode: 3 });
    const b = s.k.dte(devB, { domainId: 11, mode: 3 });
    const leafA = s.k.map(a, 3, 0x1000n, 0xa000, { r: true, w: true });
    const leafA2 = s.k.map(a, 3, 0x4_0000_0000n, 0xa1000, { r: true, w: true });
    const leafB = s.k.map(b, 3, 0x1000n, 0xb000, { r: true, w: true });
    s.k.enable();
    for (const [sid, iova] of [[DEV, 0x1000n], [DEV, 0x4_0000_0000n], [devB, 0x1000n]] as const) s.iommu.translate(rd(iova, sid));
    return { ...s, devB, leafA, leafA2, leafB };
  }
  const retarget = (mem: PhysMem, pa: number, hpa: number) => putEntry(mem, pa, (getEntry(mem, pa, 2) & ~0x000ffffffffff000n) | BigInt(hpa), 2);

  it('a stale entry is used until INVALIDATE_IOMMU_PAGES covers it (S = 0: one page)', () => {
    const { iommu, mem, leafA } = twoDomains();
    retarget(mem, leafA, 0xc000);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true, refs: [] });
    iommu.invalidatePages(10, 0x2000n, false);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true });
    iommu.invalidatePages(11, 0x1000n, false); // other domain, same address
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true });
    iommu.invalidatePages(10, 0x1000n, false);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xc000, iotlbHit: false });
    expect(iommu.stats).toMatchObject({ iotlbHits: 3, iotlbMisses: 4 });
  });

  it('S = 1 ranges: bit 12 zero → 8 KB; the all-pages address drops the whole domain and nothing else', () => {
    const { iommu, mem, leafA, leafA2, leafB, devB } = twoDomains();
    retarget(mem, leafA, 0xc000);
    retarget(mem, leafA2, 0xc1000);
    retarget(mem, leafB, 0xd000);
    iommu.invalidatePages(10, 0x0n, true); // 8 KB at 0: covers page 0x1000
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xc000, iotlbHit: false });
    expect(iommu.translate(rd(0x4_0000_0000n))).toMatchObject({ hpa: 0xa1000, iotlbHit: true });
    iommu.invalidatePages(10, ALL_PAGES_ADDRESS, true);
    expect(iommu.translate(rd(0x4_0000_0000n))).toMatchObject({ hpa: 0xc1000, iotlbHit: false });
    expect(iommu.translate(rd(0x1000n, devB))).toMatchObject({ hpa: 0xb000, iotlbHit: true });
  });

  it('the DTE cache keeps an edited DTE until INVALIDATE_DEVTAB_ENTRY; INVALIDATE_IOMMU_ALL drops everything', () => {
    const { k, iommu, devB } = twoDomains();
    k.dte(DEV, { domainId: 12, mode: 0 }); // now pass-through in domain 12
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ domainId: 10, hpa: 0xa000 });
    iommu.invalidateDevtabEntry(devB);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ domainId: 10 });
    iommu.invalidateDevtabEntry(DEV);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ domainId: 12, hpa: 0x1000 });
    iommu.invalidateAll();
    expect(iommu.iotlbEntries()).toEqual([]);
    expect(iommu.stats.dteHits).toBeGreaterThan(0);
  });

  it('snapshot/restore is JSON-safe', () => {
    const { iommu, mem, leafA } = twoDomains();
    const snap = JSON.parse(JSON.stringify(iommu.snapshot())) as ReturnType<AmdViRemapper['snapshot']>;
    iommu.invalidateAll();
    iommu.write64(AMDVI_REG.CONTROL, 0n);
    retarget(mem, leafA, 0xc000);
    iommu.restore(snap);
    expect(iommu.enabled).toBe(true);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true });
  });
});
