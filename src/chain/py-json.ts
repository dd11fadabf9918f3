/** Python's `json.loads`, exactly: what the reference tries first on a `<payoff>` block. */
import { intDigitsMessage, PY_INT_MAX_STR_DIGITS } from './py-int-limit.js';
import {
  catchSyntax,
  fail,
  isDigit,
  MAX_DEPTH,
  newDict,
  type ParseValueResult,
  type PyDict,
  type PyValue,
} from './py-value.js';

/**
 * Parses `text` as Python's `json.loads` would (default, strict mode): standard JSON plus the constants
 * NaN, Infinity and -Infinity; duplicate keys keep the last value; raw control characters inside strings
 * are errors; only space, tab, LF and CR count as whitespace around tokens.
 */
export function parsePythonJson(text: string): ParseValueResult {
  return catchSyntax(() => new JsonReader(text).document());
}

class JsonReader {
  private pos = 0;
  constructor(private readonly s: string) {}

  document(): PyValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.pos < this.s.length) fail('extra data after the JSON value', this.pos);
    return v;
  }

  private ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  private value(depth: number): PyValue {
    if (depth > MAX_DEPTH) fail('JSON nested too deeply', this.pos);
    const s = this.s;
    const c = s.charCodeAt(this.pos);
    if (c === 123) return this.object(depth);
    if (c === 91) return this.array(depth);
    if (c === 34) return this.string();
    if (c === 45 || isDigit(c)) {
      if (c === 45 && s.startsWith('Infinity', this.pos + 1)) {
        this.pos += 9;
        return Number.NEGATIVE_INFINITY;
      }
      return this.number();
    }
    for (const [word, v] of JSON_WORDS) {
      if (s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return fail('expecting a JSON value', this.pos);
  }

  private object(depth: number): PyDict {
    const s = this.s;
    const out = newDict();
    this.pos++;
    this.ws();
    if (s.charCodeAt(this.pos) === 125) {
      this.pos++;
      return out;
    }
    for (;;) {
      if (s.charCodeAt(this.pos) !== 34) fail('expecting a property name in double quotes', this.pos);
      const key = this.string();
      this.ws();
      if (s.charCodeAt(this.pos) !== 58) fail("expecting ':' after a property name", this.pos);
      this.pos++;
      this.ws();
      out[key] = this.value(depth + 1);
      this.ws();
      const c = s.charCodeAt(this.pos);
      if (c === 125) {
        this.pos++;
        return out;
      }
      if (c !== 44) fail("expecting ',' or '}' in an object", this.pos);
      this.pos++;
      this.ws();
    }
  }

  private array(depth: number): PyValue[] {
    const s = this.s;
    const out: PyValue[] = [];
    this.pos++;
    this.ws();
    if (s.charCodeAt(this.pos) === 93) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = s.charCodeAt(this.pos);
      if (c === 93) {
        this.pos++;
        return out;
      }
      if (c !== 44) fail("expecting ',' or ']' in an array", this.pos);
      this.pos++;
      this.ws();
    }
  }

  private string(): string {
    const s = this.s;
    const start = this.pos;
    this.pos++;
    let out = '';
    let chunk = this.pos;
    for (;;) {
      if (this.pos >= s.length) fail('unterminated string', start);
      const c = s.charCodeAt(this.pos);
      if (c === 34) {
        out += s.slice(chunk, this.pos);
        this.pos++;
        return out;
      }
      if (c < 0x20) fail('invalid control character in a string', this.pos);
      if (c !== 92) {
        this.pos++;
        continue;
      }
      out += s.slice(chunk, this.pos);
      const e = s.charCodeAt(this.pos + 1);
      const simple = JSON_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.pos += 2;
      } else if (e === 117) {
        const hex = s.slice(this.pos + 2, this.pos + 6);
        if (hex.length !== 4 || !/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\uXXXX escape', this.pos);
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.pos += 6;
      } else {
        fail('invalid \\escape', this.pos);
      }
      chunk = this.pos;
    }
  }

  private number(): number {
    const s = this.s;
    const start = this.pos;
    let p = start;
    if (s.charCodeAt(p) === 45) p++;
    if (s.charCodeAt(p) === 48) p++;
    else if (isDigit(s.charCodeAt(p))) while (isDigit(s.charCodeAt(p))) p++;
    else fail('expecting a JSON value', start);
    let isInt = true;
    if (s.charCodeAt(p) === 46 && isDigit(s.charCodeAt(p + 1))) {
      isInt = false;
      p += 2;
      while (isDigit(s.charCodeAt(p))) p++;
    }
    const e = s.charCodeAt(p);
    if (e === 101 || e === 69) {
      let q = p + 1;
      const sign = s.charCodeAt(q);
      if (sign === 43 || sign === 45) q++;
      // Python backs off to the number before the 'e' when no digit follows; the 'e' is then extra.
      if (isDigit(s.charCodeAt(q))) {
        isInt = false;
        while (isDigit(s.charCodeAt(q))) q++;
        p = q;
      }
    }
    if (isInt) {
      const digits = p - start - (s.charCodeAt(start) === 45 ? 1 : 0);
      if (digits > PY_INT_MAX_STR_DIGITS) fail(intDigitsMessage(digits), start);
    }
    this.pos = p;
    const v = Number(s.slice(start, p));
    // A Python int has no negative zero.
    return isInt && v === 0 ? 0 : v;
  }
}

const JSON_WORDS: ReadonlyArray<readonly [string, PyValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
];

const JSON_ESCAPES = new Map<number, string>([
  [34, '"'],
  [92, '\\'],
  [47, '/'],
  [98, '\b'],
  [102, '\f'],
  [110, '\n'],
  [114, '\r'],
  [116, '\t'],
]);
