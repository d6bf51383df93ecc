/**
 * How many bytes of host RAM the hypervisor's structures take for a scenario with a technique
 * (either backend's area: host save area or VMXON region, VMCB or VMCS, bitmaps, host page tables,
 * nested tables). A constant of its own so that validating and building a scenario do not load the
 * hypervisor; hv-machine.ts checks it against the backends' SVM_AREA_SIZE and VMX_AREA_SIZE.
 */
export const HV_MACHINE_AREA = 0x1a000;

/** The shadow pool's size under shadow paging (`nestedPaging: false`), above the area; hv-machine.ts checks it against shadow.ts. */
export const HV_SHADOW_POOL_SIZE = 0x80000;
