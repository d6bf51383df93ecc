/**
 * The port-I/O bus of the device models: it implements the CPU's IoHandler, so a Cpu (or, later,
 * the hypervisor's I/O-exit handler) can use it as its `io`. Devices claim ranges of ports; every
 * access is recorded in an append-only log (as the bare Machine's port log, but with the value read
 * and the device that answered).
 *
 * Access width. All the PC devices modelled here (UART, PICs, PIT) sit on an 8-bit data path, and a
 * PC's bus splits a 16- or 32-bit IN/OUT aimed at 8-bit devices into byte cycles at consecutive
 * ports, lowest port first (the low byte of the register goes to / comes from `port`, the next byte
 * from `port + 1`, and so on). The bus does the same: an access of `size` bytes is `size` byte
 * accesses at port, port + 1, ... (wrapping at 0xFFFF), each answered by whoever claims that
 * port. So `in ax, dx` at 0x3F8 reads RBR into AL and IER into AH, and an access that straddles two
 * devices or a device and an unclaimed port is answered byte by byte.
 *
 * Unclaimed ports read all ones (a floating ISA data bus) and ignore writes.
 *
 * MMIO (issue 8) will be a second table of address ranges beside this one; the bus keeps ports and
 * their log separate so that MMIO regions can be added without changing how ports work.
 */
import type { IoHandler } from '../cpu/cpu.ts';

/** A device register file on the 8-bit port bus: `offset` is the port minus the range's first port. */
export interface PortDevice {
  /** Short name, used in the access log and in error messages (e.g. 'uart', 'pic-master'). */
  readonly name: string;
  read(offset: number): number;
  write(offset: number, value: number): void;
}

/** One IN or OUT as the CPU issued it (before byte splitting). */
export interface PortAccess {
  dir: 'in' | 'out';
  port: number;
  size: 1 | 2 | 4;
  /** The value read (for 'in') or written (for 'out'), zero-extended to `size` bytes. */
  value: number;
  /** The device that answered the first byte, or null when the port is unclaimed. */
  device: string | null;
}

interface Claim {
  first: number;
  last: number;
  device: PortDevice;
}

export class PortBus implements IoHandler {
  private readonly claims: Claim[] = [];
  /** Port → index into `claims`, or -1. */
  private readonly owner = new Int16Array(0x10000).fill(-1);
  /** Every access, in order. Append-only: snapshots keep its length (see `logLength`). */
  log: PortAccess[] = [];

  /** Claims `count` ports from `first` for `device`; overlapping claims are a wiring error. */
  claim(first: number, count: number, device: PortDevice): void {
    if (!Number.isInteger(first) || !Number.isInteger(count) || count < 1 || first < 0 || first + count > 0x10000) {
      throw new RangeError(`ports ${first}+${count} are not within 0..0xFFFF`);
    }
    for (let p = first; p < first + count; p++) {
      const o = this.owner[p]!;
      if (o >= 0) throw new Error(`port 0x${p.toString(16)} is already claimed by ${this.claims[o]!.device.name}`);
    }
    const idx = this.claims.length;
    this.claims.push({ first, last: first + count - 1, device });
    this.owner.fill(idx, first, first + count);
  }

  /** The device claiming `port`, or null. */
  deviceAt(port: number): PortDevice | null {
    const o = this.owner[port & 0xffff]!;
    return o < 0 ? null : this.claims[o]!.device;
  }

  private readByte(port: number): number {
    const o = this.owner[port]!;
    if (o < 0) return 0xff;
    const c = this.claims[o]!;
    return c.device.read(port - c.first) & 0xff;
  }

  private writeByte(port: number, value: number): void {
    const o = this.owner[port]!;
    if (o < 0) return;
    const c = this.claims[o]!;
    c.device.write(port - c.first, value & 0xff);
  }

  portIn(port: number, size: 1 | 2 | 4): number {
    port &= 0xffff;
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte((port + i) & 0xffff) << (8 * i);
    v >>>= 0;
    this.log.push({ dir: 'in', port, size, value: v, device: this.deviceAt(port)?.name ?? null });
    return v;
  }

  portOut(port: number, size: 1 | 2 | 4, value: number): void {
    port &= 0xffff;
    const v = size === 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
    for (let i = 0; i < size; i++) this.writeByte((port + i) & 0xffff, (v >>> (8 * i)) & 0xff);
    this.log.push({ dir: 'out', port, size, value: v, device: this.deviceAt(port)?.name ?? null });
  }

  /** The log's length, for a snapshot (the entries before it never change). */
  get logLength(): number {
    return this.log.length;
  }

  /** Back to a snapshot's log: a fresh copy of the first `length` entries of `log`. */
  restoreLog(log: readonly PortAccess[], length: number): void {
    this.log = log.slice(0, length);
  }
}
