import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CR4_ALLOWED } from '../cpu/sys-ctl.ts';
import {
  ALLOWED,
  CONTROL_BITS,
  DEFAULT1,
  EPT_VPID_CAP,
  EptVpidCap,
  SUPPORTED1,
  SUPPORTED_FEATURES,
  TRUE_ALLOWED,
  VMCS_ENUM_MAX_INDEX,
  VMCS_REVISION,
  VmxMsr,
  controlViolations,
  readVmxMsr,
  type ControlField,
} from './controls.ts';
import { fakeProcessor } from './testkit.ts';
import { Vmx } from './vmx.ts';
import { EXIT_REASONS, ExitReason, decodeExitReason, encodeExitReason } from './exit-reasons.ts';
import { VMCS_FIELDS, Vmcs, composeEncoding, decodeEncoding, fieldByEncoding, fieldByName } from './fields.ts';
import {
  CR_ACCESS_LAYOUT,
  EPT_VIOLATION_LAYOUT,
  INTERRUPTION_INFO_LAYOUT,
  IO_LAYOUT,
  decodeCrAccess,
  decodeEptViolation,
  decodeInterruptionInfo,
  decodeInvlpg,
  decodeIo,
  encodeCrAccess,
  encodeEptViolation,
  encodeInterruptionInfo,
  encodeInvlpg,
  encodeIo,
  layoutMask,
  type CrAccessKind,
} from './qualification.ts';

describe('field encodings', () => {
  it('compose and decode are inverse over every encoding without reserved bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fff }).filter((e) => (e & 0x1000) === 0), (e) => {
        const d = decodeEncoding(e);
        expect(d.reservedSet).toBe(false);
        expect(composeEncoding(d)).toBe(e);
      }),
    );
  });
  it('each field is found by name and by encoding, and _HIGH names the high access of 64-bit fields only', () => {
    for (const f of VMCS_FIELDS) {
      expect(fieldByEncoding(f.encoding)?.field).toBe(f);
      expect(fieldByName(f.name)?.field).toBe(f);
      expect(fieldByName(`${f.name}_HIGH`)).toEqual(f.width === '64' ? { field: f, access: 'high' } : undefined);
      expect(fieldByEncoding(f.encoding | 1)).toEqual(f.width === '64' ? { field: f, access: 'high' } : undefined);
    }
    expect(new Set(VMCS_FIELDS.map((f) => f.slot)).size).toBe(VMCS_FIELDS.length);
    expect(Vmcs['GUEST_RIP']).toBe(0x681e);
    expect(fieldByEncoding(-1)).toBeUndefined();
    expect(fieldByEncoding(0x1_0000_681e)).toBeUndefined();
  });
  it('the lab keeps the field values inside the 4-KByte region', () => {
    expect(16 + VMCS_FIELDS.length * 8).toBeLessThanOrEqual(4096);
  });
});

describe('capability MSRs', () => {
  const groups: ControlField[] = ['pin', 'primary', 'secondary', 'exit', 'entry'];
  it('allowed 0-settings are within allowed 1-settings, and the TRUE MSRs only free default1 bits', () => {
    for (const g of groups) {
      expect((ALLOWED[g].must1 & ~ALLOWED[g].may1) >>> 0).toBe(0);
      expect((TRUE_ALLOWED[g].must1 & ~ALLOWED[g].must1) >>> 0).toBe(0);
      expect(TRUE_ALLOWED[g].may1).toBe(ALLOWED[g].may1);
      expect(ALLOWED[g].must1).toBe(DEFAULT1[g]);
    }
  });
  it('a hypervisor may set every control it supports, and only named controls', () => {
    for (const g of groups) {
      const named = CONTROL_BITS[g].reduce((a, c) => (a | (1 << c.bit)) >>> 0, 0);
      expect((SUPPORTED1[g] & ~named) >>> 0).toBe(0);
      expect(controlViolations(TRUE_ALLOWED[g].must1 | SUPPORTED1[g], TRUE_ALLOWED[g])).toBe(0);
    }
  });
  it('reads as 64-bit MSRs: allowed-0 in 31:0, allowed-1 in 63:32', () => {
    const v = readVmxMsr(VmxMsr.IA32_VMX_TRUE_PROCBASED_CTLS)!;
    expect(Number(v & 0xffffffffn)).toBe(TRUE_ALLOWED.primary.must1);
    expect(Number(v >> 32n)).toBe(TRUE_ALLOWED.primary.may1);
    expect(readVmxMsr(VmxMsr.IA32_VMX_PINBASED_CTLS)).toBe(0x000000df00000016n);
    expect(readVmxMsr(0x491)).toBeUndefined(); // IA32_VMX_VMFUNC: no VM functions here
  });
  it('a VMX unit answers RDMSR of IA32_FEATURE_CONTROL (locked, VMX outside SMX) and the capability MSRs with its options', () => {
    const v = new Vmx(fakeProcessor(), { vmwriteExitInfo: true });
    expect(v.rdmsr(VmxMsr.IA32_FEATURE_CONTROL)).toBe(5n);
    expect(v.rdmsr(VmxMsr.IA32_VMX_MISC)).toBe(readVmxMsr(VmxMsr.IA32_VMX_MISC, { vmwriteExitInfo: true }));
    expect(v.rdmsr(0x10)).toBeUndefined();
  });
  it('IA32_VMX_BASIC: revision, 4-KByte region, write-back, TRUE controls', () => {
    const b = readVmxMsr(VmxMsr.IA32_VMX_BASIC)!;
    expect(Number(b & 0x7fffffffn)).toBe(VMCS_REVISION);
    expect((b >> 31n) & 1n).toBe(0n);
    expect((b >> 32n) & 0x1fffn).toBe(4096n);
    expect((b >> 48n) & 1n).toBe(0n);
    expect((b >> 50n) & 0xfn).toBe(6n);
    expect((b >> 55n) & 1n).toBe(1n);
  });
  it('IA32_VMX_MISC: timer rate 0, LMA stored, HLT state, 4 CR3 targets, bit 29 by option', () => {
    const m = readVmxMsr(VmxMsr.IA32_VMX_MISC)!;
    expect(m & 0x1fn).toBe(0n);
    expect((m >> 5n) & 1n).toBe(1n);
    expect((m >> 6n) & 7n).toBe(1n);
    expect((m >> 16n) & 0x1ffn).toBe(4n);
    expect((m >> 29n) & 1n).toBe(0n);
    expect((readVmxMsr(VmxMsr.IA32_VMX_MISC, { vmwriteExitInfo: true })! >> 29n) & 1n).toBe(1n);
  });
  it('CR0 and CR4 fixed bits: PE NE PG and VMXE required; CR4 allows exactly what the CPU implements', () => {
    expect(readVmxMsr(VmxMsr.IA32_VMX_CR0_FIXED0)).toBe(0x80000021n);
    expect(readVmxMsr(VmxMsr.IA32_VMX_CR4_FIXED0)).toBe(0x2000n);
    expect(readVmxMsr(VmxMsr.IA32_VMX_CR4_FIXED1)).toBe(BigInt((CR4_ALLOWED | 0x2000) >>> 0));
  });
  it('EPT/VPID: 4- and 5-level, UC and WB, 2-MByte and 1-GByte pages, A/D flags, INVEPT and INVVPID types; no execute-only', () => {
    const has = (b: number): boolean => ((EPT_VPID_CAP >> BigInt(b)) & 1n) === 1n;
    const on = [EptVpidCap.WALK_4, EptVpidCap.WALK_5, EptVpidCap.UC, EptVpidCap.WB, EptVpidCap.PDE_2MB, EptVpidCap.PDPTE_1GB, EptVpidCap.ACCESSED_DIRTY, EptVpidCap.INVEPT, EptVpidCap.INVVPID];
    expect(on.every(has)).toBe(true);
    expect([EptVpidCap.EXECUTE_ONLY, EptVpidCap.ADVANCED_EXIT_INFO].some(has)).toBe(false);
  });
  it('IA32_VMX_VMCS_ENUM names the highest index of a supported field', () => {
    expect(readVmxMsr(VmxMsr.IA32_VMX_VMCS_ENUM)).toBe(BigInt(VMCS_ENUM_MAX_INDEX << 1));
    const idx = VMCS_FIELDS.filter((f) => SUPPORTED_FEATURES.has(f.feature)).map((f) => (f.encoding >> 1) & 0x1ff);
    expect(VMCS_ENUM_MAX_INDEX).toBe(Math.max(...idx));
  });
  it('the fields of supported controls exist (EPT, VPID, preemption timer, PAT, EFER)', () => {
    for (const n of ['EPT_POINTER', 'VIRTUAL_PROCESSOR_ID', 'VMX_PREEMPTION_TIMER_VALUE', 'GUEST_IA32_PAT', 'HOST_IA32_EFER', 'GUEST_PHYSICAL_ADDRESS']) {
      expect(SUPPORTED_FEATURES.has(fieldByName(n)!.field.feature)).toBe(true);
    }
  });
});

describe('exit reasons', () => {
  it('numbers the named reasons', () => {
    expect(ExitReason['CR_ACCESS']).toBe(28);
    expect(ExitReason['INVALID_STATE']).toBe(33);
    expect(EXIT_REASONS.every((r, i) => r.reason === i)).toBe(true);
  });
  it('encodes and decodes the exit-reason field', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.boolean(), (basic, enclaveMode, entryFailure) => {
        const f = { basic, enclaveMode, entryFailure };
        expect(decodeExitReason(encodeExitReason(f))).toEqual(f);
      }),
    );
  });
});

describe('qualifications', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  it('CR access: decode then encode keeps exactly the named bits', () => {
    fc.assert(fc.property(u32, (q) => {
      expect(encodeCrAccess(decodeCrAccess(q))).toBe((q & layoutMask(CR_ACCESS_LAYOUT)) >>> 0);
    }));
    const kinds: CrAccessKind[] = ['mov-to-cr', 'mov-from-cr', 'clts', 'lmsw'];
    expect(kinds.map((access, i) => encodeCrAccess({ cr: 0, access, lmswMemory: false, gpr: 0, lmswSource: 0 }) >>> 4)).toEqual([0, 1, 2, 3]);
    // MOV CR8, R15 ; LMSW with memory operand and source 0x000b
    expect(encodeCrAccess({ cr: 8, access: 'mov-to-cr', lmswMemory: false, gpr: 15, lmswSource: 0 })).toBe(0xf08);
    expect(decodeCrAccess(0x000b0070)).toEqual({ cr: 0, access: 'lmsw', lmswMemory: true, gpr: 0, lmswSource: 0xb });
  });
  it('I/O: size, direction, string, REP, operand encoding, port', () => {
    fc.assert(fc.property(u32.filter((q) => (q & 7) !== 2 && (q & 7) <= 3), (q) => {
      expect(encodeIo(decodeIo(q))).toBe((q & layoutMask(IO_LAYOUT)) >>> 0);
    }));
    // REP OUTSB to DX = 0x3f8; IN AL, 0x60
    expect(encodeIo({ size: 1, direction: 'out', string: true, rep: true, immediate: false, port: 0x3f8 })).toBe(0x03f80030);
    expect(decodeIo(0x00600048)).toEqual({ size: 1, direction: 'in', string: false, rep: false, immediate: true, port: 0x60 });
    expect(decodeIo(0x00000003).size).toBe(4);
  });
  it('EPT violation: every named bit', () => {
    fc.assert(fc.property(u32, (q) => {
      expect(encodeEptViolation(decodeEptViolation(q))).toBe((q & layoutMask(EPT_VIOLATION_LAYOUT)) >>> 0);
    }));
    expect(encodeEptViolation({ write: true, readable: true, linearValid: true, translated: true })).toBe(0x18a);
  });
  it('INVLPG: the linear address, 64 bits', () => {
    expect(decodeInvlpg(encodeInvlpg(-1n)).linear).toBe(0xffffffffffffffffn);
    expect(encodeInvlpg(0xffff800000001000n)).toBe(0xffff800000001000n);
  });
  it('interruption information: vector, type, error code, NMI unblocking, valid', () => {
    fc.assert(fc.property(u32, (q) => {
      expect(encodeInterruptionInfo(decodeInterruptionInfo(q))).toBe((q & layoutMask(INTERRUPTION_INFO_LAYOUT)) >>> 0);
    }));
    // #PF with an error code, as a VM exit reports it
    expect(encodeInterruptionInfo({ vector: 14, type: 3, errorCodeValid: true, valid: true })).toBe(0x80000b0e);
    expect(decodeInterruptionInfo(0x80000202)).toEqual({ vector: 2, type: 2, errorCodeValid: false, nmiUnblocking: false, valid: true });
  });
});
