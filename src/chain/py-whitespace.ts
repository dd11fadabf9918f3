/**
 * Python's whitespace, as `str.isspace()`, `str.strip()` and the `\\s` of `re` see it: the reference's
 * payoff parsing and its reward text rules strip with it, so the chain and reward layers share it here.
 */

/**
 * Every code point for which Python's `str.isspace()` is true (all in the BMP). This is also what
 * `str.split()`, `str.strip()` and the `\s` of `re` use on str; it is not JavaScript's `\s`
 * (Python adds \x1c-\x1f and \x85, and excludes U+FEFF).
 */
export const PY_WHITESPACE_CODE_POINTS: readonly number[] = Object.freeze([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002,
  0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** A regular-expression character-class body matching exactly Python's whitespace. */
export const PY_WHITESPACE_CLASS =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const LOW_SPACE = new Uint8Array(256);
for (const cp of PY_WHITESPACE_CODE_POINTS) if (cp < 256) LOW_SPACE[cp] = 1;

/** Python `str.isspace()` for one UTF-16 code unit (surrogates are never whitespace). */
export function isPySpace(code: number): boolean {
  if (code < 256) return LOW_SPACE[code] === 1;
  if (code < 0x1680) return false;
  return (
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000
  );
}

/** Python `str.strip()` with no argument. */
export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isPySpace(text.charCodeAt(start))) start++;
  while (end > start && isPySpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}
