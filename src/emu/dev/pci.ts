/**
 * A conventional PCI bus: bus 0 only, up to 32 devices of up to 8 functions, reached through
 * configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2): the host bridge's
 * CONFIG_ADDRESS register at I/O port 0xCF8 and its CONFIG_DATA window at 0xCFC..0xCFF.
 *
 *   CONFIG_ADDRESS (a dword; only a whole-dword access at 0xCF8 reaches it):
 *     bit 31 enable, 30:24 reserved (read 0), 23:16 bus, 15:11 device, 10:8 function,
 *     7:2 register (dword index), 1:0 read 0.
 *   CONFIG_DATA: an access of 1, 2 or 4 bytes at 0xCFC + k reaches configuration byte
 *     register + k of the addressed function, when the enable bit is set.
 *
 * Every function has a type-0 header (PCI 3.0, 6.1 and 6.2): vendor and device ID, command,
 * status, revision, class code, header type (bit 7: a multi-function device, set on function 0
 * when the device has other functions), BAR0..5, subsystem IDs, the capabilities pointer at 0x34,
 * interrupt line (writable) and pin. A read of a function that is absent, or of a bus other than
 * 0, returns all ones (6.1: "the host bus to PCI bridge must ... return all 1's"), which is how
 * software finds empty slots (vendor ID 0xFFFF).
 *
 * BARs (6.2.5.1): memory BARs of 32 bits (type 00b) or 64 bits (type 10b, the next BAR holds the
 * upper half), optionally prefetchable (bit 3); I/O BARs (bit 0 = 1). The address bits below the
 * BAR's size read back 0, so writing all ones and reading back gives the size mask with the type
 * bits (the sizing protocol). A BAR decodes only while its space is enabled in the command
 * register (bit 0 I/O space, bit 1 memory space) and it is placed (a non-zero address: firmware
 * and Linux treat 0 as unassigned). Memory BARs are reached from PhysMem's MMIO handler (so RAM
 * takes precedence: a BAR placed below the RAM size is never reached), I/O BARs from the PortBus
 * as a decoder of the ports no fixed claim holds.
 *
 * Bus mastering. A function may issue memory requests (DMA, and MSI, which is a memory write)
 * only while the command register's bus master bit (2) is set (6.2.2; 6.8.1.3 for MSI). DMA goes
 * through the DmaRemapper given to the bus (an IOMMU, or PassThroughRemapper when the machine has
 * none) with the function's requester ID (bus << 8 | device << 3 | function), one request per
 * 4 KiB page at most as PCIe requires, and is logged with its outcome.
 *
 * Capabilities (6.7): a function lists capability structures from 0x40 upwards; the bus chains
 * them through each one's next pointer and sets status bit 4. MSI (msi.ts) is one.
 *
 * PCI Express extended configuration space (PCI Express Base Specification 3.0, 7.2.2 and 7.9):
 * every function's configuration space is 4 KiB; offsets 0x100..0xFFF hold extended capabilities,
 * a list that starts at 0x100 with a dword header (7.9.3: capability ID in bits 15:0, version in
 * 19:16, the next capability's offset in 31:20, 0 ending the list; a function with none has an
 * all-zero header at 0x100, 7.9.1). Mechanism #1 still reaches only bytes 0..0xFF: CONFIG_ADDRESS
 * has no bits for more (as on real hardware). A PCIe host reaches the rest through ECAM, a memory
 * window where each function's 4 KiB appear at (bus << 20 | device << 15 | function << 12) (7.2.2):
 * a bus given `ecamBase` decodes that window for bus 0 (1 MiB) from its MMIO handler. The host of
 * the multi-VM machine, a hypervisor written in TypeScript, uses `configRead` / `configWrite`, which
 * stand for the same accesses.
 *
 * Single Root I/O Virtualization (the PCI-SIG's "Single Root I/O Virtualization and Sharing
 * Specification" 1.1; "SR-IOV" below). A physical function (PF) whose spec has `sriov` carries the
 * SR-IOV extended capability (ID 0x0010, 3.3) laid out after its other extended capabilities:
 *   +0x00 header; +0x04 SR-IOV Capabilities (RO: no VF Migration, 3.3.2); +0x08 SR-IOV Control
 *   (3.3.3: bit 0 VF Enable, bit 3 VF MSE, bit 4 ARI Capable Hierarchy RW; bits 1, 2 VF Migration
 *   Enable and its interrupt read 0, as VF Migration is not offered); +0x0A SR-IOV Status (3.3.4,
 *   reads 0); +0x0C InitialVFs, +0x0E TotalVFs (RO, 3.3.5-6); +0x10 NumVFs (RW while VF Enable is
 *   clear, 3.3.7: a write while VFs are enabled is ignored here, the specification leaves it
 *   undefined); +0x12 Function Dependency Link (RO, 3.3.8: the PF's own function number);
 *   +0x14 First VF Offset, +0x16 VF Stride (RO, 3.3.9-10; this model does not change them with
 *   ARI Capable Hierarchy or NumVFs, which the specification allows); +0x1A VF Device ID (RO,
 *   3.3.11); +0x1C Supported Page Sizes (RO, 3.3.12: bit n = 2^(n+12) bytes); +0x20 System Page
 *   Size (RW, 3.3.13: one supported size, default 4 KiB; a write naming no supported size, several,
 *   or made while VFs are enabled is ignored); +0x24..+0x38 VF BAR0..5 (3.3.14: memory BARs sized
 *   and placed as BARs are; each VF's aperture is the BAR's size rounded up to the system page
 *   size, so VF k (k = 0 .. NumVFs − 1) decodes at VF BARn + k × that size, while VF Enable and VF
 *   MSE are both set); +0x3C VF Migration State Array Offset (RO 0).
 * Setting VF Enable with NumVFs = n in 1..TotalVFs makes n virtual functions appear at routing IDs
 * PF RID + First VF Offset + k × VF Stride (2.1.2; without ARI they must stay on bus 0 here, which
 * `add` checks), each the model the PF's `virtualFunction(k)` gives; clearing it removes them (their
 * state goes with them; with NumVFs out of range no VF appears). A VF's configuration space follows
 * 3.4.1: Vendor ID and Device ID read 0xFFFF (software takes the PF's Vendor ID and VF Device ID),
 * its BARs read 0 and ignore writes (its memory is the PF's VF BARs), command bits I/O Space,
 * Memory Space and Interrupt Disable read 0 (VF MSE decides its memory decoding), Bus Master
 * Enable is its own, Interrupt Pin reads 0 (no INTx). Its DMA carries its own requester ID through
 * the bus's remapper. VFs do not count for the PF's multi-function bit (a scan finds them absent
 * anyway). The PF's own BARs and command register are a function's as usual. Not modelled: ARI,
 * VF Migration, the 100 ms a VF may take to answer after VF Enable, Function Dependency Link
 * other than the PF itself, several PFs of one device.
 *
 * State is plain data (configuration bytes per function, CONFIG_ADDRESS, the devices' own state,
 * append-only logs): `snapshot` / `restore`, JSON-safe. What BARs decode and which VFs exist are
 * derived from it.
 *
 * Not modelled: PCI-to-PCI bridges and other buses (so no ECAM for buses 1..255), the host
 * bridge's own function at 00:00.0, INTx routing (the pin is reported, nothing drives it),
 * expansion ROM BARs, power management, parity and error reporting (no status error bit is ever
 * set), configuration mechanism #2.
 */
import type { MmioHandler, PhysMem } from '../mem/physmem.ts';
import { doDma, isInterruptAddress, isInterruptRemapper, PassThroughRemapper, requesterId, type DmaOutcome, type DmaRemapper, type IommuFault, type InterruptOutcome, type InterruptTarget, type TableRef } from '../iommu/types.ts';
import type { DecodedPorts, PortBus, PortDecoder, PortDevice } from './bus.ts';
import { decodeMsi, msiFromTarget, MSI_CAP_ID, MSI_REG, type MsiMessage, type MsiSink } from './msi.ts';

export const CONFIG_ADDRESS_PORT = 0xcf8;
export const CONFIG_DATA_PORT = 0xcfc;

/** Type-0 header offsets (PCI 3.0, figure 6-1). */
export const CFG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION: 0x08,
  CLASS_CODE: 0x09,
  CACHE_LINE: 0x0c,
  LATENCY: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  SUBSYS_VENDOR_ID: 0x2c,
  SUBSYS_ID: 0x2e,
  ROM_BAR: 0x30,
  CAP_PTR: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
} as const;

/** Command register bits (6.2.2). */
export const CMD = { IO: 1 << 0, MEMORY: 1 << 1, BUS_MASTER: 1 << 2, INTX_DISABLE: 1 << 10 } as const;
/** Status register bit 4: the function has a capabilities list (6.2.3). */
export const STATUS_CAP_LIST = 1 << 4;
/** Header type bit 7: a multi-function device (6.2.1). */
export const HEADER_MULTI_FUNCTION = 0x80;

/** The first byte capabilities are laid out at (the header ends at 0x3F). */
const CAP_START = 0x40;
/** Where PCI Express extended capabilities start, and a function's configuration space size (PCIe 3.0, 7.9.1). */
export const EXT_CAP_START = 0x100;
export const CONFIG_SPACE_SIZE = 0x1000;

/** The SR-IOV extended capability's ID and its registers' offsets from its header (SR-IOV 1.1, 3.3). */
export const SRIOV_CAP_ID = 0x0010;
export const SRIOV = {
  CAPABILITIES: 0x04,
  CONTROL: 0x08,
  STATUS: 0x0a,
  INITIAL_VFS: 0x0c,
  TOTAL_VFS: 0x0e,
  NUM_VFS: 0x10,
  FUNCTION_DEPENDENCY_LINK: 0x12,
  FIRST_VF_OFFSET: 0x14,
  VF_STRIDE: 0x16,
  VF_DEVICE_ID: 0x1a,
  SUPPORTED_PAGE_SIZES: 0x1c,
  SYSTEM_PAGE_SIZE: 0x20,
  VF_BAR0: 0x24,
  VF_MIGRATION_STATE: 0x3c,
  LENGTH: 0x40,
} as const;
/** SR-IOV Control bits (3.3.3). */
export const SRIOV_CTRL = { VF_ENABLE: 1 << 0, VF_MIGRATION_ENABLE: 1 << 1, VF_MIGRATION_INTERRUPT: 1 << 2, VF_MSE: 1 << 3, ARI_CAPABLE_HIERARCHY: 1 << 4 } as const;
/** The page sizes a PF must support (3.3.12): 4 KB, 8 KB, 64 KB, 256 KB, 1 MB and 4 MB. */
export const SRIOV_REQUIRED_PAGE_SIZES = 0x553;

export type BarSpec =
  | { kind: 'mem32'; size: number; prefetchable?: boolean }
  | { kind: 'mem64'; size: number; prefetchable?: boolean }
  | { kind: 'io'; size: number };

/** A capability structure: its ID, its length in bytes (a multiple of 4) and its registers. */
export interface CapabilitySpec {
  id: number;
  length: number;
  /** Initial bytes after the ID and next pointer (offset 2 .. length - 1). */
  init: readonly number[];
  /** Writable bits of each byte from offset 2 (missing entries: read-only). */
  writable: readonly number[];
}

/** A PCI Express extended capability (PCIe 3.0, 7.9.3): ID (16 bits), version (4) and its registers after the header. */
export interface ExtCapabilitySpec {
  id: number;
  version: number;
  /** Length in bytes including the 4-byte header (a multiple of 4). */
  length: number;
  /** Initial bytes after the header (offset 4 .. length - 1). */
  init: readonly number[];
  /** Writable bits of each byte from offset 4 (missing entries: read-only). */
  writable: readonly number[];
}

/** What a physical function's SR-IOV capability declares (SR-IOV 1.1, 3.3; the layout is in this file's header). */
export interface SriovSpec {
  totalVfs: number;
  /** Default: totalVfs. */
  initialVfs?: number;
  firstVfOffset: number;
  vfStride: number;
  vfDeviceId: number;
  /** Default: SRIOV_REQUIRED_PAGE_SIZES. */
  supportedPageSizes?: number;
  /** VF BAR0..5: memory BARs only; every VF model's spec must have the same BARs. */
  vfBars: readonly (BarSpec | null)[];
}

/** What a function is: its identity, BARs and capabilities (constant; the state is separate). */
export interface PciFunctionSpec {
  vendorId: number;
  deviceId: number;
  revision: number;
  /** Base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** BAR0..5; a mem64 BAR takes its slot and the next (which must be null). */
  bars: readonly (BarSpec | null)[];
  /** Command bits the function implements (writable); the others read 0. */
  commandBits: number;
  /** 0 = none, 1..4 = INTA#..INTD#. */
  interruptPin: number;
  capabilities?: readonly CapabilitySpec[];
  /** PCI Express extended capabilities, laid out from 0x100 in order. */
  extendedCapabilities?: readonly ExtCapabilitySpec[];
  /** A physical function with virtual functions: its SR-IOV capability (after the others). */
  sriov?: SriovSpec;
}

/** What the bus offers a function's model. */
export interface PciFunctionPort {
  /** bus << 8 | device << 3 | function. */
  readonly rid: number;
  /** The command register now. */
  command(): number;
  /** Configuration byte(s) of this function (1, 2 or 4, little-endian). */
  config(offset: number, size: 1 | 2 | 4): number;
  /** Offset of the function's capability `id`, or -1. */
  capability(id: number): number;
  /**
   * One DMA request of at most 4 KiB within one page, through the bus's remapper, logged. Calling
   * it with bus mastering off is a model error (it throws): the function checks first.
   */
  dmaRead(iova: bigint, length: number, what?: DmaPurpose): { outcome: DmaOutcome | null; bytes: Uint8Array | null };
  dmaWrite(iova: bigint, data: Uint8Array, what?: DmaPurpose): { outcome: DmaOutcome | null };
  /** Signals the function's MSI if it is enabled (and bus mastering is on); returns whether it did. */
  signalMsi(): boolean;
}

/** A function's behaviour: register reads and writes of its BARs, and its plain-data state. */
export interface PciFunctionModel {
  readonly name: string;
  readonly spec: PciFunctionSpec;
  /** Called once when the function is put on the bus. */
  connect(port: PciFunctionPort): void;
  /** A read of `size` (1, 2 or 4) bytes at `offset` in BAR `bar`. */
  barRead(bar: number, offset: number, size: 1 | 2 | 4): number;
  barWrite(bar: number, offset: number, size: 1 | 2 | 4, value: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
  /**
   * A physical function with `spec.sriov`: the model of its virtual function `index` (0-based), in
   * its reset state, asked for each time VF Enable makes it appear (the PF may give the same object
   * again, reset).
   */
  virtualFunction?(index: number): PciFunctionModel;
}

/**
 * What a request moves, as the function says: its rings or queues (descriptors, status write-backs,
 * commands, completions) or the data they describe (frames, blocks, a copy's bytes). Lets a count
 * of copies tell payload from bookkeeping (hv/io-compare.ts).
 */
export type DmaPurpose = 'ring' | 'data';

/** What a DMA request's outcome was, in JSON-safe form. */
export type DmaLogFault =
  | { vendor: 'vtd'; reason: number; recorded: boolean }
  | { vendor: 'amd-vi'; code: number; logged: boolean }
  /** No remapper decided: an untranslated address beyond the 52-bit host address space (no page answers). */
  | { vendor: 'none'; reason: 'beyond-host' }
  /** A device model in a hypervisor (hv/devio.ts GuestRamRemapper) named a guest-physical address outside its VM's RAM. */
  | { vendor: 'hv'; reason: 'not-guest-ram' };

/** One remapping-structure entry a DMA request read (iommu/types.ts TableRef), JSON-safe. A DMA request reads no IRTE. */
export interface DmaLogRef {
  kind: Exclude<TableRef['kind'], 'irte'>;
  level: number;
  index: number;
  /** Host-physical address of the entry. */
  pa: number;
  /** The raw entry as 0x-prefixed hex (128 bits for root and context entries, 256 for a DTE). */
  raw: string;
  decision: TableRef['decision'];
}

/** What the IOMMU wrote about a blocked request: VT-d's fault record, AMD-Vi's event log entry. */
export type DmaLogRecord =
  /** `interruptIndex`: an interrupt request's fault (FI bits 63:48; `pageAddress` is then 0x0). */
  | { vendor: 'vtd'; sid: number; pageAddress: string; type: 0 | 1; reason: number; interruptIndex?: number }
  | { vendor: 'amd-vi'; code: number; deviceId: number; domainId: number; flags: number; address: string; dwords: [number, number, number, number] };

export interface DmaLogEntry {
  seq: number;
  device: string;
  rid: number;
  access: 'read' | 'write';
  /** What it moved, when the function said (null: it did not; an MSI written as memory). */
  what: DmaPurpose | null;
  /** The address the function put on the bus, as 0x-prefixed hex (up to 64 bits). */
  iova: string;
  length: number;
  ok: boolean;
  /** Host-physical address of the first byte, when translated. */
  hpa: number | null;
  /** The domain that decided (-1: no IOMMU or translation off), when translated. */
  domainId: number | null;
  fault: DmaLogFault | null;
  /** The IOTLB answered (no entry read). */
  iotlbHit: boolean;
  /** The remapping-structure entries the IOMMU read for it, in order (none: no IOMMU, translation off, an IOTLB hit). */
  refs: DmaLogRef[];
  /** A blocked request's fault record or event (also when the IOMMU did not record it: `fault.recorded` / `logged` says). */
  record: DmaLogRecord | null;
}

/** An entry an interrupt request read (the AMD-Vi DTE, an IRTE), JSON-safe as DmaLogRef. */
export interface IrLogRef extends Omit<DmaLogRef, 'kind'> {
  kind: TableRef['kind'];
}

/** What the interrupt remapper decided about an MSI (iommu/types.ts InterruptOutcome), JSON-safe. */
export type MsiRemap =
  | { kind: 'passed'; why: 'remapping-off' | 'compatibility' | 'forwarded' }
  | { kind: 'remapped'; index: number; refs: IrLogRef[]; cacheHit: boolean; target: InterruptTarget }
  | { kind: 'posted'; index: number; refs: IrLogRef[]; cacheHit: boolean; vector: number; descriptor: number; urgent: boolean; notification: InterruptTarget | null }
  | { kind: 'blocked'; index: number | null; refs: IrLogRef[]; fault: DmaLogFault; record: DmaLogRecord }
  | { kind: 'aborted'; refs: IrLogRef[]; why: 'int-ctl' | 'not-passed' | 'delivery-mode' };

function logRef(x: TableRef): IrLogRef {
  return { kind: x.kind, level: x.level, index: x.index, pa: x.pa, raw: `0x${x.raw.toString(16)}`, decision: x.decision };
}

function logFault(d: IommuFault): { fault: DmaLogFault; record: DmaLogRecord } {
  if (d.vendor === 'vtd') {
    const r = d.record;
    const record: DmaLogRecord = { vendor: 'vtd', sid: r.sid, pageAddress: `0x${r.pageAddress.toString(16)}`, type: r.type, reason: r.reason };
    if (r.interruptIndex !== undefined) record.interruptIndex = r.interruptIndex;
    return { fault: { vendor: 'vtd', reason: d.reason, recorded: d.recorded }, record };
  }
  const e = d.event;
  return { fault: { vendor: 'amd-vi', code: d.code, logged: d.logged }, record: { vendor: 'amd-vi', code: e.code, deviceId: e.deviceId, domainId: e.domainId, flags: e.flags, address: `0x${e.address.toString(16)}`, dwords: [...e.dwords] } };
}

/** An interrupt outcome as plain data for the MSI log. */
export function msiRemapLog(o: InterruptOutcome): MsiRemap {
  switch (o.kind) {
    case 'passed':
      return { kind: 'passed', why: o.why };
    case 'remapped':
      return { kind: 'remapped', index: o.index, refs: o.refs.map(logRef), cacheHit: o.cacheHit, target: { ...o.target } };
    case 'posted':
      return { kind: 'posted', index: o.index, refs: o.refs.map(logRef), cacheHit: o.cacheHit, vector: o.vector, descriptor: o.descriptor, urgent: o.urgent, notification: o.notification === null ? null : { ...o.notification } };
    case 'blocked':
      return { kind: 'blocked', index: o.index, refs: o.refs.map(logRef), ...logFault(o.fault) };
    case 'aborted':
      return { kind: 'aborted', refs: o.refs.map(logRef), why: o.why };
  }
}

/** Why an interrupt the remapper stopped did not reach the processors, for MsiMessage.notDelivered. */
function stoppedWhy(o: InterruptOutcome): string | null {
  if (o.kind === 'blocked') {
    const f = o.fault;
    if (f.vendor === 'vtd') return `blocked by interrupt remapping: VT-d fault reason 0x${f.reason.toString(16)}${f.recorded ? '' : ' (not recorded)'}`;
    return `blocked by interrupt remapping: AMD-Vi event type ${f.code}${f.logged ? '' : ' (not logged)'}`;
  }
  if (o.kind === 'aborted') return `target-aborted by the IOMMU (${o.why})`;
  if (o.kind === 'posted' && o.notification === null) return `posted to the descriptor at 0x${o.descriptor.toString(16)}; no notification (ON was set or SN suppressed it)`;
  return null;
}

export interface PciBusSnapshot {
  configAddress: number;
  functions: { devfn: number; config: number[]; device: unknown }[];
  dmaLog: readonly DmaLogEntry[];
  dmaLogLength: number;
  msiLog: readonly MsiMessage[];
  msiLogLength: number;
}

/** A BAR decoding at this moment. */
interface Window {
  fn: Fn;
  bar: number;
  base: number;
  size: number;
}

interface Fn {
  devfn: number;
  model: PciFunctionModel;
  config: number[];
  /** Writable bits of each configuration byte (BARs excepted: they are handled apart). */
  mask: Uint8Array;
  /** Offset of each capability by ID. */
  caps: Map<number, number>;
  /** Offset of each extended capability by ID. */
  extCaps: Map<number, number>;
  /** Configuration bytes a snapshot keeps (0x100, or the end of the last extended capability): the rest are zeros that stay zeros. */
  used: number;
  /** A virtual function: its PF and index; null for any other function. */
  vf: { pf: Fn; index: number } | null;
  /** A PF's virtual functions now (VF Enable set), by index. */
  vfs: Fn[];
}

const HOST_LIMIT = 1n << 52n;

function checkSpec(spec: PciFunctionSpec): void {
  if (spec.vendorId === 0xffff || spec.vendorId < 0 || spec.vendorId > 0xffff) throw new RangeError(`vendor ID ${spec.vendorId} is not valid`);
  if (spec.bars.length > 6) throw new RangeError('a type-0 header has 6 BARs');
  spec.bars.forEach((b, i) => {
    if (b === null) return;
    const pow2 = Number.isInteger(b.size) && b.size > 0 && (b.size & (b.size - 1)) === 0;
    if (!pow2) throw new RangeError(`BAR${i} size ${b.size} is not a power of two`);
    // 6.2.5.1: memory BARs ask for at least 16 bytes, I/O BARs for 4..256
    if (b.kind === 'io' && (b.size < 4 || b.size > 256)) throw new RangeError(`BAR${i}: an I/O BAR is 4..256 bytes`);
    if (b.kind !== 'io' && (b.size < 16 || b.size > 0x80000000)) throw new RangeError(`BAR${i}: a memory BAR here is 16 bytes..2 GiB`);
    if (b.kind === 'mem64' && (i === 5 || spec.bars[i + 1] !== null)) throw new RangeError(`BAR${i}: a 64-bit BAR needs the next slot free`);
  });
}

export interface PciBusOptions {
  /** Memory DMA reaches and whose MMIO handler the bus takes over (the previous one stays behind it). */
  mem: PhysMem;
  /** The port bus CONFIG_ADDRESS / CONFIG_DATA are claimed on and I/O BARs decode on. */
  ports: PortBus;
  /** The machine's DMA remapper (default: none, PassThroughRemapper). */
  remapper?: DmaRemapper;
  /** Where MSI interrupt messages go (default: nowhere; they are still decoded and logged). */
  msiSink?: MsiSink | null;
  /**
   * Whether the bus takes over `mem`'s MMIO handler (default true: a machine's own bus). A bus
   * inside a hypervisor (a VM's emulated devices, hv/host.ts) leaves it alone: its memory BARs are
   * at guest-physical addresses, reached through `mmioHandler` from the VM's MMIO exits, and `mem`
   * is only where its functions' DMA goes (through the remapper).
   */
  claimMmio?: boolean;
  /**
   * An ECAM window (PCIe 3.0, 7.2.2) at this memory address (1-MiB aligned): bus 0's configuration
   * spaces, function (device, fn)'s 4 KiB at base + (device << 15 | fn << 12), reached by the bus's
   * MMIO handler like a memory BAR (default: none). Only bus 0 exists, so the window is 1 MiB.
   */
  ecamBase?: number;
}

export class PciBus implements PortDecoder {
  configAddress = 0;
  readonly mem: PhysMem;
  remapper: DmaRemapper;
  msiSink: MsiSink | null;
  /** Every DMA request a function made, in order (append-only; snapshots keep its length). */
  dmaLog: DmaLogEntry[] = [];
  /** Told of each request once it is decided and logged (the host's trace, hv/host-machine.ts). */
  onDma: ((e: DmaLogEntry) => void) | null = null;
  /** Every MSI interrupt message a function sent, decoded (append-only). */
  msiLog: MsiMessage[] = [];
  /** Told of each interrupt message once it is decided and logged (the host's trace, hv/host-machine.ts). */
  onMsi: ((m: MsiMessage) => void) | null = null;
  private readonly fns = new Map<number, Fn>();
  private memWindows: Window[] = [];
  private ioWindows: Window[] = [];
  private readonly fallback: MmioHandler;
  private readHi = 0xffffffff;
  /** The ECAM window's base, or null. */
  readonly ecamBase: number | null;
  /** The bus's memory-BAR decoder as an MMIO handler (what takes over PhysMem's, when it does). */
  readonly mmioHandler: MmioHandler;

  constructor(opts: PciBusOptions) {
    this.mem = opts.mem;
    this.remapper = opts.remapper ?? new PassThroughRemapper();
    this.msiSink = opts.msiSink ?? null;
    const claim = opts.claimMmio ?? true;
    const ecam = opts.ecamBase ?? null;
    if (ecam !== null && (!Number.isInteger(ecam) || ecam <= 0 || ecam % 0x100000 !== 0 || ecam + 0x100000 > Number(HOST_LIMIT))) throw new RangeError(`ECAM base 0x${ecam.toString(16)} is not a 1-MiB aligned address`);
    this.ecamBase = ecam;
    this.fallback = claim ? opts.mem.mmio : { read: (_pa, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1), write: () => {}, readHi: 0xffffffff };
    const bus = this;
    this.mmioHandler = {
      get readHi() {
        return bus.readHi;
      },
      read: (pa, size) => this.mmioRead(pa, size),
      write: (pa, size, value, valueHi) => this.mmioWrite(pa, size, value, valueHi),
    };
    if (claim) opts.mem.mmio = this.mmioHandler;
    opts.ports.claim(CONFIG_ADDRESS_PORT, 4, this.addressPort);
    opts.ports.claim(CONFIG_DATA_PORT, 4, this.dataPort);
    opts.ports.decoder = this;
  }

  /** Puts `model` on bus 0 at `device`.`fn`. */
  add(device: number, fn: number, model: PciFunctionModel): void {
    const rid = requesterId(0, device, fn);
    const devfn = rid & 0xff;
    if (this.fns.has(devfn)) throw new Error(`00:${device.toString(16).padStart(2, '0')}.${fn} is taken`);
    const sriov = model.spec.sriov;
    if (sriov !== undefined) checkSriov(devfn, model, sriov);
    const f = this.build(devfn, model, null);
    this.fns.set(devfn, f);
    this.setMultiFunctionBits();
    model.connect(this.portFor(f));
    this.decodeWindows();
  }

  /**
   * A function's configuration space from its spec: the type-0 header, capabilities from 0x40,
   * extended capabilities from 0x100 (the SR-IOV capability last). A virtual function (`vf`) gets
   * the VF rules of SR-IOV 1.1, 3.4.1 (this file's header).
   */
  private build(devfn: number, model: PciFunctionModel, vf: Fn['vf']): Fn {
    const spec = model.spec;
    checkSpec(spec);
    const config = new Array<number>(CONFIG_SPACE_SIZE).fill(0);
    const mask = new Uint8Array(CONFIG_SPACE_SIZE);
    const put = (off: number, size: number, v: number) => {
      for (let i = 0; i < size; i++) config[off + i] = (v >>> (8 * i)) & 0xff;
    };
    put(CFG.VENDOR_ID, 2, vf === null ? spec.vendorId : 0xffff);
    put(CFG.DEVICE_ID, 2, vf === null ? spec.deviceId : 0xffff);
    put(CFG.REVISION, 1, spec.revision);
    put(CFG.CLASS_CODE, 3, spec.classCode);
    put(CFG.SUBSYS_VENDOR_ID, 2, spec.subsystemVendorId ?? 0);
    put(CFG.SUBSYS_ID, 2, spec.subsystemId ?? 0);
    put(CFG.INTERRUPT_PIN, 1, vf === null ? spec.interruptPin : 0);
    const commandBits = vf === null ? spec.commandBits : spec.commandBits & ~(CMD.IO | CMD.MEMORY | CMD.INTX_DISABLE);
    mask[CFG.COMMAND] = commandBits & 0xff;
    mask[CFG.COMMAND + 1] = (commandBits >> 8) & 0xff;
    mask[CFG.INTERRUPT_LINE] = 0xff;
    if (vf === null) {
      spec.bars.forEach((b, i) => {
        if (b !== null) put(CFG.BAR0 + 4 * i, 4, typeBits(b));
      });
    }
    const caps = new Map<number, number>();
    let at = CAP_START;
    let prevNext: number = CFG.CAP_PTR;
    for (const c of spec.capabilities ?? []) {
      if (c.length % 4 !== 0 || at + c.length > EXT_CAP_START) throw new RangeError(`capability 0x${c.id.toString(16)} does not fit`);
      config[prevNext] = at;
      config[at] = c.id;
      c.init.forEach((v, k) => (config[at + 2 + k] = v & 0xff));
      c.writable.forEach((v, k) => (mask[at + 2 + k] = v & 0xff));
      caps.set(c.id, at);
      prevNext = at + 1;
      at += c.length;
    }
    if (caps.size > 0) put(CFG.STATUS, 2, STATUS_CAP_LIST);
    // Extended capabilities: a chain of dword headers from 0x100 (PCIe 3.0, 7.9.3).
    const ext: ExtCapabilitySpec[] = [...(spec.extendedCapabilities ?? [])];
    if (spec.sriov !== undefined) ext.push(sriovCapability(devfn, spec.sriov));
    const extCaps = new Map<number, number>();
    at = EXT_CAP_START;
    let prevHeader = -1;
    for (const c of ext) {
      if (c.length % 4 !== 0 || c.length < 4 || at + c.length > CONFIG_SPACE_SIZE) throw new RangeError(`extended capability 0x${c.id.toString(16)} does not fit`);
      if (prevHeader >= 0) put(prevHeader, 4, (this.readBytes(config, prevHeader, 4) | (at << 20)) >>> 0);
      put(at, 4, (c.id & 0xffff) | ((c.version & 0xf) << 16));
      c.init.forEach((v, k) => (config[at + 4 + k] = v & 0xff));
      c.writable.forEach((v, k) => (mask[at + 4 + k] = v & 0xff));
      extCaps.set(c.id, at);
      prevHeader = at;
      at += c.length;
    }
    return { devfn, model, config, mask, caps, extCaps, used: at, vf, vfs: [] };
  }

  private readBytes(config: readonly number[], off: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= config[off + i]! << (8 * i);
    return v >>> 0;
  }

  /** The model at 00:device.fn, or null. */
  function(device: number, fn: number): PciFunctionModel | null {
    return this.fns.get((device << 3) | fn)?.model ?? null;
  }

  /** Offset of capability `id` of 00:device.fn in its configuration space, or -1 (absent function or capability). */
  capability(device: number, fn: number, id: number): number {
    return this.fns.get((device << 3) | fn)?.caps.get(id) ?? -1;
  }

  /** Offset of extended capability `id` of 00:device.fn, or -1 (absent function or capability). */
  extendedCapability(device: number, fn: number, id: number): number {
    return this.fns.get((device << 3) | fn)?.extCaps.get(id) ?? -1;
  }

  /** The routing IDs (bus << 8 | device << 3 | function) of 00:device.fn's virtual functions now, by index. */
  virtualFunctions(device: number, fn: number): number[] {
    return (this.fns.get((device << 3) | fn)?.vfs ?? []).map((v) => v.devfn);
  }

  // ---- configuration mechanism #1 -----------------------------------------------------------------

  /** CONFIG_ADDRESS: a dword register; narrower accesses to 0xCF8..0xCFB do not reach it. */
  private readonly addressPort: PortDevice = {
    name: 'pci-config-address',
    read: () => 0xff,
    write: () => {},
    readSized: (offset, size) => (offset === 0 && size === 4 ? this.configAddress : size === 4 ? 0xffffffff : (1 << (8 * size)) - 1),
    writeSized: (offset, size, value) => {
      if (offset === 0 && size === 4) this.configAddress = (value & 0x80fffffc) >>> 0;
    },
  };

  private readonly dataPort: PortDevice = {
    name: 'pci-config-data',
    read: (offset) => this.configDataRead(offset, 1),
    write: (offset, value) => this.configDataWrite(offset, 1, value),
    readSized: (offset, size) => this.configDataRead(offset, size),
    writeSized: (offset, size, value) => this.configDataWrite(offset, size, value),
  };

  /** The function CONFIG_ADDRESS selects and the register offset, or null (disabled, other bus, absent). */
  private selected(): { f: Fn | undefined; reg: number } | null {
    const a = this.configAddress;
    if ((a & 0x80000000) === 0) return null;
    if (((a >>> 16) & 0xff) !== 0) return { f: undefined, reg: 0 };
    return { f: this.fns.get((a >>> 8) & 0xff), reg: a & 0xfc };
  }

  private configDataRead(offset: number, size: 1 | 2 | 4): number {
    const all = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const s = this.selected();
    if (s === null || s.f === undefined) return all;
    return this.readConfig(s.f, s.reg + offset, size);
  }

  private configDataWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    const s = this.selected();
    if (s === null || s.f === undefined) return;
    this.writeConfig(s.f, s.reg + offset, size, value);
  }

  /**
   * Reads configuration bytes of 00:device.fn directly, anywhere in its 4 KiB (what the host's ECAM
   * accesses would read, and the ECAM window does when the bus has one; CONFIG_DATA reaches only
   * the first 256 bytes); all ones if absent.
   */
  configRead(device: number, fn: number, offset: number, size: 1 | 2 | 4): number {
    const f = this.fns.get((device << 3) | fn);
    if (f === undefined) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return this.readConfig(f, offset, size);
  }

  configWrite(device: number, fn: number, offset: number, size: 1 | 2 | 4, value: number): void {
    const f = this.fns.get((device << 3) | fn);
    if (f !== undefined) this.writeConfig(f, offset, size, value);
  }

  private readConfig(f: Fn, offset: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= f.config[(offset + i) & 0xfff]! << (8 * i);
    return v >>> 0;
  }

  private writeConfig(f: Fn, offset: number, size: number, value: number): void {
    const sriovAt = f.extCaps.get(SRIOV_CAP_ID);
    const before = sriovAt === undefined ? null : this.sriovState(f, sriovAt);
    const touched = new Set<number>();
    const vfBars = new Set<number>();
    for (let i = 0; i < size; i++) {
      const off = (offset + i) & 0xfff;
      const byte = (value >>> (8 * i)) & 0xff;
      // A VF's BARs read 0 and ignore writes (SR-IOV 1.1, 3.4.1.11): its mask there is all zeros.
      if (f.vf === null && off >= CFG.BAR0 && off < CFG.BAR0 + 24) {
        const bar = (off - CFG.BAR0) >> 2;
        f.config[off] = byte;
        touched.add(bar);
        continue;
      }
      if (sriovAt !== undefined && off >= sriovAt + SRIOV.VF_BAR0 && off < sriovAt + SRIOV.VF_BAR0 + 24) {
        f.config[off] = byte;
        vfBars.add((off - sriovAt - SRIOV.VF_BAR0) >> 2);
        continue;
      }
      const m = f.mask[off]!;
      f.config[off] = (f.config[off]! & ~m) | (byte & m);
    }
    // A BAR keeps only its address bits above its size and its type bits (6.2.5.1).
    for (const bar of touched) this.fixBar(f, bar);
    if (sriovAt !== undefined && before !== null) this.sriovWritten(f, sriovAt, before, vfBars);
    this.decodeWindows();
  }

  // ---- SR-IOV (SR-IOV 1.1, 3.3) -------------------------------------------------------------------

  private sriovState(f: Fn, at: number): { enabled: boolean; numVfs: number; pageSize: number } {
    return {
      enabled: (this.readConfig(f, at + SRIOV.CONTROL, 2) & SRIOV_CTRL.VF_ENABLE) !== 0,
      numVfs: this.readConfig(f, at + SRIOV.NUM_VFS, 2),
      pageSize: this.readConfig(f, at + SRIOV.SYSTEM_PAGE_SIZE, 4),
    };
  }

  private putConfig(f: Fn, off: number, size: number, v: number): void {
    for (let k = 0; k < size; k++) f.config[off + k] = (v >>> (8 * k)) & 0xff;
  }

  /** After a write to a PF: NumVFs and System Page Size kept as the rules say, VF BARs masked, VFs made or removed. */
  private sriovWritten(f: Fn, at: number, before: { enabled: boolean; numVfs: number; pageSize: number }, vfBars: Set<number>): void {
    const spec = f.model.spec.sriov!;
    const now = this.sriovState(f, at);
    // NumVFs may change only while VF Enable is clear (3.3.7); System Page Size likewise, and it
    // must name exactly one supported page size (3.3.13).
    if (before.enabled && now.numVfs !== before.numVfs) this.putConfig(f, at + SRIOV.NUM_VFS, 2, before.numVfs);
    const ps = now.pageSize;
    const supported = spec.supportedPageSizes ?? SRIOV_REQUIRED_PAGE_SIZES;
    const pageOk = !before.enabled && ps !== 0 && (ps & (ps - 1)) === 0 && (ps & supported) !== 0;
    if (ps !== before.pageSize && !pageOk) this.putConfig(f, at + SRIOV.SYSTEM_PAGE_SIZE, 4, before.pageSize);
    // Each VF's aperture depends on the page size: every VF BAR's address bits follow it.
    const bars = this.sriovState(f, at).pageSize !== before.pageSize ? spec.vfBars.map((_b, i) => i) : [...vfBars];
    for (const i of bars) this.fixVfBar(f, at, i);
    const enabled = (this.readConfig(f, at + SRIOV.CONTROL, 2) & SRIOV_CTRL.VF_ENABLE) !== 0;
    if (enabled && !before.enabled) this.createVfs(f, at);
    else if (!enabled && before.enabled) this.removeVfs(f);
  }

  /** The bytes each VF's BAR `i` takes: its size rounded up to the system page size (3.3.13-14). */
  private vfBarSize(f: Fn, at: number, i: number): number {
    const b = f.model.spec.sriov!.vfBars[i];
    if (b === null || b === undefined) return 0;
    const ps = this.readConfig(f, at + SRIOV.SYSTEM_PAGE_SIZE, 4);
    const page = 2 ** (12 + Math.log2((ps & -ps) >>> 0));
    return Math.max(b.size, page);
  }

  private fixVfBar(f: Fn, at: number, i: number): void {
    const bars = f.model.spec.sriov!.vfBars;
    const off = at + SRIOV.VF_BAR0 + 4 * i;
    const raw = this.readConfig(f, off, 4);
    const b = bars[i] ?? null;
    let v: number;
    if (b !== null) {
      const size = this.vfBarSize(f, at, i);
      v = size > 0x80000000 ? typeBits(b) : ((raw & ~(size - 1) & ~0xf) | typeBits(b)) >>> 0;
    } else if (i > 0 && bars[i - 1]?.kind === 'mem64') v = raw;
    else v = 0;
    this.putConfig(f, off, 4, v);
  }

  /** The VF BAR `i`'s base (VF 0's aperture), 0 if unplaced. */
  private vfBarBase(f: Fn, at: number, i: number): number {
    const b = f.model.spec.sriov!.vfBars[i];
    if (b === null || b === undefined) return 0;
    const lo = (this.readConfig(f, at + SRIOV.VF_BAR0 + 4 * i, 4) & ~0xf) >>> 0;
    const hi = b.kind === 'mem64' ? this.readConfig(f, at + SRIOV.VF_BAR0 + 4 * i + 4, 4) : 0;
    return hi * 0x100000000 + lo;
  }

  /** VF Enable was set: NumVFs virtual functions appear (none if NumVFs is 0 or above TotalVFs). */
  private createVfs(pf: Fn, at: number): void {
    const spec = pf.model.spec.sriov!;
    const n = this.readConfig(pf, at + SRIOV.NUM_VFS, 2);
    if (n < 1 || n > spec.totalVfs) return;
    for (let k = 0; k < n; k++) {
      const devfn = pf.devfn + spec.firstVfOffset + k * spec.vfStride;
      if (this.fns.has(devfn)) throw new Error(`VF ${k} of ${pf.model.name}: routing ID 0x${devfn.toString(16)} is taken by another function`);
      const model = pf.model.virtualFunction!(k);
      checkVfModel(pf.model, model);
      const f = this.build(devfn, model, { pf, index: k });
      this.fns.set(devfn, f);
      pf.vfs.push(f);
      model.connect(this.portFor(f));
    }
  }

  private removeVfs(pf: Fn): void {
    for (const v of pf.vfs) this.fns.delete(v.devfn);
    pf.vfs = [];
  }

  private fixBar(f: Fn, i: number): void {
    const bars = f.model.spec.bars;
    const off = CFG.BAR0 + 4 * i;
    const raw = this.readConfig(f, off, 4);
    const b = bars[i] ?? null;
    let v: number;
    if (b !== null) v = ((raw & ~(b.size - 1) & (b.kind === 'io' ? ~0x3 : ~0xf)) | typeBits(b)) >>> 0;
    else if (i > 0 && bars[i - 1]?.kind === 'mem64') v = raw; // the upper half of a 64-bit BAR: all address bits
    else v = 0; // unimplemented BARs read 0
    for (let k = 0; k < 4; k++) f.config[off + k] = (v >>> (8 * k)) & 0xff;
  }

  private setMultiFunctionBits(): void {
    for (const f of this.fns.values()) {
      if ((f.devfn & 7) !== 0 || f.vf !== null) continue;
      let multi = false;
      for (const g of this.fns.values()) if (g.vf === null && g.devfn >> 3 === f.devfn >> 3 && g.devfn !== f.devfn) multi = true;
      f.config[CFG.HEADER_TYPE] = multi ? HEADER_MULTI_FUNCTION : 0;
    }
  }

  // ---- BAR decoding -------------------------------------------------------------------------------

  /** Recomputes which BARs decode, from the command registers and BAR values. */
  private decodeWindows(): void {
    const mem: Window[] = [];
    const io: Window[] = [];
    for (const f of [...this.fns.values()].sort((a, b) => a.devfn - b.devfn)) {
      if (f.vf !== null) {
        // A VF decodes its share of the PF's VF BARs while VF Enable and VF MSE are set (3.3.3.4, 3.3.14).
        const pf = f.vf.pf;
        const at = pf.extCaps.get(SRIOV_CAP_ID)!;
        const ctrl = this.readConfig(pf, at + SRIOV.CONTROL, 2);
        if ((ctrl & SRIOV_CTRL.VF_ENABLE) === 0 || (ctrl & SRIOV_CTRL.VF_MSE) === 0) continue;
        pf.model.spec.sriov!.vfBars.forEach((b, i) => {
          if (b === null) return;
          const first = this.vfBarBase(pf, at, i);
          const size = this.vfBarSize(pf, at, i);
          const base = first + f.vf!.index * size;
          if (first !== 0 && base + size <= Number(HOST_LIMIT)) mem.push({ fn: f, bar: i, base, size });
        });
        continue;
      }
      const cmd = this.readConfig(f, CFG.COMMAND, 2);
      f.model.spec.bars.forEach((b, i) => {
        if (b === null) return;
        const lo = this.readConfig(f, CFG.BAR0 + 4 * i, 4);
        if (b.kind === 'io') {
          const base = lo & ~0x3;
          if ((cmd & CMD.IO) !== 0 && base !== 0 && base + b.size <= 0x10000) io.push({ fn: f, bar: i, base, size: b.size });
          return;
        }
        const hi = b.kind === 'mem64' ? this.readConfig(f, CFG.BAR0 + 4 * i + 4, 4) : 0;
        const base = hi * 0x100000000 + ((lo & ~0xf) >>> 0);
        if ((cmd & CMD.MEMORY) !== 0 && base !== 0 && base + b.size <= Number(HOST_LIMIT)) mem.push({ fn: f, bar: i, base, size: b.size });
      });
    }
    this.memWindows = mem;
    this.ioWindows = io;
  }

  /** The memory BARs decoding now: function, BAR, base and size (for views and tests). */
  memoryWindows(): { devfn: number; device: string; bar: number; base: number; size: number }[] {
    return this.memWindows.map((w) => ({ devfn: w.fn.devfn, device: w.fn.model.name, bar: w.bar, base: w.base, size: w.size }));
  }

  ioWindowsNow(): { devfn: number; device: string; bar: number; base: number; size: number }[] {
    return this.ioWindows.map((w) => ({ devfn: w.fn.devfn, device: w.fn.model.name, bar: w.bar, base: w.base, size: w.size }));
  }

  private memWindowAt(pa: number, size: number): Window | null {
    for (const w of this.memWindows) if (pa >= w.base && pa + size <= w.base + w.size) return w;
    return null;
  }

  /**
   * An access inside the ECAM window: the configuration bytes of the function its address names
   * (all ones for an absent one), as CONFIG_DATA would give them but anywhere in the 4 KiB. An
   * 8-byte access is two dword accesses, low first (PCIe leaves one that crosses a dword undefined).
   */
  private ecamAccess(pa: number, size: number, value?: number, valueHi?: number): number | null {
    const base = this.ecamBase;
    if (base === null || pa < base || pa + size > base + 0x100000) return null;
    const off = pa - base;
    const device = (off >> 15) & 0x1f;
    const fn = (off >> 12) & 7;
    const reg = off & 0xfff;
    const one = (r: number, n: number, v?: number): number => {
      const sz = n as 1 | 2 | 4;
      if (v === undefined) return this.configRead(device, fn, r, sz);
      this.configWrite(device, fn, r, sz, v);
      return 0;
    };
    if (size <= 4) {
      this.readHi = 0;
      return one(reg, size, value);
    }
    const lo = one(reg, 4, value);
    const hi = one(reg + 4, 4, valueHi);
    this.readHi = hi;
    return lo;
  }

  private mmioRead(pa: number, size: number): number {
    const e = this.ecamAccess(pa, size);
    if (e !== null) return e;
    const w = this.memWindowAt(pa, size);
    if (w === null) {
      const v = this.fallback.read(pa, size);
      this.readHi = this.fallback.readHi ?? 0xffffffff;
      return v;
    }
    const off = pa - w.base;
    if (size <= 4) {
      this.readHi = 0;
      return w.fn.model.barRead(w.bar, off, size as 1 | 2 | 4) >>> 0;
    }
    // An 8-byte access reaches the function as its two dwords, low first.
    const lo = w.fn.model.barRead(w.bar, off, 4) >>> 0;
    const hi = w.fn.model.barRead(w.bar, off + 4, 4) >>> 0;
    this.readHi = size === 8 ? hi : hi & ((1 << ((size - 4) * 8)) - 1);
    return lo;
  }

  private mmioWrite(pa: number, size: number, value: number, valueHi: number): void {
    if (this.ecamAccess(pa, size, value >>> 0, valueHi >>> 0) !== null) return;
    const w = this.memWindowAt(pa, size);
    if (w === null) {
      this.fallback.write(pa, size, value, valueHi);
      return;
    }
    const off = pa - w.base;
    if (size <= 4) {
      w.fn.model.barWrite(w.bar, off, size as 1 | 2 | 4, value);
      return;
    }
    w.fn.model.barWrite(w.bar, off, 4, value >>> 0);
    w.fn.model.barWrite(w.bar, off + 4, 4, valueHi >>> 0);
  }

  /** PortDecoder: the I/O BAR decoding `port` now, as a wide device (it sees the whole access). */
  decode(port: number): DecodedPorts | null {
    for (const w of this.ioWindows) {
      if (port < w.base || port >= w.base + w.size) continue;
      const model = w.fn.model;
      const bar = w.bar;
      const device: PortDevice = {
        name: model.name,
        read: (offset) => model.barRead(bar, offset, 1) & 0xff,
        write: (offset, value) => model.barWrite(bar, offset, 1, value & 0xff),
        readSized: (offset, size) => model.barRead(bar, offset, size),
        writeSized: (offset, size, value) => model.barWrite(bar, offset, size, value),
      };
      return { first: w.base, last: w.base + w.size - 1, device };
    }
    return null;
  }

  // ---- bus mastering: DMA and MSI -----------------------------------------------------------------

  private portFor(f: Fn): PciFunctionPort {
    const rid = f.devfn;
    return {
      rid,
      command: () => this.readConfig(f, CFG.COMMAND, 2),
      config: (offset, size) => this.readConfig(f, offset, size),
      capability: (id) => f.caps.get(id) ?? -1,
      dmaRead: (iova, length, what) => {
        const r = this.dma(f, 'read', iova, length, undefined, what);
        return { outcome: r.outcome, bytes: r.bytes };
      },
      dmaWrite: (iova, data, what) => ({ outcome: this.dma(f, 'write', iova, data.length, data, what).outcome }),
      signalMsi: () => this.signalMsi(f),
    };
  }

  private dma(f: Fn, access: 'read' | 'write', iova: bigint, length: number, data: Uint8Array | undefined, what?: DmaPurpose): { outcome: DmaOutcome | null; bytes: Uint8Array | null } {
    if ((this.readConfig(f, CFG.COMMAND, 2) & CMD.BUS_MASTER) === 0) throw new Error(`${f.model.name} issued a DMA request with bus mastering off`);
    const entry: DmaLogEntry = { seq: this.dmaLog.length, device: f.model.name, rid: f.devfn, access, what: what ?? null, iova: `0x${iova.toString(16)}`, length, ok: false, hpa: null, domainId: null, fault: null, iotlbHit: false, refs: [], record: null };
    this.dmaLog.push(entry);
    let r: ReturnType<typeof doDma>;
    try {
      r = doDma(this.remapper, this.mem, { sid: f.devfn, iova, access, length }, data);
    } catch (e) {
      // An untranslated address (no IOMMU, or translation off) beyond the host's 52 bits reaches no
      // page: the remappers refuse it with a RangeError, and the request ends as a master abort
      // would. Any other error is a model bug and goes on up.
      if (!(e instanceof RangeError) || iova + BigInt(length) <= HOST_LIMIT) throw e;
      entry.fault = { vendor: 'none', reason: 'beyond-host' };
      this.onDma?.(entry);
      return { outcome: null, bytes: null };
    }
    const o = r.outcome;
    entry.refs = o.refs.map((x) => {
      if (x.kind === 'irte') throw new Error('a DMA walk read an interrupt-remapping entry');
      return { ...logRef(x), kind: x.kind };
    });
    if (o.ok) {
      entry.ok = true;
      entry.hpa = o.hpa;
      entry.domainId = o.domainId;
      entry.iotlbHit = o.iotlbHit;
    } else {
      const d = o.fault;
      if (d.vendor === 'hv') entry.fault = { vendor: 'hv', reason: 'not-guest-ram' };
      else {
        const l = logFault(d);
        entry.fault = l.fault;
        entry.record = l.record;
      }
    }
    this.onDma?.(entry);
    return r;
  }

  /**
   * Sends the function's MSI message if its MSI capability is enabled and bus mastering is on
   * (PCI 3.0, 6.8.1.3 and 6.8.1.6): a dword memory write of the message data to the message
   * address. A write to 0xFEEx_xxxx is an interrupt message for the processors (SDM Vol. 3A,
   * 11.11.1), not DMA to memory: when the bus's remapper remaps interrupts (iommu/types.ts
   * InterruptRemapper) it decides first. Passed as written → the message goes to the MSI sink;
   * remapped → the interrupt the IRTE names goes; posted → the notification event goes, if the
   * unit sent one; blocked or aborted → nothing goes (`notDelivered` says why). The log keeps the
   * address and data as written, the decoded fields of what went to the sink (or, when nothing
   * did, of the message as written) and `remap`, the remapper's decision.
   * Any other address is an ordinary memory write of the data dword, made as DMA.
   */
  private signalMsi(f: Fn): boolean {
    const at = f.caps.get(MSI_CAP_ID);
    if (at === undefined) return false;
    const control = this.readConfig(f, at + MSI_REG.CONTROL, 2);
    if ((control & 1) === 0) return false;
    if ((this.readConfig(f, CFG.COMMAND, 2) & CMD.BUS_MASTER) === 0) return false;
    const lo = this.readConfig(f, at + MSI_REG.ADDRESS_LO, 4);
    const hi = this.readConfig(f, at + MSI_REG.ADDRESS_HI, 4);
    const data = this.readConfig(f, at + MSI_REG.DATA_64, 2);
    if (hi === 0 && isInterruptAddress(lo)) {
      const seq = this.msiLog.length;
      const name = f.model.name;
      const o = isInterruptRemapper(this.remapper) ? this.remapper.remapInterrupt({ sid: f.devfn, address: lo, data }) : null;
      const target = o === null ? null : o.kind === 'remapped' ? o.target : o.kind === 'posted' ? o.notification : null;
      const msg = target !== null ? msiFromTarget(seq, name, f.devfn, lo, data, target) : decodeMsi(seq, name, f.devfn, lo, data);
      msg.remap = o === null ? null : msiRemapLog(o);
      const stopped = o === null ? null : stoppedWhy(o);
      if (stopped !== null) msg.notDelivered = stopped;
      else if (this.msiSink !== null) {
        const why = this.msiSink.deliver(msg);
        msg.delivered = why === null;
        msg.notDelivered = why;
      } else {
        msg.notDelivered = 'no interrupt sink';
      }
      this.msiLog.push(msg);
      this.onMsi?.(msg);
      return true;
    }
    const bytes = new Uint8Array([data & 0xff, (data >> 8) & 0xff, 0, 0]);
    const iova = (BigInt(hi) << 32n) | BigInt(lo);
    if ((iova & 0xfffn) > 0xffcn) return true; // cannot happen: the address is dword-aligned
    this.dma(f, 'write', iova, 4, bytes);
    return true;
  }

  // ---- state --------------------------------------------------------------------------------------

  snapshot(): PciBusSnapshot {
    return {
      configAddress: this.configAddress,
      functions: [...this.fns.values()].map((f) => ({ devfn: f.devfn, config: f.config.slice(0, f.used), device: f.model.snapshot() })),
      dmaLog: this.dmaLog,
      dmaLogLength: this.dmaLog.length,
      msiLog: this.msiLog,
      msiLogLength: this.msiLog.length,
    };
  }

  /**
   * Back to `snap` (taken of a bus with the same functions added at the same places; virtual
   * functions are made again as the PFs' restored VF Enable and NumVFs say, then given their state).
   */
  restore(snap: PciBusSnapshot): void {
    this.configAddress = snap.configAddress >>> 0;
    const saved = new Map(snap.functions.map((s) => [s.devfn, s]));
    const put = (f: Fn) => {
      const s = saved.get(f.devfn);
      if (s === undefined || s.config.length !== f.used) throw new Error(`the snapshot has no function at devfn ${f.devfn} here`);
      f.config = s.config.concat(new Array<number>(CONFIG_SPACE_SIZE - s.config.length).fill(0));
      f.model.restore(s.device);
    };
    const pfs = [...this.fns.values()].filter((f) => f.vf === null);
    for (const f of pfs) this.removeVfs(f);
    for (const f of pfs) put(f);
    for (const f of pfs) {
      const at = f.extCaps.get(SRIOV_CAP_ID);
      if (at === undefined || (this.readConfig(f, at + SRIOV.CONTROL, 2) & SRIOV_CTRL.VF_ENABLE) === 0) continue;
      this.createVfs(f, at);
      for (const v of f.vfs) put(v);
    }
    if (snap.functions.length !== this.fns.size) throw new Error('the snapshot is of a bus with other functions');
    this.dmaLog = snap.dmaLog.slice(0, snap.dmaLogLength).map((e) => ({ ...e }));
    this.msiLog = snap.msiLog.slice(0, snap.msiLogLength).map((m) => ({ ...m }));
    this.decodeWindows();
  }
}

/** The SR-IOV capability of a PF at `devfn` as an extended capability (its registers' initial values and writable bits). */
function sriovCapability(devfn: number, s: SriovSpec): ExtCapabilitySpec {
  const n = SRIOV.LENGTH - 4;
  const init = new Array<number>(n).fill(0);
  const writable = new Array<number>(n).fill(0);
  const put = (a: number[], off: number, size: number, v: number) => {
    for (let i = 0; i < size; i++) a[off - 4 + i] = (v >>> (8 * i)) & 0xff;
  };
  put(writable, SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE | SRIOV_CTRL.ARI_CAPABLE_HIERARCHY);
  put(init, SRIOV.INITIAL_VFS, 2, s.initialVfs ?? s.totalVfs);
  put(init, SRIOV.TOTAL_VFS, 2, s.totalVfs);
  put(writable, SRIOV.NUM_VFS, 2, 0xffff);
  put(init, SRIOV.FUNCTION_DEPENDENCY_LINK, 1, devfn & 7);
  put(init, SRIOV.FIRST_VF_OFFSET, 2, s.firstVfOffset);
  put(init, SRIOV.VF_STRIDE, 2, s.vfStride);
  put(init, SRIOV.VF_DEVICE_ID, 2, s.vfDeviceId);
  put(init, SRIOV.SUPPORTED_PAGE_SIZES, 4, s.supportedPageSizes ?? SRIOV_REQUIRED_PAGE_SIZES);
  // System Page Size: 4 KiB at reset (3.3.13); writable, checked after each write.
  put(init, SRIOV.SYSTEM_PAGE_SIZE, 4, 1);
  put(writable, SRIOV.SYSTEM_PAGE_SIZE, 4, 0xffffffff);
  s.vfBars.forEach((b, i) => {
    if (b !== null) put(init, SRIOV.VF_BAR0 + 4 * i, 4, typeBits(b));
  });
  return { id: SRIOV_CAP_ID, version: 1, length: SRIOV.LENGTH, init, writable };
}

function checkSriov(devfn: number, model: PciFunctionModel, s: SriovSpec): void {
  const name = model.name;
  if (model.virtualFunction === undefined) throw new RangeError(`${name}: an SR-IOV PF's model must give its VFs (virtualFunction)`);
  if (!Number.isInteger(s.totalVfs) || s.totalVfs < 1 || s.totalVfs > 0xffff) throw new RangeError(`${name}: TotalVFs ${s.totalVfs}`);
  const initial = s.initialVfs ?? s.totalVfs;
  if (!Number.isInteger(initial) || initial < 1 || initial > s.totalVfs) throw new RangeError(`${name}: InitialVFs ${initial} is not 1..TotalVFs`);
  if (!Number.isInteger(s.firstVfOffset) || s.firstVfOffset < 1) throw new RangeError(`${name}: First VF Offset ${s.firstVfOffset}`);
  if (!Number.isInteger(s.vfStride) || (s.totalVfs > 1 && s.vfStride < 1)) throw new RangeError(`${name}: VF Stride ${s.vfStride}`);
  // Without ARI (and without other buses) every VF must be on bus 0.
  const last = devfn + s.firstVfOffset + (s.totalVfs - 1) * s.vfStride;
  if (last > 0xff) throw new RangeError(`${name}: VF ${s.totalVfs - 1} would be at routing ID 0x${last.toString(16)}, beyond bus 0`);
  const sizes = s.supportedPageSizes ?? SRIOV_REQUIRED_PAGE_SIZES;
  if ((sizes & 1) === 0) throw new RangeError(`${name}: a PF supports 4 KiB pages (Supported Page Sizes bit 0)`);
  if (s.vfBars.length > 6) throw new RangeError(`${name}: 6 VF BARs at most`);
  s.vfBars.forEach((b, i) => {
    if (b === null) return;
    if (b.kind === 'io') throw new RangeError(`${name}: VF BAR${i}: VF BARs are memory BARs`);
    if (!Number.isInteger(b.size) || b.size < 16 || (b.size & (b.size - 1)) !== 0 || b.size > 0x80000000) throw new RangeError(`${name}: VF BAR${i} size ${b.size}`);
    if (b.kind === 'mem64' && (i === 5 || s.vfBars[i + 1] !== null)) throw new RangeError(`${name}: VF BAR${i}: a 64-bit BAR needs the next slot free`);
  });
}

function checkVfModel(pf: PciFunctionModel, vf: PciFunctionModel): void {
  const want = pf.spec.sriov!.vfBars;
  const bars = vf.spec.bars;
  if (vf.spec.sriov !== undefined) throw new RangeError(`${vf.name}: a VF is not itself a PF`);
  for (let i = 0; i < 6; i++) {
    const a = want[i] ?? null;
    const b = bars[i] ?? null;
    if ((a === null) !== (b === null) || (a !== null && b !== null && (a.kind !== b.kind || a.size !== b.size))) throw new RangeError(`${vf.name}: BAR${i} differs from ${pf.name}'s VF BAR${i}`);
  }
}

function typeBits(b: BarSpec): number {
  if (b.kind === 'io') return 0x1;
  return (b.kind === 'mem64' ? 0x4 : 0) | (b.prefetchable === true ? 0x8 : 0);
}
