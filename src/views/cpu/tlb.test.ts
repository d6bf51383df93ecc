import { describe, expect, it } from 'vitest';
import { linearOf, physOf, shortHex, sizeText } from './tlb.ts';

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
});
