/**
 * The vendor-neutral contract of DMA remapping (an IOMMU between devices and host memory).
 *
 * A device puts an address on the bus (an I/O virtual address, IOVA); the remapper decides, from
 * tables in host memory, which host-physical address that is, or blocks the request and records a
 * fault the way the vendor does (VT-d: a fault-recording register; AMD-Vi: an event-log entry).
 * Like the CPU page walks (mmu/types.ts) a translation never throws: it returns an outcome that
 * lists every table reference it made, in order, so views can animate it and tests can check it.
 *
 * Widths: IOVAs are up to 64 bits and are `bigint`; table entries (16-byte VT-d root/context
 * entries, 32-byte AMD-Vi DTEs) are `bigint` too. Host-physical addresses are plain numbers (at
 * most 52 bits, exact in a double), as in mem/physmem.ts. The remappers' own state (registers,
 * caches) is plain JSON-safe data for time travel: numbers and strings only.
 *
 * Interrupt remapping (InterruptRemapper below): a write to 0xFEEx_xxxx is not DMA but an
 * interrupt message. With remapping on, the unit looks the message up in an interrupt-remapping
 * table (VT-d: the IRTA table, indexed by the handle the message carries; AMD-Vi: the DTE's
 * interrupt table, indexed by MSI data bits 10:0) and either sends the interrupt the entry names,
 * posts it into a descriptor in memory (VT-d posted format), or blocks it with a fault, so that
 * a device cannot pick its own vector or destination.
 */

/** What a remapper needs of host memory. `PhysMem` is one. */
export interface IommuMemory {
  read(pa: number, size: number): number;
  write(pa: number, size: number, v: number): void;
  /** Whether `pa` is RAM (a table there can be read); other addresses are unbacked or MMIO. */
  isRam(pa: number): boolean;
}

export type DmaAccess = 'read' | 'write';

/** One DMA request as it reaches the remapping hardware. */
export interface DmaRequest {
  /** Requester / source ID: bus << 8 | device << 3 | function (PCI routing ID). */
  sid: number;
  /** The address the device put on the bus (an IOVA), 0 .. 2^64 - 1. */
  iova: bigint;
  access: DmaAccess;
  /**
   * Bytes, 1..4096. PCIe forbids a request that crosses a 4 KiB boundary, so one request is
   * translated once; a request that would cross one is the caller's error (RangeError).
   */
  length: number;
}

/** Builds a PCI requester ID. */
export function requesterId(bus: number, device: number, fn: number): number {
  if (bus < 0 || bus > 255 || device < 0 || device > 31 || fn < 0 || fn > 7) throw new RangeError(`no such PCI function ${bus}:${device}.${fn}`);
  return (bus << 8) | (device << 3) | fn;
}

/** What one table reference decided. */
export type RefDecision =
  /** The entry points at the next structure. */
  | 'next'
  /** The entry maps the page (a leaf). */
  | 'leaf'
  /** The entry says: no translation for this device (VT-d TT = 2, AMD-Vi V = 0 or Mode 0). */
  | 'pass-through'
  /** The walk stopped here with a fault. */
  | 'fault';

/** Which structure an entry belongs to. */
export type RefKind = 'root-entry' | 'context-entry' | 'device-table-entry' | 'page-table-entry' | 'irte';

/** One read of a remapping structure, in the order the hardware made it. */
export interface TableRef {
  kind: RefKind;
  /**
   * For page-table entries the level of the table (VT-d: 4 = PML4 .. 1 = PT; AMD-Vi: 6 .. 1);
   * 0 for root, context, device-table and interrupt-remapping table entries.
   */
  level: number;
  /** Index of the entry in its table (bus, devfn, DeviceID, the IOVA's 9-bit slice or the interrupt index). */
  index: number;
  /** Host-physical address of the entry. */
  pa: number;
  /**
   * The raw entry (128 bits for root/context entries and VT-d IRTEs, 256 for a DTE, 64 for
   * page-table entries, 32 for an AMD-Vi legacy IRTE).
   */
  raw: bigint;
  decision: RefDecision;
}

/** A VT-d primary fault record (VT-d spec 10.4.14, "Fault Recording Registers"). */
export interface VtdFaultRecord {
  /** Fault reason (FR), as vtd.json `fault_reasons`. */
  reason: number;
  /** Source ID of the faulting request. */
  sid: number;
  /**
   * Page address of a faulting DMA request: IOVA bits 63:12 (FI), low 12 bits zero. 0 for an
   * interrupt request's fault (its FI holds the interrupt index instead: `interruptIndex`).
   */
  pageAddress: bigint;
  /** T: 1 = read, 0 = write (vtd.json `fault_record.T`). An interrupt request is a write (0). */
  type: 0 | 1;
  /**
   * Interrupt-remapping faults (reasons 0x20..0x2F) only: the interrupt index, which the record
   * holds in FI bits 63:48 (VT-d spec 10.4.14; QEMU hw/i386/intel_iommu.c VTD_FRCD_IR_IDX).
   * Absent for DMA faults; 0 where no index was decoded (a blocked compatibility-format request).
   */
  interruptIndex?: number;
}

/** An AMD-Vi event-log entry, 16 bytes (AMD IOMMU spec, "Event Log"). */
export interface AmdViEvent {
  /** Event code (dword1 bits 31:28): 1 ILLEGAL_DEV_TABLE_ENTRY, 2 IO_PAGE_FAULT, 4 PAGE_TAB_HW_ERROR. */
  code: number;
  deviceId: number;
  /** Domain ID (0 where the event carries none). */
  domainId: number;
  /** Flags, dword1 bits 27:16. */
  flags: number;
  address: bigint;
  /** The four little-endian dwords as they are written to the log. */
  dwords: [number, number, number, number];
}

export type IommuFault =
  | {
      vendor: 'vtd';
      reason: number;
      record: VtdFaultRecord;
      /** False when nothing was written: FPD set, the fault registers overflowed, or PFO was set. */
      recorded: boolean;
    }
  | {
      vendor: 'amd-vi';
      code: number;
      event: AmdViEvent;
      /** False when nothing was written: logging off, DTE.SA set, or the event log full. */
      logged: boolean;
    };

export type DmaFault =
  | IommuFault
  | {
      /**
       * Not an IOMMU: a hypervisor's device model (hv/devio.ts GuestRamRemapper) was asked to reach
       * a guest-physical address outside its VM's RAM, and refused, as the hypervisor must.
       */
      vendor: 'hv';
      gpa: bigint;
    };

/** One request's outcome; an IOMMU's faults are `IommuFault`s (`DmaOutcome<IommuFault>`). */
export type DmaOutcome<F extends DmaFault = DmaFault> =
  | {
      ok: true;
      /** Host-physical address of the first byte. */
      hpa: number;
      /** The domain whose tables decided (-1 when no IOMMU or translation is off). */
      domainId: number;
      /** The IOTLB answered: no page-table entry was read. */
      iotlbHit: boolean;
      /** Size of the page (or pass-through region granule) that mapped the address. */
      pageSize: number;
      refs: TableRef[];
    }
  | { ok: false; fault: F; refs: TableRef[] };

/** A DMA remapping unit: VT-d, AMD-Vi or none. */
export interface DmaRemapper {
  readonly vendor: 'vtd' | 'amd-vi' | 'none' | 'hv';
  /** Decides one request; may record a fault and fill caches, never touches the target bytes. */
  translate(req: DmaRequest): DmaOutcome;
}

// ---- interrupt remapping -------------------------------------------------------------------------

/** An interrupt message as it reaches the remapping hardware: a dword write to 0xFEEx_xxxx. */
export interface InterruptRequest {
  /** Requester / source ID of the function that wrote it. */
  sid: number;
  /** The message address (0xFEEx_xxxx, bits 31:0). */
  address: number;
  /** The dword written (the MSI data in bits 15:0; bits 31:16 are 0 from an MSI capability). */
  data: number;
}

/** What the interrupt that reaches the processors is (SDM Vol. 3A 11.11 fields). */
export interface InterruptTarget {
  vector: number;
  destinationId: number;
  destinationMode: 'physical' | 'logical';
  /** The 3-bit SDM delivery-mode code (0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT). */
  deliveryMode: number;
  trigger: 'edge' | 'level';
  redirectionHint: boolean;
}

export type InterruptOutcome =
  /**
   * Delivered as written: remapping off (VT-d GSTS.IRES = 0, AMD-Vi IOMMU off or DTE.IV = 0), or
   * (VT-d) a compatibility-format request with GSTS.CFIS = 1, or (AMD-Vi) `forwarded`: the DTE
   * lets the message through unmapped (IntCtl = 01b for fixed and arbitrated interrupts, or the
   * DTE's NMIPass / INITPass / EIntPass for those types, SMI always).
   */
  | { kind: 'passed'; why: 'remapping-off' | 'compatibility' | 'forwarded' }
  /** Remapped: the entry (IRTE) at `index` gave the interrupt that goes to the processors. */
  | { kind: 'remapped'; index: number; refs: TableRef[]; cacheHit: boolean; target: InterruptTarget }
  /**
   * VT-d posted format: PIR bit `vector` set in the descriptor at host-physical `descriptor`;
   * `notification` is the notification event sent (NV to NDST), or null when ON was already set
   * or SN suppressed it.
   */
  | { kind: 'posted'; index: number; refs: TableRef[]; cacheHit: boolean; vector: number; descriptor: number; urgent: boolean; notification: InterruptTarget | null }
  /** Blocked with a fault the IOMMU recorded (or would have, but for FPD / SupIOPF / DTE.SA / a full log). */
  | { kind: 'blocked'; index: number | null; refs: TableRef[]; fault: IommuFault }
  /**
   * AMD-Vi only: target-aborted without any event logged (VirtualBox DevIommuAmd.cpp
   * iommuAmdLookupIntrTable): `int-ctl` = DTE.IntCtl = 00b for a fixed or arbitrated interrupt,
   * `not-passed` = an NMI / INIT / ExtINT whose pass bit in the DTE is clear, `delivery-mode` = a
   * reserved delivery mode (3 or 6) in the message data.
   */
  | { kind: 'aborted'; refs: TableRef[]; why: 'int-ctl' | 'not-passed' | 'delivery-mode' };

/**
 * A unit that remaps interrupt messages. It may record faults, fill caches and (VT-d posted
 * format) write a posted-interrupt descriptor. It throws only for a malformed request
 * (checkInterruptRequest) or for a structure the host placed outside RAM where the vendor names
 * no fault for it (each remapper's header says which).
 */
export interface InterruptRemapper {
  remapInterrupt(req: InterruptRequest): InterruptOutcome;
}

/** Whether `r` implements interrupt remapping. */
export function isInterruptRemapper(r: object): r is InterruptRemapper {
  return typeof (r as Partial<InterruptRemapper>).remapInterrupt === 'function';
}

/** Whether a 32-bit address is in the interrupt range 0xFEE0_0000 .. 0xFEEF_FFFF. */
export function isInterruptAddress(address: number): boolean {
  return address >>> 20 === 0xfee;
}

/** Throws if the request is malformed (length, address range, page crossing). */
export function checkRequest(req: DmaRequest): void {
  if (!Number.isInteger(req.length) || req.length < 1 || req.length > 4096) throw new RangeError(`DMA length ${req.length} is not 1..4096`);
  if (req.iova < 0n || req.iova >= 1n << 64n) throw new RangeError(`IOVA ${req.iova} is not a 64-bit address`);
  if ((req.iova & 0xfffn) + BigInt(req.length) > 0x1000n) throw new RangeError(`DMA of ${req.length} bytes at 0x${req.iova.toString(16)} crosses a 4 KiB boundary`);
  if (!Number.isInteger(req.sid) || req.sid < 0 || req.sid > 0xffff) throw new RangeError(`source ID ${req.sid} is not 16-bit`);
}

/** Throws if the interrupt request is malformed (not a dword write to 0xFEEx_xxxx, or a bad source ID). */
export function checkInterruptRequest(req: InterruptRequest): void {
  if (!Number.isInteger(req.address) || req.address < 0 || req.address > 0xffffffff || !isInterruptAddress(req.address)) throw new RangeError(`0x${req.address.toString(16)} is not an interrupt address (0xFEEx_xxxx)`);
  if (!Number.isInteger(req.data) || req.data < 0 || req.data > 0xffffffff) throw new RangeError(`interrupt data ${req.data} is not a dword`);
  if (!Number.isInteger(req.sid) || req.sid < 0 || req.sid > 0xffff) throw new RangeError(`source ID ${req.sid} is not 16-bit`);
}

/** Host addresses are at most 52 bits (MAXPHYADDR); an IOVA above that has no host page. */
const HOST_LIMIT = 1n << 52n;

/**
 * No IOMMU: the bus address is the host-physical address. A device can reach any page, which is
 * what the tests of the real remappers show against.
 */
export class PassThroughRemapper implements DmaRemapper, InterruptRemapper {
  readonly vendor = 'none' as const;

  /** No IOMMU: every interrupt message goes to the processors as written. */
  remapInterrupt(req: InterruptRequest): InterruptOutcome {
    checkInterruptRequest(req);
    return { kind: 'passed', why: 'remapping-off' };
  }

  translate(req: DmaRequest): DmaOutcome {
    checkRequest(req);
    if (req.iova >= HOST_LIMIT) throw new RangeError(`IOVA 0x${req.iova.toString(16)} is beyond the 52-bit host address space`);
    return { ok: true, hpa: Number(req.iova), domainId: -1, iotlbHit: false, pageSize: 4096, refs: [] };
  }
}

/**
 * Performs a device's DMA through `remapper`: a read returns the bytes, a write stores `data`.
 * On a fault nothing is read or written and `null` comes back with the outcome.
 */
export function doDma(remapper: DmaRemapper, mem: IommuMemory, req: DmaRequest, data?: Uint8Array): { outcome: DmaOutcome; bytes: Uint8Array | null } {
  const outcome = remapper.translate(req);
  if (!outcome.ok) return { outcome, bytes: null };
  if (req.access === 'write') {
    if (data === undefined || data.length !== req.length) throw new RangeError('a DMA write needs `length` bytes of data');
    for (let i = 0; i < req.length; i++) mem.write(outcome.hpa + i, 1, data[i]!);
    return { outcome, bytes: data };
  }
  const bytes = new Uint8Array(req.length);
  for (let i = 0; i < req.length; i++) bytes[i] = mem.read(outcome.hpa + i, 1);
  return { outcome, bytes };
}

/** Reads `n` little-endian 32-bit words at `pa` into one bigint. */
export function readEntry(mem: IommuMemory, pa: number, dwords: number): bigint {
  let v = 0n;
  for (let i = dwords - 1; i >= 0; i--) v = (v << 32n) | BigInt(mem.read(pa + 4 * i, 4) >>> 0);
  return v;
}

/** Bits hi..lo of `v` (inclusive), as a bigint. */
export function bits(v: bigint, hi: number, lo: number): bigint {
  return (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** Bit `n` of `v`. */
export function bit(v: bigint, n: number): boolean {
  return ((v >> BigInt(n)) & 1n) === 1n;
}
