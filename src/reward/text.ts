/**
 * Text measures with Python's exact semantics, so that lengths computed here equal the reference's
 * `len(text.split())` (words) and `len(text)` (code points).
 *
 * Python's whitespace (`str.isspace()`, also what `str.split()`, `str.strip()` and the `\s` of `re` use
 * on str) is not JavaScript's `\s`: it includes the separators \x1c-\x1f and \x85 but not U+FEFF.
 * The definition lives in the chain layer (`chain/payoff.ts`), which needs it too; it is re-exported here.
 */

import { PY_WHITESPACE_CODE_POINTS } from '../chain/py-whitespace.js';
import { codeUnitsOf } from './code-units.js';

export {
  isPySpace,
  PY_WHITESPACE_CLASS,
  PY_WHITESPACE_CODE_POINTS,
  pythonStrip,
} from '../chain/py-whitespace.js';

// One byte per UTF-16 code unit: bit 0 = Python whitespace, bit 1 = high surrogate, bit 2 = low surrogate.
// A 64 KiB table makes the scanning loop branch-free, which matters in reward loops.
const CLASS = new Uint8Array(65536);
for (const cp of PY_WHITESPACE_CODE_POINTS) CLASS[cp] = 1;
CLASS.fill(2, 0xd800, 0xdc00);
CLASS.fill(4, 0xdc00, 0xe000);

export interface TextStats {
  /** `len(text.split())`: maximal runs of non-whitespace. */
  words: number;
  /** `len(text)`: code points (a lone surrogate counts as one). */
  codePoints: number;
}

/**
 * Running counts of a left-to-right scan, so that one pass can measure several adjacent regions:
 * word starts and completed surrogate pairs so far, and the class of the last code unit.
 */
export interface ScanState {
  words: number;
  pairs: number;
  /** Class bits of the previous code unit (1 = whitespace, 2 = high surrogate, 4 = low surrogate). */
  prev: number;
}

/** A fresh scan state: as if the text were preceded by whitespace. */
export function newScanState(): ScanState {
  return { words: 0, pairs: 0, prev: 1 };
}

/** Advances `state` over the code units `units[from, to)` (see {@link codeUnitsOf}). */
export function scanUnits(units: Uint16Array, from: number, to: number, state: ScanState): void {
  let words = state.words;
  let pairs = state.pairs;
  let prev = state.prev;
  for (let i = from; i < to; i++) {
    const f = CLASS[units[i] as number] as number;
    words += prev & ~f & 1; // non-whitespace after whitespace starts a word
    pairs += (prev >> 1) & (f >> 2) & 1; // a low surrogate after a high one completes a pair
    prev = f;
  }
  state.words = words;
  state.pairs = pairs;
  state.prev = prev;
}

/** Words and code points of `text.slice(start, end)` in one pass, without slicing. */
export function textStats(text: string, start = 0, end = text.length): TextStats {
  const state = newScanState();
  scanUnits(codeUnitsOf(text), start, end, state);
  return { words: state.words, codePoints: end - start - state.pairs };
}

/** `len(text.split())` in Python: the number of maximal runs of non-whitespace characters. */
export function pythonSplitCount(text: string): number {
  return textStats(text).words;
}

/** `len(text)` in Python: the number of Unicode code points (a lone surrogate counts as one). */
export function codePointLength(text: string): number {
  return textStats(text).codePoints;
}
