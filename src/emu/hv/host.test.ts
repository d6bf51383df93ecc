/**
 * The multi-VM host (host.ts) with real assembled guests: VMs side by side under VT-x and AMD-V with their
 * own PC platforms, timer interrupts through the host's timer and injection, the interrupt window,
 * HLT as idle, the round-robin scheduler (fairness, preemption-timer exits, the switch sequence),
 * isolation between VMs, two vCPUs in one VM, and snapshot → run → restore → run.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble } from '../asm/assembler.ts';
import { VMCS_REVISION } from '../vmx/controls.ts';
import { Host, type HostGuest } from './host.ts';
import type { VmxBackend } from './vmx-backend.ts';
import { busy, HALTER, hypercallInsn, spinner } from './host-guests.ts';
import { SvmBackend } from './svm-backend.ts';

const LOAD = 0x100000;

function code(src: string, mode: 'prot32' | 'long64'): Uint8Array {
  const r = assemble(src, { bits: mode === 'prot32' ? 32 : 64, origin: LOAD });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.bytes;
}

type Under = 'vtx' | 'svm';

function twoVms(quantum = 2000, under: Under = 'vtx'): Host {
  const guests: HostGuest[] = [
    { name: 'halter', mode: 'prot32', load: LOAD, code: code(HALTER, 'prot32'), pc: true },
    { name: 'spinner', mode: 'long64', load: LOAD, code: code(spinner(hypercallInsn(under)), 'long64'), pc: true },
  ];
  return new Host({ under, guests, quantum });
}

describe('the multi-VM host', () => {
  it('runs a 32-bit and a 64-bit guest side by side, each with its own UART, timer interrupts and exits', () => {
    const h = twoVms();
    expect(h.run(200_000)).toBe('ended');
    const [a, b] = h.report();
    expect(a!.console).toBe('hi ticks');
    expect(a!.vcpus[0]!.end).toBe('hlt');
    expect(b!.console).toBe('bbb');
    expect(b!.vcpus[0]!.end).toBe('hypercall-exit');
    // Exits by reason.
    expect(a!.exits.EXIT_REASON_HLT!.count).toBeGreaterThanOrEqual(5);
    expect(a!.exits.EXIT_REASON_IO_INSTRUCTION!.code).toBe(30);
    // The halter is always halted when its PIT's edge comes: it is woken by injection at its next turn, never interrupted.
    expect(a!.exits.EXIT_REASON_EXTERNAL_INTERRUPT).toBeUndefined();
    expect(a!.vcpus[0]!.steps).toBeLessThan(200);
    expect(b!.exits.EXIT_REASON_EXTERNAL_INTERRUPT!.code).toBe(1);
    expect(b!.exits.EXIT_REASON_EXTERNAL_INTERRUPT!.count).toBeGreaterThanOrEqual(12);
    expect(b!.exits.EXIT_REASON_INTERRUPT_WINDOW!.code).toBe(7);
    expect(b!.exits.EXIT_REASON_PREEMPTION_TIMER!.code).toBe(52);
    // Every tick reached its guest: vector 0x20 injected 5 (or more) and 12 times.
    const inj = h.vm(0).hypervisors[0]!.injected;
    expect(inj.length).toBeGreaterThanOrEqual(5);
    expect(inj.every((x) => x.vector === 0x20)).toBe(true);
    expect(h.vm(1).hypervisors[0]!.injected.length).toBe(12);
    // The switches alternate, and the halter's idle time costs the spinner nothing.
    expect(h.switches.length).toBeGreaterThan(2);
    for (let i = 1; i < h.switches.length; i++) expect(h.switches[i]!.from).toBe(h.switches[i - 1]!.to);
    expect(h.switches[0]).toEqual({ step: 0, from: null, fromVcpu: null, to: 0, toVcpu: 0 });
    expect(new Set(h.switches.map((s) => s.to))).toEqual(new Set([0, 1]));
  });

  it('runs the same two guests under AMD-V: the host timer ends slices and brings ticks (#VMEXIT(INTR)), V_IRQ with the VINTR intercept opens the window, each VM its ASID', () => {
    const h = twoVms(2000, 'svm');
    expect(h.run(200_000)).toBe('ended');
    const [a, b] = h.report();
    expect([a!.console, b!.console]).toEqual(['hi ticks', 'bbb']);
    expect(a!.vcpus[0]!.end).toBe('hlt');
    expect(b!.vcpus[0]!.end).toBe('hypercall-exit');
    expect(a!.exits.VMEXIT_HLT!.count).toBeGreaterThanOrEqual(5);
    expect(a!.exits.VMEXIT_IOIO!.code).toBe(0x7b);
    expect(b!.exits.VMEXIT_INTR!.code).toBe(0x60);
    expect(b!.exits.VMEXIT_INTR!.count).toBeGreaterThanOrEqual(12);
    expect(b!.exits.VMEXIT_VINTR!.code).toBe(0x64);
    expect(h.vm(1).hypervisors[0]!.injected.length).toBe(12);
    expect(h.vm(1).hypervisors[0]!.log.some((e) => e.note.includes('the time slice is over'))).toBe(true);
    expect(h.vm(0).backends.map((x) => (x as SvmBackend).vmcb.read('asid'))).toEqual([1]);
    expect(h.vm(1).backends.map((x) => (x as SvmBackend).vmcb.read('asid'))).toEqual([2]);
    // The window: each VINTR exit clears V_IRQ and the intercept, and the next entry injects through EVENTINJ.
    const log = h.vm(1).hypervisors[0]!.log;
    const w = log.findIndex((e) => e.name === 'VMEXIT_VINTR');
    expect(log[w]!.accesses.some((x) => x.field === 'int_ctl' && x.op === 'write' && (x.value & 0x100n) === 0n)).toBe(true);
    expect(log[w + 1]!.accesses.some((x) => x.field === 'event_inj' && x.op === 'write')).toBe(true);
  });

  it('property: wherever a run is cut for a snapshot, snapshot → run → restore → run equals the straight run (both vendors, devices, timer ticks)', () => {
    const straight = new Map<string, { report: unknown; switches: unknown; steps: number }>();
    const key = (under: Under, q: number): string => `${under}/${q}`;
    fc.assert(
      fc.property(fc.constantFrom<Under>('vtx', 'svm'), fc.constantFrom(500, 1300), fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 1, max: 4000 }), (under, q, cut, more) => {
        if (!straight.has(key(under, q))) {
          const s = twoVms(q, under);
          s.run(200_000);
          straight.set(key(under, q), { report: s.report(), switches: [...s.switches], steps: s.cpu.state.steps });
        }
        const h = twoVms(q, under);
        h.run(cut);
        const snap = h.snapshot();
        h.run(h.cpu.state.steps + more);
        h.restore(snap);
        h.run(200_000);
        expect({ report: h.report(), switches: [...h.switches], steps: h.cpu.state.steps }).toEqual(straight.get(key(under, q)));
      }),
      { numRuns: 12, seed: 0x5eed },
    );
  });

  it('refuses what it does not build: another vendor, more than four VMs, memory not in 2-MiB units', () => {
    const g: HostGuest = { name: 'x', mode: 'prot32', load: LOAD, code: code('hlt', 'prot32') };
    expect(() => new Host({ under: 'kvm' as 'vtx', guests: [g] })).toThrow(/vtx or svm/);
    expect(() => new Host({ under: 'vtx', guests: [g, g, g, g, g] })).toThrow(/from 1 to 4/);
    expect(() => new Host({ under: 'vtx', guests: [{ ...g, memSize: 3 * 1024 * 1024 }] })).toThrow(/2 MiB/);
  });
});

for (const under of ['vtx', 'svm'] as const) {
  describe(`the multi-VM host under ${under}`, () => {
    it('shares the CPU fairly: steps per VM within one quantum while all are runnable, one preemption exit per turn', () => {
      const quantum = 1500;
      const guests: HostGuest[] = ['a', 'b', 'c'].map((n, i) => ({ name: n, mode: i === 1 ? 'long64' : 'prot32', load: LOAD, code: code(busy(n, hypercallInsn(under)), i === 1 ? 'long64' : 'prot32') }));
      const h = new Host({ under, guests, quantum });
      expect(h.run(60_000)).toBe('limit');
      const r = h.report();
      const steps = r.map((x) => x.steps);
      expect(steps.reduce((x, y) => x + y, 0)).toBe(h.cpu.state.steps);
      expect(Math.max(...steps) - Math.min(...steps)).toBeLessThanOrEqual(quantum);
      for (const x of r) {
        expect((under === 'vtx' ? x.exits.EXIT_REASON_PREEMPTION_TIMER!.count : x.exits.VMEXIT_INTR!.count)).toBeGreaterThanOrEqual(10);
        expect(x.console).toMatch(new RegExp(`^${x.name}+$`));
      }
      // Round robin: a → b → c → a …
      expect(h.switches.slice(0, 7).map((s) => h.vm(s.to).name)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
      // Each turn is one quantum of native guest steps plus the steps the hypervisor emulated (VMCALLs).
      const turns = h.switches.slice(1, 6).map((s, i) => s.step - h.switches[i]!.step);
      for (const t of turns) expect(t).toBeGreaterThanOrEqual(quantum);
      for (const t of turns) expect(t).toBeLessThan(quantum + 10);
    });

    it('keeps VMs apart: a guest writing all over its guest-physical space reaches neither the other VM nor the host structures', () => {
      // The writer fills its RAM below and above its code with 0xCC, then writes past its 4 MiB (MMIO) and ends.
      const writer = [
        'mov edi, 0', 'mov ecx, 0x40000', 'mov eax, 0xcccccccc', 'rep stosd',
        'mov edi, 0x101000', 'mov ecx, 0xbfc00', 'rep stosd',
        'mov dword [0x400000], 0x11111111', 'mov dword [0x800000], 0x22222222', 'mov dword [0xfffffff0], 0x33333333',
        'mov eax, 1', 'mov ebx, 0', hypercallInsn(under),
      ].join('\n');
      // The other VM writes a pattern, lets the writer run (a long loop), and checks it (exit code 1 when intact).
      const checker = [
        'mov edi, 0x200000', 'mov ecx, 0x1000', 'mov eax, 0x5a5a5a5a', 'rep stosd',
        'mov ecx, 300000', 'w: dec ecx', 'jnz w',
        'mov esi, 0x200000', 'mov ecx, 0x1000', 'c: cmp dword [esi], 0x5a5a5a5a', 'jne bad', 'add esi, 4', 'dec ecx', 'jnz c',
        'mov eax, 1', 'mov ebx, 1', hypercallInsn(under), 'bad: mov eax, 1', 'mov ebx, 2', hypercallInsn(under),
      ].join('\n');
      const h = new Host({
        under, quantum: 1000, guests: [
          { name: 'writer', mode: 'prot32', load: LOAD, code: code(writer, 'prot32') },
          { name: 'checker', mode: 'prot32', load: LOAD, code: code(checker, 'prot32') },
        ],
      });
      const areaBefore = under === 'vtx' ? h.mem.read((h.vm(1).backends[0] as VmxBackend).vmcs, 4) : VMCS_REVISION;
      expect(h.run(5_000_000)).toBe('ended');
      const [w, c] = h.report();
      expect(w!.vcpus[0]!.end).toBe('hypercall-exit');
      expect(c!.vcpus[0]!.end).toBe('hypercall-exit');
      expect(h.vm(1).hypervisors[0]!.log.at(-1)!.note).toBe('exit with code 1');
      // The writer really wrote its own RAM, and its writes past it were MMIO of its own.
      const wb = h.vm(0).hpaBase;
      expect(h.mem.read(wb + 0x1000, 4)).toBe(0xcccccccc);
      expect(h.mem.read(wb + 0x3ffffc, 4)).toBe(0xcccccccc);
      expect(h.vm(0).mmioLog.map((m) => m.gpa)).toEqual([0x400000, 0x800000, 0xfffffff0]);
      expect(h.vm(1).mmioLog).toEqual([]);
      // The checker's RAM (host-physical right after the writer's) and every VMCS are intact.
      expect(h.vm(1).hpaBase).toBe(wb + h.vm(0).memSize);
      expect(h.mem.read(h.vm(1).hpaBase + 0x200000, 4)).toBe(0x5a5a5a5a);
      expect(h.mem.read(h.vm(1).hpaBase + 0x1000, 4)).toBe(0);
      expect(areaBefore).toBe(VMCS_REVISION);
      if (under === 'vtx') for (const i of [0, 1]) expect(h.mem.read((h.vm(i).backends[0] as VmxBackend).vmcs, 4)).toBe(VMCS_REVISION);
      else for (const i of [0, 1]) expect((h.vm(i).backends[0] as SvmBackend).vmcb.read('asid')).toBe(i + 1);
    });

    it('runs two vCPUs of one VM on the same memory, told apart by ESI, each with its own stack', () => {
      // Each vCPU adds its index + 1 to a shared counter 100 times (LOCK ADD), prints its digit and ends.
      const src = [
        'mov ecx, 100', 'l: lea eax, [esi + 1]', 'lock add [0x700], eax', 'dec ecx', 'jnz l',
        'push esi', 'pop ebx', 'add ebx, 0x30', 'mov eax, 0', hypercallInsn(under), 'mov eax, esp', 'mov [0x710 + esi * 4], eax', 'mov eax, 1', 'mov ebx, 0', hypercallInsn(under),
      ].join('\n');
      const h = new Host({ under, quantum: 150, guests: [{ name: 'smp', mode: 'prot32', load: LOAD, code: code(src, 'prot32'), vcpus: 2 }] });
      expect(h.run(100_000)).toBe('ended');
      const r = h.report()[0]!;
      expect(r.vcpus.map((v) => v.end)).toEqual(['hypercall-exit', 'hypercall-exit']);
      expect(h.mem.read(h.vm(0).hpaBase + 0x700, 4)).toBe(300);
      expect([h.mem.read(0x710, 4), h.mem.read(0x714, 4)]).toEqual([0x80000, 0x70000]);
      expect(r.console.split('').sort().join('')).toBe('01');
      expect(h.switches.slice(0, 4).map((s) => [s.to, s.toVcpu])).toEqual([[0, 0], [0, 1], [0, 0], [0, 1]]);
      // AMD-V: each vCPU its own ASID, as KVM and Xen give them (a shared one would share cached translations).
      if (under === 'svm') expect(h.vm(0).backends.map((x) => (x as SvmBackend).vmcb.read('asid'))).toEqual([1, 2]);
    });

    it('snapshot → run → restore → run gives the same result (two VMs with devices and timer interrupts)', () => {
      const h = twoVms(900, under);
      h.run(3000);
      const snap = h.snapshot();
      expect(JSON.parse(JSON.stringify(snap.host, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))).toBeTruthy();
      h.run(200_000);
      const first = { report: h.report(), switches: [...h.switches], steps: h.cpu.state.steps, logs: [0, 1].map((i) => h.vm(i).hypervisors[0]!.log.map((e) => `${e.name} ${e.rip} ${e.note}`)) };
      h.restore(snap);
      expect(h.cpu.state.steps).toBe(snap.core.step);
      h.run(200_000);
      const second = { report: h.report(), switches: [...h.switches], steps: h.cpu.state.steps, logs: [0, 1].map((i) => h.vm(i).hypervisors[0]!.log.map((e) => `${e.name} ${e.rip} ${e.note}`)) };
      expect(second).toEqual(first);
      expect(first.report[0]!.console).toBe('hi ticks');
      // The same run straight through, with no snapshot, ends the same way (slicing at 3000 changes nothing).
      const straight = twoVms(900, under);
      straight.run(200_000);
      expect(straight.report()).toEqual(first.report);
      expect(straight.switches).toEqual(first.switches);
    });
  });
}
