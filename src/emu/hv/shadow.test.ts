/**
 * Shadow paging (shadow.ts): the shadow MMU on its own against the guest walk (a property over
 * random guest tables, edits, invalidations and CR3 switches), and a handwritten guest under both
 * backends whose hidden and true faults, emulated writes, INVLPG and CR3 switches are counted.
 * The generated programs are in tests/oracle (transparency.test.ts, shadow-paging.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine, runBare } from '../machine/bare.ts';
import { PhysMem } from '../mem/physmem.ts';
import type { EntryMemory, PagingControl } from '../mmu/types.ts';
import { walk } from '../mmu/walk.ts';
import { runUnder } from './exec.ts';
import { SHADOW_POOL_SIZE, ShadowMmu, type ShadowFormat, type ShadowRecord } from './shadow.ts';

const LOAD = 0x100000;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

describe('the shadow MMU against the guest walk', () => {
  // Guest RAM: 4 MiB at guest-physical 0, host-physical 8 MiB; the pool at 2 MiB (outside it).
  const RAM = 0x400000;
  const HPA = 0x800000;
  const POOL = 0x200000;

  it('for random guest tables, edits, invalidations and CR3 switches: every translation is the guest walk composed with GPA → HPA, or its fault', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.boolean(), (seed, long) => {
        const r = rng(seed);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
        const mem = new PhysMem(16 * 0x100000);
        const gmem: EntryMemory = { read: (a, n) => mem.read(HPA + a, n), write: (a, n, v) => mem.write(HPA + a, n, v) };
        const wp = r() < 0.5;
        const nxe = long && r() < 0.6;
        const pse = !long && r() < 0.7;
        // Two address spaces, each with its own tables at guest-physical 0x1000 + 0x10000 × k.
        const roots = [0x10000, 0x20000];
        const regs = { cr0: 0x80000011 | (wp ? 0x10000 : 0), cr3: roots[0]!, cr4: (pse ? 0x10 : 0) | (long ? 0x20 : 0), efer: long ? 0x500 | (nxe ? 0x800 : 0) : 0 };
        let root = 0;
        let format: ShadowFormat = '32bit';
        const sh = new ShadowMmu({
          pool: POOL, guestRam: { size: RAM, hpaBase: HPA },
          host: {
            mem, maxPhysAddr: 48, page1gb: false, guestRegs: () => regs,
            loadRoot: (rt, f) => ((root = rt), (format = f)),
            enterOnce: () => { throw new Error('not in this test'); },
            flushTlb: () => {},
          },
        });
        // Random entries: frames anywhere in the guest's RAM (tables included), random rights and A/D,
        // sometimes not present, sometimes a large page, sometimes a reserved bit.
        const entries: number[] = [];
        const size = long ? 8 : 4;
        const randomEntry = (at: number, next: number | null): void => {
          let lo = r() < 0.15 ? 0 : 1;
          if (r() < 0.8) lo |= 2;
          if (r() < 0.7) lo |= 4;
          if (r() < 0.3) lo |= 0x20;
          if (r() < 0.3) lo |= 0x40;
          let hi = 0;
          const frame = next ?? Math.floor(r() * (RAM / 0x1000)) * 0x1000;
          lo = (lo | frame) >>> 0;
          if (long && r() < 0.3) hi |= 0x80000000;
          if (r() < 0.04) hi |= 0x00010000; // bit 48: reserved with MAXPHYADDR 48 (32-bit paging: ignored high half)
          gmem.write(at, 4, lo);
          if (long) gmem.write(at + 4, 4, hi);
          entries.push(at);
        };
        for (const base of roots) {
          if (long) {
            // PML4 → PDPT → PD → 4 PTs (and a 2-MByte page sometimes), linear 0..8 MiB.
            for (let i = 0; i < 0x1000; i += 4) for (const t of [0, 1, 2, 3, 4, 5, 6]) gmem.write(base + t * 0x1000 + i, 4, 0);
            gmem.write(base, 4, (base + 0x1000) | 7);
            gmem.write(base + 0x1000, 4, (base + 0x2000) | 7);
            for (let d = 0; d < 4; d++) {
              if (r() < 0.2) {
                gmem.write(base + 0x2000 + d * 8, 4, ((r() < 0.5 ? 0 : 0x200000) | 0x80 | 7 | (r() < 0.5 ? 0x20 : 0)) >>> 0);
                entries.push(base + 0x2000 + d * 8);
              } else randomEntry(base + 0x2000 + d * 8, base + 0x3000 + d * 0x1000);
              for (let p = 0; p < 16; p++) randomEntry(base + 0x3000 + d * 0x1000 + p * 8, null);
            }
          } else {
            for (let i = 0; i < 0x1000; i += 4) for (const t of [0, 1, 2, 3, 4]) gmem.write(base + t * 0x1000 + i, 4, 0);
            for (let d = 0; d < 4; d++) {
              if (pse && r() < 0.2) {
                gmem.write(base + d * 4, 4, (0x80 | 7 | (r() < 0.5 ? 0x40 : 0)) >>> 0);
                entries.push(base + d * 4);
              } else randomEntry(base + d * 4, base + 0x1000 + d * 0x1000);
              for (let p = 0; p < 16; p++) randomEntry(base + 0x1000 + d * 0x1000 + p * 4, null);
            }
          }
        }
        expect(sh.sync('start')).toBeNull();
        const gctl = (): PagingControl => ({
          mode: long ? '4level' : '32bit', cr3Lo: regs.cr3, cr3Hi: 0, wp, pse, pge: false, pcide: false, nxe, pdpte: new Uint32Array(8), maxPhysAddr: 48, page1gb: false,
        });
        const sctl = (): PagingControl => ({
          mode: format === '4level' ? '4level' : '32bit', cr3Lo: root, cr3Hi: 0, wp: true, pse: false, pge: false, pcide: false, nxe, pdpte: new Uint32Array(8), maxPhysAddr: 48, page1gb: false,
        });
        const invariants = (): void => {
          for (const [slot, leaf] of sh.leaves) {
            const lo = mem.read(slot, 4);
            expect(lo & 1, 'a leaf is present').toBe(1);
            expect(lo - (lo % 0x1000), 'a leaf maps GPA → HPA').toBe(HPA + leaf.gfn);
            if (sh.ptRefs.has(leaf.gfn)) expect(lo & 2, `a page-table page (0x${leaf.gfn.toString(16)}) is mapped read-only`).toBe(0);
          }
        };
        for (let op = 0; op < 120; op++) {
          const what = r();
          if (what < 0.12) {
            // The guest edits an entry (its write exits if the page is write-protected, and the
            // hypervisor zaps what was derived from the entry), then invalidates as it must.
            const at = pick(entries);
            const lo = gmem.read(at, 4) ^ pick([1, 2, 4, 0x20, 0x40, 0x1000, 0x3000]);
            gmem.write(at, 4, lo >>> 0);
            if (sh.ptRefs.has(at - (at % 0x1000))) sh.entriesChanged(0, at - (at % 0x1000), [at]);
            if (r() < 0.5) sh.invlpg(Math.floor(r() * 4) * (long ? 0x200000 : 0x400000));
          } else if (what < 0.16) {
            regs.cr3 = pick(roots);
            expect(sh.sync('cr3')).toBeNull();
          } else {
            const d = Math.floor(r() * 4);
            const p = Math.floor(r() * 16);
            const gva = d * (long ? 0x200000 : 0x400000) + p * 0x1000 + Math.floor(r() * 0x1000 / size) * size;
            const access = { write: r() < 0.4, user: r() < 0.5, fetch: false };
            access.fetch = !access.write && r() < 0.3;
            const ref = walk(gmem, gctl(), gva, 0, access, false);
            // The processor on the shadow; a #PF exits to the shadow MMU, which fills and resumes (hidden) or reflects (true).
            let hw = walk(mem, sctl(), gva, 0, access, true);
            if (!hw.ok) {
              const f = sh.classify(gva, hw.fault.errorCode);
              if (f.kind === 'true') {
                expect(ref.ok, `0x${gva.toString(16)}: true fault but the guest walk succeeds`).toBe(false);
                if (!ref.ok) expect(f.errorCode).toBe(ref.fault.errorCode);
                continue;
              }
              expect(ref.ok, `0x${gva.toString(16)}: ${f.kind} but the guest walk faults`).toBe(true);
              if (f.kind === 'pt-write') {
                // A write to one of the guest's page tables: emulated (the instruction runs once with it writable).
                expect(access.write).toBe(true);
                if (ref.ok) expect(sh.ptRefs.has(ref.pa - (ref.pa % 0x1000))).toBe(true);
                continue;
              }
              expect(f.kind).toBe('hidden');
              hw = walk(mem, sctl(), gva, 0, access, true);
              expect(hw.ok, `0x${gva.toString(16)}: the fill did not allow the access`).toBe(true);
            } else expect(ref.ok, `0x${gva.toString(16)}: the shadow allows what the guest walk refuses`).toBe(true);
            if (hw.ok && ref.ok) expect(hw.pa).toBe(HPA + ref.pa);
          }
          invariants();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a pool inside the guest\u2019s RAM and a PAE guest', () => {
    const mem = new PhysMem(16 * 0x100000);
    const host = { mem, maxPhysAddr: 48, page1gb: false, guestRegs: () => ({ cr0: 0x80000011, cr3: 0x1000, cr4: 0x20, efer: 0 }), loadRoot: () => {}, enterOnce: () => { throw new Error('no'); }, flushTlb: () => {} };
    expect(() => new ShadowMmu({ pool: HPA + 0x1000, guestRam: { size: RAM, hpaBase: HPA }, host })).toThrow(/inside the guest/);
    expect(() => new ShadowMmu({ pool: HPA - SHADOW_POOL_SIZE / 2, guestRam: { size: RAM, hpaBase: HPA }, host })).toThrow(/inside the guest/);
    expect(new ShadowMmu({ pool: POOL, guestRam: { size: RAM, hpaBase: HPA }, host }).sync('start')).toMatch(/PAE paging/);
  });
});

/**
 * A 32-bit guest with its own IDT and two address spaces: PD A maps 0-4 MiB with one 4-MByte page
 * and 4-8 MiB through a page table whose entry 0 maps linear 0x400000 to 0x300000 and entry 1 is
 * not present; PD B maps 0x400000 to 0x302000. It turns on paging, writes 0x400000, reads 0x401000
 * (a #PF its handler fixes by writing entry 1, then the read runs again), rewrites entry 0 to
 * 0x303000 and INVLPGs, writes there, switches to B, reads and writes, switches back to A, reads,
 * and reads entry 0 back (A and D set by the walks).
 */
const HAND = `
mov dword [0x8], 0x0000ffff
mov dword [0xc], 0x00cf9b00
mov eax, pf
mov word [0x70], ax
mov word [0x72], 0x8
mov word [0x74], 0x8e00
shr eax, 16
mov word [0x76], ax
mov dword [0x200000], 0x83
mov dword [0x200004], 0x202003
mov dword [0x202000], 0x300003
mov dword [0x201000], 0x83
mov dword [0x201004], 0x203003
mov dword [0x203000], 0x302003
mov eax, cr4
or eax, 0x10
mov cr4, eax
mov eax, 0x200000
mov cr3, eax
mov eax, cr0
or eax, 0x80000000
mov cr0, eax
mov dword [0x400000], 0x11111111
mov ebx, [0x401000]
mov dword [0x202000], 0x303003
invlpg [0x400000]
mov dword [0x400000], 0x22222222
mov eax, 0x201000
mov cr3, eax
mov ecx, [0x400000]
mov dword [0x400000], 0x33333333
mov eax, 0x200000
mov cr3, eax
mov edx, [0x400000]
mov ebp, [0x202000]
mov eax, cr3
hlt
pf:
inc esi
mov edi, cr2
mov dword [0x202004], 0x301007
add esp, 4
iretd
`;

describe.each(['vtx', 'svm'] as const)('a handwritten page-table guest under %s with shadow paging', (under) => {
  const asm = assemble(HAND, { bits: 32, origin: LOAD });
  if (!asm.ok) throw new Error(JSON.stringify(asm.errors));
  const bare = runBare({ mode: 'prot32', load: LOAD, code: asm.bytes, maxSteps: 10_000 });
  const run = runUnder(under, { mode: 'prot32', load: LOAD, code: asm.bytes, maxSteps: 10_000, paging: 'shadow' });
  const records = run.hypervisor.log.flatMap((e) => e.shadow ?? []);
  const of = <K extends ShadowRecord['op']>(op: K) => records.filter((x): x is Extract<ShadowRecord, { op: K }> => x.op === op);

  it('ends as the bare run: registers, the frames it wrote, its tables with A and D', () => {
    expect(run.result.end).toBe('hlt');
    expect(run.result.regs).toEqual(bare.regs);
    expect(bare.regs).toMatchObject({ rdx: 0x22222222, rsi: 1, rdi: 0x401000, rbp: 0x303063, cr3: 0x200000 });
    // The bare machine's memory after the same run.
    const b = createBareMachine({ mode: 'prot32', load: LOAD, code: asm.bytes });
    b.cpu.run(10_000);
    const bareMem = b.mem;
    for (let a = 0x200000; a < 0x204000; a += 4) expect(run.mem.read(a, 4), `0x${a.toString(16)}`).toBe(bareMem.read(a, 4));
    for (let a = 0x300000; a < 0x304000; a += 4) expect(run.mem.read(a, 4), `0x${a.toString(16)}`).toBe(bareMem.read(a, 4));
  });

  it('counts one true fault, two emulated writes, one INVLPG, three CR3 loads (one miss, two hits)', () => {
    const s = run.result.hv.shadow!;
    // The read of 0x401000 (entry 1 not present), reflected with the guest walk's error code (0: read, supervisor, not present).
    expect(s.trueFaults).toBe(1);
    expect(of('true-fault')).toEqual([{ op: 'true-fault', gva: 0x401000, errorCode: 0 }]);
    // The writes to the page table at 0x202000 after it was used: entry 0 by the program, entry 1 by the handler.
    expect(s.emulatedWrites).toBe(2);
    expect(of('emulated-write').map((w) => [w.gpa, w.changed])).toEqual([[0x202000, [0x202004]], [0x202000, [0x202000]]]);
    expect(s.invlpgs).toBe(1);
    // CR3 loads: 0x200000 with paging off (the identity shadow, a hit), then B (a miss), then A again (a hit).
    expect([s.cr3Switches, s.cacheMisses, s.cacheHits]).toEqual([3, 1, 2]);
    expect(of('cr3').map((c) => [c.cr3, c.hit])).toEqual([[-1, true], [0x201000, false], [0x200000, true]]);
    // The guest never sees a hidden fault: every one is a first touch of a page (or a write to a
    // page filled read-only until its D was set), filled and resumed; two arrive while the
    // processor delivers the true #PF (the IDT at 0 and the stack page), and the #PF is injected again.
    expect(s.hiddenFaults).toBe(of('hidden-fault').length);
    expect(run.hypervisor.log.filter((e) => /injected again/.test(e.note)).map((e) => e.note.split(':')[0])).toEqual(['hidden #PF at 0x70 (error code 0x0)', 'hidden #PF at 0x7fffc (error code 0x2)']);
    expect(s.hiddenFaults).toBe(16);
    // Two shadow resets: CR4.PSE and CR0.PG change how the guest's tables read.
    expect(s.resets).toBe(2);
  });
});

/**
 * A 32-bit guest with paging off that enters IA-32e mode itself (CR4.PAE, EFER.LME, then CR0.PG):
 * under shadow paging LME is kept from the processor while the guest's paging is off (it runs with
 * paging on underneath), and the shadow changes from 32-bit to 4-level tables at the switch.
 */
const TO_LONG = `
mov dword [0x10000], 0x11003
mov dword [0x11000], 0x12003
mov dword [0x12000], 0x83
mov eax, cr4
or eax, 0x20
mov cr4, eax
mov eax, 0x10000
mov cr3, eax
mov ecx, 0xc0000080
rdmsr
or eax, 0x100
wrmsr
rdmsr
mov edi, eax
mov eax, cr0
or eax, 0x80000000
mov cr0, eax
mov dword [0x1000], 0x1234
mov ebx, [0x1000]
mov ecx, 0xc0000080
rdmsr
mov esi, eax
mov ebp, [0x12000]
hlt
`;

describe.each(['vtx', 'svm'] as const)('a guest entering IA-32e mode under %s', (under) => {
  it.each(['shadow', 'nested'] as const)('with %s paging ends as the bare run (EFER.LME while paging is off, then LMA)', (paging) => {
    const asm = assemble(TO_LONG, { bits: 32, origin: LOAD });
    if (!asm.ok) throw new Error(JSON.stringify(asm.errors));
    const bare = runBare({ mode: 'prot32', load: LOAD, code: asm.bytes, maxSteps: 1000 });
    const run = runUnder(under, { mode: 'prot32', load: LOAD, code: asm.bytes, maxSteps: 1000, paging });
    expect(run.result.error).toBeUndefined();
    expect(run.result.regs).toEqual(bare.regs);
    // EFER read back: LME alone while paging is off, then LME and LMA; the PDE got A and D.
    expect([bare.regs.rdi, bare.regs.rsi, bare.regs.rbx, bare.regs.rbp]).toEqual([0x100, 0x500, 0x1234, 0xe3]);
    if (paging === 'shadow') expect(run.vm.backend.shadow!.format).toBe('4level');
  });
});
