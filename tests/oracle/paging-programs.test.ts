/**
 * Page walks checked by guest programs: each builds page tables with random entry and control
 * bits, installs a handler that logs #PF error codes and CR2, and touches addresses from ring 0
 * and ring 3 (see gen/paging-gen.ts). The log and the page tables afterwards (accessed and dirty
 * bits included) must be byte for byte what the oracle produced.
 *
 * Oracles: KVM for 4-level paging. The KVM on these machines (a software "PVM" implementation)
 * raises #GP on MOV to CR0 that sets PG outside long mode, so 32-bit and PAE paging are checked
 * against QEMU's TCG instead. 5-level paging needs CR4.LA57, which this host does not expose to
 * KVM; it is covered by the permutation tests of src/emu/mmu against the reference model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffExec } from './compare.ts';
import { generatePagingProgram, LOG_BASE, TABLES, type PagingGenMode, type PagingProgram } from './gen/paging-gen.ts';
import { KvmOracle, kvmAvailable } from './kvm/client.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { QemuOracle, qemuAvailable } from './qemu/client.ts';
import { labExec } from './lab-exec.ts';
import { readLog } from './paging-log.ts';

const SEEDS = 12;
const kvm = await kvmAvailable();
const qemu = qemuAvailable();
const nasmOk = nasmAvailable();

function programs(mode: PagingGenMode): PagingProgram[] {
  return Array.from({ length: SEEDS }, (_, i) => generatePagingProgram(i + 1, mode));
}

/**
 * The page-table words (after the log) that differ, as 'address: lab value, oracle value'.
 * `ignoreA` lists physical addresses of words whose accessed flag (bit 5) is not compared.
 */
function tableDiffs(labHex: string, oracleHex: string, ignoreA: ReadonlySet<number> = new Set()): string[] {
  const a = Buffer.from(labHex, 'hex');
  const b = Buffer.from(oracleHex, 'hex');
  const out: string[] = [];
  for (let o = TABLES - LOG_BASE; o + 4 <= Math.min(a.length, b.length); o += 4) {
    const mask = ignoreA.has(LOG_BASE + o) ? ~0x20 : ~0;
    const x = a.readUInt32LE(o) & mask;
    const y = b.readUInt32LE(o) & mask;
    if (x !== y) out.push(`0x${(LOG_BASE + o).toString(16)}: lab 0x${x.toString(16)}, oracle 0x${y.toString(16)}`);
  }
  return out;
}

/**
 * KVM's software walker here sets accessed flags only when the whole access succeeds; the SDM
 * (4.8) and QEMU set A on every present entry a walk uses to reach the next level, even when a
 * later level faults. So for a case none of whose six probes succeeded, the A flags of its
 * non-leaf entries are not compared with KVM.
 */
function kvmIgnoredA(p: PagingProgram, log: string[]): Set<number> {
  const out = new Set<number>();
  p.caseNonLeaf.forEach((entries, c) => {
    if (log.slice(c * 6, c * 6 + 6).every((r) => r.startsWith('#PF'))) for (const e of entries) out.add(e);
  });
  return out;
}

/**
 * Accessed flags QEMU's TCG sets where the SDM says the processor does not:
 * - In PAE paging the PDPTEs are loaded into registers on MOV to CR3, and bit 5 of a PDPTE is
 *   reserved (SDM 4.4.1, Table 4-8): the processor never sets it.
 * - An entry with a reserved bit set "is used neither to reference another paging-structure
 *   entry nor to map a page" (SDM 4.5), so it gets no A; QEMU sets A on a large-page leaf before
 *   it checks that leaf's reserved bits.
 * Those words' A flags are not compared with QEMU.
 */
function qemuIgnoredA(p: PagingProgram): Set<number> {
  const out = new Set<number>(p.reservedLarge);
  if (p.mode === 'pae') for (const a of [TABLES, TABLES + 8, TABLES + 16, TABLES + 24]) out.add(a);
  return out;
}

const kvmWhy = !kvm.ok ? kvm.why : !nasmOk.ok ? nasmOk.why : '';
if (kvmWhy) console.warn(`paging-programs (4-level, KVM): skipped: ${kvmWhy}`);
/** Runs each program under KVM and in the lab: the logs, the page tables' A/D bits and the registers must agree. */
function compareWithKvm(title: string, why: string, list: PagingProgram[]): void {
  describe.skipIf(why !== '')(title, () => {
    let oracle: KvmOracle;
    beforeAll(async () => {
      oracle = await KvmOracle.start();
    });
    afterAll(() => oracle?.close());
    it.each(list.map((p) => [`seed ${p.seed}`, p] as const))('%s', async (_n, p) => {
      const code = nasm(p.source);
      const want = await oracle.run({ mode: p.execMode, load: 0x100000, code, dump: p.dump });
      expect(want.end, want.error).toBe('hlt');
      const got = labExec({ mode: p.execMode, load: 0x100000, code, maxSteps: 1_000_000, dump: p.dump });
      const log = readLog(want.dump!);
      expect(readLog(got.dump!)).toEqual(log);
      expect(tableDiffs(got.dump!, want.dump!, kvmIgnoredA(p, log))).toEqual([]);
      expect(diffExec(got, want, { flagsMask: 0, compareDump: false })).toEqual([]);
    });
  });
}

compareWithKvm('4-level paging: the lab agrees with KVM', kvmWhy, programs('4level'));

/** Whether KVM's guest CPUID here has CPUID.(EAX=7,ECX=0):ECX.LA57[bit 16]. */
async function kvmHasLa57(): Promise<boolean> {
  const oracle = await KvmOracle.start();
  try {
    const r = await oracle.run({ mode: 'long64', load: 0x100000, code: nasm('bits 64\norg 0x100000\nmov eax, 7\nxor ecx, ecx\ncpuid\nhlt\n') });
    return ((Number(r.regs.rcx) >>> 16) & 1) === 1;
  } finally {
    oracle.close();
  }
}

const la57Why = kvmWhy !== '' ? kvmWhy : (await kvmHasLa57()) ? '' : 'KVM here does not expose LA57 (CPUID.7.0:ECX[16] = 0) to its guests, so 5-level paging cannot run under it';
if (la57Why) console.warn(`paging-programs (5-level, KVM): skipped: ${la57Why}`);
compareWithKvm('5-level paging: the lab agrees with KVM', la57Why, programs('5level'));

const qemuWhy = !qemu.ok ? qemu.why : !nasmOk.ok ? nasmOk.why : '';
if (qemuWhy) console.warn(`paging-programs (32-bit, PAE and 5-level, QEMU): skipped: ${qemuWhy}`);
describe.skipIf(qemuWhy !== '')('32-bit, PAE and 5-level paging: the lab agrees with QEMU (TCG)', () => {
  let oracle: QemuOracle;
  beforeAll(async () => {
    oracle = await QemuOracle.start();
  });
  afterAll(() => oracle?.close());
  const all = [...programs('32bit'), ...programs('pae'), ...programs('5level')];
  it.each(all.map((p) => [`${p.mode} seed ${p.seed}`, p] as const))('%s', async (_n, p) => {
    const code = nasm(p.source);
    const want = await oracle.run({ mode: 'prot32', load: 0x100000, code, dump: p.dump });
    expect(want.end, want.error).toBe('hlt');
    // QEMU's -cpu max has 1-GByte pages (and LA57), unlike the KVM vCPU the exec machine copies.
    const got = labExec({ mode: p.execMode, load: 0x100000, code, maxSteps: 1_000_000, dump: p.dump, features: { page1gb: true, la57: true } });
    expect(readLog(got.dump!)).toEqual(readLog(want.dump!, true));
    // With the logs equal, the rest of the range is the page tables: their accessed and dirty bits.
    expect(tableDiffs(got.dump!, want.dump!, qemuIgnoredA(p))).toEqual([]);
  });
});
