import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from './lab.ts';
import { compareScenario } from '../emu/hv/compare.ts';

const EXAMPLES = join(import.meta.dirname, '../emu/scenario/examples');

describe('lab compare', () => {
  const r = compareScenario(JSON.parse(readFileSync(join(EXAMPLES, 'mm-workload.json'), 'utf8')));
  it('is a command: lab compare FILE.json, as a table or as JSON', () => {
    let out = '';
    let err = '';
    expect(main(['compare', '--format', 'json', join(EXAMPLES, 'mm-workload.json')], (s) => (out += s), (s) => (err += s))).toBe(0);
    expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(r)));
    out = '';
    expect(main(['compare', '--format', 'csv', join(EXAMPLES, 'mm-workload.json')], (s) => (out += s), (s) => (err += s))).toBe(2);
    expect(err).toContain("--format: 'csv' is not table or json");
  });

  it('names the file and the field of a bad scenario', () => {
    let err = '';
    expect(main(['compare', join(EXAMPLES, 'two-vms.json')], () => {}, (s) => (err += s))).toBe(1);
    expect(err).toContain('two-vms.json: vms: the comparison runs one guest');
  });
});
