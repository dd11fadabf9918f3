/**
 * Token counts for the length metrics (Ans./Token, R/T, total length; GTALIGN.md §7).
 *
 * The exact counter is a BPE tokenizer that works offline: `js-tiktoken` (its ranks ship inside the
 * package). Default encoding `cl100k_base`: the Qwen tokenizers the paper trains were built from it
 * (same pre-tokenizer, its merges plus extra CJK tokens), so on English text its counts are the closest
 * offline proxy for Qwen2.5 counts. `o200k_base` is available too.
 *
 * `js-tiktoken` is an optional dependency: it is loaded lazily through a dynamic import. When it is not
 * installed, `auto` falls back to {@link approxTokenCounter} and says so in the counter's `note`, which
 * ends up in metrics.json; asking for an exact encoding by name fails instead.
 */

import { extractResponse, reasoningPart } from '../chain/format.js';
import { GtalignError } from '../errors.js';

export const TOKENIZER_NAMES = ['auto', 'cl100k_base', 'o200k_base', 'approx'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];
export type ExactEncoding = 'cl100k_base' | 'o200k_base';

export interface TokenCounter {
  /** `cl100k_base`, `o200k_base` or `approx`. */
  readonly name: 'cl100k_base' | 'o200k_base' | 'approx';
  /** True for a real BPE tokenizer, false for the approximation. */
  readonly exact: boolean;
  /** One line for reports: what counted the tokens. */
  readonly description: string;
  /** Why this counter was chosen when it is not the one asked for (the `auto` fallback). */
  readonly note?: string;
  count(text: string): number;
}

/** Token counts of one output. `total` counts the whole output (tags included), which is what a backend bills. */
export interface TokenCounts {
  /** Everything before the first `<response>` (all of it when there is none). */
  reasoning: number;
  /** The stripped content of the first `<response>` block (0 when there is none). */
  response: number;
  total: number;
}

export class TokenizerUnavailableError extends GtalignError {
  readonly code = 'input';
  constructor(
    readonly encoding: ExactEncoding,
    override readonly cause: unknown,
  ) {
    super(
      `tokenizer ${encoding} needs the package js-tiktoken (npm install js-tiktoken), which could not be loaded: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
    );
    this.name = 'TokenizerUnavailableError';
  }
}

/** The part of js-tiktoken's API used here. */
interface TiktokenModule {
  Tiktoken: new (
    ranks: unknown,
  ) => { encode(text: string, allowed?: string[], disallowed?: string[]): number[] };
}

export type ModuleImporter = (specifier: string) => Promise<unknown>;

// A variable specifier keeps the compiler from resolving the optional package at build time.
const defaultImporter: ModuleImporter = (specifier) => import(specifier);

const exactCache = new Map<ExactEncoding, Promise<TokenCounter>>();

function isTiktokenModule(m: unknown): m is TiktokenModule {
  return typeof m === 'object' && m !== null && typeof (m as { Tiktoken?: unknown }).Tiktoken === 'function';
}

async function loadExact(encoding: ExactEncoding, importer: ModuleImporter): Promise<TokenCounter> {
  let lite: unknown;
  let ranksModule: unknown;
  try {
    [lite, ranksModule] = await Promise.all([
      importer('js-tiktoken/lite'),
      importer(`js-tiktoken/ranks/${encoding}`),
    ]);
  } catch (err) {
    throw new TokenizerUnavailableError(encoding, err);
  }
  const ranks = (ranksModule as { default?: unknown }).default ?? ranksModule;
  if (!isTiktokenModule(lite)) {
    throw new TokenizerUnavailableError(encoding, new Error('js-tiktoken/lite does not export Tiktoken'));
  }
  const encoder = new lite.Tiktoken(ranks);
  // Model output is arbitrary text: special-token strings such as <|endoftext|> count as plain text.
  const encode = (text: string): number => encoder.encode(text, [], []).length;
  const patStr = (ranks as { pat_str?: unknown }).pat_str;
  return {
    name: encoding,
    exact: true,
    description: `js-tiktoken ${encoding} (offline BPE)`,
    count:
      typeof patStr === 'string'
        ? pieceCounter(new RegExp(patStr, 'gu'), encode)
        : (text) => (text === '' ? 0 : encode(text)),
  };
}

/** Distinct pre-tokenizer pieces remembered before the cache starts over (bounds memory). */
const PIECE_CACHE_LIMIT = 200_000;

/**
 * BPE merges never cross the pre-tokenizer's pieces, so a text's token count is the sum of its pieces'
 * counts. Pieces repeat a lot (words, tags, JSON punctuation), so each distinct piece is encoded once:
 * several times faster than encoding every text in full, with the same counts.
 */
function pieceCounter(pattern: RegExp, encode: (text: string) => number): (text: string) => number {
  const cache = new Map<string, number>();
  return (text) => {
    let n = 0;
    for (const m of text.matchAll(pattern)) {
      const piece = m[0];
      let k = cache.get(piece);
      if (k === undefined) {
        k = encode(piece);
        if (cache.size >= PIECE_CACHE_LIMIT) cache.clear();
        cache.set(piece, k);
      }
      n += k;
    }
    return n;
  };
}

/**
 * Loads a counter. `auto` (default): `cl100k_base` when js-tiktoken is installed, else the approximation
 * with a `note`. A named exact encoding that cannot be loaded throws {@link TokenizerUnavailableError}.
 * Exact encoders are loaded once per process (the ranks take about half a second to build).
 */
export async function loadTokenCounter(
  name: TokenizerName = 'auto',
  options: { importer?: ModuleImporter } = {},
): Promise<TokenCounter> {
  if (name === 'approx') return approxTokenCounter;
  const encoding: ExactEncoding = name === 'auto' ? 'cl100k_base' : name;
  const importer = options.importer;
  let pending: Promise<TokenCounter>;
  if (importer !== undefined) {
    pending = loadExact(encoding, importer);
  } else {
    pending = exactCache.get(encoding) ?? loadExact(encoding, defaultImporter);
    exactCache.set(encoding, pending);
    // A failed load is not cached, so a later call (after installing the package) can try again.
    pending.catch(() => exactCache.delete(encoding));
  }
  if (name !== 'auto') return pending;
  try {
    return await pending;
  } catch (err) {
    if (!(err instanceof TokenizerUnavailableError)) throw err;
    return {
      ...approxTokenCounter,
      note: `js-tiktoken is not installed; token counts are approximate (${approxTokenCounter.description})`,
    };
  }
}

// cl100k_base's pre-tokenizer (contractions, letter runs with one leading non-letter, 1–3 digits,
// punctuation runs, newlines, spaces), written for JavaScript's Unicode property escapes.
const PIECES =
  /'(?:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/giu;
const LETTER = /\p{L}/u;
const DIGIT_START = /^\p{N}/u;
// Scripts whose characters are mostly a token each (and often not merged across characters).
const WIDE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/gu;

/**
 * Counts tokens without a vocabulary: splits the text with cl100k_base's pre-tokenizer, then a letter
 * piece of up to 9 code points (its leading space included) is one token and each further 4 code points
 * one more; a digit piece is one token; a punctuation piece one per 2 code points; a CJK character one
 * each. On English prose and the four-block outputs it lands within a few percent of cl100k_base in
 * total (checked against js-tiktoken), but single texts can be off by more.
 */
export const approximateTokens: (text: string) => number = pieceCounter(PIECES, approximatePiece);

function approximatePiece(piece: string): number {
  let len = 0;
  for (const _ of piece) len++;
  if (LETTER.test(piece)) {
    const wide = piece.match(WIDE)?.length ?? 0;
    const narrow = len - wide;
    return wide + (narrow === 0 ? 0 : narrow <= 9 ? 1 : 1 + Math.ceil((narrow - 9) / 4));
  }
  if (piece.trim() === '' || DIGIT_START.test(piece)) return 1;
  return Math.ceil(len / 2);
}

export const approxTokenCounter: TokenCounter = Object.freeze({
  name: 'approx' as const,
  exact: false,
  description: 'approximate count: cl100k_base pre-tokenizer pieces, long pieces split by length',
  count: approximateTokens,
});

/**
 * The paper's total length (GTALIGN.md §7): reasoning + response, without the tags around the response
 * (undefined for no counts).
 */
export function paperLength(
  counts: Pick<TokenCounts, 'reasoning' | 'response'> | null | undefined,
): number | undefined {
  return counts == null ? undefined : counts.reasoning + counts.response;
}

/** Token counts of one four-block output (see {@link TokenCounts}). */
export function countOutputTokens(output: string, counter: TokenCounter): TokenCounts {
  const reasoning = reasoningPart(output);
  return {
    reasoning: counter.count(reasoning),
    response: counter.count(extractResponse(output) ?? ''),
    total: counter.count(output),
  };
}
