import { describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { joinResponses, ResponsesError } from '../../src/eval/score.js';

/** A data row with only what the join reads. */
function row(id: string): DatasetRow {
  return {
    id,
    data_source: 'math-hard',
    prompt: [{ role: 'user', content: 'q' }],
    ground_truth: '1',
    extra_info: {},
    source: { file: 'rows.parquet', row: 0 },
  };
}

// The data readers give a 64-bit id past 2^53 as a decimal string (src/data/row.ts); a responses file
// that writes it as a JSON number would join to whatever row the rounded double names.
describe('eval score: ids of the responses file', () => {
  const rows = [row('12345678901234567891'), row('7')];

  it('joins an id written as a string, and a safe integer written as a number', () => {
    const joined = joinResponses(
      ['{"id":"12345678901234567891","response":"a"}', '{"id":7,"response":"b"}'].join('\n'),
      rows,
    );
    expect(joined.map((j) => j.response)).toEqual(['a', 'b']);
  });

  it('refuses an integer id past 2^53 − 1 or one that reads as Infinity, naming the line and the fix', () => {
    let error: unknown;
    try {
      joinResponses(
        ['{"id":12345678901234567891,"response":"a"}', '{"id":7e999,"response":"b"}'].join('\n'),
        rows,
        'out.jsonl',
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ResponsesError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /out\.jsonl:1: id 12345678901234567000 is an integer past 2\^53 − 1, .*write it as a string/,
    );
    expect(message).toMatch(
      /out\.jsonl:2: id must be a finite number \(it reads as Infinity\): write it as a string/,
    );
  });
});
