/**
 * Interrupt remapping in both IOMMU models: VT-d (remapped and posted IRTEs, source-ID
 * verification, the interrupt entry cache, fault records) and AMD-Vi (the DTE's interrupt table,
 * 32-bit IRTEs, IntCtl and the pass bits, IO_PAGE_FAULT events with the I flag). The tables are
 * written with the testkit's builders, the way a driver writes them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { AMDVI_EVENT, EVENT_FLAG_I, INT_CTL_ABORT, INT_CTL_FORWARD, type AmdViRemapper } from './amdvi.ts';
import { AmdKit, PageAlloc, VtdKit, amdIrteValue, enableIr, getEntry, irteValue, putEntry, remappableAddress, type IrteSpec } from './testkit.ts';
import { requesterId, type InterruptOutcome } from './types.ts';
import { CAP_DEFAULT, CAP_PI, FRCD, GCMD_IRE, SVT_BUS_RANGE, SVT_SID, VTD_IR_FAULT, VTD_REG, VtdRemapper } from './vtd.ts';

const DEV = requesterId(2, 3, 1);
const OTHER = requesterId(2, 3, 2);

function vtd(o: { s?: number; cfi?: boolean; cap?: bigint } = {}) {
  const mem = new PhysMem(1 << 24);
  const alloc = new PageAlloc(0x100000);
  const kit = new VtdKit(mem, alloc, o.cap !== undefined ? new VtdRemapper(mem, { cap: o.cap }) : undefined);
  const table = enableIr(kit, { s: o.s ?? 7, ...(o.cfi !== undefined ? { cfi: o.cfi } : {}) });
  const put = (index: number, spec: IrteSpec) => putEntry(mem, table + 16 * index, irteValue(spec), 4);
  const req = (index: number, sid = DEV) => kit.iommu.remapInterrupt({ sid, address: remappableAddress(index), data: 0 });
  return { mem, alloc, kit, u: kit.iommu, table, put, req };
}

function blocked(o: InterruptOutcome) {
  if (o.kind !== 'blocked') throw new Error(`expected blocked, got ${o.kind}`);
  return o;
}

describe('VT-d interrupt remapping: registers and request formats', () => {
  it('reports IR in ECAP and PI in CAP; IRE off passes every message as written', () => {
    const mem = new PhysMem(1 << 20);
    const u = new VtdRemapper(mem);
    expect(u.caps.ir).toBe(true);
    expect(u.caps.pi).toBe(true);
    expect(u.remapInterrupt({ sid: DEV, address: remappableAddress(3), data: 0 })).toEqual({ kind: 'passed', why: 'remapping-off' });
    expect(() => u.remapInterrupt({ sid: DEV, address: 0xfed00000, data: 0 })).toThrow(RangeError);
  });

  it('SIRTP latches IRTA (address, S → 2^(S+1) entries) and sets IRTPS; IRE and CFI set IRES and CFIS as written', () => {
    const { u, table } = vtd({ s: 3, cfi: true });
    expect(u.interruptTable).toEqual({ base: table, entries: 16 });
    const gsts = u.read32(VTD_REG.GSTS);
    expect((gsts >>> 24) & 1).toBe(1); // IRTPS
    expect((gsts >>> 25) & 1).toBe(1); // IRES
    expect((gsts >>> 23) & 1).toBe(1); // CFIS
    // writing IRTA again changes nothing until the next SIRTP
    u.write64(VTD_REG.IRTA, 0x300000n | 1n);
    expect(u.interruptTable).toEqual({ base: table, entries: 16 });
    // a GCMD write without IRE turns remapping off (software writes all the persistent bits)
    u.write32(VTD_REG.GCMD, 0);
    expect(u.interruptRemappingEnabled).toBe(false);
    expect(u.remapInterrupt({ sid: DEV, address: 0xfee00000, data: 0x30 })).toEqual({ kind: 'passed', why: 'remapping-off' });
  });

  it('IRE is ignored by a unit without ECAP.IR', () => {
    const u = new VtdRemapper(new PhysMem(1 << 20), { ecap: 0x5041n }); // C, PT, IRO; IR clear
    u.write32(VTD_REG.GCMD, 1 << GCMD_IRE);
    expect(u.interruptRemappingEnabled).toBe(false);
  });

  it('compatibility format: blocked with 0x25 (FI 0) unless CFIS, then passed', () => {
    const a = vtd();
    const o = blocked(a.u.remapInterrupt({ sid: DEV, address: 0xfee01000, data: 0x41 }));
    expect(o.fault).toMatchObject({ vendor: 'vtd', reason: VTD_IR_FAULT.COMPATIBILITY_BLOCKED, recorded: true });
    expect(a.u.faultRecord(0)).toEqual({ index: 0, reason: 0x25, type: 0, sid: DEV, pageAddress: 0n, interruptIndex: 0 });
    const b = vtd({ cfi: true });
    expect(b.u.remapInterrupt({ sid: DEV, address: 0xfee01000, data: 0x41 })).toEqual({ kind: 'passed', why: 'compatibility' });
  });

  it('handle = address 19:5 with bit 2 as handle[15]; SHV adds the subhandle in data 15:0', () => {
    const { u, put } = vtd({ s: 15 }); // 65536 entries
    put(0x8123, { vector: 0x61, dest: 0 });
    put(0x0123 + 5, { vector: 0x62, dest: 0 });
    expect(u.remapInterrupt({ sid: DEV, address: remappableAddress(0x8123), data: 0 })).toMatchObject({ kind: 'remapped', index: 0x8123, target: { vector: 0x61 } });
    expect(remappableAddress(0x8123) & 4).toBe(4);
    expect(u.remapInterrupt({ sid: DEV, address: remappableAddress(0x0123, true), data: 5 })).toMatchObject({ kind: 'remapped', index: 0x128, target: { vector: 0x62 } });
    // without SHV the data is not added
    expect(u.remapInterrupt({ sid: DEV, address: remappableAddress(0x0128), data: 7 })).toMatchObject({ kind: 'remapped', index: 0x128 });
  });
});

describe('VT-d remapped-format IRTEs', () => {
  it('the target is the IRTE\'s: vector, xAPIC destination in DST 15:8, DM, RH, TM, DLM; one IRTE ref', () => {
    const { u, put, table } = vtd();
    put(9, { vector: 0xa7, dest: 0x3c, dm: true, rh: true, tm: true, dlm: 1 });
    const o = u.remapInterrupt({ sid: DEV, address: remappableAddress(9), data: 0 });
    expect(o).toEqual({
      kind: 'remapped',
      index: 9,
      cacheHit: false,
      refs: [{ kind: 'irte', level: 0, index: 9, pa: table + 9 * 16, raw: irteValue({ vector: 0xa7, dest: 0x3c, dm: true, rh: true, tm: true, dlm: 1 }), decision: 'leaf' }],
      target: { vector: 0xa7, destinationId: 0x3c, destinationMode: 'logical', deliveryMode: 1, trigger: 'level', redirectionHint: true },
    });
  });

  it('0x21: index beyond 2^(S+1) entries, with the index in FI bits 63:48 of the record', () => {
    const { u, kit } = vtd({ s: 3 });
    const o = blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(16), data: 0 }));
    expect(o).toMatchObject({ index: 16, refs: [], fault: { reason: VTD_IR_FAULT.INDEX_BEYOND_TABLE, recorded: true } });
    const fro = kit.iommu.caps.froOffset;
    expect(kit.iommu.read64(fro)).toBe(16n << BigInt(FRCD.FI[0] - 15)); // bits 63:48 = 16
    expect((kit.iommu.read32(fro + 12) >>> 30) & 1).toBe(0); // T = 0: a write
    expect(kit.iommu.faultRecord(0)).toMatchObject({ reason: 0x21, sid: DEV, interruptIndex: 16, pageAddress: 0n });
    // an index reached only through the subhandle is checked the same way
    expect(blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(15, true), data: 1 })).fault).toMatchObject({ reason: 0x21 });
  });

  it('0x22: P = 0, recorded unless the IRTE\'s FPD is set', () => {
    const { u, put } = vtd();
    put(1, { p: false, vector: 0x40 });
    put(2, { p: false, fpd: true, vector: 0x40 });
    expect(blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(1), data: 0 })).fault).toMatchObject({ reason: VTD_IR_FAULT.IRTE_NOT_PRESENT, recorded: true });
    const o = blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(2), data: 0 }));
    expect(o.fault).toMatchObject({ reason: 0x22, recorded: false });
    expect(o.refs.map((r) => [r.kind, r.decision])).toEqual([['irte', 'fault']]);
    expect(u.faultRecord(1)).toBeNull();
  });

  it('0x23: no table latched, or the table outside RAM', () => {
    const mem = new PhysMem(1 << 20);
    const u = new VtdRemapper(mem);
    u.write32(VTD_REG.GCMD, 1 << GCMD_IRE);
    expect(blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(0), data: 0 })).fault).toMatchObject({ reason: VTD_IR_FAULT.TABLE_INVALID, recorded: true });
    const k = new VtdKit(mem, new PageAlloc(0x10000));
    enableIr(k, { s: 3, table: 0x4000_0000 });
    expect(blocked(k.iommu.remapInterrupt({ sid: DEV, address: remappableAddress(0), data: 0 })).fault).toMatchObject({ reason: 0x23 });
  });

  it('0x24: reserved bits of either format, and the posted format without CAP.PI', () => {
    const { u, put } = vtd();
    put(1, { vector: 0x40, extra: 1n << 30n }); // 31:24
    put(2, { vector: 0x40, extra: 1n << 33n }); // DST 7:0 in xAPIC mode
    put(3, { vector: 0x40, extra: 1n << 90n }); // 127:84
    put(4, { vector: 0x40, extra: 1n << 12n }); // 14:12
    put(5, { vector: 0x40, posted: { pda: 0x200000 }, extra: 1n << 2n }); // posted 7:2
    put(6, { vector: 0x40, posted: { pda: 0x200000 }, extra: 1n << 30n }); // posted 37:24
    put(7, { vector: 0x40, posted: { pda: 2 ** 48 } }); // descriptor above the 48-bit HAW
    put(8, { vector: 0x40, fpd: true, extra: 1n << 30n });
    const fro = u.caps.froOffset;
    for (const i of [1, 2, 3, 4, 5, 6, 7]) {
      expect(blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(i), data: 0 })).fault, String(i)).toMatchObject({ reason: VTD_IR_FAULT.IRTE_RESERVED, recorded: true });
      for (let r = 0; r < 4; r++) u.write32(fro + 16 * r + 12, 0x80000000); // software clears F (RW1C)
    }
    expect(blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(8), data: 0 })).fault).toMatchObject({ reason: 0x24, recorded: false });
    const noPi = vtd({ cap: CAP_DEFAULT & ~(1n << BigInt(CAP_PI)) });
    noPi.put(1, { vector: 0x40, posted: { pda: 0x200000 } });
    expect(blocked(noPi.req(1)).fault).toMatchObject({ reason: 0x24 });
  });

  it('0x20: bits 31:16 of the remappable request\'s data', () => {
    const { u, put } = vtd();
    put(1, { vector: 0x40 });
    const o = blocked(u.remapInterrupt({ sid: DEV, address: remappableAddress(1), data: 0x10000 }));
    expect(o).toMatchObject({ index: 1, refs: [], fault: { reason: VTD_IR_FAULT.REQUEST_RESERVED } });
  });

  it('0x26: source-ID verification (SVT 01 under the SQ mask, SVT 10 a bus range, SVT 11 fails); FPD suppresses the record', () => {
    const { u, put, req } = vtd();
    put(1, { vector: 0x41, svt: SVT_SID, sid: DEV });
    put(2, { vector: 0x42, svt: SVT_SID, sid: DEV, sq: 1 }); // function bit 2 ignored: fn 1 and fn 5 match
    put(3, { vector: 0x43, svt: SVT_BUS_RANGE, sid: (1 << 8) | 2 }); // buses 1..2
    put(4, { vector: 0x44, svt: 3, sid: DEV });
    put(5, { vector: 0x45, svt: SVT_SID, sid: DEV, fpd: true });
    put(6, { vector: 0x46, svt: 0, sid: 0x1234 }); // no verification
    expect(req(1)).toMatchObject({ kind: 'remapped', target: { vector: 0x41 } });
    expect(blocked(req(1, OTHER)).fault).toMatchObject({ reason: VTD_IR_FAULT.SID_VERIFICATION, recorded: true, record: { sid: OTHER, interruptIndex: 1 } });
    expect(req(2, requesterId(2, 3, 5))).toMatchObject({ kind: 'remapped', target: { vector: 0x42 } });
    expect(blocked(req(2, requesterId(2, 3, 3))).fault).toMatchObject({ reason: 0x26 });
    expect(req(3, requesterId(1, 31, 7))).toMatchObject({ kind: 'remapped' });
    expect(req(3, requesterId(2, 0, 0))).toMatchObject({ kind: 'remapped' });
    expect(blocked(req(3, requesterId(3, 0, 0))).fault).toMatchObject({ reason: 0x26 });
    expect(blocked(req(3, requesterId(0, 1, 0))).fault).toMatchObject({ reason: 0x26 });
    expect(blocked(req(4)).fault).toMatchObject({ reason: 0x26 });
    expect(blocked(req(5, OTHER)).fault).toMatchObject({ reason: 0x26, recorded: false });
    expect(req(6, OTHER)).toMatchObject({ kind: 'remapped', target: { vector: 0x46 } });
  });

  it('fault records fill as the DMA ones do: FRI, overflow (PFO) once all four are pending', () => {
    const { u, req } = vtd({ s: 0 }); // two entries
    for (let i = 0; i < 4; i++) expect(blocked(req(2 + i)).fault).toMatchObject({ recorded: true });
    expect(blocked(req(9)).fault).toMatchObject({ recorded: false });
    expect(u.read32(VTD_REG.FSTS) & 1).toBe(1);
    expect([0, 1, 2, 3].map((i) => u.faultRecord(i)!.interruptIndex)).toEqual([2, 3, 4, 5]);
  });
});

describe('VT-d interrupt entry cache', () => {
  it('returns a stale entry until it is invalidated (global, or index-selective with a mask)', () => {
    const { u, put, req } = vtd();
    put(4, { vector: 0x50 });
    put(5, { vector: 0x51 });
    put(9, { vector: 0x52 });
    expect(req(4)).toMatchObject({ kind: 'remapped', cacheHit: false, target: { vector: 0x50 } });
    expect(req(5)).toMatchObject({ cacheHit: false });
    expect(req(9)).toMatchObject({ cacheHit: false });
    put(4, { vector: 0x60 });
    put(5, { vector: 0x61 });
    put(9, { vector: 0x62 });
    const hit = req(4);
    expect(hit).toMatchObject({ kind: 'remapped', cacheHit: true, refs: [], target: { vector: 0x50 } }); // stale
    u.invalidateInterruptEntryCache(false, 5, 0); // index 5 only
    expect(req(4)).toMatchObject({ target: { vector: 0x50 } });
    expect(req(5)).toMatchObject({ cacheHit: false, target: { vector: 0x61 } });
    u.invalidateInterruptEntryCache(false, 6, 1); // 6 and 7: neither cached
    expect(req(4)).toMatchObject({ cacheHit: true });
    u.invalidateInterruptEntryCache(false, 5, 2); // 4..7
    expect(req(4)).toMatchObject({ cacheHit: false, target: { vector: 0x60 } });
    expect(req(9)).toMatchObject({ cacheHit: true, target: { vector: 0x52 } });
    u.invalidateInterruptEntryCache(true);
    expect(req(9)).toMatchObject({ cacheHit: false, target: { vector: 0x62 } });
    expect(u.stats.iecHits).toBeGreaterThan(0);
  });

  it('a cached entry is still checked against the requester\'s source ID; faulting entries are not cached', () => {
    const { u, put, req } = vtd();
    put(1, { vector: 0x41, svt: SVT_SID, sid: DEV });
    put(2, { p: false, vector: 0x42 });
    expect(req(1)).toMatchObject({ kind: 'remapped' });
    expect(blocked(req(1, OTHER))).toMatchObject({ refs: [], fault: { reason: 0x26 } });
    req(2);
    put(2, { vector: 0x42 });
    expect(req(2)).toMatchObject({ kind: 'remapped', cacheHit: false });
    expect(u.iecEntries().map((e) => e.index).sort()).toEqual([1, 2]);
  });

  it('snapshot and restore carry the latched table and the cache', () => {
    const { u, put, req, mem } = vtd({ s: 4 });
    put(3, { vector: 0x33 });
    req(3);
    const snap = JSON.parse(JSON.stringify(u.snapshot())) as ReturnType<VtdRemapper['snapshot']>;
    const v = new VtdRemapper(mem);
    v.restore(snap);
    expect(v.interruptTable).toEqual(u.interruptTable);
    put(3, { vector: 0x34 });
    expect(v.remapInterrupt({ sid: DEV, address: remappableAddress(3), data: 0 })).toMatchObject({ cacheHit: true, target: { vector: 0x33 } });
    expect(v.interruptRemappingEnabled).toBe(true);
  });
});

describe('VT-d posted-format IRTEs', () => {
  const PDA = 0x200040;
  /** The descriptor's fields: PIR as 8 dwords, ON, SN, NV, NDST. */
  function pid(mem: PhysMem) {
    const d = getEntry(mem, PDA, 16);
    return { pir: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => mem.read(PDA + 4 * i, 4) >>> 0), on: Number((d >> 256n) & 1n), sn: Number((d >> 257n) & 1n), nv: Number((d >> 272n) & 0xffn), ndst: Number((d >> 288n) & 0xffffffffn) };
  }
  function setCtl(mem: PhysMem, o: { on?: boolean; sn?: boolean; nv: number; apicId: number }) {
    mem.write(PDA + 32, 4, ((o.on ? 1 : 0) | (o.sn ? 2 : 0) | (o.nv << 16)) >>> 0);
    mem.write(PDA + 36, 4, o.apicId << 8); // xAPIC mode: NDST bits 15:8
  }

  it('sets PIR[vector], sets ON and sends the notification (NV to NDST 15:8) once until software clears ON', () => {
    const { u, put, mem, req } = vtd();
    put(7, { vector: 0x95, posted: { pda: PDA } });
    put(8, { vector: 0x21, posted: { pda: PDA } });
    setCtl(mem, { nv: 0xf2, apicId: 3 });
    const o = req(7);
    expect(o).toEqual({
      kind: 'posted', index: 7, cacheHit: false, vector: 0x95, descriptor: PDA, urgent: false,
      refs: [expect.objectContaining({ kind: 'irte', index: 7, decision: 'leaf' })],
      notification: { vector: 0xf2, destinationId: 3, destinationMode: 'physical', deliveryMode: 0, trigger: 'edge', redirectionHint: false },
    });
    expect(pid(mem)).toMatchObject({ on: 1, sn: 0, nv: 0xf2, ndst: 3 << 8 });
    expect(pid(mem).pir[0x95 >>> 5]).toBe((1 << (0x95 & 31)) >>> 0);
    // ON set: the next one only posts
    expect(req(8)).toMatchObject({ kind: 'posted', vector: 0x21, notification: null });
    expect(pid(mem).pir[1]).toBe(1 << 1);
    expect(pid(mem).pir[4]).toBe(1 << 21);
    // software (the VMM on VM entry) takes the PIR and clears ON: notifications resume
    for (let i = 0; i < 8; i++) mem.write(PDA + 4 * i, 4, 0);
    setCtl(mem, { nv: 0xf2, apicId: 3 });
    expect(req(8)).toMatchObject({ notification: { vector: 0xf2 } });
  });

  it('SN suppresses the notification (ON stays 0) unless the IRTE is urgent', () => {
    const { u, put, mem } = vtd();
    put(1, { vector: 0x70, posted: { pda: PDA } });
    put(2, { vector: 0x71, posted: { pda: PDA, urg: true } });
    setCtl(mem, { sn: true, nv: 0xf1, apicId: 0 });
    expect(u.remapInterrupt({ sid: DEV, address: remappableAddress(1), data: 0 })).toMatchObject({ kind: 'posted', urgent: false, notification: null });
    expect(pid(mem)).toMatchObject({ on: 0, sn: 1 });
    expect(pid(mem).pir[3]).toBe(1 << 16);
    expect(u.remapInterrupt({ sid: DEV, address: remappableAddress(2), data: 0 })).toMatchObject({ kind: 'posted', urgent: true, notification: { vector: 0xf1, destinationId: 0 } });
    expect(pid(mem)).toMatchObject({ on: 1, sn: 1 });
    expect(pid(mem).pir[3]).toBe((1 << 16) | (1 << 17));
  });

  it('a descriptor outside RAM is the host\'s error: it throws', () => {
    const { put, req } = vtd();
    put(1, { vector: 0x70, posted: { pda: 0x4000_0000 } });
    expect(() => req(1)).toThrow(/not RAM/);
  });
});

describe('VT-d: a device reaches only the interrupts of the IRTEs that name it', () => {
  it('with SVT = 01 on every entry, any request from DEV yields only vectors and destinations of DEV\'s entries (property)', () => {
    const entry = fc.record({ own: fc.boolean(), p: fc.boolean(), vector: fc.integer({ min: 16, max: 255 }), dest: fc.integer({ min: 0, max: 255 }), posted: fc.boolean() });
    const request = fc.record({ handle: fc.integer({ min: 0, max: 0xffff }), shv: fc.boolean(), data: fc.integer({ min: 0, max: 0xffff }), compat: fc.boolean() });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 32, maxLength: 32 }), fc.array(request, { minLength: 1, maxLength: 40 }), (entries, reqs) => {
        const { u, put, mem } = vtd({ s: 4 }); // 32 entries
        const pda = 0x200000;
        entries.forEach((e, i) => put(i, { p: e.p, vector: e.vector, dest: e.dest, svt: SVT_SID, sid: e.own ? DEV : OTHER, ...(e.posted ? { posted: { pda } } : {}) }));
        const allowed = entries.filter((e) => e.own && e.p);
        for (const r of reqs) {
          const address = r.compat ? 0xfee00000 | (r.handle & 0xff) << 12 : remappableAddress(r.handle, r.shv);
          const o = u.remapInterrupt({ sid: DEV, address: address >>> 0, data: r.data });
          if (o.kind === 'remapped') {
            expect(allowed.some((e) => !e.posted && e.vector === o.target.vector && e.dest === o.target.destinationId)).toBe(true);
            expect(entries[o.index]).toMatchObject({ own: true, p: true, vector: o.target.vector });
          } else if (o.kind === 'posted') {
            expect(allowed.some((e) => e.posted && e.vector === o.vector)).toBe(true);
            expect(o.descriptor).toBe(pda);
          } else expect(o.kind).toBe('blocked'); // never passed: CFIS is 0
        }
        void mem;
      }),
      { numRuns: 60 },
    );
  });
});

// ---- AMD-Vi --------------------------------------------------------------------------------------

function amd(o: { log?: boolean } = {}) {
  const mem = new PhysMem(1 << 24);
  const kit = new AmdKit(mem, new PageAlloc(0x100000));
  kit.enable(o.log ?? true);
  const u: AmdViRemapper = kit.iommu;
  const msi = (sid: number, data: number, address = 0xfee00000) => u.remapInterrupt({ sid, address, data });
  const events = () => {
    const out = [];
    for (let off = 0; off < kit.eventTail(); off += 16) out.push(u.readEvent(off));
    return out;
  };
  return { mem, kit, u, msi, events };
}

describe('AMD-Vi interrupt remapping', () => {
  it('passes everything when the IOMMU is off or the DTE\'s IV is 0', () => {
    const mem = new PhysMem(1 << 20);
    const kit = new AmdKit(mem, new PageAlloc(0x10000));
    expect(kit.iommu.remapInterrupt({ sid: DEV, address: 0xfee00000, data: 0x30 })).toEqual({ kind: 'passed', why: 'remapping-off' });
    const { kit: k2, msi } = amd();
    k2.irDte(DEV, { len: 4, iv: false });
    expect(msi(DEV, 0x30)).toEqual({ kind: 'passed', why: 'remapping-off' });
  });

  it('remaps a fixed interrupt through the IRTE at data 10:0: vector, destination, DM, IntType; refs DTE then IRTE', () => {
    const { kit, msi, mem } = amd();
    const root = kit.irDte(DEV, { len: 8 });
    mem.write(root + 4 * 0x45, 4, amdIrteValue({ vector: 0xb1, dest: 7, intType: 1, dm: true }));
    const o = msi(DEV, 0x8045, 0xfee00008); // data: level trigger, index 0x45; address: RH
    expect(o).toMatchObject({
      kind: 'remapped',
      index: 0x45,
      cacheHit: false,
      target: { vector: 0xb1, destinationId: 7, destinationMode: 'logical', deliveryMode: 1, trigger: 'level', redirectionHint: true },
    });
    expect(o.kind === 'remapped' && o.refs.map((r) => [r.kind, r.index, r.pa, r.decision])).toEqual([
      ['device-table-entry', DEV, kit.devTable + DEV * 32, 'next'],
      ['irte', 0x45, root + 4 * 0x45, 'leaf'],
    ]);
    // the IRTE's bits as Linux's union irte lays them out: valid 0, no_fault 1, int_type 4:2, rq_eoi 5, dm 6, guest_mode 7, destination 15:8, vector 23:16
    expect(amdIrteValue({ vector: 0xb1, dest: 7, intType: 1, dm: true })).toBe(0x1 | (1 << 2) | (1 << 6) | (7 << 8) | (0xb1 << 16));
  });

  it('IntCtl: 00b target-aborts (no event), 01b forwards unmapped, 11b is an ILLEGAL_DEV_TABLE_ENTRY with I', () => {
    const { kit, msi, events } = amd();
    kit.irDte(DEV, { len: 4, intCtl: INT_CTL_ABORT });
    expect(msi(DEV, 0x31)).toEqual({ kind: 'aborted', refs: [expect.objectContaining({ kind: 'device-table-entry' })], why: 'int-ctl' });
    expect(events()).toEqual([]);
    kit.irDte(OTHER, { len: 4, intCtl: INT_CTL_FORWARD });
    expect(msi(OTHER, 0x31)).toEqual({ kind: 'passed', why: 'forwarded' });
    const third = requesterId(4, 0, 0);
    kit.irDte(third, { len: 4, intCtl: 3, domainId: 5 });
    const o = blocked(msi(third, 0x31, 0xfee03000));
    expect(o.fault).toMatchObject({ vendor: 'amd-vi', code: AMDVI_EVENT.ILLEGAL_DEV_TABLE_ENTRY, logged: true });
    expect(events()).toEqual([expect.objectContaining({ code: 1, deviceId: third, flags: EVENT_FLAG_I, address: 0xfee03000n })]);
  });

  it('IO_PAGE_FAULT with I and the MSI address: index beyond 2^IntTabLen, RemapEn = 0, GuestMode, IntType not fixed/arbitrated', () => {
    const { kit, msi, mem, events } = amd();
    const root = kit.irDte(DEV, { len: 2, domainId: 0x77 });
    mem.write(root + 4 * 1, 4, amdIrteValue({ remapEn: false, vector: 0x40, dest: 0 }));
    mem.write(root + 4 * 2, 4, amdIrteValue({ guestMode: true, vector: 0x40, dest: 0 }));
    mem.write(root + 4 * 3, 4, amdIrteValue({ intType: 4, vector: 0x40, dest: 0 }));
    expect(blocked(msi(DEV, 4, 0xfee0f000))).toMatchObject({ index: 4, fault: { code: AMDVI_EVENT.IO_PAGE_FAULT, logged: true } });
    for (const i of [1, 2, 3]) expect(blocked(msi(DEV, i)).fault, String(i)).toMatchObject({ code: 2, logged: true });
    const ev = events();
    expect(ev.map((e) => [e.code, e.deviceId, e.domainId, e.flags, e.address])).toEqual([
      [2, DEV, 0x77, EVENT_FLAG_I, 0xfee0f000n],
      [2, DEV, 0x77, EVENT_FLAG_I, 0xfee00000n],
      [2, DEV, 0x77, EVENT_FLAG_I, 0xfee00000n],
      [2, DEV, 0x77, EVENT_FLAG_I, 0xfee00000n],
    ]);
  });

  it('SupIOPF in the IRTE and DTE.SA suppress the event; the interrupt is still blocked', () => {
    const { kit, msi, mem, events } = amd();
    const root = kit.irDte(DEV, { len: 2 });
    mem.write(root + 4, 4, amdIrteValue({ remapEn: false, supIopf: true, vector: 0x40, dest: 0 }));
    expect(blocked(msi(DEV, 1)).fault).toMatchObject({ code: 2, logged: false });
    kit.irDte(OTHER, { len: 1, sa: true });
    expect(blocked(msi(OTHER, 5)).fault).toMatchObject({ code: 2, logged: false });
    expect(events()).toEqual([]);
  });

  it('IntTabLen above 11 is an ILLEGAL_DEV_TABLE_ENTRY; data 10:8 is also the delivery mode, so a fixed or arbitrated message indexes at most 0x1ff', () => {
    const { kit, msi, mem } = amd();
    kit.irDte(DEV, { len: 12 });
    expect(blocked(msi(DEV, 0)).fault).toMatchObject({ code: AMDVI_EVENT.ILLEGAL_DEV_TABLE_ENTRY });
    const root = kit.irDte(OTHER, { len: 11, root: 0x400000 });
    mem.write(root + 4 * 0x1ff, 4, amdIrteValue({ vector: 0xfe, dest: 1 }));
    mem.write(root + 4 * 0x7ff, 4, amdIrteValue({ vector: 0xfd, dest: 1 }));
    expect(msi(OTHER, 0x1ff)).toMatchObject({ kind: 'remapped', index: 0x1ff, target: { vector: 0xfe } });
    expect(msi(OTHER, 0x7ff)).toMatchObject({ kind: 'aborted', why: 'not-passed' }); // an ExtINT by its bits 10:8
  });

  it('other delivery modes: SMI forwarded, NMI / INIT / ExtINT by their pass bits, 3 and 6 aborted', () => {
    const { kit, msi } = amd();
    kit.irDte(DEV, { len: 4, nmiPass: true });
    expect(msi(DEV, 2 << 8)).toEqual({ kind: 'passed', why: 'forwarded' });
    expect(msi(DEV, 4 << 8)).toEqual({ kind: 'passed', why: 'forwarded' });
    expect(msi(DEV, 5 << 8)).toMatchObject({ kind: 'aborted', why: 'not-passed' });
    expect(msi(DEV, 7 << 8)).toMatchObject({ kind: 'aborted', why: 'not-passed' });
    expect(msi(DEV, 3 << 8)).toMatchObject({ kind: 'aborted', why: 'delivery-mode' });
    kit.irDte(OTHER, { len: 4, initPass: true, eintPass: true });
    expect(msi(OTHER, 5 << 8)).toEqual({ kind: 'passed', why: 'forwarded' });
    expect(msi(OTHER, 7 << 8)).toEqual({ kind: 'passed', why: 'forwarded' });
  });

  it('IRTEs are cached per device until INVALIDATE_INTERRUPT_TABLE for that device (or INVALIDATE_IOMMU_ALL)', () => {
    const { kit, msi, mem, u } = amd();
    const a = kit.irDte(DEV, { len: 4 });
    const b = kit.irDte(OTHER, { len: 4 });
    mem.write(a + 4, 4, amdIrteValue({ vector: 0x51, dest: 0 }));
    mem.write(b + 4, 4, amdIrteValue({ vector: 0x52, dest: 0 }));
    expect(msi(DEV, 1)).toMatchObject({ cacheHit: false, target: { vector: 0x51 } });
    expect(msi(OTHER, 1)).toMatchObject({ cacheHit: false, target: { vector: 0x52 } });
    mem.write(a + 4, 4, amdIrteValue({ vector: 0x61, dest: 0 }));
    mem.write(b + 4, 4, amdIrteValue({ vector: 0x62, dest: 0 }));
    expect(msi(DEV, 1)).toMatchObject({ cacheHit: true, refs: [], target: { vector: 0x51 } });
    u.invalidateInterruptTable(OTHER);
    expect(msi(DEV, 1)).toMatchObject({ cacheHit: true, target: { vector: 0x51 } });
    expect(msi(OTHER, 1)).toMatchObject({ cacheHit: false, target: { vector: 0x62 } });
    u.invalidateInterruptTable(DEV);
    expect(msi(DEV, 1)).toMatchObject({ cacheHit: false, target: { vector: 0x61 } });
    mem.write(a + 4, 4, amdIrteValue({ vector: 0x71, dest: 0 }));
    u.invalidateAll();
    expect(msi(DEV, 1)).toMatchObject({ target: { vector: 0x71 } });
    // and the state survives a snapshot as plain data
    const snap = JSON.parse(JSON.stringify(u.snapshot())) as ReturnType<AmdViRemapper['snapshot']>;
    expect(snap.irteCache).toEqual([{ deviceId: DEV, index: 1, raw: amdIrteValue({ vector: 0x71, dest: 0 }) }]);
    u.invalidateAll();
    u.restore(snap);
    mem.write(a + 4, 4, 0);
    expect(msi(DEV, 1)).toMatchObject({ cacheHit: true, target: { vector: 0x71 } });
  });

  it('a DTE the interrupt path read is one the DMA path would use: a DMA after it still translates (TV = 0: passed)', () => {
    const { kit, msi, u } = amd();
    kit.irDte(DEV, { len: 4, intCtl: INT_CTL_FORWARD });
    msi(DEV, 0x30);
    expect(u.translate({ sid: DEV, iova: 0x5000n, access: 'read', length: 4 })).toMatchObject({ ok: true, hpa: 0x5000 });
  });

  it('a device reaches only the vectors of its own interrupt table (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 16, max: 255 }), { minLength: 16, maxLength: 16 }), fc.array(fc.integer({ min: 16, max: 255 }), { minLength: 16, maxLength: 16 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 30 }), (mine, theirs, datas) => {
        const { kit, msi, mem } = amd();
        const a = kit.irDte(DEV, { len: 4 });
        const b = kit.irDte(OTHER, { len: 4 });
        mine.forEach((v, i) => mem.write(a + 4 * i, 4, amdIrteValue({ vector: v, dest: 0 })));
        theirs.forEach((v, i) => mem.write(b + 4 * i, 4, amdIrteValue({ vector: v, dest: 9 })));
        for (const d of datas) {
          const o = msi(DEV, d);
          if (o.kind === 'remapped') {
            expect(o.target.vector).toBe(mine[o.index]);
            expect(o.target.destinationId).toBe(0);
          } else expect(['blocked', 'aborted', 'passed']).toContain(o.kind);
          // passed only for the delivery modes the DTE forwards: SMI here
          if (o.kind === 'passed') expect((d >>> 8) & 7).toBe(2);
        }
      }),
      { numRuns: 60 },
    );
  });
});
