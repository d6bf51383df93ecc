/**
 * Which views an embedded lesson needs beside the embed's own (the ring diagram and the code): those
 * its steps point at or ask the student to pick from, by their `data-lesson-target` values.
 */
import type { StepDef } from '../../lessons/kit.ts';

export interface EmbedViews {
  registers: boolean;
  walk: boolean;
  tlb: boolean;
  /** The VMCS / VMCB inspector (its last exit decoded): `vm-inspector`, `exit-EXIT_QUALIFICATION`. */
  vm: boolean;
  /** The nested-walk grid (`nested-walk`). */
  nested: boolean;
  /** The shadow page table view (`shadow`). */
  shadow: boolean;
  /** The IOMMU view and the device rings (`iommu`, `device-ring`). */
  io: boolean;
  /** Where the hypervisor lives: the hosted and bare-metal paths (`hosting`). */
  hosting: boolean;
  /** The container kernel's processes and what they share (`containers`). */
  containers: boolean;
  /** The paravirtualized kernel's diff (`pv-diff`). */
  pvDiff: boolean;
}

/** The views a target id lives in (`reg-rcx` in the registers, `walk-pte` in the page walk, `exit-VM_EXIT_REASON` in the VM inspector). */
function viewOf(id: string): keyof EmbedViews | null {
  if (id === 'registers' || id.startsWith('reg-')) return 'registers';
  if (id === 'walk' || id.startsWith('walk-')) return 'walk';
  if (id === 'tlb' || id.startsWith('tlb-')) return 'tlb';
  if (id === 'vm-inspector' || id.startsWith('exit-')) return 'vm';
  if (id === 'nested-walk') return 'nested';
  if (id === 'shadow') return 'shadow';
  if (id === 'iommu' || id === 'device-ring') return 'io';
  if (id === 'hosting') return 'hosting';
  if (id === 'containers') return 'containers';
  if (id === 'pv-diff') return 'pvDiff';
  return null;
}

export function embedViewsFor(steps: readonly StepDef[]): EmbedViews {
  const v: EmbedViews = { registers: false, walk: false, tlb: false, vm: false, nested: false, shadow: false, io: false, hosting: false, containers: false, pvDiff: false };
  for (const s of steps) {
    for (const id of [s.point, s.kind === 'target' ? s.among : undefined]) {
      const k = id === undefined ? null : viewOf(id);
      if (k !== null) v[k] = true;
    }
  }
  return v;
}
