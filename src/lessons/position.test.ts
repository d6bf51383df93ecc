import { describe, expect, it } from 'vitest';
import type { TraceKind } from '../emu/trace/events.ts';
import { InThreadClient } from '../worker/in-thread.ts';
import type { Json, ViewState } from '../worker/protocol.ts';
import syscalls from '../emu/scenario/examples/syscalls.json';
import pageFault from '../emu/scenario/examples/page-fault.json';
import rings from '../../lessons/01-rings/index.ts';
import type { StepDef } from './kit.ts';
import { drive, planPosition, searchFor, viewShows, type DriveLab, type LabPlan, type Moved } from './position.ts';

const steps: StepDef[] = [
  { id: 'w0', kind: 'wait', until: { kind: 'ring/change', cause: 'iret', to: 3 } },
  { id: 'own', kind: 'wait', scenario: 'gp', until: { kind: 'cpu/exception', vector: 13 } },
  { id: 'q', kind: 'choice', choices: ['a', 'b'], answer: 'a', points: 1 },
  { id: 'w1', kind: 'wait', until: { kind: 'tlb/lookup', access: 'read', user: true, hit: true } },
  { id: 'own2', kind: 'read', scenario: 'gp' },
  { id: 'w2', kind: 'wait', until: { kind: 'tlb/flush', cause: 'mov-cr3' } },
  { id: 'end', kind: 'read' },
];

describe('planPosition', () => {
  it('lists the earlier wait steps on the step\'s own scenario, in order, not the step\'s own', () => {
    expect(planPosition(steps, 0)).toEqual({ scenario: null, waits: [] });
    expect(planPosition(steps, 3)).toEqual({ scenario: null, waits: [{ stepId: 'w0', until: steps[0]!.kind === 'wait' ? steps[0]!.until : null, how: 'run' }] });
    expect(planPosition(steps, 6).waits.map((w) => [w.stepId, w.how])).toEqual([
      ['w0', 'run'],
      ['w1', 'step'],
      ['w2', 'run'],
    ]);
    // A step on a lesson-own scenario: only the waits on that scenario count.
    expect(planPosition(steps, 4)).toMatchObject({ scenario: 'gp', waits: [{ stepId: 'own' }] });
    expect(planPosition(steps, 1)).toEqual({ scenario: 'gp', waits: [] });
  });

  it('clamps the step as the lesson machine does', () => {
    expect(planPosition(steps, 99)).toEqual(planPosition(steps, steps.length - 1));
    expect(planPosition(steps, -2)).toEqual(planPosition(steps, 0));
  });

  it('steps one at a time for the kinds on the TLB path, runs until for the rest', () => {
    expect(searchFor({ kind: 'mmu/walk', access: 'read', user: true })).toBe('step');
    expect(searchFor({ kind: 'tlb/lookup', hit: true })).toBe('step');
    expect(searchFor({ kind: 'cpu/exception', vector: 14 })).toBe('run');
    expect(searchFor({ kind: 'tlb/flush', cause: 'mov-cr3' })).toBe('run');
    expect(searchFor({ kind: 'ring/change' })).toBe('run');
  });

  it('lesson 1 at step 8 runs through entering ring 3, INT 0x80 and the IRET back, on its main scenario', () => {
    const p = planPosition(rings.steps, 7);
    expect(p.scenario).toBeNull();
    expect(p.waits.map((w) => w.stepId)).toEqual(['enter-user', 'int80', 'iret-back']);
    // Step 2 runs on the lesson's #GP scenario, with nothing before it there.
    expect(planPosition(rings.steps, 1)).toEqual({ scenario: 'gp', waits: [] });
  });
});

/** The driver's view of an in-thread engine, counting the requests it makes. */
async function engine(json: unknown): Promise<DriveLab & { calls: { runUntil: number; step: number }; view: () => ViewState; cancel: () => void }> {
  const c = new InThreadClient();
  const loaded = await c.load(json as Json);
  if (!loaded.ok) throw new Error('did not load');
  let view = loaded.view;
  let live = true;
  const calls = { runUntil: 0, step: 0 };
  const moved = (v: ViewState, found: Moved['found']): Moved => {
    view = v;
    return { step: v.step, events: v.events, walks: v.walks, found, stopped: v.machine.stopped };
  };
  return {
    calls,
    view: () => view,
    cancel: () => (live = false),
    at: () => view.step,
    current: () => live,
    runUntil: async (kinds: TraceKind[], max: number) => {
      calls.runUntil++;
      const r = await c.runUntil(kinds, max);
      return moved(r.view, r.event);
    },
    step: async () => {
      calls.step++;
      return moved(await c.step(1), null);
    },
  };
}

describe('drive', () => {
  it('brings the syscalls lab to the return to ring 3 after INT 0x80 for lesson 1 step 8, and leaves step 7\'s IRET to the student', async () => {
    const lab = await engine(syscalls);
    const r = await drive(planPosition(rings.steps, 7), lab);
    expect(r).toEqual({ ok: true, step: lab.at() });
    const v = lab.view();
    expect(v.machine.cpl).toBe(3);
    expect(viewShows({ kind: 'ring/change', cause: 'iret', from: 0, to: 3 }, v.events)).toBe(true);

    // Opened at step 7 (the IRET back), the lab stops after INT 0x80: the IRET is still ahead.
    const lab7 = await engine(syscalls);
    expect((await drive(planPosition(rings.steps, 6), lab7)).ok).toBe(true);
    expect(lab7.view().machine.cpl).toBe(0);
    expect(lab7.at()).toBeLessThan(lab.at());
    const next = await lab7.runUntil(['ring/change'], 1000);
    expect(viewShows({ kind: 'ring/change', cause: 'iret', from: 0, to: 3 }, next!.events, next!.walks, next!.found)).toBe(true);
    expect(lab7.at()).toBe(lab.at());
  });

  it('reaches conditions of the kinds lesson 2 waits for: a #PF, a flush, a user write walked, a user read hit in the TLB', async () => {
    const plan: LabPlan = {
      scenario: null,
      waits: [
        { stepId: 'pf', until: { kind: 'cpu/exception', vector: 14 }, how: 'run' },
        { stepId: 'flush', until: { kind: 'tlb/flush', cause: 'invlpg' }, how: 'run' },
        { stepId: 'walk', until: { kind: 'mmu/walk', access: 'write', user: true }, how: 'step' },
        { stepId: 'hit', until: { kind: 'tlb/lookup', access: 'read', user: true, hit: true }, how: 'step' },
      ],
    };
    const lab = await engine(pageFault);
    const r = await drive(plan, lab);
    expect(r).toEqual({ ok: true, step: lab.at() });
    expect(lab.calls.step).toBeGreaterThan(0);
    expect(lab.calls.runUntil).toBeGreaterThan(0);
    // The last step the driver took is the user's read of the page the kernel mapped: a TLB hit.
    const w = lab.view().walks;
    expect(w.paging !== 'none' && w.translations.some((t) => t.access === 'read' && t.user && t.source === 'tlb')).toBe(true);
    expect(lab.view().machine.disasm.length).toBeGreaterThan(0);
  });

  it('says which condition it did not reach within its budget, and leaves the lab where it got', async () => {
    const lab = await engine(syscalls);
    const plan: LabPlan = {
      scenario: null,
      waits: [
        { stepId: 'enter', until: { kind: 'ring/change', cause: 'iret', to: 3 }, how: 'run' },
        { stepId: 'never', until: { kind: 'cpu/exception', vector: 14 }, how: 'run' },
      ],
    };
    const r = await drive(plan, lab, { run: 500, step: 20 });
    expect(r).toMatchObject({ ok: false, stepId: 'never', budget: 500 });
    if (r.ok) return;
    expect(['budget', 'stopped']).toContain(r.why);
    expect(r.step).toBe(lab.at());
    expect(lab.at()).toBeGreaterThan(0);

    const stepped = await engine(syscalls);
    const s = await drive({ scenario: null, waits: [{ stepId: 'hit', until: { kind: 'tlb/flush', cause: 'invlpg' }, how: 'step' }] }, stepped, { run: 10, step: 15 });
    expect(s).toMatchObject({ ok: false, stepId: 'hit', why: 'budget', step: 15 });
    expect(stepped.calls.step).toBe(15);
  });

  it('stops when the lab is no longer its own', async () => {
    const lab = await engine(syscalls);
    lab.cancel();
    expect(await drive(planPosition(rings.steps, 7), lab)).toMatchObject({ ok: false, stepId: 'enter-user', why: 'cancelled', step: 0 });
  });
});
