import { describe, expect, it } from 'vitest';
import rings from '../../../lessons/01-rings/index.ts';
import type { StepDef } from '../../lessons/kit.ts';
import { embedViewsFor } from './lesson-views.ts';

describe('embedViewsFor', () => {
  it('adds the registers for lesson 1 (it points at them and asks for a pick among them)', () => {
    expect(embedViewsFor(rings.steps)).toEqual({ registers: true, walk: false, tlb: false, vm: false });
  });

  it('adds the page walk and the TLB when steps point there, and nothing for the embed\'s own views', () => {
    const steps: StepDef[] = [
      { id: 'a', kind: 'read', point: 'ring' },
      { id: 'b', kind: 'read', point: 'code' },
    ];
    expect(embedViewsFor(steps)).toEqual({ registers: false, walk: false, tlb: false, vm: false });
    expect(embedViewsFor([...steps, { id: 'c', kind: 'read', point: 'walk-pte' }, { id: 'd', kind: 'read', point: 'tlb' }])).toEqual({ registers: false, walk: true, tlb: true, vm: false });
    expect(embedViewsFor([{ id: 't', kind: 'target', among: 'reg-', answer: 'reg-rax', points: 1 }]).registers).toBe(true);
    // The VM inspector: pointed at as a whole, or a field of the last exit picked.
    expect(embedViewsFor([{ id: 'p', kind: 'read', point: 'vm-inspector' }]).vm).toBe(true);
    expect(embedViewsFor([{ id: 't', kind: 'target', among: 'exit-', answer: 'exit-VM_EXIT_REASON', points: 1 }])).toEqual({ registers: false, walk: false, tlb: false, vm: true });
  });
});
