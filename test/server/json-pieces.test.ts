/**
 * A large body parsed piece by piece gives exactly what `JSON.parse` of the whole gives, or hands the body
 * back to be parsed whole; it never accepts what `JSON.parse` refuses.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NOT_PIECEWISE, parseJsonPieces } from '../../src/server/json-pieces.js';

/** JSON.parse of the whole, or the error it throws. */
function whole(bytes: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(bytes.toString('utf8')) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The same value, key order and own `__proto__` keys included. */
function expectSame(got: unknown, want: unknown): void {
  expect(JSON.stringify(got)).toBe(JSON.stringify(want));
  expect(got).toStrictEqual(want);
}

/** Piecewise equals whole; with `piecewise`, the body must also be read piece by piece (valid objects are). */
function check(bytes: Buffer, piecewise = false): void {
  const got = parseJsonPieces(bytes);
  const want = whole(bytes);
  if (got === NOT_PIECEWISE) {
    if (piecewise) throw new Error(`a valid object body was not read piece by piece: ${bytes.toString()}`);
    return;
  }
  if ('error' in want)
    throw new Error(`accepted a body JSON.parse refuses (${want.error}): ${bytes.toString()}`);
  expectSame(got, want.value);
}

describe('parseJsonPieces', () => {
  it('reads a batch of samples as JSON.parse does, piece by piece', () => {
    const body = Buffer.from(
      ` \r\n{"samples" : [ {"id":1,"response":"a \\"quoted\\" ] } [ { — 中文 😀\\\\"}, {"id":2} ,{"id":[3,{"x":"]"}]}],` +
        `"n":  2, "ok":true ,"none":null,"s":"}","neg":-1.5e3,"empty":[],"o":{}}\n`,
    );
    const got = parseJsonPieces(body);
    expect(got).not.toBe(NOT_PIECEWISE);
    expectSame(got, JSON.parse(body.toString()));
  });

  it('sets members as JSON.parse does: a repeated key keeps its place and its last value; __proto__ is an own key', () => {
    const body = Buffer.from('{"a":1,"__proto__":{"polluted":true},"b":[1],"a":[2,3]}');
    const got = parseJsonPieces(body) as Record<string, unknown>;
    expectSame(got, JSON.parse(body.toString()));
    expect(Object.keys(got)).toEqual(['a', '__proto__', 'b']);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('hands back what it does not read piece by piece: other top-level values, and every malformed body', () => {
    const refused = [
      '[1,2]',
      '"text"',
      '',
      '   ',
      '\ufeff{"a":1}',
      '{"a":[1,]}',
      '{"a":[1 2]}',
      '{"a":1,}',
      '{"a" 1}',
      '{"a":1}x',
      '{"a":[1,2}',
      '{"a":"unterminated}',
      '{"a":01}',
      '{a:1}',
      '{"a":[{"b":1}]',
      '{"a":"\u0001"}',
    ];
    for (const text of refused) {
      const bytes = Buffer.from(text);
      expect(parseJsonPieces(bytes), text).toBe(NOT_PIECEWISE);
    }
  });

  it('hands back a large body of tiny elements, which is faster parsed whole', () => {
    const tiny = Buffer.from(`{"samples":[${Array.from({ length: 50_000 }, () => '1').join(',')}]}`);
    expect(parseJsonPieces(tiny)).toBe(NOT_PIECEWISE);
    const large = Buffer.from(
      JSON.stringify({ samples: Array.from({ length: 200 }, (_, i) => ({ i, text: 'x'.repeat(500) })) }),
    );
    expect(parseJsonPieces(large)).not.toBe(NOT_PIECEWISE);
  });

  it('equals JSON.parse on arbitrary objects of arrays and values', () => {
    const member = fc.oneof(fc.array(fc.jsonValue(), { maxLength: 6 }), fc.jsonValue());
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'binary' }), member, { maxKeys: 6 }),
        fc.boolean(),
        (obj, pretty) => {
          check(Buffer.from(JSON.stringify(obj, null, pretty ? 2 : undefined)), true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never accepts a body JSON.parse refuses, whatever byte is changed', () => {
    const sample = {
      samples: [{ id: 'x', response: 'a "b" [c] {d} \\ é', n: [1, 2.5, null, true] }],
      k: 'v',
    };
    const text = JSON.stringify(sample);
    fc.assert(
      fc.property(
        fc.nat({ max: text.length - 1 }),
        fc.constantFrom('', ',', ']', '[', '}', '{', '"', '\\', ':', ' ', 'x', '1', '\u0000'),
        fc.boolean(),
        (at, insert, replace) => {
          const changed = text.slice(0, at) + insert + text.slice(replace ? at + 1 : at);
          check(Buffer.from(changed));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
