/**
 * The trace written by the core (cpu.ts, mmu.ts, sys-int.ts): every behaviour is proved on real
 * machine code assembled by the lab's assembler and run on the bare long64 / prot32 machine.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble } from '../asm/assembler.ts';
import { timerProgram } from '../cpu/timer.ts';
import { bareResult, createBareMachine, type BareMachine } from '../machine/bare.ts';
import { generateProgram } from '../../../tests/oracle/gen/program-gen.ts';
import { ArraySink, traceToJson, type TraceEvent, type TraceKind } from './events.ts';
import { CountingSink } from './emit.ts';
import { Machine } from '../machine/machine.ts';
import { createCpuState } from '../cpu/state.ts';
import { GDT_TSS_SETUP } from '../machine/long-mode-kit.ts';

type Ev<K extends TraceKind> = Extract<TraceEvent, { kind: K }>;

function build(source: string, mode: 'long64' | 'prot32' = 'long64'): { m: BareMachine; labels: Map<string, number> } {
  const asm = assemble(source);
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return { m: createBareMachine({ mode, load: 0x100000, code: asm.bytes }), labels: asm.labels };
}

function traced(source: string, steps = 100_000, kinds?: TraceKind[]) {
  const { m, labels } = build(source);
  const sink = new ArraySink();
  m.cpu.setTrace(sink, kinds);
  const end = m.cpu.run(steps);
  const of = <K extends TraceKind>(k: K): Ev<K>[] => sink.events.filter((e): e is Ev<K> => e.kind === k);
  const at = (label: string): bigint => BigInt(labels.get(label)!);
  return { m, end, events: sink.events, of, at };
}

/** An IDT gate for `vector` at 0x4000 + 16·vector: a 64-bit interrupt gate to `label`, with DPL `dpl`. */
const gate = (vector: number, label: string, dpl = 0): string => `
  mov eax, ${label}
  mov word [0x4000 + ${vector}*16], ax
  mov word [0x4000 + ${vector}*16 + 2], 0x08
  mov word [0x4000 + ${vector}*16 + 4], ${dpl === 3 ? '0xee00' : '0x8e00'}
  shr eax, 16
  mov word [0x4000 + ${vector}*16 + 6], ax
  mov dword [0x4000 + ${vector}*16 + 8], 0
`;

/**
 * GDT at 0x500 (0x08 ring-0 code64, 0x10 ring-0 data, 0x18 ring-3 code64, 0x20 ring-3 data,
 * 0x28 a TSS at 0xc00 with RSP0 = 0x90000) and an IDT of 256 gates at 0x4000.
 */
const SETUP = (gates: string): string => `bits 64
org 0x100000
${GDT_TSS_SETUP}
${gates}
  lidt [idtr]
`;

/** Makes the identity map user-accessible and reloads CR3. */
const USER_PAGES = `
  or dword [0x1000], 4
  or dword [0x2000], 4
  or dword [0x3000], 4
  mov rax, cr3
  mov cr3, rax
`;

/** USER_PAGES, then IRETQ to `user` at CPL 3. */
const TO_USER = `${USER_PAGES}
  push 0x23
  push 0x8f000
  push 0x202
  push 0x1b
  push user
  iretq
`;

const DATA = `
align 8
gdtr: dw 55
  dq 0x500
align 8
idtr: dw 0xfff
  dq 0x4000
`;

const ringChanges = (events: TraceEvent[]) =>
  events.filter((e): e is Ev<'ring/change'> => e.kind === 'ring/change').map(({ from, to, cause, vector }) => ({ from, to, cause, vector }));

describe('ring/change', () => {
  const INT80 = `${SETUP(gate(0x80, 'sys', 3))}${TO_USER}
user:
  mov eax, 1
call80:
  int 0x80
  mov eax, 99
  int 0x80
sys:
  cmp eax, 99
  je .stop
  add eax, 1
  iretq
.stop:
  hlt
${DATA}`;

  it('INT 0x80 from ring 3 gives 3→0 (software-interrupt, vector 0x80), and IRETQ gives 0→3', () => {
    const t = traced(INT80);
    expect(t.end).toBe('hlt');
    expect(ringChanges(t.events)).toEqual([
      { from: 0, to: 3, cause: 'iret', vector: undefined },
      { from: 3, to: 0, cause: 'software-interrupt', vector: 0x80 },
      { from: 0, to: 3, cause: 'iret', vector: undefined },
      { from: 3, to: 0, cause: 'software-interrupt', vector: 0x80 },
    ]);
    const [, enter] = t.of('ring/change');
    expect(enter!.rip).toBe(t.at('sys'));
    // The INT instruction, then its delivery, then the ring change, all at the INT's step.
    const i = t.events.findIndex((e) => e.kind === 'cpu/insn' && e.rip === t.at('call80'));
    const insn = t.events[i] as Ev<'cpu/insn'>;
    expect(insn.cpl).toBe(3);
    expect(insn.length).toBe(2);
    const after = t.events.slice(i + 1).filter((e) => e.kind === 'cpu/interrupt' || e.kind === 'ring/change').slice(0, 2);
    expect(after).toEqual([
      { kind: 'cpu/interrupt', step: insn.step, vector: 0x80, source: 'software', rip: t.at('call80') },
      { kind: 'ring/change', step: insn.step, from: 3, to: 0, cause: 'software-interrupt', vector: 0x80, rip: t.at('sys') },
    ]);
  });

  it('SYSCALL and SYSRET give syscall 3→0 and sysret 0→3', () => {
    const src = `${SETUP('')}
  mov ecx, 0xc0000080
  rdmsr
  or eax, 1
  wrmsr
  mov ecx, 0xc0000081
  xor eax, eax
  mov edx, 0x00080008
  wrmsr
  mov ecx, 0xc0000082
  mov eax, entry
  xor edx, edx
  wrmsr
  mov ecx, 0xc0000084
  xor eax, eax
  wrmsr
  xor r12d, r12d
${TO_USER}
user:
  syscall
back:
  syscall
entry:
  inc r12
  cmp r12, 2
  jae .stop
  sysretq
.stop:
  hlt
${DATA}`;
    const t = traced(src);
    expect(t.end).toBe('hlt');
    expect(ringChanges(t.events)).toEqual([
      { from: 0, to: 3, cause: 'iret', vector: undefined },
      { from: 3, to: 0, cause: 'syscall', vector: undefined },
      { from: 0, to: 3, cause: 'sysret', vector: undefined },
      { from: 3, to: 0, cause: 'syscall', vector: undefined },
    ]);
    const rc = t.of('ring/change');
    expect(rc[1]!.rip).toBe(t.at('entry'));
    expect(rc[2]!.rip).toBe(t.at('back'));
  });

  it('RETF to ring 3 gives far-ret 0→3; SYSENTER and SYSEXIT give sysenter 3→0 and sysexit 0→3', () => {
    const src = `${SETUP('')}
  xor edx, edx
  mov ecx, 0x174
  mov eax, 0x08
  wrmsr
  mov ecx, 0x175
  mov eax, 0x90000
  wrmsr
  mov ecx, 0x176
  mov eax, entry
  wrmsr
  xor r12d, r12d
${USER_PAGES}
  push 0x23
  push 0x8f000
  push 0x1b
  push user
  retfq
user:
  sysenter
back:
  sysenter
entry:
  inc r12
  cmp r12, 2
  jae .stop
  mov rdx, back
  mov rcx, 0x8f000
  sysexitq
.stop:
  hlt
${DATA}`;
    const t = traced(src);
    expect(t.end).toBe('hlt');
    expect(ringChanges(t.events)).toEqual([
      { from: 0, to: 3, cause: 'far-ret', vector: undefined },
      { from: 3, to: 0, cause: 'sysenter', vector: undefined },
      { from: 0, to: 3, cause: 'sysexit', vector: undefined },
      { from: 3, to: 0, cause: 'sysenter', vector: undefined },
    ]);
    const rc = t.of('ring/change');
    expect(rc.map((e) => e.rip)).toEqual([t.at('user'), t.at('entry'), t.at('back'), t.at('entry')]);
  });

  it('a timer interrupt in ring 3 gives cpu/interrupt external and ring/change 3→0 (interrupt, its vector)', () => {
    const src = `${SETUP(gate(0x20, 'tick'))}${TO_USER}
user:
  inc rax
  jmp user
tick:
  hlt
${DATA}`;
    const { m } = build(src);
    timerProgram(m.cpu.state.timer, 0x20, 300);
    const sink = new ArraySink();
    m.cpu.setTrace(sink);
    expect(m.cpu.run(10_000)).toBe('hlt');
    const ints = sink.events.filter((e): e is Ev<'cpu/interrupt'> => e.kind === 'cpu/interrupt');
    expect(ints).toHaveLength(1);
    expect(ints[0]).toMatchObject({ vector: 0x20, source: 'external' });
    // Delivered at an instruction boundary of the ring-3 loop, after 300 steps.
    expect(ints[0]!.step).toBe(300);
    expect(ringChanges(sink.events).at(-1)).toEqual({ from: 3, to: 0, cause: 'interrupt', vector: 0x20 });
    const halts = sink.events.filter((e) => e.kind === 'cpu/halt');
    expect(halts).toHaveLength(1);
  });
});

describe('cpu/exception', () => {
  it('a write to an unmapped page gives #PF with error code 2 (W/R), CR2, the faulting RIP, and the faulting walk', () => {
    const src = `${SETUP(gate(14, 'pf'))}
bad:
  mov dword [0x40000000], 1
pf:
  hlt
${DATA}`;
    const t = traced(src);
    expect(t.end).toBe('hlt');
    const [pf] = t.of('cpu/exception');
    expect(pf).toEqual({ kind: 'cpu/exception', step: pf!.step, vector: 14, errorCode: 2, rip: t.at('bad'), cr2: 0x40000000n });
    // The #PF is at the step of the instruction that did not retire.
    const insn = t.of('cpu/insn').find((e) => e.rip === t.at('bad'))!;
    expect(pf!.step).toBe(insn.step);
    const walk = t.of('mmu/walk').find((w) => w.linear === 0x40000000n)!;
    expect(walk.access).toBe('write');
    expect(walk.steps.map((s) => [s.level, s.entryPa, s.index])).toEqual([
      ['PML4E', 0x1000n, 0],
      ['PDPTE', 0x2008n, 1],
    ]);
    expect(walk.fault).toEqual({ errorCode: 2, level: 'PDPTE' });
    expect(walk.pa).toBeUndefined();
  });

  it('an exception with no usable IDT escalates to a triple fault', () => {
    const t = traced('bits 64\norg 0x100000\nud2\n');
    expect(t.end).toBe('shutdown');
    const exc = t.of('cpu/exception');
    expect(exc[0]).toMatchObject({ vector: 6, errorCode: -1, rip: 0x100000n });
    expect(exc.at(-1)!.vector).toBe(8);
    expect(t.events.at(-1)).toEqual({ kind: 'cpu/triple-fault', step: 0, rip: 0x100000n });
  });
});

describe('TLB and page walks', () => {
  it('a miss gives tlb/lookup miss → mmu/walk (PML4E, PDPTE, PDE) → tlb/fill; the next access to the page hits', () => {
    const t = traced(`bits 64
org 0x100000
  mov rax, [0x200010]
  mov rbx, [0x200018]
  hlt
`);
    expect(t.end).toBe('hlt');
    const page = t.events.filter(
      (e) => (e.kind === 'tlb/lookup' || e.kind === 'mmu/walk' || e.kind === 'tlb/fill') && e.linear >= 0x200000n && e.linear < 0x201000n,
    );
    expect(page.map((e) => e.kind)).toEqual(['tlb/lookup', 'mmu/walk', 'tlb/fill', 'tlb/lookup']);
    expect(page[0]).toMatchObject({ linear: 0x200010n, access: 'read', user: false, hit: false, pcid: 0 });
    // The lookups say what each access was: the first instruction's own fetch at RIP is one too.
    expect(t.events.find((e) => e.kind === 'tlb/lookup')).toMatchObject({ linear: 0x100000n, access: 'fetch', user: false });
    const walk = page[1] as Ev<'mmu/walk'>;
    expect(walk).toMatchObject({ access: 'read', user: false, mode: '4level', pa: 0x200010n, pageSize: 0x200000 });
    expect(walk.steps).toEqual([
      // The code fetch's walk already set A (bit 5) in the upper entries; the walk records each entry as read.
      { level: 'PML4E', entryPa: 0x1000n, entry: 0x2023n, index: 0, leaf: false },
      { level: 'PDPTE', entryPa: 0x2000n, entry: 0x3023n, index: 0, leaf: false },
      { level: 'PDE', entryPa: 0x3008n, entry: 0x200083n, index: 1, leaf: true },
    ]);
    expect(page[2]).toMatchObject({ linear: 0x200000n, pa: 0x200000n, pageSize: 0x200000, global: false });
    expect(page[3]).toMatchObject({ linear: 0x200018n, hit: true });
    // Both accesses are stamped with their own instruction's step.
    expect((page[0] as Ev<'tlb/lookup'>).step).toBe(0);
    expect((page[3] as Ev<'tlb/lookup'>).step).toBe(1);
  });

  it('MOV to CR3 gives tlb/flush mov-cr3 of the non-global entries; INVLPG flushes one page', () => {
    const t = traced(`bits 64
org 0x100000
  mov rax, cr3
  mov cr3, rax
  mov rbx, 0x200000
  invlpg [rbx]
  hlt
`);
    expect(t.of('tlb/flush')).toEqual([
      { kind: 'tlb/flush', step: 1, cause: 'mov-cr3', scope: 'non-global' },
      { kind: 'tlb/flush', step: 3, cause: 'invlpg', scope: 'page', pcid: 0, linear: 0x200000n },
    ]);
  });

  it('with tracing on the CPU’s fast translation cache is bypassed: every data access is a TLB lookup', () => {
    const t = traced(`bits 64
org 0x100000
  mov ecx, 10
l:
  add eax, [0x200000]
  dec ecx
  jnz l
  hlt
`);
    const lookups = t.of('tlb/lookup').filter((e) => e.linear === 0x200000n);
    expect(lookups).toHaveLength(10);
    expect(lookups.filter((e) => e.hit)).toHaveLength(9);
    expect(t.m.cpu.fastTlb).toBe(false);
    t.m.cpu.setTrace(null);
    expect(t.m.cpu.fastTlb).toBe(true);
  });
});

describe('I/O', () => {
  it('OUT and IN give io/port with direction, port, size and value', () => {
    const t = traced(`bits 64
org 0x100000
  mov dx, 0x3f8
  mov al, 0x41
  out dx, al
  in ax, dx
  hlt
`);
    expect(t.of('io/port')).toEqual([
      { kind: 'io/port', step: 2, dir: 'out', port: 0x3f8, size: 1, value: 0x41 },
      { kind: 'io/port', step: 3, dir: 'in', port: 0x3f8, size: 2, value: 0xffff },
    ]);
  });

  it('accesses above RAM give io/mmio', () => {
    const t = traced(`bits 64
org 0x100000
  mov dword [0x10000000], 0x12345678
  mov rax, [0x10000008]
  hlt
`);
    expect(t.of('io/mmio')).toEqual([
      { kind: 'io/mmio', step: 0, dir: 'write', pa: 0x10000000n, size: 4, value: 0x12345678n },
      { kind: 'io/mmio', step: 1, dir: 'read', pa: 0x10000008n, size: 8, value: 0xffffffffffffffffn },
    ]);
  });
});

describe('Machine.setTrace', () => {
  it('forwards to the CPU and the MMU: a real-mode OUT to the UART gives io/port', () => {
    const m = new Machine({ state: createCpuState('intel'), ramSize: 1 << 20 });
    // Real mode at 0:0 (the lab assembler has no 16-bit mode): mov dx, 0x3f8; mov al, 0x41; out dx, al; hlt
    m.mem.load(0, new Uint8Array([0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xf4]));
    const sink = new ArraySink();
    m.setTrace(sink, ['io/port', 'tlb/lookup']);
    expect(m.cpu.trace).toBe(sink);
    expect(m.mmu.trace).toBe(sink);
    expect(m.run(100)).toBe('hlt');
    expect(sink.events).toEqual([{ kind: 'io/port', step: 2, dir: 'out', port: 0x3f8, size: 1, value: 0x41 }]);
    expect(m.devices.uartOut).toBe('A');
    m.setTrace(null);
    expect([m.trace, m.cpu.trace, m.mmu.trace]).toEqual([null, null, null]);
  });
});

describe('tracing on and off', () => {
  const SRC = `bits 64
org 0x100000
  mov ecx, 1000
l:
  add rax, rcx
  mov [0x200000 + rcx*8], rax
  imul rbx, rax, 3
  dec ecx
  jnz l
  rdtsc
  hlt
`;

  it('tracing off emits nothing; a sink removed with setTrace(null) receives nothing', () => {
    const { m } = build(SRC);
    const sink = new ArraySink();
    m.cpu.setTrace(sink);
    m.cpu.setTrace(null);
    expect(m.cpu.run(100_000)).toBe('hlt');
    expect(sink.events).toEqual([]);
    expect(m.cpu.mmu.trace).toBeNull();
  });

  it('tracing changes no result: the same registers, steps and TSC with and without a sink', () => {
    const plain = build(SRC).m;
    const endA = plain.cpu.run(100_000);
    const withTrace = build(SRC).m;
    const sink = new CountingSink();
    withTrace.cpu.setTrace(sink);
    const endB = withTrace.cpu.run(100_000);
    expect(sink.count).toBeGreaterThan(5000);
    expect(bareResult(withTrace, endB)).toEqual(bareResult(plain, endA));
    expect(withTrace.cpu.state.tsc).toBe(plain.cpu.state.tsc);
  });

  it('a kinds filter delivers only those kinds, and leaves the fast translation cache on when no TLB kind is asked', () => {
    const t = traced(SRC, 100_000, ['cpu/insn', 'cpu/halt']);
    expect(new Set(t.events.map((e) => e.kind))).toEqual(new Set(['cpu/insn', 'cpu/halt']));
    expect(t.of('cpu/insn')).toHaveLength(t.m.cpu.state.steps);
    expect(t.m.cpu.fastTlb).toBe(true);
  });

  it('each cpu/insn carries its step, RIP and length; steps count up by one', () => {
    const t = traced(SRC);
    const insns = t.of('cpu/insn');
    expect(insns.map((e) => e.step)).toEqual(insns.map((_, i) => i));
    expect(insns.slice(0, 3).map((e) => [e.rip, e.length, e.cpl])).toEqual([
      [0x100000n, 5, 0],
      [0x100005n, 3, 0],
      [0x100008n, 8, 0],
    ]);
  });
});

describe('determinism (property)', () => {
  it('the same generated program gives the same trace twice, and the same result as untraced', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('prot32' as const, 'long64' as const), (seed, mode) => {
        const p = generateProgram(seed, mode);
        const asm = assemble(p.source);
        if (!asm.ok) throw new Error(`seed ${seed}: ${asm.errors[0]?.message}`);
        const once = (sink: ArraySink | null) => {
          const m = createBareMachine({ mode, load: 0x100000, code: asm.bytes });
          if (sink !== null) m.cpu.setTrace(sink);
          const end = m.cpu.run(100_000);
          return bareResult(m, end);
        };
        const a = new ArraySink();
        const b = new ArraySink();
        const ra = once(a);
        const rb = once(b);
        const plain = once(null);
        expect(a.events.length).toBeGreaterThan(0);
        expect(b.events.map(traceToJson)).toEqual(a.events.map(traceToJson));
        expect(ra).toEqual(rb);
        expect(ra).toEqual(plain);
      }),
      { numRuns: 40 },
    );
  });
});

describe('exceptions from ring 3', () => {
  it('a #PF in ring 3 gives cpu/exception (U/S in the error code, the faulting RIP) then ring/change 3→0 (exception, 14), at the faulting step', () => {
    const t = traced(`${SETUP(gate(14, 'pf'))}${TO_USER}
user:
  nop
bad:
  mov rax, [0x40000000]
pf:
  hlt
${DATA}`);
    expect(t.end).toBe('hlt');
    const insn = t.of('cpu/insn').find((e) => e.rip === t.at('bad'))!;
    expect(insn.cpl).toBe(3);
    const tail = t.events.filter((e) => e.step === insn.step && (e.kind === 'cpu/exception' || e.kind === 'ring/change'));
    expect(tail).toEqual([
      { kind: 'cpu/exception', step: insn.step, vector: 14, errorCode: 4, rip: t.at('bad'), cr2: 0x40000000n },
      { kind: 'ring/change', step: insn.step, from: 3, to: 0, cause: 'exception', vector: 14, rip: t.at('pf') },
    ]);
  });

  it('a #PF whose gate is not present escalates: #PF, then #DF (error code 0; the #NP of the gate is not delivered, Table 6-5), then one ring/change 3→0 for #DF', () => {
    const t = traced(`${SETUP(gate(8, 'df'))}${TO_USER}
user:
bad:
  mov rax, [0x40000000]
df:
  hlt
${DATA}`);
    expect(t.end).toBe('hlt');
    const exc = t.of('cpu/exception').map(({ vector, errorCode, rip, step }) => ({ vector, errorCode, rip, step }));
    const step = exc[0]!.step;
    expect(exc).toEqual([
      { vector: 14, errorCode: 4, rip: t.at('bad'), step },
      { vector: 8, errorCode: 0, rip: t.at('bad'), step },
    ]);
    expect(t.of('ring/change').filter((e) => e.step === step)).toEqual([
      { kind: 'ring/change', step, from: 3, to: 0, cause: 'exception', vector: 8, rip: t.at('df') },
    ]);
    expect(t.of('cpu/triple-fault')).toEqual([]);
  });
});

describe('mmu/walk in the 32-bit and PAE paging modes', () => {
  const run32 = (pae: boolean) => {
    const src = `bits 32
org 0x100000
  mov edi, 0x10000
  mov ecx, 0x4000
  xor eax, eax
  rep stosd
${pae ? `  mov dword [0x12000], 0x13001
  mov dword [0x13000], 0x14003
  mov ecx, 512
  mov edi, 0x14000
  mov eax, 3
fill:
  mov [edi], eax
  mov dword [edi + 4], 0
  add eax, 0x1000
  add edi, 8
  dec ecx
  jnz fill
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, 0x12000` : `  mov dword [0x10000], 0x11003
  mov ecx, 1024
  mov edi, 0x11000
  mov eax, 3
fill:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  dec ecx
  jnz fill
  mov eax, 0x10000`}
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov eax, [0x2345]
  hlt
`;
    const asm = assemble(src);
    if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
    const m = createBareMachine({ mode: 'prot32', load: 0x100000, code: asm.bytes });
    const sink = new ArraySink();
    m.cpu.setTrace(sink, ['mmu/walk']);
    expect(m.cpu.run(100_000)).toBe('hlt');
    return sink.events.filter((e): e is Ev<'mmu/walk'> => e.kind === 'mmu/walk' && e.linear === 0x2345n);
  };

  // The PDE already has A (0x20) from the code fetches' walks; the PTE of page 2 is read for the first time.
  it('32-bit paging: PDE at CR3 + 4·index, then PTE at the table + 4·index (SDM 4.3)', () => {
    const [w] = run32(false);
    expect(w).toMatchObject({ access: 'read', user: false, mode: '32bit', pa: 0x2345n, pageSize: 4096 });
    expect(w!.steps).toEqual([
      { level: 'PDE', entryPa: 0x10000n, entry: 0x11023n, index: 0, leaf: false },
      { level: 'PTE', entryPa: 0x11008n, entry: 0x2003n, index: 2, leaf: true },
    ]);
  });

  it('PAE paging: the PDPTE register (entryPa −1), then PDE and PTE at the table + 8·index (SDM 4.4)', () => {
    const [w] = run32(true);
    expect(w).toMatchObject({ access: 'read', mode: 'pae', pa: 0x2345n, pageSize: 4096 });
    expect(w!.steps).toEqual([
      { level: 'PDPTE', entryPa: -1n, entry: 0x13001n, index: 0, leaf: false },
      { level: 'PDE', entryPa: 0x13000n, entry: 0x14023n, index: 0, leaf: false },
      { level: 'PTE', entryPa: 0x14010n, entry: 0x2003n, index: 2, leaf: true },
    ]);
  });
});
