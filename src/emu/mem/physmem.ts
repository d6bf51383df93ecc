/**
 * Guest physical memory: RAM in 4 KiB pages allocated on first write (a sparse 4 GiB guest costs
 * only what it touches), and everything at or above the RAM size unbacked: such accesses go to an
 * MMIO handler (reads see all ones when nothing answers).
 *
 * Pages are copy-on-write between checkpoints: `snapshot()` hands out the current page references
 * and marks those pages shared; the first write to a shared page afterwards copies that page
 * (one 4 KiB copy), so a checkpoint costs its table of references plus the pages written since.
 * Every RAM write goes through `pageForWrite` or, on the CPU's fast path, through `noteWrite`
 * whenever `watch[n]` is non-zero: a shared page keeps its `watch` byte non-zero until copied.
 *
 * Physical addresses are plain numbers: they are at most 52 bits wide (MAXPHYADDR), well inside
 * the 2^53 a double holds exactly.
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_SIZE - 1;

/** Receives accesses to unbacked physical addresses. `size` is 1, 2, 4 or 8 bytes. */
export interface MmioHandler {
  /**
   * Returns the low 32 bits of the value read. `size` is 1..8; for more than 4 bytes the
   * handler leaves bytes 4..7 in `readHi` (all ones if it has no such field).
   */
  read(pa: number, size: number): number;
  /** `value` holds bytes 0..3, `valueHi` bytes 4..7 of an access wider than 4 bytes. */
  write(pa: number, size: number, value: number, valueHi: number): void;
  readHi?: number;
}

/** Reads of unbacked addresses return all ones and writes vanish. */
export const openBus: MmioHandler = {
  read: (_pa, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1),
  write: () => {},
};

/** `PhysMem.watch` bits. */
export const WATCH_CODE = 1;
export const WATCH_SHARED = 2;

/** RAM at a checkpoint: the numbers of the allocated pages and the (shared) page objects. */
export interface MemSnapshot {
  readonly index: Int32Array;
  readonly pages: readonly Uint8Array[];
}

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
const SCRATCH = new Uint8Array(8);

function splitBytes(lo: number, hi: number, n: number, out: Uint8Array, at: number): void {
  for (let i = 0; i < n; i++) out[at + i] = i < 4 ? lo >>> (i * 8) : hi >>> ((i - 4) * 8);
}

export class PhysMem {
  /** Bytes of RAM starting at physical address 0; a multiple of 4 KiB. */
  readonly ramSize: number;
  /** One slot a RAM page; `undefined` until the page is first written (reads see zeros). */
  pages: (Uint8Array | undefined)[];
  mmio: MmioHandler;
  /** High half of the last `readWide` of more than 4 bytes. */
  hiOut = 0;
  /**
   * Pages watched for writes (one byte per RAM page, non-zero = watched). Bit 0 (WATCH_CODE): the
   * CPU holds decoded instructions from the page, and a write to it calls `onWatchedWrite` with the
   * page number. Bit 1 (WATCH_SHARED): the page is shared with a checkpoint and is copied before
   * the write. Writers call `noteWrite` BEFORE the store and fetch `pages[n]` after it.
   */
  watch: Uint8Array;
  onWatchedWrite: ((page: number) => void) | null = null;
  /** One byte per RAM page: non-zero while the page object is also referenced by a checkpoint. */
  private shared: Uint8Array;
  /** Numbers of the allocated pages, in allocation order (a checkpoint lists only these). */
  private allocated: number[] = [];
  /** Pages copied on write since construction (for the time-travel figures). */
  cowCopies = 0;

  constructor(ramSize: number, mmio: MmioHandler = openBus) {
    if (ramSize % PAGE_SIZE !== 0 || ramSize < 0) throw new RangeError(`RAM size ${ramSize} is not a multiple of 4 KiB`);
    this.ramSize = ramSize;
    this.pages = new Array<Uint8Array | undefined>(ramSize / PAGE_SIZE).fill(undefined);
    this.mmio = mmio;
    this.watch = new Uint8Array(ramSize / PAGE_SIZE);
    this.shared = new Uint8Array(ramSize / PAGE_SIZE);
  }

  /** Notes a write to RAM page `n`; call it before the store and read `pages[n]` after (see `watch`). */
  noteWrite(n: number): void {
    const w = this.watch[n]!;
    if (this.shared[n] !== 0) {
      this.shared[n] = 0;
      const p = this.pages[n];
      if (p !== undefined) {
        this.pages[n] = p.slice();
        this.cowCopies++;
      }
      this.watch[n] = w & WATCH_CODE;
    }
    if ((w & WATCH_CODE) !== 0 && this.onWatchedWrite !== null) this.onWatchedWrite(n);
  }

  /** Clears every code watch, keeping the copy-on-write marks (the CPU dropped its decoded code). */
  unwatchCode(): void {
    const w = this.watch;
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) w[i] = w[i]! & WATCH_SHARED;
  }

  /**
   * The allocated pages as a checkpoint: their numbers and the page objects themselves, which from
   * now on are shared (the next write to each copies it first). Costs no page copy.
   */
  snapshot(): MemSnapshot {
    const list = this.allocated;
    const index = new Int32Array(list.length);
    const pages: Uint8Array[] = new Array<Uint8Array>(list.length);
    for (let i = 0; i < list.length; i++) {
      const n = list[i]!;
      index[i] = n;
      pages[i] = this.pages[n]!;
      this.shared[n] = 1;
      this.watch[n] = this.watch[n]! | WATCH_SHARED;
    }
    return { index, pages };
  }

  /**
   * Makes RAM what it was at `snap`: its page objects come back shared (copied on the next
   * write), pages allocated since become unallocated. Code watches are cleared: the CPU must drop
   * its decoded code (Cpu.dropCaches).
   */
  restore(snap: MemSnapshot): void {
    const pages = this.pages;
    for (const n of this.allocated) pages[n] = undefined;
    this.shared.fill(0);
    this.watch.fill(0);
    const list: number[] = new Array<number>(snap.index.length);
    for (let i = 0; i < snap.index.length; i++) {
      const n = snap.index[i]!;
      list[i] = n;
      pages[n] = snap.pages[i]!;
      this.shared[n] = 1;
      this.watch[n] = WATCH_SHARED;
    }
    this.allocated = list;
  }

  /** Number of allocated RAM pages. */
  allocatedPages(): number {
    return this.allocated.length;
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
    if (this.watch[n] !== 0) this.noteWrite(n);
    let p = this.pages[n];
    if (p === undefined) {
      p = new Uint8Array(PAGE_SIZE);
      this.pages[n] = p;
      this.allocated.push(n);
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

  /**
   * Reads 1..8 bytes little-endian as ONE access per page part: the low 32 bits are returned,
   * bytes 4..7 are left in `hiOut`. An MMIO part of up to 8 bytes is one handler call.
   */
  readWide(pa: number, size: number): number {
    const off = pa & PAGE_MASK;
    if (off + size <= PAGE_SIZE) {
      if (size <= 4) {
        this.hiOut = 0;
        return this.read(pa, size);
      }
      const p = this.pageForRead(pa);
      if (p === undefined) {
        const lo = this.mmio.read(pa, size) >>> 0;
        const rh = this.mmio.readHi;
        const hi = rh === undefined ? 0xffffffff : rh >>> 0;
        this.hiOut = size === 8 ? hi : hi & ((1 << ((size - 4) * 8)) - 1);
        return lo;
      }
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < 4; i++) lo |= p[off + i]! << (i * 8);
      for (let i = 4; i < size; i++) hi |= p[off + i]! << ((i - 4) * 8);
      this.hiOut = hi >>> 0;
      return lo >>> 0;
    }
    const first = PAGE_SIZE - off;
    const bytes = SCRATCH;
    splitBytes(this.readWide(pa, first), this.hiOut, first, bytes, 0);
    splitBytes(this.readWide(pa + first, size - first), this.hiOut, size - first, bytes, first);
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < size; i++) {
      if (i < 4) lo |= bytes[i]! << (i * 8);
      else hi |= bytes[i]! << ((i - 4) * 8);
    }
    this.hiOut = hi >>> 0;
    return lo >>> 0;
  }

  /** Writes 1..8 bytes (`lo` bytes 0..3, `hi` bytes 4..7) as one access per page part. */
  writeWide(pa: number, size: number, lo: number, hi: number): void {
    const off = pa & PAGE_MASK;
    if (off + size <= PAGE_SIZE) {
      if (size <= 4) {
        this.write(pa, size, lo);
        return;
      }
      const p = this.pageForWrite(pa);
      if (p === undefined) {
        this.mmio.write(pa, size, lo >>> 0, size === 8 ? hi >>> 0 : hi & ((1 << ((size - 4) * 8)) - 1));
        return;
      }
      for (let i = 0; i < 4; i++) p[off + i] = lo >>> (i * 8);
      for (let i = 4; i < size; i++) p[off + i] = hi >>> ((i - 4) * 8);
      return;
    }
    const first = PAGE_SIZE - off;
    const bytes = new Uint8Array(8);
    splitBytes(lo, hi, size, bytes, 0);
    const part = (from: number, n: number): [number, number] => {
      let l = 0;
      let h = 0;
      for (let i = 0; i < n; i++) {
        if (i < 4) l |= bytes[from + i]! << (i * 8);
        else h |= bytes[from + i]! << ((i - 4) * 8);
      }
      return [l >>> 0, h >>> 0];
    };
    const [l1, h1] = part(0, first);
    this.writeWide(pa, first, l1, h1);
    const [l2, h2] = part(first, size - first);
    this.writeWide(pa + first, size - first, l2, h2);
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
