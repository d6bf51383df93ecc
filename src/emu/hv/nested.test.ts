/**
 * Nested paging in the hypervisor (EPT under VT-x, NPT under AMD-V), MMIO through EPT violations
 * and nested page faults, the hypervisor's area out of the guest's reach, and the optional exits,
 * each with a real assembled guest under both backends, beside the same program run bare.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { runBare, type ExecResult } from '../machine/bare.ts';
import type { MmioHandler } from '../mem/physmem.ts';
import { CONTROL_BITS } from '../vmx/controls.ts';
import { INTERCEPT } from '../svm/intercepts.ts';
import { createVm, HV_AREA, runUnder, type HvBackendId, type HvExecRun, type HvExtra } from './exec.ts';
import { EXIT_OPTIONS as SVM_EXIT_OPTIONS, REQUIRED_CONTROLS as SVM_REQUIRED, type SvmBackend } from './svm-backend.ts';
import { EXIT_OPTIONS as VMX_EXIT_OPTIONS, REQUIRED_CONTROLS as VMX_REQUIRED, type VmxBackend } from './vmx-backend.ts';
import { buildNestedMap, directMapProblem, mapDirect, MMIO_WINDOW_HPA, NESTED_TABLES_SIZE, nestedTablesSize } from './nested-map.ts';
import { PhysMem } from '../mem/physmem.ts';

const LOAD = 0x100000;
type Mode = 'prot32' | 'long64';

function bytes(src: string, mode: Mode): Uint8Array {
  const r = assemble(src, { bits: mode === 'prot32' ? 32 : 64, origin: LOAD });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.bytes;
}

const run = (under: HvBackendId, src: string, mode: Mode = 'prot32', extra: HvExtra = {}, nested = true): HvExecRun =>
  runUnder(under, { mode, load: LOAD, code: bytes(src, mode), maxSteps: 10_000, nested }, extra);
const bare = (src: string, mode: Mode = 'prot32'): ExecResult => runBare({ mode, load: LOAD, code: bytes(src, mode), maxSteps: 10_000 });
const lines = (...l: string[]): string => l.join('\n');
const count = (r: HvExecRun, code: number): number => Object.values(r.result.hv.exits).filter((e) => e.code === code).reduce((a, e) => a + e.count, 0);

/** A device that answers reads with fixed values and records every access. */
function device(): MmioHandler & { log: (string | number)[][] } {
  const log: (string | number)[][] = [];
  return {
    log,
    readHi: 0xabcdef01,
    read(pa, size) {
      log.push(['read', pa, size]);
      return 0x12345678;
    },
    write(pa, size, value, valueHi) {
      log.push(['write', pa, size, value >>> 0, valueHi >>> 0]);
    },
  };
}

const MMIO_EXIT: Record<Exclude<HvBackendId, 'trap-emulate' | 'bt'>, number> = { svm: 0x400, vtx: 48 };

describe.each(['svm', 'vtx'] as const)('MMIO through nested faults under %s', (under) => {
  it('a write and reads reach the attached device with address, size and value; RIP advances; the exit says what the access was', () => {
    const dev = device();
    const src = lines('mov dword [0x8000010], 0xcafe', 'mov eax, [0x8000020]', 'mov bx, [0x8000030]', 'mov ecx, 7', 'hlt');
    const r = run(under, src, 'prot32', { mmio: dev });
    expect(r.result.end).toBe('hlt');
    expect(dev.log).toEqual([['write', 0x8000010, 4, 0xcafe, 0], ['read', 0x8000020, 4], ['read', 0x8000030, 2]]);
    expect([r.result.regs.rax, Number(r.result.regs.rbx) & 0xffff, r.result.regs.rcx]).toEqual([0x12345678, 0x5678, 7]);
    expect(count(r, MMIO_EXIT[under])).toBe(3);
    const [w, rd] = r.hypervisor.log;
    const flush = `; page unmapped again, cached translations flushed (${under === 'vtx' ? 'INVEPT' : 'TLB_CONTROL'})`;
    expect(w).toMatchObject({ kind: 'mmio', action: 'forwarded', note: `mmio write 0x8000010 4 bytes value 0xcafe${flush}` });
    expect(rd!.note).toBe(`mmio read 0x8000020 4 bytes${flush}`);
    expect(r.result.hv.cost.byWork.mmio?.count).toBe(3);
    if (under === 'svm') {
      // EXITINFO1: not present (P = 0), RW for the write, US (nested walks are user accesses); the
      // guest's paging is off, so neither bit 32 (final GPA) nor 33 (guest table). EXITINFO2: the GPA.
      expect(w!.raw.exit_info_1).toBe(0x6n);
      expect(rd!.raw.exit_info_1).toBe(0x4n);
      expect(w!.raw.exit_info_2).toBe(0x8000010n);
    } else {
      // Table 28-7: bit 1 write / bit 0 read, bits 3..5 clear (nothing mapped), 7 and 8 (a linear address, translated).
      expect(w!.raw.exit_qualification! & 0x3fn).toBe(0x2n);
      expect(rd!.raw.exit_qualification! & 0x3fn).toBe(0x1n);
      expect(w!.raw.exit_qualification! & 0x180n).toBe(0x180n);
      expect(w!.raw.guest_physical_address).toBe(0x8000010n);
    }
  });

  it('an access across two MMIO pages, and one across the end of RAM, are one exit each with the bare run\u2019s records', () => {
    const src = lines('mov eax, 0x11223344', 'mov dword [0x8000ffe], eax', 'mov ebx, [0x3fffffe]', 'mov dword [0x3fffffe], eax', 'hlt');
    const b = bare(src);
    const r = run(under, src);
    expect(r.result.exits).toEqual(b.exits);
    expect(r.result.regs).toEqual(b.regs);
    expect(b.exits).toHaveLength(4);
    expect(count(r, MMIO_EXIT[under])).toBe(3);
    expect(r.hypervisor.log[0]!.note).toBe(`mmio write 0x8000ffe 2 bytes value 0x3344; mmio write 0x8001000 2 bytes value 0x1122; page unmapped again, cached translations flushed (${under === 'vtx' ? 'INVEPT' : 'TLB_CONTROL'})`);
  });

  it('under the guest\u2019s own 4-level paging: an 8-byte read gets both halves, and the exit says it was the final address', () => {
    const dev = device();
    // The bare long64 start maps the first GiB; map linear 0x40000000 (PDPT[1] → a PD at 0x30000) to 0x8000000 (MMIO).
    const src = lines('mov qword [0x30000], 0x8000083', 'mov qword [0x2008], 0x30003', 'mov rax, [0x40000008]', 'hlt');
    const r = run(under, src, 'long64', { mmio: dev });
    expect(dev.log).toEqual([['read', 0x8000008, 8]]);
    expect(r.result.regs.rax).toBe((0xabcdef01n * 0x100000000n + 0x12345678n).toString());
    const e = r.hypervisor.log.find((x) => x.kind === 'mmio')!;
    if (under === 'svm') expect(e.raw.exit_info_1! >> 32n).toBe(1n);
    else expect(e.raw.exit_qualification! & 0x181n).toBe(0x181n);
    // With the bare machine's log as the device, the records are the bare run's.
    const b = bare(src, 'long64');
    const l = run(under, src, 'long64');
    expect(l.result.exits).toEqual(b.exits);
    expect(l.result.regs).toEqual(b.regs);
  });

  it('guests with paging off and with 4-level paging run on the nested tables as they run bare', () => {
    // prot32: paging off, then the guest turns on 32-bit paging with a 4-MByte identity page.
    const p32 = lines(
      'mov dword [0x200000], 0x5a5a', 'mov eax, [0x200000]',
      'mov dword [0x10000], 0x87', 'mov eax, cr4', 'or eax, 0x10', 'mov cr4, eax',
      'mov eax, 0x10000', 'mov cr3, eax', 'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax',
      'mov esi, [0x200000]', 'mov edi, cr0', 'hlt',
    );
    const a = run(under, p32);
    expect(a.result.hv.nested).toBe(true);
    expect(a.result.regs).toEqual(bare(p32).regs);
    expect(a.result.regs.rsi).toBe(0x5a5a);
    const p64 = lines('mov rbx, 0x123456789', 'mov [0x3ff000], rbx', 'mov rcx, [0x3ff000]', 'mov rdx, cr3', 'hlt');
    const b = run(under, p64, 'long64');
    expect(b.result.regs).toEqual(bare(p64, 'long64').regs);
    expect(b.result.regs.rdx).toBe(0x1000);
    // No exits but the HLT: the guest's paging (on or off) is its own business under nested paging.
    expect(b.result.hv.exitTotal).toBe(1);
  });

  it('the hypervisor\u2019s area is out of reach: an access there is MMIO, not the VMCB/VMCS or the I/O bitmap', () => {
    const bitmap = HV_AREA + (under === 'svm' ? 0x2000 : 0x6000);
    // Zero the bitmap bits of port 0xE9 (byte 0x1D), read where the VMCB / VMCS lies, then OUT to 0xE9.
    const src = lines(`mov dword [${bitmap + 0x1c}], 0`, `mov esi, [${HV_AREA + 0x1000}]`, 'mov al, 1', 'out 0xe9, al', 'hlt');
    const r = run(under, src);
    const b = bare(src);
    expect(r.result.exits).toEqual(b.exits);
    expect(r.result.exits.slice(0, 2).map((e) => e.kind)).toEqual(['mmio', 'mmio']);
    expect(r.result.regs.rsi).toBe(0xffffffff);
    expect(r.mem.read(bitmap + 0x1c, 4)).toBe(0xffffffff);
    expect(count(r, under === 'svm' ? 0x7b : 30)).toBe(1);
  });

  it('a nested fault that is not MMIO ends the VM with an error naming it', () => {
    const vm = createVm(under, { mode: 'prot32', load: LOAD, code: bytes(lines('mov eax, [0x200000]', 'hlt'), 'prot32') });
    const map = (vm.backend as SvmBackend | VmxBackend).map!;
    // The PD entry of guest-physical 2 MiB: NPT, a reserved bit (51); EPT, write without read (a misconfiguration).
    const pde = map.tableArea + 0x2000 + 8;
    if (under === 'svm') vm.machine.mem.write(pde + 4, 4, 1 << 19);
    else vm.machine.mem.write(pde, 4, (vm.machine.mem.read(pde, 4) & ~0x7) | 0x2);
    const end = vm.hypervisor.run(1000);
    expect(end.kind).toBe('error');
    expect(end.kind === 'error' && end.why).toMatch(under === 'svm' ? /VMEXIT_NPF.*0x200000.*reserved bit/ : /EPT_MISCONFIG.*EPT misconfiguration at guest-physical 0x200000/);
  });
});

describe.each(['svm', 'vtx'] as const)('optional exits under %s', (under) => {
  const names = (r: HvExecRun): string[] => Object.keys(r.result.hv.exits);

  it('RDTSC: emulated with the guest\u2019s TSC, equal to the bare value; not exiting by default', () => {
    const src = lines('mov ecx, 5', 'nop', 'rdtsc', 'mov esi, eax', 'mov edi, edx', 'rdtsc', 'hlt');
    const b = bare(src);
    const on = run(under, src, 'prot32', { exits: { rdtsc: true } });
    const off = run(under, src);
    expect(on.result.regs).toEqual(b.regs);
    expect(off.result.regs).toEqual(b.regs);
    expect(count(on, under === 'svm' ? 0x6e : 16)).toBe(2);
    expect(count(off, under === 'svm' ? 0x6e : 16)).toBe(0);
    expect(on.hypervisor.log[0]).toMatchObject({ kind: 'rdtsc', action: 'emulated' });
    expect(on.result.hv.steps).toBe(b.hv.steps);
  });

  if (under === 'svm') {
    it('RDTSC with a TSC_OFFSET: the emulated value is what the processor gives the guest natively', () => {
      const src = lines('nop', 'rdtsc', 'mov esi, eax', 'mov edi, edx', 'hlt');
      const got = [true, false].map((rdtsc) => {
        const vm = createVm('svm', { mode: 'prot32', load: LOAD, code: bytes(src, 'prot32') }, { exits: { rdtsc } });
        (vm.backend as SvmBackend).vmcb.write64('tsc_offset', { lo: 0x1000, hi: 1 });
        expect(vm.hypervisor.run(1000).kind).toBe('hlt');
        const s = vm.backend.report();
        return [s.gpr[6], s.gpr[7]];
      });
      expect(got[0]).toEqual(got[1]);
      expect(got[0]![1]).toBe(1n);
      expect(got[0]![0]).toBe(BigInt(0x1000 + 1));
    });
  }

  it('INVLPG: exits with the linear address, RIP advances, and the guest sees the new mapping as bare', () => {
    // Linear 0xA00000 through a page table at 0x20000: first to 0x400000, then to 0x401000 and INVLPG.
    const src = lines(
      'mov dword [0x400000], 0x1111', 'mov dword [0x401000], 0x2222',
      'mov qword [0x20000], 0x400003', 'mov qword [0x3028], 0x20003', 'mov rax, cr3', 'mov cr3, rax',
      'mov eax, [0xa00000]', 'mov qword [0x20000], 0x401003', 'invlpg [0xa00000]', 'mov ecx, [0xa00000]', 'hlt',
    );
    const b = bare(src, 'long64');
    const on = run(under, src, 'long64', { exits: { invlpg: true } });
    const off = run(under, src, 'long64');
    expect(on.result.regs).toEqual(b.regs);
    expect(off.result.regs).toEqual(b.regs);
    expect([on.result.regs.rax, on.result.regs.rcx]).toEqual([0x1111, 0x2222]);
    const e = on.hypervisor.log.find((x) => x.kind === 'invlpg')!;
    expect(e.raw[under === 'svm' ? 'exit_info_1' : 'exit_qualification']).toBe(0xa00000n);
    expect(count(off, under === 'svm' ? 0x79 : 14)).toBe(0);
  });

  it('CR3: reads and writes exit to the CR handler when asked, and not otherwise', () => {
    const src = lines('mov rax, cr3', 'mov cr3, rax', 'mov rbx, cr3', 'hlt');
    const b = bare(src, 'long64');
    const on = run(under, src, 'long64', { exits: { cr3: true } });
    const off = run(under, src, 'long64');
    expect(on.result.regs).toEqual(b.regs);
    expect(off.result.regs).toEqual(b.regs);
    const cr = (r: HvExecRun): number => r.hypervisor.log.filter((e) => e.kind === 'cr').length;
    expect([cr(on), cr(off)]).toEqual([3, 0]);
    if (under === 'svm') expect(names(on)).toEqual(expect.arrayContaining(['VMEXIT_CR3_READ', 'VMEXIT_CR3_WRITE']));
    else expect(names(on)).toContain('EXIT_REASON_CR_ACCESS');
  });

  it('HLT: with hlt off the guest halts in the CPU, no exit, and the run ends "hlt" after the same steps', () => {
    const src = lines('mov eax, 3', 'hlt');
    const b = bare(src);
    const r = run(under, src, 'prot32', { exits: { hlt: false } });
    expect(r.result.end).toBe('hlt');
    expect(r.result.hv.exitTotal).toBe(0);
    expect(r.result.regs).toEqual(b.regs);
    expect(r.result.hv.steps).toBe(b.hv.steps);
  });

  it('exceptions: a vector in the list exits and is reflected; the guest handles it as bare', () => {
    const src = lines(
      'mov dword [0x8], 0x0000ffff', 'mov dword [0xc], 0x00cf9b00',
      'mov eax, handler', 'mov word [24], ax', 'mov word [26], 0x8', 'mov word [28], 0x8e00', 'shr eax, 16', 'mov word [30], ax',
      'int3', 'mov ecx, 1', 'hlt', 'handler:', 'mov esi, 0x33', 'iretd',
    );
    const r = run(under, src, 'prot32', { exits: { exceptions: [3] } });
    expect(r.result.regs).toEqual(bare(src).regs);
    expect(r.hypervisor.log.find((e) => e.kind === 'exception')).toMatchObject({ action: 'reflected' });
  });
});

describe('the nested map and the exit tables', () => {
  it('maps guest RAM at hpaBase in 2-MByte pages and refuses tables inside it', () => {
    const mem = new PhysMem(0x800000);
    const m = buildNestedMap(mem, 0x600000, 0x400000, 0x200000, 'npt');
    // PML4[0] → PDPT, PDPT[0] → PD, PD[1] → host 0x400000 as a 2-MByte page (P, RW, US, PS).
    expect(mem.read(m.root, 4)).toBe(0x601007);
    expect(mem.read(0x601000, 4)).toBe(0x602007);
    expect(mem.read(0x602008, 4)).toBe(0x400087);
    expect(mem.read(0x602010, 4)).toBe(0);
    expect(() => buildNestedMap(mem, 0x300000, 0x400000, 0x200000, 'ept')).toThrow(/inside the guest/);
    const e = buildNestedMap(mem, 0x600000, 0x200000, 0, 'ept');
    expect(mem.read(0x602000, 4)).toBe(0xb7); // R W X, WB, PS
    expect(e.root).toBe(0x600000);
    expect(NESTED_TABLES_SIZE % 0x1000).toBe(0);
    expect(MMIO_WINDOW_HPA).toBeGreaterThan(0x800000);
  });

  it('maps guest RAM in 4-KByte pages with a page table per 2 MiB after the pass-through pool', () => {
    const mem = new PhysMem(0x1000000);
    expect(nestedTablesSize(0x400000, '4k')).toBe(NESTED_TABLES_SIZE + 2 * 0x1000);
    expect(nestedTablesSize(0x400000)).toBe(NESTED_TABLES_SIZE);
    const m = buildNestedMap(mem, 0x800000, 0x400000, 0x200000, 'npt', '4k');
    expect(m.pageSize).toBe('4k');
    const pt1 = 0x800000 + NESTED_TABLES_SIZE + 0x1000;
    // PD[1] → the second page table (not a large page); its entry 5 → host 0x400000 + 5 pages.
    expect(mem.read(0x802008, 4)).toBe(pt1 + 7);
    expect(mem.read(pt1 + 5 * 8, 4)).toBe(0x405007);
    expect(mem.read(0x802010, 4)).toBe(0);
    buildNestedMap(mem, 0x800000, 0x200000, 0, 'ept', '4k');
    expect(mem.read(0x802000, 4)).toBe(0x800000 + NESTED_TABLES_SIZE + 7); // R W X, a table
    expect(mem.read(0x800000 + NESTED_TABLES_SIZE + 511 * 8, 4)).toBe(0x1ff000 + 0x37); // R W X, WB, no PS
    // The table area grows with 4-KByte pages: 16 pages right below the guest's RAM fit with 2-MByte pages, not with 4-KByte ones.
    expect(() => buildNestedMap(mem, 0x600000 - NESTED_TABLES_SIZE, 0x200000, 0x600000, 'npt')).not.toThrow();
    expect(() => buildNestedMap(mem, 0x600000 - NESTED_TABLES_SIZE, 0x200000, 0x600000, 'npt', '4k')).toThrow(/inside the guest/);
  });

  it('maps an assigned BAR for good (mapDirect): 4-KByte uncached leaves (EPT memory type 0, NPT PWT and PCD) in the pool\u2019s last pages, unmapped again, refused inside RAM or across 2 MiB', () => {
    const mem = new PhysMem(0x1000000);
    const m = buildNestedMap(mem, 0x800000, 0x400000, 0, 'ept');
    const pd = 0x800000 + (NESTED_TABLES_SIZE / 0x1000 - 2) * 0x1000;
    const pt = pd + 0x1000;
    // Above 3 GiB: a PDPT entry the RAM does not use gets the direct PD, then its PT.
    mapDirect(mem, m, 0xe0000000, 0x2000, 0xc0000000);
    expect(mem.read(0x801000 + 3 * 8, 4)).toBe(pd + 7);
    expect(mem.read(pd + ((0xe0000000 / 0x200000) % 512) * 8, 4)).toBe(pt + 7);
    expect(mem.read(pt, 4)).toBe(0xc0000007); // R W X, memory type UC (0), no PS
    expect(mem.read(pt + 8, 4)).toBe(0xc0001007);
    expect(mem.read(pt + 16, 4)).toBe(0);
    mapDirect(mem, m, 0xe0000000, 0x2000, null);
    expect(mem.read(pt, 4)).toBe(0);
    // Inside the first GiB: the RAM's own PD gets the PT (NPT entries: P, R/W, U/S).
    const n = buildNestedMap(mem, 0x800000, 0x400000, 0, 'npt');
    mapDirect(mem, n, 0x8000000, 0x1000, 0xc0000000);
    expect(mem.read(0x802000 + 64 * 8, 4)).toBe(pt + 7);
    expect(mem.read(pt, 4)).toBe(0xc000001f); // P, R/W, U/S, PWT, PCD: uncached
    // Moved to another 2-MByte region (a BAR sized with all ones, then placed): the old directory
    // entry is unlinked, so no second address reaches the device.
    const e2 = buildNestedMap(mem, 0x800000, 0x400000, 0, 'ept');
    mapDirect(mem, e2, 0xfffe0000, 0x20000, 0xc0000000);
    const oldPde = pd + 511 * 8;
    expect(mem.read(oldPde, 4)).toBe(pt + 7);
    mapDirect(mem, e2, 0xfffe0000, 0x20000, null);
    expect([mem.read(oldPde, 4), mem.read(0x801000 + 3 * 8, 4)]).toEqual([0, 0]);
    mapDirect(mem, e2, 0xe0000000, 0x20000, 0xc0000000);
    expect(mem.read(oldPde, 4)).toBe(0);
    expect(mem.read(pd + 256 * 8, 4)).toBe(pt + 7);
    expect(directMapProblem(0x400000, 0xe0000000, 0x20000)).toBeNull();
    expect(directMapProblem(0x400000, 0x200000, 0x1000)).toBe("inside the guest's RAM");
    expect(() => mapDirect(mem, n, 0x100000, 0x1000, 0xc0000000)).toThrow(/inside the guest/);
    expect(() => mapDirect(mem, n, 0x81ff000, 0x2000, 0xc0000000)).toThrow(/2-MByte boundary/);
    expect(() => mapDirect(mem, n, 0x8000800, 0x1000, 0xc0000000)).toThrow(/4-KByte/);
  });

  it('names each optional exit and required control by the vendor\u2019s field, bit and name', () => {
    const primary = Object.fromEntries(CONTROL_BITS.primary.map((c) => [c.title, c.bit]));
    for (const o of VMX_EXIT_OPTIONS.filter((x) => x.option !== 'exceptions')) {
      expect(o.field).toBe('CPU_BASED_VM_EXEC_CONTROL');
      o.names.forEach((n, i) => expect(primary[n]).toBe(o.bits[i]));
    }
    expect(VMX_EXIT_OPTIONS.find((o) => o.option === 'cr3')!.names).toEqual(['CR3-load exiting', 'CR3-store exiting']);
    expect(VMX_REQUIRED.map((r) => r.name)).toEqual(expect.arrayContaining(['Enable EPT', 'Unrestricted guest', 'Use I/O bitmaps']));
    for (const o of SVM_EXIT_OPTIONS.filter((x) => x.option !== 'exceptions' && x.option !== 'cr3')) {
      const n = o.names[0]!.replace('INTERCEPT_', '') as keyof typeof INTERCEPT;
      expect(o.bits[0]).toBe(INTERCEPT[n].bit);
    }
    expect(SVM_REQUIRED.find((r) => r.name === 'INTERCEPT_CPUID')!.why).toMatch(/CPUID always exits/);
    expect(SVM_REQUIRED.find((r) => r.name === 'NP_ENABLE')!.when).toBe('nested');
  });
});
