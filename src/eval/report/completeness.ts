/**
 * Whether a run folder holds a finished run: every row the run selected has a record. `eval run` writes
 * metrics.json only then; `eval report` checks the same before writing it, from what the folder says:
 * - errors.jsonl: rows the backend failed on (they have no record until `--resume` generates them);
 * - config.json: the data files, data sources and limit (`eval run`), or the responses file (`eval
 *   score`), from which the selected rows are counted again, as the run counted them.
 * When the rows cannot be counted (a hand-made folder, a data file moved or changed) the check says why
 * and relies on errors.jsonl alone. A conversation run (`eval run --turns N`) has one record per row and
 * persona (id `ROW_ID~PERSONA`, the personas from config.json's `generation.conversation`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadRows } from '../../data/load.js';
import { conversationId } from '../conversation-run.js';
import { selectRows } from '../run.js';
import type { RunDir } from '../run-dir.js';
import { joinResponses, readResponsesFile } from '../score.js';

export interface RunCompleteness {
  /** `unchecked`: the selected rows could not be counted and errors.jsonl shows no missing row. */
  status: 'complete' | 'incomplete' | 'unchecked';
  records: number;
  /** Rows the run selected, when they could be counted. */
  rows?: number;
  /** Selected rows without a record (0 when the rows could not be counted). */
  missing: number;
  /** Ids in errors.jsonl without a record: rows the backend failed on. */
  failed: string[];
  /** The last logged failure of each of the first of those rows: what the report shows of them. */
  failedRows?: Array<{ id: string; stage?: string; message?: string }>;
  /** Records whose row is not among the selected rows (the data files or the ids changed). */
  stray: number;
  /** errors.jsonl, when the folder has one. */
  errorsFile?: string;
  /** Why the rows could not be counted. */
  note?: string;
}

const MAX_ERROR_LINES = 1_000_000;

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Rows of the failures shown in a report, at most. */
const MAX_FAILED_ROWS = 20;

interface LoggedFailure {
  id: string;
  stage?: string;
  message?: string;
}

/** The entries of errors.jsonl (lines that are not JSON objects with a string id are skipped). */
async function loggedFailures(path: string): Promise<LoggedFailure[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const ids: LoggedFailure[] = [];
  for (const line of text.split('\n').slice(0, MAX_ERROR_LINES)) {
    if (line.trim() === '') continue;
    try {
      const entry = asObject(JSON.parse(line));
      const id = entry?.id;
      if (typeof id !== 'string' && typeof id !== 'number') continue;
      const { stage, message } = entry!;
      ids.push({
        id: String(id),
        ...(typeof stage === 'string' ? { stage } : {}),
        ...(typeof message === 'string' ? { message } : {}),
      });
    } catch {
      // A line cut off by a crash: the row it names has no record either way, and is retried on resume.
    }
  }
  return ids;
}

/**
 * The personas of a conversation run's config.json (`generation.conversation.personas`, each with a name);
 * undefined for a single-turn run, a string saying why when the list is unreadable.
 */
function personasOf(config: Record<string, unknown>): string[] | undefined | string {
  const conversation = asObject(asObject(config.generation)?.conversation);
  if (conversation === undefined) return undefined;
  const list = conversation.personas;
  const names = Array.isArray(list) ? list.map((p) => asObject(p)?.name) : [];
  if (names.length === 0 || !names.every((n): n is string => typeof n === 'string'))
    return 'config.json names no personas of its conversations';
  return names;
}

/** The ids the run has a record for when complete: its rows', or each row's conversation per persona. */
async function selectedIds(config: Record<string, unknown> | undefined): Promise<string[] | string> {
  if (config === undefined) return 'the folder has no config.json';
  const personas = personasOf(config);
  if (typeof personas === 'string') return personas;
  const rows = await selectedRowIds(config);
  if (typeof rows === 'string' || personas === undefined) return rows;
  return rows.flatMap((id) => personas.map((p) => conversationId(id, p)));
}

/** The ids of the rows the run selected, counted again from config.json, or why they cannot be. */
async function selectedRowIds(config: Record<string, unknown> | undefined): Promise<string[] | string> {
  if (config === undefined) return 'the folder has no config.json';
  const data = asObject(config.data);
  const files = data?.files;
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string'))
    return 'config.json names no data files';
  try {
    if (config.command === 'eval score') {
      const responses = asObject(config.responses);
      if (typeof responses?.file !== 'string') return 'config.json names no responses file';
      const file = await readResponsesFile(responses.file);
      if (file.sha256 !== responses.sha256) return `${responses.file} changed since the run`;
      return joinResponses(file.lines, await loadRows(files), responses.file).map((j) => j.rowId);
    }
    const dataSources = Array.isArray(data?.dataSources)
      ? data.dataSources.filter((s): s is string => typeof s === 'string')
      : [];
    const limit = typeof data?.limit === 'number' ? data.limit : undefined;
    const rows = await selectRows(files, {
      ...(dataSources.length > 0 ? { dataSources } : {}),
      ...(limit === undefined ? {} : { limit }),
    });
    return rows.map((r) => r.id);
  } catch (err) {
    return `cannot read the run's data files again (${(err as Error).message.split('\n')[0]})`;
  }
}

/** Checks a run folder's records against the rows its run selected (see the module comment). */
export async function checkCompleteness(run: RunDir): Promise<RunCompleteness> {
  const have = new Set(run.records.map((r) => r.id));
  const errorsFile = join(run.dir, 'errors.jsonl');
  const logged = await loggedFailures(errorsFile);
  // A row logged and generated later by --resume has a record: it is not missing. Its last entry says why.
  const lastFailure = new Map<string, LoggedFailure>();
  for (const entry of logged ?? []) if (!have.has(entry.id)) lastFailure.set(entry.id, entry);
  const out: RunCompleteness = {
    status: 'unchecked',
    records: run.records.length,
    missing: 0,
    failed: [...lastFailure.keys()],
    stray: 0,
    ...(logged === undefined ? {} : { errorsFile }),
  };
  if (lastFailure.size > 0) out.failedRows = [...lastFailure.values()].slice(0, MAX_FAILED_ROWS);
  const ids = await selectedIds(run.config);
  if (typeof ids === 'string') out.note = ids;
  else {
    const selected = new Set(ids);
    out.rows = selected.size;
    out.missing = [...selected].filter((id) => !have.has(id)).length;
    out.stray = [...have].filter((id) => !selected.has(id)).length;
  }
  if (out.failed.length > 0 || out.missing > 0 || out.stray > 0) out.status = 'incomplete';
  else if (out.rows !== undefined) out.status = 'complete';
  return out;
}

/** "1 row", "3 rows". */
const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
const have = (n: number): string => (n === 1 ? 'has' : 'have');

/** What is missing from an incomplete run, for the terminal and the report; undefined when it is not incomplete. */
export function incompleteText(c: RunCompleteness, dir: string): string | undefined {
  if (c.status !== 'incomplete') return undefined;
  const parts: string[] = [];
  if (c.rows !== undefined) {
    const recorded = c.rows - c.missing;
    parts.push(
      `${recorded} of ${count(c.rows, 'row')} ${have(recorded)} a record, ${c.missing} ${have(c.missing)} none`,
    );
  } else parts.push(count(c.records, 'record'));
  if (c.failed.length > 0) {
    parts.push(
      `${count(c.failed.length, 'row')} failed to generate (listed in ${c.errorsFile ?? join(dir, 'errors.jsonl')}, e.g. ${c.failed[0]})`,
    );
  }
  if (c.stray > 0) {
    parts.push(
      `${count(c.stray, 'record')} of rows the data files no longer select (the data or its ids changed?)`,
    );
  }
  const resume =
    c.missing > 0 || c.failed.length > 0
      ? '; finish the run with the command that started it plus --resume'
      : '';
  return `${parts.join('; ')}${resume}`;
}
