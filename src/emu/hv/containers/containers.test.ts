/**
 * The container kernel and the partitioning runner: namespaces (pid 1 in each container, the
 * hostname), one address space per process (a peek at another's page faults in ring 3 and only the
 * reader is killed), what the one kernel shares (its version, its tick counter), the bug that
 * panics the kernel and stops every container; and the same workloads as two VMs: every UART byte an
 * I/O exit, two kernels in memory, one VM's panic leaving the other to finish.
 */
import { describe, expect, it } from 'vitest';
import { figureFor } from '../../cost/price.ts';
import { preset } from '../../cost/presets.ts';
import { createBareMachine } from '../../machine/bare.ts';
import { ArraySink, type TraceEvent } from '../../trace/events.ts';
import { readKernel, readLog } from './inspect.ts';
import { FRAMES, KERNEL_LOAD, KERNEL_VERSION, kernelSource, U_DATA } from './kernel.ts';
import { buildContainerKernel, partitionContainers, runPartitioning, taggedLines, type PartitionResult } from './run.ts';

/** The bare machine with the kernel, traced for exceptions and ring changes. */
function traced(opts: { crash?: boolean; peek?: boolean }) {
  const img = buildContainerKernel(partitionContainers(opts));
  const m = createBareMachine({ mode: 'prot32', load: KERNEL_LOAD, code: img.code });
  const sink = new ArraySink();
  m.cpu.setTrace(sink, ['cpu/exception', 'ring/change', 'cpu/halt']);
  const end = m.cpu.run(200_000);
  const read32 = (pa: number): number => m.mem.read(pa, 4) >>> 0;
  const read8 = (pa: number): number => m.mem.read8(pa);
  return { img, m, end, events: sink.events as TraceEvent[], kernel: readKernel(img.known, read32, read8), log: readLog(img.known, read8, read32), read32 };
}

/** The numbers a container's lines report for `what` ("pid", "tick"). */
function said(console: string, name: string, what: string): number[] {
  const re = new RegExp(`^\\[${name}\\] ${what} (\\d+)$`, 'gm');
  return [...console.matchAll(re)].map((m) => Number(m[1]));
}

/** The physical frame linear `la` maps to through page directory `cr3` (32-bit paging, 4-KByte pages). */
function frameOf(read32: (pa: number) => number, cr3: number, la: number): number {
  const pde = read32(cr3 + (la >>> 22) * 4);
  expect(pde & 1).toBe(1);
  const pte = read32((pde & ~0xfff) + ((la >>> 12) & 0x3ff) * 4);
  return pte & 1 ? pte & ~0xfff : -1;
}

describe('one kernel, two containers', () => {
  const run = runPartitioning({ as: 'containers' });

  it('namespaces: both first processes see pid 1, the kernel gives them pids 1 and 2; gethostname answers the container', () => {
    expect(run.ended).toBe(true);
    expect(run.units.map((u) => [u.name, u.pid, u.nsPid])).toEqual([['alpha', 1, 1], ['beta', 2, 1]]);
    for (const u of run.units) {
      expect(said(u.console, u.name, 'pid')).toEqual([1]);
      expect(u.console).toContain(`[${u.name}] hostname ${u.name}\n`);
      expect(u.end).toEqual({ kind: 'exited', step: expect.any(Number), exitCode: 0 });
    }
    expect(run.console).toContain('kernel: started pid 1 (alpha, pid 1 inside)\nkernel: started pid 2 (beta, pid 1 inside)\n');
  });

  it('what the kernel owns is shared: one version string, one tick counter both see advance (interleaved), one copy of the kernel in memory', () => {
    for (const u of run.units) expect(u.console).toContain(`[${u.name}] kernel ${KERNEL_VERSION}\n`);
    const a = said(run.console, 'alpha', 'tick');
    const b = said(run.console, 'beta', 'tick');
    expect(a).toEqual([1, 3, 5]);
    expect(b).toEqual([2, 4, 6]);
    expect(run.ticks).toEqual([8]);
    expect(run.kernelsInMemory).toBe(1);
  });

  it('each line is tagged by the kernel with its container; the console is the kernel log in memory; 16 system calls each, no exits', () => {
    const t = traced({});
    const lines = run.console.split('\n').filter((l) => l !== '');
    for (const l of lines) expect(l).toMatch(/^(kernel: |\[alpha\] |\[beta\] )/);
    expect(t.log).toBe(run.console);
    expect(taggedLines(run.console, 'alpha') + taggedLines(run.console, 'beta')).toBe(run.units[0]!.console + run.units[1]!.console);
    // getpid, gethostname, uname with a write each, three rounds of ticks, write and yield, exit.
    expect(run.units.map((u) => u.syscalls)).toEqual([16, 16]);
    const int80 = t.events.filter((e) => e.kind === 'ring/change' && e.cause === 'software-interrupt' && e.vector === 0x80);
    expect(int80).toHaveLength(32);
    expect(t.kernel.procs.map((p) => p.syscalls)).toEqual([16, 16]);
    expect(run.units.map((u) => u.exits.total)).toEqual([0, 0]);
  });

  it('the instructions are all accounted for (boot, then each container) and priced natively', () => {
    expect(run.kernelBoot!.instructions + run.units.reduce((s, u) => s + u.instructions, 0)).toBe(run.steps);
    expect(run.kernelBoot!.cycles + run.units.reduce((s, u) => s + u.cycles, 0)).toBe(run.cycles);
    const t = traced({});
    expect(run.steps).toBe(t.m.cpu.state.steps);
    // Natively: the instructions at guest-insn and the walks' references at page-walk-ref.
    const p = preset(run.preset)!;
    expect(run.cycles).toBe(t.m.cpu.state.steps * figureFor(p, { kind: 'guest-insn' }).cycles + t.m.cpu.mmu.refs * figureFor(p, { kind: 'page-walk-ref' }).cycles);
    expect(t.m.cpu.mmu.refs).toBeGreaterThan(0);
  });

  it('each process has its own page directory: the same linear U_DATA is a different frame in each, and the kernel is one shared table', () => {
    const t = traced({});
    const [a, b] = t.kernel.procs;
    expect(a!.cr3).not.toBe(b!.cr3);
    const fa = frameOf(t.read32, a!.cr3, U_DATA);
    const fb = frameOf(t.read32, b!.cr3, U_DATA);
    expect(fa).not.toBe(fb);
    expect(t.read32(a!.cr3)).toBe(t.read32(b!.cr3));
    // The NULL page is mapped in neither; the kernel's own pages are supervisor-only (U/S = 0) in both.
    expect(frameOf(t.read32, a!.cr3, 0)).toBe(-1);
    const kpt = t.read32(a!.cr3) & ~0xfff;
    expect(t.read32(kpt + (fa >>> 12) * 4) & 7).toBe(3);
  });
});

describe('isolation: beta reads alpha\u2019s page', () => {
  it('faults in ring 3 (#PF, error code 5: a user read of a present supervisor page) at alpha\u2019s frame; the kernel kills beta only, alpha runs to its end', () => {
    const t = traced({ peek: true });
    const alpha = t.kernel.procs[0]!;
    const alphaPage = frameOf(t.read32, alpha.cr3, U_DATA);
    // The frame beta reads is alpha's data page, which holds alpha's own data (its hostname buffer).
    expect(alphaPage).toBe(FRAMES + 0x3000);
    expect(String.fromCharCode(...[0, 1, 2, 3, 4].map((i) => t.m.mem.read8(alphaPage + 16 + i)))).toBe('alpha');
    const pf = t.events.filter((e) => e.kind === 'cpu/exception' && e.vector === 14);
    expect(pf).toHaveLength(1);
    expect(pf[0]).toMatchObject({ errorCode: 5, cr2: BigInt(alphaPage) });
    const into = t.events.find((e) => e.kind === 'ring/change' && e.cause === 'exception');
    expect(into).toMatchObject({ from: 3, to: 0 });
    expect(t.kernel.procs.map((p) => p.state)).toEqual(['exited', 'killed']);
    expect(t.kernel.state).toBe('idle');
    const r = runPartitioning({ as: 'containers', peek: true });
    expect(r.units.map((u) => u.end.kind)).toEqual(['exited', 'killed']);
    expect(r.console).toContain(`kernel: pid 2 (beta, pid 1 inside) killed: page fault, address 0x${alphaPage.toString(16).padStart(8, '0')}, error 0x00000005\n`);
    expect(said(r.console, 'alpha', 'tick')).toEqual([1, 3, 5]);
    expect(r.units[1]!.end.step!).toBeLessThan(r.units[0]!.end.step!);
  });
});

describe('the kernel bug: uname(NULL)', () => {
  it('the kernel writes to NULL in ring 0 (#PF, error code 2), panics, and every container stops at that step', () => {
    const t = traced({ crash: true });
    const pf = t.events.filter((e) => e.kind === 'cpu/exception' && e.vector === 14);
    expect(pf).toHaveLength(1);
    expect(pf[0]).toMatchObject({ errorCode: 2, cr2: 0n });
    // Taken in ring 0: no ring change for the fault.
    expect(t.events.filter((e) => e.kind === 'ring/change' && e.cause === 'exception')).toEqual([]);
    expect(t.end).toBe('hlt');
    expect(t.kernel.state).toBe('panic');
    expect(t.kernel.procs.map((p) => p.state)).toEqual(['runnable', 'runnable']);
    const r = runPartitioning({ as: 'containers', crash: true });
    expect(r.units.map((u) => u.end.kind)).toEqual(['stopped', 'panic']);
    expect(r.units[0]!.end.step).toBe(r.units[1]!.end.step);
    expect(r.console).toMatch(/\[beta\] uname\(NULL\)\nkernel panic: page fault in ring 0 at 0x[0-9a-f]{8}, address 0x00000000, error 0x00000002, serving pid 2 \(beta, pid 1 inside\)\nkernel: halted; every container stops\n$/);
    // Alpha had two more rounds to go: it never printed its last tick nor exited.
    expect(said(r.console, 'alpha', 'tick')).toEqual([1, 3]);
    expect(r.console).not.toContain('exited');
  });

  it('the fault is in uname\u2019s copy: gethostname checks the same kind of pointer', () => {
    const src = kernelSource(partitionContainers({ crash: true }));
    const uname = src.slice(src.indexOf('sys_uname:'), src.indexOf('sys_ticks:'));
    const host = src.slice(src.indexOf('sys_gethostname:'), src.indexOf('sys_uname:'));
    expect(uname).not.toContain('access_ok');
    expect(host).toContain('call access_ok');
    const t = traced({ crash: true });
    const rip = Number((t.events.find((e) => e.kind === 'cpu/exception') as { rip: bigint }).rip);
    expect(rip).toBeGreaterThanOrEqual(t.img.labels.get('sys_uname')!);
    expect(rip).toBeLessThan(t.img.labels.get('sys_ticks')!);
  });
});

describe('the same workloads as two VMs, each with its own copy of the kernel', () => {
  const vms = runPartitioning({ as: 'vms' });
  const crash = runPartitioning({ as: 'vms', crash: true });

  it('each kernel has one process, pid 1; each counts only its own ticks; two kernels in memory', () => {
    expect(vms.ended).toBe(true);
    expect(vms.kernelsInMemory).toBe(2);
    for (const u of vms.units) {
      expect([u.pid, u.nsPid]).toEqual([1, 1]);
      expect(said(u.console, u.name, 'tick')).toEqual([1, 2, 3]);
      expect(u.console).toContain(`[${u.name}] kernel ${KERNEL_VERSION}\n`);
      expect(u.console.startsWith(`kernel: ${KERNEL_VERSION} booting\nkernel: started pid 1 (${u.name}, pid 1 inside)\n`)).toBe(true);
      expect(u.end).toMatchObject({ kind: 'exited', exitCode: 0 });
      expect(u.vmEnd).toMatchObject({ kind: 'hlt' });
    }
    expect(vms.ticks).toEqual([4, 4]);
  });

  it('the writes cost I/O exits: two per byte the kernel sends to its UART (LSR poll, THR write), plus the UART set-up', () => {
    for (const r of [vms, crash]) {
      for (const u of r.units) {
        expect(u.exits.byName['EXIT_REASON_IO_INSTRUCTION']).toBe(2 + 2 * u.console.length);
        expect(u.exits.byName['EXIT_REASON_HLT']).toBe(1);
      }
    }
    const c = runPartitioning({ as: 'containers' });
    expect(c.units.map((u) => u.exits.total)).toEqual([0, 0]);
    expect(vms.cycles).toBeGreaterThan(10 * c.cycles);
  });

  it('one VM\u2019s process makes its kernel panic: only that VM stops, the other runs to its end as without the crash', () => {
    expect(crash.ended).toBe(true);
    const [alpha, beta] = crash.units;
    expect(beta!.end.kind).toBe('panic');
    expect(beta!.console).toMatch(/\[beta\] uname\(NULL\)\nkernel panic: page fault in ring 0 at 0x[0-9a-f]{8}, address 0x00000000, error 0x00000002, serving pid 1 \(beta, pid 1 inside\)\n/);
    expect(alpha!.end).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(alpha!.end.step!).toBeGreaterThan(beta!.end.step!);
    expect(alpha!.console).toBe(vms.units[0]!.console);
    expect(crash.ticks).toEqual([4, 2]);
  });

  it('the same under AMD-V', () => {
    const svm = runPartitioning({ as: 'vms', crash: true, under: 'svm' });
    expect(svm.preset).toBe('amd-recent');
    expect(svm.units.map((u) => u.end.kind)).toEqual(['exited', 'panic']);
    expect(svm.units.map((u) => u.console)).toEqual(crash.units.map((u) => u.console));
    for (const u of svm.units) expect(u.exits.byName['VMEXIT_IOIO']).toBe(2 + 2 * u.console.length);
  });
});

describe('the kernel source', () => {
  it('one code for every configuration: only the container table differs', () => {
    const a = buildContainerKernel([{ name: 'alpha', command: 'run' }]);
    const b = buildContainerKernel(partitionContainers({ crash: true }));
    const text = a.known.user_text - KERNEL_LOAD;
    expect(b.known.user_text).toBe(a.known.user_text);
    expect(b.code.subarray(0, text)).toEqual(a.code.subarray(0, text));
  });

  it('refuses bad container tables', () => {
    expect(() => kernelSource([])).toThrow(/from 1 to 8/);
    expect(() => kernelSource([{ name: 'Alpha!', command: 'run' }])).toThrow(/container name/);
    expect(() => kernelSource([{ name: 'a', command: 'run' }, { name: 'a', command: 'run' }])).toThrow(/differ/);
    expect(() => partitionContainers({ crash: true, peek: true })).toThrow(/one or the other/);
  });

  it('is deterministic', () => {
    const strip = (r: PartitionResult) => JSON.stringify(r);
    expect(strip(runPartitioning({ as: 'containers', crash: true }))).toBe(strip(runPartitioning({ as: 'containers', crash: true })));
  });
});
