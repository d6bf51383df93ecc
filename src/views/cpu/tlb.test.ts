import { describe, expect, it } from 'vitest';
import { anyEp4ta, anyTag, ep4taText, linearOf, physOf, shortHex, sizeText, tagText } from './tlb.ts';

describe('TLB view text', () => {
  it('puts the page number back at bit 12 of the linear address, high half first', () => {
    expect(linearOf({ pageLo: 0x40000, pageHi: 0 })).toBe('0000000040000000');
    expect(linearOf({ pageLo: 0xfffff, pageHi: 0xffff8000 })).toBe('ffff8000fffff000');
  });
  it('writes physical addresses above 4 GiB without losing the high half', () => {
    expect(physOf(0x1_2345_6000)).toBe('0000000123456000');
    expect(physOf(0x3000)).toBe('0000000000003000');
  });
  it('names page sizes in binary units', () => {
    expect(sizeText(4096)).toBe('4 KiB');
    expect(sizeText(2 ** 21)).toBe('2 MiB');
    expect(sizeText(2 ** 30)).toBe('1 GiB');
  });
  it('shortens to 8 digits only when every address fits in 32 bits', () => {
    expect(shortHex(['0000000040000000'], '0000000040000000')).toBe('40000000');
    expect(shortHex(['0000000040000000', 'ffff800000000000'], '0000000040000000')).toBe('0000000040000000');
  });
  it('shows the tags column only when some entry has a non-zero tag, EP4TA only when one is set', () => {
    expect(anyTag([{ tag: 0 }, { tag: 0 }])).toBe(false);
    expect(anyTag([])).toBe(false);
    expect(anyTag([{ tag: 0 }, { tag: 2 }])).toBe(true);
    expect(anyEp4ta([{ ep4ta: -1 }])).toBe(false);
    expect(anyEp4ta([{ ep4ta: -1 }, { ep4ta: 0 }])).toBe(true);
  });
  it('names tag 0 the host and others by the vendor\'s name; EP4TA as the EPT root\'s address', () => {
    expect(tagText(0, { tag: 'VPID', host: 'host' })).toBe('host');
    expect(tagText(1, { tag: 'VPID', host: 'host' })).toBe('VPID 1');
    expect(tagText(2, { tag: 'ASID', host: '宿主机' })).toBe('ASID 2');
    expect(ep4taText(-1)).toBe('');
    expect(ep4taText(0x1234)).toBe('0000000001234000');
    expect(ep4taText(0x100000)).toBe('0000000100000000');
  });
});
