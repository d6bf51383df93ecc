import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, parseNumber } from './lab.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'lab-test-'));
const bin = join(dir, 'p.bin');
// mov al, 'o'; out 0xe9, al; hlt (32-bit)
writeFileSync(bin, new Uint8Array([0xb0, 0x6f, 0xe6, 0xe9, 0xf4]));

describe('lab exec command line', () => {
  it('runs a file and prints the exec JSON with keys in the documented order', () => {
    const r = call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { exits: unknown[]; end: string; regs: Record<string, number> };
    expect(Object.keys(j)).toEqual(['exits', 'end', 'regs', 'hv']);
    expect(j.exits).toEqual([{ kind: 'io', dir: 'out', port: 0xe9, size: 1, value: 0x6f }]);
    expect(j.end).toBe('hlt');
    expect(Object.keys(j.regs).slice(0, 3)).toEqual(['rax', 'rbx', 'rcx']);
    expect(j.regs.rip).toBe(0x100005);
  });
  it('--max-steps ends a run with "limit"', () => {
    const r = call(['exec', '--mode', 'prot32', '--load', '1048576', '--max-steps', '1', bin]);
    expect(JSON.parse(r.out).end).toBe('limit');
  });
  it.each([
    [['exec', '--mode', 'real', '--load', '0', bin], '--mode'],
    [['exec', '--load', '0', bin], '--mode'],
    [['exec', '--mode', 'long64', '--load', '12q', bin], '--load'],
    [['exec', '--mode', 'long64', '--load', '0x7ffffff0', bin], '--load'],
    [['exec', '--mode', 'long64', '--load', '0', '--max-steps', '-1', bin], '--max-steps'],
    [['exec', '--mode', 'long64', '--load', '0'], 'FILE.bin'],
    [['exec', '--mode', 'long64', '--load', '0', join(dir, 'missing.bin')], 'FILE.bin'],
    [['exec', '--mode', 'long64', '--bogus', '1', bin], '--bogus'],
    [['frobnicate'], 'frobnicate'],
  ])('rejects %j with exit code 2 naming %s', (args, name) => {
    const r = call(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(name);
  });
  it('parses decimal and 0x-hex numbers', () => {
    expect(parseNumber('0x10', 'x')).toBe(16);
    expect(parseNumber('10', 'x')).toBe(10);
    expect(() => parseNumber('1e3', 'x')).toThrow(/x/);
  });
});
