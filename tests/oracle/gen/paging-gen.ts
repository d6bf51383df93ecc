/**
 * Seeded generator of page-walk guest programs (nasm syntax). Each program sets up its own GDT,
 * TSS and IDT (all 32 exception vectors go to one handler that logs the vector, error code, CR2,
 * faulting RIP, CS and EAX, then resumes the program), builds page tables in one paging mode with
 * random entry bits (P, R/W, U/S, PS, A, D, XD and some reserved bits), picks random control bits
 * (CR0.WP, CR4.PSE, EFER.NXE), and then touches one address per table set with a read, a write
 * and an instruction fetch, from ring 0 and from ring 3. A successful access ends in UD2, so every
 * probe leaves exactly one log record: #UD for success, #PF (error code, CR2) for a fault, and,
 * for reads, the value read.
 *
 * The log and the page tables (whose accessed and dirty bits the CPU sets) sit in one physical
 * range, LOG_BASE..TABLES_END, which the tests compare between KVM and the lab. 32-bit IRETD is
 * never used (KVM's instruction emulator here cannot run it): the handler resumes with a jump.
 */
import { descriptorData, descriptorSetup, gdtStores, hex } from './descriptors.ts';
import { rng } from './program-gen.ts';

export type PagingGenMode = '32bit' | 'pae' | '4level' | '5level';

export const LOG_BASE = 0x1bf000;
export const TABLES = 0x1c0000;
export const TABLES_END = 0x200000;
const RESUME = 0x6ff0;
const SAVESP = 0x6ff8;
/** Probe targets behind large pages (which map physical 0): one 16-byte slot per case here. */
const LARGE_TARGET = 0x180000;
/** Probe targets behind 4 KiB pages: one page per case from here. */
const SMALL_TARGET = 0x600000;
/** A write probe stores this: its low two bytes are UD2, so fetches after it still end in #UD. */
const MARKER = 0x12340b0f;

export interface PagingProgram {
  seed: number;
  mode: PagingGenMode;
  source: string;
  /** Execution mode of `exec` the program starts in. */
  execMode: 'prot32' | 'long64';
  cases: number;
  /**
   * Per case, the entries that reference another table. Each case is probed six times (fetch,
   * read, write from ring 0 and ring 3), logged in that order.
   */
  caseNonLeaf: number[][];
  /** Large-page leaf entries with a reserved bit set (the walk must fault on them). */
  reservedLarge: number[];
  dump: { addr: number; len: number };
}


export function generatePagingProgram(seed: number, mode: PagingGenMode, cases = 8): PagingProgram {
  const r = rng(seed * 7919 + { '32bit': 1, pae: 2, '4level': 3, '5level': 4 }[mode]);
  const chance = (p: number) => r() < p;
  // 5-level paging can only be turned on with paging off: that program starts in 32-bit protected
  // mode, builds its tables, enters IA-32e mode with CR4.LA57 set, and far-jumps to 64-bit code.
  const five = mode === '5level';
  const long = mode === '4level' || five;
  const wide = mode !== '32bit'; // 8-byte entries with XD
  const wp = chance(0.5);
  const pse = mode === '32bit' ? chance(0.7) : false;
  const nxe = wide ? chance(0.6) : false;
  const A = (s: string) => lines.push('  ' + s);
  const lines: string[] = [];
  let nextTable = TABLES;
  const table = () => {
    const t = nextTable;
    nextTable += 0x1000;
    if (nextTable > TABLES_END) throw new Error('paging generator ran out of table space');
    return t;
  };
  /** Writes a 4- or 8-byte entry at physical `at`. */
  const entry = (at: number, value: bigint) => {
    A(`mov dword [${hex(at)}], ${hex(value & 0xffffffffn)}`);
    if (wide) A(`mov dword [${hex(at + 4)}], ${hex(value >> 32n)}`);
  };
  /** Fills 512 entries of the page table at `pt` with identity mappings (P, R/W, U/S). */
  const identityLoop = (pt: number, size: 4 | 8) => {
    const l = `.id${pt.toString(16)}`;
    A('xor ecx, ecx');
    lines.push(`${l}:`);
    A('mov eax, ecx');
    A('shl eax, 12');
    A('or eax, 7');
    A(`mov [ecx*${size}+${hex(pt)}], eax`);
    A('inc ecx');
    A('cmp ecx, 512');
    A(`jne ${l}`);
  };
  /** Random non-leaf/leaf permission bits: P mostly set, R/W and U/S often set, A sometimes. */
  const bits = (leaf: boolean): bigint => {
    let v = 0n;
    if (!chance(0.08)) v |= 1n; // P
    if (chance(0.75)) v |= 2n; // R/W
    if (chance(0.75)) v |= 4n; // U/S
    if (chance(0.3)) v |= 0x20n; // A
    if (leaf && chance(0.3)) v |= 0x40n; // D
    if (wide && chance(nxe ? 0.25 : 0.04)) v |= 1n << 63n; // XD (reserved when EFER.NXE = 0)
    return v;
  };

  lines.push(long && !five ? 'bits 64' : 'bits 32', 'org 0x100000', 'start:');
  if (five) lines.push(...gdtStores(true), '  lgdt [gdtr32]');
  else lines.push(...descriptorSetup(long));

  // Identity map of the first 2 MiB, user-accessible and writable, so that code, stacks, the log,
  // descriptor tables and the ring-3 probe code stay reachable from both rings.
  let root: number;
  if (mode === '32bit') {
    root = table();
    const pt = table();
    identityLoop(pt, 4);
    entry(root, BigInt(pt) | 7n);
  } else if (mode === 'pae') {
    root = table(); // the PDPT: only its first 32 bytes matter
    const pd0 = table();
    const pt = table();
    identityLoop(pt, 8);
    entry(pd0, BigInt(pt) | 7n);
    entry(root, BigInt(pd0) | 1n);
  } else {
    root = table();
    const pml4 = five ? table() : root;
    const pdpt = table();
    const pd = table();
    entry(pd, 0x87n); // 2 MiB page at 0: P R/W U/S PS
    entry(pdpt, BigInt(pd) | 7n);
    entry(pml4, BigInt(pdpt) | 7n);
    if (five) entry(root, BigInt(pml4) | 7n);
  }

  // The cases: one set of tables each, with random bits at every level.
  const targets: { va: bigint; large: boolean; phys: number }[] = [];
  /** Per case, the physical addresses of its entries that reference another table. */
  const caseNonLeaf: number[][] = [];
  /** Large-page leaves with a reserved bit among 29:13 (1 GiB) or 20:13 (2 MiB). */
  const reservedLarge: number[] = [];
  const largeLeaf = (at: number, value: bigint) => {
    if ((value & 0x3fffe000n) !== 0n) reservedLarge.push(at);
    entry(at, value);
  };
  const nonLeaf = (at: number, value: bigint) => {
    caseNonLeaf[caseNonLeaf.length - 1]!.push(at);
    entry(at, value);
  };
  let paeTestPd = 0;
  if (mode === 'pae') {
    paeTestPd = table();
    entry(root + 8, BigInt(paeTestPd) | 1n); // PDPTE[1]: present; PDPTEs have no R/W or U/S
  }
  for (let c = 0; c < cases; c++) {
    caseNonLeaf.push([]);
    const small = SMALL_TARGET + c * 0x1000;
    const largeSlot = LARGE_TARGET + c * 16;
    if (mode === '32bit') {
      const va = BigInt(0x40000000 + c * 0x400000);
      const pdeAt = root + (256 + c) * 4;
      if (chance(0.3)) {
        // PS = 1: a 4 MiB page when CR4.PSE = 1; with PSE = 0 the bit is ignored and the PDE
        // points at a page table at physical 0 (all zeros: not present).
        entry(pdeAt, bits(true) | 0x80n);
        targets.push({ va: va + BigInt(pse ? largeSlot : 0), large: pse, phys: largeSlot });
      } else {
        const pt = table();
        nonLeaf(pdeAt, BigInt(pt) | bits(false));
        entry(pt, BigInt(small) | bits(true) | (chance(0.2) ? 0x100n : 0n));
        targets.push({ va, large: false, phys: small });
      }
    } else if (mode === 'pae') {
      const va = BigInt(0x40000000 + c * 0x200000);
      const pdeAt = paeTestPd + c * 8;
      if (chance(0.3)) {
        const rsvd = chance(0.15) ? 1n << 13n : 0n; // bits 20:13 of a 2 MiB PDE are reserved
        largeLeaf(pdeAt, bits(true) | 0x80n | rsvd);
        targets.push({ va: va + BigInt(largeSlot), large: true, phys: largeSlot });
      } else {
        const pt = table();
        nonLeaf(pdeAt, BigInt(pt) | bits(false));
        entry(pt, BigInt(small) | bits(true));
        targets.push({ va, large: false, phys: small });
      }
    } else {
      const va = BigInt(1 + c) << (five ? 48n : 39n);
      const pdpt = table();
      if (five) {
        const pml4 = table();
        nonLeaf(root + (1 + c) * 8, BigInt(pml4) | bits(false) | (chance(0.06) ? 0x80n : 0n)); // PS is reserved in a PML5E
        nonLeaf(pml4, BigInt(pdpt) | bits(false) | (chance(0.06) ? 0x80n : 0n)); // and in a PML4E
      } else {
        nonLeaf(root + (1 + c) * 8, BigInt(pdpt) | bits(false) | (chance(0.08) ? 0x80n : 0n)); // PS is reserved in a PML4E
      }
      const shape = r();
      if (shape < 0.2) {
        const rsvd = chance(0.15) ? 1n << 13n : 0n; // bits 29:13 of a 1 GiB PDPTE are reserved
        largeLeaf(pdpt, bits(true) | 0x80n | rsvd);
        targets.push({ va: va + BigInt(largeSlot), large: true, phys: largeSlot });
      } else {
        const pd = table();
        nonLeaf(pdpt, BigInt(pd) | bits(false));
        if (shape < 0.45) {
          const rsvd = chance(0.15) ? 1n << 13n : 0n;
          largeLeaf(pd, bits(true) | 0x80n | rsvd);
          targets.push({ va: va + BigInt(largeSlot), large: true, phys: largeSlot });
        } else {
          const pt = table();
          nonLeaf(pd, BigInt(pt) | bits(false));
          entry(pt, BigInt(small) | bits(true));
          targets.push({ va, large: false, phys: small });
        }
      }
    }
    // The target: UD2 then a recognisable word, so fetches fault with #UD and reads see a value.
    A(`mov dword [${hex(small)}], ${hex(0x5a5a0b0f)}`);
    A(`mov dword [${hex(largeSlot)}], ${hex(0xa5a50b0f)}`);
  }

  // Control bits, then paging on (or, in long mode, the new tables).
  if (nxe) {
    A('mov ecx, 0xc0000080');
    A('rdmsr');
    A('or eax, 0x800');
    A('wrmsr');
  }
  if (five) {
    // CR4.PAE and CR4.LA57, CR3, EFER.LME, then CR0.PG: IA-32e mode with 5-level paging (SDM Vol. 3A, "Initializing IA-32e Mode").
    A(`mov eax, ${hex(root)}`);
    A('mov cr3, eax');
    A('mov eax, cr4');
    A('or eax, 0x1020');
    A('mov cr4, eax');
    A('mov ecx, 0xc0000080');
    A('rdmsr');
    A('or eax, 0x100');
    A('wrmsr');
    A('mov eax, cr0');
    A('and eax, 0x9fffffff');
    A(`or eax, ${hex((0x80000000 | (wp ? 0x10000 : 0)) >>> 0)}`);
    A('mov cr0, eax');
    A('jmp 0x08:long_entry');
    lines.push('bits 64', 'long_entry:', ...descriptorSetup(true));
  } else if (long) {
    A('mov rax, cr0');
    A(wp ? 'or eax, 0x10000' : 'and eax, 0xfffeffff');
    A('mov cr0, rax');
    A(`mov eax, ${hex(root)}`);
    A('mov cr3, rax');
  } else {
    A(`mov eax, ${hex(root)}`);
    A('mov cr3, eax');
    A('mov eax, cr4');
    A(`or eax, ${hex((pse ? 0x10 : 0) | (mode === 'pae' ? 0x20 : 0))}`);
    A('mov cr4, eax');
    A('mov eax, cr0');
    // Caching on (CD = NW = 0) as an OS would; KVM here refuses PG with CD = NW = 1 (KVM's reset value).
    A('and eax, 0x9fffffff');
    A(`or eax, ${hex((0x80000000 | (wp ? 0x10000 : 0)) >>> 0)}`);
    A('mov cr0, eax');
  }

  // Probes: fetch, read, write; ring 0 then ring 3.
  let label = 0;
  for (const t of targets) {
    for (const kind of ['fetch', 'read', 'write'] as const) {
      for (const ring of [0, 3]) {
        const resume = `.r${label++}`;
        A(`mov ${long ? 'qword' : 'dword'} [${hex(RESUME)}], ${resume}`);
        A(`mov [${hex(SAVESP)}], ${long ? 'rsp' : 'esp'}`);
        if (long) A(`mov rsi, ${hex(t.va)}`);
        else A(`mov esi, ${hex(t.va)}`);
        A(`mov eax, ${hex(MARKER)}`);
        if (ring === 0) {
          if (kind === 'fetch') A(long ? 'jmp rsi' : 'jmp esi');
          else if (kind === 'read') A(`mov eax, [${long ? 'rsi' : 'esi'}]`);
          else A(`mov [${long ? 'rsi' : 'esi'}], eax`);
          A('ud2');
        } else if (long) {
          A('push 0x23');
          A('push 0x8f000');
          A('push 0x2');
          A('push 0x1b');
          A(`push user_${kind}`);
          A('iretq');
        } else {
          A('mov dx, 0x23');
          A('mov ds, dx');
          A('mov es, dx');
          A('push 0x23');
          A('push 0x8f000');
          A('push 0x1b');
          A(`push user_${kind}`);
          A('retf');
        }
        lines.push(`${resume}:`);
      }
    }
  }
  A('hlt');

  // Ring-3 probe bodies.
  const si = long ? 'rsi' : 'esi';
  lines.push('user_fetch:', `  jmp ${si}`, 'user_read:', `  mov eax, [${si}]`, '  ud2', 'user_write:', `  mov [${si}], eax`, '  ud2');

  // The handler: log vector, error code, CR2, RIP, CS and EAX, then resume.
  lines.push('handler:');
  if (long) {
    A(`mov rbx, [${hex(LOG_BASE)}]`);
    A('shl rbx, 5');
    A(`add rbx, ${hex(LOG_BASE + 32)}`);
    A('mov rdx, [rsp]');
    A('mov [rbx], edx');
    A('mov rdx, [rsp+8]');
    A('mov [rbx+4], edx');
    A('mov rdx, cr2');
    A('mov [rbx+8], rdx');
    A('mov rdx, [rsp+16]');
    A('mov [rbx+16], rdx');
    A('mov [rbx+24], eax');
    A('mov rdx, [rsp+24]');
    A('mov [rbx+28], edx');
    A(`inc qword [${hex(LOG_BASE)}]`);
    A(`mov rsp, [${hex(SAVESP)}]`);
    A(`jmp [${hex(RESUME)}]`);
  } else {
    A('mov bx, 0x10');
    A('mov ds, bx');
    A('mov es, bx');
    A(`mov ebx, [${hex(LOG_BASE)}]`);
    A('shl ebx, 5');
    A(`add ebx, ${hex(LOG_BASE + 32)}`);
    A('mov edx, [esp]');
    A('mov [ebx], edx');
    A('mov edx, [esp+4]');
    A('mov [ebx+4], edx');
    A('mov edx, cr2');
    A('mov [ebx+8], edx');
    A('mov edx, [esp+8]');
    A('mov [ebx+16], edx');
    A('mov [ebx+24], eax');
    A('mov edx, [esp+12]');
    A('mov [ebx+28], edx');
    A(`inc dword [${hex(LOG_BASE)}]`);
    A(`mov esp, [${hex(SAVESP)}]`);
    A(`jmp [${hex(RESUME)}]`);
  }
  lines.push(...descriptorData(long, 'handler'));
  if (five) lines.push('align 8', 'gdtr32:', `  dw ${7 * 8 - 1}`, `  dd ${hex(0x500)}`);
  return {
    seed,
    mode,
    source: lines.join('\n') + '\n',
    execMode: long && !five ? 'long64' : 'prot32',
    cases,
    caseNonLeaf,
    reservedLarge,
    dump: { addr: LOG_BASE, len: nextTable - LOG_BASE },
  };
}
