import { describe, expect, it } from 'vitest';
import type { IoRequestView } from '../../worker/io-types.ts';
import { flagNames, pathOf, pickRequest, reasonText, requestText, strayed } from './path.ts';

const base: IoRequestView = {
  vm: 0, bus: 'host', seq: 0, device: 'nic', rid: '00:08.0', access: 'read', what: 'ring', iova: '0x200000', length: 16, ok: true, via: 'iommu',
  hpa: '0x200000', owner: { kind: 'vm', vm: 0, name: 'a' }, domainId: 1, iotlbHit: false, walk: [], fault: null, record: null,
};
const entry = (decision: 'next' | 'fault' | 'leaf') => ({ kind: 'page-table-entry' as const, level: 1, index: 0, pa: '0x1000', raw: '0x0', decision, present: decision !== 'fault', fields: [] });

describe('the IOMMU view’s path', () => {
  it('goes device → entries → memory, or ends blocked; IOTLB hits and the ways without an IOMMU have a box of their own', () => {
    expect(pathOf({ ...base, walk: [entry('next'), entry('leaf')] }).map((b) => b.kind)).toEqual(['device', 'entry', 'entry', 'memory']);
    expect(pathOf({ ...base, ok: false, hpa: null, owner: null, walk: [entry('fault')] }).map((b) => b.kind)).toEqual(['device', 'entry', 'blocked']);
    expect(pathOf({ ...base, iotlbHit: true }).map((b) => b.kind)).toEqual(['device', 'iotlb', 'memory']);
    expect(pathOf({ ...base, via: 'none' })).toEqual([{ kind: 'device' }, { kind: 'direct', via: 'none' }, { kind: 'memory', hpa: '0x200000', owner: base.owner }]);
    expect(pathOf({ ...base, bus: 'vm', via: 'hypervisor' })[1]).toEqual({ kind: 'direct', via: 'hypervisor' });
  });

  it('opens on the last blocked request, else the last that left its VM’s memory, else the last', () => {
    const other = { ...base, owner: { kind: 'vm' as const, vm: 1, name: 'b' } };
    const hv = { ...base, owner: { kind: 'hypervisor' as const } };
    const blocked = { ...base, ok: false, hpa: null, owner: null };
    expect(strayed(base)).toBe(false);
    expect(strayed(other)).toBe(true);
    expect(strayed(hv)).toBe(true);
    expect(strayed(blocked)).toBe(false);
    expect(pickRequest([base, blocked, other, base])).toBe(1);
    expect(pickRequest([base, other, base])).toBe(1);
    expect(pickRequest([base, base])).toBe(1);
    expect(pickRequest([])).toBe(-1);
  });

  it('names VT-d fault reasons and AMD-Vi flags', () => {
    const t = (k: string, v?: Record<string, string | number>) => `${k}${v === undefined ? '' : JSON.stringify(v)}`;
    expect(reasonText(t, 6)).toBe('io.fr.6');
    expect(reasonText(t, 0x22)).toBe('io.fr.34');
    expect(reasonText(t, 0x27)).toBe('io.fr.other{"n":39}');
    expect(flagNames(0)).toBe('0x000');
    expect(flagNames(0x028)).toBe('0x028 (I RW)');
    expect(requestText(t, { ...base, length: 1, access: 'write' })).toBe('io.req{"access":"io.access.write","size":"io.bytes.one","iova":"0x200000","rid":"00:08.0","what":"io.what.ring"}');
    expect(requestText(t, { ...base, what: null })).toContain('io.req.plain');
  });
});
