import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from './lab.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

describe('lab exercise vmexit', () => {
  it('the same seed prints the same text on two runs; another seed differs', () => {
    const a = call(['exercise', 'vmexit', '--seed', '11', '--answers']);
    const b = call(['exercise', 'vmexit', '--answers', '--seed', '0xb']);
    expect(a.code).toBe(0);
    expect(a.err).toBe('');
    expect(b.out).toBe(a.out);
    const c = call(['exercise', 'vmexit', '--seed', '12', '--answers']);
    expect(c.out.replace(/seed \d+/, '')).not.toBe(a.out.replace(/seed \d+/, ''));
  });

  it('prints the key only with --answers, naming exit reasons by number and name as the reference does', () => {
    const plain = call(['exercise', 'vmexit', '--seed', '5', '--count', '18']);
    const keyed = call(['exercise', 'vmexit', '--seed', '5', '--count', '18', '--answers']);
    expect(keyed.out.startsWith(plain.out)).toBe(true);
    expect(plain.out).not.toContain('Answer key');
    const key = keyed.out.slice(keyed.out.indexOf('Answer key'));
    const reasons = [...key.matchAll(/VM exit, reason (\d+) ([A-Z_]+) /g)].map((m) => [Number(m[1]), m[2]] as const);
    expect(reasons.length).toBeGreaterThan(3);
    expect(key).toMatch(/no VM exit/);
    const ref = JSON.parse(readFileSync('tests/reference/vmx-exit-reasons.json', 'utf8')) as Record<string, unknown>;
    for (const [n, name] of reasons) expect(ref[String(n)]).toBe(name);
    for (const name of ['CPUID', 'VMCALL']) expect(key).toContain(name);
  });

  it('--count sets the number of problems', () => {
    const r = call(['exercise', 'vmexit', '--seed', '3', '--count', '9']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n 9\. (32|64)-bit guest/);
    expect(r.out).not.toMatch(/\n10\. /);
  });

  it.each([
    [['exercise', 'vmexit'], '--seed: required'],
    [['exercise', 'vmexit', '--seed', 'x'], "--seed: 'x' is not"],
    [['exercise', 'vmexit', '--seed', '1', '--count', '0'], '--count: 0 is not 1..40'],
    [['exercise', 'vmexit', '--seed', '1', '--levels', '4'], 'unknown option --levels'],
    [['exercise', 'nope'], "KIND: 'nope' is not walk, vmexit, nested, shadow or iommu"],
  ])('%j is a usage error', (args, message) => {
    const r = call(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err).toContain('lab exercise vmexit --seed N');
  });
});
