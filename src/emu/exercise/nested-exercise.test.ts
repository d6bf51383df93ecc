import { describe, expect, it } from 'vitest';
import { generateNestedExercise, gridCoords, guestLevelsRead, GPA_TO_HPA, NestedWorld } from './nested-exercise.ts';
import { rng } from './rng.ts';

describe('exercise nested', () => {
  it('is deterministic per seed and plain data', () => {
    const a = generateNestedExercise({ seed: 12 });
    expect(generateNestedExercise({ seed: 12 })).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(a.questions.length).toBe(3);
    expect(generateNestedExercise({ seed: 13 })).not.toEqual(a);
  });

  it('every answer fits the 2D walk: (n+1)(m+1) − 1 references for a translation, the guest column on a guest entry, the final address through the nested map', () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const ex = generateNestedExercise({ seed, count: 4 });
      const m = ex.spec.nestedLevels - (ex.spec.nestedShift - 12) / 9;
      ex.answers.forEach((a, i) => {
        kinds.add(a.kind);
        const q = ex.questions[i]!;
        expect(q.k).toBeGreaterThanOrEqual(1);
        expect(q.k).toBeLessThanOrEqual(a.refs);
        if (a.kind === 'ok') {
          expect((a.refs + 1) % (m + 1)).toBe(0);
          expect(a.hpa).toBe(a.gpa! + GPA_TO_HPA);
        }
        if (a.kth.col === 'guest') expect(a.kth.hpa).toBe(a.kth.gpa! + GPA_TO_HPA);
        else expect(a.kth.gpa).toBeNull();
      });
    }
    expect([...kinds].sort()).toEqual(['guest-fault', 'nested-fault', 'ok']);
  });

  it('rejects a bad seed or count', () => {
    expect(() => generateNestedExercise({ seed: -1 })).toThrow(/seed/);
    expect(() => generateNestedExercise({ seed: 1, count: 0 })).toThrow(/count/);
  });
});

describe('gridCoords', () => {
  it('puts a failed nested walk of a guest table on the row of the entry it was reaching', () => {
    const w = new NestedWorld({ vendor: 'ept', guest: '4level', nestedLevels: 4, nestedShift: 12 }, rng(2));
    const m = w.addMapping(0);
    const { la } = w.addressIn(m);
    w.clearNestedEntry(m.entries[2]!, 3);
    const r = w.translate(la, { write: false, fetch: false, user: true });
    expect(r.kind).toBe('nested-fault');
    const c = gridCoords(r.refs, guestLevelsRead('4level', 'ept'));
    expect(c.length).toBe(14);
    expect(c.slice(10).map((x) => x.row)).toEqual(['PDE', 'PDE', 'PDE', 'PDE']);
  });

  it('Intel PAE reads no PDPTE; AMD PAE reads it first', () => {
    expect(guestLevelsRead('pae', 'ept')).toEqual(['PDE', 'PTE']);
    expect(guestLevelsRead('pae', 'npt')).toEqual(['PDPTE', 'PDE', 'PTE']);
  });
});
