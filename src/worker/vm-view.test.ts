/**
 * ViewState.vm through the session: null without a technique; for the VT-x and AMD-V examples, a
 * function of the step only (the same step reached by stepping, by goto and by back gives the same
 * view); the exits of the step with their information decoded bit by bit; the VMCS/VMCB fields as
 * in memory with what changed; controls; exits by reason and cycles from the ledger; and "run to
 * the next VM exit" (runUntil vm/exit) through the session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import vtx from '../emu/scenario/examples/vtx-first-exit.json' with { type: 'json' };
import svm from '../emu/scenario/examples/svm-first-exit.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';

// As the worker's handler does before a load with a technique: the hypervisor's chunk.
beforeAll(() => prepareLoad(vtx));
import type { Json, ViewState } from './protocol.ts';
import type { VmView } from './vm-types.ts';

function session(scenario: unknown, interval = 4): { s: LabSession; v0: ViewState } {
  const s = new LabSession({ interval });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { s, v0: r.view };
}

describe('ViewState.vm: the controls without nested paging', () => {
  it('EPT is off and nestedPaging turns it on; the CR3 exits are the hypervisor\'s while it sets them', () => {
    const { s } = session({ ...(vtx as object), hypervisor: { nestedPaging: false } });
    const vm = s.step(3).vm!;
    const c = (name: string) => vm.controls.find((x) => x.name === name)!;
    expect(c('Enable EPT')).toMatchObject({ set: false, locked: null, option: 'hypervisor.nestedPaging' });
    for (const name of ['CR3-load exiting', 'CR3-store exiting']) {
      const x = c(name);
      expect(x.set ? x.locked : x.option).toBe(x.set ? 'hypervisor' : 'hypervisor.exits.cr3');
    }
    expect(vm.controls.filter((x) => x.locked === 'hypervisor').every((x) => x.set)).toBe(true);
  });
});

describe('ViewState.vm', () => {
  it('is null for a scenario without a technique', () => {
    const { s, v0 } = session(syscalls);
    expect(v0.vm).toBeNull();
    expect(s.step(5).vm).toBeNull();
  });

  it.each([['vtx', vtx], ['svm', svm]] as const)('%s: the same step by stepping, by goto and by back gives the same view', (_t, sc) => {
    const { s } = session(sc);
    const stepped: (VmView | null)[] = [];
    let v: ViewState;
    do {
      v = s.step(1);
      stepped.push(v.vm);
    } while (v.end === 'limit');
    const last = v.step;
    expect(last).toBeGreaterThan(15);
    for (let k = last; k >= 1; k--) expect(s.goto(k).vm, `goto ${k}`).toEqual(stepped[k - 1]);
    s.goto(last);
    for (let k = last - 1; k >= 1; k -= 3) {
      s.goto(k + 3 > last ? last : k + 3);
      expect(s.back(k + 3 > last ? last - k : 3).vm, `back to ${k}`).toEqual(stepped[k - 1]);
    }
  });

  it('vtx: exits with qualification bits, VMCS fields, controls, ledger figures', () => {
    const { s, v0 } = session(vtx);
    const vm0 = v0.vm!;
    expect(vm0).toMatchObject({ technique: 'vtx', vendor: 'intel', world: 'host', current: 0, exits: [], lastExit: null, exitTotal: 0 });
    expect(vm0.vms).toEqual([{ id: 0, name: vtx.name, mode: 'long64', state: 'ready', end: null, exits: 0, steps: 0, console: '' }]);
    expect(vm0.fields.every((f) => !f.changed)).toBe(true);
    const rip = vm0.fields.find((f) => f.name === 'GUEST_RIP')!;
    expect(rip).toMatchObject({ area: 'guest', key: 0x681e, width: 'natural', value: '0x0000000000100000' });

    // Step 1: VMLAUNCH, then XOR (step 0) retires: no exit yet.
    const v1 = s.step(1).vm!;
    expect(v1.world).toBe('guest');
    expect(v1.vms[0]!.state).toBe('running');
    expect(v1.exits).toEqual([]);
    // Step 2: the CPUID at step 1 exits; the hypervisor emulates it and resumes.
    const v2 = s.step(1).vm!;
    expect(v2.exits).toHaveLength(1);
    const e = v2.exits[0]!;
    expect(e).toMatchObject({ n: 0, step: 1, code: 10, name: 'EXIT_REASON_CPUID', entryFailure: false, action: 'emulated', entry: 'VMRESUME', guestSteps: 1 });
    expect(e.accesses[0]).toEqual({ op: 'read', field: 'VM_EXIT_REASON', key: 0x4402, value: '0x000000000000000a' });
    expect(e.accesses.some((a) => a.op === 'write' && a.field === 'GUEST_RIP')).toBe(true);
    expect(e.cycles).toBeGreaterThan(0);
    expect(v2.lastExit).toEqual(e);
    expect(v2.fields.find((f) => f.name === 'GUEST_RIP')!.changed).toBe(true);
    expect(v2.fields.find((f) => f.name === 'HOST_CR3')!.changed).toBe(false);

    // Run to the first I/O exit: its qualification decoded (Table 28-5).
    let r = s.runUntil(['vm/exit'], 100);
    while (r.view.vm!.lastExit!.code !== 30) r = s.runUntil(['vm/exit'], 100);
    expect(r.view.end).toBe('found');
    expect(r.event).toMatchObject({ kind: 'vm/exit', code: 30 });
    const io = r.view.vm!.exits[0]!;
    const q = io.info.find((i) => i.field === 'EXIT_QUALIFICATION')!;
    const bit = (n: string): number => q.bits.find((b) => b.name === n)!.value;
    // The SDM's names (Table 28-5), not the code's identifiers.
    expect([bit('Size of access'), bit('Direction of the attempted access'), bit('String instruction'), bit('Port number')]).toEqual([0, 0, 0, 0x3f8]);
    expect(io.info.find((i) => i.field === 'VM_EXIT_INSTRUCTION_LEN')!.value).toBe('0x0000000000000001');
    expect(io.action).toBe('forwarded');
    expect(r.view.vm!.vms[0]!.console).toBe('H');

    // The controls: HLT exiting set, with its scenario option; must-be-1 bits fixed.
    const c = r.view.vm!.controls;
    expect(c.find((x) => x.field === 'primary' && x.name === 'HLT exiting')).toMatchObject({ set: true, locked: null, option: 'hypervisor.exits.hlt' });
    expect(c.find((x) => x.field === 'primary' && x.name === 'Use I/O bitmaps')).toMatchObject({ set: true, locked: 'hypervisor' });
    expect(c.filter((x) => x.locked === 'fixed-1').every((x) => x.set)).toBe(true);
    expect(c.filter((x) => x.locked === 'fixed-0').every((x) => !x.set)).toBe(true);
    // What the hypervisor says it needs is set; nested paging (on by default) is the scenario's to turn off.
    expect(c.filter((x) => x.locked === 'hypervisor').every((x) => x.set)).toBe(true);
    expect(c.find((x) => x.field === 'secondary' && x.name === 'Enable EPT')).toMatchObject({ set: true, locked: null, option: 'hypervisor.nestedPaging' });
    expect(c.find((x) => x.field === 'primary' && x.name === 'CR3-load exiting')).toMatchObject({ set: false, option: 'hypervisor.exits.cr3' });

    // To the end: the exits by reason and the cycles add up.
    const end = s.step(1000);
    const vm = end.vm!;
    expect(end.end).toBe('hlt');
    expect(vm.vms[0]).toMatchObject({ state: 'ended', end: 'hlt', console: 'Hi\n!' });
    expect(vm.byReason.map((b) => [b.name, b.count])).toEqual([
      ['CPUID', 2], ['HLT', 1], ['VMCALL', 1], ['I/O instruction', 3], ['RDMSR', 1],
    ]);
    expect(vm.exitTotal).toBe(8);
    const cy = vm.cycles;
    expect(cy.preset.id).toBe('intel-broadwell');
    expect(cy.guest + cy.memory + cy.transitions + cy.fieldAccess + cy.handlers).toBe(cy.total);
    // The guest runs with 4-level paging under EPT: its TLB misses are 2D walks, charged as references.
    expect(cy.memory).toBeGreaterThan(0);
    expect(vm.lastExit).toMatchObject({ name: 'EXIT_REASON_HLT', action: 'ended', entry: null });
  });

  it('svm: EXITINFO1 of IOIO decoded by the APM names; VMCB fields by offset; intercept bits', () => {
    const { s } = session(svm);
    let r = s.runUntil(['vm/exit'], 100);
    while (r.view.vm!.lastExit!.name !== 'VMEXIT_IOIO') r = s.runUntil(['vm/exit'], 100);
    const vm = r.view.vm!;
    const io = vm.exits[0]!;
    const i1 = io.info.find((i) => i.field === 'exit_info_1')!;
    expect(i1.key).toBe(0x78);
    const bit = (n: string): number => i1.bits.find((b) => b.name === n)!.value;
    expect([bit('TYPE'), bit('SZ8'), bit('PORT')]).toEqual([0, 1, 0x3f8]);
    expect(io.entry).toBe('VMRUN');
    expect(io.accesses[0]).toMatchObject({ op: 'read', field: 'exit_code', key: 0x70 });
    expect(vm.fields.find((f) => f.name === 'save.rip')).toMatchObject({ area: 'save', key: 0x578, width: '8', changed: true });
    expect(vm.fields.find((f) => f.name === 'exit_code')).toMatchObject({ value: '0x000000000000007b' });
    const hlt = vm.controls.find((c) => c.name === 'INTERCEPT_HLT')!;
    expect(hlt).toMatchObject({ field: 'INTERCEPT_MISC1', bit: 24, set: true, option: 'hypervisor.exits.hlt' });
    expect(vm.controls.find((c) => c.name === 'INTERCEPT_VMRUN')).toMatchObject({ field: 'INTERCEPT_MISC2', set: true, locked: 'hypervisor' });
    expect(vm.controls.find((c) => c.name === 'INTERCEPT_EXCEPTION_6')).toMatchObject({ set: true });
    expect(vm.cycles.preset.id).toBe('amd-recent');
  });
});
