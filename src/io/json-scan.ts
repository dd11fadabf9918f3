/**
 * Scanning JSON text for what `JSON.parse` does not say. Where the text stops being JSON: V8 names a
 * position for some errors ("… at position 12") but not for an unexpected token ("Unexpected token 'N',
 * …"NaN"… is not valid JSON", what Python's `json.dumps` of a NaN gives) nor for an early end, so a reader
 * that must name the line and column finds the offset itself. And a key an object holds twice, whose first
 * value `JSON.parse` drops without a word. The scan follows RFC 8259 (what `JSON.parse` accepts) with an
 * explicit stack, so deep nesting costs no recursion, and stops at the first finding.
 */

const OBJECT = 1;
const ARRAY = 2;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * The offset of the first character of `text` that cannot continue valid JSON (`text.length` when the text
 * ends too early), or undefined when `JSON.parse(text)` would succeed.
 */
export function jsonErrorOffset(text: string): number | undefined {
  return scan(text, false).error;
}

/**
 * The first key an object of `text` holds twice, with the offset of its second occurrence: `JSON.parse`
 * keeps the last value without a word. Undefined when there is none (or the text is not JSON).
 */
export function jsonDuplicateKey(text: string): { key: string; offset: number } | undefined {
  return scan(text, true).duplicate;
}

interface ScanResult {
  error?: number;
  duplicate?: { key: string; offset: number };
}

function scan(text: string, trackKeys: boolean): ScanResult {
  const n = text.length;
  let i = 0;
  const stack: number[] = [];
  /** The keys seen in each open object (parallel to `stack`; undefined for arrays), when tracked. */
  const keys: (Set<string> | undefined)[] = [];
  const skipSpace = () => {
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
    }
  };
  /** At a quote: moves past the string; false with `i` at the offending character. */
  const string = (): boolean => {
    for (i++; i < n; ) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      const e = text.charCodeAt(i + 1);
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) {
          if (!isHex(text.charCodeAt(i + k))) {
            i += k;
            return false;
          }
        }
        i += 6;
      } else if (i + 1 < n && '"\\/bfnrt'.includes(text.charAt(i + 1))) {
        i += 2;
      } else {
        i++;
        return false;
      }
    }
    return false;
  };
  const digits = (): boolean => {
    if (!isDigit(text.charCodeAt(i))) return false;
    while (isDigit(text.charCodeAt(i))) i++;
    return true;
  };
  /** At a minus sign or digit: moves past the number; false with `i` at the offending character. */
  const number = (): boolean => {
    if (text.charCodeAt(i) === 0x2d) i++;
    if (text.charCodeAt(i) === 0x30) i++;
    else if (!digits()) return false;
    if (text.charCodeAt(i) === 0x2e) {
      i++;
      if (!digits()) return false;
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const sign = text.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      if (!digits()) return false;
    }
    return true;
  };
  const literal = (word: string): boolean => {
    for (let k = 0; k < word.length; k++, i++) {
      if (text.charCodeAt(i) !== word.charCodeAt(k)) return false;
    }
    return true;
  };

  let state: 'value' | 'key' | 'after' = 'value';
  for (;;) {
    skipSpace();
    if (state === 'after') {
      const top = stack[stack.length - 1];
      if (top === undefined) return i < n ? { error: i } : {};
      const c = text.charCodeAt(i);
      if (c === 0x2c) {
        i++;
        state = top === OBJECT ? 'key' : 'value';
      } else if ((top === OBJECT && c === 0x7d) || (top === ARRAY && c === 0x5d)) {
        i++;
        stack.pop();
        keys.pop();
      } else {
        return { error: i };
      }
    } else if (state === 'key') {
      const start = i;
      if (text.charCodeAt(i) !== 0x22 || !string()) return { error: i };
      const seen = keys[keys.length - 1];
      if (seen !== undefined) {
        const raw = text.slice(start, i);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (seen.size === seen.add(key).size) return { duplicate: { key, offset: start } };
      }
      skipSpace();
      if (text.charCodeAt(i) !== 0x3a) return { error: i };
      i++;
      state = 'value';
    } else {
      const c = text.charCodeAt(i);
      if (c === 0x7b || c === 0x5b) {
        i++;
        skipSpace();
        if (text.charCodeAt(i) === (c === 0x7b ? 0x7d : 0x5d)) {
          i++;
          state = 'after';
        } else {
          stack.push(c === 0x7b ? OBJECT : ARRAY);
          keys.push(trackKeys && c === 0x7b ? new Set() : undefined);
          state = c === 0x7b ? 'key' : 'value';
        }
        continue;
      }
      let ok: boolean;
      if (c === 0x22) ok = string();
      else if (c === 0x2d || isDigit(c)) ok = number();
      else if (c === 0x74) ok = literal('true');
      else if (c === 0x66) ok = literal('false');
      else if (c === 0x6e) ok = literal('null');
      else ok = false;
      if (!ok) return { error: i };
      state = 'after';
    }
  }
}

/** The 1-based line and column of `offset` in `text` (lines end at LF). */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let at = text.indexOf('\n'); at >= 0 && at < offset; at = text.indexOf('\n', at + 1)) {
    line++;
    start = at + 1;
  }
  return { line, column: offset - start + 1 };
}

/**
 * The offset of the first `[` or `{` that opens a level deeper than `maxDepth`, or undefined. A cheap
 * pass before `JSON.parse`, which builds every level first: 64 MiB of `[` took it 30 s and 3.5 GB.
 */
export function jsonNestingPast(text: string, maxDepth: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}
