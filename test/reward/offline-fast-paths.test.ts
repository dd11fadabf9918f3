/**
 * The offline scorer's shortcuts give exactly what the general code gives: the hand-built default
 * configuration, the flat output line, the matrix-reasoning value, the payoff reader chosen by its first
 * quote, and the scored chunk as bytes.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePayoff } from '../../src/chain/payoff.js';
import { parsePythonJson } from '../../src/chain/py-json.js';
import { parsePythonLiteral } from '../../src/chain/py-literal.js';
import { newBatchStats, resolveBatchOptions, scoreWithoutJudge } from '../../src/reward/batch.js';
import { configId, DEFAULT_REWARD_CONFIG, rewardConfigSchema } from '../../src/reward/config.js';
import { outputLine, parseScoreLine } from '../../src/reward/jsonl.js';
import { checkMatrixReasoning, matrixReasoningValue } from '../../src/reward/matrix-check.js';
import { linesOfChunk, scoreChunk, scoreRawChunk } from '../../src/reward/offline-chunk.js';

const lines = readFileSync(new URL('../fixtures/reward-parity.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '');

describe('the default configuration without the schema', () => {
  it('is what the schema gives for {} (key order and id included)', () => {
    const parsed = rewardConfigSchema.parse({});
    expect(JSON.stringify(DEFAULT_REWARD_CONFIG)).toBe(JSON.stringify(parsed));
    expect(configId(DEFAULT_REWARD_CONFIG)).toBe(configId(parsed));
  });
});

describe('outputLine', () => {
  it('is JSON.stringify({ id, ...record }) for every parity result and every error', () => {
    const options = resolveBatchOptions({});
    const clipped = resolveBatchOptions({ clipVerdicts: true });
    const variants = [
      ...lines,
      '{"id": 1',
      '[1]',
      JSON.stringify({ id: 7, data_source: 'x', response: '', ground_truth: '' }),
    ];
    for (const [i, text] of variants.entries()) {
      for (const o of [options, clipped]) {
        const result = scoreWithoutJudge(parseScoreLine(text, i + 1), o, newBatchStats());
        if ('pending' in result) throw new Error('pending without a judge');
        const general =
          'error' in result
            ? JSON.stringify({
                id: result.id,
                line: result.line,
                ...(result.data_source ? { data_source: result.data_source } : {}),
                error: result.error,
              })
            : JSON.stringify({ id: result.id, ...result.record });
        expect(outputLine(result)).toBe(general);
      }
    }
  });
});

describe('matrixReasoningValue', () => {
  const cellValue = fc.oneof(
    fc.integer({ min: -3, max: 3 }),
    fc.constantFrom(0.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY),
  );
  const keys = ['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ'];
  const text = fc
    .array(
      fc.oneof(fc.constantFrom(...keys, 'DQ AQ', 'VQ-CQ', 'xDQ_DA', 'choose', ' ', 'and'), fc.string()),
      {
        maxLength: 8,
      },
    )
    .map((parts) => parts.join(' '));
  it('is checkMatrixReasoning(...).value, or null when it fails', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(cellValue, cellValue), { minLength: 6, maxLength: 6 }),
        text,
        (cells, t) => {
          const matrix = Object.fromEntries(
            keys.map((k, i) => [k, { LLM: cells[i]![0], user: cells[i]![1] }]),
          );
          const check = checkMatrixReasoning(matrix, t);
          expect(matrixReasoningValue(matrix, t)).toBe(check.ok ? check.value : null);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('parsePayoff picks its reader from the first quote', () => {
  const piece = fc.constantFrom(
    '{',
    '}',
    '"DQ_DA"',
    "'DQ_DA'",
    '“DQ_DA”',
    '‘LLM’',
    '"LLM"',
    "'user'",
    ':',
    ',',
    ' ',
    '1',
    '-2.5',
    'NaN',
    'Infinity',
    'True',
    '[',
    ']',
    "'a\"b'",
    '"it\'s"',
  );
  const firstQuote = (t: string) => t.match(/["'“”‘’]/)?.[0];

  it('skips JSON only when no JSON reader could succeed (the first quote is not ")', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (parts) => {
        const text = parts.join('');
        const q = firstQuote(text);
        if (q === undefined || q === '"') return;
        expect(() => JSON.parse(text)).toThrow();
        expect(parsePythonJson(text).ok).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it('reads Python-literal and curly payoffs as repaired, JSON ones as not', () => {
    const cells = ['DQ_DA', 'DQ_CQ', 'DQ_AQ', 'VQ_DA', 'VQ_CQ', 'VQ_AQ'];
    const json = `{${cells.map((k) => `"${k}": {"LLM": 1, "user": 2}`).join(', ')}}`;
    expect(parsePayoff(json)).toMatchObject({ ok: true, repaired: 'none', curlyQuotes: false });
    expect(parsePayoff(json.replaceAll('"', "'"))).toMatchObject({ ok: true, repaired: 'python-literal' });
    const curly = json.replace(/"([A-Za-z_]+)"/g, '“$1”');
    expect(parsePayoff(curly)).toMatchObject({ ok: true, repaired: 'python-literal', curlyQuotes: true });
    expect(parsePayoff(`{${cells.map((k) => `'${k}': {"LLM": 1, "user": 2,}`).join(', ')}}`)).toMatchObject({
      ok: true,
      repaired: 'python-literal',
    });
    const bad = parsePayoff("  {'DQ_DA': oops}");
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.errors.map((e) => e.message)).toEqual([
        expect.stringMatching(/^not valid JSON: /),
        expect.stringMatching(/^not a Python literal either: /),
      ]);
      expect(parsePythonLiteral("{'DQ_DA': oops}").ok).toBe(false);
    }
  });
});

describe('scoreRawChunk', () => {
  it('writes the bytes of scoreChunk over the same lines', () => {
    const text = `\ufeff${lines.join('\r\n')}\n\n   \n${lines.slice(0, 3).join('\n')}`;
    const chunk = { firstLine: 1, bytes: new Uint8Array(Buffer.from(text)) };
    for (const clipVerdicts of [false, true]) {
      const bytes = scoreRawChunk(chunk, { clipVerdicts });
      const lined = scoreChunk(linesOfChunk(chunk), { clipVerdicts });
      expect(Buffer.from(bytes.bytes).toString('utf8')).toBe(lined.text);
      expect(bytes.count).toBe(lined.count);
      expect(bytes.errors).toEqual(lined.errors);
      expect(bytes.stats).toEqual(lined.stats);
    }
  });
});
