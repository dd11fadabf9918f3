/** Python's `ast.literal_eval`, exactly: what the reference falls back to when `json.loads` fails. */

import { intDigitsMessage, PY_INT_MAX_STR_DIGITS } from './py-int-limit.js';
import {
  catchSyntax,
  describeValue,
  fail,
  isDigit,
  isHex,
  MAX_DEPTH,
  NON_STRING_KEYS,
  newDict,
  type ParseValueResult,
  PyOpaque,
  type PyValue,
} from './py-value.js';

/**
 * The syntax tree of a Python expression, restricted to what can appear in a literal. Parsing and
 * conversion are separate, as in Python: `-(1)` is accepted (the parentheses leave no node) while
 * `-(-1)` is not (the operand of a sign must be a number constant).
 */
type Node =
  | { k: 'str'; v: string; pos: number }
  | { k: 'bytes'; v: string; pos: number }
  | { k: 'int' | 'float'; v: number; pos: number }
  | { k: 'complex'; v: string; pos: number }
  | { k: 'bool'; v: boolean; pos: number }
  | { k: 'none' | 'ellipsis' | 'emptyset'; pos: number }
  | { k: 'list' | 'tuple' | 'set'; items: Node[]; pos: number }
  | { k: 'dict'; keys: Node[]; values: Node[]; pos: number }
  | { k: 'unary'; op: '+' | '-'; operand: Node; pos: number }
  | { k: 'binop'; op: '+' | '-'; left: Node; right: Node; pos: number };

/**
 * Parses `text` as Python's `ast.literal_eval` would: dicts, lists, tuples, sets (and `set()`), strings
 * with every quoting style, escapes, r/u/b prefixes and implicit concatenation, ints (decimal, hex, octal,
 * binary, with `_` separators), floats, imaginary numbers, True/False/None, `...`, one unary sign on a
 * number, `real ± imaginary`, comments, line continuations and newlines inside brackets.
 * Tuples come back as arrays; sets, bytes, complex numbers and Ellipsis as {@link PyOpaque}.
 * Not supported: `\N{name}` escapes (no Unicode name table), reported as a syntax error.
 */
export function parsePythonLiteral(text: string): ParseValueResult {
  return catchSyntax(() => {
    // literal_eval strips leading spaces and tabs only; the tokenizer then rejects NUL anywhere.
    const nul = text.indexOf('\0');
    if (nul >= 0) fail('source cannot contain a null character', nul);
    const reader = new LiteralReader(text);
    return convert(reader.document());
  });
}

/** How much of an unknown name an error message repeats. */
const MAX_NAME_SHOWN = 40;

const STRING_PREFIXES = new Set(['r', 'u', 'b', 'br', 'rb', 'f', 'fr', 'rf']);

const SIMPLE_ESCAPES = new Map<number, string>([
  [92, '\\'],
  [39, "'"],
  [34, '"'],
  [97, '\x07'],
  [98, '\b'],
  [102, '\f'],
  [110, '\n'],
  [114, '\r'],
  [116, '\t'],
  [118, '\v'],
]);

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}

function isNewline(c: number): boolean {
  return c === 10 || c === 13;
}

class LiteralReader {
  private pos = 0;
  private readonly len: number;
  constructor(private readonly s: string) {
    this.len = s.length;
  }

  document(): Node {
    const s = this.s;
    let p = 0;
    // literal_eval removes leading spaces and tabs; after that, blank and comment-only lines may precede
    // the expression, whose first line must not be indented (a form feed resets the indentation).
    while (p < this.len && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 9)) p++;
    let indented = false;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === 32 || c === 9) {
        indented = true;
        p++;
      } else if (c === 12) {
        indented = false;
        p++;
      } else if (c === 35) {
        while (p < this.len && !isNewline(s.charCodeAt(p))) p++;
      } else if (isNewline(c)) {
        p += c === 13 && s.charCodeAt(p + 1) === 10 ? 2 : 1;
        indented = false;
      } else break;
    }
    if (p >= this.len) fail('unexpected end of input: no expression', p);
    if (indented) fail('unexpected indent', p);
    this.pos = p;
    const node = this.exprList(0, this.pos);
    this.skip(0);
    // After the expression: only the end of the logical line, then blank or comment-only lines.
    while (this.pos < this.len) {
      const c = s.charCodeAt(this.pos);
      if (isNewline(c) || c === 32 || c === 9 || c === 12) this.pos++;
      else if (c === 35) while (this.pos < this.len && !isNewline(s.charCodeAt(this.pos))) this.pos++;
      else fail('unexpected text after the expression', this.pos);
    }
    return node;
  }

  /**
   * Skips spaces, tabs, form feeds, comments and line continuations. Inside brackets newlines are
   * skipped too; at depth 0 a newline ends the logical line, so skipping stops there.
   */
  private skip(depth: number): void {
    const s = this.s;
    while (this.pos < this.len) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 12) this.pos++;
      else if (c === 35) {
        while (this.pos < this.len && !isNewline(s.charCodeAt(this.pos))) this.pos++;
      } else if (c === 92) {
        const n = s.charCodeAt(this.pos + 1);
        if (!isNewline(n)) fail('unexpected character after line continuation', this.pos);
        const at = this.pos;
        this.pos += n === 13 && s.charCodeAt(this.pos + 2) === 10 ? 3 : 2;
        if (this.pos >= this.len) fail('unexpected end of input after line continuation', at);
      } else if (isNewline(c) && depth > 0) this.pos++;
      else return;
    }
  }

  private peek(): number {
    return this.pos < this.len ? this.s.charCodeAt(this.pos) : -1;
  }

  /** A comma-separated list at the top level: more than one item (or a trailing comma) is a tuple. */
  private exprList(depth: number, pos: number): Node {
    const first = this.expr(depth);
    this.skip(depth);
    if (this.peek() !== 44) return first;
    const items = [first];
    while (this.peek() === 44) {
      this.pos++;
      this.skip(depth);
      if (this.atItemEnd()) break;
      items.push(this.expr(depth));
      this.skip(depth);
    }
    return { k: 'tuple', items, pos };
  }

  /** True where an optional item is absent: end of input, end of line, or a closing bracket. */
  private atItemEnd(): boolean {
    const c = this.peek();
    return c === -1 || isNewline(c) || c === 41 || c === 93 || c === 125;
  }

  /** `a + b` / `a - b` chains of unary terms; every other operator is outside the literal subset. */
  private expr(depth: number): Node {
    let left = this.unary(depth);
    for (;;) {
      this.skip(depth);
      const c = this.peek();
      if (c === 43 || c === 45) {
        const pos = this.pos;
        this.pos++;
        const right = this.unary(depth);
        left = { k: 'binop', op: c === 43 ? '+' : '-', left, right, pos };
        continue;
      }
      if (c !== -1 && '*/%@<>=!&|^~.[('.includes(String.fromCharCode(c))) {
        fail(`operator or trailer '${String.fromCharCode(c)}' is not allowed in a literal`, this.pos);
      }
      if (isIdentStart(c)) fail('unexpected name: not allowed in a literal', this.pos);
      return left;
    }
  }

  private unary(depth: number): Node {
    // Signs are read in a loop, not by recursion, so a long run of them cannot exhaust the stack.
    const signs: { op: '+' | '-'; pos: number }[] = [];
    for (;;) {
      this.skip(depth);
      const c = this.peek();
      if (c !== 43 && c !== 45) break;
      if (signs.length >= MAX_DEPTH) fail('too many signs in a row', this.pos);
      signs.push({ op: c === 43 ? '+' : '-', pos: this.pos });
      this.pos++;
    }
    let node = this.atom(depth);
    for (let i = signs.length - 1; i >= 0; i--) {
      const { op, pos } = signs[i]!;
      node = { k: 'unary', op, operand: node, pos };
    }
    return node;
  }

  private atom(depth: number): Node {
    if (depth > MAX_DEPTH) fail('expression nested too deeply', this.pos);
    const s = this.s;
    const pos = this.pos;
    const c = this.peek();
    if (c === -1) fail('unexpected end of input: expecting a value', pos);
    if (isNewline(c)) fail('unexpected end of line: expecting a value', pos);
    if (c === 40) return this.parenthesized(depth);
    if (c === 91) return this.list(depth);
    if (c === 123) return this.braces(depth);
    if (c === 39 || c === 34) return this.strings(depth);
    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(pos + 1)))) return this.number();
    if (c === 46 && s.startsWith('...', pos)) {
      this.pos += 3;
      return { k: 'ellipsis', pos };
    }
    if (isIdentStart(c)) {
      let p = pos + 1;
      while (p < this.len && isIdentPart(s.charCodeAt(p))) p++;
      const word = s.slice(pos, p);
      const next = s.charCodeAt(p);
      if ((next === 39 || next === 34) && STRING_PREFIXES.has(word.toLowerCase())) return this.strings(depth);
      this.pos = p;
      if (word === 'True' || word === 'False') return { k: 'bool', v: word === 'True', pos };
      if (word === 'None') return { k: 'none', pos };
      if (word === 'set') {
        this.skip(depth);
        if (this.peek() === 40) {
          this.pos++;
          this.skip(depth + 1);
          if (this.peek() === 41) {
            this.pos++;
            return { k: 'emptyset', pos };
          }
        }
        fail('only the call set() is allowed in a literal', pos);
      }
      // The position locates the name; a megabyte-long one is not repeated whole in the message.
      const shown = word.length > MAX_NAME_SHOWN ? `${word.slice(0, MAX_NAME_SHOWN)}…` : word;
      return fail(`name '${shown}' is not a literal`, pos);
    }
    return fail(`unexpected character '${String.fromCodePoint(s.codePointAt(pos) ?? c)}'`, pos);
  }

  private parenthesized(depth: number): Node {
    const pos = this.pos;
    this.pos++;
    const inner = depth + 1;
    this.skip(inner);
    if (this.peek() === 41) {
      this.pos++;
      return { k: 'tuple', items: [], pos };
    }
    const first = this.expr(inner);
    this.skip(inner);
    if (this.peek() === 41) {
      this.pos++;
      return first;
    }
    const items = [first];
    this.commaItems(inner, 41, items);
    return { k: 'tuple', items, pos };
  }

  private list(depth: number): Node {
    const pos = this.pos;
    this.pos++;
    const inner = depth + 1;
    this.skip(inner);
    const items: Node[] = [];
    if (this.peek() === 93) {
      this.pos++;
      return { k: 'list', items, pos };
    }
    items.push(this.expr(inner));
    this.commaItems(inner, 93, items);
    return { k: 'list', items, pos };
  }

  /** After a first item: `(, item)* [,] close`. */
  private commaItems(depth: number, close: number, items: Node[]): void {
    for (;;) {
      this.skip(depth);
      const c = this.peek();
      if (c === close) {
        this.pos++;
        return;
      }
      if (c !== 44) fail(`expecting ',' or '${String.fromCharCode(close)}'`, this.pos);
      this.pos++;
      this.skip(depth);
      if (this.peek() === close) {
        this.pos++;
        return;
      }
      items.push(this.expr(depth));
    }
  }

  private braces(depth: number): Node {
    const pos = this.pos;
    this.pos++;
    const inner = depth + 1;
    this.skip(inner);
    if (this.peek() === 125) {
      this.pos++;
      return { k: 'dict', keys: [], values: [], pos };
    }
    if (this.s.startsWith('**', this.pos)) fail('dict unpacking is not allowed in a literal', this.pos);
    const first = this.expr(inner);
    this.skip(inner);
    if (this.peek() !== 58) {
      const items = [first];
      this.commaItems(inner, 125, items);
      return { k: 'set', items, pos };
    }
    const keys = [first];
    const values: Node[] = [];
    this.pos++;
    values.push(this.expr(inner));
    for (;;) {
      this.skip(inner);
      const c = this.peek();
      if (c === 125) {
        this.pos++;
        return { k: 'dict', keys, values, pos };
      }
      if (c !== 44) fail("expecting ',' or '}' in a dict", this.pos);
      this.pos++;
      this.skip(inner);
      if (this.peek() === 125) {
        this.pos++;
        return { k: 'dict', keys, values, pos };
      }
      if (this.s.startsWith('**', this.pos)) fail('dict unpacking is not allowed in a literal', this.pos);
      keys.push(this.expr(inner));
      this.skip(inner);
      if (this.peek() !== 58) fail("expecting ':' after a dict key", this.pos);
      this.pos++;
      values.push(this.expr(inner));
    }
  }

  /** One or more adjacent string literals, concatenated; str and bytes cannot mix. */
  private strings(depth: number): Node {
    const pos = this.pos;
    let text = '';
    let kind: 'str' | 'bytes' | undefined;
    for (;;) {
      const part = this.stringLiteral();
      if (kind !== undefined && kind !== part.kind) fail('cannot mix bytes and str literals', part.pos);
      kind = part.kind;
      text += part.value;
      this.skip(depth);
      const c = this.peek();
      if (c === 39 || c === 34) continue;
      if (isIdentStart(c)) {
        let p = this.pos;
        while (p < this.len && isIdentPart(this.s.charCodeAt(p))) p++;
        const q = this.s.charCodeAt(p);
        if ((q === 39 || q === 34) && STRING_PREFIXES.has(this.s.slice(this.pos, p).toLowerCase())) continue;
      }
      break;
    }
    return kind === 'bytes' ? { k: 'bytes', v: text, pos } : { k: 'str', v: text, pos };
  }

  private stringLiteral(): { kind: 'str' | 'bytes'; value: string; pos: number } {
    const s = this.s;
    const pos = this.pos;
    let p = pos;
    while (isIdentStart(s.charCodeAt(p))) p++;
    const prefix = s.slice(pos, p).toLowerCase();
    if (prefix.includes('f')) fail('f-strings are not literals', pos);
    const raw = prefix.includes('r');
    const bytes = prefix.includes('b');
    const q = s.charCodeAt(p);
    const triple = s.charCodeAt(p + 1) === q && s.charCodeAt(p + 2) === q;
    p += triple ? 3 : 1;
    let out = '';
    let chunk = p;
    for (;;) {
      if (p >= this.len) fail('unterminated string literal', pos);
      const c = s.charCodeAt(p);
      if (c === q && (!triple || (s.charCodeAt(p + 1) === q && s.charCodeAt(p + 2) === q))) {
        out += s.slice(chunk, p);
        this.pos = p + (triple ? 3 : 1);
        return { kind: bytes ? 'bytes' : 'str', value: out, pos };
      }
      if (bytes && c > 127) fail('bytes can only contain ASCII literal characters', p);
      if (isNewline(c)) {
        if (!triple) fail('unterminated string literal (newline inside single quotes)', pos);
        // Universal newlines: \r\n and \r read as \n.
        out += `${s.slice(chunk, p)}\n`;
        p += c === 13 && s.charCodeAt(p + 1) === 10 ? 2 : 1;
        chunk = p;
        continue;
      }
      if (c !== 92) {
        p++;
        continue;
      }
      // A backslash.
      out += s.slice(chunk, p);
      const e = s.charCodeAt(p + 1);
      if (p + 1 >= this.len) fail('unterminated string literal', pos);
      if (isNewline(e)) {
        const skip = e === 13 && s.charCodeAt(p + 2) === 10 ? 3 : 2;
        if (raw) out += '\\\n';
        p += skip;
        chunk = p;
        continue;
      }
      if (raw) {
        // In a raw string the backslash stays and the next character cannot end the string.
        out += s.slice(p, p + 2);
        p += 2;
        chunk = p;
        continue;
      }
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        p += 2;
      } else if (e >= 48 && e <= 55) {
        let q2 = p + 1;
        let code = 0;
        while (q2 < p + 4 && s.charCodeAt(q2) >= 48 && s.charCodeAt(q2) <= 55) {
          code = code * 8 + (s.charCodeAt(q2) - 48);
          q2++;
        }
        out += String.fromCharCode(code);
        p = q2;
      } else if (e === 120 || (!bytes && (e === 117 || e === 85))) {
        const n = e === 120 ? 2 : e === 117 ? 4 : 8;
        for (let i = 0; i < n; i++) {
          if (!isHex(s.charCodeAt(p + 2 + i))) fail(`truncated \\${String.fromCharCode(e)} escape`, p);
        }
        const code = Number.parseInt(s.slice(p + 2, p + 2 + n), 16);
        if (code > 0x10ffff) fail('illegal Unicode character in \\U escape', p);
        out += code <= 0xffff ? String.fromCharCode(code) : String.fromCodePoint(code);
        p += 2 + n;
      } else if (e === 78 && !bytes) {
        fail('\\N{...} escapes are not supported', p);
      } else {
        // Unknown escapes keep the backslash (Python only warns).
        out += s.slice(p, p + 2);
        p += 2;
      }
      chunk = p;
    }
  }

  private number(): Node {
    const s = this.s;
    const pos = this.pos;
    let p = pos;
    const c1 = s.charCodeAt(p + 1) | 0x20;
    if (s.charCodeAt(p) === 48 && (c1 === 120 || c1 === 111 || c1 === 98)) {
      const radix = c1 === 120 ? 16 : c1 === 111 ? 8 : 2;
      const digitOk = (c: number) =>
        radix === 16 ? isHex(c) : radix === 8 ? c >= 48 && c <= 55 : c === 48 || c === 49;
      p += 2;
      const first = p;
      for (;;) {
        if (s.charCodeAt(p) === 95) p++;
        if (!digitOk(s.charCodeAt(p))) fail('invalid digit in a number literal', p);
        p++;
        const n = s.charCodeAt(p);
        if (!(digitOk(n) || (n === 95 && digitOk(s.charCodeAt(p + 1))))) break;
      }
      this.endOfNumber(p);
      // One slice, not a string built digit by digit: that is slow on a megabyte of digits.
      const digits = s.slice(first, p).replaceAll('_', '');
      const v = Number(BigInt(`0${String.fromCharCode(c1)}${digits}`));
      return { k: 'int', v, pos };
    }
    const intStart = p;
    p = this.digitPart(p);
    const intDigits = s.slice(intStart, p);
    let isFloat = false;
    if (s.charCodeAt(p) === 46) {
      isFloat = true;
      p = this.digitPart(p + 1);
    }
    const e = s.charCodeAt(p) | 0x20;
    if (e === 101) {
      isFloat = true;
      let q = p + 1;
      if (s.charCodeAt(q) === 43 || s.charCodeAt(q) === 45) q++;
      if (!isDigit(s.charCodeAt(q))) fail('invalid decimal literal: exponent without digits', p);
      p = this.digitPart(q);
    }
    const body = s.slice(pos, p).replaceAll('_', '');
    if ((s.charCodeAt(p) | 0x20) === 106) {
      this.endOfNumber(p + 1);
      return { k: 'complex', v: `${body}j`, pos };
    }
    this.endOfNumber(p);
    if (isFloat) return { k: 'float', v: Number(body), pos };
    if (intDigits.length > 1 && intDigits[0] === '0' && /[1-9]/.test(intDigits)) {
      fail('leading zeros in decimal integer literals are not permitted', pos);
    }
    // `body` is the digits without underscores, which is what Python counts; zeros only are read as 0.
    if (body.length > PY_INT_MAX_STR_DIGITS && /[1-9]/.test(body)) fail(intDigitsMessage(body.length), pos);
    return { k: 'int', v: Number(body), pos };
  }

  /** `digit (_? digit)*`, possibly empty; returns the end offset. */
  private digitPart(p: number): number {
    const s = this.s;
    while (isDigit(s.charCodeAt(p))) {
      p++;
      if (s.charCodeAt(p) === 95 && isDigit(s.charCodeAt(p + 1))) p++;
    }
    return p;
  }

  private endOfNumber(p: number): void {
    const c = this.s.charCodeAt(p);
    if (isIdentPart(c) || c === 46) fail('invalid number literal', p);
    this.pos = p;
  }
}

const UNHASHABLE = new Set<Node['k']>(['list', 'dict', 'set', 'emptyset']);

function hashable(node: Node): boolean {
  if (UNHASHABLE.has(node.k)) return false;
  if (node.k === 'tuple') return node.items.every(hashable);
  return true;
}

/** The number a node stands for when literal_eval accepts it as a (possibly signed) number. */
function signedNumber(node: Node): { k: 'int' | 'float' | 'complex'; v: number | string } | undefined {
  if (node.k === 'int' || node.k === 'float' || node.k === 'complex') return node;
  if (node.k === 'unary') {
    const o = node.operand;
    // A Python int has no negative zero; a float keeps its sign.
    if (o.k === 'int') return { k: 'int', v: node.op === '-' ? -o.v || 0 : o.v };
    if (o.k === 'float') return { k: 'float', v: node.op === '-' ? -o.v : o.v };
    if (o.k === 'complex') return { k: 'complex', v: node.op === '-' ? `-(${o.v})` : o.v };
  }
  return undefined;
}

/** literal_eval's conversion of a parsed tree into a value, with its exact acceptance rules. */
function convert(node: Node): PyValue {
  switch (node.k) {
    case 'str':
      return node.v;
    case 'int':
    case 'float':
      return node.v;
    case 'bool':
      return node.v;
    case 'none':
      return null;
    case 'bytes':
      return new PyOpaque('bytes', `b${JSON.stringify(node.v)}`);
    case 'complex':
      return new PyOpaque('complex', node.v);
    case 'ellipsis':
      return new PyOpaque('ellipsis', 'Ellipsis');
    case 'emptyset':
      return new PyOpaque('set', 'set()');
    case 'list':
    case 'tuple':
      return node.items.map(convert);
    case 'set': {
      for (const item of node.items) if (!hashable(item)) fail('unhashable set element', item.pos);
      node.items.forEach(convert);
      return new PyOpaque('set', `set of ${node.items.length}`);
    }
    case 'dict': {
      const out = newDict();
      node.keys.forEach((keyNode, i) => {
        if (!hashable(keyNode)) fail('unhashable dict key', keyNode.pos);
        const key = convert(keyNode);
        const value = convert(node.values[i] as Node);
        if (typeof key === 'string') out[key] = value;
        else {
          const list = out[NON_STRING_KEYS] ?? [];
          list.push(describeValue(key));
          out[NON_STRING_KEYS] = list;
        }
      });
      return out;
    }
    case 'unary': {
      const n = signedNumber(node);
      if (n === undefined) fail('a sign may only apply to a number constant', node.pos);
      return n.k === 'complex' ? new PyOpaque('complex', String(n.v)) : (n.v as number);
    }
    case 'binop': {
      const left = signedNumber(node.left);
      const right = node.right;
      if (left === undefined || left.k === 'complex' || right.k !== 'complex') {
        fail("'+' and '-' are only allowed between a real and an imaginary number", node.pos);
      }
      return new PyOpaque('complex', `${left.v}${node.op}${right.v}`);
    }
  }
}
