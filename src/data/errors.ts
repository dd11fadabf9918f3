import { GtalignError } from '../errors.js';

/** Where a record came from: the file, its 0-based position among the file's records and, for JSONL, its 1-based line. */
export interface RowSource {
  file: string;
  row: number;
  line?: number;
  /**
   * Where the file's schema holds floating-point numbers (parquet FLOAT/DOUBLE), as paths in the
   * notation of `floatPaths` (shape.ts); one set per file. JavaScript has one number type, so without it a
   * whole number read from such a column would be exported as an integer column.
   */
  floatColumns?: ReadonlySet<string>;
}

/** "file: row 12" for parquet, "file:13" (the line) for JSONL: the place a user opens to fix the record. */
export function describeSource(source: RowSource): string {
  return source.line !== undefined ? `${source.file}:${source.line}` : `${source.file}: row ${source.row}`;
}

/** A data file or record that cannot be read; the message names the file, the row or line, and the field. */
export class DataError extends GtalignError {
  readonly code = 'input';
  constructor(
    message: string,
    readonly source?: RowSource,
  ) {
    super(message);
    this.name = 'DataError';
  }
}
