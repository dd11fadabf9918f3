/**
 * A verdict given with the input (`gtalign reward score` lines, `eval score` responses, `--judge offline`)
 * must be on its task's scale: a 7 where the scale is 0–1 is a mistake in the input (a 1–10 rubric, a
 * wrong column), and clipping it to 1 would score it as a perfect answer. It is an error for that record,
 * naming the id, the value and the scale.
 */
import { describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { scoreRow } from '../../src/eval/run.js';
import { type BatchItem, type BatchResult, newBatchStats, scoreBatch } from '../../src/reward/batch.js';
import { MATRIX, output } from './helpers.js';

const RESPONSE = output(MATRIX, 'I choose DQ_AQ.', 'The answer is 12.');

async function scoreOne(
  dataSource: string,
  verdict: number,
  groundTruth = '5',
  clipVerdicts = false,
): Promise<BatchResult> {
  const item: BatchItem = {
    line: 1,
    id: 'q-17',
    sample: { data_source: dataSource, response: RESPONSE, ground_truth: groundTruth },
    verdict,
  };
  const results: BatchResult[] = [];
  for await (const r of scoreBatch([item], { judge: undefined, clipVerdicts })) results.push(r);
  return results[0]!;
}

describe('an offline verdict off its task’s scale', () => {
  it('is an error naming the id, the value and the scale, not a clipped score', async () => {
    const r = await scoreOne('math-hard', 7);
    expect('error' in r).toBe(true);
    if (!('error' in r)) return;
    expect(r.id).toBe('q-17');
    // Not an input-line problem: eval runs read an `input` failure without a judge as "not judged".
    expect(r.error.stage).toBe('score');
    // The result carries the id; whoever reports it says where (the CLI: `line 1 (id "q-17"): …`).
    expect(r.error.message).toMatch(/\b7\b/);
    expect(r.error.message).toContain('math');
    expect(r.error.message).toMatch(/0\s*(–|-|to)\s*1|\{0, 1\}/);
  });

  it('checks each family against its own scale (writing 0–4, safety 0–1)', async () => {
    expect('error' in (await scoreOne('medium', 5))).toBe(true);
    expect('error' in (await scoreOne('medium', -1))).toBe(true);
    expect('error' in (await scoreOne('wildguard', 2, 'harmful'))).toBe(true);
    // On the scale: scored as before.
    for (const [source, verdict] of [
      ['medium', 4],
      ['medium', 0],
      ['wildguard', 0.5],
      ['math-hard', 1],
      ['ambig_qa', 0],
    ] as const) {
      const r = await scoreOne(source, verdict, source === 'wildguard' ? 'harmful' : 'x');
      expect('error' in r, `${source} ${verdict}`).toBe(false);
    }
  });

  it('is clipped into the scale, as the reference does, only when asked (clipVerdicts)', async () => {
    const clipped = await scoreOne('math-hard', 7, '5', true);
    const top = await scoreOne('math-hard', 1, '5');
    expect('record' in clipped && 'record' in top).toBe(true);
    if ('record' in clipped && 'record' in top) expect(clipped.record.score).toBe(top.record.score);
  });

  it('in an eval run (eval score, --judge offline) the record is a failure, not "not judged"', async () => {
    const row: DatasetRow = {
      id: 'math-hard:test:17',
      data_source: 'math-hard',
      prompt: [{ role: 'user', content: 'What is 5?' }],
      ground_truth: '5',
      extra_info: {},
      source: { file: 'test.parquet', row: 17 },
    };
    const reward = await scoreRow(
      row,
      { response: RESPONSE, verdict: 7 },
      { judge: undefined },
      newBatchStats(),
    );
    expect('error' in reward).toBe(true);
    if (!('error' in reward)) return;
    expect(reward.error.reason).not.toBe('no-judge');
    expect(reward.error.message).toMatch(/verdict 7 is outside the math scale/);
  });
});
