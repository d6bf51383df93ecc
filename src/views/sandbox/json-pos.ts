/**
 * A JSON scanner that knows where things are: for valid text, the line and column of every member
 * and element by its field path (the paths scenario validation names: `devices.timer.vector`,
 * `mappings[2].linear`); for invalid text, where it stops and why. JSON.parse gives neither in a
 * portable form (engines word and place their errors differently). Pure; never throws.
 */

/** 1-based line and column, columns counted in UTF-16 code units (as a textarea's selection is). */
export interface TextPos {
  line: number;
  column: number;
}

/** Why a text is not JSON (UI strings are keyed by these). */
export type JsonIssue = 'unexpected' | 'end' | 'control' | 'escape' | 'number' | 'trailing' | 'depth';

export type JsonScan =
  | { ok: true; paths: ReadonlyMap<string, TextPos> }
  | { ok: false; at: TextPos; issue: JsonIssue; /** The character found, when there is one. */ found: string };

/** Nesting deeper than this is refused (a scenario is a few levels deep). */
export const MAX_JSON_DEPTH = 64;

/** Line starts of a text, for offset → line/column. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** The line and column of an offset, given the text's line starts. */
export function posAt(starts: readonly number[], offset: number): TextPos {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

class Stop {
  constructor(
    readonly offset: number,
    readonly issue: JsonIssue,
  ) {}
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

export function scanJson(text: string): JsonScan {
  const starts = lineStarts(text);
  const paths = new Map<string, TextPos>();
  let i = 0;

  const skip = (): void => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  const expect = (ch: string): void => {
    skip();
    if (i >= text.length) throw new Stop(i, 'end');
    if (text[i] !== ch) throw new Stop(i, 'unexpected');
    i++;
  };

  /** Scans a string at `i` (on its opening quote); returns its decoded value. */
  const string = (): string => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) throw new Stop(i, 'end');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) throw new Stop(i, 'control');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) throw new Stop(i + 1, 'end');
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new Stop(i, 'escape');
          i += 6;
          continue;
        }
        if (!ESCAPES.has(e)) throw new Stop(i, 'escape');
        i += 2;
        continue;
      }
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };

  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

  const value = (path: string, depth: number): void => {
    skip();
    if (i >= text.length) throw new Stop(i, 'end');
    if (depth > MAX_JSON_DEPTH) throw new Stop(i, 'depth');
    const c = text[i]!;
    if (c === '{') {
      i++;
      skip();
      if (text[i] === '}') return void i++;
      for (;;) {
        skip();
        if (i >= text.length) throw new Stop(i, 'end');
        if (text[i] !== '"') throw new Stop(i, 'unexpected');
        const at = i;
        const key = string();
        const p = path === '' ? key : `${path}.${key}`;
        if (!paths.has(p)) paths.set(p, posAt(starts, at));
        expect(':');
        value(p, depth + 1);
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}');
        return;
      }
    }
    if (c === '[') {
      i++;
      skip();
      if (text[i] === ']') return void i++;
      for (let n = 0; ; n++) {
        skip();
        const p = `${path}[${n}]`;
        if (!paths.has(p) && i < text.length) paths.set(p, posAt(starts, i));
        value(p, depth + 1);
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']');
        return;
      }
    }
    if (c === '"') return void string();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) return void (i += word.length);
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (m === null) throw new Stop(i + 1, i + 1 >= text.length ? 'end' : 'number');
      i += m[0].length;
      return;
    }
    throw new Stop(i, 'unexpected');
  };

  try {
    paths.set('(root)', { line: 1, column: 1 });
    value('', 0);
    skip();
    if (i < text.length) throw new Stop(i, 'trailing');
    return { ok: true, paths };
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    const found = e.offset < text.length ? String.fromCodePoint(text.codePointAt(e.offset)!) : '';
    return { ok: false, at: posAt(starts, e.offset), issue: e.issue, found };
  }
}

/**
 * The nearest position the scan knows for a field path: the path itself, else its closest parent
 * (`kernel.origin` when only `kernel` is there).
 */
export function positionOf(paths: ReadonlyMap<string, TextPos>, path: string): TextPos | null {
  let p = path;
  for (;;) {
    const hit = paths.get(p);
    if (hit !== undefined) return hit;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) return paths.get('(root)') ?? null;
    p = p.slice(0, cut);
  }
}
