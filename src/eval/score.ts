/**
 * Scoring outputs generated elsewhere (`gtalign eval score`): a JSONL file of responses joined to the
 * data-set rows, then the same scoring, run store and metrics as `gtalign eval run`.
 *
 * Each line is an object with `response` (the full output) and one way to find its row, in this order:
 * - `id`: the row's id (`math-hard:test:300`; see `DatasetRow.id`); a number is read as its decimal text;
 * - `index`: the row's 0-based position among the rows of the given data files, in the order given;
 * - neither: the line's own 0-based position among the non-blank lines (responses in row order).
 * Optional: `verdict` (the judge's verdict on the task's native scale, used instead of asking the
 * judge, as in `gtalign reward score`), `cell` and `action` (the chosen cell, for the action mix),
 * `trace` (kept in the record). Other fields are ignored, so a run's own results.jsonl can be
 * scored again (e.g. with another judge). One response per row, except that a line marked
 * `"supersedes": true` replaces the earlier response of its row, in its place: the last line of an id is
 * its record in a run's results.jsonl (a resume that judged a record again, see run.ts). A conversation
 * run's results.jsonl (records with a `conversation` summary) is refused: its turns are scored as they run.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { DatasetRow } from '../data/row.js';
import { GtalignError } from '../errors.js';
import { type NumberedLine, readLines } from '../io/lines.js';
import { recordIdProblem } from '../io/record-id.js';
import type { RowOutput, RowProducer } from './run.js';

export interface ResponseLine extends RowOutput {
  /** 1-based line number in the file. */
  line: number;
  rowId: string;
}

export interface ResponseProblem {
  line: number;
  message: string;
}

/** Responses that cannot be joined to the rows; `problems` lists every bad line. */
export class ResponsesError extends GtalignError {
  readonly code = 'input';
  constructor(
    readonly file: string,
    readonly problems: ResponseProblem[],
  ) {
    const shown = problems.slice(0, 5).map((p) => `${file}:${p.line}: ${p.message}`);
    super(`${shown.join('\n')}${problems.length > 5 ? `\n… and ${problems.length - 5} more` : ''}`);
    this.name = 'ResponsesError';
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/**
 * Parses the responses text and joins each line to a row (see the module comment). Every problem (bad
 * JSON, a missing response, an unknown id, an index out of range, a second line for one row that does not
 * supersede the first) is collected;
 * any problem throws {@link ResponsesError}, so nothing is scored from a file that does not fit the data.
 */
export function joinResponses(
  input: string | readonly NumberedLine[],
  rows: readonly DatasetRow[],
  file = 'responses',
): ResponseLine[] {
  const byId = new Map<string, number>();
  rows.forEach((r, i) => {
    byId.set(r.id, i);
  });
  // The first line of each row, and where its response is in `out`.
  const taken = new Map<string, { line: number; index: number }>();
  const problems: ResponseProblem[] = [];
  const out: ResponseLine[] = [];
  const lines =
    typeof input === 'string'
      ? input.split('\n').map((text, i) => ({ line: i + 1, text: text.replace(/\r$/, '') }))
      : input;
  let position = 0;
  for (const { line, text: raw, notUtf8 } of lines as ReadonlyArray<NumberedLine>) {
    if (raw.trim() === '') continue;
    const own = position++;
    if (notUtf8 !== undefined) {
      problems.push({ line, message: notUtf8 });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      problems.push({ line, message: `not valid JSON (${(err as Error).message})` });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({ line, message: `expected a JSON object, got ${describe(value)}` });
      continue;
    }
    const v = value as Record<string, unknown>;
    if (typeof v.conversation === 'object' && v.conversation !== null) {
      // Its id (ROW_ID~PERSONA) is no row, and its turns are scored only by the run that made them.
      throw new ResponsesError(file, [
        {
          line,
          message:
            'a conversation record (gtalign eval run --turns N): eval score does not score conversation runs; they are judged as they run (--judge-url … --judge-model …), and eval run --resume judges again the turns whose judge failed',
        },
      ]);
    }
    const bad: string[] = [];
    if (typeof v.response !== 'string') bad.push(`response must be a string, got ${describe(v.response)}`);
    const idProblem = v.id === undefined || v.id === null ? undefined : recordIdProblem(v.id);
    if (idProblem !== undefined) bad.push(idProblem);
    if (
      v.index !== undefined &&
      v.index !== null &&
      !(Number.isSafeInteger(v.index) && (v.index as number) >= 0)
    ) {
      bad.push(`index must be an integer ≥ 0, got ${JSON.stringify(v.index)}`);
    }
    if (
      v.verdict !== undefined &&
      v.verdict !== null &&
      !(typeof v.verdict === 'number' && Number.isFinite(v.verdict))
    ) {
      bad.push(`verdict must be a finite number, got ${describe(v.verdict)}`);
    }
    for (const f of ['cell', 'action'] as const) {
      if (v[f] !== undefined && v[f] !== null && typeof v[f] !== 'string')
        bad.push(`${f} must be a string, got ${describe(v[f])}`);
    }
    if (bad.length > 0) {
      problems.push({ line, message: bad.join('; ') });
      continue;
    }
    let at: number | undefined;
    if (typeof v.id === 'string' || typeof v.id === 'number') {
      at = byId.get(String(v.id));
      if (at === undefined) {
        problems.push({ line, message: `id ${JSON.stringify(String(v.id))} is not a row of the data files` });
        continue;
      }
    } else {
      const index = typeof v.index === 'number' ? v.index : own;
      if (index >= rows.length) {
        const what =
          typeof v.index === 'number' ? `index ${index}` : `line position ${index} (no id or index)`;
        problems.push({
          line,
          message: `${what} is past the last row (the data files have ${rows.length} rows)`,
        });
        continue;
      }
      at = index;
    }
    const row = rows[at]!;
    const first = taken.get(row.id);
    if (first !== undefined && v.supersedes !== true) {
      problems.push({
        line,
        message: `a second response for row ${row.id} (the first is on line ${first.line}; only a line marked "supersedes": true may replace it)`,
      });
      continue;
    }
    if (first === undefined && v.supersedes === true) {
      // As the run readers: a superseding line whose first line is gone is a record cut out of its run.
      problems.push({
        line,
        message: `"supersedes" on the first line of row ${row.id}: there is no earlier response to replace`,
      });
      continue;
    }
    if (first !== undefined && out[first.index]!.response !== v.response) {
      // A superseding line scores the same output again (run-dir.ts's rule for results.jsonl).
      problems.push({
        line,
        message: `a superseding line for row ${row.id} with another response than line ${first.line}'s ("supersedes": true replaces a record with the same output scored again)`,
      });
      continue;
    }
    if (first === undefined) taken.set(row.id, { line, index: out.length });
    out[first?.index ?? out.length] = {
      line,
      rowId: row.id,
      response: v.response as string,
      ...(typeof v.verdict === 'number' ? { verdict: v.verdict } : {}),
      ...(typeof v.cell === 'string' ? { cell: v.cell } : {}),
      ...(typeof v.action === 'string' ? { action: v.action } : {}),
      ...(v.trace === undefined ? {} : { trace: v.trace }),
    };
  }
  if (problems.length > 0) throw new ResponsesError(file, problems);
  return out;
}

/**
 * Reads a responses file: its lines and the SHA-256 of its bytes (saved in the run's config). A line over
 * the line bound fails with a `LineTooLongError` naming it; file errors are the system's.
 */
export async function readResponsesFile(path: string): Promise<{ lines: NumberedLine[]; sha256: string }> {
  const hash = createHash('sha256');
  const lines: NumberedLine[] = [];
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  }
  for await (const l of readLines(hashed(), { name: path })) lines.push(l);
  return { lines, sha256: hash.digest('hex') };
}

/** The rows that have a response (in response order) and a producer that hands out those responses. */
export function responsesProducer(
  joined: readonly ResponseLine[],
  rows: readonly DatasetRow[],
): { rows: DatasetRow[]; produce: RowProducer } {
  const byRow = new Map<string, ResponseLine>();
  for (const j of joined) byRow.set(j.rowId, j);
  const rowById = new Map(rows.map((r) => [r.id, r] as const));
  return {
    rows: joined.map((j) => rowById.get(j.rowId)!),
    produce: async (row) => {
      const j = byRow.get(row.id)!;
      const { line: _line, rowId: _rowId, ...output } = j;
      return output;
    },
  };
}
