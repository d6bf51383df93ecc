import { describe, expect, it } from 'vitest';
import '../../i18n/parts/practice.ts';
import { LOCALES } from '../../i18n/messages.ts';
import { generateVmexitExercise, noteEnglish, VMEXIT_KINDS } from '../../emu/exercise/vmexit-exercise.ts';
import { translator } from '../cpu/text.ts';
import { checkVmexit, emptyVmexitRaw, fieldsFor, VMEXIT_REASONS, whyVmexit, type VmexitField } from './vmexit-check.ts';
import { fieldOptions, itemLabel, noteText, reasonLabel, wantText, whyText } from './vmexit-text.ts';

const exs = Array.from({ length: 40 }, (_, seed) => generateVmexitExercise({ seed, count: VMEXIT_KINDS.length }));
const problems = exs.flatMap((ex) => ex.problems.map((p, i) => ({ p, a: ex.answers[i]! })));

describe('VM-exit problems in words', () => {
  it.each(LOCALES)('%s: restates every note the generator writes, and fills every sentence', (locale) => {
    const t = translator(locale);
    const texts: string[] = [];
    for (const { p, a } of problems) {
      for (const c of p.controls) {
        if (c.note === undefined) continue;
        // Every note comes as data too, and its English words are the command line's.
        expect(c.noteData, c.note).toBeDefined();
        expect(noteEnglish(c.noteData!)).toBe(c.note);
        const s = noteText(t, c.noteData!);
        if (locale === 'zh-CN') expect(s, c.note).not.toBe(c.note);
        texts.push(s);
      }
      // The verdicts of a blank answer and of "an exit with every field left blank" name every item there is.
      for (const raw of [emptyVmexitRaw(), { ...emptyVmexitRaw(), outcome: 'exit' as const, reason: a.exit ? String(a.reason) : '' }]) {
        const m = checkVmexit(a, raw);
        if (m.kind !== 'marked') throw new Error('unread');
        for (const v of m.verdicts) texts.push(itemLabel(t, v.item), wantText(t, v, a, p.bits), whyText(t, v, p, a));
      }
      texts.push(t(`practice.vx.why.${whyVmexit(p).key}` as never, whyVmexit(p).values));
    }
    const fields = new Set<VmexitField>([...VMEXIT_REASONS.flatMap(([n]) => [0, 1, 2, 3].flatMap((at) => fieldsFor(n, at)))]);
    for (const f of fields) {
      texts.push(itemLabel(t, f));
      for (const o of fieldOptions(t, f, 64)) texts.push(o.label);
    }
    for (const s of texts) {
      expect(s).not.toMatch(/\{\w+\}/);
      expect(s).not.toMatch(/^practice\./);
      expect(s.trim().length).toBeGreaterThan(0);
    }
  });

  it('labels reasons “number NAME” and offers each qualification field’s values', () => {
    expect(reasonLabel(28)).toBe('28 CR_ACCESS');
    expect(reasonLabel(0)).toBe('0 EXCEPTION_NMI');
    const en = translator('en');
    expect(fieldOptions(en, 'gpr', 32).map((o) => o.label)).toEqual(['0 EAX', '1 ECX', '2 EDX', '3 EBX', '4 ESP', '5 EBP', '6 ESI', '7 EDI']);
    expect(fieldOptions(en, 'size', 64).map((o) => o.value)).toEqual(['1', '2', '4']);
    // Every value a key holds is one the student can choose.
    for (const { a, p } of problems) {
      if (!a.exit) continue;
      for (const f of a.qualificationFields) {
        const opts = fieldOptions(en, f.name as VmexitField, p.bits);
        if (opts.length === 0) continue;
        const want = f.name === 'size' ? [1, 2, 0, 4][f.value] : f.value;
        expect(opts.map((o) => o.value), `${f.name} of ${p.asm}`).toContain(String(want));
      }
    }
  });

  it('words the example the brief gives', () => {
    const hlt = problems.find(({ p, a }) => p.kind === 'hlt' && !a.exit)!;
    expect(translator('en')(`practice.vx.why.${whyVmexit(hlt.p).key}` as never, whyVmexit(hlt.p).values)).toBe('HLT exiting is 0, so HLT runs in the guest, which halts.');
  });
});
