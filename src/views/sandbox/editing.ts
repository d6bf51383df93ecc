/** Text edits the code editor makes for Tab and Shift+Tab (plain TS, testable). */

export const INDENT = '    ';

/** Replace [from, to) with `insert`, then select [selStart, selEnd). */
export interface TextEdit {
  from: number;
  to: number;
  insert: string;
  selStart: number;
  selEnd: number;
}

/**
 * Tab: a caret or a selection inside one line gets an indent in its place; a selection over
 * several lines indents each of them. Shift+Tab: the lines under the selection lose up to one
 * indent (four spaces or a tab) each.
 */
export function indentEdit(text: string, start: number, end: number, outdent: boolean): TextEdit {
  const multi = text.slice(start, end).includes('\n');
  if (!outdent && !multi) return { from: start, to: end, insert: INDENT, selStart: start + INDENT.length, selEnd: start + INDENT.length };
  const from = text.lastIndexOf('\n', start - 1) + 1;
  // A selection that ends at the start of a line does not take that line.
  const last = end > start && text[end - 1] === '\n' ? end - 1 : end;
  const nl = text.indexOf('\n', last);
  const to = nl < 0 ? text.length : nl;
  const lines = text.slice(from, to).split('\n');
  let removedFirst = 0;
  const out = lines.map((l, i) => {
    if (!outdent) return INDENT + l;
    const cut = l.startsWith('\t') ? 1 : Math.min(INDENT.length, l.search(/[^ ]|$/));
    if (i === 0) removedFirst = cut;
    return l.slice(cut);
  });
  const insert = out.join('\n');
  if (!multi) {
    const caret = Math.max(from, start - removedFirst);
    return { from, to, insert, selStart: caret, selEnd: Math.max(caret, end - removedFirst) };
  }
  return { from, to, insert, selStart: from, selEnd: from + insert.length };
}
