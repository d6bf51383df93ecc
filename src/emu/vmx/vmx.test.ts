import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Entry, Exit, FEATURE_CONTROL_LOCK, Pin, Primary, Secondary, SUPPORTED_FEATURES, VMCS_REVISION } from './controls.ts';
import { ExitReason } from './exit-reasons.ts';
import { VMCS_FIELDS, enc, fieldByEncoding } from './fields.ts';
import { encodeInterruptionInfo, InterruptionType } from './qualification.ts';
import { VMCS2_PA, VMCS_PA, VMXON_PA, readyVmcs, setup, validFields, type FakeProcessor } from './testkit.ts';
import { ENTRY_CHECKS } from './vmentry.ts';
import { readLaunchState } from './vmcs.ts';
import { NO_POINTER, rflagsAfter, type Vmx, type VmEntered } from './vmx.ts';

const UD = { kind: 'fault', vector: 6, errorCode: -1 };
const GP = { kind: 'fault', vector: 13, errorCode: 0 };
const errorField = (vmx: Vmx): bigint => vmx.currentReader()!('VM_INSTRUCTION_ERROR');

function inRoot(opts = {}): { cpu: FakeProcessor; vmx: Vmx } {
  const s = setup(opts);
  expect(s.vmx.vmxon(VMXON_PA)).toEqual({ kind: 'succeed' });
  return s;
}

function withCurrent(opts = {}): { cpu: FakeProcessor; vmx: Vmx } {
  const s = inRoot(opts);
  expect(s.vmx.vmptrld(VMCS_PA)).toEqual({ kind: 'succeed' });
  return s;
}

describe('VMXON', () => {
  it('enters VMX root operation with no current VMCS', () => {
    const { vmx } = setup();
    expect(vmx.vmxon(VMXON_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.state).toMatchObject({ mode: 'root', vmxonPointer: Number(VMXON_PA), currentVmcs: NO_POINTER });
  });
  it('#UD with CR4.VMXE = 0, CR0.PE = 0, in virtual-8086 mode and in compatibility mode', () => {
    const cases: [(c: FakeProcessor) => void, string][] = [
      [(c) => (c.st.cr4 &= ~0x2000), 'cr4-vmxe-clear'],
      [(c) => (c.st.cr0 &= ~1), 'cr0-pe-clear'],
      [(c) => (c.st.rflags |= 1 << 17), 'virtual-8086-mode'],
      [(c) => (c.st.csLong = false), 'compatibility-mode'],
    ];
    for (const [tweak, cause] of cases) {
      const { cpu, vmx } = setup();
      tweak(cpu);
      expect(vmx.vmxon(VMXON_PA)).toEqual({ ...UD, cause });
      expect(vmx.state.mode).toBe('off');
    }
  });
  it('#GP(0) at CPL > 0, with CR0 or CR4 unsupported in VMX operation, or IA32_FEATURE_CONTROL not enabling it', () => {
    const a = setup();
    a.cpu.st.cpl = 3;
    expect(a.vmx.vmxon(VMXON_PA)).toEqual({ ...GP, cause: 'cpl-not-0' });
    const b = setup();
    b.cpu.st.cr0 &= ~0x20; // CR0.NE is fixed to 1
    expect(b.vmx.vmxon(VMXON_PA)).toEqual({ ...GP, cause: 'cr0-cr4-not-supported-in-vmx' });
    const c = setup();
    c.cpu.st.cr4 |= 1 << 18; // OSXSAVE: not a CR4 bit this CPU has (IA32_VMX_CR4_FIXED1)
    expect(c.vmx.vmxon(VMXON_PA)).toEqual({ ...GP, cause: 'cr0-cr4-not-supported-in-vmx' });
    for (const fc0 of [0, FEATURE_CONTROL_LOCK]) {
      const d = setup();
      d.vmx.state.featureControl = fc0;
      expect(d.vmx.vmxon(VMXON_PA)).toEqual({ ...GP, cause: 'feature-control' });
    }
  });
  it('VMfailInvalid for a misaligned or too wide pointer, or a wrong revision identifier', () => {
    for (const pa of [VMXON_PA + 8n, 1n << 48n]) expect(setup().vmx.vmxon(pa)).toEqual({ kind: 'fail-invalid' });
    const a = setup();
    a.cpu.mem.write(Number(VMXON_PA), 4, VMCS_REVISION + 1);
    expect(a.vmx.vmxon(VMXON_PA)).toEqual({ kind: 'fail-invalid' });
    a.cpu.mem.write(Number(VMXON_PA), 4, (VMCS_REVISION | 0x80000000) >>> 0);
    expect(a.vmx.vmxon(VMXON_PA)).toEqual({ kind: 'fail-invalid' });
    expect(a.vmx.state.mode).toBe('off');
  });
  it('in root operation: #GP at CPL > 0, else VMfail(15): invalid without a current VMCS, valid with one', () => {
    const a = inRoot();
    expect(a.vmx.vmxon(VMXON_PA)).toEqual({ kind: 'fail-invalid' });
    a.cpu.st.cpl = 3;
    expect(a.vmx.vmxon(VMXON_PA)).toEqual({ ...GP, cause: 'cpl-not-0' });
    const b = withCurrent();
    expect(b.vmx.vmxon(VMXON_PA)).toEqual({ kind: 'fail-valid', error: 15 });
    expect(errorField(b.vmx)).toBe(15n);
  });
});

describe('outside VMX operation every other VMX instruction is #UD', () => {
  it('VMXOFF VMCLEAR VMPTRLD VMPTRST VMREAD VMWRITE VMLAUNCH VMRESUME VMCALL', () => {
    const { vmx } = setup();
    const outcomes = [
      vmx.vmxoff(), vmx.vmclear(VMCS_PA), vmx.vmptrld(VMCS_PA), vmx.vmptrst(), vmx.vmread(enc('GUEST_RIP')),
      vmx.vmwrite(enc('GUEST_RIP'), 0n), vmx.vmlaunch(), vmx.vmresume(), vmx.vmcall(),
    ];
    for (const o of outcomes) expect(o).toEqual({ ...UD, cause: 'not-in-vmx-operation' });
  });
  it('and in root operation each is #GP(0) at CPL 3 (VMCALL included) and #UD in compatibility mode', () => {
    const { cpu, vmx } = withCurrent();
    cpu.st.cpl = 3;
    for (const o of [vmx.vmxoff(), vmx.vmclear(VMCS_PA), vmx.vmptrld(VMCS_PA), vmx.vmptrst(), vmx.vmread(0), vmx.vmwrite(0, 0n), vmx.vmlaunch(), vmx.vmresume(), vmx.vmcall()]) {
      expect(o).toEqual({ ...GP, cause: 'cpl-not-0' });
    }
    cpu.st.cpl = 0;
    cpu.st.csLong = false;
    for (const o of [vmx.vmxoff(), vmx.vmclear(VMCS_PA), vmx.vmread(0), vmx.vmlaunch()]) expect(o).toEqual({ ...UD, cause: 'compatibility-mode' });
  });
});

describe('VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMCALL', () => {
  it('VMXOFF leaves VMX operation and forgets the pointers', () => {
    const { vmx } = withCurrent();
    expect(vmx.vmxoff()).toEqual({ kind: 'succeed' });
    expect(vmx.state).toMatchObject({ mode: 'off', vmxonPointer: NO_POINTER, currentVmcs: NO_POINTER });
  });
  it('VMPTRLD makes a VMCS current; VMPTRST reads it back (all ones when there is none)', () => {
    const { vmx } = inRoot();
    expect(vmx.vmptrst()).toEqual({ kind: 'succeed', pointer: 0xffffffffffffffffn });
    expect(vmx.vmptrld(VMCS2_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.vmptrst()).toEqual({ kind: 'succeed', pointer: VMCS2_PA });
  });
  it('VMPTRLD errors 9, 10, 11 (VMfailInvalid while no VMCS is current, VMfailValid once one is)', () => {
    const { cpu, vmx } = inRoot();
    expect(vmx.vmptrld(VMCS_PA + 0x10n)).toEqual({ kind: 'fail-invalid' });
    expect(vmx.vmptrld(VMCS2_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.vmptrld(VMCS_PA + 0x10n)).toEqual({ kind: 'fail-valid', error: 9 });
    expect(vmx.vmptrld(1n << 52n)).toEqual({ kind: 'fail-valid', error: 9 });
    expect(vmx.vmptrld(VMXON_PA)).toEqual({ kind: 'fail-valid', error: 10 });
    cpu.mem.write(Number(VMCS_PA), 4, 0x1234);
    expect(vmx.vmptrld(VMCS_PA)).toEqual({ kind: 'fail-valid', error: 11 });
    cpu.mem.write(Number(VMCS_PA), 4, (VMCS_REVISION | 0x80000000) >>> 0); // a shadow VMCS: not supported
    expect(vmx.vmptrld(VMCS_PA)).toEqual({ kind: 'fail-valid', error: 11 });
    expect(errorField(vmx)).toBe(11n);
    expect(vmx.state.currentVmcs).toBe(Number(VMCS2_PA));
  });
  it('VMCLEAR errors 2 and 3, and clearing the current VMCS leaves none current', () => {
    const { vmx } = inRoot();
    expect(vmx.vmclear(VMCS_PA + 4n)).toEqual({ kind: 'fail-invalid' });
    expect(vmx.vmclear(VMXON_PA)).toEqual({ kind: 'fail-invalid' });
    expect(vmx.vmptrld(VMCS_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.vmclear(VMCS_PA + 4n)).toEqual({ kind: 'fail-valid', error: 2 });
    expect(vmx.vmclear(VMXON_PA)).toEqual({ kind: 'fail-valid', error: 3 });
    expect(vmx.vmclear(VMCS2_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.state.currentVmcs).toBe(Number(VMCS_PA));
    expect(vmx.vmclear(VMCS_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.state.currentVmcs).toBe(NO_POINTER);
  });
  it('VMCALL in root operation is VMfail(1); in non-root operation it exits', () => {
    const a = inRoot();
    expect(a.vmx.vmcall()).toEqual({ kind: 'fail-invalid' });
    const b = withCurrent();
    expect(b.vmx.vmcall()).toEqual({ kind: 'fail-valid', error: 1 });
    const c = setup();
    readyVmcs(c.vmx);
    expect(c.vmx.vmlaunch().kind).toBe('entered');
    expect(c.vmx.vmcall()).toEqual({ kind: 'vm-exit', reason: ExitReason.VMCALL });
  });
  it('sets the arithmetic flags as the conventions say', () => {
    const all = 0x8d5 | 2; // CF PF AF ZF SF OF and bit 1
    expect(rflagsAfter(all, { kind: 'succeed' })).toBe(2);
    expect(rflagsAfter(all, { kind: 'fail-invalid' })).toBe(3);
    expect(rflagsAfter(all, { kind: 'fail-valid' })).toBe(0x42);
    expect(rflagsAfter(all | 0x200, { kind: 'fault' })).toBe(all | 0x200);
  });
});

describe('VMREAD and VMWRITE', () => {
  it('VMfailInvalid without a current VMCS', () => {
    const { vmx } = inRoot();
    expect(vmx.vmread(enc('GUEST_RIP'))).toEqual({ kind: 'fail-invalid' });
    expect(vmx.vmwrite(enc('GUEST_RIP'), 1n)).toEqual({ kind: 'fail-invalid' });
  });
  it('error 12 for an encoding that names no supported field', () => {
    const { vmx } = withCurrent();
    const bad = [
      enc('GUEST_RIP') | 0x1000, // reserved bit 12
      0x00018000, // reserved bit 15
      0x6830, // guest natural-width index 24: no such field
      enc('GUEST_RIP') | 1, // a high access of a natural-width field
      enc('VM_EXIT_REASON') | 1, // ... of a 32-bit field
      enc('APIC_ACCESS_ADDR'), // a field of a feature the lab lacks
      enc('PML_ADDRESS'),
    ];
    for (const e of bad) {
      expect(vmx.vmread(e)).toEqual({ kind: 'fail-valid', error: 12 });
      expect(vmx.vmwrite(e, 0n)).toEqual({ kind: 'fail-valid', error: 12 });
    }
    expect(vmx.vmread(0x100000000n + BigInt(enc('GUEST_RIP')))).toEqual({ kind: 'fail-valid', error: 12 });
  });
  it('error 13 writing a VM-exit information field, unless IA32_VMX_MISC bit 29 allows it', () => {
    const a = withCurrent();
    expect(a.vmx.vmwrite(enc('EXIT_QUALIFICATION'), 5n)).toEqual({ kind: 'fail-valid', error: 13 });
    expect(a.vmx.vmread(enc('EXIT_QUALIFICATION'))).toEqual({ kind: 'succeed', value: 0n });
    expect(a.vmx.vmread(enc('VM_INSTRUCTION_ERROR'))).toEqual({ kind: 'succeed', value: 13n });
    const b = withCurrent({ vmwriteExitInfo: true });
    expect(b.vmx.vmwrite(enc('EXIT_QUALIFICATION'), 5n)).toEqual({ kind: 'succeed' });
    expect(b.vmx.vmread(enc('EXIT_QUALIFICATION'))).toEqual({ kind: 'succeed', value: 5n });
  });
  it('succeeds exactly for the encodings of supported fields (random encodings)', () => {
    const { vmx } = withCurrent();
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0x7fff }), fc.integer({ min: 0, max: 0xffffffff })), (e) => {
        const f = fieldByEncoding(e);
        const ok = f !== undefined && SUPPORTED_FEATURES.has(f.field.feature);
        expect(vmx.vmread(e).kind).toBe(ok ? 'succeed' : 'fail-valid');
      }),
    );
  });
  const writable = VMCS_FIELDS.filter((f) => SUPPORTED_FEATURES.has(f.feature) && f.type !== 'exit-info');
  it('truncates on VMWRITE and zero-extends on VMREAD in 64-bit mode; high accesses touch bits 63:32 only', () => {
    const { vmx } = withCurrent();
    fc.assert(
      fc.property(fc.constantFrom(...writable), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (f, a, b) => {
        const mask = (1n << BigInt(f.bits)) - 1n;
        expect(vmx.vmwrite(f.encoding, a)).toEqual({ kind: 'succeed' });
        expect(vmx.vmread(f.encoding)).toEqual({ kind: 'succeed', value: a & mask });
        if (f.width === '64') {
          expect(vmx.vmwrite(f.encoding | 1, b)).toEqual({ kind: 'succeed' });
          expect(vmx.vmread(f.encoding | 1)).toEqual({ kind: 'succeed', value: b & 0xffffffffn });
          expect(vmx.vmread(f.encoding)).toEqual({ kind: 'succeed', value: ((b & 0xffffffffn) << 32n) | (a & 0xffffffffn) });
        }
      }),
    );
  });
  it('outside 64-bit mode the operand is 32 bits: VMWRITE clears the high bits of longer fields, VMREAD gives the low 32', () => {
    const { cpu, vmx } = withCurrent();
    fc.assert(
      fc.property(fc.constantFrom(...writable), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (f, a) => {
        cpu.st.efer = 0x500;
        cpu.st.csLong = true;
        expect(vmx.vmwrite(f.encoding, (1n << 64n) - 1n).kind).toBe('succeed');
        cpu.st.efer = 0; // 32-bit protected mode
        cpu.st.csLong = false;
        const mask = (1n << BigInt(Math.min(f.bits, 32))) - 1n;
        expect(vmx.vmwrite(f.encoding, a)).toEqual({ kind: 'succeed' });
        expect(vmx.vmread(f.encoding)).toEqual({ kind: 'succeed', value: a & mask });
        cpu.st.efer = 0x500;
        cpu.st.csLong = true;
        expect(vmx.vmread(f.encoding)).toEqual({ kind: 'succeed', value: a & mask });
      }),
    );
  });
  it('keeps each VMCS its own values (stored in its region, not in the processor)', () => {
    const { vmx } = withCurrent();
    vmx.vmwrite(enc('GUEST_RIP'), 0x1111n);
    vmx.vmptrld(VMCS2_PA);
    vmx.vmwrite(enc('GUEST_RIP'), 0x2222n);
    vmx.vmptrld(VMCS_PA);
    expect(vmx.vmread(enc('GUEST_RIP'))).toEqual({ kind: 'succeed', value: 0x1111n });
  });
});

describe('the launch state', () => {
  const guestAt = (e: VmEntered) => e.guest;
  it('a valid VMCS enters: launched, non-root, the guest state returned', () => {
    const { cpu, vmx } = setup();
    readyVmcs(vmx);
    const o = vmx.vmlaunch();
    expect(o.kind).toBe('entered');
    const e = o as VmEntered;
    expect(e.launch).toBe(true);
    expect(guestAt(e).rip).toBe(0x1000n);
    expect(guestAt(e).seg.CS).toEqual({ selector: 8, base: 0n, limit: 0xffffffff, ar: 0xa09b });
    expect(guestAt(e).cr3).toBe(0x2000n);
    expect(vmx.state.mode).toBe('non-root');
    expect(readLaunchState(cpu.mem, Number(VMCS_PA))).toBe('launched');
    // In non-root operation the VMX instructions exit.
    expect(vmx.vmread(enc('GUEST_RIP'))).toEqual({ kind: 'vm-exit', reason: ExitReason.VMREAD });
    expect(vmx.vmxon(VMXON_PA)).toEqual({ kind: 'vm-exit', reason: ExitReason.VMON });
  });
  it('VMLAUNCH twice is error 4, VMRESUME on a clear VMCS error 5, VMCLEAR makes it launchable again', () => {
    const { vmx } = setup();
    readyVmcs(vmx);
    const e = vmx.vmlaunch() as VmEntered;
    const exit = vmx.vmexit({ reason: ExitReason.HLT!, instructionLength: 1 }, { ...e.guest, rip: 0x1005n });
    expect(exit.host.rip).toBe(0x401000n);
    expect(vmx.state.mode).toBe('root');
    expect(vmx.vmread(enc('VM_EXIT_REASON'))).toEqual({ kind: 'succeed', value: 12n });
    expect(vmx.vmread(enc('VM_EXIT_INSTRUCTION_LEN'))).toEqual({ kind: 'succeed', value: 1n });
    expect(vmx.vmread(enc('GUEST_RIP'))).toEqual({ kind: 'succeed', value: 0x1005n });
    expect(vmx.vmlaunch()).toMatchObject({ kind: 'fail-valid', error: 4 });
    expect(vmx.vmread(enc('VM_INSTRUCTION_ERROR'))).toEqual({ kind: 'succeed', value: 4n });
    const r = vmx.vmresume();
    expect(r).toMatchObject({ kind: 'entered', launch: false });
    expect((r as VmEntered).guest.rip).toBe(0x1005n);
    vmx.vmexit({ reason: ExitReason.CPUID! }, (r as VmEntered).guest);
    expect(vmx.vmclear(VMCS_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.vmptrld(VMCS_PA)).toEqual({ kind: 'succeed' });
    expect(vmx.vmresume()).toMatchObject({ kind: 'fail-valid', error: 5 });
    expect(vmx.vmlaunch()).toMatchObject({ kind: 'entered', launch: true });
  });
  it('VMLAUNCH without a current VMCS is VMfailInvalid; blocked by MOV SS it is error 26', () => {
    const a = inRoot();
    expect(a.vmx.vmlaunch()).toEqual({ kind: 'fail-invalid' });
    const b = setup();
    readyVmcs(b.vmx);
    b.cpu.st.movSs = true;
    expect(b.vmx.vmlaunch()).toMatchObject({ kind: 'fail-valid', error: 26 });
  });
  it('a VM exit clears the valid bit of the injected event and saves EFER under its control', () => {
    const { vmx } = setup();
    readyVmcs(vmx, {
      ...validFields(),
      VM_EXIT_CONTROLS: validFields()['VM_EXIT_CONTROLS']! | BigInt(Exit.SAVE_IA32_EFER!),
      VM_ENTRY_INTR_INFO_FIELD: BigInt(encodeInterruptionInfo({ valid: true, type: InterruptionType.EXTERNAL_INTERRUPT, vector: 0x20 })),
      GUEST_RFLAGS: 0x202n,
    });
    const e = vmx.vmlaunch() as VmEntered;
    expect(e.injection.info).toBe(0x80000020);
    vmx.vmexit({ reason: ExitReason.EXTERNAL_INTERRUPT! }, { ...e.guest, efer: 0xd01n });
    expect(vmx.vmread(enc('VM_ENTRY_INTR_INFO_FIELD'))).toEqual({ kind: 'succeed', value: 0x20n });
    expect(vmx.vmread(enc('GUEST_IA32_EFER'))).toEqual({ kind: 'succeed', value: 0xd01n });
  });
  it('vmexit outside non-root operation is a caller bug', () => {
    const { vmx } = setup();
    readyVmcs(vmx);
    const g = (vmx.vmlaunch() as VmEntered).guest;
    vmx.vmexit({ reason: 12 }, g);
    expect(() => vmx.vmexit({ reason: 12 }, g)).toThrow();
  });
});

// One change per VM-entry check that breaks that check and no check before it.
const NONCANON = 0x0000800000000000n;
const V = validFields();
const n = (name: string): bigint => V[name]!;
const intr = (i: Parameters<typeof encodeInterruptionInfo>[0]): bigint => BigInt(encodeInterruptionInfo({ valid: true, ...i }));
const SEC = n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.ACTIVATE_SECONDARY_CONTROLS!);
const EPTP = 0x5000n | 6n | (3n << 3n);
const HOST_NO_HASS = n('VM_EXIT_CONTROLS') & ~BigInt(Exit.HOST_ADDRESS_SPACE_SIZE!);
type Breaker = { fields: Record<string, bigint>; cpu?: (c: FakeProcessor) => void };
const BREAK: Record<string, Breaker> = {
  'pin-controls': { fields: { PIN_BASED_VM_EXEC_CONTROL: 0n } },
  'primary-controls': { fields: { CPU_BASED_VM_EXEC_CONTROL: n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.MOV_DR_EXITING!) } },
  'secondary-controls': { fields: { CPU_BASED_VM_EXEC_CONTROL: SEC, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_PML!) } },
  'cr3-target-count': { fields: { CR3_TARGET_COUNT: 5n } },
  'io-bitmaps': { fields: { CPU_BASED_VM_EXEC_CONTROL: n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.USE_IO_BITMAPS!), IO_BITMAP_A: 0x3000n, IO_BITMAP_B: 0x4001n } },
  'msr-bitmaps': { fields: { CPU_BASED_VM_EXEC_CONTROL: n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.USE_MSR_BITMAPS!), MSR_BITMAP: 1n << 48n } },
  vpid: { fields: { CPU_BASED_VM_EXEC_CONTROL: SEC, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_VPID!) } },
  'ept-pointer': { fields: { CPU_BASED_VM_EXEC_CONTROL: SEC, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_EPT!), EPT_POINTER: (EPTP & ~0x38n) | (2n << 3n) } },
  'virtual-apic-address': { fields: { CPU_BASED_VM_EXEC_CONTROL: n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.USE_TPR_SHADOW!), VIRTUAL_APIC_PAGE_ADDR: 0x40010n } },
  'tpr-threshold-bits': { fields: { CPU_BASED_VM_EXEC_CONTROL: n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.USE_TPR_SHADOW!), VIRTUAL_APIC_PAGE_ADDR: 0x40000n, TPR_THRESHOLD: 0x10n } },
  'tpr-threshold-vtpr': {
    fields: { CPU_BASED_VM_EXEC_CONTROL: n('CPU_BASED_VM_EXEC_CONTROL') | BigInt(Primary.USE_TPR_SHADOW!), VIRTUAL_APIC_PAGE_ADDR: 0x40000n, TPR_THRESHOLD: 3n },
    cpu: (c) => c.mem.write(0x40080, 1, 0x20), // VTPR class 2 < threshold 3
  },
  'apic-virtualization-needs-tpr-shadow': { fields: { CPU_BASED_VM_EXEC_CONTROL: SEC, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.VIRTUALIZE_X2APIC_MODE!) } },
  'virtual-interrupts-need-exiting': {
    fields: { CPU_BASED_VM_EXEC_CONTROL: SEC | BigInt(Primary.USE_TPR_SHADOW!), VIRTUAL_APIC_PAGE_ADDR: 0x40000n, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.VIRTUAL_INTERRUPT_DELIVERY!), PIN_BASED_VM_EXEC_CONTROL: n('PIN_BASED_VM_EXEC_CONTROL') & ~BigInt(Pin.EXTERNAL_INTERRUPT_EXITING!) },
  },
  'posted-interrupts': {
    fields: {
      CPU_BASED_VM_EXEC_CONTROL: SEC | BigInt(Primary.USE_TPR_SHADOW!),
      VIRTUAL_APIC_PAGE_ADDR: 0x40000n,
      SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.VIRTUAL_INTERRUPT_DELIVERY!),
      PIN_BASED_VM_EXEC_CONTROL: n('PIN_BASED_VM_EXEC_CONTROL') | BigInt(Pin.EXTERNAL_INTERRUPT_EXITING! | Pin.PROCESS_POSTED_INTERRUPTS!),
      VM_EXIT_CONTROLS: n('VM_EXIT_CONTROLS') | BigInt(Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT!),
      POSTED_INTR_NV: 0xf2n,
      POSTED_INTR_DESC_ADDR: 0x41020n, // not 64-byte aligned
    },
  },
  'unrestricted-needs-ept': { fields: { CPU_BASED_VM_EXEC_CONTROL: SEC, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.UNRESTRICTED_GUEST!) } },
  'exit-controls': { fields: { VM_EXIT_CONTROLS: n('VM_EXIT_CONTROLS') | (1n << 23n) } },
  'preemption-timer-save': { fields: { VM_EXIT_CONTROLS: n('VM_EXIT_CONTROLS') | BigInt(Exit.SAVE_PREEMPTION_TIMER_VALUE!) } },
  'exit-msr-areas': { fields: { VM_EXIT_MSR_STORE_COUNT: 1n, VM_EXIT_MSR_STORE_ADDR: 0x5008n } },
  'entry-controls': { fields: { VM_ENTRY_CONTROLS: n('VM_ENTRY_CONTROLS') | BigInt(Entry.ENTRY_TO_SMM!) } },
  'event-type': { fields: { VM_ENTRY_INTR_INFO_FIELD: intr({ type: 1, vector: 0x20 }) } },
  'event-vector': { fields: { VM_ENTRY_INTR_INFO_FIELD: intr({ type: InterruptionType.NMI, vector: 3 }) } },
  'event-error-code': { fields: { VM_ENTRY_INTR_INFO_FIELD: intr({ type: InterruptionType.HARDWARE_EXCEPTION, vector: 13 }) } },
  'event-reserved': { fields: { VM_ENTRY_INTR_INFO_FIELD: intr({ type: 0, vector: 0x20 }) | (1n << 20n) } },
  'event-error-code-bits': { fields: { VM_ENTRY_INTR_INFO_FIELD: intr({ type: 3, vector: 13, errorCodeValid: true }), VM_ENTRY_EXCEPTION_ERROR_CODE: 0x10000n } },
  'event-instruction-length': { fields: { VM_ENTRY_INTR_INFO_FIELD: intr({ type: InterruptionType.SOFTWARE_INTERRUPT, vector: 0x80 }) } },
  'entry-msr-load-area': { fields: { VM_ENTRY_MSR_LOAD_COUNT: 2n, VM_ENTRY_MSR_LOAD_ADDR: 0x5004n } },
  'host-cr0': { fields: { HOST_CR0: 0x80050032n } },
  'host-cr4': { fields: { HOST_CR4: 0x20n } },
  'host-cr3': { fields: { HOST_CR3: 1n << 50n } },
  'host-sysenter': { fields: { HOST_IA32_SYSENTER_EIP: NONCANON } },
  'host-pat': { fields: { VM_EXIT_CONTROLS: n('VM_EXIT_CONTROLS') | BigInt(Exit.LOAD_IA32_PAT!), HOST_IA32_PAT: 0x02n } },
  'host-efer': { fields: { VM_EXIT_CONTROLS: n('VM_EXIT_CONTROLS') | BigInt(Exit.LOAD_IA32_EFER!), HOST_IA32_EFER: 0x100n } },
  'host-selectors': { fields: { HOST_DS_SELECTOR: 0x13n } },
  'host-cs': { fields: { HOST_CS_SELECTOR: 0n } },
  'host-tr': { fields: { HOST_TR_SELECTOR: 0n } },
  'host-ss': { fields: { VM_EXIT_CONTROLS: HOST_NO_HASS, HOST_SS_SELECTOR: 0n } },
  'host-bases': { fields: { HOST_GS_BASE: NONCANON } },
  'address-space-outside-ia32e': { fields: {}, cpu: (c) => ((c.st.efer = 0), (c.st.csLong = false)) },
  'address-space-inside-ia32e': { fields: { VM_EXIT_CONTROLS: HOST_NO_HASS } },
  'host-rip': { fields: { HOST_RIP: NONCANON } },
  'guest-cr0': { fields: { GUEST_CR0: 0x80000011n } },
  'guest-cr0-pg-pe': { fields: { CPU_BASED_VM_EXEC_CONTROL: SEC, SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_EPT! | Secondary.UNRESTRICTED_GUEST!), EPT_POINTER: EPTP, GUEST_CR0: 0x80000020n } },
  'guest-cr4': { fields: { GUEST_CR4: 0x20n } },
  'guest-dr7': { fields: { VM_ENTRY_CONTROLS: n('VM_ENTRY_CONTROLS') | BigInt(Entry.LOAD_DEBUG_CONTROLS!), GUEST_DR7: 1n << 32n } },
  'guest-ia32e-paging': { fields: { GUEST_CR4: 0x2000n } },
  'guest-cr3': { fields: { GUEST_CR3: 1n << 48n } },
  'guest-sysenter': { fields: { GUEST_SYSENTER_ESP: NONCANON } },
  'guest-pat': { fields: { VM_ENTRY_CONTROLS: n('VM_ENTRY_CONTROLS') | BigInt(Entry.LOAD_IA32_PAT!), GUEST_IA32_PAT: 0x0303n } },
  'guest-efer': { fields: { VM_ENTRY_CONTROLS: n('VM_ENTRY_CONTROLS') | BigInt(Entry.LOAD_IA32_EFER!), GUEST_IA32_EFER: 0x100n } },
  'guest-tr-ldtr-ti': { fields: { GUEST_TR_SELECTOR: 0x1cn } },
  'guest-ss-rpl': { fields: { GUEST_SS_SELECTOR: 0x13n } },
  'guest-v86-segments': { fields: { GUEST_RFLAGS: 0x20002n } },
  'guest-segment-bases': { fields: { GUEST_FS_BASE: NONCANON } },
  'guest-cs-rights': { fields: { GUEST_CS_AR_BYTES: 0xa093n } },
  'guest-ss-rights': { fields: { GUEST_SS_AR_BYTES: 0xc09bn } },
  'guest-data-rights': { fields: { GUEST_DS_AR_BYTES: 0xc092n } },
  'guest-tr-rights': { fields: { GUEST_TR_AR_BYTES: 0x83n } },
  'guest-ldtr-rights': { fields: { GUEST_LDTR_SELECTOR: 0x20n, GUEST_LDTR_LIMIT: 0xffffn, GUEST_LDTR_AR_BYTES: 0x83n } },
  'guest-gdtr-idtr': { fields: { GUEST_GDTR_LIMIT: 0x10000n } },
  'guest-rip': { fields: { GUEST_RIP: NONCANON } },
  'guest-rflags': { fields: { GUEST_RFLAGS: 0n } },
  'guest-activity': { fields: { GUEST_ACTIVITY_STATE: 2n } },
  'guest-interruptibility': { fields: { GUEST_INTERRUPTIBILITY_INFO: 1n } },
  'guest-pending-debug': { fields: { GUEST_PENDING_DBG_EXCEPTIONS: 0x10n } },
  'guest-vmcs-link': { fields: { VMCS_LINK_POINTER: 0x13000n } },
};

describe('VM-entry checks, each failing alone', () => {
  it('has a breaking case for every check, and checks in SDM order: controls, host, guest', () => {
    expect(Object.keys(BREAK).sort()).toEqual(ENTRY_CHECKS.map((c) => c.id).sort());
    const stages = ENTRY_CHECKS.map((c) => c.stage);
    expect(stages).toEqual([...stages].sort((a, b) => ['controls', 'host', 'guest'].indexOf(a) - ['controls', 'host', 'guest'].indexOf(b)));
  });
  for (const check of ENTRY_CHECKS) {
    it(`${check.id} (${check.section})`, () => {
      const { cpu, vmx } = setup();
      const b = BREAK[check.id]!;
      readyVmcs(vmx, { ...validFields(), ...b.fields });
      b.cpu?.(cpu);
      const o = vmx.vmlaunch();
      if (check.stage === 'guest') {
        expect(o).toMatchObject({ kind: 'entry-failed', exitReason: 0x80000021, qualification: check.qualification ?? 0, check: { id: check.id } });
        expect(vmx.vmread(enc('VM_EXIT_REASON'))).toEqual({ kind: 'succeed', value: 0x80000021n });
        expect(vmx.vmread(enc('EXIT_QUALIFICATION'))).toEqual({ kind: 'succeed', value: BigInt(check.qualification ?? 0) });
        expect(vmx.state.mode).toBe('root');
        expect(readLaunchState(cpu.mem, Number(VMCS_PA))).toBe('clear');
      } else {
        const error = check.stage === 'controls' ? 7 : 8;
        expect(o).toMatchObject({ kind: 'fail-valid', error, check: { id: check.id } });
        expect(vmx.vmread(enc('VM_INSTRUCTION_ERROR'))).toEqual({ kind: 'succeed', value: BigInt(error) });
      }
    });
  }
  it('an unusable SS still has its DPL checked (SS.DPL is the CPL); HLT with blocking by STI or MOV SS fails', () => {
    const cases: Record<string, bigint>[] = [
      // Unusable (bit 16), DPL 3 with selector RPL 0.
      { GUEST_SS_AR_BYTES: 0x10060n },
      // HLT with blocking by MOV SS; then by STI (with IF = 1, so that the interruptibility check passes).
      { GUEST_ACTIVITY_STATE: 1n, GUEST_INTERRUPTIBILITY_INFO: 2n },
      { GUEST_ACTIVITY_STATE: 1n, GUEST_INTERRUPTIBILITY_INFO: 1n, GUEST_RFLAGS: 0x202n },
    ];
    for (const fields of cases) {
      const { vmx } = setup();
      readyVmcs(vmx, { ...validFields(), ...fields });
      const o = vmx.vmlaunch();
      expect(o, JSON.stringify(fields, (_k, x) => (typeof x === 'bigint' ? x.toString(16) : x))).toMatchObject({ kind: 'entry-failed', exitReason: 0x80000021 });
    }
  });

  it('an unrestricted real-mode guest with EPT enters', () => {
    const { vmx } = setup();
    const f = validFields();
    readyVmcs(vmx, {
      ...f,
      CPU_BASED_VM_EXEC_CONTROL: SEC,
      SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.ENABLE_EPT! | Secondary.UNRESTRICTED_GUEST! | Secondary.ENABLE_VPID!),
      VIRTUAL_PROCESSOR_ID: 1n,
      EPT_POINTER: EPTP,
      VM_ENTRY_CONTROLS: f['VM_ENTRY_CONTROLS']! & ~BigInt(Entry.IA32E_MODE_GUEST!),
      GUEST_CR0: 0x30n,
      GUEST_CR4: 0x2000n,
      GUEST_RIP: 0x7c00n,
      GUEST_CS_SELECTOR: 0n,
      GUEST_CS_LIMIT: 0xffffn,
      GUEST_CS_AR_BYTES: 0x9bn,
      GUEST_SS_SELECTOR: 0n,
      GUEST_SS_LIMIT: 0xffffn,
      GUEST_SS_AR_BYTES: 0x93n,
      GUEST_DS_AR_BYTES: 0x10000n,
      GUEST_ES_AR_BYTES: 0x10000n,
      GUEST_FS_AR_BYTES: 0x10000n,
      GUEST_GS_AR_BYTES: 0x10000n,
      GUEST_IA32_EFER: 0n,
    });
    expect(vmx.vmlaunch()).toMatchObject({ kind: 'entered', guest: { rip: 0x7c00n } });
  });
  it('a preemption-timer guest in HLT with an injected #GP enters', () => {
    const { vmx } = setup();
    const f = validFields();
    readyVmcs(vmx, {
      ...f,
      PIN_BASED_VM_EXEC_CONTROL: f['PIN_BASED_VM_EXEC_CONTROL']! | BigInt(Pin.ACTIVATE_PREEMPTION_TIMER!),
      VM_EXIT_CONTROLS: f['VM_EXIT_CONTROLS']! | BigInt(Exit.SAVE_PREEMPTION_TIMER_VALUE!),
      VMX_PREEMPTION_TIMER_VALUE: 100n,
      GUEST_ACTIVITY_STATE: 1n,
      VM_ENTRY_INTR_INFO_FIELD: intr({ type: InterruptionType.HARDWARE_EXCEPTION, vector: 13, errorCodeValid: true }),
      VM_ENTRY_EXCEPTION_ERROR_CODE: 0x18n,
    });
    expect(vmx.vmlaunch()).toMatchObject({ kind: 'entered', guest: { preemptionTimer: 100, activityState: 1 }, injection: { errorCode: 0x18 } });
  });
});
