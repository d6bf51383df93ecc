/**
 * Where the builder puts things (a scenario's fixed memory map), and the constants it hands to the
 * kernel and user programs as `NAME equ value` lines.
 *
 * Physical memory (boot 'kernel'):
 *
 * | range | what |
 * | --- | --- |
 * | 0x1000 | GDT (7 descriptors, the TSS's taking two slots in long64) |
 * | 0x2000 | IDT (256 gates) |
 * | 0x3000 | TSS (32-bit or 64-bit format) |
 * | 0x4000 | the default exception handler (`hlt; jmp $-1`) |
 * | 0x8000..0x10000 | kernel stack (TSS.ESP0/RSP0 = KERNEL_STACK_TOP) |
 * | 0x10000..0x100000 | page-table pool (240 pages, bump-allocated) |
 * | 0x100000..0x200000 | the kernel image (KERNEL_BASE) |
 * | 0x200000..0x2ff000 | the user image (mapped at USER_BASE) |
 * | 0x2ff000..0x300000 | the user stack page (mapped just below USER_STACK_TOP) |
 * | 0x300000.. | free for the kernel (FREE_BASE), up to MEM_SIZE |
 *
 * Linear memory with paging: [0, MEM_SIZE) identity-mapped, supervisor-only, writable (large
 * pages where aligned); the user image at USER_BASE = 0x40000000 and its stack below
 * USER_STACK_TOP, user-accessible; the rest of the user's page table (USER_PT) not present.
 * Without paging, linear = physical, and USER_BASE = 0x200000.
 */
import type { Mode, PagingMode } from './schema.ts';

export const GDT_BASE = 0x1000;
export const IDT_BASE = 0x2000;
export const TSS_BASE = 0x3000;
export const DEFAULT_HANDLER_BASE = 0x4000;
export const KERNEL_STACK_TOP = 0x10000;
export const PT_POOL_BASE = 0x10000;
export const PT_POOL_END = 0x100000;
export const KERNEL_BASE = 0x100000;
export const KERNEL_LIMIT = 0x200000;
export const USER_PHYS = 0x200000;
export const USER_IMAGE_MAX = 0xff000;
export const USER_STACK_PHYS = 0x2ff000;
export const FREE_BASE = 0x300000;
export const USER_BASE_PAGED = 0x40000000;
/** Linear span of the user region: image and stack. */
export const USER_SPAN = 0x100000;

/**
 * GDT selectors. The order makes both fast system-call pairs work: SYSCALL loads CS = STAR[47:32]
 * and SS = +8; SYSRET to 64-bit code loads CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8 (SDM
 * Vol. 2B, SYSCALL/SYSRET); SYSENTER loads CS = SYSENTER_CS, SS = +8; SYSEXIT CS = +16, SS = +24.
 */
export const Sel = {
  KERNEL_CS: 0x08,
  KERNEL_DS: 0x10,
  USER_CS32: 0x18,
  USER_DS: 0x20,
  USER_CS64: 0x28,
  TSS: 0x30,
} as const;

export interface Layout {
  mode: Mode;
  paging: PagingMode;
  memSize: number;
  userBase: number;
  userStackTop: number;
  /** Physical address of the last-level page table covering USER_BASE (0 without paging). */
  userPt: number;
  /** Bytes per page-table entry: 4 (32-bit paging) or 8. */
  pteSize: number;
  userCs: number;
  userDs: number;
  uartPort: number;
  timerVector: number;
}

export function makeLayout(mode: Mode, paging: PagingMode, memSize: number, uartPort: number, timerVector: number): Layout {
  const paged = paging !== 'none';
  return {
    mode,
    paging,
    memSize,
    userBase: paged ? USER_BASE_PAGED : USER_PHYS,
    userStackTop: (paged ? USER_BASE_PAGED : USER_PHYS) + USER_SPAN,
    // The first table the page-table pool hands out after the identity map's (build.ts allocates
    // the user region's table first, so its address is known before assembling).
    userPt: paged ? PT_POOL_BASE + 0x1000 * userPtIndex(paging) : 0,
    pteSize: paging === '32bit' ? 4 : 8,
    userCs: (mode === 'long64' ? Sel.USER_CS64 : Sel.USER_CS32) | 3,
    userDs: Sel.USER_DS | 3,
    uartPort,
    timerVector,
  };
}

/**
 * The pool index of the user page table: build.ts allocates the top-level tables first, then walks
 * down to USER_BASE, so the user PT is the (number of levels)th table allocated.
 */
function userPtIndex(paging: PagingMode): number {
  switch (paging) {
    case '32bit': return 1; // PD, PT
    case 'pae': return 2; // PDPT, PD, PT
    case '4level': return 3; // PML4, PDPT, PD, PT
    case '5level': return 4; // PML5, PML4, PDPT, PD, PT
    case 'none': return 0;
  }
}

/** The `equ` constants given to the programs, in order. `USER_ENTRY` is the kernel's only. */
export function builderConstants(l: Layout, userEntry: number | null): [string, number][] {
  const c: [string, number][] = [
    ['KERNEL_BASE', KERNEL_BASE],
    ['KERNEL_STACK_TOP', KERNEL_STACK_TOP],
    ['USER_BASE', l.userBase],
    ['USER_STACK_TOP', l.userStackTop],
    ['USER_PT', l.userPt],
    ['PTE_SIZE', l.pteSize],
    ['FREE_BASE', FREE_BASE],
    ['MEM_SIZE', l.memSize],
    ['KERNEL_CS', Sel.KERNEL_CS],
    ['KERNEL_DS', Sel.KERNEL_DS],
    ['USER_CS', l.userCs],
    ['USER_DS', l.userDs],
    ['TSS_SEL', Sel.TSS],
    ['UART_PORT', l.uartPort],
    ['TIMER_VECTOR', l.timerVector],
  ];
  if (userEntry !== null) c.push(['USER_ENTRY', userEntry]);
  return c;
}

export const BUILDER_CONSTANT_NAMES = [
  'KERNEL_BASE', 'KERNEL_STACK_TOP', 'USER_BASE', 'USER_STACK_TOP', 'USER_PT', 'PTE_SIZE', 'FREE_BASE', 'MEM_SIZE',
  'KERNEL_CS', 'KERNEL_DS', 'USER_CS', 'USER_DS', 'TSS_SEL', 'UART_PORT', 'TIMER_VECTOR', 'USER_ENTRY',
] as const;
