/**
 * Exactness of runs, traces and replays in the corners: a TLB set that evicts the code page's entry
 * in the middle of a decoded block, rep string instructions cut at a checkpoint, self-modifying
 * code across a checkpoint, and kinds-filtered traces. Each compares against a single untraced run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine, type BareMode } from '../machine/bare.ts';
import { Machine, machineFrom } from '../machine/machine.ts';
import { createCpuState } from '../cpu/state.ts';
import { ArraySink, TRACE_KINDS, type TraceKind } from './events.ts';
import { Timeline } from './timeline.ts';
import { idtGate64 } from '../machine/long-mode-kit.ts';
import { captureMachine } from './capture.ts';

function machineFor(mode: BareMode, source: string): Machine {
  const asm = assemble(source);
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return machineFrom(createBareMachine({ mode, load: 0x100000, code: asm.bytes }));
}

const capture = captureMachine;

/**
 * The default TLB has 64 sets of 4 ways: pages 0x100 (the code), 0x140, 0x180, 0x1c0, 0x200 and
 * 0x240 share set 0, so the fourth load of the block evicts the code page's entry (FIFO) while
 * the block's remaining instructions still run.
 */
const CONFLICT = `bits 64
org 0x100000
lp:
  mov rax, [0x140000]
  mov rax, [0x180000]
  mov rax, [0x1c0000]
  mov rax, [0x200000]
  mov rax, [0x240000]
  add rbx, 1
  mov rax, [0x280000]
  add rbx, 1
  jmp lp
`;

const makeConflict = () => machineFor('long64', CONFLICT);

describe('a data access that evicts the code page’s TLB entry in the middle of a block', () => {
  const n = 200;
  it('run(a) then run(n − a) equals run(n)', () => {
    const whole = makeConflict();
    whole.run(n);
    const want = capture(whole);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: n - 1 }), (a) => {
        const m = makeConflict();
        m.run(a);
        m.run(n - a);
        expect(capture(m)).toEqual(want);
      }),
      { numRuns: 25 },
    );
  });

  it('a trace of the TLB kinds leaves the TLB contents, misses and walks as an untraced run', () => {
    const whole = makeConflict();
    whole.run(n);
    const want = capture(whole);
    for (const kinds of [['tlb/lookup'], ['mmu/walk'], ['tlb/fill'], undefined] as (TraceKind[] | undefined)[]) {
      const m = makeConflict();
      m.setTrace(new ArraySink(), kinds);
      m.run(n);
      m.setTrace(null);
      expect(capture(m)).toEqual(want);
    }
  });

  it('goto(k) equals a fresh run to k', () => {
    const tl = new Timeline(makeConflict(), { interval: 7 });
    tl.step(n);
    for (const k of [5, 6, 13, 50, 199, 3, 120]) {
      tl.goto(k);
      const fresh = makeConflict();
      fresh.run(k);
      expect(capture(tl.machine)).toEqual(capture(fresh));
    }
  });
});

const IDT_ENTRY = idtGate64;

/**
 * Ring 0 with the timer on (period 5): rep string instructions longer than 4096 elements (so each
 * takes several steps and the timer interrupts them), an overlapping REP MOVSB, a REP STOSQ across
 * a page boundary, a MOV SS shadow, HLT waiting for the timer, and code that patches the
 * immediate of the next instruction of its own block.
 */
const MIXED = `bits 64
org 0x100000
  mov dword [0x500], 0
  mov dword [0x504], 0
  mov dword [0x508], 0xffff
  mov dword [0x50c], 0x00af9a00
  mov dword [0x510], 0xffff
  mov dword [0x514], 0x00cf9200
  lgdt [gdtr]
${IDT_ENTRY(0x20, 'tick')}
  lidt [idtr]
  mov ax, 0x10
  mov ss, ax
  sti
  mov r15d, 4
again:
  mov rdi, 0x300000
  mov ecx, 10000
  mov eax, r15d
  rep stosb
  mov rsi, 0x300000
  mov rdi, 0x300800
  mov ecx, 9000
  rep movsb
  mov rdi, 0x310ff0
  mov ecx, 5000
  mov rax, r15
  rep stosq
  mov byte [smc+3], r15b
smc:
  add r13d, 1
  mov ax, ss
  mov ss, ax
  inc rbx
  hlt
  dec r15d
  jnz again
  cli
  hlt
tick:
  inc r12
  iretq
align 8
gdtr: dw 23
  dq 0x500
align 8
idtr: dw 0x20*16+15
  dq 0x800
`;

function makeMixed(): Machine {
  const m = machineFor('long64', MIXED);
  const t = m.cpu.state.timer;
  t.enabled = true;
  t.vector = 0x20;
  t.period = 5;
  t.count = 5;
  return m;
}

describe('rep strings, MOV SS shadows, HLT and self-modifying code at checkpoint boundaries', () => {
  const end = (() => {
    const m = makeMixed();
    expect(m.run(1_000_000)).toBe('hlt');
    expect(m.cpu.state.regLo[12]).toBeGreaterThan(10);
    expect(m.cpu.state.regLo[13]).toBe(4 + 3 + 2 + 1);
    return m.cpu.state.steps;
  })();
  const freshCache = new Map<number, ReturnType<typeof capture>>();
  const fresh = (k: number) => {
    let c = freshCache.get(k);
    if (c === undefined) {
      const m = makeMixed();
      m.run(k);
      c = capture(m);
      freshCache.set(k, c);
    }
    return c;
  };

  it('goto(k) equals a fresh run to k, for any checkpoint interval', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 11 }), fc.array(fc.integer({ min: 0, max: end }), { minLength: 1, maxLength: 6 }), (interval, ks) => {
        const tl = new Timeline(makeMixed(), { interval });
        tl.step(end);
        for (const k of ks) {
          tl.goto(k);
          expect(capture(tl.machine)).toEqual(fresh(k));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a trace of any subset of kinds changes nothing, and back(k) then step(k) gives the same trace', () => {
    fc.assert(
      fc.property(
        fc.subarray([...TRACE_KINDS], { minLength: 1 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: end - 1 }),
        fc.integer({ min: 1, max: 40 }),
        (kinds, interval, at, k) => {
          const tl = new Timeline(makeMixed(), { interval });
          const sink1 = new ArraySink();
          tl.setTrace(sink1, kinds);
          tl.step(at);
          expect(capture(tl.machine)).toEqual(fresh(at));
          const from = tl.back(k);
          const sink2 = new ArraySink();
          tl.setTrace(sink2, kinds);
          tl.step(at - tl.current);
          expect(capture(tl.machine)).toEqual(fresh(at));
          // The replay from step `from` gives the same events as the first run from the same place on;
          // what the first run had before is earlier, or at `from` itself (a delivery due there, which
          // the machine at step `from` has already made).
          const tail = sink1.events.slice(sink1.events.length - sink2.events.length);
          expect(sink2.events).toEqual(tail);
          for (const e of sink1.events.slice(0, sink1.events.length - sink2.events.length)) expect(e.step).toBeLessThanOrEqual(from);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('cpu/exception in real-address mode', () => {
  it('a #GP in real mode pushes no error code (SDM Vol. 3A, 20.1.4), and the event says none (-1)', () => {
    const m = new Machine({ state: createCpuState('intel'), ramSize: 1 << 20 });
    // IVT[13] = 0000:0600 (HLT). At 0:0500: mov eax, 0x80000000; mov cr4, eax (bit 31 is reserved: #GP(0)).
    m.mem.load(13 * 4, new Uint8Array([0x00, 0x06, 0x00, 0x00]));
    m.mem.load(0x500, new Uint8Array([0x66, 0xb8, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xe0]));
    m.mem.load(0x600, new Uint8Array([0xf4]));
    const s = m.cpu.state;
    s.seg[1]!.selector = 0;
    s.seg[1]!.baseLo = 0;
    s.ripLo = 0x500;
    s.regLo[4] = 0x7000;
    m.cpu.modeChanged();
    const sink = new ArraySink();
    m.setTrace(sink, ['cpu/exception']);
    expect(m.run(10)).toBe('hlt');
    expect(s.regLo[4]).toBe(0x7000 - 6);
    expect(m.mem.read(0x7000 - 6, 2)).toBe(0x506);
    expect(sink.events).toEqual([{ kind: 'cpu/exception', step: 1, vector: 13, errorCode: -1, rip: 0x506n }]);
  });
});

describe('copy-on-write and the page walker', () => {
  it('A flags a walk sets in a page shared with a checkpoint go to a copy; the checkpoint keeps the old entries', () => {
    const m = makeConflict();
    m.run(1);
    const snap = m.snapshot();
    const pd = snap.mem.index.indexOf(3);
    expect(pd).toBeGreaterThanOrEqual(0);
    const before = Buffer.from(snap.mem.pages[pd]!).toString('hex');
    m.run(50);
    // The loads walked PDEs 0, 1, 2 and 0x140000 >> 21 = 0 … 0x280000 >> 21 = 1: PDE 1 got A.
    expect(m.mem.read(0x3008, 4) & 0x20).toBe(0x20);
    expect(Buffer.from(snap.mem.pages[pd]!).toString('hex')).toBe(before);
    expect(snap.mem.pages[pd]![8]! & 0x20).toBe(0);
    m.restore(snap);
    expect(m.mem.read(0x3008, 4) & 0x20).toBe(0);
  });
});
