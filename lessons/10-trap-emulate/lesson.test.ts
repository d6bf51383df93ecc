/**
 * Lesson 10 against its machine and the real emulator under the lab's trap-and-emulate monitor:
 * every state reachable; a scripted run to completion with full marks on the popf-trap and
 * red-pill examples; what each wait step's view shows (the STI's trap, the IF the POPF could not
 * set, the monitor's registers the red pill reads) checked against the runs and, for POPF, against
 * the same kernel on the bare machine; every number the student-facing text states found among the
 * runs' figures or teaching-facts.md's; both languages complete.
 */
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { TraceEvent } from '../../src/emu/trace/events.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import popf from '../../src/emu/scenario/examples/popf-trap.json';
import redPill from '../../src/emu/scenario/examples/red-pill.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const played = playScripted({ lesson, scenario: popf, scenarioId: 'popf', waitBudget: 200, others: { redpill: redPill } });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

interface Run {
  last: ViewState;
  views: ViewState[];
  events: TraceEvent[];
}

/** A scenario stepped one step at a time to its end (at most 400 steps), every view and event kept. */
async function runToEnd(json: unknown): Promise<Run> {
  const c = new InThreadClient();
  const loaded = await c.load(json as Json);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  let last = loaded.view;
  const views: ViewState[] = [last];
  const events: TraceEvent[] = [];
  for (let i = 0; i < 400 && (last.end === 'loaded' || last.end === 'limit'); i++) {
    last = await c.step(1);
    views.push(last);
    events.push(...last.events);
  }
  return { last, views, events };
}

const trapLabels = (r: Run): string[] => r.events.flatMap((e) => (e.kind === 'vm/exit' && e.trap === true && e.code === 13 ? [e.label ?? '?'] : []));
const reg = (v: ViewState, name: keyof ViewState['machine']['regs']): number => Number(v.machine.regs[name]);

const { technique: _t, ...bareJson } = popf;
const runs = Promise.all([runToEnd(popf), runToEnd(redPill), runToEnd(bareJson)]).then(([p, r, b]) => ({ popf: p, red: r, bare: b }));

describe('lesson 10-trap-emulate: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '10-trap-emulate', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('sti-trap: the first #GP is the STI, from ring 1, emulated; the guest\u2019s IF is 1', async () => {
    const v = await at('sti-trap');
    const te = v.vm!.te!;
    const gp = te.recent.filter((x) => x.code === 13);
    expect(gp.at(-1)).toMatchObject({ name: '#GP', action: 'emulated', trap: { label: 'sti', from: 1 } });
    expect(te.interruptsOn).toBe(true);
    expect(te.cpl).toBe(1);
  });

  it('popf-lost: the guest printed S1 then P0; no POPF among the traps', async () => {
    const v = await at('popf-lost');
    expect(v.vm!.vms[0]!.console).toBe('S1\nP0\n');
  });

  it('pill-taken: the registers hold the monitor\u2019s values; the console says so', async () => {
    const v = await at('pill-taken');
    expect(v.vm!.vms[0]!.console).toBe('inside a monitor\n');
    expect(reg(v, 'rdi')).toBe(answerOf(lesson, 'predict-sidt'));
  });
});

describe('lesson 10-trap-emulate: the runs', () => {
  it('POPF: traps for STI, CLI, the six OUTs and HLT, none for POPF; the step after it narrates IF asked 1, kept 0; bare prints P1', async () => {
    const { popf: p, bare } = await runs;
    expect(trapLabels(p)).toEqual(['sti', 'out', 'out', 'out', 'cli', 'out', 'out', 'out', 'hlt']);
    const ignored = p.views.map((v) => v.vm?.te?.popfIgnored).filter((x) => x != null);
    expect(ignored).toEqual([{ asked: true, kept: false, insn: 'popfd', cpl: 1 }]);
    expect(bare.last.machine.uart).toBe('S1\nP1\n');
    expect(bare.last.vm).toBeNull();
  });

  it('red pill: SIDT, SGDT, SMSW, STR and MOV from CS read the monitor\u2019s values without a trap; only the OUTs and HLT trap', async () => {
    const { red } = await runs;
    const v = red.last;
    expect(reg(v, 'rdi')).toBe(0xffc10000);
    expect(reg(v, 'rsi')).toBe(0xffc00000);
    expect(reg(v, 'rdi') - reg(v, 'rsi')).toBe(0x10000);
    expect(reg(v, 'rbx')).toBe(0x80010031);
    expect(reg(v, 'rcx')).toBe(0xfff8);
    expect(reg(v, 'rbp')).toBe(0x9);
    expect(reg(v, 'rbp') & 3).toBe(1);
    expect(new Set(trapLabels(red))).toEqual(new Set(['out', 'hlt']));
    expect(trapLabels(red).filter((l) => l === 'out')).toHaveLength('inside a monitor\n'.length);
    expect(redPill.kernel.source).toContain('cmp edi, 0xd0000000');
  });
});

async function facts(): Promise<Set<number>> {
  const { red } = await runs;
  const v = red.last;
  const f = new Set<number>([0, 1, 2, 3]); // rings
  f.add(9); // EFLAGS.IF is bit 9; EBP = 0x9 below
  f.add(13); // #GP
  f.add(1974); // Popek and Goldberg (teaching-facts.md, misconception 7)
  f.add(2000); // Robin and Irvine, USENIX Security 2000 (teaching-facts.md)
  f.add(17); // the paper's count (teaching-facts.md, graded partly: cited)
  f.add(18); // the mnemonics of the list as reproduced
  for (const r of ['rdi', 'rsi', 'rbx', 'rcx', 'rbp'] as const) f.add(reg(v, r));
  f.add(reg(v, 'rdi') - reg(v, 'rsi'));
  f.add(0xd0000000);
  return f;
}

describe('lesson 10-trap-emulate: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the runs\u2019 facts', async () => {
    expect(strayNumbers(lesson, await facts())).toEqual([]);
  });

  it('each question\u2019s answer is what the runs show, and the sentences quote them', async () => {
    expect(answerOf(lesson, 'predict-sti')).toBe('traps');
    expect(answerOf(lesson, 'predict-popf')).toBe('zero');
    expect(answerOf(lesson, 'predict-sidt')).toBe(reg((await runs).red.last, 'rdi'));
    expect(en.steps['robin-irvine'].body).toContain('about 17');
    expect(zh.steps['robin-irvine'].body).toContain('约 17 条');
    for (const m of ['SGDT', 'SIDT', 'SLDT', 'SMSW', 'PUSHF', 'POPF', 'LAR', 'LSL', 'VERR', 'VERW', 'POP', 'PUSH', 'CALL', 'JMP', 'INT n', 'RET', 'STR', 'MOV']) {
      expect(en.steps['robin-irvine'].body).toContain(m);
      expect(zh.steps['robin-irvine'].body).toContain(m);
    }
    expect(en.steps['pill-taken'].done).toContain('EDI = 0xFFC10000 (SIDT), ESI = 0xFFC00000 (SGDT), EBX = 0x80010031');
  });
});
