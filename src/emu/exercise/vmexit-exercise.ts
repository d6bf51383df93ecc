/**
 * VM-exit homework: "which VM exit, with which qualification, does this instruction cause?". Each
 * problem is one guest instruction in context (its text and bytes, the guest mode, the registers
 * and memory it reads) and the VMX controls that decide it, as a student reads them: named control
 * bits, the bits of the I/O or MSR bitmap that matter, the CR0/CR4 guest/host mask and read shadow,
 * the CR3-target values, the exception bitmap.
 *
 * The answers are not worked out here. Every problem is run under the lab's VT-x: a 64-bit host on
 * the bare machine executes VMXON, VMCLEAR, VMPTRLD and VMWRITEs the VMCS, VMLAUNCH enters the guest,
 * `runGuest` (vmx/run.ts) runs it, and the exit is read back with VMREAD. The guest program is the
 * instruction at `t`, a VMCALL after it and a VMCALL as the handler of the one exception vector the
 * problem can raise, so "no VM exit" is observed too: the guest reaches the VMCALL after the
 * instruction (it ran), or the handler's (the exception went through the guest's IDT), or halts.
 *
 * Rules exercised (SDM Vol. 3C): 26.1.2 instructions that always exit (CPUID, VMCALL); 26.1.3 those
 * governed by controls (HLT, INVLPG, RDTSC, MOV CR, CLTS, LMSW, I/O, RDMSR/WRMSR); 26.2 exceptions
 * and the exception bitmap; 25.6.4 I/O bitmaps; 25.6.9 MSR bitmaps; 25.6.6 guest/host masks and read
 * shadows; 25.6.7 CR3-target controls; 28.2.1 the exit qualifications (Tables 28-1, 28-3, 28-5).
 *
 * Everything returned is plain data (JSON-serializable); values are safe integers.
 */

import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';
import { CR0, CR4 } from '../cpu/sys-util.ts';
import { Entry, Primary, VMCS_REVISION } from '../vmx/controls.ts';
import { exitReasonInfo, ExitReason } from '../vmx/exit-reasons.ts';
import { enc } from '../vmx/fields.ts';
import { CR_ACCESS_LAYOUT, decodeLayout, INTERRUPTION_INFO_LAYOUT, IO_LAYOUT, type Layout } from '../vmx/qualification.ts';
import { cpuProcessor, runGuest } from '../vmx/run.ts';
import { validFields, VMCS_PA, VMXON_PA } from '../vmx/valid-vmcs.ts';
import { Vmx } from '../vmx/vmx.ts';
import { mixSeed, rng } from './rng.ts';

export const VMEXIT_KINDS = [
  'cpuid', 'vmcall', 'hlt', 'invlpg', 'rdtsc', 'rdmsr', 'wrmsr', 'io', 'string-io',
  'mov-to-cr0', 'mov-from-cr', 'mov-to-cr3', 'mov-from-cr3', 'mov-to-cr4', 'mov-cr8', 'clts', 'lmsw', 'exception',
] as const;
export type VmexitKind = (typeof VMEXIT_KINDS)[number];

/** A register or memory operand the instruction reads, with its value (hex text as printed). */
export interface ContextValue {
  name: string;
  value: number;
  /** Hex digits to print the value with. */
  digits: number;
}

/** One control as a student reads it: a named bit, a field, or a bit of a bitmap. */
export interface ControlLine {
  name: string;
  value: string;
  /** The note in English, as the command line prints it. */
  note?: string;
  /** The same note as data, for a page that words it in another language. */
  noteData?: ControlNote;
}

/** A control's note as data: which sentence, and the values it states. */
export type ControlNote =
  | { id: 'primary' }
  | { id: 'owned' | 'shadow' | 'bits'; bits: string }
  | { id: 'copy'; pa: string }
  | { id: 'range'; msr: string };

/** The English words of a note (the command line's). */
export function noteEnglish(n: ControlNote): string {
  switch (n.id) {
    case 'primary': return 'primary processor-based control';
    case 'owned': return `host-owned: ${n.bits}`;
    case 'shadow': return `of the host-owned bits set: ${n.bits}`;
    case 'bits': return `bits set: ${n.bits}`;
    case 'copy': return `${n.pa} holds a copy of the same paging structure`;
    case 'range': return `${n.msr} is in neither bitmap range`;
  }
}

const line = (name: string, value: string, n: ControlNote): ControlLine => ({ name, value, note: noteEnglish(n), noteData: n });

/** The bitmap bits a problem shows (and sets when `set`). */
export interface IoBit {
  port: number;
  bitmap: 'A' | 'B';
  set: boolean;
}

export type MsrQuarter = 'read-low' | 'read-high' | 'write-low' | 'write-high';
export interface MsrBit {
  msr: number;
  quarter: MsrQuarter;
  /** Byte offset in the 4-KByte MSR bitmap and bit within the byte. */
  offset: number;
  bit: number;
  set: boolean;
}

/** The VMCS settings of a problem, structured (the answer is still the runner's). */
export interface VmexitSetup {
  /** The primary processor-based VM-execution controls, the whole field. */
  primary: number;
  exceptionBitmap: number;
  cr0Mask: number;
  cr0Shadow: number;
  cr4Mask: number;
  cr4Shadow: number;
  /** The guest's CR0 and CR4 as the processor holds them. */
  guestCr0: number;
  guestCr4: number;
  guestCr3: number;
  guestRflags: number;
  cr3TargetCount: number;
  cr3Targets: number[];
  ioBits: IoBit[];
  msrBits: MsrBit[];
}

/** What the instruction is, as the rules need it (the generator's choice, shown to the student as text). */
export interface VmexitInsn {
  /** Register number read or written by MOV CR / LMSW (0 RAX ... 15 R15). */
  gpr?: number;
  cr?: number;
  /** MOV to CR, LMSW: the source value; LMSW from memory. */
  source?: number;
  lmswMemory?: boolean;
  /** I/O */
  port?: number;
  size?: 1 | 2 | 4;
  direction?: 'in' | 'out';
  string?: boolean;
  rep?: boolean;
  immediate?: boolean;
  /** RDMSR/WRMSR: ECX. */
  msr?: number;
  /** INVLPG: the operand's linear address. */
  linear?: number;
  /** An exception the instruction raises (vector), if it does. */
  vector?: number;
}

export interface VmexitProblem {
  kind: VmexitKind;
  bits: 32 | 64;
  /** Assembly text of the instruction and its bytes (hex, space-separated). */
  asm: string;
  bytes: string;
  /** Guest linear address of the instruction. */
  rip: number;
  context: ContextValue[];
  controls: ControlLine[];
  setup: VmexitSetup;
  insn: VmexitInsn;
}

/** A named bit range of a qualification or information field, with its value. */
export interface DecodedField {
  name: string;
  lo: number;
  hi: number;
  value: number;
  title: string;
}

export type VmexitAnswer =
  | {
      exit: false;
      /** ran: the guest went on to the next instruction; delivered: an exception went through the guest's IDT; halted: the guest is in HLT. */
      outcome: 'ran' | 'delivered' | 'halted';
      vector?: number;
    }
  | {
      exit: true;
      reason: number;
      name: string;
      title: string;
      qualification: number;
      /** The qualification by field; empty when this exit has no qualification (it is 0). */
      qualificationFields: DecodedField[];
      /** VM-exit instruction length; null where the SDM leaves it undefined (hardware exceptions). */
      instructionLength: number | null;
      /** VM-exit interruption information (exceptions), raw and by field. */
      interruption: { raw: number; fields: DecodedField[] } | null;
      /** The guest RIP saved in the VMCS (the instruction's, as VM exits are fault-like). */
      guestRip: number;
    };

export interface VmexitExercise {
  seed: number;
  problems: VmexitProblem[];
  answers: VmexitAnswer[];
}

export const VMEXIT_DEFAULT_COUNT = 6;
export const VMEXIT_MAX_COUNT = 40;

// ---- the guest's world

const GUEST = 0x100000;
const GDT = 0x5000;
const IDT = 0x6000;
const IO_A = 0x20000;
const IO_B = 0x21000;
const MSR_BITMAP = 0x22000;
const SCRATCH = 0x30000;
const RSP = 0x7ff0;
/** 64-bit guest: the bare machine's PML4, and a copy (a second valid CR3). */
const PML4 = 0x1000;
const PML4_COPY = 0x9000;
/** 32-bit guest: a page directory of 4-MByte pages identity-mapping 64 MiB, and a copy. */
const PD32 = 0x4000;
const PD32_COPY = 0xa000;

const PRIMARY_BASE = Number(validFields().CPU_BASED_VM_EXEC_CONTROL!) & ~Primary.HLT_EXITING!;

const REG64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
/** Registers a problem may pick for MOV CR / LMSW (never RSP/RBP, which the frame might use). */
const GPRS64 = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const GPRS32 = [0, 1, 2, 3, 6, 7];

export function regName(n: number, bits: 32 | 64): string {
  return bits === 64 ? REG64[n]! : REG32[n]!;
}

const PRIMARY_TITLES: Readonly<Record<string, string>> = {
  HLT_EXITING: 'HLT exiting',
  INVLPG_EXITING: 'INVLPG exiting',
  RDTSC_EXITING: 'RDTSC exiting',
  CR3_LOAD_EXITING: 'CR3-load exiting',
  CR3_STORE_EXITING: 'CR3-store exiting',
  CR8_LOAD_EXITING: 'CR8-load exiting',
  CR8_STORE_EXITING: 'CR8-store exiting',
  USE_TPR_SHADOW: 'Use TPR shadow',
  UNCONDITIONAL_IO_EXITING: 'Unconditional I/O exiting',
  USE_IO_BITMAPS: 'Use I/O bitmaps',
  USE_MSR_BITMAPS: 'Use MSR bitmaps',
};

const hx = (v: number, digits = 0): string => `0x${v.toString(16).padStart(digits, '0')}`;

/** The random choices of one problem. */
class Pick {
  constructor(private readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  of<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p = 0.5): boolean {
    return this.r() < p;
  }
  /** A random subset of the bits of `mask`. */
  bits(mask: number): number {
    let v = 0;
    for (let b = 0; b < 32; b++) if ((mask >>> b) & 1 && this.chance()) v |= 1 << b;
    return v >>> 0;
  }
}

interface Draft {
  kind: VmexitKind;
  bits: 32 | 64;
  asm: string;
  /** GPRs (by number) set before the guest runs, and words of memory. */
  regs: Map<number, number>;
  memory: { address: number; size: 2 | 4; value: number }[];
  context: ContextValue[];
  controls: ControlLine[];
  setup: VmexitSetup;
  insn: VmexitInsn;
  /** Extra VMCS fields (names) beyond the setup's. */
  extra: Record<string, bigint>;
}

function baseSetup(bits: 32 | 64, p: Pick): VmexitSetup {
  const guestCr0 = (CR0.PE | CR0.ET | CR0.NE | CR0.PG | p.bits(CR0.MP | CR0.TS | CR0.WP | CR0.AM)) >>> 0;
  const guestCr4 = (CR4.VMXE | (bits === 64 ? CR4.PAE : CR4.PSE)) >>> 0;
  return {
    primary: PRIMARY_BASE, exceptionBitmap: 0, cr0Mask: 0, cr0Shadow: 0, cr4Mask: 0, cr4Shadow: 0,
    guestCr0, guestCr4, guestCr3: bits === 64 ? PML4 : PD32, guestRflags: 2,
    cr3TargetCount: 0, cr3Targets: [], ioBits: [], msrBits: [],
  };
}

function draft(kind: VmexitKind, bits: 32 | 64, p: Pick): Draft {
  return { kind, bits, asm: '', regs: new Map(), memory: [], context: [], controls: [], setup: baseSetup(bits, p), insn: {}, extra: {} };
}

/** Sets or clears a primary control at random (probability `p1` of 1) and shows it. */
function primaryBit(d: Draft, p: Pick, name: string, p1 = 0.5, value?: boolean): boolean {
  const on = value ?? p.chance(p1);
  const mask = Primary[name]!;
  d.setup.primary = on ? (d.setup.primary | mask) >>> 0 : (d.setup.primary & ~mask) >>> 0;
  d.controls.push(line(PRIMARY_TITLES[name]!, on ? '1' : '0', { id: 'primary' }));
  return on;
}

function reg(d: Draft, n: number, value: number, digits?: number): void {
  d.regs.set(n, value);
  const w = digits ?? (d.bits === 64 ? 16 : 8);
  // An instruction that reads a 32-bit register (ECX of RDMSR, EDX:EAX of WRMSR) names it so in a 64-bit guest too.
  d.context.push({ name: regName(n, w <= 8 && n < 8 ? 32 : d.bits), value, digits: w });
}

const CR0_NAMES: readonly [number, string][] = [[CR0.PE, 'PE'], [CR0.MP, 'MP'], [CR0.EM, 'EM'], [CR0.TS, 'TS'], [CR0.NE, 'NE'], [CR0.WP, 'WP'], [CR0.AM, 'AM']];
const CR4_NAMES: readonly [number, string][] = [[CR4.TSD, 'TSD'], [CR4.PGE, 'PGE'], [CR4.PCE, 'PCE'], [CR4.VMXE, 'VMXE']];

function bitNames(v: number, names: readonly [number, string][]): string {
  const set = names.filter(([m]) => (v & m) !== 0).map(([, n]) => n);
  return set.length === 0 ? 'none' : set.join(' ');
}

function crControls(d: Draft, cr: 0 | 4): void {
  const s = d.setup;
  const names = cr === 0 ? CR0_NAMES : CR4_NAMES;
  const [mask, shadow, real] = cr === 0 ? [s.cr0Mask, s.cr0Shadow, s.guestCr0] : [s.cr4Mask, s.cr4Shadow, s.guestCr4];
  d.controls.push(line(`CR${cr} guest/host mask`, hx(mask, 8), { id: 'owned', bits: bitNames(mask, names) }));
  d.controls.push(line(`CR${cr} read shadow`, hx(shadow, 8), { id: 'shadow', bits: bitNames(shadow & mask, names) }));
  d.controls.push({ name: `guest CR${cr} (real)`, value: hx(real, 8) });
}

/** The guest-visible value of a CR: host-owned bits from the read shadow. */
const visible = (real: number, mask: number, shadow: number): number => ((real & ~mask) | (shadow & mask)) >>> 0;

function toggles(p: Pick, v: number, candidates: readonly number[]): number {
  let out = v;
  const n = p.int(3);
  for (let i = 0; i < n; i++) out ^= p.of(candidates);
  return out >>> 0;
}

function gpr(d: Draft, p: Pick): number {
  return p.of(d.bits === 64 ? GPRS64 : GPRS32);
}

// ---- one builder per kind

const PORTS = [0x20, 0x21, 0x40, 0x43, 0x60, 0x64, 0x70, 0x71, 0x80, 0x92, 0xf0, 0x3f8, 0x3fd, 0xcf8, 0xcfc, 0x7fff, 0x8000, 0xc000, 0xfffe, 0xffff];
const MSRS_READ = [0x10, 0x1b, 0x174, 0x175, 0x176, 0x277, 0xc0000080, 0xc0000082, 0xc0000100, 0xc0000102, 0x40000000, 0xc0010000];
/** MSRs a guest may write here, with a value WRMSR accepts (EDX:EAX). */
const MSRS_WRITE: readonly [number, number, number][] = [
  [0x174, 0, 0x10], [0x175, 0, 0x8000], [0x176, 0, 0x100000], [0x277, 0x00070406, 0x00070406],
  [0xc0000082, 0, 0x100000], [0xc0000100, 0, 0x12345000], [0xc0000102, 0, 0x7000], [0x40000000, 0, 1], [0xc0010000, 0, 0],
];
const MSR_NAMES: Readonly<Record<number, string>> = {
  0x10: 'IA32_TIME_STAMP_COUNTER', 0x1b: 'IA32_APIC_BASE', 0x174: 'IA32_SYSENTER_CS', 0x175: 'IA32_SYSENTER_ESP',
  0x176: 'IA32_SYSENTER_EIP', 0x277: 'IA32_PAT', 0xc0000080: 'IA32_EFER', 0xc0000082: 'IA32_LSTAR', 0xc0000100: 'IA32_FS_BASE',
  0xc0000102: 'IA32_KERNEL_GS_BASE', 0x40000000: 'a hypervisor-range MSR', 0xc0010000: 'an AMD-range MSR',
};
export const msrName = (m: number): string => MSR_NAMES[m] ?? 'MSR';

/** The MSR bitmap position of `msr` in `quarter`, or null outside 0–1FFFH and C0000000H–C0001FFFH (25.6.9). */
export function msrBitmapPosition(msr: number, write: boolean): { quarter: MsrQuarter; offset: number; bit: number } | null {
  const low = msr <= 0x1fff;
  const high = msr >= 0xc0000000 && msr <= 0xc0001fff;
  if (!low && !high) return null;
  const n = low ? msr : msr - 0xc0000000;
  const base = (write ? 0x800 : 0) + (high ? 0x400 : 0);
  const quarter: MsrQuarter = `${write ? 'write' : 'read'}-${high ? 'high' : 'low'}`;
  return { quarter, offset: base + (n >>> 3), bit: n & 7 };
}

function buildMsr(d: Draft, p: Pick, write: boolean): void {
  const use = primaryBit(d, p, 'USE_MSR_BITMAPS', 0.8);
  let msr: number;
  if (write) {
    const [m, hi, lo] = p.of(MSRS_WRITE);
    msr = m;
    reg(d, 1, msr, 8);
    reg(d, 2, hi, 8);
    reg(d, 0, lo, 8);
    d.asm = 'wrmsr';
  } else {
    msr = p.of(MSRS_READ);
    reg(d, 1, msr, 8);
    d.asm = 'rdmsr';
  }
  d.context[0]!.name = `ecx (${msrName(msr)})`;
  d.insn.msr = msr;
  d.controls.push({ name: 'MSR-bitmap address', value: hx(MSR_BITMAP, 8) });
  for (const w of [false, true]) {
    const pos = msrBitmapPosition(msr, w);
    if (pos === null) continue;
    // The bit of the other direction is shown too, set at random: it does not matter.
    const set = p.chance();
    d.setup.msrBits.push({ msr, ...pos, set });
  }
  if (use && d.setup.msrBits.length === 0) d.controls.push(line('MSR bitmap', '—', { id: 'range', msr: hx(msr, 8) }));
}

function ioPorts(port: number, size: number): number[] {
  return Array.from({ length: size }, (_, i) => port + i).filter((q) => q <= 0xffff);
}

function buildIo(d: Draft, p: Pick, string: boolean): void {
  const size = p.of([1, 2, 4] as const);
  const direction = p.of(['in', 'out'] as const);
  const port = p.of(PORTS);
  const immediate = !string && port < 0x100 && p.chance();
  const rep = string && p.chance();
  const acc = size === 1 ? 'al' : size === 2 ? 'ax' : 'eax';
  const suffix = size === 1 ? 'b' : size === 2 ? 'w' : 'd';
  if (string) {
    d.asm = `${rep ? 'rep ' : ''}${direction === 'in' ? 'ins' : 'outs'}${suffix}`;
  } else {
    const where = immediate ? hx(port, 2) : 'dx';
    d.asm = direction === 'in' ? `in ${acc}, ${where}` : `out ${where}, ${acc}`;
  }
  if (!immediate) {
    d.regs.set(2, port);
    d.context.push({ name: 'dx', value: port, digits: 4 });
  }
  if (direction === 'out' && !string) {
    const v = p.int(2 ** (8 * size));
    d.regs.set(0, v);
    d.context.push({ name: acc, value: v, digits: size * 2 });
  }
  if (string) {
    reg(d, direction === 'out' ? 6 : 7, SCRATCH);
    if (rep) reg(d, 1, 1 + p.int(3));
  }
  d.insn = { port, size, direction, string, rep, immediate };
  const uncond = primaryBit(d, p, 'UNCONDITIONAL_IO_EXITING');
  primaryBit(d, p, 'USE_IO_BITMAPS', uncond ? 0.6 : 0.75);
  d.controls.push({ name: 'I/O-bitmap A / B address', value: `${hx(IO_A, 8)} / ${hx(IO_B, 8)}` });
  // The bits of the ports touched, and of one port either side (which do not matter).
  const touched = ioPorts(port, size);
  const setOne = p.chance(0.5) ? p.of(touched) : -1;
  for (let q = Math.max(0, port - 1); q <= Math.min(0xffff, port + size); q++) {
    const set = touched.includes(q) ? q === setOne || p.chance(0.15) : p.chance(0.4);
    d.setup.ioBits.push({ port: q, bitmap: q < 0x8000 ? 'A' : 'B', set });
  }
}

function buildCr0Write(d: Draft, p: Pick): void {
  const s = d.setup;
  s.cr0Mask = p.bits(CR0.MP | CR0.TS | CR0.WP | CR0.AM | CR0.NE);
  s.cr0Shadow = p.bits(s.cr0Mask);
  const n = gpr(d, p);
  const source = toggles(p, visible(s.guestCr0, s.cr0Mask, s.cr0Shadow), [CR0.MP, CR0.TS, CR0.WP, CR0.AM]);
  d.asm = `mov cr0, ${regName(n, d.bits)}`;
  reg(d, n, source);
  d.insn = { cr: 0, gpr: n, source };
  crControls(d, 0);
}

function buildCr4Write(d: Draft, p: Pick): void {
  const s = d.setup;
  s.guestCr4 = (s.guestCr4 | p.bits(CR4.TSD | CR4.PGE | CR4.PCE)) >>> 0;
  s.cr4Mask = (CR4.VMXE | p.bits(CR4.TSD | CR4.PGE | CR4.PCE)) >>> 0;
  s.cr4Shadow = p.bits(s.cr4Mask & ~(p.chance(0.7) ? CR4.VMXE : 0));
  const n = gpr(d, p);
  const source = toggles(p, visible(s.guestCr4, s.cr4Mask, s.cr4Shadow), [CR4.TSD, CR4.PGE, CR4.PCE]);
  d.asm = `mov cr4, ${regName(n, d.bits)}`;
  reg(d, n, source);
  d.insn = { cr: 4, gpr: n, source };
  crControls(d, 4);
}

function buildCrRead(d: Draft, p: Pick): void {
  const cr = p.of([0, 4] as const);
  const s = d.setup;
  if (cr === 0) {
    s.cr0Mask = p.bits(CR0.MP | CR0.TS | CR0.WP | CR0.AM | CR0.NE);
    s.cr0Shadow = p.bits(s.cr0Mask);
  } else {
    s.cr4Mask = (CR4.VMXE | p.bits(CR4.TSD | CR4.PGE | CR4.PCE)) >>> 0;
    s.cr4Shadow = p.bits(s.cr4Mask);
  }
  const n = gpr(d, p);
  d.asm = `mov ${regName(n, d.bits)}, cr${cr}`;
  d.insn = { cr, gpr: n };
  crControls(d, cr);
}

function buildCr3(d: Draft, p: Pick, write: boolean): void {
  const n = gpr(d, p);
  const s = d.setup;
  const other = d.bits === 64 ? PML4_COPY : PD32_COPY;
  if (write) {
    primaryBit(d, p, 'CR3_LOAD_EXITING', 0.8);
    const source = p.chance() ? s.guestCr3 : other;
    s.cr3TargetCount = p.int(5);
    const pool = [s.guestCr3, other, 0x7000, 0xb000, 0x3000];
    s.cr3Targets = [0, 1, 2, 3].map(() => p.of(pool));
    d.controls.push({ name: 'CR3-target count', value: String(s.cr3TargetCount) });
    s.cr3Targets.forEach((v, i) => d.controls.push({ name: `CR3-target value ${i}`, value: hx(v, 8) }));
    d.controls.push(line('guest CR3', hx(s.guestCr3, 8), { id: 'copy', pa: hx(other, 8) }));
    d.asm = `mov cr3, ${regName(n, d.bits)}`;
    reg(d, n, source);
    d.insn = { cr: 3, gpr: n, source };
  } else {
    primaryBit(d, p, 'CR3_STORE_EXITING');
    d.asm = `mov ${regName(n, d.bits)}, cr3`;
    d.insn = { cr: 3, gpr: n };
  }
}

function buildCr8(d: Draft, p: Pick): void {
  const n = gpr(d, p);
  const write = p.chance();
  primaryBit(d, p, write ? 'CR8_LOAD_EXITING' : 'CR8_STORE_EXITING');
  primaryBit(d, p, 'USE_TPR_SHADOW', 0, false);
  if (write) {
    const source = p.int(16);
    d.asm = `mov cr8, ${regName(n, 64)}`;
    reg(d, n, source);
    d.insn = { cr: 8, gpr: n, source };
  } else {
    d.asm = `mov ${regName(n, 64)}, cr8`;
    d.insn = { cr: 8, gpr: n };
  }
}

function buildClts(d: Draft, p: Pick): void {
  const s = d.setup;
  s.cr0Mask = p.bits(CR0.TS | CR0.MP | CR0.WP);
  if (p.chance(0.7)) s.cr0Mask |= CR0.TS;
  s.cr0Shadow = p.bits(s.cr0Mask);
  d.asm = 'clts';
  crControls(d, 0);
}

function buildLmsw(d: Draft, p: Pick): void {
  const s = d.setup;
  s.cr0Mask = p.bits(CR0.PE | CR0.MP | CR0.EM | CR0.TS);
  s.cr0Shadow = p.bits(s.cr0Mask);
  const source = p.int(16);
  const memory = p.chance(0.3);
  if (memory) {
    const n = gpr(d, p);
    d.asm = `lmsw [${regName(n, d.bits)}]`;
    reg(d, n, SCRATCH);
    d.memory.push({ address: SCRATCH, size: 2, value: source });
    d.context.push({ name: `word [${hx(SCRATCH, 8)}]`, value: source, digits: 4 });
  } else {
    const n = gpr(d, p);
    const r16 = d.bits === 64 ? ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'][n]! : ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'][n]!;
    d.asm = `lmsw ${r16}`;
    reg(d, n, source, 4);
    d.context[d.context.length - 1]!.name = r16;
    d.insn.gpr = n;
  }
  d.insn = { ...d.insn, source, lmswMemory: memory };
  crControls(d, 0);
}

interface ExceptionCase {
  asm: string;
  vector: number;
  bits?: 32;
  prepare?(d: Draft, p: Pick): boolean;
}

const EXCEPTIONS: readonly ExceptionCase[] = [
  { asm: 'ud2', vector: 6 },
  { asm: 'int3', vector: 3 },
  {
    asm: 'div ecx',
    vector: 0,
    prepare(d, p) {
      const zero = p.chance(0.75);
      reg(d, 0, 0x1234, 8);
      reg(d, 2, 0, 8);
      reg(d, 1, zero ? 0 : 1 + p.int(9), 8);
      return zero;
    },
  },
  {
    asm: 'into',
    vector: 4,
    bits: 32,
    prepare(d, p) {
      const of = p.chance(0.75);
      d.setup.guestRflags = of ? 0x802 : 2;
      d.context.push({ name: 'eflags', value: d.setup.guestRflags, digits: 8 });
      return of;
    },
  },
];

const VECTOR_NAMES: Readonly<Record<number, string>> = { 0: '#DE', 1: '#DB', 3: '#BP', 4: '#OF', 6: '#UD', 13: '#GP', 14: '#PF' };
export const vectorName = (v: number): string => VECTOR_NAMES[v] ?? `vector ${v}`;

function buildException(d: Draft, p: Pick, c: ExceptionCase): void {
  d.asm = c.asm;
  const raises = c.prepare === undefined ? true : c.prepare(d, p);
  if (raises) d.insn.vector = c.vector;
  const on = p.chance(0.6);
  const others = p.bits((1 << 1) | (1 << 6) | (1 << 13) | (1 << 14) | (1 << 3) | (1 << 0)) & ~(1 << c.vector);
  d.setup.exceptionBitmap = (others | (on ? 1 << c.vector : 0)) >>> 0;
  const set = [...Array(32).keys()].filter((v) => (d.setup.exceptionBitmap >>> v) & 1).map((v) => `${v} (${vectorName(v)})`);
  d.controls.push(line('exception bitmap', hx(d.setup.exceptionBitmap, 8), { id: 'bits', bits: set.length === 0 ? 'none' : set.join(', ') }));
}

function build(kind: VmexitKind, p: Pick): Draft {
  const bits: 32 | 64 = kind === 'mov-cr8' ? 64 : p.chance(0.6) ? 64 : 32;
  const d = draft(kind, bits, p);
  switch (kind) {
    case 'cpuid': {
      d.asm = 'cpuid';
      reg(d, 0, p.of([0, 1, 7, 0xb, 0x80000000, 0x80000001, 0x40000000]), 8);
      reg(d, 1, 0, 8);
      break;
    }
    case 'vmcall':
      d.asm = 'vmcall';
      break;
    case 'hlt':
      d.asm = 'hlt';
      primaryBit(d, p, 'HLT_EXITING');
      break;
    case 'invlpg': {
      const n = gpr(d, p);
      const base = (1 + p.int(0x3ffff)) * 0x1000;
      const disp = p.int(0x100);
      d.asm = `invlpg [${regName(n, d.bits)}${disp === 0 ? '' : `+${hx(disp)}`}]`;
      reg(d, n, base);
      d.insn = { linear: base + disp };
      primaryBit(d, p, 'INVLPG_EXITING');
      break;
    }
    case 'rdtsc':
      d.asm = 'rdtsc';
      primaryBit(d, p, 'RDTSC_EXITING');
      break;
    case 'rdmsr':
    case 'wrmsr':
      buildMsr(d, p, kind === 'wrmsr');
      break;
    case 'io':
    case 'string-io':
      buildIo(d, p, kind === 'string-io');
      break;
    case 'mov-to-cr0':
      buildCr0Write(d, p);
      break;
    case 'mov-from-cr':
      buildCrRead(d, p);
      break;
    case 'mov-to-cr3':
    case 'mov-from-cr3':
      buildCr3(d, p, kind === 'mov-to-cr3');
      break;
    case 'mov-to-cr4':
      buildCr4Write(d, p);
      break;
    case 'mov-cr8':
      buildCr8(d, p);
      break;
    case 'clts':
      buildClts(d, p);
      break;
    case 'lmsw':
      buildLmsw(d, p);
      break;
    case 'exception': {
      const c = p.of(EXCEPTIONS);
      if (c.bits === 32 && d.bits === 64) return buildExceptionIn32(p, c);
      buildException(d, p, c);
      break;
    }
  }
  return d;
}

function buildExceptionIn32(p: Pick, c: ExceptionCase): Draft {
  const d = draft('exception', 32, p);
  buildException(d, p, c);
  return d;
}

// ---- running a problem under the lab's VT-x

/** A gate in the guest's IDT to `target` through the code segment at selector 8. */
function gate(mem: { write(a: number, n: number, v: number): void }, bits: 32 | 64, vector: number, target: number): void {
  const at = IDT + vector * (bits === 64 ? 16 : 8);
  mem.write(at, 4, ((8 << 16) | (target & 0xffff)) >>> 0);
  mem.write(at + 4, 4, ((target & 0xffff0000) | 0x8e00) >>> 0);
  if (bits === 64) {
    mem.write(at + 8, 4, 0);
    mem.write(at + 12, 4, 0);
  }
}

const lo32 = (v: number): number => v % 0x100000000 >>> 0;
const hi32 = (v: number): number => Math.floor(v / 0x100000000) >>> 0;

function fieldsOf(layout: Layout, value: number): DecodedField[] {
  const parts = decodeLayout(layout, value);
  return layout.map((f) => ({ name: f.name, lo: f.lo, hi: f.hi, value: parts[f.name]!, title: f.title }));
}

interface Ran {
  answer: VmexitAnswer;
  bytes: Uint8Array;
}

/**
 * Builds the host, the VMCS and the guest program for a problem, enters the guest and runs it to its
 * first VM exit; the answer is what VMREAD reads back (or that the guest ran on, halted, or took the
 * exception through its own IDT).
 */
function runProblem(d: Draft): Ran {
  const src = `t: ${d.asm}\nafter: vmcall\nh: vmcall\n`;
  const asm = assemble(src, { bits: d.bits, origin: GUEST });
  if (!asm.ok) throw new Error(`vmexit exercise: cannot assemble '${d.asm}': ${JSON.stringify(asm.errors)}`);
  const t = asm.labels.get('t')!;
  const after = asm.labels.get('after')!;
  const h = asm.labels.get('h')!;
  const m = createBareMachine({ mode: 'long64', load: GUEST, code: asm.bytes });
  const mem = m.mem;
  const s = m.cpu.state;
  s.cr0 = (s.cr0 | CR0.NE) >>> 0;
  s.cr4 = (s.cr4 | CR4.VMXE) >>> 0;
  m.cpu.modeChanged();
  // GDT: 8 the guest's code segment (64-bit or 32-bit), 16 flat data.
  mem.write(GDT + 8, 4, 0x0000ffff);
  mem.write(GDT + 12, 4, d.bits === 64 ? 0x00af9b00 : 0x00cf9b00);
  mem.write(GDT + 16, 4, 0x0000ffff);
  mem.write(GDT + 20, 4, 0x00cf9300);
  // The second valid CR3 for each mode, and the 32-bit guest's page directory (4-MByte pages).
  mem.write(PML4_COPY, 4, mem.read(PML4, 4));
  for (let i = 0; i < 16; i++) {
    mem.write(PD32 + i * 4, 4, ((i << 22) | 0x83) >>> 0);
    mem.write(PD32_COPY + i * 4, 4, ((i << 22) | 0x83) >>> 0);
  }
  if (d.insn.vector !== undefined) gate(mem, d.bits, d.insn.vector, h);
  for (const b of d.setup.ioBits) if (b.set) mem.write((b.bitmap === 'A' ? IO_A : IO_B) + ((b.port & 0x7fff) >>> 3), 1, mem.read((b.bitmap === 'A' ? IO_A : IO_B) + ((b.port & 0x7fff) >>> 3), 1) | (1 << (b.port & 7)));
  for (const b of d.setup.msrBits) if (b.set) mem.write(MSR_BITMAP + b.offset, 1, mem.read(MSR_BITMAP + b.offset, 1) | (1 << b.bit));
  for (const w of d.memory) mem.write(w.address, w.size, w.value);
  for (const pa of [VMXON_PA, VMCS_PA]) mem.write(Number(pa), 4, VMCS_REVISION);

  const vmx = new Vmx(cpuProcessor(m.cpu));
  for (const o of [vmx.vmxon(VMXON_PA), vmx.vmclear(VMCS_PA), vmx.vmptrld(VMCS_PA)]) {
    if (o.kind !== 'succeed') throw new Error(`vmexit exercise: VMX setup: ${o.kind}`);
  }
  const base = validFields();
  const st = d.setup;
  const fields: Record<string, bigint> = {
    ...base,
    CPU_BASED_VM_EXEC_CONTROL: BigInt(st.primary),
    VM_ENTRY_CONTROLS: BigInt(d.bits === 64 ? Number(base.VM_ENTRY_CONTROLS!) : Number(base.VM_ENTRY_CONTROLS!) & ~Entry.IA32E_MODE_GUEST!),
    EXCEPTION_BITMAP: BigInt(st.exceptionBitmap),
    CR0_GUEST_HOST_MASK: BigInt(st.cr0Mask),
    CR0_READ_SHADOW: BigInt(st.cr0Shadow),
    CR4_GUEST_HOST_MASK: BigInt(st.cr4Mask),
    CR4_READ_SHADOW: BigInt(st.cr4Shadow),
    CR3_TARGET_COUNT: BigInt(st.cr3TargetCount),
    HOST_CR0: BigInt(s.cr0 >>> 0),
    HOST_CR3: BigInt(PML4),
    HOST_CR4: BigInt(s.cr4 >>> 0),
    GUEST_CR0: BigInt(st.guestCr0),
    GUEST_CR3: BigInt(st.guestCr3),
    GUEST_CR4: BigInt(st.guestCr4),
    GUEST_RFLAGS: BigInt(st.guestRflags),
    GUEST_RIP: BigInt(GUEST),
    GUEST_RSP: BigInt(RSP),
    GUEST_CS_AR_BYTES: d.bits === 64 ? 0xa09bn : 0xc09bn,
    GUEST_GDTR_BASE: BigInt(GDT),
    GUEST_GDTR_LIMIT: 0x17n,
    GUEST_IDTR_BASE: BigInt(IDT),
    GUEST_IDTR_LIMIT: d.bits === 64 ? 0xfffn : 0x7ffn,
    GUEST_IA32_EFER: d.bits === 64 ? 0x500n : 0n,
    IO_BITMAP_A: BigInt(IO_A),
    IO_BITMAP_B: BigInt(IO_B),
    MSR_BITMAP: BigInt(MSR_BITMAP),
    ...d.extra,
  };
  st.cr3Targets.forEach((v, i) => (fields[`CR3_TARGET_VALUE${i}`] = BigInt(v)));
  for (const [name, v] of Object.entries(fields)) {
    const o = vmx.vmwrite(enc(name), v);
    if (o.kind !== 'succeed') throw new Error(`vmexit exercise: vmwrite ${name}: ${o.kind}`);
  }
  const launched = vmx.vmlaunch();
  if (launched.kind !== 'entered') throw new Error(`vmexit exercise: VMLAUNCH did not enter: ${JSON.stringify(launched, (_k, v) => (typeof v === "bigint" ? v.toString(16) : v))} ${d.kind} ${d.bits}`);
  // The general-purpose registers are not in the VMCS: the guest finds them as the host left them.
  for (const [n, v] of d.regs) {
    s.regLo[n] = lo32(v);
    s.regHi[n] = hi32(v);
  }
  const rd = (name: string): number => {
    const o = vmx.vmread(enc(name));
    if (o.kind !== 'succeed') throw new Error(`vmexit exercise: vmread ${name}: ${o.kind}`);
    if (o.value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`vmexit exercise: ${name} = ${o.value} is not a safe integer`);
    return Number(o.value);
  };
  const bytes = asm.bytes.slice(t - GUEST, after - GUEST);
  const r = runGuest(vmx, m.cpu, 1000);
  if (r.kind === 'halted') return { answer: { exit: false, outcome: 'halted' }, bytes };
  if (r.kind !== 'exit') throw new Error(`vmexit exercise: '${d.asm}' ended with ${r.kind}`);
  const reason = rd('VM_EXIT_REASON') & 0xffff;
  const rip = rd('GUEST_RIP');
  if (reason === ExitReason.VMCALL! && rip === after) return { answer: { exit: false, outcome: 'ran' }, bytes };
  if (reason === ExitReason.VMCALL! && rip === h) return { answer: { exit: false, outcome: 'delivered', vector: d.insn.vector! }, bytes };
  if (rip !== t) throw new Error(`vmexit exercise: '${d.asm}' exited (reason ${reason}) at ${hx(rip)}, not at the instruction`);
  const info = exitReasonInfo(reason)!;
  const qualification = rd('EXIT_QUALIFICATION');
  const intr = reason === ExitReason.EXCEPTION_NMI! ? rd('VM_EXIT_INTR_INFO') : null;
  const hardware = intr !== null && ((intr >>> 8) & 7) === 3;
  const layout = reason === ExitReason.CR_ACCESS! ? CR_ACCESS_LAYOUT : reason === ExitReason.IO_INSTRUCTION! ? IO_LAYOUT : null;
  const qualificationFields =
    layout !== null
      ? fieldsOf(layout, qualification)
      : reason === ExitReason.INVLPG!
        ? [{ name: 'linear', lo: 0, hi: d.bits === 64 ? 63 : 31, value: qualification, title: 'Linear-address operand of INVLPG' }]
        : [];
  return {
    answer: {
      exit: true,
      reason,
      name: info.name,
      title: info.title,
      qualification,
      qualificationFields,
      instructionLength: hardware ? null : rd('VM_EXIT_INSTRUCTION_LEN'),
      interruption: intr === null ? null : { raw: intr, fields: fieldsOf(INTERRUPTION_INFO_LAYOUT, intr) },
      guestRip: rip,
    },
    bytes,
  };
}

const byteText = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** The kinds in the order a seed deals them: a shuffle of all kinds, repeated with fresh shuffles. */
function kindOrder(seed: number, count: number): VmexitKind[] {
  const out: VmexitKind[] = [];
  for (let round = 0; out.length < count; round++) {
    const p = new Pick(rng(mixSeed(seed, 0x766d78, round)));
    const deck = [...VMEXIT_KINDS];
    for (let i = deck.length - 1; i > 0; i--) {
      const j = p.int(i + 1);
      [deck[i], deck[j]] = [deck[j]!, deck[i]!];
    }
    out.push(...deck);
  }
  return out.slice(0, count);
}

/** One problem and its key: problem `index` of `seed` (independent of how many are asked for). */
export function vmexitProblem(seed: number, index: number, kind: VmexitKind): { problem: VmexitProblem; answer: VmexitAnswer } {
  const p = new Pick(rng(mixSeed(seed, 0x766d78, 0x10000 + index)));
  const d = build(kind, p);
  const { answer, bytes } = runProblem(d);
  const problem: VmexitProblem = {
    kind: d.kind, bits: d.bits, asm: d.asm, bytes: byteText(bytes), rip: GUEST,
    context: d.context, controls: d.controls, setup: d.setup, insn: d.insn,
  };
  return { problem, answer };
}

/** Generates `count` problems for `seed`: the same seed gives the same problems, and a longer list extends a shorter one. */
export function generateVmexitExercise(opts: { seed: number; count?: number }): VmexitExercise {
  const { seed } = opts;
  const count = opts.count ?? VMEXIT_DEFAULT_COUNT;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed: ${seed} is not a non-negative integer`);
  if (!Number.isInteger(count) || count < 1 || count > VMEXIT_MAX_COUNT) throw new RangeError(`count: ${count} is not 1..${VMEXIT_MAX_COUNT}`);
  const problems: VmexitProblem[] = [];
  const answers: VmexitAnswer[] = [];
  kindOrder(seed, count).forEach((kind, i) => {
    const { problem, answer } = vmexitProblem(seed, i, kind);
    problems.push(problem);
    answers.push(answer);
  });
  return { seed, problems, answers };
}

