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
 * State is plain data (configuration bytes per function, CONFIG_ADDRESS, the devices' own state,
 * append-only logs): `snapshot` / `restore`, JSON-safe. What BARs decode is derived from it.
 *
 * Not modelled: PCI-to-PCI bridges and other buses, PCIe extended configuration space (0x100 up)
 * and ECAM, the host bridge's own function at 00:00.0, INTx routing (the pin is reported, nothing
 * drives it), expansion ROM BARs, power management, parity and error reporting (no status error bit
 * is ever set), configuration mechanism #2.
 */
import type { MmioHandler, PhysMem } from '../mem/physmem.ts';
import { doDma, PassThroughRemapper, requesterId, type DmaOutcome, type DmaRemapper, type TableRef } from '../iommu/types.ts';
import type { DecodedPorts, PortBus, PortDecoder, PortDevice } from './bus.ts';
import { decodeMsi, MSI_CAP_ID, MSI_REG, type MsiMessage, type MsiSink } from './msi.ts';

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

/** One remapping-structure entry a request read (iommu/types.ts TableRef), JSON-safe. */
export interface DmaLogRef {
  kind: TableRef['kind'];
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
  | { vendor: 'vtd'; sid: number; pageAddress: string; type: 0 | 1; reason: number }
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
  private readonly fns = new Map<number, Fn>();
  private memWindows: Window[] = [];
  private ioWindows: Window[] = [];
  private readonly fallback: MmioHandler;
  private readHi = 0xffffffff;
  /** The bus's memory-BAR decoder as an MMIO handler (what takes over PhysMem's, when it does). */
  readonly mmioHandler: MmioHandler;

  constructor(opts: PciBusOptions) {
    this.mem = opts.mem;
    this.remapper = opts.remapper ?? new PassThroughRemapper();
    this.msiSink = opts.msiSink ?? null;
    const claim = opts.claimMmio ?? true;
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
    const spec = model.spec;
    checkSpec(spec);
    const config = new Array<number>(256).fill(0);
    const mask = new Uint8Array(256);
    const put = (off: number, size: number, v: number) => {
      for (let i = 0; i < size; i++) config[off + i] = (v >>> (8 * i)) & 0xff;
    };
    put(CFG.VENDOR_ID, 2, spec.vendorId);
    put(CFG.DEVICE_ID, 2, spec.deviceId);
    put(CFG.REVISION, 1, spec.revision);
    put(CFG.CLASS_CODE, 3, spec.classCode);
    put(CFG.SUBSYS_VENDOR_ID, 2, spec.subsystemVendorId ?? 0);
    put(CFG.SUBSYS_ID, 2, spec.subsystemId ?? 0);
    put(CFG.INTERRUPT_PIN, 1, spec.interruptPin);
    mask[CFG.COMMAND] = spec.commandBits & 0xff;
    mask[CFG.COMMAND + 1] = (spec.commandBits >> 8) & 0xff;
    mask[CFG.INTERRUPT_LINE] = 0xff;
    spec.bars.forEach((b, i) => {
      if (b !== null) put(CFG.BAR0 + 4 * i, 4, typeBits(b));
    });
    const caps = new Map<number, number>();
    let at = CAP_START;
    let prevNext = CFG.CAP_PTR;
    for (const c of spec.capabilities ?? []) {
      if (c.length % 4 !== 0 || at + c.length > 0x100) throw new RangeError(`capability 0x${c.id.toString(16)} does not fit`);
      config[prevNext] = at;
      config[at] = c.id;
      c.init.forEach((v, k) => (config[at + 2 + k] = v & 0xff));
      c.writable.forEach((v, k) => (mask[at + 2 + k] = v & 0xff));
      caps.set(c.id, at);
      prevNext = at + 1;
      at += c.length;
    }
    if (caps.size > 0) put(CFG.STATUS, 2, STATUS_CAP_LIST);
    const f: Fn = { devfn, model, config, mask, caps };
    this.fns.set(devfn, f);
    this.setMultiFunctionBits();
    model.connect(this.portFor(f));
    this.decodeWindows();
  }

  /** The model at 00:device.fn, or null. */
  function(device: number, fn: number): PciFunctionModel | null {
    return this.fns.get((device << 3) | fn)?.model ?? null;
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

  /** Reads configuration bytes of 00:device.fn directly (as CONFIG_DATA would); all ones if absent. */
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
    for (let i = 0; i < size; i++) v |= f.config[(offset + i) & 0xff]! << (8 * i);
    return v >>> 0;
  }

  private writeConfig(f: Fn, offset: number, size: number, value: number): void {
    const touched = new Set<number>();
    for (let i = 0; i < size; i++) {
      const off = (offset + i) & 0xff;
      const byte = (value >>> (8 * i)) & 0xff;
      if (off >= CFG.BAR0 && off < CFG.BAR0 + 24) {
        const bar = (off - CFG.BAR0) >> 2;
        f.config[off] = byte;
        touched.add(bar);
        continue;
      }
      const m = f.mask[off]!;
      f.config[off] = (f.config[off]! & ~m) | (byte & m);
    }
    // A BAR keeps only its address bits above its size and its type bits (6.2.5.1).
    for (const bar of touched) this.fixBar(f, bar);
    this.decodeWindows();
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
      if ((f.devfn & 7) !== 0) continue;
      let multi = false;
      for (const g of this.fns.keys()) if (g >> 3 === f.devfn >> 3 && g !== f.devfn) multi = true;
      f.config[CFG.HEADER_TYPE] = multi ? HEADER_MULTI_FUNCTION : 0;
    }
  }

  // ---- BAR decoding -------------------------------------------------------------------------------

  /** Recomputes which BARs decode, from the command registers and BAR values. */
  private decodeWindows(): void {
    const mem: Window[] = [];
    const io: Window[] = [];
    for (const f of [...this.fns.values()].sort((a, b) => a.devfn - b.devfn)) {
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

  private mmioRead(pa: number, size: number): number {
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
    entry.refs = o.refs.map((x) => ({ kind: x.kind, level: x.level, index: x.index, pa: x.pa, raw: `0x${x.raw.toString(16)}`, decision: x.decision }));
    if (o.ok) {
      entry.ok = true;
      entry.hpa = o.hpa;
      entry.domainId = o.domainId;
      entry.iotlbHit = o.iotlbHit;
    } else {
      const d = o.fault;
      if (d.vendor === 'vtd') entry.record = { vendor: 'vtd', sid: d.record.sid, pageAddress: `0x${d.record.pageAddress.toString(16)}`, type: d.record.type, reason: d.record.reason };
      else if (d.vendor === 'amd-vi') entry.record = { vendor: 'amd-vi', code: d.event.code, deviceId: d.event.deviceId, domainId: d.event.domainId, flags: d.event.flags, address: `0x${d.event.address.toString(16)}`, dwords: [...d.event.dwords] };
      entry.fault = d.vendor === 'vtd' ? { vendor: 'vtd', reason: d.reason, recorded: d.recorded } : d.vendor === 'amd-vi' ? { vendor: 'amd-vi', code: d.code, logged: d.logged } : { vendor: 'hv', reason: 'not-guest-ram' };
    }
    this.onDma?.(entry);
    return r;
  }

  /**
   * Sends the function's MSI message if its MSI capability is enabled and bus mastering is on
   * (PCI 3.0, 6.8.1.3 and 6.8.1.6): a dword memory write of the message data to the message
   * address. A write to 0xFEEx_xxxx is an interrupt message for the processors (SDM Vol. 3A,
   * 11.11.1): it is decoded, logged and given to the MSI sink; it is not DMA to memory and does not
   * pass the DMA remapper (VT-d handles that range with interrupt remapping, not modelled here).
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
    if (hi === 0 && lo >>> 20 === 0xfee) {
      const msg = decodeMsi(this.msiLog.length, f.model.name, f.devfn, lo, data);
      if (this.msiSink !== null) {
        const why = this.msiSink.deliver(msg);
        msg.delivered = why === null;
        msg.notDelivered = why;
      } else {
        msg.notDelivered = 'no interrupt sink';
      }
      this.msiLog.push(msg);
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
      functions: [...this.fns.values()].map((f) => ({ devfn: f.devfn, config: f.config.slice(), device: f.model.snapshot() })),
      dmaLog: this.dmaLog,
      dmaLogLength: this.dmaLog.length,
      msiLog: this.msiLog,
      msiLogLength: this.msiLog.length,
    };
  }

  /** Back to `snap` (taken of a bus with the same functions at the same places). */
  restore(snap: PciBusSnapshot): void {
    this.configAddress = snap.configAddress >>> 0;
    if (snap.functions.length !== this.fns.size) throw new Error('the snapshot is of a bus with other functions');
    for (const s of snap.functions) {
      const f = this.fns.get(s.devfn);
      if (f === undefined || s.config.length !== 256) throw new Error(`the snapshot has no function at devfn ${s.devfn} here`);
      f.config = s.config.slice();
      f.model.restore(s.device);
    }
    this.dmaLog = snap.dmaLog.slice(0, snap.dmaLogLength).map((e) => ({ ...e }));
    this.msiLog = snap.msiLog.slice(0, snap.msiLogLength).map((m) => ({ ...m }));
    this.decodeWindows();
  }
}

function typeBits(b: BarSpec): number {
  if (b.kind === 'io') return 0x1;
  return (b.kind === 'mem64' ? 0x4 : 0) | (b.prefetchable === true ? 0x8 : 0);
}
