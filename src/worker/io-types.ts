/**
 * What the IOMMU view and the device ring view receive for a step (ViewState.io): the devices the
 * VMs of a multi-VM host were given (issue 8: emulated, paravirtual or assigned), the DMA requests
 * the step made (or the last one before it), each with the remapping structures the IOMMU read
 * decoded field by field, where it landed and whose memory that is, the fault record or event of a
 * blocked one; each device's descriptor rings with the owner of every slot; running counts.
 * Plain, structured-clone-safe data (numbers, strings, booleans); addresses as 0x-prefixed hex. Kept
 * apart from io-view.ts (which builds it, in the worker's hypervisor chunk) so the page imports no
 * emulator.
 */

/** Requests sent per step (a frame's transmit and loopback make a dozen). */
export const MAX_IO_REQUESTS = 16;
/** Slots sent per ring (a window around the head when the ring is longer). */
export const MAX_RING_SLOTS = 32;

export type IoIommuKind = 'none' | 'vtd' | 'amd-vi';
export type IoWay = 'emulated' | 'virtio' | 'assigned';

/** One decoded field of a remapping-structure entry, by the specification's name (P, TT, DID, IR …). */
export interface IoField {
  name: string;
  /** The value: a bit as 0 / 1, a number in decimal, an address as hex. */
  value: string;
}

/** One entry on a request's path through the remapping structures. */
export interface IoWalkEntry {
  kind: 'root-entry' | 'context-entry' | 'device-table-entry' | 'page-table-entry' | 'irte';
  /** Page-table entries: the level of their table (VT-d 4 = PML4 .. 1; AMD-Vi 6 .. 1); 0 otherwise. */
  level: number;
  /** Index in its table: bus (root entry), devfn (context entry), DeviceID (DTE), the IOVA's 9-bit slice, the interrupt index (IRTE). */
  index: number;
  /** Host-physical address of the entry. */
  pa: string;
  raw: string;
  /**
   * What it decided (iommu/types.ts RefDecision). `cached`: the entry was not read for this request
   * (the context cache or the device-table cache answered); shown as the table holds it now.
   */
  decision: 'next' | 'leaf' | 'pass-through' | 'fault' | 'cached';
  /** Its present bit (VT-d root / context P, second-level R or W; AMD-Vi V, PR). */
  present: boolean;
  fields: IoField[];
  /** A VT-d IRTE: its source-ID check (SVT, SID, SQ) against the message's requester ID. */
  sourceCheck?: 'off' | 'passed' | 'failed';
}

/** What the IOMMU wrote about a blocked request. */
export type IoRecordView =
  | {
      vendor: 'vtd';
      /** FR, the fault reason. */
      reason: number;
      /** SID as bus:device.function. */
      sid: string;
      pageAddress: string;
      /** T: 1 = read, 0 = write. */
      type: 0 | 1;
      /** False: not written (FPD, or the fault registers were full). */
      recorded: boolean;
      /** An interrupt request's fault: the interrupt index (FI 63:48), else absent. */
      interruptIndex?: number;
    }
  | {
      vendor: 'amd-vi';
      /** Event code (1 ILLEGAL_DEV_TABLE_ENTRY, 2 IO_PAGE_FAULT, 3 DEV_TAB_HW_ERROR, 4 PAGE_TAB_HW_ERROR). */
      code: number;
      /** DeviceID as bus:device.function. */
      deviceId: string;
      domainId: number;
      address: string;
      flags: number;
      /** False: not written (logging off, DTE.SA, the log full). */
      logged: boolean;
    };

/** Whose host memory an address is in. */
export type IoOwner =
  | { kind: 'vm'; vm: number; name: string }
  /** Host RAM above every VM's: the hypervisor's (VMCS / VMCB areas, EPT / NPT tables, the IOMMU's structures). */
  | { kind: 'hypervisor' }
  /** No RAM at that address. */
  | { kind: 'none' };

/** One DMA request (a `DmaLogEntry` of a bus, dev/pci.ts), decoded. */
export interface IoRequestView {
  vm: number;
  /** 'vm': a device model's bus inside the hypervisor (emulated, virtio); 'host': the host's bus (assigned). */
  bus: 'vm' | 'host';
  /** Index in that bus's DMA log. */
  seq: number;
  device: string;
  /** Requester ID as bus:device.function. */
  rid: string;
  access: 'read' | 'write';
  what: 'ring' | 'data' | null;
  iova: string;
  length: number;
  ok: boolean;
  /**
   * Who decided where it goes: the host's IOMMU through the device's domain; no IOMMU (the address
   * is host-physical); the hypervisor copying for its device model (guest-physical → its VM's RAM).
   */
  via: 'iommu' | 'none' | 'hypervisor';
  hpa: string | null;
  owner: IoOwner | null;
  domainId: number | null;
  iotlbHit: boolean;
  /** The structures on its path in order (with `cached` ones the request did not read placed first). */
  walk: IoWalkEntry[];
  /** Why it was blocked when it was, as dev/pci.ts DmaLogFault. */
  fault:
    | { vendor: 'vtd'; reason: number }
    | { vendor: 'amd-vi'; code: number }
    | { vendor: 'none'; reason: 'beyond-host' }
    | { vendor: 'hv'; reason: 'not-guest-ram' }
    | null;
  record: IoRecordView | null;
}

/** One slot of a descriptor ring (the 8254x-style card) or of a virtqueue's descriptor table. */
export interface IoSlot {
  index: number;
  owner: 'driver' | 'device';
  /** The buffer's address and length as the device last saw it (card) or as memory holds it (virtio); null: never fetched. */
  addr: string | null;
  length: number | null;
  /** The card wrote the status back with DD (descriptor done). */
  done: boolean;
  /** Last descriptor of a frame (EOP), or a virtio descriptor without NEXT. */
  end: boolean;
  /** The slot the device's most recent ring DMA touched. */
  last: boolean;
  /**
   * NVMe: the command the controller last fetched from this submission-queue slot (its opcode, by
   * queue: admin or I/O, and LBA), or the completion it last posted in this completion-queue slot
   * (command ID, the SQ head it reports, status code type and code, phase tag); null otherwise.
   */
  nvme?: { kind: 'command'; admin: boolean; opcode: number; lba: number; completed: boolean } | { kind: 'completion'; cid: number; sqhd: number; sct: number; sc: number; phase: number } | null;
}

/** One ring of a device, as the device's own registers and its copies of the descriptors say. */
export interface IoRing {
  /** 'tx' / 'rx' (card), 'receiveq' / 'transmitq' (virtio-net), 'requestq' (virtio-blk), 'sq' / 'cq' (NVMe, with `qid`). */
  name: 'tx' | 'rx' | 'receiveq' | 'transmitq' | 'requestq' | 'sq' | 'cq';
  /** NVMe: the queue ID (0 the admin queue); null otherwise. Rings are told apart by name and qid. */
  qid?: number | null;
  base: string;
  count: number;
  enabled: boolean;
  /** Card: head (the device's next) and tail (the driver's next); virtio: the device's last_avail and the driver's avail.idx, modulo the size. */
  head: number;
  tail: number;
  /** The slots shown (all, or MAX_RING_SLOTS around the head). */
  slots: IoSlot[];
  /** Slots not shown. */
  hidden: number;
  /** Virtio: the used ring's idx (free-running); null for the card. */
  usedIdx: number | null;
}

export interface IoDeviceView {
  vm: number;
  vmName: string;
  way: IoWay;
  /** The model's name (dev/*: `nic`, `virtio-net`). */
  device: string;
  /** Where the guest finds it on its own bus. */
  guestBdf: string;
  /** Assigned: the physical function on the host's bus. */
  hostBdf: string | null;
  /** The requester ID its DMA carries (the host's function when assigned). */
  rid: string;
  /** Assigned with an IOMMU: the domain the hypervisor gave it. */
  domainId: number | null;
  /** Assigned: the physical BAR0 (host-physical) and where the guest placed it (guest-physical; null: not mapped). */
  hostBar: string | null;
  guestBar: string | null;
  rings: IoRing[];
  requests: number;
  blocked: number;
}

/** Interrupt messages sent per step (at most one a frame). */
export const MAX_IO_INTERRUPTS = 8;

/**
 * One interrupt message (an MSI of a bus's log, dev/pci.ts MsiMessage), decoded with what
 * interrupt remapping decided and the entries it read.
 */
export interface IoMsiView {
  vm: number;
  /** 'vm': an emulated card on its VM's own bus (to the VM's virtual local APIC); 'host': an assigned function on the host's bus. */
  bus: 'vm' | 'host';
  /** Index in that bus's MSI log. */
  seq: number;
  device: string;
  rid: string;
  /** The message as written. */
  address: string;
  data: string;
  /** Address bit 4 (VT-d): remappable format (the address holds an interrupt handle); false: compatibility format. */
  remappable: boolean;
  /**
   * `direct`: no remapper on its bus (the VM's own, delivered to its virtual local APIC);
   * `passed`, `remapped`, `posted`, `blocked`, `aborted` as iommu/types.ts InterruptOutcome.
   */
  outcome: 'direct' | 'passed' | 'remapped' | 'posted' | 'blocked' | 'aborted';
  /** Why it was passed (remapping-off, compatibility, forwarded) or aborted (int-ctl, not-passed, delivery-mode). */
  why: string | null;
  /** The interrupt index (IRTE) that decided, when one did. */
  index: number | null;
  /** The interrupt entry cache answered (the IRTE was not read: shown as the table holds it now, `cached`). */
  cacheHit: boolean;
  /** The entries on its path: AMD-Vi's DTE, the IRTE. */
  walk: IoWalkEntry[];
  /** What went to the CPU's local APIC (or the VM's virtual one): vector and APIC ID; null when nothing went. */
  target: { vector: number; destinationId: number; deliveryMode: string; trigger: 'edge' | 'level' } | null;
  /** Posted: the vector set in PIR, the descriptor, the notification event sent (its vector) or none, and the descriptor as memory holds it now. */
  posted: {
    vector: number;
    descriptor: string;
    notification: number | null;
    now: { pir: boolean; on: boolean; sn: boolean; nv: number; ndst: number };
  } | null;
  /** The guest vector its VM receives for it (the hypervisor's routing of a host vector, the posted vector, the VM bus's own), or null. */
  guestVector: number | null;
  delivered: boolean;
  fault: { vendor: 'vtd'; reason: number } | { vendor: 'amd-vi'; code: number } | null;
  record: IoRecordView | null;
}

export interface StepIo {
  /** The host's IOMMU (only assigned devices' DMA goes through it). */
  iommu: IoIommuKind;
  devices: IoDeviceView[];
  /** The step the requests were made at: the one that led here (`fresh`), or the last before it that made any; null: none yet. */
  step: number | null;
  fresh: boolean;
  requests: IoRequestView[];
  /** Requests of the step left out by the bound. */
  dropped: number;
  /** A step index (worker/dma-index.ts, requests or interrupts) stopped at this step (full): later steps' are unknown to it. */
  stoppedAt: number | null;
  /**
   * The interrupt messages of the step that led here, or of the last step before it that sent any
   * (found as the requests are, by their own step index): `step` null when none yet.
   */
  interrupts: { step: number | null; fresh: boolean; list: IoMsiView[]; dropped: number };
  /** So far, by bus: all requests and the blocked ones. */
  counts: { host: { requests: number; blocked: number }; vm: { requests: number; blocked: number } };
}
