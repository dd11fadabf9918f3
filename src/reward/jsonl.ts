/**
 * The JSONL shapes of `gtalign reward score`: one input line → a batch item, one result → an output line.
 * Shared by the CLI and the offline worker pool.
 */
import { recordIdProblem } from '../io/record-id.js';
import type { BatchItem, BatchResult } from './batch.js';
import type { RewardSample } from './score.js';

const FIELDS = ['data_source', 'response', 'ground_truth'] as const;

const DATA_ROW_HINT =
  'this looks like a data set row (a prompt and no response): the reward scores model outputs, so give each ' +
  "row the model's output as response, or let 'gtalign eval run' generate and score them";

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  // JSON.parse reads 1e999 as Infinity: say so rather than "a number".
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Turns one input line into a batch item; an unreadable line becomes an `invalid` item naming every bad
 * field (where it is, the line or the request's sample, is added by whoever reports it). Hand-written checks: this runs once per sample in the offline hot path.
 */
export function parseScoreLine(text: string, line: number, notUtf8?: string): BatchItem {
  if (notUtf8 !== undefined) return { line, id: undefined, invalid: notUtf8 };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { line, id: undefined, invalid: `not valid JSON (${(err as Error).message})` };
  }
  return parseScoreValue(value, line);
}

/** The same checks on an already parsed value (an HTTP body's sample); `line` numbers it in the result. */
export function parseScoreValue(value: unknown, line: number): BatchItem {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line, id: undefined, invalid: `expected a JSON object, got ${describe(value)}` };
  }
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  const idProblem = v.id === undefined ? undefined : recordIdProblem(v.id);
  if (idProblem !== undefined) problems.push(idProblem);
  // An id that would not come back as written is not shown or echoed at all: the line number names it.
  const id = idProblem === undefined ? v.id : undefined;
  for (const f of FIELDS) {
    if (typeof v[f] !== 'string') problems.push(`${f} must be a string, got ${describe(v[f])}`);
  }
  if (v.response === undefined && (v.prompt !== undefined || v.input !== undefined)) {
    // A data set row as `data export` writes it is the likeliest such line: say what is scored instead.
    problems.push(DATA_ROW_HINT);
  }
  const extra = v.extra_info;
  if (extra !== undefined && extra !== null && (typeof extra !== 'object' || Array.isArray(extra))) {
    problems.push(`extra_info must be an object, got ${describe(extra)}`);
  }
  const verdict = v.verdict;
  if (
    verdict !== undefined &&
    verdict !== null &&
    (typeof verdict !== 'number' || !Number.isFinite(verdict))
  ) {
    problems.push(`verdict must be a finite number, got ${describe(verdict)}`);
  }
  if (problems.length > 0) return { line, id, invalid: problems.join('; ') };
  const sample: RewardSample = {
    data_source: v.data_source as string,
    response: v.response as string,
    ground_truth: v.ground_truth as string,
  };
  if (extra !== undefined && extra !== null) sample.extra_info = extra as Record<string, unknown>;
  return { line, id, sample, verdict: typeof verdict === 'number' ? verdict : undefined };
}

/** One output line (without the newline): the record with its id, or the error with its line number. */
export function outputLine(result: BatchResult): string {
  if ('error' in result) {
    return JSON.stringify({
      id: result.id,
      line: result.line,
      ...(result.data_source ? { data_source: result.data_source } : {}),
      error: result.error,
    });
  }
  // One flat object, built key by key (the id, then the record's fields in order), stringified once.
  const r = result.record;
  const flat: Record<string, unknown> = {
    id: result.id,
    data_source: r.data_source,
    family: r.family,
    scorable: r.scorable,
  };
  if (Object.hasOwn(r, 'unscorable')) flat.unscorable = r.unscorable;
  flat.score = r.score;
  flat.user_reward = r.user_reward;
  flat.llm_reward = r.llm_reward;
  flat.answer_reward = r.answer_reward;
  flat.components = r.components;
  flat.lengths = r.lengths;
  flat.verdict = r.verdict;
  flat.aggregator = r.aggregator;
  flat.config_id = r.config_id;
  flat.verdict_source = r.verdict_source;
  flat.matrix_reasoning = r.matrix_reasoning;
  return JSON.stringify(flat);
}
