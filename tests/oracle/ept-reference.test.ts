/**
 * The nested-translation code against the reference tables: every EPTP and EPT-entry bit that
 * src/emu/vmx/ept.ts names equals tests/reference/ept.json, the capability bits it reads equal the
 * json's IA32_VMX_EPT_VPID_CAP list, the exit qualifications the walker produces set the bits
 * vmx-exit-qualifications.json gives for each meaning, the exit reasons are those of
 * vmx-exit-reasons.json, and the nested page faults of src/emu/svm/npt.ts set the EXITINFO1 bits
 * and exit code of svm-misc.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../../src/emu/mem/physmem.ts';
import { TableBuilder } from '../../src/emu/mmu/nested-testkit.ts';
import { PTE } from '../../src/emu/mmu/bits.ts';
import {
  EPTE,
  EPTE_HI_SUPPRESS_VE,
  EPTP,
  EptMemType,
  RESERVED_MEM_TYPES,
  decodeEptEntry,
  decodeEptp,
  eptCaps,
  eptNested,
  eptTranslate,
  encodeEptp,
  type EptCaps,
} from '../../src/emu/vmx/ept.ts';
import { nptTranslate } from '../../src/emu/svm/npt.ts';
import { GPA_TO_HPA, NestedWorld } from '../../src/emu/exercise/nested-exercise.ts';
import { rng } from '../../src/emu/exercise/rng.ts';

const dir = join(import.meta.dirname, '../reference');
const load = <T>(f: string): T => JSON.parse(readFileSync(join(dir, f), 'utf8')) as T;
const ept = load<{
  ept_entry_bits: Record<string, string>;
  memory_types: Record<string, string>;
  eptp_bits: Record<string, string>;
  eptp_example_4level_wb_ad: string;
  ept_vpid_cap_msr_bits: Record<string, string>;
}>('ept.json');
const qual = load<{ ept_violation: Record<string, string> }>('vmx-exit-qualifications.json').ept_violation;
const reasons = load<Record<string, string>>('vmx-exit-reasons.json');
const npf = load<{ npf: { exitinfo1: string; exitinfo2: string; exit_code: string } }>('svm-misc.json').npf;

/** The mask of a json bit key: "5" or "5:3". */
function keyMask(key: string): bigint {
  const [hi, lo] = key.includes(':') ? key.split(':').map(Number) : [Number(key), Number(key)];
  return ((1n << BigInt(hi! - lo! + 1)) - 1n) << BigInt(lo!);
}

/** The json key whose description starts with `text`. */
function keyOf(table: Record<string, string>, text: string): string {
  const hits = Object.entries(table).filter(([, v]) => typeof v === 'string' && v.startsWith(text));
  expect(hits.length, text).toBe(1);
  return hits[0]![0];
}

describe('EPT entries = ept.json', () => {
  const named: [string, bigint][] = [
    ['R - read', BigInt(EPTE.R)],
    ['W - write', BigInt(EPTE.W)],
    ['X - execute', BigInt(EPTE.X)],
    ['EPT memory type', BigInt(EPTE.MT_MASK)],
    ['IPAT', BigInt(EPTE.IPAT)],
    ['page size', BigInt(EPTE.PS)],
    ['accessed flag', BigInt(EPTE.A)],
    ['dirty flag', BigInt(EPTE.D)],
    ['user-mode execute', BigInt(EPTE.XU)],
    ['suppress #VE', BigInt(EPTE_HI_SUPPRESS_VE >>> 0) << 32n],
  ];
  for (const [text, mask] of named) {
    it(`${text}: bit(s) ${keyOf(ept.ept_entry_bits, text)}`, () => {
      expect(mask).toBe(keyMask(keyOf(ept.ept_entry_bits, text)));
    });
  }

  it('the memory-type shift and the address field', () => {
    expect(BigInt(EPTE.MT_MASK >>> EPTE.MT_SHIFT)).toBe(7n);
    const addr = keyMask(keyOf(ept.ept_entry_bits, 'physical address'));
    const all = decodeEptEntry(0xffffffff, 0xffffffff, 52).address;
    expect(BigInt(all)).toBe(addr);
  });

  it('decodeEptEntry reads each named bit from its position', () => {
    const fields: [keyof ReturnType<typeof decodeEptEntry>, string][] = [
      ['read', 'R - read'],
      ['write', 'W - write'],
      ['execute', 'X - execute'],
      ['ipat', 'IPAT'],
      ['pageSize', 'page size'],
      ['accessed', 'accessed flag'],
      ['dirty', 'dirty flag'],
      ['userExecute', 'user-mode execute'],
      ['suppressVe', 'suppress #VE'],
    ];
    for (const [field, text] of fields) {
      const m = keyMask(keyOf(ept.ept_entry_bits, text));
      const e = decodeEptEntry(Number(m & 0xffffffffn), Number(m >> 32n), 52);
      expect(e[field], field).toBe(true);
      const others = Object.entries(e).filter(([k, v]) => v === true && k !== field);
      expect(others, field).toEqual([]);
    }
  });

  it('the memory types, and 2, 3, 7 reserved', () => {
    const ref = Object.fromEntries(Object.entries(ept.memory_types).filter(([k]) => k !== '_source').map(([k, v]) => [v, Number(k)]));
    expect(ref).toEqual(EptMemType);
    for (let t = 0; t < 8; t++) expect(RESERVED_MEM_TYPES.has(t)).toBe(!(t in ept.memory_types));
  });
});

describe('EPTP = ept.json', () => {
  it('memory type, walk length, A/D enable, reserved bits', () => {
    expect(BigInt(EPTP.MT_MASK)).toBe(keyMask(keyOf(ept.eptp_bits, 'memory type')));
    expect(BigInt(EPTP.PWL_MASK)).toBe(keyMask(keyOf(ept.eptp_bits, 'page-walk length')));
    expect(BigInt(EPTP.AD)).toBe(keyMask(keyOf(ept.eptp_bits, 'enable accessed/dirty')));
    expect(BigInt(EPTP.RSVD_LO)).toBe(keyMask(keyOf(ept.eptp_bits, 'reserved')));
  });

  it("the json's example EPTP (0x5e | root)", () => {
    expect(ept.eptp_example_4level_wb_ad.startsWith('0x5e')).toBe(true);
    expect(decodeEptp(0x5en | 0x7000n)).toEqual({ memType: 6, walkLength: 4, accessedDirty: true, root: 0x7000 });
    expect(encodeEptp({ memType: 6, walkLength: 4, accessedDirty: true, root: 0x7000 })).toBe(0x5en | 0x7000n);
    // The walk lengths Linux names: PWL_4 = 3 << 3, PWL_5 = 4 << 3.
    expect(decodeEptp(0x18n).walkLength).toBe(4);
    expect(decodeEptp(0x20n).walkLength).toBe(5);
  });

  it('each capability bit eptCaps reads is the one the json names', () => {
    const named: [keyof EptCaps, string][] = [
      ['executeOnly', 'execute-only'],
      ['walk4', '4-level walk'],
      ['walk5', '5-level walk'],
      ['uc', 'UC EPTP'],
      ['wb', 'WB EPTP'],
      ['pde2mb', '2 MB pages'],
      ['pdpte1gb', '1 GB pages'],
      ['accessedDirty', 'A/D flags'],
    ];
    for (const [field, text] of named) {
      const caps = eptCaps(keyMask(keyOf(ept.ept_vpid_cap_msr_bits, text)));
      expect(Object.entries(caps).filter(([, v]) => v).map(([k]) => k), text).toEqual([field]);
    }
  });
});

describe('EPT-induced VM exits = vmx-exit-reasons.json and vmx-exit-qualifications.json', () => {
  const ALL: EptCaps = { executeOnly: true, walk4: true, walk5: true, uc: true, wb: true, pde2mb: true, pdpte1gb: true, accessedDirty: true };
  const RWX = EPTE.R | EPTE.W | EPTE.X;
  function walkWith(leafLo: number, acc: { write: boolean; fetch: boolean }, extra: { linear?: number; guestTable?: boolean; nmiUnblocking?: boolean } = {}) {
    const mem = new PhysMem(0x100000);
    const b = new TableBuilder(mem, 0x2000);
    b.map(0x1000, 4, 0x5000, 0x9000, 12, RWX, leafLo);
    return eptTranslate(mem, encodeEptp({ memType: 6, walkLength: 4, accessedDirty: false, root: 0x1000 }), 0x5000, acc, { caps: ALL, maxPhysAddr: 40, ...extra });
  }
  const bitOf = (text: string): number => 1 << Number(keyOf(qual, text));

  it('exit reasons 48 and 49', () => {
    const v = walkWith(EPTE.R | (6 << 3), { write: true, fetch: false });
    expect(v.kind === 'violation' && reasons[String(v.exitReason)]).toBe('EPT_VIOLATION');
    const m = walkWith(EPTE.W | (6 << 3), { write: false, fetch: false });
    expect(m.kind === 'misconfig' && reasons[String(m.exitReason)]).toBe('EPT_MISCONFIG');
  });

  it('the access bits, the permission bits, linear-address valid, translated vs guest table, NMI unblocking', () => {
    const q = (leafLo: number, acc: { write: boolean; fetch: boolean }, extra = {}): number => {
      const r = walkWith(leafLo, acc, extra);
      if (r.kind !== 'violation') throw new Error(r.kind);
      return r.qualification;
    };
    const X = EPTE.X | (6 << 3);
    expect(q(X, { write: false, fetch: false })).toBe(bitOf('data read') | bitOf('executable'));
    expect(q(EPTE.R | (6 << 3), { write: true, fetch: false })).toBe(bitOf('data write') | bitOf('EPT translation readable'));
    expect(q(EPTE.R | EPTE.W | (6 << 3), { write: false, fetch: true })).toBe(bitOf('instruction fetch') | bitOf('EPT translation readable') | bitOf('writable'));
    expect(q(X, { write: false, fetch: false }, { linear: 0x1000 })).toBe(bitOf('data read') | bitOf('executable') | bitOf('guest-linear-address field valid') | bitOf('if bit 7 = 1'));
    expect(q(X, { write: false, fetch: false }, { linear: 0x1000, guestTable: true })).toBe(bitOf('data read') | bitOf('executable') | bitOf('guest-linear-address field valid'));
    expect(q(X, { write: false, fetch: false }, { nmiUnblocking: true })).toBe(bitOf('data read') | bitOf('executable') | bitOf('NMI unblocking'));
  });
});

describe('nested page faults = svm-misc.json', () => {
  function fault(leafLo: number, leafHi: number, acc: { write: boolean; fetch: boolean; stage?: 'final' | 'guest-table' }, maxPhysAddr = 40) {
    const mem = new PhysMem(0x100000);
    const b = new TableBuilder(mem, 0x2000);
    b.map(0x1000, 4, 0x5000, 0x9000, 12, PTE.P | PTE.RW | PTE.US, leafLo, leafHi);
    const r = nptTranslate(mem, { nCr3Lo: 0x1000, nCr3Hi: 0, mode: '4level', nxe: true, maxPhysAddr }, 0x5123, acc, false);
    if (r.ok) throw new Error('no fault');
    return r;
  }
  /** EXITINFO1 bit positions from the json's text: "bit0 P, bit1 W/R, ..., bit 32 ..., bit 33 ...". */
  const bit = (name: string): bigint => {
    const m = new RegExp(`bit ?(\\d+) ${name.replace('/', '\\/')}`).exec(npf.exitinfo1);
    if (m === null) throw new Error(name);
    return 1n << BigInt(m[1]!);
  };
  const stageBit = (text: string): bigint => {
    const m = new RegExp(`bit (\\d+) = ${text}`).exec(npf.exitinfo1);
    if (m === null) throw new Error(text);
    return 1n << BigInt(m[1]!);
  };
  const FINAL = stageBit('fault while translating the final guest-physical address');
  const TABLE = stageBit('fault during the guest page-table walk');
  const info1 = (r: ReturnType<typeof fault>): bigint => (BigInt(r.exitInfo1.hi) << 32n) | BigInt(r.exitInfo1.lo >>> 0);

  it('the exit code', () => {
    expect(fault(0, 0, { write: false, fetch: false }).exitCode).toBe(Number(npf.exit_code));
  });

  it('P, W/R, U/S, RSVD, I/D and bits 32, 33; EXITINFO2 the guest-physical address', () => {
    const U = PTE.US;
    expect(info1(fault(0, 0, { write: false, fetch: false }))).toBe(bit('U/S'));
    expect(info1(fault(PTE.P | U, 0, { write: true, fetch: false, stage: 'final' }))).toBe(bit('P') | bit('W/R') | bit('U/S') | FINAL);
    expect(info1(fault(PTE.P | U, 1 << 31, { write: false, fetch: true }))).toBe(bit('P') | bit('U/S') | bit('I/D'));
    expect(info1(fault(PTE.P | U, 1 << 8, { write: false, fetch: false }))).toBe(bit('P') | bit('U/S') | bit('RSVD'));
    const t = fault(PTE.P | U, 0, { write: false, fetch: false, stage: 'guest-table' });
    expect(info1(t)).toBe(bit('P') | bit('W/R') | bit('U/S') | TABLE);
    expect(t.exitInfo2).toBe(0x5123);
    expect([FINAL, TABLE]).toEqual([1n << 32n, 1n << 33n]);
    expect(npf.exitinfo2).toContain('faulting guest-physical address');
  });
});

describe('each kind of 2D-walk fault = vmx-exit-qualifications.json and svm-misc.json', () => {
  // The world: a 4-level guest on 4-level nested tables (exercise/nested-exercise.ts), one mapping,
  // with the nested leaf that maps the guest table of level `g` (or the data page) edited.
  const q = (text: string): number => 1 << Number(keyOf(qual, text));
  const LINEAR = q('guest-linear-address field valid');
  const TRANSLATED = q('if bit 7 = 1');
  const READ = q('data read');
  const WRITE = q('data write');
  const FETCH = q('instruction fetch');
  const R = q('EPT translation readable');
  const W = q('writable');
  const X = q('executable');
  const npfBit = (re: RegExp): bigint => 1n << BigInt(re.exec(npf.exitinfo1)![1]!);
  const P = npfBit(/bit ?(\d+) P\b/);
  const WR = npfBit(/bit ?(\d+) W\/R/);
  const US = npfBit(/bit ?(\d+) U\/S/);
  const ID = npfBit(/bit ?(\d+) I\/D/);
  const FINAL = npfBit(/bit (\d+) = fault while translating the final/);
  const TABLE = npfBit(/bit (\d+) = fault during the guest page-table walk/);

  type Target = 'table' | 'data';
  /** Translates after setting the nested leaf's low flags for the table at guest level 1 or the data page. */
  function fault(vendor: 'ept' | 'npt', target: Target, leafFlags: number, access: { write: boolean; fetch: boolean }, opts: { eptAd?: boolean; clearGuestA?: boolean; xd?: boolean } = {}) {
    const w = new NestedWorld({ vendor, guest: '4level', nestedLevels: 4, nestedShift: 12, eptAd: opts.eptAd === true }, rng(21));
    const m = w.addMapping(0);
    const { la, gpa } = w.addressIn(m);
    if (opts.clearGuestA === true) {
      const h = m.entries[1]! + GPA_TO_HPA;
      w.mem.write(h, 4, w.mem.read(h, 4) & ~PTE.A);
    }
    const leaf = w.nestedEntry(target === 'table' ? m.entries[1]! : gpa, 3);
    w.mem.write(leaf, 4, ((w.mem.read(leaf, 4) & 0xfffff000) | leafFlags) >>> 0);
    if (opts.xd === true) w.mem.write(leaf + 4, 4, (w.mem.read(leaf + 4, 4) | 0x80000000) >>> 0);
    const r = w.translate(la, { ...access, user: true }, { sideEffects: true });
    if (r.kind !== 'nested-fault') throw new Error(`expected a nested fault, got ${r.kind}`);
    return r;
  }
  const WB = 6 << 3;
  const qualOf = (r: ReturnType<typeof fault>): number => {
    const f = r.fault as { kind: string; qualification: number };
    expect(f.kind).toBe('violation');
    return f.qualification;
  };
  const info1Of = (r: ReturnType<typeof fault>): bigint => {
    const f = r.fault as { exitInfo1: { lo: number; hi: number } };
    return (BigInt(f.exitInfo1.hi) << 32n) | BigInt(f.exitInfo1.lo >>> 0);
  };
  const RD = { write: false, fetch: false };
  const WRT = { write: true, fetch: false };
  const FET = { write: false, fetch: true };

  it('EPT: a guest-table read, not present / without R; with A/D on, a guest-table access is a write', () => {
    expect(qualOf(fault('ept', 'table', 0, RD))).toBe(READ | LINEAR);
    expect(qualOf(fault('ept', 'table', 0, WRT))).toBe(READ | LINEAR);
    expect(qualOf(fault('ept', 'table', 0, RD, { eptAd: true }))).toBe(READ | WRITE | LINEAR);
    // Readable but not writable: with A/D on, the guest-table access needs W.
    expect(qualOf(fault('ept', 'table', EPTE.R | WB, RD, { eptAd: true }))).toBe(READ | WRITE | R | LINEAR);
  });

  it('EPT without A/D: the guest\u2019s A update of an entry in a read-only page is a write violation on the guest table', () => {
    const r = fault('ept', 'table', EPTE.R | WB, RD, { clearGuestA: true });
    expect(qualOf(r)).toBe(WRITE | R | LINEAR);
    expect(r.stage).toBe('guest-table');
    expect(r.refs.filter((x) => x.dim === 'nested' && x.update).length).toBe(4);
  });

  it('EPT: the final access, not present / write to read-only / fetch from non-executable', () => {
    expect(qualOf(fault('ept', 'data', 0, RD))).toBe(READ | LINEAR | TRANSLATED);
    expect(qualOf(fault('ept', 'data', EPTE.R | WB, WRT))).toBe(WRITE | R | LINEAR | TRANSLATED);
    expect(qualOf(fault('ept', 'data', EPTE.R | EPTE.W | WB, FET))).toBe(FETCH | R | W | LINEAR | TRANSLATED);
    expect(qualOf(fault('ept', 'data', EPTE.R | EPTE.X | WB, WRT))).toBe(WRITE | R | X | LINEAR | TRANSLATED);
  });

  it('EPT: a PAE guest\u2019s PDPTE load at MOV to CR3 has no guest linear address', () => {
    const mem = new PhysMem(0x100000);
    const b = new TableBuilder(mem, 0x2000);
    b.map(0x1000, 4, 0x5000, 0x9000, 12, EPTE.R | EPTE.W | EPTE.X, 0);
    const t = eptNested(mem, encodeEptp({ memType: 6, walkLength: 4, accessedDirty: false, root: 0x1000 }), { caps: eptCaps(), maxPhysAddr: 40 });
    const r = t.translate(0x5020, { write: false, fetch: false, user: false, stage: 'guest-table', linear: 0x5020, pdpteLoad: true });
    if (r.ok || r.fault.kind !== 'violation') throw new Error('expected a violation');
    expect(r.fault.qualification).toBe(READ);
  });

  it('NPT: guest-table accesses are checked as user writes (bit 33); the final access sets bit 32', () => {
    expect(info1Of(fault('npt', 'table', 0, RD))).toBe(WR | US | TABLE);
    expect(info1Of(fault('npt', 'table', PTE.P | PTE.US, RD))).toBe(P | WR | US | TABLE);
    expect(info1Of(fault('npt', 'data', 0, RD))).toBe(US | FINAL);
    expect(info1Of(fault('npt', 'data', PTE.P | PTE.US, WRT))).toBe(P | WR | US | FINAL);
    expect(info1Of(fault('npt', 'data', PTE.P | PTE.US | PTE.RW, FET, { xd: true }))).toBe(P | US | ID | FINAL);
  });
});
