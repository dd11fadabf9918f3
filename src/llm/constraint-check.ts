/**
 * Catching a server that ignored a constraint: after a generation that finished with `stop`, the output
 * must match the constraint's `check` (see `Constraint` in types.ts), alone or followed by one of the
 * request's stop strings (servers cut the stop string from the text, but the constrained language has it).
 */
import { excerpt } from './http.js';
import { ChatModelError, type Constraint, type GenerateResult } from './types.js';

/**
 * The RegExp an output is checked against: the constraint's own `check`, else a regex constraint's pattern
 * anchored at both ends; none for a gbnf constraint without `check`. A pattern JavaScript cannot compile is
 * refused before sending, since its output could not be checked.
 */
export function constraintCheck(constraint: Constraint | undefined, backend: string): RegExp | undefined {
  if (constraint === undefined) return undefined;
  if (constraint.check !== undefined) return constraint.check;
  if (constraint.kind === 'gbnf') return undefined;
  const source = `^(?:${constraint.pattern})$`;
  try {
    return new RegExp(source, 'u');
  } catch {
    try {
      return new RegExp(source);
    } catch (err) {
      throw new ChatModelError(
        `${backend}: the regex constraint is not a JavaScript regular expression, so the output could not be checked (${(err as Error).message}); pass constraint.check with an equivalent RegExp`,
        { backend, reason: 'refused', cause: err },
      );
    }
  }
}

/** A message naming the violation, or undefined when the output satisfies the check. */
export function checkViolation(
  check: RegExp | undefined,
  constraint: Constraint | undefined,
  text: string,
  finishReason: GenerateResult['finishReason'],
  stops: readonly string[],
): string | undefined {
  if (check === undefined || constraint === undefined || finishReason !== 'stop') return undefined;
  for (const candidate of [text, ...stops.map((s) => text + s)]) {
    check.lastIndex = 0;
    if (check.test(candidate)) return undefined;
  }
  const head = JSON.stringify(text.slice(0, 80));
  const tail = text.length > 160 ? ` … ${JSON.stringify(text.slice(-80))}` : '';
  return `the output violates the ${constraint.kind} constraint (the server may have ignored it): ${text.length} chars, ${head}${tail} does not match ${excerpt(String(check), 120)}`;
}
