/**
 * Binary translation (issue 9, item 2): the monitor of trap-and-emulate (te/backend.ts) with the
 * guest kernel's code run from a translation cache instead of where it stands, as VMware's
 * monitor ran 32-bit guests before VT-x (Adams and Agesen, ASPLOS 2006). The guest's user code
 * (ring 3) still runs directly.
 *
 * The guest kernel (its ring 0) runs in ring 1, as under trap-and-emulate, but only translated code
 * (translate.ts): the processor's CS is then the monitor's (TC_CS, flat 4 GiB, DPL 1), EIP an address
 * in the translation cache (TC, in the monitor's area at MONITOR_LINEAR + TC_OFF), and the guest's
 * own CS is kept in `vcs`. Data segments, the stack and every register are the guest's, so a copied
 * instruction computes what the guest's own would. Entering the kernel (the start, the end of an
 * emulated instruction, an interrupt or exception delivered to it) moves execution to the
 * translation of the guest's EIP (`settle`), translating the block on a miss.
 *
 * What the monitor does at each kind of callout (`translate.ts` CalloutReason):
 * - privileged (HLT, IN/OUT, MOV CRn, RDMSR/WRMSR, INVLPG, CLI, STI, LGDT, LIDT, LTR, IRET to the
 *   kernel...): the guest's CS:EIP is put back, and the hypervisor core handles the instruction as
 *   under trap-and-emulate: no fault was taken, only a callout (priced `bt-callout`, not `trap`);
 * - sensitive (POPF, PUSHF, SGDT, SIDT, SLDT, STR, SMSW, LAR, LSL, MOV r/m,Sreg, PUSH Sreg), indirect
 *   control transfers, CS-override accesses, undecodable bytes: the guest's own instruction is run
 *   once where it stands in ring 1, then the monitor writes what ring 0 would have seen or done:
 *   POPF sets the guest's IF and IOPL from the value it popped (which ring 1 silently ignored);
 *   PUSHF puts the guest's IOPL in the pushed image; SGDT, SIDT, STR, SLDT and SMSW store the guest's
 *   own GDTR, IDTR, TR, LDTR and CR0; MOV and PUSH of CS or SS give RPL 0; LAR and LSL give the
 *   guest's DPL and limit. This is why binary translation is transparent where trap-and-emulate is
 *   not (te.test.ts shows each divergence; bt.test.ts the same programs ending as bare);
 * - interrupt (INT n, INT3, INTO): delivered by the monitor with the guest's return address;
 * - page-table-write (adaptive translation): see below.
 * Interrupts and exceptions delivered to the guest kernel: the monitor takes every one first
 * (software interrupts too), reports a fault in translated code at the guest instruction it came
 * from, and writes the frame's CS with the guest's RPL 0, as ring 0 would have pushed it.
 *
 * Chaining: a block exit first jumps into the monitor, which translates the target if it must and
 * rewrites that exit's JMP rel32 to the target's translation (`chains`); afterwards that path runs
 * without the monitor. Lookups by guest address check that the guest page still maps the frame the
 * block was translated from.
 *
 * Self-modifying code: each guest frame code was translated from is write-protected in the shadow
 * page tables (shadow.ts `protectCode`). A write there faults into the monitor, which drops every
 * block translated from the frame (and the chains into them), lifts the protection, runs the
 * writing instruction once where it stands, and resumes at a fresh translation of the next one: so
 * a write to an instruction later in the same block takes effect too.
 *
 * Adaptive translation: a translated store that makes the shadow MMU emulate a page-table write
 * `ADAPT_AFTER` times (each a page fault into the monitor) is retranslated as a page-table-write
 * callout: the monitor then opens the page-table page and runs the store without any fault (the
 * core's emulated write), as VMware's adaptive binary translation replaced trapping instructions by
 * callouts.
 *
 * Blocks are keyed by guest linear address, and a lookup checks that the address still maps the
 * frame the block came from; the guest kernel's MOV to CR0, CR3 or CR4 drops every translation
 * (chained exits do not look up again). A full cache is flushed whole, as VMware's was.
 */
import { Vec } from '../../cpu/core.ts';
import type { Insn, MemOperand } from '../../cpu/insn.ts';
import { operandLinear, type Intercept } from '../../cpu/guest.ts';
import { hasErrorCode } from '../../cpu/sys-int.ts';
import { Flag, type SegmentCache } from '../../cpu/state.ts';
import type { Cpu } from '../../cpu/cpu.ts';
import type { BackendRun, HvEvent, HvExit } from '../types.ts';
import { MONITOR_LINEAR, TeBackend, vectorName, type TeBackendOptions } from '../te/backend.ts';
import { calloutReason, translateBlock, type CalloutReason, type TranslatedBlock } from './translate.ts';

/** The translation cache: 256 KiB of the monitor's area, after the trap-and-emulate structures. */
export const TC_OFF = 0x20000;
export const TC_SIZE = 0x40000;
export const BT_AREA_SIZE = TC_OFF + TC_SIZE;
export const TC_LINEAR = MONITOR_LINEAR + TC_OFF;
/** Callout and exit sites: linear addresses the monitor never maps (a fetch there enters it), one per site. */
export const CALLOUT_LINEAR = MONITOR_LINEAR + 0x100000;
const CALLOUT_SITES = 0x300000;
/**
 * The monitor's code segment for translated code (flat 4 GiB, DPL 1), with RPL 1. The monitor loads
 * it into CS itself; it has no descriptor in the shadow GDT (entry 8190 stays empty), so the guest
 * cannot load it: a selector past the guest's GDT limit faults as it would bare.
 */
export const TC_CS = 0xfff1;
/** Emulated page-table writes by one store before it is retranslated as a callout. */
export const ADAPT_AFTER = 2;


export interface BtBlock extends TranslatedBlock {
  id: number;
  /** Linear address of its translation. */
  tc: number;
  /** The guest frame its code came from (and the next one, for a lone instruction crossing into it). */
  gfn: number;
  gfns: number[];
  valid: boolean;
  /** Site id of each exit (its JMP leads there until chained) and the block it is chained to. */
  exitSites: number[];
  chainedTo: (BtBlock | null)[];
  /** Exits of other blocks chained to this one: [block, exit index]. */
  incoming: [BtBlock, number][];
}

type Site = { block: BtBlock; kind: 'exit'; exit: number } | { block: BtBlock; kind: 'callout'; callout: number };

export interface BtStats {
  /** Blocks translated (re-translations included), and the guest instructions in them. */
  blocks: number;
  guestInsns: number;
  /** Bytes of translated code written to the cache. */
  tcBytes: number;
  /** Lookups by guest address that found a valid translation, and that had to translate. */
  hits: number;
  misses: number;
  /** Block exits rewritten to jump straight to their target's translation. */
  chains: number;
  /** Callouts by reason, and block exits taken through the monitor (before chaining). */
  callouts: Partial<Record<CalloutReason, number>>;
  exitsThroughMonitor: number;
  /** Blocks dropped because the guest wrote to their code (self-modifying code) or changed its paging. */
  invalidations: number;
  /** Writes to translated code pages caught. */
  codeWrites: number;
  /** Whole-cache flushes (cache full). */
  flushes: number;
  /** Stores retranslated as page-table-write callouts (adaptive translation). */
  adaptive: number;
}

const hexa = (v: number): string => `0x${(v >>> 0).toString(16)}`;

export class BtBackend extends TeBackend {
  override readonly id = 'bt';
  readonly stats: BtStats = { blocks: 0, guestInsns: 0, tcBytes: 0, hits: 0, misses: 0, chains: 0, callouts: {}, exitsThroughMonitor: 0, invalidations: 0, codeWrites: 0, flushes: 0, adaptive: 0 };
  /** Valid blocks by guest linear start. */
  readonly blocks = new Map<number, BtBlock>();
  /** Every block written since the last flush (valid or not), in translation order, for the views and TC → guest lookups. */
  readonly all: BtBlock[] = [];
  private sites: Site[] = [];
  private tcUsed = 0;
  /** The guest kernel's CS, as it runs it (ring-compressed, RPL 1), while the processor runs TC_CS. */
  vcs: SegmentCache;
  /** The guest's IOPL (the processor keeps 0). */
  viopl = 0;
  /** Stores that made page-table writes: guest address → count; and those retranslated as callouts. */
  private ptWrites = new Map<number, number>();
  readonly adaptive = new Set<number>();
  private nextId = 0;

  constructor(cpu: Cpu, opts: TeBackendOptions) {
    super(cpu, { ...opts, areaSize: BT_AREA_SIZE });
    this.vcs = { ...cpu.state.seg[1]! };
    this.monitor.software = true;
    const mem = cpu.mem;
    for (let i = 0; i < TC_SIZE; i += 4) mem.write(this.area + TC_OFF + i, 4, 0);
  }

  // ---- translation cache ----

  /** The translation of the guest code at linear `lin` (translated on a miss). */
  tcFor(lin: number): number {
    lin >>>= 0;
    const b = this.blocks.get(lin);
    if (b !== undefined && b.valid && b.gfns.every((g, i) => g === this.frameOf(i === 0 ? lin : b.guestEnd - 1))) {
      this.stats.hits++;
      return b.tc;
    }
    this.stats.misses++;
    return this.translate(lin).tc;
  }

  private translate(lin: number): BtBlock {
    const t = translateBlock((a) => this.readGuest(a, 1) ?? -1, lin, this.adaptive, this.vcs.baseLo);
    // Reading the guest's code is a fetch through its page tables: the accessed flags are set as the processor's would be.
    this.shadow.touchFetch(lin);
    const last = t.insns[t.insns.length - 1]!;
    if (last.len > 0 && ((last.guest + last.len - 1) >>> 12) !== lin >>> 12) this.shadow.touchFetch(last.guest + last.len - 1);
    if (this.tcUsed + t.code.length > TC_SIZE || this.sites.length + t.exits.length + t.callouts.length > CALLOUT_SITES) this.flush();
    const old = this.blocks.get(lin);
    if (old !== undefined) this.invalidate(old);
    const block: BtBlock = {
      ...t, id: this.nextId++, tc: TC_LINEAR + this.tcUsed, gfn: this.frameOf(lin), gfns: [], valid: true,
      exitSites: [], chainedTo: t.exits.map(() => null), incoming: [],
    };
    const code = Uint8Array.from(t.code);
    const put32 = (off: number, v: number) => {
      code[off] = v & 0xff;
      code[off + 1] = (v >>> 8) & 0xff;
      code[off + 2] = (v >>> 16) & 0xff;
      code[off + 3] = (v >>> 24) & 0xff;
    };
    for (const [i, e] of t.exits.entries()) {
      const id = this.sites.push({ block, kind: 'exit', exit: i }) - 1;
      block.exitSites.push(id);
      put32(e.rel, (CALLOUT_LINEAR + id - (block.tc + e.end)) >>> 0);
    }
    for (const [i, c] of t.callouts.entries()) {
      const id = this.sites.push({ block, kind: 'callout', callout: i }) - 1;
      put32(c.rel, (CALLOUT_LINEAR + id - (block.tc + c.end)) >>> 0);
    }
    block.code = code;
    const mem = this.cpu.mem;
    const hpa = this.area + TC_OFF + this.tcUsed;
    for (let i = 0; i < code.length; i++) mem.write(hpa + i, 1, code[i]!);
    this.tcUsed += code.length;
    this.blocks.set(lin, block);
    this.all.push(block);
    this.stats.blocks++;
    this.stats.guestInsns += t.insns.length;
    this.stats.tcBytes += code.length;
    block.gfns = [block.gfn];
    if (((block.guestEnd - 1) >>> 12) !== lin >>> 12) block.gfns.push(this.frameOf(block.guestEnd - 1));
    for (const g of block.gfns) if (g >= 0) this.shadow.protectCode(g);
    this.ledger.charge({ kind: 'bt-step' });
    return block;
  }

  /** Rewrites an exit's JMP rel32 to lead to `to`'s translation (or back to its site when `to` is null). */
  private patchExit(from: BtBlock, exit: number, to: BtBlock | null): void {
    const e = from.exits[exit]!;
    const dest = to === null ? CALLOUT_LINEAR + from.exitSites[exit]! : to.tc;
    const v = (dest - (from.tc + e.end)) >>> 0;
    const at = this.area + TC_OFF + (from.tc - TC_LINEAR) + e.rel;
    this.cpu.mem.write(at, 4, v);
    from.chainedTo[exit] = to;
  }

  private invalidate(b: BtBlock): void {
    if (!b.valid) return;
    b.valid = false;
    this.stats.invalidations++;
    if (this.blocks.get(b.guestStart) === b) this.blocks.delete(b.guestStart);
    for (const [from, i] of b.incoming) if (from.valid && from.chainedTo[i] === b) this.patchExit(from, i, null);
    b.incoming = [];
  }

  /** Drops every block translated from guest frame `gfn`, and the frame's write protection. */
  private invalidateFrame(gfn: number): void {
    for (const b of [...this.blocks.values()]) if (b.gfns.includes(gfn)) this.invalidate(b);
    this.releaseFrame(gfn);
  }

  /** Self-modifying code: a write to a frame code was translated from drops its blocks (then the write runs where it stands). */
  protected override frameWritten(gfn: number): void {
    if (![...this.blocks.values()].some((b) => b.gfns.includes(gfn))) return;
    this.stats.codeWrites++;
    this.invalidateFrame(gfn);
  }

  /** A frame stays watched while the descriptor tables or a valid block use it. */
  protected override releaseFrame(gfn: number): void {
    if (this.dtFrames.has(gfn) || [...this.blocks.values()].some((b) => b.gfns.includes(gfn))) return;
    this.shadow.unprotectCode(gfn);
  }

  /** Drops every translation (a change of the guest's paging). */
  invalidateAll(): void {
    for (const b of [...this.blocks.values()]) this.invalidate(b);
    for (const g of [...this.shadow.codePages]) this.releaseFrame(g);
  }

  /** The cache is full: everything goes, and the cache starts empty. */
  private flush(): void {
    this.invalidateAll();
    this.stats.flushes++;
    this.tcUsed = 0;
    this.sites = [];
    this.all.length = 0;
  }

  /** Every chained exit goes back through the monitor, whose lookup checks the frame again. */
  private unchainAll(): void {
    for (const b of this.blocks.values()) for (const [i, to] of b.chainedTo.entries()) if (to !== null) this.patchExit(b, i, null);
    for (const b of this.blocks.values()) b.incoming = [];
  }

  /** Emulated page-table writes and INVLPGs seen so far: a change means a linear address may map another frame now. */
  private mapChanges = 0;

  override enter(budget: number): BackendRun {
    const m = this.shadow.stats.emulatedWrites + this.shadow.stats.invlpgs + this.shadow.stats.resets;
    if (m !== this.mapChanges) {
      this.mapChanges = m;
      this.unchainAll();
    }
    return super.enter(budget);
  }

  /** The guest instruction a translated-code address belongs to (the block and the instruction index), or null. */
  guestOfTc(tc: number): { block: BtBlock; insn: number } | null {
    for (let k = this.all.length - 1; k >= 0; k--) {
      const b = this.all[k]!;
      if (tc < b.tc || tc >= b.tc + b.code.length) continue;
      const off = tc - b.tc;
      for (const [i, x] of b.insns.entries()) if (off >= x.tc && off < x.tc + x.tcLen) return { block: b, insn: i };
      return { block: b, insn: b.insns.length - 1 };
    }
    return null;
  }

  /** For the views: what callout or exit site `id` is (its block, and the callout's reason), or null. */
  siteOf(id: number): { block: BtBlock; kind: 'exit' | 'callout'; reason: CalloutReason | null; insn: number } | null {
    const s = this.sites[id];
    if (s === undefined) return null;
    if (s.kind === 'exit') return { block: s.block, kind: 'exit', reason: null, insn: s.block.insns.length - 1 };
    const c = s.block.callouts[s.callout]!;
    return { block: s.block, kind: 'callout', reason: c.reason, insn: c.insn };
  }

  /** Host-physical address of the translation cache's first byte (linear TC_LINEAR). */
  get cacheHost(): number {
    return this.area + TC_OFF;
  }

  /** Bytes of the translation cache in use (since the last flush). */
  get cacheUsed(): number {
    return this.tcUsed;
  }

  /** Whether the processor runs translated code now (CS is the monitor's TC_CS). */
  get inTranslation(): boolean {
    return this.inTc();
  }

  // ---- where the guest kernel runs ----

  private inTc(): boolean {
    return this.cpu.state.seg[1]!.selector === TC_CS;
  }

  /** Puts the guest kernel's own CS:EIP back in the processor (linear `lin`), leaving the translation. */
  private toGuest(lin: number): void {
    const st = this.cpu.state;
    st.seg[1] = { ...this.vcs };
    st.ripLo = (lin - this.vcs.baseLo) >>> 0;
    st.ripHi = 0;
    this.cpu.modeChanged();
  }

  /** The guest kernel at its own address moves into the translation of it (see the file comment). */
  protected override settle(): string | null {
    const cpu = this.cpu;
    const st = cpu.state;
    if (cpu.cpl() !== 1 || this.inTc()) return null;
    const cs = st.seg[1]!;
    if ((cs.attr & 0x4000) === 0) return 'binary translation runs 32-bit kernel code: the guest kernel\u2019s CS is a 16-bit segment';
    this.vcs = { ...cs };
    const tc = this.tcFor((cs.baseLo + st.ripLo) >>> 0);
    st.seg[1] = { selector: TC_CS, baseLo: 0, baseHi: 0, limit: 0xffffffff, attr: 0xcfbb, valid: true };
    st.ripLo = tc;
    st.ripHi = 0;
    cpu.modeChanged();
    return null;
  }

  // ---- the monitor entered from the guest ----

  protected override readTrap(x: Intercept): HvExit | null {
    const cpu = this.cpu;
    const st = cpu.state;
    const inTc = this.inTc();
    if (x.kind === 'exception' && x.vector === Vec.PF && x.type === 'hardware-exception' && x.address !== null && inTc) {
      const a = Number(x.address);
      if (a >= CALLOUT_LINEAR && a < CALLOUT_LINEAR + CALLOUT_SITES && Number(x.rip) === a) return this.callout(a - CALLOUT_LINEAR);
    }
    if (inTc) {
      // A fault of translated code is the guest instruction's it came from.
      const g = this.guestOfTc(st.ripLo);
      if (g === null) return { code: -1, name: 'monitor', detail: { kind: 'other', why: `a fault at 0x${st.ripLo.toString(16)} in the translation cache outside every block` }, rip: BigInt(st.ripLo), raw: {} };
      const lin = g.block.insns[g.insn]!.guest;
      this.toGuest(lin);
      x = { ...x, rip: BigInt(st.ripLo) };
    }
    if (x.kind === 'exception' && x.vector === Vec.PF && x.type === 'hardware-exception' && x.address !== null && (x.errorCode & 2) !== 0) {
      const a = Number(x.address);
      const gfn = this.frameOf(a);
      // Adaptive translation: a store of translated code that keeps writing page tables.
      if (inTc && cpu.cpl() === 1 && gfn >= 0 && this.shadow.ptRefs.has(gfn)) {
        const lin = (this.vcs.baseLo + st.ripLo) >>> 0;
        const n = (this.ptWrites.get(lin) ?? 0) + 1;
        this.ptWrites.set(lin, n);
        if (n >= ADAPT_AFTER && !this.adaptive.has(lin)) {
          this.adaptive.add(lin);
          this.stats.adaptive++;
          for (const b of [...this.blocks.values()]) if (lin >= b.guestStart && lin < b.guestEnd) this.invalidate(b);
        }
      }
    }
    if (x.kind === 'exception' && (x.type === 'software-interrupt' || x.type === 'software-exception' || x.type === 'privileged-software-exception') && x.during === null) {
      // A system call from the guest's user code (or any INT n that reached the processor): the monitor delivers it.
      this.chargeTrap();
      const insn = this.decodeHere();
      if (insn === null) return { code: x.vector, name: vectorName(x.vector), detail: { kind: 'other', why: 'an interrupt instruction the monitor could not decode' }, rip: x.rip, raw: {} };
      const name = insn.mnemonic === 'int' ? `int 0x${x.vector.toString(16)}` : insn.mnemonic;
      this.pending = { insn, name };
      this.count(name);
      return { code: x.vector, name: vectorName(x.vector), detail: { kind: 'privileged' }, rip: x.rip, raw: { vector: BigInt(x.vector) } };
    }
    return super.readTrap(x);
  }

  /** A callout or block exit reached (site `id`): see the file comment. */
  private callout(id: number): HvExit | null {
    const site = this.sites[id];
    this.ledger.charge({ kind: 'bt-callout' });
    if (site === undefined) return { code: -1, name: 'callout', detail: { kind: 'other', why: `callout site ${id} unknown` }, rip: BigInt(this.cpu.state.ripLo), raw: {} };
    const st = this.cpu.state;
    if (site.kind === 'exit') {
      // Translate the target if needed, chain the exit to it, go on: the monitor's own work, no guest instruction.
      this.stats.exitsThroughMonitor++;
      const from = site.block;
      const target = from.exits[site.exit]!.target;
      const tc = this.tcFor(target);
      const to = this.blocks.get(target)!;
      if (from.valid && to.valid && from.chainedTo[site.exit] !== to) {
        this.patchExit(from, site.exit, to);
        to.incoming.push([from, site.exit]);
        this.stats.chains++;
      }
      st.ripLo = tc;
      return null;
    }
    const c = site.block.callouts[site.callout]!;
    const ti = site.block.insns[c.insn]!;
    this.stats.callouts[c.reason] = (this.stats.callouts[c.reason] ?? 0) + 1;
    this.toGuest(ti.guest);
    const rip = BigInt(st.ripLo);
    const raw = { site: BigInt(id) };
    const insn = this.decodeHere();
    if (insn === null || c.reason === 'undecodable') {
      this.pending = null;
      return this.nativeExit(null, 'undecodable', rip, raw);
    }
    if (c.reason === 'page-table-write') {
      const mem = insn.operands.find((o): o is MemOperand => o.kind === 'mem');
      const lin = mem === undefined ? -1 : Number(operandLinear(this.cpu, mem, (st.ripLo + insn.length) >>> 0, 0));
      const gfn = lin < 0 ? -1 : this.frameOf(lin);
      this.count('page-table write');
      if (gfn >= 0 && this.shadow.ptRefs.has(gfn)) {
        // The core's emulated page-table write, reached without a page fault.
        return { code: Vec.PF, name: 'callout', detail: { kind: 'exception', vector: Vec.PF, errorCode: 0x3, address: BigInt(lin), software: false, during: null }, rip, raw };
      }
      return this.nativeExit(insn, 'store', rip, raw);
    }
    if (c.reason === 'interrupt') {
      const name = insn.mnemonic === 'int' ? `int 0x${((insn.operands[0] as { lo: number }).lo & 0xff).toString(16)}` : insn.mnemonic;
      this.pending = { insn, name };
      this.count(name);
      return { code: 0, name: 'callout', detail: { kind: 'privileged' }, rip, raw };
    }
    if (c.reason === 'privileged') {
      const d = this.privileged(insn);
      if (d !== null) {
        this.pending = { insn, name: d.name };
        this.count(d.name);
        return { code: 0, name: 'callout', detail: d.detail, rip, raw };
      }
    }
    return this.nativeExit(insn, insn.mnemonic, rip, raw);
  }

  /** A callout whose instruction the monitor runs once where it stands, then fixes up (`emulate`). */
  private nativeExit(insn: Insn | null, name: string, rip: bigint, raw: Record<string, bigint>): HvExit {
    this.pending = insn === null ? null : { insn, name: `native:${name}` };
    this.count(name);
    return { code: 0, name: 'callout', detail: { kind: 'privileged' }, rip, raw };
  }


  // ---- emulation ----

  override emulate(): { note: string; reflect?: HvEvent; next?: BackendRun } | { error: string } {
    const p = this.pending;
    const st = this.cpu.state;
    if (p === null || p.name.startsWith('native:')) return this.runWhereItStands(p === null ? null : p.insn);
    if (p.name.startsWith('int') || p.name === 'into') {
      const insn = p.insn;
      this.pending = null;
      if (insn.mnemonic === 'into' && (this.rflags() & Flag.OF) === 0) {
        st.ripLo = (st.ripLo + insn.length) >>> 0;
        st.steps++;
        st.tsc++;
        return { note: 'into with OF = 0: nothing delivered' };
      }
      const vector = insn.mnemonic === 'int3' ? 3 : insn.mnemonic === 'into' ? 4 : insn.mnemonic === 'int1' ? 1 : (insn.operands[0] as { lo: number }).lo & 0xff;
      st.steps++;
      st.tsc++;
      return { note: `${p.name}: delivered through the guest's IDT with its return address`, reflect: { vector, type: 'software', length: insn.length } };
    }
    this.fixAfterWrite = null;
    if (p.name === 'code write' && this.cpu.cpl() === 1 && (calloutReason(p.insn) === 'sensitive' || calloutReason(p.insn) === 'indirect')) this.fixAfterWrite = { insn: p.insn, steps: st.steps };
    const r = super.emulate();
    if (!('error' in r) && p.name === 'iretd') {
      const fl = this.readGuest((st.seg[2]!.baseLo + st.regLo[4]! - 4) >>> 0, 4);
      if (fl !== null) this.viopl = (fl >>> 12) & 3;
    }
    return r;
  }

  /** The core's MOV to CR0/CR3/CR4 handler changes what linear addresses map: translations go. */
  override setCr(n: 0 | 2 | 3 | 4, v: bigint): string | null {
    const r = super.setCr(n, v);
    if (n !== 2) this.invalidateAll();
    return r;
  }

  /**
   * Runs the guest's instruction once where it stands (in ring 1, at its own address), then writes
   * what ring 0 would have seen (see the file comment). A fault on the way comes back as `next` for
   * the core; the fix-ups then do not apply (the instruction will run again).
   */
  private runWhereItStands(insn: Insn | null): { note: string; next?: BackendRun } | { error: string } {
    const cpu = this.cpu;
    const st = cpu.state;
    this.pending = null;
    const m = insn?.mnemonic ?? '(undecodable)';
    if (insn !== null && (m === 'lar' || m === 'lsl')) return { note: this.larLsl(insn) };
    const ss = st.seg[2]!;
    const sp = (ss.baseLo + st.regLo[4]!) >>> 0;
    // POPF pops the flags; IRETD pops them after EIP and CS.
    const popped = m === 'popf' || m === 'popfd' ? this.readGuest(sp, m === 'popf' ? 2 : 4) : m === 'iretd' ? this.readGuest(sp + 8, 4) : null;
    const steps = st.steps;
    const next = this.enter(1);
    const done = st.steps !== steps;
    const note = `${m}: run once where it stands in ring 1`;
    if (!done || insn === null) return { note, next };
    const fix = this.fixUp(insn, popped);
    return { note: fix === '' ? note : `${note}; ${fix}`, next };
  }

  /**
   * A sensitive instruction of the guest kernel whose store lands in a frame of translated code
   * (SIDT or SGDT into a buffer beside the code, PUSHF onto a stack in that page) runs once where
   * it stands as any code write does (te/backend.ts, now or at the next entry); once it has retired
   * it gets the fix-up its callout would have given it, or the guest would see the monitor's values.
   */
  private fixAfterWrite: { insn: Insn; steps: number } | null = null;

  protected override afterWrite(gfn: number): void {
    super.afterWrite(gfn);
    const f = this.fixAfterWrite;
    if (f === null || this.cpu.state.steps !== f.steps + 1) return;
    this.fixAfterWrite = null;
    this.fixUp(f.insn, null);
  }

  /** What ring 0 would have seen or done, written after the instruction ran in ring 1. */
  private fixUp(insn: Insn, popped: number | null): string {
    const cpu = this.cpu;
    const st = cpu.state;
    const m = insn.mnemonic;
    const op0 = insn.operands[0];
    const esp = (st.seg[2]!.baseLo + st.regLo[4]!) >>> 0;
    const next = st.ripLo;
    const dest = (v: number, size16: boolean): void => {
      if (op0?.kind === 'reg') {
        if (op0.size === 2 || size16) st.regLo[op0.reg] = ((st.regLo[op0.reg]! & 0xffff0000) | (v & 0xffff)) >>> 0;
        else st.regLo[op0.reg] = v >>> 0;
      } else if (op0?.kind === 'mem') this.writeGuest(Number(operandLinear(cpu, op0, next, 0)), 2, v & 0xffff);
    };
    switch (m) {
      case 'iretd': {
        // An IRETD to ring 3 (the kernel's own returns are emulated): in ring 1 it left IF and IOPL.
        if (popped === null || cpu.cpl() !== 3) return '';
        cpu.syncFlags();
        st.rflags = ((st.rflags & ~Flag.IF) | (popped & Flag.IF)) >>> 0;
        this.viopl = (popped >>> 12) & 3;
        return `the guest's IF = ${(popped >>> 9) & 1} and IOPL = ${this.viopl} from the frame (ring 1 left them)`;
      }
      case 'popf':
      case 'popfd': {
        if (popped === null) return '';
        cpu.syncFlags();
        st.rflags = ((st.rflags & ~Flag.IF) | (popped & Flag.IF)) >>> 0;
        this.viopl = (popped >>> 12) & 3;
        return `the guest's IF = ${(popped >>> 9) & 1} and IOPL = ${this.viopl} from the popped value (ring 1 left them)`;
      }
      case 'pushf':
      case 'pushfd': {
        const v = this.readGuest(esp, 2);
        if (v !== null && this.viopl !== 0) this.writeGuest(esp, 2, (v & ~Flag.IOPL) | (this.viopl << 12));
        return this.viopl !== 0 ? `IOPL ${this.viopl} written into the pushed image` : '';
      }
      case 'sgdt':
      case 'sidt': {
        const lin = Number(operandLinear(cpu, op0 as MemOperand, next, 0));
        const t = m === 'sgdt' ? this.vgdtr : this.vidtr;
        this.writeGuest(lin, 2, t.limit);
        this.writeGuest(lin + 2, 4, t.base);
        return `the guest's ${m === 'sgdt' ? 'GDTR' : 'IDTR'} stored (base ${hexa(t.base)})`;
      }
      case 'str':
        dest(this.vtr.selector, false);
        return `the guest's TR ${hexa(this.vtr.selector)} stored`;
      case 'sldt':
        dest(this.vldtr, false);
        return `the guest's LDTR ${hexa(this.vldtr)} stored`;
      case 'smsw': {
        const cr0 = Number(this.cr(0));
        if (op0?.kind === 'reg' && op0.size === 4) st.regLo[op0.reg] = cr0 >>> 0;
        else dest(cr0, true);
        return `the guest's CR0 ${hexa(cr0)} stored`;
      }
      case 'mov':
      case 'push': {
        const sreg = m === 'mov' ? insn.operands[1] : op0;
        if (sreg?.kind !== 'sreg' || (sreg.reg !== 1 && sreg.reg !== 2)) return '';
        const sel = (sreg.reg === 1 ? this.vcs.selector : st.seg[2]!.selector) & ~3;
        if (m === 'push') this.writeGuest(esp, 2, sel);
        else dest(sel, op0?.kind === 'mem');
        return `${sreg.reg === 1 ? 'CS' : 'SS'} read with RPL 0: ${hexa(sel)}`;
      }
      case 'call': {
        // A far CALL pushed CS with RPL 1: the guest's ring 0 pushes RPL 0.
        const far = insn.operands[0]?.kind === 'far' || (insn.operands[0]?.kind === 'mem' && insn.operands[0].size === insn.opSize + 2);
        if (!far) return '';
        const at = (st.seg[2]!.baseLo + st.regLo[4]! + (insn.opSize === 2 ? 2 : 4)) >>> 0;
        const cs = this.readGuest(at, 2);
        if (cs === null || (cs & 3) !== 1 || cpu.cpl() !== 1) return '';
        this.writeGuest(at, 2, cs & ~3);
        return `the pushed CS ${hexa(cs & ~3)} with RPL 0`;
      }
    }
    return '';
  }

  /**
   * LAR and LSL as the guest's ring 0 would run them, from the guest's own GDT (SDM Vol. 2A, LAR,
   * LSL): the selector within the guest's limit, a valid type, and DPL ≥ RPL unless conforming code
   * (CPL is 0); ZF and the destination set accordingly, then the instruction retires.
   */
  private larLsl(insn: Insn): string {
    const cpu = this.cpu;
    const st = cpu.state;
    const m = insn.mnemonic;
    const op0 = insn.operands[0];
    const sel = this.wordOperand(insn, (st.ripLo + insn.length) >>> 0) & 0xffff;
    const gd = (sel & 0xfffc) === 0 ? null : this.guestDescriptor(sel);
    let ok = false;
    let value = 0;
    if (gd !== null) {
      const attr = (gd.hi >>> 8) & 0xff;
      const type = attr & 0xf;
      const s = (attr & 0x10) !== 0;
      const dpl = (attr >>> 5) & 3;
      const conforming = s && (type & 0xc) === 0xc;
      const validSystem = m === 'lar' ? [1, 2, 3, 4, 5, 9, 0xb, 0xc].includes(type) : [1, 2, 3, 9, 0xb].includes(type);
      ok = (s || validSystem) && (conforming || dpl >= (sel & 3));
      if (ok && m === 'lar') value = (gd.hi & (insn.opSize === 2 ? 0xff00 : 0x00f0ff00)) >>> 0;
      if (ok && m === 'lsl') {
        const raw = (gd.lo & 0xffff) | (gd.hi & 0xf0000);
        value = (gd.hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
      }
    }
    cpu.syncFlags();
    st.rflags = ok ? (st.rflags | Flag.ZF) >>> 0 : (st.rflags & ~Flag.ZF) >>> 0;
    if (ok && op0?.kind === 'reg') st.regLo[op0.reg] = op0.size === 2 ? ((st.regLo[op0.reg]! & 0xffff0000) | (value & 0xffff)) >>> 0 : value >>> 0;
    st.ripLo = (st.ripLo + insn.length) >>> 0;
    st.interruptShadow = false;
    st.steps++;
    st.tsc++;
    return `${m} 0x${sel.toString(16)} emulated from the guest's GDT: ZF = ${ok ? 1 : 0}${ok ? `, ${hexa(value)}` : ''}`;
  }

  private guestDescriptor(sel: number): { lo: number; hi: number } | null {
    if ((sel & 4) !== 0 || (sel | 7) > this.vgdtr.limit) return null;
    const lo = this.readGuest(this.vgdtr.base + (sel & 0xfff8), 4);
    const hi = this.readGuest(this.vgdtr.base + (sel & 0xfff8) + 4, 4);
    return lo === null || hi === null ? null : { lo, hi };
  }

  private writeGuest(lin: number, size: 2 | 4, v: number): void {
    for (let i = 0; i < size; i++) this.writeGuest8((lin + i) >>> 0, (v >>> (8 * i)) & 0xff);
  }

  /** Delivery to the guest kernel: the frame's CS gets the guest's RPL 0, as ring 0 would have pushed it. */
  protected override deliver(ev: HvEvent): void {
    const cpu = this.cpu;
    const st = cpu.state;
    const fromKernel = cpu.cpl() === 1;
    const steps = st.steps;
    void steps;
    super.deliver(ev);
    if (cpu.exit !== null || st.shutdown) return;
    if (!fromKernel) {
      // From ring 3: the frame's EFLAGS (after EIP and CS) gets the guest's IOPL.
      const err3 = ev.type === 'exception' && hasErrorCode(ev.vector);
      const at3 = (st.seg[2]!.baseLo + st.regLo[4]! + (err3 ? 12 : 8)) >>> 0;
      const fl3 = this.readGuest(at3, 4);
      if (fl3 !== null && this.viopl !== 0) this.writeGuest(at3, 4, ((fl3 & ~Flag.IOPL) | (this.viopl << 12)) >>> 0);
      return;
    }
    const err = ev.type === 'exception' && hasErrorCode(ev.vector);
    const at = (st.seg[2]!.baseLo + st.regLo[4]! + (err ? 8 : 4)) >>> 0;
    const cs = this.readGuest(at, 2);
    if (cs !== null && (cs & 3) === 1) this.writeGuest(at, 2, cs & ~3);
    // The frame's EFLAGS: the guest's IOPL (the processor runs with 0).
    const fl = this.readGuest(at + 4, 4);
    if (fl !== null && this.viopl !== 0) this.writeGuest(at + 4, 4, ((fl & ~Flag.IOPL) | (this.viopl << 12)) >>> 0);
  }

  override report(): { gpr: bigint[]; rip: bigint; rflags: bigint; cr0: bigint; cr3: bigint; cr4: bigint } {
    const r = super.report();
    const st = this.cpu.state;
    if (!this.inTc()) return r;
    // In the translation: the guest's EIP is the guest instruction the translated one came from.
    const g = this.guestOfTc(st.ripLo);
    if (g === null) return r;
    const ti = g.block.insns[g.insn]!;
    const off = st.ripLo - g.block.tc;
    const lin = off === ti.tc ? ti.guest : ti.guest + ti.len;
    return { ...r, rip: BigInt((lin - this.vcs.baseLo) >>> 0) };
  }

  override rflags(): number {
    return (super.rflags() & ~Flag.IOPL) | (this.viopl << 12);
  }
}

