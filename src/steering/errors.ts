/**
 * The steering layer's one error type: every problem names the field (a dotted path such as
 * `actions.CQ.extraTurns`) and, when the data came from a file, the file.
 */

import { z } from 'zod';
import { GtalignError } from '../errors.js';

/** One thing wrong. `path` is dotted (`pricePerMillionInput`, `columns.DA.LLM`); empty for the whole value. */
export interface SteeringIssue {
  path: string;
  message: string;
}

/** What was being read or applied when the problem was found. */
export type SteeringErrorKind = 'policy' | 'profile' | 'preset' | 'edits' | 'file';

export class SteeringError extends GtalignError {
  readonly code = 'input';
  readonly kind: SteeringErrorKind;
  readonly issues: readonly SteeringIssue[];
  /** The file the data came from, when it came from one. */
  readonly file: string | undefined;

  constructor(kind: SteeringErrorKind, issues: readonly SteeringIssue[], file?: string) {
    super(formatMessage(kind, issues, file));
    this.name = 'SteeringError';
    this.kind = kind;
    this.issues = issues;
    this.file = file;
  }

  /** The same problems, now said to come from `file`. */
  inFile(file: string): SteeringError {
    return new SteeringError(this.kind, this.issues, file);
  }
}

const WHAT: Record<SteeringErrorKind, string> = {
  policy: 'invalid steering policy',
  profile: 'invalid action profile',
  preset: 'unknown steering preset',
  edits: 'cannot apply payoff edits',
  file: 'cannot read steering file',
};

function formatMessage(kind: SteeringErrorKind, issues: readonly SteeringIssue[], file?: string): string {
  const where = file === undefined ? '' : ` in ${JSON.stringify(file)}`;
  const shown = issues
    .slice(0, 5)
    .map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`))
    .join('; ');
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
  return `${WHAT[kind]}${where}: ${shown}${more}`;
}

/** An action (column) name as a record key. */
export const actionName = z.string().min(1, { error: 'empty action name' });

/** A name or value shown in a message, cut at 40 characters: a request may send half a megabyte of one. */
const shortened = (text: string): string => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

/** Short, safe rendering of an offending value for a message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(shortened(value));
  if (typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * Turns zod issues into issues that name the field and the offending value. Unknown keys become one issue
 * each (at their own path), so a typo is reported where it is.
 */
export function issuesFromZod(error: z.ZodError, input: unknown, prefix = ''): SteeringIssue[] {
  const out: SteeringIssue[] = [];
  const join = (path: readonly PropertyKey[]) =>
    [prefix, ...path.map((p) => shortened(String(p)))].filter((s) => s !== '').join('.');
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: join([...issue.path, key]), message: 'unknown field' });
      continue;
    }
    const got = valueAt(input, issue.path);
    const message =
      issue.code === 'custom' || got === undefined
        ? issue.message
        : `${issue.message}, got ${describeValue(got)}`;
    out.push({ path: join(issue.path), message });
  }
  return out;
}
