import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pageFault from '../../emu/scenario/examples/page-fault.json' with { type: 'json' };
import syscalls from '../../emu/scenario/examples/syscalls.json' with { type: 'json' };
import { InThreadClient } from '../../worker/in-thread.ts';
import type { Json } from '../../worker/protocol.ts';
import type { TranslationView, WalkEntryView, WalkPagingMode } from '../../worker/walk-types.ts';
import {
  ENTRY_BIT, LEVELS_OF, PF_BIT, addressFields, decodeEntry, decodeErrorCode, entrySize, focusIndex, hexOf, levelShift, linearBits, pageSizeOf, tableBase,
} from './walk-layout.ts';

/** The checked oracle table (Linux, Xen and kvm-unit-tests headers, cross-checked). */
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '../../../tests/reference/x86-paging.json'), 'utf8')) as {
  entry_bits: Record<string, string>;
  page_fault_error_code: Record<string, string>;
  modes: Record<string, Record<string, string | number>>;
};

/** The bit whose description starts with `name` as a word, e.g. "R/W (1 = writable)". */
function bitOf(table: Record<string, string>, name: string): number {
  const hits = Object.entries(table).filter(([k, v]) => /^\d+$/.test(k) && new RegExp(`^${name.replace('/', '\\/')}(\\b|\\s|$)`).test(v));
  expect(hits.length, name).toBe(1);
  return Number(hits[0]![0]);
}

/** "10 | 10 | 12" → [10, 10, 12]; "9 x 5 | 12 (57-bit VA)" → [9, 9, 9, 9, 9, 12]. */
function splitOf(s: string): number[] {
  return s
    .replace(/\(.*\)/, '')
    .split('|')
    .flatMap((p) => {
      const m = /^\s*(\d+)\s*x\s*(\d+)\s*$/.exec(p);
      return m ? Array<number>(Number(m[2])).fill(Number(m[1])) : [Number(p.trim())];
    });
}

const MODE_KEYS: Record<WalkPagingMode, string> = { '32bit': '32-bit (2-level)', pae: 'PAE (3-level)', '4level': '4-level (IA-32e)', '5level': '5-level (LA57)' };
const MB = 2 ** 20;
const GB = 2 ** 30;

describe('bit positions agree with tests/reference/x86-paging.json', () => {
  it('entry flags: P, R/W, U/S, PWT, PCD, A, D, PS, PAT (7 in a PTE, 12 in a large page), G, XD', () => {
    const t = ref.entry_bits;
    for (const name of ['P', 'R/W', 'U/S', 'PWT', 'PCD', 'A', 'D', 'PS', 'G'] as const) expect(ENTRY_BIT[name], name).toBe(bitOf(t, name));
    expect(t[String(ENTRY_BIT.PAT)]).toMatch(/PAT bit in a 4 KB PTE/);
    expect(ENTRY_BIT.PAT_LARGE).toBe(bitOf(t, 'PAT'));
    expect(t[String(ENTRY_BIT.PAT_LARGE)]).toMatch(/2 MB\/1 GB/);
    expect(ENTRY_BIT.XD).toBe(bitOf(t, 'XD/NX'));
    expect(t['51:12']).toMatch(/physical frame \/ next-table address/);
  });

  it('#PF error code: P, W/R, U/S, RSVD, I/D, PK, SS, SGX', () => {
    for (const [name, bit] of Object.entries(PF_BIT)) expect(bit, name).toBe(bitOf(ref.page_fault_error_code, name));
  });

  it('each mode splits the linear address as the reference says, with its entry size and table sizes', () => {
    for (const mode of ['32bit', 'pae', '4level', '5level'] as const) {
      const r = ref.modes[MODE_KEYS[mode]]!;
      const widths = addressFields(mode, 0n, 4096).filter((f) => f.kind !== 'sign').map((f) => f.hi - f.lo + 1);
      expect(widths, mode).toEqual(splitOf(String(r['split'])));
      expect(linearBits(mode)).toBe(widths.reduce((a, b) => a + b, 0));
      const va = /\((\d+)-bit VA\)/.exec(String(r['split']));
      if (va) expect(linearBits(mode)).toBe(Number(va[1]));
      if (r['entry_size'] !== undefined) expect(entrySize(mode)).toBe(r['entry_size']);
    }
    const m32 = ref.modes[MODE_KEYS['32bit']]!;
    expect(levelShift('32bit', 'PDE')).toBe(m32['PGDIR_SHIFT']);
    expect(2 ** (31 - levelShift('32bit', 'PDE') + 1)).toBe(m32['PTRS_PER_PGD']);
    const pae = ref.modes[MODE_KEYS.pae]!;
    expect(levelShift('pae', 'PDPTE')).toBe(pae['PGDIR_SHIFT']);
    expect(levelShift('pae', 'PDE')).toBe(pae['PMD_SHIFT']);
    expect(2 ** (31 - levelShift('pae', 'PDPTE') + 1)).toBe(pae['PTRS_PER_PGD']);
    const l4 = ref.modes[MODE_KEYS['4level']]!;
    expect(levelShift('4level', 'PML4E')).toBe(l4['PGDIR_SHIFT (PML4)']);
    expect(levelShift('4level', 'PDPTE')).toBe(l4['PUD_SHIFT (PDPT)']);
    expect(levelShift('4level', 'PDE')).toBe(l4['PMD_SHIFT (PD)']);
    expect(2 ** (levelShift('4level', 'PML4E') - levelShift('4level', 'PDPTE'))).toBe(l4['entries_per_table']);
    const l5 = ref.modes[MODE_KEYS['5level']]!;
    expect(levelShift('5level', 'PML5E')).toBe(l5['PGDIR_SHIFT (PML5)']);
    expect(levelShift('5level', 'PML4E')).toBe(l5['P4D_SHIFT (PML4)']);
  });

  it('large pages widen the offset: 4 MB (32-bit PDE), 2 MB (PAE and 4-level PDE), 1 GB (PDPTE)', () => {
    const size = (s: string): number => {
      const m = /(\d+) (MB|GB)/.exec(s)!;
      return Number(m[1]) * (m[2] === 'GB' ? GB : MB);
    };
    const big32 = size(String(ref.modes[MODE_KEYS['32bit']]!['large_page']));
    expect(big32).toBe(2 ** levelShift('32bit', 'PDE'));
    expect(addressFields('32bit', 0n, big32).map((f) => [f.kind, f.hi, f.lo])).toEqual([['index', 31, 22], ['offset', 21, 0]]);
    expect(size(String(ref.modes[MODE_KEYS.pae]!['large_page']))).toBe(2 ** levelShift('pae', 'PDE'));
    expect(addressFields('pae', 0n, 2 * MB).map((f) => [f.level, f.hi, f.lo])).toEqual([['PDPTE', 31, 30], ['PDE', 29, 21], [null, 20, 0]]);
    const l4 = String(ref.modes[MODE_KEYS['4level']]!['large_pages']);
    expect(l4).toMatch(/1 GB \(PDPTE.PS\)/);
    expect(l4).toMatch(/2 MB \(PDE.PS\)/);
    expect(2 ** levelShift('4level', 'PDPTE')).toBe(GB);
    expect(addressFields('4level', 0n, GB).map((f) => [f.kind, f.hi, f.lo])).toEqual([['sign', 63, 48], ['index', 47, 39], ['index', 38, 30], ['offset', 29, 0]]);
    expect(addressFields('5level', 0n, 2 * MB).map((f) => [f.level, f.hi, f.lo])).toEqual([
      [null, 63, 57], ['PML5E', 56, 48], ['PML4E', 47, 39], ['PDPTE', 38, 30], ['PDE', 29, 21], [null, 20, 0],
    ]);
  });
});

describe('addressFields', () => {
  it('gives each field its bits of the address', () => {
    const f = addressFields('4level', 0xffff_8000_4020_1abcn, 4096);
    expect(f.map((x) => x.value)).toEqual([0xffffn, 0x100n, 1n, 1n, 1n, 0xabcn]);
    expect(addressFields('32bit', 0x40080123n, 4096).map((x) => x.value)).toEqual([256n, 128n, 0x123n]);
  });

  it("matches the emulator's own indices on every walk of two example runs", async () => {
    let checked = 0;
    for (const sc of [pageFault, syscalls]) {
      const c = new InThreadClient();
      const r = await c.load(sc as Json);
      if (!r.ok) throw new Error('load');
      for (let i = 0; i < 120; i++) {
        const w = (await c.step(1)).walks;
        if (w.paging === 'none') continue;
        for (const t of w.translations) {
          const fields = addressFields(w.paging, BigInt(t.linear), pageSizeOf(w.paging, t));
          const idx = fields.filter((f) => f.kind === 'index');
          t.entries.forEach((e, k) => {
            expect(idx[k]!.level).toBe(e.level);
            expect(Number(idx[k]!.value)).toBe(e.index);
          });
          if (t.outcome.ok) {
            const off = fields.at(-1)!;
            expect(BigInt(t.outcome.pa) & ((1n << BigInt(off.hi + 1)) - 1n)).toBe(off.value);
            expect(off.hi + 1).toBe(Math.log2(t.outcome.pageSize));
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});

const entry = (over: Partial<WalkEntryView>): WalkEntryView => ({
  level: 'PTE', entryPa: '0x0000000000011200', index: 128, value: '0x0000000000000000', leaf: true, reserved: '0x0000000000000000', ...over,
});

describe('decodeEntry', () => {
  it('a not-present entry shows P only: its other bits are ignored', () => {
    const d = decodeEntry('32bit', entry({ value: '0x00000000fffffffe' }), 48);
    expect(d.kind).toBe('not-present');
    expect(d.flags).toEqual([{ name: 'P', bit: 0, set: false }]);
    expect(d.address).toBeNull();
  });

  it('a 32-bit PDE that references a page table: flags and the table address', () => {
    const d = decodeEntry('32bit', entry({ level: 'PDE', value: '0x0000000000011027', leaf: false }), 48);
    expect(d.kind).toBe('table');
    expect(d.flags.filter((f) => f.set).map((f) => f.name)).toEqual(['P', 'R/W', 'U/S', 'A']);
    expect(d.flags.some((f) => f.name === 'XD')).toBe(false);
    expect(d.address).toEqual({ hi: 31, lo: 12, value: 0x11000n });
  });

  it('a 4-KByte PTE has D, PAT at bit 7 and G; XD in the PAE family; the frame from MAXPHYADDR-1 down to 12', () => {
    const d = decodeEntry('4level', entry({ value: '0x80000012345671e3', reserved: '0x000fff0000000000' }), 40);
    expect(d.kind).toBe('page');
    expect(d.flags.map((f) => [f.name, f.bit])).toEqual([['P', 0], ['R/W', 1], ['U/S', 2], ['PWT', 3], ['PCD', 4], ['A', 5], ['D', 6], ['PAT', 7], ['G', 8], ['XD', 63]]);
    expect(d.flags.filter((f) => f.set).map((f) => f.name)).toEqual(['P', 'R/W', 'A', 'D', 'PAT', 'G', 'XD']);
    expect(d.address).toEqual({ hi: 39, lo: 12, value: 0x1234567000n & ((1n << 40n) - 1n) });
    expect(d.reservedSet).toEqual([]);
  });

  it('a 2-MByte PDE has PS at 7 and PAT at 12, its frame from bit 21; set reserved bits are listed', () => {
    const d = decodeEntry('4level', entry({ level: 'PDE', value: '0x0000010000201083', reserved: '0x000fff00001fe000' }), 40);
    expect(d.kind).toBe('large-page');
    expect(d.flags.find((f) => f.name === 'PS')).toEqual({ name: 'PS', bit: 7, set: true });
    expect(d.flags.find((f) => f.name === 'PAT')).toEqual({ name: 'PAT', bit: 12, set: true });
    expect(d.address).toEqual({ hi: 39, lo: 21, value: 0x200000n });
    expect(d.reservedSet).toEqual([40]);
  });

  it('a 32-bit PDE mapping a 4-MByte page: bits 31:22 and, with MAXPHYADDR > 32, PA bits 39:32 from bits 20:13', () => {
    const d = decodeEntry('32bit', entry({ level: 'PDE', value: '0x00000000004020e3', reserved: '0x0000000000200000' }), 48);
    expect(d.kind).toBe('large-page');
    expect(d.address).toEqual({ hi: 31, lo: 22, value: (1n << 22n) | (1n << 32n) });
    expect(d.highAddress).toEqual({ hi: 20, lo: 13 });
    expect(decodeEntry('32bit', entry({ level: 'PDE', value: '0x00000000004000e3' }), 32).highAddress).toBeNull();
  });

  it('a PAE PDPTE register: P, PWT, PCD and the page directory address', () => {
    const d = decodeEntry('pae', entry({ level: 'PDPTE', entryPa: null, value: '0x0000000000012001', leaf: false }), 36);
    expect(d.kind).toBe('pdpte-register');
    expect(d.flags.map((f) => f.name)).toEqual(['P', 'PWT', 'PCD']);
    expect(d.address?.value).toBe(0x12000n);
    expect(tableBase('pae', entry({ entryPa: null }))).toBeNull();
    expect(tableBase('pae', entry({ entryPa: '0x0000000000011400', index: 128 }))).toBe(0x11000n);
    expect(tableBase('32bit', entry({ entryPa: '0x0000000000011200', index: 128 }))).toBe(0x11000n);
  });
});

describe('the #PF error code', () => {
  it('6 is a user write to a not-present page', () => {
    expect(decodeErrorCode(6)).toEqual([
      { name: 'P', bit: 0, set: false },
      { name: 'W/R', bit: 1, set: true },
      { name: 'U/S', bit: 2, set: true },
      { name: 'RSVD', bit: 3, set: false },
      { name: 'I/D', bit: 4, set: false },
    ]);
  });

  it('PK, SS and SGX appear only when set', () => {
    expect(decodeErrorCode(0x8021).map((b) => b.name)).toEqual(['P', 'W/R', 'U/S', 'RSVD', 'I/D', 'PK', 'SGX']);
    expect(decodeErrorCode(0x19).filter((b) => b.set).map((b) => b.name)).toEqual(['P', 'RSVD', 'I/D']);
  });
});

describe('focusIndex and hex', () => {
  const tr = (over: Partial<TranslationView>): TranslationView => ({
    linear: '0x0000000000001000', access: 'read', user: false, source: 'tlb', entries: [], outcome: { ok: true, pa: '0x0000000000001000', pageSize: 4096 }, ...over,
  });
  it('shows the fault first, else the first walk, else the last data access, else the fetch', () => {
    expect(focusIndex([tr({ source: 'walk' }), tr({ outcome: { ok: false, errorCode: 6, level: 'PTE' } })])).toBe(1);
    expect(focusIndex([tr({ access: 'fetch' }), tr({ source: 'walk' }), tr({ source: 'walk' })])).toBe(1);
    expect(focusIndex([tr({ access: 'fetch' }), tr({ access: 'write' }), tr({ access: 'read' })])).toBe(2);
    expect(focusIndex([tr({ access: 'fetch' })])).toBe(0);
    expect(focusIndex([])).toBe(0);
  });
  it('prints 8 digits when the value fits and 8 are asked for, else 16 in two groups', () => {
    expect(hexOf(0x11027n, 8)).toBe('00011027');
    expect(hexOf(0x1_0001_1027n, 8)).toBe('00000001 00011027');
    expect(hexOf(0x11027n, 16)).toBe('00000000 00011027');
  });
  it('every mode lists its levels top-down, ending at the PTE', () => {
    for (const m of ['32bit', 'pae', '4level', '5level'] as const) expect(LEVELS_OF[m].at(-1)).toBe('PTE');
  });
});
