/**
 * Time travel on real programs: generated programs (tests/oracle/gen) assembled by the lab
 * assembler, and a ring-3 program with self-modifying code, port I/O, a page fault the kernel
 * resolves and timer interrupts. Going to a step gives exactly the machine a fresh run to that
 * step gives (registers, every RAM page, the TLB with its counters, devices), and the same trace.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { Priv } from '../cpu/core.ts';
import { timerProgram } from '../cpu/timer.ts';
import { createBareMachine, type BareMode } from '../machine/bare.ts';
import { machineFrom, type Machine } from '../machine/machine.ts';
import { generateProgram } from '../../../tests/oracle/gen/program-gen.ts';
import { snapshotBytes } from './checkpoint.ts';
import { ArraySink, type TraceEvent } from './events.ts';
import { Timeline } from './timeline.ts';
import { GDT_TSS_SETUP, idtGate64 } from '../machine/long-mode-kit.ts';
import { captureMachine } from './capture.ts';

/** A Machine started as the bare `exec` machine (bare.ts) with `source` loaded at 0x100000. */
function machineFor(mode: BareMode, source: string, timer?: { vector: number; period: number }): Machine {
  const asm = assemble(source);
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  const m = machineFrom(createBareMachine({ mode, load: 0x100000, code: asm.bytes }));
  if (timer !== undefined) timerProgram(m.cpu.state.timer, timer.vector, timer.period);
  return m;
}

const capture = captureMachine;

/** The machine a fresh run gives at step k. */
function freshAt(make: () => Machine, k: number) {
  const m = make();
  m.run(k);
  return capture(m);
}

const IDT_ENTRY = idtGate64;

/**
 * Ring 0 sets up a GDT, a TSS, an IDT (#PF and the timer) and user access to the first 2 MiB, then
 * IRETQs to ring 3 with IOPL 3. Ring 3 patches the immediate of its own ADD each iteration (self-modifying
 * code), writes port 0x80, then reads 0x40001000, which is not mapped (PDPTE 1 not present): the
 * #PF handler maps it and returns. Then it spins until the fifth timer interrupt halts the CPU.
 */
const RICH = `bits 64
org 0x100000
${GDT_TSS_SETUP}
${IDT_ENTRY(0x20, 'tick')}
${IDT_ENTRY(14, 'pf')}
  lidt [idtr]
  or dword [0x1000], 4
  or dword [0x2000], 4
  or dword [0x3000], 4
  mov rax, cr3
  mov cr3, rax
  xor r12d, r12d
  push 0x23
  push 0x8f000
  push 0x3202
  push 0x1b
  push user
  iretq
user:
  mov ecx, 200
uloop:
  mov byte [smc+3], cl
smc:
  add r13d, 1
  out 0x80, al
  dec ecx
  jnz uloop
  mov rax, [0x40001000]
  mov [0x7100], rax
uspin:
  inc r14
  jmp uspin
pf:
  mov rbx, cr2
  mov dword [0x2008], 0x3007
  add rsp, 8
  iretq
tick:
  inc r12
  cmp r12, 5
  jb tback
  cli
  hlt
tback:
  iretq
align 8
gdtr: dw 55
  dq 0x500
align 8
idtr: dw 0x20*16+15
  dq 0x800
`;
const makeRich = () => machineFor('long64', RICH, { vector: 0x20, period: 397 });

function runToEnd(m: Machine): number {
  m.run(10_000_000);
  return m.cpu.state.steps;
}

describe('the rich program (ring 3, self-modifying code, port I/O, #PF, timer)', () => {
  it('does what the test relies on', () => {
    const m = makeRich();
    expect(m.run(1_000_000)).toBe('hlt');
    const s = m.cpu.state;
    // r13 += cl (imm8, sign-extended) for cl = 200..1: the patched immediates ran.
    let sum = 0;
    for (let cl = 1; cl <= 200; cl++) sum += cl < 128 ? cl : cl - 256;
    expect(s.regLo[13]).toBe(sum);
    expect(s.regLo[3]).toBe(0x40001000); // rbx = CR2 in the #PF handler
    expect(m.mem.read(0x7100, 4)).toBe(0x2027); // PML4E 0 (0x2003 | US | A), read through the new mapping
    expect(s.regLo[12]).toBe(5);
    expect(m.devices.portLog.filter((p) => p.port === 0x80)).toHaveLength(200);
  });

  const end = runToEnd(makeRich());

  it('goto(k) equals a fresh run to k, for any order of jumps', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: end }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 700 }), (ks, interval) => {
        const tl = new Timeline(makeRich(), { interval });
        tl.step(end);
        for (const k of ks) {
          expect(tl.goto(k)).toBe(k);
          expect(capture(tl.machine)).toEqual(freshAt(makeRich, k));
        }
      }),
      { numRuns: 12 },
    );
  });

  it('back(k) then step(k) gives the identical state', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: end }), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 1, max: 500 }), (at, k, interval) => {
        const tl = new Timeline(makeRich(), { interval });
        tl.step(at);
        const here = capture(tl.machine);
        const back = tl.back(k);
        expect(back).toBe(Math.max(0, at - k));
        tl.step(at - back);
        expect(capture(tl.machine)).toEqual(here);
      }),
      { numRuns: 15 },
    );
  });

  it('back(k) then step(k) with a trace sink gives the identical trace (all kinds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: end - 1 }), fc.integer({ min: 1, max: 1500 }), (at, k) => {
        const tl = new Timeline(makeRich(), { interval: 256 });
        tl.step(at);
        const first = new ArraySink();
        tl.setTrace(first);
        tl.step(k);
        tl.setTrace(null);
        tl.goto(at);
        const second = new ArraySink();
        tl.setTrace(second);
        tl.step(k);
        expect(second.events).toEqual(first.events);
        expect(first.events.length).toBeGreaterThan(0);
      }),
      { numRuns: 10 },
    );
  });

  it('runUntil stops at the page fault, the ring changes, the port writes and the timer interrupts; each stop equals goto', () => {
    const tl = new Timeline(makeRich(), { interval: 300 });
    const pf = tl.runUntil((e: TraceEvent) => e.kind === 'cpu/exception' && e.vector === 14);
    expect(pf.end).toBe('found');
    const ev = pf.event!;
    expect(ev.kind === 'cpu/exception' && ev.errorCode).toBe(0b100); // user read, not present
    expect(ev.kind === 'cpu/exception' && ev.cr2).toBe(0x40001000n);
    // A fault does not retire its instruction: the stop is after the handler's first instruction.
    expect(pf.step).toBe(ev.step + 1);
    expect(tl.machine.cpu.state.regLo[3]).toBe(0x40001000);
    expect(capture(tl.machine)).toEqual(freshAt(makeRich, pf.step));
    // Before the fault: goto(event.step) is the machine about to fault.
    tl.goto(ev.step);
    expect(tl.machine.cpu.cpl()).toBe(3);

    const tl2 = new Timeline(makeRich(), { interval: 1000 });
    const ring = tl2.runUntil('ring/change');
    expect(ring.event).toMatchObject({ kind: 'ring/change', from: 0, to: 3, cause: 'iret' });
    expect(tl2.machine.cpu.cpl()).toBe(3);
    expect(capture(tl2.machine)).toEqual(freshAt(makeRich, ring.step));
    const port = tl2.runUntil('io/port');
    expect(port.event).toMatchObject({ kind: 'io/port', dir: 'out', port: 0x80 });
    expect(tl2.machine.devices.portLog).toHaveLength(1);
    expect(port.step).toBe(port.event!.step + 1);
    const timer = tl2.runUntil(['cpu/interrupt']);
    expect(timer.event).toMatchObject({ kind: 'cpu/interrupt', vector: 0x20, source: 'external' });
    // An interrupt due at a step boundary is delivered at that step: the handler is about to run.
    expect(timer.step).toBe(timer.event!.step);
    expect(tl2.machine.cpu.cpl()).toBe(0);
    expect(capture(tl2.machine)).toEqual(freshAt(makeRich, timer.step));
    const none = tl2.runUntil('cpu/triple-fault');
    expect(none).toMatchObject({ event: null, end: 'hlt' });
    // runUntil with the TLB-path kinds (fast TLB bypassed while tracing) still stops at the untraced machine.
    const tl3 = new Timeline(makeRich(), { interval: 500 });
    tl3.step(700);
    const walk = tl3.runUntil((e: TraceEvent) => e.kind === 'mmu/walk' && e.fault !== undefined);
    expect(walk.event).toMatchObject({ kind: 'mmu/walk', linear: 0x40001000n });
    expect(capture(tl3.machine)).toEqual(freshAt(makeRich, walk.step));
  });

  it('runUntil with a test over named kinds traces only those kinds, checkpoints on the way, and stops where goto would', () => {
    const tl = new Timeline(makeRich(), { interval: 200 });
    const seen = new Set<string>();
    const r = tl.runUntil({ kinds: ['cpu/insn'], test: (e) => (seen.add(e.kind), e.kind === 'cpu/insn' && e.step === 1100) });
    expect(r).toMatchObject({ end: 'found', step: 1101 });
    expect([...seen]).toEqual(['cpu/insn']);
    expect(tl.checkpointSteps()).toEqual([0, 200, 400, 600, 800, 1000, 1200]);
    expect(capture(tl.machine)).toEqual(freshAt(makeRich, r.step));
  });
});

describe('generated programs (tests/oracle/gen), prot32 and long64', () => {
  const arb = fc.record({
    seed: fc.integer({ min: 1, max: 100_000 }),
    mode: fc.constantFrom<BareMode>('prot32', 'long64'),
    interval: fc.integer({ min: 1, max: 40 }),
  });

  it('goto(any step) equals running from the start to that step', () => {
    fc.assert(
      fc.property(arb, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), ({ seed, mode, interval }, picks) => {
        const p = generateProgram(seed, mode);
        const make = () => machineFor(mode, p.source);
        const end = runToEnd(make());
        const tl = new Timeline(make(), { interval });
        tl.step(end);
        for (const pick of picks) {
          const k = pick % (end + 1);
          tl.goto(k);
          expect(capture(tl.machine)).toEqual(freshAt(make, k));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('stepping back k then forward k gives the identical state and trace', () => {
    fc.assert(
      fc.property(arb, fc.nat(), fc.nat(), ({ seed, mode, interval }, a, b) => {
        const p = generateProgram(seed, mode);
        const make = () => machineFor(mode, p.source);
        const end = runToEnd(make());
        const at = a % (end + 1);
        const k = b % (at + 1);
        const tl = new Timeline(make(), { interval });
        tl.step(at - k);
        const sink1 = new ArraySink();
        tl.setTrace(sink1);
        tl.step(k);
        tl.setTrace(null);
        const here = capture(tl.machine);
        tl.back(k);
        const sink2 = new ArraySink();
        tl.setTrace(sink2);
        tl.step(k);
        expect(capture(tl.machine)).toEqual(here);
        expect(sink2.events).toEqual(sink1.events);
      }),
      { numRuns: 30 },
    );
  });
});

/**
 * The timer fires while IF = 0 (pending), STI opens the window after one more instruction, and a
 * chained loop follows; later the handler halts with HLT and the timer wakes it.
 */
const SHADOW = RICH.replace(/  or dword \[0x1000\], 4[\s\S]*?\n(pf:)/, `  cli
  mov ecx, 100
spin1:
  dec ecx
  jnz spin1
  sti
  mov eax, 1
lp:
  inc ebx
  jmp lp
$1`).replace('  cli\n  hlt\ntback:', '  sti\n  hlt\n  cli\n  hlt\ntback:');
const makeShadow = () => machineFor('long64', SHADOW, { vector: 0x20, period: 30 });

describe('Cpu.run stops after exactly n steps, so that splitting a run changes nothing', () => {
  it('the shadow program takes its interrupts where the SDM says (one instruction after STI)', () => {
    const m = makeShadow();
    const tl = new Timeline(m, { interval: 1000 });
    const first = tl.runUntil('cpu/interrupt');
    // The timer fired during the spin (IF = 0): the interrupt comes after the instruction after STI.
    const asm = assemble(SHADOW);
    if (!asm.ok) throw new Error('assembly failed');
    expect(first.event).toMatchObject({ vector: 0x20, rip: BigInt(asm.labels.get('lp')!) });
    expect(m.cpu.state.ripLo).toBe(asm.labels.get('tick'));
    expect(m.cpu.state.regLo[0]).toBe(1);
    expect(m.cpu.state.regLo[3]).toBe(0);
  });

  it('run(a) then run(n − a) equals run(n), also one step at a time, with STI shadows and HLT waiting for the timer', () => {
    const n = 400;
    const whole = makeShadow();
    whole.run(n);
    const want = capture(whole);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 40 }), (chunks) => {
        const m = makeShadow();
        let left = n;
        for (let i = 0; left > 0; i++) {
          const c = Math.min(left, chunks[i % chunks.length]!);
          m.run(c);
          left -= c;
        }
        expect(capture(m)).toEqual(want);
      }),
      { numRuns: 40 },
    );
    const single = makeShadow();
    for (let i = 0; i < n; i++) single.run(1);
    expect(capture(single)).toEqual(want);
    expect(single.cpu.state.timer.fired).toBeGreaterThan(4);
  });
});

describe('checkpoints', () => {
  it('a write after a checkpoint does not change the checkpoint, and unchanged pages are the same objects', () => {
    const tl = new Timeline(makeRich(), { interval: 100 });
    tl.step(1500);
    const cps = tl.checkpoints();
    expect(cps.length).toBe(16);
    const a = cps[14]!;
    const b = cps[15]!;
    const frozen = a.mem.pages.map((p) => Buffer.from(p).toString('hex'));
    tl.step(3000);
    // Writes by the memory interface and by the CPU's fast path, to pages the checkpoints share.
    tl.machine.mem.write(0x7100, 4, 0xdeadbeef);
    tl.machine.cpu.linWrite(0x7108, 0, 8, 0x12345678, 0x9abcdef0, Priv.CURRENT);
    tl.machine.cpu.linWrite(0x100000, 0, 1, 0xcc, 0, Priv.CURRENT);
    expect(tl.machine.mem.read(0x7108, 4)).toBe(0x12345678);
    expect(a.mem.pages.map((p) => Buffer.from(p).toString('hex'))).toEqual(frozen);
    expect(b.mem.pages[b.mem.index.indexOf(7)]![0x100]).toBe(0x27);
    // Between two checkpoints 100 steps apart only the pages written in between differ.
    let same = 0;
    let differ = 0;
    for (let i = 0; i < a.mem.index.length; i++) {
      const j = b.mem.index.indexOf(a.mem.index[i]!);
      if (b.mem.pages[j] === a.mem.pages[i]) same++;
      else differ++;
    }
    expect(same).toBeGreaterThan(0);
    expect(differ).toBeLessThanOrEqual(3); // the code page (patched immediate), the stack, and the page tables at most
    expect(snapshotBytes(a)).toBeLessThan(4096);
  });

  it('restoring a checkpoint then running writes to copies: a second restore gives the same machine', () => {
    const tl = new Timeline(makeRich(), { interval: 1000 });
    tl.step(5000);
    tl.goto(1500);
    const at1500 = capture(tl.machine);
    tl.goto(4000);
    tl.goto(1500);
    expect(capture(tl.machine)).toEqual(at1500);
  });

  it('thinning keeps the first checkpoint and the recent ones, and goto stays exact', () => {
    const tl = new Timeline(makeRich(), { interval: 50, maxCheckpoints: 8 });
    const end = tl.step(100_000) === 'limit' ? 100_000 : tl.current;
    const steps = tl.checkpointSteps();
    expect(steps.length).toBeLessThanOrEqual(8);
    expect(steps[0]).toBe(0);
    expect(steps[steps.length - 1]).toBe(Math.floor(end / 50) * 50);
    for (const k of [1, 333, 1234, end - 1]) {
      tl.goto(k);
      expect(capture(tl.machine)).toEqual(freshAt(makeRich, k));
    }
  });

  it('a machine that stops (HLT with IF = 0) stays where it stopped', () => {
    const tl = new Timeline(makeRich(), { interval: 1000 });
    expect(tl.step(1_000_000)).toBe('hlt');
    const end = tl.current;
    expect(tl.goto(end + 500)).toBe(end);
    expect(tl.goto(10)).toBe(10);
    expect(tl.goto(end + 500)).toBe(end);
  });
});
