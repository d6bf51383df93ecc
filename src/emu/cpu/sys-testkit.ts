/**
 * Test support for the system layer: a small CpuCore over flat physical memory (no paging; linear =
 * physical, except pages marked not-present, which raise #PF) and builders for GDT, IDT and TSS
 * structures. Used by system.test.ts and sys-*.test.ts; not used at run time.
 */
import { Fault, Vec, type CpuCore, type CpuFeatures, type CpuMode, type PrivKind } from './core.ts';
import { Seg, type Insn, type Operand, type SegIndex } from './insn.ts';
import { createCpuState, SegAttr, type CpuState, type CpuVendor } from './state.ts';
import { PhysMem } from '../mem/physmem.ts';

export class FakeCpu implements CpuCore {
  readonly state: CpuState;
  readonly mem: PhysMem;
  hiOut = 0;
  /** Linear 4 KiB page numbers that raise #PF (not present). */
  notPresent = new Set<number>();
  flushes: string[] = [];
  modeChanges = 0;
  ioLog: string[] = [];
  features: CpuFeatures = {};

  constructor(vendor: CpuVendor = 'intel', ramSize = 1 << 20) {
    this.state = createCpuState(vendor);
    this.mem = new PhysMem(ramSize);
  }

  cpl(): number {
    return this.state.seg[Seg.CS]!.selector & 3;
  }

  mode(): CpuMode {
    const st = this.state;
    if ((st.cr0 & 1) === 0) return 'real';
    const cs = st.seg[Seg.CS]!;
    if ((st.efer & 0x400) !== 0) return (cs.attr & SegAttr.L) !== 0 ? 'long64' : 'compat';
    return (cs.attr & SegAttr.DB) !== 0 ? 'prot32' : 'prot16';
  }

  private pa(lo: number, hi: number, write: boolean, priv: PrivKind): number {
    const page = hi * 0x100000 + Math.floor(lo / 4096);
    if (hi !== 0 || this.notPresent.has(page) || lo >= this.mem.ramSize) {
      this.state.cr2Lo = lo >>> 0;
      this.state.cr2Hi = hi >>> 0;
      const user = priv === 0 && this.cpl() === 3;
      throw new Fault(Vec.PF, (write ? 2 : 0) | (user ? 4 : 0));
    }
    return lo;
  }

  linRead(linLo: number, linHi: number, size: 1 | 2 | 4 | 8, priv: PrivKind): number {
    const a = this.pa(linLo, linHi, false, priv);
    if (size === 8) {
      this.pa((linLo + 4) >>> 0, linHi, false, priv);
      this.hiOut = this.mem.read(a + 4, 4);
      return this.mem.read(a, 4);
    }
    return this.mem.read(a, size);
  }

  linWrite(linLo: number, linHi: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, priv: PrivKind): void {
    const a = this.pa(linLo, linHi, true, priv);
    if (size === 8) {
      this.pa((linLo + 4) >>> 0, linHi, true, priv);
      this.mem.write(a, 4, lo >>> 0);
      this.mem.write(a + 4, 4, hi >>> 0);
    } else this.mem.write(a, size, lo);
  }

  private segLinear(seg: SegIndex, offLo: number, offHi: number, size: number, write: boolean): [number, number] {
    const s = this.state.seg[seg]!;
    if (this.mode() === 'long64') {
      const useBase = seg === Seg.FS || seg === Seg.GS;
      const sum = offLo + (useBase ? s.baseLo : 0);
      return [sum >>> 0, (offHi + (useBase ? s.baseHi : 0) + (sum > 0xffffffff ? 1 : 0)) >>> 0];
    }
    const vec = seg === Seg.SS ? Vec.SS : Vec.GP;
    if (this.mode() !== 'real') {
      if (!s.valid) throw new Fault(vec, 0);
      if (write && (s.attr & 0xa) !== 2) throw new Fault(vec, 0);
    }
    if (offLo + size - 1 > s.limit) throw new Fault(vec, 0);
    return [(s.baseLo + offLo) >>> 0, 0];
  }

  segRead(seg: SegIndex, offLo: number, offHi: number, size: 1 | 2 | 4 | 8): number {
    const [lo, hi] = this.segLinear(seg, offLo, offHi, size, false);
    return this.linRead(lo, hi, size, 0);
  }

  segWrite(seg: SegIndex, offLo: number, offHi: number, size: 1 | 2 | 4 | 8, lo: number, hi: number): void {
    const [a, b] = this.segLinear(seg, offLo, offHi, size, true);
    this.linWrite(a, b, size, lo, hi, 0);
  }

  private stackSize(): 2 | 4 | 8 {
    if (this.mode() === 'long64') return 8;
    return (this.state.seg[Seg.SS]!.attr & SegAttr.DB) !== 0 ? 4 : 2;
  }

  push(size: 2 | 4 | 8, lo: number, hi: number): void {
    const st = this.state;
    const ss = this.stackSize();
    let spLo = st.regLo[4]!;
    let spHi = st.regHi[4]!;
    const d = spLo - size;
    if (ss === 8) {
      spHi = d < 0 ? (spHi - 1) >>> 0 : spHi;
      spLo = d >>> 0;
    } else spLo = ss === 4 ? d >>> 0 : d & 0xffff;
    this.segWrite(Seg.SS, spLo, ss === 8 ? spHi : 0, size, lo, hi);
    if (ss === 2) st.regLo[4] = (st.regLo[4]! & 0xffff0000) | spLo;
    else st.regLo[4] = spLo;
    if (ss === 8) st.regHi[4] = spHi;
  }

  pop(size: 2 | 4 | 8): number {
    const st = this.state;
    const ss = this.stackSize();
    const spLo = ss === 2 ? st.regLo[4]! & 0xffff : st.regLo[4]!;
    const v = this.segRead(Seg.SS, spLo, ss === 8 ? st.regHi[4]! : 0, size);
    const hi = size === 8 ? this.hiOut : 0;
    const n = spLo + size;
    if (ss === 2) st.regLo[4] = (st.regLo[4]! & 0xffff0000) | (n & 0xffff);
    else {
      st.regLo[4] = n >>> 0;
      if (ss === 8 && n > 0xffffffff) st.regHi[4] = (st.regHi[4]! + 1) >>> 0;
    }
    this.hiOut = hi;
    return v;
  }

  modeChanged(): void {
    this.modeChanges++;
  }

  tlbFlushAll(includeGlobal: boolean): void {
    this.flushes.push(includeGlobal ? 'all+global' : 'all');
  }

  tlbInvlpg(linLo: number, linHi: number): void {
    this.flushes.push(`invlpg ${linHi.toString(16)}:${linLo.toString(16)}`);
  }

  portIn(port: number, size: 1 | 2 | 4): number {
    this.ioLog.push(`in ${port} ${size}`);
    return 0xffffffff >>> (32 - 8 * size);
  }

  portOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.ioLog.push(`out ${port} ${size} ${value}`);
  }

  r32(pa: number): number {
    return this.mem.read(pa, 4);
  }

  w32(pa: number, v: number): void {
    this.mem.write(pa, 4, v >>> 0);
  }

  /** Reads n dwords from physical memory. */
  dwords(pa: number, n: number): number[] {
    return Array.from({ length: n }, (_, i) => this.r32(pa + 4 * i));
  }

  /** Reads n qwords as bigints. */
  qwords(pa: number, n: number): bigint[] {
    return Array.from({ length: n }, (_, i) => BigInt(this.r32(pa + 8 * i)) | (BigInt(this.r32(pa + 8 * i + 4)) << 32n));
  }
}

// ---- descriptor builders (SDM Vol. 3A, 3.4.5, 6.11, 6.14.1, 8.2.2) ----

export interface SegOpts {
  base?: number;
  limit?: number;
  type: number;
  dpl?: number;
  s?: boolean;
  p?: boolean;
  l?: boolean;
  db?: boolean;
  g?: boolean;
}

export function segDesc(o: SegOpts): [number, number] {
  const base = o.base ?? 0;
  const limit = o.limit ?? 0xfffff;
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi =
    ((base >>> 16) & 0xff) |
    ((o.type & 0xf) << 8) |
    ((o.s ?? true) ? 1 << 12 : 0) |
    ((o.dpl ?? 0) << 13) |
    ((o.p ?? true) ? 1 << 15 : 0) |
    (limit & 0xf0000) |
    (o.l ? 1 << 21 : 0) |
    ((o.db ?? !o.l) ? 1 << 22 : 0) |
    ((o.g ?? true) ? 1 << 23 : 0) |
    (base & 0xff000000);
  return [lo >>> 0, hi >>> 0];
}

export const CODE_XR = 0xa; // execute/read
export const CODE_X = 0x8; // execute-only
export const CODE_CONF_XR = 0xe; // conforming execute/read
export const DATA_RW = 0x2;
export const DATA_RO = 0x0;

/** The GDT layout the tests share. */
export const SEL = {
  CODE32_0: 0x08, DATA_0: 0x10, CODE32_3: 0x1b, DATA_3: 0x23, TSS32: 0x28, CODE64_0: 0x30, DATA64_0: 0x38,
  CODE32_3B: 0x43, DATA_3B: 0x4b, CODE64_3: 0x53, TSS64: 0x58, CONF_0: 0x68, LDT: 0x70, DATA_2: 0x7a,
  CODE_XO_3: 0x83, DATA_RO_3: 0x8b, CALLGATE: 0x90, DATA_NP_0: 0x98, CODE16_0: 0xa0,
} as const;

export const GDT = 0x1000;
export const IDT = 0x2000;
export const TSS = 0x3000;
export const LDT_BASE = 0x3800;
export const STACK0 = 0x9000;
export const STACK3 = 0x7000;

export function writeDesc(cpu: FakeCpu, table: number, sel: number, d: [number, number]): void {
  cpu.w32(table + (sel & 0xfff8), d[0]);
  cpu.w32(table + (sel & 0xfff8) + 4, d[1]);
}

/** Builds the shared GDT, an empty IDT and a 32-bit and a 64-bit TSS. */
export function buildTables(cpu: FakeCpu): void {
  const w = (sel: number, d: [number, number]): void => writeDesc(cpu, GDT, sel, d);
  w(SEL.CODE32_0, segDesc({ type: CODE_XR }));
  w(SEL.DATA_0, segDesc({ type: DATA_RW }));
  w(SEL.CODE32_3, segDesc({ type: CODE_XR, dpl: 3 }));
  w(SEL.DATA_3, segDesc({ type: DATA_RW, dpl: 3 }));
  w(SEL.TSS32, segDesc({ base: TSS, limit: 0x67 + 0x2000 / 8 + 1, type: 9, s: false, g: false, db: false }));
  w(SEL.CODE64_0, segDesc({ type: CODE_XR, l: true }));
  w(SEL.DATA64_0, segDesc({ type: DATA_RW }));
  w(SEL.CODE32_3B, segDesc({ type: CODE_XR, dpl: 3 }));
  w(SEL.DATA_3B, segDesc({ type: DATA_RW, dpl: 3 }));
  w(SEL.CODE64_3, segDesc({ type: CODE_XR, dpl: 3, l: true }));
  w(SEL.TSS64, segDesc({ base: TSS, limit: 0x67, type: 9, s: false, g: false, db: false }));
  w(SEL.TSS64 + 8, [0, 0]);
  w(SEL.CONF_0, segDesc({ type: CODE_CONF_XR }));
  w(SEL.LDT, segDesc({ base: LDT_BASE, limit: 0xff, type: 2, s: false, g: false, db: false }));
  w(SEL.DATA_2, segDesc({ type: DATA_RW, dpl: 2, limit: 0xf, g: true }));
  w(SEL.CODE_XO_3, segDesc({ type: CODE_X, dpl: 3 }));
  w(SEL.DATA_RO_3, segDesc({ type: DATA_RO, dpl: 3, limit: 0x1234, g: false }));
  w(SEL.CALLGATE, [(SEL.CODE32_0 << 16) | 0x1000, 0x0000ec00]);
  w(SEL.DATA_NP_0, segDesc({ type: DATA_RW, p: false }));
  w(SEL.CODE16_0, segDesc({ type: CODE_XR, db: false, g: false, limit: 0xffff }));
  cpu.state.gdtr = { baseLo: GDT, baseHi: 0, limit: 0xa7 };
  cpu.state.idtr = { baseLo: IDT, baseHi: 0, limit: 0xfff };
}

/** A 32-bit interrupt (type 0xE) or trap (0xF) gate (SDM Vol. 3A, Figure 6-2). */
export function gate32(cpu: FakeCpu, vector: number, sel: number, offset: number, o: { trap?: boolean; dpl?: number; p?: boolean; type?: number } = {}): void {
  const type = o.type ?? (o.trap ? 0xf : 0xe);
  cpu.w32(IDT + vector * 8, ((sel & 0xffff) << 16) | (offset & 0xffff));
  cpu.w32(IDT + vector * 8 + 4, (offset & 0xffff0000) | ((o.p ?? true) ? 0x8000 : 0) | ((o.dpl ?? 0) << 13) | (type << 8));
}

/** A 64-bit interrupt or trap gate (SDM Vol. 3A, Figure 6-8). */
export function gate64(cpu: FakeCpu, vector: number, sel: number, offLo: number, offHi: number, o: { trap?: boolean; dpl?: number; p?: boolean; ist?: number } = {}): void {
  const a = IDT + vector * 16;
  cpu.w32(a, ((sel & 0xffff) << 16) | (offLo & 0xffff));
  cpu.w32(a + 4, (offLo & 0xffff0000) | ((o.p ?? true) ? 0x8000 : 0) | ((o.dpl ?? 0) << 13) | ((o.trap ? 0xf : 0xe) << 8) | (o.ist ?? 0));
  cpu.w32(a + 8, offHi);
  cpu.w32(a + 12, 0);
}

/** Loads a segment register cache directly from the GDT (test setup, no checks). */
export function setSeg(cpu: FakeCpu, seg: SegIndex, sel: number): void {
  const lo = cpu.r32(GDT + (sel & 0xfff8));
  const hi = cpu.r32(GDT + (sel & 0xfff8) + 4);
  const c = cpu.state.seg[seg]!;
  c.selector = sel;
  c.baseLo = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  c.baseHi = 0;
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  c.limit = (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
  c.attr = (hi >>> 8) & 0xffff;
  c.valid = (sel & 0xfffc) !== 0;
}

function setTr(cpu: FakeCpu, sel: number): void {
  const lo = cpu.r32(GDT + (sel & 0xfff8));
  const hi = cpu.r32(GDT + (sel & 0xfff8) + 4);
  const tr = cpu.state.tr;
  tr.selector = sel;
  tr.baseLo = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  tr.baseHi = 0;
  tr.limit = (lo & 0xffff) | (hi & 0xf0000);
  tr.attr = ((hi >>> 8) & 0xffff) | 2; // busy
  tr.valid = true;
}

/** Protected mode, flat 32-bit segments at CPL `cpl` (0 or 3), TR = the 32-bit TSS with SS0:ESP0 = DATA_0:STACK0. */
export function prot32(vendor: CpuVendor = 'intel', cpl = 0): FakeCpu {
  const cpu = new FakeCpu(vendor);
  buildTables(cpu);
  cpu.state.cr0 = 0x60000011;
  const code = cpl === 3 ? SEL.CODE32_3 : SEL.CODE32_0;
  const data = cpl === 3 ? SEL.DATA_3 : SEL.DATA_0;
  setSeg(cpu, Seg.CS, code);
  for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS] as const) setSeg(cpu, s, data);
  cpu.state.regLo[4] = cpl === 3 ? STACK3 : STACK0;
  cpu.w32(TSS + 4, STACK0); // ESP0
  cpu.w32(TSS + 8, SEL.DATA_0); // SS0
  cpu.mem.write(TSS + 0x66, 2, 0x68); // I/O map base
  setTr(cpu, SEL.TSS32);
  cpu.state.ripLo = 0x5000;
  return cpu;
}

/** IA-32e 64-bit mode (EFER.LME/LMA, CR0.PG, CR4.PAE), flat, TR = the 64-bit TSS with RSP0 = STACK0. */
export function long64(vendor: CpuVendor = 'intel', cpl = 0): FakeCpu {
  const cpu = new FakeCpu(vendor);
  buildTables(cpu);
  cpu.state.cr0 = 0x80010011 | 0x60000000;
  cpu.state.cr4 = 0x20;
  cpu.state.efer = 0x500;
  setSeg(cpu, Seg.CS, cpl === 3 ? SEL.CODE64_3 : SEL.CODE64_0);
  const data = cpl === 3 ? SEL.DATA_3B : SEL.DATA64_0;
  for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS] as const) setSeg(cpu, s, data);
  cpu.state.regLo[4] = cpl === 3 ? STACK3 : STACK0;
  cpu.w32(TSS + 4, STACK0); // RSP0 low
  cpu.w32(TSS + 8, 0);
  setTr(cpu, SEL.TSS64);
  cpu.state.ripLo = 0x5000;
  return cpu;
}

// ---- instruction builders ----

export function insn(mnemonic: string, operands: Operand[] = [], opSize: 1 | 2 | 4 | 8 = 4, length = 2): Insn {
  return { mnemonic, length, operands, opSize, addrSize: opSize === 8 ? 8 : 4, rep: 'none', lock: false, segOverride: -1, rex: opSize === 8 ? 0x48 : 0 };
}

export const reg = (r: number, size: 1 | 2 | 4 | 8 = 4): Operand => ({ kind: 'reg', reg: r, size, high8: false });
export const imm = (v: number, size: 1 | 2 | 4 | 8 = 1): Operand => ({ kind: 'imm', size, lo: v >>> 0, hi: 0 });
export const cr = (n: number): Operand => ({ kind: 'cr', reg: n });
export const far = (selector: number, offset: number): Operand => ({ kind: 'far', selector, offset });
export function mem(dispLo: number, size: number, seg: SegIndex = Seg.DS, addrSize: 2 | 4 | 8 = 4): Operand {
  return { kind: 'mem', size, seg, segOverride: false, base: -1, index: -1, scale: 1, dispLo, dispHi: 0, ripRel: false, addrSize };
}
