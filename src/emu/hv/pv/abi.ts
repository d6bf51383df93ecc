/**
 * The paravirtual interface the lab's PV hypervisor offers (pv/backend.ts): the part of Xen's
 * 32-bit x86 guest ABI it implements, with Xen's own numbers and layouts so that a reader can put
 * the public headers next to it. Sources (Xen's public headers, xen-project/xen):
 * - `xen/include/public/xen.h`: the hypercall numbers (`__HYPERVISOR_*`), the calling convention
 *   ("x86_32: EAX = vector; EBX, ECX, EDX, ESI, EDI = args 1, 2, 3, 4, 5; EAX = return value"),
 *   MMU_NORMAL_PT_UPDATE, the MMUEXT_* commands and `struct mmuext_op`, the UVMF_* flags of
 *   update_va_mapping, CONSOLEIO_write, VIRQ_TIMER, `struct mmu_update` (two uint64_t: ptr, val),
 *   `struct vcpu_info` (64 bytes on x86), `struct shared_info` and `struct start_info`;
 * - `xen/include/public/arch-x86/xen-x86_32.h` (earlier `arch-x86_32.h`): `TRAP_INSTR "int $0x82"`,
 *   the flat selectors FLAT_RING1_CS 0xe019, FLAT_RING1_DS 0xe021, FLAT_RING3_CS 0xe02b,
 *   FLAT_RING3_DS 0xe033 that sit in the Xen-reserved part of every GDT, `struct arch_vcpu_info`
 *   (cr2, then five pad words);
 * - `xen/include/public/arch-x86/xen.h`: `struct trap_info` (vector, flags, cs, address; flags
 *   bits 0–1 the privilege level allowed to raise it with INT n, bit 2 "clear the event mask on
 *   entry", as Xen's TI_GET_DPL and TI_GET_IF read it), the table ending at an entry whose address is 0;
 * - `xen/include/public/sched.h`: SCHEDOP_yield 0, SCHEDOP_block 1, SCHEDOP_shutdown 2 with
 *   `struct sched_shutdown { unsigned int reason; }`, SHUTDOWN_poweroff 0 … SHUTDOWN_crash 3;
 * - `xen/include/public/event_channel.h`: EVTCHNOP_send 4 with `struct evtchn_send { port }`;
 * - `xen/include/xen/errno.h` (Linux's values): EPERM 1, EFAULT 14, EINVAL 22, ENOSYS 38; a
 *   hypercall returns −errno in EAX.
 */

/** The hypercall instruction of 32-bit PV guests: INT 0x82 (xen-x86_32.h TRAP_INSTR). */
export const HYPERCALL_VECTOR = 0x82;

/** Hypercall numbers (xen.h `__HYPERVISOR_*`) the lab implements. */
export const HC = {
  set_trap_table: 0,
  mmu_update: 1,
  stack_switch: 3,
  set_callbacks: 4,
  update_va_mapping: 14,
  xen_version: 17,
  console_io: 18,
  mmuext_op: 26,
  sched_op: 29,
  event_channel_op: 32,
} as const;
export type HypercallName = keyof typeof HC;
export const HC_NAMES: ReadonlyMap<number, HypercallName> = new Map(Object.entries(HC).map(([k, v]) => [v, k as HypercallName]));

/** mmu_update: ptr[1:0] is the command (xen.h). Only the checked page-table write is implemented. */
export const MMU_NORMAL_PT_UPDATE = 0;
export const MMU_MACHPHYS_UPDATE = 1;
/** struct mmu_update: uint64_t ptr, uint64_t val. */
export const MMU_UPDATE_SIZE = 16;

/** mmuext_op commands (xen.h). */
export const MMUEXT = {
  PIN_L1_TABLE: 0,
  PIN_L2_TABLE: 1,
  UNPIN_TABLE: 4,
  NEW_BASEPTR: 5,
  TLB_FLUSH_LOCAL: 6,
  INVLPG_LOCAL: 7,
} as const;
/** struct mmuext_op on x86_32: unsigned int cmd; union arg1 (mfn or linear_addr); union arg2. */
export const MMUEXT_OP_SIZE = 12;

/** update_va_mapping flags (xen.h UVMF_*). */
export const UVMF_NONE = 0;
export const UVMF_TLB_FLUSH = 1;
export const UVMF_INVLPG = 2;
export const UVMF_FLUSHTYPE_MASK = 3;

export const CONSOLEIO_write = 0;

/** sched_op commands and shutdown reasons (sched.h). */
export const SCHEDOP = { yield: 0, block: 1, shutdown: 2 } as const;
export const SHUTDOWN = { poweroff: 0, reboot: 1, suspend: 2, crash: 3 } as const;

/** event_channel_op commands (event_channel.h): only send. */
export const EVTCHNOP_send = 4;

/** VIRQ_TIMER (xen.h). */
export const VIRQ_TIMER = 0;

/** Xen's errno values, returned negated in EAX. */
export const ERRNO = { EPERM: 1, EFAULT: 14, EINVAL: 22, ENOSYS: 38 } as const;

/** The flat segments of the Xen-reserved GDT entries (xen-x86_32.h). */
export const FLAT_RING1_CS = 0xe019;
export const FLAT_RING1_DS = 0xe021;
export const FLAT_RING3_CS = 0xe02b;
export const FLAT_RING3_DS = 0xe033;

/** struct trap_info on x86_32: uint8_t vector, uint8_t flags, uint16_t cs, unsigned long address. */
export const TRAP_INFO_SIZE = 8;

/**
 * struct shared_info on x86_32 (xen.h): vcpu_info[32] of 64 bytes each, then evtchn_pending[32]
 * and evtchn_mask[32] (unsigned long bitmaps of 1024 ports).
 */
export const SHARED = {
  /** vcpu_info[0].evtchn_upcall_pending (uint8_t). */
  upcallPending: 0,
  /** vcpu_info[0].evtchn_upcall_mask (uint8_t): the PV kernel's "interrupt flag", inverted. */
  upcallMask: 1,
  /** vcpu_info[0].evtchn_pending_sel (unsigned long at offset 4). */
  pendingSel: 4,
  /** vcpu_info[0].arch.cr2: where the hypervisor leaves the #PF address for the guest. */
  cr2: 8,
  /** evtchn_pending[]: after 32 vcpu_info of 64 bytes. */
  evtchnPending: 32 * 64,
  /** evtchn_mask[]: after evtchn_pending's 32 longs. */
  evtchnMask: 32 * 64 + 32 * 4,
} as const;

/** struct start_info on x86_32 (xen.h): the fields the lab's domain builder fills. */
export const START_INFO = {
  magic: 0,
  nrPages: 32,
  sharedInfo: 36,
  flags: 40,
  ptBase: 60,
  nrPtFrames: 64,
} as const;
export const START_INFO_MAGIC = 'xen-3.0-x86_32';
