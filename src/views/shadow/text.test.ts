import { describe, expect, it } from 'vitest';
import '../../i18n/parts/shadow.ts';
import { translator } from '../cpu/text.ts';
import { recordText, short } from './text.ts';

describe('shadow view text', () => {
  it('shortens addresses whose high half is zero, only those', () => {
    expect(short('0x0000000000100000')).toBe('0x00100000');
    expect(short('0xffff800000100000')).toBe('0xffff800000100000');
  });
  it('says each kind of record in both languages, with its values', () => {
    const en = translator('en');
    const zh = translator('zh-CN');
    const fill = { op: 'fill', gva: '0x0000000040000000', gpa: '0x0000000000200000', hpa: '0x0000000000200000', spte: '0x0000000000200005' } as const;
    expect(recordText(en, fill)).toBe('Filled the shadow entry of 0x40000000: guest-physical 0x00200000 → host-physical 0x00200000 (entry 0x00200005).');
    expect(recordText(zh, fill)).toContain('影子表项');
    expect(recordText(en, { op: 'true-fault', gva: '0x0000000040100000', errorCode: 6 })).toContain('(error code 0x6)');
    expect(recordText(en, { op: 'zap', gva: '0x0000000000001000', why: 'invlpg' })).toBe('Zapped the shadow entry of 0x00001000: the guest ran INVLPG.');
    expect(recordText(en, { op: 'emulated-write', gva: '0x0000000000013000', gpa: '0x0000000000013000', changed: ['0x0000000000013800'] })).toContain('one entry changed');
    expect(recordText(en, { op: 'cr3', cr3: '0x0000000000308000', hit: true, root: '0x0000000000900000' })).toContain('(hit)');
    expect(recordText(zh, { op: 'cr3', cr3: '0x0000000000308000', hit: false, root: '0x0000000000900000' })).toContain('未命中');
    expect(recordText(en, { op: 'reset', why: 'paging mode changed (CR0/CR4/EFER)' })).toContain('paging mode changed');
    expect(recordText(en, { op: 'reset', why: 'the shadow pool is exhausted' })).toContain('pool ran out');
  });
});
