/**
 * Running real guest programs under the lab's VT-x for tests (run.test.ts and the tests that build
 * on it): a bare 64-bit host in VMX operation, a VMCS of testkit's valid fields with the guest
 * sharing the host's identity map, and helpers that check an exit's reason and saved RIP. It throws
 * on a mismatch instead of using vitest's expect, since src/emu imports nothing from outside.
 */

import { assemble } from '../asm/assembler.ts';
import { createBareMachine, type BareMachine } from '../machine/bare.ts';
import { CR0, CR4 } from '../cpu/sys-util.ts';
import { Exit, Pin, Primary, Secondary, VMCS_REVISION } from './controls.ts';
import { ExitReason } from './exit-reasons.ts';
import { enc } from './fields.ts';
import { cpuProcessor, runGuest, type GuestRunEnd } from './run.ts';
import { validFields, VMCS_PA, VMXON_PA } from './testkit.ts';
import { Vmx } from './vmx.ts';

/** Throws a located message unless `actual` is `expected` (Object.is). */
function same<T>(what: string, actual: T, expected: T): void {
  if (!Object.is(actual, expected)) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

export const GUEST = 0x100000;
/** A control field of testkit's valid VMCS, as a number. */
export const base = (name: string): number => Number(validFields()[name]!);
export const GDT = 0x5000;
export const IDT = 0x6000;
export const IO_A = 0x20000;
export const IO_B = 0x21000;
export const MSR_BITMAP = 0x22000;
export const RSP = 0x7ff0;

export interface Vm {
  m: BareMachine;
  vmx: Vmx;
  labels: Map<string, number>;
  /** VMREAD of a field by name (the hypervisor's read, from VMX root operation). */
  rd(name: string): bigint;
  wr(name: string, v: bigint): void;
  run(budget?: number): GuestRunEnd;
  reg(n: number): bigint;
}

/** A 64-bit interrupt gate in the guest's IDT to `target` (CS selector 8). */
export function gate(m: BareMachine, vector: number, target: number): void {
  const at = IDT + vector * 16;
  m.mem.write(at, 4, ((8 << 16) | (target & 0xffff)) >>> 0);
  m.mem.write(at + 4, 4, ((target & 0xffff0000) | 0x8e00) >>> 0);
  m.mem.write(at + 8, 4, 0);
  m.mem.write(at + 12, 4, 0);
}

/**
 * The host: the bare 64-bit machine with CR0.NE and CR4.VMXE, VMXON, a VMCS (testkit's valid
 * fields, the guest sharing the host's identity map) and `fields` over it. The guest program `src`
 * runs at GUEST with a GDT, and an IDT whose gates `gates` names (vector → label).
 */
export function vm(
  src: string,
  fields: Record<string, bigint> = {},
  gates: Record<number, string> = {},
  /** Prepares memory before VMLAUNCH and returns more fields (EPT tables and their EPTP). */
  pre?: (m: BareMachine) => Record<string, bigint>,
  bits: 32 | 64 = 64,
): Vm {
  const r = assemble(src, { bits, origin: GUEST });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = createBareMachine({ mode: 'long64', load: GUEST, code: r.bytes });
  const s = m.cpu.state;
  s.cr0 = (s.cr0 | CR0.NE) >>> 0;
  s.cr4 = (s.cr4 | CR4.VMXE) >>> 0;
  m.cpu.modeChanged();
  m.mem.write(GDT + 8, 4, 0x0000ffff);
  m.mem.write(GDT + 12, 4, 0x00af9b00);
  m.mem.write(GDT + 16, 4, 0x0000ffff);
  m.mem.write(GDT + 20, 4, 0x00cf9300);
  for (const [v, label] of Object.entries(gates)) gate(m, Number(v), r.labels.get(label)!);
  for (const pa of [VMXON_PA, VMCS_PA]) m.mem.write(Number(pa), 4, VMCS_REVISION);
  const vmx = new Vmx(cpuProcessor(m.cpu));
  for (const o of [vmx.vmxon(VMXON_PA), vmx.vmclear(VMCS_PA), vmx.vmptrld(VMCS_PA)]) same('VMXON, VMCLEAR, VMPTRLD', o.kind, 'succeed');
  const all: Record<string, bigint> = {
    ...validFields(),
    CPU_BASED_VM_EXEC_CONTROL: BigInt(base('CPU_BASED_VM_EXEC_CONTROL') & ~Primary.HLT_EXITING!),
    HOST_CR0: BigInt(s.cr0 >>> 0),
    HOST_CR3: 0x1000n,
    HOST_CR4: BigInt(s.cr4 >>> 0),
    GUEST_CR0: BigInt((CR0.PE | CR0.ET | CR0.NE | CR0.PG) >>> 0),
    GUEST_CR3: 0x1000n,
    GUEST_RIP: BigInt(GUEST),
    GUEST_RSP: BigInt(RSP),
    GUEST_GDTR_BASE: BigInt(GDT),
    GUEST_GDTR_LIMIT: 0x17n,
    GUEST_IDTR_BASE: BigInt(IDT),
    GUEST_IDTR_LIMIT: 0xfffn,
    IO_BITMAP_A: BigInt(IO_A),
    IO_BITMAP_B: BigInt(IO_B),
    MSR_BITMAP: BigInt(MSR_BITMAP),
    ...fields,
    ...(pre === undefined ? {} : pre(m)),
  };
  for (const [name, v] of Object.entries(all)) {
    const o = vmx.vmwrite(enc(name), v);
    if (o.kind !== 'succeed') throw new Error(`vmwrite ${name}: ${JSON.stringify(o)}`);
  }
  const launched = vmx.vmlaunch();
  if (launched.kind !== 'entered') throw new Error(`vmlaunch: ${JSON.stringify(launched, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  const rd = (name: string): bigint => {
    const o = vmx.vmread(enc(name));
    if (o.kind !== 'succeed') throw new Error(`vmread ${name}: ${o.kind}`);
    return o.value;
  };
  return {
    m, vmx, labels: r.labels, rd,
    wr: (name, v) => same(`vmwrite ${name}`, vmx.vmwrite(enc(name), v).kind, 'succeed'),
    run: (budget = 10_000) => runGuest(vmx, m.cpu, budget),
    reg: (n) => (BigInt(s.regHi[n]!) << 32n) | BigInt(s.regLo[n]!),
  };
}

export const primary = (bits: number): Record<string, bigint> => ({ CPU_BASED_VM_EXEC_CONTROL: BigInt((base('CPU_BASED_VM_EXEC_CONTROL') & ~Primary.HLT_EXITING! | bits) >>> 0) });
export const at = (v: Vm, label: string): bigint => BigInt(v.labels.get(label)!);

/** Runs to an exit and checks its reason and saved RIP (at label `t`); VMX is back in root operation with the host loaded. */
export function exitAt(v: Vm, reason: number, label = 't'): GuestRunEnd {
  const r = v.run();
  same('the run ends with', r.kind, 'exit');
  same('exit reason', Number(v.rd('VM_EXIT_REASON')), reason);
  same(`GUEST_RIP (label ${label})`, v.rd('GUEST_RIP'), at(v, label));
  same('VMX mode', v.vmx.state.mode, 'root');
  same('the guest monitor', v.m.cpu.guest, null);
  same('host RIP', v.m.cpu.state.ripLo, 0x401000); // HOST_RIP
  return r;
}

/** With the control off, the instruction at `t` runs and the guest reaches the VMCALL at `after`. */
export function runsThrough(v: Vm, after = 'after'): void {
  exitAt(v, ExitReason.VMCALL!, after);
}

export const len = (v: Vm): number => Number(v.rd('VM_EXIT_INSTRUCTION_LEN'));
export const qual = (v: Vm): bigint => v.rd('EXIT_QUALIFICATION');

/**
 * The fields of posted-interrupt processing (SDM Vol. 3C 30.6) over testkit's valid VMCS: external-
 * interrupt exiting, "process posted interrupts", "use TPR shadow", MSR bitmaps (the kit's are all
 * clear: no MSR exits), "virtualize x2APIC mode", virtual-interrupt delivery, "acknowledge interrupt
 * on exit", the notification vector, the descriptor and the virtual-APIC page; the guest's IF set.
 */
export function postedFields(o: { descriptor: number; virtualApic: number; vector: number }, more: Record<string, bigint> = {}): Record<string, bigint> {
  return {
    PIN_BASED_VM_EXEC_CONTROL: BigInt(base('PIN_BASED_VM_EXEC_CONTROL') | Pin.EXTERNAL_INTERRUPT_EXITING! | Pin.PROCESS_POSTED_INTERRUPTS!),
    CPU_BASED_VM_EXEC_CONTROL: BigInt(((base('CPU_BASED_VM_EXEC_CONTROL') & ~Primary.HLT_EXITING!) | Primary.USE_TPR_SHADOW! | Primary.USE_MSR_BITMAPS! | Primary.ACTIVATE_SECONDARY_CONTROLS!) >>> 0),
    SECONDARY_VM_EXEC_CONTROL: BigInt(Secondary.VIRTUALIZE_X2APIC_MODE! | Secondary.VIRTUAL_INTERRUPT_DELIVERY!),
    VM_EXIT_CONTROLS: BigInt(base('VM_EXIT_CONTROLS') | Exit.ACKNOWLEDGE_INTERRUPT_ON_EXIT!),
    POSTED_INTR_NV: BigInt(o.vector),
    POSTED_INTR_DESC_ADDR: BigInt(o.descriptor),
    VIRTUAL_APIC_PAGE_ADDR: BigInt(o.virtualApic),
    GUEST_RFLAGS: 0x202n,
    ...more,
  };
}
