/**
 * Lesson 12 against its machine and the real emulator under the lab's PV hypervisor: every state
 * reachable; a scripted run to completion with full marks on the two examples (pv-unmodified,
 * pv-kernel); what each wait step's view shows (the located failure at CLI, set_trap_table's one
 * entry, mmu_update's 1025 requests) checked against the run; every number the student-facing text
 * states found among the runs' figures and Xen's interface; both languages complete.
 */
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import { runBareKernel, runPv } from '../../src/emu/hv/pv/exec.ts';
import { HC, HYPERCALL_VECTOR } from '../../src/emu/hv/pv/abi.ts';
import { KERNEL_LOAD } from '../../src/emu/hv/pv/kernel.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import pvKernel from '../../src/emu/scenario/examples/pv-kernel.json';
import pvUnmodified from '../../src/emu/scenario/examples/pv-unmodified.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

/** The page table's mmu_update comes about 20,500 steps in. */
const WAIT_BUDGET = 21_000;
const played = playScripted({ lesson, scenario: pvKernel, scenarioId: 'pv', waitBudget: WAIT_BUDGET, others: { unmodified: pvUnmodified, pv: pvKernel } });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

const pv = runPv('paravirtualized');
const unmodified = runPv('unmodified');
const mmu = pv.hv.hypercalls.log.find((h) => h.name === 'mmu_update')!;

describe('lesson 12-paravirtualization: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '12-paravirtualization', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  }, 120_000);

  it('stopped: the unmodified kernel\u2019s CLI at 0x100000, located, before any instruction retired', async () => {
    const v = await at('stopped');
    expect(v.vm!.pv!.failure).toEqual({ mnemonic: 'cli', insn: 'cli', eip: '0x100000' });
    expect(v.step).toBe(0);
  }, 120_000);

  it('first-call: set_trap_table (number 0), one entry: vector 0x80 from ring 3, result 0', async () => {
    const v = await at('first-call');
    const h = v.vm!.pv!.hypercalls;
    expect(h.map((x) => [x.name, x.nr, x.result])).toEqual([['set_trap_table', 0, 0]]);
    expect(h[0]!.detail).toMatchObject({ kind: 'set_trap_table', entries: [{ vector: '0x80', dpl: 3 }] });
  }, 120_000);

  it('batch: mmu_update (number 1) of 1025 requests, all written, the first mapping 0x0 to 0x0, the last the directory entry; the tables read-only', async () => {
    const v = await at('batch');
    const pvv = v.vm!.pv!;
    const h = pvv.hypercalls.at(-1)!;
    expect([h.name, h.nr, h.result]).toEqual(['mmu_update', 1, 0]);
    expect(h.detail).toMatchObject({ kind: 'mmu_update', count: 1025, done: 1025, last: { table: 'l2' } });
    expect(h.detail.kind === 'mmu_update' ? h.detail.first[0] : null).toMatchObject({ va: '0x0', frame: '0x0' });
    expect(pvv.hypercalls.filter((x) => x.name === 'update_va_mapping').length).toBe(2);
    expect(pvv.tables.filter((t) => t.mapping === 'read-only').length).toBe(2);
  }, 120_000);
});

describe('lesson 12-paravirtualization: the runs', () => {
  it('the unmodified kernel stops at CLI under the hypervisor and runs bare with the ported kernel\u2019s results', () => {
    expect(unmodified.end).toBe('error');
    expect(unmodified.error).toContain(`CLI at 0x${KERNEL_LOAD.toString(16)}: not paravirtualized`);
    expect(unmodified.hv.steps).toBe(0);
    const bare = runBareKernel('unmodified');
    expect({ console: bare.console, results: bare.results }).toEqual({ console: pv.console, results: pv.results });
  });
});

function facts(): Set<number> {
  const f = new Set<number>();
  for (const r of [0, 1, 3]) f.add(r); // the rings named: the hypervisor's 0, the kernel's 1, user 3
  f.add(HYPERCALL_VECTOR); // INT 0x82
  f.add(0x80); // the system-call vector of the trap table
  f.add(KERNEL_LOAD); // where CLI is
  f.add(HC.set_trap_table);
  f.add(HC.mmu_update);
  f.add(Number(mmu.args.count)); // 1025
  f.add(Number(mmu.args.count) - 1); // the table's 1024 entries
  f.add(pv.hv.hypercalls.log.filter((h) => h.name === 'mmu_update').length); // one hypercall
  f.add(pv.hv.hypercalls.log.filter((h) => h.name === 'update_va_mapping').length); // two
  f.add(pv.hv.hypercalls.total); // 12
  f.add(4); // the 4 MiB the table maps (1024 pages of 4 KiB)
  for (const n of [3, 4, 7, 8]) f.add(n); // lessons named in the notes and summary: 3, 4, 7, 8
  return f;
}

describe('lesson 12-paravirtualization: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the runs\u2019 facts', () => {
    expect(pv.hv.hypercalls.total).toBe(12);
    expect(Number(mmu.args.count)).toBe(1025);
    expect(strayNumbers(lesson, facts())).toEqual([]);
  });

  it('each question\u2019s answer is what the runs show, and the sentences quote them', () => {
    expect(answerOf(lesson, 'predict-cli')).toBe('stops');
    expect(answerOf(lesson, 'predict-calls')).toBe(pv.hv.hypercalls.counts.mmu_update);
    expect(answerOf(lesson, 'predict-requests')).toBe(Number(mmu.args.count));
    expect(en.steps.batch.done).toContain('mmu_update (number 1): 1025 requests, 1025 validated and written');
    expect(zh.steps.batch.done).toContain('mmu_update（编号 1）：1025 个请求');
    expect(en.steps['predict-cli'].body).toContain('CLI, at 0x100000');
  });
});
