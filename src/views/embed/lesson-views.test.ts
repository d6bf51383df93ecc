import { describe, expect, it } from 'vitest';
import rings from '../../../lessons/01-rings/index.ts';
import type { StepDef } from '../../lessons/kit.ts';
import { embedViewsFor } from './lesson-views.ts';

describe('embedViewsFor', () => {
  it('adds the registers for lesson 1 (it points at them and asks for a pick among them)', () => {
    expect(embedViewsFor(rings.steps)).toEqual({ registers: true, walk: false, tlb: false, vm: false, nested: false, shadow: false, io: false, hosting: false, containers: false, pvDiff: false });
  });

  it('adds the page walk and the TLB when steps point there, and nothing for the embed\'s own views', () => {
    const steps: StepDef[] = [
      { id: 'a', kind: 'read', point: 'ring' },
      { id: 'b', kind: 'read', point: 'code' },
    ];
    expect(embedViewsFor(steps)).toEqual({ registers: false, walk: false, tlb: false, vm: false, nested: false, shadow: false, io: false, hosting: false, containers: false, pvDiff: false });
    expect(embedViewsFor([...steps, { id: 'c', kind: 'read', point: 'walk-pte' }, { id: 'd', kind: 'read', point: 'tlb' }])).toEqual({ registers: false, walk: true, tlb: true, vm: false, nested: false, shadow: false, io: false, hosting: false, containers: false, pvDiff: false });
    expect(embedViewsFor([{ id: 't', kind: 'target', among: 'reg-', answer: 'reg-rax', points: 1 }]).registers).toBe(true);
    // The VM inspector: pointed at as a whole, or a field of the last exit picked.
    expect(embedViewsFor([{ id: 'p', kind: 'read', point: 'vm-inspector' }]).vm).toBe(true);
    expect(embedViewsFor([{ id: 't', kind: 'target', among: 'exit-', answer: 'exit-VM_EXIT_REASON', points: 1 }])).toEqual({ registers: false, walk: false, tlb: false, vm: true, nested: false, shadow: false, io: false, hosting: false, containers: false, pvDiff: false });
  });

  it('adds the nested-walk grid for lesson 5 and the shadow view for lesson 7, with the inspector both point at', async () => {
    const nested = (await import('../../../lessons/05-nested-walk/index.ts')).default;
    const shadow = (await import('../../../lessons/07-shadow-paging/index.ts')).default;
    expect(embedViewsFor(nested.steps)).toEqual({ registers: false, walk: false, tlb: false, vm: true, nested: true, shadow: false, io: false, hosting: false, containers: false, pvDiff: false });
    expect(embedViewsFor(shadow.steps)).toEqual({ registers: false, walk: false, tlb: false, vm: true, nested: false, shadow: true, io: false, hosting: false, containers: false, pvDiff: false });
  });

  it('adds the IOMMU view with the device rings for a step pointing at either', () => {
    expect(embedViewsFor([{ id: 'a', kind: 'read', point: 'iommu' }]).io).toBe(true);
    expect(embedViewsFor([{ id: 'b', kind: 'read', point: 'device-ring' }]).io).toBe(true);
    expect(embedViewsFor([{ id: 'c', kind: 'read', point: 'ring' }]).io).toBe(false);
  });
  it('adds the hosting paths, the containers and the kernel diff for the lessons that point at them (14, 12)', () => {
    expect(embedViewsFor([{ id: 'a', kind: 'read', point: 'hosting' }])).toMatchObject({ hosting: true, containers: false, pvDiff: false });
    expect(embedViewsFor([{ id: 'b', kind: 'read', point: 'containers' }])).toMatchObject({ hosting: false, containers: true });
    expect(embedViewsFor([{ id: 'c', kind: 'read', point: 'pv-diff' }])).toMatchObject({ pvDiff: true, vm: false });
  });
});
