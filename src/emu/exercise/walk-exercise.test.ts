import { describe, expect, it } from 'vitest';
import { refTranslate } from '../../../tests/oracle/paging-reference.ts';
import type { RefCtl } from '../../../tests/oracle/paging-reference.ts';
import { formatWalkExercise } from './format.ts';
import { checkWalkAnswer, generateWalkExercise, MODE_SPECS } from './walk-exercise.ts';
import type { WalkExercise, WalkLevels } from './walk-exercise.ts';

const LEVELS: WalkLevels[] = [2, 3, 4, 5];
const SEEDS = Array.from({ length: 150 }, (_, i) => i * 7919 + 3);

const big = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

function refCtl(ex: WalkExercise): RefCtl {
  const c = ex.control;
  return {
    mode: c.mode,
    cr3: big(c.cr3.lo, c.cr3.hi),
    wp: c.cr0Wp,
    pse: c.cr4Pse,
    pge: false,
    nxe: c.eferNxe,
    pdpte: c.pdpte.map((p) => big(p.lo, p.hi)),
    maxPhysAddr: c.maxPhysAddr,
  };
}

/** Entry address → value, from the printed pages only. */
function refMem(ex: WalkExercise): Map<bigint, bigint> {
  const m = new Map<bigint, bigint>();
  for (const p of ex.pages) for (const e of p.entries) m.set(BigInt(p.pa + e.index * p.entrySize), big(e.lo, p.entrySize === 8 ? e.hi : 0));
  return m;
}

describe('page-walk exercise generator', () => {
  it.each(LEVELS)('levels %i: the same seed gives the identical exercise and text; other seeds differ', (levels) => {
    const a = generateWalkExercise({ levels, seed: 42 });
    const b = generateWalkExercise({ levels, seed: 42 });
    expect(b).toEqual(a);
    expect(formatWalkExercise(b, { answers: true })).toBe(formatWalkExercise(a, { answers: true }));
    const texts = new Set([42, 43, 44, 2 ** 40 + 42].map((seed) => formatWalkExercise(generateWalkExercise({ levels, seed }), { answers: false }).replace(/seed \d+/, '')));
    expect(texts.size).toBe(4);
  });

  it.each(LEVELS)('levels %i: every answer agrees with the independent reference model (SDM, bigint)', (levels) => {
    for (const seed of SEEDS) {
      const ex = generateWalkExercise({ levels, seed, count: 6 });
      const ctl = refCtl(ex);
      const mem = refMem(ex);
      ex.questions.forEach((q, i) => {
        const ref = refTranslate(ctl, mem, big(q.la.lo, q.la.hi), q.access);
        const a = ex.answers[i]!;
        const where = `seed ${seed} question ${i + 1}`;
        expect(a.ok, where).toBe(ref.ok);
        if (a.ok) {
          expect(BigInt(a.pa), where).toBe(ref.pa);
          expect(BigInt(a.pageSize), where).toBe(ref.pageSize);
        } else {
          expect(a.errorCode, where).toBe(ref.errorCode);
          expect(a.faultLevel, where).toBe(ref.faultLevel);
        }
        expect(
          a.steps.map((s) => (s.fromRegister ? -1n : BigInt(s.entryPa))),
          where,
        ).toEqual(ref.reads);
        // Each step's entry value is what the dump shows at that address (0 if not shown).
        for (const s of a.steps) {
          if (s.fromRegister) continue;
          expect(big(s.entry.lo, s.entry.hi), where).toBe(mem.get(BigInt(s.entryPa)) ?? 0n);
        }
      });
    }
  });

  it.each(LEVELS)('levels %i: every problem has a fault and a translation; linear addresses are canonical', (levels) => {
    const spec = MODE_SPECS[levels];
    for (const seed of SEEDS) {
      for (const count of [2, 5]) {
        const ex = generateWalkExercise({ levels, seed, count });
        expect(ex.questions).toHaveLength(count);
        expect(ex.answers.some((a) => a.ok)).toBe(true);
        expect(ex.answers.some((a) => !a.ok)).toBe(true);
        for (const q of ex.questions) {
          const la = big(q.la.lo, q.la.hi);
          if (spec.laBits === 32) expect(la >> 32n).toBe(0n);
          else {
            const upper = la >> BigInt(spec.laBits - 1);
            expect([0n, (1n << BigInt(65 - spec.laBits)) - 1n]).toContain(upper);
          }
        }
      }
    }
  });

  it.each(LEVELS)('levels %i: over many seeds the problems cover not-present at every level, protection, reserved bits and large pages', (levels) => {
    const spec = MODE_SPECS[levels];
    const notPresent = new Set<string>();
    let prot = 0;
    let rsvd = 0;
    let large = 0;
    let protUser = 0;
    let protWrite = 0;
    let protFetch = 0;
    for (const seed of SEEDS) {
      const ex = generateWalkExercise({ levels, seed });
      for (const [i, a] of ex.answers.entries()) {
        if (a.ok) {
          if (a.pageSize > 4096) large++;
        } else if (!a.bits.p) notPresent.add(a.faultLevel);
        else if (a.bits.rsvd) rsvd++;
        else {
          prot++;
          const acc = ex.questions[i]!.access;
          if (acc.user) protUser++;
          if (acc.write) protWrite++;
          if (acc.fetch) protFetch++;
        }
      }
    }
    expect([...notPresent].sort()).toEqual([...spec.names].sort());
    expect(prot).toBeGreaterThan(20);
    expect(rsvd).toBeGreaterThan(5);
    expect(large).toBeGreaterThan(5);
    expect(protUser).toBeGreaterThan(0);
    expect(protWrite).toBeGreaterThan(0);
    if (levels !== 2) expect(protFetch).toBeGreaterThan(0);
  });

  it.each(LEVELS)('levels %i: the dump lists only non-zero entries, sorted, of page-aligned tables, and is plain JSON data', (levels) => {
    for (const seed of SEEDS.slice(0, 30)) {
      const ex = generateWalkExercise({ levels, seed });
      expect(JSON.parse(JSON.stringify(ex))).toEqual(ex);
      const pas = ex.pages.map((p) => p.pa);
      expect(pas).toEqual([...pas].sort((a, b) => a - b));
      expect(ex.pages.some((p) => p.pa === ex.control.cr3.lo)).toBe(true);
      for (const p of ex.pages) {
        expect(p.pa % 4096).toBe(0);
        expect(p.entrySize).toBe(levels === 2 ? 4 : 8);
        const idx = p.entries.map((e) => e.index);
        expect(idx).toEqual([...idx].sort((a, b) => a - b));
        for (const e of p.entries) expect(e.lo !== 0 || e.hi !== 0).toBe(true);
      }
    }
  });

  it('rejects levels, counts and seeds out of range, naming them', () => {
    expect(() => generateWalkExercise({ levels: 6 as WalkLevels, seed: 1 })).toThrow(/levels/);
    expect(() => generateWalkExercise({ levels: 4, seed: 1, count: 1 })).toThrow(/count/);
    expect(() => generateWalkExercise({ levels: 4, seed: -1 })).toThrow(/seed/);
    expect(() => generateWalkExercise({ levels: 4, seed: 1.5 })).toThrow(/seed/);
  });
});

describe('page-walk exercise text', () => {
  it.each(LEVELS)('levels %i: without answers no physical address, fault or error code appears; with answers all do', (levels) => {
    for (const seed of SEEDS.slice(0, 40)) {
      const ex = generateWalkExercise({ levels, seed });
      const plain = formatWalkExercise(ex, { answers: false });
      const keyed = formatWalkExercise(ex, { answers: true });
      expect(keyed.startsWith(plain)).toBe(true);
      for (const marker of ['Answer key', 'PA =', '#PF at', 'error code 0x', 'maps the page', 'LA ']) expect(plain).not.toContain(marker);
      for (const a of ex.answers) {
        if (a.ok) {
          const pa = `0x${a.pa.toString(16).padStart(8, '0')}`;
          expect(plain).not.toContain(pa);
          expect(keyed).toContain(`PA = ${pa}`);
        } else {
          expect(keyed).toContain(`#PF at the ${a.faultLevel}`);
          expect(keyed).toContain(`error code 0x${a.errorCode.toString(16)}:`);
        }
      }
    }
  });

  it('shows the control state, a legend, each table page by address and each entry in the mode\'s width', () => {
    const t32 = formatWalkExercise(generateWalkExercise({ levels: 2, seed: 5 }), { answers: false });
    expect(t32).toMatch(/CR4\.PSE {5}[01]/);
    expect(t32).not.toContain('EFER.NXE');
    expect(t32).toMatch(/\n {2}0x[0-9a-f]{8} {2}\[[0-9a-f]{3}\] {2}0x[0-9a-f]{8}\n/);
    const ex5 = generateWalkExercise({ levels: 5, seed: 5 });
    const t5 = formatWalkExercise(ex5, { answers: false });
    expect(t5).toContain('CR4.LA57    1');
    expect(t5).toMatch(/EFER\.NXE {4}[01]/);
    expect(t5).toContain('PML5 index 56:48');
    expect(t5).toContain('XD   bit 63');
    expect(t5).toMatch(/\n {2}0x[0-9a-f]{8} {2}\[[0-9a-f]{3}\] {2}0x[0-9a-f]{16}\n/);
    for (const p of ex5.pages) expect(t5).toContain(`page 0x${p.pa.toString(16).padStart(8, '0')}`);
  });
});

describe('checkWalkAnswer', () => {
  const all = LEVELS.flatMap((levels) => SEEDS.slice(0, 20).map((seed) => generateWalkExercise({ levels, seed })));

  it('accepts every right answer, with or without the faulting level', () => {
    for (const ex of all) {
      ex.answers.forEach((a, i) => {
        if (a.ok) expect(checkWalkAnswer(ex, i, { pa: a.pa })).toEqual({ correct: true });
        else {
          expect(checkWalkAnswer(ex, i, { fault: { errorCode: a.errorCode, level: a.faultLevel } })).toEqual({ correct: true });
          expect(checkWalkAnswer(ex, i, { fault: { errorCode: a.errorCode } })).toEqual({ correct: true });
        }
      });
    }
  });

  it('names what is wrong: offset, frame, fault versus address, each error-code bit, the level', () => {
    for (const ex of all) {
      ex.answers.forEach((a, i) => {
        if (a.ok) {
          const offBy = checkWalkAnswer(ex, i, { pa: a.pa % 2 === 0 ? a.pa + 1 : a.pa - 1 });
          expect(offBy).toEqual({ correct: false, wrong: [expect.stringContaining('offset') as string] });
          expect(JSON.stringify(offBy)).toContain('page frame is right');
          const frame = checkWalkAnswer(ex, i, { pa: a.pa + a.pageSize });
          expect(JSON.stringify(frame)).toContain('offset is right but the');
          expect(JSON.stringify(checkWalkAnswer(ex, i, { fault: { errorCode: 0 } }))).toContain('does not fault');
        } else {
          expect(JSON.stringify(checkWalkAnswer(ex, i, { pa: 0x1000 }))).toContain('the access faults');
          const flipP = checkWalkAnswer(ex, i, { fault: { errorCode: a.errorCode ^ 1 } });
          expect(flipP).toEqual({ correct: false, wrong: [expect.stringMatching(a.bits.p ? /^P should be 1/ : /^P should be 0/) as string] });
          const flipUs = checkWalkAnswer(ex, i, { fault: { errorCode: a.errorCode ^ 4, level: a.faultLevel } });
          expect(flipUs).toEqual({ correct: false, wrong: [expect.stringMatching(/^U\/S should be/) as string] });
          const flipAll = checkWalkAnswer(ex, i, { fault: { errorCode: a.errorCode ^ 0x1f } });
          expect(flipAll.correct ? [] : flipAll.wrong.map((w) => w.split(' ')[0])).toEqual(['P', 'W/R', 'U/S', 'RSVD', 'I/D']);
          const other = a.faultLevel === 'PTE' ? 'PDE' : 'PTE';
          expect(checkWalkAnswer(ex, i, { fault: { errorCode: a.errorCode, level: other } })).toEqual({
            correct: false,
            wrong: [`the fault is not caused by the ${other}`],
          });
        }
      });
    }
  });

  it('rejects a question number that does not exist', () => {
    const ex = all[0]!;
    expect(() => checkWalkAnswer(ex, ex.questions.length, { pa: 0 })).toThrow(/question/);
  });
});
