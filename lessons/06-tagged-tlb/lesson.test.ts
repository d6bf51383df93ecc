/**
 * Lesson 6 against its machine and the real emulator under the lab's hypervisor: every state
 * reachable; a scripted run from start to completion, the first steps on the tagged scenario
 * (tagged.json, VT-x with EPT and VPID) and the later ones on the same guest without VPID
 * (untagged.json); every number the student-facing text states found among the two runs' figures
 * and the reference tables' (TLB_CONTROL values, exit reasons); what each step says about hits,
 * misses, flushes and the hypervisor's INVVPID checked against the runs; both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import type { VmExitView } from '../../src/worker/vm-types.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import tagged from './tagged.json';
import untagged from './untagged.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

const { steps } = lesson;

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const reasons = refFile('vmx-exit-reasons.json') as Record<string, string>;
const tlbControl = (refFile('svm-misc.json') as Record<string, Record<string, string>>).tlb_control!;

/** The most steps a wait step may take (the guest ends at its eleventh instruction). */
const WAIT_BUDGET = 20;

const played = playScripted({ lesson, scenario: tagged, scenarioId: 'tagged', others: { untagged }, waitBudget: WAIT_BUDGET });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

/** One scenario stepped n times from its start, one step at a time: every view on the way. */
async function run(json: unknown, n: number): Promise<ViewState[]> {
  const { InThreadClient } = await import('../../src/worker/in-thread.ts');
  const c = new InThreadClient();
  const loaded = await c.load(json as never);
  if (!loaded.ok) throw new Error('did not load');
  const out = [loaded.view];
  for (let i = 0; i < n && !out[out.length - 1]!.machine.stopped; i++) out.push(await c.step(1));
  return out;
}
const taggedRun = run(tagged, WAIT_BUDGET);
const untaggedRun = run(untagged, WAIT_BUDGET);

/** The index of the view whose step made the exit of this reason. */
const exitAt = (views: ViewState[], code: number) => views.findIndex((v) => (v.vm?.exits ?? []).some((e) => e.code === code));
const exitOf = (v: ViewState): VmExitView => {
  const exits = v.vm?.exits ?? [];
  expect(exits).toHaveLength(1);
  return exits[0]!;
};

describe('lesson 06-tagged-tlb: the scenarios', () => {
  it('are the same guest, under VT-x with EPT and intercepted INVLPG, differing only in tlbTags', () => {
    expect(untagged.kernel.source).toBe(tagged.kernel.source);
    expect({ ...untagged.hypervisor, tlbTags: true }).toEqual(tagged.hypervisor);
    expect([tagged.hypervisor.tlbTags, untagged.hypervisor.tlbTags]).toEqual([true, false]);
    expect([tagged.technique, tagged.cpu.vendor, tagged.hypervisor.nestedPaging, tagged.hypervisor.exits.invlpg]).toEqual(['vtx', 'intel', true, true]);
  });
});

describe('lesson 06-tagged-tlb: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '06-tagged-tlb', step: steps.length - 1, reached: steps.length - 1, steps: steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('to-exit: 4 misses (the code page and three data pages), 4 entries of VPID 1, no flush at the CPUID exit or the entry', async () => {
    const v = await at('to-exit');
    expect(exitOf(v)).toMatchObject({ code: 10, name: 'EXIT_REASON_CPUID', entry: 'VMRESUME' });
    expect(v.machine.tlbStats).toEqual({ hits: 0, misses: 4, flushes: 0, invalidated: 0 });
    expect(v.machine.tlb).toHaveLength(4);
    expect(v.machine.tlb.map((e) => e.tag)).toEqual([1, 1, 1, 1]);
    expect(v.events.some((e) => e.kind === 'tlb/flush')).toBe(false);
  });

  it('invlpg-exit: the reads after the exit all hit; INVVPID type 0 for VPID 1 at 0x301000 removed that one entry', async () => {
    const v = await at('invlpg-exit');
    const e = exitOf(v);
    expect([e.code, e.name]).toEqual([14, 'EXIT_REASON_INVLPG']);
    expect(e.note).toContain('INVVPID type 0 for VPID 1 at 0x301000');
    expect(v.machine.tlbStats).toEqual({ hits: 4, misses: 4, flushes: 1, invalidated: 1 });
    const flushes = v.events.filter((x) => x.kind === 'tlb/flush');
    expect(flushes.map((x) => (x.kind === 'tlb/flush' ? [x.cause, x.scope, x.tag, x.linear] : null))).toEqual([['invvpid', 'page', 1, 0x301000n]]);
    expect(v.machine.tlb).toHaveLength(3);
    // The data pages' entries before, that page's gone after (the code page's and the other two stay).
    const pages = (w: ViewState) => w.machine.tlb.map((x) => x.pageHi * 2 ** 20 + x.pageLo).sort((a, b) => a - b);
    expect(pages(await at('to-exit'))).toEqual([0x100, 0x300, 0x301, 0x302]);
    expect(pages(v)).toEqual([0x100, 0x300, 0x302]);
  });

  it('untagged-run: every entry and exit flushed (5 by the INVLPG exit), which found nothing left to invalidate', async () => {
    const v = await at('untagged-run');
    const e = exitOf(v);
    expect([e.code, e.name]).toEqual([14, 'EXIT_REASON_INVLPG']);
    expect(e.note).toMatch(/nothing cached: the VM exit invalidated/);
    expect(v.machine.tlbStats.flushes).toBe(5);
    const { events } = await played;
    const causes = events.filter((x) => x.kind === 'tlb/flush').map((x) => (x.kind === 'tlb/flush' ? x.cause : ''));
    // Tagged: the one INVVPID; untagged: at VMLAUNCH, then at the CPUID exit and entry and the INVLPG exit and entry.
    expect(causes).toEqual(['invvpid', 'vm-entry', 'vm-exit', 'vm-entry', 'vm-exit', 'vm-entry']);
  });
});

/** The facts the text may state: the two runs' figures and the reference tables'. */
async function facts(): Promise<Map<string, number>> {
  const f = new Map<string, number>();
  const put = (name: string, value: number) => f.set(name, value);
  const t = await taggedRun;
  const u = await untaggedRun;
  const tc = exitAt(t, 10);
  const uc = exitAt(u, 10);
  const tInv = exitAt(t, 14);
  const uInv = exitAt(u, 14);
  // The exits' reasons, as the reference names them.
  expect(reasons['10']).toBe('CPUID');
  expect(reasons['14']).toBe('INVLPG');
  put('CPUID reason', exitOf(t[tc]!).code);
  put('INVLPG reason', exitOf(t[tInv]!).code);
  // The three data pages, from the guest's source.
  const data = Number(/DATA equ (0x[0-9a-f]+)/.exec(tagged.kernel.source)![1]);
  for (const k of [0, 1, 2]) put(`data page ${k}`, data + k * 0x1000);
  // Tagged: misses before the exit, entries held, their VPID; misses and hits of the three instructions after it.
  put('tagged misses at the exit', t[tc]!.machine.tlbStats.misses);
  put('tagged entries at the exit', t[tc]!.machine.tlb.length);
  put('guest VPID', t[tc]!.machine.tlb[0]!.tag);
  put('tagged misses after the exit', t[tc + 3]!.machine.tlbStats.misses - t[tc]!.machine.tlbStats.misses);
  put('tagged hits before INVLPG', t[tInv]!.machine.tlbStats.hits);
  put('invalidated by INVVPID', t[tInv]!.machine.tlbStats.invalidated);
  const note = exitOf(t[tInv]!).note ?? '';
  put('INVVPID type', Number(/INVVPID type (\d+)/.exec(note)![1]));
  put('host tag', 0);
  // Untagged: what the CPUID exit invalidated, the misses after it, the flushes by the INVLPG exit.
  put('untagged invalidated at the exit', u[uc]!.machine.tlbStats.invalidated);
  put('untagged misses after the exit', u[uc + 3]!.machine.tlbStats.misses - u[uc]!.machine.tlbStats.misses);
  put('untagged flushes by INVLPG', u[uInv]!.machine.tlbStats.flushes);
  // TLB_CONTROL's values (APM 15.16.1), as the reference names them.
  for (const [n, name] of [[0, 'TLB_CONTROL_DO_NOTHING'], [1, 'TLB_CONTROL_FLUSH_ALL_ASID'], [3, 'TLB_CONTROL_FLUSH_ASID']] as const) {
    expect(tlbControl[String(n)]).toBe(name);
    put(name, n);
  }
  expect(tlbControl['7']).toMatch(/^TLB_CONTROL_FLUSH_ASID_LOCAL \(non-global/);
  put('TLB_CONTROL_FLUSH_ASID_LOCAL', 7);
  return f;
}

describe('lesson 06-tagged-tlb: numbers in the text', () => {
  it('the runs give the figures the text states', async () => {
    expect(Object.fromEntries(await facts())).toEqual({
      'CPUID reason': 10,
      'INVLPG reason': 14,
      'data page 0': 0x300000,
      'data page 1': 0x301000,
      'data page 2': 0x302000,
      'tagged misses at the exit': 4,
      'tagged entries at the exit': 4,
      'guest VPID': 1,
      'tagged misses after the exit': 0,
      'tagged hits before INVLPG': 4,
      'invalidated by INVVPID': 1,
      'INVVPID type': 0,
      'host tag': 0,
      'untagged invalidated at the exit': 4,
      'untagged misses after the exit': 4,
      'untagged flushes by INVLPG': 5,
      TLB_CONTROL_DO_NOTHING: 0,
      TLB_CONTROL_FLUSH_ALL_ASID: 1,
      TLB_CONTROL_FLUSH_ASID: 3,
      TLB_CONTROL_FLUSH_ASID_LOCAL: 7,
    });
  });

  it('every number the lesson text states, in both languages, is one of those facts', async () => {
    expect(strayNumbers(lesson, new Set((await facts()).values()))).toEqual([]);
  });

  it('the scripted run and the separate runs agree', async () => {
    const t = await taggedRun;
    const u = await untaggedRun;
    expect((await at('to-exit')).machine.tlbStats).toEqual(t[exitAt(t, 10)]!.machine.tlbStats);
    expect((await at('invlpg-exit')).machine.tlbStats).toEqual(t[exitAt(t, 14)]!.machine.tlbStats);
    expect((await at('untagged-run')).machine.tlbStats).toEqual(u[exitAt(u, 14)]!.machine.tlbStats);
  });
});

describe('lesson 06-tagged-tlb: answers and sentences against the runs', () => {
  it('each question\'s answer is what the runs and the reference show', async () => {
    const f = await facts();
    expect(answerOf(lesson, 'predict-flush')).toBe('flush');
    expect(answerOf(lesson, 'predict-tagged')).toBe(f.get('tagged misses after the exit'));
    expect(answerOf(lesson, 'predict-invlpg')).toBe('invvpid');
    expect(answerOf(lesson, 'predict-untagged')).toBe(f.get('untagged misses after the exit'));
    expect(answerOf(lesson, 'predict-amd')).toBe(f.get('TLB_CONTROL_FLUSH_ALL_ASID'));
  });

  it('the sentences that quote the runs say what they show', () => {
    expect(en.steps['to-exit'].done).toContain('missed 4 times (its code page and the three data pages), and the TLB holds 4 entries, all tagged with VPID 1');
    expect(en.steps['invlpg-exit'].done).toContain('INVVPID type 0 for VPID 1 at 0x301000');
    expect(zh.steps['invlpg-exit'].done).toContain('对 VPID 1 的 0x301000 执行了 INVVPID 类型 0');
    expect(en.steps['untagged-run'].done).toContain('5 flushes by now');
    expect(en.steps.summary.body).toContain('4 misses after one CPUID here, instead of 0');
  });
});
