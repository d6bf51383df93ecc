/**
 * The VMCB (AMD APM Vol. 2, 15.3 and Appendix B): one 4-KByte page whose layout is architectural,
 * unlike Intel's VMCS. The control area runs from offset 0x000 (1024 bytes), the state-save area
 * from 0x400. A hypervisor reads and writes fields by storing to (VMCB physical address + offset),
 * and so do the accessors here, through PhysMem: nothing is cached, so a view that dumps the page
 * by offset sees exactly what the hypervisor and the processor wrote.
 *
 * Field names follow the Linux `struct vmcb_control_area` / `vmcb_save_area` members (the names
 * the reference table uses); `apm` is the name the APM's tables print. Where the APM has one 64-bit
 * field that Linux splits into two 32-bit members (EXITCODE, EXITINTINFO, EVENTINJ), the table has
 * the APM's 64-bit field; the test over the reference says so for each.
 *
 * 64-bit values are `{ lo, hi }` 32-bit halves, as everywhere in src/emu.
 */
import type { PhysMem } from '../mem/physmem.ts';
import type { DescriptorTableReg, SegmentCache } from '../cpu/state.ts';

export const VMCB_SIZE = 0x1000;
/** Offset of the state-save area within the VMCB. */
export const VMCB_SAVE_AREA = 0x400;

/** A 64-bit value as unsigned 32-bit halves. */
export interface U64 {
  lo: number;
  hi: number;
}
export const u64 = (lo: number, hi = 0): U64 => ({ lo: lo >>> 0, hi: hi >>> 0 });
export const U64_ZERO: U64 = Object.freeze({ lo: 0, hi: 0 });

/**
 * How a field's bytes are interpreted: an unsigned integer of its size, raw bytes, a segment
 * register (selector u16, attrib u16, limit u32, base u64) or a descriptor-table register (the same
 * 16-byte shape with the selector and attrib words reserved).
 */
export type VmcbFieldKind = 'int' | 'bytes' | 'segment' | 'dtr';

export interface VmcbFieldDef {
  area: 'control' | 'save';
  /** Byte offset from the start of the VMCB (save-area fields include the 0x400). */
  offset: number;
  size: number;
  kind: VmcbFieldKind;
  /** The name in the APM's VMCB tables (Appendix B). */
  apm: string;
}

interface FieldDef<S extends number, K extends VmcbFieldKind> extends VmcbFieldDef {
  size: S;
  kind: K;
}
function field<S extends number, K extends VmcbFieldKind>(area: 'control' | 'save', offset: number, size: S, apm: string, kind: K): FieldDef<S, K> {
  return { area, offset, size, kind, apm };
}
/** A control-area field at its VMCB offset; `s` takes the offset within the state-save area. */
const c = <S extends number>(offset: number, size: S, apm: string): FieldDef<S, 'int'> => field('control', offset, size, apm, 'int');
const cBytes = <S extends number>(offset: number, size: S, apm: string): FieldDef<S, 'bytes'> => field('control', offset, size, apm, 'bytes');
const s = <S extends number>(saveOffset: number, size: S, apm: string): FieldDef<S, 'int'> => field('save', VMCB_SAVE_AREA + saveOffset, size, apm, 'int');
const sSeg = (saveOffset: number, apm: string): FieldDef<16, 'segment'> => field('save', VMCB_SAVE_AREA + saveOffset, 16, apm, 'segment');
const sDtr = (saveOffset: number, apm: string): FieldDef<16, 'dtr'> => field('save', VMCB_SAVE_AREA + saveOffset, 16, apm, 'dtr');

/**
 * Every field the lab names, in offset order. The six intercept words are separate fields (the
 * reference lists them as one 24-byte `intercepts` vector); reserved gaps are not listed.
 */
export const VMCB_FIELDS = {
  // ---- control area (APM Table B-1) ----
  intercept_cr: c(0x000, 4, 'intercept CR reads (15:0) / writes (31:16)'),
  intercept_dr: c(0x004, 4, 'intercept DR reads (15:0) / writes (31:16)'),
  intercept_exceptions: c(0x008, 4, 'intercept exception vectors'),
  intercept_word3: c(0x00c, 4, 'intercept INTR … shutdown'),
  intercept_word4: c(0x010, 4, 'intercept VMRUN … CR write traps'),
  intercept_word5: c(0x014, 4, 'intercept INVLPGB …'),
  pause_filter_thresh: c(0x03c, 2, 'PAUSE_FILTER_THRESHOLD'),
  pause_filter_count: c(0x03e, 2, 'PAUSE_FILTER_COUNT'),
  iopm_base_pa: c(0x040, 8, 'IOPM_BASE_PA'),
  msrpm_base_pa: c(0x048, 8, 'MSRPM_BASE_PA'),
  tsc_offset: c(0x050, 8, 'TSC_OFFSET'),
  asid: c(0x058, 4, 'Guest ASID'),
  tlb_ctl: c(0x05c, 1, 'TLB_CONTROL'),
  int_ctl: c(0x060, 4, 'V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, …'),
  int_vector: c(0x064, 4, 'V_INTR_VECTOR'),
  int_state: c(0x068, 4, 'INTERRUPT_SHADOW, GUEST_INTERRUPT_MASK'),
  exit_code: c(0x070, 8, 'EXITCODE'),
  exit_info_1: c(0x078, 8, 'EXITINFO1'),
  exit_info_2: c(0x080, 8, 'EXITINFO2'),
  exit_int_info: c(0x088, 8, 'EXITINTINFO'),
  nested_ctl: c(0x090, 8, 'NP_ENABLE, SEV, SEV-ES'),
  avic_vapic_bar: c(0x098, 8, 'AVIC_APIC_BAR'),
  ghcb_gpa: c(0x0a0, 8, 'GHCB guest physical address'),
  event_inj: c(0x0a8, 8, 'EVENTINJ'),
  nested_cr3: c(0x0b0, 8, 'N_CR3'),
  virt_ext: c(0x0b8, 8, 'LBR_VIRTUALIZATION_ENABLE, virtualized VMSAVE/VMLOAD'),
  clean: c(0x0c0, 4, 'VMCB Clean Bits'),
  next_rip: c(0x0c8, 8, 'nRIP'),
  insn_len: c(0x0d0, 1, 'number of bytes fetched'),
  insn_bytes: cBytes(0x0d1, 15, 'guest instruction bytes'),
  avic_backing_page: c(0x0e0, 8, 'AVIC_BACKING_PAGE pointer'),
  avic_logical_id: c(0x0f0, 8, 'AVIC_LOGICAL_TABLE pointer'),
  avic_physical_id: c(0x0f8, 8, 'AVIC_PHYSICAL_TABLE pointer'),
  vmsa_pa: c(0x108, 8, 'VMSA pointer'),
  bus_lock_counter: c(0x120, 2, 'bus lock threshold counter'),
  allowed_sev_features: c(0x138, 8, 'allowed SEV features'),
  guest_sev_features: c(0x140, 8, 'guest SEV features'),
  reserved_sw: cBytes(0x3e0, 32, 'reserved for host usage'),
  // ---- state-save area (APM Table B-2), offsets relative to 0x400 ----
  'save.es': sSeg(0x000, 'ES'),
  'save.cs': sSeg(0x010, 'CS'),
  'save.ss': sSeg(0x020, 'SS'),
  'save.ds': sSeg(0x030, 'DS'),
  'save.fs': sSeg(0x040, 'FS'),
  'save.gs': sSeg(0x050, 'GS'),
  'save.gdtr': sDtr(0x060, 'GDTR'),
  'save.ldtr': sSeg(0x070, 'LDTR'),
  'save.idtr': sDtr(0x080, 'IDTR'),
  'save.tr': sSeg(0x090, 'TR'),
  'save.vmpl': s(0x0ca, 1, 'VMPL'),
  'save.cpl': s(0x0cb, 1, 'CPL'),
  'save.efer': s(0x0d0, 8, 'EFER'),
  'save.cr4': s(0x148, 8, 'CR4'),
  'save.cr3': s(0x150, 8, 'CR3'),
  'save.cr0': s(0x158, 8, 'CR0'),
  'save.dr7': s(0x160, 8, 'DR7'),
  'save.dr6': s(0x168, 8, 'DR6'),
  'save.rflags': s(0x170, 8, 'RFLAGS'),
  'save.rip': s(0x178, 8, 'RIP'),
  'save.rsp': s(0x1d8, 8, 'RSP'),
  'save.s_cet': s(0x1e0, 8, 'S_CET'),
  'save.ssp': s(0x1e8, 8, 'SSP'),
  'save.isst_addr': s(0x1f0, 8, 'ISST_ADDR'),
  'save.rax': s(0x1f8, 8, 'RAX'),
  'save.star': s(0x200, 8, 'STAR'),
  'save.lstar': s(0x208, 8, 'LSTAR'),
  'save.cstar': s(0x210, 8, 'CSTAR'),
  'save.sfmask': s(0x218, 8, 'SFMASK'),
  'save.kernel_gs_base': s(0x220, 8, 'KernelGsBase'),
  'save.sysenter_cs': s(0x228, 8, 'SYSENTER_CS'),
  'save.sysenter_esp': s(0x230, 8, 'SYSENTER_ESP'),
  'save.sysenter_eip': s(0x238, 8, 'SYSENTER_EIP'),
  'save.cr2': s(0x240, 8, 'CR2'),
  'save.g_pat': s(0x268, 8, 'G_PAT'),
  'save.dbgctl': s(0x270, 8, 'DBGCTL'),
  'save.br_from': s(0x278, 8, 'BR_FROM'),
  'save.br_to': s(0x280, 8, 'BR_TO'),
  'save.last_excp_from': s(0x288, 8, 'LASTEXCPFROM'),
  'save.last_excp_to': s(0x290, 8, 'LASTEXCPTO'),
  'save.spec_ctrl': s(0x2e0, 8, 'SPEC_CTRL'),
} as const satisfies Record<string, VmcbFieldDef>;

export type VmcbField = keyof typeof VMCB_FIELDS;
type FieldsOfKind<K extends VmcbFieldKind> = { [F in VmcbField]: (typeof VMCB_FIELDS)[F] extends { kind: K } ? F : never }[VmcbField];
/** Integer fields of 1, 2 or 4 bytes. */
export type VmcbSmallField = { [F in VmcbField]: (typeof VMCB_FIELDS)[F] extends { kind: 'int'; size: 1 | 2 | 4 } ? F : never }[VmcbField];
/** Integer fields of 8 bytes. */
export type Vmcb64Field = { [F in VmcbField]: (typeof VMCB_FIELDS)[F] extends { kind: 'int'; size: 8 } ? F : never }[VmcbField];
export type VmcbSegmentField = FieldsOfKind<'segment'>;
export type VmcbDtrField = FieldsOfKind<'dtr'>;
export type VmcbBytesField = FieldsOfKind<'bytes'>;

/** The field (if any) that covers VMCB byte `offset`, for a view that walks the page by offset. */
export function vmcbFieldAt(offset: number): VmcbField | undefined {
  for (const name of Object.keys(VMCB_FIELDS) as VmcbField[]) {
    const f = VMCB_FIELDS[name];
    if (offset >= f.offset && offset < f.offset + f.size) return name;
  }
  return undefined;
}

// ---- segments in the save area ----

/** A segment register as the VMCB stores it: attrib is the packed 12-bit form (below). */
export interface VmcbSegment {
  selector: number;
  attrib: number;
  limit: number;
  base: U64;
}

/** A descriptor-table register (GDTR, IDTR) in the save area: limit and base only. */
export interface VmcbDtr {
  limit: number;
  base: U64;
}

/**
 * The VMCB's segment attrib word (APM 15.5.1 / Appendix B, "segment attributes"): descriptor bits
 * 47:40 (type, S, DPL, P) in attrib 7:0 and descriptor bits 55:52 (AVL, L, D/B, G) in attrib 11:8.
 */
export const VmcbAttrib = {
  TYPE_MASK: 0xf, S: 1 << 4, DPL_SHIFT: 5, DPL_MASK: 3 << 5, P: 1 << 7, AVL: 1 << 8, L: 1 << 9, DB: 1 << 10, G: 1 << 11,
} as const;

/**
 * The lab's segment attr (descriptor bits 55:40 shifted down by 8: type S DPL P in 7:0, limit
 * 19:16 in 11:8, AVL L D/B G in 15:12) → the VMCB's 12-bit attrib. Limit 19:16 is dropped: the
 * VMCB keeps the limit expanded to 32 bits in its own field, as the lab's cache does.
 */
export function packAttrib(attr: number): number {
  return (attr & 0xff) | ((attr >>> 4) & 0xf00);
}

/** The VMCB's 12-bit attrib → the lab's attr layout (limit 19:16 zero). */
export function unpackAttrib(attrib: number): number {
  return (attrib & 0xff) | ((attrib & 0xf00) << 4);
}

/**
 * A lab segment cache as the VMCB stores it. An unusable segment (a null selector loaded in
 * protected mode, `valid` false) is stored with P clear, which is how the VMCB tells it apart.
 */
export function segmentToVmcb(sc: SegmentCache): VmcbSegment {
  const attrib = packAttrib(sc.attr);
  return { selector: sc.selector & 0xffff, attrib: sc.valid ? attrib : attrib & ~VmcbAttrib.P, limit: sc.limit >>> 0, base: u64(sc.baseLo, sc.baseHi) };
}

/**
 * A VMCB segment as a lab segment cache. In protected mode a segment is usable exactly when its
 * P bit is set; in real mode (CR0.PE = 0) every segment register is usable whatever its attrib.
 */
export function segmentFromVmcb(seg: VmcbSegment, realMode: boolean): SegmentCache {
  return {
    selector: seg.selector & 0xffff,
    baseLo: seg.base.lo >>> 0,
    baseHi: seg.base.hi >>> 0,
    limit: seg.limit >>> 0,
    attr: unpackAttrib(seg.attrib),
    valid: realMode || (seg.attrib & VmcbAttrib.P) !== 0,
  };
}

export function dtrToVmcb(d: DescriptorTableReg): VmcbDtr {
  return { limit: d.limit & 0xffff, base: u64(d.baseLo, d.baseHi) };
}

export function dtrFromVmcb(d: VmcbDtr): DescriptorTableReg {
  return { baseLo: d.base.lo >>> 0, baseHi: d.base.hi >>> 0, limit: d.limit & 0xffff };
}

// ---- raw accessors ----

function def(name: VmcbField, kind: VmcbFieldKind, size?: 'small' | 8): VmcbFieldDef {
  const f: VmcbFieldDef | undefined = (VMCB_FIELDS as Record<string, VmcbFieldDef>)[name];
  if (f === undefined || f.kind !== kind) throw new TypeError(`VMCB field ${name} is not a ${kind} field`);
  if (size === 8 && f.size !== 8) throw new TypeError(`VMCB field ${name} is ${f.size} bytes, not 8`);
  if (size === 'small' && f.size > 4) throw new TypeError(`VMCB field ${name} is ${f.size} bytes: use the 64-bit accessor`);
  return f;
}

function check(vmcbPa: number): void {
  if (!Number.isInteger(vmcbPa) || vmcbPa < 0 || vmcbPa % VMCB_SIZE !== 0) throw new RangeError(`VMCB address ${vmcbPa} is not a 4-KByte aligned physical address`);
}

/** Reads an integer field of 1, 2 or 4 bytes (unsigned). */
export function vmcbRead(mem: PhysMem, vmcbPa: number, name: VmcbSmallField): number {
  check(vmcbPa);
  const f = def(name, 'int', 'small');
  return mem.read(vmcbPa + f.offset, f.size) >>> 0;
}

export function vmcbWrite(mem: PhysMem, vmcbPa: number, name: VmcbSmallField, value: number): void {
  check(vmcbPa);
  const f = def(name, 'int', 'small');
  mem.write(vmcbPa + f.offset, f.size, f.size === 4 ? value >>> 0 : value & ((1 << (f.size * 8)) - 1));
}

export function vmcbRead64(mem: PhysMem, vmcbPa: number, name: Vmcb64Field): U64 {
  check(vmcbPa);
  const f = def(name, 'int', 8);
  return { lo: mem.read(vmcbPa + f.offset, 4) >>> 0, hi: mem.read(vmcbPa + f.offset + 4, 4) >>> 0 };
}

export function vmcbWrite64(mem: PhysMem, vmcbPa: number, name: Vmcb64Field, v: U64): void {
  check(vmcbPa);
  const f = def(name, 'int', 8);
  mem.write(vmcbPa + f.offset, 4, v.lo >>> 0);
  mem.write(vmcbPa + f.offset + 4, 4, v.hi >>> 0);
}

export function vmcbReadBytes(mem: PhysMem, vmcbPa: number, name: VmcbBytesField): Uint8Array {
  check(vmcbPa);
  const f = def(name, 'bytes');
  const out = new Uint8Array(f.size);
  for (let i = 0; i < f.size; i++) out[i] = mem.read8(vmcbPa + f.offset + i);
  return out;
}

export function vmcbWriteBytes(mem: PhysMem, vmcbPa: number, name: VmcbBytesField, bytes: Uint8Array): void {
  check(vmcbPa);
  const f = def(name, 'bytes');
  if (bytes.length > f.size) throw new RangeError(`${bytes.length} bytes do not fit in ${name} (${f.size})`);
  for (let i = 0; i < f.size; i++) mem.write8(vmcbPa + f.offset + i, bytes[i] ?? 0);
}

export function vmcbReadSegment(mem: PhysMem, vmcbPa: number, name: VmcbSegmentField): VmcbSegment {
  check(vmcbPa);
  const at = vmcbPa + def(name, 'segment').offset;
  return {
    selector: mem.read(at, 2),
    attrib: mem.read(at + 2, 2),
    limit: mem.read(at + 4, 4) >>> 0,
    base: { lo: mem.read(at + 8, 4) >>> 0, hi: mem.read(at + 12, 4) >>> 0 },
  };
}

export function vmcbWriteSegment(mem: PhysMem, vmcbPa: number, name: VmcbSegmentField, seg: VmcbSegment): void {
  check(vmcbPa);
  const at = vmcbPa + def(name, 'segment').offset;
  mem.write(at, 2, seg.selector & 0xffff);
  mem.write(at + 2, 2, seg.attrib & 0xffff);
  mem.write(at + 4, 4, seg.limit >>> 0);
  mem.write(at + 8, 4, seg.base.lo >>> 0);
  mem.write(at + 12, 4, seg.base.hi >>> 0);
}

export function vmcbReadDtr(mem: PhysMem, vmcbPa: number, name: VmcbDtrField): VmcbDtr {
  check(vmcbPa);
  const at = vmcbPa + def(name, 'dtr').offset;
  return { limit: mem.read(at + 4, 4) >>> 0, base: { lo: mem.read(at + 8, 4) >>> 0, hi: mem.read(at + 12, 4) >>> 0 } };
}

export function vmcbWriteDtr(mem: PhysMem, vmcbPa: number, name: VmcbDtrField, dtr: VmcbDtr): void {
  check(vmcbPa);
  const at = vmcbPa + def(name, 'dtr').offset;
  mem.write(at + 4, 4, dtr.limit >>> 0);
  mem.write(at + 8, 4, dtr.base.lo >>> 0);
  mem.write(at + 12, 4, dtr.base.hi >>> 0);
}

/**
 * A VMCB at a physical address: the accessors above bound to (mem, pa), so hypervisor code reads
 * like `vmcb.read64('exit_info_1')`.
 */
export class Vmcb {
  constructor(
    readonly mem: PhysMem,
    readonly pa: number,
  ) {
    check(pa);
  }
  read(name: VmcbSmallField): number {
    return vmcbRead(this.mem, this.pa, name);
  }
  write(name: VmcbSmallField, value: number): void {
    vmcbWrite(this.mem, this.pa, name, value);
  }
  read64(name: Vmcb64Field): U64 {
    return vmcbRead64(this.mem, this.pa, name);
  }
  write64(name: Vmcb64Field, v: U64): void {
    vmcbWrite64(this.mem, this.pa, name, v);
  }
  readSegment(name: VmcbSegmentField): VmcbSegment {
    return vmcbReadSegment(this.mem, this.pa, name);
  }
  writeSegment(name: VmcbSegmentField, seg: VmcbSegment): void {
    vmcbWriteSegment(this.mem, this.pa, name, seg);
  }
  readDtr(name: VmcbDtrField): VmcbDtr {
    return vmcbReadDtr(this.mem, this.pa, name);
  }
  writeDtr(name: VmcbDtrField, dtr: VmcbDtr): void {
    vmcbWriteDtr(this.mem, this.pa, name, dtr);
  }
  readBytes(name: VmcbBytesField): Uint8Array {
    return vmcbReadBytes(this.mem, this.pa, name);
  }
  writeBytes(name: VmcbBytesField, bytes: Uint8Array): void {
    vmcbWriteBytes(this.mem, this.pa, name, bytes);
  }
  /** Zeroes the whole 4-KByte page (what a hypervisor does before filling in a fresh VMCB). */
  clear(): void {
    for (let i = 0; i < VMCB_SIZE; i += 4) this.mem.write(this.pa + i, 4, 0);
  }
}
