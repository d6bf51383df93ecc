/**
 * Hosted against bare-metal (hosting.ts, host.ts `hosting`): bare-metal is the hypervisor as it ran
 * before the option; hosted sends device exits, host interrupts and halts through the host world,
 * charges each hop, and lets host processes take the CPU between slices; the guests' results do not
 * change. Snapshot/restore in the middle of a hosted run equals a straight run.
 */
import { describe, expect, it } from 'vitest';
import { Host, type HostGuest } from './host.ts';
import { exitWhere, hopsOf, hostedCharges } from './hosting.ts';
import { compareHosting, hostingGuests } from './hosting-compare.ts';
import { HostMachine } from './host-machine.ts';
import { assemble } from '../asm/assembler.ts';
import { pcInit } from './host-guests.ts';
import { ArraySink, type TraceEvent } from '../trace/events.ts';
import { loadScenario } from '../scenario/migrate.ts';
import type { HvExit } from './types.ts';

const io = (port: number): HvExit => ({ code: 30, name: 'EXIT_REASON_IO_INSTRUCTION', detail: { kind: 'io', dir: 'out', port, size: 1, string: false, rep: false }, rip: 0n, raw: {} });

function ledgerOf(h: Host): { cycles: number; kinds: Record<string, number> }[] {
  return h.report().map((_r, i) => {
    const d = h.vm(i).ledger.data();
    return { cycles: d.cycles, kinds: Object.fromEntries(Object.entries(d.byKind).map(([k, v]) => [k, v.count])) };
  });
}

describe('where each exit goes', () => {
  it('keeps the interrupt controller and timer in the monitor and sends the UART to a device model', () => {
    for (const p of [0x20, 0x21, 0xa0, 0xa1, 0x40, 0x43]) expect(exitWhere(io(p))).toBe('monitor');
    for (const p of [0x3f8, 0x3fd, 0xcf8, 0x80]) expect(exitWhere(io(p))).toBe('device');
    expect(exitWhere({ ...io(0), detail: { kind: 'external-interrupt' } })).toBe('interrupt');
    expect(exitWhere({ ...io(0), detail: { kind: 'hlt' } })).toBe('idle');
    expect(exitWhere({ ...io(0), detail: { kind: 'cpuid' } })).toBe('monitor');
    expect(exitWhere({ ...io(0), detail: { kind: 'mmio', gpa: 0xfeb00000, access: 'write', guestTable: false } })).toBe('device');
  });

  it('gives a hosted device exit with output the world switches, the VMM process and its system call', () => {
    const hosted = hopsOf('hosted', 'device', true, false);
    expect(hosted).toEqual(['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver', 'from-user', 'world-in', 'entry']);
    expect(hostedCharges(hosted)).toEqual({ worldSwitches: 2, userCrossings: 2, syscalls: 1 });
    expect(hopsOf('bare-metal', 'device', true, false)).toEqual(['exit', 'device-model', 'driver', 'entry']);
    expect(hopsOf('hosted', 'monitor', false, false)).toEqual(['exit', 'entry']);
    expect(hopsOf('hosted', 'monitor', false, true)).toEqual(['exit', 'world-out', 'host-scheduler', 'world-in', 'entry']);
    expect(hopsOf('bare-metal', 'monitor', false, true)).toEqual(['exit', 'hv-scheduler', 'entry']);
    expect(hopsOf('hosted', 'idle', false, false)).toEqual(['exit', 'world-out', 'host-scheduler', 'world-in', 'entry']);
    expect(hostedCharges(hopsOf('bare-metal', 'device', true, true))).toEqual({ worldSwitches: 0, userCrossings: 0, syscalls: 0 });
  });
});

describe('the multi-VM host, bare-metal and hosted', () => {
  const guests = (): HostGuest[] => hostingGuests(4);

  it('bare-metal is the hypervisor as it runs without the option: same steps, consoles, exits and cycles', () => {
    const a = new Host({ under: 'vtx', guests: guests() });
    const b = new Host({ under: 'vtx', guests: guests(), hosting: 'bare-metal' });
    expect(a.run(1_000_000)).toBe('ended');
    expect(b.run(1_000_000)).toBe('ended');
    expect(b.cpu.state.steps).toBe(a.cpu.state.steps);
    expect(b.report()).toEqual(a.report());
    expect(ledgerOf(b)).toEqual(ledgerOf(a));
    expect(a.paths).toEqual([]);
    expect(b.paths.length).toBe(b.report().reduce((n, r) => n + r.exitTotal, 0));
    expect(b.hostRuns).toEqual([]);
  });

  for (const under of ['vtx', 'svm'] as const) {
    it(`hosted under ${under}: the guests' results are unchanged, every hop is charged, host processes take the CPU`, () => {
      const bare = new Host({ under, guests: guests(), hosting: 'bare-metal' });
      const hosted = new Host({ under, guests: guests(), hosting: 'hosted', hostProcesses: 1 });
      expect(bare.run(1_000_000)).toBe('ended');
      expect(hosted.run(1_000_000)).toBe('ended');
      const [rb, rh] = [bare.report(), hosted.report()];
      expect(rh.map((r) => r.console)).toEqual(rb.map((r) => r.console));
      expect(rh.map((r) => r.console)).toEqual(['vm\nvm\nvm\nvm\n', 'hi ticks']);
      expect(rh.map((r) => r.steps)).toEqual(rb.map((r) => r.steps));
      // Every character the VMs sent left through one system call of the VMM process.
      const chars = rh.reduce((n, r) => n + r.console.length, 0);
      const outs = hosted.paths.filter((p) => p.output);
      expect(outs.length).toBe(chars);
      for (const p of outs) expect(p.hops).toEqual(['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver', 'from-user', 'world-in', 'entry']);
      // The charges are the paths' hops, exit by exit.
      const want = hosted.paths.reduce((t, p) => {
        const c = hostedCharges(p.hops);
        return { worldSwitches: t.worldSwitches + c.worldSwitches, userCrossings: t.userCrossings + c.userCrossings, syscalls: t.syscalls + c.syscalls };
      }, { worldSwitches: 0, userCrossings: 0, syscalls: 0 });
      const count = (k: string): number => ledgerOf(hosted).reduce((n, l) => n + (l.kinds[k] ?? 0), 0);
      expect(count('world-switch')).toBe(want.worldSwitches);
      expect(count('host-user')).toBe(want.userCrossings);
      expect(count('host-syscall')).toBe(chars);
      // The VMM process is crossed into and out of for each device exit the VM came back from.
      for (const p of hosted.paths) if (p.where === 'device' && p.hops.includes('entry')) expect(hostedCharges(p.hops).userCrossings).toBe(2);
      // Every device exit, halt and host interrupt the VM came back from took two world switches.
      for (const p of hosted.paths) if (p.where !== 'monitor' && p.hops.includes('entry')) expect(hostedCharges(p.hops).worldSwitches).toBe(2);
      // Bare-metal charges none of it.
      for (const k of ['world-switch', 'host-user', 'host-syscall']) expect(ledgerOf(bare).every((l) => l.kinds[k] === undefined)).toBe(true);
      // The host process ran, and its steps are the CPU time the VMs did not get.
      expect(hosted.hostRuns.length).toBeGreaterThan(0);
      expect(hosted.hostSteps).toBe(hosted.hostRuns.reduce((n, r) => n + r.steps, 0));
      expect(hosted.cpu.state.steps).toBe(rh.reduce((n, r) => n + r.steps, 0) + hosted.hostSteps + hosted.idleSteps);
      expect(hosted.cpu.state.steps).toBeGreaterThan(bare.cpu.state.steps);
    });
  }

  it('without host processes, hosted changes the paths and their cost but not the schedule', () => {
    const bare = new Host({ under: 'vtx', guests: guests(), hosting: 'bare-metal' });
    const hosted = new Host({ under: 'vtx', guests: guests(), hosting: 'hosted', hostProcesses: 0 });
    bare.run(1_000_000);
    hosted.run(1_000_000);
    expect(hosted.cpu.state.steps).toBe(bare.cpu.state.steps);
    expect(hosted.switches).toEqual(bare.switches);
    expect(hosted.paths.map((p) => [p.step, p.vm, p.name, p.where, p.output])).toEqual(bare.paths.map((p) => [p.step, p.vm, p.name, p.where, p.output]));
    expect(hosted.hostRuns).toEqual([]);
  });

  it('a hosted run split anywhere, with a snapshot restored, equals a straight run', () => {
    const straight = new Host({ under: 'vtx', guests: guests(), hosting: 'hosted', hostProcesses: 2 });
    straight.run(1_000_000);
    for (const cut of [1, 1999, 2600, 5000, 9000]) {
      const h = new Host({ under: 'vtx', guests: guests(), hosting: 'hosted', hostProcesses: 2 });
      h.run(cut);
      const snap = h.snapshot();
      h.run(cut + 3000);
      h.restore(snap);
      expect(h.cpu.state.steps).toBe(cut);
      h.run(1_000_000);
      expect(h.cpu.state.steps).toBe(straight.cpu.state.steps);
      expect(h.paths).toEqual(straight.paths);
      expect(h.hostRuns).toEqual(straight.hostRuns);
      expect(h.hostSteps).toBe(straight.hostSteps);
      expect(ledgerOf(h)).toEqual(ledgerOf(straight));
      expect(h.report()).toEqual(straight.report());
    }
  });

  it('refuses options that do not fit', () => {
    expect(() => new Host({ under: 'vtx', guests: guests(), hosting: 'type-2' as never })).toThrow(/bare-metal or hosted/);
    expect(() => new Host({ under: 'vtx', guests: guests(), hosting: 'bare-metal', hostProcesses: 1 })).toThrow(/only with hosting: hosted/);
    expect(() => new Host({ under: 'vtx', guests: guests(), hosting: 'hosted', hostProcesses: 4 })).toThrow(/from 0 to 3/);
  });
});

describe('the trace and the scenario', () => {
  it('traces each exit\'s path after its events, and each host process turn', () => {
    const m = new HostMachine({ under: 'vtx', guests: hostingGuests(2), hosting: 'hosted', hostProcesses: 1 });
    const sink = new ArraySink();
    m.setTrace(sink, ['vm/exit', 'vm/handle', 'host/path', 'host/run']);
    m.run(1_000_000);
    const ev = sink.events;
    const paths = ev.filter((e): e is Extract<TraceEvent, { kind: 'host/path' }> => e.kind === 'host/path');
    expect(paths.length).toBe(m.host.paths.length);
    expect(paths.length).toBe(ev.filter((e) => e.kind === 'vm/exit').length);
    // Each path comes right after its exit's handle event, at the same step and VM.
    ev.forEach((e, i) => {
      if (e.kind !== 'host/path') return;
      const h = ev[i - 1]!;
      expect(h.kind).toBe('vm/handle');
      expect(h.step).toBe(e.step);
      if (h.kind === 'vm/handle') expect(h.vm).toBe(e.vm);
      expect(e.hosting).toBe('hosted');
    });
    const runs = ev.filter((e) => e.kind === 'host/run');
    expect(runs.length).toBe(m.host.hostRuns.length);
    expect(runs.length).toBeGreaterThan(0);
  });

  it('validates hypervisor.hosting and hostProcesses with located errors', () => {
    const base = JSON.parse(JSON.stringify(loadScenarioJson()));
    const bad = (hv: Record<string, unknown>, top: Record<string, unknown> = {}): string[] => {
      const r = loadScenario({ ...base, ...top, hypervisor: { ...base.hypervisor, ...hv } });
      return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    };
    expect(bad({ hosting: 'hosted' })).toEqual([]);
    expect(bad({ hosting: 'hosted', hostProcesses: 2 })).toEqual([]);
    expect(bad({ hosting: 'type-2' })).toEqual(["hypervisor.hosting: expected 'bare-metal' or 'hosted', got \"type-2\""]);
    expect(bad({ hosting: 'bare-metal', hostProcesses: 1 })[0]).toMatch(/^hypervisor.hostProcesses: host processes need a host operating system/);
    expect(bad({ hosting: 'hosted', hostProcesses: 9 })[0]).toMatch(/^hypervisor.hostProcesses/);
    const single = loadScenario({ version: 1, name: 'one', mode: 'prot32', technique: 'vtx', cpu: { vendor: 'intel' }, hypervisor: { hosting: 'hosted' }, kernel: { source: 'hlt' } });
    expect(single.ok ? [] : single.errors.map((e) => e.path)).toContain('hypervisor.hosting');
  });

  it('the comparison: hosted pays world switches and system calls for the same consoles', () => {
    const [bare, hosted] = compareHosting({ lines: 2 });
    expect(bare!.vms.map((v) => v.console)).toEqual(hosted!.vms.map((v) => v.console));
    expect(bare!.worldSwitches).toBe(0);
    expect(hosted!.syscalls).toBe(hosted!.output);
    expect(hosted!.output).toBe(hosted!.vms.reduce((n, v) => n + v.console.length, 0));
    expect(hosted!.cycles - bare!.cycles).toBe((hosted!.byKind['world-switch'] ?? 0) + (hosted!.byKind['host-user'] ?? 0) + (hosted!.byKind['host-syscall'] ?? 0));
  });
});

import twoVms from '../scenario/examples/two-vms.json' with { type: 'json' };
function loadScenarioJson(): Record<string, unknown> {
  return twoVms as Record<string, unknown>;
}

describe('exits that end the VM and hypercalls', () => {
  it('an exit that ends the VM goes back into nothing', () => {
    expect(hopsOf('bare-metal', 'monitor', false, false, true)).toEqual(['exit']);
    expect(hopsOf('hosted', 'monitor', false, false, true)).toEqual(['exit', 'world-out', 'to-user']);
    expect(hopsOf('hosted', 'idle', false, false, true)).toEqual(['exit', 'world-out', 'host-scheduler', 'to-user']);
    expect(hopsOf('hosted', 'device', true, false, true)).toEqual(['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver']);
  });
  it('a print hypercall is the console device; another hypercall stays in the monitor', () => {
    const hc: HvExit = { code: 18, name: 'EXIT_REASON_VMCALL', detail: { kind: 'hypercall' }, rip: 0n, raw: {} };
    expect(exitWhere(hc, true)).toBe('device');
    expect(exitWhere(hc, false)).toBe('monitor');
  });
  it('the last exit of each VM in a run has no entry', () => {
    const h = new Host({ under: 'vtx', guests: hostingGuests(2), hosting: 'hosted', hostProcesses: 0 });
    h.run(1_000_000);
    for (const vm of [0, 1]) {
      const ps = h.paths.filter((p) => p.vm === vm);
      expect(ps.at(-1)!.hops).not.toContain('entry');
      for (const p of ps.slice(0, -1)) expect(p.hops.at(-1)).toBe('entry');
    }
  });
});

describe('a halt with an interrupt already requested', () => {
  it('is injected and resumed by the monitor: no world switch, not an idle halt', () => {
    // IF = 0 while the tick comes, then the usual idle STI; HLT: the HLT exit finds IRQ 0 requested.
    const src = [
      'mov dword [0x8], 0x0000ffff', 'mov dword [0xc], 0x00cf9b00',
      'mov eax, tick', 'mov word [0x100], ax', 'mov word [0x102], 0x8', 'mov word [0x104], 0x8e00', 'shr eax, 16', 'mov word [0x106], ax',
      ...pcInit(100),
      'again: mov ecx, 200', 'w: dec ecx', 'jnz w',
      'sti', 'hlt', 'cli',
      'cmp dword [0x500], 3', 'jb again',
      'cli', 'hlt',
      'tick: inc dword [0x500]', 'push eax', 'mov al, 0x20', 'out 0x20, al', 'pop eax', 'iretd',
    ].join('\n');
    const r = assemble(src, { bits: 32, origin: 0x100000 });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const h = new Host({ under: 'vtx', guests: [{ name: 'g', mode: 'prot32', load: 0x100000, code: r.bytes, pc: true }], hosting: 'hosted', hostProcesses: 0 });
    expect(h.run(200_000)).toBe('ended');
    const log = h.vm(0).hypervisors[0]!.log;
    const halts = h.paths.filter((p) => p.name === 'EXIT_REASON_HLT');
    const resumed = halts.filter((p) => log.find((e) => e.n === p.exit)!.action !== 'host');
    expect(resumed.length).toBe(3);
    for (const p of resumed) expect([p.where, p.hops]).toEqual(['monitor', ['exit', 'entry']]);
    // The last halt (IF = 0) ends the VM: the host world learns of it.
    expect(halts.at(-1)!).toMatchObject({ where: 'idle', final: true, hops: ['exit', 'world-out', 'host-scheduler', 'to-user'] });
    expect(h.vm(0).ledger.data().byKind['world-switch']?.count).toBe(h.paths.reduce((n, p) => n + hostedCharges(p.hops).worldSwitches, 0));
  });
});
