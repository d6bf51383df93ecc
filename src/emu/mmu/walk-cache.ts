/**
 * The two translation caches that shorten a two-dimensional walk (mmu/nested.ts `translate2D`),
 * both off unless a caller passes them, each with hit and miss counters and `flush()`:
 *
 * - **Page-walk cache** (`PageWalkCache`): upper-level guest paging-structure entries (those that
 *   reference another guest table, never the entry that maps the page), keyed by the entry's
 *   guest-physical address, as AMD's page walk cache is tagged by the entry's address (Bhargava et
 *   al., "Accelerating Two-Dimensional Page Walks for Virtualized Systems", ASPLOS 2008, which
 *   extends it to the 2D walk). A hit hands the walk the entry's value without the nested walk of
 *   its guest-physical address and without the read of the entry: m + 1 references saved on an
 *   m-level nested table. Only entries whose accessed flag is already 1 are filled, so a hit never
 *   owes the entry an A write. Intel's paging-structure caches (SDM Vol. 3A, 4.10.3) are tagged
 *   by linear-address bits instead; the lab models the physically tagged kind only.
 * - **Nested TLB** (`NestedTlb`): guest-physical → host-physical translations of the nested
 *   dimension at 4 KiB, with the kinds of access each was checked for. A guest-table address or
 *   the final address that hits skips its nested walk (Bhargava et al.'s "nested TLB"). A hit
 *   needs an entry checked for at least the access asked: a write entry serves reads and
 *   guest-table accesses (under EPT, W without R is a misconfiguration, so a permitted write was
 *   readable; under NPT a guest-table access is checked as a write), a guest-table entry serves a
 *   read, a fetch needs a fetch entry, a guest-table access a guest-table or write entry.
 *
 * Neither cache watches memory: like the hardware's, they go stale when the tables they were
 * filled from change, until the hypervisor (INVEPT, TLB_CONTROL) or the guest (MOV CR3, INVLPG,
 * for the page-walk cache) flushes them. Each entry remembers how many references its fill cost
 * (`refs`), which is what a hit reports as saved.
 */

/** A cached upper-level guest entry. */
export interface PwcEntry {
  lo: number;
  hi: number;
  /** Where the entry lives in host memory (the translation of its guest-physical address). */
  hpa: number;
  /** References the nested walk and the read made when this entry was filled. */
  refs: number;
}

export class PageWalkCache {
  hits = 0;
  misses = 0;
  flushes = 0;
  private readonly map = new Map<number, PwcEntry>();

  constructor(
    /** At most this many entries; the oldest goes first (a FIFO, enough for a teaching model). */
    readonly capacity = 64,
  ) {}

  /** The entry cached for the guest entry at `gpa`, counting a hit or a miss. */
  lookup(gpa: number): PwcEntry | undefined {
    const e = this.map.get(gpa);
    if (e === undefined) this.misses++;
    else this.hits++;
    return e;
  }

  /** Looks without counting (views, tests). */
  peek(gpa: number): PwcEntry | undefined {
    return this.map.get(gpa);
  }

  fill(gpa: number, e: PwcEntry): void {
    if (!this.map.has(gpa) && this.map.size >= this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
    this.map.set(gpa, e);
  }

  get size(): number {
    return this.map.size;
  }

  flush(): void {
    this.map.clear();
    this.flushes++;
  }
}

/** The kind of nested access an entry was checked for (bit flags). */
export const NTLB = {
  READ: 1,
  WRITE: 2,
  FETCH: 4,
  /** A guest paging-structure access (checked as the vendor checks those: a read, or a write). */
  TABLE: 8,
} as const;

export interface NtlbEntry {
  /** Host-physical address of the 4 KiB frame. */
  hpaPage: number;
  /** NTLB bits: the accesses this translation was checked for. */
  kinds: number;
  /** References the nested walk that filled it made. */
  refs: number;
}

export class NestedTlb {
  hits = 0;
  misses = 0;
  flushes = 0;
  private readonly map = new Map<number, NtlbEntry>();

  constructor(readonly capacity = 64) {}

  /** The kinds an access needs an entry to have been checked for (any one of them serves). */
  static serves(kinds: number, write: boolean, fetch: boolean, table: boolean): boolean {
    if (table) return (kinds & (NTLB.TABLE | NTLB.WRITE)) !== 0 && (!write || (kinds & NTLB.WRITE) !== 0);
    if (fetch) return (kinds & NTLB.FETCH) !== 0;
    if (write) return (kinds & NTLB.WRITE) !== 0;
    // A guest-table check is a read under EPT without A/D and a (user) write under NPT or EPT
    // with A/D: either way the page was readable.
    return (kinds & (NTLB.READ | NTLB.WRITE | NTLB.TABLE)) !== 0;
  }

  /** The host-physical address for `gpa` if an entry serves this access, counting a hit or a miss. */
  lookup(gpa: number, write: boolean, fetch: boolean, table: boolean): { hpa: number; refs: number } | undefined {
    const page = Math.floor(gpa / 4096);
    const e = this.map.get(page);
    if (e === undefined || !NestedTlb.serves(e.kinds, write, fetch, table)) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return { hpa: e.hpaPage + (gpa % 4096), refs: e.refs };
  }

  /** Records a successful nested translation of `gpa`; the kinds add to those already known. */
  fill(gpa: number, hpa: number, kinds: number, refs: number): void {
    const page = Math.floor(gpa / 4096);
    const hpaPage = hpa - (hpa % 4096);
    const old = this.map.get(page);
    if (old !== undefined && old.hpaPage === hpaPage) {
      old.kinds |= kinds;
      return;
    }
    if (old === undefined && this.map.size >= this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
    this.map.set(page, { hpaPage, kinds, refs });
  }

  peek(gpa: number): NtlbEntry | undefined {
    return this.map.get(Math.floor(gpa / 4096));
  }

  get size(): number {
    return this.map.size;
  }

  flush(): void {
    this.map.clear();
    this.flushes++;
  }
}

/** The caches a 2D walk may use; either may be absent (off). */
export interface WalkCaches {
  pwc?: PageWalkCache | null;
  ntlb?: NestedTlb | null;
}
