/**
 * Reading a checkpoint's prompt layout at run time (`--prompt-from FILE`, `loadPromptTemplate`):
 *
 * - a data file (`.parquet`/`.pq`, `.jsonl`/`.ndjson`, read as `gtalign data` reads them): the system
 *   message, the instruction text and the question marker come from the file's first row; how earlier
 *   turns are carried comes from the first row that has some (the first row itself when it does), so a
 *   file of single-turn rows gives a template without a history layout;
 * - a template file (`.json`): see `parsePromptTemplate` and the README's "Prompt profiles".
 *
 * Nothing read here is stored: the wording stays in the user's files.
 */

import { extname } from 'node:path';
import type { ConversationTurn } from '../chain/prompt.js';
import {
  isMultiTurnRow,
  type PromptTemplate,
  PromptTemplateError,
  parsePromptTemplate,
  type TemplateRow,
  templateFromRows,
} from '../chain/prompt-profile.js';
import { describeSource } from '../data/errors.js';
import { formatOf, iterateFileRows } from '../data/load.js';
import type { DatasetRow } from '../data/row.js';
import { readFailureReason } from '../io/read-failure.js';
import { readUtf8File } from '../io/utf8.js';

function chatHistoryOf(value: unknown): ConversationTurn[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: ConversationTurn[] = [];
  for (const m of value) {
    if (typeof m !== 'object' || m === null) return undefined;
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof content !== 'string') return undefined;
    if (role === 'user' || role === 'assistant') out.push({ role, content });
  }
  return out;
}

/** A data set row as a template reads it. */
export function templateRowOf(row: DatasetRow): TemplateRow {
  const chatHistory = chatHistoryOf(row.extra_info.chat_history);
  return {
    source: describeSource(row.source),
    prompt: row.prompt,
    ...(chatHistory === undefined ? {} : { chatHistory }),
  };
}

/** The template a data file's rows show (see the module comment). */
export async function templateFromDataFile(path: string): Promise<PromptTemplate> {
  let first: TemplateRow | undefined;
  let multi: TemplateRow | undefined;
  for await (const row of iterateFileRows(path)) {
    const sample = templateRowOf(row);
    if (first === undefined) first = sample;
    if (isMultiTurnRow(sample)) {
      multi = sample;
      break;
    }
  }
  if (first === undefined) throw new PromptTemplateError(`${path}: no rows to read a prompt layout from`);
  return templateFromRows(first, multi === first ? undefined : multi, path);
}

/** Reads a prompt template from a data file or a template file (by extension). */
export async function loadPromptTemplate(path: string): Promise<PromptTemplate> {
  if (formatOf(path) !== undefined) return templateFromDataFile(path);
  if (extname(path).toLowerCase() !== '.json') {
    throw new PromptTemplateError(
      `${path}: unknown prompt source type (expected a data file, .parquet or .jsonl, or a template, .json)`,
    );
  }
  let text: string;
  try {
    text = await readUtf8File(path);
  } catch (err) {
    throw new PromptTemplateError(`cannot read ${path}: ${readFailureReason(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PromptTemplateError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return parsePromptTemplate(value, path);
}
