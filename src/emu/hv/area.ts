/**
 * How many bytes of host RAM the hypervisor's structures take for a scenario with a technique
 * (either backend's area: host save area or VMXON region, VMCB or VMCS, bitmaps, host page tables,
 * nested tables). A constant of its own so that validating and building a scenario do not load the
 * hypervisor; hv-machine.ts checks it against the backends' SVM_AREA_SIZE and VMX_AREA_SIZE.
 */
export const HV_MACHINE_AREA = 0x1a000;

/** The shadow pool's size under shadow paging (`nestedPaging: false`), above the area; hv-machine.ts checks it against shadow.ts. */
export const HV_SHADOW_POOL_SIZE = 0x80000;

/**
 * The area's size for a guest of `guestRam` bytes with `pageSize` nested pages
 * (`hypervisor.nestedPageSize`): HV_MACHINE_AREA with 2-MByte pages; 4-KByte ones add a page table
 * per 2 MiB of guest RAM (nested-map.ts nestedTablesSize; hv-machine.ts checks the two agree).
 */
export function hvMachineArea(guestRam: number, pageSize: '4k' | '2m' = '2m'): number {
  return HV_MACHINE_AREA + (pageSize === '4k' ? Math.ceil(guestRam / 0x200000) * 0x1000 : 0);
}

/**
 * Binary translation's area (hv/bt/backend.ts BT_AREA_SIZE): the trap-and-emulate monitor's
 * structures and the 256-KiB translation cache; the shadow pool lies after it. hv-machine.ts checks
 * the two agree.
 */
export const HV_BT_AREA = 0x60000;
