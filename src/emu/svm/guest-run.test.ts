/**
 * Guests under AMD-V (guest-run.ts): for each intercept a real 32-bit guest program, assembled with
 * the lab's assembler and run on the bare machine's Cpu after VMRUN, with the intercept bit set
 * (the #VMEXIT: EXITCODE, EXITINFO1/2, nRIP, the saved RIP) and clear (no such exit: the guest
 * goes on, here to an intercepted HLT or a handler in its own IDT). Exit codes come from
 * exit-codes.ts, which tests/oracle/svm-reference.test.ts checks against the APM's table.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';
import type { InterruptSource } from '../cpu/cpu.ts';
import { EFER } from '../cpu/sys-util.ts';
import { cpuid } from '../cpu/sys-ctl.ts';
import { Svm } from './svm.ts';
import { Vmcb, u64, type U64 } from './vmcb.ts';
import {
  crReadIntercept, crWriteIntercept, exceptionIntercept, setIntercept, setIopmBit, setMsrpmBit,
  type InterceptBit, type InterceptName,
} from './intercepts.ts';
import { decodeIoioInfo, encodeEvent, EventType, IntCtl, NestedCtl } from './exitinfo.ts';
import { exitCodeFromU64, SVM_EXIT } from './exit-codes.ts';
import { activeMonitor, runGuest, vmrunGuest, type GuestRunEnd } from './guest-run.ts';

const HSAVE = 0x200000;
const VMCB = 0x300000;
const IOPM = 0x310000;
const MSRPM = 0x320000;
const GUEST = 0x400000;
const GDT = 0x500;
const IDT = 0x800;
const PD = 0x600000;
const X = SVM_EXIT;

interface Vm {
  m: ReturnType<typeof createBareMachine>;
  svm: Svm;
  vmcb: Vmcb;
  at: (label: string) => number;
}

interface Opts {
  intercepts?: (InterceptName | InterceptBit)[];
  /** Handlers: vector → label in the guest program (32-bit interrupt gates, CS 0x08). */
  idt?: Record<number, string>;
  paging?: boolean;
  rflags?: number;
  setup?: (v: Vmcb, vm: Vm) => void;
}

/** A 64-bit host at CPL 0 with SVM enabled, and a flat 32-bit guest whose code is `src`, in a VMCB ready to VMRUN. */
function vm(src: string, o: Opts = {}): Vm {
  const r = assemble(src, { bits: 32, origin: GUEST });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = createBareMachine({ mode: 'long64', load: 0x100000, code: new Uint8Array([0xf4]) });
  const st = m.cpu.state;
  st.vendor = 'amd';
  st.efer |= EFER.SVME;
  st.rflags = 0x202;
  m.cpu.modeChanged();
  const svm = new Svm(m.cpu);
  svm.writeHsavePa(u64(HSAVE));
  r.bytes.forEach((b, i) => m.mem.write8(GUEST + i, b));
  const at = (l: string): number => {
    const a = r.labels.get(l);
    if (a === undefined) throw new Error(`no label ${l}`);
    return a;
  };
  // GDT: null, flat code 0x08, flat data 0x10.
  m.mem.write(GDT + 8, 4, 0x0000ffff);
  m.mem.write(GDT + 12, 4, 0x00cf9b00);
  m.mem.write(GDT + 16, 4, 0x0000ffff);
  m.mem.write(GDT + 20, 4, 0x00cf9300);
  for (const [vec, label] of Object.entries(o.idt ?? {})) {
    const off = at(label);
    const e = IDT + Number(vec) * 8;
    m.mem.write(e, 4, ((0x08 << 16) | (off & 0xffff)) >>> 0);
    m.mem.write(e + 4, 4, ((off & 0xffff0000) | 0x8e00) >>> 0);
  }
  const v = new Vmcb(m.mem, VMCB);
  v.clear();
  for (const i of ['VMRUN', 'HLT', ...(o.intercepts ?? [])] as (InterceptName | InterceptBit)[]) setIntercept(m.mem, VMCB, i);
  v.write64('iopm_base_pa', u64(IOPM));
  v.write64('msrpm_base_pa', u64(MSRPM));
  v.write('asid', 1);
  v.writeSegment('save.cs', { selector: 0x08, attrib: 0xc9b, limit: 0xffffffff, base: u64(0) });
  for (const s of ['save.ds', 'save.es', 'save.ss'] as const) v.writeSegment(s, { selector: 0x10, attrib: 0xc93, limit: 0xffffffff, base: u64(0) });
  v.writeDtr('save.gdtr', { limit: 0x17, base: u64(GDT) });
  v.writeDtr('save.idtr', { limit: 0x7ff, base: u64(IDT) });
  v.write64('save.efer', u64(EFER.SVME));
  v.write64('save.cr0', u64(0x11));
  if (o.paging === true) {
    // 4-MByte pages identity-mapping the first 8 MBytes; everything else not present.
    m.mem.write(PD, 4, 0x83);
    m.mem.write(PD + 4, 4, 0x400083);
    v.write64('save.cr0', u64(0x80000011));
    v.write64('save.cr3', u64(PD));
    v.write64('save.cr4', u64(0x10));
  }
  v.write64('save.rflags', u64(o.rflags ?? 0x2));
  v.write64('save.rip', u64(GUEST));
  v.write64('save.rsp', u64(0x90000));
  const out = { m, svm, vmcb: v, at };
  o.setup?.(v, out);
  return out;
}

function run(g: Vm, budget = 1000): GuestRunEnd {
  const r = vmrunGuest(g.svm, g.m.cpu, VMCB);
  expect(r.kind).toBe('entered');
  return runGuest(g.svm, g.m.cpu, budget);
}

const n = (v: U64): number => v.hi * 0x100000000 + v.lo;

/** The exit as the VMCB holds it after the run. */
function exitOf(g: Vm) {
  const v = g.vmcb;
  return {
    code: exitCodeFromU64(v.read64('exit_code')),
    info1: n(v.read64('exit_info_1')),
    /** EXITINFO1 exactly (a number loses the low bits next to bit 63). */
    info1Raw: v.read64('exit_info_1'),
    info2: n(v.read64('exit_info_2')),
    nrip: n(v.read64('next_rip')),
    rip: n(v.read64('save.rip')),
    intInfo: v.read64('exit_int_info'),
  };
}

/**
 * With `bit` set the program exits at label t with `code`; with it clear, it runs past t and
 * ends at the intercepted HLT at label h (or wherever `clear` says).
 */
function both(src: string, bit: InterceptName | InterceptBit, code: number, o: Opts = {}, clear: { code: number; rip: string } = { code: X.HLT!, rip: 'h' }) {
  const on = vm(src, { ...o, intercepts: [...(o.intercepts ?? []), bit] });
  expect(run(on)).toMatchObject({ kind: 'vmexit', host: 'resumed' });
  const e = exitOf(on);
  expect(e.code).toBe(code);
  expect(e.rip).toBe(on.at('t'));
  const off = vm(src, o);
  expect(run(off).kind).toBe('vmexit');
  const f = exitOf(off);
  expect(f.code).toBe(clear.code);
  expect(f.rip).toBe(off.at(clear.rip));
  return { e, on };
}

describe('instruction intercepts: EXITCODE, EXITINFO, nRIP, the saved RIP', () => {
  it('CPUID (0x72): nRIP = rip + 2; the host is back in the CPU with GIF 0', () => {
    const { e, on } = both('mov eax, 1\nt: cpuid\nh: hlt', 'CPUID', X.CPUID!);
    expect(e).toMatchObject({ info1: 0, info2: 0, nrip: on.at('t') + 2 });
    expect(on.m.cpu.mode()).toBe('long64');
    expect(on.m.cpu.state.ripLo).toBe(0x100000);
    expect(on.svm.gif).toBe(false);
    expect(on.m.cpu.guest).toBeNull();
    // The saved guest state is the state it entered with, but for RIP and RAX.
    const v = on.vmcb;
    expect(v.readSegment('save.cs')).toEqual({ selector: 0x08, attrib: 0xc9b, limit: 0xffffffff, base: u64(0) });
    expect(v.readSegment('save.ss')).toEqual({ selector: 0x10, attrib: 0xc93, limit: 0xffffffff, base: u64(0) });
    expect(v.readDtr('save.gdtr')).toEqual({ limit: 0x17, base: u64(GDT) });
    expect([v.read64('save.efer').lo, v.read64('save.cr0').lo, v.read64('save.rflags').lo, v.read('save.cpl')]).toEqual([EFER.SVME, 0x11, 0x2, 0]);
    expect([v.read64('save.rax').lo, v.read64('save.rsp').lo]).toEqual([1, 0x90000]);
  });

  it('HLT (0x78); clear, the guest halts for good', () => {
    const g = vm('nop\nt: hlt');
    expect(run(g).kind).toBe('vmexit');
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('t'), nrip: g.at('t') + 1 });
    const c = vm('nop\nt: hlt');
    setIntercept(c.m.mem, VMCB, 'HLT', false);
    expect(run(c)).toEqual({ kind: 'halted' });
    expect(c.m.cpu.state.halted).toBe(true);
  });

  it('PAUSE (0x77), RDTSC (0x6e), RDTSCP (0x87), VMMCALL (0x81)', () => {
    expect(both('t: pause\nh: hlt', 'PAUSE', X.PAUSE!).e.nrip).toBe(GUEST + 2);
    expect(both('t: rdtsc\nh: hlt', 'RDTSC', X.RDTSC!).e.nrip).toBe(GUEST + 2);
    expect(both('t: rdtscp\nh: hlt', 'RDTSCP', X.RDTSCP!).e.nrip).toBe(GUEST + 3);
    // Not intercepted, VMMCALL is #UD: the guest's #UD handler runs.
    expect(both('t: vmmcall\nhlt\nud:\nh: hlt', 'VMMCALL', X.VMMCALL!, { idt: { 6: 'ud' } }).e.nrip).toBe(GUEST + 3);
  });

  it('INVLPG (0x79): decode assists put the linear address in EXITINFO1', () => {
    const { e } = both('mov eax, 0x5000\nt: invlpg [eax+0x10]\nh: hlt', 'INVLPG', X.INVLPG!);
    expect(e).toMatchObject({ info1: 0x5010, nrip: GUEST + 5 + 4 });
  });

  it('descriptor-table reads and writes', () => {
    both('t: sidt [0x9000]\nh: hlt', 'IDTR_READ', X.IDTR_READ!);
    both('t: sgdt [0x9000]\nh: hlt', 'GDTR_READ', X.GDTR_READ!);
    both('mov dword [0x9002], 0x500\nmov word [0x9000], 0x17\nt: lgdt [0x9000]\nh: hlt', 'GDTR_WRITE', X.GDTR_WRITE!);
  });

  it('VMRUN, VMLOAD, VMSAVE, STGI, CLGI executed by the guest', () => {
    const g = vm('mov eax, 0x300000\nt: vmrun\nhlt');
    expect(run(g).kind).toBe('vmexit');
    expect(exitOf(g)).toMatchObject({ code: X.VMRUN, rip: g.at('t'), nrip: g.at('t') + 3 });
    for (const [name, insn] of [['VMLOAD', 'vmload'], ['VMSAVE', 'vmsave'], ['STGI', 'stgi'], ['CLGI', 'clgi']] as const) {
      both(`mov eax, 0x330000\nt: ${insn}\nh: hlt`, name, X[name]!);
    }
  });

  it('not intercepted, CLGI clears the GIF and VMSAVE stores to the guest-physical (= host) page', () => {
    const g = vm('mov eax, 0x330000\nvmsave\nclgi\nh: hlt', { setup: (_v, vm) => { vm.m.cpu.state.msr.set(0xc0000082, [0x1234, 0]); } });
    expect(run(g).kind).toBe('vmexit');
    expect(exitOf(g).rip).toBe(g.at('h'));
    expect(new Vmcb(g.m.mem, 0x330000).read64('save.lstar').lo).toBe(0x1234);
    expect(g.svm.gif).toBe(false);
  });
});

describe('a 64-bit guest', () => {
  it('long mode from the VMCB (EFER.LME, CR0.PG, CR4.PAE, CS.L): a 64-bit RAX, a REX-prefixed OUTS with 64-bit addresses', () => {
    const g = vm('', { intercepts: ['CPUID', 'IOIO_PROT'], setup: (v, x) => {
      const r = assemble('mov rax, 0x123456789\nt: cpuid\nmov rsi, 0x9000\nmov dx, 0xe9\nu: outsb\nhlt', { bits: 64, origin: GUEST });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      r.bytes.forEach((b, i) => x.m.mem.write8(GUEST + i, b));
      x.at = (l) => r.labels.get(l)!;
      setIopmBit(x.m.mem, IOPM, 0xe9);
      v.writeSegment('save.cs', { selector: 0x08, attrib: 0xa9b, limit: 0xffffffff, base: u64(0) });
      v.write64('save.efer', u64(EFER.SVME | EFER.LME | EFER.LMA));
      v.write64('save.cr0', u64(0x80000011));
      v.write64('save.cr3', u64(0x1000)); // the bare machine's identity map of the first GiB
      v.write64('save.cr4', u64(0x20));
    } });
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.CPUID, rip: g.at('t'), nrip: g.at('t') + 2 });
    expect(g.vmcb.read64('save.rax')).toEqual(u64(0x23456789, 1));
    g.vmcb.write64('save.rip', g.vmcb.read64('next_rip'));
    run(g);
    const e = exitOf(g);
    expect(e).toMatchObject({ code: X.IOIO, rip: g.at('u'), info2: g.at('u') + 1 });
    expect(decodeIoioInfo(e.info1)).toEqual({ in: false, string: true, rep: false, size: 1, addrSize: 64, seg: 3, port: 0xe9 });
  });
});

describe('CR access intercepts', () => {
  it('MOV from CR0 (0x00) and to CR3 (0x13): EXITINFO1 bit 63 and the GPR', () => {
    let { e } = both('t: mov eax, cr0\nh: hlt', crReadIntercept(0), X.CR0_READ!);
    expect(e).toMatchObject({ info1Raw: u64(0, 0x80000000), nrip: GUEST + 3 });
    ({ e } = both('mov ebx, 0\nt: mov cr3, ebx\nh: hlt', crWriteIntercept(3), X.CR3_WRITE!));
    expect(e.info1Raw).toEqual(u64(3, 0x80000000));
    ({ e } = both('t: mov edx, cr4\nh: hlt', crReadIntercept(4), X.CR4_READ!));
    expect(e.info1Raw).toEqual(u64(2, 0x80000000));
  });

  it('LMSW and CLTS are CR0 writes with EXITINFO1 bit 63 clear', () => {
    expect(both('mov eax, 0x11\nt: lmsw ax\nh: hlt', crWriteIntercept(0), X.CR0_WRITE!).e.info1Raw).toEqual(u64(0));
    expect(both('t: clts\nh: hlt', crWriteIntercept(0), X.CR0_WRITE!).e.info1Raw).toEqual(u64(0));
  });

  it('selective CR0 write (0x65): only a change outside TS and MP exits', () => {
    // Setting CD (bit 30) changes a bit other than TS/MP.
    expect(both('mov eax, cr0\nor eax, 0x40000000\nt: mov cr0, eax\nh: hlt', 'CR0_SEL_WRITE', X.CR0_SEL_WRITE!).e.info1Raw).toEqual(u64(0, 0x80000000));
    // Setting TS and MP only: no exit, even with the intercept.
    const g = vm('mov eax, cr0\nor eax, 0xa\nt: mov cr0, eax\nh: hlt', { intercepts: ['CR0_SEL_WRITE'] });
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('h') });
    expect(g.vmcb.read64('save.cr0').lo).toBe(0x1b);
    // LMSW that sets EM (bit 2) exits; CLTS never does.
    both('mov eax, 0x15\nt: lmsw ax\nh: hlt', 'CR0_SEL_WRITE', X.CR0_SEL_WRITE!);
    const c = vm('t: clts\nh: hlt', { intercepts: ['CR0_SEL_WRITE'] });
    run(c);
    expect(exitOf(c).code).toBe(X.HLT);
  });
});

describe('IOIO_PROT with the IOPM (0x7b)', () => {
  it('OUT DX, AL: EXITINFO1 fields and EXITINFO2 = next RIP; a port whose IOPM bit is clear does not exit', () => {
    const src = 'mov dx, 0x3f8\nmov al, 0x41\nt: out dx, al\nh: hlt';
    const { e, on } = both(src, 'IOIO_PROT', X.IOIO!, { setup: (_v, g) => setIopmBit(g.m.mem, IOPM, 0x3f8) });
    expect(decodeIoioInfo(e.info1)).toEqual({ in: false, string: false, rep: false, size: 1, addrSize: 32, seg: 0, port: 0x3f8 });
    expect(e.info2).toBe(on.at('t') + 1);
    expect(e.nrip).toBe(on.at('t') + 1);
    // IOIO_PROT set, but the IOPM has the bit of another port only.
    const g = vm(src, { intercepts: ['IOIO_PROT'], setup: (_v, vm) => setIopmBit(vm.m.mem, IOPM, 0x3f9) });
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT });
    expect(g.m.exits).toEqual([{ kind: 'io', dir: 'out', port: 0x3f8, size: 1, value: 0x41 }]);
  });

  it('every port an access touches: a 2-byte IN at 0x3f7 is caught by the bit of 0x3f8; IN imm8 with size 4', () => {
    const g = vm('mov dx, 0x3f7\nt: in ax, dx\nhlt', { intercepts: ['IOIO_PROT'], setup: (_v, vm) => setIopmBit(vm.m.mem, IOPM, 0x3f8) });
    run(g);
    expect(decodeIoioInfo(exitOf(g).info1)).toMatchObject({ in: true, size: 2, port: 0x3f7 });
    const h = vm('t: in eax, 0x80\nhlt', { intercepts: ['IOIO_PROT'], setup: (_v, vm) => setIopmBit(vm.m.mem, IOPM, 0x83) });
    run(h);
    expect(decodeIoioInfo(exitOf(h).info1)).toMatchObject({ in: true, size: 4, port: 0x80 });
  });

  it('REP OUTSB with a DS override: string, REP, segment, address size; RCX unchanged', () => {
    const g = vm('mov esi, 0x9000\nmov ecx, 3\nmov dx, 0xe9\nt: rep outsb\nh: hlt', { intercepts: ['IOIO_PROT'], setup: (_v, vm) => setIopmBit(vm.m.mem, IOPM, 0xe9) });
    run(g);
    const e = exitOf(g);
    expect(decodeIoioInfo(e.info1)).toEqual({ in: false, string: true, rep: true, size: 1, addrSize: 32, seg: 3, port: 0xe9 });
    expect(e.info2).toBe(g.at('h'));
    expect(g.m.cpu.state.regLo[1]).toBe(3);
  });
});

describe('MSR_PROT with the MSRPM (0x7c)', () => {
  it('RDMSR EFER with its read bit: EXITINFO1 0; the write bit alone does not catch the read', () => {
    const src = 'mov ecx, 0xc0000080\nt: rdmsr\nh: hlt';
    const { e } = both(src, 'MSR_PROT', X.MSR!, { setup: (_v, g) => setMsrpmBit(g.m.mem, MSRPM, 0xc0000080, false) });
    expect(e).toMatchObject({ info1: 0, nrip: GUEST + 5 + 2 });
    const g = vm(src, { intercepts: ['MSR_PROT'], setup: (_v, vm) => setMsrpmBit(vm.m.mem, MSRPM, 0xc0000080, true) });
    run(g);
    expect(exitOf(g).code).toBe(X.HLT);
  });

  it('WRMSR: EXITINFO1 1; an MSR outside the three ranges is always intercepted', () => {
    const w = vm('mov ecx, 0xc0000081\nxor eax, eax\nxor edx, edx\nt: wrmsr\nhlt', { intercepts: ['MSR_PROT'], setup: (_v, vm) => setMsrpmBit(vm.m.mem, MSRPM, 0xc0000081, true) });
    run(w);
    expect(exitOf(w)).toMatchObject({ code: X.MSR, info1: 1, rip: w.at('t') });
    const o = vm('mov ecx, 0x40000000\nt: rdmsr\nhlt', { intercepts: ['MSR_PROT'] });
    run(o);
    expect(exitOf(o)).toMatchObject({ code: X.MSR, info1: 0, rip: o.at('t') });
  });
});

describe('exception intercepts (0x40 + vector)', () => {
  it('#UD: no error code, nRIP zero', () => {
    const { e } = both('t: ud2\nhlt\nud:\nh: hlt', exceptionIntercept(6), X.EXCP6!, { idt: { 6: 'ud' } });
    expect(e).toMatchObject({ info1: 0, info2: 0, nrip: 0 });
  });

  it('#GP with its error code in EXITINFO1 (a selector beyond the GDT limit)', () => {
    const { e } = both('mov ax, 0x23\nt: mov ds, ax\nhlt\ngp:\nh: hlt', exceptionIntercept(13), X.EXCP13!, { idt: { 13: 'gp' } });
    expect(e.info1).toBe(0x20);
  });

  it('#PF: error code in EXITINFO1, the faulting address in EXITINFO2, guest CR2 untouched', () => {
    const src = 'mov eax, 0x40000000\nt: mov dword [eax+4], 1\nhlt\npf:\nh: hlt';
    const { e, on } = both(src, exceptionIntercept(14), X.EXCP14!, { paging: true, idt: { 14: 'pf' } });
    expect(e).toMatchObject({ info1: 2, info2: 0x40000004, nrip: 0 });
    expect(on.vmcb.read64('save.cr2').lo).toBe(0);
  });

  it('INT3 (#BP, 0x43) and INTO have nRIP; INT n is the INTn intercept (0x75) with the vector; INT1 is ICEBP (0x88)', () => {
    expect(both('t: int3\nhlt\nbph:\nh: hlt', exceptionIntercept(3), X.EXCP3!, { idt: { 3: 'bph' } }).e.nrip).toBe(GUEST + 1);
    const { e } = both('t: int 0x40\nhlt\nh40:\nh: hlt', 'INTN', X.SWINT!, { idt: { 0x40: 'h40' } });
    expect(e).toMatchObject({ info1: 0x40, nrip: GUEST + 2 });
    expect(both('t: int1\nhlt\ndb:\nh: hlt', 'ICEBP', X.ICEBP!, { idt: { 1: 'db' } }).e.nrip).toBe(GUEST + 1);
    expect(both('mov al, 0x7f\nadd al, 1\nt: into\nhlt\nof:\nh: hlt', exceptionIntercept(4), X.EXCP4!, { idt: { 4: 'of' } }).e.nrip).toBe(GUEST + 5);
  });

  it('a fault while delivering an event: EXITINTINFO holds the event (INT 0x41 through a not-present gate → #NP)', () => {
    const g = vm('t: int 0x41\nhlt', { intercepts: [exceptionIntercept(11)], idt: {} });
    // A gate with P clear.
    g.m.mem.write(IDT + 0x41 * 8, 4, 0x00080000);
    g.m.mem.write(IDT + 0x41 * 8 + 4, 4, 0x00000e00);
    run(g);
    const e = exitOf(g);
    expect(e).toMatchObject({ code: X.EXCP11, info1: 0x41 * 8 + 2, rip: g.at('t') });
    expect(e.intInfo).toEqual(encodeEvent({ valid: true, vector: 0x41, type: EventType.SOFT_INT }));
  });

  it('SHUTDOWN (0x7f) on a triple fault; not intercepted, the processor shuts down', () => {
    const src = 't: ud2\nhlt';
    const on = vm(src, { intercepts: ['SHUTDOWN'], setup: (v) => v.writeDtr('save.idtr', { limit: 0, base: u64(IDT) }) });
    run(on);
    expect(exitOf(on)).toMatchObject({ code: X.SHUTDOWN, nrip: 0 });
    const off = vm(src, { setup: (v) => v.writeDtr('save.idtr', { limit: 0, base: u64(IDT) }) });
    expect(run(off)).toEqual({ kind: 'shutdown' });
    expect(off.m.cpu.state.shutdown).toBe(true);
  });
});

/** A physical interrupt line held high until acknowledged. */
function line(): InterruptSource & { up: boolean; acks: number } {
  return { up: true, acks: 0, pending() { return this.up; }, acknowledge() { this.up = false; this.acks++; return 0x30; } };
}

describe('interrupts: INTR (0x60), V_INTR_MASKING, VINTR (0x64), GIF', () => {
  const handler = { 0x30: 'irq', 0x50: 'virq' };
  const src = 'nop\nt: nop\nnop\nhlt\nirq: hlt\nvirq:\nh: hlt';

  it('INTR with V_INTR_MASKING: exits even with the guest\u2019s IF = 0; the interrupt stays pending', () => {
    const g = vm(src, { intercepts: ['INTR'], idt: handler, setup: (v) => v.write('int_ctl', IntCtl.V_INTR_MASKING) });
    const l = line();
    g.m.cpu.interrupts = l;
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.INTR, info1: 0, info2: 0, nrip: 0, rip: GUEST });
    expect(l.acks).toBe(0);
  });

  it('INTR without V_INTR_MASKING: the guest\u2019s IF = 0 masks it; with IF = 1 it exits', () => {
    const g = vm(src, { intercepts: ['INTR'], idt: handler });
    g.m.cpu.interrupts = line();
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('t') + 2 });
    const i = vm(src, { intercepts: ['INTR'], idt: handler, rflags: 0x202 });
    i.m.cpu.interrupts = line();
    run(i);
    expect(exitOf(i)).toMatchObject({ code: X.INTR, rip: GUEST });
  });

  it('V_INTR_MASKING with the host\u2019s IF = 0 at VMRUN: the interrupt is held, neither exiting nor reaching the guest', () => {
    const g = vm(src, { intercepts: ['INTR'], idt: handler, rflags: 0x202, setup: (v) => v.write('int_ctl', IntCtl.V_INTR_MASKING) });
    g.m.cpu.state.rflags = 0x2;
    const l = line();
    g.m.cpu.interrupts = l;
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('t') + 2 });
    expect(l.acks).toBe(0);
  });

  it('INTR not intercepted: delivered through the guest\u2019s IDT', () => {
    const g = vm(src, { idt: handler, rflags: 0x202 });
    const l = line();
    g.m.cpu.interrupts = l;
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('irq') });
    expect(l.acks).toBe(1);
  });

  it('GIF: a guest\u2019s CLGI holds the interrupt until its STGI, then INTR exits', () => {
    const g = vm('clgi\nnop\nnop\nstgi\nt: nop\nhlt', { intercepts: ['INTR'], setup: (v) => v.write('int_ctl', IntCtl.V_INTR_MASKING) });
    // The line rises once the guest's CLGI has run (with it up at VMRUN, GIF = 1 and the first boundary exits).
    const l = line();
    l.up = false;
    g.m.cpu.interrupts = l;
    expect(vmrunGuest(g.svm, g.m.cpu, VMCB).kind).toBe('entered');
    expect(runGuest(g.svm, g.m.cpu, 1)).toEqual({ kind: 'budget' });
    expect(g.svm.gif).toBe(false);
    l.up = true;
    expect(activeMonitor(g.svm)!.interruptsHeld).toBe(true);
    expect(runGuest(g.svm, g.m.cpu, 1000).kind).toBe('vmexit');
    expect(exitOf(g)).toMatchObject({ code: X.INTR, rip: g.at('t') });
    expect(g.m.cpu.state.steps).toBe(4);
  });

  it('VINTR: the window opens after STI\u2019s shadow; not intercepted, V_INTR_VECTOR is delivered and V_IRQ cleared', () => {
    const s = 'cli\nnop\nsti\nnop\nt: nop\nhlt\nvirq:\nh: hlt';
    const ctl = IntCtl.V_INTR_MASKING | IntCtl.V_IRQ | IntCtl.V_IGN_TPR;
    const { e } = both(s, 'VINTR', X.VINTR!, { idt: { 0x50: 'virq' }, setup: (v) => { v.write('int_ctl', ctl); v.write('int_vector', 0x50); } }, { code: X.HLT!, rip: 'h' });
    expect(e).toMatchObject({ info1: 0, nrip: 0 });
    const g = vm(s, { idt: { 0x50: 'virq' }, setup: (v) => { v.write('int_ctl', ctl); v.write('int_vector', 0x50); } });
    run(g);
    expect(g.vmcb.read('int_ctl') & IntCtl.V_IRQ).toBe(0);
    // The frame: return EIP is t.
    expect(g.m.mem.read(0x90000 - 12, 4)).toBe(g.at('t'));
  });

  it('V_TPR masks a virtual interrupt whose priority is not above it (without V_IGN_TPR)', () => {
    const g = vm('sti\nnop\nt: hlt', { intercepts: ['VINTR'], setup: (v) => { v.write('int_ctl', IntCtl.V_IRQ | 5 | (5 << 16)); v.write('int_vector', 0x50); } });
    run(g);
    expect(exitOf(g).code).toBe(X.HLT);
  });
});

describe('event injection (EVENTINJ, 15.20)', () => {
  it('an external interrupt, delivered through the guest\u2019s IDT before its first instruction', () => {
    const g = vm('t: nop\nhlt\nirq: hlt', { idt: { 0x30: 'irq' }, setup: (v) => v.write64('event_inj', encodeEvent({ valid: true, vector: 0x30, type: EventType.INTR })) });
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('irq') });
    expect(g.m.mem.read(0x90000 - 12, 4)).toBe(GUEST);
    expect(g.vmcb.read64('event_inj').lo >>> 31).toBe(0);
  });

  it('an exception with an error code, not itself intercepted; a fault in its delivery reports it in EXITINTINFO', () => {
    const g = vm('nop\nhlt\ngp: pop ebx\nhlt', {
      intercepts: [exceptionIntercept(13)], idt: { 13: 'gp' },
      setup: (v) => v.write64('event_inj', encodeEvent({ valid: true, vector: 13, type: EventType.EXCEPTION, errorCode: 0x1234 })),
    });
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('gp') + 1 });
    expect(g.m.cpu.state.regLo[3]).toBe(0x1234);
    const np = vm('nop\nhlt', {
      intercepts: [exceptionIntercept(11)],
      setup: (v, x) => {
        x.m.mem.write(IDT + 0x30 * 8, 4, 0x00080000);
        x.m.mem.write(IDT + 0x30 * 8 + 4, 4, 0x00000e00);
        v.write64('event_inj', encodeEvent({ valid: true, vector: 0x30, type: EventType.INTR }));
      },
    });
    expect(run(np).kind).toBe('vmexit');
    expect(exitOf(np)).toMatchObject({ code: X.EXCP11, info1: 0x30 * 8 + 2 + 1, rip: GUEST });
    expect(exitOf(np).intInfo).toEqual(encodeEvent({ valid: true, vector: 0x30, type: EventType.INTR }));
  });
});

/** Nested page tables at host-physical NPT: PML4, PDPT, PD, and a PT for guest-physical 0..2 MiB. */
const NPT = 0x800000;
const NPT_PT = NPT + 0x3000;
/**
 * Identity nested tables (host format, every entry user and writable) for the guest's first 64 MiB:
 * 4-KByte pages below 2 MiB, 2-MByte pages above, leaving out the 2 MiB that holds the tables.
 */
function identityNpt(m: Vm['m']): void {
  m.mem.write(NPT, 4, (NPT + 0x1000) | 7);
  m.mem.write(NPT + 0x1000, 4, (NPT + 0x2000) | 7);
  m.mem.write(NPT + 0x2000, 4, NPT_PT | 7);
  for (let i = 1; i < 32; i++) if (i !== NPT >>> 21) m.mem.write(NPT + 0x2000 + i * 8, 4, ((i << 21) | 0x87) >>> 0);
  for (let i = 0; i < 512; i++) m.mem.write(NPT_PT + i * 8, 4, ((i << 12) | 7) >>> 0);
}

/** A 64-bit guest with its own 4-level paging (the bare machine's identity map at 0x1000) on NPT. */
function nptVm(src: string, edit: (m: Vm['m']) => void = () => {}, paging = true): Vm {
  return vm('', { setup: (v, x) => {
    const r = assemble(src, { bits: paging ? 64 : 32, origin: GUEST });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    r.bytes.forEach((b, i) => x.m.mem.write8(GUEST + i, b));
    x.at = (l) => r.labels.get(l)!;
    if (paging) {
      v.writeSegment('save.cs', { selector: 0x08, attrib: 0xa9b, limit: 0xffffffff, base: u64(0) });
      v.write64('save.efer', u64(EFER.SVME | EFER.LME | EFER.LMA));
      v.write64('save.cr0', u64(0x80000011));
      v.write64('save.cr3', u64(0x1000));
      v.write64('save.cr4', u64(0x20));
    }
    identityNpt(x.m);
    edit(x.m);
    v.write64('nested_ctl', u64(NestedCtl.NP_ENABLE));
    v.write64('nested_cr3', u64(NPT));
  } });
}

/** EXITINFO1 of an NPF as the APM lays it out: the #PF-style low bits, bit 32 final address, bit 33 guest table. */
const npf = (low: number, bit: 32 | 33 | null): U64 => u64(low, bit === null ? 0 : 1 << (bit - 32));

describe('nested paging (15.25): the guest\u2019s accesses and its own walk go through N_CR3', () => {
  it('a 4-level guest on 4-level nested tables reads and writes the host page its guest-physical page maps to', () => {
    const g = nptVm('mov rax, [0x200000]\nmov rbx, 0x1122334455667788\nmov [0x200008], rbx\nt: hlt', (m) => {
      m.mem.write(NPT + 0x2000 + 8, 4, 0x600000 | 0x87);
      m.mem.write(0x200000, 4, 0xdead);
      m.mem.write(0x600000, 4, 0xbeef);
    });
    expect(run(g)).toMatchObject({ kind: 'vmexit' });
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('t') });
    expect(g.vmcb.read64('save.rax')).toEqual(u64(0xbeef));
    expect(g.m.mem.read(0x600008, 4)).toBe(0x55667788);
    expect(g.m.mem.read(0x200008, 4)).toBe(0);
    expect(g.m.cpu.nestedTranslator()).toBeNull();
  });

  it('an NPF on the final address: EXITINFO1 bit 32 with the #PF-style code, EXITINFO2 the guest-physical address, RIP at the instruction', () => {
    const g = nptVm('t: mov [0x180010], eax\nhlt', (m) => m.mem.write(NPT_PT + 0x180 * 8, 4, 0x180000 | 5));
    run(g);
    const e = exitOf(g);
    expect(e).toMatchObject({ code: SVM_EXIT.NPF, info2: 0x180010, rip: g.at('t') });
    // Present (1), write (2), user (4): nested accesses are user accesses.
    expect(e.info1Raw).toEqual(npf(7, 32));
  });

  it('an NPF on an entry of the guest\u2019s own walk: bit 33, EXITINFO2 the entry\u2019s guest-physical address', () => {
    // The guest's PD at guest-physical 0x3000 is not mapped: the first fetch's walk stops there.
    const g = nptVm('t: nop\nhlt', (m) => m.mem.write(NPT_PT + 3 * 8, 4, 0));
    run(g);
    const e = exitOf(g);
    // The PD entry for GUEST (index GUEST >> 21).
    expect(e).toMatchObject({ code: SVM_EXIT.NPF, info2: 0x3000 + 8 * (GUEST >>> 21), rip: g.at('t') });
    // Not present; guest-table accesses are checked as writes, user.
    expect(e.info1Raw).toEqual(npf(6, 33));
  });

  it('a guest with paging off: its addresses are guest-physical, and an NPF sets neither bit 32 nor 33', () => {
    const ok = nptVm('mov eax, [0x200000]\nt: hlt', (m) => {
      m.mem.write(NPT + 0x2000 + 8, 4, 0x600000 | 0x87);
      m.mem.write(0x600000, 4, 0x5a5a);
    }, false);
    run(ok);
    expect(exitOf(ok)).toMatchObject({ code: X.HLT, rip: ok.at('t') });
    expect(ok.vmcb.read64('save.rax').lo).toBe(0x5a5a);
    const bad = nptVm('t: mov eax, [0x180000]\nhlt', (m) => m.mem.write(NPT_PT + 0x180 * 8, 4, 0), false);
    run(bad);
    expect(exitOf(bad)).toMatchObject({ code: SVM_EXIT.NPF, info2: 0x180000, rip: bad.at('t') });
    expect(exitOf(bad).info1Raw).toEqual(npf(4, null));
  });
});

describe('a PAE guest on nested paging: its PDPTE is read through the nested tables on every walk', () => {
  /** Guest-physical PDPT (nested-mapped to host-physical PDPT_HPA) and two page directories. */
  const PDPT = 0x30000;
  const PDPT_HPA = 0x630000;
  const PD_G = 0x31000;
  const PD_H = 0x32000;
  function paeVm(src: string, edit: (m: Vm['m']) => void = () => {}): Vm {
    return vm(src, { setup: (v, x) => {
      identityNpt(x.m);
      const m = x.m;
      // PD_G: 2 MiB identity pages but linear 0x200000 → guest-physical 0xa00000; PD_H → 0xc00000.
      for (let i = 0; i < 32; i++) {
        m.mem.write(PD_G + i * 8, 4, (((i === 1 ? 5 : i) << 21) | 0x83) >>> 0);
        m.mem.write(PD_H + i * 8, 4, (((i === 1 ? 6 : i) << 21) | 0x83) >>> 0);
      }
      // What a walk reading CR3 as host-physical would find: nothing present.
      m.mem.write(PDPT, 4, 0);
      m.mem.write(NPT_PT + (PDPT >>> 12) * 8, 4, PDPT_HPA | 7);
      m.mem.write(PDPT_HPA, 4, PD_G | 1);
      m.mem.write(0xa00000, 4, 0x3333);
      m.mem.write(0xa01000, 4, 0x5555);
      m.mem.write(0xc01000, 4, 0x4444);
      edit(m);
      v.write64('save.cr0', u64(0x80000011));
      v.write64('save.cr3', u64(PDPT));
      v.write64('save.cr4', u64(0x20));
      v.write64('nested_ctl', u64(NestedCtl.NP_ENABLE));
      v.write64('nested_cr3', u64(NPT));
    } });
  }

  it('the walk reads the PDPTE at the PDPT’s guest-physical address; a later edit of it counts without a MOV to CR3', () => {
    // Intel would keep using the PDPTE registers until CR3 is loaded again.
    const g = paeVm(`mov eax, [0x200000]\nmov dword [${PDPT}], ${PD_H | 1}\nmov ebx, [0x201000]\nt: hlt`);
    run(g);
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('t') });
    expect(g.vmcb.read64('save.rax').lo).toBe(0x3333);
    expect(g.m.cpu.state.regLo[3]).toBe(0x4444);
    // The guest's write went through the nested tables to the PDPT's host page.
    expect(g.m.mem.read(PDPT_HPA, 4)).toBe(PD_H | 1);
  });

  it('the PDPT not mapped in the nested tables: #VMEXIT(NPF) on the PDPTE read, EXITINFO1 bit 33', () => {
    const g = paeVm('t: nop\nhlt', (m) => m.mem.write(NPT_PT + (PDPT >>> 12) * 8, 4, 0));
    run(g);
    const e = exitOf(g);
    expect(e).toMatchObject({ code: SVM_EXIT.NPF, info2: PDPT + 8 * (GUEST >>> 30), rip: g.at('t') });
    expect(e.info1Raw).toEqual(npf(6, 33));
  });
});

describe('TSC_OFFSET and the budget', () => {
  it('the guest reads TSC + TSC_OFFSET; the host\u2019s TSC is not offset after the exit', () => {
    const g = vm('rdtsc\nh: hlt', { setup: (v) => v.write64('tsc_offset', u64(1000000)) });
    run(g);
    expect(g.vmcb.read64('save.rax').lo).toBeGreaterThanOrEqual(1000000);
    expect(g.m.cpu.state.tsc).toBeLessThan(1000);
  });

  it('the budget ends the run with the guest still in the CPU; the next run goes on', () => {
    const g = vm('nop\nnop\nnop\nh: hlt');
    expect(vmrunGuest(g.svm, g.m.cpu, VMCB).kind).toBe('entered');
    expect(runGuest(g.svm, g.m.cpu, 2)).toEqual({ kind: 'budget' });
    expect(g.m.cpu.state.ripLo).toBe(GUEST + 2);
    expect(runGuest(g.svm, g.m.cpu, 100).kind).toBe('vmexit');
    expect(exitOf(g)).toMatchObject({ code: X.HLT, rip: g.at('h') });
  });
});

describe('a minimal hypervisor written in TypeScript', () => {
  it('filters CPUID with the hypervisor bit, emulates an OUT to port 0xE9, and ends at HLT', () => {
    const src = [
      'mov eax, 1', 'cpuid', 'mov al, 0x4e', 'bt ecx, 31', 'jnc out1', 'mov al, 0x59',
      'out1: out 0xe9, al', 'mov al, 0x0a', 'out 0xe9, al', 'hlt',
    ].join('\n');
    const g = vm(src, { intercepts: ['CPUID', 'IOIO_PROT'], setup: (_v, x) => setIopmBit(x.m.mem, IOPM, 0xe9) });
    const { svm, vmcb } = g;
    const cpu = g.m.cpu;
    const console: number[] = [];
    const exits: string[] = [];
    for (let i = 0; i < 10; i++) {
      expect(vmrunGuest(svm, cpu, VMCB).kind).toBe('entered');
      const end = runGuest(svm, cpu, 10000);
      expect(end.kind).toBe('vmexit');
      const code = exitCodeFromU64(vmcb.read64('exit_code'))!;
      if (code === X.HLT) {
        exits.push('hlt');
        break;
      }
      if (code === X.CPUID) {
        exits.push('cpuid');
        const st = cpu.state;
        const leaf = vmcb.read64('save.rax').lo;
        const [a, b, c, d] = cpuid('amd', leaf, st.regLo[1]!);
        vmcb.write64('save.rax', u64(a));
        st.regLo[3] = b;
        st.regLo[1] = leaf === 1 ? (c | 0x80000000) >>> 0 : c;
        st.regLo[2] = d;
        vmcb.write64('save.rip', vmcb.read64('next_rip'));
      } else if (code === X.IOIO) {
        exits.push('io');
        const io = decodeIoioInfo(vmcb.read64('exit_info_1').lo)!;
        expect(io).toMatchObject({ in: false, port: 0xe9, size: 1 });
        console.push(vmcb.read64('save.rax').lo & 0xff);
        vmcb.write64('save.rip', vmcb.read64('exit_info_2'));
      } else throw new Error(`unexpected exit ${code}`);
    }
    expect(exits).toEqual(['cpuid', 'io', 'io', 'hlt']);
    expect(String.fromCharCode(...console)).toBe('Y\n');
    expect(g.m.exits).toEqual([]);
  });
});
