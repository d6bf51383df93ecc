/**
 * Lesson 7 against its machine and the real emulator under the lab's hypervisor (VT-x, shadow
 * paging): every state reachable; a scripted run to completion with full marks on the lesson's
 * scenario (shadow.json, lesson 5's guest with nested paging off); what each wait step's view shows
 * (the hidden fault, the CR3 read, the emulated page-table write and INVLPG, the true fault and its
 * delivery) checked against the run; every number the student-facing text states found among the
 * run's figures, lesson 5's run of the same guest under EPT and the reference tables'; both
 * languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import type { ShadowRecordView } from '../../src/worker/shadow-types.ts';
import type { VmExitView } from '../../src/worker/vm-types.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import scenario from './shadow.json';
import nestedScenario from '../05-nested-walk/nested-walk.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const reasons = refFile('vmx-exit-reasons.json') as Record<string, string>;
const crQual = (refFile('vmx-exit-qualifications.json') as Record<string, Record<string, string>>).cr_access!;

/** The most steps a wait step may take (from the CR3 read to INVLPG is 11). */
const WAIT_BUDGET = 20;

const played = playScripted({ lesson, scenario, scenarioId: 'shadow', waitBudget: WAIT_BUDGET });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

/** A scenario run to its end one step at a time: every view on the way (index = step). */
async function run(json: unknown): Promise<ViewState[]> {
  const c = new InThreadClient();
  const loaded = await c.load(json as Json);
  if (!loaded.ok) throw new Error('did not load');
  const out = [loaded.view];
  for (let i = 0; i < 1000 && !out[out.length - 1]!.machine.stopped; i++) out.push(await c.step(1));
  return out;
}
const shadowRun = run(scenario);
const nestedRun = run(nestedScenario);

const exitsOf = (v: ViewState): VmExitView[] => v.vm?.exits ?? [];
const info1 = (e: VmExitView, field: string): number => Number(e.info.find((i) => i.field === field)!.value);
/** The shadow records of the step that led to view v (none when that step made no shadow work). */
const recordsOf = (v: ViewState): ShadowRecordView[] => (v.shadow?.fresh === true ? v.shadow.records : []);
const hex = (s: string): number => Number(s);
/** Exits by name over a whole run. */
function exitCounts(views: ViewState[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const v of views) for (const e of exitsOf(v)) n[e.name] = (n[e.name] ?? 0) + 1;
  return n;
}
/** The index of the first view whose step made an exit of this reason. */
const exitAt = (views: ViewState[], code: number) => views.findIndex((v) => exitsOf(v).some((e) => e.code === code));

describe('lesson 07-shadow-paging: the scenario', () => {
  it('is lesson 5\'s guest, byte for byte, under VT-x with nested paging off', () => {
    expect(scenario.kernel.source).toBe(nestedScenario.kernel.source);
    expect(scenario.mappings).toEqual(nestedScenario.mappings);
    expect([scenario.technique, scenario.cpu.vendor, scenario.hypervisor.nestedPaging, scenario.mode, scenario.paging]).toEqual(['vtx', 'intel', false, 'long64', '4level']);
    expect([nestedScenario.technique, 'hypervisor' in nestedScenario]).toEqual(['vtx', false]);
  });
});

describe('lesson 07-shadow-paging: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '07-shadow-paging', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('first-fault: the first step exits with a hidden #PF on the code page, fills the shadow and write-protects the 3 table pages it read', async () => {
    const v = await at('first-fault');
    expect(v.step).toBe(1);
    const [e, ...more] = exitsOf(v);
    expect(more).toEqual([]);
    expect([e!.code, e!.name, e!.action]).toEqual([0, 'EXIT_REASON_EXCEPTION_NMI', 'host']);
    expect(info1(e!, 'VM_EXIT_INTR_INFO') & 0xff).toBe(14);
    const ops = recordsOf(v).map((r) => r.op);
    expect(ops).toEqual(['write-protect', 'write-protect', 'write-protect', 'fill', 'hidden-fault']);
    expect(v.shadow!.focus).toMatchObject({ op: 'fill', agrees: true, guestOutcome: { kind: 'ok' } });
    expect(v.shadow!.focus!.guest.map((g) => [g.level, g.leaf])).toEqual([['PML4E', false], ['PDPTE', false], ['PDE', true]]);
  });

  it('cr3-read: the CR access exit hands the guest its own CR3, and the lab stopped right there', async () => {
    const v = await at('cr3-read');
    const [e] = exitsOf(v);
    expect([e!.code, e!.name, e!.action, e!.note]).toEqual([28, 'EXIT_REASON_CR_ACCESS', 'emulated', 'mov from CR3 = 0x10000']);
    expect(v.machine.regs.rax).toMatch(/^0x0*10000$/);
  });

  it('pt-write: the write to DEV\'s PTE was emulated (one entry changed), and INVLPG found no shadow entry for DEV', async () => {
    const v = await at('pt-write');
    const [e] = exitsOf(v);
    expect([e!.code, e!.name, e!.note]).toEqual([14, 'EXIT_REASON_INVLPG', 'invlpg 0x80003000: no shadow entry for that page']);
    // The view shows the last shadow work before the INVLPG: the emulated write two steps back.
    expect(v.shadow!.fresh).toBe(false);
    expect(v.shadow!.focus).toMatchObject({ op: 'emulated-write', changed: ['0x0000000000016018'] });
    const s = await shadowRun;
    const w = s[v.shadow!.step + 1]!; // the exits of a step happen at the step count before it retires
    expect(exitsOf(w).map((x) => [x.code, x.note.startsWith('emulated write to page table 0x16000: 1 entry changed'), x.cycles > 0])).toEqual([[0, true, true]]);
  });

  it('true-fault: 4 exits in the step, the true fault injected first, then the hidden faults of its delivery', async () => {
    const v = await at('true-fault');
    const ex = exitsOf(v);
    expect(ex.map((e) => [e.code, e.action])).toEqual([[0, 'reflected'], [0, 'host'], [0, 'host'], [0, 'host']]);
    expect(ex.slice(1).every((e) => ((info1(e, 'IDT_VECTORING_INFO_FIELD') & 0x800000ff) >>> 0) === 0x8000000e)).toBe(true);
    expect(recordsOf(v).filter((r) => r.op !== 'fill').map((r) => r.op)).toEqual(['true-fault', 'hidden-fault', 'hidden-fault', 'hidden-fault']);
    expect(v.machine.uart).toBe('');
  });

  it('the scripted run and the separate run agree at each wait step', async () => {
    const s = await shadowRun;
    for (const id of ['first-fault', 'cr3-read', 'pt-write', 'true-fault']) {
      const v = await at(id);
      expect(v.machine.tlbStats, id).toEqual(s[v.step]!.machine.tlbStats);
      expect(v.shadow?.stats, id).toEqual(s[v.step]!.shadow?.stats);
    }
  });
});

/** The facts the text may state: the run's figures, lesson 5's run's and the reference tables'. */
async function facts(): Promise<Map<string, number>> {
  const f = new Map<string, number>();
  const put = (name: string, value: number) => f.set(name, value);
  const s = await shadowRun;
  const n = await nestedRun;
  put('lesson 5', 5);
  // The exit reasons, as the reference names them.
  for (const [code, name] of [[0, 'EXCEPTION_NMI'], [14, 'INVLPG'], [28, 'CR_ACCESS']] as const) {
    expect(reasons[String(code)]).toBe(name);
    put(`reason ${name}`, code);
  }
  // The first exit (step 1): the code page's hidden fault.
  const first = exitsOf(s[1]!)[0]!;
  put('#PF vector (exception bitmap bit)', info1(first, 'VM_EXIT_INTR_INFO') & 0xff);
  put('first fault address', info1(first, 'EXIT_QUALIFICATION'));
  put('first fault error code', info1(first, 'VM_EXIT_INTR_ERROR_CODE'));
  put('first fault GPA', hex((s[1]!.shadow!.focus!.guestOutcome as { gpa: string }).gpa));
  put('write-protected at step 1', recordsOf(s[1]!).filter((r) => r.op === 'write-protect').length);
  // Steps 2 and 3: PAGE_A's write and read.
  put('exits of the write and the read', exitsOf(s[2]!).length + exitsOf(s[3]!).length);
  const touch = exitsOf(s[2]!)[0]!;
  put('PAGE_A', info1(touch, 'EXIT_QUALIFICATION'));
  expect(Number(/PAGE_A\s+equ (0x[0-9a-f]+)/.exec(scenario.kernel.source)![1])).toBe(f.get('PAGE_A'));
  put('write fault error code', info1(touch, 'VM_EXIT_INTR_ERROR_CODE'));
  const fill = s[2]!.shadow!.focus!;
  put('PAGE_A GPA', hex((fill.guestOutcome as { gpa: string }).gpa));
  put('PAGE_A HPA', hex(fill.hpa!));
  put('guest PTE of PAGE_A', hex(fill.guest.at(-1)!.value));
  put('guest levels', fill.guest.length);
  put('write-protected at step 2', recordsOf(s[2]!).filter((r) => r.op === 'write-protect').length);
  // The CR3 read.
  const cr = exitsOf(s[exitAt(s, 28)]!)[0]!;
  const qual = info1(cr, 'EXIT_QUALIFICATION');
  put('CR access qualification', qual);
  expect([qual & 0xf, (qual >> 4) & 3, (qual >> 8) & 0xf]).toEqual([3, 1, 0]);
  expect(crQual['5:4']).toContain('1 MOV from CR');
  expect(crQual['11:8']).toContain('0 RAX');
  put('guest CR3', Number(/= (0x[0-9a-f]+)$/.exec(cr.note)![1]));
  // The page-table write and INVLPG.
  put('PTE offset in the source', Number(/mov \[rax \+ (0x[0-9a-f]+)\], rbx/.exec(scenario.kernel.source)![1]));
  const written = s.find((v) => recordsOf(v).some((r) => r.op === 'emulated-write'))!;
  const ew = recordsOf(written).find((r) => r.op === 'emulated-write') as Extract<ShadowRecordView, { op: 'emulated-write' }>;
  put('page-table write error code', info1(exitsOf(written).find((x) => x.note.startsWith('emulated write'))!, 'VM_EXIT_INTR_ERROR_CODE'));
  put('entries changed', ew.changed.length);
  put('entry changed', hex(ew.changed[0]!));
  put('INVLPG address', info1(exitsOf(s[exitAt(s, 14)]!)[0]!, 'EXIT_QUALIFICATION'));
  const mmio = s.flatMap(recordsOf).find((r) => r.op === 'mmio') as Extract<ShadowRecordView, { op: 'mmio' }>;
  put('DEV GPA', hex(mmio.gpa));
  // The true fault and its delivery.
  const tv = s.find((v) => recordsOf(v).some((r) => r.op === 'true-fault'))!;
  put('exits in the true fault\'s step', exitsOf(tv).length);
  const tf = recordsOf(tv).find((r) => r.op === 'true-fault') as { gva: string; errorCode: number };
  put('true fault address', hex(tf.gva));
  put('true fault error code', tf.errorCode);
  recordsOf(tv).filter((r) => r.op === 'hidden-fault').forEach((r, i) => put(`delivery fault ${i}`, hex((r as { gva: string }).gva)));
  // The whole runs.
  const sc = exitCounts(s);
  const nc = exitCounts(n);
  put('exits under shadow paging', Object.values(sc).reduce((a, b) => a + b, 0));
  put('exits under EPT', Object.values(nc).reduce((a, b) => a + b, 0));
  expect(sc.EXIT_REASON_IO_INSTRUCTION).toBe(nc.EXIT_REASON_IO_INSTRUCTION);
  expect([sc.EXIT_REASON_HLT, nc.EXIT_REASON_HLT]).toEqual([1, 1]);
  put('UART writes', sc.EXIT_REASON_IO_INSTRUCTION!);
  put('page-fault exits', sc.EXIT_REASON_EXCEPTION_NMI!);
  put('CR access exits', sc.EXIT_REASON_CR_ACCESS!);
  put('INVLPG exits', sc.EXIT_REASON_INVLPG!);
  put('EPT violations', nc.EXIT_REASON_EPT_VIOLATION!);
  expect(Object.keys(sc).sort()).toEqual(['EXIT_REASON_CR_ACCESS', 'EXIT_REASON_EXCEPTION_NMI', 'EXIT_REASON_HLT', 'EXIT_REASON_INVLPG', 'EXIT_REASON_IO_INSTRUCTION']);
  expect(Object.keys(nc).sort()).toEqual(['EXIT_REASON_EPT_VIOLATION', 'EXIT_REASON_HLT', 'EXIT_REASON_IO_INSTRUCTION']);
  expect(s.at(-1)!.machine.uart).toBe(n.at(-1)!.machine.uart);
  return f;
}

describe('lesson 07-shadow-paging: numbers in the text', () => {
  it('the runs give the figures the text states', async () => {
    expect(Object.fromEntries(await facts())).toEqual({
      'lesson 5': 5,
      'reason EXCEPTION_NMI': 0,
      'reason INVLPG': 14,
      'reason CR_ACCESS': 28,
      '#PF vector (exception bitmap bit)': 14,
      'first fault address': 0x100000,
      'first fault error code': 0x10,
      'first fault GPA': 0x100000,
      'write-protected at step 1': 3,
      'exits of the write and the read': 1,
      PAGE_A: 0x80001000,
      'write fault error code': 0x2,
      'PAGE_A GPA': 0x300000,
      'PAGE_A HPA': 0x300000,
      'guest PTE of PAGE_A': 0x300063,
      'guest levels': 4,
      'write-protected at step 2': 2,
      'CR access qualification': 0x13,
      'guest CR3': 0x10000,
      'PTE offset in the source': 0x18,
      'page-table write error code': 0x2,
      'entries changed': 1,
      'entry changed': 0x16018,
      'INVLPG address': 0x80003000,
      'DEV GPA': 0x8000000,
      "exits in the true fault's step": 4,
      'true fault address': 0x80004000,
      'true fault error code': 0,
      'delivery fault 0': 0x20e0,
      'delivery fault 1': 0x1008,
      'delivery fault 2': 0xfff8,
      'exits under shadow paging': 39,
      'exits under EPT': 26,
      'UART writes': 24,
      'page-fault exits': 12,
      'CR access exits': 1,
      'INVLPG exits': 1,
      'EPT violations': 1,
    });
  });

  it('every number the lesson text states, in both languages, is one of those facts', async () => {
    expect(strayNumbers(lesson, new Set((await facts()).values()))).toEqual([]);
  });
});

describe('lesson 07-shadow-paging: answers and sentences against the run', () => {
  it('each question\'s answer is what the run shows', async () => {
    const f = await facts();
    const s = await shadowRun;
    // The first instruction: an exit the hypervisor handles itself (a hidden fault), not a #PF delivered to the guest.
    expect(answerOf(lesson, 'predict-first')).toBe('hidden');
    expect(recordsOf(s[1]!).some((r) => r.op === 'hidden-fault')).toBe(true);
    expect(s[1]!.events.some((e) => e.kind === 'cpu/exception')).toBe(false);
    expect(answerOf(lesson, 'predict-touch')).toBe(f.get('exits of the write and the read'));
    // The guest reads its own CR3, not the shadow root the processor uses.
    expect(answerOf(lesson, 'predict-cr3')).toBe('guest');
    const cr = s[exitAt(s, 28)]!;
    expect(f.get('guest CR3')).toBe(hex(cr.shadow!.focus!.guestCr3));
    expect(cr.machine.regs.cr3).not.toMatch(/^0x0*10000$/);
    expect(answerOf(lesson, 'predict-pt-write')).toBe('emulate');
    expect(answerOf(lesson, 'predict-absent')).toBe('inject');
    const tv = s.find((v) => recordsOf(v).some((r) => r.op === 'true-fault'))!;
    expect(exitsOf(tv)[0]!.action).toBe('reflected');
  });

  it('the sentences that quote the run say what it shows', () => {
    expect(en.steps['first-fault'].done).toContain('a #PF at 0x100000 with error code 0x10');
    expect(en.steps.touches.body).toContain('Look at the guest\'s PTE: 0x300063');
    expect(en.steps['cr3-read'].done).toContain('EXIT_QUALIFICATION 0x13 says: CR3, a MOV from the control register, into RAX');
    expect(en.steps['pt-write'].done).toContain('Here there was none for 0x80003000');
    expect(en.steps['predict-pt-write'].why).toContain('(not present, error code 0x2)');
    expect(en.steps['true-fault'].done).toContain('the IDT gate at 0x20e0, the code segment\'s descriptor at 0x1008 and the stack at 0xfff8');
    expect(zh.steps['true-fault'].done).toContain('0x20e0 处的 IDT 门、0x1008 处的代码段描述符和 0xfff8 处的栈');
    expect(en.steps.cost.body).toContain('it made 39 VM exits; under EPT, 26');
  });
});
