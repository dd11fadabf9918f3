/**
 * The run store: a folder that holds one evaluation run, durably and resumably.
 *
 *   RUN_DIR/config.json    the whole run configuration, written atomically when the run starts
 *   RUN_DIR/results.jsonl  one RunRecord per finished row, append-only
 *   RUN_DIR/errors.jsonl   rows that could not be generated (a backend failure), for the user to read;
 *                          they have no record, so `--resume` tries them again
 *   RUN_DIR/metrics.json   written at the end (by the metrics module)
 *   RUN_DIR/.lock          the pid of the process writing the folder
 *
 * Durability: records are appended to results.jsonl with whole lines, written in full (a short write is
 * continued) and followed by `fdatasync` before the append is acknowledged (records that finish while a
 * sync is under way are committed together in the next write). A crash therefore loses at most the lines
 * of the write under way, and those can only be cut at the end of the file: on resume a last line
 * without its newline is truncated away (its row was never acknowledged, so it is generated again), and
 * every id in the file is skipped. An unreadable line anywhere else is corruption, reported with its
 * line number.
 *
 * One line per id, except that a resume that judged again a record's output (or a conversation's turn)
 * appends the record anew with `"supersedes": true` ({@link RunStore.supersede}), and the last line of an
 * id is its record (run-dir.ts reads them so, and says which lines may supersede which).
 *
 * A failed append (a full disk, an I/O error) acknowledges none of its rows: the file is cut back to the
 * last committed size, and the store refuses every later append, so a torn record is never followed by
 * good lines. Every failed file operation is a `RunStoreIoError` naming the file and what to do.
 *
 * File operations go through a {@link FileOps} (node:fs/promises unless `fs` is given), so that tests
 * can inject faults.
 */

import { join, resolve } from 'node:path';
import { syncDir, writeAll, writeFileAtomic } from '../io/checked-write.js';
import { type FileOps, nodeFileOps, type OpenFile } from '../io/file-ops.js';
import { createPidLockFile, takePidLock } from '../io/pid-lock.js';
import { canonicalJson } from '../reward/canonical-json.js';
import { parseResults, runSchemaProblem, supersedeProblem } from './run-dir.js';
import { fileOp, RunStoreError, storeIoError } from './store-error.js';
import type { RunRecord } from './types.js';

export type { FileOps, OpenFile } from '../io/file-ops.js';
export { RunStoreError, RunStoreIoError } from './store-error.js';

export const CONFIG_FILE = 'config.json';
export const RESULTS_FILE = 'results.jsonl';
export const ERRORS_FILE = 'errors.jsonl';
export const LOCK_FILE = '.lock';

/** The run configuration saved in config.json. Fields are plain JSON; see {@link RESULT_FIELDS}. */
export interface RunConfig {
  schema: 'gtalign.run/1';
  /** A display name for reports (default: the folder's name). */
  name: string;
  /** `eval run` (generated here) or `eval score` (outputs generated elsewhere). */
  command: 'eval run' | 'eval score';
  gtalign: string;
  createdAt: string;
  data: {
    /** Absolute paths of the data files, in order. */
    files: string[];
    /** Kept data sources (empty: all). */
    dataSources: string[];
    /** Most rows per data source (null: all). */
    limit: number | null;
  };
  /** `assistant` (two-stage GTAlign turn with steering), `raw` (the row's prompt, one pass), `responses` (eval score). */
  mode: 'assistant' | 'raw' | 'responses';
  backend: Record<string, unknown>;
  /** Generation and steering settings (assistant and raw modes). */
  generation?: Record<string, unknown>;
  judge: Record<string, unknown>;
  reward: { configId: string; config: unknown; mathCheck: boolean };
  tokenizer: { name: string; exact: boolean; description: string; note?: string };
  /** eval score: the responses file and a digest of its content. */
  responses?: { file: string; sha256: string };
  /** Settings that do not change results (concurrency, …), for the record. */
  runtime?: Record<string, unknown>;
  /** Free-form extras (a sweep point's parameter values). */
  extra?: Record<string, unknown>;
}

/**
 * The config fields that decide which rows are run and what each row's record holds: a resumed run must
 * have the same values, else its records would mix two configurations. Not compared: the name, dates,
 * the gtalign version, server URLs (a server may move), and `runtime` (concurrency and the like).
 */
export const RESULT_FIELDS: readonly string[] = [
  'command',
  'data.files',
  'data.dataSources',
  'data.limit',
  'mode',
  'backend.kind',
  'backend.model',
  'backend.vendor',
  'generation',
  'judge.kind',
  'judge.model',
  'reward.configId',
  'reward.mathCheck',
  'tokenizer.name',
  'responses.sha256',
  'extra',
];

export interface ConfigDifference {
  field: string;
  saved: unknown;
  now: unknown;
}

/** `--resume` with options that would change the results; `differences` names every field. */
export class ConfigMismatchError extends RunStoreError {
  constructor(
    readonly dir: string,
    readonly differences: ConfigDifference[],
  ) {
    const shown = differences
      .slice(0, 4)
      .map((d) => `${d.field}: saved ${brief(d.saved)}, now ${brief(d.now)}`);
    // The simulator's fingerprint (src/sim/fingerprint.ts) is no option: only the gtalign that started the
    // run matches it.
    const simulator = differences.some((d) => d.field === 'generation.conversation.simulator')
      ? "; the simulated user's own code differs from the one that started this run (another gtalign version), which no option can match: resume with that version"
      : '';
    super(
      `cannot resume ${dir}: the run was started with other settings (${shown.join('; ')}${
        differences.length > shown.length ? `; and ${differences.length - shown.length} more` : ''
      })${simulator}; resume with the same options, or start a new run with another --out`,
    );
    this.name = 'ConfigMismatchError';
  }
}

function brief(value: unknown): string {
  if (value === undefined) return '(none)';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function fieldAt(config: unknown, path: string): unknown {
  let at: unknown = config;
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The {@link RESULT_FIELDS} on which two configs differ (JSON content compared, key order ignored), each
 * named down to the value that differs (`generation.conversation.seed`, not all of `generation`): objects
 * by key, arrays of the same length by index.
 */
export function compareConfigs(saved: unknown, now: RunConfig): ConfigDifference[] {
  const out: ConfigDifference[] = [];
  for (const field of RESULT_FIELDS) differences(field, fieldAt(saved, field), fieldAt(now, field), out);
  return out;
}

function differences(path: string, a: unknown, b: unknown, out: ConfigDifference[]): void {
  if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) return;
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
      differences(`${path}.${key}`, a[key], b[key], out);
  } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) differences(`${path}[${i}]`, a[i], b[i], out);
  } else {
    out.push({ field: path, saved: a, now: b });
  }
}

async function exists(fs: FileOps, path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storeIoError(err, 'read', path);
  }
}

/** Lock files this process holds: a second store on the same folder in this process is refused. */
const heldLocks = new Set<string>();

/**
 * Takes the folder's lock; a lock left by a process that no longer runs (a kill) is taken over. A lock
 * naming this process's own pid is also stale (a container restarted with the same pid), unless this
 * process holds it now.
 */
async function acquireLock(fs: FileOps, dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  if (heldLocks.has(path)) {
    throw new RunStoreError(`${dir} is already open in this process (another run writing it)`);
  }
  heldLocks.add(path);
  try {
    const release = await takePidLock(path, {
      fs,
      create: (p) => fileOp('create the lock file', p, () => createPidLockFile(fs, p)),
      busy: (pid) =>
        new RunStoreError(
          `${dir} is in use by process ${pid} (another gtalign eval writing it); wait for it, or remove ${path} if that process is not gtalign`,
        ),
    }).catch((err: unknown) => {
      throw err instanceof RunStoreError ? err : new RunStoreError((err as Error).message);
    });
    return async () => {
      heldLocks.delete(path);
      await release();
    };
  } catch (err) {
    heldLocks.delete(path);
    throw err;
  }
}

export interface OpenRunOptions {
  /** Continue the run already in the folder (a folder without one starts a new run). */
  resume: boolean;
  /** fdatasync each commit (default true; false only for benchmarks of the rest). */
  fsync?: boolean;
  /** The file operations (default node:fs/promises); tests pass one that injects faults. */
  fs?: FileOps;
}

export interface RunStore {
  /** The folder, resolved. */
  readonly dir: string;
  readonly config: RunConfig;
  /** True when an existing run was resumed. */
  readonly resumed: boolean;
  /** Bytes of a cut-off last line removed on resume (0 when the file ended cleanly). */
  readonly truncatedBytes: number;
  /** Ids with a record on disk (found on resume, or appended and acknowledged since). */
  readonly done: ReadonlySet<string>;
  /**
   * Every record on disk: those found on resume, then those acknowledged since, in file order; a
   * superseded record is replaced in its place by the superseding one.
   */
  readonly records: readonly RunRecord[];
  /**
   * Appends one record; resolves once it is on disk. Rejects a second record for the same id, and every
   * append after one failed (a `RunStoreIoError` naming results.jsonl).
   */
  append(record: RunRecord): Promise<void>;
  /**
   * Appends `record` with `"supersedes": true` as the new record of its id (a resume judged its output,
   * or a turn of its conversation, again); resolves once it is on disk. Rejects an id without a record on
   * disk and a record that may not supersede it ({@link supersedeProblem}).
   */
  supersede(record: RunRecord): Promise<void>;
  /** Notes a row that got no record (e.g. the backend failed) in errors.jsonl; not synced. */
  logError(entry: {
    id: string;
    data_source?: string;
    stage: string;
    /** The conversation turn that failed (conversation runs). */
    turn?: number;
    message: string;
  }): Promise<void>;
  /** Flushes and closes the files and releases the lock (also when closing a file fails). */
  close(): Promise<void>;
}

/** Reads results.jsonl for a resume: cuts a torn last line off the file, checks the rest. */
async function recoverResults(
  fs: FileOps,
  path: string,
): Promise<{ records: RunRecord[]; truncatedBytes: number }> {
  let buffer: Buffer;
  try {
    buffer = await fs.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], truncatedBytes: 0 };
    throw storeIoError(err, 'read', path);
  }
  // Everything after the last newline is a write that did not complete.
  const end = buffer.lastIndexOf(0x0a) + 1;
  const truncatedBytes = buffer.length - end;
  if (truncatedBytes > 0) {
    await fileOp('cut the incomplete last line off', path, () => fs.truncate(path, end));
  }
  const parsed = parseResults(buffer.subarray(0, end).toString('utf8'), path);
  if (parsed.problems.length > 0) {
    const shown = parsed.problems.slice(0, 5).map((p) => `${p.file}:${p.line ?? '?'}: ${p.message}`);
    throw new RunStoreError(
      `cannot resume: ${shown.join('; ')}${parsed.problems.length > 5 ? ` (and ${parsed.problems.length - 5} more)` : ''}`,
    );
  }
  return { records: parsed.records, truncatedBytes };
}

/**
 * Opens a run folder for writing. A new run: the folder must not hold one already (config.json or
 * results.jsonl); config.json is written. `resume`: the saved config must agree with `config` on
 * {@link RESULT_FIELDS} (else {@link ConfigMismatchError}); the records are read back. The saved
 * config.json is kept as it was (its `createdAt` stays the run's start). On any failure the lock is
 * released and nothing is left open.
 */
export async function openRunStore(
  dir: string,
  config: RunConfig,
  options: OpenRunOptions,
): Promise<RunStore> {
  const fs = options.fs ?? nodeFileOps;
  const root = resolve(dir);
  const fsync = options.fsync ?? true;
  await fileOp('create the folder', root, () => fs.mkdir(root, { recursive: true }));
  const configPath = join(root, CONFIG_FILE);
  const resultsPath = join(root, RESULTS_FILE);
  const release = await acquireLock(fs, root);
  let file: OpenFile | undefined;
  try {
    const hasConfig = await exists(fs, configPath);
    const hasResults = await exists(fs, resultsPath);
    let resumed = false;
    let existing: RunRecord[] = [];
    let truncatedBytes = 0;
    let savedConfig = config;
    if (!options.resume && (hasConfig || hasResults)) {
      throw new RunStoreError(
        `${root} already holds a run (${hasConfig ? CONFIG_FILE : RESULTS_FILE}); add --resume to finish it, or choose another --out`,
      );
    }
    if (hasConfig) {
      const text = await fileOp('read', configPath, () => fs.readFile(configPath));
      let saved: unknown;
      try {
        saved = JSON.parse(text.toString('utf8'));
      } catch (err) {
        throw new RunStoreError(
          `cannot resume: ${configPath} is not readable JSON (${(err as Error).message})`,
        );
      }
      const schemaProblem = isPlainObject(saved) ? runSchemaProblem(saved) : 'not a JSON object';
      if (schemaProblem !== undefined)
        throw new RunStoreError(
          `cannot resume: ${configPath}: ${schemaProblem}; resume it with that version, or start a new run with another --out`,
        );
      const differences = compareConfigs(saved, config);
      if (differences.length > 0) throw new ConfigMismatchError(root, differences);
      const recovered = await recoverResults(fs, resultsPath);
      existing = recovered.records;
      truncatedBytes = recovered.truncatedBytes;
      savedConfig = saved as RunConfig;
      resumed = true;
    } else {
      if (hasResults) {
        throw new RunStoreError(
          `${root} has ${RESULTS_FILE} but no ${CONFIG_FILE}: not a run folder gtalign can resume`,
        );
      }
      await fileOp('write', configPath, () =>
        writeFileAtomic(configPath, `${JSON.stringify(config, null, 2)}\n`, fs),
      );
    }
    const opened = await fileOp('open', resultsPath, () => fs.open(resultsPath, 'a'));
    file = opened;
    const { size } = await fileOp('read', resultsPath, () => opened.stat());
    if (!resumed) await syncDir(fs, root);
    return createStore({
      dir: root,
      config: savedConfig,
      resumed,
      truncatedBytes,
      existing,
      file: opened,
      size,
      fsync,
      fs,
      release,
    });
  } catch (err) {
    await file?.close().catch(() => undefined);
    await release();
    throw err;
  }
}

interface OpenedStore {
  dir: string;
  config: RunConfig;
  resumed: boolean;
  truncatedBytes: number;
  existing: RunRecord[];
  /** results.jsonl, opened for appending. */
  file: OpenFile;
  /** Its size when opened: every byte of it is a committed line. */
  size: number;
  fsync: boolean;
  fs: FileOps;
  release: () => Promise<void>;
}

function createStore(s: OpenedStore): RunStore {
  const { dir, file, fs } = s;
  const resultsPath = join(dir, RESULTS_FILE);
  const errorsPath = join(dir, ERRORS_FILE);
  const records: RunRecord[] = [...s.existing];
  const done = new Set<string>(s.existing.map((r) => r.id));
  // Where each id's record is in `records`: a superseding record replaces it there.
  const at = new Map<string, number>(s.existing.map((r, i) => [r.id, i]));
  // Ids on disk or waiting to be written: a second record for one row is refused at once.
  const claimed = new Set<string>(done);
  // The file's length up to the last acknowledged line.
  let committedSize = s.size;
  // Group commit: lines waiting for the next write, and the promise of the write under way.
  let pending: Array<{
    record: RunRecord;
    line: string;
    resolve: () => void;
    reject: (err: unknown) => void;
  }> = [];
  let writing: Promise<void> | undefined;
  let failed: unknown;
  let closed = false;
  // Opened on the first error; a promise, so rows failing together share one handle. Lines are written
  // one after another (a write may be continued in several parts).
  let errors: Promise<OpenFile> | undefined;
  let errorWrites: Promise<void> = Promise.resolve();

  /** Writes a batch whole and syncs it; on failure cuts the file back to its last committed line. */
  const writeBatch = async (data: Buffer, rows: number): Promise<void> => {
    try {
      await writeAll(file, data);
      if (s.fsync) await file.datasync();
    } catch (err) {
      // Part of the batch may be in the file. Best effort: should this fail too, a resume cuts a torn
      // last line, and no later append goes to this file (see `failed`).
      await file.truncate(committedSize).catch(() => undefined);
      throw storeIoError(
        err,
        'write',
        resultsPath,
        `${rows} finished row(s) were not saved (the rows saved before are kept)`,
      );
    }
    committedSize += data.length;
  };

  const commit = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        if (failed !== undefined) throw failed;
        await writeBatch(Buffer.from(batch.map((b) => b.line).join(''), 'utf8'), batch.length);
        for (const b of batch) {
          const index = at.get(b.record.id);
          if (index !== undefined) records[index] = b.record;
          else {
            done.add(b.record.id);
            at.set(b.record.id, records.length);
            records.push(b.record);
          }
        }
        for (const b of batch) b.resolve();
      } catch (err) {
        // After a failed write the file's end is not to be trusted: refuse every later append.
        failed ??= err;
        for (const b of batch) b.reject(err);
      }
    }
    writing = undefined;
  };

  /** Queues one line for the next group commit; resolves once it is on disk. */
  const enqueue = (record: RunRecord): Promise<void> => {
    const line = `${JSON.stringify(record)}\n`;
    return new Promise<void>((resolve, reject) => {
      pending.push({ record, line, resolve, reject });
      writing ??= commit();
    });
  };

  return {
    dir,
    config: s.config,
    resumed: s.resumed,
    truncatedBytes: s.truncatedBytes,
    done,
    records,
    append(record) {
      if (closed) return Promise.reject(new RunStoreError('the run store is closed'));
      if (failed !== undefined) return Promise.reject(failed);
      if (claimed.has(record.id)) {
        return Promise.reject(new RunStoreError(`row ${record.id} already has a record in ${dir}`));
      }
      claimed.add(record.id);
      return enqueue(record);
    },
    supersede(record) {
      if (closed) return Promise.reject(new RunStoreError('the run store is closed'));
      if (failed !== undefined) return Promise.reject(failed);
      if (!done.has(record.id)) {
        return Promise.reject(new RunStoreError(`row ${record.id} has no record in ${dir} to supersede`));
      }
      // What run-dir.ts accepts when it reads the line back.
      const problem = supersedeProblem(records[at.get(record.id)!]!, record);
      if (problem !== undefined) {
        return Promise.reject(new RunStoreError(`cannot supersede the record of ${record.id}: ${problem}`));
      }
      return enqueue({ ...record, supersedes: true });
    },
    async logError(entry) {
      if (closed) throw new RunStoreError('the run store is closed');
      errors ??= fileOp('open', errorsPath, () => fs.open(errorsPath, 'a'));
      const handle = await errors;
      const data = Buffer.from(`${JSON.stringify({ ...entry, at: new Date().toISOString() })}\n`, 'utf8');
      const write = errorWrites.then(() => fileOp('write', errorsPath, () => writeAll(handle, data)));
      errorWrites = write.catch(() => undefined);
      await write;
    },
    async close() {
      if (closed) return;
      closed = true;
      await writing;
      try {
        await fileOp('close', resultsPath, () => file.close());
      } finally {
        await errorWrites;
        await errors?.then((h) => h.close()).catch(() => undefined);
        await s.release();
      }
    },
  };
}
