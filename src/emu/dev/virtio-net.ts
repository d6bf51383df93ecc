/**
 * A paravirtual network card: a transitional virtio-net device reached through the legacy virtio
 * PCI interface, with split virtqueues. Written from the OASIS "Virtual I/O Device (VIRTIO)"
 * specification; section numbers are those of version 1.1: 2.1 (device status field, with 2.1.2
 * its device requirements), 2.2 (feature bits), 2.6 (split virtqueues, with 2.6.2 "Legacy
 * Interfaces: A Note on Virtqueue Layout"), 4.1.2 (PCI device discovery and its legacy note on
 * transitional IDs), 4.1.4.8 ("Legacy Interfaces: A Note on PCI Device Layout"), 5.1 (network
 * device: 5.1.1 ID, 5.1.3 features, 5.1.4 configuration, 5.1.6 operation).
 *
 * Where the three network cards of issue 8 differ: the emulated card (nic.ts) costs the
 * hypervisor an exit on every register access; this one is designed to be emulated. The driver
 * puts whole chains of buffers in rings in its own memory and writes one register (the queue
 * notify) per batch: one exit, after which the device (the hypervisor, in software) copies what
 * the rings describe. Every copy is DMA through the bus port, so the bus logs each request, the
 * IOMMU (if any) translates it, and the counters here split ring traffic from packet bytes.
 *
 * PCI identity (4.1.2, 5.1.1): vendor 0x1AF4, device 0x1000 (the transitional network device),
 * revision 0, subsystem vendor 0x1AF4, subsystem device 1 (network), class 0x020000 (Ethernet).
 * BAR0 is a 32-byte I/O BAR holding the legacy register block. There is no MSI-X capability (the
 * bus has none) and so no MSI-X vector registers at 0x14: the device configuration starts right
 * there. Interrupts are the ISR status register only; the interrupt pin (INTA#) is reported but
 * nothing drives INTx on this bus, so drivers here poll the used ring (or the ISR register).
 *
 * Legacy registers (4.1.4.8), little-endian, each reached with its own width at its own offset:
 *   0x00 device features   32 RO  offered: VIRTIO_NET_F_MAC (bit 5) only
 *   0x04 driver features   32 RW  keeps offered & written (what the driver accepted)
 *   0x08 queue address     32 RW  the selected queue's page frame number (address >> 12); writing
 *                                 it (re)starts the queue at index 0; 0 disables the queue
 *   0x0C queue size        16 RO  the selected queue's size (a power of 2), 0 if it does not exist
 *   0x0E queue select      16 RW
 *   0x10 queue notify      16 WO  the index of the queue that has new buffers (reads 0)
 *   0x12 device status      8 RW  ACKNOWLEDGE 1, DRIVER 2, DRIVER_OK 4, FAILED 0x80 (the driver's),
 *                                 DEVICE_NEEDS_RESET 0x40 (the device's, see Errors: a driver's
 *                                 write neither sets nor clears it); writing 0 resets the device
 *   0x13 ISR status         8 RO  bit 0: a used buffer was added, bit 1: configuration change;
 *                                 a read returns and clears it
 *   0x14 device config        RO  struct virtio_net_config: mac[6] (5.1.4)
 * A byte, word or dword access that lies inside the device configuration reads its bytes. Any
 * other access (a width other than the register's, an offset inside a register, the bytes 0x1A..
 * 0x1F after the MAC) reads all ones, writes nothing, and is counted in `state.oddAccesses`; so a
 * dword read at 0x10 does not clear the ISR by reaching it sideways. Writes to the read-only
 * registers and to the configuration are ignored (not counted: they are proper accesses).
 *
 * Queues: 0 = receiveq, 1 = transmitq (5.1.2; no control queue, VIRTIO_NET_F_CTRL_VQ is not
 * offered). The legacy split-virtqueue layout from the page frame number (2.6.2): the descriptor
 * table (16 bytes each: addr u64, len u32, flags u16 with NEXT 1, WRITE 2, INDIRECT 4, next u16),
 * the available ring right after it (flags u16 with NO_INTERRUPT 1, idx u16, ring[size] u16,
 * used_event u16), the used ring at the next 4096-byte boundary (flags u16 with NO_NOTIFY 1, idx
 * u16, ring[size] of {id u32, len u32}, avail_event u16). The idx fields run freely modulo 2^16;
 * entry idx % size is the slot. used_event and avail_event belong to VIRTIO_F_EVENT_IDX, which is
 * not offered: the device never reads or writes them. Indirect descriptors are not offered either.
 * The device never sets NO_NOTIFY (it could, to spare notifications while busy; it is never busy
 * between two guest instructions here).
 *
 * Packets (5.1.6): each is preceded by the legacy 10-byte struct virtio_net_hdr (flags u8,
 * gso_type u8, hdr_len, gso_size, csum_start, csum_offset u16; no num_buffers, as
 * VIRTIO_NET_F_MRG_RXBUF is not offered). A chain may split header and data over descriptors.
 *
 * Transmit. A notify of queue 1 makes the device take every chain from its last seen available
 * index up to avail.idx, in order: it reads avail.flags and avail.idx (one 4-byte read), then per
 * chain the ring entry, each descriptor of the chain and each buffer (in pieces that cross no
 * 4 KiB page), and writes the used element {id = head, len = 0: it wrote nothing}; after the batch
 * it writes used.idx once. The header is read and checked: flags and gso_type must be 0, as no
 * offload was offered (5.1.6.2: the driver sets them only for negotiated features); a frame whose
 * header asks for one is not sent, its chain is still returned and `txDropped` counts it. So is a
 * frame longer than MAX_FRAME. A sent frame is appended to `state.sent`; with `loopback` it is then
 * delivered to this device's receive queue, as if the host's bridge echoed it back.
 *
 * Receive (`receive(frame)`, or loopback): the device takes the next available receive chain, whose
 * descriptors must all be device-writable, writes a zero header and the frame across its buffers,
 * then the used element {id, len = 10 + frame length} and used.idx. If no chain is available the
 * frame is dropped and counted (`rxDropped`): there is no backlog, and a later notify of queue 0
 * (the driver adding buffers) delivers nothing by itself, it is only counted. A chain too small
 * for header and frame is left available and the frame dropped (counted in `rxDropped` too).
 *
 * Used-buffer notifications: the ISR's bit 0 is set when used elements are added, unless the
 * available ring's flags (as read at the start of the batch) have NO_INTERRUPT. The guest does not
 * run while the device works, so that read is still current when the device is done.
 *
 * Nothing happens before DRIVER_OK (2.1.2: the device does not use buffers before it): notifies are
 * counted and left, received frames dropped. With the bus master bit clear the device makes no
 * request: a transmit notify leaves the chains available (the next notify finds them), a received
 * frame is dropped.
 *
 * Errors. A legacy device has no way to say it broke; this model borrows virtio 1.x's
 * DEVICE_NEEDS_RESET (status bit 0x40, 2.1.2) and sets it, with the ISR's configuration change bit
 * (bit 1, the configuration change notification 2.1.2 asks for), when: a DMA request is blocked (an IOMMU fault), a chain is longer than the queue size
 * (a loop) or names a descriptor beyond the table, a descriptor has INDIRECT (not negotiated), a
 * transmit chain has a device-writable descriptor or a receive chain a device-readable one, an
 * available ring entry names a descriptor beyond the table, or avail.idx is more than the queue
 * size ahead of the device. The device then stops: notifies and received frames are counted and
 * ignored until the driver resets it. Chains completed before the error are still returned (their
 * used elements and used.idx are written). `state.errors` counts, `state.lastError` says what.
 *
 * Reset (status written 0): features, queues (addresses, indices), selection, status and ISR go
 * back to their initial values. The host's accounting does not: frames sent, counters and the
 * notification counts run on, as the comparison of issue 8 counts a whole run.
 *
 * Simplifications, and why: no time passes (each batch runs to its end inside the notify that
 * starts it, as the hypervisor would emulate it inside the exit); no address filtering; no
 * control queue, multiqueue, offloads or mergeable buffers (not offered); the device reads the
 * ring entries one at a time (a real device may read many at once), so every structure read is
 * visible in the bus log.
 *
 * State is plain data (`snapshot` / `restore`, JSON-safe). `ringView(read)` shows both queues as
 * they are in guest memory now, read through a reader the caller passes in (not DMA: it is not
 * logged, costs nothing and changes nothing), with the device's own indices.
 */
import type { PciFunctionModel, PciFunctionPort, PciFunctionSpec } from './pci.ts';
import { CMD } from './pci.ts';

export const VIRTIO_VENDOR = 0x1af4;
/** The transitional virtio network device (4.1.2.1: 0x1000 + 0 for network). */
export const VIRTIO_NET_DEVICE = 0x1000;
/** Subsystem device ID of a transitional device: the virtio device ID, 1 = network (5.1.1). */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_BAR_SIZE = 32;

export { DESC_BYTES, VIRTIO_REG, VIRTIO_STATUS, VIRTQ_DESC, type VirtqState } from './virtio-legacy.ts';
import { DESC_BYTES, legacyRead, legacyWrite, VIRTIO_REG, VIRTIO_STATUS, VIRTQ_DESC, virtqView, type LegacyDevice, type VirtqState } from './virtio-legacy.ts';

export const VIRTIO_ISR = { QUEUE: 1, CONFIG: 2 } as const;
/** VIRTIO_NET_F_MAC: the device has a MAC address in its configuration (5.1.3). */
export const VIRTIO_NET_F_MAC = 1 << 5;
export const OFFERED_FEATURES = VIRTIO_NET_F_MAC;

export const VIRTQ_AVAIL_NO_INTERRUPT = 1;
export const VIRTQ_USED_NO_NOTIFY = 1;
export const NET_HDR_BYTES = 10;
export const RECEIVEQ = 0;
export const TRANSMITQ = 1;
/** The longest frame (after the header) the device sends or receives: larger ones are dropped. */
export const MAX_FRAME = 65535;
const PAGE = 4096;
const DEFAULT_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56] as const;

/** Where a queue's three parts lie for `size` entries at `base` (2.6.2, legacy layout). */
export function queueLayout(base: bigint, size: number): { desc: bigint; avail: bigint; used: bigint; bytes: number } {
  const availEnd = DESC_BYTES * size + 6 + 2 * size;
  const usedOff = Math.ceil(availEnd / PAGE) * PAGE;
  return { desc: base, avail: base + BigInt(DESC_BYTES * size), used: base + BigInt(usedOff), bytes: usedOff + 6 + 8 * size };
}


export type VirtioErrorKind = 'dma-blocked' | 'chain-loop' | 'bad-next' | 'indirect' | 'wrong-direction' | 'bad-head' | 'avail-too-far' | 'short-chain';

export interface VirtioError {
  kind: VirtioErrorKind;
  queue: number;
  /** Human-readable detail for logs and tests (not shown in the UI). */
  detail: string;
}

export interface VirtioSentFrame {
  seq: number;
  data: number[];
  loopback: boolean;
}

export type VirtioRxResult = 'received' | 'not-ready' | 'no-buffer' | 'buffer-too-small' | 'too-long' | 'bus-master-off' | 'needs-reset' | 'error';

export interface VirtioNetState {
  deviceFeatures: number;
  driverFeatures: number;
  queueSelect: number;
  status: number;
  isr: number;
  mac: number[];
  queues: [VirtqState, VirtqState];
  /** Frames go back to the receive queue instead of out (the host's bridge echoing them). */
  loopback: boolean;
  /** Frames sent, in order (append-only; a reset keeps them). */
  sent: VirtioSentFrame[];
  /** Notifications per queue (0 receiveq, 1 transmitq), counted whatever they lead to. */
  notifies: [number, number];
  /** Notifications naming a queue that does not exist. */
  badNotifies: number;
  /** Chains returned in the used ring, per queue. */
  chains: [number, number];
  /** Bytes moved by DMA: ring structures (avail, descriptors, used) and packets (headers + data). */
  dma: { ringRead: number; ringWritten: number; packetRead: number; packetWritten: number };
  received: number;
  rxDropped: number;
  txDropped: number;
  errors: number;
  lastError: VirtioError | null;
  oddAccesses: number;
}

export interface VirtioNetOptions {
  /** Entries per queue (a power of 2, 1..32768; default 8). */
  queueSize?: number;
  mac?: readonly number[];
  loopback?: boolean;
}

function freshQueues(size: number): [VirtqState, VirtqState] {
  return [0, 1].map(() => ({ size, pfn: 0, lastAvail: 0, usedIdx: 0 })) as [VirtqState, VirtqState];
}

/** Reads `length` bytes of guest memory at a bus address without DMA (for views); null where unreadable. */
export type RingReader = (addr: bigint, length: number) => Uint8Array | null;

export interface DescriptorView {
  index: number;
  addr: string;
  len: number;
  flags: number;
  next: number;
  /** 'device': part of a chain the driver made available and the device has not used yet. */
  owner: 'driver' | 'device';
}

export interface VirtqView {
  queue: number;
  size: number;
  pfn: number;
  enabled: boolean;
  /** Bus addresses (0x-prefixed hex) of the three parts. */
  desc: string;
  avail: string;
  used: string;
  lastAvail: number;
  usedIdx: number;
  /** From guest memory now (null: the reader could not read it, or the queue is disabled). */
  descriptors: DescriptorView[] | null;
  availRing: { flags: number; idx: number; ring: number[] } | null;
  usedRing: { flags: number; idx: number; ring: { id: number; len: number }[] } | null;
  /** Heads of the chains available and not yet used, oldest first. */
  pending: number[];
}

export interface VirtioNetView {
  status: number;
  isr: number;
  deviceFeatures: number;
  driverFeatures: number;
  mac: string;
  loopback: boolean;
  queues: [VirtqView, VirtqView];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const u16 = (b: Uint8Array | readonly number[], at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array | readonly number[], at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
function u64(b: Uint8Array | readonly number[], at: number): bigint {
  return (BigInt(u32(b, at + 4)) << 32n) | BigInt(u32(b, at));
}

/** The proper (offset, width) of each register. */

/** A descriptor as read. */
interface Desc {
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

/** Thrown inside a queue operation to stop it; turned into the needs-reset state. */
class QueueFault extends Error {
  constructor(readonly kind: VirtioErrorKind, readonly queue: number, detail: string) {
    super(detail);
  }
}

export class VirtioNet implements PciFunctionModel {
  readonly spec: PciFunctionSpec = {
    vendorId: VIRTIO_VENDOR,
    deviceId: VIRTIO_NET_DEVICE,
    revision: 0,
    classCode: 0x020000,
    subsystemVendorId: VIRTIO_VENDOR,
    subsystemId: VIRTIO_ID_NET,
    bars: [{ kind: 'io', size: VIRTIO_BAR_SIZE }, null, null, null, null, null],
    commandBits: CMD.IO | CMD.BUS_MASTER | CMD.INTX_DISABLE,
    interruptPin: 1,
  };
  state: VirtioNetState;
  private port: PciFunctionPort | null = null;
  private readonly queueSize: number;
  private readonly initialMac: number[];

  constructor(
    readonly name = 'virtio-net',
    opts: VirtioNetOptions = {},
  ) {
    const q = opts.queueSize ?? 8;
    if (!Number.isInteger(q) || q < 1 || q > 32768 || (q & (q - 1)) !== 0) throw new RangeError(`queue size ${q} is not a power of 2 in 1..32768`);
    const mac = [...(opts.mac ?? DEFAULT_MAC)];
    if (mac.length !== 6 || mac.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new RangeError('a MAC address is 6 bytes');
    this.queueSize = q;
    this.initialMac = mac;
    this.state = {
      deviceFeatures: OFFERED_FEATURES,
      driverFeatures: 0,
      queueSelect: 0,
      status: 0,
      isr: 0,
      mac: mac.slice(),
      queues: freshQueues(q),
      loopback: opts.loopback ?? false,
      sent: [],
      notifies: [0, 0],
      badNotifies: 0,
      chains: [0, 0],
      dma: { ringRead: 0, ringWritten: 0, packetRead: 0, packetWritten: 0 },
      received: 0,
      rxDropped: 0,
      txDropped: 0,
      errors: 0,
      lastError: null,
      oddAccesses: 0,
    };
  }

  connect(port: PciFunctionPort): void {
    this.port = port;
  }

  // ---- registers ----------------------------------------------------------------------------------

  private selected(): VirtqState | null {
    return this.state.queues[this.state.queueSelect] ?? null;
  }

  /** The MAC address, read-only at 0x14. */
  private configRead(offset: number, size: 1 | 2 | 4): number | null {
    if (offset < VIRTIO_REG.CONFIG || offset + size > VIRTIO_REG.CONFIG + 6) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.state.mac[offset - VIRTIO_REG.CONFIG + i]! << (8 * i);
    return v >>> 0;
  }

  /** This device as the legacy register block sees it (virtio-legacy.ts). */
  private legacy(): LegacyDevice {
    return { state: this.state, selectedQueue: () => this.selected(), configRead: (o, n) => this.configRead(o, n), notify: (q) => this.notify(q), reset: () => this.reset() };
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
    s.mac = this.initialMac.slice();
    s.queues = freshQueues(this.queueSize);
  }

  // ---- DMA ----------------------------------------------------------------------------------------

  private master(): boolean {
    return (this.port!.command() & CMD.BUS_MASTER) !== 0;
  }

  /** Reads `n` bytes at `at` in pieces that cross no 4 KiB page; a blocked piece is a fault. */
  private read(queue: number, at: bigint, n: number, kind: 'ring' | 'packet'): Uint8Array {
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const a = at + BigInt(done);
      const piece = Math.min(n - done, PAGE - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) throw new QueueFault('dma-blocked', queue, `read beyond 2^64 at ${hex(a)}`);
      const r = this.port!.dmaRead(a, piece, kind === 'ring' ? 'ring' : 'data');
      if (r.bytes === null) throw new QueueFault('dma-blocked', queue, `read of ${piece} bytes at ${hex(a)} blocked`);
      out.set(r.bytes, done);
      done += piece;
      if (kind === 'ring') this.state.dma.ringRead += piece;
      else this.state.dma.packetRead += piece;
    }
    return out;
  }

  private write(queue: number, at: bigint, data: Uint8Array, kind: 'ring' | 'packet'): void {
    let done = 0;
    while (done < data.length) {
      const a = at + BigInt(done);
      const piece = Math.min(data.length - done, PAGE - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) throw new QueueFault('dma-blocked', queue, `write beyond 2^64 at ${hex(a)}`);
      const w = this.port!.dmaWrite(a, data.subarray(done, done + piece), kind === 'ring' ? 'ring' : 'data');
      if (w.outcome === null || !w.outcome.ok) throw new QueueFault('dma-blocked', queue, `write of ${piece} bytes at ${hex(a)} blocked`);
      done += piece;
      if (kind === 'ring') this.state.dma.ringWritten += piece;
      else this.state.dma.packetWritten += piece;
    }
  }

  private fail(f: QueueFault): void {
    const s = this.state;
    s.errors++;
    s.lastError = { kind: f.kind, queue: f.queue, detail: f.message };
    s.status |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    s.isr |= VIRTIO_ISR.CONFIG;
  }

  // ---- virtqueue mechanics ------------------------------------------------------------------------

  private layout(qi: number) {
    const q = this.state.queues[qi]!;
    return queueLayout(BigInt(q.pfn) * BigInt(PAGE), q.size);
  }

  /** avail.flags and avail.idx (one read); throws if idx is more than a queue ahead. */
  private availHead(qi: number): { flags: number; idx: number } {
    const q = this.state.queues[qi]!;
    const b = this.read(qi, this.layout(qi).avail, 4, 'ring');
    const flags = u16(b, 0);
    const idx = u16(b, 2);
    if (((idx - q.lastAvail) & 0xffff) > q.size) throw new QueueFault('avail-too-far', qi, `avail.idx ${idx} is more than ${q.size} ahead of ${q.lastAvail}`);
    return { flags, idx };
  }

  /** The head descriptor index of available entry `n` (free-running). */
  private availEntry(qi: number, n: number): number {
    const q = this.state.queues[qi]!;
    const at = this.layout(qi).avail + 4n + BigInt(2 * (n % q.size));
    const head = u16(this.read(qi, at, 2, 'ring'), 0);
    if (head >= q.size) throw new QueueFault('bad-head', qi, `available entry ${n} names descriptor ${head} of ${q.size}`);
    return head;
  }

  /** The chain from `head`: every descriptor must be `write` (device-writable) or not, as asked. */
  private chain(qi: number, head: number, write: boolean): Desc[] {
    const q = this.state.queues[qi]!;
    const base = this.layout(qi).desc;
    const out: Desc[] = [];
    let i = head;
    for (;;) {
      if (out.length === q.size) throw new QueueFault('chain-loop', qi, `the chain from ${head} is longer than the queue (${q.size})`);
      const b = this.read(qi, base + BigInt(DESC_BYTES * i), DESC_BYTES, 'ring');
      const d: Desc = { addr: u64(b, 0), len: u32(b, 8), flags: u16(b, 12), next: u16(b, 14) };
      if ((d.flags & VIRTQ_DESC.INDIRECT) !== 0) throw new QueueFault('indirect', qi, `descriptor ${i} is indirect (not negotiated)`);
      if (((d.flags & VIRTQ_DESC.WRITE) !== 0) !== write) throw new QueueFault('wrong-direction', qi, `descriptor ${i} is device-${write ? 'readable' : 'writable'} in a ${write ? 'receive' : 'transmit'} chain`);
      out.push(d);
      if ((d.flags & VIRTQ_DESC.NEXT) === 0) return out;
      if (d.next >= q.size) throw new QueueFault('bad-next', qi, `descriptor ${i} chains to ${d.next} of ${q.size}`);
      i = d.next;
    }
  }

  /** Writes the used element at the device's used index and advances it (used.idx is written apart). */
  private putUsed(qi: number, id: number, len: number): void {
    const q = this.state.queues[qi]!;
    const at = this.layout(qi).used + 4n + BigInt(8 * (q.usedIdx % q.size));
    const e = new Uint8Array(8);
    new DataView(e.buffer).setUint32(0, id, true);
    new DataView(e.buffer).setUint32(4, len >>> 0, true);
    this.write(qi, at, e, 'ring');
    q.usedIdx = (q.usedIdx + 1) & 0xffff;
    this.state.chains[qi as 0 | 1] += 1;
  }

  private publishUsed(qi: number, availFlags: number): void {
    const q = this.state.queues[qi]!;
    this.write(qi, this.layout(qi).used + 2n, Uint8Array.of(q.usedIdx & 0xff, q.usedIdx >> 8), 'ring');
    if ((availFlags & VIRTQ_AVAIL_NO_INTERRUPT) === 0) this.state.isr |= VIRTIO_ISR.QUEUE;
  }

  private ready(qi: number): boolean {
    const s = this.state;
    return (s.status & VIRTIO_STATUS.DRIVER_OK) !== 0 && (s.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) === 0 && s.queues[qi]!.pfn !== 0;
  }

  // ---- transmit -----------------------------------------------------------------------------------

  private notify(qi: number): void {
    const s = this.state;
    if (qi !== RECEIVEQ && qi !== TRANSMITQ) {
      s.badNotifies++;
      return;
    }
    s.notifies[qi as 0 | 1] += 1;
    if (this.port === null) throw new Error('the device is not on a bus');
    // receiveq: new buffers; there is no backlog to deliver into them
    if (qi === RECEIVEQ || !this.ready(qi) || !this.master()) return;
    const q = s.queues[TRANSMITQ];
    let flags = 0;
    let returned = 0;
    try {
      const head = this.availHead(TRANSMITQ);
      flags = head.flags;
      while (q.lastAvail !== head.idx) {
        const id = this.availEntry(TRANSMITQ, q.lastAvail);
        const descs = this.chain(TRANSMITQ, id, false);
        const bytes: number[] = [];
        let total = 0;
        for (const d of descs) total += d.len;
        const tooLong = total > NET_HDR_BYTES + MAX_FRAME;
        if (total < NET_HDR_BYTES) throw new QueueFault('short-chain', TRANSMITQ, `the chain from ${id} holds ${total} bytes, less than the header`);
        if (!tooLong) for (const d of descs) if (d.len > 0) for (const b of this.read(TRANSMITQ, d.addr, d.len, 'packet')) bytes.push(b);
        q.lastAvail = (q.lastAvail + 1) & 0xffff;
        this.putUsed(TRANSMITQ, id, 0);
        returned++;
        // flags (byte 0) and gso_type (byte 1) ask for offloads that were not offered
        if (tooLong || bytes[0] !== 0 || bytes[1] !== 0) s.txDropped++;
        else this.send(bytes.slice(NET_HDR_BYTES));
        // a loopback delivery that broke the receive queue stops the device here too
        if ((s.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) !== 0) break;
      }
    } catch (e) {
      if (!(e instanceof QueueFault)) throw e;
      this.fail(e);
    }
    if (returned > 0) {
      try {
        this.publishUsed(TRANSMITQ, flags);
      } catch (e) {
        if (!(e instanceof QueueFault)) throw e;
        this.fail(e);
      }
    }
  }

  private send(frame: number[]): void {
    const s = this.state;
    s.sent.push({ seq: s.sent.length, data: frame, loopback: s.loopback });
    if (s.loopback) this.receive(Uint8Array.from(frame));
  }

  // ---- receive ------------------------------------------------------------------------------------

  /** A frame arriving from the host (or echoed back by loopback). */
  receive(frame: Uint8Array): VirtioRxResult {
    const s = this.state;
    if (this.port === null) throw new Error('the device is not on a bus');
    const drop = (why: VirtioRxResult): VirtioRxResult => {
      s.rxDropped++;
      return why;
    };
    if ((s.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) !== 0) return drop('needs-reset');
    if (!this.ready(RECEIVEQ)) return drop('not-ready');
    if (frame.length > MAX_FRAME) return drop('too-long');
    if (!this.master()) return drop('bus-master-off');
    const q = s.queues[RECEIVEQ];
    try {
      const head = this.availHead(RECEIVEQ);
      if (q.lastAvail === head.idx) return drop('no-buffer');
      const id = this.availEntry(RECEIVEQ, q.lastAvail);
      const descs = this.chain(RECEIVEQ, id, true);
      const room = descs.reduce((n, d) => n + d.len, 0);
      const data = new Uint8Array(NET_HDR_BYTES + frame.length); // a zero header, then the frame
      data.set(frame, NET_HDR_BYTES);
      if (room < data.length) return drop('buffer-too-small');
      let at = 0;
      for (const d of descs) {
        if (at === data.length) break;
        const n = Math.min(d.len, data.length - at);
        this.write(RECEIVEQ, d.addr, data.subarray(at, at + n), 'packet');
        at += n;
      }
      q.lastAvail = (q.lastAvail + 1) & 0xffff;
      this.putUsed(RECEIVEQ, id, data.length);
      this.publishUsed(RECEIVEQ, head.flags);
      s.received++;
      return 'received';
    } catch (e) {
      if (!(e instanceof QueueFault)) throw e;
      this.fail(e);
      s.rxDropped++;
      return 'error';
    }
  }

  // ---- views and state ----------------------------------------------------------------------------

  /** Both queues as guest memory holds them now, read with `read` (no DMA, not logged). */
  ringView(read: RingReader): VirtioNetView {
    const s = this.state;
    const view = (qi: number): VirtqView => virtqView(qi, s.queues[qi]!, this.layout(qi), read);
    return {
      status: s.status,
      isr: s.isr,
      deviceFeatures: s.deviceFeatures,
      driverFeatures: s.driverFeatures,
      mac: s.mac.map((b) => b.toString(16).padStart(2, '0')).join(':'),
      loopback: s.loopback,
      queues: [view(RECEIVEQ), view(TRANSMITQ)],
    };
  }

  snapshot(): VirtioNetState {
    return JSON.parse(JSON.stringify(this.state)) as VirtioNetState;
  }

  restore(state: unknown): void {
    this.state = JSON.parse(JSON.stringify(state)) as VirtioNetState;
  }
}
