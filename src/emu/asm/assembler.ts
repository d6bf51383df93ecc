// NASM-compatible assembler (flat binary output): parses, then runs passes until label values settle.

import { Cursor, lex, ParseError, parseExpr, parseOperand, qualify, REGS, describe } from './parse.ts';
import type { Expr, OperandAst, Reg } from './parse.ts';
import { encodeInstruction, EncodeError, MNEMONICS, hex, le } from './encode.ts';
import type { MemOp, Op, Value } from './encode.ts';

export interface AsmError {
  line: number;
  column: number;
  message: string;
}
export interface AsmListing {
  offset: number;
  line: number;
  length: number;
}
export type AsmResult =
  | { ok: true; bytes: Uint8Array; origin: number; labels: Map<string, number>; listing: AsmListing[] }
  | { ok: false; errors: AsmError[] };

type DataItem = { readonly k: 'expr'; readonly e: Expr } | { readonly k: 'bytes'; readonly b: readonly number[] };

type Body =
  | { readonly k: 'none' }
  | { readonly k: 'equ'; readonly expr: Expr }
  | { readonly k: 'data'; readonly unit: number; readonly items: readonly DataItem[] }
  | { readonly k: 'res'; readonly unit: number; readonly expr: Expr; readonly col: number }
  | { readonly k: 'align'; readonly expr: Expr; readonly col: number }
  | { readonly k: 'insn'; readonly mnem: string; readonly col: number; readonly prefixes: readonly string[]; readonly ops: readonly OperandAst[] }
  | { readonly k: 'bits'; readonly bits: 32 | 64 }
  | { readonly k: 'default'; readonly rel: boolean };

interface Stmt {
  readonly line: number;
  readonly label?: { readonly name: string; readonly col: number };
  readonly times?: { readonly expr: Expr; readonly col: number };
  readonly body: Body;
}

const DATA_UNITS: Readonly<Record<string, number>> = { db: 1, dw: 2, dd: 4, dq: 8 };
const RES_UNITS: Readonly<Record<string, number>> = { resb: 1, resw: 2, resd: 4, resq: 8 };
const PREFIXES = new Set(['rep', 'repe', 'repz', 'repne', 'repnz', 'lock', 'o16', 'o32', 'o64']);
const DIRECTIVES = new Set(['bits', 'use32', 'use64', 'org', 'default', 'section', 'segment', 'global', 'align', 'alignb', 'times', 'equ', 'cpu']);

function isKeyword(w: string): boolean {
  return MNEMONICS.has(w) || PREFIXES.has(w) || DIRECTIVES.has(w) || DATA_UNITS[w] !== undefined || RES_UNITS[w] !== undefined;
}

class LineError {
  constructor(
    readonly line: number,
    readonly col: number,
    readonly message: string,
  ) {}
}

interface Parsed {
  stmts: Stmt[];
  errors: AsmError[];
  origin?: { expr: Expr; line: number; col: number };
  kinds: Map<string, 'label' | 'equ'>;
}

function parseProgram(source: string): Parsed {
  const lines = source.split(/\r?\n|\r/);
  const stmts: Stmt[] = [];
  const errors: AsmError[] = [];
  const kinds = new Map<string, 'label' | 'equ'>();
  const defined = new Map<string, number>();
  let origin: Parsed['origin'];
  let scope = '';
  lines.forEach((text, i) => {
    const line = i + 1;
    try {
      const toks = lex(text);
      const c = new Cursor(toks, scope);
      if (c.isOp('[')) {
        c.next();
        const inner = toks.slice(c.i);
        const close = inner.findIndex((t) => t.k === 'op' && t.text === ']');
        if (close < 0) throw new ParseError(toks[toks.length - 1]?.col ?? 1, "expected ']' to close the directive");
        const rest = toks.slice(c.i + close + 1);
        if (rest[0]?.k !== 'eol') throw new ParseError(rest[0]?.col ?? 1, `expected the end of the line after ']' but found ${describe(rest[0] ?? toks[0]!)}`);
        const body = [...toks.slice(c.i, c.i + close), rest[0]];
        const d = new Cursor(body, scope);
        const word = d.peek();
        if (word.k !== 'id' || !['bits', 'org', 'default', 'section', 'segment'].includes(word.text.toLowerCase())) {
          throw new ParseError(word.col, `expected a directive (bits, org, default, section) after '[' but found ${describe(word)}`);
        }
        const st = parseBody(d, line, undefined, undefined);
        if (st === 'org') origin = takeOrg(d, line, word.col, origin);
        else if (st) stmts.push(st);
        return;
      }
      let label: Stmt['label'];
      const t0 = c.peek();
      if (t0.k === 'id') {
        const w = t0.text.toLowerCase();
        const next = c.peek(1);
        const nextWord = next.k === 'id' ? next.text.toLowerCase() : '';
        const colon = c.isOp(':', 1);
        if (colon || (!isKeyword(w) && (next.k === 'eol' || (next.k === 'id' && isKeyword(nextWord))))) {
          if (REGS.has(w)) throw new ParseError(t0.col, `'${t0.text}' is a register name and cannot be a label`);
          if (!colon && isKeyword(w)) throw new ParseError(t0.col, `'${t0.text}' is a reserved word and cannot be a label`);
          const name = qualify(t0.text, scope);
          const first = defined.get(name);
          if (first !== undefined) throw new ParseError(t0.col, `duplicate label '${name}' (first defined on line ${first})`);
          defined.set(name, line);
          label = { name, col: t0.col };
          if (!t0.text.startsWith('.')) {
            scope = t0.text;
          }
          c.next();
          if (colon) c.next();
          const isEqu = c.isId('equ');
          kinds.set(name, isEqu ? 'equ' : 'label');
        }
      }
      const lc = new Cursor(toks.slice(c.i), scope);
      const st = parseBody(lc, line, label, undefined);
      if (st === 'org') {
        origin = takeOrg(lc, line, lc.peek().col, origin);
        return;
      }
      if (st) stmts.push(st);
    } catch (e) {
      if (e instanceof ParseError) errors.push({ line, column: e.col, message: e.message });
      else if (e instanceof LineError) errors.push({ line: e.line, column: e.col, message: e.message });
      else errors.push({ line, column: 1, message: `internal error: ${String(e)}` });
    }
  });
  return { stmts, errors, origin, kinds };
}

function takeOrg(c: Cursor, line: number, col: number, prev: Parsed['origin']): Parsed['origin'] {
  if (prev) throw new LineError(line, col, `org given twice (first on line ${prev.line}); a flat binary has one origin`);
  const expr = parseExpr(c, 'an address after org');
  expectEnd(c, 'after the org address');
  return { expr, line, col };
}

function expectEnd(c: Cursor, where: string): void {
  const t = c.peek();
  if (t.k !== 'eol') throw new ParseError(t.col, `expected the end of the line ${where} but found ${describe(t)}`);
}

/** Parses what follows an optional label. Returns 'org' (left for the caller), a statement, or undefined. */
function parseBody(c: Cursor, line: number, label: Stmt['label'], times: Stmt['times']): Stmt | 'org' | undefined {
  const t = c.peek();
  if (t.k === 'eol') return label || times ? { line, label, times, body: { k: 'none' } } : undefined;
  if (t.k !== 'id') throw new ParseError(t.col, `expected a label, instruction or directive but found ${describe(t)}`);
  const w = t.text.toLowerCase();
  c.next();
  if (w === 'equ') {
    if (!label) throw new ParseError(t.col, "expected a label before 'equ'");
    if (times) throw new ParseError(t.col, "'times' cannot repeat 'equ'");
    const expr = parseExpr(c, "a value after 'equ'");
    expectEnd(c, 'after the equ value');
    return { line, label, body: { k: 'equ', expr } };
  }
  if (w === 'times') {
    if (times) throw new ParseError(t.col, "expected one 'times' per line");
    const expr = parseExpr(c, "a repeat count after 'times'");
    return parseBody(c, line, label, { expr, col: t.col }) ?? { line, label, body: { k: 'none' } };
  }
  const directiveOnly = (): void => {
    if (label || times) throw new ParseError(t.col, `'${w}' cannot follow a label or 'times'`);
  };
  if (w === 'bits' || w === 'use32' || w === 'use64') {
    directiveOnly();
    let bits: number;
    if (w === 'bits') {
      const n = c.next();
      bits = n.k === 'num' && n.num !== undefined ? Number(n.num) : -1;
      if (bits === 16) throw new ParseError(n.col, 'bits 16 is not supported: expected 32 or 64');
      if (bits !== 32 && bits !== 64) throw new ParseError(n.col, `expected 32 or 64 after bits but found ${describe(n)}`);
    } else bits = w === 'use32' ? 32 : 64;
    expectEnd(c, 'after the bits directive');
    return { line, body: { k: 'bits', bits: bits as 32 | 64 } };
  }
  if (w === 'org') {
    directiveOnly();
    return 'org';
  }
  if (w === 'default') {
    directiveOnly();
    const n = c.next();
    const v = n.k === 'id' ? n.text.toLowerCase() : '';
    if (v !== 'rel' && v !== 'abs') throw new ParseError(n.col, `expected rel or abs after default but found ${describe(n)}`);
    expectEnd(c, 'after default rel/abs');
    return { line, body: { k: 'default', rel: v === 'rel' } };
  }
  if (w === 'section' || w === 'segment' || w === 'global' || w === 'cpu') {
    directiveOnly();
    return undefined;
  }
  if (w === 'align' || w === 'alignb') {
    const expr = parseExpr(c, 'an alignment after align');
    expectEnd(c, 'after the alignment');
    return { line, label, times, body: { k: 'align', expr, col: t.col } };
  }
  const unit = DATA_UNITS[w];
  if (unit !== undefined) {
    const items: DataItem[] = [];
    for (;;) {
      const u = c.peek();
      if (u.k === 'str' && (c.peek(1).k === 'eol' || c.isOp(',', 1))) {
        c.next();
        items.push({ k: 'bytes', b: u.bytes ?? [] });
      } else {
        items.push({ k: 'expr', e: parseExpr(c, items.length === 0 ? `a value after ${w}` : `a value after ','`) });
      }
      if (c.isOp(',')) {
        c.next();
        continue;
      }
      expectEnd(c, `or ',' after a ${w} value`);
      break;
    }
    return { line, label, times, body: { k: 'data', unit, items } };
  }
  const resUnit = RES_UNITS[w];
  if (resUnit !== undefined) {
    const expr = parseExpr(c, `a count after ${w}`);
    expectEnd(c, `after the ${w} count`);
    return { line, label, times, body: { k: 'res', unit: resUnit, expr, col: t.col } };
  }
  const prefixes: string[] = [];
  let mt = t;
  let m = w;
  while (PREFIXES.has(m)) {
    prefixes.push(m);
    const n = c.peek();
    if (n.k === 'eol') throw new ParseError(n.col, `expected an instruction after the prefix '${mt.text}'`);
    if (n.k !== 'id') throw new ParseError(n.col, `expected an instruction after '${mt.text}' but found ${describe(n)}`);
    c.next();
    mt = n;
    m = n.text.toLowerCase();
  }
  if (!MNEMONICS.has(m)) {
    if (DIRECTIVES.has(m)) throw new ParseError(mt.col, `'${mt.text}' cannot appear here`);
    throw new ParseError(mt.col, `unknown mnemonic '${mt.text}'`);
  }
  const ops: OperandAst[] = [];
  if (!c.atEnd()) {
    ops.push(parseOperand(c));
    while (c.isOp(',')) {
      c.next();
      ops.push(parseOperand(c, " after ','"));
    }
    const e = c.peek();
    if (e.k !== 'eol') throw new ParseError(e.col, `expected ',' or the end of the line after an operand but found ${describe(e)}`);
  }
  return { line, label, times, body: { k: 'insn', mnem: m, col: mt.col, prefixes, ops } };
}

interface SymVal {
  v: bigint;
  rel: number;
}

class EvalError {
  constructor(
    readonly col: number,
    readonly message: string,
  ) {}
}

interface PassEnv {
  cur: Map<string, SymVal>;
  prev: Map<string, SymVal>;
  kinds: Map<string, 'label' | 'equ'>;
  here: bigint;
  origin: bigint;
}

const norm = (v: bigint): bigint => BigInt.asIntN(64, v);

function evaluate(e: Expr, env: PassEnv): Value {
  switch (e.k) {
    case 'num':
      return { v: norm(e.v), rel: 0, unknown: false };
    case 'here':
      return { v: env.here, rel: 1, unknown: false };
    case 'base':
      return { v: env.origin, rel: 1, unknown: false };
    case 'reg':
      throw new EvalError(e.col, `register '${e.reg.name}' is not allowed here: expected a number or label`);
    case 'sym': {
      const kind = env.kinds.get(e.name);
      if (kind === undefined) throw new EvalError(e.col, `undefined label '${e.name}'`);
      const s = env.cur.get(e.name) ?? env.prev.get(e.name);
      if (s) return { v: s.v, rel: s.rel, unknown: false };
      return { v: 0n, rel: kind === 'label' ? 1 : 0, unknown: true };
    }
    case 'un': {
      const x = evaluate(e.e, env);
      if (e.op === '+') return x;
      if (e.op === '-') return { v: norm(-x.v), rel: -x.rel, unknown: x.unknown };
      if (x.rel !== 0) throw new EvalError(e.col, `'${e.op}' cannot be applied to a label address: only + and - work on labels`);
      return { v: e.op === '~' ? norm(~x.v) : x.v === 0n ? 1n : 0n, rel: 0, unknown: x.unknown };
    }
    case 'bin': {
      const a = evaluate(e.a, env);
      const b = evaluate(e.b, env);
      const unknown = a.unknown || b.unknown;
      if (e.op === '+') return { v: norm(a.v + b.v), rel: a.rel + b.rel, unknown };
      if (e.op === '-') return { v: norm(a.v - b.v), rel: a.rel - b.rel, unknown };
      if (e.op === '*') {
        if (a.rel !== 0 && b.rel !== 0) throw new EvalError(e.col, 'two label addresses cannot be multiplied');
        const rel = a.rel !== 0 ? a.rel * Number(b.v) : b.rel !== 0 ? b.rel * Number(a.v) : 0;
        return { v: norm(a.v * b.v), rel, unknown };
      }
      if (a.rel !== 0 || b.rel !== 0) throw new EvalError(e.col, `'${e.op}' cannot be applied to a label address: subtract labels first (e.g. label - $$)`);
      const ua = BigInt.asUintN(64, a.v);
      const ub = BigInt.asUintN(64, b.v);
      const simple = (v: bigint): Value => ({ v: norm(v), rel: 0, unknown });
      switch (e.op) {
        case '/':
        case '//':
        case '%':
        case '%%':
          if (b.v === 0n) {
            if (unknown) return simple(0n);
            throw new EvalError(e.col, 'division by zero');
          }
          if (e.op === '/') return simple(ua / ub);
          if (e.op === '//') return simple(a.v / b.v);
          if (e.op === '%') return simple(ua % ub);
          return simple(a.v % b.v);
        case '<<':
        case '<<<':
          return simple(ub >= 64n ? 0n : a.v << ub);
        case '>>':
          return simple(ub >= 64n ? 0n : ua >> ub);
        case '>>>':
          return simple(ub >= 64n ? (a.v < 0n ? -1n : 0n) : a.v >> ub);
        case '&':
          return simple(a.v & b.v);
        case '|':
          return simple(a.v | b.v);
        case '^':
          return simple(a.v ^ b.v);
      }
      throw new EvalError(e.col, `unknown operator '${e.op}'`);
    }
  }
}

interface Linear {
  terms: { reg: Reg; coef: bigint; col: number }[];
  c: Value;
}

function linearize(e: Expr, env: PassEnv): Linear {
  const hasReg = (x: Expr): boolean =>
    x.k === 'reg' || (x.k === 'un' && hasReg(x.e)) || (x.k === 'bin' && (hasReg(x.a) || hasReg(x.b)));
  if (!hasReg(e)) return { terms: [], c: evaluate(e, env) };
  if (e.k === 'reg') return { terms: [{ reg: e.reg, coef: 1n, col: e.col }], c: { v: 0n, rel: 0, unknown: false } };
  const scaleBy = (l: Linear, k: bigint): Linear => ({
    terms: l.terms.map((t) => ({ ...t, coef: t.coef * k })),
    c: { v: norm(l.c.v * k), rel: l.c.rel * Number(k), unknown: l.c.unknown },
  });
  const add = (x: Linear, y: Linear): Linear => {
    const terms = [...x.terms];
    for (const t of y.terms) {
      const same = terms.find((u) => u.reg === t.reg);
      if (same) same.coef += t.coef;
      else terms.push({ ...t });
    }
    return { terms, c: { v: norm(x.c.v + y.c.v), rel: x.c.rel + y.c.rel, unknown: x.c.unknown || y.c.unknown } };
  };
  if (e.k === 'un') {
    if (e.op === '+') return linearize(e.e, env);
    if (e.op === '-') return scaleBy(linearize(e.e, env), -1n);
    throw new EvalError(e.col, `'${e.op}' cannot be applied to a register`);
  }
  if (e.k === 'bin') {
    if (e.op === '+') return add(linearize(e.a, env), linearize(e.b, env));
    if (e.op === '-') return add(linearize(e.a, env), scaleBy(linearize(e.b, env), -1n));
    if (e.op === '*') {
      const [r, k] = hasReg(e.a) ? [e.a, e.b] : [e.b, e.a];
      if (hasReg(k)) throw new EvalError(e.col, 'two registers cannot be multiplied');
      const kv = evaluate(k, env);
      if (kv.rel !== 0 || kv.unknown) throw new EvalError(e.col, 'a register scale must be a constant: 1, 2, 4 or 8');
      return scaleBy(linearize(r, env), kv.v);
    }
  }
  throw new EvalError(e.col, `a register cannot be used with '${e.k === 'bin' ? e.op : '?'}' in an address: expected base+index*scale+displacement`);
}

function resolveMem(o: Extract<OperandAst, { k: 'mem' }>, env: PassEnv, bits: 32 | 64, defaultRel: boolean): MemOp {
  const lin: Linear = o.expr ? linearize(o.expr, env) : { terms: [], c: { v: 0n, rel: 0, unknown: false } };
  const terms = lin.terms.filter((t) => t.coef !== 0n);
  let addr: 0 | 16 | 32 | 64 = 0;
  for (const t of terms) {
    if (t.reg.cls !== 'gpr' || t.reg.size === 8) throw new EvalError(t.col, `'${t.reg.name}' cannot be used in an address: expected a 32-bit${bits === 64 ? ' or 64-bit' : ''} general register`);
    if (addr !== 0 && addr !== t.reg.size) throw new EvalError(t.col, `'${t.reg.name}' mixes address sizes in one memory operand`);
    addr = t.reg.size as 16 | 32 | 64;
    if (t.reg.size === 64 && bits === 32) throw new EvalError(t.col, `'${t.reg.name}' is only available in 64-bit mode`);
    if (t.reg.size === 16 && bits === 64) throw new EvalError(t.col, `'${t.reg.name}': 16-bit addressing is not valid in 64-bit mode`);
  }
  let base: Reg | undefined;
  let index: Reg | undefined;
  let scale = 1;
  const isSp = (r: Reg): boolean => r.num === 4;
  const col = terms[0]?.col ?? o.col;
  if (terms.length > 2) throw new EvalError(terms[2]?.col ?? o.col, 'an address has at most two registers: base + index*scale');
  if (addr === 16) {
    for (const t of terms) {
      if (t.coef !== 1n) throw new EvalError(t.col, '16-bit addressing has no scale factor');
      if (t.reg.name === 'bx' || t.reg.name === 'bp') {
        if (base) throw new EvalError(t.col, `'[${base.name}+${t.reg.name}]' is not a valid 16-bit address`);
        base = t.reg;
      } else if (t.reg.name === 'si' || t.reg.name === 'di') {
        if (index) throw new EvalError(t.col, `'[${index.name}+${t.reg.name}]' is not a valid 16-bit address`);
        index = t.reg;
      } else throw new EvalError(t.col, `'${t.reg.name}' cannot be used in a 16-bit address: expected bx, bp, si or di`);
    }
    if (!base) {
      base = index;
      index = undefined;
    }
  } else if (terms.length === 1) {
    const t = terms[0]!;
    const k = t.coef;
    if (k === 1n) base = t.reg;
    else if (k === 2n || k === 3n || k === 5n || k === 9n) {
      if (isSp(t.reg)) throw new EvalError(t.col, `'${t.reg.name}' cannot be an index register`);
      base = t.reg;
      index = t.reg;
      scale = Number(k) - 1;
    } else if (k === 4n || k === 8n) {
      if (isSp(t.reg)) throw new EvalError(t.col, `'${t.reg.name}' cannot be an index register`);
      index = t.reg;
      scale = Number(k);
    } else throw new EvalError(t.col, `scale ${k} is not valid: expected 1, 2, 4 or 8`);
  } else if (terms.length === 2) {
    const [t1, t2] = [terms[0]!, terms[1]!];
    let bt = t1;
    let it = t2;
    if (t1.coef !== 1n && t2.coef === 1n) {
      bt = t2;
      it = t1;
    } else if (t1.coef !== 1n) throw new EvalError(t1.col, 'only one register in an address can have a scale');
    if (it.coef === 1n && isSp(it.reg)) [bt, it] = [it, bt];
    if (isSp(it.reg)) throw new EvalError(it.col, `'${it.reg.name}' cannot be an index register`);
    if (![1n, 2n, 4n, 8n].includes(it.coef)) throw new EvalError(it.col, `scale ${it.coef} is not valid: expected 1, 2, 4 or 8`);
    base = bt.reg;
    index = it.reg;
    scale = Number(it.coef);
  }
  const fsgs = o.seg !== undefined && (o.seg.name === 'fs' || o.seg.name === 'gs');
  if (o.rel === true && (base || index)) throw new EvalError(col, "'rel' applies only to an address without registers");
  // As in nasm: only a label-relative address can be RIP-relative; a plain number stays absolute.
  const ripRel = bits === 64 && !base && !index && (o.rel ?? (defaultRel && !fsgs)) && lin.c.rel !== 0;
  return { k: 'mem', col: o.col, size: o.size, far: o.far, seg: o.seg, base, index, scale, disp: lin.c, ripRel, addr };
}

function checkRegMode(r: Reg, col: number, bits: 32 | 64): void {
  if (bits === 32 && (r.num >= 8 || (r.cls === 'gpr' && r.size === 64) || r.needsRex)) {
    throw new EvalError(col, `'${r.name}' is only available in 64-bit mode`);
  }
}

function resolveOperand(o: OperandAst, env: PassEnv, bits: 32 | 64, defaultRel: boolean): Op {
  switch (o.k) {
    case 'reg':
      checkRegMode(o.reg, o.col, bits);
      if (o.size !== undefined && o.size !== o.reg.size && o.reg.cls === 'gpr') throw new EvalError(o.col, `'${o.reg.name}' is a ${o.reg.size}-bit register, not ${o.size}-bit`);
      return { k: 'reg', reg: o.reg, col: o.col };
    case 'mem':
      return resolveMem(o, env, bits, defaultRel);
    case 'imm':
      return { k: 'imm', col: o.col, v: evaluate(o.expr, env), size: o.size, strict: o.strict, short: o.short, near: o.near };
    case 'farptr':
      return { k: 'farptr', col: o.col, size: o.size, seg: evaluate(o.seg, env), off: evaluate(o.off, env) };
  }
}

const MAX_PASSES = 40;
/** The largest `times` count (a 1 MiB image of single bytes). */
const MAX_TIMES = 1n << 20n;

export function assemble(source: string, opts?: { bits?: 32 | 64; origin?: number }): AsmResult {
  try {
    return assembleInner(source, opts);
  } catch (e) {
    return { ok: false, errors: [{ line: 1, column: 1, message: `internal assembler error: ${String(e)}` }] };
  }
}

function assembleInner(source: string, opts?: { bits?: 32 | 64; origin?: number }): AsmResult {
  const parsed = parseProgram(source);
  const errors = [...parsed.errors];
  const optOrigin = opts?.origin ?? 0;
  if (!Number.isSafeInteger(optOrigin) || optOrigin < 0) {
    errors.push({ line: 1, column: 1, message: `origin ${optOrigin} must be a non-negative integer` });
  }
  let origin = Number.isSafeInteger(optOrigin) && optOrigin >= 0 ? BigInt(optOrigin) : 0n;
  if (parsed.origin) {
    try {
      const v = evaluate(parsed.origin.expr, { cur: new Map(), prev: new Map(), kinds: new Map(), here: 0n, origin: 0n });
      if (v.rel !== 0 || v.v < 0n) throw new EvalError(parsed.origin.col, 'org needs a non-negative constant address');
      origin = v.v;
    } catch (e) {
      if (e instanceof EvalError) errors.push({ line: parsed.origin.line, column: e.col, message: e.message.replace('undefined label', 'org needs a constant; undefined label') });
      else throw e;
    }
  }
  const nearJumps = new Set<number>();
  let prev = new Map<string, SymVal>();
  let result: { bytes: number[]; listing: AsmListing[]; errors: AsmError[]; cur: Map<string, SymVal> } | undefined;
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    const r = runPass(parsed, origin, opts?.bits ?? 32, prev, nearJumps);
    const settled = r.cur.size === prev.size && [...r.cur].every(([k, v]) => {
      const p = prev.get(k);
      return p !== undefined && p.v === v.v && p.rel === v.rel;
    });
    prev = r.cur;
    result = r;
    if (settled && pass > 1) break;
    if (pass === MAX_PASSES) errors.push({ line: 1, column: 1, message: `label values did not settle after ${MAX_PASSES} passes` });
  }
  if (!result) return { ok: false, errors };
  errors.push(...result.errors);
  if (errors.length > 0) {
    errors.sort((x, y) => x.line - y.line || x.column - y.column);
    return { ok: false, errors };
  }
  const labels = new Map<string, number>();
  for (const [k, v] of result.cur) labels.set(k, Number(v.v));
  return { ok: true, bytes: Uint8Array.from(result.bytes), origin: Number(origin), labels, listing: result.listing };
}

function runPass(parsed: Parsed, origin: bigint, startBits: 32 | 64, prev: Map<string, SymVal>, nearJumps: Set<number>) {
  const cur = new Map<string, SymVal>();
  const bytes: number[] = [];
  const listing: AsmListing[] = [];
  const errors: AsmError[] = [];
  let bits = startBits;
  let defaultRel = false;
  const env: PassEnv = { cur, prev, kinds: parsed.kinds, here: origin, origin };
  parsed.stmts.forEach((st, si) => {
    const start = bytes.length;
    env.here = origin + BigInt(start);
    try {
      if (st.body.k === 'equ') {
        if (st.label) {
          const v = evaluate(st.body.expr, env);
          cur.set(st.label.name, { v: v.v, rel: v.rel });
        }
        return;
      }
      if (st.label) cur.set(st.label.name, { v: env.here, rel: 1 });
      const body = st.body;
      if (body.k === 'bits') {
        bits = body.bits;
        return;
      }
      if (body.k === 'default') {
        defaultRel = body.rel;
        return;
      }
      let count = 1n;
      if (st.times) {
        const t = evaluate(st.times.expr, env);
        if (t.rel !== 0) throw new EvalError(st.times.col, 'times needs a number, not a label address (try label - $$)');
        if (t.v < 0n) throw new EvalError(st.times.col, `times count ${t.v} is negative`);
        // Each repetition is assembled on its own: a cap keeps a typo from stalling the lab.
        if (t.v > MAX_TIMES) throw new EvalError(st.times.col, `times count ${t.v} is too large: expected at most ${MAX_TIMES}`);
        count = t.unknown ? 0n : t.v;
      }
      for (let rep = 0n; rep < count; rep++) {
        env.here = origin + BigInt(bytes.length);
        emit(body, si, st);
      }
      if (bytes.length > start) listing.push({ offset: start, line: st.line, length: bytes.length - start });
    } catch (e) {
      bytes.length = start;
      if (e instanceof EvalError || e instanceof EncodeError) errors.push({ line: st.line, column: e.col, message: e.message });
      else throw e;
    }
  });

  function emit(body: Body, si: number, st: Stmt): void {
    switch (body.k) {
      case 'none':
        return;
      case 'data':
        for (const it of body.items) {
          if (it.k === 'bytes') {
            const b = [...it.b];
            while (b.length % body.unit !== 0) b.push(0);
            bytes.push(...b);
            continue;
          }
          const v = evaluate(it.e, env);
          const bitsN = BigInt(body.unit * 8);
          if (!v.unknown && body.unit < 8 && (v.v < -(1n << bitsN) || v.v >= 1n << bitsN)) {
            throw new EvalError(it.e.col, `value ${hex(v.v)} does not fit in ${body.unit * 8} bits`);
          }
          bytes.push(...le(v.v, body.unit));
        }
        return;
      case 'res': {
        const v = evaluate(body.expr, env);
        if (v.rel !== 0 || v.v < 0n || v.v > 1n << 24n) throw new EvalError(body.col, 'expected a non-negative count');
        for (let i = 0n; i < v.v * BigInt(body.unit); i++) bytes.push(0);
        return;
      }
      case 'align': {
        const v = evaluate(body.expr, env);
        if (v.rel !== 0 || v.v <= 0n || (v.v & (v.v - 1n)) !== 0n) throw new EvalError(body.col, 'align needs a power of two');
        const off = env.here - origin;
        const pad = (v.v - (off % v.v)) % v.v;
        for (let i = 0n; i < pad; i++) bytes.push(0x90);
        return;
      }
      case 'insn': {
        const ops = body.ops.map((o) => resolveOperand(o, env, bits, defaultRel));
        const r = encodeInstruction(body.mnem, ops, { bits, here: env.here, prefixes: body.prefixes, forceNear: nearJumps.has(si), mnemCol: body.col });
        if (r.near) nearJumps.add(si);
        bytes.push(...r.bytes);
        return;
      }
      case 'bits':
      case 'default':
      case 'equ':
        void st;
        return;
    }
  }
  return { bytes, listing, errors, cur };
}
