/**
 * ViewState.twod through the session, on the nested-walk examples (both vendors, the same guest):
 * the first touch of a data page is a TLB miss with its 2D walk, the second a TLB hit showing the
 * walk a miss would have made; the MMIO access's walk ends in a nested fault, the absent page's in
 * the guest's own #PF; a function of the step only, leaving the machine as goto leaves it; null for
 * a bare scenario and without nested paging. Also runUntil's `match` (EPT violation / NPF, #PF).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import nwVtx from '../emu/scenario/examples/nested-walk-vtx.json' with { type: 'json' };
import nwSvm from '../emu/scenario/examples/nested-walk-svm.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json } from './protocol.ts';
import type { TwoDWalkView } from './twod-types.ts';

beforeAll(() => prepareLoad(nwVtx));

function session(scenario: unknown): LabSession {
  const s = new LabSession({ interval: 4 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

const PAGE_A = '0x0000000080001000';
const find = (walks: readonly TwoDWalkView[], linear: string, access: string) => walks.find((w) => w.linear === linear && w.access === access);
/** The references without the extra A/D translations (EPT without A/D flags makes them; NPT does not). */
const reads = (w: TwoDWalkView) => w.refs.filter((r) => !r.update);

describe.each([['vtx', nwVtx, 'intel', 48], ['svm', nwSvm, 'amd', 0x400]] as const)('ViewState.twod (%s)', (_name, sc, vendor, exitCode) => {
  it('first touch: a TLB miss and a 2D walk of 4 guest levels; second touch: a TLB hit with the same walk read without side effects', () => {
    const s = session(sc);
    expect(s.goto(0).twod ?? null).toBeNull();
    const v = s.goto(2);
    expect(v.twod!.vendor).toBe(vendor);
    const miss = find(v.twod!.walks, PAGE_A, 'write')!;
    expect(miss.source).toBe('walk');
    expect(miss.outcome).toMatchObject({ kind: 'ok', gpa: '0x0000000000300000' });
    expect(miss.guestMode).toBe('4level');
    // The guest's four entries, each after the nested walk of its guest-physical address.
    expect(miss.refs.filter((r) => r.dim === 'guest').map((r) => r.level)).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
    // The examples map guest RAM with 4-KByte nested pages (nestedPageSize '4k'): each nested walk
    // reads 4 entries, the textbook's (4+1)(4+1)−1.
    expect(reads(miss).length).toBe(4 * 4 + 4 + 4);
    expect(miss.saved).toBeUndefined();
    const hit = find(s.goto(3).twod!.walks, PAGE_A, 'read')!;
    expect(hit.source).toBe('tlb');
    expect(hit.refs.map((r) => [r.dim, r.level, r.gpa, r.hpa])).toEqual(reads(miss).map((r) => [r.dim, r.level, r.gpa, r.hpa]));
  });

  it('with 2-MByte nested pages (the default) each nested walk stops at the PDE: 4·3 + 4 + 3 = 19', () => {
    const s = session({ ...sc, hypervisor: {} });
    const miss = find(s.goto(2).twod!.walks, PAGE_A, 'write')!;
    expect(reads(miss).length).toBe(19);
    expect(reads(miss).filter((r) => r.dim === 'nested').every((r) => r.level !== 'PTE')).toBe(true);
  });

  it('with the walk caches on, a later walk saves references and the count with them is the uncached one', () => {
    const plain = session(sc);
    const cached = session({ ...sc, hypervisor: { ...sc.hypervisor, walkCaches: { pwc: true, ntlb: true } } });
    const PAGE_B = '0x0000000080002000';
    // The kernel's instruction fetches already filled the caches with the upper guest entries and
    // the nested translations of the guest's tables: PAGE_A's first walk is shorter by what they saved.
    const first = find(cached.goto(2).twod!.walks, PAGE_A, 'write')!;
    const firstPlain = find(plain.goto(2).twod!.walks, PAGE_A, 'write')!;
    expect(first.saved!.pwc + first.saved!.ntlb).toBeGreaterThan(0);
    expect(reads(first).length + first.saved!.pwc + first.saved!.ntlb).toBe(reads(firstPlain).length);
    // PAGE_B shares the guest's PML4E, PDPTE and PDE with PAGE_A: the page-walk cache serves them.
    const b = find(cached.goto(5).twod!.walks, PAGE_B, 'write')!;
    const bPlain = find(plain.goto(5).twod!.walks, PAGE_B, 'write')!;
    expect(b.source).toBe('walk');
    expect(b.saved!.pwc).toBeGreaterThan(0);
    expect(reads(b).length + b.saved!.pwc + b.saved!.ntlb).toBe(reads(bPlain).length);
    expect(reads(b).length).toBeLessThan(reads(bPlain).length);
  });

  it('the MMIO access ends in a nested fault on its final address; the absent page in the guest #PF at its PTE', () => {
    const s = session(sc);
    const mmio = find(s.goto(19).twod!.walks, '0x0000000080003000', 'read')!;
    expect(mmio.outcome).toEqual({ kind: 'nested-fault', stage: 'final', gpa: '0x0000000008000000' });
    const pf = find(s.goto(21).twod!.walks, '0x0000000080004000', 'read')!;
    expect(pf.outcome).toEqual({ kind: 'guest-fault', errorCode: 0, level: 'PTE' });
  });

  it('is a function of the step: the same by goto, by stepping and after going back; the machine is left as goto leaves it', () => {
    const a = session(sc);
    const b = session(sc);
    for (let i = 0; i < 22; i++) b.step(1);
    const byStep = b.back(19);
    const byGoto = a.goto(3);
    expect(byStep.twod).toEqual(byGoto.twod);
    expect(byStep.machine).toEqual(byGoto.machine);
    // A session that never built the view of step 3 reaches the same machine at step 27.
    const c = session(sc);
    expect(a.goto(27).machine).toEqual(c.step(27).machine);
  });

  it('runUntil with match stops at the EPT violation / NPF, then at the guest #PF', () => {
    const s = session(sc);
    const exit = s.runUntil(['vm/exit'], 1000, { exitCodes: [exitCode] });
    expect(exit.event).toMatchObject({ kind: 'vm/exit', code: exitCode });
    const pf = s.runUntil(['cpu/exception'], 1000, { vectors: [14] });
    expect(pf.event).toMatchObject({ kind: 'cpu/exception', vector: 14 });
    expect(s.runUntil(['cpu/exception'], 1000, { vectors: [14] }).event).toBeNull();
    expect(() => s.runUntil(['vm/exit'], 10, { exitCodes: ['x' as unknown as number] })).toThrow(/integers/);
  });
});

describe('ViewState.twod is null', () => {
  it('for a bare scenario', () => {
    expect(session(syscalls).step(3).twod ?? null).toBeNull();
  });
  it('without nested paging', () => {
    const s = session({ ...(nwVtx as object), hypervisor: { nestedPaging: false } });
    expect(s.step(3).twod ?? null).toBeNull();
  });
});
