import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  normalizeValue,
  parseFlatRecord,
  parseRecord,
  parseVerlRecord,
  rowId,
  toFlatRecord,
  toVerlRecord,
} from '../../src/data/row.js';

const verl = (over: Record<string, unknown> = {}) => ({
  prompt: [
    { role: 'system', content: 'be helpful' },
    { role: 'user', content: 'What is 2+2?' },
  ],
  data_source: 'math-hard',
  reward_model: { ground_truth: '4', style: 'rule' },
  extra_info: { index: 7, split: 'test', single_turn_prompt: 'What is 2+2?' },
  conv_id: 12,
  turn_id: 1,
  adversarial: false,
  ability: 'math-hard',
  ...over,
});

const src = { file: 'data/x.parquet', row: 3 };

describe('normalizeValue', () => {
  it('turns safe BigInts into numbers and unsafe ones into exact decimal strings', () => {
    expect(normalizeValue(42n)).toBe(42);
    expect(normalizeValue(-(2n ** 53n) + 1n)).toBe(-(2 ** 53) + 1);
    expect(normalizeValue(2n ** 53n)).toBe('9007199254740992');
    expect(normalizeValue(2n ** 63n - 1n)).toBe('9223372036854775807');
  });

  it('converts BigInts nested in structs and lists, keeps other values and nulls', () => {
    const input = { a: { b: [1n, null, 'x'] }, c: true, d: null, e: 1.5 };
    expect(normalizeValue(input)).toEqual({ a: { b: [1, null, 'x'] }, c: true, d: null, e: 1.5 });
    // The input is not mutated.
    expect(input.a.b[0]).toBe(1n);
  });

  it('returns the same object when nothing needs converting (no copy on the hot path)', () => {
    const input = { a: [{ b: 'x' }], c: 1 };
    expect(normalizeValue(input)).toBe(input);
  });

  it('turns typed arrays into arrays and dates into ISO strings', () => {
    expect(normalizeValue(new BigInt64Array([1n, 2n]))).toEqual([1, 2]);
    expect(normalizeValue(new Date(Date.UTC(2024, 0, 2)))).toBe('2024-01-02T00:00:00.000Z');
  });
});

describe('parseVerlRecord', () => {
  it('normalizes a verl record with a stable id and keeps unknown columns', () => {
    const r = parseVerlRecord(verl({ source: 'math-hard', unique_conv_id: 99 }), src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.row).toEqual({
      id: 'math-hard:test:7',
      data_source: 'math-hard',
      prompt: [
        { role: 'system', content: 'be helpful' },
        { role: 'user', content: 'What is 2+2?' },
      ],
      ground_truth: '4',
      extra_info: { index: 7, split: 'test', single_turn_prompt: 'What is 2+2?' },
      reward_style: 'rule',
      conv_id: 12,
      turn_id: 1,
      adversarial: false,
      ability: 'math-hard',
      columns: { source: 'math-hard', unique_conv_id: 99 },
      source: src,
    });
  });

  it('treats null optional columns as absent and a null extra_info as empty', () => {
    const r = parseVerlRecord(verl({ conv_id: null, ability: null, extra_info: null }), src);
    expect(r.ok && r.row).toMatchObject({ extra_info: {}, id: 'math-hard:x:row3' });
    expect(r.ok && 'conv_id' in r.row).toBe(false);
    expect(r.ok && 'ability' in r.row).toBe(false);
  });

  it('names the file, the row and the field of a bad value', () => {
    const r = parseVerlRecord(verl({ reward_model: { ground_truth: 4 } }), src);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toContain('data/x.parquet: row 3');
    expect(r.error.message).toContain('field reward_model.ground_truth');
    expect(r.error.source).toEqual(src);
  });

  it('refuses a numeric id, conv_id or extra_info.index that JSON.parse rounded, in either layout', () => {
    // 12345678901234567891 in a JSONL file reads as 12345678901234567000: the row would carry another id.
    const rounded = JSON.parse('12345678901234567891') as number;
    const flat = (over: Record<string, unknown>) => ({
      id: 'f',
      data_source: 'math-hard',
      prompt: [{ role: 'user', content: 'q' }],
      ground_truth: '4',
      ...over,
    });
    const cases: Array<[ReturnType<typeof parseRecord>, string]> = [
      [parseVerlRecord(verl({ id: rounded }), src), 'field id'],
      [parseVerlRecord(verl({ conv_id: rounded }), src), 'field conv_id'],
      [parseVerlRecord(verl({ extra_info: { index: rounded } }), src), 'field extra_info.index'],
      [parseFlatRecord(flat({ id: rounded }), src), 'field id'],
      [
        parseFlatRecord(flat({ id: undefined, extra_info: { index: rounded } }), src),
        'field extra_info.index',
      ],
    ];
    for (const [r, field] of cases) {
      expect(r.ok, field).toBe(false);
      expect(!r.ok && r.error.message).toContain(
        `${field}: 12345678901234567000 is an integer past 2^53 − 1, which a JSON number here cannot keep exactly: write it as a string`,
      );
    }
    // The largest exact integer, and the same value as a string, are ids as written.
    const ok = parseVerlRecord(
      verl({ conv_id: 9007199254740991, extra_info: { index: '12345678901234567891' } }),
      src,
    );
    expect(ok.ok && [ok.row.conv_id, ok.row.id]).toEqual([
      9007199254740991,
      'math-hard:x:12345678901234567891',
    ]);
  });

  it('keeps keys named like Object built-ins ("__proto__", "constructor") through reading and both exports', () => {
    const text = JSON.stringify(verl({ extra_info: { index: 1, a: 1 }, constructor: 'c', __x__: 1 }))
      .replace('"a":1', '"__proto__":{"polluted":true},"a":1')
      .replace('"__x__":1', '"__proto__":"column"');
    const r = parseRecord(JSON.parse(text), src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.hasOwn(r.row.extra_info, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    for (const out of [toVerlRecord(r.row), toFlatRecord(r.row)]) {
      const written = JSON.stringify(out);
      expect(written).toContain('"__proto__":{"polluted":true}');
      expect(written).toContain('"constructor":"c"');
      expect(written).toContain('"__proto__":"column"');
      const again = parseRecord(JSON.parse(written), src);
      expect(again.ok && JSON.stringify(toVerlRecord(again.row))).toBe(JSON.stringify(toVerlRecord(r.row)));
    }
  });

  it("keeps a message's other fields and reward_model's through both layouts", () => {
    const record = verl({
      prompt: [{ role: 'user', content: 'What is 2+2?', name: 'alice' }],
      reward_model: { ground_truth: '4', style: 'rule', version: 2, checker: { kind: 'exact' } },
    });
    const r = parseVerlRecord(record, src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const verlOut = toVerlRecord(r.row);
    expect(verlOut.reward_model).toEqual(record.reward_model);
    expect(verlOut.prompt).toEqual(record.prompt);
    const flat = parseFlatRecord(JSON.parse(JSON.stringify(toFlatRecord(r.row))), src);
    expect(flat.ok && toVerlRecord(flat.row)).toEqual(verlOut);
    expect(flat.ok && flat.row.reward_model_extra).toEqual({ version: 2, checker: { kind: 'exact' } });
  });

  it('rejects an unknown chat role and names the message index', () => {
    const r = parseVerlRecord(verl({ prompt: [{ role: 'tool', content: 'x' }] }), src);
    expect(!r.ok && r.error.message).toMatch(/field prompt\.0\.role/);
  });

  it('rejects an empty prompt and a non-object record', () => {
    expect(parseVerlRecord(verl({ prompt: [] }), src).ok).toBe(false);
    const r = parseVerlRecord([1, 2], src);
    expect(!r.ok && r.error.message).toContain('record is not a JSON object');
  });
});

describe('rowId', () => {
  it('takes the split from the file name over extra_info.split (the Minerva test file says "train")', () => {
    const minerva = { file: '/data/minerva/test.parquet', row: 0 };
    expect(rowId('minerva', { split: 'train', index: 0 }, minerva)).toBe('minerva:test:0');
    expect(rowId('minerva', { split: 'train', index: 3 }, { file: '/d/minerva_test.jsonl', row: 3 })).toBe(
      'minerva:test:3',
    );
    expect(rowId('x', { split: 'train', index: 1 }, { file: '/d/test-00000-of-00001.parquet', row: 1 })).toBe(
      'x:test:1',
    );
    // A file name that names no split, or two, leaves the row's own split.
    expect(rowId('x', { split: 'train', index: 1 }, { file: '/d/export.parquet', row: 1 })).toBe('x:train:1');
    expect(rowId('x', { split: 'dev', index: 1 }, { file: '/d/train_test.jsonl', row: 1 })).toBe('x:dev:1');
  });

  it('uses data source, split and index; falls back to the file name and the row', () => {
    expect(rowId('wildguard', { split: 'train', index: 0 }, src)).toBe('wildguard:train:0');
    expect(rowId('wildguard', { index: 5 }, { file: '/d/test.parquet', row: 9 })).toBe('wildguard:test:5');
    expect(rowId('wildguard', {}, { file: '/d/test.jsonl', row: 9 })).toBe('wildguard:test:row9');
    expect(rowId('wildguard', { split: 'test', index: '12345678901234567890' }, src)).toBe(
      'wildguard:test:12345678901234567890',
    );
  });
});

describe('flat layout', () => {
  it('reads a flat record, taking its own id', () => {
    const r = parseFlatRecord(
      { id: 'q1', data_source: 'ambig_qa', prompt: [{ role: 'user', content: 'hi' }], ground_truth: 'x' },
      { file: 'f.jsonl', row: 0, line: 1 },
    );
    expect(r.ok && r.row).toMatchObject({ id: 'q1', extra_info: {}, ground_truth: 'x' });
  });

  it('parseRecord chooses the layout by field, and says which fields it looked for', () => {
    const flat = { data_source: 'a', prompt: [{ role: 'user', content: 'x' }], ground_truth: 'g' };
    expect(parseRecord(flat, src).ok).toBe(true);
    expect(parseRecord(verl(), src).ok).toBe(true);
    const r = parseRecord({ data_source: 'a', prompt: [] }, { file: 'f.jsonl', row: 4, line: 6 });
    expect(!r.ok && r.error.message).toBe(
      'f.jsonl:6: field reward_model.ground_truth (verl layout) or ground_truth (flat layout) is missing',
    );
  });
});

const messageArb = fc.record({
  role: fc.constantFrom('system' as const, 'user' as const, 'assistant' as const),
  content: fc.string(),
});
const rowArb = fc.record({
  prompt: fc.array(messageArb, { minLength: 1, maxLength: 4 }),
  data_source: fc.string({ minLength: 1 }),
  ground_truth: fc.string(),
  index: fc.nat(),
  style: fc.option(fc.string(), { nil: undefined }),
  conv: fc.option(fc.oneof(fc.string(), fc.integer()), { nil: undefined }),
  turn: fc.option(fc.integer(), { nil: undefined }),
  adversarial: fc.option(fc.boolean(), { nil: undefined }),
  extra: fc.dictionary(
    fc.string().filter((k) => k !== 'index' && k !== '__proto__'),
    fc.jsonValue(),
  ),
});

describe('layout round trips', () => {
  it('verl → row → verl record → row gives the same row (any content)', () => {
    fc.assert(
      fc.property(rowArb, (a) => {
        const raw = {
          prompt: a.prompt,
          data_source: a.data_source,
          reward_model:
            a.style === undefined
              ? { ground_truth: a.ground_truth }
              : { ground_truth: a.ground_truth, style: a.style },
          extra_info: { ...a.extra, index: a.index },
          ...(a.conv !== undefined ? { conv_id: a.conv } : {}),
          ...(a.turn !== undefined ? { turn_id: a.turn } : {}),
          ...(a.adversarial !== undefined ? { adversarial: a.adversarial } : {}),
        };
        const first = parseVerlRecord(raw, src);
        expect(first.ok).toBe(true);
        if (!first.ok) return;
        // Through JSON text, as the exporters write it (JSON has no -0: compare with the JSON form).
        const expected = JSON.parse(JSON.stringify(first.row));
        const again = parseVerlRecord(JSON.parse(JSON.stringify(toVerlRecord(first.row))), src);
        expect(again.ok && again.row).toEqual(expected);
        const flat = parseFlatRecord(JSON.parse(JSON.stringify(toFlatRecord(first.row))), src);
        expect(flat.ok && flat.row).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
