import { describe, expect, it } from 'vitest';
import { formatWalkExercise } from '../../emu/exercise/format.ts';
import { LOCALES } from '../../i18n/messages.ts';
import { makeExercise, prepareExercise } from '../../worker/exercise.ts';
import type { ExerciseResult } from '../../worker/exercise-types.ts';
import { translator } from '../cpu/text.ts';
import { cliCommand } from './spec.ts';
import { ERROR_BITS, type Reason } from './walk-check.ts';
import { accessWords, explainLines, inputErrorText, legendLines, parseSeed, reasonText } from './walk-text.ts';

const en = translator('en');
type WalkResult = Extract<ExerciseResult, { kind: 'walk' }>;
const asWalk = (r: ExerciseResult): WalkResult => {
  if (r.kind !== 'walk') throw new Error('not a walk');
  return r;
};
// As the worker does before answering: the walk generator is a chunk of its own.
await prepareExercise({ kind: 'walk' });
const RESULTS: WalkResult[] = ([2, 3, 4, 5] as const).flatMap((levels) => [3, 2024].map((seed) => asWalk(makeExercise({ kind: 'walk', levels, seed, count: 10 }))));

/** The answer key of question i as the command line prints it (its lines under "  i. …"). */
function keyLines(r: WalkResult, i: number): string[] {
  const text = formatWalkExercise(r.exercise, { answers: true });
  const key = text.slice(text.indexOf('Answer key'));
  const lines = key.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  ${String(i + 1).padStart(2)}. `));
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith('       ')) break;
    out.push(l.trim());
  }
  return out;
}

describe('the walk explained', () => {
  it('states the entries, addresses and outcome of the command line’s answer key, question by question', () => {
    for (const r of RESULTS) {
      r.exercise.questions.forEach((_, i) => {
        const mine = explainLines(en, r.exercise, r.layout, i);
        const cli = keyLines(r, i);
        const a = r.exercise.answers[i]!;
        a.steps.forEach((s, k) => {
          const m = /(?:entry at|loaded from) (0x[0-9a-f]+)\)? = (0x[0-9a-f]+)/.exec(cli[k]!)!;
          expect(m, cli[k]).not.toBeNull();
          expect(mine[k]).toContain(m[1]);
          expect(mine[k]).toContain(`holds ${m[2]}`);
          expect(mine[k]).toContain(`bits ${s.indexBits[0]}:${s.indexBits[1]}`);
          expect(mine[k]!.includes('maps the page')).toBe(cli[k]!.includes('maps the page'));
        });
        const tail = mine.slice(a.steps.length).join('\n');
        if (a.ok) expect(tail).toContain(`= ${/PA = (0x[0-9a-f]+)/.exec(cli.at(-1)!)![1]}, in a`);
        else {
          const m = /error code (0x[0-9a-f]+): P=(\d) W\/R=(\d) U\/S=(\d) RSVD=(\d) I\/D=(\d)/.exec(cli.at(-1)!)!;
          expect(tail).toContain(`Error code ${m[1]}: P = ${m[2]}, W/R = ${m[3]}, U/S = ${m[4]}, RSVD = ${m[5]}, I/D = ${m[6]}.`);
          expect(tail).toContain(`#PF at the ${a.faultLevel}`);
        }
      });
    }
  });

  it('shows the table base and index arithmetic that gives each entry’s address', () => {
    const r = RESULTS.find((x) => x.exercise.levels === 4)!;
    const s = r.exercise.answers[0]!.steps[0]!;
    const base = `0x${r.exercise.control.cr3.lo.toString(16).padStart(8, '0')}`;
    expect(explainLines(en, r.exercise, r.layout, 0)[0]).toContain(`${base} + 0x${s.index.toString(16).padStart(3, '0')} × 8 = 0x${s.entryPa.toString(16).padStart(8, '0')}`);
  });
});

describe('the legend', () => {
  it('splits the linear address exactly as the command line’s legend does', () => {
    for (const r of RESULTS) {
      const cli = formatWalkExercise(r.exercise, { answers: false }).split('\n').find((l) => l.startsWith('Linear address:'));
      expect(legendLines(en, r.exercise.control, r.layout)[0]).toBe(cli);
    }
  });

  it('gives the reserved and address bits the command line gives, for this MAXPHYADDR', () => {
    for (const r of RESULTS) {
      const cli = formatWalkExercise(r.exercise, { answers: false });
      const mine = legendLines(en, r.exercise.control, r.layout).join('\n');
      const reserved = /reserved {5}(.*) \(a fault/.exec(cli)![1]!;
      for (const range of reserved.match(/\d+:\d+/g)!) expect(mine).toContain(range);
      const address = /address {6}bits (\d+:12)/.exec(cli)![1]!;
      expect(mine).toContain(`bits ${address}`);
    }
  });
});

describe('words in both languages', () => {
  const reasons: Reason[] = [
    { code: 'unanswered' }, { code: 'faults' }, { code: 'translates' }, { code: 'offset', pageSize: 4096 }, { code: 'frame', pageSize: 2 ** 21 },
    { code: 'pa' }, { code: 'extraBits' }, { code: 'level', got: 'PDE', want: 'PTE' },
    ...ERROR_BITS.flatMap((bit) => [true, false].map((want): Reason => ({ code: 'bit', bit, want }))),
  ];
  it.each(LOCALES)('%s: every reason, input error, legend and walk is filled in', (locale) => {
    const t = translator(locale);
    const texts = [
      ...reasons.map((r) => reasonText(t, r)),
      ...(['empty', 'tooBig', 'noDigits', 'noLevel'] as const).map((code) => inputErrorText(t, { code })),
      inputErrorText(t, { code: 'badChar', at: 3, char: 'z' }),
      ...RESULTS.flatMap((r) => [...legendLines(t, r.exercise.control, r.layout), ...r.exercise.questions.flatMap((q, i) => [accessWords(t, q.access), ...explainLines(t, r.exercise, r.layout, i)])]),
    ];
    for (const s of texts) {
      expect(s).not.toMatch(/\{\w+\}/);
      expect(s.trim().length).toBeGreaterThan(0);
    }
    expect(new Set(reasons.map((r) => reasonText(t, r))).size).toBe(reasons.length);
  });

  it('words the access', () => {
    expect(accessWords(en, { write: true, fetch: false, user: true })).toBe('write, user');
    expect(accessWords(translator('zh-CN'), { write: false, fetch: true, user: false })).toBe('内核态取指');
  });
});

describe('parseSeed and the command line', () => {
  it.each([
    ['42', { ok: true, seed: 42 }],
    [' 0 ', { ok: true, seed: 0 }],
    ['9007199254740991', { ok: true, seed: Number.MAX_SAFE_INTEGER }],
    ['', { ok: false, error: { code: 'empty' } }],
    ['9007199254740992', { ok: false, error: { code: 'tooBig' } }],
    ['12a', { ok: false, error: { code: 'badChar', at: 3, char: 'a' } }],
    [' -1', { ok: false, error: { code: 'badChar', at: 2, char: '-' } }],
    ['1e3', { ok: false, error: { code: 'badChar', at: 2, char: 'e' } }],
  ])('parseSeed(%j)', (text, want) => {
    expect(parseSeed(text)).toEqual(want);
  });

  it('names the count only when it is not the default', () => {
    expect(cliCommand({ kind: 'walk', levels: 3, seed: 9, count: 5 })).toBe('npm run lab -- exercise walk --levels 3 --seed 9 --answers');
    expect(cliCommand({ kind: 'walk', levels: 5, seed: 9, count: 7 })).toBe('npm run lab -- exercise walk --levels 5 --seed 9 --count 7 --answers');
  });
});
