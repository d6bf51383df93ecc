/**
 * The container kernel (src/emu/hv/containers) on the bare machine against the oracles.
 *
 * - nasm assembles its source to the same bytes as the lab's assembler.
 * - KVM runs it as far as it can: the KVM here (a software "PVM" implementation, tests/oracle/kvm
 *   README) raises #GP on the MOV to CR0 that sets PG outside long mode, and the kernel takes that
 *   as a ring-0 fault and panics. Up to that instruction the two agree: every port access (the UART
 *   set-up, each LSR poll and THR write of the boot messages) and the frames the kernel built
 *   (its page table, both processes' page directories and tables, zeroed pages).
 * - QEMU (TCG) runs it to the end, as it does the other 32-bit paging programs: the registers at the
 *   final HLT, the kernel's data (its log, which holds the console, the process table, the tick
 *   counter, the kernel stack), and every frame it handed out (page tables with their accessed and
 *   dirty flags, each process's data and stack), for the run where both containers finish, the one
 *   where beta reads alpha's page and is killed, and the one where beta's uname(NULL) panics the
 *   kernel. QEMU does not report port I/O, hence the log in memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffExec } from './compare.ts';
import { KvmOracle, kvmAvailable } from './kvm/client.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { QemuOracle, qemuAvailable } from './qemu/client.ts';
import { labExec } from './lab-exec.ts';
import { createBareMachine } from '../../src/emu/machine/bare.ts';
import { FRAMES, KERNEL_LOAD } from '../../src/emu/hv/containers/kernel.ts';
import { buildContainerKernel, partitionContainers } from '../../src/emu/hv/containers/run.ts';

const kvm = await kvmAvailable();
const qemu = qemuAvailable();
const nasmOk = nasmAvailable();
/** The frames the two-container kernel hands out: its page table, then four per process. */
const FRAME_DUMP = { addr: FRAMES, len: 9 * 0x1000 };
/** RFLAGS.AF: the last flag-setting instruction before the final HLT is a TEST, which leaves AF undefined. */
const NOT_AF = 0xffffffef;

const CONFIGS = [
  ['both containers finish', {}],
  ['beta reads alpha\u2019s page and is killed', { peek: true }],
  ['beta\u2019s uname(NULL) panics the kernel', { crash: true }],
] as const;

describe.skipIf(!nasmOk.ok)('the container kernel assembles as with nasm', () => {
  it.each(CONFIGS)('%s', (_n, opts) => {
    const img = buildContainerKernel(partitionContainers(opts));
    expect(nasm(img.source)).toEqual(img.code);
  });
});

/**
 * Where each #PF the lab delivers in a run of `img` pushes its EFLAGS image: ESP + 12 (error code,
 * EIP, CS, EFLAGS) on entering the handler, whose first instructions (up to gp_fault) push nothing.
 */
function faultFlagImages(img: ReturnType<typeof buildContainerKernel>): number[] {
  const [from, to] = [img.labels.get('page_fault')!, img.labels.get('gp_fault')!];
  const m = createBareMachine({ mode: 'prot32', load: KERNEL_LOAD, code: img.code });
  const out: number[] = [];
  let inside = false;
  while (m.cpu.run(1) === 'limit') {
    const now = m.cpu.state.ripLo >= from && m.cpu.state.ripLo < to;
    if (now && !inside) out.push(m.cpu.state.regLo[4]! + 12);
    inside = now;
  }
  return out;
}

const kvmWhy = !kvm.ok ? kvm.why : '';
if (kvmWhy) console.warn(`containers (KVM): skipped: ${kvmWhy}`);
describe.skipIf(kvmWhy !== '')('up to paging, the lab agrees with KVM', () => {
  let oracle: KvmOracle;
  beforeAll(async () => {
    oracle = await KvmOracle.start();
  });
  afterAll(() => oracle?.close());

  it('the boot\u2019s port accesses and the frames it built', async () => {
    const img = buildContainerKernel(partitionContainers({}));
    const at = img.labels.get('start.paging_on')!;
    const want = await oracle.run({ mode: 'prot32', load: KERNEL_LOAD, code: img.code, dump: FRAME_DUMP });
    // The lab, stopped at the MOV to CR0 that KVM refuses.
    const m = createBareMachine({ mode: 'prot32', load: KERNEL_LOAD, code: img.code });
    while (m.cpu.state.ripLo !== at && m.cpu.run(1) === 'limit');
    expect(m.cpu.state.ripLo).toBe(at);
    expect(m.exits.length).toBeGreaterThan(100);
    expect(want.exits.slice(0, m.exits.length)).toEqual(m.exits);
    const frames = Buffer.from(Array.from({ length: FRAME_DUMP.len }, (_, i) => m.mem.read8(FRAME_DUMP.addr + i))).toString('hex');
    expect(want.dump).toBe(frames);
    const boot = m.exits.filter((e) => e.kind === 'io' && e.dir === 'out' && e.port === 0x3f8).map((e) => String.fromCharCode(Number(e.value))).join('');
    expect(boot).toBe('kernel: ringos 0.1 booting\nkernel: started pid 1 (alpha, pid 1 inside)\nkernel: started pid 2 (beta, pid 1 inside)\n');
    // What KVM does next is its own: where it stops, and why (the rest is QEMU's, below).
    console.info(`containers (KVM): KVM stops at the kernel's MOV to CR0 (PG) with ${want.end}: ${want.exits.length - m.exits.length} more port accesses, its #GP told by the kernel`);
  });
});

const qemuWhy = !qemu.ok ? qemu.why : '';
if (qemuWhy) console.warn(`containers (QEMU): skipped: ${qemuWhy}`);
describe.skipIf(qemuWhy !== '')('to the end, the lab agrees with QEMU (TCG)', () => {
  let oracle: QemuOracle;
  beforeAll(async () => {
    oracle = await QemuOracle.start();
  });
  afterAll(() => oracle?.close());

  it.each(CONFIGS)('%s: registers, the kernel\u2019s data with its log, every frame', async (_n, opts) => {
    const img = buildContainerKernel(partitionContainers(opts));
    const from = img.labels.get('kdata')!;
    const data = { addr: from, len: img.labels.get('containers_end')! - from };
    // Two bits where QEMU's TCG and the SDM differ, each checked to hold the SDM's value in the lab:
    // - the accessed bit (type bit 0) of the two code descriptors, kernel 0x08 and user 0x18: the
    //   processor sets it whenever a selector for the segment is loaded into a segment register (SDM
    //   Vol. 3A, 3.4.5.1), as the lab does when INT 0x80 and IRETD load CS; QEMU leaves it clear on
    //   those CS loads (it sets it for the data segments);
    // - RF in the EFLAGS image a #PF pushes: set for every fault-class exception (SDM Vol. 3A,
    //   17.3.1.1), as in the lab and under KVM; QEMU pushes it clear. It stays on the kernel stack
    //   when the kernel panics.
    const gdt = img.labels.get('gdt')!;
    const sdmBits = [gdt + 0x08 + 5, gdt + 0x18 + 5].map((pa) => ({ pa, bit: 1 }));
    for (const image of faultFlagImages(img)) sdmBits.push({ pa: image + 2, bit: 1 });
    for (const dump of [data, FRAME_DUMP]) {
      const want = await oracle.run({ mode: 'prot32', load: KERNEL_LOAD, code: img.code, dump, timeoutMs: 10_000 });
      expect(want.end, want.error).toBe('hlt');
      // QEMU's -cpu max has 1-GByte pages and LA57; the kernel uses neither.
      const got = labExec({ mode: 'prot32', load: KERNEL_LOAD, code: img.code, maxSteps: 1_000_000, dump, features: { page1gb: true, la57: true } });
      expect(diffExec(got, want, { flagsMask: NOT_AF, compareDump: false })).toEqual([]);
      const lab = Buffer.from(got.dump!, 'hex');
      const qemuBytes = Buffer.from(want.dump!, 'hex');
      for (const { pa, bit } of sdmBits.filter((b) => b.pa >= dump.addr && b.pa < dump.addr + dump.len)) {
        const i = pa - dump.addr;
        if ((lab[i]! & bit) !== (qemuBytes[i]! & bit)) {
          expect(lab[i]! & bit, `the lab's bit at 0x${pa.toString(16)}`).toBe(bit);
          qemuBytes[i]! |= bit;
        }
      }
      expect(lab.toString('hex')).toBe(qemuBytes.toString('hex'));
    }
  });
});
