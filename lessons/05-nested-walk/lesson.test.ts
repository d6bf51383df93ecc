/**
 * Lesson 5 against its machine and the real emulator under the lab's hypervisor (EPT): every state
 * reachable, a scripted run to completion with full marks on the lesson's scenario
 * (nested-walk.json), the first touches the read steps ask the student to make replayed step by
 * step, every number the student-facing text states found among the facts the run (the grids
 * the nested-walk view draws, the exits, the fault), the reference tables and the cited figure
 * produce, and both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import { fact } from '../../src/lessons/sources.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import type { TwoDWalkView } from '../../src/worker/twod-types.ts';
import type { VmExitView } from '../../src/worker/vm-types.ts';
import { gridOf, pickWalk } from '../../src/views/nested/grid.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import scenario from './nested-walk.json';
import example from '../../src/emu/scenario/examples/nested-walk-vtx.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const reasons = refFile('vmx-exit-reasons.json') as Record<string, string>;
const eptQual = (refFile('vmx-exit-qualifications.json') as Record<string, Record<string, string>>).ept_violation!;
const svmCodes = refFile('svm-exit-codes.json') as Record<string, string>;

/** The most steps a wait step may take (the guest's #PF comes at step 21). */
const WAIT_BUDGET = 30;

const played = playScripted({ lesson, scenario, scenarioId: 'nested', waitBudget: WAIT_BUDGET });

/** The first lab steps, one at a time, as the read steps ask the student to make them ("press → twice", then once). */
const firstSteps = (async () => {
  const c = new InThreadClient();
  const l = await c.load(scenario as unknown as Json);
  if (!l.ok) throw new Error('scenario did not load');
  const views: ViewState[] = [l.view];
  for (let i = 0; i < 3; i++) views.push(await c.step(1));
  return views;
})();

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}
/** The walk the grid shows for a view (its own pick), and its grid. */
function shown(v: ViewState): { walk: TwoDWalkView; grid: ReturnType<typeof gridOf> } {
  const walks = v.twod?.walks ?? [];
  const walk = walks[pickWalk(walks)];
  if (walk === undefined) throw new Error(`no 2D walk at step ${v.step}`);
  return { walk, grid: gridOf(walk) };
}
const inGrid = (g: ReturnType<typeof gridOf>) => g.made - g.extras.length;
function exitOf(v: ViewState): VmExitView {
  const exits = v.vm?.exits ?? [];
  expect(exits).toHaveLength(1);
  return exits[0]!;
}
const infoOf = (e: VmExitView, field: string) => {
  const i = e.info.find((x) => x.field === field);
  if (i === undefined) throw new Error(`no ${field}`);
  return i;
};
const num = (hex: string) => Number(BigInt(hex));
/** Nested references per nested walk (the refs of one grid row's nested columns). */
const nestedPerRow = (g: ReturnType<typeof gridOf>, row: number) => g.rows[row]!.cells.slice(0, g.m).filter((c) => c.kind === 'ref').length;

describe('lesson 05-nested-walk: the scenario', () => {
  it('is the nested-walk-vtx example\'s guest, under VT-x on an Intel processor, on the default 2-MiB nested pages', () => {
    // The example maps guest RAM with 4-KiB nested pages (24 references); the lesson keeps the
    // default 2-MiB ones, so that the grid shows a shorter walk and the text explains why.
    const { hypervisor, ...own } = example as typeof example & { hypervisor?: { nestedPageSize?: string } };
    expect(hypervisor).toEqual({ nestedPageSize: '4k' });
    expect(scenario).toEqual(own);
    expect((scenario as { hypervisor?: unknown }).hypervisor).toBeUndefined();
    expect([scenario.technique, scenario.cpu.vendor, scenario.paging]).toEqual(['vtx', 'intel', '4level']);
  });
});

describe('lesson 05-nested-walk: the run', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    const steps = lesson.steps;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '05-nested-walk', step: steps.length - 1, reached: steps.length - 1, steps: steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('first-touch: "press → twice" makes the first write to PAGE_A, a TLB miss whose walk the grid shows in full, every nested walk cut short by a 2-MiB page', async () => {
    const v = (await firstSteps)[2]!;
    const { walk, grid } = shown(v);
    expect([walk.linear, walk.access, walk.source]).toEqual(['0x0000000080001000', 'write', 'walk']);
    expect(walk.outcome.kind).toBe('ok');
    expect([grid.n, grid.m, grid.full, grid.fault]).toEqual([4, 4, 24, null]);
    // Every nested walk read 3 entries and ended at a PDE mapping a large page; the PTE column is empty for that reason.
    for (let r = 0; r <= grid.n; r++) {
      expect(nestedPerRow(grid, r), `row ${r}`).toBe(3);
      expect(grid.rows[r]!.cells[3]).toEqual({ kind: 'empty', why: 'nested-large' });
    }
    expect(inGrid(grid)).toBe(grid.n * 3 + grid.n + 3);
    expect(answerOf(lesson, 'predict-count')).toBe(inGrid(grid));
    // A/D updates of the guest entries: nested translations again, outside the grid.
    expect(grid.extras.length).toBeGreaterThan(0);
  });

  it('order: in each row the nested walk of the entry\'s GPA comes before the guest entry, and the guest entries in level order', async () => {
    const { grid } = shown((await firstSteps)[2]!);
    const inRows = grid.refs.filter((r) => r.col >= 0);
    for (let r = 0; r <= grid.n; r++) {
      const row = inRows.filter((x) => x.row === r);
      const cols = row.map((x) => x.col);
      expect(cols, `row ${r}`).toEqual([...cols].sort((a, b) => a - b));
      if (r < grid.n) expect(row.at(-1)?.col).toBe(grid.m);
    }
    const rowsInOrder = inRows.map((x) => x.row);
    expect(rowsInOrder).toEqual([...rowsInOrder].sort((a, b) => a - b));
    expect(inRows[0]).toMatchObject({ row: 0, col: 0 });
    expect(inRows.filter((x) => x.col === grid.m).map((x) => x.ref.level)).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
  });

  it('predict-hit: the second touch is a TLB hit (no walk made: the grid shows the walk a miss would make)', async () => {
    const v = (await firstSteps)[3]!;
    const { walk } = shown(v);
    expect([walk.linear, walk.access, walk.source]).toEqual(['0x0000000080001000', 'read', 'tlb']);
    expect(v.twod?.walks.filter((w) => w.source === 'walk')).toEqual([]);
    expect(answerOf(lesson, 'predict-hit')).toBe(0);
  });

  it('violation: exit 48 at the read of DEV, the walk stopped in the final nested walk of GPA 0x8000000, qualification 0x181, MMIO', async () => {
    const v = await at('violation');
    const e = exitOf(v);
    expect([e.code, e.name]).toEqual([48, 'EXIT_REASON_EPT_VIOLATION']);
    expect(reasons['48']).toBe('EPT_VIOLATION');
    const faulted = v.twod?.walks.find((w) => w.outcome.kind === 'nested-fault');
    expect(faulted?.linear).toBe('0x0000000080003000');
    expect(faulted?.outcome).toEqual({ kind: 'nested-fault', stage: 'final', gpa: '0x0000000008000000' });
    const g = gridOf(faulted!);
    expect(g.fault?.row).toBe(g.n);
    expect(num(infoOf(e, 'GUEST_PHYSICAL_ADDRESS').value)).toBe(0x8000000);
    expect(0x8000000).toBeGreaterThanOrEqual(scenario.memory.size);
    const q = infoOf(e, 'EXIT_QUALIFICATION');
    expect(num(q.value)).toBe(answerOf(lesson, 'predict-qual'));
    expect(q.bits.filter((b) => b.value !== 0).map((b) => b.lo)).toEqual([0, 7, 8]);
    // "handled the read as MMIO, and the guest read a value with every bit 1": a 4-byte MMIO read, all ones in EAX.
    const mmio = v.events.filter((x) => x.kind === 'io/mmio');
    expect(mmio.map((x) => (x.kind === 'io/mmio' ? [x.dir, x.size, x.value] : null))).toEqual([['read', 4, 0xffffffffn]]);
    expect(BigInt(v.machine.regs.rax) & 0xffffffffn).toBe(0xffffffffn);
    expect(v.events.some((x) => x.kind === 'cpu/exception')).toBe(false);
  });

  it('guest-pf: a #PF, vector 14, at 0x80004000, with no VM exit; the walk stopped at the guest PTE after 16 references', async () => {
    const v = await at('guest-pf');
    expect(v.events.filter((x) => x.kind === 'cpu/exception').map((x) => (x.kind === 'cpu/exception' ? x.vector : -1))).toEqual([14]);
    expect(v.events.some((x) => x.kind === 'vm/exit')).toBe(false);
    const w = v.twod?.walks.find((x) => x.outcome.kind === 'guest-fault');
    expect(w?.linear).toBe('0x0000000080004000');
    expect(w?.outcome).toMatchObject({ kind: 'guest-fault', level: 'PTE' });
    const g = gridOf(w!);
    expect(inGrid(g)).toBe(16);
    expect(g.refs.filter((r) => r.ref.dim === 'guest').length).toBe(4);
    expect(g.refs.filter((r) => r.ref.dim !== 'guest').length).toBe((1 + 3) * 3);
  });
});

/** The facts the text may state. */
async function facts(): Promise<Set<number>> {
  const f = new Set<number>();
  const first = shown((await firstSteps)[2]!).grid;
  for (const x of [first.n, first.m, first.full, inGrid(first), nestedPerRow(first, 0), 0]) f.add(x);
  // Page sizes in MiB / KiB: the nested walk's (2-MiB) and the guest's (4-KiB).
  const w = shown((await firstSteps)[2]!).walk;
  expect(w.refs.some((r) => r.dim !== 'guest' && r.level === 'PDE')).toBe(true);
  const data = (await firstSteps)[2]!.twod!.walks.find((x) => x.access === 'write')!;
  expect(data.outcome.kind === 'ok' ? data.outcome.pageSize : 0).toBe(4096);
  f.add(2 ** 21 / 2 ** 20).add(4096 / 1024);
  // The formula's constant.
  f.add(1);
  // The cited figure (24 for 4 on 4), as sources.ts has it.
  expect(fact('nested-walk-refs').value).toMatch(/^n·m \+ n \+ m = \(n\+1\)\(m\+1\)−1; 24 for 4-level on 4-level/);
  f.add(24);
  // The EPT violation.
  const e = exitOf(await at('violation'));
  f.add(e.code).add(num(infoOf(e, 'GUEST_PHYSICAL_ADDRESS').value));
  const q = infoOf(e, 'EXIT_QUALIFICATION');
  f.add(num(q.value));
  for (const b of q.bits.filter((x) => x.value !== 0)) f.add(b.lo).add(2 ** b.lo);
  // The qualification's bits the text names (reference table).
  expect(eptQual['0']).toBe('data read');
  expect(eptQual['1']).toBe('data write');
  expect(eptQual['2']).toBe('instruction fetch');
  expect(eptQual['3']).toMatch(/readable/);
  expect(eptQual['5']).toMatch(/^executable/);
  expect(eptQual['7']).toBe('guest-linear-address field valid');
  expect(eptQual['8']).toMatch(/1 = access to the translated linear address, 0 = access to a guest paging-structure entry/);
  for (const b of [0, 1, 2, 3, 5, 7, 8]) f.add(b);
  expect(svmCodes['0x400']).toBe('NPF');
  f.add(0x400);
  // The guest's #PF.
  const pf = await at('guest-pf');
  const pw = pf.twod!.walks.find((x) => x.outcome.kind === 'guest-fault')!;
  f.add(14).add(num(pw.linear)).add(inGrid(gridOf(pw)));
  f.add(gridOf(pw).refs.filter((r) => r.ref.dim === 'guest').length - 1);
  return f;
}

describe('lesson 05-nested-walk: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the facts', async () => {
    expect(strayNumbers(lesson, await facts())).toEqual([]);
  });

  it('the sentences with the run\'s figures are the run\'s', async () => {
    const first = shown((await firstSteps)[2]!).grid;
    expect(en.steps['first-touch'].body).toContain(`${inGrid(first)} references in the grid, with ${first.n} guest levels and ${first.m} EPT levels: at most ${first.full}`);
    expect(zh.steps['first-touch'].body).toContain(`${inGrid(first)} 次引用，客户机 ${first.n} 级、EPT ${first.m} 级：最多 ${first.full} 次`);
    expect(en.steps['predict-count'].why).toContain(`${first.n}·3 + ${first.n} + 3 = ${inGrid(first)}`);
    const e = exitOf(await at('violation'));
    expect(en.steps.violation.done).toContain(`reason ${e.code} (${e.name})`);
    expect(zh.steps.violation.done).toContain(`原因 ${e.code}（${e.name}）`);
    expect(en.steps['predict-qual'].why).toContain(`0x${num(infoOf(e, 'EXIT_QUALIFICATION').value).toString(16)}`);
  });
});
