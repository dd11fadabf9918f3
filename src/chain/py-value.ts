/**
 * The values the two Python readers (json.loads, ast.literal_eval) produce, and the plumbing both share:
 * syntax failures with a position, dicts without a prototype, character classes.
 */

/** A Python value with no JSON counterpart (it can never be part of a valid payoff). */
export class PyOpaque {
  constructor(
    readonly type: 'set' | 'bytes' | 'complex' | 'ellipsis',
    readonly repr: string,
  ) {}
}

/** Marks, on a parsed dict, the keys that were not strings (Python allows any hashable key). */
export const NON_STRING_KEYS: unique symbol = Symbol('gtalign.nonStringKeys');

/** A parsed dict: string keys as own properties (null prototype), non-string keys listed aside. */
export interface PyDict {
  [key: string]: PyValue;
  [NON_STRING_KEYS]?: string[];
}

export type PyValue = string | number | boolean | null | PyValue[] | PyDict | PyOpaque;

export type ParseValueResult =
  | { ok: true; value: PyValue }
  | { ok: false; message: string; position: number };

/** Bound on nesting; a valid payoff needs depth 2, and deeper input must not exhaust the stack. */
export const MAX_DEPTH = 200;

export class SyntaxFailure {
  constructor(
    readonly message: string,
    readonly position: number,
  ) {}
}

export function fail(message: string, position: number): never {
  throw new SyntaxFailure(message, position);
}

export function catchSyntax(run: () => PyValue): ParseValueResult {
  try {
    return { ok: true, value: run() };
  } catch (e) {
    if (e instanceof SyntaxFailure) return { ok: false, message: e.message, position: e.position };
    // Only a bug could land here; report it rather than throw out of a parser of hostile text.
    return { ok: false, message: `internal parser error: ${String(e)}`, position: 0 };
  }
}

export function newDict(): PyDict {
  return Object.create(null) as PyDict;
}

export function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** A short Python-flavoured description of a value, for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof PyOpaque) return `${v.type} ${v.repr}`;
  if (typeof v === 'object') return 'a dict';
  return typeof v;
}
