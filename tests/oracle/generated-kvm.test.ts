/**
 * 500 generated programs (250 in prot32, 250 in long64) run under KVM and in the lab: registers,
 * defined flags, port and MMIO exits, and the scratch page must agree. The same programs also
 * check the lab's assembler: its bytes must equal nasm's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../../src/emu/asm/assembler.ts';
import { diffExec } from './compare.ts';
import type { ExecResult } from './exec-types.ts';
import { generateProgram, SCRATCH, SCRATCH_LEN, type Program } from './gen/program-gen.ts';
import { KvmOracle, kvmAvailable } from './kvm/client.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { labExec } from './lab-exec.ts';

const PER_MODE = 250;
const kvm = await kvmAvailable();
const nasmOk = nasmAvailable();
const why = !kvm.ok ? kvm.why : !nasmOk.ok ? nasmOk.why : '';
if (why) console.warn(`generated-kvm: skipped: ${why}`);

const programs: Program[] = [];
for (const mode of ['prot32', 'long64'] as const) for (let s = 1; s <= PER_MODE; s++) programs.push(generateProgram(s, mode));

describe.skipIf(why !== '')('generated programs: the lab agrees with KVM', () => {
  let oracle: KvmOracle;
  const bytes = new Map<Program, Uint8Array>();
  beforeAll(async () => {
    oracle = await KvmOracle.start();
    for (const p of programs) bytes.set(p, nasm(p.source));
  });
  afterAll(() => oracle?.close());

  it.each(programs.map((p) => [`${p.mode} seed ${p.seed}`, p] as const))('%s', async (_name, p) => {
    const code = bytes.get(p)!;
    const dump = { addr: SCRATCH, len: SCRATCH_LEN };
    const want: ExecResult = await oracle.run({ mode: p.mode, load: 0x100000, code, dump });
    expect(want.end, `KVM did not finish: ${want.error ?? ''}`).toBe('hlt');
    const got = labExec({ mode: p.mode, load: 0x100000, code, maxSteps: 100_000, dump });
    const diffs = diffExec(got, want, { flagsMask: p.flagsMask });
    expect(diffs, `${p.source}\n`).toEqual([]);
  });

  it('the lab assembler produces nasm’s bytes for every generated program', () => {
    const bad: string[] = [];
    for (const p of programs) {
      const r = assemble(p.source);
      if (!r.ok) bad.push(`${p.mode} ${p.seed}: ${r.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('; ')}`);
      else if (Buffer.compare(Buffer.from(r.bytes), Buffer.from(bytes.get(p)!)) !== 0) bad.push(`${p.mode} ${p.seed}: bytes differ`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});
