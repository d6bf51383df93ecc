/**
 * Lesson 3 against its machine and the real emulator under the lab's hypervisor: every state
 * reachable, a scripted run from start to completion on the lesson's scenario (vmx-exit.json),
 * every number the student-facing text states found among the facts the run and the reference
 * tables produce (exit reasons, the I/O exit qualification, VMCS encodings, VM-instruction errors),
 * what each step's text claims about the exits and the handler checked against the run, and both
 * languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VM_INSTRUCTION_ERRORS } from '../../src/emu/vmx/vmx.ts';
import { reportOf } from '../../src/lessons/report.ts';
import type { Json, ViewState } from '../../src/worker/protocol.ts';
import type { VmExitView } from '../../src/worker/vm-types.ts';
import { answerOf, describeLanguages, describeMachine, strayNumbers } from '../checks.ts';
import { playScripted as playScriptedRun } from '../checks.ts';
import scenario from './vmx-exit.json';
import example from '../../src/emu/scenario/examples/vtx-first-exit.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

const { machine, steps } = lesson;

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const reasons = refFile('vmx-exit-reasons.json') as Record<string, string>;
const ioQual = (refFile('vmx-exit-qualifications.json') as Record<string, Record<string, string>>).io_instruction!;
const encodings = refFile('vmcs-fields.json') as Record<string, string>;

/** The most steps a wait step may take (the scenario's guest exits for the last time at step 20). */
const WAIT_BUDGET = 40;

/** The run a student makes (lessons/checks.ts), every wait step reached one step at a time. */
async function playScripted() {
  const run = await playScriptedRun({ lesson, scenario, scenarioId: 'vmx', waitBudget: WAIT_BUDGET });
  return run;
}

const played = playScripted();

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

/** The exit the view's step made (exactly one). */
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
const write = (e: VmExitView, field: string) => e.accesses.find((a) => a.op === 'write' && a.field === field);

describe('lesson 03-vmx-exit: the scenario', () => {
  it('is the vtx-first-exit example\'s guest, under VT-x on an Intel processor', () => {
    expect(scenario.kernel.source).toBe(example.kernel.source);
    expect([scenario.technique, scenario.cpu.vendor, scenario.mode]).toEqual([example.technique, example.cpu.vendor, example.mode]);
    expect(scenario.kernel.source).toMatch(/xor eax, eax\n\s*cpuid[^\n]*\n\s*mov r12d, ebx/);
  });
});

describe('lesson 03-vmx-exit: a scripted run against the emulator', () => {
  it('completes with full marks, each wait met at the step the text describes', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '03-vmx-exit', step: steps.length - 1, reached: steps.length - 1, steps: steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
    // launch and first-exit: "step once" each.
    expect((await at('launch')).step).toBe(1);
    expect((await at('first-exit')).step).toBe(2);
  });

  it('launch: VMLAUNCH entered the guest, which ran its first instruction natively, in non-root operation', async () => {
    const v = await at('launch');
    expect(v.events.filter((e) => e.kind === 'vm/entry').map((e) => (e.kind === 'vm/entry' ? [e.instruction, e.failed] : null))).toEqual([['VMLAUNCH', undefined]]);
    expect(v.events.some((e) => e.kind === 'vm/exit')).toBe(false);
    expect(v.vm?.world).toBe('guest');
    expect(v.machine.cpl).toBe(0);
  });

  it('first-exit: CPUID exits first (nothing before it), reason 10 at 0x100002, handled and resumed with VMRESUME at 0x100004', async () => {
    const { events } = await played;
    const firstExit = events.find((e) => e.kind === 'vm/exit');
    expect(firstExit?.kind === 'vm/exit' ? [firstExit.code, firstExit.name, firstExit.rip] : null).toEqual([10, 'EXIT_REASON_CPUID', 0x100002n]);
    const v = await at('first-exit');
    const e = exitOf(v);
    expect([e.code, e.name, num(e.rip), e.entry, e.action]).toEqual([10, 'EXIT_REASON_CPUID', 0x100002, 'VMRESUME', 'emulated']);
    expect(v.events.filter((x) => x.kind === 'vm/entry').map((x) => (x.kind === 'vm/entry' ? [x.instruction, x.rip] : null))).toEqual([['VMRESUME', 0x100004n]]);
  });

  it('find-reason: the inspector lists VM_EXIT_REASON (the target) first, its bits 15:0 = 10 and bit 31 clear', async () => {
    const e = exitOf(await at('find-reason'));
    expect(e.info[0]?.field).toBe('VM_EXIT_REASON');
    const r = infoOf(e, 'VM_EXIT_REASON');
    expect(r.key).toBe(Number(encodings.VM_EXIT_REASON));
    expect(r.bits.map((b) => [b.lo, b.hi, b.value])).toEqual([[0, 15, 10], [31, 31, 0]]);
    expect(answerOf(lesson, 'find-reason')).toBe(`exit-${r.field}`);
    // The handler reads it first.
    expect(e.accesses[0]).toMatchObject({ op: 'read', field: 'VM_EXIT_REASON' });
  });

  it('handler: the path the text spells out: four result registers written, the length read, GUEST_RIP = RIP + 2 written', async () => {
    const e = exitOf(await at('first-exit'));
    const path = e.accesses.map((a) => `${a.op} ${a.field}`);
    const len = path.indexOf('read VM_EXIT_INSTRUCTION_LEN');
    const rip = path.lastIndexOf('write GUEST_RIP');
    expect(path.filter((p, i) => i < len && p.startsWith('write gpr.'))).toEqual(['write gpr.rax', 'write gpr.rbx', 'write gpr.rcx', 'write gpr.rdx']);
    expect(len).toBeGreaterThan(0);
    expect(path.slice(len, rip + 1)).toEqual(['read VM_EXIT_INSTRUCTION_LEN', 'read GUEST_RIP', 'write GUEST_RIP']);
    expect(num(infoOf(e, 'VM_EXIT_INSTRUCTION_LEN').value)).toBe(2);
    expect(num(write(e, 'GUEST_RIP')!.value)).toBe(0x100002 + 2);
  });

  it('io-exit: the OUT exits with reason 30 at 0x100014, qualification 0x3f80000 decoded as the text says, GUEST_RIP = 0x100015, H on the console', async () => {
    const v = await at('io-exit');
    const e = exitOf(v);
    expect([e.code, e.name, num(e.rip), e.entry, e.action]).toEqual([30, 'EXIT_REASON_IO_INSTRUCTION', 0x100014, 'VMRESUME', 'forwarded']);
    const q = infoOf(e, 'EXIT_QUALIFICATION');
    expect(num(q.value)).toBe(0x3f80000);
    expect(Object.fromEntries(q.bits.map((b) => [b.name, b.value]))).toEqual({
      'Size of access': 0, 'Direction of the attempted access': 0, 'String instruction': 0, 'REP prefixed': 0, 'Operand encoding': 0, 'Port number': 0x3f8,
    });
    expect(num(infoOf(e, 'VM_EXIT_INSTRUCTION_LEN').value)).toBe(1);
    expect(num(write(e, 'GUEST_RIP')!.value)).toBe(0x100015);
    expect(e.accesses.some((a) => a.op === 'read' && a.field === 'EXIT_QUALIFICATION')).toBe(true);
    expect(v.vm?.vms[0]?.console).toBe('H');
    // "one more CPUID exit (for the hypervisor's own leaf) and four instructions natively" on the way:
    // each step is one guest instruction, exiting or not.
    const { events } = await played;
    const exits = events.filter((x) => x.kind === 'vm/exit');
    expect(exits.map((x) => (x.kind === 'vm/exit' ? [x.code, x.info.EXIT_QUALIFICATION === undefined ? null : 'q'] : -1))).toEqual([[10, 'q'], [10, 'q'], [30, 'q']]);
    expect(v.step - (await at('first-exit')).step - 2).toBe(4);
    expect(e.guestSteps).toBe(2);
  });
});

/** The facts the text may state: the run's, and the architecture's from the reference tables and the VMX model. */
async function facts(): Promise<Map<string, number>> {
  const f = new Map<string, number>();
  const put = (name: string, value: number) => f.set(name, value);
  put('ring 0', 0);
  put('ring 3', 3);
  // Basic exit reasons the text names, each checked against the reference table by name.
  for (const [n, name] of [[0, 'EXCEPTION_NMI'], [1, 'EXTERNAL_INTERRUPT'], [2, 'TRIPLE_FAULT'], [10, 'CPUID'], [12, 'HLT'], [18, 'VMCALL'], [30, 'IO_INSTRUCTION']] as const) {
    expect(reasons[String(n)], String(n)).toBe(name);
    put(`exit reason ${name}`, n);
  }
  // The I/O exit qualification's layout (SDM Table 28-5), as the reference gives it.
  expect(ioQual['2:0']).toMatch(/^size of access minus 1: 0 = 1 byte/);
  expect(ioQual['3']).toBe('direction: 1 = IN, 0 = OUT');
  expect(ioQual['4']).toMatch(/^string/);
  expect(ioQual['5']).toMatch(/^REP/);
  expect(ioQual['6']).toBe('operand encoding: 1 = immediate port, 0 = DX');
  expect(ioQual['31:16']).toBe('port number');
  for (const [name, n] of [['size low bit', 0], ['size high bit', 2], ['direction bit', 3], ['string bit', 4], ['REP bit', 5], ['operand bit', 6], ['port low bit', 16], ['port high bit', 31], ['flag set', 1]] as const) put(name, n);
  // VM-instruction errors (SDM Table 31-1) as the VMX model numbers them.
  expect(VM_INSTRUCTION_ERRORS[4]).toBe('VMLAUNCH with non-clear VMCS');
  expect(VM_INSTRUCTION_ERRORS[5]).toBe('VMRESUME with non-launched VMCS');
  put('VMLAUNCH error', 4);
  put('VMRESUME error', 5);
  put('VM_EXIT_REASON encoding', Number(encodings.VM_EXIT_REASON));

  const cpuid = exitOf(await at('first-exit'));
  put('CPUID reason', cpuid.code);
  put('CPUID RIP', num(cpuid.rip));
  put('CPUID length', num(infoOf(cpuid, 'VM_EXIT_INSTRUCTION_LEN').value));
  put('CPUID next RIP', num(write(cpuid, 'GUEST_RIP')!.value));
  for (const b of infoOf(cpuid, 'VM_EXIT_REASON').bits) {
    put(`${b.name} low bit`, b.lo);
    put(`${b.name} high bit`, b.hi);
  }
  const io = exitOf(await at('io-exit'));
  put('OUT reason', io.code);
  put('OUT RIP', num(io.rip));
  put('OUT length', num(infoOf(io, 'VM_EXIT_INSTRUCTION_LEN').value));
  put('OUT next RIP', num(write(io, 'GUEST_RIP')!.value));
  const q = infoOf(io, 'EXIT_QUALIFICATION');
  put('OUT qualification', num(q.value));
  for (const b of q.bits) put(`qualification ${b.name}`, b.value);
  return f;
}

describe('lesson 03-vmx-exit: numbers in the text', () => {
  it('states the run\'s figures as the scenario produces them', async () => {
    expect(Object.fromEntries(await facts())).toMatchObject({
      'CPUID reason': 10,
      'CPUID RIP': 0x100002,
      'CPUID length': 2,
      'CPUID next RIP': 0x100004,
      'OUT reason': 30,
      'OUT RIP': 0x100014,
      'OUT length': 1,
      'OUT next RIP': 0x100015,
      'OUT qualification': 0x3f80000,
      'qualification Port number': 0x3f8,
      'qualification Size of access': 0,
      'VM_EXIT_REASON encoding': 0x4402,
    });
  });

  it('every number the lesson text states, in both languages, is one of those facts', async () => {
    expect(strayNumbers(lesson, new Set((await facts()).values()))).toEqual([]);
  });
});

describe('lesson 03-vmx-exit: answers and sentences against the run', () => {
  const answer = (id: string) => answerOf(lesson, id);

  it('each question\'s answer is what the run shows', async () => {
    const f = await facts();
    expect(answer('predict-first')).toBe('cpuid');
    expect(answer('predict-reason')).toBe(f.get('CPUID reason'));
    expect(answer('predict-resume')).toBe('vmresume');
    expect(exitOf(await at('first-exit')).entry).toBe('VMRESUME');
    expect(answer('predict-qual')).toBe(f.get('OUT qualification'));
    expect(answer('predict-rip')).toBe(f.get('OUT next RIP'));
    // The qualification is the port shifted by 16, every other field 0, as the text derives it.
    expect(answer('predict-qual')).toBe(0x3f8 * 2 ** 16);
  });

  it('the exits the text spells out are the run\'s', async () => {
    const cpuid = exitOf(await at('first-exit'));
    expect(en.steps['first-exit'].done).toContain(`reason ${cpuid.code} (${cpuid.name}), at guest RIP ${`0x${num(cpuid.rip).toString(16)}`}`);
    expect(zh.steps['first-exit'].done).toContain(`原因 ${cpuid.code}（${cpuid.name}），客户机 RIP 为 0x${num(cpuid.rip).toString(16)}`);
    const io = exitOf(await at('io-exit'));
    expect(en.steps['io-exit'].done).toContain(`Reason ${io.code}, ${io.name}, at guest RIP 0x${num(io.rip).toString(16)}. EXIT_QUALIFICATION = 0x${num(infoOf(io, 'EXIT_QUALIFICATION').value).toString(16)}`);
    expect(zh.steps['io-exit'].done).toContain(`原因 ${io.code}，${io.name}，客户机 RIP 为 0x${num(io.rip).toString(16)}。EXIT_QUALIFICATION = 0x${num(infoOf(io, 'EXIT_QUALIFICATION').value).toString(16)}`);
    expect(en.steps.handler.body).toContain('VM_EXIT_INSTRUCTION_LEN = 2 and GUEST_RIP = 0x100002, and VMWRITE GUEST_RIP = 0x100004');
  });
});
