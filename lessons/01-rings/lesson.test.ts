/**
 * Lesson 1 against its machine and the real emulator: every state reachable (xstate/graph), a
 * scripted run from start to completion on the syscalls scenario, every number the student-facing
 * text states found among the facts the run produces, and both languages complete.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { getShortestPaths, getStateNodes } from 'xstate/graph';
import type { TraceEvent } from '../../src/emu/trace/events.ts';
import { KERNEL_STACK_TOP } from '../../src/emu/scenario/layout.ts';
import type { LessonEvent, LessonSnapshot, StepDef } from '../../src/lessons/kit.ts';
import { phaseOf } from '../../src/lessons/kit.ts';
import { maxScoreOf, reportOf, seenEvents } from '../../src/lessons/report.ts';
import type { LessonText, StepText } from '../../src/lessons/lesson.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import scenario from '../../src/emu/scenario/examples/syscalls.json';
import lesson from './index.ts';
import { info } from './meta.ts';

const { machine, steps } = lesson;
const input = { lessonId: lesson.id, steps };

/** Every event the student can send, with every answer and target the steps name, right or wrong. */
function allEvents(): LessonEvent[] {
  const ev: LessonEvent[] = [{ type: 'lesson.next' }, { type: 'lesson.back' }, { type: 'lesson.hint' }];
  for (let i = 0; i < steps.length; i++) ev.push({ type: 'lesson.goto', step: i });
  for (const s of steps as readonly StepDef[]) {
    if (s.kind === 'choice') for (const c of s.choices) ev.push({ type: 'lesson.answer', value: c });
    if (s.kind === 'number') ev.push({ type: 'lesson.answer', value: s.answer }, { type: 'lesson.answer', value: s.answer + 1 });
    if (s.kind === 'wait') ev.push({ type: 'lab.events', events: [s.until] });
    if (s.kind === 'target') ev.push({ type: 'lab.target', id: s.answer }, { type: 'lab.target', id: `${s.among}zz` });
  }
  return ev;
}

describe('lesson 01-rings: the machine', () => {
  it('reaches every state (transient entry and start states resolve within the step that enters them)', () => {
    const paths = getShortestPaths(machine, {
      input,
      events: allEvents(),
      serializeState: (s) => JSON.stringify(s.value) + JSON.stringify(Object.keys(s.context.answers).sort()),
    });
    const reached = paths.map((p) => p.state);
    const missing = getStateNodes(machine)
      .filter((n) => n.path.length > 0 && n.key !== 'entry' && n.key !== 'start')
      .filter((n) => {
        const value = n.path.length === 1 ? (n.path[0] as string) : { [n.path[0] as string]: n.path[1] as string };
        return !reached.some((s) => s.matches(value as never));
      })
      .map((n) => n.id);
    expect(reached.length).toBeGreaterThan(steps.length);
    expect(missing).toEqual([]);
  });

  it('opens at any step asked, clamped to the lesson', () => {
    for (const [start, want] of [[0, 0], [4, 4], [99, steps.length - 1], [-3, 0]] as const) {
      const a = createActor(machine, { input: { ...input, start } }).start();
      expect(a.getSnapshot().context.step).toBe(want);
      a.stop();
    }
  });

  it('agrees with its LessonInfo (steps, points, titles, summaries)', () => {
    expect(info.steps).toBe(steps.length);
    expect(info.maxScore).toBe(maxScoreOf(steps));
    expect(info.title).toEqual({ en: lesson.text.en.title, 'zh-CN': lesson.text['zh-CN'].title });
    expect(info.summary).toEqual({ en: lesson.text.en.summary, 'zh-CN': lesson.text['zh-CN'].summary });
    expect(info.minutes).toBeGreaterThanOrEqual(5);
    expect(info.minutes).toBeLessThanOrEqual(15);
  });
});

/** Loads the lesson's main scenario, or one of its own by name, as the app does on entering a step. */
async function loadFor(client: InThreadClient, name: string | undefined): Promise<ViewState> {
  const json = name === undefined ? scenario : (await lesson.scenarios?.[name]?.())?.default;
  const loaded = await client.load(json as Json);
  if (!loaded.ok) throw new Error(`scenario ${name ?? lesson.scenario} did not load: ${JSON.stringify(loaded.errors)}`);
  return loaded.view;
}

/** The run a student makes: each wait step reached by running to the next ring change. */
async function playScripted() {
  const client = new InThreadClient();
  let shown: string | undefined = undefined;
  let view = await loadFor(client, shown);
  const actor = createActor(machine, { input }).start();
  const views: { at: string; view: ViewState; found: TraceEvent | null }[] = [];
  for (let guard = 0; guard < 100 && phaseOf(actor.getSnapshot()) !== 'finished'; guard++) {
    const snap: LessonSnapshot = actor.getSnapshot();
    const step = steps[snap.context.step] as StepDef;
    const phase = phaseOf(snap);
    if (step.scenario !== shown) {
      shown = step.scenario;
      view = await loadFor(client, shown);
      actor.send({ type: 'lab.events', events: seenEvents(view.events) });
    }
    if (phase === 'predict' && (step.kind === 'choice' || step.kind === 'number')) actor.send({ type: 'lesson.answer', value: step.answer });
    else if (phase === 'waiting' && step.kind === 'wait') {
      const r = await client.runUntil(['ring/change'], 10_000);
      view = r.view;
      views.push({ at: step.id, view, found: r.event });
      actor.send({ type: 'lab.events', events: seenEvents(view.events) });
    } else if (phase === 'waiting' && step.kind === 'target') actor.send({ type: 'lab.target', id: step.answer });
    else actor.send({ type: 'lesson.next' });
  }
  const halt = await client.runUntil(['cpu/halt'], 10_000);
  return { actor, views, view, halt };
}

describe('lesson 01-rings: a scripted run against the emulator', () => {
  it('completes with full marks, each wait met by the ring change it names', async () => {
    const { actor, views } = await playScripted();
    const report = reportOf(actor.getSnapshot());
    expect(report).toEqual({ lessonId: '01-rings', step: steps.length - 1, reached: steps.length - 1, steps: steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
    expect(views.map((v) => [v.at, v.found?.kind === 'ring/change' ? v.found.cause : null])).toEqual([
      ['try-hlt', 'exception'],
      ['enter-user', 'iret'],
      ['int80', 'software-interrupt'],
      ['iret-back', 'iret'],
      ['syscall', 'syscall'],
      ['sysret', 'sysret'],
    ]);
  });
});

/** The facts the text may state, each read from the run. */
async function facts(): Promise<Map<string, number>> {
  const { views, halt } = await playScripted();
  const at = (id: string): ViewState => {
    const v = views.find((x) => x.at === id)?.view;
    if (v === undefined) throw new Error(`no view at ${id}`);
    return v;
  };
  const found = (id: string) => views.find((x) => x.at === id)?.found ?? null;
  const reg = (v: ViewState, r: keyof ViewState['machine']['regs']) => Number(BigInt(v.machine.regs[r]));
  const user = at('enter-user');
  const int = at('int80');
  const intEvent = found('int80');
  const sys = at('syscall');
  const ret = at('sysret');
  const back = at('iret-back');
  const gp = at('try-hlt');
  const gpEvent = gp.events.find((e) => e.kind === 'cpu/exception');
  const f = new Map<string, number>();
  const put = (name: string, value: number) => f.set(name, value);
  // Rings 0–3 (and 1 and 2, the unused ones) are the architecture's; 64 is the mode the scenario runs in.
  for (const r of [0, 1, 2, 3]) put(`ring ${r}`, r);
  expect(user.machine.mode).toBe('long64');
  put('64-bit mode', 64);
  put('user entry RIP', reg(user, 'rip'));
  put('user CS', reg(user, 'cs'));
  put('user SS', reg(user, 'ss'));
  put('user RSP', reg(user, 'rsp'));
  put('CPL after IRETQ', reg(user, 'cs') & 3);
  put('write syscall number (RAX at INT 0x80)', reg(int, 'rax'));
  put('INT vector', intEvent?.kind === 'ring/change' ? (intEvent.vector ?? -1) : -1);
  put('TSS.RSP0', KERNEL_STACK_TOP);
  put('RSP in the INT handler', reg(int, 'rsp'));
  put('bytes pushed by INT', KERNEL_STACK_TOP - reg(int, 'rsp'));
  put('bytes per pushed value', (KERNEL_STACK_TOP - reg(int, 'rsp')) / 5);
  put('kernel CS', reg(int, 'cs'));
  put('SS after INT (null)', reg(int, 'ss'));
  put('steps in the kernel for the first write', back.step - int.step);
  put('kernel SS after SYSCALL', reg(sys, 'ss'));
  put('RCX after SYSCALL', reg(sys, 'rcx'));
  put('R11 after SYSCALL', reg(sys, 'r11'));
  put('RFLAGS after SYSCALL', reg(sys, 'rflags'));
  put('RSP after SYSCALL', reg(sys, 'rsp'));
  put('RIP after SYSRET', reg(ret, 'rip'));
  put('CS after SYSRET', reg(ret, 'cs'));
  put('SS after SYSRET', reg(ret, 'ss'));
  put('RFLAGS after SYSRET', reg(ret, 'rflags'));
  put('exit syscall number (RAX at the halt)', reg(halt.view, 'rax'));
  put('#GP vector', gpEvent?.kind === 'cpu/exception' ? gpEvent.vector : -1);
  put('#GP error code', gpEvent?.kind === 'cpu/exception' ? gpEvent.errorCode : -1);
  put('RSP in the #GP handler', reg(gp, 'rsp'));
  put('bytes pushed by #GP', KERNEL_STACK_TOP - reg(gp, 'rsp'));
  return f;
}

/** Every number in a text: decimal or 0x-hex, not part of a name (R11, IA32_STAR, x86, RSP0). */
export function numbersIn(text: string): { token: string; value: number }[] {
  return [...text.matchAll(/(?<![A-Za-z0-9_.])(0x[0-9a-fA-F]+|[0-9]+)(?![A-Za-z0-9_])/g)].map((m) => {
    const token = m[1] ?? '';
    return { token, value: token.startsWith('0x') ? Number.parseInt(token.slice(2), 16) : Number(token) };
  });
}

/** The student-facing strings of a step (the instructor's notes are not lesson text). */
function studentStrings(s: StepText): string[] {
  return [s.title, s.body, s.prompt ?? '', s.why ?? '', s.act ?? '', s.done ?? '', s.miss ?? '', ...Object.values(s.choices ?? {}), ...s.hints];
}

describe('lesson 01-rings: numbers in the text', () => {
  it('states exactly the run\'s figures: each fact as the scenario produces it', async () => {
    const f = await facts();
    expect(Object.fromEntries(f)).toMatchObject({
      'user entry RIP': 0x40000000,
      'user CS': 0x2b,
      'user SS': 0x23,
      'user RSP': 0x40100000,
      'CPL after IRETQ': 3,
      'write syscall number (RAX at INT 0x80)': 1,
      'INT vector': 0x80,
      'TSS.RSP0': 0x10000,
      'RSP in the INT handler': 0xffd8,
      'bytes pushed by INT': 40,
      'bytes per pushed value': 8,
      'kernel CS': 0x08,
      'SS after INT (null)': 0,
      'steps in the kernel for the first write': 150,
      'kernel SS after SYSCALL': 0x10,
      'RCX after SYSCALL': 0x4000002c,
      'R11 after SYSCALL': 0x202,
      'RFLAGS after SYSCALL': 0x2,
      'RSP after SYSCALL': 0x40100000,
      'RIP after SYSRET': 0x4000002c,
      'CS after SYSRET': 0x2b,
      'SS after SYSRET': 0x23,
      'RFLAGS after SYSRET': 0x202,
      'exit syscall number (RAX at the halt)': 60,
      '#GP vector': 13,
      '#GP error code': 0,
      'RSP in the #GP handler': 0xffd0,
      'bytes pushed by #GP': 48,
    });
  });

  it('every number the lesson text states, in both languages, is one of the run\'s facts', async () => {
    const known = new Set((await facts()).values());
    for (const locale of ['en', 'zh-CN'] as const) {
      const t = lesson.text[locale];
      const strays: string[] = [];
      for (const [id, s] of Object.entries(t.steps)) {
        for (const str of studentStrings(s)) for (const n of numbersIn(str)) if (!known.has(n.value)) strays.push(`${locale} ${id}: ${n.token}`);
      }
      for (const n of numbersIn(t.title + ' ' + t.summary)) if (!known.has(n.value)) strays.push(`${locale} title: ${n.token}`);
      expect(strays).toEqual([]);
    }
  });

  it('finds the numbers a sentence states and skips those inside names', () => {
    expect(numbersIn('INT 0x80 (128) loads RSP0, R11, IA32_STAR, x86; 64-bit; 第 3 步').map((n) => n.value)).toEqual([0x80, 128, 64, 3]);
  });

  it('the Chinese text states the same numbers as the English, step by step', () => {
    for (const s of steps) {
      const nums = (l: 'en' | 'zh-CN') => studentStrings(lesson.text[l].steps[s.id] as StepText).flatMap((x) => numbersIn(x).map((n) => n.value)).sort((a, b) => a - b);
      expect(nums('zh-CN'), s.id).toEqual(nums('en'));
    }
  });
});

describe('lesson 01-rings: both languages complete', () => {
  const shape = (t: LessonText) => Object.entries(t.steps).map(([id, s]) => [id, Object.keys(s).sort(), Object.keys(s.choices ?? {}), s.hints.length]);

  it('has text for every step and nothing else, the same fields and choices in both languages', () => {
    for (const l of ['en', 'zh-CN'] as const) expect(Object.keys(lesson.text[l].steps).sort()).toEqual(steps.map((s) => s.id).sort());
    expect(shape(lesson.text['zh-CN'])).toEqual(shape(lesson.text.en));
  });

  it('gives each step what its kind needs', () => {
    for (const l of ['en', 'zh-CN'] as const) {
      for (const s of steps as readonly StepDef[]) {
        const t = lesson.text[l].steps[s.id] as StepText;
        expect(t.notes.trim(), `${l} ${s.id} notes`).not.toBe('');
        if (s.kind === 'choice') expect(Object.keys(t.choices ?? {}).sort()).toEqual([...s.choices].sort());
        if (s.kind === 'choice' || s.kind === 'number') expect([t.prompt, t.why].every((x) => (x ?? '').trim() !== '')).toBe(true);
        if (s.kind === 'wait' || s.kind === 'target') expect([t.act, t.done].every((x) => (x ?? '').trim() !== '')).toBe(true);
        if (s.kind === 'target') expect(t.miss).toContain('{name}');
        if (s.kind !== 'read') expect(t.hints.length).toBeGreaterThan(0);
      }
    }
  });

  it('translates every string: each Chinese string is non-empty, has Chinese in it, and differs from the English', () => {
    const zh = lesson.text['zh-CN'];
    const en = lesson.text.en;
    const pairs: [string, string, string][] = [['title', zh.title, en.title], ['summary', zh.summary, en.summary]];
    for (const s of steps) {
      const z = zh.steps[s.id] as StepText;
      const e = en.steps[s.id] as StepText;
      for (const k of ['title', 'body', 'prompt', 'why', 'act', 'done', 'miss', 'notes'] as const) if (e[k] !== undefined) pairs.push([`${s.id}.${k}`, z[k] ?? '', e[k]]);
      for (const c of Object.keys(e.choices ?? {})) pairs.push([`${s.id}.choices.${c}`, z.choices?.[c] ?? '', e.choices?.[c] ?? '']);
      e.hints.forEach((h, i) => pairs.push([`${s.id}.hints.${i}`, z.hints[i] ?? '', h]));
    }
    const bad = pairs.filter(([, z, e]) => z.trim() === '' || z === e || !/[\u4e00-\u9fff]/.test(z)).map(([k]) => k);
    expect(bad).toEqual([]);
  });
});
