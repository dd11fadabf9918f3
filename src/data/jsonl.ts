import { createReadStream, type ReadStream } from 'node:fs';
import { LineTooLongError, readLines } from '../io/lines.js';
import { readFailureReason } from '../io/read-failure.js';
import { DataError } from './errors.js';
import type { ReadOptions } from './parquet.js';
import { type DatasetRow, parseRecord, type RecordResult } from './row.js';

/** A raw JSONL record: its 0-based position among the file's records, its 1-based line, its value. */
export interface JsonlRecord {
  row: number;
  line: number;
  value: unknown;
}

async function openStream(path: string): Promise<ReadStream> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) =>
      reject(new DataError(`cannot read ${path}: ${readFailureReason(err)}`)),
    );
  });
  return stream;
}

/** One non-blank line: its 0-based position among the file's records, its 1-based line number, its text. */
export interface JsonlLine {
  row: number;
  line: number;
  text: string;
  /** What is wrong when the line is not UTF-8 (see NumberedLine). */
  notUtf8?: string;
}

/** Yields the non-blank lines of a file; `offset`/`limit` count records (non-blank lines), not lines. */
export async function* iterateJsonlLines(path: string, options: ReadOptions = {}): AsyncGenerator<JsonlLine> {
  const offset = Math.max(0, options.offset ?? 0);
  const stop = options.limit === undefined ? Number.POSITIVE_INFINITY : offset + Math.max(0, options.limit);
  if (stop <= offset) return;
  const stream = await openStream(path);
  let row = 0;
  try {
    for await (const { line, text, notUtf8 } of readLines(stream, { name: path })) {
      if (text.trim() === '') continue;
      const index = row++;
      if (index < offset) continue;
      yield notUtf8 === undefined ? { row: index, line, text } : { row: index, line, text, notUtf8 };
      if (row >= stop) break;
    }
  } catch (err) {
    if (err instanceof LineTooLongError)
      throw new DataError(err.message, { file: path, row, line: err.line });
    throw err;
  } finally {
    stream.destroy();
  }
}

/** Parses one line's JSON; the error names the file and line. Never throws. */
export function parseJsonlLine(path: string, line: JsonlLine): JsonlRecord | DataError {
  if (line.notUtf8 !== undefined)
    return new DataError(`${path}:${line.line}: ${line.notUtf8}`, {
      file: path,
      row: line.row,
      line: line.line,
    });
  try {
    const value: unknown = JSON.parse(line.text);
    return { row: line.row, line: line.line, value };
  } catch (err) {
    return new DataError(`${path}:${line.line}: not valid JSON (${(err as Error).message})`, {
      file: path,
      row: line.row,
      line: line.line,
    });
  }
}

/** Yields the JSON value of every non-blank line; a line that is not JSON throws a DataError naming it. */
export async function* iterateJsonlRecords(
  path: string,
  options: ReadOptions = {},
): AsyncGenerator<JsonlRecord> {
  for await (const line of iterateJsonlLines(path, options)) {
    const record = parseJsonlLine(path, line);
    if (record instanceof DataError) throw record;
    yield record;
  }
}

/** Validates a JSONL record in either layout (verl or flat); errors name the file, line and field. */
export function parseJsonlRecord(path: string, record: JsonlRecord): RecordResult {
  return parseRecord(record.value, { file: path, row: record.row, line: record.line });
}

/** Yields normalized rows from JSONL; the first bad line throws a DataError naming line and field. */
export async function* iterateJsonlRows(path: string, options: ReadOptions = {}): AsyncGenerator<DatasetRow> {
  for await (const record of iterateJsonlRecords(path, options)) {
    const result = parseJsonlRecord(path, record);
    if (!result.ok) throw result.error;
    yield result.row;
  }
}

export async function readJsonlRows(path: string, options: ReadOptions = {}): Promise<DatasetRow[]> {
  const rows: DatasetRow[] = [];
  for await (const row of iterateJsonlRows(path, options)) rows.push(row);
  return rows;
}
