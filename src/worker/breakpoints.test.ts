/**
 * Breakpoints (worker/breakpoints.ts and LabSession.step with breakpoints), checked against the
 * machine reached one step at a time: a run stops at the first later step whose next instruction
 * starts at a breakpoint, before it runs, and the view there is the one `goto` gives.
 */
import { describe, expect, test } from 'vitest';
import pageFault from '../emu/scenario/examples/page-fault.json' with { type: 'json' };
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import timer from '../emu/scenario/examples/timer.json' with { type: 'json' };
import { buildScenario, loadScenario } from '../emu/scenario/index.ts';
import { ArraySink } from '../emu/trace/events.ts';
import { Timeline } from '../emu/trace/timeline.ts';
import { MAX_BREAKPOINTS, linearRip, parseBreakpoints, runToBreakpoint } from './breakpoints.ts';
import { InThreadClient } from './in-thread.ts';
import type { Json, ViewState } from './protocol.ts';
import { LabSession } from './session.ts';

const EXAMPLES: Record<string, Json> = { syscalls: syscalls as Json, 'page-fault': pageFault as Json, timer: timer as Json };

function timelineOf(scenario: Json, interval = 1000): Timeline {
  const r = loadScenario(scenario);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return new Timeline(buildScenario(r.loaded), { interval });
}

/** Where each step's next instruction starts (null while halted), reached one step at a time. */
function boundaries(scenario: Json, steps: number): (bigint | null)[] {
  const tl = timelineOf(scenario);
  const out: (bigint | null)[] = [];
  for (let s = 0; s <= steps; s++) {
    out.push(tl.machine.cpu.state.halted ? null : linearRip(tl.machine));
    if (tl.step(1) !== 'limit') break;
  }
  return out;
}

const hex = (a: bigint): string => `0x${a.toString(16).padStart(16, '0')}`;

/** The parts of a view that depend only on the step reached. */
/** What a view says of its step: not how far the run has gone (furthest, and the marks found on the way). */
function atStep(v: ViewState): Omit<ViewState, 'changed' | 'end' | 'furthest' | 'marksVersion'> {
  const { changed: _c, end: _e, furthest: _f, marksVersion: _m, ...rest } = v;
  return rest;
}

function loaded(scenario: Json): LabSession {
  const s = new LabSession();
  const r = s.load(scenario);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

describe('runToBreakpoint against the machine reached one step at a time', () => {
  for (const [name, scenario] of Object.entries(EXAMPLES)) {
    test(`${name}: from several starts, each address stops at the first later step that starts there`, () => {
      const ref = boundaries(scenario, 9500);
      const addresses = [...new Set(ref.filter((a): a is bigint => a !== null))];
      expect(addresses.length).toBeGreaterThan(10);
      const tl = timelineOf(scenario);
      let checked = 0;
      // Every 7th address, from step 0 and from the first step that starts at that address.
      for (const a of addresses.filter((_, i) => i % 7 === 0)) {
        for (const from of [0, ref.indexOf(a)]) {
          const budget = ref.length - 1 - from;
          let want: number | null = null;
          for (let s = from + 1; s <= from + budget && want === null; s++) if (ref[s] === a) want = s;
          tl.goto(from);
          const got = runToBreakpoint(tl, new Set([a]), budget);
          expect(got, `${name}: ${hex(a)} from step ${from}`).toBe(want);
          expect(tl.current).toBe(want ?? from);
          if (want !== null) {
            expect(linearRip(tl.machine)).toBe(a);
            // The budget's edge: exactly enough steps stops there; one fewer reaches nothing.
            tl.goto(from);
            expect(runToBreakpoint(tl, new Set([a]), want - from)).toBe(want);
            tl.goto(from);
            expect(runToBreakpoint(tl, new Set([a]), want - from - 1)).toBeNull();
            expect(tl.current).toBe(from);
          }
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(6);
    });
  }

  test('timer: a breakpoint on the handler stops with the interrupt delivered, the handler about to run, as goto gives it', () => {
    const tl = timelineOf(EXAMPLES.timer!);
    const first = tl.runUntil('cpu/interrupt');
    if (first.event?.kind !== 'cpu/interrupt') throw new Error('no timer interrupt');
    const handler = linearRip(tl.machine);
    tl.goto(0);
    const at = runToBreakpoint(tl, new Set([handler]), 20_000);
    expect(at).toBe(first.step);
    expect(tl.machine.cpu.cpl()).toBe(0);
    const again = runToBreakpoint(tl, new Set([handler]), 20_000);
    expect(again).toBeGreaterThan(at!);
  });

  test('page-fault: the faulting store stops before it runs, and again when IRET retries it', () => {
    const tl = timelineOf(EXAMPLES['page-fault']!);
    const pf = tl.runUntil((e) => e.kind === 'cpu/exception' && e.vector === 14);
    if (pf.event?.kind !== 'cpu/exception') throw new Error('no page fault');
    const store = pf.event.rip; // CS base 0: the linear address
    tl.goto(0);
    const before = runToBreakpoint(tl, new Set([store]), 10_000);
    expect(before).toBe(pf.event.step);
    expect(tl.machine.cpu.state.cr2Lo).toBe(0);
    const retry = runToBreakpoint(tl, new Set([store]), 10_000);
    expect(retry).toBeGreaterThan(before!);
    expect(tl.machine.cpu.state.cr2Lo >>> 0).toBe(Number(pf.event.cr2));
    expect(tl.machine.cpu.cpl()).toBe(3);
    // The handler's first instruction runs in the faulting step (a fault does not retire its
    // instruction): no step starts there, so a breakpoint on it stops only where the machine
    // reached one step at a time shows it next, if anywhere.
    tl.goto(pf.event.step);
    const sink = new ArraySink();
    tl.setTrace(sink, ['cpu/insn']);
    tl.step(1);
    tl.setTrace(null);
    const handler = sink.events.filter((e) => e.kind === 'cpu/insn').at(-1)!.rip;
    const ref = boundaries(EXAMPLES['page-fault']!, 10_000);
    const want = ref.indexOf(handler);
    tl.goto(0);
    expect(runToBreakpoint(tl, new Set([handler]), ref.length - 1)).toBe(want === -1 ? null : want);
  });
});

describe('LabSession.step with breakpoints', () => {
  test('stops before the instruction at the breakpoint: the view is the one goto gives, end "breakpoint"', () => {
    const ref = boundaries(EXAMPLES.syscalls!, 200);
    // The first OUT of the INT 0x80 write: the UART is still empty when the run stops before it.
    const s = loaded(EXAMPLES.syscalls!);
    const firstOut = s.runUntil(['io/port'], 1000);
    const outStep = firstOut.event!.step;
    const out = ref[outStep]!;
    const bp = loaded(EXAMPLES.syscalls!);
    const v = bp.step(1000, [hex(out)]);
    expect(v.end).toBe('breakpoint');
    expect(v.step).toBe(outStep);
    // The run looked ahead past the stop; the timeline's length is as if it had stepped there.
    expect(v.furthest).toBe(outStep);
    expect(v.machine.regs.rip).toBe(hex(out));
    expect(v.machine.disasm[0]!.text).toMatch(/^out /);
    expect(v.machine.uart).toBe('');
    const ref2 = loaded(EXAMPLES.syscalls!);
    let oneByOne = ref2.step(1);
    for (let i = 1; i < outStep; i++) oneByOne = ref2.step(1);
    expect(atStep(v)).toEqual(atStep(oneByOne));
    expect(atStep(bp.goto(outStep))).toEqual(atStep(oneByOne));
    // Single steps ignore breakpoints; the next run with the breakpoint stops at the next OUT there.
    const next = bp.step(1000, [hex(out)]);
    expect(next.end).toBe('breakpoint');
    expect(next.machine.uart).toBe('h');
    // A longer timeline stays as long.
    bp.step(100);
    const far = bp.goto(0).furthest;
    expect(bp.step(1000, [hex(out)])).toMatchObject({ step: outStep, furthest: far });
  });

  test('the budget: n steps short of the breakpoint is exactly step(n); n steps onto it stops there', () => {
    const ref = boundaries(EXAMPLES.syscalls!, 300);
    // A step past 10 whose address no earlier step starts at.
    const target = ref.findIndex((a, i) => i > 10 && a !== null && ref.indexOf(a) === i);
    expect(target).toBeGreaterThan(10);
    const a = ref[target]!;
    const short = loaded(EXAMPLES.syscalls!);
    const plain = loaded(EXAMPLES.syscalls!);
    short.step(5);
    plain.step(5);
    const v = short.step(target - 5 - 1, [hex(a)]);
    expect(v.end).toBe('limit');
    expect(v).toEqual(plain.step(target - 5 - 1));
    const exact = loaded(EXAMPLES.syscalls!);
    exact.step(5);
    const onto = exact.step(target - 5, [hex(a)]);
    expect(onto).toMatchObject({ end: 'breakpoint', step: target });
  });

  test('a breakpoint at the current RIP does not stop the first step; the loop brings it back', () => {
    const ref = boundaries(EXAMPLES.timer!, 50);
    // The user loop: add rax, rcx / dec ecx / jnz: the ADD repeats every 3 steps.
    const loopAdd = ref.find((a, i) => a !== null && ref[i + 3] === a && ref[i + 6] === a)!;
    const s = loaded(EXAMPLES.timer!);
    const first = s.step(100, [hex(loopAdd)]);
    expect(first.end).toBe('breakpoint');
    const second = s.step(100, [hex(loopAdd)]);
    expect(second).toMatchObject({ end: 'breakpoint', step: first.step + 3 });
    expect(second.machine.regs.rip).toBe(hex(loopAdd));
    // The step from there ignores it: step(1) with the breakpoint runs the ADD.
    const one = s.step(1, [hex(loopAdd)]);
    expect(one).toMatchObject({ end: 'limit', step: second.step + 1 });
  });

  test('with several breakpoints the run stops at the earliest, then at the next', () => {
    const ref = boundaries(EXAMPLES.syscalls!, 400);
    const picks = [30, 12, 55].map((i) => ref[i]!);
    const order = picks.map((a) => ref.indexOf(a)).sort((x, y) => x - y);
    const s = loaded(EXAMPLES.syscalls!);
    const bps = picks.map(hex);
    const stops = [s.step(400, bps).step, s.step(400, bps).step, s.step(400, bps).step];
    expect(stops).toEqual(order);
  });

  test('64-bit addresses: a kernel running at 0xffff8000_00100000 and up stops at its breakpoints', () => {
    // The kernel aliases its identity map at PML4 index 256 (0xffff800000000000) and jumps there.
    const scenario: Json = {
      version: 1,
      name: 'high half',
      cpu: { vendor: 'intel' },
      mode: 'long64',
      paging: '4level',
      memory: { size: 4 << 20 },
      kernel: {
        source: [
          'kernel_entry:',
          '    mov rax, cr3',
          '    mov rbx, [rax]',
          '    mov [rax + 256 * 8], rbx',
          '    lea rax, [rel high]',
          '    mov rbx, 0xffff800000000000',
          '    add rax, rbx',
          '    jmp rax',
          'high:',
          '    mov ecx, 3',
          '.loop:',
          '    inc rdx',
          '    dec ecx',
          '    jnz .loop',
          '    hlt',
        ].join('\n'),
      },
    };
    const s = loaded(scenario);
    const v0 = s.step(7);
    expect(v0.machine.regs.rip).toMatch(/^0xffff8000001/);
    const high = BigInt(v0.machine.regs.rip);
    const inc = v0.machine.disasm[1]!;
    expect(inc.text).toMatch(/^inc rdx/);
    const s2 = loaded(scenario);
    const stop = s2.step(100, [hex(high), inc.address]);
    expect(stop).toMatchObject({ end: 'breakpoint', step: 7 });
    expect(BigInt(stop.machine.regs.rip)).toBe(high);
    const loops = [s2.step(100, [inc.address]), s2.step(100, [inc.address]), s2.step(100, [inc.address])];
    expect(loops.map((v) => [v.end, v.machine.regs.rip, v.machine.regs.rdx])).toEqual([
      ['breakpoint', inc.address, '0x0000000000000000'],
      ['breakpoint', inc.address, '0x0000000000000001'],
      ['breakpoint', inc.address, '0x0000000000000002'],
    ]);
    expect(s2.step(100, [inc.address]).end).toBe('hlt');
    // The same low address (no alias bit) is never reached.
    const low = loaded(scenario);
    expect(low.step(100, [hex(high & 0xffffffffn)]).end).toBe('hlt');
  });

  test('is deterministic through the protocol, and bad breakpoints are refused with the culprit named', async () => {
    const ref = boundaries(EXAMPLES['page-fault']!, 300);
    const bps = [hex(ref[20]!), hex(ref[90]!)];
    const run = async (): Promise<ViewState[]> => {
      const c = new InThreadClient();
      await c.load(EXAMPLES['page-fault']!);
      return [await c.step(500, bps), await c.step(500, bps), await c.step(3), await c.step(500, bps)];
    };
    const a = await run();
    expect(a).toEqual(await run());
    expect(a[0]!.end).toBe('breakpoint');
    const c = new InThreadClient();
    await c.load(EXAMPLES['page-fault']!);
    await expect(c.step(10, ['0x10', 'main'])).rejects.toThrow(/breakpoints\[1\] must be 0x followed by 1 to 16 hex digits, got "main"/);
    await expect(c.step(10, ['0x' + '1'.repeat(17)])).rejects.toThrow(/breakpoints\[0\]/);
    await expect(c.step(10, Array.from({ length: MAX_BREAKPOINTS + 1 }, (_, i) => `0x${i.toString(16)}`))).rejects.toThrow(/at most 256/);
    // Nothing moved: the session is where it was.
    expect((await c.step(0)).step).toBe(0);
    expect(parseBreakpoints(['0xAbC', '0xabc'])).toEqual(new Set([0xabcn]));
  });

  test('an empty list or a run that reaches none is a plain step; a halted machine ends with hlt', () => {
    const a = loaded(EXAMPLES.syscalls!);
    const b = loaded(EXAMPLES.syscalls!);
    expect(a.step(25, [])).toEqual(b.step(25));
    expect(a.step(10, ['0x1'])).toEqual(b.step(10));
    const end = a.step(100_000, ['0x1']);
    expect(end.end).toBe('hlt');
  });
});
