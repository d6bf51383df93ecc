import { describe, expect, it } from 'vitest';
import { hasBreakpoint, MAX_BREAKPOINTS, normalAddress, removeBreakpoint, toggleBreakpoint, type Breakpoint } from './breakpoints.ts';

const row = (address: string, text = 'nop') => ({ address, text });

describe('the breakpoint list', () => {
  it('normalizes addresses to 0x and 16 lower-case digits, and refuses what is not one', () => {
    expect(normalAddress('0x401000')).toBe('0x0000000000401000');
    expect(normalAddress('0xFFFF800000100000')).toBe('0xffff800000100000');
    for (const bad of ['401000', '0x', '0x12345678123456789', '0xg1', ' 0x1']) expect(normalAddress(bad)).toBeNull();
  });

  it('toggles on and off by address, kept in address order with the instruction text', () => {
    let l: readonly Breakpoint[] = [];
    l = toggleBreakpoint(l, row('0x0000000000401010', 'ret'));
    l = toggleBreakpoint(l, row('0xffff800000100000', 'hlt'));
    l = toggleBreakpoint(l, row('0x401000', 'push rbp'));
    expect(l.map((b) => b.address)).toEqual(['0x0000000000401000', '0x0000000000401010', '0xffff800000100000']);
    expect(l[0]!.text).toBe('push rbp');
    expect(hasBreakpoint(l, '0x401010')).toBe(true);
    l = toggleBreakpoint(l, row('0x401010'));
    expect(hasBreakpoint(l, '0x401010')).toBe(false);
    expect(l).toHaveLength(2);
    l = removeBreakpoint(l, '0xFFFF800000100000');
    expect(l.map((b) => b.address)).toEqual(['0x0000000000401000']);
    expect(removeBreakpoint(l, '0x5')).toBe(l);
  });

  it(`holds at most ${MAX_BREAKPOINTS}, and ignores a bad address`, () => {
    let l: readonly Breakpoint[] = [];
    for (let i = 0; i < MAX_BREAKPOINTS + 5; i++) l = toggleBreakpoint(l, row(`0x${(0x1000 + i).toString(16)}`));
    expect(l).toHaveLength(MAX_BREAKPOINTS);
    // Removing still works at the limit.
    expect(toggleBreakpoint(l, row('0x1000'))).toHaveLength(MAX_BREAKPOINTS - 1);
    expect(toggleBreakpoint([], row('main'))).toEqual([]);
  });
});
