/**
 * Lesson 1 against its machine and the real emulator: every state reachable (xstate/graph), a
 * scripted run from start to completion on the syscalls scenario, every number the student-facing
 * text states found among the facts the run produces, and both languages complete.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import type { TraceEvent } from '../../src/emu/trace/events.ts';
import { KERNEL_STACK_TOP } from '../../src/emu/scenario/layout.ts';
import type { LessonSnapshot, StepDef } from '../../src/lessons/kit.ts';
import { phaseOf } from '../../src/lessons/kit.ts';
import { reportOf, seenEvents } from '../../src/lessons/report.ts';
import { answerOf, describeLanguages, describeMachine, numbersIn, strayNumbers } from '../checks.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import scenario from '../../src/emu/scenario/examples/syscalls.json';
import lesson from './index.ts';
import { info } from './meta.ts';

const { machine, steps } = lesson;
const input = { lessonId: lesson.id, steps };

describeMachine(lesson, info);
describeLanguages(lesson);

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
    expect(strayNumbers(lesson, new Set((await facts()).values()))).toEqual([]);
  });

  it('finds the numbers a sentence states and skips those inside names', () => {
    expect(numbersIn('INT 0x80 (128) loads RSP0, R11, IA32_STAR, x86; 64-bit; 第 3 步').map((n) => n.value)).toEqual([0x80, 128, 64, 3]);
  });
});

describe('lesson 01-rings: answers against the run', () => {
  const answer = (id: string) => answerOf(lesson, id);

  it('each question\'s answer is what the run shows', async () => {
    const f = await facts();
    // rings: HLT at CPL 3 raised #GP (vector 13).
    expect(answer('rings')).toBe('gp');
    expect(f.get('#GP vector')).toBe(13);
    expect(answer('predict-vector')).toBe(f.get('INT vector'));
    // predict-stack: the handler's RSP is 40 bytes below TSS.RSP0, not near the user's RSP.
    expect(answer('predict-stack')).toBe('tss');
    expect(f.get('RSP in the INT handler')).toBe((f.get('TSS.RSP0') ?? 0) - 40);
    // predict-ring: SYSCALL entered ring 0; find-rcx: RCX holds the return address SYSRET used.
    const { views } = await playScripted();
    const sys = views.find((v) => v.at === 'syscall')?.found;
    expect(answer('predict-ring')).toBe(sys?.kind === 'ring/change' ? `r${sys.to}` : null);
    expect(answer('find-rcx')).toBe('reg-rcx');
    expect(f.get('RCX after SYSCALL')).toBe(f.get('RIP after SYSRET'));
  });
});
