import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './lab.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'lab-run-'));
const EXAMPLES = join(import.meta.dirname, '../emu/scenario/examples');

describe('lab run', () => {
  it('prints the final state of an example scenario as JSON', () => {
    const r = call(['run', join(EXAMPLES, 'syscalls.json')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['name', 'end', 'steps', 'cpl', 'regs', 'uart', 'ports', 'timer']);
    expect(j.end).toBe('hlt');
    expect(j.uart).toBe('hello from INT 0x80\nhello from SYSCALL\n');
    expect(j.ports).toEqual({ accesses: 39, byPort: { '0x3f8': { in: 0, out: 39 } } });
    expect(Object.keys(j.regs as object).slice(0, 3)).toEqual(['rax', 'rbx', 'rcx']);
  });

  it('--max-steps ends the run early with "limit"', () => {
    const r = call(['run', '--max-steps', '100', join(EXAMPLES, 'timer.json')]);
    expect(JSON.parse(r.out)).toMatchObject({ end: 'limit', steps: 100 });
  });

  it('runs a version-0 (exec) program', () => {
    const f = join(dir, 'v0.json');
    writeFileSync(f, JSON.stringify({ version: 0, mode: 'prot32', load: 0x100000, code: 'b0 6f e6 e9 f4' }));
    const r = call(['run', f]);
    expect(JSON.parse(r.out)).toMatchObject({ end: 'hlt', ports: { accesses: 1, byPort: { '0xe9': { in: 0, out: 1 } } } });
  });

  it('prints every validation error as FILE: field: message, exit code 1', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, JSON.stringify({ version: 1, name: 'x', cpu: { vendor: 'intel' }, mode: 'prot32', paging: '4level', memory: { size: 5000 }, kernel: { source: 'jmp foo' } }));
    const r = call(['run', f]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.split('\n')).toEqual([
      `${f}: paging: '4level' needs mode 'long64'`,
      `${f}: memory.size: expected a multiple of 4096, got 5000`,
      `${f}: kernel.source: line 1, column 5: undefined label 'foo'`,
    ]);
  });

  it('rejects a file that is not JSON with exit code 1, and a missing file with exit code 2', () => {
    const f = join(dir, 'x.json');
    writeFileSync(f, '{ nope');
    const r = call(['run', f]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}: not JSON`);
    expect(call(['run', join(dir, 'missing.json')]).code).toBe(2);
    expect(call(['run']).code).toBe(2);
    expect(call(['run', '--max-steps', '0', f]).code).toBe(2);
  });
});

describe('lab trace', () => {
  function lines(args: string[]): { code: number; events: Record<string, unknown>[]; err: string } {
    const out: string[] = [];
    let err = '';
    const code = main(args, (s) => out.push(s), (s) => (err += s));
    return { code, events: out.map((l) => JSON.parse(l) as Record<string, unknown>), err };
  }

  it('prints one JSON event per line; the SYSCALL round trip shows as ring changes 3→0 and back', () => {
    const r = lines(['trace', '--kinds', 'ring/change', join(EXAMPLES, 'syscalls.json')]);
    expect(r.code).toBe(0);
    expect(r.events.every((e) => e.kind === 'ring/change')).toBe(true);
    const i = r.events.findIndex((e) => e.cause === 'syscall');
    expect(r.events[i]).toMatchObject({ from: 3, to: 0, cause: 'syscall' });
    expect(r.events[i + 1]).toMatchObject({ from: 0, to: 3, cause: 'sysret' });
  });

  it('traces every kind by default, with steps in order, and the #PF of the page-fault example', () => {
    const r = lines(['trace', join(EXAMPLES, 'page-fault.json')]);
    expect(r.code).toBe(0);
    const steps = r.events.map((e) => e.step as number);
    expect(steps.every((s, i) => i === 0 || s >= steps[i - 1]!)).toBe(true);
    expect(new Set(r.events.map((e) => e.kind))).toContain('cpu/insn');
    const pf = r.events.filter((e) => e.kind === 'cpu/exception' && e.vector === 14);
    expect(pf).toHaveLength(1);
    expect(pf[0]).toMatchObject({ errorCode: 6 });
  });

  it('rejects an unknown kind with exit code 2 naming --kinds', () => {
    const r = lines(['trace', '--kinds', 'cpu/bogus', join(EXAMPLES, 'page-fault.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--kinds');
  });
});
