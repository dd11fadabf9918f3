/**
 * Python's limit on converting a decimal integer literal to an int: more than 4,300 digits is an error
 * (`sys.int_info.default_max_str_digits`, since 3.11 and the 2022 security releases of 3.7–3.10), in
 * `json.loads` (a ValueError) and in `ast.literal_eval` (a SyntaxError) alike. The reference reads a
 * payoff with both, so a payoff holding such an integer is no payoff to it (its reward is 0), while the
 * engine's JSON parser reads it as Infinity. Hexadecimal, octal and binary literals have no limit, nor
 * has an integer of zeros only (CPython reads it without a conversion).
 */
export const PY_INT_MAX_STR_DIGITS = 4300;

/** The error Python gives, for a parser's message. */
export function intDigitsMessage(digits: number): string {
  return `Exceeds the limit (${PY_INT_MAX_STR_DIGITS} digits) for integer string conversion: value has ${digits} digits`;
}

/**
 * Whether `text` holds a run of more than {@link PY_INT_MAX_STR_DIGITS} ASCII digits anywhere: what
 * only a text that may hold a too-long integer does. One pass, no regular expression (a pattern like
 * `\d{4301}` retries at every digit).
 */
export function hasLongDigitRun(text: string): boolean {
  if (text.length <= PY_INT_MAX_STR_DIGITS) return false;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++run > PY_INT_MAX_STR_DIGITS) return true;
    } else run = 0;
  }
  return false;
}
