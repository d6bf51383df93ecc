/**
 * Trap-and-emulate (issue 9, item 1), against the bare machine: `exec --under trap-emulate` runs the
 * program with its kernel deprivileged to ring 1 (hv/te/backend.ts).
 *
 * - The 250 generated prot32 programs of gen/program-gen.ts (the set generated-kvm.test.ts compares
 *   with KVM) must end exactly as bare: end, every register with all of RFLAGS, the port/MMIO log,
 *   the scratch page, and the number of guest instructions retired. They use PUSHF, but with IF and
 *   IOPL 0 throughout, so the monitor's ring 1 cannot show; every IN and OUT must have trapped.
 * - The 32-bit page-table programs of gen/paging-gen.ts (LGDT, LIDT, LTR, MOV CR0/CR3/CR4, MOV from
 *   CR2 in the handler, probes from ring 0 and ring 3 with their faults delivered through the
 *   guest's own IDT) must end as bare with exactly one difference: the CS their handler logs for a
 *   fault taken in the guest's ring 0 is 0x9, not 0x8, since the kernel really runs in ring 1 and
 *   the processor pushes the CS it runs with (Robin and Irvine's point: segment pushes show the
 *   real privilege level). Faults from ring 3 log 0x1b both ways.
 * The bare runs are the lab's; the lab's bare runs are compared with KVM by generated-kvm.test.ts
 * and paging-programs.test.ts. Without nasm the page-table programs are skipped with the reason.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/emu/asm/assembler.ts';
import { runUnder } from '../../src/emu/hv/exec.ts';
import { diffExec } from './compare.ts';
import { generateProgram, SCRATCH, SCRATCH_LEN } from './gen/program-gen.ts';
import { generatePagingProgram } from './gen/paging-gen.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { labExec } from './lab-exec.ts';
import { readLog } from './paging-log.ts';
import { DESCRIPTOR_PAGE_AD, dumpDiff } from './monitor-dump.ts';

const LOAD = 0x100000;
const nasmOk = nasmAvailable();
if (!nasmOk.ok) console.warn(`trap-emulate: the page-table programs are skipped: ${nasmOk.why}`);

function dumpOf(mem: { read8(a: number): number }, addr: number, len: number): string {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = mem.read8(addr + i);
  return Buffer.from(b).toString('hex');
}

describe('generated programs under trap-and-emulate end as bare', () => {
  const programs = Array.from({ length: 250 }, (_, i) => generateProgram(i + 1, 'prot32'));
  it.each(programs.map((p) => [`prot32 seed ${p.seed}`, p] as const))('%s', (_n, p) => {
    const r = assemble(p.source);
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
    const dump = { addr: SCRATCH, len: SCRATCH_LEN };
    const bare = labExec({ mode: 'prot32', load: LOAD, code: r.bytes, maxSteps: 100_000, dump });
    const run = runUnder('trap-emulate', { mode: 'prot32', load: LOAD, code: r.bytes, maxSteps: 100_000 });
    const r0 = run.result;
    if (r0.end === 'hypercall-exit') throw new Error('a generated program made the exit hypercall');
    expect(r0.error).toBeUndefined();
    const got = { exits: r0.exits, end: r0.end, regs: r0.regs, dump: dumpOf(run.mem, SCRATCH, SCRATCH_LEN), hv: { ...r0.hv } };
    expect(diffExec(got, bare), p.source).toEqual([]);
    expect(r0.hv.steps).toBe((bare.hv as { steps: number }).steps);
    const traps = r0.hv.traps ?? {};
    const ports = bare.exits.filter((e) => e.kind === 'io').length;
    expect((traps.in ?? 0) + (traps.out ?? 0)).toBe(ports);
  });
});

describe.skipIf(!nasmOk.ok)('page-table programs under trap-and-emulate: only the pushed CS differs', () => {
  const programs = Array.from({ length: 8 }, (_, i) => generatePagingProgram(i + 1, '32bit'));
  it.each(programs.map((p) => [`32bit seed ${p.seed}`, p] as const))('%s', (_n, p) => {
    const code = nasm(p.source);
    const bare = labExec({ mode: p.execMode, load: LOAD, code, maxSteps: 1_000_000, dump: p.dump });
    expect(bare.end).toBe('hlt');
    const run = runUnder('trap-emulate', { mode: p.execMode, load: LOAD, code, maxSteps: 1_000_000 });
    const r = run.result;
    if (r.end === 'hypercall-exit') throw new Error('a page-table program made the exit hypercall');
    expect(r.error).toBeUndefined();
    expect(diffExec({ exits: r.exits, end: r.end, regs: r.regs, hv: { ...r.hv } }, bare, { compareDump: false })).toEqual([]);
    expect(r.hv.steps).toBe((bare.hv as { steps: number }).steps);
    const want = readLog(bare.dump!);
    const got = readLog(dumpOf(run.mem, p.dump.addr, p.dump.len));
    expect(got.length).toBe(want.length);
    // The bare log with every ring-0 fault's CS made RPL 1 is exactly the log under trap-and-emulate.
    expect(got).toEqual(want.map((l) => l.replace(/ cs=8$/, ' cs=9')));
    expect(want.filter((l) => l.endsWith(' cs=8')).length).toBe(want.length / 2);
    // Besides the log, the only difference: the A/D flags of the descriptor-table page's entry (binary-translation.test.ts).
    const other = dumpDiff(run.mem, p.dump, bare.dump!, Number(r.regs.cr3)).filter((d) => !(d.entry.startsWith('word at 0x') && Number(d.entry.slice(8)) < p.dump.addr + 32 + want.length * 32));
    expect(other).toEqual(DESCRIPTOR_PAGE_AD);
    // Each descriptor-table load trapped once; the handler's MOV from CR2 once per logged fault.
    const t = r.hv.traps!;
    expect([t.lgdt, t.lidt, t.ltr]).toEqual([1, 1, 1]);
    expect(t['mov from cr2']).toBe(want.length);
    // Every #PF the guest logged was a true fault of the shadow (reflected); the rest were hidden.
    const logged = want.filter((l) => l.startsWith('#PF')).length;
    expect(r.hv.shadow!.trueFaults).toBe(logged);
  });
});
