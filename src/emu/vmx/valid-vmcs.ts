/**
 * A VMCS that passes every VM-entry check (a 64-bit guest under a 64-bit host), as the fields a
 * hypervisor would VMWRITE, and where the VMXON region and the VMCS regions sit in the small
 * physical memories that use it. The VM-exit exercise generator (src/emu/exercise/vmexit-exercise.ts)
 * starts from it and changes only the controls a problem is about; the VMX tests start from it too
 * (testkit.ts re-exports it).
 */
import { Entry, Exit, TRUE_ALLOWED, Primary } from './controls.ts';

export const VMXON_PA = 0x10000n;
export const VMCS_PA = 0x11000n;
export const VMCS2_PA = 0x12000n;

/** The fields of a VMCS that enters: control, host and guest values by name. */
export function validFields(): Record<string, bigint> {
  const f: Record<string, bigint> = {
    PIN_BASED_VM_EXEC_CONTROL: BigInt(TRUE_ALLOWED.pin.must1),
    CPU_BASED_VM_EXEC_CONTROL: BigInt((TRUE_ALLOWED.primary.must1 | Primary.HLT_EXITING!) >>> 0),
    VM_EXIT_CONTROLS: BigInt((TRUE_ALLOWED.exit.must1 | Exit.HOST_ADDRESS_SPACE_SIZE!) >>> 0),
    VM_ENTRY_CONTROLS: BigInt((TRUE_ALLOWED.entry.must1 | Entry.IA32E_MODE_GUEST!) >>> 0),
    HOST_CR0: 0x80050033n,
    HOST_CR3: 0x1000n,
    HOST_CR4: 0x2020n,
    HOST_CS_SELECTOR: 0x08n,
    HOST_SS_SELECTOR: 0x10n,
    HOST_DS_SELECTOR: 0x10n,
    HOST_ES_SELECTOR: 0x10n,
    HOST_FS_SELECTOR: 0x10n,
    HOST_GS_SELECTOR: 0x10n,
    HOST_TR_SELECTOR: 0x18n,
    HOST_RIP: 0x401000n,
    HOST_RSP: 0x80000n,
    GUEST_CR0: 0x80000031n,
    GUEST_CR3: 0x2000n,
    GUEST_CR4: 0x2020n,
    GUEST_DR7: 0x400n,
    GUEST_RFLAGS: 2n,
    GUEST_RIP: 0x1000n,
    GUEST_RSP: 0x8000n,
    GUEST_CS_SELECTOR: 0x08n,
    GUEST_CS_LIMIT: 0xffffffffn,
    GUEST_CS_AR_BYTES: 0xa09bn,
    GUEST_TR_SELECTOR: 0x18n,
    GUEST_TR_LIMIT: 0x67n,
    GUEST_TR_AR_BYTES: 0x8bn,
    GUEST_LDTR_AR_BYTES: 0x10000n,
    GUEST_GDTR_LIMIT: 0x1fn,
    GUEST_IDTR_LIMIT: 0xfffn,
    GUEST_IA32_EFER: 0x500n,
    VMCS_LINK_POINTER: 0xffffffffffffffffn,
  };
  for (const s of ['SS', 'DS', 'ES', 'FS', 'GS']) {
    f[`GUEST_${s}_SELECTOR`] = 0x10n;
    f[`GUEST_${s}_LIMIT`] = 0xffffffffn;
    f[`GUEST_${s}_AR_BYTES`] = 0xc093n;
  }
  return f;
}
