/**
 * Bounded checks of a parsed JSON request body. A schema validator that reports every bad element does
 * work, and allocates an issue, per element: a body of millions of numbers where strings belong then costs
 * seconds of blocked event loop and gigabytes of memory. Here an array's length is checked against its
 * limit before any element is looked at, and element checks stop after the first {@link MAX_PROBLEMS}
 * problems, so a hostile body costs little more than its `JSON.parse`.
 */
import { badRequest, type HttpError } from './errors.js';

/** Problems named in one 400; checking stops once this many are found. */
export const MAX_PROBLEMS = 5;

/** How a value reads in a message: `a string`, `a number`, `null`, `an array`, `an object`, … */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface Problem {
  /** Dotted path into the body (`query.3`, `messages.0.content.2`); empty for the body itself. */
  path: string;
  message: string;
}

/** The 400 for a list of problems: `invalid request: query.3: expected a string, got a number; …`. */
export function invalidRequest(problems: readonly Problem[]): HttpError {
  const shown = problems
    .slice(0, MAX_PROBLEMS)
    .map((p) => `${p.path === '' ? 'body' : p.path}: ${p.message}`);
  // Checking stopped here: there may be more.
  const more = problems.length >= MAX_PROBLEMS ? ` (the first ${MAX_PROBLEMS} problems)` : '';
  const first = problems[0]?.path ?? '';
  return badRequest(`invalid request: ${shown.join('; ')}${more}`, first === '' ? null : first);
}

/** Collects problems up to {@link MAX_PROBLEMS}; checking stops once it is `full`. */
export interface ProblemList {
  readonly full: boolean;
  add(path: string, message: string): void;
  /** Throws the 400 naming the problems found, if any. */
  throwIfAny(): void;
}

export function problemList(): ProblemList {
  const items: Problem[] = [];
  return {
    get full() {
      return items.length >= MAX_PROBLEMS;
    },
    add(path, message) {
      if (items.length < MAX_PROBLEMS) items.push({ path, message });
    },
    throwIfAny() {
      if (items.length > 0) throw invalidRequest(items);
    },
  };
}

/** The body as an object, or a 400 saying what it is instead. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (!isPlainObject(body))
    throw invalidRequest([{ path: '', message: `expected a JSON object, got ${kindOf(body)}` }]);
  return body;
}

/**
 * `obj[key]` as an array of at most `max` elements. The length is checked first, so that an oversized
 * array is refused without looking at its elements.
 */
export function requireArray(
  obj: Record<string, unknown>,
  key: string,
  max: number,
  tooMany: (length: number) => HttpError,
): unknown[] {
  const value = obj[key];
  if (!Array.isArray(value)) {
    throw invalidRequest([{ path: key, message: `expected an array, got ${kindOf(value)}` }]);
  }
  if (value.length > max) throw tooMany(value.length);
  return value;
}

/**
 * Checks each element with `ok` and records `expected …, got …` for the bad ones, stopping as soon as
 * `problems` is full: the cost is the number of elements up to the last problem recorded.
 */
export function checkElements(
  array: readonly unknown[],
  path: string,
  expected: string,
  ok: (value: unknown) => boolean,
  problems: ProblemList,
): void {
  for (let i = 0; i < array.length && !problems.full; i++) {
    const v = array[i];
    if (!ok(v)) problems.add(`${path}.${i}`, `expected ${expected}, got ${kindOf(v)}`);
  }
}

/**
 * Whether a parsed JSON value holds at most `max` values in all (itself, array elements, object fields,
 * at any depth). It stops counting past `max`, so checking costs at most `max` steps.
 */
export function atMostValues(value: unknown, max: number): boolean {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++count > max) return false;
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      if (v.length > max) return false;
      for (const c of v) stack.push(c);
    } else {
      for (const key in v) {
        if (stack.length > max) return false;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return true;
}
