/**
 * The VM-exit exercise: determinism by seed, and every generated key (which the generator reads back
 * from the lab's VT-x runner) agreeing with the SDM rule its problem exercises, restated here from
 * the problem's own data (Vol. 3C 26.1–26.2, 25.6.4, 25.6.6, 25.6.7, 25.6.9, 28.2.1).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CR0 } from '../cpu/sys-util.ts';
import { Primary } from '../vmx/controls.ts';
import { generateVmexitExercise, msrBitmapPosition, VMEXIT_KINDS, type VmexitAnswer, type VmexitProblem } from './vmexit-exercise.ts';
import { formatVmexitExercise } from './vmexit-format.ts';

const SEEDS = 240;
const COUNT = VMEXIT_KINDS.length;

const all: { p: VmexitProblem; a: VmexitAnswer; seed: number }[] = [];
for (let seed = 0; seed < SEEDS; seed++) {
  const ex = generateVmexitExercise({ seed, count: COUNT });
  ex.problems.forEach((p, i) => all.push({ p, a: ex.answers[i]!, seed }));
}

const on = (p: VmexitProblem, name: string): boolean => (p.setup.primary & Primary[name]!) !== 0;
const REASON = { EXCEPTION: 0, CPUID: 10, HLT: 12, INVLPG: 14, RDTSC: 16, VMCALL: 18, CR: 28, IO: 30, RDMSR: 31, WRMSR: 32 };

/** What the SDM says the problem does: an exit with its reason and the qualification's fields, or the guest's own outcome. */
type Expected =
  | { exit: true; reason: number; qual?: Record<string, number>; qualification?: number; vector?: number; type?: number }
  | { exit: false; outcome: 'ran' | 'halted' | 'delivered' };

function expected(p: VmexitProblem): Expected {
  const s = p.setup;
  const i = p.insn;
  const ran = { exit: false, outcome: 'ran' } as const;
  switch (p.kind) {
    case 'cpuid':
      return { exit: true, reason: REASON.CPUID, qualification: 0 };
    case 'vmcall':
      return { exit: true, reason: REASON.VMCALL, qualification: 0 };
    case 'hlt':
      return on(p, 'HLT_EXITING') ? { exit: true, reason: REASON.HLT, qualification: 0 } : { exit: false, outcome: 'halted' };
    case 'rdtsc':
      return on(p, 'RDTSC_EXITING') ? { exit: true, reason: REASON.RDTSC, qualification: 0 } : ran;
    case 'invlpg':
      return on(p, 'INVLPG_EXITING') ? { exit: true, reason: REASON.INVLPG, qualification: i.linear! } : ran;
    case 'rdmsr':
    case 'wrmsr': {
      const write = p.kind === 'wrmsr';
      const reason = write ? REASON.WRMSR : REASON.RDMSR;
      if (!on(p, 'USE_MSR_BITMAPS')) return { exit: true, reason, qualification: 0 };
      const pos = msrBitmapPosition(i.msr!, write);
      if (pos === null) return { exit: true, reason, qualification: 0 };
      const b = s.msrBits.find((x) => x.quarter === pos.quarter && x.offset === pos.offset && x.bit === pos.bit);
      return b?.set === true ? { exit: true, reason, qualification: 0 } : ran;
    }
    case 'io':
    case 'string-io': {
      let exits: boolean;
      if (on(p, 'USE_IO_BITMAPS')) {
        const ports = Array.from({ length: i.size! }, (_, k) => i.port! + k);
        exits = ports.some((q) => q > 0xffff || s.ioBits.some((b) => b.port === q && b.set));
      } else exits = on(p, 'UNCONDITIONAL_IO_EXITING');
      if (!exits) return ran;
      const qual = { size: i.size! - 1, direction: i.direction === 'in' ? 1 : 0, string: i.string ? 1 : 0, rep: i.rep ? 1 : 0, operand: i.immediate ? 1 : 0, port: i.port! };
      return { exit: true, reason: REASON.IO, qual };
    }
    case 'mov-to-cr0':
      return ((i.source! ^ s.cr0Shadow) & s.cr0Mask) !== 0 ? { exit: true, reason: REASON.CR, qual: { cr: 0, accessType: 0, gpr: i.gpr! } } : ran;
    case 'mov-to-cr4':
      return ((i.source! ^ s.cr4Shadow) & s.cr4Mask) !== 0 ? { exit: true, reason: REASON.CR, qual: { cr: 4, accessType: 0, gpr: i.gpr! } } : ran;
    case 'mov-from-cr':
      return ran; // MOV from CR0/CR4 never exits: host-owned bits read the shadow
    case 'mov-to-cr3': {
      const target = s.cr3Targets.slice(0, s.cr3TargetCount).includes(i.source!);
      return on(p, 'CR3_LOAD_EXITING') && !target ? { exit: true, reason: REASON.CR, qual: { cr: 3, accessType: 0, gpr: i.gpr! } } : ran;
    }
    case 'mov-from-cr3':
      return on(p, 'CR3_STORE_EXITING') ? { exit: true, reason: REASON.CR, qual: { cr: 3, accessType: 1, gpr: i.gpr! } } : ran;
    case 'mov-cr8': {
      const write = i.source !== undefined;
      const exits = on(p, write ? 'CR8_LOAD_EXITING' : 'CR8_STORE_EXITING');
      return exits ? { exit: true, reason: REASON.CR, qual: { cr: 8, accessType: write ? 0 : 1, gpr: i.gpr! } } : ran;
    }
    case 'clts': {
      const ts = CR0.TS;
      return (s.cr0Mask & ts) !== 0 && (s.cr0Shadow & ts) !== 0 ? { exit: true, reason: REASON.CR, qual: { cr: 0, accessType: 2 } } : ran;
    }
    case 'lmsw': {
      const src = i.source!;
      const pe = (s.cr0Mask & CR0.PE) !== 0 && (s.cr0Shadow & CR0.PE) === 0 && (src & CR0.PE) !== 0;
      const others = ((src ^ s.cr0Shadow) & s.cr0Mask & (CR0.MP | CR0.EM | CR0.TS)) !== 0;
      return pe || others ? { exit: true, reason: REASON.CR, qual: { cr: 0, accessType: 3, lmswOperand: i.lmswMemory ? 1 : 0, lmswSource: src } } : ran;
    }
    case 'exception': {
      if (i.vector === undefined) return ran;
      if (((s.exceptionBitmap >>> i.vector) & 1) === 0) return { exit: false, outcome: 'delivered' };
      // #BP (INT3) and #OF (INTO) are software exceptions (type 6); #DE and #UD hardware exceptions (type 3).
      return { exit: true, reason: REASON.EXCEPTION, qualification: 0, vector: i.vector, type: i.vector === 3 || i.vector === 4 ? 6 : 3 };
    }
  }
}

describe('vmexit exercise: the same seed gives the same problems', () => {
  it('is deterministic, JSON-serializable, and a longer list extends a shorter one', () => {
    const a = generateVmexitExercise({ seed: 1234, count: 10 });
    const b = generateVmexitExercise({ seed: 1234, count: 10 });
    expect(b).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    const longer = generateVmexitExercise({ seed: 1234, count: 20 });
    expect(longer.problems.slice(0, 10)).toEqual(a.problems);
    expect(longer.answers.slice(0, 10)).toEqual(a.answers);
  });

  it('different seeds give different exercises', () => {
    const texts = new Set<string>();
    for (let seed = 0; seed < 30; seed++) texts.add(JSON.stringify(generateVmexitExercise({ seed, count: 6 }).problems));
    expect(texts.size).toBe(30);
  });

  it('rejects a bad seed or count', () => {
    expect(() => generateVmexitExercise({ seed: -1 })).toThrow(RangeError);
    expect(() => generateVmexitExercise({ seed: 1, count: 0 })).toThrow(RangeError);
    expect(() => generateVmexitExercise({ seed: 1, count: 41 })).toThrow(RangeError);
  });
});

describe(`vmexit exercise: every key over ${SEEDS} seeds follows the SDM rule it exercises`, () => {
  it('covers every kind, both exits and non-exits, and both guest modes', () => {
    const seen = new Set(all.map(({ p, a }) => `${p.kind}:${a.exit}`));
    for (const k of VMEXIT_KINDS) {
      if (k !== 'cpuid' && k !== 'vmcall') expect(seen.has(`${k}:false`), `${k} without an exit`).toBe(true);
      if (k !== 'mov-from-cr') expect(seen.has(`${k}:true`), `${k} with an exit`).toBe(true);
    }
    expect(new Set(all.map(({ p }) => p.bits))).toEqual(new Set([32, 64]));
    const outcomes = new Set(all.map(({ a }) => (a.exit ? 'exit' : a.outcome)));
    expect(outcomes).toEqual(new Set(['exit', 'ran', 'halted', 'delivered']));
  });

  it('exit or not, the reason, the qualification fields, the interruption information', () => {
    const bad: string[] = [];
    for (const { p, a, seed } of all) {
      const e = expected(p);
      const where = `seed ${seed} ${p.bits}-bit ${p.asm}`;
      if (e.exit !== a.exit) {
        bad.push(`${where}: expected ${e.exit ? 'an exit' : 'no exit'}, key says ${JSON.stringify(a)}`);
        continue;
      }
      if (!e.exit || !a.exit) {
        if (!e.exit && !a.exit && e.outcome !== a.outcome) bad.push(`${where}: outcome ${a.outcome}, expected ${e.outcome}`);
        continue;
      }
      if (a.reason !== e.reason) bad.push(`${where}: reason ${a.reason}, expected ${e.reason}`);
      if (e.qualification !== undefined && a.qualification !== e.qualification) bad.push(`${where}: qualification ${a.qualification}, expected ${e.qualification}`);
      const fields = Object.fromEntries(a.qualificationFields.map((f) => [f.name, f.value]));
      for (const [k, v] of Object.entries(e.qual ?? {})) if (fields[k] !== v) bad.push(`${where}: qualification ${k} = ${fields[k]}, expected ${v}`);
      if (e.vector !== undefined) {
        const f = Object.fromEntries(a.interruption!.fields.map((x) => [x.name, x.value]));
        if (f.vector !== e.vector || f.type !== e.type || f.valid !== 1 || f.errorCodeValid !== 0) bad.push(`${where}: interruption ${JSON.stringify(f)}`);
      } else if (a.interruption !== null) bad.push(`${where}: interruption information on a non-exception exit`);
      // Instruction length: the instruction's own bytes, except for hardware exceptions (undefined).
      const n = p.bytes.split(' ').length;
      const hardware = e.type === 3;
      if (hardware ? a.instructionLength !== null : a.instructionLength !== n) bad.push(`${where}: length ${a.instructionLength}, bytes ${n}`);
      if (a.guestRip !== p.rip) bad.push(`${where}: guest RIP ${a.guestRip}`);
    }
    expect(bad.slice(0, 20)).toEqual([]);
  });

  it('spot checks in the words of the brief', () => {
    const cpuid = all.filter(({ p }) => p.kind === 'cpuid');
    expect(cpuid.every(({ a }) => a.exit && a.reason === 10 && a.name === 'CPUID')).toBe(true);
    const cr3 = all.filter(({ p, a }) => p.kind === 'mov-to-cr3' && a.exit);
    expect(cr3.length).toBeGreaterThan(0);
    for (const { p, a } of cr3) {
      expect(a.exit && a.reason).toBe(28);
      const f = a.exit ? Object.fromEntries(a.qualificationFields.map((x) => [x.name, x.value])) : {};
      expect([f.cr, f.accessType, f.gpr]).toEqual([3, 0, p.insn.gpr]);
    }
    // OUT with its bitmap bits clear and unconditional I/O exiting off runs in the guest.
    const quietOut = all.filter(({ p }) => p.kind === 'io' && p.insn.direction === 'out' && !on(p, 'UNCONDITIONAL_IO_EXITING') && p.setup.ioBits.every((b) => !b.set) && (p.insn.port! + p.insn.size! <= 0x10000));
    expect(quietOut.length).toBeGreaterThan(0);
    expect(quietOut.every(({ a }) => !a.exit)).toBe(true);
  });

  it('exit reason numbers and names equal the reference table', () => {
    const ref = JSON.parse(readFileSync('tests/reference/vmx-exit-reasons.json', 'utf8')) as Record<string, unknown>;
    const used = new Map<number, string>();
    for (const { a } of all) if (a.exit) used.set(a.reason, a.name);
    expect(used.size).toBeGreaterThanOrEqual(9);
    for (const [n, name] of used) expect(ref[String(n)], `reason ${n}`).toBe(name);
  });

  it('the text shows the problem without the key, and the key only with answers', () => {
    const ex = generateVmexitExercise({ seed: 99, count: COUNT });
    const plain = formatVmexitExercise(ex, { answers: false });
    const keyed = formatVmexitExercise(ex, { answers: true });
    expect(keyed.startsWith(plain)).toBe(true);
    expect(plain).not.toMatch(/Answer key|VM exit, reason|no VM exit/);
    for (const p of ex.problems) expect(plain).toContain(p.asm);
    for (const a of ex.answers) if (a.exit) expect(keyed).toContain(`reason ${a.reason} ${a.name}`);
  });
});
