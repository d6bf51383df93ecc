import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CR0_BITS, CR4_BITS, EFER_BITS, PFEC, PTE, PTE_XD_BIT, PTE_HI_XD, PAE_PDPTE_RSVD_LO } from './bits.ts';

/** The checked oracle table (Linux, Xen and kvm-unit-tests headers, cross-checked). */
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '../../../tests/reference/x86-paging.json'), 'utf8')) as Record<string, Record<string, string>>;

/** Finds the bit whose description in `table` starts with `name` (a word), e.g. "P present". */
function bitOf(table: Record<string, string>, name: string): number {
  const hits = Object.entries(table).filter(([k, v]) => /^\d+$/.test(k) && new RegExp(`^${name.replace('/', '\\/')}(\\b|\\s|$)`).test(v));
  expect(hits.length, `${name} in ${JSON.stringify(table)}`).toBe(1);
  return Number(hits[0]![0]);
}

describe('paging bit constants agree with tests/reference/x86-paging.json', () => {
  it('entry bits', () => {
    const t = ref.entry_bits!;
    expect(PTE.P).toBe(1 << bitOf(t, 'P'));
    expect(PTE.RW).toBe(1 << bitOf(t, 'R/W'));
    expect(PTE.US).toBe(1 << bitOf(t, 'U/S'));
    expect(PTE.PWT).toBe(1 << bitOf(t, 'PWT'));
    expect(PTE.PCD).toBe(1 << bitOf(t, 'PCD'));
    expect(PTE.A).toBe(1 << bitOf(t, 'A'));
    expect(PTE.D).toBe(1 << bitOf(t, 'D'));
    expect(PTE.PS).toBe(1 << bitOf(t, 'PS'));
    expect(PTE.PAT).toBe(PTE.PS); // "PAT bit in a 4 KB PTE" shares bit 7
    expect(t['7']).toMatch(/PAT bit in a 4 KB PTE/);
    expect(PTE.G).toBe(1 << bitOf(t, 'G'));
    expect(PTE.PAT_LARGE).toBe(1 << bitOf(t, 'PAT'));
    expect(PTE_XD_BIT).toBe(bitOf(t, 'XD/NX'));
    expect(PTE_HI_XD).toBe(2 ** (PTE_XD_BIT - 32));
  });

  it('#PF error code bits', () => {
    const t = ref.page_fault_error_code!;
    expect(PFEC.P).toBe(1 << bitOf(t, 'P'));
    expect(PFEC.W_R).toBe(1 << bitOf(t, 'W/R'));
    expect(PFEC.U_S).toBe(1 << bitOf(t, 'U/S'));
    expect(PFEC.RSVD).toBe(1 << bitOf(t, 'RSVD'));
    expect(PFEC.I_D).toBe(1 << bitOf(t, 'I/D'));
    expect(PFEC.PK).toBe(1 << bitOf(t, 'PK'));
    expect(PFEC.SS).toBe(1 << bitOf(t, 'SS'));
    expect(PFEC.SGX).toBe(1 << bitOf(t, 'SGX'));
  });

  it('CR0, CR4 and IA32_EFER bits', () => {
    expect(CR0_BITS.WP).toBe(1 << bitOf(ref.CR0!, 'WP'));
    expect(CR0_BITS.PG).toBe(1 << bitOf(ref.CR0!, 'PG'));
    for (const k of ['PSE', 'PAE', 'PGE', 'LA57', 'PCIDE', 'SMEP', 'SMAP', 'PKE'] as const) expect(CR4_BITS[k], k).toBe(1 << bitOf(ref.CR4!, k));
    const efer = ref['EFER (MSR 0xC0000080)']!;
    for (const k of ['LME', 'LMA', 'NXE'] as const) expect(EFER_BITS[k], k).toBe(1 << bitOf(efer, k));
  });

  it('PAE PDPTE reserved bits 8:5 and 2:1', () => {
    const pae = (ref.modes as unknown as Record<string, Record<string, string>>)['PAE (3-level)']!;
    expect(pae.pdpte_reserved).toMatch(/8:5 and 2:1/);
    expect(PAE_PDPTE_RSVD_LO).toBe(0b1_1110_0110);
  });
});
