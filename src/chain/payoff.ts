/**
 * Strict parsing and validation of the `<payoff>` block, with the reference's exact acceptance rules
 * (GTALIGN.md §3):
 *
 * 1. the Python-stripped text is read as JSON with the semantics of Python's `json.loads`
 *    (NaN / Infinity / -Infinity allowed, duplicate keys: last wins, whitespace only ` \t\n\r`);
 * 2. failing that, curly quotes “ ” ‘ ’ become straight ones and the text is read as a Python literal
 *    with the semantics of `ast.literal_eval` (single quotes, trailing commas, True/False/None, ...);
 * 3. the value must be a dict with exactly the spec's cell keys, each cell a dict with exactly the keys
 *    `LLM` and `user`, each a number (Python booleans count: `isinstance(True, int)` holds).
 *
 * Model output is hostile text: nothing here throws, recursion is bounded, and errors name the key,
 * the offending value, or the character offset (UTF-16 code units into the text given).
 *
 * The two readers live in py-json.ts and py-literal.ts, Python's whitespace in py-whitespace.ts; this
 * module validates the value against the game's cells and is the one entry point.
 */

import { cellKeys, DEFAULT_SPEC, type GameSpec, type PayoffMatrix } from '../game/spec.js';
import { hasLongDigitRun } from './py-int-limit.js';
import { parsePythonJson } from './py-json.js';
import { parsePythonLiteral } from './py-literal.js';
import {
  describeValue,
  MAX_DEPTH,
  NON_STRING_KEYS,
  type PyDict,
  PyOpaque,
  type PyValue,
} from './py-value.js';
import { isPySpace, pythonStrip } from './py-whitespace.js';

export { parsePythonJson } from './py-json.js';
export { parsePythonLiteral } from './py-literal.js';
export { describeValue, type PyDict, PyOpaque, type PyValue } from './py-value.js';
export { isPySpace, PY_WHITESPACE_CLASS, PY_WHITESPACE_CODE_POINTS, pythonStrip } from './py-whitespace.js';

export interface PayoffError {
  /** Where: `""` for the whole block, a cell key (`"VQ_CQ"`), or a cell's entry (`"VQ_CQ.user"`). */
  path: string;
  message: string;
  /**
   * The offending value (or key), when there is one and it is nested no deeper than the readers allow
   * (strict JSON is read by the engine's parser, which takes any depth: such a value would overflow the
   * stack of whoever serializes the error, so it is left out; `message` still describes it).
   */
  value?: unknown;
  /** For syntax errors: offset (UTF-16 code units) into the text given to {@link parsePayoff}. */
  position?: number;
}

export type PayoffParseResult =
  | {
      ok: true;
      /** Cells in the spec's row-major order, each `{ LLM, user }`; Python booleans read as 1 / 0. */
      matrix: PayoffMatrix;
      /** `'python-literal'` when strict JSON failed and the Python-literal reading succeeded. */
      repaired: 'none' | 'python-literal';
      /** True when curly quotes were replaced before the Python-literal reading. */
      curlyQuotes: boolean;
    }
  | {
      ok: false;
      stage: 'syntax' | 'validation';
      errors: PayoffError[];
    };

const SUB_KEYS = ['LLM', 'user'] as const;

function isDict(v: unknown): v is PyDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PyOpaque);
}

function dictExtraKeys(d: PyDict, expected: ReadonlySet<string>, path: string, errors: PayoffError[]): void {
  for (const key of Object.keys(d)) {
    if (!expected.has(key)) {
      errors.push({ path: path ? `${path}.${key}` : key, message: 'unexpected key', value: key });
    }
  }
  for (const key of d[NON_STRING_KEYS] ?? []) {
    errors.push({ path: path ? `${path}.${key}` : key, message: 'unexpected non-string key', value: key });
  }
}

interface SpecKeys {
  keys: readonly string[];
  set: ReadonlySet<string>;
}

const specKeyCache = new WeakMap<GameSpec, SpecKeys>();

function keysOf(spec: GameSpec): SpecKeys {
  let k = specKeyCache.get(spec);
  if (k === undefined) {
    const keys = cellKeys(spec);
    k = { keys, set: new Set(keys) };
    specKeyCache.set(spec, k);
  }
  return k;
}

/** True when the dict has a key outside `expected` (the common, valid case answers false quickly). */
function hasExtraKeys(d: PyDict, expectedSize: number): boolean {
  if (d[NON_STRING_KEYS] !== undefined) return true;
  let n = 0;
  for (const _ in d) n++;
  return n !== expectedSize;
}

/** Whether `v` holds lists or dicts nested more than `limit` deep. Iterative: the depth may be anything. */
function nestedDeeperThan(v: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: v, depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { value, depth } = top;
    if (typeof value !== 'object' || value === null || value instanceof PyOpaque) continue;
    if (depth >= limit) return true;
    const items = Array.isArray(value) ? value : Object.values(value);
    for (const item of items) stack.push({ value: item, depth: depth + 1 });
  }
  return false;
}

/** An error about `value`, which carries the value itself when it can be serialized safely. */
function valueError(path: string, message: string, value: unknown): PayoffError {
  return nestedDeeperThan(value, MAX_DEPTH) ? { path, message } : { path, message, value };
}

function validate(
  value: PyValue,
  spec: SpecKeys,
): { matrix: PayoffMatrix; errors?: undefined } | { errors: PayoffError[] } {
  if (!isDict(value)) {
    return {
      errors: [valueError('', `must be an object of cells, got ${describeValue(value)}`, value)],
    };
  }
  const errors: PayoffError[] = [];
  const matrix: PayoffMatrix = {};
  let present = 0;
  for (const key of spec.keys) {
    if (!Object.hasOwn(value, key)) {
      errors.push({ path: key, message: 'missing cell' });
      continue;
    }
    present++;
    const cell = value[key];
    if (!isDict(cell)) {
      errors.push(
        valueError(key, `must be an object with keys LLM and user, got ${describeValue(cell)}`, cell),
      );
      continue;
    }
    const payoff = { LLM: 0, user: 0 };
    let subs = 0;
    for (const sub of SUB_KEYS) {
      if (!Object.hasOwn(cell, sub)) {
        errors.push({ path: `${key}.${sub}`, message: 'missing' });
        continue;
      }
      subs++;
      const v = cell[sub];
      if (typeof v === 'number') payoff[sub] = v;
      else if (typeof v === 'boolean') payoff[sub] = v ? 1 : 0;
      else errors.push(valueError(`${key}.${sub}`, `must be a number, got ${describeValue(v)}`, v));
    }
    if (hasExtraKeys(cell, subs)) dictExtraKeys(cell, SUB_KEY_SET, key, errors);
    matrix[key] = payoff;
  }
  if (hasExtraKeys(value, present)) dictExtraKeys(value, spec.set, '', errors);
  return errors.length > 0 ? { errors } : { matrix };
}

const SUB_KEY_SET: ReadonlySet<string> = new Set(SUB_KEYS);

const CURLY = /[“”‘’]/g;

/** Whether the first quote character of `text` (straight or curly) is something other than `"`. */
function quotedOtherwise(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return false; // "
    if (c === 0x27 || c === 0x201c || c === 0x201d || c === 0x2018 || c === 0x2019) return true;
  }
  return false;
}

/**
 * Parses and validates the content of a `<payoff>` block against `spec` (default: DQ/VQ × DA/CQ/AQ),
 * accepting exactly what the reference accepts. Never throws.
 */
export function parsePayoff(text: string, spec: GameSpec = DEFAULT_SPEC): PayoffParseResult {
  const stripped = pythonStrip(text);
  let value: PyValue | undefined;
  let repaired: 'none' | 'python-literal' = 'none';
  let curlyQuotes = false;
  // A JSON text's first quote character opens a string, so it is `"`: when it is `'` or a curly quote,
  // neither JSON reader can succeed and the Python-literal reading is next (without a throwing try).
  if (!quotedOtherwise(stripped)) {
    try {
      // The engine's JSON parser accepts exactly Python's JSON minus NaN/Infinity: a fast first try.
      value = JSON.parse(stripped) as PyValue;
      // An integer Python refuses to convert (py-int-limit.ts) reads here as Infinity: such a text goes
      // to the reader with Python's limits, as json.loads reads it.
      if (hasLongDigitRun(stripped)) {
        const json = parsePythonJson(stripped);
        value = json.ok ? json.value : undefined;
      }
    } catch {
      if (stripped.includes('NaN') || stripped.includes('Infinity')) {
        const json = parsePythonJson(stripped);
        if (json.ok) value = json.value;
      }
    }
  }
  if (value === undefined) {
    const fixed = stripped.replace(CURLY, (q) => (q === '“' || q === '”' ? '"' : "'"));
    curlyQuotes = fixed !== stripped;
    const literal = parsePythonLiteral(fixed);
    if (!literal.ok) {
      // Positions are reported in the caller's text, before stripping.
      let start = 0;
      while (start < text.length && isPySpace(text.charCodeAt(start))) start++;
      const json = parsePythonJson(stripped);
      const errors: PayoffError[] = [];
      if (!json.ok) {
        errors.push({
          path: '',
          message: `not valid JSON: ${json.message}`,
          position: start + json.position,
        });
      }
      errors.push({
        path: '',
        message: `not a Python literal either${curlyQuotes ? ' (after straightening curly quotes)' : ''}: ${literal.message}`,
        position: start + literal.position,
      });
      return { ok: false, stage: 'syntax', errors };
    }
    value = literal.value;
    repaired = 'python-literal';
  }
  const checked = validate(value, keysOf(spec));
  if (checked.errors) return { ok: false, stage: 'validation', errors: checked.errors };
  return { ok: true, matrix: checked.matrix, repaired, curlyQuotes };
}
