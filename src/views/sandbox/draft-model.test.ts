import { describe, expect, it } from 'vitest';
import { DraftModel, initialDraftFields, type DraftFields } from './draft-model.ts';
import { prettyJson } from './form.ts';
import type { SavedDraft } from './store.ts';

function setup(): { f: DraftFields; m: DraftModel; saves: SavedDraft[]; pending: (() => void)[] } {
  const f = initialDraftFields();
  const saves: SavedDraft[] = [];
  const pending: (() => void)[] = [];
  const m = new DraftModel(f, {
    save: (d) => (saves.push(d), 'saved'),
    later: (fn) => {
      pending.push(fn);
      return () => pending.splice(pending.indexOf(fn), 1);
    },
  });
  return { f, m, saves, pending };
}

describe('the sandbox draft', () => {
  it('parses its text into the scenario the form edits, and rewrites the text on a form edit', () => {
    const { f, m } = setup();
    m.setText('{"name": "a", "memory": {"size": 4194304}}');
    expect(f.scenario).toEqual({ name: 'a', memory: { size: 4194304 } });
    expect(f.paths.get('memory.size')).toEqual({ line: 1, column: 26 });
    expect(m.edit('memory.size', 0x800000)).toBe(true);
    expect(f.text).toBe(prettyJson({ name: 'a', memory: { size: 0x800000 } }));
    expect(f.paths.get('memory.size')).toEqual({ line: 4, column: 5 });
  });

  it('keeps broken JSON as typed, says where it breaks, and holds form edits until it is fixed', () => {
    const { f, m } = setup();
    m.setText('{"name": "a"}');
    m.setText('{"name": "a",\n  oops}');
    expect(f.text).toBe('{"name": "a",\n  oops}');
    expect(f.problem).toEqual({ at: { line: 2, column: 3 }, issue: 'unexpected', found: 'o' });
    expect(f.scenario).toEqual({ name: 'a' });
    expect(m.edit('name', 'b')).toBe(false);
    expect(f.text).toBe('{"name": "a",\n  oops}');
    m.setText('[1]');
    expect(f.problem).toMatchObject({ issue: 'root' });
    m.setText('{"name": "c"}');
    expect(f.problem).toBeNull();
    expect(m.edit('name', 'd')).toBe(true);
  });

  it('keeps the draft a share link replaces, and swaps it back on request', () => {
    const { f, m } = setup();
    m.setText('{"name": "mine"}');
    m.adopt('{"name": "shared"}');
    expect(f.previous).toBe('{"name": "mine"}');
    expect(f.scenario).toEqual({ name: 'shared' });
    m.restorePrevious();
    expect(f.scenario).toEqual({ name: 'mine' });
    expect(f.previous).toBe('{"name": "shared"}');
    // The same text again keeps the earlier backup.
    m.adopt('{"name": "mine"}');
    expect(f.previous).toBe('{"name": "shared"}');
  });

  it('starts with no backup of the empty draft', () => {
    const { f, m } = setup();
    m.adopt('{"name": "first"}');
    expect(f.previous).toBeNull();
  });

  it('records run errors with the text they belong to, and the text that last ran', () => {
    const { f, m } = setup();
    m.setText('{"name": "a"}');
    m.ran([{ path: 'kernel', message: 'required' }]);
    expect(f.errors).toHaveLength(1);
    expect(f.errorsText).toBe('{"name": "a"}');
    expect(f.ranText).toBeNull();
    m.ran(null);
    expect(f.errors).toEqual([]);
    expect(f.ranText).toBe('{"name": "a"}');
  });

  it('saves once after a burst of edits, and at once on flush', () => {
    const { f, m, saves, pending } = setup();
    m.setText('{"a": 1}');
    m.setText('{"a": 2}');
    m.setText('{"a": 3}');
    expect(pending).toHaveLength(1);
    expect(saves).toEqual([]);
    pending.shift()!();
    expect(saves).toEqual([{ text: '{"a": 3}', previous: null }]);
    m.setText('{"a": 4}');
    m.flush();
    expect(pending).toHaveLength(0);
    expect(saves.at(-1)).toEqual({ text: '{"a": 4}', previous: null });
    expect(f.saved).toBe('saved');
  });

  it('reports a save that failed', () => {
    const f = initialDraftFields();
    const m = new DraftModel(f, { save: () => 'full', later: (fn) => (fn(), () => undefined) });
    m.setText('{}');
    expect(f.saved).toBe('full');
  });
});
