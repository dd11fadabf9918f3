/**
 * A JSONL record's `id` must come back in the output as the input wrote it: that is how a user joins
 * results to inputs. `JSON.parse` keeps a string exactly, but not every number: `1e999` becomes Infinity
 * (written back as `null`), and an integer past 2^53 − 1 becomes the nearest double, which is written back
 * as another integer (`12345678901234567891` → `12345678901234567000`) and may equal a neighbour's id.
 * Such ids are refused with a message that says to quote them, instead of being changed silently.
 * (No schema library here: the offline scoring workers import this, and start faster without one;
 * record-id-schema.ts has the rule as a zod schema.)
 */

/** Why `id` (a parsed JSON value) cannot serve as a record's id, or undefined when it can. */
export function recordIdProblem(id: unknown): string | undefined {
  if (typeof id === 'string') return undefined;
  if (typeof id !== 'number') return `id must be a string or a number, got ${kindOf(id)}`;
  const problem = numericIdProblem(id);
  return problem === undefined ? undefined : `id ${problem}`;
}

/**
 * Why a parsed JSON number cannot make an id (it is not the number the input wrote), or undefined when it
 * can; the message follows the field's name.
 */
export function numericIdProblem(n: number): string | undefined {
  if (!Number.isFinite(n)) return 'must be a finite number (it reads as Infinity): write it as a string';
  if (Number.isInteger(n) && !Number.isSafeInteger(n))
    return `${n} is an integer past 2^53 − 1, which a JSON number here cannot keep exactly: write it as a string`;
  return undefined;
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
