import { describe, expect, it } from 'vitest';
import { indentEdit, type TextEdit } from './editing.ts';

function apply(text: string, e: TextEdit): string {
  return text.slice(0, e.from) + e.insert + text.slice(e.to);
}

describe('Tab in the code editor', () => {
  it('inserts an indent at the caret', () => {
    const e = indentEdit('mov eax, 1', 0, 0, false);
    expect(apply('mov eax, 1', e)).toBe('    mov eax, 1');
    expect([e.selStart, e.selEnd]).toEqual([4, 4]);
  });

  it('indents every line of a selection over several lines, and outdents them back', () => {
    const t = 'a:\nnop\nhlt\nend';
    const e = indentEdit(t, 3, 10, false);
    const indented = apply(t, e);
    expect(indented).toBe('a:\n    nop\n    hlt\nend');
    const o = indentEdit(indented, e.selStart, e.selEnd, true);
    expect(apply(indented, o)).toBe(t);
  });

  it('outdents the caret line by at most one indent, or a tab, keeping the caret on its text', () => {
    const t = 'x\n      nop';
    const o = indentEdit(t, 9, 9, true);
    expect(apply(t, o)).toBe('x\n  nop');
    expect(o.selStart).toBe(5);
    expect(apply('\tnop', indentEdit('\tnop', 2, 2, true))).toBe('nop');
    expect(apply('nop', indentEdit('nop', 1, 1, true))).toBe('nop');
  });

  it('does not take the line after a selection that ends at its start', () => {
    const t = 'a\nb\nc';
    expect(apply(t, indentEdit(t, 0, 4, false))).toBe('    a\n    b\nc');
  });
});
