import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { positionOf, scanJson } from './json-pos.ts';

describe('scanJson', () => {
  it('places every member and element by its validation path', () => {
    const text = '{\n  "name": "x",\n  "devices": { "timer": { "vector": 32 } },\n  "mappings": [\n    { "linear": 1 },\n    { "size": 2 }\n  ]\n}';
    const r = scanJson(text);
    if (!r.ok) throw new Error('should scan');
    expect(r.paths.get('name')).toEqual({ line: 2, column: 3 });
    expect(r.paths.get('devices.timer.vector')).toEqual({ line: 3, column: 27 });
    expect(r.paths.get('mappings[0]')).toEqual({ line: 5, column: 5 });
    expect(r.paths.get('mappings[1].size')).toEqual({ line: 6, column: 7 });
    expect(positionOf(r.paths, 'mappings[1].size')).toEqual({ line: 6, column: 7 });
    expect(positionOf(r.paths, 'mappings[1].linear')).toEqual({ line: 6, column: 5 });
    expect(positionOf(r.paths, 'kernel.source')).toEqual({ line: 1, column: 1 });
  });

  it.each([
    ['{"a": }', 1, 7, 'unexpected', '}'],
    ['{"a": 1,\n "b" 2}', 2, 6, 'unexpected', '2'],
    ['{"a": [1, 2', 1, 12, 'end', ''],
    ['{"a": "x\ny"}', 1, 9, 'control', '\n'],
    ['{"a": "\\q"}', 1, 8, 'escape', '\\'],
    ['{"a": "\\u12G4"}', 1, 8, 'escape', '\\'],
    ['{"a": -}', 1, 8, 'number', '}'],
    ['{"a": 1} x', 1, 10, 'trailing', 'x'],
    ['{"a": 01}', 1, 8, 'unexpected', '1'],
    ["{'a': 1}", 1, 2, 'unexpected', "'"],
    ['{"a": tru}', 1, 7, 'unexpected', 't'],
    ['', 1, 1, 'end', ''],
    ['{"😀": x}', 1, 8, 'unexpected', 'x'], // columns in UTF-16 code units, as a textarea counts
  ])('stops at the first error in %j', (text, line, column, issue, found) => {
    expect(scanJson(text)).toEqual({ ok: false, at: { line, column }, issue, found });
  });

  it('refuses nesting deeper than a scenario needs', () => {
    expect(scanJson('['.repeat(100) + ']'.repeat(100))).toMatchObject({ ok: false, issue: 'depth' });
  });

  it('agrees with JSON.parse on what is JSON, for random values and random damage', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.nat(), fc.string({ maxLength: 2 }), (v, at, junk) => {
        const text = JSON.stringify(v, null, at % 3);
        expect(scanJson(text).ok).toBe(true);
        const i = at % (text.length + 1);
        const damaged = text.slice(0, i) + junk + text.slice(i + 1);
        let parses = true;
        try {
          JSON.parse(damaged);
        } catch {
          parses = false;
        }
        expect(scanJson(damaged).ok).toBe(parses);
      }),
      { numRuns: 500 },
    );
  });
});
