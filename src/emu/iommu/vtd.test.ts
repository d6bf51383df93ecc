import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { PageAlloc, VtdKit, at, getEntry, putEntry } from './testkit.ts';
import { doDma, requesterId, type DmaOutcome, type DmaRequest } from './types.ts';
import { CAP_DEFAULT, CTX_E, FRCD, FSTS, INV_DEVICE_OR_PAGE, INV_DOMAIN, INV_GLOBAL, SL_SNP, SL_SP, VTD_FAULT, VTD_REG, VtdRemapper } from './vtd.ts';

const RAM = 1 << 24; // 16 MiB
const SID = requesterId(2, 5, 3);

function setup(opts: { cap?: bigint } = {}) {
  const mem = new PhysMem(RAM);
  const alloc = new PageAlloc(0x100000);
  const k = new VtdKit(mem, alloc, new VtdRemapper(mem, opts));
  return { mem, alloc, k, iommu: k.iommu };
}

const rd = (iova: bigint, sid = SID, length = 4): DmaRequest => ({ sid, iova, access: 'read', length });
const wr = (iova: bigint, sid = SID, length = 4): DmaRequest => ({ sid, iova, access: 'write', length });

/** Reads fault-recording register `i` raw and decodes it with the FRCD positions. */
function rawRecord(iommu: VtdRemapper, i: number) {
  const base = iommu.caps.froOffset + 16 * i;
  const v = (iommu.read64(base + 8) << 64n) | iommu.read64(base);
  const f = (r: readonly [number, number]) => Number((v >> BigInt(r[1])) & ((1n << BigInt(r[0] - r[1] + 1)) - 1n));
  return { F: Number((v >> BigInt(FRCD.F)) & 1n), T: Number((v >> BigInt(FRCD.T)) & 1n), FR: f(FRCD.FR), SID: f(FRCD.SID), FI: BigInt(f(FRCD.FI)) << 12n };
}

function fsts(iommu: VtdRemapper) {
  const v = iommu.read32(VTD_REG.FSTS);
  return { PFO: (v >>> FSTS.PFO) & 1, PPF: (v >>> FSTS.PPF) & 1, FRI: (v >>> FSTS.FRI[1]) & 0xff };
}

function blocked(o: DmaOutcome): number {
  if (o.ok || o.fault.vendor !== 'vtd') throw new Error(`expected a VT-d fault, got ${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  return o.fault.reason;
}

describe('VT-d translation', () => {
  it('does nothing until GSTS.TES: the address is host-physical', () => {
    const { iommu } = setup();
    expect(iommu.translate(rd(0x1234n))).toMatchObject({ ok: true, hpa: 0x1234, domainId: -1, refs: [] });
  });

  for (const aw of [1, 2]) {
    const levels = aw + 2;
    it(`translates a read and a write through ${levels} levels (AW ${aw}), listing each reference`, () => {
      const { k, iommu, mem } = setup();
      const slpt = k.context(SID, { did: 7, aw });
      const iova = aw === 1 ? 0x40_1234_5000n : 0x7f_4020_1000n;
      k.map(slpt, levels, iova, 0xabc000, { r: true, w: true });
      k.enable();
      const o = iommu.translate(wr(iova + 0x10n));
      expect(o).toMatchObject({ ok: true, hpa: 0xabc010, domainId: 7, iotlbHit: false, pageSize: 4096 });
      expect(o.refs.map((r) => [r.kind, r.level, r.decision])).toEqual([
        ['root-entry', 0, 'next'],
        ['context-entry', 0, 'next'],
        ...Array.from({ length: levels }, (_, i) => ['page-table-entry', levels - i, i === levels - 1 ? 'leaf' : 'next']),
      ]);
      expect(o.refs[0]!.index).toBe(2);
      expect(o.refs[1]!.index).toBe(SID & 0xff);
      for (const r of o.refs) expect(getEntry(mem, r.pa, r.kind === 'page-table-entry' ? 2 : 4)).toBe(r.raw);
      // the DMA itself lands there
      const data = Uint8Array.of(1, 2, 3, 4);
      doDma(iommu, mem, wr(iova + 0x10n), data);
      expect(mem.read(0xabc010, 4)).toBe(0x04030201);
      expect(doDma(iommu, mem, rd(iova + 0x10n)).bytes).toEqual(data);
    });
  }

  it('maps a 2 MB super page at level 2 (CAP bit 34)', () => {
    const { k, iommu } = setup();
    const slpt = k.context(SID, { did: 1 });
    k.map(slpt, 4, 0x4000_0000n, 0x60_0000, { r: true, w: false }, 21);
    k.enable();
    const o = iommu.translate(rd(0x4000_0000n + 0x1_2344n));
    expect(o).toMatchObject({ ok: true, hpa: 0x61_2344, pageSize: 2 << 20 });
    expect(o.refs.at(-1)).toMatchObject({ level: 2, decision: 'leaf' });
    expect(blocked(iommu.translate(wr(0x4000_0000n)))).toBe(VTD_FAULT.WRITE);
  });

  it('maps a 1 GB super page only when CAP bit 35 says so; otherwise SP at level 3 is reserved (0xc)', () => {
    for (const sp1g of [true, false]) {
      const { k, iommu } = setup({ cap: sp1g ? CAP_DEFAULT | (1n << 35n) : CAP_DEFAULT });
      const slpt = k.context(SID, { did: 1 });
      k.map(slpt, 4, 0x80_4000_0000n, 0x4000_0000, { r: true, w: true }, 30);
      k.enable();
      const o = iommu.translate(rd(0x80_4000_0000n + 0x123_4567n));
      if (sp1g) expect(o).toMatchObject({ ok: true, hpa: 0x4123_4567, pageSize: 1 << 30 });
      else expect(blocked(o)).toBe(VTD_FAULT.PTE_RESERVED);
    }
  });

  it('TT 2 passes through with the context entry\'s domain', () => {
    const { k, iommu } = setup();
    k.context(SID, { did: 3, tt: 2 });
    k.enable();
    const o = iommu.translate(wr(0x5555_5000n));
    expect(o).toMatchObject({ ok: true, hpa: 0x5555_5000, domainId: 3 });
    expect(o.refs.map((r) => r.decision)).toEqual(['next', 'pass-through']);
  });

  it('rights combine over the levels: W clear in a middle entry forbids writes', () => {
    const { k, iommu, mem } = setup();
    const slpt = k.context(SID, { did: 1, aw: 1 });
    k.map(slpt, 3, 0x1000n, 0x9000, { r: true, w: true });
    putEntry(mem, slpt, getEntry(mem, slpt, 2) & ~2n, 2); // level-3 entry: R only
    k.enable();
    expect(iommu.translate(rd(0x1000n)).ok).toBe(true);
    const o = iommu.translate(wr(0x1000n));
    expect(blocked(o)).toBe(VTD_FAULT.WRITE);
    expect(o.refs.at(-1)).toMatchObject({ level: 3, decision: 'fault' });
  });
});

describe('VT-d faults: reason, record, status', () => {
  /** Each case builds a broken structure; the request is a read of 0x3000 unless said. */
  const cases: { name: string; reason: number; write?: boolean; iova?: bigint; build: (s: ReturnType<typeof setup>) => void; noSrtp?: boolean }[] = [
    { name: 'root entry not present', reason: 0x1, build: () => {} },
    { name: 'context entry not present', reason: 0x2, build: ({ k }) => void k.contextTable(2) },
    { name: 'context TT 1 (device-IOTLB) without ECAP.DT', reason: 0x3, build: ({ k }) => void k.context(SID, { did: 1, tt: 1 }) },
    { name: 'context AW 3 (57-bit) not in SAGAW', reason: 0x3, build: ({ k }) => void k.context(SID, { did: 1, aw: 3 }) },
    { name: 'IOVA beyond the 39-bit width of AW 1', reason: 0x4, iova: 1n << 39n, build: ({ k }) => void k.context(SID, { did: 1, aw: 1 }) },
    { name: 'IOVA beyond the 48-bit width of AW 2', reason: 0x4, iova: 0xffff_ffff_ffff_f000n, build: ({ k }) => void k.context(SID, { did: 1, aw: 2 }) },
    { name: 'write to a read-only page', reason: 0x5, write: true, build: ({ k }) => k.map(k.context(SID, { did: 1 }), 4, 0x3000n, 0x8000, { r: true, w: false }) },
    { name: 'read of a write-only page', reason: 0x6, build: ({ k }) => k.map(k.context(SID, { did: 1 }), 4, 0x3000n, 0x8000, { r: false, w: true }) },
    { name: 'read of an unmapped page (R = W = 0)', reason: 0x6, build: ({ k }) => void k.context(SID, { did: 1 }) },
    { name: 'second-level pointer outside memory', reason: 0x7, build: ({ k }) => void k.context(SID, { did: 1, slptptr: RAM + 0x1000 }) },
    {
      name: 'next-table pointer outside memory',
      reason: 0x7,
      build: ({ k, mem }) => {
        const slpt = k.context(SID, { did: 1 });
        putEntry(mem, slpt, BigInt(RAM) | 3n, 2);
      },
    },
    { name: 'no root table latched (TE without SRTP)', reason: 0x8, noSrtp: true, build: () => {} },
    { name: 'context-table pointer outside memory', reason: 0x9, build: ({ k, mem }) => putEntry(mem, k.root + 2 * 16, BigInt(RAM) | 1n, 4) },
    { name: 'root entry reserved bit 5', reason: 0xa, build: ({ k, mem }) => putEntry(mem, k.root + 2 * 16, BigInt(k.contextTable(2)) | 1n | (1n << 5n), 4) },
    { name: 'root entry reserved bit 64', reason: 0xa, build: ({ k, mem }) => putEntry(mem, k.root + 2 * 16, BigInt(k.contextTable(2)) | 1n | (1n << 64n), 4) },
    {
      name: 'context entry reserved bit 4',
      reason: 0xb,
      build: ({ k, mem }) => {
        k.context(SID, { did: 1 });
        const pa = k.contextTable(2) + (SID & 0xff) * 16;
        putEntry(mem, pa, getEntry(mem, pa, 4) | (1n << 4n), 4);
      },
    },
    {
      name: 'context entry reserved bit 100',
      reason: 0xb,
      build: ({ k, mem }) => {
        k.context(SID, { did: 1 });
        const pa = k.contextTable(2) + (SID & 0xff) * 16;
        putEntry(mem, pa, getEntry(mem, pa, 4) | (1n << 100n), 4);
      },
    },
    {
      name: 'second-level entry reserved bit 3',
      reason: 0xc,
      build: ({ k, mem }) => {
        const pa = k.map(k.context(SID, { did: 1 }), 4, 0x3000n, 0x8000, { r: true, w: true });
        putEntry(mem, pa, getEntry(mem, pa, 2) | 8n, 2);
      },
    },
    {
      name: 'SNP set with ECAP.SC = 0',
      reason: 0xc,
      build: ({ k, mem }) => {
        const pa = k.map(k.context(SID, { did: 1 }), 4, 0x3000n, 0x8000, { r: true, w: true });
        putEntry(mem, pa, getEntry(mem, pa, 2) | (1n << BigInt(SL_SNP)), 2);
      },
    },
    {
      name: 'SP in a PML4 entry',
      reason: 0xc,
      build: ({ k, mem }) => {
        const slpt = k.context(SID, { did: 1 });
        putEntry(mem, slpt, 0x200000n | 3n | (1n << BigInt(SL_SP)), 2);
      },
    },
    {
      name: 'a 2 MB page whose address is not 2 MB aligned',
      reason: 0xc,
      build: ({ k }) => void k.map(k.context(SID, { did: 1 }), 4, 0x0n, 0x201000, { r: true, w: true }, 21),
    },
  ];

  for (const c of cases) {
    it(`${c.name} → fault reason 0x${c.reason.toString(16)}, recorded exactly`, () => {
      const s = setup();
      c.build(s);
      if (c.noSrtp) s.iommu.write32(VTD_REG.GCMD, 0x80000000);
      else s.k.enable();
      const iova = (c.iova ?? 0x3000n) + 0x24n;
      const req = c.write ? wr(iova) : rd(iova);
      const o = s.iommu.translate(req);
      expect(blocked(o)).toBe(c.reason);
      expect(o.ok ? null : o.fault).toMatchObject({ recorded: true, record: { reason: c.reason, sid: SID, type: c.write ? 0 : 1, pageAddress: iova & ~0xfffn } });
      expect(rawRecord(s.iommu, 0)).toEqual({ F: 1, T: c.write ? 0 : 1, FR: c.reason, SID, FI: iova & ~0xfffn });
      expect(fsts(s.iommu)).toEqual({ PFO: 0, PPF: 1, FRI: 0 });
      // no DMA happened and nothing was cached
      expect(s.iommu.iotlbEntries()).toEqual([]);
    });
  }

  it('records faults in successive registers, latches FRI, overflows into PFO, resumes after F and PFO are cleared', () => {
    const { k, iommu } = setup();
    k.context(SID, { did: 1 });
    k.enable();
    const n = iommu.caps.nfr;
    for (let i = 0; i < n; i++) iommu.translate(rd(BigInt(i) << 12n));
    for (let i = 0; i < n; i++) expect(rawRecord(iommu, i)).toMatchObject({ F: 1, FI: BigInt(i) << 12n });
    expect(fsts(iommu)).toEqual({ PFO: 0, PPF: 1, FRI: 0 });
    // all full: the next fault is lost and PFO set
    const lost = iommu.translate(rd(0x99000n));
    expect(lost.ok ? null : lost.fault).toMatchObject({ reason: 6, recorded: false });
    expect(fsts(iommu).PFO).toBe(1);
    // software clears record 0 (F is RW1C) but not PFO: still nothing recorded
    iommu.write32(iommu.caps.froOffset + 12, 0x80000000);
    expect(rawRecord(iommu, 0).F).toBe(0);
    expect(iommu.translate(rd(0x98000n)).ok ? null : 'x').toBe('x');
    expect(rawRecord(iommu, 0).F).toBe(0);
    // clear PFO: the next fault goes to register 0 again
    iommu.write32(VTD_REG.FSTS, 1 << FSTS.PFO);
    expect(fsts(iommu).PFO).toBe(0);
    iommu.translate(rd(0x97000n));
    expect(rawRecord(iommu, 0)).toMatchObject({ F: 1, FI: 0x97000n });
    // clear every record: PPF drops; the next fault latches FRI = its register
    for (let i = 0; i < n; i++) iommu.write32(iommu.caps.froOffset + 16 * i + 12, 0x80000000);
    expect(fsts(iommu).PPF).toBe(0);
    iommu.translate(rd(0x96000n));
    expect(fsts(iommu)).toEqual({ PFO: 0, PPF: 1, FRI: 1 });
    expect(rawRecord(iommu, 1)).toMatchObject({ F: 1, FI: 0x96000n });
  });

  it('FPD in the context entry blocks without recording; root-level faults are still recorded', () => {
    const { k, iommu } = setup();
    const slpt = k.context(SID, { did: 1, fpd: true });
    k.map(slpt, 4, 0x1000n, 0x5000, { r: true, w: false });
    k.enable();
    const o = iommu.translate(wr(0x1000n));
    expect(o.ok ? null : o.fault).toMatchObject({ reason: 5, recorded: false });
    expect(fsts(iommu).PPF).toBe(0);
    expect(iommu.translate(rd(0x1000n)).ok).toBe(true);
    const other = iommu.translate(rd(0x1000n, requesterId(9, 0, 0)));
    expect(other.ok ? null : other.fault).toMatchObject({ reason: 1, recorded: true });
  });

  it('a fault performs no DMA: memory is unchanged', () => {
    const { k, iommu, mem } = setup();
    const slpt = k.context(SID, { did: 1 });
    k.map(slpt, 4, 0x1000n, 0x5000, { r: true, w: false });
    k.enable();
    const before = mem.read(0x5000, 4);
    const r = doDma(iommu, mem, wr(0x1000n), Uint8Array.of(9, 9, 9, 9));
    expect(r.bytes).toBeNull();
    expect(mem.read(0x5000, 4)).toBe(before);
  });
});

describe('VT-d caches and their invalidation', () => {
  function twoDomains() {
    const s = setup();
    const sidB = requesterId(2, 6, 0);
    const a = s.k.context(SID, { did: 1 });
    const b = s.k.context(sidB, { did: 2 });
    const leafA = s.k.map(a, 4, 0x1000n, 0xa000, { r: true, w: true });
    const leafA2 = s.k.map(a, 4, 0x2000n, 0xa100 * 0x10, { r: true, w: true });
    const leafB = s.k.map(b, 4, 0x1000n, 0xb000, { r: true, w: true });
    s.k.enable();
    for (const [sid, iova] of [[SID, 0x1000n], [SID, 0x2000n], [sidB, 0x1000n]] as const) s.iommu.translate(rd(iova, sid));
    return { ...s, sidB, leafA, leafA2, leafB };
  }

  /** Points a leaf at another host page, as software would before invalidating. */
  const retarget = (mem: PhysMem, pa: number, hpa: number) => putEntry(mem, pa, (getEntry(mem, pa, 2) & 0xfffn) | BigInt(hpa), 2);

  it('a stale IOTLB entry is used until a page-selective invalidation covers it; hit/miss counted', () => {
    const { iommu, mem, leafA } = twoDomains();
    expect(iommu.stats).toMatchObject({ iotlbHits: 0, iotlbMisses: 3, contextMisses: 2 });
    retarget(mem, leafA, 0xc000);
    const stale = iommu.translate(rd(0x1000n));
    expect(stale).toMatchObject({ ok: true, hpa: 0xa000, iotlbHit: true, refs: [] });
    expect(iommu.stats.iotlbHits).toBe(1);
    // a PSI of another page of the same domain does not cover it
    iommu.write64(iommu.caps.iroOffset, 0x2000n);
    iommu.write64(iommu.caps.iroOffset + 8, (1n << 63n) | (BigInt(INV_DEVICE_OR_PAGE) << 60n) | (1n << 32n));
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true });
    // IVT cleared, IAIG = 3 reported
    const reg = iommu.read64(iommu.caps.iroOffset + 8);
    expect(reg >> 63n).toBe(0n);
    expect((reg >> 57n) & 3n).toBe(3n);
    // the PSI of its page does
    iommu.write64(iommu.caps.iroOffset, 0x1000n);
    iommu.write64(iommu.caps.iroOffset + 8, (1n << 63n) | (3n << 60n) | (1n << 32n));
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xc000, iotlbHit: false });
  });

  it('a PSI with an address mask covers 2^AM pages', () => {
    const { iommu, mem, leafA, leafA2, sidB } = twoDomains();
    retarget(mem, leafA, 0xc000);
    retarget(mem, leafA2, 0xd000);
    iommu.write64(iommu.caps.iroOffset, 0x0n | 2n); // AM = 2: pages 0..3
    iommu.write64(iommu.caps.iroOffset + 8, (1n << 63n) | (3n << 60n) | (1n << 32n));
    expect(iommu.translate(rd(0x1000n)).ok && iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xc000 });
    expect(iommu.translate(rd(0x2000n))).toMatchObject({ hpa: 0xd000, iotlbHit: false });
    expect(iommu.translate(rd(0x1000n, sidB))).toMatchObject({ hpa: 0xb000, iotlbHit: true });
  });

  it('domain-selective invalidation drops exactly that domain; global drops all', () => {
    const { iommu, mem, leafA, leafB, sidB } = twoDomains();
    retarget(mem, leafA, 0xc000);
    retarget(mem, leafB, 0xe000);
    expect(iommu.invalidateIotlb(INV_DOMAIN, 2)).toBe(INV_DOMAIN);
    expect(iommu.translate(rd(0x1000n, sidB))).toMatchObject({ hpa: 0xe000, iotlbHit: false });
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true });
    iommu.write64(iommu.caps.iroOffset + 8, (1n << 63n) | (BigInt(INV_GLOBAL) << 60n));
    expect(iommu.iotlbEntries()).toEqual([]);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xc000, iotlbHit: false });
  });

  it('a PSI beyond MAMV is carried out domain-wide and says so in IAIG', () => {
    const { iommu } = twoDomains();
    iommu.write64(iommu.caps.iroOffset, BigInt(iommu.caps.mamv + 1));
    iommu.write64(iommu.caps.iroOffset + 8, (1n << 63n) | (3n << 60n) | (1n << 32n));
    expect((iommu.read64(iommu.caps.iroOffset + 8) >> 57n) & 3n).toBe(2n);
    expect(iommu.iotlbEntries().map((e) => e.did)).toEqual([2]);
  });

  it('the context cache keeps a changed context entry until CCMD invalidates it (device, domain, global)', () => {
    const { k, iommu, sidB } = twoDomains();
    // move device A to domain 2's tables with a new DID; the cache still says domain 1
    k.context(SID, { did: 5, tt: 2 });
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ domainId: 1, hpa: 0xa000 });
    expect(iommu.stats.contextHits).toBeGreaterThan(0);
    // a device-selective invalidation of B does not touch A
    iommu.write64(VTD_REG.CCMD, (1n << 63n) | (3n << 61n) | (BigInt(sidB) << 16n) | 2n);
    expect(iommu.read64(VTD_REG.CCMD) >> 63n).toBe(0n);
    expect((iommu.read64(VTD_REG.CCMD) >> 59n) & 3n).toBe(3n);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ domainId: 1 });
    // function mask 3 covers every function of A's device
    iommu.write64(VTD_REG.CCMD, (1n << 63n) | (3n << 61n) | (3n << 32n) | (BigInt(SID & ~7) << 16n) | 1n);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ domainId: 5, hpa: 0x1000 });
    // the device-selective invalidation of B dropped B; walking again caches it again
    expect(iommu.contextCacheEntries().map((e) => e.sid)).toEqual([SID]);
    iommu.translate(rd(0x1000n, sidB));
    // domain-selective for 2 drops B's entry; global drops all
    expect(iommu.contextCacheEntries().map((e) => e.sid).sort()).toEqual([SID, sidB].sort());
    iommu.write64(VTD_REG.CCMD, (1n << 63n) | (2n << 61n) | 2n);
    expect(iommu.contextCacheEntries().map((e) => e.sid)).toEqual([SID]);
    iommu.write64(VTD_REG.CCMD, (1n << 63n) | (1n << 61n));
    expect(iommu.contextCacheEntries()).toEqual([]);
  });

  it('a cached read-only translation does not let a write through: the tables are walked again', () => {
    const { k, iommu } = setup();
    const slpt = k.context(SID, { did: 1 });
    k.map(slpt, 4, 0x1000n, 0x5000, { r: true, w: false });
    k.enable();
    expect(iommu.translate(rd(0x1000n)).ok).toBe(true);
    expect(blocked(iommu.translate(wr(0x1000n)))).toBe(5);
  });

  it('snapshot/restore is JSON-safe and brings caches, records and registers back', () => {
    const { iommu, mem, leafA } = twoDomains();
    iommu.translate(rd(0x77000n, requesterId(9, 9, 1))); // a fault record
    const snap = JSON.parse(JSON.stringify(iommu.snapshot())) as ReturnType<VtdRemapper['snapshot']>;
    iommu.invalidateIotlb(INV_GLOBAL, 0);
    iommu.invalidateContext(INV_GLOBAL, 0, 0);
    iommu.write32(iommu.caps.froOffset + 12, 0x80000000);
    iommu.write32(VTD_REG.GCMD, 0);
    retarget(mem, leafA, 0xc000);
    iommu.restore(snap);
    expect(iommu.translationEnabled).toBe(true);
    expect(iommu.translate(rd(0x1000n))).toMatchObject({ hpa: 0xa000, iotlbHit: true });
    expect(rawRecord(iommu, 0)).toMatchObject({ F: 1, FR: 1 });
    expect(iommu.snapshot().stats).toEqual({ ...snap.stats, iotlbHits: snap.stats.iotlbHits + 1, contextHits: snap.stats.contextHits + 1 });
  });

  it('register file: read-only registers ignore writes, RTADDR keeps bits 63:12, DID range of CTX', () => {
    const { iommu } = setup();
    iommu.write64(VTD_REG.CAP, 0n);
    expect(iommu.read64(VTD_REG.CAP)).toBe(CAP_DEFAULT);
    iommu.write64(VTD_REG.RTADDR, 0x1234_5fffn);
    expect(iommu.read64(VTD_REG.RTADDR)).toBe(0x1234_5000n);
    expect(iommu.read32(VTD_REG.VER)).toBe(0x10);
    expect(iommu.rootTable).toBeNull();
    iommu.write32(VTD_REG.GCMD, 1 << 30);
    expect(iommu.rootTable).toBe(0x1234_5000);
    expect((iommu.read32(VTD_REG.GSTS) >>> 30) & 1).toBe(1);
    expect(at(CTX_E.DID, 0xffff) >> 72n).toBe(0xffffn);
  });
});
