import { GtalignError } from '../errors.js';

/** Where a record came from: the file, its 0-based position among the file's records and, for JSONL, its 1-based line. */
export interface RowSource {
  file: string;
  row: number;
  line?: number;
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
