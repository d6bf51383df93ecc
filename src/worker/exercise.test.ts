import { describe, expect, it } from 'vitest';
import { main } from '../cli/lab.ts';
import { formatWalkExercise } from '../emu/exercise/format.ts';
import { DEFAULT_COUNT, generateWalkExercise, MAX_COUNT, type WalkLevels } from '../emu/exercise/walk-exercise.ts';
import { cliArgs } from '../views/practice/spec.ts';
import { EXERCISE_COUNT, type ExerciseSpec } from './exercise-types.ts';
import { InThreadClient } from './in-thread.ts';
import { LabSession } from './session.ts';

function cli(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const SPECS: ExerciseSpec[] = [
  { kind: 'walk', levels: 2, seed: 0, count: 5 },
  { kind: 'walk', levels: 2, seed: 4242, count: 8 },
  { kind: 'walk', levels: 3, seed: 7, count: 5 },
  { kind: 'walk', levels: 3, seed: 999_999, count: 2 },
  { kind: 'walk', levels: 4, seed: 123_456, count: 5 },
  { kind: 'walk', levels: 4, seed: Number.MAX_SAFE_INTEGER, count: 32 },
  { kind: 'walk', levels: 5, seed: 31, count: 5 },
  { kind: 'walk', levels: 5, seed: 2 ** 40 + 5, count: 12 },
];

describe('the exercise call', () => {
  it('keeps the page’s count bounds equal to the generator’s', () => {
    expect(EXERCISE_COUNT).toEqual({ default: DEFAULT_COUNT, min: 2, max: MAX_COUNT });
  });

  it.each(SPECS)('gives the app the same problem as the command line: levels $levels, seed $seed, count $count', async (spec) => {
    const c = new InThreadClient();
    const r = await c.exercise(spec);
    expect(r.kind).toBe('walk');
    expect(r.exercise).toEqual(generateWalkExercise({ levels: spec.levels, seed: spec.seed, count: spec.count }));
    // What an instructor prints with the command the panel shows is the key of the problem the page shows.
    const printed = cli(cliArgs(spec));
    expect(printed.code).toBe(0);
    expect(printed.out).toBe(formatWalkExercise(r.exercise, { answers: true }));
    expect(printed.out).toContain(`seed ${spec.seed}`);
    expect(r.exercise.questions).toHaveLength(spec.count);
  });

  it('describes how the linear address splits as the walks of its answers do', async () => {
    const c = new InThreadClient();
    for (const levels of [2, 3, 4, 5] as WalkLevels[]) {
      const r = await c.exercise({ kind: 'walk', levels, seed: 11, count: 10 });
      expect(r.layout.names).toHaveLength(levels);
      expect(r.layout.entrySize).toBe(levels === 2 ? 4 : 8);
      for (const a of r.exercise.answers) {
        a.steps.forEach((s, d) => {
          expect(s.level).toBe(r.layout.names[d]);
          expect(s.indexBits).toEqual(r.layout.bits[d]);
        });
      }
      // The printed legend splits the address the same way.
      const fields = r.layout.names.map((n, i) => `index ${r.layout.bits[i]![0]}:${r.layout.bits[i]![1]}`);
      const legend = formatWalkExercise(r.exercise, { answers: false }).split('\n').find((l) => l.startsWith('Linear address:'))!;
      for (const f of fields) expect(legend).toContain(f);
    }
  });

  it.each([
    [{ kind: 'tlb', levels: 4, seed: 1, count: 5 }, 'exercise kind'],
    [{ kind: 'walk', levels: 6, seed: 1, count: 5 }, 'exercise levels'],
    [{ kind: 'walk', levels: '4', seed: 1, count: 5 }, 'exercise levels'],
    [{ kind: 'walk', levels: 4, seed: -1, count: 5 }, 'exercise seed'],
    [{ kind: 'walk', levels: 4, seed: 1.5, count: 5 }, 'exercise seed'],
    [{ kind: 'walk', levels: 4, seed: 2 ** 53, count: 5 }, 'exercise seed'],
    [{ kind: 'walk', levels: 4, seed: 1, count: 1 }, 'exercise count'],
    [{ kind: 'walk', levels: 4, seed: 1, count: 33 }, 'exercise count'],
    [{ kind: 'walk', levels: 4, seed: 1 }, 'exercise count'],
    [null, 'exercise kind'],
  ])('answers a bad spec %j with an error naming %s, and the session goes on', (spec, field) => {
    const s = new LabSession();
    const res = s.handle({ id: 3, type: 'exercise', spec: spec as ExerciseSpec });
    expect(res.kind).toBe('error');
    expect(res.id).toBe(3);
    if (res.kind === 'error') expect(res.message.startsWith(field)).toBe(true);
    const ok = s.handle({ id: 4, type: 'exercise', spec: { kind: 'walk', levels: 2, seed: 1, count: 2 } });
    expect(ok.kind).toBe('result');
  });

  it('leaves the loaded scenario where it was', async () => {
    const c = new InThreadClient();
    const scenario = (await import('../emu/scenario/examples/syscalls.json')).default;
    const loaded = await c.load(scenario as never);
    expect(loaded.ok).toBe(true);
    await c.step(3);
    await c.exercise({ kind: 'walk', levels: 4, seed: 5, count: 5 });
    const v = await c.step(0);
    expect(v.step).toBe(3);
  });
});
