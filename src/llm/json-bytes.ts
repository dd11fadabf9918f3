/**
 * JSON written straight to UTF-8 bytes: byte for byte `Buffer.from(JSON.stringify(value))`. A judge sends
 * thousands of requests a second, each a few KiB of text. `JSON.stringify` builds its result from pieces
 * (a rope, which encoding then flattens): three copies of every request on the JS heap, and the garbage
 * collector's time grows with them. Here each string is encoded once into a reused buffer and escaped
 * while copied, and only the finished request is allocated, outside the JS heap. A long string met again
 * (a system prompt, a judge's rubric) is escaped once and its bytes kept.
 *
 * Plain objects, arrays, strings, numbers, booleans and null are written here, `toJSON` called as
 * JSON.stringify calls it; any other object (a Number or String object, a Map, a typed array) and a BigInt
 * are handed to `JSON.stringify`. So the bytes are always its bytes.
 */

/** `String.prototype.isWellFormed` (Node 20, ES2024; not in the ES2023 lib this project compiles with). */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** The escape of each byte below 0x20, as JSON.stringify writes it (`\n`, or `\u001f` in lower case). */
const CONTROL_ESCAPES: Buffer[] = Array.from({ length: 0x20 }, (_, b) =>
  Buffer.from(JSON.stringify(String.fromCharCode(b)).slice(1, -1), 'latin1'),
);

const PLAIN = 0;
/** A quote or a backslash: a backslash goes before it. */
const ESCAPED_AS_IS = 1;
const CONTROL = 2;
/** 0xEF, the first byte of U+FFFD (see `string`). */
const MAYBE_REPLACEMENT = 3;
/** What each UTF-8 byte needs. The bytes JSON escapes never occur inside a multi-byte sequence. */
const BYTE_KIND = new Uint8Array(256);
BYTE_KIND.fill(CONTROL, 0, 0x20);
BYTE_KIND[QUOTE] = ESCAPED_AS_IS;
BYTE_KIND[BACKSLASH] = ESCAPED_AS_IS;
BYTE_KIND[0xef] = MAYBE_REPLACEMENT;

/** Strings at least this long are remembered, and their bytes kept once met twice. */
const RECURRING_MIN_CHARS = 512;
/** Most strings whose bytes are kept (then forgotten together). */
const MAX_KEPT_TEXTS = 32;
/** Most strings met once that are remembered (then forgotten together). */
const MAX_SEEN_ONCE = 16;
/** Deeper than this, `JSON.stringify` does the work (it also reports a cycle as JSON.stringify does). */
const MAX_DEPTH = 64;

/** A long string met before, and its JSON bytes once it was met twice. */
interface Recurring {
  text: string;
  bytes: Buffer | undefined;
}

/** Long strings by their length. */
interface Texts {
  byLength: Map<number, Recurring[]>;
  count: number;
}

function newTexts(): Texts {
  return { byLength: new Map(), count: 0 };
}

function findText(texts: Texts, s: string): Recurring | undefined {
  const bucket = texts.byLength.get(s.length);
  if (bucket === undefined) return undefined;
  for (const r of bucket) if (r.text === s) return r;
  return undefined;
}

function addText(texts: Texts, r: Recurring): void {
  const bucket = texts.byLength.get(r.text.length);
  if (bucket === undefined) texts.byLength.set(r.text.length, [r]);
  else bucket.push(r);
  texts.count++;
}

function clearTexts(texts: Texts): void {
  texts.byLength.clear();
  texts.count = 0;
}

/** Most object keys whose bytes are kept. */
const MAX_KEYS = 256;
/** Largest buffer kept between two values. */
const MAX_KEPT_BYTES = 1 << 20;

class TooDeep extends Error {}

/** A JSON encoder to bytes, with its buffers reused from one value to the next (one per sender). */
export class JsonByteWriter {
  private buf: Buffer;
  private at = 0;
  /** Where the bytes to escape are in the string being written. */
  private specials = new Int32Array(256);
  /** Long strings met twice or more, with their JSON bytes. */
  private readonly kept = newTexts();
  /** Long strings met once lately. */
  private readonly seenOnce = newTexts();
  /** `"key":` in bytes, by key. */
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly initialBytes = 16 << 10) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /**
   * The bytes of `JSON.stringify(value)`: undefined where it gives undefined, its TypeError where it throws
   * one (a cycle, a BigInt).
   */
  encode(value: unknown): Buffer | undefined {
    this.at = 0;
    try {
      if (!this.value(value, 0, '')) return undefined;
    } catch (err) {
      if (!(err instanceof TooDeep)) throw err;
      const text = JSON.stringify(value);
      return text === undefined ? undefined : Buffer.from(text, 'utf8');
    }
    const bytes = Buffer.from(this.buf.subarray(0, this.at));
    // A huge body once does not keep megabytes for the life of the sender.
    if (this.buf.length > MAX_KEPT_BYTES) this.buf = Buffer.allocUnsafe(this.initialBytes);
    if (this.specials.length > MAX_KEPT_BYTES / 4) this.specials = new Int32Array(256);
    return bytes;
  }

  /**
   * Writes one value (under `key` in its parent, for `toJSON`); false, with nothing written, where
   * JSON.stringify leaves it out (undefined, a function, a symbol).
   */
  private value(value: unknown, depth: number, key: string): boolean {
    let v = value;
    if ((typeof v === 'object' && v !== null) || typeof v === 'bigint') {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, key);
    }
    switch (typeof v) {
      case 'string':
        this.string(v);
        return true;
      case 'number':
        this.ascii(Number.isFinite(v) ? String(v) : 'null');
        return true;
      case 'boolean':
        this.ascii(v ? 'true' : 'false');
        return true;
      case 'object': {
        if (v === null) {
          this.ascii('null');
          return true;
        }
        if (depth >= MAX_DEPTH) throw new TooDeep();
        if (Array.isArray(v)) {
          this.byte(0x5b);
          for (let i = 0; i < v.length; i++) {
            if (i > 0) this.byte(0x2c);
            if (!this.value(v[i], depth + 1, String(i))) this.ascii('null');
          }
          this.byte(0x5d);
          return true;
        }
        const proto: unknown = Object.getPrototypeOf(v);
        if (proto === Object.prototype || proto === null) {
          this.object(v as Record<string, unknown>, depth);
          return true;
        }
        // A Number, String or Boolean object, a Map (written `{}`), a typed array, …
        return this.stringified(v);
      }
      default:
        // undefined, a function or a symbol (left out), a BigInt (a TypeError): as JSON.stringify does.
        return this.stringified(v);
    }
  }

  private object(o: Record<string, unknown>, depth: number): void {
    this.byte(0x7b);
    let first = true;
    for (const key of Object.keys(o)) {
      const v = o[key];
      const at = this.at;
      if (!first) this.byte(0x2c);
      this.key(key);
      // Left out by JSON.stringify (undefined, a function, a symbol): the key goes too.
      if (this.value(v, depth + 1, key)) first = false;
      else this.at = at;
    }
    this.byte(0x7d);
  }

  /** A value JSON.stringify writes itself (or leaves out: false). */
  private stringified(v: unknown): boolean {
    const text = JSON.stringify(v);
    if (text === undefined) return false;
    this.room(text.length * 3);
    this.at += this.buf.write(text, this.at, 'utf8');
    return true;
  }

  private key(key: string): void {
    let bytes = this.keys.get(key);
    if (bytes === undefined) {
      bytes = Buffer.from(`${JSON.stringify(key)}:`, 'utf8');
      if (this.keys.size >= MAX_KEYS) this.keys.clear();
      this.keys.set(key, bytes);
    }
    this.bytes(bytes);
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  private ascii(text: string): void {
    this.room(text.length);
    this.at += this.buf.write(text, this.at, 'latin1');
  }

  private bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** A string literal, quotes included; a long one met before from the bytes kept. */
  private string(s: string): void {
    if (s.length < RECURRING_MIN_CHARS) {
      this.escaped(s);
      return;
    }
    // Found by length, then compared: hashing would read the whole text of every request.
    const kept = findText(this.kept, s);
    if (kept !== undefined) {
      this.bytes(kept.bytes!);
      return;
    }
    const start = this.at;
    this.escaped(s);
    const seen = findText(this.seenOnce, s);
    if (seen !== undefined) {
      seen.bytes = Buffer.from(this.buf.subarray(start, this.at));
      if (this.kept.count >= MAX_KEPT_TEXTS) clearTexts(this.kept);
      addText(this.kept, seen);
    } else {
      // Few: a text met once is held only until a few other long texts have come (each request has one).
      if (this.seenOnce.count >= MAX_SEEN_ONCE) clearTexts(this.seenOnce);
      addText(this.seenOnce, { text: s, bytes: undefined });
    }
  }

  /**
   * Encodes `s` to UTF-8 in place, then makes room for JSON's escapes by moving what follows each byte to
   * escape (from the last one back, so each byte moves once). Allocates nothing.
   */
  private escaped(s: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the quotes.
    this.room(s.length * 3 + 2);
    const out = this.buf;
    const start = this.at;
    out[start] = QUOTE;
    const first = start + 1;
    const end = first + out.write(s, first, 'utf8');
    let specials = 0;
    let extra = 0;
    for (let i = first; i < end; i++) {
      const kind = BYTE_KIND[out[i]!]!;
      if (kind === PLAIN) continue;
      if (kind === MAYBE_REPLACEMENT) {
        // EF BF BD is U+FFFD: in the text, or what UTF-8 made of a lone surrogate, which JSON.stringify
        // escapes instead (`\ud800`). Rare either way: JSON.stringify writes the string when in doubt.
        if (out[i + 1] === 0xbf && out[i + 2] === 0xbd && !isWellFormed(s)) {
          this.at = start;
          this.stringified(s);
          return;
        }
        continue;
      }
      if (specials === this.specials.length) this.specials = grownPositions(this.specials);
      this.specials[specials++] = i;
      extra += kind === ESCAPED_AS_IS ? 1 : CONTROL_ESCAPES[out[i]!]!.length - 1;
    }
    if (extra > 0) {
      this.room(end + extra + 1 - this.at, end);
      const buf = this.buf;
      let shift = extra;
      let runEnd = end;
      for (let k = specials - 1; k >= 0; k--) {
        const p = this.specials[k]!;
        const b = buf[p]!;
        if (runEnd > p + 1) buf.copyWithin(p + 1 + shift, p + 1, runEnd);
        const sequence = b === QUOTE || b === BACKSLASH ? undefined : CONTROL_ESCAPES[b]!;
        const length = sequence === undefined ? 2 : sequence.length;
        // The escape ends where the escaped byte, moved by `shift`, would end.
        let at = p + shift - (length - 1);
        if (sequence === undefined) {
          buf[at++] = BACKSLASH;
          buf[at] = b;
        } else for (let e = 0; e < length; e++) buf[at++] = sequence[e]!;
        shift -= length - 1;
        runEnd = p;
      }
    }
    this.buf[end + extra] = QUOTE;
    this.at = end + extra + 1;
  }

  /** Room for `n` more bytes after `at`, keeping the first `keep` bytes written. */
  private room(n: number, keep = this.at): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(grown(this.buf.length, this.at + n));
    this.buf.copy(bigger, 0, 0, keep);
    this.buf = bigger;
  }
}

function grownPositions(positions: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(positions.length * 2);
  bigger.set(positions);
  return bigger;
}

function grown(current: number, needed: number): number {
  let size = Math.max(current, 1024);
  while (size < needed) size *= 2;
  return size;
}
