import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../emu/trace/events.ts';
import syscalls from '../../emu/scenario/examples/syscalls.json' with { type: 'json' };
import timer from '../../emu/scenario/examples/timer.json' with { type: 'json' };
import pageFault from '../../emu/scenario/examples/page-fault.json' with { type: 'json' };
import { InThreadClient } from '../../worker/in-thread.ts';
import type { Json, ViewState } from '../../worker/protocol.ts';
import { ShellMemo } from './memo.ts';
import { describePfError, fill, narrate, segmentsText } from './narrate.ts';

const texts: Record<string, string> = { '4000002a': 'syscall', '100061': 'out dx, al', '40000005': 'mov dword [edi], 0x2a' };
const insnText = (rip: bigint): string | null => texts[rip.toString(16)] ?? null;
const say = (step: number, events: TraceEvent[], locale: 'en' | 'zh-CN' = 'en'): string => segmentsText(narrate(locale, { step, events, insnText }));

describe('narrate', () => {
  it('says nothing has run at step 0', () => {
    expect(say(0, [])).toBe('At the start: nothing has run yet.');
    expect(say(0, [], 'zh-CN')).toBe('初始状态：尚未执行任何指令。');
  });

  it('names the instruction and the ring change of a SYSCALL', () => {
    const ev: TraceEvent[] = [
      { kind: 'cpu/insn', step: 163, rip: 0x4000002an, length: 2, cpl: 3 },
      { kind: 'ring/change', step: 163, from: 3, to: 0, cause: 'syscall', rip: 0x10001cn },
    ];
    expect(say(164, ev)).toBe('Executed syscall: ring 3 → ring 0 (SYSCALL).');
    expect(say(164, ev, 'zh-CN')).toBe('执行了 syscall：特权级 3 → 0（SYSCALL）。');
    const segs = narrate('en', { step: 164, events: ev, insnText });
    expect(segs.find((s) => s.code)?.text).toBe('syscall');
  });

  it('decodes a page fault: address, error code and what the access was', () => {
    const ev: TraceEvent[] = [
      { kind: 'cpu/insn', step: 1, rip: 0x40000005n, length: 6, cpl: 3 },
      { kind: 'cpu/exception', step: 1, vector: 14, errorCode: 6, rip: 0x40000005n, cr2: 0x40080000n },
      { kind: 'ring/change', step: 1, from: 3, to: 0, cause: 'exception', vector: 14, rip: 0x100000n },
      { kind: 'cpu/insn', step: 1, rip: 0x100000n, length: 1, cpl: 0 },
    ];
    expect(say(2, ev)).toBe('Page fault (#PF) at 0x40080000, error code 6: user write to a non-present page; ring 3 → ring 0.');
    expect(say(2, ev, 'zh-CN')).toBe('访问 0x40080000 时发生缺页异常（#PF），错误码 6：用户态写入不存在的页；特权级 3 → 0。');
  });

  it('decodes each bit of the #PF error code it uses', () => {
    expect(describePfError('en', 0)).toBe('supervisor read to a non-present page');
    expect(describePfError('en', 1 | 2)).toBe('supervisor write that violates the page’s protection');
    expect(describePfError('en', 4 | 16 | 1)).toBe('user instruction fetch that violates the page’s protection');
    expect(describePfError('en', 8 | 1)).toContain('reserved bit');
  });

  it('narrates only the events of the step that led here', () => {
    const ev: TraceEvent[] = [
      { kind: 'cpu/insn', step: 163, rip: 0x4000002an, length: 2, cpl: 3 },
      { kind: 'ring/change', step: 163, from: 3, to: 0, cause: 'syscall', rip: 0x10001cn },
      { kind: 'cpu/insn', step: 164, rip: 0x100061n, length: 1, cpl: 0 },
    ];
    expect(say(165, ev)).toBe('Executed out dx, al.');
  });

  it('shows a UART byte as a character and falls back to the address when the text is unknown', () => {
    const ev: TraceEvent[] = [
      { kind: 'cpu/insn', step: 18, rip: 0x100061n, length: 1, cpl: 0 },
      { kind: 'io/port', step: 18, dir: 'out', port: 0x3f8, size: 1, value: 104 },
    ];
    expect(say(19, ev)).toBe("Executed out dx, al: wrote 0x68 ('h') to port 0x3f8, the UART.");
    expect(say(3, [{ kind: 'cpu/insn', step: 2, rip: 0x1234n, length: 1, cpl: 0 }])).toBe('Executed the instruction at 0x1234.');
  });

  it('names external interrupts, software interrupts, halts and triple faults', () => {
    expect(say(5, [
      { kind: 'cpu/interrupt', step: 4, vector: 32, source: 'external', rip: 0x40000010n },
      { kind: 'ring/change', step: 4, from: 3, to: 0, cause: 'interrupt', vector: 32, rip: 0x100000n },
    ])).toBe('External interrupt, vector 32: ring 3 → ring 0.');
    expect(say(10, [
      { kind: 'cpu/insn', step: 9, rip: 0x4000002an, length: 2, cpl: 3 },
      { kind: 'cpu/interrupt', step: 9, vector: 128, source: 'software', rip: 0x4000002an },
      { kind: 'ring/change', step: 9, from: 3, to: 0, cause: 'software-interrupt', vector: 128, rip: 0x100015n },
    ])).toBe('Executed syscall: ring 3 → ring 0 (INT 0x80).');
    expect(say(2, [{ kind: 'cpu/insn', step: 1, rip: 0x1n, length: 1, cpl: 0 }, { kind: 'cpu/halt', step: 1, rip: 0x1n }]))
      .toBe('Executed the instruction at 0x1: the processor halts until an interrupt arrives.');
    expect(say(2, [{ kind: 'cpu/triple-fault', step: 1, rip: 0x10n }])).toBe('Triple fault at 0x10: the processor shuts down.');
    expect(say(2, [{ kind: 'cpu/exception', step: 1, vector: 13, errorCode: 0x18, rip: 0x10n }]))
      .toBe('General-protection exception (#GP) at 0x10, error code 0x18, delivered in ring 0.');
  });

  it('fills templates, leaving unknown holes visible', () => {
    expect(fill('a {x} b {y}', { x: { text: 'X', code: true } })).toEqual([{ text: 'a ' }, { text: 'X', code: true }, { text: ' b {y}' }]);
  });
});

describe('narration of the real example scenarios', () => {
  async function walk(json: unknown, until: (v: ViewState) => boolean): Promise<{ view: ViewState; memo: ShellMemo }> {
    const c = new InThreadClient();
    const r = await c.load(json as Json);
    if (!r.ok) throw new Error('scenario did not load');
    const memo = new ShellMemo();
    memo.see(r.view);
    let v = r.view;
    for (let i = 0; i < 2000 && !until(v); i++) {
      v = await c.step(1);
      memo.see(v);
    }
    c.dispose();
    return { view: v, memo };
  }

  it('says "syscall" when the syscalls example executes its SYSCALL', async () => {
    const { view, memo } = await walk(syscalls, (v) => v.events.some((e) => e.kind === 'ring/change' && e.cause === 'syscall'));
    const s = segmentsText(narrate('en', { step: view.step, events: view.events, insnText: (r) => memo.insnText(r) }));
    expect(s).toBe('Executed syscall: ring 3 → ring 0 (SYSCALL).');
  });

  it('describes the page-fault example’s #PF from its error code', async () => {
    const { view, memo } = await walk(pageFault, (v) => v.events.some((e) => e.kind === 'cpu/exception'));
    const s = segmentsText(narrate('en', { step: view.step, events: view.events, insnText: (r) => memo.insnText(r) }));
    expect(s).toMatch(/^Page fault \(#PF\) at 0x[0-9a-f]+, error code 6: user write to a non-present page; ring 3 → ring 0\.$/);
  });
});

describe('ShellMemo', () => {
  it('reports registers changed against the step before, however the step was reached', async () => {
    const c = new InThreadClient();
    const r = await c.load(syscalls as Json);
    if (!r.ok) throw new Error('scenario did not load');
    const memo = new ShellMemo();
    memo.see(r.view);
    const views: ViewState[] = [r.view];
    for (let i = 0; i < 6; i++) {
      const v = await c.step(1);
      memo.see(v);
      views.push(v);
    }
    const at5 = views[5];
    if (at5 === undefined) throw new Error('no step 5');
    const firstTime = memo.changed(at5);
    expect(firstTime.length).toBeGreaterThan(0);
    const back = await c.back(1);
    memo.see(back);
    expect(back.step).toBe(5);
    expect(memo.changed(back)).toEqual(firstTime);
    expect(memo.changed(r.view)).toEqual([]);
    c.dispose();
  });
});

describe('ShellMemo at HLT', () => {
  it('keeps the halting step’s events when a further step cannot advance', async () => {
    const c = new InThreadClient();
    const r = await c.load(syscalls as Json);
    if (!r.ok) throw new Error('scenario did not load');
    const memo = new ShellMemo();
    memo.see(r.view);
    let v = r.view;
    while (v.end !== 'hlt' && !v.machine.halted && v.step < 2000) {
      v = await c.step(2);
      memo.see(v);
    }
    const said = segmentsText(narrate('en', { step: v.step, events: memo.lastStepEvents(v), insnText: (x) => memo.insnText(x) }));
    expect(said).toContain('the processor halts');
    const again = await c.step(2);
    memo.see(again);
    expect(again.step).toBe(v.step);
    expect(again.events).toEqual([]);
    expect(segmentsText(narrate('en', { step: again.step, events: memo.lastStepEvents(again), insnText: (x) => memo.insnText(x) }))).toBe(said);
    c.dispose();
  });

  it('says so when no event of the step before is known', () => {
    expect(say(7, [])).toBe('At step 7; no events were recorded for the step before it.');
  });
});

describe('an external interrupt taken as a step ends', () => {
  it('is what the narration says at that step (the screen already shows its handler)', async () => {
    const c = new InThreadClient();
    const r = await c.load(timer as Json);
    if (!r.ok) throw new Error('scenario did not load');
    const memo = new ShellMemo();
    memo.see(r.view);
    // Run to the first timer interrupt, then reach its step again one step at a time.
    const hit = await c.runUntil(['cpu/interrupt'], 10_000);
    if (hit.event?.kind !== 'cpu/interrupt') throw new Error('no interrupt');
    const at = hit.event.step;
    await c.goto(at - 1);
    const v = await c.step(1);
    memo.see(v);
    expect(v.step).toBe(at);
    expect(v.machine.cpl).toBe(0);
    const said = segmentsText(narrate('en', { step: v.step, events: memo.lastStepEvents(v), insnText: (x) => memo.insnText(x) }));
    expect(said).toBe(`External interrupt, vector ${hit.event.vector}: ring 3 → ring 0.`);
    // Reached by goto, the same sentence.
    await c.goto(0);
    const again = await c.goto(at);
    expect(segmentsText(narrate('en', { step: again.step, events: again.events, insnText: (x) => memo.insnText(x) }))).toBe(said);
    c.dispose();
  });
});
