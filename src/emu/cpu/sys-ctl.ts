/**
 * Control registers (MOV CRn, LMSW, SMSW, CLTS, INVLPG: SDM Vol. 2B MOV—Move to/from Control
 * Registers; Vol. 3A, 2.5, 4.4.1 and 4.10.4), model-specific registers (RDMSR/WRMSR: Vol. 4,
 * Table 2-2; AMD APM Vol. 2, Appendix A), CPUID and the time-stamp counter.
 */
import type { CpuCore, CpuFeatures } from './core.ts';
import { Seg, type Insn } from './insn.ts';
import { SegAttr } from './state.ts';
import { CR0, CR4, EFER, effAddr, gp, isCanonical, r64, ud, writeReg } from './sys-util.ts';
import { storeSelectorLike } from './sys-desc.ts';
import { big, exitOn, guestCrRead, guestCrWrite, guestOn, guestOperand, operandLinear, ripOf, type Intercept } from './guest.ts';

/** MAXPHYADDR in bits, as CPUID 0x80000008 reports it; CR3, PDPTE and APIC_BASE reserved bits follow from it. */
export const MAXPHYADDR = 48;
/** Address bits MAXPHYADDR-1:32 within a high half. */
export const PHYS_HI_MASK = MAXPHYADDR >= 52 ? 0xfffff : (1 << (MAXPHYADDR - 32)) - 1;

/** MSR indexes (SDM Vol. 4, Table 2-2). */
export const MSR = {
  IA32_TIME_STAMP_COUNTER: 0x10,
  IA32_APIC_BASE: 0x1b,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_PAT: 0x277,
  IA32_EFER: 0xc0000080,
  IA32_STAR: 0xc0000081,
  IA32_LSTAR: 0xc0000082,
  IA32_CSTAR: 0xc0000083,
  IA32_FMASK: 0xc0000084,
  IA32_FS_BASE: 0xc0000100,
  IA32_GS_BASE: 0xc0000101,
  IA32_KERNEL_GS_BASE: 0xc0000102,
  IA32_TSC_AUX: 0xc0000103,
} as const;

/** Power-on values of MSRs kept in state.msr (SDM Vol. 3A, Table 10-1; IA32_PAT, 13.12.4). */
const MSR_DEFAULTS = new Map<number, [number, number]>([
  [MSR.IA32_APIC_BASE, [0xfee00900, 0]],
  [MSR.IA32_PAT, [0x00070406, 0x00070406]],
]);
const PLAIN_MSRS = new Set<number>([
  MSR.IA32_APIC_BASE, MSR.IA32_SYSENTER_CS, MSR.IA32_SYSENTER_ESP, MSR.IA32_SYSENTER_EIP, MSR.IA32_PAT, MSR.IA32_STAR,
  MSR.IA32_LSTAR, MSR.IA32_CSTAR, MSR.IA32_FMASK, MSR.IA32_KERNEL_GS_BASE, MSR.IA32_TSC_AUX,
]);
const CANONICAL_MSRS = new Set<number>([
  MSR.IA32_SYSENTER_ESP, MSR.IA32_SYSENTER_EIP, MSR.IA32_LSTAR, MSR.IA32_CSTAR, MSR.IA32_KERNEL_GS_BASE,
]);

/** The EFER bits the lab implements (the rest are reserved, must be zero): SVME only on AMD. */
export function eferImplemented(vendor: 'intel' | 'amd'): number {
  return EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE | (vendor === 'amd' ? EFER.SVME : 0);
}

/** An MSR held in state.msr, or its power-on value. */
export function msrGet(cpu: CpuCore, index: number): [number, number] {
  return cpu.state.msr.get(index) ?? MSR_DEFAULTS.get(index) ?? [0, 0];
}

/** RDMSR's value for `index`; #GP(0) for an MSR the lab does not model. */
export function readMsr(cpu: CpuCore, index: number): [number, number] {
  const st = cpu.state;
  switch (index) {
    case MSR.IA32_TIME_STAMP_COUNTER:
      return [st.tsc % 0x100000000 >>> 0, Math.floor(st.tsc / 0x100000000) >>> 0];
    case MSR.IA32_EFER:
      return [st.efer >>> 0, 0];
    case MSR.IA32_FS_BASE:
      return [st.seg[Seg.FS]!.baseLo, st.seg[Seg.FS]!.baseHi];
    case MSR.IA32_GS_BASE:
      return [st.seg[Seg.GS]!.baseLo, st.seg[Seg.GS]!.baseHi];
    default:
      if (PLAIN_MSRS.has(index)) return msrGet(cpu, index);
      throw gp(0);
  }
}

/** WRMSR: reserved-bit and canonical checks (#GP(0)), EFER rules (LME fixed while paging, LMA read-only). */
export function writeMsr(cpu: CpuCore, index: number, lo: number, hi: number): void {
  const st = cpu.state;
  lo >>>= 0;
  hi >>>= 0;
  // Linear addresses written to MSRs are checked against the widest linear address the processor supports
  // (57 bits where CPUID.(EAX=07H,ECX=0):ECX.LA57 = 1, else 48), not the current paging mode (SDM Vol. 3A,
  // 4.1.1 and 4.5).
  if (CANONICAL_MSRS.has(index) || index === MSR.IA32_FS_BASE || index === MSR.IA32_GS_BASE) {
    if (!isCanonical(lo, hi, cpu.features?.la57 === false ? 48 : 57)) throw gp(0);
  }
  switch (index) {
    case MSR.IA32_TIME_STAMP_COUNTER:
      st.tsc = hi * 0x100000000 + lo;
      return;
    case MSR.IA32_EFER: {
      const allowed = eferImplemented(st.vendor);
      if (hi !== 0 || (lo & ~allowed) !== 0) throw gp(0);
      if (((lo ^ st.efer) & EFER.LME) !== 0 && (st.cr0 & CR0.PG) !== 0) throw gp(0);
      const old = st.efer;
      st.efer = ((lo & ~EFER.LMA) | (st.efer & EFER.LMA)) >>> 0;
      if (((old ^ st.efer) & EFER.NXE) !== 0) cpu.tlbFlushAll(true, 'wrmsr');
      cpu.modeChanged();
      return;
    }
    case MSR.IA32_FS_BASE:
      st.seg[Seg.FS]!.baseLo = lo;
      st.seg[Seg.FS]!.baseHi = hi;
      return;
    case MSR.IA32_GS_BASE:
      st.seg[Seg.GS]!.baseLo = lo;
      st.seg[Seg.GS]!.baseHi = hi;
      return;
    case MSR.IA32_APIC_BASE:
      // bits 7:0, 9 reserved; bit 10 (x2APIC enable) reserved without x2APIC; 63:MAXPHYADDR reserved.
      if ((lo & 0x6ff) !== 0 || (hi & ~PHYS_HI_MASK) !== 0) throw gp(0);
      break;
    case MSR.IA32_PAT:
      for (const v of [lo, hi]) {
        for (let i = 0; i < 4; i++) {
          const t = (v >>> (8 * i)) & 0xff;
          if (t === 2 || t === 3 || t > 7) throw gp(0); // memory types 2, 3 and > 7 are reserved
        }
      }
      break;
    case MSR.IA32_TSC_AUX:
      if (hi !== 0) throw gp(0);
      break;
    default:
      if (!PLAIN_MSRS.has(index)) throw gp(0);
  }
  st.msr.set(index, [lo, hi]);
}

// ---- CPUID ----

function str4(s: string, i: number): number {
  let v = 0;
  for (let k = 3; k >= 0; k--) v = (v << 8) | (s.charCodeAt(i + k) || 0);
  return v >>> 0;
}

/** Leaf 1 EDX: PSE(3) TSC(4) MSR(5) PAE(6) CX8(8) SEP(11) PGE(13) CMOV(15) PAT(16). */
const LEAF1_EDX = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 11) | (1 << 13) | (1 << 15) | (1 << 16);
/** Leaf 1 ECX: PCID(17). */
const LEAF1_ECX = 1 << 17;
/** 0x80000001 EDX: SYSCALL(11) NX(20) RDTSCP(27) LM(29); Page1GB(26) by CpuFeatures.page1gb. */
const EXT1_EDX = (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29);
const PAGE1GB = 1 << 26;
/** 0x80000001 ECX: LAHF/SAHF in 64-bit mode (0). */
const EXT1_ECX = 1 << 0;
/** Leaf 7 ECX: LA57(16). */
const LEAF7_ECX = 1 << 16;

const MAX_BASIC = 7;
const MAX_EXT = 0x80000008;

/**
 * A fixed, deterministic CPUID: the vendor string by state.vendor and feature bits for what the lab
 * models (SDM Vol. 2A, CPUID; AMD APM Vol. 3, Appendix E). Above the highest leaf Intel returns the
 * highest basic leaf's data and AMD zeros.
 */
export function cpuid(vendor: 'intel' | 'amd', leaf: number, subleaf: number, features: CpuFeatures = {}): [number, number, number, number] {
  const intel = vendor === 'intel';
  const id = intel ? 'GenuineIntel' : 'AuthenticAMD';
  const brand = (intel ? 'Ring -1 lab CPU (Intel model)' : 'Ring -1 lab CPU (AMD model)').padEnd(47, ' ') + '\0';
  const sig = intel ? 0x000306a9 : 0x00100f42;
  leaf >>>= 0;
  if ((leaf > MAX_BASIC && leaf < 0x80000000) || leaf > MAX_EXT) {
    if (!intel) return [0, 0, 0, 0];
    leaf = MAX_BASIC;
    subleaf = 0;
  }
  switch (leaf) {
    case 0:
      return [MAX_BASIC, str4(id, 0), str4(id, 8), str4(id, 4)];
    case 1:
      return [sig, 0x00010800, LEAF1_ECX, LEAF1_EDX];
    case 7:
      return subleaf === 0 ? [0, 0, features.la57 === false ? 0 : LEAF7_ECX, 0] : [0, 0, 0, 0];
    case 0x80000000:
      return [MAX_EXT, intel ? 0 : str4(id, 0), intel ? 0 : str4(id, 8), intel ? 0 : str4(id, 4)];
    case 0x80000001:
      return [intel ? 0 : sig, 0, EXT1_ECX, (EXT1_EDX | (features.page1gb === false ? 0 : PAGE1GB)) >>> 0];
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      const o = (leaf - 0x80000002) * 16;
      return [str4(brand, o), str4(brand, o + 4), str4(brand, o + 8), str4(brand, o + 12)];
    }
    case 0x80000008:
      return [((features.la57 === false ? 48 : 57) << 8) | MAXPHYADDR, 0, 0, 0];
    default:
      return [0, 0, 0, 0];
  }
}

// ---- control registers ----

/** CR0 bits that exist (PE MP EM TS ET NE WP AM NW CD PG); writes to other bits of 31:0 are ignored. */
const CR0_DEFINED = 0xe005003f;
/** CR4 bits the lab models (the rest are reserved: #GP(0)): TSD PSE PAE PGE PCE LA57 PCIDE. vmx/controls.ts reports them in IA32_VMX_CR4_FIXED1; svm/svm.ts checks them on VMRUN. */
export const CR4_ALLOWED = CR4.TSD | CR4.PSE | CR4.PAE | CR4.PGE | CR4.PCE | CR4.LA57 | CR4.PCIDE;

/**
 * Loads the four PAE PDPTE registers from CR3 bits 31:5 (SDM Vol. 3A, 4.4.1); false (and nothing
 * loaded) when a present entry has a reserved bit set (bits 2:1, 8:5, 63:MAXPHYADDR).
 *
 * Under nested paging CR3 holds a guest-physical address. With EPT the 32-byte PDPT (one page)
 * is translated through EPT first, as a guest paging-structure access without a guest linear
 * address (SDM Vol. 3C 29.3.2, Table 28-7 bit 7 = 0; with EPT accessed/dirty flags on it counts
 * as a write, 29.3.3.2): a failure is the 'nested-fault' intercept (an EPT violation or
 * misconfiguration VM exit, the MOV not done). With NPT nothing is loaded: the processor reads
 * the PDPTE from the guest's PDPT on each walk (mmu/nested.ts), and MOV to CR3 makes no check.
 */
export function loadPdptes(cpu: CpuCore, cr3Lo: number): boolean {
  let base = (cr3Lo & 0xffffffe0) >>> 0;
  const nested = cpu.nestedTranslator?.() ?? null;
  if (nested !== null) {
    if (nested.paePdptes === 'memory') return true;
    const req = { write: false, fetch: false, user: false, stage: 'guest-table', linear: base, pdpteLoad: true } as const;
    const out = nested.translate(base, req);
    if (!out.ok) {
      const what: Intercept = {
        kind: 'nested-fault', rip: ripOf(cpu), length: 0, gpa: base, linear: null, stage: 'guest-table', paged: true,
        access: { write: false, fetch: false, user: false }, fault: out.fault,
      };
      exitOn(cpu, what);
      throw new Error(`PDPTE load: nested fault at guest-physical ${base.toString(16)} with no monitor to take it`);
    }
    base = out.hpa;
  }
  const tmp = new Uint32Array(8);
  for (let i = 0; i < 4; i++) {
    const lo = cpu.mem.read(base + i * 8, 4);
    const hi = cpu.mem.read(base + i * 8 + 4, 4);
    if ((lo & 1) !== 0 && ((lo & 0x1e6) !== 0 || (hi & ~PHYS_HI_MASK) !== 0)) return false;
    tmp[2 * i] = lo;
    tmp[2 * i + 1] = hi;
  }
  cpu.state.pdpte.set(tmp);
  return true;
}

function paePagingWith(cr0: number, cr4: number, efer: number): boolean {
  return (cr0 & CR0.PG) !== 0 && (cr4 & CR4.PAE) !== 0 && (efer & EFER.LMA) === 0;
}

export function readCr(cpu: CpuCore, n: number): [number, number] {
  const st = cpu.state;
  switch (n) {
    case 0:
      return [st.cr0 >>> 0, 0];
    case 2:
      return [st.cr2Lo, st.cr2Hi];
    case 3:
      return [st.cr3Lo, st.cr3Hi];
    case 4:
      return [st.cr4 >>> 0, 0];
    case 8: {
      if (cpu.mode() !== 'long64') throw ud();
      // Guest seam: under VMX "use TPR shadow" CR8 is VTPR[7:4] (vmx/apicv.ts).
      const apic = cpu.guest?.apic;
      if (apic !== undefined && apic !== null) return [apic.cr8Read(), 0];
      return [st.cr8 & 0xf, 0];
    }
    default:
      throw ud();
  }
}

/** MOV to CRn at CPL 0 (the caller checks CPL): every #GP(0) condition of SDM Vol. 2B, MOV CRn. */
export function writeCr(cpu: CpuCore, n: number, lo: number, hi: number): void {
  const st = cpu.state;
  lo >>>= 0;
  hi >>>= 0;
  const lma = (st.efer & EFER.LMA) !== 0;
  switch (n) {
    case 0: {
      if (hi !== 0) throw gp(0);
      const v = ((lo & CR0_DEFINED) | CR0.ET) >>> 0;
      if ((v & CR0.PG) !== 0 && (v & CR0.PE) === 0) throw gp(0);
      if ((v & CR0.NW) !== 0 && (v & CR0.CD) === 0) throw gp(0);
      const old = st.cr0 >>> 0;
      let efer = st.efer;
      const pgOn = (old & CR0.PG) === 0 && (v & CR0.PG) !== 0;
      const pgOff = (old & CR0.PG) !== 0 && (v & CR0.PG) === 0;
      if (pgOn && (efer & EFER.LME) !== 0) {
        // Activating IA-32e mode (SDM Vol. 3A, 10.8.5): needs CR4.PAE, and CS.L must be 0.
        if ((st.cr4 & CR4.PAE) === 0 || (st.seg[Seg.CS]!.attr & SegAttr.L) !== 0) throw gp(0);
        efer |= EFER.LMA;
      }
      if (pgOff) {
        if ((st.cr4 & CR4.PCIDE) !== 0) throw gp(0);
        if (lma) {
          if (cpu.mode() === 'long64') throw gp(0);
          efer &= ~EFER.LMA;
        }
      }
      if (paePagingWith(v, st.cr4, efer) && (pgOn || ((old ^ v) & (CR0.CD | CR0.NW)) !== 0)) {
        if (!loadPdptes(cpu, st.cr3Lo)) throw gp(0);
      }
      st.cr0 = v;
      st.efer = efer >>> 0;
      if (((old ^ v) & (CR0.PG | CR0.WP | CR0.PE)) !== 0) cpu.tlbFlushAll(true, 'mov-cr0');
      cpu.modeChanged();
      return;
    }
    case 2:
      st.cr2Lo = lo;
      st.cr2Hi = lma ? hi : 0;
      return;
    case 3: {
      let noFlush = false;
      if (lma) {
        if ((st.cr4 & CR4.PCIDE) !== 0 && (hi & 0x80000000) !== 0) {
          noFlush = true;
          hi &= 0x7fffffff;
        }
        if ((hi & ~PHYS_HI_MASK) !== 0) throw gp(0);
      } else hi = 0;
      if (paePagingWith(st.cr0, st.cr4, st.efer) && !loadPdptes(cpu, lo)) throw gp(0);
      st.cr3Lo = lo;
      st.cr3Hi = hi;
      // With PCIDE the SDM flushes only the new PCID's non-global entries; the lab flushes all non-global ones.
      if (!noFlush) cpu.tlbFlushAll(false, 'mov-cr3');
      return;
    }
    case 4: {
      // CR4.VMXE is kept once set (VMX operation: only the VMX layer sets it, and it cannot be
      // cleared while in VMX operation, SDM Vol. 3C 24.8), so a guest's write may carry it.
      if (hi !== 0 || (lo & ~(CR4_ALLOWED | (st.cr4 & CR4.VMXE))) !== 0) throw gp(0);
      // Setting a CR4 bit for a feature CPUID does not report is #GP(0) (SDM Vol. 2B, MOV to CR4).
      if ((lo & CR4.LA57) !== 0 && cpu.features?.la57 === false) throw gp(0);
      const old = st.cr4 >>> 0;
      const v = lo;
      if (lma && (v & CR4.PAE) === 0) throw gp(0);
      if (lma && ((v ^ old) & CR4.LA57) !== 0) throw gp(0);
      if ((v & CR4.PCIDE) !== 0 && (old & CR4.PCIDE) === 0 && (!lma || (st.cr3Lo & 0xfff) !== 0)) throw gp(0);
      if (paePagingWith(st.cr0, v, st.efer) && ((v ^ old) & (CR4.PAE | CR4.PGE | CR4.PSE)) !== 0) {
        if (!loadPdptes(cpu, st.cr3Lo)) throw gp(0);
      }
      st.cr4 = v;
      const flushAll = ((v ^ old) & (CR4.PGE | CR4.PAE | CR4.PSE | CR4.LA57)) !== 0 || ((old & ~v) & CR4.PCIDE) !== 0;
      if (flushAll) cpu.tlbFlushAll(true, 'mov-cr4');
      cpu.modeChanged();
      return;
    }
    case 8:
      if (cpu.mode() !== 'long64') throw ud();
      if ((lo & ~0xf) !== 0 || hi !== 0) throw gp(0);
      {
        const apic = cpu.guest?.apic;
        if (apic !== undefined && apic !== null) {
          apic.cr8Write(lo);
          return;
        }
      }
      st.cr8 = lo;
      return;
    default:
      throw ud();
  }
}

/** MOV CRn, r / MOV r, CRn (operands: a 'cr' and a 'reg'). CPL 0 only. */
export function execMovCr(cpu: CpuCore, insn: Insn): void {
  const st = cpu.state;
  const [dst, src] = insn.operands;
  if (dst === undefined || src === undefined) throw ud();
  if (cpu.mode() !== 'real' && cpu.cpl() !== 0) throw gp(0);
  const long = cpu.mode() === 'long64';
  if (guestOn(cpu)) {
    // Guest seam (SDM Vol. 3C 26.1.1, "Relative Priority of Faults and VM Exits"): the CPL #GP and the #UD of a CR that does not exist (CR1,
    // CR5–7, CR9–15; CR8 outside 64-bit mode) come first; the exit precedes every #GP a write's
    // value would raise. A read's value is 0 in the intercept (nothing is read).
    const crOp = dst.kind === 'cr' ? dst : src;
    const gprOp = dst.kind === 'cr' ? src : dst;
    const n = crOp.kind === 'cr' ? crOp.reg : -1;
    if (gprOp.kind === 'reg' && (n === 0 || n === 2 || n === 3 || n === 4 || (n === 8 && long))) {
      const write = dst.kind === 'cr';
      const value = write ? big(st.regLo[gprOp.reg]!, long ? st.regHi[gprOp.reg]! : 0) : 0n;
      exitOn(cpu, { kind: 'cr', rip: ripOf(cpu), length: insn.length, cr: n, access: write ? 'write' : 'read', gpr: gprOp.reg, value });
    }
  }
  if (dst.kind === 'cr' && src.kind === 'reg') {
    let lo = st.regLo[src.reg]!;
    // Guest seam: a write not intercepted keeps the bits the monitor owns (VMX guest/host mask).
    if (guestOn(cpu) && (dst.reg === 0 || dst.reg === 4)) lo = guestCrWrite(cpu, dst.reg, lo, dst.reg === 0 ? st.cr0 : st.cr4);
    writeCr(cpu, dst.reg, lo, long ? st.regHi[src.reg]! : 0);
  } else if (src.kind === 'cr' && dst.kind === 'reg') {
    let [lo, hi] = readCr(cpu, src.reg);
    // Guest seam: the bits the monitor owns read from its shadow (VMX CR0/CR4 read shadows).
    if (guestOn(cpu) && (src.reg === 0 || src.reg === 4)) lo = guestCrRead(cpu, src.reg, lo);
    writeReg(cpu, dst.reg, long ? 8 : 4, lo, hi);
  } else throw ud();
}

/** LMSW, SMSW, CLTS, INVLPG, RDMSR, WRMSR, CPUID, RDTSC, RDTSCP. Returns false if not one of them. */
export function execCtlInsn(cpu: CpuCore, insn: Insn, nextLo: number, nextHi: number): boolean {
  const st = cpu.state;
  const privileged = cpu.mode() !== 'real' && cpu.cpl() !== 0;
  switch (insn.mnemonic) {
    case 'smsw':
      // Not privileged (SDM Vol. 2B, SMSW): one of the sensitive, unprivileged instructions.
      // Guest seam: the bits the monitor owns read from its shadow (SDM Vol. 3C 26.3, SMSW).
      const cr0 = guestOn(cpu) ? guestCrRead(cpu, 0, st.cr0) : st.cr0;
      storeSelectorLike(cpu, insn, insn.operands[0]?.kind === 'mem' ? cr0 & 0xffff : cr0 >>> 0, nextLo, nextHi);
      return true;
    case 'lmsw': {
      if (privileged) throw gp(0);
      const op = insn.operands[0];
      let v: number;
      if (op?.kind === 'reg') v = st.regLo[op.reg]! & 0xffff;
      else if (op?.kind === 'mem') {
        effAddr(cpu, op, nextLo, nextHi);
        v = cpu.segRead(op.seg, r64.lo, r64.hi, 2);
      } else throw ud();
      // Guest seam: faults fetching the operand precede the exit conditioned on it (SDM Vol. 3C 26.1.1).
      if (guestOn(cpu)) {
        const linear = op.kind === 'mem' ? operandLinear(cpu, op, nextLo, nextHi) : null;
        exitOn(cpu, { kind: 'lmsw', rip: ripOf(cpu), length: insn.length, value: v, memory: op.kind === 'mem', linear });
      }
      // Only PE MP EM TS load, and PE can be set but not cleared (SDM Vol. 2A, LMSW).
      const next = ((st.cr0 & ~0xe) | (v & 0xf) | (st.cr0 & CR0.PE)) >>> 0;
      writeCr(cpu, 0, guestOn(cpu) ? guestCrWrite(cpu, 0, next, st.cr0) : next, 0);
      return true;
    }
    case 'clts':
      if (privileged) throw gp(0);
      if (guestOn(cpu)) {
        exitOn(cpu, { kind: 'clts', rip: ripOf(cpu), length: insn.length });
        st.cr0 = guestCrWrite(cpu, 0, (st.cr0 & ~CR0.TS) >>> 0, st.cr0);
        return true;
      }
      st.cr0 = (st.cr0 & ~CR0.TS) >>> 0;
      return true;
    case 'invlpg': {
      if (privileged) throw gp(0);
      const op = insn.operands[0];
      if (op?.kind !== 'mem') throw ud();
      effAddr(cpu, op, nextLo, nextHi);
      const s = st.seg[op.seg]!;
      const long = cpu.mode() === 'long64';
      const useBase = !long || op.seg === Seg.FS || op.seg === Seg.GS;
      const bLo = useBase ? s.baseLo : 0;
      const bHi = long && useBase ? s.baseHi : 0;
      const sum = r64.lo + bLo;
      const lo = sum >>> 0;
      const hi = long ? (r64.hi + bHi + (sum > 0xffffffff ? 1 : 0)) >>> 0 : 0;
      // Guest seam: after the CPL #GP; INVLPG makes no access that could fault before its exit.
      if (guestOn(cpu)) {
        exitOn(cpu, { kind: 'invlpg', rip: ripOf(cpu), length: insn.length, linear: big(lo, hi), operand: guestOperand(cpu, insn, 0, nextLo, nextHi) });
      }
      // A non-canonical address makes INVLPG a no-op in 64-bit mode (SDM Vol. 2A, INVLPG).
      if (!long || isCanonical(lo, hi, (st.cr4 & CR4.LA57) !== 0 ? 57 : 48)) cpu.tlbInvlpg(lo, hi);
      return true;
    }
    case 'rdmsr': {
      if (privileged) throw gp(0);
      // Guest seam: the CPL #GP first; the exit precedes the #GP of an MSR that does not exist (SDM
      // Vol. 3C 26.1.1, its own example).
      if (guestOn(cpu)) exitOn(cpu, { kind: 'rdmsr', rip: ripOf(cpu), length: insn.length, msr: st.regLo[1]! });
      // Guest seam: x2APIC MSRs under VMX "virtualize x2APIC mode" (vmx/apicv.ts).
      const virt = cpu.guest?.apic?.msrRead(st.regLo[1]!) ?? null;
      let [lo, hi] = virt ?? readMsr(cpu, st.regLo[1]!);
      const offset = cpu.guest?.tscReadOffset;
      if (offset !== undefined && offset !== 0n && st.regLo[1] === MSR.IA32_TIME_STAMP_COUNTER) {
        // Guest seam: RDMSR of IA32_TIME_STAMP_COUNTER reads the offset TSC, as RDTSC does.
        const t = BigInt.asUintN(64, big(lo, hi) + offset);
        lo = Number(t & 0xffffffffn);
        hi = Number(t >> 32n);
      }
      writeReg(cpu, 0, 4, lo);
      writeReg(cpu, 2, 4, hi);
      return true;
    }
    case 'wrmsr':
      if (privileged) throw gp(0);
      if (guestOn(cpu)) {
        exitOn(cpu, { kind: 'wrmsr', rip: ripOf(cpu), length: insn.length, msr: st.regLo[1]!, value: big(st.regLo[0]!, st.regLo[2]!) });
        const virt = cpu.guest?.apic?.msrWrite(st.regLo[1]!, st.regLo[0]!, st.regLo[2]!) ?? null;
        if (virt === 'gp') throw gp(0);
        if (virt === 'done') return true;
      }
      writeMsr(cpu, st.regLo[1]!, st.regLo[0]!, st.regLo[2]!);
      return true;
    case 'cpuid': {
      // Guest seam: CPUID has no fault; its exit is unconditional in VMX, an intercept in SVM.
      if (guestOn(cpu)) exitOn(cpu, { kind: 'cpuid', rip: ripOf(cpu), length: insn.length, leaf: st.regLo[0]!, subleaf: st.regLo[1]! });
      const [a, b, c, d] = cpuid(st.vendor, st.regLo[0]!, st.regLo[1]!, cpu.features);
      writeReg(cpu, 0, 4, a);
      writeReg(cpu, 3, 4, b);
      writeReg(cpu, 1, 4, c);
      writeReg(cpu, 2, 4, d);
      return true;
    }
    case 'rdtsc':
    case 'rdtscp': {
      // CR4.TSD restricts RDTSC/RDTSCP to CPL 0 (SDM Vol. 2B, RDTSC).
      if ((st.cr4 & CR4.TSD) !== 0 && privileged) throw gp(0);
      // Guest seam: the CR4.TSD #GP (a fault based on privilege level) precedes the exit.
      if (guestOn(cpu)) exitOn(cpu, { kind: insn.mnemonic === 'rdtscp' ? 'rdtscp' : 'rdtsc', rip: ripOf(cpu), length: insn.length });
      const offset = cpu.guest?.tscReadOffset;
      if (offset !== undefined && offset !== 0n) {
        // Guest seam: the monitor's TSC offset (VMX TSC offsetting, SVM TSC_OFFSET), modulo 2^64.
        const t = BigInt.asUintN(64, BigInt(st.tsc) + offset);
        writeReg(cpu, 0, 4, Number(t & 0xffffffffn));
        writeReg(cpu, 2, 4, Number(t >> 32n));
      } else {
        writeReg(cpu, 0, 4, st.tsc % 0x100000000 >>> 0);
        writeReg(cpu, 2, 4, Math.floor(st.tsc / 0x100000000) >>> 0);
      }
      if (insn.mnemonic === 'rdtscp') writeReg(cpu, 1, 4, msrGet(cpu, MSR.IA32_TSC_AUX)[0]);
      return true;
    }
    default:
      return false;
  }
}
