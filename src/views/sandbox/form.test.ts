import { describe, expect, it } from 'vitest';
import { FIELDS, formatInt, getAt, offsetOf, pagingFits, parseIntText, placeOf, setAt } from './form.ts';
import { techniqueEdits } from './hv-form.ts';

describe('sandbox form helpers', () => {
  it('read and write fields by path without changing the original', () => {
    const o = { name: 'x', devices: { uart: { port: 1016 } } };
    expect(getAt(o, 'devices.uart.port')).toBe(1016);
    expect(getAt(o, 'devices.timer.vector')).toBeUndefined();
    const t = setAt(o, 'devices.timer.vector', 32);
    expect(t).toEqual({ name: 'x', devices: { uart: { port: 1016 }, timer: { vector: 32 } } });
    expect(o).toEqual({ name: 'x', devices: { uart: { port: 1016 } } });
    expect(setAt(t, 'devices.timer', undefined)).toEqual({ name: 'x', devices: { uart: { port: 1016 } } });
    expect(setAt({ limits: { maxSteps: 5 } }, 'limits.maxSteps', undefined)).toEqual({});
    expect(getAt({ a: 'str' }, 'a.length')).toBeUndefined();
    expect(getAt({}, 'toString')).toBeUndefined();
  });

  it('take integers in decimal or hex and keep anything else as typed', () => {
    expect(parseIntText('8388608')).toBe(8388608);
    expect(parseIntText(' 0x800000 ')).toBe(0x800000);
    expect(parseIntText('0X3F8')).toBe(0x3f8);
    expect(parseIntText('1_000_000')).toBe(1_000_000);
    expect(parseIntText('8 MiB')).toBe('8 MiB');
    expect(parseIntText('-1')).toBe('-1');
    expect(parseIntText('')).toBe('');
    expect(parseIntText('99999999999999999999')).toBe('99999999999999999999');
    expect(formatInt(0x800000, true)).toBe('0x800000');
    expect(formatInt(32, false)).toBe('32');
    expect(formatInt('oops', true)).toBe('oops');
    expect(formatInt(undefined, true)).toBe('');
  });

  it('knows which paging modes each CPU mode takes (schema.ts)', () => {
    expect(['none', '32bit', 'pae', '4level', '5level'].filter((p) => pagingFits('long64', p))).toEqual(['4level', '5level']);
    expect(['none', '32bit', 'pae', '4level', '5level'].filter((p) => pagingFits('prot32', p))).toEqual(['none', '32bit', 'pae']);
  });

  it('send each error to the editor that can fix it', () => {
    expect(placeOf({ path: 'kernel.source', message: 'm', line: 3, column: 7 })).toEqual({ tab: 'kernel', line: 3, column: 7 });
    expect(placeOf({ path: 'user', message: 'too big' })).toEqual({ tab: 'user', line: null, column: null });
    expect(placeOf({ path: 'user.bytes', message: 'bad hex' })).toEqual({ tab: 'user', line: null, column: null });
    expect(placeOf({ path: 'memory.size', message: 'm' })).toEqual({ tab: 'settings', field: 'memory' });
    expect(placeOf({ path: 'devices.timer', message: 'no handler' })).toEqual({ tab: 'settings', field: 'timerVector' });
    expect(placeOf({ path: 'cpu', message: 'm' })).toEqual({ tab: 'settings', field: 'vendor' });
    expect(placeOf({ path: 'mappings[0].linear', message: 'm' })).toEqual({ tab: 'json', path: 'mappings[0].linear' });
    expect(placeOf({ path: 'kernel.origin', message: 'm' })).toEqual({ tab: 'json', path: 'kernel.origin' });
    for (const f of FIELDS) expect(placeOf({ path: f.path, message: '' })).toEqual({ tab: 'settings', field: f.id });
  });

  it('turn a line and column into a text offset, clamped', () => {
    const t = 'ab\ncde\n\nf';
    expect(offsetOf(t, 1, 1)).toBe(0);
    expect(offsetOf(t, 2, 2)).toBe(4);
    expect(offsetOf(t, 2, 99)).toBe(6);
    expect(offsetOf(t, 3, 1)).toBe(7);
    expect(offsetOf(t, 4, 1)).toBe(8);
    expect(offsetOf(t, 9, 1)).toBe(t.length);
  });
});

describe('the technique field', () => {
  it('sets the vendor the technique needs, and none removes the technique and its settings', () => {
    expect(techniqueEdits('vtx')).toEqual([['technique', 'vtx'], ['cpu.vendor', 'intel']]);
    expect(techniqueEdits('svm')).toEqual([['technique', 'svm'], ['cpu.vendor', 'amd']]);
    expect(techniqueEdits('none')).toEqual([['technique', undefined], ['hypervisor', undefined]]);
    // Trap-and-emulate: any vendor is kept; the hardware assists' settings go.
    expect(techniqueEdits('trap-emulate', { technique: 'vtx', hypervisor: { nestedPaging: true } })).toEqual([['technique', 'trap-emulate'], ['hypervisor', undefined]]);
    expect(techniqueEdits('bt', { technique: 'vtx', hypervisor: { nestedPaging: true } })).toEqual([['technique', 'bt'], ['hypervisor', undefined]]);
    const f = FIELDS.find((x) => x.id === 'technique')!;
    expect(f).toMatchObject({ path: 'technique', kind: 'choice', choices: ['none', 'vtx', 'svm', 'trap-emulate', 'bt'], fallback: 'none' });
    expect(placeOf({ path: 'technique', message: 'x' })).toEqual({ tab: 'settings', field: 'technique' });
  });
});
