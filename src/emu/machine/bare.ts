/**
 * The bare machine of `lab exec`: a CPU, 64 MiB of RAM and nothing else, started exactly as a
 * KVM vCPU set up by the project's small harness (issue 2, item 4), so that the two can be
 * compared. Port I/O and accesses above RAM become exit records.
 */
import { Cpu } from '../cpu/cpu.ts';
import type { IoHandler, RunEnd, SystemLayer } from '../cpu/cpu.ts';
import type { CpuFeatures } from '../cpu/core.ts';
import { createCpuState, SegAttr } from '../cpu/state.ts';
import type { CpuState, SegmentCache } from '../cpu/state.ts';
import { PhysMem } from '../mem/physmem.ts';
import type { MmioHandler } from '../mem/physmem.ts';
import { Mmu } from '../mmu/mmu.ts';
import * as system from '../cpu/system.ts';

export const BARE_RAM_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_STEPS = 10_000_000;

export type BareMode = 'prot32' | 'long64';

/**
 * The CPU state `exec` starts in (as the KVM harness starts its vCPU): flat segments, TR and LDTR,
 * GDTR/IDTR limit 0xffff, RIP at the load address, RSP 0x80000, RFLAGS 2, and the control
 * registers of the mode (long64: paging on the identity map at CR3 0x1000, whose tables the caller
 * writes). The multi-VM host (hv/host.ts) starts its vCPUs from it too.
 */
export function bareStartState(mode: BareMode, load: number): CpuState {
  const s = createCpuState('intel');
  // Code: execute/read, accessed (type 1011b); data: read/write, accessed (0011b); S, P, G.
  const CODE = 0xb | SegAttr.S | SegAttr.P | SegAttr.G;
  const DATA = 0x3 | SegAttr.S | SegAttr.P | SegAttr.G | SegAttr.DB;
  flat(s.seg[1]!, 8, mode === 'prot32' ? CODE | SegAttr.DB : CODE | SegAttr.L);
  for (const i of [0, 2, 3, 4, 5]) flat(s.seg[i]!, 16, DATA);
  // TR: a busy 32-bit TSS at 0 (type 1011b); LDTR unusable; both selectors 0.
  s.tr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0xffff, attr: 0xb | SegAttr.P, valid: true };
  s.ldtr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0xffff, attr: 0x2 | SegAttr.P, valid: false };
  s.gdtr = { baseLo: 0, baseHi: 0, limit: 0xffff };
  s.idtr = { baseLo: 0, baseHi: 0, limit: 0xffff };
  s.ripLo = load >>> 0;
  s.regLo[4] = 0x80000;
  s.rflags = 0x2;
  if (mode === 'prot32') {
    s.cr0 = 0x60000011;
  } else {
    s.cr0 = 0x80010001;
    s.cr3Lo = 0x1000;
    s.cr4 = 0x20;
    s.efer = 0x500;
  }
  return s;
}

/** A JSON number up to 2^53−1, a decimal string above (issue 2, item 4). */
export type U64Json = number | string;

export type ExitRecord =
  | { kind: 'io'; dir: 'out' | 'in'; port: number; size: number; value: U64Json }
  | { kind: 'mmio'; dir: 'write' | 'read'; gpa: U64Json; size: number; value: U64Json };

export const REG_ORDER = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
const REG_INDEX: Record<(typeof REG_ORDER)[number], number> = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7, r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
};

export interface ExecResult {
  exits: ExitRecord[];
  /** A bare machine has no guest monitor, so its run never ends with 'exit'. */
  end: Exclude<RunEnd, 'exit'>;
  regs: Record<string, U64Json>;
  hv: Record<string, unknown>;
}

export interface BareOptions {
  mode: BareMode;
  /** Physical (= linear) address the code is loaded at and RIP starts at. */
  load: number;
  code: Uint8Array;
  /** The system layer; system.ts unless a test substitutes one. */
  sys?: SystemLayer;
  /** CPU features; by default those of the KVM harness's vCPU here (no 1-GByte pages, no LA57). */
  features?: CpuFeatures;
  /**
   * Bytes of physical RAM (default BARE_RAM_SIZE). Only a hypervisor's host asks for more: it keeps
   * its own structures above the 64 MiB its guest sees (hv/exec.ts); the program still loads below
   * BARE_RAM_SIZE.
   */
  ramSize?: number;
}

export interface BareMachine {
  cpu: Cpu;
  mem: PhysMem;
  exits: ExitRecord[];
}

export function u64Json(lo: number, hi: number): U64Json {
  if (hi >>> 0 < 0x200000) return (hi >>> 0) * 0x100000000 + (lo >>> 0);
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
}

function flat(c: SegmentCache, selector: number, attr: number): void {
  c.selector = selector;
  c.baseLo = 0;
  c.baseHi = 0;
  c.limit = 0xffffffff;
  c.attr = attr;
  c.valid = true;
}

export function createBareMachine(opts: BareOptions): BareMachine {
  const { mode, load, code } = opts;
  if (!Number.isInteger(load) || load < 0 || load + code.length > BARE_RAM_SIZE) {
    throw new RangeError(`load address ${load} with ${code.length} bytes does not fit in ${BARE_RAM_SIZE / 1048576} MiB of RAM`);
  }
  const exits: ExitRecord[] = [];
  const mmio: MmioHandler = {
    readHi: 0xffffffff,
    read(pa, size) {
      exits.push({ kind: 'mmio', dir: 'read', gpa: u64Json(pa % 0x100000000, Math.floor(pa / 0x100000000)), size, value: 0 });
      return 0xffffffff;
    },
    write(pa, size, value, valueHi) {
      exits.push({ kind: 'mmio', dir: 'write', gpa: u64Json(pa % 0x100000000, Math.floor(pa / 0x100000000)), size, value: u64Json(value, size > 4 ? valueHi : 0) });
    },
  };
  const io: IoHandler = {
    portIn(port, size) {
      exits.push({ kind: 'io', dir: 'in', port, size, value: 0 });
      return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    },
    portOut(port, size, value) {
      exits.push({ kind: 'io', dir: 'out', port, size, value: value >>> 0 });
    },
  };
  const mem = new PhysMem(opts.ramSize ?? BARE_RAM_SIZE, mmio);
  const s = bareStartState(mode, load);
  if (mode === 'long64') {
    // PML4[0] → PDPT at 0x2000 → PD at 0x3000: 512 2-MiB pages identity-mapping the first GiB.
    mem.write(0x1000, 4, 0x2003);
    mem.write(0x2000, 4, 0x3003);
    for (let i = 0; i < 512; i++) mem.write(0x3000 + i * 8, 4, ((i << 21) | 0x83) >>> 0);
  }
  mem.load(load, code);
  // The CPUID the KVM harness gives its vCPU here: MAXPHYADDR 48, no 1-GByte pages, no LA57.
  const features = opts.features ?? { page1gb: false, la57: false };
  const cpu = new Cpu(s, mem, new Mmu(mem), opts.sys ?? system, { io, maxPhysAddr: 48, features });
  return { cpu, mem, exits };
}

export function bareResult(m: BareMachine, end: RunEnd): ExecResult {
  if (end === 'exit') throw new Error('bareResult: the run ended with a guest intercept; a bare machine runs without a monitor');
  const s = m.cpu.state;
  const regs: Record<string, U64Json> = {};
  for (const name of REG_ORDER) {
    const i = REG_INDEX[name];
    regs[name] = u64Json(s.regLo[i]!, s.regHi[i]!);
  }
  regs.rip = u64Json(s.ripLo, s.ripHi);
  regs.rflags = s.rflags >>> 0;
  regs.cr0 = s.cr0 >>> 0;
  regs.cr3 = u64Json(s.cr3Lo, s.cr3Hi);
  regs.cr4 = s.cr4 >>> 0;
  return { exits: m.exits, end, regs, hv: { steps: s.steps } };
}

/** Runs raw machine code on the bare machine and returns the `exec` JSON object. */
export function runBare(opts: BareOptions & { maxSteps?: number }): ExecResult {
  const m = createBareMachine(opts);
  const end = m.cpu.run(opts.maxSteps ?? DEFAULT_MAX_STEPS);
  return bareResult(m, end);
}
