/**
 * A paravirtual disk: a transitional virtio-blk device reached through the legacy virtio PCI
 * interface, with one split virtqueue. Written from the OASIS "Virtual I/O Device (VIRTIO)"
 * specification, version 1.1: 2.1 (device status), 2.2 (feature bits), 2.6 (split virtqueues, with
 * 2.6.2's legacy layout), 4.1.2 (PCI discovery, transitional IDs), 4.1.4.8 (the legacy register
 * block), 5.2 (block device: 5.2.1 ID, 5.2.2 virtqueues, 5.2.3 features, 5.2.4 configuration,
 * 5.2.6 operation with its driver and device requirements and its legacy notes on operation and
 * framing). The transport half (registers, queue layout, status, ISR, error handling) is the same
 * as virtio-net.ts, whose constants and queue layout this file imports; the request half is the
 * block device's.
 *
 * Where the three disks of issue 8 differ: the emulated way exits on every register access, the
 * assigned NVMe controller (nvme.ts) runs without the hypervisor; this one is designed to be
 * emulated. The driver puts several requests in the ring and writes the queue notify register once:
 * one exit per batch, after which the device (the hypervisor, in software) carries out every
 * request the ring holds. Every copy is DMA through the bus port, so the bus logs each request and
 * the IOMMU (if any) translates it; the counters split ring traffic from request bytes.
 *
 * PCI identity (4.1.2, 5.2.1): vendor 0x1AF4, device 0x1001 (the transitional block device),
 * revision 0, subsystem vendor 0x1AF4, subsystem device 2 (block). Class 0x010000 (mass storage,
 * SCSI): the class QEMU's virtio-blk-pci reports by default (it accepts 0x018000, "other mass
 * storage", only when asked). BAR0 is a 64-byte I/O BAR: the 20 bytes of legacy registers, then the
 * device configuration. No MSI-X (the bus has none), so the configuration starts at 0x14 and the
 * ISR register is the only interrupt state; the pin is reported and nothing drives INTx.
 *
 * Legacy registers (4.1.4.8), little-endian, each reached with its own width at its own offset:
 *   0x00 device features   32 RO  VIRTIO_BLK_F_SEG_MAX (bit 2), VIRTIO_BLK_F_FLUSH (bit 9), and
 *                                 VIRTIO_BLK_F_RO (bit 5) when the disk is read-only
 *   0x04 driver features   32 RW  keeps offered & written
 *   0x08 queue address     32 RW  the selected queue's page frame number; writing it (re)starts the
 *                                 queue at index 0; 0 disables it
 *   0x0C queue size        16 RO  queue 0's size (a power of 2), 0 for any other selection
 *   0x0E queue select      16 RW
 *   0x10 queue notify      16 WO  the index of the queue with new requests (reads 0)
 *   0x12 device status      8 RW  as virtio-net.ts: the driver's bits, the device's
 *                                 DEVICE_NEEDS_RESET, 0 resets
 *   0x13 ISR status         8 RO  bit 0 used buffers, bit 1 configuration change; read clears
 *   0x14 device config        RO  struct virtio_blk_config (5.2.4) as far as this device has it:
 *        0x14 capacity u64 (512-byte sectors), 0x1C size_max u32 (0: VIRTIO_BLK_F_SIZE_MAX is not
 *        offered), 0x20 seg_max u32 (queue size − 2: a chain is at most the queue long, and the
 *        header and the status take one descriptor each)
 * A byte, word or dword access inside the configuration reads its bytes (the legacy configuration
 * is in the guest's byte order, 5.2.4.1; x86 is little-endian). Any other access (a register at
 * another width, inside a register, past seg_max) reads all ones, writes nothing and is counted in
 * `oddAccesses`; writes to read-only registers and to the configuration are ignored.
 *
 * Features, and what is not offered: SEG_MAX is true of every chain the device accepts; FLUSH is
 * offered because the device requirements of 5.2.5 (initialization) say devices should always offer
 * it (and VIRTIO_BLK_T_FLUSH is implemented: every write is stable when it completes, so a flush
 * has nothing to do and succeeds); RO only when constructed
 * read-only, and then a write completes with IOERR and stores nothing (5.2.6.2). Not offered:
 * SIZE_MAX (no limit on a segment's size), GEOMETRY, BLK_SIZE, TOPOLOGY, CONFIG_WCE, MQ, DISCARD,
 * WRITE_ZEROES, the legacy BARRIER and SCSI, and the transport's ANY_LAYOUT, INDIRECT_DESC and
 * EVENT_IDX. A request does not depend on what the driver accepted: FLUSH and GET_ID work either
 * way (5.2 asks no device to refuse a flush whose feature the driver did not accept).
 *
 * Requests (5.2.6). Queue 0 (requestq) is the only queue. A request is one descriptor chain:
 * struct virtio_blk_req's 16-byte header (type u32, reserved u32, which legacy drivers call ioprio
 * and the device ignores, sector u64), the data, then the status byte the device writes. Legacy
 * framing without ANY_LAYOUT ("Legacy Interface: Framing Requirements" of 5.2.6): the header in one
 * device-readable descriptor of its own, the data in the descriptors after it, the status in a
 * separate 1-byte device-writable descriptor at the end. (The specification's text says an "8-byte"
 * descriptor for type, reserved and sector; those fields make 16 bytes, and legacy drivers send 16.)
 * The device checks, in this order:
 *   - the last descriptor must be device-writable and at least 1 byte: the status goes in its last
 *     byte. If it is not, the device cannot answer the request at all: an error (below), as QEMU
 *     treats a chain without room for its status.
 *   - the framing: at least two descriptors, the first device-readable and exactly 16 bytes, the
 *     last exactly 1 byte. Otherwise UNSUPP (a layout this device does not support, ANY_LAYOUT not
 *     being offered), written without reading the header.
 *   - the type: VIRTIO_BLK_T_IN 0, OUT 1, FLUSH 4, GET_ID 8; anything else (the SCSI commands 2 and
 *     3, the legacy FLUSH_OUT 5, the BARRIER bit, discard, write zeroes) is UNSUPP.
 *   - IN and OUT: every data descriptor device-writable (IN) or device-readable (OUT), the data's
 *     length a multiple of 512 (5.2.6.1 makes that the driver's duty; a device is free to refuse,
 *     and IOERR is the status for "device or driver error"; QEMU does the same), and the sectors
 *     within the capacity (5.2.6.1 again; QEMU also answers IOERR). Otherwise IOERR, and no data
 *     moves. A zero-length IN or OUT is a success that moves nothing.
 *   - GET_ID: the data exactly 20 device-writable bytes (5.2.6.1), which receive the device ID
 *     string, NUL-padded (no NUL when it is 20 bytes long). Otherwise IOERR.
 *   - FLUSH: the sector and any data are ignored (a driver sets 0 and sends no data, 5.2.6.1).
 * A blocked DMA request on the header or the data fails its request with IOERR and the device goes
 * on with the next (an OUT reads all its data before it stores any, so a failed write leaves the
 * disk as it was; an IN stops at the blocked piece). Learning that a posted write was blocked is a
 * teaching choice, as for nvme.ts and dma-engine.ts. used.len is what the device wrote into the
 * driver's buffers: the data written (for IN, GET_ID) plus the status byte. (A legacy driver should
 * ignore it, 5.2.6.3; some old devices put other totals there.)
 *
 * A notify of queue 0 makes the device take every chain from its last seen available index up to
 * avail.idx, in order, as virtio-net's transmit queue does: one 4-byte read of avail.flags and idx,
 * then per chain the ring entry, each descriptor, the header, the data (in pieces within 4 KiB
 * pages), the status byte, and the used element; used.idx is written once after the batch, and the
 * ISR's bit 0 is set unless avail.flags has NO_INTERRUPT. Nothing happens before DRIVER_OK or with
 * bus mastering off: the notify is counted and the chains stay available for the next one.
 *
 * Errors (the device stops): as virtio-net.ts, DEVICE_NEEDS_RESET (status bit 0x40) with the ISR's
 * configuration bit when a ring structure (available ring, descriptor, used ring) or a status byte
 * cannot be reached (a blocked DMA request), a chain is longer than the queue or names a descriptor
 * beyond the table, a descriptor is INDIRECT, an available entry names a descriptor beyond the
 * table, avail.idx is more than a queue ahead, or a chain has no room for its status. Requests
 * completed before stay completed (their used elements and used.idx are written). A request whose
 * status byte could not be written has been carried out all the same (its data moved), but is not
 * returned. Notifies are counted and ignored until the driver resets the device.
 *
 * Reset (status written 0): features, the queue, selection, status and ISR go back to their initial
 * values; the disk keeps its contents and the counters run on.
 *
 * Simplifications: no time passes (a batch completes inside the notify that starts it, as the
 * hypervisor would emulate it inside the exit); requests complete in order; the device reads ring
 * entries one at a time (every structure read is visible in the bus log).
 *
 * State is plain data (`snapshot` / `restore`, JSON-safe). The disk is kept sparsely, as nvme.ts
 * keeps its namespace: only sectors holding a non-zero byte, each as base64. `ringView(read)` shows
 * the queue as guest memory holds it now, read through the caller's reader (not DMA: not logged).
 */
import type { DmaPurpose, PciFunctionModel, PciFunctionPort, PciFunctionSpec } from './pci.ts';
import { legacyRead, legacyWrite, virtqView, type LegacyDevice } from './virtio-legacy.ts';
import { CMD } from './pci.ts';
import { fromBase64, toBase64 } from './nvme.ts';
import {
  DESC_BYTES,
  queueLayout,
  VIRTIO_ISR,
  VIRTIO_REG,
  VIRTIO_STATUS,
  VIRTIO_VENDOR,
  VIRTQ_AVAIL_NO_INTERRUPT,
  VIRTQ_DESC,
  type RingReader,
  type VirtqState,
  type VirtqView,
} from './virtio-net.ts';

/** The transitional virtio block device (4.1.2.1: 0x1000 + 1 for block). */
export const VIRTIO_BLK_DEVICE = 0x1001;
/** Subsystem device ID of a transitional device: the virtio device ID, 2 = block (5.2.1). */
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_BLK_BAR_SIZE = 64;
export const SECTOR = 512;
export const BLK_HDR_BYTES = 16;
/** The device ID string's length (VIRTIO_BLK_ID_BYTES). */
export const BLK_ID_BYTES = 20;

/** Feature bits (5.2.3). */
export const VIRTIO_BLK_F_SEG_MAX = 1 << 2;
export const VIRTIO_BLK_F_RO = 1 << 5;
export const VIRTIO_BLK_F_FLUSH = 1 << 9;

/** Request types (5.2.6). */
export const VIRTIO_BLK_T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8 } as const;
/** Status byte values (5.2.6). */
export const VIRTIO_BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/** Offsets of virtio_blk_config's fields in BAR0 (the configuration starts at 0x14). */
export const BLK_CONFIG = { CAPACITY: 0x14, SIZE_MAX: 0x1c, SEG_MAX: 0x20, END: 0x24 } as const;
export const REQUESTQ = 0;
const PAGE = 4096;

export type VirtioBlkErrorKind = 'dma-blocked' | 'chain-loop' | 'bad-next' | 'indirect' | 'bad-head' | 'avail-too-far' | 'no-status';

export interface VirtioBlkError {
  kind: VirtioBlkErrorKind;
  /** Human-readable detail for logs and tests (not shown in the UI). */
  detail: string;
}

export interface VirtioBlkState {
  deviceFeatures: number;
  driverFeatures: number;
  queueSelect: number;
  status: number;
  isr: number;
  queue: VirtqState;
  /** Sector → base64 of its 512 bytes, only sectors holding a non-zero byte. */
  sectors: Record<number, string>;
  /** Notifications of queue 0, counted whatever they lead to. */
  notifies: number;
  /** Notifications naming a queue that does not exist. */
  badNotifies: number;
  /** Chains returned in the used ring. */
  chains: number;
  /** Requests completed, by type as the header gave it ('other': UNSUPP types; 'unread': framing refused before the header was read). */
  requests: { in: number; out: number; flush: number; getId: number; other: number; unread: number };
  /** Status bytes written, by value. */
  statuses: { ok: number; ioerr: number; unsupp: number };
  /** Bytes moved by DMA: ring structures (avail, descriptors, used) and request bytes (headers, data, status). */
  dma: { ringRead: number; ringWritten: number; dataRead: number; dataWritten: number };
  /** Sectors moved by successful IN and OUT requests. */
  sectorsRead: number;
  sectorsWritten: number;
  errors: number;
  lastError: VirtioBlkError | null;
  oddAccesses: number;
}

export interface VirtioBlkOptions {
  /** Entries in the request queue (a power of 2, 4..32768; default 16). */
  queueSize?: number;
  /** Capacity in 512-byte sectors (1..2^32 − 1; default 2048, 1 MiB). */
  sectors?: number;
  readOnly?: boolean;
  /** The device ID string GET_ID returns (ASCII, at most 20 bytes). */
  id?: string;
}

export interface VirtioBlkView {
  status: number;
  isr: number;
  deviceFeatures: number;
  driverFeatures: number;
  capacity: number;
  readOnly: boolean;
  /** Sectors holding data (non-zero). */
  usedSectors: number;
  queue: VirtqView;
}

/** A descriptor as read. */
interface Desc {
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

/** Thrown inside a batch to stop it; turned into the needs-reset state. */
class QueueFault extends Error {
  constructor(readonly kind: VirtioBlkErrorKind, detail: string) {
    super(detail);
  }
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, at: number) => (BigInt(u32(b, at + 4)) << 32n) | BigInt(u32(b, at));
const isWrite = (d: Desc) => (d.flags & VIRTQ_DESC.WRITE) !== 0;


/** What a request came to: its status and the bytes written into the driver's data buffers. */
interface Done {
  status: number;
  written: number;
}

export class VirtioBlk implements PciFunctionModel {
  readonly spec: PciFunctionSpec = {
    vendorId: VIRTIO_VENDOR,
    deviceId: VIRTIO_BLK_DEVICE,
    revision: 0,
    classCode: 0x010000,
    subsystemVendorId: VIRTIO_VENDOR,
    subsystemId: VIRTIO_ID_BLOCK,
    bars: [{ kind: 'io', size: VIRTIO_BLK_BAR_SIZE }, null, null, null, null, null],
    commandBits: CMD.IO | CMD.BUS_MASTER | CMD.INTX_DISABLE,
    interruptPin: 1,
  };
  state: VirtioBlkState;
  readonly capacity: number;
  readonly readOnly: boolean;
  readonly queueSize: number;
  /** GET_ID's 20 bytes. */
  private readonly idBytes: Uint8Array;
  private port: PciFunctionPort | null = null;

  constructor(
    readonly name = 'virtio-blk',
    opts: VirtioBlkOptions = {},
  ) {
    const q = opts.queueSize ?? 16;
    if (!Number.isInteger(q) || q < 4 || q > 32768 || (q & (q - 1)) !== 0) throw new RangeError(`queue size ${q} is not a power of 2 in 4..32768`);
    const cap = opts.sectors ?? 2048;
    if (!Number.isInteger(cap) || cap < 1 || cap > 0xffffffff) throw new RangeError(`capacity ${cap} is not 1..2^32-1 sectors`);
    const id = opts.id ?? 'ring-1-virtio-blk';
    if (id.length > BLK_ID_BYTES || !/^[\x20-\x7e]*$/.test(id)) throw new RangeError('the device ID is at most 20 printable ASCII characters');
    this.queueSize = q;
    this.capacity = cap;
    this.readOnly = opts.readOnly ?? false;
    this.idBytes = new Uint8Array(BLK_ID_BYTES);
    for (let i = 0; i < id.length; i++) this.idBytes[i] = id.charCodeAt(i);
    this.state = {
      deviceFeatures: VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH | (this.readOnly ? VIRTIO_BLK_F_RO : 0),
      driverFeatures: 0,
      queueSelect: 0,
      status: 0,
      isr: 0,
      queue: { size: q, pfn: 0, lastAvail: 0, usedIdx: 0 },
      sectors: {},
      notifies: 0,
      badNotifies: 0,
      chains: 0,
      requests: { in: 0, out: 0, flush: 0, getId: 0, other: 0, unread: 0 },
      statuses: { ok: 0, ioerr: 0, unsupp: 0 },
      dma: { ringRead: 0, ringWritten: 0, dataRead: 0, dataWritten: 0 },
      sectorsRead: 0,
      sectorsWritten: 0,
      errors: 0,
      lastError: null,
      oddAccesses: 0,
    };
  }

  connect(port: PciFunctionPort): void {
    this.port = port;
  }

  // ---- the disk, from the host (no DMA) -----------------------------------------------------------

  /** Sector `n`'s 512 bytes (zeros if never written). */
  sector(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n >= this.capacity) throw new RangeError(`sector ${n} is beyond the capacity (${this.capacity})`);
    const b = this.state.sectors[n];
    return b === undefined ? new Uint8Array(SECTOR) : fromBase64(b);
  }

  /** Stores whole sectors from `first` on (the host preparing a disk image). */
  load(first: number, data: Uint8Array): void {
    if (data.length % SECTOR !== 0) throw new RangeError('a disk image is whole sectors');
    const n = data.length / SECTOR;
    if (!Number.isInteger(first) || first < 0 || first + n > this.capacity) throw new RangeError(`sectors ${first}..${first + n - 1} are beyond the capacity (${this.capacity})`);
    for (let k = 0; k < n; k++) this.putSector(first + k, data.subarray(k * SECTOR, (k + 1) * SECTOR));
  }

  private putSector(n: number, data: Uint8Array): void {
    if (data.every((x) => x === 0)) delete this.state.sectors[n];
    else this.state.sectors[n] = toBase64(data);
  }

  // ---- registers ----------------------------------------------------------------------------------

  private configByte(at: number): number {
    const off = at - BLK_CONFIG.CAPACITY;
    if (off < 8) return off < 4 ? (this.capacity >>> (8 * off)) & 0xff : 0; // capacity < 2^32
    if (off < 12) return 0; // size_max: not offered
    return ((this.queueSize - 2) >>> (8 * (off - 12))) & 0xff; // seg_max
  }

  /** The configuration at 0x14 (capacity, size_max, seg_max), read-only. */
  private configRead(offset: number, size: 1 | 2 | 4): number | null {
    if (offset < BLK_CONFIG.CAPACITY || offset + size > BLK_CONFIG.END) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.configByte(offset + i) << (8 * i);
    return v >>> 0;
  }

  /** This device as the legacy register block sees it (virtio-legacy.ts). */
  private legacy(): LegacyDevice {
    return { state: this.state, selectedQueue: () => (this.state.queueSelect === REQUESTQ ? this.state.queue : null), configRead: (o, n) => this.configRead(o, n), notify: (q) => this.notify(q), reset: () => this.reset() };
  }

  barRead(_bar: number, offset: number, size: 1 | 2 | 4): number {
    return legacyRead(this.legacy(), offset, size);
  }

  barWrite(_bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    legacyWrite(this.legacy(), offset, size, value);
  }

  private reset(): void {
    const s = this.state;
    s.driverFeatures = 0;
    s.queueSelect = 0;
    s.status = 0;
    s.isr = 0;
    s.queue = { size: this.queueSize, pfn: 0, lastAvail: 0, usedIdx: 0 };
  }

  // ---- DMA ----------------------------------------------------------------------------------------

  private count(purpose: DmaPurpose, dir: 'read' | 'write', n: number): void {
    const d = this.state.dma;
    if (purpose === 'ring') {
      if (dir === 'read') d.ringRead += n;
      else d.ringWritten += n;
    } else if (dir === 'read') d.dataRead += n;
    else d.dataWritten += n;
  }

  /** Reads `n` bytes in pieces within 4 KiB pages; null as soon as a piece is blocked. */
  private dmaIn(at: bigint, n: number, purpose: DmaPurpose): Uint8Array | null {
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const a = at + BigInt(done);
      const piece = Math.min(n - done, PAGE - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) return null; // no such bus address: never issued
      const r = this.port!.dmaRead(a, piece, purpose);
      if (r.bytes === null) return null;
      out.set(r.bytes, done);
      done += piece;
      this.count(purpose, 'read', piece);
    }
    return out;
  }

  /** Writes `data` in pieces within 4 KiB pages; returns the bytes written before a blocked piece. */
  private dmaOut(at: bigint, data: Uint8Array, purpose: DmaPurpose): number {
    let done = 0;
    while (done < data.length) {
      const a = at + BigInt(done);
      const piece = Math.min(data.length - done, PAGE - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) return done;
      const w = this.port!.dmaWrite(a, data.subarray(done, done + piece), purpose);
      if (w.outcome === null || !w.outcome.ok) return done;
      done += piece;
      this.count(purpose, 'write', piece);
    }
    return done;
  }

  private ringRead(at: bigint, n: number): Uint8Array {
    const b = this.dmaIn(at, n, 'ring');
    if (b === null) throw new QueueFault('dma-blocked', `ring read of ${n} bytes at ${hex(at)} blocked`);
    return b;
  }

  private ringWrite(at: bigint, data: Uint8Array): void {
    if (this.dmaOut(at, data, 'ring') !== data.length) throw new QueueFault('dma-blocked', `ring write of ${data.length} bytes at ${hex(at)} blocked`);
  }

  private fail(f: QueueFault): void {
    const s = this.state;
    s.errors++;
    s.lastError = { kind: f.kind, detail: f.message };
    s.status |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    s.isr |= VIRTIO_ISR.CONFIG;
  }

  // ---- the virtqueue ------------------------------------------------------------------------------

  private layout() {
    const q = this.state.queue;
    return queueLayout(BigInt(q.pfn) * BigInt(PAGE), q.size);
  }

  private availHead(): { flags: number; idx: number } {
    const q = this.state.queue;
    const b = this.ringRead(this.layout().avail, 4);
    const idx = u16(b, 2);
    if (((idx - q.lastAvail) & 0xffff) > q.size) throw new QueueFault('avail-too-far', `avail.idx ${idx} is more than ${q.size} ahead of ${q.lastAvail}`);
    return { flags: u16(b, 0), idx };
  }

  private availEntry(n: number): number {
    const q = this.state.queue;
    const head = u16(this.ringRead(this.layout().avail + 4n + BigInt(2 * (n % q.size)), 2), 0);
    if (head >= q.size) throw new QueueFault('bad-head', `available entry ${n} names descriptor ${head} of ${q.size}`);
    return head;
  }

  private chain(head: number): Desc[] {
    const q = this.state.queue;
    const base = this.layout().desc;
    const out: Desc[] = [];
    let i = head;
    for (;;) {
      if (out.length === q.size) throw new QueueFault('chain-loop', `the chain from ${head} is longer than the queue (${q.size})`);
      const b = this.ringRead(base + BigInt(DESC_BYTES * i), DESC_BYTES);
      const d: Desc = { addr: u64(b, 0), len: u32(b, 8), flags: u16(b, 12), next: u16(b, 14) };
      if ((d.flags & VIRTQ_DESC.INDIRECT) !== 0) throw new QueueFault('indirect', `descriptor ${i} is indirect (not negotiated)`);
      out.push(d);
      if ((d.flags & VIRTQ_DESC.NEXT) === 0) return out;
      if (d.next >= q.size) throw new QueueFault('bad-next', `descriptor ${i} chains to ${d.next} of ${q.size}`);
      i = d.next;
    }
  }

  private putUsed(id: number, len: number): void {
    const q = this.state.queue;
    const e = new Uint8Array(8);
    new DataView(e.buffer).setUint32(0, id, true);
    new DataView(e.buffer).setUint32(4, len >>> 0, true);
    this.ringWrite(this.layout().used + 4n + BigInt(8 * (q.usedIdx % q.size)), e);
    q.usedIdx = (q.usedIdx + 1) & 0xffff;
    this.state.chains++;
  }

  private notify(qi: number): void {
    const s = this.state;
    if (qi !== REQUESTQ) {
      s.badNotifies++;
      return;
    }
    s.notifies++;
    if (this.port === null) throw new Error('the device is not on a bus');
    const ready = (s.status & VIRTIO_STATUS.DRIVER_OK) !== 0 && (s.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) === 0 && s.queue.pfn !== 0;
    if (!ready || (this.port.command() & CMD.BUS_MASTER) === 0) return;
    const q = s.queue;
    let flags = 0;
    let returned = 0;
    try {
      const head = this.availHead();
      flags = head.flags;
      while (q.lastAvail !== head.idx) {
        const id = this.availEntry(q.lastAvail);
        const descs = this.chain(id);
        const last = descs[descs.length - 1]!;
        if (!isWrite(last) || last.len === 0) throw new QueueFault('no-status', `the chain from ${id} ends in no device-writable byte for the status`);
        const done = this.execute(descs);
        const statusAt = last.addr + BigInt(last.len - 1);
        if (this.dmaOut(statusAt, Uint8Array.of(done.status), 'data') !== 1) throw new QueueFault('dma-blocked', `status write at ${hex(statusAt)} blocked`);
        if (done.status === VIRTIO_BLK_S.OK) s.statuses.ok++;
        else if (done.status === VIRTIO_BLK_S.IOERR) s.statuses.ioerr++;
        else s.statuses.unsupp++;
        q.lastAvail = (q.lastAvail + 1) & 0xffff;
        this.putUsed(id, done.written + 1);
        returned++;
      }
    } catch (e) {
      if (!(e instanceof QueueFault)) throw e;
      this.fail(e);
    }
    if (returned > 0) {
      try {
        this.ringWrite(this.layout().used + 2n, Uint8Array.of(q.usedIdx & 0xff, q.usedIdx >> 8));
        if ((flags & VIRTQ_AVAIL_NO_INTERRUPT) === 0) s.isr |= VIRTIO_ISR.QUEUE;
      } catch (e) {
        if (!(e instanceof QueueFault)) throw e;
        this.fail(e);
      }
    }
  }

  // ---- requests -----------------------------------------------------------------------------------

  /** Carries out one request (its chain ends in a writable byte); the status is written by the caller. */
  private execute(descs: Desc[]): Done {
    const s = this.state;
    const ioerr: Done = { status: VIRTIO_BLK_S.IOERR, written: 0 };
    const first = descs[0]!;
    const last = descs[descs.length - 1]!;
    if (descs.length < 2 || isWrite(first) || first.len !== BLK_HDR_BYTES || last.len !== 1) {
      s.requests.unread++;
      return { status: VIRTIO_BLK_S.UNSUPP, written: 0 };
    }
    const hdr = this.dmaIn(first.addr, BLK_HDR_BYTES, 'data');
    if (hdr === null) {
      s.requests.unread++;
      return ioerr;
    }
    const type = u32(hdr, 0);
    const sector = u64(hdr, 8);
    const data = descs.slice(1, -1);
    const total = data.reduce((n, d) => n + d.len, 0);
    switch (type) {
      case VIRTIO_BLK_T.FLUSH:
        s.requests.flush++;
        return { status: VIRTIO_BLK_S.OK, written: 0 };
      case VIRTIO_BLK_T.GET_ID: {
        s.requests.getId++;
        if (total !== BLK_ID_BYTES || !data.every(isWrite)) return ioerr;
        return this.scatter(data, this.idBytes);
      }
      case VIRTIO_BLK_T.IN:
      case VIRTIO_BLK_T.OUT: {
        const inward = type === VIRTIO_BLK_T.IN;
        if (inward) s.requests.in++;
        else s.requests.out++;
        if (!data.every((d) => isWrite(d) === inward)) return ioerr;
        if (total % SECTOR !== 0 || sector + BigInt(total / SECTOR) > BigInt(this.capacity)) return ioerr;
        const lba = Number(sector);
        const count = total / SECTOR;
        if (inward) {
          const bytes = new Uint8Array(total);
          for (let k = 0; k < count; k++) bytes.set(this.sector(lba + k), k * SECTOR);
          const done = this.scatter(data, bytes);
          if (done.status === VIRTIO_BLK_S.OK) s.sectorsRead += count;
          return done;
        }
        if (this.readOnly) return ioerr;
        const bytes = new Uint8Array(total);
        let at = 0;
        for (const d of data) {
          if (d.len === 0) continue;
          const b = this.dmaIn(d.addr, d.len, 'data');
          if (b === null) return ioerr; // nothing stored
          bytes.set(b, at);
          at += d.len;
        }
        for (let k = 0; k < count; k++) this.putSector(lba + k, bytes.subarray(k * SECTOR, (k + 1) * SECTOR));
        s.sectorsWritten += count;
        return { status: VIRTIO_BLK_S.OK, written: 0 };
      }
      default:
        s.requests.other++;
        return { status: VIRTIO_BLK_S.UNSUPP, written: 0 };
    }
  }

  /** Writes `bytes` across the device-writable data descriptors; IOERR at the first blocked piece. */
  private scatter(data: Desc[], bytes: Uint8Array): Done {
    let at = 0;
    for (const d of data) {
      if (d.len === 0) continue;
      const n = this.dmaOut(d.addr, bytes.subarray(at, at + d.len), 'data');
      at += n;
      if (n !== d.len) return { status: VIRTIO_BLK_S.IOERR, written: at };
    }
    return { status: VIRTIO_BLK_S.OK, written: at };
  }

  // ---- views and state ----------------------------------------------------------------------------

  /** The request queue as guest memory holds it now, read with `read` (no DMA, not logged). */
  ringView(read: RingReader): VirtioBlkView {
    const s = this.state;
    const q = s.queue;
    const v = virtqView(REQUESTQ, q, this.layout(), read);
    return {
      status: s.status,
      isr: s.isr,
      deviceFeatures: s.deviceFeatures,
      driverFeatures: s.driverFeatures,
      capacity: this.capacity,
      readOnly: this.readOnly,
      usedSectors: Object.keys(s.sectors).length,
      queue: v,
    };
  }

  snapshot(): VirtioBlkState {
    return JSON.parse(JSON.stringify(this.state)) as VirtioBlkState;
  }

  restore(state: unknown): void {
    this.state = JSON.parse(JSON.stringify(state)) as VirtioBlkState;
  }
}
