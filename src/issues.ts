/**
 * Schema problems as users read them, the same everywhere (request bodies, data rows, run files, labels,
 * settings): a dotted path to the bad field and what is wrong with it, the first few only. Bounded: a
 * value with a million bad elements still gives a short message.
 */
import type { z } from 'zod';

export interface Issue {
  /** Dotted path to the field (`messages.0.role`); empty for the value itself. */
  path: string;
  message: string;
}

/** The first `max` issues of a Zod error, with paths joined (`a.0.b`) behind an optional prefix. */
export function zodIssues(error: z.ZodError, max = 5, prefix = ''): Issue[] {
  return error.issues.slice(0, max).map((i) => ({
    path: [prefix, ...i.path.map(String)].filter((s) => s !== '').join('.'),
    message: i.message,
  }));
}

/**
 * "field a.b: too small; field c: required; and 3 more". `whole` names the value itself when an issue
 * has no path ("record", "label"); `total` is how many issues there were, when more than shown.
 */
export function formatIssues(issues: readonly Issue[], whole = 'value', total = issues.length): string {
  const text = issues.map((i) => `${i.path === '' ? whole : `field ${i.path}`}: ${i.message}`).join('; ');
  return total > issues.length ? `${text}; and ${total - issues.length} more` : text;
}

/** A Zod error in one line, as {@link formatIssues} writes it. */
export function describeZodError(error: z.ZodError, whole = 'value', max = 5): string {
  return formatIssues(zodIssues(error, max), whole, error.issues.length);
}
