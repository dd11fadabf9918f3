/**
 * `eval score --responses RUN_DIR/results.jsonl`: a run's results.jsonl may hold a record superseded by a
 * later line marked `"supersedes": true` (a resume judged it again); the join takes the last line of a row,
 * in the place of its first, as every reader of a run folder does. Any other second line stays a problem.
 */
import { describe, expect, it } from 'vitest';
import type { DatasetRow } from '../../src/data/row.js';
import { joinResponses, ResponsesError } from '../../src/eval/score.js';

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

const rows = [row('a'), row('b')];
const text = (...lines: object[]) => lines.map((l) => JSON.stringify(l)).join('\n');

describe('eval score: superseded records of a responses file', () => {
  it('takes the superseding line of a row, in the place of its first', () => {
    const joined = joinResponses(
      text(
        { id: 'a', response: 'A', cell: 'DQ_CQ' },
        { id: 'b', response: 'B' },
        { id: 'a', response: 'A', cell: 'DQ_DA', supersedes: true },
      ),
      rows,
    );
    expect(joined.map((j) => [j.rowId, j.response, j.cell, j.line])).toEqual([
      ['a', 'A', 'DQ_DA', 3],
      ['b', 'B', undefined, 2],
    ]);
  });

  it('refuses a second line of a row that is not marked "supersedes", naming both lines', () => {
    let err: unknown;
    try {
      joinResponses(text({ id: 'a', response: 'A' }, { id: 'a', response: 'A' }), rows);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResponsesError);
    expect((err as ResponsesError).problems).toEqual([
      {
        line: 2,
        message:
          'a second response for row a (the first is on line 1; only a line marked "supersedes": true may replace it)',
      },
    ]);
  });

  it('refuses a superseding line with another response than the line it replaces, as the run readers do', () => {
    let err: unknown;
    try {
      joinResponses(text({ id: 'a', response: 'A' }, { id: 'a', response: 'other', supersedes: true }), rows);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResponsesError);
    expect((err as ResponsesError).problems).toEqual([
      {
        line: 2,
        message:
          'a superseding line for row a with another response than line 1\'s ("supersedes": true replaces a record with the same output scored again)',
      },
    ]);
  });
});
