/**
 * Lesson 13 against its machine and the real emulator: every state reachable; a scripted run to
 * completion with full marks on tell.json (VT-x) and the red-pill example (trap-and-emulate); what
 * each wait step's view shows (the guest in ring 0 of non-root operation, the CPUID exit, the
 * hypervisor bit and name) checked against the run; the chart question checked against
 * compareTechniques under the first VT-x's preset; the forkwait figures against teaching-facts.md
 * (sources.ts); every number the student-facing text states found among those; both languages
 * complete.
 */
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import { fact } from '../../src/lessons/sources.ts';
import { compareTechniques, type Workload } from '../../src/emu/hv/technique-compare.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import { answerOf, describeLanguages, describeMachine, numbersIn, playScripted, strayNumbers } from '../checks.ts';
import redPill from '../../src/emu/scenario/examples/red-pill.json';
import tell from './tell.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const played = playScripted({ lesson, scenario: tell, scenarioId: 'tell', waitBudget: 200, others: { redpill: redPill } });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

const reg = (v: ViewState, name: keyof ViewState['machine']['regs']): number => Number(v.machine.regs[name]);
const prescott = compareTechniques(16, 'vtx-prescott');
const cycles = (w: Workload, t: 'bt' | 'vtx-shadow'): number => prescott.find((r) => r.workload === w && r.technique === t)!.cycles;

async function tellEnd(): Promise<ViewState> {
  const c = new InThreadClient();
  const loaded = await c.load(tell as unknown as Json);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  let v = loaded.view;
  for (let i = 0; i < 400 && (v.end === 'loaded' || v.end === 'limit'); i++) v = await c.step(1);
  return v;
}
const end = tellEnd();

describe('lesson 13-vtx-myths: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '13-vtx-myths', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('launched: the guest kernel runs in ring 0 of VMX non-root operation, CS 0x8', async () => {
    const v = await at('launched');
    expect(v.vm!.world).toBe('guest');
    expect(v.machine.cpl).toBe(0);
    expect(reg(v, 'cs')).toBe(0x8);
  });

  it('cpuid-exit: exit reason 10 (CPUID) for leaf 1', async () => {
    const v = await at('cpuid-exit');
    expect(v.vm!.lastExit).toMatchObject({ code: 10, name: 'EXIT_REASON_CPUID' });
    expect(v.vm!.exits).toHaveLength(1);
    // The guest resumed after CPUID with the hypervisor's answer: ECX bit 31 set.
    expect((reg(v, 'rcx') >>> 31) & 1).toBe(1);
  });

  it('named: leaf 1\u2019s ECX has bit 31 set, the console shows the hypervisor\u2019s name, CS stayed ring 0', async () => {
    const v = await at('named');
    const edi = reg(v, 'rdi');
    expect(edi).toBe(0x80020000);
    expect((edi >>> 31) & 1).toBe(1);
    expect(v.vm!.vms[0]!.console).toBe('RingMinus1');
    expect(reg(v, 'rbp')).toBe(0x8);
    expect(reg(v, 'rbp') & 3).toBe(0);
    const last = await end;
    expect(reg(last, 'rdi')).toBe(edi);
  });
});

describe('lesson 13-vtx-myths: the chart question', () => {
  it('under the first VT-x, VT-x with shadow page tables beats binary translation on the system call only', () => {
    const wins = (['syscall', 'in', 'pgfault', 'ptemod'] as const).filter((w) => cycles(w, 'vtx-shadow') < cycles(w, 'bt'));
    expect(wins).toEqual([answerOf(lesson, 'predict-faster')]);
    // The system call exits not at all under VT-x; binary translation calls out for INT and IRET.
    expect(prescott.find((r) => r.workload === 'syscall' && r.technique === 'vtx-shadow')!.exits).toBe(0);
    expect(prescott.find((r) => r.workload === 'syscall' && r.technique === 'bt')!.byKind).toEqual({ 'int 0x80': 1, iretd: 1 });
  });
});

function facts(): Set<number> {
  const f = new Set<number>([0, 1, 3]); // rings 0 to 3, ring −1, leaf 1, EAX = 1
  f.add(64); // the guest is a 64-bit kernel (tell.json mode long64)
  expect(tell.mode).toBe('long64');
  f.add(4); // Pentium 4, the vtx-prescott preset's processor
  f.add(8); // CS = 0x8
  f.add(10); // EXIT_REASON_CPUID, and lesson 10
  f.add(31); // CPUID.1:ECX[31] (teaching-facts.md misconception 9)
  f.add(0x40000000);
  f.add(0x80020000);
  f.add(1974); // Popek and Goldberg (misconception 7)
  f.add(2006); // Adams and Agesen, ASPLOS 2006
  const fw = fact('forkwait');
  for (const n of [...numbersIn(fw.figure), ...numbersIn(fw.value)]) f.add(n.value);
  return f;
}

describe('lesson 13-vtx-myths: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the runs\u2019 or teaching-facts.md\u2019s', () => {
    expect(strayNumbers(lesson, facts())).toEqual([]);
  });

  it('quotes the forkwait figures as teaching-facts.md gives them, with their grade', () => {
    const fw = fact('forkwait');
    expect(fw.value).toBe('native 6.0 s, BT 36.9 s, first-gen VT-x 106.4 s');
    expect(fw.grade).toBe('partly');
    expect(en.steps.measured.body).toContain('the native run took 6.0 s, binary translation 36.9 s and first-generation VT-x 106.4 s');
    expect(en.steps.measured.body).toContain('graded "partly"');
    expect(zh.steps.measured.body).toContain('本机运行用时 6.0 秒，二进制翻译 36.9 秒，第一代 VT-x 106.4 秒');
    expect(lesson.steps.find((s) => s.id === 'measured')).toMatchObject({ cite: ['forkwait', 'nanobench-syscall'] });
  });

  it('each question\u2019s answer is what the runs show', () => {
    expect(answerOf(lesson, 'predict-cpl')).toBe('zero');
    expect(answerOf(lesson, 'predict-bit')).toBe('set');
    expect(answerOf(lesson, 'popek-goldberg')).toBe('sufficient');
  });
});
