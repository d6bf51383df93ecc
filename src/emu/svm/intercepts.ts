/**
 * SVM intercepts (AMD APM Vol. 2, 15.8-15.15 and Appendix B, Table B-1): six 32-bit intercept
 * words at the start of the VMCB control area, and the two permission maps that refine the IOIO
 * and MSR intercepts, the IOPM (15.10.1) and the MSRPM (15.11).
 *
 *   word 0 (0x000)  CR reads: bit n = CRn read; CR writes: bit 16 + n = CRn write
 *   word 1 (0x004)  DR reads (bit n) and writes (bit 16 + n)
 *   word 2 (0x008)  exceptions: bit n = exception vector n
 *   word 3 (0x00c)  INTR … shutdown        (INTERCEPT below)
 *   word 4 (0x010)  VMRUN … CR write traps
 *   word 5 (0x014)  INVLPGB …
 */
import type { PhysMem } from '../mem/physmem.ts';
import { VMCB_FIELDS } from './vmcb.ts';

/** Byte offset in the VMCB of intercept word `w` (0..5). */
export const INTERCEPT_WORD_OFFSET = [
  VMCB_FIELDS.intercept_cr.offset, VMCB_FIELDS.intercept_dr.offset, VMCB_FIELDS.intercept_exceptions.offset,
  VMCB_FIELDS.intercept_word3.offset, VMCB_FIELDS.intercept_word4.offset, VMCB_FIELDS.intercept_word5.offset,
] as const;

export interface InterceptBit {
  word: number;
  bit: number;
}

const w3 = (bit: number): InterceptBit => ({ word: 3, bit });
const w4 = (bit: number): InterceptBit => ({ word: 4, bit });
const w5 = (bit: number): InterceptBit => ({ word: 5, bit });

/** The instruction and event intercepts of words 3, 4 and 5 by name (APM Table B-1). */
export const INTERCEPT = {
  INTR: w3(0), NMI: w3(1), SMI: w3(2), INIT: w3(3), VINTR: w3(4), CR0_SEL_WRITE: w3(5),
  IDTR_READ: w3(6), GDTR_READ: w3(7), LDTR_READ: w3(8), TR_READ: w3(9),
  IDTR_WRITE: w3(10), GDTR_WRITE: w3(11), LDTR_WRITE: w3(12), TR_WRITE: w3(13),
  RDTSC: w3(14), RDPMC: w3(15), PUSHF: w3(16), POPF: w3(17), CPUID: w3(18), RSM: w3(19), IRET: w3(20),
  INTN: w3(21), INVD: w3(22), PAUSE: w3(23), HLT: w3(24), INVLPG: w3(25), INVLPGA: w3(26),
  IOIO_PROT: w3(27), MSR_PROT: w3(28), TASK_SWITCH: w3(29), FERR_FREEZE: w3(30), SHUTDOWN: w3(31),
  VMRUN: w4(0), VMMCALL: w4(1), VMLOAD: w4(2), VMSAVE: w4(3), STGI: w4(4), CLGI: w4(5), SKINIT: w4(6),
  RDTSCP: w4(7), ICEBP: w4(8), WBINVD: w4(9), MONITOR: w4(10), MWAIT: w4(11), MWAIT_CONDITIONAL: w4(12),
  XSETBV: w4(13), RDPRU: w4(14), EFER_WRITE_TRAP: w4(15),
  CR0_WRITE_TRAP: w4(16), CR1_WRITE_TRAP: w4(17), CR2_WRITE_TRAP: w4(18), CR3_WRITE_TRAP: w4(19),
  CR4_WRITE_TRAP: w4(20), CR5_WRITE_TRAP: w4(21), CR6_WRITE_TRAP: w4(22), CR7_WRITE_TRAP: w4(23),
  CR8_WRITE_TRAP: w4(24),
  INVLPGB: w5(0), INVLPGB_ILLEGAL: w5(1), INVPCID: w5(2), MCOMMIT: w5(3), TLBSYNC: w5(4), BUSLOCK: w5(5),
  IDLE_HLT: w5(6),
} as const satisfies Record<string, InterceptBit>;

export type InterceptName = keyof typeof INTERCEPT;

/** Word-0/1/2 intercepts: CRn or DRn read/write, exception vector n. */
export const crReadIntercept = (n: number): InterceptBit => ({ word: 0, bit: range(n, 16) });
export const crWriteIntercept = (n: number): InterceptBit => ({ word: 0, bit: 16 + range(n, 16) });
export const drReadIntercept = (n: number): InterceptBit => ({ word: 1, bit: range(n, 16) });
export const drWriteIntercept = (n: number): InterceptBit => ({ word: 1, bit: 16 + range(n, 16) });
export const exceptionIntercept = (vector: number): InterceptBit => ({ word: 2, bit: range(vector, 32) });

function range(n: number, limit: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= limit) throw new RangeError(`${n} is not in 0..${limit - 1}`);
  return n;
}

/** The six intercept words of a VMCB (a copy: what VMRUN latched, or what a view shows). */
export function readInterceptWords(mem: PhysMem, vmcbPa: number): Uint32Array {
  const out = new Uint32Array(6);
  for (let w = 0; w < 6; w++) out[w] = mem.read(vmcbPa + INTERCEPT_WORD_OFFSET[w]!, 4);
  return out;
}

/** Whether `which` is set in a set of intercept words. */
export function interceptSet(words: ArrayLike<number>, which: InterceptBit | InterceptName): boolean {
  const b = typeof which === 'string' ? INTERCEPT[which] : which;
  return ((words[b.word]! >>> b.bit) & 1) === 1;
}

/** Whether `which` is set in the VMCB at `vmcbPa`. */
export function isIntercepted(mem: PhysMem, vmcbPa: number, which: InterceptBit | InterceptName): boolean {
  const b = typeof which === 'string' ? INTERCEPT[which] : which;
  return ((mem.read(vmcbPa + INTERCEPT_WORD_OFFSET[b.word]!, 4) >>> b.bit) & 1) === 1;
}

/** Sets or clears one intercept bit in the VMCB at `vmcbPa`. */
export function setIntercept(mem: PhysMem, vmcbPa: number, which: InterceptBit | InterceptName, on = true): void {
  const b = typeof which === 'string' ? INTERCEPT[which] : which;
  const at = vmcbPa + INTERCEPT_WORD_OFFSET[b.word]!;
  const v = mem.read(at, 4);
  mem.write(at, 4, (on ? v | (1 << b.bit) : v & ~(1 << b.bit)) >>> 0);
}

// ---- I/O permission map (APM 15.10.1) ----

/** 12 KBytes: one bit per port 0..65535 (8 KBytes), and a third page for accesses that run past 0xFFFF. */
export const IOPM_SIZE = 3 * 4096;

/**
 * Whether an IN/OUT (or INS/OUTS) of `size` bytes at `port` is intercepted by the IOPM at
 * `iopmPa`: every port the access touches is checked (port … port + size − 1), so a 2-byte access
 * at 0xFFFF also reads bit 0x10000, which lies in the IOPM's third page. The intercept happens if
 * any of those bits is set. (Only consulted when the IOIO_PROT intercept is set.)
 */
export function ioIntercepted(mem: PhysMem, iopmPa: number, port: number, size: 1 | 2 | 4): boolean {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port ${port} is not in 0..0xffff`);
  for (let p = port; p < port + size; p++) {
    if (((mem.read8(iopmPa + (p >>> 3)) >>> (p & 7)) & 1) === 1) return true;
  }
  return false;
}

/** Sets or clears the IOPM bit of one port (a hypervisor's helper: it writes the map in memory). */
export function setIopmBit(mem: PhysMem, iopmPa: number, port: number, on = true): void {
  if (!Number.isInteger(port) || port < 0 || port > 0x10002) throw new RangeError(`port bit ${port} is outside the IOPM`);
  const at = iopmPa + (port >>> 3);
  const v = mem.read8(at);
  mem.write8(at, on ? v | (1 << (port & 7)) : v & ~(1 << (port & 7)));
}

// ---- MSR permission map (APM 15.11) ----

/** 8 KBytes: two bits per MSR (read, write) for three ranges of 8192 MSRs; the last 2 KBytes are reserved. */
export const MSRPM_SIZE = 2 * 4096;

/** The MSR ranges the MSRPM covers and the byte offset of each range's 2-KByte vector. */
export const MSRPM_RANGES = [
  { first: 0x0000_0000, last: 0x0000_1fff, byteOffset: 0x000 },
  { first: 0xc000_0000, last: 0xc000_1fff, byteOffset: 0x800 },
  { first: 0xc001_0000, last: 0xc001_1fff, byteOffset: 0x1000 },
] as const;

/**
 * Where an MSR's read bit sits in the MSRPM: byte offset and bit (the write bit is the next bit,
 * in the same byte). `null` for an MSR outside the three ranges: such accesses are always
 * intercepted when MSR_PROT is set.
 */
export function msrpmLocation(msr: number): { byte: number; bit: number } | null {
  const m = msr >>> 0;
  for (const r of MSRPM_RANGES) {
    if (m >= r.first && m <= r.last) {
      const n = m - r.first;
      return { byte: r.byteOffset + (n >>> 2), bit: (n & 3) * 2 };
    }
  }
  return null;
}

/** Whether RDMSR (`write` false) or WRMSR (`write` true) of `msr` is intercepted by the MSRPM at `msrpmPa`. */
export function msrIntercepted(mem: PhysMem, msrpmPa: number, msr: number, write: boolean): boolean {
  const loc = msrpmLocation(msr);
  if (loc === null) return true;
  return ((mem.read8(msrpmPa + loc.byte) >>> (loc.bit + (write ? 1 : 0))) & 1) === 1;
}

/** Sets or clears the read or write bit of one MSR in the MSRPM. */
export function setMsrpmBit(mem: PhysMem, msrpmPa: number, msr: number, write: boolean, on = true): void {
  const loc = msrpmLocation(msr);
  if (loc === null) throw new RangeError(`MSR ${(msr >>> 0).toString(16)} is not covered by the MSRPM`);
  const at = msrpmPa + loc.byte;
  const bit = loc.bit + (write ? 1 : 0);
  const v = mem.read8(at);
  mem.write8(at, on ? v | (1 << bit) : v & ~(1 << bit));
}
