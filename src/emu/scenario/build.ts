/**
 * The builder: boots a validated scenario the way a small kernel's loader would, by filling guest
 * memory and the CPU state directly (the lab's "firmware"). It builds, at the addresses of
 * layout.ts:
 * - a GDT (SDM Vol. 3A, 3.4.5 segment descriptors; 7.2.3 the TSS descriptor, 16 bytes in IA-32e
 *   mode, 8.2.3): null, kernel code and data, user 32-bit code, user data, user 64-bit code, TSS;
 * - an IDT (SDM Vol. 3A, 6.11 IA-32 and 6.14.1 64-bit interrupt gates): vectors 0..31 to the
 *   kernel's handlers or a default handler, the timer vector, 0x80 with DPL 3;
 * - a TSS (SDM Vol. 3A, 8.2.1 32-bit, 8.7 64-bit) whose ESP0/RSP0 is the kernel stack, no I/O
 *   permission bitmap (I/O map base = 0x68, past the limit);
 * - page tables in the chosen paging mode (SDM Vol. 3A, 4.3 32-bit, 4.4 PAE, 4.5 4- and 5-level):
 *   RAM identity-mapped supervisor-only, the user image and stack user-accessible, the scenario's
 *   mappings;
 * - the SYSCALL MSRs (IA32_EFER.SCE, IA32_STAR, IA32_LSTAR, IA32_FMASK; SDM Vol. 2B SYSCALL) in
 *   long64, the SYSENTER MSRs (IA32_SYSENTER_CS/ESP/EIP; SDM Vol. 2B SYSENTER) in prot32;
 * - the timer from `devices.timer`;
 * and starts the CPU at the kernel's `kernel_entry` at CPL 0, or directly at the user entry at
 * CPL 3 with the user stack. Segment caches are loaded from the very descriptors written to the
 * GDT, so the hidden and visible parts agree.
 */
import { bareResult, u64Json, type U64Json } from '../machine/bare.ts';
import { Machine } from '../machine/machine.ts';
import { HV_BT_AREA, HV_MACHINE_AREA, HV_SHADOW_POOL_SIZE, hvMachineArea } from '../hv/area.ts';
import type { HvMachineOptions, HvMachine } from '../hv/hv-machine.ts';
import type { HvJson } from '../hv/exec.ts';
import type { Host, HostOptions, HostVmReport } from '../hv/host.ts';
import type { RunEnd } from '../cpu/cpu.ts';
import { createCpuState, SegAttr, type CpuState, type SegmentCache } from '../cpu/state.ts';
import { MSR } from '../cpu/sys-ctl.ts';
import { timerProgram } from '../cpu/timer.ts';
import type { PhysMem } from '../mem/physmem.ts';
import {
  GDT_BASE, IDT_BASE, KERNEL_STACK_TOP, PT_POOL_BASE, PT_POOL_END, Sel, DEFAULT_HANDLER_BASE, TSS_BASE, USER_PHYS, USER_STACK_PHYS, type Layout,
} from './layout.ts';
import type { Mapping, PagingMode } from './schema.ts';
import type { LoadedScenario } from './validate.ts';

/** CR0 bits (SDM Vol. 3A, 2.5). */
const CR0 = { PE: 1, ET: 0x10, NE: 0x20, WP: 0x10000, PG: 0x80000000 } as const;
/** CR4 bits (SDM Vol. 3A, 2.5). */
const CR4 = { PSE: 0x10, PAE: 0x20, LA57: 0x1000 } as const;
/** IA32_EFER bits (SDM Vol. 3A, 2.2.1). */
const EFER = { SCE: 0x1, LME: 0x100, LMA: 0x400, NXE: 0x800 } as const;
/** Paging-structure entry bits (SDM Vol. 3A, Tables 4-4..4-20). */
export const PTE = { P: 1, RW: 2, US: 4, PS: 0x80, XD_HI: 0x80000000 } as const;
/** RFLAGS masked on SYSCALL: TF, IF, DF, AC (IA32_FMASK). */
const SYSCALL_FMASK = 0x40700;

/** One segment descriptor's two dwords (SDM Vol. 3A, Figure 3-8). */
export function segmentDescriptor(base: number, limit: number, type: number, s: boolean, dpl: number, flags: { l?: boolean; db?: boolean; g?: boolean }): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = ((base >>> 24) << 24) | ((flags.g ? 1 : 0) << 23) | ((flags.db ? 1 : 0) << 22) | ((flags.l ? 1 : 0) << 21)
    | (limit & 0xf0000) | (1 << 15) | (dpl << 13) | ((s ? 1 : 0) << 12) | (type << 8) | ((base >>> 16) & 0xff);
  return [lo >>> 0, hi >>> 0];
}

/** The segment cache a load of this descriptor produces (attr = descriptor bits 40..55). */
function cacheFrom(selector: number, d: [number, number]): SegmentCache {
  const [lo, hi] = d;
  const rawLimit = (hi & 0xf0000) | (lo & 0xffff);
  const g = (hi & (1 << 23)) !== 0;
  const base = ((hi & 0xff000000) | ((hi & 0xff) << 16) | (lo >>> 16)) >>> 0;
  return { selector, baseLo: base, baseHi: 0, limit: g ? ((rawLimit << 12) | 0xfff) >>> 0 : rawLimit, attr: (hi >>> 8) & 0xffff, valid: true };
}

interface Gdt {
  kernelCs: [number, number];
  kernelDs: [number, number];
  userCs32: [number, number];
  userDs: [number, number];
  userCs64: [number, number];
  tss: [number, number];
}

const TSS_LIMIT = 0x67;

function gdtFor(long: boolean): Gdt {
  const flat = { g: true, db: true };
  return {
    // Code: execute/read, accessed (type 1011b); data: read/write, accessed (0011b).
    kernelCs: segmentDescriptor(0, 0xfffff, 0xb, true, 0, long ? { g: true, l: true } : flat),
    kernelDs: segmentDescriptor(0, 0xfffff, 0x3, true, 0, flat),
    userCs32: segmentDescriptor(0, 0xfffff, 0xb, true, 3, flat),
    userDs: segmentDescriptor(0, 0xfffff, 0x3, true, 3, flat),
    userCs64: segmentDescriptor(0, 0xfffff, 0xb, true, 3, { g: true, l: true }),
    // Busy TSS (type 1011b: 32-bit busy TSS, or 64-bit busy TSS in IA-32e mode): TR is loaded.
    tss: segmentDescriptor(TSS_BASE, TSS_LIMIT, 0xb, false, 0, {}),
  };
}

function write64(mem: PhysMem, pa: number, lo: number, hi: number): void {
  mem.write(pa, 4, lo >>> 0);
  mem.write(pa + 4, 4, hi >>> 0);
}

/** Geometry of a paging mode: index shifts from the root down, entries per table, entry size. */
function geometry(p: Exclude<PagingMode, 'none'>): { shifts: number[]; entries: number; size: 4 | 8 } {
  switch (p) {
    case '32bit': return { shifts: [22, 12], entries: 1024, size: 4 };
    case 'pae': return { shifts: [30, 21, 12], entries: 512, size: 8 };
    case '4level': return { shifts: [39, 30, 21, 12], entries: 512, size: 8 };
    case '5level': return { shifts: [48, 39, 30, 21, 12], entries: 512, size: 8 };
  }
}

/** Builds page tables in guest memory from a bump allocator over the page-table pool. */
export class PageTableBuilder {
  readonly root: number;
  private next = PT_POOL_BASE;
  private readonly g: ReturnType<typeof geometry>;

  constructor(private readonly mem: PhysMem, private readonly paging: Exclude<PagingMode, 'none'>) {
    this.g = geometry(paging);
    this.root = this.alloc();
  }

  /** Tables allocated so far. */
  get tables(): number {
    return (this.next - PT_POOL_BASE) / 0x1000;
  }

  private alloc(): number {
    const pa = this.next;
    if (pa >= PT_POOL_END) throw new RangeError('page-table pool exhausted (validation bounds the mappings so that this cannot happen)');
    this.next += 0x1000;
    return pa;
  }

  private index(linear: number, level: number): number {
    return Math.floor(linear / 2 ** this.g.shifts[level]!) % this.g.entries;
  }

  /** The table at `level` (0 = root) for `linear`, allocating tables on the way. */
  private table(linear: number, level: number): number {
    let t = this.root;
    for (let l = 0; l < level; l++) {
      const ea = t + this.index(linear, l) * this.g.size;
      const e = this.mem.read(ea, 4);
      if ((e & PTE.P) !== 0) {
        t = e & ~0xfff;
        continue;
      }
      const n = this.alloc();
      // A PAE PDPTE has only P (bits 2:1 are reserved, SDM Vol. 3A, Table 4-8); other non-leaf
      // entries allow everything (R/W = U/S = 1) so that the leaf alone decides the rights.
      const flags = this.paging === 'pae' && l === 0 ? PTE.P : PTE.P | PTE.RW | PTE.US;
      this.mem.write(ea, 4, (n | flags) >>> 0);
      t = n;
    }
    return t;
  }

  private leafBits(rw: boolean, us: boolean, present: boolean): number {
    return (present ? PTE.P : 0) | (rw ? PTE.RW : 0) | (us ? PTE.US : 0);
  }

  /** Maps one 4 KiB page. */
  map4k(linear: number, pa: number, rw: boolean, us: boolean, nx: boolean, present = true): void {
    const last = this.g.shifts.length - 1;
    const ea = this.table(linear, last) + this.index(linear, last) * this.g.size;
    const lo = (pa | this.leafBits(rw, us, present)) >>> 0;
    if (this.g.size === 8) write64(this.mem, ea, lo, nx ? PTE.XD_HI : 0);
    else this.mem.write(ea, 4, lo);
  }

  /** Bytes mapped by one large-page PDE: 4 MiB (32-bit paging with CR4.PSE) or 2 MiB. */
  get largeSize(): number {
    return 2 ** this.g.shifts[this.g.shifts.length - 2]!;
  }

  /** Maps one large page through a PDE with PS = 1. */
  mapLarge(linear: number, pa: number, rw: boolean, us: boolean): void {
    const pd = this.g.shifts.length - 2;
    const ea = this.table(linear, pd) + this.index(linear, pd) * this.g.size;
    this.mem.write(ea, 4, (pa | this.leafBits(rw, us, true) | PTE.PS) >>> 0);
  }

  /** Makes sure the last-level table for `linear` exists; returns its address. */
  ensureTable(linear: number): number {
    return this.table(linear, this.g.shifts.length - 1);
  }
}

function buildPaging(mem: PhysMem, l: Layout, paging: Exclude<PagingMode, 'none'>, userPages: number, mappings: readonly Mapping[]): number {
  const pt = new PageTableBuilder(mem, paging);
  const nxOk = paging !== '32bit';
  // The user region first, so that its page table is the one layout.ts names USER_PT.
  pt.ensureTable(l.userBase);
  for (let i = 0; i < userPages; i++) pt.map4k(l.userBase + i * 0x1000, USER_PHYS + i * 0x1000, true, true, false);
  pt.map4k(l.userStackTop - 0x1000, USER_STACK_PHYS, true, true, nxOk);
  // RAM identity-mapped for the kernel: large pages where a whole one fits, 4 KiB pages after.
  const big = pt.largeSize;
  let a = 0;
  for (; a + big <= l.memSize; a += big) pt.mapLarge(a, a, true, false);
  for (; a < l.memSize; a += 0x1000) pt.map4k(a, a, true, false, false);
  for (const m of mappings) {
    for (let off = 0; off < m.size; off += 0x1000) {
      pt.map4k(m.linear + off, m.physical + off, m.writable ?? true, m.user ?? false, m.nx ?? false, m.present ?? true);
    }
  }
  return pt.root;
}

function flatCache(c: SegmentCache, from: SegmentCache): void {
  Object.assign(c, from);
}

/** The bare start of `lab exec` (machine/bare.ts), on a Machine: the v0 migration's target. */
function buildBare(ls: LoadedScenario, ramSize: number): Machine {
  const sc = ls.scenario;
  const s = createCpuState(sc.cpu.vendor);
  const CODE = 0xb | SegAttr.S | SegAttr.P | SegAttr.G;
  const DATA = 0x3 | SegAttr.S | SegAttr.P | SegAttr.G | SegAttr.DB;
  const flat = (c: SegmentCache, selector: number, attr: number) => flatCache(c, { selector, baseLo: 0, baseHi: 0, limit: 0xffffffff, attr, valid: true });
  flat(s.seg[1]!, 8, sc.mode === 'prot32' ? CODE | SegAttr.DB : CODE | SegAttr.L);
  for (const i of [0, 2, 3, 4, 5]) flat(s.seg[i]!, 16, DATA);
  s.tr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0xffff, attr: 0xb | SegAttr.P, valid: true };
  s.ldtr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0xffff, attr: 0x2 | SegAttr.P, valid: false };
  s.ripLo = ls.kernel.origin >>> 0;
  s.regLo[4] = 0x80000;
  s.rflags = 0x2;
  if (sc.mode === 'prot32') s.cr0 = 0x60000011;
  else {
    s.cr0 = 0x80010001;
    s.cr3Lo = 0x1000;
    s.cr4 = 0x20;
    s.efer = 0x500;
  }
  const timer = sc.devices?.timer;
  if (timer) timerProgram(s.timer, timer.vector, timer.period);
  const m = new Machine({ state: s, ramSize, features: { page1gb: false, la57: false }, uartPort: ls.layout.uartPort });
  if (sc.mode === 'long64') {
    m.mem.write(0x1000, 4, 0x2003);
    m.mem.write(0x2000, 4, 0x3003);
    for (let i = 0; i < 512; i++) m.mem.write(0x3000 + i * 8, 4, ((i << 21) | 0x83) >>> 0);
  }
  m.mem.load(ls.kernel.origin, ls.kernel.bytes);
  return m;
}

/** Where the kernel's labels send each vector; undefined → the default handler. */
export function idtTargets(ls: LoadedScenario): Map<number, number> {
  const labels = ls.kernel.labels;
  const t = new Map<number, number>();
  const def = (labels.get('default_handler') ?? DEFAULT_HANDLER_BASE) >>> 0;
  for (let v = 0; v < 32; v++) t.set(v, def);
  const named: [string, number][] = [['gp_handler', 13], ['pf_handler', 14], ['int80_handler', 0x80]];
  const timer = ls.scenario.devices?.timer;
  if (timer) {
    t.set(timer.vector, def);
    named.push(['timer_handler', timer.vector]);
  }
  for (const [name, v] of named) {
    const a = labels.get(name);
    if (a !== undefined) t.set(v, a >>> 0);
  }
  for (const [name, a] of labels) {
    const m = /^isr_(\d+)$/.exec(name);
    if (m) t.set(Number(m[1]), a >>> 0);
  }
  return t;
}

/** Makes the hypervisor's machine around a built guest (hv/hv-machine.ts provides it when loaded). */
export type HvFactory = (guest: Machine, opts: HvMachineOptions) => Machine;
let hvFactory: HvFactory | null = null;

/**
 * Provides the hypervisor's machine for scenarios with a technique. hv/hv-machine.ts calls it when
 * it loads: scenario/index.ts loads it for the command line and the tests; the worker loads it only
 * for a scenario with a technique, so a bare scenario does not download the hypervisor.
 */
export function useHypervisor(f: HvFactory): void {
  hvFactory = f;
}

/** Makes the multi-VM host's machine (hv/host-machine.ts provides it when loaded). */
export type HostFactory = (opts: HostOptions) => Machine;
let hostFactory: HostFactory | null = null;

/** Provides the multi-VM host's machine for scenarios with `vms` (as `useHypervisor` does for one VM). */
export function useHost(f: HostFactory): void {
  hostFactory = f;
}

/**
 * A scenario with `vms`: each VM's guest is built exactly as a one-VM scenario's (buildGuest, on
 * RAM of its memory.size), then its RAM and CPU state become that VM's start on the multi-VM host.
 */
function buildVms(ls: LoadedScenario, vms: NonNullable<LoadedScenario['vms']>): Machine {
  const sc = ls.scenario;
  if (hostFactory === null) throw new Error('a scenario with vms needs the multi-VM host: load src/emu/hv/host-machine.ts first (scenario/index.ts does)');
  const h = sc.hypervisor ?? {};
  const under = sc.technique;
  // The validator gives vms a hardware assist only (the multi-VM host runs on VT-x or AMD-V).
  if (under !== 'vtx' && under !== 'svm') throw new Error(`vms under technique ${String(under)}: the multi-VM host needs 'vtx' or 'svm'`);
  return hostFactory({
    under,
    guests: vms.map((v) => {
      const g = buildGuest(v.loaded, v.loaded.scenario.memory.size);
      return {
        name: v.loaded.scenario.name, mode: v.loaded.scenario.mode, load: 0, code: new Uint8Array(0),
        memSize: v.loaded.scenario.memory.size, vcpus: v.vcpus, pc: v.pc,
        image: { ram: g.mem, state: g.cpu.state },
        // 'vf': assigned, as a virtual function of the host's SR-IOV card.
        ...(v.nic !== null ? { device: v.nic === 'vf' ? { way: 'assigned' as const, vf: true } : { way: v.nic } } : {}),
        ...(v.disk !== null ? { device: { way: v.disk, kind: 'disk' as const } } : {}),
      };
    }),
    ...(sc.iommu !== undefined ? { iommu: sc.iommu } : {}),
    ...(sc.postedInterrupts === true ? { postedInterrupts: true } : {}),
    ...(h.quantum !== undefined ? { quantum: h.quantum } : {}),
    ...(h.costPreset !== undefined ? { preset: h.costPreset } : {}),
    ...(h.tlbTags !== undefined ? { tlbTags: h.tlbTags } : {}),
    ...(h.hosting !== undefined ? { hosting: h.hosting } : {}),
    ...(h.hostProcesses !== undefined ? { hostProcesses: h.hostProcesses } : {}),
  });
}

/**
 * Boots a validated scenario. Never throws on the result of `loadScenario`. With a `technique`,
 * the guest is built exactly as without one, then becomes the only guest of the hypervisor: its CPU
 * state is the VMCS/VMCB's guest state and the CPU becomes the host (hv/hv-machine.ts). With nested
 * paging (the default) the guest keeps all of memory.size and the backend's structures take
 * hvMachineArea(memory.size, nestedPageSize) bytes of host RAM above it (HV_MACHINE_AREA with 2-MByte
 * nested pages); without (shadow paging), the same, plus the shadow
 * pool (HV_SHADOW_POOL_SIZE) above the area.
 */
export function buildScenario(ls: LoadedScenario): Machine {
  const sc = ls.scenario;
  if (ls.vms !== undefined) return buildVms(ls, ls.vms);
  const h = sc.hypervisor ?? {};
  // The host's RAM is the guest's plus the hypervisor's area above it, out of the guest's reach
  // (under shadow paging also the shadow pool above the area).
  const tech = sc.technique !== undefined;
  // Trap-and-emulate and binary translation have no nested paging: their monitor always shadows.
  // Paravirtualization neither nests nor shadows: the processor walks the domain's own validated
  // tables (no shadow pool).
  const pv = sc.technique === 'pv';
  const nested = tech && sc.technique !== 'trap-emulate' && sc.technique !== 'bt' && !pv && h.nestedPaging !== false;
  // Binary translation's area holds its translation cache too: the shadow pool comes after it.
  const area = nested ? hvMachineArea(sc.memory.size, h.nestedPageSize) : sc.technique === 'bt' ? HV_BT_AREA : HV_MACHINE_AREA;
  const ramSize = sc.memory.size + (tech ? area : 0) + (tech && !nested && !pv ? HV_SHADOW_POOL_SIZE : 0);
  const m = sc.boot === 'bare' ? buildBare(ls, ramSize) : buildGuest(ls, ramSize);
  if (sc.technique === undefined) return m;
  if (hvFactory === null) throw new Error('a scenario with a technique needs the hypervisor: load src/emu/hv/hv-machine.ts first (scenario/index.ts does)');
  return hvFactory(m, {
    technique: sc.technique, area: sc.memory.size, guestRam: sc.memory.size,
    ...(nested || pv ? {} : { shadowPool: sc.memory.size + area }),
    ...(h.costPreset !== undefined ? { preset: h.costPreset } : {}),
    ...(h.nestedPaging !== undefined || !nested ? { nestedPaging: nested } : {}),
    ...(h.exits !== undefined ? { exits: h.exits } : {}),
    ...(h.tlbTags !== undefined ? { tlbTags: h.tlbTags } : {}),
    ...(h.nestedPageSize !== undefined ? { nestedPageSize: h.nestedPageSize } : {}),
    ...(h.walkCaches !== undefined ? { walkCaches: h.walkCaches } : {}),
    ...(sc.pv !== undefined ? { pvKernel: sc.pv.kernel } : {}),
  });
}

function buildGuest(ls: LoadedScenario, ramSize: number): Machine {
  const sc = ls.scenario;
  const l = ls.layout;
  const long = sc.mode === 'long64';
  const s: CpuState = createCpuState(sc.cpu.vendor);
  const gdt = gdtFor(long);
  const labels = ls.kernel.labels;

  // Control registers for the paging mode (SDM Vol. 3A, Table 4-1).
  s.cr0 = CR0.PE | CR0.ET | CR0.NE;
  if (sc.paging !== 'none') s.cr0 = (s.cr0 | CR0.PG | CR0.WP) >>> 0;
  if (sc.paging === '32bit') s.cr4 = CR4.PSE;
  if (sc.paging === 'pae' || long) s.cr4 = CR4.PAE;
  if (sc.paging === '5level') s.cr4 = CR4.PAE | CR4.LA57;
  if (sc.paging === 'pae') s.efer = EFER.NXE;
  if (long) s.efer = EFER.LME | EFER.LMA | EFER.NXE;

  // Descriptor-table registers and TR (loaded as LGDT, LIDT and LTR would).
  s.gdtr = { baseLo: GDT_BASE, baseHi: 0, limit: (long ? 8 : 7) * 8 - 1 };
  s.idtr = { baseLo: IDT_BASE, baseHi: 0, limit: 256 * (long ? 16 : 8) - 1 };
  s.tr = cacheFrom(Sel.TSS, gdt.tss);
  s.ldtr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0xffff, attr: 0x2 | SegAttr.P, valid: false };

  // Fast system calls.
  const sysEntry = labels.get('syscall_entry');
  if (long) {
    // STAR[47:32] = kernel CS (SS = +8); STAR[63:48] = user base: SYSRET CS = +16, SS = +8.
    s.msr.set(MSR.IA32_STAR, [0, ((Sel.USER_CS32 | 3) << 16) | Sel.KERNEL_CS]);
    s.msr.set(MSR.IA32_FMASK, [SYSCALL_FMASK, 0]);
    if (sysEntry !== undefined) {
      s.efer |= EFER.SCE;
      s.msr.set(MSR.IA32_LSTAR, [sysEntry >>> 0, 0]);
    }
  } else if (sysEntry !== undefined) {
    s.msr.set(MSR.IA32_SYSENTER_CS, [Sel.KERNEL_CS, 0]);
    s.msr.set(MSR.IA32_SYSENTER_ESP, [KERNEL_STACK_TOP, 0]);
    s.msr.set(MSR.IA32_SYSENTER_EIP, [sysEntry >>> 0, 0]);
  }

  const timer = sc.devices?.timer;
  if (timer) timerProgram(s.timer, timer.vector, timer.period);

  // Where execution starts.
  const userEntry = ls.user ? (ls.user.labels.get('user_entry') ?? ls.user.origin) >>> 0 : null;
  const entryLabel = labels.get('kernel_entry');
  const kernelEntry = entryLabel !== undefined ? entryLabel >>> 0 : userEntry === null ? ls.kernel.origin : null;
  if (kernelEntry !== null) {
    s.seg[1] = cacheFrom(Sel.KERNEL_CS, gdt.kernelCs);
    for (const i of [0, 2, 3, 4, 5]) s.seg[i] = cacheFrom(Sel.KERNEL_DS, gdt.kernelDs);
    s.ripLo = kernelEntry;
    s.regLo[4] = KERNEL_STACK_TOP;
    s.rflags = 0x2;
  } else {
    s.seg[1] = cacheFrom(l.userCs, long ? gdt.userCs64 : gdt.userCs32);
    for (const i of [0, 2, 3, 4, 5]) s.seg[i] = cacheFrom(l.userDs, gdt.userDs);
    s.ripLo = userEntry!;
    s.regLo[4] = l.userStackTop;
    s.rflags = 0x202;
  }

  const m = new Machine({ state: s, ramSize, uartPort: l.uartPort, features: { page1gb: false, la57: sc.paging === '5level' } });
  const mem = m.mem;

  // GDT.
  const entries: [number, number][] = [[0, 0], gdt.kernelCs, gdt.kernelDs, gdt.userCs32, gdt.userDs, gdt.userCs64, gdt.tss];
  entries.forEach(([lo, hi], i) => write64(mem, GDT_BASE + i * 8, lo, hi));
  if (long) write64(mem, GDT_BASE + 7 * 8, 0, 0); // TSS descriptor bits 127:64: base 63:32 = 0

  // TSS: ESP0/SS0 (32-bit) or RSP0 (64-bit); I/O map base past the limit: no bitmap.
  if (long) write64(mem, TSS_BASE + 4, KERNEL_STACK_TOP, 0);
  else {
    mem.write(TSS_BASE + 4, 4, KERNEL_STACK_TOP);
    mem.write(TSS_BASE + 8, 4, Sel.KERNEL_DS);
  }
  mem.write(TSS_BASE + 0x66, 2, TSS_LIMIT + 1);

  // The default exception handler: HLT; JMP $-1 (back to the HLT).
  mem.load(DEFAULT_HANDLER_BASE, Uint8Array.of(0xf4, 0xeb, 0xfd));

  // IDT: interrupt gates (type 1110b), P = 1, DPL 0 except INT 0x80 (DPL 3).
  for (const [v, target] of idtTargets(ls)) {
    const dpl = v === 0x80 ? 3 : 0;
    const lo = ((Sel.KERNEL_CS << 16) | (target & 0xffff)) >>> 0;
    const hi = ((target & 0xffff0000) | 0x8000 | (dpl << 13) | 0x0e00) >>> 0;
    const ea = IDT_BASE + v * (long ? 16 : 8);
    write64(mem, ea, lo, hi);
    if (long) write64(mem, ea + 8, 0, 0);
  }

  // Programs.
  mem.load(ls.kernel.origin, ls.kernel.bytes);
  if (ls.user) mem.load(USER_PHYS, ls.user.bytes);

  // Paging.
  if (sc.paging !== 'none') {
    const userPages = ls.user ? Math.ceil(ls.user.bytes.length / 0x1000) : 0;
    s.cr3Lo = buildPaging(mem, l, sc.paging, userPages, sc.mappings ?? []);
    if (sc.paging === 'pae') {
      for (let i = 0; i < 4; i++) {
        s.pdpte[2 * i] = mem.read(s.cr3Lo + i * 8, 4);
        s.pdpte[2 * i + 1] = mem.read(s.cr3Lo + i * 8 + 4, 4);
      }
    }
  }
  m.cpu.modeChanged();
  return m;
}

/** The final state of a run, as `lab run` prints it (JSON-safe). */
export interface RunResult {
  name: string;
  end: RunEnd;
  steps: number;
  cpl: number;
  regs: Record<string, U64Json>;
  uart: string;
  ports: { accesses: number; byPort: Record<string, { in: number; out: number }> };
  timer: { fired: number };
  /** Under a technique: the hypervisor's exits by name, their total, the cost and the console (as `exec --under` prints them); `regs` and `cpl` are then the guest's. */
  hv?: HvJson;
  /**
   * With `vms` (the multi-VM host): each VM's name, console, guest instructions, exits and how its
   * vCPUs ended (host.ts HostVmReport); `regs` and `cpl` are then the physical CPU's at the end.
   */
  vms?: HostVmReport[];
  /** With `hypervisor.hosting`: the exits by who handled them, and the host processes' turns and steps (hosted). */
  hosting?: { hosting: string; exits: Record<string, number>; hostTurns: number; hostSteps: number };
}

/** The hypervisor's machine (without importing it: it may not be loaded). */
function isHvMachine(m: Machine): m is Machine & Pick<HvMachine, 'guestResult'> {
  return typeof (m as Partial<HvMachine>).guestResult === 'function';
}

export function machineResult(name: string, m: Machine, end: RunEnd): RunResult {
  const s = m.cpu.state;
  const regs = bareResult({ cpu: m.cpu, mem: m.mem, exits: [] }, end).regs;
  regs.cr2 = u64Json(s.cr2Lo, s.cr2Hi);
  regs.efer = s.efer >>> 0;
  const byPort: Record<string, { in: number; out: number }> = {};
  for (const p of m.devices.portLog) {
    const k = '0x' + p.port.toString(16);
    const e = (byPort[k] ??= { in: 0, out: 0 });
    e[p.dir]++;
  }
  const result: RunResult = {
    name,
    end,
    steps: s.steps,
    cpl: m.cpu.cpl(),
    regs,
    uart: m.devices.uartOut,
    ports: { accesses: m.devices.portLog.length, byPort },
    timer: { fired: s.timer.fired },
  };
  if (isHvMachine(m)) {
    // The CPU holds the host once the VM has ended: report the guest, from its VMCS/VMCB.
    const g = m.guestResult();
    result.regs = g.regs;
    result.cpl = g.cpl;
    result.hv = g.hv;
  }
  const host = (m as { host?: Pick<Host, 'report' | 'hosting' | 'pathCounts' | 'hostRuns' | 'hostSteps'> }).host;
  if (host !== undefined && typeof host.report === 'function') {
    result.vms = host.report();
    if (host.hosting !== null) {
      const { output: _o, ...exits } = host.pathCounts;
      result.hosting = { hosting: host.hosting, exits, hostTurns: host.hostRuns.length, hostSteps: host.hostSteps };
    }
  }
  return result;
}

/** Builds and runs a validated scenario for `maxSteps` (default: its `limits.maxSteps`). */
export function runScenario(ls: LoadedScenario, maxSteps?: number): { machine: Machine; result: RunResult } {
  const m = buildScenario(ls);
  const end = m.run(maxSteps ?? ls.maxSteps);
  return { machine: m, result: machineResult(ls.scenario.name, m, end) };
}
