/**
 * Character-level sentence BLEU, bit-for-bit the arithmetic of NLTK's
 * `sentence_bleu([reference], hypothesis)` called on plain strings (so n-grams are over code points):
 *
 * - modified precision p_n = Σ_g min(count_hyp(g), count_ref(g)) / max(1, #hyp n-grams), n = 1..4;
 * - no unigram match (or an empty hypothesis) → 0;
 * - otherwise a zero p_n (n ≥ 2, or a hypothesis shorter than n) becomes the smallest positive normal
 *   double, 2.2250738585072014e-308 (NLTK's "method0"), so the score is tiny but not exactly 0;
 * - BLEU = BP · exp(fsum(0.25 · ln p_n)), BP = 1 if hyp > ref else exp(1 − ref / hyp).
 *
 * Speed: the reference's n-grams are interned level by level (an n-gram is the pair (its (n−1)-gram id,
 * its last character id)) in a table over typed arrays, and each hypothesis n-gram is looked up only
 * while its prefix is still a reference n-gram, so the work is linear and no strings are built.
 */

/** `sys.float_info.min` in Python. */
export const FLOAT_MIN = 2.2250738585072014e-308;

/**
 * Exact sum of doubles, correctly rounded: Python's `math.fsum` (Shewchuk's algorithm with
 * non-overlapping partials, and the same half-even correction at the end).
 */
export function fsum(values: readonly number[]): number {
  const partials: number[] = [];
  let special = 0;
  for (let x of values) {
    if (!Number.isFinite(x)) {
      special += x;
      continue;
    }
    let k = 0;
    for (let j = 0; j < partials.length; j++) {
      let y = partials[j] as number;
      if (Math.abs(x) < Math.abs(y)) {
        const t = x;
        x = y;
        y = t;
      }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[k++] = lo;
      x = hi;
    }
    partials.length = k;
    partials.push(x);
  }
  if (special !== 0 || Number.isNaN(special)) return special;
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n] as number;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n] as number;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  // Round half to even across the remaining partials, as fsum does.
  if (n > 0 && ((lo < 0 && (partials[n - 1] as number) < 0) || (lo > 0 && (partials[n - 1] as number) > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

export interface BleuDetail {
  bleu: number;
  /** Clipped matches per order 1..4. */
  matches: [number, number, number, number];
  /** Denominators per order 1..4 (at least 1). */
  totals: [number, number, number, number];
  brevityPenalty: number;
  hypothesisLength: number;
  referenceLength: number;
}

// Only the reference's n-grams are interned: a hypothesis n-gram the reference lacks can match nothing,
// and neither can any longer n-gram that starts with it, so it gets id NONE and is never looked up again.
// The tables then stay as small as the reference (in cache), and a long hypothesis against a short
// reference (the writing tasks' usual case) costs one table lookup per position that can still match.
const NONE = -1;

// Reusable scratch space, grown on demand and never shrunk (scoring runs in tight loops).
let codes = new Int32Array(1024); // character ids: reference, then hypothesis (NONE: not in the reference)
let ids = new Int32Array(1024); // n-gram ids of the current order, per position
let counts = new Int32Array(1024); // remaining reference counts per n-gram id
// BMP characters map to dense ids through a stamped direct table; astral ones through a Map.
const bmpStamp = new Int32Array(65536);
const bmpId = new Int32Array(65536);
let charStamp = 0;
const astralIds = new Map<number, number>();
// (n−1)-gram id × alphabet + character id → n-gram id: a stamped direct table when the key space is
// small (always, for natural text), an open-addressing hash table otherwise. The direct table keeps
// stamp and id side by side (one cache line per lookup).
const DIRECT_LIMIT = 1 << 20;
let direct = new Int32Array(0);
let hashKeys = new Float64Array(0);
let hashVals = new Int32Array(0);
let hashStamp = new Int32Array(0);
let tableStamp = 0;

function pow2AtLeast(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, 16)));
}

function ensureScratch(n: number): void {
  if (codes.length < n) {
    const size = pow2AtLeast(n);
    codes = new Int32Array(size);
    ids = new Int32Array(size);
    counts = new Int32Array(size);
  }
}

function nextTableStamp(): number {
  tableStamp++;
  if (tableStamp === 0x7fffffff) {
    direct.fill(0);
    hashStamp.fill(0);
    tableStamp = 1;
  }
  return tableStamp;
}

/**
 * Writes the character ids of the code points of `s` at `codes[offset…]`; returns how many. With `grow`
 * a new character gets the next id; without, it gets NONE (a hypothesis character the reference lacks).
 */
function encode(s: string, offset: number, alphabet: { size: number }, grow: boolean): number {
  let n = offset;
  const len = s.length;
  const codes_ = codes;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    let id: number;
    if ((c & 0xfc00) === 0xd800 && i + 1 < len && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00) + 0x10000;
      i++;
      const known = astralIds.get(cp);
      if (known !== undefined) id = known;
      else if (grow) {
        id = alphabet.size++;
        astralIds.set(cp, id);
      } else id = NONE;
    } else if (bmpStamp[c] === charStamp) {
      id = bmpId[c] as number;
    } else if (grow) {
      bmpStamp[c] = charStamp;
      id = alphabet.size++;
      bmpId[c] = id;
    } else id = NONE;
    codes_[n++] = id;
  }
  return n - offset;
}

/**
 * Replaces `ids[i]` (an (n−1)-gram id) by the id of the n-gram at i: for every n-gram of the reference,
 * counting them, then for every hypothesis n-gram, NONE unless the reference has it, counting clipped
 * matches. Returns [distinct reference n-grams, matches].
 */
function nextOrder(
  n: number,
  refLen: number,
  total: number,
  alphabet: number,
  prevDistinct: number,
): [number, number] {
  const stamp = nextTableStamp();
  let distinct = 0;
  let matched = 0;
  const keySpace = prevDistinct * alphabet;
  if (counts.length < refLen) counts = new Int32Array(pow2AtLeast(refLen));
  // Locals, not the module's mutable bindings, in the hot loops (V8 optimizes them far better).
  const ids_ = ids;
  const codes_ = codes;
  const counts_ = counts;
  if (keySpace <= DIRECT_LIMIT) {
    if (direct.length < 2 * keySpace) direct = new Int32Array(pow2AtLeast(2 * keySpace));
    const table = direct;
    for (let i = 0; i + n <= refLen; i++) {
      const slot = 2 * ((ids_[i] as number) * alphabet + (codes_[i + n - 1] as number));
      let id: number;
      if (table[slot] === stamp) id = table[slot + 1] as number;
      else {
        table[slot] = stamp;
        id = distinct++;
        table[slot + 1] = id;
        counts_[id] = 0;
      }
      ids_[i] = id;
      counts_[id] = (counts_[id] as number) + 1;
    }
    for (let i = refLen; i + n <= total; i++) {
      const prev = ids_[i] as number;
      const last = codes_[i + n - 1] as number;
      if (prev === NONE || last === NONE) {
        ids_[i] = NONE;
        continue;
      }
      const slot = 2 * (prev * alphabet + last);
      if (table[slot] !== stamp) {
        ids_[i] = NONE;
        continue;
      }
      const id = table[slot + 1] as number;
      ids_[i] = id;
      const left = counts_[id] as number;
      if (left > 0) {
        counts_[id] = left - 1;
        matched++;
      }
    }
    return [distinct, matched];
  }
  const size = pow2AtLeast(2 * refLen);
  if (hashKeys.length < size) {
    hashKeys = new Float64Array(size);
    hashVals = new Int32Array(size);
    hashStamp = new Int32Array(size);
  }
  const mask = hashKeys.length - 1;
  const hKeys = hashKeys;
  const hVals = hashVals;
  const hStamp = hashStamp;
  for (let i = 0; i + n <= total; i++) {
    if (i >= refLen - n + 1 && i < refLen) {
      i = refLen - 1; // positions whose n-gram would cross into the hypothesis
      continue;
    }
    const prev = ids_[i] as number;
    const last = codes_[i + n - 1] as number;
    const inRef = i < refLen;
    if (!inRef && (prev === NONE || last === NONE)) {
      ids_[i] = NONE;
      continue;
    }
    const key = prev * alphabet + last;
    let h = (Math.imul(key | 0, 0x9e3779b1) ^ Math.imul((key / 4294967296) | 0, 0x85ebca6b)) & mask;
    let id = NONE;
    for (;;) {
      if (hStamp[h] !== stamp) {
        if (inRef) {
          hStamp[h] = stamp;
          hKeys[h] = key;
          id = distinct++;
          hVals[h] = id;
          counts_[id] = 0;
        }
        break;
      }
      if (hKeys[h] === key) {
        id = hVals[h] as number;
        break;
      }
      h = (h + 1) & mask;
    }
    ids_[i] = id;
    if (inRef) counts_[id] = (counts_[id] as number) + 1;
    else if (id !== NONE) {
      const left = counts_[id] as number;
      if (left > 0) {
        counts_[id] = left - 1;
        matched++;
      }
    }
  }
  return [distinct, matched];
}

/**
 * NLTK `sentence_bleu([reference], hypothesis)` on strings, with its intermediate counts.
 */
export function characterBleuDetail(hypothesis: string, reference: string): BleuDetail {
  charStamp++;
  if (charStamp === 0x7fffffff) {
    bmpStamp.fill(0);
    charStamp = 1;
  }
  astralIds.clear();
  ensureScratch(hypothesis.length + reference.length + 1);
  const alphabetSize = { size: 0 };
  const refLen = encode(reference, 0, alphabetSize, true);
  const hypLen = encode(hypothesis, refLen, alphabetSize, false);
  const total = refLen + hypLen;
  const alphabet = alphabetSize.size;
  const matches: [number, number, number, number] = [0, 0, 0, 0];
  const totals: [number, number, number, number] = [1, 1, 1, 1];
  for (let n = 1; n <= 4; n++) totals[n - 1] = Math.max(1, hypLen - n + 1);

  // Order 1: the character ids are the unigram ids.
  if (counts.length < alphabet) counts = new Int32Array(pow2AtLeast(alphabet));
  counts.fill(0, 0, alphabet);
  let matched = 0;
  for (let i = 0; i < refLen; i++) {
    const id = codes[i] as number;
    ids[i] = id;
    counts[id] = (counts[id] as number) + 1;
  }
  for (let i = refLen; i < total; i++) {
    const id = codes[i] as number;
    ids[i] = id;
    if (id === NONE) continue;
    const left = counts[id] as number;
    if (left > 0) {
      counts[id] = left - 1;
      matched++;
    }
  }
  matches[0] = matched;
  let distinct = alphabet;
  // Once an order has no match, no higher order can have one.
  for (let n = 2; n <= 4 && matched > 0; n++) {
    [distinct, matched] = nextOrder(n, refLen, total, alphabet, distinct);
    matches[n - 1] = matched;
  }

  const brevityPenalty = hypLen > refLen ? 1 : hypLen === 0 ? 0 : Math.exp(1 - refLen / hypLen);
  let bleu = 0;
  if (matches[0] > 0) {
    const logs = matches.map((m, i) => 0.25 * Math.log(m > 0 ? m / (totals[i] as number) : FLOAT_MIN));
    bleu = brevityPenalty * Math.exp(fsum(logs));
  }
  return { bleu, matches, totals, brevityPenalty, hypothesisLength: hypLen, referenceLength: refLen };
}

/** NLTK `sentence_bleu([reference], hypothesis)` on strings: character n-grams, 4-gram uniform weights. */
export function characterBleu(hypothesis: string, reference: string): number {
  return characterBleuDetail(hypothesis, reference).bleu;
}
