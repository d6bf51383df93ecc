/**
 * A processor whose state a test sets directly (tests of the VMX layer only), and a VMCS that
 * passes every VM-entry check (a 64-bit guest under a 64-bit host), written the way a hypervisor
 * would, through VMWRITE (valid-vmcs.ts, which the VM-exit exercise generator uses too).
 */
import { PhysMem } from '../mem/physmem.ts';
import { VMCS_REVISION, type VmxOptions } from './controls.ts';
import { enc } from './fields.ts';
import { VMCS2_PA, VMCS_PA, VMXON_PA, validFields } from './valid-vmcs.ts';
import { Vmx, type VmxProcessor } from './vmx.ts';

export { VMCS2_PA, VMCS_PA, VMXON_PA, validFields };

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

/** A VMX unit with the VMXON region and two VMCS regions given their revision identifier. */
export function setup(opts: VmxOptions = {}): { cpu: FakeProcessor; vmx: Vmx } {
  const cpu = fakeProcessor();
  for (const pa of [VMXON_PA, VMCS_PA, VMCS2_PA]) cpu.mem.write(Number(pa), 4, VMCS_REVISION);
  return { cpu, vmx: new Vmx(cpu, opts) };
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
