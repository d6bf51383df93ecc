/**
 * The hypervisor's nested tables (EPT under VT-x, NPT under AMD-V): the guest-physical →
 * host-physical map the processor applies to every guest access, built by the hypervisor itself.
 *
 * Layout, one VM: guest-physical [0, gpaSize) is the guest's RAM and maps, at hpaBase, to the
 * host-physical [hpaBase, hpaBase + gpaSize); nothing else is mapped. A guest access anywhere
 * else is an EPT violation or a nested page fault, which the hypervisor treats as MMIO (the
 * addresses above the guest's RAM) or as an error. Several VMs can sit side by side in host RAM,
 * each with its own hpaBase and its own tables; the hypervisor's own structures (VMCB/VMCS,
 * bitmaps, host save area, host page tables, these tables) lie in host RAM outside every VM's
 * [hpaBase, hpaBase + gpaSize), so no guest-physical address reaches them.
 *
 * The tables: 4-level, write-back; gpaSize must be a multiple of 2 MiB, at most 4 GiB. The guest's
 * RAM is mapped either in 2-MByte pages (PML4 → PDPT → PD, the default: both EPT and NPT have them
 * on the lab's processor) or in 4-KByte pages (PML4 → PDPT → PD → PT, `pageSize` '4k', what a
 * textbook's 2D walk assumes: every nested walk then makes four references, 24 in a 4-on-4 walk).
 * The table area (`nestedTablesSize(gpaSize, pageSize)` bytes) holds the PML4, the PDPT, four PDs,
 * a pool of spare pages that `passThrough` uses to map single 4-KByte pages for one instruction,
 * and with 4-KByte pages one page table per 2 MiB of guest RAM after the pool.
 *
 * Entry formats: EPT (SDM Vol. 3C, 29.3.2): R, W, X in bits 0..2; a leaf's memory type in bits
 * 5:3 (WB = 6, UC = 0) and bit 7 for a 2-MByte page; no accessed/dirty flags (EPTP bit 6 clear).
 * NPT (APM Vol. 2, 15.25.5): ordinary long-mode entries (P, R/W, and U/S, which every level of a
 * nested walk needs because the walk's accesses are user accesses), PS in bit 7 for a 2-MByte page,
 * and PWT and PCD on MMIO pages so that they are uncached.
 */
import type { MmioHandler, PhysMem } from '../mem/physmem.ts';

export type NestedFormat = 'ept' | 'npt';
/** The nested pages that map the guest's RAM (`hypervisor.nestedPageSize`). */
export type NestedPageSize = '4k' | '2m';

/** Bytes of host RAM the nested tables of one VM need with 2-MByte nested pages (4-KByte aligned). */
export const NESTED_TABLES_SIZE = 16 * 0x1000;

/** Bytes of host RAM the nested tables need for `gpaSize` bytes of guest RAM in `pageSize` pages: with 4 KiB, a page table per 2 MiB more. */
export function nestedTablesSize(gpaSize: number, pageSize: NestedPageSize = '2m'): number {
  return NESTED_TABLES_SIZE + (pageSize === '4k' ? Math.ceil(gpaSize / 0x200000) * 0x1000 : 0);
}
/** Largest guest RAM one map covers (four page directories). */
export const NESTED_MAX_GPA_SIZE = 4 * 0x40000000;
const TWO_MIB = 0x200000;
const POOL_FIRST = 6;
/**
 * The last pages of the pool are `mapDirect`'s (an assigned device's BAR, mapped for good): a page
 * directory and a page table, at fixed places so that mapping again writes the same entries.
 */
const DIRECT_PAGES = 2;
const POOL_PAGES = NESTED_TABLES_SIZE / 0x1000 - POOL_FIRST - DIRECT_PAGES;
const DIRECT_PD = POOL_FIRST + POOL_PAGES;
const DIRECT_PT = DIRECT_PD + 1;

/**
 * Where `passThrough` maps the pages of one MMIO instruction: host-physical addresses at 1 TiB,
 * above any host RAM the lab builds (so they are MMIO for the host's PhysMem) and below
 * MAXPHYADDR. The host's MMIO handler is swapped for the instruction to one that turns these
 * addresses back into the guest-physical ones.
 */
export const MMIO_WINDOW_HPA = 0x100_0000_0000;

export interface NestedMap {
  readonly format: NestedFormat;
  /** Host-physical address of the PML4 (the EPTP's or N_CR3's table). */
  readonly root: number;
  readonly tableArea: number;
  /** Bytes of guest RAM at guest-physical 0. */
  readonly gpaSize: number;
  /** Where the guest's RAM starts in host-physical memory. */
  readonly hpaBase: number;
  /** The nested pages mapping the guest's RAM. */
  readonly pageSize: NestedPageSize;
}

const entry = (format: NestedFormat, kind: 'table' | 'large' | 'page' | 'mmio'): number => {
  // NPT: an MMIO page also sets PWT and PCD (bits 3 and 4): uncached, as EPT's memory type 0 is.
  if (format === 'npt') return kind === 'large' ? 0x87 : kind === 'mmio' ? 0x1f : 0x7;
  // EPT: RWX; leaves WB (6 << 3), a 2-MByte leaf with bit 7; the MMIO window uncached (UC = 0).
  if (kind === 'table' || kind === 'mmio') return 0x7;
  return kind === 'large' ? 0xb7 : 0x37;
};

function write64(mem: PhysMem, at: number, v: number): void {
  mem.write(at, 4, v % 0x100000000 >>> 0);
  mem.write(at + 4, 4, Math.floor(v / 0x100000000) >>> 0);
}

function read64(mem: PhysMem, at: number): number {
  return mem.read(at, 4) + mem.read(at + 4, 4) * 0x100000000;
}

/** The address bits (51:12) of an entry read as a number. */
const addrOf = (e: number): number => e - (e % 0x1000); // the hypervisor sets no bit above 51

/**
 * Builds the map of guest-physical [0, gpaSize) to host-physical [hpaBase, hpaBase + gpaSize) in
 * the table area (`nestedTablesSize(gpaSize, pageSize)` bytes at `tableArea`), which must lie
 * outside that range.
 */
export function buildNestedMap(mem: PhysMem, tableArea: number, gpaSize: number, hpaBase: number, format: NestedFormat, pageSize: NestedPageSize = '2m'): NestedMap {
  if (tableArea % 0x1000 !== 0) throw new RangeError(`nested table area ${tableArea} is not 4-KByte aligned`);
  if (gpaSize <= 0 || gpaSize % TWO_MIB !== 0 || gpaSize > NESTED_MAX_GPA_SIZE) throw new RangeError(`guest RAM of ${gpaSize} bytes: not a multiple of 2 MiB up to 4 GiB`);
  if (hpaBase % TWO_MIB !== 0) throw new RangeError(`hpaBase ${hpaBase} is not 2-MByte aligned`);
  const size = nestedTablesSize(gpaSize, pageSize);
  if (tableArea < hpaBase + gpaSize && tableArea + size > hpaBase) throw new RangeError('the nested tables would lie inside the guest\'s own RAM');
  for (let i = 0; i < size; i += 4) mem.write(tableArea + i, 4, 0);
  const pml4 = tableArea;
  const pdpt = tableArea + 0x1000;
  write64(mem, pml4, pdpt + entry(format, 'table'));
  const pds = gpaSize / 0x40000000;
  for (let g = 0; g < Math.ceil(pds); g++) write64(mem, pdpt + g * 8, tableArea + (2 + g) * 0x1000 + entry(format, 'table'));
  for (let i = 0; i < gpaSize / TWO_MIB; i++) {
    const pd = tableArea + (2 + Math.floor(i / 512)) * 0x1000;
    if (pageSize === '2m') {
      write64(mem, pd + (i % 512) * 8, hpaBase + i * TWO_MIB + entry(format, 'large'));
      continue;
    }
    // 4 KiB: the i-th 2 MiB of guest RAM gets its own page table, after the pass-through pool.
    const pt = tableArea + (POOL_FIRST + POOL_PAGES + DIRECT_PAGES + i) * 0x1000;
    write64(mem, pd + (i % 512) * 8, pt + entry(format, 'table'));
    for (let j = 0; j < 512; j++) write64(mem, pt + j * 8, hpaBase + i * TWO_MIB + j * 0x1000 + entry(format, 'page'));
  }
  return { format, root: pml4, tableArea, gpaSize, hpaBase, pageSize };
}

/** Whether a guest-physical address is the guest's RAM in this map. */
export function isGuestRam(map: NestedMap, gpa: number): boolean {
  return gpa >= 0 && gpa < map.gpaSize;
}

/** An MMIO access made while a page was passed through, at its guest-physical address. */
export interface MmioRecord {
  dir: 'read' | 'write';
  gpa: number;
  size: number;
  /** The value written (low 32 bits; `valueHi` the high ones), or the value the handler returned. */
  value: number;
  valueHi: number;
}

/**
 * The host's MMIO handler while guest-physical `pages` are mapped to the MMIO window at `base`
 * (page n of the window is `pages[n]`): each access goes to `handler` at its guest-physical address
 * and is recorded in `records`; a host-physical access outside the window (an assigned device's
 * BAR that the nested tables map directly) goes to `outside`, the host's own handler. Used by nested paging's pass-through (below) and by the shadow
 * MMU's (shadow.ts), each with a window of its own.
 */
export function windowHandler(base: number, pages: readonly number[], handler: MmioHandler, records: MmioRecord[], outside?: MmioHandler): MmioHandler {
  const gpaOf = (hpa: number): number | null => {
    const i = Math.floor((hpa - base) / 0x1000);
    return i < 0 || i >= pages.length ? null : pages[i]! + ((hpa - base) % 0x1000);
  };
  const w: MmioHandler = {
    readHi: 0xffffffff,
    read(pa, size) {
      const gpa = gpaOf(pa);
      if (gpa === null && outside !== undefined) {
        // Host MMIO outside the window (an assigned device's BAR the nested tables map directly,
        // reached by the same instruction): the host's own handler answers, nothing is recorded.
        const v = outside.read(pa, size) >>> 0;
        w.readHi = size > 4 ? (outside.readHi ?? 0xffffffff) >>> 0 : 0;
        return v;
      }
      const at = gpa ?? pa;
      const v = handler.read(at, size) >>> 0;
      const hi = size > 4 ? (handler.readHi ?? 0xffffffff) >>> 0 : 0;
      w.readHi = hi;
      records.push({ dir: 'read', gpa: at, size, value: v, valueHi: hi });
      return v;
    },
    write(pa, size, value, valueHi) {
      const gpa = gpaOf(pa);
      if (gpa === null && outside !== undefined) {
        outside.write(pa, size, value, valueHi);
        return;
      }
      const at = gpa ?? pa;
      records.push({ dir: 'write', gpa: at, size, value: value >>> 0, valueHi: size > 4 ? valueHi >>> 0 : 0 });
      handler.write(at, size, value, valueHi);
    },
  };
  return w;
}

/**
 * Runs `run` with the guest-physical pages `gpaPages` (each outside the guest's RAM) mapped for
 * read, write and execute to the MMIO window, and the host's MMIO handler replaced by one that
 * gives each access to `handler` at its guest-physical address (recorded in `records`). Afterwards
 * every entry it wrote is restored, the host's handler put back and the TLB flushed by `flush`
 * (the processor may have cached the window's translation for the guest).
 */
export function passThrough<T>(
  mem: PhysMem, map: NestedMap, gpaPages: readonly number[], handler: MmioHandler, records: MmioRecord[], flush: () => void, run: () => T,
): T {
  const undo: [number, number][] = [];
  let pool = POOL_FIRST;
  const set = (at: number, v: number): void => {
    undo.push([at, read64(mem, at)]);
    write64(mem, at, v);
  };
  for (const [n, page] of gpaPages.entries()) {
    if (page % 0x1000 !== 0 || isGuestRam(map, page)) throw new RangeError(`pass-through of guest-physical 0x${page.toString(16)}: not an MMIO page`);
    let table = map.root;
    for (const shift of [39, 30, 21]) {
      const at = table + (Math.floor(page / 2 ** shift) % 512) * 8;
      const e = read64(mem, at);
      if ((e & 0x7) === 0) {
        if (pool >= POOL_FIRST + POOL_PAGES) throw new Error('nested tables: the pass-through pool is exhausted');
        const fresh = map.tableArea + pool++ * 0x1000;
        for (let i = 0; i < 0x1000; i += 4) mem.write(fresh + i, 4, 0);
        set(at, fresh + entry(map.format, 'table'));
        table = fresh;
      } else {
        if ((e & 0x80) !== 0) throw new Error(`nested tables: guest-physical 0x${page.toString(16)} lies in a large page`);
        table = addrOf(e);
      }
    }
    set(table + (Math.floor(page / 0x1000) % 512) * 8, MMIO_WINDOW_HPA + n * 0x1000 + entry(map.format, 'mmio'));
  }
  const saved = mem.mmio;
  const wrapper = windowHandler(MMIO_WINDOW_HPA, gpaPages, handler, records, saved);
  mem.mmio = wrapper;
  try {
    return run();
  } finally {
    mem.mmio = saved;
    for (let i = undo.length - 1; i >= 0; i--) write64(mem, undo[i]![0], undo[i]![1]);
    flush();
  }
}

/**
 * Maps guest-physical [gpa, gpa + size) to host-physical [hpa, hpa + size) in 4-KByte pages for
 * read, write and execute, uncached under EPT (an assigned device's memory BAR: the guest's
 * accesses then reach the device without an exit), or unmaps that range (`hpa` null). The range
 * must lie outside the guest's RAM, within one 2-MByte region, and at most one such range is
 * mapped at a time (its page directory and page table are the pool's last two pages, which
 * `passThrough` never takes). The caller invalidates what the processor may have cached (the
 * backends' `mapMmio`).
 */
export function mapDirect(mem: PhysMem, map: NestedMap, gpa: number, size: number, hpa: number | null): void {
  const problem = directMapProblem(map.gpaSize, gpa, size);
  if (problem !== null) throw new RangeError(`direct map at 0x${gpa.toString(16)}: ${problem}`);
  if (hpa !== null && hpa % 0x1000 !== 0) throw new RangeError(`direct map to 0x${hpa.toString(16)}: not 4-KByte aligned`);
  const pd = map.tableArea + DIRECT_PD * 0x1000;
  const pt = map.tableArea + DIRECT_PT * 0x1000;
  // PML4 → PDPT: the map's own PDPT covers 512 GiB; a PDPT entry the RAM does not use gets the direct PD.
  const pdptAt = map.root + 0x1000 + (Math.floor(gpa / 2 ** 30) % 512) * 8;
  const pdpte = read64(mem, pdptAt);
  if (hpa === null && (pdpte & 0x7) === 0) return; // nothing mapped there
  let pdTable: number;
  if ((pdpte & 0x7) !== 0) {
    pdTable = addrOf(pdpte);
  } else {
    for (let i = 0; i < 0x1000; i += 4) mem.write(pd + i, 4, 0);
    write64(mem, pdptAt, pd + entry(map.format, 'table'));
    pdTable = pd;
  }
  const pdeAt = pdTable + (Math.floor(gpa / TWO_MIB) % 512) * 8;
  const pde = read64(mem, pdeAt);
  if ((pde & 0x80) !== 0) throw new Error(`nested tables: guest-physical 0x${gpa.toString(16)} lies in a large page`);
  if (hpa === null) {
    if ((pde & 0x7) === 0 || addrOf(pde) !== pt) return;
  } else if (addrOf(pde) !== pt || (pde & 0x7) === 0) {
    for (let i = 0; i < 0x1000; i += 4) mem.write(pt + i, 4, 0);
    write64(mem, pdeAt, pt + entry(map.format, 'table'));
  }
  for (let off = 0; off < size; off += 0x1000) {
    const at = pt + (Math.floor((gpa + off) / 0x1000) % 512) * 8;
    write64(mem, at, hpa === null ? 0 : hpa + off + entry(map.format, 'mmio'));
  }
  if (hpa !== null) return;
  // Unmapped: a table left empty is unlinked, so that mapping elsewhere later (the page table and
  // the directory are reused) leaves no second way to them.
  const empty = (t: number): boolean => {
    for (let i = 0; i < 0x1000; i += 4) if (mem.read(t + i, 4) !== 0) return false;
    return true;
  };
  if (!empty(pt)) return;
  write64(mem, pdeAt, 0);
  if (pdTable === pd && empty(pd)) write64(mem, pdptAt, 0);
}

/**
 * Why `mapDirect` cannot map [gpa, gpa + size) for a guest with `gpaSize` bytes of RAM (null: it
 * can): not whole 4-KByte pages, inside the guest's RAM, across a 2-MByte boundary, above 512 GiB.
 */
export function directMapProblem(gpaSize: number, gpa: number, size: number): string | null {
  if (gpa % 0x1000 !== 0 || size <= 0 || size % 0x1000 !== 0) return `${size} bytes: not whole 4-KByte pages`;
  if (gpa < gpaSize) return "inside the guest's RAM";
  if (Math.floor(gpa / TWO_MIB) !== Math.floor((gpa + size - 1) / TWO_MIB)) return `${size} bytes cross a 2-MByte boundary`;
  if (gpa + size > 2 ** 39) return 'above 512 GiB';
  return null;
}
