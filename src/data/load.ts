import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { readFailureReason } from '../io/read-failure.js';
import { DataError, describeSource } from './errors.js';
import { iterateJsonlRows } from './jsonl.js';
import { iterateParquetRows } from './parquet.js';
import type { DatasetRow } from './row.js';

export type DataFormat = 'parquet' | 'jsonl';

/** The reader for a path, by extension: `.parquet`/`.pq` → parquet, `.jsonl`/`.ndjson` → JSONL. */
export function formatOf(path: string): DataFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return undefined;
}

const GLOB_CHARS = /[*?[]/;

function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * A folder's entries, sorted; none when it is not there or not a folder (a glob's literal segment that
 * matches nothing). A folder that is there and cannot be read is an error: read as empty, it would say
 * "no files" of files that are there.
 */
async function entries(dir: string): Promise<Array<{ name: string; dir: boolean }>> {
  let list: Dirent[];
  try {
    list = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new DataError(`cannot read the folder ${dir}: ${readFailureReason(err)}`);
  }
  return list
    .map((d) => ({ name: d.name, dir: d.isDirectory() }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Expands a glob (`*`, `?`, `[…]` within a path segment; `**` for any depth) into sorted paths. */
export async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = isAbsolute(pattern);
  const parts = pattern.split('/').filter((s) => s !== '');
  let bases = [absolute ? '/' : '.'];
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const last = p === parts.length - 1;
    const next: string[] = [];
    if (part === '**') {
      // Zero or more directories: every base and all directories below it.
      const stack = [...bases];
      while (stack.length > 0) {
        const dir = stack.shift()!;
        next.push(dir);
        for (const e of await entries(dir))
          if (e.dir && !e.name.startsWith('.')) stack.push(join(dir, e.name));
      }
      if (last) {
        bases = next;
        break;
      }
    } else if (!GLOB_CHARS.test(part)) {
      for (const b of bases) next.push(join(b, part));
    } else {
      const re = segmentRegExp(part);
      for (const b of bases) {
        for (const e of await entries(b)) {
          if (e.name.startsWith('.') && !part.startsWith('.')) continue;
          if ((last || e.dir) && re.test(e.name)) next.push(join(b, e.name));
        }
      }
    }
    bases = [...new Set(next)];
  }
  const found: string[] = [];
  for (const path of bases) {
    try {
      await stat(path);
      found.push(path);
    } catch {
      // a literal segment that does not exist: no match
    }
  }
  return found;
}

async function dataFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await entries(dir)) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.dir) out.push(...(await dataFilesUnder(path)));
    else if (formatOf(path) !== undefined) out.push(path);
  }
  return out;
}

/**
 * Turns inputs into data files: a file is taken as given (its extension must be known), a directory
 * expands to its `.parquet`/`.jsonl` files at any depth (sorted), a glob to the files it matches.
 */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const candidates = GLOB_CHARS.test(input) ? await expandGlob(input) : [input];
    if (candidates.length === 0) throw new DataError(`no files match ${input}`);
    for (const path of candidates) {
      let isDir: boolean;
      try {
        isDir = (await stat(path)).isDirectory();
      } catch (err) {
        throw new DataError(`cannot read ${path}: ${readFailureReason(err)}`);
      }
      if (isDir) {
        const under = await dataFilesUnder(path);
        if (under.length === 0) throw new DataError(`${path}: no .parquet or .jsonl files in this directory`);
        files.push(...under);
      } else if (formatOf(path) === undefined) {
        if (!GLOB_CHARS.test(input))
          throw new DataError(`${path}: unknown data file type (expected .parquet or .jsonl)`);
      } else files.push(path);
    }
  }
  const seen = new Set<string>();
  return files.filter((f) => {
    const key = resolve(f);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface LoadOptions {
  /** Most rows in all (after the data source filter). */
  limit?: number;
  /** Keep only rows of these data sources. */
  dataSources?: readonly string[];
  /** `error` (default): a repeated id throws, naming both places; `keep`: keep every row. */
  duplicateIds?: 'error' | 'keep';
}

/** Yields the rows of one data file, by its format. */
export function iterateFileRows(path: string): AsyncGenerator<DatasetRow> {
  return formatOf(path) === 'jsonl' ? iterateJsonlRows(path) : iterateParquetRows(path);
}

/** Yields rows from files, directories or globs in order, filtered and limited, checking ids are unique. */
export async function* iterateRows(
  inputs: readonly string[],
  options: LoadOptions = {},
): AsyncGenerator<DatasetRow> {
  const files = await expandInputs(inputs);
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const sources =
    options.dataSources && options.dataSources.length > 0 ? new Set(options.dataSources) : undefined;
  const seen = options.duplicateIds === 'keep' ? undefined : new Map<string, DatasetRow['source']>();
  let n = 0;
  if (n >= limit) return;
  for (const file of files) {
    for await (const row of iterateFileRows(file)) {
      if (sources && !sources.has(row.data_source)) continue;
      if (seen) {
        const first = seen.get(row.id);
        if (first)
          throw new DataError(
            `${describeSource(row.source)}: id ${row.id} repeats ${describeSource(first)} (the same file given twice?)`,
            row.source,
          );
        seen.set(row.id, row.source);
      }
      yield row;
      if (++n >= limit) return;
    }
  }
}

/** Loads rows from parquet/JSONL files, directories or globs (see `iterateRows`). */
export async function loadRows(inputs: readonly string[], options: LoadOptions = {}): Promise<DatasetRow[]> {
  const rows: DatasetRow[] = [];
  for await (const row of iterateRows(inputs, options)) rows.push(row);
  return rows;
}
