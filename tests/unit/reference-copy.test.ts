import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const copy = join(root, 'tests/reference');
const shared = join(root, '../shared/reference');

describe('tests/reference is an exact copy of the shared reference tables', () => {
  const files = readdirSync(copy).filter((f) => f !== 'COPY.md');

  it('holds the tables', () => {
    expect(files).toContain('x86-paging.json');
    for (const f of files.filter((f) => f.endsWith('.json'))) expect(() => JSON.parse(readFileSync(join(copy, f), 'utf8'))).not.toThrow();
  });

  it.skipIf(!existsSync(shared))('matches ../shared/reference file for file', () => {
    expect(files.sort()).toEqual(readdirSync(shared).sort());
    for (const f of files) expect(readFileSync(join(copy, f), 'utf8'), f).toBe(readFileSync(join(shared, f), 'utf8'));
  });
});
if (!existsSync(shared)) console.warn('reference-copy: ../shared/reference is not beside this clone; the copy is not compared with it');
