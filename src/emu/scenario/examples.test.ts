import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArraySink, type TraceEvent } from '../trace/events.ts';
import { loadScenario } from './migrate.ts';
import { buildScenario, machineResult } from './build.ts';
import type { LoadedScenario } from './validate.ts';
import type { Machine } from '../machine/machine.ts';
import { HvMachine } from '../hv/hv-machine.ts';
import { HostMachine } from '../hv/host-machine.ts';
import { nicDriver, nvmeDriver, virtioBlkDriver, virtioDriver, IO_IRQ_VECTOR, IO_IRQS, IO_OUT, IO_RECEIVED, IO_SLOT } from '../hv/io-guest.ts';
import { ioReport } from '../hv/io-compare.ts';
import { VTD_FAULT } from '../iommu/vtd.ts';
import { AMDVI_EVENT } from '../iommu/amdvi.ts';
import { runBareKernel, runPv } from '../hv/pv/exec.ts';
import { runPartitioning } from '../hv/containers/run.ts';
import { PARTITION_EXAMPLES, partitionScenario } from '../hv/containers/scenarios.ts';

const DIR = join(import.meta.dirname, 'examples');

function example(name: string): LoadedScenario {
  const r = loadScenario(JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

/** Runs an example with the teaching events traced. */
function run(name: string): { ls: LoadedScenario; m: Machine; events: TraceEvent[]; end: string } {
  const ls = example(name);
  const m = buildScenario(ls);
  const sink = new ArraySink();
  m.setTrace(sink, ['ring/change', 'cpu/exception', 'cpu/interrupt', 'cpu/halt']);
  const end = m.run(ls.maxSteps);
  return { ls, m, events: sink.events, end };
}

const K = (ls: LoadedScenario, label: string) => BigInt(ls.kernel.labels.get(label)!);
const U = (ls: LoadedScenario, label: string) => BigInt(ls.user!.labels.get(label)!);
const strip = (events: TraceEvent[]) => events.map(({ step: _step, ...rest }) => rest);

describe('the example scenarios', () => {
  it('every JSON file in examples/ validates', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(['bare-metal-two-vms.json', 'bt-adaptive.json', 'bt-popf.json', 'bt-smc.json', 'containers-crash.json', 'containers.json', 'disk-three-ways.json', 'dma-attack-amdvi.json', 'dma-attack-vtd.json', 'dma-attack.json', 'hosted-two-vms.json', 'mm-workload.json', 'nested-walk-svm.json', 'nested-walk-vtx.json', 'nic-interrupts-amdvi.json', 'nic-interrupts-posted.json', 'nic-interrupts.json', 'nic-three-ways.json', 'nic-two-ways.json', 'page-fault.json', 'popf-trap.json', 'pv-kernel.json', 'pv-unmodified.json', 'red-pill.json', 'shadow-paging-svm.json', 'shadow-paging-vtx.json', 'sriov-two-vms.json', 'svm-first-exit.json', 'syscalls.json', 'timer.json', 'two-vms-svm.json', 'two-vms.json', 'vms-crash.json', 'vtx-first-exit.json']);
    for (const f of files) expect(loadScenario(JSON.parse(readFileSync(join(DIR, f), 'utf8'))).ok, f).toBe(true);
  });

  it('syscalls: INT 0x80 and SYSCALL write to the UART; each transition traced with its cause', () => {
    const { ls, m, events, end } = run('syscalls');
    expect(end).toBe('hlt');
    expect(m.devices.uartOut).toBe('hello from INT 0x80\nhello from SYSCALL\n');
    const user = ls.user!;
    // Return addresses: the instruction after each INT 0x80 (2 bytes) and SYSCALL (2 bytes).
    const bytes = user.bytes;
    const after = (opcode: [number, number], nth: number): bigint => {
      let seen = 0;
      for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === opcode[0] && bytes[i + 1] === opcode[1] && seen++ === nth) return BigInt(user.origin + i + 2);
      throw new Error('not found');
    };
    expect(strip(events)).toEqual([
      // kernel_entry enters ring 3 with IRETQ
      { kind: 'ring/change', from: 0, to: 3, cause: 'iret', rip: U(ls, 'user_entry') },
      // INT 0x80: delivered through the DPL-3 gate, CPL 3 → 0
      { kind: 'cpu/interrupt', vector: 0x80, source: 'software', rip: after([0xcd, 0x80], 0) - 2n }, // the INT itself
      { kind: 'ring/change', from: 3, to: 0, cause: 'software-interrupt', vector: 0x80, rip: K(ls, 'int80_handler') },
      { kind: 'ring/change', from: 0, to: 3, cause: 'iret', rip: after([0xcd, 0x80], 0) },
      // SYSCALL → LSTAR at CPL 0, SYSRET back to the next instruction at CPL 3
      { kind: 'ring/change', from: 3, to: 0, cause: 'syscall', rip: K(ls, 'syscall_entry') },
      { kind: 'ring/change', from: 0, to: 3, cause: 'sysret', rip: after([0x0f, 0x05], 0) },
      // exit
      { kind: 'ring/change', from: 3, to: 0, cause: 'syscall', rip: K(ls, 'syscall_entry') },
      { kind: 'cpu/halt', rip: expect.any(BigInt) as bigint },
    ]);
    expect(m.cpu.cpl()).toBe(0);
  });

  it('page-fault: #PF with error code 6 and CR2, the kernel maps a page, the write then succeeds', () => {
    const { ls, m, events, end } = run('page-fault');
    expect(end).toBe('hlt');
    expect(m.devices.uartOut).toBe('demand paging works: read 42 back\n');
    const data = BigInt(ls.layout.userBase + 0x80000);
    const faultRip = BigInt(ls.user!.labels.get('user_entry')! + 5); // after `mov edi, DATA`
    const relevant = events.filter((e) => e.kind !== 'cpu/halt');
    expect(strip(relevant.slice(0, 3))).toEqual([
      { kind: 'cpu/exception', vector: 14, errorCode: 6, rip: faultRip, cr2: data },
      { kind: 'ring/change', from: 3, to: 0, cause: 'exception', vector: 14, rip: K(ls, 'pf_handler') },
      // IRET returns to the faulting instruction itself, which now succeeds
      { kind: 'ring/change', from: 0, to: 3, cause: 'iret', rip: faultRip },
    ]);
    // Exactly one page fault in the whole run: the retried write and the read hit the new page.
    expect(events.filter((e) => e.kind === 'cpu/exception')).toHaveLength(1);
    // What the handler recorded in its own variables.
    const rd = (label: string) => m.mem.read(ls.kernel.labels.get(label)!, 4);
    expect(rd('last_cr2')).toBe(Number(data));
    expect(rd('last_error')).toBe(6);
    expect(rd('faults')).toBe(1);
    expect(rd('next_free')).toBe(0x301000);
    // The PTE the handler wrote (FREE_BASE | P | R/W | U/S), with A and D then set by the retried
    // write (SDM Vol. 3A, 4.8), and the value written through it.
    expect(m.mem.read(ls.layout.userPt + 0x80 * 4, 4)).toBe(0x300067);
    expect(m.mem.read(0x300000, 4)).toBe(42);
  });

  it('timer: the compute loop is preempted every period; the handler counts ticks at CPL 0', () => {
    const { ls, m, events, end } = run('timer');
    expect(end).toBe('hlt');
    const ticks = m.mem.read(ls.kernel.labels.get('ticks')!, 4);
    expect(ticks).toBe(4);
    expect(m.cpu.state.timer.fired).toBe(4);
    expect(m.devices.uartOut).toBe('TTTT\nloop done\n');
    const loop = ls.user!.labels.get('user_entry.loop')!;
    const interrupts = events.filter((e) => e.kind === 'cpu/interrupt');
    expect(interrupts.map((e) => e.step)).toEqual([2000, 4000, 6000, 8000]);
    for (const [i, e] of events.entries()) {
      if (e.kind !== 'cpu/interrupt') continue;
      // Delivered from the loop, at CPL 3 → 0 into timer_handler, and back to the same RIP.
      expect(e).toMatchObject({ vector: 32, source: 'external' });
      expect(Number(e.rip)).toBeGreaterThanOrEqual(loop);
      expect(events[i + 1]).toMatchObject({ kind: 'ring/change', from: 3, to: 0, cause: 'interrupt', vector: 32, rip: K(ls, 'timer_handler'), step: e.step });
      expect(events[i + 2]).toMatchObject({ kind: 'ring/change', from: 0, to: 3, cause: 'iret', rip: e.rip });
    }
    // The user's result is right despite the preemptions: sum 1..3000.
    expect(m.mem.read(0x200000 + (ls.user!.labels.get('sum')! - ls.layout.userBase), 4)).toBe(4501500);
  });

  it('runs the same example twice to the same final state', () => {
    const a = run('timer');
    const b = run('timer');
    expect(machineResult('x', b.m, 'hlt')).toEqual(machineResult('x', a.m, 'hlt'));
    expect(b.events).toEqual(a.events);
  });

  /**
   * The two hypervisor examples run the same guest (the kernel source is identical): each exit is
   * checked against the reference tables (tests/reference: Linux's names, without the prefix).
   */
  describe.each([
    ['vtx-first-exit', 'vmx-exit-reasons.json', (code: number) => String(code), 'EXIT_REASON_'],
    ['svm-first-exit', 'svm-exit-codes.json', (code: number) => `0x${code.toString(16).padStart(3, '0')}`, 'VMEXIT_'],
  ] as const)('%s', (name, table, key, prefix) => {
    const ref = JSON.parse(readFileSync(join(import.meta.dirname, '../../../tests/reference', table), 'utf8')) as Record<string, unknown>;

    it('runs to its end under the hypervisor, printing through the UART and the hypercall', () => {
      const ls = example(name);
      const m = buildScenario(ls) as unknown as HvMachine;
      expect(m).toBeInstanceOf(HvMachine);
      expect(m.run(ls.maxSteps)).toBe('hlt');
      expect(m.ended).toEqual({ kind: 'hlt' });
      expect(m.console).toBe('Hi\n!');
      expect(m.devices.uartOut).toBe('Hi\n');
      const exits = m.hypervisor.log.map((e) => [e.kind, e.action]);
      expect(exits).toEqual([
        ['cpuid', 'emulated'], ['cpuid', 'emulated'], ['io', 'forwarded'], ['io', 'forwarded'], ['io', 'forwarded'],
        ['msr', 'emulated'], ['hypercall', 'emulated'], ['hlt', 'ended'],
      ]);
      const want = ['CPUID', 'CPUID', 'IO', 'IO', 'IO', 'MSR', name.startsWith('vtx') ? 'VMCALL' : 'VMMCALL', 'HLT'];
      for (const [i, e] of m.hypervisor.log.entries()) {
        const refName = ref[key(e.code)];
        expect(typeof refName, `exit ${e.code} in ${table}`).toBe('string');
        expect(e.name).toBe(prefix + String(refName));
        expect(String(refName)).toContain(want[i] === 'IO' ? (prefix === 'VMEXIT_' ? 'IOIO' : 'IO_INSTRUCTION') : want[i] === 'MSR' ? (prefix === 'VMEXIT_' ? 'MSR' : 'MSR_READ') : want[i]);
      }
    });

    it('is the same guest as the other example', () => {
      const other = name === 'vtx-first-exit' ? 'svm-first-exit' : 'vtx-first-exit';
      expect(example(name).scenario.kernel).toEqual(example(other).scenario.kernel);
    });
  });

  /**
   * The two-VM examples: a 32-bit guest that halts between timer ticks and a 64-bit guest that
   * spins with interrupts off half of the time, each with its own PC devices, on one CPU.
   */
  describe.each([['two-vms', 'vtx'], ['two-vms-svm', 'svm']] as const)('%s', (name, technique) => {
    it('prints on each VM\'s own UART, takes timer interrupts, and interleaves the VMs on the CPU', () => {
      const ls = example(name);
      const m = buildScenario(ls) as unknown as HostMachine;
      expect(m).toBeInstanceOf(HostMachine);
      const sink = new ArraySink();
      m.setTrace(sink, ['vm/switch', 'vm/exit', 'vm/end']);
      expect(m.run(ls.maxSteps)).toBe('hlt');
      const [a, b] = m.host.report();
      expect([a!.uart, b!.uart]).toEqual(['hi ticks', 'bbb']);
      expect([m.console(0), m.console(1)]).toEqual(['hi ticks', 'bbb']);
      expect([m.vmEnd(0), m.vmEnd(1)]).toEqual(['hlt', 'hypercall-exit']);
      // Exits by reason (VT-x basic exit reasons; AMD-V exit codes).
      const codes = (r: typeof a) => Object.fromEntries(Object.values(r!.exits).map((e) => [e.code, e.count]));
      const [ca, cb] = [codes(a), codes(b)];
      if (technique === 'vtx') {
        expect(ca[12]).toBeGreaterThanOrEqual(5); // HLT: the halter waits for each tick
        expect(ca[30]).toBe(26); // I/O: 20 PIC and PIT set-up writes, 8 characters (2 more with a printed 'ticks')
        expect(ca[1]).toBeUndefined(); // always halted when its tick comes: woken by injection, never interrupted
        expect(cb[1]).toBe(12); // external interrupt: the host's timer for each of the spinner's 12 ticks
        expect(cb[7]).toBeGreaterThan(0); // interrupt window: a tick that came with IF = 0
        expect(cb[52]).toBeGreaterThan(0); // VMX-preemption timer: the end of a time slice
        expect(cb[18]).toBe(1); // VMCALL: the exit hypercall
      } else {
        expect(ca[0x78]).toBeGreaterThanOrEqual(5); // HLT
        expect(ca[0x7b]).toBe(26); // IOIO
        expect(cb[0x60]).toBeGreaterThanOrEqual(12); // INTR: the host's timer (ticks and the ends of slices)
        expect(cb[0x64]).toBeGreaterThan(0); // VINTR
        expect(cb[0x81]).toBe(1); // VMMCALL
      }
      // The CPU goes back and forth between the VMs: every switch leaves the VM the last one entered.
      const sw = sink.events.filter((e): e is Extract<TraceEvent, { kind: 'vm/switch' }> => e.kind === 'vm/switch');
      expect(sw.length).toBeGreaterThan(3);
      for (const [i, s] of sw.entries()) {
        expect(s.from).not.toBe(s.to);
        if (i > 0) expect(s.from).toBe(sw[i - 1]!.to);
      }
      expect(new Set(sw.map((s) => s.to))).toEqual(new Set([0, 1]));
      // Between two switches, the exits are the VM's that has the CPU.
      let on = 0;
      for (const e of sink.events) {
        if (e.kind === 'vm/switch') on = e.to;
        else if (e.kind === 'vm/exit') expect(e.vm).toBe(on);
      }
    });
  });

  /**
   * Where the hypervisor lives (hv/hosting.ts): the same printer and ticker VMs under a hosted
   * hypervisor (a host OS with one CPU-bound process) and a bare-metal one.
   */
  describe('hosted-two-vms and bare-metal-two-vms', () => {
    const HOSTED_DEVICE = ['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver', 'from-user', 'world-in', 'entry'];
    function runHosting(name: string): { m: HostMachine; events: TraceEvent[] } {
      const ls = example(name);
      expect(ls.scenario.vms?.map((v) => v.name)).toEqual(['printer', 'ticker']);
      const m = buildScenario(ls) as unknown as HostMachine;
      const sink = new ArraySink();
      m.setTrace(sink, ['vm/exit', 'host/path', 'host/run']);
      expect(m.run(ls.maxSteps)).toBe('hlt');
      return { m, events: sink.events };
    }
    const charged = (m: HostMachine, kind: 'world-switch' | 'host-user' | 'host-syscall'): number =>
      [0, 1].reduce((n, i) => n + (m.host.vm(i).ledger.data().byKind[kind]?.count ?? 0), 0);

    it('the same consoles and guest instructions either way; hosted, each byte through the VMM process and write(), and host process turns between slices', () => {
      const bare = runHosting('bare-metal-two-vms');
      const hosted = runHosting('hosted-two-vms');
      for (const { m } of [bare, hosted]) expect([m.console(0), m.console(1)]).toEqual(['vm\nvm\nvm\nvm\n', 'hi ticks']);
      expect(hosted.m.host.report().map((r) => r.steps)).toEqual(bare.m.host.report().map((r) => r.steps));
      expect([bare.m.host.hosting, hosted.m.host.hosting, hosted.m.host.hostProcesses]).toEqual(['bare-metal', 'hosted', 1]);
      for (const { m, events } of [bare, hosted]) {
        // A path for every exit, traced after it.
        const exits = m.host.report().reduce((n, r) => n + r.exitTotal, 0);
        expect(m.host.paths.length).toBe(exits);
        expect(events.filter((e) => e.kind === 'host/path').length).toBe(exits);
        // 20 bytes on COM1 (four "vm\n" lines, "hi ticks"), each a device exit whose byte left the machine.
        const devices = m.host.paths.filter((p) => p.where === 'device');
        expect(devices.length).toBe(20);
        expect(devices.every((p) => p.output)).toBe(true);
      }
      for (const p of bare.m.host.paths.filter((x) => x.where === 'device')) expect(p.hops).toEqual(['exit', 'device-model', 'driver', 'entry']);
      for (const p of hosted.m.host.paths.filter((x) => x.where === 'device')) expect(p.hops).toEqual(HOSTED_DEVICE);
      // The 8259A and 8254 stay in the monitor: no world switch for their ports.
      for (const p of hosted.m.host.paths.filter((x) => x.where === 'monitor' && !x.preempt)) expect(p.hops).toEqual(['exit', 'entry']);
      // What the ledgers charged is what the paths' hops say; bare-metal charges none of it.
      const hops = (h: string): number => hosted.m.host.paths.reduce((n, p) => n + p.hops.filter((x) => x === h).length, 0);
      expect(charged(hosted.m, 'world-switch')).toBe(hops('world-out') + hops('world-in'));
      expect(charged(hosted.m, 'host-user')).toBe(hops('to-user') + hops('from-user'));
      expect(charged(hosted.m, 'host-syscall')).toBe(20);
      for (const k of ['world-switch', 'host-user', 'host-syscall'] as const) expect(charged(bare.m, k)).toBe(0);
      // The host process's turns: each at most a quantum, the steps they took the CPU's, none bare-metal.
      const runs = hosted.m.host.hostRuns;
      expect(runs.length).toBeGreaterThan(2);
      expect(hosted.events.filter((e) => e.kind === 'host/run').length).toBe(runs.length);
      for (const r of runs) expect(r.steps).toBeGreaterThan(0);
      for (const r of runs) expect(r.steps).toBeLessThanOrEqual(2000);
      expect(hosted.m.host.hostSteps).toBeLessThanOrEqual(runs.reduce((n, r) => n + r.steps, 0));
      expect(hosted.m.host.hostSteps).toBeGreaterThan(0);
      expect(bare.m.host.hostRuns).toEqual([]);
      expect(hosted.m.cpu.state.steps - hosted.m.host.hostSteps - hosted.m.host.idleSteps).toBe(bare.m.cpu.state.steps - bare.m.host.idleSteps);
    });
  });

  describe('mm-workload: demand paging, fork and context switches', () => {
    /** The heap pages' values in the page table at `pt`, read through its PTEs (a frame per page). */
    const heap = (m: Machine, pt: number): { frame: number; value: number }[] =>
      Array.from({ length: 8 }, (_, i) => {
        const pte = m.mem.read(pt + (256 + i) * 8, 4);
        expect(pte & 7, `heap PTE ${i}`).toBe(7);
        const frame = pte & ~0xfff;
        return { frame, value: m.mem.read(frame, 4) };
      });

    /** The workload as a bare scenario (its JSON without the technique), or under a technique. */
    const workload = (technique: 'bare' | 'vtx' | 'svm'): LoadedScenario => {
      const { technique: _t, ...raw } = JSON.parse(readFileSync(join(DIR, 'mm-workload.json'), 'utf8')) as Record<string, unknown>;
      const r = loadScenario(technique === 'bare' ? raw : { ...raw, technique, cpu: { vendor: technique === 'svm' ? 'amd' : 'intel' } });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.loaded;
    };
    const runBare = (): { ls: LoadedScenario; m: Machine; events: TraceEvent[]; end: string } => {
      const ls = workload('bare');
      const m = buildScenario(ls);
      const sink = new ArraySink();
      m.setTrace(sink, ['ring/change', 'cpu/exception']);
      return { ls, m, events: sink.events, end: m.run(ls.maxSteps) };
    };

    it('gives each process its own heap: 8 demand faults, a fork that copies, 3 rounds each', () => {
      const { ls, m, events, end } = runBare();
      expect(end).toBe('hlt');
      const pf = events.filter((e) => e.kind === 'cpu/exception' && e.vector === 14);
      expect(pf).toHaveLength(8); // the parent's first touch of each heap page; the child's pages are copies
      const syscalls = events.filter((e) => e.kind === 'ring/change' && e.cause === 'syscall');
      expect(syscalls).toHaveLength(1 + 2 * 3 + 2); // fork, three yields each, two exits
      const parent = heap(m, ls.layout.userPt);
      const childPt = Number(m.mem.read(Number(K(ls, 'proc_pt')) + 8, 4));
      const child = heap(m, childPt);
      // Page i held 8 − i after the first touch; each round the parent adds 2, the child 1.
      expect(parent.map((p) => p.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => 8 - i + 3 * 2));
      expect(child.map((p) => p.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => 8 - i + 3 * 1));
      for (let i = 0; i < 8; i++) expect(child[i]!.frame).not.toBe(parent[i]!.frame);
      expect(m.mem.read(Number(K(ls, 'alive')), 2)).toBe(0);
    });

    it('is, as the example has it, the only guest of the hypervisor under VT-x', () => {
      const { m, end } = run('mm-workload');
      expect(m).toBeInstanceOf(HvMachine);
      expect(end).toBe('hlt');
    });

    it.each(['vtx', 'svm'] as const)('ends the same as the only guest of the hypervisor under %s', (technique) => {
      const bare = runBare();
      const ls = workload(technique);
      const m = buildScenario(ls);
      expect(m).toBeInstanceOf(HvMachine);
      expect(m.run(ls.maxSteps)).toBe('hlt');
      expect(machineResult('x', m, 'hlt').regs).toEqual(machineResult('x', bare.m, 'hlt').regs);
      expect(heap(m, bare.ls.layout.userPt)).toEqual(heap(bare.m, bare.ls.layout.userPt));
    });
  });

  it('nested-walk (VT-x and AMD-V): the same guest bytes; an EPT violation / #VMEXIT(NPF) at the MMIO address, then the guest\'s own #PF', () => {
    const out = (['vtx', 'svm'] as const).map((t) => {
      const ls = example(`nested-walk-${t}`);
      const m = buildScenario(ls);
      const sink = new ArraySink();
      m.setTrace(sink, ['vm/exit', 'cpu/exception']);
      const end = m.run(ls.maxSteps);
      return { ls, m, end, events: sink.events };
    });
    expect(out[0]!.ls.kernel.bytes).toEqual(out[1]!.ls.kernel.bytes);
    for (const [i, code] of [[0, 48], [1, 0x400]] as const) {
      const { m, end, events } = out[i]!;
      expect(end).toBe('hlt');
      expect(m.devices.uartOut).toBe('guest #PF at 0x80004000\n');
      const exits = events.filter((e) => e.kind === 'vm/exit');
      expect(exits[0]).toMatchObject({ code });
      expect(exits[0]!.kind === 'vm/exit' && Object.values(exits[0]!.info)).toContain(0x8000000n);
      expect(events.filter((e) => e.kind === 'cpu/exception')).toEqual([expect.objectContaining({ vector: 14, errorCode: 0, cr2: 0x80004000n })]);
    }
  });
});


/**
 * Issue 8's examples: a network card given two ways side by side, and an assigned card's DMA into
 * another VM without an IOMMU, then blocked by VT-d and by AMD-Vi. Their drivers are io-guest.ts's,
 * word for word.
 */
describe('the I/O examples', () => {
  const MIB8 = 8 * 1024 * 1024;
  const text = (m: HostMachine, hpa: number, n: number) => String.fromCharCode(...Array.from({ length: n }, (_, i) => m.mem.read8(hpa + i)));

  it('nic-two-ways: the same driver delivers all 6 frames; emulated, every TDT and RDT write exits; assigned, none', () => {
    const ls = example('nic-two-ways');
    expect(ls.scenario.vms!.map((v) => v.kernel)).toEqual([{ source: nicDriver(6) }, { source: nicDriver(6) }]);
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    const [emu, asg] = [ioReport(m.host, 0, 'emulated', 'vtd', 6, 'ended'), ioReport(m.host, 1, 'assigned', 'vtd', 6, 'ended')];
    expect([emu.dataOk, asg.dataOk]).toEqual([true, true]);
    expect(emu.exits.mmio).toBe(12 + 2 * 6);
    expect(asg.exits.mmio).toBe(0);
    expect(emu.exits.config).toBe(asg.exits.config);
    // The assigned card's DMA went through VM 1's domain into VM 1's RAM.
    expect(m.host.pci!.dmaLog.every((e) => e.ok && e.domainId === 2 && e.hpa! >= MIB8 && e.hpa! < 2 * MIB8)).toBe(true);
  });

  it('nic-three-ways: emulated, virtio and assigned each deliver all 8 frames; MMIO exits 12 + 2 per frame, virtio\u2019s port exits 12 + 2 for the batch, assigned none', () => {
    const ls = example('nic-three-ways');
    expect(ls.scenario.vms!.map((v) => [v.name, v.devices?.nic, v.kernel])).toEqual([['emulated', 'emulated', { source: nicDriver(8) }], ['virtio', 'virtio', { source: virtioDriver(8) }], ['assigned', 'assigned', { source: nicDriver(8) }]]);
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    const [emu, vio, asg] = (['emulated', 'virtio', 'assigned'] as const).map((w, i) => ioReport(m.host, i, w, 'vtd', 8, 'ended'));
    expect([emu!.dataOk, vio!.dataOk, asg!.dataOk]).toEqual([true, true, true]);
    expect([emu!.exits.mmio, vio!.exits.mmio, asg!.exits.mmio]).toEqual([12 + 16, 0, 0]);
    expect([emu!.exits.devicePorts, vio!.exits.devicePorts, asg!.exits.devicePorts]).toEqual([0, 12 + 2, 0]);
    expect(asg!.device.dataBytes).toBe(emu!.hypervisor.dataBytes);
  });

  it('sriov-two-vms: one SR-IOV card, a VF for each VM: the same driver delivers all 6 frames in both, each VF\u2019s DMA with its own requester ID through its own VT-d domain', () => {
    const ls = example('sriov-two-vms');
    expect(ls.scenario.vms!.map((v) => [v.devices?.nic, v.kernel])).toEqual([['vf', { source: nicDriver(6) }], ['vf', { source: nicDriver(6) }]]);
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    const reports = [0, 1].map((i) => ioReport(m.host, i, 'assigned', 'vtd', 6, 'ended'));
    expect(reports.map((r) => [r.dataOk, r.exits.mmio])).toEqual([[true, 0], [true, 0]]);
    // The PF at 00:10.0 (RID 0x80) made none of it; VF 0 (0x81) and VF 1 (0x82) each through their VM's domain into their VM's RAM.
    const log = m.host.pci!.dmaLog;
    expect(new Set(log.map((e) => e.rid))).toEqual(new Set([0x81, 0x82]));
    for (const [i, rid] of [0x81, 0x82].entries()) {
      expect(m.host.deviceOf(i)!.assigned).toMatchObject({ rid, vf: i });
      expect(log.filter((e) => e.rid === rid).every((e) => e.ok && e.domainId === i + 1 && e.hpa! >= i * MIB8 && e.hpa! < (i + 1) * MIB8)).toBe(true);
    }
  });

  it('disk-three-ways: the NVMe-shaped controller emulated, virtio-blk and the controller assigned each read back all 8 blocks; MMIO exits only for the emulated one', () => {
    const ls = example('disk-three-ways');
    expect(ls.scenario.vms!.map((v) => [v.name, v.devices?.disk, v.kernel])).toEqual([['emulated', 'emulated', { source: nvmeDriver(8) }], ['virtio', 'virtio', { source: virtioBlkDriver(8) }], ['assigned', 'assigned', { source: nvmeDriver(8) }]]);
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    const [emu, vio, asg] = (['emulated', 'virtio', 'assigned'] as const).map((w, i) => ioReport(m.host, i, w, 'vtd', 8, 'ended', 'disk'));
    expect([emu!.dataOk, vio!.dataOk, asg!.dataOk]).toEqual([true, true, true]);
    expect([emu!.exits.mmio > 0, vio!.exits.mmio, asg!.exits.mmio]).toEqual([true, 0, 0]);
    // virtio-blk: set-up 7, then one notification for the 8 writes and one for the 8 reads.
    expect(vio!.exits.devicePorts).toBe(7 + 2);
    expect(asg!.device.dataBytes).toBe(emu!.hypervisor.dataBytes);
  });

  it('nic-interrupts / nic-interrupts-posted: both VMs take all 4 interrupts; remapped, the assigned card costs an interrupt exit and an EOI exit per frame, posted neither', () => {
    for (const [name, posted] of [['nic-interrupts', false], ['nic-interrupts-posted', true]] as const) {
      const ls = example(name);
      expect(ls.scenario.vms!.map((v) => [v.name, v.devices?.nic, v.kernel])).toEqual([['emulated', 'emulated', { source: nicDriver(4, { irq: true }) }], ['assigned', 'assigned', { source: nicDriver(4, { irq: true }) }]]);
      expect(ls.scenario.postedInterrupts === true).toBe(posted);
      const m = buildScenario(ls) as unknown as HostMachine;
      expect(m.run(ls.maxSteps)).toBe('hlt');
      const [emu, asg] = (['emulated', 'assigned'] as const).map((w, i) => ioReport(m.host, i, w, 'vtd', 4, 'ended'));
      expect([emu!.dataOk, asg!.dataOk]).toEqual([true, true]);
      expect([0, 1].map((i) => m.host.mem.read(m.host.vm(i).hpaBase + IO_IRQS, 4))).toEqual([4, 4]);
      expect([emu!.exits.eoi, asg!.exits.eoi]).toEqual([4, posted ? 0 : 4]);
      // The assigned VM's external-interrupt exits: its card's 4 MSIs when remapped (VT-x's host timer is the preemption timer, not an interrupt).
      expect(asg!.exits.interrupts).toBe(posted ? 0 : 4);
      expect(m.host.interruptsOf(1).msi).toEqual({ guestVector: IO_IRQ_VECTOR, route: posted ? 'posted' : 'remapped' });
    }
  });

  it('nic-interrupts-amdvi: under AMD-V the assigned card\u2019s MSI passes AMD-Vi\u2019s interrupt table to host vector 0x61; both VMs take all 4 interrupts', () => {
    const ls = example('nic-interrupts-amdvi');
    expect(ls.scenario.vms!.map((v) => [v.devices?.nic, v.kernel])).toEqual([['emulated', { source: nicDriver(4, { irq: true }) }], ['assigned', { source: nicDriver(4, { irq: true }) }]]);
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    const [emu, asg] = (['emulated', 'assigned'] as const).map((w, i) => ioReport(m.host, i, w, 'amd-vi', 4, 'ended'));
    expect([emu!.dataOk, asg!.dataOk, emu!.exits.eoi, asg!.exits.eoi]).toEqual([true, true, 4, 4]);
    expect([0, 1].map((i) => m.host.mem.read(m.host.vm(i).hpaBase + IO_IRQS, 4))).toEqual([4, 4]);
    const log = m.host.pci!.snapshot().msiLog;
    expect(log).toHaveLength(4);
    for (const msg of log) expect(msg.remap).toMatchObject({ kind: 'remapped', index: 0, target: { vector: 0x61 } });
  });

  const SECRET = "victim's secret: the launch code is 0000";
  it('dma-attack: without an IOMMU the attacker\u2019s card reads the victim\u2019s secret and loops it back to the attacker', () => {
    const ls = example('dma-attack');
    expect(ls.scenario.vms![0]!.kernel).toEqual({ source: nicDriver(4, { steal: MIB8 + 0x300000 }) });
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    expect(m.mem.read(IO_RECEIVED, 4)).toBe(4);
    expect(text(m, IO_OUT + 3 * IO_SLOT, SECRET.length)).toBe(SECRET);
    expect(m.host.pci!.dmaLog.some((e) => e.ok && e.hpa === MIB8 + 0x300000)).toBe(true);
  });

  it.each([['dma-attack-vtd', 'vtd'], ['dma-attack-amdvi', 'amd-vi']] as const)('%s: the read is blocked and recorded; the attacker receives only its own 3 frames', (name, iommu) => {
    const ls = example(name);
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m.run(ls.maxSteps)).toBe('hlt');
    expect(m.mem.read(IO_RECEIVED, 4)).toBe(3);
    const blocked = m.host.pci!.dmaLog.filter((e) => !e.ok);
    expect(blocked).toHaveLength(1);
    if (iommu === 'vtd') expect(blocked[0]!.fault).toEqual({ vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true });
    else expect(blocked[0]!.fault).toEqual({ vendor: 'amd-vi', code: AMDVI_EVENT.IO_PAGE_FAULT, logged: true });
    expect(blocked[0]!.iova).toBe(`0x${(MIB8 + 0x300000).toString(16)}`);
    expect(text(m, MIB8 + 0x300000, SECRET.length)).toBe(SECRET);
  });
});

/** An example run to its end with or without its technique: the guest's registers (from machineResult) and its UART. */
function runBareOr(name: string, bare: boolean): { regs: Record<string, unknown>; uart: string; traps: Record<string, number> | undefined; end: string } {
  const json = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;
  if (bare) delete json.technique;
  const r = loadScenario(json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded);
  const end = m.run(r.loaded.maxSteps);
  const res = machineResult(name, m, end);
  return { regs: res.regs as Record<string, unknown>, uart: m.devices.uartOut, traps: res.hv?.traps, end };
}

/** The registers whose values differ between two runs: name → [bare, trap-and-emulate]. */
function regDiff(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const k of Object.keys(a)) if (a[k] !== b[k]) out[k] = [a[k], b[k]];
  return out;
}

describe('the trap-and-emulate examples, bare and under the monitor', () => {
  it('popf-trap: STI and CLI trap and are emulated; POPF in ring 1 leaves IF 0 without a trap', () => {
    const bare = runBareOr('popf-trap', true);
    const te = runBareOr('popf-trap', false);
    expect([bare.end, te.end]).toEqual(['hlt', 'hlt']);
    expect(bare.uart).toBe('S1\nP1\n');
    expect(te.uart).toBe('S1\nP0\n');
    // Exactly the flags the lost IF touches: EFLAGS after POPF (ECX, then EAX and EDI in the report routine) and RFLAGS at the end.
    expect(regDiff(bare.regs, te.regs)).toEqual({ rax: [0x202, 0x2], rcx: [0x202, 0x2], rdi: [0x202, 0x2], rflags: [0x202, 0x6] });
    // Six OUTs, STI, CLI and HLT trapped (#GP), two hidden page faults filled the shadow; POPF is not among them.
    expect(te.traps).toEqual({ '#PF': 2, cli: 1, hlt: 1, out: 6, sti: 1 });
  });

  it('red-pill: SIDT, SGDT, SMSW and STR read the monitor\u2019s values without a trap; CS shows RPL 1', () => {
    const bare = runBareOr('red-pill', true);
    const te = runBareOr('red-pill', false);
    expect([bare.end, te.end]).toEqual(['hlt', 'hlt']);
    expect(bare.uart).toBe('on the bare machine\n');
    expect(te.uart).toBe('inside a monitor\n');
    expect(regDiff(bare.regs, te.regs)).toEqual({
      // SGDT: the guest's GDT at 0x1000; the monitor's shadow GDT at MONITOR_LINEAR.
      rsi: [0x1000, 0xffc00000],
      // SIDT: the guest's IDT at 0x2000; the monitor's shadow IDT 64 KiB above its GDT.
      rdi: [0x2000, 0xffc10000],
      // SMSW: the guest runs without paging; the processor runs it with PG and WP on (the shadow).
      rbx: [0x31, 0x80010031],
      // STR: the guest's TSS selector 0x30; the monitor's, the shadow GDT's last entry.
      rcx: [0x30, 0xfff8],
      // MOV BP, CS: RPL 0 bare, RPL 1 under ring compression.
      rbp: [0x8, 0x9],
    });
    // Only the UART's OUTs trapped (one per character) and the final HLT, besides a hidden page fault: the red pill itself made none.
    expect(te.traps).toEqual({ '#PF': 1, hlt: 1, out: 17 });
  });
});


describe('the binary-translation examples, bare and under the monitor', () => {
  /** An example's run under binary translation with its figures (machineResult's hv.bt). */
  const underBt = (name: string) => {
    const ls = example(name);
    const m = buildScenario(ls);
    const end = m.run(ls.maxSteps);
    return { end, res: machineResult(name, m, end), uart: m.devices.uartOut };
  };

  it('bt-popf: the kernel of popf-trap ends as bare: POPF is a sensitive callout, and IF does change', () => {
    const bare = runBareOr('bt-popf', true);
    const { end, res, uart } = underBt('bt-popf');
    expect([bare.end, end]).toEqual(['hlt', 'hlt']);
    expect(uart).toBe('S1\nP1\n');
    expect(res.regs).toEqual(bare.regs);
    // The same kernel as popf-trap: under trap-and-emulate it printed P0.
    expect(runBareOr('popf-trap', false).uart).toBe('S1\nP0\n');
    const bt = res.hv!.bt!;
    // STI, CLI, HLT and the six OUTs privileged; POPFD and five PUSHFDs sensitive; the two RETs indirect.
    expect(bt.callouts).toEqual({ privileged: 9, sensitive: 6, indirect: 2 });
    expect(res.hv!.traps!.popfd).toBe(1);
  });

  it('bt-smc: each write to the MOV\u2019s immediate drops its blocks and the code is translated again; EBX = 6 as bare', () => {
    const bare = runBareOr('bt-smc', true);
    const { end, res, uart } = underBt('bt-smc');
    expect([bare.end, end]).toEqual(['hlt', 'hlt']);
    expect(uart).toBe('6\n');
    expect(res.regs).toEqual(bare.regs);
    expect(res.regs.rbx).toBe(6);
    const bt = res.hv!.bt!;
    expect(bt.codeWrites).toBe(3);
    expect(bt.invalidations).toBe(5);
    expect(bt.blocks).toBe(9);
    expect(res.hv!.traps!['code write']).toBe(3);
  });

  it('bt-adaptive: after two page-table-write faults by the store, it is a callout: 7 of its 10 writes reach the monitor without a fault', () => {
    const bare = runBareOr('bt-adaptive', true);
    const { end, res } = underBt('bt-adaptive');
    expect([bare.end, end]).toEqual(['hlt', 'hlt']);
    expect(res.regs).toEqual(bare.regs);
    expect(res.regs.rax).toBe(0x5a5a5a5a);
    const bt = res.hv!.bt!;
    expect(bt.adaptive).toBe(1);
    expect(bt.callouts['page-table-write']).toBe(7);
    expect(res.hv!.traps!['page-table write']).toBe(7);
  });
});

describe('the paravirtualization examples', () => {
  it('pv-kernel: the paravirtualized kernel runs to its shutdown as runPv runs it; its page table in one mmu_update of 1025 requests', () => {
    const r = loadScenario(JSON.parse(readFileSync(join(DIR, 'pv-kernel.json'), 'utf8')));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const m = buildScenario(r.loaded);
    const end = m.run(r.loaded.maxSteps);
    const res = machineResult('pv-kernel', m, end);
    const ref = runPv('paravirtualized');
    expect(res.hv?.console).toBe(ref.console);
    expect(res.hv?.console).toBe('kernel: up\nkernel: paging on\nuser: hello from ring 3\nkernel: the program exited\n');
    expect(res.hv?.exitCode).toBe(0);
    expect(res.hv?.paging).toBe('direct');
    const hv = m as unknown as HvMachine;
    const calls = hv.records.flatMap((x) => (x.hypercall === undefined ? [] : [x.hypercall]));
    expect(calls.map((c) => c.name)).toEqual(ref.hv.hypercalls.log.map((c) => c.name));
    expect(calls.filter((c) => c.name === 'mmu_update').map((c) => c.args.count)).toEqual([1025]);
    // The user program's result, as the bare run of the unmodified kernel gets it.
    expect(ref.results).toEqual(runBareKernel('unmodified').results);
  });

  it('pv-unmodified: the kernel before the port stops at its CLI, the reason located', () => {
    const r = loadScenario(JSON.parse(readFileSync(join(DIR, 'pv-unmodified.json'), 'utf8')));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const m = buildScenario(r.loaded) as unknown as HvMachine;
    m.run(r.loaded.maxSteps);
    expect(m.ended?.kind).toBe('error');
    expect(m.ended?.kind === 'error' ? m.ended.why : '').toContain('CLI at 0x100000: not paravirtualized');
    expect(m.cpu.state.steps).toBe(0);
    expect(m.records.map((x) => x.trap?.label)).toEqual(['not paravirtualized: cli']);
  });
});

describe('the partitioning examples (containers against VMs)', () => {
  it('are the generator\u2019s output (scripts/partition-examples.ts writes them)', () => {
    for (const id of PARTITION_EXAMPLES) expect(JSON.parse(readFileSync(join(DIR, `${id}.json`), 'utf8')), id).toEqual(JSON.parse(JSON.stringify(partitionScenario(id))));
  });

  it('containers: the kernel\u2019s console as the runner\u2019s; only user \u2194 kernel transitions, 32 system calls, no VM', () => {
    const { m, events, end } = run('containers');
    expect(end).toBe('hlt');
    const ref = runPartitioning({ as: 'containers' });
    expect(m.devices.uartOut).toBe(ref.console);
    expect(m.cpu.state.steps).toBe(ref.steps);
    const rings = events.filter((e) => e.kind === 'ring/change');
    expect(new Set(rings.map((e) => `${e.from}>${e.to}`))).toEqual(new Set(['0>3', '3>0']));
    expect(rings.filter((e) => e.kind === 'ring/change' && e.cause === 'software-interrupt' && e.vector === 0x80)).toHaveLength(32);
    expect(events.filter((e) => e.kind === 'cpu/exception')).toEqual([]);
    expect(events.some((e) => e.kind.startsWith('vm/'))).toBe(false);
  });

  it('containers-crash: beta\u2019s uname(NULL) faults in ring 0 and the kernel halts with both containers', () => {
    const { m, events, end } = run('containers-crash');
    expect(end).toBe('hlt');
    const ref = runPartitioning({ as: 'containers', crash: true });
    expect(m.devices.uartOut).toBe(ref.console);
    expect(m.devices.uartOut).toContain('[beta] uname(NULL)\nkernel panic: page fault in ring 0 at ');
    const pf = events.filter((e) => e.kind === 'cpu/exception');
    expect(pf).toHaveLength(1);
    expect(pf[0]).toMatchObject({ vector: 14, errorCode: 2, cr2: 0n });
    expect(m.cpu.cpl()).toBe(0);
  });

  it('vms-crash: each VM\u2019s console as the runner\u2019s VMs; beta\u2019s kernel panics, alpha\u2019s runs its process to the end', () => {
    const ls = example('vms-crash');
    const m = buildScenario(ls) as unknown as HostMachine;
    expect(m).toBeInstanceOf(HostMachine);
    const sink = new ArraySink();
    m.setTrace(sink, ['vm/end']);
    expect(m.run(ls.maxSteps)).toBe('hlt');
    const ref = runPartitioning({ as: 'vms', crash: true });
    expect([m.console(0), m.console(1)]).toEqual(ref.units.map((u) => u.console));
    expect(m.console(0)).toMatch(/kernel: pid 1 \(alpha, pid 1 inside\) exited with code 0\nkernel: no process left; halted\n$/);
    expect(m.console(1)).toMatch(/\[beta\] uname\(NULL\)\nkernel panic: page fault in ring 0 at 0x[0-9a-f]{8}, address 0x00000000, error 0x00000002, serving pid 1 \(beta, pid 1 inside\)\nkernel: halted; every container stops\n$/);
    // Both VMs end (each kernel's final HLT with interrupts off), each at its own step.
    expect([m.vmEnd(0), m.vmEnd(1)]).toEqual(['hlt', 'hlt']);
    expect(sink.events.filter((e) => e.kind === 'vm/end')).toHaveLength(2);
    const report = m.host.report();
    for (const r of report) expect(r.exits['EXIT_REASON_IO_INSTRUCTION']!.count).toBe(2 + 2 * r.uart.length);
  });
});
