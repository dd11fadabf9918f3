import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonDuplicateKey, jsonErrorOffset, jsonNestingPast, lineAndColumn } from '../../src/io/json-scan.js';

/** Pieces of JSON and of near-JSON (NaN, a cut escape, a leading zero) that texts are made of. */
const piece = fc.constantFrom(
  ...['{', '}', '[', ']', ',', ':', '"a"', '"\\u00e9"', '"\\x"', '"\\', '"', '"\u0001"'],
  ...['1', '-', '0', '01', '1.', '1.5', '1e', '1e+5', '-0.5E-3', 'true', 'tru', 'false', 'null'],
  ...['NaN', 'Infinity', ' ', '\n', '\t', '\r', '\u00a0', 'x'],
);

function parseError(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('jsonErrorOffset', () => {
  it('finds an error exactly when JSON.parse does, at the position V8 names when it names one', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const text = pieces.join('');
        const message = parseError(text);
        const offset = jsonErrorOffset(text);
        expect(offset === undefined, `${JSON.stringify(text)}: ${message}`).toBe(message === undefined);
        const named = message === undefined ? null : /at position (\d+)/.exec(message);
        if (named !== null) expect(offset, JSON.stringify(text)).toBe(Number(named[1]));
      }),
      { numRuns: 20_000, seed: 7 },
    );
  });

  it('points at the token V8 names without a position: a NaN, a word, an early end', () => {
    expect(jsonErrorOffset('{"LLM": NaN}')).toBe(8);
    expect(jsonErrorOffset('[1, oops]')).toBe(4);
    expect(jsonErrorOffset('{"a": [1, 2')).toBe(11);
  });

  it('scans deep nesting without recursion', () => {
    const deep = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    expect(jsonErrorOffset(deep)).toBeUndefined();
    expect(jsonErrorOffset(`${deep}x`)).toBe(2_000_000);
  });
});

describe('jsonDuplicateKey', () => {
  it('finds a key an object holds twice, at its second occurrence, escapes read as JSON reads them', () => {
    expect(jsonDuplicateKey('{"a": 1, "a": 2}')).toEqual({ key: 'a', offset: 9 });
    expect(jsonDuplicateKey('{"a": 1, "\\u0061": 2}')).toEqual({ key: 'a', offset: 9 });
    expect(jsonDuplicateKey('{"x": [{"__proto__": 1, "__proto__": 2}]}')).toEqual({
      key: '__proto__',
      offset: 24,
    });
  });

  it('keeps each object to its own keys', () => {
    expect(jsonDuplicateKey('{"a": {"a": 1}, "b": {"a": 2}}')).toBeUndefined();
    expect(jsonDuplicateKey('[{"a": 1}, {"a": 2}]')).toBeUndefined();
    expect(jsonDuplicateKey('{"a": 1, "b": {"c": 1}, "c": 2}')).toBeUndefined();
  });
});

describe('jsonNestingPast', () => {
  it('finds the bracket that opens a level past the bound, not brackets inside strings', () => {
    expect(jsonNestingPast('{"a": [[1]]}', 3)).toBeUndefined();
    expect(jsonNestingPast('{"a": [[[1]]]}', 3)).toBe(8);
    expect(jsonNestingPast('{"a": "[[[[\\"[[["}', 1)).toBeUndefined();
    expect(jsonNestingPast('[{}, {}, {}]', 2)).toBeUndefined();
  });
});

describe('lineAndColumn', () => {
  it('counts lines at LF and columns from 1', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\ncd', 2)).toEqual({ line: 1, column: 3 });
    expect(lineAndColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
