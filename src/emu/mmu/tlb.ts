/**
 * A translation lookaside buffer (SDM Vol. 3A, 4.10.2): set-associative, first-in-first-out
 * replacement within a set (deterministic; the SDM leaves the policy to the implementation), so
 * the TLB's contents depend only on its fills and invalidations, never on how often a cached entry
 * was used. Entries are tagged with a PCID (4.10.1) and a global
 * flag (4.10.2.4). An entry caches one 4-KByte page number; a larger page is cached as
 * 4-KByte pieces, each remembering the size of its page so that INVLPG of any address in the
 * page removes every piece (4.10.2.3: "processors may cache multiple smaller-page TLB entries").
 * It holds the page frame, the combined rights (R/W, U/S, XD) and whether the leaf's D is set,
 * so a hit checks the access without walking.
 *
 * Tags beyond the PCID (issue 7). Each entry also carries the address-space tag it was filled
 * under: the VPID (Intel, SDM Vol. 3C 29.1) or the ASID (AMD, APM Vol. 2 15.16), 0 being the host's,
 * and, under EPT, the EP4TA it was derived from (bits 51:12 of the EPTP, kept as a page number;
 * -1 for a linear mapping, made without EPT). SDM 29.4.1: linear mappings are tagged by VPID and
 * PCID, combined mappings by VPID, PCID and EP4TA. AMD's nested translations are tagged by ASID
 * only (APM 15.16), so the SVM layer leaves the EP4TA at -1. The world switch sets `current` and
 * `currentEp` (Cpu.setTlbTag); lookups and fills use them, and so do the invalidations the MMU
 * already made (INVLPG, INVPCID, MOV to CR3, the CR0/CR4/EFER flushes), which SDM 29.4.3.1
 * requires only for the current VPID "but, for combined mappings, all EP4TAs": they act on the
 * current tag's entries whatever their EP4TA. The operations of the virtualization layers name
 * their tags: `invvpid`, `invept`, `tlbControl`, `invlpga`, `flushTag`, `flushEverything`. A bare
 * machine never changes the tag, so every entry is tag 0 and nothing differs from an untagged TLB.
 *
 * Storage is parallel typed arrays; a lookup allocates nothing.
 */

export const TLB_FLAG = {
  /** Combined R/W (4.6) */
  RW: 1,
  /** Combined U/S */
  US: 2,
  /** Combined XD */
  XD: 4,
  /** The leaf's dirty flag was set when the entry was filled */
  D: 8,
  /** A global translation (G = 1 in the leaf with CR4.PGE = 1) */
  G: 16,
  /**
   * Nested paging only (Mmu.translateNested): the fill was for an instruction fetch, so the nested
   * dimension (EPT X, NPT NX) allowed fetches from the page.
   */
  NESTED_FETCH: 32,
} as const;

/** INVPCID types (SDM Vol. 2, INVPCID). */
export const INVPCID_TYPE = {
  INDIVIDUAL_ADDRESS: 0,
  SINGLE_CONTEXT: 1,
  ALL_CONTEXT_INCLUDING_GLOBALS: 2,
  ALL_CONTEXT: 3,
} as const;

export interface TlbOptions {
  /** Total entries (rounded up to a multiple of `ways`; the number of sets is a power of two). */
  entries?: number;
  /** Associativity; `ways === entries` makes it fully associative. */
  ways?: number;
}

/** INVVPID types (SDM Vol. 3C 29.4.3.1 and INVVPID in ch. 31). */
export const INVVPID_TYPE = {
  INDIVIDUAL_ADDRESS: 0,
  SINGLE_CONTEXT: 1,
  ALL_CONTEXT: 2,
  SINGLE_CONTEXT_RETAINING_GLOBALS: 3,
} as const;

/** INVEPT types (SDM Vol. 3C 29.4.3.1 and INVEPT in ch. 31). */
export const INVEPT_TYPE = {
  SINGLE_CONTEXT: 1,
  GLOBAL: 2,
} as const;

/** No EP4TA: a linear mapping (filled without EPT, or an AMD nested translation). */
export const NO_EP4TA = -1;

/** Plain-data view of one valid entry, for views and tests. */
export interface TlbEntryView {
  slot: number;
  /** Linear page number (linear address >> 12) as lo (bits 31:12 of the address) and hi (63:32). */
  pageLo: number;
  pageHi: number;
  pcid: number;
  /** VPID or ASID the entry was filled under (0: the host's). */
  tag: number;
  /** EP4TA page number (EPTP bits 51:12) of a combined mapping, -1 for a linear mapping. */
  ep4ta: number;
  pa: number;
  pageSize: number;
  rw: boolean;
  us: boolean;
  xd: boolean;
  dirty: boolean;
  global: boolean;
  /** Index into LEVEL_NAMES of the leaf entry. */
  leafLevel: number;
}

export class Tlb {
  readonly sets: number;
  readonly ways: number;
  readonly size: number;
  /** Linear-address bits 31:12 of the cached 4-KByte page. */
  readonly tagLo: Int32Array;
  /** Linear-address bits 63:32. */
  readonly tagHi: Int32Array;
  /** PCID; -1 marks an empty slot. */
  readonly pcid: Int32Array;
  /** VPID / ASID of each entry (0: the host's). */
  readonly vtag: Int32Array;
  /** EP4TA page number of a combined mapping; NO_EP4TA for a linear mapping. */
  readonly ept: Float64Array;
  /** The tag lookups and fills use, and which the MMU's own invalidations act on (set at a world switch). */
  current = 0;
  /** The EP4TA lookups and fills use (NO_EP4TA outside a guest under EPT). */
  currentEp: number = NO_EP4TA;
  /** Physical address of the 4-KByte frame. */
  readonly pa: Float64Array;
  readonly flags: Uint8Array;
  /** log2 of the size of the page this piece belongs to. */
  readonly pageShift: Uint8Array;
  readonly leafLevel: Uint8Array;
  /** Fill order of each slot (FIFO replacement). */
  readonly stamp: Float64Array;
  private clock = 0;
  /**
   * Called when a fill evicts another page's entry. The CPU keeps a small cache of recent
   * translations in front of this TLB; it must stay a subset of the TLB's contents.
   */
  onEvict: (() => void) | null = null;
  hits = 0;
  misses = 0;
  /** Flush operations (whole-TLB, per-PCID, per-page). */
  flushes = 0;
  /** Entries removed by flushes and invalidations. */
  invalidated = 0;

  constructor(opts: TlbOptions = {}) {
    const entries = Math.max(1, opts.entries ?? 256);
    const ways = Math.max(1, Math.min(opts.ways ?? 4, entries));
    let sets = 1;
    while (sets * ways < entries) sets *= 2;
    this.sets = sets;
    this.ways = ways;
    this.size = sets * ways;
    this.tagLo = new Int32Array(this.size);
    this.tagHi = new Int32Array(this.size);
    this.pcid = new Int32Array(this.size).fill(-1);
    this.vtag = new Int32Array(this.size);
    this.ept = new Float64Array(this.size).fill(NO_EP4TA);
    this.pa = new Float64Array(this.size);
    this.flags = new Uint8Array(this.size);
    this.pageShift = new Uint8Array(this.size);
    this.leafLevel = new Uint8Array(this.size);
    this.stamp = new Float64Array(this.size);
  }

  /** Slot of the entry for this linear page usable under `pcid`, or -1. Counts a hit or a miss. */
  lookup(linLo: number, linHi: number, pcid: number): number {
    const vLo = linLo >>> 12;
    const base = (vLo & (this.sets - 1)) * this.ways;
    const end = base + this.ways;
    const tagHi = linHi | 0;
    const cur = this.current;
    const ep = this.currentEp;
    for (let i = base; i < end; i++) {
      if (this.tagLo[i] === vLo && this.tagHi[i] === tagHi && this.vtag[i] === cur && this.ept[i] === ep) {
        const p = this.pcid[i]!;
        if (p === pcid || (p >= 0 && (this.flags[i]! & TLB_FLAG.G) !== 0)) {
          this.hits++;
          return i;
        }
      }
    }
    this.misses++;
    return -1;
  }

  /** Caches a translation; `pa4k` is the physical address of the 4-KByte frame holding the access. */
  fill(linLo: number, linHi: number, pcid: number, pa4k: number, flags: number, pageShift: number, leafLevel: number): number {
    const vLo = linLo >>> 12;
    const tagHi = linHi | 0;
    const base = (vLo & (this.sets - 1)) * this.ways;
    const end = base + this.ways;
    let victim = base;
    let best = Infinity;
    const cur = this.current;
    const ep = this.currentEp;
    for (let i = base; i < end; i++) {
      const p = this.pcid[i]!;
      // Replace an entry for the same page, tags and PCID (or a global one), else an empty slot,
      // else the way filled longest ago (first in, first out).
      if (
        p >= 0 && this.tagLo[i] === vLo && this.tagHi[i] === tagHi && this.vtag[i] === cur && this.ept[i] === ep &&
        (p === pcid || (this.flags[i]! & TLB_FLAG.G) !== 0)
      ) {
        victim = i;
        break;
      }
      const s = p < 0 ? -1 : this.stamp[i]!;
      if (s < best) {
        best = s;
        victim = i;
      }
    }
    // Evicting another page's (or another tag's) entry: whoever caches this TLB's entries must drop them too.
    if (this.pcid[victim]! >= 0 && (this.tagLo[victim] !== vLo || this.tagHi[victim] !== tagHi || this.vtag[victim] !== cur || this.ept[victim] !== ep)) this.onEvict?.();
    this.tagLo[victim] = vLo;
    this.tagHi[victim] = tagHi;
    this.pcid[victim] = pcid;
    this.vtag[victim] = cur;
    this.ept[victim] = ep;
    this.pa[victim] = pa4k;
    this.flags[victim] = flags;
    this.pageShift[victim] = pageShift;
    this.leafLevel[victim] = leafLevel;
    this.stamp[victim] = ++this.clock;
    return victim;
  }

  private drop(i: number): void {
    this.pcid[i] = -1;
    this.invalidated++;
  }

  /**
   * Empties the current tag's entries (every PCID, every EP4TA); with `includeGlobal` false, global
   * entries stay. Untagged (a bare machine): the whole TLB.
   */
  flushAll(includeGlobal: boolean): void {
    this.flushTag(this.current, includeGlobal);
  }

  /** Removes the entries of one PCID under the current tag; global entries stay unless `includeGlobal`. */
  flushPcid(pcid: number, includeGlobal: boolean): void {
    this.flushes++;
    const cur = this.current;
    for (let i = 0; i < this.size; i++) {
      if (this.pcid[i] !== pcid || this.vtag[i] !== cur) continue;
      if (includeGlobal || (this.flags[i]! & TLB_FLAG.G) === 0) this.drop(i);
    }
  }

  /** Removes every entry of one VPID / ASID (all PCIDs, all EP4TAs); globals stay unless `includeGlobal`. */
  flushTag(tag: number, includeGlobal: boolean): void {
    this.flushes++;
    for (let i = 0; i < this.size; i++) {
      if (this.pcid[i]! < 0 || this.vtag[i] !== tag) continue;
      if (includeGlobal || (this.flags[i]! & TLB_FLAG.G) === 0) this.drop(i);
    }
  }

  /** Empties the whole TLB, every tag (reset; AMD TLB_CONTROL 1). */
  flushEverything(): void {
    this.flushes++;
    for (let i = 0; i < this.size; i++) if (this.pcid[i]! >= 0) this.drop(i);
  }

  /**
   * INVVPID's effect (SDM 29.4.3.1), its checks made by the caller (vmx.ts): type 0 the page of
   * the linear address under `vpid` (every PCID, globals too, every EP4TA); 1 every entry of
   * `vpid`; 2 every entry of every VPID but 0000H; 3 those of `vpid` but global ones.
   */
  invvpid(type: number, vpid: number, linLo: number, linHi: number): void {
    switch (type) {
      case INVVPID_TYPE.INDIVIDUAL_ADDRESS:
        this.invalidatePageOf(vpid, linLo, linHi);
        break;
      case INVVPID_TYPE.SINGLE_CONTEXT:
        this.flushTag(vpid, true);
        break;
      case INVVPID_TYPE.ALL_CONTEXT:
        this.flushes++;
        for (let i = 0; i < this.size; i++) if (this.pcid[i]! >= 0 && this.vtag[i] !== 0) this.drop(i);
        break;
      case INVVPID_TYPE.SINGLE_CONTEXT_RETAINING_GLOBALS:
        this.flushTag(vpid, false);
        break;
      default:
        throw new RangeError(`INVVPID type ${type}`);
    }
  }

  /**
   * INVEPT's effect on this TLB (SDM 29.4.3.1): type 1 the combined mappings derived from the
   * EP4TA (a page number, EPTP bits 51:12), every VPID and PCID; type 2 every combined mapping.
   * Linear mappings stay. (The lab caches no guest-physical mappings here; a walk cache does.)
   */
  invept(type: number, ep4ta: number): void {
    if (type !== INVEPT_TYPE.SINGLE_CONTEXT && type !== INVEPT_TYPE.GLOBAL) throw new RangeError(`INVEPT type ${type}`);
    this.flushes++;
    const all = type === INVEPT_TYPE.GLOBAL;
    for (let i = 0; i < this.size; i++) {
      if (this.pcid[i]! < 0) continue;
      const e = this.ept[i]!;
      if (e !== NO_EP4TA && (all || e === ep4ta)) this.drop(i);
    }
  }

  /**
   * TLB_CONTROL at VMRUN (APM 15.16.1, values as svm-misc.json): 0 nothing, 1 every ASID's entries
   * (the host's and global ones too), 3 the guest's ASID, 7 the guest's ASID but global entries.
   * Returns false for another value (the caller decides: the lab treats it as illegal).
   */
  tlbControl(value: number, asid: number): boolean {
    switch (value) {
      case 0: return true;
      case 1: this.flushEverything(); return true;
      case 3: this.flushTag(asid, true); return true;
      case 7: this.flushTag(asid, false); return true;
      default: return false;
    }
  }

  /**
   * INVLPGA (APM Vol. 3): the entries of the page holding the address under `asid`, every PCID,
   * global ones too (the APM lets it invalidate more than the targeted entry; the lab takes the
   * global pieces of the page as well, as INVLPG does).
   */
  invlpga(asid: number, linLo: number, linHi: number): void {
    this.invalidatePageOf(asid, linLo, linHi);
  }

  /** Every entry of the page under `tag`, whatever its PCID, global flag or EP4TA. */
  private invalidatePageOf(tag: number, linLo: number, linHi: number): void {
    this.flushes++;
    for (let i = 0; i < this.size; i++) {
      if (this.pcid[i]! < 0 || this.vtag[i] !== tag) continue;
      if (this.pageMatches(i, linLo, linHi)) this.drop(i);
    }
  }

  private pageMatches(i: number, linLo: number, linHi: number): boolean {
    if (this.tagHi[i] !== (linHi | 0)) return false;
    const sh = this.pageShift[i]! - 12;
    return this.tagLo[i]! >>> sh === (linLo >>> 12) >>> sh;
  }

  /**
   * Removes the current tag's entries for the page containing the linear address: those of
   * `pcid`, and global ones whatever their PCID when `includeGlobal` (INVLPG, 4.10.4.1), every
   * EP4TA (SDM 29.4.3.1). Every piece of a large page goes.
   */
  invalidatePage(linLo: number, linHi: number, pcid: number, includeGlobal: boolean): void {
    this.flushes++;
    const cur = this.current;
    for (let i = 0; i < this.size; i++) {
      const p = this.pcid[i]!;
      if (p < 0 || this.vtag[i] !== cur) continue;
      const g = (this.flags[i]! & TLB_FLAG.G) !== 0;
      if (!(p === pcid && (includeGlobal || !g)) && !(includeGlobal && g)) continue;
      if (this.pageMatches(i, linLo, linHi)) this.drop(i);
    }
  }

  /** INVPCID (SDM Vol. 2): types 0..3 as in INVPCID_TYPE. */
  invpcid(type: number, pcid: number, linLo: number, linHi: number): void {
    switch (type) {
      case INVPCID_TYPE.INDIVIDUAL_ADDRESS:
        this.invalidatePage(linLo, linHi, pcid, false);
        break;
      case INVPCID_TYPE.SINGLE_CONTEXT:
        this.flushPcid(pcid, false);
        break;
      case INVPCID_TYPE.ALL_CONTEXT_INCLUDING_GLOBALS:
        this.flushAll(true);
        break;
      case INVPCID_TYPE.ALL_CONTEXT:
        this.flushAll(false);
        break;
      default:
        throw new RangeError(`INVPCID type ${type}`);
    }
  }

  /** Valid entries, in slot order. */
  entries(): TlbEntryView[] {
    const out: TlbEntryView[] = [];
    for (let i = 0; i < this.size; i++) {
      const p = this.pcid[i]!;
      if (p < 0) continue;
      const f = this.flags[i]!;
      out.push({
        slot: i,
        pageLo: this.tagLo[i]! >>> 0,
        pageHi: this.tagHi[i]! >>> 0,
        pcid: p,
        tag: this.vtag[i]!,
        ep4ta: this.ept[i]!,
        pa: this.pa[i]!,
        pageSize: 2 ** this.pageShift[i]!,
        rw: (f & TLB_FLAG.RW) !== 0,
        us: (f & TLB_FLAG.US) !== 0,
        xd: (f & TLB_FLAG.XD) !== 0,
        dirty: (f & TLB_FLAG.D) !== 0,
        global: (f & TLB_FLAG.G) !== 0,
        leafLevel: this.leafLevel[i]!,
      });
    }
    return out;
  }

  /** Number of valid entries. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.pcid[i]! >= 0) n++;
    return n;
  }

  /** Number of valid entries of one VPID / ASID. */
  countTag(tag: number): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.pcid[i]! >= 0 && this.vtag[i] === tag) n++;
    return n;
  }

  /**
   * The valid entries, the LRU clock and the counters, for a checkpoint. Empty slots are not
   * kept: nothing reads an empty slot but its PCID (-1).
   */
  snapshot(): TlbSnapshot {
    const n = this.count();
    const snap: TlbSnapshot = {
      size: this.size, slot: new Int32Array(n), tagLo: new Int32Array(n), tagHi: new Int32Array(n), pcid: new Int32Array(n),
      vtag: new Int32Array(n), ept: new Float64Array(n), current: this.current, currentEp: this.currentEp,
      pa: new Float64Array(n), flags: new Uint8Array(n), pageShift: new Uint8Array(n), leafLevel: new Uint8Array(n),
      stamp: new Float64Array(n), clock: this.clock, hits: this.hits, misses: this.misses, flushes: this.flushes, invalidated: this.invalidated,
    };
    let j = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.pcid[i]! < 0) continue;
      snap.slot[j] = i;
      snap.tagLo[j] = this.tagLo[i]!;
      snap.tagHi[j] = this.tagHi[i]!;
      snap.pcid[j] = this.pcid[i]!;
      snap.vtag[j] = this.vtag[i]!;
      snap.ept[j] = this.ept[i]!;
      snap.pa[j] = this.pa[i]!;
      snap.flags[j] = this.flags[i]!;
      snap.pageShift[j] = this.pageShift[i]!;
      snap.leafLevel[j] = this.leafLevel[i]!;
      snap.stamp[j++] = this.stamp[i]!;
    }
    return snap;
  }

  /** Makes the TLB what it was at `snap` (taken from a TLB of the same geometry). */
  restore(snap: TlbSnapshot): void {
    if (snap.size !== this.size) throw new RangeError(`TLB snapshot of ${snap.size} entries for a TLB of ${this.size}`);
    this.pcid.fill(-1);
    for (let j = 0; j < snap.slot.length; j++) {
      const i = snap.slot[j]!;
      this.tagLo[i] = snap.tagLo[j]!;
      this.tagHi[i] = snap.tagHi[j]!;
      this.pcid[i] = snap.pcid[j]!;
      this.vtag[i] = snap.vtag[j]!;
      this.ept[i] = snap.ept[j]!;
      this.pa[i] = snap.pa[j]!;
      this.flags[i] = snap.flags[j]!;
      this.pageShift[i] = snap.pageShift[j]!;
      this.leafLevel[i] = snap.leafLevel[j]!;
      this.stamp[i] = snap.stamp[j]!;
    }
    this.clock = snap.clock;
    this.current = snap.current;
    this.currentEp = snap.currentEp;
    this.hits = snap.hits;
    this.misses = snap.misses;
    this.flushes = snap.flushes;
    this.invalidated = snap.invalidated;
  }
}

/** A TLB's valid entries (parallel arrays, `slot` = where each was), LRU clock and counters (Tlb.snapshot). */
export interface TlbSnapshot {
  readonly size: number;
  readonly slot: Int32Array;
  readonly tagLo: Int32Array;
  readonly tagHi: Int32Array;
  readonly pcid: Int32Array;
  readonly vtag: Int32Array;
  readonly ept: Float64Array;
  readonly current: number;
  readonly currentEp: number;
  readonly pa: Float64Array;
  readonly flags: Uint8Array;
  readonly pageShift: Uint8Array;
  readonly leafLevel: Uint8Array;
  readonly stamp: Float64Array;
  readonly clock: number;
  readonly hits: number;
  readonly misses: number;
  readonly flushes: number;
  readonly invalidated: number;
}
