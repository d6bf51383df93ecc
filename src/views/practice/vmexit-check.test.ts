import { describe, expect, it } from 'vitest';
import { generateVmexitExercise, VMEXIT_KINDS, type VmexitAnswer, type VmexitProblem } from '../../emu/exercise/vmexit-exercise.ts';
import { exitReasonInfo } from '../../emu/vmx/exit-reasons.ts';
import { Primary } from '../../emu/vmx/controls.ts';
import { checkVmexit, emptyVmexitRaw, fieldsFor, keyFields, PRIMARY_BITS, VMEXIT_REASONS, whyVmexit, type VmexitRaw } from './vmexit-check.ts';

const all: { p: VmexitProblem; a: VmexitAnswer }[] = [];
for (let seed = 0; seed < 60; seed++) {
  const ex = generateVmexitExercise({ seed, count: VMEXIT_KINDS.length });
  ex.problems.forEach((p, i) => all.push({ p, a: ex.answers[i]! }));
}
type Exit = Extract<VmexitAnswer, { exit: true }>;
const exits = all.filter((x): x is { p: VmexitProblem; a: Exit } => x.a.exit);

/** The right answer to a key, as the student would enter it. */
function rightRaw(a: VmexitAnswer): VmexitRaw {
  if (!a.exit) return { ...emptyVmexitRaw(), outcome: 'none' };
  const want = keyFields(a);
  const fields: VmexitRaw['fields'] = {};
  for (const f of fieldsFor(a.reason, want.accessType)) fields[f] = f === 'port' || f === 'linear' || f === 'lmswSource' ? `0x${want[f]!.toString(16)}` : String(want[f]);
  return { outcome: 'exit', reason: String(a.reason), fields, length: a.instructionLength === null ? 'undefined' : String(a.instructionLength) };
}

describe('checking a VM-exit answer', () => {
  it('offers every reason the generator produces, named as the SDM table names it', () => {
    for (const [n, name] of VMEXIT_REASONS) expect(exitReasonInfo(n)?.name).toBe(name);
    for (const { a } of exits) expect(VMEXIT_REASONS.map(([n]) => n)).toContain(a.reason);
  });

  it('keeps its control bits equal to the VMX model’s', () => {
    for (const [k, v] of Object.entries(PRIMARY_BITS)) expect(Primary[k], k).toBe(v);
  });

  it('marks the right answer right, every field of it, for every problem', () => {
    for (const { a } of all) {
      const m = checkVmexit(a, rightRaw(a));
      expect(m.kind).toBe('marked');
      if (m.kind === 'marked') {
        expect(m.right).toBe(true);
        expect(m.verdicts.every((v) => v.right && !v.missing)).toBe(true);
      }
    }
  });

  it('says “no VM exit” is wrong for an exit and an exit is wrong for “no VM exit”', () => {
    const e = exits[0]!.a;
    const none = all.find((x) => !x.a.exit)!.a;
    const m1 = checkVmexit(e, { ...emptyVmexitRaw(), outcome: 'none' });
    expect(m1).toEqual({ kind: 'marked', right: false, verdicts: [{ item: 'outcome', right: false, missing: false, want: null }] });
    const m2 = checkVmexit(none, { outcome: 'exit', reason: '10', fields: {}, length: '2' });
    expect(m2.kind === 'marked' && !m2.right && m2.verdicts[0]!.item === 'outcome').toBe(true);
    const m3 = checkVmexit(none, emptyVmexitRaw());
    expect(m3.kind === 'marked' && m3.verdicts[0]!.missing).toBe(true);
  });

  it('marks each wrong field wrong, and only that one, with the key’s value', () => {
    let checked = 0;
    for (const { a } of exits) {
      const raw = rightRaw(a);
      for (const f of Object.keys(raw.fields) as (keyof VmexitRaw['fields'])[]) {
        const want = keyFields(a)[f]!;
        // A value the field cannot have here: one more (an access type change changes which fields there are, so skip it).
        if (f === 'accessType') continue;
        const wrong = { ...raw, fields: { ...raw.fields, [f]: f === 'port' || f === 'linear' || f === 'lmswSource' ? `0x${(want + 1).toString(16)}` : String(want + 1) } };
        const m = checkVmexit(a, wrong);
        expect(m.kind).toBe('marked');
        if (m.kind !== 'marked') continue;
        expect(m.right).toBe(false);
        expect(m.verdicts.filter((v) => !v.right)).toEqual([{ item: f, right: false, missing: false, want }]);
        checked++;
      }
      const badLength = checkVmexit(a, { ...raw, length: a.instructionLength === null ? '2' : 'undefined' });
      expect(badLength.kind === 'marked' && badLength.verdicts.filter((v) => !v.right).map((v) => v.item)).toEqual(['length']);
      const badReason = checkVmexit(a, { ...raw, reason: a.reason === 10 ? '12' : '10' });
      expect(badReason.kind === 'marked' && badReason.verdicts.filter((v) => !v.right).map((v) => [v.item, v.want])).toEqual([['reason', a.reason]]);
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('counts an empty field as missing and wrong, and refuses unreadable hex without checking', () => {
    const io = exits.find((x) => x.a.reason === 30)!.a;
    const raw = rightRaw(io);
    const m = checkVmexit(io, { ...raw, fields: { ...raw.fields, port: '' } });
    expect(m.kind === 'marked' && m.verdicts.find((v) => v.item === 'port')).toMatchObject({ right: false, missing: true });
    expect(checkVmexit(io, { ...raw, fields: { ...raw.fields, port: '0x3g8' } })).toEqual({ kind: 'unread', field: 'port' });
  });

  it('asks for the CR-access fields the access type has', () => {
    expect(fieldsFor(28, 0)).toEqual(['cr', 'accessType', 'gpr']);
    expect(fieldsFor(28, 2)).toEqual(['cr', 'accessType']);
    expect(fieldsFor(28, 3)).toEqual(['cr', 'accessType', 'lmswOperand', 'lmswSource']);
    expect(fieldsFor(30)).toEqual(['size', 'direction', 'string', 'rep', 'operand', 'port']);
    expect(fieldsFor(14)).toEqual(['linear']);
    expect(fieldsFor(10)).toEqual([]);
  });

  it('explains each problem with a sentence whose verdict is the key’s', () => {
    for (const { p, a } of all) expect(whyVmexit(p).exit, `${p.kind} ${p.asm}`).toBe(a.exit);
    const keys = new Set(all.map(({ p }) => whyVmexit(p).key));
    expect(keys.size).toBeGreaterThan(15);
  });
});
