/**
 * Exit qualifications and the event-information fields, as named parts (Intel SDM Vol. 3C,
 * 28.2.1 "Basic VM-Exit Information" with Tables 28-1 to 28-7, 28.2.2 and 28.2.4 for the
 * interruption and IDT-vectoring information, 25.8.3 "VM-Entry Controls for Event Injection").
 *
 * Each format is a layout: a list of named bit ranges. `decode*` turns a field's value into an
 * object, `encode*` the object back into the value; bits a layout does not name are reserved and
 * encode as 0. The layouts are data so that the VMCS inspector can draw a field bit by bit.
 */

export interface BitRange {
  readonly name: string;
  /** Lowest bit. */
  readonly lo: number;
  /** Highest bit (= lo for a flag). */
  readonly hi: number;
  readonly title: string;
}

export type Layout = readonly BitRange[];

/**
 * A range's name as the SDM's table writes it, short enough for a bit strip: its title up to the
 * first colon or parenthesis ("Size of access", "Port number", "Access type").
 */
export function bitLabel(f: BitRange): string {
  return f.title.split(/:| \(/)[0]!.trim();
}

const r = (name: string, lo: number, hi: number, title: string): BitRange => ({ name, lo, hi, title });

function get(value: number, f: BitRange): number {
  const width = f.hi - f.lo + 1;
  return width >= 32 ? value >>> 0 : ((value >>> f.lo) & ((1 << width) - 1)) >>> 0;
}

/** A 32-bit value as { name: number } by layout. */
export function decodeLayout(layout: Layout, value: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of layout) out[f.name] = get(value >>> 0, f) >>> 0;
  return out;
}

/** The inverse of decodeLayout; fields absent count as 0, and each is masked to its width. */
export function encodeLayout(layout: Layout, parts: Readonly<Record<string, number | boolean | undefined>>): number {
  let v = 0;
  for (const f of layout) {
    const raw = parts[f.name];
    const n = typeof raw === 'boolean' ? (raw ? 1 : 0) : (raw ?? 0);
    const width = f.hi - f.lo + 1;
    const mask = width >= 32 ? 0xffffffff : (1 << width) - 1;
    v |= (n & mask) << f.lo;
  }
  return v >>> 0;
}

/** The bits a layout names, as a mask. */
export function layoutMask(layout: Layout): number {
  return layout.reduce((a, f) => (a | ((f.hi - f.lo + 1 >= 32 ? 0xffffffff : ((1 << (f.hi - f.lo + 1)) - 1) << f.lo) >>> 0)) >>> 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Control-register accesses (Table 28-3)

export const CR_ACCESS_LAYOUT: Layout = [
  r('cr', 0, 3, 'Number of control register (0 for CLTS and LMSW)'),
  r('accessType', 4, 5, 'Access type: 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW'),
  r('lmswOperand', 6, 6, 'LMSW operand type: 0 register, 1 memory'),
  r('gpr', 8, 11, 'For MOV CR, the general-purpose register (0 RAX ... 15 R15)'),
  r('lmswSource', 16, 31, 'For LMSW, the LMSW source data'),
];

export const CrAccessType = { MOV_TO_CR: 0, MOV_FROM_CR: 1, CLTS: 2, LMSW: 3 } as const;
export type CrAccessKind = 'mov-to-cr' | 'mov-from-cr' | 'clts' | 'lmsw';
const CR_KINDS: readonly CrAccessKind[] = ['mov-to-cr', 'mov-from-cr', 'clts', 'lmsw'];

export interface CrAccessQualification {
  cr: number;
  access: CrAccessKind;
  /** LMSW with a memory operand. */
  lmswMemory: boolean;
  /** MOV CR: the general-purpose register number. */
  gpr: number;
  /** LMSW: the 16-bit source. */
  lmswSource: number;
}

export function decodeCrAccess(q: number): CrAccessQualification {
  const p = decodeLayout(CR_ACCESS_LAYOUT, q);
  return { cr: p.cr!, access: CR_KINDS[p.accessType!]!, lmswMemory: p.lmswOperand === 1, gpr: p.gpr!, lmswSource: p.lmswSource! };
}

export function encodeCrAccess(q: CrAccessQualification): number {
  return encodeLayout(CR_ACCESS_LAYOUT, {
    cr: q.cr,
    accessType: CR_KINDS.indexOf(q.access),
    lmswOperand: q.lmswMemory,
    gpr: q.gpr,
    lmswSource: q.lmswSource,
  });
}

// ---------------------------------------------------------------------------------------------
// MOV DR (Table 28-4)

export const DR_ACCESS_LAYOUT: Layout = [
  r('dr', 0, 2, 'Number of debug register'),
  r('direction', 4, 4, 'Direction of access: 0 MOV to DR, 1 MOV from DR'),
  r('gpr', 8, 11, 'General-purpose register'),
];

// ---------------------------------------------------------------------------------------------
// I/O instructions (Table 28-5)

export const IO_LAYOUT: Layout = [
  r('size', 0, 2, 'Size of access: 0 = 1 byte, 1 = 2 bytes, 3 = 4 bytes'),
  r('direction', 3, 3, 'Direction of the attempted access: 0 OUT, 1 IN'),
  r('string', 4, 4, 'String instruction: 0 not string, 1 string'),
  r('rep', 5, 5, 'REP prefixed: 0 not REP, 1 REP'),
  r('operand', 6, 6, 'Operand encoding: 0 DX, 1 immediate'),
  r('port', 16, 31, 'Port number (as specified in DX or in an immediate operand)'),
];

export interface IoQualification {
  size: 1 | 2 | 4;
  direction: 'in' | 'out';
  string: boolean;
  rep: boolean;
  /** The port came from an immediate operand (else from DX). */
  immediate: boolean;
  port: number;
}

export function decodeIo(q: number): IoQualification {
  const p = decodeLayout(IO_LAYOUT, q);
  const size = p.size === 0 ? 1 : p.size === 1 ? 2 : 4;
  return { size, direction: p.direction === 1 ? 'in' : 'out', string: p.string === 1, rep: p.rep === 1, immediate: p.operand === 1, port: p.port! };
}

export function encodeIo(q: IoQualification): number {
  return encodeLayout(IO_LAYOUT, {
    size: q.size - 1,
    direction: q.direction === 'in',
    string: q.string,
    rep: q.rep,
    operand: q.immediate,
    port: q.port,
  });
}

// ---------------------------------------------------------------------------------------------
// EPT violations (Table 28-7)

export const EPT_VIOLATION_LAYOUT: Layout = [
  r('read', 0, 0, 'The access was a data read'),
  r('write', 1, 1, 'The access was a data write'),
  r('fetch', 2, 2, 'The access was an instruction fetch'),
  r('readable', 3, 3, 'The guest-physical address was readable (AND of the R bits of the walk)'),
  r('writable', 4, 4, 'The guest-physical address was writable'),
  r('executable', 5, 5, 'The guest-physical address was executable'),
  r('userExecutable', 6, 6, 'The guest-physical address was user-mode executable (mode-based execute control)'),
  r('linearValid', 7, 7, 'The guest linear-address field is valid'),
  r('translated', 8, 8, 'The access was to the translated linear address (else to a guest paging-structure entry)'),
  r('userLinear', 9, 9, 'Advanced information: the linear address is user-mode'),
  r('writableLinear', 10, 10, 'Advanced information: the linear address is writable'),
  r('executeDisableLinear', 11, 11, 'Advanced information: the linear address is execute-disable'),
  r('nmiUnblocking', 12, 12, 'NMI unblocking due to IRET'),
  r('shadowStack', 13, 13, 'Shadow-stack access'),
  r('supervisorShadowStack', 14, 14, 'Supervisor shadow-stack page'),
];

export interface EptViolationQualification {
  read: boolean;
  write: boolean;
  fetch: boolean;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  userExecutable: boolean;
  linearValid: boolean;
  translated: boolean;
  userLinear: boolean;
  writableLinear: boolean;
  executeDisableLinear: boolean;
  nmiUnblocking: boolean;
  shadowStack: boolean;
  supervisorShadowStack: boolean;
}

export function decodeEptViolation(q: number): EptViolationQualification {
  const p = decodeLayout(EPT_VIOLATION_LAYOUT, q);
  const b = (k: string): boolean => p[k] === 1;
  return {
    read: b('read'), write: b('write'), fetch: b('fetch'), readable: b('readable'), writable: b('writable'),
    executable: b('executable'), userExecutable: b('userExecutable'), linearValid: b('linearValid'),
    translated: b('translated'), userLinear: b('userLinear'), writableLinear: b('writableLinear'),
    executeDisableLinear: b('executeDisableLinear'), nmiUnblocking: b('nmiUnblocking'), shadowStack: b('shadowStack'),
    supervisorShadowStack: b('supervisorShadowStack'),
  };
}

export function encodeEptViolation(q: Partial<EptViolationQualification>): number {
  return encodeLayout(EPT_VIOLATION_LAYOUT, q);
}

// ---------------------------------------------------------------------------------------------
// INVLPG (Table 28-1): the qualification is the linear-address operand, all 64 bits.

export function encodeInvlpg(linear: bigint): bigint {
  return BigInt.asUintN(64, linear);
}

export function decodeInvlpg(q: bigint): { linear: bigint } {
  return { linear: BigInt.asUintN(64, q) };
}

// ---------------------------------------------------------------------------------------------
// Interruption information: VM-exit interruption information (Table 25-19), IDT-vectoring
// information (Table 25-20) and VM-entry interruption information (Table 25-16) share the layout;
// bit 12 means NMI unblocking due to IRET in the first, is undefined in the second and reserved
// (0) in the third.

export const INTERRUPTION_INFO_LAYOUT: Layout = [
  r('vector', 0, 7, 'Vector of interrupt or exception'),
  r('type', 8, 10, 'Interruption type'),
  r('errorCodeValid', 11, 11, 'Error code valid (deliver error code, for VM entry)'),
  r('nmiUnblocking', 12, 12, 'NMI unblocking due to IRET (VM-exit interruption information only)'),
  r('valid', 31, 31, 'Valid'),
];

/** The IDT-vectoring information field (Table 25-20): the same layout without bit 12, which is undefined there. */
export const IDT_VECTORING_INFO_LAYOUT: Layout = INTERRUPTION_INFO_LAYOUT.filter((f) => f.lo !== 12);

/** Interruption types (bits 10:8). 1 is reserved; 7 is "other event" (MTF on entry). */
export const InterruptionType = {
  EXTERNAL_INTERRUPT: 0,
  NMI: 2,
  HARDWARE_EXCEPTION: 3,
  SOFTWARE_INTERRUPT: 4,
  PRIVILEGED_SOFTWARE_EXCEPTION: 5,
  SOFTWARE_EXCEPTION: 6,
  OTHER_EVENT: 7,
} as const;

export interface InterruptionInfo {
  vector: number;
  type: number;
  errorCodeValid: boolean;
  nmiUnblocking: boolean;
  valid: boolean;
}

export function decodeInterruptionInfo(v: number): InterruptionInfo {
  const p = decodeLayout(INTERRUPTION_INFO_LAYOUT, v);
  return { vector: p.vector!, type: p.type!, errorCodeValid: p.errorCodeValid === 1, nmiUnblocking: p.nmiUnblocking === 1, valid: p.valid === 1 };
}

export function encodeInterruptionInfo(i: Partial<InterruptionInfo>): number {
  return encodeLayout(INTERRUPTION_INFO_LAYOUT, i);
}

/** Bits of the VM-entry interruption-information field that must be 0 (30:12). */
export const ENTRY_INTR_INFO_RESERVED = 0x7ffff000;

// ---------------------------------------------------------------------------------------------
// Guest interruptibility state (Table 25-3) and segment access rights in the VMCS (Table 25-2)

export const INTERRUPTIBILITY_LAYOUT: Layout = [
  r('blockingBySti', 0, 0, 'Blocking by STI'),
  r('blockingByMovSs', 1, 1, 'Blocking by MOV SS'),
  r('blockingBySmi', 2, 2, 'Blocking by SMI'),
  r('blockingByNmi', 3, 3, 'Blocking by NMI'),
  r('enclaveInterruption', 4, 4, 'Enclave interruption'),
];

export const ACCESS_RIGHTS_LAYOUT: Layout = [
  r('type', 0, 3, 'Segment type'),
  r('s', 4, 4, 'S: descriptor type (0 system, 1 code or data)'),
  r('dpl', 5, 6, 'DPL: descriptor privilege level'),
  r('p', 7, 7, 'P: segment present'),
  r('avl', 12, 12, 'AVL: available for system software'),
  r('l', 13, 13, 'L: 64-bit mode active (CS only)'),
  r('db', 14, 14, 'D/B: default operation size'),
  r('g', 15, 15, 'G: granularity'),
  r('unusable', 16, 16, 'Segment unusable'),
];

/** Access-rights bits that must be 0 in a usable segment (11:8 and 31:17). */
export const ACCESS_RIGHTS_RESERVED = 0xfffe0f00;
export const AR_UNUSABLE = 1 << 16;
