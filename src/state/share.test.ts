import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { share } from './share.ts';

describe('share: the new value, with the old one\'s equal parts', () => {
  it('keeps equal rows as the old objects and replaces changed ones', () => {
    const prev = { fields: [{ name: 'A', value: '0x1' }, { name: 'B', value: '0x2' }], n: 1 };
    const next = { fields: [{ name: 'A', value: '0x1' }, { name: 'B', value: '0x3' }], n: 1 };
    const s = share(prev, next);
    expect(s).toEqual(next);
    expect(s).not.toBe(prev);
    expect(s.fields[0]).toBe(prev.fields[0]);
    expect(s.fields[1]).not.toBe(prev.fields[1]);
    expect(share(prev, structuredClone(prev))).toBe(prev);
  });

  it('always equals the new value (deeply), for any pair of JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const s = share(a, b);
        expect(s).toStrictEqual(b);
        // Equal values give the old one back.
        expect(share(a, structuredClone(a))).toBe(a);
      }),
      { numRuns: 300 },
    );
  });
});
