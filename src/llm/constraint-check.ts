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
  // A turn sends the same (frozen) constraint object with every request: compile its pattern once.
  const known = compiled.get(constraint);
  if (known !== undefined && known.pattern === constraint.pattern) return known.check;
  const check = compile(constraint.pattern, backend);
  compiled.set(constraint, { pattern: constraint.pattern, check });
  return check;
}

/** Checks compiled from regex constraints, by constraint (the pattern is compared: objects can change). */
const compiled = new WeakMap<Constraint, { pattern: string; check: RegExp }>();

function compile(pattern: string, backend: string): RegExp {
  const source = `^(?:${pattern})$`;
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

/**
 * Whether `check` matches `text`, or undefined when the regular-expression engine gives up: V8 throws a
 * RangeError (its backtracking stack) on a text of several megabytes for patterns like the four-block
 * format's. A server's reply is untrusted, so that is an output that cannot be checked, not a crash.
 */
function matches(check: RegExp, text: string): boolean | undefined {
  check.lastIndex = 0;
  try {
    return check.test(text);
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
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
  // Servers cut the stop string from the text, so the text with one of them appended usually matches:
  // try those first (any match will do, so the order changes nothing but the time).
  for (const stop of stops) if (matches(check, text + stop) === true) return undefined;
  const whole = matches(check, text);
  if (whole === true) return undefined;
  if (whole === undefined) {
    return `the output (${text.length} chars) is too long for JavaScript's regular expressions to check against the ${constraint.kind} constraint`;
  }
  const head = JSON.stringify(text.slice(0, 80));
  const tail = text.length > 160 ? ` … ${JSON.stringify(text.slice(-80))}` : '';
  return `the output violates the ${constraint.kind} constraint (the server may have ignored it): ${text.length} chars, ${head}${tail} does not match ${shownCheck(check)}`;
}

/** How a check reads in a message (its source is KiBs: shortened once per check). */
function shownCheck(check: RegExp): string {
  let shown = shownChecks.get(check);
  // `RegExp.prototype.compile` can change a RegExp in place: compare what it is now.
  if (shown === undefined || shown.source !== check.source || shown.flags !== check.flags) {
    shown = { source: check.source, flags: check.flags, text: excerpt(String(check), 120) };
    shownChecks.set(check, shown);
  }
  return shown.text;
}

const shownChecks = new WeakMap<RegExp, { source: string; flags: string; text: string }>();
