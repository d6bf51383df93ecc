/**
 * Trap-and-emulate on classic x86 (issue 9, item 1): the monitor of the years before VT-x and
 * AMD-V, as Popek and Goldberg (1974) describe a virtual machine monitor and as the x86 made it
 * fail. No virtualization extension is used: the guest kernel runs *deprivileged*, in ring 1, and
 * every privileged instruction it executes there faults (#GP) into the monitor, which carries it
 * out on the guest's virtual state and resumes the guest after it. The guest's user code stays in
 * ring 3. This backend plugs into the vendor-neutral hypervisor core (hypervisor.ts) as VT-x and
 * AMD-V do: a trap is its "exit", and the core's handlers emulate I/O, control registers, MSRs,
 * HLT and INVLPG, reflect the guest's own exceptions, and run shadow paging (shadow.ts), which a
 * monitor without nested paging needs anyway, here also to keep its own memory out of the guest's
 * reach.
 *
 * What the monitor builds in its area (host-physical memory the guest cannot map):
 * - a shadow GDT (64 KiB: GDTR limit 0xFFFF) that copies the guest's GDT entry for entry with
 *   *ring compression*: a code or data descriptor of DPL 0 becomes DPL 1, so the guest's own
 *   selectors load in ring 1; the monitor's TSS descriptor is the last entry (selector 0xFFF8);
 * - a shadow IDT copying the guest's gates, DPL 0 gates made DPL 1 (the guest kernel's INT n
 *   still reaches them), whose handlers are the guest's own: hardware exceptions first come to
 *   the monitor (the CPU's guest seam, cpu/guest.ts, stands for the monitor's own IDT entries),
 *   which reflects those that are the guest's through the shadow IDT; software interrupts (INT n,
 *   INT3, INTO: system calls) go to the guest's handler directly, as Xen's trap table sends them;
 * - its TSS, whose ring-1 stack (SS1:ESP1) is the guest's ring-0 stack (SS0:ESP0 of the TSS the
 *   guest loaded with LTR), and whose I/O permission bitmap denies every port, so that IN and OUT
 *   fault in ring 1 (IOPL is 0) and in ring 3.
 *
 * What traps (at CPL 1 with IOPL 0: SDM Vol. 3A 5.9 "Privileged Instructions", 20.8 I/O
 * sensitivity) and how it is emulated:
 * - HLT, MOV to/from CR0, CR2, CR3, CR4, RDMSR, WRMSR, INVLPG, IN/OUT/INS/OUTS: to the core's
 *   handlers (exit kinds 'hlt', 'cr', 'msr', 'invlpg', 'io');
 * - CLI, STI (IOPL < CPL), LGDT, LIDT, LTR, LLDT, CLTS, LMSW, and the guest kernel's own IRET and
 *   MOV SS with a selector of RPL 0 (ring compression makes RPL 0 < CPL 1 a #GP): emulated here
 *   (`emulate`, exit kind 'privileged'). The guest's IF is the processor's IF: the monitor keeps
 *   them equal whenever it sees a change (CLI, STI, an emulated IRET), which POPF is not.
 *
 * What does not trap, and so breaks the guest's view (the lesson; Robin and Irvine, 2000):
 * - POPF in ring 1 with IOPL 0 leaves IF (and IOPL) unchanged *without faulting* (SDM Vol. 2B,
 *   POPF: "If the privilege level is greater than IOPL, the IF flag is not affected"), so a guest
 *   that enables interrupts with POPF does not;
 * - SGDT, SIDT, SLDT, STR and SMSW are unprivileged (without CR4.UMIP): they show the monitor's
 *   GDT and IDT bases, its TR selector, and CR0.PG and WP set while the guest's paging is off;
 * - PUSH CS, MOV r/m, CS and the frames of interrupts show RPL 1; LAR and LSL and VERR/VERW read
 *   the shadow GDT's DPL 1; CPUID shows no hypervisor.
 *
 * Scope: a 32-bit protected-mode guest (the `exec` machine's prot32). A 64-bit guest would run its
 * kernel in ring 3 (AMD64 dropped segment limits, so ring 1 protects nothing there) with a second
 * shadow to keep its kernel's pages from its user code; that is not built, and `exec --mode long64
 * --under trap-emulate` says so. Not emulated, each ending the run with an error that names it:
 * LLDT of a non-null selector, RETF to a selector of RPL 0, SYSENTER/SYSEXIT (the monitor keeps
 * IA32_SYSENTER_CS at 0 so that SYSENTER faults instead of entering ring 0), a return to
 * virtual-8086 mode or a nested task. The shadow descriptor tables are rebuilt at LGDT, LIDT and
 * LTR, and the frames holding them are write-protected in the shadow (`watchTables`), so an edit of
 * a loaded table faults into the monitor, runs once where it stands, and the shadow follows (as
 * VMware's monitor traced them). The accessed bits the processor sets land in the shadow GDT, not
 * in the guest's, and so do the A/D flags of the page holding the tables (tests/oracle/monitor-dump.ts).
 * An IRETD from the guest kernel to ring 3 runs as it stands: in ring 1 it leaves IF and IOPL as
 * they were, as POPF does (binary translation fixes that up; trap-and-emulate cannot see it).
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { CpuCore } from '../../cpu/core.ts';
import { Fault, Vec } from '../../cpu/core.ts';
import { decode } from '../../cpu/decode.ts';
import type { Insn, MemOperand } from '../../cpu/insn.ts';
import { GuestExit, operandLinear, type GuestMonitor, type Intercept } from '../../cpu/guest.ts';
import { deliverEvent, deliverExceptionImpl, EventKind, hasErrorCode, isDoubleFault } from '../../cpu/sys-int.ts';
import { SegAttr, Flag } from '../../cpu/state.ts';
import type { SegmentCache } from '../../cpu/state.ts';
import { CR0, CR4, EFER } from '../../cpu/sys-util.ts';
import type { Ledger } from '../../cost/ledger.ts';
import { ShadowMmu } from '../shadow.ts';
import { SoftwareBackend } from '../soft-backend.ts';
import type { BackendRun, HvBackend, HvEvent, HvExit, HvExitDetail, PortHandler } from '../types.ts';

/** The monitor's area: shadow GDT (64 KiB), shadow IDT, TSS with its I/O bitmap. */
const GDT_OFF = 0;
const IDT_OFF = 0x10000;
const TSS_OFF = 0x11000;
/** TSS: 104 bytes, then the I/O permission bitmap (8 KiB for 65 536 ports) and its closing 0xFF byte. */
const TSS_IOMAP = 104;
const TSS_LIMIT = TSS_IOMAP + 0x2000;
export const TE_AREA_SIZE = 0x14000;
/**
 * Where the monitor's area appears in every shadow (the processor reads the GDT, IDT and TSS by
 * linear address): the top 4 MiB, as VMware's monitor sat (Xen's x86-32 hole was the top 64 MiB).
 * The guest's segments are truncated below it, so its ring 1 cannot reach it.
 */
export const MONITOR_LINEAR = 0xffc00000;
/** The monitor's TSS selector: the shadow GDT's last entry. */
export const MONITOR_TR = 0xfff8;
const IA32_SYSENTER_CS = 0x174;
const IA32_SYSENTER_ESP = 0x175;
const IA32_SYSENTER_EIP = 0x176;
/** Vectors named as the manuals name them, for exit names (#GP, #PF...). */
export const VECTOR_NAMES = ['DE', 'DB', 'NMI', 'BP', 'OF', 'BR', 'UD', 'NM', 'DF', 'CSO', 'TS', 'NP', 'SS', 'GP', 'PF', '15', 'MF', 'AC', 'MC', 'XM', 'VE', 'CP'];
export const vectorName = (v: number): string => `#${VECTOR_NAMES[v] ?? String(v)}`;

/** Instructions the monitor emulates itself (exit kind 'privileged'). */
export type TeEmulated = 'cli' | 'sti' | 'lgdt' | 'lidt' | 'ltr' | 'lldt' | 'clts' | 'lmsw' | 'iretd' | 'mov ss';

export interface TeBackendOptions {
  /** Host-physical address of the monitor's area (TE_AREA_SIZE bytes, outside the guest's RAM). */
  area: number;
  ledger: Ledger;
  /** The shadow pool (SHADOW_POOL_SIZE bytes). */
  shadowPool: number;
  guestRam: { size: number; hpaBase: number };
  /** The preset's vendor (the processor the run is priced on). */
  vendor: 'intel' | 'amd';
  /** The area's size (default TE_AREA_SIZE; binary translation adds its translation cache): all of it appears at MONITOR_LINEAR. */
  areaSize?: number;
}

interface Pending {
  insn: Insn;
  /** The privileged instruction's mnemonic as the trap counts name it. */
  name: string;
}

/** The guest's segment caches get DPL 1 where they said 0 (ring compression); CS and SS RPL 1. */
function compress(c: SegmentCache, rpl: boolean): void {
  const dpl = (c.attr >>> SegAttr.DPL_SHIFT) & 3;
  if ((c.attr & SegAttr.S) !== 0 && dpl === 0) c.attr = (c.attr | (1 << SegAttr.DPL_SHIFT)) >>> 0;
  if (rpl && (c.selector & 3) === 0) c.selector |= 1;
  if ((c.attr & SegAttr.S) === 0 || !c.valid) return;
  const top = expandDown(c.attr) ? c.baseLo + ((c.attr & SegAttr.DB) !== 0 ? 0xffffffff : 0xffff) : c.baseLo + c.limit;
  if (top < MONITOR_LINEAR) return;
  if (expandDown(c.attr) || c.baseLo >= MONITOR_LINEAR) throw new RangeError('trap-and-emulate: the guest starts with a segment that reaches the monitor\u2019s top 4 MiB');
  c.limit = (MONITOR_LINEAR - 1 - c.baseLo) >>> 0;
}

/** An expand-down data segment (its limit is a lower bound). */
const expandDown = (attr: number): boolean => (attr & 0xc) === 0x4;

/**
 * A code or data descriptor made unable to reach the monitor's top 4 MiB: an expand-up segment's
 * limit is cut (rounded down to whole pages when G = 1) so that base + limit stays below
 * MONITOR_LINEAR; a segment that starts at or above it, or an expand-down segment whose range
 * meets it (its top is fixed at 4 GiB or 64 KiB past the base), is marked not present, so that
 * loading it faults (#NP) where bare it would load: a divergence, and the monitor's safety.
 */
function truncate(lo: number, hi: number): [number, number] {
  const attr = (hi >>> 8) & 0xffff;
  const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  const g = (hi & 0x800000) !== 0;
  const limit = g ? ((raw << 12) | 0xfff) >>> 0 : raw;
  const notPresent: [number, number] = [lo, (hi & ~0x8000) >>> 0];
  if (expandDown(attr)) return base + ((hi & 0x400000) !== 0 ? 0xffffffff : 0xffff) < MONITOR_LINEAR ? [lo, hi] : notPresent;
  if (base >= MONITOR_LINEAR) return notPresent;
  if (base + limit < MONITOR_LINEAR) return [lo, hi];
  const nraw = g ? Math.floor((MONITOR_LINEAR - base) / 0x1000) - 1 : Math.min(MONITOR_LINEAR - 1 - base, 0xfffff);
  if (nraw < 0) return notPresent;
  return [((lo & 0xffff0000) | (nraw & 0xffff)) >>> 0, ((hi & ~0xf0000) | (nraw & 0xf0000)) >>> 0];
}

export class TeBackend extends SoftwareBackend implements HvBackend {
  readonly vendor: 'intel' | 'amd';
  readonly id: string = 'te';
  readonly shadow: ShadowMmu;
  protected readonly ledger: Ledger;
  protected readonly area: number;
  /** The guest's control registers and EFER as it set them. */
  protected gcr0: number;
  protected gcr3: number;
  protected gcr4: number;
  protected gefer: number;
  /** The guest's GDTR, IDTR, TR and LDTR as it loaded them. */
  vgdtr: { base: number; limit: number };
  vidtr: { base: number; limit: number };
  vtr: { selector: number; base: number; limit: number };
  vldtr = 0;
  private readonly msrs = new Map<number, bigint>();
  /** Guest frames holding the descriptor tables the guest loaded (LGDT, LIDT, LTR): write-protected, so that an edit is seen. */
  readonly dtFrames = new Set<number>();
  /** A write to a watched frame is under way: its instruction runs once where it stands before anything else (the frame's number). */
  protected stepping = -1;
  protected pending: Pending | null = null;
  protected event: HvEvent | null = null;
  protected readonly monitor: GuestMonitor & { software: boolean };

  constructor(cpu: Cpu, opts: TeBackendOptions) {
    super(cpu);
    const st = cpu.state;
    if ((st.efer & EFER.LMA) !== 0) throw new RangeError('trap-and-emulate runs a 32-bit guest: a 64-bit guest kernel would need ring 3 and a second shadow for its user code (not built)');
    if ((st.cr0 & CR0.PE) === 0) throw new RangeError('trap-and-emulate: the guest must start in protected mode');
    if (cpu.cpl() !== 0) throw new RangeError('trap-and-emulate: the guest starts in its ring 0');
    const ram = opts.guestRam;
    const areaSize = opts.areaSize ?? TE_AREA_SIZE;
    if (opts.area < ram.hpaBase + ram.size && opts.area + areaSize > ram.hpaBase) throw new RangeError('monitor area: inside the guest\u2019s RAM');
    this.vendor = opts.vendor;
    this.ledger = opts.ledger;
    this.area = opts.area;
    this.gcr0 = st.cr0 >>> 0;
    this.gcr3 = st.cr3Lo >>> 0;
    this.gcr4 = st.cr4 >>> 0;
    this.gefer = st.efer >>> 0;
    this.vgdtr = { base: st.gdtr.baseLo >>> 0, limit: st.gdtr.limit };
    this.vidtr = { base: st.idtr.baseLo >>> 0, limit: st.idtr.limit };
    this.vtr = { selector: st.tr.selector, base: st.tr.baseLo >>> 0, limit: st.tr.limit };
    this.vldtr = st.ldtr.valid ? st.ldtr.selector : 0;
    this.shadow = new ShadowMmu({
      pool: opts.shadowPool, guestRam: ram, pinned: { linear: MONITOR_LINEAR, hpa: opts.area, pages: areaSize / 0x1000 },
      host: {
        mem: cpu.mem, maxPhysAddr: 36, page1gb: false,
        guestRegs: () => ({ cr0: this.gcr0, cr3: this.gcr3, cr4: this.gcr4, efer: this.gefer }),
        loadRoot: (root: number) => {
          st.cr3Lo = root >>> 0;
          st.cr3Hi = 0;
          st.cr4 = this.realCr4();
          this.cpu.modeChanged();
          this.cpu.tlbFlushAll(true);
        },
        enterOnce: () => this.enter(1),
        flushTlb: () => this.cpu.tlbFlushAll(true),
      },
    });
    const mem = cpu.mem;
    for (let i = 0; i < TE_AREA_SIZE; i += 4) mem.write(this.area + i, 4, 0);
    // The monitor's TSS: no ring-0 stack of the guest's, I/O bitmap denying every port.
    mem.write(this.area + TSS_OFF + 102, 2, TSS_IOMAP);
    for (let i = 0; i < 0x2000; i += 4) mem.write(this.area + TSS_OFF + TSS_IOMAP + i, 4, 0xffffffff);
    mem.write(this.area + TSS_OFF + TSS_IOMAP + 0x2000, 1, 0xff);
    this.rebuildGdt();
    this.rebuildIdt();
    this.syncTssStack();
    // The processor as the monitor runs the guest: its tables, its TSS, ring 1, paging on the shadow.
    st.gdtr = { baseLo: MONITOR_LINEAR + GDT_OFF, baseHi: 0, limit: 0xffff };
    st.idtr = { baseLo: MONITOR_LINEAR + IDT_OFF, baseHi: 0, limit: this.vidtr.limit };
    st.tr = { selector: MONITOR_TR, baseLo: MONITOR_LINEAR + TSS_OFF, baseHi: 0, limit: TSS_LIMIT, attr: 0xb | SegAttr.P, valid: true };
    for (const i of [0, 2, 3, 4, 5]) compress(st.seg[i]!, i === 2);
    compress(st.seg[1]!, true);
    cpu.syncFlags();
    st.rflags = (st.rflags & ~Flag.IOPL) >>> 0;
    st.cr0 = this.realCr0();
    st.efer = 0;
    this.msrs.set(IA32_SYSENTER_CS, 0n);
    this.msrs.set(IA32_SYSENTER_ESP, 0n);
    this.msrs.set(IA32_SYSENTER_EIP, 0n);
    cpu.modeChanged();
    const why = this.shadow.sync('start');
    if (why !== null) throw new RangeError(why);
    this.monitor = {
      software: false,
      intercept(what: Intercept): boolean {
        if (what.kind === 'triple-fault') return true;
        if (what.kind !== 'exception') return false;
        // Hardware exceptions come to the monitor first; software interrupts too when `software` is set (binary translation).
        return what.type === 'hardware-exception' || what.during !== null || this.software;
      },
      interruptWindow: false,
      interruptExitsIgnoreIf: false,
      acknowledgeInterruptOnExit: false,
      deadline: Infinity,
    };
    cpu.guest = this.monitor;
    cpu.exit = null;
  }

  /** CR0 as the processor runs the guest: the guest's, with PG and WP for the shadow and PE. */
  protected realCr0(): number {
    return (this.gcr0 | CR0.PE | CR0.PG | CR0.WP) >>> 0;
  }

  /** CR4 as the processor runs the guest: 32-bit shadow tables (no PAE, no PSE, no PGE). */
  protected realCr4(): number {
    return (this.gcr4 & ~(CR4.PAE | CR4.PSE | CR4.PGE | CR4.PCIDE)) >>> 0;
  }

  // ---- the guest's memory, as the monitor reads it (guest linear → guest physical → host) ----

  /** The host-physical address of a guest linear address, or null if the guest's walk faults. */
  protected hpaOf(lin: number): number | null {
    const w = this.shadow.inspect(lin >>> 0).walk;
    const gpa = w === null ? lin >>> 0 : w.ok ? w.pa : -1;
    return gpa < 0 ? null : this.shadow.gpaToHpa(gpa);
  }

  readGuest(lin: number, size: 1 | 2 | 4): number | null {
    let v = 0;
    for (let i = 0; i < size; i++) {
      const h = this.hpaOf((lin + i) >>> 0);
      if (h === null) return null;
      v += this.cpu.mem.read8(h) * 2 ** (8 * i);
    }
    return v >>> 0;
  }

  protected writeGuest8(lin: number, v: number): void {
    const h = this.hpaOf(lin >>> 0);
    if (h === null) return;
    this.cpu.mem.write(h, 1, v & 0xff);
    // The monitor's own store into a frame it watches (a fix-up, LTR's busy bit): it catches up as after the guest's.
    const g = h - (h % 0x1000);
    if (this.shadow.codePages.has(g) && this.stepping !== g) {
      this.frameWritten(g);
      if (this.dtFrames.has(g)) this.afterWrite(g);
    }
  }

  /** The guest frame a guest linear address maps to now, or -1. */
  protected frameOf(lin: number): number {
    const h = this.hpaOf(lin >>> 0);
    return h === null ? -1 : h - (h % 0x1000);
  }

  /** Whether the guest's own tables let this write happen (else it is the guest's own #PF). */
  private guestMayWrite(lin: number, user: boolean): boolean {
    const w = this.shadow.inspect(lin >>> 0).walk;
    if (w === null) return true;
    if (!w.ok || w.rights === undefined) return false;
    if (user) return w.rights.rw && w.rights.us;
    return w.rights.rw || (this.gcr0 & CR0.WP) === 0;
  }

  /** A write to watched frame `gfn` faulted (before it happens): binary translation drops its blocks there. */
  protected frameWritten(_gfn: number): void {}

  /** The write to `gfn` has happened: the shadow descriptor tables follow the guest's, and the frames are watched again. */
  protected afterWrite(gfn: number): void {
    if (!this.dtFrames.has(gfn)) return;
    this.rebuildGdt();
    this.rebuildIdt();
    this.syncTssStack();
    this.dtFrames.delete(gfn);
    this.watchTables();
  }

  /** Which guest frames hold the tables the guest loaded; those are write-protected, the others released. */
  protected watchTables(): void {
    const want = new Set<number>();
    const add = (base: number, len: number): void => {
      for (let a = base - (base % 0x1000); a < base + len; a += 0x1000) {
        const g = this.frameOf(a);
        if (g >= 0) want.add(g);
      }
    };
    if (this.tablesLoaded.gdt) add(this.vgdtr.base, this.vgdtr.limit + 1);
    if (this.tablesLoaded.idt) add(this.vidtr.base, this.vidtr.limit + 1);
    if (this.tablesLoaded.tr) add(this.vtr.base, Math.min(this.vtr.limit + 1, 104));
    for (const g of [...this.dtFrames]) {
      if (want.has(g)) continue;
      this.dtFrames.delete(g);
      this.releaseFrame(g);
    }
    for (const g of want) {
      this.dtFrames.add(g);
      this.shadow.protectCode(g);
    }
  }

  /** A frame the descriptor tables no longer use: unwatched unless something else needs it (binary translation's code). */
  protected releaseFrame(gfn: number): void {
    if (!this.dtFrames.has(gfn)) this.shadow.unprotectCode(gfn);
  }

  /** The tables the guest loaded itself (the exec start state's GDTR and IDTR name no table). */
  protected readonly tablesLoaded = { gdt: false, idt: false, tr: false };

  // ---- the shadow descriptor tables ----

  /** The shadow GDT: the guest's descriptors with ring compression, the monitor's TSS last. */
  protected rebuildGdt(): void {
    const mem = this.cpu.mem;
    const at = this.area + GDT_OFF;
    const n = Math.min((this.vgdtr.limit + 1) >>> 3, 8191);
    for (let i = 0; i < 8192; i++) {
      let lo = 0;
      let hi = 0;
      if (i > 0 && i < n) {
        lo = this.readGuest(this.vgdtr.base + i * 8, 4) ?? 0;
        hi = this.readGuest(this.vgdtr.base + i * 8 + 4, 4) ?? 0;
        const s = (hi & 0x1000) !== 0;
        const dpl = (hi >>> 13) & 3;
        if (s && dpl === 0) hi = (hi | (1 << 13)) >>> 0;
        if (s && (hi & 0x8000) !== 0) [lo, hi] = truncate(lo, hi);
      }
      mem.write(at + i * 8, 4, lo);
      mem.write(at + i * 8 + 4, 4, hi);
    }
    const base = MONITOR_LINEAR + TSS_OFF;
    mem.write(at + 8191 * 8, 4, ((base & 0xffff) << 16 | (TSS_LIMIT & 0xffff)) >>> 0);
    mem.write(at + 8191 * 8 + 4, 4, ((base & 0xff000000) | ((base >>> 16) & 0xff) | 0x8b00 | (TSS_LIMIT & 0xf0000)) >>> 0);
  }

  /** The shadow IDT: the guest's gates, DPL 0 made DPL 1. */
  protected rebuildIdt(): void {
    const mem = this.cpu.mem;
    const at = this.area + IDT_OFF;
    const n = Math.min((this.vidtr.limit + 1) >>> 3, 256);
    for (let i = 0; i < 256; i++) {
      let lo = 0;
      let hi = 0;
      if (i < n) {
        lo = this.readGuest(this.vidtr.base + i * 8, 4) ?? 0;
        hi = this.readGuest(this.vidtr.base + i * 8 + 4, 4) ?? 0;
        const type = (hi >>> 8) & 0xf;
        const gate = type === 6 || type === 7 || type === 0xe || type === 0xf;
        if (gate && ((hi >>> 13) & 3) === 0) hi = (hi | (1 << 13)) >>> 0;
      }
      mem.write(at + i * 8, 4, lo);
      mem.write(at + i * 8 + 4, 4, hi);
    }
    this.cpu.state.idtr = { baseLo: MONITOR_LINEAR + IDT_OFF, baseHi: 0, limit: this.vidtr.limit };
  }

  /** The monitor's TSS ring-1 stack: the guest's ring-0 stack (SS0 made RPL 1). */
  private syncTssStack(): void {
    const mem = this.cpu.mem;
    const t = this.area + TSS_OFF;
    const tssOk = this.vtr.selector !== 0 && this.vtr.limit >= 103;
    const esp0 = tssOk ? this.readGuest(this.vtr.base + 4, 4) ?? 0 : 0;
    const ss0 = tssOk ? this.readGuest(this.vtr.base + 8, 2) ?? 0 : 0;
    mem.write(t + 12, 4, esp0);
    mem.write(t + 16, 4, ss0 === 0 ? 0 : (ss0 | 1) & 0xffff);
  }

  // ---- entering the guest and reading its traps ----

  get steps(): number {
    return this.cpu.state.steps;
  }

  enter(budget: number): BackendRun {
    const cpu = this.cpu;
    if (this.stepping >= 0 && !this.inHandler) {
      // After a write to a watched frame faulted: the writing instruction runs once where it stands, then the monitor catches up.
      const steps = cpu.state.steps;
      this.inHandler = true;
      let r: BackendRun;
      try {
        r = this.enter(1);
      } finally {
        this.inHandler = false;
      }
      if (cpu.state.steps !== steps) {
        const g = this.stepping;
        this.stepping = -1;
        this.afterWrite(g);
      }
      if (r.kind !== 'budget' || budget <= 1) return r;
      budget -= 1;
    }
    // Inside a handler a one-instruction entry runs the guest's own instruction where it stands (string I/O, MMIO, a page-table write).
    const once = this.inHandler && budget === 1;
    this.pending = null;
    for (;;) {
      cpu.exit = null;
      cpu.guestVectoring = null;
      if (this.event !== null) {
        const ev = this.event;
        this.event = null;
        this.deliver(ev);
      }
      if (!once && cpu.exit === null) {
        const why = this.settle();
        if (why !== null) return { kind: 'invalid', failed: [why] };
      }
      const { end, native } = this.runGuest(budget, this.ledger);
      budget -= native;
      if (end === 'exit' && cpu.exit !== null) {
        const trapped = cpu.exit;
        const exit = this.withCause(() => this.readTrap(trapped));
        // null: the monitor handled it on its own (binary translation's chaining) and the guest goes on.
        if (exit === null) {
          if (budget > 0) continue;
          return { kind: 'budget' };
        }
        return { kind: 'exit', exit };
      }
      if (end === 'shutdown') return { kind: 'shutdown' };
      if (end === 'hlt') return { kind: 'halted' };
      return { kind: 'budget' };
    }
  }

  /** Before the guest runs (not for a handler's one-instruction run): binary translation moves the guest kernel into its translation. */
  protected settle(): string | null {
    return null;
  }

  /** The fault into the monitor through its IDT and the IRET back, then the monitor's own path. */
  protected chargeTrap(): void {
    this.ledger.charge({ kind: 'trap' });
    this.ledger.charge({ kind: 'hv-dispatch' });
  }

  /** Delivers an event the core reflected, through the shadow IDT, as the guest's ring 0 would take it (in ring 1). */
  protected deliver(ev: HvEvent): void {
    const cpu = this.cpu;
    const st = cpu.state;
    const err = ev.type === 'exception' && ev.errorCode !== undefined ? ev.errorCode : -1;
    const kind = ev.type === 'exception' ? EventKind.EXCEPTION : ev.type === 'software' ? EventKind.SOFTWARE : EventKind.EXTERNAL;
    const ret = ev.type === 'software' ? (st.ripLo + (ev.length ?? 0)) >>> 0 : st.ripLo;
    try {
      try {
        deliverEvent(cpu, ev.vector, err, kind, ret, st.ripHi);
      } catch (e) {
        if (!(e instanceof Fault)) throw e;
        if (ev.type === 'exception' && ev.vector === Vec.DF) {
          if (!cpu.guestIntercept({ kind: 'triple-fault', rip: this.rip(), length: 0 })) st.shutdown = true;
        } else if (ev.type === 'exception' && isDoubleFault(ev.vector, e.vector)) {
          const code2 = hasErrorCode(e.vector) ? (e.errorCode < 0 ? 0 : e.errorCode) : -1;
          const address = e.vector === Vec.PF ? (BigInt(st.cr2Hi >>> 0) << 32n) | BigInt(st.cr2Lo >>> 0) : null;
          const first = { vector: ev.vector, type: 'hardware-exception', errorCode: err, length: 0 } as const;
          if (!cpu.guestIntercept({ kind: 'exception', rip: this.rip(), length: 0, vector: e.vector, type: 'hardware-exception', errorCode: code2, address, during: first })) deliverExceptionImpl(cpu, new Fault(Vec.DF, 0));
        } else {
          cpu.guestVectoring = { vector: ev.vector, type: ev.type === 'exception' ? 'hardware-exception' : ev.type === 'software' ? 'software-interrupt' : 'external-interrupt', errorCode: err, length: ev.length ?? 0 };
          deliverExceptionImpl(cpu, e);
        }
      }
    } catch (e) {
      if (e !== GuestExit.signal) throw e;
    }
  }

  /** Decodes the instruction at the guest's CS:EIP through the guest's own tables. */
  protected decodeHere(): Insn | null {
    const st = this.cpu.state;
    const lin = (st.seg[1]!.baseLo + st.ripLo) >>> 0;
    const r = decode((i) => this.readGuest(lin + i, 1) ?? -1, (st.seg[1]!.attr & SegAttr.DB) !== 0 ? 32 : 16);
    return r.kind === 'ok' ? r.insn : null;
  }

  /** A trap normalised for the core: a privileged instruction the monitor emulates, or an exception it reflects. */
  protected readTrap(x: Intercept): HvExit | null {
    this.chargeTrap();
    if (x.kind === 'exception' && x.vector === Vec.PF && x.type === 'hardware-exception' && x.address !== null && (x.errorCode & 2) !== 0) {
      const a = Number(x.address);
      const gfn = this.frameOf(a);
      if (gfn >= 0 && this.shadow.codePages.has(gfn) && this.guestMayWrite(a, (x.errorCode & 4) !== 0)) {
        // A write to a frame the monitor watches (the guest's descriptor tables; binary translation's code).
        const label = this.dtFrames.has(gfn) ? 'descriptor-table write' : 'code write';
        this.count(label);
        this.frameWritten(gfn);
        this.shadow.unprotectCode(gfn);
        this.stepping = gfn;
        const insn = this.decodeHere();
        if (insn === null) return null;
        this.pending = { insn, name: label };
        return { code: Vec.PF, name: vectorName(Vec.PF), detail: { kind: 'privileged' }, rip: x.rip, raw: { vector: BigInt(Vec.PF), error_code: BigInt(x.errorCode), address: x.address } };
      }
    }
    const rip = x.rip;
    const raw: Record<string, bigint> = {};
    if (x.kind === 'triple-fault') return { code: 8, name: 'triple fault', detail: { kind: 'triple-fault' }, rip, raw };
    if (x.kind !== 'exception') return { code: -1, name: x.kind, detail: { kind: 'other', why: `intercept ${x.kind}` }, rip, raw };
    raw.vector = BigInt(x.vector);
    raw.error_code = BigInt(x.errorCode);
    if (x.vector === Vec.GP && x.during === null && this.cpu.cpl() === 3) {
      // SYSENTER would enter ring 0: the monitor keeps IA32_SYSENTER_CS at 0 so that it faults here.
      const insn = this.decodeHere();
      if (insn !== null && insn.mnemonic === 'sysenter') return { code: Vec.GP, name: vectorName(Vec.GP), detail: { kind: 'other', why: 'sysenter from the guest\u2019s user code: not emulated by this monitor' }, rip, raw };
    }
    if (x.vector === Vec.GP && x.during === null && this.cpu.cpl() === 1) {
      const insn = this.decodeHere();
      if (insn !== null) {
        const d = this.privileged(insn);
        if (d !== null) {
          this.pending = { insn, name: d.name };
          this.count(d.name);
          return { code: Vec.GP, name: vectorName(Vec.GP), detail: d.detail, rip, raw };
        }
      }
    }
    this.count(vectorName(x.vector));
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

  /** What a #GP in ring 1 was, when it was the guest kernel's privileged instruction (else null: the guest's own #GP). */
  protected privileged(insn: Insn): { detail: HvExitDetail; name: string } | null {
    const m = insn.mnemonic;
    const op0 = insn.operands[0];
    const op1 = insn.operands[1];
    const st = this.cpu.state;
    const dx = st.regLo[2]! & 0xffff;
    switch (m) {
      case 'hlt':
        return { detail: { kind: 'hlt' }, name: 'hlt' };
      case 'rdmsr':
      case 'wrmsr':
        return { detail: { kind: 'msr', write: m === 'wrmsr' }, name: m };
      case 'invlpg': {
        const linear = operandLinear(this.cpu, op0 as MemOperand, (st.ripLo + insn.length) >>> 0, 0);
        return { detail: { kind: 'invlpg', linear }, name: m };
      }
      case 'in':
      case 'out': {
        const imm = (m === 'in' ? op1 : op0)?.kind === 'imm';
        const port = imm ? ((m === 'in' ? op1 : op0) as { lo: number }).lo & 0xff : dx;
        const size = (insn.opSize === 1 || (m === 'in' ? op0 : op1)?.kind === 'reg' && ((m === 'in' ? op0 : op1) as { size: number }).size === 1 ? 1 : insn.opSize === 2 ? 2 : 4) as 1 | 2 | 4;
        return { detail: { kind: 'io', dir: m === 'in' ? 'in' : 'out', port, size, string: false, rep: false }, name: m };
      }
      case 'insb': case 'insw': case 'insd': case 'outsb': case 'outsw': case 'outsd': {
        const size = (m.endsWith('b') ? 1 : m.endsWith('w') ? 2 : 4) as 1 | 2 | 4;
        return { detail: { kind: 'io', dir: m.startsWith('ins') ? 'in' : 'out', port: dx, size, string: true, rep: insn.rep !== 'none' }, name: m };
      }
      case 'mov':
        if (op0?.kind === 'cr' && op1?.kind === 'reg') return { detail: { kind: 'cr', cr: op0.reg, access: 'write', gpr: op1.reg }, name: `mov cr${op0.reg}` };
        if (op1?.kind === 'cr' && op0?.kind === 'reg') return { detail: { kind: 'cr', cr: op1.reg, access: 'read', gpr: op0.reg }, name: `mov from cr${op1.reg}` };
        if (op0?.kind === 'sreg' && op0.reg === 2) return { detail: { kind: 'privileged' }, name: 'mov ss' };
        return null;
      case 'pop':
        return op0?.kind === 'sreg' && op0.reg === 2 ? { detail: { kind: 'privileged' }, name: 'pop ss' } : null;
      case 'cli': case 'sti': case 'lgdt': case 'lidt': case 'ltr': case 'lldt': case 'clts': case 'lmsw':
        return { detail: { kind: 'privileged' }, name: m };
      case 'iretd': {
        // Only the return to the guest kernel (a frame with CS of RPL 0) faults in ring 1.
        const esp = (st.seg[2]!.baseLo + st.regLo[4]!) >>> 0;
        const cs = this.readGuest(esp + 4, 2);
        return cs !== null && (cs & 3) === 0 ? { detail: { kind: 'privileged' }, name: 'iretd' } : null;
      }
      case 'retf': {
        // A far return to the guest kernel's own ring 0 (a CS of RPL 0) faults in ring 1.
        const esp = (st.seg[2]!.baseLo + st.regLo[4]!) >>> 0;
        const cs = insn.opSize === 2 ? null : this.readGuest(esp + 4, 2);
        return cs !== null && (cs & 3) === 0 ? { detail: { kind: 'privileged' }, name: 'retf' } : null;
      }
      case 'sysenter': case 'sysexit': case 'iret':
        return { detail: { kind: 'other', why: `${m} in the guest kernel: not emulated by this trap-and-emulate monitor` }, name: m };
      default:
        return null;
    }
  }

  /**
   * Emulates the trapped instruction of a 'privileged' exit on the guest's virtual state (as its ring
   * 0 would have run it) and advances past it. Returns the log's note, or the error that ends the run.
   */
  emulate(): { note: string; reflect?: HvEvent; next?: BackendRun } | { error: string } {
    const p = this.pending;
    if (p === null) return { error: 'emulate: no trapped instruction' };
    const cpu = this.cpu;
    const st = cpu.state;
    const insn = p.insn;
    const next = (st.ripLo + insn.length) >>> 0;
    if (p.name === 'descriptor-table write' || p.name === 'code write') return this.watchedWrite(p.name);
    const gp = (code: number): { note: string; reflect: HvEvent } => ({ note: `${p.name}: #GP(0x${code.toString(16)}) reflected`, reflect: { vector: Vec.GP, type: 'exception', errorCode: code } });
    cpu.syncFlags();
    switch (p.name) {
      case 'cli':
        st.rflags = (st.rflags & ~Flag.IF) >>> 0;
        this.advance();
        return { note: 'cli: the guest\u2019s IF cleared' };
      case 'sti': {
        const was = (st.rflags & Flag.IF) !== 0;
        st.rflags = (st.rflags | Flag.IF) >>> 0;
        this.advance();
        if (!was) st.interruptShadow = true;
        return { note: 'sti: the guest\u2019s IF set' };
      }
      case 'lgdt': case 'lidt': {
        const lin = Number(operandLinear(cpu, insn.operands[0] as MemOperand, next, 0));
        const limit = this.readGuest(lin, 2);
        const base = this.readGuest(lin + 2, 4);
        if (limit === null || base === null) return { note: `${p.name}: its operand at 0x${lin.toString(16)} is not mapped: #PF reflected`, reflect: this.pageFault(limit === null ? lin : lin + 2, false) };
        const b = insn.opSize === 2 ? base & 0xffffff : base;
        if (p.name === 'lgdt') {
          this.vgdtr = { base: b, limit };
          this.tablesLoaded.gdt = true;
          this.rebuildGdt();
        } else {
          this.vidtr = { base: b, limit };
          this.tablesLoaded.idt = true;
          this.rebuildIdt();
        }
        this.watchTables();
        this.advance();
        return { note: `${p.name}: the guest\u2019s ${p.name === 'lgdt' ? 'GDT' : 'IDT'} at 0x${b.toString(16)} limit 0x${limit.toString(16)}; shadow ${p.name === 'lgdt' ? 'GDT' : 'IDT'} rebuilt with ring compression` };
      }
      case 'ltr': {
        const sel0 = this.wordOperandOrFault(insn, next);
        if (sel0 === null) return { note: 'ltr: its operand is not mapped: #PF reflected', reflect: this.operandFault! };
        const sel = sel0;
        if ((sel & 0xfffc) === 0 || (sel & 4) !== 0 || (sel | 7) > this.vgdtr.limit) return gp(sel & 0xfffc);
        const at = this.vgdtr.base + (sel & 0xfff8);
        const lo = this.readGuest(at, 4);
        const hi = this.readGuest(at + 4, 4);
        if (lo === null || hi === null) return { error: `ltr: the guest GDT entry 0x${sel.toString(16)} is not mapped` };
        const type = (hi >>> 8) & 0x1f;
        if (type !== 0x09) return gp(sel & 0xfffc);
        if ((hi & 0x8000) === 0) return { note: `ltr 0x${sel.toString(16)}: #NP reflected`, reflect: { vector: Vec.NP, type: 'exception', errorCode: sel & 0xfffc } };
        // The processor marks the TSS busy in the guest's GDT.
        this.writeGuest8(at + 5, ((hi >>> 8) | 2) & 0xff);
        const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
        const raw = (lo & 0xffff) | (hi & 0xf0000);
        const limit = (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
        this.vtr = { selector: sel, base, limit };
        this.tablesLoaded.tr = true;
        this.syncTssStack();
        this.watchTables();
        this.advance();
        return { note: `ltr 0x${sel.toString(16)}: the guest\u2019s TSS at 0x${base.toString(16)}; the monitor\u2019s TSS ring-1 stack = the guest\u2019s ring-0 stack` };
      }
      case 'lldt': {
        const sel0 = this.wordOperandOrFault(insn, next);
        if (sel0 === null) return { note: 'lldt: its operand is not mapped: #PF reflected', reflect: this.operandFault! };
        const sel = sel0;
        if ((sel & 0xfffc) !== 0) return { error: `lldt 0x${sel.toString(16)}: a local descriptor table is not emulated by this trap-and-emulate monitor` };
        this.vldtr = 0;
        this.advance();
        return { note: 'lldt 0: the guest\u2019s LDTR is null' };
      }
      case 'clts':
        this.gcr0 = (this.gcr0 & ~CR0.TS) >>> 0;
        st.cr0 = this.realCr0();
        this.advance();
        return { note: 'clts: the guest\u2019s CR0.TS cleared' };
      case 'lmsw': {
        const v0 = this.wordOperandOrFault(insn, next);
        if (v0 === null) return { note: 'lmsw: its operand is not mapped: #PF reflected', reflect: this.operandFault! };
        const v = v0;
        // LMSW loads PE, MP, EM, TS and cannot clear PE.
        this.gcr0 = ((this.gcr0 & ~0xe) | (v & 0xf) | (this.gcr0 & 1)) >>> 0;
        st.cr0 = this.realCr0();
        this.advance();
        return { note: `lmsw 0x${v.toString(16)}: the guest\u2019s CR0 = 0x${this.gcr0.toString(16)}` };
      }
      case 'mov ss':
      case 'pop ss': {
        const pop = p.name === 'pop ss';
        const size = insn.opSize === 2 ? 2 : 4;
        const spLin = (st.seg[2]!.baseLo + st.regLo[4]!) >>> 0;
        const sel0 = pop ? this.readGuest(spLin, 2) : this.wordOperandOrFault(insn, next);
        if (sel0 === null) return { note: `${p.name}: its operand is not mapped: #PF reflected`, reflect: pop ? this.pageFault(spLin, false) : this.operandFault! };
        const sel = sel0;
        if ((sel & 3) !== 0) return gp(sel & 0xfffc);
        // The guest kernel's ring 0 load, done in ring 1 with RPL 1 against the shadow GDT (its checks are the processor's).
        try {
          loadSsRing1(cpu, this.area, sel | 1, this.vgdtr.limit);
        } catch (e) {
          if (!(e instanceof Fault)) throw e;
          return { note: `mov ss 0x${sel.toString(16)}: #${e.vector} reflected`, reflect: { vector: e.vector, type: 'exception', ...(e.errorCode >= 0 ? { errorCode: e.errorCode & ~1 } : {}) } };
        }
        if (pop) st.regLo[4] = (st.regLo[4]! + size) >>> 0;
        this.advance();
        st.interruptShadow = true;
        return { note: `${p.name} 0x${sel.toString(16)}: loaded as 0x${(sel | 1).toString(16)} (ring compression)` };
      }
      case 'iretd':
        return this.iretToKernel();
      case 'retf': {
        const ss = st.seg[2]!;
        const esp = st.regLo[4]! >>> 0;
        const eip = this.readGuest((ss.baseLo + esp) >>> 0, 4);
        const cs = this.readGuest((ss.baseLo + esp + 4) >>> 0, 2);
        if (eip === null || cs === null) return { note: 'retf: the guest\u2019s stack is not mapped: #PF reflected', reflect: this.pageFault((ss.baseLo + esp + (eip === null ? 0 : 4)) >>> 0, false) };
        try {
          loadCsRing1(cpu, this.area, cs | 1, this.vgdtr.limit);
        } catch (e) {
          if (!(e instanceof Fault)) throw e;
          return { note: `retf: #${e.vector} reflected`, reflect: { vector: e.vector, type: 'exception', errorCode: (e.errorCode & ~3) >>> 0 } };
        }
        const imm = insn.operands[0]?.kind === 'imm' ? (insn.operands[0] as { lo: number }).lo & 0xffff : 0;
        st.ripLo = eip;
        st.ripHi = 0;
        st.regLo[4] = (esp + 8 + imm) >>> 0;
        cpu.modeChanged();
        st.steps++;
        st.tsc++;
        st.interruptShadow = false;
        return { note: `retf to 0x${cs.toString(16)}:0x${eip.toString(16)} (ring 0 of the guest, run in ring 1)` };
      }
    }
    return { error: `emulate: ${p.name} is not emulated` };
  }

  /**
   * A write to a watched frame: the writing instruction runs once where it stands with the frame
   * writable, then the monitor catches up (the shadow descriptor tables rebuilt; binary translation
   * translates the changed code afresh when it runs). A fault on the way comes back as `next`; the
   * instruction then runs first at the next entry.
   */
  private watchedWrite(label: string): { note: string; next?: BackendRun } {
    const st = this.cpu.state;
    const at = st.ripLo;
    const g = this.stepping;
    this.pending = null;
    const steps = st.steps;
    const next = this.enter(1);
    const frame = `frame 0x${g.toString(16)} unprotected`;
    if (st.steps === steps || this.stepping < 0) return { note: `${label} at 0x${at.toString(16)}: ${frame}; the write runs once where it stands when the shadow maps the frame again, then the monitor catches up`, next };
    this.stepping = -1;
    const dt = this.dtFrames.has(g);
    this.afterWrite(g);
    return { note: `${label} at 0x${at.toString(16)}: ${frame}, the write run once where it stands; ${dt ? 'the shadow descriptor tables rebuilt from the guest\u2019s' : 'the blocks translated from that frame dropped'}`, next };
  }

  /** IRET of the guest kernel to its own ring 0 (a frame whose CS has RPL 0): pop EIP, CS, EFLAGS as ring 0 would, run it in ring 1. */
  protected iretToKernel(): { note: string; reflect?: HvEvent } | { error: string } {
    const cpu = this.cpu;
    const st = cpu.state;
    const ss = st.seg[2]!;
    const esp = st.regLo[4]! >>> 0;
    const at = (o: number): number | null => this.readGuest((ss.baseLo + esp + o) >>> 0, 4);
    const eip = at(0);
    const cs = at(4);
    const fl = at(8);
    if (eip === null || cs === null || fl === null) return { note: 'iretd: the guest\u2019s stack is not mapped: #PF reflected', reflect: this.pageFault((ss.baseLo + esp + (eip === null ? 0 : cs === null ? 4 : 8)) >>> 0, false) };
    if ((fl & Flag.VM) !== 0 || (st.rflags & Flag.NT) !== 0) return { error: 'iretd to virtual-8086 mode or a nested task: not emulated by this monitor' };
    const sel = (cs & 0xffff) | 1;
    try {
      loadCsRing1(cpu, this.area, sel, this.vgdtr.limit);
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      return { note: `iretd: #${e.vector} reflected`, reflect: { vector: e.vector, type: 'exception', errorCode: (e.errorCode & ~3) >>> 0 } };
    }
    st.ripLo = eip;
    st.ripHi = 0;
    st.regLo[4] = (esp + 12) >>> 0;
    // Ring 0 may change every flag; the monitor keeps IOPL 0 (the guest's IOPL is not followed).
    const keep = Flag.IOPL | Flag.VM | Flag.VIF | Flag.VIP;
    st.rflags = (((fl & 0x3f7fd5) & ~keep) | (st.rflags & keep) | 2) >>> 0;
    cpu.modeChanged();
    st.steps++;
    st.tsc++;
    st.interruptShadow = false;
    return { note: `iretd to 0x${(cs & 0xffff).toString(16)}:0x${eip.toString(16)} (ring 0 of the guest, run in ring 1), IF = ${(fl >>> 9) & 1}` };
  }


  protected wordOperand(insn: Insn, next: number): number {
    return this.wordOperandOrFault(insn, next) ?? 0;
  }

  /** The 16-bit source of LTR, LLDT, LMSW, MOV SS: a register, or memory (null when the guest cannot read it: `operandFault` says why). */
  protected wordOperandOrFault(insn: Insn, next: number): number | null {
    const op = insn.operands[insn.operands.length - 1]!;
    const st = this.cpu.state;
    this.operandFault = null;
    if (op.kind === 'reg') return st.regLo[op.reg]! & 0xffff;
    if (op.kind !== 'mem') return 0;
    const lin = Number(operandLinear(this.cpu, op, next, 0));
    const v = this.readGuest(lin, 2);
    if (v === null) this.operandFault = this.pageFault(lin, false);
    return v;
  }

  /** The #PF the guest's own walk gives for a read or write at `lin` in its ring 0 (CR2 set), to reflect. */
  protected pageFault(lin: number, write: boolean): HvEvent {
    const w = this.shadow.inspect(lin >>> 0).walk;
    let code = write ? 2 : 0;
    if (w !== null && !w.ok) code = w.fault.errorCode;
    this.cpu.state.cr2Lo = lin >>> 0;
    this.cpu.state.cr2Hi = 0;
    return { vector: Vec.PF, type: 'exception', errorCode: code };
  }

  protected operandFault: HvEvent | null = null;

  // ---- the backend interface ----





  /** Past the trapped instruction, retired as the guest's own (steps and the TSC count it). */
  advance(): void {
    const p = this.pending;
    if (p === null) throw new Error('advance: no trapped instruction');
    const st = this.cpu.state;
    st.ripLo = (st.ripLo + p.insn.length) >>> 0;
    st.interruptShadow = false;
    st.steps++;
    st.tsc++;
    this.pending = null;
  }



  cr(n: 0 | 2 | 3 | 4): bigint {
    const st = this.cpu.state;
    if (n === 0) return BigInt(this.gcr0);
    if (n === 3) return BigInt(this.gcr3);
    if (n === 4) return BigInt(this.gcr4);
    return BigInt(st.cr2Lo >>> 0);
  }

  setCr(n: 0 | 2 | 3 | 4, v: bigint): string | null {
    const st = this.cpu.state;
    const lo = Number(v & 0xffffffffn);
    if (n === 2) {
      st.cr2Lo = lo;
      st.cr2Hi = 0;
      return null;
    }
    if (n === 3) {
      this.gcr3 = lo;
      const why = this.shadow.sync('cr3');
      this.watchTables();
      return why;
    }
    if (n === 4) {
      if ((lo & CR4.PAE) !== 0) return 'trap-and-emulate: a guest with PAE paging is not supported (32-bit shadow tables)';
      this.gcr4 = lo;
      st.cr4 = this.realCr4();
      this.cpu.modeChanged();
      const why = this.shadow.sync('mode');
      this.watchTables();
      return why;
    }
    if ((lo & CR0.PE) === 0) return 'the guest cleared CR0.PE: real mode is not run by this trap-and-emulate monitor';
    if ((lo & CR0.PG) !== 0 && (this.gefer & EFER.LME) !== 0) return 'trap-and-emulate: the guest turned on IA-32e mode, which this monitor does not run (a 64-bit kernel would need ring 3)';
    this.gcr0 = lo;
    st.cr0 = this.realCr0();
    this.cpu.modeChanged();
    const why = this.shadow.sync('mode');
    this.watchTables();
    return why;
  }

  efer(): bigint {
    return BigInt(this.gefer);
  }

  setEfer(v: bigint): void {
    this.gefer = Number(v & 0xffffffffn);
    const why = this.shadow.sync('mode');
    if (why !== null) throw new Error(why);
  }

  /** The SYSENTER MSRs stay the monitor's (SYSENTER would enter ring 0): the guest's values are kept here. */
  guestMsr(index: number): bigint | undefined {
    return this.msrs.get(index);
  }

  setGuestMsr(index: number, v: bigint): boolean | 'gp' {
    if (!this.msrs.has(index)) return false;
    this.msrs.set(index, v);
    return true;
  }

  inject(ev: HvEvent): void {
    this.event = ev;
  }

  report(): { gpr: bigint[]; rip: bigint; rflags: bigint; cr0: bigint; cr3: bigint; cr4: bigint } {
    const gpr = Array.from({ length: 16 }, (_, n) => this.gpr(n));
    return { gpr, rip: this.rip(), rflags: BigInt(this.rflags()), cr0: BigInt(this.gcr0), cr3: BigInt(this.gcr3), cr4: BigInt(this.gcr4) };
  }

  /** String I/O: the instruction runs once with its ports allowed in the monitor's TSS bitmap. */
  passThroughOnce(port: number, size: 1 | 2 | 4, ports: PortHandler): BackendRun {
    const mem = this.cpu.mem;
    const map = this.area + TSS_OFF + TSS_IOMAP;
    const set = (p: number, deny: boolean) => {
      const a = map + (p >>> 3);
      const b = mem.read8(a);
      mem.write(a, 1, deny ? b | (1 << (p & 7)) : b & ~(1 << (p & 7)));
    };
    const last = Math.min(port + size - 1, 0xffff);
    for (let p = port; p <= last; p++) set(p, false);
    const saved = this.cpu.io;
    this.cpu.io = ports;
    const pend = this.pending;
    this.pending = null;
    try {
      return this.enter(1);
    } finally {
      this.cpu.io = saved;
      for (let p = port; p <= last; p++) set(p, true);
      void pend;
    }
  }



  invalidateGuest(): string {
    return 'nothing to do: the monitor\u2019s own MOV to CR3 of the shadow root flushed the TLB';
  }



}

/** SS loaded in ring 1 from the shadow GDT with the processor's own checks (a data segment, writable, DPL = RPL = CPL). */
function loadSsRing1(cpu: CpuCore, area: number, sel: number, guestLimit: number): void {
  const st = cpu.state;
  const d = descriptorAt(cpu, area, sel, guestLimit);
  const attr = (d.hi >>> 8) & 0xffff;
  const dpl = (attr >>> 5) & 3;
  if ((attr & 0x10) === 0 || (attr & 8) !== 0 || (attr & 2) === 0 || dpl !== 1) throw new Fault(Vec.GP, sel & 0xfffc);
  if ((attr & 0x80) === 0) throw new Fault(Vec.SS, sel & 0xfffc);
  fill(st.seg[2]!, sel, d.lo, d.hi);
  cpu.modeChanged();
}

/** CS loaded in ring 1 from the shadow GDT (a non-conforming code segment of DPL 1, or conforming of DPL ≤ 1). */
function loadCsRing1(cpu: CpuCore, area: number, sel: number, guestLimit: number): void {
  const st = cpu.state;
  const d = descriptorAt(cpu, area, sel, guestLimit);
  const attr = (d.hi >>> 8) & 0xffff;
  const dpl = (attr >>> 5) & 3;
  const conforming = (attr & 4) !== 0;
  if ((attr & 0x18) !== 0x18 || (conforming ? dpl > 1 : dpl !== 1)) throw new Fault(Vec.GP, sel & 0xfffc);
  if ((attr & 0x80) === 0) throw new Fault(Vec.NP, sel & 0xfffc);
  fill(st.seg[1]!, sel, d.lo, d.hi);
}

/** A descriptor of the shadow GDT (the monitor reads its own table at its host-physical address), within the guest's GDT limit. */
function descriptorAt(cpu: CpuCore, area: number, sel: number, guestLimit: number): { lo: number; hi: number } {
  if ((sel & 4) !== 0 || (sel & 0xfff8) === 0 || (sel | 7) > guestLimit) throw new Fault(Vec.GP, sel & 0xfffc);
  const at = area + GDT_OFF + (sel & 0xfff8);
  return { lo: cpu.mem.read(at, 4), hi: cpu.mem.read(at + 4, 4) };
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
