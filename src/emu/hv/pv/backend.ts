/**
 * Paravirtualization the Xen way (issue 9, item 3): a 32-bit guest kernel that *knows* it runs on a
 * hypervisor. Like the trap-and-emulate monitor (te/backend.ts) the kernel is deprivileged to ring
 * 1 and its segments stop below the hypervisor's 4 MiB at linear 0xFFC00000; unlike it, the kernel
 * does not execute privileged instructions for the monitor to catch and emulate: it asks, with a
 * hypercall, INT 0x82 (EAX the number, EBX ECX EDX ESI EDI the arguments, −errno or the result in
 * EAX: pv/abi.ts cites Xen's headers). A privileged instruction it still executes faults (#GP in
 * ring 1) and ends the run as "not paravirtualized", naming the instruction and its address.
 *
 * Direct paging, not shadow paging: the processor's CR3 *is* the guest's own page directory, and
 * the processor walks the guest's own tables. That is safe only because the hypervisor validates
 * every page-table page before the processor may use it, and the guest cannot change one behind its
 * back:
 * - a frame becomes a page table by pinning (mmuext_op MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE):
 *   the pin fails (−EINVAL) while any pinned L1 table maps the frame writable, and each of its
 *   entries is validated as below. At an L2 pin the hypervisor writes its own entry, the monitor's
 *   page table for 0xFFC00000, into slot 1023 of the directory;
 * - an L1 entry (PTE) must map a frame inside the domain's RAM, and a frame that is a page table
 *   only read-only; an L2 entry (PDE) must point to a pinned L1 table (no 4 MiB pages), and slot
 *   1023 is the hypervisor's;
 * - the guest changes an entry only through mmu_update (a batch of (ptr, val) requests in one
 *   hypercall, each checked; the first that fails stops the batch with −EINVAL and the count done
 *   written to the guest's `success_count`, as Xen's do_mmu_update does) or update_va_mapping (the
 *   PTE that maps one virtual address). A plain write to a page-table page faults, since the page is
 *   mapped read-only and CR0.WP is set: the #PF is reflected to the guest's handler or, if its trap
 *   table has none, crashes the domain with that reason;
 * - MMUEXT_NEW_BASEPTR loads CR3 with a pinned L2 table (the processor's TLB flushed with it);
 *   MMUEXT_TLB_FLUSH_LOCAL and MMUEXT_INVLPG_LOCAL flush for the guest.
 *
 * The other privileged state the kernel sets through hypercalls:
 * - set_trap_table replaces LIDT: the hypervisor builds the processor's IDT (in its own area) from
 *   the guest's trap_info entries, as trap gates to the guest's ring-1 handlers with the DPL the
 *   entry gives (so INT 0x80 from ring 3 reaches the kernel with no hypervisor on the path).
 *   Hardware exceptions come to the hypervisor first (the CPU's guest seam, cpu/guest.ts, stands
 *   for Xen's own IDT) and are reflected through that IDT;
 * - stack_switch replaces the TSS's ring-0 stack: the hypervisor's TSS SS1:ESP1 is the kernel's stack;
 * - the GDT is the hypervisor's, with Xen's flat selectors FLAT_RING1_CS/DS and FLAT_RING3_CS/DS
 *   (set_gdt is not offered);
 * - the kernel's "interrupt flag" is vcpu_info.evtchn_upcall_mask in the shared info page, which
 *   it writes directly (no hypercall: CLI and STI become a byte store). Events: the hypervisor raises
 *   an event channel by setting its bit in evtchn_pending and, if the port is not masked,
 *   evtchn_upcall_pending; at the next entry, if the upcall mask is clear and the kernel registered
 *   a callback (set_callbacks), it masks events and delivers the upcall to the callback as an
 *   interrupt frame on the ring-1 stack, from which the kernel returns with IRET (IRET to ring 1 or
 *   ring 3 from ring 1 needs no hypervisor). Two ports are bound by the domain builder (the lab's
 *   stand-in for EVTCHNOP_bind_virq and EVTCHNOP_bind_ipi, which it does not implement): port 1 to
 *   VIRQ_TIMER, which fires when the kernel blocks (SCHEDOP_block) with nothing pending, and port 2
 *   to the domain itself, raised by EVTCHNOP_send;
 * - console_io CONSOLEIO_write replaces OUT to the debug port; sched_op SCHEDOP_shutdown ends the domain.
 *
 * The domain builder (the constructor): the start state of `exec`'s prot32 machine becomes Xen's
 * start of day for a PV kernel: ring 1 with the flat ring-1 selectors, paging on over bootstrap
 * tables the builder pinned (an L2 at BOOT_PD and an L1 at BOOT_PT mapping the first 4 MiB
 * one-to-one, supervisor, writable), ESI pointing at start_info (magic, nr_pages, shared_info,
 * pt_base) and the shared info page zeroed with events masked. Simplifications, each stated:
 * pseudo-physical frames are machine frames (one domain, its RAM at host-physical 0: an identity
 * P2M); the bootstrap tables sit above the 4 MiB they map instead of inside it; a frame is a page
 * table only while pinned (Xen also types tables that a validated table references); the shared info
 * and start_info pages are guest RAM the hypervisor writes. Not implemented: PAE and 64-bit PV,
 * set_gdt, update_descriptor, multicall, grant tables, the failsafe callback, I/O privilege.
 */
import { SoftwareBackend } from '../soft-backend.ts';
import type { Cpu } from '../../cpu/cpu.ts';
import { Fault, Vec } from '../../cpu/core.ts';
import { decode } from '../../cpu/decode.ts';
import { GuestExit, type GuestMonitor, type Intercept } from '../../cpu/guest.ts';
import { deliverEvent, deliverExceptionImpl, EventKind, hasErrorCode, isDoubleFault } from '../../cpu/sys-int.ts';
import { Flag, SegAttr, type SegmentCache } from '../../cpu/state.ts';
import { CR0, EFER } from '../../cpu/sys-util.ts';
import type { Ledger } from '../../cost/ledger.ts';
import type { BackendRun, HvBackend, HvEvent, HvExit, PortHandler } from '../types.ts';
import { MONITOR_LINEAR, vectorName } from '../te/backend.ts';
import type { PvMemory } from './decode.ts';
import {
  CONSOLEIO_write, ERRNO, EVTCHNOP_send, FLAT_RING1_CS, FLAT_RING1_DS, FLAT_RING3_CS, FLAT_RING3_DS, HC, HC_NAMES, HYPERCALL_VECTOR,
  MMU_NORMAL_PT_UPDATE, MMU_UPDATE_SIZE, MMUEXT, MMUEXT_OP_SIZE, SCHEDOP, SHARED, START_INFO, START_INFO_MAGIC, TRAP_INFO_SIZE,
  UVMF_FLUSHTYPE_MASK, UVMF_INVLPG, UVMF_TLB_FLUSH, VIRQ_TIMER,
} from './abi.ts';

/** The hypervisor's area (host-physical, outside the domain's RAM), mapped at MONITOR_LINEAR in every pinned directory. */
const GDT_OFF = 0;
const IDT_OFF = 0x10000;
const TSS_OFF = 0x10800;
/** The monitor's own L1 table, mapping the area's pages at MONITOR_LINEAR (the PDE every pinned L2 gets in slot 1023). */
const MPT_OFF = 0x11000;
export const PV_AREA_SIZE = 0x12000;
const TSS_LIMIT = 103;
const MONITOR_TR = 0xfff8;
const MONITOR_SLOT = MONITOR_LINEAR >>> 22;

/** Where the domain builder puts its pages in the guest's RAM (guest-physical = machine addresses here). */
export const BOOT_PD = 0x400000;
export const BOOT_PT = 0x401000;
export const SHARED_INFO_PA = 0x3fe000;
export const START_INFO_PA = 0x3ff000;
/** The ports the builder binds: VIRQ_TIMER, and one to the domain itself (EVTCHNOP_send). */
export const TIMER_PORT = 1;
export const SELF_PORT = 2;

const PTE_P = 1;
const PTE_RW = 2;
const PTE_US = 4;
const PTE_PS = 0x80;

/** One hypercall as the log shows it: its arguments decoded and what the hypervisor did. */
export interface PvHypercallRecord {
  n: number;
  /** The guest's EIP at the INT 0x82. */
  eip: number;
  nr: number;
  name: string;
  args: Record<string, number | string>;
  /** EAX on return: 0, a count, or −errno. */
  result: number;
  did: string;
}

export interface PvBackendOptions {
  area: number;
  ledger: Ledger;
  guestRam: { size: number; hpaBase: number };
  vendor: 'intel' | 'amd';
}

/** A code or data descriptor (base 0, 4-KiB granular, 32-bit) whose limit stops below the hypervisor. */
function flatDescriptor(access: number): [number, number] {
  const raw = ((MONITOR_LINEAR - 1) >>> 12) & 0xfffff;
  return [raw & 0xffff, ((access << 8) | (raw & 0xf0000) | 0xc00000) >>> 0];
}

function fill(c: SegmentCache, sel: number, lo: number, hi: number): void {
  c.selector = sel & 0xffff;
  c.baseLo = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  c.baseHi = 0;
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  c.limit = (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
  c.attr = (hi >>> 8) & 0xffff;
  c.valid = true;
}

/** What an instruction that #GPs in ring 1 is, when it is one a PV kernel must not use (null: the guest's own #GP). */
const PRIVILEGED = new Set(['cli', 'sti', 'hlt', 'lgdt', 'lidt', 'ltr', 'lldt', 'clts', 'lmsw', 'invlpg', 'rdmsr', 'wrmsr', 'in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd', 'wbinvd', 'invd']);

type Result = { ret: number; did: string; args: Record<string, number | string>; shutdown?: number };

export class PvBackend extends SoftwareBackend implements HvBackend {
  readonly vendor: 'intel' | 'amd';
  readonly id = 'pv';
  readonly shadow = null;
  readonly hypercalls = new Map<string, number>();
  readonly hypercallLog: PvHypercallRecord[] = [];
  /** What the guest wrote with console_io. */
  console = '';
  /** Page-table frames and their type (pinned). */
  readonly tables = new Map<number, 'l1' | 'l2'>();
  /** Event upcalls delivered. */
  upcalls = 0;
  private readonly ledger: Ledger;
  private readonly area: number;
  private readonly frames: number;
  private pendingLength = 0;
  private event: HvEvent | null = null;
  /** The trap table's flags by vector (bit 2: mask events on entry). */
  private readonly trapFlags = new Map<number, number>();
  private callback: { cs: number; eip: number } | null = null;
  private readonly monitor: GuestMonitor;

  constructor(cpu: Cpu, opts: PvBackendOptions) {
    super(cpu);
    const st = cpu.state;
    if ((st.efer & EFER.LMA) !== 0) throw new RangeError('paravirtualization here is 32-bit Xen\u2019s (a 64-bit PV kernel runs in ring 3: not built)');
    if ((st.cr0 & CR0.PE) === 0 || (st.cr0 & CR0.PG) !== 0) throw new RangeError('pv: the domain builder starts from protected mode without paging');
    if (cpu.cpl() !== 0) throw new RangeError('pv: the domain builder starts from ring 0');
    const ram = opts.guestRam;
    if (ram.hpaBase !== 0) throw new RangeError('pv: the lab\u2019s domain has its RAM at machine address 0 (an identity P2M)');
    if (opts.area < ram.size) throw new RangeError('pv: the hypervisor\u2019s area is inside the domain\u2019s RAM');
    this.vendor = opts.vendor;
    this.ledger = opts.ledger;
    this.area = opts.area;
    this.frames = ram.size >>> 12;
    const mem = cpu.mem;
    for (let i = 0; i < PV_AREA_SIZE; i += 4) mem.write(this.area + i, 4, 0);
    // The GDT: Xen's flat selectors (DPL 1 and 3) and the hypervisor's TSS.
    const put = (sel: number, [lo, hi]: [number, number]) => {
      mem.write(this.area + GDT_OFF + (sel & 0xfff8), 4, lo);
      mem.write(this.area + GDT_OFF + (sel & 0xfff8) + 4, 4, hi);
    };
    put(FLAT_RING1_CS, flatDescriptor(0xba));
    put(FLAT_RING1_DS, flatDescriptor(0xb2));
    put(FLAT_RING3_CS, flatDescriptor(0xfa));
    put(FLAT_RING3_DS, flatDescriptor(0xf2));
    const tss = MONITOR_LINEAR + TSS_OFF;
    put(MONITOR_TR, [((tss & 0xffff) << 16 | TSS_LIMIT) >>> 0, ((tss & 0xff000000) | ((tss >>> 16) & 0xff) | 0x8b00) >>> 0]);
    // The TSS: no I/O bitmap (its base past the limit), so IN and OUT fault in ring 1 and 3.
    mem.write(this.area + TSS_OFF + 102, 2, 104);
    // The monitor's L1: its area at MONITOR_LINEAR, supervisor and writable (segments stop the guest below it).
    for (let i = 0; i < PV_AREA_SIZE >>> 12; i++) mem.write(this.area + MPT_OFF + i * 4, 4, (this.area + i * 0x1000) | PTE_P | PTE_RW);
    // Bootstrap tables: the first 4 MiB one-to-one, pinned by the builder (its PDE user, its PTEs supervisor).
    for (let i = 0; i < 4096; i += 4) mem.write(BOOT_PD + i, 4, 0);
    for (let i = 0; i < 1024; i++) mem.write(BOOT_PT + i * 4, 4, (i << 12) | PTE_P | PTE_RW);
    mem.write(BOOT_PD, 4, BOOT_PT | PTE_P | PTE_RW | PTE_US);
    this.tables.set(BOOT_PT >>> 12, 'l1');
    this.tables.set(BOOT_PD >>> 12, 'l2');
    mem.write(BOOT_PD + MONITOR_SLOT * 4, 4, this.monitorPde());
    // Shared info (events masked) and start_info.
    for (let i = 0; i < 4096; i += 4) {
      mem.write(SHARED_INFO_PA + i, 4, 0);
      mem.write(START_INFO_PA + i, 4, 0);
    }
    mem.write(SHARED_INFO_PA + SHARED.upcallMask, 1, 1);
    for (let i = 0; i < START_INFO_MAGIC.length; i++) mem.write(START_INFO_PA + START_INFO.magic + i, 1, START_INFO_MAGIC.charCodeAt(i));
    mem.write(START_INFO_PA + START_INFO.nrPages, 4, this.frames);
    mem.write(START_INFO_PA + START_INFO.sharedInfo, 4, SHARED_INFO_PA);
    mem.write(START_INFO_PA + START_INFO.ptBase, 4, BOOT_PD);
    mem.write(START_INFO_PA + START_INFO.nrPtFrames, 4, 2);
    // The processor as the hypervisor runs the domain.
    st.gdtr = { baseLo: MONITOR_LINEAR + GDT_OFF, baseHi: 0, limit: 0xffff };
    st.idtr = { baseLo: MONITOR_LINEAR + IDT_OFF, baseHi: 0, limit: 0x7ff };
    st.tr = { selector: MONITOR_TR, baseLo: tss, baseHi: 0, limit: TSS_LIMIT, attr: 0xb | SegAttr.P, valid: true };
    st.ldtr = { selector: 0, baseLo: 0, baseHi: 0, limit: 0, attr: 0x2 | SegAttr.P, valid: false };
    const [clo, chi] = flatDescriptor(0xbb);
    const [dlo, dhi] = flatDescriptor(0xb3);
    fill(st.seg[1]!, FLAT_RING1_CS, clo, chi);
    for (const i of [0, 2, 3, 4, 5]) fill(st.seg[i]!, FLAT_RING1_DS, dlo, dhi);
    cpu.syncFlags();
    st.rflags = (st.rflags & ~Flag.IOPL) >>> 0;
    st.regLo[6] = START_INFO_PA;
    st.cr3Lo = BOOT_PD;
    st.cr3Hi = 0;
    st.cr4 = 0;
    st.efer = 0;
    st.cr0 = (st.cr0 | CR0.PE | CR0.PG | CR0.WP) >>> 0;
    cpu.modeChanged();
    cpu.tlbFlushAll(true);
    this.monitor = {
      intercept(what: Intercept): boolean {
        if (what.kind === 'triple-fault') return true;
        if (what.kind !== 'exception') return false;
        return what.type === 'hardware-exception' || what.during !== null || (what.type === 'software-interrupt' && what.vector === HYPERCALL_VECTOR);
      },
      interruptWindow: false,
      interruptExitsIgnoreIf: false,
      acknowledgeInterruptOnExit: false,
      deadline: Infinity,
    };
    cpu.guest = this.monitor;
    cpu.exit = null;
  }

  private monitorPde(): number {
    return (this.area + MPT_OFF) | PTE_P | PTE_RW;
  }

  // ---- the guest's memory through its own page tables ----

  /** The machine address of a guest virtual address through the current tables, or null. */
  private translate(va: number): number | null {
    const mem = this.cpu.mem;
    const cr3 = this.cpu.state.cr3Lo & ~0xfff;
    const pde = mem.read(cr3 + (va >>> 22) * 4, 4);
    if ((pde & PTE_P) === 0) return null;
    const pte = mem.read((pde & ~0xfff) + ((va >>> 12) & 0x3ff) * 4, 4);
    if ((pte & PTE_P) === 0) return null;
    const pa = ((pte & ~0xfff) | (va & 0xfff)) >>> 0;
    return pa < this.frames * 4096 ? pa : null;
  }

  private read32(va: number): number | null {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const pa = this.translate((va + i) >>> 0);
      if (pa === null) return null;
      v += this.cpu.mem.read8(pa) * 2 ** (8 * i);
    }
    return v >>> 0;
  }

  /** Whether the kernel registered an event callback (set_callbacks). */
  hasCallback(): boolean {
    return this.callback !== null;
  }

  /** The domain's memory as views read it (pv/decode.ts): through its own tables, or by machine address; the pinned tables. */
  memory(): PvMemory {
    return { read32: (va) => this.read32(va), read8: (va) => this.read8(va), phys32: (pa) => this.cpu.mem.read(pa, 4) >>> 0, tables: this.tables };
  }

  /** A byte of the guest's memory at linear `va` through its own tables (views, the machine's disassembly), or null if unmapped. */
  readGuest(va: number, _size: 1): number | null {
    return this.read8(va);
  }

  private read8(va: number): number | null {
    const pa = this.translate(va >>> 0);
    return pa === null ? null : this.cpu.mem.read8(pa);
  }

  private write32(va: number, v: number): boolean {
    for (let i = 0; i < 4; i++) {
      const pa = this.translate((va + i) >>> 0);
      if (pa === null) return false;
      this.cpu.mem.write(pa, 1, (v >>> (8 * i)) & 0xff);
    }
    return true;
  }

  // ---- page-table validation (direct paging) ----

  /** Where a pinned L1 table maps `frame` writable, or null. */
  private writableMapping(frame: number): string | null {
    const mem = this.cpu.mem;
    for (const [t, type] of this.tables) {
      if (type !== 'l1') continue;
      for (let i = 0; i < 1024; i++) {
        const e = mem.read(t * 4096 + i * 4, 4);
        if ((e & (PTE_P | PTE_RW)) === (PTE_P | PTE_RW) && e >>> 12 === frame) return `entry ${i} of L1 table 0x${(t * 4096).toString(16)} maps it writable`;
      }
    }
    return null;
  }

  /** Why an L1 entry is refused, or null. */
  private checkL1e(v: number): string | null {
    if ((v & PTE_P) === 0) return null;
    const f = v >>> 12;
    if (f >= this.frames) return `PTE 0x${v.toString(16)} maps frame 0x${f.toString(16)}, outside the domain\u2019s ${this.frames} frames`;
    if ((v & PTE_RW) !== 0 && this.tables.has(f)) return `PTE 0x${v.toString(16)} maps page-table frame 0x${f.toString(16)} (${this.tables.get(f)}) writable`;
    return null;
  }

  /** Why an L2 entry (not slot 1023) is refused, or null. */
  private checkL2e(v: number): string | null {
    if ((v & PTE_P) === 0) return null;
    if ((v & PTE_PS) !== 0) return `PDE 0x${v.toString(16)} maps a 4 MiB page (no superpages for this PV guest)`;
    const f = v >>> 12;
    if (this.tables.get(f) !== 'l1') return `PDE 0x${v.toString(16)} points to frame 0x${f.toString(16)}, which is not a pinned L1 table`;
    return null;
  }

  private pin(frame: number, level: 'l1' | 'l2'): string | null {
    if (frame >= this.frames) return `frame 0x${frame.toString(16)} is outside the domain`;
    if (this.tables.has(frame)) return `frame 0x${frame.toString(16)} is already pinned (${this.tables.get(frame)})`;
    const w = this.writableMapping(frame);
    if (w !== null) return `frame 0x${frame.toString(16)} cannot become a page table: ${w}`;
    const mem = this.cpu.mem;
    for (let i = 0; i < 1024; i++) {
      if (level === 'l2' && i === MONITOR_SLOT) continue;
      const e = mem.read(frame * 4096 + i * 4, 4);
      const why = level === 'l1' ? this.checkL1e(e) : this.checkL2e(e);
      if (why !== null) return `entry ${i}: ${why}`;
    }
    if (level === 'l1') {
      // The table may not map itself writable (checkL1e could not know it was becoming one).
      for (let i = 0; i < 1024; i++) {
        const e = mem.read(frame * 4096 + i * 4, 4);
        if ((e & (PTE_P | PTE_RW)) === (PTE_P | PTE_RW) && e >>> 12 === frame) return `entry ${i} maps the table itself writable`;
      }
    }
    this.tables.set(frame, level);
    if (level === 'l2') mem.write(frame * 4096 + MONITOR_SLOT * 4, 4, this.monitorPde());
    return null;
  }

  private unpin(frame: number): string | null {
    const type = this.tables.get(frame);
    if (type === undefined) return `frame 0x${frame.toString(16)} is not pinned`;
    if (frame === this.cpu.state.cr3Lo >>> 12) return `frame 0x${frame.toString(16)} is the current base table`;
    if (type === 'l1') {
      for (const [t, ty] of this.tables) {
        if (ty !== 'l2') continue;
        for (let i = 0; i < 1024; i++) {
          if (i === MONITOR_SLOT) continue;
          const e = this.cpu.mem.read(t * 4096 + i * 4, 4);
          if ((e & PTE_P) !== 0 && e >>> 12 === frame) return `frame 0x${frame.toString(16)} is still referenced by L2 table 0x${(t * 4096).toString(16)}`;
        }
      }
    }
    this.tables.delete(frame);
    return null;
  }

  /** One checked page-table write: `ma` the machine address of the entry. */
  private updateEntry(ma: number, val: number): string | null {
    const frame = ma >>> 12;
    const type = this.tables.get(frame);
    if (type === undefined) return `0x${ma.toString(16)} is not in a pinned page table`;
    const slot = (ma & 0xfff) >>> 2;
    if (type === 'l2' && slot === MONITOR_SLOT) return `slot ${MONITOR_SLOT} of an L2 table is the hypervisor\u2019s`;
    const why = type === 'l1' ? this.checkL1e(val) : this.checkL2e(val);
    if (why !== null) return why;
    if (type === 'l1' && (val & (PTE_P | PTE_RW)) === (PTE_P | PTE_RW) && val >>> 12 === frame) return `PTE 0x${val.toString(16)} maps its own table writable`;
    this.cpu.mem.write(ma & ~3, 4, val >>> 0);
    return null;
  }

  // ---- entering the domain ----

  get steps(): number {
    return this.cpu.state.steps;
  }

  /** The IDT gate the processor would use for `vector` is present (the trap table, or the upcall's). */
  private gatePresent(vector: number): boolean {
    return (this.cpu.mem.read(this.area + IDT_OFF + vector * 8 + 4, 4) & 0x8000) !== 0;
  }

  enter(budget: number): BackendRun {
    const cpu = this.cpu;
    const mem = cpu.mem;
    cpu.exit = null;
    cpu.guestVectoring = null;
    this.pendingLength = 0;
    if (this.event !== null) {
      const ev = this.event;
      this.event = null;
      if (!this.gatePresent(ev.vector)) {
        const why = `${vectorName(ev.vector)} at EIP 0x${(cpu.state.ripLo >>> 0).toString(16)}${ev.vector === Vec.PF ? ` (address 0x${(cpu.state.cr2Lo >>> 0).toString(16)})` : ''}: the domain has no handler for it in its trap table, so the hypervisor crashes the domain`;
        return { kind: 'exit', exit: { code: ev.vector, name: 'domain crash', detail: { kind: 'other', why }, rip: this.rip(), raw: {} } };
      }
      if ((this.trapFlags.get(ev.vector) ?? 0) & 4) mem.write(SHARED_INFO_PA + SHARED.upcallMask, 1, 1);
      this.deliver(ev);
    } else if (this.callback !== null && mem.read8(SHARED_INFO_PA + SHARED.upcallPending) !== 0 && mem.read8(SHARED_INFO_PA + SHARED.upcallMask) === 0) {
      // The event upcall: events masked, an interrupt frame to the callback (the gate at the hypercall vector, which INT 0x82 never reaches).
      mem.write(SHARED_INFO_PA + SHARED.upcallMask, 1, 1);
      this.upcalls++;
      this.count('upcall');
      this.deliver({ vector: HYPERCALL_VECTOR, type: 'interrupt' });
    }
    const { end } = this.runGuest(budget, this.ledger);
    if (end === 'exit' && cpu.exit !== null) {
      // INT 0x82 or a fault into the hypervisor through its IDT, and the IRET back, then its dispatch.
      this.ledger.charge({ kind: 'trap' });
      this.ledger.charge({ kind: 'hv-dispatch' });
      const trapped = cpu.exit;
      return { kind: 'exit', exit: this.withCause(() => this.readTrap(trapped)) };
    }
    if (end === 'shutdown') return { kind: 'shutdown' };
    if (end === 'hlt') return { kind: 'halted' };
    return { kind: 'budget' };
  }

  /** Delivers an event through the IDT the trap table built, as the processor would (in ring 1). */
  private deliver(ev: HvEvent): void {
    const cpu = this.cpu;
    const st = cpu.state;
    const err = ev.type === 'exception' && ev.errorCode !== undefined ? ev.errorCode : -1;
    const kind = ev.type === 'exception' ? EventKind.EXCEPTION : EventKind.EXTERNAL;
    try {
      try {
        deliverEvent(cpu, ev.vector, err, kind, st.ripLo, st.ripHi);
      } catch (e) {
        if (!(e instanceof Fault)) throw e;
        if (ev.type === 'exception' && ev.vector === Vec.DF) {
          if (!cpu.guestIntercept({ kind: 'triple-fault', rip: this.rip(), length: 0 })) st.shutdown = true;
        } else if (ev.type === 'exception' && isDoubleFault(ev.vector, e.vector)) {
          deliverExceptionImpl(cpu, new Fault(Vec.DF, 0));
        } else {
          cpu.guestVectoring = { vector: ev.vector, type: ev.type === 'exception' ? 'hardware-exception' : 'external-interrupt', errorCode: err, length: 0 };
          deliverExceptionImpl(cpu, e);
        }
      }
    } catch (e) {
      if (e !== GuestExit.signal) throw e;
    }
  }

  private readTrap(x: Intercept): HvExit {
    const rip = x.rip;
    const raw: Record<string, bigint> = {};
    if (x.kind === 'triple-fault') return { code: 8, name: 'triple fault', detail: { kind: 'triple-fault' }, rip, raw };
    if (x.kind !== 'exception') return { code: -1, name: x.kind, detail: { kind: 'other', why: `intercept ${x.kind}` }, rip, raw };
    raw.vector = BigInt(x.vector);
    const eip = `0x${Number(rip).toString(16)}`;
    if (x.type === 'software-interrupt' && x.vector === HYPERCALL_VECTOR) {
      if (this.cpu.cpl() === 1) {
        this.pendingLength = x.length;
        return { code: HYPERCALL_VECTOR, name: 'int 0x82', detail: { kind: 'hypercall' }, rip, raw };
      }
      // The hypercall gate admits ring 1 only: INT 0x82 from ring 3 is a #GP naming the gate.
      this.count('#GP');
      return { code: Vec.GP, name: '#GP', rip, raw, detail: { kind: 'exception', vector: Vec.GP, errorCode: (HYPERCALL_VECTOR << 3) | 2, address: null, software: false, during: null } };
    }
    raw.error_code = BigInt(x.errorCode);
    if (x.vector === Vec.GP && x.during === null && this.cpu.cpl() === 1) {
      const m = this.decodeHere();
      if (m !== null && PRIVILEGED.has(m)) {
        this.count(`not paravirtualized: ${m}`);
        return { code: Vec.GP, name: '#GP', rip, raw, detail: { kind: 'other', why: `${m.toUpperCase()} at ${eip}: not paravirtualized (a privileged instruction in the ring-1 guest kernel; a PV kernel asks the hypervisor with a hypercall instead)` } };
      }
      if (m === 'mov-cr') {
        this.count('not paravirtualized: mov cr');
        return { code: Vec.GP, name: '#GP', rip, raw, detail: { kind: 'other', why: `MOV to or from a control register at ${eip}: not paravirtualized (a PV kernel loads CR3 with mmuext_op MMUEXT_NEW_BASEPTR)` } };
      }
    }
    let name = vectorName(x.vector);
    if (x.vector === Vec.PF && x.address !== null && (x.errorCode & 3) === 3 && this.tables.has(this.translate(Number(x.address)) === null ? -1 : this.translate(Number(x.address))! >>> 12)) name = '#PF (write to a page table)';
    this.count(name);
    const during = x.during;
    return {
      code: x.vector, name: vectorName(x.vector), rip, raw,
      detail: {
        kind: 'exception', vector: x.vector, software: false,
        errorCode: hasErrorCode(x.vector) ? (x.errorCode < 0 ? 0 : x.errorCode) : null,
        address: x.address,
        during: during === null ? null : {
          vector: during.vector, exception: during.type !== 'external-interrupt' && during.type !== 'nmi',
          errorCode: during.errorCode < 0 ? null : during.errorCode,
          software: during.type === 'software-interrupt' || during.type === 'software-exception' || during.type === 'privileged-software-exception',
        },
      },
    };
  }

  /** The mnemonic at CS:EIP ('mov-cr' for MOV to or from CRn), or null. */
  private decodeHere(): string | null {
    const st = this.cpu.state;
    const lin = (st.seg[1]!.baseLo + st.ripLo) >>> 0;
    const r = decode((i) => this.read8(lin + i) ?? -1, 32);
    if (r.kind !== 'ok') return null;
    const insn = r.insn;
    if (insn.mnemonic === 'mov' && (insn.operands[0]?.kind === 'cr' || insn.operands[1]?.kind === 'cr')) return 'mov-cr';
    if (insn.mnemonic === 'iretd' || insn.mnemonic === 'mov') return null;
    return insn.mnemonic;
  }

  // ---- hypercalls ----

  /** Carries out the hypercall of the last 'hypercall' exit: EAX ← result, EIP past INT 0x82. */
  paravirtual(): { note: string; shutdown?: number } {
    const st = this.cpu.state;
    const nr = st.regLo[0]! >>> 0;
    const a = [st.regLo[3]! >>> 0, st.regLo[1]! >>> 0, st.regLo[2]! >>> 0, st.regLo[6]! >>> 0, st.regLo[7]! >>> 0];
    const name = HC_NAMES.get(nr) ?? `hypercall ${nr}`;
    const eip = st.ripLo >>> 0;
    let r: Result;
    switch (nr) {
      case HC.set_trap_table: r = this.setTrapTable(a[0]!); break;
      case HC.mmu_update: r = this.mmuUpdate(a[0]!, a[1]!, a[2]!); break;
      case HC.stack_switch: r = this.stackSwitch(a[0]!, a[1]!); break;
      case HC.set_callbacks: r = this.setCallbacks(a[0]!, a[1]!); break;
      case HC.update_va_mapping: r = this.updateVaMapping(a[0]!, a[1]!, a[2]!); break;
      case HC.xen_version: r = { ret: (3 << 16) | 0, did: 'version 3.0 (and any pending event is delivered on the way back)', args: { cmd: a[0]! } }; break;
      case HC.console_io: r = this.consoleIo(a[0]!, a[1]!, a[2]!); break;
      case HC.mmuext_op: r = this.mmuextOp(a[0]!, a[1]!, a[2]!); break;
      case HC.sched_op: r = this.schedOp(a[0]!, a[1]!); break;
      case HC.event_channel_op: r = this.eventChannelOp(a[0]!, a[1]!); break;
      default: r = { ret: -ERRNO.ENOSYS, did: 'not implemented: -ENOSYS', args: { ebx: a[0]!, ecx: a[1]! } };
    }
    st.regLo[0] = r.ret >>> 0;
    st.regHi[0] = 0;
    this.advance();
    this.hypercalls.set(name, (this.hypercalls.get(name) ?? 0) + 1);
    this.hypercallLog.push({ n: this.hypercallLog.length, eip, nr, name, args: r.args, result: r.ret, did: r.did });
    const args = Object.entries(r.args).map(([k, v]) => `${k}=${typeof v === 'number' ? `0x${(v >>> 0).toString(16)}` : v}`).join(', ');
    const note = `${name}(${args}): ${r.did}; EAX = ${r.ret}`;
    return r.shutdown !== undefined ? { note, shutdown: r.shutdown } : { note };
  }

  private setTrapTable(table: number): Result {
    const mem = this.cpu.mem;
    const args = { table };
    if (table === 0) {
      for (let i = 0; i < 256; i++) if (i !== HYPERCALL_VECTOR) mem.write(this.area + IDT_OFF + i * 8 + 4, 4, 0);
      this.trapFlags.clear();
      return { ret: 0, did: 'trap table cleared', args };
    }
    const set: string[] = [];
    for (let n = 0; n < 256; n++) {
      const at = table + n * TRAP_INFO_SIZE;
      const w0 = this.read32(at);
      const addr = this.read32(at + 4);
      if (w0 === null || addr === null) return { ret: -ERRNO.EFAULT, did: `entry ${n} at 0x${at.toString(16)} is not mapped: -EFAULT`, args };
      if (addr === 0) break;
      const vector = w0 & 0xff;
      const flags = (w0 >>> 8) & 0xff;
      const cs = w0 >>> 16;
      if ((cs | 3) !== (FLAT_RING1_CS | 3)) return { ret: -ERRNO.EPERM, did: `entry ${n} (vector 0x${vector.toString(16)}): CS 0x${cs.toString(16)} is not the ring-1 code segment: -EPERM`, args };
      if (vector === HYPERCALL_VECTOR) return { ret: -ERRNO.EPERM, did: 'vector 0x82 is the hypercall gate: -EPERM', args };
      // A trap gate (type 0xF) to the guest's handler, DPL from the entry's flags.
      mem.write(this.area + IDT_OFF + vector * 8, 4, ((FLAT_RING1_CS << 16) | (addr & 0xffff)) >>> 0);
      mem.write(this.area + IDT_OFF + vector * 8 + 4, 4, ((addr & 0xffff0000) | 0x8000 | ((flags & 3) << 13) | 0xf00) >>> 0);
      this.trapFlags.set(vector, flags);
      set.push(`0x${vector.toString(16)}→0x${addr.toString(16)} DPL ${flags & 3}`);
    }
    return { ret: 0, did: `IDT gates built: ${set.join(', ') || 'none'}`, args };
  }

  private stackSwitch(ss: number, esp: number): Result {
    const args = { ss, esp };
    if ((ss | 3) !== (FLAT_RING1_DS | 3)) return { ret: -ERRNO.EPERM, did: `SS 0x${ss.toString(16)} is not the ring-1 data segment: -EPERM`, args };
    this.cpu.mem.write(this.area + TSS_OFF + 12, 4, esp);
    this.cpu.mem.write(this.area + TSS_OFF + 16, 2, FLAT_RING1_DS);
    return { ret: 0, did: `TSS SS1:ESP1 = 0x${FLAT_RING1_DS.toString(16)}:0x${esp.toString(16)} (the kernel stack for traps from ring 3)`, args };
  }

  private setCallbacks(cs: number, eip: number): Result {
    const args = { event_selector: cs, event_address: eip };
    if ((cs | 3) !== (FLAT_RING1_CS | 3)) return { ret: -ERRNO.EPERM, did: `CS 0x${cs.toString(16)} is not the ring-1 code segment: -EPERM`, args };
    this.callback = { cs, eip };
    const mem = this.cpu.mem;
    mem.write(this.area + IDT_OFF + HYPERCALL_VECTOR * 8, 4, ((FLAT_RING1_CS << 16) | (eip & 0xffff)) >>> 0);
    mem.write(this.area + IDT_OFF + HYPERCALL_VECTOR * 8 + 4, 4, ((eip & 0xffff0000) | 0x8000 | 0xf00) >>> 0);
    return { ret: 0, did: `event callback at 0x${eip.toString(16)}`, args };
  }

  private mmuUpdate(req: number, count: number, pdone: number): Result {
    let done = 0;
    let why: string | null = null;
    let err = 0;
    const shown: string[] = [];
    for (let i = 0; i < count; i++) {
      const at = req + i * MMU_UPDATE_SIZE;
      const ptr = this.read32(at);
      const ptrHi = this.read32(at + 4);
      const val = this.read32(at + 8);
      const valHi = this.read32(at + 12);
      if (ptr === null || ptrHi === null || val === null || valHi === null) {
        why = `request ${i} at 0x${at.toString(16)} is not mapped`;
        err = ERRNO.EFAULT;
        break;
      }
      if ((ptr & 3) !== MMU_NORMAL_PT_UPDATE) {
        why = `request ${i}: command ${ptr & 3} is not implemented (only MMU_NORMAL_PT_UPDATE)`;
        err = ERRNO.ENOSYS;
        break;
      }
      if (ptrHi !== 0 || valHi !== 0) {
        why = `request ${i}: a machine address or entry above 4 GiB`;
        err = ERRNO.EINVAL;
        break;
      }
      const ma = ptr & ~3;
      const bad = this.updateEntry(ma, val);
      if (bad !== null) {
        why = `request ${i} (*0x${ma.toString(16)} = 0x${val.toString(16)}) refused: ${bad}`;
        err = ERRNO.EINVAL;
        break;
      }
      if (shown.length < 3) shown.push(`*0x${ma.toString(16)} = 0x${val.toString(16)}`);
      done++;
    }
    if (done > 0) this.cpu.tlbFlushAll(true);
    if (pdone !== 0) this.write32(pdone, done);
    const args = { req, count, success_count: pdone, domid: 'DOMID_SELF' };
    const list = `${shown.join(', ')}${done > shown.length ? `, … (${done - shown.length} more)` : ''}`;
    if (why !== null) return { ret: -err, did: `${done} of ${count} entries written${done > 0 ? ` (${list})` : ''}; ${why}: -${err === ERRNO.EINVAL ? 'EINVAL' : err === ERRNO.EFAULT ? 'EFAULT' : 'ENOSYS'}`, args };
    return { ret: 0, did: `${done} entries validated and written in one hypercall (${list}); TLB flushed`, args };
  }

  private updateVaMapping(va: number, val: number, flags: number): Result {
    const args = { va, val, flags };
    const mem = this.cpu.mem;
    if (va >>> 22 === MONITOR_SLOT) return { ret: -ERRNO.EINVAL, did: 'the address is in the hypervisor\u2019s 4 MiB: -EINVAL', args };
    const pde = mem.read((this.cpu.state.cr3Lo & ~0xfff) + (va >>> 22) * 4, 4);
    if ((pde & PTE_P) === 0) return { ret: -ERRNO.EINVAL, did: `no L1 table maps 0x${va.toString(16)}: -EINVAL`, args };
    const ma = (pde & ~0xfff) + ((va >>> 12) & 0x3ff) * 4;
    const bad = this.updateEntry(ma, val);
    if (bad !== null) return { ret: -ERRNO.EINVAL, did: `refused: ${bad}: -EINVAL`, args };
    const f = flags & UVMF_FLUSHTYPE_MASK;
    if (f === UVMF_INVLPG) this.cpu.tlbInvlpg(va, 0);
    else if (f === UVMF_TLB_FLUSH) this.cpu.tlbFlushAll(true);
    return { ret: 0, did: `PTE at 0x${ma.toString(16)} = 0x${val.toString(16)}${f === UVMF_INVLPG ? '; INVLPG' : f === UVMF_TLB_FLUSH ? '; TLB flushed' : ''}`, args };
  }

  private mmuextOp(ops: number, count: number, pdone: number): Result {
    const args = { ops, count, success_count: pdone, domid: 'DOMID_SELF' };
    const did: string[] = [];
    let done = 0;
    let fail: { err: number; why: string } | null = null;
    const st = this.cpu.state;
    for (let i = 0; i < count && fail === null; i++) {
      const at = ops + i * MMUEXT_OP_SIZE;
      const cmd = this.read32(at);
      const arg1 = this.read32(at + 4);
      if (cmd === null || arg1 === null) {
        fail = { err: ERRNO.EFAULT, why: `op ${i} at 0x${at.toString(16)} is not mapped` };
        break;
      }
      let why: string | null = null;
      switch (cmd) {
        case MMUEXT.PIN_L1_TABLE:
        case MMUEXT.PIN_L2_TABLE:
          why = this.pin(arg1, cmd === MMUEXT.PIN_L1_TABLE ? 'l1' : 'l2');
          if (why === null) did.push(`PIN_${cmd === MMUEXT.PIN_L1_TABLE ? 'L1' : 'L2'}_TABLE 0x${arg1.toString(16)}${cmd === MMUEXT.PIN_L2_TABLE ? ' (hypervisor slot 1023 filled)' : ''}`);
          break;
        case MMUEXT.UNPIN_TABLE:
          why = this.unpin(arg1);
          if (why === null) did.push(`UNPIN_TABLE 0x${arg1.toString(16)}`);
          break;
        case MMUEXT.NEW_BASEPTR:
          if (this.tables.get(arg1) !== 'l2') why = `frame 0x${arg1.toString(16)} is not a pinned L2 table`;
          else {
            st.cr3Lo = (arg1 << 12) >>> 0;
            st.cr3Hi = 0;
            this.cpu.modeChanged();
            this.cpu.tlbFlushAll(false, 'mov-cr3');
            did.push(`NEW_BASEPTR 0x${arg1.toString(16)}: CR3 = 0x${st.cr3Lo.toString(16)}`);
          }
          break;
        case MMUEXT.TLB_FLUSH_LOCAL:
          this.cpu.tlbFlushAll(false);
          did.push('TLB_FLUSH_LOCAL');
          break;
        case MMUEXT.INVLPG_LOCAL:
          this.cpu.tlbInvlpg(arg1, 0);
          did.push(`INVLPG_LOCAL 0x${arg1.toString(16)}`);
          break;
        default:
          fail = { err: ERRNO.ENOSYS, why: `op ${i}: command ${cmd} is not implemented` };
      }
      if (why !== null) fail = { err: ERRNO.EINVAL, why: `op ${i}: ${why}` };
      else if (fail === null) done++;
    }
    if (pdone !== 0) this.write32(pdone, done);
    if (fail !== null) return { ret: -fail.err, did: `${[...did, fail.why].join('; ')}: -${fail.err === ERRNO.EINVAL ? 'EINVAL' : fail.err === ERRNO.EFAULT ? 'EFAULT' : 'ENOSYS'}`, args };
    return { ret: 0, did: did.join('; ') || 'nothing', args };
  }

  private consoleIo(cmd: number, count: number, buf: number): Result {
    const args = { cmd: cmd === CONSOLEIO_write ? 'CONSOLEIO_write' : cmd, count, buffer: buf };
    if (cmd !== CONSOLEIO_write) return { ret: -ERRNO.ENOSYS, did: 'only CONSOLEIO_write: -ENOSYS', args };
    let s = '';
    for (let i = 0; i < count; i++) {
      const c = this.read8(buf + i);
      if (c === null) return { ret: -ERRNO.EFAULT, did: `byte ${i} at 0x${(buf + i).toString(16)} is not mapped: -EFAULT`, args };
      s += String.fromCharCode(c);
    }
    this.console += s;
    return { ret: 0, did: `${count} bytes to the console: ${JSON.stringify(s)}`, args };
  }

  private schedOp(cmd: number, arg: number): Result {
    const mem = this.cpu.mem;
    switch (cmd) {
      case SCHEDOP.yield:
        return { ret: 0, did: 'yield: the only vCPU runs on', args: { cmd: 'SCHEDOP_yield' } };
      case SCHEDOP.block: {
        // Blocking clears the upcall mask (xen.h vcpu_info); with nothing pending the virtual timer is what wakes it.
        mem.write(SHARED_INFO_PA + SHARED.upcallMask, 1, 0);
        let fired = '';
        if (mem.read8(SHARED_INFO_PA + SHARED.upcallPending) === 0) fired = `; virtual timer fired (VIRQ_TIMER ${VIRQ_TIMER}, port ${TIMER_PORT}): ${this.raise(TIMER_PORT)}`;
        return { ret: 0, did: `block: events unmasked${fired}`, args: { cmd: 'SCHEDOP_block' } };
      }
      case SCHEDOP.shutdown: {
        const reason = this.read32(arg);
        if (reason === null) return { ret: -ERRNO.EFAULT, did: 'struct sched_shutdown not mapped: -EFAULT', args: { cmd: 'SCHEDOP_shutdown', arg } };
        const names = ['poweroff', 'reboot', 'suspend', 'crash'];
        return { ret: 0, did: `shutdown, reason ${names[reason] ?? reason}: the domain ends`, args: { cmd: 'SCHEDOP_shutdown', arg, reason }, shutdown: reason };
      }
      default:
        return { ret: -ERRNO.ENOSYS, did: 'not implemented: -ENOSYS', args: { cmd } };
    }
  }

  private eventChannelOp(cmd: number, arg: number): Result {
    if (cmd !== EVTCHNOP_send) return { ret: -ERRNO.ENOSYS, did: 'only EVTCHNOP_send: -ENOSYS', args: { cmd, arg } };
    const port = this.read32(arg);
    if (port === null) return { ret: -ERRNO.EFAULT, did: 'struct evtchn_send not mapped: -EFAULT', args: { cmd: 'EVTCHNOP_send', arg } };
    if (port !== SELF_PORT) return { ret: -ERRNO.EINVAL, did: `port ${port} is not bound to an endpoint that can be sent on: -EINVAL`, args: { cmd: 'EVTCHNOP_send', port } };
    return { ret: 0, did: `port ${port} (bound to this domain): ${this.raise(port)}`, args: { cmd: 'EVTCHNOP_send', port } };
  }

  /** Raises an event channel in the shared info page (xen.h shared_info): what it set. */
  raise(port: number): string {
    const mem = this.cpu.mem;
    const word = SHARED_INFO_PA + SHARED.evtchnPending + (port >>> 5) * 4;
    const bit = 1 << (port & 31);
    const was = mem.read(word, 4);
    mem.write(word, 4, (was | bit) >>> 0);
    if ((was & bit) !== 0) return 'already pending';
    if ((mem.read(SHARED_INFO_PA + SHARED.evtchnMask + (port >>> 5) * 4, 4) & bit) !== 0) return 'pending, but the port is masked: no upcall';
    mem.write(SHARED_INFO_PA + SHARED.pendingSel, 4, (mem.read(SHARED_INFO_PA + SHARED.pendingSel, 4) | (1 << (port >>> 5))) >>> 0);
    mem.write(SHARED_INFO_PA + SHARED.upcallPending, 1, 1);
    return mem.read8(SHARED_INFO_PA + SHARED.upcallMask) !== 0 ? 'pending; upcall held while events are masked' : 'pending; upcall at the next entry';
  }

  // ---- the backend interface ----





  /** Past INT 0x82 (the only instruction the hypervisor completes for the guest), retired as the guest's own. */
  advance(): void {
    if (this.pendingLength === 0) throw new Error('advance: no hypercall to complete');
    const st = this.cpu.state;
    st.ripLo = (st.ripLo + this.pendingLength) >>> 0;
    st.interruptShadow = false;
    st.steps++;
    st.tsc++;
    this.pendingLength = 0;
  }



  cr(n: 0 | 2 | 3 | 4): bigint {
    const st = this.cpu.state;
    if (n === 0) return BigInt(st.cr0 >>> 0);
    if (n === 3) return BigInt(st.cr3Lo >>> 0);
    if (n === 4) return BigInt(st.cr4 >>> 0);
    return BigInt(st.cr2Lo >>> 0);
  }

  /** Only CR2, for a reflected #PF: the processor's, and vcpu_info.arch.cr2 where a ring-1 handler reads it. */
  setCr(n: 0 | 2 | 3 | 4, v: bigint): string | null {
    if (n !== 2) return `CR${n}: a PV guest changes it through a hypercall`;
    const lo = Number(v & 0xffffffffn);
    this.cpu.state.cr2Lo = lo;
    this.cpu.state.cr2Hi = 0;
    this.cpu.mem.write(SHARED_INFO_PA + SHARED.cr2, 4, lo);
    return null;
  }

  efer(): bigint {
    return 0n;
  }

  setEfer(): void {
    throw new Error('pv: EFER is not the guest\u2019s to write');
  }

  inject(ev: HvEvent): void {
    this.event = ev;
  }

  report(): { gpr: bigint[]; rip: bigint; rflags: bigint; cr0: bigint; cr3: bigint; cr4: bigint } {
    const gpr = Array.from({ length: 16 }, (_, n) => this.gpr(n));
    const st = this.cpu.state;
    return { gpr, rip: this.rip(), rflags: BigInt(this.rflags()), cr0: BigInt(st.cr0 >>> 0), cr3: BigInt(st.cr3Lo >>> 0), cr4: BigInt(st.cr4 >>> 0) };
  }

  passThroughOnce(_port: number, _size: 1 | 2 | 4, _ports: PortHandler): BackendRun {
    throw new Error('passThroughOnce: a PV guest does no port I/O (console_io)');
  }



  invalidateGuest(): string {
    return 'nothing to do: the guest flushes through mmuext_op';
  }


}
