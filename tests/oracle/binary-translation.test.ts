/**
 * Binary translation (issue 9, item 2): `exec --under bt` runs the program's kernel code from the
 * translation cache (hv/bt/backend.ts). Transparency:
 * - the 250 generated prot32 programs (gen/program-gen.ts) end as bare: end, every register with all
 *   of RFLAGS, the port/MMIO log and the scratch page; and, where /dev/kvm is available, as KVM's bare
 *   run (defined flags only). The instruction count is not compared: the processor runs the
 *   translation, whose instructions are not the guest's one for one (hv.steps counts them);
 * - seeded self-modifying programs: a loop that rewrites the immediate of an instruction it then
 *   runs, in the same block as the store or in another, after the block was translated; each ends as
 *   bare (and as KVM), and the monitor caught the code writes;
 * - the 32-bit page-table programs (gen/paging-gen.ts) end as bare with nothing left over, the CS
 *   their handler logs included: where trap-and-emulate shows RPL 1 (trap-emulate.test.ts), the
 *   translated kernel's frames carry the guest's RPL 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../../src/emu/asm/assembler.ts';
import { runUnder } from '../../src/emu/hv/exec.ts';
import { rng } from '../../src/emu/exercise/rng.ts';
import { diffExec } from './compare.ts';
import type { ExecResult } from './exec-types.ts';
import { generateProgram, SCRATCH, SCRATCH_LEN } from './gen/program-gen.ts';
import { generatePagingProgram } from './gen/paging-gen.ts';
import { KvmOracle, kvmAvailable } from './kvm/client.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { labExec } from './lab-exec.ts';
import { readLog } from './paging-log.ts';
import { DESCRIPTOR_PAGE_AD, dumpDiff } from './monitor-dump.ts';

const LOAD = 0x100000;
const kvm = await kvmAvailable();
if (!kvm.ok) console.warn(`binary-translation: the comparison with KVM is skipped: ${kvm.why}`);
const nasmOk = nasmAvailable();
if (!nasmOk.ok) console.warn(`binary-translation: the page-table programs are skipped: ${nasmOk.why}`);

function code(source: string): Uint8Array {
  const r = assemble(source);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}: ${e.message}`).join('; '));
  return r.bytes;
}

function dumpOf(mem: { read8(a: number): number }, addr: number, len: number): string {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = mem.read8(addr + i);
  return Buffer.from(b).toString('hex');
}

function underBt(bytes: Uint8Array, maxSteps = 200_000) {
  const run = runUnder('bt', { mode: 'prot32', load: LOAD, code: bytes, maxSteps });
  const r = run.result;
  if (r.end === 'hypercall-exit') throw new Error('the exit hypercall');
  const got: ExecResult = { exits: r.exits, end: r.end, regs: r.regs, dump: dumpOf(run.mem, SCRATCH, SCRATCH_LEN), hv: { ...r.hv } };
  return { got, hv: r.hv, error: r.error };
}

/**
 * A self-modifying program: `rounds` times, a store rewrites the 32-bit immediate of a MOV that the
 * loop then runs (in the store's own block, or behind a jump in another block), the MOV's value
 * accumulated. Results go to the scratch page.
 */
export function smcProgram(seed: number): string {
  const r = rng(seed * 7919 + 17);
  const rounds = 2 + Math.floor(r() * 5);
  const sameBlock = r() < 0.5;
  const k = 1 + Math.floor(r() * 0x7fff);
  const lines = [
    'bits 32',
    `org ${LOAD}`,
    `  mov ebp, ${SCRATCH}`,
    `  mov ecx, ${rounds}`,
    '  xor ebx, ebx',
    'again:',
    `  mov eax, ecx`,
    `  imul eax, eax, ${k}`,
    '  mov dword [patch + 1], eax',
    ...(sameBlock ? [] : ['  jmp patch']),
    'patch:',
    '  mov edx, 0x11111111',
    '  add ebx, edx',
    '  mov [ebp + ecx*4], edx',
    '  dec ecx',
    '  jnz again',
    '  mov [ebp], ebx',
    '  hlt',
  ];
  return lines.join('\n') + '\n';
}

const programs = Array.from({ length: 250 }, (_, i) => generateProgram(i + 1, 'prot32'));
const smc = Array.from({ length: 16 }, (_, i) => ({ seed: i + 1, source: smcProgram(i + 1) }));

describe('generated programs under binary translation end as bare', () => {
  it.each(programs.map((p) => [`prot32 seed ${p.seed}`, p] as const))('%s', (_n, p) => {
    const bytes = code(p.source);
    const bare = labExec({ mode: 'prot32', load: LOAD, code: bytes, maxSteps: 100_000, dump: { addr: SCRATCH, len: SCRATCH_LEN } });
    const { got, hv, error } = underBt(bytes);
    expect(error).toBeUndefined();
    expect(diffExec(got, bare), p.source).toEqual([]);
    // The kernel's code ran translated: blocks were made, and port accesses reached the monitor as callouts.
    expect(hv.bt!.blocks).toBeGreaterThan(0);
    const ports = bare.exits.filter((e) => e.kind === 'io').length;
    expect((hv.traps!.in ?? 0) + (hv.traps!.out ?? 0)).toBe(ports);
    expect(hv.bt!.callouts.privileged ?? 0).toBeGreaterThanOrEqual(ports + 1);
  });
});

describe('self-modifying programs under binary translation end as bare', () => {
  it.each(smc.map((p) => [`seed ${p.seed}`, p] as const))('%s', (_n, p) => {
    const bytes = code(p.source);
    const bare = labExec({ mode: 'prot32', load: LOAD, code: bytes, maxSteps: 100_000, dump: { addr: SCRATCH, len: SCRATCH_LEN } });
    expect(bare.end).toBe('hlt');
    const { got, hv } = underBt(bytes);
    expect(diffExec(got, bare), p.source).toEqual([]);
    // Every round's store hit translated code: caught, the blocks dropped and translated again.
    const rounds = Number(/mov ecx, (\d+)/.exec(p.source)![1]);
    expect(hv.bt!.codeWrites).toBe(rounds);
    expect(hv.bt!.invalidations).toBeGreaterThanOrEqual(rounds);
  });
});

describe.skipIf(!nasmOk.ok)('page-table programs under binary translation end exactly as bare', () => {
  const paging = Array.from({ length: 8 }, (_, i) => generatePagingProgram(i + 1, '32bit'));
  it.each(paging.map((p) => [`32bit seed ${p.seed}`, p] as const))('%s', (_n, p) => {
    const bytes = nasm(p.source);
    const bare = labExec({ mode: p.execMode, load: LOAD, code: bytes, maxSteps: 1_000_000, dump: p.dump });
    const run = runUnder('bt', { mode: p.execMode, load: LOAD, code: bytes, maxSteps: 2_000_000 });
    const r = run.result;
    if (r.end === 'hypercall-exit') throw new Error('the exit hypercall');
    expect(r.error).toBeUndefined();
    expect(diffExec({ exits: r.exits, end: r.end, regs: r.regs, hv: { ...r.hv } }, bare, { compareDump: false })).toEqual([]);
    const got = readLog(dumpOf(run.mem, p.dump.addr, p.dump.len));
    expect(got).toEqual(readLog(bare.dump!));
    expect(dumpDiff(run.mem, p.dump, bare.dump!, Number(r.regs.cr3))).toEqual(DESCRIPTOR_PAGE_AD);
  });
});

describe.skipIf(!kvm.ok)('binary translation equals KVM’s bare run', () => {
  let oracle: KvmOracle;
  beforeAll(async () => {
    oracle = await KvmOracle.start();
  });
  afterAll(() => oracle?.close());

  it.each([...programs.map((p) => [`generated prot32 seed ${p.seed}`, p.source, p.flagsMask] as const), ...smc.map((p) => [`self-modifying seed ${p.seed}`, p.source, undefined] as const)])('%s', async (_n, source, flagsMask) => {
    const bytes = code(source);
    const want = await oracle.run({ mode: 'prot32', load: LOAD, code: bytes, dump: { addr: SCRATCH, len: SCRATCH_LEN } });
    expect(want.end, `KVM did not finish: ${want.error ?? ''}`).toBe('hlt');
    const { got } = underBt(bytes);
    // The self-modifying programs end on flags of their own arithmetic: compare the arithmetic flags DEC leaves defined.
    expect(diffExec(got, want, { flagsMask: flagsMask ?? 0x8d4 }), source).toEqual([]);
  });
});
