/**
 * A parquet export in bounded memory. A parquet file's schema comes before its first row group, and ours
 * is inferred from every row (rows of different sources share a file), so the rows are read twice: the
 * first pass infers the schema while it parks each record on disk (value-spool.ts), the second reads them
 * back a row group at a time and writes each group as it fills. Memory holds one group, not the file.
 */
import { openAtomic } from '../io/atomic-file.js';
import { openValueSpool } from '../io/value-spool.js';
import { DataError } from './errors.js';
import { openParquetStream, parquetLayout, requireParquetWriter } from './parquet-write.js';
import type { DatasetRow } from './row.js';
import { addRecordShapes, type Shape } from './shape.js';

/** A row group ends at this many bytes of records (as parked on disk) or this many rows, whichever first. */
export const GROUP_BYTES = 8 << 20;
export const GROUP_ROWS = 50_000;

export interface ParquetExport {
  rows: number;
  /** Adjustments made to fit one parquet schema (e.g. a field mixing int64 and string written as string). */
  notes: string[];
}

/**
 * A field-less `extra_info` (every row's is `{}`, as in a flat JSONL without it) gets one field, `index`,
 * null in every row, and the note saying so. Parquet has no empty struct, so the column would be written
 * all null, and verl reads `row["extra_info"].get("index", 0)`, which fails on None at the first row.
 */
function keepExtraInfoStruct(inferred: Map<string, Shape>): string | undefined {
  const extra = inferred.get('extra_info');
  if (extra?.kind !== 'struct' || extra.fields.size > 0) return undefined;
  inferred.set('extra_info', { kind: 'struct', fields: new Map([['index', { kind: 'int' }]]) });
  return 'extra_info holds no field in any row, and parquet has no empty struct: written as {"index": null}, so that readers (verl) find an object there';
}

/**
 * Writes `toRecord` of each row to `out` as parquet, atomically: the file appears complete or not at all,
 * and the records parked beside it are removed whatever happens (a killed export's are removed by the
 * next write of `out`). Zero rows is an error.
 */
export async function exportParquet(
  rows: AsyncIterable<DatasetRow> | Iterable<DatasetRow>,
  toRecord: (row: DatasetRow) => Record<string, unknown>,
  out: string,
): Promise<ParquetExport> {
  // Before any row is read: without the writer there is nothing to read them for.
  const writer = await requireParquetWriter();
  const spool = await openValueSpool(out);
  try {
    const inferred = new Map<string, Shape>();
    // The source files' floating-point columns (one set per file): the export keeps their paths for the
    // columns it carries over (extra_info, reward_model, other columns), so they stay doubles there.
    const sets = new Set<ReadonlySet<string>>();
    for await (const row of rows) {
      const record = toRecord(row);
      addRecordShapes(inferred, record);
      if (row.source.floatColumns !== undefined) sets.add(row.source.floatColumns);
      await spool.append(record);
    }
    if (spool.count === 0) throw new DataError('no rows to export (check the inputs and --data-source)');
    const floatColumns = new Set<string>();
    for (const set of sets) for (const path of set) floatColumns.add(path);
    const kept = keepExtraInfoStruct(inferred);
    const layout = parquetLayout(inferred, floatColumns);
    if (kept !== undefined) layout.notes.push(kept);
    const file = await openAtomic(out);
    let notes: string[];
    try {
      const stream = openParquetStream(writer, layout, (bytes) => file.write(bytes));
      for await (const batch of spool.batches(GROUP_BYTES, GROUP_ROWS))
        await stream.writeGroup(batch as Record<string, unknown>[]);
      await stream.finish();
      await file.commit();
      notes = [...layout.notes, ...stream.notes()];
    } catch (err) {
      await file.abort();
      throw err;
    }
    return { rows: spool.count, notes };
  } finally {
    await spool.remove();
  }
}
