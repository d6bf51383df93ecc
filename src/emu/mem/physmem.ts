/**
 * Guest physical memory: RAM in 4 KiB pages allocated on first write (a sparse 4 GiB guest costs
 * only what it touches; later work shares untouched pages between checkpoints), and everything
 * at or above the RAM size unbacked: such accesses go to an MMIO handler (reads see all ones when
 * nothing answers).
 *
 * Physical addresses are plain numbers: they are at most 52 bits wide (MAXPHYADDR), well inside
 * the 2^53 a double holds exactly.
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_SIZE - 1;

/** Receives accesses to unbacked physical addresses. `size` is 1, 2, 4 or 8 bytes. */
export interface MmioHandler {
  /** Returns the low 32 bits of the value read (bytes 4..7 of an 8-byte read come from readHi). */
  read(pa: number, size: number): number;
  write(pa: number, size: number, value: number, valueHi: number): void;
}

/** Reads of unbacked addresses return all ones and writes vanish. */
export const openBus: MmioHandler = {
  read: (_pa, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1),
  write: () => {},
};

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

export class PhysMem {
  /** Bytes of RAM starting at physical address 0; a multiple of 4 KiB. */
  readonly ramSize: number;
  /** One slot a RAM page; `undefined` until the page is first written (reads see zeros). */
  pages: (Uint8Array | undefined)[];
  mmio: MmioHandler;

  constructor(ramSize: number, mmio: MmioHandler = openBus) {
    if (ramSize % PAGE_SIZE !== 0 || ramSize < 0) throw new RangeError(`RAM size ${ramSize} is not a multiple of 4 KiB`);
    this.ramSize = ramSize;
    this.pages = new Array<Uint8Array | undefined>(ramSize / PAGE_SIZE).fill(undefined);
    this.mmio = mmio;
  }

  isRam(pa: number): boolean {
    return pa >= 0 && pa < this.ramSize;
  }

  /** The page holding `pa` for reading (a shared zero page if never written); undefined if unbacked. */
  pageForRead(pa: number): Uint8Array | undefined {
    if (pa >= this.ramSize || pa < 0) return undefined;
    return this.pages[Math.floor(pa / PAGE_SIZE)] ?? ZERO_PAGE;
  }

  /** The page holding `pa` for writing, allocated if needed; undefined if unbacked. */
  pageForWrite(pa: number): Uint8Array | undefined {
    if (pa >= this.ramSize || pa < 0) return undefined;
    const n = Math.floor(pa / PAGE_SIZE);
    let p = this.pages[n];
    if (p === undefined) {
      p = new Uint8Array(PAGE_SIZE);
      this.pages[n] = p;
    }
    return p;
  }

  read8(pa: number): number {
    const p = this.pageForRead(pa);
    return p === undefined ? this.mmio.read(pa, 1) & 0xff : p[pa & PAGE_MASK]!;
  }

  write8(pa: number, v: number): void {
    const p = this.pageForWrite(pa);
    if (p === undefined) this.mmio.write(pa, 1, v & 0xff, 0);
    else p[pa & PAGE_MASK] = v;
  }

  /**
   * Reads `size` (1, 2 or 4) bytes little-endian, unsigned. An access that crosses a 4 KiB
   * boundary is split there, each part going to RAM or MMIO on its own.
   */
  read(pa: number, size: number): number {
    const off = pa & PAGE_MASK;
    if (off + size <= PAGE_SIZE) {
      const p = this.pageForRead(pa);
      if (p === undefined) {
        const v = this.mmio.read(pa, size);
        return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
      }
      if (size === 1) return p[off]!;
      if (size === 2) return p[off]! | (p[off + 1]! << 8);
      return (p[off]! | (p[off + 1]! << 8) | (p[off + 2]! << 16) | (p[off + 3]! << 24)) >>> 0;
    }
    const first = PAGE_SIZE - off;
    const lo = this.read(pa, first);
    const hi = this.read(pa + first, size - first);
    return (lo + hi * 2 ** (first * 8)) >>> 0;
  }

  write(pa: number, size: number, v: number): void {
    const off = pa & PAGE_MASK;
    if (off + size <= PAGE_SIZE) {
      const p = this.pageForWrite(pa);
      if (p === undefined) {
        this.mmio.write(pa, size, size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1), 0);
        return;
      }
      p[off] = v;
      if (size >= 2) p[off + 1] = v >>> 8;
      if (size === 4) {
        p[off + 2] = v >>> 16;
        p[off + 3] = v >>> 24;
      }
      return;
    }
    const first = PAGE_SIZE - off;
    this.write(pa, first, v & (2 ** (first * 8) - 1));
    this.write(pa + first, size - first, Math.floor((v >>> 0) / 2 ** (first * 8)));
  }

  /** Copies bytes into physical memory (RAM only; bytes beyond RAM are an error). */
  load(pa: number, bytes: Uint8Array): void {
    if (pa < 0 || pa + bytes.length > this.ramSize) throw new RangeError(`load at ${pa} of ${bytes.length} bytes leaves RAM`);
    for (let i = 0; i < bytes.length; i++) this.write8(pa + i, bytes[i]!);
  }

  /** Reads a 64-bit little-endian entry (a paging-structure entry) as [lo, hi] 32-bit halves. */
  read64(pa: number, out: Uint32Array): void {
    out[0] = this.read(pa, 4);
    out[1] = this.read(pa + 4, 4);
  }
}
