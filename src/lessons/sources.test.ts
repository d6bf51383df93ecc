import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCALES } from '../i18n/messages.ts';
import { fact, FACTS, GRADES, plain, sourceAnchor, type Grade } from './sources.ts';

const md = readFileSync(resolve(import.meta.dirname, '../../tests/reference/teaching-facts.md'), 'utf8');

interface Row {
  figure: string;
  value: string;
  grade: Grade;
  gradeNote: string;
  source: string;
}

/** The rows of teaching-facts.md's cost table, the grade split from its note and "same" resolved. */
function costRows(): Row[] {
  const section = md.slice(md.indexOf('## Costs'), md.indexOf('\n## ', md.indexOf('## Costs') + 1));
  const lines = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !l.startsWith('| figure'));
  const rows: Row[] = [];
  for (const line of lines) {
    const cells = line.slice(2, -2).split(' | ');
    expect(cells, line).toHaveLength(4);
    const [figure = '', value = '', gradeCell = '', sourceCell = ''] = cells;
    const grade = GRADES.find((g) => gradeCell === g || gradeCell.startsWith(`${g} `));
    if (grade === undefined) throw new Error(`teaching-facts.md: no grade in "${gradeCell}"`);
    const source = sourceCell === 'same' ? (rows.at(-1)?.source ?? '') : sourceCell;
    rows.push({ figure, value, grade, gradeNote: gradeCell.slice(grade.length).trim(), source });
  }
  return rows;
}

/** The section of teaching-facts.md under a heading that starts `## <figure>`, its line breaks as spaces. */
function proseSection(figure: string): string | null {
  const at = md.indexOf(`## ${figure}`);
  if (at < 0) return null;
  const end = md.indexOf('\n## ', at + 3);
  return md.slice(at, end < 0 ? undefined : end).replace(/\s+/g, ' ');
}

describe('the sources lessons cite are teaching-facts.md’s own words', () => {
  const rows = costRows();

  it('parses the cost table', () => {
    expect(rows.length).toBeGreaterThanOrEqual(10);
  });

  it('every fact matches its row (figure, value, grade, note, source) or its quoted section', () => {
    for (const f of FACTS) {
      const row = rows.find((r) => r.figure === f.figure);
      if (row !== undefined) {
        expect({ figure: f.figure, value: f.value, grade: f.grade, gradeNote: f.gradeNote, source: f.source }, f.id).toEqual(row);
        continue;
      }
      const section = proseSection(f.figure);
      expect(section, `${f.id}: neither a table row nor a section of teaching-facts.md`).not.toBeNull();
      expect(section, f.id).toContain(f.value);
      expect(section, f.id).toContain(`(grade: ${f.grade})`);
      expect(f.figure, f.id).toContain(f.source);
    }
  });

  it('lists every row of the cost table once', () => {
    for (const r of rows) expect(FACTS.filter((f) => f.figure === r.figure).length, r.figure).toBe(1);
  });

  it('offers no figure graded "not found" for a lesson to state', () => {
    const notFound = rows.filter((r) => r.grade === 'not found').map((r) => r.figure);
    for (const f of FACTS) {
      expect(f.grade as Grade).not.toBe('not found');
      expect(notFound).not.toContain(f.figure);
    }
  });

  it('states no number, in either language, that the row does not give', () => {
    for (const f of FACTS) {
      const said = `${f.figure} ${f.value} ${f.source}`;
      for (const l of LOCALES) {
        const numbers = f.say[l].match(/\d+(?:[.,]\d+)*/g) ?? [];
        for (const n of numbers) expect(said, `${f.id} (${l}) says ${n}`).toContain(n);
        expect(f.say[l].trim().length, `${f.id} ${l}`).toBeGreaterThan(10);
      }
    }
  });

  it('has unique, anchor-safe ids, found by fact()', () => {
    const ids = FACTS.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(fact(id)?.id).toBe(id);
      expect(sourceAnchor(id)).toBe(`source-${id}`);
    }
    expect(fact('no-such-fact')).toBeUndefined();
  });

  it('shows the file’s words without Markdown marks', () => {
    expect(plain('Bugnion, *Hardware and Software Support* (2017); `paper-anchors.json`')).toBe('Bugnion, Hardware and Software Support (2017); paper-anchors.json');
    expect(FACTS.some((f) => f.source !== plain(f.source))).toBe(true);
  });
});
