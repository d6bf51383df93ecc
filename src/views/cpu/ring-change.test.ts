import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../emu/trace/events.ts';
import { describeRingChange, describeRings, lastRingChange, type RingChange } from './ring-change.ts';
import { fill, translator } from './text.ts';

const en = translator('en');
const zh = translator('zh-CN');
const change = (cause: RingChange['cause'], from: number, to: number, vector?: number): RingChange =>
  vector === undefined ? { kind: 'ring/change', step: 5, from, to, cause, rip: 0x1000n } : { kind: 'ring/change', step: 5, from, to, cause, vector, rip: 0x1000n };

describe('ring change descriptions', () => {
  it('finds the last ring/change of a step among other events, or none', () => {
    const first = change('syscall', 3, 0);
    const last = change('iret', 0, 3);
    const events: TraceEvent[] = [
      { kind: 'cpu/insn', step: 5, rip: 0x1000n, length: 2, cpl: 3 },
      first,
      { kind: 'io/port', step: 5, dir: 'out', port: 0x3f8, size: 1, value: 65 },
      last,
      { kind: 'tlb/lookup', step: 5, linear: 0x2000n, access: 'read', user: false, pcid: 0, hit: true },
    ];
    expect(lastRingChange(events)).toBe(last);
    expect(lastRingChange([])).toBeNull();
    expect(lastRingChange([{ kind: 'cpu/halt', step: 1, rip: 0n }])).toBeNull();
  });

  it('names each cause with the rings it moved between', () => {
    expect(describeRingChange(change('syscall', 3, 0), en)).toBe('SYSCALL: ring 3 → ring 0');
    expect(describeRingChange(change('sysret', 0, 3), en)).toBe('SYSRET: ring 0 → ring 3');
    expect(describeRingChange(change('iret', 0, 3), en)).toBe('IRET: ring 0 → ring 3');
    expect(describeRingChange(change('interrupt', 3, 0, 0x20), en)).toBe('interrupt 0x20 (timer): ring 3 → ring 0');
    expect(describeRingChange(change('software-interrupt', 3, 0, 0x80), en)).toBe('software interrupt INT 0x80: ring 3 → ring 0');
    expect(describeRingChange(change('exception', 3, 0, 14), en)).toBe('exception #PF (14, page fault): ring 3 → ring 0');
    expect(describeRingChange(change('exception', 3, 0, 19), en)).toBe('exception #XM (19): ring 3 → ring 0');
    expect(describeRingChange(change('far-call', 3, 1), en)).toBe('far CALL: ring 3 → ring 1');
  });

  it('says it in Chinese too', () => {
    expect(describeRingChange(change('exception', 3, 0, 13), zh)).toBe('异常 #GP（13，一般保护错误）：特权级 3 → 特权级 0');
    expect(describeRingChange(change('interrupt', 3, 0, 0x20), zh)).toBe('中断 0x20（定时器）：特权级 3 → 特权级 0');
  });

  it('gives the current level and the last change as one text alternative', () => {
    expect(describeRings(3, null, en)).toBe('Current privilege level: ring 3 (user). The last step did not change the privilege level.');
    expect(describeRings(0, change('syscall', 3, 0), en)).toBe('Current privilege level: ring 0 (kernel). Last change: SYSCALL: ring 3 → ring 0.');
    expect(describeRings(1, null, en)).toContain('ring 1 (rarely used)');
  });

  it('fills placeholders and leaves unknown ones as written', () => {
    expect(fill('{a} and {b}', { a: 1 })).toBe('1 and {b}');
  });
});
