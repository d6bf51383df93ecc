import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { EPTE, eptCaps, eptNested, encodeEptp, type EptCaps } from '../vmx/ept.ts';
import { decodeEptViolation } from '../vmx/qualification.ts';
import { nptNested, type NptControl } from '../svm/npt.ts';
import { PTE } from './bits.ts';
import { TableBuilder } from './nested-testkit.ts';
import { translate2D, type NestedTranslator, type TwoDRef, type TwoDResult } from './nested.ts';
import type { AccessKind, PagingControl } from './types.ts';

/** Guest-physical X lives at host-physical X + OFFSET. */
const OFFSET = 0x400000;
const G_ROOT = 0x10000;
const DATA_GPA = 0x50000;
const LIN = 0x7f0000401000 + 0x9abc - 0x9000;
const ALL: EptCaps = { ...eptCaps(), walk5: true, accessedDirty: true, executeOnly: true, pdpte1gb: true };
const RWX = EPTE.R | EPTE.W | EPTE.X;
const U = PTE.P | PTE.RW | PTE.US;

function guestCtl(mode: PagingControl['mode'], pdpte = new Uint32Array(8)): PagingControl {
  return { mode, cr3Lo: G_ROOT, cr3Hi: 0, wp: true, pse: true, pge: false, pcide: false, nxe: true, pdpte, maxPhysAddr: 40 };
}

interface World {
  mem: PhysMem;
  guest: TableBuilder;
  /** Maps a guest-physical page in the nested dimension (to itself + OFFSET). */
  mapNested: (gpa: number, leafLo?: number) => number;
  guestPages: number[];
}

/** A guest with its own n-level tables mapping LIN → DATA_GPA (A/D preset unless `clearAd`). */
function world(levels: 4 | 5, nestedLevels: 4 | 5, nestedLeaf: number, nestedTable: number, clearAd = false): World {
  const mem = new PhysMem(0x800000);
  const nested = new TableBuilder(mem, 0x2000);
  const guest = new TableBuilder(mem, G_ROOT + 0x1000, (a) => a + OFFSET);
  const ad = clearAd ? 0 : PTE.A;
  guest.map(G_ROOT, levels, LIN, DATA_GPA, 12, U | ad, U | ad | (clearAd ? 0 : PTE.D));
  const guestPages: number[] = [];
  for (let p = G_ROOT; p < G_ROOT + 0x1000 * (levels + 1); p += 0x1000) guestPages.push(p);
  const mapNested = (gpa: number, leafLo = nestedLeaf): number => nested.map(0x1000, nestedLevels, gpa, gpa + OFFSET, 12, nestedTable, leafLo);
  for (const p of [...guestPages, DATA_GPA]) mapNested(p);
  return { mem, guest, mapNested, guestPages };
}

const READ: AccessKind = { write: false, fetch: false, user: true };
const WRITE: AccessKind = { write: true, fetch: false, user: true };

function ok<F>(r: TwoDResult<F>) {
  expect(r.kind).toBe('ok');
  if (r.kind !== 'ok') throw new Error(r.kind);
  return r;
}

/** The reference pattern: per guest level, m nested references then the guest entry; then m. */
function expectOrder(refs: TwoDRef[], n: number, m: number): void {
  const nestedNames = m === 5 ? ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'] : ['PML4E', 'PDPTE', 'PDE', 'PTE'];
  const guestNames = n === 5 ? ['PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'] : n === 4 ? ['PML4E', 'PDPTE', 'PDE', 'PTE'] : ['PDE', 'PTE'];
  expect(refs.length).toBe(n * m + n + m);
  let i = 0;
  for (let g = 0; g < n; g++) {
    const entry = refs[i + m]!;
    if (entry.dim !== 'guest') throw new Error(`reference ${i + m} is not a guest entry`);
    expect(entry.step.level).toBe(guestNames[g]);
    for (let k = 0; k < m; k++) {
      const r = refs[i + k]!;
      expect(r).toMatchObject({ dim: 'nested', stage: 'guest-table', gpa: entry.gpa, update: false });
      expect(r.step.level).toBe(nestedNames[k]);
    }
    // The guest entry's host address is the translation the m references just made.
    expect(entry.hpa).toBe(entry.gpa + OFFSET);
    expect(entry.step.entryPa).toBe(entry.gpa);
    i += m + 1;
  }
  for (let k = 0; k < m; k++) {
    expect(refs[i + k]).toMatchObject({ dim: 'nested', stage: 'final', gpa: DATA_GPA + 0xabc });
    expect(refs[i + k]!.step.level).toBe(nestedNames[k]);
  }
}

describe('the 2D walk', () => {
  const eptp4 = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: false, root: 0x1000 });
  const eptp5 = encodeEptp({ memType: 6, walkLength: 5, accessedDirty: false, root: 0x1000 });
  const WB = RWX | (6 << EPTE.MT_SHIFT);

  it('4-level guest on 4-level EPT: 24 references, in the order of 29.3.2', () => {
    const w = world(4, 4, WB, RWX);
    const r = ok(translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), READ, eptNested(w.mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), true));
    expect(r.gpa).toBe(DATA_GPA + 0xabc);
    expect(r.hpa).toBe(DATA_GPA + 0xabc + OFFSET);
    expectOrder(r.refs, 4, 4);
  });

  it('5-level guest on 5-level EPT: 35 references', () => {
    const w = world(5, 5, WB, RWX);
    const r = ok(translate2D(w.mem, guestCtl('5level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), READ, eptNested(w.mem, eptp5, { caps: ALL, maxPhysAddr: 40 }), true));
    expectOrder(r.refs, 5, 5);
  });

  it('4-level guest on 4-level NPT: 24 references, the same order (APM 15.25.5)', () => {
    const w = world(4, 4, U, U);
    const ctl: NptControl = { nCr3Lo: 0x1000, nCr3Hi: 0, mode: '4level', nxe: true, maxPhysAddr: 40 };
    const r = ok(translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), WRITE, nptNested(w.mem, ctl, true), true));
    expect(r.hpa).toBe(DATA_GPA + 0xabc + OFFSET);
    expectOrder(r.refs, 4, 4);
  });

  it('a PAE guest reads 2 levels from memory (its PDPTEs are registers): 2·4 + 2 + 4 = 14', () => {
    const mem = new PhysMem(0x800000);
    const nested = new TableBuilder(mem, 0x2000);
    const guest = new TableBuilder(mem, G_ROOT + 0x1000, (a) => a + OFFSET);
    // The PDPTE register for LIN's top two bits points at a guest page directory.
    const lin = 0x40203abc;
    const pd = guest.alloc();
    const pt = guest.alloc();
    guest.set(pd + 1 * 8, pt | U | PTE.A);
    guest.set(pt + 3 * 8, DATA_GPA | U | PTE.A | PTE.D);
    const pdpte = new Uint32Array(8);
    pdpte[2] = pd | PTE.P;
    for (const p of [pd, pt, DATA_GPA]) nested.map(0x1000, 4, p, p + OFFSET, 12, RWX, WB);
    const r = ok(translate2D(mem, guestCtl('pae', pdpte), lin, 0, READ, eptNested(mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), true));
    expect(r.hpa).toBe(DATA_GPA + 0xabc + OFFSET);
    expectOrder(r.refs, 2, 4);
  });

  it('guest A/D updates: EPT without A/D translates each write again; with A/D it reuses the read (a write)', () => {
    const lo = LIN % 2 ** 32;
    const hi = Math.floor(LIN / 2 ** 32);
    const w = world(4, 4, WB, RWX, true);
    const r = ok(translate2D(w.mem, guestCtl('4level'), lo, hi, WRITE, eptNested(w.mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), true));
    const reads = r.refs.filter((x) => !(x.dim === 'nested' && x.update));
    expect(reads.length).toBe(24);
    // Four guest entries got A (the leaf A and D in one write): four more nested walks.
    expect(r.refs.filter((x) => x.dim === 'nested' && x.update).length).toBe(16);
    const leaf = r.refs.filter((x) => x.dim === 'guest')[3]!;
    expect(w.mem.read(leaf.hpa, 4) & (PTE.A | PTE.D)).toBe(PTE.A | PTE.D);

    const v = world(4, 4, WB, RWX, true);
    const eptpAd = encodeEptp({ memType: 6, walkLength: 4, accessedDirty: true, root: 0x1000 });
    const r2 = ok(translate2D(v.mem, guestCtl('4level'), lo, hi, WRITE, eptNested(v.mem, eptpAd, { caps: ALL, maxPhysAddr: 40, sideEffects: true }), true));
    expect(r2.refs.length).toBe(24);
    // Guest-table accesses are writes under EPT A/D: the EPT leaves mapping guest tables are dirty.
    const eptLeaves = r2.refs.filter((x) => x.dim === 'nested' && x.step.level === 'PTE');
    expect(eptLeaves.map((x) => v.mem.read(x.step.entryPa, 4) & (EPTE.A | EPTE.D))).toEqual(Array(5).fill(EPTE.A | EPTE.D));
  });

  it('an EPT violation on a guest table: bit 8 = 0, GUEST_LINEAR_ADDRESS valid; the walk stops there', () => {
    const w = world(4, 4, WB, RWX);
    // The guest's PDPT page (second guest table) is not mapped in EPT.
    const pdptLeaf = w.mapNested(w.guestPages[1]!, 0);
    expect(pdptLeaf).toBeGreaterThan(0);
    const r = translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), READ, eptNested(w.mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), true);
    expect(r.kind).toBe('nested-fault');
    if (r.kind !== 'nested-fault' || r.fault.kind !== 'violation') throw new Error('expected a violation');
    expect(r.stage).toBe('guest-table');
    expect(r.fault.guestLinearAddress).toBe(LIN);
    expect(r.fault.guestPhysicalAddress).toBe(r.gpa);
    expect(Math.floor(r.gpa / 4096) * 4096).toBe(w.guestPages[1]);
    expect(decodeEptViolation(r.fault.qualification)).toMatchObject({ read: true, write: false, linearValid: true, translated: false });
    // 4 nested + the PML4E, then the 4 nested references of the failed translation.
    expect(r.refs.map((x) => x.dim).join(',')).toBe('nested,nested,nested,nested,guest,nested,nested,nested,nested');
  });

  it('an EPT violation on the final address: bit 8 = 1', () => {
    const w = world(4, 4, WB, RWX);
    w.mapNested(DATA_GPA, EPTE.R | (6 << EPTE.MT_SHIFT));
    const r = translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), WRITE, eptNested(w.mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), true);
    if (r.kind !== 'nested-fault' || r.fault.kind !== 'violation') throw new Error(`expected a violation, got ${r.kind}`);
    expect(r.stage).toBe('final');
    expect(r.gpa).toBe(DATA_GPA + 0xabc);
    expect(decodeEptViolation(r.fault.qualification)).toMatchObject({ write: true, readable: true, writable: false, linearValid: true, translated: true });
    expect(r.refs.length).toBe(24);
  });

  it("the guest's own #PF is not a VM exit: no final translation", () => {
    const w = world(4, 4, WB, RWX);
    const steps = ok(translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), READ, eptNested(w.mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), false)).refs;
    const pte = steps.filter((x) => x.dim === 'guest')[3]!;
    w.mem.write(pte.hpa, 4, 0);
    const r = translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), READ, eptNested(w.mem, eptp4, { caps: eptCaps(), maxPhysAddr: 40 }), true);
    expect(r.kind).toBe('guest-fault');
    if (r.kind !== 'guest-fault') return;
    expect(r.fault).toEqual({ errorCode: 4, level: 'PTE' });
    expect(r.refs.length).toBe(20);
  });

  it('NPF on a guest table sets EXITINFO1 bit 33, on the final address bit 32', () => {
    const ctl: NptControl = { nCr3Lo: 0x1000, nCr3Hi: 0, mode: '4level', nxe: true, maxPhysAddr: 40 };
    const lo = LIN % 2 ** 32;
    const hi = Math.floor(LIN / 2 ** 32);
    const a = world(4, 4, U, U);
    // Guest tables must be writable in the nested tables: a read-only one faults as a write.
    a.mapNested(a.guestPages[2]!, PTE.P | PTE.US);
    const t = translate2D(a.mem, guestCtl('4level'), lo, hi, READ, nptNested(a.mem, ctl, true), true);
    if (t.kind !== 'nested-fault') throw new Error(t.kind);
    expect(t.fault.exitInfo1).toEqual({ lo: 0b111, hi: 2 });
    expect(t.fault.exitInfo2).toBe(t.gpa);
    const b = world(4, 4, U, U);
    b.mapNested(DATA_GPA, PTE.P | PTE.US);
    const f = translate2D(b.mem, guestCtl('4level'), lo, hi, WRITE, nptNested(b.mem, ctl, true), true);
    if (f.kind !== 'nested-fault') throw new Error(f.kind);
    expect(f.stage).toBe('final');
    expect(f.fault.exitInfo1).toEqual({ lo: 0b111, hi: 1 });
    expect(f.fault.exitInfo2).toBe(DATA_GPA + 0xabc);
  });

  it('a translator that is not EPT or NPT sees every request in order', () => {
    const w = world(4, 4, WB, RWX);
    const seen: string[] = [];
    const identity: NestedTranslator<never> = {
      translate(gpa, req) {
        seen.push(`${req.stage}:${gpa.toString(16)}`);
        return { ok: true, hpa: gpa + OFFSET, steps: [], asWrite: true };
      },
    };
    const r = ok(translate2D(w.mem, guestCtl('4level'), LIN % 2 ** 32, Math.floor(LIN / 2 ** 32), READ, identity, false));
    expect(r.refs.length).toBe(4);
    expect(seen.length).toBe(5);
    expect(seen[0]).toBe(`guest-table:${(G_ROOT + 8 * 0xfe).toString(16)}`);
    expect(seen[4]).toBe(`final:${(DATA_GPA + 0xabc).toString(16)}`);
  });
});
