/**
 * MachineView.stopped: true exactly when the machine can go no further, also when a single step
 * ends right on the final HLT (the step's RunEnd alone cannot tell: a step limit reached on a HLT
 * that the timer will end reads 'hlt' too).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import pageFault from '../emu/scenario/examples/page-fault.json' with { type: 'json' };
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import timer from '../emu/scenario/examples/timer.json' with { type: 'json' };
import vtx from '../emu/scenario/examples/vtx-first-exit.json' with { type: 'json' };
import svm from '../emu/scenario/examples/svm-first-exit.json' with { type: 'json' };
import type { Json } from './protocol.ts';
import { LabSession, prepareLoad } from './session.ts';

beforeAll(() => prepareLoad(vtx));

const EXAMPLES: Record<string, Json> = { syscalls: syscalls as Json, 'page-fault': pageFault as Json, timer: timer as Json };
/** Under a hypervisor the VM ends (its last HLT, with nothing to wake it): the CPU then holds the host, which is neither halted nor shut down. */
const VM_EXAMPLES: Record<string, Json> = { 'vtx-first-exit': vtx as Json, 'svm-first-exit': svm as Json };

describe('the view says when the machine has stopped', () => {
  for (const [name, scenario] of Object.entries(EXAMPLES)) {
    test(`${name}: one step at a time, stopped is false until no step can move it, then true`, () => {
      const s = new LabSession();
      const r = s.load(scenario);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      expect(r.view.machine.stopped).toBe(false);
      let v = r.view;
      let sawHaltWaiting = false;
      for (let i = 0; i < 20_000 && !v.machine.stopped; i++) {
        const next = s.step(1);
        expect(next.step).toBeGreaterThan(v.step);
        if (next.machine.halted && !next.machine.stopped) sawHaltWaiting = true;
        v = next;
      }
      expect(v.machine.stopped).toBe(true);
      expect(v.machine.halted || v.machine.shutdown).toBe(true);
      // Nothing moves it now, and going back and forth gives the same answer.
      expect(s.step(1).step).toBe(v.step);
      expect(s.back(1).machine.stopped).toBe(false);
      expect(s.goto(v.step).machine.stopped).toBe(true);
      // No example waits in HLT for the timer (Cpu.stuck's own test in interrupts.test.ts does).
      expect(sawHaltWaiting).toBe(false);
    });
  }
  for (const [name, scenario] of Object.entries(VM_EXAMPLES)) {
    test(`${name}: stopped once the VM has ended, not before`, () => {
      const s = new LabSession();
      const r = s.load(scenario);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      let v = r.view;
      for (let i = 0; i < 1000 && !v.machine.stopped; i++) {
        expect(v.vm!.vms[0]!.state).not.toBe('ended');
        const next = s.step(1);
        expect(next.step).toBeGreaterThan(v.step);
        v = next;
      }
      expect(v.machine.stopped).toBe(true);
      expect(v.vm!.vms[0]!.state).toBe('ended');
      expect(s.step(1).step).toBe(v.step);
      expect(s.back(1).machine.stopped).toBe(false);
      expect(s.goto(v.step).machine.stopped).toBe(true);
    });
  }
});

describe('several VMs: stopped once every VM has ended', () => {
  test('two-vms: not stopped while a VM can run (also while one has ended), stopped at the end', async () => {
    const twoVms = (await import('../emu/scenario/examples/two-vms.json', { with: { type: 'json' } })).default as Json;
    const s = new LabSession();
    const r = s.load(twoVms);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.view.machine.stopped).toBe(false);
    let v = r.view;
    let oneEnded = false;
    for (let i = 0; i < 200 && !v.machine.stopped; i++) {
      v = s.step(97);
      if (v.vm!.vms.some((g) => g.state === 'ended') && !v.vm!.vms.every((g) => g.state === 'ended')) {
        oneEnded = true;
        expect(v.machine.stopped).toBe(false);
      }
    }
    expect(oneEnded).toBe(true);
    expect(v.machine.stopped).toBe(true);
    expect(v.vm!.vms.map((g) => g.state)).toEqual(['ended', 'ended']);
    expect(s.back(1).machine.stopped).toBe(false);
  });
});
