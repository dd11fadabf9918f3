import { extname } from 'node:path';
import { openAtomic } from '../io/atomic-file.js';
import { refuseSpecialTarget } from '../io/special-target.js';
import { DataError } from './errors.js';
import type { ExportFormat } from './export-formats.js';
import { exportParquet } from './export-parquet.js';
import { type OpenRlhfLabelMode, toOpenRlhfRecord } from './openrlhf.js';
import { type DatasetRow, toFlatRecord, toVerlRecord } from './row.js';
import { toArealRecord, toNemoRlRecord, toSkyrlRecord } from './trainer-records.js';

export { EXPORT_FORMATS, type ExportFormat } from './export-formats.js';

export interface ExportOptions {
  format: ExportFormat;
  out: string;
  /** OpenRLHF label: a JSON string with what the reward needs (default) or the bare ground truth. */
  label?: OpenRlhfLabelMode;
}

export interface ExportResult {
  path: string;
  rows: number;
  /** The file type written: parquet for verl (unless `out` ends in .jsonl), JSONL otherwise. */
  container: 'parquet' | 'jsonl';
  /** Adjustments made to fit one parquet schema (e.g. a field mixing int64 and string written as string). */
  notes: string[];
}

export { type AtomicFile, openAtomic } from '../io/atomic-file.js';

/**
 * verl and SkyRL go to parquet unless the target ends in .jsonl/.ndjson/.json (both also read JSON through
 * HF datasets); the others to JSONL.
 */
export function containerFor(format: ExportFormat, out: string): 'parquet' | 'jsonl' {
  if (format !== 'verl' && format !== 'skyrl') return 'jsonl';
  const ext = extname(out).toLowerCase();
  return ext === '.jsonl' || ext === '.ndjson' || ext === '.json' ? 'jsonl' : 'parquet';
}

/**
 * Why `out` cannot take this format's file, or undefined: a JSONL-only format to a path ending in
 * .parquet/.pq would give JSON lines a parquet name, which trainers (HF datasets picks its reader by the
 * extension) and gtalign's own readers then fail to read as parquet.
 */
export function outPathProblem(format: ExportFormat, out: string): string | undefined {
  if (containerFor(format, out) === 'parquet') return undefined;
  const ext = extname(out).toLowerCase();
  if (ext !== '.parquet' && ext !== '.pq') return undefined;
  return `--format ${format} writes JSONL, not parquet: give an --out path ending in .jsonl (not ${out})`;
}

function recordFor(row: DatasetRow, options: ExportOptions): Record<string, unknown> {
  switch (options.format) {
    case 'verl':
      return toVerlRecord(row);
    case 'openrlhf':
      return { ...toOpenRlhfRecord(row, options.label ?? 'json') };
    case 'skyrl':
      return toSkyrlRecord(row);
    case 'areal':
      return toArealRecord(row);
    case 'nemo-rl':
      return toNemoRlRecord(row);
    default:
      return toFlatRecord(row);
  }
}

/**
 * Writes rows in the shape a trainer reads, atomically: `verl` (parquet in the verl layout, or JSONL with
 * the same fields), `openrlhf` (prompt/label JSONL, see openrlhf.ts), `skyrl` (parquet or JSONL),
 * `areal` and `nemo-rl` (JSONL) for the trainers that read columns (see trainer-records.ts), `jsonl` (our normalized rows,
 * readable back by `loadRows`). Zero rows is an error: an empty training file is never what was meant.
 */
export async function exportRows(
  rows: AsyncIterable<DatasetRow> | Iterable<DatasetRow>,
  options: ExportOptions,
): Promise<ExportResult> {
  const container = containerFor(options.format, options.out);
  const problem = outPathProblem(options.format, options.out);
  if (problem !== undefined) throw new DataError(problem);
  // Before any row is read: a device or a pipe as --out is refused at once.
  await refuseSpecialTarget(options.out);
  if (container === 'parquet') {
    const { rows: n, notes } = await exportParquet(rows, (row) => recordFor(row, options), options.out);
    return { path: options.out, rows: n, container, notes };
  }
  const file = await openAtomic(options.out);
  let n = 0;
  // JSON has no NaN or ±Infinity (a parquet DOUBLE may hold them): JSON.stringify writes null, which the
  // note then counts, naming the first such field.
  const nonFinite = { count: 0, first: '' };
  const replacer = (key: string, value: unknown): unknown => {
    if (typeof value === 'number' && !Number.isFinite(value) && nonFinite.count++ === 0)
      nonFinite.first = `"${key}" (${value}) in row ${n + 1}`;
    return value;
  };
  try {
    for await (const row of rows) {
      await file.write(`${JSON.stringify(recordFor(row, options), replacer)}\n`);
      n++;
    }
    if (n === 0) throw new DataError('no rows to export (check the inputs and --data-source)');
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
  const notes =
    nonFinite.count === 0
      ? []
      : [
          `${nonFinite.count} number(s) JSON cannot hold (NaN, ±Infinity) written as null; the first: ${nonFinite.first}`,
        ];
  return { path: options.out, rows: n, container, notes };
}
