// Lexer, expression and operand parser for the NASM-compatible Intel-syntax subset.

export type RegClass = 'gpr' | 'seg' | 'cr' | 'dr';

export interface Reg {
  readonly name: string;
  readonly cls: RegClass;
  /** Width in bits (gpr: 8/16/32/64; seg: 16; cr/dr: native width). */
  readonly size: number;
  /** Register number as encoded in ModRM.reg/rm (0–15, bit 3 goes to REX). */
  readonly num: number;
  /** SPL/BPL/SIL/DIL: encodable only with a REX prefix. */
  readonly needsRex: boolean;
  /** AH/CH/DH/BH: not encodable with any REX prefix. */
  readonly high: boolean;
}

function buildRegs(): Map<string, Reg> {
  const m = new Map<string, Reg>();
  const add = (name: string, cls: RegClass, size: number, num: number, needsRex = false, high = false): void => {
    m.set(name, { name, cls, size, num, needsRex, high });
  };
  const r8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
  r8.forEach((n, i) => add(n, 'gpr', 8, i, false, i >= 4));
  ['spl', 'bpl', 'sil', 'dil'].forEach((n, i) => add(n, 'gpr', 8, i + 4, true));
  const r16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
  r16.forEach((n, i) => {
    add(n, 'gpr', 16, i);
    add('e' + n, 'gpr', 32, i);
    add('r' + n, 'gpr', 64, i);
  });
  for (let i = 8; i < 16; i++) {
    add(`r${i}`, 'gpr', 64, i);
    add(`r${i}d`, 'gpr', 32, i);
    add(`r${i}w`, 'gpr', 16, i);
    add(`r${i}b`, 'gpr', 8, i);
    add(`r${i}l`, 'gpr', 8, i);
  }
  ['es', 'cs', 'ss', 'ds', 'fs', 'gs'].forEach((n, i) => add(n, 'seg', 16, i));
  for (const i of [0, 2, 3, 4, 8]) add(`cr${i}`, 'cr', 64, i);
  for (const i of [0, 1, 2, 3, 6, 7]) add(`dr${i}`, 'dr', 64, i);
  return m;
}

export const REGS: ReadonlyMap<string, Reg> = buildRegs();

export type TokKind = 'id' | 'num' | 'str' | 'op' | 'eol';
export interface Tok {
  readonly k: TokKind;
  readonly text: string;
  /** 1-based column. */
  readonly col: number;
  readonly num?: bigint;
  /** Why a number token has no value (e.g. it does not fit in 64 bits). */
  readonly numError?: string;
  readonly bytes?: readonly number[];
}

export class ParseError {
  constructor(
    readonly col: number,
    readonly message: string,
  ) {}
}

const ID_START = /[A-Za-z_.?@]/;
const ID_CHAR = /[A-Za-z0-9_.?@$#~]/;

function parseNumber(raw: string, col: number): bigint {
  const s = raw.replace(/_/g, '').toLowerCase();
  const bad = (): never => {
    throw new ParseError(col, `'${raw}' is not a valid number`);
  };
  const digits = (body: string, radix: number, re: RegExp): bigint => {
    if (body.length === 0 || !re.test(body)) bad();
    let v = 0n;
    for (const ch of body) v = v * BigInt(radix) + BigInt(parseInt(ch, radix));
    if (v > 0xffff_ffff_ffff_ffffn) throw new ParseError(col, `'${raw}' does not fit in 64 bits`);
    return v;
  };
  if (s.startsWith('0x') || s.startsWith('0h')) return digits(s.slice(2), 16, /^[0-9a-f]+$/);
  if (s.startsWith('$')) return digits(s.slice(1), 16, /^[0-9a-f]+$/);
  if (s.endsWith('h')) return digits(s.slice(0, -1), 16, /^[0-9a-f]+$/);
  if (s.startsWith('0b') || s.startsWith('0y')) return digits(s.slice(2), 2, /^[01]+$/);
  if (s.endsWith('b') || s.endsWith('y')) return digits(s.slice(0, -1), 2, /^[01]+$/);
  if (s.startsWith('0o') || s.startsWith('0q')) return digits(s.slice(2), 8, /^[0-7]+$/);
  if (s.endsWith('o') || s.endsWith('q')) return digits(s.slice(0, -1), 8, /^[0-7]+$/);
  if (s.startsWith('0d') || s.startsWith('0t')) return digits(s.slice(2), 10, /^[0-9]+$/);
  if (s.endsWith('d') || s.endsWith('t')) return digits(s.slice(0, -1), 10, /^[0-9]+$/);
  return digits(s, 10, /^[0-9]+$/);
}

function utf8(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return out;
}

const BQ_ESC: Record<string, number> = { n: 10, t: 9, r: 13, '0': 0, '\\': 92, "'": 39, '"': 34, '`': 96, a: 7, b: 8, f: 12, v: 11, e: 27, '?': 63 };

const OPS3 = ['<<<', '>>>'];
const OPS2 = ['<<', '>>', '//', '%%', '$$'];
const OPS1 = '+-*/%&|^~!()[],:$';

/** Splits one source line (without its newline) into tokens; the comment after ';' is dropped. */
export function lex(line: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    const col = i + 1;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === ';') break;
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      const bytes: number[] = [];
      let closed = false;
      while (j < line.length) {
        const d = line[j] as string;
        if (d === c) {
          closed = true;
          j++;
          break;
        }
        if (c === '`' && d === '\\' && j + 1 < line.length) {
          const e = line[j + 1] as string;
          if (e === 'x') {
            const hex = /^[0-9a-fA-F]{1,2}/.exec(line.slice(j + 2));
            if (hex) {
              bytes.push(parseInt(hex[0], 16));
              j += 2 + hex[0].length;
              continue;
            }
          }
          const v = BQ_ESC[e];
          if (v !== undefined) {
            bytes.push(v);
            j += 2;
            continue;
          }
        }
        bytes.push(...utf8(String.fromCodePoint(line.codePointAt(j) ?? 0)));
        j += (line.codePointAt(j) ?? 0) > 0xffff ? 2 : 1;
      }
      if (!closed) throw new ParseError(col, `expected a closing ${c} for the string that starts here`);
      toks.push({ k: 'str', text: line.slice(i, j), col, bytes });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '$' && /[0-9]/.test(line[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < line.length && /[0-9A-Za-z_]/.test(line[j] as string)) j++;
      const text = line.slice(i, j);
      let num: bigint | undefined;
      let numError: string | undefined;
      try {
        num = parseNumber(text, col);
      } catch (e) {
        if (e instanceof ParseError && e.message.endsWith('does not fit in 64 bits')) numError = e.message;
      }
      toks.push(num !== undefined ? { k: 'num', text, col, num } : numError !== undefined ? { k: 'num', text, col, numError } : { k: 'num', text, col });
      i = j;
      continue;
    }
    if (ID_START.test(c) || (c === '$' && ID_START.test(line[i + 1] ?? ''))) {
      let j = c === '$' ? i + 2 : i + 1;
      while (j < line.length && ID_CHAR.test(line[j] as string)) j++;
      const text = line.slice(c === '$' ? i + 1 : i, j);
      toks.push({ k: 'id', text, col });
      i = j;
      continue;
    }
    const three = line.slice(i, i + 3);
    const two = line.slice(i, i + 2);
    if (OPS3.includes(three)) {
      toks.push({ k: 'op', text: three, col });
      i += 3;
    } else if (OPS2.includes(two)) {
      toks.push({ k: 'op', text: two, col });
      i += 2;
    } else if (OPS1.includes(c)) {
      toks.push({ k: 'op', text: c, col });
      i += 1;
    } else {
      throw new ParseError(col, `unexpected character '${c}'`);
    }
  }
  toks.push({ k: 'eol', text: '', col: line.length + 1 });
  return toks;
}

export type Expr =
  | { readonly k: 'num'; readonly v: bigint; readonly col: number }
  | { readonly k: 'sym'; readonly name: string; readonly col: number }
  | { readonly k: 'here'; readonly col: number }
  | { readonly k: 'base'; readonly col: number }
  | { readonly k: 'reg'; readonly reg: Reg; readonly col: number }
  | { readonly k: 'un'; readonly op: string; readonly e: Expr; readonly col: number }
  | { readonly k: 'bin'; readonly op: string; readonly a: Expr; readonly b: Expr; readonly col: number };

export function describe(t: Tok): string {
  return t.k === 'eol' ? 'the end of the line' : `'${t.text}'`;
}

/** A cursor over one line's tokens. `scope` qualifies local labels ('.x' → 'scope.x'). */
export class Cursor {
  i = 0;
  constructor(
    readonly toks: readonly Tok[],
    readonly scope: string,
  ) {}
  peek(o = 0): Tok {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)] as Tok;
  }
  next(): Tok {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  isOp(text: string, o = 0): boolean {
    const t = this.peek(o);
    return t.k === 'op' && t.text === text;
  }
  isId(text: string, o = 0): boolean {
    const t = this.peek(o);
    return t.k === 'id' && t.text.toLowerCase() === text;
  }
  atEnd(): boolean {
    return this.peek().k === 'eol';
  }
}

export function qualify(name: string, scope: string): string {
  return name.startsWith('.') && !name.startsWith('..') ? scope + name : name;
}

const BIN_LEVELS: readonly (readonly string[])[] = [['|'], ['^'], ['&'], ['<<', '>>', '<<<', '>>>'], ['+', '-'], ['*', '/', '//', '%', '%%']];

export function parseExpr(c: Cursor, what: string, level = 0): Expr {
  if (level >= BIN_LEVELS.length) return parseUnary(c, what);
  let a = parseExpr(c, what, level + 1);
  const ops = BIN_LEVELS[level] as readonly string[];
  for (;;) {
    const t = c.peek();
    if (t.k !== 'op' || !ops.includes(t.text)) return a;
    c.next();
    const b = parseExpr(c, `an operand after '${t.text}'`, level + 1);
    a = { k: 'bin', op: t.text, a, b, col: t.col };
  }
}

function parseUnary(c: Cursor, what: string): Expr {
  const t = c.peek();
  if (t.k === 'op' && (t.text === '-' || t.text === '+' || t.text === '~' || t.text === '!')) {
    c.next();
    return { k: 'un', op: t.text, e: parseUnary(c, `an operand after '${t.text}'`), col: t.col };
  }
  return parsePrimary(c, what);
}

function parsePrimary(c: Cursor, what: string): Expr {
  const t = c.next();
  if (t.k === 'num') {
    if (t.num === undefined) throw new ParseError(t.col, t.numError ?? `expected ${what} but found '${t.text}', which is not a valid number`);
    return { k: 'num', v: t.num, col: t.col };
  }
  if (t.k === 'str') {
    const b = t.bytes ?? [];
    if (b.length > 8) throw new ParseError(t.col, `a character constant holds at most 8 bytes, ${t.text} has ${b.length}`);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] ?? 0);
    return { k: 'num', v, col: t.col };
  }
  if (t.k === 'op' && t.text === '$') return { k: 'here', col: t.col };
  if (t.k === 'op' && t.text === '$$') return { k: 'base', col: t.col };
  if (t.k === 'op' && t.text === '(') {
    const e = parseExpr(c, 'an expression after \'(\'');
    const close = c.next();
    if (close.k !== 'op' || close.text !== ')') throw new ParseError(close.col, `expected ')' but found ${describe(close)}`);
    return e;
  }
  if (t.k === 'id') {
    const reg = REGS.get(t.text.toLowerCase());
    if (reg) return { k: 'reg', reg, col: t.col };
    return { k: 'sym', name: qualify(t.text, c.scope), col: t.col };
  }
  throw new ParseError(t.col, `expected ${what} but found ${describe(t)}`);
}

export const SIZE_WORDS: Readonly<Record<string, number>> = { byte: 8, word: 16, dword: 32, qword: 64, tword: 80, oword: 128 };

export type OperandAst =
  | { readonly k: 'reg'; readonly reg: Reg; readonly col: number; readonly size?: number }
  | {
      readonly k: 'mem';
      readonly col: number;
      readonly size?: number;
      readonly far: boolean;
      readonly seg?: Reg;
      readonly expr?: Expr;
      /** Explicit `rel` (true) or `abs` (false); undefined follows `default`. */
      readonly rel?: boolean;
    }
  | {
      readonly k: 'imm';
      readonly col: number;
      readonly size?: number;
      readonly strict: boolean;
      readonly short: boolean;
      readonly near: boolean;
      readonly expr: Expr;
    }
  | { readonly k: 'farptr'; readonly col: number; readonly size?: number; readonly seg: Expr; readonly off: Expr };

export function parseOperand(c: Cursor, where = ''): OperandAst {
  const start = c.peek();
  let size: number | undefined;
  let strict = false;
  let far = false;
  let short = false;
  let near = false;
  for (;;) {
    const t = c.peek();
    if (t.k !== 'id') break;
    const w = t.text.toLowerCase();
    if (SIZE_WORDS[w] !== undefined && !c.isOp(':', 1)) {
      size = SIZE_WORDS[w];
    } else if (w === 'strict') strict = true;
    else if (w === 'far') far = true;
    else if (w === 'short') short = true;
    else if (w === 'near') near = true;
    else break;
    c.next();
  }
  const t = c.peek();
  if (t.k === 'op' && t.text === '[') {
    c.next();
    let seg: Reg | undefined;
    let rel: boolean | undefined;
    for (;;) {
      const u = c.peek();
      if (u.k !== 'id') break;
      const w = u.text.toLowerCase();
      const r = REGS.get(w);
      if (r && r.cls === 'seg' && c.isOp(':', 1)) {
        seg = r;
        c.next();
        c.next();
      } else if (w === 'rel') {
        rel = true;
        c.next();
      } else if (w === 'abs') {
        rel = false;
        c.next();
      } else if (SIZE_WORDS[w] !== undefined) {
        throw new ParseError(u.col, `a size inside the brackets is not supported here; write '${w} [...]'`);
      } else break;
    }
    const expr = parseExpr(c, "an address inside '[...]'");
    const close = c.next();
    if (close.k !== 'op' || close.text !== ']') throw new ParseError(close.col, `expected ']' to close the memory operand but found ${describe(close)}`);
    return { k: 'mem', col: start.col, size, far, seg, expr, rel };
  }
  if (t.k === 'id') {
    const r = REGS.get(t.text.toLowerCase());
    if (r && r.cls === 'seg' && c.isOp(':', 1) && c.isOp('[', 2)) {
      c.next();
      c.next();
      const inner = parseOperand(c);
      if (inner.k !== 'mem') throw new ParseError(t.col, `expected a memory operand after '${t.text}:'`);
      return { ...inner, col: start.col, size: size ?? inner.size, far: far || inner.far, seg: r };
    }
  }
  const first = c.peek();
  if (first.k === 'eol' || (first.k === 'op' && first.text === ',')) {
    throw new ParseError(first.col, `expected a register, memory operand or immediate${where} but found ${describe(first)}`);
  }
  const expr = parseExpr(c, `a register, memory operand or immediate${where}`);
  if (c.isOp(':')) {
    c.next();
    const off = parseExpr(c, "an offset after ':'");
    return { k: 'farptr', col: start.col, size, seg: expr, off };
  }
  if (expr.k === 'reg') {
    if (far || short || near || strict) throw new ParseError(start.col, `'${expr.reg.name}' is a register; far/near/short/strict do not apply`);
    return { k: 'reg', reg: expr.reg, col: start.col, size };
  }
  return { k: 'imm', col: start.col, size, strict, short, near, expr };
}
