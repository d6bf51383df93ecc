/**
 * INVVPID and INVEPT (SDM Vol. 3C ch. 31 and 29.4.3.1): each check of their Operation sections
 * alone, and what a successful one asks of the processor's TLB. The capability MSR advertises
 * every type (controls.ts EPT_VPID_CAP).
 */
import { describe, expect, it } from 'vitest';
import { EPT_VPID_CAP, EptVpidCap } from './controls.ts';
import { ExitReason } from './exit-reasons.ts';
import { VMCS_PA, VMXON_PA, fakeProcessor, type FakeProcessor } from './testkit.ts';
import { VMCS_REVISION } from './controls.ts';
import { Vmx, VmInstructionError, type VmxTlb } from './vmx.ts';
import { encodeEptp } from './ept.ts';

const UD = { kind: 'fault', vector: 6, errorCode: -1 };
const GP = { kind: 'fault', vector: 13, errorCode: 0 };
const BAD = { kind: 'fail-valid', error: VmInstructionError.INVALID_INVEPT_INVVPID_OPERAND };

function unit(): { cpu: FakeProcessor & { tlb: VmxTlb }; vmx: Vmx; calls: unknown[] } {
  const calls: unknown[] = [];
  const cpu = Object.assign(fakeProcessor(), {
    tlb: {
      invvpid: (type: number, vpid: number, linear: bigint) => void calls.push(['invvpid', type, vpid, linear]),
      invept: (type: number, ep4ta: number) => void calls.push(['invept', type, ep4ta]),
    },
  });
  for (const pa of [VMXON_PA, VMCS_PA]) cpu.mem.write(Number(pa), 4, VMCS_REVISION);
  const vmx = new Vmx(cpu);
  return { cpu, vmx, calls };
}

function root(current = true): ReturnType<typeof unit> {
  const u = unit();
  expect(u.vmx.vmxon(VMXON_PA)).toEqual({ kind: 'succeed' });
  if (current) expect(u.vmx.vmptrld(VMCS_PA)).toEqual({ kind: 'succeed' });
  return u;
}

const desc = (lo: bigint, hi = 0n): { lo: bigint; hi: bigint } => ({ lo, hi });
const errorField = (vmx: Vmx): bigint => vmx.currentReader()!('VM_INSTRUCTION_ERROR');

describe('INVVPID', () => {
  it('is advertised with all four types (IA32_VMX_EPT_VPID_CAP bits 32, 40-43)', () => {
    for (const b of [EptVpidCap.INVVPID, 40, 41, 42, 43]) expect((EPT_VPID_CAP >> BigInt(b)) & 1n, `bit ${b}`).toBe(1n);
  });

  it('#UD outside VMX operation, a VM exit (reason 53) in non-root operation, #GP(0) at CPL > 0', () => {
    const a = unit();
    expect(a.vmx.invvpid(1, desc(1n))).toMatchObject({ ...UD, cause: 'not-in-vmx-operation' });
    const b = root();
    b.vmx.state = { ...b.vmx.state, mode: 'non-root' };
    expect(b.vmx.invvpid(1, desc(1n))).toEqual({ kind: 'vm-exit', reason: ExitReason.INVVPID });
    expect(ExitReason.INVVPID).toBe(53);
    const c = root();
    c.cpu.st.cpl = 3;
    expect(c.vmx.invvpid(1, desc(1n))).toMatchObject({ ...GP, cause: 'cpl-not-0' });
    for (const u of [a, b, c]) expect(u.calls).toEqual([]);
  });

  it('VMfail(28) for an unsupported type, reserved descriptor bits 63:16, VPID 0 (types 0, 1, 3), a non-canonical address (type 0)', () => {
    const cases: [number, { lo: bigint; hi: bigint }][] = [
      [4, desc(1n)],
      [-1, desc(1n)],
      [1, desc(0x10001n)],
      [0, desc(1n << 63n)],
      [0, desc(0n, 0x1000n)],
      [1, desc(0n)],
      [3, desc(0n)],
      [0, desc(1n, 0x0000800000000000n)],
    ];
    for (const [type, d] of cases) {
      const u = root();
      expect(u.vmx.invvpid(type, d), `type ${type} ${JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`).toEqual(BAD);
      expect(errorField(u.vmx)).toBe(28n);
      expect(u.calls).toEqual([]);
    }
  });

  it('VMfailInvalid without a current VMCS', () => {
    const u = root(false);
    expect(u.vmx.invvpid(4, desc(1n))).toEqual({ kind: 'fail-invalid' });
  });

  it('succeeds and invalidates: type 0 with a canonical address (high half too), types 1 and 3 for the VPID, type 2 whatever the VPID field', () => {
    const u = root();
    expect(u.vmx.invvpid(0, desc(7n, 0xffff800000001000n))).toEqual({ kind: 'succeed' });
    expect(u.vmx.invvpid(1, desc(7n))).toEqual({ kind: 'succeed' });
    expect(u.vmx.invvpid(2, desc(0n))).toEqual({ kind: 'succeed' });
    expect(u.vmx.invvpid(3n, desc(0xffffn))).toEqual({ kind: 'succeed' });
    expect(u.calls).toEqual([['invvpid', 0, 7, 0xffff800000001000n], ['invvpid', 1, 7, 0n], ['invvpid', 2, 0, 0n], ['invvpid', 3, 0xffff, 0n]]);
  });

  it('with CR4.LA57 a 57-bit canonical address is accepted', () => {
    const u = root();
    u.cpu.st.cr4 |= 0x1000;
    expect(u.vmx.invvpid(0, desc(1n, 0x0080000000000000n))).toEqual({ kind: 'succeed' });
    expect(u.vmx.invvpid(0, desc(1n, 0x0100000000000000n))).toEqual(BAD);
  });
});

describe('INVEPT', () => {
  const eptp = encodeEptp({ root: 0x123000, memType: 6, walkLength: 4, accessedDirty: false });

  it('#UD outside VMX operation, a VM exit (reason 50) in non-root operation, #GP(0) at CPL > 0', () => {
    expect(unit().vmx.invept(2, desc(0n))).toMatchObject(UD);
    const b = root();
    b.vmx.state = { ...b.vmx.state, mode: 'non-root' };
    expect(b.vmx.invept(2, desc(0n))).toEqual({ kind: 'vm-exit', reason: ExitReason.INVEPT });
    expect(ExitReason.INVEPT).toBe(50);
    const c = root();
    c.cpu.st.cpl = 1;
    expect(c.vmx.invept(2, desc(0n))).toMatchObject(GP);
  });

  it('VMfail(28) for types other than 1 and 2, and for single-context with an EPTP VM entry would refuse', () => {
    const bad = [
      encodeEptp({ root: 0x123000, memType: 3, walkLength: 4, accessedDirty: false }),
      // A walk length the lab does not support (it advertises 4 and 5: IA32_VMX_EPT_VPID_CAP).
      encodeEptp({ root: 0x123000, memType: 6, walkLength: 3, accessedDirty: false }),
      encodeEptp({ root: 0x123000, memType: 7, walkLength: 4, accessedDirty: true }),
      eptp | 0x100n,
      eptp | (1n << 50n),
    ];
    for (const [type, d] of [[0, desc(eptp)], [3, desc(eptp)], ...bad.map((e) => [1, desc(e)] as const)] as const) {
      const u = root();
      expect(u.vmx.invept(type, d), `type ${type} ${d.lo.toString(16)}`).toEqual(BAD);
      expect(u.calls).toEqual([]);
    }
  });

  it('single-context invalidates the EP4TA (EPTP bits 51:12); global ignores the descriptor', () => {
    const u = root();
    expect(u.vmx.invept(1, desc(eptp))).toEqual({ kind: 'succeed' });
    expect(u.vmx.invept(2, desc(0xdeadn))).toEqual({ kind: 'succeed' });
    expect(u.calls).toEqual([['invept', 1, 0x123], ['invept', 2, -1]]);
  });
});
