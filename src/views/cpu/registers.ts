/** The registers view's data: which registers a mode shows, how values print, what bits mean. */
import type { ViewReg } from '../../worker/protocol.ts';

export interface RegRow {
  /** The ViewState register it reads. */
  key: ViewReg;
  /** The name shown: rax in 64-bit mode, eax in the others. */
  label: string;
  /** Hex digits shown: the low `digits` of the value. */
  digits: number;
}

const GPR64: readonly ViewReg[] = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const GPR32: readonly ViewReg[] = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp'];

/** 64-bit mode shows RAX..R15 and RIP in full; every other mode EAX..EDI and EIP (the low 32 bits). */
export function generalRows(mode: string): RegRow[] {
  const wide = mode === 'long64';
  const gprs = (wide ? GPR64 : GPR32).map((key) => ({ key, label: wide ? key : `e${key.slice(1)}`, digits: wide ? 16 : 8 }));
  return [...gprs, { key: 'rip', label: wide ? 'rip' : 'eip', digits: wide ? 16 : 8 }];
}

/** Control registers, EFER and the CS/SS selectors (whose low two bits are the RPL; CS's is the CPL). */
export function controlRows(mode: string): RegRow[] {
  const wide = mode === 'long64' || mode === 'compat';
  const cr = (key: ViewReg): RegRow => ({ key, label: key, digits: wide || key === 'efer' ? 16 : 8 });
  return [cr('cr0'), cr('cr2'), cr('cr3'), cr('cr4'), cr('efer'), { key: 'cs', label: 'cs', digits: 4 }, { key: 'ss', label: 'ss', digits: 4 }];
}

/** The hex digits of a `0x…` view value, lowest `digits` of them, zero-padded; '' for a malformed value. */
export function hexDigits(value: string | undefined, digits: number): string {
  if (value === undefined || !/^0x[0-9a-fA-F]+$/.test(value)) return '';
  return value.slice(2).padStart(digits, '0').slice(-digits).toLowerCase();
}

/** Hex digits grouped by 8 (a space between 32-bit halves) for reading. */
export function groupHex(hex: string): string {
  return hex.length <= 8 ? hex : `${hex.slice(0, -8)} ${hex.slice(-8)}`;
}

/** Bit `bit` (< 53) of a `0x…` value. */
function bitOf(value: string, bit: number): boolean {
  const hex = hexDigits(value, 16);
  if (hex === '') return false;
  const nibble = parseInt(hex[15 - Math.floor(bit / 4)] ?? '0', 16);
  return ((nibble >> (bit % 4)) & 1) === 1;
}

/** Named single-bit fields: [name, bit]. */
export type BitTable = readonly (readonly [string, number])[];

/** RFLAGS status and control flags (SDM Vol. 1, 3.4.3, Figure 3-8). */
export const RFLAGS_BITS: BitTable = [
  ['CF', 0], ['PF', 2], ['AF', 4], ['ZF', 6], ['SF', 7], ['TF', 8], ['IF', 9], ['DF', 10], ['OF', 11],
];
/** CR0 (SDM Vol. 3A, 2.5). */
export const CR0_BITS: BitTable = [
  ['PE', 0], ['MP', 1], ['EM', 2], ['TS', 3], ['ET', 4], ['NE', 5], ['WP', 16], ['AM', 18], ['NW', 29], ['CD', 30], ['PG', 31],
];
/** CR4 (SDM Vol. 3A, 2.5). */
export const CR4_BITS: BitTable = [
  ['VME', 0], ['PVI', 1], ['TSD', 2], ['DE', 3], ['PSE', 4], ['PAE', 5], ['MCE', 6], ['PGE', 7], ['PCE', 8],
  ['OSFXSR', 9], ['OSXMMEXCPT', 10], ['UMIP', 11], ['LA57', 12], ['VMXE', 13], ['SMXE', 14], ['FSGSBASE', 16],
  ['PCIDE', 17], ['OSXSAVE', 18], ['SMEP', 20], ['SMAP', 21], ['PKE', 22],
];
/** IA32_EFER (SDM Vol. 3A, 2.2.1; AMD APM Vol. 2, 3.1.7 for SVME). */
export const EFER_BITS: BitTable = [['SCE', 0], ['LME', 8], ['LMA', 10], ['NXE', 11], ['SVME', 12]];

/** The names of the bits of `table` set in `value`, in table order. */
export function setBits(value: string | undefined, table: BitTable): string[] {
  if (value === undefined) return [];
  return table.filter(([, bit]) => bitOf(value, bit)).map(([name]) => name);
}

export interface Rflags {
  flags: { name: string; set: boolean }[];
  /** I/O privilege level, bits 13:12. */
  iopl: number;
}

export function decodeRflags(value: string | undefined): Rflags {
  const v = value ?? '0x0';
  return {
    flags: RFLAGS_BITS.map(([name, bit]) => ({ name, set: bitOf(v, bit) })),
    iopl: (bitOf(v, 13) ? 2 : 0) + (bitOf(v, 12) ? 1 : 0),
  };
}

export const BIT_TABLES: Partial<Record<ViewReg, BitTable>> = { cr0: CR0_BITS, cr4: CR4_BITS, efer: EFER_BITS };
