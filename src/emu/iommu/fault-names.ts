/**
 * The names of the IOMMUs' fault reasons and event codes, for the views (timeline, narration):
 * VT-d's fault reasons (FR) worded as Xen's dma_remap_fault_reasons[] (tests/reference/vtd.json
 * `fault_reasons`), AMD-Vi's event-log types as Linux names them (amd-vi.json `event_log.types`).
 * These are identifiers the manuals and kernels print, kept untranslated in both languages.
 * Plain data: the views import it without the remappers.
 */

/** VT-d DMA-remapping fault reasons 0x0..0xd (the interrupt-remapping ones, 0x20 and up, are not DMA faults). */
export const VTD_FAULT_NAMES: Readonly<Record<number, string>> = {
  0x0: 'Software',
  0x1: 'Present bit in root entry is clear',
  0x2: 'Present bit in context entry is clear',
  0x3: 'Invalid context entry',
  0x4: 'Access beyond MGAW',
  0x5: 'PTE Write access is not set',
  0x6: 'PTE Read access is not set',
  0x7: 'Next page table ptr is invalid',
  0x8: 'Root table address invalid',
  0x9: 'Context table ptr is invalid',
  0xa: 'non-zero reserved fields in RTP',
  0xb: 'non-zero reserved fields in CTP',
  0xc: 'non-zero reserved fields in PTE',
  0xd: 'Blocked a DMA translation request',
};

/**
 * VT-d interrupt-remapping fault reasons 0x20..0x26, worded as Xen's intr_remap_fault_reasons[]
 * (vtd.json `fault_reasons`, without its "(IR) " prefix).
 */
export const VTD_IR_FAULT_NAMES: Readonly<Record<number, string>> = {
  0x20: 'reserved fields in the decoded interrupt-remapped request',
  0x21: 'interrupt index exceeded the interrupt-remapping table size',
  0x22: 'present field in the IRTE is clear',
  0x23: 'error accessing interrupt-remapping table pointed by IRTA_REG',
  0x24: 'reserved fields in the IRTE',
  0x25: 'blocked a compatibility format interrupt request',
  0x26: 'blocked an interrupt request due to source-id verification failure',
};

/** "present field in the IRTE is clear", or null for a reason that is not an interrupt-remapping one. */
export function vtdIrFaultName(reason: number): string | null {
  return VTD_IR_FAULT_NAMES[reason] ?? null;
}

/** AMD-Vi event-log entry types (EVENT_TYPE, dword1 bits 31:28) the hardware defines. */
export const AMDVI_EVENT_NAMES: Readonly<Record<number, string>> = {
  1: 'ILLEGAL_DEV_TABLE_ENTRY',
  2: 'IO_PAGE_FAULT',
  3: 'DEV_TAB_HW_ERROR',
  4: 'PAGE_TAB_HW_ERROR',
  5: 'ILLEGAL_COMMAND_ERROR',
  6: 'COMMAND_HW_ERROR',
  7: 'IOTLB_INV_TIMEOUT',
  8: 'INVALID_DEV_REQUEST',
};

/** "PTE Read access is not set", or null for a reason the table does not name. */
export function vtdFaultName(reason: number): string | null {
  return VTD_FAULT_NAMES[reason] ?? null;
}

/** "IO_PAGE_FAULT", or null for a code the table does not name. */
export function amdViEventName(code: number): string | null {
  return AMDVI_EVENT_NAMES[code] ?? null;
}
