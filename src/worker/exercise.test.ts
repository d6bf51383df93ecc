import { describe, expect, it, vi } from 'vitest';
import { main } from '../cli/lab.ts';
import { formatWalkExercise } from '../emu/exercise/format.ts';
import { DEFAULT_COUNT, generateWalkExercise, MAX_COUNT, type WalkLevels } from '../emu/exercise/walk-exercise.ts';
import { generateVmexitExercise, VMEXIT_DEFAULT_COUNT, VMEXIT_MAX_COUNT } from '../emu/exercise/vmexit-exercise.ts';
import { formatVmexitExercise } from '../emu/exercise/vmexit-format.ts';
import { cliArgs } from '../views/practice/spec.ts';
import { EXERCISE_COUNT, EXERCISE_COUNTS, type ExerciseSpec } from './exercise-types.ts';
import { InThreadClient } from './in-thread.ts';
import { createLabHandler } from './lab.worker.ts';
import type { LabMessage } from './protocol.ts';
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
    expect(EXERCISE_COUNTS.walk).toBe(EXERCISE_COUNT);
    // The command line takes 1..VMEXIT_MAX_COUNT (generateVmexitExercise rejects 0 and more).
    expect(EXERCISE_COUNTS.vmexit).toEqual({ default: VMEXIT_DEFAULT_COUNT, min: 1, max: VMEXIT_MAX_COUNT });
    expect(() => generateVmexitExercise({ seed: 1, count: 0 })).toThrow(RangeError);
    expect(() => generateVmexitExercise({ seed: 1, count: VMEXIT_MAX_COUNT + 1 })).toThrow(RangeError);
  });

  it.each([
    { kind: 'vmexit', seed: 0, count: 6 },
    { kind: 'vmexit', seed: 4242, count: 1 },
    { kind: 'vmexit', seed: 987_654, count: 18 },
    { kind: 'vmexit', seed: Number.MAX_SAFE_INTEGER, count: 40 },
  ] as const)('gives the app the same VM-exit problems as the command line: seed $seed, count $count', async (spec) => {
    const c = new InThreadClient();
    const r = await c.exercise(spec);
    expect(r.kind).toBe('vmexit');
    if (r.kind !== 'vmexit') return;
    expect(r.exercise).toEqual(generateVmexitExercise({ seed: spec.seed, count: spec.count }));
    expect(JSON.parse(JSON.stringify(r.exercise))).toEqual(r.exercise);
    const printed = cli(cliArgs(spec));
    expect(printed.code).toBe(0);
    expect(printed.out).toBe(formatVmexitExercise(r.exercise, { answers: true }));
    expect(r.exercise.problems).toHaveLength(spec.count);
  });

  it.each(SPECS)('gives the app the same problem as the command line: levels $levels, seed $seed, count $count', async (spec) => {
    const c = new InThreadClient();
    const r = await c.exercise(spec);
    expect(r.kind).toBe('walk');
    if (r.kind !== 'walk' || spec.kind !== 'walk') throw new Error('not a walk');
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
      if (r.kind !== 'walk') throw new Error('not a walk');
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
    [{ kind: 'vmexit', seed: 1, count: 0 }, 'exercise count'],
    [{ kind: 'vmexit', seed: 1, count: 41 }, 'exercise count'],
    [{ kind: 'vmexit', seed: -2, count: 3 }, 'exercise seed'],
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

  it('the worker’s handler answers a VM-exit exercise once its generator chunk has loaded, by id', async () => {
    const got: LabMessage[] = [];
    const handle = createLabHandler((m) => got.push(m));
    handle({ id: 7, type: 'exercise', spec: { kind: 'vmexit', seed: 12, count: 3 } });
    handle({ id: 8, type: 'exercise', spec: { kind: 'walk', levels: 2, seed: 1, count: 2 } });
    await vi.waitFor(() => expect(got).toHaveLength(2));
    const seven = got.find((m) => 'id' in m && m.id === 7);
    expect(seven).toMatchObject({ kind: 'result', type: 'exercise' });
    if (seven?.kind === 'result' && seven.type === 'exercise') expect(seven.result).toEqual({ kind: 'vmexit', exercise: generateVmexitExercise({ seed: 12, count: 3 }) });
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

describe('the exercise call: two-dimensional walks', () => {
  it.each([
    { kind: 'nested', seed: 0, count: 3 },
    { kind: 'nested', seed: 31_337, count: 8 },
    { kind: 'nested', seed: Number.MAX_SAFE_INTEGER, count: 1 },
  ] as const)('gives the app the same problems as the command line: seed $seed, count $count', async (spec) => {
    const { generateNestedExercise, formatNestedExercise, NESTED_DEFAULT_COUNT, NESTED_MAX_COUNT } = await import('../emu/exercise/nested-exercise.ts');
    expect(EXERCISE_COUNTS.nested).toEqual({ default: NESTED_DEFAULT_COUNT, min: 1, max: NESTED_MAX_COUNT });
    const c = new InThreadClient();
    const r = await c.exercise(spec);
    if (r.kind !== 'nested') throw new Error(`not nested: ${r.kind}`);
    expect(r.exercise).toEqual(generateNestedExercise({ seed: spec.seed, count: spec.count }));
    const printed = cli(cliArgs(spec));
    expect(printed.code).toBe(0);
    expect(printed.out).toBe(formatNestedExercise(r.exercise, { answers: true }));
  });

  it('answers a bad count with an error naming it', () => {
    const res = new LabSession().handle({ id: 5, type: 'exercise', spec: { kind: 'nested', seed: 1, count: 9 } });
    expect(res.kind).toBe('error');
    if (res.kind === 'error') expect(res.message.startsWith('exercise count')).toBe(true);
  });
});

describe('the exercise call: shadow paging', () => {
  it.each([
    { kind: 'shadow', seed: 0, count: 8 },
    { kind: 'shadow', seed: 31_337, count: 24 },
    { kind: 'shadow', seed: Number.MAX_SAFE_INTEGER, count: 1 },
  ] as const)('gives the app the same problems as the command line: seed $seed, count $count', async (spec) => {
    const { generateShadowExercise, formatShadowExercise, SHADOW_DEFAULT_COUNT, SHADOW_MAX_COUNT } = await import('../emu/exercise/shadow-exercise.ts');
    expect(EXERCISE_COUNTS.shadow).toEqual({ default: SHADOW_DEFAULT_COUNT, min: 1, max: SHADOW_MAX_COUNT });
    const c = new InThreadClient();
    const r = await c.exercise(spec);
    if (r.kind !== 'shadow') throw new Error(`not shadow: ${r.kind}`);
    expect(r.exercise).toEqual(generateShadowExercise({ seed: spec.seed, count: spec.count }));
    const printed = cli(cliArgs(spec));
    expect(printed.code).toBe(0);
    expect(printed.out).toBe(formatShadowExercise(r.exercise, { answers: true }));
  });

  it('answers a bad count with an error naming it', () => {
    const res = new LabSession().handle({ id: 6, type: 'exercise', spec: { kind: 'shadow', seed: 1, count: 25 } });
    expect(res.kind).toBe('error');
    if (res.kind === 'error') expect(res.message.startsWith('exercise count')).toBe(true);
  });
});
