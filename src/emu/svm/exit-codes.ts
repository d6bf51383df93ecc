/**
 * #VMEXIT EXITCODE values (AMD APM Vol. 2, Appendix C, "SVM Intercept Exit Codes"). EXITCODE is a
 * 64-bit field at VMCB offset 0x070; every code fits in 32 bits except VMEXIT_INVALID, which is
 * −1 as a 64-bit value (all ones). Names drop the APM's `VMEXIT_` prefix; `exitCodeName` adds it.
 */
import type { U64 } from './vmcb.ts';

const table: Record<string, number> = {};
for (let n = 0; n < 16; n++) {
  table[`CR${n}_READ`] = 0x00 + n;
  table[`CR${n}_WRITE`] = 0x10 + n;
  table[`DR${n}_READ`] = 0x20 + n;
  table[`DR${n}_WRITE`] = 0x30 + n;
}
for (let v = 0; v < 32; v++) table[`EXCP${v}`] = 0x40 + v;
Object.assign(table, {
  INTR: 0x60, NMI: 0x61, SMI: 0x62, INIT: 0x63, VINTR: 0x64, CR0_SEL_WRITE: 0x65,
  IDTR_READ: 0x66, GDTR_READ: 0x67, LDTR_READ: 0x68, TR_READ: 0x69,
  IDTR_WRITE: 0x6a, GDTR_WRITE: 0x6b, LDTR_WRITE: 0x6c, TR_WRITE: 0x6d,
  RDTSC: 0x6e, RDPMC: 0x6f, PUSHF: 0x70, POPF: 0x71, CPUID: 0x72, RSM: 0x73, IRET: 0x74, SWINT: 0x75,
  INVD: 0x76, PAUSE: 0x77, HLT: 0x78, INVLPG: 0x79, INVLPGA: 0x7a, IOIO: 0x7b, MSR: 0x7c,
  TASK_SWITCH: 0x7d, FERR_FREEZE: 0x7e, SHUTDOWN: 0x7f,
  VMRUN: 0x80, VMMCALL: 0x81, VMLOAD: 0x82, VMSAVE: 0x83, STGI: 0x84, CLGI: 0x85, SKINIT: 0x86,
  RDTSCP: 0x87, ICEBP: 0x88, WBINVD: 0x89, MONITOR: 0x8a, MWAIT: 0x8b, MWAIT_CONDITIONAL: 0x8c,
  XSETBV: 0x8d, RDPRU: 0x8e, EFER_WRITE_TRAP: 0x8f,
});
for (let n = 0; n < 16; n++) table[`CR${n}_WRITE_TRAP`] = 0x90 + n;
Object.assign(table, {
  INVLPGB: 0xa0, INVLPGB_ILLEGAL: 0xa1, INVPCID: 0xa2, MCOMMIT: 0xa3, TLBSYNC: 0xa4, BUSLOCK: 0xa5, IDLE_HLT: 0xa6,
  NPF: 0x400, AVIC_INCOMPLETE_IPI: 0x401, AVIC_NOACCEL: 0x402, VMGEXIT: 0x403,
  INVALID: -1,
});

/** Every exit code by name (without the `VMEXIT_` prefix). */
export const SVM_EXIT: Readonly<Record<string, number>> = Object.freeze({ ...table });

/** The codes the layers above use by name, typed (a subset of SVM_EXIT, same values). */
export const SvmExit = {
  CR0_READ: 0x00, CR0_WRITE: 0x10, CR3_WRITE: 0x13, CR4_WRITE: 0x14, EXCP_BASE: 0x40,
  INTR: 0x60, NMI: 0x61, VINTR: 0x64, CPUID: 0x72, IRET: 0x74, HLT: 0x78, INVLPG: 0x79, IOIO: 0x7b, MSR: 0x7c,
  SHUTDOWN: 0x7f, VMRUN: 0x80, VMMCALL: 0x81, VMLOAD: 0x82, VMSAVE: 0x83, STGI: 0x84, CLGI: 0x85,
  NPF: 0x400, INVALID: -1,
} as const;

const byCode = new Map<number, string>(Object.entries(SVM_EXIT).map(([name, code]) => [code, name]));

/** The exit code of an exception intercept: VMEXIT_EXCP0 + vector. */
export function exceptionExitCode(vector: number): number {
  if (!Number.isInteger(vector) || vector < 0 || vector > 31) throw new RangeError(`exception vector ${vector} is not in 0..31`);
  return 0x40 + vector;
}

/** An exit code as the 64-bit EXITCODE field holds it (−1 → all ones). */
export function exitCodeToU64(code: number): U64 {
  if (!Number.isInteger(code) || code < -1 || code > 0xffffffff) throw new RangeError(`${code} is not an exit code`);
  return code === -1 ? { lo: 0xffffffff, hi: 0xffffffff } : { lo: code >>> 0, hi: 0 };
}

/** The exit code a 64-bit EXITCODE value holds (all ones → −1); other values above 32 bits are not codes. */
export function exitCodeFromU64(v: U64): number | undefined {
  if (v.hi >>> 0 === 0xffffffff && v.lo >>> 0 === 0xffffffff) return -1;
  return v.hi >>> 0 === 0 ? v.lo >>> 0 : undefined;
}

/** The APM name of an exit code (`VMEXIT_CPUID`), or undefined for an unassigned code. */
export function exitCodeName(code: number): string | undefined {
  const n = byCode.get(code);
  return n === undefined ? undefined : `VMEXIT_${n}`;
}
