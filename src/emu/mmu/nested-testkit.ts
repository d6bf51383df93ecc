/**
 * For tests only: a small builder of 4-level/5-level paging structures (ordinary, NPT or EPT: the
 * layout of the levels is the same, only the flag bits differ) in a PhysMem. Tables can live in
 * a guest-physical space mapped at `toHost` (the guest's own tables in a 2D walk).
 */
import { PhysMem } from '../mem/physmem.ts';

const TWO32 = 4294967296;

export class TableBuilder {
  private next: number;
  constructor(
    readonly mem: PhysMem,
    firstFree: number,
    /** Where a table address (as entries hold it) lives in `mem`. */
    readonly toHost: (a: number) => number = (a) => a,
  ) {
    this.next = firstFree;
  }

  /** A new, zeroed 4 KiB table; its address as entries hold it. */
  alloc(): number {
    const a = this.next;
    this.next += 0x1000;
    return a;
  }

  read(a: number): { lo: number; hi: number } {
    const h = this.toHost(a);
    return { lo: this.mem.read(h, 4) >>> 0, hi: this.mem.read(h + 4, 4) >>> 0 };
  }

  set(a: number, lo: number, hi = 0): void {
    const h = this.toHost(a);
    this.mem.write(h, 4, lo >>> 0);
    this.mem.write(h + 4, 4, hi >>> 0);
  }

  /**
   * Maps `va` → `pa` in the hierarchy at `root` with `levels` levels (4 or 5), the leaf at the
   * level whose entries cover 2^`pageShift` bytes (12, 21 or 30). Missing tables are allocated
   * and referenced with `tableLo`; the leaf gets `leafLo`/`leafHi` (the caller adds PS for a large
   * page). Returns the address of the leaf entry.
   */
  map(root: number, levels: 4 | 5, va: number, pa: number, pageShift: 12 | 21 | 30, tableLo: number, leafLo: number, leafHi = 0): number {
    let table = root;
    for (let shift = levels === 5 ? 48 : 39; ; shift -= 9) {
      const entry = table + (Math.floor(va / 2 ** shift) % 512) * 8;
      if (shift === pageShift) {
        this.set(entry, ((pa % TWO32) | leafLo) >>> 0, (Math.floor(pa / TWO32) | leafHi) >>> 0);
        return entry;
      }
      const e = this.read(entry);
      if (e.lo === 0 && e.hi === 0) {
        const t = this.alloc();
        this.set(entry, (t | tableLo) >>> 0, 0);
        table = t;
      } else {
        table = ((e.lo & 0xfffff000) >>> 0) + (e.hi & 0xfffff) * TWO32;
      }
    }
  }
}
