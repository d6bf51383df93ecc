/**
 * Lesson 11 against its machine and the real emulator under binary translation: every state
 * reachable; a scripted run to completion with full marks on the lesson's three examples (bt-popf,
 * bt-smc, bt-adaptive); what each wait step's view shows (the POPFD callout and its block, a code
 * write with blocks dropped, the page-table-write callout) checked against the run; each question's
 * answer against the runs' figures and the technique comparison; every number the student-facing
 * text states found among them; both languages complete.
 */
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import { buildScenario, loadScenario, machineResult } from '../../src/emu/scenario/index.ts';
import { compareTechniques } from '../../src/emu/hv/technique-compare.ts';
import { TC_SIZE, ADAPT_AFTER, CALLOUT_LINEAR } from '../../src/emu/hv/bt/backend.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import popf from '../../src/emu/scenario/examples/bt-popf.json';
import smc from '../../src/emu/scenario/examples/bt-smc.json';
import adaptive from '../../src/emu/scenario/examples/bt-adaptive.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const played = playScripted({ lesson, scenario: popf, scenarioId: 'popf', waitBudget: 200, others: { smc, adaptive } });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

function run(json: unknown, bare = false) {
  const j = JSON.parse(JSON.stringify(json)) as Record<string, unknown>;
  if (bare) delete j.technique;
  const r = loadScenario(j);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded);
  const end = m.run(r.loaded.maxSteps);
  expect(end).toBe('hlt');
  return { res: machineResult('x', m, end), uart: m.devices.uartOut };
}
const runs = { popf: run(popf), smc: run(smc), adaptive: run(adaptive) };
const cost = compareTechniques(8, 'vtx-prescott', ['ptemod'], ['bt', 'vtx-shadow']);
const cyclesOf = (t: 'bt' | 'vtx-shadow'): number => cost.find((r) => r.technique === t)!.cycles;

describe('lesson 11-binary-translation: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '11-binary-translation', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('popf: the step of the POPFD callout shows its block, 3 copied and the POPFD a sensitive callout to a site, and IF = 1', async () => {
    const v = await at('popf');
    const bt = v.vm!.bt!;
    expect(bt.step.callouts.map((c) => [c.insn, c.reason])).toEqual([['popfd', 'sensitive']]);
    expect(v.vm!.te!.interruptsOn).toBe(true);
    const code = bt.block!.code;
    expect(code.map((i) => i.text.split(' ')[0])).toEqual(['pop', 'or', 'push', 'popfd']);
    expect(code.filter((i) => i.how === 'copied').length).toBe(answerOf(lesson, 'predict-copied'));
    expect(code.filter((i) => i.how === 'copied').every((i) => i.tcBytes === i.bytes)).toBe(true);
    const last = code.at(-1)!;
    expect([last.how, last.reason]).toEqual(['callout', 'sensitive']);
    expect(Number(last.tcText[0]!.split(' ')[1])).toBeGreaterThanOrEqual(CALLOUT_LINEAR);
  });

  it('smc: the step of the first code write drops blocks; later the loop is translated again with the new immediate', async () => {
    const v = await at('smc');
    expect(v.vm!.bt!.step.codeWrites).toBe(1);
    expect(v.vm!.bt!.step.invalidated).toBeGreaterThan(0);
    expect(v.vm!.bt!.blocks.some((b) => !b.valid)).toBe(true);
  });

  it('adaptive: the store is a page-table-write callout by then, after the rewrite', async () => {
    const v = await at('adaptive');
    expect(v.vm!.bt!.step.callouts.map((c) => c.reason)).toEqual(['page-table-write']);
    expect(v.vm!.bt!.stats.adaptive).toBe(1);
  });
});

describe('lesson 11-binary-translation: the runs', () => {
  it('bt-popf prints P1 as bare; popf-trap\u2019s kernel unchanged', () => {
    expect(runs.popf.uart).toBe('S1\nP1\n');
    expect(run(popf, true).res.regs).toEqual(runs.popf.res.regs);
  });

  it('bt-smc adds 3, 2 and 1 and prints 6; bt-adaptive\u2019s 10 writes, 7 by callout', () => {
    expect(runs.smc.uart).toBe('6\n');
    expect(runs.smc.res.regs.rbx).toBe(3 + 2 + 1);
    expect(runs.adaptive.res.hv!.bt!.callouts['page-table-write']).toBe(7);
    expect(ADAPT_AFTER).toBe(2);
  });

  it('on Prescott a page-table edit costs 1999 cycles under BT and 14903 under VT-x with shadow paging', () => {
    expect(cyclesOf('bt')).toBe(1999);
    expect(cyclesOf('vtx-shadow')).toBe(14903);
    expect(cyclesOf('bt')).toBeLessThan(cyclesOf('vtx-shadow'));
    expect(answerOf(lesson, 'predict-cost')).toBe('callout');
  });
});

function facts(): Set<number> {
  const adaptiveLoop = adaptive.kernel.source.match(/mov ecx, (\d+)/)![1]!;
  return new Set([
    0, 1, // IF, rings
    TC_SIZE / 1024, // 256 KiB
    4, 3, // the POPFD block's instructions, copied
    32, // the MOV's immediate width
    2, 6, // the adds and the sum; ADAPT_AFTER
    CALLOUT_LINEAR,
    cyclesOf('bt'), cyclesOf('vtx-shadow'),
    Number(adaptiveLoop), runs.adaptive.res.hv!.bt!.callouts['page-table-write']!,
  ]);
}

describe('lesson 11-binary-translation: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the runs\u2019 facts', () => {
    expect(strayNumbers(lesson, facts())).toEqual([]);
  });

  it('the sentences quote the figures', () => {
    expect(en.steps['predict-cost'].why).toContain('1999 cycles an edit under binary translation against 14903');
    expect(zh.steps['predict-cost'].why).toContain('1999');
    expect(en.steps.adaptive.done).toContain('of the loop\'s 10 writes, 7 reach the monitor this way');
  });
});
