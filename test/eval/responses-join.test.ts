/** `eval score --responses`: how a responses file joins to the data rows (ids, and superseded lines). */
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

// A run's results.jsonl may hold a record superseded by a later line marked `"supersedes": true` (a resume
// judged it again): the join takes the last line of a row, in the place of its first, as every reader of
// a run folder does. Any other second line stays a problem.
const supersededRows = [row('a'), row('b')];
const text = (...lines: object[]) => lines.map((l) => JSON.stringify(l)).join('\n');

/** The problems the join throws for `lines` (it must throw). */
function problemsOf(...lines: object[]): ResponsesError['problems'] {
  let err: unknown;
  try {
    joinResponses(text(...lines), supersededRows);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ResponsesError);
  return (err as ResponsesError).problems;
}

describe('eval score: superseded records of a responses file', () => {
  it('takes the superseding line of a row, in the place of its first', () => {
    const joined = joinResponses(
      text(
        { id: 'a', response: 'A', cell: 'DQ_CQ' },
        { id: 'b', response: 'B' },
        { id: 'a', response: 'A', cell: 'DQ_DA', supersedes: true },
      ),
      supersededRows,
    );
    expect(joined.map((j) => [j.rowId, j.response, j.cell, j.line])).toEqual([
      ['a', 'A', 'DQ_DA', 3],
      ['b', 'B', undefined, 2],
    ]);
  });

  it('refuses a second line of a row that is not marked "supersedes", naming both lines', () => {
    expect(problemsOf({ id: 'a', response: 'A' }, { id: 'a', response: 'A' })).toEqual([
      {
        line: 2,
        message:
          'a second response for row a (the first is on line 1; only a line marked "supersedes": true may replace it)',
      },
    ]);
  });

  it('refuses a superseding line with another response than the line it replaces, as the run readers do', () => {
    expect(problemsOf({ id: 'a', response: 'A' }, { id: 'a', response: 'other', supersedes: true })).toEqual([
      {
        line: 2,
        message:
          'a superseding line for row a with another response than line 1\'s ("supersedes": true replaces a record with the same output scored again)',
      },
    ]);
  });
});

describe('eval score: a superseding line without its first', () => {
  it('is refused, as the run readers refuse it', () => {
    expect(problemsOf({ id: 'b', response: 'B' }, { id: 'a', response: 'A', supersedes: true })).toEqual([
      {
        line: 2,
        message: '"supersedes" on the first line of row a: there is no earlier response to replace',
      },
    ]);
  });
});

describe('eval score: a conversation run', () => {
  it("refuses a conversation run's results.jsonl, saying eval score does not score conversations", () => {
    const line = JSON.stringify({
      id: '7~cooperative',
      response: 'a',
      conversation: { persona: 'cooperative', per_turn: [] },
    });
    expect(() => joinResponses(line, [row('7')], 'run/results.jsonl')).toThrow(
      /^run\/results\.jsonl:1: a conversation record \(gtalign eval run --turns N\): eval score does not score conversation runs/,
    );
  });
});
