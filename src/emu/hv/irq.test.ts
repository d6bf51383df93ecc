/**
 * Interrupts from devices to VMs (issue 8, item 4): the network driver waits for its card's MSI
 * after each frame (io-guest.ts NicAttack.irq) and the host delivers it three ways:
 * - emulated card: the model's MSI goes to the VM's virtual local APIC, the hypervisor injects it;
 *   the handler's ICR read is an MMIO exit and its EOI (WRMSR 80BH) an MSR exit;
 * - assigned card, remapped (no IOMMU, VT-d, AMD-Vi): the card's MSI reaches the host's CPU as a host
 *   vector, the guest exits (external interrupt), the host routes it to the VM's local APIC and the
 *   hypervisor injects it; the EOI exits;
 * - assigned card, posted (VT-x with VT-d): a posted IRTE and posted-interrupt processing: neither
 *   the interrupt nor the EOI exits.
 * In every case the guest receives the same frames as the polling driver.
 */
import { describe, expect, it } from 'vitest';
import { Host, HOST_BAR_BASE, HOST_DEVICE_VECTOR, type HostGuest } from './host.ts';
import { POSTED_PAGES, VmxBackend } from './vmx-backend.ts';
import { ICR, NIC_REG } from '../dev/nic.ts';
import { ioGuest, runIoTask } from './io-compare.ts';
import { IO_IRQ_VECTOR, IO_IRQS } from './io-guest.ts';
import type { IommuKind } from './devio.ts';

const N = 8;
const irqs = (h: Host, vi = 0): number => h.mem.read(h.vm(vi).hpaBase + IO_IRQS, 4);

describe('a network card\'s interrupts reach the guest', () => {
  it('emulated (VT-x and AMD-V): injected from the VM\'s local APIC, one EOI exit and one ICR read exit per frame', () => {
    for (const under of ['vtx', 'svm'] as const) {
      const poll = runIoTask({ under, way: 'emulated', frames: N });
      const irq = runIoTask({ under, way: 'emulated', frames: N, irq: true });
      expect(irq).toMatchObject({ end: 'ended', received: N, dataOk: true });
      expect(irq.exits.eoi).toBe(N);
      expect(irq.exits.mmio - poll.exits.mmio).toBe(N + 1); // the handler's ICR read, and the IMS write at set-up
      const h = new Host({ under, guests: [ioGuest('emulated', N, { irq: true })] });
      expect(h.run(20_000_000)).toBe('ended');
      expect(irqs(h)).toBe(N);
      const lapic = h.interruptsOf(0).lapic!;
      expect(lapic.injected).toEqual(new Array(N).fill(IO_IRQ_VECTOR));
      expect(lapic.eois).toEqual(new Array(N).fill(IO_IRQ_VECTOR));
      expect(h.vm(0).hypervisors[0]!.injected.map((i) => i.vector)).toEqual(new Array(N).fill(IO_IRQ_VECTOR));
    }
  });

  it('assigned, remapped: an external-interrupt exit and an EOI exit per frame, no MMIO exit', () => {
    const cases: ['vtx' | 'svm', IommuKind][] = [['vtx', 'none'], ['vtx', 'vtd'], ['svm', 'none'], ['svm', 'amd-vi']];
    for (const [under, iommu] of cases) {
      const poll = runIoTask({ under, way: 'assigned', iommu, frames: N });
      const irq = runIoTask({ under, way: 'assigned', iommu, frames: N, irq: true });
      expect(irq, `${under} ${iommu}`).toMatchObject({ end: 'ended', received: N, dataOk: true });
      expect(irq.exits.eoi).toBe(N);
      expect(irq.exits.mmio).toBe(0);
      // AMD-V's host timer also ends time slices with INTR exits: the card's are the difference.
      expect(irq.exits.interrupts - poll.exits.interrupts).toBe(N);
    }
  });

  it('assigned under VT-d: the card sends a remappable message and its IRTE names the host vector', () => {
    const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', N, { irq: true })], iommu: 'vtd' });
    expect(h.run(20_000_000)).toBe('ended');
    expect(h.interruptsOf(0).msi).toEqual({ guestVector: IO_IRQ_VECTOR, route: 'remapped' });
    const log = h.pci!.snapshot().msiLog;
    expect(log).toHaveLength(N);
    for (const m of log) {
      expect((m.address >>> 4) & 1).toBe(1); // remappable format
      expect(m.remap).toMatchObject({ kind: 'remapped', index: 0, target: { vector: HOST_DEVICE_VECTOR } });
      expect(m.delivered).toBe(true);
    }
  });

  it('assigned, posted (VT-x, VT-d): neither the interrupt nor the EOI exits; the device exits equal polling\'s', () => {
    const poll = runIoTask({ under: 'vtx', way: 'assigned', iommu: 'vtd', frames: N });
    const posted = runIoTask({ under: 'vtx', way: 'assigned', iommu: 'vtd', frames: N, irq: true, posted: true });
    expect(posted).toMatchObject({ end: 'ended', received: N, dataOk: true });
    expect(posted.exits.interrupts).toBe(0);
    expect(posted.exits.eoi).toBe(0);
    expect(posted.exits.mmio).toBe(poll.exits.mmio);
    const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', N, { irq: true })], iommu: 'vtd', postedInterrupts: true });
    expect(h.run(20_000_000)).toBe('ended');
    expect(irqs(h)).toBe(N);
    expect(h.interruptsOf(0).msi).toEqual({ guestVector: IO_IRQ_VECTOR, route: 'posted' });
    for (const m of h.pci!.snapshot().msiLog) expect(m.remap).toMatchObject({ kind: 'posted', vector: IO_IRQ_VECTOR });
  });

  it('two VMs share the CPU, one posted and one injected: both take all their interrupts across many switches', () => {
    const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', N, { irq: true }), ioGuest('emulated', N, { irq: true })], iommu: 'vtd', postedInterrupts: true, quantum: 300 });
    expect(h.run(40_000_000)).toBe('ended');
    expect([irqs(h, 0), irqs(h, 1)]).toEqual([N, N]);
    expect(h.switches.length).toBeGreaterThan(10);
  });

  it('two VMs on VFs of the SR-IOV card: each VF\'s MSI reaches its own VM, remapped or posted', () => {
    for (const posted of [false, true]) {
      const vf = (name: string): HostGuest => ({ ...ioGuest('assigned', 4, { irq: true }), name, device: { way: 'assigned', vf: true } });
      const h = new Host({ under: 'vtx', guests: [vf('a'), vf('b')], iommu: 'vtd', postedInterrupts: posted, quantum: 500 });
      expect(h.run(20_000_000)).toBe('ended');
      expect([irqs(h, 0), irqs(h, 1)]).toEqual([4, 4]);
      expect([0, 1].map((i) => h.interruptsOf(i).msi?.route)).toEqual(posted ? ['posted', 'posted'] : ['remapped', 'remapped']);
      // Each VF's messages carry its own requester ID (00:10.1, 00:10.2).
      expect(new Set(h.pci!.snapshot().msiLog.map((m) => m.rid))).toEqual(new Set([0x81, 0x82]));
    }
  });

  it('a driver that waits halted (CLI, check, STI; HLT) gets every interrupt, each way and both vendors', () => {
    const cases: ['vtx' | 'svm', 'emulated' | 'assigned', IommuKind, boolean][] = [
      ['vtx', 'emulated', 'none', false], ['vtx', 'assigned', 'none', false], ['vtx', 'assigned', 'vtd', false], ['vtx', 'assigned', 'vtd', true],
      ['svm', 'emulated', 'none', false], ['svm', 'assigned', 'none', false], ['svm', 'assigned', 'amd-vi', false],
    ];
    for (const [under, way, iommu, posted] of cases) {
      const h = new Host({ under, guests: [ioGuest(way, N, { irq: 'hlt' })], iommu, postedInterrupts: posted });
      expect(h.run(20_000_000), `${under} ${way} ${iommu} ${posted}`).toBe('ended');
      expect(irqs(h), `${under} ${way} ${iommu} ${posted}`).toBe(N);
      // The assigned card's MSI comes with the TDT write, just before the halt: it wakes the vCPU (N halts woken, the last HLT ends it).
      expect(h.report()[0]!.exits[under === 'vtx' ? 'EXIT_REASON_HLT' : 'VMEXIT_HLT']!.count).toBe(N + 1);
    }
  });

  it('posted, the card interrupting while its VM is preempted: PIR set, SN suppresses the notification, the vector is delivered at the VM\'s next entry', () => {
    const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', N, { irq: true }), ioGuest('emulated', N, { irq: true })], iommu: 'vtd', postedInterrupts: true, quantum: 300 });
    while (!(h.currentVm === 1 && h.interruptsOf(0).msi !== null)) expect(h.run(h.cpu.state.steps + 50)).toBe('limit');
    const desc = (h.vm(0).backends[0] as VmxBackend).posted!.page + POSTED_PAGES.DESCRIPTOR;
    // The host (not the guest) makes VM 0's card raise its receive cause while VM 1 runs.
    h.mem.write(HOST_BAR_BASE + NIC_REG.ICS, 4, ICR.RXT0);
    expect((h.mem.read(desc + (IO_IRQ_VECTOR >>> 5) * 4, 4) >>> (IO_IRQ_VECTOR & 31)) & 1).toBe(1);
    expect(h.mem.read8(desc + 32) & 0b11).toBe(0b10); // SN 1, ON 0: no notification
    expect(h.hostApic!.pending()).toBe(false);
    expect(h.run(40_000_000)).toBe('ended');
    expect([irqs(h, 0), irqs(h, 1)]).toEqual([N + 1, N]); // the extra interrupt was taken too
  });

  it('posted, the card interrupting while its VM is halted: the notification is sent (SN 0), and the halted vCPU wakes for it', () => {
    const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', N, { irq: 'hlt' }), ioGuest('emulated', N, { irq: true })], iommu: 'vtd', postedInterrupts: true, quantum: 300 });
    while (!(h.currentVm === 1 && h.report()[0]!.vcpus[0]!.state === 'idle')) expect(h.run(h.cpu.state.steps + 20)).toBe('limit');
    const desc = (h.vm(0).backends[0] as VmxBackend).posted!.page + POSTED_PAGES.DESCRIPTOR;
    expect(h.mem.read8(desc + 32) & 0b11).toBe(0); // halted: SN 0
    // The host clears the card's pending cause (its interrupt already waits in the virtual APIC)
    // and raises it again: a new MSI, posted with a notification, since SN is 0.
    h.mem.read(HOST_BAR_BASE + NIC_REG.ICR, 4);
    h.mem.write(HOST_BAR_BASE + NIC_REG.ICS, 4, ICR.RXT0);
    expect(h.mem.read8(desc + 32) & 0b11).toBe(0b01); // ON 1: the notification went out
    expect((h.mem.read(desc + (IO_IRQ_VECTOR >>> 5) * 4, 4) >>> (IO_IRQ_VECTOR & 31)) & 1).toBe(1);
    expect(h.hostApic!.pending()).toBe(true); // 0xF2 at the CPU, where VM 1 runs without posted processing
    expect(h.run(40_000_000)).toBe('ended');
    expect(irqs(h, 0)).toBe(N); // the two posts of 0x41 are one pending vector, taken once
    expect(irqs(h, 1)).toBe(N);
  });

  it('posted interrupts are refused where the lab has none (AMD-V, no VT-d)', () => {
    expect(() => new Host({ under: 'svm', guests: [ioGuest('assigned', 1, { irq: true })], iommu: 'amd-vi', postedInterrupts: true })).toThrow(/VT-x with the VT-d/);
    expect(() => new Host({ under: 'vtx', guests: [ioGuest('assigned', 1, { irq: true })], iommu: 'none', postedInterrupts: true })).toThrow(/VT-x with the VT-d/);
  });

  it('a snapshot in the middle of the interrupt-driven run restores to the same ending', () => {
    for (const posted of [false, true]) {
      const h = new Host({ under: 'vtx', guests: [ioGuest('assigned', N, { irq: true }), ioGuest('emulated', N, { irq: true })], iommu: 'vtd', postedInterrupts: posted, quantum: 300 });
      h.run(3000);
      const snap = h.snapshot();
      expect(h.run(40_000_000)).toBe('ended');
      const first = { irqs: [irqs(h, 0), irqs(h, 1)], steps: h.cpu.state.steps, exits: h.report().map((r) => r.exitTotal), lapic: h.interruptsOf(1).lapic };
      h.restore(snap);
      expect(h.run(40_000_000)).toBe('ended');
      expect({ irqs: [irqs(h, 0), irqs(h, 1)], steps: h.cpu.state.steps, exits: h.report().map((r) => r.exitTotal), lapic: h.interruptsOf(1).lapic }).toEqual(first);
    }
  });
});
