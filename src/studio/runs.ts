/**
 * The run viewer's data: run folders read with the eval readers (`readRunDir`), their metrics
 * (metrics.json when the folder has a valid one, else computed from the records), and one row per item
 * for the browser's filters (the intervals are eval/record-intervals.ts'). Questions are not part of a run
 * record: an item's question is the record's own `question` when it has one, else looked up in the
 * data files the run's config.json names (when they can still be read), else absent.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractBlocks } from '../chain/blocks.js';
import { parsePayoff } from '../chain/payoff.js';
import type { ConversationTurn } from '../chain/prompt.js';
import { loadRows } from '../data/load.js';
import { conversationSummaryOf, type SummaryLike } from '../eval/conversation-metrics.js';
import {
  type AssistantTurnRecord,
  isTurn,
  supersedeProblem,
  TURNS_FILE,
  type TurnRecord,
  turnKey,
} from '../eval/conversation-store.js';
import { computeMetrics, deriveCell, isFailedReward, type Metrics } from '../eval/metrics.js';
import { welfareOf } from '../eval/record-intervals.js';
import { questionOf } from '../eval/run.js';
import { readRunDir, type Sweep, uniqueNames } from '../eval/run-dir.js';
import type { RunRecord } from '../eval/types.js';
import type { PayoffMatrix } from '../game/spec.js';
import { toWellFormed } from '../io/well-formed.js';
import { cobbDouglas } from '../reward/aggregate.js';

export interface LoadedRun {
  index: number;
  name: string;
  dir: string;
  records: RunRecord[];
  byId: Map<string, RunRecord>;
  metrics: Metrics;
  metricsFrom: 'metrics.json' | 'computed';
  questions: Map<string, { question: string; history: ConversationTurn[] }>;
  /** config.json's content, when the folder has one (a comparison reads the simulated users' settings). */
  config?: Record<string, unknown>;
  /** sweep.json's content, when the folder is a sweep (its top folder holds no records of its own). */
  sweep?: Sweep;
  /**
   * A conversation run's turns.jsonl, grouped by conversation (= the record's id), in file order; a turn
   * with a superseding line (a re-judged reward) is that line, in the turn's place.
   */
  threads: Map<string, TurnRecord[]>;
  warnings: string[];
}

/** One row of the item browser. */
export interface ItemRow {
  id: string;
  data_source: string;
  action: string | null;
  cell: string | null;
  /** The predicted user type (the cell's row, e.g. DQ / VQ). */
  user_type: string | null;
  W: number | null;
  U: number | null;
  L: number | null;
  score: number | null;
  failed: boolean;
}

async function readMetricsFile(dir: string): Promise<Metrics | undefined> {
  try {
    const value = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as Metrics;
    if (value?.schema === 'gtalign.metrics/1' && typeof value.overall === 'object') return value;
  } catch {
    // absent or unreadable: computed from the records instead (the page says which)
  }
  return undefined;
}

async function questionsOf(
  run: { config?: Record<string, unknown>; records: RunRecord[] },
  warnings: string[],
): Promise<Map<string, { question: string; history: ConversationTurn[] }>> {
  const out = new Map<string, { question: string; history: ConversationTurn[] }>();
  for (const r of run.records) {
    const q = (r as unknown as { question?: unknown }).question;
    if (typeof q === 'string') out.set(r.id, { question: q, history: [] });
  }
  if (out.size === run.records.length) return out;
  const data = run.config?.data as { files?: unknown } | undefined;
  const files = Array.isArray(data?.files)
    ? data.files.filter((f): f is string => typeof f === 'string')
    : [];
  if (files.length === 0) return out;
  try {
    for (const row of await loadRows(files)) {
      if (out.has(row.id)) continue;
      try {
        out.set(row.id, questionOf(row));
      } catch {
        // a row without a question: shown without one
      }
    }
  } catch (err) {
    warnings.push(`questions not shown: cannot read the run's data files (${(err as Error).message})`);
  }
  return out;
}

/**
 * turns.jsonl of a conversation run, when the folder has one (read only: lines that do not read are
 * skipped). The last line of a turn is the turn, as for the run itself (conversation-store.ts).
 */
async function threadsOf(dir: string, warnings: string[]): Promise<Map<string, TurnRecord[]>> {
  const out = new Map<string, TurnRecord[]>();
  const at = new Map<string, number>();
  let text: string;
  try {
    text = await readFile(join(dir, TURNS_FILE), 'utf8');
  } catch {
    return out;
  }
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let turn: unknown;
    try {
      turn = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    // The resume's own checks: a turn's shape, and only an assistant turn marked "supersedes" replaces
    // the earlier line of its turn (a line the resume would refuse is not shown either).
    if (!isTurn(turn)) {
      skipped++;
      continue;
    }
    const key = turnKey(turn);
    const earlier = at.get(key);
    if (earlier !== undefined && !(turn.role === 'assistant' && turn.supersedes === true)) {
      skipped++;
      continue;
    }
    const list = out.get(turn.conversation) ?? [];
    if (
      earlier !== undefined &&
      supersedeProblem(list[earlier]!, turn as AssistantTurnRecord) !== undefined
    ) {
      skipped++;
      continue;
    }
    out.set(turn.conversation, list);
    if (earlier !== undefined) list[earlier] = turn;
    else {
      at.set(key, list.length);
      list.push(turn);
    }
  }
  if (skipped > 0) warnings.push(`${TURNS_FILE}: ${skipped} line(s) that are not turns, not shown`);
  return out;
}

export async function loadRuns(dirs: readonly string[]): Promise<LoadedRun[]> {
  const read = await Promise.all(dirs.map((d) => readRunDir(d)));
  // An item's id is part of the page's URLs (#/runs/0/item/ID, /api/item?id=ID): one with a lone surrogate
  // failed the whole item list and comparison of its run; it is read with U+FFFD in its place, as a URL
  // gives it back.
  for (const run of read)
    run.records = run.records.map((r) => {
      const id = toWellFormed(r.id);
      return id === r.id ? r : { ...r, id };
    });
  const names = uniqueNames(read.map((r) => r.name));
  return Promise.all(
    read.map(async (run, index) => {
      const warnings = [...run.warnings];
      const fromFile = await readMetricsFile(run.dir);
      return {
        index,
        name: names[index]!,
        dir: run.dir,
        records: run.records,
        byId: new Map(run.records.map((r) => [r.id, r])),
        metrics: fromFile ?? computeMetrics(run.records),
        metricsFrom: fromFile === undefined ? ('computed' as const) : ('metrics.json' as const),
        questions: await questionsOf(run, warnings),
        ...(run.config === undefined ? {} : { config: run.config }),
        ...(run.sweep === undefined ? {} : { sweep: run.sweep }),
        threads: await threadsOf(run.dir, warnings),
        warnings,
      };
    }),
  );
}

export function itemRow(record: RunRecord): ItemRow {
  const derived = deriveCell(record);
  const failed = isFailedReward(record.reward);
  const reward = failed ? undefined : (record.reward as Exclude<RunRecord['reward'], { error: unknown }>);
  return {
    id: record.id,
    data_source: record.data_source,
    action: derived.column ?? null,
    cell: derived.cell ?? null,
    user_type: derived.row ?? null,
    W: welfareOf(record),
    U: reward?.user_reward ?? null,
    L: reward?.llm_reward ?? null,
    score: reward?.score ?? null,
    failed,
  };
}

export interface ItemView {
  run: string;
  row: ItemRow;
  question: string | null;
  history: ConversationTurn[];
  ground_truth: string;
  label?: string;
  blocks: Partial<Record<'thinking' | 'payoff' | 'analyze' | 'response', string>>;
  matrixBefore: PayoffMatrix | null;
  matrixAfter: PayoffMatrix | null;
  policy: string | null;
  reward: RunRecord['reward'];
  tokens: RunRecord['tokens'] | null;
  /** A conversation run's turns of this conversation, in order (empty for a single-turn run). */
  thread: ThreadTurn[];
  /** A conversation run's summary of this conversation (persona, turns, end, discounted welfare…). */
  conversation: SummaryLike | null;
}

/** One turn of a conversation as the item view shows it. */
export type ThreadTurn =
  | {
      role: 'assistant';
      turn: number;
      response: string;
      cell: string | null;
      action: string | null;
      W: number | null;
      next: string;
      end: string | null;
    }
  | { role: 'user'; turn: number; mode: string; text: string };

function threadTurn(t: TurnRecord): ThreadTurn {
  if (t.role === 'user') return { role: 'user', turn: t.turn, mode: t.mode, text: t.text };
  const r = t.reward as RunRecord['reward'];
  return {
    role: 'assistant',
    turn: t.turn,
    response: t.response,
    cell: t.cell ?? null,
    action: t.action ?? null,
    W: isFailedReward(r) ? null : cobbDouglas(r.user_reward, r.llm_reward),
    next: t.next,
    end: t.end ?? null,
  };
}

function matrixOf(value: unknown): PayoffMatrix | null {
  if (typeof value !== 'object' || value === null) return null;
  return value as PayoffMatrix;
}

/** Everything the item view shows. The matrix before steering is the trace's, else the output's own payoff block. */
export function itemView(run: LoadedRun, record: RunRecord): ItemView {
  const blocks = extractBlocks(record.response).blocks;
  const trace = (record.trace ?? {}) as { matrixBefore?: unknown; matrixAfter?: unknown; policy?: unknown };
  let before = matrixOf(trace.matrixBefore);
  if (before === null && blocks.payoff !== undefined) {
    const parsed = parsePayoff(blocks.payoff.content);
    if (parsed.ok) before = parsed.matrix;
  }
  const q = run.questions.get(record.id);
  const shown: ItemView['blocks'] = {};
  for (const name of ['thinking', 'payoff', 'analyze', 'response'] as const) {
    const b = blocks[name];
    if (b !== undefined) shown[name] = b.content.trim();
  }
  return {
    run: run.name,
    row: itemRow(record),
    question: q?.question ?? null,
    history: q?.history ?? [],
    ground_truth: record.ground_truth,
    ...(record.label === undefined ? {} : { label: record.label }),
    blocks: shown,
    matrixBefore: before,
    matrixAfter: matrixOf(trace.matrixAfter),
    policy: typeof trace.policy === 'string' ? trace.policy : null,
    reward: record.reward,
    tokens: record.tokens ?? null,
    thread: (run.threads.get(record.id) ?? []).map(threadTurn),
    conversation: conversationSummaryOf(record) ?? null,
  };
}

/**
 * The reply a person reads in an output: its `<response>` text; the whole output when it has no block at all
 * (a plain run); '' when it has blocks but no response (cut short before it), so a study leaves the row
 * out: its thinking and matrix are no reply, and would tell a rater which arm wrote it.
 */
export function replyText(record: RunRecord): string {
  const { blocks, all } = extractBlocks(record.response);
  if (blocks.response !== undefined) return blocks.response.content.trim();
  return all.length === 0 ? record.response.trim() : '';
}
