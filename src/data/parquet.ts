import { isUtf8 } from 'node:buffer';
import {
  type AsyncBuffer,
  asyncBufferFromFile,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
} from 'hyparquet';
import { formatBytes } from '../io/format-bytes.js';
import { readFailureReason } from '../io/read-failure.js';
import { utf8Problem } from '../io/utf8.js';
import { DataError, describeSource } from './errors.js';
import { type DatasetRow, normalizeValue, parseRecord } from './row.js';
import { type Field, floatPaths, parquetFields, type Shape } from './shape.js';

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
  /**
   * Set when a string of the row is not UTF-8: the field and what is wrong (`field prompt.1.content: not
   * valid UTF-8: …`). `value` then holds U+FFFD for the bad bytes, for showing only: a reader reports the
   * row instead of using it (as for a JSONL line, see JsonlLine).
   */
  notUtf8?: string;
}

/** A string column's value whose bytes are not UTF-8, kept as bytes until its row and field are named. */
class NotUtf8String {
  constructor(readonly bytes: Uint8Array) {}
}

const utf8Decoder = new TextDecoder();

/**
 * Replaces the NotUtf8String values in a record read from parquet by their text with U+FFFD, and says
 * where the first was and what is wrong with it; undefined when there is none.
 */
function takeNotUtf8(value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return undefined;
  let first: string | undefined;
  const container = value as Record<string, unknown>;
  for (const key of Object.keys(container)) {
    const v = container[key];
    const at = path === '' ? key : `${path}.${key}`;
    if (v instanceof NotUtf8String) {
      container[key] = utf8Decoder.decode(v.bytes);
      first ??= `field ${at}: ${utf8Problem(v.bytes, 'the string')?.split(';')[0]}`;
    } else {
      const inner = takeNotUtf8(v, at);
      first ??= inner;
    }
  }
  return first;
}

export interface ParquetFile {
  path: string;
  file: AsyncBuffer;
  metadata: FileMetaData;
  rows: number;
}

/**
 * The largest footer (the file's metadata) read. The released files' are 12 to 20 KiB; decoded, a footer
 * takes about 30 times its size in memory, so a hostile 400 MB one would exhaust the heap.
 */
export const MAX_FOOTER_BYTES = 16 * 1024 * 1024;

/**
 * Opens a parquet file and reads its footer; errors name the file. `bytes` reads the file from memory
 * instead (a download not yet on disk), `path` then being the name errors give it.
 */
export async function openParquet(path: string, bytes?: ArrayBuffer): Promise<ParquetFile> {
  let file: AsyncBuffer;
  if (bytes !== undefined) file = bytes;
  else {
    try {
      file = await asyncBufferFromFile(path);
    } catch (err) {
      throw new DataError(`cannot read ${path}: ${readFailureReason(err)}`);
    }
  }
  // The shortest parquet file: "PAR1", the footer's length, "PAR1".
  if (file.byteLength < 12)
    throw new DataError(`${path}: not a parquet file (${formatBytes(file.byteLength)}, too short to be one)`);
  try {
    const tail = new DataView(await file.slice(file.byteLength - 8, file.byteLength - 4));
    const footer = tail.getUint32(0, true);
    if (footer > MAX_FOOTER_BYTES && footer <= file.byteLength - 12)
      throw new DataError(
        `${path}: the footer (the file's metadata) is ${footer} bytes, more than the ` +
          `${formatBytes(MAX_FOOTER_BYTES)} gtalign reads; is this a data set file?`,
      );
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`cannot read ${path}: ${readFailureReason(err)}`);
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new DataError(`${path}: not a readable parquet file (${readFailureReason(err)})`);
  }
  // Rows are read group by group: a footer whose count is not its groups' sum would have readers return
  // other rows than it says, silently.
  const rows = Number(metadata.num_rows);
  const inGroups = metadata.row_groups.reduce((n, g) => n + Number(g.num_rows), 0);
  if (rows !== inGroups)
    throw new DataError(
      `${path}: not a readable parquet file (the footer says ${rows} rows, its row groups hold ${inGroups}: the file is damaged)`,
    );
  return { path, file, metadata, rows };
}

/** The file's top-level columns with their nested types, from its own schema. */
export function parquetFileFields(pq: ParquetFile): Field[] {
  return parquetFields(parquetSchema(pq.metadata));
}

/**
 * The first field named `__proto__` (as `extra_info.__proto__`), or undefined. hyparquet builds each
 * record by assigning its fields, and assigning `__proto__` sets the object's prototype instead of a
 * field: the value would be lost without a word, so such a file is refused.
 */
function protoField(fields: readonly Field[]): string | undefined {
  const walk = (shape: Shape, path: string): string | undefined => {
    if (shape.kind === 'list') return walk(shape.element, `${path}[]`);
    if (shape.kind !== 'struct') return undefined;
    for (const [k, s] of shape.fields) {
      const found = k === '__proto__' ? `${path}.${k}` : walk(s, `${path}.${k}`);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const f of fields) {
    const found = f.name === '__proto__' ? f.name : walk(f.shape, f.name);
    if (found !== undefined) return found;
  }
  return undefined;
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
  const proto = protoField(parquetFileFields(pq));
  if (proto !== undefined)
    throw new DataError(
      `${pq.path}: gtalign's parquet reader cannot keep the field ${proto} (a field named __proto__ ` +
        'would lose its value); rename the field, or keep such rows in JSONL',
    );
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
      // hyparquet decodes strings without checking (bad bytes become U+FFFD): check each, and look for
      // the row and field only when one failed.
      let notUtf8 = false;
      const stringFromBytes = (bytes: Uint8Array): unknown => {
        if (!bytes || isUtf8(bytes)) return bytes && utf8Decoder.decode(bytes);
        notUtf8 = true;
        return new NotUtf8String(bytes);
      };
      try {
        records = await parquetReadObjects({
          file: pq.file,
          metadata: pq.metadata,
          rowStart: from,
          rowEnd: to,
          parsers: { stringFromBytes },
        });
      } catch (err) {
        throw new DataError(
          `${pq.path}: rows ${from}-${to - 1} cannot be decoded (${readFailureReason(err)})`,
        );
      }
      for (let i = 0; i < records.length; i++) {
        const bad = notUtf8 ? takeNotUtf8(records[i], '') : undefined;
        const value = normalizeValue(records[i]) as Record<string, unknown>;
        yield bad === undefined ? { row: from + i, value } : { row: from + i, value, notUtf8: bad };
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
    if (record.notUtf8 !== undefined)
      throw new DataError(`${describeSource(source)}: ${record.notUtf8}`, source);
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
