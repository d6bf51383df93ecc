/**
 * The guest seam (guest.ts): for every intercept kind a small real program, assembled with the lab's
 * assembler and run on the bare machine's Cpu under a scripted monitor. Each intercept is checked
 * three ways: its facts; that the state is exactly that of the same program run bare up to the
 * instruction (RIP at it, nothing it would change changed, steps and TSC not counting it); and that
 * with the monitor declining, the program runs exactly as bare.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine, type BareMachine, type BareMode } from '../machine/bare.ts';
import { ArraySink } from '../trace/events.ts';
import { traceToJson } from '../trace/events.ts';
import type { CpuState } from './state.ts';
import { Flag, SegAttr } from './state.ts';
import { Vec } from './core.ts';
import type { GuestMonitor, Intercept, InterceptKind } from './guest.ts';
import { EFER } from './sys-util.ts';
import { timerProgram } from './timer.ts';

const LOAD = 0x100000;
/** Above the bare machine's 64 MiB of RAM: an access there is an MMIO exit in `m.exits`. */
const MMIO = 0x8000000;

/** A monitor that takes the intercepts `take` accepts and keeps every one it was asked about. */
class Script implements GuestMonitor {
  readonly seen: Intercept[] = [];
  interruptWindow = false;
  acknowledgeInterruptOnExit = false;
  interruptExitsIgnoreIf = false;
  interruptsHeld = false;
  deadline = Infinity;
  constructor(private readonly take: (w: Intercept) => boolean) {}
  intercept(w: Intercept): boolean {
    this.seen.push(w);
    return this.take(w);
  }
}
const kinds = (...ks: InterceptKind[]) => new Script((w) => ks.includes(w.kind));
const none = () => new Script(() => false);

interface Prog {
  m: BareMachine;
  labels: Map<string, number>;
}

function prog(src: string, mode: BareMode = 'prot32', setup?: (s: CpuState, m: BareMachine) => void): Prog {
  const r = assemble(src, { bits: mode === 'prot32' ? 32 : 64, origin: LOAD });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = createBareMachine({ mode, load: LOAD, code: r.bytes });
  setup?.(m.cpu.state, m);
  m.cpu.modeChanged();
  return { m, labels: r.labels };
}

/** Everything architectural in a plain object (registers, RIP, flags, segments, CRs, MSRs, TSC, steps, halt). */
function snap(s: CpuState): unknown {
  return JSON.parse(
    JSON.stringify({ ...s, regLo: [...s.regLo], regHi: [...s.regHi], pdpte: [...s.pdpte], msr: [...s.msr.entries()].sort((a, b) => a[0] - b[0]) }),
  );
}
const mem = (m: BareMachine, at: number, n: number) => Array.from({ length: n }, (_, i) => m.mem.read(at + i, 1));

/**
 * Runs `src` under `mon` and expects an exit at label `t`. Then checks the state against the same
 * program run bare for as many steps as the guest retired (so: up to the instruction, nothing of it
 * done), and that under a declining monitor the whole program runs as bare does.
 */
function exitAt(src: string, mon: Script, mode: BareMode = 'prot32', setup?: (s: CpuState, m: BareMachine) => void): Intercept {
  const g = prog(src, mode, setup);
  g.m.cpu.guest = mon;
  expect(g.m.cpu.run(1000)).toBe('exit');
  const w = g.m.cpu.exit!;
  expect(w).not.toBeNull();
  const t = g.labels.get('t');
  if (t !== undefined) expect(w.rip).toBe(BigInt(t));
  expect(g.m.cpu.state.ripLo).toBe(Number(w.rip & 0xffffffffn));
  const bare = prog(src, mode, setup);
  const steps = g.m.cpu.state.steps;
  if (steps > 0) bare.m.cpu.run(steps);
  // A triple fault leaves RFLAGS.RF set after a fault-class attempt, as the bare shutdown does (the
  // state KVM reports at its triple-fault exit; sys-int.ts, deliverExceptionImpl).
  if (w.kind === 'triple-fault') bare.m.cpu.state.rflags |= Flag.RF;
  expect(snap(g.m.cpu.state)).toEqual(snap(bare.m.cpu.state));
  expect(g.m.exits).toEqual(bare.m.exits);
  expect(mem(g.m, 0x9000, 32)).toEqual(mem(bare.m, 0x9000, 32));
  sameAsBare(src, mode, setup);
  return w;
}

/** Under a monitor that declines everything, the run (state, port/MMIO exits, memory, trace) is the bare run's. */
function sameAsBare(src: string, mode: BareMode = 'prot32', setup?: (s: CpuState, m: BareMachine) => void, steps = 1000): void {
  const a = prog(src, mode, setup);
  const b = prog(src, mode, setup);
  const ta = new ArraySink();
  const tb = new ArraySink();
  a.m.cpu.setTrace(ta);
  b.m.cpu.setTrace(tb);
  const mon = none();
  a.m.cpu.guest = mon;
  const ea = a.m.cpu.run(steps);
  const eb = b.m.cpu.run(steps);
  expect(ea).toBe(eb);
  expect(snap(a.m.cpu.state)).toEqual(snap(b.m.cpu.state));
  expect(a.m.exits).toEqual(b.m.exits);
  expect(mem(a.m, 0x9000, 32)).toEqual(mem(b.m, 0x9000, 32));
  expect(ta.events.map(traceToJson)).toEqual(tb.events.map(traceToJson));
  // And untraced, the same end.
  const c = prog(src, mode, setup);
  c.m.cpu.guest = none();
  expect(c.m.cpu.run(steps)).toBe(eb);
  expect(snap(c.m.cpu.state)).toEqual(snap(b.m.cpu.state));
}

/** CPL 3 in prot32: CS and SS with RPL and DPL 3; a TSS too short for an I/O bitmap; IOPL 0. */
function ring3(s: CpuState): void {
  s.seg[1]!.selector = 0x1b;
  s.seg[1]!.attr = (s.seg[1]!.attr & ~(3 << SegAttr.DPL_SHIFT)) | (3 << SegAttr.DPL_SHIFT);
  s.seg[2]!.selector = 0x23;
  s.seg[2]!.attr |= 3 << SegAttr.DPL_SHIFT;
  s.tr.limit = 0x67;
}
/** ring3, and the TSS's I/O map base (at TSS offset 0x66) beyond its limit: no port is permitted. */
function ring3NoIo(s: CpuState, m: BareMachine): void {
  ring3(s);
  m.mem.write(0x66, 2, 0x68);
}

describe('instruction intercepts: facts, length, RIP at the instruction, nothing done', () => {
  it('CPUID: leaf and subleaf as EAX and ECX held them; EAX..EDX unchanged', () => {
    const w = exitAt('mov eax, 0x80000001\nmov ecx, 7\nmov ebx, 0x11\nmov edx, 0x22\nt: cpuid\nhlt', kinds('cpuid'));
    expect(w).toMatchObject({ kind: 'cpuid', leaf: 0x80000001, subleaf: 7, length: 2 });
  });

  it('HLT: the CPU does not halt', () => {
    const g = prog('nop\nt: hlt');
    g.m.cpu.guest = kinds('hlt');
    expect(g.m.cpu.run(10)).toBe('exit');
    expect(g.m.cpu.state.halted).toBe(false);
    expect(exitAt('nop\nt: hlt', kinds('hlt'))).toMatchObject({ kind: 'hlt', length: 1 });
  });

  it('PAUSE (F3 90): length 2', () => {
    expect(exitAt('nop\nt: pause\nhlt', kinds('pause'))).toMatchObject({ kind: 'pause', length: 2 });
  });

  it('INVLPG: the linear address, and the operand as decoded', () => {
    const w = exitAt('mov eax, 0x5000\nt: invlpg [eax+8]\nhlt', kinds('invlpg'));
    expect(w).toMatchObject({ kind: 'invlpg', linear: 0x5008n, length: 4 });
    expect(w.kind === 'invlpg' && w.operand).toMatchObject({ kind: 'mem', base: 0, index: -1, disp: 8n, addrSize: 4, seg: 3 });
  });

  it('RDTSC and RDTSCP: EAX, EDX (and ECX) unchanged', () => {
    expect(exitAt('nop\nnop\nt: rdtsc\nhlt', kinds('rdtsc'))).toMatchObject({ kind: 'rdtsc', length: 2 });
    expect(exitAt('mov ecx, 5\nt: rdtscp\nhlt', kinds('rdtscp'))).toMatchObject({ kind: 'rdtscp', length: 3 });
  });

  it('RDMSR: the MSR number; even an MSR the lab does not model exits rather than #GP (SDM 26.1.1)', () => {
    expect(exitAt('mov ecx, 0xc0000080\nt: rdmsr\nhlt', kinds('rdmsr'))).toMatchObject({ kind: 'rdmsr', msr: 0xc0000080, length: 2 });
    expect(exitAt('mov ecx, 0x12345\nt: rdmsr\nhlt', kinds('rdmsr', 'exception'))).toMatchObject({ kind: 'rdmsr', msr: 0x12345 });
  });

  it('WRMSR: the MSR and EDX:EAX; FS.base not written', () => {
    const w = exitAt('mov ecx, 0xc0000100\nmov eax, 0x1234\nmov edx, 0x5\nt: wrmsr\nhlt', kinds('wrmsr'), 'long64');
    expect(w).toMatchObject({ kind: 'wrmsr', msr: 0xc0000100, value: 0x5_0000_1234n, length: 2 });
  });

  it('MOV to CR0: CR number, direction, register and value; CR0 unchanged', () => {
    const writes = () => new Script((x) => x.kind === 'cr' && x.access === 'write');
    const w = exitAt('mov ebx, cr0\nor ebx, 8\nt: mov cr0, ebx\nhlt', writes());
    expect(w).toMatchObject({ kind: 'cr', cr: 0, access: 'write', gpr: 3, value: BigInt((0x60000011 | 8) >>> 0), length: 3 });
  });

  it('MOV to CR0 with a value that would #GP (PG without PE): the exit comes first', () => {
    const w = exitAt('mov eax, 0x80000000\nt: mov cr0, eax\nhlt', kinds('cr', 'exception'));
    expect(w).toMatchObject({ kind: 'cr', cr: 0, access: 'write', value: 0x80000000n });
  });

  it('MOV from CR3 and MOV to CR8 (64-bit): the register and, for the write, the 64-bit value', () => {
    expect(exitAt('nop\nt: mov rdx, cr3\nhlt', kinds('cr'), 'long64')).toMatchObject({ kind: 'cr', cr: 3, access: 'read', gpr: 2, value: 0n });
    expect(exitAt('mov eax, 5\nt: mov cr8, rax\nhlt', kinds('cr'), 'long64')).toMatchObject({ kind: 'cr', cr: 8, access: 'write', gpr: 0, value: 5n, length: 4 });
  });

  it('CLTS: CR0.TS stays set', () => {
    const src = 'mov eax, cr0\nor eax, 8\nmov cr0, eax\nt: clts\nhlt';
    expect(exitAt(src, kinds('clts'))).toMatchObject({ kind: 'clts', length: 2 });
  });

  it('LMSW: the source value, register or memory with its linear address', () => {
    expect(exitAt('mov eax, 0xf\nt: lmsw ax\nhlt', kinds('lmsw'))).toMatchObject({ kind: 'lmsw', value: 0xf, memory: false, linear: null, length: 3 });
    const w = exitAt('mov ebx, 0x9000\nmov word [ebx], 0x000b\nt: lmsw [ebx]\nhlt', kinds('lmsw'));
    expect(w).toMatchObject({ kind: 'lmsw', value: 0xb, memory: true, linear: 0x9000n, length: 3 });
  });

  it('OUT imm8, AL: port, size, direction, immediate encoding; the port never sees it', () => {
    const w = exitAt('mov al, 0x41\nt: out 0x80, al\nhlt', kinds('io'));
    expect(w).toEqual({ kind: 'io', rip: BigInt(LOAD + 2), length: 2, port: 0x80, size: 1, dir: 'out', string: false, rep: false, immediate: true, addrSize: 4, seg: null, linear: null });
  });

  it('IN EAX, DX: size 4, DX encoding; EAX unchanged', () => {
    const w = exitAt('mov edx, 0x3f8\nmov eax, 0x55\nt: in eax, dx\nhlt', kinds('io'));
    expect(w).toMatchObject({ kind: 'io', port: 0x3f8, size: 4, dir: 'in', string: false, immediate: false, length: 1 });
  });

  it('REP OUTSB: intercepted at the first iteration with RCX, RSI unchanged, segment and linear address reported', () => {
    const src = 'mov esi, 0x9000\nmov dword [esi], 0x44434241\nmov ecx, 4\nmov edx, 0xe9\nt: rep outsb\nhlt';
    const w = exitAt(src, kinds('io'));
    expect(w).toMatchObject({ kind: 'io', port: 0xe9, size: 1, dir: 'out', string: true, rep: true, immediate: false, addrSize: 4, seg: 3, linear: 0x9000n, length: 2 });
    const g = prog(src);
    g.m.cpu.guest = kinds('io');
    g.m.cpu.run(100);
    expect(g.m.cpu.state.regLo[1]).toBe(4);
    expect(g.m.cpu.state.regLo[6]).toBe(0x9000);
  });

  it('REP INSW (64-bit, FS override ignored for INS): ES and RDI; OUTSD with an FS override: FS base in the address', () => {
    const w = exitAt('mov edi, 0x9010\nmov ecx, 2\nmov edx, 0x60\nt: rep insw\nhlt', kinds('io'), 'long64');
    expect(w).toMatchObject({ kind: 'io', size: 2, dir: 'in', string: true, rep: true, addrSize: 8, seg: 0, linear: 0x9010n, length: 3 });
    const w2 = exitAt('mov esi, 0x10\nmov edx, 0x61\nt: db 0x64, 0x6f\nhlt', kinds('io'), 'long64', (s) => {
      s.seg[4]!.baseLo = 0x9000;
    });
    expect(w2).toMatchObject({ kind: 'io', size: 4, dir: 'out', string: true, rep: false, seg: 4, linear: 0x9010n });
  });

  it('at CPL 3 with IOPL 0 and no I/O bitmap, the #GP of the permission check comes before the I/O exit (SDM 26.1.1)', () => {
    const mon = kinds('io', 'exception');
    const w = exitAt('nop\nt: out 0x80, al\nhlt', mon, 'prot32', ring3NoIo);
    expect(w).toMatchObject({ kind: 'exception', vector: Vec.GP, errorCode: 0, type: 'hardware-exception', length: 0 });
    expect(mon.seen.map((x) => x.kind)).toEqual(['exception']);
  });

  it('at CPL 3, RDMSR, HLT, MOV CR and CLTS raise #GP(0) before any exit; CPUID still exits', () => {
    for (const insn of ['rdmsr', 'hlt', 'mov cr0, eax', 'clts', 'wrmsr', 'lgdt [0x9000]']) {
      const w = exitAt(`nop\nt: ${insn}\nhlt`, kinds('rdmsr', 'wrmsr', 'hlt', 'cr', 'clts', 'descriptor-table', 'exception'), 'prot32', ring3);
      expect(w).toMatchObject({ kind: 'exception', vector: Vec.GP, errorCode: 0 });
    }
    expect(exitAt('nop\nt: cpuid\nhlt', kinds('cpuid', 'exception'), 'prot32', ring3)).toMatchObject({ kind: 'cpuid' });
  });

  it('VMCALL and VMMCALL: no operands; declined, they are #UD as before', () => {
    expect(exitAt('nop\nt: vmcall\nhlt', kinds('vmcall'))).toMatchObject({ kind: 'vmcall', length: 3 });
    expect(exitAt('nop\nt: vmmcall\nhlt', kinds('vmmcall'))).toMatchObject({ kind: 'vmmcall', length: 3 });
    const w = exitAt('nop\nt: vmmcall\nhlt', kinds('exception'));
    expect(w).toMatchObject({ kind: 'exception', vector: Vec.UD });
  });

  it('VMX instructions: mnemonic and operands (memory with linear address; registers), at any CPL', () => {
    const w = exitAt('mov eax, 0x9000\nt: vmptrld [eax]\nhlt', kinds('vmx'));
    expect(w).toMatchObject({ kind: 'vmx', mnemonic: 'vmptrld', length: 3, addrSize: 4 });
    expect(w.kind === 'vmx' && w.operands).toEqual([{ kind: 'mem', seg: 3, base: 0, index: -1, scale: 1, disp: 0n, addrSize: 4, linear: 0x9000n }]);
    const r = exitAt('nop\nt: vmread rax, rbx\nhlt', kinds('vmx'), 'long64');
    expect(r).toMatchObject({ kind: 'vmx', mnemonic: 'vmread', opSize: 8, operands: [{ kind: 'reg', reg: 0, size: 8 }, { kind: 'reg', reg: 3, size: 8 }] });
    expect(exitAt('nop\nt: vmlaunch\nhlt', kinds('vmx'), 'prot32', ring3)).toMatchObject({ kind: 'vmx', mnemonic: 'vmlaunch' });
  });

  it('SVM instructions: after the #UD of EFER.SVME = 0 and the CPL #GP', () => {
    const amd = (s: CpuState) => {
      s.vendor = 'amd';
      s.efer |= EFER.SVME;
    };
    expect(exitAt('mov eax, 0x9000\nt: vmrun\nhlt', kinds('svm'), 'prot32', amd)).toMatchObject({ kind: 'svm', mnemonic: 'vmrun', length: 3 });
    expect(exitAt('nop\nt: clgi\nhlt', kinds('svm', 'exception'), 'prot32', (s) => (s.vendor = 'amd'))).toMatchObject({ kind: 'exception', vector: Vec.UD });
    expect(exitAt('nop\nt: stgi\nhlt', kinds('svm', 'exception'), 'prot32', (s) => {
      amd(s);
      ring3(s);
    })).toMatchObject({ kind: 'exception', vector: Vec.GP, errorCode: 0 });
  });

  it('descriptor-table instructions: the operand; SGDT writes no memory, LTR loads nothing', () => {
    const w = exitAt('mov eax, 0x9000\nt: sgdt [eax+2]\nhlt', kinds('descriptor-table'));
    expect(w).toMatchObject({ kind: 'descriptor-table', mnemonic: 'sgdt', length: 4, opSize: 4, addrSize: 4 });
    expect(w.kind === 'descriptor-table' && w.operand).toMatchObject({ kind: 'mem', linear: 0x9002n, disp: 2n });
    expect(exitAt('mov eax, 0x28\nt: ltr ax\nhlt', kinds('descriptor-table'))).toMatchObject({ mnemonic: 'ltr', operand: { kind: 'reg', reg: 0, size: 2 } });
    expect(exitAt('nop\nt: sidt [0x9000]\nhlt', kinds('descriptor-table'), 'long64')).toMatchObject({ mnemonic: 'sidt', operand: { linear: 0x9000n } });
  });
});

/** IDT reads would be MMIO exits: an intercepted exception shows none, and pushes nothing. */
const idtAtMmio = (s: CpuState) => {
  s.idtr = { baseLo: MMIO, baseHi: 0, limit: 0x7ff };
};

describe('exception intercepts: before delivery', () => {
  it('#UD from UD2: vector, no error code, type hardware exception, no push and no IDT read', () => {
    const w = exitAt('nop\nt: ud2\nhlt', kinds('exception'), 'prot32', idtAtMmio);
    expect(w).toEqual({ kind: 'exception', rip: BigInt(LOAD + 1), length: 0, vector: Vec.UD, type: 'hardware-exception', errorCode: -1, address: null, during: null });
    // Bare, the same program reads the IDT (an MMIO exit): the check above would have seen it.
    const b = prog('nop\nt: ud2\nhlt', 'prot32', idtAtMmio);
    b.m.cpu.run(10);
    expect(b.m.exits.some((e) => e.kind === 'mmio')).toBe(true);
  });

  it('#PF: error code and address; CR2 keeps its old value', () => {
    const src = 'mov rax, 0x80000010\nt: mov rbx, [rax]\nhlt';
    const w = exitAt(src, kinds('exception'), 'long64', (s) => {
      s.cr2Lo = 0x1234;
    });
    expect(w).toMatchObject({ kind: 'exception', vector: Vec.PF, errorCode: 0, address: 0x80000010n, during: null, length: 0 });
    const g = prog(src, 'long64', (s) => {
      s.cr2Lo = 0x1234;
    });
    g.m.cpu.guest = kinds('exception');
    g.m.cpu.run(10);
    expect(g.m.cpu.state.cr2Lo).toBe(0x1234);
  });

  it('real-address mode: an exception offered with no error code, as real mode pushes none', () => {
    const real = (s: CpuState) => {
      s.cr0 &= ~1;
      for (const sc of s.seg) {
        sc.selector = 0;
        sc.limit = 0xffff;
      }
      s.seg[1]!.attr &= ~(SegAttr.DB | SegAttr.L);
      s.ripLo = 0x7c00;
      s.regLo[4] = 0x8000;
      s.idtr = { baseLo: 0, baseHi: 0, limit: 0 };
    };
    const g = prog('nop', 'prot32', (s, m) => {
      real(s);
      m.mem.write(0x7c00, 1, 0x90); // nop
      m.mem.write(0x7c01, 2, 0x0b0f); // ud2 → #UD; the IVT limit 0 makes its delivery #GP
    });
    g.m.cpu.guest = new Script((w) => w.kind === 'exception' && w.vector === Vec.GP);
    expect(g.m.cpu.run(10)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ vector: Vec.GP, errorCode: -1, rip: 0x7c01n, during: { vector: Vec.UD, errorCode: -1 } });
  });

  it('INT3, INTO, INT n, INT1: their types and lengths, RIP at the instruction, before the gate is read', () => {
    expect(exitAt('nop\nt: int3\nhlt', kinds('exception'), 'prot32', idtAtMmio)).toMatchObject({ vector: 3, type: 'software-exception', length: 1, errorCode: -1 });
    expect(exitAt('mov al, 0x7f\nadd al, 1\nt: into\nhlt', kinds('exception'), 'prot32', idtAtMmio)).toMatchObject({ vector: 4, type: 'software-exception', length: 1 });
    expect(exitAt('nop\nt: int 0x80\nhlt', kinds('exception'), 'prot32', idtAtMmio)).toMatchObject({ vector: 0x80, type: 'software-interrupt', length: 2 });
    expect(exitAt('nop\nt: int 3\nhlt', kinds('exception'), 'prot32', idtAtMmio)).toMatchObject({ vector: 3, type: 'software-interrupt', length: 2 });
    expect(exitAt('nop\nt: int1\nhlt', kinds('exception'), 'prot32', idtAtMmio)).toMatchObject({ vector: 1, type: 'privileged-software-exception', length: 1 });
  });

  it('a fault during delivery of INT n reports the INT n as the event being delivered', () => {
    const mon = new Script((w) => w.kind === 'exception' && w.type === 'hardware-exception');
    const w = exitAt('nop\nt: int 0x80\nhlt', mon, 'prot32', (s) => {
      s.idtr.limit = 0;
    });
    expect(w).toMatchObject({ vector: Vec.GP, errorCode: 0x80 * 8 + 2, type: 'hardware-exception', during: { vector: 0x80, type: 'software-interrupt', errorCode: -1, length: 2 } });
  });

  it('a fault during delivery of an exception reports it; a pair that makes #DF is offered first as the second exception, then as the #DF alone', () => {
    // IDT of zeros: #UD's gate is not a gate, #GP(6*8+2+1) during its delivery (benign then contributory: no #DF).
    const zeros = (s: CpuState) => {
      s.idtr = { baseLo: 0x8000, baseHi: 0, limit: 0x7ff };
    };
    const mon = new Script((w) => w.kind === 'exception' && w.vector === Vec.GP);
    const w = exitAt('nop\nt: ud2\nhlt', mon, 'prot32', zeros);
    expect(w).toMatchObject({ vector: Vec.GP, errorCode: 6 * 8 + 3, during: { vector: Vec.UD, type: 'hardware-exception', errorCode: -1, length: 0 } });
    // #GP at CPL 0 → its delivery faults with #GP: a double fault, offered with no `during`.
    const df = new Script((x) => x.kind === 'exception' && x.vector === Vec.DF);
    const d = exitAt('mov ecx, 0x12345\nt: rdmsr\nhlt', df, 'prot32', zeros);
    expect(d).toMatchObject({ vector: Vec.DF, errorCode: 0, during: null });
    // The second #GP meets the intercepts before it becomes #DF (SDM Vol. 3C 28.2.3: the VM exit
    // happens for it, with the first as IDT-vectoring information); not taken here, it makes the #DF.
    expect(df.seen.flatMap((x) => (x.kind === 'exception' ? [[x.vector, x.during?.vector ?? null]] : []))).toEqual([[Vec.GP, null], [Vec.GP, Vec.GP], [Vec.DF, null]]);
    // INT n faults (#GP, reported during the INT n); that #GP's delivery faults again (offered
    // during the #GP), then the #DF, which is not "during" the INT n.
    const df2 = new Script((x) => x.kind === 'exception' && x.vector === Vec.DF);
    expect(exitAt('nop\nt: int 0x80\nhlt', df2, 'prot32', zeros)).toMatchObject({ vector: Vec.DF, errorCode: 0, during: null });
    expect(df2.seen.map((x) => x.kind === 'exception' && [x.vector, x.during?.vector ?? null])).toEqual([[0x80, null], [Vec.GP, 0x80], [Vec.GP, Vec.GP], [Vec.DF, null]]);
  });

  it('a triple fault is reported instead of shutdown', () => {
    const src = 'mov ecx, 0x12345\nt: rdmsr\nhlt';
    const zeros = (s: CpuState) => {
      s.idtr = { baseLo: 0x8000, baseHi: 0, limit: 0x7ff };
    };
    const w = exitAt(src, kinds('triple-fault'), 'prot32', zeros);
    expect(w).toMatchObject({ kind: 'triple-fault', length: 0 });
    const g = prog(src, 'prot32', zeros);
    g.m.cpu.guest = kinds('triple-fault');
    g.m.cpu.run(10);
    expect(g.m.cpu.state.shutdown).toBe(false);
    const b = prog(src, 'prot32', zeros);
    expect(b.m.cpu.run(10)).toBe('shutdown');
  });
});

/** An interrupt controller line that stays requested until acknowledged. */
function line(vector: number) {
  return {
    acks: 0,
    up: true,
    pending(): boolean {
      return this.up;
    },
    acknowledge(): number {
      this.acks++;
      this.up = false;
      return vector;
    },
  };
}

describe('events between instructions', () => {
  it('external interrupt: the monitor sees IF and the STI shadow; without acknowledge-on-exit it stays pending', () => {
    const r = assemble('cli\nnop\nsti\na: nop\nb: nop\nhlt', { bits: 32, origin: LOAD });
    if (!r.ok) throw new Error('asm');
    const m = createBareMachine({ mode: 'prot32', load: LOAD, code: r.bytes });
    const src = line(0x30);
    m.cpu.interrupts = src;
    const mon = new Script((w) => w.kind === 'external-interrupt' && !w.ifClear && !w.shadow);
    m.cpu.guest = mon;
    expect(m.cpu.run(100)).toBe('exit');
    expect(m.cpu.exit).toMatchObject({ kind: 'external-interrupt', ifClear: false, shadow: false, acknowledged: false, vector: -1, length: 0 });
    expect(m.cpu.state.ripLo).toBe(r.labels.get('b'));
    expect(src.acks).toBe(0);
    const asked = mon.seen.filter((w) => w.kind === 'external-interrupt').map((w) => w.kind === 'external-interrupt' && [w.ifClear, w.shadow]);
    // Asked where blocks end (IF and the shadow change only at block ends): with IF = 0 first, then in
    // the STI shadow, then open.
    expect(asked.slice(-2)).toEqual([[false, true], [false, false]]);
    expect(asked.slice(0, -2).every((a) => a !== false && a[0] && !a[1])).toBe(true);
  });

  it('external interrupt with acknowledge-on-exit: acknowledged, vector reported, delivered nowhere; IF = 0 does not stop a monitor that exits anyway', () => {
    const g = prog('t: nop\nhlt');
    const src = line(0x41);
    g.m.cpu.interrupts = src;
    const mon = kinds('external-interrupt');
    mon.acknowledgeInterruptOnExit = true;
    g.m.cpu.guest = mon;
    expect(g.m.cpu.run(10)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ kind: 'external-interrupt', ifClear: true, acknowledged: true, vector: 0x41, rip: BigInt(LOAD) });
    expect(src.acks).toBe(1);
    expect(g.m.cpu.state.steps).toBe(0);
  });

  it('the timer interrupt, declined, is delivered as bare; taken with acknowledge, it is no longer pending', () => {
    const src = 'sti\nl: nop\njmp l';
    const setup = (s: CpuState) => {
      timerProgram(s.timer, 0x20, 5);
      s.idtr = { baseLo: MMIO, baseHi: 0, limit: 0x7ff };
    };
    sameAsBare(src, 'prot32', setup, 40);
    const g = prog(src, 'prot32', setup);
    const mon = kinds('external-interrupt');
    mon.acknowledgeInterruptOnExit = true;
    g.m.cpu.guest = mon;
    expect(g.m.cpu.run(100)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ vector: 0x20, acknowledged: true });
    expect(g.m.cpu.state.steps).toBe(5);
    expect(g.m.cpu.state.timer.pending).toBe(false);
    expect(g.m.exits).toEqual([]);
  });

  it('a fault while delivering a declined external interrupt reports the interrupt as the event being delivered', () => {
    const g = prog('sti\nl: nop\njmp l', 'prot32', (s) => {
      timerProgram(s.timer, 0x20, 5);
      s.idtr = { baseLo: 0x8000, baseHi: 0, limit: 0x7ff };
    });
    g.m.cpu.guest = kinds('exception');
    expect(g.m.cpu.run(100)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ kind: 'exception', vector: Vec.GP, errorCode: 0x20 * 8 + 3, during: { vector: 0x20, type: 'external-interrupt', errorCode: -1, length: 0 } });
  });

  it('a halted guest with IF = 0 still reaches a monitor that takes interrupts regardless of IF (VMX external-interrupt exiting)', () => {
    const setup = (s: CpuState) => timerProgram(s.timer, 0x20, 6);
    const g = prog('cli\nhlt\nnop', 'prot32', setup);
    const mon = kinds('external-interrupt');
    mon.interruptExitsIgnoreIf = true;
    g.m.cpu.guest = mon;
    expect(g.m.cpu.run(100)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ kind: 'external-interrupt', ifClear: true, shadow: false });
    expect(g.m.cpu.state).toMatchObject({ steps: 6, halted: true });
    expect(g.m.cpu.stuck()).toBe(false);
    // Without interruptExitsIgnoreIf the run ends as bare: 'hlt' at once.
    const h = prog('cli\nhlt\nnop', 'prot32', setup);
    h.m.cpu.guest = kinds('external-interrupt');
    expect(h.m.cpu.run(100)).toBe('hlt');
    expect(h.m.cpu.state.steps).toBe(2);
    expect(h.m.cpu.stuck()).toBe(true);
    // Bare (and under a declining monitor) the processor stays halted.
    sameAsBare('cli\nhlt\nnop', 'prot32', setup, 100);
  });

  it('interrupt window: at the first boundary with IF = 1 and no STI shadow', () => {
    const r = assemble('cli\nnop\nsti\na: nop\nb: nop\nhlt', { bits: 32, origin: LOAD });
    if (!r.ok) throw new Error('asm');
    const m = createBareMachine({ mode: 'prot32', load: LOAD, code: r.bytes });
    const mon = kinds('interrupt-window');
    mon.interruptWindow = true;
    m.cpu.guest = mon;
    expect(m.cpu.run(100)).toBe('exit');
    expect(m.cpu.exit).toMatchObject({ kind: 'interrupt-window', length: 0, rip: BigInt(r.labels.get('b')!) });
    expect(m.cpu.state.steps).toBe(4);
    // Not asked for: never offered.
    const g = prog('sti\nnop\nnop\nhlt');
    const quiet = kinds('interrupt-window');
    g.m.cpu.guest = quiet;
    expect(g.m.cpu.run(100)).toBe('hlt');
    expect(quiet.seen.filter((x) => x.kind === 'interrupt-window')).toEqual([]);
  });

  it('the interrupt window takes priority over a requested external interrupt; the deadline over both', () => {
    const g = prog('sti\nnop\nnop\nnop\nhlt');
    g.m.cpu.interrupts = line(0x30);
    const mon = kinds('interrupt-window', 'external-interrupt', 'deadline');
    mon.interruptWindow = true;
    g.m.cpu.guest = mon;
    expect(g.m.cpu.run(100)).toBe('exit');
    expect(g.m.cpu.exit?.kind).toBe('external-interrupt'); // IF = 0 at the start: no window yet
    const h = prog('sti\nnop\nnop\nnop\nhlt');
    h.m.cpu.interrupts = line(0x30);
    h.m.cpu.guest = new Script((x) => (x.kind === 'external-interrupt' ? !x.ifClear && !x.shadow : x.kind === 'interrupt-window'));
    (h.m.cpu.guest as Script).interruptWindow = true;
    expect(h.m.cpu.run(100)).toBe('exit');
    expect(h.m.cpu.exit).toMatchObject({ kind: 'interrupt-window', rip: BigInt(LOAD + 2) });
    const d = prog('sti\nnop\nnop\nnop\nhlt');
    d.m.cpu.interrupts = line(0x30);
    mon.deadline = 0;
    d.m.cpu.guest = mon;
    expect(d.m.cpu.run(100)).toBe('exit');
    expect(d.m.cpu.exit?.kind).toBe('deadline');
  });

  it('interruptsHeld (SVM GIF = 0): a requested interrupt is neither offered nor delivered, the timer does not wake HLT; released, it is', () => {
    const src = 'sti\nnop\nnop\nt: nop\nhlt';
    const setup = (s: CpuState) => {
      timerProgram(s.timer, 0x20, 2);
      s.idtr = { baseLo: MMIO, baseHi: 0, limit: 0x7ff };
    };
    const g = prog(src, 'prot32', setup);
    const mon = kinds('external-interrupt');
    mon.interruptsHeld = true;
    g.m.cpu.guest = mon;
    expect(g.m.cpu.run(100)).toBe('hlt');
    expect(mon.seen.filter((w) => w.kind === 'external-interrupt')).toEqual([]);
    expect(g.m.cpu.state).toMatchObject({ steps: 5, halted: true });
    expect(g.m.cpu.state.timer.pending).toBe(true);
    expect(g.m.exits).toEqual([]); // no IDT read (the IDT is in MMIO)
    expect(g.m.cpu.stuck()).toBe(true);
    mon.interruptsHeld = false;
    expect(g.m.cpu.stuck()).toBe(false);
    expect(g.m.cpu.run(100)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ kind: 'external-interrupt', ifClear: false });
  });

  it('deadline: at the boundary where steps reach it, also while halted', () => {
    const g = prog('nop\nnop\nnop\nt: nop\nhlt');
    const mon = kinds('deadline');
    mon.deadline = 3;
    g.m.cpu.guest = mon;
    expect(g.m.cpu.run(100)).toBe('exit');
    expect(g.m.cpu.exit).toMatchObject({ kind: 'deadline', rip: BigInt(LOAD + 3) });
    expect(g.m.cpu.state.steps).toBe(3);
    const h = prog('hlt\nnop');
    const hm = kinds('deadline');
    hm.deadline = 10;
    h.m.cpu.guest = hm;
    expect(h.m.cpu.run(100)).toBe('exit');
    expect(h.m.cpu.state).toMatchObject({ steps: 10, halted: true, ripLo: LOAD + 1 });
  });
});

describe('a monitor that declines changes nothing', () => {
  it('a program of many intercept points: identical state, port exits and trace to the bare run', () => {
    const src = [
      'mov eax, 0', 'cpuid', 'mov ecx, 0xc0000081', 'mov eax, 0x10', 'mov edx, 0x20', 'wrmsr', 'rdmsr', 'rdtsc', 'pause',
      'mov esi, 0x9000', 'mov dword [esi], 0x04030201', 'mov ecx, 4', 'mov edx, 0xe9', 'rep outsb', 'in al, 0x61', 'out 0x80, al',
      'mov edi, 0x9010', 'mov ecx, 3', 'rep insb', 'mov eax, cr0', 'or eax, 8', 'mov cr0, eax', 'clts', 'invlpg [0x5000]',
      'sgdt [0x9018]', 'mov ebx, cr3', 'mov eax, 1', 'lmsw ax', 'ud2',
    ].join('\n');
    sameAsBare(src);
    sameAsBare(src, 'prot32', idtAtMmio);
    // 64-bit, ending in a triple fault (no IDT): the delivery attempts and the shutdown as bare.
    sameAsBare(src.replace('mov eax, cr0\nor eax, 8\nmov cr0, eax', 'mov rax, cr0\nor rax, 8\nmov cr0, rax').replace('mov ebx, cr3', 'mov rbx, cr3'), 'long64');
  });

  it('interrupts, the STI shadow and HLT: identical to bare', () => {
    const src = 'sti\nl: nop\nhlt\njmp l';
    sameAsBare(src, 'prot32', (s) => {
      timerProgram(s.timer, 0x20, 7);
      s.idtr = { baseLo: MMIO, baseHi: 0, limit: 0x7ff };
    }, 200);
  });

  it('a guest run with the monitor removed is a bare run (cost: the null checks)', () => {
    const g = prog('cpuid\nhlt');
    g.m.cpu.guest = kinds('cpuid');
    expect(g.m.cpu.run(10)).toBe('exit');
    g.m.cpu.guest = null;
    expect(g.m.cpu.run(10)).toBe('hlt');
    expect(g.m.cpu.exit).toBeNull();
    expect(Flag.IF).toBe(0x200);
  });
});
