/**
 * The VMCS field catalogue (Intel SDM Vol. 3C, 25.11.2 "VMREAD, VMWRITE, and Encodings of VMCS
 * Fields" and Appendix B "Field Encoding in VMCS").
 *
 * Software names a VMCS field only by its 32-bit encoding; the encoding itself says what the field
 * is:
 *
 *   bit 0       access type: 0 = full, 1 = high (the upper 32 bits of a 64-bit field; only 64-bit
 *               fields have a high access)
 *   bits 9:1    index
 *   bits 11:10  type: 0 control, 1 VM-exit information (read-only data), 2 guest state, 3 host state
 *   bit 12      reserved (0)
 *   bits 14:13  width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural width
 *   bits 31:15  reserved (0)
 *
 * Field identifiers are the names hypervisors use in their sources (Linux's `enum vmcs_field`,
 * which the reference table follows); `title` is the field's name as the SDM's Appendix B writes
 * it, for the inspector. Natural-width fields are 64 bits wide on this lab's processor, which
 * supports Intel 64.
 */

export type FieldType = 'control' | 'exit-info' | 'guest' | 'host';
export type FieldWidth = '16' | '64' | '32' | 'natural';
export type Access = 'full' | 'high';

/** Type (bits 11:10) in encoding order. */
export const FIELD_TYPES: readonly FieldType[] = ['control', 'exit-info', 'guest', 'host'];
/** Width (bits 14:13) in encoding order. */
export const FIELD_WIDTHS: readonly FieldWidth[] = ['16', '64', '32', 'natural'];

/** Bits an encoding must have clear: bit 12 and bits 31:15. */
export const ENCODING_RESERVED = 0xffff9000;

/** The parts of a field encoding. */
export interface DecodedEncoding {
  access: Access;
  index: number;
  type: FieldType;
  width: FieldWidth;
  /** Whether any of bit 12 or bits 31:15 is set (no field has such an encoding). */
  reservedSet: boolean;
}

/** Splits a 32-bit encoding into its parts (SDM Vol. 3C, Table 25-21 "Structure of VMCS Component Encoding"). */
export function decodeEncoding(encoding: number): DecodedEncoding {
  const e = encoding >>> 0;
  return {
    access: (e & 1) === 0 ? 'full' : 'high',
    index: (e >>> 1) & 0x1ff,
    type: FIELD_TYPES[(e >>> 10) & 3]!,
    width: FIELD_WIDTHS[(e >>> 13) & 3]!,
    reservedSet: (e & ENCODING_RESERVED) !== 0,
  };
}

/** Builds an encoding from its parts (the inverse of decodeEncoding for encodings without reserved bits). */
export function composeEncoding(p: { access: Access; index: number; type: FieldType; width: FieldWidth }): number {
  return (
    ((FIELD_WIDTHS.indexOf(p.width) << 13) | (FIELD_TYPES.indexOf(p.type) << 10) | ((p.index & 0x1ff) << 1) | (p.access === 'high' ? 1 : 0)) >>> 0
  );
}

/** Width of a field in bits on this processor (natural width = 64: the lab models Intel 64). */
export function widthBits(width: FieldWidth): 16 | 32 | 64 {
  return width === '16' ? 16 : width === '32' ? 32 : 64;
}

/**
 * The processor feature a field belongs to: a field exists on a processor only if the processor
 * supports the feature (SDM Vol. 3C, Appendix B: "This field exists only on processors that
 * support the 1-setting of ..."). `base` fields exist on every processor with VMX.
 */
export type FieldFeature =
  | 'base'
  | 'vpid'
  | 'ept'
  | 'pat'
  | 'efer'
  | 'preemption-timer'
  | 'posted-interrupts'
  | 'ipi-virtualization'
  | 'virtual-interrupt-delivery'
  | 'pml'
  | 'tpr-shadow'
  | 'apic-access'
  | 'vmfunc'
  | 'shadow-vmcs'
  | 'ept-violation-ve'
  | 'xsaves'
  | 'encls'
  | 'tsc-scaling'
  | 'tertiary-controls'
  | 'perf-global-ctrl'
  | 'bndcfgs'
  | 'rtit'
  | 'pause-loop-exiting'
  | 'notify';

export interface VmcsField {
  /** The identifier hypervisor sources use (e.g. GUEST_RIP). */
  readonly name: string;
  /** The full-access encoding. */
  readonly encoding: number;
  /** The SDM's name (Appendix B). */
  readonly title: string;
  readonly feature: FieldFeature;
  readonly type: FieldType;
  readonly width: FieldWidth;
  readonly bits: 16 | 32 | 64;
  /** Position in the catalogue (the lab's VMCS-region layout uses it: see vmcs.ts). */
  readonly slot: number;
}

type Row = readonly [name: string, encoding: number, title: string, feature?: FieldFeature];

// Appendix B, table by table: 16-bit (B.1), 64-bit (B.2), 32-bit (B.3), natural-width (B.4); within each,
// control, read-only data, guest state, host state.
const ROWS: readonly Row[] = [
  // B.1.1 16-bit control fields
  ['VIRTUAL_PROCESSOR_ID', 0x0000, 'Virtual-processor identifier (VPID)', 'vpid'],
  ['POSTED_INTR_NV', 0x0002, 'Posted-interrupt notification vector', 'posted-interrupts'],
  ['LAST_PID_POINTER_INDEX', 0x0008, 'Last PID-pointer index', 'ipi-virtualization'],
  // B.1.2 16-bit guest-state fields
  ['GUEST_ES_SELECTOR', 0x0800, 'Guest ES selector'],
  ['GUEST_CS_SELECTOR', 0x0802, 'Guest CS selector'],
  ['GUEST_SS_SELECTOR', 0x0804, 'Guest SS selector'],
  ['GUEST_DS_SELECTOR', 0x0806, 'Guest DS selector'],
  ['GUEST_FS_SELECTOR', 0x0808, 'Guest FS selector'],
  ['GUEST_GS_SELECTOR', 0x080a, 'Guest GS selector'],
  ['GUEST_LDTR_SELECTOR', 0x080c, 'Guest LDTR selector'],
  ['GUEST_TR_SELECTOR', 0x080e, 'Guest TR selector'],
  ['GUEST_INTR_STATUS', 0x0810, 'Guest interrupt status', 'virtual-interrupt-delivery'],
  ['GUEST_PML_INDEX', 0x0812, 'PML index', 'pml'],
  // B.1.3 16-bit host-state fields
  ['HOST_ES_SELECTOR', 0x0c00, 'Host ES selector'],
  ['HOST_CS_SELECTOR', 0x0c02, 'Host CS selector'],
  ['HOST_SS_SELECTOR', 0x0c04, 'Host SS selector'],
  ['HOST_DS_SELECTOR', 0x0c06, 'Host DS selector'],
  ['HOST_FS_SELECTOR', 0x0c08, 'Host FS selector'],
  ['HOST_GS_SELECTOR', 0x0c0a, 'Host GS selector'],
  ['HOST_TR_SELECTOR', 0x0c0c, 'Host TR selector'],
  // B.2.1 64-bit control fields
  ['IO_BITMAP_A', 0x2000, 'Address of I/O bitmap A'],
  ['IO_BITMAP_B', 0x2002, 'Address of I/O bitmap B'],
  ['MSR_BITMAP', 0x2004, 'Address of MSR bitmaps'],
  ['VM_EXIT_MSR_STORE_ADDR', 0x2006, 'VM-exit MSR-store address'],
  ['VM_EXIT_MSR_LOAD_ADDR', 0x2008, 'VM-exit MSR-load address'],
  ['VM_ENTRY_MSR_LOAD_ADDR', 0x200a, 'VM-entry MSR-load address'],
  ['PML_ADDRESS', 0x200e, 'PML address', 'pml'],
  ['TSC_OFFSET', 0x2010, 'TSC offset'],
  ['VIRTUAL_APIC_PAGE_ADDR', 0x2012, 'Virtual-APIC address', 'tpr-shadow'],
  ['APIC_ACCESS_ADDR', 0x2014, 'APIC-access address', 'apic-access'],
  ['POSTED_INTR_DESC_ADDR', 0x2016, 'Posted-interrupt descriptor address', 'posted-interrupts'],
  ['VM_FUNCTION_CONTROL', 0x2018, 'VM-function controls', 'vmfunc'],
  ['EPT_POINTER', 0x201a, 'EPT pointer (EPTP)', 'ept'],
  ['EOI_EXIT_BITMAP0', 0x201c, 'EOI-exit bitmap 0', 'virtual-interrupt-delivery'],
  ['EOI_EXIT_BITMAP1', 0x201e, 'EOI-exit bitmap 1', 'virtual-interrupt-delivery'],
  ['EOI_EXIT_BITMAP2', 0x2020, 'EOI-exit bitmap 2', 'virtual-interrupt-delivery'],
  ['EOI_EXIT_BITMAP3', 0x2022, 'EOI-exit bitmap 3', 'virtual-interrupt-delivery'],
  ['EPTP_LIST_ADDRESS', 0x2024, 'EPTP-list address', 'vmfunc'],
  ['VMREAD_BITMAP', 0x2026, 'VMREAD-bitmap address', 'shadow-vmcs'],
  ['VMWRITE_BITMAP', 0x2028, 'VMWRITE-bitmap address', 'shadow-vmcs'],
  ['VE_INFORMATION_ADDRESS', 0x202a, 'Virtualization-exception information address', 'ept-violation-ve'],
  ['XSS_EXIT_BITMAP', 0x202c, 'XSS-exiting bitmap', 'xsaves'],
  ['ENCLS_EXITING_BITMAP', 0x202e, 'ENCLS-exiting bitmap', 'encls'],
  ['TSC_MULTIPLIER', 0x2032, 'TSC multiplier', 'tsc-scaling'],
  ['TERTIARY_VM_EXEC_CONTROL', 0x2034, 'Tertiary processor-based VM-execution controls', 'tertiary-controls'],
  ['PID_POINTER_TABLE', 0x2042, 'PID-pointer table address', 'ipi-virtualization'],
  // B.2.2 64-bit read-only data field
  ['GUEST_PHYSICAL_ADDRESS', 0x2400, 'Guest-physical address', 'ept'],
  // B.2.3 64-bit guest-state fields
  ['VMCS_LINK_POINTER', 0x2800, 'VMCS link pointer'],
  ['GUEST_IA32_DEBUGCTL', 0x2802, 'Guest IA32_DEBUGCTL'],
  ['GUEST_IA32_PAT', 0x2804, 'Guest IA32_PAT', 'pat'],
  ['GUEST_IA32_EFER', 0x2806, 'Guest IA32_EFER', 'efer'],
  ['GUEST_IA32_PERF_GLOBAL_CTRL', 0x2808, 'Guest IA32_PERF_GLOBAL_CTRL', 'perf-global-ctrl'],
  ['GUEST_PDPTR0', 0x280a, 'Guest PDPTE0', 'ept'],
  ['GUEST_PDPTR1', 0x280c, 'Guest PDPTE1', 'ept'],
  ['GUEST_PDPTR2', 0x280e, 'Guest PDPTE2', 'ept'],
  ['GUEST_PDPTR3', 0x2810, 'Guest PDPTE3', 'ept'],
  ['GUEST_BNDCFGS', 0x2812, 'Guest IA32_BNDCFGS', 'bndcfgs'],
  ['GUEST_IA32_RTIT_CTL', 0x2814, 'Guest IA32_RTIT_CTL', 'rtit'],
  // B.2.4 64-bit host-state fields
  ['HOST_IA32_PAT', 0x2c00, 'Host IA32_PAT', 'pat'],
  ['HOST_IA32_EFER', 0x2c02, 'Host IA32_EFER', 'efer'],
  ['HOST_IA32_PERF_GLOBAL_CTRL', 0x2c04, 'Host IA32_PERF_GLOBAL_CTRL', 'perf-global-ctrl'],
  // B.3.1 32-bit control fields
  ['PIN_BASED_VM_EXEC_CONTROL', 0x4000, 'Pin-based VM-execution controls'],
  ['CPU_BASED_VM_EXEC_CONTROL', 0x4002, 'Primary processor-based VM-execution controls'],
  ['EXCEPTION_BITMAP', 0x4004, 'Exception bitmap'],
  ['PAGE_FAULT_ERROR_CODE_MASK', 0x4006, 'Page-fault error-code mask'],
  ['PAGE_FAULT_ERROR_CODE_MATCH', 0x4008, 'Page-fault error-code match'],
  ['CR3_TARGET_COUNT', 0x400a, 'CR3-target count'],
  ['VM_EXIT_CONTROLS', 0x400c, 'Primary VM-exit controls'],
  ['VM_EXIT_MSR_STORE_COUNT', 0x400e, 'VM-exit MSR-store count'],
  ['VM_EXIT_MSR_LOAD_COUNT', 0x4010, 'VM-exit MSR-load count'],
  ['VM_ENTRY_CONTROLS', 0x4012, 'VM-entry controls'],
  ['VM_ENTRY_MSR_LOAD_COUNT', 0x4014, 'VM-entry MSR-load count'],
  ['VM_ENTRY_INTR_INFO_FIELD', 0x4016, 'VM-entry interruption-information field'],
  ['VM_ENTRY_EXCEPTION_ERROR_CODE', 0x4018, 'VM-entry exception error code'],
  ['VM_ENTRY_INSTRUCTION_LEN', 0x401a, 'VM-entry instruction length'],
  ['TPR_THRESHOLD', 0x401c, 'TPR threshold', 'tpr-shadow'],
  ['SECONDARY_VM_EXEC_CONTROL', 0x401e, 'Secondary processor-based VM-execution controls'],
  ['PLE_GAP', 0x4020, 'PLE_Gap', 'pause-loop-exiting'],
  ['PLE_WINDOW', 0x4022, 'PLE_Window', 'pause-loop-exiting'],
  ['NOTIFY_WINDOW', 0x4024, 'Instruction-timeout control', 'notify'],
  // B.3.2 32-bit read-only data fields
  ['VM_INSTRUCTION_ERROR', 0x4400, 'VM-instruction error'],
  ['VM_EXIT_REASON', 0x4402, 'Exit reason'],
  ['VM_EXIT_INTR_INFO', 0x4404, 'VM-exit interruption information'],
  ['VM_EXIT_INTR_ERROR_CODE', 0x4406, 'VM-exit interruption error code'],
  ['IDT_VECTORING_INFO_FIELD', 0x4408, 'IDT-vectoring information field'],
  ['IDT_VECTORING_ERROR_CODE', 0x440a, 'IDT-vectoring error code'],
  ['VM_EXIT_INSTRUCTION_LEN', 0x440c, 'VM-exit instruction length'],
  ['VMX_INSTRUCTION_INFO', 0x440e, 'VM-exit instruction information'],
  // B.3.3 32-bit guest-state fields
  ['GUEST_ES_LIMIT', 0x4800, 'Guest ES limit'],
  ['GUEST_CS_LIMIT', 0x4802, 'Guest CS limit'],
  ['GUEST_SS_LIMIT', 0x4804, 'Guest SS limit'],
  ['GUEST_DS_LIMIT', 0x4806, 'Guest DS limit'],
  ['GUEST_FS_LIMIT', 0x4808, 'Guest FS limit'],
  ['GUEST_GS_LIMIT', 0x480a, 'Guest GS limit'],
  ['GUEST_LDTR_LIMIT', 0x480c, 'Guest LDTR limit'],
  ['GUEST_TR_LIMIT', 0x480e, 'Guest TR limit'],
  ['GUEST_GDTR_LIMIT', 0x4810, 'Guest GDTR limit'],
  ['GUEST_IDTR_LIMIT', 0x4812, 'Guest IDTR limit'],
  ['GUEST_ES_AR_BYTES', 0x4814, 'Guest ES access rights'],
  ['GUEST_CS_AR_BYTES', 0x4816, 'Guest CS access rights'],
  ['GUEST_SS_AR_BYTES', 0x4818, 'Guest SS access rights'],
  ['GUEST_DS_AR_BYTES', 0x481a, 'Guest DS access rights'],
  ['GUEST_FS_AR_BYTES', 0x481c, 'Guest FS access rights'],
  ['GUEST_GS_AR_BYTES', 0x481e, 'Guest GS access rights'],
  ['GUEST_LDTR_AR_BYTES', 0x4820, 'Guest LDTR access rights'],
  ['GUEST_TR_AR_BYTES', 0x4822, 'Guest TR access rights'],
  ['GUEST_INTERRUPTIBILITY_INFO', 0x4824, 'Guest interruptibility state'],
  ['GUEST_ACTIVITY_STATE', 0x4826, 'Guest activity state'],
  ['GUEST_SYSENTER_CS', 0x482a, 'Guest IA32_SYSENTER_CS'],
  ['VMX_PREEMPTION_TIMER_VALUE', 0x482e, 'VMX-preemption timer value', 'preemption-timer'],
  // B.3.4 32-bit host-state field
  ['HOST_IA32_SYSENTER_CS', 0x4c00, 'Host IA32_SYSENTER_CS'],
  // B.4.1 natural-width control fields
  ['CR0_GUEST_HOST_MASK', 0x6000, 'CR0 guest/host mask'],
  ['CR4_GUEST_HOST_MASK', 0x6002, 'CR4 guest/host mask'],
  ['CR0_READ_SHADOW', 0x6004, 'CR0 read shadow'],
  ['CR4_READ_SHADOW', 0x6006, 'CR4 read shadow'],
  ['CR3_TARGET_VALUE0', 0x6008, 'CR3-target value 0'],
  ['CR3_TARGET_VALUE1', 0x600a, 'CR3-target value 1'],
  ['CR3_TARGET_VALUE2', 0x600c, 'CR3-target value 2'],
  ['CR3_TARGET_VALUE3', 0x600e, 'CR3-target value 3'],
  // B.4.2 natural-width read-only data fields
  ['EXIT_QUALIFICATION', 0x6400, 'Exit qualification'],
  ['GUEST_LINEAR_ADDRESS', 0x640a, 'Guest-linear address'],
  // B.4.3 natural-width guest-state fields
  ['GUEST_CR0', 0x6800, 'Guest CR0'],
  ['GUEST_CR3', 0x6802, 'Guest CR3'],
  ['GUEST_CR4', 0x6804, 'Guest CR4'],
  ['GUEST_ES_BASE', 0x6806, 'Guest ES base'],
  ['GUEST_CS_BASE', 0x6808, 'Guest CS base'],
  ['GUEST_SS_BASE', 0x680a, 'Guest SS base'],
  ['GUEST_DS_BASE', 0x680c, 'Guest DS base'],
  ['GUEST_FS_BASE', 0x680e, 'Guest FS base'],
  ['GUEST_GS_BASE', 0x6810, 'Guest GS base'],
  ['GUEST_LDTR_BASE', 0x6812, 'Guest LDTR base'],
  ['GUEST_TR_BASE', 0x6814, 'Guest TR base'],
  ['GUEST_GDTR_BASE', 0x6816, 'Guest GDTR base'],
  ['GUEST_IDTR_BASE', 0x6818, 'Guest IDTR base'],
  ['GUEST_DR7', 0x681a, 'Guest DR7'],
  ['GUEST_RSP', 0x681c, 'Guest RSP'],
  ['GUEST_RIP', 0x681e, 'Guest RIP'],
  ['GUEST_RFLAGS', 0x6820, 'Guest RFLAGS'],
  ['GUEST_PENDING_DBG_EXCEPTIONS', 0x6822, 'Guest pending debug exceptions'],
  ['GUEST_SYSENTER_ESP', 0x6824, 'Guest IA32_SYSENTER_ESP'],
  ['GUEST_SYSENTER_EIP', 0x6826, 'Guest IA32_SYSENTER_EIP'],
  // B.4.4 natural-width host-state fields
  ['HOST_CR0', 0x6c00, 'Host CR0'],
  ['HOST_CR3', 0x6c02, 'Host CR3'],
  ['HOST_CR4', 0x6c04, 'Host CR4'],
  ['HOST_FS_BASE', 0x6c06, 'Host FS base'],
  ['HOST_GS_BASE', 0x6c08, 'Host GS base'],
  ['HOST_TR_BASE', 0x6c0a, 'Host TR base'],
  ['HOST_GDTR_BASE', 0x6c0c, 'Host GDTR base'],
  ['HOST_IDTR_BASE', 0x6c0e, 'Host IDTR base'],
  ['HOST_IA32_SYSENTER_ESP', 0x6c10, 'Host IA32_SYSENTER_ESP'],
  ['HOST_IA32_SYSENTER_EIP', 0x6c12, 'Host IA32_SYSENTER_EIP'],
  ['HOST_RSP', 0x6c14, 'Host RSP'],
  ['HOST_RIP', 0x6c16, 'Host RIP'],
];

/** Every VMCS field the lab knows, in Appendix B order. */
export const VMCS_FIELDS: readonly VmcsField[] = ROWS.map(([name, encoding, title, feature], slot) => {
  const d = decodeEncoding(encoding);
  return { name, encoding, title, feature: feature ?? 'base', type: d.type, width: d.width, bits: widthBits(d.width), slot };
});

const BY_ENCODING = new Map<number, VmcsField>(VMCS_FIELDS.map((f) => [f.encoding, f]));
const BY_NAME = new Map<string, VmcsField>(VMCS_FIELDS.map((f) => [f.name, f]));

/**
 * Encodings by name, with `<NAME>_HIGH` for the high access of every 64-bit field (encoding + 1),
 * as hypervisor sources spell them: `Vmcs.GUEST_RIP`, `Vmcs.EPT_POINTER_HIGH`.
 */
export const Vmcs: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(
    VMCS_FIELDS.flatMap((f) => (f.width === '64' ? [[f.name, f.encoding], [`${f.name}_HIGH`, f.encoding | 1]] : [[f.name, f.encoding]])),
  ),
);

/** What an encoding names: the field and which access (full or high), or undefined if no field has that encoding. */
export interface FieldAccess {
  field: VmcsField;
  access: Access;
}

/** The field an encoding names (any access type), or undefined: reserved bits, an unknown index, or a high access of a field that is not 64-bit. */
export function fieldByEncoding(encoding: number): FieldAccess | undefined {
  if (!Number.isInteger(encoding) || encoding < 0 || encoding > 0xffffffff) return undefined;
  const e = encoding >>> 0;
  if ((e & ENCODING_RESERVED) !== 0) return undefined;
  const field = BY_ENCODING.get(e & ~1);
  if (field === undefined) return undefined;
  if ((e & 1) === 1 && field.width !== '64') return undefined;
  return { field, access: (e & 1) === 1 ? 'high' : 'full' };
}

/** The field with this identifier (a `_HIGH` name gives the high access), or undefined. */
export function fieldByName(name: string): FieldAccess | undefined {
  const field = BY_NAME.get(name);
  if (field !== undefined) return { field, access: 'full' };
  if (name.endsWith('_HIGH')) {
    const f = BY_NAME.get(name.slice(0, -5));
    if (f !== undefined && f.width === '64') return { field: f, access: 'high' };
  }
  return undefined;
}

/** The field's encoding by identifier; throws on an unknown name (a programming error in the caller). */
export function enc(name: string): number {
  const e = Vmcs[name];
  if (e === undefined) throw new Error(`unknown VMCS field ${name}`);
  return e;
}
