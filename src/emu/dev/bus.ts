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
 * Wide registers. A device on a wider data path (the PCI host bridge's CONFIG_ADDRESS at 0xCF8,
 * which latches only a whole dword write; PCI I/O BARs, which see byte enables, not byte cycles)
 * implements `readSized` / `writeSized`: an access that starts in its claim and ends inside the
 * same claim is handed to it whole, once. An access that runs past the claim's end is split into
 * bytes as for any device.
 *
 * Ports claimed at run time. PCI I/O BARs move when the guest programs them and stop decoding
 * when it clears the command register's I/O enable, so they cannot be fixed claims: a
 * `PortDecoder` (the PCI bus) is asked about every port that no fixed claim holds.
 *
 * Memory-mapped registers do not pass here: PCI memory BARs are reached through PhysMem's MMIO
 * handler, which the PCI bus (pci.ts) takes over.
 */
import type { IoHandler } from '../cpu/cpu.ts';

/** A device register file on the 8-bit port bus: `offset` is the port minus the range's first port. */
export interface PortDevice {
  /** Short name, used in the access log and in error messages (e.g. 'uart', 'pic-master'). */
  readonly name: string;
  read(offset: number): number;
  write(offset: number, value: number): void;
  /** A wide register: the whole access (`size` bytes at `offset`, inside the claim) in one call. */
  readSized?(offset: number, size: 1 | 2 | 4): number;
  writeSized?(offset: number, size: 1 | 2 | 4, value: number): void;
}

/** A range of ports a decoder answers for at this moment (`first`..`last` inclusive). */
export interface DecodedPorts {
  first: number;
  last: number;
  device: PortDevice;
}

/** Answers for ports no fixed claim holds (e.g. the PCI bus's I/O BARs); null: not decoded. */
export interface PortDecoder {
  decode(port: number): DecodedPorts | null;
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
  /** Consulted for ports without a fixed claim (the PCI bus's I/O BARs), or null. */
  decoder: PortDecoder | null = null;

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

  /** The device answering `port` (a fixed claim, else the decoder's), or null. */
  deviceAt(port: number): PortDevice | null {
    return this.resolve(port & 0xffff)?.device ?? null;
  }

  private resolve(port: number): DecodedPorts | null {
    const o = this.owner[port]!;
    if (o >= 0) return this.claims[o]!;
    return this.decoder === null ? null : this.decoder.decode(port);
  }

  private readByte(port: number): number {
    const c = this.resolve(port);
    if (c === null) return 0xff;
    return c.device.read(port - c.first) & 0xff;
  }

  private writeByte(port: number, value: number): void {
    const c = this.resolve(port);
    if (c === null) return;
    c.device.write(port - c.first, value & 0xff);
  }

  portIn(port: number, size: 1 | 2 | 4): number {
    port &= 0xffff;
    const c = this.resolve(port);
    let v = 0;
    if (c !== null && c.device.readSized !== undefined && port + size - 1 <= c.last) {
      v = c.device.readSized(port - c.first, size);
      v = size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
    } else {
      for (let i = 0; i < size; i++) v |= this.readByte((port + i) & 0xffff) << (8 * i);
      v >>>= 0;
    }
    this.log.push({ dir: 'in', port, size, value: v, device: c?.device.name ?? null });
    return v;
  }

  portOut(port: number, size: 1 | 2 | 4, value: number): void {
    port &= 0xffff;
    const v = size === 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
    const c = this.resolve(port);
    if (c !== null && c.device.writeSized !== undefined && port + size - 1 <= c.last) c.device.writeSized(port - c.first, size, v);
    else for (let i = 0; i < size; i++) this.writeByte((port + i) & 0xffff, (v >>> (8 * i)) & 0xff);
    this.log.push({ dir: 'out', port, size, value: v, device: c?.device.name ?? null });
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
