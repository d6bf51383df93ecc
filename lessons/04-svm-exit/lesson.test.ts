/**
 * Lesson 4 against its machine and the real emulator under the lab's hypervisor: every state
 * reachable, a scripted run from start to completion on the lesson's scenario (svm-exit.json, the
 * guest of lesson 3), every number the student-facing text states found among the facts the run
 * (and lesson 3's run under VT-x, for the comparisons) and the reference tables produce (SVM exit
 * codes, the VMCB layout, the IOIO EXITINFO1 bits), and both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import { InThreadClient } from '../../src/worker/in-thread.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import type { VmExitView } from '../../src/worker/vm-types.ts';
import { answerOf, describeLanguages, describeMachine, strayNumbers } from '../checks.ts';
import { playScripted as playScriptedRun } from '../checks.ts';
import scenario from './svm-exit.json';
import vmxScenario from '../03-vmx-exit/vmx-exit.json';
import example from '../../src/emu/scenario/examples/svm-first-exit.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

const { machine, steps } = lesson;

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const codes = refFile('svm-exit-codes.json') as Record<string, string>;
const reasons = refFile('vmx-exit-reasons.json') as Record<string, string>;
const layout = refFile('vmcb-layout.json') as Record<string, { vmcb_offset: string; area: string } | Record<string, string>>;
const ioio = (refFile('svm-misc.json') as Record<string, Record<string, string>>).ioio_exitinfo1!;
const offsetOf = (field: string): number => Number((layout[field] as { vmcb_offset: string }).vmcb_offset);

const WAIT_BUDGET = 40;

/** The run a student makes (lessons/checks.ts), every wait step reached one step at a time. */
async function playScripted() {
  const run = await playScriptedRun({ lesson, scenario, scenarioId: 'svm', waitBudget: WAIT_BUDGET });
  return run;
}

/** Every exit of a scenario run to its end, stepping (for the comparison of the two runs). */
async function allExits(sc: unknown): Promise<VmExitView[]> {
  const client = new InThreadClient();
  const loaded = await client.load(sc as Json);
  if (!loaded.ok) throw new Error('did not load');
  const out: VmExitView[] = [];
  let at = loaded.view.step;
  for (let i = 0; i < 100; i++) {
    const v = await client.step(1);
    // A step that did not move (the machine has stopped) repeats the view it is at.
    if (v.step === at) break;
    at = v.step;
    out.push(...(v.vm?.exits ?? []));
  }
  return out;
}

const played = playScripted();
const runs = Promise.all([allExits(vmxScenario), allExits(scenario)]);

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}
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
const hex = (n: number) => `0x${n.toString(16)}`;

describe('lesson 04-svm-exit: the scenario', () => {
  it('is lesson 3\'s guest byte for byte (the svm-first-exit example), under AMD-V on an AMD processor', () => {
    expect(scenario.kernel.source).toBe(vmxScenario.kernel.source);
    expect(scenario.kernel.source).toBe(example.kernel.source);
    expect([scenario.technique, scenario.cpu.vendor, scenario.mode]).toEqual(['svm', 'amd', 'long64']);
  });

  it('makes the same exits as under VT-x, one for one: CPUID, CPUID, OUT three times, RDMSR, the hypercall, HLT', async () => {
    const [vmx, svm] = await runs;
    const pairs = vmx.map((e, i) => [e.name, svm[i]?.name]);
    expect(pairs).toEqual([
      ['EXIT_REASON_CPUID', 'VMEXIT_CPUID'],
      ['EXIT_REASON_CPUID', 'VMEXIT_CPUID'],
      ['EXIT_REASON_IO_INSTRUCTION', 'VMEXIT_IOIO'],
      ['EXIT_REASON_IO_INSTRUCTION', 'VMEXIT_IOIO'],
      ['EXIT_REASON_IO_INSTRUCTION', 'VMEXIT_IOIO'],
      ['EXIT_REASON_MSR_READ', 'VMEXIT_MSR'],
      ['EXIT_REASON_VMCALL', 'VMEXIT_VMMCALL'],
      ['EXIT_REASON_HLT', 'VMEXIT_HLT'],
    ]);
    expect(svm).toHaveLength(vmx.length);
    // At the same guest RIPs.
    expect(svm.map((e) => e.rip).slice(0, 6)).toEqual(vmx.map((e) => e.rip).slice(0, 6));
    // Entered again with VMRUN every time (but the last, which ends the VM).
    expect(svm.map((e) => e.entry)).toEqual([...svm.slice(1).map(() => 'VMRUN'), null]);
  });
});

describe('lesson 04-svm-exit: a scripted run against the emulator', () => {
  it('completes with full marks, each wait met at the step the text describes', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '04-svm-exit', step: steps.length - 1, reached: steps.length - 1, steps: steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
    expect((await at('launch')).step).toBe(1);
    expect((await at('first-exit')).step).toBe(2);
  });

  it('launch: VMRUN entered the guest, which ran xor eax, eax natively in guest mode', async () => {
    const v = await at('launch');
    expect(v.events.filter((e) => e.kind === 'vm/entry').map((e) => (e.kind === 'vm/entry' ? [e.instruction, e.failed] : null))).toEqual([['VMRUN', undefined]]);
    expect(v.events.some((e) => e.kind === 'vm/exit')).toBe(false);
    expect(v.vm?.world).toBe('guest');
  });

  it('first-exit: EXITCODE 0x72 at 0x100002, exit_code read at offset 0x70 by a VMCB load (no VMREAD), VMRUN again at 0x100004', async () => {
    const v = await at('first-exit');
    const e = exitOf(v);
    expect([e.code, e.name, num(e.rip), e.entry]).toEqual([0x72, 'VMEXIT_CPUID', 0x100002, 'VMRUN']);
    expect(e.accesses[0]).toMatchObject({ op: 'read', field: 'exit_code', key: 0x70 });
    expect(v.events.filter((x) => x.kind === 'vm/entry').map((x) => (x.kind === 'vm/entry' ? [x.instruction, x.rip] : null))).toEqual([['VMRUN', 0x100004n]]);
  });

  it('find-nrip: next_rip (the target) at offset 0xc8 holds 0x100004, the only exit field that is the next instruction\'s address; the handler writes it to save.rip', async () => {
    const e = exitOf(await at('find-nrip'));
    const n = infoOf(e, 'next_rip');
    expect([n.key, num(n.value)]).toEqual([0xc8, 0x100004]);
    expect(e.info.filter((i) => num(i.value) === 0x100004).map((i) => `exit-${i.field}`)).toEqual([answerOf(lesson, 'find-nrip')]);
    expect(e.accesses.find((a) => a.op === 'write' && a.field === 'save.rip')?.value).toBe(n.value);
    expect(e.info.some((i) => /len/i.test(i.field))).toBe(false);
  });

  it('io-exit: EXITCODE 0x7b at 0x100014, EXITINFO1 0x3f80210 decoded as the text says, EXITINFO2 = nRIP = 0x100015', async () => {
    const v = await at('io-exit');
    const e = exitOf(v);
    expect([e.code, e.name, num(e.rip), e.entry]).toEqual([0x7b, 'VMEXIT_IOIO', 0x100014, 'VMRUN']);
    const i1 = infoOf(e, 'exit_info_1');
    expect(num(i1.value)).toBe(0x3f80210);
    const bits = Object.fromEntries(i1.bits.map((b) => [b.name, b.value]));
    expect(bits).toMatchObject({ TYPE: 0, STR: 0, REP: 0, SZ8: 1, SZ16: 0, SZ32: 0, A16: 0, A32: 0, A64: 1, PORT: 0x3f8 });
    expect(num(infoOf(e, 'exit_info_2').value)).toBe(0x100015);
    expect(num(infoOf(e, 'next_rip').value)).toBe(0x100015);
    expect(v.vm?.vms[0]?.console).toBe('H');
    // "the second CPUID #VMEXIT" on the way.
    const { events } = await played;
    expect(events.filter((x) => x.kind === 'vm/exit').map((x) => (x.kind === 'vm/exit' ? x.code : -1))).toEqual([0x72, 0x72, 0x7b]);
  });
});

/** The facts the text may state: the runs', and the architecture's from the reference tables. */
async function facts(): Promise<Map<string, number>> {
  const f = new Map<string, number>();
  const put = (name: string, value: number) => f.set(name, value);
  put('flag clear', 0);
  put('flag set', 1);
  // EXITCODEs the text names, checked by name against the reference.
  for (const [n, name] of [[0x6f, 'RDPMC'], [0x70, 'PUSHF'], [0x71, 'POPF'], [0x72, 'CPUID'], [0x78, 'HLT'], [0x79, 'INVLPG'], [0x7a, 'INVLPGA'], [0x7b, 'IOIO']] as const) {
    expect(codes[`0x${n.toString(16).padStart(3, '0')}`], name).toBe(name);
    put(`EXITCODE ${name}`, n);
  }
  // The VMCB's layout: its size, the areas, the exit fields' offsets.
  const note = (layout._source as Record<string, string>).note ?? '';
  expect(note).toContain('offset within the 4 KB VMCB; the state-save area starts at VMCB offset 0x400');
  expect((layout._source as Record<string, string>).layout).toContain('sizes 1024 (control)');
  put('VMCB KB', 4);
  put('control area bytes', 1024);
  put('save area offset', 0x400);
  for (const field of ['exit_code', 'exit_info_1', 'exit_info_2', 'next_rip']) put(`${field} offset`, offsetOf(field));
  expect([offsetOf('exit_code'), offsetOf('exit_info_1'), offsetOf('exit_info_2'), offsetOf('next_rip')]).toEqual([0x70, 0x78, 0x80, 0xc8]);
  const { first } = await played;
  const rip = first.vm!.fields.find((x) => x.name === 'save.rip')!;
  put('save.rip offset', rip.key);
  expect(rip.key).toBe(0x400 + Number((layout['save.rip'] as { save_offset?: string }).save_offset ?? rip.key - 0x400));
  // IOIO EXITINFO1 (the reference's bits).
  expect(ioio['0']).toMatch(/^TYPE: 1 = IN, 0 = OUT/);
  expect([ioio['2'], ioio['3'], ioio['4'], ioio['5'], ioio['6'], ioio['9:7'], ioio['12:10'], ioio['31:16']].map((x) => x?.split(/[ (]/)[0])).toEqual(['STR', 'REP', 'SZ8', 'SZ16', 'SZ32', 'address', 'effective', 'port']);
  expect(ioio.exitinfo2).toMatch(/^next sequential RIP/);
  for (const n of [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 31]) put(`EXITINFO1 bit ${n}`, n);
  put('A64 value', 2 ** 9);
  put('SZ8 value', 2 ** 4);
  put('operand bits (SZ8)', 8);
  put('address bits (A64)', 64);
  // The run under AMD-V.
  const cpuid = exitOf(await at('first-exit'));
  put('CPUID EXITCODE', cpuid.code);
  put('CPUID RIP', num(cpuid.rip));
  put('CPUID next RIP', num(infoOf(cpuid, 'next_rip').value));
  const io = exitOf(await at('io-exit'));
  put('OUT EXITCODE', io.code);
  put('OUT RIP', num(io.rip));
  put('OUT EXITINFO1', num(infoOf(io, 'exit_info_1').value));
  put('OUT EXITINFO2', num(infoOf(io, 'exit_info_2').value));
  for (const b of infoOf(io, 'exit_info_1').bits) put(`EXITINFO1 ${b.name}`, b.value);
  // Lesson 3's run under VT-x, for the comparisons.
  const [vmx] = await runs;
  const vCpuid = vmx[0]!;
  const vIo = vmx[2]!;
  expect([reasons[String(vCpuid.code)], reasons[String(vIo.code)]]).toEqual(['CPUID', 'IO_INSTRUCTION']);
  put('VT-x CPUID reason', vCpuid.code);
  put('VT-x OUT reason', vIo.code);
  put('VT-x OUT qualification', num(infoOf(vIo, 'EXIT_QUALIFICATION').value));
  put('VT-x direction bit', 3);
  return f;
}

describe('lesson 04-svm-exit: numbers in the text', () => {
  it('states the runs\' figures as the scenarios produce them', async () => {
    expect(Object.fromEntries(await facts())).toMatchObject({
      'CPUID EXITCODE': 0x72,
      'CPUID RIP': 0x100002,
      'CPUID next RIP': 0x100004,
      'OUT EXITCODE': 0x7b,
      'OUT RIP': 0x100014,
      'OUT EXITINFO1': 0x3f80210,
      'OUT EXITINFO2': 0x100015,
      'EXITINFO1 PORT': 0x3f8,
      'save.rip offset': 0x578,
      'VT-x CPUID reason': 10,
      'VT-x OUT reason': 30,
      'VT-x OUT qualification': 0x3f80000,
    });
  });

  it('every number the lesson text states, in both languages, is one of those facts', async () => {
    expect(strayNumbers(lesson, new Set((await facts()).values()))).toEqual([]);
  });
});

describe('lesson 04-svm-exit: answers and sentences against the run', () => {
  const answer = (id: string) => answerOf(lesson, id);

  it('each question\'s answer is what the run shows', async () => {
    const f = await facts();
    expect(answer('predict-entry')).toBe('vmrun');
    expect(answer('predict-cpuid')).toBe(f.get('CPUID EXITCODE'));
    expect(answer('predict-io')).toBe(f.get('OUT EXITCODE'));
    expect(answer('predict-info1')).toBe(f.get('OUT EXITINFO1'));
    // As the text derives it: the port in bits 31:16, A64 and SZ8 set, TYPE 0.
    expect(answer('predict-info1')).toBe(0x3f8 * 2 ** 16 + 2 ** 9 + 2 ** 4);
  });

  it('the exits the text spells out are the run\'s', async () => {
    const cpuid = exitOf(await at('first-exit'));
    expect(en.steps['first-exit'].done).toContain(`EXITCODE ${hex(cpuid.code)} (${cpuid.name}), at guest RIP ${hex(num(cpuid.rip))}`);
    expect(zh.steps['first-exit'].done).toContain(`EXITCODE 为 ${hex(cpuid.code)}（${cpuid.name}），客户机 RIP 为 ${hex(num(cpuid.rip))}`);
    const io = exitOf(await at('io-exit'));
    const i1 = hex(num(infoOf(io, 'exit_info_1').value));
    expect(en.steps['io-exit'].done).toContain(`EXITCODE ${hex(io.code)} (${io.name}) at guest RIP ${hex(num(io.rip))}. EXITINFO1 = ${i1}`);
    expect(zh.steps['io-exit'].done).toContain(`EXITCODE ${hex(io.code)}（${io.name}），客户机 RIP 为 ${hex(num(io.rip))}。EXITINFO1 = ${i1}`);
  });
});
