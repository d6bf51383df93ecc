/**
 * A network card with descriptor rings: the teaching model of a ring-based DMA device, after the
 * legacy (non-extended) descriptors and the register layout of the Intel 8254x family ("PCI/PCI-X
 * Family of Gigabit Ethernet Controllers Software Developer's Manual", chapters 3 and 13). It keeps
 * the mechanics a driver meets: rings of 16-byte descriptors in the driver's memory, head and tail
 * registers that split each ring between driver and device, DMA for every descriptor and buffer,
 * status written back by DMA, read-to-clear interrupt causes and a mask, signalled by MSI.
 *
 * It is not an 82540: it has the test vendor ID 0x1234 (as the copy engine, dma-engine.ts) and
 * device ID 0x4E43, class 0x020000 (Ethernet controller), so no real e1000 driver would bind to a
 * register set that is only a subset. BAR0 is 128 KiB of 32-bit memory (the 8254x's size), with
 * the manual's offsets:
 *   0x0000 CTRL    bit 26 RST resets the registers (the rest are kept, not acted on)
 *   0x0008 STATUS  read only: full duplex, link up, 1000 Mb/s (0x83)
 *   0x00C0 ICR     interrupt causes; a read returns and clears them
 *   0x00C8 ICS     writing 1s sets causes (as if the events happened)
 *   0x00D0 IMS     writing 1s unmasks causes; reads the mask
 *   0x00D8 IMC     writing 1s masks causes
 *   0x0100 RCTL    bit 1 EN, bits 7:6 LBM (01: MAC loopback), bits 17:16 BSIZE (2048, 1024, 512,
 *                  256 bytes per receive buffer)
 *   0x0400 TCTL    bit 1 EN
 *   0x2800 RDBAL, 0x2804 RDBAH, 0x2808 RDLEN, 0x2810 RDH, 0x2818 RDT   the receive ring
 *   0x3800 TDBAL, 0x3804 TDBAH, 0x3808 TDLEN, 0x3810 TDH, 0x3818 TDT   the transmit ring
 *   0x4010 MPC, 0x4074 GPRC, 0x4080 GPTC   missed / good received / good transmitted packets
 *                  (statistics: a read returns and clears)
 *   0x5400 RAL0, 0x5404 RAH0   the MAC address (bytes 0..3, bytes 4..5 with bit 31 AV), loaded
 *                  at reset with 02:00:00:00:4e:43 (locally administered)
 * Other offsets read 0 and ignore writes. Narrower accesses read or merge bytes of their dword.
 * A ring base is 16-byte aligned (bits 3:0 read 0), a ring length a multiple of 128 bytes (bits 19:7
 * kept, the rest read 0); head and tail are 16-bit descriptor indices.
 *
 * Ownership. Descriptors from head up to tail - 1 (modulo the ring size) belong to the device,
 * from tail up to head - 1 to the driver; head == tail means the device owns none. The driver
 * hands descriptors over by writing the tail; the device gives them back by advancing the head.
 *
 * Transmit descriptor (16 bytes): buffer address (64 bits), length (16), CSO (8), CMD (8: bit 0
 * EOP end of packet, bit 1 IFCS, bit 3 RS report status), STA (8: bit 0 DD done), CSS, special.
 * A TDT write (and setting TCTL.EN) makes the device process descriptors from TDH to TDT: it reads
 * each descriptor by DMA, then its buffer, gathering bytes until a descriptor with EOP ends the
 * frame, which goes out; when RS is set it writes the status byte back with DD; TDH advances
 * past each. TXDW (ICR bit 0) is raised when a status was written back.
 *
 * Receive descriptor (16 bytes): buffer address (64 bits), then written by the device: length
 * (16), checksum (16, written 0), status (8: bit 0 DD, bit 1 EOP), errors (8), special (16). A frame
 * arriving with RCTL.EN set takes as many descriptors from RDH as its length needs in buffers of
 * BSIZE bytes; if the device does not own that many, the frame is dropped and counted (MPC) and
 * RXO (bit 6) is raised. Otherwise, per descriptor: the descriptor is read by DMA, its part of the
 * frame written to the buffer by DMA, then length and status (DD, and EOP on the last) written
 * back by DMA; RDH advances past the frame's descriptors and RXT0 (bit 7) is raised.
 *
 * The wire. Every frame sent is appended to `state.sent`. With RCTL.LBM = 01 (MAC loopback) it is
 * delivered to this card's own receive path instead of the wire (loopback frames are recorded
 * too, marked); otherwise it goes to a linked peer card, if any (`link`). The host gives frames
 * from outside with `receive`.
 *
 * Interrupts. A cause that is unmasked asks for an interrupt; the card sends its MSI when the
 * request appears (no unmasked cause was pending before: a new cause, an ICS write, or an IMS
 * write unmasking a pending cause), as the edge of its internal interrupt signal, and sends the
 * next only after the pending unmasked causes were cleared by reading ICR.
 *
 * DMA goes through the bus (pci.ts): the bus's DmaRemapper with the card's requester ID, logged,
 * in pieces that cross no 4 KiB boundary. With the bus master bit clear the card makes no request:
 * transmit waits (descriptors stay with the device until the next TDT write finds mastering on),
 * a received frame is dropped and counted in MPC. A blocked request stops that operation: a
 * transmit stops with TDH at the descriptor it could not read (the frame being gathered is lost
 * and not sent), a receive drops its frame with RDH where it was (buffers already written keep
 * their bytes, no status says so); a blocked status write-back loses only the DD bit (the frame
 * has gone; TDH moves on). Each raises DMA_ERROR (ICR bit 20), a cause this model adds: the 8254x
 * has none (a PCI master abort is reported in the configuration status register instead).
 *
 * Simplifications, and why: no time passes, each operation runs to its end inside the register
 * write or `receive` that starts it (deterministic, and the guest still polls or waits for the
 * interrupt as a driver does); no FIFOs, descriptor prefetch or write-back batching (a descriptor
 * is read when needed, so the ring view shows when); no address filtering (every frame is
 * accepted: the MAC address is kept for the driver to read); no checksum offload, VLAN, jumbo
 * limits beyond MAX_FRAME, interrupt throttling or delay timers (RDTR, TIDV), no RXDMT0
 * threshold, no PHY or EEPROM registers, no extended descriptors.
 *
 * State is plain data (`snapshot` / `restore`, JSON-safe), including the card's last copy of each
 * descriptor it read or wrote back, which `ringView` shows with the owner of every slot.
 */
import { readDwords, writeDwords } from './dword-regs.ts';
import type { DmaPurpose, PciFunctionModel, PciFunctionPort, PciFunctionSpec } from './pci.ts';
import { CMD } from './pci.ts';
import { msiCapability } from './msi.ts';

export const NIC_VENDOR = 0x1234;
export const NIC_DEVICE = 0x4e43;
export const NIC_BAR_SIZE = 0x20000;

export const NIC_REG = {
  CTRL: 0x0000,
  STATUS: 0x0008,
  ICR: 0x00c0,
  ICS: 0x00c8,
  IMS: 0x00d0,
  IMC: 0x00d8,
  RCTL: 0x0100,
  TCTL: 0x0400,
  RDBAL: 0x2800,
  RDBAH: 0x2804,
  RDLEN: 0x2808,
  RDH: 0x2810,
  RDT: 0x2818,
  TDBAL: 0x3800,
  TDBAH: 0x3804,
  TDLEN: 0x3808,
  TDH: 0x3810,
  TDT: 0x3818,
  MPC: 0x4010,
  GPRC: 0x4074,
  GPTC: 0x4080,
  RAL0: 0x5400,
  RAH0: 0x5404,
} as const;

export const CTRL_RST = 1 << 26;
export const STATUS_VALUE = 0x83; // FD, LU, SPEED = 10b (1000 Mb/s)
export const ICR = { TXDW: 1 << 0, RXO: 1 << 6, RXT0: 1 << 7, DMA_ERROR: 1 << 20 } as const;
const ICR_BITS = ICR.TXDW | ICR.RXO | ICR.RXT0 | ICR.DMA_ERROR;
export const RCTL = { EN: 1 << 1, LBM_MAC: 1 << 6, BSIZE_SHIFT: 16 } as const;
export const TCTL = { EN: 1 << 1 } as const;
export const TX_CMD = { EOP: 1 << 0, IFCS: 1 << 1, RS: 1 << 3 } as const;
export const TX_STA = { DD: 1 << 0 } as const;
export const RX_STA = { DD: 1 << 0, EOP: 1 << 1 } as const;
export const RAH_AV = 1 << 31;
export const DESC_SIZE = 16;
/** The longest frame the card gathers (the 8254x's 16288-byte limit, rounded): longer ones are dropped. */
export const MAX_FRAME = 16384;
/** RCTL.BSIZE 00, 01, 10, 11 (BSEX = 0). */
const BSIZES = [2048, 1024, 512, 256] as const;
/** RDLEN / TDLEN: bits 19:7 (multiples of 128 bytes, 8 descriptors). */
const RING_LEN_MASK = 0xfff80;
const DEFAULT_MAC = [0x02, 0x00, 0x00, 0x00, 0x4e, 0x43] as const;

/** The card's copy of one descriptor as it last read or wrote it back. */
export interface SeenDescriptor {
  /** Buffer address, 0x-prefixed hex. */
  addr: string;
  length: number;
  /** TX: CMD byte; RX: 0. */
  cmd: number;
  /** STA (TX) or status (RX) byte. */
  status: number;
  /** 'read': fetched by the card; 'written': status written back by it. */
  last: 'read' | 'written';
}

export interface SentFrame {
  seq: number;
  data: number[];
  /** Delivered to this card's own receive path (MAC loopback) rather than the wire. */
  loopback: boolean;
}

export type RxResult = 'received' | 'rx-disabled' | 'no-descriptor' | 'bus-master-off' | 'dma-blocked' | 'too-long';

export interface NicState {
  ctrl: number;
  icr: number;
  ims: number;
  rctl: number;
  tctl: number;
  rdbal: number;
  rdbah: number;
  rdlen: number;
  rdh: number;
  rdt: number;
  tdbal: number;
  tdbah: number;
  tdlen: number;
  tdh: number;
  tdt: number;
  ral0: number;
  rah0: number;
  /** Statistics registers (read to clear). */
  mpc: number;
  gprc: number;
  gptc: number;
  /** Bytes of the frame being gathered from TX descriptors without EOP. */
  txPartial: number[];
  /** Frames sent, in order (append-only; a reset keeps them: they are on the wire). */
  sent: SentFrame[];
  /** Totals since reset that the read-to-clear statistics do not keep. */
  totals: { sent: number; received: number; dropped: number; dmaErrors: number; tooLong: number; msi: number };
  /** The card's last copy of each descriptor, by index (TX ring, RX ring). */
  seenTx: Record<number, SeenDescriptor>;
  seenRx: Record<number, SeenDescriptor>;
}

function freshState(sent: SentFrame[] = []): NicState {
  const m = DEFAULT_MAC;
  return {
    ctrl: 0,
    icr: 0,
    ims: 0,
    rctl: 0,
    tctl: 0,
    rdbal: 0,
    rdbah: 0,
    rdlen: 0,
    rdh: 0,
    rdt: 0,
    tdbal: 0,
    tdbah: 0,
    tdlen: 0,
    tdh: 0,
    tdt: 0,
    ral0: (m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0,
    rah0: (m[4] | (m[5] << 8) | RAH_AV) >>> 0,
    mpc: 0,
    gprc: 0,
    gptc: 0,
    txPartial: [],
    sent,
    totals: { sent: 0, received: 0, dropped: 0, dmaErrors: 0, tooLong: 0, msi: 0 },
    seenTx: {},
    seenRx: {},
  };
}

export interface RingSlotView {
  index: number;
  owner: 'driver' | 'device';
  /** The card's last copy of the descriptor, or null if it never read or wrote this slot. */
  seen: SeenDescriptor | null;
  /** Whether the status byte has DD (from the card's copy). */
  done: boolean;
  /** RX: EOP; TX: the CMD's EOP. */
  eop: boolean;
}

export interface RingView {
  /** The ring's base bus address, 0x-prefixed hex. */
  base: string;
  count: number;
  head: number;
  tail: number;
  enabled: boolean;
  slots: RingSlotView[];
}

export interface NicView {
  tx: RingView;
  rx: RingView;
  icr: number;
  ims: number;
  loopback: boolean;
  mac: string;
  stats: NicState['totals'] & { missedNow: number };
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Whether ring slot `i` of `count` belongs to the device: head <= i < tail, modulo count. */
export function deviceOwns(i: number, head: number, tail: number, count: number): boolean {
  return (i - head + count) % count < (tail - head + count) % count;
}

export class Nic implements PciFunctionModel {
  readonly spec: PciFunctionSpec = {
    vendorId: NIC_VENDOR,
    deviceId: NIC_DEVICE,
    revision: 1,
    classCode: 0x020000,
    bars: [{ kind: 'mem32', size: NIC_BAR_SIZE }, null, null, null, null, null],
    commandBits: CMD.MEMORY | CMD.BUS_MASTER | CMD.INTX_DISABLE,
    interruptPin: 1,
    capabilities: [msiCapability()],
  };
  state: NicState = freshState();
  /** The card at the other end of the cable (host wiring, not state). */
  peer: Nic | null = null;
  private port: PciFunctionPort | null = null;
  /** True while transmitting: a DMA that reaches the card's own BAR cannot start another. */
  private busy = false;

  constructor(readonly name = 'nic') {}

  connect(port: PciFunctionPort): void {
    this.port = port;
  }

  /** Cables this card to `other` (both ways). */
  link(other: Nic): void {
    this.peer = other;
    other.peer = this;
  }

  // ---- registers ----------------------------------------------------------------------------------

  private txCount(): number {
    return this.state.tdlen / DESC_SIZE;
  }

  private rxCount(): number {
    return this.state.rdlen / DESC_SIZE;
  }

  /** A register's value as a read sees it; `consume` applies read-to-clear. */
  private reg(off: number, consume: boolean): number {
    const s = this.state;
    const clear = <K extends 'icr' | 'mpc' | 'gprc' | 'gptc'>(k: K) => {
      const v = s[k];
      if (consume) s[k] = 0;
      return v;
    };
    switch (off) {
      case NIC_REG.CTRL: return s.ctrl;
      case NIC_REG.STATUS: return STATUS_VALUE;
      case NIC_REG.ICR: return clear('icr');
      case NIC_REG.IMS: return s.ims;
      case NIC_REG.RCTL: return s.rctl;
      case NIC_REG.TCTL: return s.tctl;
      case NIC_REG.RDBAL: return s.rdbal;
      case NIC_REG.RDBAH: return s.rdbah;
      case NIC_REG.RDLEN: return s.rdlen;
      case NIC_REG.RDH: return s.rdh;
      case NIC_REG.RDT: return s.rdt;
      case NIC_REG.TDBAL: return s.tdbal;
      case NIC_REG.TDBAH: return s.tdbah;
      case NIC_REG.TDLEN: return s.tdlen;
      case NIC_REG.TDH: return s.tdh;
      case NIC_REG.TDT: return s.tdt;
      case NIC_REG.MPC: return clear('mpc');
      case NIC_REG.GPRC: return clear('gprc');
      case NIC_REG.GPTC: return clear('gptc');
      case NIC_REG.RAL0: return s.ral0;
      case NIC_REG.RAH0: return s.rah0;
      default: return 0;
    }
  }

  barRead(_bar: number, offset: number, size: 1 | 2 | 4): number {
    return readDwords(offset, size, (d) => this.reg(d, true));
  }

  barWrite(_bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    // write-1 registers (ICS, IMS, IMC) see only the written bytes; the others merge
    const w1 = (d: number): boolean => d === NIC_REG.ICS || d === NIC_REG.IMS || d === NIC_REG.IMC;
    writeDwords(offset, size, value, (d) => (w1(d) ? 0 : this.reg(d, false)), (d, v) => this.writeReg(d, v));
  }

  private writeReg(off: number, v: number): void {
    const s = this.state;
    switch (off) {
      case NIC_REG.CTRL:
        if ((v & CTRL_RST) !== 0) {
          this.state = freshState(s.sent);
          return;
        }
        s.ctrl = v;
        return;
      case NIC_REG.ICS: this.raise(v & ICR_BITS); return;
      case NIC_REG.IMS: {
        const before = s.icr & s.ims;
        s.ims = (s.ims | (v & ICR_BITS)) >>> 0;
        if (before === 0 && (s.icr & s.ims) !== 0) this.interrupt();
        return;
      }
      case NIC_REG.IMC: s.ims = (s.ims & ~v) >>> 0; return;
      case NIC_REG.RCTL: s.rctl = v; return;
      case NIC_REG.TCTL:
        s.tctl = v;
        this.transmit();
        return;
      case NIC_REG.RDBAL: s.rdbal = (v & ~0xf) >>> 0; return;
      case NIC_REG.RDBAH: s.rdbah = v; return;
      case NIC_REG.RDLEN: s.rdlen = v & RING_LEN_MASK; return;
      case NIC_REG.RDH: s.rdh = v & 0xffff; return;
      case NIC_REG.RDT: s.rdt = v & 0xffff; return;
      case NIC_REG.TDBAL: s.tdbal = (v & ~0xf) >>> 0; return;
      case NIC_REG.TDBAH: s.tdbah = v; return;
      case NIC_REG.TDLEN: s.tdlen = v & RING_LEN_MASK; return;
      case NIC_REG.TDH: s.tdh = v & 0xffff; return;
      case NIC_REG.TDT:
        s.tdt = v & 0xffff;
        this.transmit();
        return;
      case NIC_REG.RAL0: s.ral0 = v; return;
      case NIC_REG.RAH0: s.rah0 = (v & (0xffff | RAH_AV)) >>> 0; return;
      default: // read-only or not modelled
    }
  }

  // ---- interrupts ---------------------------------------------------------------------------------

  private raise(bits: number): void {
    const s = this.state;
    const before = s.icr & s.ims;
    s.icr = (s.icr | bits) >>> 0;
    if (before === 0 && (s.icr & s.ims) !== 0) this.interrupt();
  }

  private interrupt(): void {
    if (this.port!.signalMsi()) this.state.totals.msi++;
  }

  // ---- DMA helpers --------------------------------------------------------------------------------

  private master(): boolean {
    return (this.port!.command() & CMD.BUS_MASTER) !== 0;
  }

  /** Reads `n` bytes at `at` in pieces that cross no 4 KiB boundary; null if a piece was blocked. */
  private readSpan(at: bigint, n: number, what: DmaPurpose): number[] | null {
    const out: number[] = [];
    let done = 0;
    while (done < n) {
      const a = at + BigInt(done);
      const piece = Math.min(n - done, 0x1000 - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) return null;
      const r = this.port!.dmaRead(a, piece, what);
      if (r.bytes === null) return null;
      for (const b of r.bytes) out.push(b);
      done += piece;
    }
    return out;
  }

  private writeSpan(at: bigint, data: readonly number[], what: DmaPurpose): boolean {
    let done = 0;
    while (done < data.length) {
      const a = at + BigInt(done);
      const piece = Math.min(data.length - done, 0x1000 - Number(a & 0xfffn));
      if (a + BigInt(piece) > 1n << 64n) return false;
      const w = this.port!.dmaWrite(a, Uint8Array.from(data.slice(done, done + piece)), what);
      if (w.outcome === null || !w.outcome.ok) return false;
      done += piece;
    }
    return true;
  }

  private dmaError(): void {
    this.state.totals.dmaErrors++;
    this.raise(ICR.DMA_ERROR);
  }

  // ---- transmit -----------------------------------------------------------------------------------

  private transmit(): void {
    const port = this.port;
    if (port === null) throw new Error('the card is not on a bus');
    if (this.busy) return;
    this.busy = true;
    try {
      this.transmitRing();
    } finally {
      this.busy = false;
    }
  }

  private transmitRing(): void {
    const s = this.state;
    const count = this.txCount();
    if ((s.tctl & TCTL.EN) === 0 || count === 0 || s.tdt >= count || s.tdh >= count || !this.master()) return;
    const base = (BigInt(s.tdbah) << 32n) | BigInt(s.tdbal);
    let wroteBack = false;
    for (let n = 0; n < count && s.tdh !== s.tdt; n++) {
      const i = s.tdh;
      const at = base + BigInt(i * DESC_SIZE);
      const d = this.readSpan(at, DESC_SIZE, 'ring');
      if (d === null) {
        s.txPartial = [];
        this.dmaError();
        break;
      }
      const addr = le(d, 0, 8);
      const length = d[8]! | (d[9]! << 8);
      const cmd = d[11]!;
      s.seenTx[i] = { addr: hex(addr), length, cmd, status: d[12]!, last: 'read' };
      const buf = length === 0 ? [] : this.readSpan(addr, length, 'data');
      if (buf === null) {
        s.txPartial = [];
        this.dmaError();
        break;
      }
      if (s.txPartial.length + buf.length > MAX_FRAME) {
        s.txPartial = [];
        s.totals.tooLong++;
      } else {
        for (const b of buf) s.txPartial.push(b);
      }
      if ((cmd & TX_CMD.EOP) !== 0 && s.txPartial.length > 0) {
        const frame = s.txPartial;
        s.txPartial = [];
        this.send(frame);
      } else if ((cmd & TX_CMD.EOP) !== 0) {
        s.txPartial = [];
      }
      if ((cmd & TX_CMD.RS) !== 0) {
        const status = (d[12]! | TX_STA.DD) & 0xff;
        if (this.writeSpan(at + 12n, [status], 'ring')) {
          s.seenTx[i] = { ...s.seenTx[i]!, status, last: 'written' };
          wroteBack = true;
        } else {
          this.dmaError();
        }
      }
      s.tdh = (i + 1) % count;
    }
    if (wroteBack) this.raise(ICR.TXDW);
  }

  private send(frame: number[]): void {
    const s = this.state;
    const loopback = ((s.rctl >>> 6) & 3) === 1;
    s.sent.push({ seq: s.sent.length, data: frame, loopback });
    s.totals.sent++;
    s.gptc = (s.gptc + 1) >>> 0;
    if (loopback) this.receive(Uint8Array.from(frame));
    else if (this.peer !== null) this.peer.receive(Uint8Array.from(frame));
  }

  // ---- receive ------------------------------------------------------------------------------------

  /** A frame arriving from the wire (the host, a peer, or loopback). */
  receive(frame: Uint8Array): RxResult {
    const s = this.state;
    if ((s.rctl & RCTL.EN) === 0) return 'rx-disabled';
    if (frame.length > MAX_FRAME) {
      s.totals.tooLong++;
      return 'too-long';
    }
    const drop = (why: RxResult): RxResult => {
      s.mpc = (s.mpc + 1) >>> 0;
      s.totals.dropped++;
      this.raise(ICR.RXO);
      return why;
    };
    const count = this.rxCount();
    const bsize = BSIZES[(s.rctl >>> RCTL.BSIZE_SHIFT) & 3]!;
    const need = Math.max(1, Math.ceil(frame.length / bsize));
    if (count === 0 || s.rdh >= count || s.rdt >= count) return drop('no-descriptor');
    const free = (s.rdt - s.rdh + count) % count;
    if (free < need) return drop('no-descriptor');
    if (!this.master()) return drop('bus-master-off');
    const base = (BigInt(s.rdbah) << 32n) | BigInt(s.rdbal);
    for (let k = 0; k < need; k++) {
      const i = (s.rdh + k) % count;
      const at = base + BigInt(i * DESC_SIZE);
      const d = this.readSpan(at, DESC_SIZE, 'ring');
      if (d === null) {
        s.totals.dropped++;
        this.dmaError();
        return 'dma-blocked';
      }
      const addr = le(d, 0, 8);
      s.seenRx[i] = { addr: hex(addr), length: d[8]! | (d[9]! << 8), cmd: 0, status: d[12]!, last: 'read' };
      const part = Array.from(frame.subarray(k * bsize, Math.min(frame.length, (k + 1) * bsize)));
      if (part.length > 0 && !this.writeSpan(addr, part, 'data')) {
        s.totals.dropped++;
        this.dmaError();
        return 'dma-blocked';
      }
      const last = k === need - 1;
      const status = RX_STA.DD | (last ? RX_STA.EOP : 0);
      // length, checksum, status, errors, special
      if (!this.writeSpan(at + 8n, [part.length & 0xff, part.length >> 8, 0, 0, status, 0, 0, 0], 'ring')) {
        s.totals.dropped++;
        this.dmaError();
        return 'dma-blocked';
      }
      s.seenRx[i] = { addr: hex(addr), length: part.length, cmd: 0, status, last: 'written' };
    }
    s.rdh = (s.rdh + need) % count;
    s.gprc = (s.gprc + 1) >>> 0;
    s.totals.received++;
    this.raise(ICR.RXT0);
    return 'received';
  }

  // ---- views and state ----------------------------------------------------------------------------

  /** Both rings slot by slot (owner by head and tail, the card's last copy of each descriptor). */
  ringView(): NicView {
    const s = this.state;
    const ring = (lo: number, hi: number, len: number, head: number, tail: number, enabled: boolean, seen: Record<number, SeenDescriptor>, tx: boolean): RingView => {
      const count = len / DESC_SIZE;
      const valid = head < count && tail < count;
      const slots: RingSlotView[] = [];
      for (let i = 0; i < count; i++) {
        const d = seen[i] ?? null;
        slots.push({
          index: i,
          owner: valid && deviceOwns(i, head, tail, count) ? 'device' : 'driver',
          seen: d === null ? null : { ...d },
          done: d !== null && (d.status & 1) !== 0,
          eop: d !== null && (tx ? (d.cmd & TX_CMD.EOP) !== 0 : (d.status & RX_STA.EOP) !== 0),
        });
      }
      return { base: hex((BigInt(hi) << 32n) | BigInt(lo)), count, head, tail, enabled, slots };
    };
    const mac = [s.ral0 & 0xff, (s.ral0 >>> 8) & 0xff, (s.ral0 >>> 16) & 0xff, s.ral0 >>> 24, s.rah0 & 0xff, (s.rah0 >>> 8) & 0xff];
    return {
      tx: ring(s.tdbal, s.tdbah, s.tdlen, s.tdh, s.tdt, (s.tctl & TCTL.EN) !== 0, s.seenTx, true),
      rx: ring(s.rdbal, s.rdbah, s.rdlen, s.rdh, s.rdt, (s.rctl & RCTL.EN) !== 0, s.seenRx, false),
      icr: s.icr,
      ims: s.ims,
      loopback: ((s.rctl >>> 6) & 3) === 1,
      mac: mac.map((b) => b.toString(16).padStart(2, '0')).join(':'),
      stats: { ...s.totals, missedNow: s.mpc },
    };
  }

  snapshot(): NicState {
    return JSON.parse(JSON.stringify(this.state)) as NicState;
  }

  restore(state: unknown): void {
    this.state = JSON.parse(JSON.stringify(state)) as NicState;
  }
}

/** `n` little-endian bytes of `b` from `at` as a bigint. */
function le(b: readonly number[], at: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]!);
  return v;
}
