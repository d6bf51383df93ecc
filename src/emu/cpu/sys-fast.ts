/**
 * Fast system calls: SYSCALL/SYSRET (SDM Vol. 2B; AMD APM Vol. 3, where legacy-mode SYSCALL and the
 * non-canonical SYSRET differ), SYSENTER/SYSEXIT (SDM Vol. 2B; AMD: #UD in long mode) and SWAPGS.
 * The segment caches are set to the fixed flat values the manuals list, not read from the GDT.
 */
import { Fault, Vec, type CpuCore } from './core.ts';
import { Seg, type Insn } from './insn.ts';
import { Flag } from './state.ts';
import { MSR, msrGet } from './sys-ctl.ts';
import { CR0, EFER, canonical, flatCache, gp, ud } from './sys-util.ts';

/** Code segment type 11 (execute/read, accessed) and data type 3 (read/write, accessed). */
const CODE = 0xb;
const DATA = 0x3;

export function execSyscall(cpu: CpuCore, nextLo: number, nextHi: number): void {
  const st = cpu.state;
  const mode = cpu.mode();
  const intel = st.vendor === 'intel';
  if ((st.efer & EFER.SCE) === 0) throw ud();
  if (intel && mode !== 'long64') throw ud();
  if (mode === 'real') throw ud();
  const [starLo, starHi] = msrGet(cpu, MSR.IA32_STAR);
  // CS.Selector ← IA32_STAR[47:32] AND FFFCH; SS.Selector ← IA32_STAR[47:32] + 8, RPL bits kept (SDM Vol. 2B, SYSCALL).
  const csSel = starHi & 0xfffc;
  const ssSel = ((starHi & 0xffff) + 8) & 0xffff;
  if ((st.efer & EFER.LMA) !== 0) {
    // RCX ← next RIP; R11 ← RFLAGS; RFLAGS &= ~IA32_FMASK; RIP ← LSTAR (64-bit) or CSTAR (compatibility, AMD).
    const [tLo, tHi] = msrGet(cpu, mode === 'long64' ? MSR.IA32_LSTAR : MSR.IA32_CSTAR);
    st.regLo[1] = nextLo;
    st.regHi[1] = mode === 'long64' ? nextHi : 0;
    st.regLo[11] = st.rflags >>> 0;
    st.regHi[11] = 0;
    const fmask = msrGet(cpu, MSR.IA32_FMASK)[0];
    st.rflags = ((st.rflags & ~fmask & ~Flag.RF) | 2) >>> 0;
    flatCache(st.seg[Seg.CS]!, csSel, CODE, 0, true, false);
    flatCache(st.seg[Seg.SS]!, ssSel, DATA, 0, false, true);
    st.ripLo = tLo;
    st.ripHi = tHi;
  } else {
    // AMD legacy mode: ECX ← next EIP; IF, VM, RF cleared; EIP ← STAR[31:0] (AMD APM Vol. 3, SYSCALL).
    st.regLo[1] = nextLo;
    st.regHi[1] = 0;
    st.rflags = ((st.rflags & ~(Flag.VM | Flag.IF | Flag.RF)) | 2) >>> 0;
    flatCache(st.seg[Seg.CS]!, csSel, CODE, 0, false, true);
    flatCache(st.seg[Seg.SS]!, ssSel, DATA, 0, false, true);
    st.ripLo = starLo >>> 0;
    st.ripHi = 0;
  }
  cpu.modeChanged();
}

export function execSysret(cpu: CpuCore, insn: Insn): void {
  const st = cpu.state;
  const mode = cpu.mode();
  const intel = st.vendor === 'intel';
  if ((st.efer & EFER.SCE) === 0) throw ud();
  if (intel && mode !== 'long64') throw ud();
  if (mode === 'real') throw ud();
  if (cpu.cpl() !== 0) throw gp(0);
  const base = msrGet(cpu, MSR.IA32_STAR)[1] >>> 16;
  const q = insn.opSize === 8;
  if ((st.efer & EFER.LMA) !== 0) {
    // Intel checks RCX while still at CPL 0 (#GP(0) in ring 0, the 2012 SYSRET issue); AMD does not check.
    if (q && intel && !canonical(cpu, st.regLo[1]!, st.regHi[1]!)) throw gp(0);
    const csSel = ((q ? base + 16 : base) | 3) & 0xffff;
    flatCache(st.seg[Seg.CS]!, csSel, CODE, 3, q, !q);
    st.ripLo = st.regLo[1]!;
    st.ripHi = q ? st.regHi[1]! : 0;
    st.rflags = ((st.regLo[11]! & 0x3c7fd7) | 2) >>> 0;
  } else {
    // AMD legacy mode: EIP ← ECX, IF set.
    flatCache(st.seg[Seg.CS]!, (base | 3) & 0xffff, CODE, 3, false, true);
    st.ripLo = st.regLo[1]!;
    st.ripHi = 0;
    st.rflags = (st.rflags | Flag.IF | 2) >>> 0;
  }
  flatCache(st.seg[Seg.SS]!, ((base + 8) | 3) & 0xffff, DATA, 3, false, true);
  cpu.modeChanged();
}

export function execSysenter(cpu: CpuCore): void {
  const st = cpu.state;
  const lma = (st.efer & EFER.LMA) !== 0;
  if (st.vendor === 'amd' && lma) throw ud();
  if ((st.cr0 & CR0.PE) === 0) throw gp(0);
  const cs = msrGet(cpu, MSR.IA32_SYSENTER_CS)[0] & 0xffff;
  if ((cs & 0xfffc) === 0) throw gp(0);
  const [espLo, espHi] = msrGet(cpu, MSR.IA32_SYSENTER_ESP);
  const [eipLo, eipHi] = msrGet(cpu, MSR.IA32_SYSENTER_EIP);
  st.rflags = (st.rflags & ~(Flag.VM | Flag.IF | Flag.RF)) >>> 0;
  flatCache(st.seg[Seg.CS]!, cs & 0xfffc, CODE, 0, lma, !lma);
  flatCache(st.seg[Seg.SS]!, (cs + 8) & 0xfffc, DATA, 0, false, true);
  st.regLo[4] = espLo;
  st.regHi[4] = lma ? espHi : 0;
  st.ripLo = eipLo;
  st.ripHi = lma ? eipHi : 0;
  cpu.modeChanged();
}

export function execSysexit(cpu: CpuCore, insn: Insn): void {
  const st = cpu.state;
  const lma = (st.efer & EFER.LMA) !== 0;
  if (st.vendor === 'amd' && lma) throw ud();
  if ((st.cr0 & CR0.PE) === 0 || cpu.mode() === 'real') throw gp(0);
  if (cpu.cpl() !== 0) throw gp(0);
  const cs = msrGet(cpu, MSR.IA32_SYSENTER_CS)[0] & 0xffff;
  if ((cs & 0xfffc) === 0) throw gp(0);
  const q = insn.opSize === 8;
  if (q) {
    if (!canonical(cpu, st.regLo[1]!, st.regHi[1]!) || !canonical(cpu, st.regLo[2]!, st.regHi[2]!)) throw gp(0);
    flatCache(st.seg[Seg.CS]!, ((cs + 32) | 3) & 0xffff, CODE, 3, true, false);
    flatCache(st.seg[Seg.SS]!, ((cs + 40) | 3) & 0xffff, DATA, 3, false, true);
    st.regLo[4] = st.regLo[1]!;
    st.regHi[4] = st.regHi[1]!;
    st.ripLo = st.regLo[2]!;
    st.ripHi = st.regHi[2]!;
  } else {
    flatCache(st.seg[Seg.CS]!, ((cs + 16) | 3) & 0xffff, CODE, 3, false, true);
    flatCache(st.seg[Seg.SS]!, ((cs + 24) | 3) & 0xffff, DATA, 3, false, true);
    st.regLo[4] = st.regLo[1]!;
    st.regHi[4] = 0;
    st.ripLo = st.regLo[2]!;
    st.ripHi = 0;
  }
  cpu.modeChanged();
}

/** SWAPGS: 64-bit mode only (#UD otherwise), CPL 0; exchanges GS.base and IA32_KERNEL_GS_BASE. */
export function execSwapgs(cpu: CpuCore): void {
  const st = cpu.state;
  if (cpu.mode() !== 'long64') throw new Fault(Vec.UD);
  if (cpu.cpl() !== 0) throw gp(0);
  const gs = st.seg[Seg.GS]!;
  const [kLo, kHi] = msrGet(cpu, MSR.IA32_KERNEL_GS_BASE);
  st.msr.set(MSR.IA32_KERNEL_GS_BASE, [gs.baseLo, gs.baseHi]);
  gs.baseLo = kLo;
  gs.baseHi = kHi;
}
