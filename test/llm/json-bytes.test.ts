import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonByteWriter } from '../../src/llm/json-bytes.js';

/** What every request body must be: the bytes JSON.stringify gives. */
function expectSameBytes(writer: JsonByteWriter, value: unknown): void {
  const text = JSON.stringify(value);
  const got = writer.encode(value);
  if (text === undefined) expect(got).toBeUndefined();
  else expect(got?.toString('hex')).toBe(Buffer.from(text, 'utf8').toString('hex'));
}

const long = (s: string): string => s.repeat(Math.ceil(600 / s.length));

describe('JsonByteWriter', () => {
  it('writes any JSON value, any UTF-16 text and repeated long strings as JSON.stringify does', () => {
    // One writer for every run, as a judge keeps one: what it remembers must never leak into a later value.
    const writer = new JsonByteWriter();
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({
        unit: fc.constantFrom('a', '"', '\\', '\n', '\u0001', 'é', '\ud800', '\udc00', '\ufffd', '😀'),
      }),
      fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 4 })
        .map((s) => s.repeat(Math.ceil(600 / s.length))),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.constant(undefined),
        fc.array(tie('value'), { maxLength: 5 }),
        fc.dictionary(text, tie('value'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(value, fc.array(text, { maxLength: 3 }), (v, again) => {
        expectSameBytes(writer, v);
        expectSameBytes(writer, { messages: again.map((content) => ({ role: 'user', content })), v });
        expectSameBytes(writer, { messages: again.map((content) => ({ role: 'user', content })) });
      }),
      { numRuns: 2000 },
    );
  });

  it('writes a chat request byte for byte as JSON.stringify does', () => {
    const writer = new JsonByteWriter(16);
    const rubric = long('Grade the reply. Finish with \\boxed{1} or \\boxed{0}.\n');
    for (let i = 0; i < 4; i++) {
      // The same rubric again and again (its bytes are kept after the second time), a new user text each time.
      expectSameBytes(writer, {
        chat_template_kwargs: { enable_thinking: false },
        model: 'judge',
        messages: [
          { role: 'system', content: rubric },
          {
            role: 'user',
            content: `### Problem ${i}\nCombien font « 1/2 + 1/2 » ? 😀 "quoted" \\ tab\there`,
          },
        ],
        max_tokens: 1024,
        temperature: 0,
        stream: false,
      });
    }
  });

  it('escapes every character as JSON.stringify does, lone surrogates and U+FFFD included', () => {
    const writer = new JsonByteWriter();
    const controls = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('');
    for (const s of [
      '',
      controls,
      '"\\/\u007f\u0080\u00ff\u2028\u2029',
      'é漢字😀',
      '\ufffd real replacement character',
      'lone \ud800 high',
      'lone \udfff low',
      '\udc00\ud800 reversed pair',
      `${long('x')}\ud83d`,
      long('naïve "text"\n'),
    ]) {
      expectSameBytes(writer, s);
      expectSameBytes(writer, { s });
      // Long strings twice: the second time from the bytes kept.
      expectSameBytes(writer, [s, s]);
    }
  });

  it('leaves out, turns to null and hands over what JSON.stringify does', () => {
    const writer = new JsonByteWriter();
    const date = new Date(Date.UTC(2026, 0, 2));
    expectSameBytes(writer, {
      a: undefined,
      b: () => 1,
      c: Symbol('s'),
      d: [undefined, () => 1, Symbol('s'), null],
      e: [Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 1.5e-7, 0.1 + 0.2],
      f: date,
      g: { toJSON: (key: string) => `key ${key}` },
      h: [{ toJSON: (key: string) => ({ at: key }) }],
      i: new Map([[1, 2]]),
      j: Object.assign(Object.create(null) as object, { x: 1 }),
      k: Object.assign(new String('boxed'), {}),
      l: new Uint8Array([1, 2]),
      [Symbol('hidden')]: 1,
      '2': 'integer keys first',
      'é"': true,
    });
    expectSameBytes(writer, undefined);
    expectSameBytes(writer, () => 1);
    expectSameBytes(writer, null);
    expectSameBytes(writer, date);
  });

  it('writes deep values, and refuses a cycle or a BigInt with the TypeError of JSON.stringify', () => {
    const writer = new JsonByteWriter();
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200; i++) deep = i % 2 === 0 ? [deep] : { deep };
    expectSameBytes(writer, deep);
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    expect(() => writer.encode(cycle)).toThrow(TypeError);
    expect(() => writer.encode({ n: 1n })).toThrow(TypeError);
    // Still usable afterwards.
    expectSameBytes(writer, { ok: true });
  });

  it('grows past its first buffer and keeps no bytes of an earlier value', () => {
    const writer = new JsonByteWriter(8);
    expectSameBytes(writer, { text: '€'.repeat(50_000) });
    // Escapes that need more room than the text's own bytes.
    expectSameBytes(writer, { text: '\u0001"\n'.repeat(20_000), after: 'end' });
    expectSameBytes(writer, { small: 1 });
  });
});
