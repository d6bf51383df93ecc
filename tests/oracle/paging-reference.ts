/**
 * An independent reference model of x86 paging, for tests only: plain bigint code written
 * straight from the SDM Vol. 3A text (4.3 32-bit paging, 4.4 PAE, 4.5 4-level/5-level, 4.6
 * access rights, 4.7 #PF error code, 4.8 A/D flags). It shares no code with src/emu/mmu.
 * Entries are read from a Map of physical address → entry value (4 or 8 bytes wide).
 *
 * A/D rule (4.8: "Whenever the processor uses a paging-structure entry as part of linear-address
 * translation, it sets the accessed flag in that entry"): an entry that is present, has no
 * reserved bit set and references the next paging structure has been used, so it gets A even if
 * the walk faults further on; an entry with P = 0 or a reserved bit set is "used neither to
 * reference another paging-structure entry nor to map a page" (4.4.2, 4.5) and gets nothing; the
 * entry that maps the page gets A (and D for a write) only if the access is permitted. PAE PDPTEs
 * are registers and are never written.
 */

export type RefMode = '32bit' | 'pae' | '4level' | '5level';

export interface RefCtl {
  mode: RefMode;
  cr3: bigint;
  wp: boolean;
  pse: boolean;
  pge: boolean;
  nxe: boolean;
  /** PAE only: the four PDPTE registers. */
  pdpte: bigint[];
  maxPhysAddr: number;
  /** 1-GByte pages supported (CPUID.80000001H:EDX.Page1GB); absent means supported. */
  page1gb?: boolean;
}

export interface RefAccess {
  write: boolean;
  fetch: boolean;
  user: boolean;
}

export interface RefResult {
  ok: boolean;
  errorCode: number;
  faultLevel: string;
  pa: bigint;
  pageSize: bigint;
  global: boolean;
  /** Entries rewritten with A/D set, in walk order: address → new value (also on a fault). */
  writes: Map<bigint, bigint>;
  /** Addresses of every entry read, in order (-1 for a PDPTE register). */
  reads: bigint[];
}

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const field = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
/** Mask with bits hi..lo set (empty if hi < lo). */
const span = (hi: number, lo: number): bigint => (hi < lo ? 0n : ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo));

interface Used {
  addr: bigint;
  value: bigint;
  leaf: boolean;
}

export function refTranslate(ctl: RefCtl, mem: Map<bigint, bigint>, la: bigint, acc: RefAccess): RefResult {
  const res: RefResult = { ok: false, errorCode: 0, faultLevel: '', pa: 0n, pageSize: 0n, global: false, writes: new Map(), reads: [] };
  // 4.7: W/R and U/S describe the access; I/D is 1 for a fetch if CR4.SMEP = 1 (never here) or
  // (CR4.PAE = 1 and IA32_EFER.NXE = 1).
  const paeFamily = ctl.mode !== '32bit';
  let ec = 0;
  if (acc.write) ec |= 2;
  if (acc.user) ec |= 4;
  if (acc.fetch && paeFamily && ctl.nxe) ec |= 16;
  const M = ctl.maxPhysAddr;
  const used: Used[] = [];
  // 4.8: A on an entry the walk used to reference the next paging structure, at once.
  const referenced = (addr: bigint, e: bigint): void => {
    if (!bit(e, 5)) res.writes.set(addr, e | (1n << 5n));
  };
  const read = (addr: bigint): bigint => {
    res.reads.push(addr);
    return mem.get(addr) ?? 0n;
  };
  const notPresent = (level: string): RefResult => {
    res.errorCode = ec;
    res.faultLevel = level;
    return res;
  };
  const reserved = (level: string): RefResult => {
    res.errorCode = ec | 1 | 8;
    res.faultLevel = level;
    return res;
  };

  let leafEntry = 0n;
  let leafLevel = '';
  let xdUsed = false;

  if (ctl.mode === '32bit') {
    const pdeAddr = (ctl.cr3 & 0xfffff000n) | (field(la, 31, 22) << 2n);
    const pde = read(pdeAddr);
    if (!bit(pde, 0)) return notPresent('PDE');
    if (ctl.pse && bit(pde, 7)) {
      const m = Math.min(M, 40);
      if ((pde & span(21, m - 19)) !== 0n) return reserved('PDE');
      used.push({ addr: pdeAddr, value: pde, leaf: true });
      let pa = (field(pde, 31, 22) << 22n) | field(la, 21, 0);
      if (m > 32) pa |= field(pde, m - 20, 13) << 32n;
      res.pa = pa;
      res.pageSize = 1n << 22n;
      leafEntry = pde;
      leafLevel = 'PDE';
    } else {
      used.push({ addr: pdeAddr, value: pde, leaf: false });
      referenced(pdeAddr, pde);
      const pteAddr = (pde & 0xfffff000n) | (field(la, 21, 12) << 2n);
      const pte = read(pteAddr);
      if (!bit(pte, 0)) return notPresent('PTE');
      used.push({ addr: pteAddr, value: pte, leaf: true });
      res.pa = (pte & 0xfffff000n) | field(la, 11, 0);
      res.pageSize = 4096n;
      leafEntry = pte;
      leafLevel = 'PTE';
    }
  } else {
    // Bits of an entry that are reserved whatever its level.
    let rsvd = ctl.mode === 'pae' ? span(62, M) : span(51, M);
    if (!ctl.nxe) rsvd |= 1n << 63n;
    const addrOf = (e: bigint): bigint => e & span(M - 1, 12);
    let levels: { name: string; shift: number }[];
    let table: bigint;
    if (ctl.mode === 'pae') {
      const i = Number(field(la, 31, 30));
      const pdpte = ctl.pdpte[i] ?? 0n;
      res.reads.push(-1n);
      if (!bit(pdpte, 0)) return notPresent('PDPTE');
      table = addrOf(pdpte);
      levels = [
        { name: 'PDE', shift: 21 },
        { name: 'PTE', shift: 12 },
      ];
    } else {
      table = addrOf(ctl.cr3);
      levels = [
        { name: 'PML4E', shift: 39 },
        { name: 'PDPTE', shift: 30 },
        { name: 'PDE', shift: 21 },
        { name: 'PTE', shift: 12 },
      ];
      if (ctl.mode === '5level') levels.unshift({ name: 'PML5E', shift: 48 });
    }
    for (const { name, shift } of levels) {
      const addr = table + (field(la, shift + 8, shift) << 3n);
      const e = read(addr);
      if (!bit(e, 0)) return notPresent(name);
      if ((e & rsvd) !== 0n) return reserved(name);
      if ((name === 'PML4E' || name === 'PML5E') && bit(e, 7)) return reserved(name);
      // Without 1-GByte page support, PS in a PDPTE is a reserved bit (SDM 4.5.4).
      if (name === 'PDPTE' && bit(e, 7) && ctl.page1gb === false) return reserved(name);
      if (bit(e, 63)) xdUsed = true;
      const isLeaf = name === 'PTE' || ((name === 'PDE' || name === 'PDPTE') && bit(e, 7));
      used.push({ addr, value: e, leaf: isLeaf });
      if (isLeaf) {
        if (name === 'PDE' && (e & span(20, 13)) !== 0n) return reserved(name);
        if (name === 'PDPTE' && (e & span(29, 13)) !== 0n) return reserved(name);
        res.pa = (e & span(M - 1, shift)) | (la & span(shift - 1, 0));
        res.pageSize = 1n << BigInt(shift);
        leafEntry = e;
        leafLevel = name;
        break;
      }
      referenced(addr, e);
      table = addrOf(e);
    }
  }

  // 4.6: R/W and U/S are the AND over every entry that controls the translation (PAE PDPTEs do
  // not); XD is the OR (only when IA32_EFER.NXE = 1 in PAE/4-level/5-level paging).
  const writable = used.every((u) => bit(u.value, 1));
  const userOk = used.every((u) => bit(u.value, 2));
  const noExec = paeFamily && ctl.nxe && xdUsed;
  let allowed: boolean;
  if (acc.user) {
    allowed = userOk && (!acc.write || writable) && (!acc.fetch || !noExec);
  } else {
    allowed = (!acc.write || !ctl.wp || writable) && (!acc.fetch || !noExec);
  }
  if (!allowed) {
    res.errorCode = ec | 1;
    res.faultLevel = leafLevel;
    return res;
  }
  res.ok = true;
  res.global = ctl.pge && bit(leafEntry, 8);
  // 4.8: the permitted access sets A in the entry that maps the page, and D for a write.
  const leaf = used[used.length - 1]!;
  let v = leaf.value | (1n << 5n);
  if (acc.write) v |= 1n << 6n;
  if (v !== leaf.value) res.writes.set(leaf.addr, v);
  return res;
}
