/**
 * Lesson 2 against its machine and the real emulator: every state reachable, a scripted run from
 * start to completion on the lesson's scenario (paging.json), every number the student-facing text
 * states found among the facts the run and the paging reference produce, what each step's text
 * claims about the walk view and the TLB checked against the views, and both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matches } from '../../src/lessons/kit.ts';
import { reportOf, seenEvents } from '../../src/lessons/report.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import type { TranslationView } from '../../src/worker/walk-types.ts';
import { focusIndex } from '../../src/views/mmu/walk-layout.ts';
import { answerOf, describeLanguages, describeMachine, strayNumbers } from '../checks.ts';
import { playScripted as playScriptedRun } from '../checks.ts';
import scenario from './paging.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

const { machine, steps } = lesson;

describeMachine(lesson, info);
describeLanguages(lesson);

const ref = JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference/x86-paging.json'), 'utf8')) as {
  modes: Record<string, Record<string, unknown>>;
  entry_bits: Record<string, string>;
  page_fault_error_code: Record<string, string>;
  CR3: Record<string, string>;
};

/** The most steps a wait step may take (the scenario runs 48 in all). */
const WAIT_BUDGET = 100;

/** The run a student makes (lessons/checks.ts), every wait step reached one step at a time. */
async function playScripted() {
  const run = await playScriptedRun({ lesson, scenario, scenarioId: 'paging', waitBudget: WAIT_BUDGET });
  const halt = await run.client.runUntil(['cpu/halt'], 1000);
  return { ...run, halt };
}

const played = playScripted();

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

function translations(v: ViewState): TranslationView[] {
  if (v.walks.paging === 'none') throw new Error('paging is off');
  return v.walks.translations;
}

/** The step's translation of a user access of this kind (not an instruction fetch unless asked). */
function userAccess(v: ViewState, access: TranslationView['access']): TranslationView {
  const t = translations(v).find((x) => x.user && x.access === access);
  if (t === undefined) throw new Error(`no user ${access} at step ${v.step}`);
  return t;
}

const num = (hex: string) => Number(BigInt(hex));
const bit = (hex: string, n: number) => Number((BigInt(hex) >> BigInt(n)) & 1n);

describe('lesson 02-paging: a scripted run against the emulator', () => {
  it('completes with full marks, each wait met at the step the text describes', async () => {
    const { actor, halt } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '02-paging', step: steps.length - 1, reached: steps.length - 1, steps: steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
    // first-read: "two steps"; tlb-hit and fault: "step once".
    expect((await at('first-read')).step).toBe(2);
    expect((await at('tlb-hit')).step).toBe(3);
    expect((await at('fault')).step).toBe(4);
    expect(halt.event?.kind).toBe('cpu/halt');
  });

  it('first-read: a TLB miss and a 4-level walk, entries at the addresses the text gives, a read-only PTE', async () => {
    const v = await at('first-read');
    const t = userAccess(v, 'read');
    expect(t.source).toBe('walk');
    expect(t.entries.map((e) => [e.level, e.index, num(e.entryPa ?? '0x0')])).toEqual([
      ['PML4E', 0, 0x10000],
      ['PDPTE', 1, 0x11008],
      ['PDE', 0, 0x12000],
      ['PTE', 320, 0x13a00],
    ]);
    const pte = t.entries[3]!;
    expect(num(pte.value)).toBe(0x300005);
    expect([bit(pte.value, 0), bit(pte.value, 1), bit(pte.value, 2)]).toEqual([1, 0, 1]);
    expect(t.outcome).toEqual({ ok: true, pa: '0x0000000000300000', pageSize: 4096 });
    // "each is the previous entry's frame plus index × 8"
    for (let i = 1; i < 4; i++) expect(num(t.entries[i]!.entryPa ?? '0x0')).toBe((num(t.entries[i - 1]!.value) & ~0xfff) + t.entries[i]!.index * 8);
    expect(v.machine.tlb.some((e) => e.pageLo === 0x40140 && e.pa === 0x300000)).toBe(true);
  });

  it('tlb-hit: the TLB answers the read of DATA + 8, and its entry for the page says R/W = 0', async () => {
    const v = await at('tlb-hit');
    const t = userAccess(v, 'read');
    expect([t.linear, t.source]).toEqual(['0x0000000040140008', 'tlb']);
    expect(seenEvents(v.events, v.walks).some((e) => e.kind === 'mmu/walk' && e.user === true && e.access === 'read')).toBe(false);
    expect(v.machine.tlb.find((e) => e.pageLo === 0x40140)?.rw).toBe(false);
  });

  it('fault: #PF with error code 7 and CR2 = DATA, found from the TLB without a walk; the page\'s TLB entry invalidated', async () => {
    const v = await at('fault');
    const pf = v.events.find((e) => e.kind === 'cpu/exception');
    expect(pf?.kind === 'cpu/exception' ? [pf.vector, pf.errorCode, pf.cr2] : null).toEqual([14, 7, 0x40140000n]);
    expect(v.machine.cpl).toBe(0);
    expect(v.walks.paging !== 'none' ? v.walks.pageFault : null).toEqual({ errorCode: 7, cr2: '0x0000000040140000' });
    const t = userAccess(v, 'write');
    expect(t.source).toBe('tlb');
    expect(t.outcome).toEqual({ ok: false, errorCode: 7, level: 'PTE' });
    expect(v.events.some((e) => e.kind === 'tlb/flush' && e.cause === 'page-fault' && e.linear === 0x40140000n)).toBe(true);
  });

  it('find-rw: the walk view shows the faulting write, and only its PTE has R/W = 0 (the target the step accepts)', async () => {
    const v = await at('find-rw');
    const list = translations(v);
    const shown = list[focusIndex(list)]!;
    expect([shown.access, shown.user, shown.outcome.ok]).toEqual(['write', true, false]);
    const readOnly = shown.entries.filter((e) => bit(e.value, 1) === 0).map((e) => `walk-${e.level.toLowerCase()}`);
    const step = steps.find((s) => s.id === 'find-rw');
    expect(readOnly).toEqual([step?.kind === 'target' ? step.answer : '']);
    expect(shown.entries).toHaveLength(4);
  });

  it('copy: the handler copies 512 quadwords upwards and invalidates the page; the write runs again after a walk; the new PTE maps the copy writable', async () => {
    expect(scenario.kernel.source).toMatch(/mov ecx, 512\n\s*cld[^\n]*\n\s*rep movsq/);
    const { events } = await played;
    const fault = events.findIndex((e) => e.kind === 'cpu/exception' && e.vector === 14);
    const invlpg = events.findIndex((e) => e.kind === 'tlb/flush' && e.cause === 'invlpg' && e.linear === 0x40140000n);
    const back = events.findIndex((e, i) => i > fault && e.kind === 'ring/change' && e.cause === 'iret' && e.to === 3);
    expect(fault).toBeGreaterThan(0);
    expect(invlpg).toBeGreaterThan(fault);
    expect(back).toBeGreaterThan(invlpg);
    const v = await at('copy');
    const t = userAccess(v, 'write');
    expect(t.source).toBe('walk');
    const pte = t.entries[3]!;
    expect(num(pte.value)).toBe(0x301007);
    expect([bit(pte.value, 0), bit(pte.value, 1), bit(pte.value, 2)]).toEqual([1, 1, 1]);
    expect(t.outcome).toEqual({ ok: true, pa: '0x0000000000301000', pageSize: 4096 });
    expect(t.entries).toHaveLength(4);
  });

  it('reload: after the MOV to CR3 flush (non-global; no global pages), the fetch and the read of DATA both walk', async () => {
    const { events } = await played;
    expect(events.filter((e) => e.kind === 'tlb/flush' && e.cause === 'mov-cr3').map((e) => (e.kind === 'tlb/flush' ? e.scope : ''))).toEqual(['non-global']);
    const v = await at('reload');
    expect(num(userAccess(v, 'read').entries[3]!.value)).toBe(0x301067);
    expect(userAccess(v, 'read').source).toBe('walk');
    expect(userAccess(v, 'fetch').source).toBe('walk');
    expect(Number(BigInt(v.machine.regs.rdx))).toBe(42);
    // CR4.PGE (bit 7) is 0: no page is global, so the flush dropped every entry.
    expect(bit(v.machine.regs.cr4, 7)).toBe(0);
    expect(v.machine.tlb.every((e) => !e.global)).toBe(true);
  });
});

/** The facts the text may state: the scenario's, from the run, and the architecture's, from the reference. */
async function facts(): Promise<Map<string, number>> {
  const { first } = await played;
  const f = new Map<string, number>();
  const put = (name: string, value: number) => f.set(name, value);
  const mode = ref.modes['4-level (IA-32e)'] as Record<string, unknown>;
  const shifts = [mode['PGDIR_SHIFT (PML4)'], mode['PUD_SHIFT (PDPT)'], mode['PMD_SHIFT (PD)'], 12] as number[];
  const split = String(mode.split);
  expect(split).toBe('9 | 9 | 9 | 9 | 12 (48-bit VA)');
  put('levels (4-level paging)', shifts.length);
  put('levels (5-level paging)', shifts.length + 1);
  put('bits per index', 9);
  put('offset bits', 12);
  put('linear address bits', 48);
  put('bytes per entry', mode.entry_size as number);
  put('entries per table', mode.entries_per_table as number);
  put('bytes per page', 2 ** 12);
  put('index mask 0x1ff', 2 ** 9 - 1);
  shifts.forEach((s, i) => {
    put(`index ${i} low bit`, s);
    put(`index ${i} high bit`, s + 8);
  });
  expect(String(mode.large_pages)).toBe('1 GB (PDPTE.PS), 2 MB (PDE.PS)');
  put('GiB mapped by a PDPTE', 2 ** (30 - 30));
  put('MiB mapped by a PDE', 2 ** (21 - 20));
  // The #PF error code's bits and their values, and the flags' values 0/1.
  for (const [n, name] of [[0, 'P'], [1, 'W/R'], [2, 'U/S']] as const) {
    expect(ref.page_fault_error_code[String(n)]).toMatch(new RegExp(`^${name}:`));
    put(`error code bit ${name}`, n);
    put(`error code value ${name}`, 2 ** n);
  }
  expect(ref.entry_bits['1']).toMatch(/^R\/W/);
  put('flag clear', 0);
  put('flag set', 1);
  expect([ref.entry_bits['5'], ref.entry_bits['6']]).toEqual(['A accessed', 'D dirty (leaf only)']);
  put('A bit', 5);
  put('D bit', 6);
  put('GiB mapped by a PML4E', 2 ** (39 - 30));
  expect(ref.CR3['11:0']).toMatch(/^PCID/);
  put('PCID bits', 12);
  expect(ref.CR3['63']).toMatch(/no-flush/);
  put('CR3 no-flush bit', 63);

  const v1 = await at('first-read');
  const read = userAccess(v1, 'read');
  put('CR3', Number(BigInt(first.machine.regs.cr3)));
  put('user CPL', Number(BigInt(first.machine.regs.cs)) & 3);
  put('DATA', num(read.linear));
  put('DATA page number', num(read.linear) >>> 12);
  read.entries.forEach((e) => {
    put(`${e.level} index`, e.index);
    put(`${e.level} address`, num(e.entryPa ?? '0x0'));
  });
  put('PTE value', num(read.entries[3]!.value));
  put('DATA frame', read.outcome.ok ? num(read.outcome.pa) : -1);
  put('entries read on a miss', read.entries.length);
  put('entries read on a hit', 0);
  const pf = (await at('fault')).events.find((e) => e.kind === 'cpu/exception');
  put('#PF vector', pf?.kind === 'cpu/exception' ? pf.vector : -1);
  put('#PF error code', pf?.kind === 'cpu/exception' ? pf.errorCode : -1);
  put('handler CPL', (await at('fault')).machine.cpl);
  const kernelWalks = translations(await at('fault')).filter((t) => !t.user && t.source === 'walk');
  expect(kernelWalks.length).toBeGreaterThan(0);
  for (const t of kernelWalks) expect([t.entries.length, t.outcome.ok && t.outcome.pageSize]).toEqual([3, 2 ** 21]);
  put('entries read by a kernel walk', 3);
  put('PTE value after the write', num(userAccess(await at('reload'), 'read').entries[3]!.value));
  const copy = userAccess(await at('copy'), 'write');
  put('copy PTE', num(copy.entries[3]!.value));
  put('copy frame', copy.outcome.ok ? num(copy.outcome.pa) : -1);
  put('quadwords copied', 2 ** 12 / 8);
  // The handler's steps, from the fault to the IRETQ back to ring 3.
  const { views } = await played;
  const back = views.get('copy')!;
  put('steps in the handler', back.step - 1 - (await at('fault')).step);
  put('value written', Number(BigInt((await at('reload')).machine.regs.rdx)));
  return f;
}

describe('lesson 02-paging: numbers in the text', () => {
  it('states the run\'s figures as the scenario produces them', async () => {
    expect(Object.fromEntries(await facts())).toMatchObject({
      CR3: 0x10000,
      DATA: 0x40140000,
      'DATA page number': 0x40140,
      'PML4E address': 0x10000,
      'PDPTE address': 0x11008,
      'PDPTE index': 1,
      'PDE address': 0x12000,
      'PTE address': 0x13a00,
      'PTE index': 320,
      'PTE value': 0x300005,
      'DATA frame': 0x300000,
      'entries read on a miss': 4,
      '#PF vector': 14,
      '#PF error code': 7,
      'copy PTE': 0x301007,
      'copy frame': 0x301000,
      'steps in the handler': 29,
      'entries read by a kernel walk': 3,
      'PTE value after the write': 0x301067,
      'value written': 42,
    });
  });

  it('every number the lesson text states, in both languages, is one of those facts', async () => {
    expect(strayNumbers(lesson, new Set((await facts()).values()))).toEqual([]);
  });
});

describe('lesson 02-paging: answers and sentences against the run', () => {
  const answer = (id: string) => answerOf(lesson, id);

  it('each question\'s answer is what the run shows', async () => {
    const f = await facts();
    expect(answer('predict-refs')).toBe(f.get('entries read on a miss'));
    expect(answer('predict-index')).toBe(f.get('PTE index'));
    expect(userAccess(await at('tlb-hit'), 'read').source).toBe('tlb');
    expect(answer('predict-hit')).toBe(0);
    expect(answer('predict-error')).toBe(f.get('#PF error code'));
    // 'pf': the write raised #PF, not #GP, and no write reached the page before the fault.
    expect(answer('predict-write')).toBe('pf');
    expect((await at('fault')).events.filter((e) => e.kind === 'cpu/exception').map((e) => (e.kind === 'cpu/exception' ? e.vector : -1))).toEqual([14]);
    // 'miss': after the CR3 load the read walked.
    expect(answer('predict-cr3')).toBe('miss');
    expect(userAccess(await at('reload'), 'read').source).toBe('walk');
  });

  it('the walk the text spells out is the run\'s: each entry\'s index and address, and the address split', async () => {
    const read = userAccess(await at('first-read'), 'read');
    const [pml4e, pdpte, pde, pte] = read.entries.map((e) => ({ index: e.index, at: `0x${num(e.entryPa ?? '0x0').toString(16)}` }));
    expect(en.steps['first-read'].done).toContain(
      `the PML4E (index ${pml4e!.index}, at ${pml4e!.at}), the PDPTE (index ${pdpte!.index}, at ${pdpte!.at}), the PDE (index ${pde!.index}, at ${pde!.at}) and the PTE (index ${pte!.index}, at ${pte!.at})`,
    );
    expect(zh.steps['first-read'].done).toContain(
      `PML4E（索引 ${pml4e!.index}，位于 ${pml4e!.at}）、PDPTE（索引 ${pdpte!.index}，位于 ${pdpte!.at}）、PDE（索引 ${pde!.index}，位于 ${pde!.at}）和 PTE（索引 ${pte!.index}，位于 ${pte!.at}）`,
    );
    expect(en.steps['predict-index'].body).toContain(`bits 47 to 39 are ${pml4e!.index}, bits 38 to 30 are ${pdpte!.index}, bits 29 to 21 are ${pde!.index}`);
    expect(zh.steps['predict-index'].body).toContain(`第 47 到 39 位为 ${pml4e!.index}，第 38 到 30 位为 ${pdpte!.index}，第 29 到 21 位为 ${pde!.index}`);
  });
});
