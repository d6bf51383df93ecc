import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { AMDVI_REG, AmdViRemapper, CTRL_EVT_LOG_EN, CTRL_IOMMU_EN } from '../iommu/amdvi.ts';
import { GCMD_SRTP, GCMD_TE, VTD_REG, VtdRemapper } from '../iommu/vtd.ts';
import { readEntry } from '../iommu/types.ts';
import {
  AMDVI_EVENT_NAMES, formatIommuExercise, generateIommuExercise, IOMMU_MAX_COUNT, VTD_REASON_NAMES, type DmaAnswer, type IommuExercise, type IommuStep,
} from './iommu-exercise.ts';

const big = (hex: string): bigint => BigInt('0x' + hex);

/**
 * Rebuilds the exercise from its data (no text is parsed): host memory from `memory`, a fresh unit
 * programmed from the setup's registers, the steps run with the driver's duties done here (clear
 * each fault record's F after reading it; edits are plain stores; invalidations are the unit's
 * own calls), and every answer compared with what the fresh unit does. Also checks each answer
 * against the request (fault record and event fields, a leaf's address plus the offset).
 */
function replay(ex: IommuExercise, seen: Map<string, number>): void {
  const note = (k: string): void => void seen.set(k, (seen.get(k) ?? 0) + 1);
  const mem = new PhysMem(ex.ramSize);
  for (const w of ex.memory) for (let i = 0; i < w.dwords; i++) mem.write(w.pa + 4 * i, 4, Number((big(w.value) >> BigInt(32 * i)) & 0xffffffffn));

  // the printed dump holds every non-zero entry written before the first step, with its value
  const printed = new Map<number, bigint>();
  if (ex.setup.vendor === 'vtd') {
    for (const x of ex.setup.roots) printed.set(x.pa, big(x.raw));
    for (const x of ex.setup.contexts) printed.set(x.pa, big(x.raw));
  } else for (const x of ex.setup.dtes) printed.set(x.pa, big(x.raw));
  for (const t of ex.tables) for (const e of t.entries) printed.set(t.address + e.index * 8, big(e.value));
  for (const w of ex.memory) expect(printed.get(w.pa), `seed ${ex.seed}: entry at 0x${w.pa.toString(16)}`).toBe(readEntry(mem, w.pa, w.dwords));

  let vtd: VtdRemapper | null = null;
  let amd: AmdViRemapper | null = null;
  if (ex.setup.vendor === 'vtd') {
    vtd = new VtdRemapper(mem);
    vtd.write64(VTD_REG.RTADDR, BigInt(ex.setup.rtaddr));
    vtd.write32(VTD_REG.GCMD, 1 << GCMD_SRTP);
    vtd.write32(VTD_REG.GCMD, (1 << GCMD_TE) >>> 0);
    expect(vtd.read32(VTD_REG.GSTS)).toBe(ex.setup.gsts);
  } else {
    amd = new AmdViRemapper(mem);
    amd.write64(AMDVI_REG.DEV_TABLE_BASE, BigInt(ex.setup.devTableBase) | BigInt(ex.setup.devTableSize));
    amd.write64(AMDVI_REG.EVENT_LOG_BASE, BigInt(ex.setup.eventLogBase) | (BigInt(ex.setup.eventLogLen) << 56n));
    amd.write64(AMDVI_REG.CONTROL, (1n << BigInt(CTRL_IOMMU_EN)) | (1n << BigInt(CTRL_EVT_LOG_EN)));
    expect(amd.read64(AMDVI_REG.DEV_TABLE_BASE).toString(16)).toBe(ex.setup.devTableReg);
  }
  const unit = (vtd ?? amd)!;

  ex.steps.forEach((st, i) => {
    const a = ex.answers[i]!;
    const where = `seed ${ex.seed} (${ex.vendor}), step ${i + 1}`;
    expect(a.kind, where).toBe(st.kind);
    if (st.kind === 'edit') {
      expect(readEntry(mem, st.pa, 2), where).toBe(big(st.before));
      for (let k = 0; k < 2; k++) mem.write(st.pa + 4 * k, 4, Number((big(st.value) >> BigInt(32 * k)) & 0xffffffffn));
      return;
    }
    if (st.kind === 'invalidate') {
      if (vtd !== null) expect(vtd.invalidateIotlb(3, st.domainId, BigInt(st.address), 0), where).toBe(a.kind === 'invalidate' ? a.iaig : -1);
      else amd!.invalidatePages(st.domainId, BigInt(st.address), false);
      return;
    }
    const d = a as DmaAnswer;
    const tail = amd !== null ? Number(amd.read64(AMDVI_REG.EVENT_TAIL)) : 0;
    const o = unit.translate({ sid: st.sid, iova: BigInt(st.iova), access: st.access, length: st.length });
    expect(d.refs, where).toEqual(o.refs.map((x) => ({ kind: x.kind, level: x.level, index: x.index, pa: x.pa, raw: x.raw.toString(16), decision: x.decision })));
    expect(d.ok, where).toBe(o.ok);
    if (o.ok && d.ok) {
      expect([d.hpa, d.iotlbHit, d.domainId, d.pageSize], where).toEqual([o.hpa, o.iotlbHit, o.domainId, o.pageSize]);
      note(o.iotlbHit ? 'iotlb-hit' : o.domainId < 0 ? 'untranslated' : 'walked');
      expect(d.tablesNow === null, where).toBe(!o.iotlbHit);
      const leaf = o.refs[o.refs.length - 1];
      if (!o.iotlbHit && o.domainId >= 0) {
        // the host address is the leaf's address plus the IOVA's offset in the page
        expect(leaf?.decision, where).toBe('leaf');
        const addr = Number((leaf!.raw & 0x000ffffffffff000n) & ~BigInt(o.pageSize - 1));
        expect(o.hpa, where).toBe(addr + (st.iova % o.pageSize));
        if (o.pageSize === 2 ** 21) note('2m');
      }
      if (o.domainId < 0) expect(o.hpa, where).toBe(st.iova);
    } else if (!o.ok && !d.ok) {
      const f = o.fault;
      if (f.vendor === 'vtd' && d.fault.vendor === 'vtd') {
        expect([d.fault.reason, d.fault.recorded], where).toEqual([f.reason, f.recorded]);
        note(`vtd-${f.reason}`);
        if (f.reason === 5) expect(st.access, where).toBe('write');
        if (f.reason === 6) expect(st.access, where).toBe('read');
        if (!f.recorded) note('vtd-unrecorded');
        const rec = d.fault.record;
        expect(rec !== null, where).toBe(f.recorded);
        if (rec !== null) {
          const got = vtd!.faultRecord(rec.index);
          expect(got, where).not.toBeNull();
          expect({ sid: rec.sid, type: rec.type, reason: rec.reason, pageAddress: BigInt(rec.pageAddress) }, where).toEqual({ sid: got!.sid, type: got!.type, reason: got!.reason, pageAddress: got!.pageAddress });
          expect([rec.sid, rec.type, rec.reason, rec.pageAddress], where).toEqual([st.sid, st.access === 'read' ? 1 : 0, f.reason, st.iova - (st.iova % 4096)]);
          const at = vtd!.caps.froOffset + 16 * rec.index;
          expect([vtd!.read64(at).toString(16), vtd!.read64(at + 8).toString(16)], where).toEqual([rec.lo, rec.hi]);
          vtd!.write32(at + 12, 0x80000000);
        }
      } else if (f.vendor === 'amd-vi' && d.fault.vendor === 'amd-vi') {
        expect([d.fault.code, d.fault.logged], where).toEqual([f.code, f.logged]);
        expect(f.logged, where).toBe(true);
        note(f.code === 2 ? `amd-2-${st.access}` : `amd-${f.code}`);
        const e = amd!.readEvent(tail);
        expect(d.fault.entry, where).toEqual({ offset: tail, deviceId: e.deviceId, domainId: e.domainId, flags: e.flags, address: e.address.toString(16), dwords: e.dwords });
        expect(e.deviceId, where).toBe(st.sid);
        if (f.code === 2) {
          expect(e.flags, where).toBe(st.access === 'write' ? 0x20 : 0);
          expect(e.address, where).toBe(BigInt(st.iova));
        }
      } else throw new Error(`${where}: vendor mismatch`);
    }
  });
  expect(ex.iotlb, `seed ${ex.seed}`).toEqual({ hits: unit.stats.iotlbHits, misses: unit.stats.iotlbMisses });
}

describe('exercise iommu', () => {
  it('is deterministic per seed and plain data', () => {
    const a = generateIommuExercise({ seed: 12 });
    expect(generateIommuExercise({ seed: 12 })).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(a.steps.filter((s) => s.kind === 'dma').length).toBe(6);
    expect(a.answers.length).toBe(a.steps.length);
    expect(generateIommuExercise({ seed: 13 })).not.toEqual(a);
    expect(formatIommuExercise(generateIommuExercise({ seed: 12 }), { answers: true })).toBe(formatIommuExercise(a, { answers: true }));
    expect(generateIommuExercise({ seed: 12, vendor: a.vendor })).toEqual(a);
  });

  it('over 200 seeds: both vendors, every fault the generator sets up occurs, and the key is what a fresh unit does over the same memory', () => {
    const seen = new Map<string, number>();
    const vendors = new Map<string, number>();
    for (let seed = 0; seed < 200; seed++) {
      const ex = generateIommuExercise({ seed });
      vendors.set(ex.vendor, (vendors.get(ex.vendor) ?? 0) + 1);
      replay(ex, seen);
    }
    expect(vendors.get('vtd')).toBeGreaterThan(60);
    expect(vendors.get('amdvi')).toBeGreaterThan(60);
    // VT-d reasons 1, 2, 4, 5, 6, 7; AMD-Vi IO_PAGE_FAULT with and without RW, ILLEGAL_DEV_TABLE_ENTRY, PAGE_TAB_HW_ERROR
    for (const k of ['vtd-1', 'vtd-2', 'vtd-4', 'vtd-5', 'vtd-6', 'vtd-7', 'vtd-unrecorded', 'amd-2-read', 'amd-2-write', 'amd-1', 'amd-4', 'iotlb-hit', 'untranslated', 'walked', '2m']) {
      expect(seen.get(k) ?? 0, k).toBeGreaterThanOrEqual(3);
    }
  });

  it('--vendor and --count give the same kind of exercise: 1..16 requests, either vendor, each key replayed', () => {
    const seen = new Map<string, number>();
    for (let seed = 0; seed < 40; seed++) {
      for (const vendor of ['vtd', 'amdvi'] as const) {
        for (const count of [1, 2, IOMMU_MAX_COUNT]) {
          const ex = generateIommuExercise({ seed, count, vendor });
          expect(ex.vendor).toBe(vendor);
          expect(ex.steps.filter((s) => s.kind === 'dma').length).toBe(count);
          replay(ex, seen);
        }
      }
    }
  });

  it('the stale-IOTLB sequence: the request after the edit hits the old translation, the one after the invalidation walks and differs', () => {
    let sequences = 0;
    const hows = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const ex = generateIommuExercise({ seed, count: 8 });
      const at = ex.steps.findIndex((s) => s.kind === 'dma' && s.role === 'fill');
      if (at < 0) continue;
      sequences++;
      expect(ex.steps.slice(at, at + 5).map((s) => (s.kind === 'dma' ? s.role : s.kind))).toEqual(['fill', 'edit', 'stale', 'invalidate', 'after']);
      hows.add((ex.steps[at + 1] as Extract<IommuStep, { kind: 'edit' }>).how);
      const [fill, , stale, , after] = ex.answers.slice(at, at + 5) as DmaAnswer[];
      const iova = (k: number): number => (ex.steps[at + k] as Extract<IommuStep, { kind: 'dma' }>).iova;
      expect(fill!.ok).toBe(true);
      expect(stale!.ok && stale!.iotlbHit).toBe(true);
      if (!fill!.ok || !stale!.ok) continue;
      // the stale request lands where the old translation said
      expect(stale!.hpa - iova(2)).toBe(fill!.hpa - iova(0));
      // what the tables say now differs, and so does the request after the invalidation
      expect(stale!.tablesNow).not.toEqual({ ok: true, hpa: stale!.hpa });
      if (after!.ok) {
        expect(after!.iotlbHit).toBe(false);
        expect(after!.hpa - iova(4)).not.toBe(fill!.hpa - iova(0));
      }
      expect(after!.refs.some((r) => r.kind === 'page-table-entry')).toBe(true);
    }
    expect(sequences).toBeGreaterThan(30);
    expect([...hows].sort()).toEqual(['remap', 'revoke', 'unmap']);
  });

  it('names faults and events as the reference tables do', () => {
    const vtd = JSON.parse(readFileSync('tests/reference/vtd.json', 'utf8')) as { fault_reasons: Record<string, string> };
    for (const [n, name] of Object.entries(VTD_REASON_NAMES)) expect(vtd.fault_reasons[`0x${Number(n).toString(16)}`]).toBe(name);
    const amd = JSON.parse(readFileSync('tests/reference/amd-vi.json', 'utf8')) as { event_log: { types: Record<string, string> } };
    for (const [n, name] of Object.entries(AMDVI_EVENT_NAMES)) expect(amd.event_log.types[n]).toBe(name);
  });

  it('rejects a bad seed, count or vendor', () => {
    expect(() => generateIommuExercise({ seed: -1 })).toThrow(/seed/);
    expect(() => generateIommuExercise({ seed: 1, count: 0 })).toThrow(/count/);
    expect(() => generateIommuExercise({ seed: 1, count: IOMMU_MAX_COUNT + 1 })).toThrow(/count/);
    expect(() => generateIommuExercise({ seed: 1, vendor: 'arm' as never })).toThrow(/vendor/);
  });
});
