/**
 * What `data pull` takes for a released data set file: parquet (not a Git LFS pointer, not an HTML page),
 * with a sound footer, holding rows that each read as a verl record (prompt messages, data_source,
 * reward_model.ground_truth) with UTF-8 strings. A file that fails is never placed in the cache, and a
 * cached copy that fails is not taken as present.
 */
import { DataError, describeSource } from './errors.js';
import { iterateParquetRecords, openParquet, type ParquetFile } from './parquet.js';
import { parseVerlRecord } from './row.js';

/** Checks downloaded bytes are a parquet file and opens it in memory; names what came instead otherwise. */
export async function openDownloadedParquet(
  name: string,
  bytes: Uint8Array,
  contentType: string | null,
): Promise<ParquetFile> {
  const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  if (head.startsWith('version https://git-lfs'))
    throw new DataError(
      'the server sent a Git LFS pointer, not the file (use a base URL that serves LFS content)',
    );
  const magic = (at: number) => Buffer.from(bytes.subarray(at, at + 4)).toString('latin1') === 'PAR1';
  if (bytes.length < 12 || !magic(0) || !magic(bytes.length - 4))
    throw new DataError(`not a parquet file (${bytes.length} bytes${contentType ? `, ${contentType}` : ''})`);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return openParquet(name, buffer);
}

/**
 * Reads every row of the file as a verl record and returns the row count; the first row that is not one
 * throws a DataError naming the row and the field.
 */
export async function checkDatasetRows(pq: ParquetFile): Promise<number> {
  let rows = 0;
  for await (const record of iterateParquetRecords(pq)) {
    const source = { file: pq.path, row: record.row };
    if (record.notUtf8 !== undefined)
      throw new DataError(`${describeSource(source)}: ${record.notUtf8}`, source);
    const parsed = parseVerlRecord(record.value, source);
    if (!parsed.ok) throw new DataError(`not a data set in the verl layout: ${parsed.error.message}`, source);
    rows++;
  }
  if (rows === 0) throw new DataError(`${pq.path}: holds no rows`);
  return rows;
}
