/**
 * A large JSON body parsed piece by piece: the top-level object's members, and each element of a top-level
 * array member (a reward batch's samples), are decoded and parsed on their own.
 *
 * Why: `JSON.parse` needs the body as one string, and a string over V8's regular object size (~128 KiB)
 * gets fresh pages of its own, which on this class of VM cost a page fault per 4 KiB on first touch: for a
 * 1.2 MB batch of samples with non-ASCII text, decoding it into one 2.4 MB string took ~8 ms, about a third
 * of the reward server's time per batch. Pieces of a few KiB are made in the young generation's warm pages.
 *
 * Exactness: only the structure between pieces is read here (braces, brackets, commas, colons, JSON
 * whitespace, and where strings end); every piece is parsed by `JSON.parse`, and members are set as it
 * sets them (a repeated key keeps its first place and takes its last value; `__proto__` is an own key).
 * Anything else (a body that is not an object, a structural error, a piece `JSON.parse` refuses) returns
 * {@link NOT_PIECEWISE}, and the caller parses the whole body as usual, which gives the usual error.
 */

/** Returned when the body is not read piece by piece: parse it whole. */
export const NOT_PIECEWISE: unique symbol = Symbol('not piecewise');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** JSON's four whitespace bytes. */
const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** The body's structure is not what is read piece by piece here. */
class Irregular extends Error {}

/** Parses `bytes` (UTF-8) as `JSON.parse` would, or returns {@link NOT_PIECEWISE}. Never throws. */
export function parseJsonPieces(bytes: Buffer): unknown {
  try {
    return new PieceReader(bytes).document();
  } catch {
    // Whatever went wrong (a structural surprise, a piece JSON.parse refuses, nesting too deep for it),
    // the whole-body parse gives the answer, and the error, the route always gave.
    return NOT_PIECEWISE;
  }
}

/**
 * Pieces are worth it when they are large: past the first few, more than one a this many bytes of body
 * (a body of tiny elements, as a hostile client might send) is parsed whole, which is then faster.
 */
const BYTES_PER_PIECE = 256;
const FREE_PIECES = 64;

class PieceReader {
  private at = 0;
  private pieces = 0;
  constructor(private readonly b: Buffer) {}

  document(): unknown {
    this.space();
    this.expect(OPEN_BRACE);
    // As JSON.parse makes it: an ordinary object whose members are own data properties.
    const out: Record<string, unknown> = {};
    this.space();
    if (this.b[this.at] === CLOSE_BRACE) this.at++;
    else {
      for (;;) {
        this.space();
        if (this.b[this.at] !== QUOTE) throw new Irregular();
        const keyStart = this.at;
        this.at = this.stringEnd(this.at);
        const key = JSON.parse(this.b.toString('utf8', keyStart, this.at)) as string;
        this.space();
        this.expect(COLON);
        this.space();
        const value = this.b[this.at] === OPEN_BRACKET ? this.array() : this.piece();
        Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
        this.space();
        if (this.b[this.at] === COMMA) {
          this.at++;
          continue;
        }
        this.expect(CLOSE_BRACE);
        break;
      }
    }
    this.space();
    if (this.at !== this.b.length) throw new Irregular();
    return out;
  }

  private array(): unknown[] {
    this.at++; // [
    const out: unknown[] = [];
    this.space();
    if (this.b[this.at] === CLOSE_BRACKET) {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      out.push(this.piece());
      this.space();
      if (this.b[this.at] === COMMA) {
        this.at++;
        continue;
      }
      this.expect(CLOSE_BRACKET);
      return out;
    }
  }

  /** One value, from here to its end, parsed by JSON.parse. */
  private piece(): unknown {
    if (++this.pieces > FREE_PIECES && this.pieces * BYTES_PER_PIECE > this.b.length) throw new Irregular();
    const start = this.at;
    this.at = this.valueEnd(start);
    if (this.at === start) throw new Irregular();
    return JSON.parse(this.b.toString('utf8', start, this.at));
  }

  /** Where the value starting at `i` ends: its closing bracket or quote, or before a delimiter. */
  private valueEnd(i: number): number {
    const b = this.b;
    const first = b[i];
    if (first === QUOTE) return this.stringEnd(i);
    if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
      // A number or a literal: up to the next delimiter; JSON.parse judges what it is.
      let j = i;
      while (j < b.length) {
        const c = b[j]!;
        if (c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE || isSpace(c)) break;
        j++;
      }
      return j;
    }
    let depth = 0;
    for (let j = i; j < b.length; j++) {
      const c = b[j]!;
      if (c === QUOTE) j = this.stringEnd(j) - 1;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Irregular();
  }

  /**
   * The index after the closing quote of the string opening at `i`: the first `"` after an even run of
   * backslashes (UTF-8 never puts either byte inside a multi-byte sequence). Found with the native search,
   * since strings are most of a body's bytes.
   */
  private stringEnd(i: number): number {
    const b = this.b;
    let from = i + 1;
    for (;;) {
      const quote = b.indexOf(QUOTE, from);
      if (quote < 0) throw new Irregular();
      let k = quote - 1;
      while (k > i && b[k] === BACKSLASH) k--;
      if (((quote - 1 - k) & 1) === 0) return quote + 1;
      from = quote + 1;
    }
  }

  private space(): void {
    while (this.at < this.b.length && isSpace(this.b[this.at]!)) this.at++;
  }

  private expect(byte: number): void {
    if (this.b[this.at] !== byte) throw new Irregular();
    this.at++;
  }
}
