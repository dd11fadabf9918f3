/**
 * Reading a run folder: `results.jsonl` (one {@link RunRecord} per line), `config.json` (optional), and
 * `sweep.json` (optional, written by `gtalign eval sweep`); writing `metrics.json`.
 *
 * Every line of results.jsonl is checked; problems name the file, the line and the field. One lenient
 * case: a last line that is cut off (no final newline and not valid JSON) is what an interrupted append
 * leaves behind, so it is skipped with a warning instead of failing the whole folder.
 *
 * One record per id, with one exception: a resume that judged again a record's output (run.ts), or a turn
 * of a conversation (conversation-run.ts), appends the record anew with `"supersedes": true`, and the last
 * line of an id is its record (in the place of the first). A second line of an id is otherwise a problem,
 * as is a superseding line that is not the same kind of record as the first ({@link supersedeProblem}).
 *
 * sweep.json (the shape `eval sweep` writes and `eval report` draws):
 *
 *     { "param": "user_price",                    // the swept parameter's name
 *       "points": [ { "value": 0.5,                // the parameter's value at this point
 *                     "run": "user_price=0.5",     // optional: the sub-run folder of this point
 *                     "metrics": { …metrics.json… } } ] }
 */

import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { GtalignError } from '../errors.js';
import { syncDir, writeFileAtomic } from '../io/checked-write.js';
import { type FileOps, nodeFileOps } from '../io/file-ops.js';
import { fileUtf8Problem } from '../io/utf8.js';
import { describeZodError } from '../issues.js';
import { conversationSummaryOf } from './conversation-metrics.js';
import type { Metrics } from './metrics.js';
import { fileOp } from './store-error.js';
import type { RunRecord } from './types.js';

export interface RunDir {
  /** The folder as given, resolved. */
  dir: string;
  /** A display name: config.json's `name` when it is a string, else the folder's name. */
  name: string;
  records: RunRecord[];
  /** config.json's content, when the folder has one. */
  config?: Record<string, unknown>;
  sweep?: Sweep;
  /** Things skipped without failing (an interrupted last line). */
  warnings: string[];
}

export interface SweepPoint {
  value: number;
  run?: string;
  metrics: Metrics;
}

export interface Sweep {
  param: string;
  points: SweepPoint[];
}

export interface RunFileProblem {
  file: string;
  /** 1-based line, for results.jsonl. */
  line?: number;
  message: string;
}

/** A run folder that cannot be read; `problems` lists every bad line or file (the message shows the first ones). */
export class RunDirError extends GtalignError {
  readonly code = 'input';
  constructor(readonly problems: RunFileProblem[]) {
    const shown = problems.slice(0, 10).map(formatProblem);
    const more = problems.length > shown.length ? [`… and ${problems.length - shown.length} more`] : [];
    super([...shown, ...more].join('\n'));
    this.name = 'RunDirError';
  }
}

function formatProblem(p: RunFileProblem): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.message}`;
}

const finite = z.number().finite();

const scoredRewardSchema = z.looseObject({
  score: finite,
  user_reward: finite,
  llm_reward: finite,
  answer_reward: finite,
  components: z.looseObject({ format: finite, judge: finite }),
  verdict: finite.nullable().optional(),
  scorable: z.boolean().optional(),
  matrix_reasoning: finite.nullable().optional(),
});

const failedRewardSchema = z.looseObject({
  error: z.looseObject({ stage: z.string(), message: z.string() }),
});

const tokensSchema = z.object({
  reasoning: finite.min(0),
  response: finite.min(0),
  total: finite.min(0),
});

const recordSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).transform(String),
  data_source: z.string(),
  ground_truth: z.string(),
  label: z.string().optional(),
  response: z.string(),
  cell: z.string().optional(),
  action: z.string().optional(),
  tokens: tokensSchema.optional(),
  reward: z.union([failedRewardSchema, scoredRewardSchema]),
  durationMs: finite.optional(),
});

/**
 * Why `later` cannot supersede `earlier` (the record of its id), or undefined when it can: a conversation's
 * record replaces a conversation's record; a single-turn record replaces a single-turn record of the same
 * output (only its scoring was done again).
 */
export function supersedeProblem(earlier: RunRecord, later: RunRecord): string | undefined {
  const conversation = conversationSummaryOf(later) !== undefined;
  if (conversation !== (conversationSummaryOf(earlier) !== undefined)) {
    const which = conversation
      ? "a conversation's record follows a single-turn record"
      : "a single-turn record follows a conversation's record";
    return `"supersedes" replaces a record of the same kind, and ${which}`;
  }
  // A record is superseded with its row's own data: a line with another row's is not a judging again.
  for (const field of ['data_source', 'ground_truth'] as const) {
    if (later[field] !== earlier[field])
      return `"supersedes" replaces a record of the same row, and the "${field}" differs`;
  }
  if (!conversation && later.response !== earlier.response) {
    return `"supersedes" replaces a single-turn record with the same output scored again, and the "response" differs`;
  }
  return undefined;
}

/**
 * Parses results.jsonl text. `file` names it in problems. Returns the records (the last line of a
 * superseded id in the place of its first, see the module comment) and warnings; problems (bad lines,
 * duplicate ids) are returned too, for the caller to decide.
 */
export function parseResults(
  text: string,
  file = 'results.jsonl',
): { records: RunRecord[]; problems: RunFileProblem[]; warnings: string[] } {
  const records: RunRecord[] = [];
  const problems: RunFileProblem[] = [];
  const warnings: string[] = [];
  // The first line of each id, and where its record is in `records`.
  const seen = new Map<string, { line: number; index: number }>();
  const lines = text.split('\n');
  const endsClean = text.endsWith('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      if (i === lines.length - 1 && !endsClean) {
        warnings.push(`${file}:${line}: incomplete last line (an interrupted write?), skipped`);
        continue;
      }
      problems.push({ file, line, message: `not valid JSON: ${(err as Error).message}` });
      continue;
    }
    const parsed = recordSchema.safeParse(value);
    if (!parsed.success) {
      problems.push({
        file,
        line,
        message: `not a run record: ${describeZodError(parsed.error, 'record', 3)}`,
      });
      continue;
    }
    const id = parsed.data.id;
    // The schema checked every field the metrics read; the rest passes through as written.
    const record = parsed.data as unknown as RunRecord;
    const first = seen.get(id);
    if (first !== undefined) {
      const duplicate = `duplicate id ${JSON.stringify(id)} (first at line ${first.line})`;
      const problem =
        record.supersedes === true ? supersedeProblem(records[first.index]!, record) : undefined;
      if (record.supersedes !== true) problems.push({ file, line, message: duplicate });
      else if (problem !== undefined) problems.push({ file, line, message: `${duplicate}: ${problem}` });
      else records[first.index] = record;
      continue;
    }
    if (record.supersedes === true) {
      problems.push({
        file,
        line,
        message: `"supersedes" on the first line of id ${JSON.stringify(id)}: there is no earlier record to replace`,
      });
      continue;
    }
    seen.set(id, { line, index: records.length });
    records.push(record);
  }
  return { records, problems, warnings };
}

const metricsShape = z.looseObject({
  overall: z.looseObject({
    welfare: finite.nullable(),
    user_welfare: finite.nullable(),
    llm_welfare: finite.nullable(),
    total_length: finite.nullable(),
    action_mix: z.looseObject({ overall: z.looseObject({ shares: z.record(z.string(), finite) }) }),
  }),
  by_source: z.record(z.string(), z.looseObject({ welfare: finite.nullable() })),
});

export const sweepSchema = z.object({
  param: z.string().min(1),
  points: z.array(
    z.object({
      value: finite,
      run: z.string().optional(),
      metrics: metricsShape,
    }),
  ),
});

/** Validates sweep.json's content; the problem names the field. */
export function parseSweep(value: unknown, file = 'sweep.json'): Sweep {
  const parsed = sweepSchema.safeParse(value);
  if (!parsed.success)
    throw new RunDirError([{ file, message: `not a sweep: ${describeZodError(parsed.error, 'sweep', 3)}` }]);
  return parsed.data as unknown as Sweep;
}

/** The run folder layout this gtalign reads and writes (config.json's `schema`). */
export const RUN_SCHEMA = 'gtalign.run/1';

/**
 * Why a config.json's content is not a run this gtalign can read, or undefined when it is: a `schema`
 * other than {@link RUN_SCHEMA} is another gtalign version's layout, whose records may mean other things.
 * A config without `schema` (written by hand) is read as this version's.
 */
export function runSchemaProblem(config: Record<string, unknown>): string | undefined {
  const schema = config.schema;
  if (schema === undefined || schema === RUN_SCHEMA) return undefined;
  return `"schema" is ${JSON.stringify(schema)}: a run folder of another gtalign version (this one reads ${RUN_SCHEMA})`;
}

/** A file of the folder as text, or undefined when there is none; bytes that are not UTF-8 are refused. */
async function readOptional(path: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RunDirError([{ file: path, message: `cannot read: ${(err as Error).message}` }]);
  }
  // A damaged byte (a disk or copy fault) would otherwise reach reports as U+FFFD without a word. A last
  // line without its newline is one a live run is still writing (or a kill tore): it may end inside a
  // character, and the readers treat it as torn, so only the whole lines are checked here.
  const whole = bytes.at(-1) === 0x0a ? bytes.length : bytes.lastIndexOf(0x0a) + 1;
  const bad = fileUtf8Problem(bytes.subarray(0, whole));
  if (bad !== undefined) throw new RunDirError([{ file: path, line: bad.line, message: bad.problem }]);
  return bytes.toString('utf8');
}

function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunDirError([{ file, message: `not valid JSON: ${(err as Error).message}` }]);
  }
}

/**
 * Reads a run folder. A folder with sweep.json and no results.jsonl is accepted (a sweep's top folder:
 * no records). Throws {@link RunDirError} listing every problem.
 */
export async function readRunDir(dir: string): Promise<RunDir> {
  const root = resolve(dir);
  const resultsPath = join(root, 'results.jsonl');
  const [resultsText, configText, sweepText] = await Promise.all([
    readOptional(resultsPath),
    readOptional(join(root, 'config.json')),
    readOptional(join(root, 'sweep.json')),
  ]);
  const out: RunDir = { dir: root, name: basename(root), records: [], warnings: [] };
  if (configText !== undefined) {
    const config = parseJsonFile(configText, join(root, 'config.json'));
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new RunDirError([{ file: join(root, 'config.json'), message: 'must be a JSON object' }]);
    }
    out.config = config as Record<string, unknown>;
    const problem = runSchemaProblem(out.config);
    if (problem !== undefined)
      throw new RunDirError([
        { file: join(root, 'config.json'), message: `${problem}; read it with that version` },
      ]);
    const name = out.config.name;
    if (typeof name === 'string' && name.trim() !== '') out.name = name;
  }
  if (sweepText !== undefined)
    out.sweep = parseSweep(parseJsonFile(sweepText, join(root, 'sweep.json')), join(root, 'sweep.json'));
  if (resultsText === undefined) {
    if (out.sweep !== undefined) return out;
    throw new RunDirError([{ file: resultsPath, message: 'no such file (is this a run folder?)' }]);
  }
  const parsed = parseResults(resultsText, resultsPath);
  if (parsed.problems.length > 0) throw new RunDirError(parsed.problems);
  out.records = parsed.records;
  out.warnings = parsed.warnings;
  return out;
}

/**
 * Writes metrics.json into the run folder (through a temporary file, so a reader never sees half of it);
 * a failed write removes the temporary file and throws a `RunStoreIoError` naming metrics.json.
 */
export async function writeMetrics(dir: string, metrics: Metrics, fs?: FileOps): Promise<string> {
  const path = join(resolve(dir), 'metrics.json');
  await fileOp('write', path, () => writeFileAtomic(path, `${JSON.stringify(metrics, null, 2)}\n`, fs));
  return path;
}

/**
 * Removes metrics.json from the run folder (none there is fine), so that no reader takes metrics of the
 * records before for those after (see {@link beforeRecordsChange}); the run writes it again once complete.
 */
async function removeMetrics(dir: string, fs: FileOps = nodeFileOps): Promise<void> {
  const path = join(resolve(dir), 'metrics.json');
  await fileOp('remove', path, async () => {
    try {
      await fs.unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return;
    }
    // The removal reaches the disk before any record changes: after a crash no stale metrics.json is
    // left beside the superseded records.
    await syncDir(fs, resolve(dir));
  });
}

/**
 * What a run calls before each change to its records (a superseding line, a new record): the first call
 * removes metrics.json, which described the records before, and the others wait for that. A run that
 * started with no records has no metrics.json to remove and does nothing.
 */
export function beforeRecordsChange(
  dir: string,
  fs: FileOps | undefined,
  hadRecords: boolean,
): () => Promise<void> {
  let removed: Promise<void> | undefined;
  return () => {
    if (!hadRecords) return Promise.resolve();
    removed ??= removeMetrics(dir, fs);
    return removed;
  };
}

/** Display names for several runs: each run's name, made unique with a `#2`, `#3`… suffix. */
export function uniqueNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((n) => {
    let name = n;
    for (let k = 2; taken.has(name); k++) name = `${n}#${k}`;
    taken.add(name);
    return name;
  });
}
