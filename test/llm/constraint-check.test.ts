/**
 * The check of a server that ignored a regex constraint: what passes, what is reported, and that a check
 * compiled once per constraint still follows a constraint whose pattern was changed.
 */
import { describe, expect, it } from 'vitest';
import { buildFormatRegExp } from '../../src/chain/grammar.js';
import { checkViolation, constraintCheck } from '../../src/llm/constraint-check.js';
import type { Constraint } from '../../src/llm/types.js';

describe('constraint checks', () => {
  const constraint: Constraint = { kind: 'regex', pattern: '<a>[0-9]+</a>' };

  it('passes the output alone or followed by a stop string, and names the check when neither matches', () => {
    const check = constraintCheck(constraint, 'vllm:m');
    expect(checkViolation(check, constraint, '<a>12</a>', 'stop', ['</b>'])).toBeUndefined();
    expect(checkViolation(check, constraint, '<a>12', 'stop', ['</b>', '</a>'])).toBeUndefined();
    const violation = checkViolation(check, constraint, '<a>x</a>', 'stop', ['</a>']);
    expect(violation).toContain('violates the regex constraint');
    expect(violation).toContain('/^(?:<a>[0-9]+<\\/a>)$/u');
    // A cut output is not checked.
    expect(checkViolation(check, constraint, '<a>x', 'length', [])).toBeUndefined();
  });

  it("reports an output too long for the engine to check as unchecked, instead of throwing (the format's check on 8 MB)", () => {
    const format: Constraint = { kind: 'gbnf', grammar: 'root ::= "x"', check: buildFormatRegExp() };
    // V8 gives up on the four-block format's pattern somewhere between 4 and 8 MB (its backtracking stack).
    const text = `<thinking>${'x'.repeat(12 << 20)}</thinking>\n<payoff>{}</payoff>`;
    const violation = checkViolation(constraintCheck(format, 'llamacpp:m'), format, text, 'stop', [
      '</payoff>',
    ]);
    expect(violation).toMatch(
      /^the output \(\d+ chars\) is too long for JavaScript's regular expressions to check/,
    );
  });

  it('shortens a long check in the message', () => {
    const long: Constraint = { kind: 'regex', pattern: `(?:${'a|'.repeat(400)}b)` };
    const violation = checkViolation(constraintCheck(long, 'x'), long, 'c', 'stop', []);
    expect(violation).toMatch(/does not match \/\^\(\?:\(\?:a\|a\|.*…$/);
    expect(violation!.length).toBeLessThan(400);
  });

  it('follows a constraint whose pattern changed after it was first checked', () => {
    const mutable = { kind: 'regex', pattern: '[0-9]+' } as { kind: 'regex'; pattern: string };
    expect(constraintCheck(mutable, 'x')!.test('12')).toBe(true);
    mutable.pattern = '[a-z]+';
    const check = constraintCheck(mutable, 'x')!;
    expect(check.test('12')).toBe(false);
    expect(check.test('ab')).toBe(true);
  });

  it('refuses a pattern JavaScript cannot compile, naming the backend', () => {
    expect(() => constraintCheck({ kind: 'regex', pattern: '(' }, 'vllm:m')).toThrow(
      /vllm:m: the regex constraint is not a JavaScript regular expression/,
    );
  });
});
