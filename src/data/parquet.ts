import {
  type AsyncBuffer,
  asyncBufferFromFile,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
} from 'hyparquet';
import { readFailureReason } from '../io/read-failure.js';
import { DataError } from './errors.js';
import { type DatasetRow, normalizeValue, parseRecord } from './row.js';
import { type Field, floatPaths, parquetFields } from './shape.js';

export interface ReadOptions {
  /** Rows to skip from the start of the file. */
  offset?: number;
  /** Most rows to return. */
  limit?: number;
}

/** A raw record: the file's columns with BigInt normalized, and its 0-based row. */
export interface RawRecord {
  row: number;
  value: Record<string, unknown>;
}

export interface ParquetFile {
  path: string;
  file: AsyncBuffer;
  metadata: FileMetaData;
  rows: number;
}

/** Opens a parquet file and reads its footer; errors name the file. */
export async function openParquet(path: string): Promise<ParquetFile> {
  let file: AsyncBuffer;
  try {
    file = await asyncBufferFromFile(path);
  } catch (err) {
    throw new DataError(`cannot read ${path}: ${readFailureReason(err)}`);
  }
  try {
    const metadata = await parquetMetadataAsync(file);
    return { path, file, metadata, rows: Number(metadata.num_rows) };
  } catch (err) {
    throw new DataError(`${path}: not a readable parquet file (${readFailureReason(err)})`);
  }
}

/** The file's top-level columns with their nested types, from its own schema. */
export function parquetFileFields(pq: ParquetFile): Field[] {
  return parquetFields(parquetSchema(pq.metadata));
}

/**
 * Yields the raw records of a parquet file, one row group at a time (memory stays at one group),
 * with 64-bit integers turned into numbers (or decimal strings beyond 2^53).
 */
export async function* iterateParquetRecords(
  source: string | ParquetFile,
  options: ReadOptions = {},
): AsyncGenerator<RawRecord> {
  const pq = typeof source === 'string' ? await openParquet(source) : source;
  const offset = Math.max(0, options.offset ?? 0);
  const stop = options.limit === undefined ? pq.rows : Math.min(pq.rows, offset + Math.max(0, options.limit));
  let groupStart = 0;
  for (const group of pq.metadata.row_groups) {
    if (groupStart >= stop) break;
    const groupEnd = groupStart + Number(group.num_rows);
    const from = Math.max(groupStart, offset);
    const to = Math.min(groupEnd, stop);
    if (from < to) {
      let records: Record<string, unknown>[];
      try {
        records = await parquetReadObjects({
          file: pq.file,
          metadata: pq.metadata,
          rowStart: from,
          rowEnd: to,
        });
      } catch (err) {
        throw new DataError(
          `${pq.path}: rows ${from}-${to - 1} cannot be decoded (${readFailureReason(err)})`,
        );
      }
      for (let i = 0; i < records.length; i++) {
        yield { row: from + i, value: normalizeValue(records[i]) as Record<string, unknown> };
      }
    }
    groupStart = groupEnd;
  }
}

/** Yields the normalized rows of a verl parquet file; the first invalid row throws a DataError naming it. */
export async function* iterateParquetRows(
  source: string | ParquetFile,
  options: ReadOptions = {},
): AsyncGenerator<DatasetRow> {
  const pq = typeof source === 'string' ? await openParquet(source) : source;
  const floats = floatPaths(parquetFileFields(pq));
  for await (const record of iterateParquetRecords(pq, options)) {
    const source = { file: pq.path, row: record.row, ...(floats.size > 0 ? { floatColumns: floats } : {}) };
    const result = parseRecord(record.value, source);
    if (!result.ok) throw result.error;
    yield result.row;
  }
}

/** Reads the rows of a verl parquet file (`offset`/`limit` select a range without decoding the rest). */
export async function readRows(path: string, options: ReadOptions = {}): Promise<DatasetRow[]> {
  const rows: DatasetRow[] = [];
  for await (const row of iterateParquetRows(path, options)) rows.push(row);
  return rows;
}
