import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hex64, hexPa } from '../../emu/exercise/format.ts';
import { checkWalkAnswer, generateWalkExercise, type WalkAnswer, type WalkExercise, type WalkLevels } from '../../emu/exercise/walk-exercise.ts';
import { emptyAnswer, hexU64, markAnswer, parseHex, readAnswer, type RawAnswer } from './walk-check.ts';

const EXERCISES: WalkExercise[] = ([2, 3, 4, 5] as WalkLevels[]).flatMap((levels) =>
  [1, 77, 31337].map((seed) => generateWalkExercise({ levels, seed, count: 12 })),
);

/** The key's answer typed as the command line's answer key prints it. */
function asPrinted(a: WalkAnswer): RawAnswer {
  return a.ok
    ? { ...emptyAnswer(), kind: 'pa', pa: hexPa(a.pa) }
    : { ...emptyAnswer(), kind: 'fault', code: `0x${a.errorCode.toString(16)}`, level: a.faultLevel };
}

function mark(a: WalkAnswer, raw: RawAnswer) {
  const r = readAnswer(raw);
  if (!r.ok) throw new Error(`unreadable: ${JSON.stringify(r)}`);
  return markAnswer(a, r.answer);
}

describe('parseHex', () => {
  it.each([
    ['0x0012f000', 0x12f000n],
    ['0X12F000', 0x12f000n],
    ['12f000', 0x12f000n],
    ['  0x0012_f000 ', 0x12f000n],
    ['0xffff8000 00001000', 0xffff800000001000n],
    ['0xffffffffffffffff', 0xffffffffffffffffn],
    ['0', 0n],
  ])('reads %j', (text, value) => {
    expect(parseHex(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['', { code: 'empty' }],
    ['   ', { code: 'empty' }],
    ['0x', { code: 'noDigits' }],
    ['0x__', { code: 'noDigits' }],
    ['0x12g4', { code: 'badChar', at: 5, char: 'g' }],
    ['  -5', { code: 'badChar', at: 3, char: '-' }],
    ['12.5', { code: 'badChar', at: 3, char: '.' }],
    ['0x1_0000_0000_0000_0000', { code: 'tooBig' }],
  ])('rejects %j, saying where', (text, error) => {
    expect(parseHex(text)).toEqual({ ok: false, error });
  });
});

describe('readAnswer', () => {
  it('locates what cannot be read: the field and why', () => {
    expect(readAnswer({ kind: 'pa', pa: '0x12z', code: '', level: '' })).toEqual({ ok: false, field: 'pa', error: { code: 'badChar', at: 5, char: 'z' } });
    expect(readAnswer({ kind: 'fault', pa: 'ignored', code: '', level: 'PTE' })).toEqual({ ok: false, field: 'code', error: { code: 'empty' } });
    expect(readAnswer({ kind: 'fault', pa: '', code: '0x1_0000_0000', level: 'PTE' })).toEqual({ ok: false, field: 'code', error: { code: 'tooBig' } });
    expect(readAnswer({ kind: 'fault', pa: '', code: '0x7', level: '' })).toEqual({ ok: false, field: 'level', error: { code: 'noLevel' } });
    expect(readAnswer(emptyAnswer())).toEqual({ ok: true, answer: null });
  });
});

describe('markAnswer', () => {
  it('accepts every right answer as the command line prints it, and in the other accepted spellings', () => {
    let faults = 0;
    let pas = 0;
    for (const ex of EXERCISES) {
      for (const a of ex.answers) {
        const raw = asPrinted(a);
        expect(mark(a, raw)).toEqual({ right: true });
        const spelled = a.ok ? { ...raw, pa: a.pa.toString(16).toUpperCase() } : { ...raw, code: ` ${a.errorCode.toString(16).toUpperCase()} ` };
        expect(mark(a, spelled)).toEqual({ right: true });
        if (a.ok) pas++;
        else faults++;
      }
    }
    expect(pas).toBeGreaterThan(10);
    expect(faults).toBeGreaterThan(10);
  });

  it('rejects wrong answers with the reason', () => {
    for (const ex of EXERCISES) {
      for (const a of ex.answers) {
        const raw = asPrinted(a);
        expect(mark(a, emptyAnswer())).toEqual({ right: false, reasons: [{ code: 'unanswered' }] });
        if (a.ok) {
          const off = a.pa % a.pageSize;
          const offsetWrong = a.pa - off + ((off + 4) % a.pageSize);
          expect(mark(a, { ...raw, pa: hexPa(offsetWrong) })).toEqual({ right: false, reasons: [{ code: 'offset', pageSize: a.pageSize }] });
          expect(mark(a, { ...raw, pa: hexPa(a.pa + a.pageSize) })).toEqual({ right: false, reasons: [{ code: 'frame', pageSize: a.pageSize }] });
          expect(mark(a, { ...raw, pa: hexPa(a.pa + a.pageSize + 8 - (off >= a.pageSize - 8 ? 16 : 0)) })).toEqual({ right: false, reasons: [{ code: 'pa' }] });
          expect(mark(a, { ...raw, kind: 'fault', code: '0x5', level: 'PTE' })).toEqual({ right: false, reasons: [{ code: 'translates' }] });
        } else {
          expect(mark(a, { ...raw, kind: 'pa', pa: '0x1000' })).toEqual({ right: false, reasons: [{ code: 'faults' }] });
          (['p', 'wr', 'us', 'rsvd', 'id'] as const).forEach((bit, k) => {
            const m = mark(a, { ...raw, code: `0x${(a.errorCode ^ (1 << k)).toString(16)}` });
            expect(m).toEqual({ right: false, reasons: [{ code: 'bit', bit, want: a.bits[bit] }] });
          });
          expect(mark(a, { ...raw, code: `0x${(a.errorCode | 0x20).toString(16)}` })).toEqual({ right: false, reasons: [{ code: 'extraBits' }] });
          const other = ex.answers.flatMap((x) => x.steps.map((s) => s.level)).find((l) => l !== a.faultLevel)!;
          expect(mark(a, { ...raw, level: other })).toEqual({ right: false, reasons: [{ code: 'level', got: other, want: a.faultLevel }] });
        }
      }
    }
  });

  it('agrees with the generator’s own checker on any answer', () => {
    const ex = EXERCISES;
    fc.assert(
      fc.property(
        fc.nat(ex.length - 1),
        fc.nat(31),
        fc.boolean(),
        fc.nat(0xff),
        fc.integer({ min: -3, max: 3 }),
        fc.constantFrom('PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'),
        (e, q, asPa, code, shift, level) => {
          const x = ex[e]!;
          const key = x.answers[q % x.answers.length]!;
          const i = q % x.answers.length;
          const near = key.ok ? Math.max(0, key.pa + shift * (shift % 2 === 0 ? key.pageSize : 1)) : 0x1000 * (shift + 4);
          const fault = { errorCode: key.ok ? code : code % 2 === 0 ? key.errorCode : code, level: code % 3 === 0 ? (key.ok ? 'PTE' : key.faultLevel) : level };
          const mine = markAnswer(key, asPa ? { pa: BigInt(near) } : { fault });
          const student = asPa ? { pa: near } : { fault };
          expect(mine.right).toBe(checkWalkAnswer(x, i, student).correct);
        },
      ),
    );
  });
});

describe('hexU64', () => {
  it('prints as the command line does (format.ts hex64)', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.oneof(fc.constant(0), fc.nat(0xffffffff)), fc.constantFrom(8, 16), (lo, hi, digits) => {
        expect(hexU64({ lo, hi }, digits)).toBe(hex64({ lo, hi }, digits));
      }),
    );
  });
});
