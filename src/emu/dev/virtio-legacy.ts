/**
 * The legacy virtio-pci register block both virtio devices share (virtio 1.1, 4.1.4.8: device
 * features 0x00, driver features 0x04, queue PFN 0x08, queue size 0x0C, queue select 0x0E, queue
 * notify 0x10, device status 0x12, ISR status 0x13, then the device's own configuration): each
 * register answers only at its own offset and width (anything else reads all ones, writes nothing,
 * and is counted); driver features keep only what the device offers; a PFN write (re)starts its
 * queue; status 0 resets the device, and DEVICE_NEEDS_RESET is the device's bit, kept until a reset;
 * reading ISR clears it. virtio-net.ts and virtio-blk.ts differ only in their queues, their
 * configuration and what a notification or a reset does.
 */
import type { DescriptorView, RingReader, VirtqView } from './virtio-net.ts';

/** The legacy registers' offsets in BAR0 (virtio 1.1, 4.1.4.8; without MSI-X the configuration starts at 0x14). */
export const VIRTIO_REG = {
  DEVICE_FEATURES: 0x00,
  DRIVER_FEATURES: 0x04,
  QUEUE_PFN: 0x08,
  QUEUE_SIZE: 0x0c,
  QUEUE_SELECT: 0x0e,
  QUEUE_NOTIFY: 0x10,
  STATUS: 0x12,
  ISR: 0x13,
  CONFIG: 0x14,
} as const;

/** Device status bits (2.1). FEATURES_OK (8) does not exist for a legacy driver. */
export const VIRTIO_STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, DEVICE_NEEDS_RESET: 0x40, FAILED: 0x80 } as const;

/** One virtqueue's state, as the device keeps it. */
export interface VirtqState {
  /** Entries (a power of 2), constant. */
  size: number;
  /** Page frame number of the queue, 0 = disabled. */
  pfn: number;
  /** The next available-ring index the device will take (free-running, 16 bits). */
  lastAvail: number;
  /** The used.idx the device last wrote (free-running, 16 bits). */
  usedIdx: number;
}

const REGS: readonly { off: number; size: 1 | 2 | 4 }[] = [
  { off: VIRTIO_REG.DEVICE_FEATURES, size: 4 },
  { off: VIRTIO_REG.DRIVER_FEATURES, size: 4 },
  { off: VIRTIO_REG.QUEUE_PFN, size: 4 },
  { off: VIRTIO_REG.QUEUE_SIZE, size: 2 },
  { off: VIRTIO_REG.QUEUE_SELECT, size: 2 },
  { off: VIRTIO_REG.QUEUE_NOTIFY, size: 2 },
  { off: VIRTIO_REG.STATUS, size: 1 },
  { off: VIRTIO_REG.ISR, size: 1 },
];

/** Descriptor flags (2.6.5): NEXT, WRITE (device-writable), INDIRECT. */
export const VIRTQ_DESC = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** Bytes of a descriptor: addr u64, len u32, flags u16, next u16. */
export const DESC_BYTES = 16;

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, at: number): bigint => (BigInt(u32(b, at + 4)) << 32n) | BigInt(u32(b, at));

/**
 * Queue `index` as guest memory holds it now, read with `read` (no DMA, not logged): its
 * descriptors, available and used rings, and the chains the driver made available that the device
 * has not used yet (their descriptors' owner 'device', as far as each chain is well formed).
 */
export function virtqView(index: number, q: VirtqState, l: { desc: bigint; avail: bigint; used: bigint }, read: RingReader): VirtqView {
  const enabled = q.pfn !== 0;
  const v: VirtqView = { queue: index, size: q.size, pfn: q.pfn, enabled, desc: hex(l.desc), avail: hex(l.avail), used: hex(l.used), lastAvail: q.lastAvail, usedIdx: q.usedIdx, descriptors: null, availRing: null, usedRing: null, pending: [] };
  if (!enabled) return v;
  const db = read(l.desc, DESC_BYTES * q.size);
  const ab = read(l.avail, 4 + 2 * q.size);
  const ub = read(l.used, 4 + 8 * q.size);
  if (ab !== null) v.availRing = { flags: u16(ab, 0), idx: u16(ab, 2), ring: Array.from({ length: q.size }, (_, i) => u16(ab, 4 + 2 * i)) };
  if (ub !== null) v.usedRing = { flags: u16(ub, 0), idx: u16(ub, 2), ring: Array.from({ length: q.size }, (_, i) => ({ id: u32(ub, 4 + 8 * i), len: u32(ub, 8 + 8 * i) })) };
  if (db === null) return v;
  const descs: DescriptorView[] = Array.from({ length: q.size }, (_, i) => ({ index: i, addr: hex(u64(db, 16 * i)), len: u32(db, 16 * i + 8), flags: u16(db, 16 * i + 12), next: u16(db, 16 * i + 14), owner: 'driver' }));
  if (v.availRing !== null) {
    // available and not yet used: from the device's next index up to avail.idx (at most a queue)
    const ahead = Math.min((v.availRing.idx - q.lastAvail) & 0xffff, q.size);
    for (let n = 0; n < ahead; n++) {
      const h = v.availRing.ring[(q.lastAvail + n) % q.size]!;
      v.pending.push(h);
      for (let i = h, k = 0; i < q.size && k < q.size; k++) {
        const d = descs[i]!;
        d.owner = 'device';
        if ((d.flags & VIRTQ_DESC.NEXT) === 0) break;
        i = d.next;
      }
    }
  }
  v.descriptors = descs;
  return v;
}

/** The registers' state, part of each device's plain-data state. */
export interface LegacyRegs {
  deviceFeatures: number;
  driverFeatures: number;
  queueSelect: number;
  status: number;
  isr: number;
  oddAccesses: number;
}

/** What a device adds to the block: its queues, its configuration (from 0x14), and its actions. */
export interface LegacyDevice {
  readonly state: LegacyRegs;
  /** The queue QUEUE_SELECT names, or null when the device has none by that number. */
  selectedQueue(): VirtqState | null;
  /** The device configuration's bytes at [offset, offset + size) (read-only), or null when the access is not inside it. */
  configRead(offset: number, size: 1 | 2 | 4): number | null;
  notify(queue: number): void;
  reset(): void;
}

/** A read of the legacy block. */
export function legacyRead(d: LegacyDevice, offset: number, size: 1 | 2 | 4): number {
  const s = d.state;
  const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
  const config = d.configRead(offset, size);
  if (config !== null) return config >>> 0;
  if (!REGS.some((r) => r.off === offset && r.size === size)) {
    s.oddAccesses++;
    return ones;
  }
  switch (offset) {
    case VIRTIO_REG.DEVICE_FEATURES: return s.deviceFeatures >>> 0;
    case VIRTIO_REG.DRIVER_FEATURES: return s.driverFeatures >>> 0;
    case VIRTIO_REG.QUEUE_PFN: return d.selectedQueue()?.pfn ?? 0;
    case VIRTIO_REG.QUEUE_SIZE: return d.selectedQueue()?.size ?? 0;
    case VIRTIO_REG.QUEUE_SELECT: return s.queueSelect;
    case VIRTIO_REG.QUEUE_NOTIFY: return 0;
    case VIRTIO_REG.STATUS: return s.status;
    case VIRTIO_REG.ISR: {
      const v = s.isr;
      s.isr = 0;
      return v;
    }
    default: return ones;
  }
}

/** A write of the legacy block (the configuration is read-only). */
export function legacyWrite(d: LegacyDevice, offset: number, size: 1 | 2 | 4, value: number): void {
  const s = d.state;
  if (d.configRead(offset, size) !== null) return;
  if (!REGS.some((r) => r.off === offset && r.size === size)) {
    s.oddAccesses++;
    return;
  }
  switch (offset) {
    case VIRTIO_REG.DRIVER_FEATURES:
      s.driverFeatures = (value & s.deviceFeatures) >>> 0;
      return;
    case VIRTIO_REG.QUEUE_PFN: {
      const q = d.selectedQueue();
      if (q === null) return;
      q.pfn = value >>> 0;
      q.lastAvail = 0;
      q.usedIdx = 0;
      return;
    }
    case VIRTIO_REG.QUEUE_SELECT:
      s.queueSelect = value & 0xffff;
      return;
    case VIRTIO_REG.QUEUE_NOTIFY:
      d.notify(value & 0xffff);
      return;
    case VIRTIO_REG.STATUS:
      if ((value & 0xff) === 0) {
        d.reset();
        return;
      }
      // the driver's bits; DEVICE_NEEDS_RESET is the device's and stays until a reset
      s.status = (value & 0xff & ~VIRTIO_STATUS.DEVICE_NEEDS_RESET) | (s.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET);
      return;
    default: // read-only: device features, queue size, ISR
  }
}
