/**
 * A processor whose state a test sets directly (tests of the VMX layer only), and a VMCS that
 * passes every VM-entry check (a 64-bit guest under a 64-bit host), written the way a hypervisor
 * would, through VMWRITE: the tests start from it, and so does the VM-exit exercise generator
 * (src/emu/exercise/vmexit-exercise.ts), which changes only the controls a problem is about.
 */
import { PhysMem } from '../mem/physmem.ts';
import { Entry, Exit, TRUE_ALLOWED, VMCS_REVISION, Primary, type VmxOptions } from './controls.ts';
import { enc } from './fields.ts';
import { Vmx, type VmxProcessor } from './vmx.ts';

export interface FakeProcessor extends VmxProcessor {
  st: { cpl: number; cr0: number; cr4: number; rflags: number; efer: number; csLong: boolean; movSs: boolean };
}

/** A processor in 64-bit mode at CPL 0 with paging, CR4.VMXE = 1 and EFER.LME/LMA. */
export function fakeProcessor(mem = new PhysMem(16 << 20)): FakeProcessor {
  const st = { cpl: 0, cr0: 0x80050033, cr4: 0x2020, rflags: 2, efer: 0x500, csLong: true, movSs: false };
  return {
    mem,
    st,
    cpl: () => st.cpl,
    cr0: () => st.cr0,
    cr4: () => st.cr4,
    rflags: () => st.rflags,
    efer: () => st.efer,
    csLong: () => st.csLong,
    blockedByMovSs: () => st.movSs,
  };
}

export const VMXON_PA = 0x10000n;
export const VMCS_PA = 0x11000n;
export const VMCS2_PA = 0x12000n;

/** A VMX unit with the VMXON region and two VMCS regions given their revision identifier. */
export function setup(opts: VmxOptions = {}): { cpu: FakeProcessor; vmx: Vmx } {
  const cpu = fakeProcessor();
  for (const pa of [VMXON_PA, VMCS_PA, VMCS2_PA]) cpu.mem.write(Number(pa), 4, VMCS_REVISION);
  return { cpu, vmx: new Vmx(cpu, opts) };
}

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

/** VMXON, VMCLEAR and VMPTRLD the first VMCS, then VMWRITE every field of `fields`; throws if any step does not succeed. */
export function readyVmcs(vmx: Vmx, fields: Record<string, bigint> = validFields()): void {
  for (const o of [vmx.vmxon(VMXON_PA), vmx.vmclear(VMCS_PA), vmx.vmptrld(VMCS_PA)]) {
    if (o.kind !== 'succeed') throw new Error(`setup step: ${JSON.stringify(o)}`);
  }
  for (const [name, v] of Object.entries(fields)) {
    const o = vmx.vmwrite(enc(name), v);
    if (o.kind !== 'succeed') throw new Error(`vmwrite ${name}: ${JSON.stringify(o)}`);
  }
}
