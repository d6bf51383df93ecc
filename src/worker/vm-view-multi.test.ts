/**
 * ViewState.vm for several VMs (the two-vms examples on the multi-VM host) through the session:
 * a function of the step only (stepping, goto and back reach the same view), every VM listed with
 * its state, exits, steps and console, `current` the VM on the CPU with its own VMCS/VMCB, fields
 * and last exit, exits by reason and cycles over all VMs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import twoVms from '../emu/scenario/examples/two-vms.json' with { type: 'json' };
import twoVmsSvm from '../emu/scenario/examples/two-vms-svm.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json, ViewState } from './protocol.ts';
import type { VmView } from './vm-types.ts';

beforeAll(() => prepareLoad(twoVms));

function session(scenario: unknown, quantum: number, interval = 50): { s: LabSession; v0: ViewState } {
  const sc = JSON.parse(JSON.stringify(scenario)) as { hypervisor: { quantum: number } };
  sc.hypervisor.quantum = quantum;
  const s = new LabSession({ interval });
  const r = s.load(sc as unknown as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { s, v0: r.view };
}

describe.each([['vtx', twoVms], ['svm', twoVmsSvm]] as const)('ViewState.vm with two VMs (%s)', (technique, sc) => {
  it('is a function of the step: stepping, goto and back give the same view', () => {
    const { s, v0 } = session(sc, 300);
    expect(v0.vm!.vms.map((v) => [v.name, v.mode, v.state])).toEqual([['halter', 'prot32', 'ready'], ['spinner', 'long64', 'ready']]);
    const seen = new Map<number, VmView | null>();
    let v: ViewState;
    let k = 0;
    do {
      v = s.step(k < 40 ? 1 : 53);
      seen.set(v.step, v.vm);
      k++;
    } while (v.end === 'limit');
    expect(v.vm!.vms.map((x) => x.state)).toEqual(['ended', 'ended']);
    const steps = [...seen.keys()];
    for (const at of steps.filter((_, i) => i % 5 === 0).reverse()) expect(s.goto(at).vm, `goto ${at}`).toEqual(seen.get(at));
    s.goto(steps[60]!);
    expect(s.back(steps[60]! - steps[20]!).vm).toEqual(seen.get(steps[20]!));
  });

  it('lists every VM with its console and the current VM with its own last exit; totals over all VMs', () => {
    const { s } = session(sc, 2000);
    let v = s.step(1);
    const currents = new Set<number>();
    while (v.end === 'limit') {
      const vm = v.vm!;
      currents.add(vm.current);
      if (vm.lastExit !== null) expect(vm.lastExit.vm).toBe(vm.current);
      const running = vm.vms.filter((x) => x.state === 'running');
      expect(running.length).toBeLessThanOrEqual(1);
      if (running.length === 1) expect(running[0]!.id).toBe(vm.current);
      v = s.step(97);
    }
    expect(currents).toEqual(new Set([0, 1]));
    const vm = v.vm!;
    expect(vm.vms.map((x) => [x.console, x.end])).toEqual([['hi ticks', 'hlt'], ['bbb', 'hypercall-exit']]);
    expect(vm.exitTotal).toBe(vm.vms[0]!.exits + vm.vms[1]!.exits);
    expect(vm.byReason.reduce((n, r) => n + r.count, 0)).toBe(vm.exitTotal);
    const codes = vm.byReason.map((r) => r.code);
    if (technique === 'vtx') {
      for (const c of [1, 7, 12, 30, 52]) expect(codes).toContain(c);
      expect(vm.fields.some((f) => f.name === 'GUEST_RIP')).toBe(true);
    } else {
      for (const c of [0x60, 0x64, 0x78, 0x7b]) expect(codes).toContain(c);
      expect(vm.fields.some((f) => f.name === 'save.rip')).toBe(true);
    }
    expect(vm.cycles.total).toBeGreaterThan(vm.cycles.transitions);
    expect(vm.vms[0]!.steps + vm.vms[1]!.steps).toBeLessThanOrEqual(v.step);
  });
});

describe('the code view with several VMs', () => {
  it('disassembles the current VM\u2019s own code from its range of host RAM (VM 1 lies above VM 0)', () => {
    const { s } = session(twoVms, 2000);
    // Step 35: the halter halted and the CPU is the spinner's, at its first instruction (mov al, 0x11).
    const v = s.goto(35);
    expect(v.vm!.current).toBe(1);
    expect(v.vm!.world).toBe('guest');
    expect(v.machine.disasmStop).toBeNull();
    expect(v.machine.disasm[0]!.text).toBe('mov al, 0x11');
    expect(v.machine.disasm[1]!.text).toBe('out 0x20, al');
  });
});

describe('ViewState.vm.iommu and "run to next DMA" (the DMA examples)', () => {
  it.each([
    ['dma-attack', null],
    ['dma-attack-vtd', 'vtd'],
    ['dma-attack-amdvi', 'amd-vi'],
  ] as const)('%s: the host’s IOMMU is %s, and runUntil iommu/dma stops at each request’s step', async (name, iommu) => {
    const sc = (await import(`../emu/scenario/examples/${name}.json`)) as { default: unknown };
    const s = new LabSession({ interval: 50 });
    const r = s.load(sc.default as Json);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.view.vm!.iommu).toBe(iommu);
    const first = s.runUntil(['iommu/dma'], 100_000);
    expect(first.event).toMatchObject({ kind: 'iommu/dma', bus: 'host', vm: 0 });
    expect(first.view.step).toBe(first.event!.step + 1);
    const second = s.runUntil(['iommu/dma'], 100_000);
    // The requests of one doorbell share a step: the next stop is the next doorbell's.
    expect(second.event!.step).toBeGreaterThan(first.event!.step);
  });
});
