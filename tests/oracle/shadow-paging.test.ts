/**
 * Guests that build their own page tables (gen/paging-gen.ts: random P, R/W, U/S, PS, A, D, XD and
 * reserved bits, random CR0.WP, CR4.PSE, EFER.NXE; every probe from ring 0 and ring 3 read, write
 * and fetch, each fault delivered through the guest's own IDT and logged with its error code and
 * CR2) run as the only guest of the hypervisor under shadow paging and under nested paging, on both
 * vendors, and must end exactly as the bare run: the probe log, the page tables with the accessed
 * and dirty flags the walks set, every register, the instruction count. Under shadow paging each of
 * the guest's own #PF is a true fault the hypervisor reflects; first touches are hidden faults;
 * the guest's writes to its tables after they were used are emulated writes.
 *
 * 32-bit and 4-level programs (PAE paging is not supported by the shadow MMU, nor under nested
 * paging by the runners; 5-level needs LA57, which the exec machine's CPUID does not offer). The
 * sources are nasm's; without nasm the test is skipped with the reason printed. The bare run is
 * the lab's (tests/oracle/paging-programs.test.ts compares that with KVM and QEMU).
 */
import { describe, expect, it } from 'vitest';
import { runUnder, type HvBackendId, type HvPaging } from '../../src/emu/hv/exec.ts';
import { diffExec } from './compare.ts';
import { generatePagingProgram, type PagingGenMode, type PagingProgram } from './gen/paging-gen.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { labExec } from './lab-exec.ts';
import { readLog } from './paging-log.ts';

const SEEDS = 8;
const LOAD = 0x100000;
const MAX_STEPS = 1_000_000;
const nasmOk = nasmAvailable();
if (!nasmOk.ok) console.warn(`shadow-paging: skipped: ${nasmOk.why}`);

const programs: PagingProgram[] = [];
for (const mode of ['32bit', '4level'] as PagingGenMode[]) for (let s = 1; s <= SEEDS; s++) programs.push(generatePagingProgram(s, mode));

function under(id: HvBackendId, paging: HvPaging, p: PagingProgram, code: Uint8Array) {
  const run = runUnder(id, { mode: p.execMode, load: LOAD, code, maxSteps: MAX_STEPS, paging });
  const dump = new Uint8Array(p.dump.len);
  for (let i = 0; i < p.dump.len; i++) dump[i] = run.mem.read8(p.dump.addr + i);
  const r = run.result;
  if (r.end === 'hypercall-exit') throw new Error('a paging program made the exit hypercall');
  return { exits: r.exits, end: r.end, regs: r.regs, dump: Buffer.from(dump).toString('hex'), hv: { ...r.hv }, error: r.error };
}

describe.skipIf(!nasmOk.ok).each(['svm', 'vtx'] as const)('page-table guests under %s', (id) => {
  it.each(programs.flatMap((p) => (['shadow', 'nested'] as const).map((paging) => [`${p.mode} seed ${p.seed}, ${paging} paging`, p, paging] as const)))('%s', (_n, p, paging) => {
    const code = nasm(p.source);
    const bare = labExec({ mode: p.execMode, load: LOAD, code, maxSteps: MAX_STEPS, dump: p.dump });
    expect(bare.end).toBe('hlt');
    const got = under(id, paging, p, code);
    expect(got.error).toBeUndefined();
    expect(readLog(got.dump)).toEqual(readLog(bare.dump!));
    expect(got.dump).toBe(bare.dump);
    expect(diffExec(got, bare, { compareDump: false })).toEqual([]);
    expect(got.hv.steps).toBe((bare.hv as { steps: number }).steps);
    if (paging === 'shadow') {
      // Every #PF the guest logged was a true fault of the shadow MMU (and nothing else was).
      const faults = readLog(bare.dump!).filter((r) => r.startsWith('#PF')).length;
      const sh = got.hv.shadow!;
      expect(sh.trueFaults).toBe(faults);
      expect(sh.hiddenFaults).toBeGreaterThan(0);
      expect(sh.fills).toBeGreaterThanOrEqual(sh.hiddenFaults);
    }
  });
});
