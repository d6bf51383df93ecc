import { describe, expect, it } from 'vitest';
import { main } from './lab.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

/** Runs `args` and checks it was refused: exit code 2, nothing on stdout, the usage on stderr; returns stderr. */
function refused(args: string[]): string {
  const r = call(args);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err).toContain('usage: lab exercise');
  return r.err;
}

/** `a` and `b` (the same seed) print the same problem and `c` (another seed) a different one. */
function sameSeedSame(a: string[], b: string[], c: string[]): void {
  const ra = call(a);
  expect(ra.code).toBe(0);
  expect(ra.err).toBe('');
  expect(call(b).out).toBe(ra.out);
  expect(call(c).out.replace(/seed \d+/, '')).not.toBe(ra.out.replace(/seed \d+/, ''));
}

describe('lab exercise walk', () => {
  it.each(['2', '3', '4', '5'])('--levels %s: the same seed prints byte-identical output; another seed differs', (levels) => {
    sameSeedSame(['exercise', 'walk', '--levels', levels, '--seed', '7'], ['exercise', 'walk', '--seed', '7', '--levels', levels], ['exercise', 'walk', '--levels', levels, '--seed', '8']);
  });

  it('prints the answer key only with --answers, after the same problem text', () => {
    const plain = call(['exercise', 'walk', '--levels', '4', '--seed', '0x2a']);
    const keyed = call(['exercise', 'walk', '--levels', '4', '--seed', '42', '--answers']);
    expect(keyed.code).toBe(0);
    expect(plain.out).not.toMatch(/Answer key|PA =|#PF at|error code 0x/);
    expect(keyed.out.startsWith(plain.out)).toBe(true);
    expect(keyed.out).toContain('Answer key');
    expect(keyed.out).toMatch(/PA = 0x[0-9a-f]+/);
    expect(keyed.out).toMatch(/#PF at the (PML4E|PDPTE|PDE|PTE)/);
  });

  it('--count sets the number of addresses', () => {
    const r = call(['exercise', 'walk', '--levels', '3', '--seed', '1', '--count', '9']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n {3}9\. 0x[0-9a-f]{8} {2}(read|write|fetch), (user|supervisor)$/);
    expect(r.out).not.toContain('10. ');
  });

  it.each([
    [['exercise', 'walk', '--levels', '6', '--seed', '1'], '--levels'],
    [['exercise', 'walk', '--levels', '4'], '--seed'],
    [['exercise', 'walk', '--seed', '1'], '--levels'],
    [['exercise', 'walk', '--levels', '4', '--seed', 'abc'], '--seed'],
    [['exercise', 'walk', '--levels', '4', '--seed', '1', '--count', '1'], '--count'],
    [['exercise', 'walk', '--levels', '4', '--seed', '1', '--bogus', '1'], '--bogus'],
    [['exercise', 'tlb', '--levels', '4', '--seed', '1'], 'tlb'],
    [['exercise'], 'KIND'],
  ])('rejects %j with exit code 2 naming %s', (args, name) => {
    const err = refused(args);
    expect(err).toContain(name);
    expect(err).toContain('usage: lab exercise walk');
  });
});

describe('lab exercise nested', () => {
  it('the same seed prints byte-identical output; another seed differs', () => {
    sameSeedSame(['exercise', 'nested', '--seed', '7'], ['exercise', 'nested', '--seed', '7'], ['exercise', 'nested', '--seed', '8']);
  });

  it('prints the answer key only with --answers, after the same problem text', () => {
    const plain = call(['exercise', 'nested', '--seed', '42']);
    const keyed = call(['exercise', 'nested', '--seed', '0x2a', '--answers']);
    expect(keyed.code).toBe(0);
    expect(plain.out).not.toMatch(/Answer key|references {2}\(b\)|HPA = /);
    expect(keyed.out.startsWith(plain.out)).toBe(true);
    expect(keyed.out).toMatch(/\n {2}1\. \(a\) \d+ references {2}\(b\) #\d+: row (PML5E|PML4E|PDPTE|PDE|PTE|data), column (PML5E|PML4E|PDPTE|PDE|PTE|guest)/);
  });

  it('--count sets the number of questions', () => {
    const r = call(['exercise', 'nested', '--seed', '1', '--count', '5']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n {2}5\. 0x[0-9a-f]+ {2}(read|write|fetch), (user|supervisor) {2}k = \d+$/);
    expect(r.out).not.toContain('\n  6. ');
  });

  it.each([
    [['exercise', 'nested'], '--seed'],
    [['exercise', 'nested', '--seed', 'abc'], '--seed'],
    [['exercise', 'nested', '--seed', '1', '--count', '9'], '--count'],
    [['exercise', 'nested', '--seed', '1', '--levels', '4'], '--levels'],
  ])('rejects %j with exit code 2 naming %s', (args, name) => {
    expect(refused(args)).toContain(name);
  });
});

describe('lab exercise shadow', () => {
  it('the same seed prints byte-identical output; another seed differs', () => {
    sameSeedSame(['exercise', 'shadow', '--seed', '7'], ['exercise', 'shadow', '--seed', '7'], ['exercise', 'shadow', '--seed', '8']);
  });

  it('prints the answer key only with --answers, after the same problem text', () => {
    const plain = call(['exercise', 'shadow', '--seed', '42', '--count', '12']);
    const keyed = call(['exercise', 'shadow', '--seed', '0x2a', '--count', '12', '--answers']);
    expect(keyed.code).toBe(0);
    expect(plain.out).not.toMatch(/Answer key|hidden #PF|true #PF|fill 0x|no exit/);
    expect(keyed.out.startsWith(plain.out)).toBe(true);
    expect(keyed.out).toMatch(/\n {2}1\. (exits|no exit)/);
    expect(keyed.out).toMatch(/fill 0x[0-9a-f]+ -> GPA 0x[0-9a-f]{8}: shadow entry 0x[0-9a-f]{8}/);
  });

  it('--count sets the number of events', () => {
    const r = call(['exercise', 'shadow', '--seed', '1', '--count', '5']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n {2}5\. (read|write|fetch|store|INVLPG|MOV CR3)/);
    expect(r.out).not.toContain('\n  6. ');
  });

  it.each([
    [['exercise', 'shadow'], '--seed'],
    [['exercise', 'shadow', '--seed', 'abc'], '--seed'],
    [['exercise', 'shadow', '--seed', '1', '--count', '25'], '--count'],
    [['exercise', 'shadow', '--seed', '1', '--count', '0'], '--count'],
    [['exercise', 'shadow', '--seed', '1', '--levels', '4'], '--levels'],
  ])('rejects %j with exit code 2 naming %s', (args, name) => {
    expect(refused(args)).toContain(name);
  });
});

describe('lab exercise iommu', () => {
  it('the same seed prints byte-identical output; another seed differs; the vendor comes from the seed unless given', () => {
    sameSeedSame(['exercise', 'iommu', '--seed', '7'], ['exercise', 'iommu', '--seed', '7'], ['exercise', 'iommu', '--seed', '8']);
    const titles = new Set<string>();
    for (let seed = 0; seed < 12; seed++) titles.add(/^DMA remapping exercise: ([^,]+),/.exec(call(['exercise', 'iommu', '--seed', String(seed)]).out)![1]!);
    expect([...titles].sort()).toEqual(['AMD-Vi (host page tables)', 'Intel VT-d (legacy mode)']);
    expect(call(['exercise', 'iommu', '--seed', '7', '--vendor', 'vtd']).out).toMatch(/^DMA remapping exercise: Intel VT-d/);
    expect(call(['exercise', 'iommu', '--seed', '7', '--vendor', 'amdvi']).out).toMatch(/^DMA remapping exercise: AMD-Vi/);
  });

  it('prints the answer key only with --answers, after the same problem text', () => {
    for (const vendor of ['vtd', 'amdvi']) {
      const plain = call(['exercise', 'iommu', '--seed', '42', '--vendor', vendor, '--count', '12']);
      const keyed = call(['exercise', 'iommu', '--seed', '0x2a', '--vendor', vendor, '--count', '12', '--answers']);
      expect(keyed.code).toBe(0);
      expect(plain.out).not.toMatch(/Answer key|lands at|blocked: (fault|event)|IOTLB hit|fault record \d|event log \+/);
      expect(keyed.out.startsWith(plain.out)).toBe(true);
      expect(keyed.out).toMatch(/\n {3}1\. (lands at 0x[0-9a-f]{8}|blocked: (fault reason \d+ \(|event \d [A-Z_]+))/);
      expect(keyed.out).toMatch(/\nIOTLB: \d+ hits?, \d+ miss(es)?$/);
    }
    const vtd = call(['exercise', 'iommu', '--seed', '42', '--vendor', 'vtd', '--count', '12']).out;
    expect(vtd).toMatch(/\nRTADDR {2}0x[0-9a-f]{16}\nGSTS {4}0xc0000000/);
    expect(vtd).toMatch(/P = [01] {2}FPD = [01] {2}TT = 0 {2}AW = [12] {2}SLPTPTR = 0x[0-9a-f]{8} {2}DID = 0x[0-9a-f]{4}/);
    const amd = call(['exercise', 'iommu', '--seed', '42', '--vendor', 'amdvi', '--count', '12']).out;
    expect(amd).toMatch(/V = [01] {2}TV = [01] {2}Mode = \d {2}root = 0x[0-9a-f]{8} {2}IR = [01] {2}IW = [01] {2}DomainID = 0x[0-9a-f]{4}/);
  });

  it('--count sets the number of DMA requests', () => {
    const r = call(['exercise', 'iommu', '--seed', '1', '--count', '5']);
    expect(r.code).toBe(0);
    expect(r.out.match(/\n {2}( \d|\d\d)\. [0-9a-f]{2}:[0-9a-f]{2}\.[0-7] {2}(read|write)/g)?.length).toBe(5);
  });

  it.each([
    [['exercise', 'iommu'], '--seed: required'],
    [['exercise', 'iommu', '--seed', 'abc'], "--seed: 'abc' is not"],
    [['exercise', 'iommu', '--seed', '1', '--count', '17'], '--count: 17 is not 1..16'],
    [['exercise', 'iommu', '--seed', '1', '--count', '0'], '--count: 0 is not 1..16'],
    [['exercise', 'iommu', '--seed', '1', '--vendor', 'arm'], "--vendor: 'arm' is not vtd or amdvi"],
    [['exercise', 'iommu', '--seed', '1', '--levels', '4'], 'unknown option --levels'],
  ])('rejects %j with exit code 2: %s', (args, message) => {
    const err = refused(args);
    expect(err.split('\n')[0]).toContain(`lab exercise: ${message}`);
    expect(err).toContain('lab exercise iommu --seed N [--vendor vtd|amdvi] [--count K] [--answers]');
  });
});
