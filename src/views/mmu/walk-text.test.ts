import { describe, expect, it } from 'vitest';
import { translator } from '../cpu/text.ts';
import type { StepWalks, TranslationView, WalkEntryView } from '../../worker/walk-types.ts';
import { decodeEntry, decodeErrorCode, stepWalked } from './walk-layout.ts';
import { cr3Text, entryKindText, entryWhereText, flagText, pfBitText, resultText, stripText, summaryText, type PagedWalks } from './walk-text.ts';

const en = translator('en');
const zh = translator('zh-CN');

/** The page-fault example's faulting walk, as the session reports it (walks.test.ts checks the session). */
const pde: WalkEntryView = { level: 'PDE', entryPa: '0x0000000000010400', index: 256, value: '0x0000000000011027', leaf: false, reserved: '0x0000000000000000' };
const pte: WalkEntryView = { level: 'PTE', entryPa: '0x0000000000011200', index: 128, value: '0x0000000000000000', leaf: false, reserved: '0x0000000000000000' };
const fault: TranslationView = { linear: '0x0000000040080000', access: 'write', user: true, source: 'walk', entries: [pde, pte], outcome: { ok: false, errorCode: 6, level: 'PTE' } };
const fetch: TranslationView = {
  linear: '0x0000000040000005', access: 'fetch', user: true, source: 'tlb', entries: [pde, { ...pte, index: 0, value: '0x0000000000200027', leaf: true }],
  outcome: { ok: true, pa: '0x0000000000200005', pageSize: 4096 },
};
const walks = (ts: TranslationView[], over: Partial<PagedWalks> = {}): PagedWalks => ({
  paging: '32bit', controls: { mode: '32bit', cr3: '0x0000000000010000', nxe: false, pse: true, wp: true, maxPhysAddr: 48 }, translations: ts, dropped: 0, pageFault: null, ...over,
});

describe('the walk in words', () => {
  it('splits the faulting address into PD index 256, PT index 128 and offset 0', () => {
    expect(stripText('32bit', fault, en)).toBe('Linear address 40080000, split by the walk: PD index, bits 31–22 = 256; PT index, bits 21–12 = 128; offset, bits 11–0 = 0x000.');
    expect(stripText('32bit', fault, zh)).toBe('线性地址 40080000 按遍历拆分为：PD 索引，第 31–22 位 = 256；PT 索引，第 21–12 位 = 128；页内偏移，第 11–0 位 = 0x000。');
  });

  it('says where each entry was read: the table base plus index × entry size', () => {
    expect(entryWhereText('32bit', pde, en)).toBe('at 00010400 = 00010000 + 256 × 4');
    expect(entryWhereText('32bit', pte, zh)).toBe('位于 00011200 = 00011000 + 128 × 4');
    expect(entryWhereText('pae', { ...pde, level: 'PDPTE', entryPa: null, index: 1 }, en)).toBe('PDPTE register 1');
  });

  it('says what each entry does', () => {
    expect(entryKindText('32bit', pde, decodeEntry('32bit', pde, 48), en)).toBe('points to the next table at 00011000');
    expect(entryKindText('32bit', pte, decodeEntry('32bit', pte, 48), en)).toBe('not present (P = 0): the walk stops here; the other bits are ignored');
    const big: WalkEntryView = { ...pde, index: 0, entryPa: '0x0000000000010000', value: '0x00000000000000e3', leaf: true };
    expect(entryKindText('32bit', big, decodeEntry('32bit', big, 48), zh)).toBe('映射位于 00000000 的 4 MiB 大页');
    const gb: WalkEntryView = { ...pde, level: 'PDPTE', value: '0x0000000040000083', leaf: true };
    expect(entryKindText('4level', gb, decodeEntry('4level', gb, 48), en)).toBe('maps a 1 GiB page at 40000000');
  });

  it('ends with the physical address as frame + offset, or with why the walk faulted', () => {
    expect(resultText('32bit', fetch, en)).toBe('Physical address = frame 00200000 + offset 0x005 = 00200005 (4 KiB page).');
    expect(resultText('32bit', fault, en)).toBe('Page fault: the PTE is not present.');
    expect(resultText('32bit', fault, zh)).toBe('缺页异常：PTE 不存在。');
    expect(resultText('4level', { ...fault, outcome: { ok: false, errorCode: 0xf, level: 'PDE' } }, en)).toBe('Page fault: a reserved bit is set in the PDE.');
    expect(resultText('32bit', { ...fault, outcome: { ok: false, errorCode: 7, level: 'PTE' } }, en)).toBe('Page fault: the entries do not allow a user write (a protection violation).');
  });

  it('sums up the step: walks made, the TLB answering, or the first fetch to come', () => {
    expect(summaryText(walks([fetch, fault]), en)).toBe('Translations on this step: 2. For 1 of them the TLB had no usable entry, so the CPU walked the page tables.');
    expect(summaryText(walks([fetch], { dropped: 3 }), en)).toMatch(/^The TLB answered every translation/);
    expect(summaryText(walks([fetch, fault], { dropped: 3 }), zh)).toBe('这一步共进行了 5 次地址转换，其中 1 次因 TLB 中没有可用的表项，由 CPU 遍历了页表。');
    expect(summaryText(walks([{ ...fetch, source: 'next' }]), en)).toBe('No step taken yet. Shown: the walk the first instruction fetch will make.');
  });

  it('names CR3 and where the first table is (PAE: where the PDPTEs were loaded from)', () => {
    expect(cr3Text(walks([]), en)).toBe('CR3 = 00010000: the first table is at 00010000.');
    const pae = walks([], { paging: 'pae', controls: { mode: 'pae', cr3: '0x0000000000010020', nxe: true, pse: false, wp: true, maxPhysAddr: 48 } });
    expect(cr3Text(pae, en)).toBe('CR3 = 00010020: MOV to CR3 loaded the four PDPTEs from the table at 00010020 into registers.');
  });

  it('reads flags and error-code bits with their meaning', () => {
    expect(flagText('R/W', true, en)).toBe('R/W (writable): set');
    expect(flagText('XD', false, zh)).toBe('XD（禁止执行）：清零');
    expect(decodeErrorCode(6).map((b) => pfBitText(b, en))).toEqual(['the page is not present', 'a write', 'a user-mode access', 'no reserved bit set', 'not an instruction fetch']);
    expect(decodeErrorCode(0x11).map((b) => pfBitText(b, zh))).toEqual(['保护违例（页存在）', '读访问', '内核态（超级用户态）访问', '没有保留位被置位', '取指访问']);
  });

  it('presenter mode shows the walk only for a step that walked or faulted', () => {
    const w = (x: StepWalks): boolean => stepWalked(x);
    expect(w({ paging: 'none' })).toBe(false);
    expect(w(walks([fetch]))).toBe(false);
    expect(w(walks([{ ...fetch, source: 'next' }]))).toBe(false);
    expect(w(walks([fetch, fault]))).toBe(true);
    expect(w(walks([fetch], { pageFault: { errorCode: 7, cr2: '0x0000000040000000' } }))).toBe(true);
  });
});
